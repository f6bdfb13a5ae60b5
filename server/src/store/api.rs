//! The contract every store implements: [`Store`], the [`Batch`] of [`Write`]s it commits, the
//! [`Snapshot`] it loads and its [`StoreError`].

use chatwire_protocol::{ConversationId, MessageId, UserId};

use super::records::{
    ConversationRecord, EventRecord, IdempotencyRecord, MemberRecord, MessageRecord, TokenRecord,
    UserRecord,
};

/// Why the store failed; the server answers requests with code 30 (unavailable) or 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The SQLite database failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// PostgreSQL failed (with the `postgres` feature).
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be reached right now (requests get code 30 and may be retried).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The store cannot be used as configured (a clear message says what to change).
    #[error("{0}")]
    Config(String),
    /// Another node committed a change this batch was computed against (several nodes on one
    /// database): nothing of the batch was written. The engine refreshes its state and runs
    /// the requests again; embedded stores never return it.
    #[error("stale: {0}")]
    Stale(String),
    /// The store was closed or its writer stopped.
    #[error("store closed")]
    Closed,
    /// I/O failure (opening the data directory).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// How a stale failure caused by a unique constraint starts (see
/// [`StoreError::stale_everywhere`]).
pub(crate) const STALE_UNIQUE: &str = "unique constraint";

impl StoreError {
    /// Whether a stale failure may come from rows the batch did not write (another node's
    /// direct pair, user name): the engine then reloads its whole state, not only what the
    /// failed batches wrote.
    pub fn stale_everywhere(&self) -> bool {
        matches!(self, StoreError::Stale(why) if why.starts_with(STALE_UNIQUE))
    }
}

/// Called once a batch is durable (or failed), in commit order.
pub type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A group of writes that become durable together.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// The writes, applied in order.
    pub writes: Vec<Write>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// One durable change.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Write {
    /// Insert or replace a user.
    User(Box<UserRecord>),
    /// Insert or replace a token (by hash).
    Token(TokenRecord),
    /// Delete a token by hash.
    DeleteToken(String),
    /// Insert or replace a conversation's current state (metadata).
    Conversation(Box<ConversationRecord>),
    /// Insert or replace a membership (current or former participant).
    Member(ConversationId, MemberRecord),
    /// Delete every membership of a (deleted) conversation.
    DeleteMembers(ConversationId),
    /// Insert or replace a message's current state.
    Message(Box<MessageRecord>),
    /// Append a log entry.
    Event(EventRecord),
    /// Store an idempotency key (in the same batch as the event it names).
    Idempotency(IdempotencyRecord),
    /// Forget idempotency keys stored before this UNIX time.
    PruneIdempotency {
        /// Keys with `created` < this are deleted.
        before: i64,
    },
}

/// Everything loaded at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every user, deleted ones included.
    pub users: Vec<UserRecord>,
    /// Every stored token.
    pub tokens: Vec<TokenRecord>,
    /// Every conversation, deleted ones (tombstones) included.
    pub conversations: Vec<ConversationRecord>,
    /// Memberships of existing conversations.
    pub members: Vec<(ConversationId, MemberRecord)>,
    /// The store's identity, generated when it was created (a wiped or replaced data dir gets a
    /// new one, so clients detect that seqs restarted).
    pub epoch: String,
}

/// An id that nodes sharing one database must not both take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A user's IM id.
    User,
    /// A user's admin id.
    Admin,
    /// A conversation's creation ordinal.
    Ordinal,
}

/// Durable storage used by the engine.
pub trait Store: Send + Sync + 'static {
    /// Loads the current state (not the event log) at start-up.
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// A message's current state, including committed-but-not-yet-durable writes.
    fn message(
        &self,
        conversation: ConversationId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError>;

    /// Log entries of a conversation with `from <= seq <= to`, ascending, including
    /// committed-but-not-yet-durable ones.
    fn events(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// The idempotency key `key` of `user`, including committed-but-not-yet-durable writes.
    fn idempotency(&self, user: UserId, key: &str)
        -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Queues a batch; `done` runs once it is durable, after the completions of every batch
    /// committed before it.
    fn commit(&self, batch: Batch, done: Completion);

    /// Blocks until everything committed so far is durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// Whether the store can take new writes now. While it cannot (a database server is
    /// unreachable), the engine refuses mutations with code 30 instead of queuing them; batches
    /// already queued are kept and committed once it is back. Embedded stores are always
    /// available.
    fn available(&self) -> bool {
        true
    }

    /// After a failed commit (every batch queued behind it failed too): waits until nothing is
    /// queued and lets writes through again, so that the engine can reload its state with
    /// [`Store::load`] and carry on without a restart. Stores that cannot recover (the
    /// default) return an error and the engine keeps refusing mutations until it is restarted.
    fn resume(&self) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }

    /// Whether other processes write to the same data (several nodes on one database): then
    /// commits may fail with [`StoreError::Stale`], the engine keeps each request until its
    /// batch committed, and refreshes its cache with the reads below. Default: false.
    fn shared(&self) -> bool {
        false
    }

    /// A conversation's current row and every membership, as committed by any writer.
    fn conversation(
        &self,
        _id: ConversationId,
    ) -> Result<Option<(ConversationRecord, Vec<MemberRecord>)>, StoreError> {
        Ok(None)
    }

    /// These users' current records, as committed by any writer.
    fn users(&self, _ids: &[UserId]) -> Result<Vec<UserRecord>, StoreError> {
        Ok(Vec::new())
    }

    /// A user by short name, as committed by any writer.
    fn user_named(&self, _name: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(None)
    }

    /// A token by hash, as committed by any writer.
    fn token(&self, _hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(None)
    }

    /// The committed last seq of each of these conversations (those the database knows).
    fn positions(&self, _ids: &[ConversationId]) -> Result<Vec<(ConversationId, u64)>, StoreError> {
        Ok(Vec::new())
    }

    /// The committed last seq of every conversation in which one of these users is a
    /// participant (as committed by any writer).
    fn member_positions(
        &self,
        _users: &[UserId],
    ) -> Result<Vec<(ConversationId, u64)>, StoreError> {
        Ok(Vec::new())
    }

    /// Takes a new id of this kind from the database, or `None` when the caller's own
    /// counter is the authority (a single writer).
    fn allocate(&self, _kind: IdKind) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Whether the store can serve now (the server's `/readyz`); a networked store checks its
    /// connection here. The default: always healthy.
    fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
