//! In-memory store: everything in maps, durable until the process exits.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chatwire_protocol::{ConversationId, MessageId, UserId};

use super::api::{Batch, Completion, Snapshot, Store, StoreError, Write};
use super::records::{
    ConversationRecord, EventRecord, IdempotencyRecord, MemberRecord, MessageRecord, TokenRecord,
    UserRecord,
};

/// A store that keeps everything in memory (tests, `--memory`).
///
/// ```
/// use chatwire_server::store::{MemoryStore, Store};
/// let store = MemoryStore::new();
/// assert!(store.load().unwrap().users.is_empty());
/// ```
pub struct MemoryStore {
    inner: Mutex<Inner>,
    epoch: String,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            inner: Mutex::default(),
            epoch: uuid::Uuid::new_v4().to_string(),
        }
    }
}

#[derive(Default)]
struct Inner {
    users: BTreeMap<UserId, UserRecord>,
    tokens: HashMap<String, TokenRecord>,
    conversations: HashMap<ConversationId, ConversationRecord>,
    members: HashMap<ConversationId, BTreeMap<UserId, MemberRecord>>,
    messages: HashMap<(ConversationId, MessageId), MessageRecord>,
    events: HashMap<ConversationId, BTreeMap<u64, EventRecord>>,
    idempotency: HashMap<(UserId, String), IdempotencyRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Closed)?;
        Ok(Snapshot {
            users: inner.users.values().cloned().collect(),
            tokens: inner.tokens.values().cloned().collect(),
            conversations: inner.conversations.values().cloned().collect(),
            members: inner
                .members
                .iter()
                .flat_map(|(c, m)| m.values().map(move |r| (*c, r.clone())))
                .collect(),
            epoch: self.epoch.clone(),
        })
    }

    fn message(
        &self,
        conversation: ConversationId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Closed)?;
        Ok(inner.messages.get(&(conversation, id)).cloned())
    }

    fn events(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Closed)?;
        Ok(inner
            .events
            .get(&conversation)
            .map(|log| log.range(from..=to).map(|(_, e)| e.clone()).collect())
            .unwrap_or_default())
    }

    fn idempotency(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Closed)?;
        Ok(inner.idempotency.get(&(user, key.to_string())).cloned())
    }

    fn commit(&self, batch: Batch, done: Completion) {
        let result = match self.inner.lock() {
            Ok(mut inner) => {
                for write in batch.writes {
                    inner.apply(write);
                }
                Ok(())
            }
            Err(_) => Err(StoreError::Closed),
        };
        done(result);
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Inner {
    fn apply(&mut self, write: Write) {
        match write {
            Write::User(u) => {
                self.users.insert(u.id, *u);
            }
            Write::Token(t) => {
                self.tokens.insert(t.hash.clone(), t);
            }
            Write::DeleteToken(hash) => {
                self.tokens.remove(&hash);
            }
            Write::Conversation(c) => {
                self.conversations.insert(c.uuid, *c);
            }
            Write::Member(conv, m) => {
                self.members.entry(conv).or_default().insert(m.user, m);
            }
            Write::DeleteMembers(conv) => {
                self.members.remove(&conv);
            }
            Write::Message(m) => {
                self.messages.insert((m.conversation, m.uuid), *m);
            }
            Write::Event(e) => {
                self.events
                    .entry(e.conversation)
                    .or_default()
                    .insert(e.seq, e);
            }
            Write::Idempotency(r) => {
                self.idempotency.insert((r.user, r.key.clone()), r);
            }
            Write::PruneIdempotency { before } => {
                self.idempotency.retain(|_, r| r.created >= before);
            }
        }
    }
}
