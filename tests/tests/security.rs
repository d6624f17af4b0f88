//! OptiDB pointed at a database where an attacker has an ordinary role (`mallory`) that owns its
//! own schema and database (docs/security.md). Every attack below was once reproduced against
//! OptiDB; each test runs the real daemon against a real PostgreSQL and checks that nothing ran
//! as OptiDB's role, nothing was written, and no lock, session or file was left behind.
//!
//! Detector: mallory's functions log `optidb-canary … session=<role>` as a WARNING before
//! trying to do harm, so the server log tells whether any of them ever ran in OptiDB's session,
//! whatever the transaction did afterwards.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{get, post_empty, post_json, Daemon};
use serde_json::json;
use std::time::{Duration, Instant};

const DB: &str = "mallorydb";

/// A sandbox with database `mallorydb` owned by `mallory`, OptiDB's least-privileged roles and
/// plan helper in it, a victim table mallory cannot touch, and mallory's traps.
struct Lab {
    sb: Sandbox,
}

impl Lab {
    fn new() -> Lab {
        let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
        sb.batch_execute("CREATE ROLE mallory LOGIN").unwrap();
        sb.batch_execute(&format!("CREATE DATABASE {DB} OWNER mallory"))
            .unwrap();
        let lab = Lab { sb };
        let pwned = lab.sb.root_dir().join("pwned");
        lab.superuser(
            "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg; CREATE EXTENSION dblink;
             CREATE TABLE public.victim (id int PRIMARY KEY, v text NOT NULL);
             INSERT INTO public.victim VALUES (1, 'original'), (2, 'original');
             CREATE TABLE public.items (id int PRIMARY KEY, cat int NOT NULL, note text);
             INSERT INTO public.items SELECT g, g % 100, md5(g::text) FROM generate_series(1, 20000) g;
             ANALYZE public.items;
             GRANT SELECT ON public.items TO mallory;
             CREATE TABLE public.dbl_log (n int);
             CREATE SCHEMA mallory AUTHORIZATION mallory;"
        );
        lab.sb.optidb_url_for(DB).expect("OptiDB's roles");
        // Everything below is mallory's own doing.
        lab.mallory(&format!(
            r#"
            CREATE FUNCTION mallory.canary(what text) RETURNS int LANGUAGE plpgsql VOLATILE AS $f$
            BEGIN
              RAISE WARNING 'optidb-canary % session=% user=%', what, session_user, current_user;
              BEGIN
                UPDATE public.victim SET v = session_user WHERE id = 1;
              EXCEPTION WHEN OTHERS THEN NULL;
              END;
              BEGIN
                EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {pwned}''';
              EXCEPTION WHEN OTHERS THEN NULL;
              END;
              RETURN 1;
            END $f$;
            CREATE FUNCTION mallory.liar() RETURNS int LANGUAGE plpgsql IMMUTABLE
              AS $f$ BEGIN RETURN mallory.canary('immutable'); END $f$;
            CREATE FUNCTION mallory.liar_check(v int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
              AS $f$ BEGIN RETURN mallory.canary('domain') = 1; END $f$;
            CREATE FUNCTION mallory.evil() RETURNS int LANGUAGE plpgsql VOLATILE
              AS $f$ BEGIN RETURN mallory.canary('volatile'); END $f$;
            CREATE VIEW mallory.v AS SELECT id, cat FROM public.items WHERE id > mallory.liar();
            CREATE DOMAIN mallory.d AS int CHECK (mallory.liar_check(VALUE));
            CREATE TABLE mallory.t_dom (a mallory.d, b int DEFAULT mallory.liar());
            CREATE TABLE mallory.t_idx (id int, cat int);
            INSERT INTO mallory.t_idx SELECT g, g % 10 FROM generate_series(1, 5000) g;
            CREATE INDEX t_idx_partial ON mallory.t_idx (cat) WHERE mallory.liar() = 1;
            ANALYZE mallory.t_idx;
            CREATE TABLE mallory.t_pol (id int);
            ALTER TABLE mallory.t_pol ENABLE ROW LEVEL SECURITY;
            CREATE POLICY p ON mallory.t_pol USING (mallory.liar() = 1);
            GRANT SELECT ON mallory.t_pol TO PUBLIC;
            "#,
            pwned = pwned.display()
        ));
        lab
    }

    fn url_as(&self, role: &str) -> String {
        self.sb
            .url_for(DB)
            .replacen("postgres@", &format!("{role}@"), 1)
    }

    fn optidb_url(&self) -> String {
        self.url_as("optidb")
    }

    fn superuser(&self, sql: &str) {
        exec(&self.sb.url_for(DB), sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    fn mallory(&self, sql: &str) {
        exec(&self.url_as("mallory"), sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    /// Canary lines of sessions other than mallory's: functions that ran as someone else.
    fn foreign_runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.sb.log_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("optidb-canary") && !l.contains("session=mallory"))
            .map(str::to_string)
            .collect()
    }

    fn victim(&self) -> Vec<String> {
        query_strings(
            &self.sb.url_for(DB),
            "SELECT v FROM public.victim ORDER BY id",
        )
    }

    /// Everything an attack must leave as it found it.
    fn assert_untouched(&self, d: &Daemon) {
        let runs = self.foreign_runs();
        assert!(
            runs.is_empty(),
            "mallory's code ran outside her session:\n{}",
            runs.join("\n")
        );
        assert_eq!(
            self.victim(),
            ["original", "original"],
            "the victim was written"
        );
        assert!(
            !self.sb.root_dir().join("pwned").exists(),
            "a shell command ran as the postgres OS user"
        );
        // No OptiDB session holds a lock or sits in a transaction.
        let left = query_strings(
            &self.sb.url_for(DB),
            "SELECT l.locktype || ' ' || a.state FROM pg_locks l \
               JOIN pg_stat_activity a ON a.pid = l.pid \
              WHERE a.application_name = 'optidb' AND l.locktype = 'advisory' \
             UNION ALL \
             SELECT 'session ' || state FROM pg_stat_activity \
              WHERE application_name = 'optidb' AND state LIKE 'idle in transaction%'",
        );
        assert!(left.is_empty(), "left behind: {left:?}\n{}", d.stderr());
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `sql` (several statements allowed: the test's own text) as the URL's role.
fn exec(url: &str, sql: &str) -> Result<(), String> {
    exec_each(url, &[sql])
}

/// Runs each statement as its own message on one connection, so pg_stat_activity shows each
/// one alone (a multi-statement message shows as one text).
fn exec_each(url: &str, statements: &[&str]) -> Result<(), String> {
    runtime().block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        for s in statements {
            c.batch_execute(s).await.map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    })
}

fn query_strings(url: &str, sql: &str) -> Vec<String> {
    runtime().block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
            .collect()
    })
}

fn scan(d: &Daemon) -> serde_json::Value {
    let a = post_empty(&d.url("/scan")).unwrap();
    assert_eq!(a.status, 200, "{}\n{}", a.body, d.stderr());
    a.body
}

/// How many real-value samples the daemon's sampler has kept.
fn samples_seen(d: &Daemon) -> u64 {
    get(&d.url("/health")).unwrap().body["real_value_samples"]
        .as_u64()
        .unwrap_or(0)
}

/// Every stored plan error of the latest scan, as text.
fn plan_errors(d: &Daemon) -> String {
    let rows = get(&d.url("/bottlenecks?limit=100")).unwrap().body;
    let mut out = String::new();
    for r in rows.as_array().cloned().unwrap_or_default() {
        let id = r["query_id"].as_str().unwrap_or_default();
        let q = get(&d.url(&format!("/queries/{id}"))).unwrap().body;
        out.push_str(&q["plan_errors"].to_string());
        out.push('\n');
    }
    out
}

/// The statements mallory runs so they are in pg_stat_statements: her functions in a WHERE
/// clause, in a view, in a domain and a column default (an INSERT), in a partial index, in a
/// row-level security policy, and a VOLATILE one in the select list.
fn mallory_workload(lab: &Lab) {
    for i in 0..3 {
        lab.mallory(&format!(
            "SELECT * FROM public.items WHERE id = mallory.liar() AND cat = {i};
             SELECT * FROM mallory.v WHERE cat = {i};
             INSERT INTO mallory.t_dom (a) VALUES ({i});
             SELECT * FROM mallory.t_idx WHERE cat = {i};
             SELECT * FROM mallory.t_pol WHERE id = {i};
             SELECT mallory.evil(), * FROM public.items WHERE cat = {i};"
        ));
    }
}

#[test]
fn foreign_functions_never_run_as_optidb() {
    let lab = Lab::new();
    mallory_workload(&lab);
    // The least-privileged setup, EXPLAIN ANALYZE of samples opted in (the strictest test of
    // the sampler: it still must execute nothing of mallory's).
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &lab.optidb_url(),
        store.path(),
        &["--sample-interval-ms", "10", "--analyze-samples"],
    );
    mallory_workload(&lab);
    // A slow statement with a VOLATILE function of hers, long enough for the sampler to see it:
    // EXPLAIN ANALYZE of it would run the function.
    lab.mallory("SELECT mallory.evil(), pg_sleep(1.2)");
    scan(&d);
    scan(&d);
    assert!(
        samples_seen(&d) > 0,
        "the sampler never saw mallory's statement"
    );
    let errors = plan_errors(&d);
    for reached in ["mallory.liar()", "view mallory.v", "mallory.liar_check"] {
        assert!(
            errors.contains(reached),
            "{reached} not reported:\n{errors}"
        );
    }
    assert!(errors.contains("which OptiDB does not run"), "{errors}");
    lab.assert_untouched(&d);
    drop(d);

    // The worst case: an operator who insists on a superuser login. The same statements are
    // still not planned, so nothing runs with a superuser's rights either.
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &lab.sb.url_for(DB),
        store.path(),
        &[
            "--sample-interval-ms",
            "10",
            "--allow-superuser",
            "--analyze-samples",
        ],
    );
    mallory_workload(&lab);
    scan(&d);
    lab.assert_untouched(&d);
    let h = get(&d.url("/health")).unwrap().body;
    assert_eq!(h["security"]["superuser"], true, "{h}");
    assert!(
        h["security"]["warnings"].to_string().contains("superuser"),
        "{h}"
    );
    // The dashboard says so on every page.
    let page = get(&d.url("/")).unwrap().body;
    let page = page.as_str().unwrap_or_default();
    assert!(
        page.contains("class=\"warning\"") && page.contains("a superuser"),
        "{page}"
    );
}

#[test]
fn index_ddl_with_foreign_functions_is_refused() {
    let lab = Lab::new();
    lab.mallory(
        "SELECT * FROM public.items WHERE cat = 3; SELECT * FROM public.items WHERE cat = 4;",
    );
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &lab.optidb_url(),
        store.path(),
        &["--sample-interval-ms", "0"],
    );
    scan(&d);
    let id =
        optidb_core::sql::fingerprint_only("SELECT * FROM public.items WHERE cat = 1").unwrap();
    for ddl in [
        "CREATE INDEX ON public.items (cat) WHERE mallory.liar() = 1",
        "CREATE INDEX ON public.items ((cat + mallory.liar()))",
    ] {
        let a = post_json(&d.url("/simulate"), &json!({"query_id": id, "ddl": ddl})).unwrap();
        assert_eq!(a.status, 422, "{ddl}: {}", a.body);
        let why = a.body["why"].as_str().unwrap_or_default();
        assert!(why.contains("mallory.liar()"), "{why}");
        assert!(!a.body["hint"].as_str().unwrap_or_default().is_empty());
    }
    // A built-in expression is fine.
    let a = post_json(
        &d.url("/simulate"),
        &json!({"query_id": id, "ddl": "CREATE INDEX ON public.items (abs(cat))"}),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    lab.assert_untouched(&d);
}

/// The SQL injection through the sampler: a database whose default is
/// `standard_conforming_strings = off`, a statement that pg_query reads as one harmless SELECT
/// and a server with that setting reads as several.
#[test]
fn samples_cannot_inject_statements() {
    let lab = Lab::new();
    lab.mallory(&format!(
        "ALTER DATABASE {DB} SET standard_conforming_strings = off"
    ));
    let store = tempfile::tempdir().unwrap();
    // A superuser login (the worst case: the injected UPDATE would succeed) with EXPLAIN ANALYZE
    // of samples on (the path that pasted samples into a multi-statement message).
    let d = Daemon::start(
        &lab.sb.url_for(DB),
        store.path(),
        &[
            "--sample-interval-ms",
            "10",
            "--allow-superuser",
            "--analyze-samples",
        ],
    );
    let attack = [
        "SET standard_conforming_strings = on",
        r#"SELECT 'x\', pg_sleep(1.5), '; COMMIT; BEGIN READ WRITE; UPDATE public.victim SET v = current_user WHERE id = 2; COMMIT; BEGIN --'"#,
    ];
    for _ in 0..2 {
        exec_each(&lab.url_as("mallory"), &attack).unwrap();
        scan(&d);
    }
    assert!(samples_seen(&d) > 0, "the sampler never saw the attack");
    lab.assert_untouched(&d);
}

/// Functions the operator trusts still cannot change OptiDB's session: a setting changed at
/// plan time is rolled back with the unit, an advisory lock is released after it.
#[test]
fn trusted_functions_cannot_change_the_session() {
    let lab = Lab::new();
    lab.mallory(
        r#"
        CREATE FUNCTION mallory.flip() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN
          PERFORM set_config('default_transaction_read_only', 'off', false);
          PERFORM set_config('statement_timeout', '0', false);
          PERFORM set_config('search_path', 'mallory, public', false);
          RETURN 1; END $f$;
        CREATE FUNCTION mallory.grab() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN
          PERFORM pg_advisory_lock(777001);
          RETURN 1; END $f$;
        CREATE FUNCTION mallory.probe() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN
          IF session_user <> 'mallory' THEN
            RAISE EXCEPTION 'probe ro=% st=% path=%',
              current_setting('default_transaction_read_only'),
              current_setting('statement_timeout'), current_setting('search_path');
          END IF;
          RETURN 1; END $f$;
        SELECT * FROM public.items WHERE id = mallory.flip();
        SELECT * FROM public.items WHERE id = mallory.grab() AND cat = 1;
        SELECT pg_advisory_unlock_all();
        SELECT * FROM public.items WHERE id = mallory.probe() AND cat = 2;
        "#,
    );
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &lab.optidb_url(),
        store.path(),
        &[
            "--sample-interval-ms",
            "0",
            "--trusted-functions",
            "mallory.flip,mallory.grab,mallory.probe",
        ],
    );
    scan(&d);
    scan(&d);
    let errors = plan_errors(&d);
    assert!(errors.contains("probe ro=on"), "{errors}");
    assert!(!errors.contains("st=0"), "{errors}");
    assert!(!errors.contains("path=mallory"), "{errors}");
    // The lock the function took is gone; anyone can take it.
    let got = query_strings(
        &lab.sb.url_for(DB),
        "SELECT pg_try_advisory_lock(777001)::text",
    );
    assert_eq!(got, ["true"]);
    // Still read-only: the next scan cannot have written (nothing else did).
    lab.assert_untouched(&d);
}

/// The application's own side effects are never replayed: an advisory lock and a dblink
/// insert in sampled statements (EXPLAIN ANALYZE opted in).
#[test]
fn sampled_side_effects_are_not_replayed() {
    let lab = Lab::new();
    let port = lab.sb.port();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &lab.optidb_url(),
        store.path(),
        &["--sample-interval-ms", "10", "--analyze-samples"],
    );
    let app = lab.sb.url_for(DB);
    let dblink = format!(
        "SELECT dblink_exec('host=127.0.0.1 port={port} dbname={DB} user=postgres', \
         'INSERT INTO public.dbl_log VALUES (1)'), pg_sleep(1.2)"
    );
    for _ in 0..2 {
        exec_each(
            &app,
            &[
                "SELECT pg_advisory_lock(777002), pg_sleep(1.2)",
                "SELECT pg_advisory_unlock(777002)",
                &dblink,
            ],
        )
        .unwrap();
        scan(&d);
    }
    assert!(
        samples_seen(&d) >= 1,
        "the sampler never saw the statements"
    );
    assert_eq!(
        query_strings(&app, "SELECT count(*)::text FROM public.dbl_log"),
        ["2"],
        "the dblink insert ran more often than the application ran it"
    );
    assert_eq!(
        query_strings(&app, "SELECT pg_try_advisory_lock(777002)::text"),
        ["true"],
        "an OptiDB session kept the application's advisory lock"
    );
    lab.assert_untouched(&d);
}

/// A scan that runs past its deadline cancels its backend: nothing keeps running on the server.
#[test]
fn a_scan_timeout_leaves_no_backend_running() {
    let lab = Lab::new();
    lab.mallory(
        r#"
        CREATE FUNCTION mallory.slow() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN
          IF session_user <> 'mallory' THEN PERFORM pg_sleep(30); END IF;
          RETURN 1; END $f$;
        SELECT * FROM public.items WHERE id = mallory.slow();
        "#,
    );
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &lab.optidb_url(),
        store.path(),
        &[
            "--sample-interval-ms",
            "0",
            "--scan-timeout",
            "2",
            "--statement-timeout-ms",
            "60000",
            "--trusted-functions",
            "mallory.slow",
        ],
    );
    let a = post_empty(&d.url("/scan")).unwrap();
    assert!(
        a.body["why"]
            .as_str()
            .unwrap_or_default()
            .contains("gave up"),
        "{}",
        a.body
    );
    let t0 = Instant::now();
    loop {
        let busy = query_strings(
            &lab.sb.url_for(DB),
            "SELECT pid::text FROM pg_stat_activity \
              WHERE application_name = 'optidb' AND state = 'active'",
        );
        if busy.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "backends still running after the scan gave up: {busy:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The daemon goes on: /health answers and says what happened.
    let h = get(&d.url("/health")).unwrap().body;
    assert_eq!(h["status"], "degraded", "{h}");
}

#[test]
fn a_superuser_target_is_refused_without_the_flag() {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(&sb.url(), store.path(), &["--sample-interval-ms", "0"]);
    let a = post_empty(&d.url("/scan")).unwrap();
    assert!(a.status >= 500, "{}", a.body);
    let why = a.body["why"].as_str().unwrap_or_default();
    assert!(why.contains("superuser"), "{}", a.body);
    assert!(
        a.body["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("setup-sql"),
        "{}",
        a.body
    );
    let h = get(&d.url("/health")).unwrap().body;
    assert_eq!(h["status"], "degraded");
}

#[test]
fn doctor_names_what_a_monitoring_role_lacks() {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
    sb.batch_execute(
        "CREATE ROLE watcher LOGIN; GRANT pg_monitor TO watcher; CREATE TABLE app_t (id int);",
    )
    .unwrap();
    let watcher = sb.url().replacen("postgres@", "watcher@", 1);
    let out = std::process::Command::new(optidb_e2e::bin_path("optidb"))
        .args(["doctor", "--db", &watcher])
        .env_remove("OPTIDB_DB")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[FAIL] planning"), "{text}");
    assert!(text.contains("setup-sql"), "{text}");
    assert!(text.contains("GRANT pg_read_all_data"), "{text}");

    // After `optidb setup-sql --apply` (run with the administrator's login), OptiDB's role
    // passes.
    let out = std::process::Command::new(optidb_e2e::bin_path("optidb"))
        .args(["setup-sql", "--apply", "--db", &sb.url()])
        .env("OPTIDB_LOGIN_PASSWORD", "pw with 'quotes' and \\ backslash")
        .env_remove("OPTIDB_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = sb.url().replacen("postgres@", "optidb@", 1);
    let out = std::process::Command::new(optidb_e2e::bin_path("optidb"))
        .args(["doctor", "--db", &url, "--json"])
        .env_remove("OPTIDB_DB")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "planning" && c["status"] == "ok"));

    // A superuser is a failure.
    let out = std::process::Command::new(optidb_e2e::bin_path("optidb"))
        .args(["doctor", "--db", &sb.url()])
        .env_remove("OPTIDB_DB")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("[FAIL] superuser"), "{text}");
}
