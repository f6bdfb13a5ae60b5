//! One WebSocket connection: a read loop that classifies, limits and dispatches frames, and a
//! writer task that owns the sink and drains the connection's bounded outbound queue.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use chatwire_protocol::{
    parse_client_frame, ActionLookup, ClientFrame, ErrorCode, Request, ServerSession, UserId,
};
use futures::stream::{SplitSink, StreamExt};
use futures::SinkExt;
use tokio::sync::watch;
use tokio::time::{sleep, Duration};
use tracing::Instrument;

use super::hub::{CloseRequest, ConnShared, Outbound};
use super::ratelimit::RateLimit;
use crate::config::Config;
use crate::engine::{error_frame, now, Command, EngineHandle};
use crate::security::{Hasher, Throttle};

/// What every connection task shares.
pub(crate) struct Services {
    pub engine: EngineHandle,
    pub config: Arc<Config>,
    pub throttle: Throttle,
    pub hasher: Hasher,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Bumped to drop every connection abruptly (no close frame), like a network failure.
    pub kick: watch::Receiver<u64>,
    /// Open connections per peer address.
    pub peers: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// Holds one place of a peer address's connection count until dropped.
pub(crate) struct PeerSlot {
    services: Arc<Services>,
    peer: IpAddr,
}

impl PeerSlot {
    /// Takes a place for `peer`, or `None` when the address is at its limit.
    pub fn take(services: &Arc<Services>, peer: IpAddr) -> Option<PeerSlot> {
        let limit = services.config.limits.max_connections_per_peer;
        let mut peers = services.peers.lock().unwrap_or_else(|e| e.into_inner());
        let count = peers.entry(peer).or_insert(0);
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            services: services.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut peers = self
            .services
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = peers.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

/// Per-connection state of the read loop.
pub(super) struct Session {
    pub services: Arc<Services>,
    pub shared: Arc<ConnShared>,
    pub peer: IpAddr,
    pub user: Option<UserId>,
    pub failures: u32,
}

impl Session {
    /// Queues an `onError` reply.
    pub fn error(
        &self,
        event: Option<&str>,
        request_uuid: Option<&str>,
        code: ErrorCode,
        description: &str,
    ) {
        let frame = error_frame(
            self.user,
            event.unwrap_or("UNKNOWN"),
            request_uuid,
            code,
            description,
            now(),
        );
        self.shared.send(frame);
    }

    /// Queues a session frame.
    pub fn send_session(&self, frame: ServerSession) {
        self.shared.send(Utf8Bytes::from(frame.encode()));
    }
}

/// Serves one upgraded WebSocket until it closes.
pub(crate) async fn serve(
    socket: WebSocket,
    peer: IpAddr,
    services: Arc<Services>,
    _slot: PeerSlot,
) {
    let limits = services.config.limits.clone();
    let (shared, rx) = ConnShared::new(limits.outbound_queue);
    let span = tracing::debug_span!("conn", id = shared.id, %peer);
    run(socket, peer, services, shared, rx, limits)
        .instrument(span)
        .await
}

async fn run(
    socket: WebSocket,
    peer: IpAddr,
    services: Arc<Services>,
    shared: Arc<ConnShared>,
    rx: Outbound,
    limits: crate::config::Limits,
) {
    tracing::debug!("connected");
    let (sink, mut stream) = socket.split();
    // The very first frame (the official SDK waits for it forever).
    shared.send(Utf8Bytes::from(
        ServerSession::ConnectionSuccessful.encode(),
    ));
    let writer = tokio::spawn(write_loop(sink, rx, shared.clone()));

    let mut session = Session {
        services: services.clone(),
        shared: shared.clone(),
        peer,
        user: None,
        failures: 0,
    };
    let mut rate = RateLimit::new(limits.requests_per_second, limits.requests_per_minute);
    let mut shutdown = services.shutdown.clone();
    let mut kick = services.kick.clone();
    kick.mark_unchanged();
    let login_deadline = sleep(limits.login_deadline);
    tokio::pin!(login_deadline);
    let idle = sleep(limits.idle_timeout);
    tokio::pin!(idle);

    loop {
        tokio::select! {
            _ = shared.closed() => break,
            _ = &mut login_deadline, if session.user.is_none() => {
                shared.close(4001, "login deadline passed", true);
                break;
            }
            _ = &mut idle => {
                shared.close(4000, "idle timeout", true);
                break;
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                shared.close(1001, "server shutting down", true);
                break;
            }
            _ = kick.changed() => {
                writer.abort();
                services.engine.send(Command::Detach { conn: shared.id });
                tracing::debug!("connection dropped");
                return;
            }
            msg = stream.next() => {
                let Some(msg) = msg else { break };
                idle.as_mut().reset(tokio::time::Instant::now() + limits.idle_timeout);
                match msg {
                    Ok(Message::Text(text)) => {
                        if text.len() > limits.max_frame_bytes {
                            oversized(&session, limits.max_frame_bytes);
                            break;
                        }
                        handle_text(&mut session, &mut rate, text.as_str()).await;
                    }
                    Ok(Message::Binary(_)) => {
                        if rate_limited(&session, &mut rate, None, None) {
                            continue;
                        }
                        session.error(None, None, ErrorCode::MalformedFrame, "Malformed frame: binary frames are not accepted.");
                    }
                    Ok(Message::Ping(_) | Message::Pong(_)) => {}
                    Ok(Message::Close(_)) => break,
                    Err(e) => {
                        if is_capacity_error(e) {
                            oversized(&session, limits.max_frame_bytes);
                        }
                        break;
                    }
                }
            }
        }
    }
    shared.close(1000, "", true);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    services.engine.send(Command::Detach { conn: shared.id });
    tracing::debug!("disconnected");
}

fn is_capacity_error(e: axum::Error) -> bool {
    e.into_inner()
        .downcast_ref::<tokio_tungstenite::tungstenite::Error>()
        .is_some_and(|e| matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)))
}

/// Error 1, then close 1009 naming the limit.
fn oversized(session: &Session, limit: usize) {
    let reason = format!("frame exceeds {limit} bytes");
    session.error(
        None,
        None,
        ErrorCode::MalformedFrame,
        &format!("Malformed frame: {reason}."),
    );
    session.shared.close(1009, &reason, true);
}

/// Applies the per-connection rate limit; answers 32/33 when refused.
fn rate_limited(
    session: &Session,
    rate: &mut RateLimit,
    event: Option<&str>,
    request_uuid: Option<&str>,
) -> bool {
    match rate.check(Instant::now()) {
        Ok(()) => false,
        Err(code) => {
            session.error(event, request_uuid, code, code.description());
            true
        }
    }
}

async fn handle_text(session: &mut Session, rate: &mut RateLimit, text: &str) {
    let frame = match parse_client_frame(text) {
        Ok(ClientFrame::Session(frame)) => return super::session::handle(session, frame).await,
        Ok(ClientFrame::Messaging(frame)) => frame,
        Err(e) => {
            if !rate_limited(session, rate, e.event.as_deref(), e.request_uuid.as_deref()) {
                session.error(
                    e.event.as_deref(),
                    e.request_uuid.as_deref(),
                    ErrorCode::MalformedFrame,
                    &format!("Malformed frame: {}.", e.reason),
                );
            }
            return;
        }
    };
    let (event, request_uuid) = (Some(frame.event.as_str()), frame.request_uuid.as_deref());
    if rate_limited(session, rate, event, request_uuid) {
        return;
    }
    let action = match frame.lookup() {
        ActionLookup::Unknown => {
            return session.error(
                event,
                request_uuid,
                ErrorCode::UnknownEvent,
                ErrorCode::UnknownEvent.description(),
            )
        }
        _ if session.user.is_none() => {
            return session.error(
                event,
                request_uuid,
                ErrorCode::NotLoggedIn,
                ErrorCode::NotLoggedIn.description(),
            )
        }
        ActionLookup::Reserved => {
            return session.error(
                event,
                request_uuid,
                ErrorCode::AccessDenied,
                "Access denied: not available to clients.",
            )
        }
        ActionLookup::Action(a) => a,
    };
    let request = match Request::decode(action, &frame.payload) {
        Ok(r) => r,
        Err(e) => return session.error(event, request_uuid, e.code(), &e.to_string()),
    };
    let user = session.user.expect("checked above");
    let sent = session.services.engine.send(Command::Request {
        conn: session.shared.clone(),
        user,
        request_uuid: frame.request_uuid.clone(),
        request,
    });
    if !sent {
        session.error(
            event,
            request_uuid,
            ErrorCode::Unavailable,
            ErrorCode::Unavailable.description(),
        );
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// Frames taken off the queue at once (and written with one flush).
const WRITE_BATCH: usize = 256;

/// Owns the sink: sends queued frames in batches (one flush per batch) until a close is
/// requested, then sends the close frame. A close request also interrupts a write that is
/// blocked on a full socket (a client that stopped reading). A batch counts against the
/// outbound queue until it is written.
async fn write_loop(mut sink: Sink, mut rx: Outbound, shared: Arc<ConnShared>) {
    let mut batch = Vec::with_capacity(16);
    let req = loop {
        let n = tokio::select! {
            biased;
            req = shared.closed() => break req,
            n = rx.recv_many(&mut batch, WRITE_BATCH) => n,
        };
        if n == 0 {
            return;
        }
        let mut next = 0;
        let sent = tokio::select! {
            biased;
            req = shared.closed() => Err(req),
            ok = send_batch(&mut sink, &mut batch, &mut next) => Ok(ok),
        };
        shared.written(n);
        match sent {
            Ok(true) => batch.clear(),
            Ok(false) => return,
            Err(req) => {
                // Frames of the interrupted batch not yet written come before the queue's.
                batch.drain(..next);
                break req;
            }
        }
    };
    finish(&mut sink, batch, &mut rx, req).await;
}

/// Writes `batch[*next..]`, advancing `next`, then flushes.
async fn send_batch(sink: &mut Sink, batch: &mut [Utf8Bytes], next: &mut usize) -> bool {
    while *next < batch.len() {
        let frame = std::mem::take(&mut batch[*next]);
        *next += 1;
        if sink.feed(Message::Text(frame)).await.is_err() {
            return false;
        }
    }
    sink.flush().await.is_ok()
}

/// How long a close (with its drained frames) may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

async fn finish(sink: &mut Sink, unsent: Vec<Utf8Bytes>, rx: &mut Outbound, req: CloseRequest) {
    if req.code != 1000 || !req.reason.is_empty() {
        tracing::debug!(code = req.code, reason = %req.reason, "closing");
    }
    let close = async {
        if req.drain {
            let queued = std::iter::from_fn(|| rx.try_recv().ok());
            for frame in unsent.into_iter().chain(queued) {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
        }
        let frame = CloseFrame {
            code: req.code,
            reason: Utf8Bytes::from(req.reason),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
}
