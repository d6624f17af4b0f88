//! `GET /metrics`: the daemon's own health in the Prometheus/OpenMetrics text format, so it can
//! be watched like any other service. Encoded by `prometheus-client` (the Prometheus project's
//! Rust client, docs/observability in docs/api.md): the metrics kept as they happen
//! (crate::app::telemetry) plus gauges read from `/health`'s figures and the store at scrape time.

use crate::app::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Findings in time of the latest scan, for the gauges.
struct TimeFigures {
    /// Tag → queries carrying it.
    tagged: BTreeMap<String, usize>,
    /// Over the latest scan's wait profiles.
    samples: u64,
    lock_samples: u64,
    /// Queries tagged contention → their lock-wait share (bounded by the scan's top N).
    contended: Vec<(String, f64)>,
}

/// Reads [`TimeFigures`] from the store (blocking).
fn time_figures(
    store: &crate::store::Store,
    target: &crate::store::TargetId,
) -> Result<TimeFigures, crate::store::StoreError> {
    let mut tagged: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (q, t) in store.tags(target)? {
        tagged.entry(t.tag).or_default().insert(q);
    }
    let (mut samples, mut lock_samples, mut contended) = (0, 0, Vec::new());
    let contention = tagged.get(optidb_core::model::tag::CONTENTION);
    for id in store.query_ids_in_latest_scan(target)? {
        if let Some(w) = store.latest_waits(target, &id)? {
            samples += w.samples;
            lock_samples += w.lock;
            if contention.is_some_and(|c| c.contains(&id)) {
                contended.push((id, w.lock_share()));
            }
        }
    }
    Ok(TimeFigures {
        tagged: tagged.into_iter().map(|(k, v)| (k, v.len())).collect(),
        samples,
        lock_samples,
        contended,
    })
}

/// OpenMetrics' content type, which Prometheus negotiates and reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[tracing::instrument(level = "debug", skip_all)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let h = state.health().await;
    let store = state.store.clone();
    let store_bytes = tokio::task::spawn_blocking(move || store.size_on_disk())
        .await
        .ok()
        .and_then(|r| r.map_err(|e| tracing::debug!("store size: {e}")).ok());
    let (store, target) = (state.store.clone(), state.target_id.clone());
    let time = tokio::task::spawn_blocking(move || time_figures(&store, &target))
        .await
        .ok()
        .and_then(|r| r.map_err(|e| tracing::debug!("tags and waits: {e}")).ok());

    // Figures /health already holds, read now (a registry per scrape: cheap, and a metric
    // without a value yet — no scan so far — is simply absent).
    let mut now = Registry::with_prefix("optidb");
    now.register("up", "1 while the daemon runs", ConstGauge::new(1i64));
    now.register(
        "scans_ok",
        "Scans that completed",
        ConstCounter::new(h.scans_ok),
    );
    now.register(
        "scans_failed",
        "Scans that failed (the last complete scan stays served)",
        ConstCounter::new(h.scans_failed),
    );
    now.register(
        "database_reachable",
        "1 when the last scan reached the database, 0 when it did not, -1 before the first scan",
        ConstGauge::new(match h.database_reachable {
            Some(true) => 1i64,
            Some(false) => 0,
            None => -1,
        }),
    );
    if let Some(s) = &h.last_scan {
        now.register(
            "last_scan_duration_ms",
            "Duration of the last scan",
            ConstGauge::new(s.duration_ms),
        );
        now.register(
            "last_scan_statements_seen",
            "pg_stat_statements entries read by the last scan",
            ConstGauge::new(s.statements_seen as i64),
        );
        now.register(
            "last_scan_queries_stored",
            "Queries stored by the last scan",
            ConstGauge::new(s.queries_stored as i64),
        );
        now.register(
            "last_scan_plans_captured",
            "Plans captured by the last scan",
            ConstGauge::new(s.plans_captured as i64),
        );
    }
    if let Some(t) = h.last_success_at {
        now.register(
            "last_success_timestamp_seconds",
            "When the last complete scan started",
            ConstGauge::new(t as f64 / 1000.0),
        );
    }
    now.register(
        "real_value_samples",
        "Real-value statement samples held for EXPLAIN ANALYZE",
        ConstGauge::new(h.real_value_samples as i64),
    );
    if let Some(hypopg) = h.security.hypopg {
        now.register(
            "hypopg_available",
            "1 when hypopg is installed in the target database (what-if simulation works)",
            ConstGauge::new(i64::from(hypopg)),
        );
    }
    if let Some(t) = time {
        let tagged = Family::<Vec<(String, String)>, Gauge>::default();
        for (tag, n) in &t.tagged {
            tagged
                .get_or_create(&vec![("tag".to_string(), tag.clone())])
                .set(*n as i64);
        }
        now.register(
            "tagged_queries",
            "Queries of the latest scan carrying each tag (contention, spike, regression …)",
            tagged,
        );
        if t.samples > 0 {
            now.register(
                "lock_wait_share",
                "Share of the latest scan interval's pg_stat_activity samples (all stored \
                 queries) that waited on heavyweight locks",
                ConstGauge::new(t.lock_samples as f64 / t.samples as f64),
            );
        }
        let per_query = Family::<Vec<(String, String)>, Gauge<f64, AtomicU64>>::default();
        for (id, share) in &t.contended {
            per_query
                .get_or_create(&vec![("query_id".to_string(), id.clone())])
                .set(*share);
        }
        now.register(
            "query_lock_wait_share",
            "Share of its samples a query tagged contention waited on heavyweight locks",
            per_query,
        );
    }
    // The sampler's own account of its pace (collect/sampler.rs paces itself to ≤5% busy).
    let stats = state.samples.stats();
    let load = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
    now.register(
        "sampler_ticks",
        "pg_stat_activity samples taken (one statement each)",
        ConstCounter::new(load(&stats.ticks)),
    );
    now.register_with_unit(
        "sampler_last_tick",
        "Time the last sample took on the target",
        Unit::Seconds,
        ConstGauge::new(load(&stats.last_tick_us) as f64 / 1e6),
    );
    now.register_with_unit(
        "sampler_pause",
        "Pause between samples now (above the configured interval when the target is slow)",
        Unit::Seconds,
        ConstGauge::new(load(&stats.pause_ms) as f64 / 1e3),
    );
    if let Some(bytes) = store_bytes {
        now.register_with_unit(
            "store_size",
            "Size of the store on disk",
            Unit::Bytes,
            ConstGauge::new(bytes as i64),
        );
    }

    let mut out = String::new();
    let encoded = encode_registry(&mut out, &now)
        .and_then(|()| encode_registry(&mut out, state.telemetry.registry()))
        .and_then(|()| encode_eof(&mut out));
    if let Err(e) = encoded {
        tracing::warn!("cannot encode /metrics: {e}");
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out)
}
