//! `retransmitEvents` (docs/BEHAVIOUR.md sections 7.3 and 7.4).

use chatwire_protocol::{
    ErrorCode, EventName, RetransmitEvents, RetransmitHeader, Seq, MAX_RETRANSMIT,
};

use super::{Ctx, Engine, Fail, Outcome};
use crate::outbound::Frame;

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
            // D23: the span `to - from` may be 100 (101 events), as the official SDK pages.
            if (t - f) as u64 > MAX_RETRANSMIT {
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
        let header = RetransmitHeader {
            initiator: ctx.user,
            timestamp: ctx.now,
            from_seq: Seq(first),
            to_seq: Seq(end),
            count: events.len() as u64,
        };
        let request_uuid = ctx.request_uuid.as_deref();
        if events.is_empty() {
            let frame = Frame::from(header.wrap_empty(request_uuid));
            self.out.reply(frame, &ctx.conn);
            return Ok(());
        }
        for e in &events {
            let event = EventName::from_name(&e.event);
            let frame = Frame::from(header.wrap_event(request_uuid, &event, &e.payload));
            self.out.reply(frame, &ctx.conn);
        }
        Ok(())
    }
}
