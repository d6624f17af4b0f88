//! Simulator tests against a real sandbox PostgreSQL (no mocks): what-if results, no
//! hypothetical state left after success, planner error, timeout and cancellation, the safety
//! rails, real mode, and the generator of the label fixtures.

use super::*;
use crate::pg::{connect, TargetConfig};
use crate::sandbox::{Sandbox, SandboxOptions};
use std::sync::OnceLock;
use tokio_postgres::Client;

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
    session_with_timeout(Duration::from_secs(10)).await
}

async fn session_with_timeout(statement_timeout: Duration) -> Session {
    let mut t = TargetConfig::sandbox(sandbox().url());
    t.statement_timeout = statement_timeout;
    connect(&t).await.expect("connect")
}

async fn hypo_count(c: &Client) -> i64 {
    c.query_one("SELECT count(*) FROM public.hypopg_list_indexes", &[])
        .await
        .unwrap()
        .get(0)
}

fn ddls(d: &[&str]) -> Vec<ValidatedDdl> {
    d.iter().map(|s| ddl::validate(s).unwrap()).collect()
}

#[tokio::test]
async fn generic_whatif_finds_the_index_and_cleans_up() {
    let s = session().await;
    let w = whatif(&s, Stmt::Generic(GENERIC), &ddls(&[INDEX]))
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
    let again = whatif(&s, Stmt::Generic(GENERIC), &ddls(&[INDEX]))
        .await
        .unwrap();
    assert_eq!(again.used, vec![true]);
    assert_eq!(hypo_count(&s.client).await, 0);
}

#[tokio::test]
async fn sample_whatif_and_hypopg_ddl_normalization() {
    let s = session().await;
    let w = whatif(
        &s,
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
        &s,
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
    for bad in [
        "DROP TABLE big",
        "CREATE INDEX ON big (cust); DROP TABLE big",
    ] {
        let e = ddl::validate(bad).unwrap_err();
        assert!(matches!(e, SimError::BadDdl(_)), "{e:?}");
    }
    let e = whatif(&s, Stmt::Generic(GENERIC), &[]).await.unwrap_err();
    assert!(matches!(e, SimError::BadDdl(_)), "{e:?}");
    let e = whatif(
        &s,
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
    // Fails in the "after" step, with the hypothetical index in place.
    let e = whatif(
        &s,
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
        &s,
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
        &s,
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
    let s = session_with_timeout(Duration::from_millis(300)).await;
    let e = whatif(
        &s,
        Stmt::Generic("SELECT * FROM big WHERE id = trap_sleep(3) AND cust = $1"),
        &ddls(&[INDEX]),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SimError::Timeout(_)), "{e:?}");
    assert_eq!(hypo_count(&s.client).await, 0);
    assert!(
        s.is_usable(),
        "a statement timeout inside a unit is cleaned up"
    );
}

#[tokio::test]
async fn after_a_dropped_whatif_the_session_is_clean() {
    let s = session().await;
    let slow = "SELECT * FROM big WHERE id = trap_sleep(1) AND cust = $1";
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        whatif(&s, Stmt::Generic(slow), &ddls(&[INDEX])),
    )
    .await;
    assert!(r.is_err(), "the what-if should have been dropped");
    // The whole unit, clean-up included, was sent at once: the server finishes it.
    assert_eq!(hypo_count(&s.client).await, 0);
    assert_eq!(prepared_count(&s.client).await, 0);
    let w = whatif(&s, Stmt::Generic(GENERIC), &ddls(&[INDEX]))
        .await
        .unwrap();
    assert_eq!(w.used, vec![true]);
    assert!(s.is_usable());
}

#[tokio::test]
async fn state_left_by_someone_else_makes_the_session_unusable() {
    let s = session().await;
    // A hypothetical index and a prepared statement that no unit of ours made.
    s.client
        .batch_execute(
            "SELECT public.hypopg_create_index('CREATE INDEX ON public.big (cust)'); \
             PREPARE optidb_plan AS SELECT 1",
        )
        .await
        .unwrap();
    let w = whatif(
        &s,
        Stmt::Generic(GENERIC),
        &ddls(&["CREATE INDEX ON big (cust, id)"]),
    )
    .await
    .unwrap();
    assert_eq!(
        w.used,
        vec![true],
        "the stray index was reset before planning"
    );
    assert_eq!(hypo_count(&s.client).await, 0);
    assert!(
        !s.is_usable(),
        "a session with a prepared statement nobody accounts for must be replaced"
    );
}

async fn prepared_count(c: &Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_prepared_statements WHERE from_sql",
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
        client: "",
        query: q,
        mean_ms: Some(20.0),
        rec_id: "",
        ddl,
        mode,
        target_is_sandbox: sandbox,
        analyze_samples: sandbox,
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
        .simulate(&s, &req(&q, INDEX, Mode::Hypopg, false, &t))
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
    let mut r = req(&q2, INDEX, Mode::Hypopg, true, &t);
    r.mean_ms = None;
    let out = sim.simulate(&s, &r).await.unwrap();
    assert!(
        out.before_ms > 0.0 && out.after_ms < out.before_ms,
        "{out:?}"
    );
    // An index the plan does not use: floored to no change.
    let out = sim
        .simulate(
            &s,
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
            &s,
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
        sim.take_token("a", "").unwrap();
    }
    assert_eq!(sim.take_token("a", ""), Err(SimError::RateLimited(3)));
    sim.take_token("b", "").unwrap();
}

#[test]
fn one_client_cannot_use_a_targets_whole_budget() {
    let sim = Simulator::new(SimConfig {
        per_minute: 4,
        per_client_per_minute: 2,
        ..SimConfig::default()
    });
    sim.take_token("a", "10.0.0.1").unwrap();
    sim.take_token("a", "10.0.0.1").unwrap();
    assert_eq!(
        sim.take_token("a", "10.0.0.1"),
        Err(SimError::ClientRateLimited(2))
    );
    // Another client still has its share, until the target's budget is used up.
    sim.take_token("a", "10.0.0.2").unwrap();
    sim.take_token("a", "10.0.0.2").unwrap();
    assert_eq!(
        sim.take_token("a", "10.0.0.3"),
        Err(SimError::RateLimited(4))
    );
    // A client's share is per target.
    sim.take_token("b", "10.0.0.1").unwrap();
}

#[test]
fn many_clients_do_not_grow_the_buckets_without_bound() {
    let sim = Simulator::new(SimConfig {
        per_minute: 1_000_000,
        per_client_per_minute: 10,
        ..SimConfig::default()
    });
    for i in 0..(MAX_BUCKETS * 2) {
        sim.take_token("a", &format!("client-{i}")).unwrap();
    }
    let n = sim.buckets.lock().unwrap().len();
    assert!(n <= MAX_BUCKETS + 2, "{n}");
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
    let w = simulate_workload(&s, &wq, &ddls(&[INDEX, "CREATE INDEX ON big (note)"]))
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
        let w = whatif(&s, Stmt::Generic(sql), &ddls(&[ddl])).await.unwrap();
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
    let mut target = TargetConfig::sandbox(sandbox().url());
    target.statement_timeout = Duration::from_secs(10);
    let svc = pool::SimService::new(
        target,
        SimConfig {
            max_concurrent: 1,
            ..SimConfig::default()
        },
        false,
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
        .simulate(&s, &req(&q, INDEX, Mode::Hypopg, false, &t))
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

// ---- what the what-if is built on: pipelines, units and plans (crate::pg)

#[tokio::test]
async fn a_pipeline_answers_per_statement_and_a_failure_does_not_stop_the_rest() {
    use crate::pg::pipeline::{self, Param, Step};
    let s = session().await;
    let answers = pipeline::run(
        &s.client,
        &[
            Step::new("SELECT 1::int4, NULL::text"),
            Step::new("SELECT nope FROM big"),
            Step::new("SELECT $1::text || 'b'").param(Param::Text("a".into())),
        ],
    )
    .await;
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].as_ref().unwrap()[0].get::<_, i32>(0), 1);
    assert!(answers[1].is_err());
    assert_eq!(answers[2].as_ref().unwrap()[0].get::<_, String>(0), "ab");
    // One Parse per statement: PostgreSQL refuses a text with two commands.
    let answers = pipeline::run(&s.client, &[Step::new("SELECT 1; SELECT 2")]).await;
    let e = answers[0].as_ref().unwrap_err();
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("multiple commands"), "{e:?}");
}

#[tokio::test]
async fn a_unit_stops_at_the_first_error_and_rolls_back() {
    use crate::pg::pipeline::Step;
    use crate::pg::unit::{Access, Unit, UnitError};
    let s = session().await;
    let mut u = Unit::new(Access::ReadOnly);
    u.set_statement_timeout(Duration::from_millis(100));
    u.push(Step::new("SELECT 1"));
    u.push(Step::new("SELECT pg_sleep(3)"));
    u.push(Step::new("SELECT 3"));
    match u.run(&s).await {
        Err(UnitError::Step { at, error }) => {
            assert_eq!(at, 1);
            assert!(matches!(SimError::from_pg(error), SimError::Timeout(_)));
        }
        other => panic!("{other:?}"),
    }
    assert!(s.is_usable());
    let in_tx: String = s
        .client
        .query_one("SELECT current_setting('transaction_read_only')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_tx, "on");
}

#[tokio::test]
async fn generic_plans_count_parameters_and_leave_nothing_behind() {
    use crate::pg::explain;
    let s = session().await;
    let plan = explain::generic_plan(
        &s,
        "SELECT * FROM big WHERE cust = $1 AND note <> '$9' AND id > $2 -- $7",
    )
    .await
    .unwrap();
    assert!(whatif::root_cost(&plan).is_some(), "{plan}");
    assert_eq!(prepared_count(&s.client).await, 0);
    // A planner error leaves nothing behind either, and says why.
    let e = explain::generic_plan(&s, "SELECT * FROM big WHERE nope = $1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    assert_eq!(prepared_count(&s.client).await, 0);
    assert!(s.is_usable());
    // Two statements are refused before anything is sent.
    let e = explain::generic_plan(&s, "SELECT 1; SELECT 2")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exactly one"), "{e}");
    // EXPLAIN ANALYZE of a sample that fails is rolled back on its own connection.
    let e = explain::analyzed_plan(&s.target, "SELECT 1 / 0", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("division by zero"), "{e}");
}
