//! Micro-benchmarks of the wire codec hot paths (issue 5):
//!
//! - `decode/*`: one client frame as the server receives it, from text to a typed request
//!   ([`parse_client_frame`] + [`MessagingFrame::lookup`] + [`Request::decode`]), or to a
//!   [`ClientSession`] for session frames (`login`, `__ping`);
//! - `encode/*`: one server frame from its typed form to text ([`ServerFrame::encode`]);
//! - `permissions/*`: normalization of raw wire flags and the `contains` permission check.
//!
//! Inputs are built in code and shaped like real traffic: client frames are produced by
//! [`MessagingFrame::encode_request`] (exactly what the SDK sends, `@type` included).
//!
//! Run: `cargo bench -p chatwire-protocol --bench codec` (add `-- --quick` for a short run).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use chatwire_protocol::{
    parse_client_frame, ActionLookup, ClientFrame, ClientSession, ConversationId,
    ConversationObject, CreateConversation, Credential, EditMessage, ErrorCode, EventName,
    EventObject, EventPayload, GetUsers, IsRead, JsonMap, MessageId, MessageObject, MessagingFrame,
    ParticipantObject, ParticipantSpec, Permissions, Request, RetransmitEvents, RetransmittedEvent,
    SendMessage, Seq, ServerFrame, TypingMessage, UserId, UserObject, UserRef,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

const TIMESTAMP: i64 = 1_767_225_600;
const REQUEST_UUID: &str = "0b7c1f0e-5d7a-4f3c-9a51-2f6f0d3c8e11";

fn user(n: u64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn conv_id() -> ConversationId {
    ConversationId::parse("6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f").expect("uuid")
}

fn msg_id() -> MessageId {
    MessageId::parse("3d2b1a09-8c7d-4e6f-8a9b-0c1d2e3f4a5b").expect("uuid")
}

fn map(v: serde_json::Value) -> JsonMap {
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("object literal"),
    }
}

/// A chat message of typical length with one attachment-like payload object.
fn message_text() -> String {
    "Hey, are we still on for the design review at 3pm? I pushed the new mock-ups to the shared \
     folder, take a look when you get a chance."
        .to_string()
}

fn message_payload() -> Vec<JsonMap> {
    vec![map(json!({
        "type": "attachment",
        "name": "mockup-v3.png",
        "size": 482133,
        "url": "https://files.example.com/a/9f8e7d6c/mockup-v3.png",
    }))]
}

// ---------------------------------------------------------------------------------------------
// Client frames (decode).

fn client_frames() -> Vec<(&'static str, String)> {
    let conv = conv_id().to_string();
    let requests: Vec<(&'static str, Request)> = vec![
        (
            "sendMessage",
            Request::SendMessage(SendMessage {
                conversation: conv.clone(),
                text: Some(message_text()),
                payload: Some(message_payload()),
            }),
        ),
        (
            "editMessage",
            Request::EditMessage(EditMessage {
                uuid: msg_id().to_string(),
                conversation: conv.clone(),
                text: Some(message_text()),
                payload: None,
            }),
        ),
        (
            "createConversation",
            Request::CreateConversation(CreateConversation {
                title: Some("Design review".into()),
                direct: Some(false),
                enable_public_join: Some(false),
                uber_conversation: Some(false),
                custom_data: Some(map(json!({"topic": "q3-launch", "color": "#3366ff"}))),
                participants: (2..=11)
                    .map(|n| ParticipantSpec {
                        user_id: user(n),
                        flags: Some(Permissions::DEFAULT),
                    })
                    .collect(),
            }),
        ),
        (
            "getUsers_50",
            Request::GetUsers(GetUsers {
                users: (1..=50).map(|n| UserRef::Id(user(1000 + n))).collect(),
            }),
        ),
        (
            "retransmitEvents",
            Request::RetransmitEvents(RetransmitEvents {
                conversation: conv.clone(),
                events_from: Some(1201),
                events_to: Some(1300),
                count: None,
            }),
        ),
        (
            "isRead",
            Request::IsRead(IsRead {
                conversation: conv.clone(),
                seq: 1300,
            }),
        ),
        (
            "typingMessage",
            Request::TypingMessage(TypingMessage { conversation: conv }),
        ),
    ];
    let mut frames: Vec<(&'static str, String)> = requests
        .into_iter()
        .map(|(name, req)| (name, MessagingFrame::encode_request(&req, REQUEST_UUID)))
        .collect();
    let login_password = ClientSession::Login(Some((
        "alice@chat.example.chatwire".into(),
        Credential::Password("correct horse battery staple".into()),
    )));
    let login_token = ClientSession::Login(Some((
        "alice@chat.example.chatwire".into(),
        Credential::AccessToken("5f0c2a7e9b1d4c3a8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b".into()),
    )));
    frames.push(("login_password", login_password.to_frame().encode()));
    frames.push(("login_token", login_token.to_frame().encode()));
    frames.push(("ping", ClientSession::Ping.to_frame().encode()));
    frames
}

/// What the server does with one text frame before any engine work.
fn decode_client(text: &str) -> Result<Decoded, ()> {
    match parse_client_frame(text).map_err(|_| ())? {
        ClientFrame::Messaging(frame) => {
            let ActionLookup::Action(action) = frame.lookup() else {
                return Err(());
            };
            Request::decode(action, &frame.payload)
                .map(Decoded::Request)
                .map_err(|_| ())
        }
        ClientFrame::Session(frame) => Ok(Decoded::Session(ClientSession::from_frame(&frame))),
    }
}

#[allow(dead_code)] // only black-boxed
enum Decoded {
    Request(Request),
    Session(ClientSession),
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, text) in client_frames() {
        assert!(
            decode_client(&text).is_ok(),
            "{name} does not decode: {text}"
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| decode_client(black_box(text)))
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Server frames (encode).

fn conversation_object(participants: u64) -> ConversationObject {
    ConversationObject {
        uuid: conv_id(),
        title: "All hands".into(),
        direct: false,
        uber_conversation: false,
        enable_public_join: true,
        custom_data: map(json!({"topic": "company-wide", "pinned": ["welcome", "rules"]})),
        participants: (1..=participants)
            .map(|n| ParticipantObject {
                user_id: user(n),
                flags: if n == 1 {
                    Permissions::ALL
                } else {
                    Permissions::DEFAULT
                },
                last_read: Seq(1200 + n % 100),
            })
            .collect(),
        created_at: TIMESTAMP - 86_400,
        last_update: TIMESTAMP,
        last_seq: Seq(1300),
    }
}

fn send_message_payload(seq: u64) -> EventPayload {
    let mut payload = EventPayload::new(Some(user(7)), "sendMessage", TIMESTAMP);
    payload.seq = Some(Seq(seq));
    payload.object = Some(EventObject::Message(MessageObject {
        uuid: msg_id(),
        conversation: conv_id(),
        text: message_text(),
        payload: message_payload(),
    }));
    payload
}

fn server_frames() -> Vec<(&'static str, ServerFrame)> {
    let send = ServerFrame {
        event: EventName::SendMessage,
        request_uuid: Some(REQUEST_UUID.into()),
        payload: send_message_payload(1301),
    };

    let mut edit_payload = EventPayload::new(Some(user(1)), "editConversation", TIMESTAMP);
    edit_payload.seq = Some(Seq(1301));
    edit_payload.object = Some(EventObject::Conversation(Box::new(conversation_object(
        100,
    ))));
    let edit_conversation = ServerFrame {
        event: EventName::EditConversation,
        request_uuid: Some(REQUEST_UUID.into()),
        payload: edit_payload,
    };

    let mut user_payload = EventPayload::new(Some(user(7)), "getUser", TIMESTAMP);
    user_payload.object = Some(EventObject::User(Box::new(UserObject {
        user_id: user(7),
        user_name: "alice@chat.example.chatwire".into(),
        display_name: "Alice Liddell".into(),
        custom_data: map(json!({"avatar": "https://cdn.example.com/u/7.png", "title": "PM"})),
        deleted: false,
        private_custom_data: Some(map(json!({"theme": "dark", "drafts": {"c1": "half a"}}))),
        conversations_list: Some((0..20).map(|_| ConversationId::new_v4()).collect()),
        leave_conversations: Some((0..3).map(|_| ConversationId::new_v4()).collect()),
        notification_events: Some(vec!["onSendMessage".into(), "onEditMessage".into()]),
        store_epoch: Some("2b0f6c1e-6a57-4f0e-b4a4-7d5f1e8c9a20".into()),
    })));
    let get_user_self = ServerFrame {
        event: EventName::GetUser,
        request_uuid: Some(REQUEST_UUID.into()),
        payload: user_payload,
    };

    let mut retransmit_payload = EventPayload::new(Some(user(7)), "retransmitEvents", TIMESTAMP);
    retransmit_payload.from_seq = Some(Seq(1201));
    retransmit_payload.to_seq = Some(Seq(1300));
    retransmit_payload.count = Some(100);
    retransmit_payload.object = Some(EventObject::Retransmitted(Box::new(RetransmittedEvent {
        event: EventName::SendMessage,
        payload: send_message_payload(1250),
    })));
    let retransmit = ServerFrame {
        event: EventName::RetransmitEvents,
        request_uuid: Some(REQUEST_UUID.into()),
        payload: retransmit_payload,
    };

    let mut error_payload = EventPayload::new(Some(user(7)), "sendMessage", TIMESTAMP);
    error_payload.code = Some(ErrorCode::AccessDenied);
    error_payload.description = Some(ErrorCode::AccessDenied.description().into());
    let error = ServerFrame {
        event: EventName::Error,
        request_uuid: Some(REQUEST_UUID.into()),
        payload: error_payload,
    };

    vec![
        ("onSendMessage", send),
        ("onEditConversation_100p", edit_conversation),
        ("onGetUser_self", get_user_self),
        ("onRetransmitEvents", retransmit),
        ("onError", error),
    ]
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, frame) in server_frames() {
        let len = frame.encode().len();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &frame, |b, frame| {
            b.iter(|| black_box(frame).encode())
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Permissions.

fn bench_permissions(c: &mut Criterion) {
    // Raw wire values as participants send them: defaults, managers, owners, junk high bits and
    // out-of-range values.
    let raw: Vec<i64> = (0..1024)
        .map(|i| match i % 8 {
            0 => 7,
            1 => 15,
            2 => 32768,
            3 => 63 | 128,
            4 => 65535,
            5 => 1,
            6 => -1,
            _ => 70_000,
        })
        .collect();
    let held: Vec<Permissions> = raw
        .iter()
        .map(|r| Permissions::normalize(*r).unwrap_or(Permissions::NONE))
        .collect();
    let needed = [
        Permissions::WRITE,
        Permissions::EDIT,
        Permissions::REMOVE,
        Permissions::MANAGE,
        Permissions::EDIT_ALL,
        Permissions::REMOVE_ALL,
        Permissions::OWNER,
        Permissions::MANAGE | Permissions::WRITE,
    ];

    let mut group = c.benchmark_group("permissions");
    group.throughput(Throughput::Elements(raw.len() as u64));
    group.bench_function("normalize_x1024", |b| {
        b.iter(|| {
            black_box(&raw)
                .iter()
                .filter_map(|r| Permissions::normalize(*r))
                .fold(0u32, |acc, p| acc.wrapping_add(u32::from(p.bits())))
        })
    });
    group.bench_function("contains_x1024", |b| {
        b.iter(|| {
            black_box(&held)
                .iter()
                .zip(needed.iter().cycle())
                .filter(|(have, want)| have.contains(**want))
                .count()
        })
    });
    group.finish();

    let mut single = c.benchmark_group("permissions_single");
    single.bench_function("normalize", |b| {
        b.iter(|| Permissions::normalize(black_box(32768 | 7)))
    });
    single.bench_function("contains", |b| {
        b.iter(|| black_box(Permissions::DEFAULT).contains(black_box(Permissions::WRITE)))
    });
    single.finish();
}

criterion_group!(benches, bench_decode, bench_encode, bench_permissions);
criterion_main!(benches);
