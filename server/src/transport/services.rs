//! What every connection task shares ([`Services`]) and the per-address connection limit
//! ([`PeerSlot`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::config::Config;
use crate::engine::EngineHandle;
use crate::metrics::Metrics;
use crate::security::{Hasher, Throttle};

/// What every connection task shares.
pub(crate) struct Services {
    pub engine: EngineHandle,
    pub config: Arc<Config>,
    pub throttle: Arc<Throttle>,
    /// The bus to the other nodes (login failures are counted on every node).
    pub bus: Option<crate::bus::BusLink>,
    pub hasher: Hasher,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Bumped to drop every connection abruptly (no close frame), like a network failure.
    pub kick: watch::Receiver<u64>,
    /// Open connections per peer address.
    pub peers: Mutex<HashMap<IpAddr, usize>>,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
}

/// Holds one place of a peer address's connection count until dropped.
pub(crate) struct PeerSlot {
    services: Arc<Services>,
    peer: IpAddr,
}

impl PeerSlot {
    /// Takes a place for `peer`, or `None` when the address is at its limit.
    pub fn take(services: &Arc<Services>, peer: IpAddr) -> Option<PeerSlot> {
        let limit = services.config.limits.max_connections_per_peer;
        let mut peers = services.peers.lock().unwrap_or_else(|e| e.into_inner());
        let count = peers.entry(peer).or_insert(0);
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            services: services.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut peers = self
            .services
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = peers.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}
