//! `catchUp` -> `onCatchUp` (docs/PROTOCOL.md section 12.4): entries, covered ranges, pages,
//! visibility exactly as retransmitEvents, and the checks.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::common::{Client, Harness, TestUser};
use crate::{retransmitted, send_messages, Pace};

/// Sends a catchUp and returns its `onCatchUp` frame.
async fn catch_up(c: &mut Client, positions: Value) -> Value {
    let f = c.request("catchUp", json!({"positions": positions})).await;
    assert_eq!(f["event"], "onCatchUp", "{f}");
    assert_eq!(f["payload"]["on_incoming_event"], "catchUp");
    assert_eq!(f["payload"]["initiator"], c.user.unwrap());
    f
}

fn page(frame: &Value) -> &Value {
    &frame["payload"]["object"]
}

fn entry<'a>(page: &'a Value, conv: &str) -> &'a Value {
    page["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["conversation"] == conv)
        .unwrap_or_else(|| panic!("no entry for {conv} in {page}"))
}

/// The events of a page that belong to `conv`.
fn events_of(page: &Value, conv: &str) -> Vec<Value> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let object = &e["payload"]["object"];
            object["conversation"] == conv || object["uuid"] == conv
        })
        .cloned()
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["payload"]["seq"].as_u64().unwrap())
        .collect()
}

/// Follows pages as a client does (positions advanced to each `to_seq`, complete conversations
/// left out) until `more` is false. Returns the pages and every event per conversation.
async fn follow(
    c: &mut Client,
    pace: &mut Pace,
    mut positions: Vec<(String, Option<u64>)>,
) -> (Vec<Value>, HashMap<String, Vec<Value>>) {
    let mut pages = Vec::new();
    let mut events: HashMap<String, Vec<Value>> = HashMap::new();
    loop {
        pace.next().await;
        let list: Vec<Value> = positions
            .iter()
            .map(|(conv, seq)| json!({"conversation": conv, "seq": seq}))
            .collect();
        let frame = catch_up(c, json!(list)).await;
        let page = page(&frame).clone();
        for e in page["conversations"].as_array().unwrap() {
            let conv = e["conversation"].as_str().unwrap().to_string();
            events
                .entry(conv.clone())
                .or_default()
                .extend(events_of(&page, &conv));
            let slot = positions.iter().position(|(c, _)| *c == conv).unwrap();
            let last = e["last_seq"].as_u64().unwrap();
            match e["to_seq"].as_u64() {
                Some(to) if to < last => positions[slot].1 = Some(to),
                Some(_) => {
                    positions.remove(slot);
                }
                None if positions[slot].1.is_some_and(|p| p >= last) => {
                    positions.remove(slot);
                }
                None => {}
            }
        }
        let more = page["more"].as_bool().unwrap();
        pages.push(page);
        if !more {
            return (pages, events);
        }
        assert!(pages.len() < 50, "no progress: {positions:?}");
    }
}

/// Alice and Bob in two conversations: `big` (1 + 130 messages = seq 131) and `small` (seq 5).
async fn two_conversations(h: &Harness) -> (TestUser, TestUser, String, String) {
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let (mut pa, mut pb) = (Pace::new(), Pace::new());
    pa.next().await;
    let big = a
        .create(json!({"title": "big", "participants": [{"user_id": bob.im_id}]}))
        .await;
    pa.next().await;
    let small = a
        .create(json!({"title": "small", "participants": [{"user_id": bob.im_id}]}))
        .await;
    tokio::join!(
        send_messages(&mut a, &mut pa, &big, 65, 0),
        send_messages(&mut b, &mut pb, &big, 65, 0)
    );
    send_messages(&mut a, &mut pa, &small, 4, 0).await;
    (alice, bob, big, small)
}

#[tokio::test]
async fn pages_hold_100_events_and_say_more_until_every_conversation_is_covered() {
    let h = Harness::start().await;
    let (_alice, bob, big, small) = two_conversations(&h).await;
    let mut c = h.login(&bob).await;
    let mut pace = Pace::new();
    let positions = vec![(big.clone(), Some(0)), (small.clone(), Some(2))];
    let (pages, events) = follow(&mut c, &mut pace, positions).await;

    // Page 1: `big` from its start, cut at 100 events; `small` waits for the next page.
    let first = &pages[0];
    assert_eq!(first["more"], true);
    assert_eq!(first["events"].as_array().unwrap().len(), 100);
    assert_eq!(first["conversations"].as_array().unwrap().len(), 1);
    let e = entry(first, &big);
    assert_eq!(e["state"], "participant");
    assert_eq!(e["last_seq"], 131);
    assert_eq!(
        (e["from_seq"].as_u64(), e["to_seq"].as_u64()),
        (Some(1), Some(100))
    );
    assert_eq!(e["joined_seq"], 1);
    assert_eq!(e["last_read"], 0);
    pace.next().await;
    let got = c.ok("getConversation", json!({"uuid": big})).await;
    assert_eq!(
        e["object"], got["payload"]["object"],
        "the snapshot getConversation returns"
    );

    // Page 2: the rest of `big` and `small` after its position.
    assert_eq!(pages.len(), 2);
    let second = &pages[1];
    assert_eq!(second["more"], false);
    let e = entry(second, &big);
    assert_eq!(
        (e["from_seq"].as_u64(), e["to_seq"].as_u64()),
        (Some(101), Some(131))
    );
    let e = entry(second, &small);
    assert_eq!(
        (e["from_seq"].as_u64(), e["to_seq"].as_u64()),
        (Some(3), Some(5))
    );

    // Exactly what retransmitEvents returns for the same ranges.
    assert_eq!(seqs(&events[&big]), (1..=131).collect::<Vec<_>>());
    assert_eq!(
        events[&big],
        retransmitted(&mut c, &mut pace, &big, 1, 131).await
    );
    assert_eq!(
        events[&small],
        retransmitted(&mut c, &mut pace, &small, 3, 5).await
    );
}

#[tokio::test]
async fn a_page_stays_within_about_256_kib_and_pages_cover_everything() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let mut pace = Pace::new();
    pace.next().await;
    let conv = a.create(json!({"title": "large messages"})).await;
    // 12 messages of 40 KB: about 480 KB of events.
    send_messages(&mut a, &mut pace, &conv, 12, 40_000).await;
    let mut c = h.login(&alice).await;
    let mut pace = Pace::new();
    let (pages, events) = follow(&mut c, &mut pace, vec![(conv.clone(), Some(1))]).await;
    assert!(pages.len() >= 2, "{} pages", pages.len());
    for (i, p) in pages.iter().enumerate() {
        let n = p["events"].as_array().unwrap().len();
        assert!(n >= 1, "page {i} made no progress");
        let bytes = p.to_string().len();
        assert!(bytes <= 256 * 1024 + 4096, "page {i}: {bytes} bytes");
        assert_eq!(p["more"], i + 1 < pages.len(), "page {i}");
    }
    assert_eq!(seqs(&events[&conv]), (2..=13).collect::<Vec<_>>());
    assert_eq!(
        events[&conv],
        retransmitted(&mut c, &mut pace, &conv, 2, 13).await
    );
}

#[tokio::test]
async fn a_null_position_starts_where_the_current_participation_began() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut pace = Pace::new();
    pace.next().await;
    let conv = a
        .create(json!({"title": "public", "enable_public_join": true}))
        .await;
    send_messages(&mut a, &mut pace, &conv, 5, 0).await;
    let mut c = h.login(&carol).await;
    let joined = c.ok("joinConversation", json!({"uuid": conv})).await;
    assert_eq!(joined["payload"]["seq"], 7);
    send_messages(&mut a, &mut pace, &conv, 2, 0).await;

    let frame = catch_up(&mut c, json!([{"conversation": conv, "seq": null}])).await;
    let p = page(&frame);
    let e = entry(p, &conv);
    assert_eq!(e["state"], "participant");
    assert_eq!(e["joined_seq"], 7);
    assert_eq!(e["last_seq"], 9);
    assert_eq!(
        (e["from_seq"].as_u64(), e["to_seq"].as_u64()),
        (Some(7), Some(9))
    );
    assert_eq!(seqs(&events_of(p, &conv)), [7, 8, 9]);
    assert_eq!(p["more"], false);
    let mut pace = Pace::new();
    assert_eq!(
        events_of(p, &conv),
        retransmitted(&mut c, &mut pace, &conv, 7, 9).await
    );
}

#[tokio::test]
async fn uber_conversations_show_messages_of_participation_periods_only() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut pace = Pace::new();
    pace.next().await;
    let conv = a
        .create(json!({"title": "uber", "uber_conversation": true,
                       "participants": [{"user_id": bob.im_id}]}))
        .await;
    send_messages(&mut a, &mut pace, &conv, 3, 0).await; // 2..4
    pace.next().await;
    a.ok(
        "addParticipants",
        json!({"uuid": conv, "participants": [{"user_id": carol.im_id}]}),
    )
    .await; // 5
    send_messages(&mut a, &mut pace, &conv, 2, 0).await; // 6, 7

    let mut c = h.login(&carol).await;
    let frame = catch_up(&mut c, json!([{"conversation": conv, "seq": 0}])).await;
    let p = page(&frame);
    let e = entry(p, &conv);
    assert_eq!(
        (e["from_seq"].as_u64(), e["to_seq"].as_u64()),
        (Some(1), Some(7))
    );
    assert_eq!(e["joined_seq"], 5);
    // Conversation events all; messages only from carol's participation on.
    assert_eq!(seqs(&events_of(p, &conv)), [1, 5, 6, 7]);
    let mut pace = Pace::new();
    assert_eq!(
        events_of(p, &conv),
        retransmitted(&mut c, &mut pace, &conv, 1, 7).await
    );
    // Bob, a participant from the start, sees every message.
    let mut b = h.login(&bob).await;
    let frame = catch_up(&mut b, json!([{"conversation": conv, "seq": 0}])).await;
    assert_eq!(
        seqs(&events_of(page(&frame), &conv)),
        (1..=7).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_former_participant_gets_the_events_up_to_its_leave() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let mut pace = Pace::new();
    pace.next().await;
    let conv = a
        .create(json!({"title": "t", "participants": [{"user_id": bob.im_id}]}))
        .await;
    send_messages(&mut a, &mut pace, &conv, 2, 0).await; // 2, 3
    let left = b.ok("leaveConversation", json!({"uuid": conv})).await;
    assert_eq!(left["payload"]["seq"], 4);
    send_messages(&mut a, &mut pace, &conv, 2, 0).await; // 5, 6

    let frame = catch_up(&mut b, json!([{"conversation": conv, "seq": 0}])).await;
    let p = page(&frame);
    let e = entry(p, &conv);
    assert_eq!(e["state"], "former");
    assert_eq!(e["last_seq"], 4, "L, the seq of the leave");
    assert_eq!(
        (e["from_seq"].as_u64(), e["to_seq"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(
        e["object"]["last_seq"], 6,
        "the current snapshot, as getConversation"
    );
    assert_eq!(e.get("joined_seq"), None);
    assert_eq!(seqs(&events_of(p, &conv)), [1, 2, 3, 4]);
    assert_eq!(p["more"], false);
    let mut pace = Pace::new();
    assert_eq!(
        events_of(p, &conv),
        retransmitted(&mut b, &mut pace, &conv, 1, 4).await
    );
    // Nothing after L, however far the position.
    let frame = catch_up(&mut b, json!([{"conversation": conv, "seq": 4}])).await;
    let e = entry(page(&frame), &conv);
    assert_eq!(
        (e["state"].as_str(), e.get("from_seq")),
        (Some("former"), None)
    );
    assert!(page(&frame)["events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn deleted_unknown_and_foreign_conversations_get_an_entry_without_content() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let mut a = h.login(&alice).await;
    let mut c = h.login(&carol).await;
    let private = a
        .create(json!({"title": "private", "participants": [{"user_id": bob.im_id}]}))
        .await;
    let public = a
        .create(json!({"title": "public", "enable_public_join": true}))
        .await;
    // Carol's own conversation, deleted when she leaves it: seq 1 create, 2 message, 3 leave,
    // 4 onRemoveConversation.
    let gone = c.create(json!({"title": "gone"})).await;
    c.ok("sendMessage", json!({"conversation": gone, "text": "x"}))
        .await;
    c.ok("leaveConversation", json!({"uuid": gone})).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let frame = catch_up(
        &mut c,
        json!([{"conversation": gone, "seq": 0}, {"conversation": unknown, "seq": 0},
               {"conversation": "not-a-uuid", "seq": null}, {"conversation": private, "seq": 0},
               {"conversation": public, "seq": null}]),
    )
    .await;
    let p = page(&frame);
    assert_eq!(
        p["conversations"],
        json!([
            {"conversation": gone, "state": "deleted", "last_seq": 4},
            {"conversation": unknown, "state": "not_found", "last_seq": 0},
            {"conversation": "not-a-uuid", "state": "not_found", "last_seq": 0},
            {"conversation": private, "state": "not_participant", "last_seq": 0},
            {"conversation": public, "state": "not_participant", "last_seq": 0},
        ])
    );
    assert_eq!(p["events"], json!([]));
    assert_eq!(p["more"], false);
}

#[tokio::test]
async fn malformed_empty_and_oversized_lists_are_refused_and_repeats_answered_once() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let mut pace = Pace::new();
    pace.next().await;
    let conv = a.create(json!({"title": "t"})).await;
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"conversation": uuid::Uuid::new_v4().to_string(), "seq": 0}))
        .collect();
    let mut bad_at_end = many.clone();
    bad_at_end[500] = json!({"conversation": conv, "seq": -1});
    for (payload, code) in [
        (json!({}), 0),
        (json!({"positions": "x"}), 0),
        (json!({"positions": [{"conversation": 5, "seq": 0}]}), 0),
        (json!({"positions": [{"seq": 0}]}), 0),
        (json!({"positions": [{"conversation": conv, "seq": -1}]}), 0),
        (
            json!({"positions": [{"conversation": conv, "seq": "abc"}]}),
            0,
        ),
        (json!({"positions": [7]}), 0),
        // Types are checked before the size.
        (json!({"positions": bad_at_end}), 0),
        (json!({"positions": []}), 21),
        (json!({"positions": many}), 22),
    ] {
        pace.next().await;
        assert_eq!(a.err("catchUp", payload.clone()).await, code, "{payload}");
    }
    // 500 positions are fine.
    pace.next().await;
    let frame = catch_up(&mut a, json!(many[..500])).await;
    assert_eq!(page(&frame)["conversations"].as_array().unwrap().len(), 500);
    // A conversation listed twice (in any case) is answered once, at its first position.
    pace.next().await;
    let frame = catch_up(
        &mut a,
        json!([{"conversation": conv, "seq": 1}, {"conversation": conv.to_uppercase(), "seq": 0}]),
    )
    .await;
    let p = page(&frame);
    assert_eq!(p["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(
        p["conversations"][0].get("from_seq"),
        None,
        "position 1 = last seq"
    );
    assert_eq!(p["events"], json!([]));
}

#[tokio::test]
async fn a_page_counts_as_one_request_under_the_default_rate_limit() {
    let h = Harness::start().await;
    let (_alice, bob, big, _small) = two_conversations(&h).await;
    let mut c = h.login(&bob).await;
    // 21 requests at once: the catch-up (a page of 100 events) and 20 more; the 21st request
    // is the first one over 20 per second.
    let catch_up_id = "catch-up".to_string();
    c.send(
        json!({"service": "chat", "event": "catchUp", "request_uuid": catch_up_id,
                  "payload": {"positions": [{"conversation": big, "seq": 0}]}}),
    )
    .await;
    let ids: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    for id in &ids {
        c.send(json!({"service": "chat", "event": "getSubscriptionList", "request_uuid": id}))
            .await;
    }
    let frame = c.reply_to(&catch_up_id).await;
    assert_eq!(frame["event"], "onCatchUp");
    assert_eq!(page(&frame)["events"].as_array().unwrap().len(), 100);
    for id in &ids[..19] {
        assert_eq!(c.reply_to(id).await["event"], "onGetSubscriptionList");
    }
    let last = c.reply_to(&ids[19]).await;
    assert_eq!(last["event"], "onError");
    assert_eq!(last["payload"]["code"], 32);
}
