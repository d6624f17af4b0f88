//! The advisor: turns one scan's queries, metrics, plans and schema into specific, checkable
//! recommendations (rules in [`rules`], one per file, each documented in docs/rules/). Pure: data
//! in, recommendations and dropped candidates out; `simulate::verify` checks index candidates
//! with hypopg.
//!
//! Pipeline of [`candidates`]:
//! 1. [`workload::Workload`] indexes the input: per query its weight (calls × mean time), its best
//!    plan (analyzed when there is one, else generic) and what its text says ([`text`]).
//! 2. Each rule proposes recommendations (and dropped candidates, with the reason).
//! 3. Index candidates are merged across the workload ([`rules::composite_index`]): the same index
//!    for several queries becomes one recommendation that lists them, and a candidate whose
//!    columns are a leading prefix of another candidate on the same table is served by it.
//! 4. Everything is scored (benefit weighted by calls × time, minus write cost) and sorted by
//!    score; per query the best recommendation is the one with the highest confidence.

#[cfg(test)]
mod fixture_tests;
pub mod rules;
#[cfg(test)]
mod testutil;
pub mod text;
pub mod workload;

use optidb_core::model::{
    DroppedCandidate, Evidence, Metric, Millis, Plan, Query, QueryId, RecTarget, RecType,
    Recommendation, SchemaSnapshot,
};

/// What the advisor reads: the latest scan.
#[derive(Debug, Clone, Copy)]
pub struct AdvisorInput<'a> {
    pub queries: &'a [Query],
    /// Latest metric per query (more are accepted; the latest `captured_at` wins).
    pub metrics: &'a [Metric],
    /// Latest plans per query, generic and analyzed.
    pub plans: &'a [Plan],
    pub schema: &'a SchemaSnapshot,
    pub now: Millis,
}

/// Base confidence per type: Missing index > Composite > Stats > Rewrite > Redundant. Rules
/// adjust within ±0.04 so the order between types never flips.
pub fn base_confidence(t: RecType) -> f64 {
    match t {
        RecType::MissingIndex => 0.90,
        RecType::CompositeIndex => 0.80,
        RecType::Stats => 0.70,
        RecType::Rewrite => 0.60,
        RecType::RedundantIndex => 0.50,
    }
}

/// blake3 of (type, target, ddl), hex: stable across scans and restarts.
pub fn rec_id(t: RecType, target: &RecTarget, ddl: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(t.as_str().as_bytes());
    h.update(b"\0");
    h.update(target.table.as_bytes());
    for c in &target.columns {
        h.update(b"\0");
        h.update(c.as_bytes());
    }
    h.update(b"\0");
    h.update(target.using.as_deref().unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(ddl.as_bytes());
    h.finalize().to_hex().to_string()
}

/// A recommendation with its id computed; score and verification filled later.
#[allow(clippy::too_many_arguments)]
pub fn make_rec(
    rec_type: RecType,
    target: RecTarget,
    ddl: String,
    rationale: String,
    evidence: Vec<Evidence>,
    confidence: f64,
    risk: String,
    query_ids: Vec<QueryId>,
    now: Millis,
) -> Recommendation {
    Recommendation {
        rec_id: rec_id(rec_type, &target, &ddl),
        rec_type,
        target,
        ddl,
        rationale,
        evidence,
        confidence: confidence.clamp(0.0, 1.0),
        risk,
        query_ids,
        score: 0.0,
        verification: None,
        created_at: now,
    }
}

/// All recommendations for the workload, ordered by score (best first), and the candidates
/// that were considered and dropped, with the reason.
pub fn candidates(input: &AdvisorInput) -> (Vec<Recommendation>, Vec<DroppedCandidate>) {
    let w = workload::Workload::new(input);
    let mut dropped = Vec::new();
    let mut recs = Vec::new();

    let stale = rules::stats::stale_tables(&w);
    // Index advice waits only where stale statistics demonstrably mislead the planner.
    let misleading = rules::stats::misleading_tables(&w, &stale);
    let (index_cands, mut d) = rules::missing_index::candidates(&w, &misleading);
    dropped.append(&mut d);
    let (mut index_recs, mut d) = rules::composite_index::consolidate(&w, index_cands);
    dropped.append(&mut d);
    recs.append(&mut index_recs);
    recs.append(&mut rules::rewrite::recommend(&w));
    recs.append(&mut rules::stats::recommend(&w, &stale, &misleading));
    recs.append(&mut rules::redundant_index::recommend(&w));

    for r in &mut recs {
        r.score = score(&w, r);
    }
    sort_recs(&mut recs);
    (recs, dropped)
}

/// Workload benefit: Σ over served queries of total time × expected fraction saved, minus the
/// write cost of an index on a write-heavy table. Uses hypopg's improvement when verified.
pub fn score(w: &workload::Workload, r: &Recommendation) -> f64 {
    let fraction = match (&r.verification, r.rec_type) {
        (Some(v), _) => v.improvement_pct / 100.0,
        (None, RecType::RedundantIndex) => 0.0,
        (None, _) => r.confidence * 0.8,
    };
    let benefit: f64 = r
        .query_ids
        .iter()
        .map(|q| w.query(q).map(|c| c.total_ms).unwrap_or(0.0))
        .sum::<f64>()
        * fraction;
    let penalty = match r.rec_type {
        RecType::MissingIndex | RecType::CompositeIndex => {
            benefit * w.write_penalty(&r.target.table)
        }
        // Dropping an index saves write time: score by the table's write rate.
        RecType::RedundantIndex => {
            -(w.table(&r.target.table)
                .map(|t| t.writes as f64 * 0.001)
                .unwrap_or(0.0))
        }
        _ => 0.0,
    };
    ((benefit - penalty) * 1000.0).round() / 1000.0
}

/// Score descending, then confidence, then id (deterministic).
pub fn sort_recs(recs: &mut [Recommendation]) {
    recs.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.rec_id.cmp(&b.rec_id))
    });
}

/// The recommendations serving one query, best first (confidence, then score).
pub fn for_query<'a>(recs: &'a [Recommendation], query_id: &str) -> Vec<&'a Recommendation> {
    let mut v: Vec<&Recommendation> = recs
        .iter()
        .filter(|r| r.query_ids.iter().any(|q| q == query_id))
        .collect();
    v.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.score.total_cmp(&a.score))
            .then(a.rec_id.cmp(&b.rec_id))
    });
    v
}

/// `public.orders` → `orders`.
pub fn bare(name: &str) -> &str {
    name.rsplit_once('.').map(|(_, n)| n).unwrap_or(name)
}

/// A clear, deterministic index name of at most 63 bytes: `orders_customer_id_idx`,
/// `users_lower_email_idx`, `customers_email_trgm_idx`.
pub fn index_name(table: &str, columns: &[String], suffix: &str) -> String {
    let mut parts = vec![ident_part(bare(table))];
    parts.extend(columns.iter().map(|c| ident_part(c)));
    let mut name = parts.join("_");
    name.push('_');
    name.push_str(suffix);
    if name.len() > 63 {
        let hash = blake3::hash(name.as_bytes()).to_hex();
        let keep = 63 - suffix.len() - 1 - 9;
        let mut cut = name[..keep].to_string();
        while !cut.is_char_boundary(cut.len()) {
            cut.pop();
        }
        name = format!("{cut}_{}_{suffix}", &hash[..8]);
    }
    name
}

/// Lower-case letters, digits and single underscores from a column or expression.
fn ident_part(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Bytes in a human unit.
pub fn human_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", b / 1024.0 / 1024.0 / 1024.0)
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.0} kB", b / 1024.0)
    } else {
        format!("{b:.0} bytes")
    }
}

/// A count with thousands separators: 300000 → `300,000`.
pub fn count(n: f64) -> String {
    let n = n.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A time as ISO-8601 UTC (`2024-05-01T12:00:00Z`) for rationales.
pub use optidb_core::time::iso;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_clear_and_bounded() {
        assert_eq!(
            index_name("public.orders", &["customer_id".into()], "idx"),
            "orders_customer_id_idx"
        );
        assert_eq!(
            index_name("public.users", &["lower(email)".into()], "idx"),
            "users_lower_email_idx"
        );
        let long = index_name(
            "public.a_very_long_table_name_for_testing",
            &[
                "a_really_long_column_name_one".into(),
                "another_long_column".into(),
            ],
            "idx",
        );
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("_idx"));
    }

    #[test]
    fn rec_ids_are_stable_and_content_based() {
        let t = RecTarget {
            table: "public.orders".into(),
            columns: vec!["customer_id".into()],
            using: Some("btree".into()),
        };
        let a = rec_id(RecType::MissingIndex, &t, "CREATE INDEX x");
        assert_eq!(a, rec_id(RecType::MissingIndex, &t, "CREATE INDEX x"));
        assert_ne!(a, rec_id(RecType::CompositeIndex, &t, "CREATE INDEX x"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn helpers_format() {
        assert_eq!(count(300000.0), "300,000");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_714_564_800_000), "2024-05-01T12:00:00Z");
        assert_eq!(human_bytes(2.0 * 1024.0 * 1024.0), "2.0 MB");
    }
}
