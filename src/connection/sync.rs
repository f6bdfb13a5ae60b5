//! Per-conversation sequence tracking: deliver each persisted event once, in seq order, and
//! find the ranges that must be fetched with `retransmitEvents` to close gaps.
//!
//! This is a pure state machine (no I/O), driven by the connection task.

use std::collections::{BTreeMap, HashMap};

use chatwire_protocol::{ConversationId, Seq, UserId, MAX_RETRANSMIT};

use crate::event::Event;

/// What is known of one conversation.
#[derive(Debug, Default)]
struct Track {
    /// Highest seq delivered (or skipped as hidden) so far.
    delivered: u64,
    /// Highest seq known to exist.
    target: u64,
    /// Events received beyond a gap, waiting for it to be filled.
    held: BTreeMap<u64, Event>,
    /// The range being fetched.
    in_flight: Option<(u64, u64)>,
    /// Discovery in progress: everything is held until the join point is known.
    blocked: bool,
}

/// Tracking of every conversation the user is in.
#[derive(Debug)]
pub(crate) struct SeqSync {
    me: UserId,
    tracks: HashMap<ConversationId, Track>,
    /// Where tracking (re)started since the last [`SeqSync::take_changes`]: the seq before the
    /// first event that will be delivered (what a durable store keeps until events are acked).
    started: Vec<(ConversationId, u64)>,
    /// Conversations forgotten since the last [`SeqSync::take_changes`] (gone, not ours).
    forgotten: Vec<ConversationId>,
}

impl SeqSync {
    pub fn new(me: UserId) -> Self {
        SeqSync {
            me,
            tracks: HashMap::new(),
            started: Vec::new(),
            forgotten: Vec::new(),
        }
    }

    /// Tracking starts and forgotten conversations since the last call.
    pub fn take_changes(&mut self) -> (Vec<(ConversationId, u64)>, Vec<ConversationId>) {
        (
            std::mem::take(&mut self.started),
            std::mem::take(&mut self.forgotten),
        )
    }

    pub fn is_tracked(&self, conv: ConversationId) -> bool {
        self.tracks.contains_key(&conv)
    }

    /// Every tracked conversation.
    pub fn known(&self) -> Vec<ConversationId> {
        self.tracks.keys().copied().collect()
    }

    /// Starts tracking at `last` (nothing before it will be delivered).
    pub fn track_from(&mut self, conv: ConversationId, last: u64) {
        if self.tracks.contains_key(&conv) {
            return;
        }
        self.tracks.insert(
            conv,
            Track {
                delivered: last,
                target: last,
                ..Track::default()
            },
        );
        self.started.push((conv, last));
    }

    /// Starts tracking a conversation we were added to while disconnected: live events are
    /// held until [`SeqSync::discovered`] delivers the events since we joined.
    pub fn discover(&mut self, conv: ConversationId, last: u64) {
        self.tracks.entry(conv).or_insert(Track {
            delivered: last,
            target: last,
            blocked: true,
            ..Track::default()
        });
    }

    /// Ends a discovery: `events` (any order) cover `[join, last]` completely.
    pub fn discovered(
        &mut self,
        conv: ConversationId,
        join: u64,
        events: Vec<(u64, Event)>,
        out: &mut Vec<Event>,
    ) {
        let Some(t) = self.tracks.get_mut(&conv) else {
            return;
        };
        t.blocked = false;
        let last = t.delivered;
        t.delivered = join.saturating_sub(1);
        self.started.push((conv, join.saturating_sub(1)));
        for (seq, ev) in events {
            if seq >= join && seq <= last {
                t.held.entry(seq).or_insert(ev);
            }
        }
        self.skip_through(conv, last, out);
    }

    /// The highest seq delivered (or skipped as hidden) for a tracked conversation.
    pub fn delivered(&self, conv: ConversationId) -> Option<u64> {
        self.tracks.get(&conv).map(|t| t.delivered)
    }

    /// The server says `last` is the conversation's latest seq.
    pub fn set_last(&mut self, conv: ConversationId, last: u64) {
        if let Some(t) = self.tracks.get_mut(&conv) {
            t.target = t.target.max(last);
        }
    }

    pub fn forget(&mut self, conv: ConversationId) {
        self.tracks.remove(&conv);
        self.forgotten.push(conv);
    }

    /// A persisted event arrived live (or as the result of our own request).
    pub fn on_event(&mut self, conv: ConversationId, seq: u64, event: Event, out: &mut Vec<Event>) {
        let started = &mut self.started;
        let t = self.tracks.entry(conv).or_insert_with(|| {
            // First seen through a live event: tracking starts at that event.
            let start = seq.saturating_sub(1);
            started.push((conv, start));
            Track {
                delivered: start,
                target: start,
                ..Track::default()
            }
        });
        if seq <= t.delivered || t.held.contains_key(&seq) {
            return;
        }
        t.target = t.target.max(seq);
        t.held.insert(seq, event);
        self.release(conv, out);
    }

    /// Ranges to fetch now, at most `budget` (one per conversation at a time, windows of 100).
    pub fn wanted(&mut self, budget: usize) -> Vec<(ConversationId, u64, u64)> {
        let mut out = Vec::new();
        for (conv, t) in self.tracks.iter_mut() {
            if out.len() >= budget {
                break;
            }
            if t.in_flight.is_some() || t.blocked {
                continue;
            }
            let gap_end = match t.held.keys().next() {
                Some(first) => first - 1,
                None => t.target,
            };
            let from = t.delivered + 1;
            if from > gap_end {
                continue;
            }
            let to = gap_end.min(from + MAX_RETRANSMIT - 1);
            t.in_flight = Some((from, to));
            out.push((*conv, from, to));
        }
        out
    }

    /// Part of a one-request catch-up: the server covered `[from, to]` of `conv` (its
    /// `events`, complete: seqs not returned are hidden from us) and says `last` is the highest
    /// seq we may read. A conversation not tracked yet (or waiting for its discovery) starts
    /// right before `from`.
    pub fn caught_up(
        &mut self,
        conv: ConversationId,
        (from, to): (u64, u64),
        last: u64,
        events: Vec<(u64, Event)>,
        out: &mut Vec<Event>,
    ) {
        let started = &mut self.started;
        let t = self.tracks.entry(conv).or_insert_with(|| {
            started.push((conv, from.saturating_sub(1)));
            Track {
                delivered: from.saturating_sub(1),
                target: from.saturating_sub(1),
                ..Track::default()
            }
        });
        if t.blocked {
            t.blocked = false;
            t.delivered = from.saturating_sub(1);
            started.push((conv, from.saturating_sub(1)));
        }
        t.target = t.target.max(last);
        self.filled(conv, from, to, events, out);
    }

    /// Starts holding the live events of a conversation whose start is not known yet (a
    /// one-request catch-up will say where it begins).
    pub fn hold(&mut self, conv: ConversationId) {
        self.discover(conv, 0);
    }

    /// Forgets every conversation still waiting for its start (the connection dropped before
    /// it was known; it is discovered again after the next login).
    pub fn forget_held(&mut self) {
        let held: Vec<_> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.blocked)
            .map(|(c, _)| *c)
            .collect();
        for conv in held {
            self.forget(conv);
        }
    }

    /// Whether the conversation waits for its start to be known.
    pub fn is_held(&self, conv: ConversationId) -> bool {
        self.tracks.get(&conv).is_some_and(|t| t.blocked)
    }

    /// A fill request was not sent after all (the connection dropped).
    pub fn cancel_fill(&mut self, conv: ConversationId) {
        if let Some(t) = self.tracks.get_mut(&conv) {
            t.in_flight = None;
        }
    }

    /// A fill covering `[from, to]` returned these events (the covered range is complete:
    /// seqs not returned are hidden from us, not lost).
    pub fn filled(
        &mut self,
        conv: ConversationId,
        from: u64,
        to: u64,
        events: Vec<(u64, Event)>,
        out: &mut Vec<Event>,
    ) {
        let Some(t) = self.tracks.get_mut(&conv) else {
            return;
        };
        t.in_flight = None;
        for (seq, ev) in events {
            if seq > t.delivered && (from..=to).contains(&seq) {
                t.held.entry(seq).or_insert(ev);
            }
        }
        self.skip_through(conv, to, out);
    }

    /// The server could not provide `[from, to]`: report a gap and move on.
    pub fn fill_failed(&mut self, conv: ConversationId, from: u64, to: u64, out: &mut Vec<Event>) {
        let Some(t) = self.tracks.get_mut(&conv) else {
            return;
        };
        t.in_flight = None;
        out.push(Event::Gap {
            conversation: conv,
            from: Seq(from),
            to: Seq(to),
        });
        self.skip_through(conv, to, out);
    }

    /// Delivers held events up to `to`, treating absent seqs up to `to` as done, then continues
    /// with whatever is contiguous.
    fn skip_through(&mut self, conv: ConversationId, to: u64, out: &mut Vec<Event>) {
        loop {
            let Some(t) = self.tracks.get_mut(&conv) else {
                return;
            };
            if t.delivered >= to {
                break;
            }
            let next = t.delivered + 1;
            t.delivered = next;
            if let Some(ev) = t.held.remove(&next) {
                if self.deliver(conv, ev, out) {
                    return;
                }
            }
        }
        self.release(conv, out);
    }

    /// Delivers contiguous held events.
    fn release(&mut self, conv: ConversationId, out: &mut Vec<Event>) {
        loop {
            let Some(t) = self.tracks.get_mut(&conv) else {
                return;
            };
            if t.blocked {
                return;
            }
            let next = t.delivered + 1;
            let Some(ev) = t.held.remove(&next) else {
                return;
            };
            t.delivered = next;
            if self.deliver(conv, ev, out) {
                return;
            }
        }
    }

    /// Emits one event; returns true when tracking of the conversation ended with it (we
    /// left, were removed, or it was deleted).
    fn deliver(&mut self, conv: ConversationId, ev: Event, out: &mut Vec<Event>) -> bool {
        let ended = match &ev {
            Event::ConversationCreated { conversation, .. }
            | Event::ConversationEdited { conversation, .. } => {
                conversation.participant(self.me).is_none()
            }
            Event::ConversationRemoved { .. } => true,
            _ => false,
        };
        out.push(ev);
        if ended {
            self.tracks.remove(&conv);
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use chatwire_protocol::MessageId;

    use super::*;
    use crate::event::EventAction;
    use crate::event::EventMeta;
    use crate::model::Message;

    fn conv() -> ConversationId {
        ConversationId::parse("11111111-2222-4333-8444-555555555555").unwrap()
    }

    fn msg(seq: u64) -> Event {
        Event::MessageSent {
            meta: EventMeta {
                initiator: UserId::new(7),
                action: EventAction::Request(chatwire_protocol::Action::SendMessage),
                request_id: None,
                seq: Some(Seq(seq)),
                timestamp: UNIX_EPOCH,
                replayed: false,
            },
            message: Message {
                id: MessageId::new_v4(),
                conversation: conv(),
                text: format!("m{seq}"),
                payload: vec![],
                sender: UserId::new(7).unwrap(),
                seq: Seq(seq),
                time: UNIX_EPOCH,
            },
        }
    }

    fn seqs(out: &[Event]) -> Vec<u64> {
        out.iter()
            .filter_map(|e| e.seq())
            .map(|s| s.get())
            .collect()
    }

    fn sync() -> SeqSync {
        SeqSync::new(UserId::new(1).unwrap())
    }

    #[test]
    fn delivers_in_order_and_drops_duplicates() {
        let mut s = sync();
        s.track_from(conv(), 3);
        let mut out = Vec::new();
        for seq in [4, 5, 5, 3, 6] {
            s.on_event(conv(), seq, msg(seq), &mut out);
        }
        assert_eq!(seqs(&out), [4, 5, 6]);
        assert!(s.wanted(4).is_empty());
    }

    #[test]
    fn holds_events_beyond_a_gap_until_it_is_filled() {
        let mut s = sync();
        s.track_from(conv(), 1);
        let mut out = Vec::new();
        s.on_event(conv(), 250, msg(250), &mut out);
        assert!(out.is_empty());
        // One window of at most 100 at a time.
        assert_eq!(s.wanted(4), [(conv(), 2, 101)]);
        assert!(
            s.wanted(4).is_empty(),
            "one fill per conversation in flight"
        );
        s.filled(
            conv(),
            2,
            101,
            (2..=101).map(|q| (q, msg(q))).collect(),
            &mut out,
        );
        assert_eq!(seqs(&out), (2..=101).collect::<Vec<_>>());
        assert_eq!(s.wanted(4), [(conv(), 102, 201)]);
        out.clear();
        s.filled(
            conv(),
            102,
            201,
            (102..=201).map(|q| (q, msg(q))).collect(),
            &mut out,
        );
        assert_eq!(s.wanted(4), [(conv(), 202, 249)]);
        s.filled(
            conv(),
            202,
            249,
            (202..=249).map(|q| (q, msg(q))).collect(),
            &mut out,
        );
        assert_eq!(
            *seqs(&out).last().unwrap(),
            250,
            "the held live event comes after the replayed ones"
        );
    }

    #[test]
    fn hidden_seqs_in_a_covered_range_are_skipped() {
        let mut s = sync();
        s.track_from(conv(), 0);
        s.set_last(conv(), 5);
        assert_eq!(s.wanted(4), [(conv(), 1, 5)]);
        let mut out = Vec::new();
        s.filled(conv(), 1, 5, vec![(2, msg(2)), (5, msg(5))], &mut out);
        assert_eq!(seqs(&out), [2, 5]);
        s.on_event(conv(), 6, msg(6), &mut out);
        assert_eq!(seqs(&out), [2, 5, 6]);
    }

    #[test]
    fn a_range_that_cannot_be_fetched_becomes_a_gap() {
        let mut s = sync();
        s.track_from(conv(), 1);
        let mut out = Vec::new();
        s.on_event(conv(), 4, msg(4), &mut out);
        assert_eq!(s.wanted(4), [(conv(), 2, 3)]);
        s.fill_failed(conv(), 2, 3, &mut out);
        assert!(matches!(
            out[0],
            Event::Gap {
                from: Seq(2),
                to: Seq(3),
                ..
            }
        ));
        assert_eq!(seqs(&out), [4]);
    }

    #[test]
    fn discovery_holds_live_events_until_the_join_is_known() {
        let mut s = sync();
        s.discover(conv(), 10);
        let mut out = Vec::new();
        s.on_event(conv(), 11, msg(11), &mut out);
        s.on_event(conv(), 9, msg(9), &mut out);
        assert!(out.is_empty());
        assert!(s.wanted(4).is_empty());
        s.discovered(conv(), 8, (5..=10).map(|q| (q, msg(q))).collect(), &mut out);
        assert_eq!(seqs(&out), [8, 9, 10, 11]);
    }
}
