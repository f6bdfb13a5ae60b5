//! Conversations through the real WebSocket interface (docs/BEHAVIOUR.md sections 2.4-2.7, 4, 8, 12).

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

fn uuid_of(frame: &Value) -> String {
    obj(frame)["uuid"].as_str().expect("uuid").to_string()
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

/// Consumes whatever is buffered or arrives within a short while (setup noise).
async fn settle(c: &mut Client) {
    c.pending.clear();
    while c.next_within(Duration::from_millis(100)).await.is_some() {}
}

async fn get(c: &mut Client, uuid: &str) -> Value {
    c.ok("getConversation", json!({ "uuid": uuid })).await
}

async fn last_seq(c: &mut Client, uuid: &str) -> u64 {
    let g = get(c, uuid).await;
    assert_eq!(g["payload"]["seq"], obj(&g)["last_seq"]);
    g["payload"]["seq"].as_u64().unwrap()
}

/// The caller's own user object (self view).
async fn me(c: &mut Client) -> Value {
    let id = c.user.expect("logged in");
    let v = c.ok("getUser", json!({ "user_id": id })).await;
    obj(&v).clone()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

async fn delete_user(h: &Harness, u: &TestUser) {
    let r = h
        .admin("DelUser", &[("user_id", &u.admin_id.to_string())])
        .await;
    assert_eq!(r["result"], 1, "DelUser: {r}");
}

async fn assert_error_frame(c: &mut Client, event: &str, payload: Value, code: u64) {
    let v = c.request(event, payload.clone()).await;
    assert_eq!(v["event"], "onError", "{event} {payload}: {v}");
    assert_eq!(v["payload"]["code"], code, "{event} {payload}: {v}");
    assert_eq!(v["payload"]["on_incoming_event"], event);
    assert_eq!(v["payload"]["initiator"], c.user.unwrap());
    assert!(v["payload"]["description"].is_string());
    assert!(v["payload"]["timestamp"].is_i64());
    assert!(v["payload"].get("object").is_none());
    assert!(v["payload"].get("seq").is_none());
}

// ---------------------------------------------------------------- createConversation

#[tokio::test]
async fn create_result_has_seq_1_and_documented_fields() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let v = a
        .request("createConversation", json!({"title": "Team"}))
        .await;
    assert_eq!(v["event"], "onCreateConversation");
    assert_eq!(v["service"], "chat");
    assert!(v["request_uuid"].is_string());
    let p = &v["payload"];
    assert_eq!(p["seq"], 1);
    assert_eq!(p["initiator"], alice.im_id);
    assert_eq!(p["on_incoming_event"], "createConversation");
    let o = obj(&v);
    let uuid = o["uuid"].as_str().unwrap();
    let parsed = uuid::Uuid::parse_str(uuid).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(uuid, uuid.to_lowercase());
    assert_eq!(o["title"], "Team");
    assert_eq!(o["direct"], false);
    assert_eq!(o["uber_conversation"], false);
    assert_eq!(o["enable_public_join"], false);
    assert_eq!(o["custom_data"], json!({}));
    assert_eq!(
        o["participants"],
        json!([{"user_id": alice.im_id, "flags": 65535, "last_read": 0}])
    );
    assert_eq!(o["last_seq"], 1);
    assert!(o["created_at"].is_i64());
    assert_eq!(o["created_at"], o["last_update"]);
    assert_eq!(o["created_at"], p["timestamp"]);
}

#[tokio::test]
async fn create_without_title_or_with_empty_title_uses_default() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    for payload in [json!({}), json!({"title": ""}), json!({"title": null})] {
        let v = a.ok("createConversation", payload.clone()).await;
        assert_eq!(obj(&v)["title"], "New conversation", "{payload}");
    }
}

#[tokio::test]
async fn create_keeps_flags_and_custom_data_as_given() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let v = a
        .ok(
            "createConversation",
            json!({"title": "x", "custom_data": {"k": [1, {"n": null}], "s": "é"},
                   "enable_public_join": true, "uber_conversation": true}),
        )
        .await;
    let o = obj(&v);
    assert_eq!(o["custom_data"], json!({"k": [1, {"n": null}], "s": "é"}));
    assert_eq!(o["enable_public_join"], true);
    assert_eq!(o["uber_conversation"], true);
    assert_eq!(o["direct"], false);
}

#[tokio::test]
async fn create_puts_creator_first_as_owner_and_listed_participants_default_to_7() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let v = a
        .ok(
            "createConversation",
            json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id, "flags": 3}]}),
        )
        .await;
    assert_eq!(
        obj(&v)["participants"],
        json!([
            {"user_id": alice.im_id, "flags": 65535, "last_read": 0},
            {"user_id": bob.im_id, "flags": 7, "last_read": 0},
            {"user_id": carol.im_id, "flags": 3, "last_read": 0},
        ])
    );
}

#[tokio::test]
async fn create_normalizes_flags() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut users = Vec::new();
    for n in ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"] {
        users.push(h.user(n).await);
    }
    let mut a = h.login(&alice).await;
    // (given, stored)
    let cases: [(u64, u64); 8] = [
        (32768, 65535),
        (7 | 128, 7),
        (65535, 65535),
        (0, 0),
        (64, 0),
        (63, 63),
        (32768 | 1, 65535),
        (65534, 65535),
    ];
    let list: Vec<Value> = users
        .iter()
        .zip(cases)
        .map(|(u, (f, _))| json!({"user_id": u.im_id, "flags": f}))
        .collect();
    let v = a
        .ok("createConversation", json!({"participants": list}))
        .await;
    let mut expected = vec![(alice.im_id, 65535)];
    expected.extend(users.iter().zip(cases).map(|(u, (_, s))| (u.im_id, s)));
    assert_eq!(parts(&v), expected);
}

#[tokio::test]
async fn create_ignores_creator_entry_and_first_duplicate_wins() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let v = a
        .ok(
            "createConversation",
            json!({"participants": [
                {"user_id": carol.im_id, "flags": 3},
                {"user_id": alice.im_id, "flags": 1},
                {"user_id": bob.im_id},
                {"user_id": carol.im_id, "flags": 65535},
                {"user_id": bob.im_id, "flags": 8},
            ]}),
        )
        .await;
    assert_eq!(
        parts(&v),
        vec![(alice.im_id, 65535), (carol.im_id, 3), (bob.im_id, 7)]
    );
}

#[tokio::test]
async fn create_is_delivered_to_every_connection_of_every_participant_only() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let v = a1
        .ok(
            "createConversation",
            json!({"title": "t", "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    for c in [&mut a2, &mut b1, &mut b2] {
        let got = c.next_event("onCreateConversation").await;
        assert_eq!(got["request_uuid"], v["request_uuid"]);
        assert_eq!(got["payload"], v["payload"]);
    }
    // The caller gets exactly one copy; outsiders nothing.
    a1.expect_silence(QUIET).await;
    c1.expect_silence(QUIET).await;
    for c in [&mut a2, &mut b1, &mut b2] {
        c.expect_silence(QUIET).await;
    }
}

#[tokio::test]
async fn create_rejects_bad_types_and_values_with_0() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let big = "x".repeat(5200);
    let cases = [
        json!({"title": 5}),
        json!({"title": ["t"]}),
        json!({"title": "x".repeat(51)}),
        json!({"title": "é".repeat(51)}),
        json!({"direct": "true"}),
        json!({"direct": 1}),
        json!({"enable_public_join": "yes"}),
        json!({"uber_conversation": 0}),
        json!({"custom_data": []}),
        json!({"custom_data": "x"}),
        json!({"custom_data": 1}),
        json!({"custom_data": {"k": big}}),
        json!({"participants": "x"}),
        json!({"participants": {"user_id": bob.im_id}}),
        json!({"participants": [bob.im_id]}),
        json!({"participants": [{"flags": 7}]}),
        json!({"participants": [{"user_id": "bob"}]}),
        json!({"participants": [{"user_id": -1}]}),
        json!({"participants": [{"user_id": 0}]}),
        json!({"participants": [{"user_id": bob.im_id, "flags": -1}]}),
        json!({"participants": [{"user_id": bob.im_id, "flags": 65536}]}),
        json!({"participants": [{"user_id": bob.im_id, "flags": "seven"}]}),
        json!({"participants": [{"user_id": bob.im_id, "flags": 1.5}]}),
    ];
    for payload in cases {
        assert_error_frame(&mut a, "createConversation", payload, 0).await;
    }
    // Nothing was created.
    let me = me(&mut a).await;
    assert_eq!(me["conversations_list"], json!([]));
}

#[tokio::test]
async fn create_accepts_limits_exactly() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let title = "é".repeat(50);
    let v = a.ok("createConversation", json!({"title": title})).await;
    assert_eq!(obj(&v)["title"], title.as_str());
    // {"k":"xxx…"} is 8 bytes + the string: exactly 5 120 bytes serialized.
    let data = json!({"k": "x".repeat(5120 - 8)});
    assert_eq!(serde_json::to_vec(&data).unwrap().len(), 5120);
    let v = a
        .ok("createConversation", json!({"custom_data": data}))
        .await;
    assert_eq!(obj(&v)["custom_data"], data);
    let data = json!({"k": "x".repeat(5120 - 7)});
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"custom_data": data}),
        0,
    )
    .await;
}

#[tokio::test]
async fn create_direct_with_public_or_uber_is_34_but_explicit_false_is_fine() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let other = json!([{"user_id": bob.im_id}]);
    for extra in [
        json!({"enable_public_join": true}),
        json!({"uber_conversation": true}),
        json!({"enable_public_join": true, "uber_conversation": false}),
        json!({"enable_public_join": false, "uber_conversation": true}),
    ] {
        let mut p = extra.clone();
        p["direct"] = json!(true);
        p["participants"] = other.clone();
        assert_error_frame(&mut a, "createConversation", p, 34).await;
    }
    let v = a
        .ok(
            "createConversation",
            json!({"direct": true, "enable_public_join": false, "uber_conversation": false,
                   "participants": [{"user_id": carol.im_id}]}),
        )
        .await;
    let o = obj(&v);
    assert_eq!(o["direct"], true);
    assert_eq!(o["enable_public_join"], false);
    assert_eq!(o["uber_conversation"], false);
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (carol.im_id, 7)]);
    assert_eq!(v["payload"]["seq"], 1);
}

#[tokio::test]
async fn create_direct_needs_exactly_one_distinct_other_35() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    for list in [
        json!([]),
        json!(null),
        json!([{"user_id": alice.im_id}]),
        json!([{"user_id": bob.im_id}, {"user_id": carol.im_id}]),
    ] {
        assert_error_frame(
            &mut a,
            "createConversation",
            json!({"direct": true, "participants": list}),
            35,
        )
        .await;
    }
    assert_error_frame(&mut a, "createConversation", json!({"direct": true}), 35).await;
    // Duplicates and the creator's own entry do not count as others.
    let v = a
        .ok(
            "createConversation",
            json!({"direct": true, "participants": [
                {"user_id": alice.im_id}, {"user_id": bob.im_id, "flags": 3}, {"user_id": bob.im_id}
            ]}),
        )
        .await;
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (bob.im_id, 3)]);
}

#[tokio::test]
async fn create_with_unknown_participant_is_25() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"participants": [{"user_id": bob.im_id}, {"user_id": UNKNOWN_USER}]}),
        25,
    )
    .await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"direct": true, "participants": [{"user_id": UNKNOWN_USER}]}),
        25,
    )
    .await;
    b.expect_silence(QUIET).await;
    assert_eq!(me(&mut b).await["conversations_list"], json!([]));
}

#[tokio::test]
async fn create_with_deleted_participant_is_18() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    delete_user(&h, &bob).await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"participants": [{"user_id": carol.im_id}, {"user_id": bob.im_id}]}),
        18,
    )
    .await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"direct": true, "participants": [{"user_id": bob.im_id}]}),
        18,
    )
    .await;
    c.expect_silence(QUIET).await;
}

#[tokio::test]
async fn create_checks_run_in_spec_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    delete_user(&h, &bob).await;
    let long = "x".repeat(51);
    let cases = [
        // 0 before 34
        (
            json!({"direct": true, "enable_public_join": true, "title": long,
                   "participants": [{"user_id": carol.im_id}]}),
            0,
        ),
        // flags (0) before 34 / 35
        (
            json!({"direct": true, "enable_public_join": true,
                   "participants": [{"user_id": carol.im_id, "flags": 70000}]}),
            0,
        ),
        // 34 before 35
        (
            json!({"direct": true, "uber_conversation": true, "participants": []}),
            34,
        ),
        // 35 before 25
        (
            json!({"direct": true, "participants": [{"user_id": UNKNOWN_USER}, {"user_id": UNKNOWN_USER + 1}]}),
            35,
        ),
        // 25 before 18, whatever the order in the list
        (
            json!({"participants": [{"user_id": bob.im_id}, {"user_id": UNKNOWN_USER}]}),
            25,
        ),
        (
            json!({"participants": [{"user_id": UNKNOWN_USER}, {"user_id": bob.im_id}]}),
            25,
        ),
        (
            json!({"participants": [{"user_id": carol.im_id}, {"user_id": bob.im_id}]}),
            18,
        ),
    ];
    for (payload, code) in cases {
        assert_error_frame(&mut a, "createConversation", payload, code).await;
    }
}

#[tokio::test]
async fn create_with_more_than_1000_participants_is_22() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    // 22 is checked before 25, so unknown ids suffice: 1 000 others + the creator = 1 001.
    let list: Vec<Value> = (0..1000).map(|i| json!({"user_id": 500_000 + i})).collect();
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"participants": list}),
        22,
    )
    .await;
    // 999 others + creator = 1 000: allowed by the size check, so the next check (25) answers.
    let list: Vec<Value> = (0..999).map(|i| json!({"user_id": 500_000 + i})).collect();
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"participants": list}),
        25,
    )
    .await;
    // Duplicates and the creator's entry do not count.
    let mut list: Vec<Value> = (0..999).map(|i| json!({"user_id": 500_000 + i})).collect();
    list.push(json!({"user_id": 500_000}));
    list.push(json!({"user_id": alice.im_id}));
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"participants": list}),
        25,
    )
    .await;
}

// ---------------------------------------------------------------- direct uniqueness (D8)

#[tokio::test]
async fn existing_direct_is_returned_to_the_caller_only_and_nothing_is_appended() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let created = a1
        .ok(
            "createConversation",
            json!({"direct": true, "title": "ours", "custom_data": {"a": 1},
                   "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    let conv = uuid_of(&created);
    a1.ok("sendMessage", json!({"conversation": conv, "text": "hi"}))
        .await;
    for c in [&mut a2, &mut b1, &mut b2] {
        c.next_event("onCreateConversation").await;
        c.next_event("onSendMessage").await;
    }
    let before = get(&mut a1, &conv).await;

    // Bob (the other side) asks again with different title / data / flags.
    let again = b1
        .ok(
            "createConversation",
            json!({"direct": true, "title": "other", "custom_data": {"b": 2},
                   "participants": [{"user_id": alice.im_id, "flags": 1}]}),
        )
        .await;
    assert_eq!(again["event"], "onCreateConversation");
    assert_eq!(uuid_of(&again), conv);
    assert_eq!(again["payload"]["seq"], 2);
    assert_eq!(again["payload"]["on_incoming_event"], "createConversation");
    assert_eq!(again["payload"]["initiator"], bob.im_id);
    let o = obj(&again);
    assert_eq!(o["title"], "ours");
    assert_eq!(o["custom_data"], json!({"a": 1}));
    assert_eq!(o["last_seq"], 2);
    assert_eq!(o["created_at"], obj(&before)["created_at"]);
    assert_eq!(o["last_update"], obj(&before)["last_update"]);
    assert_eq!(parts(&again), vec![(alice.im_id, 65535), (bob.im_id, 7)]);

    // And the creator again, with her entry duplicated.
    let third = a1
        .ok(
            "createConversation",
            json!({"direct": true, "participants": [{"user_id": bob.im_id}, {"user_id": alice.im_id}]}),
        )
        .await;
    assert_eq!(uuid_of(&third), conv);
    assert_eq!(third["payload"]["seq"], 2);

    // Nobody else hears about it; nothing was appended.
    for c in [&mut a1, &mut a2, &mut b1, &mut b2] {
        c.expect_silence(QUIET).await;
    }
    assert_eq!(last_seq(&mut b1, &conv).await, 2);
    let r = b1
        .request(
            "retransmitEvents",
            json!({"conversation": conv, "events_from": 3, "count": 1}),
        )
        .await;
    assert_eq!(r["payload"]["code"], 24, "{r}");
    assert_eq!(me(&mut a1).await["conversations_list"], json!([conv]));
}

#[tokio::test]
async fn existing_direct_request_still_runs_all_checks_first() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"direct": true, "enable_public_join": true, "participants": [{"user_id": bob.im_id}]}),
        34,
    )
    .await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"direct": true, "title": "y".repeat(51), "participants": [{"user_id": bob.im_id}]}),
        0,
    )
    .await;
    delete_user(&h, &bob).await;
    assert_error_frame(
        &mut a,
        "createConversation",
        json!({"direct": true, "participants": [{"user_id": bob.im_id}]}),
        18,
    )
    .await;
    assert_eq!(last_seq(&mut a, &conv).await, 1);
}

#[tokio::test]
async fn non_direct_conversations_between_the_same_users_are_always_new() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let d = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    let r1 = a
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    let r2 = a
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    assert_ne!(r1, r2);
    assert_ne!(r1, d);
    assert_eq!(me(&mut a).await["conversations_list"], json!([d, r1, r2]));
}

// ---------------------------------------------------------------- editConversation

#[tokio::test]
async fn edit_by_owner_updates_and_reaches_all_participants() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let conv = a1
        .create(json!({"title": "old", "custom_data": {"x": 1}, "participants": [{"user_id": bob.im_id}]}))
        .await;
    settle(&mut a2).await;
    settle(&mut b).await;
    let v = a1
        .request(
            "editConversation",
            json!({"uuid": conv, "title": "new", "custom_data": {"y": 2}, "enable_public_join": true}),
        )
        .await;
    assert_eq!(v["event"], "onEditConversation");
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(v["payload"]["on_incoming_event"], "editConversation");
    assert_eq!(v["payload"]["initiator"], alice.im_id);
    let o = obj(&v);
    assert_eq!(o["title"], "new");
    assert_eq!(o["custom_data"], json!({"y": 2}));
    assert_eq!(o["enable_public_join"], true);
    assert_eq!(o["last_seq"], 2);
    assert_eq!(o["last_update"], v["payload"]["timestamp"]);
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (bob.im_id, 7)]);
    for x in [&mut a2, &mut b] {
        let got = x.next_event("onEditConversation").await;
        assert_eq!(got["payload"], v["payload"]);
        assert_eq!(got["request_uuid"], v["request_uuid"]);
    }
    a1.expect_silence(QUIET).await;
    c.expect_silence(QUIET).await;
    // The public flag can be turned off again; absent keys stay unchanged.
    let v = a1
        .ok(
            "editConversation",
            json!({"uuid": conv, "enable_public_join": false}),
        )
        .await;
    let o = obj(&v);
    assert_eq!(o["enable_public_join"], false);
    assert_eq!(o["title"], "new");
    assert_eq!(o["custom_data"], json!({"y": 2}));
    assert_eq!(v["payload"]["seq"], 3);
}

#[tokio::test]
async fn edit_requires_owner_and_participation() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id, "flags": 63}]}))
        .await;
    settle(&mut b).await;
    assert_error_frame(
        &mut b,
        "editConversation",
        json!({"uuid": conv, "title": "x"}),
        12,
    )
    .await;
    assert_error_frame(
        &mut c,
        "editConversation",
        json!({"uuid": conv, "title": "x"}),
        19,
    )
    .await;
    // Even a public conversation does not let a non-participant edit it.
    a.ok(
        "editConversation",
        json!({"uuid": conv, "enable_public_join": true}),
    )
    .await;
    settle(&mut b).await;
    assert_error_frame(
        &mut c,
        "editConversation",
        json!({"uuid": conv, "title": "x"}),
        19,
    )
    .await;
    assert_error_frame(
        &mut a,
        "editConversation",
        json!({"uuid": NO_SUCH_CONV, "title": "x"}),
        8,
    )
    .await;
    assert_error_frame(
        &mut a,
        "editConversation",
        json!({"uuid": "not-a-uuid", "title": "x"}),
        8,
    )
    .await;
    // A second owner may edit.
    a.ok(
        "editParticipants",
        json!({"uuid": conv, "participants": [{"user_id": bob.im_id, "flags": 65535}]}),
    )
    .await;
    let v = b
        .ok("editConversation", json!({"uuid": conv, "title": "by bob"}))
        .await;
    assert_eq!(obj(&v)["title"], "by bob");
    assert_eq!(v["payload"]["seq"], 4);
    // Refusals appended nothing.
    assert_eq!(last_seq(&mut a, &conv).await, 4);
}

#[tokio::test]
async fn edit_refusal_changes_nothing_and_broadcasts_nothing() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "keep", "participants": [{"user_id": bob.im_id}]}))
        .await;
    settle(&mut b).await;
    assert_error_frame(
        &mut b,
        "editConversation",
        json!({"uuid": conv, "title": "changed", "custom_data": {"z": 1}}),
        12,
    )
    .await;
    a.expect_silence(QUIET).await;
    let g = get(&mut a, &conv).await;
    assert_eq!(g["payload"]["seq"], 1);
    assert_eq!(obj(&g)["title"], "keep");
    assert_eq!(obj(&g)["custom_data"], json!({}));
}

#[tokio::test]
async fn edit_with_empty_title_resets_to_default() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = a.create(json!({"title": "named"})).await;
    let v = a
        .ok("editConversation", json!({"uuid": conv, "title": ""}))
        .await;
    assert_eq!(obj(&v)["title"], "New conversation");
    let v = a
        .ok("editConversation", json!({"uuid": conv, "title": "again"}))
        .await;
    assert_eq!(obj(&v)["title"], "again");
    // null = absent = unchanged
    let v = a
        .ok("editConversation", json!({"uuid": conv, "title": null}))
        .await;
    assert_eq!(obj(&v)["title"], "again");
}

#[tokio::test]
async fn edit_custom_data_replaces_wholesale() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"custom_data": {"a": 1, "b": {"c": 2}}}))
        .await;
    let v = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "custom_data": {"b": {"d": 3}}}),
        )
        .await;
    assert_eq!(obj(&v)["custom_data"], json!({"b": {"d": 3}}));
    let v = a
        .ok("editConversation", json!({"uuid": conv, "title": "t"}))
        .await;
    assert_eq!(obj(&v)["custom_data"], json!({"b": {"d": 3}}));
    let v = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "custom_data": null}),
        )
        .await;
    assert_eq!(obj(&v)["custom_data"], json!({"b": {"d": 3}}));
    let v = a
        .ok("editConversation", json!({"uuid": conv, "custom_data": {}}))
        .await;
    assert_eq!(obj(&v)["custom_data"], json!({}));
    assert_eq!(obj(&get(&mut a, &conv).await)["custom_data"], json!({}));
}

#[tokio::test]
async fn every_edit_appends_an_event_even_without_change() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "same", "participants": [{"user_id": bob.im_id}]}))
        .await;
    settle(&mut b).await;
    let mut last_ts = 0;
    for (i, payload) in [
        json!({"uuid": conv}),
        json!({"uuid": conv, "title": "same"}),
        json!({"uuid": conv, "enable_public_join": false}),
    ]
    .into_iter()
    .enumerate()
    {
        let v = a.ok("editConversation", payload).await;
        let seq = i as u64 + 2;
        assert_eq!(v["payload"]["seq"], seq);
        assert_eq!(obj(&v)["last_seq"], seq);
        assert_eq!(obj(&v)["title"], "same");
        let ts = v["payload"]["timestamp"].as_i64().unwrap();
        assert!(ts >= last_ts);
        last_ts = ts;
        let got = b.next_event("onEditConversation").await;
        assert_eq!(got["payload"]["seq"], seq);
    }
    assert_eq!(last_seq(&mut b, &conv).await, 4);
}

#[tokio::test]
async fn edit_direct_public_is_34_and_direct_uber_keys_are_ignored() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let direct = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    assert_error_frame(
        &mut a,
        "editConversation",
        json!({"uuid": direct, "enable_public_join": true}),
        34,
    )
    .await;
    assert_eq!(last_seq(&mut a, &direct).await, 1);
    // The owner check (12) comes before the direct check (34).
    let mut b = h.login(&bob).await;
    assert_error_frame(
        &mut b,
        "editConversation",
        json!({"uuid": direct, "enable_public_join": true}),
        12,
    )
    .await;
    let v = a
        .ok(
            "editConversation",
            json!({"uuid": direct, "enable_public_join": false, "title": "dm",
                   "direct": false, "uber_conversation": true}),
        )
        .await;
    let o = obj(&v);
    assert_eq!(o["direct"], true);
    assert_eq!(o["uber_conversation"], false);
    assert_eq!(o["enable_public_join"], false);
    assert_eq!(o["title"], "dm");

    let regular = a.create(json!({})).await;
    let v = a
        .ok(
            "editConversation",
            json!({"uuid": regular, "direct": true, "uber_conversation": true}),
        )
        .await;
    assert_eq!(obj(&v)["direct"], false);
    assert_eq!(obj(&v)["uber_conversation"], false);
    assert_eq!(v["payload"]["seq"], 2);
}

#[tokio::test]
async fn edit_rejects_bad_payloads_with_0_before_other_checks() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a.create(json!({})).await;
    for payload in [
        json!({}),
        json!({"uuid": 5}),
        json!({"uuid": conv, "title": 5}),
        json!({"uuid": conv, "title": "x".repeat(51)}),
        json!({"uuid": conv, "custom_data": [1]}),
        json!({"uuid": conv, "custom_data": {"k": "x".repeat(5200)}}),
        json!({"uuid": conv, "enable_public_join": "true"}),
        // 0 before 8 and before 19
        json!({"uuid": NO_SUCH_CONV, "title": "x".repeat(51)}),
    ] {
        assert_error_frame(&mut a, "editConversation", payload, 0).await;
    }
    assert_error_frame(
        &mut b,
        "editConversation",
        json!({"uuid": conv, "custom_data": "x"}),
        0,
    )
    .await;
    assert_eq!(last_seq(&mut a, &conv).await, 1);
}

// ---------------------------------------------------------------- getConversation(s)

#[tokio::test]
async fn get_conversation_returns_current_state_to_the_caller_only() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let created = a1
        .ok(
            "createConversation",
            json!({"title": "t", "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    let conv = uuid_of(&created);
    a1.ok("sendMessage", json!({"conversation": conv, "text": "m"}))
        .await;
    settle(&mut a2).await;
    settle(&mut b).await;
    let g = b
        .request("getConversation", json!({"uuid": conv.to_uppercase()}))
        .await;
    assert_eq!(g["event"], "onGetConversation");
    assert_eq!(g["payload"]["on_incoming_event"], "getConversation");
    assert_eq!(g["payload"]["initiator"], bob.im_id);
    assert_eq!(g["payload"]["seq"], 2);
    let o = obj(&g);
    assert_eq!(o["uuid"], conv.as_str());
    assert_eq!(o["last_seq"], 2);
    assert_eq!(o["title"], "t");
    assert_eq!(o["created_at"], obj(&created)["created_at"]);
    assert_eq!(parts(&g), parts(&created));
    for c in [&mut a1, &mut a2, &mut b] {
        c.expect_silence(QUIET).await;
    }
}

#[tokio::test]
async fn get_conversation_errors() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    let conv = a.create(json!({})).await;
    for (payload, code) in [
        (json!({}), 0),
        (json!({"uuid": 7}), 0),
        (json!({"uuid": [conv.clone()]}), 0),
        (json!({"uuid": "hello"}), 8),
        (json!({"uuid": ""}), 8),
        (json!({"uuid": NO_SUCH_CONV}), 8),
        (json!({"uuid": NO_SUCH_CONV.to_uppercase()}), 8),
    ] {
        assert_error_frame(&mut a, "getConversation", payload, code).await;
    }
    assert_error_frame(&mut c, "getConversation", json!({"uuid": conv}), 19).await;
}

#[tokio::test]
async fn get_conversation_is_allowed_for_former_participants_and_on_public_ones() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}]}))
        .await;
    b.ok("leaveConversation", json!({"uuid": conv})).await;
    a.ok("editConversation", json!({"uuid": conv, "title": "after"}))
        .await;
    // Former participant: current state.
    let g = get(&mut b, &conv).await;
    assert_eq!(g["payload"]["seq"], 3);
    assert_eq!(obj(&g)["title"], "after");
    assert_eq!(parts(&g), vec![(alice.im_id, 65535)]);
    // Stranger: refused until public.
    assert_error_frame(&mut c, "getConversation", json!({"uuid": conv}), 19).await;
    a.ok(
        "editConversation",
        json!({"uuid": conv, "enable_public_join": true}),
    )
    .await;
    let g = get(&mut c, &conv).await;
    assert_eq!(g["payload"]["seq"], 4);
    a.ok(
        "editConversation",
        json!({"uuid": conv, "enable_public_join": false}),
    )
    .await;
    assert_error_frame(&mut c, "getConversation", json!({"uuid": conv}), 19).await;
    // A former participant keeps access on a non-public conversation.
    assert_eq!(last_seq(&mut b, &conv).await, 5);
}

#[tokio::test]
async fn get_conversations_answers_each_distinct_item_in_request_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let c1 = a.create(json!({"title": "one"})).await;
    let c2 = a.create(json!({"title": "two"})).await;
    let c3 = a.create(json!({"title": "three"})).await;
    a.ok("editConversation", json!({"uuid": c2, "title": "two!"}))
        .await;
    let list = json!([c3, c2.to_uppercase(), c1, c3, c2]);
    let first = a.request("getConversations", json!({"uuid": list})).await;
    let rid = first["request_uuid"].clone();
    let mut frames = vec![first];
    frames.push(a.reply_to(rid.as_str().unwrap()).await);
    frames.push(a.reply_to(rid.as_str().unwrap()).await);
    a.expect_silence(QUIET).await;
    let got: Vec<(String, u64)> = frames
        .iter()
        .map(|f| {
            assert_eq!(f["event"], "onGetConversation");
            assert_eq!(f["payload"]["on_incoming_event"], "getConversations");
            assert_eq!(f["payload"]["initiator"], alice.im_id);
            assert_eq!(f["payload"]["seq"], obj(f)["last_seq"]);
            (uuid_of(f), f["payload"]["seq"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(got, vec![(c3.clone(), 1), (c2.clone(), 2), (c1.clone(), 1)]);
    assert_eq!(obj(&frames[1])["title"], "two!");
}

#[tokio::test]
async fn get_conversations_size_limits() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = a.create(json!({})).await;
    assert_error_frame(&mut a, "getConversations", json!({"uuid": []}), 21).await;
    assert_error_frame(&mut a, "getConversations", json!({}), 0).await;
    assert_error_frame(&mut a, "getConversations", json!({"uuid": conv}), 0).await;
    assert_error_frame(&mut a, "getConversations", json!({"uuid": [conv, 1]}), 0).await;
    // Limits apply to the list as sent: 31 copies of one uuid -> 22.
    let many: Vec<&str> = std::iter::repeat_n(conv.as_str(), 31).collect();
    assert_error_frame(&mut a, "getConversations", json!({"uuid": many}), 22).await;
    // 31 unknown -> 22 (size before item checks).
    let unknown: Vec<&str> = std::iter::repeat_n(NO_SUCH_CONV, 31).collect();
    assert_error_frame(&mut a, "getConversations", json!({"uuid": unknown}), 22).await;
    // 30 copies -> exactly one frame.
    let thirty: Vec<&str> = std::iter::repeat_n(conv.as_str(), 30).collect();
    let v = a.ok("getConversations", json!({"uuid": thirty})).await;
    assert_eq!(uuid_of(&v), conv);
    a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn get_conversations_reports_the_first_failing_check_across_items() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    let mine = c.create(json!({})).await;
    let private = a.create(json!({})).await;
    let deleted = c.create(json!({})).await;
    c.ok("leaveConversation", json!({"uuid": deleted})).await;
    settle(&mut c).await;
    let _ = bob;
    for (list, code) in [
        (json!([deleted, NO_SUCH_CONV]), 8),
        (json!([private, deleted, mine]), 16),
        (json!([mine, private]), 19),
        (json!([private, "junk"]), 8),
        (json!([mine, deleted]), 16),
        (json!([mine, 3, NO_SUCH_CONV]), 0),
    ] {
        assert_error_frame(&mut c, "getConversations", json!({"uuid": list}), code).await;
        c.expect_silence(QUIET).await;
    }
    let v = c.ok("getConversations", json!({"uuid": [mine]})).await;
    assert_eq!(uuid_of(&v), mine);
}

// ---------------------------------------------------------------- getPublicConversations

#[tokio::test]
async fn public_conversations_are_listed_in_creation_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let v = c.ok("getPublicConversations", json!({})).await;
    assert_eq!(v["event"], "onGetPublicConversations");
    assert_eq!(obj(&v), &json!({"uuid": []}));
    let p1 = a.create(json!({"enable_public_join": true})).await;
    let r1 = b.create(json!({})).await;
    let p2 = b
        .create(json!({"enable_public_join": true, "uber_conversation": true}))
        .await;
    let p3 = a.create(json!({"enable_public_join": true})).await;
    let _direct = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    // r1 becomes public later: it is listed by creation order, not by when it became public.
    b.ok(
        "editConversation",
        json!({"uuid": r1, "enable_public_join": true}),
    )
    .await;
    // p3 stops being public.
    a.ok(
        "editConversation",
        json!({"uuid": p3, "enable_public_join": false}),
    )
    .await;
    settle(&mut a).await;
    settle(&mut b).await;
    let v = c.ok("getPublicConversations", json!({})).await;
    assert_eq!(v["payload"]["on_incoming_event"], "getPublicConversations");
    assert_eq!(v["payload"]["initiator"], carol.im_id);
    assert!(v["payload"].get("seq").is_none());
    assert_eq!(obj(&v), &json!({"uuid": [p1, r1, p2]}));
    // Including ones the caller is in.
    let v = a.ok("getPublicConversations", json!({})).await;
    assert_eq!(obj(&v), &json!({"uuid": [p1, r1, p2]}));
    a.expect_silence(QUIET).await;
    b.expect_silence(QUIET).await;
    // A deleted public conversation disappears.
    a.ok("leaveConversation", json!({"uuid": p1})).await;
    let v = c.ok("getPublicConversations", json!({})).await;
    assert_eq!(obj(&v), &json!({"uuid": [r1, p2]}));
}

// ---------------------------------------------------------------- joinConversation

#[tokio::test]
async fn join_public_appends_joiner_with_flags_7_and_tells_everyone() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut c1 = h.login(&carol).await;
    let mut c2 = h.login(&carol).await;
    let mut d = h.login(&dave).await;
    let conv = a
        .create(json!({"enable_public_join": true, "participants": [{"user_id": bob.im_id, "flags": 63}]}))
        .await;
    settle(&mut b).await;
    let v = c1
        .request("joinConversation", json!({"uuid": conv.to_uppercase()}))
        .await;
    assert_eq!(v["event"], "onEditConversation");
    assert_eq!(v["payload"]["on_incoming_event"], "joinConversation");
    assert_eq!(v["payload"]["initiator"], carol.im_id);
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(
        obj(&v)["participants"],
        json!([
            {"user_id": alice.im_id, "flags": 65535, "last_read": 0},
            {"user_id": bob.im_id, "flags": 63, "last_read": 0},
            {"user_id": carol.im_id, "flags": 7, "last_read": 0},
        ])
    );
    for x in [&mut a, &mut b, &mut c2] {
        let got = x.next_event("onEditConversation").await;
        assert_eq!(got["payload"], v["payload"]);
        assert_eq!(got["request_uuid"], v["request_uuid"]);
    }
    for x in [&mut a, &mut b, &mut c1, &mut c2, &mut d] {
        x.expect_silence(QUIET).await;
    }
    let me_c = me(&mut c1).await;
    assert_eq!(me_c["conversations_list"], json!([conv]));
}

#[tokio::test]
async fn join_checks_in_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    let direct = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    let private = a.create(json!({})).await;
    let public = a.create(json!({"enable_public_join": true})).await;
    assert_error_frame(&mut c, "joinConversation", json!({"uuid": direct}), 39).await;
    // 39 even for a participant of the direct conversation.
    assert_error_frame(&mut a, "joinConversation", json!({"uuid": direct}), 39).await;
    assert_error_frame(&mut c, "joinConversation", json!({"uuid": private}), 15).await;
    // 15 before 13.
    assert_error_frame(&mut a, "joinConversation", json!({"uuid": private}), 15).await;
    assert_error_frame(&mut a, "joinConversation", json!({"uuid": public}), 13).await;
    assert_error_frame(&mut c, "joinConversation", json!({"uuid": NO_SUCH_CONV}), 8).await;
    assert_error_frame(&mut c, "joinConversation", json!({"uuid": "zzz"}), 8).await;
    assert_error_frame(&mut c, "joinConversation", json!({}), 0).await;
    assert_error_frame(&mut c, "joinConversation", json!({"uuid": 1}), 0).await;
    c.ok("joinConversation", json!({"uuid": public})).await;
    assert_error_frame(&mut c, "joinConversation", json!({"uuid": public}), 13).await;
    assert_eq!(last_seq(&mut a, &public).await, 2);
    assert_eq!(last_seq(&mut a, &private).await, 1);
    assert_eq!(last_seq(&mut a, &direct).await, 1);
}

#[tokio::test]
async fn rejoining_moves_the_user_to_the_end() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let other = b.create(json!({})).await;
    let conv = a
        .create(json!({"enable_public_join": true, "participants": [{"user_id": bob.im_id, "flags": 63}, {"user_id": carol.im_id}]}))
        .await;
    b.ok("leaveConversation", json!({"uuid": conv})).await;
    let me_b = me(&mut b).await;
    assert_eq!(me_b["conversations_list"], json!([other]));
    assert_eq!(me_b["leave_conversations"], json!([conv]));
    let v = b.ok("joinConversation", json!({"uuid": conv})).await;
    // Re-joining gives the default flags, not the old ones, and goes to the end.
    assert_eq!(
        parts(&v),
        vec![(alice.im_id, 65535), (carol.im_id, 7), (bob.im_id, 7)]
    );
    let me_b = me(&mut b).await;
    assert_eq!(me_b["conversations_list"], json!([other, conv]));
    assert_eq!(me_b["leave_conversations"], json!([]));
}

// ---------------------------------------------------------------- leaveConversation

#[tokio::test]
async fn leave_checks_in_order() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    let direct = a
        .create(json!({"direct": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    let regular = a.create(json!({})).await;
    assert_error_frame(&mut a, "leaveConversation", json!({"uuid": direct}), 40).await;
    // 40 before 19.
    assert_error_frame(&mut c, "leaveConversation", json!({"uuid": direct}), 40).await;
    assert_error_frame(&mut c, "leaveConversation", json!({"uuid": regular}), 19).await;
    assert_error_frame(
        &mut c,
        "leaveConversation",
        json!({"uuid": NO_SUCH_CONV}),
        8,
    )
    .await;
    assert_error_frame(&mut c, "leaveConversation", json!({"uuid": 3}), 0).await;
    assert_eq!(last_seq(&mut a, &direct).await, 1);
    assert_eq!(last_seq(&mut a, &regular).await, 1);
}

#[tokio::test]
async fn leave_reaches_remaining_participants_and_every_leaver_connection() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b1 = h.login(&bob).await;
    let mut b2 = h.login(&bob).await;
    let mut c = h.login(&carol).await;
    let first = b1.create(json!({})).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    let last = b1.create(json!({})).await;
    for x in [&mut b1, &mut b2, &mut c] {
        settle(x).await;
    }
    let v = b1.request("leaveConversation", json!({"uuid": conv})).await;
    assert_eq!(v["event"], "onEditConversation");
    assert_eq!(v["payload"]["on_incoming_event"], "leaveConversation");
    assert_eq!(v["payload"]["initiator"], bob.im_id);
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(parts(&v), vec![(alice.im_id, 65535), (carol.im_id, 7)]);
    for x in [&mut a, &mut b2, &mut c] {
        let got = x.next_event("onEditConversation").await;
        assert_eq!(got["payload"], v["payload"]);
        assert_eq!(got["request_uuid"], v["request_uuid"]);
    }
    for x in [&mut a, &mut b1, &mut b2, &mut c] {
        x.expect_silence(QUIET).await;
    }
    let me_b = me(&mut b2).await;
    assert_eq!(me_b["conversations_list"], json!([first, last]));
    assert_eq!(me_b["leave_conversations"], json!([conv]));
    // Later events no longer reach the leaver.
    a.ok("editConversation", json!({"uuid": conv, "title": "z"}))
        .await;
    c.next_event("onEditConversation").await;
    b1.expect_silence(QUIET).await;
    b2.expect_silence(QUIET).await;
    // Another user's view does not show bob's private lists.
    let seen = a.ok("getUser", json!({"user_id": bob.im_id})).await;
    assert!(obj(&seen).get("conversations_list").is_none());
    assert!(obj(&seen).get("leave_conversations").is_none());
}

#[tokio::test]
async fn leave_conversations_lists_oldest_departure_first() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let with = json!({"enable_public_join": true, "participants": [{"user_id": bob.im_id}]});
    let c1 = a.create(with.clone()).await;
    let c2 = a.create(with.clone()).await;
    let c3 = a.create(with).await;
    b.ok("leaveConversation", json!({"uuid": c2})).await;
    b.ok("leaveConversation", json!({"uuid": c3})).await;
    b.ok("leaveConversation", json!({"uuid": c1})).await;
    let me_b = me(&mut b).await;
    assert_eq!(me_b["conversations_list"], json!([]));
    assert_eq!(me_b["leave_conversations"], json!([c2, c3, c1]));
    b.ok("joinConversation", json!({"uuid": c3})).await;
    b.ok("leaveConversation", json!({"uuid": c3})).await;
    let me_b = me(&mut b).await;
    assert_eq!(strs(&me_b["leave_conversations"]), vec![c2, c1, c3]);
}

#[tokio::test]
async fn owner_leaving_hands_ownership_to_the_longest_standing_participant() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id, "flags": 1}, {"user_id": carol.im_id, "flags": 63}]}))
        .await;
    settle(&mut b).await;
    let v = a.ok("leaveConversation", json!({"uuid": conv})).await;
    assert_eq!(v["payload"]["seq"], 2);
    assert_eq!(parts(&v), vec![(bob.im_id, 65535), (carol.im_id, 63)]);
    let got = b.next_event("onEditConversation").await;
    assert_eq!(got["payload"]["seq"], 2);
    assert_eq!(parts(&got), vec![(bob.im_id, 65535), (carol.im_id, 63)]);
    // No separate event for the hand-over.
    b.expect_silence(QUIET).await;
    assert_eq!(last_seq(&mut b, &conv).await, 2);
    // The new owner can edit the conversation.
    b.ok("editConversation", json!({"uuid": conv, "title": "bob's"}))
        .await;
}

#[tokio::test]
async fn owner_leaving_with_another_owner_left_changes_nobody_else() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id, "flags": 32768}]}))
        .await;
    let v = a.ok("leaveConversation", json!({"uuid": conv})).await;
    assert_eq!(parts(&v), vec![(bob.im_id, 7), (carol.im_id, 65535)]);
}

#[tokio::test]
async fn hand_over_skips_deleted_users_unless_only_deleted_remain() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": carol.im_id}]}))
        .await;
    let only_deleted = a
        .create(json!({"participants": [{"user_id": bob.im_id}, {"user_id": dave.im_id}]}))
        .await;
    delete_user(&h, &bob).await;
    let v = a.ok("leaveConversation", json!({"uuid": conv})).await;
    assert_eq!(parts(&v), vec![(bob.im_id, 7), (carol.im_id, 65535)]);
    delete_user(&h, &dave).await;
    let v = a
        .ok("leaveConversation", json!({"uuid": only_deleted}))
        .await;
    assert_eq!(parts(&v), vec![(bob.im_id, 65535), (dave.im_id, 7)]);
}

#[tokio::test]
async fn last_participant_leaving_deletes_the_conversation() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let keep = a1.create(json!({})).await;
    let conv = a1
        .create(json!({"enable_public_join": true, "participants": [{"user_id": bob.im_id}]}))
        .await;
    a1.ok("sendMessage", json!({"conversation": conv, "text": "x"}))
        .await;
    b.ok("leaveConversation", json!({"uuid": conv})).await;
    for x in [&mut a2, &mut b] {
        settle(x).await;
    }
    settle(&mut a1).await;
    assert_eq!(me(&mut b).await["leave_conversations"], json!([conv]));

    let id = uuid::Uuid::new_v4().to_string();
    a1.send(
        json!({"service": "chat", "event": "leaveConversation", "request_uuid": id,
                   "payload": {"uuid": conv}}),
    )
    .await;
    for x in [&mut a1, &mut a2] {
        let edit = x.next().await.expect("edit frame");
        assert_eq!(edit["event"], "onEditConversation", "{edit}");
        assert_eq!(edit["request_uuid"], id.as_str());
        assert_eq!(edit["payload"]["seq"], 4);
        assert_eq!(edit["payload"]["on_incoming_event"], "leaveConversation");
        assert_eq!(obj(&edit)["participants"], json!([]));
        assert_eq!(obj(&edit)["last_seq"], 4);
        let rm = x.next().await.expect("remove frame");
        assert_eq!(rm["event"], "onRemoveConversation", "{rm}");
        assert_eq!(rm["request_uuid"], id.as_str());
        assert_eq!(rm["payload"]["seq"], 5);
        assert_eq!(
            rm["payload"]["on_incoming_event"],
            "removeEmptyConversation"
        );
        assert_eq!(rm["payload"]["initiator"], alice.im_id);
        let o = obj(&rm);
        assert_eq!(o["uuid"], conv.as_str());
        assert_eq!(o["participants"], json!([]));
        assert_eq!(o["last_seq"], 5);
        assert_eq!(o["last_update"], rm["payload"]["timestamp"]);
        assert!(o["last_update"].as_i64() >= obj(&edit)["last_update"].as_i64());
        x.expect_silence(QUIET).await;
    }
    // Bob, who left earlier, gets nothing.
    b.expect_silence(QUIET).await;

    // The uuid is gone from every list.
    let me_a = me(&mut a1).await;
    assert_eq!(me_a["conversations_list"], json!([keep]));
    assert_eq!(me_a["leave_conversations"], json!([]));
    let me_b = me(&mut b).await;
    assert_eq!(me_b["leave_conversations"], json!([]));
    assert_eq!(me_b["conversations_list"], json!([]));
    let v = a1.ok("getPublicConversations", json!({})).await;
    assert_eq!(obj(&v)["uuid"], json!([]));

    // Every later request naming it -> 16.
    let upper = conv.to_uppercase();
    for (by_alice, event, payload) in [
        (true, "getConversation", json!({"uuid": conv})),
        (false, "getConversation", json!({"uuid": upper})),
        (true, "getConversations", json!({"uuid": [keep, conv]})),
        (
            true,
            "editConversation",
            json!({"uuid": conv, "title": "x"}),
        ),
        (false, "joinConversation", json!({"uuid": conv})),
        (true, "leaveConversation", json!({"uuid": conv})),
        (
            true,
            "sendMessage",
            json!({"conversation": conv, "text": "x"}),
        ),
        (
            false,
            "retransmitEvents",
            json!({"conversation": conv, "events_from": 1, "count": 5}),
        ),
        (
            true,
            "addParticipants",
            json!({"uuid": conv, "participants": [{"user_id": bob.im_id}]}),
        ),
    ] {
        let x = if by_alice { &mut a1 } else { &mut b };
        assert_error_frame(x, event, payload, 16).await;
    }
}

#[tokio::test]
async fn reserved_actions_are_12_and_unknown_actions_are_2() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = a.create(json!({})).await;
    for event in [
        "removeConversation",
        "removeEmptyConversation",
        "createBot",
        "removeBot",
    ] {
        assert_error_frame(&mut a, event, json!({"uuid": conv}), 12).await;
    }
    for event in [
        "searchConversations",
        "getRawConversations",
        "frobnicate",
        "CreateConversation",
    ] {
        assert_error_frame(&mut a, event, json!({}), 2).await;
    }
    assert_eq!(last_seq(&mut a, &conv).await, 1);
}
