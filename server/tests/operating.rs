//! Operating the server: `/metrics` (Prometheus text, counters that follow real traffic, one
//! registry per server), `/healthz` and `/readyz` (503 when the store is unavailable), the
//! api key as a Bearer header, and the separate admin listener.

mod common;

use std::collections::HashMap;

use chatwire_server::{testing, Storage};
use common::{Client, Harness};
use serde_json::json;

/// Parses Prometheus/OpenMetrics text: every line is a comment or `name{labels} value`, and the
/// exposition ends with `# EOF`. Returns the samples by `name{labels}`.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.pop(), Some("# EOF"), "exposition must end with # EOF");
    for line in lines {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split_whitespace().next().unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "bad comment: {line}"
            );
            let name = comment.split_whitespace().nth(1).unwrap();
            assert!(name.starts_with("chatwire_"), "metric name: {name}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name: {name}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "labels: {series}");
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value: {line}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

fn sample(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

async fn scrape(h: &Harness) -> HashMap<String, f64> {
    let resp = h
        .http
        .get(h.server.metrics_url())
        .bearer_auth(h.server.api_key().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text"));
    parse_metrics(&resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_and_follow_real_traffic() {
    let h = Harness::start().await;
    let other = Harness::start().await;
    let before = scrape(&h).await;
    assert_eq!(
        sample(&before, "chatwire_logins_total{result=\"success\"}"),
        0.0
    );

    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let mut b = h.login(&bob).await;
    let conv = a
        .create(json!({"title": "t", "participants": [{"user_id": bob.im_id}]}))
        .await;
    a.ok("sendMessage", json!({"conversation": conv, "text": "hi"}))
        .await;
    b.next_event("onSendMessage").await;
    assert_eq!(a.err("noSuchAction", json!({})).await, 2);
    assert_eq!(
        a.err(
            "sendMessage",
            json!({"conversation": uuid::Uuid::new_v4().to_string(), "text": "x"})
        )
        .await,
        8
    );
    a.ok(
        "retransmitEvents",
        json!({"conversation": conv, "events_from": 1, "events_to": 2}),
    )
    .await;
    let mut failed = h.connect().await;
    let refused = failed
        .session("login", json!([alice.full_name, "wrong-password", {}]))
        .await;
    assert_eq!(refused["name"], "loginFailed");

    let m = scrape(&h).await;
    // Two logins each in h.user() and h.login(), for two users.
    assert_eq!(sample(&m, "chatwire_logins_total{result=\"success\"}"), 4.0);
    assert_eq!(sample(&m, "chatwire_logins_total{result=\"failure\"}"), 1.0);
    assert_eq!(
        sample(&m, "chatwire_requests_total{action=\"sendMessage\"}"),
        2.0
    );
    assert_eq!(
        sample(&m, "chatwire_requests_total{action=\"unknown\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "chatwire_request_errors_total{action=\"unknown\",code=\"2\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "chatwire_request_errors_total{action=\"sendMessage\",code=\"8\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "chatwire_catchup_requests_total{action=\"retransmitEvents\"}"
        ),
        1.0
    );
    // createConversation and sendMessage: two log events.
    assert_eq!(sample(&m, "chatwire_events_committed_total"), 2.0);
    assert!(sample(&m, "chatwire_deliveries_total{kind=\"broadcast\"}") >= 2.0);
    assert!(sample(&m, "chatwire_deliveries_total{kind=\"reply\"}") >= 5.0);
    assert!(sample(&m, "chatwire_store_commit_seconds_count") >= 2.0);
    assert!(sample(&m, "chatwire_fanout_seconds_count") >= 2.0);
    assert_eq!(
        sample(
            &m,
            "chatwire_admin_calls_total{method=\"AddUser\",result=\"ok\"}"
        ),
        2.0
    );
    // a, b and the failed one are open (the connections of h.user() closed, which the server
    // may notice a moment later); a and b are logged in.
    let mut m = m;
    for _ in 0..50 {
        if sample(&m, "chatwire_connections{state=\"open\"}") == 3.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        m = scrape(&h).await;
    }
    assert_eq!(sample(&m, "chatwire_connections{state=\"open\"}"), 3.0);
    assert_eq!(sample(&m, "chatwire_connections{state=\"logged_in\"}"), 2.0);
    assert_eq!(sample(&m, "chatwire_store_up"), 1.0);

    // Another server in the same process counts on its own.
    let o = scrape(&other).await;
    assert_eq!(sample(&o, "chatwire_logins_total{result=\"success\"}"), 0.0);
    assert_eq!(sample(&o, "chatwire_events_committed_total"), 0.0);
}

#[tokio::test]
async fn metrics_need_the_api_key_unless_public() {
    let h = Harness::start().await;
    let url = h.server.metrics_url();
    let key = h.server.api_key().unwrap().to_string();
    let none = h.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.text().await.unwrap().contains("--metrics-public"));
    let wrong = h.http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let query = h
        .http
        .get(&url)
        .query(&[("api_key", &key)])
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);

    let mut config = testing::config(Storage::Memory);
    config.metrics_public = true;
    let public = Harness::with_config(config).await;
    let open = public
        .http
        .get(public.server.metrics_url())
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
}

#[tokio::test]
async fn health_needs_no_key_and_readiness_follows_the_store() {
    let (server, fault) = testing::start_with_fault(testing::config(Storage::Memory))
        .await
        .unwrap();
    let h = Harness {
        server,
        http: reqwest::Client::new(),
    };
    let get = |path: &str| h.http.get(format!("{}{path}", h.server.http_url())).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let alice = h.user("alice").await;
    let mut a = h.login(&alice).await;
    let conv = a.create(json!({"title": "t"})).await;

    fault.set_unavailable(true);
    let down = get("/readyz").await.unwrap();
    assert_eq!(down.status(), 503);
    assert!(down.text().await.unwrap().contains("store unavailable"));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(sample(&scrape(&h).await, "chatwire_store_up"), 0.0);
    // A change while the store is down fails with 30 ...
    assert_eq!(
        a.err("sendMessage", json!({"conversation": conv, "text": "lost"}))
            .await,
        30
    );
    // ... and the server stays unready after the store is back: changes are refused until a
    // restart reloads the durable state.
    fault.set_unavailable(false);
    let after = get("/readyz").await.unwrap();
    assert_eq!(after.status(), 503);
    assert!(after.text().await.unwrap().contains("commit failed"));
    let m = scrape(&h).await;
    assert_eq!(sample(&m, "chatwire_store_commit_failures_total"), 1.0);
    assert_eq!(
        sample(
            &m,
            "chatwire_request_errors_total{action=\"sendMessage\",code=\"30\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn readiness_recovers_when_the_store_comes_back_without_failed_commits() {
    let (server, fault) = testing::start_with_fault(testing::config(Storage::Memory))
        .await
        .unwrap();
    let url = format!("{}/readyz", server.http_url());
    // A first command through the engine: its start-up writes (pruning old idempotency keys)
    // are committed before it is answered, so none of them meets the fault.
    server
        .add_user("probe", "Probe", "probe-password")
        .await
        .unwrap();
    fault.set_unavailable(true);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 503);
    fault.set_unavailable(false);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_admin_listener_keeps_admin_and_metrics_off_the_public_port() {
    let mut config = testing::config(Storage::Memory);
    config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    let h = Harness::with_config(config).await;
    let key = h.server.api_key().unwrap().to_string();
    let admin = h.server.admin_addr().expect("admin listener");
    assert_ne!(admin, h.server.local_addr());
    assert!(h.server.admin_url().contains(&admin.port().to_string()));

    let public = h.server.http_url();
    for path in ["/platform_api/GetUsers", "/metrics"] {
        let r = h
            .http
            .get(format!("{public}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path} on the public port");
    }
    assert_eq!(
        h.http
            .get(format!("{public}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The admin API on its own listener, with the key as a Bearer header and the password in
    // a form body (never in the URL).
    let added: serde_json::Value = h
        .http
        .post(format!("{}/AddUser", h.server.admin_url()))
        .bearer_auth(&key)
        .form(&[
            ("user_name", "carol"),
            ("user_display_name", "Carol"),
            ("user_password", "carol-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["result"], 1, "{added}");
    let mut c = Client::connect(&h.server.ws_url()).await;
    c.login(&format!("carol@{}", h.server.domain()), "carol-secret")
        .await;
    let m = scrape(&h).await;
    assert_eq!(sample(&m, "chatwire_logins_total{result=\"success\"}"), 1.0);
}

#[tokio::test]
async fn a_wrong_bearer_key_is_refused_by_the_admin_api() {
    let h = Harness::start().await;
    let r: serde_json::Value = h
        .http
        .get(format!("{}/GetUsers", h.server.admin_url()))
        .bearer_auth("not-the-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["error"]["code"], 100, "{r}");
}
