//! One WebSocket connection: the read loop that classifies, limits and dispatches frames
//! (its writer task is in `writer.rs`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use chatwire_protocol::{
    parse_client_frame, ActionLookup, ClientFrame, ErrorCode, Request, ServerSession,
};
use futures::stream::StreamExt;
use tokio::time::{sleep, Duration};
use tracing::Instrument;

use super::ratelimit::RateLimit;
use super::services::{PeerSlot, Services};
use super::session::{handle_frame, Session};
use super::writer::write_loop;
use crate::config::Limits;
use crate::engine::Command;
use crate::outbound::{ConnShared, Frame, Outbound};

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
    let (sink, mut stream) = socket.split();
    // The very first frame (the official SDK waits for it forever).
    shared.send(Frame::from(ServerSession::ConnectionSuccessful.encode()));
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
        Ok(ClientFrame::Session(frame)) => return handle_frame(session, frame).await,
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
