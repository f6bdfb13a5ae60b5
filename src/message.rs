//! Messages, typing notifications and read marks.

use std::future::IntoFuture;

use chatwire_protocol::{
    ConversationId, EditMessage, IsRead, JsonMap, MessageId, RemoveMessage, Request, SendMessage,
    Seq, TypingMessage,
};
use futures::future::BoxFuture;

use crate::error::Result;
use crate::model::Message;
use crate::request_id::RequestId;
use crate::{checks, decode, Messenger};

/// Builder of [`Messenger::send_message`]; await it to send.
///
/// # Errors
/// Awaiting it fails with the [common errors](crate::Messenger#errors), and:
/// - [`Error::InvalidArgument`](crate::Error::InvalidArgument) for text over 5 000 characters
///   ([`TextTooLong`](crate::InvalidArgumentKind::TextTooLong)) or a message with neither text
///   nor payload ([`EmptyMessage`](crate::InvalidArgumentKind::EmptyMessage)); nothing is sent.
/// - [`Error::Server`](crate::Error::Server) with code 8 / 16 (unknown / deleted
///   conversation), 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)) or 12
///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `WRITE` permission).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use serde_json::json;
/// m.send_message(chat, "hello").await?;
/// let photo = json!({"type": "image", "url": "https://example.com/cat.png"});
/// m.send_message(chat, "look").payload(vec![photo.as_object().unwrap().clone()]).await?;
/// # Ok(()) }
/// ```
#[must_use = "await the message to send it"]
pub struct MessageSend<'a> {
    messenger: &'a Messenger,
    conversation: ConversationId,
    text: String,
    payload: Vec<JsonMap>,
    key: Option<String>,
    id: RequestId,
}

impl MessageSend<'_> {
    /// The id this call is sent with, chosen when it was built. The events it causes carry it in
    /// [`EventMeta::request_id`](crate::EventMeta::request_id), on every device: see
    /// [`RequestId`](crate::RequestId).
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// The idempotency key of this send (default: a new UUID). The message is sent with it on
    /// every attempt, across reconnects and restarts, so the server carries it out once; give a
    /// key derived from what the message answers to make the answer itself happen once, even if
    /// the application handles the same event again after a crash.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, event: chatwire::Event) -> chatwire::Result<()> {
    /// use chatwire::Event;
    /// if let Event::MessageSent { meta, message } = &event {
    ///     let key = format!("reply:{}:{}", message.conversation, meta.seq.unwrap());
    ///     m.send_message(message.conversation, "pong").idempotency_key(key).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Attaches payload objects (returned to every receiver exactly as sent).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use serde_json::json;
    /// let location = json!({"type": "location", "lat": 52.52, "lon": 13.40});
    /// // Text may be empty when there is payload.
    /// let sent = m.send_message(chat, "").payload(vec![location.as_object().unwrap().clone()]).await?;
    /// assert_eq!(sent.payload[0]["type"], "location");
    /// # Ok(()) }
    /// ```
    pub fn payload(mut self, payload: Vec<JsonMap>) -> Self {
        self.payload = payload;
        self
    }
}

impl<'a> IntoFuture for MessageSend<'a> {
    type Output = Result<Message>;
    type IntoFuture = BoxFuture<'a, Result<Message>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            checks::text(&self.text)?;
            if let Some(key) = &self.key {
                checks::idempotency_key(key)?;
            }
            let message = SendMessage {
                conversation: self.conversation.to_string(),
                text: Some(self.text),
                payload: Some(self.payload),
            };
            if message.is_empty() {
                return Err(checks::empty_message(false).into());
            }
            let request = Request::SendMessage(message);
            decode::message(
                self.messenger
                    .call_one_with(request, self.key, self.id)
                    .await?,
            )
        })
    }
}

/// Builder of [`Messenger::edit_message`]: set the text, the payload or both; unset parts
/// are kept. Await it to send.
///
/// # Errors
/// Awaiting it fails with the [common errors](crate::Messenger#errors), and:
/// - [`Error::InvalidArgument`](crate::Error::InvalidArgument) for text over 5 000 characters
///   ([`TextTooLong`](crate::InvalidArgumentKind::TextTooLong)) or an edit that sets both an
///   empty text and an empty payload ([`EmptyMessage`](crate::InvalidArgumentKind::EmptyMessage));
///   nothing is sent.
/// - [`Error::Server`](crate::Error::Server) with code 8 / 16 (unknown / deleted
///   conversation), 19 (not a participant), 10
///   ([`ErrorCode::MessageNotFound`](crate::ErrorCode::MessageNotFound)), 11
///   ([`ErrorCode::MessageRemoved`](crate::ErrorCode::MessageRemoved)), 12
///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): own message without `EDIT`,
///   another's without `EDIT_ALL`) or 0 (the result would be empty).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// let sent = m.send_message(chat, "helo").await?;
/// let fixed = m.edit_message(chat, sent.id).text("hello").await?;
/// assert_eq!((fixed.id, fixed.text.as_str()), (sent.id, "hello"));
/// # Ok(()) }
/// ```
#[must_use = "await the edit to send it"]
pub struct MessageEdit<'a> {
    messenger: &'a Messenger,
    conversation: ConversationId,
    message: MessageId,
    text: Option<String>,
    payload: Option<Vec<JsonMap>>,
    key: Option<String>,
    id: RequestId,
}

impl MessageEdit<'_> {
    /// The id this call is sent with, chosen when it was built. The events it causes carry it in
    /// [`EventMeta::request_id`](crate::EventMeta::request_id), on every device: see
    /// [`RequestId`](crate::RequestId).
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// The idempotency key of this edit (default: a new UUID); see
    /// [`MessageSend::idempotency_key`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, msg: chatwire::MessageId) -> chatwire::Result<()> {
    /// m.edit_message(chat, msg).text("fixed typo").idempotency_key(format!("fix:{msg}")).await?;
    /// # Ok(()) }
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Replaces the text.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, message: chatwire::MessageId) -> chatwire::Result<()> {
    /// let edited = m.edit_message(chat, message).text("(edited) see you at noon").await?;
    /// assert!(edited.text.starts_with("(edited)"));
    /// # Ok(()) }
    /// ```
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Replaces the payload.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, message: chatwire::MessageId) -> chatwire::Result<()> {
    /// // Drop the attachments, keep the text.
    /// let edited = m.edit_message(chat, message).payload(Vec::new()).await?;
    /// assert!(edited.payload.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn payload(mut self, payload: Vec<JsonMap>) -> Self {
        self.payload = Some(payload);
        self
    }
}

impl<'a> IntoFuture for MessageEdit<'a> {
    type Output = Result<Message>;
    type IntoFuture = BoxFuture<'a, Result<Message>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if let Some(text) = &self.text {
                checks::text(text)?;
            }
            let edit = EditMessage {
                uuid: self.message.to_string(),
                conversation: self.conversation.to_string(),
                text: self.text,
                payload: self.payload,
            };
            if edit.empties_message() {
                return Err(checks::empty_message(true).into());
            }
            if let Some(key) = &self.key {
                checks::idempotency_key(key)?;
            }
            let request = Request::EditMessage(edit);
            decode::message(
                self.messenger
                    .call_one_with(request, self.key, self.id)
                    .await?,
            )
        })
    }
}

impl Messenger {
    /// Sends a message (needs `WRITE`); add payload with [`MessageSend::payload`]. The text
    /// may be empty when there is payload; at most 5 000 characters.
    ///
    /// # Errors
    /// Awaiting the [`MessageSend`] fails as described there.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let sent = m.send_message(chat, "Noon?").await?;
    /// assert_eq!(sent.conversation, chat);
    /// # Ok(()) }
    /// ```
    pub fn send_message(
        &self,
        conversation: ConversationId,
        text: impl Into<String>,
    ) -> MessageSend<'_> {
        MessageSend {
            messenger: self,
            conversation,
            text: text.into(),
            payload: Vec::new(),
            key: None,
            id: RequestId::new(),
        }
    }

    /// Edits a message (own: `EDIT`; others': `EDIT_ALL`).
    ///
    /// # Errors
    /// Awaiting the [`MessageEdit`] fails as described there.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, message: chatwire::MessageId) -> chatwire::Result<()> {
    /// use serde_json::json;
    /// let pin = json!({"pinned": true}).as_object().unwrap().clone();
    /// m.edit_message(chat, message).text("Agenda v2").payload(vec![pin]).await?;
    /// # Ok(()) }
    /// ```
    pub fn edit_message(
        &self,
        conversation: ConversationId,
        message: MessageId,
    ) -> MessageEdit<'_> {
        MessageEdit {
            messenger: self,
            conversation,
            message,
            text: None,
            payload: None,
            key: None,
            id: RequestId::new(),
        }
    }

    /// Removes a message (own: `REMOVE`; others': `REMOVE_ALL`).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 8 / 16 (unknown / deleted conversation), 19
    /// ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)), 10
    /// ([`ErrorCode::MessageNotFound`](crate::ErrorCode::MessageNotFound)), 11
    /// ([`ErrorCode::MessageRemoved`](crate::ErrorCode::MessageRemoved): already removed) or 12
    /// ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): own message without
    /// `REMOVE`, another's without `REMOVE_ALL`), checked in that order.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let sent = m.send_message(chat, "oops").await?;
    /// m.remove_message(chat, sent.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_message(
        &self,
        conversation: ConversationId,
        message: MessageId,
    ) -> Result<()> {
        let request = Request::RemoveMessage(RemoveMessage {
            uuid: message.to_string(),
            conversation: conversation.to_string(),
        });
        self.call_one(request).await?;
        Ok(())
    }

    /// Shows this user as typing in a conversation to the other participants. One call per
    /// conversation per 10 s; an earlier one fails with [`Error::TypingThrottled`](crate::Error::TypingThrottled) unsent.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::TypingThrottled`](crate::Error::TypingThrottled) within 10 s
    ///   ([`TYPING_THROTTLE`](crate::TYPING_THROTTLE)) of the last successful call for this
    ///   conversation (nothing is sent).
    /// - [`Error::Server`](crate::Error::Server) with code 8 (unknown conversation), 16
    ///   (deleted), 19 (not a participant) or 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `WRITE` permission).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// match m.typing(chat).await {
    ///     Ok(()) | Err(chatwire::Error::TypingThrottled(_)) => {}
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn typing(&self, conversation: ConversationId) -> Result<()> {
        self.take_typing_slot(conversation)?;
        let result = self
            .call_one(Request::TypingMessage(TypingMessage {
                conversation: conversation.to_string(),
            }))
            .await;
        if result.is_err() {
            // A refused or lost call does not count toward the throttle.
            self.give_back_typing_slot(conversation);
        }
        result.map(|_| ())
    }

    /// Marks events up to `seq` as read; returns the stored mark.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 8 (unknown conversation), 16 (deleted), 19 (not a participant) or 24
    /// ([`ErrorCode::SeqBeyondLast`](crate::ErrorCode::SeqBeyondLast): `seq` is after the
    /// conversation's last event).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let conversation = m.get_conversation(chat).await?;
    /// let stored = m.mark_as_read(chat, conversation.last_seq).await?;
    /// assert_eq!(stored, conversation.last_seq);
    /// # Ok(()) }
    /// ```
    pub async fn mark_as_read(&self, conversation: ConversationId, seq: Seq) -> Result<Seq> {
        decode::read_mark(
            self.call_one(Request::IsRead(IsRead {
                conversation: conversation.to_string(),
                seq: seq.get() as i64,
            }))
            .await?,
        )
    }
}
