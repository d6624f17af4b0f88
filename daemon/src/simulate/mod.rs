//! The simulator: proves (or disproves) a recommendation's gain before anything touches the
//! database. hypopg mode plans a query with and without a hypothetical index ([`whatif`]); real
//! mode (sandboxes only) builds the index inside a transaction that is rolled back. Safety
//! rails: a cap on concurrent simulations, a per-minute rate limit per target, statement_timeout
//! on every step, an overall deadline, the trusted-functions guard (crate::pg::trust) and no
//! hypothetical state left behind. [`simulate_workload`] judges a set of indexes on every query
//! they affect, weighted by calls.

pub mod ddl;
pub mod error;
pub mod labels;
pub mod pool;
pub mod verify;
pub mod whatif;

pub use ddl::ValidatedDdl;
pub use error::SimError;
pub use whatif::{whatif, Stmt, WhatIf};

use crate::analyze::plan_facts::TableSizes;
use crate::clock::now_ms;
use crate::pg::explain::{self, check_plannable, plan_json, Form, Planner};
use crate::pg::pipeline::Step;
use crate::pg::unit::{Access, UnitError};
use crate::pg::{Session, MARKER};
use optidb_core::model::{Query, Simulation};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How a simulation is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Hypothetical indexes (hypopg): nothing is written; `after_ms` is an estimate.
    Hypopg,
    /// The index is built for real inside a transaction that is rolled back (sandboxes only).
    Real,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hypopg => "hypopg",
            Mode::Real => "real",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "hypopg" => Some(Mode::Hypopg),
            "real" => Some(Mode::Real),
            _ => None,
        }
    }
}

/// The simulator's limits.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Simulations running at once (others wait up to `queue_wait`).
    pub max_concurrent: usize,
    /// Simulations allowed per target per minute (a token bucket refilled continuously).
    pub per_minute: u32,
    /// Simulations one client (one address) may start per target per minute: no client can
    /// use the whole budget.
    pub per_client_per_minute: u32,
    /// statement_timeout of every step.
    pub step_timeout: Duration,
    /// How long a simulation waits for a free slot before giving up with [`SimError::Busy`].
    pub queue_wait: Duration,
    /// How long one simulation (or a workload simulation) may take once it has a slot; past
    /// it, its backend is cancelled and its connection closed.
    pub deadline: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            max_concurrent: 2,
            per_minute: 60,
            per_client_per_minute: 30,
            step_timeout: Duration::from_secs(5),
            queue_wait: Duration::from_secs(60),
            deadline: Duration::from_secs(60),
        }
    }
}

/// One simulation request.
#[derive(Debug, Clone)]
pub struct SimRequest<'a> {
    /// The rate-limit key (the target id).
    pub target: &'a str,
    /// Who asked (an address; empty for the daemon itself): its own rate limit.
    pub client: &'a str,
    pub query: &'a Query,
    /// The latest measured mean (pg_stat_statements), if any.
    pub mean_ms: Option<f64>,
    /// The recommendation simulated (empty when the caller gave DDL directly).
    pub rec_id: &'a str,
    /// Exactly one CREATE INDEX.
    pub ddl: &'a str,
    pub mode: Mode,
    /// Whether the target is marked as a sandbox (`--sandbox`): real mode needs it.
    pub target_is_sandbox: bool,
    /// Whether EXPLAIN ANALYZE of real-value samples is allowed on this target.
    pub analyze_samples: bool,
    /// To qualify relation names in labels (may be empty).
    pub tables: &'a TableSizes,
}

/// The simulator: limits plus the simulation itself. Share one per daemon.
pub struct Simulator {
    cfg: SimConfig,
    slots: Semaphore,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The tokens at `now`: refilled continuously up to `cap` a minute.
    fn refilled(&self, now: Instant, cap: f64) -> f64 {
        (self.tokens + now.duration_since(self.at).as_secs_f64() * cap / 60.0).min(cap)
    }
}

/// Rate-limit buckets kept before full ones are forgotten.
const MAX_BUCKETS: usize = 10_000;

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        Simulator {
            slots: Semaphore::new(cfg.max_concurrent.max(1)),
            cfg,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Takes one token of `target`'s per-minute budget and one of `client`'s share of it, or
    /// says which limit is reached (a refused request takes nothing).
    pub fn take_token(&self, target: &str, client: &str) -> Result<(), SimError> {
        let now = Instant::now();
        let mut m = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > MAX_BUCKETS {
            // Full buckets carry no state: forget them so that many clients cannot grow the map.
            let (per_target, per_client) = (self.cfg.per_minute, self.cfg.per_client_per_minute);
            m.retain(|k, b| {
                let cap = f64::from(
                    if k.starts_with("c:") {
                        per_client
                    } else {
                        per_target
                    }
                    .max(1),
                );
                b.refilled(now, cap) < cap
            });
            if m.len() > MAX_BUCKETS {
                // Still too many clients: forget their shares (the target's budget still holds).
                m.retain(|k, _| !k.starts_with("c:"));
            }
        }
        let target_cap = f64::from(self.cfg.per_minute.max(1));
        let client_cap = f64::from(self.cfg.per_client_per_minute.max(1));
        let target_key = format!("t:{target}");
        let client_key = format!("c:{target}:{client}");
        let t = m
            .get(&target_key)
            .map_or(target_cap, |b| b.refilled(now, target_cap));
        let c = m
            .get(&client_key)
            .map_or(client_cap, |b| b.refilled(now, client_cap));
        if t < 1.0 {
            return Err(SimError::RateLimited(self.cfg.per_minute));
        }
        if c < 1.0 && !client.is_empty() {
            return Err(SimError::ClientRateLimited(self.cfg.per_client_per_minute));
        }
        m.insert(
            target_key,
            Bucket {
                tokens: t - 1.0,
                at: now,
            },
        );
        if !client.is_empty() {
            m.insert(
                client_key,
                Bucket {
                    tokens: c - 1.0,
                    at: now,
                },
            );
        }
        Ok(())
    }

    /// Waits for a free slot (at most `queue_wait`).
    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, SimError> {
        match tokio::time::timeout(self.cfg.queue_wait, self.slots.acquire()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(SimError::Busy(self.cfg.max_concurrent)),
        }
    }

    /// Rate limit, slot, then [`Simulator::run`] on `session` (which must be used by nobody
    /// else meanwhile).
    pub async fn simulate(
        &self,
        session: &Session,
        req: &SimRequest<'_>,
    ) -> Result<Simulation, SimError> {
        let ddl = self.precheck(req)?;
        self.take_token(req.target, req.client)?;
        let _permit = self.slot().await?;
        self.run(session, req, ddl).await
    }

    /// What can be refused without touching the database. Returns the validated DDL.
    pub fn precheck(&self, req: &SimRequest<'_>) -> Result<ValidatedDdl, SimError> {
        let ddl = ddl::validate(req.ddl)?;
        if req.mode == Mode::Real {
            if !req.target_is_sandbox {
                return Err(SimError::Refused(
                    "real mode builds the index on the database, so it only runs on a database \
                     marked as a sandbox (optidb daemon --sandbox); this one is not"
                        .into(),
                ));
            }
            if !req.query.raw_has_values || !explain::analyzable_sample(&req.query.raw_sql) {
                return Err(SimError::BadStatement(
                    "real mode runs EXPLAIN ANALYZE and needs a real-value SELECT sample of this \
                     query; none has been seen yet"
                        .into(),
                ));
            }
        }
        Ok(ddl)
    }

    /// The simulation itself, without limits (the caller holds a slot), of `ddl` as
    /// [`Simulator::precheck`] returned it. hypopg mode runs under the session's
    /// statement_timeout ([`pool::SimService`] opens its sessions with `step_timeout`); real
    /// mode sets `step_timeout` on its own transaction.
    pub async fn run(
        &self,
        session: &Session,
        req: &SimRequest<'_>,
        ddl: ValidatedDdl,
    ) -> Result<Simulation, SimError> {
        match req.mode {
            Mode::Hypopg => self.run_hypopg(session, req, ddl).await,
            Mode::Real => self.run_real(session, req, ddl).await,
        }
    }

    async fn run_hypopg(
        &self,
        session: &Session,
        req: &SimRequest<'_>,
        ddl: ValidatedDdl,
    ) -> Result<Simulation, SimError> {
        let q = req.query;
        // Parsed only when needed (most simulations plan the measured generic statement).
        let sample = || q.raw_has_values && explain::analyzable_sample(&q.raw_sql);
        // Plan what was measured: the normalized statement generically; a real-value sample
        // when there is one and no measured mean (its EXPLAIN ANALYZE gives before_ms, where
        // the target allows executing samples).
        let measured = req.mean_ms.filter(|m| m.is_finite() && *m > 0.0);
        let (before_ms, stmt) = match measured {
            Some(m) => (m, Stmt::Generic(&q.norm_sql)),
            None if req.analyze_samples && sample() => {
                let analyzed =
                    explain::analyzed_plan(&session.target, &q.raw_sql, self.cfg.step_timeout)
                        .await?;
                (
                    execution_ms(&analyzed).unwrap_or(0.0),
                    Stmt::Sample(&q.raw_sql),
                )
            }
            None => (0.0, Stmt::Generic(&q.norm_sql)),
        };
        let ddls = std::slice::from_ref(&ddl);
        let w = match whatif(session, stmt, ddls).await {
            // A generic plan can fail where a real-value sample plans fine (a parameter type
            // the planner cannot infer): fall back to the sample.
            Err(SimError::Planner(_)) if matches!(stmt, Stmt::Generic(_)) && sample() => {
                whatif(session, Stmt::Sample(&q.raw_sql), ddls).await?
            }
            other => other?,
        };
        let ratio = if w.before_cost > 0.0 {
            (w.after_cost / w.before_cost).min(1.0)
        } else {
            1.0
        };
        let after_ms = if w.improvement_pct > 0.0 {
            before_ms * ratio
        } else {
            before_ms
        };
        let mut plan_changes = labels::plan_changes(&w.before_plan, &w.after_plan, req.tables);
        if w.improvement_pct == 0.0 {
            plan_changes.insert(0, NO_CHANGE.to_string());
        }
        let ran_at = now_ms();
        Ok(Simulation {
            id: sim_id(&q.id, ddl.as_str(), ran_at),
            query_id: q.id.clone(),
            rec_id: req.rec_id.to_string(),
            mode: Mode::Hypopg.as_str().into(),
            before_ms,
            after_ms,
            after_is_estimate: true,
            improvement_pct: w.improvement_pct,
            before_cost: w.before_cost,
            after_cost: w.after_cost,
            index_used: w.used.first().copied().unwrap_or(false),
            index_bytes: w.index_bytes.first().copied().flatten(),
            plan_changes,
            before_plan: w.before_plan,
            after_plan: w.after_plan,
            ran_at,
        })
    }

    /// Builds the index for real inside a read-write transaction that is rolled back (the
    /// caller checked the target is a sandbox), with EXPLAIN ANALYZE of the sample before and
    /// after. The sample may reach side-effect-free built-ins only, the index trusted functions
    /// only (the unit's guards).
    async fn run_real(
        &self,
        session: &Session,
        req: &SimRequest<'_>,
        ddl: ValidatedDdl,
    ) -> Result<Simulation, SimError> {
        let q = req.query;
        let mut ix = ddl::parse_create_index(ddl.as_str())?;
        let concurrent = std::mem::replace(&mut ix.concurrent, false); // not in a transaction
        let build = if concurrent {
            pg_query::NodeEnum::IndexStmt(Box::new(ix))
                .deparse(Default::default())
                .map_err(|e| SimError::BadDdl(format!("cannot rewrite the DDL: {e}")))?
        } else {
            ddl.as_str().to_string()
        };
        let sample = check_plannable(&q.raw_sql).map_err(SimError::from)?;
        let mut p = Planner::start(
            session,
            Access::ReadWrite,
            &[(&sample, true), (&ddl.reach(), false)],
        )
        .await
        .map_err(SimError::from)?;
        p.unit().set_statement_timeout(self.cfg.step_timeout);
        p.unit().set_lock_timeout(Duration::from_secs(2));
        let before_at = p.plan(&q.raw_sql, Form::Analyze);
        let build_at = p.unit().push_slow(Step::new(format!("{MARKER} {build}")));
        let after_at = p.plan(&q.raw_sql, Form::Analyze);
        // The unit always rolls back: the index never outlives the simulation.
        let answers = match p.run().await {
            Ok(a) => a,
            Err(UnitError::Step { at, error }) if at == build_at => {
                return Err(match SimError::from_pg(error) {
                    SimError::Planner(m) => {
                        SimError::BadDdl(format!("building the index failed: {m}"))
                    }
                    o => o,
                })
            }
            Err(e) => return Err(SimError::from(e)),
        };
        let before_plan = plan_json(answers.rows(before_at))?;
        let after_plan = plan_json(answers.rows(after_at))?;
        let before_ms = execution_ms(&before_plan).unwrap_or(0.0);
        let after_ms = execution_ms(&after_plan).unwrap_or(0.0);
        let before_cost = whatif::root_cost(&before_plan).unwrap_or(0.0);
        let after_cost = whatif::root_cost(&after_plan).unwrap_or(0.0);
        let improvement_pct = whatif::floored_improvement(before_ms, after_ms);
        let mut plan_changes = labels::plan_changes(&before_plan, &after_plan, req.tables);
        if improvement_pct == 0.0 {
            plan_changes.insert(0, NO_CHANGE.to_string());
        }
        let index_used = crate::analyze::plan_facts::walk_nodes(&after_plan).any(|n| {
            n.index_name().is_some()
                && !crate::analyze::plan_facts::walk_nodes(&before_plan)
                    .any(|b| b.index_name() == n.index_name())
        });
        let ran_at = now_ms();
        Ok(Simulation {
            id: sim_id(&q.id, ddl.as_str(), ran_at),
            query_id: q.id.clone(),
            rec_id: req.rec_id.to_string(),
            mode: Mode::Real.as_str().into(),
            before_ms,
            after_ms,
            after_is_estimate: false,
            improvement_pct,
            before_cost,
            after_cost,
            index_used,
            index_bytes: None,
            plan_changes,
            before_plan,
            after_plan,
            ran_at,
        })
    }
}

/// The label added when the improvement is floored to 0.
pub const NO_CHANGE: &str = "no meaningful change";

/// The content id of a simulation: blake3 of query id, DDL and time, 16 hex digits.
pub fn sim_id(query_id: &str, ddl: &str, ran_at: i64) -> String {
    let mut h = blake3::Hasher::new();
    h.update(query_id.as_bytes());
    h.update(b"\0");
    h.update(ddl.as_bytes());
    h.update(b"\0");
    h.update(&ran_at.to_le_bytes());
    h.finalize().to_hex()[..16].to_string()
}

/// `Execution Time` of an EXPLAIN ANALYZE document.
pub fn execution_ms(plan: &serde_json::Value) -> Option<f64> {
    let top = match plan {
        serde_json::Value::Array(a) => a.first()?,
        v => v,
    };
    top.get("Execution Time")?.as_f64()
}

/// One stored query of a workload simulation: its latest measured mean and its calls.
#[derive(Debug, Clone)]
pub struct WorkloadQuery<'a> {
    pub query: &'a Query,
    /// Latest measured mean (pg_stat_statements); without it the query counts with 0 ms.
    pub mean_ms: Option<f64>,
    /// Calls the saving is weighted by (for example the last interval's).
    pub calls: i64,
}

/// What a set of indexes saves on one query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkloadLine {
    pub query_id: String,
    pub calls: i64,
    pub before_ms: f64,
    /// Estimated from the cost ratio.
    pub after_ms: f64,
    pub improvement_pct: f64,
    /// Per index: used by this query's new plan.
    pub used: Vec<bool>,
    /// Why this query could not be simulated (it then counts as no saving).
    pub error: Option<String>,
}

/// A workload simulation: the indexes together, every affected query, weighted by calls.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkloadSaving {
    /// Σ calls × (before_ms − after_ms) over queries with a (floored) gain; an estimate.
    pub saved_ms: f64,
    /// Σ calls × before_ms over the queries.
    pub affected_ms: f64,
    pub lines: Vec<WorkloadLine>,
}

/// Simulates `ddls` together on every query of `queries` (one what-if per query, all indexes
/// at once, so indexes that compete for a query are judged together) and sums the estimated
/// time saved, weighted by calls. A query that cannot be planned is reported in its line and
/// counts as no saving; database failures stop the run.
pub async fn simulate_workload(
    session: &Session,
    queries: &[WorkloadQuery<'_>],
    ddls: &[ValidatedDdl],
) -> Result<WorkloadSaving, SimError> {
    let mut lines = Vec::with_capacity(queries.len());
    for wq in queries {
        let before_ms = wq
            .mean_ms
            .filter(|m| m.is_finite() && *m > 0.0)
            .unwrap_or(0.0);
        let mut line = WorkloadLine {
            query_id: wq.query.id.clone(),
            calls: wq.calls.max(0),
            before_ms,
            after_ms: before_ms,
            improvement_pct: 0.0,
            used: vec![false; ddls.len()],
            error: None,
        };
        match whatif(session, Stmt::Generic(&wq.query.norm_sql), ddls).await {
            Ok(w) => {
                if w.improvement_pct > 0.0 && w.before_cost > 0.0 {
                    line.after_ms = before_ms * (w.after_cost / w.before_cost).min(1.0);
                }
                line.improvement_pct = w.improvement_pct;
                line.used = w.used;
            }
            Err(
                e @ (SimError::Planner(_) | SimError::BadStatement(_) | SimError::Untrusted(_)),
            ) => {
                line.error = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        lines.push(line);
    }
    Ok(workload_saving(lines))
}

/// Sums workload lines: saved and affected milliseconds weighted by calls.
pub fn workload_saving(lines: Vec<WorkloadLine>) -> WorkloadSaving {
    let mut saved = 0.0;
    let mut affected = 0.0;
    for l in &lines {
        let c = l.calls as f64;
        affected += c * l.before_ms;
        if l.improvement_pct > 0.0 {
            saved += c * (l.before_ms - l.after_ms).max(0.0);
        }
    }
    WorkloadSaving {
        saved_ms: saved,
        affected_ms: affected,
        lines,
    }
}

#[cfg(test)]
mod tests;
