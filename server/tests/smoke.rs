//! A first end-to-end pass: login, a chat between two users, retransmit.

mod common;

use common::Harness;
use serde_json::json;

#[tokio::test]
async fn two_users_chat_and_retransmit() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;

    let created = a
        .ok(
            "createConversation",
            json!({"title": "t", "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    assert_eq!(created["event"], "onCreateConversation");
    assert_eq!(created["payload"]["seq"], 1);
    let conv = created["payload"]["object"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let on_b = b.next_event("onCreateConversation").await;
    assert_eq!(on_b["payload"]["object"]["uuid"], conv);

    let sent = a
        .ok("sendMessage", json!({"conversation": conv, "text": "hi"}))
        .await;
    assert_eq!(sent["payload"]["seq"], 2);
    let got = b.next_event("onSendMessage").await;
    assert_eq!(got["payload"]["object"]["text"], "hi");
    assert_eq!(got["payload"]["initiator"], alice.im_id);

    let r = b
        .ok(
            "retransmitEvents",
            json!({"conversation": conv, "events_from": 1, "events_to": 2}),
        )
        .await;
    assert_eq!(r["payload"]["count"], 2);
    assert_eq!(r["payload"]["object"]["event"], "onCreateConversation");
    let r2 = b.next_event("onRetransmitEvents").await;
    assert_eq!(r2["payload"]["object"]["payload"]["object"]["text"], "hi");
}
