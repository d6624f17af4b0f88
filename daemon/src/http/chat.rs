//! `POST /chat`: answers a few kinds of questions from stored facts only ("why is query X slow",
//! "what index should I add", "show impact", "what is slowest"), each sentence backed by a
//! citation anyone can check. No language model: a question it cannot answer gets the list of
//! what it can.

use super::error::{self, ApiError};
use super::views::{self, Bottleneck};
use crate::app::AppState;
use crate::store::{Store, StoreError, TargetId};
use axum::extract::State;
use axum::Json;
use optidb_core::model::{tag, Evidence, QueryTag, WaitProfile};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub question: String,
    #[serde(default)]
    pub query_id: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ChatAnswer {
    /// `why_slow`, `index_advice`, `impact`, `top`, or `help`.
    pub intent: &'static str,
    pub answer: String,
    pub citations: Vec<Evidence>,
    pub query_id: Option<String>,
}

/// What the chat can answer (the `help` reply).
pub const CAPABILITIES: &str = "I answer from the facts OptiDB has stored. Ask me:\n\
  - \"why is query <id> slow?\" (metrics, plan evidence, the fix)\n\
  - \"what index should I add?\" (for one query with --query/query_id, or for the whole workload)\n\
  - \"show impact\" (simulated and verified gains)\n\
  - \"what is slowest?\" (the top bottlenecks)";

/// Classifies a question.
pub fn intent(question: &str) -> &'static str {
    let q = question.to_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| q.contains(x));
    if has(&["why"]) && has(&["slow", "long", "expensive", "bad"]) {
        "why_slow"
    } else if has(&["index"]) {
        "index_advice"
    } else if has(&["impact", "simulat", "gain", "improve", "save", "faster"]) {
        "impact"
    } else if has(&["slowest", "worst", "top", "bottleneck", "hurt"]) {
        "top"
    } else {
        "help"
    }
}

/// A 16-hex-digit query id mentioned in the question.
fn id_in(question: &str) -> Option<String> {
    question
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 16)
        .map(str::to_ascii_lowercase)
}

fn cite(source: &str, text: String, at: Option<i64>) -> Evidence {
    Evidence {
        source: source.into(),
        text,
        captured_at: at,
    }
}

/// "Why is it slow?" for a query tagged `contention`: the lock waits (with the sample counts and
/// the window), the blocker, the advice that fits, and non-index recommendations if any.
pub fn waits_answer(
    r: &Bottleneck,
    t: &QueryTag,
    waits: Option<&WaitProfile>,
) -> (String, Vec<Evidence>) {
    let mut s = format!(
        " It is slow because it waits on locks, not because of its plan: {}",
        t.evidence
    );
    let mut citations = Vec::new();
    if let Some(w) = waits {
        s.push_str(&format!(" Where its sampled time went: {}.", w.summary()));
        citations.push(cite(
            "waits",
            format!(
                "{} of {} pg_stat_activity samples on heavyweight locks ({}) between {} and {}",
                w.lock,
                w.samples,
                w.top_lock_event().unwrap_or("lock"),
                optidb_core::time::human(w.first_sample_at),
                optidb_core::time::human(w.last_sample_at)
            ),
            Some(w.captured_at),
        ));
        if let Some(b) = w.blockers.first() {
            citations.push(cite(
                "blocker",
                format!(
                    "application_name {}, {} ({}), seen blocking in {} samples, transaction \
                     open {:.0} ms on average, {:.0} ms at most",
                    b.application_name,
                    b.query,
                    b.state,
                    b.samples,
                    b.xact_age_ms_mean,
                    b.xact_age_ms_max
                ),
                Some(w.captured_at),
            ));
        }
    }
    let advice: Vec<&str> = t.detail["advice"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .collect();
    if !advice.is_empty() {
        s.push_str(" What helps:");
        for (i, a) in advice.iter().enumerate() {
            s.push_str(&format!("\n{}. {a}", i + 1));
        }
    }
    let other: Vec<_> = r.recommendations.iter().filter(|x| !x.is_index()).collect();
    if let Some(rec) = other.first() {
        s.push_str(&format!("\nAlso: {} {}", rec.rationale, rec.ddl));
    }
    s.push_str("\nAn index would not help: the statement is fast once it gets the lock.");
    (s, citations)
}

/// Answers a question from the store.
pub fn answer(
    store: &Store,
    target: &TargetId,
    req: &ChatRequest,
) -> Result<ChatAnswer, StoreError> {
    let intent = intent(&req.question);
    let qid = req.query_id.clone().or_else(|| id_in(&req.question));
    let rows = views::bottlenecks(store, target, 1000)?;
    let row_for = |id: &str| rows.iter().find(|r| r.query_id == id).cloned();
    let mut citations = Vec::new();
    let answer = match intent {
        "why_slow" => {
            let row: Option<Bottleneck> = match &qid {
                Some(id) => row_for(id),
                None => rows.first().cloned(),
            };
            match row {
                None if qid.is_some() => format!("I have no stored facts for query {}. Scan first, or check the id with `optidb fingerprint`.", qid.clone().unwrap_or_default()),
                None => "Nothing is stored yet: run a scan first (POST /scan or `optidb scan`).".into(),
                Some(r) => {
                    let mut s = String::new();
                    if qid.is_none() {
                        s.push_str("You did not name a query, so here is the one with the most total time. ");
                    }
                    s.push_str(&format!(
                        "Query {} takes {:.2} ms on average over {} calls ({:.0} ms in all).",
                        r.query_id, r.mean_ms, r.calls, r.total_ms
                    ));
                    citations.push(cite("metric", format!("mean_ms {:.2}, calls {}, total_ms {:.0}", r.mean_ms, r.calls, r.total_ms), Some(r.captured_at)));
                    if let Some(t) = r.tags.iter().find(|t| t.tag == tag::CONTENTION) {
                        // The waits dominate: they are the answer, not the plan.
                        let waits = store.latest_waits(target, &r.query_id)?;
                        let (text, mut cites) = waits_answer(&r, t, waits.as_ref());
                        s.push_str(&text);
                        citations.append(&mut cites);
                        return Ok(ChatAnswer { intent, answer: s, citations, query_id: qid });
                    }
                    let plans = store.plans(target, &r.query_id, 4)?;
                    if let Some(p) = optidb_core::model::best_plan(&plans) {
                        let f = &p.facts;
                        if let Some(seq) = f.seq_scans.first() {
                            s.push_str(&format!(" Its plan reads all of {} with a Seq Scan", seq.table));
                            if let Some(removed) = seq.rows_removed_by_filter.filter(|r| *r > 0.0) {
                                s.push_str(&format!(", throwing away {removed:.0} rows in the filter"));
                            }
                            s.push('.');
                        }
                        citations.push(cite(
                            "plan",
                            format!(
                                "{} plan captured at {}: had_seq_scan={}, nodes {}, est_rows {:.0}{}",
                                p.kind.caption(),
                                p.captured_at,
                                f.had_seq_scan,
                                f.node_types.join(" > "),
                                f.est_rows,
                                f.act_rows.map(|a| format!(", act_rows {a:.0}")).unwrap_or_default()
                            ),
                            Some(p.captured_at),
                        ));
                    }
                    match r.recommendations.first() {
                        Some(rec) => {
                            s.push_str(&format!(" {} Fix: {}", rec.rationale, rec.ddl));
                            citations.extend(rec.evidence.iter().cloned());
                        }
                        None => s.push_str(" OptiDB has no recommendation for it yet."),
                    }
                    s
                }
            }
        }
        "index_advice" => {
            let recs: Vec<_> = store
                .recommendations(target)?
                .into_iter()
                .filter(|r| r.is_index())
                .filter(|r| qid.as_ref().is_none_or(|id| r.query_ids.contains(id)))
                .take(5)
                .collect();
            if recs.is_empty() {
                match &qid {
                    Some(id) => format!("I have no index recommendation for query {id}."),
                    None => {
                        "I have no index recommendation for this workload (yet: run a scan).".into()
                    }
                }
            } else {
                let mut s = String::from("Add, in this order:");
                for (i, r) in recs.iter().enumerate() {
                    s.push_str(&format!(
                        "\n{}. {} — confidence {:.2}, serves {} quer{}",
                        i + 1,
                        r.ddl,
                        r.confidence,
                        r.query_ids.len(),
                        if r.query_ids.len() == 1 { "y" } else { "ies" }
                    ));
                    if let Some(v) = &r.verification {
                        s.push_str(&format!(
                            "; hypopg: cost {:.0} → {:.0} ({:.0}% better)",
                            v.before_cost, v.after_cost, v.improvement_pct
                        ));
                        citations.push(cite(
                            "hypopg",
                            format!(
                                "{}: before_cost {:.1}, after_cost {:.1}, index_used={}",
                                r.rec_id, v.before_cost, v.after_cost, v.index_used
                            ),
                            Some(r.created_at),
                        ));
                    }
                    citations.extend(r.evidence.iter().take(2).cloned());
                }
                s
            }
        }
        "impact" => {
            let ids: Vec<String> = match &qid {
                Some(id) => vec![id.clone()],
                None => rows.iter().take(10).map(|r| r.query_id.clone()).collect(),
            };
            let mut lines = Vec::new();
            for id in ids {
                if let Some(sim) = store.simulations(target, &id, 1)?.pop() {
                    lines.push(format!(
                        "query {id}: {:.2} ms → {:.2} ms{} ({:.0}% better) with {}",
                        sim.before_ms,
                        sim.after_ms,
                        if sim.after_is_estimate {
                            " estimated"
                        } else {
                            ""
                        },
                        sim.improvement_pct,
                        sim.rec_id
                    ));
                    citations.push(cite(
                        "simulation",
                        format!(
                            "{} ran at {}: {}",
                            sim.mode,
                            sim.ran_at,
                            sim.plan_changes.join("; ")
                        ),
                        Some(sim.ran_at),
                    ));
                } else if let Some(v) = row_for(&id).and_then(|r| {
                    r.recommendations
                        .first()
                        .and_then(|x| x.verification.clone())
                }) {
                    lines.push(format!("query {id}: hypothetical index lowers the estimated cost {:.0} → {:.0} ({:.0}% better)", v.before_cost, v.after_cost, v.improvement_pct));
                }
            }
            if lines.is_empty() {
                "No simulation has run yet: try `optidb simulate <query id>` or the dashboard's Run simulation.".into()
            } else {
                lines.join("\n")
            }
        }
        "top" => {
            if rows.is_empty() {
                "Nothing is stored yet: run a scan first (POST /scan or `optidb scan`).".into()
            } else {
                let mut s = String::from("The queries with the most total time:");
                for r in rows.iter().take(5) {
                    s.push_str(&format!(
                        "\n- {} {:.2} ms × {} calls: {}",
                        r.query_id, r.mean_ms, r.calls, r.reason
                    ));
                    citations.push(cite(
                        "metric",
                        format!(
                            "{}: mean_ms {:.2}, calls {}",
                            r.query_id, r.mean_ms, r.calls
                        ),
                        Some(r.captured_at),
                    ));
                }
                s
            }
        }
        _ => CAPABILITIES.to_string(),
    };
    Ok(ChatAnswer {
        intent,
        answer,
        citations,
        query_id: qid,
    })
}

/// `POST /chat {question, query_id?}`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn chat(
    State(state): State<Arc<AppState>>,
    body: Result<Json<ChatRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ChatAnswer>, ApiError> {
    let Json(req) = body.map_err(|e| {
        error::bad_json(e, r#"{"question": "why is query 0123456789abcdef slow?"}"#)
    })?;
    if let Some(id) = &req.query_id {
        error::check_query_id(id)?;
    }
    let store = state.store.clone();
    let target = state.target_id.clone();
    let a = tokio::task::spawn_blocking(move || answer(&store, &target, &req))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents() {
        assert_eq!(intent("Why is query 0123456789abcdef so slow?"), "why_slow");
        assert_eq!(intent("what index should I add"), "index_advice");
        assert_eq!(intent("show impact"), "impact");
        assert_eq!(intent("what is slowest"), "top");
        assert_eq!(intent("tell me a joke"), "help");
        assert_eq!(
            id_in("why is 0123456789ABCDEF slow").as_deref(),
            Some("0123456789abcdef")
        );
        assert_eq!(id_in("no id here 12345"), None);
    }

    #[test]
    fn a_contended_query_is_answered_from_its_waits() {
        use optidb_core::model::Blocker;
        let w = WaitProfile {
            query_id: "q".into(),
            captured_at: 1_700_000_000_000,
            first_sample_at: 1_699_999_990_000,
            last_sample_at: 1_699_999_999_000,
            samples: 40,
            lock: 31,
            cpu: 9,
            lock_events: [("transactionid".to_string(), 31)].into(),
            blockers: vec![Blocker {
                application_name: "shop-batch-job".into(),
                query: "SELECT code FROM coupons WHERE valid_until >= $1 FOR UPDATE".into(),
                state: "idle in transaction".into(),
                samples: 31,
                xact_age_ms_mean: 24.6,
                xact_age_ms_max: 31.0,
                ..Default::default()
            }],
            ..Default::default()
        };
        let t = crate::analyze::contention::judge(&w, None, &[], None).unwrap();
        let row = Bottleneck {
            query_id: "q".into(),
            fingerprint: "q".into(),
            query: "UPDATE coupons SET n = n + $1 WHERE code = $2".into(),
            mean_ms: 25.0,
            calls: 40,
            total_ms: 1000.0,
            interval_mean_ms: None,
            interval_calls: None,
            reason: t.evidence.clone(),
            ddl: None,
            rec_id: None,
            confidence: None,
            had_seq_scan: true,
            recommendations: vec![],
            captured_at: w.captured_at,
            family: None,
            tags: vec![t.clone()],
        };
        let (text, cites) = waits_answer(&row, &t, Some(&w));
        assert!(
            text.contains("waits on locks, not because of its plan"),
            "{text}"
        );
        assert!(text.contains("shop-batch-job"), "{text}");
        assert!(text.contains("78% Lock (transactionid), 22% CPU"), "{text}");
        assert!(text.contains("SKIP LOCKED"), "{text}");
        assert!(!text.contains("Seq Scan"), "{text}");
        assert_eq!(cites[0].source, "waits");
        assert!(
            cites[0]
                .text
                .starts_with("31 of 40 pg_stat_activity samples"),
            "{}",
            cites[0].text
        );
        assert_eq!(cites[0].captured_at, Some(w.captured_at));
        assert_eq!(cites[1].source, "blocker");
    }
}
