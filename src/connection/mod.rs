//! The background connection task: the only owner of the socket.
//!
//! It waits in one `select!` on socket frames, commands from [`Messenger`](crate::Messenger)
//! handles and timers (keep-alive, token refresh, presence heartbeat). Replies are matched to
//! requests by `request_uuid` ([`pending`]); persisted events go through per-conversation seq
//! tracking ([`sync`]) so each reaches the event stream once and in order. After every login the
//! task catches up: it reads its own user record and the current `last_seq` of every known
//! conversation, and fills each gap with `retransmitEvents` in windows of 100, at most four
//! catch-up requests in flight. When the connection drops, requests in flight fail with
//! [`Error::Disconnected`] and the task reconnects following the [`ReconnectPolicy`](crate::ReconnectPolicy).

pub(crate) mod pending;
pub(crate) mod socket;
pub(crate) mod sync;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chatwire_protocol::{
    ClientSession, ConversationId, ErrorCode, EventName, EventObject, GetConversations,
    MessagingFrame, Request, RetransmitEvents, ServerFrame, ServerSession, SessionFrame, SetStatus,
    UserId, UserRef, MAX_GET_CONVERSATIONS,
};
use futures::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{interval_at, sleep, sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::config::{Config, Credentials};
use crate::error::{Error, Result};
use crate::event::{ConnectionState, Event, Tokens};
use pending::{Expect, Internal, Origin, Pending};
use socket::{LoggedIn, Ws};
use sync::SeqSync;

/// Catch-up and gap-fill requests in flight at once (SPEC.md section 13).
const MAX_INTERNAL_IN_FLIGHT: usize = 4;

/// A message from a `Messenger` handle to the task.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    Request {
        request: Request,
        reply: oneshot::Sender<Result<Vec<ServerFrame>>>,
    },
    Close,
}

/// Where the task publishes what handles observe.
pub(crate) struct Outputs {
    pub events: broadcast::Sender<Event>,
    pub state: watch::Sender<ConnectionState>,
    pub tokens: watch::Sender<Option<Tokens>>,
    pub me: watch::Sender<Option<UserId>>,
}

enum End {
    /// The application closed the messenger.
    Closed(String),
    /// The connection dropped.
    Dropped(String),
}

pub(crate) struct Task {
    config: Arc<Config>,
    credentials: Credentials,
    commands: mpsc::UnboundedReceiver<Command>,
    out: Outputs,
    pending: Pending,
    sync: Option<SeqSync>,
    /// Persisted events received before we knew our own id (first login only).
    early: Vec<ServerFrame>,
    internal: VecDeque<(Request, Internal)>,
    internal_in_flight: usize,
    catchup_left: usize,
    ready: Option<oneshot::Sender<Result<()>>>,
    outbox: Vec<String>,
    /// The presence the application asked for, re-applied after a reconnect.
    online: Option<bool>,
    refresh_at: Option<Instant>,
    /// Whether the first login's catch-up is complete (later, unknown conversations are
    /// discovered from where we joined them).
    synced_once: bool,
    /// The server's store epoch seen at the last login.
    epoch: Option<String>,
    /// Backward scans of discovered conversations: events collected so far.
    scans: std::collections::HashMap<ConversationId, Vec<(u64, Event)>>,
}

impl Task {
    pub fn new(
        config: Arc<Config>,
        commands: mpsc::UnboundedReceiver<Command>,
        out: Outputs,
        ready: oneshot::Sender<Result<()>>,
    ) -> Self {
        Task {
            credentials: config.credentials.clone(),
            config,
            commands,
            out,
            pending: Pending::default(),
            sync: None,
            early: Vec::new(),
            internal: VecDeque::new(),
            internal_in_flight: 0,
            catchup_left: 0,
            ready: Some(ready),
            outbox: Vec::new(),
            online: None,
            refresh_at: None,
            synced_once: false,
            epoch: None,
            scans: std::collections::HashMap::new(),
        }
    }

    /// Runs until the messenger is closed (or every handle dropped), reconnecting as needed.
    pub async fn run(mut self, ws: Ws, login: LoggedIn) {
        let mut next = Some((ws, login));
        while let Some((ws, login)) = next.take() {
            let end = self.session(ws, login).await;
            self.after_session();
            match end {
                End::Closed(reason) => return self.close(reason),
                End::Dropped(reason) => {
                    tracing::info!(%reason, "connection lost");
                    next = self.reconnect().await;
                }
            }
        }
    }

    fn emit(&self, event: Event) {
        let _ = self.out.events.send(event);
    }

    fn set_state(&self, state: ConnectionState) {
        self.out.state.send_replace(state.clone());
        self.emit(Event::Connection(state));
    }

    fn close(&mut self, reason: String) {
        tracing::info!(%reason, "messenger closed");
        self.pending.fail_all(|| Error::NotLoggedIn);
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Err(Error::NotLoggedIn));
        }
        self.set_state(ConnectionState::Closed { reason });
    }

    /// Forgets everything tied to the connection that ended.
    fn after_session(&mut self) {
        for internal in self.pending.fail_all(|| Error::Disconnected) {
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
        self.internal.clear();
        self.internal_in_flight = 0;
        self.catchup_left = 0;
        self.outbox.clear();
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
                ));
                return None;
            }
            self.set_state(ConnectionState::Reconnecting { attempt });
            if !self.wait(self.config.reconnect.delay(attempt)).await {
                return None;
            }
            let result = async {
                let mut ws = socket::open(&self.config).await?;
                let login =
                    socket::login(&mut ws, &self.credentials, self.config.request_timeout).await?;
                Ok::<_, Error>((ws, login))
            }
            .await;
            match result {
                Ok(pair) => return Some(pair),
                Err(e) if socket::is_fatal(&e) => {
                    self.close(format!("login refused: {e}"));
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
        loop {
            tokio::select! {
                _ = &mut timer => return true,
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Close) => {
                        self.close("closed by the application".into());
                        return false;
                    }
                    Some(Command::Request { reply, .. }) => {
                        let _ = reply.send(Err(Error::Disconnected));
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
        self.refresh_at = Some(
            Instant::now()
                + login
                    .access_lifetime
                    .mul_f64(0.8)
                    .max(Duration::from_secs(1)),
        );
        self.set_state(ConnectionState::Live);
        self.catchup_left = 1;
        self.internal
            .push_back((Request::GetUser(UserRef::Name(user)), Internal::Me));
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
        loop {
            self.pump();
            for text in self.outbox.drain(..) {
                if let Err(e) = sink.send(Message::Text(text.into())).await {
                    return End::Dropped(format!("send failed: {e}"));
                }
            }
            let refresh = sleep_until(
                self.refresh_at
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400)),
            );
            tokio::select! {
                msg = stream.next() => match msg {
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
                    None | Some(Command::Close) => {
                        let _ = sink.send(Message::Close(None)).await;
                        return End::Closed("closed by the application".into());
                    }
                    Some(Command::Request { request, reply }) => {
                        if let Request::SetStatus(s) = &request {
                            self.online = Some(s.online);
                        }
                        self.send_request(request, Origin::User(reply));
                    }
                },
                _ = keep_alive.tick() => self.outbox.push(ClientSession::Ping.to_frame().encode()),
                _ = heartbeat.tick(), if self.config.presence_heartbeat.is_some() => {
                    self.internal.push_back((Request::SetStatus(SetStatus { online: true }), Internal::Ignore));
                }
                _ = refresh, if self.refresh_at.is_some() => {
                    self.refresh_at = None;
                    if let Credentials::Token { user, refresh_token: Some(rt), .. } = &self.credentials {
                        self.outbox.push(ClientSession::Refresh(Some((user.clone(), rt.clone()))).to_frame().encode());
                    }
                }
            }
        }
    }

    fn send_request(&mut self, request: Request, origin: Origin) {
        let id = uuid::Uuid::new_v4().to_string();
        let expect = match &request {
            Request::GetUsers(r) => Expect::Items(r.users.len()),
            Request::GetConversations(r) => Expect::Items(r.uuid.len()),
            Request::RetransmitEvents(_) => Expect::Retransmit,
            _ => Expect::One,
        };
        self.outbox
            .push(MessagingFrame::encode_request(&request, &id));
        self.pending.insert(id, expect, origin);
    }

    /// Moves catch-up requests and gap fills into the outbox, within the in-flight budget.
    fn pump(&mut self) {
        while self.internal_in_flight < MAX_INTERNAL_IN_FLIGHT {
            if let Some((request, internal)) = self.internal.pop_front() {
                self.internal_in_flight += 1;
                self.send_request(request, Origin::Internal(internal));
                continue;
            }
            let Some(sync) = self.sync.as_mut() else {
                return;
            };
            let wanted = sync.wanted(MAX_INTERNAL_IN_FLIGHT - self.internal_in_flight);
            if wanted.is_empty() {
                return;
            }
            for (conversation, from, to) in wanted {
                self.internal_in_flight += 1;
                let request = Request::RetransmitEvents(RetransmitEvents {
                    conversation: conversation.to_string(),
                    events_from: Some(from as i64),
                    events_to: Some(to as i64),
                    count: None,
                });
                self.send_request(
                    request,
                    Origin::Internal(Internal::Fill {
                        conversation,
                        from,
                        to,
                    }),
                );
            }
        }
    }

    fn on_text(&mut self, text: &str) {
        // Messaging frames (nearly all of them) are decoded in one pass, straight into the
        // typed structs; anything else is a session frame.
        if text.contains("\"service\"") {
            match ServerFrame::decode(text) {
                Ok(frame) => return self.on_frame(frame),
                Err(e) if !text.contains("\"name\"") => {
                    tracing::warn!(error = %e, "undecodable server frame");
                    return;
                }
                Err(_) => {}
            }
        }
        if let Ok(frame) = serde_json::from_str::<SessionFrame>(text) {
            match ServerSession::from_frame(&frame) {
                Ok(Some(ServerSession::RefreshSuccessful { tokens })) => {
                    let (tokens, lifetime) = socket::tokens_from(tokens);
                    if let Credentials::Token {
                        access_token,
                        refresh_token,
                        ..
                    } = &mut self.credentials
                    {
                        *access_token = tokens.access_token.clone();
                        *refresh_token = Some(tokens.refresh_token.clone());
                    }
                    self.refresh_at =
                        Some(Instant::now() + lifetime.mul_f64(0.8).max(Duration::from_secs(1)));
                    self.out.tokens.send_replace(Some(tokens.clone()));
                    self.emit(Event::TokensRefreshed(tokens));
                }
                Ok(Some(ServerSession::RefreshFailed { code, .. })) => {
                    tracing::warn!(code, "token refresh refused");
                    self.refresh_at = Some(Instant::now() + Duration::from_secs(60));
                }
                _ => {}
            }
        }
    }

    fn on_frame(&mut self, frame: ServerFrame) {
        if let Some((origin, result)) = self.pending.accept(&frame) {
            match origin {
                Origin::User(reply) => {
                    let _ = reply.send(result);
                }
                Origin::Internal(internal) => {
                    self.internal_in_flight = self.internal_in_flight.saturating_sub(1);
                    self.on_internal(internal, result);
                }
            }
        }
        self.route_event(frame);
    }

    /// Sends an event-carrying frame to the stream (persisted ones through seq tracking).
    fn route_event(&mut self, frame: ServerFrame) {
        let persisted = matches!(
            frame.event,
            EventName::CreateConversation
                | EventName::EditConversation
                | EventName::RemoveConversation
                | EventName::SendMessage
                | EventName::EditMessage
                | EventName::RemoveMessage
        );
        let ephemeral = matches!(
            frame.event,
            EventName::Typing
                | EventName::Read
                | EventName::SetStatus
                | EventName::EditUser
                | EventName::Subscribe
                | EventName::Unsubscribe
        );
        if ephemeral {
            // Our own typing is not echoed to us (the server does not send it to our other
            // connections either).
            let me = *self.out.me.borrow();
            if frame.event == EventName::Typing && me.is_some() && frame.payload.initiator == me {
                return;
            }
            if let Some(event) = Event::from_frame(frame, false) {
                self.emit(event);
            }
            return;
        }
        if !persisted {
            return;
        }
        let Some(sync) = self.sync.as_mut() else {
            self.early.push(frame);
            return;
        };
        let seq = frame.payload.seq.map(|s| s.get()).unwrap_or(0);
        // The existing-direct reply (never seq 1) only tells us the conversation's last seq.
        if frame.event == EventName::CreateConversation && seq != 1 {
            if let Some(EventObject::Conversation(c)) = &frame.payload.object {
                if sync.is_tracked(c.uuid) {
                    sync.set_last(c.uuid, seq);
                } else {
                    sync.track_from(c.uuid, seq);
                }
            }
            return;
        }
        let Some(event) = Event::from_frame(frame, false) else {
            return;
        };
        let (Some(conversation), true) = (event.conversation(), seq > 0) else {
            return;
        };
        let mut out = Vec::new();
        sync.on_event(conversation, seq, event, &mut out);
        for e in out {
            self.emit(e);
        }
    }

    fn on_internal(&mut self, internal: Internal, result: Result<Vec<ServerFrame>>) {
        match internal {
            Internal::Ignore => {}
            Internal::Scan { conversation } => self.on_scan(conversation, result),
            Internal::Me => self.on_me(result),
            Internal::Conversations(ids) => {
                match result {
                    Ok(frames) => frames.iter().for_each(|f| self.observe(f)),
                    Err(e)
                        if matches!(
                            e.code(),
                            Some(
                                ErrorCode::ConversationNotFound
                                    | ErrorCode::ConversationDeleted
                                    | ErrorCode::NotParticipant
                            )
                        ) =>
                    {
                        for id in ids {
                            self.catchup_left += 1;
                            self.internal.push_back((
                                Request::GetConversation(chatwire_protocol::ConversationRef {
                                    uuid: id.to_string(),
                                }),
                                Internal::Conversation(id),
                            ));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "catch-up: getConversations failed"),
                }
                self.catchup_step_done();
            }
            Internal::Conversation(id) => {
                match result {
                    Ok(frames) => frames.iter().for_each(|f| self.observe(f)),
                    Err(e) => match e.code() {
                        Some(ErrorCode::ConversationNotFound | ErrorCode::ConversationDeleted) => {
                            if self.sync.as_ref().is_some_and(|s| s.is_tracked(id)) {
                                self.emit(Event::ConversationRemoved {
                                    meta: None,
                                    conversation: id,
                                });
                            }
                            if let Some(s) = self.sync.as_mut() {
                                s.forget(id);
                            }
                        }
                        Some(ErrorCode::NotParticipant) => {
                            if let Some(s) = self.sync.as_mut() {
                                s.forget(id);
                            }
                        }
                        _ => tracing::warn!(error = %e, "catch-up: getConversation failed"),
                    },
                }
                self.catchup_step_done();
            }
            Internal::Fill {
                conversation,
                from,
                to,
            } => {
                let Some(sync) = self.sync.as_mut() else {
                    return;
                };
                let mut out = Vec::new();
                match result {
                    Ok(frames) => {
                        let events = frames.into_iter().filter_map(replayed_event).collect();
                        sync.filled(conversation, from, to, events, &mut out);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %conversation, from, to, "gap could not be filled");
                        sync.fill_failed(conversation, from, to, &mut out);
                    }
                }
                for e in out {
                    self.emit(e);
                }
            }
        }
    }

    fn on_me(&mut self, result: Result<Vec<ServerFrame>>) {
        let me = match result {
            Ok(frames) => frames
                .into_iter()
                .next()
                .and_then(|f| match f.payload.object {
                    Some(EventObject::User(u)) => Some(*u),
                    _ => None,
                }),
            Err(e) => {
                tracing::warn!(error = %e, "could not read own user");
                None
            }
        };
        let Some(me) = me else {
            self.catchup_left = 0;
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(Err(Error::Protocol(
                    chatwire_protocol::DecodeError::Malformed("own user record".into()),
                )));
            }
            return;
        };
        if let (Some(old), Some(new)) = (&self.epoch, &me.store_epoch) {
            if old != new {
                tracing::warn!("the server's data store changed; restarting event tracking");
                self.sync = None;
                self.synced_once = false;
                self.emit(Event::HistoryReset);
            }
        }
        if me.store_epoch.is_some() {
            self.epoch = me.store_epoch.clone();
        }
        self.out.me.send_replace(Some(me.user_id));
        let sync = self.sync.get_or_insert_with(|| SeqSync::new(me.user_id));
        let mut ids = sync.known();
        for id in me.conversations_list.unwrap_or_default() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        for batch in ids.chunks(MAX_GET_CONVERSATIONS) {
            self.catchup_left += 1;
            let request = Request::GetConversations(GetConversations {
                uuid: batch.iter().map(|c| c.to_string()).collect(),
            });
            self.internal
                .push_back((request, Internal::Conversations(batch.to_vec())));
        }
        for frame in std::mem::take(&mut self.early) {
            self.route_event(frame);
        }
        self.catchup_step_done();
    }

    /// A conversation's current state during catch-up.
    fn observe(&mut self, frame: &ServerFrame) {
        let (Some(EventObject::Conversation(c)), Some(sync)) =
            (&frame.payload.object, self.sync.as_mut())
        else {
            return;
        };
        let last = frame
            .payload
            .seq
            .map(|s| s.get())
            .unwrap_or(c.last_seq.get());
        let member = c
            .participants
            .iter()
            .any(|p| Some(p.user_id) == *self.out.me.borrow());
        if sync
            .delivered(c.uuid)
            .is_some_and(|delivered| last < delivered)
        {
            // The server's log went back (a data dir restored from a backup): its seqs after
            // `last` will name other events, so start this conversation over from now.
            tracing::warn!(conversation = %c.uuid, last, "conversation history went back; resetting it");
            sync.forget(c.uuid);
            sync.track_from(c.uuid, last);
            let _ = self.out.events.send(Event::HistoryReset);
        } else if sync.is_tracked(c.uuid) {
            sync.set_last(c.uuid, last);
        } else if member && !self.synced_once {
            // On the first login, history starts now (older events on request).
            sync.track_from(c.uuid, last);
        } else if member {
            // Added while we were disconnected: deliver everything since we joined.
            sync.discover(c.uuid, last);
            self.scans.insert(c.uuid, Vec::new());
            self.queue_scan(c.uuid, last);
        }
    }

    fn queue_scan(&mut self, conversation: ConversationId, to: u64) {
        let request = Request::RetransmitEvents(RetransmitEvents {
            conversation: conversation.to_string(),
            events_from: None,
            events_to: Some(to as i64),
            count: Some(to.min(chatwire_protocol::MAX_RETRANSMIT) as i64),
        });
        self.internal
            .push_back((request, Internal::Scan { conversation }));
    }

    /// One page of a backward scan: stop at the newest point where the snapshots stop
    /// including us (we joined with the conversation event after it), or at seq 1.
    fn on_scan(&mut self, conversation: ConversationId, result: Result<Vec<ServerFrame>>) {
        let Some(mut collected) = self.scans.remove(&conversation) else {
            return;
        };
        let frames = match result {
            Ok(frames) => frames,
            Err(e) => {
                tracing::warn!(error = %e, %conversation, "discovery failed");
                if let Some(sync) = self.sync.as_mut() {
                    sync.forget(conversation);
                }
                return;
            }
        };
        let from = frames
            .first()
            .and_then(|f| f.payload.from_seq)
            .map(|s| s.get())
            .unwrap_or(1);
        collected.extend(frames.into_iter().filter_map(replayed_event));
        collected.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        let me = *self.out.me.borrow();
        let mut join = None;
        let mut boundary = None;
        for (seq, ev) in &collected {
            if let Event::ConversationCreated {
                conversation: c, ..
            }
            | Event::ConversationEdited {
                conversation: c, ..
            } = ev
            {
                if me.is_some_and(|me| c.participant(me).is_some()) {
                    join = Some(*seq);
                } else {
                    boundary = Some(*seq);
                    break;
                }
            }
        }
        if boundary.is_none() && from > 1 {
            self.scans.insert(conversation, collected);
            self.queue_scan(conversation, from - 1);
            return;
        }
        let join = join.or(boundary.map(|b| b + 1)).unwrap_or(1);
        let mut out = Vec::new();
        if let Some(sync) = self.sync.as_mut() {
            sync.discovered(conversation, join, collected, &mut out);
        }
        for e in out {
            self.emit(e);
        }
    }

    fn catchup_step_done(&mut self) {
        self.catchup_left = self.catchup_left.saturating_sub(1);
        if self.catchup_left == 0 {
            self.synced_once = true;
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(Ok(()));
            }
        }
    }
}

/// The original event inside an `onRetransmitEvents` frame, as a replayed event.
pub(crate) fn replayed_event(frame: ServerFrame) -> Option<(u64, Event)> {
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
