//! One WebSocket connection: the read loop that reads frames, keeps the timers and hands
//! requests to the engine once their replies have room (`dispatch.rs` classifies, limits and
//! decodes; the writer task is in `writer.rs`).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use chatwire_protocol::{ErrorCode, ServerSession};
use futures::stream::StreamExt;
use tokio::time::{sleep, Duration};
use tracing::Instrument;

use super::dispatch::{handle_text, rate_limited, send, Pending};
use super::ratelimit::RateLimit;
use super::services::{PeerSlot, Services};
use super::session::Session;
use super::writer::write_loop;
use crate::config::Limits;
use crate::engine::Command;
use crate::outbound::{CloseRequest, ConnShared, Frame, Outbound};

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
    limits: Limits,
) {
    tracing::debug!("connected");
    services.metrics.connections("open").inc();
    let (sink, mut stream) = socket.split();
    // The very first frame (the official SDK waits for it forever).
    shared.reply(Frame::from(ServerSession::ConnectionSuccessful.encode()));
    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        shared.clone(),
        services.metrics.clone(),
    ));

    let mut session = Session {
        services: services.clone(),
        shared: shared.clone(),
        peer,
        user: None,
        failures: 0,
        idempotency: false,
    };
    let mut rate = RateLimit::new(limits.requests_per_second, limits.requests_per_minute);
    let mut shutdown = services.shutdown.clone();
    let mut kick = services.kick.clone();
    kick.mark_unchanged();
    let login_deadline = sleep(limits.login_deadline);
    tokio::pin!(login_deadline);
    let idle = sleep(limits.idle_timeout);
    tokio::pin!(idle);
    // A request waiting for reply room: while there is one, or while the replies already
    // queued exceed the queue's size, nothing more is read from this connection.
    let mut pending: Option<Pending> = None;
    // The close code the client sent, if it closed first.
    let mut client_close: Option<u16> = None;

    loop {
        let paused = pending.is_some() || shared.replies_full();
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
                ended(&session, None, None);
                return;
            }
            _ = shared.reply_room(), if paused => {}
            msg = stream.next(), if !paused => {
                let Some(msg) = msg else { break };
                idle.as_mut().reset(tokio::time::Instant::now() + limits.idle_timeout);
                match msg {
                    Ok(Message::Text(text)) => {
                        if text.len() > limits.max_frame_bytes {
                            oversized(&session, limits.max_frame_bytes);
                            break;
                        }
                        pending = handle_text(&mut session, &mut rate, text.as_str()).await;
                    }
                    Ok(Message::Binary(_)) => {
                        if rate_limited(&session, &mut rate, None, None) {
                            continue;
                        }
                        session.error(None, None, ErrorCode::MalformedFrame, "Malformed frame: binary frames are not accepted.");
                    }
                    Ok(Message::Ping(_) | Message::Pong(_)) => {}
                    Ok(Message::Close(frame)) => {
                        client_close = Some(frame.map_or(1005, |f| f.code));
                        break;
                    }
                    Err(e) => {
                        if is_capacity_error(e) {
                            oversized(&session, limits.max_frame_bytes);
                        }
                        break;
                    }
                }
            }
        }
        if let Some(request) = pending.take() {
            pending = send(&session, request);
        }
    }
    shared.close(1000, "", true);
    let server_close = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    services.engine.send(Command::Detach { conn: shared.id });
    ended(&session, client_close, server_close);
}

/// Logs the end of a connection with its close code and updates the connection gauges.
fn ended(session: &Session, client_close: Option<u16>, server_close: Option<CloseRequest>) {
    let metrics = &session.services.metrics;
    metrics.connections("open").dec();
    if session.user.is_some() {
        metrics.connections("logged_in").dec();
    }
    let (conn, peer, user) = (
        session.shared.id,
        session.peer,
        session.user.map(|u| u.get()),
    );
    match (client_close, server_close) {
        (Some(code), _) => tracing::info!(conn, %peer, user, code, "disconnected by the client"),
        (None, Some(c)) => {
            let (code, reason) = (c.code, c.reason);
            tracing::info!(conn, %peer, user, code, reason, "disconnected by the server")
        }
        (None, None) => {
            tracing::info!(conn, %peer, user, "connection dropped without a close frame")
        }
    }
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
