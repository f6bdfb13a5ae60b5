//! `floor-server`: a bare tokio-tungstenite broadcast server, the floor chatwire can reach.
//!
//! Every text frame a client sends is forwarded, unchanged, to every *other* client in the same
//! room. No auth, no JSON parsing, no persistence. A client joins rooms with the query string
//! (`ws://host:port/?rooms=1,2,3`; no query = room 0). A frame that starts with `#<room> ` goes
//! to that room; any other frame goes to room 0 (a plain broadcast to everyone without a query).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Bare WebSocket broadcast server (the benchmark floor).
#[derive(Parser, Debug)]
struct Cli {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
}

type Tx = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct Rooms {
    rooms: RwLock<HashMap<u64, Vec<(u64, Tx)>>>,
}

fn parse_rooms(query: Option<&str>) -> Vec<u64> {
    let mut out = Vec::new();
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(list) = pair.strip_prefix("rooms=") {
                out.extend(list.split(',').filter_map(|s| s.parse::<u64>().ok()));
            }
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

fn room_of(text: &str) -> u64 {
    text.strip_prefix('#')
        .and_then(|rest| rest.split(' ').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

// The handshake callback's error type (an HTTP response) is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
async fn handle(stream: TcpStream, id: u64, rooms: Arc<Rooms>) {
    let _ = stream.set_nodelay(true);
    let mut joined = vec![0u64];
    // Same buffer sizes as chatwire-server (2 KiB read, 8 KiB write), so idle RSS compares.
    let config = WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024);
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        |req: &Request, resp: Response| {
            joined = parse_rooms(req.uri().query());
            Ok(resp)
        },
        Some(config),
    )
    .await;
    let Ok(ws) = ws else { return };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    {
        let mut map = rooms.rooms.write().unwrap_or_else(|e| e.into_inner());
        for r in &joined {
            map.entry(*r).or_default().push((id, tx.clone()));
        }
    }
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.feed(msg).await.is_err() {
                return;
            }
            // Batch whatever is queued before flushing.
            while let Ok(more) = rx.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(text) => {
                let room = room_of(text.as_str());
                let msg = Message::Text(text);
                let map = rooms.rooms.read().unwrap_or_else(|e| e.into_inner());
                if let Some(members) = map.get(&room) {
                    for (other, tx) in members {
                        if *other != id {
                            let _ = tx.send(msg.clone());
                        }
                    }
                }
            }
            Message::Ping(p) => {
                let _ = tx.send(Message::Pong(p));
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    {
        let mut map = rooms.rooms.write().unwrap_or_else(|e| e.into_inner());
        for r in &joined {
            if let Some(v) = map.get_mut(r) {
                v.retain(|(other, _)| *other != id);
            }
        }
    }
    drop(tx);
    writer.abort();
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let listener = TcpListener::bind(cli.listen).await?;
    eprintln!("floor-server listening on {}", cli.listen);
    let rooms = Arc::new(Rooms::default());
    let next = AtomicU64::new(1);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = next.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(handle(stream, id, rooms.clone()));
    }
}
