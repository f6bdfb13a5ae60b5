//! The live model's costs (issue 13), measured through the public API against an in-process
//! server (memory storage, rate limits off):
//!
//! - memory per conversation in a loaded [`Inbox`](chatwire::Inbox) (resident memory before and
//!   after loading, divided by the number of conversations; the allocator keeps freed memory
//!   and the server runs in the same process, so the figure is an upper bound);
//! - memory per message in a [`Timeline`](chatwire::Timeline) paginated through a long
//!   conversation;
//! - events per second through the inbox: messages sent by several connections until the
//!   reader's inbox shows them all as unread (server, socket, SDK decode and fold together: the
//!   fold alone is faster).
//!
//! Run: `cargo bench -p chatwire --bench live_model` (not a test: it prints figures, it asserts
//! nothing about speed). `LIVE_MODEL_SCALE=0.2` makes a short run.

// A benchmark binary: prints its figures.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use chatwire::testing::TestServer;
use chatwire::{Messenger, NewConversation};

/// Resident memory (Linux `/proc/self/status` VmRSS) after things settle, in bytes. The
/// allocator keeps freed memory, so a growth is an upper bound of what was kept.
async fn live_heap() -> isize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<isize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("LIVE_MODEL_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale) as usize).max(10)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut cfg = chatwire_server::testing::config(chatwire_server::Storage::Memory);
    cfg.limits.requests_per_second = 0;
    cfg.limits.requests_per_minute = 0;
    let server = TestServer::with_config(cfg).await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = server.messenger(&alice).await.expect("login");

    // Inbox: N conversations with a few messages each, 2 unread for Bob.
    let n = scaled(1_000);
    for i in 0..n {
        let c = a
            .create_conversation(
                NewConversation::chat()
                    .title(format!("room {i}"))
                    .participant(bob.id),
            )
            .await
            .expect("create");
        for t in ["hello", "how are things going this week?"] {
            a.send_message(c.id, t).await.expect("send");
        }
    }
    let b = server.messenger(&bob).await.expect("login");
    let before = live_heap().await;
    let started = Instant::now();
    let inbox = b.inbox();
    inbox.loaded().await.expect("loaded");
    let load_time = started.elapsed();
    let after = live_heap().await;
    assert_eq!(inbox.snapshot().len(), n);
    println!(
        "inbox: {n} conversations loaded in {:.2} s ({:.0} conversations/s); resident memory +{:.0} bytes per conversation",
        load_time.as_secs_f64(),
        n as f64 / load_time.as_secs_f64(),
        (after - before) as f64 / n as f64
    );

    // Timeline: one long conversation, paginated to its start.
    let m = scaled(4_900);
    let long = a
        .create_conversation(NewConversation::chat().title("long").participant(bob.id))
        .await
        .expect("create");
    senders(&server, &alice, long.id, m, 4).await;
    let before = live_heap().await;
    let timeline = b.timeline(long.id).await.expect("timeline");
    let started = Instant::now();
    // Until the start, or until the window is full (it returns 0 then).
    while timeline.paginate_back(1_000).await.expect("paginate") > 0 {}
    let page_time = started.elapsed();
    let after = live_heap().await;
    let loaded = timeline.items();
    let items = loaded.len();
    // What the window holds: the item itself plus its text (the payloads are empty here).
    let held: usize = loaded
        .iter()
        .map(|i| std::mem::size_of::<chatwire::TimelineItem>() + i.text.capacity())
        .sum();
    println!(
        "timeline: {items} messages paginated in {:.2} s ({:.0} messages/s); {:.0} bytes per message held (item + text of 9-12 bytes); resident memory +{:.0} bytes per message (freed memory reused)",
        page_time.as_secs_f64(),
        items as f64 / page_time.as_secs_f64(),
        held as f64 / items as f64,
        (after - before) as f64 / items as f64
    );
    drop(timeline);

    // Events through the inbox: K messages over 50 conversations, from 4 connections.
    let k = scaled(20_000);
    let rooms: Vec<_> = inbox.snapshot().iter().take(50).map(|e| e.id()).collect();
    inbox.mark_as_read(rooms[0]).await.expect("read");
    let base: u32 = inbox.snapshot().iter().map(|e| e.unread).sum();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..4 {
        let m = server.messenger(&alice).await.expect("login");
        let rooms = rooms.clone();
        tasks.push(tokio::spawn(async move {
            for i in (s..k).step_by(4) {
                m.send_message(rooms[i % rooms.len()], format!("m{i}"))
                    .await
                    .expect("send");
            }
        }));
    }
    let target = base + k as u32;
    loop {
        let unread: u32 = inbox.snapshot().iter().map(|e| e.unread).sum();
        if unread >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    for t in tasks {
        t.await.expect("sender");
    }
    println!(
        "inbox fold: {k} message events in {:.2} s = {:.0} events/s end to end (4 senders, 1 reader)",
        elapsed.as_secs_f64(),
        k as f64 / elapsed.as_secs_f64()
    );

    // Loading at the server's default limits (20 requests/s per connection, 600/min): the
    // request count is what matters there.
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let n = scaled(500);
    let per = n.div_ceil(10);
    let mut tasks = Vec::new();
    for s in 0..10 {
        let m = server.messenger(&alice).await.expect("login");
        let bob = bob.id;
        tasks.push(tokio::spawn(async move {
            for i in (s * per)..((s + 1) * per).min(n) {
                let c = m
                    .create_conversation(
                        NewConversation::chat()
                            .title(format!("room {i}"))
                            .participant(bob),
                    )
                    .await
                    .expect("create");
                m.send_message(c.id, "hello").await.expect("send");
            }
        }));
    }
    for t in tasks {
        t.await.expect("creator");
    }
    let b = server.messenger(&bob).await.expect("login");
    let started = Instant::now();
    let inbox = b.inbox();
    inbox.loaded().await.expect("loaded");
    let elapsed = started.elapsed();
    assert_eq!(inbox.snapshot().len(), n);
    assert!(inbox.snapshot().iter().all(|e| e.unread == 1));
    println!(
        "inbox at the default limits: {n} conversations (1 unread each) loaded in {:.2} s",
        elapsed.as_secs_f64()
    );
}

/// Sends `count` messages to `conversation` from `connections` connections of `user`.
async fn senders(
    server: &TestServer,
    user: &chatwire::testing::TestUser,
    conversation: chatwire::ConversationId,
    count: usize,
    connections: usize,
) {
    let mut tasks = Vec::new();
    for s in 0..connections {
        let m: Messenger = server.messenger(user).await.expect("login");
        tasks.push(tokio::spawn(async move {
            for i in (s..count).step_by(connections) {
                m.send_message(conversation, format!("message {i}"))
                    .await
                    .expect("send");
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
}
