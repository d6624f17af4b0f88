//! The demo application OptiDB is shown and tested against: a web shop's schema, deterministic
//! data and workload with deliberately seeded performance problems, and the findings the
//! advisor must produce for them (files in seed/, embedded here so the binary works from any
//! directory).
//!
//! - [`load`]: schema + data + the stale-statistics setup, into any database (`optidb seed`,
//!   `optidb demo`, compose.yaml, the tests).
//! - [`run_workload`]: the application's statements with real literal values, phase by phase.
//! - [`workload`] / [`expected`]: seed/workload.toml and seed/expected.toml, parsed and checked.

mod expected;
mod run;
mod template;
mod workload;

use crate::pg::MARKER;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

pub use expected::{ExpectedFinding, FindingType};
pub use run::{run_workload, run_workload_with, PatternRun, SeedOptions, WorkloadSummary};
pub use template::{Generator, SplitMix64, Template, TemplateError};
pub use workload::{Blocker, Pattern, Workload, PHASES};

/// seed/schema.sql: tables, primary keys and the deliberate indexes.
pub const SCHEMA_SQL: &str = include_str!("../../seed/schema.sql");
/// seed/data.sql: generated rows, statistics, foreign keys; split into `-- @step` sections.
pub const DATA_SQL: &str = include_str!("../../seed/data.sql");
/// seed/workload.toml: the application's statement patterns.
pub const WORKLOAD_TOML: &str = include_str!("../../seed/workload.toml");
/// seed/expected.toml: what the advisor must find.
pub const EXPECTED_TOML: &str = include_str!("../../seed/expected.toml");

/// The comment every seed table carries; only tables with it are ever dropped by [`load`].
pub const SEED_MARKER: &str = "optidb-seed";

/// The seed's tables and their row counts after [`load`] (data.sql is the source of truth;
/// the tests check that they agree).
pub const EXPECTED_ROWS: [(&str, i64); 8] = [
    ("public.countries", 30),
    ("public.customers", 50_000),
    ("public.users", 60_000),
    ("public.products", 5_000),
    ("public.orders", 300_000),
    ("public.order_items", 600_000),
    ("public.coupons", 20),
    ("public.events", 302_000),
];

/// What [`load`] did.
#[derive(Debug, Clone)]
pub struct LoadSummary {
    /// Rows per seed table (schema-qualified), counted after the load.
    pub tables: Vec<(String, i64)>,
    /// Each data.sql step and how long it took.
    pub steps: Vec<(String, Duration)>,
    pub duration: Duration,
    /// Whether an earlier seed was dropped first.
    pub replaced: bool,
    /// Things that work but limit the advisor (for example pg_stat_statements not loaded).
    pub warnings: Vec<String>,
}

impl LoadSummary {
    /// Rows in `table` (schema-qualified).
    pub fn rows(&self, table: &str) -> Option<i64> {
        self.tables
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, n)| *n)
    }
}

/// The parsed, validated seed/workload.toml.
pub fn workload() -> Result<Workload> {
    Workload::parse(WORKLOAD_TOML)
}

/// The parsed seed/expected.toml, checked against the workload (one finding per pattern).
pub fn expected() -> Result<Vec<ExpectedFinding>> {
    expected::parse(EXPECTED_TOML, &workload()?)
}

/// The `-- @step NAME` sections of data.sql, in order.
pub fn data_steps() -> Vec<(&'static str, &'static str)> {
    let mut steps = Vec::new();
    let mut current: Option<(&str, usize)> = None;
    let mut offset = 0;
    for line in DATA_SQL.split_inclusive('\n') {
        if let Some(name) = line.trim_end().strip_prefix("-- @step ") {
            if let Some((n, start)) = current {
                steps.push((n, &DATA_SQL[start..offset]));
            }
            current = Some((name.trim(), offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((n, start)) = current {
        steps.push((n, &DATA_SQL[start..]));
    }
    steps
}

/// Loads the seed into the database at `url`: schema, data, statistics (events left stale on
/// purpose). Re-running replaces an earlier seed; tables of the same names that the seed did
/// not create are never touched (the load stops with an error instead).
pub async fn load(url: &str) -> Result<LoadSummary> {
    load_with(url, &mut |_| {}).await
}

/// [`load`], reporting each step on `progress` as it finishes.
pub async fn load_with(url: &str, progress: &mut (dyn FnMut(&str) + Send)) -> Result<LoadSummary> {
    let started = Instant::now();
    let client = connect(url, "optidb-seed").await?;
    // The load is not the application: keep it out of pg_stat_statements where we may
    // (superuser only; elsewhere the statements show up, which is harmless).
    let _ = client
        .batch_execute("SET pg_stat_statements.track = 'none'")
        .await;

    let mut warnings = Vec::new();
    for ext in ["pg_stat_statements", "pg_trgm", "hypopg"] {
        if let Err(e) = client
            .batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {ext}"))
            .await
        {
            warnings.push(format!(
                "could not create extension {ext} ({}); the advisor {} it",
                db_error(&e),
                if ext == "pg_trgm" {
                    "simulates trigram indexes with"
                } else {
                    "needs"
                }
            ));
        }
    }

    let replaced = check_existing(&client).await?;
    if replaced {
        let list: Vec<&str> = EXPECTED_ROWS.iter().map(|(t, _)| *t).collect();
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {} CASCADE", list.join(", ")))
            .await
            .map_err(|e| anyhow::anyhow!("dropping the earlier seed failed: {}", db_error(&e)))?;
        progress("dropped the earlier seed");
    }

    let t = Instant::now();
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .map_err(|e| anyhow::anyhow!("seed/schema.sql failed: {}", db_error(&e)))?;
    let mut steps = vec![("schema".to_string(), t.elapsed())];
    progress(&format!("schema ({} ms)", t.elapsed().as_millis()));
    for (name, sql) in data_steps() {
        let t = Instant::now();
        client
            .batch_execute(sql)
            .await
            .map_err(|e| anyhow::anyhow!("seed/data.sql step `{name}` failed: {}", db_error(&e)))?;
        steps.push((name.to_string(), t.elapsed()));
        progress(&format!("{name} ({} ms)", t.elapsed().as_millis()));
    }

    let mut tables = Vec::new();
    for (table, _) in EXPECTED_ROWS {
        let row = client
            .query_one(&format!("{MARKER} SELECT count(*) FROM {table}"), &[])
            .await
            .with_context(|| format!("counting rows of {table}"))?;
        tables.push((table.to_string(), row.get::<_, i64>(0)));
    }
    if let Err(e) = client
        .simple_query(&format!(
            "{MARKER} SELECT 1 FROM pg_stat_statements LIMIT 1"
        ))
        .await
    {
        warnings.push(format!(
            "pg_stat_statements is not usable in this database ({}): the advisor reads it; \
             it needs shared_preload_libraries = 'pg_stat_statements' (then a restart) and \
             CREATE EXTENSION pg_stat_statements run by a superuser in this database",
            db_error(&e)
        ));
    }
    Ok(LoadSummary {
        tables,
        steps,
        duration: started.elapsed(),
        replaced,
        warnings,
    })
}

/// Whether an earlier seed is present (true) or none of its tables exist (false); an error
/// when a table of the same name exists that the seed did not create.
async fn check_existing(client: &Client) -> Result<bool> {
    let names: Vec<&str> = EXPECTED_ROWS
        .iter()
        .map(|(t, _)| t.trim_start_matches("public."))
        .collect();
    let rows = client
        .query(
            &format!(
                "{MARKER} SELECT c.relname::text, coalesce(obj_description(c.oid, 'pg_class'), '') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relname = ANY($1)"
            ),
            &[&names],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading the catalog failed: {}", db_error(&e)))?;
    for row in &rows {
        let name: String = row.get(0);
        let comment: String = row.get(1);
        if comment != SEED_MARKER {
            bail!(
                "public.{name} already exists and was not created by the OptiDB seed, so the seed \
                 will not drop it: load the seed into an empty database (for example \
                 `createdb optidb_demo`)"
            );
        }
    }
    Ok(!rows.is_empty())
}

/// Fails with a clear message unless every seed table exists (loaded by [`load`]).
pub async fn ensure_loaded(client: &Client) -> Result<()> {
    let names: Vec<&str> = EXPECTED_ROWS
        .iter()
        .map(|(t, _)| t.trim_start_matches("public."))
        .collect();
    let row = client
        .query_one(
            &format!(
                "{MARKER} SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relname = ANY($1) \
                 AND obj_description(c.oid, 'pg_class') = $2"
            ),
            &[&names, &SEED_MARKER],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading the catalog failed: {}", db_error(&e)))?;
    let n: i64 = row.get(0);
    if n != names.len() as i64 {
        bail!(
            "the seed is not loaded in this database ({n} of {} tables found): run `optidb seed` \
             without --workload-only first",
            names.len()
        );
    }
    Ok(())
}

/// Connects with `application_name` set, the way every OptiDB connection is opened (libpq's
/// TLS and password-file parameters, `pg::conninfo`); the connection task runs in the
/// background.
pub async fn connect(url: &str, application_name: &str) -> Result<Client> {
    let mut info = crate::pg::conninfo::parse(url).map_err(|e| {
        anyhow::anyhow!(
            "`{}` is not a PostgreSQL connection URL ({e}): write postgres://user@host:port/dbname",
            redact_url(url)
        )
    })?;
    info.config.application_name(application_name);
    if info.config.get_connect_timeout().is_none() {
        info.config.connect_timeout(Duration::from_secs(10));
    }
    info.connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}; {}", redact_url(url), e.hint()))
}

/// A database error's message with its detail and hint, or the error itself.
pub fn db_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(d) = db.detail() {
                let _ = write!(s, " ({d})");
            }
            if let Some(h) = db.hint() {
                let _ = write!(s, "; hint: {h}");
            }
            s
        }
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// `url` without its password, for messages (the store's redaction: one implementation).
pub use optidb_core::redact::redact_password as redact_url;

/// `optidb seed`: load the seed into a database and run the workload.
#[derive(clap::Args, Debug, Clone)]
pub struct SeedArgs {
    /// PostgreSQL URL of the database to seed, e.g. postgres://postgres@localhost:5432/optidb_demo
    #[arg(long, env = "OPTIDB_DB")]
    pub db: String,
    /// Skip the load: run the workload against an already seeded database.
    #[arg(long, conflicts_with = "load_only")]
    pub workload_only: bool,
    /// Load the schema and data only; run no workload.
    #[arg(long)]
    pub load_only: bool,
    /// Multiply every pattern's call count (1.0 = the counts in seed/workload.toml).
    #[arg(long, default_value_t = 1.0)]
    pub calls_scale: f64,
    /// Phases to run, in order (1 = baseline, 2 = under lock contention).
    #[arg(long = "phase", value_delimiter = ',', default_values_t = PHASES)]
    pub phases: Vec<u8>,
}

/// Runs `optidb seed`: progress on stderr, summaries on stdout; fails if any statement failed.
pub async fn run_cli(args: SeedArgs) -> Result<()> {
    let opts = SeedOptions {
        calls_scale: args.calls_scale,
        phases: args.phases.clone(),
    };
    if !args.load_only {
        opts.validate()?;
    }
    if !args.workload_only {
        eprintln!("seed: loading into {}", redact_url(&args.db));
        let summary = load_with(&args.db, &mut |line| eprintln!("seed: {line}")).await?;
        print!("{}", format_load_summary(&summary));
    }
    if args.load_only {
        return Ok(());
    }
    let summary =
        run_workload_with(&args.db, &opts, &mut |line| eprintln!("workload: {line}")).await?;
    print!("{}", format_workload_summary(&summary));
    summary.check()
}

/// A table of rows per seed table, step timings and warnings.
pub fn format_load_summary(s: &LoadSummary) -> String {
    let mut out = format!(
        "seed loaded in {:.1} s{}\n",
        s.duration.as_secs_f64(),
        if s.replaced {
            " (replaced the earlier seed)"
        } else {
            ""
        }
    );
    for (table, rows) in &s.tables {
        let _ = writeln!(out, "  {table:<22} {rows:>9} rows");
    }
    for w in &s.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

/// A table of calls, errors and mean time per pattern and phase.
pub fn format_workload_summary(s: &WorkloadSummary) -> String {
    let mut out = format!(
        "workload: {} statements in {:.1} s\n  {:<28} {:>5} {:>6} {:>6} {:>10}\n",
        s.statements(),
        s.duration.as_secs_f64(),
        "pattern",
        "phase",
        "calls",
        "errors",
        "mean ms"
    );
    for r in &s.runs {
        let _ = writeln!(
            out,
            "  {:<28} {:>5} {:>6} {:>6} {:>10.2}",
            r.pattern, r.phase, r.calls, r.errors, r.mean_ms
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_workload_and_expected_parse() {
        let w = workload().unwrap();
        let e = expected().unwrap();
        assert_eq!(w.patterns.len(), e.len());
        for p in &w.patterns {
            // Every rendering is a single statement that pg_query parses.
            for i in 0..20 {
                let sql = p.render(i);
                assert!(!sql.contains("optidb"), "{sql}");
                optidb_core::sql::fingerprint_only(&sql)
                    .unwrap_or_else(|e| panic!("{}: {sql}: {e}", p.name));
            }
        }
    }

    #[test]
    fn patterns_have_distinct_fingerprints() {
        let w = workload().unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for p in &w.patterns {
            let fp = p.fingerprint().unwrap();
            if let Some(other) = seen.insert(fp, p.name.clone()) {
                panic!("{} and {} share a fingerprint", other, p.name);
            }
        }
    }

    #[test]
    fn expected_covers_every_type() {
        let kinds: std::collections::BTreeSet<FindingType> =
            expected().unwrap().iter().map(|f| f.kind).collect();
        assert_eq!(kinds.len(), 7, "{kinds:?}");
    }

    #[test]
    fn data_steps_cover_the_file() {
        let steps = data_steps();
        let names: Vec<&str> = steps.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.first(), Some(&"setup"));
        assert!(names.contains(&"events_small") && names.contains(&"events_growth"));
        let total: usize = steps.iter().map(|(_, s)| s.len()).sum();
        assert!(total > DATA_SQL.len() / 2);
        assert!(steps.iter().all(|(_, s)| s.contains(';')));
    }

    #[test]
    fn schema_creates_exactly_the_seed_tables_with_the_marker() {
        for (table, _) in EXPECTED_ROWS {
            assert!(
                SCHEMA_SQL.contains(&format!("CREATE TABLE {table} (")),
                "{table}"
            );
            assert!(
                SCHEMA_SQL.contains(&format!("COMMENT ON TABLE {table} IS '{SEED_MARKER}'")),
                "{table}"
            );
        }
        assert_eq!(
            SCHEMA_SQL.matches("CREATE TABLE ").count(),
            EXPECTED_ROWS.len()
        );
    }
}
