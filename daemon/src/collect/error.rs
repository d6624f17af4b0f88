//! Why a scan failed, in words that say what to do: every variant has a hint.

/// A collection failure. `hint()` tells the user how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot understand the database address: {0}")]
    BadUrl(String),
    #[error("the database did not answer in time while {0}")]
    Timeout(String),
    #[error("cannot reach the database: {0}")]
    Unreachable(String),
    #[error("the database refused the login: {0}")]
    Auth(String),
    #[error("pg_stat_statements is not installed in this database")]
    NoPgss,
    #[error("pg_stat_statements is installed but not loaded")]
    PgssNotLoaded,
    #[error("not allowed: {0}")]
    Privilege(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the database returned an error: {0}")]
    Db(String),
    #[error("the store failed: {0}")]
    Store(String),
}

impl CollectError {
    /// Classifies a tokio-postgres error.
    pub fn from_pg(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let msg = db.message().to_string();
            return match code {
                "28000" | "28P01" => CollectError::Auth(msg),
                "42501" => CollectError::Privilege(msg),
                "57014" => CollectError::Timeout(format!("running a query ({msg})")),
                "55000" if msg.contains("pg_stat_statements") => CollectError::PgssNotLoaded,
                "42P01" | "42883" if msg.contains("pg_stat_statements") => CollectError::NoPgss,
                "57P01" | "57P02" | "57P03" | "08006" | "08003" | "08001" => {
                    CollectError::Unreachable(msg)
                }
                _ => CollectError::Db(format!("{msg} (SQLSTATE {code})")),
            };
        }
        if e.is_closed() {
            return CollectError::Unreachable("the connection was closed".into());
        }
        // I/O errors and the like: keep the chain readable.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        CollectError::Unreachable(msg)
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            CollectError::BadUrl(_) => "pass --db postgres://user@host:5432/dbname (or set PGHOST, PGPORT, PGUSER, PGDATABASE)".into(),
            CollectError::Timeout(_) => "the database is slow or stuck; OptiDB keeps serving the last complete scan and retries with backoff".into(),
            CollectError::Unreachable(_) => "check that PostgreSQL is running and reachable at the address given; OptiDB keeps serving the last complete scan and reconnects with backoff".into(),
            CollectError::Auth(_) => "check the user and password (URL, PGUSER/PGPASSWORD or ~/.pgpass) and pg_hba.conf".into(),
            CollectError::NoPgss => "run CREATE EXTENSION pg_stat_statements; in the target database (it also needs shared_preload_libraries = 'pg_stat_statements' in postgresql.conf and a restart)".into(),
            CollectError::PgssNotLoaded => "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL".into(),
            CollectError::Privilege(_) => "grant the monitoring role: GRANT pg_monitor TO <optidb user>; (or at least pg_read_all_stats)".into(),
            CollectError::Unsupported(_) => "upgrade PostgreSQL to 13 or newer".into(),
            CollectError::Db(_) => "see the PostgreSQL message; OptiDB retries on the next scan".into(),
            CollectError::Store(_) => "check the --store directory: disk space and permissions".into(),
        }
    }

    /// Whether the connection should be dropped and re-opened.
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            CollectError::Unreachable(_) | CollectError::Timeout(_) | CollectError::Auth(_)
        )
    }
}
