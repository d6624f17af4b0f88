//! Why a simulation failed and what to try: every [`SimError`] carries a hint and maps to one
//! HTTP status, so callers (the HTTP API, the advisor) never have to guess.

use crate::collect::error::CollectError;

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
    /// All simulation slots stayed busy for too long.
    #[error("all {0} simulation slots stayed busy")]
    Busy(usize),
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
            SimError::Busy(_) => "other simulations are running: retry in a moment".into(),
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
                c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") => {
                    SimError::Db(format!("{msg} (SQLSTATE {code})"))
                }
                _ => SimError::Planner(format!("{msg} (SQLSTATE {code})")),
            };
        }
        SimError::from(CollectError::from_pg(e))
    }

    /// Whether the failure is the database's (HTTP 503) rather than the request's.
    pub fn is_database_problem(&self) -> bool {
        matches!(self, SimError::Db(_) | SimError::Timeout(_))
    }
}

impl From<CollectError> for SimError {
    fn from(e: CollectError) -> Self {
        match e {
            CollectError::Timeout(m) => SimError::Timeout(m),
            CollectError::Db(m) => {
                if m.contains("hypopg") && m.contains("does not exist") {
                    SimError::NoHypopg
                } else {
                    SimError::Planner(m)
                }
            }
            CollectError::Privilege(m) | CollectError::Unsupported(m) => SimError::Planner(m),
            other => SimError::Db(other.to_string()),
        }
    }
}
