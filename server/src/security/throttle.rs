//! Failed-login throttling per user name and per peer address over a sliding window.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts login failures; a name or address at its limit is refused (429) without a
/// credential check until old failures leave the window.
pub(crate) struct Throttle {
    per_name: u32,
    per_peer: u32,
    window: Duration,
    names: Mutex<HashMap<String, VecDeque<Instant>>>,
    peers: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

impl Throttle {
    pub fn new(per_name: u32, per_peer: u32, window: Duration) -> Self {
        Throttle {
            per_name,
            per_peer,
            window,
            names: Mutex::default(),
            peers: Mutex::default(),
        }
    }

    /// Whether attempts for this name or from this address are currently refused.
    pub fn blocked(&self, name: &str, peer: IpAddr) -> bool {
        let now = Instant::now();
        let over = |q: Option<&mut VecDeque<Instant>>, limit: u32| {
            limit > 0
                && q.is_some_and(|q| {
                    prune(q, now, self.window);
                    q.len() >= limit as usize
                })
        };
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        over(names.get_mut(name), self.per_name) || over(peers.get_mut(&peer), self.per_peer)
    }

    /// Records a counted failure.
    pub fn failed(&self, name: &str, peer: IpAddr) {
        let now = Instant::now();
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let q = names.entry(name.to_string()).or_default();
        prune(q, now, self.window);
        q.push_back(now);
        drop(names);
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let q = peers.entry(peer).or_default();
        prune(q, now, self.window);
        q.push_back(now);
        // Keep the maps from growing without bound under a spray of names.
        if peers.len() > 100_000 {
            peers.retain(|_, q| {
                prune(q, now, self.window);
                !q.is_empty()
            });
        }
        drop(peers);
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() > 100_000 {
            names.retain(|_, q| {
                prune(q, now, self.window);
                !q.is_empty()
            });
        }
    }
}
