//! Protocol-level fuzz checks, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the
//! stable regression test `protocol/tests/fuzz_regressions.rs` (which includes this file with
//! `#[path]`). Depends on `chatwire_protocol` and `serde_json` only.
//!
//! Every function takes raw fuzzer bytes and panics (the fuzzer's crash signal) when an
//! invariant breaks; an input the decoders refuse is fine, a panic inside them is not.

use chatwire_protocol::{
    parse_client_frame, Action, ActionLookup, ClientFrame, ClientSession, MessagingFrame, Request,
    ServerFrame, ServerSession, SessionFrame,
};
use serde_json::{Map, Value};

/// `frame_decode`: bytes -> text -> every decoder the server and the SDK apply to a frame.
/// Asserts only that nothing panics (and a few cheap consistency facts).
pub fn frame_decode(data: &[u8]) {
    match std::str::from_utf8(data) {
        Ok(text) => frame_text(text),
        // The server only ever sees valid UTF-8 text frames; still try the lossy text so
        // that arbitrary bytes reach the JSON layer.
        Err(_) => frame_text(&String::from_utf8_lossy(data)),
    }
}

/// The decoders applied to one text frame.
pub fn frame_text(text: &str) {
    match parse_client_frame(text) {
        Ok(ClientFrame::Messaging(frame)) => {
            let lookup = frame.lookup();
            if let ActionLookup::Action(a) = lookup {
                assert_eq!(a.name(), frame.event, "lookup returned another action");
            }
            decode_every_action(&frame.payload);
        }
        Ok(ClientFrame::Session(frame)) => session_frame(&frame),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(frame) = ServerFrame::decode(text) {
        let _ = frame.encode();
    }
    // A bare object is also tried as a request payload, so the fuzzer reaches the payload
    // decoders without having to build the envelope first.
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
        decode_every_action(&map);
        if let Ok(frame) = serde_json::from_value::<SessionFrame>(Value::Object(map)) {
            session_frame(&frame);
        }
    }
}

fn decode_every_action(payload: &Map<String, Value>) {
    for &action in Action::ALL {
        if let Ok(request) = Request::decode(action, payload) {
            assert_eq!(request.action(), action, "decoded into another action");
            let _ = MessagingFrame::encode_request(&request, "fuzz");
        }
    }
}

fn session_frame(frame: &SessionFrame) {
    let client = ClientSession::from_frame(frame);
    let _ = client.to_frame().encode();
    if let Ok(Some(server)) = ServerSession::from_frame(frame) {
        let _ = server.encode();
    }
    let _ = frame.encode();
}

/// `request_roundtrip`: arbitrary JSON (`serde_json::from_slice` of the fuzzer bytes); every
/// decode -> encode -> decode must give back the first decode:
/// `decode(encode(decode(x))) == decode(x)`, for request payloads (each action), whole
/// client frames (as the SDK sends them), client and server session frames and server frames.
pub fn request_roundtrip(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Value::Object(map) = &value {
        payload_roundtrip(map);
        if let Some(Value::Object(payload)) = map.get("payload") {
            payload_roundtrip(payload);
        }
    }
    let text = value.to_string();
    match parse_client_frame(&text) {
        Ok(ClientFrame::Messaging(frame)) => messaging_roundtrip(&frame),
        Ok(ClientFrame::Session(frame)) => session_roundtrip(&frame),
        Err(_) => {}
    }
    if let Ok(frame) = ServerFrame::from_value(value) {
        let encoded = frame.encode();
        let again = ServerFrame::decode(&encoded)
            .unwrap_or_else(|e| panic!("server frame {encoded} does not decode again: {e}"));
        assert_eq!(
            again, frame,
            "server frame changed through encode: {encoded}"
        );
    }
}

fn payload_roundtrip(payload: &Map<String, Value>) {
    for &action in Action::ALL {
        let Ok(request) = Request::decode(action, payload) else {
            continue;
        };
        let encoded = request.to_payload();
        let again = Request::decode(action, &encoded).unwrap_or_else(|e| {
            panic!("{action}: encoded payload {encoded:?} does not decode again: {e}")
        });
        assert_eq!(again, request, "{action}: request changed through encode");
    }
}

fn messaging_roundtrip(frame: &MessagingFrame) {
    let ActionLookup::Action(action) = frame.lookup() else {
        return;
    };
    let Ok(request) = Request::decode(action, &frame.payload) else {
        return;
    };
    let uuid = frame.request_uuid.as_deref().unwrap_or("fuzz");
    let text = MessagingFrame::encode_request(&request, uuid);
    let Ok(ClientFrame::Messaging(again)) = parse_client_frame(&text) else {
        panic!("encoded request {text} is not a messaging frame");
    };
    assert_eq!(again.lookup(), ActionLookup::Action(action));
    assert_eq!(again.request_uuid.as_deref(), Some(uuid));
    let decoded = Request::decode(action, &again.payload)
        .unwrap_or_else(|e| panic!("encoded request {text} does not decode again: {e}"));
    assert_eq!(decoded, request, "request changed through the wire: {text}");
}

fn session_roundtrip(frame: &SessionFrame) {
    let client = ClientSession::from_frame(frame);
    let text = client.to_frame().encode();
    let Ok(ClientFrame::Session(again)) = parse_client_frame(&text) else {
        panic!("encoded session frame {text} is not a session frame");
    };
    assert_eq!(
        ClientSession::from_frame(&again),
        client,
        "client session frame changed through the wire: {text}"
    );
    if let Ok(Some(server)) = ServerSession::from_frame(frame) {
        let text = server.encode();
        let again: SessionFrame = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("server session frame {text} does not parse: {e}"));
        assert_eq!(
            ServerSession::from_frame(&again).ok().flatten().as_ref(),
            Some(&server),
            "server session frame changed through the wire: {text}"
        );
    }
}
