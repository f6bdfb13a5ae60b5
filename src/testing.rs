//! A real chatwire-server in-process, for your application's tests (feature `testing`).
//!
//! No mock and no network: the server runs on `127.0.0.1` with an ephemeral port and
//! in-memory storage, with the limits of the specification.
//!
//! ```no_run
//! # async fn demo() -> chatwire::Result<()> {
//! use chatwire::testing::TestServer;
//! let server = TestServer::start().await;
//! let alice = server.add_user("alice").await;
//! let bob = server.add_user("bob").await;
//! let a = server.messenger(&alice).await?;
//! let chat = a.create_conversation(chatwire::NewConversation::chat().participant(bob.id)).await?;
//! a.send_message(chat.id, "hi").await?;
//! # Ok(()) }
//! ```

use chatwire_server::{Config, RunningServer, Storage};

use crate::{Messenger, Result, UserId};

/// A user created on a [`TestServer`].
#[derive(Debug, Clone)]
pub struct TestUser {
    /// IM user id.
    pub id: UserId,
    /// Full user name (`name@chatwire.local`).
    pub name: String,
    /// Password.
    pub password: String,
}

/// A chatwire-server running inside the test process.
pub struct TestServer {
    server: RunningServer,
}

impl TestServer {
    /// Starts a server with in-memory storage on an ephemeral port.
    ///
    /// # Panics
    /// If the server cannot start (no free port).
    pub async fn start() -> TestServer {
        Self::with_config(chatwire_server::testing::config(Storage::Memory)).await
    }

    /// Starts a server with a custom configuration (see [`chatwire_server::testing::config`]).
    ///
    /// # Panics
    /// If the server cannot start.
    pub async fn with_config(config: Config) -> TestServer {
        TestServer {
            server: RunningServer::start(config)
                .await
                .expect("chatwire-server starts"),
        }
    }

    /// The WebSocket URL for [`Messenger::builder`].
    pub fn url(&self) -> String {
        self.server.ws_url()
    }

    /// The server itself (admin URL, api key, dropping connections, shutdown).
    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// Creates a user (the admin API's `AddUser` logic) with a generated password.
    ///
    /// # Panics
    /// If the name is invalid or taken.
    pub async fn add_user(&self, name: &str) -> TestUser {
        let password = format!("{name}-password");
        let info = self
            .server
            .add_user(name, name, &password)
            .await
            .expect("user created");
        TestUser {
            id: info.im_id,
            name: format!("{}@{}", info.user_name, self.server.domain()),
            password,
        }
    }

    /// A messenger logged in as `user`.
    pub async fn messenger(&self, user: &TestUser) -> Result<Messenger> {
        Messenger::builder(&self.url())
            .password(&user.name, &user.password)
            .connect()
            .await
    }
}
