//! Malformed input, frame size, rate limits and value tolerance (docs/BEHAVIOUR.md 2.1, 2.3, 9, 10).

mod common;

use std::time::Duration;

use chatwire_server::Storage;
use common::{Client, Harness, TestUser};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SILENCE: Duration = Duration::from_millis(300);

fn config() -> chatwire_server::Config {
    chatwire_server::testing::config(Storage::Memory)
}

/// Sends raw text and returns the next onError frame.
async fn raw_error(c: &mut Client, text: &str) -> Value {
    c.send_text(text).await;
    let v = c.next_event("onError").await;
    assert_eq!(v["service"], "chat", "{v}");
    v
}

/// Asserts an error frame: code, on_incoming_event, description, timestamp, no object.
fn assert_error(v: &Value, code: u64, action: &str) {
    assert_eq!(v["event"], "onError", "{v}");
    let p = &v["payload"];
    assert_eq!(p["code"], code, "{v}");
    assert_eq!(p["on_incoming_event"], action, "{v}");
    assert!(p["description"].is_string(), "{v}");
    assert!(p["timestamp"].is_i64(), "{v}");
    assert!(p.get("object").is_none(), "{v}");
}

/// The connection still works (logged in as `user`).
async fn still_usable(c: &mut Client, user: &TestUser) {
    let v = c.ok("getUser", json!({"user_id": user.im_id})).await;
    assert_eq!(v["payload"]["object"]["user_id"], user.im_id);
}

async fn send(c: &mut Client, event: &str, request_uuid: &str, payload: Value) {
    c.send(json!({"service": "chat", "event": event, "request_uuid": request_uuid, "payload": payload}))
        .await;
}

#[tokio::test]
async fn invalid_json_gives_1_unknown() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for text in ["not json", "{", "", "{\"service\": \"chat\",}", "nul"] {
        let v = raw_error(&mut a, text).await;
        assert_error(&v, 1, "UNKNOWN");
        assert!(v.get("request_uuid").is_none(), "{v}");
        assert_eq!(v["payload"]["initiator"], alice.im_id);
    }
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn non_object_json_gives_1() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for text in [
        "[]",
        "[{\"service\": \"chat\"}]",
        "5",
        "\"chat\"",
        "null",
        "true",
    ] {
        let v = raw_error(&mut a, text).await;
        assert_error(&v, 1, "UNKNOWN");
    }
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn object_without_service_or_name_gives_1() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for text in [
        "{}",
        "{\"event\": \"getUser\", \"request_uuid\": \"r\", \"payload\": {}}",
        "{\"params\": []}",
    ] {
        let v = raw_error(&mut a, text).await;
        assert_error(&v, 1, "UNKNOWN");
    }
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn errors_before_login_have_no_initiator() {
    let h = Harness::start().await;
    let mut c = h.connect().await;
    let v = raw_error(&mut c, "garbage").await;
    assert_error(&v, 1, "UNKNOWN");
    assert!(v["payload"].get("initiator").is_none(), "{v}");
}

#[tokio::test]
async fn wrong_service_gives_1_with_event_and_request_uuid() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for service in [json!("voice"), json!(null), json!(5), json!("Chat")] {
        a.send(json!({"service": service, "event": "getUser", "request_uuid": "r1", "payload": {"user_id": alice.im_id}}))
            .await;
        let v = a.reply_to("r1").await;
        assert_error(&v, 1, "getUser");
        assert_eq!(v["request_uuid"], "r1");
    }
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn event_missing_or_not_string_gives_1_unknown() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for event in [
        None,
        Some(json!(5)),
        Some(json!(null)),
        Some(json!(["getUser"])),
    ] {
        let mut f = json!({"service": "chat", "request_uuid": "r2", "payload": {}});
        if let Some(e) = event {
            f["event"] = e;
        }
        a.send(f).await;
        let v = a.reply_to("r2").await;
        assert_error(&v, 1, "UNKNOWN");
    }
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn payload_not_object_gives_1_and_null_payload_is_empty() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for payload in [json!([]), json!("x"), json!(5), json!(true)] {
        send(&mut a, "getSubscriptionList", "r3", payload).await;
        let v = a.reply_to("r3").await;
        assert_error(&v, 1, "getSubscriptionList");
    }
    // Absent and null payloads are {}.
    a.send(json!({"service": "chat", "event": "getSubscriptionList", "request_uuid": "r4"}))
        .await;
    assert_eq!(a.reply_to("r4").await["event"], "onGetSubscriptionList");
    send(&mut a, "getSubscriptionList", "r5", json!(null)).await;
    assert_eq!(a.reply_to("r5").await["event"], "onGetSubscriptionList");
    send(&mut a, "getUser", "r6", json!(null)).await;
    assert_error(&a.reply_to("r6").await, 0, "getUser");
}

#[tokio::test]
async fn non_string_request_uuid_gives_1_without_request_uuid() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for rid in [json!(5), json!({"a": 1}), json!(["r"]), json!(true)] {
        a.send(json!({"service": "chat", "event": "getSubscriptionList", "request_uuid": rid, "payload": {}}))
            .await;
        let v = a.next_event("onError").await;
        assert_error(&v, 1, "getSubscriptionList");
        assert!(v.get("request_uuid").is_none(), "{v}");
    }
    // Not executed: nothing else arrives.
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn null_or_absent_request_uuid_means_absent() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.send(json!({"service": "chat", "event": "getSubscriptionList", "request_uuid": null}))
        .await;
    let v = a.next_event("onGetSubscriptionList").await;
    assert!(v.get("request_uuid").is_none(), "{v}");
    a.send(json!({"service": "chat", "event": "getUser", "payload": {}}))
        .await;
    let v = a.next_event("onError").await;
    assert_error(&v, 0, "getUser");
    assert!(v.get("request_uuid").is_none(), "{v}");
}

#[tokio::test]
async fn unknown_keys_and_at_type_are_ignored() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.send(json!({"service": "chat", "event": "getUser", "request_uuid": "r7", "from": "x", "connid": 3,
                  "payload": {"user_id": alice.im_id, "@type": "type/vox.store.IncomingNamespace.GetUser", "extra": 1}}))
        .await;
    assert_eq!(a.reply_to("r7").await["event"], "onGetUser");
}

#[tokio::test]
async fn unknown_and_reserved_actions() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for action in [
        "noSuchAction",
        "searchConversations",
        "getRawConversations",
        "GetUser",
        "",
    ] {
        let v = a.request(action, json!({})).await;
        assert_error(&v, 2, action);
    }
    for action in [
        "removeConversation",
        "removeEmptyConversation",
        "createBot",
        "removeBot",
    ] {
        let v = a.request(action, json!({})).await;
        assert_error(&v, 12, action);
    }
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn session_frame_with_non_string_name_gives_1() {
    let h = Harness::start().await;
    let mut c = h.connect().await;
    let v = raw_error(&mut c, "{\"name\": 5, \"params\": []}").await;
    assert_error(&v, 1, "UNKNOWN");
    c.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(c.next().await.unwrap()["name"], "__pong");
}

#[tokio::test]
async fn binary_frame_gives_1_and_connection_stays_usable() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let body = json!({"service": "chat", "event": "getUser", "request_uuid": "b1", "payload": {"user_id": alice.im_id}});
    a.ws.send(Message::Binary(body.to_string().into_bytes().into()))
        .await
        .unwrap();
    let v = a.next_event("onError").await;
    assert_error(&v, 1, "UNKNOWN");
    a.expect_silence(SILENCE).await;
    still_usable(&mut a, &alice).await;
    // Also before login.
    let mut c = h.connect().await;
    c.ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    assert_error(&c.next_event("onError").await, 1, "UNKNOWN");
    c.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(c.next().await.unwrap()["name"], "__pong");
}

#[tokio::test]
async fn server_keeps_serving_after_bad_input() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    for text in [
        "x",
        "[]",
        "{}",
        "{\"service\": 1}",
        "{\"service\": \"chat\", \"event\": 1}",
    ] {
        a.send_text(text).await;
    }
    for _ in 0..5 {
        assert_eq!(a.next_event("onError").await["payload"]["code"], 1);
    }
    still_usable(&mut b, &bob).await;
    still_usable(&mut a, &alice).await;
}

fn small_frames() -> chatwire_server::Config {
    let mut cfg = config();
    cfg.limits.max_frame_bytes = 1024;
    cfg
}

/// A getUser frame of exactly `len` bytes.
fn frame_of_len(user: u64, len: usize) -> String {
    let base = json!({"service": "chat", "event": "getUser", "request_uuid": "big", "payload": {"user_id": user, "pad": ""}})
        .to_string();
    let pad = "x".repeat(len - base.len());
    let v = json!({"service": "chat", "event": "getUser", "request_uuid": "big", "payload": {"user_id": user, "pad": pad}})
        .to_string();
    assert_eq!(v.len(), len);
    v
}

#[tokio::test]
async fn oversized_frame_gives_1_then_close_1009() {
    let h = Harness::with_config(small_frames()).await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    a.send_text(&frame_of_len(alice.im_id, 1025)).await;
    let v = a.next_event("onError").await;
    assert_error(&v, 1, "UNKNOWN");
    let (code, reason) = a.expect_close().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("1024"), "{reason}");
    // Other clients are unaffected; new connections work.
    still_usable(&mut b, &bob).await;
    let mut a2 = h.login(&alice).await;
    still_usable(&mut a2, &alice).await;
}

#[tokio::test]
async fn oversized_frame_before_login_also_closes_1009() {
    let h = Harness::with_config(small_frames()).await;
    let mut c = h.connect().await;
    c.send_text(&format!(
        "{{\"name\": \"__ping\", \"params\": [\"{}\"]}}",
        "y".repeat(2000)
    ))
    .await;
    let v = c.next_event("onError").await;
    assert_error(&v, 1, "UNKNOWN");
    assert_eq!(c.expect_close().await.0, 1009);
}

#[tokio::test]
async fn frame_at_the_limit_is_accepted() {
    let h = Harness::with_config(small_frames()).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.send_text(&frame_of_len(alice.im_id, 1024)).await;
    let v = a.reply_to("big").await;
    assert_eq!(v["event"], "onGetUser", "{v}");
    still_usable(&mut a, &alice).await;
}

#[tokio::test]
async fn default_frame_limit_is_65536() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.send_text(&frame_of_len(alice.im_id, 65536)).await;
    assert_eq!(a.reply_to("big").await["event"], "onGetUser");
    a.send_text(&frame_of_len(alice.im_id, 65537)).await;
    assert_error(&a.next_event("onError").await, 1, "UNKNOWN");
    let (code, reason) = a.expect_close().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("65536"), "{reason}");
}

#[tokio::test]
async fn twenty_first_request_in_a_second_gets_32_and_is_not_executed() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for i in 0..20 {
        send(&mut a, "getSubscriptionList", &format!("ok{i}"), json!({})).await;
    }
    send(
        &mut a,
        "editUser",
        "over",
        json!({"custom_data": {"executed": true}}),
    )
    .await;
    for i in 0..20 {
        let v = a.reply_to(&format!("ok{i}")).await;
        assert_eq!(v["event"], "onGetSubscriptionList", "{v}");
    }
    let v = a.reply_to("over").await;
    assert_error(&v, 32, "editUser");
    assert_eq!(v["request_uuid"], "over");
    a.expect_silence(SILENCE).await;
    assert!(a.closed.is_none());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let v = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(v["payload"]["object"]["custom_data"], json!({}));
}

#[tokio::test]
async fn rate_limited_malformed_frames_echo_unknown() {
    let mut cfg = config();
    cfg.limits.requests_per_second = 2;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    send(&mut a, "getSubscriptionList", "a", json!({})).await;
    send(&mut a, "getSubscriptionList", "b", json!({})).await;
    a.send_text("garbage").await;
    send(&mut a, "noSuchAction", "c", json!({})).await;
    a.reply_to("a").await;
    a.reply_to("b").await;
    let v = a.next_event("onError").await;
    assert_error(&v, 32, "UNKNOWN");
    assert!(v.get("request_uuid").is_none());
    let v = a.reply_to("c").await;
    assert_error(&v, 32, "noSuchAction");
}

#[tokio::test]
async fn errors_and_malformed_frames_count_toward_the_limit() {
    let mut cfg = config();
    cfg.limits.requests_per_minute = 3;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.send_text("garbage").await;
    assert_eq!(a.next_event("onError").await["payload"]["code"], 1);
    assert_eq!(a.err("noSuchAction", json!({})).await, 2);
    assert_eq!(a.err("getUser", json!({})).await, 0);
    let v = a.request("getSubscriptionList", json!({})).await;
    assert_error(&v, 33, "getSubscriptionList");
}

#[tokio::test]
async fn per_minute_limit_gives_33_and_refused_frames_do_not_count() {
    let mut cfg = config();
    cfg.limits.requests_per_minute = 5;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for _ in 0..5 {
        a.ok("getSubscriptionList", json!({})).await;
    }
    for _ in 0..3 {
        let v = a.request("setStatus", json!({"online": true})).await;
        assert_error(&v, 33, "setStatus");
        assert!(v["request_uuid"].is_string());
    }
    assert!(a.closed.is_none());
    // Session frames still work.
    a.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(a.next_event("__pong").await["name"], "__pong");
    // The other connection has its own budget.
    let mut a2 = h.login(&alice).await;
    still_usable(&mut a2, &alice).await;
}

#[tokio::test]
async fn per_second_window_recovers() {
    let mut cfg = config();
    cfg.limits.requests_per_second = 3;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for _ in 0..3 {
        a.ok("getSubscriptionList", json!({})).await;
    }
    assert_eq!(a.err("getSubscriptionList", json!({})).await, 32);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The refused frame did not count: three more are allowed.
    for _ in 0..3 {
        a.ok("getSubscriptionList", json!({})).await;
    }
    assert_eq!(a.err("getSubscriptionList", json!({})).await, 32);
}

#[tokio::test]
async fn session_frames_do_not_count_toward_the_limit() {
    let mut cfg = config();
    cfg.limits.requests_per_second = 3;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut a = h.connect().await;
    for _ in 0..10 {
        a.send(json!({"name": "__ping", "params": [[]]})).await;
    }
    for _ in 0..10 {
        assert_eq!(a.next().await.unwrap()["name"], "__pong");
    }
    a.send(json!({"name": "someVoipRpc", "params": []})).await;
    a.session("loginStage2", json!([])).await;
    a.login(&alice.full_name, &alice.password).await;
    a.login(&alice.full_name, &alice.password).await;
    for _ in 0..3 {
        a.ok("getSubscriptionList", json!({})).await;
    }
    for _ in 0..5 {
        a.send(json!({"name": "__ping", "params": [[]]})).await;
        assert_eq!(a.next_event("__pong").await["name"], "__pong");
    }
    assert_eq!(a.err("getSubscriptionList", json!({})).await, 32);
}

#[tokio::test]
async fn integer_fields_accept_strings_and_integral_floats() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let id = alice.im_id;
    for v in [json!(id), json!(id.to_string()), json!(id as f64)] {
        let r = a.ok("getUser", json!({"user_id": v.clone()})).await;
        assert_eq!(r["payload"]["object"]["user_id"], json!(id), "{v}");
        assert!(r["payload"]["object"]["user_id"].is_u64());
    }
    // In id arrays and object lists too.
    let r = a
        .ok("subscribe", json!({"user_id": [id.to_string(), id as f64]}))
        .await;
    assert_eq!(r["payload"]["object"]["user_id"], json!([id]));
    let r = a
        .ok("getUsers", json!({"users": [{"user_id": id.to_string()}]}))
        .await;
    assert_eq!(r["payload"]["object"]["user_id"], json!(id));
}

#[tokio::test]
async fn non_integral_or_invalid_integers_give_0() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let id = alice.im_id;
    for v in [
        json!(id as f64 + 0.5),
        json!("17.5"),
        json!("abc"),
        json!(""),
        json!(true),
        json!([id]),
        json!({"id": id}),
        json!(-1),
        json!(0),
    ] {
        assert_eq!(
            a.err("getUser", json!({"user_id": v.clone()})).await,
            0,
            "{v}"
        );
    }
    assert_eq!(a.err("subscribe", json!({"user_id": [id, 1.5]})).await, 0);
}

#[tokio::test]
async fn fragmented_frame_over_the_limit_is_oversized() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let h = Harness::with_config(small_frames()).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    // Each fragment is under the limit; the reassembled message is not.
    let text = frame_of_len(alice.im_id, 1500);
    let (first, rest) = text.split_at(600);
    let (second, third) = rest.split_at(600);
    a.ws.send(Message::Frame(Frame::message(
        first.as_bytes().to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    a.ws.send(Message::Frame(Frame::message(
        second.as_bytes().to_vec(),
        OpCode::Data(Data::Continue),
        false,
    )))
    .await
    .unwrap();
    let _ =
        a.ws.send(Message::Frame(Frame::message(
            third.as_bytes().to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    let v = a.next_event("onError").await;
    assert_error(&v, 1, "UNKNOWN");
    assert_eq!(a.expect_close().await.0, 1009);
}

#[tokio::test]
async fn fragmented_frame_under_the_limit_is_accepted() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let h = Harness::with_config(small_frames()).await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let text = frame_of_len(alice.im_id, 1000);
    let (first, second) = text.split_at(500);
    a.ws.send(Message::Frame(Frame::message(
        first.as_bytes().to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    a.ws.send(Message::Frame(Frame::message(
        second.as_bytes().to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(a.reply_to("big").await["event"], "onGetUser");
}

#[tokio::test]
async fn only_platform_path_is_a_websocket_endpoint() {
    let h = Harness::start().await;
    let base = h.server.ws_url();
    let other = base.replace("/platform", "/other");
    assert!(tokio_tungstenite::connect_async(other).await.is_err());
    let api = base.replace("/platform", "/platform_api/GetUsers");
    assert!(tokio_tungstenite::connect_async(api).await.is_err());
    Client::connect(&base).await;
}
