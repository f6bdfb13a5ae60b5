//! Opening the WebSocket and the session-layer login handshake.

use std::time::{Duration, SystemTime};

use chatwire_protocol::{
    login_codes, ClientSession, Credential, OAuthTokens, ServerSession, SessionFrame,
};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::config::{Config, Credentials};
use crate::error::{Error, Result};
use crate::event::Tokens;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a successful login returns.
pub(crate) struct LoggedIn {
    pub display_name: String,
    pub tokens: Tokens,
    pub access_lifetime: Duration,
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

/// Connects and waits for `__connectionSuccessful`.
pub(crate) async fn open(config: &Config) -> Result<Ws> {
    #[cfg(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    ))]
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        config.url.as_str(),
        None,
        false,
        config.tls.clone().map(tokio_tungstenite::Connector::Rustls),
    );
    #[cfg(not(any(
        feature = "rustls-tls-native-roots",
        feature = "rustls-tls-webpki-roots"
    )))]
    let connect = tokio_tungstenite::connect_async(config.url.as_str());
    let (mut ws, _) = tokio::time::timeout(config.request_timeout, connect)
        .await
        .map_err(|_| Error::Transport("connect timed out".into()))??;
    match next_session(&mut ws, config.request_timeout).await? {
        ServerSession::ConnectionSuccessful => Ok(ws),
        other => Err(Error::Transport(format!(
            "unexpected first frame: {other:?}"
        ))),
    }
}

/// Reads frames until a session frame arrives (messaging frames before login are ignored).
async fn next_session(ws: &mut Ws, timeout: Duration) -> Result<ServerSession> {
    loop {
        let msg = tokio::time::timeout(timeout, ws.next())
            .await
            .map_err(|_| Error::Timeout(timeout))?
            .ok_or(Error::Disconnected)??;
        let Message::Text(text) = msg else { continue };
        let Ok(frame) = serde_json::from_str::<SessionFrame>(&text) else {
            continue;
        };
        if let Some(session) = ServerSession::from_frame(&frame)? {
            if session != ServerSession::Pong {
                return Ok(session);
            }
        }
    }
}

async fn send(ws: &mut Ws, frame: ClientSession) -> Result<()> {
    ws.send(Message::Text(frame.to_frame().encode().into()))
        .await?;
    Ok(())
}

async fn login_once(
    ws: &mut Ws,
    user: &str,
    credential: Credential,
    timeout: Duration,
) -> Result<LoggedIn> {
    send(
        ws,
        ClientSession::Login(Some((user.to_string(), credential))),
    )
    .await?;
    match next_session(ws, timeout).await? {
        ServerSession::LoginSuccessful {
            display_name,
            tokens,
        } => {
            let (tokens, access_lifetime) = tokens_from(tokens);
            Ok(LoggedIn {
                display_name,
                tokens,
                access_lifetime,
            })
        }
        ServerSession::LoginFailed { code, reason } => Err(Error::LoginFailed { code, reason }),
        other => Err(Error::Transport(format!(
            "unexpected login answer: {other:?}"
        ))),
    }
}

async fn refresh(
    ws: &mut Ws,
    user: &str,
    refresh_token: &str,
    timeout: Duration,
) -> Result<Tokens> {
    send(
        ws,
        ClientSession::Refresh(Some((user.to_string(), refresh_token.to_string()))),
    )
    .await?;
    match next_session(ws, timeout).await? {
        ServerSession::RefreshSuccessful { tokens } => Ok(tokens_from(tokens).0),
        ServerSession::RefreshFailed { code, reason } => Err(Error::LoginFailed { code, reason }),
        other => Err(Error::Transport(format!(
            "unexpected refresh answer: {other:?}"
        ))),
    }
}

/// Logs in: with the password, or with the access token (refreshing it once on 701 or 401
/// when a refresh token is known).
pub(crate) async fn login(
    ws: &mut Ws,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<LoggedIn> {
    match credentials {
        Credentials::Password { user, password } => {
            login_once(ws, user, Credential::Password(password.clone()), timeout).await
        }
        Credentials::Token {
            user,
            access_token,
            refresh_token,
        } => {
            match login_once(
                ws,
                user,
                Credential::AccessToken(access_token.clone()),
                timeout,
            )
            .await
            {
                Err(Error::LoginFailed { code, .. })
                    if matches!(
                        code,
                        login_codes::TOKEN_EXPIRED | login_codes::BAD_CREDENTIALS
                    ) && refresh_token.is_some() =>
                {
                    let fresh = refresh(
                        ws,
                        user,
                        refresh_token.as_deref().unwrap_or_default(),
                        timeout,
                    )
                    .await?;
                    login_once(
                        ws,
                        user,
                        Credential::AccessToken(fresh.access_token),
                        timeout,
                    )
                    .await
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
