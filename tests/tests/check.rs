//! `optidb check` as a CI job runs it, on a tree with a SQL file, Python and TypeScript with
//! embedded SQL, files of ordinary strings and files a walk must leave alone: without a daemon
//! (exact places, exit codes, skipped files), with a real daemon on a scanned sandbox (the live
//! finding and its DDL on the statement's line in each language), and with a daemon that is down
//! (exit 3, no report). Every SARIF document is validated against the official SARIF 2.1.0
//! schema (tests/fixtures/sarif-schema-2.1.0.json), and so is a broken one, which must fail.

use optidb_e2e::{bin_path, free_port, post_json};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const QUERIES_SQL: &str = "-- the application's queries
SELECT * FROM tickets WHERE buyer_id = :buyer;

SELECT * FROM tickets WHERE price > 10 AND title LIKE '%gold';
SELEC broken;
";

const TICKETS_PY: &str = r#"import psycopg


def tickets_of(cur, buyer):
    cur.execute("SELECT * FROM tickets WHERE buyer_id = %s", (buyer,))
    return cur.fetchall()


def ticket(cur, tid):
    cur.execute(f"SELECT * FROM tickets WHERE id = {tid}")
    return cur.fetchone()
"#;

const API_TS: &str = r#"export async function ticketsOf(db: Db, buyer: number) {
  return db.query("SELECT * FROM tickets WHERE buyer_id = $1", [buyer]);
}

export async function priceOf(db: Db, id: string) {
  return db.query(`SELECT price FROM tickets WHERE id = ${id}`);
}
"#;

/// Ordinary strings that merely start like SQL: no findings.
const MESSAGES_PY: &str = r#"GREETING = "Select a ticket to continue"
HELP = "Update your profile, or delete from the cart what you no longer want"
def shown(n):
    return f"Select {n} seats"
"#;

const STRINGS_TS: &str = r#"export const title = "Select your seat";
export const ask = (name: string) => `Delete ${name} from your list?`;
export const note = "update available";
"#;

/// The tree `optidb check` walks; `.git` makes it the root.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &[u8])] = &[
        ("db/queries.sql", QUERIES_SQL.as_bytes()),
        ("app/tickets.py", TICKETS_PY.as_bytes()),
        ("app/messages.py", MESSAGES_PY.as_bytes()),
        ("web/api.ts", API_TS.as_bytes()),
        ("web/strings.ts", STRINGS_TS.as_bytes()),
        ("dir with space/fine.sql", b"SELECT 1;\n"),
        // Not UTF-8: reported as skipped, not checked.
        ("dir with space/legacy.sql", b"SELECT '\xe9t\xe9';\n"),
        // Never walked into, never read.
        (".git/hooks/bad.sql", b"SELEC 1"),
        (".venv/lib/bad.py", b"cur.execute(\"SELEC 1\")"),
        ("node_modules/pkg/bad.sql", b"SELEC 1"),
        ("target/bad.sql", b"SELEC 1"),
        (
            "vendor/bad.go",
            b"package x\nvar q = db.Query(\"SELEC 1\")\n",
        ),
        ("README.md", b"SELEC 1"),
    ];
    for (name, body) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}

/// Runs `optidb check args…` in `dir`; (exit code, stdout, stderr).
fn check(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin_path("optidb"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .env_remove("OPTIDB_DAEMON")
        .env_remove("OPTIDB_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// 1-based line and column of the first `needle` in an ASCII `text`.
fn place(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {text}"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    (text[..at].matches('\n').count() + 1, at - line_start + 1)
}

/// The official SARIF 2.1.0 schema (draft-04) as a validator, formats (uri, uri-reference …)
/// checked too.
fn sarif_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("../fixtures/sarif-schema-2.1.0.json"))
        .expect("the vendored schema is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn assert_valid_sarif(doc: &Value) {
    let errors = schema_errors(&sarif_validator(), doc);
    assert!(
        errors.is_empty(),
        "SARIF schema errors: {errors:#?}\n{doc:#}"
    );
}

/// A finding's path, line, column, rule and SARIF level.
type Place = (String, u64, u64, String, String);

/// The [`Place`] of every SARIF result.
fn results(doc: &Value) -> Vec<Place> {
    doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                loc["region"]["startLine"].as_u64().unwrap(),
                loc["region"]["startColumn"].as_u64().unwrap(),
                r["ruleId"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn static_expected() -> Vec<Place> {
    let at = |file: &str, text: &str, needle: &str, rule: &str, level: &str| {
        let (l, c) = place(text, needle);
        (
            file.to_string(),
            l as u64,
            c as u64,
            rule.to_string(),
            level.to_string(),
        )
    };
    vec![
        at(
            "app/tickets.py",
            TICKETS_PY,
            "{tid}",
            "sql_injection_risk",
            "warning",
        ),
        at(
            "db/queries.sql",
            QUERIES_SQL,
            "'%gold'",
            "leading_wildcard_like",
            "warning",
        ),
        at(
            "db/queries.sql",
            QUERIES_SQL,
            "SELEC ",
            "syntax_error",
            "error",
        ),
        at(
            "web/api.ts",
            API_TS,
            "${id}",
            "sql_injection_risk",
            "warning",
        ),
    ]
}

#[test]
fn static_findings_on_exact_places_in_every_format() {
    let dir = tree();
    let root = dir.path();

    // Text: compiler-style lines, nothing from ordinary strings or skipped trees.
    let (code, out, err) = check(root, &[]);
    assert_eq!(code, 1, "warnings fail by default\n{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let (l, c) = place(TICKETS_PY, "{tid}");
    assert!(
        lines[0].starts_with(&format!(
            "app/tickets.py:{l}:{c}: warning[sql_injection_risk]: SQL built by splicing"
        )),
        "{out}"
    );
    let (l, c) = place(QUERIES_SQL, "SELEC ");
    assert_eq!(
        lines[2],
        format!("db/queries.sql:{l}:{c}: error[syntax_error]: syntax error at or near \"SELEC\"")
    );
    for quiet in ["messages.py", "strings.ts", "fine.sql", "bad", "README"] {
        assert!(!out.contains(quiet), "{quiet}: {out}");
    }
    assert!(
        err.contains("dir with space/legacy.sql: skipped: not UTF-8"),
        "{err}"
    );
    assert!(err.contains("6 files"), "{err}");

    // Exit codes: --fail-on error fails on the syntax error only; never never fails.
    assert_eq!(check(root, &["--fail-on", "error"]).0, 1);
    assert_eq!(check(root, &["app", "web", "--fail-on", "error"]).0, 0);
    assert_eq!(check(root, &["--fail-on", "never"]).0, 0);
    assert_eq!(check(root, &["app/messages.py", "web/strings.ts"]).0, 0);
    // Files of other kinds are ignored; a path that is not there is exit 2.
    assert_eq!(check(root, &["README.md"]).0, 0);
    let (code, _, err) = check(root, &["db", "missing.sql"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read missing.sql"), "{err}");
    let (code, _, err) = check(root, &["--format", "yaml"]);
    assert_eq!(code, 2, "{err}");

    // An empty OPTIDB_DAEMON (a CI secret not set) is no daemon.
    let unset = Command::new(bin_path("optidb"))
        .args(["check", "--json"])
        .current_dir(root)
        .env("OPTIDB_DAEMON", "")
        .output()
        .unwrap();
    assert_eq!(unset.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&unset.stdout).unwrap();
    assert!(j["daemon"].is_null(), "{j}");

    // JSON: the documented shape.
    let (code, out, _) = check(root, &["--format", "json"]);
    assert_eq!(code, 1);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["version"], 1);
    assert_eq!(j["tool"]["name"], "optidb");
    assert_eq!(j["columns"], "utf16");
    assert!(j["daemon"].is_null());
    assert_eq!(j["files_checked"], 6);
    assert_eq!(
        j["skipped"],
        json!([{"path": "dir with space/legacy.sql", "reason": "not UTF-8 text (convert it with iconv -t UTF-8)"}])
    );
    assert_eq!(
        j["counts"],
        json!({"error": 1, "warning": 3, "info": 0, "hint": 0})
    );
    let f = &j["findings"][2];
    for k in [
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "severity",
        "rule",
        "message",
        "query_id",
        "rec_id",
        "ddl",
        "confidence",
    ] {
        assert!(f.get(k).is_some(), "{k} missing in {f}");
    }
    assert_eq!(f["rule"], "syntax_error");
    assert_eq!(f["severity"], "error");
    let got: Vec<Place> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let level = match f["severity"].as_str().unwrap() {
                "info" | "hint" => "note",
                s => s,
            };
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
                level.to_string(),
            )
        })
        .collect();
    assert_eq!(got, static_expected());

    // SARIF: valid against the official schema, the same findings, paths from the root.
    let (code, out, _) = check(root, &["--format", "sarif", "--fail-on", "never"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_valid_sarif(&doc);
    assert_eq!(results(&doc), static_expected());
    let run = &doc["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "OptiDB");
    assert!(driver["version"].is_string());
    let rule_ids: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["shortDescription"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty()));
            r["id"].as_str().unwrap()
        })
        .collect();
    for r in results(&doc) {
        assert!(rule_ids.contains(&r.3.as_str()), "{} has no rule", r.3);
    }
    let root_uri = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        root_uri.starts_with("file:///") && root_uri.ends_with('/'),
        "{root_uri}"
    );
    let note = &run["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(
        note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "dir%20with%20space/legacy.sql"
    );
    for r in run["results"].as_array().unwrap() {
        assert!(r["partialFingerprints"]["optidbFindingHash/v1"].is_string());
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
            "%SRCROOT%"
        );
    }
    // From a subdirectory, paths are still relative to the repository root.
    let (_, out, _) = check(&root.join("web"), &["--format", "sarif"]);
    let sub: Value = serde_json::from_str(&out).unwrap();
    assert_valid_sarif(&sub);
    assert_eq!(results(&sub)[0].0, "web/api.ts");
}

/// What a broken document lacks, and how to break a good one that way.
type Breakage = (&'static str, fn(&mut Value));

#[test]
fn the_schema_validation_rejects_broken_sarif() {
    let dir = tree();
    let (_, out, _) = check(dir.path(), &["--format", "sarif"]);
    let good: Value = serde_json::from_str(&out).unwrap();
    let v = sarif_validator();
    assert!(schema_errors(&v, &good).is_empty());
    let breakages: [Breakage; 5] = [
        ("no version", |d| {
            d.as_object_mut().unwrap().remove("version");
        }),
        ("another version", |d| d["version"] = json!("2.0.0")),
        ("an unknown level", |d| {
            d["runs"][0]["results"][0]["level"] = json!("fatal")
        }),
        ("line 0", |d| {
            d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                json!(0)
        }),
        ("a result without a message", |d| {
            d["runs"][0]["results"][0]
                .as_object_mut()
                .unwrap()
                .remove("message");
        }),
    ];
    for (what, breakage) in breakages {
        let mut bad = good.clone();
        breakage(&mut bad);
        assert!(
            !schema_errors(&v, &bad).is_empty(),
            "the validator accepted a SARIF log with {what}"
        );
    }
}

#[test]
fn live_findings_from_a_scanned_daemon_and_a_daemon_that_is_down() {
    let dir = tree();
    let root = dir.path();

    // Down: a clear error, exit 3, no report, no wait.
    let port = free_port();
    let t0 = Instant::now();
    let (code, out, err) = check(root, &["--daemon", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("cannot reach the OptiDB daemon") && err.contains("optidb daemon --db"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10));

    let optidb_e2e::ScannedTickets {
        d,
        store: _store,
        sb: _sb,
    } = optidb_e2e::scanned_tickets(20, &[]);
    // Simulate the top recommendation, as a user would, so the finding quotes the gain.
    let slow =
        optidb_core::sql::fingerprint_only("SELECT * FROM tickets WHERE buyer_id = 1").unwrap();
    let entry = post_json(&d.url("/lookup"), &json!({"fingerprints": [slow]})).unwrap();
    let rec_id = entry.body["queries"][&slow]["recommendations"][0]["rec_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a recommendation for the slow query: {}", entry.body))
        .to_string();
    let sim = post_json(
        &d.url("/simulate"),
        &json!({"query_id": slow, "rec_id": rec_id, "mode": "hypopg"}),
    )
    .unwrap();
    assert_eq!(sim.status, 200, "{}", sim.body);

    let (code, out, err) = check(root, &["--daemon", &d.base, "--format", "sarif"]);
    assert_eq!(code, 1, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_valid_sarif(&doc);
    let live: Vec<&Value> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["properties"]["queryId"] == slow.as_str())
        .collect();
    let places: Vec<(String, u64, u64)> = live
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                loc["region"]["startLine"].as_u64().unwrap(),
                loc["region"]["startColumn"].as_u64().unwrap(),
            )
        })
        .collect();
    let at = |file: &str, text: &str| {
        let (l, c) = place(text, "SELECT * FROM tickets WHERE buyer_id");
        (file.to_string(), l as u64, c as u64)
    };
    assert_eq!(
        places,
        [
            at("app/tickets.py", TICKETS_PY),
            at("db/queries.sql", QUERIES_SQL),
            at("web/api.ts", API_TS),
        ],
        "the slow statement, in each language: {doc:#}"
    );
    for r in &live {
        assert_eq!(r["level"], "warning", "{r}");
        let msg = r["message"]["text"].as_str().unwrap();
        assert!(
            msg.contains("× 20 calls")
                && msg.contains("add index on tickets(buyer_id)")
                && msg.contains("% simulated"),
            "{msg}"
        );
        let ddl = r["properties"]["ddl"].as_str().unwrap();
        assert!(
            ddl.starts_with("CREATE INDEX") && ddl.contains("buyer_id"),
            "{ddl}"
        );
        assert_eq!(r["properties"]["recId"], rec_id.as_str());
    }
    // Every rule a result names is described.
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let rule = rules
        .iter()
        .find(|x| x["id"] == live[0]["ruleId"])
        .expect("the live rule is in the driver's rules");
    assert!(rule["shortDescription"]["text"].is_string());

    // Text: the finding, then its fix; JSON: what the daemon knew.
    let (_, out, _) = check(root, &["--daemon", &d.base, "app"]);
    let (l, c) = place(TICKETS_PY, "SELECT * FROM tickets WHERE buyer_id");
    let head = format!("app/tickets.py:{l}:{c}: warning[");
    let i = out
        .lines()
        .position(|x| x.starts_with(&head))
        .unwrap_or_else(|| panic!("{head}… in {out}"));
    assert!(
        out.lines()
            .nth(i + 1)
            .unwrap()
            .starts_with("    fix: CREATE INDEX"),
        "{out}"
    );
    let (_, out, _) = check(root, &["--daemon", &d.base, "--json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["daemon"]["url"], d.base.as_str());
    assert_eq!(j["daemon"]["queries_known"], 1, "{}", j["daemon"]);
}
