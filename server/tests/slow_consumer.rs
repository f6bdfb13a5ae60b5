//! A connection that stops reading is closed with 4004 instead of buffering without bound;
//! other clients keep being served, and the slow client catches up by seq afterwards.

mod common;

use std::time::Duration;

use chatwire_server::Storage;
use common::Harness;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_closed_with_4004_and_catches_up() {
    let mut config = chatwire_server::testing::config(Storage::Memory);
    config.limits.outbound_queue = 8;
    config.limits.requests_per_second = 0;
    config.limits.requests_per_minute = 0;
    let h = Harness::with_config(config).await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut slow = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    slow.next_event("onCreateConversation").await;

    // Carol reads everything as it comes, in her own task.
    let carol_task = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Some(f) = c.next_within(Duration::from_secs(5)).await {
            if f["event"] == "onSendMessage" {
                seqs.push(f["payload"]["seq"].as_u64().unwrap());
            }
        }
        (seqs, c.closed.clone())
    });
    // Bob stops reading; Alice sends large messages until the socket buffers and Bob's queue fill.
    let blob = "x".repeat(60_000);
    let mut last_seq = 0;
    for _ in 0..400 {
        let r = a
            .ok(
                "sendMessage",
                json!({"conversation": conv, "payload": [{"blob": blob}]}),
            )
            .await;
        last_seq = r["payload"]["seq"].as_u64().unwrap();
    }
    // Carol, who reads, got everything in order and was never closed.
    let (seqs, closed) = carol_task.await.unwrap();
    assert_eq!(closed, None);
    assert_eq!(seqs, (2..=last_seq).collect::<Vec<_>>());
    // Bob's connection was closed with 4004; frames queued before the close may arrive first.
    let mut code = None;
    while let Some(_frame) = slow.next_within(Duration::from_secs(10)).await {}
    if let Some((c, reason)) = slow.closed.clone() {
        code = Some(c);
        assert!(reason.contains("slow consumer"), "{reason}");
    }
    assert_eq!(code, Some(4004));

    // Bob reconnects and catches up by seq: the log is complete.
    let mut b = h.login(&bob).await;
    let got = b.ok("getConversation", json!({"uuid": conv})).await;
    assert_eq!(got["payload"]["seq"], last_seq);
    let r = b
        .ok(
            "retransmitEvents",
            json!({"conversation": conv, "events_to": last_seq, "count": 5}),
        )
        .await;
    assert_eq!(r["payload"]["count"], 5);
    assert_eq!(r["payload"]["to_seq"], last_seq);
}
