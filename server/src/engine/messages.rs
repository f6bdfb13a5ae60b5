//! Messages, typing and read marks (docs/BEHAVIOUR.md sections 6, 7.5 and 7.6).

use chatwire_protocol::{
    ConversationId, EditMessage, ErrorCode, EventName, EventObject, IsRead, MessageId,
    MessageObject, MessageRefObject, Permissions, ReadObject, RemoveMessage, SendMessage, Seq,
    TypingMessage, TypingObject, MAX_TEXT_CHARS,
};

use super::{encode_frame, Ctx, Engine, Fail, Outcome};
use crate::store::{MessageRecord, Write};

fn check_text(text: Option<&str>) -> Result<(), Fail> {
    match text {
        Some(t) if t.chars().count() > MAX_TEXT_CHARS => Err(ErrorCode::TextTooLong.into()),
        _ => Ok(()),
    }
}

fn message_object(m: &MessageRecord) -> EventObject {
    EventObject::Message(MessageObject {
        uuid: m.uuid,
        conversation: m.conversation,
        text: m.text.clone(),
        payload: m.payload.clone(),
    })
}

impl Engine {
    /// The conversation of a message action, with the caller's flags (8/16, then 19).
    fn participant_conversation(
        &self,
        ctx: &Ctx,
        uuid: &str,
    ) -> Result<(ConversationId, Permissions), Fail> {
        let id = self.conversation_id(uuid)?;
        let flags = self
            .conv(id)
            .flags(ctx.user)
            .ok_or(ErrorCode::NotParticipant)?;
        Ok((id, flags))
    }

    /// A message of this conversation that is not removed (10, then 11).
    fn live_message(&self, conv: ConversationId, uuid: &str) -> Result<MessageRecord, Fail> {
        let id = MessageId::parse(uuid).ok_or(ErrorCode::MessageNotFound)?;
        let message = self
            .store
            .message(conv, id)?
            .ok_or(ErrorCode::MessageNotFound)?;
        if message.removed {
            return Err(ErrorCode::MessageRemoved.into());
        }
        Ok(message)
    }

    /// Logs a message event and sends it to every current participant.
    fn message_event(
        &mut self,
        ctx: &Ctx,
        conv: ConversationId,
        event: EventName,
        object: EventObject,
    ) {
        let seq = self.conv_mut(conv).next_event(ctx.now);
        let frame = self.log_event(ctx, conv, seq, event, object);
        self.deliver_to_participants(ctx, conv, frame);
    }

    pub(crate) fn send_message(&mut self, ctx: &Ctx, req: SendMessage) -> Outcome {
        check_text(req.text.as_deref())?;
        let (conv, flags) = self.participant_conversation(ctx, &req.conversation)?;
        if !flags.contains(Permissions::WRITE) {
            return Err(ErrorCode::AccessDenied.into());
        }
        let message = MessageRecord {
            conversation: conv,
            uuid: MessageId::new_v4(),
            sender: ctx.user,
            text: req.text.unwrap_or_default(),
            payload: req.payload.unwrap_or_default(),
            removed: false,
        };
        let object = message_object(&message);
        self.out.write(Write::Message(Box::new(message)));
        self.message_event(ctx, conv, EventName::SendMessage, object);
        Ok(())
    }

    pub(crate) fn edit_message(&mut self, ctx: &Ctx, req: EditMessage) -> Outcome {
        check_text(req.text.as_deref())?;
        let (conv, flags) = self.participant_conversation(ctx, &req.conversation)?;
        let mut message = self.live_message(conv, &req.uuid)?;
        let needed = if message.sender == ctx.user {
            Permissions::EDIT
        } else {
            Permissions::EDIT_ALL
        };
        if !flags.contains(needed) {
            return Err(ErrorCode::AccessDenied.into());
        }
        if let Some(text) = req.text {
            message.text = text;
        }
        if let Some(payload) = req.payload {
            message.payload = payload;
        }
        if message.text.is_empty() && message.payload.is_empty() {
            return Err(Fail {
                code: ErrorCode::InvalidParameter,
                detail: Some("Invalid parameter: the edit would leave the message empty.".into()),
            });
        }
        let object = message_object(&message);
        self.out.write(Write::Message(Box::new(message)));
        self.message_event(ctx, conv, EventName::EditMessage, object);
        Ok(())
    }

    pub(crate) fn remove_message(&mut self, ctx: &Ctx, req: RemoveMessage) -> Outcome {
        let (conv, flags) = self.participant_conversation(ctx, &req.conversation)?;
        let mut message = self.live_message(conv, &req.uuid)?;
        let needed = if message.sender == ctx.user {
            Permissions::REMOVE
        } else {
            Permissions::REMOVE_ALL
        };
        if !flags.contains(needed) {
            return Err(ErrorCode::AccessDenied.into());
        }
        message.removed = true;
        let object = EventObject::MessageRef(MessageRefObject {
            uuid: message.uuid,
            conversation: conv,
        });
        self.out.write(Write::Message(Box::new(message)));
        self.message_event(ctx, conv, EventName::RemoveMessage, object);
        Ok(())
    }

    pub(crate) fn typing(&mut self, ctx: &Ctx, req: TypingMessage) -> Outcome {
        let (conv, flags) = self.participant_conversation(ctx, &req.conversation)?;
        if !flags.contains(Permissions::WRITE) {
            return Err(ErrorCode::AccessDenied.into());
        }
        let frame = encode_frame(
            EventName::Typing,
            ctx.request_uuid.as_deref(),
            self.payload(
                ctx,
                Some(EventObject::Typing(TypingObject { conversation: conv })),
            ),
        );
        // The caller gets its result; other participants' connections get the broadcast; the
        // caller's other connections get nothing (D17).
        let others: Vec<_> = self
            .conv(conv)
            .participants
            .iter()
            .copied()
            .filter(|u| *u != ctx.user)
            .collect();
        let mut to = self.conns_of(others);
        to.push(ctx.conn.clone());
        if let Some(bus) = &self.bus {
            bus.publish(crate::bus::Outgoing::Typing(crate::bus::Typing {
                node: bus.node,
                conversation: *conv.as_uuid(),
                user: ctx.user.get(),
                frame: frame.as_str().to_string(),
            }));
        }
        self.out.send_with_reply(frame, to, Some(ctx.conn.id));
        Ok(())
    }

    pub(crate) fn is_read(&mut self, ctx: &Ctx, req: IsRead) -> Outcome {
        let (conv, _) = self.participant_conversation(ctx, &req.conversation)?;
        let last = self.conv(conv).rec.last_seq;
        if req.seq > 0 && req.seq as u64 > last {
            return Err(ErrorCode::SeqBeyondLast.into());
        }
        let stored = req.seq.max(1) as u64;
        self.conv_mut(conv)
            .members
            .get_mut(&ctx.user)
            .expect("participant")
            .last_read = stored;
        self.save_member(conv, ctx.user);
        let frame = encode_frame(
            EventName::Read,
            ctx.request_uuid.as_deref(),
            self.payload(
                ctx,
                Some(EventObject::Read(ReadObject {
                    conversation: conv,
                    seq: Seq(stored),
                })),
            ),
        );
        let participants = self.conv(conv).participants.clone();
        self.announce_unlogged(&participants, &frame);
        self.deliver_to_participants(ctx, conv, frame);
        Ok(())
    }
}
