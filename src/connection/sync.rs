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
}

impl SeqSync {
    pub fn new(me: UserId) -> Self {
        SeqSync {
            me,
            tracks: HashMap::new(),
        }
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
        self.tracks.entry(conv).or_insert(Track {
            delivered: last,
            target: last,
            ..Track::default()
        });
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
        for (seq, ev) in events {
            if seq >= join && seq <= last {
                t.held.entry(seq).or_insert(ev);
            }
        }
        self.skip_through(conv, last, out);
    }

    /// The server says `last` is the conversation's latest seq.
    pub fn set_last(&mut self, conv: ConversationId, last: u64) {
        if let Some(t) = self.tracks.get_mut(&conv) {
            t.target = t.target.max(last);
        }
    }

    pub fn forget(&mut self, conv: ConversationId) {
        self.tracks.remove(&conv);
    }

    /// A persisted event arrived live (or as the result of our own request).
    pub fn on_event(&mut self, conv: ConversationId, seq: u64, event: Event, out: &mut Vec<Event>) {
        let t = self.tracks.entry(conv).or_insert_with(|| {
            // First seen through a live event: tracking starts at that event.
            let start = seq.saturating_sub(1);
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
