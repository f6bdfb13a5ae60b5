//! Idempotency keys (chatwire extension, docs/PROTOCOL.md section 12.3).
//!
//! On a connection that opted in, a seq-consuming mutation may carry a key. The first request
//! with a key runs as usual; if it appends an event, `(user, key) -> (action, conversation,
//! seq)` goes into the same store batch as the event, so the key is exactly as durable as the
//! event. A later request with the same key is not executed: the caller alone gets the original
//! result rebuilt from the log. The key is looked up before the action's own checks (the
//! transport has done codes 0 to 3), so a retried `leaveConversation` gets its original result
//! rather than 19. Keys older than the window are ignored and pruned.

use chatwire_protocol::{ConversationId, ErrorCode, EventName, Request};

use super::outbox::wrap;
use super::{Ctx, Engine, Fail, Outcome};
use crate::store::{IdempotencyRecord, Write};

/// 60: the key was used for another request.
fn conflict(what: &str) -> Fail {
    Fail {
        code: ErrorCode::IdempotencyConflict,
        detail: Some(format!(
            "Idempotency key already used for another request ({what})."
        )),
    }
}

impl Engine {
    /// Runs a seq-consuming request that carries an idempotency key: answers a repeated key
    /// from the log, or executes the request and remembers the key with its result event.
    pub(crate) fn with_idempotency_key(
        &mut self,
        ctx: &Ctx,
        key: &str,
        request: Request,
    ) -> Outcome {
        if let Some(stored) = self.stored_key(ctx, key)? {
            return self.replay(ctx, &stored, &request);
        }
        self.dispatch(ctx, request)?;
        // A request that appended nothing (the existing direct conversation) stores nothing.
        if let Some((conversation, seq)) = self.out.first_event() {
            self.out.write(Write::Idempotency(IdempotencyRecord {
                user: ctx.user,
                key: key.to_string(),
                action: ctx.action.name().to_string(),
                conversation,
                seq,
                created: ctx.now,
            }));
        }
        Ok(())
    }

    /// The caller's key, unless it is older than the window (then it counts as forgotten even
    /// before the next prune removes it).
    fn stored_key(&self, ctx: &Ctx, key: &str) -> Result<Option<IdempotencyRecord>, Fail> {
        let oldest = ctx.now - self.config.limits.idempotency_window_secs() as i64;
        Ok(self
            .store
            .idempotency(ctx.user, key)?
            .filter(|r| r.created >= oldest))
    }

    /// Answers a repeated key with the original result event, to the caller only, under the
    /// same rules as retransmitEvents (deleted: 16; no longer visible to the caller: 19).
    fn replay(&mut self, ctx: &Ctx, stored: &IdempotencyRecord, request: &Request) -> Outcome {
        if stored.action != ctx.action.name() {
            return Err(conflict(&format!("action {}", stored.action)));
        }
        if let Some(uuid) = request.changed_conversation() {
            if ConversationId::parse(uuid) != Some(stored.conversation) {
                return Err(conflict("another conversation"));
            }
        }
        let conv = self
            .state
            .conversations
            .get(&stored.conversation)
            .ok_or(ErrorCode::ConversationNotFound)?;
        if conv.rec.deleted {
            return Err(ErrorCode::ConversationDeleted.into());
        }
        let event = self
            .store
            .events(stored.conversation, stored.seq, stored.seq)?
            .into_iter()
            .next()
            .ok_or_else(|| Fail {
                code: ErrorCode::Internal,
                detail: Some("Internal server error: the original event is missing.".into()),
            })?;
        if !conv.visible(ctx.user, event.seq, event.is_message) {
            return Err(ErrorCode::NotParticipant.into());
        }
        let name = EventName::from_name(&event.event);
        let frame = wrap(&name, ctx.request_uuid.as_deref(), &event.payload);
        self.out.reply(frame, &ctx.conn);
        Ok(())
    }

    /// Forgets keys older than the window (at start-up and periodically).
    pub(crate) fn prune_idempotency(&mut self, now: i64) {
        let before = now - self.config.limits.idempotency_window_secs() as i64;
        self.out.write(Write::PruneIdempotency { before });
        self.release(None);
    }
}

#[cfg(test)]
mod tests {
    use chatwire_protocol::Action;

    #[test]
    fn keys_apply_to_exactly_the_seq_consuming_actions() {
        let consuming: Vec<&str> = Action::ALL
            .iter()
            .filter(|a| a.consumes_seq())
            .map(|a| a.name())
            .collect();
        assert_eq!(
            consuming,
            [
                "createConversation",
                "editConversation",
                "joinConversation",
                "leaveConversation",
                "addParticipants",
                "editParticipants",
                "removeParticipants",
                "sendMessage",
                "editMessage",
                "removeMessage"
            ]
        );
    }
}
