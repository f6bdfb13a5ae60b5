//! `retransmitEvents` (SPEC.md sections 7.3 and 7.4).

use chatwire_protocol::{ErrorCode, RetransmitEvents, MAX_RETRANSMIT};

use super::outbox::wrap;
use super::{Ctx, Engine, Fail, Outcome};

impl Engine {
    pub(crate) fn retransmit(&mut self, ctx: &Ctx, req: RetransmitEvents) -> Outcome {
        let (from, to, count) = (req.events_from, req.events_to, req.count);
        let given = [from, to, count].iter().filter(|v| v.is_some()).count();
        if given == 3 {
            return Err(ErrorCode::RetransmitThreeGiven.into());
        }
        if given < 2 {
            return Err(ErrorCode::RetransmitTooFewGiven.into());
        }
        if let Some(c) = count {
            if c < 1 {
                return Err(ErrorCode::NothingRequested.into());
            }
            if c as u64 > MAX_RETRANSMIT {
                return Err(ErrorCode::TooMany.into());
            }
        }
        if from.is_some_and(|f| f < 1) || to.is_some_and(|t| t < 1) {
            return Err(Fail {
                code: ErrorCode::InvalidParameter,
                detail: Some("Invalid parameter: seq must be at least 1.".into()),
            });
        }
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ErrorCode::RangeReversed.into());
            }
            if (t - f + 1) as u64 > MAX_RETRANSMIT {
                return Err(ErrorCode::TooMany.into());
            }
        }
        let id = self.conversation_id(&req.conversation)?;
        let conv = self.conv(id);
        if !conv.members.contains_key(&ctx.user) {
            return Err(ErrorCode::NotParticipant.into());
        }
        let last = conv.rec.last_seq;
        let (first, end) = match (from, to, count) {
            (Some(f), Some(t), None) => {
                if t as u64 > last {
                    return Err(ErrorCode::SeqBeyondLast.into());
                }
                (f as u64, t as u64)
            }
            (Some(f), None, Some(c)) => {
                if f as u64 > last {
                    return Err(ErrorCode::SeqBeyondLast.into());
                }
                (f as u64, (f as u64 + c as u64 - 1).min(last))
            }
            (None, Some(t), Some(c)) => {
                if t as u64 > last {
                    return Err(ErrorCode::SeqBeyondLast.into());
                }
                ((t - c + 1).max(1) as u64, t as u64)
            }
            _ => unreachable!("exactly two fields given"),
        };
        let events: Vec<_> = self
            .store
            .events(id, first, end)?
            .into_iter()
            .filter(|e| conv.visible(ctx.user, e.seq, e.is_message))
            .collect();
        let header = |n: usize| {
            format!(
                r#"{{"initiator":{},"on_incoming_event":"retransmitEvents","timestamp":{},"from_seq":{first},"to_seq":{end},"count":{n}"#,
                ctx.user, ctx.now
            )
        };
        let request_uuid = ctx.request_uuid.as_deref();
        if events.is_empty() {
            let payload = header(0) + "}";
            self.out.send(
                wrap("onRetransmitEvents", request_uuid, &payload),
                vec![ctx.conn.clone()],
            );
            return Ok(());
        }
        let head = header(events.len());
        for e in &events {
            let payload = format!(
                r#"{head},"object":{{"event":{},"payload":{}}}}}"#,
                serde_json::to_string(&e.event).expect("string"),
                e.payload
            );
            self.out.send(
                wrap("onRetransmitEvents", request_uuid, &payload),
                vec![ctx.conn.clone()],
            );
        }
        Ok(())
    }
}
