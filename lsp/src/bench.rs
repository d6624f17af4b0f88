//! `optidb-lsp --bench [N]`: how long the server takes to compute diagnostics for a generated
//! N-statement file (cold, and after a one-statement edit) and to render hovers from cached
//! daemon data. Targets: diagnostics for 2,000 statements < 100 ms, hover p95 < 20 ms.

use crate::config::Settings;
use crate::convert::LineIndex;
use crate::daemon::Known;
use crate::handlers::{self, hover::LiveState, DocView};
use optidb_core::model::{LookupEntry, LookupRec, LookupSimulation};
use optidb_source::analysis::Analyzer;
use optidb_source::Lang;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A file of `n` statements of the kinds applications have (selects, joins, DML, a few with
/// lint findings, a few syntax errors, some multibyte comments).
pub fn generate(n: usize) -> String {
    let mut s = String::with_capacity(n * 80);
    for i in 0..n {
        let t = i % 150;
        let stmt = match i % 10 {
            0 => format!("SELECT id, name, email FROM customers_{t} WHERE id = {i}"),
            1 => format!(
                "SELECT o.id, o.total FROM orders_{t} o JOIN customers c ON c.id = o.customer_id \
                 WHERE c.email = ? ORDER BY o.created_at DESC LIMIT 20"
            ),
            2 => {
                format!("-- récupère les billets 🎫\nSELECT * FROM tickets_{t} WHERE buyer_id = $1")
            }
            3 => format!("UPDATE accounts_{t} SET balance = balance - :amount WHERE id = :id"),
            4 => format!("SELECT id FROM users_{t} WHERE name ILIKE '%{i}%'"),
            5 => format!("INSERT INTO events_{t} (kind, payload) VALUES ('x', '{{}}')"),
            6 => format!(
                "SELECT count(*) FROM items_{t} WHERE id NOT IN (SELECT item_id FROM sold_{t})"
            ),
            7 => format!("SELECT a, b FROM big_{t} ORDER BY a LIMIT 50 OFFSET %s"),
            8 if i % 40 == 8 => format!("SELEC broken_{t} FROM"),
            _ => format!(
                "SELECT p.id, (SELECT max(v.at) FROM visits_{t} v WHERE v.page_id = p.id) \
                 FROM pages p WHERE p.site = @site"
            ),
        };
        s.push_str(&stmt);
        s.push_str(";\n\n");
    }
    s
}

fn entry(fp: &str) -> LookupEntry {
    LookupEntry {
        query_id: fp.to_string(),
        mean_ms: 24.6,
        calls: 1240,
        total_ms: 30_504.0,
        had_seq_scan: true,
        seq_scan_tables: vec!["public.tickets".into()],
        recommendations: vec![LookupRec {
            rec_id: "r".into(),
            rec_type: "missing_index".into(),
            ddl: "CREATE INDEX ON public.tickets (buyer_id)".into(),
            rationale: "Seq Scan filters buyer_id = $1.".into(),
            confidence: 0.9,
            risk: "low".into(),
            verification: None,
        }],
        last_simulation: Some(LookupSimulation {
            rec_id: "r".into(),
            improvement_pct: 93.0,
            ..Default::default()
        }),
        tags: vec![],
        ..Default::default()
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs the benchmark and prints the figures.
pub fn run(n: usize) {
    let text = generate(n);
    let settings = Settings::default();
    println!(
        "optidb-lsp bench: {n} statements, {} lines, {} KiB",
        text.lines().count(),
        text.len() / 1024
    );

    // Cold: a new analyzer every run (no statement cache); live data cached for half the
    // statements.
    let mut cold = Vec::new();
    let mut diag_count = 0;
    let mut known: HashMap<String, Known> = HashMap::new();
    for run in 0..5 {
        let t = Instant::now();
        let index = LineIndex::new(Arc::from(text.as_str()));
        let analysis = Analyzer::default().analyze(Lang::Sql, &text);
        if run == 0 {
            for (i, fp) in analysis.fingerprints().into_iter().enumerate() {
                if i % 2 == 0 {
                    known.insert(fp.clone(), Known::Entry(Arc::new(entry(&fp))));
                }
            }
        }
        let live = |fp: &str| known.get(fp).cloned();
        let doc = DocView {
            index: &index,
            analysis: &analysis,
            live: &live,
        };
        diag_count = handlers::diagnostics::diagnostics(&doc, &settings).len();
        cold.push(t.elapsed());
    }
    cold.sort();

    // Warm: the same analyzer, one statement edited per run (what typing costs).
    let analyzer = Analyzer::default();
    analyzer.analyze(Lang::Sql, &text);
    let mut warm = Vec::new();
    for run in 0..20 {
        let edited = text.replacen(
            "WHERE id = 0",
            &format!("WHERE id = 0 AND flag_{run} = true"),
            1,
        );
        let t = Instant::now();
        let index = LineIndex::new(Arc::from(edited.as_str()));
        let analysis = analyzer.analyze(Lang::Sql, &edited);
        let live = |fp: &str| known.get(fp).cloned();
        let doc = DocView {
            index: &index,
            analysis: &analysis,
            live: &live,
        };
        let _ = handlers::diagnostics::diagnostics(&doc, &settings);
        warm.push(t.elapsed());
    }
    warm.sort();

    // Hover from cache: position → offset → statement → Markdown, at 2,000 positions.
    let index = LineIndex::new(Arc::from(text.as_str()));
    let analysis = analyzer.analyze(Lang::Sql, &text);
    let live = |fp: &str| known.get(fp).cloned();
    let doc = DocView {
        index: &index,
        analysis: &analysis,
        live: &live,
    };
    let mut hovers = Vec::new();
    let mut rendered = 0;
    let lines = text.lines().count() as u32;
    for i in 0..2000u32 {
        let pos = tower_lsp::lsp_types::Position::new((i * 7919) % lines, (i * 13) % 40);
        let t = Instant::now();
        let offset = index.offset(pos);
        if let Some((md, st)) = handlers::hover::hover_markdown(&doc, offset, LiveState::Available)
        {
            let _ = index.range(st.start, st.end);
            rendered += md.len().min(1);
        }
        hovers.push(t.elapsed());
    }
    hovers.sort();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "diagnostics, cold (split + fingerprint + lints + conversion): median {:.1} ms, min {:.1} ms, max {:.1} ms ({diag_count} diagnostics)",
        ms(pct(&cold, 0.5)),
        ms(cold[0]),
        ms(cold[cold.len() - 1])
    );
    println!(
        "diagnostics after a one-statement edit (statement cache warm): median {:.2} ms, p95 {:.2} ms",
        ms(pct(&warm, 0.5)),
        ms(pct(&warm, 0.95))
    );
    println!(
        "hover from cache ({rendered} of {} positions on a statement): median {:.3} ms, p95 {:.3} ms, max {:.3} ms",
        hovers.len(),
        ms(pct(&hovers, 0.5)),
        ms(pct(&hovers, 0.95)),
        ms(hovers[hovers.len() - 1])
    );
    let (service_hovers, answered) = service_hover_latencies(&text, 500);
    println!(
        "hover through the LSP service ({answered} of {} answered with Markdown; JSON-RPC in/out, daemon off): median {:.3} ms, p95 {:.3} ms, max {:.3} ms",
        service_hovers.len(),
        ms(pct(&service_hovers, 0.5)),
        ms(pct(&service_hovers, 0.95)),
        ms(service_hovers[service_hovers.len() - 1])
    );
    let (edit_analysis, edit_total, diags) = incremental_edits(&text, &known, &settings);
    println!(
        "incremental edit (didChange range → new text and line index → re-analysis from the previous one): median {:.2} ms, p95 {:.2} ms",
        ms(pct(&edit_analysis, 0.5)),
        ms(pct(&edit_analysis, 0.95))
    );
    println!(
        "  … plus building the file's {diags} diagnostics to publish: median {:.2} ms, p95 {:.2} ms",
        ms(pct(&edit_total, 0.5)),
        ms(pct(&edit_total, 0.95))
    );
    let (host_bytes, host_stmts, host) = host_file_edits(n);
    println!(
        "Python file with {host_stmts} cur.execute(…) statements ({} KiB), per typed character (tree-sitter incremental reparse + walk + SQL decision + analysis): median {:.2} ms, p95 {:.2} ms",
        host_bytes / 1024,
        ms(pct(&host, 0.5)),
        ms(pct(&host, 0.95))
    );
    let ok = pct(&cold, 0.5) < Duration::from_millis(100)
        && pct(&hovers, 0.95) < Duration::from_millis(20);
    println!(
        "targets (diagnostics < 100 ms for 2,000 statements, hover p95 < 20 ms): {}",
        if ok { "met" } else { "NOT met" }
    );
}

/// Typing in the middle of the file, one character per edit, as an editor with incremental sync
/// sends it: per edit, the time to apply the change and re-analyze, and that plus building the
/// diagnostics of the whole file.
fn incremental_edits(
    text: &str,
    known: &HashMap<String, Known>,
    settings: &Settings,
) -> (Vec<Duration>, Vec<Duration>, usize) {
    let mut diags = 0;
    let (only, total) = typing(Lang::Sql, text, 7, |index, analysis| {
        let live = |fp: &str| known.get(fp).cloned();
        let doc = DocView {
            index,
            analysis,
            live: &live,
        };
        diags = handlers::diagnostics::diagnostics(&doc, settings).len();
    });
    (only, total, diags)
}

/// Types 40 characters from column `col` of the middle line of `text`, re-analyzing after each
/// from the previous analysis (the language server's path); `after` runs on each result.
/// Returns the times of apply + re-analysis, and of that plus `after`, sorted.
fn typing(
    lang: Lang,
    text: &str,
    col: u32,
    mut after: impl FnMut(&LineIndex, &optidb_source::FileAnalysis),
) -> (Vec<Duration>, Vec<Duration>) {
    use optidb_source::analysis::{Edit, EditPoints};
    use tower_lsp::lsp_types::{Position, Range};
    let analyzer = Analyzer::default();
    let mut index = LineIndex::new(Arc::from(text));
    let mut analysis = analyzer.analyze(lang, text);
    let line = (text.lines().count() / 2) as u32;
    let (mut only, mut total) = (Vec::new(), Vec::new());
    for i in 0..40u32 {
        let pos = Position::new(line, col + i);
        let t = Instant::now();
        let start = index.offset(pos);
        let next = index.apply(Some(Range::new(pos, pos)), "x");
        let edit = Edit {
            start,
            old_end: start,
            new_len: 1,
            points: Some(EditPoints {
                start: index.point(start),
                old_end: index.point(start),
                new_end: next.point(start + 1),
            }),
        };
        let next_analysis = analyzer.reanalyze(&analysis, edit, next.text());
        only.push(t.elapsed());
        after(&next, &next_analysis);
        total.push(t.elapsed());
        index = next;
        analysis = next_analysis;
    }
    only.sort();
    total.sort();
    (only, total)
}

/// A Python module with `n` SQL statements in `cur.execute(…)` calls between ordinary code,
/// typed into like the SQL file (the tree reparsed incrementally, the strings walked again).
fn host_file_edits(n: usize) -> (usize, usize, Vec<Duration>) {
    let mut src = String::from("import psycopg\n\n");
    for i in 0..n {
        src.push_str(&format!(
            "def q{i}(cur, v):\n    \"\"\"Select the rows of page {i}.\"\"\"\n    log.info(\"Update {i} available\")\n    cur.execute(\"SELECT id, total FROM orders_{t} WHERE customer_id = %s AND n > {i}\", (v,))\n    return cur.fetchall()\n\n",
            t = i % 150
        ));
    }
    let stmts = Analyzer::default()
        .analyze(Lang::Python, &src)
        .statements
        .len();
    let (times, _) = typing(Lang::Python, &src, 4, |_, _| {});
    (src.len(), stmts, times)
}

/// Hover latencies measured through `LspService` (request JSON in, response JSON out) on the
/// open generated file.
fn service_hover_latencies(text: &str, n: u32) -> (Vec<Duration>, usize) {
    use futures::StreamExt;
    use serde_json::json;
    use tower_lsp::jsonrpc::Request;
    use tower_lsp::lsp_types::request::Request as _;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use tower::{Service, ServiceExt};
        let (mut service, socket) = crate::server::service();
        tokio::spawn(socket.for_each(|_| async {}));
        async fn call(
            service: &mut tower_lsp::LspService<crate::server::Backend>,
            req: Request,
        ) -> Option<tower_lsp::jsonrpc::Response> {
            service.ready().await.ok()?.call(req).await.ok().flatten()
        }
        let _ = call(
            &mut service,
            Request::build("initialize")
                .params(json!({"capabilities": {}, "initializationOptions": {"daemonUrl": ""}}))
                .id(1)
                .finish(),
        )
        .await;
        let uri = "file:///bench.sql";
        let _ = call(
            &mut service,
            Request::build("textDocument/didOpen")
                .params(json!({"textDocument": {"uri": uri, "languageId": "sql", "version": 1,
                                "text": text}}))
                .finish(),
        )
        .await;
        let lines = text.lines().count() as u32;
        let mut out = Vec::new();
        let mut answered = 0;
        for i in 0..n {
            let req = Request::build(tower_lsp::lsp_types::request::HoverRequest::METHOD)
                .params(json!({"textDocument": {"uri": uri},
                               "position": {"line": (i * 7919) % lines, "character": (i * 13) % 40}}))
                .id(i as i64 + 2)
                .finish();
            let t = Instant::now();
            let r = call(&mut service, req).await;
            out.push(t.elapsed());
            if r.and_then(|r| r.into_parts().1.ok()).is_some_and(|v| !v.is_null()) {
                answered += 1;
            }
        }
        out.sort();
        (out, answered)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_has_the_statements_asked_for() {
        let text = generate(40);
        let a = Analyzer::default().analyze(Lang::Sql, &text);
        assert_eq!(a.statements.len(), 40);
        assert_eq!(
            a.statements
                .iter()
                .filter(|s| s.facts.syntax_error.is_some())
                .count(),
            1
        );
    }
}
