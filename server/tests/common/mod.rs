//! Test support: a real server in-process and a raw WebSocket client speaking JSON frames.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use chatwire_server::{RunningServer, Storage};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running server plus an HTTP client for the admin API.
pub struct Harness {
    pub server: RunningServer,
    pub http: reqwest::Client,
}

/// A user created through the admin API.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub admin_id: u64,
    pub im_id: u64,
    pub name: String,
    pub full_name: String,
    pub password: String,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with_config(chatwire_server::testing::config(Storage::Memory)).await
    }

    /// A server without the per-connection rate limit, for tests that send bursts of requests
    /// (the limit itself is tested in bad_input.rs).
    pub async fn unlimited() -> Harness {
        let mut config = chatwire_server::testing::config(Storage::Memory);
        config.limits.requests_per_second = 0;
        config.limits.requests_per_minute = 0;
        Self::with_config(config).await
    }

    pub async fn with_config(config: chatwire_server::Config) -> Harness {
        let server = RunningServer::start(config).await.expect("server starts");
        Harness {
            server,
            http: reqwest::Client::new(),
        }
    }

    /// Calls an admin API method with query parameters (api_key added).
    pub async fn admin(&self, method: &str, params: &[(&str, &str)]) -> Value {
        let mut q: Vec<(&str, &str)> = params.to_vec();
        let key = self.server.api_key().unwrap().to_string();
        q.push(("api_key", &key));
        let resp = self
            .http
            .get(format!("{}/{method}", self.server.admin_url()))
            .query(&q)
            .send()
            .await
            .expect("admin request");
        resp.json().await.expect("admin json")
    }

    /// Creates a user through the admin API and finds their IM id with getUser.
    pub async fn user(&self, name: &str) -> TestUser {
        let password = format!("pw-{name}-secret");
        let r = self
            .admin(
                "AddUser",
                &[
                    ("user_name", name),
                    ("user_display_name", name),
                    ("user_password", &password),
                ],
            )
            .await;
        let admin_id = r["user_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("AddUser failed: {r}"));
        let full_name = format!("{name}@{}", self.server.domain());
        let mut c = self.connect().await;
        c.login(&full_name, &password).await;
        let me = c.request("getUser", json!({"user_name": full_name})).await;
        let im_id = me["payload"]["object"]["user_id"].as_u64().unwrap();
        TestUser {
            admin_id,
            im_id,
            name: name.into(),
            full_name,
            password,
        }
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.server.ws_url()).await
    }

    /// A connection logged in as `user`.
    pub async fn login(&self, user: &TestUser) -> Client {
        let mut c = self.connect().await;
        c.login(&user.full_name, &user.password).await;
        c.user = Some(user.im_id);
        c
    }
}

/// A raw client: sends JSON frames, buffers frames it was not waiting for.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub pending: VecDeque<Value>,
    pub user: Option<u64>,
    pub closed: Option<(u16, String)>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let mut c = Client {
            ws,
            pending: VecDeque::new(),
            user: None,
            closed: None,
        };
        let first = c.next().await.expect("first frame");
        assert_eq!(
            first["name"], "__connectionSuccessful",
            "first frame: {first}"
        );
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, t: &str) {
        self.ws
            .send(Message::Text(t.to_string().into()))
            .await
            .expect("send");
    }

    /// Reads one frame from the socket (None on close / timeout).
    async fn read(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(timeout, self.ws.next()).await.ok()??;
            match msg {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(&t).expect("server sends JSON"))
                }
                Ok(Message::Close(f)) => {
                    self.closed = Some(
                        f.map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new())),
                    );
                    return None;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next frame (buffered first).
    pub async fn next(&mut self) -> Option<Value> {
        if let Some(v) = self.pending.pop_front() {
            return Some(v);
        }
        self.read(TIMEOUT).await
    }

    /// The next frame within `d`, if any.
    pub async fn next_within(&mut self, d: Duration) -> Option<Value> {
        if let Some(v) = self.pending.pop_front() {
            return Some(v);
        }
        self.read(d).await
    }

    /// Asserts nothing arrives within `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        if let Some(v) = self.next_within(d).await {
            panic!("unexpected frame: {v}");
        }
    }

    /// Waits for the next frame with this event name, keeping others buffered.
    pub async fn next_event(&mut self, event: &str) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|v| v["event"] == event || v["name"] == event)
        {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let v = self
                .read(TIMEOUT)
                .await
                .unwrap_or_else(|| panic!("no {event} frame (closed: {:?})", self.closed));
            if v["event"] == event || v["name"] == event {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Waits until the connection is closed; returns (code, reason).
    pub async fn expect_close(&mut self) -> (u16, String) {
        self.pending.clear();
        while self.closed.is_none() {
            if self.read(TIMEOUT).await.is_none() && self.closed.is_none() {
                panic!("connection ended without a close frame");
            }
        }
        self.closed.clone().unwrap()
    }

    pub async fn session(&mut self, name: &str, params: Value) -> Value {
        self.send(json!({"name": name, "params": params})).await;
        loop {
            let v = self
                .read(TIMEOUT)
                .await
                .unwrap_or_else(|| panic!("no answer to {name} (closed: {:?})", self.closed));
            if v.get("name").is_some() && v["name"] != "__pong" {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Password login; panics unless it succeeds. Returns the loginSuccessful frame.
    pub async fn login(&mut self, user: &str, password: &str) -> Value {
        let v = self.session("login", json!([user, password, {}])).await;
        assert_eq!(v["name"], "loginSuccessful", "login failed: {v}");
        v
    }

    /// Sends a messaging request and returns the first frame carrying its request_uuid.
    pub async fn request(&mut self, event: &str, payload: Value) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        self.send(
            json!({"service": "chat", "event": event, "request_uuid": id, "payload": payload}),
        )
        .await;
        self.reply_to(&id).await
    }

    pub async fn reply_to(&mut self, id: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|v| v["request_uuid"] == id) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let v = self
                .read(TIMEOUT)
                .await
                .unwrap_or_else(|| panic!("no reply to {id} (closed: {:?})", self.closed));
            if v["request_uuid"] == id {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Sends a request that must succeed; returns its result frame.
    pub async fn ok(&mut self, event: &str, payload: Value) -> Value {
        let v = self.request(event, payload.clone()).await;
        assert_ne!(v["event"], "onError", "{event} {payload} failed: {v}");
        v
    }

    /// Sends a request that must fail; returns the error code.
    pub async fn err(&mut self, event: &str, payload: Value) -> u64 {
        let v = self.request(event, payload.clone()).await;
        assert_eq!(v["event"], "onError", "{event} {payload} should fail: {v}");
        v["payload"]["code"].as_u64().unwrap()
    }

    /// Creates a conversation and returns its uuid.
    pub async fn create(&mut self, payload: Value) -> String {
        let v = self.ok("createConversation", payload).await;
        v["payload"]["object"]["uuid"].as_str().unwrap().to_string()
    }
}
