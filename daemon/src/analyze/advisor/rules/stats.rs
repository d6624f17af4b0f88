//! Rule `stats` (docs/rules/stats.md): planner statistics that mislead. From the catalog alone:
//! a table with many rows modified since its last ANALYZE (relative to its size) gets
//! `ANALYZE table`. From plans with actuals: a scan whose estimate is off by ≥ 10× on a table
//! with fresh statistics and several filter columns gets `CREATE STATISTICS` (the columns are
//! probably correlated). Index advice ([`super::missing_index`]) is held back only on stale tables
//! whose statistics demonstrably mislead the planner ([`misleading_tables`]): a modification
//! count alone can be an artifact (counters flushed after an ANALYZE in the same transaction).

use super::{metric_evidence, quote_ident, quote_table};
use crate::analyze::advisor::workload::{filter_columns_by_table, Workload};
use crate::analyze::advisor::{bare, base_confidence, count, make_rec};
use optidb_core::model::{Evidence, RecTarget, RecType, Recommendation};
use std::collections::BTreeSet;

/// Tables smaller than this are ignored (their statistics hardly matter).
pub const MIN_ROWS: f64 = 1_000.0;
/// Stale: rows modified since the last ANALYZE ≥ this fraction of the table.
pub const STALE_FRACTION: f64 = 0.2;
/// Row-estimate skew (either direction) worth extended statistics.
pub const SKEW: f64 = 10.0;

/// Tables whose statistics are stale.
pub fn stale_tables(w: &Workload<'_>) -> BTreeSet<String> {
    w.input
        .schema
        .tables
        .iter()
        .filter(|t| {
            let rows = (t.live_tuples as f64).max(t.rows_est);
            rows >= MIN_ROWS
                && t.mods_since_analyze as f64 >= STALE_FRACTION * rows
                && t.mods_since_analyze >= 1000
        })
        .map(|t| t.table_name.clone())
        .collect()
}

/// The planner's row count is off from the live rows by this factor (either way): its picture
/// of the table is demonstrably wrong.
pub const MISLEADING_ROWS: f64 = 2.0;

/// Stale tables whose statistics demonstrably mislead the planner: its row count is off by
/// [`MISLEADING_ROWS`]×, or an analyzed plan misestimates a node on the table by [`SKEW`]×.
pub fn misleading_tables(w: &Workload<'_>, stale: &BTreeSet<String>) -> BTreeSet<String> {
    stale
        .iter()
        .filter(|name| {
            let Some(t) = w.table(name) else { return false };
            let (a, b) = ((t.live_tuples as f64).max(1.0), t.rows_est.max(1.0));
            if a.max(b) / a.min(b) >= MISLEADING_ROWS {
                return true;
            }
            let bare_name = bare(name);
            w.queries.iter().any(|q| {
                q.analyzed.is_some_and(|p| {
                    p.facts.max_row_skew.is_some_and(|s| s >= SKEW)
                        && p.facts.max_row_skew_node.as_deref().is_some_and(|n| {
                            n.ends_with(name.as_str()) || n.ends_with(&format!(" {bare_name}"))
                        })
                })
            })
        })
        .cloned()
        .collect()
}

pub fn recommend(
    w: &Workload<'_>,
    stale: &BTreeSet<String>,
    misleading: &BTreeSet<String>,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let by_table = filter_columns_by_table(w);
    for name in stale {
        let Some(t) = w.table(name) else { continue };
        let mut columns: Vec<String> = Vec::new();
        let mut query_ids = Vec::new();
        if let Some(uses) = by_table.get(name) {
            for (qid, cols) in uses {
                if !query_ids.contains(qid) {
                    query_ids.push(qid.clone());
                }
                for c in cols {
                    if !columns.contains(c) {
                        columns.push(c.clone());
                    }
                }
            }
        }
        query_ids.sort_by(|a, b| {
            let ta = w.query(a).map(|q| q.total_ms).unwrap_or(0.0);
            let tb = w.query(b).map(|q| q.total_ms).unwrap_or(0.0);
            tb.total_cmp(&ta).then(a.cmp(b))
        });
        let rows = (t.live_tuples as f64).max(1.0);
        let held_back = misleading.contains(name);
        let ratio = t.mods_since_analyze as f64 / t.rows_est.max(1.0);
        let mut evidence = vec![Evidence {
            source: "schema".into(),
            text: format!(
                "{name}: n_mod_since_analyze = {}, n_live_tup = {}, planner's reltuples = {} \
                 ({:.0}× the rows it was analyzed with); last analyze {}; autovacuum {}",
                count(t.mods_since_analyze as f64),
                count(rows),
                count(t.rows_est),
                ratio,
                t.last_analyze
                    .map(crate::analyze::advisor::iso)
                    .unwrap_or_else(|| "never".into()),
                if t.autovacuum_enabled {
                    "enabled"
                } else {
                    "disabled"
                }
            ),
            captured_at: Some(w.input.schema.captured_at),
        }];
        let mut skew_text = String::new();
        for qid in &query_ids {
            let Some(q) = w.query(qid) else { continue };
            if let Some(p) = q.analyzed {
                if let (Some(s), Some(node)) = (p.facts.max_row_skew, &p.facts.max_row_skew_node) {
                    if s >= 3.0 && skew_text.is_empty() {
                        skew_text = format!(
                            " In query {qid}'s analyzed plan, {node} is misestimated {:.0}×.",
                            s
                        );
                    }
                    evidence.push(Evidence {
                        source: "plan".into(),
                        text: format!("query {qid}: max row-estimate skew {s:.0}× at {node}"),
                        captured_at: Some(p.captured_at),
                    });
                }
            }
            evidence.push(metric_evidence(q));
        }
        let auto = if t.autovacuum_enabled {
            String::new()
        } else {
            format!(
                " Autovacuum (and so auto-analyze) is disabled on {name}: re-enable it with \
                 ALTER TABLE {} RESET (autovacuum_enabled), or the statistics go stale again.",
                quote_table(name)
            )
        };
        let rationale = format!(
            "{} rows of {name} were modified since its statistics were last taken ({} live rows \
             now, the planner still assumes {}), so row estimates for {} are unreliable and \
             plans may pick the wrong join or scan.{skew_text}{auto} {}",
            count(t.mods_since_analyze as f64),
            count(rows),
            count(t.rows_est),
            if columns.is_empty() {
                "its columns".to_string()
            } else {
                columns.join(", ")
            },
            if held_back {
                "Run ANALYZE; index advice on this table is held back until then."
            } else {
                "The planner's row count still matches the table, so this may be a counter \
                 artifact (a bulk load analyzed in the same transaction); running ANALYZE is cheap \
                 and settles it."
            }
        );
        out.push(make_rec(
            RecType::Stats,
            RecTarget {
                table: name.clone(),
                columns,
                using: None,
            },
            format!("ANALYZE {};", quote_table(name)),
            rationale,
            evidence,
            if held_back {
                base_confidence(RecType::Stats) + 0.02
            } else {
                base_confidence(RecType::Stats) - 0.1
            },
            format!(
                "ANALYZE reads a sample (default 30,000 rows) and takes a light lock that does not \
                 block reads or writes; plans of queries on {name} may change afterwards."
            ),
            query_ids,
            w.now(),
        ));
    }
    // Skew on fresh tables: correlated columns.
    let mut done: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    for q in &w.queries {
        let Some(p) = q.analyzed else { continue };
        let (Some(skew), Some(node)) = (p.facts.max_row_skew, &p.facts.max_row_skew_node) else {
            continue;
        };
        if skew < SKEW {
            continue;
        }
        let (scans, _) = w.walk(p);
        let Some(s) = scans.iter().find(|s| &s.node_label == node) else {
            continue;
        };
        if stale.contains(&s.table) || w.table_rows(&s.table) < MIN_ROWS {
            continue;
        }
        let mut cols: Vec<String> = Vec::new();
        for c in s
            .conds
            .iter()
            .filter(|c| !c.outer_ref && !c.column.contains('('))
        {
            if !cols.contains(&c.column) {
                cols.push(c.column.clone());
            }
        }
        if cols.len() < 2 || !done.insert((s.table.clone(), cols.clone())) {
            continue;
        }
        let name = crate::analyze::advisor::index_name(&s.table, &cols, "stats");
        let ddl = format!(
            "CREATE STATISTICS IF NOT EXISTS {} (dependencies, ndistinct, mcv) ON {} FROM {}; ANALYZE {};",
            quote_ident(&name),
            cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
            quote_table(&s.table),
            quote_table(&s.table)
        );
        out.push(make_rec(
            RecType::Stats,
            RecTarget {
                table: s.table.clone(),
                columns: cols.clone(),
                using: None,
            },
            ddl,
            format!(
                "{node} is misestimated {skew:.0}× although the statistics of {} are fresh: the \
                 filter combines {} and PostgreSQL assumes they are independent. Extended \
                 statistics teach it how they correlate. Plan captured at {}.",
                s.table,
                cols.join(", "),
                super::at(Some(p.captured_at))
            ),
            vec![
                Evidence {
                    source: "plan".into(),
                    text: format!(
                        "{node}: est {} rows per loop, actual {} rows",
                        count(s.est_rows),
                        count(s.act_rows_total.unwrap_or(0.0))
                    ),
                    captured_at: Some(p.captured_at),
                },
                metric_evidence(q),
            ],
            base_confidence(RecType::Stats) - 0.02,
            "Extended statistics cost a little extra ANALYZE time and catalog space.".into(),
            vec![q.query.id.clone()],
            w.now(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::advisor::testutil::*;

    #[test]
    fn stale_table_gets_analyze_with_its_filter_columns_and_no_index() {
        let fx = Fixture::new()
            .table_full("public.clicks", 2_000.0, 250_000, 248_000, false)
            .query(
                "q1",
                "SELECT count(*) FROM clicks WHERE source = $1 AND at >= $2",
                10,
                40.0,
            )
            .plan(
                "q1",
                seq_scan("clicks", "((at >= $2) AND (source = $1))", 1.0),
            );
        let (recs, dropped) = fx.run();
        assert_eq!(recs.len(), 1, "{recs:#?}");
        let r = &recs[0];
        assert_eq!(r.rec_type, RecType::Stats);
        assert_eq!(r.target.columns, vec!["source", "at"]);
        assert_eq!(r.ddl, "ANALYZE public.clicks;");
        assert!(r.rationale.contains("autovacuum_enabled"));
        assert!(dropped.iter().any(|d| d.reason.contains("stale")));
    }

    #[test]
    fn a_modification_count_alone_does_not_hold_back_index_advice() {
        // Counters flushed after an ANALYZE in the same transaction: 250,000 "modified" rows,
        // but the planner's row count matches the table.
        let fx = Fixture::new()
            .table_full("public.clicks", 250_000.0, 250_000, 250_000, true)
            .query("q1", "SELECT * FROM clicks WHERE source = $1", 10, 40.0)
            .plan("q1", seq_scan("clicks", "(source = $1)", 25.0));
        let input = fx.input();
        let w = Workload::new(&input);
        let stale = stale_tables(&w);
        assert!(stale.contains("public.clicks"));
        assert!(misleading_tables(&w, &stale).is_empty());
        let recs = recommend(&w, &stale, &BTreeSet::new());
        assert_eq!(recs.len(), 1);
        assert!(
            recs[0].rationale.contains("counter artifact"),
            "{}",
            recs[0].rationale
        );
        assert!(recs[0].confidence < base_confidence(RecType::Stats));
    }

    #[test]
    fn fresh_tables_get_nothing() {
        let fx = Fixture::new()
            .table_full("public.clicks", 250_000.0, 250_000, 100, true)
            .query("q1", "SELECT 1", 10, 1.0);
        assert!(stale_tables(&Workload::new(&fx.input())).is_empty());
    }
}
