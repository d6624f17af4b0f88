//! Checks index recommendations with hypopg before anyone builds them: each candidate is planned
//! against the queries it serves (the real-value sample when there is one, else the generic
//! statement) through [`crate::simulate::whatif`], the one place hypopg is driven. Candidates the
//! planner does not use, or that cut the estimated cost by less than [`MIN_GAIN_PCT`], are
//! dropped with the reason; the rest carry their [`Verification`] and are re-scored by
//! calls × mean time × improvement. Without hypopg the candidates stay, unverified, with a lower
//! confidence and a sentence saying so.

use crate::pg::Session;
use crate::simulate::{ddl, whatif, SimError, Stmt, ValidatedDdl, WhatIf};
use optidb_core::model::{DroppedCandidate, Evidence, Metric, Query, Recommendation, Verification};
use std::collections::HashMap;

/// A candidate that cuts the estimated cost by less than this (over its queries, weighted by
/// their time) is dropped.
pub const MIN_GAIN_PCT: f64 = 10.0;
/// What-if calls per verification run (each is a create + EXPLAIN + reset, ~1 ms).
pub const MAX_CALLS: usize = 400;
/// Queries checked per candidate (its most important ones).
pub const MAX_QUERIES_PER_REC: usize = 5;
/// Confidence taken off candidates that could not be verified.
pub const UNVERIFIED_PENALTY: f64 = 0.1;

/// Verifies the index recommendations of `recs` on `session` (see the module documentation).
/// Non-index recommendations pass through unchanged. The result is sorted by score.
pub async fn verify(
    session: &Session,
    recs: Vec<Recommendation>,
    queries: &[Query],
    metrics: &[Metric],
) -> (Vec<Recommendation>, Vec<DroppedCandidate>) {
    let by_id: HashMap<&str, &Query> = queries.iter().map(|q| (q.id.as_str(), q)).collect();
    let mut weight: HashMap<&str, (i64, f64)> = HashMap::new();
    for m in metrics {
        weight.insert(m.query_id.as_str(), (m.calls, m.mean_ms));
    }
    let mut out = Vec::with_capacity(recs.len());
    let mut dropped = Vec::new();
    let mut no_hypopg: Option<String> = None;
    let mut calls = 0usize;
    let mut cache: HashMap<(String, String), Result<WhatIf, String>> = HashMap::new();

    for mut r in recs {
        if !r.is_index() {
            out.push(r);
            continue;
        }
        if let Some(why) = &no_hypopg {
            unverified(&mut r, why);
            out.push(r);
            continue;
        }
        if r.target.using.as_deref().is_some_and(|u| {
            !u.starts_with("btree") && !u.starts_with("brin") && !u.starts_with("hash")
        }) {
            unverified(
                &mut r,
                "hypopg can only simulate btree, brin and hash indexes, not this method",
            );
            out.push(r);
            continue;
        }
        let index = match ddl::validate(&r.ddl) {
            Ok(d) => d,
            Err(e) => {
                unverified(&mut r, &format!("its DDL is not one CREATE INDEX ({e})"));
                out.push(r);
                continue;
            }
        };
        // (query id, what-if, weight) per checked query.
        let mut checked: Vec<(String, WhatIf, f64)> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        for qid in r.query_ids.iter().take(MAX_QUERIES_PER_REC) {
            let Some(q) = by_id.get(qid.as_str()) else {
                continue;
            };
            if calls >= MAX_CALLS {
                errors.push("what-if budget of this scan used up".into());
                break;
            }
            if !session.is_usable() {
                errors.push("the connection was lost or could not be cleaned up".into());
                break;
            }
            let key = (qid.clone(), r.ddl.clone());
            let res = match cache.get(&key) {
                Some(res) => res.clone(),
                None => {
                    calls += 1;
                    let mut res = run(session, q, &index).await;
                    if let Err(SimError::NoHypopg) = res {
                        // Handled below.
                    } else if res.is_err() && q.raw_has_values {
                        // A sample the planner rejects: fall back to the generic statement.
                        calls += 1;
                        res = whatif(
                            session,
                            Stmt::Generic(&q.norm_sql),
                            std::slice::from_ref(&index),
                        )
                        .await;
                    }
                    if let Err(SimError::NoHypopg) = res {
                        no_hypopg = Some(SimError::NoHypopg.to_string());
                        break;
                    }
                    let res = res.map_err(|e| e.to_string());
                    cache.insert(key, res.clone());
                    res
                }
            };
            match res {
                Ok(wi) => {
                    let (c, mean) = weight.get(qid.as_str()).copied().unwrap_or((1, 1.0));
                    checked.push((qid.clone(), wi, (c as f64 * mean).max(1e-6)));
                }
                Err(e) => errors.push(format!("query {qid}: {e}")),
            }
        }
        if let Some(why) = &no_hypopg {
            unverified(&mut r, why);
            out.push(r);
            continue;
        }
        if checked.is_empty() {
            let why = if errors.is_empty() {
                "no query to check it against".to_string()
            } else {
                errors.join("; ")
            };
            unverified(&mut r, &format!("hypopg could not check it ({why})"));
            out.push(r);
            continue;
        }
        let used_any = checked
            .iter()
            .any(|(_, wi, _)| wi.used.first() == Some(&true));
        let total_w: f64 = checked.iter().map(|(_, _, w)| w).sum();
        let gain: f64 = checked
            .iter()
            .map(|(_, wi, w)| {
                if wi.used.first() == Some(&true) {
                    wi.improvement_pct * w
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / total_w;
        let (top_q, top, _) = checked
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .cloned()
            .expect("checked is not empty");
        let size = top.index_bytes.first().copied().flatten();
        if !used_any || gain < MIN_GAIN_PCT {
            dropped.push(DroppedCandidate {
                rec_type: r.rec_type,
                target: r.target.clone(),
                query_ids: r.query_ids.clone(),
                reason: if !used_any {
                    format!(
                        "hypopg: the planner does not use the hypothetical index for any of its \
                         queries (query {top_q}: cost {:.1} → {:.1})",
                        top.before_cost, top.after_cost
                    )
                } else {
                    format!(
                        "hypopg: it cuts the estimated cost by only {gain:.1}% over its queries \
                         (< {MIN_GAIN_PCT}%; query {top_q}: cost {:.1} → {:.1})",
                        top.before_cost, top.after_cost
                    )
                },
            });
            continue;
        }
        // Keep the queries it actually helps, best first.
        let helped: Vec<String> = checked
            .iter()
            .filter(|(_, wi, _)| wi.used.first() == Some(&true) && wi.improvement_pct > 0.0)
            .map(|(q, _, _)| q.clone())
            .collect();
        let unchecked: Vec<String> = r
            .query_ids
            .iter()
            .skip(MAX_QUERIES_PER_REC)
            .cloned()
            .collect();
        r.query_ids = helped.into_iter().chain(unchecked).collect();
        r.verification = Some(Verification {
            before_cost: top.before_cost,
            after_cost: top.after_cost,
            improvement_pct: (gain * 10.0).round() / 10.0,
            index_used: true,
            index_bytes: size,
        });
        if gain >= 50.0 {
            r.confidence = (r.confidence + 0.03).min(1.0);
        }
        r.rationale.push_str(&format!(
            " Checked with hypopg: the planner uses the index; estimated cost of query {top_q} \
             {:.1} → {:.1} ({:.0}% lower; {:.0}% over the {} checked queries, weighted by time){}.",
            top.before_cost,
            top.after_cost,
            top.improvement_pct,
            gain,
            checked.len(),
            size.map(|b| format!(
                "; estimated index size {}",
                crate::analyze::advisor::human_bytes(b as f64)
            ))
            .unwrap_or_default()
        ));
        if let Some(b) = size {
            r.risk.push_str(&format!(
                " hypopg estimates the index at {}.",
                crate::analyze::advisor::human_bytes(b as f64)
            ));
        }
        r.evidence.push(Evidence {
            source: "hypopg".into(),
            text: format!(
                "query {top_q}: cost {:.1} → {:.1} with the hypothetical index (used: yes)",
                top.before_cost, top.after_cost
            ),
            captured_at: Some(crate::clock::now_ms()),
        });
        // Re-score: calls × mean time × improvement, keeping the write-cost factor.
        let benefit: f64 = checked
            .iter()
            .map(|(_, wi, w)| {
                if wi.used.first() == Some(&true) {
                    w * wi.improvement_pct / 100.0
                } else {
                    0.0
                }
            })
            .sum();
        r.score = (benefit * write_factor(&r, &weight) * 1000.0).round() / 1000.0;
        out.push(r);
    }
    crate::analyze::advisor::sort_recs(&mut out);
    (out, dropped)
}

/// The share of the pre-verification score left after the write penalty (1 when unknown).
fn write_factor(r: &Recommendation, weight: &HashMap<&str, (i64, f64)>) -> f64 {
    let total: f64 = r
        .query_ids
        .iter()
        .map(|q| {
            weight
                .get(q.as_str())
                .map(|(c, m)| *c as f64 * m)
                .unwrap_or(0.0)
        })
        .sum();
    let expected = total * r.confidence * 0.8;
    if expected > 0.0 && r.score > 0.0 {
        (r.score / expected).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

async fn run(session: &Session, q: &Query, ddl: &ValidatedDdl) -> Result<WhatIf, SimError> {
    let stmt = if q.raw_has_values {
        Stmt::Sample(&q.raw_sql)
    } else {
        Stmt::Generic(&q.norm_sql)
    };
    whatif(session, stmt, std::slice::from_ref(ddl)).await
}

fn unverified(r: &mut Recommendation, why: &str) {
    r.confidence = (r.confidence - UNVERIFIED_PENALTY).max(0.0);
    r.rationale.push_str(&format!(
        " Not verified with hypothetical indexes: {why}; confidence lowered accordingly."
    ));
}
