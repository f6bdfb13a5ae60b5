//! A real chatwire-server in-process, for your application's tests (feature `testing`).
//!
//! No mock and no network: the server runs on `127.0.0.1` with an ephemeral port and
//! in-memory storage, with the limits of the specification.
//!
//! # Examples
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
///
/// # Examples
/// ```no_run
/// # async fn demo() -> chatwire::Result<()> {
/// use chatwire::{testing::TestServer, Messenger};
/// let server = TestServer::start().await;
/// let alice = server.add_user("alice").await;
/// let m = Messenger::builder(&server.url()).password(&alice.name, &alice.password).connect().await?;
/// assert_eq!(m.user_id(), alice.id);
/// # Ok(()) }
/// ```
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
///
/// # Examples
/// ```no_run
/// # async fn demo() -> chatwire::Result<()> {
/// use chatwire::testing::TestServer;
/// let server = TestServer::start().await;
/// let alice = server.messenger(&server.add_user("alice").await).await?;
/// let bob = server.add_user("bob").await;
/// let chat = alice.create_conversation(chatwire::NewConversation::direct(bob.id)).await?;
/// assert!(chat.direct);
/// # Ok(()) }
/// ```
pub struct TestServer {
    server: RunningServer,
}

impl TestServer {
    /// Starts a server with in-memory storage on an ephemeral port.
    ///
    /// # Panics
    /// If the server cannot start (no free port).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// let server = chatwire::testing::TestServer::start().await;
    /// println!("listening on {}", server.url());
    /// # Ok(()) }
    /// ```
    pub async fn start() -> TestServer {
        Self::with_config(chatwire_server::testing::config(Storage::Memory)).await
    }

    /// Starts a server with a custom configuration (see [`chatwire_server::testing::config`]).
    ///
    /// # Panics
    /// If the server cannot start.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::testing::TestServer;
    /// use chatwire_server::Storage;
    /// let mut config = chatwire_server::testing::config(Storage::Memory);
    /// config.limits.requests_per_second = 0; // no rate limit
    /// let server = TestServer::with_config(config).await;
    /// # let _ = server;
    /// # Ok(()) }
    /// ```
    pub async fn with_config(config: Config) -> TestServer {
        TestServer {
            server: RunningServer::start(config)
                .await
                .expect("chatwire-server starts"),
        }
    }

    /// The WebSocket URL for [`Messenger::builder`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// let server = chatwire::testing::TestServer::start().await;
    /// let builder = chatwire::Messenger::builder(&server.url());
    /// # let _ = builder;
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> String {
        self.server.ws_url()
    }

    /// The server itself (admin URL, api key, dropping connections, shutdown).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// let server = chatwire::testing::TestServer::start().await;
    /// let alice = server.messenger(&server.add_user("alice").await).await?;
    /// use chatwire::{ConnectionState, Event};
    /// use futures::StreamExt;
    /// let mut events = alice.events();
    /// // Simulate a network drop: the messenger reconnects and catches up on its own.
    /// server.server().drop_connections();
    /// let mut dropped = false;
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         Event::Connection(ConnectionState::Reconnecting { .. }) => dropped = true,
    ///         Event::Connection(ConnectionState::Live) if dropped => break,
    ///         _ => {}
    ///     }
    /// }
    /// alice.me().await?;
    /// # Ok(()) }
    /// ```
    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// Creates a user (the admin API's `AddUser` logic) with a generated password.
    ///
    /// # Panics
    /// If the name is invalid or taken.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// let server = chatwire::testing::TestServer::start().await;
    /// let alice = server.add_user("alice").await;
    /// assert_eq!(alice.name, "alice@chatwire.local");
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Errors
    /// The errors of [`MessengerBuilder::connect`](crate::MessengerBuilder::connect), e.g.
    /// [`Error::LoginFailed`](crate::Error::LoginFailed) with code 403 for a user deleted through
    /// the admin API.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// let server = chatwire::testing::TestServer::start().await;
    /// let alice = server.add_user("alice").await;
    /// let phone = server.messenger(&alice).await?;
    /// let laptop = server.messenger(&alice).await?; // a second connection of the same user
    /// assert_eq!(phone.user_id(), laptop.user_id());
    /// # Ok(()) }
    /// ```
    pub async fn messenger(&self, user: &TestUser) -> Result<Messenger> {
        Messenger::builder(&self.url())
            .password(&user.name, &user.password)
            .connect()
            .await
    }
}
