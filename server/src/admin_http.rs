//! The admin HTTP API (docs/BEHAVIOUR.md section 11): `/platform_api/<Method>`, GET or POST, with the api
//! key as the `api_key` parameter or an `Authorization: Bearer <key>` header.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::engine::{AdminCommand, AdminError, AdminReply, EngineHandle, UserInfo};
use crate::metrics::{AdminLabel, Metrics};
use crate::names::admin_short_name;
use crate::security::Hasher;

/// What the admin API handlers share (the running server uses it for `add_user` too).
pub(crate) struct AppState {
    /// The api key and the domain.
    pub config: Arc<Config>,
    /// Every admin operation is an engine command.
    pub engine: EngineHandle,
    /// Hashes the passwords of `AddUser` and `SetUserInfo`.
    pub hasher: Hasher,
    /// Counts the calls.
    pub metrics: Arc<Metrics>,
}

/// An admin API failure: `{"error": {"code", "msg"}}`.
struct ApiError(u32, String);

impl ApiError {
    fn missing(p: &str) -> Self {
        ApiError(102, format!("required parameter missing: {p}"))
    }
    fn invalid(p: &str) -> Self {
        ApiError(103, format!("invalid parameter value: {p}"))
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound => ApiError(104, "user not found".into()),
            AdminError::NameTaken => ApiError(105, "user name already exists".into()),
            _ => ApiError(500, "internal error".into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = if self.0 == 101 {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        (
            status,
            Json(json!({"error": {"code": self.0, "msg": self.1}})),
        )
            .into_response()
    }
}

pub(crate) async fn handle(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Path(api_method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params = query;
    if method == Method::POST {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        params.extend(form);
    }
    let authorized = api_key_ok(
        &app.config,
        params.get("api_key").map(String::as_str),
        &headers,
    );
    let result = run(&app, &api_method, &params, authorized).await;
    let label = ADMIN_METHODS
        .iter()
        .find(|m| **m == api_method)
        .copied()
        .unwrap_or("unknown");
    let outcome = match &result {
        Ok(_) => "ok",
        Err(ApiError(100, _)) => "unauthorized",
        Err(_) => "error",
    };
    app.metrics
        .admin_calls
        .get_or_create(&AdminLabel {
            method: label,
            result: outcome,
        })
        .inc();
    // Parameters (passwords among them) are never logged.
    match &result {
        Ok(_) => tracing::info!(method = label, peer = %peer.ip(), "admin call"),
        Err(ApiError(code, msg)) if *code == 100 => {
            tracing::warn!(method = label, peer = %peer.ip(), code, "admin call refused: {msg}")
        }
        Err(ApiError(code, msg)) => {
            tracing::info!(method = label, peer = %peer.ip(), code, "admin call failed: {msg}")
        }
    }
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

const ADMIN_METHODS: [&str; 4] = ["GetUsers", "AddUser", "DelUser", "SetUserInfo"];

/// Whether a request carries the configured api key, as the `api_key` parameter or as
/// `Authorization: Bearer <key>` (compared in constant time). Without a configured key, never.
pub(crate) fn api_key_ok(config: &Config, query_key: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(key) = &config.api_key else {
        return false;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    [query_key, bearer]
        .into_iter()
        .flatten()
        .any(|given| key.as_bytes().ct_eq(given.as_bytes()).into())
}

async fn run(
    app: &AppState,
    method: &str,
    p: &HashMap<String, String>,
    authorized: bool,
) -> Result<Value, ApiError> {
    if !ADMIN_METHODS.contains(&method) {
        return Err(ApiError(101, format!("unknown method: {method}")));
    }
    if !authorized {
        return Err(ApiError(100, "authentication failed".into()));
    }
    let domain = &app.config.domain;
    let get = |k: &str| p.get(k).map(String::as_str);
    match method {
        "AddUser" => {
            let name = get("user_name").ok_or_else(|| ApiError::missing("user_name"))?;
            let name =
                admin_short_name(name, domain).ok_or_else(|| ApiError::invalid("user_name"))?;
            let display =
                get("user_display_name").ok_or_else(|| ApiError::missing("user_display_name"))?;
            let password =
                get("user_password").ok_or_else(|| ApiError::missing("user_password"))?;
            check_display_name(display)?;
            check_password(password)?;
            let hash = app
                .hasher
                .hash(password.to_string())
                .await
                .ok_or(ApiError(500, "internal error".into()))?;
            let cmd = AdminCommand::AddUser {
                name,
                display_name: display.to_string(),
                password_hash: hash,
            };
            match app.engine.admin(cmd).await? {
                AdminReply::Added { user_id, .. } => Ok(json!({"result": 1, "user_id": user_id})),
                _ => Err(ApiError(500, "internal error".into())),
            }
        }
        "GetUsers" => {
            let ids = get("user_id")
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim().parse::<u64>())
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(|_| ApiError::invalid("user_id"))?;
            let name = get("user_name")
                .map(|n| admin_short_name(n, domain).unwrap_or_else(|| n.to_lowercase()));
            let count = parse_in(get("count"), "count", 1, 1000)?.unwrap_or(20);
            let offset = parse_in(get("offset"), "offset", 0, u64::MAX)?.unwrap_or(0);
            let cmd = AdminCommand::GetUsers {
                ids,
                name,
                count: count as usize,
                offset: offset as usize,
            };
            match app.engine.admin(cmd).await? {
                AdminReply::Users {
                    result,
                    total_count,
                } => Ok(json!({
                    "result": result.iter().map(user_info_json).collect::<Vec<_>>(),
                    "total_count": total_count,
                    "count": result.len(),
                })),
                _ => Err(ApiError(500, "internal error".into())),
            }
        }
        "DelUser" => {
            let target = target(p, domain)?;
            app.engine.admin(AdminCommand::DelUser { target }).await?;
            Ok(json!({"result": 1}))
        }
        _ => {
            let target = target(p, domain)?;
            let display_name = get("user_display_name").map(str::to_string);
            if let Some(d) = &display_name {
                check_display_name(d)?;
            }
            let password_hash = match get("user_password") {
                None => None,
                Some(pw) => {
                    check_password(pw)?;
                    Some(
                        app.hasher
                            .hash(pw.to_string())
                            .await
                            .ok_or(ApiError(500, "internal error".into()))?,
                    )
                }
            };
            let active = match get("user_active") {
                None => None,
                Some("true" | "1") => Some(true),
                Some("false" | "0") => Some(false),
                Some(_) => return Err(ApiError::invalid("user_active")),
            };
            app.engine
                .admin(AdminCommand::SetUserInfo {
                    target,
                    display_name,
                    password_hash,
                    active,
                })
                .await?;
            Ok(json!({"result": 1}))
        }
    }
}

fn target(
    p: &HashMap<String, String>,
    domain: &str,
) -> Result<crate::engine::AdminTarget, ApiError> {
    use crate::engine::AdminTarget;
    if let Some(id) = p.get("user_id") {
        return id
            .trim()
            .parse::<u64>()
            .map(AdminTarget::Id)
            .map_err(|_| ApiError::invalid("user_id"));
    }
    if let Some(name) = p.get("user_name") {
        // A name that cannot exist names no user.
        return Ok(AdminTarget::Name(
            admin_short_name(name, domain).unwrap_or_default(),
        ));
    }
    Err(ApiError::missing("user_id or user_name"))
}

fn parse_in(v: Option<&str>, name: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
    v.map(|s| {
        s.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ApiError::invalid(name))
    })
    .transpose()
}

fn check_display_name(d: &str) -> Result<(), ApiError> {
    let n = d.chars().count();
    if (1..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid("user_display_name"))
    }
}

fn check_password(p: &str) -> Result<(), ApiError> {
    let n = p.chars().count();
    if (8..=128).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::invalid("user_password"))
    }
}

fn format_time(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_default()
}

fn user_info_json(u: &UserInfo) -> Value {
    json!({
        "user_id": u.user_id,
        "user_name": u.user_name,
        "user_display_name": u.user_display_name,
        "user_active": u.user_active,
        "created": format_time(u.created),
        "modified": format_time(u.modified),
    })
}
