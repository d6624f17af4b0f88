//! The daemon's own metrics, kept with `prometheus-client` (the Prometheus project's Rust
//! client for the OpenMetrics text format): scan durations, scan failures by cause, HTTP
//! responses by route and status class, simulation failures by kind and the sampler's cost.
//! `GET /metrics` (http/metrics.rs) encodes them with the figures `/health` holds.
//!
//! Labels only ever carry names from fixed sets (a cause, a route pattern, a status class): never
//! query text, a path with an id, a query string or a token.

use crate::simulate::SimError;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Label set of the families below: fixed names with values from fixed sets.
type Labels = Vec<(&'static str, String)>;

/// Scan duration buckets in seconds: a small database scans in tens of milliseconds, a large
/// one in tens of seconds, the default `--scan-timeout` is 60 s.
const SCAN_BUCKETS: [f64; 12] = [
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// HTTP latency buckets in seconds.
const HTTP_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0];

fn scan_histogram() -> Histogram {
    Histogram::new(SCAN_BUCKETS)
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// The metrics one daemon keeps (one per [`super::AppState`]).
pub struct Telemetry {
    registry: Registry,
    scan_duration: Family<Labels, Histogram, fn() -> Histogram>,
    scan_failures: Family<Labels, Counter>,
    statements_read: Counter,
    http_responses: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram, fn() -> Histogram>,
    simulation_failures: Family<Labels, Counter>,
    sampler_busy: Counter<f64, AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("optidb");
        let scan_duration: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(scan_histogram);
        registry.register_with_unit(
            "scan_duration",
            "Scan durations, by outcome (ok or failed)",
            Unit::Seconds,
            scan_duration.clone(),
        );
        let scan_failures = Family::<Labels, Counter>::default();
        registry.register(
            "scan_failures",
            "Failed scans by cause: unreachable, timeout, auth, privilege, pg_stat_statements, \
             locked, tls, database, store, panic, …",
            scan_failures.clone(),
        );
        let statements_read = Counter::default();
        registry.register(
            "statements_read",
            "pg_stat_statements entries read by complete scans (divide its rate by the scan \
             duration's for statements per second)",
            statements_read.clone(),
        );
        let http_responses = Family::<Labels, Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses by route pattern and status class (2xx, 4xx, 5xx …)",
            http_responses.clone(),
        );
        let http_duration: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(http_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer a request, by route pattern",
            Unit::Seconds,
            http_duration.clone(),
        );
        let simulation_failures = Family::<Labels, Counter>::default();
        registry.register(
            "simulation_failures",
            "Failed what-if simulations by kind: bad_ddl, bad_statement, planner, untrusted, \
             timeout, no_hypopg, refused, rate_limited, busy, target_busy, database",
            simulation_failures.clone(),
        );
        let sampler_busy = Counter::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "sampler_busy",
            "Time the real-value sampler task spent running in the daemon (its polls of \
             pg_stat_activity and the samples it keeps)",
            Unit::Seconds,
            sampler_busy.clone(),
        );
        Telemetry {
            registry,
            scan_duration,
            scan_failures,
            statements_read,
            http_responses,
            http_duration,
            simulation_failures,
            sampler_busy,
        }
    }

    /// Records a finished scan: its duration, and its cause class when it failed.
    pub fn scan_done(&self, seconds: f64, statements: usize, failure: Option<&'static str>) {
        let outcome = if failure.is_some() { "failed" } else { "ok" };
        self.scan_duration
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .observe(seconds.max(0.0));
        match failure {
            Some(cause) => {
                self.scan_failures
                    .get_or_create(&vec![("cause", cause.to_string())])
                    .inc();
            }
            None => {
                self.statements_read.inc_by(statements as u64);
            }
        }
    }

    /// Records an HTTP response. `route` is the matched route pattern (`/queries/{id}`), or
    /// `None` for a path no route matched (counted as `unmatched`, never by its path).
    pub fn http_response(&self, route: Option<&str>, status: u16, seconds: f64) {
        let route = route.unwrap_or("unmatched").to_string();
        let class = format!("{}xx", (status / 100).clamp(1, 5));
        self.http_responses
            .get_or_create(&vec![("route", route.clone()), ("status", class)])
            .inc();
        self.http_duration
            .get_or_create(&vec![("route", route)])
            .observe(seconds.max(0.0));
    }

    /// Records a failed simulation.
    pub fn simulation_failed(&self, e: &SimError) {
        self.simulation_failures
            .get_or_create(&vec![("kind", sim_failure_kind(e).to_string())])
            .inc();
    }

    /// Adds time the sampler task spent running.
    pub fn sampler_busy(&self, seconds: f64) {
        self.sampler_busy.inc_by(seconds.max(0.0));
    }

    /// The registry, for encoding.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The kind of a simulation failure, for the `kind` label.
pub fn sim_failure_kind(e: &SimError) -> &'static str {
    match e {
        SimError::BadDdl(_) => "bad_ddl",
        SimError::BadStatement(_) => "bad_statement",
        SimError::Planner(_) => "planner",
        SimError::Untrusted(_) => "untrusted",
        SimError::Timeout(_) => "timeout",
        SimError::NoHypopg => "no_hypopg",
        SimError::Refused(_) => "refused",
        SimError::RateLimited(_) | SimError::ClientRateLimited(_) => "rate_limited",
        SimError::Busy(_) => "busy",
        SimError::TargetBusy(_) => "target_busy",
        SimError::Db(_) => "database",
    }
}

/// Wraps a long-running task so the time spent in its polls is added to a counter: the
/// daemon-side cost of the sampler, measured without touching the sampler itself.
pub struct Timed<F> {
    inner: std::pin::Pin<Box<F>>,
    telemetry: std::sync::Arc<Telemetry>,
}

impl<F: std::future::Future> Timed<F> {
    pub fn new(inner: F, telemetry: std::sync::Arc<Telemetry>) -> Self {
        Timed {
            inner: Box::pin(inner),
            telemetry,
        }
    }
}

impl<F: std::future::Future> std::future::Future for Timed<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let t0 = std::time::Instant::now();
        let out = self.inner.as_mut().poll(cx);
        self.telemetry.sampler_busy(t0.elapsed().as_secs_f64());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &Telemetry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, t.registry()).unwrap();
        out
    }

    #[test]
    fn records_scans_requests_and_failures_with_fixed_labels() {
        let t = Telemetry::new();
        t.scan_done(0.2, 40, None);
        t.scan_done(1.5, 0, Some("unreachable"));
        t.http_response(Some("/queries/{id}"), 404, 0.002);
        t.http_response(None, 404, 0.001);
        t.http_response(Some("/bottlenecks"), 200, 0.003);
        t.simulation_failed(&SimError::NoHypopg);
        t.sampler_busy(0.5);
        let m = text(&t);
        for want in [
            "# TYPE optidb_scan_duration_seconds histogram",
            "optidb_scan_duration_seconds_count{outcome=\"ok\"} 1",
            "optidb_scan_duration_seconds_bucket{le=\"0.25\",outcome=\"ok\"} 1",
            "optidb_scan_failures_total{cause=\"unreachable\"} 1",
            "optidb_statements_read_total 40",
            "optidb_http_responses_total{route=\"/queries/{id}\",status=\"4xx\"} 1",
            "optidb_http_responses_total{route=\"unmatched\",status=\"4xx\"} 1",
            "optidb_http_responses_total{route=\"/bottlenecks\",status=\"2xx\"} 1",
            "optidb_simulation_failures_total{kind=\"no_hypopg\"} 1",
            "optidb_sampler_busy_seconds_total 0.5",
        ] {
            assert!(m.contains(want), "{want} missing from\n{m}");
        }
    }
}
