//! [`MemoryStore`]: client state in memory.

use std::sync::Mutex;

use super::{Changes, Snapshot, Store, StoreError};

/// Client state kept in memory: it survives reconnects of one messenger (and can be shared by
/// messengers started one after another in one process), not a restart of the process.
///
/// # Examples
/// ```
/// # async fn demo() -> Result<(), chatwire::store::StoreError> {
/// use chatwire::store::{Changes, MemoryStore, Store};
/// let store = MemoryStore::new();
/// let mut changes = Changes::default();
/// changes.kv.push(("inbox".into(), Some(b"{}".to_vec())));
/// store.commit(changes).await?;
/// assert_eq!(store.load().await?.kv["inbox"], b"{}");
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<Snapshot>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        changes.apply_to(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(())
    }
}
