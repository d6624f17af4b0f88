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
//!   number of scans) — history, simulations, recommendations no kept scan lists — and orphans
//!   (per-query rows whose query is gone); [`Store::record_failed_scan`] prunes old failed-scan
//!   records.
//! - **Private files.** The directory is 0700 and its files 0600 (tightened at open).
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
//! | `<t>\0sim\0<query id>\0<ran_at>\0<sim id>` | [`Simulation`] (written on its own by [`Store::put_simulation`]; trimmed by retention like history) |
//!
//! | `<t>\0rec\0<rec_id>` | [`Recommendation`] (keyed by its content id; keeps the `created_at` of the first scan that made it; written by [`Store::commit_scan`]) |
//! | `<t>\0scanrec\0<scan id>` | rec ids of a complete scan, best score first |
//! | `<t>\0scandrop\0<scan id>` | [`DroppedCandidate`]s of a complete scan |
//! | `<t>\0scantag\0<scan id>` | the [`QueryTag`]s of a complete scan: `[[query id, tag], …]` (absent in scans stored before tags existed: read as none) |
//! | `<t>\0w\0<query id>\0<captured_at>` | [`WaitProfile`] (history, trimmed like metrics) |
//! | `<t>\0scanfam\0<scan id>` | the [`FamilySet`](optidb_core::family::FamilySet) of a complete scan (absent for scans stored before families existed) |
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

mod codec;
mod error;
mod keys;
mod read;
mod target;
#[cfg(test)]
mod tests;
mod write;

pub use error::StoreError;
pub use target::{redact_password, TargetId};

use codec::{decode, encode};
use keys::show;
use optidb_core::model::{
    DroppedCandidate, Metric, Plan, PlanError, Query, QueryId, QueryTag, Recommendation,
    ScanSummary, SchemaSnapshot, WaitProfile,
};
use serde::{Deserialize, Serialize};
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
    /// The scan's query families (read back with [`Store::families`]); `None` stores none.
    pub families: Option<optidb_core::family::FamilySet>,
    /// Findings in time, from every producer (contention, anomalies …): each pushes its
    /// `(query id, tag)` pairs here; read back with [`Store::tags`] / [`Store::query_tags`].
    pub tags: Vec<(QueryId, QueryTag)>,
    /// Per-query wait profiles of the interval (the sampler's), read back with
    /// [`Store::waits`].
    pub waits: Vec<WaitProfile>,
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
        // Looser permissions are worth a warning only on a store that already held data.
        let existing = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        restrict_permissions(dir, existing);
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
        // The files sled just created (the directory's 0700 already keeps others out).
        restrict_permissions(dir, false);
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// Bytes the store takes on disk (sled's own account of its files).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
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

    // ---- helpers ----

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic in another writer leaves no half-written state (batches are atomic).
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The store holds query texts and, when enabled, real-value samples: its directory is made
/// 0700 and every file in it 0600 (subdirectories 0700), tightening a store that was looser —
/// with a warning naming it when `warn` (a store that held data: other users could have read
/// it until now). What cannot be changed (another owner) is a warning too: the store still opens.
fn restrict_permissions(dir: &Path, warn: bool) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fn walk(path: &Path, is_dir: bool, loosened: &mut Vec<String>) {
            let want = if is_dir { 0o700 } else { 0o600 };
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => return,
                Ok(m) if m.permissions().mode() & 0o777 != want => {
                    let was = m.permissions().mode() & 0o777;
                    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)) {
                        Ok(()) => {
                            if was & 0o077 != 0 {
                                loosened.push(format!("{} ({was:o})", path.display()));
                            }
                        }
                        Err(e) => tracing::warn!(
                            "cannot restrict {} to {want:o} (it is {was:o}): {e}; other users may \
                             read the query texts it holds",
                            path.display()
                        ),
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot check the permissions of {}: {e}", path.display()),
            }
            if is_dir {
                let Ok(entries) = std::fs::read_dir(path) else {
                    return;
                };
                for e in entries.flatten() {
                    let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                    walk(&e.path(), is_dir, loosened);
                }
            }
        }
        let mut loosened = Vec::new();
        walk(dir, true, &mut loosened);
        if warn && !loosened.is_empty() {
            tracing::warn!(
                "the store at {} was readable by other users; restricted to its owner (0700 \
                 directories, 0600 files): {}",
                dir.display(),
                loosened.join(", ")
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, warn);
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
