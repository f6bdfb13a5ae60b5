//! Connecting: [`MessengerBuilder`] and [`ReconnectPolicy`], with their documented defaults.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::checks::InvalidArgumentKind as Kind;
use crate::error::{Error, Result};
use crate::Messenger;

mod durable;
mod reconnect;

pub use reconnect::ReconnectPolicy;

/// Default time to wait for a reply: 20 s.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// assert_eq!(chatwire::DEFAULT_REQUEST_TIMEOUT, Duration::from_secs(20));
/// ```
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Default keep-alive ping interval: 15 s (the server closes a connection idle for 60 s).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// assert!(chatwire::DEFAULT_KEEP_ALIVE < Duration::from_secs(20));
/// ```
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Default capacity of the event buffer each stream reads from: 4 096 events.
///
/// # Examples
/// ```
/// assert_eq!(chatwire::DEFAULT_EVENT_BUFFER, 4096);
/// ```
pub const DEFAULT_EVENT_BUFFER: usize = 4096;
/// Default capacity of the command channel from [`Messenger`] handles to the connection task:
/// 1 024 requests.
///
/// When that many requests are queued and not yet taken by the task, further calls wait
/// (within their request timeout) until there is room; they do not fail.
///
/// # Examples
/// ```
/// assert_eq!(chatwire::DEFAULT_COMMAND_CAPACITY, 1024);
/// ```
pub const DEFAULT_COMMAND_CAPACITY: usize = 1024;
/// Minimum interval between two `typing` calls for one conversation: 10 s.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// assert_eq!(chatwire::TYPING_THROTTLE, Duration::from_secs(10));
/// ```
pub const TYPING_THROTTLE: Duration = Duration::from_secs(10);

/// How to log in.
#[derive(Clone)]
pub(crate) enum Credentials {
    Password {
        user: String,
        password: String,
    },
    Token {
        user: String,
        access_token: String,
        refresh_token: Option<String>,
    },
}

impl Credentials {
    pub fn user(&self) -> &str {
        match self {
            Credentials::Password { user, .. } | Credentials::Token { user, .. } => user,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user}, ***)"),
            Credentials::Token { user, .. } => write!(f, "Token({user}, ***)"),
        }
    }
}

/// Everything the connection task needs.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub url: Url,
    pub credentials: Credentials,
    pub request_timeout: Duration,
    pub reconnect: ReconnectPolicy,
    pub keep_alive: Duration,
    pub presence_heartbeat: Option<Duration>,
    pub event_buffer: usize,
    pub command_capacity: usize,
    pub retry_rate_limited: bool,
    pub store: Option<durable::StoreHandle>,
    pub ack_mode: crate::AckMode,
    /// A TLS configuration trusting custom roots (instead of the feature's default roots).
    #[cfg(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    ))]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// Builds a [`Messenger`]: server URL, credentials and options, each with a documented default.
///
/// # Examples
/// ```no_run
/// # async fn demo() -> chatwire::Result<()> {
/// use std::time::Duration;
/// use chatwire::{Messenger, ReconnectPolicy};
/// let messenger = Messenger::builder("ws://127.0.0.1:8080")
///     .password("alice@chatwire.local", "secret-password")
///     .request_timeout(Duration::from_secs(10))
///     .reconnect(ReconnectPolicy::default().max_attempts(20))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "call .connect().await to connect"]
pub struct MessengerBuilder {
    url: Result<Url>,
    credentials: Option<Credentials>,
    request_timeout: Duration,
    reconnect: ReconnectPolicy,
    keep_alive: Duration,
    presence_heartbeat: Option<Duration>,
    event_buffer: usize,
    command_capacity: usize,
    retry_rate_limited: bool,
    store: Option<durable::StoreHandle>,
    ack_mode: crate::AckMode,
    #[cfg(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    ))]
    tls: Option<Result<std::sync::Arc<rustls::ClientConfig>>>,
}

/// Normalizes a server URL: `ws://` or `wss://`; an empty path becomes `/platform`.
pub(crate) fn normalize_url(url: &str) -> Result<Url> {
    if !url.contains("://") {
        return Err(Error::invalid(
            Kind::ServerUrl,
            format!(
                "server URL {url:?} has no scheme: expected ws://host:port or wss://host \
                 (such as ws://{})",
                if url.trim().is_empty() {
                    "127.0.0.1:8080"
                } else {
                    url.trim()
                }
            ),
        ));
    }
    let mut url = Url::parse(url).map_err(|e| {
        Error::invalid(
            Kind::ServerUrl,
            format!(
                "server URL {url:?}: {e}; expected a ws:// or wss:// URL such as ws://127.0.0.1:8080"
            ),
        )
    })?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(Error::invalid(
            Kind::ServerUrl,
            format!(
                "server URL must be a ws:// or wss:// URL (such as wss://chat.example.com), not {}://",
                url.scheme()
            ),
        ));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/platform");
    }
    Ok(url)
}

impl MessengerBuilder {
    pub(crate) fn new(url: &str) -> Self {
        MessengerBuilder {
            url: normalize_url(url),
            credentials: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            reconnect: ReconnectPolicy::default(),
            keep_alive: DEFAULT_KEEP_ALIVE,
            presence_heartbeat: None,
            event_buffer: DEFAULT_EVENT_BUFFER,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
            retry_rate_limited: true,
            store: None,
            ack_mode: crate::AckMode::Auto,
            #[cfg(any(
                feature = "rustls-tls-native-roots",
                feature = "rustls-tls-webpki-roots"
            ))]
            tls: None,
        }
    }

    /// Trusts exactly the certificates in `pem` (one or more PEM `CERTIFICATE` blocks) for
    /// `wss://`, instead of the default roots: for development servers with a self-signed
    /// certificate or a private CA. Needs a `rustls-tls-*` feature.
    ///
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// let pem = std::fs::read("dev-ca.pem").unwrap();
    /// let m = chatwire::Messenger::builder("wss://localhost:8443")
    ///     .tls_root_certificates_pem(&pem)
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .connect()
    ///     .await?;
    /// # let _ = m; Ok(()) }
    /// ```
    #[cfg(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    ))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(
            feature = "rustls-tls-native-roots",
            feature = "rustls-tls-webpki-roots"
        )))
    )]
    pub fn tls_root_certificates_pem(mut self, pem: &[u8]) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let config = (|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| Error::invalid(Kind::Tls, format!("certificate PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::invalid(Kind::Tls, format!("certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(Error::invalid(Kind::Tls, "no certificate in the PEM data"));
            }
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::invalid(Kind::Tls, format!("TLS: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(std::sync::Arc::new(config))
        })();
        self.tls = Some(config);
        self
    }

    /// Logs in with a full user name (`name@app.account`) and password.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Password {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// Logs in with an access token from an earlier login ([`Messenger::tokens`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .access_token("alice@chatwire.local", "stored-access-token")
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn access_token(mut self, user: impl Into<String>, token: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Token {
            user: user.into(),
            access_token: token.into(),
            refresh_token: None,
        });
        self
    }

    /// With [`MessengerBuilder::access_token`]: a refresh token to use when the access token
    /// has expired.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .access_token("alice@chatwire.local", "stored-access-token")
    ///     .refresh_token("stored-refresh-token")
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        if let Some(Credentials::Token { refresh_token, .. }) = &mut self.credentials {
            *refresh_token = Some(token.into());
        }
        self
    }

    /// Time to wait for each reply (default [`DEFAULT_REQUEST_TIMEOUT`], 20 s).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .request_timeout(std::time::Duration::from_secs(5))
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Reconnection after a drop (default [`ReconnectPolicy::default`]).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .reconnect(chatwire::ReconnectPolicy::never())
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Keep-alive ping interval (default [`DEFAULT_KEEP_ALIVE`], 15 s; keep it under 20 s).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .keep_alive(std::time::Duration::from_secs(10))
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Sets this connection online at login and again every `interval` (default: off; the
    /// official demo uses 5 minutes).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .presence_heartbeat(std::time::Duration::from_secs(5 * 60))
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn presence_heartbeat(mut self, interval: Duration) -> Self {
        self.presence_heartbeat = Some(interval);
        self
    }

    /// Capacity of the event buffer (default [`DEFAULT_EVENT_BUFFER`]); a stream that falls
    /// further behind gets [`Event::Lagged`](crate::Event::Lagged).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .event_buffer(16_384)
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn event_buffer(mut self, capacity: usize) -> Self {
        self.event_buffer = capacity.max(16);
        self
    }

    /// Capacity of the command channel to the connection task (default
    /// [`DEFAULT_COMMAND_CAPACITY`], 1 024; at least 1). When it is full, calls wait for room
    /// (counted in their request timeout) instead of failing.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .command_capacity(64)
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn command_capacity(mut self, capacity: usize) -> Self {
        self.command_capacity = capacity.max(1);
        self
    }

    /// Whether calls the server refuses for its rate limit (codes 32 and 33: nothing was
    /// executed) are sent again automatically, within the request timeout (default `true`).
    ///
    /// The messenger already paces every request under the limits the server advertises at
    /// login, so refusals are rare; with `false` a refused call fails at once with
    /// [`Error::Server`](crate::Error::Server) code 32 or 33 ("fail fast").
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::Messenger;
    /// let messenger = Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "secret-password")
    ///     .retry_rate_limited(false)
    ///     .connect()
    ///     .await?;
    /// # let _ = messenger;
    /// # Ok(()) }
    /// ```
    pub fn retry_rate_limited(mut self, retry: bool) -> Self {
        self.retry_rate_limited = retry;
        self
    }

    /// Connects, logs in, and starts the background connection task.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad URL or missing credentials, [`Error::Connect`]
    /// when the server cannot be reached (its [`ConnectStage`](crate::ConnectStage) says where
    /// it failed), [`Error::LoginFailed`] when the login is refused.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> chatwire::Result<()> {
    /// use chatwire::{Error, Messenger};
    /// match Messenger::builder("ws://127.0.0.1:8080")
    ///     .password("alice@chatwire.local", "wrong")
    ///     .connect()
    ///     .await
    /// {
    ///     Ok(messenger) => println!("logged in as {}", messenger.user_id()),
    ///     Err(Error::LoginFailed { code: 401, .. }) => eprintln!("bad user name or password"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<Messenger> {
        let url = self.url?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::invalid(Kind::NoCredentials, "no credentials given"))?;
        #[cfg(any(
            feature = "rustls-tls-native-roots",
            feature = "rustls-tls-webpki-roots"
        ))]
        let tls = self.tls.transpose()?;
        let config = Config {
            url,
            credentials,
            request_timeout: self.request_timeout,
            reconnect: self.reconnect,
            keep_alive: self.keep_alive,
            presence_heartbeat: self.presence_heartbeat,
            event_buffer: self.event_buffer,
            command_capacity: self.command_capacity,
            retry_rate_limited: self.retry_rate_limited,
            store: self.store,
            ack_mode: self.ack_mode,
            #[cfg(any(
                feature = "rustls-tls-native-roots",
                feature = "rustls-tls-webpki-roots"
            ))]
            tls,
        };
        Messenger::start(config).await
    }
}

#[cfg(test)]
mod url_tests {
    use super::normalize_url;

    fn message(url: &str) -> String {
        normalize_url(url).unwrap_err().to_string()
    }

    #[test]
    fn a_url_without_scheme_gets_the_expected_form() {
        let m = message("127.0.0.1:8080");
        assert!(m.contains("has no scheme"), "{m}");
        assert!(m.contains("ws://127.0.0.1:8080"), "{m}");
        assert!(message("localhost:8080").contains("ws://localhost:8080"));
        assert!(message("http://example.com").contains("ws:// or wss://"));
        assert_eq!(
            normalize_url("ws://127.0.0.1:8080").unwrap().as_str(),
            "ws://127.0.0.1:8080/platform"
        );
    }
}
