//! Connecting: [`MessengerBuilder`] and [`ReconnectPolicy`], with their documented defaults.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::checks::InvalidArgumentKind as Kind;
use crate::error::{Error, Result};
use crate::Messenger;

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
/// Minimum interval between two `typing` calls for one conversation: 10 s.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// assert_eq!(chatwire::TYPING_THROTTLE, Duration::from_secs(10));
/// ```
pub const TYPING_THROTTLE: Duration = Duration::from_secs(10);

/// How the SDK reconnects after the connection drops.
///
/// The first retry happens at once; retry `n >= 2` waits
/// `min(max_delay, initial_delay * multiplier^(n-2))`, reduced by a random jitter of up to
/// `jitter` (a fraction) so that many clients do not reconnect in lockstep.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use chatwire::ReconnectPolicy;
/// let p = ReconnectPolicy::default();
/// assert_eq!(p.delay_with(1, 0.0), Duration::ZERO);
/// assert_eq!(p.delay_with(2, 0.0), Duration::from_millis(500));
/// assert_eq!(p.delay_with(3, 0.0), Duration::from_secs(1));
/// assert_eq!(p.delay_with(30, 0.0), Duration::from_secs(30));
/// assert_eq!(p.delay_with(2, 1.0), Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// Delay before the second retry (default 500 ms).
    pub initial_delay: Duration,
    /// Upper bound of any delay (default 30 s).
    pub max_delay: Duration,
    /// Growth factor per retry (default 2).
    pub multiplier: f64,
    /// Random reduction of each delay, as a fraction in `0.0..=1.0` (default 0.5).
    pub jitter: f64,
    /// Give up after this many consecutive failed attempts (default: never).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// Never reconnect: the messenger closes when the connection drops.
    ///
    /// # Examples
    /// ```
    /// use chatwire::ReconnectPolicy;
    /// assert_eq!(ReconnectPolicy::never().max_attempts, Some(0));
    /// ```
    pub fn never() -> Self {
        ReconnectPolicy {
            max_attempts: Some(0),
            ..Self::default()
        }
    }

    /// Sets [`ReconnectPolicy::max_attempts`].
    ///
    /// # Examples
    /// ```
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::default().max_attempts(10);
    /// assert_eq!(policy.max_attempts, Some(10));
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The delay before retry `attempt` (1-based) with a random jitter.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let policy = ReconnectPolicy::default();
    /// assert_eq!(policy.delay(1), Duration::ZERO);
    /// // 1 s for the third attempt, less up to half of it as jitter.
    /// let third = policy.delay(3);
    /// assert!(third >= Duration::from_millis(500) && third <= Duration::from_secs(1));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }

    /// The delay before retry `attempt` for a given random value in `0.0..=1.0`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use chatwire::ReconnectPolicy;
    /// let steady = ReconnectPolicy { jitter: 0.0, ..ReconnectPolicy::default() };
    /// assert_eq!(steady.delay_with(4, 0.9), Duration::from_secs(2));
    /// ```
    pub fn delay_with(&self, attempt: u32, random: f64) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let exp = self.multiplier.max(1.0).powi((attempt - 2).min(64) as i32);
        let base = self.initial_delay.as_secs_f64() * exp;
        let capped = base.min(self.max_delay.as_secs_f64());
        let factor = 1.0 - self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped * factor)
    }
}

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
    #[cfg(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    ))]
    tls: Option<Result<std::sync::Arc<rustls::ClientConfig>>>,
}

/// Normalizes a server URL: `ws://` or `wss://`; an empty path becomes `/platform`.
pub(crate) fn normalize_url(url: &str) -> Result<Url> {
    let mut url =
        Url::parse(url).map_err(|e| Error::invalid(Kind::ServerUrl, format!("server URL: {e}")))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(Error::invalid(
            Kind::ServerUrl,
            format!(
                "server URL must be ws:// or wss://, not {}://",
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

    /// Connects, logs in, and starts the background connection task.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad URL or missing credentials, [`Error::Transport`]
    /// when the server cannot be reached, [`Error::LoginFailed`] when the login is refused.
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
            #[cfg(any(
                feature = "rustls-tls-native-roots",
                feature = "rustls-tls-webpki-roots"
            ))]
            tls,
        };
        Messenger::start(config).await
    }
}
