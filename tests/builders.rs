//! Conversation presets, custom-data patches, stored default permissions and admins, against
//! the real in-process server (docs/BEHAVIOUR.md sections 4, 5 and D13).

use chatwire::testing::{TestServer, TestUser};
use chatwire::{
    Conversation, CustomDataPatch, InvalidArgumentKind, Messenger, NewConversation, Permissions,
    UserId, PERMISSIONS_KEY,
};
use serde_json::{json, Value};

mod common;
use common::{assert_invalid, code_of, login, obj, server};

fn perms(c: &Conversation, user: UserId) -> u16 {
    c.participant(user)
        .unwrap_or_else(|| panic!("{user} is a participant"))
        .permissions
        .bits()
}

struct Four {
    _server: TestServer,
    a: Messenger,
    b: Messenger,
    alice: TestUser,
    bob: TestUser,
    carol: TestUser,
    dave: TestUser,
}

async fn four() -> Four {
    let server = server().await;
    let alice = server.add_user("alice").await;
    let bob = server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    let dave = server.add_user("dave").await;
    let a = login(&server, &alice).await;
    let b = login(&server, &bob).await;
    Four {
        _server: server,
        a,
        b,
        alice,
        bob,
        carol,
        dave,
    }
}

#[tokio::test]
async fn chat_preset_gives_members_15() {
    let t = four().await;
    let c =
        t.a.create_conversation(NewConversation::chat().title("team").participant(t.bob.id))
            .await
            .unwrap();
    assert_eq!(NewConversation::CHAT.bits(), 15);
    assert_eq!(c.participants[0].user, t.alice.id, "creator first");
    assert_eq!(perms(&c, t.alice.id), 65535, "creator is owner");
    let bob = c.participant(t.bob.id).unwrap().permissions;
    assert_eq!(bob.bits(), 15);
    for p in [
        Permissions::WRITE,
        Permissions::EDIT,
        Permissions::REMOVE,
        Permissions::MANAGE,
    ] {
        assert!(bob.contains(p));
    }
    assert!(!bob.contains(Permissions::EDIT_ALL));
    assert!(!bob.contains(Permissions::REMOVE_ALL));
    assert!(!bob.is_owner());
    assert_eq!(c.custom_data[PERMISSIONS_KEY], stored(15));
    assert_eq!(c.default_permissions(), Some(NewConversation::CHAT));
    assert!(!c.direct && !c.public && !c.uber);

    // behaviour: bob writes, edits and removes his own, manages, but not alice's messages
    let mine = t.b.send_message(c.id, "mine").await.unwrap();
    t.b.edit_message(c.id, mine.id).text("mine!").await.unwrap();
    t.b.remove_message(c.id, mine.id).await.unwrap();
    let hers = t.a.send_message(c.id, "hers").await.unwrap();
    assert_eq!(code_of(t.b.edit_message(c.id, hers.id).text("x").await), 12);
    assert_eq!(code_of(t.b.remove_message(c.id, hers.id).await), 12);
    let added = t.b.add_participants(c.id, [t.carol.id]).await.unwrap();
    assert_eq!(perms(&added, t.carol.id), 15, "stored default applied");
}

#[tokio::test]
async fn chat_flags_custom_data_and_explicit_permissions() {
    let t = four().await;
    let c =
        t.a.create_conversation(
            NewConversation::chat()
                .public(true)
                .uber(true)
                .custom_data(obj(json!({"topic": "x", "n": 1})))
                .participant_with(t.bob.id, Permissions::WRITE)
                .participant(t.carol.id)
                .participant_with(t.dave.id, Permissions::OWNER),
        )
        .await
        .unwrap();
    assert!(c.public && c.uber && !c.direct);
    assert_eq!(
        serde_json::Value::Object(c.custom_data.clone()),
        json!({"topic": "x", "n": 1, "permissions": stored(15)})
    );
    assert_eq!(perms(&c, t.bob.id), 1);
    assert_eq!(perms(&c, t.carol.id), 15);
    assert_eq!(perms(&c, t.dave.id), 65535);
    // None means the preset's
    let c2 =
        t.a.create_conversation(NewConversation::chat().participant_with(t.bob.id, None))
            .await
            .unwrap();
    assert_eq!(perms(&c2, t.bob.id), 15);
    // member_permissions overrides the preset (now and as the stored default)
    let c3 =
        t.a.create_conversation(
            NewConversation::chat()
                .member_permissions(Permissions::WRITE | Permissions::EDIT)
                .participants([t.bob.id, t.carol.id]),
        )
        .await
        .unwrap();
    assert_eq!(perms(&c3, t.bob.id), 3);
    assert_eq!(perms(&c3, t.carol.id), 3);
    assert_eq!(c3.custom_data[PERMISSIONS_KEY], stored(3));
    let c3 = t.a.add_participants(c3.id, [t.dave.id]).await.unwrap();
    assert_eq!(perms(&c3, t.dave.id), 3);
}

#[tokio::test]
async fn title_limit() {
    let t = four().await;
    assert_invalid(
        t.a.create_conversation(NewConversation::chat().title("x".repeat(51)))
            .await,
        InvalidArgumentKind::TitleTooLong,
    );
    let fifty = "ü".repeat(50); // 50 chars, 100 bytes
    let c =
        t.a.create_conversation(NewConversation::chat().title(fifty.clone()))
            .await
            .unwrap();
    assert_eq!(c.title, fifty);
    assert_invalid(
        t.a.create_conversation(NewConversation::broadcast().title("y".repeat(51)))
            .await,
        InvalidArgumentKind::TitleTooLong,
    );
    // nothing was created by the refused calls
    let me = t.a.me().await.unwrap();
    assert_eq!(me.private.unwrap().conversations, vec![c.id]);
    // oversized custom data is refused locally too
    assert_invalid(
        t.a.create_conversation(
            NewConversation::chat().custom_data(obj(json!({"big": "z".repeat(6000)}))),
        )
        .await,
        InvalidArgumentKind::CustomDataTooLarge,
    );
}

#[tokio::test]
async fn direct_preset() {
    let t = four().await;
    let d =
        t.a.create_conversation(NewConversation::direct(t.bob.id))
            .await
            .unwrap();
    assert!(d.direct && !d.public && !d.uber);
    assert_eq!(d.participants.len(), 2);
    assert_eq!(d.participants[0].user, t.alice.id);
    assert_eq!(perms(&d, t.alice.id), 65535);
    assert_eq!(perms(&d, t.bob.id), 7);
    assert_eq!(d.default_permissions(), None);
    // again, from either side: the same conversation
    let again =
        t.a.create_conversation(NewConversation::direct(t.bob.id).title("ignored"))
            .await
            .unwrap();
    assert_eq!(again.id, d.id);
    let from_bob =
        t.b.create_conversation(NewConversation::direct(t.alice.id))
            .await
            .unwrap();
    assert_eq!(from_bob.id, d.id);
    // local rules
    assert_invalid(
        t.a.create_conversation(NewConversation::direct(t.bob.id).public(true))
            .await,
        InvalidArgumentKind::DirectPublic,
    );
    assert_invalid(
        t.a.create_conversation(NewConversation::direct(t.bob.id).uber(true))
            .await,
        InvalidArgumentKind::DirectUber,
    );
    assert_invalid(
        t.a.create_conversation(NewConversation::direct(t.bob.id).participant(t.carol.id))
            .await,
        InvalidArgumentKind::DirectParticipants,
    );
    assert_invalid(
        t.a.create_conversation(
            NewConversation::direct(t.bob.id).participant_with(t.carol.id, Permissions::WRITE),
        )
        .await,
        InvalidArgumentKind::DirectParticipants,
    );
    // explicit false is fine
    let other =
        t.a.create_conversation(
            NewConversation::direct(t.carol.id)
                .public(false)
                .uber(false),
        )
        .await
        .unwrap();
    assert_ne!(other.id, d.id);
    // server rules for direct conversations
    assert_eq!(code_of(t.a.add_participants(d.id, [t.carol.id]).await), 37);
    assert_eq!(code_of(t.a.remove_participants(d.id, [t.bob.id]).await), 38);
    assert_eq!(code_of(t.b.leave_conversation(d.id).await), 40);
    assert_eq!(
        code_of(
            t.a.create_conversation(NewConversation::direct(t.alice.id))
                .await
        ),
        35,
        "a direct conversation with yourself has no other participant"
    );
}

#[tokio::test]
async fn broadcast_preset_members_read_only() {
    let t = four().await;
    for preset in [NewConversation::broadcast(), NewConversation::channel()] {
        let c =
            t.a.create_conversation(preset.title("news").participant(t.bob.id))
                .await
                .unwrap();
        assert_eq!(perms(&c, t.bob.id), 0);
        assert_eq!(c.custom_data[PERMISSIONS_KEY], stored(0));
        assert_eq!(c.default_permissions(), Some(Permissions::NONE));
        assert_eq!(code_of(t.b.send_message(c.id, "can I?").await), 12);
        let m = t.a.send_message(c.id, "owner can").await.unwrap();
        assert_eq!(m.text, "owner can");
        // added later: the stored default 0
        let c = t.a.add_participants(c.id, [t.carol.id]).await.unwrap();
        assert_eq!(perms(&c, t.carol.id), 0);
        let c = t.a.remove_participants(c.id, [t.carol.id]).await.unwrap();
        assert!(c.participant(t.carol.id).is_none());
    }
}

#[tokio::test]
async fn custom_data_patch_keeps_untouched_keys() {
    let t = four().await;
    let c =
        t.a.create_conversation(NewConversation::chat().custom_data(obj(json!({
            "a": 1,
            "b": {"x": [1, 2]},
            "c": "drop me"
        }))))
        .await
        .unwrap();
    let patch = CustomDataPatch::new()
        .set("a", 2)
        .remove("c")
        .set("d", json!([true, null]))
        .remove("never-there");
    let e =
        t.a.edit_conversation(c.id)
            .custom_data(patch)
            .await
            .unwrap();
    assert_eq!(
        Value::Object(e.custom_data.clone()),
        json!({"a": 2, "b": {"x": [1, 2]}, "d": [true, null], "permissions": stored(15)})
    );
    assert_eq!(e.title, c.title, "title untouched");
    let got = t.b.get_conversation(c.id).await;
    assert_eq!(code_of(got), 19, "bob is not in it");
    let got = t.a.get_conversation(c.id).await.unwrap();
    assert_eq!(got.custom_data, e.custom_data);

    // a second patch applies onto the result of the first
    let e2 =
        t.a.edit_conversation(c.id)
            .custom_data(CustomDataPatch::new().set("b", "replaced"))
            .title("renamed")
            .await
            .unwrap();
    assert_eq!(
        Value::Object(e2.custom_data.clone()),
        json!({"a": 2, "b": "replaced", "d": [true, null], "permissions": stored(15)})
    );
    assert_eq!(e2.title, "renamed");
    // an empty patch changes nothing
    let e3 =
        t.a.edit_conversation(c.id)
            .custom_data(CustomDataPatch::new())
            .await
            .unwrap();
    assert_eq!(e3.custom_data, e2.custom_data);
    // a patch making the data too large is refused locally
    assert_invalid(
        t.a.edit_conversation(c.id)
            .custom_data(CustomDataPatch::new().set("big", "q".repeat(6000)))
            .await,
        InvalidArgumentKind::CustomDataTooLarge,
    );
}

#[test]
fn custom_data_patch_apply_in_order() {
    let mut data = obj(json!({"keep": 1, "k": "old"}));
    CustomDataPatch::new()
        .set("k", "new")
        .remove("k")
        .set("z", json!({"deep": 1}))
        .apply(&mut data);
    assert_eq!(
        Value::Object(data.clone()),
        json!({"keep": 1, "z": {"deep": 1}})
    );
    CustomDataPatch::new()
        .remove("z")
        .set("z", 3)
        .apply(&mut data);
    assert_eq!(Value::Object(data), json!({"keep": 1, "z": 3}));
    assert_eq!(CustomDataPatch::new(), CustomDataPatch::default());
}

#[tokio::test]
async fn add_participants_uses_stored_default_and_explicit_overrides() {
    let t = four().await;
    let c =
        t.a.create_conversation(
            NewConversation::chat().member_permissions(Permissions::WRITE | Permissions::REMOVE),
        )
        .await
        .unwrap();
    assert_eq!(c.custom_data[PERMISSIONS_KEY], stored(5));
    let c2 =
        t.a.add_participants(
            c.id,
            [
                chatwire::NewParticipant::from(t.bob.id),
                (t.carol.id, Permissions::from_bits(3)).into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(perms(&c2, t.bob.id), 5);
    assert_eq!(perms(&c2, t.carol.id), 3);

    // the stored default changed by another client is read at the time of the call
    t.a.edit_conversation(c.id)
        .custom_data(CustomDataPatch::new().set(PERMISSIONS_KEY, 17))
        .await
        .unwrap();
    let c3 = t.a.add_participants(c.id, [t.dave.id]).await.unwrap();
    assert_eq!(perms(&c3, t.dave.id), 17);

    // without a stored default: the server's default 7
    let plain =
        t.a.create_conversation(NewConversation::chat())
            .await
            .unwrap();
    t.a.edit_conversation(plain.id)
        .custom_data(CustomDataPatch::new().remove(PERMISSIONS_KEY))
        .await
        .unwrap();
    let plain = t.a.add_participants(plain.id, [t.bob.id]).await.unwrap();
    assert_eq!(plain.default_permissions(), None);
    assert_eq!(perms(&plain, t.bob.id), 7);
}

#[tokio::test]
async fn admins_get_65535_and_removal_restores_the_default() {
    let t = four().await;
    let c =
        t.a.create_conversation(NewConversation::broadcast().participants([t.bob.id, t.carol.id]))
            .await
            .unwrap();
    let c = t.a.add_admins(c.id, [t.bob.id]).await.unwrap();
    assert_eq!(perms(&c, t.bob.id), 65535);
    assert!(c.participant(t.bob.id).unwrap().permissions.is_owner());
    assert_eq!(perms(&c, t.carol.id), 0, "others untouched");
    // an admin can do what an owner does
    t.b.send_message(c.id, "admin speaks").await.unwrap();
    let edited = t.b.edit_conversation(c.id).title("by admin").await.unwrap();
    assert_eq!(edited.title, "by admin");
    // a non-owner cannot make admins
    let chat =
        t.a.create_conversation(NewConversation::chat().participants([t.bob.id, t.carol.id]))
            .await
            .unwrap();
    assert_eq!(code_of(t.b.add_admins(chat.id, [t.carol.id]).await), 12);

    let c = t.a.remove_admins(c.id, [t.bob.id]).await.unwrap();
    assert_eq!(perms(&c, t.bob.id), 0, "broadcast default restored");
    assert_eq!(code_of(t.b.send_message(c.id, "no longer").await), 12);

    let chat =
        t.a.add_admins(chat.id, [t.bob.id, t.carol.id])
            .await
            .unwrap();
    assert_eq!(perms(&chat, t.bob.id), 65535);
    assert_eq!(perms(&chat, t.carol.id), 65535);
    let chat = t.a.remove_admins(chat.id, [t.carol.id]).await.unwrap();
    assert_eq!(perms(&chat, t.carol.id), 15, "chat default restored");
    assert_eq!(perms(&chat, t.bob.id), 65535);
}

#[tokio::test]
async fn edit_permissions_updates_default_and_every_member() {
    let t = four().await;
    let c =
        t.a.create_conversation(
            NewConversation::chat()
                .custom_data(obj(json!({"other": "kept"})))
                .participants([t.bob.id, t.carol.id]),
        )
        .await
        .unwrap();
    t.a.add_admins(c.id, [t.bob.id]).await.unwrap();
    let new = Permissions::WRITE | Permissions::EDIT_ALL;
    let c2 = t.a.edit_permissions(c.id, new).await.unwrap();
    assert_eq!(c2.default_permissions(), Some(new));
    assert_eq!(c2.custom_data[PERMISSIONS_KEY], stored(17));
    assert_eq!(c2.custom_data["other"], json!("kept"));
    assert_eq!(perms(&c2, t.alice.id), 65535, "owner untouched");
    assert_eq!(perms(&c2, t.bob.id), 65535, "admin untouched");
    assert_eq!(perms(&c2, t.carol.id), 17);
    let later = t.a.add_participants(c.id, [t.dave.id]).await.unwrap();
    assert_eq!(
        perms(&later, t.dave.id),
        17,
        "new default for later members"
    );
    // a conversation with only the owner: the default is stored, nobody else changes
    let solo =
        t.a.create_conversation(NewConversation::chat())
            .await
            .unwrap();
    let solo =
        t.a.edit_permissions(solo.id, Permissions::NONE)
            .await
            .unwrap();
    assert_eq!(solo.default_permissions(), Some(Permissions::NONE));
    assert_eq!(perms(&solo, t.alice.id), 65535);
    // only the owner may (bob has MANAGE in a chat, but is not the owner)
    let chat =
        t.a.create_conversation(NewConversation::chat().participant(t.bob.id))
            .await
            .unwrap();
    assert_eq!(
        code_of(t.b.edit_permissions(chat.id, Permissions::ALL).await),
        12
    );
    assert_eq!(
        t.a.get_conversation(chat.id)
            .await
            .unwrap()
            .default_permissions(),
        Some(NewConversation::CHAT),
        "unchanged"
    );
    assert_eq!(
        code_of(t.b.edit_permissions(solo.id, Permissions::ALL).await),
        19
    );
}

/// The stored form of a default of `bits` (the demo clients' object of booleans).
fn stored(bits: u16) -> serde_json::Value {
    chatwire::default_permissions_value(Permissions::from_bits(bits))
}
