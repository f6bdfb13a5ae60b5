//! The outbox: changes (messages, edits, conversation and participant changes) accepted from
//! the application, sent until the server answers them, exactly once.
//!
//! A change gets its idempotency key when it is accepted (the application's, or a new UUID).
//! With a durable store the entry is written to the store before its first send, so it
//! survives a restart. It is sent in acceptance order with its key (when the server honours
//! keys, docs/PROTOCOL.md section 12.3) and, after a drop or a restart, sent again with the same
//! key, so the server carries it out once and answers a repeat with the original result. The
//! entry belongs to the SDK: dropping the caller's future does not cancel it; when nobody waits
//! for the answer any more, the outcome is reported as [`Event::OutboxSent`] or
//! [`Event::OutboxFailed`]. The caller's timeout runs from the first send. An entry older than
//! the server's idempotency window is never sent again: it fails with
//! [`Error::OutcomeUnknown`].

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use chatwire_protocol::{Action, ConversationId, Request, ServerFrame, EXT_IDEMPOTENCY};
use tokio::time::Instant;

use super::command::Reply;
use super::pending::{Origin, Sent};
use super::Task;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::request_id::RequestId;
use crate::store::OutboxEntry;

/// One accepted change.
pub(super) struct Entry {
    stored: OutboxEntry,
    request: Request,
    /// The caller, while it waits.
    reply: Option<Reply>,
    /// When it was first sent (its caller's timeout runs from here).
    first_sent: Option<Instant>,
    /// Queued or in flight on the current connection.
    queued: bool,
    /// The caller's `request_uuid` (`None` for changes restored from the store).
    request_id: Option<String>,
}

/// Accepted changes by id (acceptance order).
#[derive(Default)]
pub(super) struct Outbox {
    entries: BTreeMap<u64, Entry>,
    next_id: u64,
    /// Entries accepted but not yet written to the store (written before they are sent).
    unsaved: bool,
    /// Entries accepted (or put back) and not queued yet.
    fresh: bool,
}

/// Whether `request` is a change that consumes a seq (and so goes through the outbox).
pub(crate) fn is_change(request: &Request) -> bool {
    request.action().consumes_seq()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The conversation a change names (none for `createConversation`).
fn conversation_of(request: &Request) -> Option<ConversationId> {
    request
        .changed_conversation()
        .and_then(ConversationId::parse)
}

impl Outbox {
    /// What the store must hold for every entry.
    pub fn stored_entries(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries.values().map(|e| &e.stored)
    }

    /// Entries restored from the store (nobody waits for them).
    pub fn restore(&mut self, stored: impl IntoIterator<Item = OutboxEntry>) {
        for stored in stored {
            let Some(request) = Action::from_name(&stored.action)
                .and_then(|a| Request::decode(a, &stored.payload).ok())
            else {
                tracing::warn!(key = %stored.key, action = %stored.action, "unreadable outbox entry dropped");
                continue;
            };
            self.next_id = self.next_id.max(stored.id + 1);
            self.fresh = true;
            self.entries.insert(
                stored.id,
                Entry {
                    stored,
                    request,
                    reply: None,
                    first_sent: None,
                    queued: false,
                    request_id: None,
                },
            );
        }
    }
}

impl Task {
    fn keys_honoured(&self) -> bool {
        self.extensions
            .as_ref()
            .is_some_and(|e| e.has(EXT_IDEMPOTENCY))
    }

    /// Accepts a change into the outbox; it is sent when the connection allows.
    pub(super) fn accept_change(
        &mut self,
        request: Request,
        reply: Reply,
        key: Option<String>,
        request_id: RequestId,
    ) {
        let id = self.outbox.next_id;
        self.outbox.next_id += 1;
        let stored = OutboxEntry::new(
            id,
            key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            request.action().name(),
            conversation_of(&request),
            request.to_payload(),
            unix_now(),
        );
        if let Some(d) = self.durable.as_mut() {
            d.save_outbox(stored.clone());
            self.outbox.unsaved = true;
        }
        self.outbox.fresh = true;
        self.outbox.entries.insert(
            id,
            Entry {
                stored,
                request,
                reply: Some(reply),
                first_sent: None,
                queued: false,
                request_id: Some(request_id.to_string()),
            },
        );
    }

    /// Whether accepted changes wait to be written to the store before they are sent.
    pub(super) fn outbox_unsaved(&mut self) -> bool {
        std::mem::take(&mut self.outbox.unsaved)
    }

    /// Queues every change not queued yet, in acceptance order: right after a login before
    /// everything else (`front`), otherwise behind what is queued. Entries sent before and
    /// older than the server's idempotency window are never sent again.
    pub(super) fn queue_outbox(&mut self, front: bool) {
        if !std::mem::take(&mut self.outbox.fresh) {
            return;
        }
        let honoured = self.keys_honoured();
        let window = self
            .extensions
            .as_ref()
            .map(|e| e.idempotency_window as i64);
        let now = unix_now();
        let mut expired = Vec::new();
        let mut fresh = Vec::new();
        for (id, entry) in self.outbox.entries.iter_mut() {
            if entry.queued {
                continue;
            }
            // A change sent before (by an earlier connection or process) may have been carried
            // out: sending it again is safe only with a key the server still remembers.
            let sent_before = entry.stored.first_sent_at.is_some();
            let remembered =
                honoured && window.is_some_and(|w| now - entry.stored.accepted_at <= w);
            if sent_before && !remembered {
                expired.push(*id);
                continue;
            }
            entry.queued = true;
            fresh.push(Sent {
                request: entry.request.clone(),
                origin: Origin::Outbox(*id),
                key: Some(entry.stored.key.clone()),
                attempt: 0,
                id: entry.request_id.clone(),
            });
        }
        for id in expired {
            self.finish_change(id, Err(Error::OutcomeUnknown));
        }
        for sent in fresh.iter_mut() {
            if !honoured {
                sent.key = None;
            }
        }
        if front {
            for sent in fresh.into_iter().rev() {
                self.paced.push_front(sent);
            }
        } else {
            self.paced.extend(fresh);
        }
    }

    /// A change is being written to the socket now.
    pub(super) fn change_sent(&mut self, id: u64, now: Instant) {
        let Some(entry) = self.outbox.entries.get_mut(&id) else {
            return;
        };
        if entry.first_sent.is_none() {
            entry.first_sent = Some(now);
        }
        if entry.stored.first_sent_at.is_none() {
            entry.stored.first_sent_at = Some(unix_now());
            if let Some(d) = self.durable.as_mut() {
                d.save_outbox(entry.stored.clone());
            }
        }
    }

    /// The connection dropped: changes in flight or queued are sent again on the next
    /// connection, with the same key; without keys, one in flight may have been carried out,
    /// so it fails with [`Error::OutcomeUnknown`].
    pub(super) fn outbox_after_drop(&mut self, in_flight: Vec<u64>) {
        let honoured = self.keys_honoured();
        for entry in self.outbox.entries.values_mut() {
            entry.queued = false;
        }
        self.outbox.fresh = true;
        if !honoured {
            for id in in_flight {
                self.finish_change(id, Err(Error::OutcomeUnknown));
            }
        }
    }

    /// The server answered a change (or it failed for good): remove it and tell whoever waits.
    pub(super) fn finish_change(&mut self, id: u64, result: Result<Vec<ServerFrame>>) {
        let Some(entry) = self.outbox.entries.remove(&id) else {
            return;
        };
        if let Some(d) = self.durable.as_mut() {
            d.remove_outbox(id);
        }
        let waiting = entry.reply.as_ref().is_some_and(|r| !r.is_closed());
        if !waiting {
            let (key, action) = (entry.stored.key, entry.stored.action);
            let event = match &result {
                Ok(frames) => Event::OutboxSent {
                    key,
                    action,
                    seq: frames.first().and_then(|f| f.payload.seq),
                },
                Err(e) => Event::OutboxFailed {
                    key,
                    action,
                    code: e.code(),
                    reason: e.to_string(),
                },
            };
            self.emit(event);
        }
        if let Some(reply) = entry.reply {
            let _ = reply.send(result);
        }
    }

    /// Callers whose change was sent more than the request timeout ago get
    /// [`Error::Timeout`]; the change stays in the outbox (its outcome comes as an event).
    /// Returns when the next such timeout falls due.
    pub(super) fn outbox_timeouts(&mut self, now: Instant) -> Option<Instant> {
        let timeout = self.config.request_timeout;
        let mut next = None::<Instant>;
        for entry in self.outbox.entries.values_mut() {
            let (Some(first), true) = (entry.first_sent, entry.reply.is_some()) else {
                continue;
            };
            let due = first + timeout;
            if due <= now {
                if let Some(reply) = entry.reply.take() {
                    let _ = reply.send(Err(Error::Timeout(timeout)));
                }
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// The messenger closes: callers still waiting learn that it closed before the answer
    /// (never sent: [`Error::NotLoggedIn`]; sent: [`Error::OutcomeUnknown`]). With a store, the
    /// changes are sent after the next start and reported as events.
    pub(super) fn outbox_close(&mut self) {
        for entry in self.outbox.entries.values_mut() {
            if let Some(reply) = entry.reply.take() {
                let error = match entry.first_sent {
                    Some(_) => Error::OutcomeUnknown,
                    None => Error::NotLoggedIn,
                };
                let _ = reply.send(Err(error));
            }
        }
    }
}
