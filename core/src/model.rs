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

impl Metric {
    /// The mean of the last interval when it had calls, else the cumulative mean: what the
    /// query costs now.
    pub fn recent_mean(&self) -> f64 {
        self.interval_mean().unwrap_or(self.mean_ms)
    }

    /// The mean of the last interval, when it had calls.
    pub fn interval_mean(&self) -> Option<f64> {
        self.interval
            .as_ref()
            .filter(|i| i.calls > 0)
            .map(|i| i.mean_ms)
    }
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
    /// EXPLAIN of a real-value sample: the plan for those values, estimates only (not executed).
    Custom,
}

impl PlanKind {
    /// How people should read a plan of this kind.
    pub fn caption(self) -> &'static str {
        match self {
            PlanKind::Analyzed => "EXPLAIN ANALYZE (real values, rolled back)",
            PlanKind::Custom => "custom (real values, estimates only)",
            PlanKind::Generic => "generic",
        }
    }

    /// Evidence order: an analyzed plan (actual rows) beats a custom one (real values), which
    /// beats a generic one.
    fn evidence(self) -> u8 {
        match self {
            PlanKind::Analyzed => 2,
            PlanKind::Custom => 1,
            PlanKind::Generic => 0,
        }
    }
}

/// The plan evidence is best read from: the one of the strongest kind, the latest among those.
pub fn best_plan(plans: &[Plan]) -> Option<&Plan> {
    plans
        .iter()
        .max_by_key(|p| (p.kind.evidence(), p.captured_at))
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
    /// `bytes` is the catalog's estimate (`relpages`), not a measurement: another session held
    /// an exclusive lock on the table, or it was dropped while the scan read it.
    #[serde(default)]
    pub size_estimated: bool,
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
    /// `bytes` is the catalog's estimate (`relpages`), not a measurement (see
    /// [`SchemaTable::size_estimated`]).
    #[serde(default)]
    pub size_estimated: bool,
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
    /// Recommendations the advisor produced in this scan.
    #[serde(default)]
    pub recommendations: usize,
    /// Things the scan could not see and how to fix them (it still completed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Set when the scan failed; the previous complete scan stays served.
    pub error: Option<String>,
    /// What to do about `error`.
    pub hint: Option<String>,
}

/// What kind of advice a recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecType {
    MissingIndex,
    CompositeIndex,
    Stats,
    Rewrite,
    RedundantIndex,
}

impl RecType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecType::MissingIndex => "missing_index",
            RecType::CompositeIndex => "composite_index",
            RecType::Stats => "stats",
            RecType::Rewrite => "rewrite",
            RecType::RedundantIndex => "redundant_index",
        }
    }
}

/// What a recommendation acts on: a table and, for indexes, the key columns in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecTarget {
    /// Schema-qualified: `public.orders`.
    pub table: String,
    /// Key columns or expressions in index order (`lower(email)`); empty when not an index.
    pub columns: Vec<String>,
    /// Access method for index advice (`btree`, `gin` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
}

/// One piece of evidence a rationale quotes, so anyone can check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `plan`, `metric`, `schema`, `stats`, `hypopg`, `text`.
    pub source: String,
    pub text: String,
    pub captured_at: Option<Millis>,
}

/// The hypothetical-index check of an index recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub before_cost: f64,
    pub after_cost: f64,
    /// Estimated cost reduction, floored at 0.
    pub improvement_pct: f64,
    /// Did the planner use the hypothetical index?
    pub index_used: bool,
    /// hypopg_relation_size of the hypothetical index.
    pub index_bytes: Option<i64>,
}

/// A specific, checkable piece of advice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// blake3 of (type, target, ddl): stable across scans and restarts.
    pub rec_id: String,
    #[serde(rename = "type")]
    pub rec_type: RecType,
    pub target: RecTarget,
    /// Runnable DDL (or the statement to run: `ANALYZE …`; a rewrite sketch for rewrites).
    pub ddl: String,
    /// Plain English, quoting the evidence.
    pub rationale: String,
    pub evidence: Vec<Evidence>,
    /// 0–1.
    pub confidence: f64,
    /// Plain English: write overhead, size, locking.
    pub risk: String,
    /// The queries this serves, most important first.
    pub query_ids: Vec<QueryId>,
    /// Workload benefit score used for ordering (calls × time saved, minus write cost).
    pub score: f64,
    pub verification: Option<Verification>,
    pub created_at: Millis,
}

impl Recommendation {
    /// Whether this recommends building an index: an index type, or DDL that creates one.
    pub fn is_index(&self) -> bool {
        matches!(
            self.rec_type,
            RecType::MissingIndex | RecType::CompositeIndex
        ) || ddl_creates_index(&self.ddl)
    }
}

/// Whether `ddl` is a `CREATE [UNIQUE] INDEX`.
pub fn ddl_creates_index(ddl: &str) -> bool {
    let upper = ddl.trim_start().to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().take(3).collect();
    matches!(
        words.as_slice(),
        ["CREATE", "INDEX", ..] | ["CREATE", "UNIQUE", "INDEX", ..]
    )
}

/// A candidate the advisor considered and dropped, and why (no opaque thresholds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedCandidate {
    pub rec_type: RecType,
    pub target: RecTarget,
    pub query_ids: Vec<QueryId>,
    pub reason: String,
}

/// One simulation run: before/after of a recommendation on one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub id: String,
    pub query_id: QueryId,
    pub rec_id: String,
    /// `hypopg` or `real`.
    pub mode: String,
    /// Measured: mean from pg_stat_statements, or a real-value EXPLAIN ANALYZE.
    pub before_ms: f64,
    /// Estimated from the cost ratio in hypopg mode (`after_is_estimate`), measured in real mode.
    pub after_ms: f64,
    pub after_is_estimate: bool,
    /// Floored: a tiny or unmeasurable delta is 0, not a gain.
    pub improvement_pct: f64,
    pub before_cost: f64,
    pub after_cost: f64,
    pub index_used: bool,
    pub index_bytes: Option<i64>,
    /// "Seq Scan → Index Scan on public.orders", "Sort removed", …
    pub plan_changes: Vec<String>,
    pub before_plan: serde_json::Value,
    pub after_plan: serde_json::Value,
    pub ran_at: Millis,
}

/// `POST /lookup` request: what the daemon knows about these query ids (the language server
/// computes them from the text of a file).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LookupRequest {
    /// 16-hex-digit fingerprints.
    pub fingerprints: Vec<QueryId>,
}

/// `POST /lookup` response. Unknown fingerprints are simply absent from `queries`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LookupResponse {
    #[serde(default)]
    pub queries: std::collections::BTreeMap<QueryId, LookupEntry>,
}

/// A finding about a query's behaviour in time rather than in its plan: `contention` (it waits
/// on locks), `spike`, `regression`, `plan_changed`, `new`. Stored with the scan that found it
/// and shown on every surface (`GET /bottlenecks` rows, the dashboard's chips, the CLI's
/// `--tag`, the editor's hover, `/chat`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryTag {
    /// `contention`, `spike`, `regression`, `plan_changed`, `new`.
    pub tag: String,
    /// The numbers behind it, in a sentence anyone can check ("waits on a row lock in 78% of
    /// 412 samples, blocked by shop-batch-job …").
    pub evidence: String,
    /// When it started: the captured_at of the first interval that shows it.
    pub since: Option<Millis>,
    /// Machine-readable evidence (sample counts, medians, the window, plan hashes…).
    pub detail: serde_json::Value,
}

/// The tag names of [`QueryTag`] this build produces (others may appear: producers are open).
pub mod tag {
    pub const CONTENTION: &str = "contention";
    pub const SPIKE: &str = "spike";
    pub const REGRESSION: &str = "regression";
    pub const PLAN_CHANGED: &str = "plan_changed";
    pub const NEW: &str = "new";
}

/// Where one query's sampled time went over one scan interval: how many pg_stat_activity
/// samples (the sampler's ticks that saw it running) fell in each wait class. Stored per query
/// per scan (history like metrics).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WaitProfile {
    pub query_id: QueryId,
    /// The scan that stored it (its start time).
    pub captured_at: Millis,
    /// First and last sample of the interval.
    pub first_sample_at: Millis,
    pub last_sample_at: Millis,
    /// Samples that saw the query active (each tick counts each backend running it once).
    pub samples: u64,
    /// No wait event: running on CPU.
    pub cpu: u64,
    /// Heavyweight locks (`wait_event_type = 'Lock'`).
    pub lock: u64,
    pub lwlock: u64,
    pub io: u64,
    pub ipc: u64,
    pub client: u64,
    /// Timeout, BufferPin, Activity, Extension and anything newer.
    pub other: u64,
    /// Lock waits by `wait_event` (`transactionid`, `tuple`, `relation`, `advisory` …).
    pub lock_events: std::collections::BTreeMap<String, u64>,
    /// What the waiters were waiting for in pg_locks (not granted), most seen first.
    pub locks: Vec<LockWait>,
    /// Who held the locks, most seen first (at most a few).
    pub blockers: Vec<Blocker>,
}

impl WaitProfile {
    /// Share (0–1) of samples in a class; 0 without samples.
    pub fn share(&self, n: u64) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            n as f64 / self.samples as f64
        }
    }

    /// Share of samples waiting on heavyweight locks.
    pub fn lock_share(&self) -> f64 {
        self.share(self.lock)
    }

    /// The lock wait seen most (`transactionid` …), if any.
    pub fn top_lock_event(&self) -> Option<&str> {
        self.lock_events
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(k, _)| k.as_str())
    }

    /// The classes by share, largest first, without empty ones: `[("Lock (transactionid)",
    /// 0.78), ("CPU", 0.22)]`.
    pub fn shares(&self) -> Vec<(String, f64)> {
        let lock = match self.top_lock_event() {
            Some(e) if !e.is_empty() => format!("Lock ({e})"),
            _ => "Lock".into(),
        };
        let mut v: Vec<(String, u64)> = vec![
            ("CPU".into(), self.cpu),
            (lock, self.lock),
            ("LWLock".into(), self.lwlock),
            ("IO".into(), self.io),
            ("IPC".into(), self.ipc),
            ("Client".into(), self.client),
            ("other".into(), self.other),
        ];
        v.retain(|(_, n)| *n > 0);
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        v.into_iter().map(|(k, n)| (k, self.share(n))).collect()
    }

    /// "78% Lock (transactionid), 22% CPU".
    pub fn summary(&self) -> String {
        self.shares()
            .iter()
            .map(|(k, s)| format!("{:.0}% {k}", s * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// For people, when the query waits on locks: "waits on a row lock 78% of the time, blocked
    /// by `shop-batch-job` (`SELECT … FOR UPDATE`, transactions open ~25 ms)".
    pub fn lock_headline(&self) -> Option<String> {
        if self.lock == 0 {
            return None;
        }
        let what = match self.top_lock_event().unwrap_or("") {
            "transactionid" | "tuple" => "a row lock".to_string(),
            "relation" => "a table lock".to_string(),
            "advisory" => "an advisory lock".to_string(),
            "" => "a lock".to_string(),
            e => format!("a {e} lock"),
        };
        let mut s = format!(
            "waits on {what} {:.0}% of the time",
            self.lock_share() * 100.0
        );
        if let Some(b) = self.blockers.first() {
            let app = if b.application_name.is_empty() {
                "an unnamed application"
            } else {
                b.application_name.as_str()
            };
            s.push_str(&format!(", blocked by `{app}` ("));
            if !b.query.is_empty() {
                let q: String = b.query.split_whitespace().collect::<Vec<_>>().join(" ");
                let q = if q.chars().count() > 80 {
                    q.chars().take(80).collect::<String>() + "…"
                } else {
                    q
                };
                s.push_str(&format!("`{q}`, "));
            }
            s.push_str(&format!("transactions open ~{:.0} ms)", b.xact_age_ms_mean));
        }
        Some(s)
    }
}

/// A lock a waiter asked for and did not get (a pg_locks summary).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockWait {
    /// pg_locks.locktype: `transactionid`, `tuple`, `relation` …
    pub locktype: String,
    /// `ShareLock`, `ExclusiveLock`, `RowExclusiveLock` …
    pub mode: String,
    /// The relation when the lock is on one (`public.coupons`).
    pub relation: Option<String>,
    pub samples: u64,
}

/// A session that held a lock the query waited for (from `pg_blocking_pids()`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Blocker {
    /// Its application_name (`shop-batch-job`).
    pub application_name: String,
    /// Its current or last statement, normalized when it parses.
    pub query: String,
    /// The blocker statement's fingerprint when its text parses.
    pub query_id: Option<QueryId>,
    /// `active`, `idle in transaction` …
    pub state: String,
    /// Samples in which it blocked this query.
    pub samples: u64,
    /// Age of its open transaction when sampled (clock_timestamp() − xact_start): mean and max.
    pub xact_age_ms_mean: f64,
    pub xact_age_ms_max: f64,
}

/// What the daemon knows about one query, flattened for an editor: latest metrics, plan facts,
/// recommendations and the last simulation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupEntry {
    pub query_id: QueryId,
    /// Mean execution time (latest interval when there is one, else cumulative).
    pub mean_ms: f64,
    pub calls: i64,
    pub total_ms: f64,
    /// Did the latest captured plan contain a Seq Scan?
    pub had_seq_scan: bool,
    /// Tables read by Seq Scan in that plan.
    pub seq_scan_tables: Vec<String>,
    /// Best first.
    pub recommendations: Vec<LookupRec>,
    pub last_simulation: Option<LookupSimulation>,
    /// The names of `query_tags` (`contention`, `spike` …), for editors that only show names.
    pub tags: Vec<String>,
    /// The latest complete scan's findings in time about this query, with their evidence.
    pub query_tags: Vec<QueryTag>,
    /// Where its sampled time went in the latest scan's interval (when the sampler saw it).
    pub waits: Option<WaitProfile>,
}

/// A recommendation as the editor shows it (a subset of [`Recommendation`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupRec {
    pub rec_id: String,
    /// `missing_index`, `composite_index`, `rewrite` … (a string, so new kinds do not break
    /// older editors).
    #[serde(rename = "type")]
    pub rec_type: String,
    pub ddl: String,
    pub rationale: String,
    /// 0–1.
    pub confidence: f64,
    pub risk: String,
    pub verification: Option<Verification>,
}

/// The last simulation of a query (a subset of [`Simulation`], without the plans).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupSimulation {
    pub rec_id: String,
    /// `hypopg` or `real`.
    pub mode: String,
    pub before_ms: f64,
    pub after_ms: f64,
    pub after_is_estimate: bool,
    pub improvement_pct: f64,
    pub plan_changes: Vec<String>,
    pub ran_at: Millis,
}
