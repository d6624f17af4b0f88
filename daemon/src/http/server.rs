//! The daemon's HTTP accept loop, with the bounds a service that runs for months needs: a cap
//! on open connections (beyond it, new ones wait in the kernel's backlog instead of costing
//! memory), a deadline for a client to send its request headers (a socket that trickles bytes
//! or sends nothing is closed), the process's open-file limit raised to its hard limit at start,
//! and a graceful stop. axum's own `serve` has none of these knobs; hyper's connection builder
//! has them, so connections are served with it directly.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// How many connections, and how patient with slow clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// A client must send a request's headers within this long (also closes idle keep-alive
    /// connections after it).
    pub header_read_timeout: Duration,
    /// On stop, how long in-flight requests may take to finish.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(5),
        }
    }
}

/// Raises the soft open-file limit to the hard limit (connections, the store and PostgreSQL
/// sessions all need descriptors) and returns it; `None` when the platform has none.
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}");
            None
        }
    }
}

/// The connection cap that fits an open-file limit: room is kept for the store, the target
/// sessions and the process itself.
pub fn fit_connections(wanted: usize, nofile: Option<u64>) -> usize {
    match nofile {
        Some(n) => wanted.min((n.saturating_sub(256) as usize).max(16)),
        None => wanted,
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `limits.drain`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: transient.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("requests still running after {:?}: stopped", limits.drain);
    }
    Ok(())
}

/// The client's address, as the accept loop saw it.
pub fn peer(req: &axum::extract::Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_for_other_descriptors() {
        assert_eq!(fit_connections(4096, Some(1024)), 768);
        assert_eq!(fit_connections(4096, Some(1_048_576)), 4096);
        assert_eq!(fit_connections(4096, Some(100)), 16);
        assert_eq!(fit_connections(4096, None), 4096);
    }
}
