//! Start-up steps that touch the outside world (the data directory, the database, listening
//! addresses, TLS files) and [`ServerError`], whose messages name what failed and how to fix it.

use std::fs::File;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::TlsFiles;
use crate::store::{SqliteStore, Store, StoreError};

/// Why the server could not start. Each message names the address, path or file involved and
/// suggests a fix (the flags named are `chatwire-server`'s).
///
/// ```
/// use chatwire_server::{Config, RunningServer, ServerError};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let first = RunningServer::start(Config::new("127.0.0.1:0".parse().unwrap())).await.unwrap();
/// let taken = Config::new(first.local_addr());
/// let e = RunningServer::start(taken).await.err().unwrap();
/// assert!(matches!(e, ServerError::Listen { .. }));
/// assert!(e.to_string().contains(&first.local_addr().to_string()));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The store failed (without a file to name).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Another I/O failure.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A listening address could not be bound.
    #[error("cannot listen on {addr} ({flag}): {source}; {}", listen_hint(.source, .flag))]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The option that set it (`--listen` or `--admin-listen`).
        flag: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be created or used.
    #[error("data dir {}: {source}; {}", .path.display(), data_dir_hint(.source))]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another server (or `user add`) holds the data directory.
    #[error(
        "data dir {} is in use by another chatwire-server (or `user add`); stop it, or choose \
         another directory with --data-dir",
        .path.display()
    )]
    DataDirLocked {
        /// The directory.
        path: PathBuf,
    },
    /// The database file could not be opened or loaded.
    #[error("database {}: {source}; {}", .path.display(), database_hint(.source))]
    Database {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The TLS certificate or key could not be loaded.
    #[error(
        "TLS certificate {} / key {}: {source}; check that both files exist, are readable and \
         hold PEM data (--tls-cert, --tls-key)",
        .cert.display(), .key.display()
    )]
    Tls {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn listen_hint(e: &std::io::Error, flag: &str) -> String {
    match e.kind() {
        ErrorKind::AddrInUse => {
            format!("another process is using this address: stop it, or choose another with {flag}")
        }
        ErrorKind::PermissionDenied => {
            format!("ports below 1024 need privileges: choose a higher port with {flag}")
        }
        ErrorKind::AddrNotAvailable => format!(
            "no network interface of this machine has that address: use one of its addresses, \
             or 0.0.0.0 for all of them, with {flag}"
        ),
        _ => format!("choose another address with {flag}"),
    }
}

fn data_dir_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::PermissionDenied => {
            "make it writable by this user, or choose another directory with --data-dir"
        }
        ErrorKind::AlreadyExists | ErrorKind::NotADirectory => {
            "the path is a file, not a directory: choose a directory with --data-dir"
        }
        _ => "create it, or choose another directory with --data-dir (or run with --memory)",
    }
}

fn database_hint(e: &StoreError) -> &'static str {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            "this file is not a chatwire SQLite database: move it away, or choose another \
             directory with --data-dir"
        }
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::PermissionDenied
            ) =>
        {
            "check that the file and its directory are writable by this user"
        }
        StoreError::Corrupt(_) => {
            "a record could not be read: restore the data dir from a backup, or choose another \
             directory with --data-dir"
        }
        _ => "check the file, or choose another directory with --data-dir",
    }
}

/// Creates and locks the data directory, so two servers never share one.
pub(crate) fn lock_data_dir(dir: &Path) -> Result<File, ServerError> {
    let dir_error = |source| ServerError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    if dir.is_file() {
        return Err(dir_error(std::io::Error::new(
            ErrorKind::AlreadyExists,
            "a file of that name exists",
        )));
    }
    std::fs::create_dir_all(dir).map_err(dir_error)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("chatwire.lock"))
        .map_err(dir_error)?;
    if file.try_lock().is_err() {
        return Err(ServerError::DataDirLocked {
            path: dir.to_path_buf(),
        });
    }
    Ok(file)
}

/// Opens the SQLite store of a (locked) data directory.
pub(crate) async fn open_sqlite(dir: &Path) -> Result<Arc<dyn Store>, ServerError> {
    let owned = dir.to_path_buf();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(owned))
        .await
        .map_err(std::io::Error::other)?
        .map_err(|source| ServerError::Database {
            path: database_file(dir),
            source,
        })?;
    Ok(Arc::new(store))
}

/// The database file of a data directory.
pub(crate) fn database_file(dir: &Path) -> PathBuf {
    dir.join("chatwire.db")
}

/// Binds a listening address (`flag` names the option that set it).
pub(crate) fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener, ServerError> {
    let listen_error = |source| ServerError::Listen { addr, flag, source };
    let listener = TcpListener::bind(addr).map_err(listen_error)?;
    listener.set_nonblocking(true).map_err(listen_error)?;
    Ok(listener)
}

/// Loads the TLS certificate and key.
pub(crate) async fn tls_config(
    tls: &TlsFiles,
) -> Result<axum_server::tls_rustls::RustlsConfig, ServerError> {
    axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
        .await
        .map_err(|source| ServerError::Tls {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            source,
        })
}
