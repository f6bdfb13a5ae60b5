//! The live inbox through the public API, against a real server at its default limits: unread
//! counts and last messages across sends, edits, removals, read marks from another device,
//! membership changes, deletion, reconnects and restarts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chatwire::store::SqliteStore;
use chatwire::testing::TestServer;
use chatwire::{ConversationId, Inbox, InboxEntry, Messenger, NewConversation};
use common::login;

/// Waits (up to 15 s) until the inbox's snapshot satisfies `pred`; panics with the last
/// snapshot otherwise.
async fn until(inbox: &Inbox, what: &str, pred: impl Fn(&[InboxEntry]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let snapshot = inbox.snapshot();
        if pred(&snapshot) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("inbox never showed {what}: {snapshot:#?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn entry(snapshot: &[InboxEntry], id: ConversationId) -> Option<&InboxEntry> {
    snapshot.iter().find(|e| e.id() == id)
}

fn unread(snapshot: &[InboxEntry], id: ConversationId) -> Option<u32> {
    entry(snapshot, id).map(|e| e.unread)
}

fn last_text(snapshot: &[InboxEntry], id: ConversationId) -> Option<String> {
    entry(snapshot, id)
        .and_then(|e| e.last_message.as_ref())
        .map(|m| {
            if m.removed {
                "<removed>".to_owned()
            } else {
                m.text.clone()
            }
        })
}

#[tokio::test]
async fn unread_and_last_message_follow_sends_edits_removals_and_reads_on_every_device() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let phone = login(&server, &bob).await;
    let laptop = login(&server, &bob).await;

    // Two messages before Bob's inbox exists: counted by the load.
    let chat = a
        .create_conversation(NewConversation::chat().title("Lunch").participant(bob.id))
        .await
        .unwrap();
    a.send_message(chat.id, "one").await.unwrap();
    a.send_message(chat.id, "two").await.unwrap();
    let inbox = phone.inbox();
    inbox.loaded().await.unwrap();
    let other = laptop.inbox();
    other.loaded().await.unwrap();
    let s = inbox.snapshot();
    assert_eq!(unread(&s, chat.id), Some(2));
    assert_eq!(last_text(&s, chat.id).as_deref(), Some("two"));
    assert_eq!(entry(&s, chat.id).unwrap().name, "Lunch");

    // Live: a third message, an edit of it, a removal of the first.
    let three = a.send_message(chat.id, "three").await.unwrap();
    until(&inbox, "3 unread", |s| unread(s, chat.id) == Some(3)).await;
    a.edit_message(chat.id, three.id)
        .text("three!")
        .await
        .unwrap();
    until(&inbox, "the edit", |s| {
        last_text(s, chat.id).as_deref() == Some("three!")
    })
    .await;
    let first = inbox.snapshot();
    let last = entry(&first, chat.id)
        .unwrap()
        .last_message
        .clone()
        .unwrap();
    assert!(last.edited_at.is_some());
    assert_eq!(last.sender, alice.id);
    let history = a
        .retransmit_events(
            chat.id,
            chatwire::EventRange::between(chatwire::Seq(2), chatwire::Seq(2)),
        )
        .await
        .unwrap();
    let one_id = match &history.events[0] {
        chatwire::Event::MessageSent { message, .. } => message.id,
        other => panic!("seq 2 is the first message: {other:?}"),
    };
    a.remove_message(chat.id, one_id).await.unwrap();
    until(&inbox, "2 unread after the removal", |s| {
        unread(s, chat.id) == Some(2)
    })
    .await;

    // Bob's own message does not count, and shows as the last message.
    phone.send_message(chat.id, "on my way").await.unwrap();
    until(&inbox, "own message last", |s| {
        last_text(s, chat.id).as_deref() == Some("on my way")
    })
    .await;
    assert_eq!(unread(&inbox.snapshot(), chat.id), Some(2));

    // Removing the last message shows the removal.
    let four = a.send_message(chat.id, "four").await.unwrap();
    until(&other, "3 unread on the laptop", |s| {
        unread(s, chat.id) == Some(3)
    })
    .await;
    a.remove_message(chat.id, four.id).await.unwrap();
    until(&inbox, "the removal shown", |s| {
        last_text(s, chat.id).as_deref() == Some("<removed>")
    })
    .await;
    assert_eq!(unread(&inbox.snapshot(), chat.id), Some(2));

    // Reading on the laptop clears the phone too.
    let mark = other.mark_as_read(chat.id).await.unwrap();
    assert_eq!(unread(&other.snapshot(), chat.id), Some(0));
    until(&inbox, "read on the other device", |s| {
        unread(s, chat.id) == Some(0)
    })
    .await;
    assert_eq!(entry(&inbox.snapshot(), chat.id).unwrap().read_mark, mark);

    // A read mark moved back makes older messages unread again (recounted, exact).
    phone.mark_as_read(chat.id, chatwire::Seq(3)).await.unwrap();
    until(&other, "recount after moving the mark back", |s| {
        unread(s, chat.id) == Some(1)
    })
    .await;
}

#[tokio::test]
async fn conversations_appear_and_disappear_with_membership() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (
        server.add_user("alice").await,
        server.add_user("bob").await,
        server.add_user("carol").await,
    );
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let c = login(&server, &carol).await;
    let inbox = b.inbox();
    inbox.loaded().await.unwrap();
    assert!(inbox.snapshot().is_empty());

    // A group with history before Bob joins: nothing before his join counts.
    let group = a
        .create_conversation(NewConversation::chat().title("Team").participant(carol.id))
        .await
        .unwrap();
    a.send_message(group.id, "before bob").await.unwrap();
    a.add_participants(group.id, [bob.id]).await.unwrap();
    until(&inbox, "the group", |s| unread(s, group.id) == Some(0)).await;
    c.send_message(group.id, "welcome bob").await.unwrap();
    until(&inbox, "1 unread", |s| unread(s, group.id) == Some(1)).await;

    // A direct chat is named after the other person.
    let direct = a
        .create_conversation(NewConversation::direct(bob.id))
        .await
        .unwrap();
    a.send_message(direct.id, "psst").await.unwrap();
    until(&inbox, "the direct chat", |s| {
        entry(s, direct.id).is_some_and(|e| e.name == "alice" && e.unread == 1)
    })
    .await;
    // Newest activity first.
    assert_eq!(inbox.snapshot()[0].id(), direct.id);

    // Removed: gone. Added again: back, with only what came after counting.
    a.remove_participants(group.id, [bob.id]).await.unwrap();
    until(&inbox, "the group gone", |s| entry(s, group.id).is_none()).await;
    a.send_message(group.id, "while bob was away")
        .await
        .unwrap();
    a.add_participants(group.id, [bob.id]).await.unwrap();
    until(&inbox, "the group back", |s| unread(s, group.id) == Some(0)).await;

    // Bob leaves: gone. Everyone leaves: deleted, gone for Carol too.
    let carol_inbox = c.inbox();
    carol_inbox.loaded().await.unwrap();
    assert!(entry(&carol_inbox.snapshot(), group.id).is_some());
    b.leave_conversation(group.id).await.unwrap();
    until(&inbox, "left", |s| entry(s, group.id).is_none()).await;
    a.leave_conversation(group.id).await.unwrap();
    c.leave_conversation(group.id).await.unwrap();
    until(&carol_inbox, "deleted", |s| entry(s, group.id).is_none()).await;
}

#[tokio::test]
async fn typing_shows_until_the_message() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let chat = a
        .create_conversation(NewConversation::direct(bob.id))
        .await
        .unwrap();
    let inbox = b.inbox();
    inbox.loaded().await.unwrap();
    a.typing(chat.id).await.unwrap();
    until(&inbox, "alice typing", |s| {
        entry(s, chat.id).is_some_and(|e| e.typing == vec![alice.id])
    })
    .await;
    a.send_message(chat.id, "done typing").await.unwrap();
    until(&inbox, "typing cleared", |s| {
        entry(s, chat.id).is_some_and(|e| e.typing.is_empty() && e.unread == 1)
    })
    .await;
}

#[tokio::test]
async fn counts_survive_reconnects() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let inbox = b.inbox();
    inbox.loaded().await.unwrap();
    server.server().drop_connections();
    // Sent through Alice's outbox while both reconnect; Bob's catch-up replays them.
    for n in 0..3 {
        a.send_message(chat.id, format!("m{n}")).await.unwrap();
    }
    until(&inbox, "3 unread after the reconnect", |s| {
        unread(s, chat.id) == Some(3)
    })
    .await;
    assert_eq!(last_text(&inbox.snapshot(), chat.id).as_deref(), Some("m2"));
}

#[tokio::test]
async fn a_restarted_app_shows_its_saved_inbox_at_once_then_the_exact_one() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    let chat = a
        .create_conversation(NewConversation::chat().title("Plans").participant(bob.id))
        .await
        .unwrap();
    a.send_message(chat.id, "first").await.unwrap();
    let connect = |store: Arc<SqliteStore>| {
        Messenger::builder(&server.url())
            .password(&bob.name, &bob.password)
            .store(store)
            .connect()
    };
    {
        let b = connect(Arc::new(SqliteStore::open(&path).unwrap()))
            .await
            .unwrap();
        let inbox = b.inbox();
        inbox.loaded().await.unwrap();
        assert_eq!(unread(&inbox.snapshot(), chat.id), Some(1));
        // Saved at most a second after a change.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        b.shutdown().await;
    }
    // While the app was closed.
    a.send_message(chat.id, "second").await.unwrap();
    a.send_message(chat.id, "third").await.unwrap();

    // Offline, before connecting: the saved inbox.
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let saved = Inbox::saved(store.as_ref()).await.unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].name, "Plans");
    assert_eq!(saved[0].unread, 1);
    assert_eq!(saved[0].last_message.as_ref().unwrap().text, "first");

    // Connected: the saved entries at once, then the exact counts.
    let b = connect(store).await.unwrap();
    let inbox = b.inbox();
    let first = inbox.snapshot();
    if !inbox.is_loaded() {
        assert_eq!(first, saved);
    }
    inbox.loaded().await.unwrap();
    until(&inbox, "3 unread after the restart", |s| {
        unread(s, chat.id) == Some(3)
    })
    .await;
    assert_eq!(
        last_text(&inbox.snapshot(), chat.id).as_deref(),
        Some("third")
    );
}

#[tokio::test]
async fn loads_every_conversation_when_snapshots_fill_several_catch_up_pages() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    // About 4 KB of custom data each: 80 snapshots are more than one 256 KiB page.
    let data = common::obj(serde_json::json!({"notes": "x".repeat(4_000)}));
    let mut ids = Vec::new();
    for n in 0..80 {
        let c = a
            .create_conversation(
                NewConversation::chat()
                    .title(format!("room {n}"))
                    .custom_data(data.clone())
                    .participant(bob.id),
            )
            .await
            .unwrap();
        ids.push(c.id);
    }
    a.send_message(ids[0], "hello").await.unwrap();
    let inbox = b.inbox();
    inbox.loaded().await.unwrap();
    let s = inbox.snapshot();
    assert_eq!(s.len(), 80);
    assert_eq!(s[0].id(), ids[0], "the newest activity first");
    assert_eq!(unread(&s, ids[0]), Some(1));
}

#[tokio::test]
async fn users_cache_reads_in_batches_and_takes_presence_from_events_without_subscribing() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (
        server.add_user("alice").await,
        server.add_user("bob").await,
        server.add_user("carol").await,
    );
    let a = login(&server, &alice).await;
    let cache = a.users_cache();
    assert!(cache.cached(bob.id).is_none());
    let users = cache.users([bob.id, carol.id, bob.id]).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.display_name.as_str()).collect();
    assert_eq!(names, ["bob", "carol"], "in order, duplicates once");
    assert_eq!(cache.display_name(carol.id).as_deref(), Some("carol"));
    // The cache never subscribes on its own.
    assert!(a.get_subscriptions().await.unwrap().is_empty());
    assert_eq!(cache.presence(bob.id), None);
    // Presence arrives for users the application subscribed to.
    a.subscribe([bob.id]).await.unwrap();
    let b = login(&server, &bob).await;
    b.set_status(true).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cache.presence(bob.id) != Some(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no presence for bob"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
