//! The daemon client: `POST /lookup` by fingerprint, `POST /simulate`, `GET /health`, with a
//! short timeout and a cache, so live data never makes typing wait. Blocking HTTP (ureq) runs on
//! tokio's blocking pool.

use optidb_core::model::{LookupEntry, LookupRequest, LookupResponse};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup answer (including "the daemon does not know this query") is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// After a failed call, how long to serve the cache only before trying the daemon again.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// `/simulate` runs EXPLAINs on the target: it gets more time than a lookup.
pub const SIMULATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the daemon is and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    pub token: Option<String>,
    pub timeout: Duration,
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

#[derive(Default)]
struct State {
    endpoint: Option<Endpoint>,
    cache: HashMap<String, (Known, Instant)>,
    /// Set after a failed call; cleared by a successful one.
    down: Option<(Instant, String)>,
}

/// Daemon client with its cache. Cheap to share (`Arc`).
#[derive(Default)]
pub struct DaemonClient {
    state: Mutex<State>,
}

impl DaemonClient {
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
        self.state().cache.remove(fp);
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
                    .get(f.as_str())
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
                    s.cache.insert(fp, (k, now));
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
            let agent = agent(ep.timeout);
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

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .new_agent()
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
    let agent = agent(timeout);
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
    DaemonError(format!(
        "cannot reach the OptiDB daemon at {}: {why}",
        ep.base
    ))
}
