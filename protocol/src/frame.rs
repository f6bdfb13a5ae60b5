//! Server messaging frames: encoding and (tolerant) decoding.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::objects::*;
use crate::{lenient, DecodeError, ErrorCode, EventName, Seq, SessionFrame, UserId};

/// The `payload` of a server messaging frame (docs/BEHAVIOUR.md section 2.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPayload {
    /// The user whose request caused the frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiator: Option<UserId>,
    /// The action that caused the frame (`"UNKNOWN"` when there is none).
    pub on_incoming_event: String,
    /// The event's seq (persisted events, get results, the existing-direct reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    /// UNIX seconds.
    pub timestamp: i64,
    /// Retransmit replies: covered range start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<Seq>,
    /// Retransmit replies: covered range end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_seq: Option<Seq>,
    /// Retransmit replies: number of events in the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Error frames: the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// Error frames: informative text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The event object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<EventObject>,
}

impl EventPayload {
    /// A payload with only the always-present fields set.
    pub fn new(
        initiator: Option<UserId>,
        on_incoming_event: impl Into<String>,
        timestamp: i64,
    ) -> Self {
        EventPayload {
            initiator,
            on_incoming_event: on_incoming_event.into(),
            seq: None,
            timestamp,
            from_seq: None,
            to_seq: None,
            count: None,
            code: None,
            description: None,
            object: None,
        }
    }
}

/// A server -> client messaging frame.
///
/// ```
/// use chatwire_protocol::{ServerFrame, EventName};
/// let text = r#"{"service":"chat","event":"onSetStatus","payload":{"initiator":"7",
///     "on_incoming_event":"setStatus","timestamp":1767225600,"object":{"online":true}}}"#;
/// let frame = ServerFrame::decode(text).unwrap();
/// assert_eq!(frame.event, EventName::SetStatus);
/// assert_eq!(frame.payload.initiator.unwrap().get(), 7);
/// assert_eq!(ServerFrame::decode(&frame.encode()).unwrap(), frame);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFrame {
    /// The event name.
    pub event: EventName,
    /// The request this frame answers or was caused by.
    pub request_uuid: Option<String>,
    /// The payload.
    pub payload: EventPayload,
}

#[derive(Serialize)]
struct WireOut<'a> {
    service: &'static str,
    event: &'a EventName,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_uuid: Option<&'a str>,
    payload: &'a EventPayload,
}

/// The payload fields, with the object left as a borrowed raw slice that is decoded straight
/// into its typed struct.
#[derive(Deserialize)]
struct RawPayload<O> {
    #[serde(default, deserialize_with = "opt_user")]
    initiator: Option<UserId>,
    #[serde(default)]
    on_incoming_event: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    seq: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    from_seq: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    to_seq: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    code: Option<u32>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "none")]
    object: Option<O>,
}

fn none<O>() -> Option<O> {
    None
}

/// A frame's top level, borrowed from the text (nothing is copied or parsed twice).
#[derive(Deserialize)]
struct RawFrame<'a> {
    #[serde(borrow, default)]
    service: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_uuid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

/// The inner `{event, payload}` of a retransmitted event, borrowed.
#[derive(Deserialize)]
struct RawInner<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

fn is_object(raw: &str) -> bool {
    raw.trim_start().starts_with('{')
}

fn raw_string(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
}

fn opt_user<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<UserId>, D::Error> {
    Option::<UserId>::deserialize(d)
}

impl ServerFrame {
    /// Serializes the frame (compact JSON).
    pub fn encode(&self) -> String {
        let out = WireOut {
            service: "chat",
            event: &self.event,
            request_uuid: self.request_uuid.as_deref(),
            payload: &self.payload,
        };
        serde_json::to_string(&out).expect("frames always serialize")
    }

    /// Decodes a server frame, tolerating numbers as strings, `@type` and unknown keys.
    ///
    /// One pass: the payload and its object are deserialized straight from their slices of
    /// `text` into the typed structs, without an intermediate JSON tree.
    pub fn decode(text: &str) -> Result<ServerFrame, DecodeError> {
        Self::from_raw(split_frame(text)?)
    }

    fn from_raw(raw: RawFrame<'_>) -> Result<ServerFrame, DecodeError> {
        let event = raw_string(raw.event)
            .map(|e| EventName::from_name(&e))
            .ok_or_else(|| DecodeError::Malformed("`event` missing or not a string".into()))?;
        let request_uuid = raw_string(raw.request_uuid);
        let payload = decode_payload_raw(&event, raw.payload)?;
        Ok(ServerFrame {
            event,
            request_uuid,
            payload,
        })
    }

    /// Decodes a server frame from a parsed JSON value (same rules as [`ServerFrame::decode`]).
    pub fn from_value(value: Value) -> Result<ServerFrame, DecodeError> {
        Self::decode(&value.to_string())
    }
}

fn split_frame(text: &str) -> Result<RawFrame<'_>, DecodeError> {
    if !is_object(text) {
        return Err(DecodeError::Malformed("frame is not an object".into()));
    }
    serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Any frame a server sends: a messaging frame or a session-layer frame.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// Nearly every frame is a messaging frame: boxing it would cost an allocation per frame to save
// stack space in the rare session case.
#[allow(clippy::large_enum_variant)]
pub enum ServerMessage {
    /// A messaging frame (it has a `service` key).
    Messaging(ServerFrame),
    /// A session-layer RPC frame (`{"name", "params"}`).
    Session(SessionFrame),
}

/// Classifies and decodes a server -> client frame in one pass, by the rule of docs/BEHAVIOUR.md section
/// 2.1: an object with a `service` key is a messaging frame, otherwise one with a `name` key is a
/// session frame; anything else is an error.
///
/// The counterpart of [`parse_client_frame`](crate::parse_client_frame) for the other direction.
///
/// ```
/// use chatwire_protocol::{parse_server_frame, EventName, ServerMessage};
/// let m = parse_server_frame(r#"{"service":"chat","event":"onTyping","payload":{"timestamp":1}}"#).unwrap();
/// assert!(matches!(m, ServerMessage::Messaging(f) if f.event == EventName::Typing));
/// let s = parse_server_frame(r#"{"name":"__pong","params":[]}"#).unwrap();
/// assert!(matches!(s, ServerMessage::Session(f) if f.name == "__pong"));
/// assert!(parse_server_frame(r#"{"other":1}"#).is_err());
/// assert!(parse_server_frame("[1]").is_err());
/// ```
pub fn parse_server_frame(text: &str) -> Result<ServerMessage, DecodeError> {
    let raw = split_frame(text)?;
    if raw.service.is_some() {
        return ServerFrame::from_raw(raw).map(ServerMessage::Messaging);
    }
    let Some(name) = raw_string(raw.name) else {
        return Err(DecodeError::Malformed(
            "neither `service` nor a string `name`".into(),
        ));
    };
    let params = match raw.params.map(RawValue::get) {
        None | Some("null") => Vec::new(),
        Some(text) => match serde_json::from_str::<Value>(text)
            .map_err(|e| DecodeError::invalid("params", e.to_string()))?
        {
            Value::Array(a) => a,
            other => vec![other],
        },
    };
    Ok(ServerMessage::Session(SessionFrame { name, params }))
}

fn decode_payload_raw(
    event: &EventName,
    raw: Option<&RawValue>,
) -> Result<EventPayload, DecodeError> {
    let text = match raw.map(RawValue::get) {
        None | Some("null") => "{}",
        Some(t) if is_object(t) => t,
        Some(_) => return Err(DecodeError::invalid("payload", "expected an object")),
    };
    let mut raw: RawPayload<&RawValue> =
        serde_json::from_str(text).map_err(|e| DecodeError::invalid("payload", e.to_string()))?;
    let object = match raw.object.take() {
        None => None,
        Some(obj) if obj.get() == "null" => None,
        Some(obj) => Some(decode_object_raw(event, obj.get())?),
    };
    Ok(payload_from(raw, object))
}

fn payload_from<O>(raw: RawPayload<O>, object: Option<EventObject>) -> EventPayload {
    EventPayload {
        initiator: raw.initiator,
        on_incoming_event: raw.on_incoming_event.unwrap_or_else(|| "UNKNOWN".into()),
        seq: raw.seq.map(Seq),
        timestamp: raw.timestamp.unwrap_or(0),
        from_seq: raw.from_seq.map(Seq),
        to_seq: raw.to_seq.map(Seq),
        count: raw.count,
        code: raw.code.map(ErrorCode::from_code),
        description: raw.description,
        object,
    }
}

fn obj_raw<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::invalid("payload.object", e.to_string()))
}

/// Decodes `payload.object` from its raw text according to the event name.
fn decode_object_raw(event: &EventName, text: &str) -> Result<EventObject, DecodeError> {
    Ok(match event {
        EventName::CreateConversation
        | EventName::EditConversation
        | EventName::GetConversation
        | EventName::RemoveConversation => EventObject::Conversation(Box::new(obj_raw(text)?)),
        EventName::SendMessage | EventName::EditMessage => EventObject::Message(obj_raw(text)?),
        EventName::RemoveMessage => EventObject::MessageRef(obj_raw(text)?),
        EventName::GetUser | EventName::EditUser => EventObject::User(Box::new(obj_raw(text)?)),
        EventName::GetPublicConversations => EventObject::PublicConversations(obj_raw(text)?),
        EventName::Typing => EventObject::Typing(obj_raw(text)?),
        EventName::Read => EventObject::Read(obj_raw(text)?),
        EventName::SetStatus => EventObject::Status(obj_raw(text)?),
        EventName::Subscribe | EventName::Unsubscribe => EventObject::UserIds(obj_raw(text)?),
        EventName::GetSubscriptionList => EventObject::SubscriptionList(obj_raw(text)?),
        EventName::RetransmitEvents => {
            EventObject::Retransmitted(Box::new(decode_inner_event(text)?))
        }
        EventName::CatchUp => EventObject::CatchUp(Box::new(crate::CatchUpPage::decode_raw(text)?)),
        EventName::Error | EventName::Unknown(_) => EventObject::Other(obj_raw(text)?),
    })
}

/// Decodes an `{event, payload}` object (a retransmitted event) from its raw text.
pub(crate) fn decode_inner_event(text: &str) -> Result<RetransmittedEvent, DecodeError> {
    if !is_object(text) {
        return Err(DecodeError::invalid("payload.object", "expected an object"));
    }
    let inner: RawInner<'_> = serde_json::from_str(text)
        .map_err(|e| DecodeError::invalid("payload.object", e.to_string()))?;
    let event = raw_string(inner.event)
        .map(|e| EventName::from_name(&e))
        .ok_or_else(|| DecodeError::invalid("payload.object.event", "missing or not a string"))?;
    let payload = decode_payload_raw(&event, inner.payload)?;
    Ok(RetransmittedEvent { event, payload })
}

/// Decodes `payload.object` according to the event name.
pub fn decode_object(event: &EventName, v: Value) -> Result<EventObject, DecodeError> {
    decode_object_raw(event, &v.to_string())
}
