//! The timeline's window of messages and how events change it (pure: no I/O, unit-tested).
//!
//! History is read backwards; an edit or removal is always newer than its message, so edits and
//! removals of messages not loaded yet wait in `pending` until their message arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::SystemTime;

use chatwire_protocol::{JsonMap, MessageId, Seq};

use super::item::{TimelineDiff, TimelineItem};
use crate::event::Event;

/// At most this many edits and removals of unloaded messages are remembered (the oldest are
/// forgotten: such a message, if loaded later, shows its earlier text).
const MAX_PENDING: usize = 10_000;

#[derive(Debug, Clone)]
struct PendingEdit {
    seq: u64,
    text: String,
    payload: Vec<JsonMap>,
    at: SystemTime,
}

/// The loaded messages of one conversation.
#[derive(Debug)]
pub(crate) struct Window {
    pub items: VecDeque<TimelineItem>,
    /// The next history window ends at this seq (0: the start was reached).
    pub next_back: u64,
    /// Live events up to this seq are already covered by history.
    pub live_from: u64,
    pub capacity: usize,
    edits: HashMap<MessageId, PendingEdit>,
    removed: HashSet<MessageId>,
}

impl Window {
    /// An empty window at the live end of a conversation whose last seq is `last_seq`.
    pub fn new(last_seq: u64, capacity: usize) -> Self {
        Window {
            items: VecDeque::new(),
            next_back: last_seq,
            live_from: last_seq,
            capacity,
            edits: HashMap::new(),
            removed: HashSet::new(),
        }
    }

    fn index_of(&self, id: MessageId) -> Option<usize> {
        self.items.iter().rposition(|i| i.id == id)
    }

    fn note_edit(&mut self, id: MessageId, edit: PendingEdit) {
        if self.edits.len() >= MAX_PENDING && !self.edits.contains_key(&id) {
            return;
        }
        match self.edits.get(&id) {
            Some(e) if e.seq >= edit.seq => {}
            _ => {
                self.edits.insert(id, edit);
            }
        }
    }

    /// Folds a live event in; returns the diffs it caused.
    pub fn live(&mut self, event: &Event) -> Vec<TimelineDiff> {
        let Some(seq) = event.seq() else {
            return Vec::new();
        };
        if seq.get() <= self.live_from {
            return Vec::new();
        }
        self.live_from = seq.get();
        let mut out = Vec::new();
        match event {
            Event::MessageSent { message, .. } => {
                let item = TimelineItem {
                    id: message.id,
                    seq,
                    sender: message.sender,
                    text: message.text.clone(),
                    payload: message.payload.clone(),
                    sent_at: message.time,
                    edited_at: None,
                    removed: false,
                };
                self.items.push_back(item.clone());
                out.push(TimelineDiff::Append(item));
                let over = self.items.len().saturating_sub(self.capacity);
                if over > 0 {
                    for old in self.items.drain(..over).collect::<Vec<_>>() {
                        self.forget(old);
                    }
                    self.next_back = self.items.front().map_or(seq.get(), |i| i.seq.get() - 1);
                    out.push(TimelineDiff::TrimFront(over));
                }
            }
            Event::MessageEdited { meta, message } => match self.index_of(message.id) {
                Some(index) => {
                    let item = &mut self.items[index];
                    item.text.clone_from(&message.text);
                    item.payload.clone_from(&message.payload);
                    item.edited_at = Some(meta.timestamp);
                    out.push(TimelineDiff::Set {
                        index,
                        item: item.clone(),
                    });
                }
                None => self.note_edit(
                    message.id,
                    PendingEdit {
                        seq: seq.get(),
                        text: message.text.clone(),
                        payload: message.payload.clone(),
                        at: meta.timestamp,
                    },
                ),
            },
            Event::MessageRemoved { message, .. } => match self.index_of(*message) {
                Some(index) => {
                    let item = &mut self.items[index];
                    item.mark_removed();
                    out.push(TimelineDiff::Set {
                        index,
                        item: item.clone(),
                    });
                }
                None => {
                    if self.removed.len() < MAX_PENDING {
                        self.removed.insert(*message);
                    }
                }
            },
            _ => {}
        }
        out
    }

    /// Keeps what a trimmed item knows that history would not tell again (its edits and
    /// removal came live, after the history it would be read back from).
    fn forget(&mut self, item: TimelineItem) {
        if item.removed {
            if self.removed.len() < MAX_PENDING {
                self.removed.insert(item.id);
            }
        } else if let Some(at) = item.edited_at {
            self.note_edit(
                item.id,
                PendingEdit {
                    seq: u64::MAX,
                    text: item.text,
                    payload: item.payload,
                    at,
                },
            );
        }
    }

    /// Room left before the capacity.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.items.len())
    }

    /// Prepends one history window (`events` ascending, covering `[from, next_back]`); returns
    /// how many messages it added and the diff.
    pub fn prepend(&mut self, from: u64, events: &[Event]) -> (usize, Option<TimelineDiff>) {
        let mut added = Vec::new();
        for event in events.iter().rev() {
            let Some(seq) = event.seq() else { continue };
            if seq.get() > self.next_back {
                continue;
            }
            match event {
                Event::MessageRemoved { message, .. } => {
                    self.removed.insert(*message);
                }
                Event::MessageEdited { meta, message } => self.note_edit(
                    message.id,
                    PendingEdit {
                        seq: seq.get(),
                        text: message.text.clone(),
                        payload: message.payload.clone(),
                        at: meta.timestamp,
                    },
                ),
                Event::MessageSent { meta, message } => {
                    let Some(sender) = meta.initiator else {
                        continue;
                    };
                    let mut item = TimelineItem {
                        id: message.id,
                        seq: Seq(seq.get()),
                        sender,
                        text: message.text.clone(),
                        payload: message.payload.clone(),
                        sent_at: meta.timestamp,
                        edited_at: None,
                        removed: false,
                    };
                    if let Some(e) = self.edits.remove(&message.id) {
                        item.text = e.text;
                        item.payload = e.payload;
                        item.edited_at = Some(e.at);
                    }
                    if self.removed.remove(&message.id) {
                        item.mark_removed();
                    }
                    added.push(item);
                }
                _ => {}
            }
        }
        self.next_back = from.saturating_sub(1);
        if added.is_empty() {
            return (0, None);
        }
        added.reverse();
        let n = added.len();
        for item in added.iter().rev() {
            self.items.push_front(item.clone());
        }
        (n, Some(TimelineDiff::Prepend(added)))
    }
}
