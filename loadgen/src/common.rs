//! Connections, logins, users, markers, histograms and reports shared by the scenarios.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// Boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Result with a boxed error.
pub type Res<T> = Result<T, BoxError>;

/// Password of every generated user.
pub const PASSWORD: &str = "password-1";

/// Opens a WebSocket (TCP_NODELAY on).
pub async fn connect(url: &str) -> Res<Ws> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        let _ = s.set_nodelay(true);
    }
    Ok(ws)
}

/// Opens a WebSocket, retrying for up to `within`.
pub async fn connect_retry(url: &str, within: Duration) -> Res<Ws> {
    let deadline = Instant::now() + within;
    loop {
        match connect(url).await {
            Ok(ws) => return Ok(ws),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A generated user.
#[derive(Clone, Debug)]
pub struct User {
    /// Full name (`name@domain`).
    pub full: String,
    /// IM user id.
    pub id: i64,
}

/// One HTTP GET over a fresh TCP connection; returns the body.
pub async fn http_get(host: &str, path: &str) -> Res<String> {
    let mut s = TcpStream::connect(host).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((_, body)) => Ok(body.to_string()),
        None => Err(format!("bad HTTP reply: {text}").into()),
    }
}

/// Creates `count` users named `<prefix><i>` through the admin API, `concurrency` at a time.
pub async fn add_users(
    http: &str,
    api_key: &str,
    domain: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Res<Vec<User>> {
    let results: Vec<Res<User>> = futures::stream::iter(0..count)
        .map(|i| async move {
            let name = format!("{prefix}{i}");
            let path = format!(
                "/platform_api/AddUser?api_key={api_key}&user_name={name}&user_display_name={name}&user_password={PASSWORD}"
            );
            let body = http_get(http, &path).await?;
            let v: Value = serde_json::from_str(body.trim())
                .map_err(|e| format!("AddUser reply {body:?}: {e}"))?;
            let id = v["user_id"]
                .as_i64()
                .ok_or_else(|| format!("AddUser failed: {body}"))?;
            Ok(User {
                full: format!("{name}@{domain}"),
                id,
            })
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// How to log in.
pub enum Cred<'a> {
    /// Password login.
    Password,
    /// Access-token login.
    Token(&'a str),
}

/// Connects and logs in to chatwire; returns the socket and the access token.
pub async fn login(url: &str, user: &str, cred: Cred<'_>) -> Res<(Ws, String)> {
    let mut ws = connect(url).await?;
    let frame = match cred {
        Cred::Password => json!({"name": "login", "params": [user, PASSWORD, {}]}),
        Cred::Token(t) => json!({"name": "login", "params": [user, "", {"accessToken": t}]}),
    };
    ws.send(Message::text(frame.to_string())).await?;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| "login timed out")?;
        let Some(msg) = msg else {
            return Err("closed during login".into());
        };
        if let Message::Text(t) = msg? {
            let v: Value = serde_json::from_str(t.as_str())?;
            match v["name"].as_str() {
                Some("loginSuccessful") => {
                    let token = v["params"][1]["OAuth"]["accessToken"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    return Ok((ws, token));
                }
                Some("loginFailed") => return Err(format!("login failed: {t}").into()),
                _ => {}
            }
        }
    }
}

/// Logs in `conns` connections spread over `users` (one password login per user, token logins
/// for the rest), `concurrency` at a time. Connection `i` belongs to user `i % users.len()`.
pub async fn login_many(
    url: &str,
    users: &[User],
    conns: usize,
    concurrency: usize,
) -> Res<Vec<Ws>> {
    let (mut out, tokens) = login_users(url, &users[..users.len().min(conns)], concurrency).await?;
    out.extend(login_tokens(url, users, &tokens, out.len()..conns, concurrency).await?);
    Ok(out)
}

/// One password login per user; returns the sockets and the access tokens.
pub async fn login_users(
    url: &str,
    users: &[User],
    concurrency: usize,
) -> Res<(Vec<Ws>, Vec<String>)> {
    let first: Vec<Res<(Ws, String)>> = futures::stream::iter(users.iter())
        .map(|u| login(url, &u.full, Cred::Password))
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::with_capacity(users.len());
    let mut tokens = Vec::with_capacity(users.len());
    for r in first {
        let (ws, token) = r?;
        out.push(ws);
        tokens.push(token);
    }
    Ok((out, tokens))
}

/// Token logins for connections `range`; connection `i` is user `i % tokens.len()`.
pub async fn login_tokens(
    url: &str,
    users: &[User],
    tokens: &[String],
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Res<Vec<Ws>> {
    let n = tokens.len().max(1);
    let rest: Vec<Res<Ws>> = futures::stream::iter(range)
        .map(|i| {
            let u = &users[i % n];
            let token = tokens[i % n].clone();
            async move {
                match login(url, &u.full, Cred::Token(&token)).await {
                    Ok((ws, _)) => Ok(ws),
                    Err(_) => login(url, &u.full, Cred::Password).await.map(|(ws, _)| ws),
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    rest.into_iter().collect()
}

/// Sends a messaging request frame.
pub async fn request(ws: &mut Ws, event: &str, rid: &str, payload: Value) -> Res<()> {
    let frame = json!({"service": "chat", "event": event, "request_uuid": rid, "payload": payload});
    ws.send(Message::text(frame.to_string())).await?;
    Ok(())
}

/// Reads frames until one with `request_uuid == rid` and `event == want` (an `onError` with
/// that uuid fails).
pub async fn wait_reply(ws: &mut Ws, rid: &str, want: &str) -> Res<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| format!("timed out waiting for {want}"))?;
        let Some(msg) = msg else {
            return Err("closed".into());
        };
        if let Message::Text(t) = msg? {
            let v: Value = serde_json::from_str(t.as_str())?;
            if v["request_uuid"].as_str() == Some(rid) {
                if v["event"].as_str() == Some(want) {
                    return Ok(v);
                }
                if v["event"].as_str() == Some("onError") {
                    return Err(format!("request failed: {t}").into());
                }
            }
        }
    }
}

/// Creates a conversation with `participants` (besides the caller); returns its uuid.
pub async fn create_conversation(ws: &mut Ws, rid: &str, participants: &[i64]) -> Res<String> {
    let parts: Vec<Value> = participants
        .iter()
        .map(|id| json!({"user_id": id}))
        .collect();
    request(
        ws,
        "createConversation",
        rid,
        json!({"title": "bench", "participants": parts,
               "@type": "type/vox.store.IncomingNamespace.CreateConversation"}),
    )
    .await?;
    let v = wait_reply(ws, rid, "onCreateConversation").await?;
    Ok(v["payload"]["object"]["uuid"]
        .as_str()
        .ok_or("no conversation uuid")?
        .to_string())
}

/// The marker placed in every message text: `LG:<seq>:<scheduled ns since t0>:<sender>;`.
pub fn marker(seq: u64, sched_ns: u64, sender: u32) -> String {
    format!("LG:{seq}:{sched_ns}:{sender};")
}

/// A `sendMessage` frame carrying `text`.
pub fn send_frame(conv: &str, text: &str, rid: u64) -> String {
    format!(
        r#"{{"service":"chat","event":"sendMessage","request_uuid":"m{rid}","payload":{{"conversation":"{conv}","text":"{text}","@type":"type/vox.store.IncomingNamespace.SendMessage"}}}}"#
    )
}

/// Finds the marker in a frame: `(seq, scheduled ns, sender)`.
pub fn parse_marker(frame: &str) -> Option<(u64, u64, u32)> {
    let at = frame.find("LG:")?;
    let rest = &frame[at + 3..];
    let end = rest.find(';')?;
    let mut it = rest[..end].split(':');
    let seq = it.next()?.parse().ok()?;
    let ns = it.next()?.parse().ok()?;
    let sender = it.next()?.parse().ok()?;
    Some((seq, ns, sender))
}

/// A latency histogram in microseconds (1 us .. 10 min, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// What a receiving connection saw.
pub struct RecvResult {
    /// Latencies of deliveries from other connections (us from the scheduled send time).
    pub deliveries: Histogram<u64>,
    /// Latencies of this connection's own results (acks).
    pub acks: Histogram<u64>,
    /// `onError` frames.
    pub errors: u64,
    /// Closed by the server (e.g. 4004 slow consumer).
    pub closed: Option<String>,
    /// Nanoseconds since t0 of the last delivery or ack.
    pub last_ns: u64,
    /// Bytes of the frames that carried deliveries (a frame of several deliveries counts once).
    pub delivery_bytes: u64,
}

/// Shared counters the receivers update so the driver knows when everything arrived.
#[derive(Default)]
pub struct Progress {
    /// Deliveries so far (all connections).
    pub delivered: AtomicU64,
    /// Acks so far.
    pub acked: AtomicU64,
    /// Set to stop the receivers.
    pub stop: AtomicBool,
}

/// Reads a connection until `progress.stop`: classifies each marker as a delivery (sent by
/// another connection) or an ack (sent by `me`).
pub async fn recv_loop(
    mut stream: SplitStream<Ws>,
    me: u32,
    t0: Instant,
    progress: Arc<Progress>,
) -> RecvResult {
    let mut r = RecvResult {
        deliveries: histogram(),
        acks: histogram(),
        errors: 0,
        closed: None,
        last_ns: 0,
        delivery_bytes: 0,
    };
    let tick = Duration::from_millis(50);
    while !progress.stop.load(Ordering::Relaxed) {
        let msg = match tokio::time::timeout(tick, stream.next()).await {
            Err(_) => continue,
            Ok(None) => {
                r.closed.get_or_insert_with(|| "eof".into());
                break;
            }
            Ok(Some(Err(e))) => {
                r.closed = Some(e.to_string());
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        let text = match &msg {
            Message::Text(t) => t.as_str(),
            Message::Binary(b) => std::str::from_utf8(b).unwrap_or(""),
            Message::Close(c) => {
                r.closed = Some(format!("{c:?}"));
                break;
            }
            _ => continue,
        };
        // NATS delivers `MSG subj sid n\r\npayload\r\n`; chatwire JSON; floor the bare text.
        // A NATS frame may carry several messages, so look at every marker.
        let mut rest = text;
        let mut found = false;
        let mut delivery = false;
        while let Some((_, ns, sender)) = parse_marker(rest) {
            found = true;
            let now = t0.elapsed().as_nanos() as u64;
            let us = (now.saturating_sub(ns) / 1000).max(1);
            r.last_ns = now;
            if sender == me {
                let _ = r.acks.record(us);
                progress.acked.fetch_add(1, Ordering::Relaxed);
            } else {
                delivery = true;
                let _ = r.deliveries.record(us);
                progress.delivered.fetch_add(1, Ordering::Relaxed);
            }
            let at = rest.find("LG:").unwrap_or(0);
            rest = &rest[at + 3..];
        }
        if delivery {
            r.delivery_bytes += text.len() as u64;
        }
        if !found && (text.contains("\"onError\"") || text.starts_with("-ERR")) {
            r.errors += 1;
        }
    }
    r
}

/// One connection's writing half.
pub type Sink = SplitSink<Ws, Message>;

/// Sends `total` frames open-loop: frame `i` is scheduled at `i * period` after `start` (ns
/// since `t0`); `make(i, sched_ns)` returns the sink index and the frame text. When the
/// schedule is behind, frames go out back to back (latency still counts from the schedule).
pub async fn open_loop<F>(
    sinks: &mut [Sink],
    t0: Instant,
    start_ns: u64,
    rate: f64,
    total: u64,
    mut make: F,
) -> Res<u64>
where
    F: FnMut(u64, u64) -> (usize, String),
{
    let period = 1e9 / rate.max(0.001);
    let mut dirty = vec![false; sinks.len()];
    for i in 0..total {
        let sched = start_ns + (i as f64 * period) as u64;
        let now = t0.elapsed().as_nanos() as u64;
        if sched > now {
            for (k, d) in dirty.iter_mut().enumerate() {
                if *d {
                    sinks[k].flush().await?;
                    *d = false;
                }
            }
            tokio::time::sleep_until((t0 + Duration::from_nanos(sched)).into()).await;
        }
        let (k, text) = make(i, sched);
        sinks[k].feed(Message::text(text)).await?;
        dirty[k] = true;
    }
    for (k, d) in dirty.iter().enumerate() {
        if *d {
            sinks[k].flush().await?;
        }
    }
    Ok(total)
}

/// Waits until `done()` or `timeout`.
pub async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// Merges histograms.
pub fn merge<'a>(hs: impl IntoIterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut all = histogram();
    for h in hs {
        let _ = all.add(h);
    }
    all
}

/// Adds p50/p99/p999/max (ms) of `h` to `report` under `prefix`.
pub fn percentiles(report: &mut Report, prefix: &str, h: &Histogram<u64>) {
    for (name, q) in [("p50", 0.50), ("p99", 0.99), ("p999", 0.999)] {
        let v = if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        };
        report.put(&format!("{prefix}{name}_ms"), round3(v));
    }
    let max = if h.is_empty() {
        0.0
    } else {
        h.max() as f64 / 1000.0
    };
    report.put(&format!("{prefix}max_ms"), round3(max));
}

/// Rounds to 3 decimals.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A scenario's result: printed as one JSON line and a table.
pub struct Report {
    fields: Vec<(String, Value)>,
}

impl Report {
    /// Starts a report.
    pub fn new(scenario: &str, target: &str) -> Self {
        Report {
            fields: vec![
                ("scenario".into(), json!(scenario)),
                ("target".into(), json!(target)),
            ],
        }
    }

    /// Adds a field.
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.push((key.to_string(), value.into()));
    }

    /// Prints the JSON line then the table.
    pub fn print(&self) {
        use std::fmt::Write as _;
        let map: serde_json::Map<String, Value> = self.fields.iter().cloned().collect();
        let mut out = format!("{}\n", Value::Object(map));
        let width = self.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &self.fields {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system, every thread) a process has used, from `/proc/<pid>/stat`
/// (`self` for this process), in seconds (clock ticks of 1/100 s, Linux's `USER_HZ`).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU use of the server (`--cpu-pid`) and of the load generator over a load window.
pub struct CpuWindow {
    server: Option<(String, f64)>,
    load: Option<f64>,
    start: Instant,
}

impl CpuWindow {
    /// Starts the window.
    pub fn start(server_pid: Option<u32>) -> Self {
        CpuWindow {
            server: server_pid.and_then(|p| {
                let p = p.to_string();
                cpu_seconds(&p).map(|c| (p, c))
            }),
            load: cpu_seconds("self"),
            start: Instant::now(),
        }
    }

    /// Ends the window: `server_cpu_pct`, `loadgen_cpu_pct` (in % of one core) and the server's
    /// CPU microseconds per unit of work (`per_unit`, e.g. per delivery).
    pub fn report(&self, rep: &mut Report, per_unit: (&str, u64)) {
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        if let Some((pid, before)) = &self.server {
            if let Some(after) = cpu_seconds(pid) {
                let used = after - before;
                rep.put("server_cpu_pct", round3(used / wall * 100.0));
                if per_unit.1 > 0 {
                    let key = format!("server_cpu_us_per_{}", per_unit.0);
                    rep.put(&key, round3(used * 1e6 / per_unit.1 as f64));
                }
            }
        }
        if let (Some(before), Some(after)) = (self.load, cpu_seconds("self")) {
            rep.put("loadgen_cpu_pct", round3((after - before) / wall * 100.0));
        }
    }
}

/// Replaces the admin ids of `users` with their IM user ids (`getUsers`, 50 at a time).
pub async fn resolve_im_ids(ws: &mut Ws, users: &mut [User]) -> Res<()> {
    for (n, chunk) in users.chunks_mut(50).enumerate() {
        let rid = format!("ids-{n}");
        let list: Vec<Value> = chunk.iter().map(|u| json!({"user_name": u.full})).collect();
        request(
            ws,
            "getUsers",
            &rid,
            json!({"users": list, "@type": "type/vox.store.IncomingNamespace.GetUsers"}),
        )
        .await?;
        let mut ids = std::collections::HashMap::new();
        while ids.len() < chunk.len() {
            let v = wait_reply(ws, &rid, "onGetUser").await?;
            let obj = &v["payload"]["object"];
            if let (Some(name), Some(id)) = (obj["user_name"].as_str(), obj["user_id"].as_i64()) {
                ids.insert(name.to_string(), id);
            }
        }
        for u in chunk.iter_mut() {
            u.id = *ids
                .get(&u.full)
                .ok_or_else(|| format!("no IM id for {}", u.full))?;
        }
    }
    Ok(())
}
