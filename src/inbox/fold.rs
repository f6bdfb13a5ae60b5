//! The inbox's state and how each event changes it (pure: no I/O, unit-tested).
//!
//! Unread counting keeps, per conversation, the messages that may count (not yours, not
//! removed) with a seq above the *floor*: `max(read mark, joined seq)`. Every message after
//! `counted_from` is known, so the count is exact as long as the floor stays at or above it; a
//! read mark moved back below it (or a gap in the events) asks the task for a rescan.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use chatwire_protocol::{ConversationId, MessageId, Seq, UserId};

use super::entry::{InboxEntry, LastMessage};
use crate::event::{Event, EventMeta};
use crate::model::{Conversation, Message};

/// How long a typing indicator lasts after the last typing event.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(10);

/// One conversation's state.
#[derive(Debug, Clone)]
pub(crate) struct ConvState {
    pub conversation: Conversation,
    pub last_message: Option<LastMessage>,
    pub read: u64,
    pub joined: u64,
    /// Messages that may count (not ours, not removed) with a seq above `counted_from`.
    pub candidates: BTreeMap<u64, MessageId>,
    pub counted_from: u64,
    pub typing: Vec<(UserId, Instant)>,
    pub last_activity: SystemTime,
    /// Order of the latest local change (breaks ties of `last_activity`, which has whole
    /// seconds).
    pub rank: u64,
}

impl ConvState {
    /// A conversation we just joined at event `joined` (nothing before it counts).
    pub fn joined_at(conversation: Conversation, me: UserId, joined: u64, at: SystemTime) -> Self {
        let read = conversation
            .participant(me)
            .map_or(0, |p| p.last_read.get());
        ConvState {
            conversation,
            last_message: None,
            read,
            joined,
            candidates: BTreeMap::new(),
            counted_from: joined,
            typing: Vec::new(),
            last_activity: at,
            rank: 0,
        }
    }

    fn floor(&self) -> u64 {
        self.read.max(self.joined)
    }

    /// The exact unread count.
    pub fn unread(&self) -> u32 {
        self.candidates.range(self.floor() + 1..).count() as u32
    }

    /// Moves the read mark; returns whether the count needs a rescan (moved back below what
    /// was counted).
    fn set_read(&mut self, seq: u64) -> bool {
        self.read = seq;
        let floor = self.floor();
        if floor < self.counted_from {
            return true;
        }
        // What is at or below the floor can only count again after a rescan.
        self.candidates = self.candidates.split_off(&(floor + 1));
        self.counted_from = floor;
        false
    }
}

/// What folding an event did.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Folded {
    /// Entries that changed.
    pub changed: Vec<ConversationId>,
    /// Entries that left the inbox.
    pub removed: Vec<ConversationId>,
    /// Conversations whose count must be read again from the server.
    pub rescan: Vec<ConversationId>,
    /// Conversations new to the inbox (their names may need users).
    pub added: Vec<ConversationId>,
    /// Everything must be loaded again (history reset, missed events).
    pub reload: bool,
}

/// The whole inbox.
#[derive(Debug)]
pub(crate) struct InboxState {
    pub me: UserId,
    pub convs: HashMap<ConversationId, ConvState>,
    /// Display names known to the inbox (for direct and untitled conversations).
    pub names: HashMap<UserId, String>,
    /// Counter of activity (for [`ConvState::rank`]).
    ticks: u64,
}

impl InboxState {
    pub fn new(me: UserId) -> Self {
        InboxState {
            me,
            convs: HashMap::new(),
            names: HashMap::new(),
            ticks: 0,
        }
    }

    /// Folds one event in (`now`: for typing indicators).
    pub fn fold(&mut self, event: &Event, now: Instant) -> Folded {
        let mut out = Folded::default();
        match event {
            Event::ConversationCreated { meta, conversation }
            | Event::ConversationEdited { meta, conversation } => {
                self.conversation_event(meta, conversation, &mut out)
            }
            Event::ConversationRemoved { conversation, .. }
                if self.convs.remove(conversation).is_some() =>
            {
                out.removed.push(*conversation);
            }
            Event::MessageSent { meta, message } => self.message_sent(meta, message, &mut out),
            Event::MessageEdited { meta, message } => {
                if let Some(c) = self.advance(message.conversation, meta) {
                    if let Some(last) = c.last_message.as_mut().filter(|l| l.id == message.id) {
                        last.text.clone_from(&message.text);
                        last.payload.clone_from(&message.payload);
                        last.edited_at = Some(meta.timestamp);
                    }
                    out.changed.push(message.conversation);
                }
            }
            Event::MessageRemoved {
                meta,
                conversation,
                message,
            } => {
                if let Some(c) = self.advance(*conversation, meta) {
                    c.candidates.retain(|_, id| id != message);
                    if let Some(last) = c.last_message.as_mut().filter(|l| l.id == *message) {
                        last.removed = true;
                        last.text.clear();
                        last.payload.clear();
                    }
                    out.changed.push(*conversation);
                }
            }
            Event::Typing { meta, conversation } => {
                let me = self.me;
                if let (Some(c), Some(who)) = (self.convs.get_mut(conversation), meta.initiator) {
                    if who != me {
                        c.typing.retain(|(u, _)| *u != who);
                        c.typing.push((who, now));
                        out.changed.push(*conversation);
                    }
                }
            }
            Event::Read {
                meta,
                conversation,
                seq,
            } if meta.initiator == Some(self.me) => self.read(*conversation, *seq, &mut out),
            Event::UserEdited { user, .. } => {
                self.names.insert(user.id, user.display_name.clone());
                for (id, c) in &self.convs {
                    if c.conversation.participant(user.id).is_some() && user.id != self.me {
                        out.changed.push(*id);
                    }
                }
            }
            Event::Gap { conversation, .. } if self.convs.contains_key(conversation) => {
                out.rescan.push(*conversation)
            }
            Event::HistoryReset | Event::Lagged { .. } => out.reload = true,
            _ => {}
        }
        out
    }

    /// Applies our own read mark (from an event or our own call).
    pub fn read(&mut self, conversation: ConversationId, seq: Seq, out: &mut Folded) {
        if let Some(c) = self.convs.get_mut(&conversation) {
            if c.set_read(seq.get()) {
                out.rescan.push(conversation);
            }
            out.changed.push(conversation);
        }
    }

    /// The conversation of a persisted event that is newer than what we hold (and records it
    /// as the latest event); `None` for events already reflected or unknown conversations.
    fn advance(
        &mut self,
        conversation: ConversationId,
        meta: &EventMeta,
    ) -> Option<&mut ConvState> {
        let c = self.convs.get_mut(&conversation)?;
        let seq = meta.seq?;
        if seq <= c.conversation.last_seq {
            return None;
        }
        self.ticks += 1;
        c.rank = self.ticks;
        c.conversation.last_seq = seq;
        c.conversation.last_update = meta.timestamp;
        c.last_activity = c.last_activity.max(meta.timestamp);
        Some(c)
    }

    fn message_sent(&mut self, meta: &EventMeta, message: &Message, out: &mut Folded) {
        let me = self.me;
        let (sender, seq) = (message.sender, message.seq);
        let Some(c) = self.advance(message.conversation, meta) else {
            return;
        };
        c.last_message = Some(LastMessage {
            id: message.id,
            seq,
            sender,
            text: message.text.clone(),
            payload: message.payload.clone(),
            sent_at: message.time,
            edited_at: None,
            removed: false,
        });
        if sender != me && seq.get() > c.floor() {
            c.candidates.insert(seq.get(), message.id);
        }
        c.typing.retain(|(u, _)| *u != sender);
        out.changed.push(message.conversation);
    }

    fn conversation_event(&mut self, meta: &EventMeta, conv: &Conversation, out: &mut Folded) {
        let id = conv.id;
        let Some(seq) = meta.seq else { return };
        let Some(mine) = conv.participant(self.me).copied() else {
            // We left, were removed, or the conversation is not ours.
            if self
                .convs
                .get(&id)
                .is_some_and(|c| c.conversation.last_seq < seq)
            {
                self.convs.remove(&id);
                out.removed.push(id);
            }
            return;
        };
        match self.convs.get_mut(&id) {
            Some(c) if seq <= c.conversation.last_seq => {}
            Some(c) => {
                self.ticks += 1;
                c.rank = self.ticks;
                c.conversation = conv.clone();
                c.last_activity = c.last_activity.max(meta.timestamp);
                // A live snapshot carries the current read mark; a replayed one an old one.
                let read = mine.last_read.get();
                if !meta.replayed && c.read != read && c.set_read(read) {
                    out.rescan.push(id);
                }
                out.changed.push(id);
            }
            None => {
                self.ticks += 1;
                let mut c = ConvState::joined_at(conv.clone(), self.me, seq.get(), meta.timestamp);
                c.rank = self.ticks;
                self.convs.insert(id, c);
                out.added.push(id);
                out.changed.push(id);
            }
        }
    }

    /// Drops typing indicators older than [`TYPING_EXPIRY`]; returns the entries that changed.
    pub fn expire_typing(&mut self, now: Instant) -> Vec<ConversationId> {
        let mut changed = Vec::new();
        for (id, c) in &mut self.convs {
            let before = c.typing.len();
            c.typing
                .retain(|(_, at)| now.saturating_duration_since(*at) < TYPING_EXPIRY);
            if c.typing.len() != before {
                changed.push(*id);
            }
        }
        changed
    }

    /// When the next typing indicator expires.
    pub fn next_typing_expiry(&self) -> Option<Instant> {
        self.convs
            .values()
            .flat_map(|c| c.typing.iter().map(|(_, at)| *at + TYPING_EXPIRY))
            .min()
    }

    /// The users whose names the inbox shows and does not know yet.
    pub fn unnamed_users(&self) -> Vec<UserId> {
        let mut out = Vec::new();
        for c in self.convs.values() {
            if c.conversation.direct || c.conversation.title.is_empty() {
                for p in &c.conversation.participants {
                    if p.user != self.me
                        && !self.names.contains_key(&p.user)
                        && !out.contains(&p.user)
                    {
                        out.push(p.user);
                    }
                }
            }
        }
        out
    }

    /// The entry of one conversation.
    pub fn entry(&self, id: ConversationId, now: Instant) -> Option<InboxEntry> {
        let c = self.convs.get(&id)?;
        Some(InboxEntry {
            name: name_of(&c.conversation, self.me, &self.names),
            conversation: c.conversation.clone(),
            last_message: c.last_message.clone(),
            unread: c.unread(),
            read_mark: Seq(c.read),
            typing: c
                .typing
                .iter()
                .filter(|(_, at)| now.saturating_duration_since(*at) < TYPING_EXPIRY)
                .map(|(u, _)| *u)
                .collect(),
            last_activity: c.last_activity,
        })
    }

    /// Every entry, newest activity first.
    pub fn entries(&self, now: Instant) -> Vec<InboxEntry> {
        let mut ranked: Vec<(u64, InboxEntry)> = self
            .convs
            .iter()
            .filter_map(|(id, c)| Some((c.rank, self.entry(*id, now)?)))
            .collect();
        // Newest activity first; within a second, the latest change here; then by seq and
        // name, so the order is stable.
        ranked.sort_by(|(ra, a), (rb, b)| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| rb.cmp(ra))
                .then_with(|| b.conversation.last_seq.cmp(&a.conversation.last_seq))
                .then_with(|| a.name.cmp(&b.name))
        });
        ranked.into_iter().map(|(_, e)| e).collect()
    }
}

/// What to call a conversation: the other person of a direct one, the title, or the
/// participants of an untitled group.
pub(crate) fn name_of(c: &Conversation, me: UserId, names: &HashMap<UserId, String>) -> String {
    let name = |u: UserId| {
        names
            .get(&u)
            .cloned()
            .unwrap_or_else(|| format!("user {u}"))
    };
    let others: Vec<UserId> = c
        .participants
        .iter()
        .map(|p| p.user)
        .filter(|u| *u != me)
        .collect();
    if c.direct {
        return others
            .first()
            .map_or_else(|| "(just you)".to_owned(), |u| name(*u));
    }
    if !c.title.is_empty() {
        return c.title.clone();
    }
    match others.len() {
        0 => "(just you)".to_owned(),
        1..=3 => others
            .iter()
            .map(|u| name(*u))
            .collect::<Vec<_>>()
            .join(", "),
        n => format!(
            "{} and {} others",
            others[..2]
                .iter()
                .map(|u| name(*u))
                .collect::<Vec<_>>()
                .join(", "),
            n - 2
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::model::Participant;
    use chatwire_protocol::Permissions;

    fn user(n: u64) -> UserId {
        UserId::new(n).unwrap()
    }

    fn meta(who: u64, seq: u64) -> EventMeta {
        EventMeta {
            initiator: Some(user(who)),
            action: crate::event::EventAction::Other(String::new()),
            request_id: None,
            seq: Some(Seq(seq)),
            timestamp: UNIX_EPOCH + Duration::from_secs(1_000 + seq),
            replayed: false,
        }
    }

    fn conversation(id: ConversationId, seq: u64, members: &[u64]) -> Conversation {
        Conversation {
            id,
            title: "t".into(),
            direct: false,
            uber: false,
            public: false,
            custom_data: Default::default(),
            participants: members
                .iter()
                .map(|u| Participant {
                    user: user(*u),
                    permissions: Permissions::DEFAULT,
                    last_read: Seq(0),
                })
                .collect(),
            created_at: UNIX_EPOCH,
            last_update: UNIX_EPOCH,
            last_seq: Seq(seq),
        }
    }

    fn sent(id: ConversationId, who: u64, seq: u64) -> (Event, MessageId) {
        let message = Message {
            id: MessageId::new_v4(),
            conversation: id,
            text: format!("m{seq}"),
            payload: Vec::new(),
            sender: user(who),
            seq: Seq(seq),
            time: UNIX_EPOCH + Duration::from_secs(1_000 + seq),
        };
        let mid = message.id;
        (
            Event::MessageSent {
                meta: meta(who, seq),
                message,
            },
            mid,
        )
    }

    /// Me (1) added at seq 2 to a conversation of 2 and 3.
    fn joined() -> (InboxState, ConversationId) {
        let id = ConversationId::new_v4();
        let mut s = InboxState::new(user(1));
        let now = Instant::now();
        let added = Event::ConversationEdited {
            meta: meta(2, 2),
            conversation: conversation(id, 2, &[2, 3, 1]),
        };
        assert_eq!(s.fold(&added, now).added, vec![id]);
        (s, id)
    }

    #[test]
    fn counts_others_messages_after_the_floor_and_not_removed_ones() {
        let (mut s, id) = joined();
        let now = Instant::now();
        let (m3, _) = sent(id, 2, 3);
        let (m4, removed) = sent(id, 3, 4);
        let (mine, _) = sent(id, 1, 5);
        for e in [&m3, &m4, &mine] {
            s.fold(e, now);
        }
        assert_eq!(
            s.entry(id, now).unwrap().unread,
            2,
            "own message not counted"
        );
        // A replayed duplicate changes nothing.
        assert!(s.fold(&m3, now).changed.is_empty());
        let removal = Event::MessageRemoved {
            meta: meta(3, 6),
            conversation: id,
            message: removed,
        };
        s.fold(&removal, now);
        assert_eq!(s.entry(id, now).unwrap().unread, 1);
        let last = s.entry(id, now).unwrap().last_message.unwrap();
        assert_eq!((last.text.as_str(), last.sender), ("m5", user(1)));
    }

    #[test]
    fn read_marks_move_the_count_and_a_mark_moved_back_asks_for_a_recount() {
        let (mut s, id) = joined();
        let now = Instant::now();
        for seq in 3..=6 {
            s.fold(&sent(id, 2, seq).0, now);
        }
        assert_eq!(s.entry(id, now).unwrap().unread, 4);
        let read = |seq| Event::Read {
            meta: meta(1, 0),
            conversation: id,
            seq: Seq(seq),
        };
        // Someone else's mark does not count; ours does.
        let mut theirs = read(6);
        if let Event::Read { meta, .. } = &mut theirs {
            meta.initiator = Some(user(2));
        }
        s.fold(&theirs, now);
        assert_eq!(s.entry(id, now).unwrap().unread, 4);
        let f = s.fold(&read(4), now);
        assert!(f.rescan.is_empty());
        assert_eq!(s.entry(id, now).unwrap().unread, 2);
        // Back below what is still counted: a recount is needed.
        assert_eq!(s.fold(&read(3), now).rescan, vec![id]);
    }

    #[test]
    fn leaving_removes_and_typing_expires() {
        let (mut s, id) = joined();
        let t0 = Instant::now();
        let typing = Event::Typing {
            meta: meta(2, 0),
            conversation: id,
        };
        s.fold(&typing, t0);
        assert_eq!(s.entry(id, t0).unwrap().typing, vec![user(2)]);
        assert_eq!(s.next_typing_expiry(), Some(t0 + TYPING_EXPIRY));
        assert_eq!(s.expire_typing(t0 + TYPING_EXPIRY), vec![id]);
        assert!(s.entry(id, t0).unwrap().typing.is_empty());
        let left = Event::ConversationEdited {
            meta: meta(1, 3),
            conversation: conversation(id, 3, &[2, 3]),
        };
        assert_eq!(s.fold(&left, t0).removed, vec![id]);
        assert!(s.entries(t0).is_empty());
    }
}
