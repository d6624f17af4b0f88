//! The one error type of the HTTP API: an enum of every way a request can fail, each kind with
//! its status, a short stable `error`, a `why` sentence and a `hint` — mapped in one place
//! ([`ApiError::parts`]). Every failure answers `{"error", "why", "hint"}` (and `detail` where
//! there is one) and never leaks internals (no passwords, no stack traces).

use crate::simulate::SimError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The largest request body any endpoint takes (the extractors' limit, set in
/// [`super::router`], and the 413 middleware's, `super::body_limit`).
pub const BODY_LIMIT: u64 = 2 * 1024 * 1024;

/// Every way an API or dashboard request fails.
#[derive(Debug)]
pub enum ApiError {
    /// A path that is not part of the API.
    NoSuchEndpoint,
    /// A Host name a daemon without a token does not answer (DNS rebinding).
    HostNotAllowed(String),
    /// No bearer token on a daemon that requires one.
    TokenRequired,
    /// A token that does not match.
    WrongToken,
    /// An id that is not 16 hex digits.
    BadQueryId(String),
    /// A query-string parameter of the wrong shape: why, and what to send.
    BadQueryString { why: String, hint: &'static str },
    /// A body that is not the JSON (or form) an endpoint takes; axum's status is kept.
    BadBody {
        status: StatusCode,
        why: String,
        example: String,
    },
    /// A body over [`BODY_LIMIT`].
    TooLarge { why: String, hint: String },
    /// More fingerprints in one lookup than it takes.
    TooManyFingerprints { got: usize, max: usize },
    /// A well-formed query id no scan has stored.
    UnknownQuery,
    /// Another id nothing is stored under.
    Unknown {
        what: &'static str,
        id: String,
        hint: &'static str,
    },
    /// A simulation mode that is neither `hypopg` nor `real`.
    BadMode(String),
    /// A simulation request naming no index.
    NoIndexToSimulate,
    /// A recommendation given for a query it does not serve.
    RecommendationForOtherQueries { rec_id: String, query_id: String },
    /// A workload simulation with no index recommendation to simulate.
    NothingToSimulate,
    /// A dashboard POST from another site.
    CrossSite(&'static str),
    /// The scan a request ran failed: why and hint from the scan, its summary as detail.
    ScanFailed {
        why: String,
        hint: String,
        summary: serde_json::Value,
    },
    /// Every slot for this kind of request stayed taken (see http/limits.rs).
    Overloaded { waited: std::time::Duration },
    /// The request ran past its deadline and was stopped.
    RequestTimeout { after: std::time::Duration },
    /// A simulation failed (each simulator error has its own status).
    Simulation(SimError),
    /// Something unexpected (logged; the client learns only that it happened).
    Internal,
}

/// The wire form.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Short, stable: what went wrong.
    pub error: String,
    /// Why, in a sentence.
    pub why: String,
    /// What to do about it.
    pub hint: String,
    /// Extra machine-readable context (the failed scan's summary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    /// `413`: a request body over the limit.
    pub fn too_large(why: impl Into<String>) -> Self {
        ApiError::TooLarge {
            why: why.into(),
            hint: format!(
                "send a smaller body (at most {} MB)",
                BODY_LIMIT / (1024 * 1024)
            ),
        }
    }

    pub fn not_found(what: &'static str, id: &str, hint: &'static str) -> Self {
        ApiError::Unknown {
            what,
            id: id.to_string(),
            hint,
        }
    }

    /// `404` for a well-formed query id no scan has stored.
    pub fn unknown_query() -> Self {
        ApiError::UnknownQuery
    }

    /// An unexpected failure: logged here, never shown to the client.
    pub fn internal(why: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {why}");
        ApiError::Internal
    }

    /// The status of this kind of failure.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// Status, `error`, `why`, `hint`: the one mapping from kinds to what clients see.
    pub fn parts(&self) -> (StatusCode, String, String, String) {
        use ApiError::*;
        let s = |v: &str| v.to_string();
        match self {
            NoSuchEndpoint => (
                StatusCode::NOT_FOUND,
                s("no such endpoint"),
                s("this path is not part of the OptiDB API"),
                s("see docs/api.md for the endpoints"),
            ),
            HostNotAllowed(host) => (
                StatusCode::FORBIDDEN,
                s("host not allowed"),
                format!("this daemon answers only to loopback names, not {host:?}"),
                s(
                    "open http://127.0.0.1:<port>/ or http://localhost:<port>/; to serve other \
                   names, start the daemon with a token (OPTIDB_TOKEN)",
                ),
            ),
            TokenRequired => (
                StatusCode::UNAUTHORIZED,
                s("token required"),
                s("this daemon requires a bearer token"),
                s(
                    "send Authorization: Bearer $OPTIDB_TOKEN (the CLI reads OPTIDB_TOKEN), or \
                   open /login?token=… in a browser",
                ),
            ),
            WrongToken => (
                StatusCode::UNAUTHORIZED,
                s("wrong token"),
                s("the token does not match"),
                s("use the value of OPTIDB_TOKEN the daemon was started with"),
            ),
            BadQueryId(id) => (
                StatusCode::BAD_REQUEST,
                s("bad query id"),
                format!("{id:?} is not a query id (16 hex digits)"),
                s("take ids from GET /bottlenecks or compute one with `optidb fingerprint`"),
            ),
            BadQueryString { why, hint } => (
                StatusCode::BAD_REQUEST,
                s("bad query string"),
                why.clone(),
                s(hint),
            ),
            BadBody {
                status,
                why,
                example,
            } => (
                *status,
                s("bad request body"),
                why.clone(),
                format!("send {example}"),
            ),
            TooLarge { why, hint } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                s("request body too large"),
                why.clone(),
                hint.clone(),
            ),
            TooManyFingerprints { got, max } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                s("too many fingerprints"),
                format!("{got} fingerprints in one lookup; at most {max}"),
                s("split the lookup into smaller requests"),
            ),
            UnknownQuery => (
                StatusCode::NOT_FOUND,
                s("unknown query"),
                s("no stored query has that id"),
                s("scan first (POST /scan), or check the id with `optidb fingerprint`"),
            ),
            Unknown { what, id, hint } => (
                StatusCode::NOT_FOUND,
                format!("unknown {what}"),
                format!("no {what} with id {id:?}"),
                s(hint),
            ),
            BadMode(mode) => (
                StatusCode::BAD_REQUEST,
                s("bad mode"),
                format!("{mode:?} is not a simulation mode"),
                s(
                    "use \"hypopg\" (hypothetical index, nothing is written) or \"real\" \
                   (sandboxes only)",
                ),
            ),
            NoIndexToSimulate => (
                StatusCode::BAD_REQUEST,
                s("no index to simulate"),
                s("the request has neither \"rec_id\" nor \"ddl\""),
                s(
                    "pass a recommendation's rec_id (GET /bottlenecks) or \"ddl\": one CREATE \
                   INDEX",
                ),
            ),
            RecommendationForOtherQueries { rec_id, query_id } => (
                StatusCode::BAD_REQUEST,
                s("recommendation is for other queries"),
                format!("recommendation {rec_id:?} does not serve query {query_id:?}"),
                s("pass the query_id the recommendation lists, or pass \"ddl\""),
            ),
            NothingToSimulate => (
                StatusCode::UNPROCESSABLE_ENTITY,
                s("nothing to simulate"),
                s("the latest scan has no index recommendation"),
                s("scan first (POST /scan), or pass rec_ids of index recommendations"),
            ),
            CrossSite(why) => (
                StatusCode::FORBIDDEN,
                s("cross-site request refused"),
                s(why),
                s(
                    "send it from the dashboard page itself, or from a client that is not a \
                   browser (curl, the optidb CLI)",
                ),
            ),
            ScanFailed { why, hint, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                s("scan failed"),
                why.clone(),
                hint.clone(),
            ),
            Overloaded { waited } => (
                StatusCode::SERVICE_UNAVAILABLE,
                s("daemon busy"),
                format!(
                    "every slot for reads stayed taken for {:.1} s: too many requests at once",
                    waited.as_secs_f64()
                ),
                s("retry in a moment; clients that poll should send fewer requests at once"),
            ),
            RequestTimeout { after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                s("request timed out"),
                format!(
                    "the request took longer than {:.0} s and was stopped",
                    after.as_secs_f64()
                ),
                s(
                    "retry; if it keeps happening the store may be very large or the disk slow \
                   (the daemon log has the details)",
                ),
            ),
            Simulation(e) => {
                let (status, error) = match e {
                    SimError::BadDdl(_) => (StatusCode::BAD_REQUEST, "bad DDL"),
                    SimError::BadStatement(_) => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "cannot simulate this query",
                    ),
                    SimError::Planner(_) => (StatusCode::UNPROCESSABLE_ENTITY, "planning failed"),
                    SimError::Untrusted(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not planned"),
                    SimError::Refused(_) => (StatusCode::FORBIDDEN, "real mode refused"),
                    SimError::RateLimited(_) | SimError::ClientRateLimited(_) => {
                        (StatusCode::TOO_MANY_REQUESTS, "rate limited")
                    }
                    SimError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "simulator busy"),
                    SimError::TargetBusy(_) => (StatusCode::SERVICE_UNAVAILABLE, "target busy"),
                    SimError::Timeout(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "simulation timed out")
                    }
                    SimError::NoHypopg => (StatusCode::SERVICE_UNAVAILABLE, "hypopg missing"),
                    SimError::Db(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
                };
                (status, s(error), e.to_string(), e.hint())
            }
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                s("internal error"),
                s("OptiDB hit an unexpected problem; the daemon log has the details"),
                s("retry; if it persists, report it with the daemon log"),
            ),
        }
    }

    /// What clients see.
    pub fn body(&self) -> ErrorBody {
        let (_, error, why, hint) = self.parts();
        ErrorBody {
            error,
            why,
            hint,
            detail: match self {
                ApiError::ScanFailed { summary, .. } => Some(summary.clone()),
                _ => None,
            },
        }
    }
}

impl From<SimError> for ApiError {
    fn from(e: SimError) -> Self {
        ApiError::Simulation(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// Checks a query id from a request: 16 hex digits (a fingerprint).
pub fn check_query_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(ApiError::BadQueryId(id.to_string()))
}

/// A request body that is not the JSON an endpoint expects; `example` shows what it takes.
/// (An oversized body keeps its 413.)
pub fn bad_json(e: axum::extract::rejection::JsonRejection, example: &str) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(e.body_text());
    }
    ApiError::BadBody {
        status,
        why: e.body_text(),
        example: format!("JSON like {example}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_status_an_error_a_why_and_a_hint() {
        let kinds = [
            ApiError::NoSuchEndpoint,
            ApiError::HostNotAllowed("evil.example".into()),
            ApiError::TokenRequired,
            ApiError::WrongToken,
            ApiError::BadQueryId("x".into()),
            ApiError::too_large("3 MB"),
            ApiError::UnknownQuery,
            ApiError::not_found("recommendation", "r1", "take ids from GET /bottlenecks"),
            ApiError::BadMode("fast".into()),
            ApiError::NoIndexToSimulate,
            ApiError::NothingToSimulate,
            ApiError::CrossSite("no Origin"),
            ApiError::Simulation(SimError::RateLimited(60)),
            ApiError::Internal,
        ];
        for k in kinds {
            let (status, error, why, hint) = k.parts();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{k:?}"
            );
            assert!(
                !error.is_empty() && !why.is_empty() && !hint.is_empty(),
                "{k:?}"
            );
        }
        assert_eq!(
            ApiError::Simulation(SimError::RateLimited(60)).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
