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
/// The value is the form the official tutorial's demo clients use: an object of booleans with
/// the keys `canWrite`, `canEdit`, `canRemove`, `canManageParticipants`, `canEditAll` and
/// `canRemoveAll` (an absent key means `false`). chatwire writes all six keys; it also reads the
/// plain integer that chatwire 0.1 wrote.
///
/// # Examples
/// ```
/// use chatwire::{Conversation, Permissions, PERMISSIONS_KEY};
/// use serde_json::json;
/// assert_eq!(PERMISSIONS_KEY, "permissions");
/// // A chat created by the demo client: members may write and manage participants.
/// let demo = json!({"canWrite": true, "canManageParticipants": true});
/// assert_eq!(
///     chatwire::default_permissions_from(&demo),
///     Some(Permissions::WRITE | Permissions::MANAGE)
/// );
/// ```
pub const PERMISSIONS_KEY: &str = "permissions";

/// The demo clients' keys, with the permission each one stands for.
const DEMO_KEYS: [(&str, Permissions); 6] = [
    ("canWrite", Permissions::WRITE),
    ("canEdit", Permissions::EDIT),
    ("canRemove", Permissions::REMOVE),
    ("canManageParticipants", Permissions::MANAGE),
    ("canEditAll", Permissions::EDIT_ALL),
    ("canRemoveAll", Permissions::REMOVE_ALL),
];

/// The stored form of a default (the demo clients' object of booleans, every key present).
///
/// ```
/// use chatwire::Permissions;
/// let v = chatwire::default_permissions_value(Permissions::DEFAULT);
/// assert_eq!(v.to_string(), r#"{"canWrite":true,"canEdit":true,"canRemove":true,"canManageParticipants":false,"canEditAll":false,"canRemoveAll":false}"#);
/// ```
pub fn default_permissions_value(permissions: Permissions) -> Value {
    let mut object = JsonMap::new();
    for (key, flag) in DEMO_KEYS {
        object.insert(key.into(), Value::Bool(permissions.contains(flag)));
    }
    Value::Object(object)
}

/// Reads a stored default: the demo clients' object of booleans (absent keys and values other
/// than `true` are `false`) or the integer chatwire 0.1 wrote. `None` for anything
/// else.
///
/// ```
/// use chatwire::Permissions;
/// use serde_json::json;
/// assert_eq!(chatwire::default_permissions_from(&json!(15)), Some(Permissions::from_bits(15)));
/// assert_eq!(chatwire::default_permissions_from(&json!({})), Some(Permissions::NONE));
/// assert_eq!(chatwire::default_permissions_from(&json!("rw")), None);
/// ```
pub fn default_permissions_from(value: &Value) -> Option<Permissions> {
    match value {
        Value::Object(object) => Some(
            DEMO_KEYS
                .into_iter()
                .filter(|(key, _)| object.get(*key) == Some(&Value::Bool(true)))
                .fold(Permissions::NONE, |all, (_, flag)| all | flag),
        ),
        other => chatwire_protocol::lenient::int_of(other).and_then(Permissions::normalize),
    }
}

/// Stores `permissions` as the default of new members in a conversation's custom data.
pub(crate) fn store_default(custom_data: &mut JsonMap, permissions: Permissions) {
    custom_data.insert(
        PERMISSIONS_KEY.into(),
        default_permissions_value(permissions),
    );
}

impl Conversation {
    /// The default permissions of new members stored in `custom_data["permissions"]`
    /// ([`PERMISSIONS_KEY`]) by the SDK's builders or by the official demo clients, if any.
    ///
    /// # Examples
    /// ```
    /// # use chatwire::{Conversation, Permissions};
    /// # fn demo(c: &Conversation) {
    /// let defaults = c.default_permissions().unwrap_or(Permissions::DEFAULT);
    /// # }
    /// ```
    pub fn default_permissions(&self) -> Option<Permissions> {
        default_permissions_from(self.custom_data.get(PERMISSIONS_KEY)?)
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
        let patch =
            CustomDataPatch::new().set(PERMISSIONS_KEY, default_permissions_value(permissions));
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
