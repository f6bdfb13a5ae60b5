//! WebSocket transport: one task per connection (a read loop and a writer), the session
//! layer and the per-connection limits. Above the engine: it decodes requests for the engine
//! and turns the engine's [`Frame`](crate::outbound::Frame)s into WebSocket messages.
//!
//! Inside, imports run one way: `connection` (the read loop) uses `dispatch`, `session`,
//! `writer`, `ratelimit` and `services`; `dispatch` uses `session` and `ratelimit`; `session`
//! uses `services`.

mod connection;
mod dispatch;
mod ratelimit;
mod services;
mod session;
mod writer;

pub(crate) use connection::serve;
pub(crate) use services::{PeerSlot, Services};
