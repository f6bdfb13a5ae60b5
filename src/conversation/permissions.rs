//! The permission-defaults rule: a conversation stores the default permissions of new members
//! in its custom data under [`PERMISSIONS_KEY`].
//!
//! - [`NewConversation`](crate::NewConversation) stores its preset's member permissions there
//!   when creating (chat 15, broadcast 0; direct conversations store none).
//! - [`Messenger::add_participants`] gives that default to participants without explicit
//!   permissions (7 when none is stored).
//! - [`Messenger::add_admins`] makes members owners with every permission;
//!   [`Messenger::remove_admins`] turns them back into members with the default.
//! - [`Messenger::edit_permissions`] changes the default and applies it to every member who is
//!   not an owner.

use chatwire_protocol::{ConversationId, JsonMap, Permissions, UserId};
use serde_json::Value;

use super::CustomDataPatch;
use crate::error::Result;
use crate::messenger::dedup;
use crate::model::Conversation;
use crate::Messenger;

/// The key under which conversations store the default permissions of new members.
///
/// # Examples
/// ```
/// use chatwire::{Permissions, PERMISSIONS_KEY};
/// let mut data = chatwire::JsonMap::new();
/// data.insert(PERMISSIONS_KEY.into(), Permissions::WRITE.bits().into());
/// assert_eq!(PERMISSIONS_KEY, "permissions");
/// ```
pub const PERMISSIONS_KEY: &str = "permissions";

/// Stores `permissions` as the default of new members in a conversation's custom data.
pub(crate) fn store_default(custom_data: &mut JsonMap, permissions: Permissions) {
    custom_data.insert(PERMISSIONS_KEY.into(), Value::from(permissions.bits()));
}

impl Conversation {
    /// The default permissions of new members stored in `custom_data["permissions"]`
    /// ([`PERMISSIONS_KEY`]) by the SDK's builders, if any.
    ///
    /// # Examples
    /// ```
    /// # use chatwire::{Conversation, Permissions};
    /// # fn demo(c: &Conversation) {
    /// let defaults = c.default_permissions().unwrap_or(Permissions::DEFAULT);
    /// # }
    /// ```
    pub fn default_permissions(&self) -> Option<Permissions> {
        let raw = self.custom_data.get(PERMISSIONS_KEY)?;
        chatwire_protocol::lenient::int_of(raw).and_then(Permissions::normalize)
    }
}

impl Messenger {
    /// The stored default of a conversation, read from the server; 7 when none is stored.
    pub(crate) async fn stored_default_permissions(
        &self,
        conversation: ConversationId,
    ) -> Result<Permissions> {
        Ok(self
            .get_conversation(conversation)
            .await?
            .default_permissions()
            .unwrap_or(Permissions::DEFAULT))
    }

    /// Makes participants admins: owner with every permission (needs owner).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when the list is empty (nothing
    ///   is sent).
    /// - [`Error::Server`](crate::Error::Server) with code 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied)) when you are not an owner,
    ///   otherwise as [`Messenger::edit_participants`] (8 / 16, 19, 25).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let after = m.add_admins(chat, [bob]).await?;
    /// assert!(after.participant(bob).is_some_and(|p| p.permissions.is_owner()));
    /// # Ok(()) }
    /// ```
    pub async fn add_admins(
        &self,
        conversation: ConversationId,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Conversation> {
        self.edit_participants(
            conversation,
            dedup(users).into_iter().map(|u| (u, Permissions::ALL)),
        )
        .await
    }

    /// Turns admins back into members with the conversation's default permissions.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - The errors of [`Messenger::get_conversation`] (8 / 16 / 19; the default is read first).
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when the list is empty (nothing
    ///   more is sent).
    /// - [`Error::Server`](crate::Error::Server) with code 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied)) when you are not an owner
    ///   or no owner would remain, otherwise as [`Messenger::edit_participants`] (19, 25).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let after = m.remove_admins(chat, [bob]).await?;
    /// assert!(after.participant(bob).is_some_and(|p| !p.permissions.is_owner()));
    /// # Ok(()) }
    /// ```
    pub async fn remove_admins(
        &self,
        conversation: ConversationId,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Conversation> {
        let default = self.stored_default_permissions(conversation).await?;
        self.edit_participants(conversation, dedup(users).into_iter().map(|u| (u, default)))
            .await
    }

    /// Sets the default permissions of members: stores them in the conversation's custom data
    /// and applies them to every current member who is not an owner (two requests, as the
    /// original demo does; needs owner).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - The errors of [`Messenger::edit_conversation`]: 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied)) when you are not an owner,
    ///   19 when you are not a participant, 8 / 16 for an unknown / deleted conversation.
    /// - The errors of [`Messenger::edit_participants`] for the second request; the stored
    ///   default is then already changed, so calling again completes it.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::Permissions;
    /// // Make a chat read-only for its members (owners keep every permission).
    /// let after = m.edit_permissions(chat, Permissions::NONE).await?;
    /// assert_eq!(after.default_permissions(), Some(Permissions::NONE));
    /// # Ok(()) }
    /// ```
    pub async fn edit_permissions(
        &self,
        conversation: ConversationId,
        permissions: Permissions,
    ) -> Result<Conversation> {
        let patch = CustomDataPatch::new().set(PERMISSIONS_KEY, permissions.bits());
        let current = self
            .edit_conversation(conversation)
            .custom_data(patch)
            .await?;
        let members: Vec<(UserId, Permissions)> = current
            .participants
            .iter()
            .filter(|p| !p.permissions.is_owner())
            .map(|p| (p.user, permissions))
            .collect();
        if members.is_empty() {
            return Ok(current);
        }
        self.edit_participants(conversation, members).await
    }
}
