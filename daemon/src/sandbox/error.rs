//! Errors of the sandbox: each message says what went wrong and what to do about it.

use std::path::PathBuf;

/// Why a sandbox PostgreSQL could not be started, used or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No `initdb` / `pg_ctl` / `postgres` found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found ({searched}); \
         install them with `apt-get install postgresql-15 postgresql-15-hypopg` \
         (or run scripts/setup.sh), or set OPTIDB_PG_BINDIR to the directory that holds initdb"
    )]
    BinariesNotFound {
        /// Where we looked, for the message.
        searched: String,
    },

    /// `OPTIDB_PG_BINDIR` is set but does not hold `initdb`.
    #[error(
        "OPTIDB_PG_BINDIR={} has no initdb; point it at the PostgreSQL server's bin directory \
         (e.g. /usr/lib/postgresql/15/bin) or unset it to search the usual places",
        .0.display()
    )]
    BadBindir(PathBuf),

    /// The bin directory given with `SandboxOptions::bindir` does not hold `initdb`.
    #[error(
        "the PostgreSQL bin directory {} has no initdb; for the builds of other major versions \
         run scripts/pg-versions.sh (they land in target/pg-versions/NN/bin)",
        .0.display()
    )]
    NoInitdb(PathBuf),

    /// We run as root, but there is no `postgres` OS user to run the server as.
    #[error(
        "running as root, and initdb refuses to run as root, but there is no `postgres` OS user \
         to run the server as ({why}); install the server package \
         (`apt-get install postgresql-15`, which creates that user) or run as a non-root user"
    )]
    NoPostgresUser {
        /// What the user lookup said.
        why: String,
    },

    /// The options are not usable (bad database name, bad setting name, ...).
    #[error("invalid sandbox option: {0}")]
    InvalidOption(String),

    /// A file-system step failed (temp dir, postgresql.conf, chown, remove).
    #[error("{what} ({}): {source}; check free space and permissions of the temp directory \
             (set TMPDIR to move it)", path.display())]
    Io {
        /// The step that failed.
        what: &'static str,
        /// The path it acted on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A program could not be run at all.
    #[error("could not run {program}: {source}; check that it exists and is executable")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// `initdb` failed.
    #[error(
        "initdb failed ({status}):\n{output}\nhint: when running as root the server runs as the \
         `postgres` OS user, which must be able to reach {}; set TMPDIR to a directory like /tmp",
        dir.display()
    )]
    InitDb {
        /// Exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
        /// The sandbox directory.
        dir: PathBuf,
    },

    /// `pg_ctl start` failed (after retrying with other ports if the port was taken).
    #[error(
        "PostgreSQL did not start after {attempts} attempt(s): {pg_ctl}\n--- server log ({}) ---\n{log_tail}\n\
         hint: read the log above; a port clash or a too small shared memory (/dev/shm) are the usual causes",
        log.display()
    )]
    Start {
        /// How many ports were tried.
        attempts: u32,
        /// What pg_ctl said.
        pg_ctl: String,
        /// The server log path.
        log: PathBuf,
        /// The end of the server log.
        log_tail: String,
    },

    /// `pg_ctl restart` / `stop` / `start` on a running sandbox failed.
    #[error("pg_ctl {action} failed: {pg_ctl}\n--- server log ({}) ---\n{log_tail}", log.display())]
    PgCtl {
        /// start, stop or restart.
        action: &'static str,
        /// What pg_ctl said.
        pg_ctl: String,
        /// The server log path.
        log: PathBuf,
        /// The end of the server log.
        log_tail: String,
    },

    /// Connecting to the started server failed.
    #[error("could not connect to the sandbox at {url}: {source}; the server log is at {}", log.display())]
    Connect {
        /// Where.
        url: String,
        /// The server log path.
        log: PathBuf,
        /// The underlying error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A setup statement failed.
    #[error("sandbox setup statement failed: {sql}: {message}")]
    Sql {
        /// The statement.
        sql: String,
        /// The server's message (with detail and hint when there are some).
        message: String,
    },

    /// An extension is not installed on this machine.
    #[error(
        "the PostgreSQL extension {extension} is not installed for PostgreSQL {major}: {message}; \
         install it with `apt-get install {package}` (or run scripts/setup.sh){}",
        if extension == "hypopg" {
            ", or start the sandbox without it (SandboxOptions::without_hypopg): what-if \
             simulations are then unavailable"
        } else {
            ""
        }
    )]
    ExtensionMissing {
        /// The extension.
        extension: String,
        /// Server major version.
        major: u32,
        /// The Debian package that provides it.
        package: String,
        /// The server's message.
        message: String,
    },

    /// The small tokio runtime used for setup could not be built, or its thread panicked.
    #[error("sandbox setup runtime failed: {0}; this is a bug or the machine is out of threads")]
    Runtime(String),
}

impl SandboxError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SandboxError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
