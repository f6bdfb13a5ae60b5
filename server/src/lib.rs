//! chatwire-server: the messaging server the chatwire SDK talks to.
//!
//! It reproduces the behaviour of Voximplant Messaging v2: users and
//! authentication, conversations and permissions, a durable per-conversation event log with
//! gap-free sequence numbers, fan-out to every connection, and the admin HTTP API.
//!
//! Layers, bottom up; each module imports only from the layers below it:
//!
//! - [`store`] (durable storage: SQLite, PostgreSQL with the `postgres` feature, or memory)
//!   and `outbound` (encoded frames and each connection's bounded outbound queue);
//! - `engine`: one thread owning all state, applying requests one at a time; it pushes frames
//!   into outbound queues and never names the transport or axum;
//! - `transport`: one task per WebSocket (read loop, session layer, limits, decoding, and the
//!   writer that turns frames into WebSocket messages);
//! - `admin_http` (the admin API), `ops_http` (`/healthz`, `/readyz`, `/metrics`), `startup`
//!   (data dir, database, listeners, TLS files, with [`ServerError`]s that name what failed) and
//!   [`RunningServer`] (routes, shutdown).
//!
//! `config`, `metrics` (one Prometheus registry per server), [`names`] and `security` (password hashing, login throttling) are used by the
//! layers above them. The wire format itself lives in `chatwire-protocol`.
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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin_http;
mod bus;
mod config;
mod engine;
mod metrics;
pub mod names;
#[cfg(feature = "cluster")]
mod nats;
mod ops_http;
mod outbound;
mod security;
mod server;
mod startup;
pub mod store;
pub mod testing;
mod transport;

pub use config::{Config, Limits, PasswordCost, Storage, TlsFiles, DEFAULT_DOMAIN};
pub use engine::AdminTarget;
pub use engine::{AdminCommand, AdminError, AdminReply, UserInfo};
pub use server::{RunningServer, ServerError};
