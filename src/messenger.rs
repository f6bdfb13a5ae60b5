//! [`Messenger`]: the handle applications use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chatwire_protocol::{
    ConversationId, ConversationRef, EditUser, EventObject, GetConversations, GetUsers, IsRead,
    Request, Seq, ServerFrame, SetStatus, Subscribe, TypingMessage, Unsubscribe, UserId, UserRef,
    MAX_GET_CONVERSATIONS, MAX_GET_USERS, MAX_SUBSCRIBE_IDS,
};
use tokio::sync::{broadcast, oneshot, watch};

use crate::config::{Config, MessengerBuilder, TYPING_THROTTLE};
use crate::connection::{self, Command, CommandSender, Outputs, Task};
use crate::error::{Error, Result};
use crate::event::{ConnectionState, EventStream, Tokens};
use crate::model::{Conversation, User};

struct Shared {
    config: Arc<Config>,
    commands: CommandSender,
    events: broadcast::Sender<crate::Event>,
    first_events: Mutex<Option<broadcast::Receiver<crate::Event>>>,
    state: watch::Receiver<ConnectionState>,
    tokens: watch::Receiver<Option<Tokens>>,
    me: watch::Receiver<Option<UserId>>,
    typing: Mutex<HashMap<ConversationId, Instant>>,
}

/// A logged-in messaging client.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`. One background task owns the connection;
/// dropping the last handle (or calling [`Messenger::close`]) stops it.
///
/// # Examples
/// ```no_run
/// # async fn demo() -> chatwire::Result<()> {
/// use chatwire::{Messenger, NewConversation};
/// use futures::StreamExt;
/// let messenger = Messenger::builder("ws://127.0.0.1:8080")
///     .password("alice@chatwire.local", "secret-password")
///     .connect()
///     .await?;
/// let mut events = messenger.events();
/// let bob = messenger.get_user_by_name("bob").await?;
/// let chat = messenger.create_conversation(NewConversation::chat().title("Lunch").participant(bob.id)).await?;
/// messenger.send_message(chat.id, "Noon?").await?;
/// while let Some(event) = events.next().await {
///     println!("{event:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Messenger {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("url", &self.shared.config.url.as_str())
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

impl Messenger {
    /// Starts building a messenger for a server URL (`ws://` or `wss://`; an empty path
    /// becomes `/platform`).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("wss://chat.example.com")
    ///     .password("alice@chat.example", "secret-password")
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn builder(url: &str) -> MessengerBuilder {
        MessengerBuilder::new(url)
    }

    pub(crate) async fn start(config: Config) -> Result<Messenger> {
        let config = Arc::new(config);
        let (ws, login) = connection::connect(&config, &config.credentials).await?;
        let (commands, command_rx) = connection::command::channel(config.command_capacity);
        let (events, first_events) = broadcast::channel(config.event_buffer);
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let (tokens_tx, tokens) = watch::channel(None);
        let (me_tx, me) = watch::channel(None);
        let (ready_tx, ready) = oneshot::channel();
        let outputs = Outputs {
            events: events.clone(),
            state: state_tx,
            tokens: tokens_tx,
            me: me_tx,
        };
        let task = Task::new(config.clone(), command_rx, outputs, ready_tx);
        tokio::spawn(task.run(ws, login));
        match tokio::time::timeout(config.request_timeout, ready).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) => return Err(Error::Disconnected),
            Err(_) => return Err(Error::Timeout(config.request_timeout)),
        }
        Ok(Messenger {
            shared: Arc::new(Shared {
                config,
                commands,
                events,
                first_events: Mutex::new(Some(first_events)),
                state,
                tokens,
                me,
                typing: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A stream of every event (see [`crate::Event`] for the delivery guarantees).
    ///
    /// The first stream returned starts at the login, so nothing is missed between
    /// [`MessengerBuilder::connect`] and this call; later streams start when created. Several
    /// streams may exist at once; each gets every event. A stream that falls more than the
    /// event buffer behind gets [`crate::Event::Lagged`] instead of the events it missed.
    ///
    /// # Cancel safety
    /// The stream's `next()` is cancel safe.
    ///
    /// # Ordering
    /// Persisted events (those with a seq) of one conversation arrive in seq order, each exactly
    /// once, also across reconnects (missed ones are replayed first, with
    /// [`EventMeta::replayed`](crate::EventMeta::replayed) set). Events of different conversations,
    /// ephemeral events and connection-state changes interleave in the order the SDK received them.
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
    ///             println!("{:?} in {}: {}", meta.initiator, message.conversation, message.text);
    ///         }
    ///         Event::Lagged { missed } => eprintln!("fell behind by {missed} events"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn events(&self) -> EventStream {
        let first = self
            .shared
            .first_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        EventStream::new(first.unwrap_or_else(|| self.shared.events.subscribe()))
    }

    /// The connection state now; `watch` it with [`Messenger::connection_state_watch`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use chatwire::ConnectionState;
    /// if m.connection_state() == ConnectionState::Live {
    ///     println!("online");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connection_state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    /// A receiver that observes connection state changes.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let mut state = m.connection_state_watch();
    /// while state.changed().await.is_ok() {
    ///     println!("connection: {:?}", *state.borrow());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connection_state_watch(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.clone()
    }

    /// The current tokens (refreshed by the SDK before the access token expires).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// if let Some(tokens) = m.tokens() {
    ///     // Store them to log in later without the password.
    ///     let later = chatwire::Messenger::builder("ws://127.0.0.1:8080")
    ///         .access_token("alice@chatwire.local", tokens.access_token)
    ///         .refresh_token(tokens.refresh_token)
    ///         .connect()
    ///         .await?;
    /// #   let _ = later;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn tokens(&self) -> Option<Tokens> {
        self.shared.tokens.borrow().clone()
    }

    /// Your IM user id.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let me = m.user_id();
    /// let chat = m.get_conversation(chat).await?;
    /// let mine = chat.participant(me).map(|p| p.permissions);
    /// # let _ = mine;
    /// # Ok(()) }
    /// ```
    pub fn user_id(&self) -> UserId {
        self.shared.me.borrow().expect("known once connected")
    }

    /// Closes the connection; later calls fail with [`Error::NotLoggedIn`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// m.close();
    /// assert!(m.me().await.is_err());
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.shared.commands.close();
    }

    /// Sends a request and waits for its complete reply; the request timeout runs from here,
    /// including any wait for room in the command channel.
    pub(crate) async fn call(&self, request: Request) -> Result<Vec<ServerFrame>> {
        let timeout = self.shared.config.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let (reply, rx) = oneshot::channel();
        let command = Command::Request {
            request,
            reply,
            deadline,
        };
        let exchange = async {
            if self.shared.commands.send(command).await.is_err() {
                return Err(Error::NotLoggedIn);
            }
            match rx.await {
                Ok(result) => result,
                // The task dropped the request unanswered: it was queued behind a close.
                Err(_) if matches!(*self.shared.state.borrow(), ConnectionState::Closed { .. }) => {
                    Err(Error::NotLoggedIn)
                }
                Err(_) => Err(Error::Disconnected),
            }
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// Sends a single-reply request and returns the object of the reply.
    pub(crate) async fn call_one(&self, request: Request) -> Result<ServerFrame> {
        self.call(request)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::Disconnected)
    }

    /// The domain part of our user name (for short names in [`Messenger::get_user_by_name`]).
    fn domain(&self) -> &str {
        self.shared
            .config
            .credentials
            .user()
            .split_once('@')
            .map(|(_, d)| d)
            .unwrap_or("")
    }

    // ---- users ----

    /// Your own user record, with private data.
    ///
    /// # Errors
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let me = m.me().await?;
    /// let private = me.private.expect("your own record has the private fields");
    /// println!("{} is in {} conversations", me.name, private.conversations.len());
    /// # Ok(()) }
    /// ```
    pub async fn me(&self) -> Result<User> {
        self.get_user(self.user_id()).await
    }

    /// A user by IM id. Fails with code 25 for an unknown user.
    ///
    /// # Errors
    /// - [`Error::Server`] with code 25 ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound))
    ///   for an unknown user (a deleted user is returned with [`User::deleted`](crate::User::deleted)).
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let bob = m.get_user(bob).await?;
    /// println!("{} ({})", bob.display_name, bob.name);
    /// # Ok(()) }
    /// ```
    pub async fn get_user(&self, user: UserId) -> Result<User> {
        user_of(self.call_one(Request::GetUser(UserRef::Id(user))).await?)
    }

    /// A user by name: `name@app.account`, or just `name` for a user of your own application.
    ///
    /// # Errors
    /// - [`Error::Server`] with code 25 ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound))
    ///   when no user has that name.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let bob = m.get_user_by_name("bob").await?;
    /// let same = m.get_user_by_name("bob@chatwire.local").await?;
    /// assert_eq!(bob.id, same.id);
    /// # Ok(()) }
    /// ```
    pub async fn get_user_by_name(&self, name: &str) -> Result<User> {
        let full = if name.contains('@') {
            name.to_lowercase()
        } else {
            format!("{}@{}", name.to_lowercase(), self.domain())
        };
        user_of(self.call_one(Request::GetUser(UserRef::Name(full))).await?)
    }

    /// Any number of users by id, in the order given (duplicates once); the SDK sends batches
    /// of 50.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when no user is given (nothing is sent).
    /// - [`Error::Server`] with code 25 ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound))
    ///   when any user of a batch is unknown.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let users = m.get_users([m.user_id(), bob]).await?;
    /// assert_eq!(users.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn get_users(&self, users: impl IntoIterator<Item = UserId>) -> Result<Vec<User>> {
        let ids = dedup(users);
        if ids.is_empty() {
            return Err(Error::InvalidArgument("no users requested".into()));
        }
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_GET_USERS) {
            let request = Request::GetUsers(GetUsers {
                users: batch.iter().map(|u| UserRef::Id(*u)).collect(),
            });
            for frame in self.call(request).await? {
                out.push(user_of(frame)?);
            }
        }
        Ok(out)
    }

    /// Replaces your public and/or private custom data; see [`UserEdit`].
    ///
    /// # Errors
    /// Awaiting the [`UserEdit`] fails with [`Error::InvalidArgument`] when a custom data object is
    /// over 5 120 bytes serialized (nothing is sent), and with the connection errors of every call
    /// ([`Error::Timeout`], [`Error::Disconnected`], [`Error::NotLoggedIn`], codes 32 / 33).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use serde_json::json;
    /// let profile = json!({"avatar": "https://example.com/a.png"});
    /// let me = m.edit_user().custom_data(profile.as_object().unwrap().clone()).await?;
    /// assert_eq!(me.custom_data["avatar"], "https://example.com/a.png");
    /// # Ok(()) }
    /// ```
    pub fn edit_user(&self) -> UserEdit<'_> {
        UserEdit {
            messenger: self,
            request: EditUser::default(),
        }
    }

    /// Sets this connection's presence; returns your resulting aggregate status (online while
    /// any of your connections is online). Re-applied automatically after a reconnect.
    ///
    /// # Errors
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let online = m.set_status(true).await?;
    /// assert!(online);
    /// # Ok(()) }
    /// ```
    pub async fn set_status(&self, online: bool) -> Result<bool> {
        let frame = self
            .call_one(Request::SetStatus(SetStatus { online }))
            .await?;
        match frame.payload.object {
            Some(EventObject::Status(s)) => Ok(s.online),
            _ => Err(unexpected("onSetStatus")),
        }
    }

    /// Subscribes to users' presence and profile changes (any number; batches of 50).
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when no user is given (nothing is sent).
    /// - [`Error::Server`] with code 25 ([`ErrorCode::UserNotFound`](crate::ErrorCode::UserNotFound))
    ///   for an unknown user, 22 ([`ErrorCode::TooMany`](crate::ErrorCode::TooMany)) when you would
    ///   have more than 1 000 subscriptions. Batches sent before the failing one stay subscribed.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// m.subscribe([bob]).await?;
    /// assert!(m.get_subscriptions().await?.contains(&bob));
    /// # Ok(()) }
    /// ```
    pub async fn subscribe(&self, users: impl IntoIterator<Item = UserId>) -> Result<()> {
        let ids = dedup(users);
        if ids.is_empty() {
            return Err(Error::InvalidArgument("no users to subscribe to".into()));
        }
        for batch in ids.chunks(MAX_SUBSCRIBE_IDS) {
            self.call_one(Request::Subscribe(Subscribe {
                user_id: batch.to_vec(),
            }))
            .await?;
        }
        Ok(())
    }

    /// Unsubscribes from users; returns the ids that were subscribed.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when no user is given (nothing is sent; see
    ///   [`Messenger::unsubscribe_all`]). Unknown or unsubscribed ids are ignored.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId, bob: chatwire::UserId) -> chatwire::Result<()> {
    /// let removed = m.unsubscribe([bob]).await?;
    /// assert!(removed.len() <= 1);
    /// # Ok(()) }
    /// ```
    pub async fn unsubscribe(
        &self,
        users: impl IntoIterator<Item = UserId>,
    ) -> Result<Vec<UserId>> {
        let ids = dedup(users);
        if ids.is_empty() {
            return Err(Error::InvalidArgument(
                "no users to unsubscribe from".into(),
            ));
        }
        ids_of(
            self.call_one(Request::Unsubscribe(Unsubscribe {
                user_id: Some(ids),
                all: None,
            }))
            .await?,
        )
    }

    /// Removes every subscription; returns the ids removed.
    ///
    /// # Errors
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let removed = m.unsubscribe_all().await?;
    /// println!("unsubscribed from {} users", removed.len());
    /// assert!(m.get_subscriptions().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn unsubscribe_all(&self) -> Result<Vec<UserId>> {
        ids_of(
            self.call_one(Request::Unsubscribe(Unsubscribe {
                user_id: None,
                all: Some(true),
            }))
            .await?,
        )
    }

    /// Your subscriptions, in subscription order.
    ///
    /// # Errors
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// for user in m.get_users(m.get_subscriptions().await?).await? {
    ///     println!("{}", user.display_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_subscriptions(&self) -> Result<Vec<UserId>> {
        let frame = self.call_one(Request::GetSubscriptionList).await?;
        match frame.payload.object {
            Some(EventObject::SubscriptionList(s)) => Ok(s.subscriptions),
            _ => Err(unexpected("onGetSubscriptionList")),
        }
    }

    // ---- conversations ----

    /// A conversation's current state (participants, former participants, or anyone for a
    /// public one).
    ///
    /// # Errors
    /// - [`Error::Server`] with code 8 ([`ErrorCode::ConversationNotFound`](crate::ErrorCode::ConversationNotFound))
    ///   for an unknown conversation, 16 ([`ErrorCode::ConversationDeleted`](crate::ErrorCode::ConversationDeleted))
    ///   for a deleted one, 19 ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant))
    ///   when you never were in it and it is not public.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
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
        conversation_of(
            self.call_one(Request::GetConversation(ConversationRef {
                uuid: conversation.to_string(),
            }))
            .await?,
        )
    }

    /// Any number of conversations, in the order given (duplicates once); batches of 30.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`] when no conversation is given (nothing is sent).
    /// - [`Error::Server`] with code 8 (unknown), 16 (deleted) or 19 (not a participant of a
    ///   non-public conversation) when any conversation of a batch fails that check.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
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
        if ids.is_empty() {
            return Err(Error::InvalidArgument("no conversations requested".into()));
        }
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_GET_CONVERSATIONS) {
            let request = Request::GetConversations(GetConversations {
                uuid: batch.iter().map(|c| c.to_string()).collect(),
            });
            for frame in self.call(request).await? {
                out.push(conversation_of(frame)?);
            }
        }
        Ok(out)
    }

    /// Every public conversation, in creation order.
    ///
    /// # Errors
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
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
        let frame = self.call_one(Request::GetPublicConversations).await?;
        match frame.payload.object {
            Some(EventObject::PublicConversations(p)) => Ok(p.uuid),
            _ => Err(unexpected("onGetPublicConversations")),
        }
    }

    /// Joins a public conversation (with the default permissions, 7).
    ///
    /// # Errors
    /// - [`Error::Server`] with code 8 (unknown conversation), 16 (deleted), 39
    ///   ([`ErrorCode::DirectJoin`](crate::ErrorCode::DirectJoin), a direct conversation), 15
    ///   ([`ErrorCode::NotPublic`](crate::ErrorCode::NotPublic)), 13
    ///   ([`ErrorCode::AlreadyParticipant`](crate::ErrorCode::AlreadyParticipant)) or 22 (the
    ///   conversation has 1 000 participants), checked in that order.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
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
        conversation_of(
            self.call_one(Request::JoinConversation(ConversationRef {
                uuid: conversation.to_string(),
            }))
            .await?,
        )
    }

    /// Leaves a conversation (not a direct one).
    ///
    /// # Errors
    /// - [`Error::Server`] with code 8 (unknown conversation), 16 (deleted), 40
    ///   ([`ErrorCode::DirectLeave`](crate::ErrorCode::DirectLeave), a direct conversation) or 19
    ///   ([`ErrorCode::NotParticipant`](crate::ErrorCode::NotParticipant)), checked in that order.
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let after = m.leave_conversation(chat).await?;
    /// assert!(after.participant(m.user_id()).is_none());
    /// # Ok(()) }
    /// ```
    pub async fn leave_conversation(&self, conversation: ConversationId) -> Result<Conversation> {
        conversation_of(
            self.call_one(Request::LeaveConversation(ConversationRef {
                uuid: conversation.to_string(),
            }))
            .await?,
        )
    }

    /// Shows this user as typing in a conversation to the other participants. One call per
    /// conversation per 10 s; an earlier one fails with [`Error::TypingThrottled`] unsent.
    ///
    /// # Errors
    /// - [`Error::TypingThrottled`] within 10 s ([`TYPING_THROTTLE`](crate::TYPING_THROTTLE)) of the
    ///   last successful call for this conversation (nothing is sent).
    /// - [`Error::Server`] with code 8 (unknown conversation), 16 (deleted), 19 (not a participant)
    ///   or 12 ([`ErrorCode::AccessDenied`](crate::ErrorCode::AccessDenied): no `WRITE` permission).
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// match m.typing(chat).await {
    ///     Ok(()) | Err(chatwire::Error::TypingThrottled(_)) => {}
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn typing(&self, conversation: ConversationId) -> Result<()> {
        {
            let mut last = self.shared.typing.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last
                .get(&conversation)
                .is_some_and(|t| now.duration_since(*t) < TYPING_THROTTLE)
            {
                return Err(Error::TypingThrottled(TYPING_THROTTLE));
            }
            last.insert(conversation, now);
        }
        let result = self
            .call_one(Request::TypingMessage(TypingMessage {
                conversation: conversation.to_string(),
            }))
            .await;
        if result.is_err() {
            // A refused or lost call does not count toward the throttle.
            self.shared
                .typing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&conversation);
        }
        result.map(|_| ())
    }

    /// Marks events up to `seq` as read; returns the stored mark.
    ///
    /// # Errors
    /// - [`Error::Server`] with code 8 (unknown conversation), 16 (deleted), 19 (not a participant)
    ///   or 24 ([`ErrorCode::SeqBeyondLast`](crate::ErrorCode::SeqBeyondLast): `seq` is after the
    ///   conversation's last event).
    /// - [`Error::Timeout`], [`Error::Disconnected`] or [`Error::NotLoggedIn`] when there is no
    ///   reply, the connection drops or the messenger is closed; [`Error::Server`] with code 32 or 33
    ///   when the server's rate limit is reached (both retryable, see [`Error::is_retryable`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger, chat: chatwire::ConversationId) -> chatwire::Result<()> {
    /// let conversation = m.get_conversation(chat).await?;
    /// let stored = m.mark_as_read(chat, conversation.last_seq).await?;
    /// assert_eq!(stored, conversation.last_seq);
    /// # Ok(()) }
    /// ```
    pub async fn mark_as_read(&self, conversation: ConversationId, seq: Seq) -> Result<Seq> {
        let frame = self
            .call_one(Request::IsRead(IsRead {
                conversation: conversation.to_string(),
                seq: seq.get() as i64,
            }))
            .await?;
        match frame.payload.object {
            Some(EventObject::Read(r)) => Ok(r.seq),
            _ => Err(unexpected("isRead")),
        }
    }
}

/// Builder of [`Messenger::edit_user`]: each field is replaced as a whole when set (`{}`
/// clears it); unset fields stay as they are. Await it to send.
///
/// # Errors
/// Awaiting it fails with [`Error::InvalidArgument`] when a custom data object is over 5 120
/// bytes serialized (nothing is sent), and with the connection errors of every call.
///
/// # Examples
/// ```no_run
/// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
/// use serde_json::json;
/// let public = json!({"bio": "Rustacean"}).as_object().unwrap().clone();
/// let private = json!({"theme": "dark"}).as_object().unwrap().clone();
/// let me = m.edit_user().custom_data(public).private_custom_data(private).await?;
/// assert_eq!(me.private.unwrap().custom_data["theme"], "dark");
/// # Ok(()) }
/// ```
#[must_use = "await the edit to send it"]
pub struct UserEdit<'a> {
    messenger: &'a Messenger,
    request: EditUser,
}

impl UserEdit<'_> {
    /// Replaces the public custom data.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// let mut data = chatwire::JsonMap::new();
    /// data.insert("status".into(), "In a meeting".into());
    /// m.edit_user().custom_data(data).await?;
    /// # Ok(()) }
    /// ```
    pub fn custom_data(mut self, data: chatwire_protocol::JsonMap) -> Self {
        self.request.custom_data = Some(data);
        self
    }

    /// Replaces the private custom data.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// // `{}` clears it.
    /// let me = m.edit_user().private_custom_data(chatwire::JsonMap::new()).await?;
    /// assert!(me.private.unwrap().custom_data.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn private_custom_data(mut self, data: chatwire_protocol::JsonMap) -> Self {
        self.request.private_custom_data = Some(data);
        self
    }
}

impl<'a> std::future::IntoFuture for UserEdit<'a> {
    type Output = Result<User>;
    type IntoFuture = futures::future::BoxFuture<'a, Result<User>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            for (name, data) in [
                ("custom_data", &self.request.custom_data),
                ("private_custom_data", &self.request.private_custom_data),
            ] {
                if let Some(d) = data {
                    check_custom_data(name, d)?;
                }
            }
            user_of(
                self.messenger
                    .call_one(Request::EditUser(self.request))
                    .await?,
            )
        })
    }
}

pub(crate) fn check_custom_data(name: &str, data: &chatwire_protocol::JsonMap) -> Result<()> {
    let size = serde_json::to_vec(data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > chatwire_protocol::MAX_CUSTOM_DATA_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{name} is {size} bytes; the limit is 5120"
        )));
    }
    Ok(())
}

pub(crate) fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

pub(crate) fn unexpected(what: &str) -> Error {
    Error::Protocol(chatwire_protocol::DecodeError::Malformed(format!(
        "expected {what}"
    )))
}

pub(crate) fn user_of(frame: ServerFrame) -> Result<User> {
    match frame.payload.object {
        Some(EventObject::User(u)) => Ok((*u).into()),
        _ => Err(unexpected("a user")),
    }
}

pub(crate) fn conversation_of(frame: ServerFrame) -> Result<Conversation> {
    match frame.payload.object {
        Some(EventObject::Conversation(c)) => Ok((*c).into()),
        _ => Err(unexpected("a conversation")),
    }
}

fn ids_of(frame: ServerFrame) -> Result<Vec<UserId>> {
    match frame.payload.object {
        Some(EventObject::UserIds(u)) => Ok(u.user_id),
        _ => Err(unexpected("user ids")),
    }
}
