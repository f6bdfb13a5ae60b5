//! Loading the inbox from the server: the conversations you are in, where you joined each and
//! your read mark (one `catchUp` request per 500 conversations when the server offers the
//! extension), then each conversation's last message and exact unread count from its newest
//! events (windows of 100, read backwards down to the unread floor).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use chatwire_protocol::{
    CatchUp, CatchUpPosition, CatchUpState, ConversationId, EventObject, JsonMap, MessageId,
    Request, Seq, UserId, MAX_CATCH_UP_POSITIONS, MAX_RETRANSMIT,
};

use super::entry::LastMessage;
use super::fold::ConvState;
use crate::error::Result;
use crate::event::Event;
use crate::history::EventRange;
use crate::model::Conversation;
use crate::{ErrorCode, Messenger};

/// How many windows of 100 events are read back to find a last message once the unread range
/// is counted (a conversation whose newest 500 events hold no message shows none).
pub(crate) const LAST_MESSAGE_WINDOWS: u32 = 5;

/// A conversation as the server has it now, with where we stand in it.
struct Standing {
    conversation: Conversation,
    joined: u64,
    read: u64,
}

/// Everything the inbox shows, read from the server.
pub(crate) async fn load(m: &Messenger) -> Result<HashMap<ConversationId, ConvState>> {
    let me = m.user_id();
    let ids = m
        .me()
        .await?
        .private
        .map(|p| p.conversations)
        .unwrap_or_default();
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let catch_up = m.server_supports("catchUp");
    let standings = if catch_up {
        standings_by_catch_up(m, &ids).await?
    } else {
        standings_by_snapshots(m, me, &ids).await?
    };
    let mut tails = if catch_up {
        tails_by_catch_up(m, &standings).await?
    } else {
        HashMap::new()
    };
    for s in standings {
        let id = s.conversation.id;
        match scan(m, me, s, tails.remove(&id)).await {
            Ok(c) => {
                out.insert(id, c);
            }
            // Left or deleted meanwhile: its events will say so.
            Err(e) if is_gone(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether an error means the conversation is no longer ours to read.
pub(crate) fn is_gone(e: &crate::Error) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::ConversationNotFound
                | ErrorCode::ConversationDeleted
                | ErrorCode::NotParticipant
        )
    )
}

/// Snapshots, joined seqs and read marks in one `catchUp` request per 500 conversations (the
/// positions lie beyond every last seq, so no events come back). A page ends when its byte
/// budget is spent (snapshots count), so the conversations it did not reach are asked again.
async fn standings_by_catch_up(m: &Messenger, ids: &[ConversationId]) -> Result<Vec<Standing>> {
    let mut out = Vec::with_capacity(ids.len());
    let mut remaining: Vec<ConversationId> = ids.to_vec();
    while !remaining.is_empty() {
        let batch = &remaining[..remaining.len().min(MAX_CATCH_UP_POSITIONS)];
        let request = Request::CatchUp(CatchUp {
            positions: batch
                .iter()
                .map(|c| CatchUpPosition {
                    conversation: c.to_string(),
                    seq: Some(1 << 53),
                })
                .collect(),
        });
        let frames = m.call(request).await?;
        let page = frames
            .into_iter()
            .find_map(|f| match f.payload.object {
                Some(EventObject::CatchUp(page)) => Some(*page),
                _ => None,
            })
            .ok_or_else(|| crate::decode::unexpected("an onCatchUp page"))?;
        let mut answered = HashSet::new();
        for entry in page.conversations {
            if let Some(id) = ConversationId::parse(&entry.conversation) {
                answered.insert(id);
            }
            if entry.state != CatchUpState::Participant {
                continue;
            }
            if let Some(object) = entry.object {
                out.push(Standing {
                    conversation: (*object).into(),
                    joined: entry.joined_seq.map_or(0, Seq::get),
                    read: entry.last_read.unwrap_or(0),
                });
            }
        }
        if answered.is_empty() {
            return Err(crate::decode::unexpected(
                "a catch-up page that makes progress",
            ));
        }
        remaining.retain(|c| !answered.contains(c));
    }
    Ok(out)
}

/// Without the extension: snapshots and read marks from `getConversations`. Where you joined is
/// unknown, so messages before your join count until your first read mark.
async fn standings_by_snapshots(
    m: &Messenger,
    me: UserId,
    ids: &[ConversationId],
) -> Result<Vec<Standing>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(30) {
        let conversations = match m.get_conversations(chunk.iter().copied()).await {
            Ok(c) => c,
            Err(e) if is_gone(&e) => {
                let mut kept = Vec::new();
                for id in chunk {
                    match m.get_conversation(*id).await {
                        Ok(c) => kept.push(c),
                        Err(e) if is_gone(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                kept
            }
            Err(e) => return Err(e),
        };
        for c in conversations {
            if let Some(p) = c.participant(me) {
                let read = p.last_read.get();
                out.push(Standing {
                    conversation: c,
                    joined: 0,
                    read,
                });
            }
        }
    }
    Ok(out)
}

/// Events taken from before the unread floor with the catch-up pages, so that most
/// conversations' last message comes with them.
const TAIL: u64 = 5;

/// A conversation's newest events read with catch-up pages: everything after `from`, ascending.
struct Tail {
    from: u64,
    events: Vec<Event>,
}

/// The unread range plus a few events of every conversation, packed 100 events per `catchUp`
/// page (instead of one `retransmitEvents` per conversation).
async fn tails_by_catch_up(
    m: &Messenger,
    standings: &[Standing],
) -> Result<HashMap<ConversationId, Tail>> {
    let mut out: HashMap<ConversationId, Tail> = HashMap::new();
    // (conversation, position reached, last seq)
    let mut remaining: Vec<(ConversationId, u64, u64)> = Vec::new();
    for s in standings {
        let last = s.conversation.last_seq.get();
        let from = s.read.max(s.joined).min(last.saturating_sub(TAIL));
        out.insert(
            s.conversation.id,
            Tail {
                from,
                events: Vec::new(),
            },
        );
        remaining.push((s.conversation.id, from, last));
    }
    remaining.retain(|(_, position, last)| position < last);
    while !remaining.is_empty() {
        let batch = &remaining[..remaining.len().min(MAX_CATCH_UP_POSITIONS)];
        let request = Request::CatchUp(CatchUp {
            positions: batch
                .iter()
                .map(|(c, position, _)| CatchUpPosition {
                    conversation: c.to_string(),
                    seq: Some(*position),
                })
                .collect(),
        });
        let page = m
            .call(request)
            .await?
            .into_iter()
            .find_map(|f| match f.payload.object {
                Some(EventObject::CatchUp(page)) => Some(*page),
                _ => None,
            })
            .ok_or_else(|| crate::decode::unexpected("an onCatchUp page"))?;
        for inner in page.events {
            let frame = chatwire_protocol::ServerFrame {
                event: inner.event,
                request_uuid: None,
                payload: inner.payload,
            };
            if let Some(event) = Event::from_frame(frame, true) {
                if let Some(tail) = event.conversation().and_then(|c| out.get_mut(&c)) {
                    tail.events.push(event);
                }
            }
        }
        let mut progressed = false;
        for entry in page.conversations {
            let Some(id) = ConversationId::parse(&entry.conversation) else {
                continue;
            };
            let Some(slot) = remaining.iter_mut().find(|(c, _, _)| *c == id) else {
                continue;
            };
            if entry.state != CatchUpState::Participant {
                // Left meanwhile: its events will say so.
                slot.1 = slot.2;
                progressed = true;
            } else if let Some(to) = entry.to_seq {
                slot.1 = to.get();
                progressed = true;
            } else if slot.1 >= entry.last_seq {
                slot.1 = slot.2;
                progressed = true;
            }
        }
        if !progressed {
            return Err(crate::decode::unexpected(
                "a catch-up page that makes progress",
            ));
        }
        remaining.retain(|(_, position, last)| position < last);
    }
    Ok(out)
}

/// Reads a conversation's newest events backwards until both the unread range is counted and
/// its last message is found.
async fn scan(m: &Messenger, me: UserId, s: Standing, tail: Option<Tail>) -> Result<ConvState> {
    let at = s.conversation.last_update;
    let mut c = ConvState::joined_at(s.conversation, me, s.joined, at);
    c.read = s.read;
    scan_back(m, &mut c, tail).await?;
    Ok(c)
}

/// Counts a conversation's unread messages again from the server (and finds its last message
/// when it has none yet): everything after the floor up to its last seq.
pub(crate) async fn rescan(m: &Messenger, c: &mut ConvState) -> Result<()> {
    scan_back(m, c, None).await
}

/// [`rescan`], starting with the newest events when they are already known.
async fn scan_back(m: &Messenger, c: &mut ConvState, tail: Option<Tail>) -> Result<()> {
    let floor = c.read.max(c.joined);
    let mut scan = Scanner {
        me: m.user_id(),
        floor,
        removed: HashSet::new(),
        edits: HashMap::new(),
        candidates: BTreeMap::new(),
        last: c.last_message.clone(),
    };
    let mut to = c.conversation.last_seq.get();
    if let Some(mut tail) = tail {
        // Events after the snapshot arrive live; they are folded then.
        tail.events
            .retain(|e| e.seq().is_some_and(|s| s.get() <= to));
        scan.take(&tail.events);
        to = tail.from;
    }
    let mut extra_windows = 0;
    while to > 0 {
        if to <= floor {
            if scan.last.is_some() || extra_windows >= LAST_MESSAGE_WINDOWS {
                break;
            }
            extra_windows += 1;
        }
        let count = to.min(MAX_RETRANSMIT) as u8;
        let replay = m
            .retransmit_events(c.conversation.id, EventRange::ending_at(Seq(to), count))
            .await?;
        scan.take(&replay.events);
        to = replay.from.get().max(1) - 1;
    }
    c.candidates = scan.candidates;
    c.counted_from = floor;
    c.last_message = scan.last;
    Ok(())
}

/// What a backwards read of a conversation found so far.
struct Scanner {
    me: UserId,
    floor: u64,
    removed: HashSet<MessageId>,
    /// The latest edit of each message (the first met going backwards).
    edits: HashMap<MessageId, (String, Vec<JsonMap>, SystemTime)>,
    candidates: BTreeMap<u64, MessageId>,
    last: Option<LastMessage>,
}

impl Scanner {
    /// Takes a window of events (ascending), reading it backwards.
    fn take(&mut self, events: &[Event]) {
        for event in events.iter().rev() {
            match event {
                Event::MessageRemoved { message, .. } => {
                    self.removed.insert(*message);
                }
                Event::MessageEdited { meta, message } => {
                    self.edits.entry(message.id).or_insert_with(|| {
                        (
                            message.text.clone(),
                            message.payload.clone(),
                            meta.timestamp,
                        )
                    });
                }
                Event::MessageSent { message, .. } => {
                    let gone = self.removed.contains(&message.id);
                    if self.last.is_none() {
                        let edit = self.edits.get(&message.id);
                        let (text, payload) = match edit {
                            _ if gone => (String::new(), Vec::new()),
                            Some(e) => (e.0.clone(), e.1.clone()),
                            None => (message.text.clone(), message.payload.clone()),
                        };
                        self.last = Some(LastMessage {
                            id: message.id,
                            seq: message.seq,
                            sender: message.sender,
                            text,
                            payload,
                            sent_at: message.time,
                            edited_at: edit.map(|e| e.2),
                            removed: gone,
                        });
                    }
                    if message.seq.get() > self.floor && message.sender != self.me && !gone {
                        self.candidates.insert(message.seq.get(), message.id);
                    }
                }
                _ => {}
            }
        }
    }
}
