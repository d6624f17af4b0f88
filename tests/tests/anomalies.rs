//! Findings in time and query families end to end, on a test-only schema (not the seed): the
//! real `optidb daemon` against a real sandbox, ~20 quick scans of a small steady workload in
//! which one query gets a one-off spike without any lock (a `pg_sleep` inside a SQL function it
//! calls), another loses its index between two scans (plan change, then a sustained
//! regression), and a third stays steady — and must never be tagged.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{bin_path, get, optidb_url, post_empty, Daemon};
use serde_json::Value;

const STEADY: &str = "SELECT note FROM acct WHERE id = ";
const SPIKY: &str = "SELECT delay() + id FROM acct WHERE id = ";
const REGRESS: &str = "SELECT count(*) FROM acct WHERE status = ";

fn id_of(sql: &str) -> String {
    optidb_core::sql::fingerprint_only(&format!("{sql}1")).expect("fingerprint")
}

fn sandbox() -> Sandbox {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
    sb.batch_execute(
        "CREATE TABLE acct (id int PRIMARY KEY, status int NOT NULL, note text);
         INSERT INTO acct SELECT g, g % 20000, md5(g::text) FROM generate_series(1, 200000) g;
         CREATE INDEX acct_status ON acct (status);
         CREATE TABLE knob (ms float8 NOT NULL);
         INSERT INTO knob VALUES (0);
         CREATE FUNCTION delay() RETURNS int LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep((SELECT ms FROM knob) / 1000.0); RETURN 0; END $$;
         GRANT SELECT ON acct, knob TO PUBLIC;",
    )
    .expect("schema");
    sb.batch_execute("ANALYZE").expect("analyze");
    sb.batch_execute("SELECT pg_stat_statements_reset()")
        .expect("reset");
    sb
}

/// One interval of the workload.
fn workload(sb: &Sandbox) {
    for i in 0..10 {
        sb.batch_execute(&format!("{STEADY}{}", i + 1))
            .expect("steady");
    }
    for i in 0..8 {
        sb.batch_execute(&format!("{SPIKY}{}", i + 1))
            .expect("spiky");
    }
    for i in 0..8 {
        sb.batch_execute(&format!("{REGRESS}{}", i * 7))
            .expect("regress");
    }
}

fn scan(d: &Daemon) {
    let a = post_empty(&d.url("/scan")).expect("POST /scan");
    assert_eq!(a.status, 200, "scan failed: {}\n{}", a.body, d.stderr());
}

/// The tag names of a query in the latest scan (`GET /queries/{id}`).
fn tags(d: &Daemon, id: &str) -> (Vec<String>, Value) {
    let q = get(&d.url(&format!("/queries/{id}"))).expect("GET /queries");
    assert_eq!(q.status, 200, "{}", q.body);
    let names = q.body["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["tag"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (names, q.body["tags"].clone())
}

#[test]
fn spikes_plan_regressions_and_a_steady_query_over_twenty_scans() {
    let sb = sandbox();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&optidb_url(&sb), dir.path(), &["--sample-interval-ms", "0"]);
    let (steady, spiky, regress) = (id_of(STEADY), id_of(SPIKY), id_of(REGRESS));
    let steady_tags = std::cell::RefCell::new(Vec::new());
    let scans = std::cell::Cell::new(0);
    let step = |sb: &Sandbox, d: &Daemon| {
        workload(sb);
        scan(d);
        scans.set(scans.get() + 1);
        let (t, v) = tags(d, &steady);
        if !t.is_empty() {
            steady_tags.borrow_mut().push((scans.get(), v));
        }
    };

    // A baseline: seven intervals of the same work.
    for _ in 0..8 {
        step(&sb, &d);
    }
    for id in [&spiky, &regress] {
        let (t, v) = tags(&d, id);
        assert!(t.is_empty(), "a steady baseline has no tags: {v}");
    }

    // One interval where delay() sleeps 40 ms per call: a spike, with no lock anywhere.
    sb.batch_execute("UPDATE knob SET ms = 40").unwrap();
    step(&sb, &d);
    sb.batch_execute("UPDATE knob SET ms = 0").unwrap();
    let (t, v) = tags(&d, &spiky);
    assert!(t.contains(&"spike".to_string()), "spike expected: {v}");
    assert!(
        !t.contains(&"contention".to_string()),
        "no lock was involved: {v}"
    );
    let spike = v
        .as_array()
        .and_then(|a| a.iter().find(|t| t["tag"] == "spike"))
        .cloned()
        .unwrap_or_default();
    assert!(spike["since"].as_i64().is_some(), "{spike}");
    assert!(
        spike["detail"]["baseline"]["median_ms"].as_f64().is_some(),
        "{spike}"
    );
    assert!(
        spike["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("intervals")),
        "{spike}"
    );
    // The next interval is back to normal: no more spike.
    step(&sb, &d);
    assert!(!tags(&d, &spiky).0.contains(&"spike".to_string()));

    // The index the status lookup uses goes away: its plan changes at once…
    sb.batch_execute("DROP INDEX acct_status").unwrap();
    step(&sb, &d);
    let (t, v) = tags(&d, &regress);
    assert!(
        t.contains(&"plan_changed".to_string()),
        "plan_changed expected: {v}"
    );
    let pc = v
        .as_array()
        .and_then(|a| a.iter().find(|t| t["tag"] == "plan_changed"))
        .cloned()
        .unwrap_or_default();
    assert!(
        pc["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("acct_status") && e.contains("Seq Scan on")),
        "from what to what: {pc}"
    );
    assert_ne!(pc["detail"]["from_hash"], pc["detail"]["to_hash"]);
    // … and after three slow intervals in a row it is a regression.
    step(&sb, &d);
    step(&sb, &d);
    let (t, v) = tags(&d, &regress);
    assert!(
        t.contains(&"regression".to_string()) && t.contains(&"plan_changed".to_string()),
        "regression and plan_changed expected: {v}"
    );

    // The bottleneck list carries the same tags and every row has a family.
    let rows = get(&d.url("/bottlenecks?limit=50")).unwrap().body;
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["query_id"] == regress.as_str()))
        .cloned()
        .unwrap_or_default();
    assert!(
        row["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["tag"] == "regression")),
        "{row}"
    );

    // Steady to the end: twenty scans, never a tag on the steady query.
    while scans.get() < 20 {
        step(&sb, &d);
    }
    let steady_tags = steady_tags.into_inner();
    assert!(
        steady_tags.is_empty(),
        "the steady query was tagged: {steady_tags:?}"
    );
}

#[test]
fn families_on_every_surface() {
    let sb = sandbox();
    sb.batch_execute(
        "CREATE TABLE coupon (id int PRIMARY KEY, code text, used bool);
         INSERT INTO coupon SELECT g, 'c' || g, false FROM generate_series(1, 100) g;
         GRANT SELECT, UPDATE ON coupon TO PUBLIC;",
    )
    .unwrap();
    sb.batch_execute("SELECT pg_stat_statements_reset()")
        .unwrap();
    for i in 0..3 {
        workload(&sb);
        sb.batch_execute(&format!("UPDATE coupon SET used = true WHERE id = {i}"))
            .unwrap();
        sb.batch_execute(&format!("SELECT * FROM acct WHERE note LIKE 'ab{i}%'"))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&optidb_url(&sb), dir.path(), &["--sample-interval-ms", "0"]);
    scan(&d);
    let f = get(&d.url("/families")).unwrap();
    assert_eq!(f.status, 200, "{}", f.body);
    let fams = f.body["families"].as_array().cloned().unwrap_or_default();
    assert!(fams.len() >= 2, "{}", f.body);
    let queries = f.body["queries"].as_u64().unwrap_or(0);
    assert!(f.body["vectorized"].as_u64().unwrap_or(0) * 10 > queries * 9);
    let labels: Vec<&str> = fams.iter().filter_map(|x| x["label"].as_str()).collect();
    let unique: std::collections::BTreeSet<&&str> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len(), "{labels:?}");
    assert!(
        labels.contains(&"coupon_update_pk"),
        "{labels:?} {}",
        f.body
    );
    let members: u64 = fams.iter().map(|x| x["size"].as_u64().unwrap_or(0)).sum();
    assert_eq!(members, queries);

    // Each bottleneck row names its family; the query page too.
    let rows = get(&d.url("/bottlenecks?limit=100")).unwrap().body;
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r["family"]["label"].as_str().is_some(), "{r}");
    }
    let upd = id_of("UPDATE coupon SET used = true WHERE id = ");
    let only = get(&d.url("/bottlenecks?family=coupon_update_pk"))
        .unwrap()
        .body;
    let only: Vec<&str> = only
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["query_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        only,
        vec![upd.as_str()],
        "?family= keeps that family's rows"
    );
    let q = get(&d.url(&format!("/queries/{upd}"))).unwrap().body;
    assert_eq!(q["family"]["label"], "coupon_update_pk", "{q}");

    // The dashboard: a families page, and a family chip on each row of the list.
    let page = get(&d.url("/ui/families")).unwrap();
    assert_eq!(page.status, 200);
    let html = page.body.as_str().unwrap_or("");
    assert!(
        html.contains("coupon_update_pk") && html.contains(&format!("/ui/queries/{upd}")),
        "{html}"
    );
    let list = get(&d.url("/ui")).unwrap();
    let html = list.body.as_str().unwrap_or("");
    assert!(
        html.contains(r#"class="badge family" href="/ui/families#coupon_update_pk""#),
        "{html}"
    );

    let page = get(&d.url(&format!("/ui/queries/{upd}"))).unwrap();
    let html = page.body.as_str().unwrap_or("");
    assert!(
        html.contains(r#"href="/ui/families#coupon_update_pk""#),
        "the query page shows its family: {html}"
    );

    // The same families after another scan of the same workload.
    scan(&d);
    let again = get(&d.url("/families")).unwrap().body;
    let labels2: Vec<&str> = again["families"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["label"].as_str()).collect())
        .unwrap_or_default();
    let mut a = labels.clone();
    let mut b = labels2.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);

    // The CLI: a table, and the same JSON.
    let out = std::process::Command::new(bin_path("optidb"))
        .args(["--daemon", &d.base, "families"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("coupon_update_pk"), "{text}");
    let out = std::process::Command::new(bin_path("optidb"))
        .args(["--daemon", &d.base, "families", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["families"].as_array().map(Vec::len), Some(fams.len()));
}
