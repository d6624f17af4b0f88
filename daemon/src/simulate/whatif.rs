//! The one place hypopg is driven: plan a statement, add hypothetical indexes, plan it again,
//! and compare — on one connection, leaving no hypothetical state behind. The advisor verifies
//! its candidates through [`whatif`]; the simulator builds [`Simulation`]s on it.
//!
//! # One round trip
//!
//! A what-if is sent as one batch ([`crate::collect::batch`]): `hypopg_reset()`, the baseline
//! plan, `hypopg_create_index` per index, the plan again, `hypopg_reset()`. One message instead
//! of one per step is what keeps simulations cheap for the target (see docs/performance.md).
//!
//! # No hypothetical state is left behind
//!
//! Hypothetical indexes live in the backend's memory, so they must be reset on the same
//! connection:
//!
//! - **Success:** the batch ends with `hypopg_reset()` (and the generic plan's DEALLOCATE).
//! - **Every error path:** PostgreSQL skips the statements after a failing one, so [`whatif`]
//!   then resets itself (`plans::run_leaving_nothing`), whatever failed (a planner error, statement_timeout, a bad
//!   DDL after earlier indexes were created …).
//! - **Cancellation:** when the caller drops the future mid-way (a client disconnect, a
//!   `tokio::time::timeout`), the server still runs the rest of the batch, final reset
//!   included, unless a statement fails. For that case every batch also **starts** with
//!   `hypopg_reset()`, and a generic-plan prepared statement left behind makes the next PREPARE
//!   fail with "already exists", which [`whatif`] answers with a reset and one retry: the
//!   next use of the connection through this module begins from a clean state. Code that uses
//!   such a connection for anything else first calls [`reset`]. tokio-postgres keeps a
//!   connection usable when a request future is dropped (the connection task drains the answer).
//!
//! # Generic plans
//!
//! `$n` statements are planned with [`PlanSteps::generic`], the same statements the collector
//! uses; they PREPARE anew each time, so the "after" plan sees the hypothetical indexes (a
//! prepared statement would keep its cached plan). Real-value samples are planned with plain
//! `EXPLAIN` (costs only, nothing is executed).

use super::ddl;
use super::error::SimError;
use crate::analyze::plan_facts::walk_nodes;
use crate::collect::batch;
use crate::collect::plans::{check_plannable, clean_up, plan_in, run_leaving_nothing, PlanSteps};
use crate::collect::session::MARKER;
use tokio_postgres::Client;

/// What to plan: a normalized statement or a sample with real values.
#[derive(Debug, Clone, Copy)]
pub enum Stmt<'a> {
    /// Normalized SQL with `$n` parameters (planned generically).
    Generic(&'a str),
    /// SQL with real values (planned with EXPLAIN, not executed).
    Sample(&'a str),
}

/// The outcome of one what-if: both plans and costs, per index whether the planner used it and
/// its estimated size.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub before_cost: f64,
    pub after_cost: f64,
    /// Cost reduction in percent, floored: under [`MIN_IMPROVEMENT_PCT`] (or worse) it is 0.
    pub improvement_pct: f64,
    pub before_plan: serde_json::Value,
    pub after_plan: serde_json::Value,
    /// Per index in `index_ddls`: does the "after" plan use it.
    pub used: Vec<bool>,
    /// Per index: `hypopg_relation_size` (estimated bytes), `None` when hypopg cannot tell.
    pub index_bytes: Vec<Option<i64>>,
}

/// A cost reduction under this many percent is reported as no improvement.
pub const MIN_IMPROVEMENT_PCT: f64 = 5.0;

/// The floored improvement of going from `before` to `after` (costs or times): 0 when it is
/// small, negative, or cannot be measured.
pub fn floored_improvement(before: f64, after: f64) -> f64 {
    if !(before.is_finite() && after.is_finite()) || before <= 0.0 || after < 0.0 {
        return 0.0;
    }
    let pct = (before - after) / before * 100.0;
    if pct < MIN_IMPROVEMENT_PCT {
        0.0
    } else {
        (pct * 10.0).round() / 10.0
    }
}

/// The total cost of a plan's root node (`[{"Plan": …}]` or `{"Plan": …}`).
pub fn root_cost(plan: &serde_json::Value) -> Option<f64> {
    let top = match plan {
        serde_json::Value::Array(a) => a.first()?,
        v => v,
    };
    top.get("Plan")?.get("Total Cost")?.as_f64()
}

/// What undoes a what-if's hypothetical indexes.
fn hypopg_reset() -> String {
    format!("SELECT {MARKER} hypopg_reset()")
}

/// Removes every hypothetical index of this backend and a generic-plan prepared statement a
/// cancelled call may have left. Two round trips (three when a prepared statement was left).
pub async fn reset(client: &Client) -> Result<(), SimError> {
    clean_up(client, Some(&hypopg_reset()))
        .await
        .map_err(SimError::from_pg)
}

/// Plans `stmt`, creates the hypothetical indexes of `index_ddls` (each exactly one
/// CREATE INDEX; CONCURRENTLY and IF NOT EXISTS are dropped), plans again and compares.
/// Starts and ends with `hypopg_reset()` (see the module documentation). One round trip when
/// it succeeds. Works in read-only sessions; statement_timeout is the session's.
pub async fn whatif(
    client: &Client,
    server_version_num: u32,
    stmt: Stmt<'_>,
    index_ddls: &[String],
) -> Result<WhatIf, SimError> {
    // Validate everything before touching the connection.
    let sql = match stmt {
        Stmt::Generic(s) | Stmt::Sample(s) => s,
    };
    check_plannable(sql).map_err(SimError::BadStatement)?;
    let ddls = index_ddls
        .iter()
        .map(|d| ddl::for_hypopg(d))
        .collect::<Result<Vec<_>, _>>()?;
    if ddls.is_empty() {
        return Err(SimError::BadDdl("no index to simulate".into()));
    }
    let plan = match stmt {
        Stmt::Generic(s) => PlanSteps::generic(server_version_num, s),
        Stmt::Sample(s) => PlanSteps::sample(s),
    };
    let b = Batch::new(plan, &ddls);
    // On an error, the clean-up resets hypopg and removes a prepared statement left behind.
    let prepares: Vec<usize> = [b.plan.prepares(b.before_at), b.plan.prepares(b.after_at)]
        .into_iter()
        .flatten()
        .collect();
    match run_leaving_nothing(client, &b.statements, &prepares, Some(&hypopg_reset())).await {
        Ok(rows) => b.outcome(&rows),
        Err(f) => Err(b.error(f)),
    }
}

/// The statements of one what-if, sent as one batch: reset, baseline plan, the hypothetical
/// indexes, the plan again, reset.
struct Batch<'a> {
    statements: Vec<String>,
    ddls: &'a [String],
    /// The plan's statements, sent twice: before and after the hypothetical indexes.
    plan: PlanSteps,
    /// Index of the first statement of the "before" plan.
    before_at: usize,
    /// Index of the first `hypopg_create_index`.
    create_at: usize,
    /// Index of the first statement of the "after" plan.
    after_at: usize,
}

impl<'a> Batch<'a> {
    fn new(plan: PlanSteps, ddls: &'a [String]) -> Batch<'a> {
        // Always reset first: a cancelled earlier call may have left hypothetical indexes.
        let mut statements = vec![hypopg_reset()];
        let before_at = statements.len();
        statements.extend(plan.statements.iter().cloned());
        let create_at = statements.len();
        for d in ddls {
            // The index and its estimated size (NULL when hypopg cannot tell).
            statements.push(format!(
                "SELECT {MARKER} h.indexname, (SELECT hypopg_relation_size(h.indexrelid))::int8 \
                 FROM hypopg_create_index({}) h",
                batch::quote_literal(d)
            ));
        }
        let after_at = statements.len();
        // PREPAREd again: a cached plan would not see the new indexes.
        statements.extend(plan.statements.iter().cloned());
        statements.push(hypopg_reset());
        Batch {
            statements,
            ddls,
            plan,
            before_at,
            create_at,
            after_at,
        }
    }

    /// The error of the statement that failed, in the simulator's terms.
    fn error(&self, f: batch::Failed) -> SimError {
        let e = SimError::from_pg(f.error);
        let created = f.at.checked_sub(self.create_at);
        match (e, created) {
            (SimError::Planner(m), Some(i)) if i < self.ddls.len() => {
                SimError::BadDdl(format!("hypopg refused {:?}: {m}", self.ddls[i]))
            }
            (e, _) => e,
        }
    }

    fn outcome(&self, rows: &[batch::Rows]) -> Result<WhatIf, SimError> {
        let missing = || SimError::Db("the database answered fewer results than statements".into());
        let rows_of = |i: usize| rows.get(i).ok_or_else(missing);
        let before_plan = plan_in(rows_of(self.before_at + self.plan.plan_at)?)?;
        let after_plan = plan_in(rows_of(self.after_at + self.plan.plan_at)?)?;
        let mut names = Vec::with_capacity(self.ddls.len());
        let mut index_bytes = Vec::with_capacity(self.ddls.len());
        for i in 0..self.ddls.len() {
            let row = rows_of(self.create_at + i)?.first().ok_or_else(missing)?;
            names.push(row.first().cloned().flatten().unwrap_or_default());
            index_bytes.push(row.get(1).cloned().flatten().and_then(|v| v.parse().ok()));
        }
        let used_names: Vec<&str> = walk_nodes(&after_plan)
            .filter_map(|n| n.index_name())
            .collect();
        let used = names
            .iter()
            .map(|n| used_names.iter().any(|u| u == n))
            .collect();
        let before_cost = root_cost(&before_plan)
            .ok_or_else(|| SimError::Planner("the plan has no total cost".into()))?;
        let after_cost = root_cost(&after_plan)
            .ok_or_else(|| SimError::Planner("the plan has no total cost".into()))?;
        Ok(WhatIf {
            before_cost,
            after_cost,
            improvement_pct: floored_improvement(before_cost, after_cost),
            before_plan,
            after_plan,
            used,
            index_bytes,
        })
    }
}
