//! The engine: one thread that owns all messaging state and applies requests one at a time.
//!
//! Connection tasks send [`Command`]s; the engine checks and applies each one, collecting its
//! store writes and frames in an [`Outbox`]. The outbox's writes go to the store as one batch
//! and its frames are released by the store's completion, i.e. once the writes are durable and
//! after every earlier command's frames. So mutations of a conversation are applied in seq
//! order, nothing is sent before it is on disk, and each connection receives frames in the order
//! they were produced.
//!
//! The engine sits between the store and the transport: it uses [`crate::store`] and pushes
//! [`Frame`]s into [`crate::outbound`] queues, and never names the transport or its WebSocket
//! library.
//!
//! Inside, imports run one way. `command` is the engine's interface (what other layers send
//! and get back); `state` (users, conversations, connections) and `outbox` (effects of one
//! command, frame encoding) are what the core works on; this file is the core (command loop,
//! request context, fan-out, log appends) and `commit` hands each outbox to the store and
//! releases its frames; the handlers (`users`, `conversations`,
//! `participants`, `messages`, `history`, `catchup`, `idempotency`, `auth`, `admin`) add
//! `impl Engine` methods and import from the core, which only calls them. With several nodes
//! on one database (docs/SCALING.md), `remote` delivers other nodes' events and checks
//! positions, `stale` runs again the requests whose batch another node made stale, and
//! `presence` aggregates presence and connection counts over the nodes.

mod admin;
mod auth;
mod catchup;
mod command;
mod commit;
mod conversations;
mod history;
mod idempotency;
mod messages;
mod outbox;
mod participants;
mod presence;
mod remote;
mod stale;
mod state;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatwire_protocol::{
    Action, ConversationId, ErrorCode, EventName, EventObject, EventPayload, Request, Seq, UserId,
};

pub use command::{AdminCommand, AdminError, AdminReply, AdminTarget, UserInfo};
pub(crate) use command::{AuthCommand, AuthOutcome, Command, EngineHandle};
pub(crate) use outbox::{error_frame, frame as encode_frame};

use crate::bus::{BusLink, NodeId};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbound::{ConnShared, Frame, ReplyCredit};
use crate::store::{EventRecord, IdKind, Store, StoreError, Write};
use commit::{release_loop, Released};
use outbox::{encode_payload, wrap, Outbox};
use state::{Conversation, State};

/// Current UNIX time in seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Starts the engine thread on a store; loads the state first. With a bus (several nodes on
/// one database), the bus must already be subscribed: what other nodes commit while the state
/// loads is then delivered after it, never lost between the two.
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    bus: Option<BusLink>,
) -> Result<EngineHandle, StoreError> {
    let snapshot = store.load()?;
    let state = State::from_snapshot(snapshot);
    let delivered = state
        .conversations
        .iter()
        .map(|(id, c)| (*id, c.rec.last_seq))
        .collect();
    tracing::info!(
        users = state.users.len(),
        conversations = state.conversations.len(),
        "state loaded"
    );
    let (tx, rx) = mpsc::channel();
    let (released, to_release) = tokio::sync::mpsc::unbounded_channel();
    tokio::runtime::Handle::current().spawn(release_loop(to_release, metrics.clone()));
    let mut engine = Engine {
        state,
        out: Outbox::default(),
        store,
        config,
        failed: metrics.commits_failed.clone(),
        released,
        metrics,
        delivered,
        stale: Arc::new(Mutex::new(Vec::new())),
        lost: Arc::new(Mutex::new(Vec::new())),
        stale_everywhere: Arc::new(AtomicBool::new(false)),
        wake: tx.clone(),
        bus,
        remote_online: HashMap::new(),
        local_online: HashSet::new(),
        remote_conns: HashMap::new(),
        fault: remote::Fault::from_env(),
    };
    std::thread::Builder::new()
        .name("chatwire-engine".into())
        .spawn(move || {
            // Idempotency keys older than the window are forgotten at start-up and then
            // every PRUNE_EVERY, between commands.
            let mut next_prune = Instant::now();
            loop {
                if Instant::now() >= next_prune {
                    engine.prune_idempotency(now());
                    next_prune = Instant::now() + PRUNE_EVERY;
                }
                let wait = next_prune.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(cmd) => engine.handle(cmd),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            let _ = engine.store.flush();
        })
        .map_err(StoreError::Io)?;
    Ok(EngineHandle::new(tx))
}

/// How often expired idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The request being handled.
pub(crate) struct Ctx {
    pub conn: Arc<ConnShared>,
    pub user: UserId,
    pub request_uuid: Option<String>,
    pub action: Action,
    pub now: i64,
}

/// A refused request: the code and, optionally, a more precise description.
#[derive(Debug)]
pub(crate) struct Fail {
    pub code: ErrorCode,
    pub detail: Option<String>,
}

impl From<ErrorCode> for Fail {
    fn from(code: ErrorCode) -> Self {
        Fail { code, detail: None }
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store read failed");
        Fail {
            code: ErrorCode::Unavailable,
            detail: None,
        }
    }
}

pub(crate) type Outcome = Result<(), Fail>;

pub(crate) struct Engine {
    pub state: State,
    pub out: Outbox,
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// Set when a commit failed: the in-memory state may be ahead of the disk, so every later
    /// mutation is refused with code 30 until a restart reloads the durable state.
    failed: Arc<AtomicBool>,
    /// Committed outboxes, in commit order, to [`release_loop`].
    released: tokio::sync::mpsc::UnboundedSender<Released>,
    /// Commit latency, events committed, refused requests.
    metrics: Arc<Metrics>,
    /// Per conversation, the last seq whose frames went (or are queued to go, in commit order)
    /// to this node's connections. Behind the cached last seq when another node committed
    /// something this node has not delivered yet (filled from the log).
    pub delivered: HashMap<ConversationId, u64>,
    /// Outboxes whose batch failed as stale, in commit order (from the store's completions).
    stale: StaleList,
    /// Set when a stale failure may come from rows no failed batch wrote (a unique
    /// constraint): the engine then reloads everything.
    stale_everywhere: Arc<AtomicBool>,
    /// Positions of outboxes whose commit failed (not stale): delivered again from the log
    /// after the node recovers.
    lost: Arc<Mutex<Vec<(ConversationId, u64)>>>,
    /// The engine's own command channel (a stale completion wakes the engine through it).
    wake: mpsc::Sender<Command>,
    /// The bus to the other nodes, if any.
    pub bus: Option<BusLink>,
    /// Users online on other nodes: which nodes.
    pub remote_online: HashMap<UserId, HashSet<NodeId>>,
    /// Users with an online connection on this node (as last published).
    pub local_online: HashSet<UserId>,
    /// Logged-in connections of users on other nodes, per node (the per-user cap counts them).
    pub remote_conns: HashMap<UserId, HashMap<NodeId, u32>>,
    /// A test hook that makes the process exit between a commit and its publication.
    fault: Option<remote::Fault>,
}

/// Outboxes whose batch failed as stale, with their requests, in commit order.
type StaleList = Arc<Mutex<Vec<(Outbox, Option<Ctx>)>>>;

/// A request kept for running it again (see [`Outbox::rerun`]).
pub(crate) struct Rerun {
    pub conn: Arc<ConnShared>,
    pub user: UserId,
    pub request_uuid: Option<String>,
    pub idempotency_key: Option<String>,
    pub request: Request,
    /// How many times it ran into a stale batch.
    pub attempts: u32,
}

/// How many times a request whose batch was stale runs again before it is answered with 30.
const MAX_RERUNS: u32 = 16;

impl Engine {
    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Request {
                conn,
                user,
                request_uuid,
                idempotency_key,
                request,
                credit,
            } => self.request(conn, user, request_uuid, idempotency_key, request, credit),
            Command::Detach { conn } => self.detach(conn, now()),
            Command::Auth(cmd) => self.auth(cmd),
            Command::Admin(cmd, reply) => self.admin(cmd, reply),
            Command::Flush(reply) => self.out.after.push(Box::new(move |_| {
                let _ = reply.send(());
            })),
            Command::Stale => self.on_stale(),
            Command::Bus(msg) => self.on_bus(msg),
        }
        self.release(None);
    }

    fn request(
        &mut self,
        conn: Arc<ConnShared>,
        user: UserId,
        request_uuid: Option<String>,
        idempotency_key: Option<String>,
        request: Request,
        credit: ReplyCredit,
    ) {
        self.run(
            Rerun {
                conn,
                user,
                request_uuid,
                idempotency_key,
                request,
                attempts: 0,
            },
            credit,
        )
    }

    /// Runs a request (again, after a stale batch, with `attempts` > 0).
    pub(crate) fn run(&mut self, r: Rerun, credit: ReplyCredit) {
        let kept = self.clustered().then(|| Rerun {
            conn: r.conn.clone(),
            user: r.user,
            request_uuid: r.request_uuid.clone(),
            idempotency_key: r.idempotency_key.clone(),
            request: r.request.clone(),
            attempts: r.attempts,
        });
        let Rerun {
            conn,
            user,
            request_uuid,
            idempotency_key,
            request,
            ..
        } = r;
        if !self.state.conns.contains_key(&conn.id) {
            // Detached by an admin change (4003) while the request was on its way.
            return;
        }
        let action = request.action();
        let ctx = Ctx {
            conn,
            user,
            request_uuid,
            action,
            now: now(),
        };
        let span = tracing::debug_span!("request", action = action.name(), user = user.get());
        let _enter = span.enter();
        let key = idempotency_key.filter(|_| action.consumes_seq());
        if self.failed.load(Ordering::SeqCst) && self.store.available() {
            self.recover();
        }
        let unavailable = self.failed.load(Ordering::SeqCst) || !self.store.available();
        if !unavailable {
            self.catch_up_with_database(user, &request);
        }
        let result = if unavailable && mutates(action) {
            Err(Fail::from(ErrorCode::Unavailable))
        } else if let Some(key) = &key {
            self.with_idempotency_key(&ctx, key, request)
        } else {
            self.dispatch(&ctx, request)
        };
        match result {
            Ok(()) => {
                // The reserved room goes back once the replies are queued.
                self.out.credit = Some(credit);
                self.out.rerun = kept;
                self.release(Some(ctx));
            }
            Err(fail) => {
                debug_assert!(self.out.batch.is_empty(), "a failed request must not write");
                self.out = Outbox::default();
                tracing::debug!(code = fail.code.code(), "request refused");
                self.metrics.request_error(action.name(), fail.code.code());
                let frame = error_for(&ctx, fail);
                self.out.reply(frame, &ctx.conn);
                self.out.credit = Some(credit);
            }
        }
    }

    /// After a failed commit, once the store is back: reloads the durable state (the memory
    /// was ahead of it) and accepts mutations again. Clients saw nothing of the lost changes:
    /// their frames were never released and their requests got code 30.
    pub(crate) fn recover(&mut self) {
        if self.store.resume().is_err() {
            return;
        }
        match self.store.load() {
            Ok(snapshot) => {
                self.state.reload(State::from_snapshot(snapshot));
                let lost = self
                    .lost
                    .lock()
                    .map(|mut l| std::mem::take(&mut *l))
                    .unwrap_or_default();
                for (conv, seq) in lost {
                    let d = self.delivered.entry(conv).or_insert(0);
                    *d = (*d).min(seq.saturating_sub(1));
                }
                self.clamp_delivered();
                self.failed.store(false, Ordering::SeqCst);
                self.refill_behind();
                tracing::info!("state reloaded from the store after a failed commit");
            }
            Err(e) => tracing::warn!(error = %e, "reloading the state failed"),
        }
    }

    fn dispatch(&mut self, ctx: &Ctx, request: Request) -> Outcome {
        match request {
            Request::CreateConversation(r) => self.create_conversation(ctx, r),
            Request::EditConversation(r) => self.edit_conversation(ctx, r),
            Request::GetConversation(r) => self.get_conversation(ctx, r),
            Request::GetConversations(r) => self.get_conversations(ctx, r),
            Request::GetPublicConversations => self.get_public_conversations(ctx),
            Request::JoinConversation(r) => self.join_conversation(ctx, r),
            Request::LeaveConversation(r) => self.leave_conversation(ctx, r),
            Request::AddParticipants(r) => self.add_participants(ctx, r),
            Request::EditParticipants(r) => self.edit_participants(ctx, r),
            Request::RemoveParticipants(r) => self.remove_participants(ctx, r),
            Request::SendMessage(r) => self.send_message(ctx, r),
            Request::EditMessage(r) => self.edit_message(ctx, r),
            Request::RemoveMessage(r) => self.remove_message(ctx, r),
            Request::TypingMessage(r) => self.typing(ctx, r),
            Request::IsRead(r) => self.is_read(ctx, r),
            Request::RetransmitEvents(r) => self.retransmit(ctx, r),
            Request::GetUser(r) => self.get_user(ctx, r),
            Request::GetUsers(r) => self.get_users(ctx, r),
            Request::EditUser(r) => self.edit_user(ctx, r),
            Request::SetStatus(r) => self.set_status(ctx, r),
            Request::Subscribe(r) => self.subscribe(ctx, r),
            Request::Unsubscribe(r) => self.unsubscribe(ctx, r),
            Request::GetSubscriptionList => self.get_subscription_list(ctx),
            Request::ManageNotification(r) => self.manage_notification(ctx, r),
            Request::CatchUp(r) => self.catch_up(ctx, r),
            _ => Err(ErrorCode::UnknownEvent.into()),
        }
    }

    // ---- shared helpers ----

    /// The conversation named by a request: 8 if none ever had that uuid, 16 if deleted.
    pub(crate) fn conversation_id(&self, uuid: &str) -> Result<ConversationId, Fail> {
        let id = ConversationId::parse(uuid).ok_or(ErrorCode::ConversationNotFound)?;
        match self.state.conversations.get(&id) {
            None => Err(ErrorCode::ConversationNotFound.into()),
            Some(c) if c.rec.deleted => Err(ErrorCode::ConversationDeleted.into()),
            Some(_) => Ok(id),
        }
    }

    pub(crate) fn conv(&self, id: ConversationId) -> &Conversation {
        &self.state.conversations[&id]
    }

    pub(crate) fn conv_mut(&mut self, id: ConversationId) -> &mut Conversation {
        self.state
            .conversations
            .get_mut(&id)
            .expect("checked conversation")
    }

    /// Every logged-in connection of these users, each once.
    pub(crate) fn conns_of(&self, users: impl IntoIterator<Item = UserId>) -> Vec<Arc<ConnShared>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for u in users {
            if !seen.insert(u) {
                continue;
            }
            if let Some(user) = self.state.users.get(&u) {
                for c in &user.conns {
                    if let Some(conn) = self.state.conns.get(c) {
                        out.push(conn.handle.clone());
                    }
                }
            }
        }
        out
    }

    /// Sends `frame` to the caller (its result) and to every connection of `users`.
    pub(crate) fn deliver(
        &mut self,
        ctx: &Ctx,
        frame: Frame,
        users: impl IntoIterator<Item = UserId>,
    ) {
        let to = self.conns_of(users);
        self.send_with_caller(ctx, frame, to.into());
    }

    /// Sends `frame` to `to` and, if it is not among them, to the caller's connection; the
    /// caller's copy is its result (a reply).
    fn send_with_caller(&mut self, ctx: &Ctx, frame: Frame, to: Arc<[Arc<ConnShared>]>) {
        if !to.iter().any(|c| c.id == ctx.conn.id) {
            self.out.reply(frame.clone(), &ctx.conn);
        }
        self.out.send_with_reply(frame, to, Some(ctx.conn.id));
    }

    /// Sends an event of conversation `conv` to the caller and to every participant's
    /// connections (the same list for every event until a participant or a connection changes).
    pub(crate) fn deliver_to_participants(
        &mut self,
        ctx: &Ctx,
        conv: ConversationId,
        frame: Frame,
    ) {
        let generation = self.state.conn_generation;
        let to = match &self.conv(conv).fanout {
            Some(f) if f.generation == generation => f.conns.clone(),
            _ => {
                let conns: Arc<[Arc<ConnShared>]> = self
                    .conns_of(self.conv(conv).participants.iter().copied())
                    .into();
                self.conv_mut(conv).fanout = Some(state::Fanout {
                    generation,
                    conns: conns.clone(),
                });
                conns
            }
        };
        self.send_with_caller(ctx, frame, to);
    }

    /// Sends a non-persisted result to the caller only.
    pub(crate) fn reply(&mut self, ctx: &Ctx, event: EventName, payload: EventPayload) {
        let frame = encode_frame(event, ctx.request_uuid.as_deref(), payload);
        self.out.reply(frame, &ctx.conn);
    }

    /// A payload of a frame produced now by the caller's request.
    pub(crate) fn payload(&self, ctx: &Ctx, object: Option<EventObject>) -> EventPayload {
        let mut p = EventPayload::new(Some(ctx.user), ctx.action.name(), ctx.now);
        p.object = object;
        p
    }

    /// Appends a log entry for an event whose seq/timestamp were taken with
    /// [`Conversation::next_event`], persists the conversation record, and returns the frame.
    pub(crate) fn log_event(
        &mut self,
        ctx: &Ctx,
        conv_id: ConversationId,
        (seq, timestamp): (u64, i64),
        event: EventName,
        object: EventObject,
    ) -> Frame {
        let is_message = matches!(
            event,
            EventName::SendMessage | EventName::EditMessage | EventName::RemoveMessage
        );
        // Whatever other nodes committed before this event goes out first.
        self.fill_missed(conv_id, seq - 1);
        self.delivered.insert(conv_id, seq);
        let mut payload = EventPayload::new(Some(ctx.user), ctx.action.name(), timestamp);
        payload.seq = Some(Seq(seq));
        payload.object = Some(object);
        let json: Arc<str> = encode_payload(&payload).into();
        let frame = wrap(&event, ctx.request_uuid.as_deref(), &json);
        self.out.write(Write::Event(EventRecord {
            conversation: conv_id,
            seq,
            event: event.as_str().to_string(),
            initiator: ctx.user,
            is_message,
            payload: json,
        }));
        let rec = self.conv(conv_id).rec.clone();
        self.out.write(Write::Conversation(Box::new(rec)));
        frame
    }

    /// Whether this node is one of several on a shared database (a bus is configured): then
    /// batches may fail as stale and requests are kept to run them again.
    pub(crate) fn clustered(&self) -> bool {
        self.bus.is_some() && self.store.shared()
    }

    /// A new id: from the database when it is shared with other nodes, else the next value
    /// of this engine's counter.
    pub(crate) fn allocate(&mut self, kind: IdKind) -> Result<u64, Fail> {
        if let Some(id) = self.store.allocate(kind)? {
            let s = &mut self.state;
            match kind {
                IdKind::User => s.next_im_id = s.next_im_id.max(id + 1),
                IdKind::Admin => s.next_admin_id = s.next_admin_id.max(id + 1),
                IdKind::Ordinal => s.next_ordinal = s.next_ordinal.max(id + 1),
            }
            return Ok(id);
        }
        let s = &mut self.state;
        let counter = match kind {
            IdKind::User => &mut s.next_im_id,
            IdKind::Admin => &mut s.next_admin_id,
            IdKind::Ordinal => &mut s.next_ordinal,
        };
        *counter += 1;
        Ok(*counter - 1)
    }

    /// Persists a user's record.
    pub(crate) fn save_user(&mut self, id: UserId) {
        if let Some(u) = self.state.users.get(&id) {
            self.out.write(Write::User(Box::new(u.rec.clone())));
        }
    }

    /// Persists a membership.
    pub(crate) fn save_member(&mut self, conv_id: ConversationId, user: UserId) {
        if let Some(m) = self.conv(conv_id).members.get(&user) {
            let m = m.clone();
            self.out.write(Write::Member(conv_id, m));
        }
    }
}

/// The `onError` frame refusing the request `ctx`.
fn error_for(ctx: &Ctx, fail: Fail) -> Frame {
    let description = fail
        .detail
        .unwrap_or_else(|| fail.code.description().to_string());
    error_frame(
        Some(ctx.user),
        ctx.action.name(),
        ctx.request_uuid.as_deref(),
        fail.code,
        &description,
        ctx.now,
    )
}

/// Whether an action changes durable state.
fn mutates(action: Action) -> bool {
    !matches!(
        action,
        Action::GetConversation
            | Action::GetConversations
            | Action::GetPublicConversations
            | Action::GetUser
            | Action::GetUsers
            | Action::GetSubscriptionList
            | Action::RetransmitEvents
            | Action::CatchUp
            | Action::TypingMessage
            | Action::SetStatus
    )
}
