//! Builder options for durable client state: the store and how events are acknowledged.

use std::fmt;
use std::sync::Arc;

use super::MessengerBuilder;
use crate::store::Store;
use crate::AckMode;

/// The configured store (the trait object has no `Debug` of its own).
#[derive(Clone)]
pub(crate) struct StoreHandle(pub Arc<dyn Store>);

impl fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Store")
    }
}

impl MessengerBuilder {
    /// Keeps the messenger's state in `store` (default: none, nothing survives the process).
    ///
    /// With a store:
    /// * the first login of a new process works like a reconnect: what was sent while the
    ///   application was not running is delivered (marked
    ///   [`replayed`](crate::EventMeta::replayed)), conversations joined meanwhile from the event
    ///   that added the user, removals and deletions as events, and
    ///   [`Event::HistoryReset`](crate::Event::HistoryReset) if the server's history was
    ///   replaced. When it resumes from stored positions, `connect()` returns once logged in and
    ///   the catch-up arrives on the stream (it can be more than the event buffer holds);
    /// * [`Messenger::events`](crate::Messenger::events) never yields
    ///   [`Event::Lagged`](crate::Event::Lagged): when the event buffer is full the messenger
    ///   stops reading the socket until the application catches up. So an application with a
    ///   store must keep reading its event stream (the results of its own calls arrive there
    ///   too); one that never reads it stops once the buffer is full;
    /// * delivered events are acknowledged (see [`AckMode`]) and the acknowledged positions are
    ///   written at least every 100 ms and when the messenger closes; after a crash exactly the
    ///   unacknowledged events come again.
    ///
    /// One store belongs to one user on one server; each application or device of a user keeps
    /// its own. See [`crate::store`] for the stores the SDK ships and how to write one.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// use chatwire::store::MemoryStore;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("bot@chatwire.local", "secret-password")
    ///     .store(MemoryStore::new())
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(StoreHandle(Arc::new(store)));
        self
    }

    /// How delivered events are acknowledged when a [store](MessengerBuilder::store) is set
    /// (default [`AckMode::Auto`]: when the application asks for the next event).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::{AckMode, Messenger};
    /// use chatwire::store::MemoryStore;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("bot@chatwire.local", "secret-password")
    ///     .store(MemoryStore::new())
    ///     .ack_mode(AckMode::Manual)
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn ack_mode(mut self, mode: AckMode) -> Self {
        self.ack_mode = mode;
        self
    }
}
