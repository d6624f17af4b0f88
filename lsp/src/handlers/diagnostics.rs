//! Diagnostics of a document: syntax errors and text-only lints (always, no daemon needed), and
//! live findings from the daemon on each statement's exact range.

use super::DocView;
use crate::config::Settings;
use crate::convert;
use optidb_source::analysis::StatementInfo;
use optidb_source::live::live_finding;
use serde_json::json;
use tower_lsp::lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString};

/// Source shown next to every diagnostic.
pub const SOURCE: &str = "optidb";

/// Every diagnostic of the document that the settings let through.
pub fn diagnostics(doc: &DocView<'_>, settings: &Settings) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for st in &doc.analysis.statements {
        statement_diagnostics(doc, st, &mut out);
    }
    for f in &doc.analysis.findings {
        out.push(Diagnostic {
            range: doc.index.range(f.start, f.end),
            severity: Some(convert::severity(f.severity)),
            code: Some(NumberOrString::String(f.rule.into())),
            source: Some(SOURCE.into()),
            message: f.message.clone(),
            ..Default::default()
        });
    }
    out.retain(|d| settings.shows(d.severity.unwrap_or(DiagnosticSeverity::HINT)));
    out
}

fn statement_diagnostics(doc: &DocView<'_>, st: &StatementInfo, out: &mut Vec<Diagnostic>) {
    let idx = doc.index;
    let f = &st.facts;
    if let Some(e) = &f.syntax_error {
        let (s, e_end) = match e.position {
            Some(p) => {
                let (s, _) = st.file_range(p, p);
                (s, word_end(idx.text(), s, st.end))
            }
            None => (st.start, st.end),
        };
        out.push(Diagnostic {
            range: idx.range(s, e_end),
            severity: Some(DiagnosticSeverity::ERROR),
            code: Some(NumberOrString::String("syntax_error".into())),
            source: Some(SOURCE.into()),
            message: e.message.clone(),
            ..Default::default()
        });
    }
    for l in &f.lints {
        let (s, e) = st.file_range(l.start, l.end);
        out.push(Diagnostic {
            range: idx.range(s, e),
            severity: Some(convert::severity(l.severity)),
            code: Some(NumberOrString::String(l.rule.into())),
            source: Some(SOURCE.into()),
            message: format!("{} — {}", l.message, l.help),
            ..Default::default()
        });
    }
    let Some(fp) = &f.fingerprint else { return };
    let Some(entry) = doc.entry(fp) else { return };
    if let Some((severity, message)) = live_finding(&entry) {
        let top = entry.recommendations.first();
        out.push(Diagnostic {
            range: idx.range(st.start, st.end),
            severity: Some(convert::severity(severity)),
            code: Some(NumberOrString::String(
                top.map(|r| r.rec_type.clone())
                    .unwrap_or_else(|| "slow_query".into()),
            )),
            source: Some(SOURCE.into()),
            message,
            data: Some(json!({"query_id": fp, "rec_id": top.map(|r| r.rec_id.clone())})),
            ..Default::default()
        });
    }
}

/// End of the token starting at `s` (the extent of a syntax-error squiggle), at least one
/// character, at most `limit`.
fn word_end(text: &str, s: usize, limit: usize) -> usize {
    let rest = &text[s.min(text.len())..limit.max(s).min(text.len())];
    let mut chars = rest.char_indices();
    let Some((_, first)) = chars.next() else {
        return s;
    };
    if !(first.is_alphanumeric() || first == '_') {
        return s + first.len_utf8();
    }
    let n = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(rest.len());
    s + n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_squiggle_covers_the_word() {
        assert_eq!(word_end("SELEC 1", 0, 7), 5);
        assert_eq!(word_end("SELECT 1 +", 9, 10), 10);
        assert_eq!(word_end("é", 0, 2), 2);
    }
}
