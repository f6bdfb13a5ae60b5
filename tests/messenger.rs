//! Every `Messenger` method against the real in-process server, with assertions on the typed
//! values it returns and on the error kinds (docs/BEHAVIOUR.md sections 3-7, 9 and 13).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chatwire::testing::TestServer;
use chatwire::{
    ConnectionState, ConversationId, Error, ErrorCode, Event, EventRange, InvalidArgumentKind,
    JsonMap, Messenger, NewConversation, Permissions, Seq, UserId,
};
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::{
    assert_invalid, assert_recent, code_of, login, next_event, obj, server, unknown_user,
};

// ---- users ----

#[tokio::test]
async fn me_returns_own_record_with_private_data() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    assert_eq!(a.user_id(), alice.id);
    let me = a.me().await.unwrap();
    assert_eq!(me.id, alice.id);
    assert_eq!(me.name, alice.name);
    assert_eq!(me.display_name, "alice");
    assert!(!me.deleted);
    assert!(me.custom_data.is_empty());
    let private = me.private.expect("own record has private data");
    assert!(private.conversations.is_empty());
    assert!(private.left_conversations.is_empty());

    let c1 = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let c2 = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let private = a.me().await.unwrap().private.unwrap();
    assert_eq!(private.conversations, vec![c1.id, c2.id]);
}

#[tokio::test]
async fn get_user_by_id_and_unknown_id() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = a.get_user(bob.id).await.unwrap();
    assert_eq!(b.id, bob.id);
    assert_eq!(b.name, bob.name);
    assert!(b.private.is_none(), "other users' private data is hidden");

    let err = a.get_user(unknown_user()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UserNotFound));
    assert_eq!(err.code().unwrap().code(), 25);
    assert!(!err.is_retryable());
    match err {
        Error::Server { action, .. } => assert_eq!(action, "getUser"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn get_user_by_short_and_full_name() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let short = a.get_user_by_name("bob").await.unwrap();
    assert_eq!(short.id, bob.id);
    assert_eq!(short.name, bob.name);
    let full = a.get_user_by_name(&bob.name).await.unwrap();
    assert_eq!(full.id, bob.id);
    let upper = a.get_user_by_name("BOB").await.unwrap();
    assert_eq!(upper.id, bob.id);
    let own = a.get_user_by_name("alice").await.unwrap();
    assert_eq!(own.id, alice.id);
    assert!(own.private.is_some(), "own record by name is the self view");
    assert_eq!(code_of(a.get_user_by_name("nobody").await), 25);
}

#[tokio::test]
async fn get_users_more_than_50_in_order() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(server.add_user(&format!("user{i:02}")).await.id);
    }
    let a = login(&server, &alice).await;
    // reversed order, with a duplicate that must be answered once
    let mut wanted: Vec<UserId> = ids.iter().rev().copied().collect();
    wanted.push(ids[59]);
    let users = a.get_users(wanted.clone()).await.unwrap();
    assert_eq!(users.len(), 60);
    let got: Vec<UserId> = users.iter().map(|u| u.id).collect();
    assert_eq!(got, wanted[..60].to_vec());
    for u in &users {
        assert!(u.name.starts_with("user"), "{}", u.name);
        assert!(u.private.is_none());
    }
    // own record inside a batch is the self view
    let mixed = a.get_users([ids[0], alice.id]).await.unwrap();
    assert_eq!(mixed[1].id, alice.id);
    assert!(mixed[1].private.is_some());
    assert_invalid(
        a.get_users(Vec::<UserId>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
    assert_eq!(code_of(a.get_users([ids[0], unknown_user()]).await), 25);
}

#[tokio::test]
async fn edit_user_replaces_public_and_private_data() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let public = obj(json!({"color": "red", "nested": {"n": [1, 2, 3]}, "flag": true}));
    let private = obj(json!({"secret": 42}));
    let me = a
        .edit_user()
        .custom_data(public.clone())
        .private_custom_data(private.clone())
        .await
        .unwrap();
    assert_eq!(me.id, alice.id);
    assert_eq!(me.custom_data, public);
    assert_eq!(me.private.as_ref().unwrap().custom_data, private);

    // only the public part is replaced; the private one stays
    let public2 = obj(json!({"only": "this"}));
    let me = a.edit_user().custom_data(public2.clone()).await.unwrap();
    assert_eq!(me.custom_data, public2);
    assert_eq!(me.private.unwrap().custom_data, private);

    let seen_by_bob = b.get_user(alice.id).await.unwrap();
    assert_eq!(seen_by_bob.custom_data, public2);
    assert!(seen_by_bob.private.is_none());

    // {} clears
    let me = a
        .edit_user()
        .private_custom_data(JsonMap::new())
        .await
        .unwrap();
    assert!(me.private.unwrap().custom_data.is_empty());

    let big = obj(json!({"x": "y".repeat(6000)}));
    assert_invalid(
        a.edit_user().custom_data(big).await,
        InvalidArgumentKind::CustomDataTooLarge,
    );
    assert_eq!(a.me().await.unwrap().custom_data, public2, "nothing sent");
}

#[tokio::test]
async fn set_status_returns_aggregate() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let a1 = login(&server, &alice).await;
    let a2 = login(&server, &alice).await;
    assert!(a1.set_status(true).await.unwrap());
    // a2 offline, but a1 still online: aggregate online
    assert!(a2.set_status(false).await.unwrap());
    assert!(a2.set_status(true).await.unwrap());
    assert!(a1.set_status(false).await.unwrap());
    assert!(!a2.set_status(false).await.unwrap());
}

#[tokio::test]
async fn subscriptions_lifecycle() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let dave = server.add_user("dave").await;
    let a = login(&server, &alice).await;
    assert!(a.get_subscriptions().await.unwrap().is_empty());
    a.subscribe([bob.id, carol.id]).await.unwrap();
    assert_eq!(a.get_subscriptions().await.unwrap(), vec![bob.id, carol.id]);
    // existing ids keep their position, new ones are appended
    let confirmed = a.subscribe([dave.id, bob.id, dave.id]).await.unwrap();
    assert_eq!(
        confirmed,
        vec![dave.id, bob.id],
        "the requested ids, once each"
    );
    assert_eq!(
        a.get_subscriptions().await.unwrap(),
        vec![bob.id, carol.id, dave.id]
    );
    // ids not subscribed (or unknown) are ignored
    let removed = a.unsubscribe([carol.id, unknown_user()]).await.unwrap();
    assert_eq!(removed, vec![carol.id]);
    assert_eq!(a.get_subscriptions().await.unwrap(), vec![bob.id, dave.id]);
    let removed = a.unsubscribe_all().await.unwrap();
    assert_eq!(removed, vec![bob.id, dave.id]);
    assert!(a.get_subscriptions().await.unwrap().is_empty());
    assert!(a.unsubscribe_all().await.unwrap().is_empty());

    assert_invalid(
        a.subscribe(Vec::<UserId>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
    assert_invalid(
        a.unsubscribe(Vec::<UserId>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
    assert_eq!(code_of(a.subscribe([bob.id, unknown_user()]).await), 25);
    assert!(
        a.get_subscriptions().await.unwrap().is_empty(),
        "failed subscribe changes nothing"
    );
}

#[tokio::test]
async fn subscribe_more_than_50_in_batches() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let mut ids = Vec::new();
    for i in 0..55 {
        ids.push(server.add_user(&format!("sub{i:02}")).await.id);
    }
    let a = login(&server, &alice).await;
    assert_eq!(
        a.subscribe(ids.clone()).await.unwrap(),
        ids,
        "both batches confirmed"
    );
    assert_eq!(a.get_subscriptions().await.unwrap(), ids);
}

// ---- conversations ----

#[tokio::test]
async fn create_and_get_conversation() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let start = SystemTime::now();
    let c = a
        .create_conversation(
            NewConversation::chat()
                .title("Lunch")
                .custom_data(obj(json!({"topic": "food"})))
                .participant(bob.id),
        )
        .await
        .unwrap();
    assert_eq!(c.title, "Lunch");
    assert!(!c.direct && !c.public && !c.uber);
    assert_eq!(c.last_seq, Seq(1));
    assert_eq!(c.custom_data["topic"], json!("food"));
    assert_recent(c.created_at, start);
    assert_eq!(c.created_at, c.last_update);
    let users: Vec<UserId> = c.participants.iter().map(|p| p.user).collect();
    assert_eq!(users, vec![alice.id, bob.id], "creator first");
    assert_eq!(c.participants[0].permissions, Permissions::ALL);
    assert!(c.participants.iter().all(|p| p.last_read == Seq(0)));

    let got = b.get_conversation(c.id).await.unwrap();
    assert_eq!(got, c);

    // default title
    let untitled = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    assert_eq!(untitled.title, "New conversation");

    assert_eq!(
        code_of(a.get_conversation(ConversationId::new_v4()).await),
        8
    );
    let carol = server.add_user("carol").await;
    let cc = login(&server, &carol).await;
    let err = cc.get_conversation(c.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotParticipant));
    assert_eq!(
        code_of(
            a.create_conversation(NewConversation::chat().participant(unknown_user()))
                .await
        ),
        25
    );
}

#[tokio::test]
async fn get_conversations_more_than_30_in_order() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let a = login(&server, &alice).await;
    let mut ids = Vec::new();
    for i in 0..35 {
        let c = a
            .create_conversation(NewConversation::chat().title(format!("c{i}")))
            .await
            .unwrap();
        ids.push(c.id);
    }
    let mut wanted: Vec<ConversationId> = ids.iter().rev().copied().collect();
    wanted.insert(3, ids[34]); // duplicate: answered once
    let got = a.get_conversations(wanted).await.unwrap();
    assert_eq!(got.len(), 35);
    for (i, c) in got.iter().enumerate() {
        assert_eq!(c.id, ids[34 - i]);
        assert_eq!(c.title, format!("c{}", 34 - i));
        assert_eq!(c.last_seq, Seq(1));
    }
    assert_invalid(
        a.get_conversations(Vec::<ConversationId>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
    assert_eq!(
        code_of(
            a.get_conversations([ids[0], ConversationId::new_v4()])
                .await
        ),
        8
    );
}

#[tokio::test]
async fn public_conversations_join_and_leave() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let p1 = a
        .create_conversation(NewConversation::chat().title("open").public(true))
        .await
        .unwrap();
    let closed = a
        .create_conversation(NewConversation::chat().title("closed"))
        .await
        .unwrap();
    let p2 = a
        .create_conversation(NewConversation::broadcast().public(true))
        .await
        .unwrap();
    assert!(p1.public && !closed.public);
    assert_eq!(
        b.get_public_conversations().await.unwrap(),
        vec![p1.id, p2.id]
    );

    // anyone may read a public conversation
    assert_eq!(b.get_conversation(p1.id).await.unwrap().title, "open");

    let joined = b.join_conversation(p1.id).await.unwrap();
    assert_eq!(joined.id, p1.id);
    assert_eq!(joined.last_seq, Seq(2));
    let me = joined.participant(bob.id).expect("bob joined");
    assert_eq!(me.permissions, Permissions::DEFAULT);
    assert_eq!(me.last_read, Seq(0));
    assert_eq!(joined.participants.last().unwrap().user, bob.id);
    assert_eq!(code_of(b.join_conversation(p1.id).await), 13);
    assert_eq!(code_of(b.join_conversation(closed.id).await), 15);
    assert_eq!(
        code_of(b.join_conversation(ConversationId::new_v4()).await),
        8
    );

    let left = b.leave_conversation(p1.id).await.unwrap();
    assert!(left.participant(bob.id).is_none());
    assert_eq!(left.last_seq, Seq(3));
    let private = b.me().await.unwrap().private.unwrap();
    assert!(!private.conversations.contains(&p1.id));
    assert_eq!(private.left_conversations, vec![p1.id]);
    assert_eq!(code_of(b.leave_conversation(p1.id).await), 19);
}

#[tokio::test]
async fn edit_conversation_title_public_and_errors() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let c = a
        .create_conversation(NewConversation::chat().title("old").participant(bob.id))
        .await
        .unwrap();
    let e = a
        .edit_conversation(c.id)
        .title("new")
        .public(true)
        .await
        .unwrap();
    assert_eq!(e.title, "new");
    assert!(e.public);
    assert_eq!(e.last_seq, Seq(2));
    assert_eq!(e.custom_data, c.custom_data, "custom data untouched");
    assert_eq!(a.get_public_conversations().await.unwrap(), vec![c.id]);
    let e = a.edit_conversation(c.id).title("").await.unwrap();
    assert_eq!(e.title, "New conversation");
    assert_invalid(
        a.edit_conversation(c.id).title("x".repeat(51)).await,
        InvalidArgumentKind::TitleTooLong,
    );
    // a member with MANAGE is still not the owner
    let err = b.edit_conversation(c.id).title("mine").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AccessDenied));
    assert_eq!(a.get_conversation(c.id).await.unwrap().last_seq, Seq(3));
}

#[tokio::test]
async fn add_edit_remove_participants() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let c = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let c2 = a.add_participants(c.id, [bob.id, carol.id]).await.unwrap();
    let users: Vec<UserId> = c2.participants.iter().map(|p| p.user).collect();
    assert_eq!(users, vec![alice.id, bob.id, carol.id]);
    assert_eq!(c2.last_seq, Seq(2));
    assert_eq!(code_of(a.add_participants(c.id, [bob.id]).await), 13);
    assert_eq!(
        code_of(a.add_participants(c.id, [unknown_user()]).await),
        25
    );

    let c3 = a
        .edit_participants(c.id, [(bob.id, Permissions::WRITE)])
        .await
        .unwrap();
    assert_eq!(
        c3.participant(bob.id).unwrap().permissions,
        Permissions::WRITE
    );
    assert_eq!(
        c3.participant(carol.id).unwrap().permissions,
        NewConversation::CHAT,
        "unlisted participants unchanged"
    );
    // bob lost MANAGE
    assert_eq!(code_of(b.remove_participants(c.id, [carol.id]).await), 12);

    let c4 = a.remove_participants(c.id, [carol.id]).await.unwrap();
    assert!(c4.participant(carol.id).is_none());
    assert_eq!(c4.last_seq, Seq(4));
    assert_eq!(code_of(a.remove_participants(c.id, [carol.id]).await), 19);
    assert_eq!(
        code_of(
            a.edit_participants(c.id, [(carol.id, Permissions::WRITE)])
                .await
        ),
        19
    );
    assert_invalid(
        a.add_participants(c.id, Vec::<UserId>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
    assert_invalid(
        a.edit_participants(c.id, Vec::<(UserId, Permissions)>::new())
            .await,
        InvalidArgumentKind::EmptyList,
    );
    assert_invalid(
        a.remove_participants(c.id, Vec::<UserId>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
}

// ---- messages ----

#[tokio::test]
async fn send_edit_remove_message() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let payload = vec![
        obj(json!({"type": "image", "url": "https://x.invalid/a.png", "size": [640, 480]})),
        obj(json!({"n": 1.5, "nested": {"deep": [null, true, "s"]}, "emoji": "héllo 👋"})),
    ];
    let m = a
        .send_message(c.id, "hello")
        .payload(payload.clone())
        .await
        .unwrap();
    assert_eq!(m.text, "hello");
    assert_eq!(m.payload, payload, "payload exactly as sent");
    assert_eq!(m.conversation, c.id);

    // payload only, no text
    let p_only = a
        .send_message(c.id, "")
        .payload(vec![obj(json!({"k": "v"}))])
        .await
        .unwrap();
    assert_eq!(p_only.text, "");
    assert_eq!(p_only.payload, vec![obj(json!({"k": "v"}))]);

    // text exactly at the limit (counted in chars, not bytes)
    let long = "é".repeat(5000);
    let m_long = b.send_message(c.id, long.clone()).await.unwrap();
    assert_eq!(m_long.text, long);

    // edit text only: payload kept, uuid kept
    let e = a.edit_message(c.id, m.id).text("edited").await.unwrap();
    assert_eq!(e.id, m.id);
    assert_eq!(e.text, "edited");
    assert_eq!(e.payload, payload);
    // edit payload only: text kept
    let e = a
        .edit_message(c.id, m.id)
        .payload(vec![obj(json!({"new": 1}))])
        .await
        .unwrap();
    assert_eq!(e.text, "edited");
    assert_eq!(e.payload, vec![obj(json!({"new": 1}))]);
    assert_eq!(a.get_conversation(c.id).await.unwrap().last_seq, Seq(6));

    // bob (chat member: no EDIT_ALL / REMOVE_ALL) cannot touch alice's message
    assert_eq!(code_of(b.edit_message(c.id, m.id).text("hijack").await), 12);
    assert_eq!(code_of(b.remove_message(c.id, m.id).await), 12);

    a.remove_message(c.id, m.id).await.unwrap();
    assert_eq!(a.get_conversation(c.id).await.unwrap().last_seq, Seq(7));
    let err = a.edit_message(c.id, m.id).text("again").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MessageRemoved));
    assert_eq!(code_of(a.remove_message(c.id, m.id).await), 11);
    let unknown = chatwire::MessageId::new_v4();
    assert_eq!(code_of(a.remove_message(c.id, unknown).await), 10);
    assert_eq!(code_of(a.edit_message(c.id, unknown).text("x").await), 10);
    b.remove_message(c.id, m_long.id).await.unwrap();
}

#[tokio::test]
async fn send_message_local_checks_and_server_codes() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let cc = login(&server, &carol).await;
    let c = a
        .create_conversation(NewConversation::broadcast().participant(bob.id))
        .await
        .unwrap();
    // local: too long, empty
    assert_invalid(
        a.send_message(c.id, "x".repeat(5001)).await,
        InvalidArgumentKind::TextTooLong,
    );
    assert_invalid(
        a.send_message(c.id, "").await,
        InvalidArgumentKind::EmptyMessage,
    );
    assert_invalid(
        a.edit_message(c.id, chatwire::MessageId::new_v4())
            .text("x".repeat(5001))
            .await,
        InvalidArgumentKind::TextTooLong,
    );
    // local checks run before anything is sent: an unknown conversation still gives the local error
    assert_invalid(
        a.send_message(ConversationId::new_v4(), "y".repeat(5001))
            .await,
        InvalidArgumentKind::TextTooLong,
    );
    assert_eq!(a.get_conversation(c.id).await.unwrap().last_seq, Seq(1));

    // server codes
    let err = b.send_message(c.id, "no write").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AccessDenied));
    assert_eq!(err.code().unwrap().code(), 12);
    assert!(!err.is_retryable());
    match &err {
        Error::Server {
            action,
            description,
            ..
        } => {
            assert_eq!(action, "sendMessage");
            assert!(!description.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("12"), "{err}");
    assert_eq!(
        code_of(a.send_message(ConversationId::new_v4(), "hi").await),
        8
    );
    assert_eq!(code_of(cc.send_message(c.id, "hi").await), 19);
}

#[tokio::test]
async fn typing_is_throttled_locally_without_sending() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut bev = b.events();
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let c2 = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    a.typing(c.id).await.unwrap();
    match a.typing(c.id).await {
        Err(e @ Error::TypingThrottled(d)) => {
            assert_eq!(d, Duration::from_secs(10));
            assert!(e.code().is_none());
        }
        other => panic!("expected TypingThrottled, got {other:?}"),
    }
    // another conversation is not throttled
    a.typing(c2.id).await.unwrap();
    // a marker after the typing calls: bob must see exactly one typing for c
    let marker = a.send_message(c.id, "marker").await.unwrap();
    let mut typing_c = 0;
    let mut typing_c2 = 0;
    loop {
        match next_event(&mut bev).await {
            Event::Typing { conversation, meta } => {
                assert_eq!(meta.initiator, Some(alice.id));
                if conversation == c.id {
                    typing_c += 1;
                } else if conversation == c2.id {
                    typing_c2 += 1;
                }
            }
            Event::MessageSent { message, .. } if message.id == marker.id => break,
            _ => {}
        }
    }
    assert_eq!((typing_c, typing_c2), (1, 1));
    // typing needs WRITE on the server side
    let bc = a
        .create_conversation(NewConversation::broadcast().participant(bob.id))
        .await
        .unwrap();
    assert_eq!(code_of(b.typing(bc.id).await), 12);
}

#[tokio::test]
async fn mark_as_read_returns_stored_seq() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    assert_eq!(b.mark_as_read(c.id, Seq(0)).await.unwrap(), Seq(1));
    for i in 0..3 {
        a.send_message(c.id, format!("m{i}")).await.unwrap();
    }
    assert_eq!(b.mark_as_read(c.id, Seq(4)).await.unwrap(), Seq(4));
    let conv = a.get_conversation(c.id).await.unwrap();
    assert_eq!(conv.participant(bob.id).unwrap().last_read, Seq(4));
    assert_eq!(conv.participant(alice.id).unwrap().last_read, Seq(0));
    assert_eq!(conv.last_seq, Seq(4), "read marks consume no seq");
    // backwards is allowed
    assert_eq!(b.mark_as_read(c.id, Seq(2)).await.unwrap(), Seq(2));
    assert_eq!(code_of(b.mark_as_read(c.id, Seq(5)).await), 24);
    let carol = server.add_user("carol").await;
    let cc = login(&server, &carol).await;
    assert_eq!(code_of(cc.mark_as_read(c.id, Seq(1)).await), 19);
}

// ---- event log ----

#[tokio::test]
async fn retransmit_events_each_range_variant() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let start = SystemTime::now();
    let c = a
        .create_conversation(NewConversation::chat().title("orig").participant(bob.id))
        .await
        .unwrap();
    for i in 0..5 {
        a.send_message(c.id, format!("m{i}")).await.unwrap();
    }
    a.edit_conversation(c.id).title("renamed").await.unwrap(); // seq 7

    let all = b
        .retransmit_events(c.id, EventRange::between(Seq(1), Seq(7)))
        .await
        .unwrap();
    assert_eq!((all.from, all.to), (Seq(1), Seq(7)));
    let seqs: Vec<u64> = all.events.iter().map(|e| e.seq().unwrap().get()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    for e in &all.events {
        let meta = e.meta().unwrap();
        assert!(meta.replayed);
        assert_eq!(meta.initiator, Some(alice.id));
        assert_recent(meta.timestamp, start);
        assert_eq!(e.conversation(), Some(c.id));
    }
    match &all.events[0] {
        Event::ConversationCreated { conversation, meta } => {
            assert_eq!(conversation.title, "orig", "snapshot as it was");
            assert_eq!(meta.action.name(), "createConversation");
        }
        other => panic!("{other:?}"),
    }
    match &all.events[3] {
        Event::MessageSent { message, meta } => {
            assert_eq!(message.text, "m2");
            assert_eq!(meta.action.name(), "sendMessage");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&all.events[6], Event::ConversationEdited { conversation, .. } if conversation.title == "renamed")
    );

    let from = b
        .retransmit_events(c.id, EventRange::starting_at(Seq(5), 10))
        .await
        .unwrap();
    assert_eq!((from.from, from.to), (Seq(5), Seq(7)));
    assert_eq!(from.events.len(), 3);
    assert_eq!(
        from.events[0], all.events[4],
        "identical to the first replay"
    );

    let to = b
        .retransmit_events(c.id, EventRange::ending_at(Seq(3), 10))
        .await
        .unwrap();
    assert_eq!((to.from, to.to), (Seq(1), Seq(3)));
    assert_eq!(to.events, all.events[..3].to_vec());

    let one = b
        .retransmit_events(c.id, EventRange::ending_at(Seq(7), 1))
        .await
        .unwrap();
    assert_eq!((one.from, one.to, one.events.len()), (Seq(7), Seq(7), 1));

    // invalid ranges fail locally, even for a conversation that does not exist
    let nowhere = ConversationId::new_v4();
    use InvalidArgumentKind::{RetransmitRange, TooMany};
    for (bad, kind) in [
        (EventRange::starting_at(Seq(1), 0), RetransmitRange),
        (EventRange::ending_at(Seq(5), 0), RetransmitRange),
        (EventRange::starting_at(Seq(1), 101), TooMany),
        (EventRange::ending_at(Seq(200), 101), TooMany),
        (EventRange::between(Seq(1), Seq(102)), TooMany),
        (EventRange::between(Seq(5), Seq(2)), RetransmitRange),
        (EventRange::between(Seq(0), Seq(3)), RetransmitRange),
        (EventRange::starting_at(Seq(0), 3), RetransmitRange),
        (EventRange::ending_at(Seq(0), 3), RetransmitRange),
    ] {
        match b.retransmit_events(nowhere, bad).await {
            Err(Error::InvalidArgument(e)) => assert_eq!(e.kind(), kind, "{bad:?}: {e}"),
            other => panic!("{bad:?}: expected InvalidArgument, got {other:?}"),
        }
    }
    // a span of 100 (101 events) is fine (the server then reports the seq beyond the end)
    assert_eq!(
        code_of(
            b.retransmit_events(c.id, EventRange::between(Seq(1), Seq(101)))
                .await
        ),
        24
    );
    assert_eq!(
        code_of(
            b.retransmit_events(c.id, EventRange::starting_at(Seq(8), 5))
                .await
        ),
        24
    );
    assert_eq!(
        code_of(
            b.retransmit_events(nowhere, EventRange::starting_at(Seq(1), 5))
                .await
        ),
        8
    );
}

#[tokio::test]
async fn history_streams_everything_newest_first() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    for i in 0..150 {
        a.send_message(c.id, format!("m{i}")).await.unwrap();
    }
    let events: Vec<Event> = b
        .history(c.id)
        .map(|r| r.expect("history item"))
        .collect()
        .await;
    assert_eq!(events.len(), 151);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq().unwrap().get()).collect();
    assert_eq!(seqs, (1..=151).rev().collect::<Vec<_>>());
    for (i, e) in events[..150].iter().enumerate() {
        match e {
            Event::MessageSent { message, meta } => {
                assert_eq!(message.text, format!("m{}", 149 - i));
                assert!(meta.replayed);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(events[150], Event::ConversationCreated { .. }));

    // the stream ends
    let mut h = b.history(c.id);
    let mut n = 0;
    while let Some(item) = h.next().await {
        item.unwrap();
        n += 1;
    }
    assert_eq!(n, 151);

    // an unknown conversation: one error, then the end
    let mut h = b.history(ConversationId::new_v4());
    assert_eq!(code_of(h.next().await.unwrap()), 8);
    assert!(h.next().await.is_none());

    // a conversation with a single event
    let solo = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let only: Vec<_> = a.history(solo.id).collect().await;
    assert_eq!(only.len(), 1);
    assert!(matches!(only[0], Ok(Event::ConversationCreated { .. })));
}

// ---- connection ----

#[tokio::test]
async fn close_then_calls_fail_not_logged_in() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let a = login(&server, &alice).await;
    let clone = a.clone();
    let mut state = a.connection_state_watch();
    a.close();
    // immediately after close, before the task has finished
    match clone.get_user(alice.id).await {
        Err(Error::NotLoggedIn) => {}
        other => panic!("expected NotLoggedIn right after close, got {other:?}"),
    }
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| matches!(s, ConnectionState::Closed { .. })),
    )
    .await
    .expect("closed within 5 s")
    .unwrap();
    match a.me().await {
        Err(e @ Error::NotLoggedIn) => {
            assert!(!e.is_retryable());
            assert!(e.code().is_none());
        }
        other => panic!("expected NotLoggedIn, got {other:?}"),
    }
    assert!(matches!(
        a.send_message(ConversationId::new_v4(), "x").await,
        Err(Error::NotLoggedIn)
    ));
}

#[tokio::test]
async fn login_errors() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    match Messenger::builder(&server.url())
        .password(&alice.name, "wrong-password")
        .connect()
        .await
    {
        Err(Error::LoginFailed { code, reason }) => {
            assert_eq!(code, 401);
            let _ = reason;
        }
        other => panic!("expected LoginFailed, got {other:?}"),
    }
    assert_invalid(
        Messenger::builder(&server.url()).connect().await,
        InvalidArgumentKind::NoCredentials,
    );
    assert_invalid(
        Messenger::builder("http://127.0.0.1:1/platform")
            .password(&alice.name, &alice.password)
            .connect()
            .await,
        InvalidArgumentKind::ServerUrl,
    );
    // an empty path becomes /platform
    let url = server.url();
    let bare = url.trim_end_matches("/platform");
    let m = Messenger::builder(bare)
        .password(&alice.name, &alice.password)
        .connect()
        .await
        .unwrap();
    assert_eq!(m.me().await.unwrap().id, alice.id);
    assert!(m.tokens().is_some());
}

#[tokio::test]
async fn a_burst_over_the_rate_limit_is_paced_not_refused() {
    // The default limits: 20 requests per rolling second. The messenger paces its requests
    // under the limits the server advertises, and retries a 32/33 that happens anyway.
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let a = login(&server, &alice).await;
    let calls = (0..40).map(|_| a.get_user(alice.id));
    let results = futures::future::join_all(calls).await;
    let failed: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    // When an application sees 32/33 (with `retry_rate_limited(false)` against a server that
    // does not advertise its limits), the error says it may pass.
    let limited = Error::Server {
        code: ErrorCode::RateLimitSecond,
        description: String::new(),
        action: "getUser".into(),
    };
    assert!(limited.is_retryable());
}

/// A TCP proxy whose server-to-client direction can be paused.
async fn pausable_proxy(target: SocketAddr) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paused = Arc::new(AtomicBool::new(false));
    let flag = paused.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = TcpStream::connect(target).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut uw).await;
            });
            let flag = flag.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("ws://{addr}/platform"), paused)
}

#[tokio::test]
async fn request_timeout_when_the_server_does_not_answer() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let (url, paused) = pausable_proxy(server.server().local_addr()).await;
    let timeout = Duration::from_millis(400);
    let a = Messenger::builder(&url)
        .password(&alice.name, &alice.password)
        .request_timeout(timeout)
        .connect()
        .await
        .unwrap();
    assert_eq!(a.me().await.unwrap().id, alice.id);
    paused.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    match a.get_user(alice.id).await {
        Err(e @ Error::Timeout(d)) => {
            assert_eq!(d, timeout);
            assert!(e.is_retryable());
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= timeout && took < Duration::from_secs(3),
        "took {took:?}"
    );
    paused.store(false, Ordering::SeqCst);
    // the late reply is discarded; the messenger keeps working
    let me = a.me().await.unwrap();
    assert_eq!(me.id, alice.id);
}
