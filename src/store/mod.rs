//! Durable client state: what a [`Messenger`](crate::Messenger) remembers across reconnects and
//! application restarts.
//!
//! A store keeps, for one user of one server:
//! * the server's store epoch (a changed epoch means the server's history was replaced, and the
//!   SDK starts over with [`Event::HistoryReset`](crate::Event::HistoryReset));
//! * the user the state belongs to (a store is never shared by two users);
//! * the **position** of every conversation: the highest seq the application has acknowledged;
//! * the conversations the user left (their events are delivered up to the leave event);
//! * the **outbox**: mutations accepted but not yet answered, each with its idempotency key;
//! * a key-value area for higher layers (the local inbox model keeps its snapshot there).
//!
//! The SDK reads everything once with [`Store::load`] and writes changes in batches with
//! [`Store::commit`] (positions at least every 100 ms and on close; outbox entries before their
//! first send). Implement [`Store`] to keep this state in the application's own database; the SDK
//! ships [`MemoryStore`] (lost when the process ends: reconnects only) and, with the `sqlite`
//! feature, [`SqliteStore`].
//!
//! # Examples
//! A store on the application's own database: one row per key, written in one transaction.
//! ```
//! use chatwire::store::{Changes, Snapshot, Store, StoreError};
//! use std::sync::Mutex;
//!
//! #[derive(Default)]
//! struct MyDb {
//!     // Stands in for the application's database.
//!     state: Mutex<Snapshot>,
//! }
//!
//! #[async_trait::async_trait]
//! impl Store for MyDb {
//!     async fn load(&self) -> Result<Snapshot, StoreError> {
//!         Ok(self.state.lock().unwrap().clone())
//!     }
//!     async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
//!         // In a real database: BEGIN; apply each change; COMMIT.
//!         changes.apply_to(&mut self.state.lock().unwrap());
//!         Ok(())
//!     }
//! }
//! ```

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::{BTreeMap, HashMap, HashSet};

use chatwire_protocol::{ConversationId, UserId};
use serde::{Deserialize, Serialize};

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// Why a [`Store`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store holds the state of another user (one store per user).
    #[error("this store belongs to user {stored}, not to {current}; use one store per user")]
    WrongUser {
        /// The user the store was created for.
        stored: UserId,
        /// The user who logged in.
        current: UserId,
    },
    /// A stored value could not be read back.
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    /// The store's backend failed (database, file system).
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error (for [`Store`] implementations).
    ///
    /// # Examples
    /// ```
    /// use chatwire::store::StoreError;
    /// let e = StoreError::backend(std::io::Error::other("disk full"));
    /// assert!(e.to_string().contains("disk full"));
    /// ```
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// A mutation accepted into the outbox: sent (again) until the server answers it.
///
/// The SDK creates entries; a [`Store`] keeps them as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxEntry {
    /// Order of acceptance (increasing).
    pub id: u64,
    /// The idempotency key sent with every attempt.
    pub key: String,
    /// The request's action (`sendMessage`, ...).
    pub action: String,
    /// The conversation it changes, if known before the answer (not for `createConversation`).
    pub conversation: Option<ConversationId>,
    /// The request payload, as sent.
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// When the entry was accepted, UNIX seconds.
    pub accepted_at: i64,
    /// When it was first sent, UNIX seconds (`None`: never sent yet).
    pub first_sent_at: Option<i64>,
}

impl OutboxEntry {
    /// A new entry (for tests and custom stores; the SDK builds its own).
    ///
    /// # Examples
    /// ```
    /// use chatwire::store::OutboxEntry;
    /// let e = OutboxEntry::new(1, "k1", "sendMessage", None, Default::default(), 1_767_225_600);
    /// assert_eq!(e.first_sent_at, None);
    /// ```
    pub fn new(
        id: u64,
        key: impl Into<String>,
        action: impl Into<String>,
        conversation: Option<ConversationId>,
        payload: serde_json::Map<String, serde_json::Value>,
        accepted_at: i64,
    ) -> Self {
        OutboxEntry {
            id,
            key: key.into(),
            action: action.into(),
            conversation,
            payload,
            accepted_at,
            first_sent_at: None,
        }
    }
}

/// Everything a store holds, as [`Store::load`] returns it.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The server's store epoch at the last login.
    pub epoch: Option<String>,
    /// The user the state belongs to.
    pub user: Option<UserId>,
    /// Acknowledged position (highest seq) per conversation.
    pub positions: HashMap<ConversationId, u64>,
    /// Conversations the user left (positions kept until they are caught up).
    pub left: HashSet<ConversationId>,
    /// Accepted mutations not yet answered, by id.
    pub outbox: BTreeMap<u64, OutboxEntry>,
    /// The key-value area.
    pub kv: HashMap<String, Vec<u8>>,
}

/// A batch of changes, applied atomically by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Changes {
    /// Forget everything first (a new epoch or a new user).
    pub reset: bool,
    /// New epoch.
    pub epoch: Option<String>,
    /// The user (set once, at the first login).
    pub user: Option<UserId>,
    /// Positions to set (after the forgets: a conversation forgotten and tracked again in one
    /// batch keeps its new position).
    pub positions: Vec<(ConversationId, u64)>,
    /// Conversations to forget entirely (removed, deleted, or left and caught up).
    pub forget: Vec<ConversationId>,
    /// Conversations the user left.
    pub left: Vec<ConversationId>,
    /// Conversations the user is in again.
    pub rejoined: Vec<ConversationId>,
    /// Outbox entries to insert or replace.
    pub outbox_put: Vec<OutboxEntry>,
    /// Outbox entries to delete, by id.
    pub outbox_remove: Vec<u64>,
    /// Key-value writes (`None` deletes).
    pub kv: Vec<(String, Option<Vec<u8>>)>,
}

impl Changes {
    /// Whether there is nothing to write.
    ///
    /// # Examples
    /// ```
    /// assert!(chatwire::store::Changes::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// Applies the changes to a snapshot, in the order a store must apply them: reset, epoch and
    /// user, forgets, positions, left/rejoined, outbox, key-value area.
    ///
    /// # Examples
    /// ```
    /// use chatwire::store::{Changes, Snapshot};
    /// let c = chatwire::ConversationId::parse("6f1c2a9e-0b5d-4c3a-9e7f-1a2b3c4d5e6f").unwrap();
    /// let mut snapshot = Snapshot::default();
    /// let mut changes = Changes::default();
    /// changes.positions.push((c, 4));
    /// changes.apply_to(&mut snapshot);
    /// assert_eq!(snapshot.positions[&c], 4);
    /// ```
    pub fn apply_to(self, s: &mut Snapshot) {
        if self.reset {
            *s = Snapshot::default();
        }
        if self.epoch.is_some() {
            s.epoch = self.epoch;
        }
        if self.user.is_some() {
            s.user = self.user;
        }
        for c in self.forget {
            s.positions.remove(&c);
            s.left.remove(&c);
        }
        for (c, seq) in self.positions {
            s.positions.insert(c, seq);
        }
        for c in self.left {
            s.left.insert(c);
        }
        for c in self.rejoined {
            s.left.remove(&c);
        }
        for e in self.outbox_put {
            s.outbox.insert(e.id, e);
        }
        for id in self.outbox_remove {
            s.outbox.remove(&id);
        }
        for (k, v) in self.kv {
            match v {
                Some(v) => s.kv.insert(k, v),
                None => s.kv.remove(&k),
            };
        }
    }
}

/// Durable client state (see the [module docs](self)).
///
/// Methods are called from the messenger's background task, one at a time, never concurrently
/// for one messenger. Methods added in later versions come with default implementations.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Everything stored (called once, when the messenger starts).
    async fn load(&self) -> Result<Snapshot, StoreError>;

    /// Applies `changes` atomically (all or nothing), in the order of [`Changes::apply_to`].
    async fn commit(&self, changes: Changes) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        (**self).load().await
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        (**self).commit(changes).await
    }
}
