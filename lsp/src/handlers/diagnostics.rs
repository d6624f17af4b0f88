//! Diagnostics of a document: syntax errors and text-only lints (always, no daemon needed), and
//! live findings from the daemon on each statement's exact range.

use super::{duration_ms, index_target, thousands, DocView};
use crate::analysis::StatementInfo;
use crate::config::Settings;
use crate::convert;
use optidb_core::model::{LookupEntry, LookupRec};
use serde_json::json;
use tower_lsp::lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString};

/// Source shown next to every diagnostic.
pub const SOURCE: &str = "optidb";
/// A recommendation at least this confident makes a live finding a warning.
pub const HIGH_CONFIDENCE: f64 = 0.7;

/// Every diagnostic of the document that the settings let through.
pub fn diagnostics(doc: &DocView<'_>, settings: &Settings) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for st in &doc.analysis.statements {
        statement_diagnostics(doc, st, &mut out);
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
                let s = st.start + p;
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
        out.push(Diagnostic {
            range: idx.range(st.start + l.start, st.start + l.end),
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
            severity: Some(severity),
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

/// The one-line live finding of a query, and how loud it is: a warning when a recommendation is
/// confident, information otherwise; nothing for a query with neither advice nor a Seq Scan.
pub fn live_finding(e: &LookupEntry) -> Option<(DiagnosticSeverity, String)> {
    let top = e.recommendations.first();
    if top.is_none() && !e.had_seq_scan {
        return None;
    }
    let mut parts = vec![format!(
        "{} × {} calls",
        duration_ms(e.mean_ms),
        thousands(e.calls)
    )];
    if e.had_seq_scan {
        if e.seq_scan_tables.is_empty() {
            parts.push("Seq Scan".into());
        } else {
            let t: Vec<&str> = e
                .seq_scan_tables
                .iter()
                .map(|t| t.rsplit('.').next().unwrap_or(t))
                .collect();
            parts.push(format!("Seq Scan on {}", t.join(", ")));
        }
    }
    let severity = match top {
        Some(r) => {
            parts.push(rec_summary(e, r));
            if r.confidence >= HIGH_CONFIDENCE {
                DiagnosticSeverity::WARNING
            } else {
                DiagnosticSeverity::INFORMATION
            }
        }
        None => DiagnosticSeverity::INFORMATION,
    };
    Some((severity, parts.join("; ")))
}

/// `add index on tickets(buyer_id), −93% simulated`.
pub fn rec_summary(e: &LookupEntry, r: &LookupRec) -> String {
    let what = match index_target(&r.ddl) {
        Some(t) if r.rec_type != "redundant_index" => format!("add index on {t}"),
        _ => first_sentence(&r.rationale)
            .or_else(|| Some(r.rec_type.replace('_', " ")))
            .unwrap_or_default(),
    };
    let gain = match &e.last_simulation {
        Some(s) if s.rec_id == r.rec_id && s.improvement_pct > 0.0 => {
            Some(format!("−{:.0}% simulated", s.improvement_pct))
        }
        _ => r
            .verification
            .as_ref()
            .filter(|v| v.improvement_pct > 0.0)
            .map(|v| format!("−{:.0}% est. cost", v.improvement_pct)),
    };
    match gain {
        Some(g) => format!("{what}, {g}"),
        None => what,
    }
}

fn first_sentence(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let end = s.find(". ").map(|i| i + 1).unwrap_or(s.len());
    let mut out = s[..end].trim_end_matches('.').to_string();
    if out.chars().count() > 100 {
        out = out.chars().take(99).collect::<String>() + "…";
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use optidb_core::model::LookupSimulation;

    pub(crate) fn tickets_entry() -> LookupEntry {
        LookupEntry {
            query_id: "0123456789abcdef".into(),
            mean_ms: 24.6,
            calls: 1240,
            total_ms: 30_504.0,
            had_seq_scan: true,
            seq_scan_tables: vec!["public.tickets".into()],
            recommendations: vec![LookupRec {
                rec_id: "r1".into(),
                rec_type: "missing_index".into(),
                ddl: "CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)".into(),
                rationale: "Seq Scan filters tickets.buyer_id = $1.".into(),
                confidence: 0.9,
                risk: "low".into(),
                verification: None,
            }],
            last_simulation: Some(LookupSimulation {
                rec_id: "r1".into(),
                mode: "hypopg".into(),
                before_ms: 24.6,
                after_ms: 1.7,
                improvement_pct: 93.1,
                ..Default::default()
            }),
            tags: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn the_issue_example_message() {
        let (sev, msg) = live_finding(&tickets_entry()).unwrap();
        assert_eq!(sev, DiagnosticSeverity::WARNING);
        assert_eq!(
            msg,
            "24.6 ms × 1,240 calls; Seq Scan on tickets; add index on tickets(buyer_id), −93% simulated"
        );
    }

    #[test]
    fn weak_advice_is_information_and_nothing_to_say_is_nothing() {
        let mut e = tickets_entry();
        e.recommendations[0].confidence = 0.4;
        assert_eq!(live_finding(&e).unwrap().0, DiagnosticSeverity::INFORMATION);
        e.recommendations.clear();
        e.had_seq_scan = false;
        assert_eq!(live_finding(&e), None);
    }

    #[test]
    fn syntax_error_squiggle_covers_the_word() {
        assert_eq!(word_end("SELEC 1", 0, 7), 5);
        assert_eq!(word_end("SELECT 1 +", 9, 10), 10);
        assert_eq!(word_end("é", 0, 2), 2);
    }
}
