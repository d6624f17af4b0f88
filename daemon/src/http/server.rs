//! The daemon's HTTP accept loop, with the bounds a service that runs for months needs: a cap
//! on open connections (beyond it, new ones wait in the kernel's backlog instead of costing
//! memory), a deadline for a client to send its request headers (a socket that trickles bytes
//! or sends nothing is closed), the process's open-file limit raised to its hard limit at start,
//! and a graceful stop. axum's own `serve` has none of these knobs; hyper's connection builder
//! has them, so connections are served with it directly.
//!
//! With `--tls-cert`/`--tls-key` every connection is TLS ([`super::tls`]): the handshake gets
//! the same deadline as the headers (a client that opens a socket and never says hello is
//! dropped, holding its slot no longer than that), a failed handshake is logged at debug level
//! and only ends its own connection, and a client that speaks plain HTTP to the TLS port gets a
//! 400 telling it to use `https://`.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
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

/// A request extension on connections that came over TLS (the login cookie is then `Secure`).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for up to `limits.drain`. With `tls`, every connection must complete a TLS handshake
/// first (within `limits.header_read_timeout`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
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
        let over_tls = tls.is_some();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            if over_tls {
                req.extensions_mut().insert(OverTls);
            }
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let Some(acceptor) = tls.clone() else {
            let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                drop(slot);
            });
            continue;
        };
        // The handshake runs in the connection's task, never in the accept loop.
        let (watcher, http, deadline) =
            (graceful.watcher(), http.clone(), limits.header_read_timeout);
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(deadline, handshake(acceptor, stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "no TLS handshake within {deadline:?}: closed");
                    return;
                }
            };
            let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
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

/// The server side of a TLS handshake. A client whose first byte is not a TLS handshake record
/// spoke plain HTTP: it is told to use `https://` and the connection ends.
async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    mut stream: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed before the handshake",
        ));
    }
    if first[0] != super::tls::HANDSHAKE_RECORD {
        // Read the request's headers first and drain what follows after answering: closing a
        // socket with unread bytes resets it, and the client would never see the answer.
        let mut buf = vec![0u8; 8192];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16_384 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        stream.write_all(super::tls::plain_http_answer()).await?;
        let _ = stream.shutdown().await;
        let mut drained = 0;
        while drained < 65_536 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a plain HTTP request on the TLS port (answered 400)",
        ));
    }
    acceptor.accept(stream).await
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
