//! What one command produces (store writes, frames to send once they are durable, closes), and
//! the helpers that encode its frames with `chatwire-protocol`.

use std::sync::Arc;

use chatwire_protocol::{wrap_payload, ErrorCode, EventName, EventPayload, ServerFrame, UserId};

use crate::outbound::{ConnId, ConnShared, Frame, ReplyCredit};
use crate::store::{Batch, Write};

/// One frame for several connections (serialized once).
pub(crate) struct Delivery {
    pub frame: Frame,
    pub to: Arc<[Arc<ConnShared>]>,
    /// The receiver whose copy is its own request's result (a reply, counted apart from
    /// broadcasts in its queue), if any.
    pub reply_to: Option<ConnId>,
    /// Whether it delivers another node's logged event (dropped, and delivered again from the
    /// log, if this outbox's batch turns out stale).
    pub remote: bool,
}

/// Side effects of one command, released together after the store made the writes durable.
#[derive(Default)]
pub(crate) struct Outbox {
    pub batch: Batch,
    pub deliveries: Vec<Delivery>,
    pub closes: Vec<(Arc<ConnShared>, u16, &'static str)>,
    pub after: Vec<Box<dyn FnOnce(bool) + Send>>,
    /// The reply room the request's connection reserved; returned after the frames are queued.
    pub credit: Option<ReplyCredit>,
    /// The request itself, kept while the store is shared with other nodes: if its batch turns
    /// out stale, the engine refreshes its state and runs it again.
    pub rerun: Option<super::Rerun>,
    /// Logged events of other nodes this outbox delivers (conversation, seq).
    pub remote: Vec<(chatwire_protocol::ConversationId, u64)>,
    /// Frames not in the log that other nodes deliver to their connections of the named users
    /// (only with a bus), announced with the batch once it is committed.
    pub unlogged: Vec<crate::bus::Unlogged>,
}

impl Outbox {
    pub fn write(&mut self, w: Write) {
        self.batch.writes.push(w);
    }

    /// Sends `frame` to `to` as a broadcast.
    pub fn send(&mut self, frame: Frame, to: impl Into<Arc<[Arc<ConnShared>]>>) {
        self.send_with_reply(frame, to, None);
    }

    /// Sends `frame` to `to`; the copy of connection `reply_to` is a reply.
    pub fn send_with_reply(
        &mut self,
        frame: Frame,
        to: impl Into<Arc<[Arc<ConnShared>]>>,
        reply_to: Option<ConnId>,
    ) {
        let to = to.into();
        if !to.is_empty() {
            self.deliveries.push(Delivery {
                frame,
                to,
                reply_to,
                remote: false,
            });
        }
    }

    /// Sends `frame` to `conn` as a reply to its request.
    pub fn reply(&mut self, frame: Frame, conn: &Arc<ConnShared>) {
        let id = conn.id;
        self.send_with_reply(frame, vec![conn.clone()], Some(id));
    }

    /// The conversation and seq of the first log entry this outbox appends (the result event
    /// of a seq-consuming request), if any.
    pub fn first_event(&self) -> Option<(chatwire_protocol::ConversationId, u64)> {
        self.batch.writes.iter().find_map(|w| match w {
            Write::Event(e) => Some((e.conversation, e.seq)),
            _ => None,
        })
    }

    /// Every (conversation, seq) whose frames this outbox delivers: its own log entries and
    /// other nodes' events.
    pub fn positions(&self) -> Vec<(chatwire_protocol::ConversationId, u64)> {
        let mut out: Vec<_> = self
            .batch
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Event(e) => Some((e.conversation, e.seq)),
                _ => None,
            })
            .collect();
        out.extend_from_slice(&self.remote);
        out
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
            && self.deliveries.is_empty()
            && self.closes.is_empty()
            && self.after.is_empty()
    }

    /// Releases everything (called once the batch is durable).
    pub fn release(self, ok: bool) {
        if ok {
            for Delivery {
                frame,
                to,
                reply_to,
                ..
            } in self.deliveries
            {
                // The last receiver gets the frame itself: a frame for one connection stays
                // unshared, so the transport sends its text without a copy.
                if let Some((last, rest)) = to.split_last() {
                    for conn in rest {
                        push(conn, frame.clone(), reply_to);
                    }
                    push(last, frame, reply_to);
                }
            }
            for (conn, code, reason) in self.closes {
                conn.close(code, reason, true);
            }
        }
        for f in self.after {
            f(ok);
        }
        // Only now that its replies are queued (and counted) does the request give back the
        // room it reserved.
        drop(self.credit);
    }
}

/// Queues `frame` for `conn`: a reply if it is the connection `reply_to`, else a broadcast.
fn push(conn: &ConnShared, frame: Frame, reply_to: Option<ConnId>) {
    if reply_to == Some(conn.id) {
        conn.reply(frame);
    } else {
        conn.send(frame);
    }
}

/// The frame around an already encoded payload (see [`wrap_payload`]).
pub(crate) fn wrap(event: &EventName, request_uuid: Option<&str>, payload_json: &str) -> Frame {
    Frame::from(wrap_payload(event, request_uuid, payload_json))
}

/// Encodes a payload.
pub(crate) fn encode_payload(payload: &EventPayload) -> String {
    serde_json::to_string(payload).expect("payloads always serialize")
}

/// A complete frame.
pub(crate) fn frame(event: EventName, request_uuid: Option<&str>, payload: EventPayload) -> Frame {
    let text = ServerFrame {
        event,
        request_uuid: request_uuid.map(str::to_string),
        payload,
    }
    .encode();
    Frame::from(text)
}

/// An `onError` frame.
pub(crate) fn error_frame(
    initiator: Option<UserId>,
    action: &str,
    request_uuid: Option<&str>,
    code: ErrorCode,
    description: &str,
    now: i64,
) -> Frame {
    let mut payload = EventPayload::new(initiator, action, now);
    payload.code = Some(code);
    payload.description = Some(description.to_string());
    frame(EventName::Error, request_uuid, payload)
}
