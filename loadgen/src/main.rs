//! `chatwire-load`: open-loop load generator for chatwire, the bare WebSocket floor
//! (`floor-server`) and nats-server over WebSocket. See `bench/README.md`.

mod common;
mod resume;
mod scenarios;
mod summary;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator with named scenarios; prints one JSON line and a table per run.
#[derive(Parser, Debug)]
#[command(about)]
pub struct Cli {
    /// Options of every scenario.
    #[command(flatten)]
    pub common: Common,
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// What is measured.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// chatwire-server (`/platform`, JSON frames, logins).
    Chatwire,
    /// floor-server (plain text frames).
    Floor,
    /// nats-server over WebSocket (CONNECT/SUB/PUB).
    Nats,
}

impl Target {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Chatwire => "chatwire",
            Target::Floor => "floor",
            Target::Nats => "nats",
        }
    }
}

/// Options of every scenario.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server kind.
    #[arg(long, value_enum, default_value = "chatwire", global = true)]
    pub target: Target,
    /// WebSocket URL (chatwire: `ws://host:port/platform`).
    #[arg(long, default_value = "ws://127.0.0.1:9000/platform", global = true)]
    pub url: String,
    /// chatwire, big-room: the URL the receiving connections log in at (default: --url). With
    /// another node of a cluster here, every delivery crosses nodes (the sender, the users and
    /// the conversation are set up through --url).
    #[arg(long, global = true)]
    pub receiver_url: Option<String>,
    /// chatwire, durable: more URLs (other nodes of a cluster); the senders are spread round
    /// robin over --url and these. Repeat for each node.
    #[arg(long = "also-url", global = true)]
    pub also_urls: Vec<String>,
    /// Admin API key (chatwire).
    #[arg(long, default_value = "bench-key", global = true)]
    pub api_key: String,
    /// User domain (chatwire).
    #[arg(long, default_value = "chatwire.local", global = true)]
    pub domain: String,
    /// Prefix of generated user names (unique per run; default derived from the pid).
    #[arg(long, global = true)]
    pub user_prefix: Option<String>,
    /// Connections opened / users created concurrently.
    #[arg(long, default_value_t = 16, global = true)]
    pub concurrency: usize,
    /// Peers (floor, nats): pad each message with spaces after its marker so that a delivered
    /// frame is about this many bytes. `bench/run.sh` passes the size of chatwire's delivered
    /// frames, so every target moves the same bytes per delivery.
    #[arg(long, default_value_t = 0, global = true)]
    pub pad_to: usize,
    /// Server process whose CPU use during the load window is reported (`server_cpu_pct`).
    #[arg(long, global = true)]
    pub cpu_pid: Option<u32>,
    /// Seconds to wait for outstanding deliveries after the last send.
    #[arg(long, default_value_t = 5.0, global = true)]
    pub drain_seconds: f64,
}

impl Common {
    /// `host:port` of the URL.
    pub fn host(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }

    /// The URL receiving connections use: `--receiver-url`, else `--url`.
    pub fn receiver_url(&self) -> &str {
        self.receiver_url.as_deref().unwrap_or(&self.url)
    }

    /// `text` padded with spaces to `--pad-to` bytes, less `overhead` (the bytes the target's
    /// framing adds around it).
    pub fn padded(&self, mut text: String, overhead: usize) -> String {
        let want = self.pad_to.saturating_sub(overhead);
        if text.len() < want {
            text.extend(std::iter::repeat_n(' ', want - text.len()));
        }
        text
    }

    /// The user-name prefix for scenario `tag`.
    pub fn prefix(&self, tag: &str) -> String {
        match &self.user_prefix {
            Some(p) => format!("{p}{tag}"),
            None => format!("lg{}{tag}", std::process::id()),
        }
    }
}

/// The scenarios.
#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// One conversation, one sender, N receiving connections.
    BigRoom {
        /// Receiving connections.
        #[arg(long, default_value_t = 100)]
        receivers: usize,
        /// Receiving users (connections are spread over them; chatwire allows 999 per room).
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Many small conversations; each user has one connection and is in several rooms.
    SmallRooms {
        /// Conversations.
        #[arg(long, default_value_t = 1000)]
        rooms: usize,
        /// Participants per conversation.
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Users (= connections); default rooms x members.
        #[arg(long)]
        users: Option<usize>,
        /// Messages per second over all rooms.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Send -> ack latency and throughput (run the server with --data-dir).
    Durable {
        /// Messages per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Sending connections (each its own user and conversation; rate is split).
        #[arg(long, default_value_t = 1)]
        senders: usize,
    },
    /// Pre-fill a conversation, then page retransmit windows of 100 as fast as possible.
    CatchUp {
        /// Events to pre-fill.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Paging clients.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Seconds of paging.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// N idle logged-in connections; server RSS delta per connection.
    Idle {
        /// Connections.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Users (connections are spread over them).
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Server pid (for `/proc/<pid>/status`).
        #[arg(long)]
        server_pid: u32,
        /// Seconds to hold the connections before measuring.
        #[arg(long, default_value_t = 2.0)]
        settle_seconds: f64,
    },
    /// Fill a data dir through a server, stop it, time the restart until a WebSocket opens.
    ColdStart {
        /// chatwire-server binary.
        #[arg(long)]
        server_bin: String,
        /// Data directory (reused if --skip-fill).
        #[arg(long)]
        data_dir: String,
        /// Port for the spawned server.
        #[arg(long, default_value_t = 9050)]
        port: u16,
        /// Events to store.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Do not fill; only time the start on the existing data dir.
        #[arg(long)]
        skip_fill: bool,
        /// Restarts to time (the best and the median are reported).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Prints the comparison table from a file of result lines written by `bench/run.sh`
    /// (`{"label":..,"cpu_pct":..,"rss_max_kib":..,"result":{..}}`).
    Summarize {
        /// The JSON-lines file.
        file: String,
    },
    /// Durable client state through the SDK: resume after a restart with one missed message in
    /// each of N conversations (time, requests, nothing lost), then sends through the outbox.
    Resume {
        /// Conversations the resuming user is in (one missed message each).
        #[arg(long, default_value_t = 1000)]
        conversations: usize,
        /// Messages sent at once through the outbox afterwards (0: skip).
        #[arg(long, default_value_t = 0)]
        sends: usize,
        /// Connections of the other user that create the conversations and send.
        #[arg(long, default_value_t = 30)]
        senders: usize,
    },
    /// events/s through the SDK's `events()` vs a raw tokio-tungstenite client, same stream.
    SdkDispatch {
        /// Messages to send.
        #[arg(long, default_value_t = 50_000)]
        events: u64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match scenarios::run(cli).await {
        Ok(ok) => {
            if ok {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("chatwire-load: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
