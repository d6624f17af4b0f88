//! `optidb bench families`: how long grouping a workload into query families takes (features,
//! TF-IDF, k-means with the choice of k, labels) for a synthetic workload of distinct
//! statements — the goal is under 200 ms for 5,000 queries.

use crate::analyze::families::{families, FamilyQuery};
use std::collections::BTreeMap;
use std::time::Instant;

/// Arguments of `optidb bench families`.
#[derive(Debug, Clone, clap::Args)]
pub struct FamiliesArgs {
    /// Workload sizes (distinct statements).
    #[arg(long, value_delimiter = ',', default_values_t = vec![100, 1000, 5000])]
    pub sizes: Vec<usize>,
    /// Timed runs per size (the median is reported), after one warm-up.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// One measured size.
#[derive(Debug, serde::Serialize)]
pub struct FamiliesRow {
    pub queries: usize,
    /// Parsing the statements into feature tokens (pg_query), median.
    pub features_ms: f64,
    /// Everything `analyze::families` does (features included), median.
    pub total_ms: f64,
    /// `total_ms - features_ms`: TF-IDF, the k candidates, the final k-means and labels.
    pub clustering_ms: f64,
    pub k: usize,
    pub silhouette: Option<f64>,
    pub vectorized: usize,
}

/// `n` distinct normalized statements of varied shapes: reads with one to three predicates,
/// joins, aggregates, and writes, over 12 tables and 10 columns.
pub fn workload(n: usize) -> Vec<String> {
    let tables = [
        "orders",
        "users",
        "coupons",
        "items",
        "payments",
        "events",
        "sessions",
        "carts",
        "products",
        "reviews",
        "shipments",
        "stock",
    ];
    let cols = [
        "id",
        "email",
        "status",
        "created_at",
        "user_id",
        "order_id",
        "sku",
        "price",
        "name",
        "code",
    ];
    let ops = ["=", "<", ">=", "LIKE", "IN ($9, $10)", "IS NULL"];
    let pred = |c: &str, o: &str, p: usize| match o {
        "IN ($9, $10)" | "IS NULL" => format!("{c} {o}"),
        _ => format!("{c} {o} ${p}"),
    };
    (0..n)
        .map(|i| {
            let t = tables[i % tables.len()];
            let c = cols[(i / 3) % cols.len()];
            let o = ops[(i / 7) % ops.len()];
            // A column alias makes every statement distinct (a distinct fingerprint).
            let tag = format!("v{i}");
            match i % 6 {
                0 => format!("UPDATE {t} SET {tag} = $1 WHERE {}", pred(c, "=", 2)),
                1 => format!(
                    "SELECT a.{c} AS {tag} FROM {t} a JOIN {} b ON b.{c} = a.id WHERE {}",
                    tables[(i + 5) % tables.len()],
                    pred(&format!("a.{}", cols[(i + 1) % cols.len()]), o, 1)
                ),
                2 => format!(
                    "SELECT {c}, count(*) AS {tag} FROM {t} WHERE {} GROUP BY {c}",
                    pred(cols[(i + 2) % cols.len()], o, 1)
                ),
                3 => format!("INSERT INTO {t} ({c}, {tag}) VALUES ($1, $2)"),
                _ => format!(
                    "SELECT {c} AS {tag} FROM {t} WHERE {} AND {} ORDER BY {c} LIMIT 20",
                    pred(c, o, 1),
                    pred(cols[(i + 3) % cols.len()], "=", 2)
                ),
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Measures every size.
pub fn run(args: &FamiliesArgs) -> Vec<FamiliesRow> {
    let runs = args.runs.max(1);
    let mut rows = Vec::new();
    for &n in &args.sizes {
        let sqls = workload(n);
        let ids: Vec<String> = (0..n).map(|i| format!("{i:016x}")).collect();
        let qs: Vec<FamilyQuery<'_>> = ids
            .iter()
            .zip(&sqls)
            .map(|(id, sql)| FamilyQuery { id, norm_sql: sql })
            .collect();
        let pks = BTreeMap::new();
        let mut last = families(0, &qs, &pks);
        let (mut feats, mut totals) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            for s in &sqls {
                std::hint::black_box(optidb_core::sql::features::features(s));
            }
            feats.push(t0.elapsed().as_secs_f64() * 1000.0);
            let t0 = Instant::now();
            last = families(0, &qs, &pks);
            totals.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let (f, t) = (median(feats), median(totals));
        rows.push(FamiliesRow {
            queries: n,
            features_ms: f,
            total_ms: t,
            clustering_ms: (t - f).max(0.0),
            k: last.k,
            silhouette: last.silhouette,
            vectorized: last.vectorized,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workload_is_distinct_statements_that_parse() {
        let w = super::workload(60);
        let ids: std::collections::BTreeSet<String> = w
            .iter()
            .map(|s| optidb_core::sql::fingerprint_only(s).expect(s))
            .collect();
        assert_eq!(ids.len(), 60);
    }
}
