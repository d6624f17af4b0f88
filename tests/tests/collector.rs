//! The collector end to end: the real `optidb daemon` binary against a real sandbox PostgreSQL —
//! what a scan stores, interval deltas across resets and restarts, missing pg_stat_statements,
//! a database that goes down or restarts during a scan, and kill -9 during a scan.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{get, post_empty, Daemon};
use std::time::{Duration, Instant};

const SLOW: &str = "SELECT * FROM big WHERE cust = ";

fn sandbox() -> Sandbox {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
    sb.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, cust int NOT NULL, note text);
         INSERT INTO big SELECT g, g % 1000, md5(g::text) FROM generate_series(1, 200000) g;
         CREATE TABLE small (id int PRIMARY KEY, big_id int NOT NULL REFERENCES big (id));
         INSERT INTO small SELECT g, g FROM generate_series(1, 100) g;
         CREATE INDEX small_big_id ON small (big_id);
         ANALYZE;
         SELECT pg_stat_statements_reset();",
    )
    .expect("schema");
    sb
}

fn run_slow(sb: &Sandbox, n: usize) {
    for i in 0..n {
        sb.batch_execute(&format!("{SLOW}{i}")).expect("workload");
    }
}

fn slow_id() -> String {
    optidb_core::sql::fingerprint_only(&format!("{SLOW}1")).unwrap()
}

fn scan_ok(d: &Daemon) -> serde_json::Value {
    let a = post_empty(&d.url("/scan")).expect("POST /scan");
    assert_eq!(a.status, 200, "scan failed: {}\n{}", a.body, d.stderr());
    a.body
}

fn latest_interval_calls(d: &Daemon) -> (i64, bool) {
    let q = get(&d.url(&format!("/queries/{}", slow_id()))).unwrap();
    assert_eq!(q.status, 200, "{}", q.body);
    let m = q.body["metrics"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let iv = &m["interval"];
    (
        iv["calls"].as_i64().unwrap_or(-1),
        iv["reset_detected"].as_bool().unwrap_or(false),
    )
}

#[test]
fn a_scan_stores_statements_schema_and_plans() {
    let sb = sandbox();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "10"],
    );
    // Run the workload while the sampler watches, until it caught a real-value sample.
    let t0 = Instant::now();
    loop {
        run_slow(&sb, 5);
        let h = get(&d.url("/health")).unwrap().body;
        if h["real_value_samples"].as_u64().unwrap_or(0) > 0
            || t0.elapsed() > Duration::from_secs(20)
        {
            break;
        }
    }
    // Utility and transaction-control statements must not be stored.
    sb.batch_execute("BEGIN; SET LOCAL work_mem = '8MB'; COMMIT;")
        .unwrap();
    sb.batch_execute("VACUUM small").unwrap();

    let summary = scan_ok(&d);
    assert!(
        summary["statements_seen"].as_u64().unwrap() >= 2,
        "{summary}"
    );
    assert!(
        summary["queries_stored"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(
        summary["plans_captured"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert!(summary["tables"].as_u64().unwrap() >= 2, "{summary}");

    let q = get(&d.url(&format!("/queries/{}", slow_id()))).unwrap();
    assert_eq!(q.status, 200, "{}", q.body);
    let body = &q.body;
    assert!(
        body["query"]["norm_sql"]
            .as_str()
            .unwrap()
            .contains("cust = $1"),
        "{body}"
    );
    assert!(body["metrics"][0]["calls"].as_i64().unwrap() >= 5);
    assert!(body["metrics"][0]["mean_ms"].as_f64().unwrap() > 0.0);
    let plans = body["plans"].as_array().unwrap();
    let generic = plans
        .iter()
        .find(|p| p["kind"] == "generic")
        .expect("a generic plan");
    assert_eq!(generic["facts"]["had_seq_scan"], true, "{generic}");
    let seq = &generic["facts"]["seq_scans"][0];
    assert_eq!(seq["table"], "public.big");
    assert!(
        generic["facts"]["filters"].to_string().contains("cust"),
        "{generic}"
    );
    if body["query"]["raw_has_values"] == true {
        // Not a sandbox: the sample is planned (a custom plan), never executed.
        let custom = plans
            .iter()
            .find(|p| p["kind"] == "custom")
            .expect("a custom plan for the sample");
        assert!(custom["facts"]["act_rows"].as_f64().is_none(), "{custom}");
        assert!(!plans.iter().any(|p| p["kind"] == "analyzed"), "{body}");
    }

    // OptiDB's own statements and utility statements are not among the stored queries.
    let scans = get(&d.url("/scans")).unwrap().body;
    assert!(
        scans.as_array().unwrap()[0]["complete"].as_bool().unwrap(),
        "{scans}"
    );
    let st = d.terminate();
    assert!(st.success(), "clean exit on SIGTERM");
    let store = optidb::store::Store::open(store.path()).unwrap();
    let (target, label) = store.targets().unwrap().pop().unwrap();
    assert!(label.contains("127.0.0.1"), "{label}");
    for q in store.queries(&target).unwrap() {
        assert!(
            !q.norm_sql.contains("optidb"),
            "own statement stored: {}",
            q.norm_sql
        );
        let upper = q.norm_sql.to_uppercase();
        for utility in ["BEGIN", "COMMIT", "VACUUM", "SET "] {
            assert!(
                !upper.starts_with(utility),
                "utility stored: {}",
                q.norm_sql
            );
        }
    }
    let schema = store.schema(&target).unwrap().unwrap();
    let big = schema
        .tables
        .iter()
        .find(|t| t.table_name == "public.big")
        .unwrap();
    assert!(big.rows_est > 150_000.0 && big.bytes > 1_000_000, "{big:?}");
    let idx = schema
        .indexes
        .iter()
        .find(|i| i.index_name == "public.small_big_id")
        .unwrap();
    assert_eq!(idx.columns, vec!["big_id"]);
    assert!(idx.constraint.is_none());
    let pkey = schema
        .indexes
        .iter()
        .find(|i| i.index_name == "public.big_pkey")
        .unwrap();
    assert!(pkey.primary && pkey.constraint.is_some());
    assert!(schema
        .foreign_keys
        .iter()
        .any(|f| f.table_name == "public.small" && f.ref_table == "public.big"));
    assert!(schema
        .column_stats
        .iter()
        .any(|c| c.table_name == "public.big" && c.column == "cust"));
}

#[test]
fn interval_figures_survive_resets_and_daemon_restarts() {
    let sb = sandbox();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0"],
    );
    run_slow(&sb, 3);
    scan_ok(&d);
    run_slow(&sb, 7);
    scan_ok(&d);
    assert_eq!(latest_interval_calls(&d), (7, false));

    sb.batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    run_slow(&sb, 2);
    scan_ok(&d);
    assert_eq!(
        latest_interval_calls(&d),
        (2, true),
        "a reset counts from zero and says so"
    );

    // A crashed daemon restarts with the counters of its last complete scan.
    d.kill9();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0"],
    );
    run_slow(&sb, 4);
    scan_ok(&d);
    assert_eq!(latest_interval_calls(&d), (4, false));
}

#[test]
fn missing_pg_stat_statements_says_how_to_fix_it() {
    let sb = sandbox();
    sb.batch_execute("CREATE DATABASE nopgss").unwrap();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &sb.url_for("nopgss"),
        store.path(),
        &["--sample-interval-ms", "0", "--sandbox"],
    );
    let a = post_empty(&d.url("/scan")).unwrap();
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["error"], "scan failed");
    assert!(
        a.body["why"]
            .as_str()
            .unwrap()
            .contains("pg_stat_statements"),
        "{}",
        a.body
    );
    assert!(
        a.body["hint"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION pg_stat_statements"),
        "{}",
        a.body
    );
    let h = get(&d.url("/health")).unwrap().body;
    assert_eq!(h["status"], "degraded");
}

#[test]
fn a_database_that_goes_down_or_restarts_never_breaks_the_daemon() {
    let sb = sandbox();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "50"],
    );
    run_slow(&sb, 3);
    let first = scan_ok(&d);

    // Down: the scan fails quickly with a reason and a hint; the last complete scan stays.
    sb.stop_server().unwrap();
    let t0 = Instant::now();
    let a = post_empty(&d.url("/scan")).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "a down database must not hang a scan"
    );
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(
        a.body["hint"].as_str().unwrap().contains("reconnects"),
        "{}",
        a.body
    );
    let h = get(&d.url("/health")).unwrap().body;
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["database_reachable"], false);
    let q = get(&d.url(&format!("/queries/{}", slow_id()))).unwrap();
    assert_eq!(q.status, 200, "the last complete scan is still served");

    // Back: the next scan reconnects.
    sb.start_server().unwrap();
    scan_ok(&d);
    assert_eq!(get(&d.url("/health")).unwrap().body["status"], "ok");

    // Restart during a scan: a table lock makes the scan wait (lock_timeout) while PostgreSQL
    // restarts under it. Whatever the scan's outcome, the daemon lives and the next scan works.
    let url = sb.url();
    let locker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                tokio::spawn(conn);
                let _ = c
                    .batch_execute(
                        "BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30)",
                    )
                    .await;
            }
        });
    });
    std::thread::sleep(Duration::from_millis(300));
    let base = d.url("/scan");
    let scan = std::thread::spawn(move || post_empty(&base));
    std::thread::sleep(Duration::from_millis(150));
    sb.restart().unwrap();
    let during = scan.join().unwrap().expect("the scan answered");
    assert!(during.status == 200 || during.status == 503, "{:?}", during);
    if during.status == 503 {
        assert!(during.body["hint"].as_str().is_some_and(|h| !h.is_empty()));
    }
    locker.join().unwrap();
    let after = scan_ok(&d);
    assert!(after["scan_id"].as_i64() > first["scan_id"].as_i64());
}

#[test]
fn kill_9_during_a_scan_keeps_the_previous_complete_scan() {
    let sb = sandbox();
    // Many distinct statements make a scan long enough to be killed in the middle.
    sb.batch_execute(&optidb::bench::bench_table_sql(100))
        .unwrap();
    for st in optidb::bench::distinct_statements(1500) {
        sb.batch_execute(&st).unwrap();
    }
    run_slow(&sb, 3);
    let store = tempfile::tempdir().unwrap();
    let mut last_complete = None;
    for (round, delay_ms) in [30u64, 120, 400].into_iter().enumerate() {
        let d = Daemon::start(
            &optidb_e2e::optidb_url(&sb),
            store.path(),
            &["--sample-interval-ms", "0", "--top-n", "2000"],
        );
        if round == 0 {
            last_complete = Some(scan_ok(&d)["scan_id"].as_i64().unwrap());
        }
        let base = d.url("/scan");
        let bg = std::thread::spawn(move || post_empty(&base));
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        let _ = bg.join();

        // Open the store the daemon left behind: the latest scan is complete and whole.
        let s = optidb::store::Store::open(store.path()).unwrap();
        let (target, _) = s.targets().unwrap().pop().unwrap();
        let latest = s
            .latest_scan(&target)
            .unwrap()
            .expect("a complete scan survives");
        assert!(latest.error.is_none());
        assert!(Some(latest.scan_id) >= last_complete);
        let ids = s.query_ids_in_latest_scan(&target).unwrap();
        assert_eq!(ids.len(), latest.queries_stored, "round {round}");
        for id in &ids {
            let m = s
                .latest_metric(&target, id)
                .unwrap()
                .expect("metric of a stored query");
            assert!(
                m.captured_at >= latest.scan_id,
                "round {round}: metrics of the latest scan are all there"
            );
        }
        last_complete = Some(latest.scan_id);
        drop(s);
    }
}

/// SIGSTOP (or SIGCONT) the postmaster and every backend: a database that stops answering.
fn signal_cluster(sb: &Sandbox, sig: &str) {
    let pidfile = std::fs::read_to_string(sb.data_dir().join("postmaster.pid")).unwrap();
    let pm = pidfile.lines().next().unwrap().trim().to_string();
    let children = std::process::Command::new("pgrep")
        .args(["-P", &pm])
        .output()
        .unwrap();
    let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    pids.push(pm);
    let st = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .args(&pids)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_database_that_stops_answering_does_not_hang_the_daemon() {
    let sb = sandbox();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0", "--scan-timeout", "4"],
    );
    run_slow(&sb, 3);
    scan_ok(&d);

    signal_cluster(&sb, "STOP");
    let base = d.url("/scan");
    let t0 = Instant::now();
    let scan = std::thread::spawn(move || post_empty(&base));
    // The API stays responsive while the scan waits.
    std::thread::sleep(Duration::from_millis(500));
    let h0 = Instant::now();
    assert_eq!(get(&d.url("/health")).unwrap().status, 200);
    assert!(
        h0.elapsed() < Duration::from_secs(2),
        "/health must not wait for the scan"
    );
    let a = scan.join().unwrap().unwrap();
    let took = t0.elapsed();
    signal_cluster(&sb, "CONT");
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(
        a.body["why"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{}",
        a.body
    );
    assert!(
        took < Duration::from_secs(15),
        "the scan gave up after {took:?}"
    );

    // Once it answers again, the next scan reconnects.
    scan_ok(&d);
}

#[test]
fn libpq_variables_filters_and_limited_privileges() {
    let sb = sandbox();
    optidb_e2e::optidb_url(&sb);
    run_slow(&sb, 3);
    let port = sb.port().to_string();
    let env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", "optidb"),
        ("PGDATABASE", sb.database()),
    ];

    // No --db: libpq's variables name the target.
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start_with_env("", store.path(), &["--sample-interval-ms", "0"], &env);
    let s = scan_ok(&d);
    assert!(s["queries_stored"].as_u64().unwrap() >= 1, "{s}");
    let h = get(&d.url("/health")).unwrap().body;
    assert!(h["target"].as_str().unwrap().contains(&port), "{h}");
    drop(d);

    // --min-calls filters everything out, but the statements are still seen.
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0", "--min-calls", "1000000"],
    );
    let s = scan_ok(&d);
    assert_eq!(s["queries_stored"], 0, "{s}");
    assert!(s["statements_seen"].as_u64().unwrap() >= 1, "{s}");
    drop(d);

    // A user without pg_read_all_stats: the scan completes and says what is hidden and how to fix it.
    sb.batch_execute(
        "CREATE ROLE limited LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO limited;",
    )
    .unwrap();
    let limited = sb.url().replacen("postgres@", "limited@", 1);
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(&limited, store.path(), &["--sample-interval-ms", "0"]);
    let s = scan_ok(&d);
    let warnings = s["warnings"].to_string();
    assert!(warnings.contains("GRANT pg_read_all_stats"), "{s}");
    assert_eq!(
        get(&d.url(&format!("/queries/{}", slow_id())))
            .unwrap()
            .status,
        404
    );

    sb.batch_execute("GRANT pg_read_all_stats TO limited")
        .unwrap();
    let s = scan_ok(&d);
    assert!(s.get("warnings").is_none(), "{s}");
    assert_eq!(
        get(&d.url(&format!("/queries/{}", slow_id())))
            .unwrap()
            .status,
        200
    );
}
