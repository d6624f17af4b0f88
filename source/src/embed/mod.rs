//! SQL inside application code: which string expressions of a host file are PostgreSQL
//! statements. A string counts when it starts with a SQL verb and parses as PostgreSQL
//! (pg_query) and either names a relation or is passed to one of the language's SQL calls
//! (`execute`, `query`, `sql` …): ordinary strings ("Select a file", "update available") never do. Interpolated strings
//! are SQL when they parse with their holes as values (then they are fingerprinted like the
//! statement PostgreSQL records) or as identifiers (then only the injection risk is reported).

pub mod map;
pub mod strings;

pub use map::OffsetMap;
pub use strings::{Hole, StringExpr};

use crate::lang::Lang;
use optidb_core::sql::{map_placeholders, reach::reach};

/// How the holes of an embedded statement are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holes {
    /// A plain literal (driver placeholders such as `%s`, `?`, `$1` are not holes).
    None,
    /// Bound parameters (a tagged template): as safe as placeholders.
    Parameters,
    /// Values spliced into the text: injection risk; the statement is fingerprinted with
    /// the holes as parameters, which is how PostgreSQL records it.
    Values,
    /// Identifiers or clauses spliced into the text: injection risk, no fingerprint.
    Text,
}

/// One SQL string expression of a host file.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedSql {
    pub expr: StringExpr,
    pub holes: Holes,
}

/// Calls whose string argument is SQL in each language (lower-cased last word of the callee):
/// DB-API, SQLAlchemy (`execute(text(…))`), asyncpg and pandas; node-postgres, postgres.js,
/// knex and Prisma; database/sql, pgx and sqlx; sqlx, tokio-postgres and diesel; JDBC, Spring
/// and JPA; ActiveRecord and pg. Only names that take SQL and little else: a string passed to
/// `get`, `select` or `update` elsewhere is UI text as often as SQL, so there only a relation
/// makes it SQL.
fn sql_calls(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Sql => &[],
        Lang::Python => &[
            "execute",
            "executemany",
            "executescript",
            "mogrify",
            "fetchrow",
            "fetchval",
            "exec_driver_sql",
            "copy_expert",
            "read_sql",
            "read_sql_query",
        ],
        Lang::TypeScript | Lang::Tsx | Lang::JavaScript => &[
            "query",
            "sql",
            "raw",
            "unsafe",
            "queryraw",
            "executeraw",
            "queryrawunsafe",
            "executerawunsafe",
        ],
        Lang::Go => &[
            "exec",
            "query",
            "queryrow",
            "querycontext",
            "execcontext",
            "queryrowcontext",
            "prepare",
            "preparecontext",
            "namedexec",
            "namedquery",
        ],
        Lang::Rust => &[
            "query",
            "query_as",
            "query_scalar",
            "query_as_unchecked",
            "query_unchecked",
            "query_one",
            "query_opt",
            "execute",
            "batch_execute",
            "simple_query",
            "sql_query",
            "prepare",
        ],
        Lang::Java | Lang::Kotlin => &[
            "preparestatement",
            "preparecall",
            "createquery",
            "createnativequery",
            "queryforobject",
            "queryforlist",
            "queryformap",
            "queryforrowset",
            "query",
            "batchupdate",
            "executequery",
            "executeupdate",
            "execute",
            "addbatch",
        ],
        Lang::Ruby => &[
            "find_by_sql",
            "exec_query",
            "exec_params",
            "exec",
            "async_exec",
            "select_all",
            "select_one",
            "select_value",
            "select_values",
            "select_rows",
            "count_by_sql",
            "execute",
        ],
    }
}

/// Leading words of the statements OptiDB looks for in strings. Not `TABLE name` (PostgreSQL's
/// short SELECT): "table header" would parse and name a relation.
const VERBS: &[&str] = &[
    "select", "insert", "update", "delete", "with", "merge", "values", "explain", "create",
    "alter", "drop", "truncate", "copy",
];

/// The SQL string expressions of a host file, in document order (empty for SQL files and
/// files the grammar cannot read).
pub fn embedded_sql(lang: Lang, src: &str) -> Vec<EmbeddedSql> {
    match strings::parse(lang, src, None) {
        Some(tree) => embedded_sql_in(lang, src, &tree, &mut relations),
        None => Vec::new(),
    }
}

/// [`embedded_sql`] of a file already parsed ([`strings::parse`]), with the parse check
/// supplied: `relations(text)` is how many relations `text` names when it parses as
/// PostgreSQL, `None` when it does not. Callers that analyze the same file again and again (an
/// editor) keep the tree for incremental parsing and pass a cached [`relations`].
pub fn embedded_sql_in(
    lang: Lang,
    src: &str,
    tree: &tree_sitter::Tree,
    relations: &mut dyn FnMut(&str) -> Option<usize>,
) -> Vec<EmbeddedSql> {
    let Some(exprs) = strings::string_exprs_in(lang, tree, src) else {
        return Vec::new();
    };
    let calls = sql_calls(lang);
    let mut out: Vec<EmbeddedSql> = exprs
        .into_iter()
        .filter_map(|e| classify(e, calls, relations))
        .collect();
    // Heredoc bodies follow their line: keep document order.
    out.sort_by_key(|e| e.expr.host.start);
    out
}

fn classify(
    expr: StringExpr,
    calls: &[&str],
    relations: &mut dyn FnMut(&str) -> Option<usize>,
) -> Option<EmbeddedSql> {
    if !starts_with_verb(&expr.text) {
        return None;
    }
    let words = expr.text.split_whitespace().count();
    let at_call = expr.call.as_deref().is_some_and(|c| calls.contains(&c)) && words >= 2;
    let holes = if expr.holes.is_empty() {
        Holes::None
    } else if expr.holes_are_parameters {
        Holes::Parameters
    } else {
        Holes::Values
    };
    match relations(&expr.text) {
        Some(n) if n > 0 || at_call => return Some(EmbeddedSql { expr, holes }),
        Some(_) => return None,
        None => {}
    }
    if holes != Holes::None {
        // Holes that are not values: try them as identifiers (`FROM {table}`).
        let mut text = expr.text.clone();
        for h in expr.holes.iter().rev() {
            text.replace_range(h.sql.clone(), " optidb_hole ");
        }
        return match relations(&text) {
            Some(n) if n > 0 || at_call => Some(EmbeddedSql {
                expr,
                holes: Holes::Text,
            }),
            _ => None,
        };
    }
    // A string passed to a SQL call that starts like SQL but does not parse: a syntax error
    // worth showing (a lone word such as `"delete"` is a command name, not SQL). Anywhere else
    // it is just text.
    (at_call && words >= 3).then_some(EmbeddedSql { expr, holes })
}

/// Relations the text names, when it parses as PostgreSQL (client placeholders allowed).
pub fn relations(text: &str) -> Option<usize> {
    let mapped = map_placeholders(text);
    reach(&mapped.text).ok().map(|r| r.relations.len())
}

fn starts_with_verb(text: &str) -> bool {
    let mut s = text;
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let word: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    let next = s[word.len()..].chars().next();
    VERBS.contains(&word.as_str()) && next.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(lang: Lang, src: &str) -> Vec<(String, Holes)> {
        embedded_sql(lang, src)
            .into_iter()
            .map(|e| (e.expr.text, e.holes))
            .collect()
    }

    #[test]
    fn ordinary_strings_are_not_sql() {
        let src = r#"
msg = "Select a file to upload"
other = "update available"
label = "Delete"
q = "select"
help = "SELECT the rows you want, then press Delete"
hdr = "table header"
log.info("Created table")
"#;
        assert!(
            sql_of(Lang::Python, src).is_empty(),
            "{:?}",
            sql_of(Lang::Python, src)
        );
    }

    #[test]
    fn sql_needs_a_relation_or_a_sql_call() {
        let src = "a = \"SELECT * FROM orders WHERE id = %s\"\nb = \"SELECT 1\"\ncur.execute(\"SELECT now()\")\n";
        let got = sql_of(Lang::Python, src);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].0.contains("orders"));
        assert_eq!(got[1].0, "SELECT now()");
    }

    #[test]
    fn broken_sql_counts_only_at_a_sql_call() {
        let src = "cur.execute(\"SELECT * FORM orders\")\nx = \"SELECT * FORM orders\"\nlog.warn(\"Create tarfile from sources\")\nimap._simple_command(\"DELETE\")\nself.execute(\"delete\")\n";
        let got = sql_of(Lang::Python, src);
        assert_eq!(got.len(), 1, "{got:?}");
    }

    #[test]
    fn interpolations_values_identifiers_and_parameters() {
        let src = "a = f\"SELECT * FROM orders WHERE id = {oid}\"\nb = f\"SELECT * FROM {table} WHERE id = 1\"\n";
        let got = sql_of(Lang::Python, src);
        assert_eq!(got[0].1, Holes::Values);
        assert_eq!(got[1].1, Holes::Text);
        let ts = "const r = await sql`SELECT * FROM orders WHERE id = ${id}`;";
        assert_eq!(sql_of(Lang::TypeScript, ts)[0].1, Holes::Parameters);
    }

    #[test]
    fn verbs_after_comments_and_parens() {
        assert!(starts_with_verb("  -- hi\n (SELECT 1)"));
        assert!(starts_with_verb(
            "/* x */with a as (select 1) select * from a"
        ));
        assert!(!starts_with_verb("selection"));
        assert!(!starts_with_verb("hello"));
    }
}
