//! Typed request payloads (docs/BEHAVIOUR.md section 2.5).
//!
//! [`Request::decode`] (in `request_decode.rs`) performs exactly the "step 0" checks of each action (types, required
//! fields, value ranges that docs/BEHAVIOUR.md answers with code 0 before anything else); every later check
//! belongs to the server. [`Request::to_payload`] produces the payload the SDK sends.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Action, Permissions, UserId};

/// A JSON object (custom data, message payload element).
pub type JsonMap = Map<String, Value>;

/// A participant entry of `createConversation`, `addParticipants` or `editParticipants`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantSpec {
    /// The IM user id.
    pub user_id: UserId,
    /// Normalized flags; absent means the default (7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<Permissions>,
}

/// `createConversation`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CreateConversation {
    /// Title (at most 50 characters; absent or empty gives "New conversation").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Direct (1:1) conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<bool>,
    /// Public join.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_public_join: Option<bool>,
    /// Uber visibility rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uber_conversation: Option<bool>,
    /// Application data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<JsonMap>,
    /// Initial participants besides the creator.
    pub participants: Vec<ParticipantSpec>,
}

/// `editConversation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EditConversation {
    /// Conversation uuid as sent.
    pub uuid: String,
    /// New title (`""` resets to "New conversation").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New public-join setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_public_join: Option<bool>,
    /// Replacement custom data (replaces the stored object wholesale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<JsonMap>,
    /// chatwire extension: a custom-data patch applied to the stored custom data atomically,
    /// one level deep (see [`apply_merge_patch`](crate::apply_merge_patch)); not together with
    /// `custom_data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data_patch: Option<JsonMap>,
}

/// A request naming one conversation by `uuid` (get, join, leave).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationRef {
    /// Conversation uuid as sent.
    pub uuid: String,
}

/// `getConversations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetConversations {
    /// Conversation uuids as sent.
    pub uuid: Vec<String>,
}

/// `addParticipants` / `editParticipants`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManageParticipants {
    /// Conversation uuid as sent.
    pub uuid: String,
    /// The participants and their flags.
    pub participants: Vec<ParticipantSpec>,
}

/// `removeParticipants`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoveParticipants {
    /// Conversation uuid as sent.
    pub uuid: String,
    /// Users to remove.
    pub participants: Vec<UserId>,
}

/// `sendMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendMessage {
    /// Conversation uuid as sent.
    pub conversation: String,
    /// Text (at most 5 000 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Payload objects, returned exactly as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Vec<JsonMap>>,
}

impl SendMessage {
    /// Whether the message has neither text nor payload (refused with code 0).
    ///
    /// ```
    /// let empty = chatwire_protocol::SendMessage { conversation: "c".into(), text: None, payload: None };
    /// assert!(empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.text.as_deref().is_none_or(str::is_empty)
            && self.payload.as_ref().is_none_or(Vec::is_empty)
    }
}

/// `editMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EditMessage {
    /// Message uuid as sent.
    pub uuid: String,
    /// Conversation uuid as sent.
    pub conversation: String,
    /// Replacement text; absent keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Replacement payload; absent keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Vec<JsonMap>>,
}

impl EditMessage {
    /// Whether the edit sets both an empty text and an empty payload (refused with code 0); an
    /// unset part is kept.
    ///
    /// ```
    /// use chatwire_protocol::EditMessage;
    /// let edit = EditMessage { uuid: "m".into(), conversation: "c".into(), text: Some(String::new()), payload: None };
    /// assert!(!edit.empties_message()); // the payload is kept
    /// assert!(EditMessage { payload: Some(Vec::new()), ..edit }.empties_message());
    /// ```
    pub fn empties_message(&self) -> bool {
        self.text.as_deref() == Some("") && self.payload.as_ref().is_some_and(Vec::is_empty)
    }
}

/// `removeMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoveMessage {
    /// Message uuid as sent.
    pub uuid: String,
    /// Conversation uuid as sent.
    pub conversation: String,
}

/// `typingMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypingMessage {
    /// Conversation uuid as sent.
    pub conversation: String,
}

/// `isRead`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsRead {
    /// Conversation uuid as sent.
    pub conversation: String,
    /// The read mark (values below 1 store 1).
    pub seq: i64,
}

/// `retransmitEvents`: two of the three range fields must be given (checked by the server).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetransmitEvents {
    /// Conversation uuid as sent.
    pub conversation: String,
    /// First seq of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_from: Option<i64>,
    /// Last seq of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_to: Option<i64>,
    /// Number of events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// A user designated by IM id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// By IM user id.
    Id(UserId),
    /// By user name (`name@app.account`, optionally with `.voximplant.com`).
    Name(String),
}

impl Serialize for UserRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            UserRef::Id(id) => m.serialize_entry("user_id", id)?,
            UserRef::Name(n) => m.serialize_entry("user_name", n)?,
        }
        m.end()
    }
}

/// `getUsers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetUsers {
    /// The users, by id or by name.
    pub users: Vec<UserRef>,
}

/// `editUser`: each field absent = unchanged, `{}` = cleared, an object = replaced.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EditUser {
    /// Public custom data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<JsonMap>,
    /// Private custom data (visible to the user only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_custom_data: Option<JsonMap>,
}

/// `setStatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetStatus {
    /// This connection's presence.
    pub online: bool,
}

/// `subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscribe {
    /// Users to subscribe to.
    pub user_id: Vec<UserId>,
}

/// `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Unsubscribe {
    /// Users to unsubscribe from (ignored with `all: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Vec<UserId>>,
    /// Remove every subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
}

/// `manageNotification`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ManageNotification {
    /// Selected events; absent, `null` or `[]` disables all. Values are checked by the server.
    pub notifications: Option<Vec<String>>,
}

/// A decoded messaging request.
///
/// ```
/// use serde_json::json;
/// use chatwire_protocol::{Action, Request};
/// let payload = json!({"conversation": "c", "text": "hi", "@type": "ignored"});
/// let req = Request::decode(Action::SendMessage, payload.as_object().unwrap()).unwrap();
/// assert_eq!(req.action(), Action::SendMessage);
/// let err = Request::decode(Action::SendMessage, json!({"conversation": 5}).as_object().unwrap());
/// assert_eq!(err.unwrap_err().code().code(), 0);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Request {
    CreateConversation(CreateConversation),
    EditConversation(EditConversation),
    GetConversation(ConversationRef),
    GetConversations(GetConversations),
    GetPublicConversations,
    JoinConversation(ConversationRef),
    LeaveConversation(ConversationRef),
    AddParticipants(ManageParticipants),
    EditParticipants(ManageParticipants),
    RemoveParticipants(RemoveParticipants),
    SendMessage(SendMessage),
    EditMessage(EditMessage),
    RemoveMessage(RemoveMessage),
    TypingMessage(TypingMessage),
    IsRead(IsRead),
    RetransmitEvents(RetransmitEvents),
    GetUser(UserRef),
    GetUsers(GetUsers),
    EditUser(EditUser),
    SetStatus(SetStatus),
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    GetSubscriptionList,
    ManageNotification(ManageNotification),
    /// chatwire extension (docs/PROTOCOL.md section 12.4).
    CatchUp(crate::CatchUp),
}

impl Request {
    /// The conversation a change names, as sent (`None` for `createConversation` and for
    /// requests that are not seq-consuming changes).
    ///
    /// ```
    /// use chatwire_protocol::{Request, SendMessage};
    /// let r = Request::SendMessage(SendMessage { conversation: "c1".into(), text: Some("hi".into()), payload: None });
    /// assert_eq!(r.changed_conversation(), Some("c1"));
    /// ```
    pub fn changed_conversation(&self) -> Option<&str> {
        match self {
            Request::EditConversation(r) => Some(&r.uuid),
            Request::JoinConversation(r) | Request::LeaveConversation(r) => Some(&r.uuid),
            Request::AddParticipants(r) | Request::EditParticipants(r) => Some(&r.uuid),
            Request::RemoveParticipants(r) => Some(&r.uuid),
            Request::SendMessage(r) => Some(&r.conversation),
            Request::EditMessage(r) => Some(&r.conversation),
            Request::RemoveMessage(r) => Some(&r.conversation),
            _ => None,
        }
    }

    /// The action of this request.
    pub fn action(&self) -> Action {
        match self {
            Request::CreateConversation(_) => Action::CreateConversation,
            Request::EditConversation(_) => Action::EditConversation,
            Request::GetConversation(_) => Action::GetConversation,
            Request::GetConversations(_) => Action::GetConversations,
            Request::GetPublicConversations => Action::GetPublicConversations,
            Request::JoinConversation(_) => Action::JoinConversation,
            Request::LeaveConversation(_) => Action::LeaveConversation,
            Request::AddParticipants(_) => Action::AddParticipants,
            Request::EditParticipants(_) => Action::EditParticipants,
            Request::RemoveParticipants(_) => Action::RemoveParticipants,
            Request::SendMessage(_) => Action::SendMessage,
            Request::EditMessage(_) => Action::EditMessage,
            Request::RemoveMessage(_) => Action::RemoveMessage,
            Request::TypingMessage(_) => Action::TypingMessage,
            Request::IsRead(_) => Action::IsRead,
            Request::RetransmitEvents(_) => Action::RetransmitEvents,
            Request::GetUser(_) => Action::GetUser,
            Request::GetUsers(_) => Action::GetUsers,
            Request::EditUser(_) => Action::EditUser,
            Request::SetStatus(_) => Action::SetStatus,
            Request::Subscribe(_) => Action::Subscribe,
            Request::Unsubscribe(_) => Action::Unsubscribe,
            Request::GetSubscriptionList => Action::GetSubscriptionList,
            Request::ManageNotification(_) => Action::ManageNotification,
            Request::CatchUp(_) => Action::CatchUp,
        }
    }

    /// The payload object as the SDK sends it, `@type` included.
    pub fn to_payload(&self) -> JsonMap {
        let value = match self {
            Request::CreateConversation(r) => serde_json::to_value(r),
            Request::EditConversation(r) => serde_json::to_value(r),
            Request::GetConversation(r)
            | Request::JoinConversation(r)
            | Request::LeaveConversation(r) => serde_json::to_value(r),
            Request::GetConversations(r) => serde_json::to_value(r),
            Request::GetPublicConversations | Request::GetSubscriptionList => {
                Ok(Value::Object(Map::new()))
            }
            Request::AddParticipants(r) | Request::EditParticipants(r) => serde_json::to_value(r),
            Request::RemoveParticipants(r) => serde_json::to_value(r),
            Request::SendMessage(r) => serde_json::to_value(r),
            Request::EditMessage(r) => serde_json::to_value(r),
            Request::RemoveMessage(r) => serde_json::to_value(r),
            Request::TypingMessage(r) => serde_json::to_value(r),
            Request::IsRead(r) => serde_json::to_value(r),
            Request::RetransmitEvents(r) => serde_json::to_value(r),
            Request::GetUser(r) => serde_json::to_value(r),
            Request::GetUsers(r) => serde_json::to_value(r),
            Request::EditUser(r) => serde_json::to_value(r),
            Request::SetStatus(r) => serde_json::to_value(r),
            Request::Subscribe(r) => serde_json::to_value(r),
            Request::Unsubscribe(r) => serde_json::to_value(r),
            Request::ManageNotification(r) => serde_json::to_value(r),
            Request::CatchUp(r) => serde_json::to_value(r),
        };
        let mut map = match value {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        map.insert(
            "@type".into(),
            Value::String(self.action().type_tag().into()),
        );
        map
    }
}
