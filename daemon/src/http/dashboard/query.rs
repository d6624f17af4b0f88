//! The query page: metrics with a chart, the plan tree and its facts, recommendations and
//! simulations of one query.

use super::super::error::ApiError;
use super::render::*;
use crate::analyze::plan_facts::{walk_nodes, TableSizes};
use crate::app::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use optidb_core::model::{Metric, Plan, Recommendation, Simulation};
use std::sync::Arc;

/// The SVG chart of mean_ms over time, computed here (no JS charting).
pub(super) struct Chart {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) polyline: String,
    pub(super) dots: Vec<ChartDot>,
    pub(super) y_max: String,
    pub(super) y_mid: String,
    pub(super) x_first: String,
    pub(super) x_last: String,
    /// Plot area, for the axes.
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) top: f64,
    pub(super) bottom: f64,
    pub(super) mid_y: f64,
}

pub(super) struct ChartDot {
    pub(super) x: String,
    pub(super) y: String,
    pub(super) title: String,
}

pub(super) fn metric_mean(m: &Metric) -> f64 {
    m.recent_mean()
}

pub(super) fn chart(metrics: &[Metric]) -> Option<Chart> {
    let points: Vec<(i64, f64)> = metrics
        .iter()
        .map(|m| (m.captured_at, metric_mean(m)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if points.is_empty() {
        return None;
    }
    let (width, height) = (640u32, 180u32);
    let (left, right, top, bottom) = (
        64.0,
        f64::from(width) - 12.0,
        12.0,
        f64::from(height) - 28.0,
    );
    let t0 = points.iter().map(|p| p.0).min().unwrap_or(0);
    let t1 = points.iter().map(|p| p.0).max().unwrap_or(0);
    let vmax = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let ymax = if vmax > 0.0 { vmax * 1.1 } else { 1.0 };
    let x = |t: i64| {
        if t1 == t0 {
            (left + right) / 2.0
        } else {
            left + (right - left) * (t - t0) as f64 / (t1 - t0) as f64
        }
    };
    let y = |v: f64| bottom - (bottom - top) * (v / ymax).clamp(0.0, 1.0);
    let coords: Vec<(f64, f64)> = points.iter().map(|&(t, v)| (x(t), y(v))).collect();
    let polyline = coords
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let dots = coords
        .iter()
        .zip(&points)
        .map(|((x, y), (t, v))| ChartDot {
            x: format!("{x:.1}"),
            y: format!("{y:.1}"),
            title: format!("{} at {}", fmt_ms(*v), fmt_time(*t)),
        })
        .collect();
    Some(Chart {
        width,
        height,
        polyline,
        dots,
        y_max: fmt_ms(ymax),
        y_mid: fmt_ms(ymax / 2.0),
        x_first: fmt_time(t0),
        x_last: fmt_time(t1),
        left,
        right,
        top,
        bottom,
        mid_y: (top + bottom) / 2.0,
    })
}

/// One node of the plan tree, flattened with its depth.
pub(super) struct PlanRow {
    pub(super) depth: usize,
    pub(super) label: String,
    pub(super) class: &'static str,
    pub(super) figures: String,
    pub(super) details: Vec<String>,
}

pub(super) fn plan_rows(plan: &Plan, tables: &TableSizes) -> Vec<PlanRow> {
    walk_nodes(&plan.plan_json)
        .map(|n| {
            let node_type = n.str("Node Type").unwrap_or("");
            let class = if node_type == "Seq Scan" {
                "bad"
            } else if node_type.contains("Index") {
                "good"
            } else {
                "neutral"
            };
            let mut figures = Vec::new();
            if let Some(c) = n.total_cost() {
                figures.push(format!("cost {c:.1}"));
            }
            if let Some(r) = n.est_rows() {
                figures.push(format!("est {} rows", group(r)));
            }
            if let Some(r) = n.actual_rows_per_loop() {
                let loops = n.loops().unwrap_or(1.0);
                if loops > 1.0 {
                    figures.push(format!("act {} rows × {} loops", group(r), group(loops)));
                } else {
                    figures.push(format!("act {} rows", group(r)));
                }
            }
            if let Some(t) = n.num("Actual Total Time") {
                figures.push(format!("{} ", fmt_ms(t)).trim_end().to_string());
            }
            let mut details = Vec::new();
            for key in [
                "Index Cond",
                "Recheck Cond",
                "Hash Cond",
                "Merge Cond",
                "Join Filter",
                "Filter",
            ] {
                if let Some(v) = n.str(key) {
                    details.push(format!("{key}: {v}"));
                }
            }
            if let Some(keys) = n.json.get("Sort Key").and_then(|v| v.as_array()) {
                let keys: Vec<&str> = keys.iter().filter_map(|k| k.as_str()).collect();
                details.push(format!("Sort Key: {}", keys.join(", ")));
            }
            if let Some(r) = n.num("Rows Removed by Filter") {
                details.push(format!("Rows Removed by Filter: {}", group(r)));
            }
            PlanRow {
                depth: n.depth.min(12),
                label: n.label(tables),
                class,
                figures: figures.join(" · "),
                details,
            }
        })
        .collect()
}

pub(super) fn fact_chips(plan: &Plan) -> Vec<Badge> {
    let f = &plan.facts;
    let mut chips = Vec::new();
    for s in &f.seq_scans {
        let size = s
            .table_rows_est
            .map(|r| format!(" (≈{} rows)", group(r)))
            .unwrap_or_default();
        chips.push(Badge::new(
            "bad",
            format!("Seq Scan on {}{size}", s.table),
            "reads the whole table",
        ));
    }
    for i in &f.indexes_used {
        chips.push(Badge::new(
            "good",
            format!("Index: {i}"),
            "the plan uses this index",
        ));
    }
    if !f.had_seq_scan && f.indexes_used.is_empty() {
        chips.push(Badge::new(
            "neutral",
            "no Seq Scan",
            "no sequential scan in this plan",
        ));
    }
    let act = f.act_rows.map(group).unwrap_or_else(|| "–".into());
    chips.push(Badge::new(
        "neutral",
        format!("est {} vs act {act} rows", group(f.est_rows)),
        "the planner's estimate at the root against what ran (EXPLAIN ANALYZE only)",
    ));
    if let Some(skew) = f.max_row_skew.filter(|s| *s >= 10.0) {
        let at = f.max_row_skew_node.clone().unwrap_or_default();
        chips.push(Badge::new(
            "warn",
            format!("row estimate off ×{skew:.0}"),
            at,
        ));
    }
    let mut joins = f.join_types.clone();
    joins.dedup();
    for j in joins {
        chips.push(Badge::new("neutral", j, "join type"));
    }
    for k in &f.sort_keys {
        chips.push(Badge::new("neutral", format!("Sort: {k}"), "sort key"));
    }
    for flt in &f.filters {
        let col = match &flt.table {
            Some(t) => format!("{t}.{}", flt.column),
            None => flt.column.clone(),
        };
        chips.push(Badge::new(
            "neutral",
            format!("{}: {col} {}", flt.source, flt.operator),
            "filter",
        ));
    }
    if let Some(ms) = f.execution_ms {
        chips.push(Badge::new(
            "neutral",
            format!("executed in {}", fmt_ms(ms)),
            "EXPLAIN ANALYZE execution time",
        ));
    }
    chips.push(Badge::new(
        "neutral",
        format!("cost {:.1}", f.total_cost),
        "planner's total cost",
    ));
    chips
}

pub(super) struct EvidenceView {
    pub(super) source: String,
    pub(super) text: String,
    pub(super) at: Option<String>,
}

pub(super) struct RecView {
    pub(super) rec_id: String,
    pub(super) dom_id: String,
    pub(super) kind: &'static str,
    pub(super) ddl: String,
    pub(super) rationale: String,
    pub(super) badges: Vec<Badge>,
    pub(super) risk: String,
    pub(super) evidence: Vec<EvidenceView>,
    pub(super) verification: Option<String>,
    pub(super) can_simulate: bool,
}

pub(super) fn rec_view(r: &Recommendation) -> RecView {
    let mut badges = vec![confidence_badge(r.confidence)];
    badges.extend(risk_badge(&r.risk));
    RecView {
        rec_id: r.rec_id.clone(),
        dom_id: r
            .rec_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect(),
        kind: r.rec_type.as_str(),
        ddl: r.ddl.clone(),
        rationale: r.rationale.clone(),
        badges,
        risk: r.risk.clone(),
        evidence: r
            .evidence
            .iter()
            .map(|e| EvidenceView {
                source: e.source.clone(),
                text: e.text.clone(),
                at: e.captured_at.map(fmt_time),
            })
            .collect(),
        verification: r.verification.as_ref().map(|v| {
            format!(
                "hypopg check: cost {:.1} → {:.1} ({:.0}% less){}{}",
                v.before_cost,
                v.after_cost,
                v.improvement_pct,
                if v.index_used {
                    ", index used"
                } else {
                    ", index NOT used"
                },
                v.index_bytes
                    .map(|b| format!(", ≈{} kB", group(b as f64 / 1024.0)))
                    .unwrap_or_default()
            )
        }),
        can_simulate: r.is_index(),
    }
}

pub(super) struct SimView {
    pub(super) ran_at: String,
    pub(super) mode: String,
    pub(super) before: String,
    pub(super) after: String,
    pub(super) after_is_estimate: bool,
    pub(super) delta: String,
    pub(super) improvement: String,
    pub(super) class: &'static str,
    pub(super) changes: Vec<String>,
    pub(super) index_used: bool,
    pub(super) costs: String,
}

pub(super) fn sim_view(s: &Simulation) -> SimView {
    let delta_pct = if s.before_ms > 0.0 {
        (s.after_ms - s.before_ms) / s.before_ms * 100.0
    } else {
        0.0
    };
    SimView {
        ran_at: fmt_time(s.ran_at),
        mode: s.mode.clone(),
        before: fmt_ms(s.before_ms),
        after: fmt_ms(s.after_ms),
        after_is_estimate: s.after_is_estimate,
        delta: format!("{delta_pct:+.1}%"),
        improvement: format!("{:.1}", s.improvement_pct),
        class: if s.improvement_pct >= 10.0 {
            "good"
        } else if s.improvement_pct > 0.0 {
            "warn"
        } else {
            "neutral"
        },
        changes: s.plan_changes.clone(),
        index_used: s.index_used,
        costs: format!("cost {:.1} → {:.1}", s.before_cost, s.after_cost),
    }
}

#[derive(Template)]
#[template(path = "query.html")]
pub(super) struct QueryPage {
    pub(super) meta: Meta,
    pub(super) id: String,
    pub(super) query: String,
    pub(super) raw_sample: Option<String>,
    pub(super) first_seen: String,
    pub(super) last_seen: String,
    pub(super) stats: Vec<(&'static str, String)>,
    pub(super) chart: Option<Chart>,
    pub(super) plan_caption: Option<String>,
    pub(super) facts: Vec<Badge>,
    pub(super) plan_rows: Vec<PlanRow>,
    pub(super) plan_json: String,
    pub(super) plan_errors: Vec<String>,
    pub(super) recs: Vec<RecView>,
    pub(super) sims: Vec<SimView>,
    /// Findings in time of the latest scan.
    pub(super) tags: Vec<TagView>,
    /// The latest scan's wait profile.
    pub(super) waits: Option<WaitsView>,
    /// Its family (label, size) in the latest scan.
    pub(super) family: Option<(String, usize)>,
}

/// A tag as the query page shows it.
pub(super) struct TagView {
    pub(super) tag: String,
    pub(super) evidence: String,
    pub(super) since: String,
    pub(super) advice: Vec<String>,
}

/// A wait profile as a stacked bar: (css class, label, percent) per class.
pub(super) struct WaitsView {
    pub(super) parts: Vec<(&'static str, String, String)>,
    pub(super) samples: u64,
    pub(super) window: String,
    pub(super) headline: Option<String>,
    /// "2× ShareLock on transactionid" …
    pub(super) locks: Vec<String>,
    /// One line per blocker.
    pub(super) blockers: Vec<String>,
}

fn tag_view(t: &optidb_core::model::QueryTag) -> TagView {
    TagView {
        tag: t.tag.clone(),
        evidence: t.evidence.clone(),
        since: t.since.map(fmt_time).unwrap_or_default(),
        advice: t.detail["advice"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
    }
}

fn waits_view(w: &optidb_core::model::WaitProfile) -> WaitsView {
    let class = |label: &str| -> &'static str {
        match label.split(' ').next().unwrap_or("") {
            "CPU" => "w-cpu",
            "Lock" => "w-lock",
            "LWLock" => "w-lwlock",
            "IO" => "w-io",
            "IPC" => "w-ipc",
            "Client" => "w-client",
            _ => "w-other",
        }
    };
    WaitsView {
        parts: w
            .shares()
            .into_iter()
            .map(|(label, share)| (class(&label), label, format!("{:.1}", share * 100.0)))
            .collect(),
        samples: w.samples,
        window: format!(
            "{} – {}",
            fmt_time(w.first_sample_at),
            fmt_time(w.last_sample_at)
        ),
        headline: w.lock_headline(),
        locks: w
            .locks
            .iter()
            .map(|l| {
                format!(
                    "{} × {} on {}{}",
                    l.samples,
                    l.mode,
                    l.locktype,
                    l.relation
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            })
            .collect(),
        blockers: w
            .blockers
            .iter()
            .map(|b| {
                format!(
                    "{} — {} ({}), in {} samples, transactions open ~{:.0} ms (max {:.0} ms)",
                    if b.application_name.is_empty() {
                        "(no application_name)"
                    } else {
                        b.application_name.as_str()
                    },
                    optidb_core::format::one_line(&b.query, 120),
                    b.state,
                    b.samples,
                    b.xact_age_ms_mean,
                    b.xact_age_ms_max
                )
            })
            .collect(),
    }
}

/// `GET /ui/queries/{id}`: one query: metrics, chart, plan, recommendations, simulations.
#[tracing::instrument(level = "debug", skip(state))]
pub(super) async fn query_page(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = super::super::error::check_query_id(&id) {
        return error_page(&state, e).await;
    }
    let store = state.store.clone();
    let target = state.target_id.clone();
    let qid = id.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let Some(detail) = super::super::views::query_detail(&store, &target, &qid)? else {
            return Ok(None);
        };
        let tables = store
            .schema(&target)?
            .map(|s| TableSizes::from_tables(&s.tables))
            .unwrap_or_default();
        Ok::<_, crate::store::StoreError>(Some((detail, tables)))
    })
    .await;
    let (
        super::super::views::QueryDetail {
            query: q,
            metrics,
            plans,
            plan_errors,
            recommendations: mut recs,
            simulations: sims,
            tags,
            waits,
            family,
            ..
        },
        tables,
    ) = match loaded {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) => {
            let e = ApiError::unknown_query();
            return error_page(&state, e).await;
        }
        Ok(Err(e)) => return error_page(&state, ApiError::internal(e)).await,
        Err(e) => return error_page(&state, ApiError::internal(e)).await,
    };
    recs.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.score.total_cmp(&a.score))
    });
    let plan = optidb_core::model::best_plan(&plans);
    let mut stats = Vec::new();
    if let Some(m) = metrics.last() {
        stats.push(("mean", fmt_ms(m.mean_ms)));
        if let Some(i) = m.interval.as_ref().filter(|i| i.calls > 0) {
            stats.push(("mean (last interval)", fmt_ms(i.mean_ms)));
            stats.push(("calls (last interval)", group(i.calls as f64)));
        }
        stats.push(("calls", group(m.calls as f64)));
        stats.push(("total", fmt_ms(m.total_ms)));
        stats.push(("rows", group(m.rows as f64)));
        let blks = m.shared_blks_hit + m.shared_blks_read;
        if blks > 0 {
            stats.push((
                "cache hit",
                format!("{:.1}%", m.shared_blks_hit as f64 * 100.0 / blks as f64),
            ));
        }
        stats.push(("snapshots", metrics.len().to_string()));
    }
    let page = QueryPage {
        meta: meta(&state, format!("Query {id}")).await,
        raw_sample: (q.raw_has_values && q.raw_sql != q.norm_sql).then(|| q.raw_sql.clone()),
        first_seen: fmt_time(q.first_seen),
        last_seen: fmt_time(q.last_seen),
        query: q.norm_sql.clone(),
        stats,
        chart: chart(&metrics),
        plan_caption: plan.map(|p| {
            format!(
                "{} plan captured {}",
                p.kind.caption(),
                fmt_time(p.captured_at)
            )
        }),
        facts: plan.map(fact_chips).unwrap_or_default(),
        plan_rows: plan.map(|p| plan_rows(p, &tables)).unwrap_or_default(),
        plan_json: plan
            .and_then(|p| serde_json::to_string_pretty(&p.plan_json).ok())
            .unwrap_or_default(),
        plan_errors: plan_errors
            .iter()
            .map(|e| format!("{}: {}", fmt_time(e.captured_at), e.error))
            .collect(),
        recs: recs.iter().map(rec_view).collect(),
        sims: sims.iter().rev().map(sim_view).collect(),
        tags: tags.iter().map(tag_view).collect(),
        family: family.map(|f| (f.label, f.size)),
        waits: waits
            .last()
            .filter(|w| {
                w.samples > 0
                    && metrics
                        .last()
                        .is_some_and(|m| m.captured_at == w.captured_at)
            })
            .map(waits_view),
        id,
    };
    html(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_maps_points_into_the_plot() {
        let m = |t: i64, v: f64| Metric {
            query_id: "q".into(),
            captured_at: t,
            calls: 1,
            total_ms: v,
            mean_ms: v,
            rows: 1,
            shared_blks_hit: 0,
            shared_blks_read: 0,
            interval: None,
        };
        let c = chart(&[m(1000, 10.0), m(2000, 20.0)]).unwrap();
        assert_eq!(c.dots.len(), 2);
        assert_eq!(c.polyline.split(' ').count(), 2);
        assert!(c.polyline.starts_with("64.0,"));
        assert!(chart(&[]).is_none());
    }
}
