//! The envelope around an already encoded payload ([`wrap_payload`], [`RetransmitHeader`]):
//! it produces exactly the bytes [`ServerFrame::encode`] produces for the same frame, and the
//! decoders ([`ServerFrame::decode`], [`parse_server_frame`]) read it back unchanged, including
//! request uuids and event names that need escaping.

use chatwire_protocol::{
    parse_server_frame, wrap_payload, ConversationId, ErrorCode, EventName, EventObject,
    EventPayload, JsonMap, MessageId, MessageObject, MessageRefObject, RetransmitHeader,
    RetransmittedEvent, Seq, ServerFrame, ServerMessage, TypingObject, UserId,
};
use proptest::prelude::*;
use serde_json::json;

const CONV: &str = "6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f";
const MSG: &str = "9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a";
const TIMESTAMP: i64 = 1_767_225_600;
/// The largest number the tolerant decoders read back (`i64::MAX`).
const MAX_DECODED: u64 = i64::MAX as u64;

/// Request uuids a client may send: anything that is a JSON string.
const ODD_REQUEST_UUIDS: &[&str] = &[
    "",
    "0b7c1f0e-5d7a-4f3c-9a51-2f6f0d3c8e11",
    "quote\"inside",
    "back\\slash",
    "\\\"",
    "new\nline\ttab\rreturn",
    "\u{0}\u{1}\u{1f}",
    "del\u{7f}",
    "\u{8}\u{c}",
    "ümlaut and 😀 and \u{2028}",
    "</script><script>alert(1)</script>",
    "{\"service\":\"chat\"}",
    "  spaces  ",
];

/// Event names, known and not (a client must round-trip names it does not know).
fn odd_events() -> Vec<EventName> {
    vec![
        EventName::SendMessage,
        EventName::Error,
        EventName::Unknown("onFutureEvent".into()),
        EventName::Unknown("on\"Quoted\"".into()),
        EventName::Unknown("back\\slash".into()),
        EventName::Unknown("ctl\n\u{0}\u{1f}".into()),
        EventName::Unknown("ünïcode 😀".into()),
        EventName::Unknown(String::new()),
    ]
}

fn uid(n: u64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn conv() -> ConversationId {
    ConversationId::parse(CONV).expect("uuid")
}

fn msg() -> MessageId {
    MessageId::parse(MSG).expect("uuid")
}

fn map(v: serde_json::Value) -> JsonMap {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A payload whose object decodes back to itself for `event`.
fn payload_for(event: &EventName) -> EventPayload {
    let mut p = EventPayload::new(Some(uid(7)), "sendMessage", TIMESTAMP);
    match event {
        EventName::SendMessage | EventName::EditMessage => {
            p.seq = Some(Seq(12));
            p.object = Some(EventObject::Message(MessageObject {
                uuid: msg(),
                conversation: conv(),
                text: "héllo \"quoted\" \\ and\nnewline".into(),
                payload: vec![map(
                    json!({"type": "attachment", "size": 3, "x": [1.5, null]}),
                )],
            }));
        }
        EventName::RemoveMessage => {
            p.seq = Some(Seq(13));
            p.object = Some(EventObject::MessageRef(MessageRefObject {
                uuid: msg(),
                conversation: conv(),
            }));
        }
        EventName::Typing => {
            p.object = Some(EventObject::Typing(TypingObject {
                conversation: conv(),
            }))
        }
        EventName::Error => {
            p.code = Some(ErrorCode::NotParticipant);
            p.description = Some("Not a \"participant\".".into());
        }
        _ => p.object = Some(EventObject::Other(json!({"any": ["thing", 1, true]}))),
    }
    p
}

fn encoded(payload: &EventPayload) -> String {
    serde_json::to_string(payload).expect("payloads serialize")
}

/// `text` is byte for byte `expected.encode()` and both decoders give back `expected`.
fn assert_same_frame(text: &str, expected: &ServerFrame) {
    assert_eq!(
        text,
        expected.encode(),
        "bytes differ from ServerFrame::encode"
    );
    assert_eq!(&ServerFrame::decode(text).expect("decodes"), expected);
    match parse_server_frame(text).expect("classifies") {
        ServerMessage::Messaging(frame) => assert_eq!(&frame, expected),
        other => panic!("not a messaging frame: {other:?}"),
    }
}

#[test]
fn wrapped_payloads_are_server_frames() {
    for event in odd_events() {
        for request_uuid in ODD_REQUEST_UUIDS.iter().copied().map(Some).chain([None]) {
            let payload = payload_for(&event);
            let text = wrap_payload(&event, request_uuid, &encoded(&payload));
            let expected = ServerFrame {
                event: event.clone(),
                request_uuid: request_uuid.map(str::to_string),
                payload,
            };
            assert_same_frame(&text, &expected);
        }
    }
}

#[test]
fn no_request_uuid_means_no_key() {
    let text = wrap_payload(&EventName::Typing, None, r#"{"timestamp":1}"#);
    assert_eq!(
        text,
        r#"{"service":"chat","event":"onTyping","payload":{"timestamp":1}}"#
    );
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(value.get("request_uuid").is_none());
}

#[test]
fn escaped_fields_read_back_exactly() {
    for request_uuid in ODD_REQUEST_UUIDS {
        let event = EventName::Unknown(format!("on{request_uuid}"));
        let text = wrap_payload(&event, Some(request_uuid), "{}");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["request_uuid"], json!(request_uuid));
        assert_eq!(value["event"], json!(event.as_str()));
        assert_eq!(value["service"], json!("chat"));
        assert_eq!(value["payload"], json!({}));
    }
}

fn header(count: u64) -> RetransmitHeader {
    RetransmitHeader {
        initiator: uid(1001),
        timestamp: TIMESTAMP,
        from_seq: Seq(3),
        to_seq: Seq(9),
        count,
    }
}

/// The typed form of a retransmit reply with this header.
fn retransmit_frame(
    h: &RetransmitHeader,
    request_uuid: Option<&str>,
    inner: Option<RetransmittedEvent>,
) -> ServerFrame {
    let mut payload = EventPayload::new(Some(h.initiator), "retransmitEvents", h.timestamp);
    payload.from_seq = Some(h.from_seq);
    payload.to_seq = Some(h.to_seq);
    payload.count = Some(h.count);
    payload.object = inner.map(|e| EventObject::Retransmitted(Box::new(e)));
    ServerFrame {
        event: EventName::RetransmitEvents,
        request_uuid: request_uuid.map(str::to_string),
        payload,
    }
}

#[test]
fn retransmitted_events_are_server_frames() {
    let h = header(4);
    let mut events = odd_events();
    events.extend([EventName::RemoveMessage, EventName::Typing]);
    for event in events {
        for request_uuid in ODD_REQUEST_UUIDS.iter().copied().map(Some).chain([None]) {
            let stored = payload_for(&event);
            let text = h.wrap_event(request_uuid, &event, &encoded(&stored));
            let inner = RetransmittedEvent {
                event: event.clone(),
                payload: stored,
            };
            assert_same_frame(&text, &retransmit_frame(&h, request_uuid, Some(inner)));
        }
    }
}

#[test]
fn empty_retransmit_is_a_server_frame() {
    let h = header(0);
    for request_uuid in ODD_REQUEST_UUIDS.iter().copied().map(Some).chain([None]) {
        let text = h.wrap_empty(request_uuid);
        assert_same_frame(&text, &retransmit_frame(&h, request_uuid, None));
    }
}

#[test]
fn retransmit_header_numbers_at_their_limits() {
    let h = RetransmitHeader {
        initiator: uid(UserId::MAX),
        timestamp: i64::MIN,
        from_seq: Seq(MAX_DECODED),
        to_seq: Seq(0),
        count: MAX_DECODED,
    };
    let stored = payload_for(&EventName::SendMessage);
    let text = h.wrap_event(Some("r"), &EventName::SendMessage, &encoded(&stored));
    let inner = RetransmittedEvent {
        event: EventName::SendMessage,
        payload: stored,
    };
    assert_same_frame(&text, &retransmit_frame(&h, Some("r"), Some(inner)));
    assert_same_frame(&h.wrap_empty(None), &retransmit_frame(&h, None, None));
}

proptest! {
    #[test]
    fn any_event_name_and_request_uuid_round_trip(
        name in any::<String>(),
        request_uuid in proptest::option::of(any::<String>()),
        text in any::<String>(),
        seq in 1u64..=MAX_DECODED,
    ) {
        // A name the protocol knows decodes to its variant, so compare against that.
        let event = EventName::from_name(&name);
        let mut payload = EventPayload::new(Some(uid(7)), name.clone(), TIMESTAMP);
        payload.seq = Some(Seq(seq));
        payload.description = Some(text);
        let wrapped = wrap_payload(&event, request_uuid.as_deref(), &encoded(&payload));
        let expected = ServerFrame {
            event: event.clone(),
            request_uuid: request_uuid.clone(),
            payload,
        };
        prop_assert_eq!(&wrapped, &expected.encode());
        prop_assert_eq!(ServerFrame::decode(&wrapped).expect("decodes"), expected);

        let h = header(1);
        let stored = EventPayload::new(Some(uid(9)), name, TIMESTAMP);
        let wrapped = h.wrap_event(request_uuid.as_deref(), &event, &encoded(&stored));
        let inner = RetransmittedEvent { event, payload: stored };
        let expected = retransmit_frame(&h, request_uuid.as_deref(), Some(inner));
        prop_assert_eq!(&wrapped, &expected.encode());
        prop_assert_eq!(ServerFrame::decode(&wrapped).expect("decodes"), expected);
    }
}
