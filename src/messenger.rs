//! [`Messenger`]: the handle applications use, and the plumbing its calls share (sending a
//! request to the connection task and waiting for the reply).
//!
//! The calls themselves live with their concepts, each module adding an `impl Messenger` block:
//! `users` (users, presence, subscriptions), `conversation` (conversations, participants,
//! permissions), `message` (messages, typing, read marks) and `history`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use chatwire_protocol::{ConversationId, Request, ServerFrame, UserId};
use tokio::sync::{broadcast, oneshot, watch};

use crate::config::{Config, MessengerBuilder, TYPING_THROTTLE};
use crate::connection::{self, Command, CommandSender, Outputs, Task};
use crate::error::{Error, Result};
use crate::event::{ConnectionState, Tokens};
use crate::request_id::RequestId;
use crate::stream::{Acks, EventStream};

struct Shared {
    config: Arc<Config>,
    commands: CommandSender,
    events: broadcast::Sender<crate::Event>,
    first_events: Mutex<Option<broadcast::Receiver<crate::Event>>>,
    state: watch::Receiver<ConnectionState>,
    tokens: watch::Receiver<Option<Tokens>>,
    me: watch::Receiver<Option<UserId>>,
    typing: Mutex<HashMap<ConversationId, Instant>>,
    /// With a store: acknowledged positions waiting to be written.
    acks: Option<Acks>,
    /// What the server advertised at the last login.
    extensions: watch::Receiver<Option<chatwire_protocol::ServerExtensions>>,
    /// The store's key-value area as loaded at start-up (empty without a store).
    saved_kv: HashMap<String, Vec<u8>>,
    /// The live inbox and users cache, created on first use.
    inbox: OnceLock<crate::inbox::Inbox>,
    users_cache: OnceLock<crate::users_cache::UsersCache>,
}

/// A handle that does not keep the messenger alive (for the live model's background tasks).
#[derive(Clone)]
pub(crate) struct WeakMessenger(Weak<Shared>);

impl WeakMessenger {
    /// The messenger, while some application handle still exists.
    pub fn upgrade(&self) -> Option<Messenger> {
        self.0.upgrade().map(|shared| Messenger { shared })
    }
}

/// A logged-in messaging client.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`. One background task owns the connection;
/// dropping the last handle (or calling [`Messenger::close`]) stops it.
///
/// # Errors
/// Every call that sends a request can fail with these; each method lists only what it adds.
/// - [`Error::Timeout`] when no reply arrives within the request timeout
///   ([`MessengerBuilder::request_timeout`]).
/// - [`Error::Disconnected`] when the connection drops while the request is in flight, or is
///   down; the request is not sent again.
/// - [`Error::NotLoggedIn`] once the messenger is closed ([`Messenger::close`]) or its login was
///   refused.
/// - [`Error::Server`] with code 32 or 33 ([`ErrorCode::RateLimitSecond`](crate::ErrorCode::RateLimitSecond),
///   [`ErrorCode::RateLimitMinute`](crate::ErrorCode::RateLimitMinute)) when the server's rate
///   limit is reached.
///
/// Timeouts, disconnections and rate limits are retryable ([`Error::is_retryable`]);
/// [`Error::NotLoggedIn`] is not (connect again). Failed local checks are reported as
/// [`Error::InvalidArgument`] before anything is sent; match on its
/// [`kind`](crate::InvalidArgument::kind).
///
/// # Examples
/// Two users on an in-process server ([`TestServer`](crate::testing::TestServer), feature
/// `testing`); against your own server, build the messenger with
/// `Messenger::builder("ws://host:8080").password(user, password).connect()`.
/// ```
/// # #[cfg(feature = "testing")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> chatwire::Result<()> {
/// use chatwire::{testing::TestServer, Event, Messenger, NewConversation};
/// use futures::StreamExt;
///
/// let server = TestServer::start().await;
/// let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
/// let messenger: Messenger = Messenger::builder(&server.url())
///     .password(&alice.name, &alice.password)
///     .connect()
///     .await?;
/// let bobs_phone = server.messenger(&bob).await?;
/// let mut bobs_events = bobs_phone.events();
///
/// let chat = messenger
///     .create_conversation(NewConversation::chat().title("Lunch").participant(bob.id))
///     .await?;
/// let sent = messenger.send_message(chat.id, "Noon?").await?;
///
/// while let Some(event) = bobs_events.next().await {
///     if let Event::MessageSent { message, .. } = event {
///         assert_eq!(message, sent);
///         assert_eq!(message.sender, alice.id);
///         break;
///     }
/// }
/// # Ok(()) }
/// # #[cfg(not(feature = "testing"))]
/// # fn main() {}
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
        let restored = match &config.store {
            Some(store) => Some(store.0.load().await?),
            None => None,
        };
        let acks = config.store.as_ref().map(|_| Acks::default());
        let saved_kv = restored.as_ref().map(|s| s.kv.clone()).unwrap_or_default();
        let (ws, login) = connection::connect(&config, &config.credentials).await?;
        let (commands, command_rx) = connection::command::channel(config.command_capacity);
        let (events, first_events) = broadcast::channel(config.event_buffer);
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let (tokens_tx, tokens) = watch::channel(None);
        let (me_tx, me) = watch::channel(None);
        let (extensions_tx, extensions) = watch::channel(None);
        let (ready_tx, ready) = oneshot::channel();
        let outputs = Outputs {
            events: events.clone(),
            state: state_tx,
            tokens: tokens_tx,
            me: me_tx,
            extensions: extensions_tx,
        };
        let mut task = Task::new(config.clone(), command_rx, outputs, ready_tx);
        if let (Some(snapshot), Some(acks)) = (restored, &acks) {
            task.restore(snapshot, acks.clone());
        }
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
                acks,
                extensions,
                saved_kv,
                inbox: OnceLock::new(),
                users_cache: OnceLock::new(),
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
    /// Every persisted event once, in seq order, each with its seq (here on an in-process
    /// [`TestServer`](crate::testing::TestServer), feature `testing`).
    /// ```
    /// # #[cfg(feature = "testing")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> chatwire::Result<()> {
    /// use chatwire::{testing::TestServer, Event, NewConversation, Seq};
    /// use futures::StreamExt;
    ///
    /// let server = TestServer::start().await;
    /// let (alice, bob) = (server.add_user("alice").await, server.add_user("bob").await);
    /// let m = server.messenger(&alice).await?;
    /// let mut events = m.events();
    ///
    /// let chat = m.create_conversation(NewConversation::chat().participant(bob.id)).await?;
    /// for text in ["one", "two", "three"] {
    ///     m.send_message(chat.id, text).await?;
    /// }
    /// let mut seen = Vec::new();
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         Event::ConversationCreated { .. } => {}
    ///         Event::MessageSent { meta, message } => {
    ///             seen.push((meta.seq, message.text));
    ///             if seen.len() == 3 {
    ///                 break;
    ///             }
    ///         }
    ///         Event::Lagged { missed } => eprintln!("fell behind by {missed} events"),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(seen[0], (Some(Seq(2)), "one".to_string())); // seq 1: the creation
    /// assert_eq!(seen[2], (Some(Seq(4)), "three".to_string()));
    /// # Ok(()) }
    /// # #[cfg(not(feature = "testing"))]
    /// # fn main() {}
    /// ```
    pub fn events(&self) -> EventStream {
        let first = self
            .shared
            .first_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // With a store in automatic mode, the first stream acknowledges what it delivered.
        let acks = match (&first, self.shared.config.ack_mode) {
            (Some(_), crate::AckMode::Auto) => self.shared.acks.clone(),
            _ => None,
        };
        EventStream::new(
            first.unwrap_or_else(|| self.shared.events.subscribe()),
            acks,
        )
    }

    /// Acknowledges `event` (with a [store](crate::MessengerBuilder::store) in
    /// [`AckMode::Manual`](crate::AckMode::Manual)): its conversation's position moves to the
    /// event's seq, so it is not delivered again after a restart. Acknowledging an event also
    /// acknowledges the events of the same conversation before it. Without a store, and for
    /// events without a seq, it does nothing.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// use futures::StreamExt;
    /// let mut events = m.events();
    /// while let Some(event) = events.next().await {
    ///     // ... handle it completely (answer it, write it to a database) ...
    ///     m.ack(&event);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ack(&self, event: &crate::Event) {
        if let Some(acks) = &self.shared.acks {
            acks.ack(event);
        }
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

    /// Closes the connection and waits until the messenger has stopped, its last
    /// acknowledged positions written to the [store](crate::MessengerBuilder::store).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(m: chatwire::Messenger) -> chatwire::Result<()> {
    /// m.shutdown().await;
    /// // Safe to exit the process: nothing acknowledged is delivered again.
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self) {
        self.close();
        let mut state = self.shared.state.clone();
        let _ = state
            .wait_for(|s| matches!(s, ConnectionState::Closed { .. }))
            .await;
    }

    /// Sends a request and waits for its complete reply; the request timeout runs from here,
    /// including any wait for room in the command channel.
    pub(crate) async fn call(&self, request: Request) -> Result<Vec<ServerFrame>> {
        self.call_keyed(request, None).await
    }

    /// [`Messenger::call`] with the idempotency key of a change. A change accepted into the
    /// outbox times out from its first send (the connection task answers `Timeout`), so only
    /// the wait for room in the command channel is bounded here.
    pub(crate) async fn call_keyed(
        &self,
        request: Request,
        key: Option<String>,
    ) -> Result<Vec<ServerFrame>> {
        self.call_with(request, key, RequestId::new()).await
    }

    /// [`Messenger::call_keyed`] with the request id the caller chose (and exposed).
    pub(crate) async fn call_with(
        &self,
        request: Request,
        key: Option<String>,
        id: RequestId,
    ) -> Result<Vec<ServerFrame>> {
        let timeout = self.shared.config.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let change = connection::is_change(&request);
        let (reply, rx) = oneshot::channel();
        let command = Command::Request {
            request,
            reply,
            deadline,
            key,
            id,
        };
        match tokio::time::timeout_at(deadline, self.shared.commands.send(command)).await {
            Err(_) => return Err(Error::Timeout(timeout)),
            Ok(Err(_)) => return Err(Error::NotLoggedIn),
            Ok(Ok(())) => {}
        }
        let answer = async {
            match rx.await {
                Ok(result) => result,
                // The task dropped the request unanswered: it was queued behind a close.
                Err(_) if matches!(*self.shared.state.borrow(), ConnectionState::Closed { .. }) => {
                    Err(Error::NotLoggedIn)
                }
                Err(_) => Err(Error::Disconnected),
            }
        };
        if change {
            return answer.await;
        }
        tokio::time::timeout_at(deadline, answer)
            .await
            .unwrap_or(Err(Error::Timeout(timeout)))
    }

    /// Sends a single-reply request and returns the object of the reply.
    pub(crate) async fn call_one(&self, request: Request) -> Result<ServerFrame> {
        self.call_one_with(request, None, RequestId::new()).await
    }

    /// [`Messenger::call_one`] with an idempotency key and the request id the caller chose.
    pub(crate) async fn call_one_with(
        &self,
        request: Request,
        key: Option<String>,
        id: RequestId,
    ) -> Result<ServerFrame> {
        self.call_with(request, key, id)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::Disconnected)
    }

    /// A handle that does not keep the messenger alive.
    pub(crate) fn downgrade(&self) -> WeakMessenger {
        WeakMessenger(Arc::downgrade(&self.shared))
    }

    /// A stream of the events from now on that acknowledges nothing (for the SDK's own
    /// consumers: never the first stream, whose acknowledgements belong to the application).
    pub(crate) fn internal_events(&self) -> EventStream {
        EventStream::new(self.shared.events.subscribe(), None)
    }

    /// A value of the store's key-value area as loaded at start-up.
    pub(crate) fn saved_kv(&self, key: &str) -> Option<&[u8]> {
        self.shared.saved_kv.get(key).map(Vec::as_slice)
    }

    /// Whether the messenger keeps durable state (has a store).
    pub(crate) fn has_store(&self) -> bool {
        self.shared.acks.is_some()
    }

    /// Queues a write to the store's key-value area; `false` without a store.
    pub(crate) fn put_kv(&self, key: &str, value: Option<Vec<u8>>) -> bool {
        match &self.shared.acks {
            Some(acks) => {
                acks.put_kv(key.to_owned(), value);
                true
            }
            None => false,
        }
    }

    /// The live inbox and users cache slots.
    pub(crate) fn live_slots(
        &self,
    ) -> (
        &OnceLock<crate::inbox::Inbox>,
        &OnceLock<crate::users_cache::UsersCache>,
    ) {
        (&self.shared.inbox, &self.shared.users_cache)
    }

    /// Whether the server advertised the chatwire extension `name` at the last login.
    pub(crate) fn server_supports(&self, name: &str) -> bool {
        self.shared
            .extensions
            .borrow()
            .as_ref()
            .is_some_and(|e| e.has(name))
    }

    /// The domain part of our user name (for short names in [`Messenger::get_user_by_name`]).
    pub(crate) fn domain(&self) -> &str {
        self.shared
            .config
            .credentials
            .user()
            .split_once('@')
            .map(|(_, d)| d)
            .unwrap_or("")
    }

    /// Takes a typing slot for `conversation`: fails with [`Error::TypingThrottled`] within
    /// [`TYPING_THROTTLE`] of the last one taken (and not given back).
    pub(crate) fn take_typing_slot(&self, conversation: ConversationId) -> Result<()> {
        let mut last = self.shared.typing.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last
            .get(&conversation)
            .is_some_and(|t| now.duration_since(*t) < TYPING_THROTTLE)
        {
            return Err(Error::TypingThrottled(TYPING_THROTTLE));
        }
        last.insert(conversation, now);
        Ok(())
    }

    /// Gives back the typing slot of `conversation` (the call was refused or lost).
    pub(crate) fn give_back_typing_slot(&self, conversation: ConversationId) {
        self.shared
            .typing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&conversation);
    }
}

/// The items in first-seen order, each once.
pub(crate) fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}
