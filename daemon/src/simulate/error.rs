//! Why a simulation failed and what to try: every [`SimError`] carries a hint and maps to one
//! HTTP status, so callers (the HTTP API, the advisor) never have to guess.

use crate::pg::unit::UnitError;
use crate::pg::PgError;

/// A simulation failure. `Display` says why; [`SimError::hint`] says what to try.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The DDL given is not exactly one CREATE INDEX (or does not parse).
    #[error("{0}")]
    BadDdl(String),
    /// The statement to simulate is unusable (several statements, unparsable, no sample).
    #[error("{0}")]
    BadStatement(String),
    /// The planner rejected the statement or the hypothetical index.
    #[error("the planner could not plan it: {0}")]
    Planner(String),
    /// The statement or the index reaches functions OptiDB does not run (their descriptions).
    #[error("not simulated: it reaches {0}, which OptiDB does not run")]
    Untrusted(String),
    /// A step ran into statement_timeout.
    #[error("a simulation step took longer than the statement timeout: {0}")]
    Timeout(String),
    /// hypopg is not installed in the target database.
    #[error("hypopg is not installed in the target database")]
    NoHypopg,
    /// Real mode on a database not marked as a sandbox.
    #[error("{0}")]
    Refused(String),
    /// The per-minute limit of this target is used up.
    #[error("too many simulations for this database: the limit is {0} per minute")]
    RateLimited(u32),
    /// One client used its share of the target's per-minute budget.
    #[error("too many simulations from this client: its share is {0} per minute")]
    ClientRateLimited(u32),
    /// All simulation slots stayed busy for too long.
    #[error("all {0} simulation slots stayed busy")]
    Busy(usize),
    /// A table the simulation needs is locked by another session (lock_timeout ran out).
    #[error("target busy: {0}")]
    TargetBusy(String),
    /// The database is unreachable or failed in a way unrelated to the statement.
    #[error("the database failed: {0}")]
    Db(String),
}

impl SimError {
    /// What to try.
    pub fn hint(&self) -> String {
        match self {
            SimError::BadDdl(m) if m.contains("not supported") => "hypopg cannot simulate this \
                 kind of index (hypopg 1.3 supports btree, brin, hash and bloom, not gin or gist): \
                 use mode \"real\" on a sandbox copy of the database"
                .into(),
            SimError::BadDdl(_) => "send exactly one CREATE INDEX statement, for example \
                 CREATE INDEX ON public.orders (customer_id)"
                .into(),
            SimError::BadStatement(_) => {
                "simulate a stored query (its normalized text) or a single SELECT with real values"
                    .into()
            }
            SimError::Planner(_) => "check that the tables and columns exist and that every $n \
                 parameter's type can be inferred (add a cast such as $1::int); \
                 hypothetical state was reset"
                .into(),
            SimError::Untrusted(_) => crate::pg::error::UNTRUSTED_HINT.into(),
            SimError::Timeout(_) => "the statement is expensive to plan or run: retry later, or \
                 raise --statement-timeout-ms; hypothetical state was reset"
                .into(),
            SimError::NoHypopg => "run CREATE EXTENSION hypopg in the target database \
                 (Debian/Ubuntu package postgresql-<major>-hypopg)"
                .into(),
            SimError::Refused(_) => "use mode \"hypopg\" (no writes), or start the daemon with \
                 --sandbox against a throwaway copy of the database"
                .into(),
            SimError::RateLimited(_) => "wait a minute and retry, or simulate fewer candidates \
                 at once"
                .into(),
            SimError::ClientRateLimited(_) => "wait a minute and retry: one client may use only \
                 part of a database's simulation budget (--sim-per-minute-per-client)"
                .into(),
            SimError::Busy(_) => "other simulations are running: retry in a moment".into(),
            SimError::TargetBusy(_) => crate::pg::error::LOCKED_HINT.into(),
            SimError::Db(_) => "check that the database is up and reachable (GET /health); \
                 retry when it is"
                .into(),
        }
    }

    /// Classifies a tokio-postgres error raised while simulating.
    pub fn from_pg(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let msg = db.message().to_string();
            if msg.contains("hypopg") && (code == "42883" || code == "42P01") {
                return SimError::NoHypopg;
            }
            return match code {
                "57014" => SimError::Timeout(msg),
                "55P03" => SimError::TargetBusy(msg),
                c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") => {
                    SimError::Db(format!("{msg} (SQLSTATE {code})"))
                }
                _ => SimError::Planner(format!("{msg} (SQLSTATE {code})")),
            };
        }
        SimError::from(PgError::from_pg(e))
    }

    /// Whether the failure is the database's (HTTP 503) rather than the request's.
    pub fn is_database_problem(&self) -> bool {
        matches!(
            self,
            SimError::Db(_) | SimError::Timeout(_) | SimError::TargetBusy(_)
        )
    }
}

impl From<PgError> for SimError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Timeout(m) => SimError::Timeout(m),
            PgError::Db(m) => {
                if m.contains("hypopg") && m.contains("does not exist") {
                    SimError::NoHypopg
                } else {
                    SimError::Planner(m)
                }
            }
            PgError::Untrusted(m) => SimError::Untrusted(m),
            PgError::Locked(m) => SimError::TargetBusy(m),
            PgError::NotPlannable(m) => SimError::BadStatement(m),
            PgError::Privilege(m) | PgError::Unsupported(m) => SimError::Planner(m),
            other => SimError::Db(other.to_string()),
        }
    }
}

impl From<UnitError> for SimError {
    fn from(e: UnitError) -> Self {
        match e {
            UnitError::Step { error, .. } => SimError::from_pg(error),
            UnitError::Untrusted(m) => SimError::Untrusted(m),
            UnitError::Prologue(error) => SimError::Db(PgError::from_pg(error).to_string()),
            UnitError::Prepare(e) => SimError::from(e),
            UnitError::Deadline(d) => SimError::Timeout(format!(
                "gave up after {:.1} s and cancelled it",
                d.as_secs_f64()
            )),
        }
    }
}
