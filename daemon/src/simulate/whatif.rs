//! The one place hypopg is driven: plan a statement, add hypothetical indexes, plan it again,
//! and compare — on one connection, leaving no hypothetical state behind. The advisor verifies
//! its candidates through [`whatif`]; the simulator builds [`Simulation`]s on it.
//!
//! # No hypothetical state is left behind
//!
//! Hypothetical indexes live in the backend's memory, so they must be reset on the same
//! connection:
//!
//! - **Success and every error path:** [`whatif`] runs its steps in an inner future and calls
//!   `hypopg_reset()` after it, whatever it returned (a planner error, statement_timeout, a bad
//!   DDL after earlier indexes were created …).
//! - **Cancellation:** when the caller drops the future mid-way (a client disconnect, a
//!   `tokio::time::timeout`), no code runs on that connection any more and the indexes stay.
//!   Therefore every [`whatif`] call **starts** with `hypopg_reset()` (and deallocates a
//!   prepared statement a dropped generic-plan step may have left): the next use of the
//!   connection through this module begins from a clean state. Code that uses such a
//!   connection for anything else first calls [`reset`]. tokio-postgres keeps a connection
//!   usable when a request future is dropped (the connection task drains the answer).
//!
//! # Generic plans
//!
//! `$n` statements are planned by [`crate::collect::plans::generic_plan`], the same code the
//! collector uses; it PREPAREs anew each time, so the "after" plan sees the hypothetical
//! indexes (a prepared statement would keep its cached plan). Real-value samples are planned
//! with plain `EXPLAIN` (costs only, nothing is executed).

use super::ddl;
use super::error::SimError;
use crate::analyze::plan_facts::walk_nodes;
use crate::collect::plans::{generic_plan, PREPARED_NAME};
use crate::collect::session::MARKER;
use tokio_postgres::{Client, SimpleQueryMessage};

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

/// Removes every hypothetical index of this backend and a generic-plan prepared statement a
/// cancelled call may have left. Cheap (one round trip when nothing is left over).
pub async fn reset(client: &Client) -> Result<(), SimError> {
    let sql = format!(
        "SELECT {MARKER} hypopg_reset(), EXISTS (SELECT FROM pg_prepared_statements WHERE name = '{PREPARED_NAME}')"
    );
    let mut stale = false;
    for msg in client.simple_query(&sql).await.map_err(SimError::from_pg)? {
        if let SimpleQueryMessage::Row(row) = msg {
            stale = row.get(1) == Some("t");
        }
    }
    if stale {
        client
            .batch_execute(&format!("DEALLOCATE {MARKER} {PREPARED_NAME}"))
            .await
            .map_err(SimError::from_pg)?;
    }
    Ok(())
}

/// Plans `stmt`, creates the hypothetical indexes of `index_ddls` (each exactly one
/// CREATE INDEX; CONCURRENTLY and IF NOT EXISTS are dropped), plans again and compares.
/// Starts and ends with `hypopg_reset()` (see the module documentation). Works in read-only
/// sessions; statement_timeout is the session's.
pub async fn whatif(
    client: &Client,
    server_version_num: u32,
    stmt: Stmt<'_>,
    index_ddls: &[String],
) -> Result<WhatIf, SimError> {
    // Validate everything before touching the connection.
    check_statement(stmt)?;
    let ddls = index_ddls
        .iter()
        .map(|d| ddl::for_hypopg(d))
        .collect::<Result<Vec<_>, _>>()?;
    if ddls.is_empty() {
        return Err(SimError::BadDdl("no index to simulate".into()));
    }
    // Always reset first: a cancelled earlier call may have left hypothetical indexes.
    reset(client).await?;
    let result = steps(client, server_version_num, stmt, &ddls).await;
    let cleanup = reset(client).await;
    let out = result?;
    cleanup?;
    Ok(out)
}

async fn steps(
    client: &Client,
    server_version_num: u32,
    stmt: Stmt<'_>,
    ddls: &[String],
) -> Result<WhatIf, SimError> {
    let before_plan = plan(client, server_version_num, stmt).await?;
    let mut names = Vec::with_capacity(ddls.len());
    let mut index_bytes = Vec::with_capacity(ddls.len());
    for d in ddls {
        // One round trip: create, and its estimated size (NULL when hypopg cannot tell).
        let row = client
            .query_one(
                &format!(
                    "SELECT {MARKER} h.indexname, \
                     (SELECT hypopg_relation_size(h.indexrelid))::int8 \
                     FROM hypopg_create_index($1) h"
                ),
                &[d],
            )
            .await
            .map_err(|e| match SimError::from_pg(e) {
                SimError::Planner(m) => SimError::BadDdl(format!("hypopg refused {d:?}: {m}")),
                other => other,
            })?;
        names.push(row.get::<_, String>(0));
        index_bytes.push(row.get::<_, Option<i64>>(1));
    }
    // PREPAREd again inside: a cached plan would not see the new indexes.
    let after_plan = plan(client, server_version_num, stmt).await?;
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

/// One statement, nothing that could smuggle a second one into a PREPARE or EXPLAIN.
fn check_statement(stmt: Stmt<'_>) -> Result<(), SimError> {
    let sql = match stmt {
        Stmt::Generic(s) | Stmt::Sample(s) => s,
    };
    if sql.contains('\0') {
        return Err(SimError::BadStatement(
            "the statement contains a NUL byte".into(),
        ));
    }
    let parsed = pg_query::parse(sql, 0)
        .map_err(|e| SimError::BadStatement(format!("the statement does not parse: {e}")))?;
    let stmts = &parsed.protobuf.stmts;
    if stmts.len() != 1 {
        return Err(SimError::BadStatement(format!(
            "exactly one statement can be simulated, this text holds {}",
            stmts.len()
        )));
    }
    let explainable = stmts[0]
        .stmt
        .as_ref()
        .and_then(|n| n.node.as_ref())
        .is_some_and(|n| {
            matches!(
                n,
                pg_query::NodeEnum::SelectStmt(_)
                    | pg_query::NodeEnum::InsertStmt(_)
                    | pg_query::NodeEnum::UpdateStmt(_)
                    | pg_query::NodeEnum::DeleteStmt(_)
                    | pg_query::NodeEnum::MergeStmt(_)
            )
        });
    if !explainable {
        return Err(SimError::BadStatement(
            "only SELECT, INSERT, UPDATE, DELETE and MERGE statements have plans to compare".into(),
        ));
    }
    Ok(())
}

async fn plan(
    client: &Client,
    server_version_num: u32,
    stmt: Stmt<'_>,
) -> Result<serde_json::Value, SimError> {
    match stmt {
        Stmt::Generic(sql) => Ok(generic_plan(client, server_version_num, sql).await?),
        Stmt::Sample(sql) => {
            let msgs = client
                .simple_query(&format!("EXPLAIN {MARKER} (FORMAT JSON) {sql}"))
                .await
                .map_err(SimError::from_pg)?;
            let text = msgs.into_iter().find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            });
            let text = text.ok_or_else(|| SimError::Planner("EXPLAIN returned no plan".into()))?;
            serde_json::from_str(&text)
                .map_err(|e| SimError::Planner(format!("EXPLAIN returned unreadable JSON: {e}")))
        }
    }
}
