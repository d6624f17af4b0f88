//! Rule `missing_index` (docs/rules/missing_index.md): a sequential scan of a table large enough
//! to matter whose filter (or join key) keeps few rows, on columns no index leads with, becomes an
//! index candidate. Column order: equality columns (most selective first, from pg_stats), then one
//! range column, then the ORDER BY keys when the query has a LIMIT and the order can be served.
//! Expressions become expression indexes; a leading-wildcard LIKE/ILIKE becomes a pg_trgm GIN
//! index (a btree cannot serve it). Candidates go to [`super::composite_index::consolidate`].

use super::{
    metric_evidence, norm_expr, split_order, HOT_CALLS, HOT_SHARE, MIN_TABLE_ROWS, TINY_TABLE_ROWS,
};
use crate::analyze::advisor::count;
use crate::analyze::advisor::workload::{JoinCtx, QueryCtx, ScanCond, ScanCtx, Workload};
use crate::analyze::plan_facts::{walk_nodes, PlanNode};
use optidb_core::model::{DroppedCandidate, Evidence, Plan, QueryId, RecTarget, RecType};
use std::collections::BTreeSet;

/// The trigram method/opclass as `RecTarget::using` names it.
pub const TRGM: &str = "gin (gin_trgm_ops)";
pub const BTREE: &str = "btree";
/// jsonb containment only (`@>`): the smaller, faster GIN operator class.
pub const JSONB_PATH: &str = "gin (jsonb_path_ops)";
/// jsonb containment and key existence (`@>` with `?`, `?|`, `?&`).
pub const JSONB_OPS: &str = "gin (jsonb_ops)";

/// A filter keeping more than this fraction of the table is better served by a seq scan.
pub const MAX_SELECTIVITY: f64 = 0.2;

/// One query's wish for an index, before workload-wide merging.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexCandidate {
    pub table: String,
    pub columns: Vec<String>,
    /// [`BTREE`], [`TRGM`], [`JSONB_PATH`] or [`JSONB_OPS`]: `method (opclass)`.
    pub using: String,
    pub query_ids: Vec<QueryId>,
    pub evidence: Vec<Evidence>,
    /// Plain-English reasons, one per query.
    pub why: Vec<String>,
    /// Evidence came from an analyzed plan (actual rows).
    pub analyzed: bool,
    /// The partitions of a partitioned table (empty for a plain table): CONCURRENTLY is not
    /// allowed on the parent, the DDL and the risk say how to build it.
    pub partitions: Vec<String>,
}

impl IndexCandidate {
    pub fn target(&self) -> RecTarget {
        RecTarget {
            table: self.table.clone(),
            columns: self.columns.clone(),
            using: Some(self.using.clone()),
        }
    }
}

fn dropped(
    table: &str,
    columns: Vec<String>,
    using: &str,
    q: &str,
    reason: String,
) -> DroppedCandidate {
    DroppedCandidate {
        rec_type: if columns.len() > 1 {
            RecType::CompositeIndex
        } else {
            RecType::MissingIndex
        },
        target: RecTarget {
            table: table.to_string(),
            columns,
            using: Some(using.to_string()),
        },
        query_ids: vec![q.to_string()],
        reason,
    }
}

const EQ_OPS: [&str; 3] = ["=", "IN", "IS NULL"];
const RANGE_OPS: [&str; 5] = ["<", "<=", ">", ">=", "BETWEEN"];

/// The index keys that serve an ORDER BY, from the plan's sort keys (`created_at DESC`,
/// `a DESC, b`): directions are made relative to the first key, which is always ascending, since
/// a btree is read forwards or backwards (`a DESC, b` → `a, b DESC`, whose backward scan returns
/// `a DESC, b`); `NULLS FIRST`/`NULLS LAST` only where they differ from that direction's default,
/// turned around with it.
pub fn order_keys(sort_keys: &[String]) -> Vec<String> {
    let parsed: Vec<(String, bool, bool)> = sort_keys
        .iter()
        .map(|k| {
            let (expr, order) = split_order(k);
            let desc = order.contains("DESC");
            let nulls_first = if order.contains("NULLS FIRST") {
                true
            } else if order.contains("NULLS LAST") {
                false
            } else {
                desc
            };
            (expr.to_string(), desc, nulls_first)
        })
        .collect();
    let flip = parsed.first().is_some_and(|k| k.1);
    let mut out: Vec<String> = Vec::new();
    for (expr, desc, nulls_first) in parsed {
        if out.iter().any(|o| split_order(o).0 == expr) {
            continue;
        }
        let (desc, nulls_first) = (desc != flip, nulls_first != flip);
        let mut key = expr;
        if desc {
            key.push_str(" DESC");
        }
        if nulls_first != desc {
            key.push_str(if nulls_first {
                " NULLS FIRST"
            } else {
                " NULLS LAST"
            });
        }
        out.push(key);
    }
    out
}

/// The existing valid btree index (no predicate) whose leading keys are `columns` (directions
/// ignored: the planner reads it in the order it needs, or close enough for the check), if any.
fn index_with_prefix(w: &Workload<'_>, table: &str, columns: &[String]) -> Option<String> {
    w.indexes(table)
        .find(|i| {
            i.valid
                && i.partial_predicate.is_none()
                && i.access_method == "btree"
                && i.columns.len() >= columns.len()
                && columns
                    .iter()
                    .zip(&i.columns)
                    .all(|(c, ic)| norm_expr(split_order(c).0) == norm_expr(split_order(ic).0))
        })
        .map(|i| i.index_name.clone())
}

/// The existing valid index of `using` on `table` whose first key is `column`, if any.
fn leading_index(w: &Workload<'_>, table: &str, column: &str, using: &str) -> Option<String> {
    let method = if using.starts_with("gin") {
        "gin"
    } else {
        "btree"
    };
    w.indexes(table)
        .find(|i| {
            i.valid
                && i.partial_predicate.is_none()
                && i.access_method == method
                && i.columns.first().map(|c| norm_expr(c)) == Some(norm_expr(column))
                && (using != TRGM || i.definition.contains("trgm"))
        })
        .map(|i| i.index_name.clone())
}

/// How many rows the scan returns and how many the table has, for the selectivity test.
fn kept_fraction(s: &ScanCtx, table_rows: f64) -> f64 {
    let out = match (s.act_rows_total, s.removed_total) {
        (Some(a), Some(r)) if a + r > 0.0 => return a / (a + r),
        (Some(a), _) => a,
        _ => s.est_rows,
    };
    out / table_rows.max(1.0)
}

/// What one query's candidates are collected into.
struct Found<'a> {
    w: &'a Workload<'a>,
    stale: &'a BTreeSet<String>,
    out: Vec<IndexCandidate>,
    drops: Vec<DroppedCandidate>,
}

/// One query's context while its candidates are found.
struct Query<'q> {
    ctx: &'q QueryCtx<'q>,
    plan: &'q Plan,
    qid: &'q str,
    single_table: bool,
    /// Tables that already got a candidate from this query.
    served: BTreeSet<String>,
}

/// Index candidates of every query, and what was considered and dropped.
pub fn candidates(
    w: &Workload<'_>,
    stale: &BTreeSet<String>,
) -> (Vec<IndexCandidate>, Vec<DroppedCandidate>) {
    let mut f = Found {
        w,
        stale,
        out: Vec::new(),
        drops: Vec::new(),
    };
    for q in &w.queries {
        let Some(plan) = q.best_plan() else { continue };
        let (scans, joins) = w.walk(plan);
        let mut query = Query {
            ctx: q,
            plan,
            qid: q.query.id.as_str(),
            single_table: scans.len() == 1,
            served: BTreeSet::new(),
        };
        for s in scans.iter().filter(|s| s.seq) {
            f.filtered_scan(&mut query, s);
        }
        for s in scans.iter().filter(|s| !s.seq) {
            f.wasteful_index_scan(&mut query, s);
        }
        for j in joins.iter().filter(|j| j.seq) {
            f.join_key(&mut query, j);
        }
        f.sort_driven(&mut query, &scans);
    }
    for c in &mut f.out {
        c.partitions = w.partitions(&c.table);
    }
    (f.out, f.drops)
}

impl Found<'_> {
    /// A sequential scan with its own filter: why it gets no index (a subplan, a small table,
    /// stale statistics), a trigram index for leading-wildcard patterns, or a btree index.
    fn filtered_scan(&mut self, q: &mut Query<'_>, s: &ScanCtx) {
        let all: Vec<&ScanCond> = s.conds.iter().filter(|c| c.source == "Filter").collect();
        if all.is_empty() || self.gate(q, s, &all[0].column) {
            return;
        }
        // Columns ORed with other columns are no ANDed equality: leave them out.
        let ors = or_columns_of(s);
        let own: Vec<&ScanCond> = all
            .iter()
            .copied()
            .filter(|c| !ors.contains(&c.column))
            .collect();
        if own.is_empty() {
            self.drops.push(dropped(
                &s.table,
                ors.clone(),
                BTREE,
                q.qid,
                format!(
                    "the filter of {} ORs conditions on different columns ({}): no single index \
                     serves it — it takes one index per branch (a BitmapOr) or a UNION of one \
                     query per branch; not advised yet",
                    s.node_label,
                    s.filter_text.as_deref().unwrap_or(&ors.join(" OR "))
                ),
            ));
            return;
        }
        self.trigram(q, s, &own);
        if !q.served.contains(&s.table) {
            self.jsonb(q, s, &own);
        }
        if !q.served.contains(&s.table) {
            self.btree(q, s, &own);
        }
    }

    /// Whether the scan's table is out of the question, with the reason recorded.
    fn gate(&mut self, q: &Query<'_>, s: &ScanCtx, first_col: &str) -> bool {
        let t = &s.table;
        let why = if s.in_subplan {
            format!(
                "{} runs inside a correlated subquery (once per outer row): see the rewrite \
                 recommendation for this query, which also names the index",
                s.node_label
            )
        } else if let Some(why) = self.too_small(q, t) {
            why
        } else if self.stale.contains(t) {
            format!(
                "the statistics of {t} are stale (see the stats recommendation): index \
                 advice on it waits until ANALYZE has run, since the plan may change"
            )
        } else {
            return false;
        };
        self.drops
            .push(dropped(t, vec![first_col.to_string()], BTREE, q.qid, why));
        true
    }

    /// Why `t` is too small for an index for this query, if it is. Under [`TINY_TABLE_ROWS`]
    /// never; from there to [`MIN_TABLE_ROWS`] only a hot query earns one: at least
    /// [`HOT_CALLS`] calls and [`HOT_SHARE`] of the workload's time (hypopg's cost check then
    /// decides, as for every candidate). A 2,000-row table scanned 50,000 times deserves an
    /// index; scanned 10 times it does not.
    fn too_small(&self, q: &Query<'_>, t: &str) -> Option<String> {
        let rows = self.w.table_rows(t);
        if rows >= MIN_TABLE_ROWS {
            return None;
        }
        if rows < TINY_TABLE_ROWS {
            return Some(format!(
                "{t} has ~{} rows (< {}): a sequential scan of a table this small is as fast as \
                 an index and costs no writes",
                count(rows),
                count(TINY_TABLE_ROWS)
            ));
        }
        let total: f64 = self.w.queries.iter().map(|c| c.total_ms).sum();
        let share = if total > 0.0 {
            q.ctx.total_ms / total
        } else {
            0.0
        };
        if q.ctx.calls >= HOT_CALLS && share >= HOT_SHARE {
            return None;
        }
        Some(format!(
            "{t} has ~{} rows (< {}) and this query is not hot enough to earn an index on a \
             table that small: {} calls, {:.1}% of the workload's time (an index is considered \
             from {} calls and {:.0}% of the time)",
            count(rows),
            count(MIN_TABLE_ROWS),
            count(q.ctx.calls as f64),
            share * 100.0,
            count(HOT_CALLS as f64),
            HOT_SHARE * 100.0
        ))
    }

    /// jsonb containment (`col @> '…'::jsonb`, the constant's type shows the column is jsonb)
    /// keeping few rows: a GIN index, `jsonb_path_ops` when containment is the only jsonb test
    /// on the column, `jsonb_ops` when key existence (`?`, `?|`, `?&`) is tested too. A generic
    /// plan (`col @> $1`) does not show the type: no advice from it.
    fn jsonb(&mut self, q: &mut Query<'_>, s: &ScanCtx, own: &[&ScanCond]) {
        let (w, t) = (self.w, &s.table);
        let typed = s
            .filter_text
            .as_deref()
            .is_some_and(|f| f.contains("::jsonb"));
        let Some(col) = own
            .iter()
            .find(|c| c.operator == "@>")
            .map(|c| c.column.clone())
        else {
            return;
        };
        if !typed || col.contains('(') {
            return;
        }
        let rows = w.table_rows(t);
        let frac = kept_fraction(s, rows);
        let exists = own
            .iter()
            .any(|c| c.column == col && matches!(c.operator.as_str(), "?" | "?|" | "?&"));
        let using = if exists { JSONB_OPS } else { JSONB_PATH };
        if frac > MAX_SELECTIVITY {
            self.drops.push(dropped(
                t,
                vec![col.clone()],
                using,
                q.qid,
                format!(
                    "the containment test on {col} keeps {:.0}% of {t}: a sequential scan is the \
                     right plan for that many rows",
                    frac * 100.0
                ),
            ));
            return;
        }
        if let Some(ix) = leading_index(w, t, &col, using) {
            self.drops.push(dropped(
                t,
                vec![col.clone()],
                using,
                q.qid,
                format!("the GIN index {ix} already covers {col}"),
            ));
            return;
        }
        let why = format!(
            "{} reads {} to keep {} (filter: {col} @> …{}); a btree cannot serve jsonb \
             containment, a GIN index can: {}",
            s.node_label,
            rows_phrase(s, rows),
            kept_phrase(s),
            if exists { " and key existence" } else { "" },
            if exists {
                "jsonb_ops, since the query also tests key existence (?, ?|, ?&), which \
                 jsonb_path_ops does not support"
            } else {
                "jsonb_path_ops, smaller and faster than the default jsonb_ops when only @> is used"
            }
        );
        self.out.push(scan_candidate(
            q,
            s,
            rows,
            vec![col],
            using,
            why,
            s.act_rows_total.is_some(),
        ));
        q.served.insert(t.clone());
    }

    /// Leading-wildcard patterns: a trigram GIN index, never btree.
    fn trigram(&mut self, q: &mut Query<'_>, s: &ScanCtx, own: &[&ScanCond]) {
        let (w, t) = (self.w, &s.table);
        let rows = w.table_rows(t);
        for lw in &q.ctx.text.leading_wildcards {
            if !own.iter().any(|c| {
                norm_expr(&c.column) == norm_expr(&lw.column) && c.operator.ends_with("LIKE")
            }) {
                continue;
            }
            if lw.fragment_len.unwrap_or(0) < 3 {
                self.drops.push(dropped(
                    t,
                    vec![lw.column.clone()],
                    TRGM,
                    q.qid,
                    format!(
                        "pattern {:?} has no run of 3 or more literal characters: a trigram index \
                         cannot narrow it",
                        lw.pattern.as_deref().unwrap_or("?")
                    ),
                ));
                continue;
            }
            if let Some(ix) = leading_index(w, t, &lw.column, TRGM) {
                self.drops.push(dropped(
                    t,
                    vec![lw.column.clone()],
                    TRGM,
                    q.qid,
                    format!("the trigram index {ix} already covers {}", lw.column),
                ));
                continue;
            }
            self.out.push(scan_candidate(
                q,
                s,
                rows,
                vec![lw.column.clone()],
                TRGM,
                format!(
                    "{} {} {:?} has a leading wildcard, which no btree index can serve (btree \
                     needs a fixed prefix); a pg_trgm GIN index can, since the pattern has a \
                     run of {} literal characters. Today {} reads {}",
                    lw.column,
                    lw.operator,
                    lw.pattern.as_deref().unwrap_or(""),
                    lw.fragment_len.unwrap_or(0),
                    s.node_label,
                    rows_phrase(s, rows)
                ),
                s.act_rows_total.is_some(),
            ));
            q.served.insert(t.clone());
        }
    }

    /// Equality columns (most selective first), then one range column, then the ORDER BY keys
    /// when a LIMIT makes serving the order worth it.
    fn btree(&mut self, q: &mut Query<'_>, s: &ScanCtx, own: &[&ScanCond]) {
        let (w, t) = (self.w, &s.table);
        let rows = w.table_rows(t);
        let filter_text: Vec<String> = own
            .iter()
            .map(|c| format!("{} {}", c.column, c.operator))
            .collect();
        let frac = kept_fraction(s, rows);
        let mut eq: Vec<String> = Vec::new();
        let mut range: Option<String> = None;
        for c in own {
            if EQ_OPS.contains(&c.operator.as_str()) && !eq.contains(&c.column) {
                eq.push(c.column.clone());
            }
        }
        for c in own {
            if RANGE_OPS.contains(&c.operator.as_str())
                && !eq.contains(&c.column)
                && range.is_none()
            {
                range = Some(c.column.clone());
            }
        }
        if eq.is_empty() && range.is_none() {
            return;
        }
        let sort_keys = order_keys(&q.plan.facts.sort_keys);
        let first_sort = sort_keys.first().map(|k| split_order(k).0);
        let serve_order = q.ctx.text.has_limit
            && q.single_table
            && !sort_keys.is_empty()
            && (range.is_none() || range.as_deref() == first_sort);
        // `WHERE x = $1 ORDER BY y LIMIT n`: an index on (x, y) reads n rows however many
        // rows x keeps.
        let limit_stops_early = serve_order && range.is_none() && !eq.is_empty();
        if frac > MAX_SELECTIVITY && !limit_stops_early {
            self.drops.push(dropped(
                t,
                eq.iter().chain(range.iter()).cloned().collect(),
                BTREE,
                q.qid,
                format!(
                    "the filter ({}) keeps {:.0}% of {t}: a sequential scan is the right plan for \
                     that many rows",
                    filter_text.join(", "),
                    frac * 100.0
                ),
            ));
            return;
        }
        // Most selective equality column first.
        eq.sort_by(|a, b| {
            let da = w.distinct(t, a).unwrap_or(-1.0);
            let db = w.distinct(t, b).unwrap_or(-1.0);
            db.total_cmp(&da)
        });
        let mut columns = eq.clone();
        if let Some(r) = &range {
            columns.push(r.clone());
        }
        if serve_order {
            for k in &sort_keys {
                if !columns.iter().any(|c| c == split_order(k).0) {
                    columns.push(k.clone());
                }
            }
        }
        if let Some(ix) = leading_index(w, t, &columns[0], BTREE) {
            self.drops.push(dropped(
                t,
                columns.clone(),
                BTREE,
                q.qid,
                format!(
                    "the existing index {ix} already leads with {}; the planner chose {} anyway \
                     (check the statistics rather than add an index)",
                    columns[0], s.node_label
                ),
            ));
            return;
        }
        let mut why = format!(
            "{} reads {} to keep {} (filter: {})",
            s.node_label,
            rows_phrase(s, rows),
            kept_phrase(s),
            filter_text.join(" AND ")
        );
        if frac > MAX_SELECTIVITY {
            why.push_str(&format!(
                "; the filter keeps {:.0}% of the table, but the query sorts and stops at a \
                 LIMIT, so an index on the equality columns followed by the ORDER BY keys reads \
                 only the rows it returns",
                frac * 100.0
            ));
        }
        if columns.len() > 1 {
            why.push_str(&format!(
                "; key order: equality columns first ({}), then {}",
                if eq.is_empty() { "none".to_string() } else { eq.join(", ") },
                match (&range, serve_order) {
                    (Some(r), true) => format!("the range and ORDER BY column {r}, so one index scan returns rows in order and stops at the LIMIT"),
                    (Some(r), false) => format!("the range column {r}"),
                    (None, _) => "the ORDER BY keys, so the LIMIT stops the index scan early".to_string(),
                }
            ));
        }
        if let Some(e) = columns.iter().find(|c| c.contains('(')) {
            why.push_str(&format!(
                "; {e} is an expression, so only an expression index on it can serve the filter"
            ));
            // A function on an indexed column: say why that index does not help.
            let inner = e
                .split_once('(')
                .and_then(|(_, rest)| rest.split([',', ')']).next())
                .map(|c| c.trim().to_string());
            if let Some(ix) = inner.and_then(|c| leading_index(w, t, &c, BTREE).map(|ix| (c, ix))) {
                why.push_str(&format!(
                    " (the existing index {} on {} cannot serve {e}: a function on an indexed \
                     column hides it from the index; alternatively rewrite the predicate so {} \
                     stands alone, e.g. a range instead of date({}) = …)",
                    ix.1, ix.0, ix.0, ix.0
                ));
            }
        }
        self.out.push(scan_candidate(
            q,
            s,
            rows,
            columns,
            BTREE,
            why,
            s.act_rows_total.is_some(),
        ));
        q.served.insert(t.clone());
    }

    /// An index scan (Index Scan, Index Only Scan, Bitmap Heap Scan) whose own `Filter` throws
    /// away at least 10× the rows it returns (and at least 1,000): the index leads with a column
    /// that narrows too little. The index that serves the whole condition: its equality columns
    /// (index condition, filter and join keys; most selective first), then one range column.
    /// Needs actual rows (EXPLAIN ANALYZE): an estimate cannot tell rows the filter removes.
    fn wasteful_index_scan(&mut self, q: &mut Query<'_>, s: &ScanCtx) {
        let (w, t) = (self.w, &s.table);
        if !matches!(
            s.node_type.as_str(),
            "Index Scan" | "Index Only Scan" | "Bitmap Heap Scan"
        ) || q.served.contains(t)
            || self.stale.contains(t)
        {
            return;
        }
        let (Some(kept), Some(removed)) = (s.act_rows_total, s.removed_total) else {
            return;
        };
        let rows = w.table_rows(t);
        if removed < 1_000.0 || removed < 10.0 * kept.max(1.0) || self.too_small(q, t).is_some() {
            return;
        }
        let filter: Vec<&ScanCond> = s.conds.iter().filter(|c| c.source == "Filter").collect();
        if !filter.iter().any(|c| {
            EQ_OPS.contains(&c.operator.as_str()) || RANGE_OPS.contains(&c.operator.as_str())
        }) {
            return; // a filter no btree serves (LIKE '%x', functions of several columns …)
        }
        let ors = or_columns_of(s);
        let mut eq: Vec<String> = Vec::new();
        for c in s.conds.iter().filter(|c| !ors.contains(&c.column)) {
            if EQ_OPS.contains(&c.operator.as_str()) && !eq.contains(&c.column) {
                eq.push(c.column.clone());
            }
        }
        eq.sort_by(|a, b| {
            let da = w.distinct(t, a).unwrap_or(-1.0);
            let db = w.distinct(t, b).unwrap_or(-1.0);
            db.total_cmp(&da)
        });
        let mut columns = eq;
        if let Some(r) = s
            .conds
            .iter()
            .find(|c| RANGE_OPS.contains(&c.operator.as_str()) && !columns.contains(&c.column))
        {
            columns.push(r.column.clone());
        }
        if columns.is_empty() {
            return;
        }
        if let Some(ix) = index_with_prefix(w, t, &columns) {
            self.drops.push(dropped(
                t,
                columns.clone(),
                BTREE,
                q.qid,
                format!(
                    "the existing index {ix} already has the keys ({}); {} chose another one",
                    columns.join(", "),
                    s.node_label
                ),
            ));
            return;
        }
        let filter_text: Vec<String> = filter
            .iter()
            .map(|c| format!("{} {}", c.column, c.operator))
            .collect();
        let why = format!(
            "{} returns {} row(s) but its filter ({}) throws away {} rows the index led it to \
             ({}× more than it keeps): {} does not narrow on the filtered column(s). An index on \
             ({}) finds only the rows the query returns",
            s.node_label,
            count(kept),
            filter_text.join(" AND "),
            count(removed),
            (removed / kept.max(1.0)).round(),
            s.index_name.as_deref().unwrap_or("the index"),
            columns.join(", ")
        );
        self.out
            .push(scan_candidate(q, s, rows, columns, BTREE, why, true));
        q.served.insert(t.clone());
    }

    /// `ORDER BY … LIMIT` over a big table that the plan sorts whole: a `Sort` (top-N heapsort)
    /// or an `Incremental Sort` under a `Limit`, fed by a single scan with no filter or only
    /// equality filters. An index on the equality columns then the sort keys (directions
    /// relative to the first key) returns rows in order, so the scan stops at the LIMIT.
    fn sort_driven(&mut self, q: &mut Query<'_>, scans: &[ScanCtx]) {
        let w = self.w;
        let nodes: Vec<PlanNode<'_>> = walk_nodes(&q.plan.plan_json).collect();
        for n in &nodes {
            if !matches!(n.node_type(), "Sort" | "Incremental Sort") || !under_limit(&nodes, n) {
                continue;
            }
            let Some(scan) = scan_below(&nodes, n) else {
                continue;
            };
            let label = scan.label(&w.sizes);
            let Some(s) = scans.iter().find(|s| s.node_label == label) else {
                continue;
            };
            let t = s.table.clone();
            if q.served.contains(&t) || s.in_subplan || self.stale.contains(&t) {
                continue;
            }
            let rows = w.table_rows(&t);
            if self.too_small(q, &t).is_some() {
                continue;
            }
            let keys: Vec<String> = n
                .json
                .get("Sort Key")
                .and_then(|k| k.as_array())
                .map(|k| {
                    k.iter()
                        .filter_map(|v| v.as_str())
                        .map(crate::analyze::plan_facts::sort_key)
                        .collect()
                })
                .unwrap_or_default();
            let keys = order_keys(&keys);
            if keys.is_empty() || keys.iter().any(|k| k.contains(" USING ")) {
                continue;
            }
            // Only equality filters (or none) keep the order of an index on (eq…, sort keys).
            let own: Vec<&ScanCond> = s.conds.iter().filter(|c| !c.outer_ref).collect();
            if own.iter().any(|c| !EQ_OPS.contains(&c.operator.as_str()))
                || !or_columns_of(s).is_empty()
            {
                continue;
            }
            let mut columns: Vec<String> = Vec::new();
            for c in &own {
                if !columns.contains(&c.column) {
                    columns.push(c.column.clone());
                }
            }
            let eq_count = columns.len();
            for k in &keys {
                if !columns.iter().any(|c| c == split_order(k).0) {
                    columns.push(k.clone());
                }
            }
            if columns.len() == eq_count {
                continue;
            }
            if let Some(ix) = index_with_prefix(w, &t, &columns) {
                self.drops.push(dropped(
                    &t,
                    columns.clone(),
                    BTREE,
                    q.qid,
                    format!(
                        "the existing index {ix} already has the keys ({}); the planner sorts \
                         anyway (check the statistics rather than add an index)",
                        columns.join(", ")
                    ),
                ));
                continue;
            }
            let read = s
                .act_rows_total
                .unwrap_or(s.est_rows * s.loops.unwrap_or(1.0));
            let limit_rows = nodes
                .iter()
                .find(|l| l.node_type() == "Limit")
                .and_then(|l| l.actual_rows_total().or(l.est_rows()))
                .unwrap_or(0.0);
            if read < 1_000.0 || read < 10.0 * limit_rows {
                continue; // a sort of a few rows costs nothing
            }
            let how = match n.node_type() {
                "Incremental Sort" => format!(
                    "an Incremental Sort on {} (presorted: {})",
                    keys.join(", "),
                    n.json
                        .get("Presorted Key")
                        .and_then(|k| k.as_array())
                        .map(|k| k
                            .iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ),
                _ => format!(
                    "a {} on {}",
                    n.str("Sort Method").unwrap_or("Sort"),
                    keys.join(", ")
                ),
            };
            let filter = if eq_count > 0 {
                format!(
                    " filtered on {}",
                    columns[..eq_count]
                        .iter()
                        .map(|c| format!("{c} ="))
                        .collect::<Vec<_>>()
                        .join(" AND ")
                )
            } else {
                " with no filter".to_string()
            };
            let mut why = format!(
                "{} reads {} row(s) of {t} (~{} rows){filter} and feeds {how} to return {} row(s) \
                 under a LIMIT; an index on ({}) returns the rows already in order, so the scan \
                 stops after the LIMIT",
                s.node_label,
                count(read),
                count(rows),
                count(limit_rows),
                columns.join(", ")
            );
            if keys.iter().skip(1).any(|k| k.contains("DESC")) {
                why.push_str(&format!(
                    " (mixed directions: the index is read forwards or backwards, so ({}) serves \
                     the ORDER BY as written and its reverse)",
                    columns.join(", ")
                ));
            }
            self.out.push(IndexCandidate {
                table: t.clone(),
                columns,
                using: BTREE.into(),
                query_ids: vec![q.qid.to_string()],
                evidence: vec![
                    Evidence {
                        source: "plan".into(),
                        text: format!(
                            "Limit ({} rows) ← {} ← {}: est {} rows{}, cost {:.0}",
                            count(limit_rows),
                            n.display_type(),
                            s.node_label,
                            count(s.est_rows),
                            s.act_rows_total
                                .map(|a| format!(", actual {}", count(a)))
                                .unwrap_or_default(),
                            s.cost
                        ),
                        captured_at: Some(q.plan.captured_at),
                    },
                    metric_evidence(q.ctx),
                ],
                why: vec![why],
                analyzed: s.act_rows_total.is_some(),
                partitions: Vec::new(),
            });
            q.served.insert(t);
        }
    }

    /// Join keys: a big table read whole to join a few rows.
    fn join_key(&mut self, q: &mut Query<'_>, j: &JoinCtx) {
        let (w, t) = (self.w, &j.table);
        if q.served.contains(t) {
            return;
        }
        let rows = w.table_rows(t);
        let other = j.other_act_rows.unwrap_or(j.other_rows);
        if self.too_small(q, t).is_some() || other * 20.0 > rows || self.stale.contains(t) {
            return;
        }
        if let Some(ix) = leading_index(w, t, &j.column, BTREE) {
            self.drops.push(dropped(
                t,
                vec![j.column.clone()],
                BTREE,
                q.qid,
                format!(
                    "the existing index {ix} already leads with the join key {}",
                    j.column
                ),
            ));
            return;
        }
        self.out.push(IndexCandidate {
            table: t.clone(),
            columns: vec![j.column.clone()],
            using: BTREE.into(),
            query_ids: vec![q.qid.to_string()],
            evidence: vec![
                Evidence {
                    source: "plan".into(),
                    text: format!(
                        "{}: {t} (~{} rows) is read by a sequential scan to join {} row(s) on {}",
                        j.node_label,
                        count(rows),
                        count(other),
                        j.column
                    ),
                    captured_at: Some(q.plan.captured_at),
                },
                metric_evidence(q.ctx),
            ],
            why: vec![format!(
                "{} reads all ~{} rows of {t} to match {} row(s) from the other side on {}; \
                 with an index on {} the planner can look those rows up with a nested loop",
                j.node_label,
                count(rows),
                count(other),
                j.column,
                j.column
            )],
            analyzed: j.other_act_rows.is_some(),
            partitions: Vec::new(),
        });
        q.served.insert(t.clone());
    }
}

/// The columns of a scan's `Filter` that are ORed with other columns (see
/// [`crate::analyze::plan_facts::or_columns`]).
fn or_columns_of(s: &ScanCtx) -> Vec<String> {
    s.filter_text
        .as_deref()
        .map(crate::analyze::plan_facts::or_columns)
        .unwrap_or_default()
}

/// Whether a node's rows go to a `Limit` through nodes that pass them on in order.
fn under_limit(nodes: &[PlanNode<'_>], n: &PlanNode<'_>) -> bool {
    let mut cur = n.parent;
    while let Some(p) = cur.and_then(|p| nodes.get(p)) {
        match p.node_type() {
            "Limit" => return true,
            "Gather Merge" | "Result" | "Subquery Scan" => cur = p.parent,
            _ => return false,
        }
    }
    false
}

/// The one scan of a table below a sort, through `Gather`/`Gather Merge`/`Result`.
fn scan_below<'n, 'a>(nodes: &'n [PlanNode<'a>], n: &PlanNode<'a>) -> Option<&'n PlanNode<'a>> {
    let mut cur = n.index;
    loop {
        let kids: Vec<&PlanNode<'_>> = nodes.iter().filter(|c| c.parent == Some(cur)).collect();
        let [kid] = kids.as_slice() else {
            return None;
        };
        match kid.node_type() {
            "Gather" | "Gather Merge" | "Result" => cur = kid.index,
            "Seq Scan" | "Index Scan" | "Index Only Scan" | "Bitmap Heap Scan" => return Some(kid),
            _ => return None,
        }
    }
}

fn rows_phrase(s: &ScanCtx, rows: f64) -> String {
    match (s.loops, s.act_rows_total, s.removed_total) {
        (Some(l), _, _) if l > 1.0 => format!("~{} rows × {} loops", count(rows), count(l)),
        // What the scan read (one partition of a partitioned table reads less than the table).
        (_, Some(a), Some(r)) if a + r > 0.0 => format!("all ~{} rows", count(a + r)),
        _ => format!("all ~{} rows", count(rows)),
    }
}

fn kept_phrase(s: &ScanCtx) -> String {
    match (s.act_rows_total, s.removed_total) {
        (Some(a), Some(r)) => format!("{} (removed by the filter: {})", count(a), count(r)),
        _ => format!("an estimated {} row(s)", count(s.est_rows)),
    }
}

/// A candidate that serves the scan `s` of query `q`: the scan's and the query's figures as its
/// evidence.
#[allow(clippy::too_many_arguments)]
fn scan_candidate(
    q: &Query<'_>,
    s: &ScanCtx,
    rows: f64,
    columns: Vec<String>,
    using: &str,
    why: String,
    analyzed: bool,
) -> IndexCandidate {
    IndexCandidate {
        table: s.table.clone(),
        columns,
        using: using.into(),
        query_ids: vec![q.qid.to_string()],
        evidence: vec![
            scan_evidence(s, q.plan.captured_at, rows),
            metric_evidence(q.ctx),
        ],
        why: vec![why],
        analyzed,
        partitions: Vec::new(),
    }
}

fn scan_evidence(s: &ScanCtx, captured_at: i64, rows: f64) -> Evidence {
    let conds: Vec<String> = s
        .conds
        .iter()
        .map(|c| format!("{} {}", c.column, c.operator))
        .collect();
    let actual = match (s.act_rows_total, s.removed_total) {
        (Some(a), Some(r)) => format!(", actual {} rows, {} removed by filter", count(a), count(r)),
        _ => String::new(),
    };
    Evidence {
        source: "plan".into(),
        text: format!(
            "{} (filter: {}): est {} rows{actual}, cost {:.0}; table ~{} rows",
            s.node_label,
            conds.join(", "),
            count(s.est_rows),
            s.cost,
            count(rows)
        ),
        captured_at: Some(captured_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::advisor::testutil::*;

    #[test]
    fn equality_filter_on_big_table_gives_single_column_candidate() {
        let fx = Fixture::new()
            .table("public.accounts", 100_000.0)
            .query(
                "q1",
                "SELECT * FROM accounts WHERE region_code = $1",
                50,
                20.0,
            )
            .plan("q1", seq_scan("accounts", "(region_code = $1)", 10.0));
        let (c, _) = fx.index_candidates();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].table, "public.accounts");
        assert_eq!(c[0].columns, vec!["region_code"]);
        assert_eq!(c[0].using, BTREE);
    }

    #[test]
    fn tiny_tables_and_indexed_columns_and_unselective_filters_get_nothing() {
        let fx = Fixture::new()
            .table("public.kinds", 40.0)
            .query("q1", "SELECT * FROM kinds WHERE label = $1", 500, 0.05)
            .plan("q1", seq_scan("kinds", "(label = $1)", 1.0));
        let (c, d) = fx.index_candidates();
        assert!(c.is_empty());
        assert!(d[0].reason.contains("rows"), "{d:?}");

        let fx = Fixture::new()
            .table("public.accounts", 100_000.0)
            .index(
                "public.accounts",
                "accounts_region_idx",
                &["region_code"],
                false,
            )
            .query(
                "q1",
                "SELECT * FROM accounts WHERE region_code = $1",
                50,
                20.0,
            )
            .plan("q1", seq_scan("accounts", "(region_code = $1)", 10.0));
        let (c, d) = fx.index_candidates();
        assert!(c.is_empty());
        assert!(d[0].reason.contains("accounts_region_idx"));

        let fx = Fixture::new()
            .table("public.accounts", 100_000.0)
            .query("q1", "SELECT * FROM accounts WHERE active = $1", 50, 20.0)
            .plan("q1", seq_scan("accounts", "(active = $1)", 90_000.0));
        let (c, d) = fx.index_candidates();
        assert!(c.is_empty());
        assert!(d[0].reason.contains("sequential scan is the right plan"));
    }

    #[test]
    fn equality_then_range_then_order_by_with_limit() {
        let fx = Fixture::new()
            .table("public.tickets", 200_000.0)
            .query(
                "q1",
                "SELECT id FROM tickets WHERE opened_at >= $1 AND state = $2 ORDER BY opened_at DESC LIMIT $3",
                10,
                30.0,
            )
            .plan(
                "q1",
                limit_sort(
                    "opened_at DESC",
                    seq_scan("tickets", "((opened_at >= $1) AND (state = $2))", 500.0),
                ),
            );
        let (c, _) = fx.index_candidates();
        assert_eq!(c[0].columns, vec!["state", "opened_at"]);
    }

    #[test]
    fn most_selective_equality_first_and_expressions_kept() {
        let fx = Fixture::new()
            .table("public.people", 100_000.0)
            .index("public.people", "people_nick_idx", &["nick"], false)
            .stats("public.people", "country", 30.0)
            .stats("public.people", "city", 3000.0)
            .query(
                "q1",
                "SELECT * FROM people WHERE country = $1 AND city = $2",
                10,
                30.0,
            )
            .plan(
                "q1",
                seq_scan("people", "((country = $1) AND (city = $2))", 5.0),
            )
            .query(
                "q2",
                "SELECT * FROM people WHERE lower(nick) = 'x'",
                10,
                30.0,
            )
            .plan(
                "q2",
                seq_scan("people", "(lower((nick)::text) = 'x'::text)", 1.0),
            );
        let (c, _) = fx.index_candidates();
        assert_eq!(c[0].columns, vec!["city", "country"]);
        assert!(c[1].why[0].contains("people_nick_idx"), "{:?}", c[1].why);
        assert_eq!(c[1].columns, vec!["lower(nick)"]);
    }

    #[test]
    fn leading_wildcard_becomes_trigram_gin() {
        let fx = Fixture::new()
            .table("public.docs", 80_000.0)
            .query_with_sample(
                "q1",
                "SELECT id FROM docs WHERE title LIKE $1",
                "SELECT id FROM docs WHERE title LIKE '%report%'",
                20,
                15.0,
            )
            .plan("q1", seq_scan("docs", "(title ~~ '%report%'::text)", 8.0));
        let (c, _) = fx.index_candidates();
        assert_eq!(c[0].using, TRGM);
        assert_eq!(c[0].columns, vec!["title"]);
        assert!(c[0].why[0].contains("btree"));
    }

    #[test]
    fn join_key_of_a_big_table_joined_to_few_rows() {
        let fx = Fixture::new()
            .table("public.parents", 100_000.0)
            .table("public.children", 500_000.0)
            .query("q1", "SELECT * FROM parents p JOIN children c ON c.parent_id = p.id WHERE p.id = ANY($1)", 10, 50.0)
            .plan("q1", hash_join("(c.parent_id = p.id)", seq_scan_alias("children", "c", None, 500_000.0), index_scan("parents", "p", "parents_pkey", "(id = ANY ($1))", 3.0)));
        let (c, _) = fx.index_candidates();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].table, "public.children");
        assert_eq!(c[0].columns, vec!["parent_id"]);
    }

    #[test]
    fn stale_tables_wait_for_analyze() {
        let fx = Fixture::new()
            .table("public.logs", 100_000.0)
            .query("q1", "SELECT * FROM logs WHERE level = $1", 10, 30.0)
            .plan("q1", seq_scan("logs", "(level = $1)", 3.0));
        let w_input = fx.input();
        let w = Workload::new(&w_input);
        let stale: BTreeSet<String> = ["public.logs".to_string()].into();
        let (c, d) = candidates(&w, &stale);
        assert!(c.is_empty());
        assert!(d[0].reason.contains("stale"));
    }

    #[test]
    fn small_tables_are_judged_by_how_hot_the_query_is() {
        let plan = || seq_scan("rates", "(code = $1)", 1.0);
        // 2,000 rows scanned 50,000 times, most of the workload's time: worth an index.
        let fx = Fixture::new()
            .table("public.rates", 2_000.0)
            .table("public.big", 100_000.0)
            .query("hot", "SELECT * FROM rates WHERE code = $1", 50_000, 0.4)
            .plan("hot", plan())
            .query("other", "SELECT * FROM big", 10, 100.0)
            .plan("other", seq_scan_alias("big", "big", None, 100_000.0));
        let (c, _) = fx.index_candidates();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].columns, vec!["code"]);
        // The same table scanned 10 times: no.
        let fx = Fixture::new()
            .table("public.rates", 2_000.0)
            .query("cold", "SELECT * FROM rates WHERE code = $1", 10, 0.4)
            .plan("cold", plan());
        let (c, d) = fx.index_candidates();
        assert!(c.is_empty());
        assert!(d[0].reason.contains("10 calls"), "{}", d[0].reason);
        // Hot but a small share of the workload's time: no.
        let fx = Fixture::new()
            .table("public.rates", 2_000.0)
            .query("hot", "SELECT * FROM rates WHERE code = $1", 5_000, 0.1)
            .plan("hot", plan())
            .query(
                "other",
                "SELECT * FROM rates WHERE code = $1 AND 1 = 1",
                10,
                1_000.0,
            )
            .plan("other", seq_scan_alias("rates", "rates", None, 2_000.0));
        let (c, _) = fx.index_candidates();
        assert!(c.is_empty(), "{c:?}");
        // A tiny table, however hot: never.
        let fx = Fixture::new()
            .table("public.rates", 300.0)
            .query("hot", "SELECT * FROM rates WHERE code = $1", 50_000, 0.4)
            .plan("hot", plan());
        let (c, d) = fx.index_candidates();
        assert!(c.is_empty());
        assert!(d[0].reason.contains("< 1,000"), "{}", d[0].reason);
    }

    #[test]
    fn or_between_columns_is_no_composite() {
        let fx = Fixture::new()
            .table("public.people", 100_000.0)
            .query(
                "q1",
                "SELECT * FROM people WHERE a = $1 OR b = $2",
                10,
                30.0,
            )
            .plan("q1", seq_scan("people", "((a = $1) OR (b = $2))", 5.0));
        let (c, d) = fx.index_candidates();
        assert!(c.is_empty(), "{c:?}");
        assert!(d[0].reason.contains("ORs conditions"), "{}", d[0].reason);
        assert!(
            d[0].reason.contains("((a = $1) OR (b = $2))"),
            "{}",
            d[0].reason
        );
        // An ANDed equality next to the OR is still served; one column ORed with itself is IN.
        let fx = Fixture::new()
            .table("public.people", 100_000.0)
            .query(
                "q1",
                "SELECT * FROM people WHERE x = $1 AND (a = $2 OR b = $3)",
                10,
                30.0,
            )
            .plan(
                "q1",
                seq_scan("people", "((x = $1) AND ((a = $2) OR (b = $3)))", 5.0),
            )
            .query(
                "q2",
                "SELECT * FROM people WHERE y = $1 OR y = $2",
                10,
                30.0,
            )
            .plan("q2", seq_scan("people", "((y = $1) OR (y = $2))", 5.0));
        let (c, _) = fx.index_candidates();
        let cols: Vec<&Vec<String>> = c.iter().map(|c| &c.columns).collect();
        assert_eq!(cols, vec![&vec!["x".to_string()], &vec!["y".to_string()]]);
    }
}
