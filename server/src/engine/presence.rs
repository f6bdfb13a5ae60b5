//! Presence and connection counts across nodes: each node publishes when a user's online state
//! or connection count on it changes (and all of them in every heartbeat); a user is online if
//! any node has an online connection of theirs; the per-user connection cap counts every node.

use std::collections::HashSet;

use chatwire_protocol::{EventName, EventObject, EventPayload, StatusObject, UserId};

use super::{encode_frame, now, Engine};
use crate::bus::{Heartbeat, NodeId, Outgoing, Presence};

impl Engine {
    /// Whether the user has an online connection on another node.
    pub(crate) fn online_elsewhere(&self, user: UserId) -> bool {
        self.remote_online.get(&user).is_some_and(|n| !n.is_empty())
    }

    /// Publishes the user's online state and connection count on this node if either
    /// changed (after a login, a `setStatus`, a connection closing).
    pub(crate) fn publish_presence(&mut self, user: UserId, online_here: bool) {
        let Some(bus) = &self.bus else {
            return;
        };
        let count = self.state.users.get(&user).map_or(0, |u| u.conns.len()) as u32;
        let online_changed = if online_here {
            self.local_online.insert(user)
        } else {
            self.local_online.remove(&user)
        };
        let count_changed = match bus.connections.lock() {
            Ok(mut m) => {
                let before = if count == 0 {
                    m.remove(&user.get())
                } else {
                    m.insert(user.get(), count)
                };
                before.unwrap_or(0) != count
            }
            Err(_) => false,
        };
        if online_changed {
            if let Ok(mut set) = bus.online.lock() {
                if online_here {
                    set.insert(user.get());
                } else {
                    set.remove(&user.get());
                }
            }
        }
        if online_changed || count_changed {
            bus.publish(Outgoing::Presence(Presence {
                node: bus.node,
                user: user.get(),
                online: online_here,
                connections: count,
                at: now(),
            }));
        }
    }

    /// Logged-in connections of `user` on other nodes (as last heard).
    pub(crate) fn connections_elsewhere(&self, user: UserId) -> usize {
        self.remote_conns
            .get(&user)
            .map_or(0, |m| m.values().map(|n| *n as usize).sum())
    }

    /// Records how many connections `user` has on `node`.
    pub(crate) fn set_remote_conns(&mut self, user: UserId, node: NodeId, count: u32) {
        let m = self.remote_conns.entry(user).or_default();
        if count == 0 {
            m.remove(&node);
        } else {
            m.insert(node, count);
        }
        if m.is_empty() {
            self.remote_conns.remove(&user);
        }
    }

    /// Records whether `user` is online on `node`; tells this node's audience when the user's
    /// aggregate state changes.
    pub(crate) fn set_remote_online(&mut self, user: UserId, node: NodeId, online: bool) {
        let before = self.aggregate_online(user);
        let nodes = self.remote_online.entry(user).or_default();
        let changed = if online {
            nodes.insert(node)
        } else {
            nodes.remove(&node)
        };
        if nodes.is_empty() {
            self.remote_online.remove(&user);
        }
        if !changed || self.aggregate_online(user) == before {
            return;
        }
        let mut payload = EventPayload::new(Some(user), "setStatus", now());
        payload.object = Some(EventObject::Status(StatusObject { online: !before }));
        let frame = encode_frame(EventName::SetStatus, None, payload);
        let to = self.conns_of(self.presence_audience(user));
        self.out.send(frame, to);
    }

    pub(crate) fn remote_presence(&mut self, p: Presence) {
        if let Some(user) = UserId::new(p.user) {
            self.set_remote_conns(user, p.node, p.connections);
            self.set_remote_online(user, p.node, p.online);
        }
    }

    /// A heartbeat carries the node's whole online set: converge on it.
    pub(crate) fn remote_heartbeat(&mut self, h: Heartbeat) {
        let counts: std::collections::HashMap<u64, u32> = h.connections.iter().copied().collect();
        let stale: Vec<UserId> = self
            .remote_conns
            .iter()
            .filter(|(u, m)| m.contains_key(&h.node) && !counts.contains_key(&u.get()))
            .map(|(u, _)| *u)
            .collect();
        for u in stale {
            self.set_remote_conns(u, h.node, 0);
        }
        for (u, n) in &counts {
            if let Some(u) = UserId::new(*u) {
                self.set_remote_conns(u, h.node, *n);
            }
        }
        let online: HashSet<u64> = h.online.iter().copied().collect();
        let was: Vec<UserId> = self
            .remote_online
            .iter()
            .filter(|(u, nodes)| nodes.contains(&h.node) && !online.contains(&u.get()))
            .map(|(u, _)| *u)
            .collect();
        for u in was {
            self.set_remote_online(u, h.node, false);
        }
        for u in online.iter().filter_map(|u| UserId::new(*u)) {
            self.set_remote_online(u, h.node, true);
        }
    }
}
