//! The embedded durable store: SQLite (WAL, `synchronous=FULL`) with one writer thread that
//! commits everything queued in one transaction (group commit).
//!
//! Tables hold current state as JSON rows keyed by id; the log is keyed by `(conversation, seq)`
//! and messages by `(conversation, uuid)`, so start-up reads only users, tokens, conversations
//! and memberships, never the log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use chatwire_protocol::{ConversationId, MessageId, UserId};
use rusqlite::{params, Connection, OptionalExtension};

use super::api::{Batch, Completion, Snapshot, Store, StoreError, Write};
use super::queue::{CommitQueue, Group, Next};
use super::records::{EventRecord, IdempotencyRecord, MessageRecord};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations (uuid BLOB PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (conv BLOB NOT NULL, user INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (conv, user)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (conv BLOB NOT NULL, uuid BLOB NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (conv, uuid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (conv BLOB NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
    initiator INTEGER NOT NULL, is_message INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (conv, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (user INTEGER NOT NULL, key TEXT NOT NULL,
    created INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (user, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created);
";

/// The SQLite store (the server's default).
///
/// ```no_run
/// use chatwire_server::store::{SqliteStore, Store};
/// let store = SqliteStore::open("/var/lib/chatwire").unwrap();
/// let snapshot = store.load().unwrap();
/// # let _ = snapshot;
/// ```
pub struct SqliteStore {
    queue: Arc<CommitQueue>,
    reader: Mutex<Connection>,
    writer: Option<thread::JoinHandle<()>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) `chatwire.db` in the data directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir.as_ref())?;
        let path = dir.as_ref().join("chatwire.db");
        let conn = open_connection(&path)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
            params![uuid::Uuid::new_v4().to_string()],
        )?;
        let reader = open_connection(&path)?;
        let queue = Arc::new(CommitQueue::new());
        let writer_queue = queue.clone();
        let writer = thread::Builder::new()
            .name("chatwire-store".into())
            .spawn(move || writer_loop(conn, &writer_queue))?;
        Ok(SqliteStore {
            queue,
            reader: Mutex::new(reader),
            writer: Some(writer),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's epoch (see [`Snapshot::epoch`]).
    pub fn epoch(&self) -> Result<String, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        Ok(
            conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
                r.get(0)
            })?,
        )
    }

    /// Every durable row as the [`Write`] that would recreate it: users, tokens, conversations,
    /// memberships, messages, the log and idempotency keys, in that order (for copying a data
    /// dir into another store). Stops at the first error of `sink`.
    pub fn export(
        &self,
        mut sink: impl FnMut(Write) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.queue.flush()?;
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let tables: [(&str, Decoder); 5] = [
            ("SELECT data FROM users ORDER BY id", |d| {
                Ok(Write::User(Box::new(decode(&d)?)))
            }),
            ("SELECT data FROM tokens", |d| Ok(Write::Token(decode(&d)?))),
            ("SELECT data FROM conversations", |d| {
                Ok(Write::Conversation(Box::new(decode(&d)?)))
            }),
            ("SELECT data FROM messages", |d| {
                Ok(Write::Message(Box::new(decode(&d)?)))
            }),
            ("SELECT data FROM idempotency", |d| {
                Ok(Write::Idempotency(decode(&d)?))
            }),
        ];
        for (i, (sql, make)) in tables.iter().enumerate() {
            let mut stmt = conn.prepare(sql)?;
            for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
                sink(make(row?)?)?;
            }
            if i == 2 {
                let mut stmt = conn.prepare("SELECT conv, data FROM members")?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (conv, data) = row?;
                    sink(Write::Member(uuid_from(conv)?, decode(&data)?))?;
                }
            }
        }
        let mut stmt = conn.prepare(
            "SELECT conv, seq, event, initiator, is_message, payload FROM events ORDER BY conv, seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        for row in rows {
            let (conv, seq, event, initiator, is_message, payload) = row?;
            sink(Write::Event(EventRecord {
                conversation: uuid_from(conv)?,
                seq: seq as u64,
                event,
                initiator: UserId::new(initiator as u64).ok_or_else(|| corrupt("initiator"))?,
                is_message,
                payload: payload.into(),
            }))?;
        }
        Ok(())
    }
}

/// WAL size (pages) at which a commit also checkpoints. SQLite's default is 1000; the
/// checkpoint runs inside the commit that crosses it, so every commit queued behind waits for it.
/// Smaller, more frequent checkpoints cut the `durable` benchmark's ack p99 at 20k messages/s
/// from 10.6-11.2 ms (1000) to 5.2-5.9 ms (250); 500 gave 7.1 ms, 100 gave 5.7-6.2 ms with more
/// CPU, 4000 gave 28 ms (same run, 2-core machine). See docs/PERFORMANCE.md.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 250;

/// Turns a row's JSON into the write that recreates it ([`SqliteStore::export`]).
type Decoder = fn(String) -> Result<Write, StoreError>;

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    Ok(conn)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

fn encode<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records always serialize")
}

fn uuid_from(bytes: Vec<u8>) -> Result<ConversationId, StoreError> {
    uuid::Uuid::from_slice(&bytes)
        .map(ConversationId::from)
        .map_err(corrupt)
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let epoch = conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
            r.get(0)
        })?;
        let mut snap = Snapshot {
            epoch,
            ..Snapshot::default()
        };
        let mut stmt = conn.prepare("SELECT data FROM users ORDER BY id")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            snap.users.push(decode(&row?)?);
        }
        let mut stmt = conn.prepare("SELECT data FROM tokens")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            snap.tokens.push(decode(&row?)?);
        }
        let mut stmt = conn.prepare("SELECT data FROM conversations")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            snap.conversations.push(decode(&row?)?);
        }
        let mut stmt = conn.prepare("SELECT conv, data FROM members")?;
        for row in stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
        })? {
            let (conv, data) = row?;
            snap.members.push((uuid_from(conv)?, decode(&data)?));
        }
        Ok(snap)
    }

    fn message(
        &self,
        conversation: ConversationId,
        id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        if let Some(m) = self.queue.message(conversation, id)? {
            return Ok(Some(m));
        }
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let data: Option<String> = conn
            .prepare_cached("SELECT data FROM messages WHERE conv = ?1 AND uuid = ?2")?
            .query_row(
                params![conversation.as_uuid().as_bytes(), id.as_uuid().as_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        data.map(|d| decode(&d)).transpose()
    }

    fn events(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut out = Vec::new();
        {
            let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
            let mut stmt = conn.prepare_cached(
                "SELECT seq, event, initiator, is_message, payload FROM events
                 WHERE conv = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
            )?;
            let rows = stmt.query_map(
                params![conversation.as_uuid().as_bytes(), from as i64, to as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )?;
            for row in rows {
                let (seq, event, initiator, is_message, payload) = row?;
                out.push(EventRecord {
                    conversation,
                    seq: seq as u64,
                    event,
                    initiator: UserId::new(initiator as u64).ok_or_else(|| corrupt("initiator"))?,
                    is_message,
                    payload: payload.into(),
                });
            }
        }
        self.queue.extend_events(&mut out, conversation, from, to)?;
        Ok(out)
    }

    fn idempotency(
        &self,
        user: UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        if let Some(r) = self.queue.idempotency(user, key)? {
            return Ok(Some(r));
        }
        let conn = self.reader.lock().map_err(|_| StoreError::Closed)?;
        let data: Option<String> = conn
            .prepare_cached("SELECT data FROM idempotency WHERE user = ?1 AND key = ?2")?
            .query_row(params![user.get() as i64, key], |r| r.get(0))
            .optional()?;
        data.map(|d| decode(&d)).transpose()
    }

    fn commit(&self, batch: Batch, done: Completion) {
        self.queue.submit(batch, done);
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.queue.flush()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.queue.close();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn writer_loop(mut conn: Connection, queue: &CommitQueue) {
    while let Next::Group(group) = queue.next_group(None) {
        let result = write_group(&mut conn, &group);
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed");
        }
        queue.finish(group, &result);
    }
}

fn write_group(conn: &mut Connection, items: &Group) -> Result<(), StoreError> {
    // Every event rewrites its conversation's row (last seq, last update); within one group
    // only the last version of each row is written.
    let writes = items.iter().flat_map(|(batch, _)| &batch.writes);
    let mut last_version: HashMap<ConversationId, usize> = HashMap::new();
    for (i, w) in writes.clone().enumerate() {
        if let Write::Conversation(c) = w {
            last_version.insert(c.uuid, i);
        }
    }
    let tx = conn.transaction()?;
    for (i, w) in writes.enumerate() {
        if let Write::Conversation(c) = w {
            if last_version.get(&c.uuid) != Some(&i) {
                continue;
            }
        }
        write_one(&tx, w)?;
    }
    tx.commit()?;
    Ok(())
}

fn write_one(tx: &rusqlite::Transaction<'_>, w: &Write) -> Result<(), StoreError> {
    match w {
        Write::User(u) => {
            tx.prepare_cached("INSERT OR REPLACE INTO users (id, data) VALUES (?1, ?2)")?
                .execute(params![u.id.get() as i64, encode(u)])?;
        }
        Write::Token(t) => {
            tx.prepare_cached("INSERT OR REPLACE INTO tokens (hash, data) VALUES (?1, ?2)")?
                .execute(params![t.hash, encode(t)])?;
        }
        Write::DeleteToken(hash) => {
            tx.prepare_cached("DELETE FROM tokens WHERE hash = ?1")?
                .execute(params![hash])?;
        }
        Write::Conversation(c) => {
            tx.prepare_cached("INSERT OR REPLACE INTO conversations (uuid, data) VALUES (?1, ?2)")?
                .execute(params![c.uuid.as_uuid().as_bytes(), encode(c)])?;
        }
        Write::Member(conv, m) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO members (conv, user, data) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                conv.as_uuid().as_bytes(),
                m.user.get() as i64,
                encode(m)
            ])?;
        }
        Write::DeleteMembers(conv) => {
            tx.prepare_cached("DELETE FROM members WHERE conv = ?1")?
                .execute(params![conv.as_uuid().as_bytes()])?;
        }
        Write::Message(m) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO messages (conv, uuid, data) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                m.conversation.as_uuid().as_bytes(),
                m.uuid.as_uuid().as_bytes(),
                encode(m)
            ])?;
        }
        Write::Event(e) => {
            tx.prepare_cached(
                "INSERT INTO events (conv, seq, event, initiator, is_message, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                e.conversation.as_uuid().as_bytes(),
                e.seq as i64,
                e.event,
                e.initiator.get() as i64,
                e.is_message,
                &*e.payload
            ])?;
        }
        Write::Idempotency(r) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO idempotency (user, key, created, data) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![r.user.get() as i64, r.key, r.created, encode(r)])?;
        }
        Write::PruneIdempotency { before } => {
            tx.prepare_cached("DELETE FROM idempotency WHERE created < ?1")?
                .execute(params![before])?;
        }
    }
    Ok(())
}
