//! `custom_data_patch` on editConversation (docs/PROTOCOL.md section 12.5): a JSON merge patch
//! applied to the stored custom data in seq order with every other edit.

use serde_json::{json, Value};

use crate::common::{Client, Harness};

fn custom_data(frame: &Value) -> &Value {
    &frame["payload"]["object"]["custom_data"]
}

async fn stored(c: &mut Client, conv: &str) -> (Value, u64) {
    let got = c.ok("getConversation", json!({"uuid": conv})).await;
    (
        custom_data(&got).clone(),
        got["payload"]["seq"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn two_owners_patching_different_keys_at_once_keep_both_changes() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "t", "custom_data": {"kept": true},
                       "participants": [{"user_id": bob.im_id, "flags": 65535}]}))
        .await;
    b.next_event("onCreateConversation").await;
    // Both send before either reads an answer.
    let (ida, idb) = ("patch-a", "patch-b");
    a.send(
        json!({"service": "chat", "event": "editConversation", "request_uuid": ida,
                  "payload": {"uuid": conv, "custom_data_patch": {"a": 1}}}),
    )
    .await;
    b.send(
        json!({"service": "chat", "event": "editConversation", "request_uuid": idb,
                  "payload": {"uuid": conv, "custom_data_patch": {"b": 2}}}),
    )
    .await;
    let ra = a.reply_to(ida).await;
    let rb = b.reply_to(idb).await;
    for r in [&ra, &rb] {
        assert_eq!(r["event"], "onEditConversation", "{r}");
        assert_eq!(r["payload"]["on_incoming_event"], "editConversation");
    }
    // Whichever came second carries both changes; each result is the whole object then.
    let (earlier, later) = if ra["payload"]["seq"].as_u64() < rb["payload"]["seq"].as_u64() {
        (&ra, &rb)
    } else {
        (&rb, &ra)
    };
    assert_eq!(later["payload"]["seq"], 3);
    assert_eq!(custom_data(later), &json!({"kept": true, "a": 1, "b": 2}));
    assert_eq!(custom_data(earlier).as_object().unwrap().len(), 2);
    // Each owner also got the other's edit as an ordinary broadcast.
    let seen_by_a = a.next_event("onEditConversation").await;
    assert_eq!(seen_by_a["request_uuid"], idb);
    let seen_by_b = b.next_event("onEditConversation").await;
    assert_eq!(seen_by_b["request_uuid"], ida);
    assert_eq!(
        stored(&mut a, &conv).await,
        (json!({"kept": true, "a": 1, "b": 2}), 3)
    );
}

#[tokio::test]
async fn a_patch_removes_null_keys_sets_the_values_it_names_and_keeps_the_rest() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"title": "t",
                       "custom_data": {"x": 1, "y": "keep", "list": [1, 2], "nested": {"p": 1}}}))
        .await;
    let r = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "title": "renamed",
                   "custom_data_patch": {"x": null, "list": [3], "gone": null, "new": {"n": 1}}}),
        )
        .await;
    let after_first = json!({"y": "keep", "list": [3], "nested": {"p": 1}, "new": {"n": 1}});
    assert_eq!(custom_data(&r), &after_first);
    assert_eq!(r["payload"]["object"]["title"], "renamed");
    // An object value under an existing object key: the server applies the protocol crate's
    // patch rule to the data as stored (docs/PROTOCOL.md section 12.5).
    let patch = json!({"nested": {"q": 2}});
    let mut expected = after_first.as_object().unwrap().clone();
    chatwire_protocol::apply_merge_patch(&mut expected, patch.as_object().unwrap());
    let r = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "custom_data_patch": patch}),
        )
        .await;
    assert_eq!(custom_data(&r), &Value::Object(expected.clone()));
    // An empty patch changes nothing but is an edit like any other (it appends).
    let r = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "custom_data_patch": {}}),
        )
        .await;
    assert_eq!(custom_data(&r), &Value::Object(expected.clone()));
    assert_eq!(stored(&mut a, &conv).await, (Value::Object(expected), 4));
}

#[tokio::test]
async fn bad_patches_are_refused_and_change_nothing() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let big = "x".repeat(5_000);
    let conv = a
        .create(json!({"title": "t", "custom_data": {"big": big},
                       "participants": [{"user_id": bob.im_id}]}))
        .await;
    for (payload, code) in [
        // The result would exceed 5 120 bytes.
        (
            json!({"uuid": conv, "custom_data_patch": {"more": "y".repeat(200)}}),
            0,
        ),
        // Both forms at once.
        (
            json!({"uuid": conv, "custom_data": {}, "custom_data_patch": {"a": 1}}),
            0,
        ),
        // Not an object.
        (json!({"uuid": conv, "custom_data_patch": [1]}), 0),
        (json!({"uuid": conv, "custom_data_patch": "a"}), 0),
        // The same checks as any editConversation: owner only, conversation must exist.
        (
            json!({"uuid": uuid::Uuid::new_v4().to_string(), "custom_data_patch": {"a": 1}}),
            8,
        ),
    ] {
        assert_eq!(
            a.err("editConversation", payload.clone()).await,
            code,
            "{payload}"
        );
    }
    assert_eq!(
        b.err(
            "editConversation",
            json!({"uuid": conv, "custom_data_patch": {"a": 1}})
        )
        .await,
        12
    );
    assert_eq!(stored(&mut a, &conv).await, (json!({"big": big}), 1));
    // Removing the big key makes room again.
    let r = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "custom_data_patch": {"big": null, "more": "y".repeat(200)}}),
        )
        .await;
    assert_eq!(custom_data(&r), &json!({"more": "y".repeat(200)}));
}
