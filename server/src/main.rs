//! `chatwire-server`: run the messaging server, or manage users on a stopped server's data dir.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chatwire_server::{Config, RunningServer, Storage, TlsFiles, DEFAULT_DOMAIN};
use clap::{Args, Parser, Subcommand};

/// The chatwire messaging server (Voximplant Messaging v2 wire format).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    opts: Options,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Args, Debug)]
struct Options {
    /// Address serving both `/platform` (WebSocket) and `/platform_api/*` (admin HTTP API).
    #[arg(
        long,
        env = "CHATWIRE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    listen: SocketAddr,
    /// Data directory (SQLite database `chatwire.db`).
    #[arg(
        long,
        env = "CHATWIRE_DATA_DIR",
        default_value = "chatwire-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Keep everything in memory (nothing survives a restart).
    #[arg(
        long,
        env = "CHATWIRE_MEMORY",
        conflicts_with = "data_dir",
        global = true
    )]
    memory: bool,
    /// Store everything in PostgreSQL at this URL (`postgres://user:password@host/dbname`)
    /// instead of the data dir.
    #[cfg(feature = "postgres")]
    #[arg(
        long,
        env = "CHATWIRE_POSTGRES",
        hide_env_values = true,
        conflicts_with = "memory",
        global = true
    )]
    postgres: Option<String>,
    /// Admin API key (without one every admin call fails with error 100).
    #[arg(long, env = "CHATWIRE_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// Application domain `<app>.<account>`: user names are `<name>@<domain>`.
    #[arg(long, env = "CHATWIRE_DOMAIN", default_value = DEFAULT_DOMAIN, global = true)]
    domain: String,
    /// TLS certificate chain (PEM); with --tls-key the listener serves wss:// and https://.
    #[arg(long, env = "CHATWIRE_TLS_CERT", requires = "tls_key", global = true)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CHATWIRE_TLS_KEY", requires = "tls_cert", global = true)]
    tls_key: Option<PathBuf>,
    /// Messaging requests per rolling second per connection (0 = off).
    #[arg(
        long,
        env = "CHATWIRE_REQUESTS_PER_SECOND",
        default_value_t = 20,
        global = true
    )]
    requests_per_second: u32,
    /// Messaging requests per rolling minute per connection (0 = off).
    #[arg(
        long,
        env = "CHATWIRE_REQUESTS_PER_MINUTE",
        default_value_t = 600,
        global = true
    )]
    requests_per_minute: u32,
    /// Maximum client frame size in bytes.
    #[arg(
        long,
        env = "CHATWIRE_MAX_FRAME_BYTES",
        default_value_t = 65536,
        global = true
    )]
    max_frame_bytes: usize,
    /// Outbound queue per connection, in frames (a full queue closes with 4004).
    #[arg(
        long,
        env = "CHATWIRE_OUTBOUND_QUEUE",
        default_value_t = 1024,
        global = true
    )]
    outbound_queue: usize,
    /// Logged-in connections per user (0 = off).
    #[arg(
        long,
        env = "CHATWIRE_MAX_CONNECTIONS_PER_USER",
        default_value_t = 32,
        global = true
    )]
    max_connections_per_user: usize,
    /// Open connections per peer address (0 = off).
    #[arg(
        long,
        env = "CHATWIRE_MAX_CONNECTIONS_PER_PEER",
        default_value_t = 1000,
        global = true
    )]
    max_connections_per_peer: usize,
    /// Close connections idle this many seconds (4000).
    #[arg(
        long,
        env = "CHATWIRE_IDLE_TIMEOUT",
        default_value_t = 60,
        global = true
    )]
    idle_timeout_secs: u64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Manage users directly in the data directory (the server must not be running on it).
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Copy a stopped server's SQLite data dir (--data-dir) into PostgreSQL (--postgres),
    /// keeping every seq, uuid, token, read mark and the store epoch.
    #[cfg(feature = "postgres")]
    MigrateToPostgres {
        /// Delete the chatwire data already in the database instead of refusing to copy.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Create a user (as the admin API's AddUser does).
    Add {
        /// Short user name (`alice`) or full name (`alice@<domain>`).
        name: String,
        /// Password (8-128 characters).
        #[arg(long, env = "CHATWIRE_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Display name (default: the user name).
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn config(opts: &Options) -> Config {
    let storage = if opts.memory {
        Storage::Memory
    } else {
        Storage::Sqlite(opts.data_dir.clone())
    };
    #[cfg(feature = "postgres")]
    let storage = match &opts.postgres {
        Some(url) => Storage::Postgres(chatwire_server::store::PostgresUrl::new(url)),
        None => storage,
    };
    let mut config = Config::new(opts.listen)
        .storage(storage)
        .domain(opts.domain.clone());
    config.api_key = opts.api_key.clone();
    config.limits.requests_per_second = opts.requests_per_second;
    config.limits.requests_per_minute = opts.requests_per_minute;
    config.limits.max_frame_bytes = opts.max_frame_bytes;
    config.limits.outbound_queue = opts.outbound_queue;
    config.limits.max_connections_per_user = opts.max_connections_per_user;
    config.limits.max_connections_per_peer = opts.max_connections_per_peer;
    config.limits.idle_timeout = std::time::Duration::from_secs(opts.idle_timeout_secs);
    if let (Some(cert), Some(key)) = (&opts.tls_cert, &opts.tls_key) {
        config.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    config
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "chatwire_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut config = config(&cli.opts);
    match cli.command {
        None => serve(config).await,
        #[cfg(feature = "postgres")]
        Some(Cmd::MigrateToPostgres { replace }) => migrate_to_postgres(&cli.opts, replace).await,
        Some(Cmd::User {
            command:
                UserCmd::Add {
                    name,
                    password,
                    display_name,
                },
        }) => {
            // Run the server privately on loopback, add the user through the same logic as
            // the admin API, then stop (flushing the store).
            config.listen = "127.0.0.1:0".parse().expect("valid address");
            let server = match RunningServer::start(config).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let display = display_name.unwrap_or_else(|| name.clone());
            let result = if !(8..=128).contains(&password.chars().count()) {
                Err("password must have 8 to 128 characters".to_string())
            } else {
                server
                    .add_user(&name, &display, &password)
                    .await
                    .map_err(|e| e.to_string())
            };
            server.shutdown().await;
            match result {
                Ok(info) => {
                    println!(
                        "added {}@{} (admin user_id {}, IM user id {})",
                        info.user_name, cli.opts.domain, info.user_id, info.im_id
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[cfg(feature = "postgres")]
async fn migrate_to_postgres(opts: &Options, replace: bool) -> ExitCode {
    let Some(url) = &opts.postgres else {
        eprintln!("error: pass --postgres URL (or set CHATWIRE_POSTGRES) to name the target");
        return ExitCode::FAILURE;
    };
    let (dir, url) = (
        opts.data_dir.clone(),
        chatwire_server::store::PostgresUrl::new(url),
    );
    let copied = tokio::task::spawn_blocking(move || {
        chatwire_server::store::copy_sqlite_to_postgres(&dir, &url, replace)
    })
    .await;
    match copied {
        Ok(Ok(r)) => {
            println!(
                "copied {} users, {} tokens, {} conversations, {} memberships, {} messages, \
                 {} events, {} idempotency keys; store epoch {}",
                r.users,
                r.tokens,
                r.conversations,
                r.members,
                r.messages,
                r.events,
                r.idempotency_keys,
                r.epoch
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    if config.api_key.is_none() {
        tracing::warn!("no --api-key: the admin API refuses every call");
    }
    let server = match RunningServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "chatwire-server listening on {} (admin API at {})",
        server.ws_url(),
        server.admin_url()
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
