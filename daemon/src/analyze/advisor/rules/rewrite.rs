//! Rule `rewrite` (docs/rules/rewrite.md): query shapes no index fixes well, with a rewrite
//! sketch: a correlated subquery whose sub-plan scans a big table once per outer row (plan:
//! a non-hashed `SubPlan` with a sequential scan and an outer reference), `NOT IN (subquery)`
//! (text), and OFFSET pagination (text). The sketch is in `ddl` (it is not runnable as is).

use super::{metric_evidence, MIN_TABLE_ROWS};
use crate::analyze::advisor::workload::Workload;
use crate::analyze::advisor::{base_confidence, count, index_name, make_rec};
use optidb_core::model::{Evidence, RecTarget, RecType, Recommendation};

pub fn recommend(w: &Workload<'_>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for q in &w.queries {
        let qid = q.query.id.clone();
        let plan = q.best_plan();
        // Correlated subquery.
        if let Some(plan) = plan {
            let (scans, _) = w.walk(plan);
            for s in scans.iter().filter(|s| s.in_subplan && s.seq) {
                let corr: Vec<String> = s
                    .conds
                    .iter()
                    .filter(|c| c.outer_ref && c.operator == "=")
                    .map(|c| c.column.clone())
                    .collect();
                let rows = w.table_rows(&s.table);
                if corr.is_empty() || rows < MIN_TABLE_ROWS {
                    continue;
                }
                let col = &corr[0];
                let loops = s
                    .loops
                    .map(|l| format!("{} times", count(l)))
                    .unwrap_or_else(|| "once per outer row".into());
                let idx = index_name(&s.table, std::slice::from_ref(col), "idx");
                let ddl = format!(
                    "-- Run the subquery once for all rows instead of once per row:\n\
                     -- SELECT …, coalesce(x.agg, 0) FROM <outer> o\n\
                     --   LEFT JOIN (SELECT {col}, <aggregate> AS agg FROM {t} GROUP BY {col}) x\n\
                     --     ON x.{col} = o.<outer column>\n\
                     -- or, when only a few outer rows are read: … CROSS JOIN LATERAL (SELECT <aggregate> FROM {t} WHERE {col} = o.<outer column>) x\n\
                     -- An index then makes each lookup cheap:\n\
                     CREATE INDEX{conc} IF NOT EXISTS {idx} ON {qt} ({key});",
                    conc = if w.is_partitioned(&s.table) {
                        "" // not allowed on a partitioned table
                    } else {
                        " CONCURRENTLY"
                    },
                    t = s.table,
                    qt = super::quote_table(&s.table),
                    key = super::key_sql(col, None),
                );
                let rationale = format!(
                    "A correlated subquery runs {loops}: its sub-plan ({}) scans ~{} rows of {} \
                     each time, filtered on {col} = <outer value>. Rewrite it as a join against a \
                     grouped derived table (or a LATERAL join), so {} is read once; an index on \
                     {}({col}) also turns each per-row scan into an index lookup. Plan captured \
                     at {}.",
                    s.node_label,
                    count(rows),
                    s.table,
                    s.table,
                    s.table,
                    super::at(Some(plan.captured_at))
                );
                out.push(make_rec(
                    RecType::Rewrite,
                    RecTarget {
                        table: s.table.clone(),
                        columns: vec![col.clone()],
                        using: None,
                    },
                    ddl,
                    rationale,
                    vec![
                        Evidence {
                            source: "plan".into(),
                            text: format!(
                                "{} inside a SubPlan, filter {col} = outer reference{}",
                                s.node_label,
                                s.loops
                                    .map(|l| format!(", loops = {}", count(l)))
                                    .unwrap_or_default()
                            ),
                            captured_at: Some(plan.captured_at),
                        },
                        metric_evidence(q),
                    ],
                    base_confidence(RecType::Rewrite) + 0.03,
                    "A rewrite changes the query text: check the results are identical (NULL \
                     handling of aggregates: coalesce). The optional index adds write overhead on \
                     the table."
                        .into(),
                    vec![qid.clone()],
                    w.now(),
                ));
                break;
            }
        }
        let table = plan
            .and_then(|p| w.walk(p).0.first().map(|s| s.table.clone()))
            .unwrap_or_default();
        for col in &q.text.not_in_subquery {
            let ddl = format!(
                "-- Replace `{col} NOT IN (SELECT x FROM …)` with an anti-join:\n\
                 -- WHERE NOT EXISTS (SELECT 1 FROM … s WHERE s.x = <outer>.{col})"
            );
            out.push(make_rec(
                RecType::Rewrite,
                RecTarget {
                    table: table.clone(),
                    columns: vec![col.clone()],
                    using: None,
                },
                ddl,
                format!(
                    "`{col} NOT IN (subquery)` cannot be planned as an anti-join (a NULL in the \
                     subquery makes it return no rows), so PostgreSQL runs a hashed or per-row \
                     sub-plan; NOT EXISTS has the semantics most code intends and becomes a Hash \
                     Anti Join. Seen in the query text."
                ),
                vec![
                    Evidence {
                        source: "text".into(),
                        text: format!("{col} NOT IN (SELECT …)"),
                        captured_at: None,
                    },
                    metric_evidence(q),
                ],
                base_confidence(RecType::Rewrite),
                "NOT EXISTS differs from NOT IN when the subquery returns NULLs: NOT IN then \
                 returns no rows. Check that the column cannot be NULL or that NOT EXISTS is what \
                 is meant."
                    .into(),
                vec![qid.clone()],
                w.now(),
            ));
        }
        if q.text.has_offset && q.text.is_select {
            out.push(make_rec(
                RecType::Rewrite,
                RecTarget {
                    table: table.clone(),
                    columns: vec![],
                    using: None,
                },
                "-- Keyset pagination instead of OFFSET:\n\
                 -- WHERE (sort_col, id) > (:last_sort_col, :last_id) ORDER BY sort_col, id LIMIT :page_size"
                    .into(),
                format!(
                    "OFFSET pagination reads and throws away every skipped row, so page n costs \
                     n pages of work (mean {:.2} ms over {} calls). Keyset pagination continues \
                     from the last row seen and costs the same on every page.",
                    q.mean_ms,
                    count(q.calls as f64)
                ),
                vec![
                    Evidence {
                        source: "text".into(),
                        text: "OFFSET in the query".into(),
                        captured_at: None,
                    },
                    metric_evidence(q),
                ],
                base_confidence(RecType::Rewrite) - 0.03,
                "Keyset pagination changes the API (a cursor instead of a page number).".into(),
                vec![qid.clone()],
                w.now(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::advisor::testutil::*;

    #[test]
    fn correlated_subquery_gets_a_join_rewrite_naming_the_correlation_column() {
        let sub = subplan(seq_scan_alias("lines", "l", Some("(item_id = i.id)"), 3.0));
        let fx = Fixture::new()
            .table("public.items", 5_000.0)
            .table("public.lines", 400_000.0)
            .query("q1", "SELECT i.id, (SELECT sum(l.qty) FROM lines l WHERE l.item_id = i.id) FROM items i LIMIT $1", 10, 300.0)
            .plan("q1", with_children(index_scan("items", "i", "items_pkey", "(id >= $1)", 5.0), vec![sub]));
        let (recs, dropped) = fx.run();
        let r = &recs
            .iter()
            .find(|r| r.rec_type == RecType::Rewrite)
            .unwrap();
        assert_eq!(r.target.table, "public.lines");
        assert_eq!(r.target.columns, vec!["item_id"]);
        assert!(r.ddl.contains("GROUP BY item_id"));
        // No separate index recommendation: it is folded into the rewrite.
        assert!(
            recs.iter().all(|r| r.rec_type == RecType::Rewrite),
            "{recs:#?}"
        );
        assert!(dropped
            .iter()
            .any(|d| d.reason.contains("correlated subquery")));
    }

    #[test]
    fn not_in_and_offset_from_the_text() {
        let fx = Fixture::new().table("public.a", 100.0).query(
            "q1",
            "SELECT id FROM a WHERE x NOT IN (SELECT y FROM b) ORDER BY id LIMIT 10 OFFSET $1",
            10,
            3.0,
        );
        let (recs, _) = fx.run();
        assert_eq!(recs.len(), 2, "{recs:#?}");
        assert!(recs.iter().any(|r| r.ddl.contains("NOT EXISTS")));
        assert!(recs.iter().any(|r| r.ddl.contains("Keyset")));
    }
}
