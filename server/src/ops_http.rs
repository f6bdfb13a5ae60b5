//! Routes for operators: `/healthz` (the process answers), `/readyz` (it can serve: the store
//! answers, no commit failed, not shutting down) and `/metrics` (Prometheus text, behind the api
//! key unless configured public). Health routes need no authentication.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::admin_http::api_key_ok;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

/// What the operator routes look at.
pub(crate) struct OpsState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// `true` once a shutdown began.
    pub shutdown: watch::Receiver<bool>,
}

/// `/healthz` and `/readyz`.
pub(crate) fn health_routes(state: Arc<OpsState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// `/metrics`.
pub(crate) fn metrics_routes(state: Arc<OpsState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Checks the store (off the async threads: a store may block) and records the result.
async fn store_up(state: &OpsState) -> Result<(), String> {
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || store.health())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    state.metrics.store_up.set(i64::from(result.is_ok()));
    result
}

async fn readyz(State(state): State<Arc<OpsState>>) -> Response {
    let problem = if *state.shutdown.borrow() {
        Some("shutting down".to_string())
    } else if let Err(e) = store_up(&state).await {
        Some(format!("store unavailable: {e}"))
    } else if state.config.bus_configured() && state.metrics.bus_up.get() == 0 {
        Some("the bus to the other nodes (NATS) is down".to_string())
    } else if state.metrics.commits_failed() {
        Some("a store commit failed: changes are refused until a restart".to_string())
    } else {
        None
    };
    match problem {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(p) => {
            tracing::debug!(problem = %p, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {p}\n")).into_response()
        }
    }
}

async fn metrics(
    State(state): State<Arc<OpsState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let key = query.get("api_key").map(String::as_str);
    if !state.config.metrics_public && !api_key_ok(&state.config, key, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics need the api key: send `Authorization: Bearer <key>` (or ?api_key=<key>), \
             or start the server with --metrics-public\n",
        )
            .into_response();
    }
    let _ = store_up(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
