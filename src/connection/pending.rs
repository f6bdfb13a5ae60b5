//! Requests waiting for their replies, matched by `request_uuid`.

use std::collections::HashMap;

use super::command::Reply;
use crate::error::{Error, Result};
use chatwire_protocol::{ConversationId, EventName, Request, ServerFrame};
use tokio::time::Instant;

/// Who waits for a reply.
pub(crate) enum Origin {
    /// A `Messenger` call.
    User(Reply),
    /// The connection task's own bookkeeping.
    Internal(Internal),
    /// A change from the outbox, by entry id.
    Outbox(u64),
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
    /// One page of the one-request catch-up extension for these positions (`None`: a
    /// conversation joined while away, covered from where we joined).
    CatchUp(Vec<(ConversationId, Option<u64>)>),
    /// Replies nobody needs (presence heartbeat).
    Ignore,
}

/// How many frames complete a request (docs/BEHAVIOUR.md section 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The first frame.
    One,
    /// One frame per distinct item.
    Items(usize),
    /// `count` frames (or the single `count: 0` frame).
    Retransmit,
}

/// A request as sent: kept until it is answered, so that a refusal that may pass (rate limit,
/// unavailable) or a missing answer can be sent again.
pub(crate) struct Sent {
    pub request: Request,
    pub origin: Origin,
    /// The idempotency key sent with it (changes from the outbox, when the server honours keys).
    pub key: Option<String>,
    /// How many times it was sent before this attempt.
    pub attempt: u32,
    /// The `request_uuid` of every attempt of an application's call (`None`: a fresh one for
    /// each attempt of the task's own requests).
    pub id: Option<String>,
}

struct Entry {
    expect: Expect,
    frames: Vec<ServerFrame>,
    sent: Sent,
    at: Instant,
}

/// A request whose answer is complete.
pub(crate) struct Answered {
    pub sent: Sent,
    pub result: Result<Vec<ServerFrame>>,
}

/// The table of requests in flight.
#[derive(Default)]
pub(crate) struct Pending {
    entries: HashMap<String, Entry>,
}

impl Pending {
    pub fn insert(&mut self, request_uuid: String, expect: Expect, sent: Sent, at: Instant) {
        self.entries
            .retain(|_, e| !matches!(&e.sent.origin, Origin::User(tx) if tx.is_closed()));
        self.entries.insert(
            request_uuid,
            Entry {
                expect,
                frames: Vec::new(),
                sent,
                at,
            },
        );
    }

    /// Removes the task's own requests sent before `before` (unanswered for too long).
    pub fn take_expired_internal(&mut self, before: Instant) -> Vec<Sent> {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.sent.origin, Origin::Internal(_)) && e.at < before)
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.entries.remove(&id))
            .map(|e| e.sent)
            .collect()
    }

    /// When the oldest of the task's own requests was sent.
    pub fn oldest_internal(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| matches!(e.sent.origin, Origin::Internal(_)))
            .map(|e| e.at)
            .min()
    }

    /// Forgets the request if it is a `Messenger` call whose caller gave up (so it need not be
    /// sent); true if it did.
    pub fn take_abandoned(&mut self, request_uuid: &str) -> bool {
        let abandoned = self
            .entries
            .get(request_uuid)
            .is_some_and(|e| matches!(&e.sent.origin, Origin::User(tx) if tx.is_closed()));
        if abandoned {
            self.entries.remove(request_uuid);
        }
        abandoned
    }

    /// Feeds a frame; returns the waiter and its result when the request is complete.
    pub fn accept(&mut self, frame: &ServerFrame) -> Option<Answered> {
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
            return Some(Answered {
                sent: entry.sent,
                result: Err(err),
            });
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
        Some(Answered {
            sent: entry.sent,
            result: Ok(entry.frames),
        })
    }

    /// Fails every request (the connection dropped): user calls get `err`; the task's own
    /// requests and the outbox's changes are returned so the task can forget or resend them.
    pub fn fail_all(&mut self, err: impl Fn() -> Error) -> (Vec<Internal>, Vec<u64>) {
        let (mut internal, mut outbox) = (Vec::new(), Vec::new());
        for (_, entry) in self.entries.drain() {
            match entry.sent.origin {
                Origin::User(tx) => {
                    let _ = tx.send(Err(err()));
                }
                Origin::Internal(i) => internal.push(i),
                Origin::Outbox(id) => outbox.push(id),
            }
        }
        (internal, outbox)
    }
}
