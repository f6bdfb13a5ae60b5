//! Running a real server inside tests and examples.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chatwire_protocol::{ConversationId, MessageId, UserId};

use crate::config::{Config, PasswordCost, Storage};
use crate::server::{RunningServer, ServerError};
use crate::store::{
    Batch, Completion, EventRecord, IdempotencyRecord, MemoryStore, MessageRecord, Snapshot, Store,
    StoreError,
};

/// Starts a real server on `127.0.0.1` with an ephemeral port, in-memory storage, a random
/// api key and fast password hashing (never use that outside tests).
///
/// ```no_run
/// # async fn demo() {
/// let server = chatwire_server::testing::start().await.unwrap();
/// let alice = server.add_user("alice", "Alice", "password1").await.unwrap();
/// println!("{} is user {} at {}", alice.user_name, alice.im_id, server.ws_url());
/// # }
/// ```
pub async fn start() -> Result<RunningServer, ServerError> {
    RunningServer::start(config(Storage::Memory)).await
}

/// The configuration [`start`] uses, with the given storage (e.g. a temporary data dir).
pub fn config(storage: Storage) -> Config {
    let mut config = Config::new("127.0.0.1:0".parse().expect("valid address")).storage(storage);
    config.api_key = Some(format!("test-{}", uuid::Uuid::new_v4().simple()));
    config.password_cost = PasswordCost::Fast;
    config
}

/// Starts a server like [`start`] (with `config`) on an in-memory store that a test can make
/// unavailable with the returned [`StoreFault`]: its health check, reads and commits then fail,
/// as a store whose disk or database went away would.
///
/// ```no_run
/// # async fn demo() {
/// use chatwire_server::{testing, Storage};
/// let (server, fault) = testing::start_with_fault(testing::config(Storage::Memory)).await.unwrap();
/// fault.set_unavailable(true); // `/readyz` now answers 503
/// # drop(server);
/// # }
/// ```
pub async fn start_with_fault(config: Config) -> Result<(RunningServer, StoreFault), ServerError> {
    let fault = StoreFault(Arc::new(AtomicBool::new(false)));
    let store = FaultyStore {
        inner: MemoryStore::new(),
        down: fault.0.clone(),
    };
    let server = RunningServer::start_with_store(config, Arc::new(store)).await?;
    Ok((server, fault))
}

/// Switches the store of a [`start_with_fault`] server between working and unavailable.
#[derive(Clone, Debug)]
pub struct StoreFault(Arc<AtomicBool>);

impl StoreFault {
    /// Makes the store fail (`true`) or work again (`false`).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.0.store(unavailable, Ordering::SeqCst);
    }
}

/// A memory store that fails while its fault flag is set.
struct FaultyStore {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
}

impl FaultyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

impl Store for FaultyStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.check()?;
        self.inner.load()
    }

    fn message(
        &self,
        conversation: ConversationId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        self.check()?;
        self.inner.message(conversation, id)
    }

    fn events(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.check()?;
        self.inner.events(conversation, from, to)
    }

    fn idempotency(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.check()?;
        self.inner.idempotency(user, key)
    }

    fn commit(&self, batch: Batch, done: Completion) {
        match self.check() {
            Ok(()) => self.inner.commit(batch, done),
            Err(e) => done(Err(e)),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn health(&self) -> Result<(), StoreError> {
        self.check()
    }
}
