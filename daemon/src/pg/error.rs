//! Why talking to the target failed, in words that say what to do: every variant has a hint.

/// What to do about a statement that reaches a function OptiDB does not run.
pub const UNTRUSTED_HINT: &str = "OptiDB never runs functions a database user could have written; \
     if you trust this one, allow it with --trusted-functions schema.name (or schema.*) or \
     --trusted-owners role";

/// What to do when a statement waited for a lock another session holds.
pub const LOCKED_HINT: &str = "another session holds a lock on a table this needs (ALTER TABLE, \
     VACUUM FULL, REINDEX, LOCK TABLE, or a long transaction waiting behind one); retry when it \
     is released: `SELECT pid, mode, relation::regclass, granted FROM pg_locks WHERE NOT granted \
     OR mode = 'AccessExclusiveLock'` shows who holds and who waits";

/// A failure talking to the target database. `hint()` tells the user how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
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
    /// OptiDB refuses to work this way (a superuser login on a production target).
    #[error("{0}")]
    Refused(String),
    /// Planning the statement could run functions OptiDB does not trust: it was not planned.
    #[error("not planned: it reaches {0}, which OptiDB does not run")]
    Untrusted(String),
    /// The statement cannot be planned at all (several statements, not SELECT/INSERT/…).
    #[error("{0}")]
    NotPlannable(String),
    /// Another session holds a lock this statement needed (lock_timeout ran out).
    #[error("a table is locked by another session: {0}")]
    Locked(String),
    /// TLS could not be set up as the sslmode asks (see pg/tls.rs).
    #[error("{0}")]
    Tls(#[from] super::tls::TlsError),
    #[error("the database returned an error: {0}")]
    Db(String),
}

impl PgError {
    /// Classifies a tokio-postgres error.
    pub fn from_pg(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let msg = db.message().to_string();
            return match code {
                "28000" | "28P01" => PgError::Auth(msg),
                "42501" => PgError::Privilege(msg),
                "57014" => PgError::Timeout(format!("running a query ({msg})")),
                "55P03" => PgError::Locked(msg),
                "55000" if msg.contains("pg_stat_statements") => PgError::PgssNotLoaded,
                "42P01" | "42883" if msg.contains("pg_stat_statements") => PgError::NoPgss,
                "57P01" | "57P02" | "57P03" | "08006" | "08003" | "08001" => {
                    PgError::Unreachable(msg)
                }
                _ => PgError::Db(format!("{msg} (SQLSTATE {code})")),
            };
        }
        if e.is_closed() {
            return PgError::Unreachable("the connection was closed".into());
        }
        // I/O errors and the like: keep the chain readable.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        PgError::Unreachable(msg)
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            PgError::BadUrl(_) => "pass --db postgres://user@host:5432/dbname (or set PGHOST, PGPORT, PGUSER, PGDATABASE)".into(),
            PgError::Timeout(_) => "the database is slow or stuck; OptiDB keeps serving the last complete scan and retries with backoff".into(),
            PgError::Unreachable(_) => "check that PostgreSQL is running and reachable at the address given; OptiDB keeps serving the last complete scan and reconnects with backoff".into(),
            PgError::Auth(_) => "check the user and password (URL, PGUSER/PGPASSWORD, or a password file: ~/.pgpass, PGPASSFILE or passfile=) and pg_hba.conf".into(),
            PgError::NoPgss => "run CREATE EXTENSION pg_stat_statements; in the target database (it also needs shared_preload_libraries = 'pg_stat_statements' in postgresql.conf and a restart)".into(),
            PgError::PgssNotLoaded => "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL".into(),
            PgError::Privilege(_) => "run `optidb doctor --db …` to see which grants are missing, and `optidb setup-sql` for the SQL that creates OptiDB's roles".into(),
            PgError::Unsupported(_) => "OptiDB needs PostgreSQL 14 or newer (14 to 18 are tested) with pg_stat_statements 1.9 or newer: upgrade what the message names (ALTER EXTENSION pg_stat_statements UPDATE for the extension)".into(),
            PgError::Refused(_) => "connect as a dedicated role without superuser: `optidb setup-sql` prints the SQL that creates it (or pass --allow-superuser if you accept the risk, see docs/security.md)".into(),
            PgError::Untrusted(_) => UNTRUSTED_HINT.into(),
            PgError::NotPlannable(_) => "only single SELECT, INSERT, UPDATE, DELETE and MERGE statements have plans".into(),
            PgError::Locked(_) => LOCKED_HINT.into(),
            PgError::Tls(e) => e.hint(),
            PgError::Db(_) => "see the PostgreSQL message; OptiDB retries on the next scan".into(),
        }
    }

    /// Whether the connection should be dropped and re-opened.
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            PgError::Unreachable(_) | PgError::Timeout(_) | PgError::Auth(_) | PgError::Tls(_)
        )
    }
}
