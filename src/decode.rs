//! Reply decoders: the object of a reply frame as the typed value a call returns.
//!
//! A reply without the expected object is a protocol error ([`Error::Protocol`]): the server
//! answered the request id with something else.

use chatwire_protocol::{ConversationId, DecodeError, EventObject, Seq, ServerFrame, UserId};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::history::Replay;
use crate::model::{Conversation, Message, User};

/// The error of a reply that does not carry `what`.
pub(crate) fn unexpected(what: &str) -> Error {
    Error::Protocol(DecodeError::Malformed(format!("expected {what}")))
}

/// A user record (`getUser`, `getUsers`, `editUser`).
pub(crate) fn user(frame: ServerFrame) -> Result<User> {
    match frame.payload.object {
        Some(EventObject::User(u)) => Ok((*u).into()),
        _ => Err(unexpected("a user")),
    }
}

/// A conversation (every conversation and participant call).
pub(crate) fn conversation(frame: ServerFrame) -> Result<Conversation> {
    match frame.payload.object {
        Some(EventObject::Conversation(c)) => Ok((*c).into()),
        _ => Err(unexpected("a conversation")),
    }
}

/// A message (`sendMessage`, `editMessage`).
pub(crate) fn message(frame: ServerFrame) -> Result<Message> {
    let p = frame.payload;
    match p.object {
        Some(EventObject::Message(m)) => Message::from_event(m, p.initiator, p.seq, p.timestamp)
            .ok_or_else(|| unexpected("a message with its initiator and seq")),
        _ => Err(unexpected("a message")),
    }
}

/// User ids (`unsubscribe`).
pub(crate) fn user_ids(frame: ServerFrame) -> Result<Vec<UserId>> {
    match frame.payload.object {
        Some(EventObject::UserIds(u)) => Ok(u.user_id),
        _ => Err(unexpected("user ids")),
    }
}

/// The subscription list (`getSubscriptionList`).
pub(crate) fn subscriptions(frame: ServerFrame) -> Result<Vec<UserId>> {
    match frame.payload.object {
        Some(EventObject::SubscriptionList(s)) => Ok(s.subscriptions),
        _ => Err(unexpected("onGetSubscriptionList")),
    }
}

/// The aggregate presence (`setStatus`).
pub(crate) fn status(frame: ServerFrame) -> Result<bool> {
    match frame.payload.object {
        Some(EventObject::Status(s)) => Ok(s.online),
        _ => Err(unexpected("onSetStatus")),
    }
}

/// The public conversations (`getPublicConversations`).
pub(crate) fn public_conversations(frame: ServerFrame) -> Result<Vec<ConversationId>> {
    match frame.payload.object {
        Some(EventObject::PublicConversations(p)) => Ok(p.uuid),
        _ => Err(unexpected("onGetPublicConversations")),
    }
}

/// The stored read mark (`isRead`).
pub(crate) fn read_mark(frame: ServerFrame) -> Result<Seq> {
    match frame.payload.object {
        Some(EventObject::Read(r)) => Ok(r.seq),
        _ => Err(unexpected("isRead")),
    }
}

/// The replay of `retransmitEvents`: the covered range of the first frame and every event of
/// the reply, each marked replayed.
pub(crate) fn replay(frames: Vec<ServerFrame>) -> Replay {
    let (from, to) = frames
        .first()
        .map(|f| {
            (
                f.payload.from_seq.unwrap_or_default(),
                f.payload.to_seq.unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let events = frames
        .into_iter()
        .filter_map(Event::from_retransmitted)
        .map(|(_, e)| e)
        .collect();
    Replay { from, to, events }
}
