//! Reading the store: only complete scans' data exists, and every read says which key is damaged
//! instead of panicking or skipping it.

use super::codec::decode;
use super::keys::{show, Keys};
use super::{ScanRecord, Store, StoreError, TargetId};
use optidb_core::model::{
    DroppedCandidate, Metric, Millis, Plan, PlanError, Query, QueryId, QueryTag, Recommendation,
    ScanSummary, SchemaSnapshot, Simulation, WaitProfile,
};
use serde::de::DeserializeOwned;

impl Store {
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

    // ---- findings in time (written with their scan) ----

    /// The latest complete scan's tags as `(query id, tag)` pairs, in the order producers gave
    /// them (empty before the first scan, or for a scan stored before tags existed).
    pub fn tags(&self, target: &TargetId) -> Result<Vec<(QueryId, QueryTag)>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(Vec::new());
        };
        self.scan_tags(target, id)
    }

    /// The tags a complete scan stored (empty for an unknown scan or one stored before tags).
    pub fn scan_tags(
        &self,
        target: &TargetId,
        scan_id: Millis,
    ) -> Result<Vec<(QueryId, QueryTag)>, StoreError> {
        Ok(self
            .get(&Keys(target).scan_tags(scan_id))?
            .unwrap_or_default())
    }

    /// The latest complete scan's tags of one query.
    pub fn query_tags(&self, target: &TargetId, id: &str) -> Result<Vec<QueryTag>, StoreError> {
        Ok(self
            .tags(target)?
            .into_iter()
            .filter(|(q, _)| q == id)
            .map(|(_, t)| t)
            .collect())
    }

    /// A query's wait profiles in time order (newest last): the `limit` newest.
    pub fn waits(
        &self,
        target: &TargetId,
        id: &str,
        limit: usize,
    ) -> Result<Vec<WaitProfile>, StoreError> {
        self.newest(&Keys(target).waits(id), limit)
    }

    /// The wait profile the latest complete scan stored for a query (none when the sampler did
    /// not see it in that interval).
    pub fn latest_waits(
        &self,
        target: &TargetId,
        id: &str,
    ) -> Result<Option<WaitProfile>, StoreError> {
        let Some(scan) = self.latest_scan_id(target)? else {
            return Ok(None);
        };
        Ok(self
            .waits(target, id, 1)?
            .pop()
            .filter(|w| w.captured_at == scan))
    }

    /// The query families of the latest complete scan (`None` before the first scan, or for a
    /// scan stored before families existed).
    pub fn families(
        &self,
        target: &TargetId,
    ) -> Result<Option<optidb_core::family::FamilySet>, StoreError> {
        let Some(id) = self.latest_scan_id(target)? else {
            return Ok(None);
        };
        self.get(&Keys(target).scan_families(id))
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
