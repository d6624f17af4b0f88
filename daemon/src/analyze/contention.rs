//! The contention rule: a query that spends its time waiting on heavyweight locks is slow
//! because of another transaction, not because of its plan. It is tagged `contention` with the
//! blocker and the advice that fits, and index advice for it is set aside
//! (docs/rules/contention.md).

use super::time::TimeInput;
use optidb_core::model::{
    tag, DroppedCandidate, Metric, QueryId, QueryTag, Recommendation, WaitProfile,
};
use serde_json::json;

/// A query needs at least this many samples in the interval for its shares to count: at the
/// default 5 Hz that is two seconds of the query running, so one unlucky tick never tags it.
pub const MIN_SAMPLES: u64 = 10;
/// Share of its samples waiting on heavyweight locks that tags a query.
pub const MIN_LOCK_SHARE: f64 = 0.30;
/// The second trigger — the mean rose with the same plan and lock waits appeared — needs at
/// least this many lock samples and this share.
pub const MIN_LOCK_SAMPLES_ROSE: u64 = 3;
pub const MIN_LOCK_SHARE_ROSE: f64 = 0.10;
/// "Rose": the interval mean is at least this many times the median of the earlier interval
/// means (at least 2 of them).
pub const ROSE_FACTOR: f64 = 2.0;

/// Tags the queries of a scan that wait on locks.
pub fn tags(input: &TimeInput<'_>) -> Vec<(QueryId, QueryTag)> {
    let mut out = Vec::new();
    for w in input.waits {
        let metric = input.metrics.iter().find(|m| m.query_id == w.query_id);
        let past = input
            .past_metrics
            .get(&w.query_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let plan_same = same_plan(input, &w.query_id);
        if let Some(t) = judge(w, metric, past, plan_same) {
            out.push((w.query_id.clone(), t));
        }
    }
    out
}

/// Whether this scan's generic plan has the hash of the previous stored one (`None`: cannot
/// tell — no plan in one of them).
fn same_plan(input: &TimeInput<'_>, id: &str) -> Option<bool> {
    use optidb_core::model::PlanKind;
    let now = input
        .plans
        .iter()
        .find(|p| p.query_id == id && p.kind == PlanKind::Generic)?;
    let before = input
        .past_plans
        .get(id)?
        .iter()
        .rev()
        .find(|p| p.kind == PlanKind::Generic && p.captured_at < input.now)?;
    Some(now.plan_hash == before.plan_hash)
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The rule on one query's figures: its wait profile, this scan's metric, its earlier metrics
/// (oldest first) and whether its plan stayed the same. Pure; see the module docs.
pub fn judge(
    w: &WaitProfile,
    metric: Option<&Metric>,
    past: &[Metric],
    plan_same: Option<bool>,
) -> Option<QueryTag> {
    let share = w.lock_share();
    let by_share = w.samples >= MIN_SAMPLES && share >= MIN_LOCK_SHARE;
    let mean_now = metric.and_then(Metric::interval_mean);
    let mut earlier: Vec<f64> = past.iter().filter_map(Metric::interval_mean).collect();
    let baseline = if earlier.len() >= 2 {
        median(&mut earlier)
    } else {
        None
    };
    let rose = matches!((mean_now, baseline), (Some(now), Some(base)) if base > 0.0 && now >= ROSE_FACTOR * base)
        && plan_same == Some(true)
        && w.lock >= MIN_LOCK_SAMPLES_ROSE
        && share >= MIN_LOCK_SHARE_ROSE;
    if !(by_share || rose) {
        return None;
    }
    let event = w.top_lock_event().unwrap_or("").to_string();
    let what = lock_words(&event);
    let mut evidence = format!(
        "Waits on {what} in {:.0}% of {} samples",
        100.0 * share,
        w.samples
    );
    if let Some(b) = w.blockers.first() {
        let app = if b.application_name.is_empty() {
            "an unnamed application".to_string()
        } else {
            b.application_name.clone()
        };
        evidence.push_str(&format!(", blocked by {app}"));
        let mut about = Vec::new();
        if !b.query.is_empty() {
            about.push(format!("`{}`", shorten(&b.query, 100)));
        }
        if !b.state.is_empty() {
            about.push(b.state.clone());
        }
        about.push(format!(
            "transactions open ~{:.0} ms, up to {:.0} ms",
            b.xact_age_ms_mean, b.xact_age_ms_max
        ));
        evidence.push_str(&format!(" ({})", about.join(", ")));
    }
    if rose {
        if let (Some(now), Some(base)) = (mean_now, baseline) {
            evidence.push_str(&format!(
                "; the mean rose from {base:.2} ms to {now:.2} ms with the same plan"
            ));
        }
    }
    evidence.push_str(": the time goes to waiting for another transaction, not to the plan.");
    Some(QueryTag {
        tag: tag::CONTENTION.into(),
        evidence,
        since: Some(w.first_sample_at),
        detail: json!({
            "trigger": if by_share { "lock_share" } else { "mean_rose_same_plan" },
            "samples": w.samples,
            "lock_samples": w.lock,
            "lock_share": share,
            "lock_event": event,
            "lock_events": w.lock_events,
            "locks": w.locks,
            "blockers": w.blockers,
            "window": {"first_sample_at": w.first_sample_at, "last_sample_at": w.last_sample_at},
            "captured_at": w.captured_at,
            "mean_ms": mean_now,
            "baseline_mean_ms": baseline,
            "plan_unchanged": plan_same,
            "thresholds": {"min_samples": MIN_SAMPLES, "min_lock_share": MIN_LOCK_SHARE},
            "advice": advice(w, &event),
        }),
    })
}

/// "a row lock (transactionid)" …
fn lock_words(event: &str) -> String {
    match event {
        "transactionid" => "a row lock (transactionid)".into(),
        "tuple" => "a row lock (tuple)".into(),
        "relation" => "a table lock (relation)".into(),
        "advisory" => "an advisory lock".into(),
        "" => "a lock".into(),
        e => format!("a {e} lock"),
    }
}

fn shorten(s: &str, n: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        one_line.chars().take(n).collect::<String>() + "…"
    }
}

/// The advice that fits what the samples show; never an index.
pub fn advice(w: &WaitProfile, event: &str) -> Vec<String> {
    let mut out = Vec::new();
    let blocker = w.blockers.first();
    if let Some(b) = blocker {
        let who = if b.application_name.is_empty() {
            "the blocking application".to_string()
        } else {
            format!("`{}`", b.application_name)
        };
        let idle = if b.state.starts_with("idle in transaction") {
            " (it sits idle in its transaction while holding them)"
        } else {
            ""
        };
        out.push(format!(
            "Shorten the transactions of {who}: they hold the locks ~{:.0} ms{idle}; commit \
             right after the write, and do no slow work (network calls, sleeps, big batches) \
             inside the transaction.",
            b.xact_age_ms_mean
        ));
        if b.query.to_ascii_uppercase().contains("FOR UPDATE") {
            out.push(
                "If the blocker takes rows as a queue or batch, lock only what it can handle \
                 now with `SELECT … FOR UPDATE SKIP LOCKED LIMIT n`, so others skip those rows \
                 instead of waiting."
                    .into(),
            );
        }
    }
    if matches!(event, "transactionid" | "tuple") || event.is_empty() {
        out.push(
            "Touch rows in a consistent order (for example by primary key) in every \
             transaction that updates several of them: waits stay short and deadlocks go away."
                .into(),
        );
    }
    if event == "relation" {
        out.push(
            "A table lock: look for DDL, `LOCK TABLE`, VACUUM FULL or REINDEX in the blocker \
             and run them off-peak (or CONCURRENTLY)."
                .into(),
        );
    }
    out.push(
        "Set `lock_timeout` (e.g. `SET lock_timeout = '2s'`) in the waiting application so a \
         stuck lock fails fast and can be retried, instead of piling up connections."
            .into(),
    );
    out
}

/// Index advice for queries that wait on locks is set aside (moved to the dropped candidates
/// with the reason): an index does not shorten a lock wait. Advice that also serves a query
/// without contention stays.
pub fn set_aside_index_advice(
    recs: Vec<Recommendation>,
    mut dropped: Vec<DroppedCandidate>,
    tags: &[(QueryId, QueryTag)],
) -> (Vec<Recommendation>, Vec<DroppedCandidate>) {
    let contended = |q: &QueryId| {
        tags.iter()
            .any(|(id, t)| id == q && t.tag == tag::CONTENTION)
    };
    let mut kept = Vec::with_capacity(recs.len());
    for r in recs {
        if r.is_index() && !r.query_ids.is_empty() && r.query_ids.iter().all(contended) {
            dropped.push(DroppedCandidate {
                rec_type: r.rec_type,
                target: r.target.clone(),
                query_ids: r.query_ids.clone(),
                reason: "set aside: the query is tagged `contention` — its time goes to lock \
                         waits, which an index does not shorten"
                    .into(),
            });
        } else {
            kept.push(r);
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use optidb_core::model::{Blocker, MetricDelta};
    use std::collections::BTreeMap;

    fn profile(samples: u64, lock: u64) -> WaitProfile {
        WaitProfile {
            query_id: "q".into(),
            captured_at: 10_000,
            first_sample_at: 1_000,
            last_sample_at: 9_000,
            samples,
            cpu: samples - lock,
            lock,
            lock_events: BTreeMap::from([("transactionid".to_string(), lock)]),
            blockers: vec![Blocker {
                application_name: "shop-batch-job".into(),
                query: "SELECT code FROM coupons WHERE valid_until >= $1 FOR UPDATE".into(),
                query_id: Some("abc".into()),
                state: "idle in transaction".into(),
                samples: lock,
                xact_age_ms_mean: 24.6,
                xact_age_ms_max: 31.0,
            }],
            ..Default::default()
        }
    }

    fn metric(at: i64, mean: f64) -> Metric {
        Metric {
            query_id: "q".into(),
            captured_at: at,
            calls: 100,
            total_ms: mean * 100.0,
            mean_ms: mean,
            rows: 100,
            shared_blks_hit: 0,
            shared_blks_read: 0,
            interval: Some(MetricDelta {
                since: at - 1,
                calls: 10,
                total_ms: mean * 10.0,
                mean_ms: mean,
                rows: 10,
                reset_detected: false,
            }),
        }
    }

    #[test]
    fn most_samples_on_a_row_lock_is_contention_naming_the_blocker() {
        let t = judge(&profile(40, 31), None, &[], None).expect("tagged");
        assert_eq!(t.tag, "contention");
        assert_eq!(t.since, Some(1_000));
        assert!(
            t.evidence
                .starts_with("Waits on a row lock (transactionid) in 78% of 40 samples, blocked by shop-batch-job"),
            "{}",
            t.evidence
        );
        assert!(
            t.evidence.contains("transactions open ~25 ms, up to 31 ms"),
            "{}",
            t.evidence
        );
        assert_eq!(t.detail["lock_samples"], 31);
        assert_eq!(t.detail["trigger"], "lock_share");
        let advice = t.detail["advice"].as_array().unwrap();
        let all = advice
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(all.contains("SKIP LOCKED"), "{all}");
        assert!(all.contains("lock_timeout"), "{all}");
        assert!(all.contains("shop-batch-job"), "{all}");
        assert!(!all.to_lowercase().contains("create index"), "{all}");
    }

    #[test]
    fn thresholds_are_the_documented_ones() {
        // 30% of 10 samples: tagged; 29%, or too few samples: not.
        assert!(judge(&profile(10, 3), None, &[], None).is_some());
        assert!(judge(&profile(100, 29), None, &[], None).is_none());
        assert!(judge(&profile(9, 9), None, &[], None).is_none());
        // A query always on CPU is never tagged, whatever its history.
        let steady: Vec<Metric> = (0..5).map(|i| metric(i, 1.0)).collect();
        assert!(judge(
            &profile(500, 0),
            Some(&metric(9, 50.0)),
            &steady,
            Some(true)
        )
        .is_none());
    }

    #[test]
    fn a_mean_that_rose_with_the_same_plan_and_lock_waits_is_contention() {
        let past: Vec<Metric> = (0..4).map(|i| metric(i, 0.05)).collect();
        let now = metric(9, 25.0);
        // 15% of 20 samples on locks: below the share, but the mean rose 500× with the same plan.
        let t = judge(&profile(20, 3), Some(&now), &past, Some(true)).expect("tagged");
        assert_eq!(t.detail["trigger"], "mean_rose_same_plan");
        assert!(
            t.evidence.contains("rose from 0.05 ms to 25.00 ms"),
            "{}",
            t.evidence
        );
        // Not when the plan changed (that is the plan's story), nor without lock waits.
        assert!(judge(&profile(20, 3), Some(&now), &past, Some(false)).is_none());
        assert!(judge(&profile(20, 0), Some(&now), &past, Some(true)).is_none());
        // Nor with too little history to have a baseline.
        assert!(judge(&profile(20, 3), Some(&now), &past[..1], Some(true)).is_none());
    }

    #[test]
    fn index_advice_for_contended_queries_is_set_aside() {
        use optidb_core::model::{RecTarget, RecType};
        let rec = |id: &str, qs: &[&str], t: RecType| Recommendation {
            rec_id: id.into(),
            rec_type: t,
            query_ids: qs.iter().map(|s| s.to_string()).collect(),
            ddl: if t == RecType::Stats {
                "ANALYZE t".into()
            } else {
                "CREATE INDEX ON t (a)".into()
            },
            target: RecTarget {
                table: "t".into(),
                columns: vec!["a".into()],
                using: None,
            },
            rationale: String::new(),
            evidence: vec![],
            confidence: 0.9,
            risk: String::new(),
            score: 1.0,
            verification: None,
            created_at: 0,
        };
        let tags = vec![(
            "q".to_string(),
            judge(&profile(40, 31), None, &[], None).unwrap(),
        )];
        let (kept, dropped) = set_aside_index_advice(
            vec![
                rec("only-q", &["q"], RecType::MissingIndex),
                rec("shared", &["q", "other"], RecType::MissingIndex),
                rec("stats", &["q"], RecType::Stats),
            ],
            vec![],
            &tags,
        );
        let ids: Vec<&str> = kept.iter().map(|r| r.rec_id.as_str()).collect();
        assert_eq!(ids, ["shared", "stats"]);
        assert_eq!(dropped.len(), 1);
        assert!(dropped[0].reason.contains("contention"));
    }
}
