//! What one command produces (store writes, frames to send once they are durable, closes), and
//! the helpers that encode its frames with `chatwire-protocol`.

use std::sync::Arc;

use chatwire_protocol::{wrap_payload, ErrorCode, EventName, EventPayload, ServerFrame, UserId};

use crate::outbound::{ConnShared, Frame};
use crate::store::{Batch, Write};

/// One frame for several connections (serialized once).
pub(crate) struct Delivery {
    pub frame: Frame,
    pub to: Arc<[Arc<ConnShared>]>,
}

/// Side effects of one command, released together after the store made the writes durable.
#[derive(Default)]
pub(crate) struct Outbox {
    pub batch: Batch,
    pub deliveries: Vec<Delivery>,
    pub closes: Vec<(Arc<ConnShared>, u16, &'static str)>,
    pub after: Vec<Box<dyn FnOnce(bool) + Send>>,
}

impl Outbox {
    pub fn write(&mut self, w: Write) {
        self.batch.writes.push(w);
    }

    pub fn send(&mut self, frame: Frame, to: impl Into<Arc<[Arc<ConnShared>]>>) {
        let to = to.into();
        if !to.is_empty() {
            self.deliveries.push(Delivery { frame, to });
        }
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
            for Delivery { frame, to } in self.deliveries {
                // The last receiver gets the frame itself: a frame for one connection stays
                // unshared, so the transport sends its text without a copy.
                if let Some((last, rest)) = to.split_last() {
                    for conn in rest {
                        conn.send(frame.clone());
                    }
                    last.send(frame);
                }
            }
            for (conn, code, reason) in self.closes {
                conn.close(code, reason, true);
            }
        }
        for f in self.after {
            f(ok);
        }
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
