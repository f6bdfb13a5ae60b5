//! chatwire extensions (docs/PROTOCOL.md section 12): what the server advertises at login.

mod common;

use common::Harness;
use serde_json::{json, Value};

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
