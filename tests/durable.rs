//! Durable client state: a messenger started on a store resumes where the application left
//! off, at the server's default limits. Exactly the unacknowledged events come again.

mod common;

use std::time::Duration;

use chatwire::store::SqliteStore;
use chatwire::testing::{TestServer, TestUser};
use chatwire::{AckMode, Event, EventStream, Messenger, NewConversation};
use futures::StreamExt;

async fn with_store(server: &TestServer, user: &TestUser, path: &std::path::Path) -> Messenger {
    Messenger::builder(&server.url())
        .password(&user.name, &user.password)
        .store(SqliteStore::open(path).unwrap())
        .connect()
        .await
        .unwrap()
}

/// The next `n` message texts (with their replayed flag); fails on `Lagged` or `Gap`.
async fn texts(events: &mut EventStream, n: usize) -> Vec<(String, bool)> {
    let mut got = Vec::new();
    while got.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {got:?} of {n} arrived"))
            .unwrap();
        match ev {
            Event::MessageSent { meta, message } => got.push((message.text, meta.replayed)),
            Event::Lagged { .. } | Event::Gap { .. } => panic!("{ev:?}"),
            _ => {}
        }
    }
    got
}

/// Polls once more (which acknowledges the last event in automatic mode).
async fn poll_once(events: &mut EventStream) {
    let _ = tokio::time::timeout(Duration::from_millis(50), events.next()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_application_gets_what_was_sent_while_it_was_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let b = server.messenger(&bob).await.unwrap();

    let a = with_store(&server, &alice, &path).await;
    let mut events = a.events();
    let chat = b
        .create_conversation(NewConversation::chat().participant(alice.id))
        .await
        .unwrap();
    b.send_message(chat.id, "seen").await.unwrap();
    assert_eq!(texts(&mut events, 1).await, vec![("seen".into(), false)]);
    poll_once(&mut events).await;
    a.shutdown().await;

    for i in 0..5 {
        b.send_message(chat.id, format!("missed {i}"))
            .await
            .unwrap();
    }
    let a = with_store(&server, &alice, &path).await;
    let mut events = a.events();
    let got = texts(&mut events, 5).await;
    assert_eq!(
        got,
        (0..5)
            .map(|i| (format!("missed {i}"), true))
            .collect::<Vec<_>>(),
        "what was missed, once, in order, marked replayed (and not `seen` again)"
    );
    b.send_message(chat.id, "live").await.unwrap();
    assert_eq!(texts(&mut events, 1).await, vec![("live".into(), false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_was_not_acknowledged_comes_again_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let b = server.messenger(&bob).await.unwrap();

    let a = Messenger::builder(&server.url())
        .password(&alice.name, &alice.password)
        .store(SqliteStore::open(&path).unwrap())
        .ack_mode(AckMode::Manual)
        .connect()
        .await
        .unwrap();
    let mut events = a.events();
    let chat = b
        .create_conversation(NewConversation::chat().participant(alice.id))
        .await
        .unwrap();
    for text in ["one", "two", "three"] {
        b.send_message(chat.id, text).await.unwrap();
    }
    // Handle "one" completely (and acknowledge it), receive "two" and "three" but crash
    // before handling them.
    loop {
        let ev = events.next().await.unwrap();
        if matches!(&ev, Event::MessageSent { message, .. } if message.text == "one") {
            a.ack(&ev);
            break;
        }
    }
    let got = texts(&mut events, 2).await;
    assert_eq!(got.len(), 2);
    drop(events);
    drop(a); // the process "crashes": no shutdown
    tokio::time::sleep(Duration::from_millis(300)).await;

    let a = with_store(&server, &alice, &path).await;
    let mut events = a.events();
    assert_eq!(
        texts(&mut events, 2).await,
        vec![("two".into(), true), ("three".into(), true)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_joined_while_stopped_are_delivered_from_the_event_that_added_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let b = server.messenger(&bob).await.unwrap();
    let first = b
        .create_conversation(NewConversation::chat().participant(alice.id))
        .await
        .unwrap();
    let a = with_store(&server, &alice, &path).await;
    let mut events = a.events();
    b.send_message(first.id, "hello").await.unwrap();
    texts(&mut events, 1).await;
    poll_once(&mut events).await;
    a.shutdown().await;

    let later = b
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    b.send_message(later.id, "before alice").await.unwrap();
    b.add_participants(later.id, [alice.id]).await.unwrap();
    b.send_message(later.id, "after alice").await.unwrap();

    let a = with_store(&server, &alice, &path).await;
    let mut events = a.events();
    let mut added = false;
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .unwrap()
            .unwrap();
        match ev {
            Event::ConversationEdited { conversation, .. } if conversation.id == later.id => {
                added = true;
            }
            Event::MessageSent { message, meta } => {
                assert_ne!(message.text, "before alice", "history before the join");
                assert_ne!(message.text, "hello", "delivered again");
                assert_eq!(message.text, "after alice");
                assert!(added, "the event that added alice comes first");
                assert!(meta.replayed);
                break;
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_with_a_store_never_lags_and_loses_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_default())
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let bobs: Vec<Messenger> = futures::future::join_all((0..10).map(|_| server.messenger(&bob)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let chat = bobs[0]
        .create_conversation(NewConversation::chat().participant(alice.id))
        .await
        .unwrap();
    let a = Messenger::builder(&server.url())
        .password(&alice.name, &alice.password)
        .store(SqliteStore::open(&path).unwrap())
        .event_buffer(16)
        .connect()
        .await
        .unwrap();
    let mut events = a.events();
    a.shutdown().await;
    drop(events);
    let n = 1500;
    futures::future::join_all((0..n).map(|i| {
        let b = bobs[i % bobs.len()].clone();
        async move { b.send_message(chat.id, format!("m{i}")).await.unwrap() }
    }))
    .await;

    let a = Messenger::builder(&server.url())
        .password(&alice.name, &alice.password)
        .store(SqliteStore::open(&path).unwrap())
        .event_buffer(16)
        .connect()
        .await
        .unwrap();
    events = a.events();
    let mut seqs = Vec::new();
    while seqs.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap_or_else(|_| panic!("events stopped after {} of {n}", seqs.len()))
            .unwrap();
        match ev {
            Event::MessageSent { meta, .. } => {
                seqs.push(meta.seq.unwrap().get());
                if seqs.len() == 1 {
                    // Fall far behind once: the SDK must stop reading, not drop events.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Event::Lagged { .. } | Event::Gap { .. } => panic!("{ev:?} after {}", seqs.len()),
            _ => {}
        }
    }
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "each once, in order"
    );
}
