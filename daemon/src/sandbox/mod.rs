//! A throwaway PostgreSQL cluster for the tests and `optidb demo`, so neither ever depends on a
//! system PostgreSQL service being installed, configured or running.
//!
//! [`Sandbox::start`] finds the server binaries (or takes the bin directory given with
//! [`SandboxOptions::bindir`], e.g. another major version's build), `initdb`s a fresh temporary
//! directory (`$TMPDIR/optidb-sandbox-*`), configures it for advice work (`pg_stat_statements`
//! preloaded, `track_io_timing`, durability off for speed), starts it on a free 127.0.0.1 port
//! with `pg_ctl`, creates the database and the `pg_stat_statements`, `hypopg` (unless
//! [`SandboxOptions::without_hypopg`]) and `pg_trgm` extensions in it. Dropping the [`Sandbox`] (or [`Sandbox::stop`]) stops the server and
//! removes the directory; a watchdog process does the same if this process dies without
//! running `Drop` (SIGKILL, Ctrl-C, a `static` sandbox).
//!
//! When run as root, the server programs run as the `postgres` OS user (initdb refuses root)
//! and the directory is handed to that user.
//!
//! # Blocking and async
//!
//! The API is blocking: plain `#[test]`s call it directly. It is also safe to call from inside
//! a tokio runtime — the SQL steps run on their own thread with a private current-thread
//! runtime, so nothing panics — but the calls block the calling thread for as long as PostgreSQL
//! takes (about a second for `start`). Async code that must not block a worker can use
//! [`Sandbox::start_async`], or wrap other calls in `tokio::task::spawn_blocking`.
//!
//! Server log: [`Sandbox::log_path`]; error messages carry its tail.

mod binaries;
mod error;
mod process;
mod sql;
mod watchdog;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use binaries::BINDIR_ENV;
pub use error::SandboxError;

use binaries::PgBinaries;
use process::RunAs;

/// Prefix of the sandbox directories under `std::env::temp_dir()`.
pub const DIR_PREFIX: &str = "optidb-sandbox-";

/// How many ports to try when the one we picked is taken before the server binds it.
const START_ATTEMPTS: u32 = 5;

/// Seconds `pg_ctl` waits for start, stop and restart.
const PG_CTL_TIMEOUT_SECS: &str = "60";

/// What to create in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOptions {
    /// The database created for the caller (with the extensions), `optidb_demo` by default.
    pub database: String,
    /// Extra `postgresql.conf` settings, appended after ours (so they win): name and unquoted
    /// value, e.g. `("work_mem", "64MB")`. `port` is chosen by the sandbox and cannot be set.
    pub settings: Vec<(String, String)>,
    /// The server's bin directory (holding initdb, pg_ctl and postgres); `None` searches the
    /// usual places (`OPTIDB_PG_BINDIR`, `pg_config`, `/usr/lib/postgresql/*/bin`).
    pub bindir: Option<PathBuf>,
    /// Whether to create the hypopg extension (true by default). Builds without hypopg (every
    /// major but Debian's 15 here) start with `false`: OptiDB then reports what-if simulation
    /// as unavailable.
    pub hypopg: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            database: "optidb_demo".to_string(),
            settings: Vec::new(),
            bindir: None,
            hypopg: true,
        }
    }
}

impl SandboxOptions {
    /// Options for a database with this name.
    pub fn with_database(database: impl Into<String>) -> Self {
        SandboxOptions {
            database: database.into(),
            ..SandboxOptions::default()
        }
    }

    /// Adds a `postgresql.conf` setting.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Runs the server from this bin directory (another major version's build, say) instead of
    /// searching for one; no environment variable involved, so tests can start several versions
    /// side by side.
    pub fn bindir(mut self, bindir: impl Into<PathBuf>) -> Self {
        self.bindir = Some(bindir.into());
        self
    }

    /// Does not create the hypopg extension (for server builds that do not have it).
    pub fn without_hypopg(mut self) -> Self {
        self.hypopg = false;
        self
    }

    fn validate(&self) -> Result<(), SandboxError> {
        let db = &self.database;
        if db.is_empty()
            || db.len() > 63
            || !db
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(SandboxError::InvalidOption(format!(
                "database name {db:?}: use 1 to 63 ASCII letters, digits, '_' or '-'"
            )));
        }
        for (name, value) in &self.settings {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(SandboxError::InvalidOption(format!(
                    "setting name {name:?}: use a postgresql.conf parameter name like work_mem"
                )));
            }
            if name.eq_ignore_ascii_case("port") {
                return Err(SandboxError::InvalidOption(
                    "setting `port`: the sandbox picks a free port itself; read it with Sandbox::port()"
                        .to_string(),
                ));
            }
            if value.contains(['\n', '\r']) {
                return Err(SandboxError::InvalidOption(format!(
                    "setting {name}: the value must be a single line"
                )));
            }
        }
        Ok(())
    }
}

/// A running throwaway PostgreSQL cluster; stopped and deleted on drop.
#[derive(Debug)]
pub struct Sandbox {
    bins: PgBinaries,
    run_as: Option<RunAs>,
    /// The temp directory: holds `data/`, the log and the Unix socket.
    root: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    database: String,
    version_num: u32,
    /// Set once stopped and removed, so `Drop` has nothing left to do.
    cleaned: bool,
}

/// `postgres://postgres@127.0.0.1:PORT/DB`.
fn url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

impl Sandbox {
    /// Creates, starts and prepares a new cluster (see the module docs). Blocks for about a
    /// second; on error nothing is left behind.
    pub fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        opts.validate()?;
        let bins = match &opts.bindir {
            Some(dir) => PgBinaries::at(dir)?,
            None => PgBinaries::find()?,
        };
        let run_as = process::detect_run_as()?;

        let tmp = std::env::temp_dir();
        let root = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&tmp)
            .map_err(|e| SandboxError::io("creating the sandbox directory", &tmp, e))?
            .keep();
        // From here on, dropping `sandbox` (on any error) stops the server and removes `root`.
        let mut sandbox = Sandbox {
            bins,
            run_as,
            data: root.join("data"),
            log: root.join("server.log"),
            root,
            port: 0,
            database: opts.database.clone(),
            version_num: 0,
            cleaned: false,
        };
        if let Some(user) = run_as {
            std::os::unix::fs::chown(&sandbox.root, Some(user.uid), Some(user.gid)).map_err(
                |e| {
                    SandboxError::io(
                        "handing the sandbox directory to the postgres user",
                        &sandbox.root,
                        e,
                    )
                },
            )?;
        }
        watchdog::spawn(&sandbox.root, &sandbox.data)?;

        sandbox.initdb()?;
        sandbox.write_config(&opts.settings)?;
        sandbox.start_on_free_port()?;

        let major = sandbox.bins.major_for_hints();
        let target = sandbox.target(&sandbox.database);
        let extensions: Vec<&str> = sql::EXTENSIONS
            .iter()
            .copied()
            .filter(|e| opts.hypopg || *e != "hypopg")
            .collect();
        sandbox.version_num = sql::block_on(|| sql::setup(&target, major, &extensions))?;
        Ok(sandbox)
    }

    /// [`Sandbox::start`] on tokio's blocking pool, for async callers.
    pub async fn start_async(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        match tokio::task::spawn_blocking(move || Sandbox::start(opts)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(SandboxError::Runtime(e.to_string())),
        }
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/<database>` (trust auth, no password).
    pub fn url(&self) -> String {
        url(self.port, &self.database)
    }

    /// Creates OptiDB's least-privileged roles and plan helper in `db` (the SQL `optidb
    /// setup-sql` prints, run as superuser; the roles are created once per cluster) and returns
    /// the URL of the login role `optidb` for that database: how a careful user connects
    /// OptiDB to production.
    pub fn optidb_url_for(&self, db: &str) -> Result<String, SandboxError> {
        let sql = crate::pg::helper::setup_sql(&crate::pg::helper::SetupNames {
            server_major: self.version_num / 10000,
            ..Default::default()
        });
        let target = self.target(db);
        sql::block_on(|| sql::batch_execute(&target, &sql))?;
        Ok(format!("postgres://optidb@127.0.0.1:{}/{db}", self.port))
    }

    /// [`Sandbox::optidb_url_for`] the database created at start.
    pub fn optidb_url(&self) -> Result<String, SandboxError> {
        self.optidb_url_for(&self.database)
    }

    /// The URL of another database of this cluster.
    pub fn url_for(&self, db: &str) -> String {
        url(self.port, db)
    }

    /// The database created at start.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The server's data directory (PGDATA), inside the sandbox's temp directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The sandbox's temp directory (data directory, server log, Unix socket); removed on stop.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// The server log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the server log.
    pub fn log_tail(&self) -> String {
        process::log_tail(&self.log, 0)
    }

    /// The server's bin directory.
    pub fn bindir(&self) -> &Path {
        &self.bins.bindir
    }

    /// `server_version_num`, e.g. 150014 for 15.14.
    pub fn server_version_num(&self) -> u32 {
        self.version_num
    }

    /// Runs SQL statements (separated by `;`) in the sandbox database as superuser: a
    /// convenience for seeding and tests.
    pub fn batch_execute(&self, sql: &str) -> Result<(), SandboxError> {
        let target = self.target(&self.database);
        sql::block_on(|| sql::batch_execute(&target, sql))
    }

    /// `pg_ctl restart -m fast`: drops every connection; settings changes take effect.
    pub fn restart(&self) -> Result<(), SandboxError> {
        self.pg_ctl_checked("restart", &["-m", "fast", "restart"])
    }

    /// Stops the server (fast, then immediate) but keeps the directory, for
    /// [`Sandbox::start_server`] later. Does nothing if it is not running.
    pub fn stop_server(&self) -> Result<(), SandboxError> {
        if !self.data.join("postmaster.pid").exists() {
            return Ok(());
        }
        let fast = self.pg_ctl_checked("stop", &["-m", "fast", "stop"]);
        if fast.is_ok() {
            return fast;
        }
        self.pg_ctl_checked("stop", &["-m", "immediate", "stop"])
            .or(fast)
    }

    /// Starts the server again after [`Sandbox::stop_server`], on the same port.
    pub fn start_server(&self) -> Result<(), SandboxError> {
        self.pg_ctl_checked("start", &["start"])
    }

    /// Stops the server and removes the directory, reporting failures (`Drop` does the same
    /// but can only log them).
    pub fn stop(mut self) -> Result<(), SandboxError> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> Result<(), SandboxError> {
        if self.cleaned {
            return Ok(());
        }
        self.cleaned = true;
        let stopped = self.stop_server();
        // Remove even when stopping failed: a postmaster whose lock file is gone shuts down.
        let removed = match std::fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SandboxError::io(
                "removing the sandbox directory",
                &self.root,
                e,
            )),
            _ => Ok(()),
        };
        stopped.and(removed)
    }

    fn target<'a>(&'a self, database: &'a str) -> sql::Target<'a> {
        sql::Target {
            port: self.port,
            database,
            log: &self.log,
        }
    }

    fn initdb(&self) -> Result<(), SandboxError> {
        let mut cmd = process::server_command(&self.bins.initdb(), self.run_as, &self.root);
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            // A throwaway cluster does not need initdb's fsyncs; they cost seconds.
            .arg("--no-sync");
        let out = process::run(&mut cmd)?;
        if out.status.success() {
            return Ok(());
        }
        Err(SandboxError::InitDb {
            status: out.status.to_string(),
            output: process::describe(&out),
            dir: self.root.clone(),
        })
    }

    fn write_config(&self, extra: &[(String, String)]) -> Result<(), SandboxError> {
        let mut conf = String::from("\n# --- added by the optidb sandbox ---\n");
        let socket_dir = self.root.to_string_lossy();
        let ours: [(&str, &str); 13] = [
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", &socket_dir),
            ("shared_preload_libraries", "pg_stat_statements"),
            ("pg_stat_statements.track", "all"),
            ("pg_stat_statements.max", "10000"),
            ("track_io_timing", "on"),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("max_connections", "200"),
            ("shared_buffers", "256MB"),
            // pg_ctl -l sends the server's stderr to server.log in the sandbox directory.
            ("logging_collector", "off"),
            ("log_destination", "stderr"),
        ];
        for (name, value) in ours {
            conf.push_str(&setting_line(name, value));
        }
        if !extra.is_empty() {
            conf.push_str("# from SandboxOptions::settings\n");
            for (name, value) in extra {
                conf.push_str(&setting_line(name, value));
            }
        }
        self.append_config(&conf)
    }

    fn append_config(&self, text: &str) -> Result<(), SandboxError> {
        let path = self.data.join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| SandboxError::io("writing postgresql.conf", &path, e))
    }

    /// Picks a free port and starts; if another process grabbed the port in between, tries
    /// again with a new one.
    fn start_on_free_port(&mut self) -> Result<(), SandboxError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port().map_err(|e| {
                SandboxError::io("finding a free port on 127.0.0.1", "127.0.0.1:0", e)
            })?;
            // A later `port` line overrides earlier ones.
            self.append_config(&setting_line("port", &port.to_string()))?;
            self.port = port;
            let log_from = process::log_len(&self.log);
            let out = self.pg_ctl(&["start"])?;
            if out.status.success() {
                return Ok(());
            }
            let log_tail = process::log_tail(&self.log, log_from);
            if attempt < START_ATTEMPTS && port_taken(&log_tail) {
                tracing::debug!(port, "sandbox port was taken, trying another");
                continue;
            }
            return Err(SandboxError::Start {
                attempts: attempt,
                pg_ctl: process::describe(&out),
                log: self.log.clone(),
                log_tail,
            });
        }
    }

    /// `pg_ctl -D <data> -l <log> -w -t 60 <args>` (`-l` only matters to start and restart).
    fn pg_ctl(&self, args: &[&str]) -> Result<std::process::Output, SandboxError> {
        let mut cmd = process::server_command(&self.bins.pg_ctl(), self.run_as, &self.root);
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", PG_CTL_TIMEOUT_SECS])
            .args(args);
        process::run(&mut cmd)
    }

    fn pg_ctl_checked(&self, action: &'static str, args: &[&str]) -> Result<(), SandboxError> {
        let log_from = process::log_len(&self.log);
        let out = self.pg_ctl(args)?;
        if out.status.success() {
            return Ok(());
        }
        Err(SandboxError::PgCtl {
            action,
            pg_ctl: process::describe(&out),
            log: self.log.clone(),
            log_tail: process::log_tail(&self.log, log_from),
        })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            tracing::warn!(dir = %self.root.display(), "sandbox cleanup failed: {e}");
        }
    }
}

/// `name = 'value'`, quoted the way postgresql.conf reads it (any parameter type accepts a
/// quoted value).
fn setting_line(name: &str, value: &str) -> String {
    let quoted = value.replace('\\', "\\\\").replace('\'', "''");
    format!("{name} = '{quoted}'\n")
}

/// A port the kernel says is free right now (it may be taken again before the server binds it).
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether the server log says the port was in use.
fn port_taken(log: &str) -> bool {
    log.contains("Address already in use")
        || log.contains("could not bind")
        || log.contains("could not create any TCP/IP sockets")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options() {
        let opts = SandboxOptions::default();
        assert_eq!(opts.database, "optidb_demo");
        assert!(opts.settings.is_empty());
        assert!(opts.bindir.is_none() && opts.hypopg);
        assert!(opts.validate().is_ok());
        let opts = SandboxOptions::default()
            .bindir("/opt/pg/14/bin")
            .without_hypopg();
        assert_eq!(opts.bindir, Some(PathBuf::from("/opt/pg/14/bin")));
        assert!(!opts.hypopg);
    }

    #[test]
    fn rejects_bad_options() {
        assert!(SandboxOptions::with_database("").validate().is_err());
        assert!(SandboxOptions::with_database("a b").validate().is_err());
        assert!(SandboxOptions::default()
            .setting("port", "5432")
            .validate()
            .is_err());
        assert!(SandboxOptions::default()
            .setting("work mem", "1")
            .validate()
            .is_err());
        assert!(SandboxOptions::default()
            .setting("work_mem", "1\nfsync = on")
            .validate()
            .is_err());
        assert!(SandboxOptions::default()
            .setting("auto_explain.log_min_duration", "0")
            .validate()
            .is_ok());
    }

    #[test]
    fn quotes_settings() {
        assert_eq!(setting_line("work_mem", "64MB"), "work_mem = '64MB'\n");
        assert_eq!(setting_line("x", "it's a\\b"), "x = 'it''s a\\\\b'\n");
    }

    #[test]
    fn recognises_port_clashes() {
        assert!(port_taken(
            "LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use"
        ));
        assert!(!port_taken(
            "FATAL:  could not create shared memory segment"
        ));
    }

    #[test]
    fn urls() {
        assert_eq!(
            url(5999, "optidb_demo"),
            "postgres://postgres@127.0.0.1:5999/optidb_demo"
        );
    }
}
