//! The outbound side of every connection, below the engine and the transport: encoded frames
//! ([`Frame`], shared by all their receivers) and each connection's bounded queue with its
//! close request ([`ConnShared`]), which counts replies apart from broadcasts and lends reply
//! room to requests ([`ReplyCredit`]).
//!
//! The engine pushes frames into the queues; the transport's writer task of each connection
//! takes them off and turns them into WebSocket messages. Neither side names the other here:
//! this module knows no engine, no transport and no WebSocket library.

mod frame;
mod queue;

pub(crate) use frame::Frame;
pub(crate) use queue::{CloseRequest, ConnId, ConnShared, Kind, Outbound, ReplyCredit};
