//! The state every part of a running daemon shares — the store, the scanner, the sampler's
//! samples, the simulator — and what `/health` says. The HTTP layer depends on this module and
//! never on the process wiring in `crate::daemon`.

use crate::clock::now_ms;
use crate::collect::sampler::Samples;
use crate::scan::Collector;
use crate::store::Store;
use optidb_core::model::{Millis, ScanSummary};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{Mutex, RwLock};

/// What `GET /health` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `ok`, `degraded` (the last scan failed; serving the last complete one) or `starting`.
    pub status: &'static str,
    pub version: &'static str,
    /// The target, without its password.
    pub target: String,
    pub database_reachable: Option<bool>,
    pub last_error: Option<String>,
    pub hint: Option<String>,
    pub last_scan: Option<ScanSummary>,
    pub last_success_at: Option<Millis>,
    pub scans_ok: u64,
    pub scans_failed: u64,
    pub real_value_samples: usize,
    pub started_at: Millis,
    /// How OptiDB runs on this target, as of the last connect.
    pub security: Security,
}

/// What `/health` says about how OptiDB talks to the target (docs/security.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Security {
    /// The login role, once connected.
    pub role: Option<String>,
    /// The login role is a superuser (only with --sandbox or --allow-superuser).
    pub superuser: bool,
    /// Who plans statements (the helper's NOLOGIN role, or OptiDB's own).
    pub planning: Option<String>,
    /// EXPLAIN ANALYZE of real-value samples is on.
    pub analyze_samples: bool,
    /// hypopg is installed in the target database, so what-if simulations (`POST /simulate`,
    /// the advisor's checks) work; `None` before the first connect.
    pub hypopg: Option<bool>,
    /// Real-value samples are kept and stored (off with `--no-real-values`: plans then come
    /// from normalized text only).
    pub real_values: bool,
    /// Things an operator should act on.
    pub warnings: Vec<String>,
}

impl Security {
    fn from_session(s: &crate::pg::Session, analyze_samples: bool, real_values: bool) -> Security {
        let mut warnings = Vec::new();
        // On a throwaway sandbox a superuser login is the point; elsewhere it was allowed with
        // --allow-superuser and must stay visible.
        if s.info.is_superuser && !s.target.sandbox {
            warnings.push(format!(
                "connected as {}, a superuser: anything a database user makes OptiDB run would                  run with every right on the server; use a dedicated role (optidb setup-sql)",
                s.info.user
            ));
        }
        if let crate::pg::helper::HelperState::Invalid(why) = &s.info.helper {
            warnings.push(format!("the plan helper is not used: {why}"));
        }
        let hypopg = s.info.hypopg_schema.is_some();
        if !hypopg {
            warnings.push(
                "hypopg is not installed in the target database: what-if simulation is \
                 unavailable and recommendations are not verified (CREATE EXTENSION hypopg)"
                    .into(),
            );
        }
        Security {
            role: Some(s.info.user.clone()),
            superuser: s.info.is_superuser,
            planning: Some(s.info.helper.describe()),
            analyze_samples,
            hypopg: Some(hypopg),
            real_values,
            warnings,
        }
    }
}

/// Shared state of the running daemon.
pub struct AppState {
    pub store: Store,
    /// When set, every request must carry it (see http/auth.rs).
    pub token: Option<String>,
    pub target_id: crate::store::TargetId,
    collector: Mutex<Collector>,
    health: RwLock<Health>,
    pub samples: Arc<Samples>,
    /// The simulator and its own connections (`POST /simulate`).
    pub sim: crate::simulate::pool::SimService,
    /// The scan running now, which every caller of [`AppState::scan_now`] shares.
    running: std::sync::Mutex<Option<SharedScan>>,
    /// The daemon's own metrics (`GET /metrics`).
    pub telemetry: Arc<telemetry::Telemetry>,
}

/// A running scan's outcome, awaited by everyone who asked for a scan while it ran.
type SharedScan = futures::future::Shared<futures::future::BoxFuture<'static, ScanSummary>>;

impl AppState {
    pub fn new(
        collector: Collector,
        store: Store,
        samples: Arc<Samples>,
        sim: crate::simulate::pool::SimService,
    ) -> Self {
        let target = collector.config().target.display();
        let (analyze_samples, real_values) = (
            collector.config().analyze_samples,
            collector.config().real_values,
        );
        // After a restart, /health tells of the last complete scan in the store rather than
        // "starting" until the next one ends.
        let last_scan = match store.latest_scan(collector.target_id()) {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!("cannot read the last scan from the store: {e}");
                None
            }
        };
        AppState {
            store,
            token: None,
            target_id: collector.target_id().clone(),
            collector: Mutex::new(collector),
            health: RwLock::new(Health {
                status: if last_scan.is_some() {
                    "ok"
                } else {
                    "starting"
                },
                version: env!("CARGO_PKG_VERSION"),
                target,
                database_reachable: None,
                last_error: None,
                hint: None,
                last_success_at: last_scan.as_ref().map(|s| s.started_at),
                last_scan,
                scans_ok: 0,
                scans_failed: 0,
                real_value_samples: 0,
                started_at: now_ms(),
                security: Security {
                    analyze_samples,
                    real_values,
                    ..Security::default()
                },
            }),
            samples,
            sim,
            running: std::sync::Mutex::new(None),
            telemetry: Arc::new(telemetry::Telemetry::new()),
        }
    }

    /// Runs a scan now and records the outcome for /health. A caller that arrives while a scan
    /// runs shares that scan's outcome instead of starting another. The scan runs in its own
    /// task: a caller that goes away does not cancel it, and a panic in it fails that scan only
    /// (logged, recorded, the collector reconnects) instead of the daemon.
    pub async fn scan_now(self: &Arc<Self>) -> ScanSummary {
        use futures::FutureExt;
        let shared = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match running.as_ref() {
                Some(scan) => scan.clone(),
                None => {
                    let state = self.clone();
                    let task = tokio::spawn(async move {
                        // Whatever happens in the scan, the next caller starts a new one.
                        let _clear = ClearOnDrop(&state.running);
                        state.run_scan().await
                    });
                    let scan = async move {
                        task.await.unwrap_or_else(|e| ScanSummary {
                            error: Some(format!("the scan task ended abnormally: {e}")),
                            hint: Some("retry; the daemon log has the details".into()),
                            ..Default::default()
                        })
                    }
                    .boxed()
                    .shared();
                    *running = Some(scan.clone());
                    scan
                }
            }
        };
        shared.await
    }

    /// One scan, a panic in it caught and turned into a failed scan.
    async fn run_scan(&self) -> ScanSummary {
        use futures::FutureExt;
        let started_at = now_ms();
        let scanned = std::panic::AssertUnwindSafe(async {
            let mut c = self.collector.lock().await;
            let summary = c.scan().await;
            let cfg = c.config();
            let (analyze, real_values) = (cfg.analyze_samples, cfg.real_values);
            let security = c
                .session()
                .map(|s| Security::from_session(s, analyze, real_values));
            (summary, security, c.last_failure())
        })
        .catch_unwind()
        .await;
        let (summary, security, failure) = match scanned {
            Ok(done) => done,
            Err(panic) => {
                let what = panic_message(panic.as_ref());
                tracing::error!(panic = %what, "the scan panicked; it is recorded as failed and the next scan reconnects");
                let mut c = self.collector.lock().await;
                let summary = c.record_panic(started_at, &what).await;
                (summary, None, Some("panic"))
            }
        };
        self.telemetry.scan_done(
            summary.duration_ms / 1000.0,
            summary.statements_seen,
            summary.error.as_ref().map(|_| failure.unwrap_or("other")),
        );
        if summary.error.is_none() {
            let target_db = self.health.read().await.target.clone();
            tracing::info!(
                target_db = %target_db,
                statements = summary.statements_seen,
                queries = summary.queries_stored,
                plans = summary.plans_captured,
                plan_errors = summary.plan_errors,
                recommendations = summary.recommendations,
                duration_ms = summary.duration_ms,
                "scan done"
            );
        }
        let mut h = self.health.write().await;
        if let Some(s) = security {
            h.security = s;
        }
        match &summary.error {
            None => {
                h.status = "ok";
                h.database_reachable = Some(true);
                h.last_error = None;
                h.hint = None;
                h.last_success_at = Some(summary.started_at);
                h.scans_ok += 1;
            }
            Some(e) => {
                h.status = "degraded";
                h.database_reachable = Some(!is_unreachable(e));
                h.last_error = Some(e.clone());
                h.hint = summary.hint.clone();
                h.scans_failed += 1;
            }
        }
        h.last_scan = Some(summary.clone());
        summary
    }

    pub async fn health(&self) -> Health {
        let mut h = self.health.read().await.clone();
        h.real_value_samples = self.samples.len();
        h
    }
}

/// Empties the running-scan slot when the scan task ends, however it ends.
struct ClearOnDrop<'a>(&'a std::sync::Mutex<Option<SharedScan>>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The text of a panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn is_unreachable(err: &str) -> bool {
    err.starts_with("cannot reach") || err.starts_with("the database did not answer")
}

pub mod telemetry;

#[cfg(test)]
mod tests;
