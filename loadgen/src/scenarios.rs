//! The scenarios.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;
use crate::{Cli, Common, Scenario, Target};

/// Runs the chosen scenario; `Ok(false)` when deliveries were lost.
pub async fn run(cli: Cli) -> Res<bool> {
    let c = cli.common;
    match cli.scenario {
        Scenario::BigRoom {
            receivers,
            users,
            rate,
            seconds,
        } => big_room(&c, receivers, users, rate, seconds).await,
        Scenario::SmallRooms {
            rooms,
            members,
            users,
            rate,
            seconds,
        } => small_rooms(&c, rooms, members, users, rate, seconds).await,
        Scenario::Durable {
            rate,
            seconds,
            senders,
        } => durable(&c, rate, seconds, senders).await,
        Scenario::CatchUp {
            events,
            clients,
            seconds,
        } => catch_up(&c, events, clients, seconds).await,
        Scenario::Idle {
            connections,
            users,
            server_pid,
            settle_seconds,
        } => idle(&c, connections, users, server_pid, settle_seconds).await,
        Scenario::ColdStart {
            server_bin,
            data_dir,
            port,
            events,
            skip_fill,
            repeats,
        } => cold_start(&c, &server_bin, &data_dir, port, events, skip_fill, repeats).await,
        Scenario::SdkDispatch { events } => sdk_dispatch(&c, events).await,
        Scenario::Resume {
            conversations,
            sends,
            senders,
        } => crate::resume::resume(&c, conversations, sends, senders).await,
        Scenario::Summarize { file } => crate::summary::summarize(&file),
    }
}

/// Opens `n` plain connections (floor) concurrently; `url_of(i)` gives connection i's URL.
async fn plain_conns(c: &Common, n: usize, url_of: impl Fn(usize) -> String) -> Res<Vec<Ws>> {
    let all: Vec<Res<Ws>> = futures::stream::iter(0..n)
        .map(|i| {
            let url = url_of(i);
            async move { connect(&url).await }
        })
        .buffered(c.concurrency.max(1))
        .collect()
        .await;
    all.into_iter().collect()
}

/// Opens `n` NATS-over-WebSocket connections; connection i subscribes to `subjects(i)`.
async fn nats_conns(c: &Common, n: usize, subjects: impl Fn(usize) -> Vec<String>) -> Res<Vec<Ws>> {
    let all: Vec<Res<Ws>> = futures::stream::iter(0..n)
        .map(|i| {
            let subs = subjects(i);
            let url = c.url.clone();
            async move {
                let mut ws = connect(&url).await?;
                let mut hello = String::from("CONNECT {\"verbose\":false,\"echo\":false}\r\n");
                for (k, s) in subs.iter().enumerate() {
                    hello.push_str(&format!("SUB {s} {}\r\n", k + 1));
                }
                hello.push_str("PING\r\n");
                ws.send(Message::text(hello)).await?;
                // Wait for the PONG that follows the SUBs (so they are registered).
                loop {
                    let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
                        .await
                        .map_err(|_| "nats: no PONG")?
                        .ok_or("nats: closed")??;
                    let text = match &m {
                        Message::Text(t) => t.as_str().to_string(),
                        Message::Binary(b) => String::from_utf8_lossy(b).into_owned(),
                        _ => continue,
                    };
                    if text.contains("-ERR") {
                        return Err(format!("nats: {text}").into());
                    }
                    if text.contains("PONG") {
                        return Ok(ws);
                    }
                }
            }
        })
        .buffered(c.concurrency.max(1))
        .collect()
        .await;
    all.into_iter().collect()
}

/// Bytes NATS adds around a delivered payload: `MSG <subject> <sid> <len>\r\n` ... `\r\n`.
const NATS_MSG_OVERHEAD: usize = 24;

fn nats_pub(subject: &str, payload: &str) -> String {
    format!("PUB {subject} {}\r\n{payload}\r\n", payload.len())
}

/// The shape of an open-loop fan-out run.
struct Plan {
    scenario: &'static str,
    rate: f64,
    seconds: f64,
    /// Deliveries expected per message.
    per_msg: u64,
    /// Acks expected per message (chatwire's result frame to the sender).
    acks_per_msg: u64,
}

/// Runs an open-loop fan-out: `conns` all receive; `senders` lists the sending connections;
/// `make(i, sched_ns)` returns (index into `senders`, frame text).
async fn fanout<F>(
    c: &Common,
    plan: Plan,
    conns: Vec<Ws>,
    senders: Vec<usize>,
    extra: Vec<(String, serde_json::Value)>,
    make: F,
) -> Res<bool>
where
    F: FnMut(u64, u64) -> (usize, String),
{
    let n = conns.len();
    let progress = Arc::new(Progress::default());
    let t0 = Instant::now();
    let mut sinks: BTreeMap<usize, Sink> = BTreeMap::new();
    let mut handles = Vec::with_capacity(n);
    for (i, ws) in conns.into_iter().enumerate() {
        let (sink, stream) = ws.split();
        sinks.insert(i, sink);
        handles.push(tokio::spawn(recv_loop(
            stream,
            i as u32,
            t0,
            progress.clone(),
        )));
    }
    let mut send_sinks: Vec<Sink> = senders
        .iter()
        .map(|k| sinks.remove(k).ok_or("sender index out of range"))
        .collect::<Result<_, _>>()?;
    let total = (plan.rate * plan.seconds).round().max(1.0) as u64;
    let start_ns = 100_000_000;
    let cpu = CpuWindow::start(c.cpu_pid);
    let sent = open_loop(&mut send_sinks, t0, start_ns, plan.rate, total, make).await?;
    let send_end = t0.elapsed();
    let expected = sent * plan.per_msg;
    let expected_acks = sent * plan.acks_per_msg;
    let p = progress.clone();
    wait_until(Duration::from_secs_f64(c.drain_seconds), move || {
        p.delivered.load(Ordering::Relaxed) >= expected
            && p.acked.load(Ordering::Relaxed) >= expected_acks
    })
    .await;
    progress.stop.store(true, Ordering::Relaxed);
    let work = if plan.per_msg > 0 {
        ("delivery", progress.delivered.load(Ordering::Relaxed))
    } else {
        ("ack", progress.acked.load(Ordering::Relaxed))
    };
    let mut results = Vec::with_capacity(n);
    for h in handles {
        results.push(h.await?);
    }
    drop(send_sinks);
    drop(sinks);
    let deliveries = merge(results.iter().map(|r| &r.deliveries));
    let acks = merge(results.iter().map(|r| &r.acks));
    let delivered = deliveries.len();
    let acked = acks.len();
    let last_ns = results.iter().map(|r| r.last_ns).max().unwrap_or(0);
    let span = (last_ns.saturating_sub(start_ns) as f64 / 1e9).max(1e-9);
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let delivery_bytes: u64 = results.iter().map(|r| r.delivery_bytes).sum();
    let closed: Vec<&String> = results.iter().filter_map(|r| r.closed.as_ref()).collect();
    let mut rep = Report::new(plan.scenario, c.target.name());
    rep.put("connections", n as u64);
    rep.put("rate", plan.rate);
    rep.put("sent", sent);
    rep.put(
        "send_seconds",
        round3(send_end.as_secs_f64() - start_ns as f64 / 1e9),
    );
    for (k, v) in extra {
        rep.put(&k, v);
    }
    let mut ok = true;
    if plan.per_msg > 0 {
        rep.put("expected", expected);
        rep.put("delivered", delivered);
        rep.put("lost", expected.saturating_sub(delivered));
        rep.put("deliveries_per_s", (delivered as f64 / span).round());
        rep.put(
            "delivery_frame_bytes",
            (delivery_bytes as f64 / delivered.max(1) as f64).round(),
        );
        percentiles(&mut rep, "", &deliveries);
        ok &= delivered >= expected;
    }
    if plan.acks_per_msg > 0 {
        rep.put("acked", acked);
        rep.put("lost_acks", expected_acks.saturating_sub(acked));
        rep.put("acks_per_s", (acked as f64 / span).round());
        percentiles(&mut rep, "ack_", &acks);
        ok &= acked >= expected_acks;
    }
    cpu.report(&mut rep, work);
    rep.put("errors", errors);
    rep.put("closed", closed.len() as u64);
    if let Some(first) = closed.first() {
        rep.put("closed_reason", first.as_str());
    }
    rep.put("ok", ok);
    rep.print();
    Ok(ok)
}

async fn big_room(
    c: &Common,
    receivers: usize,
    users: usize,
    rate: f64,
    seconds: f64,
) -> Res<bool> {
    let plan = Plan {
        scenario: "big-room",
        rate,
        seconds,
        per_msg: receivers as u64,
        acks_per_msg: u64::from(c.target == Target::Chatwire),
    };
    match c.target {
        Target::Chatwire => {
            let k = users.clamp(1, 999).min(receivers.max(1));
            let mut all = add_users(
                &c.host(),
                &c.api_key,
                &c.domain,
                &c.prefix("b"),
                k + 1,
                c.concurrency.min(4),
            )
            .await?;
            let (mut sender, _) = login(&c.url, &all[0].full, Cred::Password).await?;
            resolve_im_ids(&mut sender, &mut all).await?;
            let ids: Vec<i64> = all[1..].iter().map(|u| u.id).collect();
            let conv = create_conversation(&mut sender, "create-big", &ids).await?;
            let mut conns = vec![sender];
            conns.extend(login_many(c.receiver_url(), &all[1..], receivers, c.concurrency).await?);
            let mut extra = vec![("users".to_string(), json!(k))];
            if c.receiver_url() != c.url {
                extra.push(("cross_node".to_string(), json!(true)));
            }
            fanout(c, plan, conns, vec![0], extra, |i, sched| {
                (0, send_frame(&conv, &marker(i, sched, 0), i))
            })
            .await
        }
        Target::Floor => {
            let conns = plain_conns(c, receivers + 1, |_| c.url.clone()).await?;
            fanout(c, plan, conns, vec![0], vec![], |i, sched| {
                (0, c.padded(marker(i, sched, 0), 0))
            })
            .await
        }
        Target::Nats => {
            let conns = nats_conns(c, receivers + 1, |_| vec!["bench".to_string()]).await?;
            fanout(c, plan, conns, vec![0], vec![], |i, sched| {
                let text = c.padded(marker(i, sched, 0), NATS_MSG_OVERHEAD);
                (0, nats_pub("bench", &text))
            })
            .await
        }
    }
}

async fn small_rooms(
    c: &Common,
    rooms: usize,
    members: usize,
    users: Option<usize>,
    rate: f64,
    seconds: f64,
) -> Res<bool> {
    let u = users.unwrap_or(rooms * members).max(members);
    let member = |r: usize, j: usize| (r * members + j) % u;
    let sender_of = |r: usize| member(r, 0);
    let mut rooms_of: Vec<Vec<usize>> = vec![Vec::new(); u];
    for r in 0..rooms {
        for j in 0..members {
            rooms_of[member(r, j)].push(r);
        }
    }
    let mut senders: Vec<usize> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for r in 0..rooms {
        let s = sender_of(r);
        if let std::collections::hash_map::Entry::Vacant(e) = slot.entry(s) {
            e.insert(senders.len());
            senders.push(s);
        }
    }
    let plan = Plan {
        scenario: "small-rooms",
        rate,
        seconds,
        per_msg: members.saturating_sub(1) as u64,
        acks_per_msg: u64::from(c.target == Target::Chatwire),
    };
    let extra = vec![
        ("rooms".to_string(), json!(rooms)),
        ("members".to_string(), json!(members)),
    ];
    let room_of = move |i: u64| (i % rooms as u64) as usize;
    match c.target {
        Target::Chatwire => {
            let mut all = add_users(
                &c.host(),
                &c.api_key,
                &c.domain,
                &c.prefix("s"),
                u,
                c.concurrency.min(4),
            )
            .await?;
            let mut conns = login_many(&c.url, &all, u, c.concurrency).await?;
            resolve_im_ids(&mut conns[0], &mut all).await?;
            let mut convs = Vec::with_capacity(rooms);
            for r in 0..rooms {
                let ids: Vec<i64> = (1..members).map(|j| all[member(r, j)].id).collect();
                let conv =
                    create_conversation(&mut conns[sender_of(r)], &format!("create-{r}"), &ids)
                        .await?;
                convs.push(conv);
            }
            fanout(c, plan, conns, senders, extra, |i, sched| {
                let r = room_of(i);
                let s = sender_of(r);
                (
                    slot[&s],
                    send_frame(&convs[r], &marker(i, sched, s as u32), i),
                )
            })
            .await
        }
        Target::Floor => {
            let base = c.url.trim_end_matches('/').to_string();
            let conns = plain_conns(c, u, |i| {
                let list: Vec<String> = rooms_of[i].iter().map(|r| r.to_string()).collect();
                format!("{base}/?rooms={}", list.join(","))
            })
            .await?;
            fanout(c, plan, conns, senders, extra, |i, sched| {
                let r = room_of(i);
                let s = sender_of(r);
                (
                    slot[&s],
                    c.padded(format!("#{r} {}", marker(i, sched, s as u32)), 0),
                )
            })
            .await
        }
        Target::Nats => {
            let conns = nats_conns(c, u, |i| {
                rooms_of[i].iter().map(|r| format!("room.{r}")).collect()
            })
            .await?;
            fanout(c, plan, conns, senders, extra, |i, sched| {
                let r = room_of(i);
                let s = sender_of(r);
                let text = c.padded(marker(i, sched, s as u32), NATS_MSG_OVERHEAD);
                (slot[&s], nats_pub(&format!("room.{r}"), &text))
            })
            .await
        }
    }
}

async fn durable(c: &Common, rate: f64, seconds: f64, senders: usize) -> Res<bool> {
    if c.target != Target::Chatwire {
        return Err("durable applies to chatwire only".into());
    }
    let n = senders.max(1);
    let all = add_users(
        &c.host(),
        &c.api_key,
        &c.domain,
        &c.prefix("d"),
        n,
        c.concurrency.min(4),
    )
    .await?;
    let mut conns = if c.also_urls.is_empty() {
        login_many(&c.url, &all, n, c.concurrency).await?
    } else {
        // Sender k logs in at node k % nodes.
        let urls: Vec<&str> = std::iter::once(c.url.as_str())
            .chain(c.also_urls.iter().map(String::as_str))
            .collect();
        let mut conns = Vec::with_capacity(n);
        for (k, u) in all.iter().enumerate() {
            conns.push(
                login(urls[k % urls.len()], &u.full, Cred::Password)
                    .await?
                    .0,
            );
        }
        conns
    };
    let mut convs = Vec::new();
    for (k, ws) in conns.iter_mut().enumerate() {
        convs.push(create_conversation(ws, &format!("create-d{k}"), &[]).await?);
    }
    let plan = Plan {
        scenario: "durable",
        rate,
        seconds,
        per_msg: 0,
        acks_per_msg: 1,
    };
    let extra = vec![
        ("senders".to_string(), json!(n)),
        ("nodes".to_string(), json!(1 + c.also_urls.len())),
    ];
    fanout(c, plan, conns, (0..n).collect(), extra, |i, sched| {
        let k = (i % n as u64) as usize;
        (k, send_frame(&convs[k], &marker(i, sched, k as u32), i))
    })
    .await
}

/// Sends `events` messages into `conv` as fast as acks come back (at most `window` in flight).
async fn fill(ws: &mut Ws, conv: &str, events: u64, window: u64) -> Res<f64> {
    let start = Instant::now();
    let mut sent = 0u64;
    let mut acked = 0u64;
    while acked < events {
        while sent < events && sent - acked < window {
            ws.feed(Message::text(send_frame(
                conv,
                &format!("fill {sent}"),
                sent,
            )))
            .await?;
            sent += 1;
        }
        ws.flush().await?;
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| "fill: no ack")?
            .ok_or("fill: closed")??;
        if let Message::Text(t) = m {
            if t.as_str().contains("\"onSendMessage\"") {
                acked += 1;
            } else if t.as_str().contains("\"onError\"") {
                return Err(format!("fill: {}", t.as_str()).into());
            }
        }
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

async fn catch_up(c: &Common, events: u64, clients: usize, seconds: f64) -> Res<bool> {
    if c.target != Target::Chatwire {
        return Err("catch-up applies to chatwire only".into());
    }
    let clients = clients.max(1);
    let all = add_users(&c.host(), &c.api_key, &c.domain, &c.prefix("c"), 1, 1).await?;
    let (mut ws, _) = login(&c.url, &all[0].full, Cred::Password).await?;
    let conv = create_conversation(&mut ws, "create-c", &[]).await?;
    let fill_rate = fill(&mut ws, &conv, events, 512).await?;
    drop(ws);
    let last_seq = events + 1; // the creation is seq 1
    let conns = login_many(&c.url, &all, clients, c.concurrency).await?;
    let windows = (last_seq.saturating_sub(100) / 100).max(1);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut handles = Vec::new();
    for (k, mut ws) in conns.into_iter().enumerate() {
        let conv = conv.clone();
        handles.push(tokio::spawn(async move {
            let mut got = 0u64;
            let mut rtt = histogram();
            let mut w = (k as u64 * 7919) % windows;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let from = 1 + w * 100;
                // Alternate the two addressing forms: from+count and from+to.
                let payload = if n.is_multiple_of(2) {
                    json!({"conversation": conv, "events_from": from, "count": 100,
                           "@type": "type/vox.store.IncomingNamespace.RetransmitRequest"})
                } else {
                    json!({"conversation": conv, "events_from": from, "events_to": from + 99,
                           "@type": "type/vox.store.IncomingNamespace.RetransmitRequest"})
                };
                let t = Instant::now();
                let rid = format!("r{n}");
                request(&mut ws, "retransmitEvents", &rid, payload).await?;
                let mut frames = 0;
                while frames < 100 {
                    let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
                        .await
                        .map_err(|_| "catch-up: timeout")?
                        .ok_or("catch-up: closed")??;
                    if let Message::Text(t) = m {
                        if t.as_str().contains("\"onRetransmitEvents\"") {
                            frames += 1;
                        } else if t.as_str().contains("\"onError\"") {
                            return Err::<(u64, _), BoxError>(
                                format!("catch-up: {}", t.as_str()).into(),
                            );
                        }
                    }
                }
                let _ = rtt.record((t.elapsed().as_micros() as u64).max(1));
                got += 100;
                n += 1;
                w = (w + 1) % windows;
            }
            Ok((got, rtt))
        }));
    }
    let mut total = 0;
    let mut rtts = Vec::new();
    for h in handles {
        let (got, rtt) = h.await??;
        total += got;
        rtts.push(rtt);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rtt = merge(rtts.iter());
    let mut rep = Report::new("catch-up", c.target.name());
    rep.put("events_stored", events);
    rep.put("fill_events_per_s", fill_rate.round());
    rep.put("clients", clients as u64);
    rep.put("events_paged", total);
    rep.put("events_per_s", (total as f64 / elapsed).round());
    percentiles(&mut rep, "window_", &rtt);
    rep.put("ok", true);
    rep.print();
    Ok(true)
}

async fn idle(
    c: &Common,
    connections: usize,
    users: usize,
    server_pid: u32,
    settle: f64,
) -> Res<bool> {
    let before_users = rss_kib(server_pid).ok_or("cannot read server RSS")?;
    let all = if c.target == Target::Chatwire {
        add_users(
            &c.host(),
            &c.api_key,
            &c.domain,
            &c.prefix("i"),
            users.max(1),
            c.concurrency.min(4),
        )
        .await?
    } else {
        Vec::new()
    };
    // chatwire: log every user in once by password first (argon2 verification grows the
    // server's heap by itself), measure, then open the rest with access tokens.
    let mut conns = Vec::new();
    let mut tokens = Vec::new();
    if c.target == Target::Chatwire {
        let (ws, t) = login_users(&c.url, &all, c.concurrency.min(4)).await?;
        conns = ws;
        tokens = t;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(server_pid).ok_or("cannot read server RSS")?;
    let base = conns.len();
    let start = Instant::now();
    conns.extend(match c.target {
        Target::Chatwire => {
            login_tokens(&c.url, &all, &tokens, base..connections, c.concurrency).await?
        }
        Target::Floor => plain_conns(c, connections, |_| c.url.clone()).await?,
        Target::Nats => nats_conns(c, connections, |_| Vec::new()).await?,
    });
    let open_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let after = rss_kib(server_pid).ok_or("cannot read server RSS")?;
    let mut rep = Report::new("idle", c.target.name());
    rep.put("connections", conns.len() as u64);
    rep.put("users", all.len() as u64);
    rep.put("open_seconds", round3(open_s));
    rep.put("rss_before_users_kib", before_users);
    rep.put("rss_before_kib", before);
    rep.put("rss_after_kib", after);
    rep.put("measured_connections", (conns.len() - base) as u64);
    let per = (after.saturating_sub(before) as f64 * 1024.0) / (conns.len() - base).max(1) as f64;
    rep.put("rss_per_conn_bytes", per.round());
    rep.put("ok", true);
    rep.print();
    drop(conns);
    Ok(true)
}

fn spawn_server(bin: &str, data_dir: &str, port: u16, api_key: &str) -> Res<std::process::Child> {
    Ok(std::process::Command::new(bin)
        .args([
            "--data-dir",
            data_dir,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--api-key",
            api_key,
            "--requests-per-second",
            "0",
            "--requests-per-minute",
            "0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?)
}

fn stop_server(child: &mut std::process::Child) -> Res<()> {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn cold_start(
    c: &Common,
    bin: &str,
    data_dir: &str,
    port: u16,
    events: u64,
    skip_fill: bool,
    repeats: usize,
) -> Res<bool> {
    let url = format!("ws://127.0.0.1:{port}/platform");
    let host = format!("127.0.0.1:{port}");
    let mut fill_rate = 0.0;
    if !skip_fill {
        std::fs::create_dir_all(data_dir)?;
        let mut child = spawn_server(bin, data_dir, port, &c.api_key)?;
        let result: Res<f64> = async {
            drop(connect_retry(&url, Duration::from_secs(30)).await?);
            let all = add_users(&host, &c.api_key, &c.domain, &c.prefix("cs"), 1, 1).await?;
            let (mut ws, _) = login(&url, &all[0].full, Cred::Password).await?;
            let conv = create_conversation(&mut ws, "create-cs", &[]).await?;
            fill(&mut ws, &conv, events, 1024).await
        }
        .await;
        stop_server(&mut child)?;
        fill_rate = result?;
    }
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let mut child = spawn_server(bin, data_dir, port, &c.api_key)?;
        let ok = loop {
            if connect(&url).await.is_ok() {
                break true;
            }
            if child.try_wait()?.is_some() || start.elapsed() > Duration::from_secs(120) {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let t = start.elapsed().as_secs_f64() * 1000.0;
        stop_server(&mut child)?;
        if !ok {
            return Err("server did not start".into());
        }
        times.push(t);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let db_bytes = std::fs::read_dir(data_dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum::<u64>();
    let mut rep = Report::new("cold-start", c.target.name());
    rep.put("events_stored", events);
    if !skip_fill {
        rep.put("fill_events_per_s", fill_rate.round());
    }
    rep.put("data_dir_bytes", db_bytes);
    rep.put("start_best_ms", round3(times[0]));
    rep.put("start_median_ms", round3(times[times.len() / 2]));
    rep.put("ok", true);
    rep.print();
    Ok(true)
}

async fn sdk_dispatch(c: &Common, events: u64) -> Res<bool> {
    if c.target != Target::Chatwire {
        return Err("sdk-dispatch applies to chatwire only".into());
    }
    let mut all = add_users(&c.host(), &c.api_key, &c.domain, &c.prefix("k"), 2, 2).await?;
    let (mut sender, _) = login(&c.url, &all[0].full, Cred::Password).await?;
    resolve_im_ids(&mut sender, &mut all).await?;
    let conv = create_conversation(&mut sender, "create-k", &[all[1].id]).await?;
    let messenger = chatwire::Messenger::builder(&c.url)
        .password(all[1].full.clone(), PASSWORD)
        .event_buffer(1 << 20)
        .connect()
        .await?;
    let mut sdk_events = messenger.events();
    let (raw, _) = login(&c.url, &all[1].full, Cred::Password).await?;
    let t0 = Instant::now();
    // SDK consumer: count MessageSent events carrying our text.
    let sdk = tokio::spawn(async move {
        let mut n = 0u64;
        let mut lagged = 0u64;
        let mut first = None;
        while n + lagged < events {
            match tokio::time::timeout(Duration::from_secs(30), sdk_events.next()).await {
                Ok(Some(chatwire::Event::MessageSent { message, .. })) => {
                    if message.text.starts_with("LG:") {
                        first.get_or_insert_with(|| t0.elapsed());
                        n += 1;
                    }
                }
                Ok(Some(chatwire::Event::Lagged { missed })) => lagged += missed,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        (n, lagged, first.unwrap_or_default(), t0.elapsed())
    });
    // Raw consumer: read the frames and decode each into a serde_json::Value.
    let raw = tokio::spawn(async move {
        let mut raw = raw;
        let mut n = 0u64;
        let mut first = None;
        while n < events {
            match tokio::time::timeout(Duration::from_secs(30), raw.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else {
                        continue;
                    };
                    if v["event"] == "onSendMessage"
                        && v["payload"]["object"]["text"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("LG:"))
                    {
                        first.get_or_insert_with(|| t0.elapsed());
                        n += 1;
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        (n, first.unwrap_or_default(), t0.elapsed())
    });
    let send_start = t0.elapsed();
    let mut sent = 0u64;
    let mut acked = 0u64;
    while acked < events {
        while sent < events && sent - acked < 512 {
            sender
                .feed(Message::text(send_frame(&conv, &marker(sent, 0, 0), sent)))
                .await?;
            sent += 1;
        }
        sender.flush().await?;
        let m = tokio::time::timeout(Duration::from_secs(60), sender.next())
            .await
            .map_err(|_| "sdk-dispatch: no ack")?
            .ok_or("sdk-dispatch: closed")??;
        if let Message::Text(t) = m {
            if t.as_str().contains("\"onSendMessage\"") {
                acked += 1;
            }
        }
    }
    let send_s = (t0.elapsed() - send_start).as_secs_f64();
    let (sdk_n, lagged, _sdk_first, sdk_end) = sdk.await?;
    let (raw_n, _raw_first, raw_end) = raw.await?;
    let sdk_rate = sdk_n as f64 / (sdk_end - send_start).as_secs_f64();
    let raw_rate = raw_n as f64 / (raw_end - send_start).as_secs_f64();
    messenger.close();
    let mut rep = Report::new("sdk-dispatch", c.target.name());
    rep.put("events", events);
    rep.put("send_events_per_s", (events as f64 / send_s).round());
    rep.put("sdk_events", sdk_n);
    rep.put("sdk_lagged", lagged);
    rep.put("sdk_events_per_s", sdk_rate.round());
    rep.put("raw_events", raw_n);
    rep.put("raw_events_per_s", raw_rate.round());
    rep.put("sdk_vs_raw", round3(sdk_rate / raw_rate.max(1e-9)));
    let ok = sdk_n == events && raw_n == events;
    rep.put("ok", ok);
    rep.print();
    Ok(ok)
}
