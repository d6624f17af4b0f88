//! Captures plans without ever changing the target: generic plans of normalized `$n`
//! statements (PostgreSQL 16+ `EXPLAIN (GENERIC_PLAN)`; on 15 and older a prepared statement
//! under `plan_cache_mode = force_generic_plan`), and `EXPLAIN (ANALYZE, BUFFERS)` of real-value
//! SELECT samples inside a read-only transaction that is always rolled back.

use super::error::CollectError;
use super::session::MARKER;
use optidb_core::sql;
use std::time::Duration;
use tokio_postgres::{Client, SimpleQueryMessage};

/// The name of the prepared statement generic plans use (one at a time per session).
pub const PREPARED_NAME: &str = "optidb_plan";

/// Runs a statement through the simple protocol and returns the first column of the first row.
async fn simple_value(client: &Client, sql: &str) -> Result<Option<String>, tokio_postgres::Error> {
    for msg in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(row) = msg {
            return Ok(row.get(0).map(str::to_string));
        }
    }
    Ok(None)
}

fn parse_plan(text: Option<String>) -> Result<serde_json::Value, CollectError> {
    let text = text.ok_or_else(|| CollectError::Db("EXPLAIN returned no plan".into()))?;
    serde_json::from_str(&text)
        .map_err(|e| CollectError::Db(format!("EXPLAIN returned unreadable JSON: {e}")))
}

/// The generic plan of a normalized statement. An error here (a parameter type the planner
/// cannot infer, a table that no longer exists) is about this query only. The one
/// generic-plan implementation: the simulator (`simulate::whatif`) plans through it too; it
/// PREPAREs anew on every call, so a plan always reflects the session's current (hypothetical)
/// indexes.
pub async fn generic_plan(
    client: &Client,
    server_version_num: u32,
    norm_sql: &str,
) -> Result<serde_json::Value, CollectError> {
    let pg = CollectError::from_pg;
    if server_version_num >= 160000 {
        let text = simple_value(
            client,
            &format!("EXPLAIN {MARKER} (GENERIC_PLAN, FORMAT JSON) {norm_sql}"),
        )
        .await
        .map_err(pg)?;
        return parse_plan(text);
    }
    client
        .batch_execute(&format!(
            "SET {MARKER} plan_cache_mode = force_generic_plan"
        ))
        .await
        .map_err(pg)?;
    client
        .batch_execute(&format!("PREPARE {MARKER} {PREPARED_NAME} AS {norm_sql}"))
        .await
        .map_err(pg)?;
    let result = async {
        let n: i32 = client
            .query_one(
                &format!("SELECT {MARKER} coalesce(cardinality(parameter_types), 0) FROM pg_prepared_statements WHERE name = $1"),
                &[&PREPARED_NAME],
            )
            .await
            .map_err(pg)?
            .get(0);
        let args = if n > 0 { format!("({})", vec!["NULL"; n as usize].join(", ")) } else { String::new() };
        let text = simple_value(client, &format!("EXPLAIN {MARKER} (FORMAT JSON) EXECUTE {PREPARED_NAME}{args}"))
            .await
            .map_err(pg)?;
        parse_plan(text)
    }
    .await;
    // Always deallocate, on success and on error, so the next PREPARE can reuse the name.
    let _ = client
        .batch_execute(&format!("DEALLOCATE {MARKER} {PREPARED_NAME}"))
        .await;
    result
}

/// Is this sample something OptiDB may execute: exactly one plain SELECT with real values?
pub fn analyzable_sample(sample: &str) -> bool {
    if sample.contains(MARKER) || sample.contains('\0') {
        return false;
    }
    let mapped = sql::map_placeholders(sample);
    if !mapped.placeholders.is_empty() || has_params(&mapped.text) {
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

fn has_params(text: &str) -> bool {
    sql::lex::tokenize(text)
        .iter()
        .any(|t| t.kind == sql::lex::TokenKind::Param)
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
    let pg = CollectError::from_pg;
    client
        .batch_execute(&format!(
            "BEGIN READ ONLY; SET LOCAL {MARKER} statement_timeout = {}",
            timeout.as_millis().max(1)
        ))
        .await
        .map_err(pg)?;
    let result = simple_value(
        client,
        &format!("EXPLAIN {MARKER} (ANALYZE, BUFFERS, FORMAT JSON) {sample}"),
    )
    .await
    .map_err(pg);
    // Always roll back, on success and on error.
    let rollback = client.batch_execute("ROLLBACK").await;
    let plan = parse_plan(result?)?;
    rollback.map_err(pg)?;
    Ok(plan)
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
