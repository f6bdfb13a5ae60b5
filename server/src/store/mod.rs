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
//! [`MemoryStore`] (tests, `--memory`) and [`SqliteStore`] (the embedded default).
//! A PostgreSQL store fits the same shape: `commit` queues to a writer task, reads are point
//! queries by `(conversation, uuid)` and range queries by `(conversation, seq)`.

mod api;
mod memory;
mod records;
mod sqlite;

pub use api::{Batch, Completion, Snapshot, Store, StoreError, Write};
pub use memory::MemoryStore;
pub use records::*;
pub use sqlite::SqliteStore;
