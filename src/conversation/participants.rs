//! Participants: adding (with the conversation's stored default permissions), changing
//! permissions and removing.

use chatwire_protocol::{
    ConversationId, ManageParticipants, ParticipantSpec, Permissions, RemoveParticipants, Request,
    UserId,
};

use crate::error::Result;
use crate::messenger::dedup;
use crate::model::Conversation;
use crate::{checks, decode, Messenger};

/// A participant to add: a user, optionally with explicit permissions.
///
/// # Examples
/// ```
/// use chatwire::{NewParticipant, Permissions, UserId};
/// let bob: UserId = "1002".parse().unwrap();
/// let plain: NewParticipant = bob.into();
/// let writer: NewParticipant = (bob, Permissions::WRITE).into();
/// # let _ = (plain, writer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewParticipant {
    /// The user.
    pub user: UserId,
    /// Explicit permissions (`None`: the conversation's stored default).
    pub permissions: Option<Permissions>,
}

impl From<UserId> for NewParticipant {
    fn from(user: UserId) -> Self {
        NewParticipant {
            user,
            permissions: None,
        }
    }
}

impl From<(UserId, Permissions)> for NewParticipant {
    fn from((user, permissions): (UserId, Permissions)) -> Self {
        NewParticipant {
            user,
            permissions: Some(permissions),
        }
    }
}

impl Messenger {
    /// Adds participants (needs `MANAGE`). Those without explicit permissions get the
    /// conversation's stored default ([`Conversation::default_permissions`], else 7).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when the list is empty (nothing
    ///   is sent).
    /// - The errors of [`Messenger::get_conversation`] when a participant has no explicit
    ///   permissions (the stored default is read first).
    /// - [`Error::Server`](crate::Error::Server) with code 8 / 16 (unknown / deleted
    ///   conversation), 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): you
    ///   are not in it), 37 (a direct conversation), 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `MANAGE`, or granting
    ///   owner without being one), 25 (unknown user), 18 (deleted user), 13
    ///   ([`ErrorCode::AlreadyParticipant`](crate::ErrorCode::AlreadyParticipant)) or 22 (over
    ///   1 000 participants), checked in that order. The call is atomic: all users are added or
    ///   none.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::{NewParticipant, Permissions, UserId};
    /// let carol: UserId = "1003".parse().unwrap();
    /// // Bob gets the conversation's default permissions, Carol read-only.
    /// let after = m
    ///     .add_participants(chat, [NewParticipant::from(bob), (carol, Permissions::NONE).into()])
    ///     .await?;
    /// assert!(after.participant(carol).is_some());
    /// # Ok(()) }
    /// ```
    pub async fn add_participants<P: Into<NewParticipant>>(
        &self,
        conversation: ConversationId,
        participants: impl IntoIterator<Item = P>,
    ) -> Result<Conversation> {
        let list: Vec<NewParticipant> = participants.into_iter().map(Into::into).collect();
        checks::non_empty(&list, "add_participants")?;
        let default = if list.iter().any(|p| p.permissions.is_none()) {
            self.stored_default_permissions(conversation).await?
        } else {
            Permissions::DEFAULT
        };
        let specs = list
            .into_iter()
            .map(|p| ParticipantSpec {
                user_id: p.user,
                flags: Some(p.permissions.unwrap_or(default)),
            })
            .collect();
        self.manage(conversation, specs, true).await
    }

    /// Replaces participants' permissions (needs `MANAGE`; touching owners needs owner).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when the list is empty (nothing
    ///   is sent).
    /// - [`Error::Server`](crate::Error::Server) with code 8 / 16 (unknown / deleted
    ///   conversation), 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): you
    ///   or a target are not in it), 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied):
    ///   no `MANAGE`; touching an owner or granting owner without being one; leaving no owner) or
    ///   25 (unknown user). The call is atomic.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::Permissions;
    /// let after = m.edit_participants(chat, [(bob, Permissions::WRITE)]).await?;
    /// assert_eq!(after.participant(bob).map(|p| p.permissions), Some(Permissions::WRITE));
    /// # Ok(()) }
    /// ```
    pub async fn edit_participants(
        &self,
        conversation: ConversationId,
        participants: impl IntoIterator<Item = (UserId, Permissions)>,
    ) -> Result<Conversation> {
        let specs: Vec<ParticipantSpec> = participants
            .into_iter()
            .map(|(user_id, p)| ParticipantSpec {
                user_id,
                flags: Some(p),
            })
            .collect();
        checks::non_empty(&specs, "edit_participants")?;
        self.manage(conversation, specs, false).await
    }

    async fn manage(
        &self,
        conversation: ConversationId,
        participants: Vec<ParticipantSpec>,
        add: bool,
    ) -> Result<Conversation> {
        let body = ManageParticipants {
            uuid: conversation.to_string(),
            participants,
        };
        let request = if add {
            Request::AddParticipants(body)
        } else {
            Request::EditParticipants(body)
        };
        decode::conversation(self.call_one(request).await?)
    }

    /// Removes participants (needs `MANAGE`; removing an owner needs owner).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when the list is empty (nothing
    ///   is sent).
    /// - [`Error::Server`](crate::Error::Server) with code 8 / 16 (unknown / deleted
    ///   conversation), 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant): you
    ///   or a target are not in it), 38 (a direct conversation), 12
    ///   ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `MANAGE`, or removing
    ///   an owner without being one) or 25 (unknown user). The call is atomic.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let after = m.remove_participants(chat, [bob]).await?;
    /// assert!(after.participant(bob).is_none());
    /// # Ok(()) }
    /// ```
    pub async fn remove_participants(
        &self,
        conversation: ConversationId,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Conversation> {
        let users = dedup(users);
        checks::non_empty(&users, "remove_participants")?;
        let request = Request::RemoveParticipants(RemoveParticipants {
            uuid: conversation.to_string(),
            participants: users,
        });
        decode::conversation(self.call_one(request).await?)
    }
}
