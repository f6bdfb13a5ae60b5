//! Every event kind on the stream of `Messenger::events`, with its metadata, against the real
//! in-process server (docs/BEHAVIOUR.md sections 2.6, 3, 4, 7, 8 and 13).

use std::collections::HashMap;
use std::time::SystemTime;

use chatwire::{
    ConnectionState, ConversationId, Event, EventMeta, EventStream, Messenger, NewConversation,
    Permissions, Seq, UserId,
};
use serde_json::json;

mod common;
use common::{assert_recent, collect_until, login, next_event, obj, server, wait_for};

#[track_caller]
fn assert_meta(
    meta: &EventMeta,
    initiator: UserId,
    action: &str,
    seq: Option<u64>,
    start: SystemTime,
) {
    assert_eq!(meta.initiator, Some(initiator), "initiator of {action}");
    assert_eq!(meta.action.name(), action);
    assert_eq!(meta.seq, seq.map(Seq), "seq of {action}");
    assert!(!meta.replayed, "{action} live, not replayed");
    assert_recent(meta.timestamp, start);
}

#[tokio::test]
async fn first_stream_starts_with_live() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let a = login(&server, &alice).await;
    let mut first = a.events();
    assert_eq!(
        next_event(&mut first).await,
        Event::Connection(ConnectionState::Live)
    );
    assert_eq!(a.connection_state(), ConnectionState::Live);
    // a later stream starts when created: its first item is the next event
    let mut later = a.events();
    let c = a
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    match next_event(&mut later).await {
        Event::ConversationCreated { conversation, .. } => assert_eq!(conversation.id, c.id),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn conversation_created_and_edited_on_another_users_stream() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let dave = server.add_user("dave").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let d = login(&server, &dave).await;
    let mut bev = b.events();
    let start = SystemTime::now();
    let c = a
        .create_conversation(NewConversation::chat().title("t1").participant(bob.id))
        .await
        .unwrap();
    a.edit_conversation(c.id)
        .title("t2")
        .public(true)
        .await
        .unwrap(); // 2
    a.add_participants(c.id, [carol.id]).await.unwrap(); // 3
    a.edit_participants(c.id, [(carol.id, Permissions::WRITE)])
        .await
        .unwrap(); // 4
    a.remove_participants(c.id, [carol.id]).await.unwrap(); // 5
    d.join_conversation(c.id).await.unwrap(); // 6
    d.leave_conversation(c.id).await.unwrap(); // 7

    let events = collect_until(&mut bev, |e| e.seq() == Some(Seq(7))).await;
    let conv_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.conversation() == Some(c.id))
        .collect();
    assert_eq!(conv_events.len(), 7, "{conv_events:#?}");
    match conv_events[0] {
        Event::ConversationCreated { meta, conversation } => {
            assert_meta(meta, alice.id, "createConversation", Some(1), start);
            assert_eq!(conversation.id, c.id);
            assert_eq!(conversation.title, "t1");
            assert_eq!(conversation.participants.len(), 2);
            assert_eq!(conversation.last_seq, Seq(1));
        }
        other => panic!("{other:?}"),
    }
    let expected = [
        (alice.id, "editConversation"),
        (alice.id, "addParticipants"),
        (alice.id, "editParticipants"),
        (alice.id, "removeParticipants"),
        (dave.id, "joinConversation"),
        (dave.id, "leaveConversation"),
    ];
    for (i, (who, action)) in expected.iter().enumerate() {
        let seq = i as u64 + 2;
        match conv_events[i + 1] {
            Event::ConversationEdited { meta, conversation } => {
                assert_meta(meta, *who, action, Some(seq), start);
                assert_eq!(
                    conversation.last_seq,
                    Seq(seq),
                    "snapshot right after the event"
                );
                assert_eq!(conversation.title, "t2");
                match *action {
                    "addParticipants" => assert_eq!(
                        conversation.participant(carol.id).unwrap().permissions,
                        NewConversation::CHAT
                    ),
                    "editParticipants" => assert_eq!(
                        conversation.participant(carol.id).unwrap().permissions,
                        Permissions::WRITE
                    ),
                    "removeParticipants" => assert!(conversation.participant(carol.id).is_none()),
                    "joinConversation" => assert!(conversation.participant(dave.id).is_some()),
                    "leaveConversation" => assert!(conversation.participant(dave.id).is_none()),
                    _ => assert!(conversation.public),
                }
            }
            other => panic!("{action}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn conversation_removed_when_last_participant_leaves() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let a1 = login(&server, &alice).await;
    let a2 = login(&server, &alice).await;
    let mut own = a1.events();
    let mut other = a2.events();
    let start = SystemTime::now();
    let c = a1
        .create_conversation(NewConversation::chat())
        .await
        .unwrap();
    let left = a1.leave_conversation(c.id).await.unwrap();
    assert!(left.participants.is_empty());
    for stream in [&mut own, &mut other] {
        let events =
            collect_until(stream, |e| matches!(e, Event::ConversationRemoved { .. })).await;
        let conv: Vec<&Event> = events
            .iter()
            .filter(|e| e.conversation() == Some(c.id))
            .collect();
        assert_eq!(conv.len(), 3, "{conv:#?}");
        assert!(matches!(conv[0], Event::ConversationCreated { .. }));
        match conv[1] {
            Event::ConversationEdited { meta, conversation } => {
                assert_meta(meta, alice.id, "leaveConversation", Some(2), start);
                assert!(conversation.participants.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match conv[2] {
            Event::ConversationRemoved { meta, conversation } => {
                assert_eq!(*conversation, c.id);
                let meta = meta.as_ref().expect("live removal has meta");
                assert_meta(meta, alice.id, "removeEmptyConversation", Some(3), start);
            }
            other => panic!("{other:?}"),
        }
    }
    let err = a1.get_conversation(c.id).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), 16);
}

#[tokio::test]
async fn message_events_on_another_users_stream() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut bev = b.events();
    let start = SystemTime::now();
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let payload = vec![obj(json!({"kind": "poll", "options": ["a", "b"], "n": 2}))];
    let m = a
        .send_message(c.id, "hi")
        .payload(payload.clone())
        .await
        .unwrap();
    a.edit_message(c.id, m.id).text("hi!").await.unwrap();
    a.remove_message(c.id, m.id).await.unwrap();

    match wait_for(&mut bev, |e| matches!(e, Event::MessageSent { .. })).await {
        Event::MessageSent { meta, message } => {
            assert_meta(&meta, alice.id, "sendMessage", Some(2), start);
            assert_eq!(message, m);
            assert_eq!(message.payload, payload);
        }
        _ => unreachable!(),
    }
    match next_event(&mut bev).await {
        Event::MessageEdited { meta, message } => {
            assert_meta(&meta, alice.id, "editMessage", Some(3), start);
            assert_eq!(message.id, m.id);
            assert_eq!(message.text, "hi!");
            assert_eq!(message.payload, payload, "full message after the edit");
        }
        other => panic!("{other:?}"),
    }
    match next_event(&mut bev).await {
        Event::MessageRemoved {
            meta,
            conversation,
            message,
        } => {
            assert_meta(&meta, alice.id, "removeMessage", Some(4), start);
            assert_eq!(conversation, c.id);
            assert_eq!(message, m.id);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn typing_and_read_events() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut aev = a.events();
    let mut bev = b.events();
    let start = SystemTime::now();
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    a.send_message(c.id, "one").await.unwrap();
    a.typing(c.id).await.unwrap();
    match wait_for(&mut bev, |e| matches!(e, Event::Typing { .. })).await {
        Event::Typing { meta, conversation } => {
            assert_meta(&meta, alice.id, "typingMessage", None, start);
            assert_eq!(conversation, c.id);
        }
        _ => unreachable!(),
    }
    assert_eq!(b.mark_as_read(c.id, Seq(2)).await.unwrap(), Seq(2));
    let own = collect_until(&mut aev, |e| matches!(e, Event::Read { .. })).await;
    // the typist's own typing is not echoed on their own stream (the server does not send it
    // to their other connections either)
    assert!(
        !own.iter().any(|e| matches!(e, Event::Typing { .. })),
        "{own:?}"
    );
    match own.last().unwrap().clone() {
        Event::Read {
            meta,
            conversation,
            seq,
        } => {
            assert_meta(&meta, bob.id, "isRead", None, start);
            assert_eq!(conversation, c.id);
            assert_eq!(seq, Seq(2));
        }
        _ => unreachable!(),
    }
    // the reader's own stream also gets its read event
    match wait_for(&mut bev, |e| matches!(e, Event::Read { .. })).await {
        Event::Read { meta, seq, .. } => {
            assert_eq!(meta.initiator, Some(bob.id));
            assert_eq!(seq, Seq(2));
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn status_and_user_edited_for_subscribers() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let a2 = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut bev = b.events();
    let mut a2ev = a2.events();
    b.subscribe([alice.id]).await.unwrap();
    let start = SystemTime::now();
    assert!(a.set_status(true).await.unwrap());
    match wait_for(&mut bev, |e| matches!(e, Event::Status { .. })).await {
        Event::Status { meta, user, online } => {
            assert_meta(&meta, alice.id, "setStatus", None, start);
            assert_eq!(user, alice.id);
            assert!(online);
        }
        _ => unreachable!(),
    }
    // the user's other connection too
    match wait_for(&mut a2ev, |e| matches!(e, Event::Status { .. })).await {
        Event::Status { user, online, .. } => assert_eq!((user, online), (alice.id, true)),
        _ => unreachable!(),
    }

    let data = obj(json!({"mood": "happy"}));
    let private = obj(json!({"diary": "secret"}));
    a.edit_user()
        .custom_data(data.clone())
        .private_custom_data(private.clone())
        .await
        .unwrap();
    match wait_for(&mut bev, |e| matches!(e, Event::UserEdited { .. })).await {
        Event::UserEdited { meta, user } => {
            assert_meta(&meta, alice.id, "editUser", None, start);
            assert_eq!(user.id, alice.id);
            assert_eq!(user.custom_data, data);
            assert!(user.private.is_none(), "subscribers get the public view");
        }
        _ => unreachable!(),
    }
    match wait_for(&mut a2ev, |e| matches!(e, Event::UserEdited { .. })).await {
        Event::UserEdited { user, .. } => {
            assert_eq!(user.private.expect("self view").custom_data, private)
        }
        _ => unreachable!(),
    }

    // closing the last online connection sends offline to subscribers
    a.close();
    match wait_for(&mut bev, |e| matches!(e, Event::Status { .. })).await {
        Event::Status { meta, user, online } => {
            assert_eq!(user, alice.id);
            assert!(!online);
            assert_eq!(meta.initiator, Some(alice.id));
        }
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn subscribed_and_unsubscribed_on_own_connections() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let a = login(&server, &alice).await;
    let a2 = login(&server, &alice).await;
    let mut own = a.events();
    let mut other = a2.events();
    let start = SystemTime::now();
    a.subscribe([bob.id, carol.id]).await.unwrap();
    a.unsubscribe([carol.id]).await.unwrap();
    for stream in [&mut own, &mut other] {
        match wait_for(stream, |e| matches!(e, Event::Subscribed { .. })).await {
            Event::Subscribed { meta, users } => {
                assert_meta(&meta, alice.id, "subscribe", None, start);
                assert_eq!(users, vec![bob.id, carol.id]);
            }
            _ => unreachable!(),
        }
        match wait_for(stream, |e| matches!(e, Event::Unsubscribed { .. })).await {
            Event::Unsubscribed { meta, users } => {
                assert_meta(&meta, alice.id, "unsubscribe", None, start);
                assert_eq!(users, vec![carol.id]);
            }
            _ => unreachable!(),
        }
    }
}

/// Counts persisted events per (conversation, seq) until `marker` is seen.
async fn persisted_until(
    stream: &mut EventStream,
    marker: chatwire::MessageId,
) -> HashMap<(ConversationId, u64), usize> {
    let mut seen = HashMap::new();
    loop {
        let e = next_event(stream).await;
        if let (Some(c), Some(s)) = (e.conversation(), e.seq()) {
            *seen.entry((c, s.get())).or_insert(0) += 1;
        }
        if matches!(&e, Event::MessageSent { message, .. } if message.id == marker) {
            return seen;
        }
    }
}

#[tokio::test]
async fn own_actions_delivered_exactly_once_on_own_stream() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut own = a.events();
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let m = a.send_message(c.id, "one").await.unwrap();
    a.edit_message(c.id, m.id).text("uno").await.unwrap();
    a.edit_conversation(c.id).title("x").await.unwrap();
    // the existing-direct reply is not a new conversation: delivered once only
    let d1 = a
        .create_conversation(NewConversation::direct(bob.id))
        .await
        .unwrap();
    let d2 = a
        .create_conversation(NewConversation::direct(bob.id))
        .await
        .unwrap();
    let d3 = b
        .create_conversation(NewConversation::direct(alice.id))
        .await
        .unwrap();
    assert_eq!((d1.id, d1.id), (d2.id, d3.id));
    a.send_message(d1.id, "direct").await.unwrap();
    let marker = a.send_message(c.id, "marker").await.unwrap();
    let seen = persisted_until(&mut own, marker.id).await;
    let mut expected = HashMap::new();
    for s in 1..=5 {
        expected.insert((c.id, s), 1);
    }
    expected.insert((d1.id, 1), 1);
    expected.insert((d1.id, 2), 1);
    assert_eq!(seen, expected);
    // nothing more for alice: a typing by bob is the next event
    b.typing(c.id).await.unwrap();
    assert!(matches!(next_event(&mut own).await, Event::Typing { .. }));
}

#[tokio::test]
async fn two_streams_both_get_everything() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut s1 = b.events();
    let mut s2 = b.events();
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    for i in 0..20 {
        a.send_message(c.id, format!("m{i}")).await.unwrap();
    }
    a.typing(c.id).await.unwrap();
    let marker = a.send_message(c.id, "end").await.unwrap();
    let is_marker =
        |e: &Event| matches!(e, Event::MessageSent { message, .. } if message.id == marker.id);
    let e1: Vec<Event> = collect_until(&mut s1, is_marker)
        .await
        .into_iter()
        .filter(|e| !matches!(e, Event::Connection(_)))
        .collect();
    let e2 = collect_until(&mut s2, is_marker).await;
    assert_eq!(e1, e2);
    assert_eq!(e1.len(), 1 + 20 + 1 + 1);
    assert!(e1.iter().any(|e| matches!(e, Event::Typing { .. })));
    // and a third stream created later gets what follows
    let mut s3 = b.events();
    let last = a.send_message(c.id, "later").await.unwrap();
    for s in [&mut s1, &mut s2, &mut s3] {
        match next_event(s).await {
            Event::MessageSent { message, .. } => assert_eq!(message.id, last.id),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn seq_strictly_increasing_over_many_messages() {
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
    let other = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    // two senders, two conversations, interleaved and concurrent
    let a2 = a.clone();
    let (cid, oid) = (c.id, other.id);
    let t1 = tokio::spawn(async move {
        for i in 0..150 {
            a2.send_message(cid, format!("a{i}")).await.unwrap();
        }
    });
    let b2 = b.clone();
    let t2 = tokio::spawn(async move {
        for i in 0..150 {
            b2.send_message(cid, format!("b{i}")).await.unwrap();
            b2.send_message(oid, format!("o{i}")).await.unwrap();
        }
    });
    t1.await.unwrap();
    t2.await.unwrap();
    let mut seqs: HashMap<ConversationId, Vec<u64>> = HashMap::new();
    while seqs.get(&c.id).map_or(0, Vec::len) < 301 || seqs.get(&other.id).map_or(0, Vec::len) < 151
    {
        let e = next_event(&mut bev).await;
        assert!(
            !matches!(e, Event::Lagged { .. } | Event::Gap { .. }),
            "{e:?}"
        );
        if let (Some(conv), Some(seq)) = (e.conversation(), e.seq()) {
            assert!(!e.meta().unwrap().replayed);
            seqs.entry(conv).or_default().push(seq.get());
        }
    }
    assert_eq!(seqs[&c.id], (1..=301).collect::<Vec<_>>());
    assert_eq!(seqs[&other.id], (1..=151).collect::<Vec<_>>());
}

#[tokio::test]
async fn slow_stream_gets_lagged() {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = Messenger::builder(&server.url())
        .password(&bob.name, &bob.password)
        .event_buffer(16)
        .connect()
        .await
        .unwrap();
    let mut slow = b.events(); // not read while 100 events arrive
    let c = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    for i in 0..100 {
        a.send_message(c.id, format!("m{i}")).await.unwrap();
    }
    // a round trip on bob's connection: every earlier frame has been processed by then
    let conv = b.get_conversation(c.id).await.unwrap();
    assert_eq!(conv.last_seq, Seq(101));
    let mut fast = b.events();
    let total = 1 + 1 + 100; // Live, created, 100 messages
    let missed = match next_event(&mut slow).await {
        Event::Lagged { missed } => missed,
        other => panic!("expected Lagged first, got {other:?}"),
    };
    assert!(missed > 0);
    let rest = collect_until(&mut slow, |e| e.seq() == Some(Seq(101))).await;
    assert!(
        !rest.iter().any(|e| matches!(e, Event::Lagged { .. })),
        "lagged once only: {rest:?}"
    );
    assert_eq!(missed as usize + rest.len(), total, "missed + kept = sent");
    // what the stream kept is the newest events, in order
    let seqs: Vec<u64> = rest
        .iter()
        .filter_map(|e| e.seq())
        .map(|s| s.get())
        .collect();
    assert_eq!(*seqs.last().unwrap(), 101);
    assert!(seqs.len() >= 15, "the buffer's worth is kept: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // both streams go on with what follows; one created after the burst is unaffected
    let marker = a.send_message(c.id, "after").await.unwrap();
    for s in [&mut slow, &mut fast] {
        match next_event(s).await {
            Event::MessageSent { message, .. } => assert_eq!(message.id, marker.id),
            other => panic!("{other:?}"),
        }
    }
    match b.get_conversation(c.id).await {
        Ok(conv) => assert_eq!(conv.last_seq, Seq(102)),
        other => panic!("{other:?}"),
    }
}
