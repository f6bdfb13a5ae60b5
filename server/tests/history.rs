//! retransmitEvents and visibility (docs/BEHAVIOUR.md sections 7.3, 7.4, D2, D12), through the real
//! WebSocket interface.

mod common;

use std::time::Duration;

use common::{Client, Harness, TestUser};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(300);

fn uuid_of(frame: &Value) -> String {
    frame["payload"]["object"]["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("no object uuid in {frame}"))
        .to_string()
}

/// Sends a retransmit request and returns all its frames, checking their common shape.
async fn retransmit(c: &mut Client, payload: Value) -> Vec<Value> {
    let id = uuid::Uuid::new_v4().to_string();
    c.send(
        json!({"service": "chat", "event": "retransmitEvents", "request_uuid": id,
                  "payload": payload}),
    )
    .await;
    let first = c.reply_to(&id).await;
    assert_eq!(first["event"], "onRetransmitEvents", "{payload}: {first}");
    let count = first["payload"]["count"].as_u64().unwrap() as usize;
    let mut frames = vec![first];
    for _ in 1..count {
        frames.push(c.reply_to(&id).await);
    }
    let head = &frames[0]["payload"];
    for f in &frames {
        assert_eq!(f["service"], "chat");
        assert_eq!(f["event"], "onRetransmitEvents");
        assert_eq!(f["request_uuid"], id.as_str());
        let p = &f["payload"];
        assert_eq!(p["from_seq"], head["from_seq"]);
        assert_eq!(p["to_seq"], head["to_seq"]);
        assert_eq!(p["count"], head["count"]);
        assert_eq!(p["on_incoming_event"], "retransmitEvents");
        assert_eq!(p["initiator"], c.user.unwrap());
        assert!(p["timestamp"].is_i64(), "{f}");
        assert!(p.get("seq").is_none(), "{f}");
        if count == 0 {
            assert!(p.get("object").is_none(), "{f}");
        } else {
            let o = p["object"].as_object().unwrap();
            assert_eq!(o.len(), 2, "{f}");
        }
    }
    // No further frame for this request.
    c.expect_silence(Duration::from_millis(100)).await;
    frames
}

fn range(frames: &[Value]) -> (u64, u64, u64) {
    let p = &frames[0]["payload"];
    (
        p["from_seq"].as_u64().unwrap(),
        p["to_seq"].as_u64().unwrap(),
        p["count"].as_u64().unwrap(),
    )
}

fn seqs(frames: &[Value]) -> Vec<u64> {
    if frames[0]["payload"]["count"] == 0 {
        return vec![];
    }
    frames
        .iter()
        .map(|f| f["payload"]["object"]["payload"]["seq"].as_u64().unwrap())
        .collect()
}

/// A conversation with N = 6 persisted events of every message kind:
/// 1 create ("Original"), 2 alice sends, 3 rename to "Renamed", 4 bob sends, 5 alice edits
/// her message, 6 alice removes bob's. `originals[i]` is `{event, payload}` of seq i+1 as
/// broadcast to bob.
struct Six {
    alice: TestUser,
    bob: TestUser,
    a: Client,
    b: Client,
    conv: String,
    originals: Vec<Value>,
}

async fn six(h: &Harness) -> Six {
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut originals = Vec::new();
    let mut record = |result: &Value, copy: &Value| {
        assert_eq!(result["payload"], copy["payload"]);
        assert_eq!(result["event"], copy["event"]);
        originals.push(json!({"event": copy["event"], "payload": copy["payload"]}));
    };

    let r = a
        .ok(
            "createConversation",
            json!({"title": "Original", "participants": [{"user_id": bob.im_id}]}),
        )
        .await;
    let conv = uuid_of(&r);
    record(&r, &b.next_event("onCreateConversation").await);
    let r = a
        .ok("sendMessage", json!({"conversation": conv, "text": "m1"}))
        .await;
    let m1 = uuid_of(&r);
    record(&r, &b.next_event("onSendMessage").await);
    let r = a
        .ok(
            "editConversation",
            json!({"uuid": conv, "title": "Renamed"}),
        )
        .await;
    record(&r, &b.next_event("onEditConversation").await);
    let r = b
        .ok(
            "sendMessage",
            json!({"conversation": conv, "payload": [{"k": [1, {"z": null}]}]}),
        )
        .await;
    let m2 = uuid_of(&r);
    record(&r, &a.next_event("onSendMessage").await);
    let r = a
        .ok(
            "editMessage",
            json!({"uuid": m1, "conversation": conv, "text": "m1'"}),
        )
        .await;
    record(&r, &b.next_event("onEditMessage").await);
    let r = a
        .ok("removeMessage", json!({"uuid": m2, "conversation": conv}))
        .await;
    record(&r, &b.next_event("onRemoveMessage").await);
    for (i, o) in originals.iter().enumerate() {
        assert_eq!(o["payload"]["seq"], i as u64 + 1);
    }
    Six {
        alice,
        bob,
        a,
        b,
        conv,
        originals,
    }
}

fn assert_replays(frames: &[Value], originals: &[Value], expected: &[u64]) {
    assert_eq!(seqs(frames), expected);
    for f in frames {
        let inner = &f["payload"]["object"];
        let seq = inner["payload"]["seq"].as_u64().unwrap();
        assert_eq!(inner, &originals[seq as usize - 1], "seq {seq}");
    }
}

// ---------------------------------------------------------------- covered ranges (§7.3 examples)

#[tokio::test]
async fn from1_to6_covers_all_identical_to_originals() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "events_to": 6}),
    )
    .await;
    assert_eq!(range(&f), (1, 6, 6));
    assert_replays(&f, &s.originals, &[1, 2, 3, 4, 5, 6]);
    // The alice side sees the same.
    let f = retransmit(
        &mut s.a,
        json!({"conversation": s.conv, "events_from": 1, "events_to": 6}),
    )
    .await;
    assert_replays(&f, &s.originals, &[1, 2, 3, 4, 5, 6]);
    assert_eq!(f[0]["payload"]["initiator"], s.alice.im_id);
}

#[tokio::test]
async fn from1_count6_covers_1_to_6() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "count": 6}),
    )
    .await;
    assert_eq!(range(&f), (1, 6, 6));
    assert_replays(&f, &s.originals, &[1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn to6_count6_covers_1_to_6() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_to": 6, "count": 6}),
    )
    .await;
    assert_eq!(range(&f), (1, 6, 6));
    assert_replays(&f, &s.originals, &[1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn from4_count10_covers_4_to_6_with_three_frames() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 4, "count": 10}),
    )
    .await;
    assert_eq!(f.len(), 3);
    assert_eq!(range(&f), (4, 6, 3));
    assert_replays(&f, &s.originals, &[4, 5, 6]);
}

#[tokio::test]
async fn to3_count10_covers_1_to_3() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_to": 3, "count": 10}),
    )
    .await;
    assert_eq!(range(&f), (1, 3, 3));
    assert_replays(&f, &s.originals, &[1, 2, 3]);
}

#[tokio::test]
async fn single_event_ranges() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 6, "events_to": 6}),
    )
    .await;
    assert_eq!(range(&f), (6, 6, 1));
    assert_replays(&f, &s.originals, &[6]);
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_to": 2, "count": 1}),
    )
    .await;
    assert_eq!(range(&f), (2, 2, 1));
    assert_replays(&f, &s.originals, &[2]);
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 6, "count": 100}),
    )
    .await;
    assert_eq!(range(&f), (6, 6, 1));
}

#[tokio::test]
async fn snapshot_as_it_was() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    // bob marks read: later snapshots change, earlier ones must not.
    s.b.ok("isRead", json!({"conversation": s.conv, "seq": 6}))
        .await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "events_to": 3}),
    )
    .await;
    let create = &f[0]["payload"]["object"];
    assert_eq!(create["event"], "onCreateConversation");
    assert_eq!(create["payload"]["on_incoming_event"], "createConversation");
    assert_eq!(create["payload"]["initiator"], s.alice.im_id);
    let obj = &create["payload"]["object"];
    assert_eq!(obj["title"], "Original");
    assert_eq!(obj["last_seq"], 1);
    for p in obj["participants"].as_array().unwrap() {
        assert_eq!(p["last_read"], 0);
    }
    let rename = &f[2]["payload"]["object"];
    assert_eq!(rename["event"], "onEditConversation");
    assert_eq!(rename["payload"]["object"]["title"], "Renamed");
    assert_eq!(rename["payload"]["object"]["last_seq"], 3);
    assert_eq!(
        rename["payload"]["object"]["last_update"],
        rename["payload"]["timestamp"]
    );
    // The removal event of D1 is retransmittable with only {uuid, conversation}.
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 6, "count": 1}),
    )
    .await;
    let rm = &f[0]["payload"]["object"];
    assert_eq!(rm["event"], "onRemoveMessage");
    assert_eq!(rm["payload"]["object"].as_object().unwrap().len(), 2);
    assert_eq!(rm["payload"]["initiator"], s.alice.im_id);
    let _ = s.bob;
}

#[tokio::test]
async fn retransmit_consumes_no_seq() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "count": 3}),
    )
    .await;
    let g = s.a.ok("getConversation", json!({"uuid": s.conv})).await;
    assert_eq!(g["payload"]["seq"], 6);
    // Retransmits are caller-only.
    s.a.expect_silence(QUIET).await;
}

#[tokio::test]
async fn numbers_as_strings_and_integral_floats_accepted() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": "2", "events_to": "3"}),
    )
    .await;
    assert_eq!(range(&f), (2, 3, 2));
    assert_replays(&f, &s.originals, &[2, 3]);
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_to": "5", "count": "2"}),
    )
    .await;
    assert_eq!(range(&f), (4, 5, 2));
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 2.0, "count": 1.0}),
    )
    .await;
    assert_eq!(range(&f), (2, 2, 1));
}

#[tokio::test]
async fn null_counts_as_not_given() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "events_to": 2, "count": null}),
    )
    .await;
    assert_eq!(range(&f), (1, 2, 2));
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 1, "events_to": null, "count": null})
        )
        .await,
        41
    );
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn from7_count5_is_24() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let e = |p: Value| p;
    for p in [
        e(json!({"conversation": s.conv, "events_from": 7, "count": 5})),
        e(json!({"conversation": s.conv, "events_from": 1, "events_to": 7})),
        e(json!({"conversation": s.conv, "events_from": 5, "events_to": 100})),
        e(json!({"conversation": s.conv, "events_to": 7, "count": 1})),
    ] {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, 24, "{p}");
    }
}

#[tokio::test]
async fn from5_to2_is_28() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 5, "events_to": 2})
        )
        .await,
        28
    );
}

#[tokio::test]
async fn from1_to102_is_22_and_a_span_of_100_passes() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 1, "events_to": 102})
        )
        .await,
        22
    );
    // A span of 100 (101 events) passes the size check (D23), then fails 24 since N = 6.
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 1, "events_to": 101})
        )
        .await,
        24
    );
}

#[tokio::test]
async fn all_three_given_is_36() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 1, "events_to": 2, "count": 2})
        )
        .await,
        36
    );
}

#[tokio::test]
async fn fewer_than_two_is_41() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    for p in [
        json!({"conversation": s.conv}),
        json!({"conversation": s.conv, "events_from": 1}),
        json!({"conversation": s.conv, "events_to": 1}),
        json!({"conversation": s.conv, "count": 1}),
    ] {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, 41, "{p}");
    }
}

#[tokio::test]
async fn count_0_is_21_and_count_101_is_22() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    for p in [
        json!({"conversation": s.conv, "events_from": 1, "count": 0}),
        json!({"conversation": s.conv, "events_to": 1, "count": 0}),
        json!({"conversation": s.conv, "events_from": 1, "count": -1}),
    ] {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, 21, "{p}");
    }
    for p in [
        json!({"conversation": s.conv, "events_from": 1, "count": 101}),
        json!({"conversation": s.conv, "events_to": 6, "count": 101}),
    ] {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, 22, "{p}");
    }
    // 100 is fine
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_to": 6, "count": 100}),
    )
    .await;
    assert_eq!(range(&f), (1, 6, 6));
}

#[tokio::test]
async fn seq_below_one_is_0() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    for p in [
        json!({"conversation": s.conv, "events_from": 0, "events_to": 2}),
        json!({"conversation": s.conv, "events_from": 0, "count": 2}),
        json!({"conversation": s.conv, "events_to": 0, "count": 2}),
        json!({"conversation": s.conv, "events_from": -1, "events_to": 2}),
    ] {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, 0, "{p}");
    }
}

#[tokio::test]
async fn non_integer_is_0() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    for p in [
        json!({"conversation": s.conv, "events_from": 1.5, "events_to": 2}),
        json!({"conversation": s.conv, "events_from": "one", "events_to": 2}),
        json!({"conversation": s.conv, "events_from": true, "events_to": 2}),
        json!({"conversation": s.conv, "events_from": 1, "count": [2]}),
        json!({"conversation": s.conv, "events_to": {"n": 2}, "count": 2}),
        json!({"events_from": 1, "events_to": 2}),
        json!({"conversation": 5, "events_from": 1, "events_to": 2}),
        json!({"conversation": null, "events_from": 1, "events_to": 2}),
    ] {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, 0, "{p}");
    }
    // Type errors (0) come before the combination checks (36 / 41).
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": "x"})
        )
        .await,
        0
    );
}

#[tokio::test]
async fn check_order() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases = [
        // 36 before 21 (count 0)
        (
            json!({"conversation": unknown, "events_from": 1, "events_to": 2, "count": 0}),
            36,
        ),
        // 41 before 8
        (json!({"conversation": unknown, "count": 5}), 41),
        // 21 / 22 before 0 (seq < 1) and before 8
        (
            json!({"conversation": unknown, "events_from": 0, "count": 0}),
            21,
        ),
        (
            json!({"conversation": unknown, "events_from": 0, "count": 101}),
            22,
        ),
        // 0 (seq < 1) before 28
        (
            json!({"conversation": unknown, "events_from": 5, "events_to": 0}),
            0,
        ),
        // 28 before 22 is moot; 28 and 22 before 8
        (
            json!({"conversation": unknown, "events_from": 5, "events_to": 2}),
            28,
        ),
        (
            json!({"conversation": unknown, "events_from": 1, "events_to": 102}),
            22,
        ),
        // 8 before 24
        (
            json!({"conversation": unknown, "events_from": 1000, "events_to": 1001}),
            8,
        ),
    ];
    for (p, code) in cases {
        assert_eq!(s.b.err("retransmitEvents", p.clone()).await, code, "{p}");
    }
    // 19 before 24
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 7, "count": 1})
        )
        .await,
        19
    );
}

#[tokio::test]
async fn unknown_is_8_and_deleted_is_16() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    assert_eq!(
        a.err(
            "retransmitEvents",
            json!({"conversation": uuid::Uuid::new_v4().to_string(), "events_from": 1, "count": 1})
        )
        .await,
        8
    );
    let conv = a.create(json!({"title": "x"})).await;
    a.ok("leaveConversation", json!({"uuid": conv})).await;
    a.next_event("onRemoveConversation").await;
    assert_eq!(
        a.err(
            "retransmitEvents",
            json!({"conversation": conv, "events_from": 1, "count": 1})
        )
        .await,
        16
    );
}

#[tokio::test]
async fn never_member_is_19_even_when_public() {
    let h = Harness::unlimited().await;
    let s = six(&h).await;
    let carol = h.user("carol").await;
    let mut c = h.login(&carol).await;
    assert_eq!(
        c.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 1, "count": 1})
        )
        .await,
        19
    );
    let mut a = s.a;
    let public = a
        .create(json!({"title": "pub", "enable_public_join": true}))
        .await;
    // A public conversation is readable with getConversation, but not retransmittable.
    c.ok("getConversation", json!({"uuid": public})).await;
    assert_eq!(
        c.err(
            "retransmitEvents",
            json!({"conversation": public, "events_from": 1, "count": 1})
        )
        .await,
        19
    );
}

// ---------------------------------------------------------------- former participants (D12)

#[tokio::test]
async fn former_participant_who_left_sees_up_to_l() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let left = s.b.ok("leaveConversation", json!({"uuid": s.conv})).await;
    let l = left["payload"]["seq"].as_u64().unwrap();
    assert_eq!(l, 7);
    s.a.next_event("onEditConversation").await;
    s.a.ok("sendMessage", json!({"conversation": s.conv, "text": "8"}))
        .await;
    s.a.ok("editConversation", json!({"uuid": s.conv, "title": "9"}))
        .await;
    s.b.expect_silence(QUIET).await;

    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "events_to": 7}),
    )
    .await;
    assert_eq!(range(&f), (1, 7, 7));
    assert_eq!(seqs(&f), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_replays(&f[..6], &s.originals, &[1, 2, 3, 4, 5, 6]);
    // The leave event itself is identical to bob's result frame.
    assert_eq!(f[6]["payload"]["object"]["payload"], left["payload"]);
    // Ranges beyond L are clipped: covered range as requested, events only up to L.
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 5, "events_to": 9}),
    )
    .await;
    assert_eq!(range(&f), (5, 9, 3));
    assert_eq!(seqs(&f), vec![5, 6, 7]);
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_to": 9, "count": 5}),
    )
    .await;
    assert_eq!(seqs(&f), vec![5, 6, 7]);
    // Nothing visible beyond L: a single count-0 frame.
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 8, "count": 10}),
    )
    .await;
    assert_eq!(f.len(), 1);
    assert_eq!(range(&f), (8, 9, 0));
    // 24 still refers to the conversation's last seq, not L.
    assert_eq!(
        s.b.err(
            "retransmitEvents",
            json!({"conversation": s.conv, "events_from": 10, "count": 1})
        )
        .await,
        24
    );
}

#[tokio::test]
async fn former_participant_who_was_removed_sees_up_to_l() {
    let h = Harness::unlimited().await;
    let mut s = six(&h).await;
    let removed =
        s.a.ok(
            "removeParticipants",
            json!({"uuid": s.conv, "participants": [s.bob.im_id]}),
        )
        .await;
    assert_eq!(removed["payload"]["seq"], 7);
    let copy = s.b.next_event("onEditConversation").await;
    assert_eq!(copy["payload"], removed["payload"]);
    s.a.ok("sendMessage", json!({"conversation": s.conv, "text": "8"}))
        .await;
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 1, "events_to": 8}),
    )
    .await;
    assert_eq!(seqs(&f), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(f[6]["payload"]["object"]["payload"], removed["payload"]);
    let f = retransmit(
        &mut s.b,
        json!({"conversation": s.conv, "events_from": 8, "events_to": 8}),
    )
    .await;
    assert_eq!(f.len(), 1);
    assert_eq!(range(&f), (8, 8, 0));
}

#[tokio::test]
async fn rejoined_participant_of_regular_conversation_sees_everything() {
    // Non-uber: after re-joining there is no L any more and the gap is visible.
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "pub", "enable_public_join": true}))
        .await; // 1
    b.ok("joinConversation", json!({"uuid": conv})).await; // 2
    b.ok("leaveConversation", json!({"uuid": conv})).await; // 3
    a.ok("sendMessage", json!({"conversation": conv, "text": "gap"}))
        .await; // 4
    b.ok("joinConversation", json!({"uuid": conv})).await; // 5
    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_from": 1, "events_to": 5}),
    )
    .await;
    assert_eq!(seqs(&f), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn late_member_of_regular_conversation_sees_earlier_messages() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a.create(json!({"title": "regular"})).await; // 1
    a.ok(
        "sendMessage",
        json!({"conversation": conv, "text": "early"}),
    )
    .await; // 2
    a.ok(
        "addParticipants",
        json!({"uuid": conv, "participants": [{"user_id": bob.im_id}]}),
    )
    .await; // 3
    let added = b.next_event("onEditConversation").await;
    assert_eq!(added["payload"]["on_incoming_event"], "addParticipants");
    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_from": 1, "count": 3}),
    )
    .await;
    assert_eq!(seqs(&f), vec![1, 2, 3]);
}

// ---------------------------------------------------------------- uber (§7.4, D2)

#[tokio::test]
async fn uber_late_member_sees_conversation_events_not_earlier_messages() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "uber", "uber_conversation": true}))
        .await; // 1
    let m1 = uuid_of(
        &a.ok("sendMessage", json!({"conversation": conv, "text": "m1"}))
            .await,
    ); // 2
    a.ok("sendMessage", json!({"conversation": conv, "text": "m2"}))
        .await; // 3
    a.ok("editConversation", json!({"uuid": conv, "title": "u2"}))
        .await; // 4
    a.ok(
        "addParticipants",
        json!({"uuid": conv, "participants": [{"user_id": bob.im_id}]}),
    )
    .await; // 5
    b.next_event("onEditConversation").await;
    // Live: bob gets messages from now on.
    a.ok("sendMessage", json!({"conversation": conv, "text": "m3"}))
        .await; // 6
    let live = b.next_event("onSendMessage").await;
    assert_eq!(live["payload"]["seq"], 6);
    // An edit of a message created before bob joined is visible (its own seq is in his period).
    a.ok(
        "editMessage",
        json!({"uuid": m1, "conversation": conv, "text": "m1'"}),
    )
    .await; // 7
    let live = b.next_event("onEditMessage").await;
    assert_eq!(live["payload"]["seq"], 7);

    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_from": 1, "events_to": 7}),
    )
    .await;
    assert_eq!(range(&f), (1, 7, 5));
    assert_eq!(seqs(&f), vec![1, 4, 5, 6, 7]);
    // Only hidden events in range: one count-0 frame.
    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_from": 2, "events_to": 3}),
    )
    .await;
    assert_eq!(f.len(), 1);
    assert_eq!(range(&f), (2, 3, 0));
    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_to": 3, "count": 2}),
    )
    .await;
    assert_eq!(range(&f), (2, 3, 0));
    // The creator sees everything.
    let f = retransmit(
        &mut a,
        json!({"conversation": conv, "events_from": 1, "events_to": 7}),
    )
    .await;
    assert_eq!(seqs(&f), vec![1, 2, 3, 4, 5, 6, 7]);
}

#[tokio::test]
async fn uber_leave_and_rejoin_sees_only_messages_within_intervals() {
    let h = Harness::unlimited().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "uber", "uber_conversation": true, "enable_public_join": true}))
        .await; // 1
    a.ok(
        "sendMessage",
        json!({"conversation": conv, "text": "before"}),
    )
    .await; // 2
    b.ok("joinConversation", json!({"uuid": conv})).await; // 3
    a.ok("sendMessage", json!({"conversation": conv, "text": "in 1"}))
        .await; // 4
    b.next_event("onSendMessage").await;
    let m_in1 = uuid_of(
        &b.ok(
            "sendMessage",
            json!({"conversation": conv, "text": "bob in 1"}),
        )
        .await,
    ); // 5
    b.ok("leaveConversation", json!({"uuid": conv})).await; // 6
    a.ok("sendMessage", json!({"conversation": conv, "text": "gap"}))
        .await; // 7
    a.ok(
        "editConversation",
        json!({"uuid": conv, "title": "gap title"}),
    )
    .await; // 8
    a.ok(
        "editMessage",
        json!({"uuid": m_in1, "conversation": conv, "text": "edited in gap"}),
    )
    .await; // 9
    b.expect_silence(QUIET).await;

    // As a former participant: only up to L = 6, messages only within [3, 6].
    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_from": 1, "events_to": 9}),
    )
    .await;
    assert_eq!(range(&f), (1, 9, 5));
    assert_eq!(seqs(&f), vec![1, 3, 4, 5, 6]);

    b.ok("joinConversation", json!({"uuid": conv})).await; // 10
    a.next_event("onEditConversation").await;
    a.ok("sendMessage", json!({"conversation": conv, "text": "in 2"}))
        .await; // 11
    let live = b.next_event("onSendMessage").await;
    assert_eq!(live["payload"]["seq"], 11);
    let f = retransmit(
        &mut b,
        json!({"conversation": conv, "events_from": 1, "events_to": 11}),
    )
    .await;
    // Conversation events all (1, 3, 6, 8, 10); messages only in [3, 6] and [10, ...]:
    // 4, 5, 11; hidden: 2, 7, 9.
    assert_eq!(range(&f), (1, 11, 8));
    assert_eq!(seqs(&f), vec![1, 3, 4, 5, 6, 8, 10, 11]);
}
