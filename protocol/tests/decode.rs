//! Decoding of hand-written frames in the exact shapes of docs/PROTOCOL.md, the value tolerance rules of
//! section 2.3, frame classification of sections 2.1/2.3 and a no-panic property test over
//! arbitrary input.

use chatwire_protocol::{
    parse_client_frame, Action, ActionLookup, ClientFrame, ClientSession, ConversationId,
    Credential, DecodeError, ErrorCode, EventName, EventObject, FrameError, MessageId,
    MessagingFrame, Permissions, Request, Seq, ServerFrame, ServerSession, SessionFrame, UserId,
    UserRef, MAX_CUSTOM_DATA_BYTES, MAX_TITLE_CHARS,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const CONV: &str = "6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f";
const MSG: &str = "9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a";

fn uid(n: u64) -> UserId {
    UserId::new(n).unwrap()
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn decode(action: Action, payload: Value) -> Result<Request, DecodeError> {
    Request::decode(action, &map(payload))
}

fn ok(action: Action, payload: Value) -> Request {
    let text = payload.to_string();
    decode(action, payload).unwrap_or_else(|e| panic!("{action} {text}: {e}"))
}

/// Asserts that the payload is refused with code 0.
fn code0(action: Action, payload: Value) {
    let text = payload.to_string();
    match decode(action, payload) {
        Ok(r) => panic!("{action} {text} was accepted as {r:?}"),
        Err(e) => {
            assert_eq!(
                e.code(),
                ErrorCode::InvalidParameter,
                "{action} {text}: {e}"
            );
            assert_eq!(e.code().code(), 0);
            assert!(matches!(e, DecodeError::InvalidField { .. }), "{e:?}");
        }
    }
}

fn messaging(text: &str) -> MessagingFrame {
    match parse_client_frame(text) {
        Ok(ClientFrame::Messaging(m)) => m,
        other => panic!("{text}: {other:?}"),
    }
}

fn session(text: &str) -> SessionFrame {
    match parse_client_frame(text) {
        Ok(ClientFrame::Session(s)) => s,
        other => panic!("{text}: {other:?}"),
    }
}

fn frame_error(text: &str) -> FrameError {
    match parse_client_frame(text) {
        Err(e) => e,
        Ok(f) => panic!("{text} was accepted as {f:?}"),
    }
}

/// The decoded request of a full client frame.
fn request_of(text: &str) -> Request {
    let frame = messaging(text);
    let ActionLookup::Action(action) = frame.lookup() else {
        panic!("{text}: not an action")
    };
    Request::decode(action, &frame.payload).unwrap_or_else(|e| panic!("{text}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Hand-written frames in the shapes of docs/PROTOCOL.md
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_2_3_send_message_example() {
    let text = r#"{"service": "chat", "event": "sendMessage", "request_uuid": "5b0e6c9e-…", "payload": {"conversation": "c1d2…", "text": "hi", "@type": "type/vox.store.IncomingNamespace.SendMessage"}}"#;
    let frame = messaging(text);
    assert_eq!(frame.event, "sendMessage");
    assert_eq!(frame.request_uuid.as_deref(), Some("5b0e6c9e-…"));
    assert_eq!(frame.lookup(), ActionLookup::Action(Action::SendMessage));
    let Request::SendMessage(m) = request_of(text) else {
        panic!()
    };
    assert_eq!(m.conversation, "c1d2…");
    assert_eq!(m.text.as_deref(), Some("hi"));
    assert_eq!(m.payload, None);
}

#[test]
fn spec_2_4_on_send_message_example() {
    let text = format!(
        r#"{{"service": "chat", "event": "onSendMessage", "request_uuid": "5b0e6c9e-…",
             "payload": {{"initiator": 17, "on_incoming_event": "sendMessage", "seq": 2, "timestamp": 1767225600,
                         "object": {{"uuid": "{MSG}", "conversation": "{CONV}", "text": "hi", "payload": []}}}}}}"#
    );
    let f = ServerFrame::decode(&text).unwrap();
    assert_eq!(f.event, EventName::SendMessage);
    assert_eq!(f.request_uuid.as_deref(), Some("5b0e6c9e-…"));
    assert_eq!(f.payload.initiator, Some(uid(17)));
    assert_eq!(f.payload.on_incoming_event, "sendMessage");
    assert_eq!(f.payload.seq, Some(Seq(2)));
    assert_eq!(f.payload.timestamp, 1_767_225_600);
    assert_eq!(f.payload.code, None);
    let Some(EventObject::Message(m)) = f.payload.object else {
        panic!("{:?}", f.payload.object)
    };
    assert_eq!(m.uuid, MessageId::parse(MSG).unwrap());
    assert_eq!(m.conversation, ConversationId::parse(CONV).unwrap());
    assert_eq!(m.text, "hi");
    assert!(m.payload.is_empty());
}

#[test]
fn spec_7_3_on_retransmit_events_example() {
    let text = format!(
        r#"{{"service": "chat", "event": "onRetransmitEvents", "request_uuid": "r-7",
             "payload": {{"initiator": 17, "on_incoming_event": "retransmitEvents", "timestamp": 1767229999,
                         "from_seq": 1, "to_seq": 6, "count": 6,
                         "object": {{"event": "onCreateConversation",
                                    "payload": {{"initiator": 17, "on_incoming_event": "createConversation",
                                                "seq": 1, "timestamp": 1767225600,
                                                "object": {{"uuid": "{CONV}", "title": "New conversation",
                                                           "direct": false, "uber_conversation": false,
                                                           "enable_public_join": false, "custom_data": {{}},
                                                           "participants": [{{"user_id": 17, "flags": 65535, "last_read": 0}}],
                                                           "created_at": 1767225600, "last_update": 1767225600,
                                                           "last_seq": 1}}}}}}}}}}"#
    );
    let f = ServerFrame::decode(&text).unwrap();
    assert_eq!(f.event, EventName::RetransmitEvents);
    assert_eq!(f.payload.from_seq, Some(Seq(1)));
    assert_eq!(f.payload.to_seq, Some(Seq(6)));
    assert_eq!(f.payload.count, Some(6));
    assert_eq!(f.payload.seq, None);
    let Some(EventObject::Retransmitted(inner)) = &f.payload.object else {
        panic!()
    };
    assert_eq!(inner.event, EventName::CreateConversation);
    assert_eq!(inner.payload.seq, Some(Seq(1)));
    assert_eq!(inner.payload.timestamp, 1_767_225_600);
    assert_eq!(inner.payload.on_incoming_event, "createConversation");
    let Some(EventObject::Conversation(c)) = &inner.payload.object else {
        panic!()
    };
    assert_eq!(c.title, "New conversation");
    assert_eq!(c.last_seq, Seq(1));
    assert_eq!(c.participants[0].flags, Permissions::ALL);
    assert_eq!(ServerFrame::decode(&f.encode()).unwrap(), f);

    // The empty reply: count 0, no object.
    let empty = r#"{"service":"chat","event":"onRetransmitEvents","request_uuid":"r-8",
        "payload":{"initiator":17,"on_incoming_event":"retransmitEvents","timestamp":1,"from_seq":4,"to_seq":6,"count":0}}"#;
    let f = ServerFrame::decode(empty).unwrap();
    assert_eq!(f.payload.count, Some(0));
    assert_eq!(f.payload.object, None);
}

#[test]
fn spec_2_7_error_frame() {
    let text = r#"{"service":"chat","event":"onError","request_uuid":"q1",
        "payload":{"initiator":17,"on_incoming_event":"getConversation","code":19,
                   "description":"User is not a participant.","timestamp":1767225600}}"#;
    let f = ServerFrame::decode(text).unwrap();
    assert_eq!(f.event, EventName::Error);
    assert_eq!(f.payload.code, Some(ErrorCode::NotParticipant));
    assert_eq!(
        f.payload.description.as_deref(),
        Some("User is not a participant.")
    );
    assert_eq!(f.payload.on_incoming_event, "getConversation");
    assert_eq!(f.payload.object, None);
    // Before login: no initiator; code as a string is tolerated.
    let text = r#"{"service":"chat","event":"onError","payload":{"on_incoming_event":"UNKNOWN","code":"1","timestamp":5}}"#;
    let f = ServerFrame::decode(text).unwrap();
    assert_eq!(f.payload.initiator, None);
    assert_eq!(f.request_uuid, None);
    assert_eq!(f.payload.code, Some(ErrorCode::MalformedFrame));
}

#[test]
fn server_frame_decoding_is_tolerant() {
    let text = format!(
        r#"{{"service":"chat","event":"onEditConversation","request_uuid":null,"to":"x","toId":3,"connid":"c","version":2,
            "payload":{{"@type":"type/vox.store.OutgoingNamespace.X","initiator":"17","on_incoming_event":"editParticipants",
                       "seq":"5","timestamp":"1767225600","extra":[1],
                       "object":{{"@type":"t","uuid":"{}","title":"T","custom_data":{{}},
                                  "participants":[{{"user_id":"17","flags":"32768","last_read":"2","x":1}},
                                                  {{"user_id":18.0,"flags":135}}],
                                  "created_at":"100","last_update":200.0,"last_seq":"5","unknown":true}}}}}}"#,
        CONV.to_uppercase()
    );
    let f = ServerFrame::decode(&text).unwrap();
    assert_eq!(f.request_uuid, None);
    assert_eq!(f.payload.initiator, Some(uid(17)));
    assert_eq!(f.payload.seq, Some(Seq(5)));
    assert_eq!(f.payload.timestamp, 1_767_225_600);
    let Some(EventObject::Conversation(c)) = f.payload.object else {
        panic!()
    };
    assert_eq!(c.uuid.to_string(), CONV);
    assert_eq!(c.participants[0].flags, Permissions::ALL);
    assert_eq!(c.participants[0].last_read, Seq(2));
    assert_eq!(c.participants[1].user_id, uid(18));
    assert_eq!(c.participants[1].flags, Permissions::DEFAULT);
    assert_eq!(c.participants[1].last_read, Seq(0));
    assert_eq!(
        (c.created_at, c.last_update, c.last_seq),
        (100, 200, Seq(5))
    );
    assert!(!c.direct && !c.uber_conversation && !c.enable_public_join);

    // Ids as strings in lists; `object: null` means no object; an unknown event keeps its object.
    let f = ServerFrame::decode(
        r#"{"event":"onSubscribe","payload":{"timestamp":1,"object":{"user_id":["3",4.0,5]}}}"#,
    )
    .unwrap();
    let Some(EventObject::UserIds(ids)) = f.payload.object else {
        panic!()
    };
    assert_eq!(ids.user_id, vec![uid(3), uid(4), uid(5)]);
    assert_eq!(f.payload.on_incoming_event, "UNKNOWN");
    let f =
        ServerFrame::decode(r#"{"event":"onSetStatus","payload":{"timestamp":1,"object":null}}"#)
            .unwrap();
    assert_eq!(f.payload.object, None);
    let f = ServerFrame::decode(r#"{"event":"onNew","payload":{"object":[1,2]}}"#).unwrap();
    assert_eq!(f.payload.object, Some(EventObject::Other(json!([1, 2]))));
    // User views: private fields are optional.
    let f = ServerFrame::decode(
        r#"{"event":"onGetUser","payload":{"timestamp":1,"object":{"user_id":4,"user_name":"b@x.y"}}}"#,
    )
    .unwrap();
    let Some(EventObject::User(u)) = f.payload.object else {
        panic!()
    };
    assert_eq!(u.display_name, "");
    assert_eq!(u.private_custom_data, None);
    assert!(!u.deleted);
}

#[test]
fn server_frame_decoding_rejects_garbage() {
    for text in [
        "",
        "nope",
        "[]",
        "5",
        "{}",
        r#"{"event":5}"#,
        r#"{"event":"onSendMessage","payload":5}"#,
        r#"{"event":"onSendMessage","payload":{"object":{"uuid":"m9f8","conversation":"c"}}}"#,
        r#"{"event":"onSetStatus","payload":{"initiator":0}}"#,
        r#"{"event":"onSetStatus","payload":{"seq":-1}}"#,
        r#"{"event":"onSetStatus","payload":{"object":{"online":"yes"}}}"#,
        r#"{"event":"onRetransmitEvents","payload":{"object":{"payload":{}}}}"#,
        r#"{"event":"onRetransmitEvents","payload":{"object":[]}}"#,
        r#"{"event":"onGetConversation","payload":{"object":{"uuid":"6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f","title":"t","participants":[{"user_id":1,"flags":70000}]}}}"#,
    ] {
        assert!(ServerFrame::decode(text).is_err(), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Session frames as the official Web SDK sends them
// ---------------------------------------------------------------------------------------------

fn client_session(text: &str) -> ClientSession {
    ClientSession::from_frame(&session(text))
}

#[test]
fn official_sdk_login_frames() {
    assert_eq!(
        client_session(
            r#"{"name":"login","params":["a@app.acc","",{"serverPresenceControl":false,"accessToken":"t"}]}"#
        ),
        ClientSession::Login(Some((
            "a@app.acc".into(),
            Credential::AccessToken("t".into())
        )))
    );
    // A non-empty access token wins over a password.
    assert_eq!(
        client_session(r#"{"name":"login","params":["a@app.acc","pw",{"accessToken":"t"}]}"#),
        ClientSession::Login(Some((
            "a@app.acc".into(),
            Credential::AccessToken("t".into())
        )))
    );
    // Password login with the SDK's option keys, which are ignored.
    assert_eq!(
        client_session(
            r#"{"name":"login","params":["a@app.acc","secret",{"receiveCalls":true,"serverPresenceControl":false,"deviceToken":"d","mediaServer":"m"}]}"#
        ),
        ClientSession::Login(Some((
            "a@app.acc".into(),
            Credential::Password("secret".into())
        )))
    );
    for text in [
        r#"{"name":"login","params":["a@app.acc","secret"]}"#,
        r#"{"name":"login","params":["a@app.acc","secret",null]}"#,
        r#"{"name":"login","params":["a@app.acc","secret",{}]}"#,
        r#"{"name":"login","params":["a@app.acc","secret",{"accessToken":""}]}"#,
        r#"{"name":"login","params":["a@app.acc","secret",{"accessToken":null}]}"#,
    ] {
        assert_eq!(
            client_session(text),
            ClientSession::Login(Some((
                "a@app.acc".into(),
                Credential::Password("secret".into())
            ))),
            "{text}"
        );
    }
    // Empty or absent password: still a password login (it never matches, the server answers 401).
    assert_eq!(
        client_session(r#"{"name":"login","params":["a@app.acc"]}"#),
        ClientSession::Login(Some((
            "a@app.acc".into(),
            Credential::Password(String::new())
        )))
    );
    // Malformed parameters: decoded as `Login(None)` (answered 401), never dropped.
    for text in [
        r#"{"name":"login"}"#,
        r#"{"name":"login","params":[]}"#,
        r#"{"name":"login","params":null}"#,
        r#"{"name":"login","params":[5,"pw"]}"#,
        r#"{"name":"login","params":["a@app.acc",5]}"#,
        r#"{"name":"login","params":["a@app.acc","pw","options"]}"#,
        r#"{"name":"login","params":5}"#,
    ] {
        assert_eq!(client_session(text), ClientSession::Login(None), "{text}");
    }
}

#[test]
fn refresh_frames_in_both_shapes() {
    let expected = ClientSession::Refresh(Some(("a@app.acc".into(), "rt".into())));
    assert_eq!(
        client_session(r#"{"name":"refreshOauthToken","params":["a@app.acc","rt"]}"#),
        expected
    );
    assert_eq!(
        client_session(
            r#"{"name":"refreshOauthToken","params":["a@app.acc",{"refreshToken":"rt","deviceToken":"dt"}]}"#
        ),
        expected
    );
    assert_eq!(
        client_session(
            r#"{"name":"refreshOauthToken","params":["a@app.acc",{"refreshToken":"rt"}]}"#
        ),
        expected
    );
    for text in [
        r#"{"name":"refreshOauthToken","params":[]}"#,
        r#"{"name":"refreshOauthToken","params":["a@app.acc"]}"#,
        r#"{"name":"refreshOauthToken","params":["a@app.acc",""]}"#,
        r#"{"name":"refreshOauthToken","params":["a@app.acc",5]}"#,
        r#"{"name":"refreshOauthToken","params":["a@app.acc",{"deviceToken":"dt"}]}"#,
        r#"{"name":"refreshOauthToken","params":["a@app.acc",{"refreshToken":7}]}"#,
        r#"{"name":"refreshOauthToken","params":[null,"rt"]}"#,
    ] {
        assert_eq!(client_session(text), ClientSession::Refresh(None), "{text}");
    }
}

#[test]
fn ping_unsupported_and_other_session_frames() {
    assert_eq!(
        client_session(r#"{"name":"__ping","params":[[]]}"#),
        ClientSession::Ping
    );
    assert_eq!(client_session(r#"{"name":"__ping"}"#), ClientSession::Ping);
    assert_eq!(
        client_session(r#"{"name":"__ping","params":{"x":1}}"#),
        ClientSession::Ping
    );
    for name in [
        "loginGenerateOneTimeKey",
        "loginUsingOneTimeKey",
        "loginStage2",
    ] {
        let text = format!(r#"{{"name":"{name}","params":["a@app.acc","key"]}}"#);
        assert_eq!(
            client_session(&text),
            ClientSession::UnsupportedLogin(name.into())
        );
    }
    // VoIP RPCs and anything else: ignored by the server.
    assert_eq!(
        client_session(r#"{"name":"createCall","params":[-1,"x",true,"id",null,{}]}"#),
        ClientSession::Other("createCall".into())
    );
    // A non-array `params` is wrapped, `null` or absent gives [].
    assert_eq!(
        session(r#"{"name":"x","params":{"a":1}}"#).params,
        vec![json!({"a": 1})]
    );
    assert_eq!(
        session(r#"{"name":"x","params":null}"#).params,
        Vec::<Value>::new()
    );
    assert_eq!(
        session(r#"{"name":"x","extra":1}"#).params,
        Vec::<Value>::new()
    );
}

#[test]
fn server_session_frames_from_hand_written_json() {
    let frame = |t: &str| serde_json::from_str::<SessionFrame>(t).unwrap();
    assert_eq!(
        ServerSession::from_frame(&frame(r#"{"name":"__connectionSuccessful","params":[]}"#))
            .unwrap(),
        Some(ServerSession::ConnectionSuccessful)
    );
    assert_eq!(
        ServerSession::from_frame(&frame(r#"{"name":"__pong"}"#)).unwrap(),
        Some(ServerSession::Pong)
    );
    let ok = ServerSession::from_frame(&frame(
        r#"{"name":"loginSuccessful","params":["Alice",{"OAuth":{"accessToken":"a","accessExpire":"3600",
            "refreshToken":"r","refreshExpire":2592000.0,"extra":1}}]}"#,
    ))
    .unwrap()
    .unwrap();
    let ServerSession::LoginSuccessful {
        display_name,
        tokens,
    } = ok
    else {
        panic!("{ok:?}")
    };
    assert_eq!(display_name, "Alice");
    assert_eq!(
        (tokens.access_expire, tokens.refresh_expire),
        (3600, 2_592_000)
    );
    assert_eq!(
        (tokens.access_token.as_str(), tokens.refresh_token.as_str()),
        ("a", "r")
    );
    assert_eq!(
        ServerSession::from_frame(&frame(r#"{"name":"loginFailed","params":["401"]}"#)).unwrap(),
        Some(ServerSession::LoginFailed {
            code: 401,
            reason: String::new()
        })
    );
    assert_eq!(
        ServerSession::from_frame(&frame(
            r#"{"name":"refreshOauthTokenFailed","params":[701,"expired"]}"#
        ))
        .unwrap(),
        Some(ServerSession::RefreshFailed {
            code: 701,
            reason: "expired".into()
        })
    );
    // Without `params[1].OAuth` a login success is unusable: an error, not a hang.
    for t in [
        r#"{"name":"loginSuccessful","params":["Alice"]}"#,
        r#"{"name":"loginSuccessful","params":["Alice",{}]}"#,
        r#"{"name":"refreshOauthTokenSuccessful","params":[{"OAuth":{"accessToken":"a"}}]}"#,
        r#"{"name":"loginFailed","params":[]}"#,
        r#"{"name":"loginFailed","params":["x"]}"#,
    ] {
        assert!(ServerSession::from_frame(&frame(t)).is_err(), "{t}");
    }
    assert_eq!(
        ServerSession::from_frame(&frame(r#"{"name":"onIncomingCall","params":[1]}"#)).unwrap(),
        None
    );
}

#[test]
fn login_codes_match_spec() {
    use chatwire_protocol::login_codes::*;
    assert_eq!(
        [
            BAD_CREDENTIALS,
            FORBIDDEN,
            THROTTLED,
            ALREADY_LOGGED_IN,
            TOKEN_EXPIRED,
            INTERNAL
        ],
        [401, 403, 429, 491, 701, 500]
    );
}

// ---------------------------------------------------------------------------------------------
// Frame classification (docs/BEHAVIOUR.md sections 2.1 and 2.3)
// ---------------------------------------------------------------------------------------------

#[test]
fn non_frames_are_frame_errors_without_context() {
    for text in [
        "",
        " ",
        "nope",
        "{",
        r#"{"service":"chat""#,
        "[1,2]",
        "5",
        "\"chat\"",
        "null",
        "true",
        "{}",
        r#"{"event":"sendMessage","payload":{}}"#,
        r#"{"params":[]}"#,
    ] {
        let e = frame_error(text);
        assert_eq!((e.event, e.request_uuid), (None, None), "{text}");
        assert!(!e.reason.is_empty());
    }
    // `name` that is not a string.
    frame_error(r#"{"name":5,"params":[]}"#);
}

#[test]
fn messaging_envelope_errors() {
    // service other than "chat" (the error still knows event and request_uuid).
    for service in [r#""voip""#, r#""CHAT""#, "null", "5", "{}"] {
        let text = format!(
            r#"{{"service":{service},"event":"sendMessage","request_uuid":"r1","payload":{{}}}}"#
        );
        let e = frame_error(&text);
        assert_eq!(e.event.as_deref(), Some("sendMessage"), "{text}");
        assert_eq!(e.request_uuid.as_deref(), Some("r1"), "{text}");
    }
    // event missing or not a string.
    for event in [
        "",
        r#","event":null"#,
        r#","event":5"#,
        r#","event":["sendMessage"]"#,
    ] {
        let text = format!(r#"{{"service":"chat","request_uuid":"r2"{event}}}"#);
        let e = frame_error(&text);
        assert_eq!(e.event, None, "{text}");
        assert_eq!(e.request_uuid.as_deref(), Some("r2"), "{text}");
    }
    // payload not an object.
    for payload in ["[]", "5", r#""x""#, "true"] {
        let text = format!(
            r#"{{"service":"chat","event":"getUser","request_uuid":"r3","payload":{payload}}}"#
        );
        let e = frame_error(&text);
        assert_eq!(e.event.as_deref(), Some("getUser"), "{text}");
        assert_eq!(e.request_uuid.as_deref(), Some("r3"), "{text}");
    }
    // request_uuid not a string: the error carries no request_uuid.
    for uuid in ["5", "{}", "[\"r\"]", "true"] {
        let text = format!(
            r#"{{"service":"chat","event":"getUser","request_uuid":{uuid},"payload":{{}}}}"#
        );
        let e = frame_error(&text);
        assert_eq!(e.request_uuid, None, "{text}");
        assert_eq!(e.event.as_deref(), Some("getUser"), "{text}");
    }
}

#[test]
fn messaging_envelope_accepts() {
    // payload absent or null -> {}; request_uuid null -> absent; other keys ignored.
    let f = messaging(r#"{"service":"chat","event":"getSubscriptionList"}"#);
    assert_eq!((f.request_uuid, f.payload.len()), (None, 0));
    let f = messaging(
        r#"{"service":"chat","event":"getSubscriptionList","request_uuid":null,"payload":null,"from":"x","connid":"y"}"#,
    );
    assert_eq!((f.request_uuid, f.payload.len()), (None, 0));
    // `service` wins over `name`.
    let f = messaging(
        r#"{"service":"chat","name":"login","event":"setStatus","payload":{"online":true}}"#,
    );
    assert_eq!(f.event, "setStatus");
    // Unknown event names still classify (code 2 comes later).
    let f = messaging(r#"{"service":"chat","event":"noSuchThing","request_uuid":"u"}"#);
    assert_eq!(f.lookup(), ActionLookup::Unknown);
    assert_eq!(f.request_uuid.as_deref(), Some("u"));
}

#[test]
fn action_lookup() {
    let lookup = |event: &str| {
        MessagingFrame {
            event: event.into(),
            request_uuid: None,
            payload: Map::new(),
            idempotency_key: None,
        }
        .lookup()
    };
    for action in Action::ALL {
        assert_eq!(lookup(action.name()), ActionLookup::Action(*action));
    }
    for reserved in [
        "removeConversation",
        "removeEmptyConversation",
        "createBot",
        "removeBot",
    ] {
        assert_eq!(lookup(reserved), ActionLookup::Reserved, "{reserved}");
        assert!(chatwire_protocol::RESERVED_ACTIONS.contains(&reserved));
    }
    for unknown in [
        "searchConversations",
        "getRawConversations",
        "SendMessage",
        "sendmessage",
        "onSendMessage",
        "",
        "login",
        "UNKNOWN",
    ] {
        assert_eq!(lookup(unknown), ActionLookup::Unknown, "{unknown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Value tolerance (docs/BEHAVIOUR.md section 2.3)
// ---------------------------------------------------------------------------------------------

fn good_ints() -> Vec<Value> {
    vec![json!(5), json!(5.0), json!("5")]
}

fn bad_ints() -> Vec<Value> {
    vec![
        json!(5.5),
        json!("5x"),
        json!(true),
        json!(false),
        json!(""),
        json!("five"),
        json!("5.0"),
        json!("1e3"),
        json!([5]),
        json!({"v": 5}),
        json!(f64::MAX),
        json!(u64::MAX),
    ]
}

#[test]
fn integers_are_tolerant_and_strict() {
    for v in good_ints() {
        let Request::IsRead(r) = ok(Action::IsRead, json!({"conversation": "c", "seq": v})) else {
            panic!()
        };
        assert_eq!(r.seq, 5);
        let Request::RetransmitEvents(r) = ok(
            Action::RetransmitEvents,
            json!({"conversation": "c", "events_from": v, "events_to": v, "count": v}),
        ) else {
            panic!()
        };
        assert_eq!(
            (r.events_from, r.events_to, r.count),
            (Some(5), Some(5), Some(5))
        );
        assert_eq!(
            ok(Action::GetUser, json!({"user_id": v})),
            Request::GetUser(UserRef::Id(uid(5)))
        );
        let Request::Subscribe(s) = ok(Action::Subscribe, json!({"user_id": [v, 6]})) else {
            panic!()
        };
        assert_eq!(s.user_id, vec![uid(5), uid(6)]);
        let Request::AddParticipants(p) = ok(
            Action::AddParticipants,
            json!({"uuid": "c", "participants": [{"user_id": v, "flags": v}]}),
        ) else {
            panic!()
        };
        assert_eq!(p.participants[0].user_id, uid(5));
        assert_eq!(p.participants[0].flags.map(Permissions::bits), Some(5));
        let Request::RemoveParticipants(p) = ok(
            Action::RemoveParticipants,
            json!({"uuid": "c", "participants": [v, {"user_id": v}]}),
        ) else {
            panic!()
        };
        assert_eq!(p.participants, vec![uid(5), uid(5)]);
    }
    for v in bad_ints() {
        code0(Action::IsRead, json!({"conversation": "c", "seq": v}));
        code0(
            Action::RetransmitEvents,
            json!({"conversation": "c", "events_from": v, "count": 5}),
        );
        code0(
            Action::RetransmitEvents,
            json!({"conversation": "c", "events_to": v, "count": 5}),
        );
        code0(
            Action::RetransmitEvents,
            json!({"conversation": "c", "events_from": 1, "count": v}),
        );
        code0(Action::GetUser, json!({"user_id": v}));
        code0(Action::Subscribe, json!({"user_id": [1, v]}));
        code0(Action::Unsubscribe, json!({"user_id": [v]}));
        code0(
            Action::CreateConversation,
            json!({"participants": [{"user_id": v}]}),
        );
        code0(
            Action::CreateConversation,
            json!({"participants": [{"user_id": 2, "flags": v}]}),
        );
        code0(
            Action::EditParticipants,
            json!({"uuid": "c", "participants": [{"user_id": 2, "flags": v}]}),
        );
        code0(
            Action::RemoveParticipants,
            json!({"uuid": "c", "participants": [v]}),
        );
        code0(
            Action::RemoveParticipants,
            json!({"uuid": "c", "participants": [{"user_id": v}]}),
        );
        code0(Action::GetUsers, json!({"users": [{"user_id": v}]}));
    }
}

#[test]
fn negative_and_zero_values() {
    // Range checks of seq values belong to the server (24, D10, retransmit step 2).
    let Request::IsRead(r) = ok(Action::IsRead, json!({"conversation": "c", "seq": -3})) else {
        panic!()
    };
    assert_eq!(r.seq, -3);
    let Request::RetransmitEvents(r) = ok(
        Action::RetransmitEvents,
        json!({"conversation": "c", "events_from": 0, "count": "-1"}),
    ) else {
        panic!()
    };
    assert_eq!((r.events_from, r.count), (Some(0), Some(-1)));
    // User ids are positive and below 2^53.
    for v in [
        json!(0),
        json!(-1),
        json!("0"),
        json!(9_007_199_254_740_992_u64),
    ] {
        code0(Action::GetUser, json!({"user_id": v}));
        code0(Action::Subscribe, json!({"user_id": [v]}));
    }
    assert_eq!(
        ok(
            Action::GetUser,
            json!({"user_id": 9_007_199_254_740_991_u64})
        ),
        Request::GetUser(UserRef::Id(uid(UserId::MAX)))
    );
}

#[test]
fn booleans_are_strict() {
    for v in [
        json!("true"),
        json!(1),
        json!(0),
        json!("false"),
        json!([]),
        json!({}),
    ] {
        code0(Action::SetStatus, json!({"online": v}));
        code0(Action::Unsubscribe, json!({"all": v}));
        code0(Action::CreateConversation, json!({"direct": v}));
        code0(Action::CreateConversation, json!({"enable_public_join": v}));
        code0(Action::CreateConversation, json!({"uber_conversation": v}));
        code0(
            Action::EditConversation,
            json!({"uuid": "c", "enable_public_join": v}),
        );
    }
}

#[test]
fn null_means_absent() {
    assert_eq!(
        ok(
            Action::CreateConversation,
            json!({"title": null, "direct": null, "enable_public_join": null, "uber_conversation": null,
                   "custom_data": null, "participants": null})
        ),
        Request::CreateConversation(Default::default())
    );
    let Request::CreateConversation(c) = ok(
        Action::CreateConversation,
        json!({"participants": [{"user_id": 2, "flags": null}]}),
    ) else {
        panic!()
    };
    assert_eq!(c.participants[0].flags, None);
    let Request::EditConversation(e) = ok(
        Action::EditConversation,
        json!({"uuid": "c", "title": null, "enable_public_join": null, "custom_data": null}),
    ) else {
        panic!()
    };
    assert_eq!(
        (e.title, e.enable_public_join, e.custom_data),
        (None, None, None)
    );
    let Request::SendMessage(m) = ok(
        Action::SendMessage,
        json!({"conversation": "c", "text": null, "payload": [{"a": 1}]}),
    ) else {
        panic!()
    };
    assert_eq!(m.text, None);
    let Request::SendMessage(m) = ok(
        Action::SendMessage,
        json!({"conversation": "c", "text": "t", "payload": null}),
    ) else {
        panic!()
    };
    assert_eq!(m.payload, None);
    let Request::EditMessage(m) = ok(
        Action::EditMessage,
        json!({"uuid": "m", "conversation": "c", "text": null, "payload": null}),
    ) else {
        panic!()
    };
    assert_eq!((m.text, m.payload), (None, None));
    let Request::RetransmitEvents(r) = ok(
        Action::RetransmitEvents,
        json!({"conversation": "c", "events_from": null, "events_to": 3, "count": 2}),
    ) else {
        panic!()
    };
    assert_eq!(r.events_from, None);
    assert_eq!(
        ok(
            Action::GetUser,
            json!({"user_id": null, "user_name": "a@b.c"})
        ),
        Request::GetUser(UserRef::Name("a@b.c".into()))
    );
    assert_eq!(
        ok(Action::GetUser, json!({"user_id": 4, "user_name": null})),
        Request::GetUser(UserRef::Id(uid(4)))
    );
    let Request::Unsubscribe(u) = ok(Action::Unsubscribe, json!({"user_id": null, "all": null}))
    else {
        panic!()
    };
    assert_eq!((u.user_id, u.all), (None, None));
    let Request::EditUser(u) = ok(
        Action::EditUser,
        json!({"custom_data": null, "private_custom_data": null}),
    ) else {
        panic!()
    };
    assert_eq!((u.custom_data, u.private_custom_data), (None, None));
    let Request::ManageNotification(n) =
        ok(Action::ManageNotification, json!({"notifications": null}))
    else {
        panic!()
    };
    assert_eq!(n.notifications, None);
    let Request::ManageNotification(n) = ok(Action::ManageNotification, json!({})) else {
        panic!()
    };
    assert_eq!(n.notifications, None);
    // A required field given as null is missing.
    code0(Action::GetConversation, json!({"uuid": null}));
    code0(Action::SetStatus, json!({"online": null}));
    code0(Action::IsRead, json!({"conversation": "c", "seq": null}));
    code0(
        Action::AddParticipants,
        json!({"uuid": "c", "participants": null}),
    );
    code0(
        Action::AddParticipants,
        json!({"uuid": "c", "participants": [{"user_id": null}]}),
    );
}

#[test]
fn type_tag_and_unknown_keys_are_ignored() {
    for action in Action::ALL {
        // A minimal valid payload for the action, decorated with @type (even a wrong one) and junk.
        let mut payload = map(minimal_payload(*action));
        let plain = Request::decode(*action, &payload).unwrap();
        payload.insert("@type".into(), json!(action.type_tag()));
        payload.insert("from".into(), json!({"x": [1, 2]}));
        payload.insert("connid".into(), json!(null));
        payload.insert("zzz".into(), json!(5.5));
        assert_eq!(
            Request::decode(*action, &payload).unwrap(),
            plain,
            "{action}"
        );
        payload.insert("@type".into(), json!(12));
        assert_eq!(
            Request::decode(*action, &payload).unwrap(),
            plain,
            "{action}"
        );
    }
    // Unknown keys inside list elements are ignored too; addParticipants' last_read is ignored.
    let Request::AddParticipants(p) = ok(
        Action::AddParticipants,
        json!({"uuid": "c", "participants": [{"user_id": 3, "last_read": 9, "@type": "x", "foo": "bar"}]}),
    ) else {
        panic!()
    };
    assert_eq!(p.participants[0].user_id, uid(3));
    assert_eq!(p.participants[0].flags, None);
    // editConversation ignores the immutable `direct` / `uber_conversation` keys.
    assert!(decode(
        Action::EditConversation,
        json!({"uuid": "c", "direct": "x", "uber_conversation": 5})
    )
    .is_ok());
}

/// A minimal payload every action accepts, with each required key present.
fn minimal_payload(action: Action) -> Value {
    match action {
        Action::CreateConversation | Action::GetPublicConversations | Action::EditUser => json!({}),
        Action::GetSubscriptionList | Action::Unsubscribe | Action::ManageNotification => json!({}),
        Action::EditConversation
        | Action::GetConversation
        | Action::JoinConversation
        | Action::LeaveConversation => {
            json!({"uuid": CONV})
        }
        Action::GetConversations => json!({"uuid": [CONV]}),
        Action::AddParticipants | Action::EditParticipants => {
            json!({"uuid": CONV, "participants": [{"user_id": 2}]})
        }
        Action::RemoveParticipants => json!({"uuid": CONV, "participants": [2]}),
        Action::SendMessage => json!({"conversation": CONV, "text": "hi"}),
        Action::EditMessage => json!({"uuid": MSG, "conversation": CONV}),
        Action::RemoveMessage => json!({"uuid": MSG, "conversation": CONV}),
        Action::TypingMessage => json!({"conversation": CONV}),
        Action::IsRead => json!({"conversation": CONV, "seq": 1}),
        Action::RetransmitEvents => json!({"conversation": CONV, "events_from": 1, "count": 10}),
        Action::GetUser => json!({"user_id": 2}),
        Action::GetUsers => json!({"users": [{"user_id": 2}]}),
        Action::SetStatus => json!({"online": true}),
        Action::Subscribe => json!({"user_id": [2]}),
        Action::CatchUp => json!({"positions": [{"conversation": CONV, "seq": 0}]}),
        other => panic!("no minimal payload for {other}"),
    }
}

/// The keys whose absence is "a required field missing" (code 0).
fn required_keys(action: Action) -> &'static [&'static str] {
    match action {
        Action::EditConversation
        | Action::GetConversation
        | Action::JoinConversation
        | Action::LeaveConversation => &["uuid"],
        Action::GetConversations => &["uuid"],
        Action::AddParticipants | Action::EditParticipants | Action::RemoveParticipants => {
            &["uuid", "participants"]
        }
        Action::SendMessage => &["conversation"],
        Action::EditMessage | Action::RemoveMessage => &["uuid", "conversation"],
        Action::TypingMessage => &["conversation"],
        Action::IsRead => &["conversation", "seq"],
        Action::RetransmitEvents => &["conversation"],
        Action::GetUsers => &["users"],
        Action::SetStatus => &["online"],
        Action::Subscribe => &["user_id"],
        Action::CatchUp => &["positions"],
        _ => &[],
    }
}

#[test]
fn missing_required_fields_give_code_0() {
    for action in Action::ALL {
        let full = map(minimal_payload(*action));
        assert!(Request::decode(*action, &full).is_ok(), "{action}");
        for key in required_keys(*action) {
            let mut p = full.clone();
            assert!(p.remove(*key).is_some(), "{action} fixture lacks {key}");
            code0(*action, Value::Object(p));
        }
        if required_keys(*action).is_empty() && *action != Action::GetUser {
            assert!(
                Request::decode(*action, &Map::new()).is_ok(),
                "{action} accepts {{}}"
            );
        }
    }
    // Nested required keys.
    code0(
        Action::CreateConversation,
        json!({"participants": [{"flags": 7}]}),
    );
    code0(
        Action::AddParticipants,
        json!({"uuid": "c", "participants": [{}]}),
    );
    code0(
        Action::RemoveParticipants,
        json!({"uuid": "c", "participants": [{"id": 3}]}),
    );
    code0(Action::GetUsers, json!({"users": [{}]}));
}

#[test]
fn wrong_types_give_code_0() {
    let not_string = [json!(5), json!(true), json!([]), json!({}), json!(["c"])];
    for v in &not_string {
        for action in [
            Action::EditConversation,
            Action::GetConversation,
            Action::JoinConversation,
            Action::LeaveConversation,
        ] {
            code0(action, json!({"uuid": v}));
        }
        code0(Action::EditConversation, json!({"uuid": "c", "title": v}));
        code0(Action::CreateConversation, json!({"title": v}));
        code0(
            Action::AddParticipants,
            json!({"uuid": v, "participants": [{"user_id": 2}]}),
        );
        code0(
            Action::RemoveParticipants,
            json!({"uuid": v, "participants": [2]}),
        );
        code0(
            Action::SendMessage,
            json!({"conversation": v, "text": "hi"}),
        );
        code0(Action::SendMessage, json!({"conversation": "c", "text": v}));
        code0(Action::EditMessage, json!({"uuid": v, "conversation": "c"}));
        code0(Action::EditMessage, json!({"uuid": "m", "conversation": v}));
        code0(
            Action::EditMessage,
            json!({"uuid": "m", "conversation": "c", "text": v}),
        );
        code0(
            Action::RemoveMessage,
            json!({"uuid": v, "conversation": "c"}),
        );
        code0(Action::TypingMessage, json!({"conversation": v}));
        code0(Action::IsRead, json!({"conversation": v, "seq": 1}));
        code0(
            Action::RetransmitEvents,
            json!({"conversation": v, "events_from": 1, "count": 1}),
        );
        code0(Action::GetUser, json!({"user_name": v}));
        code0(Action::GetUsers, json!({"users": [{"user_name": v}]}));
        code0(Action::GetConversations, json!({"uuid": [v]}));
        code0(Action::ManageNotification, json!({"notifications": [v]}));
    }
    // Lists given as something else.
    for v in [json!("x"), json!(5), json!({}), json!(true)] {
        code0(Action::GetConversations, json!({"uuid": v}));
        code0(Action::CreateConversation, json!({"participants": v}));
        code0(
            Action::AddParticipants,
            json!({"uuid": "c", "participants": v}),
        );
        code0(
            Action::EditParticipants,
            json!({"uuid": "c", "participants": v}),
        );
        code0(
            Action::RemoveParticipants,
            json!({"uuid": "c", "participants": v}),
        );
        code0(
            Action::SendMessage,
            json!({"conversation": "c", "text": "t", "payload": v}),
        );
        code0(
            Action::EditMessage,
            json!({"uuid": "m", "conversation": "c", "payload": v}),
        );
        code0(Action::GetUsers, json!({"users": v}));
        code0(Action::Subscribe, json!({"user_id": v}));
        code0(Action::Unsubscribe, json!({"user_id": v}));
        code0(Action::ManageNotification, json!({"notifications": v}));
    }
    code0(Action::GetConversations, json!({"uuid": CONV}));
    code0(
        Action::ManageNotification,
        json!({"notifications": "onSendMessage"}),
    );
    // List elements that must be objects.
    for v in [json!(2), json!("x"), json!([]), json!(null), json!(true)] {
        code0(Action::CreateConversation, json!({"participants": [v]}));
        code0(
            Action::AddParticipants,
            json!({"uuid": "c", "participants": [{"user_id": 2}, v]}),
        );
        code0(
            Action::EditParticipants,
            json!({"uuid": "c", "participants": [v]}),
        );
        code0(Action::GetUsers, json!({"users": [{"user_id": 2}, v]}));
    }
    // Custom data must be an object.
    for v in [json!([]), json!("x"), json!(5), json!(true)] {
        code0(Action::CreateConversation, json!({"custom_data": v}));
        code0(
            Action::EditConversation,
            json!({"uuid": "c", "custom_data": v}),
        );
        code0(Action::EditUser, json!({"custom_data": v}));
        code0(Action::EditUser, json!({"private_custom_data": v}));
    }
}

#[test]
fn flags_range_and_normalization() {
    for action in [
        Action::AddParticipants,
        Action::EditParticipants,
        Action::CreateConversation,
    ] {
        let with = |flags: Value| {
            let mut p = json!({"participants": [{"user_id": 2, "flags": flags}]});
            if action != Action::CreateConversation {
                p["uuid"] = json!("c");
            }
            p
        };
        let flags_of = |r: Request| match r {
            Request::AddParticipants(m) | Request::EditParticipants(m) => m.participants[0].flags,
            Request::CreateConversation(c) => c.participants[0].flags,
            other => panic!("{other:?}"),
        };
        for (raw, normalized) in [
            (json!(32768), 65535),
            (json!(65535), 65535),
            (json!(32768 | 8), 65535),
            (json!(7 | 128), 7),
            (json!(0), 0),
            (json!(63), 63),
            (json!(64), 0),
            (json!(0x7fff), 63),
            (json!("32768"), 65535),
            (json!(135.0), 7),
        ] {
            let flags = flags_of(ok(action, with(raw.clone()))).unwrap();
            assert_eq!(flags.bits(), normalized, "{action} flags {raw}");
        }
        for raw in [
            json!(-1),
            json!(65536),
            json!(70000),
            json!("-5"),
            json!(1e10),
            json!(i64::MIN),
        ] {
            code0(action, with(raw));
        }
    }
}

#[test]
fn title_limit() {
    let exact = "é".repeat(MAX_TITLE_CHARS);
    assert_eq!(MAX_TITLE_CHARS, 50);
    let Request::CreateConversation(c) = ok(Action::CreateConversation, json!({"title": exact}))
    else {
        panic!()
    };
    assert_eq!(c.title.as_deref(), Some(exact.as_str()));
    assert!(decode(
        Action::EditConversation,
        json!({"uuid": "c", "title": exact})
    )
    .is_ok());
    let over = "a".repeat(51);
    code0(Action::CreateConversation, json!({"title": over}));
    code0(
        Action::EditConversation,
        json!({"uuid": "c", "title": over}),
    );
    // Empty is fine (the server substitutes the default title).
    let Request::EditConversation(e) =
        ok(Action::EditConversation, json!({"uuid": "c", "title": ""}))
    else {
        panic!()
    };
    assert_eq!(e.title.as_deref(), Some(""));
}

/// A custom-data object whose compact JSON is exactly `bytes` long.
fn custom_data_of(bytes: usize) -> Value {
    // {"k":"<fill>"} is 8 bytes plus the fill.
    let v = json!({"k": "x".repeat(bytes - 8)});
    assert_eq!(serde_json::to_vec(&v).unwrap().len(), bytes);
    v
}

#[test]
fn custom_data_limit() {
    assert_eq!(MAX_CUSTOM_DATA_BYTES, 5120);
    let at = custom_data_of(5120);
    let over = custom_data_of(5121);
    assert!(decode(Action::CreateConversation, json!({"custom_data": at})).is_ok());
    assert!(decode(
        Action::EditConversation,
        json!({"uuid": "c", "custom_data": at})
    )
    .is_ok());
    assert!(decode(
        Action::EditUser,
        json!({"custom_data": at, "private_custom_data": at})
    )
    .is_ok());
    code0(Action::CreateConversation, json!({"custom_data": over}));
    code0(
        Action::EditConversation,
        json!({"uuid": "c", "custom_data": over}),
    );
    code0(Action::EditUser, json!({"custom_data": over}));
    code0(Action::EditUser, json!({"private_custom_data": over}));
    // Bytes, not characters: 2-byte characters count twice.
    let wide = json!({"k": "é".repeat(2600)});
    code0(Action::EditUser, json!({"custom_data": wide}));
    // Any JSON inside is fine, and `{}` clears.
    let Request::EditUser(u) = ok(
        Action::EditUser,
        json!({"custom_data": {"a": [1, {"b": null}], "c": 2.5, "d": false}, "private_custom_data": {}}),
    ) else {
        panic!()
    };
    assert_eq!(u.private_custom_data, Some(Map::new()));
}

#[test]
fn empty_messages() {
    for p in [
        json!({"conversation": "c"}),
        json!({"conversation": "c", "text": ""}),
        json!({"conversation": "c", "payload": []}),
        json!({"conversation": "c", "text": "", "payload": []}),
        json!({"conversation": "c", "text": null, "payload": null}),
        json!({"conversation": "c", "text": "", "payload": null}),
    ] {
        code0(Action::SendMessage, p);
    }
    for p in [
        json!({"conversation": "c", "text": "x"}),
        json!({"conversation": "c", "payload": [{}]}),
        json!({"conversation": "c", "text": "", "payload": [{"a": 1}]}),
        json!({"conversation": "c", "text": " ", "payload": []}),
    ] {
        ok(Action::SendMessage, p);
    }
    // editMessage: only `text: ""` together with `payload: []` is refused at decode time.
    code0(
        Action::EditMessage,
        json!({"uuid": "m", "conversation": "c", "text": "", "payload": []}),
    );
    for p in [
        json!({"uuid": "m", "conversation": "c"}),
        json!({"uuid": "m", "conversation": "c", "text": ""}),
        json!({"uuid": "m", "conversation": "c", "payload": []}),
        json!({"uuid": "m", "conversation": "c", "text": "", "payload": [{}]}),
    ] {
        ok(Action::EditMessage, p);
    }
}

#[test]
fn message_payload_elements_must_be_objects() {
    for el in [json!(1), json!("x"), json!([]), json!(null), json!(true)] {
        code0(
            Action::SendMessage,
            json!({"conversation": "c", "text": "t", "payload": [{"a": 1}, el]}),
        );
        code0(
            Action::EditMessage,
            json!({"uuid": "m", "conversation": "c", "payload": [el]}),
        );
    }
    let Request::SendMessage(m) = ok(
        Action::SendMessage,
        json!({"conversation": "c", "payload": [{"type": "x", "nested": {"deep": [1, 2]}}, {}]}),
    ) else {
        panic!()
    };
    assert_eq!(m.payload.unwrap().len(), 2);
}

#[test]
fn get_user_needs_exactly_one_key() {
    code0(Action::GetUser, json!({}));
    code0(Action::GetUser, json!({"user_id": null, "user_name": null}));
    code0(Action::GetUser, json!({"user_id": 3, "user_name": "a@b.c"}));
    assert_eq!(
        ok(Action::GetUser, json!({"user_id": "3"})),
        Request::GetUser(UserRef::Id(uid(3)))
    );
    assert_eq!(
        ok(Action::GetUser, json!({"user_name": "Alice@Chat.Example"})),
        Request::GetUser(UserRef::Name("Alice@Chat.Example".into()))
    );
    // Same rule per getUsers item; mixing is allowed; duplicates are kept for the server.
    code0(Action::GetUsers, json!({"users": [{"user_id": 3}, {}]}));
    code0(
        Action::GetUsers,
        json!({"users": [{"user_id": 3, "user_name": "a@b.c"}]}),
    );
    let Request::GetUsers(g) = ok(
        Action::GetUsers,
        json!({"users": [{"user_id": 3}, {"user_name": "a@b.c"}, {"user_id": "3"}]}),
    ) else {
        panic!()
    };
    assert_eq!(
        g.users,
        vec![
            UserRef::Id(uid(3)),
            UserRef::Name("a@b.c".into()),
            UserRef::Id(uid(3))
        ]
    );
    // Empty lists are a size matter (21) for the server, not a decode error.
    let Request::GetUsers(g) = ok(Action::GetUsers, json!({"users": []})) else {
        panic!()
    };
    assert!(g.users.is_empty());
}

#[test]
fn add_participants_last_read_is_type_checked_and_ignored() {
    // docs/BEHAVIOUR.md 2.5 lists `last_read` int? (ignored) for addParticipants; 2.3 makes it a tolerant integer.
    for v in [json!(9), json!("9"), json!(9.0), json!(null), json!(-1)] {
        let Request::AddParticipants(p) = ok(
            Action::AddParticipants,
            json!({"uuid": "c", "participants": [{"user_id": 3, "last_read": v}]}),
        ) else {
            panic!()
        };
        assert_eq!(p.participants[0].user_id, uid(3));
    }
    for v in [json!("x"), json!(true), json!(1.5), json!([])] {
        code0(
            Action::AddParticipants,
            json!({"uuid": "c", "participants": [{"user_id": 3, "last_read": v.clone()}]}),
        );
        // Elsewhere it is not a request field at all: an unknown key, ignored.
        ok(
            Action::EditParticipants,
            json!({"uuid": "c", "participants": [{"user_id": 3, "last_read": v.clone()}]}),
        );
        ok(
            Action::CreateConversation,
            json!({"participants": [{"user_id": 3, "last_read": v}]}),
        );
    }
}

#[test]
fn remove_participants_accepts_ints_and_objects() {
    let Request::RemoveParticipants(r) = ok(
        Action::RemoveParticipants,
        json!({"uuid": "c", "participants": [5, "6", 7.0, {"user_id": 8}, {"user_id": "9", "flags": 1}]}),
    ) else {
        panic!()
    };
    assert_eq!(r.participants, vec![uid(5), uid(6), uid(7), uid(8), uid(9)]);
    assert_eq!(r.uuid, "c");
    for el in [
        json!(true),
        json!(null),
        json!([5]),
        json!({"user_id": null}),
        json!({}),
        json!(0),
    ] {
        code0(
            Action::RemoveParticipants,
            json!({"uuid": "c", "participants": [el]}),
        );
    }
    let Request::RemoveParticipants(r) = ok(
        Action::RemoveParticipants,
        json!({"uuid": "c", "participants": []}),
    ) else {
        panic!()
    };
    assert!(r.participants.is_empty());
}

#[test]
fn lists_keep_order_and_duplicates() {
    let Request::GetConversations(g) =
        ok(Action::GetConversations, json!({"uuid": ["b", "a", "b"]}))
    else {
        panic!()
    };
    assert_eq!(g.uuid, vec!["b", "a", "b"]);
    let Request::Subscribe(s) = ok(Action::Subscribe, json!({"user_id": [3, 2, 3]})) else {
        panic!()
    };
    assert_eq!(s.user_id, vec![uid(3), uid(2), uid(3)]);
    let Request::ManageNotification(n) = ok(
        Action::ManageNotification,
        json!({"notifications": ["onSendMessage", "bogus", "onSendMessage"]}),
    ) else {
        panic!()
    };
    // Values are checked by the server (26), not here.
    assert_eq!(
        n.notifications.unwrap(),
        vec!["onSendMessage", "bogus", "onSendMessage"]
    );
    let Request::Unsubscribe(u) = ok(Action::Unsubscribe, json!({"all": true, "user_id": []}))
    else {
        panic!()
    };
    assert_eq!((u.all, u.user_id), (Some(true), Some(vec![])));
}

#[test]
fn conversation_uuids_are_kept_as_sent() {
    // uuid syntax is the server's business (8), so any string decodes unchanged.
    for uuid in ["", "not-a-uuid", "6F1C2A9E-0B5D-4C3A-9E7F-1A2B3C4D5E6F"] {
        assert_eq!(
            ok(Action::GetConversation, json!({"uuid": uuid})),
            Request::GetConversation(chatwire_protocol::ConversationRef { uuid: uuid.into() })
        );
    }
}

#[test]
fn decode_errors_name_the_field() {
    let e = decode(Action::IsRead, json!({"conversation": "c", "seq": "x"})).unwrap_err();
    assert!(e.to_string().contains("seq"), "{e}");
    let e = decode(
        Action::AddParticipants,
        json!({"uuid": "c", "participants": [{"user_id": 1, "flags": -1}]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("flags"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Never panic
// ---------------------------------------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Floats with short exact decimal forms (serde_json's default parser is not guaranteed to
        // round-trip every f64 bit-exactly, which would make the re-encode properties flaky).
        any::<i32>().prop_map(|i| Value::from(f64::from(i) / 4.0)),
        Just(json!(1e300)),
        Just(json!(-0.0)),
        ".{0,12}".prop_map(Value::from),
        "-?[0-9]{1,20}(\\.[05])?".prop_map(Value::from),
        Just(json!(CONV)),
        Just(json!("")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Keys that the decoders look at, plus noise.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "uuid", "title", "direct", "enable_public_join", "uber_conversation", "custom_data", "participants",
            "user_id", "flags", "last_read", "conversation", "text", "payload", "seq", "events_from", "events_to",
            "count", "user_name", "users", "private_custom_data", "online", "all", "notifications", "@type",
            "service", "event", "request_uuid", "name", "params", "initiator", "on_incoming_event", "timestamp",
            "from_seq", "to_seq", "code", "description", "object", "subscriptions", "display_name", "deleted",
            "conversations_list", "leave_conversations", "notification_events", "created_at", "last_update",
            "last_seq", "accessToken", "refreshToken", "OAuth",
        ])
        .prop_map(str::to_string),
        1 => ".{0,6}",
    ]
}

fn arb_event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(Action::ALL.to_vec()).prop_map(|a| a.name().to_string()),
        proptest::sample::select(Action::ALL.to_vec()).prop_map(|a| a.result_event().to_string()),
        proptest::sample::select(vec![
            "onRemoveConversation",
            "onError",
            "removeConversation",
            "createBot",
            "login",
            "refreshOauthToken",
            "__ping",
            "loginStage2",
            "loginSuccessful",
            "loginFailed",
            "refreshOauthTokenSuccessful",
            "refreshOauthTokenFailed",
            "__connectionSuccessful",
            "__pong",
        ])
        .prop_map(str::to_string),
        ".{0,10}",
    ]
}

fn exercise_client_text(text: &str) {
    match parse_client_frame(text) {
        Ok(ClientFrame::Messaging(frame)) => {
            if let ActionLookup::Action(action) = frame.lookup() {
                let _ = Request::decode(action, &frame.payload);
            }
        }
        Ok(ClientFrame::Session(frame)) => {
            let _ = ClientSession::from_frame(&frame);
            let _ = ServerSession::from_frame(&frame);
            let _ = frame.encode();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,200}") {
        exercise_client_text(&text);
        let _ = ServerFrame::decode(&text);
    }

    #[test]
    fn json_like_strings_never_panic(text in "[{}\\[\\]\",:0-9a-z .@_-]{0,120}") {
        exercise_client_text(&text);
        let _ = ServerFrame::decode(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let text = value.to_string();
        exercise_client_text(&text);
        let _ = ServerFrame::decode(&text);
        let _ = ServerFrame::from_value(value.clone());
        if let Value::Object(m) = &value {
            for action in Action::ALL {
                let _ = Request::decode(*action, m);
            }
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic_and_decoded_requests_round_trip(
        event in arb_event_name(),
        payload in arb_json(),
        request_uuid in arb_json(),
    ) {
        let text = json!({"service": "chat", "event": event, "request_uuid": request_uuid, "payload": payload}).to_string();
        exercise_client_text(&text);
        if let Value::Object(m) = &payload {
            for action in Action::ALL {
                if let Ok(request) = Request::decode(*action, m) {
                    // Whatever decodes re-encodes to a payload that decodes to the same request.
                    prop_assert_eq!(request.action(), *action);
                    let again = Request::decode(*action, &request.to_payload());
                    prop_assert_eq!(again.as_ref(), Ok(&request));
                } else {
                    let err = Request::decode(*action, m).unwrap_err();
                    prop_assert_eq!(err.code(), ErrorCode::InvalidParameter);
                }
            }
        }
    }

    #[test]
    fn arbitrary_session_params_never_panic(name in arb_event_name(), params in proptest::collection::vec(arb_json(), 0..4)) {
        let frame = SessionFrame { name, params };
        let _ = ClientSession::from_frame(&frame);
        let _ = ServerSession::from_frame(&frame);
        exercise_client_text(&frame.encode());
    }

    #[test]
    fn arbitrary_server_payloads_never_panic(
        event in arb_event_name(),
        payload in arb_json(),
        object in arb_json(),
        inner_event in arb_event_name(),
        inner in arb_json(),
    ) {
        let mut p = payload;
        if let Value::Object(m) = &mut p {
            m.insert("object".into(), object.clone());
        }
        let _ = ServerFrame::decode(&json!({"service": "chat", "event": event, "payload": p}).to_string());
        let _ = chatwire_protocol::decode_object(&EventName::from_name(&event), object);
        let wrapped = json!({"event": "onRetransmitEvents", "payload": {"object": {"event": inner_event, "payload": inner}}});
        if let Ok(f) = ServerFrame::from_value(wrapped) {
            // Whatever decodes re-encodes to the same frame.
            prop_assert_eq!(ServerFrame::decode(&f.encode()), Ok(f));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// docs/PROTOCOL.md stays exact
// ---------------------------------------------------------------------------------------------

/// Every complete JSON example of docs/PROTOCOL.md decodes, and re-encoding it with the crate gives
/// the same JSON (same keys, same omitted fields). Blocks with elided values (`…`) are skipped.
#[test]
fn protocol_doc_examples_match_the_encoders() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        eprintln!("{} not found; skipping", path.display());
        return;
    };
    let mut checked = 0;
    for block in doc.split("```json\n").skip(1) {
        let text = block.split("```").next().unwrap();
        if text.contains('…') {
            continue;
        }
        let value: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("invalid JSON in docs: {e}\n{text}"));
        let is_request = value["payload"].get("@type").is_some();
        let reencoded: Value = if is_request {
            let request = request_of(text);
            let uuid = value["request_uuid"].as_str().unwrap();
            serde_json::from_str(&MessagingFrame::encode_request(&request, uuid)).unwrap()
        } else {
            let frame = ServerFrame::decode(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            serde_json::from_str(&frame.encode()).unwrap()
        };
        assert_eq!(
            reencoded, value,
            "docs example differs from the crate's encoding:\n{text}"
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} examples checked");
}

#[test]
fn parse_server_frame_classifies_like_spec_2_1() {
    use chatwire_protocol::{parse_server_frame, ServerMessage};
    // `service` wins over `name`, as for client frames.
    let both = r#"{"service":"chat","name":"x","event":"onSetStatus","payload":{"initiator":"3","on_incoming_event":"setStatus","timestamp":5,"object":{"online":true}}}"#;
    let ServerMessage::Messaging(frame) = parse_server_frame(both).unwrap() else {
        panic!("a frame with `service` is a messaging frame");
    };
    assert_eq!(frame, ServerFrame::decode(both).unwrap());
    let ServerMessage::Session(s) =
        parse_server_frame(r#"{"name":"loginSuccessful","params":["Alice",{"OAuth":{}}]}"#)
            .unwrap()
    else {
        panic!("a frame with only `name` is a session frame");
    };
    assert_eq!(s.name, "loginSuccessful");
    assert_eq!(s.params.len(), 2);
    let ServerMessage::Session(s) = parse_server_frame(r#"{"name":"__pong"}"#).unwrap() else {
        panic!("params may be absent");
    };
    assert!(s.params.is_empty());
    for bad in [
        "",
        "nope",
        "[]",
        "{}",
        r#"{"name":5}"#,
        r#"{"service":"chat"}"#,
    ] {
        assert!(parse_server_frame(bad).is_err(), "{bad} must be refused");
    }
}

#[test]
fn event_classes_match_the_spec_terms() {
    use chatwire_protocol::{EventClass, EventName};
    let persisted = [
        "onCreateConversation",
        "onEditConversation",
        "onRemoveConversation",
        "onSendMessage",
        "onEditMessage",
        "onRemoveMessage",
    ];
    let ephemeral = [
        "onTyping",
        "isRead",
        "onSetStatus",
        "onEditUser",
        "onSubscribe",
        "onUnsubscribe",
    ];
    for name in persisted {
        assert_eq!(
            EventName::from_name(name).class(),
            EventClass::Persisted,
            "{name}"
        );
        assert!(EventName::from_name(name).is_persisted());
    }
    for name in ephemeral {
        assert_eq!(
            EventName::from_name(name).class(),
            EventClass::Ephemeral,
            "{name}"
        );
    }
    for name in [
        "onGetUser",
        "onGetConversation",
        "onRetransmitEvents",
        "onError",
        "onNew",
    ] {
        assert_eq!(
            EventName::from_name(name).class(),
            EventClass::Reply,
            "{name}"
        );
    }
}

#[test]
fn catch_up_positions_decode_and_their_type_errors_give_code_0() {
    use chatwire_protocol::{CatchUpPosition, ErrorCode};
    let ok = decode(
        Action::CatchUp,
        json!({"positions": [{"conversation": CONV, "seq": "41"}, {"conversation": "x", "seq": null}, {"conversation": "y"}]}),
    )
    .unwrap();
    let Request::CatchUp(c) = ok else { panic!() };
    assert_eq!(
        c.positions,
        vec![
            CatchUpPosition {
                conversation: CONV.into(),
                seq: Some(41)
            },
            CatchUpPosition {
                conversation: "x".into(),
                seq: None
            },
            CatchUpPosition {
                conversation: "y".into(),
                seq: None
            },
        ]
    );
    for bad in [
        json!({"positions": {}}),
        json!({"positions": [5]}),
        json!({"positions": [{"seq": 1}]}),
        json!({"positions": [{"conversation": CONV, "seq": -1}]}),
        json!({"positions": [{"conversation": CONV, "seq": 1.5}]}),
    ] {
        let e = decode(Action::CatchUp, bad.clone()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidParameter, "{bad}");
    }
}

#[test]
fn custom_data_patch_is_an_object_and_excludes_custom_data() {
    let Request::EditConversation(e) = decode(
        Action::EditConversation,
        json!({"uuid": CONV, "custom_data_patch": {"a": null}}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(e.custom_data_patch.unwrap()["a"], Value::Null);
    assert!(decode(
        Action::EditConversation,
        json!({"uuid": CONV, "custom_data_patch": [1]})
    )
    .is_err());
    assert!(decode(
        Action::EditConversation,
        json!({"uuid": CONV, "custom_data": {}, "custom_data_patch": {"a": 1}})
    )
    .is_err());
}

#[test]
fn idempotency_key_is_checked_only_when_asked() {
    let frame = |key: Value| {
        let text = json!({"service": "chat", "event": "sendMessage", "idempotency_key": key, "payload": {}}).to_string();
        messaging(&text)
    };
    assert_eq!(frame(json!("k")).idempotency_key().unwrap(), Some("k"));
    assert_eq!(frame(Value::Null).idempotency_key().unwrap(), None);
    // A malformed key never fails classification (clients that did not opt in are unaffected).
    assert!(frame(json!(5)).idempotency_key().is_err());
    assert!(frame(json!("")).idempotency_key().is_err());
    assert!(frame(json!("k".repeat(129))).idempotency_key().is_err());
}
