//! Rule `composite_index` (docs/rules/composite_index.md): merges the per-query index candidates
//! of [`super::missing_index`] across the workload. The same index wanted by several queries is
//! one recommendation listing them; a candidate whose key columns are a leading prefix of another
//! candidate on the same table (same method) is served by the longer one, so the workload gets
//! one composite index instead of several single-column ones. Multi-column results are
//! `composite_index`, single-column (or expression, or trigram) results `missing_index`.

use super::missing_index::{IndexCandidate, TRGM};
use super::{key_sql, quote_table};
use crate::analyze::advisor::workload::Workload;
use crate::analyze::advisor::{base_confidence, count, human_bytes, index_name, make_rec};
use optidb_core::model::{DroppedCandidate, RecType, Recommendation};

/// Merges candidates and turns them into recommendations.
pub fn consolidate(
    w: &Workload<'_>,
    cands: Vec<IndexCandidate>,
) -> (Vec<Recommendation>, Vec<DroppedCandidate>) {
    // 1. Identical candidates.
    let mut merged: Vec<IndexCandidate> = Vec::new();
    for c in cands {
        match merged
            .iter_mut()
            .find(|m| m.table == c.table && m.using == c.using && m.columns == c.columns)
        {
            Some(m) => absorb(m, c),
            None => merged.push(c),
        }
    }
    // 2. Prefixes served by a longer candidate (longest first so chains collapse).
    merged.sort_by_key(|c| std::cmp::Reverse(c.columns.len()));
    let mut kept: Vec<IndexCandidate> = Vec::new();
    let mut drops = Vec::new();
    for c in merged {
        match kept.iter_mut().find(|k| {
            k.table == c.table
                && k.using == c.using
                && k.columns.len() > c.columns.len()
                && k.columns.starts_with(&c.columns)
        }) {
            Some(k) => {
                drops.push(DroppedCandidate {
                    rec_type: kind(&c),
                    target: c.target(),
                    query_ids: c.query_ids.clone(),
                    reason: format!(
                        "served by the wider candidate on {} ({}), which leads with the same \
                         column(s): one index for {} queries instead of two",
                        k.table,
                        k.columns.join(", "),
                        k.query_ids.len() + c.query_ids.len()
                    ),
                });
                absorb(k, c);
            }
            None => kept.push(c),
        }
    }
    let recs = kept.into_iter().map(|c| to_rec(w, c)).collect();
    (recs, drops)
}

fn absorb(into: &mut IndexCandidate, c: IndexCandidate) {
    for q in c.query_ids {
        if !into.query_ids.contains(&q) {
            into.query_ids.push(q);
        }
    }
    into.evidence.extend(c.evidence);
    for p in c.partitions {
        if !into.partitions.contains(&p) {
            into.partitions.push(p);
        }
    }
    into.why.extend(c.why);
    into.analyzed |= c.analyzed;
}

fn kind(c: &IndexCandidate) -> RecType {
    if c.columns.len() > 1 {
        RecType::CompositeIndex
    } else {
        RecType::MissingIndex
    }
}

/// The access method, the operator class and the index-name suffix of a candidate's `using`
/// (`btree`, `gin (gin_trgm_ops)`, `gin (jsonb_path_ops)` …).
fn method_of(using: &str) -> (&str, Option<&str>, &'static str) {
    let (method, opclass) = match using.split_once(" (") {
        Some((m, rest)) => (m, Some(rest.trim_end_matches(')'))),
        None => (using, None),
    };
    let suffix = match opclass {
        Some("gin_trgm_ops") => "trgm_idx",
        Some(_) => "gin_idx",
        None => "idx",
    };
    (method, opclass, suffix)
}

/// The CREATE INDEX statement of a candidate.
pub fn ddl(c: &IndexCandidate) -> String {
    let (method, opclass, suffix) = method_of(&c.using);
    let name = index_name(&c.table, &c.columns, suffix);
    let keys: Vec<String> = c.columns.iter().map(|col| key_sql(col, opclass)).collect();
    // CONCURRENTLY is not allowed on a partitioned table (the risk gives the recipe that
    // builds each partition concurrently).
    format!(
        "CREATE INDEX{} IF NOT EXISTS {name} ON {}{} ({});",
        if c.partitions.is_empty() {
            " CONCURRENTLY"
        } else {
            ""
        },
        quote_table(&c.table),
        if method == "btree" {
            String::new()
        } else {
            format!(" USING {method}")
        },
        keys.join(", ")
    )
}

/// For a partitioned table: how to build the index without blocking writes, partition by
/// partition (`CREATE INDEX … ON ONLY` the parent, each partition CONCURRENTLY, then ATTACH).
fn partitioned_recipe(c: &IndexCandidate) -> String {
    let (method, opclass, suffix) = method_of(&c.using);
    let name = index_name(&c.table, &c.columns, suffix);
    let keys: Vec<String> = c.columns.iter().map(|col| key_sql(col, opclass)).collect();
    let using = if method == "btree" {
        String::new()
    } else {
        format!(" USING {method}")
    };
    let mut steps = vec![format!(
        "CREATE INDEX IF NOT EXISTS {name} ON ONLY {}{using} ({});",
        quote_table(&c.table),
        keys.join(", ")
    )];
    for p in &c.partitions {
        let part_name = index_name(p, &c.columns, suffix);
        steps.push(format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {part_name} ON {}{using} ({});",
            quote_table(p),
            keys.join(", ")
        ));
        let schema = c.table.split_once('.').map(|(s, _)| s).unwrap_or("public");
        steps.push(format!(
            "ALTER INDEX {} ATTACH PARTITION {};",
            quote_table(&format!("{schema}.{name}")),
            quote_table(&format!(
                "{}.{part_name}",
                p.split_once('.').map(|(s, _)| s).unwrap_or("public")
            ))
        ));
    }
    steps.join(" ")
}

/// A rough size estimate (hypopg's figure replaces it once verified).
fn est_index_bytes(w: &Workload<'_>, c: &IndexCandidate) -> f64 {
    let rows = w.table_rows(&c.table);
    if c.using.starts_with("gin") {
        // GIN indexes (trigram, jsonb) are typically a sizeable fraction of what they index.
        w.table(&c.table)
            .map(|t| t.bytes as f64 * 0.4)
            .unwrap_or(0.0)
    } else {
        rows * (16.0 + 12.0 * c.columns.len() as f64) * 1.1
    }
}

fn to_rec(w: &Workload<'_>, mut c: IndexCandidate) -> Recommendation {
    // Most important query first.
    c.query_ids.sort_by(|a, b| {
        let ta = w.query(a).map(|q| q.total_ms).unwrap_or(0.0);
        let tb = w.query(b).map(|q| q.total_ms).unwrap_or(0.0);
        tb.total_cmp(&ta).then(a.cmp(b))
    });
    let t = kind(&c);
    let mut confidence = base_confidence(t);
    if c.analyzed {
        confidence += 0.02;
    }
    if c.query_ids.len() > 1 {
        confidence += 0.02;
    }
    let ddl = ddl(&c);
    let queries = if c.query_ids.len() == 1 {
        format!("query {}", c.query_ids[0])
    } else {
        format!("{} queries ({})", c.query_ids.len(), c.query_ids.join(", "))
    };
    let captured = c.evidence.iter().find_map(|e| e.captured_at);
    let mut rationale = format!(
        "Serves {queries}. {}. Plan captured at {}.",
        c.why.join(". "),
        super::at(captured)
    );
    if c.using == TRGM {
        rationale
            .push_str(" Needs the pg_trgm extension (CREATE EXTENSION IF NOT EXISTS pg_trgm).");
    }
    let table = w.table(&c.table);
    let size = est_index_bytes(w, &c);
    let writes = table.map(|t| t.writes).unwrap_or(0);
    let live = table.map(|t| t.live_tuples).unwrap_or(0);
    let risk = format!(
        "Estimated index size ~{} (rough, before hypopg). Every INSERT, and every UPDATE of {}, on \
         {} also writes this index: the table has had {} writes against {} live rows since \
         statistics were reset{}. CONCURRENTLY builds without blocking writes but takes longer and \
         cannot run inside a transaction block.",
        human_bytes(size),
        c.columns.join(", "),
        c.table,
        count(writes as f64),
        count(live as f64),
        if c.using.starts_with("gin") {
            "; GIN indexes make writes noticeably slower than btree (pending-list flushes)"
        } else {
            ""
        }
    );
    let risk = if c.partitions.is_empty() {
        risk
    } else {
        format!(
            "{risk} {} is partitioned ({} partition(s) seen in the plans: {}): PostgreSQL refuses \
             CONCURRENTLY on a partitioned table, so this CREATE INDEX takes a SHARE lock that \
             blocks writes to every partition while it builds. To build without blocking writes, \
             create it on the parent only, build each partition's index concurrently and attach \
             it (every partition must have one before the parent's index is valid; partitions \
             the plans did not show need theirs too): {}",
            c.table,
            c.partitions.len(),
            c.partitions.join(", "),
            partitioned_recipe(&c)
        )
    };
    if let Some(tb) = crate::analyze::advisor::rules::table_evidence(w, &c.table) {
        c.evidence.push(tb);
    }
    make_rec(
        t,
        c.target(),
        ddl,
        rationale,
        c.evidence,
        confidence,
        risk,
        c.query_ids,
        w.now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::advisor::testutil::*;
    use serde_json::json;

    #[test]
    fn one_composite_serves_several_queries() {
        let fx = Fixture::new()
            .table("public.tickets", 200_000.0)
            .query("q1", "SELECT id FROM tickets WHERE state = $1", 10, 30.0)
            .plan("q1", seq_scan("tickets", "(state = $1)", 50.0))
            .query(
                "q2",
                "SELECT id FROM tickets WHERE state = $1 AND opened_at >= $2",
                20,
                30.0,
            )
            .plan(
                "q2",
                seq_scan("tickets", "((state = $1) AND (opened_at >= $2))", 5.0),
            )
            .query(
                "q3",
                "SELECT id FROM tickets WHERE state = $1 AND opened_at >= $2 AND 1 = 1",
                5,
                30.0,
            )
            .plan(
                "q3",
                seq_scan("tickets", "((state = $1) AND (opened_at >= $2))", 5.0),
            );
        let (recs, dropped) = fx.run();
        let idx: Vec<_> = recs
            .iter()
            .filter(|r| matches!(r.rec_type, RecType::CompositeIndex | RecType::MissingIndex))
            .collect();
        assert_eq!(idx.len(), 1, "{idx:#?}");
        let r = idx[0];
        assert_eq!(r.rec_type, RecType::CompositeIndex);
        assert_eq!(r.target.columns, vec!["state", "opened_at"]);
        assert_eq!(r.query_ids, vec!["q2", "q1", "q3"]);
        assert_eq!(
            r.ddl,
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS tickets_state_opened_at_idx ON public.tickets (state, opened_at);"
        );
        assert!(dropped
            .iter()
            .any(|d| d.reason.contains("served by the wider candidate")));
    }

    #[test]
    fn ddl_for_expression_and_trigram() {
        let mut c = IndexCandidate {
            table: "public.users".into(),
            columns: vec!["lower(email)".into()],
            using: "btree".into(),
            query_ids: vec![],
            evidence: vec![],
            why: vec![],
            analyzed: false,
            partitions: Vec::new(),
        };
        assert_eq!(
            ddl(&c),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_lower_email_idx ON public.users ((lower(email)));"
        );
        c.columns = vec!["email".into()];
        c.using = TRGM.into();
        assert_eq!(
            ddl(&c),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_trgm_idx ON public.users USING gin (email gin_trgm_ops);"
        );
    }

    #[test]
    fn odd_identifiers_are_quoted_exactly_once() {
        // As EXPLAIN prints them: mixed case and keywords quoted, the relation name raw.
        let fx = Fixture::new()
            .table("Sales.Deals", 100_000.0)
            .table("public.order", 100_000.0)
            .table("public.users", 100_000.0)
            .query(
                "q1",
                "SELECT * FROM \"Sales\".\"Deals\" WHERE \"accountId\" = $1",
                10,
                30.0,
            )
            .plan(
                "q1",
                json!({"Node Type": "Seq Scan", "Relation Name": "Deals", "Schema": "Sales",
                       "Alias": "Deals", "Total Cost": 5000.0, "Plan Rows": 5.0,
                       "Filter": "(\"accountId\" = $1)"}),
            )
            .query(
                "q2",
                "SELECT * FROM \"order\" WHERE \"limit\" = $1 AND \"Stage\" > $2",
                10,
                30.0,
            )
            .plan(
                "q2",
                seq_scan("order", "((\"limit\" = $1) AND (\"Stage\" > $2))", 5.0),
            )
            .query(
                "q3",
                "SELECT * FROM users WHERE lower(\"Email\") = $1",
                10,
                30.0,
            )
            .plan("q3", seq_scan("users", "(lower(\"Email\") = $1)", 1.0));
        let (recs, _) = fx.run();
        let ddls: Vec<&str> = recs.iter().map(|r| r.ddl.as_str()).collect();
        assert!(
            ddls.contains(&"CREATE INDEX CONCURRENTLY IF NOT EXISTS deals_accountid_idx ON \"Sales\".\"Deals\" (\"accountId\");"),
            "{ddls:#?}"
        );
        assert!(
            ddls.contains(&"CREATE INDEX CONCURRENTLY IF NOT EXISTS order_limit_stage_idx ON public.\"order\" (\"limit\", \"Stage\");"),
            "{ddls:#?}"
        );
        assert!(
            ddls.contains(&"CREATE INDEX CONCURRENTLY IF NOT EXISTS users_lower_email_idx ON public.users ((lower(\"Email\")));"),
            "{ddls:#?}"
        );
        assert_valid_ddl(&recs);
    }
}
