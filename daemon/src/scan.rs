//! One scan: reads pg_stat_statements, the catalogs and plans from the target (crate::collect,
//! crate::pg::explain), runs the advisor (crate::analyze) and checks its index candidates with
//! hypopg (crate::simulate::verify), and commits everything to the store atomically. A target
//! that is down, restarting or slow never breaks the daemon: the scan fails with a reason and a
//! hint, the last complete scan stays served, and the next scan reconnects. A scan that runs
//! past its deadline cancels its backend.

use crate::analyze::advisor;
use crate::analyze::plan_facts::{plan_facts, plan_hash, TableSizes};
use crate::clock::now_ms;
use crate::collect::sampler::{self, Samples};
use crate::collect::schema;
use crate::collect::statements::{self, CounterState};
use crate::pg::explain;
use crate::pg::session::{self, Session, TargetConfig};
use crate::pg::PgError;
use crate::store::{Retention, ScanWrite, Store, TargetId};
use optidb_core::model::{
    DroppedCandidate, Metric, Millis, Plan, PlanError, PlanKind, Query, Recommendation,
    ScanSummary, SchemaSnapshot,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per query id, stored history oldest first.
type History<T> = HashMap<String, Vec<T>>;

/// Why a scan failed: the target, or the store.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("the store failed: {0}")]
    Store(String),
    /// A bug: a step of the scan panicked (the daemon goes on).
    #[error("the scan hit an internal error: {0}")]
    Panicked(String),
}

impl ScanError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ScanError::Pg(e) => e.hint(),
            ScanError::Store(_) => "check the --store directory: disk space and permissions".into(),
            ScanError::Panicked(_) => "OptiDB keeps serving the last complete scan and retries \
                 with a new session; please report this with the daemon log"
                .into(),
        }
    }

    fn store(e: impl std::fmt::Display) -> ScanError {
        ScanError::Store(e.to_string())
    }

    /// The cause class of a failure, for metrics (a fixed set of names, no message text).
    pub fn kind(&self) -> &'static str {
        match self {
            ScanError::Pg(e) => match e {
                PgError::BadUrl(_) => "config",
                PgError::Timeout(_) => "timeout",
                PgError::Unreachable(_) => "unreachable",
                PgError::Auth(_) => "auth",
                PgError::NoPgss | PgError::PgssNotLoaded => "pg_stat_statements",
                PgError::Privilege(_) => "privilege",
                PgError::Unsupported(_) => "unsupported",
                PgError::Refused(_) => "refused",
                PgError::Untrusted(_) | PgError::NotPlannable(_) => "planning",
                PgError::Locked(_) => "locked",
                PgError::Tls(_) => "tls",
                PgError::Db(_) => "database",
            },
            ScanError::Store(_) => "store",
            ScanError::Panicked(_) => "panic",
        }
    }
}

/// What to collect and how patient to be.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub target: TargetConfig,
    /// Keep the N queries with the most total time.
    pub top_n: usize,
    /// Capture plans for the K queries with the most total time.
    pub plans_k: usize,
    /// Ignore queries whose mean time is below this.
    pub min_mean_ms: f64,
    /// Ignore queries called fewer times than this.
    pub min_calls: i64,
    /// Run EXPLAIN ANALYZE of real-value samples (executes them). Off by default on targets
    /// not marked as sandboxes; otherwise samples get a plain EXPLAIN (custom plan).
    pub analyze_samples: bool,
    /// statement_timeout for one EXPLAIN ANALYZE.
    pub analyze_timeout: Duration,
    /// Re-run EXPLAIN ANALYZE of a query's sample at most this often (unless its plan changed).
    pub reanalyze_after: Duration,
    /// The whole scan gives up after this long.
    pub scan_timeout: Duration,
    pub retention: Retention,
    /// Reuse the indexes, foreign keys and column statistics a scan read for this long while
    /// the catalog's signature (DDL, ANALYZE) stays the same; zero reads them every scan.
    pub schema_ttl: Duration,
    /// Keep real-value samples (statements with their literal values, from the sampler) as
    /// query samples and plan them. Off (`--no-real-values`): nothing with a literal value from
    /// the workload is stored, and plans come only from normalized text (generic plans).
    pub real_values: bool,
    /// Tests only: runs just before the plans are captured (to break the session, or panic,
    /// half-way through a scan).
    #[cfg(test)]
    pub before_plans: Option<TestHook>,
}

/// A closure a test runs inside a scan.
#[cfg(test)]
#[derive(Clone)]
pub struct TestHook(pub Arc<dyn Fn() + Send + Sync>);

#[cfg(test)]
impl std::fmt::Debug for TestHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestHook")
    }
}

impl CollectorConfig {
    pub fn new(target: TargetConfig) -> Self {
        CollectorConfig {
            analyze_samples: target.sandbox,
            target,
            top_n: 100,
            plans_k: 20,
            min_mean_ms: 0.0,
            min_calls: 1,
            analyze_timeout: Duration::from_secs(2),
            reanalyze_after: Duration::from_secs(3600),
            scan_timeout: Duration::from_secs(120),
            retention: Retention::default(),
            schema_ttl: Duration::from_secs(300),
            real_values: true,
            #[cfg(test)]
            before_plans: None,
        }
    }
}

/// The schema for a scan: the definitions of the cached snapshot while it is younger than `ttl`
/// and the catalog's signature is unchanged, else all of it read again (and cached, unless some
/// of it was only estimated because of a lock).
async fn read_schema(
    session: &Session,
    cache: &mut Option<SchemaCache>,
    ttl: Duration,
    now: Millis,
) -> Result<schema::SchemaRead, PgError> {
    if ttl.is_zero() {
        return schema::read(session, now, None).await;
    }
    let signature = schema::signature(session).await?;
    let reuse = cache
        .as_ref()
        .filter(|c| c.signature == signature && c.read_at.elapsed() < ttl)
        .map(|c| &c.snapshot);
    let reused = reuse.is_some();
    let read = schema::read(session, now, reuse).await?;
    if !reused {
        let exact = !read.snapshot.indexes.iter().any(|i| i.size_estimated);
        *cache = exact.then(|| SchemaCache {
            read_at: Instant::now(),
            signature,
            snapshot: read.snapshot.clone(),
        });
    }
    Ok(read)
}

/// The warning for statements whose text pg_stat_statements hides from this user.
fn hidden_warning(hidden: usize) -> Option<String> {
    (hidden > 0).then(|| {
        format!(
            "{hidden} statements of other users are hidden from OptiDB's user and were skipped: \
             GRANT pg_read_all_stats TO <optidb user>; (or pg_monitor)"
        )
    })
}

/// Owns the session to one target and what it remembers between scans.
pub struct Collector {
    cfg: CollectorConfig,
    store: Store,
    target_id: TargetId,
    session: Option<Session>,
    /// pg_stat_statements queryid → classification (texts are fetched once per queryid; a
    /// bounded LRU of `statements::TEXT_CACHE_ENTRIES`).
    texts: statements::TextCache,
    counters: Option<CounterState>,
    samples: Arc<Samples>,
    /// fingerprint → (when its sample was last planned — custom or analyzed —, generic plan
    /// hash then)
    analyzed: HashMap<String, (Millis, String)>,
    /// The schema definitions of an earlier scan, while the catalog has not changed.
    schema_cache: Option<SchemaCache>,
    /// The cause class of the last scan's failure (`ScanError::kind`), None after a success.
    last_failure: Option<&'static str>,
}

/// A schema snapshot, when it was read, and the catalog signature it was read with.
struct SchemaCache {
    read_at: Instant,
    signature: Vec<i64>,
    snapshot: SchemaSnapshot,
}

impl Collector {
    pub fn new(
        cfg: CollectorConfig,
        store: Store,
        samples: Arc<Samples>,
    ) -> Result<Self, ScanError> {
        // Validate the address up front so a typo fails at start-up, not at the first scan.
        let pg = cfg.target.pg_config()?;
        let target_id = store
            .register_target(&session::canonical_url(&pg))
            .map_err(ScanError::store)?;
        Ok(Collector {
            cfg,
            store,
            target_id,
            session: None,
            texts: statements::TextCache::default(),
            counters: None,
            samples,
            analyzed: HashMap::new(),
            schema_cache: None,
            last_failure: None,
        })
    }

    pub fn target_id(&self) -> &TargetId {
        &self.target_id
    }

    pub fn config(&self) -> &CollectorConfig {
        &self.cfg
    }

    /// Why the last scan failed, as a cause class (`ScanError::kind`); None when it completed.
    pub fn last_failure(&self) -> Option<&'static str> {
        self.last_failure
    }

    /// Runs one scan and returns its summary (with `error` and `hint` set when it failed; the
    /// failure is recorded in the store without touching the last complete scan).
    #[tracing::instrument(level = "info", skip_all, fields(target = %self.cfg.target.display()))]
    pub async fn scan(&mut self) -> ScanSummary {
        let started_at = now_ms();
        let t0 = Instant::now();
        self.last_failure = None;
        let result =
            match tokio::time::timeout(self.cfg.scan_timeout, self.scan_inner(started_at)).await {
                Ok(r) => r,
                Err(_) => {
                    // The backend may still be running what the scan sent: cancel it, and
                    // never reuse a session left in an unknown state.
                    if let Some(s) = self.session.take() {
                        s.cancel().await;
                    }
                    Err(ScanError::Pg(PgError::Timeout(format!(
                        "scanning (gave up after {:?})",
                        self.cfg.scan_timeout
                    ))))
                }
            };
        let duration_ms = t0.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok((mut summary, write)) => {
                summary.duration_ms = duration_ms;
                let mut write = write;
                write.summary = summary.clone();
                let store = self.store.clone();
                let target = self.target_id.clone();
                let retention = self.cfg.retention.clone();
                let committed = tokio::task::spawn_blocking(move || {
                    store.commit_scan(&target, write, &retention)
                })
                .await;
                match committed {
                    Ok(Ok(())) => summary,
                    Ok(Err(e)) => {
                        self.failed(started_at, duration_ms, ScanError::store(e))
                            .await
                    }
                    Err(e) => {
                        self.failed(started_at, duration_ms, ScanError::store(e))
                            .await
                    }
                }
            }
            Err(e) => self.failed(started_at, duration_ms, e).await,
        }
    }

    /// Records a scan that panicked: the session's state is unknown, so it is dropped and the
    /// next scan reconnects.
    pub async fn record_panic(&mut self, started_at: Millis, what: &str) -> ScanSummary {
        if let Some(s) = self.session.take() {
            s.cancel().await;
        }
        let duration_ms = (now_ms() - started_at) as f64;
        self.failed(
            started_at,
            duration_ms,
            ScanError::Panicked(what.to_string()),
        )
        .await
    }

    async fn failed(&mut self, started_at: Millis, duration_ms: f64, e: ScanError) -> ScanSummary {
        if let ScanError::Pg(p) = &e {
            if p.is_connection_problem() || matches!(p, PgError::Db(_)) {
                // A half-broken session is not worth keeping; the next scan reconnects.
                self.session = None;
            }
        }
        self.last_failure = Some(e.kind());
        let summary = ScanSummary {
            scan_id: started_at,
            started_at,
            duration_ms,
            error: Some(e.to_string()),
            hint: Some(e.hint()),
            ..Default::default()
        };
        tracing::warn!(error = %e, hint = %e.hint(), "scan failed");
        let store = self.store.clone();
        let target = self.target_id.clone();
        let s = summary.clone();
        if let Ok(Err(err)) =
            tokio::task::spawn_blocking(move || store.record_failed_scan(&target, s)).await
        {
            tracing::warn!("could not record the failed scan: {err}");
        }
        summary
    }

    /// The session the next scan uses, when there is one that can still be used.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref().filter(|s| s.is_usable())
    }

    async fn ensure_session(&mut self) -> Result<(), ScanError> {
        if self.session().is_none() {
            self.session = None;
            let s = session::connect(&self.cfg.target).await?;
            statements::check_pgss(&s)?;
            self.session = Some(s);
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn scan_inner(&mut self, now: Millis) -> Result<(ScanSummary, ScanWrite), ScanError> {
        self.ensure_session().await?;
        if self.counters.is_none() {
            let store = self.store.clone();
            let target = self.target_id.clone();
            let stored = tokio::task::spawn_blocking(move || store.counters(&target))
                .await
                .map_err(ScanError::store)?
                .map_err(ScanError::store)?;
            self.counters = stored.and_then(|v| serde_json::from_value(v).ok());
        }
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| PgError::Unreachable("no session".into()))?;

        let read = statements::read(session, &mut self.texts, self.counters.as_ref(), now).await?;
        let schema::SchemaRead {
            snapshot: schema,
            warnings: schema_warnings,
        } = read_schema(session, &mut self.schema_cache, self.cfg.schema_ttl, now).await?;

        // Filters, then top-N by cumulative total time.
        let mut kept: Vec<_> = read
            .queries
            .into_iter()
            .filter(|q| {
                let mean = if q.cumulative.calls > 0 {
                    q.cumulative.total_ms / q.cumulative.calls as f64
                } else {
                    0.0
                };
                q.cumulative.calls >= self.cfg.min_calls && mean >= self.cfg.min_mean_ms
            })
            .collect();
        kept.sort_by(|a, b| {
            b.cumulative
                .total_ms
                .total_cmp(&a.cumulative.total_ms)
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        kept.truncate(self.cfg.top_n);

        let mut queries = Vec::with_capacity(kept.len());
        let mut metrics = Vec::with_capacity(kept.len());
        for q in &kept {
            // Without real values, no sample is read: the query keeps its normalized text.
            let sample = if self.cfg.real_values {
                self.samples.get(&q.fingerprint)
            } else {
                None
            };
            let (raw_sql, raw_has_values) = match sample {
                Some(s) => (s, true),
                None => (q.norm_sql.clone(), false),
            };
            queries.push(Query {
                id: q.fingerprint.clone(),
                fingerprint: q.fingerprint.clone(),
                raw_sql,
                raw_has_values,
                norm_sql: q.norm_sql.clone(),
                first_seen: now,
                last_seen: now,
                pgss_queryids: q.queryids.clone(),
            });
            let c = &q.cumulative;
            metrics.push(Metric {
                query_id: q.fingerprint.clone(),
                captured_at: now,
                calls: c.calls,
                total_ms: c.total_ms,
                mean_ms: if c.calls > 0 {
                    c.total_ms / c.calls as f64
                } else {
                    0.0
                },
                rows: c.rows,
                shared_blks_hit: c.shared_blks_hit,
                shared_blks_read: c.shared_blks_read,
                interval: q.interval.clone(),
            });
        }

        #[cfg(test)]
        if let Some(hook) = &self.cfg.before_plans {
            (hook.0)();
        }
        let (plans, plan_errors) = self.capture_plans(&queries, &schema, now).await;
        let generic = plans.iter().filter(|p| p.kind == PlanKind::Generic).count();
        self.still_connected(|| {
            let last = plan_errors
                .last()
                .map(|e| format!(" ({})", e.error))
                .unwrap_or_default();
            format!(
                "after {generic} of {} generic plans{last}",
                queries.len().min(self.cfg.plans_k)
            )
        })?;
        let (recommendations, dropped) =
            self.advise(&queries, &metrics, &plans, &schema, now).await;
        self.still_connected(|| "while verifying recommendations with hypopg".into())?;

        // Findings in time: the sampler's window since the last scan, the stored history, and
        // every producer of tags (analyze::time::PRODUCERS).
        let window = self.samples.take_window();
        let waits = sampler::profiles(&window, &queries, now);
        let (past_metrics, past_plans) = self.history(&queries).await?;
        let families = crate::analyze::families::for_scan(now, &queries, &schema);
        let tags = crate::analyze::time::tags(&crate::analyze::time::TimeInput {
            now,
            queries: &queries,
            metrics: &metrics,
            plans: &plans,
            waits: &waits,
            past_metrics: &past_metrics,
            past_plans: &past_plans,
            families: &families,
        });
        let (recommendations, dropped) =
            crate::analyze::contention::set_aside_index_advice(recommendations, dropped, &tags);

        let summary = ScanSummary {
            scan_id: now,
            started_at: now,
            duration_ms: 0.0,
            statements_seen: read.entries_seen,
            queries_stored: queries.len(),
            plans_captured: plans.len(),
            plan_errors: plan_errors.len(),
            tables: schema.tables.len(),
            indexes: schema.indexes.len(),
            stats_reset: read.stats_reset,
            recommendations: recommendations.len(),
            warnings: hidden_warning(read.hidden)
                .into_iter()
                .chain(schema_warnings)
                .collect(),
            error: None,
            hint: None,
        };
        let counters = serde_json::to_value(&read.state).map_err(ScanError::store)?;
        self.counters = Some(read.state);
        let write = ScanWrite {
            summary: summary.clone(),
            queries,
            metrics,
            plans,
            plan_errors,
            schema,
            counters,
            recommendations,
            dropped,
            families: Some(families),
            tags,
            waits,
        };
        Ok((summary, write))
    }

    /// The stored metrics and plans of each query before this scan, oldest first (at most
    /// `analyze::time::HISTORY` each): what the producers of tags compare with.
    async fn history(
        &self,
        queries: &[Query],
    ) -> Result<(History<Metric>, History<Plan>), ScanError> {
        let store = self.store.clone();
        let target = self.target_id.clone();
        let ids: Vec<String> = queries.iter().map(|q| q.id.clone()).collect();
        let n = crate::analyze::time::HISTORY;
        tokio::task::spawn_blocking(move || {
            let mut metrics = HashMap::new();
            let mut plans = HashMap::new();
            for id in ids {
                metrics.insert(id.clone(), store.metrics(&target, &id, n)?);
                plans.insert(id.clone(), store.plans(&target, &id, n)?);
            }
            Ok::<_, crate::store::StoreError>((metrics, plans))
        })
        .await
        .map_err(ScanError::store)?
        .map_err(ScanError::store)
    }

    /// A scan whose session died half-way has lost plans or hypopg verification: it is not
    /// complete and must not replace the last complete one, so it fails (`when` says where).
    fn still_connected(&self, when: impl FnOnce() -> String) -> Result<(), ScanError> {
        if self.session().is_some() {
            return Ok(());
        }
        Err(ScanError::Pg(PgError::Unreachable(format!(
            "the collector's session was lost during the scan, {}; the scan is not stored, \
             the last complete scan stays what OptiDB shows",
            when()
        ))))
    }

    /// The advisor on this scan's data, its index candidates checked with hypopg on the
    /// collector's session (when there is one).
    #[tracing::instrument(level = "debug", skip_all, fields(queries = queries.len()))]
    async fn advise(
        &self,
        queries: &[Query],
        metrics: &[Metric],
        plans: &[Plan],
        schema: &SchemaSnapshot,
        now: Millis,
    ) -> (Vec<Recommendation>, Vec<DroppedCandidate>) {
        let input = advisor::AdvisorInput {
            queries,
            metrics,
            plans,
            schema,
            now,
        };
        let (recs, mut dropped) = advisor::candidates(&input);
        let Some(session) = self.session() else {
            return (recs, dropped);
        };
        let (recs, mut more) =
            crate::simulate::verify::verify(session, recs, queries, metrics).await;
        dropped.append(&mut more);
        (recs, dropped)
    }

    /// Generic plans for the top-K queries, and a plan of each one's real-value sample when the
    /// last one is old or the plan changed: EXPLAIN ANALYZE where the target allows it
    /// (`analyze_samples`), else a plain EXPLAIN (custom plan, nothing executed). One query's
    /// failure (an untrusted function, a type the planner cannot infer) is recorded and the rest
    /// go on; a lost or unusable session stops the plans of this scan.
    #[tracing::instrument(level = "debug", skip_all, fields(queries = queries.len()))]
    async fn capture_plans(
        &mut self,
        queries: &[Query],
        schema: &SchemaSnapshot,
        now: Millis,
    ) -> (Vec<Plan>, Vec<PlanError>) {
        let sizes = TableSizes::from_tables(&schema.tables);
        let mut plans = Vec::new();
        let mut errors = Vec::new();
        let error = |q: &Query, what: &str, e: PgError| PlanError {
            query_id: q.id.clone(),
            captured_at: now,
            error: format!("{what}{e}"),
        };
        for q in queries.iter().take(self.cfg.plans_k) {
            let Some(session) = self.session.as_ref().filter(|s| s.is_usable()) else {
                break;
            };
            let json = match explain::generic_plan(session, &q.norm_sql).await {
                Ok(json) => json,
                Err(e) => {
                    if matches!(e, PgError::Unreachable(_)) {
                        // Terminated or cut off: the next check ends this scan's plans.
                        session.mark_broken();
                    }
                    errors.push(error(q, "", e));
                    continue;
                }
            };
            let hash = plan_hash(&json);
            let facts = plan_facts(&json, &sizes).unwrap_or_default();
            let due = match self.analyzed.get(&q.id) {
                None => true,
                Some((at, h)) => {
                    *h != hash || now - at >= self.cfg.reanalyze_after.as_millis() as Millis
                }
            };
            plans.push(Plan {
                query_id: q.id.clone(),
                captured_at: now,
                kind: PlanKind::Generic,
                plan_hash: hash.clone(),
                plan_json: json,
                facts,
            });
            if !(due && q.raw_has_values) {
                continue;
            }
            let analyze = self.cfg.analyze_samples && explain::analyzable_sample(&q.raw_sql);
            let (kind, result, what) = if analyze {
                (
                    PlanKind::Analyzed,
                    explain::analyzed_plan(&self.cfg.target, &q.raw_sql, self.cfg.analyze_timeout)
                        .await,
                    "EXPLAIN ANALYZE of a sample: ",
                )
            } else {
                (
                    PlanKind::Custom,
                    explain::custom_plan(session, &q.raw_sql).await,
                    "EXPLAIN of a sample: ",
                )
            };
            match result {
                Ok(json) => {
                    let facts = plan_facts(&json, &sizes).unwrap_or_default();
                    plans.push(Plan {
                        query_id: q.id.clone(),
                        captured_at: now,
                        kind,
                        plan_hash: plan_hash(&json),
                        plan_json: json,
                        facts,
                    });
                    self.analyzed.insert(q.id.clone(), (now, hash));
                }
                Err(e) => errors.push(error(q, what, e)),
            }
        }
        (plans, errors)
    }
}
