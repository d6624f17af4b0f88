//! Oversized request bodies get a clean `413`. Refusing a body before reading it makes the
//! server close the connection while the client is still sending, and many clients (ureq,
//! scripts) then report only "broken pipe" or "connection reset" — not the answer that says
//! what is wrong. So a body whose declared length is over [`BODY_LIMIT`] is read and thrown
//! away first (up to [`DRAIN_CAP`] bytes and [`DRAIN_TIME`]), and then refused with the usual
//! `{"error","why","hint"}`. Larger ones are refused at once (the connection closes).

use super::error::ApiError;
pub use super::error::BODY_LIMIT;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::time::Duration;

/// A body up to this size is read to the end before it is refused.
pub const DRAIN_CAP: u64 = 64 * 1024 * 1024;
/// How long reading a refused body may take.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The middleware (see the module documentation).
pub async fn refuse_oversized(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(len) = declared.filter(|&n| n > BODY_LIMIT) else {
        return next.run(req).await;
    };
    if len <= DRAIN_CAP {
        let mut body = req.into_body().into_data_stream();
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(_)) = body.next().await {}
        })
        .await;
    }
    ApiError::too_large(format!(
        "the request body has {len} bytes; at most {BODY_LIMIT} are accepted"
    ))
    .into_response()
}
