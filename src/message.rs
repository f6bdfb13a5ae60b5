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
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Replaces the payload.
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
