//! Password hashing and login throttling.

mod password;
mod throttle;

pub use password::Hasher;
pub(crate) use throttle::Throttle;
