//! Replies and broadcasts are counted apart in a connection's outbound queue: a client that asks
//! for many frames at once is slowed down (the server stops reading it while its replies fill
//! the queue), never closed; a client that stops reading broadcasts is still closed with 4004.
//! All at the server's default limits (queue of 1 024 frames, 20 requests per second).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_tungstenite::MaybeTlsStream;

use crate::common::{Client, Harness, TestUser};
use crate::{send_messages, Pace};

/// Alice and Bob in a conversation of 101 events (the creation and 100 messages of
/// `payload_bytes` each, half from each).
async fn conversation_of_101(h: &Harness, payload_bytes: usize) -> (TestUser, TestUser, String) {
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let (mut pa, mut pb) = (Pace::new(), Pace::new());
    pa.next().await;
    let conv = a
        .create(json!({"title": "long", "participants": [{"user_id": bob.im_id}]}))
        .await;
    tokio::join!(
        send_messages(&mut a, &mut pa, &conv, 50, payload_bytes),
        send_messages(&mut b, &mut pb, &conv, 50, payload_bytes)
    );
    (alice, bob, conv)
}

/// A retransmit window of 100 events: `[1, 100]` or `[2, 101]`.
fn window(id: &str, conv: &str, i: usize) -> serde_json::Value {
    let from = 1 + (i % 2);
    json!({"service": "chat", "event": "retransmitEvents", "request_uuid": id,
           "payload": {"conversation": conv, "events_from": from, "events_to": from + 99}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_retransmit_windows_at_once_are_answered_in_full() {
    let h = Harness::start().await;
    let (_alice, bob, conv) = conversation_of_101(&h, 0).await;
    let mut c = h.login(&bob).await;
    // 52 windows at once: 5 200 frames asked for, 20 windows (2 000 frames, about twice the
    // queue) admitted per second. Windows refused with 32/33 are sent again a second later, as
    // the SDK does; the client reads everything as it comes.
    const WINDOWS: usize = 52;
    let ids: Vec<String> = (0..WINDOWS).map(|i| format!("w{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        c.send(window(id, &conv, i)).await;
    }
    let mut frames: HashMap<String, u64> = HashMap::new();
    let mut retry: VecDeque<String> = VecDeque::new();
    let mut next_retry = Instant::now() + Duration::from_millis(1050);
    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while frames.values().filter(|n| **n == 100).count() < WINDOWS {
        assert!(
            Instant::now() < deadline,
            "not all windows answered: {frames:?}"
        );
        match c.next_within(Duration::from_millis(100)).await {
            Some(f) => {
                let id = f["request_uuid"].as_str().unwrap().to_string();
                if f["event"] == "onError" {
                    let code = f["payload"]["code"].as_u64().unwrap();
                    assert!(code == 32 || code == 33, "{f}");
                    refused += 1;
                    retry.push_back(id);
                } else {
                    assert_eq!(f["event"], "onRetransmitEvents", "{f}");
                    assert_eq!(f["payload"]["count"], 100, "{f}");
                    *frames.entry(id).or_default() += 1;
                }
            }
            None => assert_eq!(c.closed, None, "the reading client was closed"),
        }
        if !retry.is_empty() && Instant::now() >= next_retry {
            for _ in 0..retry.len().min(19) {
                let id = retry.pop_front().unwrap();
                let i: usize = id[1..].parse().unwrap();
                c.send(window(&id, &conv, i)).await;
            }
            next_retry = Instant::now() + Duration::from_millis(1050);
        }
    }
    assert!(frames.values().all(|n| *n == 100), "{frames:?}");
    eprintln!("{WINDOWS} windows answered in full; {refused} refusals by the rate limit, retried");
    // Still open and serving.
    let me = c.ok("getSubscriptionList", json!({})).await;
    assert_eq!(me["event"], "onGetSubscriptionList");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_its_replies_late_is_paused_not_closed() {
    let h = Harness::start().await;
    // Events of about 16 KB: 2 000 of them are far more than the socket buffers hold.
    let (alice, bob, conv) = conversation_of_101(&h, 16_000).await;
    let mut c = small_buffer_login(&h, &bob).await;
    let ids: Vec<String> = (0..20).map(|i| format!("w{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        c.send(window(id, &conv, i)).await;
    }
    c.send(
        json!({"service": "chat", "event": "sendMessage", "request_uuid": "after",
                  "payload": {"conversation": conv, "text": "sent behind the windows"}}),
    )
    .await;
    // The client reads nothing for a while: the server stops reading it (the message behind the
    // windows is not executed yet) instead of closing it.
    let mut other = h.login(&alice).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let got = other.ok("getConversation", json!({"uuid": conv})).await;
        assert_eq!(
            got["payload"]["seq"], 101,
            "the server read past the windows while their replies were unread"
        );
    }
    for id in &ids {
        for _ in 0..100 {
            let f = c.reply_to(id).await;
            assert_eq!(f["event"], "onRetransmitEvents", "{f}");
        }
    }
    let after = c.reply_to("after").await;
    assert_eq!(after["payload"]["seq"], 102, "{after}");
    assert_eq!(c.closed, None);
}

/// A logged-in client whose socket receive buffer is small, so that the server's queue, not the
/// kernel, holds what it does not read.
async fn small_buffer_login(h: &Harness, user: &TestUser) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(h.server.local_addr()).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(h.server.ws_url(), MaybeTlsStream::Plain(stream))
        .await
        .expect("websocket handshake");
    let mut c = Client {
        ws,
        pending: VecDeque::new(),
        user: None,
        closed: None,
    };
    assert_eq!(c.next().await.unwrap()["name"], "__connectionSuccessful");
    c.login(&user.full_name, &user.password).await;
    c.user = Some(user.im_id);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_broadcasts_is_still_closed_with_4004() {
    const SENDERS: usize = 16;
    const MESSAGES: usize = 100;
    let h = Harness::start().await;
    let bob = h.user("bob").await;
    let mut slow = small_buffer_login(&h, &bob).await;
    // Each sender shares a conversation with Bob only, so every message is one broadcast (to
    // Bob) and one reply (to its sender).
    let mut tasks = Vec::new();
    for i in 0..SENDERS {
        let user = h.user(&format!("sender{i}")).await;
        let mut c = h.login(&user).await;
        let conv = c
            .create(json!({"title": "t", "participants": [{"user_id": bob.im_id}]}))
            .await;
        tasks.push(tokio::spawn(async move {
            let mut pace = Pace::new();
            pace.next().await;
            let seqs = send_messages(&mut c, &mut pace, &conv, MESSAGES, 32_000).await;
            assert_eq!(seqs.len(), MESSAGES);
            assert_eq!(c.closed, None, "a sender that reads was closed");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Bob never read: what the socket buffers held arrives, then the close. The server dropped
    // the rest rather than keep it.
    let mut received = 0;
    while let Some(f) = slow.next_within(Duration::from_secs(10)).await {
        if f["event"] == "onSendMessage" {
            received += 1;
        }
    }
    let (code, reason) = slow.closed.clone().expect("closed with a close frame");
    assert_eq!(code, 4004, "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    assert!(
        received < SENDERS * MESSAGES,
        "{received} frames: the server should have dropped what Bob did not read"
    );
    eprintln!(
        "slow client closed with 4004 after {received} of {} broadcasts",
        SENDERS * MESSAGES
    );
}
