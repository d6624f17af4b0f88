//! The advisor's view of one scan: per query its weight, best plan and text facts; per table its
//! size, write rate, indexes and column statistics; and a walk of plans that keeps what the flat
//! [`PlanFacts`](optidb_core::model::PlanFacts) loses: which scan a condition belongs to, whether
//! a scan runs inside a correlated sub-plan, and the sizes on both sides of a join.

use super::text::{self, RelRef, TextFacts};
use super::AdvisorInput;
use crate::analyze::plan_facts::{
    condition_columns, quote_ident, walk_nodes, PlanNode, TableSizes,
};
use optidb_core::model::{
    ColumnStats, Metric, Millis, Plan, PlanKind, Query, SchemaIndex, SchemaTable,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One query with what the rules need.
#[derive(Debug)]
pub struct QueryCtx<'a> {
    pub query: &'a Query,
    pub calls: i64,
    pub mean_ms: f64,
    /// calls × mean time: the query's weight in the workload.
    pub total_ms: f64,
    pub metric_at: Option<Millis>,
    pub generic: Option<&'a Plan>,
    pub analyzed: Option<&'a Plan>,
    pub text: TextFacts,
}

impl<'a> QueryCtx<'a> {
    /// The plan with the most evidence: analyzed (real values, actual rows) if any, else generic.
    pub fn best_plan(&self) -> Option<&'a Plan> {
        self.analyzed.or(self.generic)
    }
}

/// A condition column on a scanned table.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanCond {
    pub column: String,
    pub operator: String,
    /// The condition compares the column with a value of another relation (a correlated
    /// sub-plan's outer reference, a parameterized join).
    pub outer_ref: bool,
    /// `Filter`, `Index Cond`, `Recheck Cond`.
    pub source: String,
}

/// A scan node of a plan.
#[derive(Debug, Clone)]
pub struct ScanCtx {
    pub node_label: String,
    pub node_type: String,
    pub table: String,
    pub seq: bool,
    /// The index an index scan uses.
    pub index_name: Option<String>,
    pub conds: Vec<ScanCond>,
    /// Inside a non-hashed sub-plan (runs once per outer row).
    pub in_subplan: bool,
    /// The node's `Filter` as EXPLAIN printed it (constants keep their type: `'…'::jsonb`).
    pub filter_text: Option<String>,
    /// Per-loop estimate, over all processes of a parallel scan (EXPLAIN prints a parallel
    /// scan's rows per process: see [`parallel_divisor`]).
    pub est_rows: f64,
    pub act_rows_total: Option<f64>,
    pub removed_total: Option<f64>,
    pub loops: Option<f64>,
    pub cost: f64,
}

/// A join of a scanned table on a key, with the size of the other side.
#[derive(Debug, Clone)]
pub struct JoinCtx {
    pub node_label: String,
    pub table: String,
    pub column: String,
    /// The table side is read by a sequential scan.
    pub seq: bool,
    /// Estimated rows of the other input.
    pub other_rows: f64,
    pub other_act_rows: Option<f64>,
}

/// Everything indexed for the rules.
pub struct Workload<'a> {
    pub input: &'a AdvisorInput<'a>,
    pub queries: Vec<QueryCtx<'a>>,
    by_id: HashMap<&'a str, usize>,
    tables: HashMap<&'a str, &'a SchemaTable>,
    pub sizes: TableSizes,
    /// Partitioned table → the partitions its plans read (see [`partition_of`]).
    partitions: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Workload<'a> {
    /// The partitions (or inheritance children) the plans showed for a table the statements
    /// name, sorted; empty for a plain table.
    pub fn partitions(&self, table: &str) -> Vec<String> {
        self.partitions
            .get(table)
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the plans showed `table` read through its partitions.
    pub fn is_partitioned(&self, table: &str) -> bool {
        self.partitions.contains_key(table)
    }

    pub fn new(input: &'a AdvisorInput<'a>) -> Self {
        let mut latest: HashMap<&str, &Metric> = HashMap::new();
        for m in input.metrics {
            let e = latest.entry(m.query_id.as_str()).or_insert(m);
            if m.captured_at > e.captured_at {
                *e = m;
            }
        }
        let mut plans: HashMap<(&str, bool), &Plan> = HashMap::new();
        for p in input.plans {
            // Custom plans (real values, estimates only) add nothing the rules read today.
            let analyzed = match p.kind {
                PlanKind::Generic => false,
                PlanKind::Analyzed => true,
                PlanKind::Custom => continue,
            };
            let e = plans.entry((p.query_id.as_str(), analyzed)).or_insert(p);
            if p.captured_at > e.captured_at {
                *e = p;
            }
        }
        let mut queries = Vec::new();
        let mut by_id = HashMap::new();
        for q in input.queries {
            if by_id.contains_key(q.id.as_str()) {
                continue;
            }
            let m = latest.get(q.id.as_str());
            let calls = m.map(|m| m.calls).unwrap_or(0);
            let mean_ms = m.map(|m| m.mean_ms).unwrap_or(0.0);
            by_id.insert(q.id.as_str(), queries.len());
            queries.push(QueryCtx {
                query: q,
                calls,
                mean_ms,
                total_ms: calls as f64 * mean_ms,
                metric_at: m.map(|m| m.captured_at),
                generic: plans.get(&(q.id.as_str(), false)).copied(),
                analyzed: plans.get(&(q.id.as_str(), true)).copied(),
                text: text::facts(q),
            });
        }
        let tables = input
            .schema
            .tables
            .iter()
            .map(|t| (t.table_name.as_str(), t))
            .collect();
        let sizes = TableSizes::from_tables(&input.schema.tables);
        let mut partitions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for q in &queries {
            for plan in [q.generic, q.analyzed].into_iter().flatten() {
                for n in walk_nodes(&plan.plan_json) {
                    if let Some((parent, child)) = partition_of(&n, &q.text.relations, &sizes) {
                        partitions.entry(parent).or_default().insert(child);
                    }
                }
            }
        }
        Workload {
            input,
            queries,
            by_id,
            tables,
            sizes,
            partitions,
        }
    }

    pub fn now(&self) -> Millis {
        self.input.now
    }

    pub fn query(&self, id: &str) -> Option<&QueryCtx<'a>> {
        self.by_id.get(id).map(|&i| &self.queries[i])
    }

    pub fn table(&self, name: &str) -> Option<&'a SchemaTable> {
        self.tables.get(name).copied()
    }

    /// Rows of a table: the larger of the planner's estimate and the live tuple count.
    pub fn table_rows(&self, name: &str) -> f64 {
        let own = self
            .table(name)
            .map(|t| t.rows_est.max(t.live_tuples as f64))
            .unwrap_or(0.0);
        // A partitioned table holds no rows itself (its reltuples stays -1 until the parent is
        // analyzed, which autovacuum never does): its partitions' rows are its rows.
        let parts: f64 = self
            .partitions
            .get(name)
            .map(|p| p.iter().map(|c| self.table_rows_own(c)).sum())
            .unwrap_or(0.0);
        own.max(parts)
    }

    fn table_rows_own(&self, name: &str) -> f64 {
        self.table(name)
            .map(|t| t.rows_est.max(t.live_tuples as f64))
            .unwrap_or(0.0)
    }

    pub fn indexes(&self, table: &str) -> impl Iterator<Item = &'a SchemaIndex> + '_ {
        let table = table.to_string();
        self.input
            .schema
            .indexes
            .iter()
            .filter(move |i| i.table_name == table)
    }

    /// Statistics of a column, named raw (`accountId`, as pg_stats does) or as SQL
    /// (`"accountId"`, as plans print it).
    pub fn column_stats(&self, table: &str, column: &str) -> Option<&'a ColumnStats> {
        self.input
            .schema
            .column_stats
            .iter()
            .find(|c| c.table_name == table && quote_ident(&c.column) == quote_ident(column))
    }

    /// Distinct values of a column (pg_stats), `None` when unknown.
    pub fn distinct(&self, table: &str, column: &str) -> Option<f64> {
        let s = self.column_stats(table, column)?;
        if s.n_distinct > 0.0 {
            Some(s.n_distinct)
        } else if s.n_distinct < 0.0 {
            Some(-s.n_distinct * self.table_rows(table).max(1.0))
        } else {
            None
        }
    }

    /// Fraction of an index's benefit eaten by maintaining it: writes per live row, capped.
    pub fn write_penalty(&self, table: &str) -> f64 {
        match self.table(table) {
            Some(t) => {
                let churn = t.writes as f64 / (t.live_tuples.max(1) as f64);
                (churn * 0.02).min(0.5)
            }
            None => 0.0,
        }
    }

    /// An index scan by equality on every key column of a unique (or primary-key) index.
    pub fn is_unique_lookup(&self, s: &ScanCtx) -> bool {
        let Some(name) = &s.index_name else {
            return false;
        };
        let Some(ix) = self
            .indexes(&s.table)
            .find(|i| super::bare(&i.index_name) == super::bare(name) && (i.unique || i.primary))
        else {
            return false;
        };
        let eq: Vec<&str> = s
            .conds
            .iter()
            .filter(|c| c.source == "Index Cond" && (c.operator == "=" || c.operator == "IN"))
            .map(|c| c.column.as_str())
            .collect();
        ix.columns.iter().all(|c| eq.contains(&c.as_str()))
    }

    /// The scans and joins of a plan.
    /// Scans and joins of a partition are reported on the partitioned table the statement
    /// names (advice goes to the parent); `node_label` keeps the partition.
    pub fn walk(&self, plan: &Plan) -> (Vec<ScanCtx>, Vec<JoinCtx>) {
        let (mut scans, mut joins) = walk_plan(&plan.plan_json, &self.sizes);
        let to_parent = |t: &mut String| {
            if let Some((parent, _)) = self.partitions.iter().find(|(_, c)| c.contains(t.as_str()))
            {
                *t = parent.clone();
            }
        };
        scans.iter_mut().for_each(|s| to_parent(&mut s.table));
        joins.iter_mut().for_each(|j| to_parent(&mut j.table));
        (scans, joins)
    }
}

/// `(parent, partition)` when a scan reads a partition of a table the statement names: the
/// scan's alias is the statement's alias (or table name) of that table, possibly with EXPLAIN's
/// `_<n>` suffix for one of several partitions, and the relation it reads has another name.
pub fn partition_of(
    n: &PlanNode<'_>,
    relations: &[RelRef],
    sizes: &TableSizes,
) -> Option<(String, String)> {
    let relname = n.relation_name()?;
    let alias = n.alias()?;
    let base = match alias.rsplit_once('_') {
        Some((b, num)) if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => Some(b),
        _ => None,
    };
    let named = relations.iter().find(|r| {
        let shown = r.alias.as_deref().unwrap_or(&r.name);
        shown == alias || Some(shown) == base
    })?;
    if named.name == relname {
        return None;
    }
    let parent = sizes.qualify(named.schema.as_deref(), &named.name);
    sizes.get(&parent)?;
    Some((parent, n.qualified_relation(sizes)?))
}

/// What PostgreSQL divides a parallel-aware node's row estimate by (`get_parallel_divisor`):
/// the planned workers plus the leader's share (1 − 0.3 × workers, when positive). 1 for a node
/// that is not parallel-aware or has no `Gather`/`Gather Merge` above it.
pub fn parallel_divisor(nodes: &[PlanNode<'_>], n: &PlanNode<'_>) -> f64 {
    if !n.parallel_aware() {
        return 1.0;
    }
    let mut cur = n.parent;
    while let Some(p) = cur.and_then(|p| nodes.get(p)) {
        if matches!(p.node_type(), "Gather" | "Gather Merge") {
            let workers = p.num("Workers Planned").unwrap_or(0.0);
            let leader = 1.0 - 0.3 * workers;
            return (workers + leader.max(0.0)).max(1.0);
        }
        cur = p.parent;
    }
    1.0
}

/// Relation aliases and names that refer to the scan itself.
fn own_names(n: &PlanNode<'_>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(a) = n.alias() {
        v.push(a.to_string());
    }
    if let Some(r) = n.relation_name() {
        v.push(r.to_string());
    }
    v
}

fn is_outer(qualifiers: &[Option<String>], own: &[String]) -> bool {
    qualifiers
        .iter()
        .any(|q| q.as_ref().is_some_and(|q| !own.iter().any(|o| o == q)))
}

/// Scans (with their own conditions) and joins of a plan.
pub fn walk_plan(
    plan_json: &serde_json::Value,
    sizes: &TableSizes,
) -> (Vec<ScanCtx>, Vec<JoinCtx>) {
    let nodes: Vec<PlanNode<'_>> = walk_nodes(plan_json).collect();
    let in_subplan = |i: usize| {
        let mut cur = Some(i);
        while let Some(c) = cur {
            let n = &nodes[c];
            if n.str("Parent Relationship") == Some("SubPlan")
                && !n.str("Subplan Name").unwrap_or("").starts_with("hashed")
            {
                return true;
            }
            cur = n.parent;
        }
        false
    };
    let mut scans = Vec::new();
    for n in &nodes {
        let Some(table) = n.qualified_relation(sizes) else {
            continue;
        };
        let own = own_names(n);
        let mut conds = Vec::new();
        for key in ["Filter", "Index Cond", "Recheck Cond"] {
            let Some(expr) = n.str(key) else { continue };
            let cols = condition_columns(expr);
            // A comparison with another relation's column marks both sides as an outer reference.
            let any_outer = cols.iter().any(|c| is_outer(&c.qualifiers, &own));
            for c in cols {
                if is_outer(&c.qualifiers, &own) {
                    continue;
                }
                conds.push(ScanCond {
                    column: c.column,
                    operator: c.operator,
                    outer_ref: any_outer,
                    source: key.to_string(),
                });
            }
        }
        scans.push(ScanCtx {
            node_label: n.label(sizes),
            node_type: n.display_type(),
            table,
            seq: n.is_seq_scan(),
            index_name: n.index_name().map(str::to_string),
            conds,
            in_subplan: in_subplan(n.index),
            filter_text: n.str("Filter").map(str::to_string),
            est_rows: n.est_rows().unwrap_or(0.0) * parallel_divisor(&nodes, n),
            act_rows_total: n.actual_rows_total(),
            removed_total: n.rows_removed_by_filter_total(),
            loops: n.loops(),
            cost: n.total_cost().unwrap_or(0.0),
        });
    }
    // Joins: for each side that bottoms out in a scan of one table, the join key on that table.
    let mut joins = Vec::new();
    for n in &nodes {
        let Some(cond) = n.str("Hash Cond").or(n.str("Merge Cond")) else {
            continue;
        };
        let children: Vec<&PlanNode<'_>> =
            nodes.iter().filter(|c| c.parent == Some(n.index)).collect();
        if children.len() != 2 {
            continue;
        }
        let cols = condition_columns(cond);
        for (side, other) in [(0usize, 1usize), (1, 0)] {
            // Follow Hash / Sort / Materialize / Gather down to the scan.
            let mut cur = children[side];
            loop {
                if cur.relation_name().is_some() {
                    break;
                }
                let kids: Vec<&PlanNode<'_>> = nodes
                    .iter()
                    .filter(|c| c.parent == Some(cur.index))
                    .collect();
                if kids.len() != 1 {
                    break;
                }
                cur = kids[0];
            }
            let Some(table) = cur.qualified_relation(sizes) else {
                continue;
            };
            let own = own_names(cur);
            for c in &cols {
                let mine = !c.qualifiers.is_empty()
                    && c.qualifiers
                        .iter()
                        .all(|q| q.as_ref().is_some_and(|q| own.iter().any(|o| o == q)));
                if mine && c.operator == "=" {
                    joins.push(JoinCtx {
                        node_label: n.label(sizes),
                        table: table.clone(),
                        column: c.column.clone(),
                        seq: cur.is_seq_scan(),
                        other_rows: children[other].est_rows().unwrap_or(0.0),
                        other_act_rows: children[other].actual_rows_total(),
                    });
                }
            }
        }
    }
    // A nested loop whose inner side is a sequential scan: the whole table read once per outer
    // row, the join condition tested in the loop's Join Filter.
    for n in nodes.iter().filter(|n| n.node_type() == "Nested Loop") {
        let Some(cond) = n.str("Join Filter") else {
            continue;
        };
        let children: Vec<&PlanNode<'_>> =
            nodes.iter().filter(|c| c.parent == Some(n.index)).collect();
        let [outer, inner] = children.as_slice() else {
            continue;
        };
        let mut cur = *inner;
        while cur.relation_name().is_none() && matches!(cur.node_type(), "Materialize" | "Memoize")
        {
            match nodes.iter().find(|c| c.parent == Some(cur.index)) {
                Some(kid) => cur = kid,
                None => break,
            }
        }
        let (Some(table), true) = (cur.qualified_relation(sizes), cur.is_seq_scan()) else {
            continue;
        };
        let own = own_names(cur);
        for c in condition_columns(cond) {
            let mine = !c.qualifiers.is_empty()
                && c.qualifiers
                    .iter()
                    .all(|q| q.as_ref().is_some_and(|q| own.iter().any(|o| o == q)));
            if mine && c.operator == "=" {
                joins.push(JoinCtx {
                    node_label: n.label(sizes),
                    table: table.clone(),
                    column: c.column.clone(),
                    seq: true,
                    other_rows: outer.est_rows().unwrap_or(0.0),
                    other_act_rows: outer.actual_rows_total(),
                });
            }
        }
    }
    (scans, joins)
}

/// Filter columns (Filter, Index Cond, Recheck Cond) per table over the queries' plans, without
/// outer references: equality columns first, then the others, each in plan order (the order an
/// index on them would take).
pub fn filter_columns_by_table(w: &Workload<'_>) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut out: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for q in &w.queries {
        let Some(plan) = q.best_plan() else { continue };
        let (scans, _) = w.walk(plan);
        for s in scans {
            if w.is_unique_lookup(&s) {
                // A primary-key or unique lookup reads one row whatever the statistics say.
                continue;
            }
            let own = || s.conds.iter().filter(|c| !c.outer_ref);
            let is_eq = |op: &str| matches!(op, "=" | "IN" | "IS NULL");
            let mut cols: Vec<String> = Vec::new();
            for c in own()
                .filter(|c| is_eq(&c.operator))
                .chain(own().filter(|c| !is_eq(&c.operator)))
            {
                if !cols.contains(&c.column) {
                    cols.push(c.column.clone());
                }
            }
            out.entry(s.table.clone())
                .or_default()
                .push((q.query.id.clone(), cols));
        }
    }
    out
}
