//! Opens sessions to the target database the only way OptiDB may: every setting OptiDB relies on
//! is pinned in the startup packet, where it beats whatever a database owner set with
//! `ALTER DATABASE … SET` or `ALTER ROLE … SET`: read-only transactions, standard-conforming
//! strings, statement/lock/idle timeouts, `search_path = pg_catalog`, no JIT. A superuser login
//! is refused on targets not marked as sandboxes unless the operator allows it explicitly.
//!
//! A [`Session`] knows what was found at connect time (server version, where the extensions
//! live, whether the least-privilege plan helper is installed) and whether its state is still
//! known: a session whose state is in doubt (a unit whose clean-up failed, a cancelled
//! statement) is [`Session::is_usable`] no more and must be replaced.

use super::conninfo::{self, ConnInfo};
use super::error::PgError;
use super::helper::{self, HelperState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::types::Type;
use tokio_postgres::{CancelToken, Client, Config};

/// Every statement OptiDB sends carries this marker, so its own statements can be told apart
/// from the application's in pg_stat_statements and pg_stat_activity.
pub const MARKER: &str = "/* optidb */";

/// Functions and owners the operator trusts beyond PostgreSQL's built-ins (see pg/trust.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustConfig {
    /// `schema.function` or `schema.*`.
    pub functions: Vec<String>,
    /// Roles whose functions are trusted.
    pub owners: Vec<String>,
}

/// How to reach the target and how patient to be with it.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// A `postgres://` URL or a `key=value` conninfo string; empty means "from PG* variables".
    pub url: String,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub connect_timeout: Duration,
    /// The search path the application's statements are planned with (`pg_catalog` is always
    /// put first). OptiDB's own statements run with `pg_catalog` alone.
    pub search_path: Vec<String>,
    /// The target is a throwaway copy (`--sandbox`): superuser allowed, real-mode simulations.
    pub sandbox: bool,
    /// Connect even when the login is a superuser on a non-sandbox target.
    pub allow_superuser: bool,
    pub trust: TrustConfig,
    /// Schema of the least-privilege plan helper (`optidb setup-sql`); empty: never use one.
    pub helper_schema: String,
}

impl TargetConfig {
    pub fn new(url: impl Into<String>) -> Self {
        TargetConfig {
            url: url.into(),
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(5),
            search_path: vec!["$user".into(), "public".into()],
            sandbox: false,
            allow_superuser: false,
            trust: TrustConfig::default(),
            helper_schema: helper::DEFAULT_SCHEMA.into(),
        }
    }

    /// A target marked as a throwaway sandbox (`--sandbox`): the tests', benches' and demo's.
    pub fn sandbox(url: impl Into<String>) -> Self {
        TargetConfig {
            sandbox: true,
            ..TargetConfig::new(url)
        }
    }

    /// The address as OptiDB connects to it ([`conninfo::parse`]: a URL's or conninfo's
    /// fields, libpq's TLS and password-file parameters, PG* variables for what it leaves out),
    /// with OptiDB's pinned settings appended to any `options` of the URL (later ones win).
    pub fn conninfo(&self) -> Result<ConnInfo, PgError> {
        let mut info = conninfo::parse(&self.url)?;
        let cfg = &mut info.config;
        cfg.application_name("optidb");
        cfg.connect_timeout(self.connect_timeout);
        let pinned = self.pinned_options();
        let options = match cfg.get_options() {
            Some(user) if !user.trim().is_empty() => format!("{user} {pinned}"),
            _ => pinned,
        };
        cfg.options(options);
        Ok(info)
    }

    /// The tokio-postgres part of [`TargetConfig::conninfo`].
    pub fn pg_config(&self) -> Result<Config, PgError> {
        self.conninfo().map(|c| c.config)
    }

    /// The `-c name=value` settings every session starts with.
    pub fn pinned_options(&self) -> String {
        [
            "default_transaction_read_only=on".to_string(),
            "standard_conforming_strings=on".to_string(),
            format!(
                "statement_timeout={}",
                self.statement_timeout.as_millis().max(1)
            ),
            format!("lock_timeout={}", self.lock_timeout.as_millis().max(1)),
            "idle_in_transaction_session_timeout=60000".to_string(),
            "search_path=pg_catalog".to_string(),
            "jit=off".to_string(),
        ]
        .iter()
        .map(|s| format!("-c {s}"))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The search path application statements are planned with: `pg_catalog` first (so no
    /// schema on the path can shadow a built-in), then the configured schemas.
    pub fn app_search_path(&self) -> String {
        let mut parts = vec!["pg_catalog".to_string()];
        for s in &self.search_path {
            let s = s.trim();
            if s.is_empty() || s == "pg_catalog" {
                continue;
            }
            parts.push(quote_ident(s));
        }
        parts.join(", ")
    }

    /// The target as people should see it: `postgres://user@host:port/db`, never a password
    /// (also when it came from PG* variables), with the TLS parameters when they were given
    /// (`?sslmode=verify-full&sslrootcert=/path`; file paths are not secrets).
    pub fn display(&self) -> String {
        match self.conninfo() {
            Ok(info) => {
                let mut url = canonical_url(&info.config);
                let p = &info.libpq;
                let params: Vec<String> = [
                    ("sslmode", p.sslmode.map(|m| m.as_str().to_string())),
                    ("sslrootcert", p.sslrootcert.clone()),
                    (
                        "sslcert",
                        p.sslcert.as_ref().map(|c| c.display().to_string()),
                    ),
                    ("sslkey", p.sslkey.as_ref().map(|c| c.display().to_string())),
                ]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
                if !params.is_empty() {
                    url.push('?');
                    url.push_str(&params.join("&"));
                }
                url
            }
            Err(_) => optidb_core::redact::redact_password(&self.url),
        }
    }
}

/// Whether `name` is a plain lower-case identifier (a letter or `_`, then letters, digits, `_`).
pub fn is_plain_ident(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `name` as a PostgreSQL identifier: as is when it is a plain lower-case name, else quoted.
pub fn quote_ident(name: &str) -> String {
    if is_plain_ident(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `postgres://user@host:port/db` for a connection configuration (never with the password):
/// the same target gets the same text whether it came from a URL, conninfo or PG* variables.
pub fn canonical_url(cfg: &Config) -> String {
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("");
    let db = cfg.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// What OptiDB learnt about the server when it connected.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    pub version_num: u32,
    /// The login role.
    pub user: String,
    pub is_superuser: bool,
    /// Quoted schema of pg_stat_statements, when the extension exists in this database.
    pub pgss_schema: Option<String>,
    /// Quoted schema of hypopg, when the extension exists in this database.
    pub hypopg_schema: Option<String>,
    /// The least-privilege plan helper, as found.
    pub helper: HelperState,
    /// `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` as the
    /// server shows them right after connecting: a unit checks they are unchanged after it.
    pub pinned_settings: [String; 3],
}

/// A connected session. Dropping it closes the connection.
pub struct Session {
    pub client: Client,
    pub server_version_num: u32,
    pub info: ServerInfo,
    pub target: TargetConfig,
    /// OptiDB's own fixed statements (the guard, a unit's settings and state check …),
    /// prepared once per session: planned once, not at every unit.
    prepared: tokio::sync::Mutex<std::collections::HashMap<String, tokio_postgres::Statement>>,
    broken: AtomicBool,
    /// How the session was opened: a cancel request goes the same way (TLS or not).
    conninfo: ConnInfo,
}

/// What cancelling a session's running statement needs, detached from the session (so the
/// session can be dropped while the cancel request is on its way).
pub struct CancelHandle {
    token: CancelToken,
    conninfo: ConnInfo,
}

impl CancelHandle {
    /// Sends the cancel request over its own connection; waits at most two seconds.
    pub async fn cancel(self) {
        self.conninfo
            .cancel(self.token, Duration::from_secs(2))
            .await;
    }
}

impl Session {
    /// Whether the session can be used again: connected, and its state is known.
    pub fn is_usable(&self) -> bool {
        !self.client.is_closed() && !self.broken.load(Ordering::Relaxed)
    }

    /// Marks the session's state as in doubt: it must not be used again.
    pub fn mark_broken(&self) {
        self.broken.store(true, Ordering::Relaxed);
    }

    /// Cancels whatever the backend is running (the cancel request goes over its own
    /// connection) and marks the session unusable. Waits at most two seconds.
    pub async fn cancel(&self) {
        self.mark_broken();
        self.cancel_handle().cancel().await;
    }

    /// What [`CancelHandle::cancel`] needs to cancel this session's statement later.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            token: self.client.cancel_token(),
            conninfo: self.conninfo.clone(),
        }
    }

    /// One of OptiDB's own fixed statements (never foreign text), prepared on this connection
    /// on first use. Prepared statements keep their plan; PostgreSQL re-plans one whose
    /// search_path changed, so each is always run with the same search path.
    pub async fn prepared(
        &self,
        sql: &str,
        types: &[Type],
    ) -> Result<tokio_postgres::Statement, PgError> {
        let mut cache = self.prepared.lock().await;
        if let Some(s) = cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .client
            .prepare_typed(sql, types)
            .await
            .map_err(PgError::from_pg)?;
        cache.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

const CONNECT_SQL: &str = "SELECT /* optidb */ \
      pg_catalog.current_setting('server_version_num')::pg_catalog.int4, \
      pg_catalog.current_setting('is_superuser') = 'on', \
      current_user::pg_catalog.text, \
      (SELECT pg_catalog.quote_ident(n.nspname::pg_catalog.text) FROM pg_catalog.pg_extension e \
         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'), \
      (SELECT pg_catalog.quote_ident(n.nspname::pg_catalog.text) FROM pg_catalog.pg_extension e \
         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'), \
      pg_catalog.current_setting('statement_timeout'), \
      pg_catalog.current_setting('lock_timeout'), \
      pg_catalog.current_setting('idle_in_transaction_session_timeout')";

/// Connects with the pinned settings, learns about the server and refuses what OptiDB must not
/// do (a server older than 14; a superuser login on a non-sandbox target unless allowed).
pub async fn connect(target: &TargetConfig) -> Result<Session, PgError> {
    let conninfo = target.conninfo()?;
    let client = tokio::time::timeout(
        target.connect_timeout + Duration::from_secs(1),
        conninfo.connect(),
    )
    .await
    .map_err(|_| PgError::Timeout("connecting".into()))??;
    let row = client
        .query_typed_one(CONNECT_SQL, &[])
        .await
        .map_err(PgError::from_pg)?;
    let v: i32 = row.get(0);
    let version_num = v.max(0) as u32;
    if version_num < 140000 {
        return Err(PgError::Unsupported(format!(
            "PostgreSQL {} is not supported: OptiDB needs PostgreSQL 14 or newer \
             (pg_stat_statements' toplevel column and pg_stat_statements_info, \
             pg_stat_activity.query_id)",
            version_num / 10000
        )));
    }
    let is_superuser: bool = row.get(1);
    let user: String = row.get(2);
    if is_superuser && !target.sandbox && !target.allow_superuser {
        return Err(PgError::Refused(format!(
            "OptiDB refuses to connect as {user}, a superuser: anything a database user can make \
             it run would run with every right on the server (COPY … TO PROGRAM runs shell \
             commands)"
        )));
    }
    let helper = helper::find(&client, &target.helper_schema).await;
    let info = ServerInfo {
        version_num,
        user,
        is_superuser,
        pgss_schema: row.get(3),
        hypopg_schema: row.get(4),
        helper,
        pinned_settings: [row.get(5), row.get(6), row.get(7)],
    };
    Ok(Session {
        client,
        server_version_num: version_num,
        info,
        target: target.clone(),
        prepared: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        broken: AtomicBool::new(false),
        conninfo,
    })
}

/// Runs one of OptiDB's own read-only catalog statements (no foreign text) and returns its rows.
pub async fn query(
    session: &Session,
    sql: &str,
    params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
) -> Result<Vec<tokio_postgres::Row>, PgError> {
    session
        .client
        .query_typed(sql, params)
        .await
        .map_err(PgError::from_pg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_form_never_shows_a_password() {
        let t = TargetConfig::new("postgres://bob:s3cret@db:5433/app");
        assert_eq!(t.display(), "postgres://bob@db:5433/app");
        let t = TargetConfig::new("host=db password=s3cret dbname=app user=bob");
        assert_eq!(t.display(), "postgres://bob@db:5432/app");
        let t = TargetConfig::new(
            "postgres://bob:s3cret@db/app?sslmode=verify-full&sslrootcert=/ca.pem&sslkey=/k.key&passfile=/pw",
        );
        assert_eq!(
            t.display(),
            "postgres://bob@db:5432/app?sslmode=verify-full&sslrootcert=/ca.pem&sslkey=/k.key"
        );
    }

    #[test]
    fn sessions_pin_every_setting_after_the_users_options() {
        let cfg = TargetConfig::new("postgres://u@h:1/d?options=-c%20search_path%3Devil")
            .pg_config()
            .unwrap();
        let opts = cfg.get_options().unwrap();
        for want in [
            "default_transaction_read_only=on",
            "standard_conforming_strings=on",
            "statement_timeout=5000",
            "lock_timeout=500",
            "idle_in_transaction_session_timeout=60000",
            "search_path=pg_catalog",
            "jit=off",
        ] {
            assert!(opts.contains(want), "{want} missing: {opts}");
        }
        // Ours come last, so they win over the URL's.
        assert!(
            opts.find("search_path=evil").unwrap() < opts.find("search_path=pg_catalog").unwrap()
        );
        assert_eq!(cfg.get_application_name(), Some("optidb"));
    }

    #[test]
    fn the_application_search_path_starts_with_pg_catalog() {
        let mut t = TargetConfig::new("");
        assert_eq!(t.app_search_path(), "pg_catalog, \"$user\", public");
        t.search_path = vec!["App".into(), "pg_catalog".into(), "x\"y".into()];
        assert_eq!(t.app_search_path(), "pg_catalog, \"App\", \"x\"\"y\"");
    }
}
