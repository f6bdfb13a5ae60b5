//! Server configuration and limits, with the defaults of docs/BEHAVIOUR.md section 10.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default application domain (`<app>.<account>`).
pub const DEFAULT_DOMAIN: &str = "chatwire.local";

/// Where the server keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// Nothing on disk; everything is lost when the process exits.
    Memory,
    /// SQLite in this directory (`chatwire.db`).
    Sqlite(PathBuf),
    /// PostgreSQL at this URL (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(crate::store::PostgresUrl),
}

/// PEM files for serving `wss://` and `https://` on the same listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// How expensive password hashing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordCost {
    /// argon2id with the crate's recommended parameters (19 MiB, 2 passes).
    Standard,
    /// argon2id with minimal memory, for tests only.
    Fast,
}

/// Limits; every value has the documented default (docs/BEHAVIOUR.md section 10).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Maximum client frame size in bytes (default 65 536).
    pub max_frame_bytes: usize,
    /// Messaging requests per rolling second per connection (default 20; 0 = off).
    pub requests_per_second: u32,
    /// Messaging requests per rolling minute per connection (default 600; 0 = off).
    pub requests_per_minute: u32,
    /// Close with 4000 after this long without any frame (default 60 s).
    pub idle_timeout: Duration,
    /// Close with 4001 when not logged in by then (default 30 s).
    pub login_deadline: Duration,
    /// Close with 4002 at this many counted login failures on one connection (default 5).
    pub max_failed_logins: u32,
    /// Outbound queue per connection in frames; close with 4004 when full (default 1 024).
    pub outbound_queue: usize,
    /// Access token lifetime (default 3 600 s).
    pub access_token_ttl: Duration,
    /// Refresh token lifetime (default 30 days).
    pub refresh_token_ttl: Duration,
    /// Failed logins per user name in the throttle window before 429 (default 20; 0 = off).
    pub failed_logins_per_name: u32,
    /// Failed logins per peer address in the throttle window before 429 (default 100; 0 = off).
    pub failed_logins_per_peer: u32,
    /// The sliding throttle window (default 5 minutes).
    pub throttle_window: Duration,
    /// Password hashes computed at once (default 2).
    pub hash_concurrency: usize,
    /// Logged-in connections per user; a login beyond it gets `loginFailed` 429 (default 32;
    /// 0 = off).
    pub max_connections_per_user: usize,
    /// Open connections per peer address; more are refused with HTTP 429 before the WebSocket
    /// upgrade (default 1 000; 0 = off).
    pub max_connections_per_peer: usize,
    /// How long idempotency keys (chatwire extension) are remembered (default 24 h, at least
    /// 24 h: shorter values are raised to it).
    pub idempotency_window: Duration,
}

/// The chatwire extensions this server implements (advertised at login): all of them
/// (`catchUp`, `idempotency`, `customDataPatch`).
const IMPLEMENTED_EXTENSIONS: &[&str] = chatwire_protocol::ServerExtensions::ALL;

impl Limits {
    /// What the server advertises at login (chatwire extensions, docs/PROTOCOL.md section 12.1).
    pub fn extensions(&self) -> chatwire_protocol::ServerExtensions {
        chatwire_protocol::ServerExtensions::with(
            IMPLEMENTED_EXTENSIONS,
            chatwire_protocol::AdvertisedLimits::new(
                self.requests_per_second,
                self.requests_per_minute,
                self.outbound_queue,
                self.max_frame_bytes,
            ),
            self.idempotency_window_secs(),
        )
    }

    /// How long idempotency keys are remembered, in seconds: `idempotency_window`, raised to
    /// the protocol's minimum of 24 hours.
    pub fn idempotency_window_secs(&self) -> u64 {
        self.idempotency_window
            .as_secs()
            .max(chatwire_protocol::MIN_IDEMPOTENCY_WINDOW_SECS)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: chatwire_protocol::DEFAULT_MAX_FRAME_BYTES,
            requests_per_second: 20,
            requests_per_minute: 600,
            idle_timeout: Duration::from_secs(60),
            login_deadline: Duration::from_secs(30),
            max_failed_logins: 5,
            outbound_queue: 1024,
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            failed_logins_per_name: 20,
            failed_logins_per_peer: 100,
            throttle_window: Duration::from_secs(300),
            hash_concurrency: 2,
            max_connections_per_user: 32,
            max_connections_per_peer: 1000,
            idempotency_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// Everything the server needs to start.
///
/// ```
/// use chatwire_server::{Config, Storage};
/// let config = Config::new("127.0.0.1:0".parse().unwrap())
///     .storage(Storage::Memory)
///     .api_key("secret");
/// assert_eq!(config.domain, "chatwire.local");
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Address serving `/platform`, `/healthz` and `/readyz`, and also `/platform_api/*` and
    /// `/metrics` unless [`Config::admin_listen`] is set.
    pub listen: SocketAddr,
    /// A separate (internal) address for the admin API and `/metrics`; when set, the public
    /// listener serves neither.
    pub admin_listen: Option<SocketAddr>,
    /// Serve `/metrics` without the api key (default: the api key is required, as for the
    /// admin API).
    pub metrics_public: bool,
    /// How long a graceful shutdown may take: stop accepting, close clients with 1001, finish
    /// the commits in flight (default 10 s). Whatever is left then is dropped; nothing that was
    /// acknowledged is lost, since replies leave only once their changes are durable.
    pub drain_timeout: Duration,
    /// Application domain (`<app>.<account>`); user names are `<name>@<domain>`.
    pub domain: String,
    /// Admin API key; without one every admin call fails with error 100.
    pub api_key: Option<String>,
    /// Data location.
    pub storage: Storage,
    /// NATS URL of the bus between nodes sharing one PostgreSQL database (feature
    /// `cluster`, `--nats`); `None`: a single node.
    #[cfg(feature = "cluster")]
    pub nats: Option<String>,
    /// TLS certificate and key; without them the listener is plain `ws://` / `http://`.
    pub tls: Option<TlsFiles>,
    /// Password hashing cost.
    pub password_cost: PasswordCost,
    /// Limits.
    pub limits: Limits,
}

impl Config {
    /// A configuration with every default: in-memory storage, no api key, domain
    /// `chatwire.local`, no TLS.
    pub fn new(listen: SocketAddr) -> Self {
        Config {
            listen,
            admin_listen: None,
            metrics_public: false,
            drain_timeout: Duration::from_secs(10),
            domain: DEFAULT_DOMAIN.to_string(),
            api_key: None,
            storage: Storage::Memory,
            #[cfg(feature = "cluster")]
            nats: None,
            tls: None,
            password_cost: PasswordCost::Standard,
            limits: Limits::default(),
        }
    }

    /// Sets the storage.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Whether this node talks to other nodes over a bus.
    pub fn bus_configured(&self) -> bool {
        #[cfg(feature = "cluster")]
        return self.nats.is_some();
        #[cfg(not(feature = "cluster"))]
        false
    }

    /// Sets the admin api key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the application domain.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into().to_ascii_lowercase();
        self
    }
}
