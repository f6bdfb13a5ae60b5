//! What the official SDKs' objects and calls carry, through the public API, on a server at its
//! default limits: message sender/seq/time, typed event actions with the caller's request id,
//! users by names, push-notification selection, and the demo clients' permissions form.

mod common;

use std::future::IntoFuture;
use std::time::SystemTime;

use chatwire::protocol::Action;
use chatwire::testing::TestServer;
use chatwire::{
    CustomDataPatch, Event, EventAction, InvalidArgumentKind, NewConversation, Notification,
    Permissions, Seq, PERMISSIONS_KEY,
};
use serde_json::json;

use common::{assert_invalid, assert_recent, code_of, login, wait_for};

#[tokio::test]
async fn messages_carry_sender_seq_and_time_and_events_carry_the_callers_request_id() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    let mut b_events = b.events();
    let start = SystemTime::now();
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();

    let send = a.send_message(chat.id, "hello");
    let send_id = send.request_id().clone();
    let sent = send.await.unwrap();
    assert_eq!(sent.sender, alice.id);
    assert_eq!(sent.seq, Seq(2), "seq 1 is the creation");
    assert_recent(sent.time, start);

    let seen = wait_for(&mut b_events, |e| matches!(e, Event::MessageSent { .. })).await;
    let Event::MessageSent { meta, message } = seen else {
        unreachable!()
    };
    assert_eq!(message, sent, "the other device sees the same message");
    assert_eq!(meta.action, EventAction::Request(Action::SendMessage));
    assert_eq!(meta.request_id.as_ref(), Some(&send_id));

    // An edit: its version names the editor and the edit's own seq.
    let edit = b.edit_message(chat.id, sent.id).text("edited?");
    assert_eq!(code_of(edit.await), 12, "bob may not edit alice's message");
    let edit = a.edit_message(chat.id, sent.id).text("hello, edited");
    let edit_id = edit.request_id().clone();
    assert_ne!(edit_id, send_id);
    let edited = edit.await.unwrap();
    assert_eq!((edited.sender, edited.seq), (alice.id, Seq(3)));
    let seen = wait_for(&mut b_events, |e| matches!(e, Event::MessageEdited { .. })).await;
    let meta = seen.meta().unwrap();
    assert_eq!(meta.action.name(), "editMessage");
    assert_eq!(meta.request_id.as_ref(), Some(&edit_id));

    // Replayed events keep sender and seq; they carry no request id.
    let history = b
        .retransmit_events(chat.id, chatwire::EventRange::between(Seq(1), Seq(3)))
        .await
        .unwrap();
    match &history.events[1] {
        Event::MessageSent { meta, message } => {
            assert_eq!((message.sender, message.seq), (alice.id, Seq(2)));
            assert_eq!(message.time, sent.time);
            assert_eq!(meta.request_id, None);
        }
        other => panic!("{other:?}"),
    }

    // The id is known before the call is sent, so an event that arrives first is recognised.
    let mut a_events = a.events();
    let send = a.send_message(chat.id, "second");
    let id = send.request_id().clone();
    let (own, reply) = tokio::join!(
        wait_for(&mut a_events, |e| {
            e.meta().and_then(|m| m.request_id.as_ref()) == Some(&id)
        }),
        send.into_future()
    );
    let reply = reply.unwrap();
    assert!(matches!(own, Event::MessageSent { message, .. } if message == reply));
}

#[tokio::test]
async fn users_by_names_in_batches_of_fifty_with_short_and_full_names() {
    let server = TestServer::start().await;
    let mut users = Vec::new();
    for i in 0..53 {
        users.push(server.add_user(&format!("user{i:02}")).await);
    }
    let m = login(&server, &users[0]).await;

    let mut names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
    names[1] = "user01".into(); // short form: our own application
    names[2] = names[2].to_uppercase(); // names are case-insensitive
    names.push(users[3].name.clone()); // a duplicate is looked up once
    let found = m.get_users_by_names(&names).await.unwrap();
    let ids: Vec<_> = found.iter().map(|u| u.id).collect();
    let expected: Vec<_> = users.iter().map(|u| u.id).collect();
    assert_eq!(
        ids, expected,
        "every user once, in the order given, across two batches"
    );
    assert_eq!(found[1].name, users[1].name);

    assert_eq!(
        code_of(m.get_users_by_names(["user00", "nobody"]).await),
        25
    );
    assert_invalid(
        m.get_users_by_names(Vec::<String>::new()).await,
        InvalidArgumentKind::EmptyList,
    );
}

#[tokio::test]
async fn notification_selection_is_stored_and_shown_to_the_users_other_devices_only() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let phone = login(&server, &alice).await;
    let laptop = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    b.subscribe([alice.id]).await.unwrap();
    let mut laptop_events = laptop.events();
    let mut b_events = b.events();

    let me = phone
        .manage_notifications([
            Notification::CreateConversation,
            Notification::SendMessage,
            Notification::SendMessage,
        ])
        .await
        .unwrap();
    let private = me.private.unwrap();
    assert_eq!(
        private.notifications(),
        [Notification::CreateConversation, Notification::SendMessage]
    );
    let selection = private.notification_events;
    assert_eq!(selection, ["onCreateConversation", "onSendMessage"]);

    let seen = wait_for(&mut laptop_events, |e| {
        matches!(e, Event::UserEdited { .. })
    })
    .await;
    match seen {
        Event::UserEdited { meta, user } => {
            assert_eq!(meta.action.name(), "manageNotification");
            assert_eq!(user.private.unwrap().notification_events, selection);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        laptop
            .me()
            .await
            .unwrap()
            .private
            .unwrap()
            .notification_events,
        selection
    );

    let off = phone.manage_notifications([]).await.unwrap();
    assert!(off.private.unwrap().notification_events.is_empty());

    // A subscriber sees profile edits, never the selection: the first user edit bob receives is
    // this one.
    let profile = json!({"mood": "busy"}).as_object().unwrap().clone();
    phone.edit_user().custom_data(profile).await.unwrap();
    let next = wait_for(&mut b_events, |e| matches!(e, Event::UserEdited { .. })).await;
    assert_eq!(next.meta().unwrap().action.name(), "editUser", "{next:?}");
}

#[tokio::test]
async fn default_permissions_use_the_demo_clients_boolean_object() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;

    // chatwire writes exactly the demo's form, every key present.
    let chat = a
        .create_conversation(NewConversation::chat().participant(bob.id))
        .await
        .unwrap();
    let seen_by_bob = b.get_conversation(chat.id).await.unwrap();
    assert_eq!(
        seen_by_bob.custom_data[PERMISSIONS_KEY].to_string(),
        r#"{"canWrite":true,"canEdit":true,"canRemove":true,"canManageParticipants":true,"canEditAll":false,"canRemoveAll":false}"#
    );
    let read_only = a
        .edit_permissions(chat.id, Permissions::NONE)
        .await
        .unwrap();
    assert_eq!(
        read_only.custom_data[PERMISSIONS_KEY],
        json!({"canWrite": false, "canEdit": false, "canRemove": false,
               "canManageParticipants": false, "canEditAll": false, "canRemoveAll": false})
    );

    // A chat as the demo client stores it: only the true keys, the rest absent.
    let demo = a
        .create_conversation(NewConversation::chat().title("demo"))
        .await
        .unwrap();
    let demo_form = json!({"canWrite": true, "canEdit": true, "canRemove": true,
                           "canManageParticipants": true});
    let demo = a
        .edit_conversation(demo.id)
        .custom_data(CustomDataPatch::new().set(PERMISSIONS_KEY, demo_form.clone()))
        .await
        .unwrap();
    assert_eq!(
        demo.custom_data[PERMISSIONS_KEY], demo_form,
        "stored as given"
    );
    let chat_defaults =
        Permissions::WRITE | Permissions::EDIT | Permissions::REMOVE | Permissions::MANAGE;
    assert_eq!(demo.default_permissions(), Some(chat_defaults));

    // Members added later through chatwire get those defaults, manage included.
    let after = a.add_participants(demo.id, [bob.id]).await.unwrap();
    let bob_flags = after
        .participants
        .iter()
        .find(|p| p.user == bob.id)
        .unwrap()
        .permissions;
    assert_eq!(bob_flags, chat_defaults);
    // ... and bob can manage: he adds carol, who gets the defaults too.
    let after = b.add_participants(demo.id, [carol.id]).await.unwrap();
    let carol_flags = after
        .participants
        .iter()
        .find(|p| p.user == carol.id)
        .unwrap()
        .permissions;
    assert_eq!(carol_flags, chat_defaults);

    // Replacing the whole custom data (the official `setCustomData`) drops the defaults unless
    // the application copies them over; a patch keeps them.
    let replaced = a
        .edit_conversation(demo.id)
        .replace_custom_data(common::obj(json!({"topic": "lunch"})))
        .await
        .unwrap();
    assert_eq!(replaced.custom_data, common::obj(json!({"topic": "lunch"})));
    assert_eq!(replaced.default_permissions(), None);
    let patched = a
        .edit_conversation(demo.id)
        .custom_data(CustomDataPatch::new().set(PERMISSIONS_KEY, demo_form.clone()))
        .await
        .unwrap();
    assert_eq!(
        patched.custom_data["topic"], "lunch",
        "a patch keeps other keys"
    );

    // The integer older chatwire releases wrote is still read.
    let old = a
        .edit_conversation(demo.id)
        .custom_data(CustomDataPatch::new().set(PERMISSIONS_KEY, 3))
        .await
        .unwrap();
    assert_eq!(
        old.default_permissions(),
        Some(Permissions::WRITE | Permissions::EDIT)
    );
}

#[tokio::test]
async fn model_values_round_trip_through_serde_for_caching() {
    let server = TestServer::start().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let a = login(&server, &alice).await;
    let chat = a
        .create_conversation(
            NewConversation::chat()
                .title("cached")
                .participant(bob.id)
                .custom_data(common::obj(json!({"topic": "lunch"}))),
        )
        .await
        .unwrap();
    let payload = common::obj(json!({"kind": "poll", "options": [1, 2]}));
    let message = a
        .send_message(chat.id, "hi")
        .payload(vec![payload])
        .await
        .unwrap();
    let me = a.me().await.unwrap();
    let other = a.get_user(bob.id).await.unwrap();

    fn round_trip<T>(value: &T) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let text = serde_json::to_string(value).unwrap();
        serde_json::from_str(&text).unwrap()
    }
    assert_eq!(round_trip(&chat), chat);
    assert_eq!(round_trip(&chat.participants[0]), chat.participants[0]);
    assert_eq!(round_trip(&message), message);
    assert_eq!(round_trip(&me), me);
    assert!(
        me.private.is_some(),
        "the own record, with its private part"
    );
    assert_eq!(round_trip(&other), other);
    let cached = serde_json::to_value(&message).unwrap();
    assert_eq!(cached["text"], "hi");
    assert_eq!(cached["payload"][0]["kind"], "poll");
}
