//! Simulator tests against a real sandbox PostgreSQL (no mocks): what-if results, no
//! hypothetical state left after success, planner error, timeout and cancellation, the safety
//! rails, real mode, and the generator of the label fixtures.

use super::*;
use crate::collect::session::{connect, TargetConfig};
use crate::sandbox::{Sandbox, SandboxOptions};
use std::sync::OnceLock;

const GENERIC: &str = "SELECT * FROM big WHERE cust = $1";
const INDEX: &str = "CREATE INDEX ON big (cust)";

fn sandbox() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(|| {
        let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
        sb.batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, cust int NOT NULL, note text);
             INSERT INTO big SELECT g, g % 1000, md5(g::text) FROM generate_series(1, 200000) g;
             CREATE TABLE small (id int PRIMARY KEY, label text);
             INSERT INTO small SELECT g, 'l' || g FROM generate_series(1, 100) g;
             -- Plans of `WHERE id = trap()` call trap() while planning (it is IMMUTABLE):
             -- it fails or sleeps only while a hypothetical index exists, i.e. in the
             -- \"after\" step of a what-if.
             CREATE FUNCTION trap_error() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
               BEGIN
                 IF (SELECT count(*) FROM hypopg_list_indexes) > 0 THEN
                   RAISE EXCEPTION 'trap: planner failure with a hypothetical index';
                 END IF;
                 RETURN 1;
               END $$;
             CREATE FUNCTION trap_sleep(s float8) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
               BEGIN
                 IF (SELECT count(*) FROM hypopg_list_indexes) > 0 THEN
                   PERFORM pg_sleep(s);
                 END IF;
                 RETURN 1;
               END $$;",
        )
        .expect("schema");
        sb.batch_execute("VACUUM ANALYZE").expect("vacuum");
        sb
    })
}

async fn session() -> Session {
    let mut t = TargetConfig::new(sandbox().url());
    t.statement_timeout = Duration::from_secs(10);
    connect(&t).await.expect("connect")
}

use crate::collect::session::Session;

async fn hypo_count(c: &Client) -> i64 {
    c.query_one("SELECT count(*) FROM hypopg_list_indexes", &[])
        .await
        .unwrap()
        .get(0)
}

fn ddls(d: &[&str]) -> Vec<String> {
    d.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn generic_whatif_finds_the_index_and_cleans_up() {
    let s = session().await;
    let w = whatif(
        &s.client,
        s.server_version_num,
        Stmt::Generic(GENERIC),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap();
    assert!(w.improvement_pct > 80.0, "{}", w.improvement_pct);
    assert_eq!(w.used, vec![true]);
    assert!(
        w.index_bytes[0].unwrap_or(0) > 100_000,
        "{:?}",
        w.index_bytes
    );
    let labels = labels::plan_changes(&w.before_plan, &w.after_plan, &TableSizes::default());
    assert!(
        labels
            .iter()
            .any(|l| l.contains("Seq Scan → Index Scan on big")
                || l.contains("Seq Scan → Bitmap Heap Scan on big")),
        "{labels:?}"
    );
    assert_eq!(hypo_count(&s.client).await, 0);
    // Works again on the same connection (the prepared statement and hypo state are gone).
    let again = whatif(
        &s.client,
        s.server_version_num,
        Stmt::Generic(GENERIC),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap();
    assert_eq!(again.used, vec![true]);
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn sample_whatif_and_hypopg_ddl_normalization() {
    let s = session().await;
    let w = whatif(
        &s.client,
        s.server_version_num,
        Stmt::Sample("SELECT * FROM big WHERE cust = 42"),
        &ddls(&["CREATE INDEX CONCURRENTLY IF NOT EXISTS big_cust ON public.big (cust);"]),
    )
    .await
    .unwrap();
    assert!(w.improvement_pct > 80.0, "{w:?}");
    assert_eq!(w.used, vec![true]);
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn an_unused_index_is_no_improvement() {
    let s = session().await;
    let w = whatif(
        &s.client,
        s.server_version_num,
        Stmt::Generic(GENERIC),
        &ddls(&["CREATE INDEX ON big (note)"]),
    )
    .await
    .unwrap();
    assert_eq!(w.used, vec![false]);
    assert_eq!(w.improvement_pct, 0.0);
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_before_touching_the_database() {
    let s = session().await;
    let v = s.server_version_num;
    for bad in [
        "DROP TABLE big",
        "CREATE INDEX ON big (cust); DROP TABLE big",
    ] {
        let e = whatif(&s.client, v, Stmt::Generic(GENERIC), &ddls(&[bad]))
            .await
            .unwrap_err();
        assert!(matches!(e, SimError::BadDdl(_)), "{e:?}");
    }
    let e = whatif(
        &s.client,
        v,
        Stmt::Generic("SELECT 1; DROP TABLE big"),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SimError::BadStatement(_)), "{e:?}");
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn planner_errors_leave_no_hypothetical_state() {
    let s = session().await;
    let v = s.server_version_num;
    // Fails in the "after" step, with the hypothetical index in place.
    let e = whatif(
        &s.client,
        v,
        Stmt::Generic("SELECT * FROM big WHERE id = trap_error() AND cust = $1"),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, SimError::Planner(m) if m.contains("trap")),
        "{e:?}"
    );
    assert_eq!(hypo_count(&s.client).await, 0);
    // Fails at the hypothetical index (no such column), after a first index was created.
    let e = whatif(
        &s.client,
        v,
        Stmt::Generic(GENERIC),
        &ddls(&[INDEX, "CREATE INDEX ON big (nope)"]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SimError::BadDdl(_)), "{e:?}");
    assert!(!e.hint().is_empty());
    assert_eq!(hypo_count(&s.client).await, 0);
    // Fails in the baseline.
    let e = whatif(
        &s.client,
        v,
        Stmt::Generic("SELECT * FROM nowhere WHERE a = $1"),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SimError::Planner(_)), "{e:?}");
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn timeouts_leave_no_hypothetical_state() {
    let s = session().await;
    s.client
        .batch_execute("SET statement_timeout = 300")
        .await
        .unwrap();
    let e = whatif(
        &s.client,
        s.server_version_num,
        Stmt::Generic("SELECT * FROM big WHERE id = trap_sleep(3) AND cust = $1"),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SimError::Timeout(_)), "{e:?}");
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn after_a_cancelled_whatif_the_next_one_starts_clean() {
    let s = session().await;
    let v = s.server_version_num;
    let slow = "SELECT * FROM big WHERE id = trap_sleep(1) AND cust = $1";
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        whatif(&s.client, v, Stmt::Generic(slow), &ddls(&[INDEX])),
    )
    .await;
    assert!(r.is_err(), "the what-if should have been cancelled");
    // The server still runs the rest of the dropped call's batch, its final reset included.
    assert_eq!(hypo_count(&s.client).await, 0);
    assert_eq!(prepared_count(&s.client).await, 0);

    // What a cancelled call leaves when its batch then failed on the server: a hypothetical
    // index and the generic plan's prepared statement. The next what-if starts clean.
    leave_leftovers(&s.client).await;
    let w = whatif(
        &s.client,
        v,
        Stmt::Generic(GENERIC),
        &ddls(&["CREATE INDEX ON big (cust, id)"]),
    )
    .await
    .unwrap();
    assert_eq!(w.used, vec![true], "the leftover index must not be used");
    assert_eq!(hypo_count(&s.client).await, 0);
    assert_eq!(prepared_count(&s.client).await, 0);
    // reset() removes both as well.
    leave_leftovers(&s.client).await;
    whatif::reset(&s.client).await.unwrap();
    assert_eq!(hypo_count(&s.client).await, 0);
    assert_eq!(prepared_count(&s.client).await, 0);
}

/// What a cancelled what-if whose batch then failed on the server leaves behind.
async fn leave_leftovers(c: &Client) {
    c.batch_execute(
        "SELECT hypopg_create_index('CREATE INDEX ON big (cust)'); \
         PREPARE optidb_plan AS SELECT 1",
    )
    .await
    .unwrap();
}

async fn prepared_count(c: &Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_prepared_statements WHERE name = 'optidb_plan'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

fn query(norm: &str, raw: &str) -> Query {
    Query {
        id: optidb_core::sql::fingerprint_only(norm).unwrap(),
        fingerprint: String::new(),
        raw_sql: raw.into(),
        raw_has_values: !raw.is_empty(),
        norm_sql: norm.into(),
        first_seen: 0,
        last_seen: 0,
        pgss_queryids: vec![],
    }
}

fn req<'a>(
    q: &'a Query,
    ddl: &'a str,
    mode: Mode,
    sandbox: bool,
    t: &'a TableSizes,
) -> SimRequest<'a> {
    SimRequest {
        target: "t1",
        query: q,
        mean_ms: Some(20.0),
        rec_id: "",
        ddl,
        mode,
        target_is_sandbox: sandbox,
        tables: t,
    }
}

#[tokio::test]
async fn a_hypopg_simulation_estimates_after_ms_from_costs() {
    let s = session().await;
    let sim = Simulator::new(SimConfig::default());
    let t = TableSizes::default();
    let q = query(GENERIC, "");
    let out = sim
        .simulate(
            &s.client,
            s.server_version_num,
            &req(&q, INDEX, Mode::Hypopg, false, &t),
        )
        .await
        .unwrap();
    assert_eq!(out.mode, "hypopg");
    assert!(out.after_is_estimate && out.index_used);
    assert_eq!(out.before_ms, 20.0);
    assert!(out.after_ms < 4.0, "{}", out.after_ms);
    assert!(out.improvement_pct > 80.0);
    assert_eq!(out.id.len(), 16);
    assert!(!out.plan_changes.iter().any(|l| l == NO_CHANGE));
    // No measured mean: the real-value sample's EXPLAIN ANALYZE is the before_ms.
    let q2 = query(GENERIC, "SELECT * FROM big WHERE cust = 7");
    let mut r = req(&q2, INDEX, Mode::Hypopg, false, &t);
    r.mean_ms = None;
    let out = sim
        .simulate(&s.client, s.server_version_num, &r)
        .await
        .unwrap();
    assert!(
        out.before_ms > 0.0 && out.after_ms < out.before_ms,
        "{out:?}"
    );
    // An index the plan does not use: floored to no change.
    let out = sim
        .simulate(
            &s.client,
            s.server_version_num,
            &req(&q, "CREATE INDEX ON big (note)", Mode::Hypopg, false, &t),
        )
        .await
        .unwrap();
    assert_eq!(out.improvement_pct, 0.0);
    assert_eq!(out.after_ms, out.before_ms);
    assert_eq!(out.plan_changes[0], NO_CHANGE);
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn real_mode_only_on_sandboxes_and_always_rolled_back() {
    let t = TableSizes::default();
    let q = query(GENERIC, "SELECT * FROM big WHERE cust = 9");
    let sim = Simulator::new(SimConfig::default());
    let e = sim
        .precheck(&req(&q, INDEX, Mode::Real, false, &t))
        .unwrap_err();
    assert!(matches!(e, SimError::Refused(_)), "{e:?}");
    assert!(e.to_string().contains("sandbox"));
    let s = session().await;
    let out = sim
        .simulate(
            &s.client,
            s.server_version_num,
            &req(
                &q,
                "CREATE INDEX CONCURRENTLY real_cust ON big (cust)",
                Mode::Real,
                true,
                &t,
            ),
        )
        .await
        .unwrap();
    assert_eq!(out.mode, "real");
    assert!(!out.after_is_estimate);
    assert!(out.after_ms < out.before_ms, "{out:?}");
    assert!(out.improvement_pct > 50.0, "{out:?}");
    let n: i64 = s
        .client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'real_cust'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the real index must be rolled back");
}

#[test]
fn the_rate_limit_is_per_target_and_per_minute() {
    let sim = Simulator::new(SimConfig {
        per_minute: 3,
        ..SimConfig::default()
    });
    for _ in 0..3 {
        sim.take_token("a").unwrap();
    }
    assert_eq!(sim.take_token("a"), Err(SimError::RateLimited(3)));
    sim.take_token("b").unwrap();
}

#[test]
fn improvements_are_floored() {
    assert_eq!(whatif::floored_improvement(100.0, 97.0), 0.0);
    assert_eq!(whatif::floored_improvement(100.0, 120.0), 0.0);
    assert_eq!(whatif::floored_improvement(0.0, 0.0), 0.0);
    assert_eq!(whatif::floored_improvement(f64::NAN, 1.0), 0.0);
    assert_eq!(whatif::floored_improvement(100.0, 10.0), 90.0);
}

#[tokio::test]
async fn a_workload_simulation_weights_savings_by_calls() {
    let s = session().await;
    let q1 = query(GENERIC, "");
    let q2 = query("SELECT * FROM small WHERE id = $1", "");
    let q3 = query("SELECT * FROM big WHERE nope = $1", "");
    let wq = [
        WorkloadQuery {
            query: &q1,
            mean_ms: Some(10.0),
            calls: 100,
        },
        WorkloadQuery {
            query: &q2,
            mean_ms: Some(0.1),
            calls: 1000,
        },
        WorkloadQuery {
            query: &q3,
            mean_ms: Some(1.0),
            calls: 5,
        },
    ];
    let w = simulate_workload(
        &s.client,
        s.server_version_num,
        &wq,
        &ddls(&[INDEX, "CREATE INDEX ON big (note)"]),
    )
    .await
    .unwrap();
    assert_eq!(w.lines.len(), 3);
    let l1 = &w.lines[0];
    assert_eq!(l1.used, vec![true, false]);
    assert!(l1.improvement_pct > 80.0 && l1.after_ms < 2.0, "{l1:?}");
    // small is served by its primary key already: no gain claimed.
    assert_eq!(w.lines[1].improvement_pct, 0.0);
    assert_eq!(w.lines[1].after_ms, 0.1);
    // An unplannable query is reported and carries on.
    assert!(w.lines[2].error.as_deref().unwrap().contains("nope"));
    let expect = 100.0 * (10.0 - l1.after_ms);
    assert!(
        (w.saved_ms - expect).abs() < 1e-6,
        "{} vs {expect}",
        w.saved_ms
    );
    assert!((w.affected_ms - (1000.0 + 100.0 + 5.0)).abs() < 1e-6);
    assert_eq!(hypo_count(&s.client).await, 0);
}

/// Regenerates `src/simulate/fixtures/*.json` (the label tests' real EXPLAIN JSON):
/// `cargo test -p optidb --lib write_label_fixtures -- --ignored`.
#[tokio::test]
#[ignore]
async fn write_label_fixtures() {
    let s = session().await;
    let dir = format!("{}/src/simulate/fixtures", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql, ddl) in [
        (
            "sort",
            "SELECT * FROM big WHERE cust = $1 ORDER BY note LIMIT 10",
            "CREATE INDEX ON big (cust, note)",
        ),
        ("bitmap", "SELECT * FROM big WHERE cust = $1", INDEX),
        (
            "join",
            "SELECT * FROM small s JOIN big b ON b.cust = s.id WHERE s.id < 5",
            INDEX,
        ),
    ] {
        let w = whatif(
            &s.client,
            s.server_version_num,
            Stmt::Generic(sql),
            &ddls(&[ddl]),
        )
        .await
        .unwrap();
        for (suffix, plan) in [("before", &w.before_plan), ("after", &w.after_plan)] {
            std::fs::write(
                format!("{dir}/{name}_{suffix}.json"),
                serde_json::to_string_pretty(plan).unwrap() + "\n",
            )
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_cancelled_service_simulation_closes_its_connection() {
    let mut target = TargetConfig::new(sandbox().url());
    target.statement_timeout = Duration::from_secs(10);
    let svc = pool::SimService::new(
        target,
        SimConfig {
            max_concurrent: 1,
            ..SimConfig::default()
        },
        false,
    );
    let t = TableSizes::default();
    let slow = query(
        "SELECT * FROM big WHERE id = trap_sleep(5) AND cust = $1",
        "",
    );
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        svc.simulate(&req(&slow, INDEX, Mode::Hypopg, false, &t)),
    )
    .await;
    assert!(r.is_err(), "should have been cancelled");
    // The statement is cancelled and the backend (with its hypothetical index) goes away.
    let s = session().await;
    let t0 = std::time::Instant::now();
    loop {
        let n: i64 = s
            .client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%trap_sleep(5)%' \
                 AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n == 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "backend still busy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The slot reconnects and works.
    let q = query(GENERIC, "");
    let out = svc
        .simulate(&req(&q, INDEX, Mode::Hypopg, false, &t))
        .await
        .unwrap();
    assert!(out.index_used);
}

#[tokio::test]
async fn simulations_are_stored_per_query() {
    let s = session().await;
    let sim = Simulator::new(SimConfig::default());
    let t = TableSizes::default();
    let q = query(GENERIC, "");
    let out = sim
        .simulate(
            &s.client,
            s.server_version_num,
            &req(&q, INDEX, Mode::Hypopg, false, &t),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path()).unwrap();
    let target = store.register_target(&sandbox().url()).unwrap();
    store.put_simulation(&target, &out).unwrap();
    let mut later = out.clone();
    later.ran_at += 1;
    later.id = sim_id(&q.id, INDEX, later.ran_at);
    store.put_simulation(&target, &later).unwrap();
    let got = store.simulations(&target, &q.id, 10).unwrap();
    assert_eq!(got, vec![out, later]);
    assert!(store
        .simulations(&target, "ffffffffffffffff", 10)
        .unwrap()
        .is_empty());
}

// ---- the batch runner and plan steps the what-if is built on (collect::batch, collect::plans)

#[tokio::test]
async fn a_batch_answers_per_statement_and_says_which_one_failed() {
    use crate::collect::batch;
    let s = session().await;
    let stmts = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let rows = batch::run(
        &s.client,
        &stmts(&[
            "SET statement_timeout = 5000",
            "SELECT 1, NULL",
            "SELECT 2 -- c",
        ]),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].is_empty());
    assert_eq!(rows[1], vec![vec![Some("1".to_string()), None]]);
    assert_eq!(rows[2], vec![vec![Some("2".to_string())]]);

    let f = batch::run(
        &s.client,
        &stmts(&["SELECT 1", "SELECT 2", "SELECT nope FROM big", "SELECT 4"]),
    )
    .await
    .unwrap_err();
    assert_eq!(f.at, 2, "{:?}", f.error);
    // The connection is usable afterwards and not left in a transaction.
    let rows = batch::run(&s.client, &stmts(&["SELECT 5"])).await.unwrap();
    assert_eq!(rows[0], vec![vec![Some("5".to_string())]]);
}

#[tokio::test]
async fn a_timeout_set_inside_a_batch_applies_to_the_statements_after_it() {
    use crate::collect::batch;
    let s = session().await;
    let f = batch::run(
        &s.client,
        &[
            "BEGIN READ ONLY".to_string(),
            "SET LOCAL statement_timeout = 100".to_string(),
            "SELECT pg_sleep(3)".to_string(),
            "ROLLBACK".to_string(),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(f.at, 2);
    assert!(matches!(SimError::from_pg(f.error), SimError::Timeout(_)));
    s.client.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn generic_plans_count_parameters_and_survive_a_stale_prepared_statement() {
    use crate::collect::plans;
    let s = session().await;
    let v = s.server_version_num;
    s.client
        .batch_execute("PREPARE optidb_plan AS SELECT 1")
        .await
        .unwrap();
    let plan = plans::generic_plan(
        &s.client,
        v,
        "SELECT * FROM big WHERE cust = $1 AND note <> '$9' AND id > $2 -- $7",
    )
    .await
    .unwrap();
    assert!(whatif::root_cost(&plan).is_some(), "{plan}");
    assert_eq!(prepared_count(&s.client).await, 0);
    // A planner error leaves nothing behind either, and says why.
    let e = plans::generic_plan(&s.client, v, "SELECT * FROM big WHERE nope = $1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    assert_eq!(prepared_count(&s.client).await, 0);
    // Two statements are refused before anything is sent.
    let e = plans::generic_plan(&s.client, v, "SELECT 1; SELECT 2")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exactly one"), "{e}");
    // EXPLAIN ANALYZE of a sample that fails is rolled back: no transaction stays open.
    let e = plans::analyzed_plan(&s.client, "SELECT 1 / 0", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("division by zero"), "{e}");
    // (In a transaction left open after the error, this would fail: "current transaction is
    // aborted".)
    s.client
        .batch_execute("SELECT 1")
        .await
        .expect("the failed EXPLAIN ANALYZE was rolled back");
}
