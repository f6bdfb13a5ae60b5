//! Client -> server frames: classification of incoming text (server side) and encoding (SDK side).

use serde_json::{Map, Value};

use crate::{Action, Request, SessionFrame, RESERVED_ACTIONS};

/// A classified client frame (docs/BEHAVIOUR.md section 2.1).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    /// A frame with a `service` key that passed the check for code 1.
    Messaging(MessagingFrame),
    /// A frame with a `name` key and no `service` key.
    Session(SessionFrame),
}

/// The envelope of a messaging request, before the action's payload is decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagingFrame {
    /// `event` as sent.
    pub event: String,
    /// `request_uuid`, if given.
    pub request_uuid: Option<String>,
    /// `payload` (`{}` when absent or null).
    pub payload: Map<String, Value>,
    /// chatwire extension: the envelope's `idempotency_key` as sent (absent or `null`: `None`).
    /// Checked with [`MessagingFrame::idempotency_key`] only on connections that opted in.
    pub idempotency_key: Option<Value>,
}

/// What the server knows about a frame it could not accept (for the `onError` reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct FrameError {
    /// The request's `event`, when it had a string one.
    pub event: Option<String>,
    /// The request's `request_uuid`, when it had a string one.
    pub request_uuid: Option<String>,
    /// Why the frame was refused.
    pub reason: String,
}

/// The outcome of resolving a messaging frame's `event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionLookup {
    /// A client action.
    Action(Action),
    /// An action of the original that clients may not use (code 12).
    Reserved,
    /// Not an action (code 2).
    Unknown,
}

impl MessagingFrame {
    /// Resolves the action name.
    pub fn lookup(&self) -> ActionLookup {
        match Action::from_name(&self.event) {
            Some(a) => ActionLookup::Action(a),
            None if RESERVED_ACTIONS.contains(&self.event.as_str()) => ActionLookup::Reserved,
            None => ActionLookup::Unknown,
        }
    }

    /// The idempotency key (docs/PROTOCOL.md section 12.3): `Ok(None)` when absent, an error
    /// (code 0) when it is not a string of 1 to 128 characters.
    ///
    /// ```
    /// use chatwire_protocol::{parse_client_frame, ClientFrame};
    /// let text = r#"{"service":"chat","event":"sendMessage","idempotency_key":"k1","payload":{}}"#;
    /// let ClientFrame::Messaging(f) = parse_client_frame(text).unwrap() else { panic!() };
    /// assert_eq!(f.idempotency_key().unwrap(), Some("k1"));
    /// ```
    pub fn idempotency_key(&self) -> Result<Option<&str>, crate::DecodeError> {
        match &self.idempotency_key {
            None => Ok(None),
            Some(Value::String(key)) => {
                crate::check_idempotency_key(key).map(|()| Some(key.as_str()))
            }
            Some(_) => Err(crate::DecodeError::invalid(
                "idempotency_key",
                "expected a string of 1 to 128 characters",
            )),
        }
    }

    /// Encodes a request with an idempotency key (docs/PROTOCOL.md section 12.3).
    ///
    /// ```
    /// use chatwire_protocol::{parse_client_frame, ClientFrame, MessagingFrame, Request, SendMessage};
    /// let req = Request::SendMessage(SendMessage { conversation: "c".into(), text: Some("hi".into()), payload: None });
    /// let text = MessagingFrame::encode_request_with_key(&req, "r1", Some("reply:c:4"));
    /// let ClientFrame::Messaging(f) = parse_client_frame(&text).unwrap() else { panic!() };
    /// assert_eq!(f.idempotency_key().unwrap(), Some("reply:c:4"));
    /// ```
    pub fn encode_request_with_key(
        request: &Request,
        request_uuid: &str,
        idempotency_key: Option<&str>,
    ) -> String {
        let mut frame = serde_json::json!({
            "service": "chat",
            "event": request.action().name(),
            "request_uuid": request_uuid,
            "payload": Value::Object(request.to_payload()),
        });
        if let (Some(key), Value::Object(map)) = (idempotency_key, &mut frame) {
            map.insert("idempotency_key".into(), Value::String(key.into()));
        }
        frame.to_string()
    }

    /// Encodes a request as the SDK sends it (`@type` included).
    ///
    /// ```
    /// use chatwire_protocol::{MessagingFrame, Request, SetStatus};
    /// let text = MessagingFrame::encode_request(&Request::SetStatus(SetStatus { online: true }), "r1");
    /// assert!(text.contains(r#""event":"setStatus""#));
    /// assert!(text.contains(r#""request_uuid":"r1""#));
    /// ```
    pub fn encode_request(request: &Request, request_uuid: &str) -> String {
        Self::encode_request_with_key(request, request_uuid, None)
    }
}

/// Classifies a text frame from a client; errors are answered with code 1.
///
/// ```
/// use chatwire_protocol::{parse_client_frame, ClientFrame};
/// let f = parse_client_frame(r#"{"service":"chat","event":"getSubscriptionList","request_uuid":"x"}"#).unwrap();
/// assert!(matches!(f, ClientFrame::Messaging(m) if m.event == "getSubscriptionList"));
/// let err = parse_client_frame(r#"{"service":"chat","event":"x","request_uuid":5}"#).unwrap_err();
/// assert_eq!(err.request_uuid, None);
/// assert!(parse_client_frame("[1,2]").is_err());
/// ```
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let fail = |reason: &str| FrameError {
        event: None,
        request_uuid: None,
        reason: reason.to_string(),
    };
    let value: Value = serde_json::from_str(text).map_err(|_| fail("not valid JSON"))?;
    let Value::Object(mut map) = value else {
        return Err(fail("not a JSON object"));
    };
    if !map.contains_key("service") {
        return match map.remove("name") {
            Some(Value::String(name)) => {
                let params = match map.remove("params") {
                    Some(Value::Array(a)) => a,
                    Some(Value::Null) | None => Vec::new(),
                    Some(other) => vec![other],
                };
                Ok(ClientFrame::Session(SessionFrame { name, params }))
            }
            Some(_) => Err(fail("`name` is not a string")),
            None => Err(fail("neither `service` nor `name`")),
        };
    }
    let event = match map.get("event") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (request_uuid, uuid_ok) = match map.get("request_uuid") {
        None | Some(Value::Null) => (None, true),
        Some(Value::String(s)) => (Some(s.clone()), true),
        Some(_) => (None, false),
    };
    let err = |reason: &str| FrameError {
        event: event.clone(),
        request_uuid: request_uuid.clone(),
        reason: reason.into(),
    };
    if map.get("service") != Some(&Value::String("chat".into())) {
        return Err(err("`service` must be \"chat\""));
    }
    if !uuid_ok {
        return Err(err("`request_uuid` must be a string"));
    }
    let Some(event_name) = event.clone() else {
        return Err(err("`event` missing or not a string"));
    };
    let payload = match map.remove("payload") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(err("`payload` must be an object")),
    };
    let idempotency_key = map.remove("idempotency_key").filter(|v| !v.is_null());
    Ok(ClientFrame::Messaging(MessagingFrame {
        event: event_name,
        request_uuid,
        payload,
        idempotency_key,
    }))
}
