//! Session-layer RPC frames (docs/BEHAVIOUR.md section 2.2): `{"name": .., "params": [..]}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::DecodeError;

/// `loginFailed` / `refreshOauthTokenFailed` codes.
pub mod login_codes {
    /// Bad credentials (never says which part).
    pub const BAD_CREDENTIALS: u16 = 401;
    /// Valid credentials, user deactivated or deleted.
    pub const FORBIDDEN: u16 = 403;
    /// Throttled.
    pub const THROTTLED: u16 = 429;
    /// chatwire: the user already has the maximum number of connections (the same code as
    /// throttling: retry later; it does not count as a failed login).
    pub const TOO_MANY_CONNECTIONS: u16 = 429;
    /// Already logged in as another user (or bad credentials on a logged-in connection).
    pub const ALREADY_LOGGED_IN: u16 = 491;
    /// Token expired.
    pub const TOKEN_EXPIRED: u16 = 701;
    /// Internal error.
    pub const INTERNAL: u16 = 500;
}

/// A raw session frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFrame {
    /// RPC name.
    pub name: String,
    /// Positional parameters.
    #[serde(default)]
    pub params: Vec<Value>,
}

impl SessionFrame {
    /// Serializes the frame.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("session frames always serialize")
    }
}

/// An access/refresh token pair with lifetimes in seconds from now.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthTokens {
    /// Access token (opaque).
    pub access_token: String,
    /// Access token lifetime in seconds from issue.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub access_expire: u64,
    /// Refresh token (opaque).
    pub refresh_token: String,
    /// Refresh token lifetime in seconds from issue.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub refresh_expire: u64,
}

impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"***")
            .field("access_expire", &self.access_expire)
            .field("refresh_token", &"***")
            .field("refresh_expire", &self.refresh_expire)
            .finish()
    }
}

/// How a `login` frame authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name + password.
    Password(String),
    /// A previously issued access token.
    AccessToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(***)"),
            Credential::AccessToken(_) => f.write_str("AccessToken(***)"),
        }
    }
}

/// A decoded client session frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientSession {
    /// `login`; `None` when the parameters are malformed (answered 401).
    Login(Option<(String, Credential)>),
    /// `refreshOauthToken`; `None` when the parameters are malformed (answered 401).
    Refresh(Option<(String, String)>),
    /// `loginGenerateOneTimeKey`, `loginUsingOneTimeKey`, `loginStage2`: answered 401.
    UnsupportedLogin(String),
    /// `__ping`.
    Ping,
    /// Any other name (ignored by the server).
    Other(String),
}

impl ClientSession {
    /// Interprets a raw session frame.
    ///
    /// ```
    /// use serde_json::json;
    /// use chatwire_protocol::{ClientSession, Credential, SessionFrame};
    /// let f = SessionFrame { name: "login".into(),
    ///     params: vec![json!("a@app.acc"), json!(""), json!({"accessToken": "t"})] };
    /// assert_eq!(ClientSession::from_frame(&f),
    ///     ClientSession::Login(Some(("a@app.acc".into(), Credential::AccessToken("t".into())))));
    /// ```
    pub fn from_frame(frame: &SessionFrame) -> ClientSession {
        let p = &frame.params;
        match frame.name.as_str() {
            "login" => ClientSession::Login(parse_login(p)),
            "refreshOauthToken" => ClientSession::Refresh(parse_refresh(p)),
            "loginGenerateOneTimeKey" | "loginUsingOneTimeKey" | "loginStage2" => {
                ClientSession::UnsupportedLogin(frame.name.clone())
            }
            "__ping" => ClientSession::Ping,
            other => ClientSession::Other(other.to_string()),
        }
    }

    /// The session frame for this request (what a client sends).
    pub fn to_frame(&self) -> SessionFrame {
        let (name, params) = match self {
            ClientSession::Login(Some((user, Credential::Password(pw)))) => {
                ("login", vec![json!(user), json!(pw), json!({})])
            }
            ClientSession::Login(Some((user, Credential::AccessToken(t)))) => (
                "login",
                vec![
                    json!(user),
                    json!(""),
                    json!({"serverPresenceControl": false, "accessToken": t}),
                ],
            ),
            ClientSession::Login(None) => ("login", vec![]),
            ClientSession::Refresh(Some((user, rt))) => {
                ("refreshOauthToken", vec![json!(user), json!(rt)])
            }
            ClientSession::Refresh(None) => ("refreshOauthToken", vec![]),
            ClientSession::UnsupportedLogin(name) => (name.as_str(), vec![]),
            ClientSession::Ping => ("__ping", vec![json!([])]),
            ClientSession::Other(name) => (name.as_str(), vec![]),
        };
        SessionFrame {
            name: name.to_string(),
            params,
        }
    }
}

fn parse_login(p: &[Value]) -> Option<(String, Credential)> {
    let user = p.first()?.as_str()?.to_string();
    let options = match p.get(2) {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return None,
    };
    if let Some(token) = options
        .and_then(|o| o.get("accessToken"))
        .and_then(Value::as_str)
    {
        if !token.is_empty() {
            return Some((user, Credential::AccessToken(token.to_string())));
        }
    }
    let password = match p.get(1) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return None,
    };
    Some((user, Credential::Password(password)))
}

fn parse_refresh(p: &[Value]) -> Option<(String, String)> {
    let user = p.first()?.as_str()?.to_string();
    let token = match p.get(1)? {
        Value::String(s) => s.clone(),
        Value::Object(m) => m.get("refreshToken")?.as_str()?.to_string(),
        _ => return None,
    };
    (!token.is_empty()).then_some((user, token))
}

/// A server session frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSession {
    /// `__connectionSuccessful`: first frame after the socket opens.
    ConnectionSuccessful,
    /// `loginSuccessful [displayName, {"OAuth": tokens}]`.
    LoginSuccessful {
        /// The user's display name.
        display_name: String,
        /// A fresh token pair.
        tokens: OAuthTokens,
    },
    /// `loginFailed [code, reason]`.
    LoginFailed {
        /// See [`login_codes`].
        code: u16,
        /// Informative text.
        reason: String,
    },
    /// `refreshOauthTokenSuccessful [{"OAuth": tokens}]`.
    RefreshSuccessful {
        /// The new pair.
        tokens: OAuthTokens,
    },
    /// `refreshOauthTokenFailed [code, reason]`.
    RefreshFailed {
        /// See [`login_codes`].
        code: u16,
        /// Informative text.
        reason: String,
    },
    /// `__pong`.
    Pong,
}

impl ServerSession {
    /// The raw frame.
    pub fn to_frame(&self) -> SessionFrame {
        let (name, params) = match self {
            ServerSession::ConnectionSuccessful => ("__connectionSuccessful", vec![]),
            ServerSession::LoginSuccessful {
                display_name,
                tokens,
            } => (
                "loginSuccessful",
                vec![json!(display_name), json!({ "OAuth": tokens })],
            ),
            ServerSession::LoginFailed { code, reason } => {
                ("loginFailed", vec![json!(code), json!(reason)])
            }
            ServerSession::RefreshSuccessful { tokens } => (
                "refreshOauthTokenSuccessful",
                vec![json!({ "OAuth": tokens })],
            ),
            ServerSession::RefreshFailed { code, reason } => {
                ("refreshOauthTokenFailed", vec![json!(code), json!(reason)])
            }
            ServerSession::Pong => ("__pong", vec![]),
        };
        SessionFrame {
            name: name.to_string(),
            params,
        }
    }

    /// Serializes the frame.
    pub fn encode(&self) -> String {
        self.to_frame().encode()
    }

    /// Interprets a raw frame received from a server; `Ok(None)` for names a client ignores.
    pub fn from_frame(frame: &SessionFrame) -> Result<Option<ServerSession>, DecodeError> {
        let p = &frame.params;
        let bad = || DecodeError::Malformed(format!("bad params for {}", frame.name));
        let tokens_at = |i: usize| -> Result<OAuthTokens, DecodeError> {
            let oauth = p.get(i).and_then(|v| v.get("OAuth")).ok_or_else(bad)?;
            serde_json::from_value(oauth.clone()).map_err(|_| bad())
        };
        let code_reason = || -> Result<(u16, String), DecodeError> {
            let code = p
                .first()
                .and_then(crate::lenient::int_of)
                .and_then(|c| u16::try_from(c).ok())
                .ok_or_else(bad)?;
            let reason = p
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Ok((code, reason))
        };
        Ok(Some(match frame.name.as_str() {
            "__connectionSuccessful" => ServerSession::ConnectionSuccessful,
            "loginSuccessful" => ServerSession::LoginSuccessful {
                display_name: p
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                tokens: tokens_at(1)?,
            },
            "loginFailed" => {
                let (code, reason) = code_reason()?;
                ServerSession::LoginFailed { code, reason }
            }
            "refreshOauthTokenSuccessful" => ServerSession::RefreshSuccessful {
                tokens: tokens_at(0)?,
            },
            "refreshOauthTokenFailed" => {
                let (code, reason) = code_reason()?;
                ServerSession::RefreshFailed { code, reason }
            }
            "__pong" => ServerSession::Pong,
            _ => return Ok(None),
        }))
    }
}
