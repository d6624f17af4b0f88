//! The data contracts of shared/DESIGN.md: what the daemon stores and serves and what the
//! language server reads back. Plain serde types, no behaviour beyond small derived figures.

use serde::{Deserialize, Serialize};

/// A query id: the 16-hex-digit pg_query fingerprint (see [`crate::sql::fingerprint`]).
pub type QueryId = String;

/// Milliseconds since the Unix epoch (UTC). Sortable, JSON-friendly, no time-zone surprises.
pub type Millis = i64;

/// A logical query: every pg_stat_statements entry whose text has this fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub id: QueryId,
    pub fingerprint: String,
    /// A sample of the text: with real values when one was seen (pg_stat_activity), else the
    /// normalized text pg_stat_statements prints.
    pub raw_sql: String,
    /// Whether `raw_sql` carries real values (usable for EXPLAIN ANALYZE).
    #[serde(default)]
    pub raw_has_values: bool,
    pub norm_sql: String,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// pg_stat_statements queryids merged into this fingerprint (IN-lists of different lengths
    /// are separate entries before PostgreSQL 18).
    #[serde(default)]
    pub pgss_queryids: Vec<i64>,
}

/// One snapshot of a query's cumulative counters, with the interval since the previous snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub query_id: QueryId,
    pub captured_at: Millis,
    /// Cumulative figures (sum over the merged pg_stat_statements entries).
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
    /// Since the previous snapshot; `None` on the first snapshot of a query.
    pub interval: Option<MetricDelta>,
}

/// Interval figures from deltas of cumulative counters. Entries that were reset or evicted
/// and came back count from zero, never negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDelta {
    pub since: Millis,
    pub calls: i64,
    pub total_ms: f64,
    /// `total_ms / calls`, 0 when there were no calls.
    pub mean_ms: f64,
    pub rows: i64,
    /// The counters went backwards (pg_stat_statements_reset or an eviction) during the interval.
    pub reset_detected: bool,
}

/// A filter a plan applies: `table.column operator`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FilterFact {
    /// Schema-qualified table, when the plan tells it.
    pub table: Option<String>,
    /// A column name or an expression such as `lower(email)`.
    pub column: String,
    /// `=`, `<`, `>=`, `LIKE`, `~~`, `IN`, `IS NULL` …
    pub operator: String,
    /// Where it came from: `Filter`, `Index Cond`, `Hash Cond`, `Join Filter`, `Recheck Cond`.
    pub source: String,
}

/// A sequential scan in a plan, with the table's size for context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeqScanFact {
    pub table: String,
    pub est_rows: f64,
    pub act_rows: Option<f64>,
    pub rows_removed_by_filter: Option<f64>,
    pub table_rows_est: Option<f64>,
    pub table_bytes: Option<i64>,
}

/// What OptiDB reads off a plan: the evidence rules quote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanFacts {
    pub had_seq_scan: bool,
    pub seq_scans: Vec<SeqScanFact>,
    /// Node types in plan order (`Seq Scan`, `Hash Join`, …), with repeats.
    pub node_types: Vec<String>,
    pub join_types: Vec<String>,
    /// Root estimate and (with ANALYZE) actual rows.
    pub est_rows: f64,
    pub act_rows: Option<f64>,
    /// Largest estimated/actual ratio over all nodes (≥ 1, either direction), with ANALYZE only.
    pub max_row_skew: Option<f64>,
    /// Node where that skew is, e.g. `Seq Scan on public.events`.
    pub max_row_skew_node: Option<String>,
    pub buffers_present: bool,
    pub filters: Vec<FilterFact>,
    pub sort_keys: Vec<String>,
    pub rows_removed_by_filter: Option<f64>,
    pub total_cost: f64,
    /// Indexes the plan uses.
    pub indexes_used: Vec<String>,
    pub execution_ms: Option<f64>,
}

/// How a plan was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// EXPLAIN of the normalized `$n` statement (no values, no execution).
    Generic,
    /// EXPLAIN (ANALYZE, BUFFERS) of a real-value sample in a rolled-back read-only transaction.
    Analyzed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub query_id: QueryId,
    pub captured_at: Millis,
    pub kind: PlanKind,
    /// blake3 of the plan's shape (node types, relations, indexes), to tell when it changed.
    pub plan_hash: String,
    pub plan_json: serde_json::Value,
    pub facts: PlanFacts,
}

/// A query for which no plan could be made, and why (for example a parameter type the planner
/// cannot infer): reported per query, the scan goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanError {
    pub query_id: QueryId,
    pub captured_at: Millis,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaTable {
    /// Schema-qualified: `public.orders`.
    pub table_name: String,
    pub rows_est: f64,
    pub bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    /// Inserts + updates + deletes since statistics were last reset.
    pub writes: i64,
    pub seq_scans: i64,
    pub idx_scans: i64,
    pub last_analyze: Option<Millis>,
    pub mods_since_analyze: i64,
    #[serde(default)]
    pub autovacuum_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaIndex {
    /// Schema-qualified: `public.orders_pkey`.
    pub index_name: String,
    pub table_name: String,
    /// Key columns in order; expressions as PostgreSQL prints them (`lower((email)::text)`).
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
    /// Backs a constraint (primary key, unique, exclusion): never suggest dropping it.
    pub constraint: Option<String>,
    pub partial_predicate: Option<String>,
    pub access_method: String,
    pub scan_count: i64,
    pub bytes: i64,
    /// INCLUDE columns.
    pub covers_columns: Vec<String>,
    pub valid: bool,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub table_name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// pg_stats for one column: what selectivity-aware rules need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub table_name: String,
    pub column: String,
    pub null_frac: f64,
    /// PostgreSQL's n_distinct: > 0 a count, < 0 a fraction of rows.
    pub n_distinct: f64,
    pub correlation: Option<f64>,
    pub most_common_freqs: Vec<f64>,
}

/// The schema as one scan saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaSnapshot {
    pub captured_at: Millis,
    pub tables: Vec<SchemaTable>,
    pub indexes: Vec<SchemaIndex>,
    pub foreign_keys: Vec<ForeignKey>,
    pub column_stats: Vec<ColumnStats>,
}

/// What a scan did: returned by `POST /scan` and kept as history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub scan_id: Millis,
    pub started_at: Millis,
    pub duration_ms: f64,
    /// pg_stat_statements entries read for the target database.
    pub statements_seen: usize,
    /// Queries (fingerprints) kept after filters and top-N.
    pub queries_stored: usize,
    pub plans_captured: usize,
    pub plan_errors: usize,
    pub tables: usize,
    pub indexes: usize,
    /// True when pg_stat_statements was reset since the previous scan.
    pub stats_reset: bool,
    /// Set when the scan failed; the previous complete scan stays served.
    pub error: Option<String>,
    /// What to do about `error`.
    pub hint: Option<String>,
}
