//! The embedded meta store: keeps what scans learn about target databases (queries, metric
//! history, plans, plan errors, schema, scan summaries, the collector's counter state) on disk
//! in sled, so the daemon serves the last complete scan after a restart and keeps history.
//!
//! # Guarantees
//!
//! - **One scan, one atomic write.** [`Store::commit_scan`] puts everything a scan produced —
//!   query upserts, metrics, plans, plan errors, the schema snapshot, the counter state, the
//!   scan record, the "latest complete scan" pointer and the retention deletions — into one
//!   `sled::Batch` on one tree, applies it and flushes. sled recovers a batch whole or not at
//!   all, so a daemon killed during a scan restarts with the previous complete scan intact:
//!   data of a scan that was not committed never exists. (sled also blocks reads while a batch
//!   is applied, so a single read call never sees half a scan; a caller that makes several read
//!   calls may see two consecutive scans.)
//! - **Bounded history.** Each commit deletes what is older than its [`Retention`] (age and
//!   number of scans); [`Store::record_failed_scan`] prunes old failed-scan records.
//! - **Format version.** The store carries [`FORMAT_VERSION`]; a store of another version is
//!   refused with [`StoreError::FormatMismatch`] (no migration exists yet).
//! - **One daemon per store.** sled's file lock; a second opener gets [`StoreError::Locked`].
//!
//! # Key scheme
//!
//! Text keys, parts separated by `\0`. Times and scan ids (milliseconds) are written as 16
//! lowercase hex digits of the number with its sign bit flipped, so keys sort in time order.
//! A target id is 16 hex digits (see [`TargetId`]). Global keys start with `!`, which no target
//! id does.
//!
//! | key | value (JSON) |
//! |---|---|
//! | `!format` | [`FORMAT_VERSION`] |
//! | `!target\0<t>` | `{"label": …}`: the connection string without its password (or the id, for a target first seen by a write) |
//! | `<t>\0latest` | scan id of the latest complete scan |
//! | `<t>\0retention` | the [`Retention`] the last commit applied (failed scans use it) |
//! | `<t>\0counters` | the collector's counter state after that scan (opaque) |
//! | `<t>\0scan\0<scan id>` | [`ScanRecord`]: summary + whether it completed |
//! | `<t>\0scanq\0<scan id>` | query ids a complete scan stored |
//! | `<t>\0schema\0<scan id>` | [`SchemaSnapshot`] of a complete scan (latest = the latest scan's) |
//! | `<t>\0q\0<query id>` | [`Query`] (upserted) |
//! | `<t>\0m\0<query id>\0<captured_at>` | [`Metric`] |
//! | `<t>\0p\0<query id>\0<captured_at>\0<1 generic, 2 analyzed>` | [`Plan`] |
//! | `<t>\0pe\0<query id>\0<captured_at>` | [`PlanError`] |
//!
//! | `<t>\0sim\0<query id>\0<ran_at>\0<sim id>` | [`Simulation`] (written on its own by [`Store::put_simulation`]; not trimmed by retention yet) |
//!
//! | `<t>\0rec\0<rec_id>` | [`Recommendation`] (keyed by its content id; keeps the `created_at` of the first scan that made it; written by [`Store::commit_scan`]) |
//! | `<t>\0scanrec\0<scan id>` | rec ids of a complete scan, best score first |
//! | `<t>\0scandrop\0<scan id>` | [`DroppedCandidate`]s of a complete scan |
//!
//! A new per-query
//! history kind needs a key builder in `keys.rs`, a write in [`Store::commit_scan`] (or its own
//! batch), and an entry in `Keys::history_prefixes` (what retention trims).
//! Query ids must not contain `\0` (fingerprints are hex).
//!
//! # Values and damaged data
//!
//! Values are serde_json: readable and debuggable with any sled dump. Before writing, each value
//! is read back once, so a value JSON cannot represent (a NaN or infinite `f64` becomes `null`)
//! fails the whole scan with [`StoreError::Encode`] instead of being stored unreadable.
//!
//! Reads never panic: a value (or key) that fails to decode is a [`StoreError::Corrupt`] naming
//! the key, in single reads and list reads alike (nothing is silently skipped). Write paths heal
//! instead of failing forever: an undecodable stored query is replaced by the scan's version (or,
//! when the scan does not have it, deleted with its history as expired), each with a logged
//! warning.
//!
//! # Threads
//!
//! [`Store`] is `Clone` (clones share the database) and `Send + Sync`; use it from several
//! tokio tasks. Every method is **blocking** (disk I/O, `fsync` on commit): call it from
//! `tokio::task::spawn_blocking`. Writes are serialized by a lock inside the store.

mod error;
mod keys;
mod target;
#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use target::{redact_password, TargetId};

use keys::{show, Keys};
use optidb_core::model::{
    DroppedCandidate, Metric, Millis, Plan, PlanError, Query, QueryId, Recommendation, ScanSummary,
    SchemaSnapshot, Simulation,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The on-disk format this build reads and writes. Bump it when a key or value changes shape.
pub const FORMAT_VERSION: u32 = 1;

/// Everything one successful scan of one target produced, committed atomically.
#[derive(Debug, Clone, Default)]
pub struct ScanWrite {
    /// `error` must be `None` (a failed scan goes to [`Store::record_failed_scan`]).
    pub summary: ScanSummary,
    /// Upserted: an existing query keeps its earliest `first_seen`, its latest `last_seen`, the
    /// union of `pgss_queryids`, and its `raw_sql` sample with values when the new one has none.
    pub queries: Vec<Query>,
    pub metrics: Vec<Metric>,
    pub plans: Vec<Plan>,
    pub plan_errors: Vec<PlanError>,
    pub schema: SchemaSnapshot,
    /// The collector's opaque counter state for delta computation (read back with
    /// [`Store::counters`]).
    pub counters: serde_json::Value,
    /// The advisor's recommendations for this scan, best score first (stored under their
    /// rec id; one already stored keeps its `created_at`).
    pub recommendations: Vec<Recommendation>,
    /// Candidates the advisor considered and dropped, with the reason.
    pub dropped: Vec<DroppedCandidate>,
}

/// How much history to keep. The age counts back from the committing scan's id (its start
/// time), not from the wall clock, so retention is deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Data captured longer ago than this is deleted (default 7 days).
    pub max_age_ms: i64,
    /// At most this many scan records (complete and failed) are kept, and data older than the
    /// oldest kept scan goes with the others (default 1000; 0 counts as 1).
    pub max_scans: usize,
}

impl Retention {
    pub const DEFAULT_MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
    pub const DEFAULT_MAX_SCANS: usize = 1000;
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age_ms: Self::DEFAULT_MAX_AGE_MS,
            max_scans: Self::DEFAULT_MAX_SCANS,
        }
    }
}

/// A scan as history remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    pub summary: ScanSummary,
    /// True for a committed scan; false for a failed one (its `summary.error` says why).
    pub complete: bool,
}

#[derive(Serialize, Deserialize)]
struct TargetRecord {
    label: String,
}

/// sled's page cache (its default is 1 GiB): history reads are rare, the latest scan is small.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// The meta store. See the module documentation for guarantees, keys and threading.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    /// Serializes writers (read-modify-write of queries, retention).
    write_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `dir`, creating it (and the directory) when missing.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let open_err = |source: sled::Error| StoreError::Open {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(sled::Error::Io(e)))?;
        let db = open_sled(dir).map_err(|e| match e {
            Opened::Locked => StoreError::Locked {
                dir: dir.to_path_buf(),
            },
            Opened::Failed(e) => open_err(e),
        })?;
        match db.get(keys::FORMAT).map_err(open_err)? {
            Some(v) => {
                let found: u32 = decode(keys::FORMAT, &v)?;
                if found != FORMAT_VERSION {
                    return Err(StoreError::FormatMismatch {
                        dir: dir.to_path_buf(),
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
            }
            None => {
                if db.first().map_err(open_err)?.is_some() {
                    return Err(StoreError::NotAStore {
                        dir: dir.to_path_buf(),
                    });
                }
                let v = encode(keys::FORMAT, &FORMAT_VERSION)?;
                db.insert(keys::FORMAT, v).map_err(open_err)?;
                db.flush().map_err(open_err)?;
            }
        }
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Registers (or relabels) the target a connection string points at and returns its id
    /// (the same as [`TargetId::from_url`]). The label is the string without its password.
    /// Call it once at start-up: a target first seen by a commit is labelled with its id.
    pub fn register_target(&self, url: &str) -> Result<TargetId, StoreError> {
        let id = TargetId::from_url(url);
        let key = keys::target(&id);
        let value = encode(
            &key,
            &TargetRecord {
                label: redact_password(url),
            },
        )?;
        let _w = self.lock();
        if self.db.get(&key)?.as_deref() != Some(&value[..]) {
            self.db.insert(key, value)?;
            self.db.flush()?;
        }
        Ok(id)
    }

    /// The registered targets with their labels, ordered by id.
    pub fn targets(&self) -> Result<Vec<(TargetId, String)>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(keys::TARGETS) {
            let (k, v) = item?;
            let id = keys::target_of_registry_key(&k).ok_or_else(|| StoreError::Corrupt {
                key: show(&k),
                reason: "not a target id".into(),
            })?;
            let rec: TargetRecord = decode(&k, &v)?;
            out.push((id, rec.label));
        }
        Ok(out)
    }

    /// Commits a successful scan atomically (see the module documentation) and applies
    /// `retention`. On error nothing of the scan is written.
    pub fn commit_scan(
        &self,
        target: &TargetId,
        w: ScanWrite,
        retention: &Retention,
    ) -> Result<(), StoreError> {
        let _w = self.lock();
        let k = Keys(target);
        let scan_id = w.summary.scan_id;
        if let Some(e) = &w.summary.error {
            return Err(StoreError::InvalidScan(format!(
                "scan {scan_id} carries an error ({e}); record a failed scan with \
                 record_failed_scan"
            )));
        }

        // The scan's queries, duplicates merged.
        let mut scan_queries: BTreeMap<QueryId, Query> = BTreeMap::new();
        for q in w.queries {
            check_query_id(&q.id, "query")?;
            let merged = match scan_queries.remove(&q.id) {
                Some(prev) => merge_query(prev, q),
                None => q,
            };
            scan_queries.insert(merged.id.clone(), merged);
        }
        // History must belong to a query the store will hold.
        let refs = (w.metrics.iter().map(|m| (&m.query_id, "metric")))
            .chain(w.plans.iter().map(|p| (&p.query_id, "plan")))
            .chain(w.plan_errors.iter().map(|e| (&e.query_id, "plan error")));
        for (id, what) in refs {
            check_query_id(id, what)?;
            if !scan_queries.contains_key(id) && !self.db.contains_key(k.query(id))? {
                return Err(StoreError::InvalidScan(format!(
                    "the scan has a {what} of query {id}, which is neither among the scan's \
                     queries nor stored"
                )));
            }
        }

        let mut b = BatchWriter::default();
        self.register_if_missing(target, &mut b)?;
        b.put(k.retention(), retention)?;
        for (id, q) in &scan_queries {
            let key = k.query(id);
            let q = match self.db.get(&key)? {
                None => q.clone(),
                Some(old) => match decode::<Query>(&key, &old) {
                    Ok(old) => merge_query(old, q.clone()),
                    Err(e) => {
                        tracing::warn!("replacing an unreadable stored query: {e}");
                        q.clone()
                    }
                },
            };
            b.put(key, &q)?;
        }
        for m in &w.metrics {
            b.put(k.metric(&m.query_id, m.captured_at), m)?;
        }
        for p in &w.plans {
            b.put(k.plan(&p.query_id, p.captured_at, p.kind), p)?;
        }
        for e in &w.plan_errors {
            b.put(k.plan_error(&e.query_id, e.captured_at), e)?;
        }
        b.put(k.schema(scan_id), &w.schema)?;
        b.put(k.counters(), &w.counters)?;
        let mut rec_ids = Vec::with_capacity(w.recommendations.len());
        for r in &w.recommendations {
            let key = k.rec(&r.rec_id);
            let mut r = r.clone();
            if let Some(old) = self.db.get(&key)? {
                match decode::<Recommendation>(&key, &old) {
                    Ok(old) => r.created_at = r.created_at.min(old.created_at),
                    Err(e) => tracing::warn!("replacing an unreadable stored recommendation: {e}"),
                }
            }
            if !rec_ids.contains(&r.rec_id) {
                rec_ids.push(r.rec_id.clone());
            }
            b.put(key, &r)?;
        }
        b.put(k.scan_recs(scan_id), &rec_ids)?;
        b.put(k.scan_dropped(scan_id), &w.dropped)?;
        let ids: Vec<QueryId> = scan_queries.keys().cloned().collect();
        b.put(k.scan_queries(scan_id), &ids)?;
        b.put(
            k.scan(scan_id),
            &ScanRecord {
                summary: w.summary,
                complete: true,
            },
        )?;
        b.put(k.latest(), &scan_id)?;

        self.retention_deletes(&k, scan_id, retention, &scan_queries, &mut b)?;

        self.db.apply_batch(b.batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Adds the retention deletions of a commit of scan `now` to `b`.
    fn retention_deletes(
        &self,
        k: &Keys<'_>,
        now: Millis,
        retention: &Retention,
        scan_queries: &BTreeMap<QueryId, Query>,
        b: &mut BatchWriter,
    ) -> Result<(), StoreError> {
        let age_cutoff = now.saturating_sub(retention.max_age_ms.max(0));
        let max_scans = retention.max_scans.max(1);

        // Scan records: decoded from keys only, newest first.
        let prefix = k.scans();
        let mut scan_ids = vec![now];
        for item in self.db.scan_prefix(&prefix).keys() {
            let key = item?;
            match key.strip_prefix(&prefix[..]).and_then(keys::parse_ts) {
                Some(id) if id != now => scan_ids.push(id),
                Some(_) => {}
                None => {
                    tracing::warn!(key = %show(&key), "deleting a malformed scan key");
                    b.remove(key.to_vec());
                }
            }
        }
        scan_ids.sort_unstable_by(|a, b| b.cmp(a));
        let mut cutoff = age_cutoff;
        for (i, &id) in scan_ids.iter().enumerate() {
            if id == now {
                continue;
            }
            if i >= max_scans {
                // Dropped by count: data older than the oldest kept scan goes too.
                cutoff = cutoff.max(scan_ids[max_scans - 1]);
            }
            if i >= max_scans || id < age_cutoff {
                b.remove(k.scan(id));
                b.remove(k.scan_queries(id));
                b.remove(k.schema(id));
                b.remove(k.scan_recs(id));
                b.remove(k.scan_dropped(id));
            }
        }
        // Never delete what this scan captured at or after its start.
        let cutoff = cutoff.min(now);

        // Queries and their history.
        let qprefix = k.queries();
        for item in self.db.scan_prefix(&qprefix) {
            let (key, value) = item?;
            let Some(id) = key
                .strip_prefix(&qprefix[..])
                .and_then(|s| std::str::from_utf8(s).ok())
            else {
                tracing::warn!(key = %show(&key), "deleting a malformed query key");
                b.remove(key.to_vec());
                continue;
            };
            let expired = !scan_queries.contains_key(id)
                && match decode::<Query>(&key, &value) {
                    Ok(q) => q.last_seen < cutoff,
                    Err(e) => {
                        tracing::warn!("deleting an unreadable stored query and its history: {e}");
                        true
                    }
                };
            if expired {
                b.remove(key.to_vec());
            }
            for hprefix in k.history_prefixes(id) {
                for hk in self.db.scan_prefix(&hprefix).keys() {
                    let hk = hk?;
                    match keys::time_after(&hprefix, &hk) {
                        Some(t) if !expired && t >= cutoff => break,
                        Some(_) => b.remove(hk.to_vec()),
                        None => {
                            tracing::warn!(key = %show(&hk), "deleting a malformed history key");
                            b.remove(hk.to_vec());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Records a failed scan (its `summary.error` and `hint` say why) without touching the data
    /// of the last complete scan, and prunes failed-scan records beyond the retention the last
    /// [`Store::commit_scan`] applied (the default before any commit); complete scans are only
    /// pruned by commits.
    pub fn record_failed_scan(
        &self,
        target: &TargetId,
        summary: ScanSummary,
    ) -> Result<(), StoreError> {
        let _w = self.lock();
        let k = Keys(target);
        let retention = match self.db.get(k.retention())? {
            None => Retention::default(),
            Some(v) => decode(&k.retention(), &v).unwrap_or_else(|e| {
                tracing::warn!("using the default retention: {e}");
                Retention::default()
            }),
        };
        let scan_id = summary.scan_id;
        if summary.error.is_none() {
            return Err(StoreError::InvalidScan(format!(
                "failed scan {scan_id} has no error; say why it failed in summary.error"
            )));
        }
        if self.db.contains_key(k.scan(scan_id))? {
            return Err(StoreError::ScanIdTaken { scan_id });
        }
        let mut b = BatchWriter::default();
        self.register_if_missing(target, &mut b)?;
        b.put(
            k.scan(scan_id),
            &ScanRecord {
                summary,
                complete: false,
            },
        )?;

        // Failed records (oldest first) are the ones this may delete.
        let age_cutoff = scan_id.saturating_sub(retention.max_age_ms.max(0));
        let prefix = k.scans();
        let mut total = 1usize;
        let mut failed: Vec<Vec<u8>> = Vec::new();
        for item in self.db.scan_prefix(&prefix) {
            let (key, value) = item?;
            total += 1;
            match decode::<ScanRecord>(&key, &value) {
                Ok(r) if r.complete => continue,
                Ok(r) if r.summary.scan_id < age_cutoff => {
                    total -= 1;
                    b.remove(key.to_vec());
                }
                Ok(_) => failed.push(key.to_vec()),
                Err(e) => {
                    tracing::warn!("deleting an unreadable scan record: {e}");
                    total -= 1;
                    b.remove(key.to_vec());
                }
            }
        }
        let max_scans = retention.max_scans.max(1);
        for key in failed {
            if total <= max_scans {
                break;
            }
            total -= 1;
            b.remove(key);
        }
        self.db.apply_batch(b.batch)?;
        self.db.flush()?;
        Ok(())
    }

    // ---- reads (only complete scans' data exists) ----

    /// The scan id of the latest complete scan.
    pub fn latest_scan_id(&self, target: &TargetId) -> Result<Option<Millis>, StoreError> {
        self.get(&Keys(target).latest())
    }

    /// The summary of the latest complete scan.
    pub fn latest_scan(&self, target: &TargetId) -> Result<Option<ScanSummary>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(None);
        };
        let rec: ScanRecord = self.get_required(target, &Keys(target).scan(id))?;
        Ok(Some(rec.summary))
    }

    /// Scan records, complete and failed, newest first, at most `limit`.
    pub fn scans(&self, target: &TargetId, limit: usize) -> Result<Vec<ScanRecord>, StoreError> {
        let mut v = self.newest(&Keys(target).scans(), limit)?;
        v.reverse();
        Ok(v)
    }

    /// The query ids the latest complete scan stored (sorted).
    pub fn query_ids_in_latest_scan(&self, target: &TargetId) -> Result<Vec<QueryId>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(Vec::new());
        };
        self.get_required(target, &Keys(target).scan_queries(id))
    }

    /// The schema snapshot of the latest complete scan.
    pub fn schema(&self, target: &TargetId) -> Result<Option<SchemaSnapshot>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(None);
        };
        self.get_required(target, &Keys(target).schema(id))
            .map(Some)
    }

    /// The collector's counter state stored by the latest complete scan.
    pub fn counters(&self, target: &TargetId) -> Result<Option<serde_json::Value>, StoreError> {
        self.get(&Keys(target).counters())
    }

    pub fn query(&self, target: &TargetId, id: &str) -> Result<Option<Query>, StoreError> {
        self.get(&Keys(target).query(id))
    }

    /// Every stored query (those of the latest scan and older ones within retention), by id.
    pub fn queries(&self, target: &TargetId) -> Result<Vec<Query>, StoreError> {
        self.newest(&Keys(target).queries(), usize::MAX)
    }

    /// A query's metric history in time order (newest last): the `limit` newest.
    pub fn metrics(
        &self,
        target: &TargetId,
        id: &str,
        limit: usize,
    ) -> Result<Vec<Metric>, StoreError> {
        self.newest(&Keys(target).metrics(id), limit)
    }

    pub fn latest_metric(&self, target: &TargetId, id: &str) -> Result<Option<Metric>, StoreError> {
        Ok(self.metrics(target, id, 1)?.pop())
    }

    /// A query's plans in time order (newest last): the `limit` newest.
    pub fn plans(
        &self,
        target: &TargetId,
        id: &str,
        limit: usize,
    ) -> Result<Vec<Plan>, StoreError> {
        self.newest(&Keys(target).plans(id), limit)
    }

    /// The newest plan (an analyzed plan wins over a generic one captured at the same time).
    pub fn latest_plan(&self, target: &TargetId, id: &str) -> Result<Option<Plan>, StoreError> {
        Ok(self.plans(target, id, 1)?.pop())
    }

    /// A query's plan errors in time order (newest last).
    pub fn plan_errors(&self, target: &TargetId, id: &str) -> Result<Vec<PlanError>, StoreError> {
        self.newest(&Keys(target).plan_errors(id), usize::MAX)
    }

    // ---- recommendations (written with their scan) ----

    /// The latest complete scan's recommendations, best score first (empty before the first
    /// scan, or for a scan stored before the advisor existed).
    pub fn recommendations(&self, target: &TargetId) -> Result<Vec<Recommendation>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(Vec::new());
        };
        let k = Keys(target);
        let ids: Vec<String> = self.get(&k.scan_recs(id))?.unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for rid in ids {
            out.push(self.get_required(target, &k.rec(&rid))?);
        }
        Ok(out)
    }

    /// One recommendation by its id (from any scan still stored).
    pub fn recommendation(
        &self,
        target: &TargetId,
        rec_id: &str,
    ) -> Result<Option<Recommendation>, StoreError> {
        self.get(&Keys(target).rec(rec_id))
    }

    /// The candidates the latest complete scan's advisor dropped, with the reasons.
    pub fn dropped(&self, target: &TargetId) -> Result<Vec<DroppedCandidate>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .get(&Keys(target).scan_dropped(id))?
            .unwrap_or_default())
    }

    // ---- simulations (written one by one, outside scans) ----

    /// Stores one simulation (its own small write, flushed).
    pub fn put_simulation(&self, target: &TargetId, sim: &Simulation) -> Result<(), StoreError> {
        check_query_id(&sim.query_id, "simulation")?;
        let key = Keys(target).simulation(&sim.query_id, sim.ran_at, &sim.id);
        let value = encode(&key, sim)?;
        let _w = self.lock();
        self.db.insert(key, value)?;
        self.db.flush()?;
        Ok(())
    }

    /// A query's simulations in time order (newest last): the `limit` newest.
    pub fn simulations(
        &self,
        target: &TargetId,
        query_id: &str,
        limit: usize,
    ) -> Result<Vec<Simulation>, StoreError> {
        self.newest(&Keys(target).simulations(query_id), limit)
    }

    // ---- helpers ----

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic in another writer leaves no half-written state (batches are atomic).
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A target first seen by a write is registered with its id as label.
    fn register_if_missing(
        &self,
        target: &TargetId,
        b: &mut BatchWriter,
    ) -> Result<(), StoreError> {
        let key = keys::target(target);
        if !self.db.contains_key(&key)? {
            let label = target.to_string();
            b.put(key, &TargetRecord { label })?;
        }
        Ok(())
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db.get(key)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// A value the latest-scan pointer promises exists.
    fn get_required<T: DeserializeOwned>(
        &self,
        target: &TargetId,
        key: &[u8],
    ) -> Result<T, StoreError> {
        self.get(key)?.ok_or_else(|| StoreError::Corrupt {
            key: show(&Keys(target).latest()),
            reason: format!("points at a scan whose {} is missing", show(key)),
        })
    }

    /// The last `limit` values under `prefix`, in key order.
    fn newest<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(prefix).rev().take(limit) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        out.reverse();
        Ok(out)
    }
}

enum Opened {
    Locked,
    Failed(sled::Error),
}

/// How long [`Store::open`] waits for a lock held in this same process to go away.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled, telling a held lock apart. A `Db` dropped in this process releases its file
/// (and lock) only when sled's epoch-based reclamation gets to it, which may be a moment
/// later when other threads use sled; so a held lock is retried for [`LOCK_WAIT`].
fn open_sled(dir: &Path) -> Result<sled::Db, Opened> {
    let start = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled 0.34 reports a held lock as an Io error with this text (config.rs try_lock).
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                if start.elapsed() >= LOCK_WAIT {
                    return Err(Opened::Locked);
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(e) => return Err(Opened::Failed(e)),
        }
    }
}

/// A batch plus the keys it writes, so retention never deletes what the same batch writes.
#[derive(Default)]
struct BatchWriter {
    batch: sled::Batch,
    written: HashSet<Vec<u8>>,
}

impl BatchWriter {
    fn put<T: Serialize + DeserializeOwned>(
        &mut self,
        key: Vec<u8>,
        v: &T,
    ) -> Result<(), StoreError> {
        let bytes = encode(&key, v)?;
        self.batch.insert(key.clone(), bytes);
        self.written.insert(key);
        Ok(())
    }

    fn remove(&mut self, key: Vec<u8>) {
        if !self.written.contains(&key) {
            self.batch.remove(key);
        }
    }
}

/// JSON that is checked to read back as the same type (JSON turns NaN and ±inf into `null`).
fn encode<T: Serialize + DeserializeOwned>(key: &[u8], v: &T) -> Result<Vec<u8>, StoreError> {
    let err = |e: serde_json::Error| StoreError::Encode {
        key: show(key),
        reason: e.to_string(),
    };
    let bytes = serde_json::to_vec(v).map_err(err)?;
    serde_json::from_slice::<T>(&bytes).map_err(|e| StoreError::Encode {
        key: show(key),
        reason: format!("it would not read back ({e})"),
    })?;
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: show(key),
        reason: e.to_string(),
    })
}

fn check_query_id(id: &str, what: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.contains('\0') {
        return Err(StoreError::InvalidScan(format!(
            "a {what} has query id {id:?}; query ids must be non-empty and hold no NUL byte"
        )));
    }
    Ok(())
}

/// `new` as stored after `old`: earliest first_seen, latest last_seen, union of pgss ids, and a
/// raw sample with values kept when the new one has none.
fn merge_query(old: Query, mut new: Query) -> Query {
    new.first_seen = new.first_seen.min(old.first_seen);
    new.last_seen = new.last_seen.max(old.last_seen);
    let mut ids = old.pgss_queryids;
    ids.append(&mut new.pgss_queryids);
    ids.sort_unstable();
    ids.dedup();
    new.pgss_queryids = ids;
    if old.raw_has_values && !new.raw_has_values {
        new.raw_sql = old.raw_sql;
        new.raw_has_values = true;
    }
    new
}
