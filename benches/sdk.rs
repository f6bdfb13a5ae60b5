//! Micro-benchmarks of the SDK's frame-to-Event dispatch (issue 5).
//!
//! The SDK turns each text frame into an event in `connection::Task::on_text`:
//! `parse_server_frame` (one pass, straight into the typed structs), then `Event::from_frame`. The last
//! step is crate-private (and `EventMeta` is `#[non_exhaustive]`, so an `Event` cannot be built
//! outside the crate), so these benchmarks measure the public equivalent:
//!
//! - `sdk_decode/*`: `ServerFrame::decode` of the raw text (parse + typed decode);
//! - `sdk_dispatch/*`: the same steps as `on_text` up to the event, through public APIs:
//!   `parse_server_frame`, then the model conversion
//!   `Event::from_frame` does (`Message::from(MessageObject)`, `Conversation::from(ConversationObject)`;
//!   for `onRetransmitEvents`, unwrapping the inner event first as `Event::from_retransmitted` does).
//!   What is left out is moving the payload's scalar fields into `EventMeta` (a few moves).
//! - `sdk_catchup_page`: one retransmit page of 100 `onSendMessage` frames, in events/s.
//!
//! The frame texts are byte for byte what the server sends: `onSendMessage` and
//! `onEditConversation` as `ServerFrame::encode` writes them, `onRetransmitEvents` in the
//! server's hand-assembled form (header + stored payload JSON).
//!
//! Run: `cargo bench -p chatwire --bench sdk` (add `-- --quick` for a short run).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use chatwire::protocol::{
    parse_server_frame, ConversationObject, EventName, EventObject, EventPayload, MessageObject,
    ParticipantObject, ServerFrame, ServerMessage,
};
use chatwire::{Conversation, ConversationId, JsonMap, MessageId, Permissions, Seq, UserId};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};

const TIMESTAMP: i64 = 1_767_225_600;
const REQUEST_UUID: &str = "0b7c1f0e-5d7a-4f3c-9a51-2f6f0d3c8e11";

fn user(n: u64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn conv_id() -> ConversationId {
    ConversationId::parse("6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f").expect("uuid")
}

fn map(v: Value) -> JsonMap {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("object literal"),
    }
}

fn message_payload(seq: u64) -> EventPayload {
    let mut payload = EventPayload::new(Some(user(7)), "sendMessage", TIMESTAMP);
    payload.seq = Some(Seq(seq));
    payload.object = Some(EventObject::Message(MessageObject {
        uuid: MessageId::new_v4(),
        conversation: conv_id(),
        text: "Hey, are we still on for the design review at 3pm? I pushed the new mock-ups to \
               the shared folder, take a look when you get a chance."
            .into(),
        payload: vec![map(json!({
            "type": "attachment",
            "name": "mockup-v3.png",
            "size": 482133,
            "url": "https://files.example.com/a/9f8e7d6c/mockup-v3.png",
        }))],
    }));
    payload
}

fn send_message_text(seq: u64) -> String {
    ServerFrame {
        event: EventName::SendMessage,
        request_uuid: None,
        payload: message_payload(seq),
    }
    .encode()
}

fn edit_conversation_text() -> String {
    let mut payload = EventPayload::new(Some(user(1)), "addParticipants", TIMESTAMP);
    payload.seq = Some(Seq(1301));
    payload.object = Some(EventObject::Conversation(Box::new(ConversationObject {
        uuid: conv_id(),
        title: "All hands".into(),
        direct: false,
        uber_conversation: false,
        enable_public_join: true,
        custom_data: map(json!({"topic": "company-wide", "pinned": ["welcome", "rules"]})),
        participants: (1..=100)
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
        last_seq: Seq(1301),
    })));
    ServerFrame {
        event: EventName::EditConversation,
        request_uuid: None,
        payload,
    }
    .encode()
}

/// An `onRetransmitEvents` frame exactly as the server assembles it (`engine/history.rs`):
/// a header, then the stored broadcast payload JSON of the original event.
fn retransmit_text(seq: u64, first: u64, last: u64) -> String {
    let stored = serde_json::to_string(&message_payload(seq)).expect("payload");
    format!(
        r#"{{"service":"chat","event":"onRetransmitEvents","request_uuid":"{REQUEST_UUID}","payload":{{"initiator":7,"on_incoming_event":"retransmitEvents","timestamp":{TIMESTAMP},"from_seq":{first},"to_seq":{last},"count":{},"object":{{"event":"onSendMessage","payload":{stored}}}}}}}"#,
        last - first + 1
    )
}

/// What the SDK produces from a frame, kept only to be black-boxed.
#[allow(dead_code)]
enum Dispatched {
    // The SDK's `Message` is built from these inside the crate (moves only).
    Message(Option<Seq>, Option<UserId>, MessageObject),
    Conversation(Option<Seq>, Conversation),
    Other,
}

/// `on_text` through the public API: parse, classify, typed decode, model conversion.
fn dispatch(text: &str) -> Option<Dispatched> {
    let ServerMessage::Messaging(frame) = parse_server_frame(text).ok()? else {
        return None;
    };
    let (event, payload) = match frame.event {
        EventName::RetransmitEvents => match frame.payload.object? {
            EventObject::Retransmitted(inner) => {
                let inner = *inner;
                (inner.event, inner.payload)
            }
            _ => return None,
        },
        event => (event, frame.payload),
    };
    let seq = payload.seq;
    let initiator = payload.initiator;
    Some(match (event, payload.object?) {
        (EventName::SendMessage | EventName::EditMessage, EventObject::Message(m)) => {
            Dispatched::Message(seq, initiator, m)
        }
        (
            EventName::CreateConversation | EventName::EditConversation,
            EventObject::Conversation(c),
        ) => Dispatched::Conversation(seq, (*c).into()),
        _ => Dispatched::Other,
    })
}

fn frames() -> Vec<(&'static str, String)> {
    vec![
        ("onSendMessage", send_message_text(1301)),
        ("onEditConversation_100p", edit_conversation_text()),
        ("onRetransmitEvents", retransmit_text(1250, 1201, 1300)),
    ]
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("sdk_decode");
    for (name, text) in frames() {
        assert!(ServerFrame::decode(&text).is_ok(), "{name}: {text}");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| ServerFrame::decode(black_box(text)))
        });
    }
    group.finish();
}

fn bench_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("sdk_dispatch");
    for (name, text) in frames() {
        assert!(
            matches!(
                dispatch(&text),
                Some(Dispatched::Message(..) | Dispatched::Conversation(..))
            ),
            "{name} does not dispatch"
        );
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| dispatch(black_box(text)))
        });
    }
    group.finish();
}

fn bench_catchup_page(c: &mut Criterion) {
    let page: Vec<String> = (1201..=1300)
        .map(|seq| retransmit_text(seq, 1201, 1300))
        .collect();
    let mut group = c.benchmark_group("sdk_catchup_page");
    group.throughput(Throughput::Elements(page.len() as u64));
    group.bench_function("onRetransmitEvents_x100", |b| {
        b.iter(|| {
            black_box(&page)
                .iter()
                .filter_map(|text| dispatch(text))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_dispatch, bench_catchup_page);
criterion_main!(benches);
