//! The compiler-style text of `optidb check` (`path:line:col: severity[rule]: message`, which
//! editors and terminals turn into links) and its one-line summary.

use super::findings::Report;

/// One line per finding, plus a `fix:` line under a finding that carries DDL.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "{}:{}:{}: {}[{}]: {}\n",
            f.shown_path,
            f.line,
            f.column,
            f.severity.name(),
            f.rule,
            f.message
        ));
        if let Some(ddl) = &f.ddl {
            out.push_str(&format!("    fix: {ddl}\n"));
        }
    }
    out
}

/// `5 files, 9 statements: 1 error, 3 warnings, 0 info, 0 hints; the daemon at … knew 1 of 6
/// queries`.
pub fn summary(report: &Report) -> String {
    let c = &report.counts;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut s = format!(
        "{}, {}: {}, {}, {} info, {}",
        plural(report.files_checked, "file", "files"),
        plural(report.statements, "statement", "statements"),
        plural(c.error, "error", "errors"),
        plural(c.warning, "warning", "warnings"),
        c.info,
        plural(c.hint, "hint", "hints"),
    );
    match &report.daemon {
        Some(d) => s.push_str(&format!(
            "; the daemon at {} knew {} of {} queries",
            d.url, d.queries_known, d.queries_asked
        )),
        None => s.push_str("; static findings only (no --daemon)"),
    }
    if !report.skipped.is_empty() {
        s.push_str(&format!(
            "; {} skipped",
            plural(report.skipped.len(), "file", "files")
        ));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::findings::{Finding, Report, Severity};
    use super::*;

    pub(crate) fn sample_report() -> Report {
        let mut r = Report::new("/repo".into());
        let base = Finding {
            path: "db/q.sql".into(),
            line: 2,
            column: 1,
            end_line: 2,
            end_column: 45,
            severity: Severity::Warning,
            rule: "missing_index".into(),
            message: "24.6 ms × 1,240 calls; Seq Scan on tickets; add index on tickets(buyer_id), −93% simulated".into(),
            query_id: Some("0123456789abcdef".into()),
            rec_id: Some("r1".into()),
            ddl: Some("CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)".into()),
            confidence: Some(0.9),
            shown_path: "./db/q.sql".into(),
            anchor: "0123456789abcdef".into(),
        };
        let syntax = Finding {
            line: 5,
            column: 3,
            end_line: 5,
            end_column: 4,
            severity: Severity::Error,
            rule: "syntax_error".into(),
            message: "syntax error at or near \"SELEC\"".into(),
            query_id: None,
            rec_id: None,
            ddl: None,
            confidence: None,
            anchor: "SELEC 2".into(),
            ..base.clone()
        };
        r.findings = vec![syntax, base];
        r.files_checked = 1;
        r.statements = 3;
        r.finish();
        r
    }

    #[test]
    fn compiler_style_lines() {
        assert_eq!(
            render(&sample_report()),
            "./db/q.sql:2:1: warning[missing_index]: 24.6 ms × 1,240 calls; Seq Scan on tickets; add index on tickets(buyer_id), −93% simulated\n    fix: CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)\n./db/q.sql:5:3: error[syntax_error]: syntax error at or near \"SELEC\"\n"
        );
        assert_eq!(
            summary(&sample_report()),
            "1 file, 3 statements: 1 error, 1 warning, 0 info, 0 hints; static findings only (no --daemon)"
        );
    }
}
