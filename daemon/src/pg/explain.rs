//! Asking PostgreSQL for plans of foreign statements, the one way OptiDB does it: inside a unit
//! (pg/unit.rs), after a guard that refuses statements reaching untrusted functions
//! (pg/trust.rs), with the application's search path set for the transaction only.
//!
//! - **Generic plans** of normalized `$n` statements: `PREPARE` + `EXPLAIN EXECUTE` with a NULL
//!   per parameter under `plan_cache_mode = force_generic_plan` (PREPAREd anew each time, so
//!   hypothetical indexes created in between are seen), on every version. PostgreSQL 16's
//!   `EXPLAIN (GENERIC_PLAN)` cannot be sent by the extended protocol OptiDB uses: the `$n` become
//!   the protocol statement's own parameters, and the values bound for them are folded into the
//!   plan (`Filter: (cust = 5)`), so it is no generic plan. The plan helper (pg/helper.rs) runs
//!   inside the server without bound parameters and does use it from 16 on. Generic plans are
//!   made with `enable_partition_pruning` off (for the transaction, set back to the session's value
//!   after): executed
//!   with NULL parameters, a filter on the partition key would otherwise prune every partition
//!   at executor start-up and the plan would show no scan at all.
//! - A statement recorded as `PREPARE name AS <statement>` (SQL-level prepared statements in
//!   pg_stat_statements) is planned as the statement it holds ([`plannable_text`]).
//! - **Custom plans** of real-value samples: plain `EXPLAIN` (nothing is executed).
//! - **EXPLAIN ANALYZE** of samples executes them: only when the operator opted in (or on a
//!   sandbox), only for a single plain SELECT whose every function is a side-effect-free
//!   built-in (the guard's strict mode), on a throwaway connection.
//!
//! When the least-privilege helper is installed (pg/helper.rs), generic and custom plans go
//! through it, so whatever the planner folds runs with the helper's NOLOGIN role.

use super::error::PgError;
use super::helper::{self, HelperState};
use super::pipeline::{Param, Step};
use super::session::{self, Session, TargetConfig, MARKER};
use super::trust;
use super::unit::{Access, Answers, Unit, UnitError};
use optidb_core::sql;
use optidb_core::sql::reach::Reach;
use std::time::Duration;
use tokio_postgres::Row;

/// Sets the application's search path for the rest of the unit (prepared once per session;
/// always run with `search_path = pg_catalog`, before the switch).
const SEARCH_PATH_SQL: &str = "SELECT /* optidb */ pg_catalog.set_config('search_path', $1, true)";

/// Partition pruning off for the rest of the transaction, around generic plans (see
/// [`Planner::plan`]).
const PRUNING_OFF_SQL: &str =
    "SELECT /* optidb */ pg_catalog.set_config('enable_partition_pruning', 'off', true)";
/// Back to the session's own value (what RESET would restore), not a fixed `on`.
const PRUNING_ON_SQL: &str =
    "SELECT /* optidb */ pg_catalog.set_config('enable_partition_pruning', \
     (SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name = 'enable_partition_pruning'), \
     true)";

/// How a statement is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The normalized `$n` statement, planned generically.
    Generic,
    /// A statement with real values, planned (not executed).
    Custom,
    /// A statement with real values, executed (EXPLAIN ANALYZE, BUFFERS).
    Analyze,
}

/// What is planned for a statement: the statement itself, or for an SQL-level
/// `PREPARE name AS <statement>` (how pg_stat_statements records prepared statements, with the
/// `EXECUTE` calls counted under it) the statement inside.
pub fn plannable_text(sql: &str) -> &str {
    sql::fingerprint::prepared_body(sql).unwrap_or(sql)
}

/// Checks that `sql` (or the statement a `PREPARE` holds) is exactly one statement that has a plan (SELECT, INSERT, UPDATE, DELETE,
/// MERGE) and returns what it reaches.
pub fn check_plannable(sql: &str) -> Result<Reach, PgError> {
    let sql = plannable_text(sql);
    if sql.contains('\0') {
        return Err(PgError::NotPlannable(
            "the statement contains a NUL byte".into(),
        ));
    }
    let r = sql::reach::reach(sql)
        .map_err(|e| PgError::NotPlannable(format!("the statement does not parse: {e}")))?;
    if r.statements != 1 {
        return Err(PgError::NotPlannable(format!(
            "exactly one statement can be planned, this text holds {}",
            r.statements
        )));
    }
    if !r.is_one_plannable() {
        return Err(PgError::NotPlannable(
            "only SELECT, INSERT, UPDATE, DELETE and MERGE statements have plans".into(),
        ));
    }
    Ok(r)
}

/// Is this sample something EXPLAIN ANALYZE may execute at all: exactly one plain SELECT with
/// real values, no row locks, no writes (the guard then checks its functions)?
pub fn analyzable_sample(sample: &str) -> bool {
    if sample.contains(MARKER) || sample.contains('\0') {
        return false;
    }
    let mapped = sql::map_placeholders(sample);
    if !mapped.placeholders.is_empty() || sql::lex::max_param(&mapped.text) > 0 {
        return false;
    }
    sql::reach::reach(&mapped.text).is_ok_and(|r| r.is_one_plain_select())
}

/// The plan JSON in a plan step's rows: EXPLAIN's `json` column, or the helper's text.
pub fn plan_json(rows: &[Row]) -> Result<serde_json::Value, PgError> {
    let row = rows
        .first()
        .ok_or_else(|| PgError::Db("EXPLAIN returned no plan".into()))?;
    if let Ok(Some(v)) = row.try_get::<_, Option<serde_json::Value>>(0) {
        return Ok(v);
    }
    let text: String = row
        .try_get::<_, Option<String>>(0)
        .ok()
        .flatten()
        .ok_or_else(|| PgError::Db("EXPLAIN returned no plan".into()))?;
    serde_json::from_str(&text)
        .map_err(|e| PgError::Db(format!("EXPLAIN returned unreadable JSON: {e}")))
}

/// A unit that plans statements: guard and search path first, then the caller's plans.
pub struct Planner<'s> {
    session: &'s Session,
    unit: Unit,
    prepared: usize,
    /// `<schema>.explain($1, $2, $3, $4)` when the plan helper is in use (prepared once).
    helper: Option<tokio_postgres::Statement>,
}

impl<'s> Planner<'s> {
    /// Starts a unit whose statements reach no more than `checks` (a guard per entry; `true`
    /// for strict, what EXPLAIN ANALYZE executes). Guards run before the application's search
    /// path is set: they must only ever run with `search_path = pg_catalog`.
    pub async fn start(
        session: &'s Session,
        access: Access,
        checks: &[(&Reach, bool)],
    ) -> Result<Planner<'s>, PgError> {
        let mut unit = Unit::new(access);
        for (reach, strict) in checks {
            unit.push_guard(trust::guard(session, reach, *strict).await?);
        }
        let path = session
            .prepared(SEARCH_PATH_SQL, &[tokio_postgres::types::Type::TEXT])
            .await?;
        unit.push(Step::prepared(path).param(Param::Text(session.target.app_search_path())));
        let helper = match &session.info.helper {
            HelperState::Ok { schema, .. } => {
                use tokio_postgres::types::Type;
                let sql = format!("SELECT {MARKER} {schema}.explain($1, $2, $3, $4)");
                Some(
                    session
                        .prepared(&sql, &[Type::TEXT, Type::TEXT, Type::BOOL, Type::INT4])
                        .await?,
                )
            }
            _ => None,
        };
        Ok(Planner {
            session,
            unit,
            prepared: 0,
            helper,
        })
    }

    /// The unit, for statements of the caller's (hypothetical indexes, an index build).
    pub fn unit(&mut self) -> &mut Unit {
        &mut self.unit
    }

    /// Adds the statements that plan `sql` (checked with [`check_plannable`]) and returns the
    /// index of the one whose row is the plan.
    pub fn plan(&mut self, sql: &str, form: Form) -> usize {
        let sql = plannable_text(sql);
        let generic = form == Form::Generic;
        let nparams = sql::lex::max_param(sql);
        if generic {
            // A generic plan executed with NULL parameters would prune every partition of a
            // filter on the partition key at executor start-up (`Subplans Removed`): plan it with
            // pruning off, so the partitions stay visible. Back on right after, for what follows.
            self.unit.push(Step::new(PRUNING_OFF_SQL));
        }
        let at = self.plan_form(sql, form, nparams);
        if generic {
            self.unit.push(Step::new(PRUNING_ON_SQL));
        }
        at
    }

    fn plan_form(&mut self, sql: &str, form: Form, nparams: usize) -> usize {
        let s = self.session;
        let generic = form == Form::Generic;
        if let (Some(helper), Form::Generic | Form::Custom) = (&self.helper, form) {
            self.unit.prepares(helper::HELPER_PREPARED);
            return self.unit.push_slow(Step::prepared(helper.clone()).params([
                Param::Text(sql.to_string()),
                Param::Text(s.target.app_search_path()),
                Param::Bool(generic),
                Param::Int4(nparams as i32),
            ]));
        }
        match form {
            Form::Generic => {
                self.prepared += 1;
                let name = format!("optidb_plan_{}", self.prepared);
                self.unit.prepares(&name);
                self.unit
                    .push(Step::new(format!("PREPARE {MARKER} {name} AS {sql}")));
                // PREPARE without types infers one parameter per $n up to the highest.
                let args = if nparams > 0 {
                    format!("({})", vec!["NULL"; nparams].join(", "))
                } else {
                    String::new()
                };
                self.unit.push_slow(Step::new(format!(
                    "EXPLAIN {MARKER} (FORMAT JSON) EXECUTE {name}{args}"
                )))
            }
            Form::Custom => self
                .unit
                .push_slow(Step::new(format!("EXPLAIN {MARKER} (FORMAT JSON) {sql}"))),
            Form::Analyze => self.unit.push_slow(Step::new(format!(
                "EXPLAIN {MARKER} (ANALYZE, BUFFERS, FORMAT JSON) {sql}"
            ))),
        }
    }

    pub async fn run(self) -> Result<Answers, UnitError> {
        self.unit.run(self.session).await
    }
}

/// Plans one statement in one unit and returns its plan.
async fn plan_one(
    session: &Session,
    sql: &str,
    form: Form,
    timeout: Option<Duration>,
) -> Result<serde_json::Value, PgError> {
    let reach = check_plannable(sql)?;
    let mut p = Planner::start(
        session,
        Access::ReadOnly,
        &[(&reach, form == Form::Analyze)],
    )
    .await?;
    if let Some(t) = timeout {
        p.unit().set_statement_timeout(t);
    }
    let at = p.plan(sql, form);
    let answers = p.run().await.map_err(UnitError::into_pg)?;
    plan_json(answers.rows(at))
}

/// The generic plan of a normalized statement. An error here (a parameter type the planner
/// cannot infer, a table that no longer exists, an untrusted function) is about this query
/// only.
pub async fn generic_plan(session: &Session, norm_sql: &str) -> Result<serde_json::Value, PgError> {
    plan_one(session, norm_sql, Form::Generic, None).await
}

/// The plan of a statement with real values (plain EXPLAIN: nothing is executed).
pub async fn custom_plan(session: &Session, sample: &str) -> Result<serde_json::Value, PgError> {
    plan_one(session, sample, Form::Custom, None).await
}

/// EXPLAIN (ANALYZE, BUFFERS) of a real-value SELECT sample, on a connection of its own that is
/// closed afterwards, with `timeout` as its statement timeout. Executes the statement: the
/// caller decided the target allows it; this checks the sample ([`analyzable_sample`]) and the
/// guard checks its functions (strict).
pub async fn analyzed_plan(
    target: &TargetConfig,
    sample: &str,
    timeout: Duration,
) -> Result<serde_json::Value, PgError> {
    if !analyzable_sample(sample) {
        return Err(PgError::NotPlannable(
            "only a single plain SELECT with real values is executed".into(),
        ));
    }
    let throwaway = session::connect(target).await?;
    let plan = plan_one(&throwaway, sample, Form::Analyze, Some(timeout)).await;
    drop(throwaway);
    plan
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

    #[test]
    fn only_single_plannable_statements_are_planned() {
        assert!(check_plannable("SELECT * FROM t WHERE a = $1").is_ok());
        // pg_stat_statements' text of a prepared statement: its statement is planned.
        assert!(check_plannable("PREPARE p(int) AS SELECT * FROM t WHERE a = $1").is_ok());
        assert_eq!(
            plannable_text("PREPARE p(int) AS SELECT * FROM t WHERE a = $1"),
            "SELECT * FROM t WHERE a = $1"
        );
        assert!(check_plannable("PREPARE p AS VACUUM t").is_err());
        assert!(check_plannable("UPDATE t SET a = $1").is_ok());
        for bad in [
            "SELECT 1; SELECT 2",
            "VACUUM t",
            "SELEC 1",
            "",
            "SELECT '\0'",
        ] {
            assert!(
                matches!(check_plannable(bad), Err(PgError::NotPlannable(_))),
                "{bad:?}"
            );
        }
    }
}
