//! Versioned schema migrations, the database's identity and the store epoch bound to it.
//!
//! Migrations are numbered SQL files in `migrations/`, applied in order inside one transaction
//! under an advisory lock (so nodes starting together do not race); `schema_version` records
//! which ran. A database newer than this server is refused.

use deadpool_postgres::Object;

use crate::store::StoreError;

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_cluster.sql"),
];

/// Moves the id sequences past every stored id (after rows were copied in with their ids).
pub(super) const SYNC_SEQUENCES: &str = "
    SELECT setval('chatwire_user_ids', greatest(1000, coalesce((SELECT max(id) FROM users), 0)), true);
    SELECT setval('chatwire_admin_ids', coalesce((SELECT max(admin_id) FROM users), 0) + 1, false);
    SELECT setval('chatwire_ordinals', coalesce((SELECT max(ordinal) FROM conversations), 0) + 1, false);";

/// Advisory lock key held while migrating ("chatwire" in ASCII).
const MIGRATION_LOCK: i64 = 0x6368_6174_7769_7265;

/// The schema version this server writes.
pub(super) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Which PostgreSQL cluster and history this is: the system identifier (new for every
/// `initdb`, so a restored dump or a new server differs) and the timeline (bumped when a standby
/// is promoted or a backup is restored to a point in time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub system_identifier: String,
    pub timeline: i64,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.system_identifier, self.timeline)
    }
}

/// Reads the identity of the database `client` is connected to.
pub(super) async fn identity(client: &Object) -> Result<Identity, StoreError> {
    let row = client
        .query_one(
            "SELECT (SELECT system_identifier FROM pg_control_system())::text,
                    (SELECT timeline_id FROM pg_control_checkpoint())::bigint",
            &[],
        )
        .await?;
    Ok(Identity {
        system_identifier: row.get(0),
        timeline: row.get(1),
    })
}

/// Brings the schema to [`SCHEMA_VERSION`].
pub(super) async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Config(format!(
            "the database has schema version {current}, newer than this chatwire-server \
             understands ({SCHEMA_VERSION}): run a newer chatwire-server"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tracing::info!(version, "database schema migrated");
    }
    tx.commit().await?;
    Ok(())
}

/// The store epoch: the one recorded for this database identity, or a new one (recorded) when
/// the database is new or its identity changed since the epoch was recorded (a restored copy,
/// a promoted asynchronous standby): clients then see their history reset instead of seqs
/// that may have been reused.
pub(super) async fn epoch(client: &mut Object, identity: &Identity) -> Result<String, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let rows = tx
        .query(
            "SELECT key, value FROM meta WHERE key IN ('epoch', 'epoch_identity')",
            &[],
        )
        .await?;
    let get = |k: &str| {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == k)
            .map(|r| r.get::<_, String>(1))
    };
    let current = identity.to_string();
    let epoch = match (get("epoch"), get("epoch_identity")) {
        (Some(epoch), Some(recorded)) if recorded == current => epoch,
        (old, recorded) => {
            if old.is_some() {
                tracing::warn!(
                    recorded = recorded.as_deref().unwrap_or("none"),
                    current = %current,
                    "the database's identity changed (restored copy or promoted standby): \
                     new store epoch, clients will reload their history"
                );
            }
            let epoch = uuid::Uuid::new_v4().to_string();
            set_epoch(&tx, &epoch, identity).await?;
            epoch
        }
    };
    tx.commit().await?;
    Ok(epoch)
}

/// Records `epoch` as the epoch of the database with `identity`.
pub(super) async fn set_epoch(
    tx: &deadpool_postgres::Transaction<'_>,
    epoch: &str,
    identity: &Identity,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', $1), ('epoch_identity', $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&epoch, &identity.to_string()],
    )
    .await?;
    Ok(())
}
