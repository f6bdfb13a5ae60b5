//! Support for the several-node tests: PostgreSQL and nats-server from the project's scripts,
//! nodes in this process or as spawned processes, and stream assertions.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatwire_server::store::PostgresUrl;
use chatwire_server::{Config, RunningServer, Storage};
use serde_json::{json, Value};

use crate::common::{Client, Harness, TestUser};

const PG_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
const NATS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/nats.sh");

/// A service started by one of the scripts (`start` prints `DIR=` and `URL=`), stopped when
/// dropped.
pub struct Service {
    script: &'static str,
    dir: String,
    url: String,
}

impl Service {
    pub fn start(script: &'static str) -> Result<Service, String> {
        let o = Command::new("bash")
            .args([script, "start"])
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).to_string());
        }
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(str::to_string)
        };
        match (get("DIR="), get("URL=")) {
            (Some(dir), Some(url)) => Ok(Service { script, dir, url }),
            _ => Err(format!("unexpected output: {out}")),
        }
    }

    pub fn run(&self, cmd: &str) {
        let ok = Command::new("bash")
            .args([self.script, cmd, &self.dir])
            .stdout(Stdio::null())
            .status()
            .expect("script runs")
            .success();
        assert!(ok, "{} {cmd} failed", self.script);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([self.script, "stop", &self.dir])
            .status();
    }
}

/// PostgreSQL and NATS for one test.
pub struct Backend {
    pub pg: Service,
    pub nats: Service,
}

impl Backend {
    /// Starts both; `None` (skip) only when CI is not set.
    pub fn start() -> Option<Backend> {
        let started = Service::start(PG_SCRIPT).and_then(|pg| {
            let nats = Service::start(NATS_SCRIPT)?;
            Ok(Backend { pg, nats })
        });
        match started {
            Ok(b) => Some(b),
            Err(why) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL or nats-server could not be started (CI=true): {why}");
                }
                eprintln!("SKIP: PostgreSQL or nats-server could not be started ({why})");
                None
            }
        }
    }

    /// A node's configuration at the default limits.
    pub fn config(&self, api_key: &str) -> Config {
        let mut c =
            chatwire_server::testing::config(Storage::Postgres(PostgresUrl::new(&self.pg.url)));
        c.nats = Some(self.nats.url.clone());
        c.api_key = Some(api_key.to_string());
        c
    }

    /// Starts `n` nodes in this process; the first one's harness creates users.
    pub async fn nodes(&self, n: usize) -> Vec<Harness> {
        let key = format!("k-{}", uuid::Uuid::new_v4().simple());
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(Harness::with_config(self.config(&key)).await);
        }
        out
    }
}

/// Logs `user` in on `node` (opted in to idempotency keys).
pub async fn login(node: &RunningServer, user: &TestUser) -> Client {
    let mut c = Client::connect(&node.ws_url()).await;
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

/// Reads frames until `pred` holds for the collected events of `conv` (or the deadline).
pub async fn collect_until(
    c: &mut Client,
    conv: &str,
    got: &mut Vec<Value>,
    deadline: Duration,
    done: impl Fn(&[Value]) -> bool,
) {
    let end = Instant::now() + deadline;
    while !done(got) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Some(v) = c.next_within(left).await else {
            break;
        };
        let object = &v["payload"]["object"];
        if (object["conversation"] == conv || object["uuid"] == conv)
            && v["payload"]["seq"].is_u64()
        {
            got.push(v);
        }
    }
}

pub fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["payload"]["seq"].as_u64().unwrap())
        .collect()
}

/// Asserts that a stream holds every seq from `first` to `last` once, in order.
pub fn assert_in_order(who: &str, events: &[Value], first: u64, last: u64) {
    let got = seqs(events);
    let want: Vec<u64> = (first..=last).collect();
    assert_eq!(got, want, "{who}: every event once, in seq order");
}

pub async fn last_seq(c: &mut Client, conv: &str) -> u64 {
    let got = c.ok("getConversation", json!({"uuid": conv})).await;
    got["payload"]["seq"].as_u64().unwrap()
}

pub struct Process {
    pub child: Child,
    pub url: String,
}

impl Process {
    pub async fn start(b: &Backend, api_key: &str, fault: Option<&str>) -> Process {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatwire-server"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("CHATWIRE_POSTGRES", &b.pg.url)
            .env("CHATWIRE_NATS", &b.nats.url)
            .env("CHATWIRE_API_KEY", api_key)
            .env("CHATWIRE_DOMAIN", chatwire_server::DEFAULT_DOMAIN)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(f) = fault {
            cmd.env("CHATWIRE_FAULT", f);
        }
        let child = cmd.spawn().expect("chatwire-server starts");
        let http = format!("http://127.0.0.1:{port}/readyz");
        let client = reqwest::Client::new();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(&http).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < end, "spawned node never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Process {
            child,
            url: format!("ws://127.0.0.1:{port}/platform"),
        }
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in on `node` and returns the access token.
pub async fn a_tokens(node: &RunningServer, user: &TestUser) -> String {
    let mut c = Client::connect(&node.ws_url()).await;
    let v = c.login(&user.full_name, &user.password).await;
    v["params"][1]["OAuth"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("an access token in {v}"))
        .to_string()
}
