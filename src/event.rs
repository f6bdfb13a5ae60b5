//! The typed events of [`Messenger::events`](crate::Messenger::events).

use std::fmt;
use std::time::SystemTime;

use chatwire_protocol::{
    Action, ConversationId, ErrorCode, EventName, EventObject, MessageId, Seq, ServerFrame, UserId,
};

use crate::model::{time, Conversation, Message, User};
use crate::request_id::RequestId;

/// What every server event carries.
///
/// # Examples
/// ```no_run
/// # fn demo(event: &chatwire::Event) {
/// if let Some(meta) = event.meta() {
///     let who = meta.initiator.map(|u| u.to_string()).unwrap_or_default();
///     println!("{} by {who} (seq {:?}, replayed: {})", meta.action, meta.seq, meta.replayed);
///     if meta.action == chatwire::EventAction::Request(chatwire::protocol::Action::SendMessage) {
///         println!("a message, caused by request {:?}", meta.request_id);
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventMeta {
    /// The user whose request caused the event.
    pub initiator: Option<UserId>,
    /// The action that caused it (`sendMessage`, `addParticipants`, ...).
    pub action: EventAction,
    /// The id of the call that caused it, on every device that receives the event (`None` for
    /// events the server emits on its own and for events replayed from history). Compare it
    /// with the id a call exposes ([`MessageSend::request_id`](crate::MessageSend::request_id)
    /// and the other builders).
    pub request_id: Option<RequestId>,
    /// The event's seq (persisted events only).
    pub seq: Option<Seq>,
    /// When it happened (persisted events: the stored time, identical in replays).
    pub timestamp: SystemTime,
    /// Delivered by the SDK's catch-up (`retransmitEvents`) rather than live.
    pub replayed: bool,
}

/// What caused an event: the client request, or the server's own action.
///
/// # Examples
/// ```
/// use chatwire::{protocol::Action, EventAction};
/// let action = EventAction::from_wire("addParticipants");
/// assert_eq!(action, EventAction::Request(Action::AddParticipants));
/// assert_eq!(action.to_string(), "addParticipants");
/// assert_eq!(EventAction::from_wire("removeEmptyConversation"), EventAction::RemoveEmptyConversation);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventAction {
    /// A client request (its wire name is [`Action::name`]).
    Request(Action),
    /// The server removed a conversation because its last participant left or was removed
    /// (`removeEmptyConversation`).
    RemoveEmptyConversation,
    /// A name this SDK version does not know, kept verbatim (`UNKNOWN` when the server had none).
    Other(String),
}

impl EventAction {
    /// The action for an `on_incoming_event` value.
    pub fn from_wire(name: &str) -> Self {
        match Action::from_name(name) {
            Some(action) => EventAction::Request(action),
            None if name == "removeEmptyConversation" => EventAction::RemoveEmptyConversation,
            None => EventAction::Other(name.to_string()),
        }
    }

    /// The wire name (`sendMessage`, `removeEmptyConversation`, ...).
    pub fn name(&self) -> &str {
        match self {
            EventAction::Request(action) => action.name(),
            EventAction::RemoveEmptyConversation => "removeEmptyConversation",
            EventAction::Other(name) => name,
        }
    }
}

impl fmt::Display for EventAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state of the connection.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use chatwire::{ConnectionState, Event};
/// use futures::StreamExt;
/// let mut events = m.events();
/// while let Some(event) = events.next().await {
///     if let Event::Connection(state) = event {
///         match state {
///             ConnectionState::Live => println!("online"),
///             ConnectionState::Reconnecting { attempt } => println!("reconnecting ({attempt})"),
///             ConnectionState::Closed { reason } => {
///                 println!("closed: {reason}");
///                 break;
///             }
///             _ => {}
///         }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connecting and logging in for the first time.
    Connecting,
    /// Logged in; events flow.
    Live,
    /// The connection dropped; trying again (1 for the first retry).
    Reconnecting {
        /// Attempt number.
        attempt: u32,
    },
    /// Stopped for good (closed by the application, login refused, or attempts exhausted).
    Closed {
        /// Why.
        reason: String,
    },
}

/// Access and refresh tokens. Their `Debug` output hides the secrets.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use chatwire::{Event, Messenger};
/// use futures::StreamExt;
/// let tokens = m.tokens().expect("logged in");
/// println!("{tokens:?}"); // the secrets print as ***
/// // Later, without the password:
/// let again = Messenger::builder("ws://127.0.0.1:8080")
///     .access_token("alice@chatwire.local", tokens.access_token)
///     .refresh_token(tokens.refresh_token)
///     .connect()
///     .await?;
/// // Keep the stored pair current.
/// let mut events = again.events();
/// while let Some(event) = events.next().await {
///     if let Event::TokensRefreshed(fresh) = event {
///         let _store = (fresh.access_token, fresh.refresh_token);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tokens {
    /// Access token (for [`MessengerBuilder::access_token`](crate::MessengerBuilder::access_token)).
    pub access_token: String,
    /// When the access token expires.
    pub access_expires_at: SystemTime,
    /// Refresh token.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: SystemTime,
}

impl Tokens {
    /// A token pair with its expiry times, as [`Messenger::tokens`](crate::Messenger::tokens)
    /// returns it; for tests of code that stores or reuses tokens.
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use chatwire::{Event, Tokens};
    /// let now = SystemTime::now();
    /// let tokens = Tokens::new("access", now + Duration::from_secs(3600), "refresh", now + Duration::from_secs(86_400));
    /// assert_eq!(tokens.access_token, "access");
    /// assert!(!format!("{tokens:?}").contains("refresh\""));
    /// let event = Event::TokensRefreshed(tokens);
    /// # let _ = event;
    /// ```
    pub fn new(
        access_token: impl Into<String>,
        access_expires_at: SystemTime,
        refresh_token: impl Into<String>,
        refresh_expires_at: SystemTime,
    ) -> Self {
        Tokens {
            access_token: access_token.into(),
            access_expires_at,
            refresh_token: refresh_token.into(),
            refresh_expires_at,
        }
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"***")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_token", &"***")
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish()
    }
}

/// One item of the event stream.
///
/// For every conversation you are in, persisted events (those with a seq) arrive exactly once
/// and in seq order, across reconnects; events the SDK fetched to fill a gap have
/// [`EventMeta::replayed`] set.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use chatwire::Event;
/// use futures::StreamExt;
/// let mut events = m.events();
/// while let Some(event) = events.next().await {
///     match event {
///         Event::MessageSent { meta, message } => {
///             println!("{:?}: {}", meta.initiator, message.text);
///             if let Some(seq) = meta.seq {
///                 m.mark_as_read(message.conversation, seq).await?;
///             }
///         }
///         Event::ConversationCreated { conversation, .. } => println!("new: {}", conversation.title),
///         Event::Typing { meta, conversation } => println!("{:?} typing in {conversation}", meta.initiator),
///         Event::Lagged { missed } => eprintln!("missed {missed} events; re-read state"),
///         // The enum is non-exhaustive: new kinds of events may be added.
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A conversation you are in was created.
    ConversationCreated {
        /// Event data.
        meta: EventMeta,
        /// The conversation right after the event.
        conversation: Conversation,
    },
    /// A conversation changed: edit, participants added/edited/removed, join, leave
    /// (see [`EventMeta::action`]).
    ConversationEdited {
        /// Event data.
        meta: EventMeta,
        /// The conversation right after the event.
        conversation: Conversation,
    },
    /// A conversation was deleted (its last participant left).
    ConversationRemoved {
        /// Event data (absent when the SDK found out during catch-up).
        meta: Option<EventMeta>,
        /// The conversation.
        conversation: ConversationId,
    },
    /// A message was sent.
    MessageSent {
        /// Event data; the sender is `meta.initiator`.
        meta: EventMeta,
        /// The message.
        message: Message,
    },
    /// A message was edited.
    MessageEdited {
        /// Event data; the editor is `meta.initiator`.
        meta: EventMeta,
        /// The message after the edit.
        message: Message,
    },
    /// A message was removed.
    MessageRemoved {
        /// Event data.
        meta: EventMeta,
        /// Its conversation.
        conversation: ConversationId,
        /// The message.
        message: MessageId,
    },
    /// Someone is typing (`meta.initiator`).
    Typing {
        /// Event data.
        meta: EventMeta,
        /// Where.
        conversation: ConversationId,
    },
    /// A participant (`meta.initiator`) moved their read mark.
    Read {
        /// Event data.
        meta: EventMeta,
        /// Where.
        conversation: ConversationId,
        /// The stored read mark.
        seq: Seq,
    },
    /// A user's aggregate presence (you or someone you subscribed to).
    Status {
        /// Event data.
        meta: EventMeta,
        /// Whose.
        user: UserId,
        /// Online or not.
        online: bool,
    },
    /// A user's data changed (you, from another connection, or someone you subscribed to).
    UserEdited {
        /// Event data.
        meta: EventMeta,
        /// The user (with private data if it is you).
        user: User,
    },
    /// You subscribed to users (from this or another of your connections).
    Subscribed {
        /// Event data.
        meta: EventMeta,
        /// The users.
        users: Vec<UserId>,
    },
    /// You unsubscribed from users.
    Unsubscribed {
        /// Event data.
        meta: EventMeta,
        /// The users.
        users: Vec<UserId>,
    },
    /// The connection state changed.
    Connection(ConnectionState),
    /// The SDK refreshed the tokens (store them to log in again later).
    TokensRefreshed(Tokens),
    /// A change from the outbox was carried out by the server, and its caller was no longer
    /// waiting for it (it was restored from the store after a restart, its future was dropped,
    /// or it timed out): `key` is the idempotency key it was sent with. The event it produced
    /// arrives on the stream as usual.
    OutboxSent {
        /// The change's idempotency key.
        key: String,
        /// The request's action (`sendMessage`, ...).
        action: String,
        /// The seq of the event it produced, when it produced one.
        seq: Option<Seq>,
    },
    /// A change from the outbox failed for good, and its caller was no longer waiting for it
    /// (see [`Event::OutboxSent`]).
    OutboxFailed {
        /// The change's idempotency key.
        key: String,
        /// The request's action (`sendMessage`, ...).
        action: String,
        /// The server's error code, when the server refused it; `None` when the outcome is
        /// unknown (older than the server's idempotency window, see
        /// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown)).
        code: Option<ErrorCode>,
        /// What happened.
        reason: String,
    },
    /// This stream fell behind and `missed` events were dropped for it; other streams and the
    /// SDK's own tracking are unaffected.
    Lagged {
        /// How many events this stream missed.
        missed: u64,
    },
    /// The server's history is not the one this messenger synchronized with before: its data
    /// store was wiped or replaced (new store epoch: every conversation), or a conversation's log
    /// went back (a data dir restored from a backup: that conversation). Sequence numbers were
    /// reused, so tracking restarts from the current state and nothing before it is replayed.
    HistoryReset,
    /// The server could not provide this range of a conversation's events (e.g. the
    /// conversation was deleted while you were away).
    Gap {
        /// The conversation.
        conversation: ConversationId,
        /// First missing seq.
        from: Seq,
        /// Last missing seq.
        to: Seq,
    },
}

impl Event {
    /// The conversation the event belongs to, if any.
    ///
    /// # Examples
    /// ```no_run
    /// # fn demo(event: &chatwire::Event) {
    /// use std::collections::HashMap;
    /// let mut unread: HashMap<chatwire::ConversationId, u32> = HashMap::new();
    /// if let (Some(chat), chatwire::Event::MessageSent { .. }) = (event.conversation(), event) {
    ///     *unread.entry(chat).or_default() += 1;
    /// }
    /// # }
    /// ```
    pub fn conversation(&self) -> Option<ConversationId> {
        match self {
            Event::ConversationCreated { conversation, .. }
            | Event::ConversationEdited { conversation, .. } => Some(conversation.id),
            Event::MessageSent { message, .. } | Event::MessageEdited { message, .. } => {
                Some(message.conversation)
            }
            Event::ConversationRemoved { conversation, .. }
            | Event::MessageRemoved { conversation, .. }
            | Event::Typing { conversation, .. }
            | Event::Read { conversation, .. }
            | Event::Gap { conversation, .. } => Some(*conversation),
            _ => None,
        }
    }

    /// The event's metadata, for server events.
    ///
    /// # Examples
    /// ```no_run
    /// # fn demo(event: &chatwire::Event) {
    /// let replayed = event.meta().is_some_and(|meta| meta.replayed);
    /// # let _ = replayed;
    /// # }
    /// ```
    pub fn meta(&self) -> Option<&EventMeta> {
        match self {
            Event::ConversationCreated { meta, .. }
            | Event::ConversationEdited { meta, .. }
            | Event::MessageSent { meta, .. }
            | Event::MessageEdited { meta, .. }
            | Event::MessageRemoved { meta, .. }
            | Event::Typing { meta, .. }
            | Event::Read { meta, .. }
            | Event::Status { meta, .. }
            | Event::UserEdited { meta, .. }
            | Event::Subscribed { meta, .. }
            | Event::Unsubscribed { meta, .. } => Some(meta),
            Event::ConversationRemoved { meta, .. } => meta.as_ref(),
            _ => None,
        }
    }

    /// The seq of a persisted event.
    ///
    /// # Examples
    /// ```no_run
    /// # fn demo(event: &chatwire::Event) {
    /// // Remember the newest seq seen per conversation.
    /// if let (Some(chat), Some(seq)) = (event.conversation(), event.seq()) {
    ///     println!("{chat} is at seq {seq}");
    /// }
    /// # }
    /// ```
    pub fn seq(&self) -> Option<Seq> {
        self.meta().and_then(|m| m.seq)
    }

    /// Converts a server frame into an event (`None` for replies that are not events).
    pub(crate) fn from_frame(frame: ServerFrame, replayed: bool) -> Option<Event> {
        let p = frame.payload;
        let meta = EventMeta {
            initiator: p.initiator,
            action: EventAction::from_wire(&p.on_incoming_event),
            request_id: frame.request_uuid.map(RequestId::from_wire),
            seq: p.seq,
            timestamp: time(p.timestamp),
            replayed,
        };
        Some(match (frame.event, p.object?) {
            (EventName::CreateConversation, EventObject::Conversation(c)) => {
                Event::ConversationCreated {
                    meta,
                    conversation: (*c).into(),
                }
            }
            (EventName::EditConversation, EventObject::Conversation(c)) => {
                Event::ConversationEdited {
                    meta,
                    conversation: (*c).into(),
                }
            }
            (EventName::RemoveConversation, EventObject::Conversation(c)) => {
                Event::ConversationRemoved {
                    meta: Some(meta),
                    conversation: c.uuid,
                }
            }
            (EventName::SendMessage, EventObject::Message(m)) => Event::MessageSent {
                message: Message::from_event(m, p.initiator, p.seq, p.timestamp)?,
                meta,
            },
            (EventName::EditMessage, EventObject::Message(m)) => Event::MessageEdited {
                message: Message::from_event(m, p.initiator, p.seq, p.timestamp)?,
                meta,
            },
            (EventName::RemoveMessage, EventObject::MessageRef(m)) => Event::MessageRemoved {
                meta,
                conversation: m.conversation,
                message: m.uuid,
            },
            (EventName::Typing, EventObject::Typing(t)) => Event::Typing {
                meta,
                conversation: t.conversation,
            },
            (EventName::Read, EventObject::Read(r)) => Event::Read {
                meta,
                conversation: r.conversation,
                seq: r.seq,
            },
            (EventName::SetStatus, EventObject::Status(s)) => Event::Status {
                user: meta.initiator?,
                meta,
                online: s.online,
            },
            (EventName::EditUser, EventObject::User(u)) => Event::UserEdited {
                meta,
                user: (*u).into(),
            },
            (EventName::Subscribe, EventObject::UserIds(u)) => Event::Subscribed {
                meta,
                users: u.user_id,
            },
            (EventName::Unsubscribe, EventObject::UserIds(u)) => Event::Unsubscribed {
                meta,
                users: u.user_id,
            },
            _ => return None,
        })
    }

    /// The original event inside an `onRetransmitEvents` frame, with its seq, as a replayed
    /// event (`None` for other frames and for events without a seq).
    pub(crate) fn from_retransmitted(frame: ServerFrame) -> Option<(u64, Event)> {
        let Some(EventObject::Retransmitted(inner)) = frame.payload.object else {
            return None;
        };
        let inner = *inner;
        let seq = inner.payload.seq?.get();
        let frame = ServerFrame {
            event: inner.event,
            request_uuid: None,
            payload: inner.payload,
        };
        Some((seq, Event::from_frame(frame, true)?))
    }
}
