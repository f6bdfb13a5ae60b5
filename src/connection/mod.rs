//! The background connection task: the only owner of the socket.
//!
//! It waits in one `select!` on socket frames, commands from [`Messenger`](crate::Messenger)
//! handles ([`command`]) and timers (keep-alive, token refresh, presence heartbeat). Replies are
//! matched to requests by `request_uuid` ([`pending`]); persisted events go through
//! per-conversation seq tracking ([`sync`]) so each reaches the event stream once and in order.
//! After every login the task catches up ([`catchup`]). When the connection drops, requests in
//! flight fail with [`Error::Disconnected`] and the task reconnects following the
//! [`ReconnectPolicy`](crate::ReconnectPolicy) ([`socket`] opens and logs in).

mod catchup;
pub(crate) mod command;
mod incoming;
mod outbox;
mod pacer;
mod pending;
mod persist;
mod requests;
mod socket;
mod sync;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chatwire_protocol::{
    ClientSession, ConversationId, Request, ServerExtensions, ServerFrame, SetStatus, UserId,
};
use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::{interval_at, sleep, sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::config::{Config, Credentials};
use crate::error::{Error, Result};
use crate::event::{ConnectionState, Event, Tokens};
pub(crate) use command::{Command, CommandReceiver, CommandSender};
pub(crate) use outbox::is_change;
use pacer::Pacer;
use pending::{Internal, Origin, Pending, Sent};
pub(crate) use socket::connect;
use socket::{LoggedIn, Ws};
use sync::SeqSync;

/// Catch-up and gap-fill requests in flight at once (docs/BEHAVIOUR.md section 13).
const MAX_INTERNAL_IN_FLIGHT: usize = 4;

/// Commands taken from the channel at once (after the first) before the loop goes on.
const COMMAND_BATCH: usize = 255;

/// Retries of the task's own requests refused with a code that should not happen (a server
/// fault); refusals that pass (30, 32, 33) and missing answers are retried without limit.
const MAX_UNEXPECTED_RETRIES: u32 = 5;

/// Where the task publishes what handles observe.
pub(crate) struct Outputs {
    pub events: broadcast::Sender<Event>,
    pub state: watch::Sender<ConnectionState>,
    pub tokens: watch::Sender<Option<Tokens>>,
    pub me: watch::Sender<Option<UserId>>,
    /// What the server advertised at the last login.
    pub extensions: watch::Sender<Option<ServerExtensions>>,
}

enum End {
    /// The application closed the messenger.
    Closed(String),
    /// The connection dropped.
    Dropped(String),
}

/// A frame waiting to be written.
struct Outgoing {
    text: String,
    /// For a `Messenger` call: its `request_uuid`, to skip it if the caller gives up first.
    request: Option<String>,
}

pub(crate) struct Task {
    config: Arc<Config>,
    /// The current login (after the first login: the tokens, never the password).
    credentials: Credentials,
    commands: CommandReceiver,
    out: Outputs,
    /// Our own user id, known from the first catch-up on.
    me: Option<UserId>,
    pending: Pending,
    /// Per-conversation seq tracking, created once our id is known.
    sync: Option<SeqSync>,
    /// Persisted events received before we knew our own id (first login only).
    early: Vec<ServerFrame>,
    /// Catch-up requests waiting for room in the in-flight budget.
    internal: VecDeque<(Request, Internal)>,
    internal_in_flight: usize,
    /// Catch-up steps not finished yet; `connect()` returns when it reaches 0.
    catchup_left: usize,
    /// One-request catch-up pages not answered yet (gap fills wait for them).
    catchup_pages: usize,
    /// Completes `connect()` once the first catch-up is done.
    ready: Option<oneshot::Sender<Result<()>>>,
    to_write: Vec<Outgoing>,
    /// The presence the application asked for, re-applied after a reconnect.
    online: Option<bool>,
    /// When to refresh the access token.
    refresh_at: Option<Instant>,
    /// Whether the first login's catch-up is complete (later, unknown conversations are
    /// discovered from where we joined them).
    synced_once: bool,
    /// The server's store epoch seen at the last login.
    epoch: Option<String>,
    /// Backward scans of discovered conversations: events collected so far.
    scans: HashMap<ConversationId, Vec<(u64, Event)>>,
    /// What the server advertised at the last login.
    extensions: Option<ServerExtensions>,
    /// Keeps requests under the server's rate limits (one per connection).
    pacer: Pacer,
    /// Requests waiting for the pacer, in order.
    paced: VecDeque<Sent>,
    /// Requests to send again once their time has come.
    retries: Vec<(Instant, Sent)>,
    /// The durable store and what waits to be written to it.
    durable: Option<persist::Durable>,
    /// Events not yet handed to the streams (with a store: while the event buffer is full).
    to_emit: VecDeque<Event>,
    /// Changes accepted from the application, until the server answers them.
    outbox: outbox::Outbox,
}

impl Task {
    pub fn new(
        config: Arc<Config>,
        commands: CommandReceiver,
        out: Outputs,
        ready: oneshot::Sender<Result<()>>,
    ) -> Self {
        Task {
            credentials: config.credentials.clone(),
            config,
            commands,
            out,
            me: None,
            pending: Pending::default(),
            sync: None,
            early: Vec::new(),
            internal: VecDeque::new(),
            internal_in_flight: 0,
            catchup_left: 0,
            catchup_pages: 0,
            ready: Some(ready),
            to_write: Vec::new(),
            online: None,
            refresh_at: None,
            synced_once: false,
            epoch: None,
            scans: HashMap::new(),
            extensions: None,
            pacer: Pacer::new(Default::default()),
            paced: VecDeque::new(),
            retries: Vec::new(),
            durable: None,
            to_emit: VecDeque::new(),
            outbox: outbox::Outbox::default(),
        }
    }

    /// Runs until the messenger is closed (or every handle dropped), reconnecting as needed.
    pub async fn run(mut self, ws: Ws, login: LoggedIn) {
        let mut next = Some((ws, login));
        while let Some((ws, login)) = next.take() {
            let end = self.session(ws, login).await;
            self.after_session();
            match end {
                End::Closed(reason) => return self.close(reason).await,
                End::Dropped(reason) => {
                    tracing::info!(%reason, "connection lost");
                    next = self.reconnect().await;
                }
            }
        }
    }

    fn emit_all(&mut self, events: Vec<Event>) {
        for event in events {
            self.emit(event);
        }
    }

    fn set_state(&mut self, state: ConnectionState) {
        self.out.state.send_replace(state.clone());
        self.emit(Event::Connection(state));
    }

    async fn close(&mut self, reason: String) {
        tracing::info!(%reason, "messenger closed");
        self.pending.fail_all(|| Error::NotLoggedIn);
        self.outbox_close();
        self.flush_store().await;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Err(Error::NotLoggedIn));
        }
        self.set_state(ConnectionState::Closed { reason });
    }

    /// Forgets everything tied to the connection that ended.
    fn after_session(&mut self) {
        let (internal, in_flight) = self.pending.fail_all(|| Error::Disconnected);
        for internal in internal {
            if let (Internal::Fill { conversation, .. }, Some(sync)) =
                (internal, self.sync.as_mut())
            {
                sync.cancel_fill(conversation);
            }
        }
        for (conversation, _) in self.scans.drain() {
            if let Some(sync) = self.sync.as_mut() {
                // Discovered again (from scratch) after the next login.
                sync.forget(conversation);
            }
        }
        if let Some(sync) = self.sync.as_mut() {
            sync.forget_held();
        }
        let queued = self
            .paced
            .drain(..)
            .chain(self.retries.drain(..).map(|(_, s)| s));
        for sent in queued.collect::<Vec<_>>() {
            if let Origin::User(reply) = sent.origin {
                // Not sent, or refused without effect (rate limit): never executed.
                let _ = reply.send(Err(Error::Disconnected));
            }
        }
        self.outbox_after_drop(in_flight);
        self.internal.clear();
        self.internal_in_flight = 0;
        self.catchup_left = 0;
        self.catchup_pages = 0;
        self.to_write.clear();
        self.refresh_at = None;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Err(Error::Disconnected));
        }
    }

    async fn reconnect(&mut self) -> Option<(Ws, LoggedIn)> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if self
                .config
                .reconnect
                .max_attempts
                .is_some_and(|max| attempt > max)
            {
                self.close(format!(
                    "connection lost; gave up after {} attempts",
                    attempt - 1
                ))
                .await;
                return None;
            }
            self.set_state(ConnectionState::Reconnecting { attempt });
            if !self.wait(self.config.reconnect.delay(attempt)).await {
                return None;
            }
            match socket::connect(&self.config, &self.credentials).await {
                Ok(pair) => return Some(pair),
                Err(e) if socket::is_fatal(&e) => {
                    self.close(format!("login refused: {e}")).await;
                    return None;
                }
                Err(e) => tracing::debug!(attempt, error = %e, "reconnect failed"),
            }
        }
    }

    /// Sleeps while answering requests with `Disconnected`; false if the messenger was closed.
    async fn wait(&mut self, delay: Duration) -> bool {
        let timer = sleep(delay);
        tokio::pin!(timer);
        let mut flush = interval_at(
            Instant::now() + persist::FLUSH_INTERVAL,
            persist::FLUSH_INTERVAL,
        );
        loop {
            tokio::select! {
                _ = &mut timer => return true,
                _ = flush.tick(), if self.durable.is_some() => self.flush_store().await,
                cmd = self.commands.recv() => match cmd {
                    None => {
                        self.close("closed by the application".into()).await;
                        return false;
                    }
                    Some(Command::Request { request, reply, key, id, .. }) => {
                        if outbox::is_change(&request) && !reply.is_closed() {
                            // Sent when the connection is back.
                            self.accept_change(request, reply, key, id);
                        } else {
                            let _ = reply.send(Err(Error::Disconnected));
                        }
                    }
                },
            }
        }
    }

    fn on_login(&mut self, login: LoggedIn) {
        tracing::info!(display_name = %login.display_name, "logged in");
        let user = self.credentials.user().to_string();
        self.credentials = Credentials::Token {
            user: user.clone(),
            access_token: login.tokens.access_token.clone(),
            refresh_token: Some(login.tokens.refresh_token.clone()),
        };
        self.out.tokens.send_replace(Some(login.tokens));
        self.refresh_at = Some(refresh_time(login.access_lifetime));
        // The server's windows are per connection: a new connection starts with a new pacer.
        let limits = login
            .extensions
            .as_ref()
            .map(|e| e.limits)
            .unwrap_or_default();
        self.pacer = Pacer::new(limits);
        self.out.extensions.send_replace(login.extensions.clone());
        self.extensions = login.extensions;
        self.set_state(ConnectionState::Live);
        self.start_catchup(user);
        let online = self.online.or(self.config.presence_heartbeat.map(|_| true));
        if online == Some(true) {
            self.internal.push_back((
                Request::SetStatus(SetStatus { online: true }),
                Internal::Ignore,
            ));
        }
    }

    async fn session(&mut self, ws: Ws, login: LoggedIn) -> End {
        self.on_login(login);
        let (mut sink, mut stream) = ws.split();
        let ka = self.config.keep_alive;
        let mut keep_alive = interval_at(Instant::now() + ka, ka);
        let hb = self
            .config
            .presence_heartbeat
            .unwrap_or(Duration::from_secs(3600));
        let mut heartbeat = interval_at(Instant::now() + hb, hb);
        let mut flush = interval_at(
            Instant::now() + persist::FLUSH_INTERVAL,
            persist::FLUSH_INTERVAL,
        );
        // Changes left from before the drop (or restored from the store) go first.
        self.queue_outbox(true);
        loop {
            self.pump();
            if self.outbox_unsaved() {
                // Accepted changes are durable before their first send.
                self.flush_store().await;
            }
            self.queue_outbox(false);
            let mut wake = self.release();
            self.deliver_events();
            if self.backlogged() {
                // The event buffer is full (durable mode): look again shortly; the socket is
                // not read meanwhile.
                let soon = Instant::now() + Duration::from_millis(5);
                wake = Some(wake.map_or(soon, |w| w.min(soon)));
            }
            for out in self.to_write.drain(..) {
                if out
                    .request
                    .is_some_and(|id| self.pending.take_abandoned(&id))
                {
                    tracing::debug!("request not sent: its caller gave up");
                    continue;
                }
                if let Err(e) = sink.send(Message::Text(out.text.into())).await {
                    return End::Dropped(format!("send failed: {e}"));
                }
            }
            let refresh = sleep_until(
                self.refresh_at
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400)),
            );
            let wake =
                sleep_until(wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(86400)));
            tokio::select! {
                _ = wake => {}
                _ = flush.tick(), if self.durable.is_some() => self.flush_store().await,
                msg = stream.next(), if !self.backlogged() => match msg {
                    Some(Ok(Message::Text(text))) => self.on_text(&text),
                    Some(Ok(Message::Close(frame))) => {
                        let reason = frame.map(|f| format!("closed by the server: {} {}", u16::from(f.code), f.reason)).unwrap_or_else(|| "closed by the server".into());
                        return End::Dropped(reason);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return End::Dropped(e.to_string()),
                    None => return End::Dropped("connection closed".into()),
                },
                cmd = self.commands.recv() => match cmd {
                    None => {
                        let _ = sink.send(Message::Close(None)).await;
                        return End::Closed("closed by the application".into());
                    }
                    Some(command) => {
                        self.on_command(command);
                        // Take what else is waiting, so that a burst of changes is written to
                        // the store in one commit rather than one each.
                        for _ in 0..COMMAND_BATCH {
                            let Some(command) = self.commands.try_recv() else { break };
                            self.on_command(command);
                        }
                    }
                },
                _ = keep_alive.tick() => self.to_write.push(Outgoing {
                    text: ClientSession::Ping.to_frame().encode(),
                    request: None,
                }),
                _ = heartbeat.tick(), if self.config.presence_heartbeat.is_some() => {
                    self.internal.push_back((Request::SetStatus(SetStatus { online: true }), Internal::Ignore));
                }
                _ = refresh, if self.refresh_at.is_some() => {
                    self.refresh_at = None;
                    if let Credentials::Token { user, refresh_token: Some(rt), .. } = &self.credentials {
                        self.to_write.push(Outgoing {
                            text: ClientSession::Refresh(Some((user.clone(), rt.clone()))).to_frame().encode(),
                            request: None,
                        });
                    }
                }
            }
        }
    }

    /// A request from a handle: sent unless its caller gave up or its deadline passed.
    fn on_command(&mut self, command: Command) {
        let Command::Request {
            request,
            reply,
            deadline,
            key,
            id,
        } = command;
        if reply.is_closed() {
            tracing::debug!("request not sent: its caller gave up");
            return;
        }
        if Instant::now() >= deadline {
            let _ = reply.send(Err(Error::Timeout(self.config.request_timeout)));
            return;
        }
        if let Request::SetStatus(s) = &request {
            self.online = Some(s.online);
        }
        if outbox::is_change(&request) {
            // From here on the change belongs to the SDK (see the outbox module).
            return self.accept_change(request, reply, key, id);
        }
        self.send_call(request, Origin::User(reply), Some(id.to_string()));
    }
}

/// When to refresh an access token valid for `lifetime`: at 80 % of it, at least 1 s from now.
fn refresh_time(lifetime: Duration) -> Instant {
    Instant::now() + lifetime.mul_f64(0.8).max(Duration::from_secs(1))
}
