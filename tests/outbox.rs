//! The outbox: changes made while the connection is down wait and go out when it is
//! back; a change belongs to the SDK once accepted; its outcome comes as an event when nobody
//! waits for it.

mod common;

use std::future::IntoFuture;
use std::time::Duration;

use chatwire::testing::TestServer;
use chatwire::{ConnectionState, Event, Messenger, NewConversation, ReconnectPolicy};
use common::proxy::Proxy;
use futures::StreamExt;

async fn wait_state(m: &Messenger, want: impl Fn(&ConnectionState) -> bool) {
    let mut w = m.connection_state_watch();
    tokio::time::timeout(Duration::from_secs(30), w.wait_for(|s| want(s)))
        .await
        .expect("state reached")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_disconnected_go_out_when_the_connection_is_back() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = Messenger::builder(&proxy.url())
        .password(&alice.name, &alice.password)
        .reconnect(
            ReconnectPolicy::default()
                .initial_delay(Duration::from_millis(50))
                .max_delay(Duration::from_millis(200)),
        )
        .connect()
        .await
        .unwrap();
    let b = server.messenger(&bob).await.unwrap();
    let mut bob_events = b.events();
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();

    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    let sends: Vec<_> = (0..5)
        .map(|i| {
            let a = a.clone();
            tokio::spawn(async move { a.send_message(chat.id, format!("offline {i}")).await })
        })
        .collect();
    // A send whose caller gives up still goes out: the outbox owns it.
    let dropped = a.send_message(chat.id, "dropped future");
    let _ = tokio::time::timeout(Duration::from_millis(50), dropped.into_future()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.restore();
    for s in sends {
        s.await.unwrap().expect("sent once the connection is back");
    }
    let mut texts = Vec::new();
    while texts.len() < 6 {
        let ev = tokio::time::timeout(Duration::from_secs(20), bob_events.next())
            .await
            .unwrap()
            .unwrap();
        if let Event::MessageSent { message, .. } = ev {
            texts.push(message.text);
        }
    }
    let mut offline: Vec<_> = texts
        .iter()
        .filter(|t| t.starts_with("offline"))
        .cloned()
        .collect();
    offline.sort();
    assert_eq!(
        offline,
        (0..5).map(|i| format!("offline {i}")).collect::<Vec<_>>()
    );
    assert!(texts.contains(&"dropped future".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fail_fast_while_disconnected() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    let alice = server.add_user("alice").await;
    let a = Messenger::builder(&proxy.url())
        .password(&alice.name, &alice.password)
        .connect()
        .await
        .unwrap();
    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    let started = std::time::Instant::now();
    let err = a.get_user(alice.id).await.unwrap_err();
    assert!(matches!(err, chatwire::Error::Disconnected), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails fast, not at the timeout"
    );
}

#[tokio::test]
async fn a_bad_idempotency_key_is_refused_locally() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let a = server.messenger(&alice).await.unwrap();
    let chat = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let err = a
        .send_message(chat.id, "hi")
        .idempotency_key("")
        .await
        .unwrap_err();
    match err {
        chatwire::Error::InvalidArgument(e) => {
            assert_eq!(e.kind(), chatwire::InvalidArgumentKind::IdempotencyKey)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_same_idempotency_key_sends_once() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let a = server.messenger(&alice).await.unwrap();
    let chat = a
        .create_conversation(NewConversation::chat().idempotency_key("create-1"))
        .await
        .unwrap();
    let again = a
        .create_conversation(NewConversation::chat().idempotency_key("create-1"))
        .await
        .unwrap();
    assert_eq!(
        again.id, chat.id,
        "the repeated creation answers with the first conversation"
    );
    let first = a
        .send_message(chat.id, "once")
        .idempotency_key("reply:1")
        .await
        .unwrap();
    let second = a
        .send_message(chat.id, "once")
        .idempotency_key("reply:1")
        .await
        .unwrap();
    assert_eq!(first.id, second.id, "the repeat gets the original message");
    let other = a.send_message(chat.id, "twice").await.unwrap();
    assert_ne!(other.id, first.id);
    let now = a.get_conversation(chat.id).await.unwrap();
    // seq 1 creation, 2 "once", 3 "twice": the repeat appended nothing.
    assert_eq!(now.last_seq.get(), 3);
}

#[tokio::test]
async fn concurrent_custom_data_patches_of_different_keys_are_both_kept() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = server.messenger(&alice).await.unwrap();
    let b = server.messenger(&bob).await.unwrap();
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    a.add_admins(chat.id, [bob.id]).await.unwrap();
    for round in 0..10 {
        let (x, y) = futures::join!(
            a.edit_conversation(chat.id)
                .custom_data(chatwire::CustomDataPatch::new().set("from_alice", round))
                .into_future(),
            b.edit_conversation(chat.id)
                .custom_data(chatwire::CustomDataPatch::new().set("from_bob", round))
                .into_future()
        );
        x.unwrap();
        y.unwrap();
        let data = a.get_conversation(chat.id).await.unwrap().custom_data;
        assert_eq!(data["from_alice"], round, "{data:?}");
        assert_eq!(data["from_bob"], round, "{data:?}");
    }
}
