//! Reads a target address the way libpq does and opens connections with it: the one place that
//! knows which parameters tokio-postgres understands and which ones OptiDB handles itself.
//!
//! tokio-postgres's own parser knows `sslmode` disable/prefer/require only and rejects keys it
//! does not know. libpq users write `sslmode=verify-full&sslrootcert=/path`, `sslcert`,
//! `sslkey`, `passfile`, or set `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY` and
//! `PGPASSFILE`. [`parse`] takes those out of the URL or `key=value` string, keeps them in
//! [`LibpqParams`], and hands the rest to [`tokio_postgres::Config`]; the variables count when
//! the address does not set the parameter (like libpq, the address wins). PGHOST, PGPORT,
//! PGUSER, PGDATABASE and PGPASSWORD fill what the address leaves out.
//!
//! [`ConnInfo::connect`] is how every part of OptiDB connects (sessions, seed, setup, benches):
//! TLS as the mode says (see `pg/tls.rs`), the password from the password file when none was
//! given (`pg/passfile.rs`), `sslmode=allow` as libpq does it (plain first, then TLS), and
//! failures turned into [`PgError`]s that say what to do. [`ConnInfo::cancel`] cancels over the
//! same kind of connection.

use super::error::PgError;
use super::passfile;
use super::tls;
use std::path::PathBuf;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::{CancelToken, Client, Config};

/// libpq's `sslmode` (https://www.postgresql.org/docs/current/libpq-ssl.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plain first; TLS only when the server refuses a plain connection. No verification.
    Allow,
    /// TLS when the server offers it, else plain. No verification (see docs/security.md).
    Prefer,
    /// TLS or nothing. No verification, unless a root certificate file exists: then the chain
    /// is checked as with `VerifyCa` (libpq does the same).
    Require,
    /// TLS, and the certificate chains to `sslrootcert`; the host name is not checked.
    VerifyCa,
    /// TLS, the certificate chains to `sslrootcert` and names the host connected to.
    VerifyFull,
}

impl SslMode {
    pub const NAMES: &'static str = "disable, allow, prefer, require, verify-ca or verify-full";

    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The libpq parameters tokio-postgres does not handle, as given (address, else variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibpqParams {
    /// `None`: not given (prefer, or verify-full with `sslrootcert=system`).
    pub sslmode: Option<SslMode>,
    /// A file of PEM certificates, or `system` for the system's trusted roots.
    pub sslrootcert: Option<String>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub passfile: Option<PathBuf>,
}

impl LibpqParams {
    /// The mode in effect: as given, else `verify-full` with `sslrootcert=system` (libpq 16+),
    /// else `prefer`.
    pub fn mode(&self) -> SslMode {
        match (self.sslmode, self.sslrootcert.as_deref()) {
            (Some(m), _) => m,
            (None, Some("system")) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        }
    }
}

/// A parsed target address: what tokio-postgres understands, and the rest.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub config: Config,
    pub libpq: LibpqParams,
}

/// Keys taken out of the address before tokio-postgres sees it.
const LIBPQ_KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"];

/// Parses a `postgres://` URL or a `key=value` conninfo string (empty: everything from the
/// PG* variables), like libpq.
pub fn parse(text: &str) -> Result<ConnInfo, PgError> {
    parse_with_env(text, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// [`parse`] with the environment given (tests).
pub fn parse_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnInfo, PgError> {
    let (rest, pairs) = split_libpq(text).map_err(PgError::BadUrl)?;
    let mut cfg = if rest.trim().is_empty() {
        Config::new()
    } else {
        rest.parse::<Config>()
            .map_err(|e| PgError::BadUrl(e.to_string()))?
    };
    let mut libpq = LibpqParams::default();
    let given = |key: &str, var: &str| -> Option<String> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| env(var))
    };
    if let Some(m) = given("sslmode", "PGSSLMODE") {
        libpq.sslmode = Some(SslMode::parse(m.trim()).ok_or_else(|| {
            PgError::BadUrl(format!("sslmode {m:?} is not one of {}", SslMode::NAMES))
        })?);
    }
    libpq.sslrootcert = given("sslrootcert", "PGSSLROOTCERT").filter(|s| !s.is_empty());
    libpq.sslcert = given("sslcert", "PGSSLCERT")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    libpq.sslkey = given("sslkey", "PGSSLKEY")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    libpq.passfile = given("passfile", "PGPASSFILE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    cfg.ssl_mode(match libpq.mode() {
        SslMode::Disable | SslMode::Allow => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });

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
    Ok(ConnInfo { config: cfg, libpq })
}

/// Takes the libpq-only parameters out of a URL's query string or a `key=value` string:
/// the text left for tokio-postgres, and the (decoded) pairs taken out.
fn split_libpq(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let t = text.trim();
    if t.starts_with("postgres://") || t.starts_with("postgresql://") {
        let Some((base, query)) = t.split_once('?') else {
            return Ok((t.to_string(), Vec::new()));
        };
        let mut kept = Vec::new();
        let mut taken = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let key = percent_decode(k)?;
            if LIBPQ_KEYS.contains(&key.as_str()) {
                taken.push((key, percent_decode(v)?));
            } else {
                kept.push(part);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, taken));
    }
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for (k, v) in conninfo_pairs(t)? {
        if LIBPQ_KEYS.contains(&k.as_str()) {
            taken.push((k, v));
        } else {
            kept.push(format!(
                "{k}='{}'",
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok((kept.join(" "), taken))
}

/// The `key = value` pairs of a conninfo string: values bare or in single quotes, `\` escapes
/// the next character (libpq's rules).
fn conninfo_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!(
                "missing \"=\" after {key:?} in the connection string"
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "unterminated quoted value of {key:?} in the connection string"
                        ))
                    }
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// `%XX` decoding of a URL component.
fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

impl ConnInfo {
    /// The mode in effect (see [`LibpqParams::mode`]).
    pub fn sslmode(&self) -> SslMode {
        self.libpq.mode()
    }

    /// The first host, as TLS checks it and the password file matches it.
    fn first_host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        }
    }

    /// Connects like libpq: TLS as the mode says, the password file when no password was
    /// given, `allow` as plain-then-TLS. The connection runs on a background task; the
    /// [`Client`] reports it closed when it ends.
    pub async fn connect(&self) -> Result<Client, PgError> {
        let mut cfg = self.config.clone();
        let mut from_passfile = None;
        let mut passfile_note = None;
        if cfg.get_password().is_none() {
            match self.passfile_password() {
                passfile::Lookup::Found { password, path } => {
                    cfg.password(password);
                    from_passfile = Some(path);
                }
                passfile::Lookup::Ignored { path, why } => {
                    tracing::warn!("password file {} ignored: {why}", path.display());
                    passfile_note =
                        Some(format!("password file {} ignored: {why}", path.display()));
                }
                passfile::Lookup::None => {}
            }
        }
        let mode = self.sslmode();
        let connector = tls::connector(&self.libpq).map_err(PgError::Tls)?;
        let result = match cfg.connect(connector.clone()).await {
            // allow: plain was refused (pg_hba wants hostssl): try TLS, as libpq does.
            Err(e) if mode == SslMode::Allow && e.as_db_error().is_some() => {
                cfg.ssl_mode(PgSslMode::Require);
                cfg.connect(connector).await
            }
            other => other,
        };
        match result {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("target connection closed: {e}");
                    }
                });
                Ok(client)
            }
            Err(e) => Err(self.describe(e, from_passfile, passfile_note)),
        }
    }

    fn passfile_password(&self) -> passfile::Lookup {
        let Some(path) = self.libpq.passfile.clone().or_else(passfile::default_path) else {
            return passfile::Lookup::None;
        };
        let user = self.config.get_user().unwrap_or_default();
        let port = self
            .config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432)
            .to_string();
        let db = self.config.get_dbname().unwrap_or(user);
        passfile::lookup(&path, &self.first_host(), &port, db, user)
    }

    /// A connection failure in words that say what to do.
    fn describe(
        &self,
        e: tokio_postgres::Error,
        from_passfile: Option<PathBuf>,
        passfile_note: Option<String>,
    ) -> PgError {
        if let Some(t) = tls::classify(&e, &self.libpq, &self.first_host()) {
            return PgError::Tls(t);
        }
        // tokio-postgres's own words when the server asks for a password it does not have.
        let asked = e.as_db_error().is_none()
            && std::error::Error::source(&e).is_some_and(|s| s.to_string() == "password missing");
        let pg = if asked {
            PgError::Auth(format!(
                "the server asks for a password for {} and none was given",
                self.config.get_user().unwrap_or_default()
            ))
        } else {
            PgError::from_pg(e)
        };
        match pg {
            PgError::Auth(msg) => {
                let mut msg = msg;
                if let Some(p) = from_passfile {
                    msg.push_str(&format!(" (the password came from {})", p.display()));
                }
                if let Some(note) = passfile_note {
                    msg.push_str(&format!(" ({note})"));
                }
                PgError::Auth(msg)
            }
            other => other,
        }
    }

    /// Cancels what the backend of `token`'s connection runs, over a connection of the same
    /// kind (TLS when the session used it). Waits at most `wait`.
    pub async fn cancel(&self, token: CancelToken, wait: Duration) {
        match tls::connector(&self.libpq) {
            Ok(connector) => {
                let _ = tokio::time::timeout(wait, token.cancel_query(connector)).await;
            }
            Err(e) => tracing::debug!("cannot cancel: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn urls_keep_libpq_ssl_parameters_out_of_tokio_postgres() {
        let c = parse_with_env(
            "postgres://u@db.example:5433/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x&sslcert=/c.crt&sslkey=/c.key&passfile=/p",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.sslmode(), SslMode::VerifyFull);
        assert_eq!(c.libpq.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(c.libpq.sslcert, Some(PathBuf::from("/c.crt")));
        assert_eq!(c.libpq.sslkey, Some(PathBuf::from("/c.key")));
        assert_eq!(c.libpq.passfile, Some(PathBuf::from("/p")));
        assert_eq!(c.config.get_ssl_mode(), PgSslMode::Require);
        assert_eq!(c.config.get_application_name(), Some("x"));
        assert_eq!(c.config.get_dbname(), Some("app"));
        assert_eq!(c.config.get_ports(), &[5433]);
    }

    #[test]
    fn conninfo_strings_too_with_quotes_and_escapes() {
        let c = parse_with_env(
            r"host=db dbname='my app' sslmode = verify-ca sslrootcert='/a b/it\'s.pem' password=p\ w",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.sslmode(), SslMode::VerifyCa);
        assert_eq!(c.libpq.sslrootcert.as_deref(), Some("/a b/it's.pem"));
        assert_eq!(c.config.get_dbname(), Some("my app"));
        assert_eq!(c.config.get_password(), Some(&b"p w"[..]));
        assert!(parse_with_env("host=db sslmode='unterminated", &no_env).is_err());
        assert!(parse_with_env("host=db dbname", &no_env).is_err());
    }

    #[test]
    fn every_libpq_mode_maps_onto_tokio_postgres() {
        for (m, want) in [
            ("disable", PgSslMode::Disable),
            ("allow", PgSslMode::Disable),
            ("prefer", PgSslMode::Prefer),
            ("require", PgSslMode::Require),
            ("verify-ca", PgSslMode::Require),
            ("verify-full", PgSslMode::Require),
        ] {
            let c = parse_with_env(&format!("postgres://u@h/d?sslmode={m}"), &no_env).unwrap();
            assert_eq!(c.config.get_ssl_mode(), want, "{m}");
            assert_eq!(c.sslmode().as_str(), m);
        }
        let e = parse_with_env("postgres://u@h/d?sslmode=verify", &no_env).unwrap_err();
        assert!(e.to_string().contains("verify-full"), "{e}");
    }

    #[test]
    fn variables_fill_what_the_address_leaves_out() {
        let env = |k: &str| -> Option<String> {
            match k {
                "PGSSLMODE" => Some("verify-ca".into()),
                "PGSSLROOTCERT" => Some("/env/root.crt".into()),
                "PGSSLCERT" => Some("/env/c.crt".into()),
                "PGSSLKEY" => Some("/env/c.key".into()),
                "PGPASSFILE" => Some("/env/pgpass".into()),
                "PGHOST" => Some("envhost".into()),
                _ => None,
            }
        };
        let c = parse_with_env("", &env).unwrap();
        assert_eq!(c.sslmode(), SslMode::VerifyCa);
        assert_eq!(c.libpq.sslrootcert.as_deref(), Some("/env/root.crt"));
        assert_eq!(c.libpq.passfile, Some(PathBuf::from("/env/pgpass")));
        assert!(matches!(&c.config.get_hosts()[0], Host::Tcp(h) if h == "envhost"));
        // The address wins over the variables.
        let c = parse_with_env(
            "postgres://u@h/d?sslmode=require&sslrootcert=/url.crt",
            &env,
        )
        .unwrap();
        assert_eq!(c.sslmode(), SslMode::Require);
        assert_eq!(c.libpq.sslrootcert.as_deref(), Some("/url.crt"));
        assert_eq!(c.libpq.sslkey, Some(PathBuf::from("/env/c.key")));
    }

    #[test]
    fn the_default_mode_is_prefer_or_verify_full_with_system_roots() {
        let c = parse_with_env("postgres://u@h/d", &no_env).unwrap();
        assert_eq!(c.sslmode(), SslMode::Prefer);
        let c = parse_with_env("postgres://u@h/d?sslrootcert=system", &no_env).unwrap();
        assert_eq!(c.sslmode(), SslMode::VerifyFull);
        assert_eq!(c.config.get_ssl_mode(), PgSslMode::Require);
    }

    #[test]
    fn unknown_keys_are_still_refused() {
        assert!(parse_with_env("postgres://u@h/d?bogus=1", &no_env).is_err());
        assert!(parse_with_env("host=h bogus=1", &no_env).is_err());
    }
}
