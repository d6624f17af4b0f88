//! `optidb daemon --no-real-values`: the sampler's statements with their literal values never
//! reach the store, checked by searching the store's files for a literal of the workload (and,
//! as a control, finding it there without the option). Also: the store's files are private.

use optidb_e2e::{get, post_empty, Daemon};

/// A literal no other part of the test or the store could hold by chance.
const LITERAL: &str = "optidb-literal-zq83";

/// Whether any file under `dir` contains `needle`.
fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                return true;
            }
        }
    }
    false
}

/// Runs a daemon with `extra` while the workload runs statements carrying [`LITERAL`], scans,
/// stops it, and says whether the literal is in its store files and whether the query kept a
/// real-value sample.
fn run(sb: &optidb::sandbox::Sandbox, extra: &[&str]) -> (bool, serde_json::Value) {
    let store = tempfile::tempdir().unwrap();
    let mut args = vec!["--sample-interval-ms", "20"];
    args.extend_from_slice(extra);
    let d = Daemon::start(&optidb_e2e::optidb_url(sb), store.path(), &args);
    let sql = format!(
        "SELECT count(*), pg_sleep(1) FROM tickets WHERE buyer_id = 7 AND price::text <> '{LITERAL}'"
    );
    // Until the sampler has seen it running (it paces itself: a tick that took d waits 100 d),
    // with or without the option: the sampler runs either way.
    for _ in 0..20 {
        sb.batch_execute(&sql).unwrap();
        let h = get(&d.url("/health")).unwrap().body;
        if h["real_value_samples"].as_u64() > Some(0) {
            break;
        }
    }
    let scan = post_empty(&d.url("/scan")).unwrap();
    assert_eq!(scan.status, 200, "{}", scan.body);
    let id = optidb_core::sql::fingerprint_only(&sql).unwrap();
    let q = get(&d.url(&format!("/queries/{id}"))).unwrap();
    assert_eq!(q.status, 200, "{}", q.body);
    let health = get(&d.url("/health")).unwrap().body;
    assert!(d.terminate().success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "the store directory");
    }
    let found = files_contain(store.path(), LITERAL.as_bytes());
    (
        found,
        serde_json::json!({"query": q.body["query"], "health": health}),
    )
}

#[test]
fn no_real_values_keeps_every_literal_of_the_workload_out_of_the_store() {
    let sb = optidb_e2e::tickets_sandbox(3);

    // Control: by default the sample with its literal is stored (so the search can find it).
    let (found, seen) = run(&sb, &[]);
    assert_eq!(seen["query"]["raw_has_values"], true, "{seen}");
    assert!(found, "the literal is not in the default store: {seen}");

    let (found, seen) = run(&sb, &["--no-real-values"]);
    assert!(
        !found,
        "a literal of the workload reached the store: {seen}"
    );
    assert_eq!(seen["query"]["raw_has_values"], false, "{seen}");
    assert!(
        !seen["query"]["raw_sql"].to_string().contains(LITERAL),
        "{seen}"
    );
    assert_eq!(seen["health"]["security"]["real_values"], false, "{seen}");
    assert_eq!(seen["health"]["security"]["hypopg"], true, "{seen}");
}
