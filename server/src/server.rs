//! Assembling and running the server: store, engine, HTTP/WebSocket routes, TLS, shutdown.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::sync::watch;

use crate::admin_http::{self, AppState};
use crate::config::{Config, Storage};
use crate::engine::{self, AdminCommand, AdminError, AdminReply, UserInfo};
use crate::names::admin_short_name;
use crate::security::{Hasher, Throttle};
use crate::store::{MemoryStore, SqliteStore, Store, StoreError};
use crate::transport::{self, PeerSlot, Services};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The store could not be opened or loaded.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Binding the listener or reading TLS files failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server. Dropping it stops accepting and drops every connection without a close
/// frame (what a crash looks like to clients); [`RunningServer::shutdown`] is the graceful way.
///
/// ```no_run
/// # async fn demo() -> Result<(), chatwire_server::ServerError> {
/// use chatwire_server::{Config, RunningServer, Storage};
/// let config = Config::new("127.0.0.1:0".parse().unwrap()).storage(Storage::Memory).api_key("k");
/// let server = RunningServer::start(config).await?;
/// println!("listening on {}", server.ws_url());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct RunningServer {
    addr: SocketAddr,
    config: Arc<Config>,
    app: Arc<AppState>,
    handle: axum_server::Handle<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    kick_tx: watch::Sender<u64>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Held while running on a data dir, so two servers never share one.
    _lock: Option<std::fs::File>,
}

impl RunningServer {
    /// Opens the store, loads the state and starts listening.
    pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
        let config = Arc::new(config);
        let mut lock = None;
        let store: Arc<dyn Store> = match &config.storage {
            Storage::Memory => Arc::new(MemoryStore::new()),
            Storage::Sqlite(dir) => {
                std::fs::create_dir_all(dir)?;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.join("chatwire.lock"))?;
                if file.try_lock().is_err() {
                    return Err(ServerError::Io(std::io::Error::other(format!(
                        "data dir {} is in use by another chatwire-server",
                        dir.display()
                    ))));
                }
                lock = Some(file);
                let dir = dir.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || SqliteStore::open(dir))
                        .await
                        .map_err(std::io::Error::other)??,
                )
            }
            #[cfg(feature = "postgres")]
            Storage::Postgres(url) => {
                let url = url.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || crate::store::PostgresStore::connect(&url))
                        .await
                        .map_err(std::io::Error::other)??,
                )
            }
        };
        let engine = {
            let (store, config) = (store.clone(), config.clone());
            tokio::task::spawn_blocking(move || engine::spawn(store, config))
                .await
                .map_err(std::io::Error::other)??
        };
        let hasher = Hasher::new(config.password_cost, config.limits.hash_concurrency);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (kick_tx, kick_rx) = watch::channel(0u64);
        let limits = &config.limits;
        let services = Arc::new(Services {
            engine: engine.clone(),
            config: config.clone(),
            throttle: Throttle::new(
                limits.failed_logins_per_name,
                limits.failed_logins_per_peer,
                limits.throttle_window,
            ),
            hasher: hasher.clone(),
            shutdown: shutdown_rx,
            kick: kick_rx,
            peers: Default::default(),
        });
        let app = Arc::new(AppState {
            config: config.clone(),
            engine,
            hasher,
        });
        let router = Router::new()
            .route("/platform", get(ws_handler))
            .with_state(services)
            .merge(
                Router::new()
                    .route("/platform_api/{method}", any(admin_http::handle))
                    .with_state(app.clone()),
            );

        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let handle = axum_server::Handle::new();
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let task = match &config.tls {
            None => {
                // TCP_NODELAY: frames are small and latency matters (without it, Nagle and delayed
                // ACKs hold back every reply that follows a partial segment by ~40 ms).
                let server = axum_server::from_tcp(listener)?
                    .acceptor(axum_server::accept::NoDelayAcceptor)
                    .handle(handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(service).await {
                        tracing::error!(error = %e, "server stopped");
                    }
                })
            }
            Some(tls) => {
                let rustls =
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                        .await?;
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                    .acceptor(axum_server::accept::NoDelayAcceptor);
                let server = axum_server::from_tcp(listener)?
                    .acceptor(acceptor)
                    .handle(handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(service).await {
                        tracing::error!(error = %e, "server stopped");
                    }
                })
            }
        };
        tracing::info!(%addr, tls = config.tls.is_some(), domain = %config.domain, "chatwire-server listening");
        Ok(RunningServer {
            addr,
            config,
            app,
            handle,
            shutdown_tx,
            kick_tx,
            task: Some(task),
            _lock: lock,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn host(&self) -> String {
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", self.addr.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", self.addr.port()),
            _ => self.addr.to_string(),
        }
    }

    /// `ws://host:port/platform` (or `wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.config.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/platform", self.host())
    }

    /// `http://host:port/platform_api` (or `https://` with TLS); append `/<Method>`.
    pub fn admin_url(&self) -> String {
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/platform_api", self.host())
    }

    /// The configured admin api key.
    pub fn api_key(&self) -> Option<&str> {
        self.config.api_key.as_deref()
    }

    /// The application domain (user names are `<name>@<domain>`).
    pub fn domain(&self) -> &str {
        &self.config.domain
    }

    /// Creates a user in-process, exactly as the admin API's `AddUser` does, and returns its
    /// admin info (including the IM user id).
    pub async fn add_user(
        &self,
        name: &str,
        display_name: &str,
        password: &str,
    ) -> Result<UserInfo, AdminError> {
        let name = admin_short_name(name, &self.config.domain).ok_or(AdminError::NotFound)?;
        let password_hash = self
            .app
            .hasher
            .hash(password.to_string())
            .await
            .ok_or(AdminError::Internal)?;
        let reply = self
            .app
            .engine
            .admin(AdminCommand::AddUser {
                name: name.clone(),
                display_name: display_name.to_string(),
                password_hash,
            })
            .await?;
        let AdminReply::Added { .. } = reply else {
            return Err(AdminError::Internal);
        };
        match self
            .app
            .engine
            .admin(AdminCommand::GetUsers {
                ids: None,
                name: Some(name),
                count: 1,
                offset: 0,
            })
            .await?
        {
            AdminReply::Users { mut result, .. } if !result.is_empty() => Ok(result.remove(0)),
            _ => Err(AdminError::Internal),
        }
    }

    /// Drops every open connection without a close frame, as a network failure would (for
    /// testing clients' reconnection); the server keeps running.
    pub fn drop_connections(&self) {
        self.kick_tx.send_modify(|k| *k += 1);
    }

    /// Graceful shutdown: closes connections with 1001, stops accepting, and waits until every
    /// acknowledged change is durable.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(6), task).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.engine.flush()).await;
        tracing::info!("chatwire-server stopped");
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Open connections end too (abruptly), so the engine and store are released.
        self.kick_tx.send_modify(|k| *k += 1);
        self.handle.shutdown();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn ws_handler(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(services): State<Arc<Services>>,
) -> Response {
    let limit = services.config.limits.max_frame_bytes;
    let Some(slot) = PeerSlot::take(&services, peer.ip()) else {
        tracing::warn!(peer = %peer.ip(), "too many connections from this address");
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address",
        )
            .into_response();
    };
    ws.read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| transport::serve(socket, peer.ip(), services, slot))
}
