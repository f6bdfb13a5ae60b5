//! Event objects carried in `payload.object` of server frames (docs/BEHAVIOUR.md section 2.6).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::JsonMap;
use crate::{lenient, ConversationId, MessageId, Permissions, Seq, UserId};

/// A conversation snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationObject {
    /// Server-generated uuid.
    pub uuid: ConversationId,
    /// Title (1-50 characters).
    pub title: String,
    /// Direct (1:1) conversation.
    #[serde(default)]
    pub direct: bool,
    /// Uber visibility rules.
    #[serde(default)]
    pub uber_conversation: bool,
    /// Anyone may join; listed publicly.
    #[serde(default)]
    pub enable_public_join: bool,
    /// Application data.
    #[serde(default)]
    pub custom_data: JsonMap,
    /// Current participants in membership order.
    #[serde(default)]
    pub participants: Vec<ParticipantObject>,
    /// Creation time, UNIX seconds.
    #[serde(deserialize_with = "lenient::i64", default)]
    pub created_at: i64,
    /// Time of the latest persisted event, UNIX seconds.
    #[serde(deserialize_with = "lenient::i64", default)]
    pub last_update: i64,
    /// Highest seq assigned (chatwire addition).
    #[serde(default)]
    pub last_seq: Seq,
}

/// A participant entry of a conversation snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantObject {
    /// The IM user id.
    pub user_id: UserId,
    /// Normalized permission flags.
    pub flags: Permissions,
    /// Read mark (0 until the first `isRead`).
    #[serde(default)]
    pub last_read: Seq,
}

/// A message (`onSendMessage`, `onEditMessage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageObject {
    /// Server-generated uuid.
    pub uuid: MessageId,
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// Text (`""` when none).
    #[serde(default)]
    pub text: String,
    /// Payload objects exactly as sent (`[]` when none).
    #[serde(default)]
    pub payload: Vec<JsonMap>,
}

/// A removed message reference (`onRemoveMessage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRefObject {
    /// The removed message.
    pub uuid: MessageId,
    /// Its conversation.
    pub conversation: ConversationId,
}

/// A user (`onGetUser`, `onEditUser`); private fields only in the user's own view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserObject {
    /// The IM user id.
    pub user_id: UserId,
    /// Canonical `name@app.account`.
    pub user_name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Public custom data.
    #[serde(default)]
    pub custom_data: JsonMap,
    /// Deleted through the admin API.
    #[serde(default)]
    pub deleted: bool,
    /// Private custom data (self view only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_custom_data: Option<JsonMap>,
    /// Conversations the user is in (self view only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations_list: Option<Vec<ConversationId>>,
    /// Conversations the user left or was removed from (self view only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave_conversations: Option<Vec<ConversationId>>,
    /// Push notification selection (self view only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_events: Option<Vec<String>>,
    /// chatwire addition (self view only): the identity of the server's data store. It changes
    /// when the data is wiped or restored from a backup, so clients know seqs restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_epoch: Option<String>,
}

/// A conversation reference (`onTyping`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypingObject {
    /// The conversation.
    pub conversation: ConversationId,
}

/// A read mark (`isRead`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadObject {
    /// The conversation.
    pub conversation: ConversationId,
    /// The stored read mark.
    pub seq: Seq,
}

/// Presence (`onSetStatus`); the user is the frame's initiator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusObject {
    /// Aggregate status.
    pub online: bool,
}

/// Ids of `onSubscribe` / `onUnsubscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserIdsObject {
    /// The users concerned.
    pub user_id: Vec<UserId>,
}

/// `onGetSubscriptionList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionListObject {
    /// Subscribed users in subscription order.
    pub subscriptions: Vec<UserId>,
}

/// `onGetPublicConversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicConversationsObject {
    /// Every public conversation in creation order.
    pub uuid: Vec<ConversationId>,
}

/// The inner event of an `onRetransmitEvents` frame: identical to the original broadcast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetransmittedEvent {
    /// The original event name.
    pub event: crate::EventName,
    /// The original payload.
    pub payload: crate::EventPayload,
}

/// The typed `payload.object` of a server frame; which variant depends on the event name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum EventObject {
    Conversation(Box<ConversationObject>),
    Message(MessageObject),
    MessageRef(MessageRefObject),
    User(Box<UserObject>),
    PublicConversations(PublicConversationsObject),
    Typing(TypingObject),
    Read(ReadObject),
    Status(StatusObject),
    UserIds(UserIdsObject),
    SubscriptionList(SubscriptionListObject),
    Retransmitted(Box<RetransmittedEvent>),
    /// `onCatchUp` (chatwire extension): one page.
    CatchUp(Box<crate::CatchUpPage>),
    /// The object of an event this version does not know, as received.
    Other(Value),
}
