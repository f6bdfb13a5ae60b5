//! Timelines through the public API, against a real server at its default limits: backwards
//! pagination over 1 000+ messages with edits and removals interleaved, and live diffs.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chatwire::testing::TestServer;
use chatwire::{MessageId, NewConversation, TimelineDiff};
use common::login;
use futures::StreamExt;

/// What a reader must see for one message.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Text(String),
    Edited(String),
    Removed,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paginates_back_through_1000_messages_with_edits_and_removals_folded_in() {
    const SENDERS: usize = 8;
    const PER_SENDER: usize = 130;
    let server = TestServer::start().await;
    let mut users = Vec::new();
    for n in 0..SENDERS / 2 {
        users.push(server.add_user(&format!("writer{n}")).await);
    }
    let reader_user = server.add_user("reader").await;
    let owner = login(&server, &reader_user).await;
    let chat = owner
        .create_conversation(
            NewConversation::chat()
                .title("Busy")
                .participants(users.iter().map(|u| u.id)),
        )
        .await
        .unwrap();

    // Two connections per writer (the rate limit is per connection), all sending at once.
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let m = login(&server, &users[s / 2]).await;
        tasks.push(tokio::spawn(async move {
            let mut expect = HashMap::new();
            for i in 0..PER_SENDER {
                let text = format!("s{s} m{i}");
                let message = m.send_message(chat.id, text.clone()).await.unwrap();
                expect.insert(message.id, Expect::Text(text));
                // Every 7th: edit the message sent 3 before; every 11th: remove the one 5 before.
                if i % 7 == 6 {
                    let target = *expect
                        .iter()
                        .find(|(_, e)| **e == Expect::Text(format!("s{s} m{}", i - 3)))
                        .unwrap()
                        .0;
                    let edited = format!("s{s} m{} edited", i - 3);
                    m.edit_message(chat.id, target)
                        .text(edited.clone())
                        .await
                        .unwrap();
                    expect.insert(target, Expect::Edited(edited));
                }
                if i % 11 == 10 {
                    let target: MessageId = *expect
                        .iter()
                        .find(|(_, e)| match e {
                            Expect::Text(t) | Expect::Edited(t) => {
                                t.starts_with(&format!("s{s} m{} ", i - 5))
                                    || *t == format!("s{s} m{}", i - 5)
                            }
                            Expect::Removed => false,
                        })
                        .unwrap()
                        .0;
                    m.remove_message(chat.id, target).await.unwrap();
                    expect.insert(target, Expect::Removed);
                }
            }
            expect
        }));
    }
    let mut expect: HashMap<MessageId, Expect> = HashMap::new();
    for t in tasks {
        expect.extend(t.await.unwrap());
    }
    assert!(expect.len() >= 1_000);

    let timeline = owner.timeline(chat.id).await.unwrap();
    let mut updates = timeline.updates();
    let mut windows = 0;
    while !timeline.reached_start() {
        let added = timeline.paginate_back(150).await.unwrap();
        assert!(added >= 150 || timeline.reached_start(), "{added}");
        windows += 1;
    }
    assert!(windows >= 7, "{windows} calls of 150");
    let items = timeline.items();
    assert_eq!(items.len(), expect.len());
    assert!(
        items.windows(2).all(|w| w[0].seq < w[1].seq),
        "ascending seq"
    );
    let (mut edited, mut removed) = (0, 0);
    for item in &items {
        match &expect[&item.id] {
            Expect::Text(t) => {
                assert_eq!(&item.text, t);
                assert!(item.edited_at.is_none() && !item.removed);
            }
            Expect::Edited(t) => {
                assert_eq!(&item.text, t);
                assert!(item.edited_at.is_some() && !item.removed);
                edited += 1;
            }
            Expect::Removed => {
                assert!(item.removed && item.text.is_empty());
                removed += 1;
            }
        }
    }
    assert!(
        edited > 100 && removed > 50,
        "{edited} edited, {removed} removed"
    );
    // The diffs rebuild the same list.
    let mut rebuilt = Vec::new();
    while let Ok(Some(diff)) =
        tokio::time::timeout(Duration::from_millis(100), updates.next()).await
    {
        match diff {
            TimelineDiff::Prepend(older) => {
                rebuilt.splice(0..0, older);
            }
            other => panic!("only history was loaded: {other:?}"),
        }
    }
    assert_eq!(rebuilt, items);
}

async fn next(updates: &mut chatwire::TimelineUpdates) -> TimelineDiff {
    tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .expect("a diff within 10 s")
        .expect("open")
}

#[tokio::test]
async fn live_messages_edits_and_removals_arrive_as_diffs() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for n in 0..30 {
        sent.push(a.send_message(chat.id, format!("old {n}")).await.unwrap());
    }
    let timeline = b.timeline(chat.id).await.unwrap();
    assert!(timeline.items().is_empty(), "starts empty at the live end");
    let mut updates = timeline.updates();
    assert_eq!(
        timeline.paginate_back(5).await.unwrap(),
        30,
        "one window of 100 events"
    );
    assert!(matches!(next(&mut updates).await, TimelineDiff::Prepend(items) if items.len() == 30));

    // Live: a new message, an edit of a loaded one, a removal.
    let new = a.send_message(chat.id, "new").await.unwrap();
    match next(&mut updates).await {
        TimelineDiff::Append(item) => {
            assert_eq!(
                (item.id, item.text.as_str(), item.sender),
                (new.id, "new", alice.id)
            );
        }
        other => panic!("expected Append, got {other:?}"),
    }
    a.edit_message(chat.id, sent[3].id)
        .text("old 3, fixed")
        .await
        .unwrap();
    match next(&mut updates).await {
        TimelineDiff::Set { index, item } => {
            assert_eq!(index, 3);
            assert_eq!(item.text, "old 3, fixed");
            assert!(item.edited_at.is_some());
        }
        other => panic!("expected Set, got {other:?}"),
    }
    a.remove_message(chat.id, new.id).await.unwrap();
    match next(&mut updates).await {
        TimelineDiff::Set { index, item } => {
            assert_eq!(index, 30);
            assert!(item.removed);
        }
        other => panic!("expected Set, got {other:?}"),
    }
    let items = timeline.items();
    assert_eq!(items.len(), 31);
    assert_eq!(items[3].text, "old 3, fixed");
    assert!(items[30].removed);
}

#[tokio::test]
async fn edits_of_messages_not_loaded_yet_show_when_they_load() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let first = a.send_message(chat.id, "first").await.unwrap();
    for n in 0..120 {
        a.send_message(chat.id, format!("filler {n}"))
            .await
            .unwrap();
    }
    let timeline = b.timeline(chat.id).await.unwrap();
    timeline.paginate_back(1).await.unwrap();
    assert!(!timeline.reached_start());
    assert!(timeline.items().iter().all(|i| i.id != first.id));
    // Edited live while not loaded, then loaded from history.
    a.edit_message(chat.id, first.id)
        .text("first, edited")
        .await
        .unwrap();
    let mut updates = timeline.updates();
    a.send_message(chat.id, "marker").await.unwrap();
    while !matches!(updates.next().await, Some(TimelineDiff::Append(_))) {}
    while !timeline.reached_start() {
        timeline.paginate_back(100).await.unwrap();
    }
    let items = timeline.items();
    assert_eq!(items.len(), 122);
    assert_eq!(items[0].id, first.id);
    assert_eq!(items[0].text, "first, edited");
    assert!(items[0].edited_at.is_some());
}
