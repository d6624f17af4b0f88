//! The web dashboard: server-rendered askama pages with HTMX for the one interactive part (Run
//! simulation). Reads work without JavaScript; htmx, the CSS and a few lines of JS are served by
//! the daemon itself (no CDN). Dashboard POSTs are protected against cross-site requests.

use super::error::ApiError;
use super::simulate::run_simulation;
use super::views;
use crate::analyze::plan_facts::{walk_nodes, TableSizes};
use crate::app::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use optidb_core::model::{Metric, Plan, Recommendation, Simulation};
use serde::Deserialize;
use std::sync::{Arc, OnceLock};

/// htmx 2 (from the npm package `htmx.org`, `dist/htmx.min.js`), served at `/static/htmx.min.js`.
static HTMX_JS: &[u8] = include_bytes!("../../static/htmx.min.js");
static DASHBOARD_CSS: &str = include_str!("../../static/dashboard.css");
static DASHBOARD_JS: &str = include_str!("../../static/dashboard.js");

/// Header htmx sends the per-process CSRF token in (set with `hx-headers` on `<body>`).
pub const CSRF_HEADER: &str = "x-optidb-csrf";

/// Rows on the list page.
const LIST_LIMIT: usize = 50;

/// The dashboard's routes, merged into the API router by [`super::router`].
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(list_page))
        .route("/ui", get(list_page))
        .route("/ui/queries/{id}", get(query_page))
        .route("/ui/queries/{id}/simulate", post(simulate))
        .route("/static/htmx.min.js", get(htmx_js))
        .route("/static/dashboard.css", get(dashboard_css))
        .route("/static/dashboard.js", get(dashboard_js))
}

// ---------------------------------------------------------------------------------------------
// Cross-site request protection.

/// A random token for this process: pages embed it, htmx sends it back in [`CSRF_HEADER`].
pub fn csrf_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut seed = [0u8; 32];
        let from_os = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
            .is_ok();
        let mut h = blake3::Hasher::new();
        h.update(&seed);
        if !from_os {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            h.update(&now.as_nanos().to_le_bytes());
            h.update(&std::process::id().to_le_bytes());
            h.update(&(&seed as *const _ as usize).to_le_bytes());
        }
        h.finalize().to_hex()[..32].to_string()
    })
}

/// Whether a state-changing request comes from the dashboard itself: `Sec-Fetch-Site` must be
/// `same-origin` and `Origin` must name the `Host` when the browser sends them; when it sends
/// neither, the request must be an htmx request carrying this process's CSRF token.
pub fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host");
    let fetch_site = text("sec-fetch-site");
    let origin = text("origin");
    if let Some(site) = fetch_site {
        if site != "same-origin" {
            return Err("the request came from another site (Sec-Fetch-Site)");
        }
    }
    if let Some(origin) = origin {
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        return match (origin_host, host) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
            _ => Err("the request's Origin is not this dashboard"),
        };
    }
    if fetch_site.is_some() {
        return Ok(());
    }
    let is_htmx = text("hx-request") == Some("true");
    let token_ok =
        text(CSRF_HEADER).is_some_and(|t| super::auth::same(t.as_bytes(), csrf_token().as_bytes()));
    if is_htmx && token_ok {
        Ok(())
    } else {
        Err("the request has neither a same-origin Origin nor the dashboard's CSRF token")
    }
}

// ---------------------------------------------------------------------------------------------
// Static assets.

/// A short content hash of the CSS and JS, appended to their URLs so a long cache is safe.
fn asset_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = blake3::Hasher::new();
        h.update(DASHBOARD_CSS.as_bytes());
        h.update(DASHBOARD_JS.as_bytes());
        h.finalize().to_hex()[..12].to_string()
    })
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn htmx_js() -> Response {
    asset("text/javascript; charset=utf-8", HTMX_JS)
}

async fn dashboard_css() -> Response {
    asset("text/css; charset=utf-8", DASHBOARD_CSS.as_bytes())
}

async fn dashboard_js() -> Response {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers.

/// What every page's layout needs.
struct Meta {
    title: String,
    csrf: &'static str,
    v: &'static str,
    target: String,
    status: &'static str,
    last_scan: String,
    /// Security warnings from /health (a superuser login, a plan helper not used).
    warnings: Vec<String>,
}

async fn meta(state: &AppState, title: String) -> Meta {
    let h = state.health().await;
    let last_scan = match &h.last_scan {
        Some(s) if s.error.is_none() => format!(
            "last scan {} ({} queries, {} recommendations)",
            fmt_time(s.started_at),
            s.queries_stored,
            s.recommendations
        ),
        Some(s) => format!("last scan {} failed", fmt_time(s.started_at)),
        None => "no scan yet".to_string(),
    };
    Meta {
        title,
        csrf: csrf_token(),
        v: asset_version(),
        target: h.target,
        status: h.status,
        last_scan,
        warnings: h.security.warnings,
    }
}

/// Content-Security-Policy of every page: only the daemon's own scripts and styles.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn html(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("template: {e}")).into_response(),
    }
}

/// Milliseconds since the epoch as `2026-11-25 04:55:12 UTC`.
pub use optidb_core::time::human as fmt_time;

pub use optidb_core::format::{group, ms as fmt_ms};

/// A small coloured label.
struct Badge {
    class: &'static str,
    text: String,
    title: String,
}

impl Badge {
    fn new(class: &'static str, text: impl Into<String>, title: impl Into<String>) -> Self {
        Badge {
            class,
            text: text.into(),
            title: title.into(),
        }
    }
}

fn confidence_badge(c: f64) -> Badge {
    let (class, word) = if c >= 0.8 {
        ("good", "high")
    } else if c >= 0.5 {
        ("warn", "medium")
    } else {
        ("bad", "low")
    };
    Badge::new(
        class,
        format!("confidence {word} {:.0}%", c * 100.0),
        "how sure the advisor is",
    )
}

/// A risk badge: the first sentence of the risk text, coloured by what it mentions.
fn risk_badge(risk: &str) -> Option<Badge> {
    let risk = risk.trim();
    if risk.is_empty() {
        return None;
    }
    let lower = risk.to_ascii_lowercase();
    let class = if lower.contains("lock") || lower.contains("high") || lower.contains("block") {
        "warn"
    } else {
        "neutral"
    };
    let first = risk
        .split(". ")
        .next()
        .unwrap_or(risk)
        .trim_end_matches('.');
    let short: String = if first.chars().count() > 60 {
        first.chars().take(57).collect::<String>() + "…"
    } else {
        first.to_string()
    };
    Some(Badge::new(class, format!("risk: {short}"), risk))
}

// ---------------------------------------------------------------------------------------------
// The list page.

struct RowView {
    id: String,
    preview: String,
    query: String,
    mean: String,
    interval_mean: Option<String>,
    calls: String,
    total: String,
    reason: String,
    ddl: Option<String>,
    badges: Vec<Badge>,
    more_recs: usize,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    meta: Meta,
    rows: Vec<RowView>,
}

fn row_view(b: views::Bottleneck) -> RowView {
    let top = b.recommendations.first();
    let mut badges = Vec::new();
    if b.had_seq_scan {
        badges.push(Badge::new(
            "bad",
            "Seq Scan",
            "the latest plan reads a whole table",
        ));
    }
    if let Some(c) = b.confidence {
        badges.push(confidence_badge(c));
    }
    if let Some(r) = top.and_then(|r| risk_badge(&r.risk)) {
        badges.push(r);
    }
    let reason = b.reason;
    RowView {
        preview: optidb_core::format::one_line(&b.query, 160),
        mean: fmt_ms(b.mean_ms),
        interval_mean: b.interval_mean_ms.map(fmt_ms),
        calls: group(b.calls as f64),
        total: fmt_ms(b.total_ms),
        reason,
        ddl: b.ddl,
        more_recs: b.recommendations.len().saturating_sub(1),
        badges,
        id: b.query_id,
        query: b.query,
    }
}

/// `GET /` and `GET /ui`: the bottleneck list.
async fn list_page(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.clone();
    let target = state.target_id.clone();
    let rows =
        tokio::task::spawn_blocking(move || views::bottlenecks(&store, &target, LIST_LIMIT)).await;
    let rows = match rows {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return error_page(&state, ApiError::internal(e)).await,
        Err(e) => return error_page(&state, ApiError::internal(e)).await,
    };
    let page = ListPage {
        meta: meta(&state, "Bottlenecks".into()).await,
        rows: rows.into_iter().map(row_view).collect(),
    };
    html(StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------------
// The query page.

/// The SVG chart of mean_ms over time, computed here (no JS charting).
struct Chart {
    width: u32,
    height: u32,
    polyline: String,
    dots: Vec<ChartDot>,
    y_max: String,
    y_mid: String,
    x_first: String,
    x_last: String,
    /// Plot area, for the axes.
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    mid_y: f64,
}

struct ChartDot {
    x: String,
    y: String,
    title: String,
}

fn metric_mean(m: &Metric) -> f64 {
    m.recent_mean()
}

fn chart(metrics: &[Metric]) -> Option<Chart> {
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
struct PlanRow {
    depth: usize,
    label: String,
    class: &'static str,
    figures: String,
    details: Vec<String>,
}

fn plan_rows(plan: &Plan, tables: &TableSizes) -> Vec<PlanRow> {
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

fn fact_chips(plan: &Plan) -> Vec<Badge> {
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

struct EvidenceView {
    source: String,
    text: String,
    at: Option<String>,
}

struct RecView {
    rec_id: String,
    dom_id: String,
    kind: &'static str,
    ddl: String,
    rationale: String,
    badges: Vec<Badge>,
    risk: String,
    evidence: Vec<EvidenceView>,
    verification: Option<String>,
    can_simulate: bool,
}

fn rec_view(r: &Recommendation) -> RecView {
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

struct SimView {
    ran_at: String,
    mode: String,
    before: String,
    after: String,
    after_is_estimate: bool,
    delta: String,
    improvement: String,
    class: &'static str,
    changes: Vec<String>,
    index_used: bool,
    costs: String,
}

fn sim_view(s: &Simulation) -> SimView {
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
struct QueryPage {
    meta: Meta,
    id: String,
    query: String,
    raw_sample: Option<String>,
    first_seen: String,
    last_seen: String,
    stats: Vec<(&'static str, String)>,
    chart: Option<Chart>,
    plan_caption: Option<String>,
    facts: Vec<Badge>,
    plan_rows: Vec<PlanRow>,
    plan_json: String,
    plan_errors: Vec<String>,
    recs: Vec<RecView>,
    sims: Vec<SimView>,
}

/// `GET /ui/queries/{id}`: one query: metrics, chart, plan, recommendations, simulations.
async fn query_page(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if let Err(e) = super::error::check_query_id(&id) {
        return error_page(&state, e).await;
    }
    let store = state.store.clone();
    let target = state.target_id.clone();
    let qid = id.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let Some(q) = store.query(&target, &qid)? else {
            return Ok(None);
        };
        let metrics = store.metrics(&target, &qid, 500)?;
        let plans = store.plans(&target, &qid, 4)?;
        let plan_errors = store.plan_errors(&target, &qid)?;
        let recs: Vec<Recommendation> = store
            .recommendations(&target)?
            .into_iter()
            .filter(|r| r.query_ids.contains(&qid))
            .collect();
        let sims = store.simulations(&target, &qid, 20)?;
        let tables = store
            .schema(&target)?
            .map(|s| TableSizes::from_tables(&s.tables))
            .unwrap_or_default();
        Ok::<_, crate::store::StoreError>(Some((
            q,
            metrics,
            plans,
            plan_errors,
            recs,
            sims,
            tables,
        )))
    })
    .await;
    let (q, metrics, plans, plan_errors, mut recs, sims, tables) = match loaded {
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
        id,
    };
    html(StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------------
// Run simulation.

#[derive(Debug, Deserialize)]
struct SimForm {
    #[serde(default)]
    rec_id: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Template)]
#[template(path = "sim_result.html")]
struct SimFragment {
    s: SimView,
}

#[derive(Template)]
#[template(path = "error_fragment.html")]
struct ErrorFragment {
    error: String,
    why: String,
    hint: String,
}

/// `POST /ui/queries/{id}/simulate` (form: `rec_id`, `mode`): runs the same simulation as
/// `POST /simulate` and answers an HTML fragment for htmx (or, without JavaScript, redirects
/// back to the query page where the run is listed).
async fn simulate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<SimForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let is_htmx = headers.get("hx-request").is_some_and(|v| v == "true");
    if let Err(why) = same_origin(&headers) {
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site request refused",
            why,
            "run simulations from the dashboard page itself",
        );
        return fragment_error(e);
    }
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => {
            return fragment_error(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad form",
                e.body_text(),
                "send rec_id and mode as a form",
            ))
        }
    };
    let rec_id = form.rec_id.filter(|r| !r.is_empty());
    let result = run_simulation(&state, &id, rec_id.as_deref(), None, form.mode.as_deref()).await;
    match (result, is_htmx) {
        (Ok(sim), true) => html(StatusCode::OK, &SimFragment { s: sim_view(&sim) }),
        (Ok(_), false) => Redirect::to(&format!("/ui/queries/{id}#simulations")).into_response(),
        (Err(e), true) => fragment_error(e),
        (Err(e), false) => error_page(&state, e).await,
    }
}

fn fragment_error(e: ApiError) -> Response {
    let status = e.status;
    html(
        status,
        &ErrorFragment {
            error: e.error,
            why: e.why,
            hint: e.hint,
        },
    )
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    meta: Meta,
    error: String,
    why: String,
    hint: String,
}

async fn error_page(state: &AppState, e: ApiError) -> Response {
    let status = e.status;
    let page = ErrorPage {
        meta: meta(state, e.error.clone()).await,
        error: e.error,
        why: e.why,
        hint: e.hint,
    };
    html(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_numbers_read_well() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_795_000_000_000), "2026-11-18 11:06:40 UTC");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let host = ("host", "127.0.0.1:7070");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:7070")])).is_ok());
        assert!(same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(same_origin(&headers(&[host, ("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&headers(&[host])).is_err());
        assert!(same_origin(&headers(&[host, ("hx-request", "true")])).is_err());
        assert!(same_origin(&headers(&[
            host,
            ("hx-request", "true"),
            ("x-optidb-csrf", csrf_token())
        ]))
        .is_ok());
        assert!(same_origin(&headers(&[
            host,
            ("hx-request", "true"),
            ("x-optidb-csrf", "00")
        ]))
        .is_err());
    }

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
