//! Crash safety: the server is killed with SIGKILL at random moments while several SDK clients
//! send; after every restart (same data dir, same port) every acknowledged message is in the
//! log once with its seq, no seq is reused, and every client's stream holds every message event
//! of the conversation exactly once, in order.
//!
//! The server runs in a child process: this test binary re-executes itself with
//! `CHATWIRE_CRASH_CHILD` set, and the `crash_child` test then serves instead of testing.
//! `CHATWIRE_CRASH_KILLS` sets the number of kills (default 4; `scripts/crash_loop.sh` runs more).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatwire::{
    ConnectionState, Event, EventRange, Messenger, NewConversation, ReconnectPolicy, Seq,
};
use chatwire_server::{RunningServer, Storage};
use futures::StreamExt;

const CHILD_ENV: &str = "CHATWIRE_CRASH_CHILD";

/// (seq, text) pairs shared between tasks.
type Log = Arc<Mutex<Vec<(u64, String)>>>;

/// Not a test: the server process of `survives_sigkill_under_load` (idle otherwise).
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, addr) = spec.split_once('|').expect("dir|addr");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = chatwire_server::testing::config(Storage::Sqlite(dir.into()));
        config.listen = addr.parse().unwrap();
        config.api_key = Some("crash".into());
        config.limits.requests_per_second = 0;
        config.limits.requests_per_minute = 0;
        let server = RunningServer::start(config)
            .await
            .expect("child server starts");
        // Users are created once; on restarts they already exist.
        for name in ["u0", "u1", "u2"] {
            let _ = server.add_user(name, name, "crash-password").await;
        }
        println!("CHILD READY");
        std::future::pending::<()>().await;
    });
}

struct ChildServer(Child);

impl ChildServer {
    fn start(dir: &std::path::Path, addr: SocketAddr) -> ChildServer {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}|{addr}", dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ChildServer(child)
    }
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_sigkill_under_load() {
    let kills: usize = std::env::var("CHATWIRE_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut child = ChildServer::start(dir.path(), addr);
    wait_listening(addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // users created
    let url = format!("ws://{addr}");
    let policy = ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200));
    let mut clients = Vec::new();
    for i in 0..3 {
        let m = Messenger::builder(&url)
            .password(format!("u{i}@chatwire.local"), "crash-password")
            .reconnect(policy.clone())
            .request_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap();
        clients.push(m);
    }
    let ids: Vec<_> = clients.iter().map(|m| m.user_id()).collect();
    let conv = clients[0]
        .create_conversation(NewConversation::chat().participants(ids[1..].iter().copied()))
        .await
        .unwrap()
        .id;

    // Every stream records every message event (seq, text) it delivers.
    let seen: Vec<Log> = (0..3).map(|_| Arc::default()).collect();
    for (m, seen) in clients.iter().zip(&seen) {
        let mut events = m.events();
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if let Event::MessageSent { meta, message } = e {
                    if message.conversation == conv {
                        seen.lock()
                            .unwrap()
                            .push((meta.seq.unwrap().get(), message.text));
                    }
                }
            }
        });
    }

    // Senders: each acknowledged message is recorded with its seq.
    let acked: Log = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for (i, m) in clients.iter().enumerate() {
        let (m, acked, stop) = (m.clone(), acked.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let text = format!("c{i}-{n}");
                n += 1;
                match m.send_message(conv, text.clone()).await {
                    Ok(_) => {
                        // The seq is the log position; find it from our own result later.
                        acked.lock().unwrap().push((0, text));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }));
    }
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(100 + rand::random::<u64>() % 300)).await;
        child.kill();
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 100)).await;
        child = ChildServer::start(dir.path(), addr);
        wait_listening(addr).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for s in senders {
        s.await.unwrap();
    }
    for m in &clients {
        let mut w = m.connection_state_watch();
        tokio::time::timeout(
            Duration::from_secs(20),
            w.wait_for(|s| *s == ConnectionState::Live),
        )
        .await
        .unwrap()
        .unwrap();
    }

    // The log: gap-free, unique seqs, every acknowledged message exactly once.
    let last = clients[0]
        .get_conversation(conv)
        .await
        .unwrap()
        .last_seq
        .get();
    let mut log: BTreeMap<u64, String> = BTreeMap::new();
    let mut from = 1;
    while from <= last {
        let to = (from + 99).min(last);
        let replay = clients[0]
            .retransmit_events(conv, EventRange::between(Seq(from), Seq(to)))
            .await
            .unwrap();
        for e in replay.events {
            let seq = e.seq().unwrap().get();
            if let Event::MessageSent { message, .. } = e {
                assert!(log.insert(seq, message.text).is_none(), "seq {seq} twice");
            }
        }
        from = to + 1;
    }
    let acked = acked.lock().unwrap().clone();
    let mut texts: Vec<&String> = log.values().collect();
    texts.sort();
    let before = texts.len();
    texts.dedup();
    assert_eq!(before, texts.len(), "a message stored twice");
    for (_, text) in &acked {
        assert!(
            log.values().any(|t| t == text),
            "acknowledged message {text} lost"
        );
    }

    // Every stream: every message of the log exactly once, in seq order.
    let expected: Vec<(u64, String)> = log.into_iter().collect();
    for (i, seen) in seen.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = seen.lock().unwrap().clone();
            if got.len() >= expected.len() || tokio::time::Instant::now() > deadline {
                assert_eq!(got, expected, "client {i}'s stream");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "crash: {kills} kills survived, {} acknowledged messages, {} events verified per stream",
        acked.len(),
        expected.len()
    );
}
