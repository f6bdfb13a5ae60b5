//! The bus over core NATS (feature `cluster`, `--nats URL`): publishes what the engine queues,
//! hands what other nodes publish to the engine, sends this node's heartbeat every second and
//! watches the peers' heartbeats.
//!
//! Subjects (JSON bodies, see `bus.rs`): `chatwire.committed`, `chatwire.presence`,
//! `chatwire.typing`, `chatwire.kick`, `chatwire.login_failed`, `chatwire.heartbeat`. The node subscribes before the
//! engine loads its state (what commits meanwhile waits in the subscription), and asks the
//! engine for a position check every [`CHECK_EVERY`], after every (re)connection and when a
//! peer misses its heartbeats for [`PEER_TIMEOUT`]: so a lost announcement or a tail whose node
//! died between commit and publish is delivered within a few seconds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event, Subscriber};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::bus::{
    BusLink, Heartbeat, Incoming, LoginFailed, NodeId, Outgoing, SUBJECT_PREFIX, THOROUGH_EVERY,
};
use crate::engine::EngineHandle;
use crate::metrics::Metrics;
use crate::security::Throttle;

/// How often this node says it is alive.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A peer silent for this long is taken for dead: its users go offline, positions are checked.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);
/// How often positions are compared with the database anyway.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Why the bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL or the first connection failed.
    #[error("NATS at {url}: {reason}; check --nats (CHATWIRE_NATS)")]
    Connect {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A connected, subscribed bus whose engine is not running yet.
pub(crate) struct PendingBus {
    client: Client,
    subscriber: Subscriber,
    rx: UnboundedReceiver<Outgoing>,
    link: BusLink,
    engine: Arc<OnceLock<EngineHandle>>,
}

fn subject(kind: &str) -> String {
    format!("{SUBJECT_PREFIX}.{kind}")
}

/// Connects and subscribes (before the engine loads anything). A NATS server that is down
/// at start is retried in the background: the node runs, and the position checks after the
/// connection deliver what it missed.
pub(crate) async fn connect(
    url: &str,
    metrics: Arc<Metrics>,
) -> Result<(BusLink, PendingBus), BusError> {
    let node = NodeId::new_v4();
    let engine: Arc<OnceLock<EngineHandle>> = Arc::new(OnceLock::new());
    let (cb_engine, cb_metrics) = (engine.clone(), metrics.clone());
    let client = ConnectOptions::new()
        .name(format!("chatwire-server {node}"))
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let (engine, metrics) = (cb_engine.clone(), cb_metrics.clone());
            async move {
                match event {
                    Event::Connected => {
                        tracing::info!("bus connected: checking positions");
                        metrics.bus_up.set(1);
                        if let Some(e) = engine.get() {
                            e.bus(Incoming::PositionCheck { thorough: true });
                        }
                    }
                    Event::Disconnected => {
                        tracing::warn!(
                            "bus disconnected: writes go on, cross-node delivery resumes \
                             (and is repaired from the database) on reconnection"
                        );
                        metrics.bus_up.set(0);
                    }
                    other => tracing::debug!(event = %other, "bus event"),
                }
            }
        })
        .connect(url)
        .await
        .map_err(|e| BusError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    if client.connection_state() == async_nats::connection::State::Connected {
        metrics.bus_up.set(1);
    }
    let subscriber = client
        .subscribe(format!("{SUBJECT_PREFIX}.>"))
        .await
        .map_err(|e| BusError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let link = BusLink {
        node,
        tx,
        online: Arc::new(Mutex::new(HashSet::new())),
        connections: Arc::default(),
    };
    tracing::info!(%node, "bus subscribed");
    Ok((
        link.clone(),
        PendingBus {
            client,
            subscriber,
            rx,
            link,
            engine,
        },
    ))
}

impl PendingBus {
    /// Starts the bus tasks now that the engine runs; other nodes' login failures go to
    /// `throttle`.
    pub(crate) fn run(self, engine: EngineHandle, throttle: Arc<Throttle>) {
        let PendingBus {
            client,
            subscriber,
            rx,
            link,
            engine: slot,
        } = self;
        let _ = slot.set(engine.clone());
        let peers: Arc<Mutex<HashMap<NodeId, Instant>>> = Arc::default();
        tokio::spawn(publish_loop(client.clone(), rx));
        tokio::spawn(receive_loop(
            subscriber,
            link.node,
            engine.clone(),
            peers.clone(),
            throttle,
        ));
        tokio::spawn(heartbeat_loop(client, link, engine, peers));
    }
}

async fn publish_loop(client: Client, mut rx: UnboundedReceiver<Outgoing>) {
    while let Some(msg) = rx.recv().await {
        let (kind, body) = match &msg {
            Outgoing::Committed(c) => ("committed", serde_json::to_vec(c)),
            Outgoing::Presence(p) => ("presence", serde_json::to_vec(p)),
            Outgoing::Typing(t) => ("typing", serde_json::to_vec(t)),
            Outgoing::LoginFailed(f) => ("login_failed", serde_json::to_vec(f)),
            Outgoing::Kick { node, user, code } => (
                "kick",
                serde_json::to_vec(&serde_json::json!({"node": node, "user": user, "code": code})),
            ),
        };
        let Ok(body) = body else { continue };
        if let Err(e) = client.publish(subject(kind), body.into()).await {
            tracing::debug!(error = %e, "bus publish failed (repaired by position checks)");
        }
    }
}

#[derive(serde::Deserialize)]
struct KickBody {
    node: NodeId,
    user: u64,
    code: u16,
}

/// Decodes one bus message; `None` for this node's own messages and for garbage.
fn decode(kind: &str, body: &[u8], me: NodeId) -> Option<(NodeId, Incoming)> {
    let parsed = match kind {
        "committed" => serde_json::from_slice(body)
            .ok()
            .map(|c: crate::bus::Committed| (c.node, Incoming::Committed(c))),
        "presence" => serde_json::from_slice(body)
            .ok()
            .map(|p: crate::bus::Presence| (p.node, Incoming::Presence(p))),
        "typing" => serde_json::from_slice(body)
            .ok()
            .map(|t: crate::bus::Typing| (t.node, Incoming::Typing(t))),
        "heartbeat" => serde_json::from_slice(body)
            .ok()
            .map(|h: Heartbeat| (h.node, Incoming::Heartbeat(h))),
        "kick" => serde_json::from_slice(body).ok().map(|k: KickBody| {
            (
                k.node,
                Incoming::Kick {
                    user: k.user,
                    code: k.code,
                },
            )
        }),
        _ => None,
    };
    parsed.filter(|(node, _)| *node != me)
}

async fn receive_loop(
    mut subscriber: Subscriber,
    me: NodeId,
    engine: EngineHandle,
    peers: Arc<Mutex<HashMap<NodeId, Instant>>>,
    throttle: Arc<Throttle>,
) {
    while let Some(msg) = subscriber.next().await {
        let kind = msg
            .subject
            .as_str()
            .strip_prefix(SUBJECT_PREFIX)
            .and_then(|k| k.strip_prefix('.'))
            .unwrap_or("");
        if kind == "login_failed" {
            if let Ok(f) = serde_json::from_slice::<LoginFailed>(&msg.payload) {
                if f.node != me {
                    throttle.failed(&f.name, f.peer);
                }
            }
            continue;
        }
        let Some((node, incoming)) = decode(kind, &msg.payload, me) else {
            continue;
        };
        if let Ok(mut p) = peers.lock() {
            if p.insert(node, Instant::now()).is_none() {
                tracing::info!(%node, "peer seen");
            }
        }
        if !engine.bus(incoming) {
            return;
        }
    }
}

async fn heartbeat_loop(
    client: Client,
    link: BusLink,
    engine: EngineHandle,
    peers: Arc<Mutex<HashMap<NodeId, Instant>>>,
) {
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut last_check = Instant::now();
    let mut checks: u32 = 0;
    loop {
        beat.tick().await;
        let online: Vec<u64> = link
            .online
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let connections: Vec<(u64, u32)> = link
            .connections
            .lock()
            .map(|m| m.iter().map(|(u, n)| (*u, *n)).collect())
            .unwrap_or_default();
        let body = Heartbeat {
            node: link.node,
            online,
            connections,
        };
        if let Ok(body) = serde_json::to_vec(&body) {
            let _ = client.publish(subject("heartbeat"), body.into()).await;
        }
        let dead: Vec<NodeId> = match peers.lock() {
            Ok(mut p) => {
                let dead: Vec<NodeId> = p
                    .iter()
                    .filter(|(_, seen)| seen.elapsed() > PEER_TIMEOUT)
                    .map(|(n, _)| *n)
                    .collect();
                for n in &dead {
                    p.remove(n);
                }
                dead
            }
            Err(_) => Vec::new(),
        };
        for node in dead {
            if !engine.bus(Incoming::PeerDown(node)) {
                return;
            }
        }
        if last_check.elapsed() >= CHECK_EVERY {
            last_check = Instant::now();
            checks += 1;
            let thorough = checks.is_multiple_of(THOROUGH_EVERY);
            if !engine.bus(Incoming::PositionCheck { thorough }) {
                return;
            }
        }
    }
}
