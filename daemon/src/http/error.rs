//! The one error type of the HTTP API: every failure is `{"error", "why", "hint"}` with a
//! 4xx/5xx status, and never leaks internals (no passwords, no stack traces).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The largest request body any endpoint takes (the extractors' limit, set in
/// [`super::router`], and the 413 middleware's, `super::body_limit`).
pub const BODY_LIMIT: u64 = 2 * 1024 * 1024;

#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// Short, stable: what went wrong.
    pub error: String,
    /// Why, in a sentence.
    pub why: String,
    /// What to do about it.
    pub hint: String,
    /// Extra machine-readable context (for example the failed scan's summary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        error: &str,
        why: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            error: error.to_string(),
            why: why.into(),
            hint: hint.into(),
            detail: None,
        }
    }

    /// `413`: a request body over the limit ([`BODY_LIMIT`]).
    pub fn too_large(why: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
            why,
            format!(
                "send a smaller body (at most {} MB)",
                BODY_LIMIT / (1024 * 1024)
            ),
        )
    }

    pub fn not_found(what: &str, id: &str, hint: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            &format!("unknown {what}"),
            format!("no {what} with id {id:?}"),
            hint,
        )
    }

    /// `404` for a well-formed query id no scan has stored.
    pub fn unknown_query() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown query",
            "no stored query has that id",
            "scan first (POST /scan), or check the id with `optidb fingerprint`",
        )
    }

    pub fn internal(why: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {why}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "OptiDB hit an unexpected problem; the daemon log has the details",
            "retry; if it persists, report it with the daemon log",
        )
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

/// Checks a query id from a request: 16 hex digits (a fingerprint).
pub fn check_query_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad query id",
        format!("{id:?} is not a query id (16 hex digits)"),
        "take ids from GET /bottlenecks or compute one with `optidb fingerprint`",
    ))
}

/// A request body that is not the JSON an endpoint expects; `example` shows what it takes.
/// (An oversized body keeps its 413.)
pub fn bad_json(e: axum::extract::rejection::JsonRejection, example: &str) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(e.body_text());
    }
    ApiError::new(
        status,
        "bad request body",
        e.body_text(),
        format!("send JSON like {example}"),
    )
}
