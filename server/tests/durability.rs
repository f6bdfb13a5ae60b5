//! Durability: every acknowledged event survives a crash (SIGKILL) and a drop without
//! graceful shutdown, with the same seq; new events continue the sequence.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chatwire_server::{RunningServer, Storage};
use common::{Client, Harness};
use serde_json::json;

const API_KEY: &str = "durability-test-key";

/// The server process; killed when dropped, so a failing test leaves nothing running.
struct ServerProcess(Child);

impl ServerProcess {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the real binary on a data dir and returns it with its WebSocket URL.
fn spawn_server(dir: &Path) -> (ServerProcess, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatwire-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            API_KEY,
            "--requests-per-second",
            "0",
        ])
        .args(["--requests-per-minute", "0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("banner");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .expect("ws url in banner")
        .to_string();
    (ServerProcess(child), url)
}

async fn add_user(http: &reqwest::Client, ws_url: &str, name: &str) {
    let admin = ws_url
        .replace("ws://", "http://")
        .replace("/platform", "/platform_api/AddUser");
    let r: serde_json::Value = http
        .post(admin)
        .form(&[
            ("api_key", API_KEY),
            ("user_name", name),
            ("user_display_name", name),
            ("user_password", "password-123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"], 1, "{r}");
}

async fn login(url: &str, name: &str) -> Client {
    let mut c = Client::connect(url).await;
    c.login(&format!("{name}@chatwire.local"), "password-123")
        .await;
    c
}

/// Retransmits the whole log of a conversation: seq -> (event, text).
async fn history(c: &mut Client, conv: &str, last: u64) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    let mut from = 1;
    while from <= last {
        let to = (from + 99).min(last);
        let first = c
            .ok(
                "retransmitEvents",
                json!({"conversation": conv, "events_from": from, "events_to": to}),
            )
            .await;
        let n = first["payload"]["count"].as_u64().unwrap();
        let mut frames = vec![first];
        for _ in 1..n {
            frames.push(c.next_event("onRetransmitEvents").await);
        }
        for f in frames {
            let inner = &f["payload"]["object"];
            out.push((
                inner["payload"]["seq"].as_u64().unwrap(),
                inner["event"].as_str().unwrap().to_string(),
                inner["payload"]["object"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ));
        }
        from = to + 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (mut child, url) = spawn_server(dir.path());
    add_user(&http, &url, "alice").await;
    let mut a = login(&url, "alice").await;
    let conv = a.create(json!({"title": "durable"})).await;

    // Pipeline 300 messages without waiting, then kill the server while acks are in flight.
    for i in 0..300 {
        let id = format!("req-{i}");
        a.send(
            json!({"service": "chat", "event": "sendMessage", "request_uuid": id,
                      "payload": {"conversation": conv, "text": format!("m{i}")}}),
        )
        .await;
    }
    let mut acked = Vec::new();
    for i in 0..300 {
        if i == 150 {
            child.kill(); // SIGKILL
        }
        match a.next_within(Duration::from_secs(5)).await {
            Some(f) if f["event"] == "onSendMessage" => acked.push((
                f["payload"]["seq"].as_u64().unwrap(),
                f["payload"]["object"]["text"].as_str().unwrap().to_string(),
            )),
            Some(other) => panic!("unexpected {other}"),
            None => break,
        }
    }
    child.kill();
    assert!(
        acked.len() >= 150,
        "only {} acks before the kill",
        acked.len()
    );

    let (mut child, url) = spawn_server(dir.path());
    let mut a = login(&url, "alice").await;
    let got = a.ok("getConversation", json!({"uuid": conv})).await;
    let last = got["payload"]["seq"].as_u64().unwrap();
    let log = history(&mut a, &conv, last).await;
    // Gap-free from 1 to last, and every acknowledged message is there once with its seq.
    assert_eq!(
        log.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
    for (seq, text) in &acked {
        let entry = &log[(*seq - 1) as usize];
        assert_eq!(
            (&entry.1[..], &entry.2),
            ("onSendMessage", text),
            "seq {seq}"
        );
    }
    // New events continue the sequence.
    let next = a
        .ok(
            "sendMessage",
            json!({"conversation": conv, "text": "after"}),
        )
        .await;
    assert_eq!(next["payload"]["seq"].as_u64().unwrap(), last + 1);
    child.kill();
}

#[tokio::test]
async fn state_survives_dropping_the_server_without_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut c = chatwire_server::testing::config(Storage::Sqlite(dir.path().to_path_buf()));
        c.limits.requests_per_second = 0;
        c
    };
    let cfg = config();
    let key = cfg.api_key.clone();
    let h = Harness::with_config(cfg).await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let mut a = h.login(&alice).await;
    let conv = a
        .create(json!({"title": "x", "participants": [{"user_id": bob.im_id, "flags": 1}]}))
        .await;
    let mut seqs = Vec::new();
    for i in 0..20 {
        let r = a
            .ok(
                "sendMessage",
                json!({"conversation": conv, "text": format!("m{i}")}),
            )
            .await;
        seqs.push(r["payload"]["seq"].as_u64().unwrap());
    }
    a.ok("isRead", json!({"conversation": conv, "seq": 5}))
        .await;
    a.ok("subscribe", json!({"user_id": [bob.im_id]})).await;
    a.ok("editUser", json!({"custom_data": {"k": 1}})).await;
    drop(a);
    drop(h);

    let mut cfg = config();
    cfg.api_key = key;
    let server = RunningServer::start(cfg)
        .await
        .expect("restarts on the same dir");
    let mut a = Client::connect(&server.ws_url()).await;
    a.login(&alice.full_name, &alice.password).await;
    let got = a.ok("getConversation", json!({"uuid": conv})).await;
    assert_eq!(got["payload"]["seq"], 21);
    let parts = &got["payload"]["object"]["participants"];
    assert_eq!(parts[0]["last_read"], 5);
    assert_eq!(parts[1]["flags"], 1);
    let subs = a.ok("getSubscriptionList", json!({})).await;
    assert_eq!(
        subs["payload"]["object"]["subscriptions"],
        json!([bob.im_id])
    );
    let me = a.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(me["payload"]["object"]["custom_data"], json!({"k": 1}));
    let log = history(&mut a, &conv, 21).await;
    assert_eq!(log.len(), 21);
    assert_eq!(log[20].2, "m19");
    let next = a
        .ok(
            "sendMessage",
            json!({"conversation": conv, "text": "again"}),
        )
        .await;
    assert_eq!(next["payload"]["seq"], 22);
    // The old admin data survived too: the same users, and a new one gets fresh ids.
    let bob2 = a.ok("getUser", json!({"user_name": bob.full_name})).await;
    assert_eq!(bob2["payload"]["object"]["user_id"], bob.im_id);
}

#[tokio::test]
async fn the_store_epoch_survives_restarts_and_changes_with_a_new_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let epoch_of = |server: &RunningServer| {
        let url = server.ws_url();
        async move {
            let mut c = Client::connect(&url).await;
            c.login("alice@chatwire.local", "alice-password").await;
            let me = c
                .ok("getUser", json!({"user_name": "alice@chatwire.local"}))
                .await;
            me["payload"]["object"]["store_epoch"]
                .as_str()
                .expect("self view has store_epoch")
                .to_string()
        }
    };
    let server = RunningServer::start(chatwire_server::testing::config(Storage::Sqlite(
        dir.path().into(),
    )))
    .await
    .unwrap();
    server
        .add_user("alice", "Alice", "alice-password")
        .await
        .unwrap();
    let first = epoch_of(&server).await;
    drop(server);
    let server = RunningServer::start(chatwire_server::testing::config(Storage::Sqlite(
        dir.path().into(),
    )))
    .await
    .unwrap();
    assert_eq!(epoch_of(&server).await, first, "a restart keeps the epoch");
    drop(server);

    let other = tempfile::tempdir().unwrap();
    let server = RunningServer::start(chatwire_server::testing::config(Storage::Sqlite(
        other.path().into(),
    )))
    .await
    .unwrap();
    server
        .add_user("alice", "Alice", "alice-password")
        .await
        .unwrap();
    assert_ne!(
        epoch_of(&server).await,
        first,
        "a new data dir has a new epoch"
    );
    // Others never see it.
    server.add_user("bob", "Bob", "bob-password").await.unwrap();
    let mut c = Client::connect(&server.ws_url()).await;
    c.login("bob@chatwire.local", "bob-password").await;
    let alice = c
        .ok("getUser", json!({"user_name": "alice@chatwire.local"}))
        .await;
    assert!(alice["payload"]["object"].get("store_epoch").is_none());
}
