//! Running a real server inside tests and examples.

use crate::config::{Config, PasswordCost, Storage};
use crate::server::{RunningServer, ServerError};

/// Starts a real server on `127.0.0.1` with an ephemeral port, in-memory storage, a random
/// api key and fast password hashing (never use that outside tests).
///
/// ```no_run
/// # async fn demo() {
/// let server = chatwire_server::testing::start().await.unwrap();
/// let alice = server.add_user("alice", "Alice", "password1").await.unwrap();
/// println!("{} is user {} at {}", alice.user_name, alice.im_id, server.ws_url());
/// # }
/// ```
pub async fn start() -> Result<RunningServer, ServerError> {
    RunningServer::start(config(Storage::Memory)).await
}

/// The configuration [`start`] uses, with the given storage (e.g. a temporary data dir).
pub fn config(storage: Storage) -> Config {
    let mut config = Config::new("127.0.0.1:0".parse().expect("valid address")).storage(storage);
    config.api_key = Some(format!("test-{}", uuid::Uuid::new_v4().simple()));
    config.password_cost = PasswordCost::Fast;
    config
}
