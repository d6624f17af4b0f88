//! `optidb bench …`: OptiDB measures itself and prints a table, so speed targets are numbers
//! anyone can reproduce (`docs/performance.md` records them with the command that made them).

use std::time::{Duration, Instant};

pub mod families;
pub mod http_load;
pub mod load;
pub mod sampler_load;

/// Measure OptiDB's own speed.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Statements fingerprinted per second on one core, against pg_query alone.
    Fingerprint {
        /// Distinct statements in the corpus.
        #[arg(long, default_value_t = 5_000)]
        statements: usize,
        /// Minimum time per measurement.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Scan time and memory with 100, 1,000 and 5,000 distinct statements in
    /// pg_stat_statements (a throwaway sandbox PostgreSQL; the collector runs in this process).
    Scan {
        /// Distinct statement counts to measure.
        #[arg(long, value_delimiter = ',', default_values_t = vec![100, 1000, 5000])]
        sizes: Vec<usize>,
        /// Plans captured per scan (the daemon's --plans).
        #[arg(long, default_value_t = 20)]
        plans: usize,
        /// Warm scans per size (the median is reported).
        #[arg(long, default_value_t = 5)]
        warm_runs: usize,
        /// Queries kept per scan (the daemon's --top-n).
        #[arg(long, default_value_t = 100)]
        top_n: usize,
        /// Extra tables (each with a primary key, an index and statistics), so that reading
        /// the schema costs what it costs on a real database.
        #[arg(long, default_value_t = 300)]
        tables: usize,
    },
    /// Latency of one hypopg what-if (plan, hypothetical index, re-plan, reset) on the seeded
    /// slow patterns with their expected index (a throwaway sandbox loaded with the demo seed).
    Simulate {
        /// What-ifs per pattern and statement kind (generic and real-value sample).
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// What 3 and 30 parallel simulations cost the database's own workload: pgbench with and
    /// without simulations sent to an in-process daemon (a throwaway sandbox with the demo seed).
    SimulateLoad(load::LoadArgs),
    /// What the pg_stat_activity sampler costs the database's own workload: pgbench windows
    /// alternately without and with the sampler at its default rate (a throwaway sandbox).
    SamplerLoad(sampler_load::SamplerLoadArgs),
    /// N concurrent `GET /bottlenecks` (default 10,000) against a daemon run as a child process:
    /// answers, latency, /health during the flood, the daemon's peak RSS.
    HttpLoad(http_load::HttpLoadArgs),
    /// How long grouping 100, 1,000 and 5,000 distinct statements into query families takes
    /// (features, TF-IDF, k-means with the choice of k, labels; no database).
    Families(families::FamiliesArgs),
}

/// One measured row.
#[derive(Debug, serde::Serialize)]
pub struct Row {
    pub name: &'static str,
    pub per_second: f64,
    pub ratio_to_pg_query: f64,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<u8> {
    match &args.what {
        BenchWhat::Fingerprint {
            statements,
            seconds,
        } => {
            let rows = bench_fingerprint(*statements, Duration::from_secs_f64(*seconds))?;
            if args.json {
                crate::cli::print_line(&serde_json::to_string_pretty(&rows)?)?;
            } else {
                crate::cli::print_line(&format!(
                    "{:<44} {:>14} {:>10}",
                    "pipeline (one core)", "statements/s", "vs pg_query"
                ))?;
                for r in &rows {
                    crate::cli::print_line(&format!(
                        "{:<44} {:>14.0} {:>9.2}x",
                        r.name, r.per_second, r.ratio_to_pg_query
                    ))?;
                }
            }
            Ok(crate::cli::exit::OK)
        }
        BenchWhat::Scan {
            sizes,
            plans,
            warm_runs,
            top_n,
            tables,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            let rows = rt.block_on(bench_scan(
                sizes,
                *plans,
                (*warm_runs).max(1),
                (*top_n).max(1),
                *tables,
            ))?;
            if args.json {
                crate::cli::print_line(&serde_json::to_string_pretty(&rows)?)?;
            } else {
                crate::cli::print_line(&format!(
                    "{:>10} {:>8} {:>8} {:>7} {:>12} {:>12} {:>16} {:>10}",
                    "statements",
                    "queries",
                    "stored",
                    "plans",
                    "cold scan ms",
                    "warm scan ms",
                    "no schema cache",
                    "RSS MB"
                ))?;
                for r in &rows {
                    crate::cli::print_line(&format!(
                        "{:>10} {:>8} {:>8} {:>7} {:>12.1} {:>12.1} {:>16.1} {:>10.1}",
                        r.statements,
                        r.queries_seen,
                        r.queries_stored,
                        r.plans,
                        r.cold_ms,
                        r.warm_ms,
                        r.warm_uncached_ms,
                        r.rss_mb
                    ))?;
                }
            }
            Ok(crate::cli::exit::OK)
        }
        BenchWhat::Simulate { runs } => {
            let rt = tokio::runtime::Runtime::new()?;
            let rows = rt.block_on(bench_simulate((*runs).max(1)))?;
            if args.json {
                crate::cli::print_line(&serde_json::to_string_pretty(&rows)?)?;
            } else {
                crate::cli::print_line(&format!(
                    "{:<34} {:>8} {:>7} {:>7} {:>6}  {}",
                    "pattern (stmt)", "p50 ms", "p95 ms", "gain %", "used", "plan changes"
                ))?;
                for r in &rows {
                    crate::cli::print_line(&format!(
                        "{:<34} {:>8.2} {:>7.2} {:>7.1} {:>6}  {}",
                        r.pattern,
                        r.p50_ms,
                        r.p95_ms,
                        r.improvement_pct,
                        r.index_used,
                        r.plan_changes.join("; ")
                    ))?;
                }
            }
            Ok(crate::cli::exit::OK)
        }
        BenchWhat::Families(a) => {
            let rows = families::run(a);
            if args.json {
                crate::cli::print_line(&serde_json::to_string_pretty(&rows)?)?;
            } else {
                crate::cli::print_line(&format!(
                    "{:>8} {:>12} {:>14} {:>10} {:>4} {:>10}",
                    "queries", "features ms", "clustering ms", "total ms", "k", "silhouette"
                ))?;
                for r in &rows {
                    crate::cli::print_line(&format!(
                        "{:>8} {:>12.1} {:>14.1} {:>10.1} {:>4} {:>10.2}",
                        r.queries,
                        r.features_ms,
                        r.clustering_ms,
                        r.total_ms,
                        r.k,
                        r.silhouette.unwrap_or(0.0)
                    ))?;
                }
            }
            Ok(crate::cli::exit::OK)
        }
        BenchWhat::HttpLoad(a) => http_load::main(a, args.json),
        BenchWhat::SamplerLoad(a) => sampler_load::main(a, args.json),
        BenchWhat::SimulateLoad(a) => {
            let rt = tokio::runtime::Runtime::new()?;
            let (rows, notes) = rt.block_on(load::bench_simulate_load(a))?;
            if args.json {
                crate::cli::print_line(&serde_json::to_string_pretty(&rows)?)?;
                return Ok(crate::cli::exit::OK);
            }
            crate::cli::print_line(&format!(
                "{:<32} {:>7} {:>6} {:>7} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7}",
                "simulations during pgbench -S",
                "sims ok",
                "failed",
                "sims/s",
                "p50 ms",
                "p95 ms",
                "PG CPU",
                "daemon",
                "tps",
                "p50 lat",
                "p99 lat"
            ))?;
            crate::cli::print_line(&format!(
                "{:<32} {:>7} {:>6} {:>7} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7}",
                "",
                "",
                "",
                "",
                "(client)",
                "(client)",
                "ms/sim",
                "ms/sim",
                "ratio",
                "ratio",
                "ratio"
            ))?;
            for r in &rows {
                crate::cli::print_line(&format!(
                    "{:<32} {:>7} {:>6} {:>7.1} {:>8.1} {:>8.1} {:>9.2} {:>9.2} {:>7.3} {:>7.3} {:>7.3}",
                    r.load,
                    r.simulations_ok,
                    r.simulations_failed,
                    r.simulations_per_second,
                    r.sim_p50_ms,
                    r.sim_p95_ms,
                    r.backend_cpu_ms_per_sim,
                    r.daemon_cpu_ms_per_sim,
                    r.tps_ratio,
                    r.p50_ratio,
                    r.p99_ratio
                ))?;
            }
            crate::cli::print_line("")?;
            for r in &rows {
                crate::cli::print_line(&format!(
                    "{}: tps without {:.0?} / with {:.0?}; (p50, p99) ms without {:.2?} / with {:.2?}",
                    r.load, r.tps_without, r.tps_with, r.latency_without_ms, r.latency_with_ms
                ))?;
                for f in &r.failures {
                    crate::cli::print_line(&format!("  failed: {f}"))?;
                }
            }
            crate::cli::print_line(&notes)?;
            Ok(crate::cli::exit::OK)
        }
    }
}

/// One row of `optidb bench simulate`: a seeded pattern planned generically or as a sample.
#[derive(Debug, serde::Serialize)]
pub struct SimRow {
    pub pattern: String,
    pub ddl: String,
    pub runs: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub improvement_pct: f64,
    pub index_used: bool,
    pub plan_changes: Vec<String>,
}

/// A seeded slow pattern whose expected fix is an index.
pub struct SeededFix {
    pub pattern: String,
    /// Call 0 of the pattern, with real values.
    pub sample: String,
    /// The expected `CREATE INDEX`.
    pub ddl: String,
}

/// The seeded patterns whose expected finding is a missing or composite index.
pub fn seeded_index_fixes() -> anyhow::Result<Vec<SeededFix>> {
    use crate::seed::FindingType;
    let workload = crate::seed::workload()?;
    let mut out = Vec::new();
    for f in crate::seed::expected()? {
        if !matches!(
            f.kind,
            FindingType::MissingIndex | FindingType::CompositeIndex
        ) {
            continue;
        }
        let Some(ddl) = f.fix.clone().filter(|d| d.starts_with("CREATE INDEX")) else {
            continue;
        };
        if let Some(p) = workload.patterns.iter().find(|p| p.name == f.pattern) {
            out.push(SeededFix {
                pattern: p.name.clone(),
                sample: p.template.render_call(&p.name, 0),
                ddl,
            });
        }
    }
    Ok(out)
}

/// The `p`-th percentile (0..=100) of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn bench_simulate(runs: usize) -> anyhow::Result<Vec<SimRow>> {
    use crate::pg::{connect, TargetConfig};
    use crate::sandbox::{Sandbox, SandboxOptions};
    use crate::simulate::{ddl, labels, whatif, Stmt};
    let sandbox = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sandbox.url();
    crate::seed::load(&url).await?;
    let session = connect(&TargetConfig::sandbox(url.clone())).await?;
    let tables = crate::analyze::plan_facts::TableSizes::default();
    let mut rows = Vec::new();
    let mut all = Vec::new();
    for SeededFix {
        pattern,
        sample,
        ddl,
    } in seeded_index_fixes()?
    {
        let norm = optidb_core::sql::fingerprint(&sample)?.norm_sql;
        for (kind, stmt) in [
            ("generic", Stmt::Generic(&norm)),
            ("sample", Stmt::Sample(&sample)),
        ] {
            let ddls = [ddl::validate(&ddl)?];
            let mut times = Vec::with_capacity(runs);
            let mut last = None;
            let mut failed = None;
            for _ in 0..runs {
                let t = std::time::Instant::now();
                match whatif(&session, stmt, &ddls).await {
                    Ok(w) => last = Some(w),
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let Some(w) = last.filter(|_| failed.is_none()) else {
                // Not simulable with hypopg (e.g. GIN: hypopg 1.3 has no gin support): say so.
                rows.push(SimRow {
                    pattern: format!("{pattern} ({kind})"),
                    ddl: ddl.clone(),
                    runs: 0,
                    p50_ms: f64::NAN,
                    p95_ms: f64::NAN,
                    improvement_pct: f64::NAN,
                    index_used: false,
                    plan_changes: vec![format!("failed: {}", failed.unwrap_or_default())],
                });
                continue;
            };
            all.extend_from_slice(&times);
            times.sort_by(f64::total_cmp);
            rows.push(SimRow {
                pattern: format!("{pattern} ({kind})"),
                ddl: ddl.clone(),
                runs,
                p50_ms: percentile(&times, 50.0),
                p95_ms: percentile(&times, 95.0),
                improvement_pct: w.improvement_pct,
                index_used: w.used.first().copied().unwrap_or(false),
                plan_changes: labels::plan_changes(&w.before_plan, &w.after_plan, &tables),
            });
        }
    }
    all.sort_by(f64::total_cmp);
    rows.push(SimRow {
        pattern: "all".into(),
        ddl: String::new(),
        runs: all.len(),
        p50_ms: percentile(&all, 50.0),
        p95_ms: percentile(&all, 95.0),
        improvement_pct: f64::NAN,
        index_used: false,
        plan_changes: Vec::new(),
    });
    drop(session);
    tokio::task::spawn_blocking(move || sandbox.stop()).await??;
    Ok(rows)
}

/// One row of `optidb bench scan`.
#[derive(Debug, serde::Serialize)]
pub struct ScanRow {
    pub statements: usize,
    pub queries_seen: usize,
    pub queries_stored: usize,
    pub plans: usize,
    pub cold_ms: f64,
    /// Median of the warm scans (the schema cache on, as by default).
    pub warm_ms: f64,
    /// Median of warm scans that read the whole schema every time (`--schema-ttl 0`), run
    /// alternately with the cached ones.
    pub warm_uncached_ms: f64,
    /// Resident memory of this process (collector + store + client) after the scans.
    pub rss_mb: f64,
}

/// Columns of the `bench_t` table: `c0` … `c12` (8,191 non-empty subsets).
pub const BENCH_COLUMNS: usize = 13;

/// SQL that creates `bench_t` with [`BENCH_COLUMNS`] integer columns and `rows` rows.
pub fn bench_table_sql(rows: usize) -> String {
    let cols: Vec<String> = (0..BENCH_COLUMNS).map(|c| format!("c{c} int")).collect();
    let vals: Vec<String> = (0..BENCH_COLUMNS).map(|c| format!("g + {c}")).collect();
    format!(
        "CREATE TABLE bench_t (id int PRIMARY KEY, {}); INSERT INTO bench_t SELECT g, {} FROM generate_series(1, {rows}) g; ANALYZE bench_t;",
        cols.join(", "),
        vals.join(", ")
    )
}

/// `n` (at most 8,191) statements with distinct fingerprints: statement `i` selects the
/// subset of `bench_t`'s columns spelled by `i + 1` in binary. (pg_query's fingerprint treats a
/// select list as a set, so only distinct column sets give distinct queries.)
pub fn distinct_statements(n: usize) -> Vec<String> {
    (1..=n.min((1 << BENCH_COLUMNS) - 1))
        .map(|i| {
            let cols: Vec<String> = (0..BENCH_COLUMNS)
                .filter(|b| (i >> b) & 1 == 1)
                .map(|b| format!("c{b}"))
                .collect();
            format!("SELECT {} FROM bench_t WHERE id = {i}", cols.join(", "))
        })
        .collect()
}

fn rss_mb() -> f64 {
    status_mb("/proc/self/status", "VmRSS:").unwrap_or(f64::NAN)
}

/// A kB field (`VmRSS:`, `VmHWM:` …) of a `/proc/…/status` file, in MB.
pub(crate) fn status_mb(status: &str, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// utime + stime of a `/proc/…/stat` file in milliseconds (Linux counts in USER_HZ = 100 per
/// second); 0 when it cannot be read (a process that ended).
pub(crate) fn cpu_ms(stat: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) * 10.0
}

async fn bench_scan(
    sizes: &[usize],
    plans: usize,
    warm_runs: usize,
    top_n: usize,
    tables: usize,
) -> anyhow::Result<Vec<ScanRow>> {
    use crate::collect::sampler::Samples;
    use crate::pg::TargetConfig;
    use crate::sandbox::{Sandbox, SandboxOptions};
    use crate::scan::{Collector, CollectorConfig};
    let sandbox = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sandbox.url();
    let client = crate::pg::conninfo::parse(&url)?.connect().await?;
    client.batch_execute(&bench_table_sql(10_000)).await?;
    for i in 0..tables {
        client
            .batch_execute(&format!(
                "CREATE TABLE bench_s{i} (id int PRIMARY KEY, a int, b text);
                 CREATE INDEX ON bench_s{i} (a);
                 INSERT INTO bench_s{i} SELECT g, g % 7, md5(g::text) FROM generate_series(1, 20) g;"
            ))
            .await?;
    }
    client.batch_execute("ANALYZE").await?;
    let mut rows = Vec::new();
    for &n in sizes {
        client
            .batch_execute("SELECT pg_stat_statements_reset()")
            .await?;
        for chunk in distinct_statements(n).chunks(500) {
            // one simple-protocol message per statement keeps them separate entries
            for st in chunk {
                client.simple_query(st).await?;
            }
        }
        let dir = tempfile::tempdir()?;
        let store = crate::store::Store::open(dir.path())?;
        let mut cfg = CollectorConfig::new(TargetConfig::sandbox(url.clone()));
        cfg.top_n = top_n;
        cfg.plans_k = plans;
        let mut uncached_cfg = cfg.clone();
        uncached_cfg.schema_ttl = Duration::ZERO;
        let mut collector = Collector::new(cfg, store, std::sync::Arc::new(Samples::default()))?;
        let dir2 = tempfile::tempdir()?;
        let mut uncached = Collector::new(
            uncached_cfg,
            crate::store::Store::open(dir2.path())?,
            std::sync::Arc::new(Samples::default()),
        )?;
        let cold = collector.scan().await;
        if let Some(e) = cold.error {
            anyhow::bail!("scan failed: {e}");
        }
        let _ = uncached.scan().await;
        let mut warm = Vec::with_capacity(warm_runs);
        let mut warm_uncached = Vec::with_capacity(warm_runs);
        let mut last = cold.clone();
        for _ in 0..warm_runs {
            // Alternating, so that both see the same machine noise.
            last = collector.scan().await;
            let other = uncached.scan().await;
            for s in [&last, &other] {
                if let Some(e) = &s.error {
                    anyhow::bail!("scan failed: {e}");
                }
            }
            warm.push(last.duration_ms);
            warm_uncached.push(other.duration_ms);
        }
        warm.sort_by(f64::total_cmp);
        warm_uncached.sort_by(f64::total_cmp);
        rows.push(ScanRow {
            statements: n,
            queries_seen: last.statements_seen,
            queries_stored: last.queries_stored,
            plans: last.plans_captured,
            cold_ms: cold.duration_ms,
            warm_ms: warm[warm.len() / 2],
            warm_uncached_ms: warm_uncached[warm_uncached.len() / 2],
            rss_mb: rss_mb(),
        });
    }
    drop(client);
    tokio::task::spawn_blocking(move || sandbox.stop()).await??;
    Ok(rows)
}

/// A corpus of realistic application statements with varied literals and placeholder styles.
pub fn corpus(n: usize) -> Vec<String> {
    let templates: [&dyn Fn(usize) -> String; 8] = [
        &|i| format!("SELECT * FROM orders WHERE customer_id = {i}"),
        &|i| {
            format!("SELECT id, total FROM orders WHERE status = 'pending' AND created_at >= '2024-01-{:02}' ORDER BY created_at DESC LIMIT 20", i % 28 + 1)
        },
        &|i| {
            format!("SELECT o.id, sum(oi.quantity * oi.price) FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_id = {i} GROUP BY o.id")
        },
        &|i| {
            format!("SELECT c.id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) FROM customers c WHERE c.country = 'C{}'", i % 50)
        },
        &|i| format!("SELECT * FROM customers WHERE lower(email) = lower('user{i}@example.com')"),
        &|i| {
            format!(
                "SELECT * FROM products WHERE id IN ({})",
                (0..(i % 9 + 1))
                    .map(|k| (i + k).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        &|_| "SELECT * FROM orders WHERE customer_id = ? AND status = :status LIMIT %s".to_string(),
        &|i| {
            format!("UPDATE orders SET status = 'shipped', updated_at = now() WHERE id = {i} RETURNING id")
        },
    ];
    (0..n).map(|i| templates[i % templates.len()](i)).collect()
}

fn measure(min: Duration, corpus: &[String], mut f: impl FnMut(&str)) -> f64 {
    // one warm-up pass
    for s in corpus.iter().take(200) {
        f(s);
    }
    let start = Instant::now();
    let mut done = 0usize;
    while start.elapsed() < min {
        for s in corpus {
            f(s);
        }
        done += corpus.len();
    }
    done as f64 / start.elapsed().as_secs_f64()
}

pub fn bench_fingerprint(n: usize, min: Duration) -> anyhow::Result<Vec<Row>> {
    use optidb_core::sql;
    let corpus = corpus(n.max(1));
    // pg_query gets text it can parse (placeholders already mapped) so the baseline is fair.
    let mapped: Vec<String> = corpus
        .iter()
        .map(|s| sql::map_placeholders(s).text)
        .collect();
    let file = corpus.join(";\n");
    let opts = sql::fingerprint::FINGERPRINT_OPTIONS;

    let base = measure(min, &mapped, |s| {
        std::hint::black_box(pg_query::fingerprint(s, 0, opts).ok());
    });
    let fp_only = measure(min, &corpus, |s| {
        std::hint::black_box(sql::fingerprint_only(s).ok());
    });
    let full = measure(min, &corpus, |s| {
        std::hint::black_box(sql::fingerprint(s).ok());
    });
    let file_rate = {
        let start = Instant::now();
        let mut stmts = 0usize;
        while start.elapsed() < min {
            stmts += std::hint::black_box(sql::analyze_file(&file)).len();
        }
        stmts as f64 / start.elapsed().as_secs_f64()
    };
    let row = |name, per_second: f64| Row {
        name,
        per_second,
        ratio_to_pg_query: base / per_second,
    };
    Ok(vec![
        row("pg_query::fingerprint alone (baseline)", base),
        row("optidb fingerprint id (placeholders + fp)", fp_only),
        row("optidb fingerprint + normalized text", full),
        row("optidb file: split + fingerprint + normalize", file_rate),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn distinct_statements_are_distinct_queries() {
        let mut ids: Vec<String> = super::distinct_statements(300)
            .iter()
            .map(|s| optidb_core::sql::fingerprint_only(s).unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 300);
    }

    #[test]
    fn corpus_parses() {
        for s in super::corpus(64) {
            optidb_core::sql::fingerprint(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
}
