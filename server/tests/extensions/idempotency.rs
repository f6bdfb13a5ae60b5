//! Idempotency keys (docs/PROTOCOL.md section 12.3): a repeated key gets the original result
//! rebuilt from the log and appends nothing; other uses of a key are refused with 60; clients
//! that did not opt in see no change.

use std::time::Duration;

use chatwire_server::{RunningServer, Storage};
use serde_json::{json, Value};

use crate::common::{Client, Harness, TestUser};
use crate::{login_opted_in, Pace};

const QUIET: Duration = Duration::from_millis(300);

/// Sends a request with an idempotency key; returns the first frame answering it.
async fn keyed(c: &mut Client, event: &str, payload: Value, key: Value) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    c.send(
        json!({"service": "chat", "event": event, "request_uuid": id,
                  "idempotency_key": key, "payload": payload}),
    )
    .await;
    let reply = c.reply_to(&id).await;
    assert_eq!(reply["request_uuid"], id.as_str());
    reply
}

fn code(frame: &Value) -> Option<u64> {
    (frame["event"] == "onError").then(|| frame["payload"]["code"].as_u64().unwrap())
}

async fn last_seq(c: &mut Client, conv: &str) -> u64 {
    let got = c.ok("getConversation", json!({"uuid": conv})).await;
    got["payload"]["seq"].as_u64().unwrap()
}

#[tokio::test]
async fn a_repeated_key_gets_the_original_result_and_nothing_is_appended_or_broadcast() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = login_opted_in(&h, &alice).await;
    let mut other = h.login(&alice).await;
    let mut b = h.login(&bob).await;

    let create = json!({"title": "t", "participants": [{"user_id": bob.im_id}]});
    let first = keyed(
        &mut a,
        "createConversation",
        create.clone(),
        json!("create-1"),
    )
    .await;
    assert_eq!(first["event"], "onCreateConversation");
    let conv = first["payload"]["object"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    b.next_event("onCreateConversation").await;
    other.next_event("onCreateConversation").await;
    let again = keyed(&mut a, "createConversation", create, json!("create-1")).await;
    assert_eq!(again["event"], first["event"]);
    assert_eq!(
        again["payload"], first["payload"],
        "the original result, from the log"
    );

    let send = json!({"conversation": conv, "text": "once"});
    let sent = keyed(&mut a, "sendMessage", send.clone(), json!("m-1")).await;
    assert_eq!(sent["payload"]["seq"], 2);
    b.next_event("onSendMessage").await;
    other.next_event("onSendMessage").await;
    for _ in 0..2 {
        let again = keyed(&mut a, "sendMessage", send.clone(), json!("m-1")).await;
        assert_eq!(again["event"], "onSendMessage");
        assert_eq!(again["payload"], sent["payload"]);
    }
    // A retried addParticipants gets its result, not 13.
    let add = json!({"uuid": conv, "participants": [{"user_id": carol.im_id}]});
    let added = keyed(&mut a, "addParticipants", add.clone(), json!("add-1")).await;
    assert_eq!(added["payload"]["seq"], 3);
    b.next_event("onEditConversation").await;
    other.next_event("onEditConversation").await;
    let again = keyed(&mut a, "addParticipants", add, json!("add-1")).await;
    assert_eq!(again["payload"], added["payload"]);

    // Nothing appended, nothing broadcast (not even to Alice's other connection).
    assert_eq!(last_seq(&mut a, &conv).await, 3);
    b.expect_silence(QUIET).await;
    other.expect_silence(QUIET).await;
    let me = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(me["payload"]["object"]["conversations_list"], json!([conv]));
}

#[tokio::test]
async fn the_same_key_for_another_action_or_conversation_is_refused_with_60() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = login_opted_in(&h, &alice).await;
    let mut b = login_opted_in(&h, &bob).await;
    let mut pace = Pace::new();
    pace.next().await;
    let one = a
        .create(json!({"title": "one", "participants": [{"user_id": bob.im_id}]}))
        .await;
    pace.next().await;
    let two = a.create(json!({"title": "two"})).await;
    pace.next().await;
    let sent = keyed(
        &mut a,
        "sendMessage",
        json!({"conversation": one, "text": "x"}),
        json!("k"),
    )
    .await;
    assert_eq!(sent["payload"]["seq"], 2);
    for (event, payload) in [
        ("sendMessage", json!({"conversation": two, "text": "x"})),
        (
            "sendMessage",
            json!({"conversation": "not-a-uuid", "text": "x"}),
        ),
        ("editConversation", json!({"uuid": one, "title": "new"})),
        ("createConversation", json!({"title": "three"})),
    ] {
        pace.next().await;
        let r = keyed(&mut a, event, payload.clone(), json!("k")).await;
        assert_eq!(code(&r), Some(60), "{event} {payload}: {r}");
    }
    // Keys belong to their user: Bob's "k" is his own.
    let r = keyed(
        &mut b,
        "sendMessage",
        json!({"conversation": one, "text": "y"}),
        json!("k"),
    )
    .await;
    assert_eq!(r["payload"]["seq"], 3);
    // A createConversation key answers any createConversation with the original result.
    pace.next().await;
    let created = keyed(
        &mut a,
        "createConversation",
        json!({"title": "c"}),
        json!("c"),
    )
    .await;
    pace.next().await;
    let again = keyed(
        &mut a,
        "createConversation",
        json!({"title": "other"}),
        json!("c"),
    )
    .await;
    assert_eq!(again["payload"], created["payload"]);
    // A refused request stores nothing: the key still works for a request that succeeds.
    pace.next().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let r = keyed(
        &mut a,
        "sendMessage",
        json!({"conversation": unknown, "text": "x"}),
        json!("f"),
    )
    .await;
    assert_eq!(code(&r), Some(8));
    pace.next().await;
    let r = keyed(
        &mut a,
        "sendMessage",
        json!({"conversation": two, "text": "x"}),
        json!("f"),
    )
    .await;
    assert_eq!(r["event"], "onSendMessage", "{r}");
    // A key that is not a string of 1 to 128 characters is refused with 0.
    for key in [json!(""), json!("k".repeat(129)), json!(5), json!({"k": 1})] {
        pace.next().await;
        let r = keyed(
            &mut a,
            "sendMessage",
            json!({"conversation": two, "text": "x"}),
            key.clone(),
        )
        .await;
        assert_eq!(code(&r), Some(0), "{key}: {r}");
    }
    pace.next().await;
    let r = keyed(
        &mut a,
        "sendMessage",
        json!({"conversation": two, "text": "x"}),
        json!("é".repeat(128)),
    )
    .await;
    assert_eq!(r["event"], "onSendMessage", "128 characters are fine: {r}");
}

#[tokio::test]
async fn without_the_opt_in_the_envelope_key_is_ignored() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut plain = h.login(&alice).await;
    let conv = plain.create(json!({"title": "t"})).await;
    let send = json!({"conversation": conv, "text": "x"});
    let first = keyed(&mut plain, "sendMessage", send.clone(), json!("k")).await;
    let second = keyed(&mut plain, "sendMessage", send.clone(), json!("k")).await;
    assert_eq!(
        (
            first["payload"]["seq"].as_u64(),
            second["payload"]["seq"].as_u64()
        ),
        (Some(2), Some(3))
    );
    // Not even checked.
    let r = keyed(&mut plain, "sendMessage", send, json!(5)).await;
    assert_eq!(r["event"], "onSendMessage");
    // On a connection that opted in, other actions ignore it too.
    let mut opted = login_opted_in(&h, &alice).await;
    let r = keyed(
        &mut opted,
        "getConversation",
        json!({"uuid": conv}),
        json!(5),
    )
    .await;
    assert_eq!(r["event"], "onGetConversation");
    let r = keyed(
        &mut opted,
        "isRead",
        json!({"conversation": conv, "seq": 4}),
        json!(""),
    )
    .await;
    assert_eq!(r["event"], "isRead");
}

#[tokio::test]
async fn a_retried_leave_gets_its_original_result_not_19_and_a_deleted_conversation_16() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = login_opted_in(&h, &bob).await;
    let conv = a
        .create(json!({"title": "t", "participants": [{"user_id": bob.im_id}]}))
        .await;
    let left = keyed(
        &mut b,
        "leaveConversation",
        json!({"uuid": conv}),
        json!("leave"),
    )
    .await;
    assert_eq!(left["event"], "onEditConversation");
    assert_eq!(left["payload"]["seq"], 2);
    a.next_event("onEditConversation").await;
    let again = keyed(
        &mut b,
        "leaveConversation",
        json!({"uuid": conv}),
        json!("leave"),
    )
    .await;
    assert_eq!(again["payload"], left["payload"], "not 19");
    // Without the key the same request is executed, and refused.
    assert_eq!(b.err("leaveConversation", json!({"uuid": conv})).await, 19);
    a.expect_silence(QUIET).await;
    assert_eq!(last_seq(&mut a, &conv).await, 2);

    // Bob's own conversation, deleted by his leave: a retry is answered 16.
    let mine = b.create(json!({"title": "mine"})).await;
    let left = keyed(
        &mut b,
        "leaveConversation",
        json!({"uuid": mine}),
        json!("mine"),
    )
    .await;
    assert_eq!(left["event"], "onEditConversation");
    b.next_event("onRemoveConversation").await;
    let again = keyed(
        &mut b,
        "leaveConversation",
        json!({"uuid": mine}),
        json!("mine"),
    )
    .await;
    assert_eq!(code(&again), Some(16));
}

#[tokio::test]
async fn duplicates_sent_at_once_append_once() {
    duplicates_append_once(Harness::start().await).await;
}

#[tokio::test]
async fn duplicates_sent_at_once_append_once_with_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let config = chatwire_server::testing::config(Storage::Sqlite(dir.path().to_path_buf()));
    duplicates_append_once(Harness::with_config(config).await).await;
}

async fn duplicates_append_once(h: Harness) {
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = login_opted_in(&h, &alice).await;
    let mut a2 = login_opted_in(&h, &alice).await;
    let mut b = h.login(&bob).await;
    let conv = a1
        .create(json!({"title": "t", "participants": [{"user_id": bob.im_id}]}))
        .await;
    b.next_event("onCreateConversation").await;
    a2.next_event("onCreateConversation").await;
    // Five copies on each of Alice's connections, all sent before any answer is read.
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = format!("burst-{i}");
        let frame = json!({"service": "chat", "event": "sendMessage", "request_uuid": id,
                           "idempotency_key": "burst",
                           "payload": {"conversation": conv, "text": "once"}});
        if i % 2 == 0 {
            a1.send(frame).await;
        } else {
            a2.send(frame).await;
        }
        ids.push(id);
    }
    let mut payloads = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let c = if i % 2 == 0 { &mut a1 } else { &mut a2 };
        let r = c.reply_to(id).await;
        assert_eq!(r["event"], "onSendMessage", "{r}");
        payloads.push(r["payload"].clone());
    }
    assert!(payloads.iter().all(|p| *p == payloads[0]), "{payloads:?}");
    assert_eq!(payloads[0]["seq"], 2);
    let broadcast = b.next_event("onSendMessage").await;
    assert_eq!(broadcast["payload"], payloads[0]);
    b.expect_silence(QUIET).await;
    assert_eq!(last_seq(&mut b, &conv).await, 2);
}

#[tokio::test]
async fn a_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || chatwire_server::testing::config(Storage::Sqlite(dir.path().to_path_buf()));
    let first_config = config();
    let api_key = first_config.api_key.clone();
    let h = Harness::with_config(first_config).await;
    let alice = h.user("alice").await;
    let mut a = login_opted_in(&h, &alice).await;
    let conv = a.create(json!({"title": "t"})).await;
    let send = json!({"conversation": conv, "text": "durable"});
    let sent = keyed(&mut a, "sendMessage", send.clone(), json!("survives")).await;
    assert_eq!(sent["payload"]["seq"], 2);
    drop(a);
    drop(h);

    let mut again_config = config();
    again_config.api_key = api_key;
    let server = RunningServer::start(again_config)
        .await
        .expect("restarts on the same data dir");
    let mut a = login_at(&server, &alice).await;
    let again = keyed(&mut a, "sendMessage", send, json!("survives")).await;
    assert_eq!(
        again["payload"], sent["payload"],
        "the original result after a restart"
    );
    assert_eq!(last_seq(&mut a, &conv).await, 2);
}

/// An opted-in login on a server started without the harness.
async fn login_at(server: &RunningServer, user: &TestUser) -> Client {
    let mut c = Client::connect(&server.ws_url()).await;
    let answer = c
        .session(
            "login",
            json!([user.full_name, user.password, {"chatwire": {"idempotency": true}}]),
        )
        .await;
    assert_eq!(answer["name"], "loginSuccessful", "{answer}");
    c.user = Some(user.im_id);
    c
}
