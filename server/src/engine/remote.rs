//! Several nodes on one database: what the engine does with other nodes' commits (delivered
//! in seq order per conversation, holes filled from the log) and position checks (a tail
//! nobody announced); stale batches are in `stale.rs`, presence across nodes in `presence.rs`.
//!
//! The invariant: for each conversation, [`Engine::delivered`] is the last seq whose frames
//! this node handed to its connections (in commit order, through the release path). Whenever a
//! newer seq is known (another node's announcement, a refreshed row, a position check), the
//! events between are read from the log and delivered first; an event at or below it is never
//! delivered again. A stale batch's frames never left, so its positions go back.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chatwire_protocol::{ConversationId, EventName, Request, UserId};

use super::outbox::wrap;
use super::Engine;
use crate::bus::{Committed, Incoming, NodeId, Unlogged, WireEvent};
use crate::outbound::Frame;
use crate::store::{Batch, EventRecord, Write};

/// The test hook `CHATWIRE_FAULT=exit-after-commit[:N]`: the process exits right after its
/// N-th (default first) commit that logged an event, before publishing it. Tests use it to
/// prove that other nodes repair a tail nobody announced.
#[derive(Clone)]
pub(crate) struct Fault {
    left: Arc<AtomicU64>,
}

impl Fault {
    pub fn from_env() -> Option<Fault> {
        let value = std::env::var("CHATWIRE_FAULT").ok()?;
        let rest = value.strip_prefix("exit-after-commit")?;
        let n = rest
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or(1u64);
        tracing::warn!(
            after = n,
            "fault hook armed: exit after a commit, before publishing"
        );
        Some(Fault {
            left: Arc::new(AtomicU64::new(n.max(1))),
        })
    }

    /// Called after each commit that logged events (before it is published).
    pub fn after_commit(&self) {
        if self.left.fetch_sub(1, Ordering::SeqCst) == 1 {
            tracing::error!("fault hook: exiting after a commit, before publishing it");
            std::process::exit(86);
        }
    }
}

/// What other nodes must learn about a batch: its events, the users and conversations whose
/// rows it changed, the tokens it deleted. `None` if there is nothing to tell.
pub(crate) fn announcement(
    node: NodeId,
    batch: &Batch,
    unlogged: Vec<Unlogged>,
) -> Option<Committed> {
    let mut c = Committed {
        node,
        unlogged,
        ..Committed::default()
    };
    let mut convs = std::collections::BTreeSet::new();
    for w in &batch.writes {
        match w {
            Write::Event(e) => {
                if !e.is_message {
                    convs.insert(*e.conversation.as_uuid());
                }
                c.events.push(WireEvent {
                    conversation: *e.conversation.as_uuid(),
                    seq: e.seq,
                    event: e.event.clone(),
                    initiator: e.initiator.get(),
                    is_message: e.is_message,
                    payload: e.payload.to_string(),
                });
            }
            Write::User(u) => c.users.push(u.id.get()),
            Write::Member(conv, _) | Write::DeleteMembers(conv) => {
                convs.insert(*conv.as_uuid());
            }
            Write::DeleteToken(hash) => c.revoked_tokens.push(hash.clone()),
            _ => {}
        }
    }
    c.conversations = convs.into_iter().collect();
    c.users.sort_unstable();
    c.users.dedup();
    let empty = c.events.is_empty()
        && c.users.is_empty()
        && c.conversations.is_empty()
        && c.revoked_tokens.is_empty()
        && c.unlogged.is_empty();
    (!empty).then_some(c)
}

/// The timestamp of a logged payload.
fn timestamp(payload: &str) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Ts {
        timestamp: i64,
    }
    serde_json::from_str::<Ts>(payload)
        .ok()
        .map(|t| t.timestamp)
}

impl Engine {
    /// Delivers the logged events of `conv` after [`Engine::delivered`] up to `upto`, read from
    /// the log, to this node's connections. On a read failure the rest waits for the next fill.
    pub(crate) fn fill_missed(&mut self, conv: ConversationId, upto: u64) {
        self.fill_with(conv, upto, &[], None);
    }

    /// [`Engine::fill_missed`], taking the events from `known` (ascending) when they cover the range.
    /// `request_uuid` goes with the events of `known` (the request that caused them).
    pub(crate) fn fill_with(
        &mut self,
        conv: ConversationId,
        upto: u64,
        known: &[EventRecord],
        request_uuid: Option<&str>,
    ) {
        let from = self.delivered.get(&conv).copied().unwrap_or(0) + 1;
        if from > upto {
            return;
        }
        let Some(c) = self.state.conversations.get(&conv) else {
            return;
        };
        // Nothing before the earliest participation of a user connected here is delivered to
        // anyone here: skip it (a conversation first seen here may have a long history).
        let earliest = c
            .members
            .values()
            .filter(|m| {
                self.state
                    .users
                    .get(&m.user)
                    .is_some_and(|u| !u.conns.is_empty())
            })
            .filter_map(|m| m.intervals.first().map(|(a, _)| *a))
            .min();
        let Some(earliest) = earliest else {
            self.delivered.insert(conv, upto);
            return;
        };
        let from = from.max(earliest);
        if from > upto {
            self.delivered.insert(conv, upto);
            return;
        }
        let covered = known
            .iter()
            .skip_while(|e| e.seq < from)
            .take_while(|e| e.seq <= upto)
            .map(|e| e.seq)
            .eq(from..=upto);
        let read;
        let (events, request_uuid): (&[EventRecord], _) = if covered {
            (known, request_uuid)
        } else {
            read = match self.store.events(conv, from, upto) {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, %conv, "reading missed events failed");
                    return;
                }
            };
            (&read, None)
        };
        for e in events.iter().filter(|e| e.seq >= from && e.seq <= upto) {
            self.deliver_logged(e, request_uuid);
        }
    }

    /// Sends one logged event of another node to this node's connections of the users who were
    /// participants at its seq (docs/BEHAVIOUR.md 7.4: the same users local delivery reaches).
    pub(crate) fn deliver_logged(&mut self, e: &EventRecord, request_uuid: Option<&str>) {
        let conv = &self.state.conversations[&e.conversation];
        let users: Vec<UserId> = conv
            .members
            .values()
            .filter(|m| {
                m.intervals
                    .iter()
                    .any(|(a, b)| e.seq >= *a && b.is_none_or(|b| e.seq <= b))
            })
            .map(|m| m.user)
            .collect();
        let to = self.conns_of(users);
        let frame = wrap(&EventName::from_name(&e.event), request_uuid, &e.payload);
        let before = self.out.deliveries.len();
        self.out.send(frame, to);
        if self.out.deliveries.len() > before {
            if let Some(d) = self.out.deliveries.last_mut() {
                d.remote = true;
            }
        }
        self.out.remote.push((e.conversation, e.seq));
        self.delivered.insert(e.conversation, e.seq);
    }

    /// Delivers, for every conversation, what lies between the delivered position and the
    /// cached last seq (after a reload).
    pub(crate) fn refill_behind(&mut self) {
        let behind: Vec<(ConversationId, u64)> = self
            .state
            .conversations
            .iter()
            .filter(|(id, c)| self.delivered.get(id).copied().unwrap_or(0) < c.rec.last_seq)
            .map(|(id, c)| (*id, c.rec.last_seq))
            .collect();
        for (id, last) in behind {
            self.fill_missed(id, last);
        }
    }

    /// No delivered position beyond a conversation's cached last seq (after a reload: what
    /// was beyond it was never committed).
    pub(crate) fn clamp_delivered(&mut self) {
        for (id, d) in self.delivered.iter_mut() {
            if let Some(c) = self.state.conversations.get(id) {
                *d = (*d).min(c.rec.last_seq);
            }
        }
    }

    /// Reads a conversation's committed row and memberships into the cache. This node's own
    /// queued writes are committed first, so that the row read includes them (the cache never
    /// goes back behind a seq this node already handed out).
    pub(crate) fn refresh_conversation(&mut self, id: ConversationId) -> bool {
        let _ = self.store.flush();
        match self.store.conversation(id) {
            Ok(Some((rec, members))) => {
                self.state.put_conversation(rec, members);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, conv = %id, "refreshing a conversation failed");
                false
            }
        }
    }

    /// Reads users' committed records into the cache (after this node's queued writes).
    pub(crate) fn refresh_users(&mut self, ids: &[UserId]) {
        let _ = self.store.flush();
        match self.store.users(ids) {
            Ok(recs) => {
                for rec in recs {
                    self.state.put_user(rec);
                }
            }
            Err(e) => tracing::warn!(error = %e, "refreshing users failed"),
        }
    }

    /// A message from the bus.
    pub(crate) fn on_bus(&mut self, msg: Incoming) {
        match msg {
            Incoming::Committed(c) => self.remote_committed(c),
            Incoming::Presence(p) => self.remote_presence(p),
            Incoming::Heartbeat(h) => self.remote_heartbeat(h),
            Incoming::PeerDown(node) => {
                tracing::info!(%node, "peer missed its heartbeats: its users go offline");
                let users: Vec<UserId> = self.remote_online.keys().copied().collect();
                for u in users {
                    self.set_remote_online(u, node, false);
                }
                let users: Vec<UserId> = self.remote_conns.keys().copied().collect();
                for u in users {
                    self.set_remote_conns(u, node, 0);
                }
                self.position_check(true);
            }
            Incoming::Typing(t) => {
                let (Some(conv), Some(user)) = (
                    Some(ConversationId::from(t.conversation)),
                    UserId::new(t.user),
                ) else {
                    return;
                };
                if let Some(c) = self.state.conversations.get(&conv) {
                    let others: Vec<UserId> = c
                        .participants
                        .iter()
                        .copied()
                        .filter(|u| *u != user)
                        .collect();
                    let to = self.conns_of(others);
                    self.out.send(Frame::from(t.frame), to);
                }
            }
            Incoming::Kick { user, code } => {
                if let Some(user) = UserId::new(user) {
                    let conns = self.conns_of([user]);
                    for conn in conns {
                        self.out
                            .closes
                            .push((conn, code, "user deleted or deactivated"));
                    }
                }
            }
            Incoming::PositionCheck { thorough } => {
                if self.failed.load(std::sync::atomic::Ordering::SeqCst) && self.store.available() {
                    self.recover();
                }
                self.position_check(thorough);
            }
        }
    }

    fn remote_committed(&mut self, mut c: Committed) {
        if !c.users.is_empty() {
            let ids: Vec<UserId> = c.users.iter().filter_map(|u| UserId::new(*u)).collect();
            self.refresh_users(&ids);
        }
        for hash in &c.revoked_tokens {
            self.state.tokens.remove(hash);
        }
        let mut by_conv: BTreeMap<ConversationId, Vec<EventRecord>> = BTreeMap::new();
        for conv in &c.conversations {
            by_conv.entry((*conv).into()).or_default();
        }
        for e in std::mem::take(&mut c.events) {
            let Some(initiator) = UserId::new(e.initiator) else {
                continue;
            };
            by_conv
                .entry(e.conversation.into())
                .or_default()
                .push(EventRecord {
                    conversation: e.conversation.into(),
                    seq: e.seq,
                    event: e.event,
                    initiator,
                    is_message: e.is_message,
                    payload: e.payload.into(),
                });
        }
        let changed: HashSet<ConversationId> =
            c.conversations.iter().map(|u| (*u).into()).collect();
        for (conv, mut events) in by_conv {
            events.sort_by_key(|e| e.seq);
            let newest = events.last().map(|e| e.seq).unwrap_or(0);
            let delivered = self.delivered.get(&conv).copied().unwrap_or(0);
            let known = self.state.conversations.contains_key(&conv);
            // A hole before these events may hide a membership change: read the row too.
            let hole = events.first().is_some_and(|e| e.seq > delivered + 1);
            if !known || hole || (changed.contains(&conv) && (newest > delivered || newest == 0)) {
                if !self.refresh_conversation(conv) {
                    continue;
                }
            } else if let Some(cached) = self.state.conversations.get_mut(&conv) {
                for e in &events {
                    if e.seq > cached.rec.last_seq {
                        cached.rec.last_seq = e.seq;
                        if let Some(ts) = timestamp(&e.payload) {
                            cached.rec.last_update = cached.rec.last_update.max(ts);
                        }
                    }
                }
            }
            let last = self.state.conversations[&conv].rec.last_seq;
            self.fill_with(conv, last, &events, c.request_uuid.as_deref());
        }
        // After the events they follow (a read mark names a seq already delivered).
        for u in c.unlogged {
            let to = self.conns_of(u.users.into_iter().filter_map(UserId::new));
            self.out.send(Frame::from(u.frame), to);
        }
    }

    /// With a bus: `frame`, not logged, goes to the connections of `users` on the other nodes
    /// too, once this request's batch is committed.
    pub(crate) fn announce_unlogged(&mut self, users: &[UserId], frame: &Frame) {
        if self.bus.is_some() && !users.is_empty() {
            self.out.unlogged.push(Unlogged {
                users: users.iter().map(|u| u.get()).collect(),
                frame: frame.as_str().to_string(),
            });
        }
    }

    /// Compares the cached last seq of every conversation with a participant connected here
    /// with the database, and delivers what this node missed (a tail whose node died between
    /// commit and publication, announcements lost while the bus was down).
    pub(crate) fn position_check(&mut self, thorough: bool) {
        if !self.clustered() {
            return;
        }
        let local: Vec<UserId> = self
            .state
            .users
            .iter()
            .filter(|(_, u)| !u.conns.is_empty())
            .map(|(id, _)| *id)
            .collect();
        if local.is_empty() {
            return;
        }
        if thorough {
            // The users' own records (conversation lists) may have changed unannounced.
            self.refresh_users(&local);
        }
        // From the memberships as committed: conversations a local user joined through a node
        // whose announcement was lost are found too.
        let positions = match self.store.member_positions(&local) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "position check failed");
                return;
            }
        };
        for (id, committed) in positions {
            let delivered = self.delivered.get(&id).copied().unwrap_or(0);
            let cached = self.state.conversations.get(&id).map(|c| c.rec.last_seq);
            if committed > delivered || cached.is_none_or(|c| committed > c) {
                tracing::debug!(conv = %id, committed, delivered, "position check: behind");
                if !self.refresh_conversation(id) {
                    continue;
                }
                let last = self.state.conversations[&id].rec.last_seq;
                self.fill_missed(id, last);
            }
        }
    }

    /// Before a read that answers with last seqs (getConversation(s), retransmitEvents, isRead,
    /// catchUp): with a shared store, reads the committed positions of the conversations it
    /// names and brings those behind up to date (row, memberships, missed events), so that the
    /// answer reflects what any node committed, not only what the bus delivered so far.
    ///
    /// Before a change of a conversation this node does not know, or where the caller is not a
    /// participant as far as the cache knows (created or joined through another node, the
    /// announcement not here yet): reads the conversation first, so the change is checked
    /// against what is committed. A change computed on a stale cache otherwise fails as stale
    /// in the writer and runs again.
    pub(crate) fn catch_up_with_database(&mut self, user: UserId, request: &Request) {
        // Without a bus this node is the database's only writer: its cache is current.
        if !self.clustered() {
            return;
        }
        if let Some(id) = request
            .changed_conversation()
            .and_then(ConversationId::parse)
        {
            let known = self.state.conversations.get(&id).is_some_and(|c| {
                c.is_participant(user) || matches!(request, Request::JoinConversation(_))
            });
            if !known && self.refresh_conversation(id) {
                let last = self.state.conversations[&id].rec.last_seq;
                self.fill_missed(id, last);
            }
            return;
        }
        let named: Vec<&str> = match request {
            Request::GetConversation(r) => vec![r.uuid.as_str()],
            Request::GetConversations(r) => r.uuid.iter().map(String::as_str).collect(),
            Request::RetransmitEvents(r) => vec![r.conversation.as_str()],
            Request::IsRead(r) => vec![r.conversation.as_str()],
            Request::CatchUp(r) => r
                .positions
                .iter()
                .map(|p| p.conversation.as_str())
                .collect(),
            _ => return,
        };
        let mut ids: Vec<ConversationId> = named
            .into_iter()
            .filter_map(ConversationId::parse)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        let positions = match self.store.positions(&ids) {
            Ok(p) => p,
            Err(e) => {
                // The read is answered from the cache (the node's own commits are in it).
                tracing::debug!(error = %e, "position read before a read failed");
                return;
            }
        };
        for (id, committed) in positions {
            let cached = self.state.conversations.get(&id).map(|c| c.rec.last_seq);
            if cached.is_none_or(|c| committed > c) && self.refresh_conversation(id) {
                let last = self.state.conversations[&id].rec.last_seq;
                self.fill_missed(id, last);
            }
        }
    }
}
