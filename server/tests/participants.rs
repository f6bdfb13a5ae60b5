//! Participants and permissions through the real WebSocket interface (docs/BEHAVIOUR.md sections 5, 4.5, 8).

mod common;

use std::time::Duration;

use common::{Client, Harness, TestUser};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(200);
const UNKNOWN_USER: u64 = 987_654;
const NO_SUCH_CONV: &str = "0f6a3b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

fn obj(frame: &Value) -> &Value {
    &frame["payload"]["object"]
}

/// (user_id, flags) of the participants of the frame's conversation object.
fn parts(frame: &Value) -> Vec<(u64, u64)> {
    obj(frame)["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| (p["user_id"].as_u64().unwrap(), p["flags"].as_u64().unwrap()))
        .collect()
}

/// Consumes whatever is buffered or arrives within a short while, on all clients at once.
async fn settle(cs: &mut [&mut Client]) {
    futures::future::join_all(cs.iter_mut().map(|c| async move {
        c.pending.clear();
        while c.next_within(Duration::from_millis(100)).await.is_some() {}
    }))
    .await;
}

/// Asserts that none of the clients receives anything for a while.
async fn silent(cs: &mut [&mut Client]) {
    futures::future::join_all(cs.iter_mut().map(|c| c.expect_silence(QUIET))).await;
}

async fn last_seq(c: &mut Client, uuid: &str) -> u64 {
    let g = c.ok("getConversation", json!({ "uuid": uuid })).await;
    assert_eq!(g["payload"]["seq"], obj(&g)["last_seq"]);
    g["payload"]["seq"].as_u64().unwrap()
}

async fn me(c: &mut Client) -> Value {
    let id = c.user.expect("logged in");
    let v = c.ok("getUser", json!({ "user_id": id })).await;
    obj(&v).clone()
}

async fn delete_user(h: &Harness, u: &TestUser) {
    let r = h
        .admin("DelUser", &[("user_id", &u.admin_id.to_string())])
        .await;
    assert_eq!(r["result"], 1, "DelUser: {r}");
}

/// Sends a request that must fail with `code` and proves it left no trace: the caller and every
/// observer receive nothing more and `checker` still sees `seq` as the last seq of `conv`.
async fn refused(
    caller: &mut Client,
    observers: &mut [&mut Client],
    event: &str,
    payload: Value,
    code: u64,
    conv: &str,
    seq: u64,
) {
    let v = caller.request(event, payload.clone()).await;
    assert_eq!(v["event"], "onError", "{event} {payload} should fail: {v}");
    assert_eq!(v["payload"]["code"], code, "{event} {payload}: {v}");
    assert_eq!(v["payload"]["on_incoming_event"], event);
    caller.expect_silence(QUIET).await;
    silent(observers).await;
    if let Some(checker) = observers.first_mut() {
        assert_eq!(last_seq(checker, conv).await, seq, "{event} {payload}");
    }
}

// ---------------------------------------------------------------- authorization matrix

#[derive(Clone, Copy, Debug)]
enum Role {
    Owner,
    Manager,
    /// Every permission except `manage` (63 - 8 = 55).
    NoManage,
    Former,
    Stranger,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    AddPlain,
    AddOwner,
    EditPlain,
    EditGrantOwner,
    EditOwner,
    RemovePlain,
    RemoveOwner,
    EditConversation,
}

/// None = success.
fn expected(role: Role, op: Op) -> Option<u64> {
    use Op::*;
    match role {
        Role::Owner => None,
        Role::Manager => match op {
            AddPlain | EditPlain | RemovePlain => None,
            AddOwner | EditGrantOwner | EditOwner | RemoveOwner | EditConversation => Some(12),
        },
        Role::NoManage => Some(12),
        Role::Former | Role::Stranger => Some(19),
    }
}

#[tokio::test]
async fn authorization_matrix() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await; // creator, owner
    let oscar = h.user("oscar").await; // second owner
    let mike = h.user("mike").await; // manager (15)
    let pat = h.user("pat").await; // 55: everything but manage
    let tom = h.user("tom").await; // plain target (7)
    let fred = h.user("fred").await; // former participant
    let sam = h.user("sam").await; // never a participant
    let newbie = h.user("newbie").await; // to be added
    let mut a = h.login(&alice).await;
    let mut o = h.login(&oscar).await;
    let mut m = h.login(&mike).await;
    let mut p = h.login(&pat).await;
    let mut t = h.login(&tom).await;
    let mut f = h.login(&fred).await;
    let mut s = h.login(&sam).await;
    let mut n = h.login(&newbie).await;

    let roles = [
        Role::Owner,
        Role::Manager,
        Role::NoManage,
        Role::Former,
        Role::Stranger,
    ];
    let ops = [
        Op::AddPlain,
        Op::AddOwner,
        Op::EditPlain,
        Op::EditGrantOwner,
        Op::EditOwner,
        Op::RemovePlain,
        Op::RemoveOwner,
        Op::EditConversation,
    ];
    for role in roles {
        for op in ops {
            let conv = a
                .create(json!({"title": "m", "participants": [
                    {"user_id": oscar.im_id, "flags": 65535},
                    {"user_id": mike.im_id, "flags": 15},
                    {"user_id": pat.im_id, "flags": 55},
                    {"user_id": tom.im_id},
                    {"user_id": fred.im_id},
                ]}))
                .await;
            a.ok(
                "removeParticipants",
                json!({"uuid": conv, "participants": [fred.im_id]}),
            )
            .await;
            settle(&mut [
                &mut a, &mut o, &mut m, &mut p, &mut t, &mut f, &mut s, &mut n,
            ])
            .await;
            let (event, payload) = match op {
                Op::AddPlain => (
                    "addParticipants",
                    json!({"uuid": conv, "participants": [{"user_id": newbie.im_id}]}),
                ),
                Op::AddOwner => (
                    "addParticipants",
                    json!({"uuid": conv, "participants": [{"user_id": newbie.im_id, "flags": 65535}]}),
                ),
                Op::EditPlain => (
                    "editParticipants",
                    json!({"uuid": conv, "participants": [{"user_id": tom.im_id, "flags": 15}]}),
                ),
                Op::EditGrantOwner => (
                    "editParticipants",
                    json!({"uuid": conv, "participants": [{"user_id": tom.im_id, "flags": 32768}]}),
                ),
                Op::EditOwner => (
                    "editParticipants",
                    json!({"uuid": conv, "participants": [{"user_id": oscar.im_id, "flags": 7}]}),
                ),
                Op::RemovePlain => (
                    "removeParticipants",
                    json!({"uuid": conv, "participants": [tom.im_id]}),
                ),
                Op::RemoveOwner => (
                    "removeParticipants",
                    json!({"uuid": conv, "participants": [oscar.im_id]}),
                ),
                Op::EditConversation => {
                    ("editConversation", json!({"uuid": conv, "title": "edited"}))
                }
            };
            let caller: &mut Client = match role {
                Role::Owner => &mut a,
                Role::Manager => &mut m,
                Role::NoManage => &mut p,
                Role::Former => &mut f,
                Role::Stranger => &mut s,
            };
            let v = caller.request(event, payload.clone()).await;
            match expected(role, op) {
                Some(code) => {
                    assert_eq!(v["event"], "onError", "{role:?} {op:?}: {v}");
                    assert_eq!(v["payload"]["code"], code, "{role:?} {op:?}: {v}");
                    silent(&mut [
                        &mut a, &mut o, &mut m, &mut p, &mut t, &mut f, &mut s, &mut n,
                    ])
                    .await;
                    assert_eq!(last_seq(&mut o, &conv).await, 2, "{role:?} {op:?}");
                }
                None => {
                    assert_eq!(v["event"], "onEditConversation", "{role:?} {op:?}: {v}");
                    assert_eq!(v["payload"]["seq"], 3, "{role:?} {op:?}");
                    assert_eq!(v["payload"]["on_incoming_event"], event);
                    let ps = parts(&v);
                    let flags_of =
                        |u: &TestUser| ps.iter().find(|(id, _)| *id == u.im_id).map(|x| x.1);
                    match op {
                        Op::AddPlain => assert_eq!(flags_of(&newbie), Some(7)),
                        Op::AddOwner => assert_eq!(flags_of(&newbie), Some(65535)),
                        Op::EditPlain => assert_eq!(flags_of(&tom), Some(15)),
                        Op::EditGrantOwner => assert_eq!(flags_of(&tom), Some(65535)),
                        Op::EditOwner => assert_eq!(flags_of(&oscar), Some(7)),
                        Op::RemovePlain => assert_eq!(flags_of(&tom), None),
                        Op::RemoveOwner => assert_eq!(flags_of(&oscar), None),
                        Op::EditConversation => assert_eq!(obj(&v)["title"], "edited"),
                    }
                    // Oscar hears about it unless he was removed (then too: departed users).
                    let got = o.next_event("onEditConversation").await;
                    assert_eq!(got["payload"], v["payload"]);
                    settle(&mut [
                        &mut a, &mut o, &mut m, &mut p, &mut t, &mut f, &mut s, &mut n,
                    ])
                    .await;
                }
            }
        }
    }
}

// ---------------------------------------------------------------- addParticipants

#[tokio::test]
async fn add_participants_checks_in_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mike = h.user("mike").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dead = h.user("dead").await;
    let sam = h.user("sam").await;
    let mut a = h.login(&alice).await;
    let mut m = h.login(&mike).await;
    let mut b = h.login(&bob).await;
    let mut s = h.login(&sam).await;
    let conv = a
        .create(
            json!({"participants": [{"user_id": mike.im_id, "flags": 15}, {"user_id": bob.im_id}]}),
        )
        .await;
    let direct = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id, "flags": 15}]}))
        .await;
    let gone = a.create(json!({})).await;
    a.ok("leaveConversation", json!({"uuid": gone})).await;
    delete_user(&h, &dead).await;
    settle(&mut [&mut a, &mut m, &mut b, &mut s]).await;

    let add = |list: Value| json!({"uuid": conv, "participants": list});
    let cases: Vec<(u8, Value, u64)> = vec![
        // 0: types
        (0, json!({"uuid": conv}), 0),
        (0, json!({"participants": [{"user_id": carol.im_id}]}), 0),
        (
            0,
            json!({"uuid": 1, "participants": [{"user_id": carol.im_id}]}),
            0,
        ),
        (0, add(json!("x")), 0),
        (0, add(json!([carol.im_id])), 0),
        (0, add(json!([{"flags": 7}])), 0),
        (0, add(json!([{"user_id": "carol"}])), 0),
        (0, add(json!([{"user_id": carol.im_id, "flags": 65536}])), 0),
        (0, add(json!([{"user_id": carol.im_id, "flags": -1}])), 0),
        (
            0,
            add(json!([{"user_id": carol.im_id, "last_read": "x"}])),
            0,
        ),
        // 0 before 21 (uuid type), 21 before 8
        (0, json!({"uuid": 5, "participants": []}), 0),
        (0, add(json!([])), 21),
        (0, json!({"uuid": NO_SUCH_CONV, "participants": []}), 21),
        // 8 / 16
        (
            0,
            json!({"uuid": NO_SUCH_CONV, "participants": [{"user_id": carol.im_id}]}),
            8,
        ),
        (
            0,
            json!({"uuid": "nope", "participants": [{"user_id": carol.im_id}]}),
            8,
        ),
        (
            0,
            json!({"uuid": gone, "participants": [{"user_id": carol.im_id}]}),
            16,
        ),
        // 19: caller not a participant (before 37)
        (3, add(json!([{"user_id": carol.im_id}])), 19),
        (
            3,
            json!({"uuid": direct, "participants": [{"user_id": carol.im_id}]}),
            19,
        ),
        // 37: direct, even for the owner / a manager, before 12 / 25
        (
            0,
            json!({"uuid": direct, "participants": [{"user_id": carol.im_id}]}),
            37,
        ),
        (
            2,
            json!({"uuid": direct, "participants": [{"user_id": UNKNOWN_USER}]}),
            37,
        ),
        // 12: no manage (before 25)
        (2, add(json!([{"user_id": carol.im_id}])), 12),
        (2, add(json!([{"user_id": UNKNOWN_USER}])), 12),
        // 25 before 18 before owner-bit 12 before 13
        (
            1,
            add(json!([{"user_id": dead.im_id}, {"user_id": UNKNOWN_USER}])),
            25,
        ),
        (
            1,
            add(json!([{"user_id": carol.im_id, "flags": 65535}, {"user_id": UNKNOWN_USER}])),
            25,
        ),
        (
            1,
            add(json!([{"user_id": bob.im_id}, {"user_id": dead.im_id}])),
            18,
        ),
        (1, add(json!([{"user_id": dead.im_id, "flags": 32768}])), 18),
        (
            1,
            add(json!([{"user_id": carol.im_id, "flags": 32768}])),
            12,
        ),
        (1, add(json!([{"user_id": bob.im_id, "flags": 65535}])), 12),
        (
            1,
            add(json!([{"user_id": carol.im_id}, {"user_id": bob.im_id}])),
            13,
        ),
        (1, add(json!([{"user_id": mike.im_id}])), 13),
        (0, add(json!([{"user_id": alice.im_id}])), 13),
    ];
    for (who, payload, code) in cases {
        let (caller, others): (&mut Client, [&mut Client; 3]) = match who {
            0 => (&mut a, [&mut m, &mut b, &mut s]),
            1 => (&mut m, [&mut a, &mut b, &mut s]),
            2 => (&mut b, [&mut a, &mut m, &mut s]),
            _ => (&mut s, [&mut a, &mut m, &mut b]),
        };
        let v = caller.request("addParticipants", payload.clone()).await;
        assert_eq!(v["event"], "onError", "{payload}: {v}");
        assert_eq!(v["payload"]["code"], code, "{payload}: {v}");
        let mut others = others;
        silent(&mut others).await;
    }
    assert_eq!(last_seq(&mut a, &conv).await, 1);
    assert_eq!(last_seq(&mut a, &direct).await, 1);
}

#[tokio::test]
async fn add_participants_appends_in_list_order_with_one_event() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let erin = h.user("erin").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let mut c2 = h.login(&carol).await;
    let mut d = h.login(&dave).await;
    let mut e = h.login(&erin).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id, "flags": 15}]}))
        .await;
    settle(&mut [&mut b]).await;
    let v = b
        .request(
            "addParticipants",
            json!({"uuid": conv.to_uppercase(), "participants": [
                {"user_id": dave.im_id, "flags": 32 | 1, "last_read": 9},
                {"user_id": carol.im_id},
                {"user_id": dave.im_id, "flags": 8},
                {"user_id": carol.im_id, "flags": 1},
            ]}),
        )
        .await;
    assert_eq!(v["event"], "onEditConversation");
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(v["payload"]["on_incoming_event"], "addParticipants");
    assert_eq!(v["payload"]["initiator"], bob.im_id);
    assert_eq!(
        obj(&v)["participants"],
        json!([
            {"user_id": alice.im_id, "flags": 65535, "last_read": 0},
            {"user_id": bob.im_id, "flags": 15, "last_read": 0},
            {"user_id": dave.im_id, "flags": 33, "last_read": 0},
            {"user_id": carol.im_id, "flags": 7, "last_read": 0},
        ])
    );
    assert_eq!(obj(&v)["last_seq"], 2);
    // Everyone, the added users' every connection included, gets the same onEditConversation.
    for x in [&mut a, &mut c1, &mut c2, &mut d] {
        let got = x.next_event("onEditConversation").await;
        assert_eq!(got["payload"], v["payload"]);
        assert_eq!(got["request_uuid"], v["request_uuid"]);
    }
    // Exactly one event, and never an onCreateConversation.
    silent(&mut [&mut a, &mut b, &mut c1, &mut c2, &mut d, &mut e]).await;
    assert_eq!(last_seq(&mut c1, &conv).await, 2);
    assert_eq!(me(&mut d).await["conversations_list"], json!([conv]));
}

#[tokio::test]
async fn owner_may_add_owners_and_flags_are_normalized() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let conv = a.create(json!({})).await;
    let v = a
        .ok(
            "addParticipants",
            json!({"uuid": conv, "participants": [
                {"user_id": bob.im_id, "flags": 32768},
                {"user_id": carol.im_id, "flags": 7 | 128},
                {"user_id": dave.im_id, "flags": 0},
            ]}),
        )
        .await;
    assert_eq!(
        parts(&v),
        vec![
            (alice.im_id, 65535),
            (bob.im_id, 65535),
            (carol.im_id, 7),
            (dave.im_id, 0)
        ]
    );
}

#[tokio::test]
async fn re_adding_a_former_participant_puts_them_at_the_end() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id, "flags": 63}, {"user_id": carol.im_id}]}))
        .await;
    a.ok(
        "removeParticipants",
        json!({"uuid": conv, "participants": [bob.im_id]}),
    )
    .await;
    assert_eq!(me(&mut b).await["leave_conversations"], json!([conv]));
    let v = a
        .ok(
            "addParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    assert_eq!(
        parts(&v),
        vec![(alice.im_id, 65535), (carol.im_id, 7), (bob.im_id, 7)]
    );
    let me_b = me(&mut b).await;
    assert_eq!(me_b["conversations_list"], json!([conv]));
    assert_eq!(me_b["leave_conversations"], json!([]));
}

#[tokio::test]
async fn deleted_participants_stay_and_may_be_removed_by_managers() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    delete_user(&h, &bob).await;
    let g = a.ok("getConversation", json!({"uuid": conv})).await;
    assert_eq!(
        parts(&g),
        vec![(alice.im_id, 65535), (bob.im_id, 7), (carol.im_id, 7)]
    );
    // A deleted current participant: 18 comes before 13.
    let v = a
        .request(
            "addParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    assert_eq!(v["payload"]["code"], 18, "{v}");
    let v = a
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 1}]}),
        )
        .await;
    assert_eq!(parts(&v)[1], (bob.im_id, 1));
    let v = a
        .ok(
            "removeParticipants",
            json!({"uuid": conv, "participants": [bob.im_id]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (carol.im_id, 7)]);
}

// ---------------------------------------------------------------- editParticipants

#[tokio::test]
async fn edit_participants_replaces_the_whole_flag_set_of_listed_users_only() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let mut d = h.login(&dave).await;
    let conv = a
        .create(json!({"participants": [
            {"user_id": bob.im_id, "flags": 63},
            {"user_id": carol.im_id, "flags": 1},
            {"user_id": dave.im_id, "flags": 5},
        ]}))
        .await;
    a.ok("sendMessage", json!({"conversation": conv, "text": "x"}))
        .await;
    b.ok("isRead", json!({"conversation": conv, "seq": 2}))
        .await;
    settle(&mut [&mut a, &mut b, &mut c, &mut d]).await;
    let v = a
        .request(
            "editParticipants",
            json!({"uuid": conv, "participants": [
                {"user_id": dave.im_id},
                {"user_id": bob.im_id, "flags": 8},
                {"user_id": dave.im_id, "flags": 63},
            ]}),
        )
        .await;
    assert_eq!(v["event"], "onEditConversation");
    assert_eq!(v["payload"]["seq"], 3);
    assert_eq!(v["payload"]["on_incoming_event"], "editParticipants");
    assert_eq!(
        obj(&v)["participants"],
        json!([
            {"user_id": alice.im_id, "flags": 65535, "last_read": 0},
            {"user_id": bob.im_id, "flags": 8, "last_read": 2},
            {"user_id": carol.im_id, "flags": 1, "last_read": 0},
            {"user_id": dave.im_id, "flags": 7, "last_read": 0},
        ])
    );
    for x in [&mut b, &mut c, &mut d] {
        let got = x.next_event("onEditConversation").await;
        assert_eq!(got["payload"], v["payload"]);
    }
    silent(&mut [&mut a, &mut b, &mut c, &mut d]).await;
    // Normalization applies.
    let v = a
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [
                {"user_id": carol.im_id, "flags": 7 | 128 | 1024},
                {"user_id": dave.im_id, "flags": 32768 | 2},
            ]}),
        )
        .await;
    assert_eq!(
        parts(&v),
        vec![
            (alice.im_id, 65535),
            (bob.im_id, 8),
            (carol.im_id, 7),
            (dave.im_id, 65535)
        ]
    );
    // Bob, now with only `manage`, may manage non-owners but can no longer write.
    let v = b
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": carol.im_id, "flags": 0}]}),
        )
        .await;
    assert_eq!(parts(&v)[2], (carol.im_id, 0));
    let e = b
        .err("sendMessage", json!({"conversation": conv, "text": "x"}))
        .await;
    assert_eq!(e, 12);
}

#[tokio::test]
async fn edit_participants_checks_in_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let oscar = h.user("oscar").await;
    let mike = h.user("mike").await;
    let tom = h.user("tom").await;
    let fred = h.user("fred").await;
    let sam = h.user("sam").await;
    let mut a = h.login(&alice).await;
    let mut o = h.login(&oscar).await;
    let mut m = h.login(&mike).await;
    let mut t = h.login(&tom).await;
    let mut s = h.login(&sam).await;
    let conv = a
        .create(json!({"participants": [
            {"user_id": oscar.im_id, "flags": 65535},
            {"user_id": mike.im_id, "flags": 15},
            {"user_id": tom.im_id},
            {"user_id": fred.im_id},
        ]}))
        .await;
    a.ok(
        "removeParticipants",
        json!({"uuid": conv, "participants": [fred.im_id]}),
    )
    .await;
    let gone = a.create(json!({})).await;
    a.ok("leaveConversation", json!({"uuid": gone})).await;
    settle(&mut [&mut a, &mut o, &mut m, &mut t, &mut s]).await;
    let ed = |list: Value| json!({"uuid": conv, "participants": list});
    // (caller: 0 alice, 1 mike, 2 tom, 3 sam)
    let cases: Vec<(u8, Value, u64)> = vec![
        (0, json!({"uuid": conv}), 0),
        (0, ed(json!([tom.im_id])), 0),
        (0, ed(json!([{"user_id": tom.im_id, "flags": 70000}])), 0),
        (0, ed(json!([{"user_id": tom.im_id, "flags": "x"}])), 0),
        (0, ed(json!([])), 21),
        (3, json!({"uuid": NO_SUCH_CONV, "participants": []}), 21),
        (
            0,
            json!({"uuid": NO_SUCH_CONV, "participants": [{"user_id": tom.im_id}]}),
            8,
        ),
        (
            0,
            json!({"uuid": gone, "participants": [{"user_id": tom.im_id}]}),
            16,
        ),
        (3, ed(json!([{"user_id": tom.im_id}])), 19),
        (2, ed(json!([{"user_id": tom.im_id, "flags": 1}])), 12),
        (2, ed(json!([{"user_id": UNKNOWN_USER}])), 12),
        // 25 before 19 (target not participant)
        (
            1,
            ed(json!([{"user_id": fred.im_id}, {"user_id": UNKNOWN_USER}])),
            25,
        ),
        (1, ed(json!([{"user_id": fred.im_id}])), 19),
        (1, ed(json!([{"user_id": sam.im_id}])), 19),
        // 19 before the owner check
        (
            1,
            ed(json!([{"user_id": oscar.im_id}, {"user_id": fred.im_id}])),
            19,
        ),
        // non-owner manager touching an owner or granting owner
        (1, ed(json!([{"user_id": oscar.im_id, "flags": 65535}])), 12),
        (
            1,
            ed(json!([{"user_id": tom.im_id}, {"user_id": alice.im_id, "flags": 7}])),
            12,
        ),
        (1, ed(json!([{"user_id": tom.im_id, "flags": 32768}])), 12),
        (1, ed(json!([{"user_id": mike.im_id, "flags": 65535}])), 12),
        // leaving no owner
        (
            0,
            ed(
                json!([{"user_id": alice.im_id, "flags": 7}, {"user_id": oscar.im_id, "flags": 15}]),
            ),
            12,
        ),
    ];
    for (who, payload, code) in cases {
        let (caller, mut others): (&mut Client, [&mut Client; 4]) = match who {
            0 => (&mut a, [&mut o, &mut m, &mut t, &mut s]),
            1 => (&mut m, [&mut a, &mut o, &mut t, &mut s]),
            2 => (&mut t, [&mut a, &mut o, &mut m, &mut s]),
            _ => (&mut s, [&mut a, &mut o, &mut m, &mut t]),
        };
        let v = caller.request("editParticipants", payload.clone()).await;
        assert_eq!(v["event"], "onError", "{payload}: {v}");
        assert_eq!(v["payload"]["code"], code, "{payload}: {v}");
        silent(&mut others).await;
    }
    assert_eq!(last_seq(&mut a, &conv).await, 2);
}

#[tokio::test]
async fn owners_may_demote_themselves_only_while_an_owner_remains() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    settle(&mut [&mut b]).await;
    refused(
        &mut a,
        &mut [&mut b],
        "editParticipants",
        json!({"uuid": conv, "participants": [{"user_id": alice.im_id, "flags": 63}]}),
        12,
        &conv,
        1,
    )
    .await;
    // Hand ownership over and step down in one request.
    let v = a
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [
                {"user_id": alice.im_id, "flags": 15},
                {"user_id": bob.im_id, "flags": 65535},
            ]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 15), (bob.im_id, 65535)]);
    // Alice (now a manager) may no longer touch bob.
    settle(&mut [&mut b]).await;
    refused(
        &mut a,
        &mut [&mut b],
        "editParticipants",
        json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 15}]}),
        12,
        &conv,
        2,
    )
    .await;
    // An owner may demote another owner.
    let v = b
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": alice.im_id, "flags": 65535}]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (bob.im_id, 65535)]);
    let v = a
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (bob.im_id, 7)]);
}

#[tokio::test]
async fn edit_participants_is_allowed_on_direct_conversations() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    settle(&mut [&mut b]).await;
    let v = a
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 3}]}),
        )
        .await;
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (bob.im_id, 3)]);
    let got = b.next_event("onEditConversation").await;
    assert_eq!(got["payload"], v["payload"]);
    refused(
        &mut b,
        &mut [&mut a],
        "editParticipants",
        json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 63}]}),
        12,
        &conv,
        2,
    )
    .await;
    refused(
        &mut a,
        &mut [&mut b],
        "editParticipants",
        json!({"uuid": conv, "participants": [{"user_id": alice.im_id, "flags": 7}]}),
        12,
        &conv,
        2,
    )
    .await;
    // Both may be owners.
    let v = a
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 65535}]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (bob.im_id, 65535)]);
}

// ---------------------------------------------------------------- removeParticipants

#[tokio::test]
async fn remove_participants_checks_in_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let oscar = h.user("oscar").await;
    let mike = h.user("mike").await;
    let tom = h.user("tom").await;
    let fred = h.user("fred").await;
    let sam = h.user("sam").await;
    let mut a = h.login(&alice).await;
    let mut o = h.login(&oscar).await;
    let mut m = h.login(&mike).await;
    let mut t = h.login(&tom).await;
    let mut s = h.login(&sam).await;
    let conv = a
        .create(json!({"participants": [
            {"user_id": oscar.im_id, "flags": 65535},
            {"user_id": mike.im_id, "flags": 15},
            {"user_id": tom.im_id},
            {"user_id": fred.im_id},
        ]}))
        .await;
    a.ok(
        "removeParticipants",
        json!({"uuid": conv, "participants": [fred.im_id]}),
    )
    .await;
    let direct = a
        .create(json!({"direct": true, "participants": [{"user_id": tom.im_id, "flags": 15}]}))
        .await;
    let gone = a.create(json!({})).await;
    a.ok("leaveConversation", json!({"uuid": gone})).await;
    settle(&mut [&mut a, &mut o, &mut m, &mut t, &mut s]).await;
    let rm = |list: Value| json!({"uuid": conv, "participants": list});
    // (caller: 0 alice, 1 mike, 2 tom, 3 sam)
    let cases: Vec<(u8, Value, u64)> = vec![
        (0, json!({"uuid": conv}), 0),
        (0, rm(json!(["x"])), 0),
        (0, rm(json!([0])), 0),
        (0, rm(json!([-3])), 0),
        (0, rm(json!([{"id": tom.im_id}])), 0),
        (0, rm(json!([{"user_id": "tom"}])), 0),
        (0, rm(json!(tom.im_id)), 0),
        (0, rm(json!([])), 21),
        (
            0,
            json!({"uuid": NO_SUCH_CONV, "participants": [tom.im_id]}),
            8,
        ),
        (0, json!({"uuid": gone, "participants": [tom.im_id]}), 16),
        (3, rm(json!([tom.im_id])), 19),
        (3, json!({"uuid": direct, "participants": [tom.im_id]}), 19),
        (0, json!({"uuid": direct, "participants": [tom.im_id]}), 38),
        (
            2,
            json!({"uuid": direct, "participants": [alice.im_id]}),
            38,
        ),
        (2, rm(json!([tom.im_id])), 12),
        (2, rm(json!([UNKNOWN_USER])), 12),
        (1, rm(json!([tom.im_id, UNKNOWN_USER])), 25),
        (1, rm(json!([fred.im_id, {"user_id": UNKNOWN_USER}])), 25),
        (1, rm(json!([tom.im_id, fred.im_id])), 19),
        (1, rm(json!([sam.im_id])), 19),
        (1, rm(json!([oscar.im_id, fred.im_id])), 19),
        (1, rm(json!([tom.im_id, oscar.im_id])), 12),
        (1, rm(json!([{"user_id": alice.im_id}])), 12),
    ];
    for (who, payload, code) in cases {
        let (caller, mut others): (&mut Client, [&mut Client; 4]) = match who {
            0 => (&mut a, [&mut o, &mut m, &mut t, &mut s]),
            1 => (&mut m, [&mut a, &mut o, &mut t, &mut s]),
            2 => (&mut t, [&mut a, &mut o, &mut m, &mut s]),
            _ => (&mut s, [&mut a, &mut o, &mut m, &mut t]),
        };
        let v = caller.request("removeParticipants", payload.clone()).await;
        assert_eq!(v["event"], "onError", "{payload}: {v}");
        assert_eq!(v["payload"]["code"], code, "{payload}: {v}");
        silent(&mut others).await;
    }
    assert_eq!(last_seq(&mut a, &conv).await, 2);
    assert_eq!(last_seq(&mut a, &direct).await, 1);
}

#[tokio::test]
async fn remove_participants_accepts_both_element_forms_and_notifies_removed_users() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mike = h.user("mike").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let mut m = h.login(&mike).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let mut d = h.login(&dave).await;
    let conv = a
        .create(json!({"participants": [
            {"user_id": mike.im_id, "flags": 15},
            {"user_id": bob.im_id},
            {"user_id": carol.im_id},
            {"user_id": dave.im_id},
        ]}))
        .await;
    settle(&mut [&mut m, &mut b1, &mut b2, &mut c, &mut d]).await;
    let v = m
        .request(
            "removeParticipants",
            json!({"uuid": conv, "participants": [bob.im_id, {"user_id": dave.im_id}, bob.im_id]}),
        )
        .await;
    assert_eq!(v["event"], "onEditConversation");
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(v["payload"]["on_incoming_event"], "removeParticipants");
    assert_eq!(v["payload"]["initiator"], mike.im_id);
    assert_eq!(
        parts(&v),
        vec![(alice.im_id, 65535), (mike.im_id, 15), (carol.im_id, 7)]
    );
    for x in [&mut a, &mut b1, &mut b2, &mut c, &mut d] {
        let got = x.next_event("onEditConversation").await;
        assert_eq!(got["payload"], v["payload"]);
        assert_eq!(got["request_uuid"], v["request_uuid"]);
    }
    silent(&mut [&mut a, &mut m, &mut b1, &mut b2, &mut c, &mut d]).await;
    for x in [&mut b1, &mut d] {
        let me = me(x).await;
        assert_eq!(me["conversations_list"], json!([]));
        assert_eq!(me["leave_conversations"], json!([conv]));
    }
    // Removed users no longer receive events but may still read the conversation.
    a.ok(
        "sendMessage",
        json!({"conversation": conv, "text": "after"}),
    )
    .await;
    c.next_event("onSendMessage").await;
    silent(&mut [&mut b1, &mut b2, &mut d]).await;
    assert_eq!(last_seq(&mut b1, &conv).await, 3);
    // A manager may remove themself.
    let v = m
        .ok(
            "removeParticipants",
            json!({"uuid": conv, "participants": [{"user_id": mike.im_id}]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (carol.im_id, 7)]);
}

#[tokio::test]
async fn removing_the_only_owner_hands_ownership_over() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    let conv = a
        .create(json!({"participants": [
            {"user_id": bob.im_id, "flags": 15},
            {"user_id": carol.im_id, "flags": 2},
            {"user_id": dave.im_id},
        ]}))
        .await;
    settle(&mut [&mut c]).await;
    delete_user(&h, &bob).await;
    let v = a
        .ok(
            "removeParticipants",
            json!({"uuid": conv, "participants": [alice.im_id]}),
        )
        .await;
    // Bob is deleted: carol (next longest-standing) becomes owner, in the same event.
    assert_eq!(
        parts(&v),
        vec![(bob.im_id, 15), (carol.im_id, 65535), (dave.im_id, 7)]
    );
    assert_eq!(v["payload"]["seq"], 2);
    let got = c.next_event("onEditConversation").await;
    assert_eq!(got["payload"], v["payload"]);
    silent(&mut [&mut a, &mut c]).await;
    assert_eq!(last_seq(&mut c, &conv).await, 2);
}

#[tokio::test]
async fn removing_everyone_deletes_the_conversation() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let conv = a1
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    a1.ok(
        "removeParticipants",
        json!({"uuid": conv, "participants": [carol.im_id]}),
    )
    .await;
    settle(&mut [&mut a1, &mut a2, &mut b, &mut c]).await;
    assert_eq!(me(&mut c).await["leave_conversations"], json!([conv]));

    let id = uuid::Uuid::new_v4().to_string();
    a1.send(json!({"service": "chat", "event": "removeParticipants", "request_uuid": id,
                   "payload": {"uuid": conv, "participants": [{"user_id": bob.im_id}, alice.im_id]}}))
        .await;
    for x in [&mut a1, &mut a2, &mut b] {
        let edit = x.next().await.expect("edit frame");
        assert_eq!(edit["event"], "onEditConversation", "{edit}");
        assert_eq!(edit["request_uuid"], id.as_str());
        assert_eq!(edit["payload"]["seq"], 3);
        assert_eq!(edit["payload"]["on_incoming_event"], "removeParticipants");
        assert_eq!(obj(&edit)["participants"], json!([]));
        let rm = x.next().await.expect("remove frame");
        assert_eq!(rm["event"], "onRemoveConversation", "{rm}");
        assert_eq!(rm["request_uuid"], id.as_str());
        assert_eq!(rm["payload"]["seq"], 4);
        assert_eq!(
            rm["payload"]["on_incoming_event"],
            "removeEmptyConversation"
        );
        assert_eq!(obj(&rm)["participants"], json!([]));
        assert_eq!(obj(&rm)["last_seq"], 4);
        assert_eq!(obj(&rm)["uuid"], conv.as_str());
        assert_eq!(obj(&rm)["last_update"], rm["payload"]["timestamp"]);
    }
    // Carol, removed earlier, hears nothing.
    silent(&mut [&mut a1, &mut a2, &mut b, &mut c]).await;
    for x in [&mut a1, &mut b, &mut c] {
        let me = me(x).await;
        assert_eq!(me["conversations_list"], json!([]));
        assert_eq!(me["leave_conversations"], json!([]));
    }
    for x in [&mut a1, &mut c] {
        let code = x.err("getConversation", json!({"uuid": conv})).await;
        assert_eq!(code, 16);
    }
    let code = a1
        .err(
            "removeParticipants",
            json!({"uuid": conv, "participants": [alice.im_id]}),
        )
        .await;
    assert_eq!(code, 16);
    let code = a1
        .err(
            "editParticipants",
            json!({"uuid": conv, "participants": [{"user_id": alice.im_id}]}),
        )
        .await;
    assert_eq!(code, 16);
}

#[tokio::test]
async fn refused_requests_leave_no_trace() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let conv = a
        .create(json!({"title": "t", "participants": [{"user_id": bob.im_id}]}))
        .await;
    settle(&mut [&mut b]).await;
    let before = a.ok("getConversation", json!({"uuid": conv})).await;
    // A partly valid list is refused as a whole (atomic).
    refused(
        &mut a,
        &mut [&mut b, &mut c],
        "addParticipants",
        json!({"uuid": conv, "participants": [{"user_id": carol.im_id}, {"user_id": UNKNOWN_USER}]}),
        25,
        &conv,
        1,
    )
    .await;
    refused(
        &mut a,
        &mut [&mut b, &mut c],
        "addParticipants",
        json!({"uuid": conv, "participants": [{"user_id": carol.im_id}, {"user_id": bob.im_id}]}),
        13,
        &conv,
        1,
    )
    .await;
    refused(
        &mut a,
        &mut [&mut b, &mut c],
        "editParticipants",
        json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 63}, {"user_id": carol.im_id}]}),
        19,
        &conv,
        1,
    )
    .await;
    refused(
        &mut a,
        &mut [&mut b, &mut c],
        "removeParticipants",
        json!({"uuid": conv, "participants": [bob.im_id, carol.im_id]}),
        19,
        &conv,
        1,
    )
    .await;
    refused(
        &mut b,
        &mut [&mut a, &mut c],
        "removeParticipants",
        json!({"uuid": conv, "participants": [bob.im_id]}),
        12,
        &conv,
        1,
    )
    .await;
    let after = a.ok("getConversation", json!({"uuid": conv})).await;
    assert_eq!(obj(&after), obj(&before));
    assert_eq!(me(&mut c).await["conversations_list"], json!([]));
    assert_eq!(me(&mut b).await["conversations_list"], json!([conv]));
}

#[tokio::test]
async fn duplicates_first_occurrence_counts_for_checks_too() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mike = h.user("mike").await;
    let tom = h.user("tom").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut m = h.login(&mike).await;
    let conv = a
        .create(
            json!({"participants": [{"user_id": mike.im_id, "flags": 15}, {"user_id": tom.im_id}]}),
        )
        .await;
    settle(&mut [&mut m]).await;
    // First entry grants owner: refused for a non-owner manager, although the second would pass.
    refused(
        &mut m,
        &mut [&mut a],
        "editParticipants",
        json!({"uuid": conv, "participants": [
            {"user_id": tom.im_id, "flags": 32768}, {"user_id": tom.im_id, "flags": 1}
        ]}),
        12,
        &conv,
        1,
    )
    .await;
    refused(
        &mut m,
        &mut [&mut a],
        "addParticipants",
        json!({"uuid": conv, "participants": [
            {"user_id": carol.im_id, "flags": 65535}, {"user_id": carol.im_id}
        ]}),
        12,
        &conv,
        1,
    )
    .await;
    // The later owner grant is ignored.
    let v = m
        .ok(
            "editParticipants",
            json!({"uuid": conv, "participants": [
                {"user_id": tom.im_id, "flags": 1}, {"user_id": tom.im_id, "flags": 32768}
            ]}),
        )
        .await;
    assert_eq!(parts(&v)[2], (tom.im_id, 1));
    let v = m
        .ok(
            "addParticipants",
            json!({"uuid": conv, "participants": [
                {"user_id": carol.im_id}, {"user_id": carol.im_id, "flags": 65535}
            ]}),
        )
        .await;
    assert_eq!(parts(&v)[3], (carol.im_id, 7));
    assert_eq!(v["payload"]["seq"], 3);
}
