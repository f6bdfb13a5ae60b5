//! Conversations: reading, creating, joining and leaving them, and the pieces they are built
//! from, one file each:
//!
//! - `new`: [`NewConversation`], creation presets;
//! - `edit`: [`ConversationEdit`], the builder of [`Messenger::edit_conversation`];
//! - `custom_data`: [`CustomDataPatch`], custom-data changes that keep other keys;
//! - `participants`: [`NewParticipant`] and the participant calls;
//! - `permissions`: the stored default permissions of members ([`PERMISSIONS_KEY`]), admins and
//!   [`Messenger::edit_permissions`].

mod custom_data;
mod edit;
mod new;
mod participants;
mod permissions;

use chatwire_protocol::{
    ConversationId, ConversationRef, GetConversations, Request, MAX_GET_CONVERSATIONS,
};

pub use custom_data::CustomDataPatch;
pub use edit::ConversationEdit;
pub use new::NewConversation;
pub use participants::NewParticipant;
pub use permissions::{default_permissions_from, default_permissions_value, PERMISSIONS_KEY};

use crate::error::Result;
use crate::messenger::dedup;
use crate::model::Conversation;
use crate::{checks, decode, Messenger};

impl Messenger {
    /// A conversation's current state (participants, former participants, or anyone for a
    /// public one).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 8 ([`ErrorCode::ConversationNotFound`](crate::ErrorCode::ConversationNotFound))
    /// for an unknown conversation, 16
    /// ([`ErrorCode::ConversationDeleted`](crate::ErrorCode::ConversationDeleted)) for a deleted
    /// one, 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)) when you never
    /// were in it and it is not public.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let conversation = m.get_conversation(chat).await?;
    /// println!("{}: {} participants, last seq {}",
    ///     conversation.title, conversation.participants.len(), conversation.last_seq);
    /// # Ok(()) }
    /// ```
    pub async fn get_conversation(&self, conversation: ConversationId) -> Result<Conversation> {
        decode::conversation(
            self.call_one(Request::GetConversation(ConversationRef {
                uuid: conversation.to_string(),
            }))
            .await?,
        )
    }

    /// Any number of conversations, in the order given (duplicates once); batches of 30.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    ///   ([`EmptyList`](crate::InvalidArgumentKind::EmptyList)) when no conversation is given
    ///   (nothing is sent).
    /// - [`Error::Server`](crate::Error::Server) with code 8 (unknown), 16 (deleted) or 19 (not a
    ///   participant of a non-public conversation) when any conversation of a batch fails that
    ///   check.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let me = m.me().await?;
    /// let mine = me.private.map(|p| p.conversations).unwrap_or_default();
    /// for conversation in m.get_conversations(mine).await? {
    ///     println!("{}", conversation.title);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_conversations(
        &self,
        conversations: impl IntoIterator<Item = ConversationId>,
    ) -> Result<Vec<Conversation>> {
        let ids = dedup(conversations);
        checks::non_empty(&ids, "get_conversations")?;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_GET_CONVERSATIONS) {
            let request = Request::GetConversations(GetConversations {
                uuid: batch.iter().map(|c| c.to_string()).collect(),
            });
            for frame in self.call(request).await? {
                out.push(decode::conversation(frame)?);
            }
        }
        Ok(out)
    }

    /// Every public conversation, in creation order.
    ///
    /// # Errors
    /// Only the [common errors](crate::Messenger#errors).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let public = m.get_public_conversations().await?;
    /// if let Some(first) = public.first() {
    ///     let lobby = m.get_conversation(*first).await?;
    ///     println!("{}", lobby.title);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_public_conversations(&self) -> Result<Vec<ConversationId>> {
        decode::public_conversations(self.call_one(Request::GetPublicConversations).await?)
    }

    /// Creates a conversation from a preset ([`NewConversation`]). For a direct conversation
    /// that already exists, returns the existing one.
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and:
    /// - [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a title over 50
    ///   characters ([`TitleTooLong`](crate::InvalidArgumentKind::TitleTooLong)), a public
    ///   ([`DirectPublic`](crate::InvalidArgumentKind::DirectPublic)) or uber
    ///   ([`DirectUber`](crate::InvalidArgumentKind::DirectUber)) direct conversation, extra
    ///   participants of a direct conversation
    ///   ([`DirectParticipants`](crate::InvalidArgumentKind::DirectParticipants)), or custom data
    ///   over 5 120 bytes ([`CustomDataTooLarge`](crate::InvalidArgumentKind::CustomDataTooLarge));
    ///   nothing is sent.
    /// - [`Error::Server`](crate::Error::Server) with code 34 / 35 (direct rules), 22
    ///   ([`ErrorCode::TooMany`](crate::ErrorCode::TooMany): over 1 000 participants), 25
    ///   ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound)) for an unknown participant
    ///   or 18 ([`ErrorCode::UserValidationFailed`](crate::ErrorCode::UserValidationFailed)) for a
    ///   deleted one.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// use chatwire::NewConversation;
    /// let lunch = m.create_conversation(NewConversation::chat().title("Lunch").participant(bob)).await?;
    /// assert_eq!(lunch.participants[0].user, m.user_id()); // the creator, owner
    /// # Ok(()) }
    /// ```
    pub async fn create_conversation(
        &self,
        mut conversation: NewConversation,
    ) -> Result<Conversation> {
        let key = conversation.take_key();
        let id = conversation.request_id().clone();
        decode::conversation(
            self.call_one_with(conversation.into_request()?, key, id)
                .await?,
        )
    }

    /// Joins a public conversation (with the default permissions, 7).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 8 (unknown conversation), 16 (deleted), 39
    /// ([`ErrorCode::DirectJoin`](crate::ErrorCode::DirectJoin), a direct conversation), 15
    /// ([`ErrorCode::NotPublic`](crate::ErrorCode::NotPublic)), 13
    /// ([`ErrorCode::AlreadyParticipant`](crate::ErrorCode::AlreadyParticipant)) or 22 (the
    /// conversation has 1 000 participants), checked in that order.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// use chatwire::ErrorCode;
    /// match m.join_conversation(chat).await {
    ///     Ok(conversation) => println!("joined {}", conversation.title),
    ///     Err(e) if e.code() == Some(ErrorCode::AlreadyParticipant) => {}
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn join_conversation(&self, conversation: ConversationId) -> Result<Conversation> {
        decode::conversation(
            self.call_one(Request::JoinConversation(ConversationRef {
                uuid: conversation.to_string(),
            }))
            .await?,
        )
    }

    /// Leaves a conversation (not a direct one).
    ///
    /// # Errors
    /// The [common errors](crate::Messenger#errors), and [`Error::Server`](crate::Error::Server)
    /// with code 8 (unknown conversation), 16 (deleted), 40
    /// ([`ErrorCode::DirectLeave`](crate::ErrorCode::DirectLeave), a direct conversation) or 19
    /// ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)), checked in that order.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let after = m.leave_conversation(chat).await?;
    /// assert!(after.participant(m.user_id()).is_none());
    /// # Ok(()) }
    /// ```
    pub async fn leave_conversation(&self, conversation: ConversationId) -> Result<Conversation> {
        decode::conversation(
            self.call_one(Request::LeaveConversation(ConversationRef {
                uuid: conversation.to_string(),
            }))
            .await?,
        )
    }
}
