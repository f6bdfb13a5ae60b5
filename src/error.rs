//! The SDK's error type.

use std::time::Duration;

use chatwire_protocol::ErrorCode;

use crate::checks::InvalidArgument;

/// Everything a [`Messenger`](crate::Messenger) call can fail with.
///
/// # Examples
/// ```
/// use chatwire::{Error, ErrorCode};
/// let e = Error::Server { code: ErrorCode::AccessDenied, description: "Access denied.".into(), action: "sendMessage".into() };
/// assert_eq!(e.code(), Some(ErrorCode::AccessDenied));
/// assert!(!e.is_retryable());
/// assert!(Error::Timeout(std::time::Duration::from_secs(20)).is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request (`onError`).
    #[error("{action} refused by the server: {description} (code {})", code.code())]
    Server {
        /// The protocol error code.
        code: ErrorCode,
        /// The server's description (informative only).
        description: String,
        /// The action that failed.
        action: String,
    },
    /// No reply within the request timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The request was never executed: the connection is down, or dropped before the request
    /// was written. Changes (messages, edits, conversation and participant changes) are not
    /// refused this way: they wait in the outbox and are sent when the connection is back.
    #[error("disconnected: the request was not sent")]
    Disconnected,
    /// The request was sent, then the connection dropped before the answer, and the SDK cannot
    /// tell whether it took effect: the server does not support idempotency keys, or the change
    /// is older than the server's idempotency window. Read the state to find out.
    #[error("outcome unknown: the connection dropped after the request was sent")]
    OutcomeUnknown,
    /// The messenger is not logged in (closed, or the login was refused).
    #[error("not logged in")]
    NotLoggedIn,
    /// A local check failed before anything was sent; [`InvalidArgument::kind`] says which.
    #[error("invalid argument: {0}")]
    InvalidArgument(InvalidArgument),
    /// `typing` was called again for this conversation within the throttle window.
    #[error("typing throttled: one call per conversation every {0:?}")]
    TypingThrottled(Duration),
    /// The login was refused (`loginFailed` code: 401, 403, 429, 491, 701, 500).
    #[error("login refused with code {code}: {reason}")]
    LoginFailed {
        /// The session-layer code.
        code: u16,
        /// The server's reason.
        reason: String,
    },
    /// The durable client store failed (see [`crate::store`]).
    #[error("client store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Connecting to the server failed: `stage` says which step, `source` why.
    ///
    /// Only [`MessengerBuilder::connect`](crate::MessengerBuilder::connect) returns it; failed
    /// reconnection attempts are retried following the
    /// [`ReconnectPolicy`](crate::ReconnectPolicy), and a connection that drops later fails
    /// the requests in flight with [`Error::Disconnected`].
    ///
    /// ```
    /// use chatwire::{ConnectStage, Error};
    /// let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
    /// let e = Error::Connect {
    ///     url: "ws://127.0.0.1:9/platform".into(),
    ///     stage: ConnectStage::Tcp,
    ///     source: Box::new(refused),
    /// };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "could not connect to ws://127.0.0.1:9/platform (TCP): Connection refused; \
    ///      is chatwire-server running at 127.0.0.1:9?"
    /// );
    /// assert!(e.is_retryable());
    /// ```
    #[error("could not connect to {url} ({stage}): {source}{}", connect_hint(*.stage, .url))]
    Connect {
        /// The server URL (after normalization: an empty path becomes `/platform`).
        url: String,
        /// The step that failed.
        stage: ConnectStage,
        /// The underlying error (an `std::io::Error` for TCP failures and timeouts, the TLS or
        /// WebSocket library's error otherwise).
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A frame from the server could not be understood.
    #[error("protocol: {0}")]
    Protocol(#[from] chatwire_protocol::DecodeError),
}

/// The step of connecting that failed, in [`Error::Connect`].
///
/// # Examples
/// ```no_run
/// # async fn demo() -> chatwire::Result<()> {
/// use chatwire::{ConnectStage, Error, Messenger};
/// match Messenger::builder("wss://chat.example.com")
///     .password("alice@chat.example", "secret-password")
///     .connect()
///     .await
/// {
///     Ok(_messenger) => {}
///     Err(Error::Connect { stage: ConnectStage::Tls, source, .. }) => {
///         eprintln!("check the server's certificate: {source}");
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectStage {
    /// Resolving the host name and opening the TCP connection (refused, unreachable, timed out).
    Tcp,
    /// The TLS handshake of a `wss://` URL (untrusted or invalid certificate, TLS not compiled in).
    Tls,
    /// The WebSocket upgrade (an HTTP error status, not a WebSocket endpoint).
    WebSocket,
    /// The session handshake: the server's `__connectionSuccessful` greeting and the answer to
    /// the login (a timeout, the connection closing, or an unexpected frame). A login the server
    /// refuses is [`Error::LoginFailed`] instead.
    Login,
}

/// What to check when connecting failed at `stage` (appended to [`Error::Connect`]'s message).
fn connect_hint(stage: ConnectStage, url: &str) -> String {
    match stage {
        ConnectStage::Tcp => {
            let address = url::Url::parse(url)
                .ok()
                .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
                .unwrap_or_else(|| url.to_string());
            format!("; is chatwire-server running at {address}?")
        }
        ConnectStage::Tls => "; check the server's certificate, and that this port serves TLS \
                              (use ws:// for a server without --tls-cert)"
            .to_string(),
        ConnectStage::WebSocket => "; is this the chatwire-server WebSocket endpoint \
                                    (path /platform)?"
            .to_string(),
        _ => String::new(),
    }
}

impl std::fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectStage::Tcp => "TCP",
            ConnectStage::Tls => "TLS",
            ConnectStage::WebSocket => "WebSocket handshake",
            ConnectStage::Login => "login",
        })
    }
}

impl Error {
    /// The protocol error code of a [`Error::Server`].
    ///
    /// # Examples
    /// ```
    /// use chatwire::{Error, ErrorCode};
    /// let e = Error::Server { code: ErrorCode::NotParticipant, description: String::new(), action: "sendMessage".into() };
    /// assert_eq!(e.code(), Some(ErrorCode::NotParticipant));
    /// assert_eq!(e.code().map(|c| c.code()), Some(19));
    /// assert_eq!(Error::Disconnected.code(), None);
    /// ```
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (timeouts, disconnections, failed connection
    /// attempts at any [`ConnectStage`], rate limits, temporary unavailability, throttled logins).
    ///
    /// # Examples
    /// ```
    /// use chatwire::{Error, ErrorCode, InvalidArgument, InvalidArgumentKind};
    /// let limited = Error::Server { code: ErrorCode::RateLimitSecond, description: String::new(), action: "getUsers".into() };
    /// assert!(limited.is_retryable());
    /// assert!(Error::Disconnected.is_retryable());
    /// let empty = InvalidArgument::new(InvalidArgumentKind::EmptyList, "no users given");
    /// assert!(!Error::InvalidArgument(empty).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout(_)
            | Error::Disconnected
            | Error::Connect { .. }
            | Error::TypingThrottled(_) => true,
            Error::Server { code, .. } => matches!(
                code,
                ErrorCode::RateLimitSecond
                    | ErrorCode::RateLimitMinute
                    | ErrorCode::Unavailable
                    | ErrorCode::Internal
            ),
            Error::LoginFailed { code, .. } => matches!(code, 429 | 500),
            _ => false,
        }
    }
}

/// `Result` with the SDK's [`Error`].
///
/// # Examples
/// ```no_run
/// use chatwire::{Messenger, Result, User};
/// async fn owner_names(m: &Messenger, chat: chatwire::ConversationId) -> Result<Vec<User>> {
///     let conversation = m.get_conversation(chat).await?;
///     let owners = conversation.participants.iter().filter(|p| p.permissions.is_owner());
///     m.get_users(owners.map(|p| p.user)).await
/// }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
