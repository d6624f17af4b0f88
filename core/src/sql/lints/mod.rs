//! Text-only lint rules: findings that can be judged from one statement's parse tree, with no
//! database. Shared by the language server (offline diagnostics) and the advisor (its `rewrite`
//! recommendations), so a rule is written, tested and worded once.
//!
//! Every rule lives in its own file with its tests. A rule sees a [`LintContext`] (the statement
//! with client placeholders mapped to `$n`, and its pg_query parse tree) and returns [`Lint`]s
//! whose byte ranges point into the statement **as the caller passed it** (positions in the
//! mapped text are translated back with [`Mapped::to_original`]).
//!
//! ```
//! use optidb_core::sql::lints::{lint_statement, LintSeverity};
//! let lints = lint_statement("SELECT id FROM users WHERE email LIKE '%@example.com'");
//! assert_eq!(lints[0].rule, "leading_wildcard_like");
//! assert_eq!(lints[0].severity, LintSeverity::Warning);
//! ```

mod correlated_subquery;
mod leading_wildcard_like;
mod not_in_subquery;
mod offset_pagination;
mod select_star_join;
mod update_delete_without_where;

use super::lex::{tokenize, Token};
use super::placeholders::{map_placeholders, Mapped};
use pg_query::{protobuf, Node, NodeEnum, NodeRef};
use serde::Serialize;

/// How strongly a finding should be shown. Ordered: `Hint < Info < Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintSeverity {
    /// A style or "worth knowing" remark.
    Hint,
    /// Often slow or surprising, depending on data the text does not show.
    Info,
    /// Slow or dangerous whatever the data.
    Warning,
}

/// One finding of one rule in one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lint {
    /// The rule's name (`leading_wildcard_like` …), stable: editors and configs refer to it.
    pub rule: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// Byte range in the statement text passed to [`lint_statement`] (original text, not the
    /// placeholder-mapped one). Always on char boundaries, `start <= end <= text.len()`.
    pub start: usize,
    pub end: usize,
    pub severity: LintSeverity,
}

/// A rule: its name, a one-line summary (for docs and settings), and its check.
pub struct Rule {
    pub name: &'static str,
    pub summary: &'static str,
    pub check: fn(&LintContext<'_>) -> Vec<Lint>,
}

/// Every rule, in the order their findings are reported.
pub const RULES: &[Rule] = &[
    leading_wildcard_like::RULE,
    not_in_subquery::RULE,
    update_delete_without_where::RULE,
    select_star_join::RULE,
    offset_pagination::RULE,
    correlated_subquery::RULE,
];

/// Lints one statement (client placeholders such as `?` or `:name` are fine). A statement that
/// does not parse has no lints: its syntax error is reported elsewhere
/// ([`crate::sql::fingerprint`]).
pub fn lint_statement(sql: &str) -> Vec<Lint> {
    lint_mapped(sql, &map_placeholders(sql))
}

/// [`lint_statement`] for a caller that already mapped the placeholders of `original`.
pub fn lint_mapped(original: &str, mapped: &Mapped) -> Vec<Lint> {
    match pg_query::parse(&mapped.text, 0) {
        Ok(tree) => lint_tree(original, mapped, &tree),
        Err(_) => Vec::new(),
    }
}

/// [`lint_statement`] for a caller that already has the parse tree of `mapped.text`.
pub fn lint_tree(original: &str, mapped: &Mapped, tree: &pg_query::ParseResult) -> Vec<Lint> {
    let ctx = LintContext::new(original, mapped, tree);
    let mut out: Vec<Lint> = RULES.iter().flat_map(|r| (r.check)(&ctx)).collect();
    out.sort_by_key(|l| (l.start, l.end));
    out.dedup_by(|a, b| a.rule == b.rule && a.start == b.start);
    out
}

/// What a rule sees: the statement, its mapped text, its tokens and its parse tree.
pub struct LintContext<'a> {
    original: &'a str,
    mapped: &'a Mapped,
    tokens: Vec<Token>,
    /// Top-level statements of the parse (normally one).
    pub stmts: Vec<&'a NodeEnum>,
    /// Every node pg_query's walker visits, with its depth.
    pub nodes: Vec<NodeRef<'a>>,
}

impl<'a> LintContext<'a> {
    pub fn new(original: &'a str, mapped: &'a Mapped, tree: &'a pg_query::ParseResult) -> Self {
        let stmts: Vec<&NodeEnum> = tree
            .protobuf
            .stmts
            .iter()
            .filter_map(|s| s.stmt.as_ref().and_then(|n| n.node.as_ref()))
            .collect();
        let nodes = tree.protobuf.nodes().into_iter().map(|(n, ..)| n).collect();
        LintContext {
            original,
            mapped,
            tokens: tokenize(&mapped.text),
            stmts,
            nodes,
        }
    }

    /// The original-text byte range of the token at `location` (a pg_query location into the
    /// mapped text); the whole statement when the location is unknown (-1).
    pub fn token_span(&self, location: i32) -> (usize, usize) {
        if location < 0 {
            return self.statement_span();
        }
        let loc = location as usize;
        let (s, e) = self
            .tokens
            .iter()
            .find(|t| t.start <= loc && loc < t.end)
            .map(|t| (t.start, t.end))
            .unwrap_or((loc, loc));
        self.to_original(s, e)
    }

    /// The original-text byte range from the token at `from` to the end of the token at `to`.
    pub fn span_between(&self, from: i32, to: i32) -> (usize, usize) {
        let (s, _) = self.token_span(from);
        let (_, e) = self.token_span(to);
        if e >= s {
            (s, e)
        } else {
            (s, self.token_span(from).1)
        }
    }

    /// The statement text as the caller passed it.
    pub fn original(&self) -> &'a str {
        self.original
    }

    /// The first word of the statement (`SELECT`, `UPDATE` …) in the original text.
    pub fn statement_span(&self) -> (usize, usize) {
        let t = self.original.trim_start();
        let s = self.original.len() - t.len();
        let word = t
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .unwrap_or(t.len());
        (s, s + word)
    }

    fn to_original(&self, s: usize, e: usize) -> (usize, usize) {
        let clamp = |mut p: usize| {
            p = p.min(self.original.len());
            while !self.original.is_char_boundary(p) {
                p -= 1;
            }
            p
        };
        let s = clamp(self.mapped.to_original(s));
        let e = clamp(self.mapped.to_original(e)).max(s);
        (s, e)
    }

    /// Builds a lint on an original-text range.
    pub fn lint(
        &self,
        rule: &'static str,
        severity: LintSeverity,
        (start, end): (usize, usize),
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Lint {
        Lint {
            rule,
            message: message.into(),
            help: help.into(),
            start,
            end,
            severity,
        }
    }
}

/// The node inside an optional boxed child.
pub(crate) fn inner(n: &Option<Box<Node>>) -> Option<&NodeEnum> {
    n.as_deref().and_then(|n| n.node.as_ref())
}

/// The operator name of an `A_Expr` (`~~`, `=`, `||` …).
pub(crate) fn op_name(e: &protobuf::AExpr) -> Option<&str> {
    e.name.last().and_then(|n| match n.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
        _ => None,
    })
}

/// The names a `FROM` item brings into scope (alias, or relation name), lower-cased.
pub(crate) fn scope_names(from: &[Node], out: &mut Vec<String>) {
    for n in from {
        match n.node.as_ref() {
            Some(NodeEnum::RangeVar(r)) => match &r.alias {
                Some(a) => out.push(a.aliasname.to_lowercase()),
                None => out.push(r.relname.to_lowercase()),
            },
            Some(NodeEnum::JoinExpr(j)) => {
                for side in [&j.larg, &j.rarg].into_iter().flatten() {
                    scope_names(std::slice::from_ref(side), out);
                }
            }
            Some(NodeEnum::RangeSubselect(s)) => {
                if let Some(a) = &s.alias {
                    out.push(a.aliasname.to_lowercase());
                }
            }
            Some(NodeEnum::RangeFunction(f)) => {
                if let Some(a) = &f.alias {
                    out.push(a.aliasname.to_lowercase());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_that_does_not_parse_has_no_lints() {
        assert!(lint_statement("SELEC * FROM t WHERE a LIKE '%x'").is_empty());
    }

    #[test]
    fn ranges_point_into_the_original_text_with_placeholders() {
        // `?` becomes `$1` (one byte longer): ranges after it must shift back.
        let sql = "SELECT id FROM users WHERE org = ? AND name ILIKE '%bob'";
        let l = lint_statement(sql);
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(&sql[l[0].start..l[0].end], "'%bob'");
    }

    #[test]
    fn every_rule_is_listed_once() {
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }

    #[test]
    fn ranges_are_on_char_boundaries_with_multibyte_text() {
        let sql = "SELECT * FROM café c JOIN naïve n ON n.id = c.id WHERE c.nom LIKE '%é'";
        let lints = lint_statement(sql);
        assert_eq!(lints.len(), 2, "{lints:?}");
        for l in lints {
            assert!(sql.is_char_boundary(l.start) && sql.is_char_boundary(l.end));
        }
    }
}
