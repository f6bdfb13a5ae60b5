//! Users (docs/BEHAVIOUR.md section 3): lookup, editUser, presence, subscriptions, manageNotification.

mod common;

use std::time::Duration;

use common::{Client, Harness};
use serde_json::{json, Value};

const SILENCE: Duration = Duration::from_millis(300);

/// The public view is the first five; `store_epoch` is chatwire's addition to the self view.
const SELF_KEYS: [&str; 10] = [
    "user_id",
    "user_name",
    "display_name",
    "custom_data",
    "deleted",
    "private_custom_data",
    "conversations_list",
    "leave_conversations",
    "notification_events",
    "store_epoch",
];

fn keys(obj: &Value) -> Vec<String> {
    let mut k: Vec<String> = obj.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

fn assert_self_view(obj: &Value) {
    assert_eq!(keys(obj), sorted(&SELF_KEYS), "{obj}");
}

fn assert_public_view(obj: &Value) {
    assert_eq!(keys(obj), sorted(&SELF_KEYS[..5]), "{obj}");
}

/// Sends a request without waiting; returns its request_uuid.
async fn send(c: &mut Client, event: &str, payload: Value) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    c.send(json!({"service": "chat", "event": event, "request_uuid": id, "payload": payload}))
        .await;
    id
}

/// Collects `n` frames with this request_uuid.
async fn replies(c: &mut Client, id: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.reply_to(id).await);
    }
    out
}

// ---------------------------------------------------------------- getUser

#[tokio::test]
async fn get_user_by_id_self_view() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let v = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(v["event"], "onGetUser");
    assert_eq!(v["service"], "chat");
    let p = &v["payload"];
    assert_eq!(p["initiator"], alice.im_id);
    assert_eq!(p["on_incoming_event"], "getUser");
    assert!(p["timestamp"].is_i64());
    assert!(p.get("seq").is_none());
    let o = &p["object"];
    assert_self_view(o);
    assert_eq!(o["user_id"], alice.im_id);
    assert_eq!(o["user_name"], alice.full_name.as_str());
    assert_eq!(o["display_name"], "alice");
    assert_eq!(o["custom_data"], json!({}));
    assert_eq!(o["private_custom_data"], json!({}));
    assert_eq!(o["deleted"], false);
    assert_eq!(o["conversations_list"], json!([]));
    assert_eq!(o["leave_conversations"], json!([]));
    assert_eq!(o["notification_events"], json!([]));
}

#[tokio::test]
async fn get_user_of_another_user_omits_private_fields() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut b = h.login(&bob).await;
    b.ok(
        "editUser",
        json!({"custom_data": {"c": 1}, "private_custom_data": {"p": 2}}),
    )
    .await;
    let mut a = h.login(&alice).await;
    let v = a.ok("getUser", json!({"user_id": bob.im_id})).await;
    let o = &v["payload"]["object"];
    assert_public_view(o);
    assert_eq!(o["user_id"], bob.im_id);
    assert_eq!(o["user_name"], bob.full_name.as_str());
    assert_eq!(o["custom_data"], json!({"c": 1}));
    assert_eq!(v["payload"]["initiator"], alice.im_id);
    let v = a.ok("getUser", json!({"user_name": bob.full_name})).await;
    assert_public_view(&v["payload"]["object"]);
}

#[tokio::test]
async fn get_user_by_name_echoes_canonical_name() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let domain = h.server.domain().to_string();
    for name in [
        format!("bob@{domain}"),
        format!("BOB@{}", domain.to_uppercase()),
        format!("Bob@{domain}.voximplant.com"),
    ] {
        let v = a.ok("getUser", json!({"user_name": name})).await;
        assert_eq!(v["payload"]["object"]["user_id"], bob.im_id, "{name}");
        assert_eq!(v["payload"]["object"]["user_name"], format!("bob@{domain}"));
    }
    // Self by name gets the self view.
    let v = a
        .ok(
            "getUser",
            json!({"user_name": alice.full_name.to_uppercase()}),
        )
        .await;
    assert_self_view(&v["payload"]["object"]);
}

#[tokio::test]
async fn get_user_needs_exactly_one_key() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    assert_eq!(a.err("getUser", json!({})).await, 0);
    assert_eq!(
        a.err(
            "getUser",
            json!({"user_id": alice.im_id, "user_name": alice.full_name})
        )
        .await,
        0
    );
    // null means absent.
    assert_eq!(
        a.err("getUser", json!({"user_id": null, "user_name": null}))
            .await,
        0
    );
    let v = a
        .ok(
            "getUser",
            json!({"user_id": alice.im_id, "user_name": null}),
        )
        .await;
    assert_eq!(v["payload"]["object"]["user_id"], alice.im_id);
    assert_eq!(a.err("getUser", json!({"user_id": "abc"})).await, 0);
    assert_eq!(a.err("getUser", json!({"user_name": 5})).await, 0);
}

#[tokio::test]
async fn get_user_unknown_gives_25() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let v = a.request("getUser", json!({"user_id": 999_999})).await;
    assert_eq!(v["event"], "onError");
    assert_eq!(v["payload"]["code"], 25);
    assert_eq!(v["payload"]["on_incoming_event"], "getUser");
    assert_eq!(v["payload"]["initiator"], alice.im_id);
    assert!(v["payload"]["description"].is_string());
    assert!(v["payload"].get("object").is_none());
    let domain = h.server.domain().to_string();
    for name in [
        format!("nobody@{domain}"),
        "alice".to_string(),
        "alice@other.example".to_string(),
    ] {
        assert_eq!(a.err("getUser", json!({"user_name": name})).await, 25);
    }
}

#[tokio::test]
async fn deleted_user_is_returned_with_deleted_true() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let r = h
        .admin("DelUser", &[("user_id", &bob.admin_id.to_string())])
        .await;
    assert_eq!(r["result"], 1);
    let mut a = h.login(&alice).await;
    let v = a.ok("getUser", json!({"user_id": bob.im_id})).await;
    assert_eq!(v["payload"]["object"]["deleted"], true);
    assert_eq!(v["payload"]["object"]["user_name"], bob.full_name.as_str());
    let v = a.ok("getUser", json!({"user_name": bob.full_name})).await;
    assert_eq!(v["payload"]["object"]["deleted"], true);
    let v = a
        .ok("getUsers", json!({"users": [{"user_id": bob.im_id}]}))
        .await;
    assert_eq!(v["payload"]["object"]["deleted"], true);
}

#[tokio::test]
async fn get_user_goes_to_caller_only() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    a1.ok("getUser", json!({"user_id": alice.im_id})).await;
    a1.ok("getUsers", json!({"users": [{"user_id": alice.im_id}]}))
        .await;
    a2.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------- getUsers

#[tokio::test]
async fn get_users_mixes_ids_and_names_in_request_order() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let id = send(
        &mut a,
        "getUsers",
        json!({"users": [
            {"user_name": carol.full_name.to_uppercase()},
            {"user_id": alice.im_id},
            {"user_id": bob.im_id}
        ]}),
    )
    .await;
    let frames = replies(&mut a, &id, 3).await;
    let ids: Vec<&Value> = frames
        .iter()
        .map(|f| &f["payload"]["object"]["user_id"])
        .collect();
    assert_eq!(
        ids,
        [&json!(carol.im_id), &json!(alice.im_id), &json!(bob.im_id)]
    );
    for f in &frames {
        assert_eq!(f["event"], "onGetUser");
        assert_eq!(f["payload"]["on_incoming_event"], "getUsers");
    }
    assert_eq!(
        frames[0]["payload"]["object"]["user_name"],
        carol.full_name.as_str()
    );
    assert_public_view(&frames[0]["payload"]["object"]);
    assert_self_view(&frames[1]["payload"]["object"]);
    assert_public_view(&frames[2]["payload"]["object"]);
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn get_users_answers_duplicates_once_at_first_occurrence() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let domain = h.server.domain().to_string();
    let id = send(
        &mut a,
        "getUsers",
        json!({"users": [
            {"user_id": bob.im_id},
            {"user_id": carol.im_id},
            {"user_name": format!("BOB@{domain}")},
            {"user_id": carol.im_id},
            {"user_name": format!("bob@{domain}.voximplant.com")},
        ]}),
    )
    .await;
    let frames = replies(&mut a, &id, 2).await;
    assert_eq!(frames[0]["payload"]["object"]["user_id"], bob.im_id);
    assert_eq!(frames[1]["payload"]["object"]["user_id"], carol.im_id);
    a.expect_silence(SILENCE).await;

    // First occurrence by name, duplicate by id.
    let id = send(
        &mut a,
        "getUsers",
        json!({"users": [
            {"user_name": carol.full_name},
            {"user_id": bob.im_id},
            {"user_id": carol.im_id},
        ]}),
    )
    .await;
    let frames = replies(&mut a, &id, 2).await;
    assert_eq!(frames[0]["payload"]["object"]["user_id"], carol.im_id);
    assert_eq!(frames[1]["payload"]["object"]["user_id"], bob.im_id);
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn get_users_validation_errors() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    assert_eq!(a.err("getUsers", json!({})).await, 0);
    assert_eq!(a.err("getUsers", json!({"users": {}})).await, 0);
    assert_eq!(a.err("getUsers", json!({"users": [{}]})).await, 0);
    assert_eq!(
        a.err(
            "getUsers",
            json!({"users": [{"user_id": alice.im_id, "user_name": alice.full_name}]})
        )
        .await,
        0
    );
    assert_eq!(a.err("getUsers", json!({"users": [5]})).await, 0);
    assert_eq!(a.err("getUsers", json!({"users": []})).await, 21);
    // Type checks of elements come before size checks.
    let mut many: Vec<Value> = (0..51).map(|_| json!({"user_id": alice.im_id})).collect();
    assert_eq!(a.err("getUsers", json!({"users": many.clone()})).await, 22);
    many.push(json!({}));
    assert_eq!(a.err("getUsers", json!({"users": many})).await, 0);
    // Exactly 50 (duplicates) is fine and answered once.
    let fifty: Vec<Value> = (0..50).map(|_| json!({"user_id": alice.im_id})).collect();
    let id = send(&mut a, "getUsers", json!({"users": fifty})).await;
    let f = replies(&mut a, &id, 1).await;
    assert_eq!(f[0]["event"], "onGetUser");
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn get_users_unknown_user_gives_single_25() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let id = send(
        &mut a,
        "getUsers",
        json!({"users": [{"user_id": alice.im_id}, {"user_id": 999_999}]}),
    )
    .await;
    let f = replies(&mut a, &id, 1).await;
    assert_eq!(f[0]["event"], "onError");
    assert_eq!(f[0]["payload"]["code"], 25);
    assert_eq!(f[0]["payload"]["on_incoming_event"], "getUsers");
    a.expect_silence(SILENCE).await;
    let domain = h.server.domain().to_string();
    assert_eq!(
        a.err(
            "getUsers",
            json!({"users": [{"user_name": format!("ghost@{domain}")}]})
        )
        .await,
        25
    );
    // 51 items with an unknown one: the size check comes first.
    let mut many: Vec<Value> = (0..50).map(|_| json!({"user_id": alice.im_id})).collect();
    many.push(json!({"user_id": 999_999}));
    assert_eq!(a.err("getUsers", json!({"users": many})).await, 22);
}

// ---------------------------------------------------------------- editUser

#[tokio::test]
async fn edit_user_replaces_and_clears() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let v = a
        .ok(
            "editUser",
            json!({"custom_data": {"a": 1, "n": {"x": [1, true, null, "s"]}}, "private_custom_data": {"p": 1}}),
        )
        .await;
    assert_eq!(v["event"], "onEditUser");
    assert_eq!(v["payload"]["on_incoming_event"], "editUser");
    assert_eq!(v["payload"]["initiator"], alice.im_id);
    let o = &v["payload"]["object"];
    assert_self_view(o);
    assert_eq!(
        o["custom_data"],
        json!({"a": 1, "n": {"x": [1, true, null, "s"]}})
    );
    assert_eq!(o["private_custom_data"], json!({"p": 1}));

    // Replace, not merge; absent leaves unchanged.
    let v = a.ok("editUser", json!({"custom_data": {"b": 2}})).await;
    assert_eq!(v["payload"]["object"]["custom_data"], json!({"b": 2}));
    assert_eq!(
        v["payload"]["object"]["private_custom_data"],
        json!({"p": 1})
    );

    // null leaves unchanged.
    let v = a
        .ok(
            "editUser",
            json!({"custom_data": null, "private_custom_data": {"q": 3}}),
        )
        .await;
    assert_eq!(v["payload"]["object"]["custom_data"], json!({"b": 2}));
    assert_eq!(
        v["payload"]["object"]["private_custom_data"],
        json!({"q": 3})
    );

    // {} clears.
    let v = a
        .ok(
            "editUser",
            json!({"custom_data": {}, "private_custom_data": {}}),
        )
        .await;
    assert_eq!(v["payload"]["object"]["custom_data"], json!({}));
    assert_eq!(v["payload"]["object"]["private_custom_data"], json!({}));

    let g = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(g["payload"]["object"]["custom_data"], json!({}));
}

#[tokio::test]
async fn edit_user_with_neither_field_is_valid() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.ok("editUser", json!({"custom_data": {"k": 1}})).await;
    let mut a2 = h.login(&alice).await;
    let v = a.ok("editUser", json!({})).await;
    assert_eq!(v["event"], "onEditUser");
    assert_eq!(v["payload"]["object"]["custom_data"], json!({"k": 1}));
    // Still broadcast.
    let b = a2.next_event("onEditUser").await;
    assert_eq!(b["request_uuid"], v["request_uuid"]);
}

#[tokio::test]
async fn edit_user_rejects_non_objects_and_oversize() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.ok("editUser", json!({"custom_data": {"keep": 1}})).await;
    for bad in [json!([]), json!("x"), json!(5), json!(true)] {
        assert_eq!(
            a.err("editUser", json!({"custom_data": bad.clone()})).await,
            0
        );
        assert_eq!(
            a.err("editUser", json!({"private_custom_data": bad})).await,
            0
        );
    }
    // {"s":"<n chars>"} is n + 8 bytes compact.
    let big = json!({"s": "x".repeat(5113)});
    assert_eq!(serde_json::to_string(&big).unwrap().len(), 5121);
    assert_eq!(
        a.err("editUser", json!({"custom_data": big.clone()})).await,
        0
    );
    assert_eq!(
        a.err("editUser", json!({"private_custom_data": big})).await,
        0
    );
    // A failed request changes nothing (even the valid field).
    assert_eq!(
        a.err(
            "editUser",
            json!({"custom_data": {"new": 1}, "private_custom_data": 7})
        )
        .await,
        0
    );
    let max = json!({"s": "x".repeat(5112)});
    assert_eq!(serde_json::to_string(&max).unwrap().len(), 5120);
    let g = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(g["payload"]["object"]["custom_data"], json!({"keep": 1}));
    let v = a.ok("editUser", json!({"custom_data": max.clone()})).await;
    assert_eq!(v["payload"]["object"]["custom_data"], max);
}

#[tokio::test]
async fn edit_user_broadcasts_self_view_to_own_connections_and_public_view_to_subscribers() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    b.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a1.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a2.next_event("onSubscribe").await;

    let v = a1
        .ok(
            "editUser",
            json!({"custom_data": {"c": 1}, "private_custom_data": {"secret": 1}}),
        )
        .await;
    let rid = v["request_uuid"].clone();
    let own = a2.next_event("onEditUser").await;
    assert_eq!(own["request_uuid"], rid);
    assert_self_view(&own["payload"]["object"]);
    assert_eq!(
        own["payload"]["object"]["private_custom_data"],
        json!({"secret": 1})
    );
    assert_eq!(own["payload"]["initiator"], alice.im_id);
    assert_eq!(own["payload"]["on_incoming_event"], "editUser");

    let public = b.next_event("onEditUser").await;
    assert_eq!(public["request_uuid"], rid);
    assert_public_view(&public["payload"]["object"]);
    assert_eq!(public["payload"]["object"]["custom_data"], json!({"c": 1}));
    assert_eq!(public["payload"]["initiator"], alice.im_id);

    // No duplicates: the self-subscribed user gets only its own copy; non-subscribers nothing.
    a1.expect_silence(SILENCE).await;
    a2.expect_silence(SILENCE).await;
    b.expect_silence(SILENCE).await;
    c.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------- setStatus

#[tokio::test]
async fn set_status_reports_aggregate_presence() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    b.ok("subscribe", json!({"user_id": [alice.im_id]})).await;

    let v = a1.ok("setStatus", json!({"online": true})).await;
    assert_eq!(v["event"], "onSetStatus");
    assert_eq!(v["payload"]["object"], json!({"online": true}));
    assert_eq!(v["payload"]["initiator"], alice.im_id);
    assert_eq!(v["payload"]["on_incoming_event"], "setStatus");
    let o = a2.next_event("onSetStatus").await;
    assert_eq!(o["payload"]["object"]["online"], true);
    assert_eq!(o["request_uuid"], v["request_uuid"]);
    let s = b.next_event("onSetStatus").await;
    assert_eq!(s["payload"]["object"]["online"], true);
    assert_eq!(s["payload"]["initiator"], alice.im_id);
    assert_eq!(s["request_uuid"], v["request_uuid"]);

    // a2 says offline but a1 is still online: the aggregate stays online.
    let v = a2.ok("setStatus", json!({"online": false})).await;
    assert_eq!(v["payload"]["object"]["online"], true);
    assert_eq!(
        a1.next_event("onSetStatus").await["payload"]["object"]["online"],
        true
    );
    assert_eq!(
        b.next_event("onSetStatus").await["payload"]["object"]["online"],
        true
    );

    // a1 goes offline too: now offline.
    let v = a1.ok("setStatus", json!({"online": false})).await;
    assert_eq!(v["payload"]["object"]["online"], false);
    assert_eq!(
        a2.next_event("onSetStatus").await["payload"]["object"]["online"],
        false
    );
    assert_eq!(
        b.next_event("onSetStatus").await["payload"]["object"]["online"],
        false
    );

    // Repeating a no-op still answers and broadcasts.
    let v = a1.ok("setStatus", json!({"online": false})).await;
    assert_eq!(v["payload"]["object"]["online"], false);
    assert_eq!(
        b.next_event("onSetStatus").await["payload"]["object"]["online"],
        false
    );
    a1.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn set_status_requires_a_boolean() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    assert_eq!(a.err("setStatus", json!({})).await, 0);
    assert_eq!(a.err("setStatus", json!({"online": "true"})).await, 0);
    assert_eq!(a.err("setStatus", json!({"online": 1})).await, 0);
}

#[tokio::test]
async fn non_subscribers_do_not_get_presence() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    a.ok("setStatus", json!({"online": true})).await;
    b.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn closing_last_online_connection_sends_offline_without_request_uuid() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut a3 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    b.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a1.ok("setStatus", json!({"online": true})).await;
    a2.ok("setStatus", json!({"online": true})).await;
    for _ in 0..2 {
        b.next_event("onSetStatus").await;
        a3.next_event("onSetStatus").await;
    }
    a1.next_event("onSetStatus").await;
    a2.next_event("onSetStatus").await;

    // Closing one of two online connections: still online, nothing sent.
    a1.ws.close(None).await.unwrap();
    drop(a1);
    b.expect_silence(SILENCE).await;
    a3.expect_silence(SILENCE).await;

    // Closing the last online one: offline event.
    a2.ws.close(None).await.unwrap();
    drop(a2);
    let off = b.next_event("onSetStatus").await;
    assert_eq!(off["payload"]["object"], json!({"online": false}));
    assert_eq!(off["payload"]["initiator"], alice.im_id);
    assert_eq!(off["payload"]["on_incoming_event"], "setStatus");
    assert!(off.get("request_uuid").is_none(), "{off}");
    assert!(off["payload"]["timestamp"].is_i64());
    let own = a3.next_event("onSetStatus").await;
    assert_eq!(own["payload"]["object"]["online"], false);
    assert!(own.get("request_uuid").is_none(), "{own}");

    // Closing a connection that never set online sends nothing.
    a3.ws.close(None).await.unwrap();
    drop(a3);
    b.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------- subscriptions

#[tokio::test]
async fn subscribe_appends_in_order_and_echoes_requested_ids() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;

    let v = a
        .ok(
            "subscribe",
            json!({"user_id": [carol.im_id, bob.im_id, carol.im_id]}),
        )
        .await;
    assert_eq!(v["event"], "onSubscribe");
    assert_eq!(
        v["payload"]["object"],
        json!({"user_id": [carol.im_id, bob.im_id]})
    );
    assert_eq!(v["payload"]["on_incoming_event"], "subscribe");
    let o = a2.next_event("onSubscribe").await;
    assert_eq!(o["payload"]["object"], v["payload"]["object"]);
    assert_eq!(o["request_uuid"], v["request_uuid"]);
    // The subscribed-to user is never informed.
    b.expect_silence(SILENCE).await;

    // Already subscribed ids keep their position; new ones appended; self allowed.
    let v = a
        .ok(
            "subscribe",
            json!({"user_id": [dave.im_id, bob.im_id, alice.im_id]}),
        )
        .await;
    assert_eq!(
        v["payload"]["object"]["user_id"],
        json!([dave.im_id, bob.im_id, alice.im_id])
    );
    let l = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(l["event"], "onGetSubscriptionList");
    assert_eq!(
        l["payload"]["object"],
        json!({"subscriptions": [carol.im_id, bob.im_id, dave.im_id, alice.im_id]})
    );
    a2.next_event("onSubscribe").await;
    a2.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn subscribe_errors() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    assert_eq!(a.err("subscribe", json!({})).await, 0);
    assert_eq!(a.err("subscribe", json!({"user_id": 5})).await, 0);
    assert_eq!(a.err("subscribe", json!({"user_id": ["x"]})).await, 0);
    assert_eq!(a.err("subscribe", json!({"user_id": []})).await, 21);
    let many: Vec<u64> = (0..51).map(|_| bob.im_id).collect();
    assert_eq!(a.err("subscribe", json!({"user_id": many})).await, 22);
    let fifty: Vec<u64> = (0..50).map(|_| bob.im_id).collect();
    let v = a.ok("subscribe", json!({"user_id": fifty})).await;
    assert_eq!(v["payload"]["object"]["user_id"], json!([bob.im_id]));
    assert_eq!(
        a.err("subscribe", json!({"user_id": [alice.im_id, 999_999]}))
            .await,
        25
    );
    // The failed request changed nothing.
    let l = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(l["payload"]["object"]["subscriptions"], json!([bob.im_id]));
}

#[tokio::test]
async fn subscribe_deleted_user_is_allowed() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.admin("DelUser", &[("user_name", "bob")]).await;
    let mut a = h.login(&alice).await;
    let v = a.ok("subscribe", json!({"user_id": [bob.im_id]})).await;
    assert_eq!(v["payload"]["object"]["user_id"], json!([bob.im_id]));
}

#[tokio::test]
async fn subscriptions_are_limited_to_1000() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut ids = Vec::new();
    for i in 0..1001 {
        let u = h
            .server
            .add_user(&format!("u{i}"), "u", "password-1")
            .await
            .unwrap();
        ids.push(u.im_id.get());
    }
    let mut a = h.login(&alice).await;
    for chunk in ids[..1000].chunks(50) {
        // Stay under the per-second rate limit.
        tokio::time::sleep(Duration::from_millis(60)).await;
        a.ok("subscribe", json!({"user_id": chunk})).await;
    }
    // Re-subscribing existing ids does not add.
    a.ok("subscribe", json!({"user_id": [ids[0], ids[999]]}))
        .await;
    assert_eq!(
        a.err("subscribe", json!({"user_id": [ids[0], ids[1000]]}))
            .await,
        22
    );
    let l = a.ok("getSubscriptionList", json!({})).await;
    let subs = l["payload"]["object"]["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1000);
    assert_eq!(subs[0], ids[0]);
    assert_eq!(subs[999], ids[999]);
}

#[tokio::test]
async fn unsubscribe_list_ignores_unknown_and_not_subscribed() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    a.ok(
        "subscribe",
        json!({"user_id": [bob.im_id, carol.im_id, dave.im_id]}),
    )
    .await;
    a2.next_event("onSubscribe").await;
    let v = a
        .ok(
            "unsubscribe",
            json!({"user_id": [dave.im_id, 999_999, alice.im_id, bob.im_id, dave.im_id]}),
        )
        .await;
    assert_eq!(v["event"], "onUnsubscribe");
    assert_eq!(v["payload"]["on_incoming_event"], "unsubscribe");
    assert_eq!(
        v["payload"]["object"],
        json!({"user_id": [dave.im_id, bob.im_id]})
    );
    let o = a2.next_event("onUnsubscribe").await;
    assert_eq!(o["payload"]["object"], v["payload"]["object"]);
    let l = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(
        l["payload"]["object"]["subscriptions"],
        json!([carol.im_id])
    );
    // Nothing removed is still a success with an empty list.
    let v = a.ok("unsubscribe", json!({"user_id": [bob.im_id]})).await;
    assert_eq!(v["payload"]["object"]["user_id"], json!([]));
}

#[tokio::test]
async fn unsubscribe_all_returns_every_removed_id_in_list_order() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    a.ok("subscribe", json!({"user_id": [carol.im_id, bob.im_id]}))
        .await;
    a.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    let v = a
        .ok("unsubscribe", json!({"all": true, "user_id": [bob.im_id]}))
        .await;
    assert_eq!(
        v["payload"]["object"]["user_id"],
        json!([carol.im_id, bob.im_id, alice.im_id])
    );
    let l = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(l["payload"]["object"]["subscriptions"], json!([]));
    let v = a.ok("unsubscribe", json!({"all": true})).await;
    assert_eq!(v["payload"]["object"]["user_id"], json!([]));
}

#[tokio::test]
async fn unsubscribe_errors() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    assert_eq!(a.err("unsubscribe", json!({})).await, 21);
    assert_eq!(a.err("unsubscribe", json!({"user_id": []})).await, 21);
    assert_eq!(
        a.err("unsubscribe", json!({"all": false, "user_id": []}))
            .await,
        21
    );
    assert_eq!(a.err("unsubscribe", json!({"all": "yes"})).await, 0);
    assert_eq!(a.err("unsubscribe", json!({"user_id": ["x"]})).await, 0);
}

#[tokio::test]
async fn unsubscribed_users_stop_receiving_presence() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    b.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a.ok("setStatus", json!({"online": true})).await;
    b.next_event("onSetStatus").await;
    b.ok("unsubscribe", json!({"user_id": [alice.im_id]})).await;
    a.ok("setStatus", json!({"online": true})).await;
    a.ok("editUser", json!({})).await;
    b.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn subscriptions_persist_across_sessions() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    {
        let mut a = h.login(&alice).await;
        a.ok("subscribe", json!({"user_id": [carol.im_id, bob.im_id]}))
            .await;
        a.ws.close(None).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut a = h.login(&alice).await;
    let l = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(
        l["payload"]["object"]["subscriptions"],
        json!([carol.im_id, bob.im_id])
    );
    // And they work for a user who is not connected at subscribe time.
    let mut b = h.login(&bob).await;
    b.ok("setStatus", json!({"online": true})).await;
    assert_eq!(
        a.next_event("onSetStatus").await["payload"]["initiator"],
        bob.im_id
    );
}

#[tokio::test]
async fn get_subscription_list_goes_to_caller_only() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let l = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(l["payload"]["object"], json!({"subscriptions": []}));
    assert_eq!(l["payload"]["on_incoming_event"], "getSubscriptionList");
    a2.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------- manageNotification

#[tokio::test]
async fn manage_notification_stores_deduplicated_selection() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    b.ok("subscribe", json!({"user_id": [alice.im_id]})).await;

    let v = a
        .ok(
            "manageNotification",
            json!({"notifications": ["onEditMessage", "onSendMessage", "onEditMessage", "onCreateConversation"]}),
        )
        .await;
    assert_eq!(v["event"], "onEditUser");
    assert_eq!(v["payload"]["on_incoming_event"], "manageNotification");
    assert_self_view(&v["payload"]["object"]);
    assert_eq!(
        v["payload"]["object"]["notification_events"],
        json!(["onEditMessage", "onSendMessage", "onCreateConversation"])
    );
    let o = a2.next_event("onEditUser").await;
    assert_eq!(o["payload"]["on_incoming_event"], "manageNotification");
    assert_self_view(&o["payload"]["object"]);
    assert_eq!(o["request_uuid"], v["request_uuid"]);
    // Not to subscribers (D20).
    b.expect_silence(SILENCE).await;

    let g = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(
        g["payload"]["object"]["notification_events"],
        json!(["onEditMessage", "onSendMessage", "onCreateConversation"])
    );
}

#[tokio::test]
async fn manage_notification_disables_with_null_empty_or_absent() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for disable in [
        json!({"notifications": null}),
        json!({"notifications": []}),
        json!({}),
    ] {
        a.ok(
            "manageNotification",
            json!({"notifications": ["onSendMessage"]}),
        )
        .await;
        let v = a.ok("manageNotification", disable.clone()).await;
        assert_eq!(
            v["payload"]["object"]["notification_events"],
            json!([]),
            "{disable}"
        );
    }
}

#[tokio::test]
async fn manage_notification_errors() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    a.ok(
        "manageNotification",
        json!({"notifications": ["onSendMessage"]}),
    )
    .await;
    assert_eq!(
        a.err(
            "manageNotification",
            json!({"notifications": ["onSendMessage", "onTyping"]})
        )
        .await,
        26
    );
    assert_eq!(
        a.err(
            "manageNotification",
            json!({"notifications": ["onsendmessage"]})
        )
        .await,
        26
    );
    assert_eq!(
        a.err("manageNotification", json!({"notifications": [5]}))
            .await,
        0
    );
    // Type checks come before value checks.
    assert_eq!(
        a.err(
            "manageNotification",
            json!({"notifications": ["onTyping", 5]})
        )
        .await,
        0
    );
    assert_eq!(
        a.err(
            "manageNotification",
            json!({"notifications": "onSendMessage"})
        )
        .await,
        0
    );
    assert_eq!(
        a.err("manageNotification", json!({"notifications": {}}))
            .await,
        0
    );
    let g = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(
        g["payload"]["object"]["notification_events"],
        json!(["onSendMessage"])
    );
}

#[tokio::test]
async fn notification_events_are_private() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    a.ok(
        "manageNotification",
        json!({"notifications": ["onSendMessage"]}),
    )
    .await;
    let mut b = h.login(&bob).await;
    let v = b.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert!(v["payload"]["object"].get("notification_events").is_none());
}

#[tokio::test]
async fn custom_data_limit_counts_utf8_bytes() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    // {"s":"…"} = 8 bytes + 2 bytes per "é".
    let max = json!({"s": "é".repeat(2556)});
    assert_eq!(serde_json::to_string(&max).unwrap().len(), 5120);
    let v = a
        .ok("editUser", json!({"private_custom_data": max.clone()}))
        .await;
    assert_eq!(v["payload"]["object"]["private_custom_data"], max);
    let over = json!({"s": "é".repeat(2557)});
    assert_eq!(a.err("editUser", json!({"custom_data": over})).await, 0);
}

#[tokio::test]
async fn self_subscribed_user_gets_one_presence_copy() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    a1.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a2.next_event("onSubscribe").await;
    let v = a1.ok("setStatus", json!({"online": true})).await;
    let o = a2.next_event("onSetStatus").await;
    assert_eq!(o["request_uuid"], v["request_uuid"]);
    a1.expect_silence(SILENCE).await;
    a2.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn not_logged_in_connections_get_no_broadcasts() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let mut anon = h.connect().await;
    a.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a.ok("setStatus", json!({"online": true})).await;
    a.ok("editUser", json!({"custom_data": {"x": 1}})).await;
    anon.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn get_users_null_key_means_absent() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let v = a
        .ok(
            "getUsers",
            json!({"users": [{"user_id": bob.im_id, "user_name": null}]}),
        )
        .await;
    assert_eq!(v["payload"]["object"]["user_id"], bob.im_id);
    assert_eq!(
        a.err(
            "getUsers",
            json!({"users": [{"user_id": null, "user_name": null}]})
        )
        .await,
        0
    );
}
