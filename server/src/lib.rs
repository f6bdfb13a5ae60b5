//! chatwire-server: the messaging server the chatwire SDK talks to.
//!
//! It reproduces the behaviour of Voximplant Messaging v2 (see `SPEC.md`): users and
//! authentication, conversations and permissions, a durable per-conversation event log with
//! gap-free sequence numbers, fan-out to every connection, and the admin HTTP API.
//!
//! Layers, bottom up: [`store`] (durable storage: SQLite or memory) -> `engine` (one thread
//! owning all state, applying requests one at a time) -> `transport` (one task per WebSocket:
//! session layer, limits, decoding) -> [`RunningServer`] (routes, TLS, shutdown).
//!
//! ```no_run
//! # async fn demo() -> Result<(), chatwire_server::ServerError> {
//! use chatwire_server::{Config, RunningServer, Storage};
//! let config = Config::new("127.0.0.1:8080".parse().unwrap())
//!     .storage(Storage::Sqlite("./data".into()))
//!     .api_key("change-me");
//! let server = RunningServer::start(config).await?;
//! tokio::signal::ctrl_c().await.ok();
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod admin_http;
mod config;
mod engine;
pub mod names;
mod security;
mod server;
pub mod store;
pub mod testing;
mod transport;

pub use config::{Config, Limits, PasswordCost, Storage, TlsFiles, DEFAULT_DOMAIN};
pub use engine::AdminTarget;
pub use engine::{AdminCommand, AdminError, AdminReply, UserInfo};
pub use server::{RunningServer, ServerError};
