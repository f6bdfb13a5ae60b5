//! Requests waiting for their replies, matched by `request_uuid`.

use std::collections::HashMap;

use super::command::Reply;
use crate::error::{Error, Result};
use chatwire_protocol::{ConversationId, EventName, ServerFrame};

/// Who waits for a reply.
pub(crate) enum Origin {
    /// A `Messenger` call.
    User(Reply),
    /// The connection task's own bookkeeping.
    Internal(Internal),
}

/// The connection task's own requests.
#[derive(Debug, Clone)]
pub(crate) enum Internal {
    /// `getUser` of ourselves at login.
    Me,
    /// `getConversations` during catch-up.
    Conversations(Vec<ConversationId>),
    /// `getConversation` of one uuid after a batch failed.
    Conversation(ConversationId),
    /// `retransmitEvents` filling a gap.
    Fill {
        conversation: ConversationId,
        from: u64,
        to: u64,
    },
    /// `retransmitEvents` paging backwards to find where we joined a conversation.
    Scan { conversation: ConversationId },
    /// Replies nobody needs (presence heartbeat).
    Ignore,
}

/// How many frames complete a request (SPEC.md section 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The first frame.
    One,
    /// One frame per distinct item.
    Items(usize),
    /// `count` frames (or the single `count: 0` frame).
    Retransmit,
}

struct Entry {
    expect: Expect,
    frames: Vec<ServerFrame>,
    origin: Origin,
}

/// The table of requests in flight.
#[derive(Default)]
pub(crate) struct Pending {
    entries: HashMap<String, Entry>,
}

impl Pending {
    pub fn insert(&mut self, request_uuid: String, expect: Expect, origin: Origin) {
        self.entries
            .retain(|_, e| !matches!(&e.origin, Origin::User(tx) if tx.is_closed()));
        self.entries.insert(
            request_uuid,
            Entry {
                expect,
                frames: Vec::new(),
                origin,
            },
        );
    }

    /// Forgets the request if it is a `Messenger` call whose caller gave up (so it need not be
    /// sent); true if it did.
    pub fn take_abandoned(&mut self, request_uuid: &str) -> bool {
        let abandoned = self
            .entries
            .get(request_uuid)
            .is_some_and(|e| matches!(&e.origin, Origin::User(tx) if tx.is_closed()));
        if abandoned {
            self.entries.remove(request_uuid);
        }
        abandoned
    }

    /// Feeds a frame; returns the waiter and its result when the request is complete.
    pub fn accept(&mut self, frame: &ServerFrame) -> Option<(Origin, Result<Vec<ServerFrame>>)> {
        let id = frame.request_uuid.as_deref()?;
        let entry = self.entries.get_mut(id)?;
        if frame.event == EventName::Error {
            let entry = self.entries.remove(id)?;
            let p = &frame.payload;
            let err = Error::Server {
                code: p.code.unwrap_or(chatwire_protocol::ErrorCode::Internal),
                description: p.description.clone().unwrap_or_default(),
                action: p.on_incoming_event.clone(),
            };
            return Some((entry.origin, Err(err)));
        }
        entry.frames.push(frame.clone());
        let done = match entry.expect {
            Expect::One => true,
            Expect::Items(n) => entry.frames.len() >= n,
            Expect::Retransmit => {
                let count = entry.frames[0].payload.count.unwrap_or(0) as usize;
                entry.frames.len() >= count.max(1)
            }
        };
        if !done {
            return None;
        }
        let entry = self.entries.remove(id)?;
        Some((entry.origin, Ok(entry.frames)))
    }

    /// Fails every request (the connection dropped): user calls get `err`, internal ones are
    /// returned so the task can forget them.
    pub fn fail_all(&mut self, err: impl Fn() -> Error) -> Vec<Internal> {
        let mut internal = Vec::new();
        for (_, entry) in self.entries.drain() {
            match entry.origin {
                Origin::User(tx) => {
                    let _ = tx.send(Err(err()));
                }
                Origin::Internal(i) => internal.push(i),
            }
        }
        internal
    }
}
