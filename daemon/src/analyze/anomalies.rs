//! Anomalies in time: a query that got slow for one interval (`spike`), stayed slow
//! (`regression`), got a new plan (`plan_changed`) or appeared and went straight to the top
//! (`new`), each judged against a robust baseline of the query's own history, so a finding is
//! a number anyone can check rather than a feeling.
//!
//! # Baselines
//!
//! A query's **interval means** are the `mean_ms` of each scan interval that had calls
//! (deltas of pg_stat_statements' counters; [`Metric::interval`]). Its baseline is the
//! **median** and the **MAD** (median absolute deviation) of the last [`WINDOW`] interval
//! means before the ones being judged — robust: one slow interval moves neither. A value is
//! *high* when it is all of:
//!
//! - above `ratio × median` (2× for a spike, [`REGRESSION_RATIO`] for a regression),
//! - above `median + `[`MAD_K`]` × max(1.4826 × MAD, `[`MAD_FLOOR`]` × median)` (1.4826 × MAD
//!   estimates a standard deviation; the floor keeps a perfectly steady history from making
//!   noise look significant),
//! - at least [`MIN_DELTA_MS`] above the median (sub-millisecond jitter is not a finding).
//!
//! A query needs [`MIN_HISTORY`] intervals for its own baseline. With fewer, a spike is judged
//! against its **family's** baseline: the median and MAD of the medians of the other members
//! that have history (at least [`FAMILY_MIN_MEMBERS`] of them).
//!
//! # Tags
//!
//! - `spike`: this scan's interval mean is high (2×) against the baseline of the intervals
//!   before it, and it is not a regression.
//! - `regression`: the last [`SUSTAIN`] interval means (this scan's included) are all high
//!   ([`REGRESSION_RATIO`]) against the query's own baseline before them: a sustained shift.
//!   Once the new level fills the window, it is the new normal and the tag goes.
//! - `plan_changed`: the generic plan's hash differs from the one before it, and the change was
//!   captured within the last [`PLAN_RECENT`] scans; the evidence says from what to what, and
//!   the interval means around the change.
//! - `new`: first stored within the last [`NEW_SCANS`] scans, not in the first scan OptiDB
//!   kept, and already among the [`NEW_TOP_N`] queries with the most total time.
//!
//! `since` is the captured_at of the first interval that shows the finding.

use optidb_core::family::FamilySet;
use optidb_core::format;
use optidb_core::model::{tag, Metric, Millis, Plan, PlanKind, Query, QueryId, QueryTag};
use optidb_core::time::human;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Interval means in a baseline: the last 30 before the ones judged.
pub const WINDOW: usize = 30;
/// Own intervals a query needs for its own baseline.
pub const MIN_HISTORY: usize = 5;
/// A spike is above 2× the median…
pub const SPIKE_RATIO: f64 = 2.0;
/// … and a regression above 1.5× for [`SUSTAIN`] intervals in a row.
pub const REGRESSION_RATIO: f64 = 1.5;
/// Intervals in a row that make a regression.
pub const SUSTAIN: usize = 3;
/// How many robust standard deviations above the median a high value is.
pub const MAD_K: f64 = 3.0;
/// 1.4826 × MAD estimates the standard deviation of normal data.
pub const MAD_SCALE: f64 = 1.4826;
/// The spread never counts as less than 5% of the median.
pub const MAD_FLOOR: f64 = 0.05;
/// A high value is at least this much above the median: below it, a busy CPU (one preemption
/// is a few ms, spread over an interval's calls) looks like a spike of a fast query.
pub const MIN_DELTA_MS: f64 = 2.0;
/// A plan change stays a finding for this many scans.
pub const PLAN_RECENT: usize = 3;
/// `new`: first stored within this many scans…
pub const NEW_SCANS: usize = 3;
/// … and among this many queries with the most total time.
pub const NEW_TOP_N: usize = 10;
/// Members with history a family baseline needs.
pub const FAMILY_MIN_MEMBERS: usize = 3;

/// The median; `None` for no values. NaNs sort last (they never come from counters).
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The median absolute deviation from the median (unscaled).
pub fn mad(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// A robust baseline: what "normal" is for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub median: f64,
    pub mad: f64,
    /// Values it was computed from.
    pub n: usize,
    /// First and last captured_at of its intervals (for a family: of the members' intervals).
    pub from: Millis,
    pub to: Millis,
    /// `own`, or `family <label>`.
    pub source: String,
}

impl Baseline {
    /// From interval means with their captured_at.
    pub fn of(points: &[(Millis, f64)], source: &str) -> Option<Baseline> {
        let xs: Vec<f64> = points.iter().map(|p| p.1).collect();
        Some(Baseline {
            median: median(&xs)?,
            mad: mad(&xs)?,
            n: xs.len(),
            from: points.iter().map(|p| p.0).min()?,
            to: points.iter().map(|p| p.0).max()?,
            source: source.to_string(),
        })
    }

    /// The robust spread: 1.4826 × MAD, never below [`MAD_FLOOR`] × median.
    pub fn spread(&self) -> f64 {
        (MAD_SCALE * self.mad).max(MAD_FLOOR * self.median)
    }

    /// `median + MAD_K × spread`.
    pub fn threshold(&self) -> f64 {
        self.median + MAD_K * self.spread()
    }

    /// Whether `v` is high against this baseline with `ratio` (see the module docs).
    pub fn is_high(&self, v: f64, ratio: f64) -> bool {
        v > ratio * self.median && v > self.threshold() && v - self.median >= MIN_DELTA_MS
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "median_ms": self.median,
            "mad_ms": self.mad,
            "threshold_ms": self.threshold(),
            "intervals": self.n,
            "from": self.from,
            "to": self.to,
            "source": self.source,
            "window": WINDOW,
        })
    }

    fn words(&self) -> String {
        let whose = if self.source == "own" {
            format!("its last {} intervals", self.n)
        } else {
            format!("{} ({} queries)", self.source, self.n)
        };
        format!(
            "the median {} (MAD {}) of {whose}, {} – {}",
            format::ms(self.median),
            format::ms(self.mad),
            human(self.from),
            human(self.to)
        )
    }
}

/// One query's history, oldest first, this scan's metric and plans included.
#[derive(Debug, Clone)]
pub struct QueryHistory<'a> {
    pub query_id: &'a str,
    pub first_seen: Millis,
    pub metrics: &'a [Metric],
    pub plans: &'a [Plan],
    /// Its rank by total time in this scan (0 = the most).
    pub rank: usize,
    /// Its family's label, when it has one.
    pub family: Option<&'a str>,
}

/// What the detector needs from one scan.
#[derive(Debug, Clone)]
pub struct AnomalyInput<'a> {
    /// This scan's id (its metrics' captured_at).
    pub now: Millis,
    /// Complete scans' ids, oldest first, this one included.
    pub scans: &'a [Millis],
    pub queries: &'a [QueryHistory<'a>],
}

/// The interval means of a history that had calls: `(captured_at, mean_ms)`, oldest first.
pub fn interval_means(metrics: &[Metric]) -> Vec<(Millis, f64)> {
    let mut v: Vec<(Millis, f64)> = metrics
        .iter()
        .filter_map(|m| m.interval_mean().map(|x| (m.captured_at, x)))
        .filter(|(_, x)| x.is_finite())
        .collect();
    v.sort_by_key(|p| p.0);
    v.dedup_by_key(|p| p.0);
    v
}

/// The tags of every query of the scan that has any, by query id.
pub fn detect(input: &AnomalyInput<'_>) -> BTreeMap<QueryId, Vec<QueryTag>> {
    let series: Vec<Vec<(Millis, f64)>> = input
        .queries
        .iter()
        .map(|q| interval_means(q.metrics))
        .collect();
    let mut out = BTreeMap::new();
    for (i, q) in input.queries.iter().enumerate() {
        let mut tags = Vec::new();
        let s = &series[i];
        let regression = regression(input.now, s);
        if let Some(t) = &regression {
            tags.push(t.clone());
        } else if let Some(t) = spike(input, i, s, &series) {
            tags.push(t);
        }
        if let Some(t) = plan_changed(input, q, s) {
            tags.push(t);
        }
        if let Some(t) = new(input, q) {
            tags.push(t);
        }
        if !tags.is_empty() {
            out.insert(q.query_id.to_string(), tags);
        }
    }
    out
}

/// The producer of `spike`, `regression`, `plan_changed` and `new` tags (one of
/// [`super::time::PRODUCERS`]).
pub fn tags(input: &super::time::TimeInput<'_>) -> Vec<(QueryId, QueryTag)> {
    scan_tags(
        input.now,
        input.queries,
        input.metrics,
        input.plans,
        input.past_metrics,
        input.past_plans,
        Some(input.families),
    )
}

/// The anomaly tags of one scan, from what every producer of tags gets: this scan's queries,
/// metrics and plans, and each query's stored metrics and plans before it (oldest first).
/// The scans are the times any query has a metric; a query's first scan is its oldest stored
/// metric; ranks are by this scan's total time; family baselines use `families` (computed
/// from the queries when `None`).
pub fn scan_tags(
    now: Millis,
    queries: &[Query],
    metrics: &[Metric],
    plans: &[Plan],
    past_metrics: &HashMap<QueryId, Vec<Metric>>,
    past_plans: &HashMap<QueryId, Vec<Plan>>,
    families: Option<&FamilySet>,
) -> Vec<(QueryId, QueryTag)> {
    let computed;
    let families = match families {
        Some(f) => f,
        None => {
            computed = super::families::for_scan(now, queries, &Default::default());
            &computed
        }
    };
    let mut scans: Vec<Millis> = past_metrics
        .values()
        .flatten()
        .map(|m| m.captured_at)
        .filter(|at| *at < now)
        .collect();
    scans.push(now);
    scans.sort_unstable();
    scans.dedup();
    let mut order: Vec<&Metric> = metrics.iter().collect();
    order.sort_by(|a, b| {
        b.total_ms
            .total_cmp(&a.total_ms)
            .then(a.query_id.cmp(&b.query_id))
    });
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.query_id.as_str(), i))
        .collect();
    let mut all_metrics: BTreeMap<&str, Vec<Metric>> = BTreeMap::new();
    let mut all_plans: BTreeMap<&str, Vec<Plan>> = BTreeMap::new();
    for q in queries {
        let mut m: Vec<Metric> = past_metrics
            .get(&q.id)
            .map(|v| v.iter().filter(|m| m.captured_at < now).cloned().collect())
            .unwrap_or_default();
        m.extend(metrics.iter().filter(|x| x.query_id == q.id).cloned());
        let mut p: Vec<Plan> = past_plans
            .get(&q.id)
            .map(|v| v.iter().filter(|p| p.captured_at < now).cloned().collect())
            .unwrap_or_default();
        p.extend(plans.iter().filter(|x| x.query_id == q.id).cloned());
        all_metrics.insert(&q.id, m);
        all_plans.insert(&q.id, p);
    }
    let empty_m: Vec<Metric> = Vec::new();
    let empty_p: Vec<Plan> = Vec::new();
    let histories: Vec<QueryHistory<'_>> = queries
        .iter()
        .map(|q| {
            let m = all_metrics.get(q.id.as_str()).unwrap_or(&empty_m);
            QueryHistory {
                query_id: &q.id,
                first_seen: m.first().map(|m| m.captured_at).unwrap_or(now),
                metrics: m,
                plans: all_plans.get(q.id.as_str()).unwrap_or(&empty_p),
                rank: rank.get(q.id.as_str()).copied().unwrap_or(usize::MAX),
                family: families.of(&q.id).map(|f| f.label.as_str()),
            }
        })
        .collect();
    detect(&AnomalyInput {
        now,
        scans: &scans,
        queries: &histories,
    })
    .into_iter()
    .flat_map(|(id, tags)| tags.into_iter().map(move |t| (id.clone(), t)))
    .collect()
}

/// This scan's interval mean, when this scan's interval had calls.
fn current(now: Millis, s: &[(Millis, f64)]) -> Option<(Millis, f64)> {
    s.last().copied().filter(|(at, _)| *at == now)
}

fn points_json(points: &[(Millis, f64)]) -> serde_json::Value {
    points
        .iter()
        .map(|(at, v)| json!({"captured_at": at, "mean_ms": v}))
        .collect()
}

fn spike(
    input: &AnomalyInput<'_>,
    i: usize,
    s: &[(Millis, f64)],
    all: &[Vec<(Millis, f64)>],
) -> Option<QueryTag> {
    let (at, v) = current(input.now, s)?;
    let before = &s[..s.len() - 1];
    let window = &before[before.len().saturating_sub(WINDOW)..];
    let base = if window.len() >= MIN_HISTORY {
        Baseline::of(window, "own")?
    } else {
        family_baseline(input, i, all)?
    };
    if !base.is_high(v, SPIKE_RATIO) {
        return None;
    }
    Some(QueryTag {
        tag: tag::SPIKE.into(),
        evidence: format!(
            "interval mean {} at {} is {:.1}× {}",
            format::ms(v),
            human(at),
            v / base.median.max(f64::MIN_POSITIVE),
            base.words()
        ),
        since: Some(at),
        detail: json!({
            "value_ms": v,
            "captured_at": at,
            "ratio": v / base.median.max(f64::MIN_POSITIVE),
            "baseline": base.json(),
        }),
    })
}

/// The family baseline of query `i`: the median and MAD of the other members' own medians.
fn family_baseline(
    input: &AnomalyInput<'_>,
    i: usize,
    all: &[Vec<(Millis, f64)>],
) -> Option<Baseline> {
    let label = input.queries[i].family?;
    let mut medians: Vec<(Millis, f64)> = Vec::new();
    let mut from = Millis::MAX;
    for (j, q) in input.queries.iter().enumerate() {
        if j == i || q.family != Some(label) {
            continue;
        }
        // The member's intervals before this scan.
        let s: Vec<(Millis, f64)> = all[j]
            .iter()
            .copied()
            .filter(|(at, _)| *at < input.now)
            .collect();
        let s = &s[s.len().saturating_sub(WINDOW)..];
        let xs: Vec<f64> = s.iter().map(|p| p.1).collect();
        if let (Some(m), Some(first), Some(last)) = (median(&xs), s.first(), s.last()) {
            from = from.min(first.0);
            medians.push((last.0, m));
        }
    }
    if medians.len() < FAMILY_MIN_MEMBERS {
        return None;
    }
    let mut b = Baseline::of(&medians, &format!("family {label}"))?;
    b.from = from.min(b.from);
    Some(b)
}

fn regression(now: Millis, s: &[(Millis, f64)]) -> Option<QueryTag> {
    current(now, s)?;
    if s.len() < SUSTAIN + MIN_HISTORY {
        return None;
    }
    let (before, recent) = s.split_at(s.len() - SUSTAIN);
    let window = &before[before.len().saturating_sub(WINDOW)..];
    let base = Baseline::of(window, "own")?;
    if !recent
        .iter()
        .all(|(_, v)| base.is_high(*v, REGRESSION_RATIO))
    {
        return None;
    }
    let recent_median = median(&recent.iter().map(|p| p.1).collect::<Vec<_>>())?;
    let since = recent.first()?.0;
    Some(QueryTag {
        tag: tag::REGRESSION.into(),
        evidence: format!(
            "the last {SUSTAIN} interval means (median {}, since {}) all stay above {:.1}× {}",
            format::ms(recent_median),
            human(since),
            REGRESSION_RATIO,
            base.words()
        ),
        since: Some(since),
        detail: json!({
            "recent": points_json(recent),
            "recent_median_ms": recent_median,
            "ratio": recent_median / base.median.max(f64::MIN_POSITIVE),
            "baseline": base.json(),
        }),
    })
}

/// A plan in a few words: the indexes it uses and the tables it scans sequentially.
pub fn describe_plan(p: &Plan) -> String {
    let f = &p.facts;
    let mut parts = Vec::new();
    if !f.indexes_used.is_empty() {
        parts.push(format!("index {}", f.indexes_used.join(", ")));
    }
    let seq: Vec<&str> = f.seq_scans.iter().map(|s| s.table.as_str()).collect();
    if !seq.is_empty() {
        parts.push(format!("Seq Scan on {}", seq.join(", ")));
    }
    if parts.is_empty() {
        parts.push(
            f.node_types
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" › "),
        );
    }
    let what = parts.join(" + ");
    let hash: String = p.plan_hash.chars().take(8).collect();
    if what.is_empty() {
        format!("plan {hash}")
    } else {
        format!("{what} (plan {hash})")
    }
}

fn plan_changed(
    input: &AnomalyInput<'_>,
    q: &QueryHistory<'_>,
    s: &[(Millis, f64)],
) -> Option<QueryTag> {
    let mut generic: Vec<&Plan> = q
        .plans
        .iter()
        .filter(|p| p.kind == PlanKind::Generic && !p.plan_hash.is_empty())
        .collect();
    generic.sort_by_key(|p| p.captured_at);
    // The newest change: the last plan whose hash differs from the one before it.
    let (before, after) = generic
        .windows(2)
        .rev()
        .find(|w| w[0].plan_hash != w[1].plan_hash)
        .map(|w| (w[0], w[1]))?;
    // Recent: captured within the last PLAN_RECENT scans.
    let recent_from = input
        .scans
        .len()
        .checked_sub(PLAN_RECENT)
        .and_then(|i| input.scans.get(i))
        .copied()
        .unwrap_or(Millis::MIN);
    if after.captured_at < recent_from {
        return None;
    }
    let mean_before = s
        .iter()
        .rev()
        .find(|(at, _)| *at <= before.captured_at)
        .map(|p| p.1);
    let mean_after = s
        .iter()
        .find(|(at, _)| *at >= after.captured_at)
        .map(|p| p.1);
    let means = match (mean_before, mean_after) {
        (Some(b), Some(a)) => format!(
            "; interval mean {} before, {} after",
            format::ms(b),
            format::ms(a)
        ),
        _ => String::new(),
    };
    Some(QueryTag {
        tag: tag::PLAN_CHANGED.into(),
        evidence: format!(
            "the generic plan changed at {}: {} → {}{means}",
            human(after.captured_at),
            describe_plan(before),
            describe_plan(after)
        ),
        since: Some(after.captured_at),
        detail: json!({
            "from_hash": before.plan_hash,
            "to_hash": after.plan_hash,
            "from": describe_plan(before),
            "to": describe_plan(after),
            "from_captured_at": before.captured_at,
            "to_captured_at": after.captured_at,
            "mean_before_ms": mean_before,
            "mean_after_ms": mean_after,
            "from_cost": before.facts.total_cost,
            "to_cost": after.facts.total_cost,
        }),
    })
}

fn new(input: &AnomalyInput<'_>, q: &QueryHistory<'_>) -> Option<QueryTag> {
    if q.rank >= NEW_TOP_N || input.scans.len() <= NEW_SCANS {
        return None;
    }
    let first_scan = *input.scans.first()?;
    let window_from = input.scans[input.scans.len() - NEW_SCANS];
    if q.first_seen <= first_scan || q.first_seen < window_from {
        return None;
    }
    let scans_ago = input
        .scans
        .iter()
        .filter(|s| **s > q.first_seen && **s <= input.now)
        .count();
    let m = q.metrics.last()?;
    Some(QueryTag {
        tag: tag::NEW.into(),
        evidence: format!(
            "first seen at {} ({scans_ago} scans ago) and already #{} by total time ({} over {} calls)",
            human(q.first_seen),
            q.rank + 1,
            format::ms(m.total_ms),
            m.calls
        ),
        since: Some(q.first_seen),
        detail: json!({
            "first_seen": q.first_seen,
            "scans_ago": scans_ago,
            "rank": q.rank + 1,
            "top_n": NEW_TOP_N,
            "total_ms": m.total_ms,
            "calls": m.calls,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use optidb_core::model::{MetricDelta, PlanFacts};

    const T0: Millis = 1_700_000_000_000;
    const STEP: Millis = 60_000;

    fn metric(i: usize, mean: Option<f64>) -> Metric {
        let at = T0 + i as Millis * STEP;
        Metric {
            query_id: "q".into(),
            captured_at: at,
            calls: 100,
            total_ms: 100.0,
            mean_ms: 1.0,
            rows: 0,
            shared_blks_hit: 0,
            shared_blks_read: 0,
            interval: mean.map(|m| MetricDelta {
                since: at - STEP,
                calls: 10,
                total_ms: m * 10.0,
                mean_ms: m,
                rows: 0,
                reset_detected: false,
            }),
        }
    }

    fn history(means: &[f64]) -> Vec<Metric> {
        means
            .iter()
            .enumerate()
            .map(|(i, m)| metric(i, Some(*m)))
            .collect()
    }

    fn scans(n: usize) -> Vec<Millis> {
        (0..n).map(|i| T0 + i as Millis * STEP).collect()
    }

    fn plan(i: usize, hash: &str, index: Option<&str>, seq: Option<&str>) -> Plan {
        Plan {
            query_id: "q".into(),
            captured_at: T0 + i as Millis * STEP,
            kind: PlanKind::Generic,
            plan_hash: hash.into(),
            plan_json: serde_json::Value::Null,
            facts: PlanFacts {
                indexes_used: index.map(|s| vec![s.to_string()]).unwrap_or_default(),
                seq_scans: seq
                    .map(|t| {
                        vec![optidb_core::model::SeqScanFact {
                            table: t.into(),
                            est_rows: 1.0,
                            act_rows: None,
                            rows_removed_by_filter: None,
                            table_rows_est: None,
                            table_bytes: None,
                        }]
                    })
                    .unwrap_or_default(),
                ..Default::default()
            },
        }
    }

    fn tags_of(metrics: &[Metric], plans: &[Plan], first_seen: Millis, rank: usize) -> Vec<String> {
        let n = metrics.len();
        let scans = scans(n);
        let q = [QueryHistory {
            query_id: "q",
            first_seen,
            metrics,
            plans,
            rank,
            family: None,
        }];
        let out = detect(&AnomalyInput {
            now: T0 + (n as Millis - 1) * STEP,
            scans: &scans,
            queries: &q,
        });
        out.get("q")
            .map(|v| v.iter().map(|t| t.tag.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn median_and_mad_of_literal_inputs() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        // One wild value moves neither the median nor the MAD.
        assert_eq!(median(&[1.0, 1.1, 0.9, 1.0, 500.0]), Some(1.0));
        let m = mad(&[1.0, 1.1, 0.9, 1.0, 500.0]).unwrap();
        assert!((m - 0.1).abs() < 1e-12, "{m}");
        assert_eq!(mad(&[2.0, 2.0, 2.0]), Some(0.0));
        // Deviations 1, 1, 0, 2, 7 → MAD 1 around the median 2 (1, 3, 2, 4, 9).
        assert_eq!(mad(&[1.0, 3.0, 2.0, 4.0, 9.0]), Some(1.0));
    }

    #[test]
    fn baseline_thresholds() {
        let pts: Vec<(Millis, f64)> = [10.0, 11.0, 9.0, 10.0, 10.5]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as Millis, *v))
            .collect();
        let b = Baseline::of(&pts, "own").unwrap();
        assert_eq!(b.median, 10.0);
        assert_eq!(b.mad, 0.5);
        assert!((b.spread() - 0.7413).abs() < 1e-9);
        assert!((b.threshold() - (10.0 + 3.0 * 0.7413)).abs() < 1e-9);
        assert!(b.is_high(20.5, SPIKE_RATIO));
        assert!(!b.is_high(19.9, SPIKE_RATIO), "not above 2× the median");
        assert!(b.is_high(15.1, REGRESSION_RATIO));
        // A perfectly steady history: the spread floor (5% of the median) applies.
        let b = Baseline::of(&[(0, 4.0), (1, 4.0), (2, 4.0)], "own").unwrap();
        assert_eq!(b.mad, 0.0);
        assert!((b.threshold() - 4.6).abs() < 1e-9);
        // Sub-millisecond queries need to be at least MIN_DELTA_MS slower.
        let b = Baseline::of(&[(0, 0.05), (1, 0.05), (2, 0.06)], "own").unwrap();
        assert!(!b.is_high(0.5, SPIKE_RATIO));
        assert!(!b.is_high(1.9, SPIKE_RATIO));
        assert!(b.is_high(2.2, SPIKE_RATIO));
    }

    #[test]
    fn a_spike_is_one_high_interval() {
        let mut means = vec![10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 9.8];
        means.push(45.0);
        assert_eq!(tags_of(&history(&means), &[], T0, 50), vec!["spike"]);
        // 1.9× is not a spike.
        let mut means = vec![10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 9.8];
        means.push(19.0);
        assert!(tags_of(&history(&means), &[], T0, 50).is_empty());
        // Too little history of its own and no family: nothing is judged.
        assert!(tags_of(&history(&[10.0, 10.0, 90.0]), &[], T0, 50).is_empty());
        // No calls in this interval: nothing to judge.
        let mut m = history(&[10.0, 11.0, 9.0, 10.0, 10.5, 10.2]);
        m.push(metric(6, None));
        assert!(tags_of(&m, &[], T0, 50).is_empty());
    }

    #[test]
    fn evidence_carries_numbers_window_and_times() {
        let means = [10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 9.8, 45.0];
        let metrics = history(&means);
        let s = scans(8);
        let q = [QueryHistory {
            query_id: "q",
            first_seen: T0,
            metrics: &metrics,
            plans: &[],
            rank: 0,
            family: None,
        }];
        let out = detect(&AnomalyInput {
            now: s[7],
            scans: &s,
            queries: &q,
        });
        let t = &out["q"][0];
        assert_eq!(t.since, Some(s[7]));
        assert!(t.evidence.contains("45.0 ms"), "{}", t.evidence);
        assert!(t.evidence.contains("4.5×"), "{}", t.evidence);
        assert!(t.evidence.contains("last 7 intervals"), "{}", t.evidence);
        assert_eq!(t.detail["baseline"]["median_ms"], 10.0);
        assert_eq!(t.detail["baseline"]["intervals"], 7);
        assert_eq!(t.detail["baseline"]["from"], s[0]);
        assert_eq!(t.detail["captured_at"], s[7]);
    }

    #[test]
    fn a_regression_is_a_sustained_shift_and_not_a_spike() {
        let means = [10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 25.0, 26.0, 24.0];
        let metrics = history(&means);
        assert_eq!(tags_of(&metrics, &[], T0, 50), vec!["regression"]);
        // Two high intervals are not yet a regression, but the last one is a spike.
        let means = [10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 10.0, 26.0, 24.0];
        assert_eq!(tags_of(&history(&means), &[], T0, 50), vec!["spike"]);
        // A dip in between breaks it.
        let means = [10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 25.0, 10.0, 24.0];
        assert_eq!(tags_of(&history(&means), &[], T0, 50), vec!["spike"]);
    }

    #[test]
    fn steady_and_noisy_histories_are_never_tagged() {
        // ±30% noise around 10 ms over 40 intervals: no interval is ever tagged.
        let noise = [
            1.0, 1.2, 0.8, 1.1, 0.9, 1.3, 0.7, 1.0, 1.05, 0.95, 1.25, 0.75, 1.0, 1.1, 0.9,
        ];
        let means: Vec<f64> = (0..40).map(|i| 10.0 * noise[i % noise.len()]).collect();
        for n in 1..=means.len() {
            let t = tags_of(&history(&means[..n]), &[], T0, 50);
            assert!(t.is_empty(), "interval {n}: {t:?}");
        }
        // Sub-millisecond jitter, even 5×, is not a finding.
        let means = [0.02, 0.02, 0.03, 0.02, 0.02, 0.02, 0.1, 0.1, 0.1];
        assert!(tags_of(&history(&means), &[], T0, 50).is_empty());
    }

    #[test]
    fn plan_changed_says_from_what_to_what_and_fades() {
        let means = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 30.0, 31.0, 29.0];
        let metrics = history(&means);
        let mut plans: Vec<Plan> = (0..6)
            .map(|i| plan(i, "aaaa1111", Some("orders_status_idx"), None))
            .collect();
        plans.extend((6..9).map(|i| plan(i, "bbbb2222", None, Some("orders"))));
        let n = metrics.len();
        let s = scans(n);
        let q = [QueryHistory {
            query_id: "q",
            first_seen: T0,
            metrics: &metrics,
            plans: &plans,
            rank: 0,
            family: None,
        }];
        let out = detect(&AnomalyInput {
            now: s[n - 1],
            scans: &s,
            queries: &q,
        });
        let tags: Vec<&str> = out["q"].iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(tags, vec!["regression", "plan_changed"]);
        let pc = &out["q"][1];
        assert_eq!(pc.since, Some(s[6]));
        assert!(
            pc.evidence.contains(
                "index orders_status_idx (plan aaaa1111) → Seq Scan on orders (plan bbbb2222)"
            ),
            "{}",
            pc.evidence
        );
        assert!(
            pc.evidence.contains("1.00 ms before, 30.0 ms after"),
            "{}",
            pc.evidence
        );
        assert_eq!(pc.detail["from_hash"], "aaaa1111");
        assert_eq!(pc.detail["to_hash"], "bbbb2222");
        // Three scans later the change is old news.
        let mut plans2 = plans.clone();
        plans2.extend((9..12).map(|i| plan(i, "bbbb2222", None, Some("orders"))));
        let metrics2 = history(&[1.0; 12]);
        let t = tags_of(&metrics2, &plans2, T0, 50);
        assert!(!t.contains(&"plan_changed".to_string()), "{t:?}");
        // The same plan all along: nothing.
        let same: Vec<Plan> = (0..9).map(|i| plan(i, "aaaa1111", None, None)).collect();
        assert!(tags_of(&history(&[1.0; 9]), &same, T0, 50).is_empty());
    }

    #[test]
    fn new_means_recent_and_already_on_top() {
        let metrics = history(&[5.0, 5.0]);
        // Eight scans; first seen at scan 6 (two scans ago), rank 3.
        let s = scans(8);
        let first_seen = s[6];
        let mut m = metrics.clone();
        m[0].captured_at = s[6];
        m[1].captured_at = s[7];
        let q = [QueryHistory {
            query_id: "q",
            first_seen,
            metrics: &m,
            plans: &[],
            rank: 2,
            family: None,
        }];
        let input = AnomalyInput {
            now: s[7],
            scans: &s,
            queries: &q,
        };
        let out = detect(&input);
        assert_eq!(out["q"][0].tag, "new");
        assert!(out["q"][0].evidence.contains("#3 by total time"));
        assert_eq!(out["q"][0].since, Some(s[6]));
        // Not on top: not news.
        let q2 = [QueryHistory {
            rank: 10,
            ..q[0].clone()
        }];
        assert!(detect(&AnomalyInput {
            queries: &q2,
            ..input.clone()
        })
        .is_empty());
        // Seen since the first scan: not new.
        let q3 = [QueryHistory {
            first_seen: s[0],
            ..q[0].clone()
        }];
        assert!(detect(&AnomalyInput {
            queries: &q3,
            ..input.clone()
        })
        .is_empty());
        // First seen four scans ago: not new any more.
        let q4 = [QueryHistory {
            first_seen: s[3],
            ..q[0].clone()
        }];
        assert!(detect(&AnomalyInput {
            queries: &q4,
            ..input.clone()
        })
        .is_empty());
        // The first scans of a fresh daemon: everything is "first seen", nothing is new.
        let s2 = scans(2);
        let q5 = [QueryHistory {
            first_seen: s2[1],
            ..q[0].clone()
        }];
        assert!(detect(&AnomalyInput {
            now: s2[1],
            scans: &s2,
            queries: &q5
        })
        .is_empty());
    }

    #[test]
    fn scan_tags_joins_the_stored_history_with_this_scan() {
        let means = [10.0, 11.0, 9.0, 10.0, 10.5, 10.2, 9.8, 45.0];
        let all = history(&means);
        let now = all[7].captured_at;
        let past = HashMap::from([("q".to_string(), all[..7].to_vec())]);
        let q = Query {
            id: "q".into(),
            fingerprint: "q".into(),
            raw_sql: "SELECT 1 FROM t WHERE a = $1".into(),
            raw_has_values: false,
            norm_sql: "SELECT 1 FROM t WHERE a = $1".into(),
            first_seen: now,
            last_seen: now,
            pgss_queryids: vec![],
        };
        let tags = scan_tags(now, &[q], &all[7..], &[], &past, &HashMap::new(), None);
        assert_eq!(tags.len(), 1, "{tags:?}");
        assert_eq!(tags[0].0, "q");
        assert_eq!(tags[0].1.tag, "spike");
        assert_eq!(tags[0].1.detail["baseline"]["intervals"], 7);
    }

    #[test]
    fn a_query_without_history_is_judged_by_its_family() {
        let steady: Vec<Metric> = history(&[10.0, 11.0, 9.0, 10.0, 10.0, 10.0]);
        let steady2: Vec<Metric> = history(&[12.0, 12.0, 12.0, 12.0, 12.0, 12.0]);
        let steady3: Vec<Metric> = history(&[8.0, 8.0, 9.0, 8.0, 8.0, 8.0]);
        // The newcomer: two intervals, the last at 60 ms.
        let mut young = vec![metric(4, Some(9.0)), metric(5, Some(60.0))];
        young[0].query_id = "y".into();
        let s = scans(6);
        let mk = |id: &'static str, m: &'static [Metric]| QueryHistory {
            query_id: id,
            first_seen: T0,
            metrics: m,
            plans: &[],
            rank: 50,
            family: Some("orders_eq_status"),
        };
        let steady: &'static [Metric] = Box::leak(steady.into_boxed_slice());
        let steady2: &'static [Metric] = Box::leak(steady2.into_boxed_slice());
        let steady3: &'static [Metric] = Box::leak(steady3.into_boxed_slice());
        let young: &'static [Metric] = Box::leak(young.into_boxed_slice());
        let qs = [
            mk("a", steady),
            mk("b", steady2),
            mk("c", steady3),
            mk("y", young),
        ];
        let out = detect(&AnomalyInput {
            now: s[5],
            scans: &s,
            queries: &qs,
        });
        let t = &out["y"][0];
        assert_eq!(t.tag, "spike");
        assert_eq!(t.detail["baseline"]["source"], "family orders_eq_status");
        assert_eq!(t.detail["baseline"]["median_ms"], 10.0);
        assert!(
            t.evidence.contains("family orders_eq_status (3 queries)"),
            "{}",
            t.evidence
        );
        assert_eq!(out.len(), 1, "{out:?}");
        // Without enough family members, nothing is judged.
        let out = detect(&AnomalyInput {
            now: s[5],
            scans: &s,
            queries: &qs[1..],
        });
        assert!(out.is_empty(), "{out:?}");
    }
}
