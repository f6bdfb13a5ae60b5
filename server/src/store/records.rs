//! The records the store keeps (serialized as JSON by the SQLite store).

use std::fmt;

use chatwire_protocol::{ConversationId, JsonMap, MessageId, Permissions, UserId};
use serde::{Deserialize, Serialize};

/// A string that must never be logged (password hashes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// IM user id (messaging).
    pub id: UserId,
    /// Admin API `user_id`.
    pub admin_id: u64,
    /// Short name (`alice`), lower case.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: Secret,
    /// Bumped on every password change; logins that verified an older hash fail.
    pub credential_version: u64,
    /// `user_active`.
    pub active: bool,
    /// Deleted through the admin API.
    pub deleted: bool,
    /// Creation time, UNIX seconds.
    pub created: i64,
    /// Last admin change, UNIX seconds.
    pub modified: i64,
    /// Public custom data.
    pub custom_data: JsonMap,
    /// Private custom data.
    pub private_custom_data: JsonMap,
    /// Push notification selection.
    pub notification_events: Vec<String>,
    /// Subscriptions in subscription order.
    pub subscriptions: Vec<UserId>,
    /// Conversations the user is in, in membership order.
    pub conversations: Vec<ConversationId>,
    /// Conversations the user left or was removed from, oldest departure first.
    pub left: Vec<ConversationId>,
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// Access token (token login).
    Access,
    /// Refresh token (`refreshOauthToken`).
    Refresh,
}

/// A token, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// Its owner.
    pub user: UserId,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Issue time, UNIX seconds.
    pub issued_at: i64,
    /// Expiry, UNIX seconds.
    pub expires_at: i64,
}

/// A conversation's current state, without its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRecord {
    /// The uuid.
    pub uuid: ConversationId,
    /// Creation order across the server (for `getPublicConversations`).
    pub ordinal: u64,
    /// Title.
    pub title: String,
    /// Direct conversation.
    pub direct: bool,
    /// Uber conversation.
    pub uber: bool,
    /// Public join.
    pub public: bool,
    /// Custom data.
    pub custom_data: JsonMap,
    /// Creation time.
    pub created_at: i64,
    /// Time of the latest log entry.
    pub last_update: i64,
    /// Highest seq assigned.
    pub last_seq: u64,
    /// Next membership position (orders current participants).
    pub next_position: u64,
    /// Deleted (a tombstone).
    pub deleted: bool,
}

/// A current or former participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// The user.
    pub user: UserId,
    /// Flags (meaningful while a participant).
    pub flags: Permissions,
    /// Read mark.
    pub last_read: u64,
    /// Position of the current membership (orders `participants`).
    pub position: u64,
    /// Participation intervals `[start, end]`; the last one is open while a participant.
    pub intervals: Vec<(u64, Option<u64>)>,
}

impl MemberRecord {
    /// Whether the user is currently a participant.
    pub fn is_participant(&self) -> bool {
        matches!(self.intervals.last(), Some((_, None)))
    }
}

/// A message's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Its conversation.
    pub conversation: ConversationId,
    /// The uuid.
    pub uuid: MessageId,
    /// The initiator of its `onSendMessage`.
    pub sender: UserId,
    /// Current text.
    pub text: String,
    /// Current payload.
    pub payload: Vec<JsonMap>,
    /// Removed.
    pub removed: bool,
}

/// A log entry: the event name and the broadcast payload JSON exactly as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// Its conversation.
    pub conversation: ConversationId,
    /// Its seq.
    pub seq: u64,
    /// Event name (`onSendMessage`, ...).
    pub event: String,
    /// The initiator (for visibility checks without parsing).
    pub initiator: UserId,
    /// Whether it is a message event (uber filtering).
    pub is_message: bool,
    /// The payload JSON as broadcast.
    pub payload: std::sync::Arc<str>,
}

/// An idempotency key (chatwire extension): what the first request with the key appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The user who sent the key.
    pub user: UserId,
    /// The key as sent.
    pub key: String,
    /// The action of the first request (`sendMessage`, ...).
    pub action: String,
    /// The conversation it appended to.
    pub conversation: ConversationId,
    /// The seq of the result event.
    pub seq: u64,
    /// When the key was stored, UNIX seconds.
    pub created: i64,
}
