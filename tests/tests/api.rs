//! The JSON API end to end: every endpoint the daemon serves, answered from a real scan of a real
//! sandbox, and the errors for bad JSON, unknown ids, bad parameters and oversized bodies.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{get, post_json, Daemon};
use serde_json::json;

fn assert_error_shape(a: &optidb_e2e::Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.body);
    for k in ["error", "why", "hint"] {
        assert!(
            a.body[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} missing: {}",
            a.body
        );
    }
}

#[test]
fn every_endpoint_answers_and_bad_requests_get_clear_errors() {
    let optidb_e2e::ScannedTickets {
        d,
        store: _store,
        sb: _sb,
    } = optidb_e2e::scanned_tickets(10, &[]);
    let slow =
        optidb_core::sql::fingerprint_only("SELECT * FROM tickets WHERE buyer_id = 1").unwrap();

    // GET /bottlenecks: the slow query first, with its id, text and recommendations.
    let b = get(&d.url("/bottlenecks?limit=5")).unwrap();
    assert_eq!(b.status, 200, "{}", b.body);
    let rows = b.body.as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= 5);
    let row = rows
        .iter()
        .find(|r| r["query_id"] == slow.as_str())
        .expect("the slow query is a bottleneck");
    assert_eq!(row["fingerprint"], row["query_id"]);
    assert!(row["query"].as_str().unwrap().contains("buyer_id = $1"));
    assert!(row["calls"].as_i64().unwrap() >= 10);
    assert!(row["recommendations"].is_array());
    assert!(!row["reason"].as_str().unwrap().is_empty());
    for r in row["recommendations"].as_array().unwrap() {
        for k in ["rec_id", "type", "ddl", "rationale", "confidence", "risk"] {
            assert!(!r[k].is_null(), "{k} missing in {r}");
        }
    }
    assert_error_shape(&get(&d.url("/bottlenecks?limit=abc")).unwrap(), 400);

    // POST /lookup: known ids answered, unknown ones absent.
    let unknown = "0123456789abcdef";
    let l = post_json(&d.url("/lookup"), &json!({"fingerprints": [slow, unknown]})).unwrap();
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["queries"][&slow]["query_id"], slow.as_str());
    assert!(l.body["queries"][&slow]["had_seq_scan"].as_bool().unwrap());
    assert!(l.body["queries"].get(unknown).is_none());
    assert_error_shape(
        &post_json(&d.url("/lookup"), &json!({"fingerprints": ["nope"]})).unwrap(),
        400,
    );
    assert_error_shape(
        &post_json(&d.url("/lookup"), &json!({"wrong": 1})).unwrap(),
        422,
    );
    let too_many: Vec<String> = (0..10_001).map(|i| format!("{i:016x}")).collect();
    assert_error_shape(
        &post_json(&d.url("/lookup"), &json!({ "fingerprints": too_many })).unwrap(),
        413,
    );
    // Not JSON at all, and an oversized body.
    let raw = ureq_post_raw(&d.url("/lookup"), "this is not json".into());
    assert_error_shape(&raw, 400);
    let huge = format!(
        "{{\"fingerprints\": [\"{}\"]}}",
        "a".repeat(3 * 1024 * 1024)
    );
    assert_error_shape(&ureq_post_raw(&d.url("/lookup"), huge), 413);

    // GET /queries/:id, unknown and malformed ids.
    let q = get(&d.url(&format!("/queries/{slow}"))).unwrap();
    assert_eq!(q.status, 200);
    assert!(q.body["recommendations"].is_array() && q.body["simulations"].is_array());
    assert_error_shape(&get(&d.url(&format!("/queries/{unknown}"))).unwrap(), 404);
    assert_error_shape(&get(&d.url("/queries/xyz")).unwrap(), 400);

    // GET /scans, /health, unknown paths.
    assert_eq!(
        get(&d.url("/scans"))
            .unwrap()
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(get(&d.url("/health")).unwrap().body["status"], "ok");
    assert_error_shape(&get(&d.url("/no/such/thing")).unwrap(), 404);
    // The password never shows (there is none here, but the target is shown redacted).
    assert!(!get(&d.url("/health"))
        .unwrap()
        .body
        .to_string()
        .contains("password"));
}

fn ureq_post_raw(url: &str, body: String) -> optidb_e2e::Answer {
    optidb_e2e::post_raw(url, "application/json", body).unwrap()
}

fn optidb(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(optidb_e2e::bin_path("optidb"))
        .args(args)
        .env_remove("OPTIDB_TOKEN")
        .env_remove("OPTIDB_DAEMON")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_parity_token_metrics_and_chat() {
    let sb = optidb_e2e::tickets_sandbox(10);
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start_with_env(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0"],
        &[("OPTIDB_TOKEN", "s3cret-token-0123456789")],
    );
    let slow =
        optidb_core::sql::fingerprint_only("SELECT * FROM tickets WHERE buyer_id = 1").unwrap();

    // Without the token: 401 with a clear error, from the API and the CLI.
    assert_error_shape(&get(&d.url("/bottlenecks")).unwrap(), 401);
    let (code, _, err) = optidb(&["scan", "--daemon", &d.base], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("token required"), "{err}");

    let tok = [("OPTIDB_TOKEN", "s3cret-token-0123456789")];
    let (code, out, err) = optidb(&["scan", "--daemon", &d.base], &tok);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("scan done in"), "{out}");

    let (code, out, _) = optidb(
        &["bottlenecks", "--limit", "3", "--json", "--daemon", &d.base],
        &tok,
    );
    assert_eq!(code, 0);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["query_id"] == slow.as_str()));
    let (code, out, _) = optidb(&["bottlenecks", "--daemon", &d.base], &tok);
    assert_eq!(code, 0);
    assert!(out.contains(&slow) && out.contains("why:"), "{out}");

    let (code, out, _) = optidb(&["query", &slow, "--daemon", &d.base], &tok);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("query {slow}")) && out.contains("plan (generic)"),
        "{out}"
    );
    let (code, _, err) = optidb(&["query", "0123456789abcdef", "--daemon", &d.base], &tok);
    assert_eq!(code, 2, "unknown id is a usage error");
    assert!(err.contains("unknown query"), "{err}");

    // `optidb simulate <id>` alone simulates the query's top index recommendation.
    let (code, out, err) = optidb(&["simulate", &slow, "--json", "--daemon", &d.base], &tok);
    assert_eq!(code, 0, "{err}");
    let sim: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(!sim["rec_id"].as_str().unwrap().is_empty(), "{out}");
    assert!(sim["improvement_pct"].as_f64().unwrap() > 50.0, "{out}");
    let (code, _, err) = optidb(&["simulate", "0123456789abcdef", "--daemon", &d.base], &tok);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown query"), "{err}");

    let (code, out, _) = optidb(
        &[
            "ask",
            &format!("why is query {slow} slow?"),
            "--daemon",
            &d.base,
        ],
        &tok,
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("ms on average") && out.contains("[metric]") && out.contains("[plan]"),
        "{out}"
    );
    let (_, out, _) = optidb(
        &["ask", "tell me a joke", "--json", "--daemon", &d.base],
        &tok,
    );
    let a: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["intent"], "help");

    // /metrics in Prometheus text.
    let m = ureq_get_with_token(&d.url("/metrics"), "s3cret-token-0123456789");
    assert!(
        m.contains("optidb_scans_ok_total 1") && m.contains("# TYPE optidb_up gauge"),
        "{m}"
    );
    // The histogram and the counters move after a scan and a failed request.
    let (code, _, err) = optidb(&["scan", "--daemon", &d.base], &tok);
    assert_eq!(code, 0, "{err}");
    let failed = optidb_e2e::get_with_header(
        &d.url("/queries/not-a-fingerprint"),
        "authorization",
        "Bearer s3cret-token-0123456789",
    )
    .unwrap();
    assert!(failed.contains("\"error\""), "{failed}");
    let after = ureq_get_with_token(&d.url("/metrics"), "s3cret-token-0123456789");
    let scans = r#"optidb_scan_duration_seconds_count{outcome="ok"}"#;
    let bad = r#"optidb_http_responses_total{route="/queries/{id}",status="4xx"}"#;
    let ok = r#"optidb_http_responses_total{route="/metrics",status="2xx"}"#;
    assert_eq!(metric(&m, scans), Some(1.0), "{m}");
    assert_eq!(metric(&after, scans), Some(2.0), "{after}");
    assert_eq!(
        metric(&after, bad),
        Some(metric(&m, bad).unwrap_or(0.0) + 1.0),
        "{after}"
    );
    assert!(metric(&after, ok) > metric(&m, ok), "{after}");
    assert!(
        metric(
            &after,
            r#"optidb_http_responses_total{route="/bottlenecks",status="4xx"}"#
        ) >= Some(1.0),
        "the request without a token: {after}"
    );
    for want in [
        "# TYPE optidb_scan_duration_seconds histogram",
        r#"optidb_scan_duration_seconds_bucket{le="+Inf",outcome="ok"} 2"#,
        "optidb_scans_ok_total 2",
        "optidb_hypopg_available 1",
        "# TYPE optidb_sampler_busy_seconds counter",
        "# TYPE optidb_sampler_ticks counter",
        "# EOF",
    ] {
        assert!(after.contains(want), "{want}: {after}");
    }
    assert!(
        metric(&after, "optidb_store_size_bytes") > Some(0.0),
        "{after}"
    );
    assert!(
        metric(&after, "optidb_statements_read_total") > Some(0.0),
        "{after}"
    );
    // Labels carry names from fixed sets: no query text, no path with an id, no token.
    for secret in ["tickets", "not-a-fingerprint", "s3cret", "buyer_id"] {
        assert!(!after.contains(secret), "{secret} in /metrics: {after}");
    }

    // No daemon at all: exit 3 with what to do.
    let (code, _, err) = optidb(
        &[
            "bottlenecks",
            "--daemon",
            &format!("http://127.0.0.1:{}", optidb_e2e::free_port()),
        ],
        &[],
    );
    assert_eq!(code, 3);
    assert!(err.contains("cannot reach the OptiDB daemon"), "{err}");

    // Beyond loopback without a token the daemon refuses to start.
    let (code, _, err) = optidb(
        &[
            "daemon",
            "--db",
            &sb.url(),
            "--listen",
            "0.0.0.0:0",
            "--store",
            store.path().join("x").to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("refusing to listen"), "{err}");
}

/// The value of one sample line (`name{labels} value`) of a /metrics text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn ureq_get_with_token(url: &str, token: &str) -> String {
    optidb_e2e::get_with_header(url, "authorization", &format!("Bearer {token}")).unwrap()
}

#[test]
fn without_a_token_only_loopback_host_names_are_served() {
    let sb = Sandbox::start(SandboxOptions::default()).unwrap();
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0"],
    );
    // A DNS-rebinding page reaches 127.0.0.1 with its own name in Host (raw HTTP: clients
    // set Host from the URL).
    let raw = |host: &str| -> String {
        use std::io::{Read, Write};
        let addr = d.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /bottlenecks HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let evil = raw("evil.example:7070");
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    assert!(evil.contains("host not allowed"), "{evil}");
    assert!(raw("localhost:7070").starts_with("HTTP/1.1 200"));
    assert!(raw("127.0.0.1").starts_with("HTTP/1.1 200"));
}

/// The daemon's log (`--log-format json`, stderr): one JSON object per line, a line per request
/// with its route, status and latency, a line per scan — and never the database password or the
/// token, not even from `/login?token=…`.
#[test]
fn the_log_says_what_happened_and_never_a_secret() {
    let sb = optidb_e2e::tickets_sandbox(3);
    let store = tempfile::tempdir().unwrap();
    const PASSWORD: &str = "pw-s3cret-in-the-url";
    const TOKEN: &str = "tok-s3cret-0123456789abcdef";
    let url = optidb_e2e::optidb_url(&sb).replacen("optidb@", &format!("optidb:{PASSWORD}@"), 1);
    let d = Daemon::start_with_env(
        &url,
        store.path(),
        &["--sample-interval-ms", "0", "--log-format", "json"],
        &[("OPTIDB_TOKEN", TOKEN)],
    );
    let bearer = format!("Bearer {TOKEN}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let scan = agent
        .post(&d.url("/scan"))
        .header("authorization", &bearer)
        .send_empty()
        .unwrap();
    assert_eq!(scan.status().as_u16(), 200);
    let _ = agent.get(&d.url(&format!("/login?token={TOKEN}"))).call();
    let _ = agent
        .get(&d.url("/queries/nope"))
        .header("authorization", &bearer)
        .call();
    // Lines arrive through a pipe: give the last ones a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = d.stderr();
    assert!(
        !log.contains(PASSWORD),
        "the password reached the log:\n{log}"
    );
    assert!(!log.contains(TOKEN), "the token reached the log:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["route"] == "/queries/{id}")
        .unwrap_or_else(|| panic!("no request line for /queries/{{id}}:\n{log}"));
    assert_eq!(request["status"], 400);
    assert!(request["latency_ms"].as_f64().is_some(), "{request}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "request" && l["route"] == "/login"),
        "{log}"
    );
    let scan = lines
        .iter()
        .find(|l| l["message"] == "scan done")
        .unwrap_or_else(|| panic!("no scan line:\n{log}"));
    assert!(scan["queries"].as_u64().unwrap() >= 1, "{scan}");
    assert!(
        scan["target_db"].as_str().unwrap().contains("optidb@"),
        "{scan}"
    );
}
