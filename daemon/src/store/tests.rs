//! Tests of the meta store: every read and write path, retention, format version, the lock,
//! target ids, and crash atomicity (a child process killed with SIGKILL while committing).

use super::keys::Keys;
use super::*;
use optidb_core::model::{MetricDelta, PlanFacts, PlanKind, SchemaTable};
use serde_json::json;
use tempfile::TempDir;

const URL: &str = "postgres://app:s3cret@db.example:5433/shop";
const DAY: i64 = 24 * 3600 * 1000;
const T0: i64 = 1_700_000_000_000;

fn setup() -> (TempDir, Store, TargetId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let t = store.register_target(URL).unwrap();
    (dir, store, t)
}

fn query(id: &str, at: i64) -> Query {
    Query {
        id: id.into(),
        fingerprint: id.into(),
        raw_sql: format!("select * from t{id} where a = $1"),
        raw_has_values: false,
        norm_sql: format!("select * from t{id} where a = $1"),
        first_seen: at,
        last_seen: at,
        pgss_queryids: vec![],
    }
}

fn metric(id: &str, at: i64, calls: i64) -> Metric {
    Metric {
        query_id: id.into(),
        captured_at: at,
        calls,
        total_ms: calls as f64 * 1.5,
        mean_ms: 1.5,
        rows: calls,
        shared_blks_hit: 10,
        shared_blks_read: 2,
        interval: Some(MetricDelta {
            since: at - 60_000,
            calls: 1,
            total_ms: 1.5,
            mean_ms: 1.5,
            rows: 1,
            reset_detected: false,
        }),
    }
}

fn plan(id: &str, at: i64, kind: PlanKind) -> Plan {
    Plan {
        query_id: id.into(),
        captured_at: at,
        kind,
        plan_hash: format!("h{at}"),
        plan_json: json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": format!("t{id}")}}]),
        facts: PlanFacts {
            had_seq_scan: true,
            node_types: vec!["Seq Scan".into()],
            est_rows: 10.0,
            total_cost: 123.5,
            ..Default::default()
        },
    }
}

fn schema(at: i64) -> SchemaSnapshot {
    SchemaSnapshot {
        captured_at: at,
        tables: vec![SchemaTable {
            table_name: "public.orders".into(),
            rows_est: 1000.0,
            bytes: 8192,
            live_tuples: 1000,
            dead_tuples: 3,
            writes: 5,
            seq_scans: 1,
            idx_scans: 2,
            last_analyze: Some(at),
            mods_since_analyze: 0,
            autovacuum_enabled: true,
            size_estimated: false,
        }],
        ..Default::default()
    }
}

fn summary(at: i64) -> ScanSummary {
    ScanSummary {
        scan_id: at,
        started_at: at,
        duration_ms: 12.0,
        ..Default::default()
    }
}

/// A scan at `at` of `ids`: a metric each, a generic plan for the first, counters naming it.
fn scan(at: i64, ids: &[&str]) -> ScanWrite {
    let mut s = summary(at);
    s.queries_stored = ids.len();
    s.plans_captured = usize::from(!ids.is_empty());
    ScanWrite {
        summary: s,
        queries: ids.iter().map(|id| query(id, at)).collect(),
        metrics: ids.iter().map(|id| metric(id, at, at - T0)).collect(),
        plans: ids
            .iter()
            .take(1)
            .map(|id| plan(id, at, PlanKind::Generic))
            .collect(),
        plan_errors: vec![],
        schema: schema(at),
        counters: json!({ "scan": at }),
        recommendations: vec![],
        dropped: vec![],
        families: None,
        tags: vec![],
        waits: vec![],
    }
}

fn failed(at: i64) -> ScanSummary {
    ScanSummary {
        error: Some("cannot reach the database".into()),
        hint: Some("check the host".into()),
        ..summary(at)
    }
}

// ---- open, format, lock ----

/// sled itself, on a directory a dropped [`Store`] may still hold for a moment.
fn raw_sled(dir: &Path) -> sled::Db {
    match open_sled(dir) {
        Ok(db) => db,
        Err(Opened::Locked) => panic!("the store directory stayed locked"),
        Err(Opened::Failed(e)) => panic!("{e}"),
    }
}

#[test]
fn open_creates_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/store");
    {
        let s = Store::open(&path).unwrap();
        assert_eq!(s.dir(), path);
        assert!(s.targets().unwrap().is_empty());
        let t = s.register_target(URL).unwrap();
        s.commit_scan(&t, scan(T0, &["q1"]), &Retention::default())
            .unwrap();
    }
    let s = Store::open(&path).unwrap();
    let t = TargetId::from_url(URL);
    assert_eq!(s.latest_scan(&t).unwrap().unwrap().scan_id, T0);
    assert_eq!(
        s.query_ids_in_latest_scan(&t).unwrap(),
        vec!["q1".to_string()]
    );
}

#[test]
fn format_version_mismatch_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let db = raw_sled(dir.path());
        db.insert(keys::FORMAT, b"2".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(
        err,
        StoreError::FormatMismatch {
            found: 2,
            expected: FORMAT_VERSION,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("format version 2"), "{msg}");
    assert!(msg.contains("move the directory aside"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
}

#[test]
fn a_foreign_sled_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = raw_sled(dir.path());
        db.insert("something", "else").unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
}

#[test]
fn a_corrupt_format_marker_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = raw_sled(dir.path());
        db.insert(keys::FORMAT, b"{nope".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("!format"), "{err}");
}

#[test]
fn a_second_opener_is_told_another_daemon_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    // flock locks belong to the open file, so a second open in this process conflicts too.
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "another optidb daemon is using the store at {}; stop it or pass a different --store",
            dir.path().display()
        )
    );
}

// ---- targets ----

#[test]
fn target_id_ignores_the_password_and_the_spelling() {
    let a = TargetId::from_url("postgres://app:s3cret@db.example:5433/shop");
    let b = TargetId::from_url("postgres://app@db.example:5433/shop");
    let c = TargetId::from_url("postgresql://app:other@DB.example:5433/shop?sslmode=disable");
    let d = TargetId::from_url("host=db.example port=5433 user=app password='x y' dbname=shop");
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
    assert_eq!(a.as_str().len(), 16);
    assert_eq!(TargetId::parse(a.as_str()), Some(a.clone()));
    // Defaults: port 5432, database = user.
    assert_eq!(
        TargetId::from_url("postgres://app@db.example/app"),
        TargetId::from_url("postgres://app@db.example:5432")
    );
}

#[test]
fn target_id_differs_per_database() {
    let base = TargetId::from_url("postgres://app@db.example:5433/shop");
    for other in [
        "postgres://app@db.example:5433/shop2",
        "postgres://app@db.example:5434/shop",
        "postgres://app@db2.example:5433/shop",
        "postgres://admin@db.example:5433/shop",
    ] {
        assert_ne!(TargetId::from_url(other), base, "{other}");
    }
}

#[test]
fn target_id_is_stable_across_releases() {
    // Changing this breaks every existing store: bump FORMAT_VERSION if you must.
    let id = TargetId::from_url("postgres://app:pw@localhost:5432/shop");
    let expected = {
        let mut h = blake3::Hasher::new();
        h.update(b"optidb-target-v1\0app@localhost:5432/shop");
        h.finalize().to_hex()[..16].to_string()
    };
    assert_eq!(id.as_str(), expected);
    assert_eq!(
        id.as_str(),
        TargetId::from_url("postgres://app:pw@localhost:5432/shop").as_str()
    );
}

#[test]
fn unparsable_urls_still_get_a_stable_password_free_id() {
    let a = TargetId::from_url("postgres://app:pw1@host:notaport/db");
    let b = TargetId::from_url("postgres://app:pw2@host:notaport/db");
    assert_eq!(a, b);
    assert_ne!(a, TargetId::from_url("postgres://app@host:notaport/db2"));
    assert!(TargetId::parse("xyz").is_none());
    assert!(TargetId::parse("0123456789ABCDEF").is_none());
}

#[test]
fn targets_are_listed_with_labels_and_relabelled() {
    let (_d, s, t) = setup();
    let t2 = s
        .register_target("host=other dbname=x user=u password=pw")
        .unwrap();
    let mut list = s.targets().unwrap();
    list.sort();
    let mut expected = vec![
        (t.clone(), "postgres://app@db.example:5433/shop".to_string()),
        (t2, "host=other dbname=x user=u".to_string()),
    ];
    expected.sort();
    assert_eq!(list, expected);
    // Same database, new spelling: same id, new label.
    let again = s
        .register_target("postgres://app:new@db.example:5433/shop?sslmode=require")
        .unwrap();
    assert_eq!(again, t);
    let label = s
        .targets()
        .unwrap()
        .into_iter()
        .find(|(id, _)| *id == t)
        .unwrap()
        .1;
    assert_eq!(label, "postgres://app@db.example:5433/shop?sslmode=require");
}

#[test]
fn a_target_first_seen_by_a_write_is_registered_with_its_id() {
    let (_d, s, _t) = setup();
    let stranger = TargetId::from_url("postgres://x:pw@y/z");
    assert_eq!(s.latest_scan(&stranger).unwrap(), None);
    s.record_failed_scan(&stranger, failed(T0)).unwrap();
    s.commit_scan(&stranger, scan(T0 + 1, &["q"]), &Retention::default())
        .unwrap();
    let label = |s: &Store| {
        s.targets()
            .unwrap()
            .into_iter()
            .find(|(id, _)| *id == stranger)
            .unwrap()
            .1
    };
    assert_eq!(label(&s), stranger.as_str());
    // Registering later gives it its readable label; data stays.
    assert_eq!(s.register_target("postgres://x:pw@y/z").unwrap(), stranger);
    assert_eq!(label(&s), "postgres://x@y/z");
    assert_eq!(s.latest_scan_id(&stranger).unwrap(), Some(T0 + 1));
}

// ---- commit and reads ----

#[test]
fn an_empty_store_reads_as_empty() {
    let (_d, s, t) = setup();
    assert_eq!(s.latest_scan(&t).unwrap(), None);
    assert_eq!(s.latest_scan_id(&t).unwrap(), None);
    assert!(s.scans(&t, 10).unwrap().is_empty());
    assert!(s.queries(&t).unwrap().is_empty());
    assert!(s.query_ids_in_latest_scan(&t).unwrap().is_empty());
    assert_eq!(s.schema(&t).unwrap(), None);
    assert_eq!(s.counters(&t).unwrap(), None);
    assert_eq!(s.query(&t, "q").unwrap(), None);
    assert!(s.metrics(&t, "q", 10).unwrap().is_empty());
    assert_eq!(s.latest_metric(&t, "q").unwrap(), None);
    assert!(s.plans(&t, "q", 10).unwrap().is_empty());
    assert_eq!(s.latest_plan(&t, "q").unwrap(), None);
    assert!(s.plan_errors(&t, "q").unwrap().is_empty());
}

#[test]
fn commit_then_read_every_kind() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    let mut w = scan(T0, &["b", "a"]);
    w.plan_errors.push(PlanError {
        query_id: "b".into(),
        captured_at: T0,
        error: "could not determine data type of parameter $1".into(),
    });
    w.plans.push(plan("a", T0, PlanKind::Analyzed));
    w.plans.push(plan("a", T0, PlanKind::Generic));
    s.commit_scan(&t, w.clone(), &r).unwrap();

    assert_eq!(s.latest_scan(&t).unwrap(), Some(w.summary.clone()));
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0));
    assert_eq!(
        s.scans(&t, 10).unwrap(),
        vec![ScanRecord {
            summary: w.summary.clone(),
            complete: true
        }]
    );
    assert_eq!(
        s.query_ids_in_latest_scan(&t).unwrap(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(s.query(&t, "a").unwrap(), Some(query("a", T0)));
    let ids: Vec<String> = s.queries(&t).unwrap().into_iter().map(|q| q.id).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(s.metrics(&t, "b", 10).unwrap(), vec![metric("b", T0, 0)]);
    assert_eq!(s.latest_metric(&t, "a").unwrap(), Some(metric("a", T0, 0)));
    // Both plans of the same time are kept; the analyzed one is the latest.
    let plans = s.plans(&t, "b", 10).unwrap();
    assert_eq!(plans, vec![plan("b", T0, PlanKind::Generic)]);
    assert_eq!(s.plans(&t, "a", 10).unwrap().len(), 2);
    assert_eq!(
        s.latest_plan(&t, "a").unwrap().unwrap().kind,
        PlanKind::Analyzed
    );
    assert_eq!(s.plan_errors(&t, "b").unwrap(), w.plan_errors);
    assert!(s.plan_errors(&t, "a").unwrap().is_empty());
    assert_eq!(s.schema(&t).unwrap(), Some(schema(T0)));
    assert_eq!(s.counters(&t).unwrap(), Some(json!({ "scan": T0 })));
}

#[test]
fn history_reads_in_time_order_with_limits() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    // Committed out of order on purpose: keys, not insertion, give the order.
    for i in [3, 1, 4, 0, 2] {
        let at = T0 + i * 60_000;
        let mut w = scan(at, &["q"]);
        w.plan_errors.push(PlanError {
            query_id: "q".into(),
            captured_at: at,
            error: format!("e{i}"),
        });
        s.commit_scan(&t, w, &r).unwrap();
    }
    let times = |v: Vec<Metric>| {
        v.into_iter()
            .map(|m| (m.captured_at - T0) / 60_000)
            .collect::<Vec<_>>()
    };
    assert_eq!(times(s.metrics(&t, "q", 100).unwrap()), [0, 1, 2, 3, 4]);
    assert_eq!(times(s.metrics(&t, "q", 2).unwrap()), [3, 4]);
    assert_eq!(s.metrics(&t, "q", 0).unwrap(), vec![]);
    assert_eq!(
        s.latest_metric(&t, "q").unwrap().unwrap().captured_at,
        T0 + 4 * 60_000
    );
    let plans = s.plans(&t, "q", 3).unwrap();
    assert_eq!(
        plans.iter().map(|p| p.captured_at).collect::<Vec<_>>(),
        [T0 + 120_000, T0 + 180_000, T0 + 240_000]
    );
    assert_eq!(
        s.latest_plan(&t, "q").unwrap().unwrap().captured_at,
        T0 + 240_000
    );
    let errs: Vec<String> = s
        .plan_errors(&t, "q")
        .unwrap()
        .into_iter()
        .map(|e| e.error)
        .collect();
    assert_eq!(errs, ["e0", "e1", "e2", "e3", "e4"]);
    // Scans newest first (by id); the latest pointer follows the last commit.
    let ids: Vec<i64> = s
        .scans(&t, 3)
        .unwrap()
        .into_iter()
        .map(|r| (r.summary.scan_id - T0) / 60_000)
        .collect();
    assert_eq!(ids, [4, 3, 2]);
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0 + 2 * 60_000));
    assert_eq!(s.schema(&t).unwrap().unwrap().captured_at, T0 + 2 * 60_000);
    assert_eq!(
        s.counters(&t).unwrap(),
        Some(json!({ "scan": T0 + 2 * 60_000 }))
    );
}

#[test]
fn queries_are_upserted() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    let mut w = scan(T0, &["q"]);
    w.queries[0].pgss_queryids = vec![7, 3];
    w.queries[0].raw_sql = "select * from tq where a = 42".into();
    w.queries[0].raw_has_values = true;
    s.commit_scan(&t, w, &r).unwrap();

    let mut w = scan(T0 + 1000, &["q"]);
    w.queries[0].first_seen = T0 + 500; // a later first sighting must not win
    w.queries[0].pgss_queryids = vec![3, 9];
    w.queries[0].norm_sql = "select * from tq where a = $1 /* new */".into();
    // Duplicates in one scan are merged too.
    let mut dup = query("q", T0 + 1000);
    dup.pgss_queryids = vec![11];
    w.queries.push(dup);
    s.commit_scan(&t, w, &r).unwrap();

    let q = s.query(&t, "q").unwrap().unwrap();
    assert_eq!(q.first_seen, T0);
    assert_eq!(q.last_seen, T0 + 1000);
    assert_eq!(q.pgss_queryids, [3, 7, 9, 11]);
    assert_eq!(q.raw_sql, "select * from tq where a = 42");
    assert!(q.raw_has_values);
    assert_eq!(s.query_ids_in_latest_scan(&t).unwrap(), ["q"]);
}

#[test]
fn latest_scan_lists_only_its_queries() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    s.commit_scan(&t, scan(T0, &["a", "b"]), &r).unwrap();
    s.commit_scan(&t, scan(T0 + 1, &["b", "c"]), &r).unwrap();
    assert_eq!(s.query_ids_in_latest_scan(&t).unwrap(), ["b", "c"]);
    // Older queries stay within retention.
    assert_eq!(s.queries(&t).unwrap().len(), 3);
}

#[test]
fn a_scan_that_does_not_hang_together_writes_nothing() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    s.commit_scan(&t, scan(T0, &["a"]), &r).unwrap();

    let mut w = scan(T0 + 1, &["b"]);
    w.metrics.push(metric("ghost", T0 + 1, 1));
    let err = s.commit_scan(&t, w, &r).unwrap_err();
    assert!(matches!(err, StoreError::InvalidScan(_)), "{err}");
    assert!(err.to_string().contains("ghost"), "{err}");

    // A metric of a query stored by an earlier scan is fine.
    let mut w = scan(T0 + 2, &["b"]);
    w.metrics.push(metric("a", T0 + 2, 1));
    s.commit_scan(&t, w, &r).unwrap();
    assert_eq!(
        s.latest_metric(&t, "a").unwrap().unwrap().captured_at,
        T0 + 2
    );

    let mut w = scan(T0 + 3, &["c"]);
    w.queries.push(query("bad\0id", T0 + 3));
    assert!(matches!(
        s.commit_scan(&t, w, &r),
        Err(StoreError::InvalidScan(_))
    ));
    let mut w = scan(T0 + 3, &["c"]);
    w.summary.error = Some("boom".into());
    assert!(matches!(
        s.commit_scan(&t, w, &r),
        Err(StoreError::InvalidScan(_))
    ));

    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0 + 2));
    assert_eq!(s.query(&t, "c").unwrap(), None);
}

#[test]
fn a_value_json_cannot_hold_fails_the_whole_scan() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    s.commit_scan(&t, scan(T0, &["a"]), &r).unwrap();
    let mut w = scan(T0 + 1, &["a", "b"]);
    w.metrics[1].mean_ms = f64::NAN;
    let err = s.commit_scan(&t, w, &r).unwrap_err();
    assert!(matches!(err, StoreError::Encode { .. }), "{err}");
    assert!(err.to_string().contains("\\0m\\0b\\0"), "{err}");
    // The previous scan is untouched and nothing of the new one exists.
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0));
    assert_eq!(s.query(&t, "b").unwrap(), None);
    assert_eq!(s.metrics(&t, "a", 10).unwrap().len(), 1);
    assert_eq!(s.counters(&t).unwrap(), Some(json!({ "scan": T0 })));
}

#[test]
fn corrupt_values_are_errors_naming_the_key_and_commits_heal() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    s.commit_scan(&t, scan(T0, &["a", "b"]), &r).unwrap();
    let k = Keys(&t);
    s.db.insert(k.query("a"), b"{broken".to_vec()).unwrap();
    s.db.insert(k.metric("b", T0), b"[1,".to_vec()).unwrap();

    let err = s.query(&t, "a").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }));
    assert!(err.to_string().contains(&format!("{t}\\0q\\0a")), "{err}");
    assert!(
        s.queries(&t).is_err(),
        "list reads fail too, never skip silently"
    );
    let err = s.metrics(&t, "b", 10).unwrap_err();
    assert!(err.to_string().contains("\\0m\\0b\\0"), "{err}");

    // The next commit replaces the unreadable query instead of failing forever.
    s.commit_scan(&t, scan(T0 + 1, &["a"]), &r).unwrap();
    assert_eq!(s.query(&t, "a").unwrap().unwrap().first_seen, T0 + 1);
}

#[test]
fn a_dangling_latest_pointer_is_reported_not_panicked() {
    let (_d, s, t) = setup();
    s.commit_scan(&t, scan(T0, &["a"]), &Retention::default())
        .unwrap();
    s.db.remove(Keys(&t).scan(T0)).unwrap();
    let err = s.latest_scan(&t).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("latest"), "{err}");
}

// ---- failed scans ----

#[test]
fn a_failed_scan_keeps_the_last_complete_scan() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    s.commit_scan(&t, scan(T0, &["a"]), &r).unwrap();
    s.record_failed_scan(&t, failed(T0 + 1000)).unwrap();

    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0));
    assert_eq!(s.query_ids_in_latest_scan(&t).unwrap(), ["a"]);
    assert_eq!(s.schema(&t).unwrap(), Some(schema(T0)));
    assert_eq!(s.counters(&t).unwrap(), Some(json!({ "scan": T0 })));
    assert_eq!(s.metrics(&t, "a", 10).unwrap().len(), 1);
    let scans = s.scans(&t, 10).unwrap();
    assert_eq!(scans.len(), 2);
    assert!(!scans[0].complete);
    assert_eq!(
        scans[0].summary.error.as_deref(),
        Some("cannot reach the database")
    );
    assert_eq!(scans[0].summary.hint.as_deref(), Some("check the host"));
    assert!(scans[1].complete);

    // Same id twice, or over a complete scan: refused.
    let err = s.record_failed_scan(&t, failed(T0 + 1000)).unwrap_err();
    assert!(matches!(err, StoreError::ScanIdTaken { scan_id } if scan_id == T0 + 1000));
    assert!(matches!(
        s.record_failed_scan(&t, failed(T0)),
        Err(StoreError::ScanIdTaken { .. })
    ));
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0));
    // A failed scan must say why.
    assert!(matches!(
        s.record_failed_scan(&t, summary(T0 + 5)),
        Err(StoreError::InvalidScan(_))
    ));
}

#[test]
fn failed_scan_records_are_bounded() {
    let (_d, s, t) = setup();
    let r = Retention {
        max_age_ms: DAY,
        max_scans: 3,
    };
    s.commit_scan(&t, scan(T0, &["a"]), &r).unwrap();
    for i in 1..=5 {
        s.record_failed_scan(&t, failed(T0 + i)).unwrap();
    }
    let ids: Vec<(i64, bool)> = s
        .scans(&t, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.summary.scan_id - T0, r.complete))
        .collect();
    // The complete scan is never dropped here; the oldest failed ones are.
    assert_eq!(ids, [(5, false), (4, false), (0, true)]);
    // By age: a failure two days later drops the older failures.
    s.record_failed_scan(&t, failed(T0 + 2 * DAY)).unwrap();
    let ids: Vec<i64> = s
        .scans(&t, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.summary.scan_id - T0)
        .collect();
    assert_eq!(ids, [2 * DAY, 0]);
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0));
}

// ---- retention ----

#[test]
fn retention_by_age_deletes_old_history_scans_and_queries() {
    let (_d, s, t) = setup();
    let r = Retention {
        max_age_ms: 2 * DAY,
        max_scans: 1000,
    };
    // Day 0: a, gone; days 0..=4: b, always present.
    s.commit_scan(&t, scan(T0, &["a", "b"]), &r).unwrap();
    s.record_failed_scan(&t, failed(T0 + 1)).unwrap();
    for d in 1..=4 {
        s.commit_scan(&t, scan(T0 + d * DAY, &["b"]), &r).unwrap();
    }
    // Cutoff = day 2: days 2, 3, 4 stay.
    let days = |v: Vec<i64>| v.into_iter().map(|x| (x - T0) / DAY).collect::<Vec<_>>();
    assert_eq!(
        days(
            s.metrics(&t, "b", 100)
                .unwrap()
                .into_iter()
                .map(|m| m.captured_at)
                .collect()
        ),
        [2, 3, 4]
    );
    assert_eq!(
        days(
            s.plans(&t, "b", 100)
                .unwrap()
                .into_iter()
                .map(|p| p.captured_at)
                .collect()
        ),
        [2, 3, 4]
    );
    assert_eq!(
        days(
            s.scans(&t, 100)
                .unwrap()
                .into_iter()
                .map(|r| r.summary.scan_id)
                .collect()
        ),
        [4, 3, 2]
    );
    // Query a was last seen on day 0: deleted with all its history.
    assert_eq!(s.query(&t, "a").unwrap(), None);
    assert!(s.metrics(&t, "a", 100).unwrap().is_empty());
    assert!(s.plans(&t, "a", 100).unwrap().is_empty());
    // b keeps its first sighting even though its first metrics are gone.
    assert_eq!(s.query(&t, "b").unwrap().unwrap().first_seen, T0);
    // Old schema snapshots and scan query lists went with their scans.
    for d in 0..2 {
        assert!(!s.db.contains_key(Keys(&t).schema(T0 + d * DAY)).unwrap());
        assert!(!s
            .db
            .contains_key(Keys(&t).scan_queries(T0 + d * DAY))
            .unwrap());
    }
    assert!(s.db.contains_key(Keys(&t).schema(T0 + 2 * DAY)).unwrap());
    assert_eq!(s.schema(&t).unwrap().unwrap().captured_at, T0 + 4 * DAY);
}

#[test]
fn retention_by_scan_count() {
    let (_d, s, t) = setup();
    let r = Retention {
        max_age_ms: Retention::DEFAULT_MAX_AGE_MS,
        max_scans: 3,
    };
    for i in 0..6 {
        let ids: &[&str] = if i == 0 { &["old", "q"] } else { &["q"] };
        s.commit_scan(&t, scan(T0 + i * 1000, ids), &r).unwrap();
    }
    let scans: Vec<i64> = s
        .scans(&t, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.summary.scan_id - T0) / 1000)
        .collect();
    assert_eq!(scans, [5, 4, 3]);
    let metrics: Vec<i64> = s
        .metrics(&t, "q", 100)
        .unwrap()
        .into_iter()
        .map(|m| (m.captured_at - T0) / 1000)
        .collect();
    assert_eq!(metrics, [3, 4, 5]);
    assert_eq!(s.query(&t, "old").unwrap(), None);
    // 0 counts as 1: the new scan always stays.
    let r0 = Retention {
        max_age_ms: 0,
        max_scans: 0,
    };
    s.commit_scan(&t, scan(T0 + 9000, &["q"]), &r0).unwrap();
    assert_eq!(s.scans(&t, 100).unwrap().len(), 1);
    assert_eq!(s.metrics(&t, "q", 100).unwrap().len(), 1);
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0 + 9000));
    assert_eq!(s.schema(&t).unwrap().unwrap().captured_at, T0 + 9000);
}

#[test]
fn targets_do_not_see_each_other() {
    let (_d, s, t1) = setup();
    let t2 = s
        .register_target("postgres://app@db.example:5433/other")
        .unwrap();
    let r = Retention {
        max_age_ms: DAY,
        max_scans: 1,
    };
    s.commit_scan(&t1, scan(T0, &["q"]), &r).unwrap();
    s.commit_scan(&t2, scan(T0 + 5 * DAY, &["q", "z"]), &r)
        .unwrap();
    // t2's retention did not touch t1.
    assert_eq!(s.latest_scan_id(&t1).unwrap(), Some(T0));
    assert_eq!(s.metrics(&t1, "q", 10).unwrap().len(), 1);
    assert_eq!(s.query(&t1, "z").unwrap(), None);
    assert_eq!(s.query_ids_in_latest_scan(&t2).unwrap(), ["q", "z"]);
    assert_eq!(s.counters(&t1).unwrap(), Some(json!({ "scan": T0 })));
}

// ---- threads ----

#[test]
fn store_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Store>();
}

#[test]
fn clones_are_usable_from_several_threads() {
    let (_d, s, t) = setup();
    let r = Retention::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (s, t, r) = (s.clone(), t.clone(), r.clone());
            std::thread::spawn(move || {
                for i in 0..10 {
                    let id = format!("w{w}");
                    s.commit_scan(&t, scan(T0 + w * 100 + i, &[&id, "shared"]), &r)
                        .unwrap();
                    let _ = s.latest_scan(&t).unwrap();
                    let _ = s.queries(&t).unwrap();
                }
            })
        })
        .collect();
    for h in writers {
        h.join().unwrap();
    }
    assert_eq!(s.scans(&t, 100).unwrap().len(), 40);
    assert_eq!(s.metrics(&t, "shared", 100).unwrap().len(), 40);
    let q = s.query(&t, "shared").unwrap().unwrap();
    assert_eq!((q.first_seen, q.last_seen), (T0, T0 + 309));
}

// ---- crash atomicity ----

/// Environment variable that turns [`crash_child`] into the committing child process.
const CRASH_ENV: &str = "OPTIDB_STORE_CRASH_CHILD_DIR";
/// What the crash child prints once it is committing.
const CRASH_READY: &str = "optidb-store-crash-child-ready";
/// Queries per scan in the crash test: enough that a commit takes a while.
const CRASH_QUERIES: usize = 800;

/// The scan the crash child commits as number `n`: every query, metric and plan names `n`.
fn crash_scan(n: i64) -> ScanWrite {
    let at = T0 + n;
    // The query set shifts with n, so a half-applied scan would show in the list.
    let ids: Vec<String> = (0..CRASH_QUERIES)
        .map(|i| format!("q{:05}", i as i64 + n % 7))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut w = scan(at, &refs);
    w.plans = refs
        .iter()
        .take(20)
        .map(|id| plan(id, at, PlanKind::Generic))
        .collect();
    w
}

/// Not a test on its own: with [`CRASH_ENV`] set it is the child of
/// [`a_daemon_killed_mid_commit_keeps_the_previous_complete_scan`], committing scans until
/// killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_ENV) else {
        return;
    };
    let s = Store::open(Path::new(&dir)).unwrap();
    let t = s.register_target(URL).unwrap();
    let mut n = s.latest_scan_id(&t).unwrap().map_or(1, |id| id - T0 + 1);
    println!("\n{CRASH_READY}");
    let r = Retention {
        max_age_ms: DAY,
        max_scans: 5,
    };
    loop {
        let w = crash_scan(n);
        println!("begin {n}");
        s.commit_scan(&t, w, &r).unwrap();
        println!("done {n}");
        n += 1;
    }
}

#[test]
fn a_daemon_killed_mid_commit_keeps_the_previous_complete_scan() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant, SystemTime};

    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut kills = 0;
    let mut mid_commit = 0;
    let mut last_seen = 0;
    for round in 0..12 {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        let mut child = Command::new(&exe)
            .args([
                "store::tests::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.any(|l| l.is_ok_and(|l| l.trim() == CRASH_READY));
        assert!(ready, "the crash child did not start");
        // Let it commit once, so every round makes progress even on a slow machine.
        let first_done = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("done "));
        assert!(
            first_done.is_some(),
            "the crash child died before committing"
        );
        // The child's last word before it died: "begin n" (killed while committing n) or
        // "done n".
        let last_line = std::thread::spawn(move || {
            lines
                .map_while(Result::ok)
                .filter(|l| l.starts_with("begin ") || l.starts_with("done "))
                .last()
        });
        // A pseudo-random point, mostly in the middle of a commit.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let wait = 20 + u64::from(nanos % 300) + round * 7;
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let last_line = last_line.join().unwrap().or(first_done).unwrap_or_default();

        let s = Store::open(dir.path()).unwrap();
        let t = TargetId::from_url(URL);
        let latest = s
            .latest_scan_id(&t)
            .unwrap()
            .expect("the child reported a commit");
        let n = latest - T0;
        // Killed while committing m: m is there whole (applied, not yet reported) or not at
        // all; killed after committing m: m is there.
        let num = |prefix: &str| {
            last_line
                .strip_prefix(prefix)
                .map(|x| x.parse::<i64>().unwrap())
        };
        if let Some(m) = num("begin ") {
            mid_commit += 1;
            assert!(n == m || n == m - 1, "killed committing {m}, latest is {n}");
        } else if let Some(m) = num("done ") {
            assert_eq!(n, m, "killed after committing {m}");
        }
        assert!(
            n >= last_seen,
            "the latest scan went backwards: {n} < {last_seen}"
        );
        last_seen = n;
        let want = crash_scan(n);
        assert_eq!(s.latest_scan(&t).unwrap(), Some(want.summary.clone()));
        let mut ids: Vec<String> = want.queries.iter().map(|q| q.id.clone()).collect();
        ids.sort();
        assert_eq!(s.query_ids_in_latest_scan(&t).unwrap(), ids);
        assert_eq!(s.counters(&t).unwrap(), Some(json!({ "scan": latest })));
        assert_eq!(s.schema(&t).unwrap(), Some(schema(latest)));
        for id in &ids {
            assert_eq!(
                s.latest_metric(&t, id).unwrap(),
                Some(metric(id, latest, n)),
                "{id}"
            );
        }
        for p in &want.plans {
            assert_eq!(s.latest_plan(&t, &p.query_id).unwrap().as_ref(), Some(p));
        }
        // Nothing of the next, uncommitted scan exists anywhere.
        for q in s.queries(&t).unwrap() {
            assert!(
                q.last_seen <= latest,
                "query {} from an uncommitted scan",
                q.id
            );
            let m = s.latest_metric(&t, &q.id).unwrap().unwrap();
            assert!(m.captured_at <= latest);
        }
        let scans = s.scans(&t, 100).unwrap();
        assert!(
            scans.len() <= 5,
            "retention keeps 5 scans, found {}",
            scans.len()
        );
        assert!(scans
            .iter()
            .all(|r| r.summary.scan_id <= latest && r.complete));
    }
    println!(
        "crash test: {kills} kills, {mid_commit} of them while a commit was in flight, latest \
         complete scan {last_seen}"
    );
    assert!(last_seen > 0, "the child never committed a scan");
    assert!(mid_commit > 0, "no kill landed during a commit");
}

// ---- timings (printed, not asserted) ----

#[test]
#[ignore = "prints timings: cargo test --release -p optidb --lib store::tests::commit_timings \
            -- --ignored --nocapture"]
fn commit_timings() {
    use std::time::Instant;
    for n in [100usize, 5000] {
        let (_d, s, t) = setup();
        let r = Retention::default();
        let mut times = Vec::new();
        for round in 0..3i64 {
            let at = T0 + round * 60_000;
            let ids: Vec<String> = (0..n).map(|i| format!("{i:016x}")).collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut w = scan(at, &refs);
            w.plans = refs
                .iter()
                .take(20)
                .map(|id| plan(id, at, PlanKind::Analyzed))
                .collect();
            let start = Instant::now();
            s.commit_scan(&t, w, &r).unwrap();
            times.push(start.elapsed());
        }
        println!(
            "commit_scan with {n} queries, 20 plans: first {:?}, then {:?}, {:?}",
            times[0], times[1], times[2]
        );
    }
}

// ---- recommendations ----

fn rec(id: &str, score: f64, created_at: i64) -> Recommendation {
    use optidb_core::model::{RecTarget, RecType};
    Recommendation {
        rec_id: id.into(),
        rec_type: RecType::MissingIndex,
        target: RecTarget {
            table: "public.orders".into(),
            columns: vec!["customer_id".into()],
            using: Some("btree".into()),
        },
        ddl: "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON public.orders (customer_id);".into(),
        rationale: "why".into(),
        evidence: vec![],
        confidence: 0.9,
        risk: "risk".into(),
        query_ids: vec!["a".into()],
        score,
        verification: None,
        created_at,
    }
}

#[test]
fn recommendations_are_stored_with_their_scan_and_keep_created_at() {
    let (_dir, s, t) = setup();
    assert!(s.recommendations(&t).unwrap().is_empty());
    let mut w = scan(T0, &["a"]);
    w.recommendations = vec![rec("r1", 10.0, T0), rec("r2", 5.0, T0)];
    w.dropped = vec![DroppedCandidate {
        rec_type: optidb_core::model::RecType::MissingIndex,
        target: w.recommendations[0].target.clone(),
        query_ids: vec!["a".into()],
        reason: "tiny table".into(),
    }];
    s.commit_scan(&t, w, &Retention::default()).unwrap();
    let got = s.recommendations(&t).unwrap();
    assert_eq!(
        got.iter().map(|r| r.rec_id.as_str()).collect::<Vec<_>>(),
        ["r1", "r2"]
    );
    assert_eq!(s.dropped(&t).unwrap()[0].reason, "tiny table");

    // The next scan: r2 again (later created_at, now first) and a new r3; r1 is gone.
    let mut w = scan(T0 + 1000, &["a"]);
    w.recommendations = vec![rec("r2", 50.0, T0 + 1000), rec("r3", 1.0, T0 + 1000)];
    s.commit_scan(&t, w, &Retention::default()).unwrap();
    let got = s.recommendations(&t).unwrap();
    assert_eq!(
        got.iter().map(|r| r.rec_id.as_str()).collect::<Vec<_>>(),
        ["r2", "r3"]
    );
    assert_eq!(
        got[0].created_at, T0,
        "a recommendation keeps its first created_at"
    );
    assert_eq!(got[0].score, 50.0);
    assert_eq!(got[1].created_at, T0 + 1000);
    assert_eq!(s.recommendation(&t, "r2").unwrap().unwrap().created_at, T0);
    assert!(s.dropped(&t).unwrap().is_empty());
}

fn tag(name: &str, at: i64) -> QueryTag {
    QueryTag {
        tag: name.into(),
        evidence: format!("{name} at {at}"),
        since: Some(at),
        detail: json!({ "samples": 40 }),
    }
}

fn waits(id: &str, at: i64, lock: u64) -> WaitProfile {
    WaitProfile {
        query_id: id.into(),
        captured_at: at,
        samples: 40,
        cpu: 40 - lock,
        lock,
        ..Default::default()
    }
}

#[test]
fn tags_and_wait_profiles_are_stored_with_their_scan_and_trimmed_like_history() {
    let (_d, s, t) = setup();
    let r = Retention {
        max_age_ms: 2 * DAY,
        max_scans: 1000,
    };
    assert!(s.tags(&t).unwrap().is_empty());
    for d in 0..=3 {
        let at = T0 + d * DAY;
        let mut w = scan(at, &["a", "b"]);
        w.tags = vec![
            ("a".into(), tag("contention", at)),
            ("a".into(), tag("spike", at)),
        ];
        w.waits = vec![waits("a", at, 30), waits("b", at, 0)];
        s.commit_scan(&t, w, &r).unwrap();
    }
    let latest = T0 + 3 * DAY;
    let tags = s.tags(&t).unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0], ("a".to_string(), tag("contention", latest)));
    assert_eq!(s.query_tags(&t, "a").unwrap().len(), 2);
    assert!(s.query_tags(&t, "b").unwrap().is_empty());
    let w = s.latest_waits(&t, "a").unwrap().unwrap();
    assert_eq!((w.captured_at, w.lock), (latest, 30));
    assert!((w.lock_share() - 0.75).abs() < 1e-9);
    // History within retention: days 1, 2, 3 (the cutoff is day 1).
    let days: Vec<i64> = s
        .waits(&t, "a", 100)
        .unwrap()
        .iter()
        .map(|w| (w.captured_at - T0) / DAY)
        .collect();
    assert_eq!(days, [1, 2, 3]);
    assert!(!s.db.contains_key(Keys(&t).scan_tags(T0)).unwrap());
    assert_eq!(s.scan_tags(&t, T0 + DAY).unwrap().len(), 2);
    // A scan without tags or waits (a producer found nothing) clears the latest view.
    s.commit_scan(&t, scan(T0 + 4 * DAY, &["a"]), &r).unwrap();
    assert!(s.tags(&t).unwrap().is_empty());
    assert_eq!(s.latest_waits(&t, "a").unwrap(), None);
    // A tag or profile of a query the store does not hold is refused (nothing written).
    let mut bad = scan(T0 + 5 * DAY, &["a"]);
    bad.tags = vec![("zz".into(), tag("spike", T0))];
    assert!(s.commit_scan(&t, bad, &r).is_err());
    assert_eq!(s.latest_scan_id(&t).unwrap(), Some(T0 + 4 * DAY));
}

#[test]
fn a_scan_stored_before_tags_existed_reads_as_untagged() {
    let (_d, s, t) = setup();
    s.commit_scan(&t, scan(T0, &["a"]), &Retention::default())
        .unwrap();
    // What the previous version wrote: no scantag key, no wait profiles.
    s.db.remove(Keys(&t).scan_tags(T0)).unwrap();
    assert!(s.tags(&t).unwrap().is_empty());
    assert!(s.query_tags(&t, "a").unwrap().is_empty());
    assert_eq!(s.latest_waits(&t, "a").unwrap(), None);
}

fn sim(query_id: &str, sim_id: &str, ran_at: i64) -> optidb_core::model::Simulation {
    optidb_core::model::Simulation {
        id: sim_id.into(),
        query_id: query_id.into(),
        rec_id: "r".into(),
        mode: "hypopg".into(),
        before_ms: 10.0,
        after_ms: 1.0,
        after_is_estimate: true,
        improvement_pct: 90.0,
        before_cost: 100.0,
        after_cost: 10.0,
        index_used: true,
        index_bytes: None,
        plan_changes: vec![],
        before_plan: json!([]),
        after_plan: json!([]),
        ran_at,
    }
}

fn sim_ids(s: &Store, t: &TargetId, q: &str) -> Vec<String> {
    let mut ids: Vec<String> = s
        .simulations(t, q, 100)
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn retention_trims_recommendations_simulations_and_orphans() {
    let (_d, s, t) = setup();
    let r = Retention::default(); // 7 days
    let k = Keys(&t);

    // Day 0: queries a and b; r_old (for b) and r_a (for a); simulations of both.
    let mut w = scan(T0, &["a", "b"]);
    let mut r_old = rec("r_old", 1.0, T0);
    r_old.query_ids = vec!["b".into()];
    w.recommendations = vec![rec("r_a", 2.0, T0), r_old];
    s.commit_scan(&t, w, &r).unwrap();
    s.put_simulation(&t, &sim("a", "sim_a_old", T0 + 10))
        .unwrap();
    s.put_simulation(&t, &sim("b", "sim_b_old", T0 + 10))
        .unwrap();
    // Orphans: rows of a query the store never held (old ones and a recent one).
    s.put_simulation(&t, &sim("ghost", "sim_ghost", T0 + 8 * DAY - 5))
        .unwrap();
    let ghost_metric = k.metric("ghost", T0 + 8 * DAY - 5);
    let ghost_plan = k.plan("ghost", T0, PlanKind::Generic);
    s.db.insert(
        &ghost_metric,
        serde_json::to_vec(&metric("ghost", T0, 1)).unwrap(),
    )
    .unwrap();
    s.db.insert(
        &ghost_plan,
        serde_json::to_vec(&plan("ghost", T0, PlanKind::Generic)).unwrap(),
    )
    .unwrap();

    // Day 6: a again, with a recent simulation; r_a is listed again. Nothing is old yet.
    let mut w = scan(T0 + 6 * DAY, &["a"]);
    w.recommendations = vec![rec("r_a", 2.0, T0 + 6 * DAY)];
    s.commit_scan(&t, w, &r).unwrap();
    s.put_simulation(&t, &sim("a", "sim_a_new", T0 + 6 * DAY + 10))
        .unwrap();
    assert!(
        s.recommendation(&t, "r_old").unwrap().is_some(),
        "day-0 scan still kept"
    );
    assert_eq!(sim_ids(&s, &t, "b"), ["sim_b_old"]);
    // Orphans go at the first commit, whatever their age.
    assert!(sim_ids(&s, &t, "ghost").is_empty());
    assert!(!s.db.contains_key(&ghost_metric).unwrap());
    assert!(!s.db.contains_key(&ghost_plan).unwrap());

    // Day 8: the day-0 scan is past retention; so are b, r_old and every day-0 simulation.
    let mut w = scan(T0 + 8 * DAY, &["a"]);
    w.recommendations = vec![rec("r_new", 3.0, T0 + 8 * DAY)];
    s.commit_scan(&t, w, &r).unwrap();

    assert_eq!(s.query(&t, "b").unwrap(), None);
    assert!(s.recommendation(&t, "r_old").unwrap().is_none());
    assert!(sim_ids(&s, &t, "b").is_empty());
    assert_eq!(sim_ids(&s, &t, "a"), ["sim_a_new"]);
    // r_a: the day-6 scan, still kept, lists it; r_new is the latest scan's.
    assert!(s.recommendation(&t, "r_a").unwrap().is_some());
    assert!(s.recommendation(&t, "r_new").unwrap().is_some());
    assert_eq!(
        s.recommendations(&t)
            .unwrap()
            .into_iter()
            .map(|x| x.rec_id)
            .collect::<Vec<_>>(),
        ["r_new"]
    );

    // A recommendation whose queries are all gone goes even while its scan is kept.
    let mut w = scan(T0 + 8 * DAY + 1, &["c"]);
    let mut r_c = rec("r_c", 1.0, T0 + 8 * DAY + 1);
    r_c.query_ids = vec!["c".into()];
    w.recommendations = vec![r_c];
    s.commit_scan(&t, w, &r).unwrap();
    s.db.remove(k.query("c")).unwrap();
    s.commit_scan(&t, scan(T0 + 8 * DAY + 2, &["a"]), &r)
        .unwrap();
    assert!(s.recommendation(&t, "r_c").unwrap().is_none());
    assert!(
        s.metrics(&t, "c", 10).unwrap().is_empty(),
        "orphan metrics of c"
    );
    assert!(s.recommendation(&t, "r_a").unwrap().is_some());
}

#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = vec![(
        ".".to_string(),
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
    )];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            let name = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.push((name, m.permissions().mode() & 0o777));
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn store_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    // A fresh store: 0700 directories, 0600 files.
    {
        let s = Store::open(&dir).unwrap();
        let t = s.register_target(URL).unwrap();
        s.commit_scan(&t, scan(T0, &["a"]), &Retention::default())
            .unwrap();
        assert!(s.size_on_disk().unwrap() > 0);
    }
    let private = |dir: &Path| {
        let m = modes(dir);
        assert!(m.len() > 2, "{m:?}");
        for (name, mode) in &m {
            let is_dir = std::fs::metadata(dir.join(name)).unwrap().is_dir();
            assert_eq!(*mode, if is_dir { 0o700 } else { 0o600 }, "{name}: {m:?}");
        }
    };
    private(&dir);

    // An existing store that someone loosened is tightened at open.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, _) in modes(&dir).into_iter().skip(1) {
        let p = dir.join(&name);
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let s = Store::open(&dir).unwrap();
    private(&dir);
    let t = TargetId::from_url(URL);
    assert!(s.latest_scan(&t).unwrap().is_some());
}

#[test]
fn families_are_stored_per_scan_and_trimmed_with_it() {
    let (_dir, store, t) = setup();
    assert_eq!(store.families(&t).unwrap(), None);
    let fam = |at: i64, label: &str| optidb_core::family::FamilySet {
        scan_id: at,
        queries: 1,
        vectorized: 1,
        k: 1,
        families: vec![optidb_core::family::Family {
            id: label.into(),
            label: label.into(),
            members: vec!["q1".into()],
            tokens: vec!["verb:select".into()],
        }],
        ..Default::default()
    };
    let retention = Retention {
        max_age_ms: Retention::DEFAULT_MAX_AGE_MS,
        max_scans: 2,
    };
    for (i, label) in ["a_scan", "b_scan", "c_scan"].iter().enumerate() {
        let at = T0 + i as i64 * 1000;
        let mut w = scan(at, &["q1"]);
        w.families = Some(fam(at, label));
        store.commit_scan(&t, w, &retention).unwrap();
        let got = store.families(&t).unwrap().unwrap();
        assert_eq!(got, fam(at, label));
        assert_eq!(got.of("q1").map(|f| f.label.as_str()), Some(*label));
    }
    // A scan without families stores none (older scans' stay with them until trimmed).
    store
        .commit_scan(&t, scan(T0 + 5000, &["q1"]), &retention)
        .unwrap();
    assert_eq!(store.families(&t).unwrap(), None);
    let keys: Vec<String> = store
        .db
        .iter()
        .keys()
        .map(|k| String::from_utf8_lossy(&k.unwrap()).into_owned())
        .filter(|k| k.contains("\0scanfam\0"))
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "only the kept scans' families remain: {keys:?}"
    );
}
