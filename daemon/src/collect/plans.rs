//! Captures plans without ever changing the target: generic plans of normalized `$n`
//! statements (PostgreSQL 16+ `EXPLAIN (GENERIC_PLAN)`; on 15 and older a prepared statement
//! under `plan_cache_mode = force_generic_plan`), and `EXPLAIN (ANALYZE, BUFFERS)` of real-value
//! SELECT samples inside a read-only transaction that is always rolled back.

use super::batch;
use super::error::CollectError;
use super::session::MARKER;
use optidb_core::sql;
use std::time::Duration;
use tokio_postgres::Client;

/// The name of the prepared statement generic plans use (one at a time per session).
pub const PREPARED_NAME: &str = "optidb_plan";

fn parse_plan(text: Option<&str>) -> Result<serde_json::Value, CollectError> {
    let text = text.ok_or_else(|| CollectError::Db("EXPLAIN returned no plan".into()))?;
    serde_json::from_str(text)
        .map_err(|e| CollectError::Db(format!("EXPLAIN returned unreadable JSON: {e}")))
}

/// The first column of the first row of one statement's rows in a batch answer.
fn first_value(rows: &batch::Rows) -> Option<&str> {
    rows.first()?.first()?.as_deref()
}

/// The plan (`EXPLAIN … FORMAT JSON`) in one statement's rows of a batch answer.
pub fn plan_in(rows: &batch::Rows) -> Result<serde_json::Value, CollectError> {
    parse_plan(first_value(rows))
}

/// Checks that `sql` is exactly one statement that has a plan (SELECT, INSERT, UPDATE,
/// DELETE, MERGE), so it can be put into a PREPARE or EXPLAIN, also inside a batch, without
/// smuggling in a second statement. Returns why not.
pub fn check_plannable(sql: &str) -> Result<(), String> {
    if sql.contains('\0') {
        return Err("the statement contains a NUL byte".into());
    }
    let parsed =
        pg_query::parse(sql, 0).map_err(|e| format!("the statement does not parse: {e}"))?;
    let stmts = &parsed.protobuf.stmts;
    if stmts.len() != 1 {
        return Err(format!(
            "exactly one statement can be planned, this text holds {}",
            stmts.len()
        ));
    }
    let plannable = stmts[0]
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
    if !plannable {
        return Err("only SELECT, INSERT, UPDATE, DELETE and MERGE statements have plans".into());
    }
    Ok(())
}

/// The statements that plan one statement inside a batch ([`batch::run`]), and where in them
/// the plan is. The statement must have passed [`check_plannable`].
#[derive(Debug, Clone)]
pub struct PlanSteps {
    pub statements: Vec<String>,
    /// Index of the statement whose row is the plan.
    pub plan_at: usize,
    /// Index of the PREPARE, if any: a batch that fails after it (and before the DEALLOCATE,
    /// which is last) leaves the prepared statement behind.
    pub prepare_at: Option<usize>,
}

impl PlanSteps {
    /// The generic plan of a normalized `$n` statement: PostgreSQL 16+ `EXPLAIN
    /// (GENERIC_PLAN)`; before, `SET plan_cache_mode = force_generic_plan`, `PREPARE`,
    /// `EXPLAIN EXECUTE` with a NULL per parameter, `DEALLOCATE`. PREPAREd anew each time, so
    /// the plan reflects the session's current (hypothetical) indexes.
    pub fn generic(server_version_num: u32, norm_sql: &str) -> PlanSteps {
        if server_version_num >= 160000 {
            return PlanSteps {
                statements: vec![format!(
                    "EXPLAIN {MARKER} (GENERIC_PLAN, FORMAT JSON) {norm_sql}"
                )],
                plan_at: 0,
                prepare_at: None,
            };
        }
        // PREPARE without types infers one parameter per $n up to the highest: that many NULLs.
        let n = sql::lex::max_param(norm_sql);
        let args = if n > 0 {
            format!("({})", vec!["NULL"; n].join(", "))
        } else {
            String::new()
        };
        PlanSteps {
            statements: vec![
                format!("SET {MARKER} plan_cache_mode = force_generic_plan"),
                format!("PREPARE {MARKER} {PREPARED_NAME} AS {norm_sql}"),
                format!("EXPLAIN {MARKER} (FORMAT JSON) EXECUTE {PREPARED_NAME}{args}"),
                format!("DEALLOCATE {MARKER} {PREPARED_NAME}"),
            ],
            plan_at: 2,
            prepare_at: Some(1),
        }
    }

    /// Where the PREPARE is when these statements start at index `offset` of a batch.
    pub fn prepares(&self, offset: usize) -> Option<usize> {
        self.prepare_at.map(|p| p + offset)
    }

    /// The plan of a statement with real values (costs only, nothing is executed).
    pub fn sample(sql: &str) -> PlanSteps {
        PlanSteps {
            statements: vec![format!("EXPLAIN {MARKER} (FORMAT JSON) {sql}")],
            plan_at: 0,
            prepare_at: None,
        }
    }
}

/// Whether an error is "prepared statement already exists": a call cancelled between its
/// PREPARE and DEALLOCATE left [`PREPARED_NAME`] behind on this connection.
pub fn is_stale_prepared(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| d.code().code() == "42P05")
}

/// Removes a [`PREPARED_NAME`] statement left behind on this connection, if there is one.
pub async fn deallocate_stale(client: &Client) -> Result<(), tokio_postgres::Error> {
    let rows = client
        .simple_query(&format!(
            "SELECT {MARKER} EXISTS (SELECT FROM pg_prepared_statements WHERE name = '{PREPARED_NAME}')"
        ))
        .await?;
    let stale = rows.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0) == Some("t"),
        _ => false,
    });
    if stale {
        client
            .batch_execute(&format!("DEALLOCATE {MARKER} {PREPARED_NAME}"))
            .await?;
    }
    Ok(())
}

/// Sends `undo` (if any), then removes a [`PREPARED_NAME`] statement left behind.
pub async fn clean_up(client: &Client, undo: Option<&str>) -> Result<(), tokio_postgres::Error> {
    if let Some(sql) = undo {
        client.batch_execute(sql).await?;
    }
    deallocate_stale(client).await
}

/// Runs a batch that PREPAREs [`PREPARED_NAME`] (the statements at `prepares`) and leaves
/// nothing behind. After a failure the statements after the failed one did not run, so
/// [`clean_up`] runs with `undo`. A prepared statement left by a cancelled earlier call makes a
/// PREPARE fail with "already exists": after the clean-up the batch is sent once more. The
/// clean-up is best effort; the batch's own error is the one returned.
pub async fn run_leaving_nothing(
    client: &Client,
    statements: &[String],
    prepares: &[usize],
    undo: Option<&str>,
) -> Result<Vec<batch::Rows>, batch::Failed> {
    let mut retried = false;
    loop {
        let f = match batch::run(client, statements).await {
            Ok(rows) => return Ok(rows),
            Err(f) => f,
        };
        let stale = prepares.contains(&f.at) && is_stale_prepared(&f.error);
        if f.at > 0 || stale {
            let _ = clean_up(client, undo).await;
        }
        if !stale || retried {
            return Err(f);
        }
        retried = true;
    }
}

/// The generic plan of a normalized statement, in one round trip. An error here (a parameter
/// type the planner cannot infer, a table that no longer exists) is about this query only. The
/// one generic-plan implementation: the simulator (`simulate::whatif`) plans with the same
/// [`PlanSteps`].
pub async fn generic_plan(
    client: &Client,
    server_version_num: u32,
    norm_sql: &str,
) -> Result<serde_json::Value, CollectError> {
    check_plannable(norm_sql).map_err(CollectError::Db)?;
    let steps = PlanSteps::generic(server_version_num, norm_sql);
    let rows = run_leaving_nothing(
        client,
        &steps.statements,
        steps.prepares(0).as_slice(),
        None,
    )
    .await
    .map_err(|f| CollectError::from_pg(f.error))?;
    plan_in(&rows[steps.plan_at])
}

/// Is this sample something OptiDB may execute: exactly one plain SELECT with real values?
pub fn analyzable_sample(sample: &str) -> bool {
    if sample.contains(MARKER) || sample.contains('\0') {
        return false;
    }
    let mapped = sql::map_placeholders(sample);
    if !mapped.placeholders.is_empty() || sql::lex::max_param(&mapped.text) > 0 {
        return false;
    }
    let Ok(parsed) = pg_query::parse(&mapped.text, 0) else {
        return false;
    };
    parsed.protobuf.stmts.len() == 1
        && parsed.protobuf.stmts[0]
            .stmt
            .as_ref()
            .and_then(|n| n.node.as_ref())
            .is_some_and(|n| {
                matches!(n, pg_query::NodeEnum::SelectStmt(s)
                if s.locking_clause.is_empty() && s.into_clause.is_none() && ctes_are_selects(s))
            })
}

/// Data-modifying CTEs (`WITH d AS (DELETE …) SELECT …`) make a SELECT write.
fn ctes_are_selects(s: &pg_query::protobuf::SelectStmt) -> bool {
    let Some(with) = &s.with_clause else {
        return true;
    };
    with.ctes.iter().all(|c| match c.node.as_ref() {
        Some(pg_query::NodeEnum::CommonTableExpr(cte)) => cte
            .ctequery
            .as_ref()
            .and_then(|q| q.node.as_ref())
            .is_some_and(
                |q| matches!(q, pg_query::NodeEnum::SelectStmt(inner) if ctes_are_selects(inner)),
            ),
        _ => false,
    })
}

/// EXPLAIN (ANALYZE, BUFFERS) of a real-value SELECT sample, in `BEGIN READ ONLY … ROLLBACK`
/// with its own statement timeout. Executes the statement: callers check [`analyzable_sample`].
pub async fn analyzed_plan(
    client: &Client,
    sample: &str,
    timeout: Duration,
) -> Result<serde_json::Value, CollectError> {
    if !analyzable_sample(sample) {
        return Err(CollectError::Db(
            "only a single plain SELECT with real values is executed".into(),
        ));
    }
    let statements = [
        "BEGIN READ ONLY".to_string(),
        format!(
            "SET LOCAL {MARKER} statement_timeout = {}",
            timeout.as_millis().max(1)
        ),
        format!("EXPLAIN {MARKER} (ANALYZE, BUFFERS, FORMAT JSON) {sample}"),
        "ROLLBACK".to_string(),
    ];
    match batch::run(client, &statements).await {
        Ok(rows) => plan_in(&rows[2]),
        Err(f) => {
            // The transaction stays open (aborted) after an error: always roll back.
            if f.at > 0 {
                client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(CollectError::from_pg)?;
            }
            Err(CollectError::from_pg(f.error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_selects_with_values_are_executed() {
        assert!(analyzable_sample(
            "SELECT * FROM orders WHERE customer_id = 42"
        ));
        assert!(!analyzable_sample(
            "SELECT * FROM orders WHERE customer_id = $1"
        ));
        assert!(!analyzable_sample(
            "SELECT * FROM orders WHERE customer_id = ?"
        ));
        assert!(!analyzable_sample("DELETE FROM orders WHERE id = 1"));
        assert!(!analyzable_sample("SELECT * FROM orders FOR UPDATE"));
        assert!(!analyzable_sample("SELECT 1; SELECT 2"));
        assert!(!analyzable_sample("SELECT * INTO x FROM orders"));
        assert!(!analyzable_sample(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"
        ));
        assert!(!analyzable_sample("SELECT /* optidb */ 1"));
    }
}
