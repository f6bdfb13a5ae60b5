//! The PostgreSQL store (`--postgres URL`, feature `postgres`): tokio-postgres connections in a
//! deadpool pool, driven by a small runtime of the store's own (the engine is a plain thread and
//! calls the store synchronously).
//!
//! Writes go through the same group-commit queue as SQLite: one writer thread commits
//! everything queued in one transaction with one multi-row statement per table (`writer.rs`).
//! Reads are point and range queries on the pool. When the database cannot be reached the store
//! reports itself unavailable: the engine answers new mutations with code 30, reads fail with
//! code 30, queued batches are retried until the database is back, and then the node carries on
//! without a restart. The store epoch is bound to the database's identity (`schema.rs`).

mod copy;
mod schema;
mod versions;
mod writer;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use chatwire_protocol::{ConversationId, MessageId, UserId};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::NoTls;

pub use copy::{copy_sqlite_to_postgres, CopyReport};
use schema::Identity;

use super::api::{Batch, Completion, IdKind, Snapshot, Store, StoreError};
use super::queue::CommitQueue;
use super::records::{
    ConversationRecord, EventRecord, IdempotencyRecord, MemberRecord, MessageRecord, TokenRecord,
    UserRecord,
};

/// How long a read may take before it is answered with code 30.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Pool size: the writer's connection plus the engine's reads (one at a time) and spare.
const POOL_SIZE: usize = 4;

/// A PostgreSQL connection URL (`postgres://user:password@host:port/dbname`, or the
/// `key=value` form). Its `Debug` hides the password.
///
/// ```
/// use chatwire_server::store::PostgresUrl;
/// let url = PostgresUrl::new("postgres://chatwire:s3cret@db:5432/chatwire");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// Wraps a URL (checked when the store connects).
    pub fn new(url: impl Into<String>) -> Self {
        PostgresUrl(url.into())
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn config(&self) -> Result<tokio_postgres::Config, StoreError> {
        tokio_postgres::Config::from_str(&self.0).map_err(|e| {
            StoreError::Config(format!(
                "invalid PostgreSQL URL ({e}): expected postgres://user:password@host:port/dbname"
            ))
        })
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match (self.0.find("://"), self.0.rfind('@')) {
            (Some(s), Some(at)) if at > s => match self.0[s + 3..at].find(':') {
                Some(colon) => format!("{}***{}", &self.0[..s + 4 + colon], &self.0[at..]),
                None => self.0.clone(),
            },
            _ if self.0.contains("password") => "<connection string>".to_string(),
            _ => self.0.clone(),
        };
        f.debug_tuple("PostgresUrl").field(&shown).finish()
    }
}

/// State shared by the store and its writer thread.
struct Shared {
    queue: CommitQueue,
    /// Cleared while the database cannot be reached.
    available: AtomicBool,
    /// Set when the database turned into another one under the running node (fatal).
    replaced: AtomicBool,
    /// The identity the node started on.
    identity: Identity,
    /// The version of each user record the engine's cache holds.
    users: versions::UserVersions,
}

impl Shared {
    fn is_available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    fn set_available(&self, up: bool) {
        self.available.store(up, Ordering::SeqCst);
    }

    fn is_replaced(&self) -> bool {
        self.replaced.load(Ordering::SeqCst)
    }

    fn set_replaced(&self) {
        self.replaced.store(true, Ordering::SeqCst);
        self.set_available(false);
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => StoreError::Postgres(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// The PostgreSQL store.
///
/// ```no_run
/// use chatwire_server::store::{PostgresStore, PostgresUrl, Store};
/// let store = PostgresStore::connect(&PostgresUrl::new("postgres://chatwire@127.0.0.1/chatwire"))?;
/// let snapshot = store.load()?;
/// println!("{} users, epoch {}", snapshot.users.len(), snapshot.epoch);
/// # Ok::<(), chatwire_server::store::StoreError>(())
/// ```
pub struct PostgresStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    shared: Arc<Shared>,
    writer: Option<thread::JoinHandle<()>>,
    epoch: String,
}

impl PostgresStore {
    /// Connects, migrates the schema to the current version and starts the writer. Blocking:
    /// call it outside async code (e.g. in `spawn_blocking`).
    pub fn connect(url: &PostgresUrl) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("chatwire-pg")
            .enable_all()
            .build()?;
        let pool = pool(url, &rt)?;
        let (identity, epoch) = rt.block_on(async {
            let mut client = pool.get().await.map_err(pool_error)?;
            schema::migrate(&mut client).await?;
            let identity = schema::identity(&client).await?;
            let epoch = schema::epoch(&mut client, &identity).await?;
            Ok::<_, StoreError>((identity, epoch))
        })?;
        tracing::info!(%identity, "PostgreSQL store opened");
        let shared = Arc::new(Shared {
            queue: CommitQueue::new(),
            available: AtomicBool::new(true),
            replaced: AtomicBool::new(false),
            identity,
            users: versions::UserVersions::default(),
        });
        let (handle, writer_pool, writer_shared) =
            (rt.handle().clone(), pool.clone(), shared.clone());
        let writer = thread::Builder::new()
            .name("chatwire-store".into())
            .spawn(move || writer::run(handle, writer_pool, writer_shared))?;
        Ok(PostgresStore {
            rt: Some(rt),
            pool,
            shared,
            writer: Some(writer),
            epoch,
        })
    }

    /// The store epoch (see [`Snapshot::epoch`]).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// A `(id, data)` row of `users`, decoded; the store remembers the version the engine
    /// now holds (the writer checks it under the row lock).
    fn user_row(&self, r: &tokio_postgres::Row) -> Result<UserRecord, StoreError> {
        let text: &str = r.get(1);
        self.shared.users.learn(r.get::<_, i64>(0) as u64, text);
        decode(text)
    }

    /// Runs a read on the store's runtime, with a timeout; an outage marks the store
    /// unavailable until the writer sees the database again.
    fn read<T>(&self, fut: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        if self.shared.is_replaced() {
            return Err(StoreError::Unavailable(
                "the database changed under this node: restart it".into(),
            ));
        }
        if !self.shared.is_available() {
            return Err(StoreError::Unavailable("PostgreSQL is unreachable".into()));
        }
        let rt = self.rt.as_ref().ok_or(StoreError::Closed)?;
        let result = rt.block_on(async {
            tokio::time::timeout(READ_TIMEOUT, fut)
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("read timed out".into())))
        });
        if let Err(e) = &result {
            if writer::is_transient(e) {
                self.shared.set_available(false);
            }
        }
        result
    }
}

fn pool(url: &PostgresUrl, rt: &tokio::runtime::Runtime) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        url.config()?,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let _guard = rt.enter();
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(READ_TIMEOUT))
        .create_timeout(Some(READ_TIMEOUT))
        .recycle_timeout(Some(READ_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store for PostgresStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let mut snap = Snapshot {
                epoch: self.epoch.clone(),
                ..Snapshot::default()
            };
            self.shared.users.reset();
            for row in client
                .query("SELECT id, data FROM users ORDER BY id", &[])
                .await?
            {
                snap.users.push(self.user_row(&row)?);
            }
            for row in client.query("SELECT data FROM tokens", &[]).await? {
                snap.tokens.push(decode(row.get(0))?);
            }
            let sql = "SELECT last_seq, data FROM conversations";
            for row in client.query(sql, &[]).await? {
                let mut rec: super::ConversationRecord = decode(row.get(1))?;
                rec.last_seq = row.get::<_, i64>(0) as u64;
                snap.conversations.push(rec);
            }
            for row in client
                .query("SELECT conversation, data FROM members", &[])
                .await?
            {
                let conv: uuid::Uuid = row.get(0);
                snap.members.push((conv.into(), decode(row.get(1))?));
            }
            Ok(snap)
        })
    }

    fn message(
        &self,
        conversation: ConversationId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        if let Some(m) = self.shared.queue.message(conversation, id)? {
            return Ok(Some(m));
        }
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT data FROM messages WHERE conversation = $1 AND uuid = $2")
                .await?;
            let row = client
                .query_opt(&stmt, &[conversation.as_uuid(), id.as_uuid()])
                .await?;
            row.map(|r| decode(r.get(0))).transpose()
        })
    }

    fn events(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut out = self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    "SELECT seq, event, initiator, is_message, payload FROM events
                     WHERE conversation = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                )
                .await?;
            let (from, to) = (
                from.min(i64::MAX as u64) as i64,
                to.min(i64::MAX as u64) as i64,
            );
            let rows = client
                .query(&stmt, &[conversation.as_uuid(), &from, &to])
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(EventRecord {
                        conversation,
                        seq: r.get::<_, i64>(0) as u64,
                        event: r.get(1),
                        initiator: UserId::new(r.get::<_, i64>(2) as u64)
                            .ok_or_else(|| StoreError::Corrupt("initiator".into()))?,
                        is_message: r.get(3),
                        payload: r.get::<_, &str>(4).into(),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        self.shared
            .queue
            .extend_events(&mut out, conversation, from, to)?;
        Ok(out)
    }

    fn idempotency(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        if let Some(r) = self.shared.queue.idempotency(user, key)? {
            return Ok(Some(r));
        }
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    "SELECT action, conversation, seq, created FROM idempotency_keys
                     WHERE user_id = $1 AND key = $2",
                )
                .await?;
            let row = client
                .query_opt(&stmt, &[&(user.get() as i64), &key])
                .await?;
            Ok(row.map(|r| IdempotencyRecord {
                user,
                key: key.to_string(),
                action: r.get(0),
                conversation: r.get::<_, uuid::Uuid>(1).into(),
                seq: r.get::<_, i64>(2) as u64,
                created: r.get(3),
            }))
        })
    }

    fn commit(&self, batch: Batch, done: Completion) {
        self.shared.users.queued(&batch);
        self.shared.queue.submit(batch, done);
    }

    fn shared(&self) -> bool {
        true
    }

    fn conversation(
        &self,
        id: ConversationId,
    ) -> Result<Option<(ConversationRecord, Vec<MemberRecord>)>, StoreError> {
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            // One snapshot for the row and its members.
            let stmt = client
                .prepare_cached(
                    "SELECT c.last_seq, c.data, (SELECT array_agg(m.data) FROM members m
                         WHERE m.conversation = c.uuid)
                     FROM conversations c WHERE c.uuid = $1",
                )
                .await?;
            let Some(row) = client.query_opt(&stmt, &[id.as_uuid()]).await? else {
                return Ok(None);
            };
            let mut rec: ConversationRecord = decode(row.get(1))?;
            rec.last_seq = row.get::<_, i64>(0) as u64;
            let members = row
                .get::<_, Option<Vec<String>>>(2)
                .unwrap_or_default()
                .iter()
                .map(|m| decode(m))
                .collect::<Result<Vec<MemberRecord>, _>>()?;
            Ok(Some((rec, members)))
        })
    }

    fn users(&self, ids: &[UserId]) -> Result<Vec<UserRecord>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|u| u.get() as i64).collect();
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT id, data FROM users WHERE id = ANY($1)")
                .await?;
            client
                .query(&stmt, &[&ids])
                .await?
                .iter()
                .map(|r| self.user_row(r))
                .collect()
        })
    }

    fn user_named(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT id, data FROM users WHERE name = $1")
                .await?;
            let row = client.query_opt(&stmt, &[&name]).await?;
            row.map(|r| self.user_row(&r)).transpose()
        })
    }

    fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT data FROM tokens WHERE hash = $1")
                .await?;
            let row = client.query_opt(&stmt, &[&hash]).await?;
            row.map(|r| decode(r.get(0))).transpose()
        })
    }

    fn positions(&self, ids: &[ConversationId]) -> Result<Vec<(ConversationId, u64)>, StoreError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|c| *c.as_uuid()).collect();
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT uuid, last_seq FROM conversations WHERE uuid = ANY($1)")
                .await?;
            Ok(client
                .query(&stmt, &[&ids])
                .await?
                .iter()
                .map(|r| {
                    let id: uuid::Uuid = r.get(0);
                    (id.into(), r.get::<_, i64>(1) as u64)
                })
                .collect())
        })
    }

    fn member_positions(&self, users: &[UserId]) -> Result<Vec<(ConversationId, u64)>, StoreError> {
        let users: Vec<i64> = users.iter().map(|u| u.get() as i64).collect();
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    "SELECT DISTINCT c.uuid, c.last_seq FROM members m
                     JOIN conversations c ON c.uuid = m.conversation
                     WHERE m.user_id = ANY($1) AND m.participant",
                )
                .await?;
            Ok(client
                .query(&stmt, &[&users])
                .await?
                .iter()
                .map(|r| {
                    let id: uuid::Uuid = r.get(0);
                    (id.into(), r.get::<_, i64>(1) as u64)
                })
                .collect())
        })
    }

    fn allocate(&self, kind: IdKind) -> Result<Option<u64>, StoreError> {
        let sequence = match kind {
            IdKind::User => "chatwire_user_ids",
            IdKind::Admin => "chatwire_admin_ids",
            IdKind::Ordinal => "chatwire_ordinals",
        };
        self.read(async {
            let client = self.pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("SELECT nextval($1::text::regclass)")
                .await?;
            let row = client.query_one(&stmt, &[&sequence]).await?;
            Ok(Some(row.get::<_, i64>(0) as u64))
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.shared.queue.flush()
    }

    fn available(&self) -> bool {
        self.shared.is_available()
    }

    fn health(&self) -> Result<(), StoreError> {
        if self.shared.is_available() {
            Ok(())
        } else {
            Err(StoreError::Unavailable("PostgreSQL is unreachable".into()))
        }
    }

    fn resume(&self) -> Result<(), StoreError> {
        if !self.shared.is_available() {
            return Err(StoreError::Unavailable("PostgreSQL is unreachable".into()));
        }
        self.shared.queue.flush()?;
        self.shared.queue.clear_poison();
        Ok(())
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.shared.queue.close();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        // Dropping a runtime blocks; this one may be dropped from async code.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
