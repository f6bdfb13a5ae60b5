//! Assembling and running the server: store, engine, HTTP/WebSocket routes, TLS, shutdown.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use tokio::sync::watch;

use crate::admin_http::{self, AppState};
use crate::config::{Config, Storage, TlsFiles};
use crate::engine::{self, AdminCommand, AdminError, AdminReply, UserInfo};
use crate::metrics::Metrics;
use crate::names::admin_short_name;
use crate::ops_http::{self, OpsState};
use crate::security::{Hasher, Throttle};
pub use crate::startup::ServerError;
use crate::startup::{bind, database_file, lock_data_dir, open_sqlite, tls_config};
use crate::store::{MemoryStore, Store};
use crate::transport::{self, PeerSlot, Services};

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
    /// The public listener, then the admin listener if there is one.
    listeners: Vec<Listener>,
    admin_addr: Option<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    kick_tx: watch::Sender<u64>,
    /// Held while running on a data dir, so two servers never share one.
    _lock: Option<std::fs::File>,
}

/// One serving listener.
struct Listener {
    handle: axum_server::Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Opens the store, loads the state and starts listening.
    pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
        let mut lock = None;
        let store: Arc<dyn Store> = match &config.storage {
            Storage::Memory => Arc::new(MemoryStore::new()),
            Storage::Sqlite(dir) => {
                lock = Some(lock_data_dir(dir)?);
                open_sqlite(dir).await?
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
        let mut server = Self::start_with_store(config, store).await?;
        server._lock = lock;
        Ok(server)
    }

    /// Starts on a store the caller opened (a custom [`Store`] implementation, or a wrapper
    /// around one); `config.storage` then only names the store in logs and errors.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), chatwire_server::ServerError> {
    /// use std::sync::Arc;
    /// use chatwire_server::{store::MemoryStore, Config, RunningServer};
    /// let config = Config::new("127.0.0.1:0".parse().unwrap());
    /// let server = RunningServer::start_with_store(config, Arc::new(MemoryStore::new())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<RunningServer, ServerError> {
        let config = Arc::new(config);
        let metrics = Metrics::new();
        // The bus subscribes before the engine loads the state (Synapse issue 7427).
        #[cfg(feature = "cluster")]
        let (link, pending) = match &config.nats {
            Some(url) => {
                if !store.shared() {
                    return Err(ServerError::Store(crate::store::StoreError::Config(
                        "--nats needs --postgres: nodes share their state through PostgreSQL"
                            .into(),
                    )));
                }
                let (link, pending) =
                    crate::nats::connect(url, metrics.clone())
                        .await
                        .map_err(|e| {
                            ServerError::Store(crate::store::StoreError::Config(e.to_string()))
                        })?;
                (Some(link), Some(pending))
            }
            None => (None, None),
        };
        #[cfg(not(feature = "cluster"))]
        let link: Option<crate::bus::BusLink> = None;
        let services_bus = link.clone();
        let limits = &config.limits;
        let throttle = Arc::new(Throttle::new(
            limits.failed_logins_per_name,
            limits.failed_logins_per_peer,
            limits.throttle_window,
        ));
        let engine = {
            let (store, cfg, metrics) = (store.clone(), config.clone(), metrics.clone());
            tokio::task::spawn_blocking(move || engine::spawn(store, cfg, metrics, link))
                .await
                .map_err(std::io::Error::other)?
                .map_err(|source| match &config.storage {
                    Storage::Sqlite(dir) => ServerError::Database {
                        path: database_file(dir),
                        source,
                    },
                    _ => ServerError::Store(source),
                })?
        };
        #[cfg(feature = "cluster")]
        if let Some(pending) = pending {
            pending.run(engine.clone(), throttle.clone());
        }
        match &config.storage {
            Storage::Memory => {
                tracing::info!(store = "memory", "store ready (nothing survives a restart)")
            }
            Storage::Sqlite(dir) => tracing::info!(
                store = "sqlite",
                data_dir = %dir.display(),
                database = %database_file(dir).display(),
                "store ready"
            ),
            #[cfg(feature = "postgres")]
            Storage::Postgres(url) => {
                tracing::info!(store = "postgres", database = ?url, "store ready")
            }
        }
        let hasher = Hasher::new(config.password_cost, config.limits.hash_concurrency);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (kick_tx, kick_rx) = watch::channel(0u64);
        let services = Arc::new(Services {
            engine: engine.clone(),
            config: config.clone(),
            throttle,
            bus: services_bus,
            hasher: hasher.clone(),
            shutdown: shutdown_rx.clone(),
            kick: kick_rx,
            peers: Default::default(),
            metrics: metrics.clone(),
        });
        let app = Arc::new(AppState {
            config: config.clone(),
            engine,
            hasher,
            metrics: metrics.clone(),
        });
        let ops = Arc::new(OpsState {
            config: config.clone(),
            store,
            metrics,
            shutdown: shutdown_rx,
        });
        let admin_routes = Router::new()
            .route("/platform_api/{method}", any(admin_http::handle))
            .with_state(app.clone())
            .merge(ops_http::metrics_routes(ops.clone()));
        let public = Router::new()
            .route("/platform", get(ws_handler))
            .with_state(services)
            .merge(ops_http::health_routes(ops.clone()));

        let listener = bind(config.listen, "--listen")?;
        let addr = listener.local_addr()?;
        let (public, admin) = match config.admin_listen {
            None => (public.merge(admin_routes), None),
            Some(admin) => {
                let listener = bind(admin, "--admin-listen")?;
                let router = admin_routes.merge(ops_http::health_routes(ops));
                (public, Some((listener, router)))
            }
        };
        let mut listeners = vec![serve(listener, public, config.tls.as_ref()).await?];
        let mut admin_addr = None;
        if let Some((listener, router)) = admin {
            admin_addr = Some(listener.local_addr()?);
            listeners.push(serve(listener, router, config.tls.as_ref()).await?);
        }
        tracing::info!(%addr, tls = config.tls.is_some(), domain = %config.domain, "chatwire-server listening");
        match admin_addr {
            Some(a) => tracing::info!(addr = %a, "admin API and /metrics on their own listener"),
            None => tracing::info!(%addr, "admin API and /metrics on the public listener"),
        }
        Ok(RunningServer {
            addr,
            config,
            app,
            listeners,
            admin_addr,
            shutdown_tx,
            kick_tx,
            _lock: None,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn host(addr: SocketAddr) -> String {
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
            IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", addr.port()),
            _ => addr.to_string(),
        }
    }

    fn http_scheme(&self) -> &'static str {
        if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The address of the admin listener, when the admin API has its own
    /// ([`Config::admin_listen`]).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// `http://host:port` of the public listener (with `/healthz` and `/readyz`).
    pub fn http_url(&self) -> String {
        format!("{}://{}", self.http_scheme(), Self::host(self.addr))
    }

    /// `http://host:port/metrics` on the listener that serves it (the admin listener if any).
    pub fn metrics_url(&self) -> String {
        let addr = self.admin_addr.unwrap_or(self.addr);
        format!("{}://{}/metrics", self.http_scheme(), Self::host(addr))
    }

    /// `ws://host:port/platform` (or `wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.config.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/platform", Self::host(self.addr))
    }

    /// `http://host:port/platform_api` (or `https://` with TLS) on the listener that serves the
    /// admin API (the admin listener if any); append `/<Method>`.
    pub fn admin_url(&self) -> String {
        let addr = self.admin_addr.unwrap_or(self.addr);
        format!("{}://{}/platform_api", self.http_scheme(), Self::host(addr))
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

    /// Graceful shutdown within [`Config::drain_timeout`]: stops accepting, closes every
    /// connection with 1001 (clients reconnect at once, to this server's successor or another
    /// node), and waits until every change in flight is durable. Anything acknowledged is
    /// already durable, since replies leave only once their changes are.
    pub async fn shutdown(mut self) {
        let bound = self.config.drain_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        tracing::info!(
            timeout_secs = bound.as_secs_f64(),
            "draining: no new connections, closing clients with 1001"
        );
        for l in &self.listeners {
            l.handle.graceful_shutdown(Some(bound));
        }
        let _ = self.shutdown_tx.send(true);
        let drained = tokio::time::timeout_at(deadline, async {
            for l in &mut self.listeners {
                if let Some(task) = l.task.take() {
                    let _ = task.await;
                }
            }
            self.app.engine.flush().await;
        })
        .await;
        match drained {
            Ok(()) => tracing::info!("chatwire-server stopped"),
            Err(_) => tracing::warn!(
                timeout_secs = bound.as_secs_f64(),
                "drain timed out: remaining connections dropped"
            ),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Open connections end too (abruptly), so the engine and store are released.
        self.kick_tx.send_modify(|k| *k += 1);
        for l in &mut self.listeners {
            l.handle.shutdown();
            if let Some(task) = l.task.take() {
                task.abort();
            }
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

/// Serves `router` on a bound listener (TLS when configured) until its handle stops it.
async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<&TlsFiles>,
) -> Result<Listener, ServerError> {
    let handle = axum_server::Handle::new();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    // TCP_NODELAY: frames are small and latency matters (without it, Nagle and delayed ACKs
    // hold back every reply that follows a partial segment by ~40 ms).
    let task = match tls {
        None => {
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
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls_config(tls).await?)
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
    Ok(Listener {
        handle,
        task: Some(task),
    })
}
