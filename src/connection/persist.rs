//! Durable client state, connection side: restoring positions from the store at start-up,
//! writing tracking starts, acknowledgements and forgotten conversations back at least every
//! [`FLUSH_INTERVAL`], and holding events back (instead of letting a stream lag) while the
//! event buffer is full.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chatwire_protocol::{ConversationId, UserId};

use super::sync::SeqSync;
use super::Task;
use crate::event::Event;
use crate::store::{Changes, Snapshot, Store, StoreError};
use crate::stream::Acks;

/// How often acknowledged positions are written to the store (also on close).
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// The store and what is waiting to be written to it.
pub(super) struct Durable {
    store: Arc<dyn Store>,
    acks: Acks,
    /// Positions as last computed (written or waiting in `changes`).
    positions: HashMap<ConversationId, u64>,
    changes: Changes,
    /// The snapshot loaded at start-up, until the first login tells who we are.
    restored: Option<Snapshot>,
}

impl Durable {
    /// Writes an outbox entry (with the next flush).
    pub fn save_outbox(&mut self, entry: crate::store::OutboxEntry) {
        self.changes.outbox_remove.retain(|id| *id != entry.id);
        self.changes.outbox_put.retain(|e| e.id != entry.id);
        self.changes.outbox_put.push(entry);
    }

    /// Deletes an outbox entry (with the next flush).
    pub fn remove_outbox(&mut self, id: u64) {
        self.changes.outbox_put.retain(|e| e.id != id);
        self.changes.outbox_remove.push(id);
    }
}

impl Task {
    /// Uses `snapshot` (just loaded from the configured store) as the starting point.
    pub(crate) fn restore(&mut self, snapshot: Snapshot, acks: Acks) {
        let Some(store) = self.config.store.as_ref().map(|s| s.0.clone()) else {
            return;
        };
        self.epoch = snapshot.epoch.clone();
        self.outbox.restore(snapshot.outbox.values().cloned());
        self.durable = Some(Durable {
            store,
            acks,
            positions: snapshot.positions.clone(),
            changes: Changes::default(),
            restored: Some(snapshot),
        });
    }

    /// After our own user record arrived (and the epoch check ran): checks that the store is
    /// ours and, on the first login of the process, resumes tracking from its positions.
    /// `reset`: the server's history was replaced, so the stored positions are worthless.
    /// Returns whether it resumed (tracking restored from stored positions).
    pub(super) fn resume_from_store(
        &mut self,
        me: UserId,
        reset: bool,
    ) -> Result<bool, StoreError> {
        let Some(d) = self.durable.as_mut() else {
            return Ok(false);
        };
        if reset {
            d.restored = None;
            d.positions.clear();
            d.acks.take();
            d.changes = Changes {
                reset: true,
                ..Changes::default()
            };
            // The outbox is not history: its changes are still to be made.
            for entry in self.outbox.stored_entries() {
                d.save_outbox(entry.clone());
            }
        }
        d.changes.epoch = self.epoch.clone();
        d.changes.user = Some(me);
        let Some(snapshot) = d.restored.take() else {
            return Ok(false);
        };
        if let Some(stored) = snapshot.user.filter(|u| *u != me) {
            return Err(StoreError::WrongUser {
                stored,
                current: me,
            });
        }
        if self.sync.is_none() && !snapshot.positions.is_empty() {
            let mut sync = SeqSync::new(me);
            for (conv, seq) in &snapshot.positions {
                sync.track_from(*conv, *seq);
            }
            // Like a reconnect: deliver what was missed while the application was not running.
            self.sync = Some(sync);
            self.synced_once = true;
            tracing::info!(
                conversations = snapshot.positions.len(),
                "resuming from the stored positions"
            );
            return Ok(true);
        }
        Ok(false)
    }

    /// Gathers what changed since the last write: where tracking (re)started, what the
    /// application acknowledged, what was forgotten.
    fn collect(&mut self) {
        let Some(d) = self.durable.as_mut() else {
            return;
        };
        if let Some(sync) = self.sync.as_mut() {
            let (started, forgotten) = sync.take_changes();
            for conv in forgotten {
                d.positions.remove(&conv);
                d.changes.positions.retain(|(c, _)| *c != conv);
                d.changes.forget.push(conv);
            }
            for (conv, seq) in started {
                d.positions.insert(conv, seq);
                d.changes.positions.push((conv, seq));
            }
        }
        d.changes.kv.extend(d.acks.take_kv());
        for (conv, seq) in d.acks.take() {
            let slot = d.positions.entry(conv).or_insert(0);
            if seq > *slot {
                *slot = seq;
                d.changes.positions.push((conv, seq));
            }
        }
    }

    /// Writes what changed to the store (one atomic commit).
    pub(super) async fn flush_store(&mut self) {
        self.collect();
        let Some(d) = self.durable.as_mut() else {
            return;
        };
        if d.changes.is_empty() {
            return;
        }
        let mut changes = std::mem::take(&mut d.changes);
        // Only the last position of each conversation matters.
        let mut last = HashMap::new();
        for (conv, seq) in changes.positions.drain(..) {
            last.insert(conv, seq);
        }
        changes.positions = last.into_iter().collect();
        if let Err(e) = d.store.commit(changes.clone()).await {
            tracing::error!(error = %e, "client store write failed; trying again");
            // Written next time, merged with what comes after.
            let newer = std::mem::replace(&mut d.changes, changes);
            d.changes.reset |= newer.reset;
            d.changes.epoch = newer.epoch.or(d.changes.epoch.take());
            d.changes.user = newer.user.or(d.changes.user);
            d.changes.forget.extend(newer.forget);
            d.changes.positions.extend(newer.positions);
            d.changes.outbox_put.extend(newer.outbox_put);
            d.changes.outbox_remove.extend(newer.outbox_remove);
            d.changes.kv.extend(newer.kv);
        }
    }

    /// Whether events are held back because the event buffer is full (durable mode only: the
    /// socket is not read meanwhile).
    pub(super) fn backlogged(&self) -> bool {
        !self.to_emit.is_empty()
    }

    /// Sends queued events to the streams; with a store, only while the buffer has room.
    pub(super) fn deliver_events(&mut self) {
        while let Some(event) = self.to_emit.pop_front() {
            if self.durable.is_some() && self.out.events.len() >= self.config.event_buffer {
                self.to_emit.push_front(event);
                return;
            }
            let _ = self.out.events.send(event);
        }
    }

    /// Queues an event for the streams.
    pub(super) fn emit(&mut self, event: Event) {
        self.to_emit.push_back(event);
        self.deliver_events();
    }
}
