//! The one place hypopg is driven: plan a statement, add hypothetical indexes, plan it again,
//! and compare — on one connection, leaving no hypothetical state behind. The advisor verifies
//! its candidates through [`whatif`]; the simulator builds [`Simulation`]s on it.
//!
//! # One unit, one round trip
//!
//! A what-if is one unit (crate::pg::unit): `BEGIN READ ONLY`, the guard (the statement and the
//! index DDL may reach only trusted functions, crate::pg::trust), `hypopg_reset()`, the baseline
//! plan, `hypopg_create_index` per index (the DDL travels as a bound parameter), the plan again
//! (PREPAREd anew: a prepared statement would keep its cached plan), `ROLLBACK`, then
//! `hypopg_reset()` and the unit's clean-up and state check. Everything is pipelined: one round
//! trip, which keeps simulations cheap for the target (docs/performance.md).
//!
//! # No hypothetical state is left behind
//!
//! Hypothetical indexes live in the backend's memory and are not transactional, so the unit
//! resets them after its ROLLBACK whatever failed (a planner error, statement_timeout, a DDL
//! hypopg refuses …); every what-if also starts with a reset. A what-if that runs past its
//! deadline cancels its backend and marks the session unusable, and a cancelled caller's
//! session is closed (crate::simulate::pool): a connection in doubt is never reused.
//!
//! [`Simulation`]: optidb_core::model::Simulation

use super::ddl::ValidatedDdl;
use super::error::SimError;
use crate::analyze::plan_facts::walk_nodes;
use crate::pg::explain::{check_plannable, plan_json, Form, Planner};
use crate::pg::pipeline::{Param, Step};
use crate::pg::unit::{Access, Answers, UnitError};
use crate::pg::{Session, MARKER};
use tokio_postgres::types::Type;

/// What to plan: a normalized statement or a sample with real values.
#[derive(Debug, Clone, Copy)]
pub enum Stmt<'a> {
    /// Normalized SQL with `$n` parameters (planned generically).
    Generic(&'a str),
    /// SQL with real values (planned with EXPLAIN, not executed).
    Sample(&'a str),
}

impl Stmt<'_> {
    fn sql(&self) -> &str {
        match self {
            Stmt::Generic(s) | Stmt::Sample(s) => s,
        }
    }

    fn form(&self) -> Form {
        match self {
            Stmt::Generic(_) => Form::Generic,
            Stmt::Sample(_) => Form::Custom,
        }
    }
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

/// Plans `stmt`, creates the hypothetical indexes of `index_ddls` (CONCURRENTLY and IF NOT
/// EXISTS are dropped), plans again and compares, in one unit (see the module documentation).
/// Works in read-only sessions; statement_timeout is the session's.
pub async fn whatif(
    session: &Session,
    stmt: Stmt<'_>,
    index_ddls: &[ValidatedDdl],
) -> Result<WhatIf, SimError> {
    // Validate everything before touching the connection.
    let sql = stmt.sql();
    let mut reach = check_plannable(sql).map_err(|e| SimError::BadStatement(e.to_string()))?;
    if index_ddls.is_empty() {
        return Err(SimError::BadDdl("no index to simulate".into()));
    }
    let mut hypo = Vec::with_capacity(index_ddls.len());
    for d in index_ddls {
        hypo.push(d.for_hypopg()?);
        reach.merge(&d.reach());
    }
    let Some(h) = session.info.hypopg_schema.clone() else {
        return Err(SimError::NoHypopg);
    };
    let mut p = Planner::start(session, Access::ReadOnly, &[(&reach, false)])
        .await
        .map_err(SimError::from)?;
    // OptiDB's own statements, prepared once per session; they run after the unit switched to
    // the application's search path (the DDL's names resolve like the application's).
    let text = Type::TEXT;
    let reset = session
        .prepared(&format!("SELECT {MARKER} {h}.hypopg_reset()"), &[])
        .await?;
    // The index and its estimated size (NULL when hypopg cannot tell).
    let create = session
        .prepared(
            &format!(
                "SELECT {MARKER} x.indexname, {h}.hypopg_relation_size(x.indexrelid)::pg_catalog.int8 \
                 FROM {h}.hypopg_create_index($1) AS x"
            ),
            &[text],
        )
        .await?;
    p.unit().uses_hypopg(&h);
    p.unit().push(Step::prepared(reset));
    let before_at = p.plan(sql, stmt.form());
    let create_at: Vec<usize> = hypo
        .iter()
        .map(|d| {
            p.unit()
                .push(Step::prepared(create.clone()).param(Param::Text(d.clone())))
        })
        .collect();
    let after_at = p.plan(sql, stmt.form());
    match p.run().await {
        Ok(answers) => outcome(&answers, before_at, &create_at, after_at),
        Err(UnitError::Step { at, error }) => {
            let e = SimError::from_pg(error);
            match (e, create_at.iter().position(|c| *c == at)) {
                (SimError::Planner(m), Some(i)) => Err(SimError::BadDdl(format!(
                    "hypopg refused {:?}: {m}",
                    hypo[i]
                ))),
                (e, _) => Err(e),
            }
        }
        Err(e) => Err(SimError::from(e)),
    }
}

fn outcome(
    answers: &Answers,
    before_at: usize,
    create_at: &[usize],
    after_at: usize,
) -> Result<WhatIf, SimError> {
    let before_plan = plan_json(answers.rows(before_at))?;
    let after_plan = plan_json(answers.rows(after_at))?;
    let mut names = Vec::with_capacity(create_at.len());
    let mut index_bytes = Vec::with_capacity(create_at.len());
    for at in create_at {
        let row = answers
            .rows(*at)
            .first()
            .ok_or_else(|| SimError::Db("hypopg_create_index returned no row".into()))?;
        names.push(
            row.try_get::<_, Option<String>>(0)
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
        index_bytes.push(row.try_get::<_, Option<i64>>(1).ok().flatten());
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
