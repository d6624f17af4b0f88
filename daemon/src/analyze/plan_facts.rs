//! Turns PostgreSQL's `EXPLAIN (FORMAT JSON)` output (with or without ANALYZE and BUFFERS) into
//! the [`PlanFacts`] the rules quote as evidence, and hashes a plan's shape so the collector can
//! tell when a query's plan changed. Pure: JSON in, facts out, no database.
//!
//! Conventions (the advisor and the dashboard rely on them):
//! - Nodes are read in tree order (depth first, parent before children, `Plans` in order; init-
//!   and sub-plans are children of the node that uses them).
//! - A node's type is its `Node Type`, prefixed with `Parallel ` when `Parallel Aware` is true, as
//!   text EXPLAIN prints it (`Parallel Seq Scan`, `Parallel Hash Join`). Both `Seq Scan` and
//!   `Parallel Seq Scan` count as sequential scans.
//! - `join_types` holds `"<node type> (<Join Type>)"` for every node that has a `Join Type`:
//!   `Hash Join (Inner)`, `Nested Loop (Left)`, `Merge Join (Anti)`, `Parallel Hash Join (Semi)`.
//! - Tables are schema-qualified: `Schema` (VERBOSE only) + `Relation Name`; without `Schema` the
//!   relation is looked up among the [`TableSizes`] keys (`public` first, else the only schema
//!   that has it); failing that the bare relation name is kept.
//! - Actual rows are totals (`Actual Rows` × `Actual Loops`); so is `Rows Removed by Filter`
//!   (PostgreSQL prints per-loop averages). `rows_removed_by_filter` is `Some` (possibly 0) for
//!   analyzed plans and `None` without ANALYZE.
//! - Row skew is `max(est/act, act/est)` per node with actuals, on per-loop figures (`Plan Rows`
//!   is a per-loop estimate), both floored at one row; nodes that never ran are skipped. A node
//!   whose consumer may stop reading early (below a `Limit`, an input of a `Merge Join`, the
//!   inner side of a semi/anti `Nested Loop`, a sub- or init-plan, and what streams into those;
//!   a `Sort`, `Hash` or hashed/plain `Aggregate` reads its input to the end) only counts when it
//!   returned *more* rows than estimated: fewer rows there is the early stop, not a misestimate
//!   (`ORDER BY … LIMIT 10` would otherwise show a 10,000× "skew" on every top-N query).
//! - Filters come from `Filter`, `Index Cond`, `Recheck Cond`, `Hash Cond`, `Merge Cond` and
//!   `Join Filter` (see [`CONDITION_KEYS`]); the operator vocabulary and the column format are
//!   those of [`condition_columns`]. An unqualified column belongs to the relation of the scan
//!   that prints it (for a `Bitmap Index Scan`, that of its `Bitmap Heap Scan`); `alias.column`
//!   maps through the plan's `Alias` entries. In a scan's condition, a column of another table is
//!   an outer reference (a value supplied per loop, as in `(customer_id = c.id)` of a correlated
//!   sub-plan or a parameterized inner scan), not a filter on that table: it is left out. The
//!   table is `None` when the columns do not resolve to a single table. Duplicates are dropped,
//!   first occurrence kept.
//! - Sort keys are those of [`sort_key`]: no qualifiers, no casts, `DESC`/`NULLS …` kept;
//!   duplicates dropped.
//! - `indexes_used` lists `Index Name` of Index Scan, Index Only Scan and Bitmap Index Scan nodes,
//!   in tree order, without duplicates.

mod expr;
#[cfg(test)]
mod tests;

pub use expr::{condition_columns, or_columns, quote_ident, sort_key, CondColumn};

use optidb_core::model::{FilterFact, PlanFacts, SchemaTable, SeqScanFact};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The plan keys whose expressions are read for filters.
pub const CONDITION_KEYS: [&str; 6] = [
    "Filter",
    "Index Cond",
    "Recheck Cond",
    "Hash Cond",
    "Merge Cond",
    "Join Filter",
];

/// Node types whose `Index Name` counts as an index the plan uses.
const INDEX_SCANS: [&str; 3] = ["Index Scan", "Index Only Scan", "Bitmap Index Scan"];

/// Table sizes from the schema snapshot, to annotate seq scans and to qualify relation names:
/// key = schema-qualified name (`public.orders`), value = (estimated rows, bytes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableSizes(pub HashMap<String, (f64 /* rows_est */, i64 /* bytes */)>);

impl TableSizes {
    /// From the snapshot's tables (`table_name` is schema-qualified).
    pub fn from_tables(tables: &[SchemaTable]) -> Self {
        Self(
            tables
                .iter()
                .map(|t| (t.table_name.clone(), (t.rows_est, t.bytes)))
                .collect(),
        )
    }

    /// Size of a schema-qualified table.
    pub fn get(&self, table: &str) -> Option<(f64, i64)> {
        self.0.get(table).copied()
    }

    /// The schema-qualified name of a relation: `schema.relation` when the plan says the schema,
    /// else `public.relation` when known, else the only known `<schema>.relation`, else the bare
    /// relation name.
    pub fn qualify(&self, schema: Option<&str>, relation: &str) -> String {
        if let Some(schema) = schema.filter(|s| !s.is_empty()) {
            return format!("{schema}.{relation}");
        }
        let public = format!("public.{relation}");
        if self.0.contains_key(&public) {
            return public;
        }
        let mut found = self
            .0
            .keys()
            .filter(|k| k.split_once('.').is_some_and(|(_, name)| name == relation));
        match (found.next(), found.next()) {
            (Some(only), None) => only.clone(),
            _ => relation.to_string(),
        }
    }
}

impl From<&[SchemaTable]> for TableSizes {
    fn from(tables: &[SchemaTable]) -> Self {
        Self::from_tables(tables)
    }
}

/// Why a JSON value is not an EXPLAIN document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanFactsError {
    /// The value does not have the shape of `EXPLAIN (FORMAT JSON)` output.
    #[error(
        "not EXPLAIN (FORMAT JSON) output: {0}; pass the array PostgreSQL returns, \
         its first element, or a plan node"
    )]
    NotExplainJson(&'static str),
}

/// One node of a plan, as [`walk_nodes`] yields it: the raw JSON object plus its place in the
/// tree, with typed accessors for the keys OptiDB reads.
#[derive(Debug, Clone, Copy)]
pub struct PlanNode<'a> {
    /// The node's JSON object (`{"Node Type": …, "Plans": […], …}`).
    pub json: &'a Value,
    /// 0 for the root.
    pub depth: usize,
    /// Position in tree order (0 for the root).
    pub index: usize,
    /// `index` of the parent node.
    pub parent: Option<usize>,
}

impl<'a> PlanNode<'a> {
    /// A string-valued key.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.json.get(key).and_then(Value::as_str)
    }

    /// A number-valued key.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.json.get(key).and_then(Value::as_f64)
    }

    /// `Node Type` (empty when missing).
    pub fn node_type(&self) -> &'a str {
        self.str("Node Type").unwrap_or("")
    }

    pub fn parallel_aware(&self) -> bool {
        self.json
            .get("Parallel Aware")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The node type as text EXPLAIN names it: `Parallel Seq Scan` for a parallel-aware Seq Scan.
    pub fn display_type(&self) -> String {
        let t = self.node_type();
        if self.parallel_aware() && !t.starts_with("Parallel") {
            format!("Parallel {t}")
        } else {
            t.to_string()
        }
    }

    /// A `Seq Scan`, parallel or not (PostgreSQL says `Seq Scan` with `Parallel Aware`; a
    /// `Parallel Seq Scan` node type, as some tools write it, is accepted too).
    pub fn is_seq_scan(&self) -> bool {
        matches!(self.node_type(), "Seq Scan" | "Parallel Seq Scan")
    }

    pub fn relation_name(&self) -> Option<&'a str> {
        self.str("Relation Name")
    }

    /// `Schema` (printed with VERBOSE only).
    pub fn schema(&self) -> Option<&'a str> {
        self.str("Schema")
    }

    pub fn alias(&self) -> Option<&'a str> {
        self.str("Alias")
    }

    pub fn index_name(&self) -> Option<&'a str> {
        self.str("Index Name")
    }

    /// `Inner`, `Left`, `Full`, `Right`, `Semi`, `Anti` … on join nodes.
    pub fn join_type(&self) -> Option<&'a str> {
        self.str("Join Type")
    }

    /// Schema-qualified relation scanned (see [`TableSizes::qualify`]).
    pub fn qualified_relation(&self, tables: &TableSizes) -> Option<String> {
        self.relation_name()
            .map(|r| tables.qualify(self.schema(), r))
    }

    /// `Plan Rows`: the planner's estimate per loop.
    pub fn est_rows(&self) -> Option<f64> {
        self.num("Plan Rows")
    }

    pub fn total_cost(&self) -> Option<f64> {
        self.num("Total Cost")
    }

    /// `Actual Loops` (ANALYZE only).
    pub fn loops(&self) -> Option<f64> {
        self.num("Actual Loops")
    }

    /// Whether the node carries ANALYZE figures.
    pub fn has_actuals(&self) -> bool {
        self.num("Actual Rows").is_some()
    }

    /// `Actual Rows`: rows per loop (ANALYZE only).
    pub fn actual_rows_per_loop(&self) -> Option<f64> {
        self.num("Actual Rows")
    }

    /// Rows over all loops: `Actual Rows` × `Actual Loops`.
    pub fn actual_rows_total(&self) -> Option<f64> {
        Some(self.actual_rows_per_loop()? * self.loops().unwrap_or(1.0))
    }

    /// Rows removed by the node's `Filter` over all loops; 0 for an analyzed node without one.
    pub fn rows_removed_by_filter_total(&self) -> Option<f64> {
        if !self.has_actuals() {
            return None;
        }
        let per_loop = self.num("Rows Removed by Filter").unwrap_or(0.0);
        Some(per_loop * self.loops().unwrap_or(1.0))
    }

    /// How text EXPLAIN names the node, with the relation schema-qualified:
    /// `Seq Scan on public.events`, `Index Scan using orders_pkey on public.orders`,
    /// `Bitmap Index Scan on orders_created_at_idx`, `Hash Join`.
    pub fn label(&self, tables: &TableSizes) -> String {
        let mut label = self.display_type();
        match (self.index_name(), self.qualified_relation(tables)) {
            (Some(index), Some(rel)) => label.push_str(&format!(" using {index} on {rel}")),
            (None, Some(rel)) => label.push_str(&format!(" on {rel}")),
            (Some(index), None) => label.push_str(&format!(" on {index}")),
            (None, None) => {}
        }
        label
    }
}

/// The plan nodes of an EXPLAIN (FORMAT JSON) document (the array, its first element, or a plan
/// node), in tree order. Yields nothing for a value of another shape.
pub fn walk_nodes(plan_json: &Value) -> impl Iterator<Item = PlanNode<'_>> {
    let root = locate(plan_json).ok().map(|(_, root)| root);
    PlanNodes {
        stack: root.into_iter().map(|r| (r, 0, None)).collect(),
        next_index: 0,
    }
}

/// Depth-first walk with an explicit stack: no recursion, whatever the depth of the input.
struct PlanNodes<'a> {
    stack: Vec<(&'a Value, usize, Option<usize>)>,
    next_index: usize,
}

impl<'a> Iterator for PlanNodes<'a> {
    type Item = PlanNode<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (json, depth, parent) = self.stack.pop()?;
        let index = self.next_index;
        self.next_index += 1;
        if let Some(children) = json.get("Plans").and_then(Value::as_array) {
            for child in children.iter().rev().filter(|c| c.is_object()) {
                self.stack.push((child, depth + 1, Some(index)));
            }
        }
        Some(PlanNode {
            json,
            depth,
            index,
            parent,
        })
    }
}

/// Finds the top-level element (with `Plan`, `Execution Time` …) and the root plan node.
fn locate(plan_json: &Value) -> Result<(Option<&Value>, &Value), PlanFactsError> {
    let top = match plan_json {
        Value::Array(items) => items
            .first()
            .ok_or(PlanFactsError::NotExplainJson("the array is empty"))?,
        other => other,
    };
    let Some(obj) = top.as_object() else {
        return Err(PlanFactsError::NotExplainJson(
            "expected a JSON array or object",
        ));
    };
    let is_node = |v: &Value| v.get("Node Type").is_some_and(Value::is_string);
    match obj.get("Plan") {
        Some(plan) if is_node(plan) => Ok((Some(top), plan)),
        Some(_) => Err(PlanFactsError::NotExplainJson(
            "\"Plan\" has no \"Node Type\"",
        )),
        None if is_node(top) => Ok((None, top)),
        None => Err(PlanFactsError::NotExplainJson("no \"Plan\" key")),
    }
}

/// Facts from an EXPLAIN (FORMAT JSON) document (the whole array PostgreSQL returns, or its
/// first element). See the module documentation for the conventions.
pub fn plan_facts(plan_json: &Value, tables: &TableSizes) -> Result<PlanFacts, PlanFactsError> {
    let (top, _) = locate(plan_json)?;
    let nodes: Vec<PlanNode<'_>> = walk_nodes(plan_json).collect();
    let Some(root) = nodes.first() else {
        return Err(PlanFactsError::NotExplainJson("no plan node"));
    };
    let rels: Vec<Option<String>> = nodes.iter().map(|n| n.qualified_relation(tables)).collect();

    let mut aliases: HashMap<&str, &str> = HashMap::new();
    for (n, rel) in nodes.iter().zip(&rels) {
        if let (Some(alias), Some(rel)) = (n.alias(), rel) {
            aliases.entry(alias).or_insert(rel.as_str());
        }
    }
    let distinct_rels: HashSet<&str> = rels.iter().flatten().map(String::as_str).collect();
    let only_rel = match distinct_rels.len() {
        1 => distinct_rels.iter().next().copied(),
        _ => None,
    };
    let analyzed = nodes.iter().any(PlanNode::has_actuals);

    let mut facts = PlanFacts {
        est_rows: root.est_rows().unwrap_or(0.0),
        act_rows: root.actual_rows_total(),
        total_cost: root.total_cost().unwrap_or(0.0),
        execution_ms: top
            .and_then(|t| t.get("Execution Time"))
            .and_then(Value::as_f64),
        rows_removed_by_filter: analyzed.then_some(0.0),
        buffers_present: top
            .and_then(|t| t.get("Planning"))
            .is_some_and(|p| p.get("Shared Hit Blocks").is_some()),
        ..PlanFacts::default()
    };
    let mut seen_filters = HashSet::new();
    let mut skew: Option<(f64, usize)> = None;
    let may_stop_early = may_stop_early(&nodes);

    for ((n, rel), cut_short) in nodes.iter().zip(&rels).zip(may_stop_early) {
        let display = n.display_type();
        if let Some(join) = n.join_type() {
            facts.join_types.push(format!("{display} ({join})"));
        }
        facts.node_types.push(display);
        facts.buffers_present |= n.json.get("Shared Hit Blocks").is_some();

        if n.is_seq_scan() {
            facts.had_seq_scan = true;
            let table = rel
                .clone()
                .or_else(|| n.alias().map(str::to_string))
                .unwrap_or_default();
            let size = tables.get(&table);
            facts.seq_scans.push(SeqScanFact {
                est_rows: n.est_rows().unwrap_or(0.0),
                act_rows: n.actual_rows_total(),
                rows_removed_by_filter: n.rows_removed_by_filter_total(),
                table_rows_est: size.map(|s| s.0),
                table_bytes: size.map(|s| s.1),
                table,
            });
        }
        if INDEX_SCANS.contains(&n.node_type()) {
            if let Some(index) = n.index_name() {
                push_unique(&mut facts.indexes_used, index.to_string());
            }
        }
        if let Some(keys) = n.json.get("Sort Key").and_then(Value::as_array) {
            for key in keys.iter().filter_map(Value::as_str) {
                push_unique(&mut facts.sort_keys, sort_key(key));
            }
        }
        if let (Some(total), Some(removed)) = (
            facts.rows_removed_by_filter.as_mut(),
            n.rows_removed_by_filter_total(),
        ) {
            *total += removed;
        }
        if let (Some(est), Some(act)) = (n.est_rows(), n.actual_rows_per_loop()) {
            if n.loops().unwrap_or(1.0) > 0.0 {
                let (est, act) = (est.max(1.0), act.max(1.0));
                let ratio = if cut_short {
                    (act / est).max(1.0)
                } else {
                    (est / act).max(act / est)
                };
                if ratio.is_finite() && skew.is_none_or(|(best, _)| ratio > best) {
                    skew = Some((ratio, n.index));
                }
            }
        }

        // Unqualified columns: the node's own relation; a Bitmap Index Scan's is that of the
        // Bitmap Heap Scan above it; a node that scans nothing (a join, an aggregate) in a plan
        // over a single relation can only mean that one.
        let own_rel = rel
            .as_deref()
            .or_else(|| bitmap_heap_relation(&nodes, &rels, n));
        let unqualified = own_rel.or(if n.node_type().ends_with("Scan") {
            None
        } else {
            only_rel
        });
        for key in CONDITION_KEYS {
            let Some(expr) = n.str(key) else { continue };
            for cond in condition_columns(expr) {
                let table = table_of(&cond.qualifiers, unqualified, &aliases);
                if own_rel.is_some() && table.is_some() && table.as_deref() != own_rel {
                    continue; // an outer reference, not a filter on this scan's table
                }
                let fact = FilterFact {
                    table,
                    column: cond.column,
                    operator: cond.operator,
                    source: key.to_string(),
                };
                if seen_filters.insert(fact.clone()) {
                    facts.filters.push(fact);
                }
            }
        }
    }
    if analyzed {
        if let Some((ratio, index)) = skew {
            facts.max_row_skew = Some(ratio);
            facts.max_row_skew_node = nodes.get(index).map(|n| n.label(tables));
        }
    }
    Ok(facts)
}

/// For each node (tree order), whether its consumer may stop reading it before the end, so that
/// fewer actual rows than estimated says nothing about the estimate. See the module docs.
fn may_stop_early(nodes: &[PlanNode<'_>]) -> Vec<bool> {
    let mut cut = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let Some(p) = n.parent.filter(|&p| p < i) else {
            continue;
        };
        let parent = &nodes[p];
        let relationship = n.str("Parent Relationship");
        let stops_child = match parent.node_type() {
            "Limit" | "Merge Join" => true,
            "Nested Loop" => {
                matches!(parent.join_type(), Some("Semi" | "Anti")) && relationship == Some("Inner")
            }
            _ => false,
        };
        let inherits = cut[p]
            && match parent.node_type() {
                "Sort" | "Hash" => false,
                "Aggregate" | "SetOp" => {
                    !matches!(parent.str("Strategy"), Some("Plain" | "Hashed"))
                }
                "Hash Join" => relationship != Some("Inner"),
                _ => true,
            };
        cut[i] = stops_child || inherits || matches!(relationship, Some("SubPlan" | "InitPlan"));
    }
    cut
}

/// The relation of the Bitmap Heap Scan a Bitmap Index Scan (possibly under BitmapAnd/BitmapOr)
/// feeds.
fn bitmap_heap_relation<'r>(
    nodes: &[PlanNode<'_>],
    rels: &'r [Option<String>],
    node: &PlanNode<'_>,
) -> Option<&'r str> {
    if node.node_type() != "Bitmap Index Scan" {
        return None;
    }
    let mut parent = node.parent;
    while let Some(p) = parent {
        let up = nodes.get(p)?;
        match up.node_type() {
            "BitmapAnd" | "BitmapOr" => parent = up.parent,
            "Bitmap Heap Scan" => return rels.get(p)?.as_deref(),
            _ => return None,
        }
    }
    None
}

/// The table of a condition's columns: known only when all of them resolve to the same one.
fn table_of(
    qualifiers: &[Option<String>],
    unqualified: Option<&str>,
    aliases: &HashMap<&str, &str>,
) -> Option<String> {
    let mut table: Option<&str> = None;
    for q in qualifiers {
        let t = match q {
            None => unqualified?,
            Some(q) => *aliases.get(q.as_str())?,
        };
        if table.is_some_and(|seen| seen != t) {
            return None;
        }
        table = Some(t);
    }
    table.map(str::to_string)
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// blake3 (hex) of the plan's shape: for each node in tree order its depth, node type (with
/// `Parallel`), `Strategy`, `Join Type`, `Parent Relationship`, relation name and index name —
/// not costs, rows, timings, aliases or conditions. Two plans with the same shape hash the same,
/// with or without ANALYZE, BUFFERS or VERBOSE. A value that is not a plan hashes as an empty
/// plan.
pub fn plan_hash(plan_json: &Value) -> String {
    let shape: Vec<Value> = walk_nodes(plan_json)
        .map(|n| {
            serde_json::json!([
                n.depth,
                n.display_type(),
                n.str("Strategy"),
                n.join_type(),
                n.str("Parent Relationship"),
                n.relation_name(),
                n.index_name(),
            ])
        })
        .collect();
    let bytes = serde_json::to_vec(&shape).unwrap_or_default();
    blake3::hash(&bytes).to_hex().to_string()
}
