//! The inbox in the store's key-value area: saved (at most once a second) once loaded, read back
//! at start-up so a restarted application shows its inbox at once, even offline.
//!
//! The record is private JSON (versioned by its key); an unreadable record is ignored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatwire_protocol::{ConversationId, JsonMap, MessageId, Permissions, Seq, UserId};
use serde::{Deserialize, Serialize};

use super::entry::{InboxEntry, LastMessage};
use crate::model::{Conversation, Participant};
use crate::store::{Store, StoreError};

/// The key of the inbox record in the key-value area.
pub(crate) const KEY: &str = "chatwire.inbox.v1";

/// How often the inbox is written at most.
pub(crate) const SAVE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct Saved {
    user: u64,
    entries: Vec<SavedEntry>,
}

#[derive(Serialize, Deserialize)]
struct SavedEntry {
    id: String,
    title: String,
    direct: bool,
    uber: bool,
    public: bool,
    custom_data: JsonMap,
    participants: Vec<(u64, u16, u64)>,
    created_at: u64,
    last_update: u64,
    last_seq: u64,
    name: String,
    last_message: Option<SavedMessage>,
    unread: u32,
    read_mark: u64,
    last_activity: u64,
}

#[derive(Serialize, Deserialize)]
struct SavedMessage {
    id: String,
    seq: u64,
    sender: u64,
    text: String,
    payload: Vec<JsonMap>,
    sent_at: u64,
    edited_at: Option<u64>,
    removed: bool,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn time(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// The saved record of `entries`.
pub(crate) fn encode(user: UserId, entries: &[InboxEntry]) -> Vec<u8> {
    let saved = Saved {
        user: user.get(),
        entries: entries.iter().map(save_entry).collect(),
    };
    serde_json::to_vec(&saved).unwrap_or_default()
}

fn save_entry(e: &InboxEntry) -> SavedEntry {
    let c = &e.conversation;
    SavedEntry {
        id: c.id.to_string(),
        title: c.title.clone(),
        direct: c.direct,
        uber: c.uber,
        public: c.public,
        custom_data: c.custom_data.clone(),
        participants: c
            .participants
            .iter()
            .map(|p| (p.user.get(), p.permissions.bits(), p.last_read.get()))
            .collect(),
        created_at: secs(c.created_at),
        last_update: secs(c.last_update),
        last_seq: c.last_seq.get(),
        name: e.name.clone(),
        last_message: e.last_message.as_ref().map(|m| SavedMessage {
            id: m.id.to_string(),
            seq: m.seq.get(),
            sender: m.sender.get(),
            text: m.text.clone(),
            payload: m.payload.clone(),
            sent_at: secs(m.sent_at),
            edited_at: m.edited_at.map(secs),
            removed: m.removed,
        }),
        unread: e.unread,
        read_mark: e.read_mark.get(),
        last_activity: secs(e.last_activity),
    }
}

/// The entries of a saved record (`None` if unreadable or another user's).
pub(crate) fn decode(bytes: &[u8], user: Option<UserId>) -> Option<Vec<InboxEntry>> {
    let saved: Saved = serde_json::from_slice(bytes).ok()?;
    if user.is_some_and(|u| u.get() != saved.user) {
        return None;
    }
    saved.entries.into_iter().map(load_entry).collect()
}

fn load_entry(e: SavedEntry) -> Option<InboxEntry> {
    let participants = e
        .participants
        .into_iter()
        .map(|(u, flags, read)| {
            Some(Participant {
                user: UserId::new(u)?,
                permissions: Permissions::from_bits(flags),
                last_read: Seq(read),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let last_message = match e.last_message {
        Some(m) => Some(LastMessage {
            id: MessageId::parse(&m.id)?,
            seq: Seq(m.seq),
            sender: UserId::new(m.sender)?,
            text: m.text,
            payload: m.payload,
            sent_at: time(m.sent_at),
            edited_at: m.edited_at.map(time),
            removed: m.removed,
        }),
        None => None,
    };
    Some(InboxEntry {
        conversation: Conversation {
            id: ConversationId::parse(&e.id)?,
            title: e.title,
            direct: e.direct,
            uber: e.uber,
            public: e.public,
            custom_data: e.custom_data,
            participants,
            created_at: time(e.created_at),
            last_update: time(e.last_update),
            last_seq: Seq(e.last_seq),
        },
        name: e.name,
        last_message,
        unread: e.unread,
        read_mark: Seq(e.read_mark),
        typing: Vec::new(),
        last_activity: time(e.last_activity),
    })
}

/// The inbox saved in `store` by an earlier run, newest activity first (empty when none was
/// saved); see [`Inbox::saved`](crate::Inbox::saved).
pub(crate) async fn saved(store: &dyn Store) -> Result<Vec<InboxEntry>, StoreError> {
    let snapshot = store.load().await?;
    Ok(snapshot
        .kv
        .get(KEY)
        .and_then(|bytes| decode(bytes, snapshot.user))
        .unwrap_or_default())
}
