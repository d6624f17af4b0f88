//! The daemon's HTTP server: the JSON API (docs/api.md) on axum. Handlers are thin: they call
//! the collector and the store and map failures to [`error::ApiError`].

pub mod error;

use crate::daemon::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use std::sync::Arc;

/// The API router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/scan", post(scan))
        .route("/scans", get(scans))
        .route("/queries/{id}", get(query))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint",
        "this path is not part of the OptiDB API",
        "see docs/api.md for the endpoints",
    )
}

/// `POST /scan`: runs a scan now and answers when it is done.
async fn scan(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let summary = state.scan_now().await;
    match &summary.error {
        None => Ok((StatusCode::OK, Json(summary))),
        Some(err) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scan failed",
            err.clone(),
            summary.hint.clone().unwrap_or_default(),
        )
        .with_detail(serde_json::to_value(&summary).map_err(ApiError::internal)?)),
    }
}

/// `GET /health`: is the daemon up, can it reach the database, what did the last scan do.
async fn health(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.health().await))
}

/// `GET /scans`: the most recent scans, newest first (complete and failed).
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
async fn query(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad query id",
            format!("{id:?} is not a query id (16 hex digits)"),
            "take ids from GET /bottlenecks or compute one with `optidb fingerprint`",
        ));
    }
    let store = state.store.clone();
    let target = state.target_id.clone();
    let detail = tokio::task::spawn_blocking(
        move || -> Result<Option<serde_json::Value>, crate::store::StoreError> {
            let Some(q) = store.query(&target, &id)? else {
                return Ok(None);
            };
            let metrics = store.metrics(&target, &id, 500)?;
            let plans = store.plans(&target, &id, 4)?;
            let plan_errors = store.plan_errors(&target, &id)?;
            Ok(Some(serde_json::json!({
                "query": q,
                "metrics": metrics,
                "plans": plans,
                "plan_errors": plan_errors,
            })))
        },
    )
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    detail.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown query",
            "no stored query has that id",
            "scan first (POST /scan), or check the id with `optidb fingerprint`",
        )
    })
}
