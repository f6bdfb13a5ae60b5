//! The group-commit queue shared by the durable stores: [`Store::commit`](super::Store::commit)
//! queues a batch here and returns; one writer thread takes everything queued as one group,
//! makes it durable in one transaction and runs the completions in commit order. Until then the
//! queued messages, log entries and idempotency keys are readable from an overlay (read your
//! writes).

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use chatwire_protocol::{ConversationId, MessageId, UserId};

use super::api::{Batch, Completion, StoreError, Write};
use super::records::{EventRecord, IdempotencyRecord, MessageRecord};

/// Batches queued for the writer, with their completions.
pub(super) type Group = Vec<(Batch, Completion)>;

/// What the writer gets from [`CommitQueue::next_group`].
pub(super) enum Next {
    /// Everything queued, to commit as one transaction.
    Group(Group),
    /// Nothing arrived within the timeout.
    Idle,
    /// The store is closing and nothing is left.
    Closed,
}

pub(super) struct CommitQueue {
    queue: Mutex<Queue>,
    wake: Condvar,
    idle: Condvar,
    /// Writes queued but not yet durable, for read-your-writes.
    overlay: Mutex<Overlay>,
}

#[derive(Default)]
struct Queue {
    items: Group,
    busy: bool,
    closing: bool,
    /// A group failed: later groups were computed on top of it and must not be written until
    /// the engine has reloaded its state ([`CommitQueue::clear_poison`]).
    poisoned: bool,
    /// The failed group was stale (another node committed first): later groups fail as stale
    /// too, so that the engine runs them again.
    stale: bool,
}

#[derive(Default)]
struct Overlay {
    messages: HashMap<(ConversationId, MessageId), (u64, MessageRecord)>,
    events: HashMap<(ConversationId, u64), EventRecord>,
    idempotency: HashMap<(UserId, String), IdempotencyRecord>,
    version: u64,
}

impl CommitQueue {
    pub fn new() -> Self {
        CommitQueue {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            overlay: Mutex::new(Overlay::default()),
        }
    }

    /// Queues a batch (the body of `Store::commit`).
    pub fn submit(&self, batch: Batch, done: Completion) {
        let Ok(mut queue) = self.queue.lock() else {
            return done(Err(StoreError::Closed));
        };
        if queue.closing {
            drop(queue);
            return done(Err(StoreError::Closed));
        }
        // Behind a stale group, even a batch without writes waits (and fails as stale): its frames
        // may deliver events the stale group's re-run must precede.
        if batch.is_empty() && queue.items.is_empty() && !queue.busy && !queue.stale {
            drop(queue);
            return done(Ok(()));
        }
        if let Ok(mut overlay) = self.overlay.lock() {
            overlay.add(&batch);
        }
        queue.items.push((batch, done));
        self.wake.notify_one();
    }

    /// Blocks until everything queued so far is durable (the body of `Store::flush`).
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut queue = self.queue.lock().map_err(|_| StoreError::Closed)?;
        while !queue.items.is_empty() || queue.busy {
            queue = self.idle.wait(queue).map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }

    /// Refuses new batches; the writer commits what is queued and then gets [`Next::Closed`].
    pub fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.closing = true;
        }
        self.wake.notify_all();
    }

    /// Whether a group failed since the last [`CommitQueue::clear_poison`].
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn is_poisoned(&self) -> bool {
        self.queue.lock().map(|q| q.poisoned).unwrap_or(true)
    }

    /// Why later groups fail: as stale (to be run again) or unavailable.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn poison_error(&self) -> StoreError {
        if self.queue.lock().map(|q| q.stale).unwrap_or(false) {
            StoreError::Stale("behind a stale group".into())
        } else {
            StoreError::Unavailable("an earlier commit failed".into())
        }
    }

    /// Lets writes through again after a failed group (the engine reloaded its state).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn clear_poison(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.poisoned = false;
            q.stale = false;
        }
    }

    /// Whether [`CommitQueue::close`] was called.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn is_closing(&self) -> bool {
        self.queue.lock().map(|q| q.closing).unwrap_or(true)
    }

    /// The writer's wait: everything queued, or [`Next::Idle`] after `timeout` (if any).
    pub fn next_group(&self, timeout: Option<Duration>) -> Next {
        let Ok(mut q) = self.queue.lock() else {
            return Next::Closed;
        };
        while q.items.is_empty() && !q.closing {
            q = match timeout {
                None => match self.wake.wait(q) {
                    Ok(q) => q,
                    Err(_) => return Next::Closed,
                },
                Some(t) => match self.wake.wait_timeout(q, t) {
                    Ok((q, r)) if r.timed_out() && q.items.is_empty() && !q.closing => {
                        return Next::Idle
                    }
                    Ok((q, _)) => q,
                    Err(_) => return Next::Closed,
                },
            };
        }
        if q.items.is_empty() {
            self.idle.notify_all();
            return Next::Closed;
        }
        q.busy = true;
        Next::Group(std::mem::take(&mut q.items))
    }

    /// Ends a group: forgets its overlay entries and runs its completions in order.
    pub fn finish(&self, group: Group, result: &Result<(), StoreError>) {
        if let Ok(mut overlay) = self.overlay.lock() {
            overlay.forget(&group);
        }
        let stale = matches!(result, Err(StoreError::Stale(_)));
        if let (Err(_), Ok(mut q)) = (result, self.queue.lock()) {
            // Set before the completions run: the engine may submit again from them.
            if !q.poisoned {
                q.stale = stale;
            }
            q.poisoned = true;
        }
        for (_, done) in group {
            done(match result {
                Ok(()) => Ok(()),
                Err(StoreError::Stale(why)) => Err(StoreError::Stale(why.clone())),
                Err(_) => Err(StoreError::Closed),
            });
        }
        if let Ok(mut q) = self.queue.lock() {
            q.busy = false;
            if q.items.is_empty() {
                self.idle.notify_all();
            }
        }
    }

    /// A queued message, if any.
    pub fn message(
        &self,
        conversation: ConversationId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let overlay = self.overlay.lock().map_err(|_| StoreError::Closed)?;
        Ok(overlay
            .messages
            .get(&(conversation, id))
            .map(|(_, m)| m.clone()))
    }

    /// A queued idempotency key, if any.
    pub fn idempotency(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let overlay = self.overlay.lock().map_err(|_| StoreError::Closed)?;
        Ok(overlay.idempotency.get(&(user, key.to_string())).cloned())
    }

    /// Appends queued log entries of `conversation` up to `to` to `out` (durable entries read
    /// from the database, ascending). Entries still waiting for their commit have higher seqs
    /// than every durable one.
    pub fn extend_events(
        &self,
        out: &mut Vec<EventRecord>,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<(), StoreError> {
        let overlay = self.overlay.lock().map_err(|_| StoreError::Closed)?;
        let next = out.last().map(|e| e.seq + 1).unwrap_or(from);
        for seq in next..=to {
            match overlay.events.get(&(conversation, seq)) {
                Some(e) => out.push(e.clone()),
                None if overlay.events.is_empty() => break,
                None => {}
            }
        }
        Ok(())
    }
}

impl Overlay {
    fn add(&mut self, batch: &Batch) {
        for w in &batch.writes {
            match w {
                Write::Message(m) => {
                    self.version += 1;
                    let v = self.version;
                    self.messages
                        .insert((m.conversation, m.uuid), (v, (**m).clone()));
                }
                Write::Event(e) => {
                    self.events.insert((e.conversation, e.seq), e.clone());
                }
                Write::Idempotency(r) => {
                    self.idempotency.insert((r.user, r.key.clone()), r.clone());
                }
                _ => {}
            }
        }
    }

    fn forget(&mut self, group: &[(Batch, Completion)]) {
        let version = self.version;
        for (batch, _) in group {
            for w in &batch.writes {
                match w {
                    Write::Message(m) => {
                        // Keep a newer pending version of the same message.
                        let key = (m.conversation, m.uuid);
                        if self
                            .messages
                            .get(&key)
                            .is_some_and(|(v, rec)| *v <= version && rec == &**m)
                        {
                            self.messages.remove(&key);
                        }
                    }
                    Write::Event(e) => {
                        self.events.remove(&(e.conversation, e.seq));
                    }
                    Write::Idempotency(r) => {
                        self.idempotency.remove(&(r.user, r.key.clone()));
                    }
                    _ => {}
                }
            }
        }
    }
}
