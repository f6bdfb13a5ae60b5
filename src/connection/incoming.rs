//! Incoming frames: replies are matched to their requests (and refusals that pass are sent
//! again), events go to the stream: persisted ones through seq tracking, ephemeral ones as they
//! come; session frames after the login carry token refreshes.

use std::time::Duration;

use chatwire_protocol::{
    parse_server_frame, EventClass, EventName, EventObject, ServerFrame, ServerMessage,
    ServerSession, SessionFrame,
};
use tokio::time::Instant;

use super::pending::{Answered, Internal, Origin};
use super::{refresh_time, socket, Task};
use crate::config::Credentials;
use crate::error::Result;
use crate::event::Event;

impl Task {
    pub(super) fn on_text(&mut self, text: &str) {
        match parse_server_frame(text) {
            Ok(ServerMessage::Messaging(frame)) => self.on_frame(frame),
            Ok(ServerMessage::Session(frame)) => self.on_session(&frame),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "undecodable server frame"),
        }
    }

    /// Session frames after the login: token refresh answers (and `__pong`).
    fn on_session(&mut self, frame: &SessionFrame) {
        match ServerSession::from_frame(frame) {
            Ok(Some(ServerSession::RefreshSuccessful { tokens })) => {
                let (tokens, lifetime) = socket::tokens_from(tokens);
                if let Credentials::Token {
                    access_token,
                    refresh_token,
                    ..
                } = &mut self.credentials
                {
                    *access_token = tokens.access_token.clone();
                    *refresh_token = Some(tokens.refresh_token.clone());
                }
                self.refresh_at = Some(refresh_time(lifetime));
                self.out.tokens.send_replace(Some(tokens.clone()));
                self.emit(Event::TokensRefreshed(tokens));
            }
            Ok(Some(ServerSession::RefreshFailed { code, .. })) => {
                tracing::warn!(code, "token refresh refused");
                self.refresh_at = Some(Instant::now() + Duration::from_secs(60));
            }
            _ => {}
        }
    }

    fn on_frame(&mut self, frame: ServerFrame) {
        if let Some(Answered { sent, result }) = self.pending.accept(&frame) {
            if self.should_retry(&sent, &result) {
                if let Err(e) = &result {
                    tracing::debug!(error = %e, attempt = sent.attempt + 1, "refused for now; retrying");
                }
                self.retry_later(sent);
                self.route_event(frame);
                return;
            }
            match sent.origin {
                Origin::User(reply) => {
                    let _ = reply.send(result);
                }
                Origin::Internal(internal) => {
                    self.internal_in_flight = self.internal_in_flight.saturating_sub(1);
                    self.on_internal(internal, result);
                }
                Origin::Outbox(id) => self.finish_change(id, result),
            }
        }
        self.route_event(frame);
    }

    /// Sends an event-carrying frame to the stream (persisted ones through seq tracking).
    pub(super) fn route_event(&mut self, frame: ServerFrame) {
        match frame.event.class() {
            EventClass::Ephemeral => {
                // Our own typing is not echoed to us (the server does not send it to our other
                // connections either).
                if frame.event == EventName::Typing
                    && self.me.is_some()
                    && frame.payload.initiator == self.me
                {
                    return;
                }
                if let Some(event) = Event::from_frame(frame, false) {
                    self.emit(event);
                }
            }
            EventClass::Persisted => self.route_persisted(frame),
            _ => {}
        }
    }

    fn route_persisted(&mut self, frame: ServerFrame) {
        let Some(sync) = self.sync.as_mut() else {
            self.early.push(frame);
            return;
        };
        let seq = frame.payload.seq.map(|s| s.get()).unwrap_or(0);
        // The existing-direct reply (never seq 1) only tells us the conversation's last seq.
        if frame.event == EventName::CreateConversation && seq != 1 {
            if let Some(EventObject::Conversation(c)) = &frame.payload.object {
                if sync.is_tracked(c.uuid) {
                    sync.set_last(c.uuid, seq);
                } else {
                    sync.track_from(c.uuid, seq);
                }
            }
            return;
        }
        let Some(event) = Event::from_frame(frame, false) else {
            return;
        };
        let (Some(conversation), true) = (event.conversation(), seq > 0) else {
            return;
        };
        let mut out = Vec::new();
        sync.on_event(conversation, seq, event, &mut out);
        self.emit_all(out);
    }

    /// The reply to one of the task's own requests.
    fn on_internal(&mut self, internal: Internal, result: Result<Vec<ServerFrame>>) {
        match internal {
            Internal::Ignore => {}
            Internal::Me => self.on_me(result),
            Internal::Conversations(ids) => self.on_conversations(ids, result),
            Internal::Conversation(id) => self.on_conversation(id, result),
            Internal::Scan { conversation } => self.on_scan(conversation, result),
            Internal::CatchUp(positions) => self.on_catch_up(positions, result),
            Internal::Fill {
                conversation,
                from,
                to,
            } => {
                let Some(sync) = self.sync.as_mut() else {
                    return;
                };
                let mut out = Vec::new();
                match result {
                    Ok(frames) => {
                        let events = frames
                            .into_iter()
                            .filter_map(Event::from_retransmitted)
                            .collect();
                        sync.filled(conversation, from, to, events, &mut out);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %conversation, from, to, "gap could not be filled");
                        sync.fill_failed(conversation, from, to, &mut out);
                    }
                }
                self.emit_all(out);
            }
        }
    }
}
