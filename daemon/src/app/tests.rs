//! Scans that go wrong half-way, against a real sandbox: a collector session terminated by an
//! administrator mid-scan, and a scan step that panics. Neither may replace the last complete
//! scan, and the next scan must work again.

use super::*;
use crate::pg::TargetConfig;
use crate::sandbox::{Sandbox, SandboxOptions};
use crate::scan::{CollectorConfig, TestHook};
use crate::simulate::{pool::SimService, SimConfig};

fn sandbox() -> Sandbox {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
    sb.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, kind int NOT NULL);
         INSERT INTO items SELECT g, g % 100 FROM generate_series(1, 20000) g;
         ANALYZE items;",
    )
    .expect("schema");
    for i in 0..3 {
        sb.batch_execute(&format!("SELECT * FROM items WHERE kind = {i}"))
            .expect("workload");
    }
    sb
}

fn state(sb: &Sandbox, store: &Store, hook: Option<TestHook>) -> Arc<AppState> {
    let target = TargetConfig::sandbox(sb.url());
    let mut cfg = CollectorConfig::new(target.clone());
    cfg.before_plans = hook;
    let samples = Arc::new(Samples::default());
    let collector = Collector::new(cfg, store.clone(), samples.clone()).expect("collector");
    let sim = SimService::new(target, SimConfig::default(), true, false);
    Arc::new(AppState::new(collector, store.clone(), samples, sim))
}

fn latest(store: &Store, state: &AppState) -> Option<Millis> {
    store.latest_scan_id(&state.target_id).expect("store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_terminated_mid_scan_fails_that_scan_and_keeps_the_last_complete_one() {
    let sb = Arc::new(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook = {
        let (armed, sb) = (armed.clone(), sb.clone());
        TestHook(Arc::new(move || {
            if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                // What an administrator (or a failover) does to OptiDB's session.
                sb.batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = 'optidb' AND pid <> pg_backend_pid()",
                )
                .expect("terminate");
            }
        }))
    };
    let state = state(&sb, &store, Some(hook));
    let good = state.scan_now().await;
    assert!(good.error.is_none(), "{good:?}");
    assert!(good.plans_captured > 0, "{good:?}");

    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let cut = state.scan_now().await;
    let why = cut.error.as_deref().expect("the cut scan failed");
    assert!(why.contains("session was lost"), "{why}");
    assert_eq!(
        latest(&store, &state),
        Some(good.scan_id),
        "the good scan stays"
    );
    let h = state.health().await;
    assert_eq!(h.status, "degraded");
    assert_eq!(h.last_success_at, Some(good.started_at));

    let again = state.scan_now().await;
    assert!(again.error.is_none(), "the next scan reconnects: {again:?}");
    assert_eq!(latest(&store, &state), Some(again.scan_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_scan_step_fails_that_scan_only() {
    let sb = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook = {
        let armed = armed.clone();
        TestHook(Arc::new(move || {
            if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                panic!("a bug in a scan step");
            }
        }))
    };
    let state = state(&sb, &store, Some(hook));
    let good = state.scan_now().await;
    assert!(good.error.is_none(), "{good:?}");

    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let bad = state.scan_now().await;
    let why = bad.error.as_deref().expect("the panicking scan failed");
    assert!(why.contains("a bug in a scan step"), "{why}");
    assert_eq!(latest(&store, &state), Some(good.scan_id));
    assert_eq!(
        store.scans(&state.target_id, 10).unwrap().len(),
        2,
        "the failed scan is recorded"
    );

    let again = state.scan_now().await;
    assert!(again.error.is_none(), "{again:?}");
    assert_eq!(latest(&store, &state), Some(again.scan_id));
}

/// How often OptiDB's own index-definition query ran (pg_stat_statements sees it too).
fn index_reads(sb: &Sandbox) -> i64 {
    let out = std::process::Command::new(sb.bindir().join("psql"))
        .args(["-XAtq", &sb.url(), "-c"])
        .arg(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
             WHERE query LIKE '%optidb%' AND query LIKE '%pg_get_indexdef(i.indexrelid)%'",
        )
        .output()
        .expect("psql");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_read_again_only_after_ddl_or_analyze() {
    let sb = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let state = state(&sb, &store, None);
    for _ in 0..3 {
        let s = state.scan_now().await;
        assert!(s.error.is_none(), "{s:?}");
    }
    assert_eq!(
        index_reads(&sb),
        1,
        "three scans, one read of the definitions"
    );

    sb.batch_execute("CREATE INDEX items_kind ON items (kind)")
        .unwrap();
    let s = state.scan_now().await;
    assert!(s.error.is_none(), "{s:?}");
    assert_eq!(index_reads(&sb), 2, "DDL invalidates the cache");
    let schema = store.schema(&state.target_id).unwrap().unwrap();
    assert!(schema
        .indexes
        .iter()
        .any(|i| i.index_name == "public.items_kind"));

    sb.batch_execute("ANALYZE items").unwrap();
    let s = state.scan_now().await;
    assert!(s.error.is_none(), "{s:?}");
    assert_eq!(index_reads(&sb), 3, "new statistics invalidate the cache");
}
