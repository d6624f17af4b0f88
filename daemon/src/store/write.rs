//! Writing the store: one scan is one atomic batch ([`Store::commit_scan`]) with its retention
//! deletions; a failed scan is recorded without touching the last complete one; simulations
//! are written one by one.

use super::codec::{decode, encode};
use super::keys::{self, show, Keys};
use super::{Retention, ScanRecord, ScanWrite, Store, StoreError, TargetId, TargetRecord};
use optidb_core::model::{Millis, Query, QueryId, Recommendation, ScanSummary, Simulation};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

impl Store {
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
            .chain(w.plan_errors.iter().map(|e| (&e.query_id, "plan error")))
            .chain(w.tags.iter().map(|(id, _)| (id, "tag")))
            .chain(w.waits.iter().map(|x| (&x.query_id, "wait profile")));
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
        b.put(k.scan_tags(scan_id), &w.tags)?;
        for x in &w.waits {
            b.put(k.wait(&x.query_id, x.captured_at), x)?;
        }
        if let Some(f) = &w.families {
            b.put(k.scan_families(scan_id), f)?;
        }
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
                b.remove(k.scan_tags(id));
                b.remove(k.scan_families(id));
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
        self.trim_recs_sims_and_orphans(k, cutoff, scan_queries, b)
    }

    /// Retention beyond queries and their history: recommendations no kept scan lists (or
    /// whose queries are all gone), simulations older than `cutoff`, and orphans — per-query
    /// rows (metrics, plans, plan errors, simulations, wait profiles) whose query is not kept.
    fn trim_recs_sims_and_orphans(
        &self,
        k: &Keys<'_>,
        cutoff: Millis,
        scan_queries: &BTreeMap<QueryId, Query>,
        b: &mut BatchWriter,
    ) -> Result<(), StoreError> {
        let mut kept: HashMap<String, bool> = HashMap::new();
        let mut is_kept = |id: &str, b: &BatchWriter| -> Result<bool, StoreError> {
            if let Some(&v) = kept.get(id) {
                return Ok(v);
            }
            let v = scan_queries.contains_key(id) || {
                let key = k.query(id);
                !b.removes(&key)
                    && match self.db.get(&key)? {
                        Some(v) => decode::<Query>(&key, &v).is_ok_and(|q| q.last_seen >= cutoff),
                        None => false,
                    }
            };
            kept.insert(id.to_string(), v);
            Ok(v)
        };

        // Orphans and old simulations, one query id at a time: a kept query's keys are skipped
        // with one seek (its history was trimmed by time above).
        for root in k.per_query_roots() {
            let sims = root.ends_with(b"\0sim\0");
            let mut from = root.clone();
            loop {
                let Some(item) = self.db.range(from.clone()..).next() else {
                    break;
                };
                let (key, _) = item?;
                let Some(rest) = key.strip_prefix(&root[..]) else {
                    break;
                };
                let id_len = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                let id = String::from_utf8_lossy(&rest[..id_len]).into_owned();
                let mut prefix = root.clone();
                prefix.extend_from_slice(&rest[..id_len]);
                prefix.push(0);
                let orphan = id_len == rest.len() || !is_kept(&id, b)?;
                if orphan || sims {
                    for hk in self.db.scan_prefix(&prefix).keys() {
                        let hk = hk?;
                        match keys::time_after(&prefix, &hk) {
                            Some(t) if !orphan && t >= cutoff => break,
                            _ => b.remove(hk.to_vec()),
                        }
                    }
                }
                if orphan && id_len == rest.len() {
                    // A key without a time: malformed.
                    b.remove(key.to_vec());
                }
                // Past every key of this id: `\0` is followed by `\x01` in byte order.
                prefix.pop();
                prefix.push(1);
                from = prefix;
            }
        }

        // Recommendations: kept while a kept scan lists them and one of their queries is kept.
        let mut listed: HashSet<String> = HashSet::new();
        for item in self.db.scan_prefix(k.all_scan_recs()) {
            let (key, value) = item?;
            if b.removes(&key) {
                continue;
            }
            match decode::<Vec<String>>(&key, &value) {
                Ok(ids) => listed.extend(ids),
                Err(e) => tracing::warn!("ignoring an unreadable list of recommendations: {e}"),
            }
        }
        let rprefix = k.recs();
        for item in self.db.scan_prefix(&rprefix) {
            let (key, value) = item?;
            let id = String::from_utf8_lossy(&key[rprefix.len()..]).into_owned();
            let keep = listed.contains(&id)
                && match decode::<Recommendation>(&key, &value) {
                    Ok(r) => {
                        let mut any = r.query_ids.is_empty();
                        for q in &r.query_ids {
                            any = any || is_kept(q, b)?;
                        }
                        any
                    }
                    Err(e) => {
                        tracing::warn!("deleting an unreadable recommendation: {e}");
                        false
                    }
                };
            if !keep {
                b.remove(key.to_vec());
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
}

/// A batch plus the keys it writes, so retention never deletes what the same batch writes,
/// and the keys it removes (retention's later passes ask).
#[derive(Default)]
struct BatchWriter {
    batch: sled::Batch,
    written: HashSet<Vec<u8>>,
    removed: HashSet<Vec<u8>>,
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
            self.batch.remove(key.clone());
            self.removed.insert(key);
        }
    }

    /// Whether the batch deletes `key`.
    fn removes(&self, key: &[u8]) -> bool {
        self.removed.contains(key)
    }
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
