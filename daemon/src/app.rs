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
    /// Things an operator should act on.
    pub warnings: Vec<String>,
}

impl Security {
    fn from_session(s: &crate::pg::Session, analyze_samples: bool) -> Security {
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
        Security {
            role: Some(s.info.user.clone()),
            superuser: s.info.is_superuser,
            planning: Some(s.info.helper.describe()),
            analyze_samples,
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
}

impl AppState {
    pub fn new(
        collector: Collector,
        store: Store,
        samples: Arc<Samples>,
        sim: crate::simulate::pool::SimService,
    ) -> Self {
        let target = collector.config().target.display();
        AppState {
            store,
            token: None,
            target_id: collector.target_id().clone(),
            collector: Mutex::new(collector),
            health: RwLock::new(Health {
                status: "starting",
                version: env!("CARGO_PKG_VERSION"),
                target,
                database_reachable: None,
                last_error: None,
                hint: None,
                last_scan: None,
                last_success_at: None,
                scans_ok: 0,
                scans_failed: 0,
                real_value_samples: 0,
                started_at: now_ms(),
                security: Security::default(),
            }),
            samples,
            sim,
        }
    }

    /// Runs a scan now (waiting for one already running) and records the outcome for /health.
    pub async fn scan_now(&self) -> ScanSummary {
        let (summary, security) = {
            let mut c = self.collector.lock().await;
            let summary = c.scan().await;
            let analyze = c.config().analyze_samples;
            let security = c.session().map(|s| Security::from_session(s, analyze));
            (summary, security)
        };
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

fn is_unreachable(err: &str) -> bool {
    err.starts_with("cannot reach") || err.starts_with("the database did not answer")
}
