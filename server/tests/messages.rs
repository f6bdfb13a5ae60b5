//! Messages, typing and read marks (docs/BEHAVIOUR.md sections 6, 7.5, 7.6 and 8), through the real
//! WebSocket interface.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, Harness, TestUser};
use serde_json::{json, Value};

const WRITE: u64 = 1;
const EDIT: u64 = 2;
const REMOVE: u64 = 4;
const EDIT_ALL: u64 = 16;
const REMOVE_ALL: u64 = 32;

const QUIET: Duration = Duration::from_millis(300);

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn fresh_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn uuid_of(frame: &Value) -> String {
    frame["payload"]["object"]["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("no object uuid in {frame}"))
        .to_string()
}

fn seq_of(frame: &Value) -> u64 {
    frame["payload"]["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {frame}"))
}

/// Two users, both logged in, in a conversation created by alice; bob has `bob_flags`.
struct Pair {
    alice: TestUser,
    bob: TestUser,
    a: Client,
    b: Client,
    conv: String,
}

async fn pair(h: &Harness, bob_flags: u64) -> Pair {
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "t", "participants": [{"user_id": bob.im_id, "flags": bob_flags}]}))
        .await;
    b.next_event("onCreateConversation").await;
    Pair {
        alice,
        bob,
        a,
        b,
        conv,
    }
}

async fn send(c: &mut Client, conv: &str, text: &str) -> Value {
    let r = c
        .ok("sendMessage", json!({"conversation": conv, "text": text}))
        .await;
    assert_eq!(r["event"], "onSendMessage", "{r}");
    r
}

/// A conversation of `c` alone that it then leaves, so that it is deleted (D14).
async fn deleted_conversation(c: &mut Client) -> String {
    let conv = c.create(json!({"title": "gone"})).await;
    c.ok("leaveConversation", json!({"uuid": conv})).await;
    c.next_event("onRemoveConversation").await;
    conv
}

async fn last_seq(c: &mut Client, conv: &str) -> u64 {
    let r = c.ok("getConversation", json!({"uuid": conv})).await;
    assert_eq!(r["payload"]["seq"], r["payload"]["object"]["last_seq"]);
    r["payload"]["object"]["last_seq"].as_u64().unwrap()
}

fn last_read_of(conversation_object: &Value, user: u64) -> u64 {
    conversation_object["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == user)
        .unwrap_or_else(|| panic!("{user} not in {conversation_object}"))["last_read"]
        .as_u64()
        .unwrap()
}

// ---------------------------------------------------------------- sendMessage

#[tokio::test]
async fn send_text_only() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let before = now_secs();
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "hello"}),
        )
        .await;
    assert_eq!(r["service"], "chat");
    assert_eq!(r["event"], "onSendMessage");
    let pl = &r["payload"];
    assert_eq!(pl["initiator"], p.alice.im_id);
    assert_eq!(pl["on_incoming_event"], "sendMessage");
    assert_eq!(pl["seq"], 2);
    let ts = pl["timestamp"].as_i64().expect("integer timestamp");
    assert!(ts >= before - 1 && ts <= now_secs() + 1, "timestamp {ts}");
    let obj = pl["object"].as_object().unwrap();
    assert_eq!(obj.len(), 4, "{r}");
    assert_eq!(obj["conversation"], p.conv.as_str());
    assert_eq!(obj["text"], "hello");
    assert_eq!(obj["payload"], json!([]));
    let id = obj["uuid"].as_str().unwrap();
    let parsed = uuid::Uuid::parse_str(id).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(id, id.to_lowercase());
}

#[tokio::test]
async fn send_payload_only_returned_exactly() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let payload = json!([
        {"type": "image", "url": "https://example.com/x.png", "size": {"w": 640, "h": 480}},
        {"nested": [1, 2.5, "três", null, true, {"deep": {"deeper": []}}], "emoji": "😀"},
        {}
    ]);
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "payload": payload}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "");
    assert_eq!(r["payload"]["object"]["payload"], payload);
    let got = p.b.next_event("onSendMessage").await;
    assert_eq!(got["payload"]["object"]["payload"], payload);
    assert_eq!(got["payload"]["object"]["text"], "");
}

#[tokio::test]
async fn send_text_and_payload() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "both", "payload": [{"k": "v"}]}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "both");
    assert_eq!(r["payload"]["object"]["payload"], json!([{"k": "v"}]));
}

#[tokio::test]
async fn send_text_with_empty_payload_gives_empty_array() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "x", "payload": []}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["payload"], json!([]));
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "y", "payload": null}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["payload"], json!([]));
}

#[tokio::test]
async fn send_payload_with_empty_text_gives_empty_string() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "", "payload": [{"a": 1}]}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "");
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": null, "payload": [{"a": 1}]}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "");
}

#[tokio::test]
async fn send_empty_message_is_0() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    for payload in [
        json!({"conversation": p.conv}),
        json!({"conversation": p.conv, "text": ""}),
        json!({"conversation": p.conv, "payload": []}),
        json!({"conversation": p.conv, "text": "", "payload": []}),
        json!({"conversation": p.conv, "text": null, "payload": null}),
    ] {
        assert_eq!(p.a.err("sendMessage", payload).await, 0);
    }
    // Nothing was appended.
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 1);
}

#[tokio::test]
async fn send_payload_elements_not_objects_is_0() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    for bad in [
        json!([1]),
        json!(["x"]),
        json!([{"ok": 1}, 2]),
        json!([[]]),
        json!([null]),
        json!({"not": "a list"}),
        json!("text"),
        json!(5),
    ] {
        assert_eq!(
            p.a.err(
                "sendMessage",
                json!({"conversation": p.conv, "text": "hi", "payload": bad})
            )
            .await,
            0,
            "payload {bad}"
        );
    }
}

#[tokio::test]
async fn send_wrong_types_are_0() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    for payload in [
        json!({"text": "hi"}),
        json!({"conversation": null, "text": "hi"}),
        json!({"conversation": 5, "text": "hi"}),
        json!({"conversation": [p.conv], "text": "hi"}),
        json!({"conversation": p.conv, "text": 5}),
        json!({"conversation": p.conv, "text": ["hi"]}),
        json!({"conversation": p.conv, "text": {"t": "hi"}}),
    ] {
        assert_eq!(
            p.a.err("sendMessage", payload.clone()).await,
            0,
            "{payload}"
        );
    }
}

#[tokio::test]
async fn send_text_over_5000_chars_is_23() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let code =
        p.a.err(
            "sendMessage",
            json!({"conversation": p.conv, "text": "a".repeat(5001)}),
        )
        .await;
    assert_eq!(code, 23);
    let code =
        p.a.err(
            "sendMessage",
            json!({"conversation": p.conv, "text": "é".repeat(5001)}),
        )
        .await;
    assert_eq!(code, 23);
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "a".repeat(5000)}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"].as_str().unwrap().len(), 5000);
}

#[tokio::test]
async fn send_5000_multibyte_chars_is_ok() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    // 5000 characters, 20000 bytes.
    let text = "😀".repeat(5000);
    let r =
        p.a.ok("sendMessage", json!({"conversation": p.conv, "text": text}))
            .await;
    assert_eq!(r["payload"]["object"]["text"], text.as_str());
    let text = "é".repeat(5000);
    let r =
        p.a.ok("sendMessage", json!({"conversation": p.conv, "text": text}))
            .await;
    assert_eq!(r["payload"]["object"]["text"], text.as_str());
}

#[tokio::test]
async fn send_validation_comes_before_conversation_checks() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let unknown = fresh_uuid();
    // empty message → 0 before 8
    assert_eq!(
        p.a.err("sendMessage", json!({"conversation": unknown}))
            .await,
        0
    );
    // payload element → 0 before 8
    assert_eq!(
        p.a.err(
            "sendMessage",
            json!({"conversation": unknown, "text": "x", "payload": [1]})
        )
        .await,
        0
    );
    // 23 before 8
    assert_eq!(
        p.a.err(
            "sendMessage",
            json!({"conversation": unknown, "text": "a".repeat(5001)})
        )
        .await,
        23
    );
    // 23 before 19
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err(
            "sendMessage",
            json!({"conversation": p.conv, "text": "a".repeat(5001)})
        )
        .await,
        23
    );
}

#[tokio::test]
async fn send_unknown_conversation_is_8() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    assert_eq!(
        p.a.err(
            "sendMessage",
            json!({"conversation": fresh_uuid(), "text": "hi"})
        )
        .await,
        8
    );
    assert_eq!(
        p.a.err(
            "sendMessage",
            json!({"conversation": "not-a-uuid", "text": "hi"})
        )
        .await,
        8
    );
}

#[tokio::test]
async fn send_uuid_case_insensitive() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let r =
        p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv.to_uppercase(), "text": "hi"}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["conversation"], p.conv.as_str());
}

#[tokio::test]
async fn send_deleted_conversation_is_16() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = deleted_conversation(&mut a).await;
    assert_eq!(
        a.err("sendMessage", json!({"conversation": conv, "text": "hi"}))
            .await,
        16
    );
}

#[tokio::test]
async fn send_non_participant_is_19() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err("sendMessage", json!({"conversation": p.conv, "text": "hi"}))
            .await,
        19
    );
    // A former participant is not a participant either.
    p.b.ok("leaveConversation", json!({"uuid": p.conv})).await;
    assert_eq!(
        p.b.err("sendMessage", json!({"conversation": p.conv, "text": "hi"}))
            .await,
        19
    );
    // Also for a public conversation the caller has not joined.
    let public =
        p.a.create(json!({"title": "pub", "enable_public_join": true}))
            .await;
    assert_eq!(
        c.err("sendMessage", json!({"conversation": public, "text": "hi"}))
            .await,
        19
    );
}

#[tokio::test]
async fn send_without_write_is_12() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, EDIT | REMOVE | EDIT_ALL | REMOVE_ALL | 8).await;
    assert_eq!(
        p.b.err("sendMessage", json!({"conversation": p.conv, "text": "hi"}))
            .await,
        12
    );
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 1);
    p.a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn send_seq_increments_by_one() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    for i in 0..5u64 {
        let c = if i % 2 == 0 { &mut p.a } else { &mut p.b };
        let r = send(c, &p.conv, &format!("m{i}")).await;
        assert_eq!(seq_of(&r), 2 + i);
    }
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 6);
    // The object's last_update is the latest event's timestamp.
    let g = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    assert!(g["payload"]["object"]["last_update"].is_i64());
}

#[tokio::test]
async fn send_broadcast_to_every_participant_connection_once() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let mut d1 = h.login(&dave).await;
    let mut anon = h.connect().await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    for c in [&mut a2, &mut b1, &mut b2, &mut c1] {
        c.next_event("onCreateConversation").await;
    }

    let rid = fresh_uuid();
    a1.send(
        json!({"service": "chat", "event": "sendMessage", "request_uuid": rid,
                   "payload": {"conversation": conv, "text": "to all"}}),
    )
    .await;
    let result = a1.reply_to(&rid).await;
    assert_eq!(result["event"], "onSendMessage");
    for c in [&mut a2, &mut b1, &mut b2, &mut c1] {
        let got = c.next_event("onSendMessage").await;
        assert_eq!(got["request_uuid"], rid.as_str(), "{got}");
        assert_eq!(got["payload"], result["payload"]);
        c.expect_silence(QUIET).await;
    }
    // The calling connection gets its result and no broadcast copy.
    a1.expect_silence(QUIET).await;
    // Non-participants and not-logged-in connections get nothing.
    d1.expect_silence(QUIET).await;
    anon.expect_silence(QUIET).await;
}

#[tokio::test]
async fn send_without_request_uuid_result_and_broadcast_carry_none() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    p.a.send(json!({"service": "chat", "event": "sendMessage",
                    "payload": {"conversation": p.conv, "text": "x"}}))
        .await;
    let r = p.a.next_event("onSendMessage").await;
    assert!(r.get("request_uuid").is_none(), "{r}");
    let got = p.b.next_event("onSendMessage").await;
    assert!(got.get("request_uuid").is_none(), "{got}");
}

#[tokio::test]
async fn send_timestamps_integer_seconds_never_decreasing() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let created = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    let mut prev = created["payload"]["object"]["created_at"].as_i64().unwrap();
    for i in 0..6 {
        let before = now_secs();
        let r = send(&mut p.a, &p.conv, &format!("{i}")).await;
        let ts = &r["payload"]["timestamp"];
        assert!(ts.is_i64() || ts.is_u64(), "integer timestamp: {r}");
        let ts = ts.as_i64().unwrap();
        // Seconds, not milliseconds.
        assert!(ts >= before - 1 && ts <= now_secs() + 1, "{ts}");
        assert!(ts >= prev, "timestamp decreased: {ts} < {prev}");
        prev = ts;
        if i == 2 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    let g = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    assert_eq!(g["payload"]["object"]["last_update"], prev);
}

// ---------------------------------------------------------------- editMessage

#[tokio::test]
async fn edit_unknown_message_is_10() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    send(&mut p.a, &p.conv, "x").await;
    for uuid in [fresh_uuid(), "nope".to_string()] {
        assert_eq!(
            p.a.err(
                "editMessage",
                json!({"uuid": uuid, "conversation": p.conv, "text": "y"})
            )
            .await,
            10
        );
    }
}

#[tokio::test]
async fn edit_message_of_other_conversation_is_10() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let other = p.a.create(json!({"title": "other"})).await;
    let m = uuid_of(&send(&mut p.a, &other, "elsewhere").await);
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "y"})
        )
        .await,
        10
    );
    assert_eq!(
        p.a.err("removeMessage", json!({"uuid": m, "conversation": p.conv}))
            .await,
        10
    );
}

#[tokio::test]
async fn edit_removed_message_is_11() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "x").await);
    p.a.ok("removeMessage", json!({"uuid": m, "conversation": p.conv}))
        .await;
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "y"})
        )
        .await,
        11
    );
}

#[tokio::test]
async fn edit_own_without_edit_is_12() {
    let h = Harness::unlimited().await;
    // write + remove + edit_all, but not edit: own messages need `edit` (most literal reading).
    let mut p = pair(&h, WRITE | REMOVE | EDIT_ALL).await;
    let m = uuid_of(&send(&mut p.b, &p.conv, "mine").await);
    assert_eq!(
        p.b.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "y"})
        )
        .await,
        12
    );
    // The empty-result check (0) comes after the permission check (12).
    assert_eq!(
        p.b.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": ""})
        )
        .await,
        12
    );
}

#[tokio::test]
async fn edit_others_without_edit_all_is_12() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, WRITE | EDIT | REMOVE).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "alice's").await);
    p.b.next_event("onSendMessage").await;
    assert_eq!(
        p.b.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "hijack"})
        )
        .await,
        12
    );
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 2);
}

#[tokio::test]
async fn edit_others_with_edit_all_is_allowed() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, EDIT_ALL).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "alice's").await);
    p.b.next_event("onSendMessage").await;
    let r =
        p.b.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "edited by bob"}),
        )
        .await;
    assert_eq!(r["event"], "onEditMessage");
    assert_eq!(r["payload"]["initiator"], p.bob.im_id);
    assert_eq!(r["payload"]["object"]["text"], "edited by bob");
    assert_eq!(r["payload"]["object"]["uuid"], m.as_str());
    let got = p.a.next_event("onEditMessage").await;
    assert_eq!(got["payload"], r["payload"]);
}

#[tokio::test]
async fn edit_full_message_new_seq_uuid_kept_broadcast() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    a2.next_event("onCreateConversation").await;
    b.next_event("onCreateConversation").await;
    let sent = a1
        .ok(
            "sendMessage",
            json!({"conversation": conv, "text": "v1", "payload": [{"p": 1}]}),
        )
        .await;
    let m = uuid_of(&sent);
    a2.next_event("onSendMessage").await;
    b.next_event("onSendMessage").await;

    let rid = fresh_uuid();
    a1.send(
        json!({"service": "chat", "event": "editMessage", "request_uuid": rid,
                   "payload": {"uuid": m, "conversation": conv, "text": "v2"}}),
    )
    .await;
    let r = a1.reply_to(&rid).await;
    assert_eq!(r["event"], "onEditMessage");
    let pl = &r["payload"];
    assert_eq!(pl["seq"], 3);
    assert_eq!(pl["on_incoming_event"], "editMessage");
    assert_eq!(pl["initiator"], alice.im_id);
    assert!(pl["timestamp"].is_i64());
    assert_eq!(
        pl["object"],
        json!({"uuid": m, "conversation": conv, "text": "v2", "payload": [{"p": 1}]})
    );
    for c in [&mut a2, &mut b] {
        let got = c.next_event("onEditMessage").await;
        assert_eq!(got["request_uuid"], rid.as_str());
        assert_eq!(got["payload"], r["payload"]);
        c.expect_silence(QUIET).await;
    }
    a1.expect_silence(QUIET).await;
    assert_eq!(last_seq(&mut a1, &conv).await, 3);
}

#[tokio::test]
async fn edit_absent_text_keeps_text() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(
        &p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "keep me", "payload": [{"old": true}]}),
        )
        .await,
    );
    let r =
        p.a.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "payload": [{"new": true}]}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "keep me");
    assert_eq!(r["payload"]["object"]["payload"], json!([{"new": true}]));
    // null counts as absent
    let r =
        p.a.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": null, "payload": [{"n": 2}]}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "keep me");
    assert_eq!(r["payload"]["object"]["payload"], json!([{"n": 2}]));
}

#[tokio::test]
async fn edit_absent_payload_keeps_payload() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(
        &p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "text": "old", "payload": [{"keep": [1, 2]}]}),
        )
        .await,
    );
    let r =
        p.a.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "new"}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "new");
    assert_eq!(r["payload"]["object"]["payload"], json!([{"keep": [1, 2]}]));
    let r =
        p.a.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "newer", "payload": null}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["payload"], json!([{"keep": [1, 2]}]));
    // Given text "" with a kept non-empty payload is fine.
    let r =
        p.a.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": ""}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "");
    assert_eq!(r["payload"]["object"]["payload"], json!([{"keep": [1, 2]}]));
}

#[tokio::test]
async fn edit_with_neither_field_keeps_message_and_appends() {
    // Most literal reading: an edit giving neither field passes every check of §6.
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "same").await);
    let r =
        p.a.ok("editMessage", json!({"uuid": m, "conversation": p.conv}))
            .await;
    assert_eq!(r["payload"]["seq"], 3);
    assert_eq!(r["payload"]["object"]["text"], "same");
    assert_eq!(r["payload"]["object"]["payload"], json!([]));
}

#[tokio::test]
async fn edit_both_empty_given_is_0_before_other_checks() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "x").await);
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "", "payload": []})
        )
        .await,
        0
    );
    // Before 8 (unknown conversation) and 10 (unknown message).
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": fresh_uuid(), "conversation": fresh_uuid(), "text": "", "payload": []})
        )
        .await,
        0
    );
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 2);
}

#[tokio::test]
async fn edit_resulting_empty_is_0() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let text_only = uuid_of(&send(&mut p.a, &p.conv, "x").await);
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": text_only, "conversation": p.conv, "text": ""})
        )
        .await,
        0
    );
    let payload_only = uuid_of(
        &p.a.ok(
            "sendMessage",
            json!({"conversation": p.conv, "payload": [{"a": 1}]}),
        )
        .await,
    );
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": payload_only, "conversation": p.conv, "payload": []})
        )
        .await,
        0
    );
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 3);
}

#[tokio::test]
async fn edit_validation_codes() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "x").await);
    // wrong types / missing fields
    for payload in [
        json!({"conversation": p.conv, "text": "y"}),
        json!({"uuid": m, "text": "y"}),
        json!({"uuid": 5, "conversation": p.conv, "text": "y"}),
        json!({"uuid": m, "conversation": p.conv, "text": 5}),
        json!({"uuid": m, "conversation": p.conv, "payload": [1]}),
        json!({"uuid": m, "conversation": p.conv, "payload": {"a": 1}}),
    ] {
        assert_eq!(
            p.a.err("editMessage", payload.clone()).await,
            0,
            "{payload}"
        );
    }
    // 23, also before 8
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "a".repeat(5001)})
        )
        .await,
        23
    );
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": fresh_uuid(), "text": "a".repeat(5001)})
        )
        .await,
        23
    );
    // 5000 multi-byte characters is fine
    let r =
        p.a.ok(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "ж".repeat(5000)}),
        )
        .await;
    assert_eq!(r["event"], "onEditMessage");
    // 8
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": fresh_uuid(), "text": "y"})
        )
        .await,
        8
    );
    // 19 before 10
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err(
            "editMessage",
            json!({"uuid": fresh_uuid(), "conversation": p.conv, "text": "y"})
        )
        .await,
        19
    );
    // 16
    let gone = deleted_conversation(&mut p.a).await;
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": gone, "text": "y"})
        )
        .await,
        16
    );
}

#[tokio::test]
async fn edit_own_after_leaving_and_rejoining_public() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "pub", "enable_public_join": true}))
        .await;
    let alices = uuid_of(&send(&mut a, &conv, "alice's").await);
    b.ok("joinConversation", json!({"uuid": conv})).await;
    let bobs = uuid_of(&send(&mut b, &conv, "bob's").await);
    let bobs2 = uuid_of(&send(&mut b, &conv, "bob's second").await);
    b.ok("leaveConversation", json!({"uuid": conv})).await;
    b.ok("joinConversation", json!({"uuid": conv})).await;
    // Flags 7: edit and remove own, nothing of others'.
    let r = b
        .ok(
            "editMessage",
            json!({"uuid": bobs, "conversation": conv, "text": "still mine"}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["text"], "still mine");
    assert_eq!(r["payload"]["initiator"], bob.im_id);
    b.ok(
        "removeMessage",
        json!({"uuid": bobs2, "conversation": conv}),
    )
    .await;
    assert_eq!(
        b.err(
            "editMessage",
            json!({"uuid": alices, "conversation": conv, "text": "not mine"})
        )
        .await,
        12
    );
    assert_eq!(
        b.err(
            "removeMessage",
            json!({"uuid": alices, "conversation": conv})
        )
        .await,
        12
    );
}

// ---------------------------------------------------------------- removeMessage

#[tokio::test]
async fn remove_unknown_is_10_and_twice_is_11() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    assert_eq!(
        p.a.err(
            "removeMessage",
            json!({"uuid": fresh_uuid(), "conversation": p.conv})
        )
        .await,
        10
    );
    let m = uuid_of(&send(&mut p.a, &p.conv, "x").await);
    p.a.ok("removeMessage", json!({"uuid": m, "conversation": p.conv}))
        .await;
    assert_eq!(
        p.a.err("removeMessage", json!({"uuid": m, "conversation": p.conv}))
            .await,
        11
    );
    assert_eq!(last_seq(&mut p.a, &p.conv).await, 3);
}

#[tokio::test]
async fn remove_own_without_remove_is_12() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, WRITE | EDIT | REMOVE_ALL).await;
    let m = uuid_of(&send(&mut p.b, &p.conv, "mine").await);
    assert_eq!(
        p.b.err("removeMessage", json!({"uuid": m, "conversation": p.conv}))
            .await,
        12
    );
}

#[tokio::test]
async fn remove_others_without_remove_all_is_12() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, WRITE | EDIT | REMOVE | EDIT_ALL).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "alice's").await);
    assert_eq!(
        p.b.err("removeMessage", json!({"uuid": m, "conversation": p.conv}))
            .await,
        12
    );
}

#[tokio::test]
async fn remove_others_with_remove_all_is_allowed() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, REMOVE_ALL).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "alice's").await);
    let r =
        p.b.ok("removeMessage", json!({"uuid": m, "conversation": p.conv}))
            .await;
    assert_eq!(r["event"], "onRemoveMessage");
    assert_eq!(r["payload"]["initiator"], p.bob.im_id);
}

#[tokio::test]
async fn remove_validation_codes() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "x").await);
    for payload in [
        json!({"conversation": p.conv}),
        json!({"uuid": m}),
        json!({"uuid": 1, "conversation": p.conv}),
        json!({"uuid": m, "conversation": true}),
    ] {
        assert_eq!(
            p.a.err("removeMessage", payload.clone()).await,
            0,
            "{payload}"
        );
    }
    assert_eq!(
        p.a.err(
            "removeMessage",
            json!({"uuid": m, "conversation": fresh_uuid()})
        )
        .await,
        8
    );
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err("removeMessage", json!({"uuid": m, "conversation": p.conv}))
            .await,
        19
    );
    let gone = deleted_conversation(&mut p.a).await;
    assert_eq!(
        p.a.err("removeMessage", json!({"uuid": m, "conversation": gone}))
            .await,
        16
    );
}

#[tokio::test]
async fn remove_event_carries_only_uuid_and_conversation() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    a2.next_event("onCreateConversation").await;
    b.next_event("onCreateConversation").await;
    let m = uuid_of(
        &a1.ok(
            "sendMessage",
            json!({"conversation": conv, "text": "bye", "payload": [{"x": 1}]}),
        )
        .await,
    );
    a2.next_event("onSendMessage").await;
    b.next_event("onSendMessage").await;
    let rid = fresh_uuid();
    a1.send(
        json!({"service": "chat", "event": "removeMessage", "request_uuid": rid,
                   "payload": {"uuid": m.to_uppercase(), "conversation": conv}}),
    )
    .await;
    let r = a1.reply_to(&rid).await;
    assert_eq!(r["event"], "onRemoveMessage");
    assert_eq!(r["payload"]["seq"], 3);
    assert_eq!(r["payload"]["on_incoming_event"], "removeMessage");
    assert_eq!(r["payload"]["initiator"], alice.im_id);
    assert_eq!(
        r["payload"]["object"],
        json!({"uuid": m, "conversation": conv})
    );
    for c in [&mut a2, &mut b] {
        let got = c.next_event("onRemoveMessage").await;
        assert_eq!(got["request_uuid"], rid.as_str());
        assert_eq!(got["payload"], r["payload"]);
        c.expect_silence(QUIET).await;
    }
    a1.expect_silence(QUIET).await;
    assert_eq!(last_seq(&mut a1, &conv).await, 3);
}

#[tokio::test]
async fn remove_then_edit_is_11_and_log_keeps_send() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let sent = send(&mut p.b, &p.conv, "soon gone").await;
    let m = uuid_of(&sent);
    p.b.ok("removeMessage", json!({"uuid": m, "conversation": p.conv}))
        .await;
    assert_eq!(
        p.b.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "text": "again"})
        )
        .await,
        11
    );
    // Owner with edit_all gets 11 too.
    assert_eq!(
        p.a.err(
            "editMessage",
            json!({"uuid": m, "conversation": p.conv, "payload": [{"a": 1}]})
        )
        .await,
        11
    );
    // The earlier event stays in the log.
    let r =
        p.b.ok(
            "retransmitEvents",
            json!({"conversation": p.conv, "events_from": 2, "count": 1}),
        )
        .await;
    assert_eq!(r["payload"]["object"]["event"], "onSendMessage");
    assert_eq!(r["payload"]["object"]["payload"], sent["payload"]);
}

// ---------------------------------------------------------------- typingMessage

#[tokio::test]
async fn typing_without_write_is_12() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, EDIT | REMOVE).await;
    assert_eq!(
        p.b.err("typingMessage", json!({"conversation": p.conv}))
            .await,
        12
    );
    p.a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn typing_checks() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err("typingMessage", json!({"conversation": p.conv}))
            .await,
        19
    );
    assert_eq!(
        p.a.err("typingMessage", json!({"conversation": fresh_uuid()}))
            .await,
        8
    );
    assert_eq!(p.a.err("typingMessage", json!({})).await, 0);
    assert_eq!(
        p.a.err("typingMessage", json!({"conversation": 1})).await,
        0
    );
    let gone = deleted_conversation(&mut p.a).await;
    assert_eq!(
        p.a.err("typingMessage", json!({"conversation": gone}))
            .await,
        16
    );
}

#[tokio::test]
async fn typing_goes_to_others_not_callers_other_connections() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    for c in [&mut a2, &mut b1, &mut b2] {
        c.next_event("onCreateConversation").await;
    }
    let rid = fresh_uuid();
    a1.send(
        json!({"service": "chat", "event": "typingMessage", "request_uuid": rid,
                   "payload": {"conversation": conv}}),
    )
    .await;
    let r = a1.reply_to(&rid).await;
    assert_eq!(r["event"], "onTyping");
    assert_eq!(r["payload"]["initiator"], alice.im_id);
    assert_eq!(r["payload"]["on_incoming_event"], "typingMessage");
    assert_eq!(r["payload"]["object"], json!({"conversation": conv}));
    assert!(r["payload"].get("seq").is_none(), "{r}");
    assert!(r["payload"]["timestamp"].is_i64());
    for c in [&mut b1, &mut b2] {
        let got = c.next_event("onTyping").await;
        assert_eq!(got["payload"]["initiator"], alice.im_id);
        assert_eq!(got["payload"]["object"], json!({"conversation": conv}));
        assert_eq!(got["request_uuid"], rid.as_str());
        c.expect_silence(QUIET).await;
    }
    a1.expect_silence(QUIET).await;
    a2.expect_silence(QUIET).await;
    c1.expect_silence(QUIET).await;
    // Nothing stored.
    assert_eq!(last_seq(&mut a1, &conv).await, 1);
}

// ---------------------------------------------------------------- isRead

#[tokio::test]
async fn is_read_beyond_last_is_24() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    send(&mut p.a, &p.conv, "x").await;
    assert_eq!(
        p.b.err("isRead", json!({"conversation": p.conv, "seq": 3}))
            .await,
        24
    );
    let r =
        p.b.ok("isRead", json!({"conversation": p.conv, "seq": 2}))
            .await;
    assert_eq!(r["payload"]["object"]["seq"], 2);
}

#[tokio::test]
async fn is_read_checks() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 0).await;
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err("isRead", json!({"conversation": p.conv, "seq": 1}))
            .await,
        19
    );
    assert_eq!(
        p.a.err("isRead", json!({"conversation": fresh_uuid(), "seq": 1}))
            .await,
        8
    );
    assert_eq!(p.a.err("isRead", json!({"conversation": p.conv})).await, 0);
    assert_eq!(
        p.a.err("isRead", json!({"conversation": p.conv, "seq": "x"}))
            .await,
        0
    );
    assert_eq!(
        p.a.err("isRead", json!({"conversation": p.conv, "seq": 1.5}))
            .await,
        0
    );
    assert_eq!(p.a.err("isRead", json!({"seq": 1})).await, 0);
    let gone = deleted_conversation(&mut p.a).await;
    assert_eq!(
        p.a.err("isRead", json!({"conversation": gone, "seq": 1}))
            .await,
        16
    );
    // A participant without any permission may still mark read.
    let r =
        p.b.ok("isRead", json!({"conversation": p.conv, "seq": "1"}))
            .await;
    assert_eq!(r["payload"]["object"]["seq"], 1);
}

#[tokio::test]
async fn is_read_below_one_stores_one() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    send(&mut p.a, &p.conv, "x").await;
    for seq in [json!(0), json!(-3), json!("0")] {
        let r =
            p.b.ok("isRead", json!({"conversation": p.conv, "seq": seq}))
                .await;
        assert_eq!(r["event"], "isRead");
        assert_eq!(r["payload"]["object"]["seq"], 1, "seq {seq}");
    }
    let g = p.b.ok("getConversation", json!({"uuid": p.conv})).await;
    assert_eq!(last_read_of(&g["payload"]["object"], p.bob.im_id), 1);
}

#[tokio::test]
async fn is_read_can_move_backwards_and_shows_in_get() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    for i in 0..4 {
        send(&mut p.a, &p.conv, &format!("{i}")).await;
    }
    let g = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    assert_eq!(last_read_of(&g["payload"]["object"], p.bob.im_id), 0);
    p.b.ok("isRead", json!({"conversation": p.conv, "seq": 5}))
        .await;
    let g = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    assert_eq!(last_read_of(&g["payload"]["object"], p.bob.im_id), 5);
    assert_eq!(last_read_of(&g["payload"]["object"], p.alice.im_id), 0);
    let r =
        p.b.ok("isRead", json!({"conversation": p.conv, "seq": 3}))
            .await;
    assert_eq!(r["payload"]["object"]["seq"], 3);
    let g = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    assert_eq!(last_read_of(&g["payload"]["object"], p.bob.im_id), 3);
    // Also in later persisted snapshots.
    let e =
        p.a.ok("editConversation", json!({"uuid": p.conv, "title": "t2"}))
            .await;
    assert_eq!(last_read_of(&e["payload"]["object"], p.bob.im_id), 3);
}

#[tokio::test]
async fn is_read_consumes_no_seq_and_keeps_last_update() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    send(&mut p.a, &p.conv, "x").await;
    let before = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r =
        p.b.ok("isRead", json!({"conversation": p.conv, "seq": 2}))
            .await;
    assert!(r["payload"].get("seq").is_none(), "{r}");
    let after = p.a.ok("getConversation", json!({"uuid": p.conv})).await;
    assert_eq!(after["payload"]["seq"], 2);
    assert_eq!(after["payload"]["object"]["last_seq"], 2);
    assert_eq!(
        after["payload"]["object"]["last_update"],
        before["payload"]["object"]["last_update"]
    );
    // The next message takes seq 3.
    assert_eq!(seq_of(&send(&mut p.a, &p.conv, "y").await), 3);
}

#[tokio::test]
async fn is_read_broadcast_to_all_participants() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    a2.next_event("onCreateConversation").await;
    b1.next_event("onCreateConversation").await;
    b2.next_event("onCreateConversation").await;
    let rid = fresh_uuid();
    b1.send(
        json!({"service": "chat", "event": "isRead", "request_uuid": rid,
                   "payload": {"conversation": conv, "seq": 1}}),
    )
    .await;
    let r = b1.reply_to(&rid).await;
    assert_eq!(r["event"], "isRead");
    assert_eq!(r["payload"]["initiator"], bob.im_id);
    assert_eq!(r["payload"]["on_incoming_event"], "isRead");
    assert_eq!(
        r["payload"]["object"],
        json!({"conversation": conv, "seq": 1})
    );
    // All participants' connections, the caller's other connection included.
    for c in [&mut a1, &mut a2, &mut b2] {
        let got = c.next_event("isRead").await;
        assert_eq!(got["request_uuid"], rid.as_str());
        assert_eq!(got["payload"]["object"], r["payload"]["object"]);
        assert_eq!(got["payload"]["initiator"], bob.im_id);
        c.expect_silence(QUIET).await;
    }
    b1.expect_silence(QUIET).await;
    c1.expect_silence(QUIET).await;
}

// ---------------------------------------------------------------- recipients between messages

/// The server reuses a conversation's list of receiving connections from one event to the
/// next; a login, a disconnect or a new participant in between must still be seen.
#[tokio::test]
async fn recipients_follow_logins_disconnects_and_new_participants() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    send(&mut p.a, &p.conv, "one").await;
    p.b.next_event("onSendMessage").await;

    // A second connection of bob, opened after the first message.
    let mut b2 = h.login(&p.bob).await;
    send(&mut p.a, &p.conv, "two").await;
    for c in [&mut p.b, &mut b2] {
        let e = c.next_event("onSendMessage").await;
        assert_eq!(e["payload"]["object"]["text"], "two");
    }

    // The first connection goes away; the second still receives.
    drop(p.b);
    send(&mut p.a, &p.conv, "three").await;
    let e = b2.next_event("onSendMessage").await;
    assert_eq!(e["payload"]["object"]["text"], "three");

    // A new participant receives from the next event on.
    let carol = h.user("carol").await;
    let mut c1 = h.login(&carol).await;
    p.a.ok(
        "addParticipants",
        json!({"uuid": p.conv, "participants": [{"user_id": carol.im_id, "flags": 7}]}),
    )
    .await;
    send(&mut p.a, &p.conv, "four").await;
    for c in [&mut b2, &mut c1] {
        let e = c.next_event("onSendMessage").await;
        assert_eq!(e["payload"]["object"]["text"], "four");
    }
}

// ---------------------------------------------------------------- live delivery after removal

#[tokio::test]
async fn removed_user_receives_no_live_message_events() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let mut b2 = h.login(&p.bob).await;
    let m = uuid_of(&send(&mut p.a, &p.conv, "before").await);
    p.b.next_event("onSendMessage").await;
    b2.next_event("onSendMessage").await;
    p.a.ok(
        "removeParticipants",
        json!({"uuid": p.conv, "participants": [p.bob.im_id]}),
    )
    .await;
    for c in [&mut p.b, &mut b2] {
        let e = c.next_event("onEditConversation").await;
        assert_eq!(e["payload"]["on_incoming_event"], "removeParticipants");
    }
    send(&mut p.a, &p.conv, "after").await;
    p.a.ok(
        "editMessage",
        json!({"uuid": m, "conversation": p.conv, "text": "edited"}),
    )
    .await;
    p.a.ok("removeMessage", json!({"uuid": m, "conversation": p.conv}))
        .await;
    p.a.ok("typingMessage", json!({"conversation": p.conv}))
        .await;
    p.a.ok("isRead", json!({"conversation": p.conv, "seq": 1}))
        .await;
    p.b.expect_silence(QUIET).await;
    b2.expect_silence(QUIET).await;
    // The removed user can no longer act on messages.
    assert_eq!(
        p.b.err("isRead", json!({"conversation": p.conv, "seq": 1}))
            .await,
        19
    );
    assert_eq!(
        p.b.err("typingMessage", json!({"conversation": p.conv}))
            .await,
        19
    );
}

#[tokio::test]
async fn left_user_receives_no_live_message_events() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    p.b.ok("leaveConversation", json!({"uuid": p.conv})).await;
    p.a.next_event("onEditConversation").await;
    send(&mut p.a, &p.conv, "after").await;
    p.b.expect_silence(QUIET).await;
}

// ---------------------------------------------------------------- ordering under concurrency

async fn collect_seqs(mut c: Client, total: usize) -> (Client, Vec<u64>) {
    let mut seqs = Vec::with_capacity(total);
    while seqs.len() < total {
        let v = c
            .next()
            .await
            .unwrap_or_else(|| panic!("stream ended after {} frames", seqs.len()));
        assert_eq!(v["event"], "onSendMessage", "{v}");
        seqs.push(seq_of(&v));
    }
    (c, seqs)
}

async fn burst(mut c: Client, conv: String, tag: &'static str, n: usize) -> (Client, Vec<u64>) {
    for i in 0..n {
        c.send(json!({"service": "chat", "event": "sendMessage",
                      "request_uuid": format!("{tag}-{i}"),
                      "payload": {"conversation": conv, "text": format!("{tag} {i}")}}))
            .await;
        if i % 5 == 0 {
            tokio::task::yield_now().await;
        }
    }
    collect_seqs(c, 2 * n).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_conversation_order_under_concurrent_senders() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    for c in [&mut a2, &mut b1, &mut b2, &mut c1] {
        c.next_event("onCreateConversation").await;
    }
    let n = 50;
    let sa = tokio::spawn(burst(a1, conv.clone(), "a", n));
    let sb = tokio::spawn(burst(b1, conv.clone(), "b", n));
    let watchers: Vec<_> = [a2, b2, c1]
        .into_iter()
        .map(|c| tokio::spawn(collect_seqs(c, 2 * n)))
        .collect();
    let expected: Vec<u64> = (2..=101).collect();
    let mut all = vec![sa.await.unwrap(), sb.await.unwrap()];
    for w in watchers {
        all.push(w.await.unwrap());
    }
    for (mut c, seqs) in all {
        assert_eq!(seqs, expected, "connection of user {:?}", c.user);
        c.expect_silence(QUIET).await;
    }
    assert_eq!(last_seq(&mut h.login(&alice).await, &conv).await, 101);
}

/// Reads the raw text of the next text frame.
async fn raw_next(c: &mut Client) -> String {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), c.ws.next())
            .await
            .expect("frame in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = m {
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn send_payload_raw_text_preserved() {
    let h = Harness::unlimited().await;
    let mut p = pair(&h, 7).await;
    let sent = r#"[{"zeta":1,"alpha":{"y":2,"b":3}},{"n":-7,"f":0.5,"big":18446744073709551615}]"#;
    let frame = format!(
        r#"{{"service":"chat","event":"sendMessage","request_uuid":"raw-1","payload":{{"conversation":"{}","payload":{sent}}}}}"#,
        p.conv
    );
    p.a.send_text(&frame).await;
    let text = raw_next(&mut p.a).await;
    assert!(text.contains(sent), "payload not returned as sent: {text}");
}
