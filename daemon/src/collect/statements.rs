//! Reads pg_stat_statements: cumulative counters of every entry, texts only for entries not
//! seen before, merged by fingerprint, with interval figures from per-entry deltas so resets
//! and evictions never produce negative or doubled numbers.

use crate::pg::session::{self, Session};
use crate::pg::{PgError, MARKER};
use optidb_core::model::{MetricDelta, Millis};
use optidb_core::sql;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::types::Type;

const COUNTERS_SQL: &str = include_str!("queries/pgss_counters.sql");
const TEXTS_SQL: &str = include_str!("queries/pgss_texts.sql");
const INFO_SQL: &str = include_str!("queries/pgss_info.sql");
const EXTVERSION_SQL: &str = "SELECT /* optidb */ e.extversion::pg_catalog.text \
       FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_stat_statements'";

/// The oldest pg_stat_statements whose SQL interface OptiDB reads: 1.9 (PostgreSQL 14) added
/// the `toplevel` column and `pg_stat_statements_info`. A database upgraded from 13 keeps its
/// older extension until `ALTER EXTENSION pg_stat_statements UPDATE`.
const MIN_PGSS: (u32, u32) = (1, 9);

/// Where `@extschema@` stands in the statements above: pg_stat_statements is reached through
/// the schema it was installed in (OptiDB's own statements run with `search_path = pg_catalog`).
fn in_schema(sql: &str, s: &Session) -> Result<String, PgError> {
    let schema = s.info.pgss_schema.as_deref().ok_or(PgError::NoPgss)?;
    Ok(sql.replace("@extschema@", schema))
}

/// Most pg_stat_statements texts the collector remembers between scans (their classification:
/// fingerprint and normalized text), twice `pg_stat_statements.max`'s default of 5,000. Least
/// recently used ones go first; a text that went is read again when its entry shows up. Memory
/// is about this many times the mean normalized text plus ~100 bytes.
pub const TEXT_CACHE_ENTRIES: usize = 10_000;

/// pg_stat_statements queryid → classification of its text, a bounded LRU (`lru`): texts are
/// fetched once per queryid, not once per scan.
#[derive(Debug)]
pub struct TextCache(lru::LruCache<i64, TextClass>);

impl Default for TextCache {
    fn default() -> Self {
        TextCache::new(TEXT_CACHE_ENTRIES)
    }
}

impl TextCache {
    /// A cache of at most `entries` texts (at least one).
    pub fn new(entries: usize) -> Self {
        TextCache(lru::LruCache::new(
            std::num::NonZeroUsize::new(entries).unwrap_or(std::num::NonZeroUsize::MIN),
        ))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The most texts it holds.
    pub fn capacity(&self) -> usize {
        self.0.cap().get()
    }

    pub fn insert(&mut self, queryid: i64, class: TextClass) {
        self.0.put(queryid, class);
    }

    /// The classification of a queryid, marking it recently used.
    pub fn get(&mut self, queryid: i64) -> Option<&TextClass> {
        self.0.get(&queryid)
    }

    pub fn contains(&self, queryid: i64) -> bool {
        self.0.contains(&queryid)
    }
}

/// Cumulative counters of one pg_stat_statements entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub calls: i64,
    pub total_ms: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.calls += o.calls;
        self.total_ms += o.total_ms;
        self.rows += o.rows;
        self.shared_blks_hit += o.shared_blks_hit;
        self.shared_blks_read += o.shared_blks_read;
    }
}

/// A pg_stat_statements entry key: (userid, queryid).
pub type EntryKey = (i64, i64);

/// What the collector remembers between scans (stored with each scan, so a restarted daemon
/// still computes deltas).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CounterState {
    pub captured_at: Millis,
    pub stats_reset: Option<Millis>,
    /// Serialized as a list: JSON object keys must be strings.
    pub entries: Vec<(EntryKey, Counters)>,
}

/// How a queryid's text was classified.
#[derive(Debug, Clone)]
pub enum TextClass {
    /// An application statement: its fingerprint and normalized text.
    Query {
        fingerprint: String,
        norm_sql: String,
    },
    /// OptiDB's own, a utility or transaction-control statement, or text that does not parse.
    Skip,
}

/// One fingerprint's figures in this scan.
#[derive(Debug, Clone)]
pub struct QueryFigures {
    pub fingerprint: String,
    pub norm_sql: String,
    pub queryids: Vec<i64>,
    pub cumulative: Counters,
    pub interval: Option<MetricDelta>,
}

/// The result of reading pg_stat_statements.
pub struct StatementsRead {
    pub entries_seen: usize,
    /// Entries whose text this user may not read (`<insufficient privilege>`).
    pub hidden: usize,
    pub queries: Vec<QueryFigures>,
    pub state: CounterState,
    pub stats_reset: bool,
}

/// Fails with a clear error when pg_stat_statements is not installed in this database (one
/// that is installed but not loaded fails at the first read, with its own hint).
pub fn check_pgss(s: &Session) -> Result<(), PgError> {
    s.info
        .pgss_schema
        .as_ref()
        .map(|_| ())
        .ok_or(PgError::NoPgss)
}

/// What pg_stat_statements shows instead of the text of another user's statement when the
/// monitoring user lacks pg_read_all_stats.
pub const HIDDEN_TEXT: &str = "<insufficient privilege>";

/// Classifies a pg_stat_statements text.
pub fn classify(text: &str) -> TextClass {
    if text.contains(MARKER) || text == HIDDEN_TEXT {
        return TextClass::Skip;
    }
    let mapped = sql::map_placeholders(text);
    let Ok(parsed) = pg_query::parse(&mapped.text, 0) else {
        return TextClass::Skip;
    };
    fn is_dml(n: &pg_query::NodeEnum) -> bool {
        use pg_query::NodeEnum::*;
        match n {
            SelectStmt(_) | InsertStmt(_) | UpdateStmt(_) | DeleteStmt(_) | MergeStmt(_) => true,
            // An SQL-level prepared statement: pg_stat_statements records the PREPARE text and
            // counts the EXECUTE calls under it; the statement it holds is what gets planned.
            PrepareStmt(p) => p
                .query
                .as_ref()
                .and_then(|q| q.node.as_ref())
                .is_some_and(is_dml),
            _ => false,
        }
    }
    let dml = parsed.protobuf.stmts.len() == 1
        && parsed.protobuf.stmts[0]
            .stmt
            .as_ref()
            .and_then(|n| n.node.as_ref())
            .is_some_and(is_dml);
    if !dml {
        return TextClass::Skip;
    }
    match sql::fingerprint::fingerprint_mapped(&mapped) {
        Ok(f) => TextClass::Query {
            fingerprint: f.fingerprint,
            norm_sql: f.norm_sql,
        },
        Err(_) => TextClass::Skip,
    }
}

/// `"1.10"` → (1, 10); None for anything else.
fn parse_extversion(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Fails with a clear error when the installed pg_stat_statements is older than [`MIN_PGSS`].
async fn check_pgss_version(s: &Session) -> Result<(), PgError> {
    let rows = session::query(s, EXTVERSION_SQL, &[]).await?;
    let Some(version) = rows.first().map(|r| r.get::<_, String>(0)) else {
        return Err(PgError::NoPgss);
    };
    match parse_extversion(&version) {
        Some(v) if v < MIN_PGSS => Err(PgError::Unsupported(format!(
            "pg_stat_statements {version} in this database is older than {}.{}, the version \
             PostgreSQL 14 brings: run ALTER EXTENSION pg_stat_statements UPDATE (OptiDB reads \
             its toplevel column and pg_stat_statements_info)",
            MIN_PGSS.0, MIN_PGSS.1
        ))),
        _ => Ok(()),
    }
}

/// Reads counters, fetches unknown texts into `texts`, and merges by fingerprint.
pub async fn read(
    s: &Session,
    texts: &mut TextCache,
    prev: Option<&CounterState>,
    now: Millis,
) -> Result<StatementsRead, PgError> {
    check_pgss_version(s).await?;
    let rows = session::query(s, &in_schema(COUNTERS_SQL, s)?, &[]).await?;
    let mut current: Vec<(EntryKey, Counters)> = Vec::with_capacity(rows.len());
    let mut hidden = 0;
    for r in &rows {
        let Some(queryid) = r.get::<_, Option<i64>>("queryid") else {
            hidden += 1;
            continue;
        };
        let key = (r.get::<_, i64>("userid"), queryid);
        current.push((
            key,
            Counters {
                calls: r.get("calls"),
                total_ms: r.get("total_ms"),
                rows: r.get("rows"),
                shared_blks_hit: r.get("shared_blks_hit"),
                shared_blks_read: r.get("shared_blks_read"),
            },
        ));
    }

    let unknown: Vec<i64> = {
        let mut v: Vec<i64> = current
            .iter()
            .map(|(k, _)| k.1)
            .filter(|q| !texts.contains(*q))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // Texts read now are used from here (the cache may be smaller than this scan's entries).
    let mut fetched: HashMap<i64, TextClass> = HashMap::new();
    if !unknown.is_empty() {
        let rows = session::query(
            s,
            &in_schema(TEXTS_SQL, s)?,
            &[(&unknown, Type::INT8_ARRAY)],
        )
        .await?;
        for r in rows {
            let qid: i64 = r.get(0);
            let text: Option<String> = r.get(1);
            if text.as_deref() == Some(HIDDEN_TEXT) {
                // Not cached: after a GRANT the next scan reads the text.
                hidden += 1;
                continue;
            }
            let class = text.as_deref().map(classify).unwrap_or(TextClass::Skip);
            fetched.insert(qid, class);
        }
    }

    // pg_stat_statements_info: every supported version has it (pg_stat_statements 1.9+).
    let stats_reset_at = session::query(s, &in_schema(INFO_SQL, s)?, &[])
        .await?
        .first()
        .and_then(|r| r.get::<_, Option<i64>>(0));
    let global_reset = match (prev, stats_reset_at) {
        (Some(p), Some(now_reset)) => p.stats_reset.is_some_and(|r| r != now_reset),
        _ => false,
    };

    let prev_map: HashMap<EntryKey, Counters> = prev
        .map(|p| p.entries.iter().copied().collect())
        .unwrap_or_default();
    let have_prev = prev.is_some();

    // Group by fingerprint (BTreeMap: deterministic order).
    struct Acc {
        norm_sql: String,
        queryids: Vec<i64>,
        cumulative: Counters,
        delta: Counters,
        reset: bool,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for (key, c) in &current {
        let Some(TextClass::Query {
            fingerprint,
            norm_sql,
        }) = fetched.get(&key.1).or_else(|| texts.get(key.1))
        else {
            continue;
        };
        let acc = groups.entry(fingerprint.clone()).or_insert_with(|| Acc {
            norm_sql: norm_sql.clone(),
            queryids: Vec::new(),
            cumulative: Counters::default(),
            delta: Counters::default(),
            reset: false,
        });
        if !acc.queryids.contains(&key.1) {
            acc.queryids.push(key.1);
        }
        acc.cumulative.add(c);
        let (d, reset) = entry_delta(prev_map.get(key), c, global_reset);
        acc.delta.add(&d);
        acc.reset |= reset;
    }

    for (qid, class) in fetched {
        texts.insert(qid, class);
    }

    let since = prev.map(|p| p.captured_at).unwrap_or(now);
    let queries = groups
        .into_iter()
        .map(|(fingerprint, a)| QueryFigures {
            fingerprint,
            norm_sql: a.norm_sql,
            queryids: a.queryids,
            cumulative: a.cumulative,
            interval: have_prev.then(|| MetricDelta {
                since,
                calls: a.delta.calls,
                total_ms: a.delta.total_ms,
                mean_ms: if a.delta.calls > 0 {
                    a.delta.total_ms / a.delta.calls as f64
                } else {
                    0.0
                },
                rows: a.delta.rows,
                reset_detected: a.reset || global_reset,
            }),
        })
        .collect();

    Ok(StatementsRead {
        entries_seen: current.len(),
        hidden,
        queries,
        state: CounterState {
            captured_at: now,
            stats_reset: stats_reset_at,
            entries: current,
        },
        stats_reset: global_reset,
    })
}

/// The interval figures of one entry. An entry whose counters went backwards (a reset, or an
/// eviction followed by a return) counts from zero; an entry not seen before counts whole.
pub fn entry_delta(
    prev: Option<&Counters>,
    cur: &Counters,
    global_reset: bool,
) -> (Counters, bool) {
    match prev {
        Some(p) if !global_reset && cur.calls >= p.calls && cur.total_ms + 1e-9 >= p.total_ms => (
            Counters {
                calls: cur.calls - p.calls,
                total_ms: (cur.total_ms - p.total_ms).max(0.0),
                rows: (cur.rows - p.rows).max(0),
                shared_blks_hit: (cur.shared_blks_hit - p.shared_blks_hit).max(0),
                shared_blks_read: (cur.shared_blks_read - p.shared_blks_read).max(0),
            },
            false,
        ),
        Some(_) => (*cur, true),
        None => (*cur, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(calls: i64, total: f64) -> Counters {
        Counters {
            calls,
            total_ms: total,
            ..Default::default()
        }
    }

    #[test]
    fn text_cache_stays_within_its_bound_and_keeps_recent_texts() {
        let mut cache = TextCache::new(3);
        let q = |n: i64| TextClass::Query {
            fingerprint: format!("{n:016x}"),
            norm_sql: format!("SELECT {n}"),
        };
        for id in 0..1000 {
            cache.insert(id, q(id));
            // A text in use stays: queryid 0 is looked up every time.
            assert!(cache.get(0).is_some() || id == 0);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.contains(0), "the text used at every turn was evicted");
        assert!(cache.contains(999) && cache.contains(998));
        assert!(!cache.contains(500));
        assert_eq!(TextCache::default().capacity(), TEXT_CACHE_ENTRIES);
        assert_eq!(TextCache::new(0).capacity(), 1);
    }

    #[test]
    fn deltas() {
        assert_eq!(
            entry_delta(Some(&c(10, 100.0)), &c(15, 160.0), false),
            (c(5, 60.0), false)
        );
        // reset or eviction + return: counts from zero
        assert_eq!(
            entry_delta(Some(&c(10, 100.0)), &c(3, 30.0), false),
            (c(3, 30.0), true)
        );
        // global reset
        assert_eq!(
            entry_delta(Some(&c(10, 100.0)), &c(12, 130.0), true),
            (c(12, 130.0), true)
        );
        // new entry
        assert_eq!(entry_delta(None, &c(4, 8.0), false), (c(4, 8.0), false));
    }

    #[test]
    fn classification() {
        assert!(matches!(
            classify("SELECT * FROM t WHERE id = $1"),
            TextClass::Query { .. }
        ));
        assert!(matches!(
            classify("UPDATE t SET a = $1 WHERE id = $2"),
            TextClass::Query { .. }
        ));
        assert!(matches!(
            classify("PREPARE p(int) AS SELECT * FROM t WHERE id = $1"),
            TextClass::Query { .. }
        ));
        for skip in [
            "PREPARE p AS VACUUM t",
            "EXECUTE p(1)",
            "BEGIN",
            "COMMIT",
            "SET statement_timeout = 0",
            "CREATE INDEX i ON t (a)",
            "SELECT /* optidb */ 1",
            "<insufficient privilege>",
            "SELEC nonsense",
            "VACUUM t",
        ] {
            assert!(matches!(classify(skip), TextClass::Skip), "{skip}");
        }
    }

    #[test]
    fn extension_versions() {
        assert_eq!(parse_extversion("1.9"), Some((1, 9)));
        assert_eq!(parse_extversion("1.10"), Some((1, 10)));
        assert!(parse_extversion("1.8").is_some_and(|v| v < MIN_PGSS));
        assert!(parse_extversion("1.11").is_some_and(|v| v >= MIN_PGSS));
        assert_eq!(parse_extversion("2"), None);
        assert_eq!(parse_extversion("x.y"), None);
    }

    #[test]
    fn every_query_we_send_is_marked() {
        for sql in [COUNTERS_SQL, TEXTS_SQL, INFO_SQL, EXTVERSION_SQL] {
            assert!(sql.contains(MARKER), "{sql}");
        }
    }
}
