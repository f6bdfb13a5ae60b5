//! Durable storage behind a small trait.
//!
//! The engine (one thread) is the only caller. It keeps the current state of users and
//! conversations in memory, loaded once at start-up from [`Store::load`] (current-state tables
//! only: the event log and messages are never scanned), and sends every change as a [`Batch`] to
//! [`Store::commit`]. A store calls the batch's completion *after* the batch is durable and in
//! the order batches were committed; the engine puts every reply and broadcast in that
//! completion, so nothing is sent before it is on disk and frames leave in the order they were
//! produced. Messages and log entries are read back on demand ([`Store::message`],
//! [`Store::events`]) and MUST include batches committed but not yet durable (read your writes).
//!
//! The contract is in `api.rs`, the records it stores in `records.rs`. Implementations:
//! [`MemoryStore`] (tests, `--memory`), [`SqliteStore`] (the embedded default) and, with the
//! `postgres` feature, `PostgresStore` (`--postgres URL`). The durable two share `queue.rs`:
//! `commit` queues to one writer thread that commits everything queued in one transaction; reads
//! are point queries by `(conversation, uuid)` and range queries by `(conversation, seq)`.

mod api;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod queue;
mod records;
mod sqlite;

#[cfg(feature = "postgres")]
pub(crate) use api::STALE_UNIQUE;
pub use api::{Batch, Completion, IdKind, Snapshot, Store, StoreError, Write};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{copy_sqlite_to_postgres, CopyReport, PostgresStore, PostgresUrl};
pub use records::*;
pub use sqlite::SqliteStore;
