//! The writer thread: commits each group of queued batches in one transaction with one
//! multi-row statement per table, retries a group while the database is unreachable (a retry
//! first checks whether the lost commit went through), and probes the database while idle and
//! unavailable so that the node accepts writes again as soon as it is back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::runtime::Handle;
use uuid::Uuid;

use super::schema::{self, Identity};
use super::versions::{version_of, Version};
use super::{pool_error, Shared};
use crate::store::queue::{Group, Next};
use crate::store::records::{
    ConversationRecord, EventRecord, IdempotencyRecord, MemberRecord, MessageRecord, TokenRecord,
    UserRecord,
};
use crate::store::{StoreError, Write};

/// How often an idle writer looks at the database while it is unavailable.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How often an idle writer wakes up otherwise (to notice an outage reported by a read).
const IDLE_TICK: Duration = Duration::from_secs(1);
/// Longest pause between two attempts at a group.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// How long a group is retried while the database is unreachable before it fails (its
/// requests get code 30, every reply queued behind it waits meanwhile).
const GIVE_UP_AFTER: Duration = Duration::from_secs(3);

pub(super) fn run(rt: Handle, pool: Pool, shared: Arc<Shared>) {
    let writer = Uuid::new_v4();
    let mut group_no: i64 = 0;
    let mut conn: Option<Object> = None;
    loop {
        let tick = if shared.is_available() {
            IDLE_TICK
        } else {
            PROBE_EVERY
        };
        match shared.queue.next_group(Some(tick)) {
            Next::Closed => return,
            Next::Idle => {
                if !shared.is_available() && !shared.is_replaced() {
                    let probe = rt.block_on(async {
                        connection(&pool, &shared, &mut conn).await.map(|_| ())
                    });
                    if probe.is_ok() {
                        tracing::info!("database reachable again");
                        shared.set_available(true);
                    }
                }
            }
            Next::Group(group) => {
                group_no += 1;
                let result = if shared.queue.is_poisoned() {
                    // Computed on top of a failed group: the engine reloads before writing again.
                    Err(shared.queue.poison_error())
                } else {
                    commit(&rt, &pool, &shared, &mut conn, &group, writer, group_no)
                };
                if let Err(e) = &result {
                    tracing::error!(error = %e, "store commit failed");
                }
                shared.queue.finish(group, &result);
            }
        }
    }
}

/// The writer's connection, (re)opened when needed; a new one must reach the same database.
async fn connection<'a>(
    pool: &Pool,
    shared: &Shared,
    conn: &'a mut Option<Object>,
) -> Result<&'a mut Object, StoreError> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = None;
        let client = pool.get().await.map_err(pool_error)?;
        check_identity(&client, shared).await?;
        *conn = Some(client);
    }
    Ok(conn.as_mut().expect("just set"))
}

async fn check_identity(client: &Object, shared: &Shared) -> Result<(), StoreError> {
    let now: Identity = schema::identity(client).await?;
    if now != shared.identity {
        shared.set_replaced();
        return Err(StoreError::Config(format!(
            "the database behind --postgres changed while this node ran (identity {} is now \
             {now}): restart the node, so that clients see the new store epoch",
            shared.identity
        )));
    }
    Ok(())
}

/// Commits one group, retrying while the database is unreachable (not once the store closes).
fn commit(
    rt: &Handle,
    pool: &Pool,
    shared: &Shared,
    conn: &mut Option<Object>,
    group: &Group,
    writer: Uuid,
    group_no: i64,
) -> Result<(), StoreError> {
    let net = Net::of(group.iter().flat_map(|(b, _)| &b.writes));
    let batches: Vec<&crate::store::Batch> = group.iter().map(|(b, _)| b).collect();
    let user_bases = shared.users.take_bases(&batches);
    let mut attempt: u32 = 0;
    let started = std::time::Instant::now();
    loop {
        let result = rt.block_on(async {
            let client = connection(pool, shared, conn).await?;
            if attempt > 0 && committed(client, writer, group_no).await? {
                return Ok(());
            }
            let tx = client.transaction().await?;
            net.check(&tx).await?;
            check_users(&tx, &user_bases).await?;
            net.write(&tx).await.map_err(stale_on_conflict)?;
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO writers (writer, last_group) VALUES ($1, $2)
                     ON CONFLICT (writer) DO UPDATE SET last_group = EXCLUDED.last_group,
                         updated = now()",
                )
                .await?;
            tx.execute(&stmt, &[&writer, &group_no]).await?;
            tx.commit().await?;
            Ok(())
        });
        match result {
            Ok(()) => {
                if !shared.is_available() {
                    tracing::info!("database reachable again");
                    shared.set_available(true);
                }
                return Ok(());
            }
            Err(e)
                if is_transient(&e)
                    && !shared.queue.is_closing()
                    && started.elapsed() < GIVE_UP_AFTER =>
            {
                if attempt == 0 {
                    tracing::warn!(error = %e, "database unreachable: new writes get code 30, \
                                   the queued ones are retried for a few seconds");
                }
                shared.set_available(false);
                *conn = None;
                attempt += 1;
                std::thread::sleep((Duration::from_millis(50) * attempt).min(MAX_BACKOFF));
            }
            Err(e @ StoreError::Stale(_)) => {
                tracing::debug!(error = %e, "group computed on a stale cache: run again");
                return Err(e);
            }
            Err(e) => {
                if is_transient(&e) {
                    shared.set_available(false);
                }
                *conn = None;
                return Err(e);
            }
        }
    }
}

/// Whether the group `group_no` of `writer` was committed (its commit reply was lost).
async fn committed(client: &Object, writer: Uuid, group_no: i64) -> Result<bool, StoreError> {
    let row = client
        .query_opt(
            "SELECT last_group FROM writers WHERE writer = $1",
            &[&writer],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get::<_, i64>(0) >= group_no))
}

/// Locks the rows of the users the group writes, in id order, and checks that each one still
/// has the version the engine's write was computed on; otherwise another node changed the
/// record meanwhile: [`StoreError::Stale`].
async fn check_users(
    tx: &deadpool_postgres::Transaction<'_>,
    bases: &std::collections::HashMap<u64, Version>,
) -> Result<(), StoreError> {
    if bases.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = bases.keys().map(|id| *id as i64).collect();
    ids.sort_unstable();
    let stmt = tx
        .prepare_cached("SELECT id, data FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .await?;
    let rows = tx.query(&stmt, &[&ids]).await?;
    let current: std::collections::HashMap<u64, u64> = rows
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u64, version_of(r.get::<_, &str>(1))))
        .collect();
    for (id, base) in bases {
        if current.get(id).copied() != *base {
            return Err(StoreError::Stale(format!(
                "user {id} was changed by another node"
            )));
        }
    }
    Ok(())
}

/// A unique violation (another node took the same direct pair, user name or id first) makes
/// the group stale: the engine reloads and runs it again, and then sees the other node's row.
fn stale_on_conflict(e: StoreError) -> StoreError {
    match &e {
        StoreError::Postgres(pg)
            if pg.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
        {
            StoreError::Stale(format!("{}: {pg}", crate::store::STALE_UNIQUE))
        }
        _ => e,
    }
}

/// Whether an error is an outage worth retrying rather than a bug or a refused write.
pub(super) fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(_) => true,
        StoreError::Postgres(e) => {
            if e.is_closed() {
                return true;
            }
            if let Some(code) = e.code() {
                let code = code.code();
                // Connection exceptions, operator intervention (shutdown, restart, cannot connect
                // now), too many connections, serialization failure, deadlock.
                return code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "40001"
                    || code == "40P01";
            }
            // No SQLSTATE: the connection itself failed (I/O, refused, reset).
            std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
        _ => false,
    }
}

/// The net effect of a group of batches, table by table: the last version of each row,
/// deletions applied in order. Keys are sorted, so rows are written (and, with several nodes,
/// locked) in id order.
#[derive(Default)]
pub(super) struct Net<'a> {
    users: BTreeMap<u64, &'a UserRecord>,
    token_deletes: BTreeSet<&'a str>,
    tokens: BTreeMap<&'a str, &'a TokenRecord>,
    conversations: BTreeMap<Uuid, &'a ConversationRecord>,
    member_deletes: BTreeSet<Uuid>,
    members: BTreeMap<(Uuid, u64), &'a MemberRecord>,
    messages: BTreeMap<(Uuid, Uuid), &'a MessageRecord>,
    events: Vec<&'a EventRecord>,
    prune_before: Option<i64>,
    idempotency: BTreeMap<(u64, &'a str), &'a IdempotencyRecord>,
}

impl<'a> Net<'a> {
    pub(super) fn of(writes: impl IntoIterator<Item = &'a Write>) -> Net<'a> {
        let mut n = Net::default();
        for w in writes {
            n.add(w);
        }
        n
    }

    fn add(&mut self, w: &'a Write) {
        match w {
            Write::User(u) => {
                self.users.insert(u.id.get(), u);
            }
            Write::Token(t) => {
                self.tokens.insert(&t.hash, t);
            }
            Write::DeleteToken(hash) => {
                self.tokens.remove(hash.as_str());
                self.token_deletes.insert(hash);
            }
            Write::Conversation(c) => {
                self.conversations.insert(*c.uuid.as_uuid(), c);
            }
            Write::Member(conv, m) => {
                self.members.insert((*conv.as_uuid(), m.user.get()), m);
            }
            Write::DeleteMembers(conv) => {
                let conv = *conv.as_uuid();
                self.members.retain(|(c, _), _| *c != conv);
                self.member_deletes.insert(conv);
            }
            Write::Message(m) => {
                self.messages
                    .insert((*m.conversation.as_uuid(), *m.uuid.as_uuid()), m);
            }
            Write::Event(e) => self.events.push(e),
            Write::Idempotency(r) => {
                self.idempotency.insert((r.user.get(), &r.key), r);
            }
            Write::PruneIdempotency { before } => {
                self.idempotency.retain(|_, r| r.created >= *before);
                self.prune_before = Some(self.prune_before.unwrap_or(i64::MIN).max(*before));
            }
        }
    }

    /// Locks the rows of every conversation the group writes, in uuid order, and checks that
    /// each one's committed last seq is the base the engine computed against (the seq before
    /// the group's first event of it, or the record's last seq if the group appends none): the
    /// last seq is the conversation's version, since every change of its state comes with a
    /// logged event. Any other base means another node committed first: [`StoreError::Stale`].
    pub(super) async fn check(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), StoreError> {
        if self.conversations.is_empty() {
            return Ok(());
        }
        let mut base: BTreeMap<Uuid, i64> = self
            .conversations
            .iter()
            .map(|(u, c)| (*u, c.last_seq as i64))
            .collect();
        for e in &self.events {
            let b = base.entry(*e.conversation.as_uuid()).or_insert(i64::MAX);
            *b = (*b).min(e.seq as i64 - 1);
        }
        let ids: Vec<Uuid> = base.keys().copied().collect();
        let stmt = tx
            .prepare_cached(
                "SELECT uuid, last_seq FROM conversations WHERE uuid = ANY($1)
                 ORDER BY uuid FOR UPDATE",
            )
            .await?;
        let rows = tx.query(&stmt, &[&ids]).await?;
        let committed: BTreeMap<Uuid, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        for (id, expected) in &base {
            let now = committed.get(id).copied().unwrap_or(0);
            if now != *expected {
                return Err(StoreError::Stale(format!(
                    "conversation {id} is at seq {now}, this node computed on {expected}"
                )));
            }
        }
        Ok(())
    }

    /// Writes everything in `tx`: deletions first (the net effect already dropped every row
    /// they delete), then one multi-row upsert or insert per table.
    pub(super) async fn write(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), StoreError> {
        macro_rules! exec {
            ($sql:expr, $($p:expr),+) => {{
                let stmt = tx.prepare_cached($sql).await?;
                tx.execute(&stmt, &[$(&$p),+]).await?;
            }};
        }
        if !self.users.is_empty() {
            let (mut id, mut admin, mut name, mut data) = (vec![], vec![], vec![], vec![]);
            for u in self.users.values() {
                id.push(u.id.get() as i64);
                admin.push(u.admin_id as i64);
                name.push(u.name.as_str());
                data.push(encode(u));
            }
            exec!(
                "INSERT INTO users (id, admin_id, name, data)
                 SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[])
                 ON CONFLICT (id) DO UPDATE SET admin_id = EXCLUDED.admin_id,
                     name = EXCLUDED.name, data = EXCLUDED.data",
                id,
                admin,
                name,
                data
            );
        }
        if !self.token_deletes.is_empty() {
            let hashes: Vec<&str> = self.token_deletes.iter().copied().collect();
            exec!("DELETE FROM tokens WHERE hash = ANY($1)", hashes);
        }
        if !self.tokens.is_empty() {
            let (mut hash, mut user, mut exp, mut data) = (vec![], vec![], vec![], vec![]);
            for t in self.tokens.values() {
                hash.push(t.hash.as_str());
                user.push(t.user.get() as i64);
                exp.push(t.expires_at);
                data.push(encode(t));
            }
            exec!(
                "INSERT INTO tokens (hash, user_id, expires_at, data)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[])
                 ON CONFLICT (hash) DO UPDATE SET user_id = EXCLUDED.user_id,
                     expires_at = EXCLUDED.expires_at, data = EXCLUDED.data",
                hash,
                user,
                exp,
                data
            );
        }
        self.write_conversations(tx).await?;
        if !self.messages.is_empty() {
            let (mut conv, mut id, mut data) = (vec![], vec![], vec![]);
            for ((c, m), rec) in &self.messages {
                conv.push(*c);
                id.push(*m);
                data.push(encode(rec));
            }
            exec!(
                "INSERT INTO messages (conversation, uuid, data)
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])
                 ON CONFLICT (conversation, uuid) DO UPDATE SET data = EXCLUDED.data",
                conv,
                id,
                data
            );
        }
        if !self.events.is_empty() {
            let n = self.events.len();
            let (mut conv, mut seq, mut event) = (vec![], Vec::with_capacity(n), vec![]);
            let (mut initiator, mut is_message, mut payload) = (vec![], vec![], vec![]);
            for e in &self.events {
                conv.push(*e.conversation.as_uuid());
                seq.push(e.seq as i64);
                event.push(e.event.as_str());
                initiator.push(e.initiator.get() as i64);
                is_message.push(e.is_message);
                payload.push(&*e.payload);
            }
            exec!(
                "INSERT INTO events (conversation, seq, event, initiator, is_message, payload)
                 SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::int8[],
                                      $5::bool[], $6::text[])",
                conv,
                seq,
                event,
                initiator,
                is_message,
                payload
            );
        }
        if let Some(before) = self.prune_before {
            exec!("DELETE FROM idempotency_keys WHERE created < $1", before);
        }
        if !self.idempotency.is_empty() {
            let (mut user, mut key, mut action) = (vec![], vec![], vec![]);
            let (mut conv, mut seq, mut created) = (vec![], vec![], vec![]);
            for r in self.idempotency.values() {
                user.push(r.user.get() as i64);
                key.push(r.key.as_str());
                action.push(r.action.as_str());
                conv.push(*r.conversation.as_uuid());
                seq.push(r.seq as i64);
                created.push(r.created);
            }
            // A key another node stored first makes the group stale: run again, the request
            // finds the key and is answered with the first result.
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO idempotency_keys (user_id, key, action, conversation, seq, created)
                     SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::uuid[],
                                          $5::int8[], $6::int8[])
                     ON CONFLICT (user_id, key) DO NOTHING",
                )
                .await?;
            let n = tx
                .execute(&stmt, &[&user, &key, &action, &conv, &seq, &created])
                .await?;
            if n != user.len() as u64 {
                return Err(StoreError::Stale("an idempotency key was taken".into()));
            }
        }
        Ok(())
    }

    /// Conversations, memberships and direct pairs.
    async fn write_conversations(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> Result<(), StoreError> {
        macro_rules! exec {
            ($sql:expr, $($p:expr),+) => {{
                let stmt = tx.prepare_cached($sql).await?;
                tx.execute(&stmt, &[$(&$p),+]).await?;
            }};
        }
        if !self.conversations.is_empty() {
            let (mut id, mut ordinal, mut last_seq, mut update) = (vec![], vec![], vec![], vec![]);
            let (mut direct, mut deleted, mut data) = (vec![], vec![], vec![]);
            for (u, c) in &self.conversations {
                id.push(*u);
                ordinal.push(c.ordinal as i64);
                last_seq.push(c.last_seq as i64);
                update.push(c.last_update);
                direct.push(c.direct);
                deleted.push(c.deleted);
                data.push(encode(c));
            }
            exec!(
                "INSERT INTO conversations
                     (uuid, ordinal, last_seq, last_update, direct, deleted, data)
                 SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::int8[],
                                      $5::bool[], $6::bool[], $7::text[])
                 ON CONFLICT (uuid) DO UPDATE SET ordinal = EXCLUDED.ordinal,
                     last_seq = EXCLUDED.last_seq, last_update = EXCLUDED.last_update,
                     direct = EXCLUDED.direct, deleted = EXCLUDED.deleted, data = EXCLUDED.data",
                id,
                ordinal,
                last_seq,
                update,
                direct,
                deleted,
                data
            );
            let gone: Vec<Uuid> = self
                .conversations
                .iter()
                .filter(|(_, c)| c.direct && c.deleted)
                .map(|(u, _)| *u)
                .collect();
            if !gone.is_empty() {
                exec!(
                    "DELETE FROM direct_pairs WHERE conversation = ANY($1)",
                    gone
                );
            }
        }
        if !self.member_deletes.is_empty() {
            let convs: Vec<Uuid> = self.member_deletes.iter().copied().collect();
            exec!("DELETE FROM members WHERE conversation = ANY($1)", convs);
        }
        if !self.members.is_empty() {
            let (mut conv, mut user, mut part) = (vec![], vec![], vec![]);
            let (mut read, mut data) = (vec![], vec![]);
            for ((c, u), m) in &self.members {
                conv.push(*c);
                user.push(*u as i64);
                part.push(m.is_participant());
                read.push(m.last_read as i64);
                data.push(encode(m));
            }
            exec!(
                "INSERT INTO members (conversation, user_id, participant, last_read, data)
                 SELECT * FROM unnest($1::uuid[], $2::int8[], $3::bool[], $4::int8[], $5::text[])
                 ON CONFLICT (conversation, user_id) DO UPDATE SET
                     participant = EXCLUDED.participant, last_read = EXCLUDED.last_read,
                     data = EXCLUDED.data",
                conv,
                user,
                part,
                read,
                data
            );
            // A direct conversation written with its members (its creation) claims its pair;
            // a second conversation for the same pair violates the primary key.
            let created: Vec<Uuid> = self
                .conversations
                .iter()
                .filter(|(u, c)| {
                    c.direct
                        && !c.deleted
                        && self.members.range((**u, 0)..=(**u, u64::MAX)).count() > 0
                })
                .map(|(u, _)| *u)
                .collect();
            if !created.is_empty() {
                exec!(CLAIM_DIRECT_PAIRS, created);
            }
        }
        Ok(())
    }
}

/// Records the pair of each direct conversation in `$1` that has its two participants.
pub(super) const CLAIM_DIRECT_PAIRS: &str = "
    INSERT INTO direct_pairs (user_low, user_high, conversation)
    SELECT min(m.user_id), max(m.user_id), m.conversation FROM members m
    JOIN conversations c ON c.uuid = m.conversation AND c.direct AND NOT c.deleted
    WHERE m.conversation = ANY($1) AND m.participant
    GROUP BY m.conversation HAVING count(*) = 2
    ON CONFLICT (conversation) DO NOTHING";

pub(super) fn encode<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records always serialize")
}
