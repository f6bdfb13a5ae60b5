//! The `resume` scenario: durable client state measured through the SDK.
//!
//! 1. A user in `conversations` conversations (created by `senders` connections of another
//!    user) runs a messenger with a `SqliteStore` until it has seen them all, then shuts down.
//! 2. One message is sent in every conversation while it is stopped.
//! 3. It starts again on the same store: the time until every missed message was delivered
//!    (resume: connect, login, catch-up) and the number of messaging requests it sent (counted
//!    by a WebSocket proxy in front of the server), with nothing lost and no `Gap`.
//! 4. `sends` messages sent at once through the outbox (with the store): the time until every
//!    call returned, in messages/s.
//!
//! Run it against a server at its default limits for the catch-up target (under 1 s for 1,000
//! conversations) and against one without limits to see the outbox's own cost.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatwire::store::SqliteStore;
use chatwire::{ConversationId, Event, Messenger, NewConversation, UserId};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;

use crate::common::{add_users, Report, Res, PASSWORD};
use crate::Common;

/// A WebSocket proxy that counts the messaging frames clients send.
struct CountingProxy {
    url: String,
    requests: Arc<AtomicU64>,
}

impl CountingProxy {
    async fn start(upstream: String) -> Res<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/platform", listener.local_addr()?);
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (upstream, counter) = (upstream.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let Ok((server, _)) = tokio_tungstenite::connect_async(upstream).await else {
                        return;
                    };
                    let (mut c_tx, mut c_rx) = client.split();
                    let (mut s_tx, mut s_rx) = server.split();
                    let up = async {
                        while let Some(Ok(msg)) = c_rx.next().await {
                            if msg.is_text()
                                && msg.to_text().is_ok_and(|t| t.contains("\"service\""))
                            {
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                            if s_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async {
                        while let Some(Ok(msg)) = s_rx.next().await {
                            if c_tx.send(msg).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
        Ok(CountingProxy { url, requests })
    }
}

async fn messenger(url: &str, user: &str, store: Option<SqliteStore>) -> Res<Messenger> {
    let mut builder = Messenger::builder(url).password(user, PASSWORD);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    Ok(builder.connect().await?)
}

/// Waits for `n` events matching `want`; returns how many arrived and how many were gaps.
async fn count(
    events: &mut chatwire::EventStream,
    n: usize,
    within: Duration,
    mut want: impl FnMut(&Event) -> bool,
) -> (usize, usize) {
    let (mut got, mut gaps) = (0, 0);
    let deadline = tokio::time::Instant::now() + within;
    while got < n {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Gap { .. })) => gaps += 1,
            Ok(Some(e)) if want(&e) => got += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    (got, gaps)
}

pub async fn resume(c: &Common, conversations: usize, sends: usize, senders: usize) -> Res<bool> {
    let prefix = c.prefix("r");
    let users = add_users(&c.host(), &c.api_key, &c.domain, &prefix, 2, 2).await?;
    let (reader, sender) = (&users[0], &users[1]);
    let dir = std::env::temp_dir().join(format!("chatwire-resume-{}", std::process::id()));
    let store_path = dir.join("reader.db");
    let proxy = CountingProxy::start(c.url.clone()).await?;
    let mut report = Report::new("resume", "chatwire");
    report.put("conversations", conversations as u64);

    let pool: Vec<Messenger> = futures::future::try_join_all(
        (0..senders.max(1)).map(|_| messenger(&c.url, &sender.full, None)),
    )
    .await?;
    let first = messenger(
        &proxy.url,
        &reader.full,
        Some(SqliteStore::open(&store_path)?),
    )
    .await?;
    let reader_id: UserId = first.user_id();
    let mut events = first.events();
    let chats: Vec<ConversationId> = futures::future::try_join_all((0..conversations).map(|i| {
        let m = pool[i % pool.len()].clone();
        async move {
            m.create_conversation(NewConversation::chat().participant(reader_id))
                .await
                .map(|c| c.id)
        }
    }))
    .await?;
    let (seen, _) = count(&mut events, conversations, Duration::from_secs(120), |e| {
        matches!(e, Event::ConversationCreated { .. })
    })
    .await;
    // One more poll acknowledges the last one.
    let _ = tokio::time::timeout(Duration::from_millis(100), events.next()).await;
    drop(events);
    first.shutdown().await;
    futures::future::try_join_all(chats.iter().enumerate().map(|(i, chat)| {
        let m = pool[i % pool.len()].clone();
        async move { m.send_message(*chat, format!("missed {i}")).await }
    }))
    .await?;

    let before = proxy.requests.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let second = messenger(
        &proxy.url,
        &reader.full,
        Some(SqliteStore::open(&store_path)?),
    )
    .await?;
    let mut events = second.events();
    let (delivered, gaps) = count(
        &mut events,
        conversations,
        Duration::from_secs(120),
        |e| matches!(e, Event::MessageSent { meta, .. } if meta.replayed),
    )
    .await;
    let resume = t0.elapsed();
    let requests = proxy.requests.load(Ordering::Relaxed) - before;
    report.put("created_seen", seen as u64);
    report.put(
        "resume_ms",
        crate::common::round3(resume.as_secs_f64() * 1e3),
    );
    report.put("catchup_requests", requests);
    report.put("delivered", delivered as u64);
    report.put("lost", (conversations - delivered) as u64);
    report.put("gaps", gaps as u64);

    let mut ok = delivered == conversations && gaps == 0 && seen == conversations;
    // With a store the stream must be read (the messenger waits for it when the buffer is full):
    // the results of our own sends arrive on it too.
    let drain = tokio::spawn(async move { while events.next().await.is_some() {} });
    if sends > 0 {
        let chat = match chats.first() {
            Some(c) => *c,
            None => {
                second
                    .create_conversation(NewConversation::chat())
                    .await?
                    .id
            }
        };
        let t0 = Instant::now();
        let results = futures::future::join_all((0..sends).map(|i| {
            second
                .send_message(chat, format!("outbox {i}"))
                .into_future()
        }))
        .await;
        let took = t0.elapsed().as_secs_f64();
        let failed = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            report.put("outbox_first_error", e.to_string());
        }
        report.put("outbox_sends", sends as u64);
        report.put("outbox_failed", failed as u64);
        report.put(
            "outbox_msgs_per_s",
            crate::common::round3(sends as f64 / took),
        );
        ok &= failed == 0;
    }
    second.shutdown().await;
    drain.abort();
    let _ = std::fs::remove_dir_all(&dir);
    report.print();
    Ok(ok)
}
