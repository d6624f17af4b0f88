//! `optidb bench …`: OptiDB measures itself and prints a table, so speed targets are numbers
//! anyone can reproduce (`docs/performance.md` records them with the command that made them).

use std::time::{Duration, Instant};

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
    }
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
    fn corpus_parses() {
        for s in super::corpus(64) {
            optidb_core::sql::fingerprint(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }
}
