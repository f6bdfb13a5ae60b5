//! Typed values returned by the SDK: users, conversations, participants, messages.
//!
//! [`Conversation::default_permissions`] lives with the rule it reads, in
//! `conversation/permissions.rs`.
//!
//! Every model type implements `serde::Serialize` and `Deserialize`, so an application can cache
//! what it received (as the official SDKs' `toCache`/`fromCache` allow) and read it back as the
//! same value. Times are stored as seconds and nanoseconds since the UNIX epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use chatwire_protocol::{
    ConversationId, ConversationObject, JsonMap, MessageId, MessageObject, ParticipantObject,
    Permissions, Seq, UserId, UserObject,
};

/// UNIX seconds to `SystemTime`.
pub(crate) fn time(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

/// A user. Private fields are present only in your own record ([`crate::Messenger::me`]).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
/// let bob = m.get_user(bob).await?;
/// assert!(bob.private.is_none()); // only your own record has private data
/// if bob.deleted {
///     println!("{} was deleted", bob.display_name);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// IM user id.
    pub id: UserId,
    /// Canonical `name@app.account`.
    pub name: String,
    /// Display name (set through the admin API).
    pub display_name: String,
    /// Public custom data.
    pub custom_data: JsonMap,
    /// Deleted through the admin API.
    pub deleted: bool,
    /// Your own private fields (`None` for other users).
    pub private: Option<PrivateUserData>,
}

/// The fields only a user sees of themselves.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// let private = m.me().await?.private.expect("own record");
/// println!("in {} conversations, left {}", private.conversations.len(), private.left_conversations.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrivateUserData {
    /// Private custom data.
    pub custom_data: JsonMap,
    /// Conversations you are in, in membership order.
    pub conversations: Vec<ConversationId>,
    /// Conversations you left or were removed from, oldest first.
    pub left_conversations: Vec<ConversationId>,
    /// Push notification selection.
    pub notification_events: Vec<String>,
    /// The identity of the server's data store (chatwire addition). It changes when the server's
    /// data is wiped or replaced; an application that stores seqs across its own restarts keeps
    /// it with them and starts over when it differs.
    pub store_epoch: Option<String>,
}

impl From<UserObject> for User {
    fn from(u: UserObject) -> Self {
        let private = u.conversations_list.is_some().then(|| PrivateUserData {
            custom_data: u.private_custom_data.unwrap_or_default(),
            conversations: u.conversations_list.unwrap_or_default(),
            left_conversations: u.leave_conversations.unwrap_or_default(),
            notification_events: u.notification_events.unwrap_or_default(),
            store_epoch: u.store_epoch,
        });
        User {
            id: u.user_id,
            name: u.user_name,
            display_name: u.display_name,
            custom_data: u.custom_data,
            deleted: u.deleted,
            private,
        }
    }
}

/// A participant of a conversation.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// use chatwire::Permissions;
/// let conversation = m.get_conversation(chat).await?;
/// for p in &conversation.participants {
///     let role = if p.permissions.is_owner() { "owner" } else { "member" };
///     let can_write = p.permissions.contains(Permissions::WRITE);
///     println!("{} {role} write={can_write} read up to {}", p.user, p.last_read);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Participant {
    /// The user.
    pub user: UserId,
    /// Their permissions.
    pub permissions: Permissions,
    /// Their read mark (0 until the first `mark_as_read`).
    pub last_read: Seq,
}

impl From<ParticipantObject> for Participant {
    fn from(p: ParticipantObject) -> Self {
        Participant {
            user: p.user_id,
            permissions: p.flags,
            last_read: p.last_read,
        }
    }
}

/// A conversation (a snapshot: as it was at the event or reply that carried it).
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// let conversation = m.get_conversation(chat).await?;
/// if conversation.direct {
///     let other = conversation.participants.iter().find(|p| p.user != m.user_id());
/// #   let _ = other;
/// }
/// println!("{} (last seq {})", conversation.title, conversation.last_seq);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conversation {
    /// The uuid.
    pub id: ConversationId,
    /// Title.
    pub title: String,
    /// Direct (1:1) conversation.
    pub direct: bool,
    /// Uber: members see only messages from the periods they were members.
    pub uber: bool,
    /// Anyone may join.
    pub public: bool,
    /// Application data.
    pub custom_data: JsonMap,
    /// Participants in membership order.
    pub participants: Vec<Participant>,
    /// Creation time.
    pub created_at: SystemTime,
    /// Time of the latest event.
    pub last_update: SystemTime,
    /// Seq of the latest event.
    pub last_seq: Seq,
}

impl Conversation {
    /// The participant entry of a user, if they are a participant.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let conversation = m.get_conversation(chat).await?;
    /// let am_owner = conversation
    ///     .participant(m.user_id())
    ///     .is_some_and(|p| p.permissions.is_owner());
    /// # let _ = am_owner;
    /// # Ok(()) }
    /// ```
    pub fn participant(&self, user: UserId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.user == user)
    }
}

impl From<ConversationObject> for Conversation {
    fn from(c: ConversationObject) -> Self {
        Conversation {
            id: c.uuid,
            title: c.title,
            direct: c.direct,
            uber: c.uber_conversation,
            public: c.enable_public_join,
            custom_data: c.custom_data,
            participants: c.participants.into_iter().map(Participant::from).collect(),
            created_at: time(c.created_at),
            last_update: time(c.last_update),
            last_seq: c.last_seq,
        }
    }
}

/// A message, as one of its events carries it: the send, or an edit.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
/// let message = m.send_message(chat, "hello").await?;
/// assert_eq!(message.text, "hello");
/// assert_eq!(message.sender, m.user_id());
/// println!("seq {} at {:?}", message.seq, message.time);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The uuid.
    pub id: MessageId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// Text (`""` when none).
    pub text: String,
    /// Payload objects exactly as sent.
    pub payload: Vec<JsonMap>,
    /// The user who sent it: the initiator of its event (as the official SDKs' `sender`).
    ///
    /// For the version an edit produces ([`Event::MessageEdited`](crate::Event::MessageEdited),
    /// [`Messenger::edit_message`](crate::Messenger::edit_message)) the wire names only the
    /// user who made the edit, so this is the editor there: the same user unless the edit
    /// used the `EDIT_ALL` permission.
    pub sender: UserId,
    /// The seq of the event that carried this version (the send, or the edit).
    pub seq: Seq,
    /// When that event happened (the server's stored time, whole seconds).
    pub time: SystemTime,
}

impl Message {
    /// The message of a persisted event's payload (`onSendMessage`, `onEditMessage`).
    pub(crate) fn from_event(
        m: MessageObject,
        initiator: Option<UserId>,
        seq: Option<Seq>,
        timestamp: i64,
    ) -> Option<Message> {
        Some(Message {
            id: m.uuid,
            conversation: m.conversation,
            text: m.text,
            payload: m.payload,
            sender: initiator?,
            seq: seq?,
            time: time(timestamp),
        })
    }
}
