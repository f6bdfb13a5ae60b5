//! Opening the WebSocket and the session-layer login handshake.
//!
//! Every failure on the way is an [`Error::Connect`] naming the [`ConnectStage`] that failed
//! (TCP, TLS, WebSocket upgrade, session handshake), except a login the server refuses
//! ([`Error::LoginFailed`]).

use std::time::{Duration, SystemTime};

use chatwire_protocol::{
    login_codes, parse_server_frame, ClientExtensions, ClientSession, Credential, OAuthTokens,
    ServerExtensions, ServerMessage, ServerSession, SessionFrame,
};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::error::{Error as WsError, UrlError};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::config::{Config, Credentials};
use crate::error::{ConnectStage, Error, Result};
use crate::event::Tokens;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a successful login returns.
pub(crate) struct LoggedIn {
    pub display_name: String,
    pub tokens: Tokens,
    pub access_lifetime: Duration,
    /// The chatwire extensions the server advertised (`None`: a server without them).
    pub extensions: Option<ServerExtensions>,
}

pub(crate) fn tokens_from(t: OAuthTokens) -> (Tokens, Duration) {
    let now = SystemTime::now();
    let access = Duration::from_secs(t.access_expire);
    let tokens = Tokens {
        access_token: t.access_token,
        access_expires_at: now + access,
        refresh_token: t.refresh_token,
        refresh_expires_at: now + Duration::from_secs(t.refresh_expire),
    };
    (tokens, access)
}

/// What went wrong while connecting: a stage and its cause (made into [`Error::Connect`] with
/// the URL by [`connect_error`]).
type Failure = (ConnectStage, BoxError);
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

fn connect_error(config: &Config, (stage, source): Failure) -> Error {
    Error::Connect {
        url: config.url.to_string(),
        stage,
        source,
    }
}

fn timed_out(timeout: Duration) -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer within {timeout:?}"),
    ))
}

/// Connects (TCP, TLS for `wss://`, WebSocket upgrade) within the request timeout, then waits
/// up to the request timeout for `__connectionSuccessful`.
async fn open(config: &Config) -> Result<Ws> {
    let timeout = config.request_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let connected = async {
        let tcp = tokio::time::timeout_at(deadline, tcp_connect(&config.url))
            .await
            .map_err(|_| (ConnectStage::Tcp, timed_out(timeout)))??;
        tokio::time::timeout_at(deadline, upgrade(config, tcp))
            .await
            .map_err(|_| (ConnectStage::WebSocket, timed_out(timeout)))?
    };
    let mut ws = connected.await.map_err(|f| connect_error(config, f))?;
    match next_session(&mut ws, timeout)
        .await
        .map_err(|f| connect_error(config, f))?
        .0
    {
        ServerSession::ConnectionSuccessful => Ok(ws),
        other => Err(connect_error(
            config,
            (
                ConnectStage::Login,
                format!("expected __connectionSuccessful, got {other:?}").into(),
            ),
        )),
    }
}

async fn tcp_connect(url: &url::Url) -> std::result::Result<TcpStream, Failure> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| (ConnectStage::Tcp, "the URL has no port".into()))?;
    let connected = match url.host() {
        Some(url::Host::Domain(host)) => TcpStream::connect((host, port)).await,
        Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
        Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
        None => return Err((ConnectStage::Tcp, "the URL has no host".into())),
    };
    connected.map_err(|e| (ConnectStage::Tcp, Box::new(e) as BoxError))
}

/// TLS (for `wss://`) and the WebSocket upgrade over a connected socket.
async fn upgrade(config: &Config, tcp: TcpStream) -> std::result::Result<Ws, Failure> {
    #[cfg(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    ))]
    let upgraded = tokio_tungstenite::client_async_tls_with_config(
        config.url.as_str(),
        tcp,
        None,
        config.tls.clone().map(tokio_tungstenite::Connector::Rustls),
    )
    .await;
    #[cfg(not(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    )))]
    let upgraded = if config.url.scheme() == "wss" {
        return Err((
            ConnectStage::Tls,
            "wss:// needs the SDK built with a rustls-tls-* feature".into(),
        ));
    } else {
        tokio_tungstenite::client_async_with_config(
            config.url.as_str(),
            MaybeTlsStream::Plain(tcp),
            None,
        )
        .await
    };
    upgraded.map(|(ws, _)| ws).map_err(classify)
}

/// The stage a WebSocket library error belongs to, once the TCP connection is up.
fn classify(e: WsError) -> Failure {
    match e {
        WsError::Tls(e) => (ConnectStage::Tls, Box::new(e)),
        WsError::Url(UrlError::TlsFeatureNotEnabled) => (ConnectStage::Tls, Box::new(e)),
        // rustls reports handshake failures as an I/O error wrapping its own error.
        WsError::Io(io) if is_tls(&io) => (ConnectStage::Tls, Box::new(io)),
        WsError::Io(io) => (ConnectStage::WebSocket, Box::new(io)),
        other => (ConnectStage::WebSocket, Box::new(other)),
    }
}

#[cfg(any(
    feature = "rustls-tls-native-roots",
    feature = "rustls-tls-webpki-roots"
))]
fn is_tls(e: &std::io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

#[cfg(not(any(
    feature = "rustls-tls-native-roots",
    feature = "rustls-tls-webpki-roots"
)))]
fn is_tls(_: &std::io::Error) -> bool {
    false
}

/// Reads frames until a session frame arrives (messaging frames before login are ignored);
/// any failure belongs to the login stage.
async fn next_session(
    ws: &mut Ws,
    timeout: Duration,
) -> std::result::Result<(ServerSession, SessionFrame), Failure> {
    let login = |e: BoxError| (ConnectStage::Login, e);
    loop {
        let msg = tokio::time::timeout(timeout, ws.next())
            .await
            .map_err(|_| login(timed_out(timeout)))?
            .ok_or_else(|| login("the server closed the connection".into()))?
            .map_err(|e| login(Box::new(e)))?;
        let Message::Text(text) = msg else { continue };
        let Ok(ServerMessage::Session(frame)) = parse_server_frame(&text) else {
            continue;
        };
        let session = ServerSession::from_frame(&frame).map_err(|e| login(Box::new(e)))?;
        if let Some(session) = session {
            if session != ServerSession::Pong {
                return Ok((session, frame));
            }
        }
    }
}

async fn send(ws: &mut Ws, frame: SessionFrame) -> std::result::Result<(), Failure> {
    ws.send(Message::Text(frame.encode().into()))
        .await
        .map_err(|e| (ConnectStage::Login, Box::new(e) as BoxError))
}

/// Connects and logs in (see [`open`] and [`login`]).
pub(crate) async fn connect(config: &Config, credentials: &Credentials) -> Result<(Ws, LoggedIn)> {
    let mut ws = open(config).await?;
    let login = login(&mut ws, config, credentials).await?;
    Ok((ws, login))
}

/// Sends a session request and reads the answer, within the request timeout.
async fn ask(
    ws: &mut Ws,
    config: &Config,
    frame: SessionFrame,
) -> Result<(ServerSession, SessionFrame)> {
    let answer = async {
        send(ws, frame).await?;
        next_session(ws, config.request_timeout).await
    };
    answer.await.map_err(|f| connect_error(config, f))
}

fn unexpected(config: &Config, what: &str, other: ServerSession) -> Error {
    connect_error(
        config,
        (
            ConnectStage::Login,
            format!("unexpected {what} answer: {other:?}").into(),
        ),
    )
}

async fn login_once(
    ws: &mut Ws,
    config: &Config,
    user: &str,
    credential: Credential,
) -> Result<LoggedIn> {
    let mut frame = ClientSession::Login(Some((user.to_string(), credential))).to_frame();
    // Ask for idempotency keys to be honoured (servers without the extension ignore the key).
    ClientExtensions { idempotency: true }.apply(&mut frame.params);
    match ask(ws, config, frame).await? {
        (
            ServerSession::LoginSuccessful {
                display_name,
                tokens,
            },
            raw,
        ) => {
            let (tokens, access_lifetime) = tokens_from(tokens);
            Ok(LoggedIn {
                display_name,
                tokens,
                access_lifetime,
                extensions: ServerExtensions::from_login_params(&raw.params),
            })
        }
        (ServerSession::LoginFailed { code, reason }, _) => {
            Err(Error::LoginFailed { code, reason })
        }
        (other, _) => Err(unexpected(config, "login", other)),
    }
}

async fn refresh(ws: &mut Ws, config: &Config, user: &str, refresh_token: &str) -> Result<Tokens> {
    let frame =
        ClientSession::Refresh(Some((user.to_string(), refresh_token.to_string()))).to_frame();
    match ask(ws, config, frame).await?.0 {
        ServerSession::RefreshSuccessful { tokens } => Ok(tokens_from(tokens).0),
        ServerSession::RefreshFailed { code, reason } => Err(Error::LoginFailed { code, reason }),
        other => Err(unexpected(config, "refresh", other)),
    }
}

/// Logs in: with the password, or with the access token (refreshing it once on 701 or 401
/// when a refresh token is known).
async fn login(ws: &mut Ws, config: &Config, credentials: &Credentials) -> Result<LoggedIn> {
    match credentials {
        Credentials::Password { user, password } => {
            login_once(ws, config, user, Credential::Password(password.clone())).await
        }
        Credentials::Token {
            user,
            access_token,
            refresh_token,
        } => {
            let token = Credential::AccessToken(access_token.clone());
            match login_once(ws, config, user, token).await {
                Err(Error::LoginFailed { code, .. })
                    if matches!(
                        code,
                        login_codes::TOKEN_EXPIRED | login_codes::BAD_CREDENTIALS
                    ) && refresh_token.is_some() =>
                {
                    let refresh_token = refresh_token.as_deref().unwrap_or_default();
                    let fresh = refresh(ws, config, user, refresh_token).await?;
                    let token = Credential::AccessToken(fresh.access_token);
                    login_once(ws, config, user, token).await
                }
                other => other,
            }
        }
    }
}

/// Whether a login failure will not go away by retrying.
pub(crate) fn is_fatal(e: &Error) -> bool {
    matches!(e, Error::LoginFailed { code, .. } if matches!(*code, login_codes::BAD_CREDENTIALS | login_codes::FORBIDDEN | login_codes::TOKEN_EXPIRED | login_codes::ALREADY_LOGGED_IN))
}
