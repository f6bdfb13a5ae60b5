//! chatwire extensions (docs/PROTOCOL.md section 12), through the public wire API at the
//! server's default limits: what the server advertises at login (here), one-request catch-up,
//! idempotency keys, custom-data patches, and the back-pressure that keeps many replies from
//! closing a client that reads them.

mod common;

#[path = "extensions/backpressure.rs"]
mod backpressure;
#[path = "extensions/catchup.rs"]
mod catchup;
#[path = "extensions/custom_data_patch.rs"]
mod custom_data_patch;
#[path = "extensions/idempotency.rs"]
mod idempotency;

use std::collections::VecDeque;
use std::time::Duration;

use common::{Client, Harness};
use serde_json::{json, Value};
use tokio::time::Instant;

#[tokio::test]
async fn login_advertises_the_configured_limits_in_a_key_of_its_own() {
    let mut config = chatwire_server::testing::config(chatwire_server::Storage::Memory);
    config.limits.requests_per_second = 7;
    config.limits.requests_per_minute = 99;
    config.limits.outbound_queue = 512;
    let h = Harness::with_config(config).await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    let answer = c.login(&alice.full_name, &alice.password).await;
    assert_eq!(answer["name"], "loginSuccessful");
    let options = &answer["params"][1];
    // The official SDK reads only `OAuth`; the extension sits beside it.
    assert!(options["OAuth"]["accessToken"].is_string());
    let ext = &options["chatwire"];
    assert_eq!(ext["version"], 1);
    assert_eq!(
        ext["limits"],
        json!({"requests_per_second": 7, "requests_per_minute": 99, "outbound_queue": 512,
               "max_frame_bytes": 65536})
    );
    assert!(ext["idempotency_window"].as_u64().unwrap() >= 86_400);
    assert!(ext["extensions"].is_array());
    let read = chatwire_protocol::ServerExtensions::from_login_params(
        answer["params"].as_array().unwrap(),
    )
    .expect("the SDK's reader understands it");
    assert_eq!(read.limits.requests_per_minute, 99);
}

#[tokio::test]
async fn a_login_with_the_opt_in_works_like_any_other() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    let answer = c
        .session(
            "login",
            json!([alice.full_name, alice.password, {"chatwire": {"idempotency": true}}]),
        )
        .await;
    assert_eq!(answer["name"], "loginSuccessful", "{answer}");
    assert_ne!(answer["params"][1]["chatwire"], Value::Null);
}

#[tokio::test]
async fn every_extension_is_advertised() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    let answer = c.login(&alice.full_name, &alice.password).await;
    assert_eq!(
        answer["params"][1]["chatwire"]["extensions"],
        json!(["catchUp", "idempotency", "customDataPatch"])
    );
}

// ---- helpers shared by the extension tests ----

/// Keeps one connection's requests under the default rate limit (20 per rolling second), with
/// a margin for the time the server takes to read them.
pub(crate) struct Pace {
    sent: VecDeque<Instant>,
}

impl Pace {
    pub(crate) fn new() -> Pace {
        Pace {
            sent: VecDeque::new(),
        }
    }

    /// Waits until one more request fits in the rolling second, and counts it.
    pub(crate) async fn next(&mut self) {
        if self.sent.len() >= 18 {
            let first = self.sent.pop_front().unwrap();
            tokio::time::sleep_until(first + Duration::from_millis(1100)).await;
        }
        self.sent.push_back(Instant::now());
    }
}

/// Sends `n` messages to `conv` (each with `payload_bytes` of payload, or text only), paced
/// under the default rate limit and pipelined; a message refused by the rate limit anyway
/// (32/33, when the server reads a burst late) is sent again, as the SDK does. Returns the
/// seqs.
pub(crate) async fn send_messages(
    c: &mut Client,
    pace: &mut Pace,
    conv: &str,
    n: usize,
    payload_bytes: usize,
) -> Vec<u64> {
    let mut todo: Vec<usize> = (0..n).collect();
    let mut seqs = Vec::new();
    while !todo.is_empty() {
        let mut sent = Vec::new();
        for i in todo.drain(..) {
            pace.next().await;
            let id = uuid::Uuid::new_v4().to_string();
            let mut payload = json!({"conversation": conv, "text": format!("m{i}")});
            if payload_bytes > 0 {
                payload["payload"] = json!([{"blob": "x".repeat(payload_bytes)}]);
            }
            c.send(
                json!({"service": "chat", "event": "sendMessage", "request_uuid": id,
                          "payload": payload}),
            )
            .await;
            sent.push((i, id));
        }
        for (i, id) in sent {
            let r = c.reply_to(&id).await;
            match r["payload"]["code"].as_u64() {
                Some(32 | 33) => todo.push(i),
                _ => {
                    assert_eq!(r["event"], "onSendMessage", "{r}");
                    seqs.push(r["payload"]["seq"].as_u64().unwrap());
                }
            }
        }
        if !todo.is_empty() {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    seqs
}

/// The `{event, payload}` objects `retransmitEvents` returns for `[from, to]` (windows of 100
/// seqs), in order.
pub(crate) async fn retransmitted(
    c: &mut Client,
    pace: &mut Pace,
    conv: &str,
    from: u64,
    to: u64,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start + 99);
        pace.next().await;
        let id = uuid::Uuid::new_v4().to_string();
        c.send(
            json!({"service": "chat", "event": "retransmitEvents", "request_uuid": id,
                      "payload": {"conversation": conv, "events_from": start, "events_to": end}}),
        )
        .await;
        let first = c.reply_to(&id).await;
        assert_eq!(first["event"], "onRetransmitEvents", "{first}");
        let count = first["payload"]["count"].as_u64().unwrap();
        let mut frames = vec![first];
        for _ in 1..count {
            frames.push(c.reply_to(&id).await);
        }
        out.extend(
            frames
                .into_iter()
                .filter_map(|f| f["payload"].get("object").cloned()),
        );
        start = end + 1;
    }
    out
}

/// A connection logged in with the idempotency opt-in.
pub(crate) async fn login_opted_in(h: &Harness, user: &common::TestUser) -> Client {
    let mut c = h.connect().await;
    let answer = c
        .session(
            "login",
            json!([user.full_name, user.password, {"chatwire": {"idempotency": true}}]),
        )
        .await;
    assert_eq!(answer["name"], "loginSuccessful", "{answer}");
    c.user = Some(user.im_id);
    c
}
