//! Sending, editing and removing messages.

use std::future::IntoFuture;

use chatwire_protocol::{
    ConversationId, EditMessage, EventObject, JsonMap, MessageId, RemoveMessage, Request,
    SendMessage, MAX_TEXT_CHARS,
};
use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::model::Message;
use crate::Messenger;

fn check_text(text: Option<&str>) -> Result<()> {
    match text {
        Some(t) if t.chars().count() > MAX_TEXT_CHARS => Err(Error::InvalidArgument(format!(
            "text longer than {MAX_TEXT_CHARS} characters"
        ))),
        _ => Ok(()),
    }
}

fn message_of(frame: chatwire_protocol::ServerFrame) -> Result<Message> {
    match frame.payload.object {
        Some(EventObject::Message(m)) => Ok(m.into()),
        _ => Err(crate::messenger::unexpected("a message")),
    }
}

/// Builder of [`Messenger::send_message`]; await it to send.
///
/// # Errors
/// Awaiting it fails with [`Error::InvalidArgument`] for text over 5 000 characters or a message
/// with neither text nor payload (nothing is sent); with [`Error::Server`] code 8 / 16 (unknown /
/// deleted conversation), 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant))
/// or 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `WRITE` permission);
/// and with the connection errors of every call ([`Error::Timeout`], [`Error::Disconnected`],
/// [`Error::NotLoggedIn`], codes 32 / 33).
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
}

impl MessageSend<'_> {
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
            check_text(Some(&self.text))?;
            if self.text.is_empty() && self.payload.is_empty() {
                return Err(Error::InvalidArgument(
                    "a message needs text or payload".into(),
                ));
            }
            let request = Request::SendMessage(SendMessage {
                conversation: self.conversation.to_string(),
                text: Some(self.text),
                payload: Some(self.payload),
            });
            message_of(self.messenger.call_one(request).await?)
        })
    }
}

/// Builder of [`Messenger::edit_message`]: set the text, the payload or both; unset parts
/// are kept. Await it to send.
///
/// # Errors
/// Awaiting it fails with [`Error::InvalidArgument`] for text over 5 000 characters or an edit
/// that sets both an empty text and an empty payload (nothing is sent); with [`Error::Server`]
/// code 8 / 16 (unknown / deleted conversation), 19 (not a participant), 10
/// ([`ErrorCode::MessageNotFound`](crate::ErrorCode::MessageNotFound)), 11
/// ([`ErrorCode::MessageRemoved`](crate::ErrorCode::MessageRemoved)), 12
/// ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): own message without `EDIT`,
/// another's without `EDIT_ALL`) or 0 (the result would be empty); and with the connection
/// errors of every call.
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
}

impl MessageEdit<'_> {
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
            check_text(self.text.as_deref())?;
            if self.text.as_deref() == Some("") && self.payload.as_ref().is_some_and(Vec::is_empty)
            {
                return Err(Error::InvalidArgument(
                    "an edit cannot empty the message".into(),
                ));
            }
            let request = Request::EditMessage(EditMessage {
                uuid: self.message.to_string(),
                conversation: self.conversation.to_string(),
                text: self.text,
                payload: self.payload,
            });
            message_of(self.messenger.call_one(request).await?)
        })
    }
}

impl Messenger {
    /// Sends a message (needs `WRITE`); add payload with [`MessageSend::payload`]. The text
    /// may be empty when there is payload; at most 5 000 characters.
    ///
    /// # Errors
    /// See [`MessageSend`]: [`Error::InvalidArgument`] for text over 5 000 characters or an empty
    /// message; [`Error::Server`] code 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied):
    /// no `WRITE`), 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)), 8 / 16
    /// (unknown / deleted conversation).
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
        }
    }

    /// Edits a message (own: `EDIT`; others': `EDIT_ALL`).
    ///
    /// # Errors
    /// See [`MessageEdit`]: [`Error::Server`] code 10 (unknown message), 11 (removed message), 12
    /// ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied)), 19 (not a participant), 8 / 16
    /// (unknown / deleted conversation); [`Error::InvalidArgument`] for text over 5 000 characters.
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
        }
    }

    /// Removes a message (own: `REMOVE`; others': `REMOVE_ALL`).
    ///
    /// # Errors
    /// - [`Error::Server`] with code 8 / 16 (unknown / deleted conversation), 19
    ///   ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)), 10
    ///   ([`ErrorCode::MessageNotFound`](crate::ErrorCode::MessageNotFound)), 11
    ///   ([`ErrorCode::MessageRemoved`](crate::ErrorCode::MessageRemoved): already removed) or 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): own message without
    ///   `REMOVE`, another's without `REMOVE_ALL`), checked in that order.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
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
}
