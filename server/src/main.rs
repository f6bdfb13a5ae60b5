//! `chatwire-server`: run the messaging server (`serve`, the default), or manage users on a
//! stopped server's data dir (`user add`), or copy a data dir into PostgreSQL
//! (`migrate-to-postgres`, feature `postgres`).
//!
//! Every flag can also be set with the environment variable `CHATWIRE_<FLAG>` (upper case,
//! `-` as `_`): `--max-frame-bytes` is `CHATWIRE_MAX_FRAME_BYTES`. Flags of `user add` use
//! `CHATWIRE_USER_<FLAG>`. Boolean variables accept 1/0, true/false, yes/no, on/off.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chatwire_server::{Config, RunningServer, Storage, TlsFiles, DEFAULT_DOMAIN};
use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// The close codes the server sends, for the help texts.
const CLOSE_CODES: &str = "\
WebSocket close codes the server sends:
  1000  normal closure
  1001  server shutting down (SIGTERM): clients reconnect at once
  1009  frame larger than --max-frame-bytes
  4000  nothing received for --idle-timeout-secs
  4001  not logged in within 30 s of connecting
  4002  too many failed logins on one connection
  4003  user deleted or deactivated through the admin API
  4004  slow consumer: --outbound-queue frames were waiting to be sent

Logs go to stderr; RUST_LOG sets the filter (default chatwire_server=info), --log-format json
makes them JSON lines.";

/// Environment variables renamed to match their flags: (old name, current name).
const ENV_ALIASES: &[(&str, &str)] = &[("CHATWIRE_IDLE_TIMEOUT", "CHATWIRE_IDLE_TIMEOUT_SECS")];

/// The chatwire messaging server (Voximplant Messaging v2 wire format).
///
/// Without a subcommand it runs the server, exactly as `chatwire-server serve`.
#[derive(Parser, Debug)]
#[command(version, about, after_help = CLOSE_CODES)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the server (the default without a subcommand).
    #[command(after_help = CLOSE_CODES)]
    Serve(ServeArgs),
    /// Manage users directly in the data directory (the server must not be running on it).
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// Copy a stopped server's SQLite data dir (--data-dir) into PostgreSQL (--postgres),
    /// keeping every seq, uuid, token, read mark and the store epoch, then exit.
    #[cfg(feature = "postgres")]
    MigrateToPostgres {
        #[command(flatten)]
        data: DataArgs,
        /// The target database (`postgres://user:password@host/dbname`).
        #[arg(long, env = "CHATWIRE_POSTGRES", hide_env_values = true)]
        postgres: String,
        /// Delete the chatwire data already in the database instead of refusing to copy.
        #[arg(long)]
        replace: bool,
    },
}

/// Options both the server and `user add` use.
#[derive(Args, Debug, Clone)]
struct DataArgs {
    /// Data directory (SQLite database `chatwire.db`) [default: chatwire-data].
    #[arg(long, env = "CHATWIRE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Application domain `<app>.<account>`: user names are `<name>@<domain>`
    /// [default: chatwire.local].
    #[arg(long, env = "CHATWIRE_DOMAIN")]
    domain: Option<String>,
}

impl DataArgs {
    /// These values, with the ones given before the subcommand filling the gaps.
    fn or(self, outer: &DataArgs) -> DataArgs {
        DataArgs {
            data_dir: self.data_dir.or_else(|| outer.data_dir.clone()),
            domain: self.domain.or_else(|| outer.domain.clone()),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("chatwire-data"))
    }

    fn domain(&self) -> String {
        self.domain
            .clone()
            .unwrap_or_else(|| DEFAULT_DOMAIN.to_string())
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable lines (colours only on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address (host:port; host names are resolved) serving `/platform` (WebSocket),
    /// `/healthz` and `/readyz`, and also the admin API and `/metrics` unless --admin-listen
    /// is given.
    #[arg(long, env = "CHATWIRE_LISTEN", default_value = "127.0.0.1:8080", value_parser = resolve)]
    listen: SocketAddr,
    /// A separate, internal address for the admin API (`/platform_api/*`) and `/metrics`; the
    /// public --listen address then serves neither.
    #[arg(long, env = "CHATWIRE_ADMIN_LISTEN", value_parser = resolve)]
    admin_listen: Option<SocketAddr>,
    /// Keep everything in memory (nothing survives a restart); excludes --data-dir.
    #[arg(long, env = "CHATWIRE_MEMORY",
          action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    memory: bool,
    /// Store everything in PostgreSQL at this URL (`postgres://user:password@host/dbname`)
    /// instead of the data dir; excludes --memory.
    #[cfg(feature = "postgres")]
    #[arg(long, env = "CHATWIRE_POSTGRES", hide_env_values = true)]
    postgres: Option<String>,
    /// Run as one of several nodes on the same --postgres database: the NATS server their
    /// live updates travel through (`nats://host:4222`).
    #[cfg(feature = "cluster")]
    #[arg(long, env = "CHATWIRE_NATS", requires = "postgres")]
    nats: Option<String>,
    /// Admin API key, sent as `Authorization: Bearer <key>` or `?api_key=<key>` (without one
    /// every admin call fails with error 100, and /metrics answers 401).
    #[arg(long, env = "CHATWIRE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Serve /metrics without the api key (for a scraper on a trusted network).
    #[arg(long, env = "CHATWIRE_METRICS_PUBLIC",
          action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    metrics_public: bool,
    /// TLS certificate chain (PEM); with --tls-key the listeners serve wss:// and https://.
    #[arg(long, env = "CHATWIRE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CHATWIRE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Messaging requests per rolling second per connection (0 = off; beyond it error 32).
    #[arg(long, env = "CHATWIRE_REQUESTS_PER_SECOND", default_value_t = 20)]
    requests_per_second: u32,
    /// Messaging requests per rolling minute per connection (0 = off; beyond it error 33).
    #[arg(long, env = "CHATWIRE_REQUESTS_PER_MINUTE", default_value_t = 600)]
    requests_per_minute: u32,
    /// Maximum client frame size in bytes (a larger frame gets error 1, then close 1009).
    #[arg(long, env = "CHATWIRE_MAX_FRAME_BYTES", default_value_t = 65536)]
    max_frame_bytes: usize,
    /// Outbound queue per connection, in frames (when it is full of frames the client has not
    /// read, the server closes the connection with 4004: slow consumer).
    #[arg(long, env = "CHATWIRE_OUTBOUND_QUEUE", default_value_t = 1024)]
    outbound_queue: usize,
    /// Logged-in connections per user (0 = off; beyond it the login fails with 429).
    #[arg(long, env = "CHATWIRE_MAX_CONNECTIONS_PER_USER", default_value_t = 32)]
    max_connections_per_user: usize,
    /// Open connections per peer address (0 = off; beyond it HTTP 429 before the upgrade).
    #[arg(
        long,
        env = "CHATWIRE_MAX_CONNECTIONS_PER_PEER",
        default_value_t = 1000
    )]
    max_connections_per_peer: usize,
    /// Close connections that sent nothing for this many seconds, with close code 4000 (idle).
    /// Environment: CHATWIRE_IDLE_TIMEOUT_SECS (the older CHATWIRE_IDLE_TIMEOUT still works).
    #[arg(long, env = "CHATWIRE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    idle_timeout_secs: u64,
    /// On SIGTERM or Ctrl-C: stop accepting, close clients with 1001 and finish the commits in
    /// flight within this many seconds, then exit.
    #[arg(long, env = "CHATWIRE_DRAIN_TIMEOUT_SECS", default_value_t = 10)]
    drain_timeout_secs: u64,
    /// Log format on stderr (the filter is RUST_LOG, default `chatwire_server=info`).
    #[arg(long, env = "CHATWIRE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Create a user (as the admin API's AddUser does), then exit.
    Add {
        /// Short user name (`alice`) or full name (`alice@<domain>`).
        name: String,
        /// Password (8-128 characters).
        #[arg(long, env = "CHATWIRE_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Display name (default: the user name).
        #[arg(long, env = "CHATWIRE_USER_DISPLAY_NAME")]
        display_name: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Resolves `host:port` (a host name or an IP address) to the first address it names.
fn resolve(value: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let hint = "expected host:port, such as 127.0.0.1:8080, [::]:8080 or localhost:8080";
    match value.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("{value} resolves to no address; {hint}")),
        Err(e) => Err(format!("cannot resolve {value}: {e}; {hint}")),
    }
}

fn config(opts: &ServeArgs) -> Config {
    let storage = if opts.memory {
        Storage::Memory
    } else {
        Storage::Sqlite(opts.data.data_dir())
    };
    #[cfg(feature = "postgres")]
    let storage = match &opts.postgres {
        Some(url) => Storage::Postgres(chatwire_server::store::PostgresUrl::new(url)),
        None => storage,
    };
    let mut config = Config::new(opts.listen)
        .storage(storage)
        .domain(opts.data.domain());
    config.api_key = opts.api_key.clone();
    #[cfg(feature = "cluster")]
    {
        config.nats = opts.nats.clone();
    }
    config.admin_listen = opts.admin_listen;
    config.metrics_public = opts.metrics_public;
    config.drain_timeout = Duration::from_secs(opts.drain_timeout_secs);
    config.limits.requests_per_second = opts.requests_per_second;
    config.limits.requests_per_minute = opts.requests_per_minute;
    config.limits.max_frame_bytes = opts.max_frame_bytes;
    config.limits.outbound_queue = opts.outbound_queue;
    config.limits.max_connections_per_user = opts.max_connections_per_user;
    config.limits.max_connections_per_peer = opts.max_connections_per_peer;
    config.limits.idle_timeout = Duration::from_secs(opts.idle_timeout_secs);
    if let (Some(cert), Some(key)) = (&opts.tls_cert, &opts.tls_key) {
        config.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    config
}

/// Logs to stderr: `RUST_LOG` or `default_filter`, colours only on a terminal (and never with
/// `NO_COLOR` set).
fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(ansi).init()
        }
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Parses the command line. Server flags given before a subcommand are refused (they would be
/// ignored); `--data-dir` and `--domain` may stand there, as they did before `serve` existed.
fn parse() -> Cli {
    let mut command = Cli::command();
    let matches = command.get_matches_mut();
    if matches.subcommand().is_some() {
        let misplaced: Vec<String> = matches
            .ids()
            .filter(|id| !matches!(id.as_str(), "data_dir" | "domain"))
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| format!("--{}", id.as_str().replace('_', "-")))
            .collect();
        if !misplaced.is_empty() {
            command
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "{} must come after the subcommand (e.g. `chatwire-server serve {}`)",
                        misplaced.join(", "),
                        misplaced[0]
                    ),
                )
                .exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Copies renamed environment variables to their current names (before any thread starts).
fn apply_env_aliases() {
    for (old, new) in ENV_ALIASES {
        if std::env::var_os(new).is_none() {
            if let Some(value) = std::env::var_os(old) {
                std::env::set_var(new, value);
            }
        }
    }
}

fn main() -> ExitCode {
    apply_env_aliases();
    let cli = parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match cli.command {
        None => runtime.block_on(serve(cli.serve)),
        Some(Cmd::Serve(args)) => {
            let args = ServeArgs {
                data: args.data.clone().or(&cli.serve.data),
                ..args
            };
            runtime.block_on(serve(args))
        }
        Some(Cmd::User {
            command:
                UserCmd::Add {
                    name,
                    password,
                    display_name,
                    data,
                },
        }) => {
            // A one-shot command: only warnings and errors are logged.
            init_logging(LogFormat::Text, "chatwire_server=warn");
            let data = data.or(&cli.serve.data);
            runtime.block_on(user_add(data, name, password, display_name))
        }
        #[cfg(feature = "postgres")]
        Some(Cmd::MigrateToPostgres {
            data,
            postgres,
            replace,
        }) => {
            init_logging(LogFormat::Text, "chatwire_server=warn");
            let data = data.or(&cli.serve.data);
            runtime.block_on(migrate_to_postgres(data, postgres, replace))
        }
    };
    // Everything that matters finished inside `block_on` (the store is flushed); tasks left
    // over (closing sockets) must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

async fn user_add(
    data: DataArgs,
    name: String,
    password: String,
    display_name: Option<String>,
) -> ExitCode {
    if !(8..=128).contains(&password.chars().count()) {
        eprintln!("error: the password must have 8 to 128 characters (--password)");
        return ExitCode::FAILURE;
    }
    // Run the server privately on loopback, add the user through the same logic as the admin
    // API, then stop (flushing the store).
    let config = Config::new("127.0.0.1:0".parse().expect("valid address"))
        .storage(Storage::Sqlite(data.data_dir()))
        .domain(data.domain());
    let server = match RunningServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let display = display_name.unwrap_or_else(|| name.clone());
    let result = server.add_user(&name, &display, &password).await;
    let domain = server.domain().to_string();
    server.shutdown().await;
    match result {
        Ok(info) => {
            println!(
                "added {}@{domain} (admin user_id {}, IM user id {})",
                info.user_name, info.user_id, info.im_id
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot add {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "postgres")]
async fn migrate_to_postgres(data: DataArgs, url: String, replace: bool) -> ExitCode {
    let dir = data.data_dir();
    let url = chatwire_server::store::PostgresUrl::new(&url);
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

async fn serve(args: ServeArgs) -> ExitCode {
    if args.memory && args.data.data_dir.is_some() {
        eprintln!(
            "error: --memory (CHATWIRE_MEMORY) and --data-dir (CHATWIRE_DATA_DIR) exclude each \
             other: give one of them"
        );
        return ExitCode::from(2);
    }
    #[cfg(feature = "postgres")]
    if args.memory && args.postgres.is_some() {
        eprintln!(
            "error: --memory (CHATWIRE_MEMORY) and --postgres (CHATWIRE_POSTGRES) exclude each \
             other: give one of them"
        );
        return ExitCode::from(2);
    }
    init_logging(args.log_format, "chatwire_server=info");
    let config = config(&args);
    if config.api_key.is_none() {
        tracing::warn!("no --api-key: the admin API refuses every call and /metrics answers 401");
    }
    let server = match RunningServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "chatwire-server listening on {} (admin API at {}, metrics at {}, health at {}/healthz)",
        server.ws_url(),
        server.admin_url(),
        server.metrics_url(),
        server.http_url(),
    );
    wait_for_signal().await;
    tracing::info!("signal received: shutting down");
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
