//! Gap-free delivery across network drops and server restarts, and backoff timing.

use std::sync::atomic::Ordering;
use std::time::Duration;

mod common;

use chatwire::testing::TestServer;
use chatwire::{ConnectionState, Event, Messenger, NewConversation, ReconnectPolicy};
use chatwire_server::{RunningServer, Storage};
use common::proxy::Proxy;
use futures::StreamExt;

fn fast_policy() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200))
}

async fn wait_state(m: &Messenger, want: impl Fn(&ConnectionState) -> bool) {
    let mut w = m.connection_state_watch();
    tokio::time::timeout(Duration::from_secs(20), w.wait_for(|s| want(s)))
        .await
        .expect("state reached")
        .unwrap();
}

fn unlimited(storage: Storage) -> chatwire_server::Config {
    let mut c = chatwire_server::testing::config(storage);
    c.limits.requests_per_second = 0;
    c.limits.requests_per_minute = 0;
    c
}

/// Reads `a`'s stream until `n` messages arrived; checks order, uniqueness and seqs.
async fn collect_messages(
    events: &mut chatwire::EventStream,
    n: usize,
) -> Vec<(u64, String, bool)> {
    let mut got = Vec::new();
    while got.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("events keep coming")
            .unwrap();
        if let Event::MessageSent { meta, message } = ev {
            got.push((meta.seq.unwrap().get(), message.text, meta.replayed));
        }
    }
    got
}

async fn scenario(server: &TestServer, proxy: &Proxy, cuts_during_catch_up: usize) {
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = Messenger::builder(&proxy.url())
        .password(&alice.name, &alice.password)
        .reconnect(fast_policy())
        .connect()
        .await
        .unwrap();
    let b = server.messenger(&bob).await.unwrap();
    let mut events = a.events();
    let chat = b
        .create_conversation(NewConversation::chat().participant(alice.id))
        .await
        .unwrap();
    b.send_message(chat.id, "before").await.unwrap();
    assert_eq!(collect_messages(&mut events, 1).await[0].1, "before");

    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    for i in 0..1000 {
        b.send_message(chat.id, format!("m{i}")).await.unwrap();
    }
    proxy.restore();
    for _ in 0..cuts_during_catch_up {
        wait_state(&a, |s| *s == ConnectionState::Live).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        proxy.cut();
        wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
        proxy.restore();
    }
    let got = collect_messages(&mut events, 1000).await;
    let texts: Vec<String> = got.iter().map(|g| g.1.clone()).collect();
    assert_eq!(
        texts,
        (0..1000).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "all 1000, once, in order"
    );
    assert!(
        got.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "consecutive seqs"
    );
    assert!(
        got.iter().all(|g| g.2),
        "caught-up events are marked replayed"
    );

    // Live delivery continues after the catch-up, nothing duplicated in between.
    b.send_message(chat.id, "after").await.unwrap();
    let live = collect_messages(&mut events, 1).await;
    assert_eq!(live[0].1, "after");
    assert_eq!(live[0].0, got.last().unwrap().0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_1000_messages_missed_during_a_network_drop() {
    let server = TestServer::with_config(unlimited(Storage::Memory)).await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    scenario(&server, &proxy, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_when_cut_again_in_the_middle_of_the_catch_up() {
    let server = TestServer::with_config(unlimited(Storage::Memory)).await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    scenario(&server, &proxy, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_across_a_server_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(unlimited(Storage::Sqlite(dir.path().into())))
        .await
        .unwrap();
    let addr = server.local_addr();
    let alice = server
        .add_user("alice", "Alice", "alice-password")
        .await
        .unwrap();
    server.add_user("bob", "Bob", "bob-password").await.unwrap();
    let proxy = Proxy::start(addr).await;
    let login = |url: String, name: &str, pw: &str| {
        let (name, pw) = (format!("{name}@chatwire.local"), pw.to_string());
        async move {
            Messenger::builder(&url)
                .password(name, pw)
                .reconnect(fast_policy())
                .connect()
                .await
                .unwrap()
        }
    };
    let a = login(proxy.url(), "alice", "alice-password").await;
    let b = login(server.ws_url(), "bob", "bob-password").await;
    let mut events = a.events();
    let chat = b
        .create_conversation(NewConversation::chat().participant(alice.im_id))
        .await
        .unwrap();
    b.send_message(chat.id, "before").await.unwrap();
    assert_eq!(collect_messages(&mut events, 1).await[0].1, "before");

    // Alice's network goes down; the server crashes and comes back on the same dir and port.
    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    drop(server);
    let mut config = unlimited(Storage::Sqlite(dir.path().into()));
    config.listen = addr;
    let server = loop {
        match RunningServer::start(config.clone()).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    wait_state(&b, |s| *s == ConnectionState::Live).await;
    let mut sent = 0;
    while sent < 1000 {
        match b.send_message(chat.id, format!("m{sent}")).await {
            Ok(_) => sent += 1,
            // Bob's own reconnect may still be settling: a request in flight fails, never resent.
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("{e}"),
        }
    }
    proxy.restore();
    let got = collect_messages(&mut events, 1000).await;
    let texts: Vec<String> = got.iter().map(|g| g.1.clone()).collect();
    assert_eq!(
        texts,
        (0..1000).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_caller_gave_up_is_never_sent() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    let a = Messenger::builder(&proxy.url())
        .password(&alice.name, &alice.password)
        .request_timeout(Duration::from_secs(10))
        .reconnect(fast_policy())
        .connect()
        .await
        .unwrap();
    let b = server.messenger(&bob).await.unwrap();
    let mut events = b.events();
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();

    // The reconnect attempt hangs in the WebSocket handshake: requests wait in the channel.
    proxy.stalled.store(true, Ordering::SeqCst);
    proxy.cut();
    proxy.restore();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(200),
        std::future::IntoFuture::into_future(a.send_message(chat.id, "abandoned")),
    )
    .await;
    assert!(gave_up.is_err(), "the caller gave up: {gave_up:?}");
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { a.send_message(chat.id, "waited").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.stalled.store(false, Ordering::SeqCst);

    waiting
        .await
        .unwrap()
        .expect("a caller still waiting is served after the reconnect");
    a.send_message(chat.id, "after").await.unwrap();
    let texts: Vec<String> = collect_messages(&mut events, 2)
        .await
        .into_iter()
        .map(|m| m.1)
        .collect();
    assert_eq!(
        texts,
        ["waited", "after"],
        "the abandoned request was not sent"
    );
}

#[tokio::test]
async fn reconnect_attempts_follow_the_backoff_policy() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let policy = ReconnectPolicy::new()
        .initial_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(4))
        .multiplier(2.0)
        .jitter(0.0)
        .max_attempts(5);
    let proxy = Proxy::start(server.server().local_addr()).await;
    let a = Messenger::builder(&proxy.url())
        .password(&alice.name, &alice.password)
        .reconnect(policy.clone())
        .request_timeout(Duration::from_secs(3600))
        .connect()
        .await
        .unwrap();
    let mut events = a.events();
    // From here on nothing needs the server: time only moves when every task waits on a timer.
    tokio::time::pause();
    proxy.cut();
    let mut attempts = Vec::new();
    let closed_at;
    loop {
        match events.next().await.unwrap() {
            Event::Connection(ConnectionState::Reconnecting { attempt }) => {
                attempts.push((attempt, tokio::time::Instant::now()))
            }
            Event::Connection(ConnectionState::Closed { .. }) => {
                closed_at = tokio::time::Instant::now();
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].1 - w[0].1).collect();
    // Retry 1 is immediate, then 1 s, 2 s, 4 s (capped).
    let expected = [
        policy.delay_with(1, 0.0),
        policy.delay_with(2, 0.0),
        policy.delay_with(3, 0.0),
        policy.delay_with(4, 0.0),
    ];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            gap.abs_diff(want) < Duration::from_millis(50),
            "gaps {gaps:?}, expected {expected:?}"
        );
    }
    assert!(
        (closed_at - attempts[4].1).abs_diff(policy.delay_with(5, 0.0)) < Duration::from_millis(50)
    );
    assert!(matches!(
        a.connection_state(),
        ConnectionState::Closed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_joined_while_away_are_delivered_from_the_join() {
    let server = TestServer::with_config(unlimited(Storage::Memory)).await;
    let proxy = Proxy::start(server.server().local_addr()).await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = Messenger::builder(&proxy.url())
        .password(&alice.name, &alice.password)
        .reconnect(fast_policy())
        .connect()
        .await
        .unwrap();
    let b = server.messenger(&bob).await.unwrap();
    let mut events = a.events();

    proxy.cut();
    wait_state(&a, |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    // A new chat with Alice, and one she is added to after three messages she may not see live.
    let fresh = b
        .create_conversation(NewConversation::chat().title("fresh").participant(alice.id))
        .await
        .unwrap();
    for i in 0..5 {
        b.send_message(fresh.id, format!("f{i}")).await.unwrap();
    }
    let later = b
        .create_conversation(NewConversation::chat().title("later"))
        .await
        .unwrap();
    for i in 0..3 {
        b.send_message(later.id, format!("before-join-{i}"))
            .await
            .unwrap();
    }
    b.add_participants(later.id, [alice.id]).await.unwrap();
    for i in 0..2 {
        b.send_message(later.id, format!("l{i}")).await.unwrap();
    }
    proxy.restore();

    let mut fresh_seen = Vec::new();
    let mut later_seen = Vec::new();
    while fresh_seen.len() < 6 || later_seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("events")
            .unwrap();
        let label = match &ev {
            Event::ConversationCreated { meta, .. } => format!("created@{}", meta.seq.unwrap()),
            Event::ConversationEdited { meta, .. } => {
                format!("{}@{}", meta.action, meta.seq.unwrap())
            }
            Event::MessageSent { message, .. } => message.text.clone(),
            _ => continue,
        };
        match ev.conversation() {
            Some(c) if c == fresh.id => fresh_seen.push(label),
            Some(c) if c == later.id => later_seen.push(label),
            _ => {}
        }
    }
    assert_eq!(fresh_seen, ["created@1", "f0", "f1", "f2", "f3", "f4"]);
    assert_eq!(later_seen, ["addParticipants@5", "l0", "l1"]);
    // And the conversation is tracked live from there.
    b.send_message(later.id, "live").await.unwrap();
    let live = collect_messages(&mut events, 1).await;
    assert_eq!(
        (live[0].0, live[0].1.as_str(), live[0].2),
        (8, "live", false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_restored_from_a_backup_is_reported_as_a_history_reset() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let server = RunningServer::start(unlimited(Storage::Sqlite(dir.path().into())))
        .await
        .unwrap();
    let addr = server.local_addr();
    let alice = server
        .add_user("alice", "Alice", "alice-password")
        .await
        .unwrap();
    server.add_user("bob", "Bob", "bob-password").await.unwrap();
    let login = |name: &str| {
        let (url, name) = (server.ws_url(), format!("{name}@chatwire.local"));
        let pw = if name.starts_with("alice") {
            "alice-password"
        } else {
            "bob-password"
        };
        async move {
            Messenger::builder(&url)
                .password(name, pw)
                .reconnect(fast_policy())
                .connect()
                .await
                .unwrap()
        }
    };
    let a = login("alice").await;
    let b = login("bob").await;
    let mut events = a.events();
    let chat = b
        .create_conversation(NewConversation::chat().participant(alice.im_id))
        .await
        .unwrap();
    for i in 0..3 {
        b.send_message(chat.id, format!("kept{i}")).await.unwrap();
    }
    collect_messages(&mut events, 3).await;
    // A backup of the (idle, fully committed) data dir; then history moves on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), backup.path().join(f.file_name())).unwrap();
    }
    for i in 0..5 {
        b.send_message(chat.id, format!("lost{i}")).await.unwrap();
    }
    assert_eq!(collect_messages(&mut events, 5).await.last().unwrap().0, 9);

    // The server comes back on the backup.
    drop(server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for f in std::fs::read_dir(backup.path()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    let _ = std::fs::remove_file(dir.path().join("chatwire.db-shm"));
    let mut config = unlimited(Storage::Sqlite(dir.path().into()));
    config.listen = addr;
    let server = loop {
        match RunningServer::start(config.clone()).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let reset = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(Event::HistoryReset) = events.next().await {
                return;
            }
        }
    })
    .await;
    assert!(reset.is_ok(), "no HistoryReset after the restore");
    // Seq 5 now names a new event, and it is delivered.
    wait_state(&b, |s| *s == ConnectionState::Live).await;
    let mut sent = false;
    while !sent {
        sent = b.send_message(chat.id, "after the restore").await.is_ok();
    }
    let live = collect_messages(&mut events, 1).await;
    assert_eq!((live[0].0, live[0].1.as_str()), (5, "after the restore"));
    drop(server);
}
