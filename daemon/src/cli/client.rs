//! `optidb scan | bottlenecks | query | simulate | ask`: every dashboard answer on the command
//! line. These talk to a running daemon over its JSON API (docs/api.md): human tables by
//! default, `--json` for machines, exit codes that mean something (see [`super::exit`]).
//! An `https://` daemon is checked against the system's trusted roots, plus the CA file of
//! `--daemon-ca` (a private CA).

use super::exit;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the daemon is and how to talk to it (shared by every client command).
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonConn {
    /// The daemon's address [default: http://127.0.0.1:7070]. `optidb check` asks a daemon
    /// only when this is given (flag or environment).
    #[arg(long, env = "OPTIDB_DAEMON", global = true)]
    pub daemon: Option<String>,
    /// Bearer token, when the daemon requires one.
    #[arg(long, env = "OPTIDB_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// For an https:// daemon: a CA certificate (PEM) to trust besides the system's roots
    /// (the private CA that signed the daemon's certificate).
    #[arg(long, env = "OPTIDB_DAEMON_CA", global = true)]
    pub daemon_ca: Option<PathBuf>,
    /// Print the daemon's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The daemon the client commands talk to when `--daemon` is not given.
pub const DEFAULT_DAEMON: &str = "http://127.0.0.1:7070";

impl DaemonConn {
    /// The address given with `--daemon` or `OPTIDB_DAEMON`; an empty one (a CI secret that is
    /// not set) counts as not given.
    pub fn given(&self) -> Option<&str> {
        self.daemon.as_deref().filter(|d| !d.trim().is_empty())
    }

    /// The daemon's address: the one given, or [`DEFAULT_DAEMON`].
    pub fn url(&self) -> &str {
        self.given().unwrap_or(DEFAULT_DAEMON)
    }
}

/// A client command.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Scan the target now and print what the scan found.
    Scan,
    /// The queries that hurt most, with their top recommendation.
    Bottlenecks {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only queries carrying this tag: contention, spike, regression, plan_changed, new.
        #[arg(long, value_parser = parse_tag)]
        tag: Option<String>,
    },
    /// The latest scan's query families: kinds of work, their members and total time.
    Families,
    /// Everything known about one query: metrics, plan facts, recommendations, simulations.
    Query {
        /// Query id (16 hex digits; `optidb fingerprint` computes it from SQL).
        id: String,
    },
    /// Prove a recommendation's gain before touching the database.
    Simulate {
        /// Query id.
        query_id: String,
        /// Recommendation id (default: the query's top index recommendation).
        #[arg(long = "rec")]
        rec_id: Option<String>,
        /// Or an explicit CREATE INDEX statement.
        #[arg(long, conflicts_with = "rec_id")]
        ddl: Option<String>,
        /// `hypopg` (hypothetical index) or `real` (sandbox targets only).
        #[arg(long, default_value = "hypopg")]
        mode: String,
    },
    /// Simulate several index recommendations together on every stored query they affect.
    SimulateWorkload {
        /// Recommendation ids (default: every index recommendation of the latest scan).
        #[arg(long = "rec")]
        rec_ids: Vec<String>,
    },
    /// Ask a question about the workload ("why is query X slow", "what index should I add").
    Ask {
        question: String,
        /// The query the question is about.
        #[arg(long = "query")]
        query_id: Option<String>,
    },
}

/// A daemon answer that is not a success, turned into a message and an exit code.
pub(crate) struct Failure {
    pub code: u8,
    pub message: String,
}

/// How long a client command waits for the daemon's answer (a scan or a simulation can take
/// minutes).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// The HTTP client every daemon call uses: statuses are answers, not errors.
pub(crate) fn agent() -> ureq::Agent {
    agent_with(daemon_tls(None).unwrap_or_default(), ANSWER_TIMEOUT)
}

fn agent_with(tls: ureq::tls::TlsConfig, timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(3)))
        .timeout_global(Some(timeout))
        .tls_config(tls)
        .build()
        .into()
}

/// TLS for `https://` daemons: the system's roots and `ca` (a PEM file); see optidb-client.
pub fn daemon_tls(ca: Option<&Path>) -> Result<ureq::tls::TlsConfig, String> {
    optidb_client::daemon_tls(ca, "--daemon-ca")
}

/// What to do about a failed connection to the daemon, when the failure says it: TLS trust,
/// names, and the two ways of mixing up http and https.
pub fn connect_hint(url: &str, error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("unknownissuer") || e.contains("unknown issuer") || e.contains("badsignature") {
        "the daemon's TLS certificate is not signed by a CA this machine trusts: pass --daemon-ca \
         FILE (or OPTIDB_DAEMON_CA) with the CA that signed it"
    } else if e.contains("notvalidforname") || e.contains("not valid for name") {
        "the daemon's TLS certificate does not name this host: use a name it carries in --daemon"
    } else if e.contains("expired") || e.contains("notvalidyet") {
        "the daemon's TLS certificate is expired or not valid yet: renew it"
    } else if url.starts_with("https://")
        && (e.contains("corrupt message") || e.contains("invalidcontenttype"))
    {
        "the daemon answered without TLS: is it serving plain HTTP? use an http:// URL, or start \
         it with --tls-cert and --tls-key"
    } else {
        "start it with `optidb daemon --db …`, or pass --daemon URL"
    }
}

fn call(
    conn: &DaemonConn,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Failure> {
    call_within(conn, method, path, body, ANSWER_TIMEOUT)
}

/// One daemon call (`--daemon`, `--token`, `--daemon-ca`), answered within `timeout`: the JSON
/// answer, or what went wrong with the exit code it means.
pub(crate) fn call_within(
    conn: &DaemonConn,
    method: &str,
    path: &str,
    body: Option<Value>,
    timeout: Duration,
) -> Result<Value, Failure> {
    let daemon = conn.url();
    let url = format!("{}{}", daemon.trim_end_matches('/'), path);
    let agent = if daemon.starts_with("https://") {
        agent_with(
            daemon_tls(conn.daemon_ca.as_deref()).map_err(|message| Failure {
                code: exit::USAGE,
                message,
            })?,
            timeout,
        )
    } else {
        agent_with(ureq::tls::TlsConfig::default(), timeout)
    };
    let auth = conn.token.as_ref().map(|t| format!("Bearer {t}"));
    let result = match (method, body) {
        ("GET", _) => {
            let mut req = agent.get(&url);
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            req.call()
        }
        (_, Some(b)) => {
            let mut req = agent.post(&url).header("content-type", "application/json");
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            req.send(b.to_string())
        }
        (_, None) => {
            let mut req = agent.post(&url);
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            req.send_empty()
        }
    };
    let mut resp = result.map_err(|e| Failure {
        code: exit::UNAVAILABLE,
        message: format!(
            "cannot reach the OptiDB daemon at {daemon}: {e} ({})",
            connect_hint(daemon, &e.to_string())
        ),
    })?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status < 400 {
        return Ok(value);
    }
    let message = match (
        value["error"].as_str(),
        value["why"].as_str(),
        value["hint"].as_str(),
    ) {
        (Some(e), why, hint) => {
            let mut m = e.to_string();
            if let Some(w) = why {
                m.push_str(": ");
                m.push_str(w);
            }
            if let Some(h) = hint.filter(|h| !h.is_empty()) {
                m.push_str(" — ");
                m.push_str(h);
            }
            m
        }
        _ => format!("the daemon answered {status}: {value}"),
    };
    let code = match status {
        401 | 403 => exit::USAGE,
        400..=499 => exit::USAGE,
        _ => exit::UNAVAILABLE,
    };
    Err(Failure { code, message })
}

/// The rec_id of a query's top index recommendation (`optidb simulate <id>` without `--rec`
/// or `--ddl`): the first missing or composite index in `GET /queries/:id`'s order.
fn top_index_recommendation(conn: &DaemonConn, query_id: &str) -> Result<String, Failure> {
    let q = call(conn, "GET", &format!("/queries/{query_id}"), None)?;
    q["recommendations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| {
            matches!(
                r["type"].as_str(),
                Some("missing_index" | "composite_index")
            )
        })
        .and_then(|r| r["rec_id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Failure {
            code: exit::USAGE,
            message: format!(
                "query {query_id} has no index recommendation to simulate — pass --ddl \
                 'CREATE INDEX …' (or --rec REC_ID from `optidb query {query_id}`)"
            ),
        })
}

/// Runs a client command; returns the process exit code.
pub fn run(conn: &DaemonConn, cmd: &ClientCommand) -> anyhow::Result<u8> {
    let result = match cmd {
        ClientCommand::Scan => scan(conn),
        ClientCommand::Bottlenecks { limit, tag } => {
            let filter = tag
                .as_deref()
                .map(|t| format!("&tag={t}"))
                .unwrap_or_default();
            call(
                conn,
                "GET",
                &format!("/bottlenecks?limit={limit}{filter}"),
                None,
            )
            .map(|v| (v.clone(), render_bottlenecks(&v, tag.as_deref())))
        }
        ClientCommand::Families => {
            call(conn, "GET", "/families", None).map(|v| (v.clone(), super::families::render(&v)))
        }
        ClientCommand::Query { id } => call(conn, "GET", &format!("/queries/{id}"), None)
            .map(|v| (v.clone(), render_query(&v))),
        ClientCommand::Simulate {
            query_id,
            rec_id,
            ddl,
            mode,
        } => {
            let mut body = json!({"query_id": query_id, "mode": mode});
            if let Some(d) = ddl {
                body["ddl"] = json!(d);
            }
            let rec = match (rec_id, ddl) {
                (Some(r), _) => Ok(Some(r.clone())),
                (None, Some(_)) => Ok(None),
                (None, None) => top_index_recommendation(conn, query_id).map(Some),
            };
            rec.and_then(|rec| {
                if let Some(r) = rec {
                    body["rec_id"] = json!(r);
                }
                call(conn, "POST", "/simulate", Some(body))
            })
            .map(|v| (v.clone(), render_simulation(&v)))
        }
        ClientCommand::SimulateWorkload { rec_ids } => call(
            conn,
            "POST",
            "/simulate/workload",
            Some(json!({ "rec_ids": rec_ids })),
        )
        .map(|v| (v.clone(), render_workload(&v))),
        ClientCommand::Ask { question, query_id } => {
            let mut body = json!({ "question": question });
            if let Some(q) = query_id {
                body["query_id"] = json!(q);
            }
            call(conn, "POST", "/chat", Some(body)).map(|v| (v.clone(), render_answer(&v)))
        }
    };
    match result {
        Ok((value, human)) => {
            let text = if conn.json {
                serde_json::to_string_pretty(&value)?
            } else {
                human
            };
            super::print_line(text.trim_end())?;
            Ok(exit::OK)
        }
        Err(f) => {
            eprintln!("optidb: {}", f.message);
            Ok(f.code)
        }
    }
}

/// POST /scan with a progress indicator on a terminal (the call returns when the scan is done).
fn scan(conn: &DaemonConn) -> Result<(Value, String), Failure> {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinner = (std::io::stderr().is_terminal() && !conn.json).then(|| {
        let done = done.clone();
        std::thread::spawn(move || {
            let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let t0 = std::time::Instant::now();
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                eprint!(
                    "\r{} scanning… {:.1} s",
                    frames[i % frames.len()],
                    t0.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            eprint!("\r\x1b[2K");
        })
    });
    let r = call(conn, "POST", "/scan", None);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(h) = spinner {
        let _ = h.join();
    }
    r.map(|v| {
        let mut s = format!(
            "scan done in {:.0} ms: {} statements seen, {} queries stored, {} plans captured ({} plan errors), {} tables, {} indexes",
            v["duration_ms"].as_f64().unwrap_or(0.0),
            v["statements_seen"],
            v["queries_stored"],
            v["plans_captured"],
            v["plan_errors"],
            v["tables"],
            v["indexes"]
        );
        if let Some(n) = v["recommendations"].as_u64() {
            s.push_str(&format!(", {n} recommendations"));
        }
        for w in v["warnings"].as_array().into_iter().flatten() {
            s.push_str(&format!("\nwarning: {}", w.as_str().unwrap_or_default()));
        }
        (v.clone(), s)
    })
}

/// A tag name as the API knows them: lowercase letters and `_` (so it needs no URL encoding).
fn parse_tag(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        Ok(s.to_string())
    } else {
        Err("a tag is a lowercase word: contention, spike, regression, plan_changed, new".into())
    }
}

fn render_bottlenecks(v: &Value, tag: Option<&str>) -> String {
    let rows = v.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return match tag {
            Some(t) => format!("no query of the latest scan is tagged {t}"),
            None => "no bottlenecks stored yet: run `optidb scan`".into(),
        };
    }
    let mut out = format!(
        "{:<16}  {:>9} {:>8} {:>11}  {:<5}  {}\n",
        "query id", "mean ms", "calls", "total ms", "conf", "query / reason / fix"
    );
    for r in rows {
        let conf = r["confidence"]
            .as_f64()
            .map(|c| format!("{c:.2}"))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<16}  {:>9.2} {:>8} {:>11.1}  {:<5}  {}\n",
            r["query_id"].as_str().unwrap_or(""),
            r["mean_ms"].as_f64().unwrap_or(0.0),
            r["calls"],
            r["total_ms"].as_f64().unwrap_or(0.0),
            conf,
            optidb_core::format::one_line(r["query"].as_str().unwrap_or(""), 70)
        ));
        out.push_str(&format!(
            "{:<16}  {:>42}  why: {}\n",
            "",
            "",
            optidb_core::format::one_line(r["reason"].as_str().unwrap_or(""), 100)
        ));
        let tags: Vec<&str> = r["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["tag"].as_str())
            .collect();
        if !tags.is_empty() {
            out.push_str(&format!(
                "{:<16}  {:>42}  tags: {}\n",
                "",
                "",
                tags.join(", ")
            ));
        }
        if let Some(ddl) = r["ddl"].as_str() {
            out.push_str(&format!("{:<16}  {:>42}  fix: {}\n", "", "", ddl));
        }
    }
    out
}

/// The tags (with evidence and advice) and the latest wait profile of a `GET /queries/{id}`.
fn render_tags_and_waits(v: &Value, out: &mut String) {
    for t in v["tags"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "tag {}: {}\n",
            t["tag"].as_str().unwrap_or(""),
            t["evidence"].as_str().unwrap_or("")
        ));
        for a in t["detail"]["advice"].as_array().into_iter().flatten() {
            out.push_str(&format!("  - {}\n", a.as_str().unwrap_or("")));
        }
    }
    if let Some(w) = v["waits"].as_array().and_then(|w| w.last()) {
        if let Ok(w) = serde_json::from_value::<optidb_core::model::WaitProfile>(w.clone()) {
            out.push_str(&format!(
                "waits ({} samples, scan of {}): {}\n",
                w.samples,
                optidb_core::time::human(w.captured_at),
                w.summary()
            ));
            if let Some(h) = w.lock_headline() {
                out.push_str(&format!("  {h}\n"));
            }
        }
    }
}

fn render_query(v: &Value) -> String {
    let q = &v["query"];
    let mut out = format!(
        "query {}\n  {}\n",
        q["id"].as_str().unwrap_or(""),
        q["norm_sql"].as_str().unwrap_or("")
    );
    render_tags_and_waits(v, &mut out);
    if let Some(m) = v["metrics"].as_array().and_then(|m| m.last()) {
        out.push_str(&format!(
            "metrics: {:.2} ms mean × {} calls = {:.1} ms (captured {})\n",
            m["mean_ms"].as_f64().unwrap_or(0.0),
            m["calls"],
            m["total_ms"].as_f64().unwrap_or(0.0),
            m["captured_at"]
                .as_i64()
                .map(optidb_core::time::human)
                .unwrap_or_default()
        ));
    }
    for p in v["plans"].as_array().into_iter().flatten() {
        let f = &p["facts"];
        out.push_str(&format!(
            "plan ({}): nodes {}; seq scan: {}; est rows {}; cost {}\n",
            p["kind"].as_str().unwrap_or(""),
            f["node_types"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(" > "))
                .unwrap_or_default(),
            f["had_seq_scan"],
            f["est_rows"],
            f["total_cost"]
        ));
    }
    for r in v["recommendations"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "recommendation [{}] {} (confidence {:.2}, id {})\n  {}\n  risk: {}\n  {}\n",
            r["type"].as_str().unwrap_or(""),
            r["target"]["table"].as_str().unwrap_or(""),
            r["confidence"].as_f64().unwrap_or(0.0),
            r["rec_id"].as_str().unwrap_or(""),
            r["ddl"].as_str().unwrap_or(""),
            r["risk"].as_str().unwrap_or(""),
            r["rationale"].as_str().unwrap_or("")
        ));
    }
    for s in v["simulations"].as_array().into_iter().flatten() {
        out.push_str(&render_simulation(s));
    }
    for e in v["plan_errors"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "plan error: {}\n",
            e["error"].as_str().unwrap_or("")
        ));
    }
    out
}

fn render_simulation(s: &Value) -> String {
    let changes = s["plan_changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    format!(
        "simulation ({}): {:.2} ms → {:.2} ms{} ({:.0}% better); cost {:.1} → {:.1}; index used: {}{}\n",
        s["mode"].as_str().unwrap_or(""),
        s["before_ms"].as_f64().unwrap_or(0.0),
        s["after_ms"].as_f64().unwrap_or(0.0),
        if s["after_is_estimate"].as_bool().unwrap_or(false) { " (estimate)" } else { "" },
        s["improvement_pct"].as_f64().unwrap_or(0.0),
        s["before_cost"].as_f64().unwrap_or(0.0),
        s["after_cost"].as_f64().unwrap_or(0.0),
        s["index_used"],
        if changes.is_empty() { String::new() } else { format!("\n  {changes}") }
    )
}

fn render_workload(v: &Value) -> String {
    let mut out = format!(
        "estimated time saved: {:.0} ms of {:.0} ms ({:.0}%) across {} queries, weighted by calls\n",
        v["saved_ms"].as_f64().unwrap_or(0.0),
        v["affected_ms"].as_f64().unwrap_or(0.0),
        v["saved_pct"].as_f64().unwrap_or(0.0),
        v["lines"].as_array().map(Vec::len).unwrap_or(0)
    );
    for d in v["ddls"].as_array().into_iter().flatten() {
        out.push_str(&format!("  with {}\n", d.as_str().unwrap_or("")));
    }
    for l in v["lines"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {:>8} calls  {:>9.2} → {:>9.2} ms{}\n",
            l["query_id"].as_str().unwrap_or(""),
            l["calls"],
            l["before_ms"].as_f64().unwrap_or(0.0),
            l["after_ms"].as_f64().unwrap_or(0.0),
            l["error"]
                .as_str()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        ));
    }
    out
}

fn render_answer(v: &Value) -> String {
    let mut out = v["answer"].as_str().unwrap_or("").to_string();
    out.push('\n');
    for c in v["citations"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  [{}] {}\n",
            c["source"].as_str().unwrap_or(""),
            c["text"].as_str().unwrap_or("")
        ));
    }
    out
}
