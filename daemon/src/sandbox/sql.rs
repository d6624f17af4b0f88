//! Talking SQL to the sandbox during setup: create the database and the extensions.
//!
//! The sandbox API is blocking, and may be called from plain threads or from inside a tokio
//! runtime (where `block_on` would panic). So every SQL step runs on a fresh scoped thread with
//! its own small current-thread runtime: no runtime is required of the caller, and none of the
//! caller's is touched.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::SandboxError;

/// The extensions every sandbox database gets, in this order.
pub(crate) const EXTENSIONS: &[&str] = &["pg_stat_statements", "hypopg", "pg_trgm"];

/// Runs `make()`'s future to completion on a new thread with its own current-thread runtime.
pub(crate) fn block_on<T, F, Fut>(make: F) -> Result<T, SandboxError>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, SandboxError>>,
{
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("optidb-sandbox-sql".to_string())
            .spawn_scoped(scope, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| SandboxError::Runtime(e.to_string()))?;
                runtime.block_on(make())
            })
            .map_err(|e| SandboxError::Runtime(e.to_string()))?;
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Where and how to connect.
pub(crate) struct Target<'a> {
    pub port: u16,
    pub database: &'a str,
    pub log: &'a Path,
}

impl Target<'_> {
    fn url(&self) -> String {
        super::url(self.port, self.database)
    }
}

/// Connects as the superuser; the connection task runs on the current runtime.
pub(crate) async fn connect(target: &Target<'_>) -> Result<Client, SandboxError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(target.port)
        .user("postgres")
        .dbname(target.database)
        .application_name("optidb-sandbox")
        .connect_timeout(Duration::from_secs(15));
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|source| SandboxError::Connect {
                url: target.url(),
                log: target.log.to_path_buf(),
                source,
            })?;
    tokio::spawn(async move {
        // Ends when the client is dropped; an error here already surfaced on the client.
        let _ = connection.await;
    });
    Ok(client)
}

/// The server's message with its detail and hint, or the client error.
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str("; detail: ");
                text.push_str(detail);
            }
            if let Some(hint) = db.hint() {
                text.push_str("; hint: ");
                text.push_str(hint);
            }
            text
        }
        None => e.to_string(),
    }
}

fn sql_error(sql: &str, e: &tokio_postgres::Error) -> SandboxError {
    SandboxError::Sql {
        sql: sql.to_string(),
        message: pg_message(e),
    }
}

/// Runs a batch of statements in `target`'s database.
pub(crate) async fn batch_execute(target: &Target<'_>, sql: &str) -> Result<(), SandboxError> {
    let client = connect(target).await?;
    client
        .batch_execute(sql)
        .await
        .map_err(|e| sql_error(sql, &e))
}

/// Creates the database (unless it exists) and `extensions` in it; returns
/// `server_version_num`.
pub(crate) async fn setup(
    target: &Target<'_>,
    major: u32,
    extensions: &[&str],
) -> Result<u32, SandboxError> {
    let admin = connect(&Target {
        database: "postgres",
        ..*target
    })
    .await?;

    let sql = "SELECT current_setting('server_version_num')";
    let row = admin
        .query_one(sql, &[])
        .await
        .map_err(|e| sql_error(sql, &e))?;
    let text: String = row.get(0);
    let version_num = text.trim().parse().map_err(|_| SandboxError::Sql {
        sql: sql.to_string(),
        message: format!("unexpected server_version_num {text:?}"),
    })?;

    let sql = "SELECT 1 FROM pg_database WHERE datname = $1";
    let exists = admin
        .query_opt(sql, &[&target.database])
        .await
        .map_err(|e| sql_error(sql, &e))?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(target.database));
        admin
            .batch_execute(&sql)
            .await
            .map_err(|e| sql_error(&sql, &e))?;
    }
    drop(admin);

    let client = connect(target).await?;
    for extension in extensions {
        let sql = format!("CREATE EXTENSION IF NOT EXISTS {extension}");
        if let Err(e) = client.batch_execute(&sql).await {
            return Err(extension_error(extension, major, &sql, &e));
        }
    }
    Ok(version_num)
}

/// A missing extension says which package installs it; anything else is a plain SQL error.
fn extension_error(
    extension: &str,
    major: u32,
    sql: &str,
    e: &tokio_postgres::Error,
) -> SandboxError {
    let message = pg_message(e);
    let not_installed = e.code() == Some(&SqlState::UNDEFINED_FILE)
        || message.contains("is not available")
        || message.contains("could not open extension control file");
    if !not_installed {
        return sql_error(sql, e);
    }
    let package = if extension == "hypopg" {
        format!("postgresql-{major}-hypopg")
    } else {
        // pg_stat_statements and pg_trgm ship with Debian's server package.
        format!("postgresql-{major}")
    };
    SandboxError::ExtensionMissing {
        extension: extension.to_string(),
        major,
        package,
        message,
    }
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("optidb_demo"), "\"optidb_demo\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn block_on_works_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let value = rt.block_on(async { block_on(|| async { Ok(7) }) });
        assert_eq!(value.expect("block_on"), 7);
    }
}
