//! chatwire: a typed async Rust SDK for real-time messaging.
//!
//! The SDK itself is being built; today this crate re-exports the wire types of
//! [`chatwire_protocol`], which both the SDK and `chatwire-server` use.
//!
//! ```
//! use chatwire::protocol::Permissions;
//! assert!(Permissions::DEFAULT.contains(Permissions::WRITE));
//! ```

pub use chatwire_protocol as protocol;
