//! The daemon client: `POST /lookup` by fingerprint, `POST /simulate`, `GET /health`, with a
//! short timeout and a cache, so live data never makes typing wait. Blocking HTTP (ureq) runs on
//! tokio's blocking pool. An `https://` daemon is checked against the system's trusted roots
//! plus the `daemonCa` file (rustls with ring, as the `optidb` CLI does).

use optidb_core::model::{LookupEntry, LookupRequest, LookupResponse};
use serde_json::Value;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup answer (including "the daemon does not know this query") is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most fingerprints the lookup cache holds (a bounded LRU from the `lru` crate): one entry is a
/// fingerprint with the daemon's answer (its query, plan facts and recommendations, a few KB),
/// so the cache stays within a few tens of MB however many SQL files are opened. The least
/// recently used answer goes first and is asked again when needed.
pub const CACHE_ENTRIES: usize = 4096;
/// After a failed call, how long to serve the cache only before trying the daemon again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// `/simulate` runs EXPLAINs on the target: it gets more time than a lookup.
pub const SIMULATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the daemon is and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `http://host:port` or `https://host:port`, no trailing slash.
    pub base: String,
    pub token: Option<String>,
    pub timeout: Duration,
    /// A CA certificate file (PEM) trusted for an `https://` daemon besides the system's roots.
    pub ca: Option<std::path::PathBuf>,
}

/// Why a call failed, in words for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonError(pub String);

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the cache says about one fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// The daemon has data for it.
    Entry(Arc<LookupEntry>),
    /// The daemon answered and does not know it.
    Unknown,
}

struct State {
    endpoint: Option<Endpoint>,
    /// fingerprint → (what the daemon said, when).
    cache: lru::LruCache<String, (Known, Instant)>,
    /// Set after a failed call; cleared by a successful one.
    down: Option<(Instant, String)>,
}

/// Daemon client with its cache. Cheap to share (`Arc`).
pub struct DaemonClient {
    state: Mutex<State>,
}

impl Default for DaemonClient {
    fn default() -> Self {
        DaemonClient::with_cache_entries(CACHE_ENTRIES)
    }
}

impl DaemonClient {
    /// A client whose cache holds at most `entries` fingerprints (at least one).
    pub fn with_cache_entries(entries: usize) -> Self {
        DaemonClient {
            state: Mutex::new(State {
                endpoint: None,
                cache: lru::LruCache::new(NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN)),
                down: None,
            }),
        }
    }

    /// Fingerprints in the cache now (never more than its capacity).
    pub fn cache_len(&self) -> usize {
        self.state().cache.len()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets (or clears) the endpoint; a different endpoint empties the cache.
    pub fn configure(&self, endpoint: Option<Endpoint>) {
        let mut s = self.state();
        if s.endpoint != endpoint {
            s.endpoint = endpoint;
            s.cache.clear();
            s.down = None;
        }
    }

    pub fn endpoint(&self) -> Option<Endpoint> {
        self.state().endpoint.clone()
    }

    /// The cached knowledge of a fingerprint, fresh or not (stale beats nothing in a hover).
    pub fn cached(&self, fp: &str) -> Option<Known> {
        self.state().cache.get(fp).map(|(k, _)| k.clone())
    }

    /// The last failure, if the daemon is currently considered unavailable.
    pub fn unavailable(&self) -> Option<String> {
        self.state().down.as_ref().map(|(_, why)| why.clone())
    }

    /// Forgets one fingerprint (after a simulation changed what the daemon knows).
    pub fn invalidate(&self, fp: &str) {
        self.state().cache.pop(fp);
    }

    pub fn invalidate_all(&self) {
        self.state().cache.clear();
    }

    /// Fingerprints without a fresh cache entry.
    pub fn missing(&self, fps: &[String]) -> Vec<String> {
        let s = self.state();
        fps.iter()
            .filter(|f| {
                s.cache
                    .peek(f.as_str())
                    .is_none_or(|(_, at)| at.elapsed() > CACHE_TTL)
            })
            .cloned()
            .collect()
    }

    /// Fetches what the cache lacks. `Ok(false)`: nothing to do (no endpoint, nothing missing,
    /// or the daemon failed recently and is not retried yet). `Ok(true)`: the cache was updated.
    /// `Err`: the daemon could not be asked.
    pub async fn refresh(&self, fps: &[String]) -> Result<bool, DaemonError> {
        let missing = self.missing(fps);
        let endpoint = {
            let s = self.state();
            match (&s.endpoint, &s.down) {
                (None, _) => return Ok(false),
                (Some(_), Some((at, _))) if at.elapsed() < RETRY_AFTER => return Ok(false),
                (Some(e), _) => e.clone(),
            }
        };
        if missing.is_empty() {
            return Ok(false);
        }
        let req = LookupRequest {
            fingerprints: missing.clone(),
        };
        let res = blocking(move || {
            post_json::<LookupResponse>(&endpoint, "/lookup", &req, endpoint.timeout)
        })
        .await;
        let mut s = self.state();
        match res {
            Ok(r) => {
                let now = Instant::now();
                let mut queries = r.queries;
                for fp in missing {
                    let k = match queries.remove(&fp) {
                        Some(e) => Known::Entry(Arc::new(e)),
                        None => Known::Unknown,
                    };
                    s.cache.put(fp, (k, now));
                }
                s.down = None;
                Ok(true)
            }
            Err(e) => {
                s.down = Some((Instant::now(), e.0.clone()));
                Err(e)
            }
        }
    }

    /// `GET /health`: the daemon's own account of its state.
    pub async fn health(&self) -> Result<Value, DaemonError> {
        let Some(ep) = self.endpoint() else {
            return Err(DaemonError("no daemon is configured".into()));
        };
        let res = blocking(move || {
            let agent = agent(&ep, ep.timeout)?;
            let mut r = with_auth(agent.get(format!("{}/health", ep.base)), &ep)
                .call()
                .map_err(|e| describe(&ep, e))?;
            r.body_mut()
                .read_json::<Value>()
                .map_err(|e| DaemonError(format!("the daemon's /health answer is not JSON: {e}")))
        })
        .await;
        let mut s = self.state();
        match &res {
            Ok(_) => s.down = None,
            Err(e) => s.down = Some((Instant::now(), e.0.clone())),
        }
        res
    }

    /// `POST /simulate {query_id, rec_id, mode}`: the daemon's JSON answer.
    pub async fn simulate(
        &self,
        query_id: &str,
        rec_id: &str,
        mode: &str,
    ) -> Result<Value, DaemonError> {
        let Some(ep) = self.endpoint() else {
            return Err(DaemonError(
                "no daemon is configured (optidb.daemonUrl)".into(),
            ));
        };
        let body = serde_json::json!({"query_id": query_id, "rec_id": rec_id, "mode": mode});
        blocking(move || post_json::<Value>(&ep, "/simulate", &body, SIMULATE_TIMEOUT)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, DaemonError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(DaemonError(format!(
            "the daemon call failed internally: {e}"
        )))
    })
}

fn agent(ep: &Endpoint, timeout: Duration) -> Result<ureq::Agent, DaemonError> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    if ep.base.starts_with("https://") {
        config = config.tls_config(tls_config(ep.ca.as_deref()).map_err(DaemonError)?);
    }
    Ok(config.build().new_agent())
}

/// TLS for an `https://` daemon: the system's roots and `ca` (PEM); see optidb-client.
pub fn tls_config(ca: Option<&std::path::Path>) -> Result<ureq::tls::TlsConfig, String> {
    optidb_client::daemon_tls(ca, "optidb.daemonCa")
}

fn with_auth<B>(req: ureq::RequestBuilder<B>, ep: &Endpoint) -> ureq::RequestBuilder<B> {
    match &ep.token {
        Some(t) => req.header("Authorization", format!("Bearer {t}")),
        None => req,
    }
}

fn post_json<T: serde::de::DeserializeOwned>(
    ep: &Endpoint,
    path: &str,
    body: &impl serde::Serialize,
    timeout: Duration,
) -> Result<T, DaemonError> {
    let agent = agent(ep, timeout)?;
    let mut r = with_auth(agent.post(format!("{}{path}", ep.base)), ep)
        .send_json(body)
        .map_err(|e| describe(ep, e))?;
    let status = r.status().as_u16();
    if status >= 400 {
        // The daemon's errors are {"error","why","hint"}.
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut msg = format!("{path} answered {status}");
        for k in ["error", "why", "hint"] {
            let f = field(k);
            if !f.is_empty() {
                msg.push_str(": ");
                msg.push_str(&f);
            }
        }
        return Err(DaemonError(msg));
    }
    r.body_mut()
        .read_json::<T>()
        .map_err(|e| DaemonError(format!("unexpected {path} answer from the daemon: {e}")))
}

fn describe(ep: &Endpoint, e: ureq::Error) -> DaemonError {
    let why = match e {
        ureq::Error::Timeout(_) => format!("no answer within {} ms", ep.timeout.as_millis()),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    let lower = why.to_ascii_lowercase();
    let why = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        format!("{why} (the daemon's TLS certificate is not signed by a trusted CA: set optidb.daemonCa to the CA file)")
    } else if lower.contains("notvalidforname") {
        format!("{why} (the daemon's TLS certificate does not name this host)")
    } else {
        why
    };
    DaemonError(format!(
        "cannot reach the OptiDB daemon at {}: {why}",
        ep.base
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use axum::{Json, Router};

    /// A daemon that knows every fingerprint whose first character is `a`.
    async fn daemon() -> String {
        let app = Router::new().route(
            "/lookup",
            post(|Json(req): Json<LookupRequest>| async move {
                let mut out = LookupResponse::default();
                for fp in req.fingerprints.into_iter().filter(|f| f.starts_with('a')) {
                    let entry = LookupEntry {
                        query_id: fp.clone(),
                        ..Default::default()
                    };
                    out.queries.insert(fp, entry);
                }
                Json(out)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lookup_cache_stays_within_its_bound() {
        let client = DaemonClient::with_cache_entries(100);
        client.configure(Some(Endpoint {
            base: daemon().await,
            token: None,
            timeout: Duration::from_secs(5),
            ca: None,
        }));
        // 30 rounds of 100 new fingerprints (3,000 in all) through a cache of 100.
        for round in 0..30 {
            let fps: Vec<String> = (0..100).map(|i| format!("b{round:04}{i:011}")).collect();
            assert_eq!(client.refresh(&fps).await, Ok(true));
            assert!(client.cache_len() <= 100, "{} entries", client.cache_len());
            // What was just asked is all there (the newest entries stay).
            assert!(fps.iter().all(|f| client.cached(f) == Some(Known::Unknown)));
        }
        assert_eq!(client.cache_len(), 100);
        // A fingerprint used all along stays; the oldest unused ones went.
        let hot = "a000000000000001".to_string();
        assert_eq!(client.refresh(std::slice::from_ref(&hot)).await, Ok(true));
        for round in 0..5 {
            let fps: Vec<String> = (0..60).map(|i| format!("c{round:04}{i:011}")).collect();
            client.refresh(&fps).await.ok();
            assert!(matches!(client.cached(&hot), Some(Known::Entry(_))));
            assert!(client.cache_len() <= 100);
        }
        assert_eq!(client.cached("b000000000000000"), None);
        assert_eq!(
            DaemonClient::default().state().cache.cap().get(),
            CACHE_ENTRIES
        );
    }
}
