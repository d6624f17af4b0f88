//! `GET /metrics`: the daemon's own health in Prometheus' text format, so it can be watched
//! like any other service.

use crate::app::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::Arc;

#[tracing::instrument(level = "debug", skip_all)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let h = state.health().await;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge("optidb_up", "1 while the daemon runs.", "gauge", "1".into());
    gauge(
        "optidb_scans_ok_total",
        "Scans that completed.",
        "counter",
        h.scans_ok.to_string(),
    );
    gauge(
        "optidb_scans_failed_total",
        "Scans that failed (the last complete scan stays served).",
        "counter",
        h.scans_failed.to_string(),
    );
    gauge(
        "optidb_database_reachable",
        "1 when the last scan reached the database, 0 when it did not, -1 before the first scan.",
        "gauge",
        match h.database_reachable {
            Some(true) => "1".into(),
            Some(false) => "0".into(),
            None => "-1".into(),
        },
    );
    if let Some(s) = &h.last_scan {
        gauge(
            "optidb_last_scan_duration_ms",
            "Duration of the last scan.",
            "gauge",
            format!("{:.3}", s.duration_ms),
        );
        gauge(
            "optidb_last_scan_statements_seen",
            "pg_stat_statements entries read by the last scan.",
            "gauge",
            s.statements_seen.to_string(),
        );
        gauge(
            "optidb_last_scan_queries_stored",
            "Queries stored by the last scan.",
            "gauge",
            s.queries_stored.to_string(),
        );
        gauge(
            "optidb_last_scan_plans_captured",
            "Plans captured by the last scan.",
            "gauge",
            s.plans_captured.to_string(),
        );
    }
    if let Some(t) = h.last_success_at {
        gauge(
            "optidb_last_success_timestamp_seconds",
            "When the last complete scan started.",
            "gauge",
            format!("{:.3}", t as f64 / 1000.0),
        );
    }
    gauge(
        "optidb_real_value_samples",
        "Real-value statement samples held for EXPLAIN ANALYZE.",
        "gauge",
        h.real_value_samples.to_string(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
