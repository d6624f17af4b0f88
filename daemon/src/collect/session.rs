//! Opens sessions to the target database the only way OptiDB may: read-only, with a statement
//! and lock timeout, `application_name = 'optidb'`, and a connect timeout, so analysis can never
//! write to the target or hang on it.

use super::error::CollectError;
use std::time::Duration;
use tokio_postgres::{Client, Config, NoTls};

/// Every statement OptiDB sends carries this marker, so its own statements can be told apart
/// from the application's in pg_stat_statements and pg_stat_activity.
pub const MARKER: &str = "/* optidb */";

/// How to reach the target and how patient to be with it.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// A `postgres://` URL or a `key=value` conninfo string; empty means "from PG* variables".
    pub url: String,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub connect_timeout: Duration,
}

impl TargetConfig {
    pub fn new(url: impl Into<String>) -> Self {
        TargetConfig {
            url: url.into(),
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The connection settings: the URL, or libpq's PGHOST, PGPORT, PGUSER, PGDATABASE and
    /// PGPASSWORD when no URL is given (a URL's own fields win over the variables).
    pub fn pg_config(&self) -> Result<Config, CollectError> {
        let mut cfg = if self.url.trim().is_empty() {
            Config::new()
        } else {
            self.url
                .parse::<Config>()
                .map_err(|e| CollectError::BadUrl(e.to_string()))?
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if cfg.get_hosts().is_empty() {
            cfg.host(env("PGHOST").as_deref().unwrap_or("localhost"));
        }
        if cfg.get_ports().is_empty() {
            if let Some(p) = env("PGPORT").and_then(|p| p.parse().ok()) {
                cfg.port(p);
            }
        }
        if cfg.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            cfg.user(&user);
        }
        if cfg.get_dbname().is_none() {
            if let Some(db) = env("PGDATABASE") {
                cfg.dbname(&db);
            }
        }
        if cfg.get_password().is_none() {
            if let Some(pw) = env("PGPASSWORD") {
                cfg.password(pw);
            }
        }
        cfg.application_name("optidb");
        cfg.connect_timeout(self.connect_timeout);
        cfg.options(format!(
            "-c default_transaction_read_only=on -c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout=60000",
            self.statement_timeout.as_millis(),
            self.lock_timeout.as_millis()
        ));
        Ok(cfg)
    }

    /// The target as people should see it: `postgres://user@host:port/db`, never a password
    /// (also when it came from PG* variables).
    pub fn display(&self) -> String {
        match self.pg_config() {
            Ok(cfg) => canonical_url(&cfg),
            Err(_) => crate::store::redact_password(&self.url),
        }
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

/// A connected session. Dropping it closes the connection.
pub struct Session {
    pub client: Client,
    pub server_version_num: u32,
}

/// Connects with the safe settings and checks the server is one OptiDB supports.
pub async fn connect(target: &TargetConfig) -> Result<Session, CollectError> {
    let cfg = target.pg_config()?;
    let fut = cfg.connect(NoTls);
    let (client, connection) =
        tokio::time::timeout(target.connect_timeout + Duration::from_secs(1), fut)
            .await
            .map_err(|_| CollectError::Timeout("connecting".into()))?
            .map_err(CollectError::from_pg)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("target connection closed: {e}");
        }
    });
    let row = client
        .query_one(
            &format!("SELECT {MARKER} current_setting('server_version_num')::int4"),
            &[],
        )
        .await
        .map_err(CollectError::from_pg)?;
    let v: i32 = row.get(0);
    let server_version_num = v.max(0) as u32;
    if server_version_num < 130000 {
        return Err(CollectError::Unsupported(format!(
            "PostgreSQL {} is too old: OptiDB needs 13 or newer (pg_stat_statements 1.8 columns)",
            server_version_num / 10000
        )));
    }
    Ok(Session {
        client,
        server_version_num,
    })
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
    }

    #[test]
    fn sessions_are_read_only_with_timeouts() {
        let cfg = TargetConfig::new("postgres://u@h:1/d").pg_config().unwrap();
        let opts = cfg.get_options().unwrap();
        assert!(opts.contains("default_transaction_read_only=on"));
        assert!(opts.contains("statement_timeout=5000"));
        assert!(opts.contains("lock_timeout=500"));
        assert_eq!(cfg.get_application_name(), Some("optidb"));
    }
}
