//! Code actions on a statement the daemon has advice for: "Copy DDL …" (a client-side command,
//! `optidb.copyDdl`, that puts the DDL on the clipboard), its fallback "Insert DDL … as a
//! comment" (a plain WorkspaceEdit), and "Simulate … with hypopg" (`optidb.simulate`, run by
//! the server against the daemon).

use super::DocView;
use serde_json::json;
use std::collections::HashMap;
use tower_lsp::lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Command, TextEdit, Url, WorkspaceEdit,
};

/// Client-side command: argument 0 is the DDL text.
pub const COPY_DDL: &str = "optidb.copyDdl";
/// Server-side command: argument 0 is `{"query_id", "rec_id", "mode"}`.
pub const SIMULATE: &str = "optidb.simulate";

/// The actions for the statements overlapping `[start, end]` (byte offsets).
pub fn code_actions(
    doc: &DocView<'_>,
    uri: &Url,
    start: usize,
    end: usize,
) -> Vec<CodeActionOrCommand> {
    let mut out = Vec::new();
    for st in doc
        .analysis
        .statements
        .iter()
        .filter(|s| s.start <= end && start <= s.end)
    {
        let Some(fp) = st.facts.fingerprint.as_deref() else {
            continue;
        };
        let Some(entry) = doc.entry(fp) else { continue };
        for r in &entry.recommendations {
            if r.ddl.trim().is_empty() {
                continue;
            }
            let ddl = r.ddl.trim().to_string();
            let short = optidb_core::format::one_line(&ddl, 80);
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("Copy DDL: {short}"),
                kind: Some(CodeActionKind::QUICKFIX),
                command: Some(Command {
                    title: format!("Copy DDL: {short}"),
                    command: COPY_DDL.into(),
                    arguments: Some(vec![json!(ddl)]),
                }),
                ..Default::default()
            }));
            let at = doc.index.line_start(st.start);
            let pos = doc.index.position(at);
            // The host language's comment, indented like the statement's line.
            let c = doc.analysis.lang.line_comment();
            let line = &doc.index.text()[at..];
            let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
            let comment: String = format!(
                "{indent}{c} optidb {} (confidence {:.0}%):\n{}",
                r.rec_type,
                r.confidence * 100.0,
                ddl.lines()
                    .map(|l| format!("{indent}{c} {l}\n"))
                    .collect::<String>()
            );
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("Insert DDL as a comment: {short}"),
                kind: Some(CodeActionKind::REFACTOR_REWRITE),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(
                        uri.clone(),
                        vec![TextEdit {
                            range: tower_lsp::lsp_types::Range::new(pos, pos),
                            new_text: comment,
                        }],
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }));
            if r.rec_type.contains("index") && r.rec_type != "redundant_index" {
                let title = format!("Simulate {short} with hypopg");
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: title.clone(),
                    kind: Some(CodeActionKind::EMPTY),
                    command: Some(Command {
                        title,
                        command: SIMULATE.into(),
                        arguments: Some(vec![
                            json!({"query_id": fp, "rec_id": r.rec_id, "mode": "hypopg"}),
                        ]),
                    }),
                    ..Default::default()
                }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::LineIndex;
    use crate::daemon::Known;
    use optidb_source::analysis::Analyzer;
    use optidb_source::fixtures::tickets_entry;
    use std::sync::Arc;

    fn titles(fixture: &str) -> Vec<String> {
        let offset = fixture.find("$0").expect("cursor");
        let text = fixture.replacen("$0", "", 1);
        let index = LineIndex::new(Arc::from(text.as_str()));
        let analysis = Analyzer::default().analyze(optidb_source::Lang::Sql, &text);
        let entry = Arc::new(tickets_entry());
        let live = move |_: &str| Some(Known::Entry(entry.clone()));
        let doc = DocView {
            index: &index,
            analysis: &analysis,
            live: &live,
        };
        let uri = Url::parse("file:///x.sql").unwrap();
        code_actions(&doc, &uri, offset, offset)
            .into_iter()
            .map(|a| match a {
                CodeActionOrCommand::CodeAction(a) => a.title,
                CodeActionOrCommand::Command(c) => c.title,
            })
            .collect()
    }

    #[test]
    fn copy_insert_and_simulate_for_an_index_recommendation() {
        assert_eq!(
            titles("SELECT 1;\nSELECT * FROM tickets WHERE $0buyer_id = 42"),
            [
                "Copy DDL: CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)",
                "Insert DDL as a comment: CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)",
                "Simulate CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id) with hypopg",
            ]
        );
    }

    #[test]
    fn nothing_off_statement() {
        assert!(titles("SELECT 1; $0 SELECT 2").is_empty());
    }
}
