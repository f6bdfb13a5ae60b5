//! Request ids: how an application matches the events a call caused to the call.

use std::fmt;

/// The id of one call to the server (the wire's `request_uuid`).
///
/// The server echoes it on the call's reply and on every event the call caused, on every
/// device that receives them ([`EventMeta::request_id`](crate::EventMeta::request_id)). The
/// builder-form calls ([`Messenger::send_message`](crate::Messenger::send_message),
/// [`Messenger::edit_message`](crate::Messenger::edit_message),
/// [`Messenger::edit_conversation`](crate::Messenger::edit_conversation),
/// [`Messenger::create_conversation`](crate::Messenger::create_conversation) with a
/// [`NewConversation`](crate::NewConversation), [`Messenger::edit_user`](crate::Messenger::edit_user))
/// choose it when they are built and expose it before they are sent, so an application can
/// recognise the event of its own call even when the event arrives before the call's answer
/// (an optimistic "sending..." line replaced by the real message, for example). Every attempt
/// of one call (retries after a rate-limit refusal or a reconnect) uses the same id.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::Event;
/// use futures::StreamExt;
/// let send = m.send_message(chat, "hello");
/// let mine = send.request_id().clone();
/// let mut events = m.events();
/// let wait_for_mine = async {
///     while let Some(event) = events.next().await {
///         if event.meta().and_then(|meta| meta.request_id.as_ref()) == Some(&mine) {
///             return Some(event);
///         }
///     }
///     None
/// };
/// let (event, sent) = futures::join!(wait_for_mine, send.into_future());
/// println!("{:?} arrived as {event:?}", sent?);
/// # Ok(()) }
/// # use std::future::IntoFuture;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id (a UUID v4, as the official SDKs use).
    ///
    /// ```
    /// let a = chatwire::RequestId::new();
    /// assert_ne!(a, chatwire::RequestId::new());
    /// assert_eq!(a.as_str().len(), 36);
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        RequestId(uuid::Uuid::new_v4().to_string())
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps an id read off the wire.
    pub(crate) fn from_wire(id: String) -> Self {
        RequestId(id)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
