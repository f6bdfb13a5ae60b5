//! A connection's session state ([`Session`]: who is logged in, how it answers) and the
//! session layer (docs/BEHAVIOUR.md section 2.2): login, token login, refresh, ping.

use std::net::IpAddr;
use std::sync::Arc;

use chatwire_protocol::{
    login_codes, ClientExtensions, ClientSession, Credential, ErrorCode, ServerSession,
    SessionFrame, UserId,
};
use tokio::sync::oneshot;

use super::services::Services;
use crate::engine::{error_frame, now, AuthCommand, AuthOutcome, Command};
use crate::metrics::action_label;
use crate::names::short_name;
use crate::outbound::{ConnShared, Frame};

/// Per-connection state of the read loop.
pub(super) struct Session {
    /// The engine, configuration, throttle and hasher every connection uses.
    pub services: Arc<Services>,
    /// This connection's outbound queue: replies and errors go there, as the engine's do.
    pub shared: Arc<ConnShared>,
    /// The peer address, for login throttling.
    pub peer: IpAddr,
    /// The logged-in user, once a login succeeded.
    pub user: Option<UserId>,
    /// Counted login failures on this connection (closed with 4002 at the limit).
    pub failures: u32,
    /// Whether the latest successful login opted in to idempotency keys (chatwire extension).
    pub idempotency: bool,
}

impl Session {
    /// Queues an `onError` reply.
    pub fn error(
        &self,
        event: Option<&str>,
        request_uuid: Option<&str>,
        code: ErrorCode,
        description: &str,
    ) {
        let action = action_label(event);
        tracing::debug!(action, code = code.code(), "request refused: {description}");
        self.services.metrics.request_error(action, code.code());
        let frame = error_frame(
            self.user,
            event.unwrap_or("UNKNOWN"),
            request_uuid,
            code,
            description,
            now(),
        );
        self.shared.reply(frame);
    }

    /// Queues a session frame.
    pub fn send_session(&self, frame: ServerSession) {
        self.shared.reply(Frame::from(frame.encode()));
    }
}

/// Handles one session frame. Every login-type frame gets exactly one answer.
pub(super) async fn handle_frame(s: &mut Session, frame: SessionFrame) {
    match ClientSession::from_frame(&frame) {
        ClientSession::Ping => s.send_session(ServerSession::Pong),
        ClientSession::Other(_) => {}
        ClientSession::UnsupportedLogin(_) => {
            login_failed(s, login_codes::BAD_CREDENTIALS, "not supported")
        }
        ClientSession::Login(params) => {
            let opt_in = ClientExtensions::from_login_params(&frame.params);
            login(s, params, opt_in).await
        }
        ClientSession::Refresh(params) => refresh(s, params).await,
        _ => {}
    }
}

fn login_failed(s: &Session, code: u16, reason: &str) {
    s.send_session(ServerSession::LoginFailed {
        code,
        reason: reason.to_string(),
    });
}

fn refresh_failed(s: &Session, code: u16, reason: &str) {
    s.send_session(ServerSession::RefreshFailed {
        code,
        reason: reason.to_string(),
    });
}

fn reason(code: u16) -> &'static str {
    match code {
        login_codes::BAD_CREDENTIALS => "invalid credentials",
        login_codes::FORBIDDEN => "user deactivated or deleted",
        login_codes::THROTTLED => "too many failed attempts, try later",
        login_codes::ALREADY_LOGGED_IN => "already logged in",
        login_codes::TOKEN_EXPIRED => "token expired",
        _ => "internal error",
    }
}

/// Whether a failure counts toward throttling and the per-connection limit.
fn counts(code: u16) -> bool {
    matches!(
        code,
        login_codes::BAD_CREDENTIALS | login_codes::FORBIDDEN | login_codes::TOKEN_EXPIRED
    )
}

/// Records a counted failure; at the per-connection limit the connection closes with 4002
/// (after the failure frame already queued).
fn count_failure(s: &mut Session, name_key: &str) {
    s.services.throttle.failed(name_key, s.peer);
    if let Some(bus) = &s.services.bus {
        bus.publish(crate::bus::Outgoing::LoginFailed(crate::bus::LoginFailed {
            node: bus.node,
            name: name_key.to_string(),
            peer: s.peer,
        }));
    }
    s.failures += 1;
    let max = s.services.config.limits.max_failed_logins;
    if max > 0 && s.failures >= max {
        s.shared.close(4002, "too many failed logins", true);
    }
}

/// A user name as sent, for a log line: at most 64 characters (Debug-formatted by the caller,
/// so control characters are escaped and cannot forge log lines).
fn loggable(username: &str) -> &str {
    username
        .char_indices()
        .nth(64)
        .map_or(username, |(i, _)| &username[..i])
}

fn name_key(username: &str, domain: &str) -> String {
    short_name(username, domain).unwrap_or_else(|| username.trim().to_lowercase())
}

async fn login(s: &mut Session, params: Option<(String, Credential)>, opt_in: ClientExtensions) {
    let Some((username, credential)) = params else {
        s.services.metrics.login("failure");
        tracing::info!(peer = %s.peer, "login failed: no user name or credential");
        login_failed(
            s,
            login_codes::BAD_CREDENTIALS,
            reason(login_codes::BAD_CREDENTIALS),
        );
        return count_failure(s, "");
    };
    let domain = s.services.config.domain.clone();
    let key = name_key(&username, &domain);
    if s.services.throttle.blocked(&key, s.peer) {
        s.services.metrics.login("throttled");
        tracing::warn!(user = ?loggable(&username), peer = %s.peer, "login throttled: too many failures");
        return login_failed(s, login_codes::THROTTLED, reason(login_codes::THROTTLED));
    }
    let outcome = match short_name(&username, &domain) {
        None => Err(login_codes::BAD_CREDENTIALS),
        Some(name) => match credential {
            Credential::Password(password) => password_login(s, name, password).await,
            Credential::AccessToken(token) => {
                let (reply, rx) = oneshot::channel();
                let cmd = AuthCommand::TokenLogin {
                    conn: s.shared.clone(),
                    name,
                    token,
                    current: s.user,
                    reply,
                };
                ask(s, cmd, rx).await
            }
        },
    };
    match outcome {
        Ok(AuthOutcome::LoggedIn(user)) => {
            s.services.metrics.login("success");
            if s.user.is_none() {
                s.services.metrics.connections("logged_in").inc();
                tracing::info!(conn = s.shared.id, peer = %s.peer, user = user.get(), "logged in");
            }
            s.user = Some(user);
            s.idempotency = opt_in.idempotency;
        }
        Ok(_) => {}
        Err(login_codes::TOO_MANY_CONNECTIONS) if s.user.is_none() => {
            s.services.metrics.login("failure");
            tracing::info!(user = ?loggable(&username), peer = %s.peer, "login refused: too many connections for this user");
            login_failed(
                s,
                login_codes::TOO_MANY_CONNECTIONS,
                "too many connections for this user",
            );
        }
        Err(code) => {
            // On a logged-in connection every failure is 491 and the login stays.
            let code = if s.user.is_some() {
                login_codes::ALREADY_LOGGED_IN
            } else {
                code
            };
            s.services.metrics.login("failure");
            // The user name and peer, never the credential.
            tracing::info!(user = ?loggable(&username), peer = %s.peer, code, "login failed: {}", reason(code));
            login_failed(s, code, reason(code));
            if counts(code) {
                count_failure(s, &key);
            }
        }
    }
}

/// Sends an auth command and maps the outcome; engine failures become 500.
async fn ask(
    s: &Session,
    cmd: AuthCommand,
    rx: oneshot::Receiver<AuthOutcome>,
) -> Result<AuthOutcome, u16> {
    if !s.services.engine.send(Command::Auth(cmd)) {
        return Err(login_codes::INTERNAL);
    }
    match rx.await {
        Ok(AuthOutcome::Failed(code)) => Err(code),
        Ok(ok) => Ok(ok),
        Err(_) => Err(login_codes::INTERNAL),
    }
}

async fn password_login(s: &Session, name: String, password: String) -> Result<AuthOutcome, u16> {
    if password.is_empty() {
        return Err(login_codes::BAD_CREDENTIALS);
    }
    let (reply, rx) = oneshot::channel();
    if !s
        .services
        .engine
        .send(Command::Auth(AuthCommand::Lookup { name, reply }))
    {
        return Err(login_codes::INTERNAL);
    }
    let Some(info) = rx.await.map_err(|_| login_codes::INTERNAL)? else {
        return Err(login_codes::BAD_CREDENTIALS);
    };
    if s.user.is_some_and(|u| u != info.user) {
        return Err(login_codes::ALREADY_LOGGED_IN);
    }
    if !s.services.hasher.verify(password, info.password_hash).await {
        return Err(login_codes::BAD_CREDENTIALS);
    }
    let (reply, rx) = oneshot::channel();
    let cmd = AuthCommand::PasswordLogin {
        conn: s.shared.clone(),
        user: info.user,
        credential_version: info.credential_version,
        reply,
    };
    ask(s, cmd, rx).await
}

async fn refresh(s: &mut Session, params: Option<(String, String)>) {
    let Some((username, token)) = params else {
        refresh_failed(
            s,
            login_codes::BAD_CREDENTIALS,
            reason(login_codes::BAD_CREDENTIALS),
        );
        return count_failure(s, "");
    };
    let domain = s.services.config.domain.clone();
    let key = name_key(&username, &domain);
    if s.services.throttle.blocked(&key, s.peer) {
        return refresh_failed(s, login_codes::THROTTLED, reason(login_codes::THROTTLED));
    }
    let outcome = match short_name(&username, &domain) {
        None => Err(login_codes::BAD_CREDENTIALS),
        Some(name) => {
            let (reply, rx) = oneshot::channel();
            ask(
                s,
                AuthCommand::Refresh {
                    conn: s.shared.clone(),
                    name,
                    token,
                    reply,
                },
                rx,
            )
            .await
        }
    };
    if let Err(code) = outcome {
        refresh_failed(s, code, reason(code));
        if counts(code) {
            count_failure(s, &key);
        }
    }
}
