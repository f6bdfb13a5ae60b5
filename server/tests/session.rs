//! The session layer (docs/BEHAVIOUR.md section 2.2): login, token login, refresh, ping, limits.

mod common;

use std::time::Duration;

use chatwire_server::Storage;
use common::{Client, Harness, TestUser};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn config() -> chatwire_server::Config {
    chatwire_server::testing::config(Storage::Memory)
}

/// `loginFailed` / `refreshOauthTokenFailed` code.
fn failed_code(v: &Value, name: &str) -> u64 {
    assert_eq!(v["name"], name, "expected {name}: {v}");
    v["params"][0]
        .as_u64()
        .unwrap_or_else(|| panic!("no code: {v}"))
}

async fn login_code(c: &mut Client, params: Value) -> u64 {
    let v = c.session("login", params).await;
    failed_code(&v, "loginFailed")
}

/// The OAuth object of a loginSuccessful frame.
fn oauth(v: &Value) -> Value {
    assert_eq!(v["name"], "loginSuccessful", "{v}");
    v["params"][1]["OAuth"].clone()
}

fn access(v: &Value) -> String {
    oauth(v)["accessToken"].as_str().unwrap().to_string()
}

fn refresh_token(v: &Value) -> String {
    oauth(v)["refreshToken"].as_str().unwrap().to_string()
}

async fn token_login(c: &mut Client, name: &str, token: &str) -> Value {
    c.session(
        "login",
        json!([name, "", {"serverPresenceControl": false, "accessToken": token}]),
    )
    .await
}

/// Whether the connection is logged in as `user` (getUser self view has private fields).
async fn assert_logged_in_as(c: &mut Client, user: &TestUser) {
    let v = c.ok("getUser", json!({"user_id": user.im_id})).await;
    assert_eq!(v["payload"]["initiator"], user.im_id, "{v}");
    assert!(
        v["payload"]["object"].get("private_custom_data").is_some(),
        "{v}"
    );
}

async fn assert_not_logged_in(c: &mut Client) {
    assert_eq!(c.err("getSubscriptionList", json!({})).await, 3);
}

#[tokio::test]
async fn connection_successful_is_the_first_frame_with_empty_params() {
    let h = Harness::start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(h.server.ws_url())
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(t) = first else {
        panic!("first frame not text: {first:?}")
    };
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v, json!({"name": "__connectionSuccessful", "params": []}));
}

#[tokio::test]
async fn endpoint_accepts_sdk_query_string() {
    let h = Harness::start().await;
    let url = format!(
        "{}?version=3&client=js&im_version=2&acd_version=2",
        h.server.ws_url()
    );
    let mut c = Client::connect(&url).await;
    c.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(c.next().await.unwrap()["name"], "__pong");
}

#[tokio::test]
async fn password_login_returns_display_name_and_oauth_tokens() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    let v = c.login(&alice.full_name, &alice.password).await;
    assert_eq!(v["params"][0], "alice");
    let o = oauth(&v);
    assert_eq!(o["accessExpire"], 3600);
    assert_eq!(o["refreshExpire"], 2592000);
    let a = o["accessToken"].as_str().unwrap();
    let r = o["refreshToken"].as_str().unwrap();
    assert!(a.len() >= 22 && r.len() >= 22, "tokens too short: {o}");
    assert_ne!(a, r);
    c.user = Some(alice.im_id);
    assert_logged_in_as(&mut c, &alice).await;
}

#[tokio::test]
async fn every_login_issues_a_fresh_pair() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c1 = h.connect().await;
    let v1 = c1.login(&alice.full_name, &alice.password).await;
    let mut c2 = h.connect().await;
    let v2 = c2.login(&alice.full_name, &alice.password).await;
    assert_ne!(access(&v1), access(&v2));
    assert_ne!(refresh_token(&v1), refresh_token(&v2));
}

#[tokio::test]
async fn display_name_follows_admin_changes() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let r = h
        .admin(
            "SetUserInfo",
            &[
                ("user_id", &alice.admin_id.to_string()),
                ("user_display_name", "Alice Liddell"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    let mut c = h.connect().await;
    let v = c.login(&alice.full_name, &alice.password).await;
    assert_eq!(v["params"][0], "Alice Liddell");
}

#[tokio::test]
async fn login_name_is_case_insensitive_and_accepts_voximplant_suffix() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let domain = h.server.domain().to_string();
    for name in [
        format!("ALICE@{}", domain.to_uppercase()),
        format!("Alice@{domain}"),
        format!("alice@{domain}.voximplant.com"),
        format!("alice@{}.VOXIMPLANT.COM", domain.to_uppercase()),
    ] {
        let mut c = h.connect().await;
        let v = c.session("login", json!([name, alice.password, {}])).await;
        assert_eq!(v["name"], "loginSuccessful", "{name}: {v}");
        c.user = Some(alice.im_id);
        assert_logged_in_as(&mut c, &alice).await;
    }
}

#[tokio::test]
async fn short_name_or_other_domain_fails_with_401() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    for name in [
        "alice".to_string(),
        "alice@other.example".to_string(),
        "alice@other.example.voximplant.com".to_string(),
        format!("alice@x.{}", h.server.domain()),
    ] {
        let mut c = h.connect().await;
        assert_eq!(
            login_code(&mut c, json!([name, alice.password, {}])).await,
            401,
            "{name}"
        );
        assert_not_logged_in(&mut c).await;
    }
}

#[tokio::test]
async fn bad_credentials_fail_with_401() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let domain = h.server.domain().to_string();
    let cases = [
        json!([alice.full_name, "wrong-password", {}]),
        json!([format!("nobody@{domain}"), alice.password, {}]),
        json!([alice.full_name, "", {}]),
        json!([alice.full_name, null, {}]),
        json!([alice.full_name]),
        json!([alice.full_name, "", {"accessToken": ""}]),
        json!([alice.full_name, "", {"accessToken": "not-a-token"}]),
    ];
    for params in cases {
        let mut c = h.connect().await;
        let v = c.session("login", params.clone()).await;
        assert_eq!(failed_code(&v, "loginFailed"), 401, "{params}");
        assert!(v["params"][1].is_string(), "{v}");
        assert_not_logged_in(&mut c).await;
    }
}

#[tokio::test]
async fn malformed_login_params_fail_with_401_exactly_once() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let cases = [
        json!([]),
        json!([17, alice.password, {}]),
        json!([alice.full_name, 5, {}]),
        json!([alice.full_name, alice.password, "options"]),
        json!(null),
        json!({"user": alice.full_name}),
    ];
    for params in cases {
        let mut c = h.connect().await;
        let v = c.session("login", params.clone()).await;
        assert_eq!(failed_code(&v, "loginFailed"), 401, "{params}");
        c.expect_silence(Duration::from_millis(200)).await;
        assert_not_logged_in(&mut c).await;
    }
}

#[tokio::test]
async fn login_options_absent_or_with_unknown_keys_are_accepted() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    let v = c
        .session("login", json!([alice.full_name, alice.password]))
        .await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
    let mut c = h.connect().await;
    let v = c
        .session(
            "login",
            json!([alice.full_name, alice.password, {"receiveCalls": true, "serverPresenceControl": false, "deviceToken": "x", "mediaServer": null}]),
        )
        .await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
}

#[tokio::test]
async fn token_login_succeeds_with_a_fresh_pair() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c1 = h.connect().await;
    let first = c1.login(&alice.full_name, &alice.password).await;
    let token = access(&first);

    let mut c2 = h.connect().await;
    let v = token_login(&mut c2, &alice.full_name, &token).await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
    assert_eq!(v["params"][0], "alice");
    let o = oauth(&v);
    assert_eq!(o["accessExpire"], 3600);
    assert_eq!(o["refreshExpire"], 2592000);
    assert_ne!(o["accessToken"], token.as_str());
    assert_ne!(o["refreshToken"], refresh_token(&first).as_str());
    c2.user = Some(alice.im_id);
    assert_logged_in_as(&mut c2, &alice).await;

    // The older pair stays valid.
    let mut c3 = h.connect().await;
    let v = token_login(&mut c3, &alice.full_name, &token).await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
}

#[tokio::test]
async fn token_login_ignores_the_password() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c1 = h.connect().await;
    let token = access(&c1.login(&alice.full_name, &alice.password).await);
    let mut c2 = h.connect().await;
    let v = c2
        .session(
            "login",
            json!([alice.full_name, "wrong-password", {"accessToken": token}]),
        )
        .await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
}

#[tokio::test]
async fn token_of_another_user_fails_with_401() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut c1 = h.connect().await;
    let v = c1.login(&alice.full_name, &alice.password).await;
    let mut c2 = h.connect().await;
    let r = token_login(&mut c2, &bob.full_name, &access(&v)).await;
    assert_eq!(failed_code(&r, "loginFailed"), 401);
    assert_not_logged_in(&mut c2).await;
    // A refresh token is not an access token.
    let mut c3 = h.connect().await;
    let r = token_login(&mut c3, &alice.full_name, &refresh_token(&v)).await;
    assert_eq!(failed_code(&r, "loginFailed"), 401);
}

#[tokio::test]
async fn refresh_with_string_param_rotates_the_refresh_token() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.login(&alice).await;
    let mut c0 = h.connect().await;
    let v = c0.login(&alice.full_name, &alice.password).await;
    let (old_access, old_refresh) = (access(&v), refresh_token(&v));

    let r = c
        .session("refreshOauthToken", json!([alice.full_name, old_refresh]))
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
    let o = &r["params"][0]["OAuth"];
    assert_eq!(o["accessExpire"], 3600);
    assert_eq!(o["refreshExpire"], 2592000);
    let new_access = o["accessToken"].as_str().unwrap().to_string();
    let new_refresh = o["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(new_access, old_access);
    assert_ne!(new_refresh, old_refresh);

    // Rotation: the used refresh token is now invalid.
    let r = c
        .session("refreshOauthToken", json!([alice.full_name, old_refresh]))
        .await;
    assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 401);
    // The session continues.
    assert_logged_in_as(&mut c, &alice).await;

    // The new pair works; the old access token stays valid.
    for t in [&new_access, &old_access] {
        let mut x = h.connect().await;
        let v = token_login(&mut x, &alice.full_name, t).await;
        assert_eq!(v["name"], "loginSuccessful", "{v}");
    }
    let r = c
        .session("refreshOauthToken", json!([alice.full_name, new_refresh]))
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
}

#[tokio::test]
async fn refresh_with_object_param_ignores_device_token() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c0 = h.connect().await;
    let v = c0.login(&alice.full_name, &alice.password).await;
    let mut c = h.connect().await;
    let r = c
        .session(
            "refreshOauthToken",
            json!([alice.full_name, {"refreshToken": refresh_token(&v), "deviceToken": "dt"}]),
        )
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
    assert!(r["params"][0]["OAuth"]["refreshToken"].is_string());
    let r = c
        .session(
            "refreshOauthToken",
            json!([alice.full_name, {"refreshToken": refresh_token(&v)}]),
        )
        .await;
    assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 401);
}

#[tokio::test]
async fn refresh_before_login_does_not_log_in() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c0 = h.connect().await;
    let v = c0.login(&alice.full_name, &alice.password).await;
    let mut c = h.connect().await;
    let r = c
        .session(
            "refreshOauthToken",
            json!([alice.full_name, refresh_token(&v)]),
        )
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
    assert_not_logged_in(&mut c).await;
    // The connection can still log in with the new access token.
    let t = r["params"][0]["OAuth"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let v = token_login(&mut c, &alice.full_name, &t).await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
    c.user = Some(alice.im_id);
    assert_logged_in_as(&mut c, &alice).await;
}

#[tokio::test]
async fn refresh_failures_give_401() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut c0 = h.connect().await;
    let v = c0.login(&alice.full_name, &alice.password).await;
    let cases = [
        json!([bob.full_name, refresh_token(&v)]),
        json!(["alice", refresh_token(&v)]),
        json!([alice.full_name, access(&v)]),
        json!([alice.full_name, "garbage"]),
        json!([alice.full_name, ""]),
        json!([alice.full_name, {"deviceToken": "x"}]),
        json!([alice.full_name]),
        json!([]),
    ];
    for params in cases {
        let mut c = h.connect().await;
        let r = c.session("refreshOauthToken", params.clone()).await;
        assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 401, "{params}");
        assert!(r["params"][1].is_string(), "{r}");
    }
    // None of them consumed the token.
    let mut c = h.connect().await;
    let r = c
        .session(
            "refreshOauthToken",
            json!([alice.full_name, refresh_token(&v)]),
        )
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
}

#[tokio::test]
async fn relogin_same_user_succeeds_and_session_continues() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.login(&alice).await;
    let sub = c.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    assert_eq!(sub["event"], "onSubscribe");
    let v = c
        .session("login", json!([alice.full_name, alice.password, {}]))
        .await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
    assert!(oauth(&v)["accessToken"].is_string());
    // Token relogin also works.
    let v = token_login(&mut c, &alice.full_name, &access(&v)).await;
    assert_eq!(v["name"], "loginSuccessful", "{v}");
    assert_logged_in_as(&mut c, &alice).await;
}

#[tokio::test]
async fn relogin_as_another_user_fails_with_491_and_keeps_the_login() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut c = h.login(&alice).await;
    assert_eq!(
        login_code(&mut c, json!([bob.full_name, bob.password, {}])).await,
        491
    );
    assert_logged_in_as(&mut c, &alice).await;

    let mut cb = h.connect().await;
    let bob_token = access(&cb.login(&bob.full_name, &bob.password).await);
    let v = token_login(&mut c, &bob.full_name, &bob_token).await;
    assert_eq!(failed_code(&v, "loginFailed"), 491);
    assert_logged_in_as(&mut c, &alice).await;
}

#[tokio::test]
async fn relogin_with_invalid_credentials_fails_with_491_and_does_not_count() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.login(&alice).await;
    for _ in 0..6 {
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, "wrong-password", {}])).await,
            491
        );
    }
    assert_logged_in_as(&mut c, &alice).await;
    assert!(c.closed.is_none());
}

#[tokio::test]
async fn unsupported_login_methods_fail_with_401_not_supported() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    // More than the per-connection failure limit: they do not count.
    for _ in 0..2 {
        for name in [
            "loginGenerateOneTimeKey",
            "loginUsingOneTimeKey",
            "loginStage2",
        ] {
            let v = c.session(name, json!([alice.full_name])).await;
            assert_eq!(
                v,
                json!({"name": "loginFailed", "params": [401, "not supported"]})
            );
        }
    }
    c.expect_silence(Duration::from_millis(200)).await;
    assert!(c.closed.is_none());
    c.login(&alice.full_name, &alice.password).await;
}

#[tokio::test]
async fn ping_is_answered_before_and_after_login() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    for params in [json!([[]]), json!([]), json!(null)] {
        c.send(json!({"name": "__ping", "params": params})).await;
        assert_eq!(
            c.next().await.unwrap(),
            json!({"name": "__pong", "params": []})
        );
    }
    c.send(json!({"name": "__ping"})).await;
    assert_eq!(c.next().await.unwrap()["name"], "__pong");
    c.login(&alice.full_name, &alice.password).await;
    c.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(c.next().await.unwrap()["name"], "__pong");
}

#[tokio::test]
async fn unknown_session_frames_are_ignored() {
    let h = Harness::start().await;
    let mut c = h.connect().await;
    c.send(json!({"name": "call", "params": [1, 2]})).await;
    c.send(json!({"name": "someVoipRpc"})).await;
    c.expect_silence(Duration::from_millis(300)).await;
    c.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(c.next().await.unwrap()["name"], "__pong");
}

#[tokio::test]
async fn messaging_before_login_gets_3() {
    let h = Harness::start().await;
    let mut c = h.connect().await;
    let v = c.request("getUser", json!({"user_id": 1})).await;
    assert_eq!(v["event"], "onError");
    assert_eq!(v["payload"]["code"], 3);
    assert_eq!(v["payload"]["on_incoming_event"], "getUser");
    assert!(v["payload"].get("initiator").is_none(), "{v}");
    assert!(v["payload"]["timestamp"].is_i64());
    // Invalid payload for a known action is still 3 (action checks come after).
    assert_eq!(c.err("getUser", json!({})).await, 3);
    // Reserved actions pass checks 1 and 2, so they get 3 too.
    assert_eq!(c.err("removeConversation", json!({})).await, 3);
}

#[tokio::test]
async fn malformed_and_unknown_frames_before_login_get_1_and_2() {
    let h = Harness::start().await;
    let mut c = h.connect().await;
    assert_eq!(c.err("searchConversations", json!({})).await, 2);
    assert_eq!(c.err("noSuchAction", json!({})).await, 2);
    c.send(json!({"service": "chat", "event": "getUser", "request_uuid": "r1", "payload": 5}))
        .await;
    let v = c.reply_to("r1").await;
    assert_eq!(v["payload"]["code"], 1);
    assert_eq!(v["payload"]["on_incoming_event"], "getUser");
    c.send_text("not json").await;
    let v = c.next_event("onError").await;
    assert_eq!(v["payload"]["code"], 1);
    assert_eq!(v["payload"]["on_incoming_event"], "UNKNOWN");
}

#[tokio::test]
async fn deactivated_user_gets_403_and_connections_close_with_4003() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a1 = h.login(&alice).await;
    let mut a2 = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    b.ok("subscribe", json!({"user_id": [alice.im_id]})).await;
    a1.ok("setStatus", json!({"online": true})).await;
    b.next_event("onSetStatus").await;
    let mut t = h.connect().await;
    let token = access(&t.login(&alice.full_name, &alice.password).await);
    drop(t);

    let r = h
        .admin(
            "SetUserInfo",
            &[
                ("user_id", &alice.admin_id.to_string()),
                ("user_active", "false"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    assert_eq!(a1.expect_close().await.0, 4003);
    assert_eq!(a2.expect_close().await.0, 4003);
    // Bob sees Alice go offline (server-initiated, no request_uuid).
    let off = b.next_event("onSetStatus").await;
    assert_eq!(off["payload"]["object"]["online"], false);
    assert_eq!(off["payload"]["initiator"], alice.im_id);
    assert!(off.get("request_uuid").is_none(), "{off}");

    let mut c = h.connect().await;
    assert_eq!(
        login_code(&mut c, json!([alice.full_name, alice.password, {}])).await,
        403
    );
    // Tokens were revoked.
    let v = token_login(&mut c, &alice.full_name, &token).await;
    assert_eq!(failed_code(&v, "loginFailed"), 401);
    assert_not_logged_in(&mut c).await;

    // Reactivation allows login again.
    let r = h
        .admin(
            "SetUserInfo",
            &[("user_name", "alice"), ("user_active", "true")],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    c.login(&alice.full_name, &alice.password).await;
}

#[tokio::test]
async fn deleted_user_gets_403_and_connections_close_with_4003() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let mut pending = h.connect().await;
    let r = h
        .admin("DelUser", &[("user_id", &alice.admin_id.to_string())])
        .await;
    assert_eq!(r["result"], 1, "{r}");
    let (code, reason) = a.expect_close().await;
    assert_eq!(code, 4003);
    assert!(!reason.is_empty());
    let v = pending
        .session("login", json!([alice.full_name, alice.password, {}]))
        .await;
    assert_eq!(failed_code(&v, "loginFailed"), 403);
    assert_not_logged_in(&mut pending).await;
}

#[tokio::test]
async fn password_change_revokes_tokens_but_keeps_connections() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    let v = c.login(&alice.full_name, &alice.password).await;
    c.user = Some(alice.im_id);
    let r = h
        .admin(
            "SetUserInfo",
            &[
                ("user_id", &alice.admin_id.to_string()),
                ("user_password", "new-password-1"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    // The open connection stays.
    assert_logged_in_as(&mut c, &alice).await;

    let mut x = h.connect().await;
    let r = token_login(&mut x, &alice.full_name, &access(&v)).await;
    assert_eq!(failed_code(&r, "loginFailed"), 401);
    let r = x
        .session(
            "refreshOauthToken",
            json!([alice.full_name, refresh_token(&v)]),
        )
        .await;
    assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 401);
    assert_eq!(
        login_code(&mut x, json!([alice.full_name, alice.password, {}])).await,
        401
    );
    x.login(&alice.full_name, "new-password-1").await;
}

fn throttled_config(per_name: u32) -> chatwire_server::Config {
    let mut cfg = config();
    cfg.limits.failed_logins_per_name = per_name;
    cfg
}

#[tokio::test]
async fn throttle_per_name_answers_429_without_checking_credentials() {
    let h = Harness::with_config(throttled_config(3)).await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    for _ in 0..3 {
        let mut c = h.connect().await;
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, "wrong-password", {}])).await,
            401
        );
    }
    let mut c = h.connect().await;
    // Even the right password, and in another spelling of the name.
    assert_eq!(
        login_code(&mut c, json!([alice.full_name, alice.password, {}])).await,
        429
    );
    let upper = alice.full_name.to_uppercase();
    assert_eq!(
        login_code(&mut c, json!([upper, alice.password, {}])).await,
        429
    );
    let r = c
        .session("refreshOauthToken", json!([alice.full_name, "whatever"]))
        .await;
    assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 429);
    // 429 does not count toward the per-connection limit of 5.
    for _ in 0..4 {
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, alice.password, {}])).await,
            429
        );
    }
    assert!(c.closed.is_none());
    assert_not_logged_in(&mut c).await;
    // Unsupported methods are never 429.
    let v = c.session("loginStage2", json!([alice.full_name])).await;
    assert_eq!(v["params"], json!([401, "not supported"]));
    // Other names are not throttled.
    c.login(&bob.full_name, &bob.password).await;
}

#[tokio::test]
async fn throttle_counts_refresh_failures_and_403() {
    let h = Harness::with_config(throttled_config(3)).await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    for _ in 0..2 {
        let r = c
            .session("refreshOauthToken", json!([alice.full_name, "bad"]))
            .await;
        assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 401);
    }
    h.admin(
        "SetUserInfo",
        &[("user_name", "alice"), ("user_active", "false")],
    )
    .await;
    assert_eq!(
        login_code(&mut c, json!([alice.full_name, alice.password, {}])).await,
        403
    );
    assert_eq!(
        login_code(&mut c, json!([alice.full_name, alice.password, {}])).await,
        429
    );
}

#[tokio::test]
async fn fifth_counted_failure_is_answered_then_closed_with_4002() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    for _ in 0..4 {
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, "wrong-password", {}])).await,
            401
        );
    }
    c.send(json!({"name": "login", "params": [alice.full_name, "wrong-password", {}]}))
        .await;
    let v = c.next().await.expect("answer before close");
    assert_eq!(failed_code(&v, "loginFailed"), 401);
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 4002);
    assert!(!reason.is_empty());
}

#[tokio::test]
async fn refresh_failures_count_toward_4002() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    for _ in 0..3 {
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, "wrong-password", {}])).await,
            401
        );
    }
    // Uncounted answers in between.
    let v = c.session("loginUsingOneTimeKey", json!([])).await;
    assert_eq!(v["params"][0], 401);
    let r = c
        .session("refreshOauthToken", json!([alice.full_name, "bad"]))
        .await;
    assert_eq!(failed_code(&r, "refreshOauthTokenFailed"), 401);
    assert!(c.closed.is_none());
    c.send(json!({"name": "refreshOauthToken", "params": [alice.full_name, "bad"]}))
        .await;
    let v = c.next().await.expect("answer before close");
    assert_eq!(failed_code(&v, "refreshOauthTokenFailed"), 401);
    assert_eq!(c.expect_close().await.0, 4002);
}

#[tokio::test]
async fn login_deadline_closes_with_4001() {
    let mut cfg = config();
    cfg.limits.login_deadline = Duration::from_secs(1);
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut idle = h.connect().await;
    let mut logged = h.login(&alice).await;
    let started = std::time::Instant::now();
    let (code, reason) = idle.expect_close().await;
    assert_eq!(code, 4001);
    assert!(!reason.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
    // A logged-in connection is not affected.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_logged_in_as(&mut logged, &alice).await;
}

#[tokio::test]
async fn idle_timeout_closes_with_4000_and_pings_keep_alive() {
    let mut cfg = config();
    cfg.limits.idle_timeout = Duration::from_secs(1);
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut c = h.login(&alice).await;
    let mut quiet = h.login(&alice).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.send(json!({"name": "__ping", "params": [[]]})).await;
    }
    // 2.4 s have passed: the pinging connection is alive, the quiet one is gone.
    assert_eq!(quiet.expect_close().await.0, 4000);
    assert_logged_in_as(&mut c, &alice).await;
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 4000);
    assert!(!reason.is_empty());
}

#[tokio::test]
async fn websocket_ping_resets_idle_timer() {
    let mut cfg = config();
    cfg.limits.idle_timeout = Duration::from_secs(1);
    let h = Harness::with_config(cfg).await;
    let mut c = h.connect().await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        futures::SinkExt::send(&mut c.ws, Message::Ping(vec![1u8].into()))
            .await
            .unwrap();
    }
    c.send(json!({"name": "__ping", "params": [[]]})).await;
    assert_eq!(c.next_event("__pong").await["name"], "__pong");
    assert_eq!(c.expect_close().await.0, 4000);
}

#[tokio::test]
async fn shutdown_closes_connections_with_1001() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let mut anon = h.connect().await;
    let Harness { server, .. } = h;
    let stop = tokio::spawn(server.shutdown());
    let (code, reason) = a.expect_close().await;
    assert_eq!(code, 1001);
    assert!(!reason.is_empty());
    assert_eq!(anon.expect_close().await.0, 1001);
    stop.await.unwrap();
}

#[tokio::test]
async fn expired_access_token_gives_701_and_refresh_still_works() {
    let mut cfg = config();
    cfg.limits.access_token_ttl = Duration::from_secs(1);
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut c0 = h.connect().await;
    let v = c0.login(&alice.full_name, &alice.password).await;
    assert_eq!(oauth(&v)["accessExpire"], 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut c = h.connect().await;
    let r = token_login(&mut c, &alice.full_name, &access(&v)).await;
    assert_eq!(failed_code(&r, "loginFailed"), 701);
    let r = c
        .session(
            "refreshOauthToken",
            json!([alice.full_name, refresh_token(&v)]),
        )
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
    let t = r["params"][0]["OAuth"]["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let r = token_login(&mut c, &alice.full_name, &t).await;
    assert_eq!(r["name"], "loginSuccessful", "{r}");
}

#[tokio::test]
async fn refresh_on_a_connection_logged_in_as_another_user_keeps_the_login() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut cb = h.connect().await;
    let v = cb.login(&bob.full_name, &bob.password).await;
    let mut a = h.login(&alice).await;
    let r = a
        .session(
            "refreshOauthToken",
            json!([bob.full_name, refresh_token(&v)]),
        )
        .await;
    assert_eq!(r["name"], "refreshOauthTokenSuccessful", "{r}");
    assert_logged_in_as(&mut a, &alice).await;
}

#[tokio::test]
async fn throttle_per_peer_address() {
    let mut cfg = config();
    cfg.limits.failed_logins_per_peer = 3;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let domain = h.server.domain().to_string();
    let mut c = h.connect().await;
    for i in 0..3 {
        assert_eq!(
            login_code(
                &mut c,
                json!([format!("nobody{i}@{domain}"), "password-1", {}])
            )
            .await,
            401
        );
    }
    // Every name from this address is now refused.
    let mut c2 = h.connect().await;
    assert_eq!(
        login_code(&mut c2, json!([alice.full_name, alice.password, {}])).await,
        429
    );
}

#[tokio::test]
async fn throttle_off_with_zero() {
    let mut cfg = config();
    cfg.limits.failed_logins_per_name = 0;
    cfg.limits.failed_logins_per_peer = 0;
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    for _ in 0..6 {
        let mut c = h.connect().await;
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, "wrong-password", {}])).await,
            401
        );
    }
    let mut c = h.connect().await;
    c.login(&alice.full_name, &alice.password).await;
}

#[tokio::test]
async fn logged_in_connection_bad_token_gives_491_and_unsupported_stays_401() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let mut c = h.login(&alice).await;
    let v = token_login(&mut c, &alice.full_name, "not-a-token").await;
    assert_eq!(failed_code(&v, "loginFailed"), 491);
    let v = c
        .session("loginGenerateOneTimeKey", json!([alice.full_name]))
        .await;
    assert_eq!(v["params"], json!([401, "not supported"]));
    assert_logged_in_as(&mut c, &alice).await;
}

#[tokio::test]
async fn throttle_window_slides() {
    let mut cfg = throttled_config(2);
    cfg.limits.throttle_window = Duration::from_secs(1);
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let mut c = h.connect().await;
    for _ in 0..2 {
        assert_eq!(
            login_code(&mut c, json!([alice.full_name, "wrong-password", {}])).await,
            401
        );
    }
    assert_eq!(
        login_code(&mut c, json!([alice.full_name, alice.password, {}])).await,
        429
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.login(&alice.full_name, &alice.password).await;
}
