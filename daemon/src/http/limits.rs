//! Bounds on the work requests can start, by class, so that a flood of one kind never takes
//! the daemon down or starves the others. Reads (the API's GETs, lookups, dashboard pages) share
//! a fixed number of slots: each read runs on a blocking thread against the store, and without
//! a bound 10,000 concurrent reads meant hundreds of threads and a gigabyte of memory. A read
//! waits a little for a slot, then gets 503 "daemon busy"; it is stopped after a deadline.
//! `/health` is never queued (an operator must always see the state), scans are shared (one at
//! a time, see app.rs), and simulations have the simulator's own slots and rate limits.

use super::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What a class of request may use.
#[derive(Debug)]
pub struct RequestLimits {
    reads: Semaphore,
    /// How long a read waits for a slot before 503.
    pub wait: Duration,
    /// How long a read may run.
    pub timeout: Duration,
}

impl RequestLimits {
    pub fn new(read_slots: usize, wait: Duration, timeout: Duration) -> Self {
        RequestLimits {
            reads: Semaphore::new(read_slots.max(1)),
            wait,
            timeout,
        }
    }
}

impl Default for RequestLimits {
    /// 32 concurrent reads (the store is fast; more threads only add memory), a 5 s wait for a
    /// slot and a 30 s deadline.
    fn default() -> Self {
        RequestLimits::new(32, Duration::from_secs(5), Duration::from_secs(30))
    }
}

/// Who a request comes from, for per-client limits (simulations): the client's IP address as
/// the accept loop saw it (the port changes with every connection), `unknown` when there is
/// none.
#[derive(Debug, Clone)]
pub struct Client(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        ))
    }
}

/// The classes of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `/health`: never queued.
    Health,
    /// Scans and simulations: bounded by the scan's sharing and the simulator's own limits.
    Bounded,
    /// Everything else.
    Read,
}

/// The class of a request.
pub fn class(method: &Method, path: &str) -> Class {
    if path == "/health" {
        return Class::Health;
    }
    if method == Method::POST
        && (path == "/scan" || path.starts_with("/simulate") || path.ends_with("/simulate"))
    {
        return Class::Bounded;
    }
    Class::Read
}

/// Middleware: reads take a slot (waiting at most `wait`) and run at most `timeout`.
pub async fn limit(State(limits): State<Arc<RequestLimits>>, req: Request, next: Next) -> Response {
    if class(req.method(), req.uri().path()) != Class::Read {
        return next.run(req).await;
    }
    let Ok(Ok(_slot)) = tokio::time::timeout(limits.wait, limits.reads.acquire()).await else {
        return ApiError::Overloaded {
            waited: limits.wait,
        }
        .into_response();
    };
    match tokio::time::timeout(limits.timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout {
            after: limits.timeout,
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_into_their_class() {
        assert_eq!(class(&Method::GET, "/health"), Class::Health);
        assert_eq!(class(&Method::POST, "/scan"), Class::Bounded);
        assert_eq!(class(&Method::POST, "/simulate"), Class::Bounded);
        assert_eq!(class(&Method::POST, "/simulate/workload"), Class::Bounded);
        assert_eq!(
            class(&Method::POST, "/ui/queries/0123456789abcdef/simulate"),
            Class::Bounded
        );
        assert_eq!(class(&Method::GET, "/bottlenecks"), Class::Read);
        assert_eq!(class(&Method::POST, "/lookup"), Class::Read);
        assert_eq!(class(&Method::GET, "/scan"), Class::Read);
    }
}
