//! [`ConversationEdit`]: the builder of [`Messenger::edit_conversation`] (title, public join,
//! custom-data patch).

use std::future::IntoFuture;

use chatwire_protocol::{ConversationId, EditConversation, JsonMap, Request};
use futures::future::BoxFuture;

use super::CustomDataPatch;
use crate::error::Result;
use crate::model::Conversation;
use crate::request_id::RequestId;
use crate::{checks, decode, Messenger};

impl Messenger {
    /// Edits title, public join and custom data (owner only); see [`ConversationEdit`].
    ///
    /// # Errors
    /// Awaiting the [`ConversationEdit`] fails as described there.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let renamed = m.edit_conversation(chat).title("Weekend plans").public(true).await?;
    /// assert!(renamed.public);
    /// # Ok(()) }
    /// ```
    pub fn edit_conversation(&self, conversation: ConversationId) -> ConversationEdit<'_> {
        ConversationEdit {
            messenger: self,
            conversation,
            title: None,
            public: None,
            patch: None,
            replace: None,
            key: None,
            id: RequestId::new(),
        }
    }
}

/// Builder of [`Messenger::edit_conversation`] (owner only). Await it to send.
///
/// # Errors
/// Awaiting it fails with the [common errors](crate::Messenger#errors), and:
/// - [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a title over 50 characters
///   ([`TitleTooLong`](crate::InvalidArgumentKind::TitleTooLong)) or merged custom data over
///   5 120 bytes ([`CustomDataTooLarge`](crate::InvalidArgumentKind::CustomDataTooLarge));
///   nothing is sent.
/// - The errors of [`Messenger::get_conversation`] when a custom-data patch is given (the
///   current value is read first).
/// - [`Error::Server`](crate::Error::Server) with code 8 / 16 (unknown / deleted conversation),
///   19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)), 12
///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): not an owner) or 34 (a direct
///   conversation made public).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::CustomDataPatch;
/// let edited = m
///     .edit_conversation(chat)
///     .title("Q3 planning")
///     .custom_data(CustomDataPatch::new().set("topic", "budget"))
///     .await?;
/// assert_eq!(edited.title, "Q3 planning");
/// # Ok(()) }
/// ```
#[must_use = "await the edit to send it"]
pub struct ConversationEdit<'a> {
    messenger: &'a Messenger,
    conversation: ConversationId,
    title: Option<String>,
    public: Option<bool>,
    patch: Option<CustomDataPatch>,
    /// The whole new custom data (`replace_custom_data`); excludes `patch`.
    replace: Option<JsonMap>,
    key: Option<String>,
    id: RequestId,
}

impl ConversationEdit<'_> {
    /// The id this call is sent with, chosen when it was built. The events it causes carry it in
    /// [`EventMeta::request_id`](crate::EventMeta::request_id), on every device: see
    /// [`RequestId`](crate::RequestId).
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// The idempotency key of this edit (default: a new UUID); see
    /// [`MessageSend::idempotency_key`](crate::MessageSend::idempotency_key).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// m.edit_conversation(chat).title("Q3").idempotency_key("rename-q3").await?;
    /// # Ok(()) }
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// New title, at most 50 characters (`""` resets to "New conversation"; default:
    /// unchanged).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let reset = m.edit_conversation(chat).title("").await?;
    /// assert_eq!(reset.title, "New conversation");
    /// # Ok(()) }
    /// ```
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Opens or closes public join (default: unchanged).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let closed = m.edit_conversation(chat).public(false).await?;
    /// assert!(!closed.public);
    /// # Ok(()) }
    /// ```
    pub fn public(mut self, public: bool) -> Self {
        self.public = Some(public);
        self
    }

    /// Changes custom-data keys (merged onto the current custom data; default: unchanged).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::CustomDataPatch;
    /// // Other keys (such as the stored default permissions) are kept.
    /// let patch = CustomDataPatch::new().set("topic", "release").remove("draft");
    /// let edited = m.edit_conversation(chat).custom_data(patch).await?;
    /// assert_eq!(edited.custom_data["topic"], "release");
    /// # Ok(()) }
    /// ```
    pub fn custom_data(mut self, patch: CustomDataPatch) -> Self {
        self.patch = Some(patch);
        self.replace = None;
        self
    }

    /// Replaces the whole custom data, as the official SDKs' `setCustomData` does (default:
    /// unchanged; replaces an earlier [`custom_data`](Self::custom_data) patch of this edit).
    ///
    /// Every key not in `data` is removed, including the stored default permissions of new
    /// members ([`PERMISSIONS_KEY`](crate::PERMISSIONS_KEY)): copy that key over to keep them,
    /// or use a [`CustomDataPatch`], which changes only the keys it names.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::PERMISSIONS_KEY;
    /// let current = m.get_conversation(chat).await?;
    /// let mut data = chatwire::JsonMap::new();
    /// data.insert("topic".into(), "release".into());
    /// if let Some(defaults) = current.custom_data.get(PERMISSIONS_KEY) {
    ///     data.insert(PERMISSIONS_KEY.into(), defaults.clone());
    /// }
    /// let edited = m.edit_conversation(chat).replace_custom_data(data).await?;
    /// assert_eq!(edited.custom_data.len(), current.custom_data.contains_key(PERMISSIONS_KEY) as usize + 1);
    /// # Ok(()) }
    /// ```
    pub fn replace_custom_data(mut self, data: JsonMap) -> Self {
        self.replace = Some(data);
        self.patch = None;
        self
    }
}

impl<'a> IntoFuture for ConversationEdit<'a> {
    type Output = Result<Conversation>;
    type IntoFuture = BoxFuture<'a, Result<Conversation>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            if let Some(title) = &self.title {
                checks::title(title)?;
            }
            let server_patch = self
                .messenger
                .server_supports(chatwire_protocol::EXT_CUSTOM_DATA_PATCH);
            let wire = self
                .patch
                .as_ref()
                .filter(|_| server_patch)
                .and_then(|p| p.to_wire());
            let (custom_data, custom_data_patch) = match self.patch {
                None => match self.replace {
                    Some(data) => {
                        checks::custom_data("custom_data", &data)?;
                        (Some(data), None)
                    }
                    None => (None, None),
                },
                // The server applies the patch atomically: concurrent patches of other keys
                // are kept.
                Some(_) if wire.is_some() => {
                    // The values it sets end up in the result: already too large means the
                    // result is too.
                    let mut set = wire.clone().unwrap_or_default();
                    set.retain(|_, v| !v.is_null());
                    checks::custom_data("custom_data", &set)?;
                    (None, wire)
                }
                // Without the extension: read, apply, write the whole object.
                Some(patch) => {
                    let mut data = self
                        .messenger
                        .get_conversation(self.conversation)
                        .await?
                        .custom_data;
                    patch.apply(&mut data);
                    checks::custom_data("custom_data", &data)?;
                    (Some(data), None)
                }
            };
            let request = Request::EditConversation(EditConversation {
                uuid: self.conversation.to_string(),
                title: self.title,
                enable_public_join: self.public,
                custom_data,
                custom_data_patch,
            });
            if let Some(key) = &self.key {
                checks::idempotency_key(key)?;
            }
            decode::conversation(
                self.messenger
                    .call_one_with(request, self.key, self.id)
                    .await?,
            )
        })
    }
}
