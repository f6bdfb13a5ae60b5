//! Catch-up and bursts at the server's default rate limits (20 requests/s, 600/min per
//! connection): the SDK paces itself and retries refusals that pass, so nothing is lost and no
//! false `Gap` is reported.

mod common;

use std::collections::HashSet;
use std::future::IntoFuture;
use std::time::Duration;

use chatwire::testing::{TestServer, TestUser};
use chatwire::{ConnectionState, ConversationId, Event, EventStream, Messenger, NewConversation};
use common::proxy::Proxy;
use futures::StreamExt;

async fn behind(proxy: &Proxy, user: &TestUser) -> Messenger {
    Messenger::builder(&proxy.url())
        .password(&user.name, &user.password)
        .reconnect(
            chatwire::ReconnectPolicy::default()
                .initial_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(200)),
        )
        .connect()
        .await
        .unwrap()
}

async fn wait_state(m: &Messenger, want: impl Fn(&ConnectionState) -> bool) {
    let mut w = m.connection_state_watch();
    tokio::time::timeout(Duration::from_secs(30), w.wait_for(|s| want(s)))
        .await
        .expect("state reached")
        .unwrap();
}

/// Reads until `n` messages arrived; fails on any `Gap`.
async fn messages(events: &mut EventStream, n: usize) -> Vec<(ConversationId, u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages arrived", got.len()))
            .unwrap();
        match ev {
            Event::MessageSent { meta, message } => {
                got.push((message.conversation, meta.seq.unwrap().get(), message.text))
            }
            Event::Gap { .. } => panic!("false gap after {} messages: {ev:?}", got.len()),
            _ => {}
        }
    }
    got
}

/// `n` messengers of one user (each connection has its own rate limit).
async fn senders(server: &TestServer, user: &TestUser, n: usize) -> Vec<Messenger> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(server.messenger(user).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_missed_a_message_in_each_of_120_conversations_gets_all_of_them() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = behind(&proxy, &alice).await;
    let mut events = a.events();
    let bobs = senders(&server, &bob, 8).await;
    let creates = (0..120).map(|i| {
        let b = bobs[i % bobs.len()].clone();
        async move {
            b.create_conversation(NewConversation::chat().participant(alice.id))
                .await
                .unwrap()
                .id
        }
    });
    let chats: Vec<ConversationId> = futures::future::join_all(creates).await;

    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    let sends = chats.iter().enumerate().map(|(i, chat)| {
        let b = bobs[i % bobs.len()].clone();
        async move { b.send_message(*chat, format!("missed {i}")).await.unwrap() }
    });
    futures::future::join_all(sends).await;
    proxy.restore();

    let got = messages(&mut events, 120).await;
    let convs: HashSet<_> = got.iter().map(|g| g.0).collect();
    assert_eq!(convs.len(), 120, "one message from every conversation");
    assert_eq!(convs, chats.iter().copied().collect::<HashSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_missed_2100_messages_in_one_conversation_gets_all_of_them_in_order() {
    let server = TestServer::start().await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = behind(&proxy, &alice).await;
    let mut events = a.events();
    let bobs = senders(&server, &bob, 12).await;
    let chat = bobs[0]
        .create_conversation(NewConversation::chat().participant(alice.id))
        .await
        .unwrap();

    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    let sends = (0..2100).map(|i| {
        let b = bobs[i % bobs.len()].clone();
        async move { b.send_message(chat.id, format!("m{i}")).await.unwrap() }
    });
    futures::future::join_all(sends).await;
    proxy.restore();

    let got = messages(&mut events, 2100).await;
    assert!(
        got.windows(2).all(|w| w[1].1 == w[0].1 + 1),
        "consecutive seqs, each once"
    );
    let texts: HashSet<_> = got.iter().map(|g| g.2.clone()).collect();
    assert_eq!(texts.len(), 2100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_50_sends_on_one_connection_succeeds() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let a = server.messenger(&alice).await.unwrap();
    let chat = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let sends = (0..50).map(|i| a.send_message(chat.id, format!("burst {i}")).into_future());
    let results = futures::future::join_all(sends).await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_fast_a_burst_is_paced_not_refused() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    // Failing fast surfaces every 32/33; a burst of 30 (over the 20 per second the server
    // allows) still succeeds because the messenger paces its requests instead of sending them
    // all at once.
    let a = Messenger::builder(&server.url())
        .password(&alice.name, &alice.password)
        .retry_rate_limited(false)
        .connect()
        .await
        .unwrap();
    let chat = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let sends = (0..30).map(|i| a.send_message(chat.id, format!("paced {i}")).into_future());
    let results = futures::future::join_all(sends).await;
    assert!(
        results.iter().all(|r| r.is_ok()),
        "paced under the limit, nothing refused"
    );
}
