//! Target databases: a short stable id for each (the key prefix of all its data) and a label
//! people can read (the connection string without its password).

pub use optidb_core::redact::redact_password;
use serde::{Deserialize, Serialize};
use tokio_postgres::config::Host;

/// Number of hex digits of a target id (64 bits of blake3).
const ID_LEN: usize = 16;

/// Identifies one target database inside the store: 16 hex digits of blake3 over
/// `user@host:port/dbname`, so the same database gets the same id across restarts, password
/// changes and spellings of the URL (`postgres://…` or `key=value`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetId(String);

impl TargetId {
    /// The id of the database a `postgres://` URL or `key=value` conninfo string points at.
    ///
    /// Missing parts take libpq's defaults where they are fixed (port 5432, database = user)
    /// and `localhost` for a missing host. Parts libpq would take from the environment are
    /// not looked up here: pass the same string every time, or use [`TargetId::from_config`]
    /// on the resolved configuration. A string tokio-postgres cannot parse (which cannot be
    /// connected to either) still gets a stable id: the hash of its password-free text.
    pub fn from_url(url: &str) -> TargetId {
        match url.parse::<tokio_postgres::Config>() {
            Ok(cfg) => TargetId::from_config(&cfg),
            Err(_) => hash_id(&format!("unparsed:{}", redact_password(url))),
        }
    }

    /// The id of the database a parsed configuration points at (see [`TargetId::from_url`]).
    pub fn from_config(cfg: &tokio_postgres::Config) -> TargetId {
        hash_id(&identity(cfg))
    }

    /// An id read back from somewhere (an API path, the store): `None` unless it has the shape
    /// of an id.
    pub fn parse(s: &str) -> Option<TargetId> {
        let ok = s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| TargetId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn hash_id(identity: &str) -> TargetId {
    let mut h = blake3::Hasher::new();
    h.update(b"optidb-target-v1\0");
    h.update(identity.as_bytes());
    TargetId(h.finalize().to_hex()[..ID_LEN].to_string())
}

/// `user@host:port[,host:port…]/dbname`: what makes a target the same database.
fn identity(cfg: &tokio_postgres::Config) -> String {
    let user = cfg.get_user().unwrap_or("");
    let dbname = cfg.get_dbname().unwrap_or(user);
    let ports = cfg.get_ports();
    let port_for = |i: usize| match ports {
        [] => 5432,
        [p] => *p,
        ps => ps.get(i).copied().unwrap_or(5432),
    };
    let hosts: Vec<String> = if cfg.get_hosts().is_empty() {
        vec![format!("localhost:{}", port_for(0))]
    } else {
        cfg.get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let name = match h {
                    Host::Tcp(name) => name.to_ascii_lowercase(),
                    #[cfg(unix)]
                    Host::Unix(path) => path.display().to_string(),
                };
                format!("{name}:{}", port_for(i))
            })
            .collect()
    };
    format!("{user}@{}/{dbname}", hosts.join(","))
}
