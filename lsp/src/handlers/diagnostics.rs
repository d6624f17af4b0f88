//! Diagnostics of a document: syntax errors and text-only lints (always, no daemon needed), and
//! live findings from the daemon on each statement's exact range.

use super::DocView;
use crate::config::Settings;
use crate::convert;
use optidb_source::analysis::StatementInfo;
use optidb_source::live::{self, live_finding};
use serde_json::json;
use tower_lsp::lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString};

/// Source shown next to every diagnostic.
pub const SOURCE: &str = "optidb";

/// Every diagnostic of the document that the settings let through: the text's own findings,
/// then the live ones.
pub fn diagnostics(doc: &DocView<'_>, settings: &Settings) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = doc
        .analysis
        .static_findings(doc.index.text())
        .into_iter()
        .map(|f| Diagnostic {
            range: doc.index.range(f.start, f.end),
            severity: Some(convert::level(f.severity)),
            code: Some(NumberOrString::String(f.rule.into())),
            source: Some(SOURCE.into()),
            message: f.message,
            ..Default::default()
        })
        .collect();
    for st in &doc.analysis.statements {
        live_diagnostic(doc, st, &mut out);
    }
    out.retain(|d| settings.shows(d.severity.unwrap_or(DiagnosticSeverity::HINT)));
    out
}

fn live_diagnostic(doc: &DocView<'_>, st: &StatementInfo, out: &mut Vec<Diagnostic>) {
    let idx = doc.index;
    let f = &st.facts;
    let Some(fp) = &f.fingerprint else { return };
    let Some(entry) = doc.entry(fp) else { return };
    if let Some((severity, message)) = live_finding(&entry) {
        let top = entry.recommendations.first();
        out.push(Diagnostic {
            range: idx.range(st.start, st.end),
            severity: Some(convert::severity(severity)),
            code: Some(NumberOrString::String(live::rule(&entry).into())),
            source: Some(SOURCE.into()),
            message,
            data: Some(json!({"query_id": fp, "rec_id": top.map(|r| r.rec_id.clone())})),
            ..Default::default()
        });
    }
}
