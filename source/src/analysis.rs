//! Static analysis of a whole file for the editor and CI: its statements (a SQL file split, or
//! the SQL string literals of application code), each fingerprinted (the query id the daemon
//! knows it by), syntax errors and text-only lints — all from core — on exact host-file byte
//! ranges. Results are cached per statement text, so typing in one statement of a big file only
//! re-analyzes that statement.

use crate::embed::{self, Holes, OffsetMap};
use crate::lang::Lang;
use optidb_core::sql::lints::LintSeverity;
use optidb_core::sql::{self, lints};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the text of one statement says, independent of where it sits in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticFacts {
    /// The query id, when the statement parses.
    pub fingerprint: Option<String>,
    pub syntax_error: Option<SyntaxError>,
    /// Byte ranges relative to the statement start.
    pub lints: Vec<lints::Lint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    /// Byte offset relative to the statement start.
    pub position: Option<usize>,
}

/// One statement of a file.
#[derive(Debug, Clone)]
pub struct StatementInfo {
    /// Byte range in the file.
    pub start: usize,
    pub end: usize,
    pub facts: Arc<StaticFacts>,
    origin: Origin,
}

/// Where a statement's text sits in the file.
#[derive(Debug, Clone)]
enum Origin {
    /// Verbatim at `start` (a SQL file).
    File,
    /// Inside a host-language string: `sql_start` is the statement's offset in the built SQL.
    Embedded {
        map: Arc<OffsetMap>,
        sql_start: usize,
    },
}

impl StatementInfo {
    /// The file range of a byte range of the statement's text (escapes and holes map as a
    /// unit).
    pub fn file_range(&self, start: usize, end: usize) -> (usize, usize) {
        match &self.origin {
            Origin::File => (self.start + start, self.start + end),
            Origin::Embedded { map, sql_start } => {
                let s = map.start(sql_start + start);
                let e = map.end(sql_start + end).max(s);
                (s, e)
            }
        }
    }

    /// Whether the statement is SQL inside application code.
    pub fn embedded(&self) -> bool {
        matches!(self.origin, Origin::Embedded { .. })
    }
}

/// A finding about a file range rather than one statement's text (an interpolated SQL string).
#[derive(Debug, Clone, PartialEq)]
pub struct FileFinding {
    pub start: usize,
    pub end: usize,
    pub rule: &'static str,
    pub message: String,
    pub severity: LintSeverity,
}

/// The rule of a statement that does not parse.
pub const SYNTAX_RULE: &str = "syntax_error";

/// How loud a finding is. Ordered: `Hint < Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Hint,
    Info,
    Warning,
    /// Only syntax errors: the statement cannot run.
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Hint => "hint",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl From<LintSeverity> for Severity {
    fn from(s: LintSeverity) -> Self {
        match s {
            LintSeverity::Hint => Severity::Hint,
            LintSeverity::Info => Severity::Info,
            LintSeverity::Warning => Severity::Warning,
        }
    }
}

/// A finding of the text alone, on a file range, worded for people: what the language server
/// shows without a daemon and what `optidb check` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticFinding {
    pub start: usize,
    pub end: usize,
    pub rule: &'static str,
    pub message: String,
    pub severity: Severity,
    /// Index of the statement in `FileAnalysis::statements` (none for file findings).
    pub statement: Option<usize>,
}

/// The rule of an SQL string built by interpolation.
pub const INJECTION_RULE: &str = "sql_injection_risk";

/// The statements of one version of a file, in order.
#[derive(Debug, Clone, Default)]
pub struct FileAnalysis {
    pub lang: Lang,
    /// A host file's syntax tree, for incremental reparsing after an edit.
    tree: Option<tree_sitter::Tree>,
    pub statements: Vec<StatementInfo>,
    /// Findings on file ranges (interpolated SQL), in order.
    pub findings: Vec<FileFinding>,
}

impl FileAnalysis {
    /// Every finding of the text alone, statement by statement, then the file findings:
    /// syntax errors (an error under the word where parsing failed), lints (`message — help`
    /// on their range), interpolated SQL. `text` is the file's text.
    pub fn static_findings(&self, text: &str) -> Vec<StaticFinding> {
        let mut out = Vec::new();
        for (i, st) in self.statements.iter().enumerate() {
            if let Some(e) = &st.facts.syntax_error {
                let (s, end) = match e.position {
                    Some(p) => {
                        let (s, _) = st.file_range(p, p);
                        (s, word_end(text, s, st.end))
                    }
                    None => (st.start, st.end),
                };
                out.push(StaticFinding {
                    start: s,
                    end,
                    rule: SYNTAX_RULE,
                    message: e.message.clone(),
                    severity: Severity::Error,
                    statement: Some(i),
                });
            }
            for l in &st.facts.lints {
                let (s, e) = st.file_range(l.start, l.end);
                out.push(StaticFinding {
                    start: s,
                    end: e,
                    rule: l.rule,
                    message: format!("{} — {}", l.message, l.help),
                    severity: l.severity.into(),
                    statement: Some(i),
                });
            }
        }
        out.extend(self.findings.iter().map(|f| StaticFinding {
            start: f.start,
            end: f.end,
            rule: f.rule,
            message: f.message.clone(),
            severity: f.severity.into(),
            statement: None,
        }));
        out
    }

    /// The statement holding a byte offset (its end counts: the cursor just after the last
    /// character is still "on" the statement).
    pub fn statement_at(&self, offset: usize) -> Option<&StatementInfo> {
        let i = self.statements.partition_point(|s| s.end < offset);
        self.statements.get(i).filter(|s| s.start <= offset)
    }

    /// The distinct fingerprints of the file, in order of first appearance.
    pub fn fingerprints(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.statements
            .iter()
            .filter_map(|s| s.facts.fingerprint.clone())
            .filter(|f| seen.insert(f.clone()))
            .collect()
    }
}

/// One text edit: bytes `start..old_end` of the old text replaced by `new_len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub old_end: usize,
    pub new_len: usize,
    /// Where the edit starts and ends as (line, byte column), when the caller knows: host files
    /// are then reparsed incrementally (tree-sitter wants both).
    pub points: Option<EditPoints>,
}

/// (0-based line, byte column) of an edit's start, old end (in the old text) and new end (in
/// the new text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditPoints {
    pub start: (usize, usize),
    pub old_end: (usize, usize),
    pub new_end: (usize, usize),
}

/// Analyzes files, remembering statements it has seen.
#[derive(Default)]
pub struct Analyzer {
    cache: Mutex<HashMap<String, Arc<StaticFacts>>>,
    /// String expressions of host files → relations named when they parse (the SQL decision).
    parses: Mutex<HashMap<String, Option<usize>>>,
}

/// Statements remembered before the cache is dropped and rebuilt.
const CACHE_LIMIT: usize = 50_000;

impl Analyzer {
    /// Analyzes a file of the given language: a SQL file statement by statement, a host file
    /// by its SQL string expressions.
    pub fn analyze(&self, lang: Lang, text: &str) -> FileAnalysis {
        if lang == Lang::Sql {
            let statements = sql::split(text)
                .into_iter()
                .map(|st| StatementInfo {
                    start: st.start,
                    end: st.end,
                    facts: self.facts(st.text),
                    origin: Origin::File,
                })
                .collect();
            return FileAnalysis {
                lang,
                tree: None,
                statements,
                findings: Vec::new(),
            };
        }
        self.analyze_host(lang, text, None)
    }

    /// A host file: its SQL strings, from `old` (the previous tree, told of the edit) when given.
    fn analyze_host(
        &self,
        lang: Lang,
        text: &str,
        old: Option<&tree_sitter::Tree>,
    ) -> FileAnalysis {
        let tree = embed::strings::parse(lang, text, old);
        let embedded = match &tree {
            Some(t) => self.guarded_embedded(lang, text, t),
            None => Vec::new(),
        };
        let mut out = FileAnalysis {
            lang,
            tree,
            ..Default::default()
        };
        for e in embedded {
            if e.holes == Holes::Values || e.holes == Holes::Text {
                out.findings.push(injection_finding(text, &e));
            }
            if e.holes == Holes::Text {
                continue;
            }
            let map = Arc::new(e.expr.map);
            for st in sql::split(&e.expr.text) {
                let origin = Origin::Embedded {
                    map: map.clone(),
                    sql_start: st.start,
                };
                let mut info = StatementInfo {
                    start: 0,
                    end: 0,
                    facts: self.facts(st.text),
                    origin,
                };
                (info.start, info.end) = info.file_range(0, st.end - st.start);
                out.statements.push(info);
            }
        }
        out
    }

    /// The analysis of `text`, which is the text `prev` analyzed with `edit` applied. A SQL file
    /// is re-split only from the statement before the edit up to the first statement after it
    /// that starts where an old one did (the lexer and the splitter keep no state across a
    /// statement start, so the rest splits as before); statements outside keep their facts and
    /// are only shifted. Typing in a 20,000-statement file costs the statements it touches, not
    /// the file. Host files are analyzed again.
    pub fn reanalyze(&self, prev: &FileAnalysis, edit: Edit, text: &str) -> FileAnalysis {
        if edit.start > edit.old_end {
            return self.analyze(prev.lang, text);
        }
        if prev.lang != Lang::Sql {
            let old = match (&prev.tree, edit.points) {
                (Some(t), Some(p)) => {
                    let mut t = t.clone();
                    let point = |(row, column): (usize, usize)| tree_sitter::Point { row, column };
                    t.edit(&tree_sitter::InputEdit {
                        start_byte: edit.start,
                        old_end_byte: edit.old_end,
                        new_end_byte: edit.start + edit.new_len,
                        start_position: point(p.start),
                        old_end_position: point(p.old_end),
                        new_end_position: point(p.new_end),
                    });
                    Some(t)
                }
                _ => None,
            };
            return self.analyze_host(prev.lang, text, old.as_ref());
        }
        let old = &prev.statements;
        let delta = edit.new_len as isize - (edit.old_end - edit.start) as isize;
        let shift = |x: usize| (x as isize + delta) as usize;
        // Statements ending before the edit are untouched, except the last of them: the edit
        // may sit in its trailing comment, before its `;`.
        let first_touched = old.partition_point(|s| s.end < edit.start);
        let keep = first_touched.saturating_sub(1);
        let restart = old.get(keep).map_or(0, |s| s.start).min(edit.start);
        let edit_new_end = edit.start + edit.new_len;
        let mut statements: Vec<StatementInfo> = old[..keep].to_vec();
        let mut k = first_touched;
        for st in sql::split_from(text, restart) {
            if st.start >= edit_new_end {
                while k < old.len() && shift(old[k].start) < st.start {
                    k += 1;
                }
                if k < old.len() && old[k].start >= edit.old_end && shift(old[k].start) == st.start
                {
                    statements.extend(old[k..].iter().map(|s| StatementInfo {
                        start: shift(s.start),
                        end: shift(s.end),
                        facts: s.facts.clone(),
                        origin: Origin::File,
                    }));
                    break;
                }
            }
            statements.push(StatementInfo {
                start: st.start,
                end: st.end,
                facts: self.facts(st.text),
                origin: Origin::File,
            });
        }
        FileAnalysis {
            lang: Lang::Sql,
            tree: None,
            statements,
            findings: Vec::new(),
        }
    }

    /// The SQL of a host file, the parse check cached per string; a panic in a grammar or in
    /// core (a bug) costs the file its embedded findings, never the caller its life.
    fn guarded_embedded(
        &self,
        lang: Lang,
        text: &str,
        tree: &tree_sitter::Tree,
    ) -> Vec<embed::EmbeddedSql> {
        let run = || {
            let mut parses = self.parses.lock().unwrap_or_else(|p| p.into_inner());
            if parses.len() > CACHE_LIMIT {
                parses.clear();
            }
            let mut cached = |s: &str| match parses.get(s) {
                Some(r) => *r,
                None => {
                    let r = embed::relations(s);
                    parses.insert(s.to_string(), r);
                    r
                }
            };
            embed::embedded_sql_in(lang, text, tree, &mut cached)
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
            tracing::error!(
                "reading SQL from a {} file of {} bytes panicked",
                lang.name(),
                text.len()
            );
            Vec::new()
        })
    }

    fn facts(&self, text: &str) -> Arc<StaticFacts> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > CACHE_LIMIT {
            cache.clear();
        }
        if let Some(f) = cache.get(text) {
            return f.clone();
        }
        drop(cache);
        let f = Arc::new(statement_facts(text));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(text.to_string(), f.clone());
        f
    }
}

/// End of the token starting at `s` (the extent of a syntax-error squiggle), at least one
/// character, at most `limit`.
pub fn word_end(text: &str, s: usize, limit: usize) -> usize {
    let s = s.min(text.len());
    let Some(rest) = text.get(s..limit.max(s).min(text.len())) else {
        return s;
    };
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

/// One warning per interpolated SQL string, on its first hole.
fn injection_finding(src: &str, e: &embed::EmbeddedSql) -> FileFinding {
    let first = &e.expr.holes[0];
    let shown: String = src[first.host.clone()].chars().take(40).collect();
    let what = if e.holes == Holes::Values {
        "a value"
    } else {
        "text"
    };
    FileFinding {
        start: first.host.start,
        end: first.host.end,
        rule: INJECTION_RULE,
        message: format!(
            "SQL built by splicing {what} into the statement ({shown}): a SQL injection risk, \
             and PostgreSQL plans every variant anew — pass values as query parameters \
             (`%s`, `$1`, `?`) and pick identifiers from a fixed list"
        ),
        severity: LintSeverity::Warning,
    }
}

/// Facts of one statement, from core. A panic in core (a bug) costs this statement its
/// findings, not the file its diagnostics nor the server its life.
pub fn statement_facts(text: &str) -> StaticFacts {
    guarded(text, facts_unguarded)
}

/// Runs `f` on a statement; a panic inside becomes empty facts and a log line.
fn guarded(
    text: &str,
    f: impl FnOnce(&str) -> StaticFacts + std::panic::UnwindSafe,
) -> StaticFacts {
    std::panic::catch_unwind(|| f(text)).unwrap_or_else(|_| {
        tracing::error!("core panicked on a statement of {} bytes", text.len());
        StaticFacts {
            fingerprint: None,
            syntax_error: None,
            lints: Vec::new(),
        }
    })
}

fn facts_unguarded(text: &str) -> StaticFacts {
    match sql::fingerprint_only(text) {
        Ok(fp) => StaticFacts {
            fingerprint: Some(fp),
            syntax_error: None,
            lints: lints::lint_statement(text),
        },
        Err(e) => StaticFacts {
            fingerprint: None,
            syntax_error: Some(SyntaxError {
                message: e.message,
                position: e.position,
            }),
            lints: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_fingerprints_errors_and_lints() {
        let src = "SELECT 1;\nSELEC 2;\nSELECT * FROM t WHERE a LIKE '%x';\nSELECT 7";
        let a = Analyzer::default().analyze(Lang::Sql, src);
        assert_eq!(a.statements.len(), 4);
        assert!(a.statements[0].facts.fingerprint.is_some());
        let e = a.statements[1].facts.syntax_error.as_ref().unwrap();
        assert_eq!(e.position, Some(0));
        assert_eq!(a.statements[2].facts.lints[0].rule, "leading_wildcard_like");
        // SELECT 1 and SELECT 7 share a fingerprint.
        assert_eq!(a.fingerprints().len(), 2);
    }

    #[test]
    fn statement_at_includes_the_end() {
        let src = "SELECT 1;  SELECT 2";
        let a = Analyzer::default().analyze(Lang::Sql, src);
        assert_eq!(a.statement_at(0).unwrap().start, 0);
        assert_eq!(a.statement_at(8).unwrap().start, 0);
        assert!(a.statement_at(9).is_none());
        assert_eq!(a.statement_at(19).unwrap().start, 11);
    }

    #[test]
    fn a_core_panic_costs_one_statement_not_the_file() {
        let facts = guarded("SELECT 1", |_| panic!("a bug in core"));
        assert_eq!(facts.fingerprint, None);
        assert!(facts.lints.is_empty() && facts.syntax_error.is_none());
        // `:'…` unterminated, ending in a multibyte char, once panicked in core (found by
        // core/tests/randomized.rs); now it is just a placeholder.
        let a = Analyzer::default().analyze(
            Lang::Sql,
            "SELECT * FROM t WHERE a LIKE '%x';\nSELECT :'a😀",
        );
        assert_eq!(a.statements.len(), 2);
        assert_eq!(a.statements[0].facts.lints.len(), 1);
        assert!(a.statements[1].facts.fingerprint.is_some());
    }

    #[test]
    fn syntax_error_squiggle_covers_the_word() {
        assert_eq!(word_end("SELEC 1", 0, 7), 5);
        assert_eq!(word_end("SELECT 1 +", 9, 10), 10);
        assert_eq!(word_end("é", 0, 2), 2);
    }

    #[test]
    fn static_findings_in_order_with_their_places() {
        let src = "SELEC 1;\nSELECT * FROM t WHERE a LIKE '%x'";
        let a = Analyzer::default().analyze(Lang::Sql, src);
        let f = a.static_findings(src);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].rule, f[0].severity, &src[f[0].start..f[0].end]),
            (SYNTAX_RULE, Severity::Error, "SELEC")
        );
        assert_eq!(f[1].statement, Some(1));
        assert!(f[1].message.contains(" — "));
    }

    #[test]
    fn cache_reuses_unchanged_statements() {
        let an = Analyzer::default();
        let a = an.analyze(Lang::Sql, "SELECT 1; SELECT 2");
        let b = an.analyze(Lang::Sql, "SELECT 1; SELECT 3");
        assert!(Arc::ptr_eq(&a.statements[0].facts, &b.statements[0].facts));
    }

    #[test]
    fn embedded_statements_land_on_the_host_text() {
        let src = "def f(cur, q):\n    cur.execute(\n        \"SELECT * FROM tickets \"\n        \"WHERE title LIKE '%x'\")\n    msg = \"Select a ticket\"\n";
        let a = Analyzer::default().analyze(Lang::Python, src);
        assert_eq!(a.statements.len(), 1, "{a:?}");
        let st = &a.statements[0];
        assert!(st.embedded());
        assert_eq!(&src[st.start..st.start + 6], "SELECT");
        assert!(src[..st.end].ends_with("'%x'"));
        let l = &st.facts.lints[0];
        let (s, e) = st.file_range(l.start, l.end);
        assert!(
            src[s..e].contains("LIKE") || src[s..e].contains("'%x'"),
            "{}",
            &src[s..e]
        );
        // Same fingerprint as the SQL file with the same statement.
        let plain =
            Analyzer::default().analyze(Lang::Sql, "SELECT * FROM tickets WHERE title LIKE '%x'");
        assert_eq!(plain.statements[0].facts.fingerprint, st.facts.fingerprint);
        assert!(a.findings.is_empty());
    }

    #[test]
    fn interpolated_sql_gets_one_injection_finding() {
        let src = "const r = db.query(`SELECT * FROM tickets WHERE buyer_id = ${id}`);\nconst s = sql`SELECT * FROM tickets WHERE buyer_id = ${id}`;\n";
        let a = Analyzer::default().analyze(Lang::TypeScript, src);
        assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
        assert_eq!(&src[a.findings[0].start..a.findings[0].end], "${id}");
        assert_eq!(a.statements.len(), 2);
        // The spliced value is fingerprinted as the parameter PostgreSQL records.
        let plain =
            Analyzer::default().analyze(Lang::Sql, "SELECT * FROM tickets WHERE buyer_id = $1");
        assert_eq!(
            a.statements[0].facts.fingerprint,
            plain.statements[0].facts.fingerprint
        );
    }

    /// Incremental re-analysis gives exactly what a full analysis gives, for edits anywhere:
    /// inside statements, across `;`, in comments, opening a quote that swallows the rest.
    #[test]
    fn reanalysis_after_an_edit_equals_a_full_analysis() {
        let base = "SELECT 1;\n-- note\nSELECT * FROM t WHERE a = 1 ;\nUPDATE t SET a = 2;\n\nSELECT $$x;y$$;\nSELECT 'end'";
        let edits: &[(&str, &str)] = &[
            ("a = 1", "a = 10 AND b = 2"),
            (";\nUPDATE", "\nUPDATE"),
            ("-- note", "-- note; SELECT 9"),
            ("SELECT 1;", "SELECT 1; SELECT 'open"),
            ("$$x;y$$", "$$x;y"),
            ("SELECT 'end'", "SELECT 'end'; SELECT 2"),
            (" ;\nUPDATE", " + 1 ;\nUPDATE"),
            ("SELECT 1", ""),
        ];
        let an = Analyzer::default();
        let prev = an.analyze(Lang::Sql, base);
        for (from, to) in edits {
            let start = base.find(from).unwrap();
            let text = format!("{}{}{}", &base[..start], to, &base[start + from.len()..]);
            let edit = Edit {
                start,
                old_end: start + from.len(),
                new_len: to.len(),
                points: None,
            };
            let inc = an.reanalyze(&prev, edit, &text);
            let full = an.analyze(Lang::Sql, &text);
            let spans = |a: &FileAnalysis| -> Vec<(usize, usize, Option<String>)> {
                a.statements
                    .iter()
                    .map(|s| (s.start, s.end, s.facts.fingerprint.clone()))
                    .collect()
            };
            assert_eq!(
                spans(&inc),
                spans(&full),
                "edit {from:?} → {to:?} in {text:?}"
            );
        }
    }

    /// A random edit of `text` (fixed-seed generator state in `seed`): a char-aligned range of at
    /// most `max_len` bytes replaced by one of `fragments`. Returns (start, end, insert).
    fn random_edit<'f>(
        seed: &mut u64,
        text: &str,
        max_len: usize,
        fragments: &[&'f str],
    ) -> (usize, usize, &'f str) {
        let mut next = |n: usize| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 33) as usize) % n.max(1)
        };
        let mut start = next(text.len() + 1);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + next(max_len)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        (start, end, fragments[next(fragments.len())])
    }

    /// Chained random edits (fixed seed) with the characters that change how SQL splits.
    #[test]
    fn chained_random_edits_match_full_analyses() {
        let fragments = [
            ";",
            "'",
            "$$",
            "--",
            "\n",
            "/*",
            "*/",
            "SELECT 1",
            " ",
            "\"",
            "é",
            "BEGIN ATOMIC ",
            "END",
            "\\g\n",
            "x",
        ];
        let mut text = String::from(
            "SELECT 1;\nSELECT * FROM t WHERE a = 'x';\n-- c\nUPDATE t SET b = 2;\nSELECT $$a$$;\n",
        )
        .repeat(6);
        let an = Analyzer::default();
        let mut prev = an.analyze(Lang::Sql, &text);
        let mut seed: u64 = 0x5eed;
        for round in 0..400 {
            let (start, end, ins) = random_edit(&mut seed, &text, 12, &fragments);
            let new = format!("{}{}{}", &text[..start], ins, &text[end..]);
            let edit = Edit {
                start,
                old_end: end,
                new_len: ins.len(),
                points: None,
            };
            let inc = an.reanalyze(&prev, edit, &new);
            let full = an.analyze(Lang::Sql, &new);
            let spans = |a: &FileAnalysis| -> Vec<(usize, usize)> {
                a.statements.iter().map(|s| (s.start, s.end)).collect()
            };
            assert_eq!(spans(&inc), spans(&full), "round {round}: {new:?}");
            text = new;
            prev = inc;
        }
    }

    /// Host files reparsed incrementally (tree edited, then reparsed) give what a fresh parse
    /// gives, over chained random edits.
    #[test]
    fn host_files_reparsed_incrementally_match_full_analyses() {
        let fragments = [
            "\"",
            "'",
            "(",
            ")",
            "\n",
            "x",
            "SELECT * FROM t WHERE a = %s",
            "#",
            "é",
            " + ",
        ];
        let mut text = String::from(
            "def f(cur, a):\n    cur.execute(\"SELECT * FROM t WHERE a = %s\", (a,))\n    msg = \"Select a row\"\n    cur.execute(f\"SELECT * FROM u WHERE b = {a}\")\n",
        )
        .repeat(4);
        let point = |t: &str, off: usize| {
            let line = t[..off].matches('\n').count();
            (line, off - t[..off].rfind('\n').map_or(0, |i| i + 1))
        };
        let an = Analyzer::default();
        let mut prev = an.analyze(Lang::Python, &text);
        let mut seed: u64 = 7;
        for round in 0..150 {
            let (start, end, ins) = random_edit(&mut seed, &text, 6, &fragments);
            let new = format!("{}{}{}", &text[..start], ins, &text[end..]);
            let edit = Edit {
                start,
                old_end: end,
                new_len: ins.len(),
                points: Some(EditPoints {
                    start: point(&text, start),
                    old_end: point(&text, end),
                    new_end: point(&new, start + ins.len()),
                }),
            };
            let inc = an.reanalyze(&prev, edit, &new);
            let full = an.analyze(Lang::Python, &new);
            let spans = |a: &FileAnalysis| -> Vec<(usize, usize, Option<String>)> {
                a.statements
                    .iter()
                    .map(|s| (s.start, s.end, s.facts.fingerprint.clone()))
                    .collect()
            };
            assert_eq!(spans(&inc), spans(&full), "round {round}: {new:?}");
            assert_eq!(inc.findings, full.findings, "round {round}");
            text = new;
            prev = inc;
        }
    }
}
