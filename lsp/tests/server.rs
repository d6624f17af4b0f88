//! In-process tests of the language server: real JSON-RPC messages through tower-lsp's
//! `LspService` (the same code path as stdio, minus the byte framing), each wait bounded by a
//! timeout. The daemon side is a real HTTP server speaking the daemon's `/lookup`, `/health` and
//! `/simulate` contract with fixed answers (the end-to-end test with the real daemon lives in
//! `tests/`).

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use optidb_core::model::{LookupEntry, LookupRec, LookupRequest, LookupResponse, LookupSimulation};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tower::{Service, ServiceExt};
use tower_lsp::jsonrpc::{Request, Response};
use tower_lsp::LspService;

const WAIT: Duration = Duration::from_secs(10);
const URI: &str = "file:///work/queries.sql";

struct Harness {
    service: LspService<optidb_lsp::server::Backend>,
    /// Notifications and requests the server sent to the client: (method, params).
    from_server: mpsc::UnboundedReceiver<(String, Value)>,
    next_id: i64,
}

impl Harness {
    /// Starts a server, answers `workspace/configuration` with `config` (when given, the client
    /// advertises the capability), and runs initialize + initialized.
    async fn start(init_options: Value, config: Option<Value>) -> Harness {
        let (service, socket) = optidb_lsp::server::service();
        let (mut requests, mut responses) = socket.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let answer = config.clone();
        tokio::spawn(async move {
            while let Some(r) = requests.next().await {
                let (method, id, params) = r.into_parts();
                if let Some(id) = id {
                    let result = match (method.as_ref(), &answer) {
                        ("workspace/configuration", Some(c)) => json!([c]),
                        _ => Value::Null,
                    };
                    let _ = responses.send(Response::from_ok(id, result)).await;
                }
                if tx
                    .send((method.to_string(), params.unwrap_or(Value::Null)))
                    .is_err()
                {
                    break;
                }
            }
        });
        let mut h = Harness {
            service,
            from_server: rx,
            next_id: 0,
        };
        let caps = json!({"workspace": {"configuration": config.is_some()}});
        let r = h
            .request(
                "initialize",
                json!({"processId": null, "rootUri": null, "capabilities": caps,
                       "initializationOptions": init_options}),
            )
            .await;
        assert_eq!(r["serverInfo"]["name"], "optidb-lsp");
        h.notify("initialized", json!({})).await;
        h
    }

    async fn call(&mut self, req: Request) -> Option<Response> {
        let svc = self.service.ready().await.expect("service ready");
        tokio::time::timeout(WAIT, svc.call(req))
            .await
            .expect("server answered in time")
            .expect("service call")
    }

    async fn request(&mut self, method: &'static str, params: Value) -> Value {
        self.next_id += 1;
        let req = Request::build(method)
            .params(params)
            .id(self.next_id)
            .finish();
        let resp = self.call(req).await.expect("a response");
        let (_, result) = resp.into_parts();
        result.expect("no error")
    }

    async fn notify(&mut self, method: &'static str, params: Value) {
        let req = Request::build(method).params(params).finish();
        assert!(self.call(req).await.is_none());
    }

    async fn open(&mut self, text: &str) {
        self.open_as(URI, "sql", text).await;
    }

    async fn open_as(&mut self, uri: &str, language_id: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language_id, "version": 1, "text": text}}),
        )
        .await;
    }

    /// The code actions at byte `at` of `text`, and their titles.
    async fn actions_at(&mut self, uri: &str, text: &str, at: usize) -> (Value, Vec<String>) {
        let actions = self
            .request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri},
                       "range": {"start": pos(text, at), "end": pos(text, at)},
                       "context": {"diagnostics": []}}),
            )
            .await;
        let titles = actions
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap().to_string())
            .collect();
        (actions, titles)
    }

    /// Waits for a server message of `method` whose params satisfy `pred`; other messages
    /// are kept in `seen`.
    async fn wait_for(
        &mut self,
        method: &str,
        seen: &mut Vec<(String, Value)>,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, self.from_server.recv())
                .await
                .unwrap_or_else(|_| panic!("no {method} in time; saw {seen:#?}"))
                .expect("server alive");
            if msg.0 == method && pred(&msg.1) {
                return msg.1;
            }
            seen.push(msg);
        }
    }

    /// Collects everything the server sends during `d`.
    async fn drain(&mut self, d: Duration, seen: &mut Vec<(String, Value)>) {
        let deadline = Instant::now() + d;
        while let Ok(Some(m)) = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            self.from_server.recv(),
        )
        .await
        {
            seen.push(m);
        }
    }
}

/// LSP position (line, UTF-16 character) of byte `offset` in `text`, computed independently of
/// the server's converter.
fn pos(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let character = text[line_start..offset].encode_utf16().count();
    json!({"line": line, "character": character})
}

fn range(text: &str, needle: &str) -> Value {
    let s = text.find(needle).expect("needle");
    json!({"start": pos(text, s), "end": pos(text, s + needle.len())})
}

fn diags_with(p: &Value, code: &str) -> Vec<Value> {
    p["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .cloned()
        .collect()
}

const OFFLINE_TEXT: &str = "-- requêtes ☕ 😀\nSELECT 'ü😀' AS x, * FROM t JOIN u ON u.id = t.id WHERE nom LIKE '%é';\n\nSELEC 1;\nUPDATE t SET a = 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_diagnostics_syntax_error_and_lints_at_utf16_positions() {
    let mut h = Harness::start(json!({"daemonUrl": ""}), None).await;
    h.open(OFFLINE_TEXT).await;
    let mut seen = vec![];
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |_| true)
        .await;
    assert_eq!(p["uri"], URI);
    let syntax = diags_with(&p, "syntax_error");
    assert_eq!(syntax.len(), 1, "{p:#}");
    let selec = OFFLINE_TEXT.find("SELEC 1").unwrap();
    assert_eq!(
        syntax[0]["range"],
        json!({"start": pos(OFFLINE_TEXT, selec), "end": pos(OFFLINE_TEXT, selec + 5)})
    );
    assert_eq!(syntax[0]["severity"], 1);
    assert!(syntax[0]["message"]
        .as_str()
        .unwrap()
        .contains("syntax error"));

    let like = diags_with(&p, "leading_wildcard_like");
    assert_eq!(like.len(), 1);
    assert_eq!(like[0]["range"], range(OFFLINE_TEXT, "'%é'"));
    assert_eq!(like[0]["severity"], 2);

    let star = diags_with(&p, "select_star_join");
    let star_at = OFFLINE_TEXT.find("* FROM").unwrap();
    assert_eq!(
        star[0]["range"],
        json!({"start": pos(OFFLINE_TEXT, star_at), "end": pos(OFFLINE_TEXT, star_at + 1)})
    );
    assert_eq!(diags_with(&p, "update_delete_without_where").len(), 1);
    // Live data off: not a word about the daemon.
    h.drain(Duration::from_millis(200), &mut seen).await;
    assert!(
        !seen.iter().any(|(m, _)| m == "window/showMessage"),
        "{seen:#?}"
    );

    // Hover without live data still explains the static findings.
    let at = OFFLINE_TEXT.find("LIKE").unwrap();
    let hov = h
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": pos(OFFLINE_TEXT, at)}),
        )
        .await;
    let md = hov["contents"]["value"].as_str().unwrap();
    assert!(md.contains("Live data is off"), "{md}");
    assert!(md.contains("leading_wildcard_like"), "{md}");
    let st = OFFLINE_TEXT.find("SELECT 'ü").unwrap();
    let end = OFFLINE_TEXT.find("'%é'").unwrap() + "'%é'".len();
    assert_eq!(
        hov["range"],
        json!({"start": pos(OFFLINE_TEXT, st), "end": pos(OFFLINE_TEXT, end)})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_republishes_for_the_new_version() {
    let mut h = Harness::start(json!({"daemonUrl": ""}), None).await;
    h.open("SELECT 1").await;
    let mut seen = vec![];
    h.wait_for("textDocument/publishDiagnostics", &mut seen, |_| true)
        .await;
    h.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2},
               "contentChanges": [{"text": "SELECT * FROM t WHERE a ILIKE '_x'"}]}),
    )
    .await;
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
            p["version"] == 2
        })
        .await;
    assert_eq!(diags_with(&p, "leading_wildcard_like").len(), 1, "{p:#}");
}

/// A real HTTP server with the daemon's contract and fixed answers; it counts lookups and
/// requires the bearer token.
async fn fake_daemon(known: LookupResponse) -> String {
    let lookup = move |headers: HeaderMap, Json(req): Json<LookupRequest>| {
        let known = known.clone();
        async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer s3cret") {
                return Err(axum::http::StatusCode::UNAUTHORIZED);
            }
            let mut out = LookupResponse::default();
            for fp in req.fingerprints {
                if let Some(e) = known.queries.get(&fp) {
                    out.queries.insert(fp, e.clone());
                }
            }
            Ok(Json(out))
        }
    };
    let app = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/lookup", post(lookup))
        .route(
            "/simulate",
            post(|Json(v): Json<Value>| async move {
                Json(
                    json!({"query_id": v["query_id"], "rec_id": v["rec_id"], "mode": "hypopg",
                            "before_ms": 24.6, "after_ms": 1.7, "improvement_pct": 93.1,
                            "plan_changes": ["Seq Scan → Index Scan on public.tickets"]}),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

const LIVE_TEXT: &str =
    "-- ünïcode first\nSELECT * FROM tickets WHERE buyer_id = 42;\nSELECT name FROM events WHERE id = ?;\n";

fn tickets_known() -> (String, LookupResponse) {
    let fp =
        optidb_core::sql::fingerprint_only("SELECT * FROM tickets WHERE buyer_id = $1").unwrap();
    let entry = LookupEntry {
        query_id: fp.clone(),
        mean_ms: 24.6,
        calls: 1240,
        total_ms: 30_504.0,
        had_seq_scan: true,
        seq_scan_tables: vec!["public.tickets".into()],
        recommendations: vec![LookupRec {
            rec_id: "rec-tickets-buyer".into(),
            rec_type: "missing_index".into(),
            ddl: "CREATE INDEX ON public.tickets (buyer_id);".into(),
            rationale: "Seq Scan on tickets filters buyer_id = $1 and keeps 0.1% of rows.".into(),
            confidence: 0.92,
            risk: "one more index to maintain on inserts".into(),
            verification: None,
        }],
        last_simulation: Some(LookupSimulation {
            rec_id: "rec-tickets-buyer".into(),
            mode: "hypopg".into(),
            before_ms: 24.6,
            after_ms: 1.7,
            after_is_estimate: true,
            improvement_pct: 93.1,
            plan_changes: vec!["Seq Scan → Index Scan on public.tickets".into()],
            ran_at: 0,
        }),
        tags: vec![],
        ..Default::default()
    };
    let mut r = LookupResponse::default();
    r.queries.insert(fp.clone(), entry);
    (fp, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_warning_hover_code_actions_and_simulate_with_a_daemon() {
    let (fp, known) = tickets_known();
    let url = fake_daemon(known).await;
    let mut h = Harness::start(json!({"daemonUrl": url, "token": "s3cret"}), None).await;
    h.open(LIVE_TEXT).await;
    let mut seen = vec![];
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
            !diags_with(p, "missing_index").is_empty()
        })
        .await;
    let d = &diags_with(&p, "missing_index")[0];
    assert_eq!(
        d["message"],
        "24.6 ms × 1,240 calls; Seq Scan on tickets; add index on tickets(buyer_id), −93% simulated"
    );
    assert_eq!(d["severity"], 2);
    assert_eq!(
        d["range"],
        range(LIVE_TEXT, "SELECT * FROM tickets WHERE buyer_id = 42")
    );
    assert_eq!(d["data"]["query_id"], fp.as_str());
    // The unknown second statement gets nothing live.
    assert_eq!(p["diagnostics"].as_array().unwrap().len(), 1, "{p:#}");

    let at = LIVE_TEXT.find("buyer_id").unwrap();
    let hov = h
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": pos(LIVE_TEXT, at)}),
        )
        .await;
    let md = hov["contents"]["value"].as_str().unwrap();
    assert_eq!(hov["contents"]["kind"], "markdown");
    assert!(md.contains("Why is this slow?"), "{md}");
    assert!(md.contains("**24.6 ms** mean × **1,240** calls"), "{md}");
    assert!(
        md.contains("```sql\nCREATE INDEX ON public.tickets (buyer_id);\n```"),
        "{md}"
    );
    assert!(md.contains("24.6 ms → 1.70 ms est. (−93%)"), "{md}");

    let (actions, titles) = h.actions_at(URI, LIVE_TEXT, at).await;
    assert_eq!(
        titles,
        [
            "Copy DDL: CREATE INDEX ON public.tickets (buyer_id);",
            "Insert DDL as a comment: CREATE INDEX ON public.tickets (buyer_id);",
            "Simulate CREATE INDEX ON public.tickets (buyer_id); with hypopg",
        ]
    );
    let copy = &actions[0]["command"];
    assert_eq!(copy["command"], "optidb.copyDdl");
    assert_eq!(
        copy["arguments"][0],
        "CREATE INDEX ON public.tickets (buyer_id);"
    );
    let edit = &actions[1]["edit"]["changes"][URI][0];
    assert_eq!(edit["range"]["start"], json!({"line": 1, "character": 0}));
    assert!(edit["newText"]
        .as_str()
        .unwrap()
        .starts_with("-- optidb missing_index"));

    let sim = actions[2]["command"].clone();
    assert_eq!(sim["command"], "optidb.simulate");
    let r = h
        .request(
            "workspace/executeCommand",
            json!({"command": sim["command"], "arguments": sim["arguments"]}),
        )
        .await;
    assert_eq!(r["improvement_pct"], 93.1);
    let msg = h.wait_for("window/showMessage", &mut seen, |_| true).await;
    assert_eq!(
        msg["message"],
        "OptiDB simulation (hypopg): 24.6 ms → 1.70 ms (−93%); Seq Scan → Index Scan on public.tickets"
    );
    // …then diagnostics are refreshed.
    h.wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
        !diags_with(p, "missing_index").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_url_from_workspace_configuration() {
    let (_, known) = tickets_known();
    let url = fake_daemon(known).await;
    let mut h = Harness::start(
        json!({"daemonUrl": ""}),
        Some(json!({"daemonUrl": url, "token": "s3cret", "severity": "warning"})),
    )
    .await;
    h.open(LIVE_TEXT).await;
    let mut seen = vec![];
    h.wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
        !diags_with(p, "missing_index").is_empty()
    })
    .await;
    assert!(
        seen.iter().any(|(m, _)| m == "workspace/configuration"),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_down_static_findings_fast_and_one_polite_message() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut h = Harness::start(
        json!({"daemonUrl": format!("http://127.0.0.1:{closed}")}),
        None,
    )
    .await;
    let t0 = Instant::now();
    h.open(OFFLINE_TEXT).await;
    let mut seen = vec![];
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |_| true)
        .await;
    let first = t0.elapsed();
    assert!(first < Duration::from_millis(1000), "took {first:?}");
    assert_eq!(diags_with(&p, "syntax_error").len(), 1);
    assert_eq!(diags_with(&p, "leading_wildcard_like").len(), 1);

    // Keep typing and hovering: still answered, and the user is told only once.
    for v in 2..5 {
        h.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": v},
                   "contentChanges": [{"text": format!("{OFFLINE_TEXT};\nSELECT {v}")}]}),
        )
        .await;
        let t = Instant::now();
        h.wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
            p["version"] == v
        })
        .await;
        assert!(t.elapsed() < Duration::from_millis(1000));
    }
    let at = OFFLINE_TEXT.find("LIKE").unwrap();
    let hov = h
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": pos(OFFLINE_TEXT, at)}),
        )
        .await;
    let md = hov["contents"]["value"].as_str().unwrap();
    assert!(md.contains("Live data is unavailable"), "{md}");
    h.drain(Duration::from_millis(300), &mut seen).await;
    let told: Vec<&Value> = seen
        .iter()
        .filter(|(m, _)| m == "window/showMessage")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(told[0]["message"]
        .as_str()
        .unwrap()
        .contains("live data is unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_on_unknown_documents_answer_nothing() {
    let mut h = Harness::start(json!({"daemonUrl": ""}), None).await;
    let r = h
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": "file:///nope.sql"}, "position": {"line": 0, "character": 0}}),
        )
        .await;
    assert_eq!(r, Value::Null);
    h.next_id += 1;
    let resp = h
        .call(Request::build("shutdown").id(h.next_id).finish())
        .await
        .expect("a response");
    assert_eq!(resp.into_parts().1.expect("shutdown ok"), Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_never_answers_does_not_hold_up_diagnostics() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut h = Harness::start(json!({"daemonUrl": url, "timeoutMs": 300}), None).await;
    let t0 = Instant::now();
    h.open(OFFLINE_TEXT).await;
    let mut seen = vec![];
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |_| true)
        .await;
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(diags_with(&p, "leading_wildcard_like").len(), 1);
    let msg = h.wait_for("window/showMessage", &mut seen, |_| true).await;
    let text = msg["message"].as_str().unwrap();
    assert!(text.contains("no answer within 300 ms"), "{text}");
    assert!(
        t0.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t0.elapsed()
    );
}

/// A query the daemon tagged `contention`: the hover leads with the tag, its advice and the
/// wait profile (which lock, how often, who holds it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_shows_the_contention_tag_and_the_wait_profile() {
    use optidb_core::model::{Blocker, QueryTag, WaitProfile};
    let text = "UPDATE coupons SET times_redeemed = times_redeemed + 1 WHERE code = 'VIP20';\n";
    let fp = optidb_core::sql::fingerprint_only(text.trim_end().trim_end_matches(';')).unwrap();
    let entry = LookupEntry {
        query_id: fp.clone(),
        mean_ms: 14.9,
        calls: 90,
        total_ms: 1_341.0,
        had_seq_scan: true,
        seq_scan_tables: vec!["public.coupons".into()],
        tags: vec!["contention".into()],
        query_tags: vec![QueryTag {
            tag: "contention".into(),
            evidence: "Waits on a row lock (transactionid) in 78% of 40 samples, blocked by \
                       shop-batch-job."
                .into(),
            since: Some(0),
            detail: json!({"advice": ["Use `SELECT … FOR UPDATE SKIP LOCKED LIMIT n`."]}),
        }],
        waits: Some(WaitProfile {
            query_id: fp.clone(),
            samples: 40,
            lock: 31,
            cpu: 9,
            lock_events: [("transactionid".to_string(), 31)].into(),
            blockers: vec![Blocker {
                application_name: "shop-batch-job".into(),
                query: "SELECT code FROM coupons WHERE valid_until >= DATE $1 FOR UPDATE".into(),
                state: "idle in transaction".into(),
                samples: 31,
                xact_age_ms_mean: 24.6,
                xact_age_ms_max: 31.0,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut known = LookupResponse::default();
    known.queries.insert(fp.clone(), entry);
    let url = fake_daemon(known).await;
    let mut h = Harness::start(json!({"daemonUrl": url, "token": "s3cret"}), None).await;
    h.open(text).await;
    let at = text.find("coupons").unwrap();
    // The live entry arrives after the first lookup: ask until the hover has it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let md = loop {
        let hov = h
            .request(
                "textDocument/hover",
                json!({"textDocument": {"uri": URI}, "position": pos(text, at)}),
            )
            .await;
        let md = hov["contents"]["value"].as_str().unwrap_or("").to_string();
        if md.contains("Why is this slow?") || Instant::now() > deadline {
            break md;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        md.contains("**`contention`** — Waits on a row lock"),
        "{md}"
    );
    assert!(md.contains("SKIP LOCKED"), "{md}");
    assert!(
        md.contains("waits on a row lock 78% of the time, blocked by `shop-batch-job`"),
        "{md}"
    );
    assert!(md.contains("transactions open ~25 ms"), "{md}");
    assert!(
        md.find("contention").unwrap() < md.find("Seq Scan").unwrap(),
        "{md}"
    );
}

/// The slow tickets query as application code writes it, in four host languages: the SQL sits in
/// a string literal with the driver's placeholder.
const HOST_FILES: &[(&str, &str, &str, &str)] = &[
    (
        "file:///work/app/tickets.py",
        "python",
        "import psycopg\n\n\ndef by_buyer(cur, buyer):\n    # ünïcode 😀 before the call\n    cur.execute(\"SELECT * FROM tickets WHERE buyer_id = %s\", (buyer,))\n    return cur.fetchall()\n",
        "SELECT * FROM tickets WHERE buyer_id = %s",
    ),
    (
        "file:///work/app/tickets.ts",
        "typescript",
        "export async function byBuyer(db: Pool, buyer: number) {\n  const label = \"Select a buyer 😀\";\n  return db.query(\n    `SELECT * FROM tickets WHERE buyer_id = $1`,\n    [buyer],\n  );\n}\n",
        "SELECT * FROM tickets WHERE buyer_id = $1",
    ),
    (
        "file:///work/app/tickets.go",
        "go",
        "package app\n\nfunc ByBuyer(db *sql.DB, buyer int) (*sql.Rows, error) {\n\treturn db.Query(\"SELECT * FROM tickets \" +\n\t\t\"WHERE buyer_id = $1\", buyer)\n}\n",
        "SELECT * FROM tickets \" +\n\t\t\"WHERE buyer_id = $1",
    ),
    (
        "file:///work/app/tickets.rs",
        "rust",
        "pub async fn by_buyer(pool: &PgPool, buyer: i64) {\n    let rows = sqlx::query!(r#\"SELECT * FROM tickets WHERE buyer_id = $1\"#, buyer)\n        .fetch_all(pool)\n        .await;\n}\n",
        "SELECT * FROM tickets WHERE buyer_id = $1",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_in_python_typescript_go_and_rust_gets_warning_hover_actions_and_lens() {
    let (fp, known) = tickets_known();
    let url = fake_daemon(known).await;
    let mut h = Harness::start(json!({"daemonUrl": url, "token": "s3cret"}), None).await;
    for (uri, lang, text, sql) in HOST_FILES {
        h.open_as(uri, lang, text).await;
        let mut seen = vec![];
        let p = h
            .wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
                p["uri"] == *uri && !diags_with(p, "missing_index").is_empty()
            })
            .await;
        let d = &diags_with(&p, "missing_index")[0];
        assert_eq!(d["range"], range(text, sql), "{lang}: {p:#}");
        assert_eq!(d["data"]["query_id"], fp.as_str());
        assert!(
            p["diagnostics"].as_array().unwrap().len() == 1,
            "{lang}: only the live finding: {p:#}"
        );

        let at = text.find("buyer_id =").unwrap();
        let hov = h
            .request(
                "textDocument/hover",
                json!({"textDocument": {"uri": uri}, "position": pos(text, at)}),
            )
            .await;
        let md = hov["contents"]["value"].as_str().unwrap();
        assert!(md.contains("Why is this slow?"), "{lang}: {md}");
        assert_eq!(hov["range"], range(text, sql), "{lang}");

        let (actions, titles) = h.actions_at(uri, text, at).await;
        assert!(
            titles[0].starts_with("Copy DDL: CREATE INDEX"),
            "{lang}: {titles:?}"
        );
        assert!(titles.iter().any(|t| t.starts_with("Simulate")), "{lang}");
        // The DDL note is a comment of the host language, indented like the call.
        let note = actions[1]["edit"]["changes"][*uri][0]["newText"]
            .as_str()
            .unwrap();
        let comment = if *lang == "python" { "#" } else { "//" };
        assert!(
            note.trim_start()
                .starts_with(&format!("{comment} optidb missing_index")),
            "{lang}: {note}"
        );

        let lenses = h
            .request(
                "textDocument/codeLens",
                json!({"textDocument": {"uri": uri}}),
            )
            .await;
        let lens = &lenses[0];
        assert_eq!(
            lens["range"]["start"],
            pos(text, text.find("SELECT").unwrap())
        );
        assert_eq!(
            lens["command"]["title"],
            "24.6 ms × 1,240 calls · 30.5 s total · −93% with index"
        );
        assert_eq!(lens["command"]["command"], "optidb.simulate");

        let hints = h
            .request(
                "textDocument/inlayHint",
                json!({"textDocument": {"uri": uri},
                       "range": {"start": pos(text, 0), "end": pos(text, text.len())}}),
            )
            .await;
        let sql_end = text.find(sql).unwrap() + sql.len();
        assert_eq!(hints[0]["position"], pos(text, sql_end), "{lang}: {hints}");
        assert_eq!(hints[0]["label"], "⏱ 24.6 ms × 1,240");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_edits_and_interpolated_sql() {
    let mut h = Harness::start(json!({"daemonUrl": ""}), None).await;
    let uri = "file:///work/app/report.py";
    let text = "def report(cur, table):\n    cur.execute(f\"SELECT * FROM {table} WHERE a = 1\")\n";
    h.open_as(uri, "python", text).await;
    let mut seen = vec![];
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
            p["uri"] == uri
        })
        .await;
    let d = &diags_with(&p, "sql_injection_risk");
    assert_eq!(d.len(), 1, "{p:#}");
    assert_eq!(d[0]["range"], range(text, "{table}"));
    // An incremental edit turns the identifier hole into a value: still one warning, moved.
    let start = pos(text, text.find("{table} WHERE a = 1").unwrap());
    let end = pos(text, text.find("\")\n").unwrap());
    h.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2},
               "contentChanges": [{"range": {"start": start, "end": end},
                                   "text": "tickets WHERE buyer_id = {buyer}"}]}),
    )
    .await;
    let edited = "def report(cur, table):\n    cur.execute(f\"SELECT * FROM tickets WHERE buyer_id = {buyer}\")\n";
    let p = h
        .wait_for("textDocument/publishDiagnostics", &mut seen, |p| {
            p["uri"] == uri && p["version"] == 2
        })
        .await;
    let d = &diags_with(&p, "sql_injection_risk");
    assert_eq!(d.len(), 1, "{p:#}");
    assert_eq!(d[0]["range"], range(edited, "{buyer}"));
    // A file of a language OptiDB does not read gets nothing (and no error).
    h.open_as(
        "file:///work/notes.txt",
        "plaintext",
        "SELECT * FROM t WHERE a LIKE '%x'",
    )
    .await;
    let hov = h
        .request(
            "textDocument/hover",
            json!({"textDocument": {"uri": "file:///work/notes.txt"}, "position": {"line": 0, "character": 3}}),
        )
        .await;
    assert!(hov.is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_scan_refreshes_code_lenses() {
    // /health reports a new scan id on every call.
    let scans = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(1));
    let app = Router::new().route(
        "/health",
        get(move || {
            let n = scans.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Json(json!({"status": "ok", "last_scan": {"scan_id": n}})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (service, socket) = optidb_lsp::server::service();
    let (mut requests, mut responses) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(r) = requests.next().await {
            let (method, id, _) = r.into_parts();
            if let Some(id) = id {
                let _ = responses.send(Response::from_ok(id, Value::Null)).await;
            }
            let _ = tx.send(method.to_string());
        }
    });
    let mut h = Harness {
        service,
        from_server: mpsc::unbounded_channel().1,
        next_id: 0,
    };
    h.request(
        "initialize",
        json!({"processId": null, "rootUri": null,
               "capabilities": {"workspace": {"codeLens": {"refreshSupport": true}}},
               "initializationOptions": {"daemonUrl": format!("http://{addr}"), "scanPollMs": 200}}),
    )
    .await;
    h.notify("initialized", json!({})).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let m = tokio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            rx.recv(),
        )
        .await
        .expect("a codeLens refresh in time")
        .expect("server alive");
        if m == "workspace/codeLens/refresh" {
            break;
        }
    }
}
