//! [`SqliteStore`]: client state in a SQLite file (feature `sqlite`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chatwire_protocol::{ConversationId, UserId};
use rusqlite::{params, Connection, OptionalExtension};

use super::{Changes, OutboxEntry, Snapshot, Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (conv BLOB PRIMARY KEY, seq INTEGER NOT NULL,
    left_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
";

/// Client state in one SQLite file (WAL mode, `synchronous=FULL`): positions, outbox and the
/// key-value area survive application restarts and crashes.
///
/// Each application (or device) of a user keeps its own file; a file belongs to one user.
///
/// # Examples
/// ```
/// # async fn demo() -> Result<(), chatwire::store::StoreError> {
/// use chatwire::store::{SqliteStore, Store};
/// let dir = std::env::temp_dir().join("chatwire-doc-store");
/// let store = SqliteStore::open(dir.join("alice.db"))?;
/// let snapshot = store.load().await?;
/// # let _ = snapshot;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and its parent directories.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the directory or file cannot be created or is not a SQLite
    /// database.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
        }
        let conn = Connection::open(&path).map_err(backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The version of the SQLite library compiled into this build (rusqlite 0.37 with its
    /// `bundled` feature: SQLite 3.50).
    ///
    /// Cargo links one `libsqlite3-sys` per application (its `links` rule), so an application
    /// that uses rusqlite itself must pick a rusqlite release that depends on the same
    /// `libsqlite3-sys` as this crate (0.37.x); both then share this one SQLite library.
    ///
    /// # Examples
    /// ```
    /// assert!(chatwire::store::SqliteStore::sqlite_version().starts_with("3."));
    /// ```
    pub fn sqlite_version() -> &'static str {
        rusqlite::version()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn conv_from(bytes: Vec<u8>) -> Result<ConversationId, StoreError> {
    uuid::Uuid::from_slice(&bytes)
        .map(ConversationId::from)
        .map_err(|e| StoreError::Corrupt(format!("conversation id: {e}")))
}

fn load(conn: &mut Connection) -> Result<Snapshot, StoreError> {
    let mut s = Snapshot::default();
    let meta = |key: &str| -> Result<Option<String>, StoreError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(backend)
    };
    s.epoch = meta("epoch")?;
    s.user = match meta("user")? {
        Some(u) => Some(
            u.parse::<u64>()
                .ok()
                .and_then(UserId::new)
                .ok_or_else(|| StoreError::Corrupt(format!("user id {u:?}")))?,
        ),
        None => None,
    };
    let mut stmt = conn
        .prepare("SELECT conv, seq, left_at FROM positions")
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(backend)?;
    for row in rows {
        let (conv, seq, left) = row.map_err(backend)?;
        let conv = conv_from(conv)?;
        s.positions.insert(conv, seq as u64);
        if left != 0 {
            s.left.insert(conv);
        }
    }
    let mut stmt = conn
        .prepare("SELECT data FROM outbox ORDER BY id")
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(backend)?;
    for row in rows {
        let entry: OutboxEntry = serde_json::from_str(&row.map_err(backend)?)
            .map_err(|e| StoreError::Corrupt(format!("outbox entry: {e}")))?;
        s.outbox.insert(entry.id, entry);
    }
    let mut stmt = conn.prepare("SELECT key, value FROM kv").map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(backend)?;
    for row in rows {
        let (k, v) = row.map_err(backend)?;
        s.kv.insert(k, v);
    }
    Ok(s)
}

fn commit(conn: &mut Connection, c: Changes) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(backend)?;
    if c.reset {
        tx.execute_batch(
            "DELETE FROM meta; DELETE FROM positions; DELETE FROM outbox; DELETE FROM kv;",
        )
        .map_err(backend)?;
    }
    let set_meta = |key: &str, value: &str| {
        tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![key, value]))
            .map_err(backend)
    };
    if let Some(epoch) = &c.epoch {
        set_meta("epoch", epoch)?;
    }
    if let Some(user) = c.user {
        set_meta("user", &user.get().to_string())?;
    }
    for conv in &c.forget {
        tx.prepare_cached("DELETE FROM positions WHERE conv = ?1")
            .and_then(|mut s| s.execute(params![conv.as_uuid().as_bytes()]))
            .map_err(backend)?;
    }
    for (conv, seq) in &c.positions {
        tx.prepare_cached(
            "INSERT INTO positions (conv, seq) VALUES (?1, ?2)
             ON CONFLICT (conv) DO UPDATE SET seq = excluded.seq",
        )
        .and_then(|mut s| s.execute(params![conv.as_uuid().as_bytes(), *seq as i64]))
        .map_err(backend)?;
    }
    for (convs, left) in [(&c.left, 1), (&c.rejoined, 0)] {
        for conv in convs {
            tx.prepare_cached(
                "INSERT INTO positions (conv, seq, left_at) VALUES (?1, 0, ?2)
                 ON CONFLICT (conv) DO UPDATE SET left_at = excluded.left_at",
            )
            .and_then(|mut s| s.execute(params![conv.as_uuid().as_bytes(), left]))
            .map_err(backend)?;
        }
    }
    for entry in &c.outbox_put {
        let data = serde_json::to_string(entry).expect("outbox entries serialize");
        tx.prepare_cached("INSERT OR REPLACE INTO outbox (id, data) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![entry.id as i64, data]))
            .map_err(backend)?;
    }
    for id in &c.outbox_remove {
        tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")
            .and_then(|mut s| s.execute(params![*id as i64]))
            .map_err(backend)?;
    }
    for (key, value) in &c.kv {
        match value {
            Some(v) => tx
                .prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![key, v])),
            None => tx
                .prepare_cached("DELETE FROM kv WHERE key = ?1")
                .and_then(|mut s| s.execute(params![key])),
        }
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        self.blocking(load).await
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.blocking(move |conn| commit(conn, changes)).await
    }
}
