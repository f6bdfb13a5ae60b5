//! Exactly once, end to end: the echo bot of `examples/echo_bot.rs` (its own code, included
//! below) runs in a child process on a `SqliteStore` and is killed with SIGKILL at random
//! moments, half of the time right after it printed that the server confirmed a reply (between
//! the reply's commit and the acknowledgement of the message it answers), and restarted on the
//! same store. The server, another child process on a SQLite data dir with its default limits,
//! is killed and restarted a few times too. Meanwhile Alice sends messages. At the end, read from
//! a separate messenger, every message of Alice has exactly one `echo:` answer.
//!
//! Both children are this test binary, re-executed with `CHATWIRE_EXACTLY_ONCE_SERVER` or
//! `CHATWIRE_EXACTLY_ONCE_BOT` set (the `*_child` tests then serve instead of testing).
//! `CHATWIRE_EXACTLY_ONCE_KILLS` sets the number of bot kills (default 50),
//! `CHATWIRE_EXACTLY_ONCE_SERVER_KILLS` the number of server kills (default 3).

#[allow(dead_code)]
#[path = "../examples/echo_bot.rs"]
mod echo_bot;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatwire::{ConversationId, Error, Event, Messenger, NewConversation, ReconnectPolicy};
use chatwire_server::{RunningServer, Storage};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

const SERVER_ENV: &str = "CHATWIRE_EXACTLY_ONCE_SERVER";
const BOT_ENV: &str = "CHATWIRE_EXACTLY_ONCE_BOT";
const PASSWORD: &str = "exactly-once-password";
const BOT: &str = "bot@chatwire.local";
const ALICE: &str = "alice@chatwire.local";

/// Quick reconnects: the server is down for well under a second.
fn reconnect() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200))
}

/// Not a test: the server process of `every_message_is_answered_exactly_once` (idle otherwise).
#[test]
fn exactly_once_server_child() {
    let Ok(spec) = std::env::var(SERVER_ENV) else {
        return;
    };
    let (dir, addr) = spec.split_once('|').expect("dir|addr");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The server's default limits; only the password hashing is the fast test one.
        let mut config = chatwire_server::testing::config(Storage::Sqlite(dir.into()));
        config.listen = addr.parse().unwrap();
        let server = RunningServer::start(config)
            .await
            .expect("child server starts");
        // Users are created once; on restarts they already exist.
        for name in ["alice", "bot"] {
            let _ = server.add_user(name, name, PASSWORD).await;
        }
        println!("SERVER READY");
        std::future::pending::<()>().await;
    });
}

/// Not a test: the bot process of `every_message_is_answered_exactly_once` (idle otherwise).
#[test]
fn exactly_once_bot_child() {
    let Ok(spec) = std::env::var(BOT_ENV) else {
        return;
    };
    let (url, store) = spec.split_once('|').expect("url|store");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let messenger = loop {
            let builder = echo_bot::builder(url, BOT, PASSWORD, Path::new(store))
                .expect("the store opens")
                .reconnect(reconnect());
            match builder.connect().await {
                Ok(m) => break m,
                // The server is restarting.
                Err(e @ (Error::Connect { .. } | Error::Timeout(_) | Error::Disconnected)) => {
                    eprintln!("bot child: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("bot child cannot start: {e}"),
            }
        };
        println!("BOT READY");
        echo_bot::run(&messenger, std::future::pending::<()>()).await;
    });
}

/// A child process (this binary), its stdout lines on a channel.
struct ChildProcess {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl ChildProcess {
    fn spawn(test: &str, env: &str, value: String) -> ChildProcess {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(env, value)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProcess { child, lines }
    }

    /// Waits for a line containing `needle` (lines printed before this call count only if
    /// `fresh` is false); `None` after `timeout`. (The test harness prints the test's name at
    /// the start of the child's first line.)
    async fn line(&mut self, needle: &str, fresh: bool, timeout: Duration) -> Option<String> {
        if fresh {
            while self.lines.try_recv().is_ok() {}
        }
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// SIGKILL, and wait until it is gone.
    async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

async fn start_server(dir: &Path, addr: SocketAddr) -> ChildProcess {
    let mut server = ChildProcess::spawn(
        "exactly_once_server_child",
        SERVER_ENV,
        format!("{}|{addr}", dir.display()),
    );
    server
        .line("SERVER READY", false, Duration::from_secs(20))
        .await
        .expect("the server child starts");
    server
}

fn start_bot(url: &str, store: &Path) -> ChildProcess {
    ChildProcess::spawn(
        "exactly_once_bot_child",
        BOT_ENV,
        format!("{url}|{}", store.display()),
    )
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How one of Alice's sends ended (the error as text).
type Sent = Result<(), String>;

/// Alice's messages and the bot's answers, as the conversation's history holds them.
#[derive(Default)]
struct Tally {
    /// Alice's messages: seq -> text.
    messages: BTreeMap<u64, String>,
    /// The bot's answers: the text answered -> the seqs of the answers.
    answers: HashMap<String, Vec<u64>>,
}

impl Tally {
    async fn read(checker: &Messenger, conv: ConversationId, bot: chatwire::UserId) -> Tally {
        let mut tally = Tally::default();
        let mut history = checker.history(conv);
        while let Some(event) = history.next().await {
            let event = event.expect("history readable");
            let Event::MessageSent { meta, message } = event else {
                continue;
            };
            let seq = meta.seq.expect("persisted").get();
            if meta.initiator == Some(bot) {
                let answered = message
                    .text
                    .strip_prefix("echo: ")
                    .unwrap_or(message.text.as_str());
                tally
                    .answers
                    .entry(answered.to_string())
                    .or_default()
                    .push(seq);
            } else {
                tally.messages.insert(seq, message.text);
            }
        }
        tally
    }

    fn all_answered(&self) -> bool {
        self.messages
            .values()
            .all(|text| self.answers.contains_key(text))
    }

    /// Every way the history differs from "each message answered exactly once", with the
    /// idempotency keys the bot used (`echo:<conversation>:<seq>`).
    fn problems(&self, conv: ConversationId) -> Vec<String> {
        let mut problems = Vec::new();
        let mut missing = Vec::new();
        for (seq, text) in &self.messages {
            let key = format!("echo:{conv}:{seq}");
            match self.answers.get(text).map(Vec::as_slice) {
                None => missing.push(key),
                Some([_]) => {}
                Some(replies) => problems.push(format!(
                    "{key} ({text:?}) answered {} times, at seqs {replies:?}",
                    replies.len()
                )),
            }
        }
        if !missing.is_empty() {
            problems.push(format!(
                "{} messages never answered: {}",
                missing.len(),
                missing.join(", ")
            ));
        }
        let asked: std::collections::HashSet<&String> = self.messages.values().collect();
        for (text, replies) in &self.answers {
            if !asked.contains(text) {
                problems.push(format!(
                    "answers at {replies:?} to an unknown message {text:?}"
                ));
            }
        }
        problems
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_answered_exactly_once() {
    let kills = env_number("CHATWIRE_EXACTLY_ONCE_KILLS", 50);
    let server_kills = env_number("CHATWIRE_EXACTLY_ONCE_SERVER_KILLS", 3);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("server"), dir.path().join("bot.db"));
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("ws://{addr}");
    let mut server = start_server(&data, addr).await;
    let login = |user: &'static str| {
        Messenger::builder(&url)
            .password(user, PASSWORD)
            .reconnect(reconnect())
            .connect()
    };
    let alice = login(ALICE).await.unwrap();
    let bot_id = alice.get_user_by_name("bot").await.unwrap().id;
    let conv = alice
        .create_conversation(NewConversation::chat().participant(bot_id))
        .await
        .unwrap()
        .id;

    // The bot's first start: its store learns the conversation before any kill.
    let mut bot = start_bot(&url, &store);
    bot.line("BOT READY", false, Duration::from_secs(20))
        .await
        .expect("the bot child starts");
    alice.send_message(conv, "m0").await.unwrap();
    bot.line("answered", false, Duration::from_secs(20))
        .await
        .expect("the bot answers");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Alice sends until the kills are over, each message once (a send whose outcome is unknown
    // is not repeated: the history decides what was sent).
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<(String, Sent)>>> = Arc::default();
    let sender = {
        let (alice, stop, outcomes) = (alice.clone(), stop.clone(), outcomes.clone());
        tokio::spawn(async move {
            let mut i = 1;
            while !stop.load(Ordering::SeqCst) {
                let text = format!("m{i}");
                let sent = alice
                    .send_message(conv, &text)
                    .idempotency_key(format!("alice:{i}"))
                    .await;
                outcomes
                    .lock()
                    .unwrap()
                    .push((text, sent.map(drop).map_err(|e| e.to_string())));
                i += 1;
                tokio::time::sleep(Duration::from_millis(100 + rand::random::<u64>() % 150)).await;
            }
        })
    };

    let mut after_answer = 0;
    let mut server_kills_done = 0;
    for k in 0..kills {
        if k % 2 == 0 {
            // Right after the server confirmed a reply: the answered message is not
            // acknowledged yet (that happens when the bot asks for the next event).
            if bot
                .line("answered", true, Duration::from_secs(3))
                .await
                .is_some()
            {
                after_answer += 1;
            }
        } else {
            // Anywhere: while logging in, catching up, answering or waiting.
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 600)).await;
        }
        bot.kill().await;
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 50)).await;
        bot = start_bot(&url, &store);
        // The server kills, spread over the run: while the new bot logs in, catches up or
        // answers, and Alice sends.
        if server_kills_done < server_kills
            && (k + 1) * (server_kills + 1) / kills > server_kills_done
        {
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 500)).await;
            server.kill().await;
            server_kills_done += 1;
            tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 200)).await;
            server = start_server(&data, addr).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    sender.await.unwrap();

    // The last bot runs undisturbed; read the history from a messenger of its own.
    let checker = login(ALICE).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tally = Tally::read(&checker, conv, bot_id).await;
    while !tally.all_answered() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tally = Tally::read(&checker, conv, bot_id).await;
    }
    // Late duplicates (replies resent after the last restart) would come within this.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = Tally::read(&checker, conv, bot_id).await;
    bot.kill().await;

    let outcomes = outcomes.lock().unwrap().clone();
    let mut problems = tally.problems(conv);
    let logged: std::collections::HashSet<&String> = tally.messages.values().collect();
    for (text, outcome) in &outcomes {
        if outcome.is_ok() && !logged.contains(text) {
            problems.push(format!(
                "Alice's confirmed message {text:?} is not in the history"
            ));
        }
    }
    let unknown = outcomes.iter().filter(|(_, o)| o.is_err()).count();
    let report = format!(
        "{kills} bot kills ({after_answer} right after a confirmed reply), {server_kills_done} \
         server kills, {} messages in the history ({} sends, {unknown} failed or unknown), \
         {:.1} s",
        tally.messages.len(),
        outcomes.len() + 1,
        started.elapsed().as_secs_f64()
    );
    println!("exactly once: {report}");
    let keys = chatwire_server::Limits::default()
        .extensions()
        .has(chatwire_protocol::EXT_IDEMPOTENCY);
    assert!(
        problems.is_empty(),
        "{report}; the server {} idempotency keys; {} problems:\n  {}",
        if keys { "honours" } else { "does not honour" },
        problems.len(),
        problems.join("\n  ")
    );
}
