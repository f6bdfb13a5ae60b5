//! WebSocket transport: one task per connection (read loop + writer), the session layer and
//! the per-connection limits.

mod connection;
pub(crate) mod hub;
mod ratelimit;
mod session;

pub(crate) use connection::{serve, PeerSlot, Services};
