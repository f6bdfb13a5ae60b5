//! Moving up: copies an embedded SQLite data dir into PostgreSQL with every seq, uuid, token,
//! read mark, idempotency key and the store epoch preserved, in one transaction.

use std::path::Path;

use super::schema;
use super::writer::{Net, CLAIM_DIRECT_PAIRS};
use super::{pool, pool_error, PostgresUrl};
use crate::store::{SqliteStore, StoreError, Write};

/// Rows copied per multi-row statement.
const CHUNK: usize = 1000;

/// What [`copy_sqlite_to_postgres`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Users, deleted ones included.
    pub users: u64,
    /// Access and refresh tokens.
    pub tokens: u64,
    /// Conversations, tombstones included.
    pub conversations: u64,
    /// Memberships (current and former participants, with their read marks).
    pub members: u64,
    /// Messages (current state).
    pub messages: u64,
    /// Log entries.
    pub events: u64,
    /// Idempotency keys.
    pub idempotency_keys: u64,
    /// The store epoch, now the PostgreSQL store's (clients see no history reset).
    pub epoch: String,
}

impl CopyReport {
    fn count(&mut self, w: &Write) {
        let n = match w {
            Write::User(_) => &mut self.users,
            Write::Token(_) => &mut self.tokens,
            Write::Conversation(_) => &mut self.conversations,
            Write::Member(..) => &mut self.members,
            Write::Message(_) => &mut self.messages,
            Write::Event(_) => &mut self.events,
            Write::Idempotency(_) => &mut self.idempotency_keys,
            _ => return,
        };
        *n += 1;
    }
}

/// Copies the SQLite store in `data_dir` into the database at `url`.
///
/// The data dir must not be in use (stop the server first). A database that already holds
/// chatwire data is refused unless `replace` is set, in which case its data is deleted first.
/// Blocking: call it outside async code.
///
/// ```no_run
/// use chatwire_server::store::{copy_sqlite_to_postgres, PostgresUrl};
/// let url = PostgresUrl::new("postgres://chatwire@127.0.0.1/chatwire");
/// let report = copy_sqlite_to_postgres("/var/lib/chatwire".as_ref(), &url, false)?;
/// println!("copied {} events", report.events);
/// # Ok::<(), chatwire_server::store::StoreError>(())
/// ```
pub fn copy_sqlite_to_postgres(
    data_dir: &Path,
    url: &PostgresUrl,
    replace: bool,
) -> Result<CopyReport, StoreError> {
    if !data_dir.join("chatwire.db").is_file() {
        return Err(StoreError::Config(format!(
            "no chatwire.db in {}: pass the --data-dir of the SQLite server to copy",
            data_dir.display()
        )));
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("chatwire.lock"))?;
    if lock.try_lock().is_err() {
        return Err(StoreError::Config(format!(
            "data dir {} is in use by a running chatwire-server: stop it first",
            data_dir.display()
        )));
    }
    let sqlite = SqliteStore::open(data_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pool = pool(url, &rt)?;
    let mut client = rt.block_on(pool.get()).map_err(pool_error)?;
    rt.block_on(schema::migrate(&mut client))?;
    let identity = rt.block_on(schema::identity(&client))?;
    let tx = rt.block_on(client.transaction())?;
    let existing: i64 = rt
        .block_on(tx.query_one(
            "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM conversations)
                  + (SELECT count(*) FROM events) + (SELECT count(*) FROM tokens)",
            &[],
        ))?
        .get(0);
    if existing > 0 {
        if !replace {
            return Err(StoreError::Config(format!(
                "the PostgreSQL database already holds chatwire data ({existing} users, \
                 conversations, events and tokens): pass --replace to delete it and copy anyway"
            )));
        }
        tracing::warn!(
            rows = existing,
            "deleting the database's chatwire data (--replace)"
        );
        rt.block_on(tx.batch_execute(
            "TRUNCATE users, tokens, conversations, members, direct_pairs, messages, events,
                      idempotency_keys, writers",
        ))?;
    }
    let mut report = CopyReport {
        epoch: sqlite.epoch()?,
        ..CopyReport::default()
    };
    let mut chunk: Vec<Write> = Vec::with_capacity(CHUNK);
    let flush = |chunk: &mut Vec<Write>| -> Result<(), StoreError> {
        rt.block_on(Net::of(chunk.iter()).write(&tx))?;
        chunk.clear();
        Ok(())
    };
    sqlite.export(|w| {
        report.count(&w);
        chunk.push(w);
        if chunk.len() >= CHUNK {
            flush(&mut chunk)?;
        }
        Ok(())
    })?;
    flush(&mut chunk)?;
    rt.block_on(async {
        let direct: Vec<uuid::Uuid> = tx
            .query(
                "SELECT uuid FROM conversations WHERE direct AND NOT deleted",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.execute(CLAIM_DIRECT_PAIRS, &[&direct]).await?;
        schema::set_epoch(&tx, &report.epoch, &identity).await?;
        tx.batch_execute(schema::SYNC_SEQUENCES).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    })?;
    tracing::info!(?report, "copied the SQLite data dir into PostgreSQL");
    Ok(report)
}
