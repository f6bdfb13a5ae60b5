//! Action names (client requests) and event names (server frames).

use std::fmt;

macro_rules! actions {
    ($( $variant:ident = $name:literal, $tag:literal, $result:literal; )*) => {
        /// A messaging action a client may request (docs/BEHAVIOUR.md section 2.5).
        ///
        /// ```
        /// use chatwire_protocol::Action;
        /// let a = Action::from_name("sendMessage").unwrap();
        /// assert_eq!(a, Action::SendMessage);
        /// assert_eq!(a.type_tag(), "type/vox.store.IncomingNamespace.SendMessage");
        /// assert_eq!(a.result_event(), "onSendMessage");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Action {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in docs/BEHAVIOUR.md order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The wire name (`event` of a request frame).
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }

            /// The action for a wire name, if it is one.
            pub fn from_name(name: &str) -> Option<Action> {
                match name { $($name => Some(Action::$variant),)* _ => None }
            }

            /// The `@type` value the original SDKs send in the payload.
            pub fn type_tag(self) -> &'static str {
                match self { $(Action::$variant => concat!("type/vox.store.", $tag),)* }
            }

            /// The event name of the caller's result frame.
            pub fn result_event(self) -> &'static str {
                match self { $(Action::$variant => $result,)* }
            }
        }
    };
}

actions! {
    CreateConversation = "createConversation", "IncomingNamespace.CreateConversation", "onCreateConversation";
    EditConversation = "editConversation", "IncomingNamespace.EditConversation", "onEditConversation";
    GetConversation = "getConversation", "IncomingNamespace.GetConversation", "onGetConversation";
    GetConversations = "getConversations", "IncomingNamespace.GetConversations", "onGetConversation";
    GetPublicConversations = "getPublicConversations", "IncomingNamespace.GetConversations", "onGetPublicConversations";
    JoinConversation = "joinConversation", "IncomingNamespace.JoinConversation", "onEditConversation";
    LeaveConversation = "leaveConversation", "IncomingNamespace.LeaveConversation", "onEditConversation";
    AddParticipants = "addParticipants", "IncomingNamespace.ManageParticipants", "onEditConversation";
    EditParticipants = "editParticipants", "IncomingNamespace.ManageParticipants", "onEditConversation";
    RemoveParticipants = "removeParticipants", "IncomingNamespace.RemoveParticipants", "onEditConversation";
    SendMessage = "sendMessage", "IncomingNamespace.SendMessage", "onSendMessage";
    EditMessage = "editMessage", "IncomingNamespace.EditMessage", "onEditMessage";
    RemoveMessage = "removeMessage", "IncomingNamespace.RemoveMessage", "onRemoveMessage";
    TypingMessage = "typingMessage", "CommonNamespace.TypingMessage", "onTyping";
    IsRead = "isRead", "CommonNamespace.StatusMessage", "isRead";
    RetransmitEvents = "retransmitEvents", "IncomingNamespace.RetransmitRequest", "onRetransmitEvents";
    GetUser = "getUser", "IncomingNamespace.GetUser", "onGetUser";
    GetUsers = "getUsers", "IncomingNamespace.GetUsers", "onGetUser";
    EditUser = "editUser", "IncomingNamespace.EditUser", "onEditUser";
    SetStatus = "setStatus", "CommonNamespace.PresenceMessage", "onSetStatus";
    Subscribe = "subscribe", "CommonNamespace.ManageSubscribes", "onSubscribe";
    Unsubscribe = "unsubscribe", "CommonNamespace.ManageSubscribes", "onUnsubscribe";
    GetSubscriptionList = "getSubscriptionList", "IncomingNamespace.GetSubscriptionList", "onGetSubscriptionList";
    ManageNotification = "manageNotification", "IncomingNamespace.ManageNotifications", "onEditUser";
    CatchUp = "catchUp", "IncomingNamespace.CatchUp", "onCatchUp";
}

/// Actions that exist in the original but are refused to end-user clients with error 12.
pub const RESERVED_ACTIONS: &[&str] = &[
    "removeConversation",
    "removeEmptyConversation",
    "createBot",
    "removeBot",
];

impl Action {
    /// Whether the action appends an event to a conversation's log (a seq-consuming change):
    /// the actions an idempotency key applies to (docs/PROTOCOL.md section 12.3).
    ///
    /// ```
    /// use chatwire_protocol::Action;
    /// assert!(Action::SendMessage.consumes_seq());
    /// assert!(!Action::IsRead.consumes_seq());
    /// ```
    pub fn consumes_seq(self) -> bool {
        matches!(
            self,
            Action::CreateConversation
                | Action::EditConversation
                | Action::JoinConversation
                | Action::LeaveConversation
                | Action::AddParticipants
                | Action::EditParticipants
                | Action::RemoveParticipants
                | Action::SendMessage
                | Action::EditMessage
                | Action::RemoveMessage
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! events {
    ($( $variant:ident = $name:literal; )*) => {
        /// The `event` of a server messaging frame.
        ///
        /// ```
        /// use chatwire_protocol::EventName;
        /// assert_eq!(EventName::from_name("onSendMessage"), EventName::SendMessage);
        /// assert_eq!(EventName::from_name("onSomethingNew"), EventName::Unknown("onSomethingNew".into()));
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventName {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
            /// An event name this version does not know.
            Unknown(String),
        }

        impl EventName {
            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self { $(EventName::$variant => $name,)* EventName::Unknown(s) => s }
            }

            /// Decodes a wire name; unknown names give [`EventName::Unknown`].
            pub fn from_name(name: &str) -> EventName {
                match name { $($name => EventName::$variant,)* other => EventName::Unknown(other.to_string()) }
            }
        }
    };
}

events! {
    CreateConversation = "onCreateConversation";
    EditConversation = "onEditConversation";
    GetConversation = "onGetConversation";
    RemoveConversation = "onRemoveConversation";
    GetPublicConversations = "onGetPublicConversations";
    SendMessage = "onSendMessage";
    EditMessage = "onEditMessage";
    RemoveMessage = "onRemoveMessage";
    Typing = "onTyping";
    Read = "isRead";
    RetransmitEvents = "onRetransmitEvents";
    GetUser = "onGetUser";
    EditUser = "onEditUser";
    SetStatus = "onSetStatus";
    Subscribe = "onSubscribe";
    Unsubscribe = "onUnsubscribe";
    GetSubscriptionList = "onGetSubscriptionList";
    CatchUp = "onCatchUp";
    Error = "onError";
}

/// How the server treats an event (docs/BEHAVIOUR.md section 1): stored in the conversation's log, sent
/// only to whoever is online, or only a reply to the caller.
///
/// ```
/// use chatwire_protocol::{EventClass, EventName};
/// assert_eq!(EventName::SendMessage.class(), EventClass::Persisted);
/// assert_eq!(EventName::Typing.class(), EventClass::Ephemeral);
/// assert_eq!(EventName::GetUser.class(), EventClass::Reply);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventClass {
    /// Stored in the conversation's event log with a seq; can be fetched again with
    /// `retransmitEvents`.
    Persisted,
    /// Broadcast to the connections online at that moment; never stored (typing, read marks,
    /// presence, user changes, subscription changes).
    Ephemeral,
    /// Only the result of a request (get results, retransmit replies, errors) or an event name
    /// this version does not know.
    Reply,
}

impl EventName {
    /// Whether the event is persisted, ephemeral or only a reply.
    pub fn class(&self) -> EventClass {
        match self {
            EventName::CreateConversation
            | EventName::EditConversation
            | EventName::RemoveConversation
            | EventName::SendMessage
            | EventName::EditMessage
            | EventName::RemoveMessage => EventClass::Persisted,
            EventName::Typing
            | EventName::Read
            | EventName::SetStatus
            | EventName::EditUser
            | EventName::Subscribe
            | EventName::Unsubscribe => EventClass::Ephemeral,
            _ => EventClass::Reply,
        }
    }

    /// Shorthand for `self.class() == EventClass::Persisted`.
    pub fn is_persisted(&self) -> bool {
        self.class() == EventClass::Persisted
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EventName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for EventName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(EventName::from_name(&s))
    }
}
