//! Rule `redundant_index` (docs/rules/redundant_index.md): an index whose key columns are a
//! leading prefix of another index's (same method, same partial predicate, valid), that backs no
//! constraint and is barely used, only costs writes and space: `DROP INDEX CONCURRENTLY`. Also
//! never-scanned indexes on write-heavy tables, with a conservative risk note (usage counters
//! are per server and since the last statistics reset).

use super::{metric_evidence, quote_table};
use crate::analyze::advisor::workload::Workload;
use crate::analyze::advisor::{bare, base_confidence, count, human_bytes, make_rec};
use optidb_core::model::{Evidence, RecTarget, RecType, Recommendation, SchemaIndex};

/// Writes per live row above which a table counts as write-heavy for the unused-index check.
pub const WRITE_HEAVY: f64 = 2.0;

fn droppable(i: &SchemaIndex) -> bool {
    i.valid && !i.primary && !i.unique && i.constraint.is_none()
}

/// Queries whose latest plans use one of these indexes.
fn users_of(w: &Workload<'_>, names: &[&str]) -> Vec<String> {
    let mut v: Vec<(f64, String)> = w
        .queries
        .iter()
        .filter(|q| {
            [q.generic, q.analyzed].iter().flatten().any(|p| {
                p.facts
                    .indexes_used
                    .iter()
                    .any(|u| names.iter().any(|n| bare(n) == bare(u)))
            })
        })
        .map(|q| (q.total_ms, q.query.id.clone()))
        .collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter().map(|(_, id)| id).collect()
}

pub fn recommend(w: &Workload<'_>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let idx = &w.input.schema.indexes;
    for a in idx.iter().filter(|a| droppable(a)) {
        let cover = idx.iter().find(|b| {
            b.index_name != a.index_name
                && b.table_name == a.table_name
                && b.valid
                && b.access_method == a.access_method
                && b.partial_predicate == a.partial_predicate
                && b.columns.len() >= a.columns.len()
                && b.columns.starts_with(&a.columns)
                && (b.columns.len() > a.columns.len()
                    // Exact duplicates: keep the constraint's, else the more used, else the first name.
                    || !droppable(b)
                    || (b.scan_count, &a.index_name) > (a.scan_count, &b.index_name))
        });
        let low_use = |b: &SchemaIndex| a.scan_count == 0 || a.scan_count * 20 < b.scan_count;
        let table = w.table(&a.table_name);
        let ddl = format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {};",
            quote_table(&a.index_name)
        );
        let target = RecTarget {
            table: a.table_name.clone(),
            columns: a.columns.clone(),
            using: Some(a.access_method.clone()),
        };
        if let Some(b) = cover.filter(|b| low_use(b)) {
            let query_ids = users_of(w, &[&b.index_name, &a.index_name]);
            let mut evidence = vec![Evidence {
                source: "schema".into(),
                text: format!(
                    "{} ({}) idx_scan = {}, {}; {} ({}) idx_scan = {}",
                    a.index_name,
                    a.columns.join(", "),
                    count(a.scan_count as f64),
                    human_bytes(a.bytes as f64),
                    b.index_name,
                    b.columns.join(", "),
                    count(b.scan_count as f64)
                ),
                captured_at: Some(w.input.schema.captured_at),
            }];
            for q in query_ids.iter().filter_map(|id| w.query(id)).take(3) {
                evidence.push(metric_evidence(q));
            }
            out.push(make_rec(
                RecType::RedundantIndex,
                target,
                ddl,
                format!(
                    "{} on ({}) is a leading prefix of {} on ({}) (same method {}, same \
                     predicate), backs no constraint, and has been scanned {} times against {} \
                     for {}: every query it could serve can use {} instead{}. It costs {} of \
                     space and a write on every INSERT and key UPDATE of {}.",
                    a.index_name,
                    a.columns.join(", "),
                    b.index_name,
                    b.columns.join(", "),
                    a.access_method,
                    count(a.scan_count as f64),
                    count(b.scan_count as f64),
                    b.index_name,
                    bare(&b.index_name),
                    if query_ids.is_empty() {
                        String::new()
                    } else {
                        format!(" (as the plans of {} already do)", query_ids.join(", "))
                    },
                    human_bytes(a.bytes as f64),
                    a.table_name
                ),
                evidence,
                base_confidence(RecType::RedundantIndex) + 0.02,
                format!(
                    "idx_scan counts since the last statistics reset on this server only: check \
                     replicas before dropping. Queries using {} would switch to {}, which is \
                     somewhat larger to read. DROP INDEX CONCURRENTLY does not block writes and \
                     cannot run inside a transaction block; recreate with the definition: {}",
                    a.index_name, b.index_name, a.definition
                ),
                query_ids,
                w.now(),
            ));
            continue;
        }
        // Never scanned on a write-heavy table.
        let Some(t) = table else { continue };
        let churn = t.writes as f64 / (t.live_tuples.max(1) as f64);
        if a.scan_count == 0 && churn >= WRITE_HEAVY && t.writes >= 10_000 {
            out.push(make_rec(
                RecType::RedundantIndex,
                target,
                ddl,
                format!(
                    "{} has never been scanned (idx_scan = 0) while {} took {} writes against {} \
                     live rows: it is maintained on every write and never read.",
                    a.index_name,
                    a.table_name,
                    count(t.writes as f64),
                    count(t.live_tuples as f64)
                ),
                vec![Evidence {
                    source: "schema".into(),
                    text: format!(
                        "{}: idx_scan = 0, {}; table writes {}",
                        a.index_name,
                        human_bytes(a.bytes as f64),
                        count(t.writes as f64)
                    ),
                    captured_at: Some(w.input.schema.captured_at),
                }],
                base_confidence(RecType::RedundantIndex) - 0.08,
                format!(
                    "Conservative: usage counters are per server and since the last statistics \
                     reset; a monthly report or a replica may use it. Keep the definition to \
                     recreate it: {}",
                    a.definition
                ),
                vec![],
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
    fn prefix_index_with_no_scans_is_redundant() {
        let fx = Fixture::new()
            .table("public.books", 20_000.0)
            .index("public.books", "books_genre_idx", &["genre"], false)
            .index_used(
                "public.books",
                "books_genre_year_idx",
                &["genre", "year"],
                500,
            )
            .query(
                "q1",
                "SELECT id FROM books WHERE genre = $1 AND year > $2",
                100,
                1.0,
            )
            .plan(
                "q1",
                index_scan(
                    "books",
                    "books",
                    "books_genre_year_idx",
                    "((genre = $1) AND (year > $2))",
                    10.0,
                ),
            );
        let (recs, _) = fx.run();
        assert_eq!(recs.len(), 1, "{recs:#?}");
        let r = &recs[0];
        assert_eq!(r.rec_type, RecType::RedundantIndex);
        assert_eq!(
            r.ddl,
            "DROP INDEX CONCURRENTLY IF EXISTS public.books_genre_idx;"
        );
        assert_eq!(r.query_ids, vec!["q1"]);
    }

    #[test]
    fn constraint_indexes_and_used_prefixes_stay() {
        let fx = Fixture::new()
            .table("public.books", 20_000.0)
            .index("public.books", "books_isbn_key", &["isbn"], true)
            .index_used(
                "public.books",
                "books_isbn_title_idx",
                &["isbn", "title"],
                10,
            )
            .index_used("public.books", "books_genre_idx", &["genre"], 900)
            .index_used(
                "public.books",
                "books_genre_year_idx",
                &["genre", "year"],
                500,
            );
        let (recs, _) = fx.run();
        assert!(recs.is_empty(), "{recs:#?}");
    }
}
