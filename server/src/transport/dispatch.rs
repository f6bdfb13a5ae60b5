//! From a text frame to an engine request: classification, the rate limit, the checks of codes
//! 0 to 3 (with the idempotency key of connections that opted in), and the reply room a request
//! needs before it goes to the engine (back-pressure, see `outbound`).

use std::time::Instant;

use chatwire_protocol::{
    parse_client_frame, ActionLookup, ClientFrame, ErrorCode, Request, MAX_GET_CONVERSATIONS,
    MAX_GET_USERS, MAX_RETRANSMIT,
};

use super::ratelimit::RateLimit;
use super::session::{handle_frame, Session};
use crate::engine::Command;
use crate::metrics::{action_label, ActionLabel};

/// A decoded request waiting for reply room before it goes to the engine.
pub(super) struct Pending {
    event: String,
    request_uuid: Option<String>,
    idempotency_key: Option<String>,
    request: Request,
    /// The most reply frames the request can produce.
    replies: usize,
}

/// The most frames the caller can get back for `request` (its reply room): one result or
/// error for most requests, one frame per event of a retransmit window, one per item of a
/// batch. A catch-up is one frame, however many conversations it covers.
fn reply_frames(request: &Request) -> usize {
    match request {
        Request::RetransmitEvents(r) => {
            let window = match (r.events_from, r.events_to, r.count) {
                (Some(f), Some(t), None) => t.saturating_sub(f).saturating_add(1),
                (_, _, Some(c)) => c,
                _ => 1,
            };
            window.clamp(1, MAX_RETRANSMIT as i64 + 1) as usize
        }
        Request::GetUsers(r) => r.users.len().clamp(1, MAX_GET_USERS),
        Request::GetConversations(r) => r.uuid.len().clamp(1, MAX_GET_CONVERSATIONS),
        _ => 1,
    }
}

/// Applies the per-connection rate limit; answers 32/33 when refused.
pub(super) fn rate_limited(
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

/// Handles one text frame. Session frames and refused requests are answered here; a request
/// for the engine is returned, to be sent once there is reply room for it ([`send`]).
pub(super) async fn handle_text(
    session: &mut Session,
    rate: &mut RateLimit,
    text: &str,
) -> Option<Pending> {
    let frame = match parse_client_frame(text) {
        Ok(ClientFrame::Session(frame)) => {
            handle_frame(session, frame).await;
            return None;
        }
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
            return None;
        }
    };
    let (event, request_uuid) = (Some(frame.event.as_str()), frame.request_uuid.as_deref());
    let metrics = &session.services.metrics;
    let label = action_label(event);
    metrics
        .requests
        .get_or_create(&ActionLabel { action: label })
        .inc();
    if matches!(label, "catchUp" | "retransmitEvents") {
        metrics
            .catchup
            .get_or_create(&ActionLabel { action: label })
            .inc();
    }
    if rate_limited(session, rate, event, request_uuid) {
        return None;
    }
    let refuse = |code: ErrorCode, description: &str| {
        session.error(event, request_uuid, code, description);
        None
    };
    let action = match frame.lookup() {
        ActionLookup::Unknown => {
            return refuse(
                ErrorCode::UnknownEvent,
                ErrorCode::UnknownEvent.description(),
            )
        }
        _ if session.user.is_none() => {
            return refuse(ErrorCode::NotLoggedIn, ErrorCode::NotLoggedIn.description())
        }
        ActionLookup::Reserved => {
            return refuse(
                ErrorCode::AccessDenied,
                "Access denied: not available to clients.",
            )
        }
        ActionLookup::Action(a) => a,
    };
    let request = match Request::decode(action, &frame.payload) {
        Ok(r) => r,
        Err(e) => return refuse(e.code(), &e.to_string()),
    };
    // The key counts only on connections that opted in, and only for seq-consuming actions.
    let idempotency_key = if session.idempotency && action.consumes_seq() {
        match frame.idempotency_key() {
            Ok(key) => key.map(str::to_string),
            Err(e) => return refuse(e.code(), &e.to_string()),
        }
    } else {
        None
    };
    Some(Pending {
        replies: reply_frames(&request),
        event: frame.event.clone(),
        request_uuid: frame.request_uuid.clone(),
        idempotency_key,
        request,
    })
}

/// Sends a pending request to the engine if the connection's queue has room for its replies;
/// otherwise hands it back (the read loop then waits, reading nothing, until the client has
/// read some of its replies).
pub(super) fn send(session: &Session, pending: Pending) -> Option<Pending> {
    let Some(credit) = session.shared.reserve(pending.replies) else {
        return Some(pending);
    };
    let user = session.user.expect("only logged-in requests are pending");
    let Pending {
        event,
        request_uuid,
        idempotency_key,
        request,
        ..
    } = pending;
    let sent = session.services.engine.send(Command::Request {
        conn: session.shared.clone(),
        user,
        request_uuid: request_uuid.clone(),
        idempotency_key,
        request,
        credit,
    });
    if !sent {
        session.error(
            Some(&event),
            request_uuid.as_deref(),
            ErrorCode::Unavailable,
            ErrorCode::Unavailable.description(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatwire_protocol::{Action, RetransmitEvents};
    use serde_json::json;

    fn decode(action: Action, payload: serde_json::Value) -> Request {
        Request::decode(action, payload.as_object().unwrap()).unwrap()
    }

    fn retransmit(from: Option<i64>, to: Option<i64>, count: Option<i64>) -> Request {
        Request::RetransmitEvents(RetransmitEvents {
            conversation: "c".into(),
            events_from: from,
            events_to: to,
            count,
        })
    }

    #[test]
    fn reply_room_covers_every_frame_a_request_can_produce() {
        assert_eq!(reply_frames(&retransmit(Some(1), Some(101), None)), 101);
        assert_eq!(reply_frames(&retransmit(Some(1), Some(5000), None)), 101);
        assert_eq!(reply_frames(&retransmit(Some(9), Some(1), None)), 1);
        assert_eq!(reply_frames(&retransmit(None, Some(50), Some(40))), 40);
        assert_eq!(reply_frames(&retransmit(Some(1), None, Some(1000))), 101);
        assert_eq!(reply_frames(&retransmit(Some(1), None, None)), 1);
        let users: Vec<_> = (1001..1101).map(|u| json!({"user_id": u})).collect();
        assert_eq!(
            reply_frames(&decode(Action::GetUsers, json!({"users": users}))),
            50
        );
        assert_eq!(
            reply_frames(&decode(
                Action::GetConversations,
                json!({"uuid": ["a", "b"]})
            )),
            2
        );
        assert_eq!(
            reply_frames(&decode(
                Action::CatchUp,
                json!({"positions": [{"conversation": "a", "seq": 1}]})
            )),
            1
        );
    }
}
