//! A unit: everything OptiDB sends about a foreign statement (planning it, what-ifs, samples)
//! runs as one unit, in one round trip:
//!
//! ```text
//! BEGIN READ ONLY                         -- (READ WRITE only for real mode on sandboxes)
//! SELECT set_config(…, true) …            -- the session's settings asserted again, locally
//! <the caller's statements>               -- a guard first (pg/trust.rs), then plans
//! ROLLBACK                                -- undoes any setting a function changed
//! DEALLOCATE <ours>
//! SELECT <state check>, pg_advisory_unlock_all(), hypopg_reset()
//! ```
//!
//! What a function could leave behind survives ROLLBACK in three ways only: SQL prepared
//! statements, session-level advisory locks and hypopg's hypothetical indexes; the tail removes
//! all three and checks the session is exactly as it was pinned at connect time (settings, no
//! SQL prepared statement, same role) — a check rather than a `RESET ALL`, so a change that
//! should be impossible is noticed instead of silently undone. OptiDB's own statements of a
//! unit (settings, guard, check) are prepared once per session. If that check or any clean-up statement fails, or the
//! unit runs past its deadline (the backend is then cancelled), the session is marked unusable
//! and its owner reconnects: a connection whose state is in doubt is never reused.

use super::error::PgError;
use super::pipeline::{self, Param, Step};
use super::session::{Session, MARKER};
use std::time::Duration;
use tokio_postgres::types::Type;
use tokio_postgres::Row;

/// The unit's settings, asserted again for its transaction only ($1 statement_timeout, $2
/// lock_timeout; the rest as pinned at connect). Prepared once per session.
const SETTINGS_SQL: &str = "SELECT /* optidb */ \
    pg_catalog.set_config('statement_timeout', $1, true), \
    pg_catalog.set_config('lock_timeout', $2, true), \
    pg_catalog.set_config('search_path', 'pg_catalog', true), \
    pg_catalog.set_config('standard_conforming_strings', 'on', true), \
    pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true), \
    pg_catalog.set_config('jit', 'off', true)";

/// After the ROLLBACK: releases session advisory locks and checks the session is as pinned at
/// connect ($1..$3: statement_timeout, lock_timeout, idle_in_transaction_session_timeout as
/// the server showed them), with no SQL prepared statement and the login role in charge. A
/// unit that drove hypopg appends its reset. Prepared once per session.
const CHECK_SQL: &str = "SELECT /* optidb */ \
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql) = 0 \
    AND pg_catalog.current_setting('default_transaction_read_only') = 'on' \
    AND pg_catalog.current_setting('standard_conforming_strings') = 'on' \
    AND pg_catalog.current_setting('search_path') = 'pg_catalog' \
    AND pg_catalog.current_setting('statement_timeout') = $1 \
    AND pg_catalog.current_setting('lock_timeout') = $2 \
    AND pg_catalog.current_setting('idle_in_transaction_session_timeout') = $3 \
    AND session_user = current_user, \
    pg_catalog.pg_advisory_unlock_all()";

/// Read-only (every target) or read-write (real-mode simulations on sandboxes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The statements of one unit, built by the caller, run by [`Unit::run`].
#[derive(Debug)]
pub struct Unit {
    access: Access,
    body: Vec<Step>,
    /// Which body steps are guards (their failure means "untrusted", see pg/trust.rs).
    guards: Vec<usize>,
    statement_timeout: Option<Duration>,
    lock_timeout: Option<Duration>,
    /// SQL prepared statements the body creates (deallocated after the ROLLBACK).
    prepared: Vec<String>,
    hypopg_schema: Option<String>,
    /// Body steps that may take up to the statement timeout (they set the deadline).
    slow_steps: u32,
}

/// The rows of every body step, by the index [`Unit::push`] returned.
#[derive(Debug)]
pub struct Answers(pub Vec<Vec<Row>>);

impl Answers {
    pub fn rows(&self, at: usize) -> &[Row] {
        self.0.get(at).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Why a unit failed.
#[derive(Debug)]
pub enum UnitError {
    /// The body step `at` failed (the steps after it did not run).
    Step {
        at: usize,
        error: tokio_postgres::Error,
    },
    /// The guard found functions OptiDB does not trust (their descriptions).
    Untrusted(String),
    /// Opening the transaction or asserting the settings failed.
    Prologue(tokio_postgres::Error),
    /// The unit did not finish in time: the backend was cancelled.
    Deadline(Duration),
    /// Preparing one of OptiDB's own statements failed (nothing was sent for the unit).
    Prepare(PgError),
}

impl UnitError {
    /// In the collector's terms.
    pub fn into_pg(self) -> PgError {
        match self {
            UnitError::Step { error, .. } | UnitError::Prologue(error) => PgError::from_pg(error),
            UnitError::Untrusted(what) => PgError::Untrusted(what),
            UnitError::Deadline(d) => {
                PgError::Timeout(format!("planning (gave up after {:.1} s)", d.as_secs_f64()))
            }
            UnitError::Prepare(e) => e,
        }
    }
}

impl Unit {
    pub fn new(access: Access) -> Unit {
        Unit {
            access,
            body: Vec::new(),
            guards: Vec::new(),
            statement_timeout: None,
            lock_timeout: None,
            prepared: Vec::new(),
            hypopg_schema: None,
            slow_steps: 0,
        }
    }

    /// statement_timeout of this unit's statements (default: the session's).
    pub fn set_statement_timeout(&mut self, d: Duration) {
        self.statement_timeout = Some(d);
    }

    /// lock_timeout of this unit's statements (default: the session's).
    pub fn set_lock_timeout(&mut self, d: Duration) {
        self.lock_timeout = Some(d);
    }

    /// Adds a statement; returns its index in [`Answers`].
    pub fn push(&mut self, step: Step) -> usize {
        self.body.push(step);
        self.body.len() - 1
    }

    /// Adds a statement that may run up to the statement timeout (a plan, an index build).
    pub fn push_slow(&mut self, step: Step) -> usize {
        self.slow_steps += 1;
        self.push(step)
    }

    /// Adds a guard: a statement that fails when the unit would reach untrusted code.
    pub fn push_guard(&mut self, step: Step) -> usize {
        let at = self.push(step);
        self.guards.push(at);
        at
    }

    /// The body creates the SQL prepared statement `name` (deallocated after the ROLLBACK).
    pub fn prepares(&mut self, name: &str) {
        self.prepared.push(name.to_string());
    }

    /// The body creates hypothetical indexes (reset after the ROLLBACK): `schema` is hypopg's.
    pub fn uses_hypopg(&mut self, schema: &str) {
        self.hypopg_schema = Some(schema.to_string());
    }

    /// How long the whole unit may take before it is cancelled: the statement timeout per slow
    /// step plus one, and two seconds for the network.
    pub fn deadline(&self, session: &Session) -> Duration {
        let st = self
            .statement_timeout
            .unwrap_or(session.target.statement_timeout);
        st * (self.slow_steps + 1) + Duration::from_secs(2)
    }

    /// Runs the unit on `session` (see the module documentation).
    pub async fn run(self, session: &Session) -> Result<Answers, UnitError> {
        let deadline = self.deadline(session);
        let st = self
            .statement_timeout
            .unwrap_or(session.target.statement_timeout);
        let lt = self.lock_timeout.unwrap_or(session.target.lock_timeout);
        let mut steps = Vec::with_capacity(self.body.len() + 8);
        steps.push(Step::new(match self.access {
            Access::ReadOnly => "BEGIN READ ONLY",
            Access::ReadWrite => "BEGIN READ WRITE",
        }));
        let settings = session
            .prepared(SETTINGS_SQL, &[Type::TEXT, Type::TEXT])
            .await
            .map_err(UnitError::Prepare)?;
        steps.push(Step::prepared(settings).params([
            Param::Text(format!("{}ms", st.as_millis().max(1))),
            Param::Text(format!("{}ms", lt.as_millis().max(1))),
        ]));
        let body_at = steps.len();
        let body_len = self.body.len();
        steps.extend(self.body);
        let tail_at = steps.len();
        steps.push(Step::new("ROLLBACK"));
        let mut tolerated = Vec::new(); // DEALLOCATE of a statement whose PREPARE never ran
        for name in &self.prepared {
            tolerated.push(steps.len());
            steps.push(Step::new(format!("DEALLOCATE {MARKER} {name}")));
        }
        let check_sql = match &self.hypopg_schema {
            Some(h) => format!("{CHECK_SQL}, {h}.hypopg_reset()"),
            None => CHECK_SQL.to_string(),
        };
        let check = session
            .prepared(&check_sql, &[Type::TEXT, Type::TEXT, Type::TEXT])
            .await
            .map_err(UnitError::Prepare)?;
        let [st0, lt0, it0] = &session.info.pinned_settings;
        steps.push(Step::prepared(check).params([
            Param::Text(st0.clone()),
            Param::Text(lt0.clone()),
            Param::Text(it0.clone()),
        ]));
        let check_at = steps.len() - 1;

        let answers =
            match tokio::time::timeout(deadline, pipeline::run(&session.client, &steps)).await {
                Ok(a) => a,
                Err(_) => {
                    session.cancel().await;
                    return Err(UnitError::Deadline(deadline));
                }
            };

        // The tail decides whether the session can be used again.
        let clean = answers[tail_at..].iter().enumerate().all(|(i, a)| {
            let at = tail_at + i;
            match a {
                Ok(rows) if at == check_at => rows
                    .first()
                    .and_then(|r| r.try_get::<_, bool>(0).ok())
                    .unwrap_or(false),
                Ok(_) => true,
                Err(e) => tolerated.contains(&at) && is_unknown_prepared(e),
            }
        });
        if !clean {
            tracing::warn!("a unit's clean-up failed or found changed session state: reconnecting");
            session.mark_broken();
        }

        let mut answers = answers.into_iter();
        for (i, a) in answers.by_ref().take(body_at).enumerate() {
            if let Err(e) = a {
                tracing::debug!("unit prologue statement {i} failed: {e}");
                return Err(UnitError::Prologue(e));
            }
        }
        let mut rows = Vec::with_capacity(body_len);
        for (at, a) in answers.take(body_len).enumerate() {
            match a {
                Ok(r) => rows.push(r),
                Err(error) => {
                    if self.guards.contains(&at) {
                        if let Some(what) = super::trust::untrusted_in(&error) {
                            return Err(UnitError::Untrusted(what));
                        }
                    }
                    return Err(UnitError::Step { at, error });
                }
            }
        }
        Ok(Answers(rows))
    }
}

/// "prepared statement … does not exist" (the PREPARE before it failed or never ran).
fn is_unknown_prepared(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| d.code().code() == "26000")
}
