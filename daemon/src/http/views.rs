//! Assembles what the API answers from stored facts: bottleneck rows for the list (and the
//! dashboard, and the CLI) and lookup entries for the language server. One place, so every
//! surface shows the same numbers.

use crate::store::{Store, StoreError, TargetId};
use optidb_core::model::{
    tag, LookupEntry, LookupRec, LookupSimulation, Metric, Plan, Query, QueryId, QueryTag,
    Recommendation, WaitProfile,
};
use serde::Serialize;
use std::collections::HashMap;

/// One row of `GET /bottlenecks`.
#[derive(Debug, Clone, Serialize)]
pub struct Bottleneck {
    pub query_id: QueryId,
    pub fingerprint: String,
    /// Normalized text.
    pub query: String,
    pub mean_ms: f64,
    pub calls: i64,
    pub total_ms: f64,
    /// Interval figures since the previous scan, when there was one.
    pub interval_mean_ms: Option<f64>,
    pub interval_calls: Option<i64>,
    /// Why it is here, in a sentence.
    pub reason: String,
    /// The top recommendation's DDL, id and confidence (also in `recommendations`).
    pub ddl: Option<String>,
    pub rec_id: Option<String>,
    pub confidence: Option<f64>,
    pub had_seq_scan: bool,
    pub recommendations: Vec<Recommendation>,
    pub captured_at: i64,
    /// The query's family in the latest scan (`analyze::families`).
    pub family: Option<optidb_core::family::FamilyRef>,
    /// Findings in time of the latest scan (`contention`, `spike` …), with their evidence.
    pub tags: Vec<QueryTag>,
}

/// Tags by query, in the order the scan stored them.
fn tags_by_query(tags: Vec<(QueryId, QueryTag)>) -> HashMap<QueryId, Vec<QueryTag>> {
    let mut by: HashMap<QueryId, Vec<QueryTag>> = HashMap::new();
    for (q, t) in tags {
        by.entry(q).or_default().push(t);
    }
    by
}

/// The contention tag, when a query has one: it is the headline (the plan is not why it is
/// slow) and index advice is not.
fn contention(tags: &[QueryTag]) -> Option<&QueryTag> {
    tags.iter().find(|t| t.tag == tag::CONTENTION)
}

/// Recommendations by the queries they serve, best score first for each query.
fn recs_by_query(recs: &[Recommendation]) -> HashMap<&str, Vec<&Recommendation>> {
    let mut by: HashMap<&str, Vec<&Recommendation>> = HashMap::new();
    for r in recs {
        for q in &r.query_ids {
            by.entry(q.as_str()).or_default().push(r);
        }
    }
    for v in by.values_mut() {
        v.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(b.score.total_cmp(&a.score))
        });
    }
    by
}

use optidb_core::model::best_plan;

fn reason(
    metric: &Metric,
    plan: Option<&Plan>,
    top: Option<&&Recommendation>,
    tags: &[QueryTag],
) -> String {
    if let Some(t) = contention(tags) {
        return t.evidence.clone();
    }
    if let Some(r) = top {
        // The first sentence that speaks of the query itself ("Serves query X." does not).
        let first = r
            .rationale
            .split(". ")
            .find(|s| !s.starts_with("Serves quer"))
            .unwrap_or(&r.rationale);
        return first.trim_end_matches('.').to_string() + ".";
    }
    if let Some(seq) = plan.and_then(|p| p.facts.seq_scans.first()) {
        return format!(
            "Seq Scan on {} (≈{:.0} rows) at {:.1} ms × {} calls.",
            seq.table,
            seq.table_rows_est.unwrap_or(seq.est_rows),
            metric.mean_ms,
            metric.calls
        );
    }
    format!(
        "{:.1} ms × {} calls = {:.0} ms in all.",
        metric.mean_ms, metric.calls, metric.total_ms
    )
}

/// The stored queries of the latest scan with the most total time, with their recommendations.
pub fn bottlenecks(
    store: &Store,
    target: &TargetId,
    limit: usize,
) -> Result<Vec<Bottleneck>, StoreError> {
    bottlenecks_tagged(store, target, limit, None)
}

/// [`bottlenecks`], only the rows that carry tag `only` when it is given.
pub fn bottlenecks_tagged(
    store: &Store,
    target: &TargetId,
    limit: usize,
    only: Option<&str>,
) -> Result<Vec<Bottleneck>, StoreError> {
    bottlenecks_filtered(store, target, limit, only, None)
}

/// [`bottlenecks_tagged`], and only the rows of family `family` (its id or label) when given.
pub fn bottlenecks_filtered(
    store: &Store,
    target: &TargetId,
    limit: usize,
    only: Option<&str>,
    family: Option<&str>,
) -> Result<Vec<Bottleneck>, StoreError> {
    let recs = store.recommendations(target)?;
    let by_query = recs_by_query(&recs);
    let mut tags = tags_by_query(store.tags(target)?);
    let mut rows = Vec::new();
    for id in store.query_ids_in_latest_scan(target)? {
        let qtags = tags.remove(&id).unwrap_or_default();
        if only.is_some_and(|t| !qtags.iter().any(|x| x.tag == t)) {
            continue;
        }
        let (Some(q), Some(m)) = (store.query(target, &id)?, store.latest_metric(target, &id)?)
        else {
            continue;
        };
        let plans = store.plans(target, &id, 4)?;
        rows.push(row(
            &q,
            &m,
            best_plan(&plans),
            by_query.get(id.as_str()),
            qtags,
        ));
    }
    rows.sort_by(|a, b| {
        b.total_ms
            .total_cmp(&a.total_ms)
            .then(a.query_id.cmp(&b.query_id))
    });
    let families = store.families(target)?;
    for r in &mut rows {
        r.family = super::families::family_of(families.as_ref(), &r.query_id);
    }
    if let Some(want) = family {
        rows.retain(|r| {
            r.family
                .as_ref()
                .is_some_and(|f| f.id == want || f.label == want)
        });
    }
    rows.truncate(limit);
    Ok(rows)
}

fn row(
    q: &Query,
    m: &Metric,
    plan: Option<&Plan>,
    recs: Option<&Vec<&Recommendation>>,
    tags: Vec<QueryTag>,
) -> Bottleneck {
    // A query slow because it waits on locks gets no index as its headline.
    let waits_on_locks = contention(&tags).is_some();
    let top = recs.and_then(|r| r.iter().find(|r| !(waits_on_locks && r.is_index())));
    Bottleneck {
        query_id: q.id.clone(),
        fingerprint: q.fingerprint.clone(),
        query: q.norm_sql.clone(),
        mean_ms: m.mean_ms,
        calls: m.calls,
        total_ms: m.total_ms,
        interval_mean_ms: m.interval_mean(),
        interval_calls: m.interval.as_ref().map(|i| i.calls),
        reason: reason(m, plan, top, &tags),
        ddl: top.map(|r| r.ddl.clone()),
        rec_id: top.map(|r| r.rec_id.clone()),
        confidence: top.map(|r| r.confidence),
        had_seq_scan: plan.is_some_and(|p| p.facts.had_seq_scan),
        recommendations: recs
            .map(|r| r.iter().map(|x| (*x).clone()).collect())
            .unwrap_or_default(),
        captured_at: m.captured_at,
        family: None,
        tags,
    }
}

/// What the store knows of each fingerprint (unknown ones are absent).
pub fn lookup(
    store: &Store,
    target: &TargetId,
    fingerprints: &[QueryId],
) -> Result<Vec<LookupEntry>, StoreError> {
    let recs = store.recommendations(target)?;
    let by_query = recs_by_query(&recs);
    let mut tags = tags_by_query(store.tags(target)?);
    let mut out = Vec::new();
    for fp in fingerprints {
        let (Some(_), Some(m)) = (store.query(target, fp)?, store.latest_metric(target, fp)?)
        else {
            continue;
        };
        let plans = store.plans(target, fp, 4)?;
        let plan = best_plan(&plans);
        let mean_ms = m.recent_mean();
        let query_tags = tags.remove(fp).unwrap_or_default();
        let last_simulation = store
            .simulations(target, fp, 1)?
            .pop()
            .map(|s| LookupSimulation {
                rec_id: s.rec_id,
                mode: s.mode,
                before_ms: s.before_ms,
                after_ms: s.after_ms,
                after_is_estimate: s.after_is_estimate,
                improvement_pct: s.improvement_pct,
                plan_changes: s.plan_changes,
                ran_at: s.ran_at,
            });
        out.push(LookupEntry {
            query_id: fp.clone(),
            mean_ms,
            calls: m.calls,
            total_ms: m.total_ms,
            had_seq_scan: plan.is_some_and(|p| p.facts.had_seq_scan),
            seq_scan_tables: plan
                .map(|p| p.facts.seq_scans.iter().map(|s| s.table.clone()).collect())
                .unwrap_or_default(),
            recommendations: by_query
                .get(fp.as_str())
                .map(|v| {
                    v.iter()
                        .map(|r| LookupRec {
                            rec_id: r.rec_id.clone(),
                            rec_type: r.rec_type.as_str().to_string(),
                            ddl: r.ddl.clone(),
                            rationale: r.rationale.clone(),
                            confidence: r.confidence,
                            risk: r.risk.clone(),
                            verification: r.verification.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            last_simulation,
            tags: query_tags.iter().map(|t| t.tag.clone()).collect(),
            query_tags,
            waits: store.latest_waits(target, fp)?,
        });
    }
    Ok(out)
}
/// Everything stored about one query: what `GET /queries/{id}` answers and the dashboard's
/// query page shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryDetail {
    pub query: Query,
    /// Oldest first, at most 500.
    pub metrics: Vec<Metric>,
    /// The latest plans (generic, custom, analyzed).
    pub plans: Vec<Plan>,
    pub plan_errors: Vec<optidb_core::model::PlanError>,
    /// The recommendations of the latest scan that serve this query.
    pub recommendations: Vec<Recommendation>,
    /// The latest 20 simulations.
    pub simulations: Vec<optidb_core::model::Simulation>,
    /// Its family in the latest scan: `{id, label, size}`.
    pub family: Option<optidb_core::family::FamilyRef>,
    /// The latest scan's findings in time about this query.
    pub tags: Vec<QueryTag>,
    /// Where its sampled time went, per scan interval, oldest first (at most 100); the latest
    /// scan's is `waits.last()` when its `captured_at` is the latest scan's.
    pub waits: Vec<WaitProfile>,
}

/// Loads [`QueryDetail`]: `None` for an id no scan has stored. Blocking (the store).
pub fn query_detail(
    store: &Store,
    target: &TargetId,
    id: &str,
) -> Result<Option<QueryDetail>, StoreError> {
    let Some(query) = store.query(target, id)? else {
        return Ok(None);
    };
    Ok(Some(QueryDetail {
        query,
        metrics: store.metrics(target, id, 500)?,
        plans: store.plans(target, id, 4)?,
        plan_errors: store.plan_errors(target, id)?,
        recommendations: store
            .recommendations(target)?
            .into_iter()
            .filter(|r| r.query_ids.iter().any(|q| q == id))
            .collect(),
        simulations: store.simulations(target, id, 20)?,
        family: super::families::family_of(store.families(target)?.as_ref(), id),
        tags: store.query_tags(target, id)?,
        waits: store.waits(target, id, 100)?,
    }))
}
