//! Round trips through the public encoders and decoders of `chatwire_protocol`: every request
//! action, every session frame and every kind of server frame object survives encode -> decode
//! unchanged, and the encoders produce exactly the JSON shapes of docs/BEHAVIOUR.md section 2.

use std::collections::HashSet;

use chatwire_protocol::{
    parse_client_frame, ActionLookup, ClientFrame, ClientSession, ConversationId,
    ConversationObject, ConversationRef, CreateConversation, Credential, EditConversation,
    EditMessage, EditUser, ErrorCode, EventName, EventObject, EventPayload, GetConversations,
    GetUsers, IsRead, ManageNotification, ManageParticipants, MessageId, MessageObject,
    MessageRefObject, MessagingFrame, OAuthTokens, ParticipantObject, ParticipantSpec, Permissions,
    PublicConversationsObject, ReadObject, RemoveMessage, RemoveParticipants, Request,
    RetransmitEvents, RetransmittedEvent, SendMessage, Seq, ServerFrame, ServerSession,
    SessionFrame, SetStatus, StatusObject, Subscribe, SubscriptionListObject, TypingMessage,
    TypingObject, Unsubscribe, UserId, UserIdsObject, UserObject, UserRef,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const CONV: &str = "6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f";
const CONV2: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const MSG: &str = "9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a";

fn uid(n: u64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn conv() -> ConversationId {
    ConversationId::parse(CONV).unwrap()
}

fn conv2() -> ConversationId {
    ConversationId::parse(CONV2).unwrap()
}

fn msg() -> MessageId {
    MessageId::parse(MSG).unwrap()
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn flags(raw: i64) -> Permissions {
    Permissions::normalize(raw).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// One (or more) representative request of every action.
fn all_requests() -> Vec<Request> {
    vec![
        Request::CreateConversation(CreateConversation {
            title: Some("Team chat".into()),
            direct: Some(false),
            enable_public_join: Some(true),
            uber_conversation: Some(false),
            custom_data: Some(obj(json!({"topic": "rust", "n": [1, 2, {"x": null}]}))),
            participants: vec![
                ParticipantSpec {
                    user_id: uid(18),
                    flags: None,
                },
                ParticipantSpec {
                    user_id: uid(19),
                    flags: Some(Permissions::ALL),
                },
                ParticipantSpec {
                    user_id: uid(20),
                    flags: Some(flags(9)),
                },
            ],
        }),
        Request::CreateConversation(CreateConversation::default()),
        Request::CreateConversation(CreateConversation {
            direct: Some(true),
            participants: vec![ParticipantSpec {
                user_id: uid(2),
                flags: None,
            }],
            ..Default::default()
        }),
        Request::EditConversation(EditConversation {
            uuid: CONV.into(),
            title: Some("Renamed".into()),
            enable_public_join: Some(false),
            custom_data: Some(obj(json!({}))),
            custom_data_patch: None,
        }),
        Request::EditConversation(EditConversation {
            uuid: CONV.into(),
            title: Some(String::new()),
            enable_public_join: None,
            custom_data: None,
            custom_data_patch: Some(obj(json!({"topic": "q3", "draft": null}))),
        }),
        Request::GetConversation(ConversationRef { uuid: CONV.into() }),
        Request::GetConversations(GetConversations {
            uuid: vec![CONV.into(), CONV2.into()],
        }),
        Request::GetPublicConversations,
        Request::JoinConversation(ConversationRef { uuid: CONV.into() }),
        Request::LeaveConversation(ConversationRef { uuid: CONV.into() }),
        Request::AddParticipants(ManageParticipants {
            uuid: CONV.into(),
            participants: vec![
                ParticipantSpec {
                    user_id: uid(21),
                    flags: Some(Permissions::DEFAULT),
                },
                ParticipantSpec {
                    user_id: uid(22),
                    flags: None,
                },
            ],
        }),
        Request::EditParticipants(ManageParticipants {
            uuid: CONV.into(),
            participants: vec![ParticipantSpec {
                user_id: uid(21),
                flags: Some(Permissions::NONE),
            }],
        }),
        Request::RemoveParticipants(RemoveParticipants {
            uuid: CONV.into(),
            participants: vec![uid(21), uid(22)],
        }),
        Request::SendMessage(SendMessage {
            conversation: CONV.into(),
            text: Some("hi".into()),
            payload: None,
        }),
        Request::SendMessage(SendMessage {
            conversation: CONV.into(),
            text: None,
            payload: Some(vec![
                obj(json!({"type": "image", "url": "https://x/y.png"})),
                obj(json!({})),
            ]),
        }),
        Request::SendMessage(SendMessage {
            conversation: CONV.into(),
            text: Some("both".into()),
            payload: Some(vec![]),
        }),
        Request::EditMessage(EditMessage {
            uuid: MSG.into(),
            conversation: CONV.into(),
            text: Some("edited".into()),
            payload: Some(vec![obj(json!({"k": 1}))]),
        }),
        Request::EditMessage(EditMessage {
            uuid: MSG.into(),
            conversation: CONV.into(),
            text: None,
            payload: None,
        }),
        Request::RemoveMessage(RemoveMessage {
            uuid: MSG.into(),
            conversation: CONV.into(),
        }),
        Request::TypingMessage(TypingMessage {
            conversation: CONV.into(),
        }),
        Request::IsRead(IsRead {
            conversation: CONV.into(),
            seq: 4,
        }),
        Request::IsRead(IsRead {
            conversation: CONV.into(),
            seq: -3,
        }),
        Request::RetransmitEvents(RetransmitEvents {
            conversation: CONV.into(),
            events_from: Some(1),
            events_to: Some(6),
            count: None,
        }),
        Request::RetransmitEvents(RetransmitEvents {
            conversation: CONV.into(),
            events_from: None,
            events_to: Some(6),
            count: Some(10),
        }),
        Request::GetUser(UserRef::Id(uid(17))),
        Request::GetUser(UserRef::Name("alice@chat.example".into())),
        Request::GetUsers(GetUsers {
            users: vec![
                UserRef::Id(uid(17)),
                UserRef::Name("bob@chat.example".into()),
                UserRef::Id(uid(17)),
            ],
        }),
        Request::EditUser(EditUser {
            custom_data: Some(obj(json!({"avatar": "a.png"}))),
            private_custom_data: Some(obj(json!({}))),
        }),
        Request::EditUser(EditUser::default()),
        Request::SetStatus(SetStatus { online: true }),
        Request::SetStatus(SetStatus { online: false }),
        Request::Subscribe(Subscribe {
            user_id: vec![uid(18), uid(19)],
        }),
        Request::Unsubscribe(Unsubscribe {
            user_id: Some(vec![uid(18)]),
            all: None,
        }),
        Request::Unsubscribe(Unsubscribe {
            user_id: None,
            all: Some(true),
        }),
        Request::GetSubscriptionList,
        Request::ManageNotification(ManageNotification {
            notifications: Some(vec!["onSendMessage".into(), "onCreateConversation".into()]),
        }),
        Request::ManageNotification(ManageNotification {
            notifications: Some(vec![]),
        }),
        Request::ManageNotification(ManageNotification {
            notifications: None,
        }),
        Request::CatchUp(chatwire_protocol::CatchUp {
            positions: vec![
                chatwire_protocol::CatchUpPosition {
                    conversation: CONV.into(),
                    seq: Some(41),
                },
                chatwire_protocol::CatchUpPosition {
                    conversation: CONV2.into(),
                    seq: None,
                },
            ],
        }),
    ]
}

/// Encodes like the SDK, classifies like the server, decodes like the server.
fn through_the_wire(request: &Request, request_uuid: &str) -> (MessagingFrame, Request) {
    let text = MessagingFrame::encode_request(request, request_uuid);
    let ClientFrame::Messaging(frame) = parse_client_frame(&text).expect("classifies") else {
        panic!("not a messaging frame: {text}");
    };
    let ActionLookup::Action(action) = frame.lookup() else {
        panic!("unknown action: {text}")
    };
    let decoded = Request::decode(action, &frame.payload).unwrap_or_else(|e| panic!("{text}: {e}"));
    (frame, decoded)
}

#[test]
fn every_action_is_covered_by_the_request_fixtures() {
    let covered: HashSet<_> = all_requests().iter().map(Request::action).collect();
    for action in chatwire_protocol::Action::ALL {
        assert!(
            covered.contains(action),
            "no round-trip fixture for {action}"
        );
    }
    assert_eq!(
        chatwire_protocol::Action::ALL.len(),
        25,
        "docs/BEHAVIOUR.md section 2.5 lists 24 actions, plus the catchUp extension"
    );
}

#[test]
fn every_request_round_trips() {
    for (i, request) in all_requests().into_iter().enumerate() {
        let uuid = format!("5b0e6c9e-0000-4000-8000-{i:012}");
        let (frame, decoded) = through_the_wire(&request, &uuid);
        assert_eq!(decoded, request);
        assert_eq!(frame.event, request.action().name());
        assert_eq!(frame.request_uuid.as_deref(), Some(uuid.as_str()));
        assert_eq!(
            frame.payload.get("@type").and_then(Value::as_str),
            Some(request.action().type_tag()),
            "{} must carry its @type",
            request.action()
        );
    }
}

#[test]
fn encoded_request_envelope_has_the_wire_keys() {
    let req = Request::SendMessage(SendMessage {
        conversation: "c1".into(),
        text: Some("hi".into()),
        payload: None,
    });
    let v: Value = serde_json::from_str(&MessagingFrame::encode_request(&req, "r-1")).unwrap();
    assert_eq!(
        v,
        json!({
            "service": "chat",
            "event": "sendMessage",
            "request_uuid": "r-1",
            "payload": {"conversation": "c1", "text": "hi", "@type": "type/vox.store.IncomingNamespace.SendMessage"}
        })
    );
}

#[test]
fn request_payload_shapes() {
    let cases: Vec<(Request, Value)> = vec![
        (
            Request::CreateConversation(CreateConversation {
                title: Some("T".into()),
                participants: vec![
                    ParticipantSpec {
                        user_id: uid(5),
                        flags: None,
                    },
                    ParticipantSpec {
                        user_id: uid(6),
                        flags: Some(Permissions::ALL),
                    },
                ],
                ..Default::default()
            }),
            json!({"title": "T", "participants": [{"user_id": 5}, {"user_id": 6, "flags": 65535}],
                   "@type": "type/vox.store.IncomingNamespace.CreateConversation"}),
        ),
        (
            Request::RemoveParticipants(RemoveParticipants {
                uuid: "c".into(),
                participants: vec![uid(3)],
            }),
            json!({"uuid": "c", "participants": [3], "@type": "type/vox.store.IncomingNamespace.RemoveParticipants"}),
        ),
        (
            Request::GetUsers(GetUsers {
                users: vec![UserRef::Id(uid(1)), UserRef::Name("a@b.c".into())],
            }),
            json!({"users": [{"user_id": 1}, {"user_name": "a@b.c"}], "@type": "type/vox.store.IncomingNamespace.GetUsers"}),
        ),
        (
            Request::GetPublicConversations,
            json!({"@type": "type/vox.store.IncomingNamespace.GetConversations"}),
        ),
        (
            Request::GetSubscriptionList,
            json!({"@type": "type/vox.store.IncomingNamespace.GetSubscriptionList"}),
        ),
        (
            Request::IsRead(IsRead {
                conversation: "c".into(),
                seq: 3,
            }),
            json!({"conversation": "c", "seq": 3, "@type": "type/vox.store.CommonNamespace.StatusMessage"}),
        ),
        (
            Request::Unsubscribe(Unsubscribe {
                user_id: None,
                all: Some(true),
            }),
            json!({"all": true, "@type": "type/vox.store.CommonNamespace.ManageSubscribes"}),
        ),
        (
            Request::ManageNotification(ManageNotification {
                notifications: None,
            }),
            json!({"notifications": null, "@type": "type/vox.store.IncomingNamespace.ManageNotifications"}),
        ),
        (
            Request::RetransmitEvents(RetransmitEvents {
                conversation: "c".into(),
                events_from: Some(1),
                events_to: None,
                count: Some(5),
            }),
            json!({"conversation": "c", "events_from": 1, "count": 5,
                   "@type": "type/vox.store.IncomingNamespace.RetransmitRequest"}),
        ),
    ];
    for (req, expected) in cases {
        assert_eq!(
            Value::Object(req.to_payload()),
            expected,
            "{}",
            req.action()
        );
    }
}

#[test]
fn type_tags_follow_spec() {
    use chatwire_protocol::Action::*;
    let expected = [
        (Subscribe, "CommonNamespace.ManageSubscribes"),
        (Unsubscribe, "CommonNamespace.ManageSubscribes"),
        (TypingMessage, "CommonNamespace.TypingMessage"),
        (IsRead, "CommonNamespace.StatusMessage"),
        (SetStatus, "CommonNamespace.PresenceMessage"),
        (AddParticipants, "IncomingNamespace.ManageParticipants"),
        (EditParticipants, "IncomingNamespace.ManageParticipants"),
        (ManageNotification, "IncomingNamespace.ManageNotifications"),
        (GetPublicConversations, "IncomingNamespace.GetConversations"),
        (RetransmitEvents, "IncomingNamespace.RetransmitRequest"),
    ];
    for action in chatwire_protocol::Action::ALL {
        let tag = match expected.iter().find(|(a, _)| a == action) {
            Some((_, t)) => format!("type/vox.store.{t}"),
            None => {
                let name = action.name();
                let mut upper = name[..1].to_uppercase();
                upper.push_str(&name[1..]);
                format!("type/vox.store.IncomingNamespace.{upper}")
            }
        };
        assert_eq!(action.type_tag(), tag, "{action}");
    }
}

#[test]
fn action_names_and_result_events() {
    use chatwire_protocol::Action;
    let table = [
        ("createConversation", "onCreateConversation"),
        ("editConversation", "onEditConversation"),
        ("getConversation", "onGetConversation"),
        ("getConversations", "onGetConversation"),
        ("getPublicConversations", "onGetPublicConversations"),
        ("joinConversation", "onEditConversation"),
        ("leaveConversation", "onEditConversation"),
        ("addParticipants", "onEditConversation"),
        ("editParticipants", "onEditConversation"),
        ("removeParticipants", "onEditConversation"),
        ("sendMessage", "onSendMessage"),
        ("editMessage", "onEditMessage"),
        ("removeMessage", "onRemoveMessage"),
        ("typingMessage", "onTyping"),
        ("isRead", "isRead"),
        ("retransmitEvents", "onRetransmitEvents"),
        ("getUser", "onGetUser"),
        ("getUsers", "onGetUser"),
        ("editUser", "onEditUser"),
        ("setStatus", "onSetStatus"),
        ("subscribe", "onSubscribe"),
        ("unsubscribe", "onUnsubscribe"),
        ("getSubscriptionList", "onGetSubscriptionList"),
        ("manageNotification", "onEditUser"),
        ("catchUp", "onCatchUp"),
    ];
    assert_eq!(table.len(), Action::ALL.len());
    for (name, result) in table {
        let action = Action::from_name(name).unwrap_or_else(|| panic!("{name} is an action"));
        assert_eq!(action.name(), name);
        assert_eq!(action.to_string(), name);
        assert_eq!(action.result_event(), result);
        assert!(
            !matches!(EventName::from_name(result), EventName::Unknown(_)),
            "{result} is a known event"
        );
    }
}

#[test]
fn event_names_round_trip() {
    let names = [
        "onCreateConversation",
        "onEditConversation",
        "onGetConversation",
        "onRemoveConversation",
        "onGetPublicConversations",
        "onSendMessage",
        "onEditMessage",
        "onRemoveMessage",
        "onTyping",
        "isRead",
        "onRetransmitEvents",
        "onGetUser",
        "onEditUser",
        "onSetStatus",
        "onSubscribe",
        "onUnsubscribe",
        "onGetSubscriptionList",
        "onError",
    ];
    for name in names {
        let e = EventName::from_name(name);
        assert!(!matches!(e, EventName::Unknown(_)), "{name}");
        assert_eq!(e.as_str(), name);
        assert_eq!(e.to_string(), name);
        assert_eq!(serde_json::to_value(&e).unwrap(), json!(name));
        assert_eq!(serde_json::from_value::<EventName>(json!(name)).unwrap(), e);
    }
    assert_eq!(
        EventName::from_name("onFuture"),
        EventName::Unknown("onFuture".into())
    );
    assert_eq!(EventName::from_name("onFuture").as_str(), "onFuture");
}

// ---------------------------------------------------------------------------------------------
// Session layer
// ---------------------------------------------------------------------------------------------

fn tokens() -> OAuthTokens {
    OAuthTokens {
        access_token: "a".repeat(32),
        access_expire: 3600,
        refresh_token: "r".repeat(32),
        refresh_expire: 2_592_000,
    }
}

fn all_client_sessions() -> Vec<ClientSession> {
    vec![
        ClientSession::Login(Some((
            "alice@chat.example".into(),
            Credential::Password("secret pw".into()),
        ))),
        ClientSession::Login(Some((
            "alice@chat.example".into(),
            Credential::Password(String::new()),
        ))),
        ClientSession::Login(Some((
            "alice@chat.example".into(),
            Credential::AccessToken("tok".into()),
        ))),
        ClientSession::Login(None),
        ClientSession::Refresh(Some(("alice@chat.example".into(), "refresh".into()))),
        ClientSession::Refresh(None),
        ClientSession::UnsupportedLogin("loginGenerateOneTimeKey".into()),
        ClientSession::UnsupportedLogin("loginUsingOneTimeKey".into()),
        ClientSession::UnsupportedLogin("loginStage2".into()),
        ClientSession::Ping,
        ClientSession::Other("call".into()),
    ]
}

fn all_server_sessions() -> Vec<ServerSession> {
    vec![
        ServerSession::ConnectionSuccessful,
        ServerSession::LoginSuccessful {
            display_name: "Alice".into(),
            tokens: tokens(),
        },
        ServerSession::LoginSuccessful {
            display_name: String::new(),
            tokens: tokens(),
        },
        ServerSession::LoginFailed {
            code: 401,
            reason: "bad credentials".into(),
        },
        ServerSession::LoginFailed {
            code: 701,
            reason: String::new(),
        },
        ServerSession::RefreshSuccessful { tokens: tokens() },
        ServerSession::RefreshFailed {
            code: 429,
            reason: "throttled".into(),
        },
        ServerSession::Pong,
    ]
}

#[test]
fn every_client_session_frame_round_trips() {
    for session in all_client_sessions() {
        let frame = session.to_frame();
        let text = frame.encode();
        let ClientFrame::Session(parsed) = parse_client_frame(&text).expect("classifies") else {
            panic!("{text} is a session frame");
        };
        assert_eq!(parsed, frame, "{text}");
        assert_eq!(ClientSession::from_frame(&parsed), session, "{text}");
    }
}

#[test]
fn every_server_session_frame_round_trips() {
    for session in all_server_sessions() {
        let text = session.encode();
        assert_eq!(text, session.to_frame().encode());
        // As a client reads it.
        let frame: SessionFrame = serde_json::from_str(&text).unwrap();
        assert_eq!(
            ServerSession::from_frame(&frame).unwrap(),
            Some(session.clone()),
            "{text}"
        );
        // The generic classifier sees the same raw frame.
        let ClientFrame::Session(classified) = parse_client_frame(&text).unwrap() else {
            panic!("{text}")
        };
        assert_eq!(classified, frame);
    }
}

#[test]
fn server_session_wire_shapes() {
    let v = |s: ServerSession| serde_json::from_str::<Value>(&s.encode()).unwrap();
    assert_eq!(
        v(ServerSession::ConnectionSuccessful),
        json!({"name": "__connectionSuccessful", "params": []})
    );
    assert_eq!(
        v(ServerSession::Pong),
        json!({"name": "__pong", "params": []})
    );
    let oauth = json!({"accessToken": "a".repeat(32), "accessExpire": 3600,
                       "refreshToken": "r".repeat(32), "refreshExpire": 2_592_000});
    assert_eq!(
        v(ServerSession::LoginSuccessful {
            display_name: "Alice".into(),
            tokens: tokens()
        }),
        json!({"name": "loginSuccessful", "params": ["Alice", {"OAuth": oauth}]})
    );
    assert_eq!(
        v(ServerSession::RefreshSuccessful { tokens: tokens() }),
        json!({"name": "refreshOauthTokenSuccessful", "params": [{"OAuth": oauth}]})
    );
    assert_eq!(
        v(ServerSession::LoginFailed {
            code: 401,
            reason: "x".into()
        }),
        json!({"name": "loginFailed", "params": [401, "x"]})
    );
    assert_eq!(
        v(ServerSession::RefreshFailed {
            code: 701,
            reason: "expired".into()
        }),
        json!({"name": "refreshOauthTokenFailed", "params": [701, "expired"]})
    );
}

#[test]
fn client_session_wire_shapes_match_the_official_sdk() {
    let v = |s: ClientSession| serde_json::to_value(s.to_frame()).unwrap();
    assert_eq!(
        v(ClientSession::Ping),
        json!({"name": "__ping", "params": [[]]})
    );
    assert_eq!(
        v(ClientSession::Login(Some((
            "a@app.acc".into(),
            Credential::AccessToken("t".into())
        )))),
        json!({"name": "login", "params": ["a@app.acc", "", {"serverPresenceControl": false, "accessToken": "t"}]})
    );
    assert_eq!(
        v(ClientSession::Login(Some((
            "a@app.acc".into(),
            Credential::Password("pw".into())
        )))),
        json!({"name": "login", "params": ["a@app.acc", "pw", {}]})
    );
    assert_eq!(
        v(ClientSession::Refresh(Some((
            "a@app.acc".into(),
            "rt".into()
        )))),
        json!({"name": "refreshOauthToken", "params": ["a@app.acc", "rt"]})
    );
}

#[test]
fn secrets_are_not_debug_printed() {
    let t = tokens();
    let dbg = format!("{t:?}");
    assert!(
        !dbg.contains(&t.access_token) && !dbg.contains(&t.refresh_token),
        "{dbg}"
    );
    let c = Credential::Password("hunter2".into());
    assert!(!format!("{c:?}").contains("hunter2"));
    let c = Credential::AccessToken("tok-xyz".into());
    assert!(!format!("{c:?}").contains("tok-xyz"));
}

// ---------------------------------------------------------------------------------------------
// Server frames
// ---------------------------------------------------------------------------------------------

fn conversation_object(last_seq: u64) -> ConversationObject {
    ConversationObject {
        uuid: conv(),
        title: "Team chat".into(),
        direct: false,
        uber_conversation: true,
        enable_public_join: true,
        custom_data: obj(json!({"topic": "rust", "nested": {"a": [1, 2.5, "x", null, true]}})),
        participants: vec![
            ParticipantObject {
                user_id: uid(17),
                flags: Permissions::ALL,
                last_read: Seq(3),
            },
            ParticipantObject {
                user_id: uid(18),
                flags: Permissions::DEFAULT,
                last_read: Seq(0),
            },
            ParticipantObject {
                user_id: uid(19),
                flags: Permissions::NONE,
                last_read: Seq(1),
            },
        ],
        created_at: 1_767_225_600,
        last_update: 1_767_225_700,
        last_seq: Seq(last_seq),
    }
}

fn self_view() -> UserObject {
    UserObject {
        user_id: uid(17),
        user_name: "alice@chat.example".into(),
        display_name: "Alice".into(),
        custom_data: obj(json!({"avatar": "a.png"})),
        deleted: false,
        private_custom_data: Some(obj(json!({"theme": "dark"}))),
        conversations_list: Some(vec![conv(), conv2()]),
        leave_conversations: Some(vec![]),
        notification_events: Some(vec!["onSendMessage".into()]),
        store_epoch: Some("3f0c2d1e-0000-4000-8000-000000000001".into()),
    }
}

fn public_view() -> UserObject {
    UserObject {
        user_id: uid(18),
        user_name: "bob@chat.example".into(),
        display_name: "Bob".into(),
        custom_data: obj(json!({})),
        deleted: true,
        private_custom_data: None,
        conversations_list: None,
        leave_conversations: None,
        notification_events: None,
        store_epoch: None,
    }
}

fn payload(action: &str, seq: Option<u64>, object: Option<EventObject>) -> EventPayload {
    let mut p = EventPayload::new(Some(uid(17)), action, 1_767_225_600);
    p.seq = seq.map(Seq);
    p.object = object;
    p
}

fn frame(event: EventName, uuid: Option<&str>, payload: EventPayload) -> ServerFrame {
    ServerFrame {
        event,
        request_uuid: uuid.map(str::to_string),
        payload,
    }
}

fn message_object() -> MessageObject {
    MessageObject {
        uuid: msg(),
        conversation: conv(),
        text: "hi".into(),
        payload: vec![obj(json!({"type": "image", "size": 5})), obj(json!({}))],
    }
}

fn all_server_frames() -> Vec<ServerFrame> {
    let created = frame(
        EventName::CreateConversation,
        Some("r1"),
        payload(
            "createConversation",
            Some(1),
            Some(EventObject::Conversation(Box::new(conversation_object(1)))),
        ),
    );
    let sent = frame(
        EventName::SendMessage,
        Some("r2"),
        payload(
            "sendMessage",
            Some(2),
            Some(EventObject::Message(message_object())),
        ),
    );
    let mut retransmit_outer = payload(
        "retransmitEvents",
        None,
        Some(EventObject::Retransmitted(Box::new(RetransmittedEvent {
            event: created.event.clone(),
            payload: created.payload.clone(),
        }))),
    );
    retransmit_outer.from_seq = Some(Seq(1));
    retransmit_outer.to_seq = Some(Seq(6));
    retransmit_outer.count = Some(6);
    let mut retransmit_message = retransmit_outer.clone();
    retransmit_message.object = Some(EventObject::Retransmitted(Box::new(RetransmittedEvent {
        event: sent.event.clone(),
        payload: sent.payload.clone(),
    })));
    let mut retransmit_empty = payload("retransmitEvents", None, None);
    retransmit_empty.from_seq = Some(Seq(4));
    retransmit_empty.to_seq = Some(Seq(6));
    retransmit_empty.count = Some(0);

    let mut error = EventPayload::new(Some(uid(17)), "sendMessage", 1_767_225_601);
    error.code = Some(ErrorCode::NotParticipant);
    error.description = Some(ErrorCode::NotParticipant.description().into());
    let mut error_before_login = EventPayload::new(None, "UNKNOWN", 1_767_225_601);
    error_before_login.code = Some(ErrorCode::MalformedFrame);
    error_before_login.description = Some("Malformed frame.".into());
    let mut error_reserved_code = EventPayload::new(None, "getUser", 1);
    error_reserved_code.code = Some(ErrorCode::from_code(42));
    error_reserved_code.description = Some(String::new());

    let mut removed = conversation_object(9);
    removed.participants.clear();

    vec![
        created.clone(),
        frame(
            EventName::EditConversation,
            Some("r3"),
            payload(
                "addParticipants",
                Some(5),
                Some(EventObject::Conversation(Box::new(conversation_object(5)))),
            ),
        ),
        frame(
            EventName::GetConversation,
            Some("r4"),
            payload(
                "getConversations",
                Some(8),
                Some(EventObject::Conversation(Box::new(conversation_object(8)))),
            ),
        ),
        frame(
            EventName::RemoveConversation,
            Some("r5"),
            payload(
                "removeEmptyConversation",
                Some(9),
                Some(EventObject::Conversation(Box::new(removed))),
            ),
        ),
        sent.clone(),
        frame(
            EventName::EditMessage,
            None,
            payload(
                "editMessage",
                Some(3),
                Some(EventObject::Message(MessageObject {
                    text: String::new(),
                    ..message_object()
                })),
            ),
        ),
        frame(
            EventName::RemoveMessage,
            Some("r6"),
            payload(
                "removeMessage",
                Some(4),
                Some(EventObject::MessageRef(MessageRefObject {
                    uuid: msg(),
                    conversation: conv(),
                })),
            ),
        ),
        frame(
            EventName::GetUser,
            Some("r7"),
            payload(
                "getUsers",
                None,
                Some(EventObject::User(Box::new(self_view()))),
            ),
        ),
        frame(
            EventName::GetUser,
            Some("r7"),
            payload(
                "getUsers",
                None,
                Some(EventObject::User(Box::new(public_view()))),
            ),
        ),
        frame(
            EventName::EditUser,
            Some("r8"),
            payload(
                "manageNotification",
                None,
                Some(EventObject::User(Box::new(self_view()))),
            ),
        ),
        frame(
            EventName::GetPublicConversations,
            Some("r9"),
            payload(
                "getPublicConversations",
                None,
                Some(EventObject::PublicConversations(
                    PublicConversationsObject {
                        uuid: vec![conv(), conv2()],
                    },
                )),
            ),
        ),
        frame(
            EventName::GetPublicConversations,
            Some("r9b"),
            payload(
                "getPublicConversations",
                None,
                Some(EventObject::PublicConversations(
                    PublicConversationsObject { uuid: vec![] },
                )),
            ),
        ),
        frame(
            EventName::Typing,
            Some("r10"),
            payload(
                "typingMessage",
                None,
                Some(EventObject::Typing(TypingObject {
                    conversation: conv(),
                })),
            ),
        ),
        frame(
            EventName::Read,
            Some("r11"),
            payload(
                "isRead",
                None,
                Some(EventObject::Read(ReadObject {
                    conversation: conv(),
                    seq: Seq(4),
                })),
            ),
        ),
        frame(
            EventName::SetStatus,
            Some("r12"),
            payload(
                "setStatus",
                None,
                Some(EventObject::Status(StatusObject { online: true })),
            ),
        ),
        // Server-initiated offline presence: no request_uuid.
        frame(
            EventName::SetStatus,
            None,
            payload(
                "setStatus",
                None,
                Some(EventObject::Status(StatusObject { online: false })),
            ),
        ),
        frame(
            EventName::Subscribe,
            Some("r13"),
            payload(
                "subscribe",
                None,
                Some(EventObject::UserIds(UserIdsObject {
                    user_id: vec![uid(18), uid(19)],
                })),
            ),
        ),
        frame(
            EventName::Unsubscribe,
            Some("r14"),
            payload(
                "unsubscribe",
                None,
                Some(EventObject::UserIds(UserIdsObject { user_id: vec![] })),
            ),
        ),
        frame(
            EventName::GetSubscriptionList,
            Some("r15"),
            payload(
                "getSubscriptionList",
                None,
                Some(EventObject::SubscriptionList(SubscriptionListObject {
                    subscriptions: vec![uid(19), uid(18)],
                })),
            ),
        ),
        frame(EventName::RetransmitEvents, Some("r16"), retransmit_outer),
        frame(EventName::RetransmitEvents, Some("r16"), retransmit_message),
        frame(EventName::RetransmitEvents, Some("r17"), retransmit_empty),
        frame(EventName::Error, Some("r18"), error),
        frame(EventName::Error, None, error_before_login),
        frame(EventName::Error, Some("r19"), error_reserved_code),
        // An event this version does not know keeps its object as raw JSON.
        frame(
            EventName::Unknown("onSomethingNew".into()),
            None,
            payload(
                "somethingNew",
                Some(7),
                Some(EventObject::Other(json!({"a": [1, "b"]}))),
            ),
        ),
    ]
}

#[test]
fn every_server_frame_round_trips() {
    for f in all_server_frames() {
        let text = f.encode();
        let decoded = ServerFrame::decode(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(decoded, f, "{text}");
        // Idempotent encoding.
        assert_eq!(decoded.encode(), text);
        // from_value agrees with decode.
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ServerFrame::from_value(v).unwrap(), f);
    }
}

#[test]
fn server_frames_cover_every_object_kind() {
    let mut kinds = HashSet::new();
    for f in all_server_frames() {
        let kind = match &f.payload.object {
            None => "none",
            Some(EventObject::Conversation(_)) => "conversation",
            Some(EventObject::Message(_)) => "message",
            Some(EventObject::MessageRef(_)) => "message ref",
            Some(EventObject::User(u)) if u.private_custom_data.is_some() => "user self",
            Some(EventObject::User(_)) => "user public",
            Some(EventObject::PublicConversations(_)) => "public conversations",
            Some(EventObject::Typing(_)) => "typing",
            Some(EventObject::Read(_)) => "read",
            Some(EventObject::Status(_)) => "status",
            Some(EventObject::UserIds(_)) => "user ids",
            Some(EventObject::SubscriptionList(_)) => "subscription list",
            Some(EventObject::Retransmitted(_)) => "retransmitted",
            Some(EventObject::Other(_)) => "other",
            Some(_) => "new kind",
        };
        kinds.insert(kind);
    }
    for k in [
        "none",
        "conversation",
        "message",
        "message ref",
        "user self",
        "user public",
        "public conversations",
        "typing",
        "read",
        "status",
        "user ids",
        "subscription list",
        "retransmitted",
        "other",
    ] {
        assert!(kinds.contains(k), "missing {k}");
    }
}

#[test]
fn server_frame_wire_shape_of_on_send_message() {
    let f = frame(
        EventName::SendMessage,
        Some("5b0e6c9e"),
        payload(
            "sendMessage",
            Some(2),
            Some(EventObject::Message(MessageObject {
                uuid: msg(),
                conversation: conv(),
                text: "hi".into(),
                payload: vec![],
            })),
        ),
    );
    let v: Value = serde_json::from_str(&f.encode()).unwrap();
    assert_eq!(
        v,
        json!({"service": "chat", "event": "onSendMessage", "request_uuid": "5b0e6c9e",
               "payload": {"initiator": 17, "on_incoming_event": "sendMessage", "seq": 2, "timestamp": 1_767_225_600,
                           "object": {"uuid": MSG, "conversation": CONV, "text": "hi", "payload": []}}})
    );
}

#[test]
fn server_frame_wire_shape_of_conversation_and_users() {
    let f = frame(
        EventName::GetConversation,
        Some("q"),
        payload(
            "getConversation",
            Some(5),
            Some(EventObject::Conversation(Box::new(conversation_object(5)))),
        ),
    );
    let v: Value = serde_json::from_str(&f.encode()).unwrap();
    assert_eq!(
        v["payload"]["object"],
        json!({"uuid": CONV, "title": "Team chat", "direct": false, "uber_conversation": true,
               "enable_public_join": true,
               "custom_data": {"topic": "rust", "nested": {"a": [1, 2.5, "x", null, true]}},
               "participants": [{"user_id": 17, "flags": 65535, "last_read": 3},
                                {"user_id": 18, "flags": 7, "last_read": 0},
                                {"user_id": 19, "flags": 0, "last_read": 1}],
               "created_at": 1_767_225_600, "last_update": 1_767_225_700, "last_seq": 5})
    );
    // The public view omits the private fields entirely (not null).
    let public = serde_json::to_value(public_view()).unwrap();
    assert_eq!(
        public,
        json!({"user_id": 18, "user_name": "bob@chat.example", "display_name": "Bob", "custom_data": {}, "deleted": true})
    );
    let own = serde_json::to_value(self_view()).unwrap();
    for key in [
        "private_custom_data",
        "conversations_list",
        "leave_conversations",
        "notification_events",
    ] {
        assert!(own.get(key).is_some(), "self view has {key}");
    }
}

#[test]
fn server_frame_wire_shape_of_errors_and_retransmits() {
    let mut p = EventPayload::new(None, "UNKNOWN", 100);
    p.code = Some(ErrorCode::MalformedFrame);
    p.description = Some("Malformed frame.".into());
    let v: Value = serde_json::from_str(&frame(EventName::Error, None, p).encode()).unwrap();
    assert_eq!(
        v,
        json!({"service": "chat", "event": "onError",
               "payload": {"on_incoming_event": "UNKNOWN", "timestamp": 100, "code": 1, "description": "Malformed frame."}})
    );

    let mut empty = EventPayload::new(Some(uid(17)), "retransmitEvents", 200);
    empty.from_seq = Some(Seq(4));
    empty.to_seq = Some(Seq(6));
    empty.count = Some(0);
    let v: Value =
        serde_json::from_str(&frame(EventName::RetransmitEvents, Some("r"), empty).encode())
            .unwrap();
    assert_eq!(
        v,
        json!({"service": "chat", "event": "onRetransmitEvents", "request_uuid": "r",
               "payload": {"initiator": 17, "on_incoming_event": "retransmitEvents", "timestamp": 200,
                           "from_seq": 4, "to_seq": 6, "count": 0}})
    );

    let inner = payload(
        "sendMessage",
        Some(2),
        Some(EventObject::Message(message_object())),
    );
    let mut outer = EventPayload::new(Some(uid(17)), "retransmitEvents", 300);
    outer.from_seq = Some(Seq(2));
    outer.to_seq = Some(Seq(2));
    outer.count = Some(1);
    outer.object = Some(EventObject::Retransmitted(Box::new(RetransmittedEvent {
        event: EventName::SendMessage,
        payload: inner.clone(),
    })));
    let v: Value =
        serde_json::from_str(&frame(EventName::RetransmitEvents, Some("r"), outer).encode())
            .unwrap();
    assert_eq!(v["payload"]["object"]["event"], json!("onSendMessage"));
    assert_eq!(
        v["payload"]["object"]["payload"],
        serde_json::to_value(&inner).unwrap()
    );
    assert_eq!(v["payload"]["object"]["payload"]["seq"], json!(2));
}

// ---------------------------------------------------------------------------------------------
// Error codes and permissions
// ---------------------------------------------------------------------------------------------

/// Every code of docs/BEHAVIOUR.md section 9 with its variant (42 and 43 are reserved and unnamed).
fn spec_codes() -> Vec<(u32, ErrorCode)> {
    vec![
        (0, ErrorCode::InvalidParameter),
        (1, ErrorCode::MalformedFrame),
        (2, ErrorCode::UnknownEvent),
        (3, ErrorCode::NotLoggedIn),
        (8, ErrorCode::ConversationNotFound),
        (10, ErrorCode::MessageNotFound),
        (11, ErrorCode::MessageRemoved),
        (12, ErrorCode::AccessDenied),
        (13, ErrorCode::AlreadyParticipant),
        (15, ErrorCode::NotPublic),
        (16, ErrorCode::ConversationDeleted),
        (18, ErrorCode::UserValidationFailed),
        (19, ErrorCode::NotParticipant),
        (21, ErrorCode::NothingRequested),
        (22, ErrorCode::TooMany),
        (23, ErrorCode::TextTooLong),
        (24, ErrorCode::SeqBeyondLast),
        (25, ErrorCode::UserNotFound),
        (26, ErrorCode::UnsupportedNotification),
        (28, ErrorCode::RangeReversed),
        (30, ErrorCode::Unavailable),
        (32, ErrorCode::RateLimitSecond),
        (33, ErrorCode::RateLimitMinute),
        (34, ErrorCode::DirectNotPublicOrUber),
        (35, ErrorCode::DirectNeedsOneOther),
        (36, ErrorCode::RetransmitThreeGiven),
        (37, ErrorCode::DirectAdd),
        (38, ErrorCode::DirectRemove),
        (39, ErrorCode::DirectJoin),
        (40, ErrorCode::DirectLeave),
        (41, ErrorCode::RetransmitTooFewGiven),
        (42, ErrorCode::Unknown(42)),
        (43, ErrorCode::Unknown(43)),
        (500, ErrorCode::Internal),
    ]
}

#[test]
fn error_codes_round_trip() {
    for (code, variant) in spec_codes() {
        assert_eq!(ErrorCode::from_code(code), variant, "from_code({code})");
        assert_eq!(variant.code(), code);
        assert_eq!(ErrorCode::from_code(variant.code()), variant);
        assert_eq!(serde_json::to_value(variant).unwrap(), json!(code));
        assert_eq!(
            serde_json::from_value::<ErrorCode>(json!(code)).unwrap(),
            variant
        );
        assert_eq!(
            serde_json::from_value::<ErrorCode>(json!(code.to_string())).unwrap(),
            variant
        );
        assert!(!variant.description().is_empty());
        assert!(variant.to_string().contains(&code.to_string()));
    }
    // Named codes have distinct descriptions from the table.
    assert_eq!(
        ErrorCode::InvalidParameter.description(),
        "Invalid or missing parameter."
    );
    assert_eq!(ErrorCode::AccessDenied.description(), "Access denied.");
    assert_eq!(ErrorCode::from_code(7), ErrorCode::Unknown(7));
    assert_eq!(ErrorCode::Unknown(7).code(), 7);
}

#[test]
fn decode_error_codes() {
    use chatwire_protocol::DecodeError;
    assert_eq!(
        DecodeError::Malformed("x".into()).code(),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        DecodeError::UnknownAction("x".into()).code(),
        ErrorCode::UnknownEvent
    );
    assert_eq!(
        DecodeError::Reserved("x".into()).code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(DecodeError::invalid("f", "r").code().code(), 0);
}

#[test]
fn permission_constants() {
    assert_eq!(Permissions::NONE.bits(), 0);
    assert_eq!(Permissions::WRITE.bits(), 1);
    assert_eq!(Permissions::EDIT.bits(), 2);
    assert_eq!(Permissions::REMOVE.bits(), 4);
    assert_eq!(Permissions::MANAGE.bits(), 8);
    assert_eq!(Permissions::EDIT_ALL.bits(), 16);
    assert_eq!(Permissions::REMOVE_ALL.bits(), 32);
    assert_eq!(Permissions::OWNER.bits(), 32768);
    assert_eq!(Permissions::ALL.bits(), 65535);
    assert_eq!(Permissions::DEFAULT.bits(), 7);
    assert_eq!(Permissions::default(), Permissions::NONE);
    assert_eq!(
        Permissions::WRITE | Permissions::EDIT | Permissions::REMOVE,
        Permissions::DEFAULT
    );
    assert_eq!(Permissions::WRITE | Permissions::OWNER, Permissions::ALL);
    let mut p = Permissions::MANAGE;
    p |= Permissions::WRITE;
    assert_eq!(p.bits(), 9);
    assert_eq!(
        (Permissions::ALL & Permissions::MANAGE),
        Permissions::MANAGE
    );
    assert!(Permissions::ALL.is_owner());
    assert!(!Permissions::DEFAULT.is_owner());
    for bit in [
        Permissions::WRITE,
        Permissions::EDIT,
        Permissions::REMOVE,
        Permissions::MANAGE,
        Permissions::EDIT_ALL,
        Permissions::REMOVE_ALL,
    ] {
        assert!(Permissions::ALL.contains(bit));
    }
    assert!(Permissions::DEFAULT.contains(Permissions::WRITE));
    assert!(!Permissions::DEFAULT.contains(Permissions::MANAGE));
    assert_eq!(format!("{:?}", Permissions::ALL), "Permissions(OWNER)");
    assert_eq!(format!("{:?}", Permissions::NONE), "Permissions(NONE)");
    assert_eq!(
        format!("{:?}", Permissions::DEFAULT),
        "Permissions(WRITE | EDIT | REMOVE)"
    );
}

#[test]
fn permission_normalization() {
    assert_eq!(Permissions::normalize(0), Some(Permissions::NONE));
    assert_eq!(Permissions::normalize(63).map(Permissions::bits), Some(63));
    assert_eq!(Permissions::normalize(64), Some(Permissions::NONE));
    assert_eq!(Permissions::normalize(7 | 128), Some(Permissions::DEFAULT));
    assert_eq!(Permissions::normalize(32768), Some(Permissions::ALL));
    assert_eq!(Permissions::normalize(32768 | 1), Some(Permissions::ALL));
    assert_eq!(Permissions::normalize(65535), Some(Permissions::ALL));
    assert_eq!(Permissions::normalize(65536), None);
    assert_eq!(Permissions::normalize(-1), None);
    assert_eq!(Permissions::normalize(i64::MAX), None);
    // Serde: the normalized value, tolerant input.
    assert_eq!(serde_json::to_value(flags(32768)).unwrap(), json!(65535));
    assert_eq!(
        serde_json::from_value::<Permissions>(json!("135")).unwrap(),
        Permissions::DEFAULT
    );
    assert_eq!(
        serde_json::from_value::<Permissions>(json!(7.0)).unwrap(),
        Permissions::DEFAULT
    );
    assert!(serde_json::from_value::<Permissions>(json!(70000)).is_err());
    assert!(serde_json::from_value::<Permissions>(json!(true)).is_err());
}

#[test]
fn ids_round_trip() {
    assert_eq!(UserId::new(0), None);
    assert_eq!(
        UserId::new(UserId::MAX).map(UserId::get),
        Some((1 << 53) - 1)
    );
    assert_eq!(UserId::new(UserId::MAX + 1), None);
    assert_eq!("17".parse::<UserId>().unwrap(), uid(17));
    assert!("0".parse::<UserId>().is_err());
    assert!("x".parse::<UserId>().is_err());
    assert_eq!(
        serde_json::from_value::<UserId>(json!("17")).unwrap(),
        uid(17)
    );
    assert_eq!(
        serde_json::from_value::<UserId>(json!(17.0)).unwrap(),
        uid(17)
    );
    assert!(serde_json::from_value::<UserId>(json!(0)).is_err());
    assert_eq!(serde_json::to_value(uid(17)).unwrap(), json!(17));

    let upper = CONV.to_uppercase();
    assert_eq!(ConversationId::parse(&upper), Some(conv()));
    assert_eq!(conv().to_string(), CONV);
    assert_eq!(upper.parse::<ConversationId>().unwrap(), conv());
    assert_eq!(serde_json::to_value(conv()).unwrap(), json!(CONV));
    assert_eq!(
        serde_json::from_value::<ConversationId>(json!(upper)).unwrap(),
        conv()
    );
    assert!(serde_json::from_value::<MessageId>(json!("m9f8")).is_err());
    let fresh = ConversationId::new_v4();
    assert_eq!(fresh.as_uuid().get_version_num(), 4);
    assert_eq!(ConversationId::parse(&fresh.to_string()), Some(fresh));
    assert_eq!(Seq(4).next(), Seq(5));
    assert_eq!(Seq(4).get(), 4);
}

// ---------------------------------------------------------------------------------------------
// Property-based round trips
// ---------------------------------------------------------------------------------------------

fn arb_user_id() -> impl Strategy<Value = UserId> {
    (1..=UserId::MAX).prop_map(uid)
}

fn arb_flags() -> impl Strategy<Value = Option<Permissions>> {
    proptest::option::of((0i64..=65535).prop_map(flags))
}

fn arb_small_map() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    proptest::collection::btree_map(
        "[a-z]{1,6}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
            Just(Value::Null),
        ],
        0..4,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn arb_participants() -> impl Strategy<Value = Vec<ParticipantSpec>> {
    proptest::collection::vec(
        (arb_user_id(), arb_flags())
            .prop_map(|(user_id, flags)| ParticipantSpec { user_id, flags }),
        0..5,
    )
}

fn arb_request() -> impl Strategy<Value = Request> {
    let uuid = "[0-9a-f-]{1,36}";
    prop_oneof![
        (
            proptest::option::of(".{0,50}"),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(arb_small_map()),
            arb_participants(),
        )
            .prop_map(
                |(
                    title,
                    direct,
                    enable_public_join,
                    uber_conversation,
                    custom_data,
                    participants,
                )| {
                    Request::CreateConversation(CreateConversation {
                        title,
                        direct,
                        enable_public_join,
                        uber_conversation,
                        custom_data,
                        participants,
                    })
                }
            ),
        (uuid, arb_participants()).prop_map(|(uuid, participants)| Request::AddParticipants(
            ManageParticipants { uuid, participants }
        )),
        (uuid, proptest::collection::vec(arb_user_id(), 0..5)).prop_map(|(uuid, participants)| {
            Request::RemoveParticipants(RemoveParticipants { uuid, participants })
        }),
        (
            uuid,
            ".{1,40}",
            proptest::option::of(proptest::collection::vec(arb_small_map(), 0..3))
        )
            .prop_map(
                |(conversation, text, payload)| Request::SendMessage(SendMessage {
                    conversation,
                    text: Some(text),
                    payload
                })
            ),
        (uuid, any::<i64>())
            .prop_map(|(conversation, seq)| Request::IsRead(IsRead { conversation, seq })),
        (
            uuid,
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>())
        )
            .prop_map(|(conversation, events_from, events_to, count)| {
                Request::RetransmitEvents(RetransmitEvents {
                    conversation,
                    events_from,
                    events_to,
                    count,
                })
            }),
        proptest::collection::vec(
            prop_oneof![
                arb_user_id().prop_map(UserRef::Id),
                ".{0,20}".prop_map(UserRef::Name)
            ],
            0..5
        )
        .prop_map(|users| Request::GetUsers(GetUsers { users })),
        (
            proptest::option::of(proptest::collection::vec(arb_user_id(), 0..5)),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(user_id, all)| Request::Unsubscribe(Unsubscribe { user_id, all })),
        proptest::option::of(proptest::collection::vec(".{0,12}", 0..4)).prop_map(
            |notifications| Request::ManageNotification(ManageNotification { notifications })
        ),
    ]
}

proptest! {
    #[test]
    fn generated_requests_round_trip(request in arb_request(), request_uuid in ".{0,40}") {
        let (frame, decoded) = through_the_wire(&request, &request_uuid);
        prop_assert_eq!(decoded, request);
        prop_assert_eq!(frame.request_uuid, Some(request_uuid));
    }

    #[test]
    fn generated_conversation_frames_round_trip(
        title in ".{1,50}",
        flags in proptest::collection::vec((arb_user_id(), 0i64..=65535, any::<u32>()), 0..6),
        seq in 1u64..1_000_000,
        ts in 0i64..4_000_000_000,
        uuid in proptest::option::of(".{0,40}"),
    ) {
        let mut c = conversation_object(seq);
        c.title = title;
        c.participants = flags
            .into_iter()
            .map(|(user_id, f, r)| ParticipantObject { user_id, flags: Permissions::normalize(f).unwrap(), last_read: Seq(u64::from(r)) })
            .collect();
        let mut p = EventPayload::new(Some(uid(3)), "editParticipants", ts);
        p.seq = Some(Seq(seq));
        p.object = Some(EventObject::Conversation(Box::new(c)));
        let f = ServerFrame { event: EventName::EditConversation, request_uuid: uuid, payload: p };
        prop_assert_eq!(ServerFrame::decode(&f.encode()).unwrap(), f);
    }
}
