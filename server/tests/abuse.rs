//! Abuse: too many connections per user and per address, deeply nested JSON, floods.

mod common;

use std::time::Duration;

use chatwire_server::Storage;
use common::{Client, Harness};
use serde_json::json;

#[tokio::test]
async fn a_user_over_the_connection_limit_is_refused_with_429_until_one_closes() {
    let mut config = chatwire_server::testing::config(Storage::Memory);
    config.limits.max_connections_per_user = 2;
    let h = Harness::with_config(config).await;
    let alice = h.user("alice").await; // its own login connection was closed
    let _a1 = h.login(&alice).await;
    let a2 = h.login(&alice).await;
    let mut a3 = h.connect().await;
    let refused = a3
        .session("login", json!([alice.full_name, alice.password, {}]))
        .await;
    assert_eq!(refused["name"], "loginFailed");
    assert_eq!(refused["params"][0], 429);
    // Not a failed login: the connection stays usable and is not throttled.
    assert_eq!(a3.err("getSubscriptionList", json!({})).await, 3);
    drop(a2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    a3.login(&alice.full_name, &alice.password).await;
    a3.ok("getSubscriptionList", json!({})).await;
}

#[tokio::test]
async fn an_address_over_the_connection_limit_is_refused_before_the_upgrade() {
    let mut config = chatwire_server::testing::config(Storage::Memory);
    config.limits.max_connections_per_peer = 3;
    let h = Harness::with_config(config).await;
    let url = h.server.ws_url();
    let c1 = Client::connect(&url).await;
    let _c2 = Client::connect(&url).await;
    let _c3 = Client::connect(&url).await;
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        other => panic!("expected HTTP 429, got {:?}", other.map(|_| ())),
    }
    drop(c1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _c4 = Client::connect(&url).await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_malformed_frame_and_the_connection_survives() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let depth = 20_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    a.send_text(&nested).await;
    let err = a.next_event("onError").await;
    assert_eq!(err["payload"]["code"], 1);
    let payload = format!(
        r#"{{"service":"chat","event":"editUser","request_uuid":"deep","payload":{{"custom_data":{}{}}}}}"#,
        "{\"a\":".repeat(2000),
        "}".repeat(2000)
    );
    a.send_text(&payload).await;
    // Too deep to parse, so its request_uuid is unknown: error 1 without one.
    let err = a.next_event("onError").await;
    assert_eq!(err["payload"]["code"], 1);
    assert!(err.get("request_uuid").is_none());
    a.ok("getSubscriptionList", json!({})).await;
}

#[tokio::test]
async fn a_flood_is_answered_with_32_and_nothing_is_executed_past_the_limit() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = {
        let mut c = h.login(&alice).await;
        c.create(json!({"title": "flood"})).await
    };
    for i in 0..200 {
        a.send(
            json!({"service": "chat", "event": "sendMessage", "request_uuid": format!("f{i}"),
                      "payload": {"conversation": conv, "text": format!("m{i}")}}),
        )
        .await;
    }
    let (mut ok, mut limited) = (0, 0);
    while ok + limited < 200 {
        let f = a.next().await.expect("every frame is answered");
        let ours = f["request_uuid"]
            .as_str()
            .is_some_and(|r| r.starts_with('f'));
        match f["event"].as_str().unwrap() {
            "onSendMessage" if ours => ok += 1,
            "onError" if ours => {
                assert!(
                    matches!(f["payload"]["code"].as_u64(), Some(32 | 33)),
                    "{f}"
                );
                limited += 1;
            }
            _ => {}
        }
    }
    assert_eq!(ok + limited, 200);
    assert!(ok <= 20 && limited >= 180, "ok {ok}, limited {limited}");
    let mut b = h.login(&alice).await;
    let state = b.ok("getConversation", json!({"uuid": conv})).await;
    assert_eq!(
        state["payload"]["seq"],
        1 + ok,
        "only executed requests consumed a seq"
    );
}
