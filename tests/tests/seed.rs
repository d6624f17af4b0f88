//! End-to-end checks of the demo seed against a real throwaway PostgreSQL: the load produces the
//! promised rows and planner state, and the workload leaves in pg_stat_statements and the
//! statistics views the footprints the advisor's tests (seed/expected.toml) rely on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb::seed::{self, FindingType, SeedOptions};
use tokio_postgres::Client;

/// Small enough for CI (2 cores), large enough that every pattern runs several times.
const SCALE: f64 = 0.1;

/// The sandbox tests load 300k+ rows each: run them one at a time so they do not fight for
/// the two CI cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn connect(url: &str) -> Result<Client> {
    seed::connect(url, "optidb-e2e").await
}

/// calls and total_exec_time per OptiDB fingerprint, summed over pg_stat_statements rows.
async fn pgss(client: &Client) -> Result<HashMap<String, (i64, f64)>> {
    let rows = client
        .query(
            "/* optidb */ SELECT s.query, s.calls, s.total_exec_time FROM pg_stat_statements s \
             JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()",
            &[],
        )
        .await?;
    let mut out: HashMap<String, (i64, f64)> = HashMap::new();
    for row in rows {
        let query: String = row.get(0);
        if let Ok(fp) = optidb_core::sql::fingerprint_only(&query) {
            let e = out.entry(fp).or_default();
            e.0 += row.get::<_, i64>(1);
            e.1 += row.get::<_, f64>(2);
        }
    }
    Ok(out)
}

fn delta(
    after: &HashMap<String, (i64, f64)>,
    before: &HashMap<String, (i64, f64)>,
    fp: &str,
) -> (i64, f64) {
    let a = after.get(fp).copied().unwrap_or_default();
    let b = before.get(fp).copied().unwrap_or_default();
    (a.0 - b.0, a.1 - b.1)
}

/// Polls `probe` until it returns Some (statistics reach the views asynchronously).
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_loads_and_the_workload_leaves_its_footprints() -> Result<()> {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let sandbox = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sandbox.url();

    // --- load
    let load = seed::load(&url).await?;
    eprintln!(
        "load: {:.1} s {:?}",
        load.duration.as_secs_f64(),
        load.steps
    );
    for (table, rows) in seed::EXPECTED_ROWS {
        assert_eq!(load.rows(table), Some(rows), "{table}");
    }
    assert!(!load.replaced);
    assert!(load.warnings.is_empty(), "{:?}", load.warnings);

    let client = connect(&url).await?;

    // The redundant index backs no constraint and is a prefix of the composite.
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_constraint WHERE conindid = 'public.products_category_idx'::regclass), \
                    pg_get_indexdef('public.products_category_idx'::regclass), \
                    pg_get_indexdef('public.products_category_price_idx'::regclass)",
            &[],
        )
        .await?;
    assert_eq!(row.get::<_, i64>(0), 0);
    assert!(row.get::<_, String>(1).ends_with("(category)"));
    assert!(row.get::<_, String>(2).ends_with("(category, price)"));

    // --- workload, phase by phase, with pg_stat_statements snapshots between phases
    let workload = seed::workload()?;
    let s0 = pgss(&client).await?;
    let p1 = seed::run_workload(
        &url,
        &SeedOptions {
            calls_scale: SCALE,
            phases: vec![1],
        },
    )
    .await?;
    let s1 = pgss(&client).await?;
    let p2 = seed::run_workload(
        &url,
        &SeedOptions {
            calls_scale: SCALE,
            phases: vec![2],
        },
    )
    .await?;
    let s2 = pgss(&client).await?;
    p1.check()?;
    p2.check()?;
    eprintln!(
        "workload: phase 1 {:.1} s ({} statements), phase 2 {:.1} s ({} statements)",
        p1.duration.as_secs_f64(),
        p1.statements(),
        p2.duration.as_secs_f64(),
        p2.statements()
    );

    // Every pattern appears in pg_stat_statements (matched by fingerprint) at least as often
    // as it was rendered.
    for p in &workload.patterns {
        let fp = p.fingerprint()?;
        let rendered = p.calls_at(SCALE) * p.phases.len() as u64;
        let (calls, _) = delta(&s2, &s0, &fp);
        assert!(
            calls >= rendered as i64,
            "{}: {calls} calls in pg_stat_statements, {rendered} rendered",
            p.name
        );
        for phase in &p.phases {
            let run = if *phase == 1 { &p1 } else { &p2 };
            let r = run
                .get(&p.name, *phase)
                .context("pattern missing from the summary")?;
            assert_eq!(r.calls, p.calls_at(SCALE), "{} phase {phase}", p.name);
        }
    }

    // The spike: same statement, much slower in phase 2 (row-lock waits count as exec time).
    let spike = workload.get("coupon_redeem").context("coupon_redeem")?;
    let hold = spike
        .blocker_in(2)
        .context("coupon_redeem has a phase-2 blocker")?
        .hold_ms as f64;
    let fp = spike.fingerprint()?;
    let (c1, t1) = delta(&s1, &s0, &fp);
    let (c2, t2) = delta(&s2, &s1, &fp);
    let (mean1, mean2) = (t1 / c1 as f64, t2 / c2 as f64);
    eprintln!("spike: pg_stat_statements mean {mean1:.3} ms (phase 1) -> {mean2:.3} ms (phase 2)");
    assert!(
        mean2 >= hold * 0.5,
        "phase-2 mean {mean2} ms; blocker holds {hold} ms"
    );
    assert!(
        mean2 > 10.0 * mean1,
        "phase 1 {mean1} ms, phase 2 {mean2} ms"
    );
    let (m1, m2) = (
        p1.get("coupon_redeem", 1).context("phase 1")?.mean_ms,
        p2.get("coupon_redeem", 2).context("phase 2")?.mean_ms,
    );
    assert!(
        m2 > 10.0 * m1,
        "client timings: phase 1 {m1} ms, phase 2 {m2} ms"
    );
    // The negative controls stayed fast.
    for f in seed::expected()?
        .iter()
        .filter(|f| f.kind == FindingType::NoRecommendation)
    {
        let fp = workload.get(&f.pattern).context("control")?.fingerprint()?;
        let (c, t) = delta(&s2, &s0, &fp);
        assert!(
            t / (c as f64) < 5.0,
            "control {} has a mean of {} ms",
            f.pattern,
            t / c as f64
        );
    }

    // Redundant index: the composite is used, the single-column prefix never.
    let (single, composite) = eventually("index usage statistics", || async {
        let row = client
            .query_one(
                "SELECT (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'products_category_idx'), \
                        (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'products_category_price_idx')",
                &[],
            )
            .await?;
        let (s, c): (i64, i64) = (row.get(0), row.get(1));
        Ok((c > 0).then_some((s, c)))
    })
    .await?;
    assert_eq!(single, 0, "products_category_idx was scanned");
    assert!(
        composite
            >= workload
                .get("products_by_category_price")
                .unwrap()
                .calls_at(SCALE) as i64
    );

    // Stale statistics: analyzed at 2,000 rows, then grown by 300,000 without re-analyzing.
    let (reltuples, n_mod) = eventually("table statistics of events", || async {
        let row = client
            .query_one(
                "SELECT c.reltuples::float8, s.n_mod_since_analyze, c.reloptions::text \
                 FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'public.events'::regclass",
                &[],
            )
            .await?;
        assert!(row.get::<_, String>(2).contains("autovacuum_enabled=false"));
        let (r, n): (f64, i64) = (row.get(0), row.get(1));
        Ok((n > 0).then_some((r, n)))
    })
    .await?;
    assert!(
        n_mod as f64 >= 100.0 * reltuples,
        "events: n_mod_since_analyze {n_mod}, reltuples {reltuples}"
    );
    // ... and the planner's estimate for the failed-checkout filter is far off.
    let plan = client
        .simple_query(
            "EXPLAIN (FORMAT JSON) SELECT * FROM events WHERE kind = 'checkout_failed' AND created_at >= '2024-03-01'",
        )
        .await?
        .into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .context("EXPLAIN returned no row")?;
    let est: serde_json::Value = serde_json::from_str(&plan)?;
    let est_rows = est[0]["Plan"]["Plan Rows"].as_f64().context("Plan Rows")?;
    assert!(
        est_rows < 100.0,
        "stale statistics should estimate few rows, got {est_rows}"
    );

    // A database holding a table of the same name that the seed did not create is refused.
    client.batch_execute("CREATE DATABASE foreign_app").await?;
    let other = sandbox.url_for("foreign_app");
    connect(&other)
        .await?
        .batch_execute("CREATE TABLE public.orders (id int PRIMARY KEY)")
        .await?;
    let err = seed::load(&other).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("not created by the OptiDB seed"),
        "{err:#}"
    );
    // And the workload refuses a database without the seed.
    let err = seed::run_workload(&other, &SeedOptions::default())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("seed is not loaded"), "{err:#}");

    drop(client);
    tokio::task::spawn_blocking(move || sandbox.stop()).await??;
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_to_completion() -> Result<()> {
    let _serial = SERIAL.lock().await;
    optidb::demo::run(optidb::demo::DemoArgs {
        calls_scale: 0.02,
        exit_after_workload: true,
    })
    .await
}

#[test]
fn workload_and_expected_files_agree() -> Result<()> {
    let workload = seed::workload()?;
    let expected = seed::expected()?;
    // One finding per pattern, in the same order, and every kind of finding is seeded.
    let names: Vec<&str> = workload.patterns.iter().map(|p| p.name.as_str()).collect();
    let found: Vec<&str> = expected.iter().map(|f| f.pattern.as_str()).collect();
    assert_eq!(names, found);
    for kind in [
        FindingType::MissingIndex,
        FindingType::CompositeIndex,
        FindingType::Rewrite,
        FindingType::RedundantIndex,
        FindingType::Stats,
        FindingType::Anomaly,
        FindingType::NoRecommendation,
    ] {
        assert!(
            expected.iter().any(|f| f.kind == kind),
            "no {kind:?} finding"
        );
    }
    // Seeded problems are named on tables the seed creates, and the phase-2 spike exists.
    for f in &expected {
        assert!(
            seed::EXPECTED_ROWS.iter().any(|(t, _)| *t == f.table),
            "{}: unknown table {}",
            f.pattern,
            f.table
        );
    }
    let anomaly = expected
        .iter()
        .find(|f| f.kind == FindingType::Anomaly)
        .unwrap();
    let spike = workload.get(&anomaly.pattern).unwrap();
    assert_eq!(spike.phases, vec![1, 2]);
    assert!(spike.blocker_in(2).is_some() && spike.blocker_in(1).is_none());
    // Rendering is deterministic and literal values differ between calls.
    for p in &workload.patterns {
        assert_eq!(p.render(3), p.render(3));
        if p.template.generators().next().is_some() {
            let distinct: std::collections::HashSet<String> =
                (0..10).map(|i| p.render(i)).collect();
            assert!(distinct.len() > 1, "{}", p.name);
        }
    }
    Ok(())
}
