//! The daemon's HTTP server: the JSON API (docs/api.md) on axum. Handlers are thin: they call
//! the collector and the store and map failures to [`error::ApiError`].

pub mod auth;
pub mod body_limit;
pub mod chat;
pub mod dashboard;
pub mod error;
pub mod families;
pub mod limits;
pub mod metrics;
pub mod server;
pub mod simulate;
pub mod tls;
pub mod views;

use crate::app::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use std::sync::Arc;

/// The API router with the default request limits.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Arc::new(limits::RequestLimits::default()))
}

/// The API router.
pub fn router_with(state: Arc<AppState>, limits: Arc<limits::RequestLimits>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/scan", post(scan))
        .route("/scans", get(scans))
        .route("/queries/{id}", get(query))
        .route("/simulate", post(simulate::simulate))
        .route("/simulate/workload", post(simulate::simulate_workload))
        .route("/bottlenecks", get(bottlenecks))
        .route("/families", get(families::families))
        .route("/lookup", post(lookup))
        .route("/chat", post(chat::chat))
        .route("/metrics", get(metrics::metrics))
        .route("/login", get(auth::login))
        .merge(dashboard::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            body_limit::BODY_LIMIT as usize,
        ))
        .layer(axum::middleware::from_fn(body_limit::refuse_oversized))
        .layer(axum::middleware::from_fn(refuse_cross_site))
        .layer(axum::middleware::from_fn_with_state(limits, limits::limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log_request,
        ))
        .with_state(state)
}

/// One log line per request: method, route (the matched pattern when there is one, else the
/// path — never the query string, where a `/login?token=` would be), status and latency; and
/// the same in /metrics (by route pattern only: an unmatched path is counted as `unmatched`).
async fn log_request(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let matched = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string());
    let route = matched
        .clone()
        .unwrap_or_else(|| req.uri().path().to_string());
    let t0 = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let secs = t0.elapsed().as_secs_f64();
    state
        .telemetry
        .http_response(matched.as_deref(), status, secs);
    let ms = secs * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %route, status, latency_ms = ms, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms = ms, "request");
    }
    response
}

/// Every POST (a scan, a simulation, a chat) is refused when a browser sends it from another
/// site: a page elsewhere must not be able to make the daemon work against the database.
async fn refuse_cross_site(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.method() == axum::http::Method::POST {
        if let Err(why) = dashboard::csrf::not_cross_site(req.headers()) {
            return ApiError::CrossSite(why).into_response();
        }
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::NoSuchEndpoint
}

/// `POST /scan`: runs a scan now and answers when it is done.
#[tracing::instrument(level = "debug", skip_all)]
async fn scan(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let summary = state.scan_now().await;
    match &summary.error {
        None => Ok((StatusCode::OK, Json(summary))),
        Some(err) => Err(ApiError::ScanFailed {
            why: err.clone(),
            hint: summary.hint.clone().unwrap_or_default(),
            summary: serde_json::to_value(&summary).map_err(ApiError::internal)?,
        }),
    }
}

/// `GET /health`: is the daemon up, can it reach the database, what did the last scan do.
#[tracing::instrument(level = "debug", skip_all)]
async fn health(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.health().await))
}

/// `GET /scans`: the most recent scans, newest first (complete and failed).
#[tracing::instrument(level = "debug", skip_all)]
async fn scans(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let store = state.store.clone();
    let target = state.target_id.clone();
    let scans = tokio::task::spawn_blocking(move || store.scans(&target, 50))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(scans))
}

/// `GET /queries/:id`: what the store knows of one query: the query, its metric history
/// (oldest first), its latest plans (generic and analyzed) and plan errors.
#[tracing::instrument(level = "debug", skip(state))]
async fn query(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    error::check_query_id(&id)?;
    let store = state.store.clone();
    let target = state.target_id.clone();
    let detail = tokio::task::spawn_blocking(move || views::query_detail(&store, &target, &id))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    detail.map(Json).ok_or_else(ApiError::unknown_query)
}

/// Query string of `GET /bottlenecks`.
#[derive(Debug, serde::Deserialize)]
pub struct BottleneckParams {
    pub limit: Option<usize>,
    /// Only rows carrying this tag (`contention`, `spike` …).
    pub tag: Option<String>,
    /// Only rows of this family (its id or label, `GET /families`).
    pub family: Option<String>,
}

/// `GET /bottlenecks?limit=N&tag=T`: the queries of the latest scan with the most total time,
/// each with all its recommendations and tags (only those tagged `T` when given).
#[tracing::instrument(level = "debug", skip_all)]
async fn bottlenecks(
    State(state): State<Arc<AppState>>,
    params: Result<Query<BottleneckParams>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadQueryString {
        why: e.body_text(),
        hint: "use ?limit=N with N a positive number, and ?tag=contention (or spike …)",
    })?;
    let limit = params.limit.unwrap_or(20).clamp(1, 1000);
    let store = state.store.clone();
    let target = state.target_id.clone();
    let rows = tokio::task::spawn_blocking(move || {
        views::bottlenecks_filtered(
            &store,
            &target,
            limit,
            params.tag.as_deref(),
            params.family.as_deref(),
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(Json(rows))
}

/// Most fingerprints one `POST /lookup` may ask about.
pub const LOOKUP_MAX: usize = 10_000;

/// `POST /lookup {"fingerprints": […]}`: what the daemon knows of each (for the language server).
#[tracing::instrument(level = "debug", skip_all)]
async fn lookup(
    State(state): State<Arc<AppState>>,
    body: Result<Json<optidb_core::model::LookupRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(req) =
        body.map_err(|e| error::bad_json(e, r#"{"fingerprints": ["0123456789abcdef"]}"#))?;
    if req.fingerprints.len() > LOOKUP_MAX {
        return Err(ApiError::TooManyFingerprints {
            got: req.fingerprints.len(),
            max: LOOKUP_MAX,
        });
    }
    for fp in &req.fingerprints {
        error::check_query_id(fp)?;
    }
    let store = state.store.clone();
    let target = state.target_id.clone();
    let entries =
        tokio::task::spawn_blocking(move || views::lookup(&store, &target, &req.fingerprints))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
    Ok(Json(optidb_core::model::LookupResponse {
        queries: entries
            .into_iter()
            .map(|e| (e.query_id.clone(), e))
            .collect(),
    }))
}
