//! Code lenses: above every statement the daemon knows, what it costs in production and what
//! the fix gains (`24.6 ms × 1,240 calls · 30.5 s total · −93% with index`). Clicking runs the
//! top recommendation's simulation, or opens the dashboard's page of the query when there is no
//! advice.

use super::{code_action::SIMULATE, DocView};
use optidb_source::live::lens_title;
use serde_json::json;
use tower_lsp::lsp_types::{CodeLens, Command};

/// Server-side command: argument 0 is `{"query_id"}`; opens the dashboard's query page.
pub const OPEN_QUERY: &str = "optidb.openQuery";

/// One lens per statement with live data, on the statement's first line.
pub fn code_lenses(doc: &DocView<'_>) -> Vec<CodeLens> {
    let mut out = Vec::new();
    for st in &doc.analysis.statements {
        let Some(fp) = st.facts.fingerprint.as_deref() else {
            continue;
        };
        let Some(entry) = doc.entry(fp) else { continue };
        let title = lens_title(&entry);
        let command = match entry.recommendations.first() {
            Some(r) => Command {
                title,
                command: SIMULATE.into(),
                arguments: Some(vec![
                    json!({"query_id": fp, "rec_id": r.rec_id, "mode": "hypopg"}),
                ]),
            },
            None => Command {
                title,
                command: OPEN_QUERY.into(),
                arguments: Some(vec![json!({"query_id": fp})]),
            },
        };
        out.push(CodeLens {
            range: doc.index.range(st.start, st.start),
            command: Some(command),
            data: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::with_first_known;
    use optidb_source::Lang;

    #[test]
    fn a_lens_on_the_known_statement_of_a_python_file() {
        let text = "import db\n\ndef tickets(cur, b):\n    cur.execute(\"SELECT * FROM tickets WHERE buyer_id = %s\", (b,))\n    cur.execute(\"SELECT * FROM other\")\n";
        let lenses = with_first_known(Lang::Python, text, |view| {
            assert_eq!(view.analysis.statements.len(), 2);
            code_lenses(view)
        });
        assert_eq!(lenses.len(), 1);
        assert_eq!(lenses[0].range.start.line, 3);
        assert_eq!(lenses[0].range.start.character, 17);
        let c = lenses[0].command.as_ref().unwrap();
        assert_eq!(
            c.title,
            "24.6 ms × 1,240 calls · 30.5 s total · −93% with index"
        );
        assert_eq!(c.command, SIMULATE);
    }
}
