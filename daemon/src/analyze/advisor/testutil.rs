//! Small hand-built advisor inputs for the rules' unit tests: tables, indexes, queries with
//! metrics, and EXPLAIN-shaped plan trees (facts computed by the real plan_facts).

use super::rules::missing_index::{self, IndexCandidate};
use super::rules::stats::stale_tables;
use super::workload::Workload;
use super::AdvisorInput;
use crate::analyze::plan_facts::{plan_facts, TableSizes};
use optidb_core::model::*;
use serde_json::{json, Value};

pub const NOW: Millis = 1_714_564_800_000;

#[derive(Default)]
pub struct Fixture {
    pub queries: Vec<Query>,
    pub metrics: Vec<Metric>,
    pub plans: Vec<Plan>,
    pub schema: SchemaSnapshot,
}

impl Fixture {
    pub fn new() -> Self {
        Fixture {
            schema: SchemaSnapshot {
                captured_at: NOW,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    pub fn table(self, name: &str, rows: f64) -> Self {
        self.table_full(name, rows, rows as i64, 0, true)
    }

    pub fn table_full(
        mut self,
        name: &str,
        rows_est: f64,
        live: i64,
        mods: i64,
        autovacuum: bool,
    ) -> Self {
        self.schema.tables.push(SchemaTable {
            table_name: name.into(),
            rows_est,
            bytes: live * 100,
            live_tuples: live,
            dead_tuples: 0,
            writes: live + mods,
            seq_scans: 10,
            idx_scans: 10,
            last_analyze: Some(NOW - 3_600_000),
            mods_since_analyze: mods,
            autovacuum_enabled: autovacuum,
            size_estimated: false,
        });
        self
    }

    pub fn index(self, table: &str, name: &str, cols: &[&str], unique: bool) -> Self {
        self.index_full(table, name, cols, unique, 0)
    }

    pub fn index_used(self, table: &str, name: &str, cols: &[&str], scans: i64) -> Self {
        self.index_full(table, name, cols, false, scans)
    }

    fn index_full(
        mut self,
        table: &str,
        name: &str,
        cols: &[&str],
        unique: bool,
        scans: i64,
    ) -> Self {
        let schema = table.split('.').next().unwrap_or("public");
        self.schema.indexes.push(SchemaIndex {
            index_name: format!("{schema}.{name}"),
            table_name: table.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            unique,
            primary: false,
            constraint: unique.then(|| name.to_string()),
            partial_predicate: None,
            access_method: "btree".into(),
            scan_count: scans,
            bytes: 1_000_000,
            covers_columns: vec![],
            valid: true,
            definition: format!(
                "CREATE INDEX {name} ON {table} USING btree ({})",
                cols.join(", ")
            ),
            size_estimated: false,
        });
        self
    }

    pub fn stats(mut self, table: &str, column: &str, n_distinct: f64) -> Self {
        self.schema.column_stats.push(ColumnStats {
            table_name: table.into(),
            column: column.into(),
            null_frac: 0.0,
            n_distinct,
            correlation: None,
            most_common_freqs: vec![],
        });
        self
    }

    pub fn query(self, id: &str, norm: &str, calls: i64, mean_ms: f64) -> Self {
        self.query_full(id, norm, None, calls, mean_ms)
    }

    pub fn query_with_sample(
        self,
        id: &str,
        norm: &str,
        raw: &str,
        calls: i64,
        mean_ms: f64,
    ) -> Self {
        self.query_full(id, norm, Some(raw), calls, mean_ms)
    }

    fn query_full(
        mut self,
        id: &str,
        norm: &str,
        raw: Option<&str>,
        calls: i64,
        mean_ms: f64,
    ) -> Self {
        self.queries.push(Query {
            id: id.into(),
            fingerprint: id.into(),
            raw_sql: raw.unwrap_or(norm).into(),
            raw_has_values: raw.is_some(),
            norm_sql: norm.into(),
            first_seen: NOW,
            last_seen: NOW,
            pgss_queryids: vec![],
        });
        self.metrics.push(Metric {
            query_id: id.into(),
            captured_at: NOW,
            calls,
            total_ms: calls as f64 * mean_ms,
            mean_ms,
            rows: calls,
            shared_blks_hit: 0,
            shared_blks_read: 0,
            interval: None,
        });
        self
    }

    pub fn plan(mut self, id: &str, root: Value) -> Self {
        let json = json!([{ "Plan": root }]);
        let facts =
            plan_facts(&json, &TableSizes::from_tables(&self.schema.tables)).unwrap_or_default();
        self.plans.push(Plan {
            query_id: id.into(),
            captured_at: NOW,
            kind: PlanKind::Generic,
            plan_hash: String::new(),
            plan_json: json,
            facts,
        });
        self
    }

    /// A whole EXPLAIN (FORMAT JSON) document (a captured fixture): analyzed when it carries
    /// actual rows, else generic.
    pub fn plan_doc(mut self, id: &str, json: Value) -> Self {
        let facts =
            plan_facts(&json, &TableSizes::from_tables(&self.schema.tables)).unwrap_or_default();
        self.plans.push(Plan {
            query_id: id.into(),
            captured_at: NOW,
            kind: if facts.act_rows.is_some() {
                PlanKind::Analyzed
            } else {
                PlanKind::Generic
            },
            plan_hash: String::new(),
            plan_json: json,
            facts,
        });
        self
    }

    pub fn input(&self) -> AdvisorInput<'_> {
        AdvisorInput {
            queries: &self.queries,
            metrics: &self.metrics,
            plans: &self.plans,
            schema: &self.schema,
            now: NOW,
        }
    }

    pub fn run(&self) -> (Vec<Recommendation>, Vec<DroppedCandidate>) {
        super::candidates(&self.input())
    }

    pub fn index_candidates(&self) -> (Vec<IndexCandidate>, Vec<DroppedCandidate>) {
        let input = self.input();
        let w = Workload::new(&input);
        let stale = stale_tables(&w);
        missing_index::candidates(&w, &stale)
    }
}

pub fn seq_scan(rel: &str, filter: &str, rows: f64) -> Value {
    seq_scan_alias(rel, rel, Some(filter), rows)
}

pub fn seq_scan_alias(rel: &str, alias: &str, filter: Option<&str>, rows: f64) -> Value {
    let mut v = json!({
        "Node Type": "Seq Scan", "Relation Name": rel, "Schema": "public", "Alias": alias,
        "Startup Cost": 0.0, "Total Cost": 5000.0, "Plan Rows": rows, "Plan Width": 8
    });
    if let Some(f) = filter {
        v["Filter"] = json!(f);
    }
    v
}

pub fn index_scan(rel: &str, alias: &str, index: &str, cond: &str, rows: f64) -> Value {
    json!({
        "Node Type": "Index Scan", "Relation Name": rel, "Schema": "public", "Alias": alias,
        "Index Name": index, "Index Cond": cond,
        "Startup Cost": 0.0, "Total Cost": 10.0, "Plan Rows": rows, "Plan Width": 8
    })
}

pub fn hash_join(cond: &str, outer: Value, inner: Value) -> Value {
    let mut outer = outer;
    outer["Parent Relationship"] = json!("Outer");
    let mut inner = inner;
    inner["Parent Relationship"] = json!("Outer");
    json!({
        "Node Type": "Hash Join", "Join Type": "Inner", "Hash Cond": cond,
        "Startup Cost": 0.0, "Total Cost": 6000.0, "Plan Rows": 10.0, "Plan Width": 8,
        "Plans": [outer, {
            "Node Type": "Hash", "Parent Relationship": "Inner",
            "Startup Cost": 0.0, "Total Cost": 10.0, "Plan Rows": inner["Plan Rows"].clone(), "Plan Width": 8,
            "Plans": [inner]
        }]
    })
}

pub fn limit_sort(key: &str, child: Value) -> Value {
    json!({
        "Node Type": "Limit", "Startup Cost": 0.0, "Total Cost": 6000.0, "Plan Rows": 20.0, "Plan Width": 8,
        "Plans": [{
            "Node Type": "Sort", "Parent Relationship": "Outer", "Sort Key": [key],
            "Startup Cost": 0.0, "Total Cost": 6000.0, "Plan Rows": 500.0, "Plan Width": 8,
            "Plans": [child]
        }]
    })
}

pub fn subplan(scan: Value) -> Value {
    json!({
        "Node Type": "Aggregate", "Strategy": "Plain", "Parent Relationship": "SubPlan",
        "Subplan Name": "SubPlan 1",
        "Startup Cost": 0.0, "Total Cost": 5000.0, "Plan Rows": 1.0, "Plan Width": 8,
        "Plans": [scan]
    })
}

pub fn with_children(mut node: Value, children: Vec<Value>) -> Value {
    node["Plans"] = Value::Array(children);
    node
}

/// Every statement of every recommendation's DDL parses with PostgreSQL's parser, and every
/// CREATE INDEX passes the simulator's validator (exactly one CREATE INDEX, hypopg's form
/// derivable) — what the e2e tests then build for real in a rolled-back transaction.
pub fn assert_valid_ddl(recs: &[Recommendation]) {
    for r in recs {
        // A rewrite sketch may be comments only.
        pg_query::parse(&r.ddl, 0).unwrap_or_else(|e| panic!("DDL does not parse: {e}\n{}", r.ddl));
        for stmt in pg_query::split_with_parser(&r.ddl).unwrap_or_default() {
            let stmt = stmt.trim();
            if stmt.to_uppercase().contains("CREATE INDEX") {
                let body: String = stmt
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let v = crate::simulate::ddl::validate(&body)
                    .unwrap_or_else(|e| panic!("refused: {e}\n{body}"));
                v.for_hypopg()
                    .unwrap_or_else(|e| panic!("no hypopg form: {e}\n{body}"));
                assert!(!body.contains('$'), "placeholder in DDL: {body}");
                assert!(!body.contains("\"\"\""), "quoted twice: {body}");
            }
        }
    }
}
