//! The daemon under production realities, end to end: a table locked by another session (the
//! scan completes and says which sizes are estimates, simulations answer 503 "target busy"),
//! concurrent `POST /scan` requests sharing one scan, cross-site POSTs refused, and `/health`
//! telling of the last complete scan after a restart.

use optidb_e2e::{get, post_empty, post_json, Daemon};
use serde_json::json;

/// Holds `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` in an open transaction until dropped.
struct HeldLock {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl HeldLock {
    fn take(url: &str, table: &str) -> HeldLock {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            client
                .batch_execute(&format!(
                    "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
                ))
                .await
                .expect("lock");
            client
        });
        HeldLock { rt, client }
    }

    fn release(self) {
        self.rt
            .block_on(self.client.batch_execute("ROLLBACK"))
            .expect("rollback");
    }
}

#[test]
fn a_locked_table_never_fails_the_scan_and_simulations_say_the_target_is_busy() {
    let optidb_e2e::ScannedTickets {
        d,
        store: _store,
        sb,
    } = optidb_e2e::scanned_tickets(10, &[]);
    let slow =
        optidb_core::sql::fingerprint_only("SELECT * FROM tickets WHERE buyer_id = 1").unwrap();
    let ddl = "CREATE INDEX ON public.tickets (buyer_id)";

    let lock = HeldLock::take(&sb.url(), "tickets");
    // A simulation needs the table: 503 "target busy" with the lock hint, not a 4xx.
    let a = post_json(&d.url("/simulate"), &json!({"query_id": slow, "ddl": ddl})).unwrap();
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.body["error"], "target busy", "{}", a.body);
    assert!(
        a.body["hint"].as_str().unwrap().contains("pg_locks"),
        "{}",
        a.body
    );
    let w = post_json(&d.url("/simulate/workload"), &json!({})).unwrap();
    assert_eq!(w.status, 503, "{}", w.body);
    assert_eq!(w.body["error"], "target busy", "{}", w.body);

    // The scan completes: the locked table's size is an estimate and the summary says so.
    let s = post_empty(&d.url("/scan")).unwrap();
    assert_eq!(s.status, 200, "{}", s.body);
    let warnings = s.body["warnings"].to_string();
    assert!(
        warnings.contains("public.tickets") && warnings.contains("lock"),
        "{}",
        s.body
    );
    assert!(s.body["plan_errors"].as_u64().unwrap() >= 1, "{}", s.body);
    let q = get(&d.url(&format!("/queries/{slow}"))).unwrap();
    assert!(
        q.body.to_string().contains("locked by another session"),
        "the plan error says why: {}",
        q.body
    );

    lock.release();
    let a = post_json(&d.url("/simulate"), &json!({"query_id": slow, "ddl": ddl})).unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn concurrent_scans_share_one_and_cross_site_posts_are_refused() {
    let sb = optidb_e2e::tickets_sandbox(5);
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0"],
    );
    let url = d.url("/scan");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let answers: Vec<_> = (0..8)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                post_empty(&url).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let mut ids: Vec<i64> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.body["scan_id"].as_i64().unwrap()
        })
        .collect();
    ids.sort();
    ids.dedup();
    // Eight requests at once: one scan (two when a request lands just after the first ended).
    assert!(ids.len() <= 2, "{ids:?}");
    let scans = get(&d.url("/scans")).unwrap();
    assert_eq!(
        scans.body.as_array().unwrap().len(),
        ids.len(),
        "{}",
        scans.body
    );

    // A browser page on another site cannot start a scan; curl and the CLI can.
    for (name, value) in [
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let a = optidb_e2e::post_with_header(&url, name, value).unwrap();
        assert_eq!(a.status, 403, "{name}: {value}: {}", a.body);
    }
    let before = get(&d.url("/scans"))
        .unwrap()
        .body
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, ids.len(), "a refused POST ran no scan");
}

#[test]
fn after_a_restart_health_tells_of_the_last_complete_scan() {
    let sb = optidb_e2e::tickets_sandbox(3);
    let store = tempfile::tempdir().unwrap();
    let url = optidb_e2e::optidb_url(&sb);
    let d = Daemon::start(&url, store.path(), &["--sample-interval-ms", "0"]);
    let s = post_empty(&d.url("/scan")).unwrap();
    assert_eq!(s.status, 200, "{}", s.body);
    d.terminate();

    let d = Daemon::start(&url, store.path(), &["--sample-interval-ms", "0"]);
    let h = get(&d.url("/health")).unwrap();
    assert_eq!(h.body["status"], "ok", "{}", h.body);
    assert_eq!(
        h.body["last_scan"]["scan_id"], s.body["scan_id"],
        "{}",
        h.body
    );
    assert_eq!(
        h.body["last_success_at"], s.body["started_at"],
        "{}",
        h.body
    );
}

/// The daemon's resident memory high-water mark in MB (VmHWM).
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[test]
fn slow_clients_and_floods_never_take_health_down() {
    use std::io::{Read, Write};
    let optidb_e2e::ScannedTickets {
        d,
        store: _store,
        sb: _sb,
    } = optidb_e2e::scanned_tickets(3, &["--header-timeout-ms", "1500"]);
    let addr = d.base.trim_start_matches("http://").to_string();

    // 1,100 sockets that start a request and never finish its headers (more than the default
    // open-file limit of 1,024 that once made accept fail and /health time out).
    let slow: Vec<std::net::TcpStream> = (0..1100)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    let t0 = std::time::Instant::now();
    let h = get(&d.url("/health")).unwrap();
    assert_eq!(h.status, 200, "{}", h.body);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t0.elapsed()
    );
    // Past the header deadline the daemon closes them.
    let mut first = slow.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let closed = first.read_to_end(&mut buf);
    assert!(
        closed.is_ok(),
        "the slow socket was closed by the daemon: {closed:?}"
    );

    // 3,000 reads at once: every one is answered (200, or 503 "daemon busy" with a hint), and
    // the daemon's memory stays bounded.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let statuses: Vec<u16> = rt.block_on(async {
        let tasks: Vec<_> = (0..3000)
            .map(|_| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
                    s.write_all(
                        b"GET /bottlenecks HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    )
                    .await
                    .unwrap();
                    let mut out = Vec::new();
                    s.read_to_end(&mut out).await.unwrap();
                    let head = String::from_utf8_lossy(&out[..out.len().min(12)]).to_string();
                    head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(ok + busy, statuses.len(), "{statuses:?}");
    assert!(ok > 0);
    let rss = peak_rss_mb(d.child.id());
    assert!(rss < 200.0, "the daemon peaked at {rss:.0} MB");
    assert_eq!(get(&d.url("/health")).unwrap().status, 200);
}
