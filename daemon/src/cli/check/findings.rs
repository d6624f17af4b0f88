//! What `optidb check` found, independent of how it is printed: one [`Finding`] per syntax
//! error, lint, injection risk and live finding, on 1-based lines and UTF-16 columns (the
//! columns SARIF counts by default and editors use), gathered into a [`Report`] that the text,
//! JSON and SARIF writers all read.

use optidb_core::model::LookupEntry;
use optidb_source::analysis::StatementInfo;
use optidb_source::live::live_finding;
use optidb_source::FileAnalysis;
use serde::Serialize;

pub use optidb_source::analysis::{Severity, SYNTAX_RULE};
pub use optidb_source::live::SLOW_QUERY_RULE;

/// One finding at one place of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Relative to the report's root with `/` separators (absolute when outside it).
    pub path: String,
    /// 1-based; `end_column` is the column just after the last character (SARIF's convention).
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub rule: String,
    pub message: String,
    /// Live findings: the statement's query id, its top recommendation and that DDL.
    pub query_id: Option<String>,
    pub rec_id: Option<String>,
    pub ddl: Option<String>,
    pub confidence: Option<f64>,
    /// The path as given on the command line (what the text format prints).
    #[serde(skip)]
    pub shown_path: String,
    /// What identifies the finding when lines move (SARIF's partialFingerprints): the query id,
    /// or the source text it is about.
    #[serde(skip)]
    pub anchor: String,
}

/// A file that was not checked, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What the daemon was asked and how much it knew.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonSummary {
    pub url: String,
    /// Distinct query ids looked up.
    pub queries_asked: usize,
    /// Of those, the ones the daemon has data for.
    pub queries_known: usize,
}

/// Everything one run found; serialized as the JSON format (docs/cli.md).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Version of this JSON shape.
    pub version: u32,
    pub tool: Tool,
    /// The directory `path`s are relative to.
    pub root: String,
    /// How columns are counted: `utf16` (code units, as SARIF and LSP editors do).
    pub columns: &'static str,
    pub daemon: Option<DaemonSummary>,
    pub files_checked: usize,
    pub statements: usize,
    pub skipped: Vec<Skipped>,
    /// Paths that could not be read (exit code 2).
    pub errors: Vec<String>,
    pub findings: Vec<Finding>,
    pub counts: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
    pub hint: usize,
}

impl Report {
    pub fn new(root: String) -> Report {
        Report {
            version: 1,
            tool: Tool {
                name: "optidb",
                version: env!("CARGO_PKG_VERSION"),
            },
            root,
            columns: "utf16",
            daemon: None,
            files_checked: 0,
            statements: 0,
            skipped: Vec::new(),
            errors: Vec::new(),
            findings: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// Sorts the findings by place and counts them by severity.
    pub fn finish(&mut self) {
        self.findings.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.rule).cmp(&(&b.path, b.line, b.column, &b.rule))
        });
        let mut c = Counts::default();
        for f in &self.findings {
            *match f.severity {
                Severity::Error => &mut c.error,
                Severity::Warning => &mut c.warning,
                Severity::Info => &mut c.info,
                Severity::Hint => &mut c.hint,
            } += 1;
        }
        self.counts = c;
    }

    /// The most serious finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Byte offsets of one file → 1-based lines and UTF-16 columns.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The line and column of a byte offset (clamped to the text, moved back to a character
    /// boundary).
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let col = self.text[self.starts[line]..offset].encode_utf16().count();
        (line + 1, col + 1)
    }
}

/// One analyzed file, for turning its analysis into findings.
pub struct FileFacts<'a> {
    pub path: &'a str,
    pub shown_path: &'a str,
    pub text: &'a str,
    pub index: &'a LineIndex<'a>,
}

impl FileFacts<'_> {
    fn finding(&self, start: usize, end: usize, severity: Severity, rule: &str) -> Finding {
        let (line, column) = self.index.position(start);
        let (end_line, end_column) = self.index.position(end.max(start));
        Finding {
            path: self.path.to_string(),
            line,
            column,
            end_line,
            end_column,
            severity,
            rule: rule.to_string(),
            message: String::new(),
            query_id: None,
            rec_id: None,
            ddl: None,
            confidence: None,
            shown_path: self.shown_path.to_string(),
            anchor: self.text[start.min(self.text.len())..end.clamp(start, self.text.len())]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The findings the text alone gives (what the language server shows without a daemon,
    /// from the same `FileAnalysis::static_findings`).
    pub fn static_findings(&self, analysis: &FileAnalysis) -> Vec<Finding> {
        analysis
            .static_findings(self.text)
            .into_iter()
            .map(|sf| {
                let mut f = self.finding(sf.start, sf.end, sf.severity, sf.rule);
                if sf.rule == SYNTAX_RULE {
                    if let Some(st) = sf.statement.and_then(|i| analysis.statements.get(i)) {
                        f.anchor = format!("{}\u{0}{}", self.statement_text(st), sf.message);
                    }
                }
                f.message = sf.message;
                f
            })
            .collect()
    }

    /// Where each statement with a query id is (its whole range), to become a live finding
    /// once the daemon has been asked ([`live`]); the file's text is not needed any more.
    pub fn statement_places(&self, analysis: &FileAnalysis) -> Vec<Finding> {
        analysis
            .statements
            .iter()
            .filter_map(|st| {
                let fp = st.facts.fingerprint.as_ref()?;
                let mut f = self.finding(st.start, st.end, Severity::Info, SLOW_QUERY_RULE);
                f.query_id = Some(fp.clone());
                f.anchor = fp.clone();
                Some(f)
            })
            .collect()
    }

    fn statement_text(&self, st: &StatementInfo) -> &str {
        self.text.get(st.start..st.end).unwrap_or_default()
    }
}

/// The live finding of a statement (a place from [`FileFacts::statement_places`]) the daemon
/// knows: the text the language server shows, the top recommendation and its DDL. `None` when
/// the daemon has nothing to say about it.
pub fn live(place: &Finding, entry: &LookupEntry) -> Option<Finding> {
    let (severity, message) = live_finding(entry)?;
    let top = entry.recommendations.first();
    Some(Finding {
        severity: severity.into(),
        rule: optidb_source::live::rule(entry).to_string(),
        message,
        rec_id: top.map(|r| r.rec_id.clone()),
        ddl: top.map(|r| r.ddl.clone()).filter(|d| !d.is_empty()),
        confidence: top.map(|r| r.confidence),
        ..place.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use optidb_source::{Analyzer, Lang};
    use std::collections::HashMap;

    fn findings(lang: Lang, text: &str, entries: &HashMap<String, LookupEntry>) -> Vec<Finding> {
        let a = Analyzer::default().analyze(lang, text);
        let index = LineIndex::new(text);
        let facts = FileFacts {
            path: "q",
            shown_path: "q",
            text,
            index: &index,
        };
        let mut out = facts.static_findings(&a);
        out.extend(
            facts
                .statement_places(&a)
                .iter()
                .filter_map(|p| live(p, entries.get(p.query_id.as_ref()?)?)),
        );
        out
    }

    #[test]
    fn lines_and_utf16_columns() {
        let text = "ab\n😀é x\n";
        let i = LineIndex::new(text);
        assert_eq!(i.position(0), (1, 1));
        assert_eq!(i.position(2), (1, 3));
        assert_eq!(i.position(3), (2, 1));
        // 😀 is two UTF-16 code units, é one.
        assert_eq!(i.position(text.find('x').unwrap()), (2, 5));
        assert_eq!(i.position(4), (2, 1), "inside a character: its start");
        assert_eq!(i.position(text.len()), (3, 1));
    }

    #[test]
    fn syntax_errors_lints_and_injection_on_exact_places() {
        let sql = "-- q\nSELECT 1;\n  SELEC 2;\nSELECT '😀', * FROM t WHERE a LIKE '%x';\n";
        let f = findings(Lang::Sql, sql, &HashMap::new());
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            (f[0].rule.as_str(), f[0].severity, f[0].line, f[0].column),
            ("syntax_error", Severity::Error, 3, 3)
        );
        // The whole word, as the language server underlines it.
        assert_eq!((f[0].end_line, f[0].end_column), (3, 8));
        assert_eq!(f[1].rule, "leading_wildcard_like");
        assert_eq!(f[1].line, 4);
        // `'%x'` is the 35th character of its line but its 36th UTF-16 unit (😀 counts 2).
        assert_eq!((f[1].column, f[1].end_column), (36, 40), "{:?}", f[1]);
        assert_eq!(f[1].anchor, "'%x'");
        assert!(f[1].message.contains(" — "));

        let py = "def f(cur, t):\n    cur.execute(f\"SELECT * FROM t WHERE id = {t}\")\n";
        let f = findings(Lang::Python, py, &HashMap::new());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "sql_injection_risk");
        assert_eq!((f[0].line, f[0].column), (2, 46));
        assert_eq!(f[0].anchor, "{t}");
    }

    #[test]
    fn live_findings_carry_the_language_servers_text_and_the_ddl() {
        let py = "cur.execute(\n    \"SELECT * FROM tickets WHERE buyer_id = %s\", (b,))\n";
        let a = Analyzer::default().analyze(Lang::Python, py);
        let fp = a.statements[0].facts.fingerprint.clone().unwrap();
        let mut entry = optidb_source::fixtures::tickets_entry();
        entry.query_id = fp.clone();
        let entries = HashMap::from([(fp.clone(), entry)]);
        let f = findings(Lang::Python, py, &entries);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "missing_index");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!((f[0].line, f[0].column, f[0].end_line), (2, 6, 2));
        assert_eq!(
            f[0].message,
            "24.6 ms × 1,240 calls; Seq Scan on tickets; add index on tickets(buyer_id), −93% simulated"
        );
        assert_eq!(
            f[0].ddl.as_deref(),
            Some("CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)")
        );
        assert_eq!(f[0].query_id.as_deref(), Some(fp.as_str()));
    }

    #[test]
    fn counts_and_order() {
        let mut r = Report::new("/r".into());
        r.findings = findings(
            Lang::Sql,
            "SELEC 1;\nSELECT * FROM t WHERE a LIKE '%x'",
            &HashMap::new(),
        );
        r.findings.reverse();
        r.finish();
        assert_eq!(r.findings[0].rule, "syntax_error");
        assert_eq!(
            r.counts,
            Counts {
                error: 1,
                warning: 1,
                ..Counts::default()
            }
        );
        assert_eq!(r.worst(), Some(Severity::Error));
    }
}
