//! What nodes sharing one database tell each other over the bus (NATS with the `cluster`
//! feature): committed groups (events and the rows they changed), presence, typing, heartbeats.
//! The engine pushes [`Outgoing`] messages into a channel and receives [`Incoming`] ones as
//! commands; the transport of the bus (`nats.rs`) is the only code that names NATS.
//!
//! The bus is lossy: the database is the log. A lost group is found by a position check (a
//! node compares its cached last seqs with the database) and read back from the log.

// Without the `cluster` feature nothing builds a bus: the engine only checks for one.
#![cfg_attr(not(feature = "cluster"), allow(dead_code))]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A node's id: new for every process.
pub type NodeId = Uuid;

/// Subject prefix of every bus message.
pub const SUBJECT_PREFIX: &str = "chatwire";

/// One logged event, with what a receiving node needs to deliver it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    /// Conversation uuid.
    pub conversation: Uuid,
    /// Its seq.
    pub seq: u64,
    /// Event name.
    pub event: String,
    /// Initiator's IM id.
    pub initiator: u64,
    /// Whether it is a message event (visibility in uber conversations).
    pub is_message: bool,
    /// The broadcast payload, exactly as logged.
    pub payload: String,
}

/// A group one node committed: its events in seq order per conversation, and which users'
/// records and which conversations' rows (other than a last seq bump) it changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Committed {
    /// The committing node.
    pub node: NodeId,
    /// Logged events.
    pub events: Vec<WireEvent>,
    /// IM ids of changed user records.
    pub users: Vec<u64>,
    /// Conversations whose row or memberships changed beyond a message.
    pub conversations: Vec<Uuid>,
    /// Token hashes deleted (refresh, password change): other nodes forget them.
    pub revoked_tokens: Vec<String>,
    /// The `request_uuid` of the request that caused the events (sent with them on every
    /// node, as local delivery does).
    #[serde(default)]
    pub request_uuid: Option<String>,
    /// Frames of the same request that are not in the log (a read mark, the removal of an
    /// emptied conversation), for the named users' connections on every node.
    #[serde(default)]
    pub unlogged: Vec<Unlogged>,
}

/// A frame that is not in the log, for every connection of `users` on the receiving node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unlogged {
    /// IM ids of the recipients.
    pub users: Vec<u64>,
    /// The frame, as sent to them on the committing node.
    pub frame: String,
}

/// A change of how many online connections a user has on one node (0 = none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// The node.
    pub node: NodeId,
    /// IM id.
    pub user: u64,
    /// Whether the user has an online connection on that node.
    pub online: bool,
    /// How many logged-in connections the user has on that node (the per-user connection
    /// cap counts every node's).
    #[serde(default)]
    pub connections: u32,
    /// The UNIX time of the change.
    pub at: i64,
}

/// A typing notification to deliver to a conversation's participants on every node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Typing {
    /// The sending node.
    pub node: NodeId,
    /// Conversation uuid.
    pub conversation: Uuid,
    /// The typing user (not sent back to them).
    pub user: u64,
    /// The frame, as sent to other participants.
    pub frame: String,
}

/// A node is alive; with the users it has online (so that a node that joins, or missed a
/// presence change, converges within one period).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node.
    pub node: NodeId,
    /// IM ids of users with an online connection on that node.
    pub online: Vec<u64>,
    /// (IM id, logged-in connections) of every user connected to that node.
    #[serde(default)]
    pub connections: Vec<(u64, u32)>,
}

/// A counted login failure on one node: every node's throttle counts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginFailed {
    /// The node.
    pub node: NodeId,
    /// The throttle's name key.
    pub name: String,
    /// The peer address.
    pub peer: std::net::IpAddr,
}

/// Every how many periodic position checks one is thorough.
pub const THOROUGH_EVERY: u32 = 8;

/// A message to publish.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// After a commit.
    Committed(Committed),
    /// A user's online state changed on this node.
    Presence(Presence),
    /// Typing.
    Typing(Typing),
    /// A counted login failure.
    LoginFailed(LoginFailed),
    /// Disconnect every connection of a user (admin deactivation, deletion, password change):
    /// close code and reason.
    Kick {
        /// The node that decided it.
        node: NodeId,
        /// IM id.
        user: u64,
        /// Close code.
        code: u16,
    },
}

/// What the bus hands to the engine.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// Another node committed.
    Committed(Committed),
    /// Another node's presence change.
    Presence(Presence),
    /// Another node's heartbeat.
    Heartbeat(Heartbeat),
    /// A peer missed its heartbeats: drop its presence, check positions.
    PeerDown(NodeId),
    /// Typing from another node.
    Typing(Typing),
    /// Close a user's connections here.
    Kick {
        /// IM id.
        user: u64,
        /// Close code.
        code: u16,
    },
    /// Compare cached positions with the database (periodically, after a reconnect). A
    /// thorough check also re-reads the records of the users connected here first (their
    /// conversation lists may have changed unannounced): after a reconnection, when a peer
    /// died, and every [`THOROUGH_EVERY`] periodic checks.
    PositionCheck {
        /// Re-read the connected users' records too.
        thorough: bool,
    },
}

/// The engine's side of the bus.
#[derive(Clone)]
pub struct BusLink {
    /// This node.
    pub node: NodeId,
    /// Messages to publish, in order.
    pub tx: tokio::sync::mpsc::UnboundedSender<Outgoing>,
    /// Users online on this node (kept by the engine, sent in each heartbeat).
    pub online: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
    /// Logged-in connections per user on this node (kept by the engine, sent in each
    /// heartbeat).
    pub connections: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, u32>>>,
}

impl BusLink {
    /// Queues a message (dropped if the bus task is gone: the bus is lossy anyway).
    pub fn publish(&self, msg: Outgoing) {
        let _ = self.tx.send(msg);
    }
}
