//! Server-connection fuzz check, shared by the `server_session` cargo-fuzz target and the
//! stable regression test `server/tests/fuzz_regressions.rs` (which includes this file with
//! `#[path]`).
//!
//! One real in-process server (memory storage, rate limits and login throttling off so the
//! inputs reach the engine) is started once per process. Each input gets a fresh WebSocket
//! connection logged in as a fixed user; the input is split into frames at `\n` (at most
//! [`MAX_FRAMES`]; chunks that are not UTF-8 go out as binary frames), sent, and followed by a
//! sentinel `getSubscriptionList`. The server must answer the sentinel (or close the connection
//! for a documented reason), and afterwards a fresh connection must still log in and get its
//! subscription list.

use std::sync::OnceLock;
use std::time::Duration;

use chatwire_server::{RunningServer, Storage};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Frames taken from one input.
pub const MAX_FRAMES: usize = 64;
/// How long the server may take to answer the sentinel.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "fuzz-password-1";
const SENTINEL: &str = "fuzz-sentinel-request";
const PROBE: &str = "fuzz-liveness-probe";

/// The server shared by every input of one process.
pub struct Fixture {
    rt: Runtime,
    server: RunningServer,
    /// Full user name of the fixed logged-in user.
    user: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The process-wide server (started on first use).
pub fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (server, user) = rt.block_on(async {
            let mut config = chatwire_server::testing::config(Storage::Memory);
            config.limits.requests_per_second = 0;
            config.limits.requests_per_minute = 0;
            config.limits.failed_logins_per_name = 0;
            config.limits.failed_logins_per_peer = 0;
            let server = RunningServer::start(config).await.expect("server starts");
            let me = server
                .add_user("fuzzer", "Fuzzer", PASSWORD)
                .await
                .expect("add user");
            // Other users exist so that ids 2 and 3 name real people (subscribe, participants).
            for name in ["buddy", "carol"] {
                server
                    .add_user(name, name, "other-password-1")
                    .await
                    .expect("add user");
            }
            let user = format!("{}@{}", me.user_name, server.domain());
            (server, user)
        });
        Fixture { rt, server, user }
    })
}

/// Splits an input into the frames sent to the server.
pub fn split_frames(data: &[u8]) -> Vec<Message> {
    data.split(|b| *b == b'\n')
        .filter(|chunk| !chunk.is_empty())
        .take(MAX_FRAMES)
        .map(|chunk| match std::str::from_utf8(chunk) {
            Ok(text) => Message::Text(text.to_string().into()),
            Err(_) => Message::Binary(chunk.to_vec().into()),
        })
        .collect()
}

/// Feeds one input to a fresh logged-in connection; panics if the server stops answering.
pub fn server_session(data: &[u8]) {
    let fx = fixture();
    let frames = split_frames(data);
    fx.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), run(fx, frames))
            .await
            .expect("server_session: input took more than 60 s");
    });
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the reader task saw.
enum Seen {
    Text(String),
    Closed(Option<(u16, String)>),
}

async fn run(fx: &Fixture, frames: Vec<Message>) {
    let ws = login(fx).await;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Read concurrently, so a chatty input never makes us a slow consumer.
    let reader = tokio::spawn(async move {
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Text(t)) => {
                    let _ = tx.send(Seen::Text(t.to_string()));
                }
                Ok(Message::Close(frame)) => {
                    let _ = tx.send(Seen::Closed(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    ));
                    return;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(Seen::Closed(None));
    });

    let mut open = true;
    for frame in frames {
        if sink.send(frame).await.is_err() {
            open = false;
            break;
        }
    }
    if open {
        let sentinel = json!({"service": "chat", "event": "getSubscriptionList",
                              "request_uuid": SENTINEL});
        let _ = sink.send(Message::Text(sentinel.to_string().into())).await;
    }
    let outcome = tokio::time::timeout(ANSWER_TIMEOUT, async {
        while let Some(seen) = rx.recv().await {
            match seen {
                Seen::Text(t) if request_uuid(&t).as_deref() == Some(SENTINEL) => {
                    return Seen::Text(t)
                }
                Seen::Text(_) => {}
                closed @ Seen::Closed(_) => return closed,
            }
        }
        Seen::Closed(None)
    })
    .await
    .expect("server_session: no answer to the sentinel request and no close");
    if let Seen::Closed(close) = outcome {
        // A close is fine only for a documented reason the input may legitimately cause
        // (too many failed logins 4002, slow consumer 4004, oversized frame 1009, policy 1008,
        // another 4xxx limit); an abrupt end or an internal error (1011) is a finding.
        match close {
            Some((code, _)) if code == 1008 || code == 1009 || (4000..5000).contains(&code) => {}
            other => panic!("server_session: connection ended unexpectedly: {other:?}"),
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;

    // The server is still alive: a fresh connection logs in and gets its subscription list.
    let mut ws = login(fx).await;
    let probe = json!({"service": "chat", "event": "getSubscriptionList", "request_uuid": PROBE});
    ws.send(Message::Text(probe.to_string().into()))
        .await
        .expect("send probe");
    let reply = next_with_uuid(&mut ws, PROBE).await;
    assert_eq!(
        reply["event"], "onGetSubscriptionList",
        "liveness probe answered with {reply}"
    );
    let _ = ws
        .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }))
        .await;
}

fn request_uuid(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    v.get("request_uuid")?.as_str().map(str::to_string)
}

/// Connects and logs in as the fixed user; panics if that fails.
async fn login(fx: &Fixture) -> Ws {
    let (mut ws, _) = tokio::time::timeout(
        ANSWER_TIMEOUT,
        tokio_tungstenite::connect_async(fx.server.ws_url()),
    )
    .await
    .expect("server_session: connect timed out")
    .expect("server_session: connect failed");
    let login = json!({"name": "login", "params": [fx.user, PASSWORD, {}]});
    ws.send(Message::Text(login.to_string().into()))
        .await
        .expect("send login");
    let reply = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("server sent invalid JSON");
                    match v["name"].as_str() {
                        Some("__connectionSuccessful") => continue,
                        _ => return v,
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("server_session: connection ended during login: {other:?}"),
            }
        }
    })
    .await
    .expect("server_session: no login answer");
    assert_eq!(
        reply["name"], "loginSuccessful",
        "server_session: the fixed user cannot log in: {reply}"
    );
    ws
}

async fn next_with_uuid(ws: &mut Ws, uuid: &str) -> Value {
    tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("server sent invalid JSON");
                    if v["request_uuid"] == uuid {
                        return v;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("server_session: connection ended before the answer: {other:?}"),
            }
        }
    })
    .await
    .expect("server_session: no answer to the liveness probe")
}
