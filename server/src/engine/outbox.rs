//! What one command produces: store writes, frames to send once they are durable, and closes.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use chatwire_protocol::{ErrorCode, EventName, EventPayload, ServerFrame, UserId};

use crate::store::{Batch, Write};
use crate::transport::hub::ConnShared;

/// One frame for several connections (serialized once).
pub(crate) struct Delivery {
    pub frame: Utf8Bytes,
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

    pub fn send(&mut self, frame: Utf8Bytes, to: impl Into<Arc<[Arc<ConnShared>]>>) {
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
            for d in self.deliveries {
                for conn in d.to.iter() {
                    conn.send(d.frame.clone());
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

/// `{"service":"chat","event":E,"request_uuid":R,"payload":P}` around an encoded payload.
pub(crate) fn wrap(event: &str, request_uuid: Option<&str>, payload_json: &str) -> Utf8Bytes {
    let mut s = String::with_capacity(payload_json.len() + 96);
    s.push_str(r#"{"service":"chat","event":"#);
    s.push_str(&serde_json::to_string(event).expect("string"));
    if let Some(r) = request_uuid {
        s.push_str(r#","request_uuid":"#);
        s.push_str(&serde_json::to_string(r).expect("string"));
    }
    s.push_str(r#","payload":"#);
    s.push_str(payload_json);
    s.push('}');
    Utf8Bytes::from(s)
}

/// Encodes a payload.
pub(crate) fn encode_payload(payload: &EventPayload) -> String {
    serde_json::to_string(payload).expect("payloads always serialize")
}

/// A complete frame.
pub(crate) fn frame(
    event: EventName,
    request_uuid: Option<&str>,
    payload: EventPayload,
) -> Utf8Bytes {
    let text = ServerFrame {
        event,
        request_uuid: request_uuid.map(str::to_string),
        payload,
    }
    .encode();
    Utf8Bytes::from(text)
}

/// An `onError` frame.
pub(crate) fn error_frame(
    initiator: Option<UserId>,
    action: &str,
    request_uuid: Option<&str>,
    code: ErrorCode,
    description: &str,
    now: i64,
) -> Utf8Bytes {
    let mut payload = EventPayload::new(initiator, action, now);
    payload.code = Some(code);
    payload.description = Some(description.to_string());
    frame(EventName::Error, request_uuid, payload)
}
