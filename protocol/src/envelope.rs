//! Messaging-frame envelopes around payloads that are already JSON: [`wrap_payload`] and the
//! `onRetransmitEvents` frames of [`RetransmitHeader`]. A server encodes an event's payload
//! once (the event log stores that text) and wraps it for every send without decoding it again.

use std::fmt::Write as _;

use crate::{EventName, Seq, UserId};

/// Bytes the envelope adds around a payload, besides the event name and request uuid.
const ENVELOPE_BYTES: usize = 64;

/// Bytes of a retransmit header with typical numbers, plus the object's keys.
const HEADER_BYTES: usize = 160;

/// Encodes the messaging frame `{"service":"chat","event":E,"request_uuid":R,"payload":P}`
/// around `payload_json`, an already encoded payload object. `request_uuid` is left out when
/// `None`, as [`ServerFrame::encode`](crate::ServerFrame::encode) does.
///
/// This is how a server sends an event whose payload it encoded once (the same text goes to
/// the event log and to every receiver): for the same frame the result is exactly the bytes of
/// [`ServerFrame::encode`](crate::ServerFrame::encode). `payload_json` is inserted as it is and
/// not checked: it must be one JSON object, normally `serde_json::to_string(&EventPayload)`.
/// The event name and the request uuid are escaped.
///
/// ```
/// use chatwire_protocol::{wrap_payload, EventName};
/// let text = wrap_payload(&EventName::Typing, None, r#"{"timestamp":1}"#);
/// assert_eq!(text, r#"{"service":"chat","event":"onTyping","payload":{"timestamp":1}}"#);
/// // Request uuids are escaped.
/// let text = wrap_payload(&EventName::Typing, Some("a\"b"), "{}");
/// assert_eq!(text, r#"{"service":"chat","event":"onTyping","request_uuid":"a\"b","payload":{}}"#);
/// ```
pub fn wrap_payload(event: &EventName, request_uuid: Option<&str>, payload_json: &str) -> String {
    let mut s = open(event, request_uuid, payload_json.len());
    s.push_str(payload_json);
    s.push('}');
    s
}

/// Starts a frame: everything up to and including `"payload":`, with room for `more` bytes.
fn open(event: &EventName, request_uuid: Option<&str>, more: usize) -> String {
    let event = event.as_str();
    let extra = event.len() + request_uuid.map_or(0, |r| r.len() + 16);
    let mut s = String::with_capacity(ENVELOPE_BYTES + extra + more);
    s.push_str(r#"{"service":"chat","event":"#);
    push_json_string(&mut s, event);
    if let Some(r) = request_uuid {
        s.push_str(r#","request_uuid":"#);
        push_json_string(&mut s, r);
    }
    s.push_str(r#","payload":"#);
    s
}

/// The payload fields of an `onRetransmitEvents` frame (docs/BEHAVIOUR.md section 7.3) other than its
/// object: one such frame is sent per retransmitted event, all with the same header, or one
/// without an object when no event is visible.
///
/// ```
/// use chatwire_protocol::{EventName, RetransmitHeader, Seq, UserId};
/// let header = RetransmitHeader {
///     initiator: UserId::new(7).unwrap(),
///     timestamp: 1_767_225_600,
///     from_seq: Seq(3),
///     to_seq: Seq(4),
///     count: 1,
/// };
/// let stored = r#"{"initiator":7,"on_incoming_event":"typingMessage","timestamp":1}"#;
/// let text = header.wrap_event(Some("r1"), &EventName::Typing, stored);
/// assert_eq!(
///     text,
///     r#"{"service":"chat","event":"onRetransmitEvents","request_uuid":"r1","payload":{"initiator":7,"on_incoming_event":"retransmitEvents","timestamp":1767225600,"from_seq":3,"to_seq":4,"count":1,"object":{"event":"onTyping","payload":{"initiator":7,"on_incoming_event":"typingMessage","timestamp":1}}}}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitHeader {
    /// The user who asked for the events.
    pub initiator: UserId,
    /// UNIX seconds of the reply.
    pub timestamp: i64,
    /// First seq of the covered range.
    pub from_seq: Seq,
    /// Last seq of the covered range.
    pub to_seq: Seq,
    /// Number of events in the reply (frames sent for this request).
    pub count: u64,
}

impl RetransmitHeader {
    /// The `onRetransmitEvents` frame carrying one stored event: `event` with its payload
    /// `payload_json` exactly as it was broadcast (an already encoded JSON object, inserted as
    /// it is).
    ///
    /// ```
    /// use chatwire_protocol::{
    ///     EventName, EventObject, RetransmitHeader, Seq, ServerFrame, UserId,
    /// };
    /// let header = RetransmitHeader {
    ///     initiator: UserId::new(7).unwrap(),
    ///     timestamp: 1,
    ///     from_seq: Seq(1),
    ///     to_seq: Seq(1),
    ///     count: 1,
    /// };
    /// let stored = r#"{"initiator":7,"on_incoming_event":"typingMessage","timestamp":1}"#;
    /// let text = header.wrap_event(None, &EventName::Typing, stored);
    /// let frame = ServerFrame::decode(&text).unwrap();
    /// let Some(EventObject::Retransmitted(inner)) = frame.payload.object else { unreachable!() };
    /// assert_eq!(inner.event, EventName::Typing);
    /// ```
    pub fn wrap_event(
        &self,
        request_uuid: Option<&str>,
        event: &EventName,
        payload_json: &str,
    ) -> String {
        let event = event.as_str();
        let more = HEADER_BYTES + event.len() + payload_json.len();
        let mut s = open(&EventName::RetransmitEvents, request_uuid, more);
        self.push_header(&mut s);
        s.push_str(r#","object":{"event":"#);
        push_json_string(&mut s, event);
        s.push_str(r#","payload":"#);
        s.push_str(payload_json);
        s.push_str("}}}");
        s
    }

    /// The `onRetransmitEvents` frame without an object, sent when none of the range's events
    /// is visible to the caller (`count` is then 0).
    ///
    /// ```
    /// use chatwire_protocol::{RetransmitHeader, Seq, UserId};
    /// let header = RetransmitHeader {
    ///     initiator: UserId::new(7).unwrap(),
    ///     timestamp: 1,
    ///     from_seq: Seq(1),
    ///     to_seq: Seq(2),
    ///     count: 0,
    /// };
    /// assert_eq!(
    ///     header.wrap_empty(Some("r1")),
    ///     r#"{"service":"chat","event":"onRetransmitEvents","request_uuid":"r1","payload":{"initiator":7,"on_incoming_event":"retransmitEvents","timestamp":1,"from_seq":1,"to_seq":2,"count":0}}"#
    /// );
    /// ```
    pub fn wrap_empty(&self, request_uuid: Option<&str>) -> String {
        let mut s = open(&EventName::RetransmitEvents, request_uuid, HEADER_BYTES);
        self.push_header(&mut s);
        s.push_str("}}");
        s
    }

    /// `{"initiator":..,"on_incoming_event":"retransmitEvents",..,"count":N` (the fields in
    /// the order [`EventPayload`](crate::EventPayload) serializes them; the object is open).
    fn push_header(&self, s: &mut String) {
        let RetransmitHeader {
            initiator,
            timestamp,
            from_seq,
            to_seq,
            count,
        } = self;
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            r#"{{"initiator":{initiator},"on_incoming_event":"retransmitEvents","timestamp":{timestamp},"from_seq":{from_seq},"to_seq":{to_seq},"count":{count}"#
        );
    }
}

/// Appends `value` as a JSON string, escaped exactly as `serde_json` does.
fn push_json_string(s: &mut String, value: &str) {
    // serde_json escapes `"`, `\` and the control characters below 0x20, nothing else.
    if value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        s.push_str(&serde_json::to_string(value).expect("strings always serialize"));
    } else {
        s.push('"');
        s.push_str(value);
        s.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::push_json_string;

    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        for value in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "nl\n",
            "\u{0}\u{1f}\u{7f}",
            "ü😀",
        ] {
            let mut s = String::new();
            push_json_string(&mut s, value);
            assert_eq!(s, serde_json::to_string(value).unwrap(), "{value:?}");
        }
    }
}
