//! The pg_stat_activity sampler: pg_stat_statements knows how long queries take, not where the
//! time goes nor real values. One statement per tick reads the backends running a statement
//! and keeps (1) per fingerprint the latest statement with real values (EXPLAIN ANALYZE needs
//! one) and (2) per query the wait classes it was seen in, who blocked it and which locks it
//! waited for — the scan turns those into wait profiles ([`profiles`]) and drains them.
//!
//! Bounded cost: one read-only statement per tick, `pg_blocking_pids()` only for lock waiters,
//! and the pace adapts — a slow tick (over `SLOW_TICK`, 20 ms) that took `d` waits at least
//! `d × DUTY_FACTOR` before the next, so the sampler keeps at most ~5% of one backend busy
//! however slow the target gets (a normal
//! tick, ~0.5 ms, at the default 5 Hz is 0.25%); a tick that times out is cancelled and the
//! next waits a second.
//! Bounded memory: at most [`MAX_SAMPLES`] real-value texts of at most [`MAX_SAMPLE_BYTES`]
//! each (least recently seen evicted first) and [`MAX_WAIT_KEYS`] queries in the wait window,
//! each with at most [`MAX_BLOCKERS`] blockers and [`MAX_LOCKS`] lock kinds.

use crate::clock::now_ms;
use crate::pg::session::{self, TargetConfig};
use optidb_core::model::{Blocker, LockWait, Millis, Query, WaitProfile};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ACTIVITY_SQL: &str = include_str!("queries/activity_samples.sql");

/// Most real-value texts remembered (one per fingerprint); the least recently seen goes first.
pub const MAX_SAMPLES: usize = 2_000;
/// Longer texts are not kept as samples (PostgreSQL truncates at track_activity_query_size,
/// 1 KiB by default, up to 1 MiB): at most `MAX_SAMPLES × MAX_SAMPLE_BYTES` = 16 MiB of text.
pub const MAX_SAMPLE_BYTES: usize = 8 * 1024;
/// Most queries tracked in one wait window (between two scans); others are counted as dropped.
pub const MAX_WAIT_KEYS: usize = 5_000;
/// Most distinct blockers and lock kinds remembered per query per window.
pub const MAX_BLOCKERS: usize = 8;
pub const MAX_LOCKS: usize = 8;
/// Most blockers of one waiter looked at in one sample.
const BLOCKERS_PER_SAMPLE: usize = 4;
/// A slow tick (over [`SLOW_TICK`]) that took `d` is followed by a pause of at least
/// `d × DUTY_FACTOR` (≤ 5% busy).
pub const DUTY_FACTOR: u32 = 20;
/// Ticks faster than this keep the configured interval: a healthy server answers the sampler's
/// statement in a few milliseconds, and a tick's time measured here also counts this process's
/// own scheduling, so only a clearly slow tick means a slow or busy target.
pub const SLOW_TICK: Duration = Duration::from_millis(20);
/// The slowest pace the sampler slows down to.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The default sampling interval (5 Hz); `--sample-interval-ms` sets it, 0 turns sampling off.
pub const DEFAULT_INTERVAL_MS: u64 = 200;

/// A bounded map, least recently written evicted first.
#[derive(Debug, Default)]
struct Lru {
    map: HashMap<String, (String, u64)>,
    clock: u64,
}

impl Lru {
    fn insert(&mut self, k: String, v: String) {
        self.clock += 1;
        if self.map.len() >= MAX_SAMPLES && !self.map.contains_key(&k) {
            // Evict the oldest eighth at once: the sort is paid once per MAX_SAMPLES/8 inserts.
            let mut stamps: Vec<u64> = self.map.values().map(|(_, s)| *s).collect();
            stamps.sort_unstable();
            let cut = stamps[(MAX_SAMPLES / 8).min(stamps.len() - 1)];
            self.map.retain(|_, (_, s)| *s > cut);
        }
        self.map.insert(k, (v, self.clock));
    }
}

/// What the sampler keeps: real-value samples and the current wait window.
#[derive(Debug, Default)]
pub struct Samples {
    texts: Mutex<Lru>,
    window: Mutex<WaitWindow>,
    stats: SamplerStats,
}

/// How the sampler is doing (for /metrics).
#[derive(Debug, Default)]
pub struct SamplerStats {
    pub ticks: AtomicU64,
    /// Duration of the last tick, in microseconds.
    pub last_tick_us: AtomicU64,
    /// The pause now used between ticks, in milliseconds (above the configured interval when
    /// the target is slow).
    pub pause_ms: AtomicU64,
}

impl Samples {
    pub fn get(&self, fingerprint: &str) -> Option<String> {
        self.texts
            .lock()
            .ok()?
            .map
            .get(fingerprint)
            .map(|(t, _)| t.clone())
    }

    pub fn len(&self) -> usize {
        self.texts.lock().map(|m| m.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> &SamplerStats {
        &self.stats
    }

    /// Keeps `text` if it is a statement with real values OptiDB could analyze.
    pub fn offer(&self, text: &str) {
        if text.len() > MAX_SAMPLE_BYTES || !crate::pg::explain::analyzable_sample(text) {
            return;
        }
        let Ok(fp) = optidb_core::sql::fingerprint_only(text) else {
            return;
        };
        if let Ok(mut m) = self.texts.lock() {
            m.insert(fp, text.to_string());
        }
    }

    /// Adds one tick's rows to the wait window.
    pub fn record(&self, at: Millis, rows: &[Activity]) {
        if let Ok(mut w) = self.window.lock() {
            w.record(at, rows);
        }
    }

    /// The wait window since the last call, leaving an empty one (the scan calls it).
    pub fn take_window(&self) -> WaitWindow {
        self.window
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// One backend in one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// pg_stat_statements' queryid of the running statement (None when ids are off).
    pub query_id: Option<i64>,
    pub query: String,
    pub state: String,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    pub backend_type: String,
    pub application_name: String,
    pub blockers: Vec<BlockerRow>,
    pub locks: Vec<LockRow>,
}

/// A blocking session as the tick's statement returns it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BlockerRow {
    pub application_name: Option<String>,
    pub query: Option<String>,
    pub state: Option<String>,
    pub xact_age_ms: Option<f64>,
}

/// A lock not granted to a waiter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LockRow {
    pub locktype: Option<String>,
    pub mode: Option<String>,
    pub relation: Option<String>,
}

/// Which query a sample belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WaitKey {
    /// pg_stat_statements' queryid (pg_stat_activity.query_id).
    QueryId(i64),
    /// OptiDB's fingerprint of the text, when there is no query id.
    Fingerprint(String),
}

/// Samples of one query in one window.
#[derive(Debug, Clone, Default)]
struct Acc {
    p: WaitProfile,
    /// (application, blocker fingerprint or "") → blocker, with the sum of transaction ages.
    blockers: HashMap<(String, String), (Blocker, f64)>,
    locks: HashMap<(String, String, Option<String>), u64>,
}

/// What the sampler saw between two scans.
#[derive(Debug, Default)]
pub struct WaitWindow {
    by: HashMap<WaitKey, Acc>,
    pub ticks: u64,
    pub first_at: Option<Millis>,
    pub last_at: Option<Millis>,
    /// Samples of queries beyond [`MAX_WAIT_KEYS`].
    pub dropped: u64,
}

impl WaitWindow {
    fn record(&mut self, at: Millis, rows: &[Activity]) {
        self.ticks += 1;
        self.first_at.get_or_insert(at);
        self.last_at = Some(at);
        for r in rows {
            let key = match r.query_id.filter(|id| *id != 0) {
                Some(id) => WaitKey::QueryId(id),
                None => match optidb_core::sql::fingerprint_only(&r.query) {
                    Ok(fp) => WaitKey::Fingerprint(fp),
                    Err(_) => continue,
                },
            };
            if !self.by.contains_key(&key) && self.by.len() >= MAX_WAIT_KEYS {
                self.dropped += 1;
                continue;
            }
            let acc = self.by.entry(key).or_default();
            acc.add(at, r);
        }
    }
}

impl Acc {
    fn add(&mut self, at: Millis, r: &Activity) {
        let p = &mut self.p;
        if p.samples == 0 {
            p.first_sample_at = at;
        }
        p.last_sample_at = at;
        p.samples += 1;
        match r.wait_event_type.as_deref() {
            None => p.cpu += 1,
            Some("Lock") => {
                p.lock += 1;
                let ev = r.wait_event.clone().unwrap_or_default();
                *p.lock_events.entry(ev).or_default() += 1;
            }
            Some("LWLock") => p.lwlock += 1,
            Some("IO") => p.io += 1,
            Some("IPC") => p.ipc += 1,
            Some("Client") => p.client += 1,
            Some(_) => p.other += 1,
        }
        for l in &r.locks {
            let k = (
                l.locktype.clone().unwrap_or_default(),
                l.mode.clone().unwrap_or_default(),
                l.relation.clone(),
            );
            if let Some(n) = self.locks.get_mut(&k) {
                *n += 1;
            } else if self.locks.len() < MAX_LOCKS {
                self.locks.insert(k, 1);
            }
        }
        for b in r.blockers.iter().take(BLOCKERS_PER_SAMPLE) {
            let app = b.application_name.clone().unwrap_or_default();
            let text = b.query.as_deref().unwrap_or("");
            let fp = optidb_core::sql::fingerprint(text).ok();
            let k = (
                app.clone(),
                fp.as_ref()
                    .map(|f| f.fingerprint.clone())
                    .unwrap_or_default(),
            );
            let age = b.xact_age_ms.unwrap_or(0.0).max(0.0);
            if !self.blockers.contains_key(&k) && self.blockers.len() >= MAX_BLOCKERS {
                continue;
            }
            let (e, sum) = self.blockers.entry(k).or_insert_with(|| {
                (
                    Blocker {
                        application_name: app,
                        query: fp.as_ref().map(|f| f.norm_sql.clone()).unwrap_or_default(),
                        query_id: fp.map(|f| f.fingerprint),
                        ..Default::default()
                    },
                    0.0,
                )
            });
            e.samples += 1;
            e.state = b.state.clone().unwrap_or_default();
            e.xact_age_ms_max = e.xact_age_ms_max.max(age);
            *sum += age;
        }
    }
}

/// The window's wait profiles of the scan's queries (a query's samples under each of its
/// pg_stat_statements ids and under its fingerprint are summed), stamped `captured_at`.
pub fn profiles(window: &WaitWindow, queries: &[Query], captured_at: Millis) -> Vec<WaitProfile> {
    let mut out = Vec::new();
    for q in queries {
        let keys = q
            .pgss_queryids
            .iter()
            .map(|id| WaitKey::QueryId(*id))
            .chain(std::iter::once(WaitKey::Fingerprint(q.fingerprint.clone())));
        let mut merged: Option<Acc> = None;
        for k in keys {
            let Some(a) = window.by.get(&k) else { continue };
            match &mut merged {
                None => merged = Some(a.clone()),
                Some(m) => m.merge(a),
            }
        }
        let Some(acc) = merged else { continue };
        let mut p = acc.p;
        p.query_id = q.id.clone();
        p.captured_at = captured_at;
        let mut blockers: Vec<Blocker> = acc
            .blockers
            .into_values()
            .map(|(mut b, sum)| {
                b.xact_age_ms_mean = if b.samples > 0 {
                    sum / b.samples as f64
                } else {
                    0.0
                };
                b
            })
            .collect();
        blockers.sort_by(|a, b| {
            b.samples
                .cmp(&a.samples)
                .then(a.application_name.cmp(&b.application_name))
                .then(a.query.cmp(&b.query))
        });
        p.blockers = blockers;
        let mut locks: Vec<LockWait> = acc
            .locks
            .into_iter()
            .map(|((locktype, mode, relation), samples)| LockWait {
                locktype,
                mode,
                relation,
                samples,
            })
            .collect();
        locks.sort_by(|a, b| {
            b.samples
                .cmp(&a.samples)
                .then(a.locktype.cmp(&b.locktype))
                .then(a.mode.cmp(&b.mode))
        });
        p.locks = locks;
        out.push(p);
    }
    out
}

impl Acc {
    fn merge(&mut self, o: &Acc) {
        let (p, q) = (&mut self.p, &o.p);
        if p.samples == 0 || (q.samples > 0 && q.first_sample_at < p.first_sample_at) {
            p.first_sample_at = q.first_sample_at;
        }
        p.last_sample_at = p.last_sample_at.max(q.last_sample_at);
        p.samples += q.samples;
        p.cpu += q.cpu;
        p.lock += q.lock;
        p.lwlock += q.lwlock;
        p.io += q.io;
        p.ipc += q.ipc;
        p.client += q.client;
        p.other += q.other;
        for (k, v) in &q.lock_events {
            *p.lock_events.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.locks {
            *self.locks.entry(k.clone()).or_default() += v;
        }
        for (k, (b, sum)) in &o.blockers {
            let e = self.blockers.entry(k.clone()).or_insert_with(|| {
                (
                    Blocker {
                        samples: 0,
                        ..b.clone()
                    },
                    0.0,
                )
            });
            e.0.samples += b.samples;
            e.0.xact_age_ms_max = e.0.xact_age_ms_max.max(b.xact_age_ms_max);
            e.1 += sum;
        }
    }
}

/// The rows of one tick.
fn rows(rows: Vec<tokio_postgres::Row>) -> Vec<Activity> {
    let json = |r: &tokio_postgres::Row, i: usize| -> Option<String> {
        r.try_get::<_, Option<String>>(i).ok().flatten()
    };
    rows.iter()
        .map(|r| Activity {
            query_id: r.try_get::<_, Option<i64>>(0).ok().flatten(),
            query: json(r, 1).unwrap_or_default(),
            state: json(r, 2).unwrap_or_default(),
            wait_event_type: json(r, 3),
            wait_event: json(r, 4),
            backend_type: json(r, 5).unwrap_or_default(),
            application_name: json(r, 6).unwrap_or_default(),
            blockers: json(r, 7)
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
            locks: json(r, 8)
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default(),
        })
        .collect()
}

/// The pause after a tick that took `took`: the configured interval, or, once ticks are slow
/// (over [`SLOW_TICK`]), long enough to keep the sampler at most ~5% busy, never more than
/// [`MAX_PAUSE`].
pub fn pause(every: Duration, took: Duration) -> Duration {
    let paced = if took > SLOW_TICK {
        every.max(took.saturating_mul(DUTY_FACTOR))
    } else {
        every
    };
    paced.min(MAX_PAUSE).max(Duration::from_millis(10))
}

/// Samples pg_stat_activity every `every` (slower when the target is slow, see [`pause`]) until
/// the task is dropped. Connection problems are logged once per outage and retried every second.
pub async fn run(target: TargetConfig, samples: std::sync::Arc<Samples>, every: Duration) {
    let mut session: Option<session::Session> = None;
    let mut reported = false;
    let mut next = every;
    loop {
        tokio::time::sleep(next).await;
        samples
            .stats
            .pause_ms
            .store(next.as_millis() as u64, Ordering::Relaxed);
        next = every;
        if session.as_ref().is_none_or(|s| !s.is_usable()) {
            match session::connect(&target).await {
                Ok(s) => {
                    session = Some(s);
                    reported = false;
                }
                Err(e) => {
                    if !reported {
                        tracing::info!("sampler: {e} ({})", e.hint());
                        reported = true;
                    }
                    next = Duration::from_secs(1).max(every);
                    continue;
                }
            }
        }
        let Some(s) = session.as_ref() else { continue };
        let patience = target.statement_timeout + Duration::from_secs(1);
        let t0 = Instant::now();
        let answer =
            match tokio::time::timeout(patience, session::query(s, ACTIVITY_SQL, &[])).await {
                Ok(a) => a,
                Err(_) => {
                    // A server that stopped answering cannot trip its own statement_timeout.
                    s.cancel().await;
                    session = None;
                    next = Duration::from_secs(1).max(every);
                    continue;
                }
            };
        let took = t0.elapsed();
        next = pause(every, took);
        samples.stats.ticks.fetch_add(1, Ordering::Relaxed);
        samples
            .stats
            .last_tick_us
            .store(took.as_micros() as u64, Ordering::Relaxed);
        match answer {
            Ok(r) => {
                let acts = rows(r);
                for a in &acts {
                    if a.backend_type == "client backend" {
                        samples.offer(&a.query);
                    }
                }
                samples.record(now_ms(), &acts);
            }
            Err(e) => {
                tracing::debug!("sampler: {e}");
                if e.is_connection_problem() {
                    session = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_real_value_selects() {
        let s = Samples::default();
        s.offer("SELECT * FROM orders WHERE customer_id = 7");
        s.offer("SELECT * FROM orders WHERE customer_id = $1");
        s.offer("UPDATE orders SET status = 'x' WHERE id = 1");
        assert_eq!(s.len(), 1);
        let fp = optidb_core::sql::fingerprint_only("SELECT * FROM orders WHERE customer_id = 1")
            .unwrap();
        assert_eq!(
            s.get(&fp).as_deref(),
            Some("SELECT * FROM orders WHERE customer_id = 7")
        );
        assert!(ACTIVITY_SQL.contains(crate::pg::MARKER));
        let long = format!("SELECT * FROM orders WHERE note = '{}'", "x".repeat(9000));
        s.offer(&long);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn samples_are_a_bounded_lru() {
        let s = Samples::default();
        // Table names without digits (fingerprints ignore numbered relation names).
        let name = |mut i: usize| {
            let mut n = String::from("t");
            loop {
                n.push((b'a' + (i % 26) as u8) as char);
                i /= 26;
                if i == 0 {
                    break n;
                }
            }
        };
        let text = |i: usize| format!("SELECT * FROM {} WHERE id = {i}", name(i));
        s.offer(&text(0));
        for i in 1..MAX_SAMPLES + 50 {
            s.offer(&text(i));
            if i % 100 == 0 {
                // Seen again: recently used, so it survives the evictions.
                s.offer(&text(0));
            }
        }
        assert!(s.len() <= MAX_SAMPLES, "{}", s.len());
        assert!(s.len() >= MAX_SAMPLES * 7 / 8 - 1, "{}", s.len());
        let fp = |i: usize| optidb_core::sql::fingerprint_only(&text(i)).unwrap();
        assert!(s.get(&fp(0)).is_some());
        assert!(s.get(&fp(1)).is_none(), "the oldest went first");
        assert!(s.get(&fp(MAX_SAMPLES + 49)).is_some());
    }

    fn waiting(query_id: i64, app: &str, age: f64) -> Activity {
        Activity {
            query_id: Some(query_id),
            query: "UPDATE coupons SET n = n + 1 WHERE code = 'A'".into(),
            state: "active".into(),
            wait_event_type: Some("Lock".into()),
            wait_event: Some("transactionid".into()),
            backend_type: "client backend".into(),
            application_name: "shop".into(),
            blockers: vec![BlockerRow {
                application_name: Some(app.into()),
                query: Some(
                    "SELECT code FROM coupons WHERE valid_until >= DATE '2025-01-01' FOR UPDATE"
                        .into(),
                ),
                state: Some("idle in transaction".into()),
                xact_age_ms: Some(age),
            }],
            locks: vec![LockRow {
                locktype: Some("transactionid".into()),
                mode: Some("ShareLock".into()),
                relation: None,
            }],
        }
    }

    #[test]
    fn a_window_becomes_profiles_per_query() {
        let s = Samples::default();
        let on_cpu = Activity {
            query_id: None,
            query: "UPDATE coupons SET n = n + 1 WHERE code = 'B'".into(),
            backend_type: "client backend".into(),
            ..Default::default()
        };
        s.record(1_000, &[waiting(42, "shop-batch-job", 10.0)]);
        s.record(
            1_200,
            &[waiting(42, "shop-batch-job", 20.0), on_cpu.clone()],
        );
        s.record(1_400, &[on_cpu]);
        let w = s.take_window();
        assert_eq!(
            (w.ticks, w.first_at, w.last_at),
            (3, Some(1_000), Some(1_400))
        );
        assert_eq!(s.take_window().ticks, 0, "taking the window empties it");
        let fp =
            optidb_core::sql::fingerprint("UPDATE coupons SET n = n + 1 WHERE code = 'A'").unwrap();
        let q = Query {
            id: fp.fingerprint.clone(),
            fingerprint: fp.fingerprint.clone(),
            raw_sql: String::new(),
            raw_has_values: false,
            norm_sql: fp.norm_sql,
            first_seen: 0,
            last_seen: 0,
            pgss_queryids: vec![42],
        };
        let ps = profiles(&w, &[q], 5_000);
        assert_eq!(ps.len(), 1);
        let p = &ps[0];
        assert_eq!((p.samples, p.lock, p.cpu), (4, 2, 2));
        assert_eq!((p.first_sample_at, p.last_sample_at), (1_000, 1_400));
        assert_eq!(p.top_lock_event(), Some("transactionid"));
        assert_eq!(p.blockers.len(), 1);
        let b = &p.blockers[0];
        assert_eq!(b.application_name, "shop-batch-job");
        assert_eq!(b.samples, 2);
        assert!((b.xact_age_ms_mean - 15.0).abs() < 1e-9);
        assert_eq!(b.xact_age_ms_max, 20.0);
        assert!(
            b.query.contains("FOR UPDATE") && b.query.contains("$1"),
            "{}",
            b.query
        );
        assert_eq!(p.locks[0].mode, "ShareLock");
        assert_eq!(p.summary(), "50% CPU, 50% Lock (transactionid)");
    }

    #[test]
    fn the_window_is_bounded() {
        let mut w = WaitWindow::default();
        let rows: Vec<Activity> = (1..=(MAX_WAIT_KEYS as i64 + 10))
            .map(|i| Activity {
                query_id: Some(i),
                ..Default::default()
            })
            .collect();
        w.record(1, &rows);
        assert_eq!(w.by.len(), MAX_WAIT_KEYS);
        assert_eq!(w.dropped, 10);
        let mut a = Acc::default();
        for i in 0..20 {
            a.add(1, &waiting(1, &format!("job{i}"), 1.0));
        }
        assert_eq!(a.blockers.len(), MAX_BLOCKERS);
    }

    #[test]
    fn slow_ticks_slow_the_sampler() {
        let every = Duration::from_millis(200);
        assert_eq!(pause(every, Duration::from_micros(500)), every);
        assert_eq!(pause(every, Duration::from_millis(5)), every);
        assert_eq!(
            pause(every, Duration::from_millis(25)),
            Duration::from_millis(500)
        );
        assert_eq!(pause(every, Duration::from_secs(5)), MAX_PAUSE);
        // A rate asked for explicitly holds while ticks are quick.
        let fast = Duration::from_millis(20);
        assert_eq!(pause(fast, Duration::from_millis(15)), fast);
        assert_eq!(
            pause(fast, Duration::from_millis(30)),
            Duration::from_millis(600)
        );
    }
}
