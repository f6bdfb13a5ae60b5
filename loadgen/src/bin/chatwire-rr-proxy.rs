//! `chatwire-rr-proxy`: a round-robin TCP proxy in front of several chatwire-server nodes, the
//! smallest stand-in for a load balancer (for `scripts/cluster.sh`, `tests/cluster.rs` and the
//! Web SDK interop run against a cluster).
//!
//! Each new client connection goes to the next backend in turn; a backend that does not accept
//! (refused, or no answer within the connect timeout) is skipped for this connection and the next
//! one is tried, so a client whose node died reconnects "elsewhere", as behind a real load
//! balancer. When every backend refuses, the client connection is closed. Bytes are copied both
//! ways unchanged (WebSocket upgrades included); when either side closes, so does the other.
//!
//! On start it prints one line `LISTEN=<addr>` on stdout (useful with `--listen 127.0.0.1:0`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::net::{TcpListener, TcpStream};

/// Round-robin TCP proxy: each new connection goes to the next backend that accepts it.
#[derive(Parser, Debug)]
#[command(about)]
struct Cli {
    /// Listen address (port 0: any free port, printed as `LISTEN=`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A backend address (`host:port`); repeat for each node, in round-robin order.
    #[arg(long = "to", required = true)]
    to: Vec<String>,
    /// Milliseconds to wait for a backend to accept before trying the next one.
    #[arg(long, default_value_t = 1000)]
    connect_timeout_ms: u64,
}

/// The backends and the round-robin cursor.
struct Backends {
    addrs: Vec<String>,
    next: AtomicUsize,
    timeout: Duration,
}

impl Backends {
    /// Connects to the next backend that accepts, starting after the previous connection's.
    async fn connect(&self) -> Option<(TcpStream, &str)> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.addrs.len() {
            let addr = &self.addrs[(start + i) % self.addrs.len()];
            match tokio::time::timeout(self.timeout, TcpStream::connect(addr.as_str())).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Some((s, addr));
                }
                Ok(Err(e)) => tracing::debug!(backend = %addr, error = %e, "backend refused"),
                Err(_) => tracing::debug!(backend = %addr, "backend connect timed out"),
            }
        }
        None
    }
}

async fn serve(mut client: TcpStream, peer: SocketAddr, backends: Arc<Backends>) {
    let _ = client.set_nodelay(true);
    let Some((mut server, addr)) = backends.connect().await else {
        tracing::warn!(%peer, "no backend accepted the connection");
        return;
    };
    tracing::debug!(%peer, backend = %addr, "proxying");
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "chatwire_rr_proxy=info".into()),
        )
        .init();
    let cli = Cli::parse();
    let listener = match TcpListener::bind(cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %cli.listen, error = %e, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "no local address");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The one line of machine-readable output; scripts wait for it.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "LISTEN={local}");
    let _ = out.flush();
    tracing::info!(listen = %local, backends = ?cli.to, "round-robin proxy up");
    let backends = Arc::new(Backends {
        addrs: cli.to,
        next: AtomicUsize::new(0),
        timeout: Duration::from_millis(cli.connect_timeout_ms),
    });
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                tokio::spawn(serve(client, peer, backends.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
