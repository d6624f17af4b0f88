//! Maps client-library placeholders (`?`, `:name`, `:'name'`, `@name`, `%s`, `%(name)s`) to
//! PostgreSQL's `$n` so application SQL parses, and repairs text printed by pg_stat_statements
//! that does not parse as is (`timestamptz $2` → `$2::timestamptz`).
//!
//! Every edit is recorded, so a position in the mapped text (a parse error, say) can be
//! translated back to the caller's original text.

use super::lex::{tokenize, Token, TokenKind};

/// How a placeholder was written in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceholderStyle {
    /// `?` (JDBC, ODBC, many drivers)
    Question,
    /// `:name`, `:'name'`, `:"name"` (psql variables, SQLAlchemy, Oracle style)
    Colon,
    /// `@name` (.NET, Dapper)
    At,
    /// `%s` (psycopg, MySQLdb)
    Percent,
    /// `%(name)s` (psycopg)
    PercentNamed,
}

/// One placeholder that became `$n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub number: u32,
    pub name: Option<String>,
    pub style: PlaceholderStyle,
}

/// One replacement: `orig` in the original text became `new` in the mapped text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub orig: (usize, usize),
    pub new: (usize, usize),
}

/// The result of mapping: text PostgreSQL's parser accepts, and how to get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub text: String,
    pub placeholders: Vec<Placeholder>,
    pub edits: Vec<Edit>,
}

impl Mapped {
    /// Translates a byte offset in the mapped text to the original text. An offset inside a
    /// replacement maps to the start of what it replaced.
    pub fn to_original(&self, offset: usize) -> usize {
        let mut delta: isize = 0;
        for e in &self.edits {
            if offset < e.new.0 {
                break;
            }
            if offset < e.new.1 {
                return e.orig.0;
            }
            delta = e.orig.1 as isize - e.new.1 as isize;
        }
        (offset as isize + delta).max(0) as usize
    }
}

/// Words after which an operand (and so a placeholder) is expected.
const OPERAND_KEYWORDS: &[&str] = &[
    "select",
    "where",
    "and",
    "or",
    "not",
    "on",
    "limit",
    "offset",
    "values",
    "set",
    "then",
    "else",
    "when",
    "between",
    "like",
    "ilike",
    "similar",
    "is",
    "returning",
    "by",
    "as",
    "case",
    "distinct",
    "having",
    "first",
    "next",
    "in",
    "any",
    "all",
    "some",
    "return",
    "using",
    "escape",
    "to",
    "from",
    "with",
    "into",
    "do",
    "array",
    "exists",
    "filter",
];

/// Type names whose `type 'literal'` form pg_stat_statements prints as `type $n`.
const TYPED_LITERAL_TYPES: &[&str] = &[
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "timetz",
    "interval",
    "int",
    "int2",
    "int4",
    "int8",
    "integer",
    "smallint",
    "bigint",
    "numeric",
    "decimal",
    "real",
    "float",
    "float4",
    "float8",
    "text",
    "varchar",
    "char",
    "bpchar",
    "uuid",
    "json",
    "jsonb",
    "bool",
    "boolean",
    "inet",
    "cidr",
    "bytea",
    "money",
    "point",
    "xml",
    "tsquery",
    "tsvector",
    "macaddr",
    "oid",
    "regclass",
    "name",
];

/// Maps placeholders in one statement. Text that needs no mapping comes back unchanged with
/// no edits, so the common case costs one tokenize.
pub fn map_placeholders(src: &str) -> Mapped {
    let toks = tokenize(src);
    let sig: Vec<&Token> = toks.iter().filter(|t| !t.kind.is_trivia()).collect();
    let max_existing = sig
        .iter()
        .filter(|t| t.kind == TokenKind::Param)
        .filter_map(|t| t.text(src)[1..].parse::<u32>().ok())
        .max()
        .unwrap_or(0);

    let mut next = max_existing + 1;
    let mut named: Vec<(String, u32)> = Vec::new();
    let mut placeholders = Vec::new();
    // (orig range, replacement text)
    let mut repl: Vec<((usize, usize), String)> = Vec::new();
    let mut bracket_depth = 0u32;
    // Index of the last token that became a placeholder (a kept `?` is an operator).
    let mut last_placeholder: Option<usize> = None;
    let mut i = 0;
    while i < sig.len() {
        let t = sig[i];
        match t.kind {
            TokenKind::LBracket => bracket_depth += 1,
            TokenKind::RBracket => bracket_depth = bracket_depth.saturating_sub(1),
            _ => {}
        }
        let operand_pos = match i.checked_sub(1) {
            Some(j) if sig[j].kind == TokenKind::Question => last_placeholder != Some(j),
            j => expects_operand(src, j.map(|j| sig[j])),
        };
        let adjacent = |a: &Token, b: &Token| a.end == b.start;
        let nxt = sig.get(i + 1).copied();

        let mut assign = |name: Option<String>, style: PlaceholderStyle| -> u32 {
            if let Some(n) = &name {
                if let Some((_, num)) = named.iter().find(|(k, _)| k == n) {
                    return *num;
                }
            }
            let num = next;
            next += 1;
            if let Some(n) = &name {
                named.push((n.clone(), num));
            }
            placeholders.push(Placeholder {
                number: num,
                name,
                style,
            });
            num
        };

        match t.kind {
            // `?` unless it is a jsonb operator (`data ? 'k'`, `?|`, `?&`, `@?`).
            TokenKind::Question if operand_pos => {
                let glued_op = nxt.is_some_and(|n| {
                    adjacent(t, n)
                        && n.kind == TokenKind::Operator
                        && matches!(n.text(src).as_bytes()[0], b'|' | b'&')
                });
                if !glued_op {
                    let num = assign(None, PlaceholderStyle::Question);
                    repl.push(((t.start, t.end), format!("${num}")));
                    last_placeholder = Some(i);
                }
            }
            // `:name`, `:'name'`, `:"name"` — not inside an array slice `a[1:n]`.
            TokenKind::Colon if bracket_depth == 0 => {
                if let Some(n) = nxt.filter(|n| adjacent(t, n)) {
                    let name = match n.kind {
                        TokenKind::Word => Some(n.text(src).to_string()),
                        TokenKind::String | TokenKind::QuotedIdent => {
                            // `:'name'` / `:"name"`; an unterminated one (half-typed) keeps
                            // everything after the opening quote.
                            let s = n.text(src);
                            let (open, rest) = s.split_at(1);
                            Some(rest.strip_suffix(open).unwrap_or(rest).to_string())
                        }
                        _ => None,
                    };
                    if let Some(name) = name {
                        let num = assign(Some(name), PlaceholderStyle::Colon);
                        repl.push(((t.start, n.end), format!("${num}")));
                        i += 1;
                    }
                }
            }
            // `@name` in operand position (`@ x` with a space stays the absolute-value operator).
            TokenKind::Operator if operand_pos && t.text(src) == "@" => {
                if let Some(n) = nxt.filter(|n| adjacent(t, n) && n.kind == TokenKind::Word) {
                    let num = assign(Some(n.text(src).to_string()), PlaceholderStyle::At);
                    repl.push(((t.start, n.end), format!("${num}")));
                    i += 1;
                }
            }
            // `%s` and `%(name)s`
            TokenKind::Operator if operand_pos && t.text(src) == "%" => {
                if let Some(n) = nxt.filter(|n| adjacent(t, n)) {
                    if n.kind == TokenKind::Word && n.text(src) == "s" {
                        let num = assign(None, PlaceholderStyle::Percent);
                        repl.push(((t.start, n.end), format!("${num}")));
                        i += 1;
                    } else if n.kind == TokenKind::LParen {
                        let w = sig.get(i + 2).copied();
                        let rp = sig.get(i + 3).copied();
                        let s = sig.get(i + 4).copied();
                        if let (Some(w), Some(rp), Some(s)) = (w, rp, s) {
                            if w.kind == TokenKind::Word
                                && rp.kind == TokenKind::RParen
                                && s.kind == TokenKind::Word
                                && s.text(src) == "s"
                                && adjacent(n, w)
                                && adjacent(w, rp)
                                && adjacent(rp, s)
                            {
                                let num = assign(
                                    Some(w.text(src).to_string()),
                                    PlaceholderStyle::PercentNamed,
                                );
                                repl.push(((t.start, s.end), format!("${num}")));
                                i += 4;
                            }
                        }
                    }
                }
            }
            // `timestamptz $2` (pg_stat_statements' rendering of `timestamptz '…'`) → `$2::timestamptz`
            TokenKind::Word if operand_pos => {
                if let Some((end_idx, ty)) = typed_literal_type(src, &sig, i) {
                    if let Some(p) = sig.get(end_idx + 1).filter(|p| p.kind == TokenKind::Param) {
                        let text = format!("{}::{}", p.text(src), ty);
                        repl.push(((t.start, p.end), text));
                        i = end_idx + 1;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }

    if repl.is_empty() {
        return Mapped {
            text: src.to_string(),
            placeholders,
            edits: Vec::new(),
        };
    }
    let mut text = String::with_capacity(src.len() + repl.len() * 2);
    let mut edits = Vec::with_capacity(repl.len());
    let mut last = 0;
    for ((s, e), r) in repl {
        text.push_str(&src[last..s]);
        let ns = text.len();
        text.push_str(&r);
        edits.push(Edit {
            orig: (s, e),
            new: (ns, text.len()),
        });
        last = e;
    }
    text.push_str(&src[last..]);
    Mapped {
        text,
        placeholders,
        edits,
    }
}

/// Is an operand expected after `prev` (the previous significant token)?
fn expects_operand(src: &str, prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(p) => match p.kind {
            TokenKind::Operator | TokenKind::LParen | TokenKind::Comma | TokenKind::LBracket => {
                true
            }
            TokenKind::Word => {
                let w = p.text(src);
                OPERAND_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
            }
            _ => false,
        },
    }
}

/// If the words starting at `sig[i]` name a type (`timestamptz`, `timestamp with time zone` …),
/// returns the index of its last word and the type as it should be written after `::`.
fn typed_literal_type(src: &str, sig: &[&Token], i: usize) -> Option<(usize, String)> {
    let w = sig[i].text(src);
    if !TYPED_LITERAL_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(w))
    {
        return None;
    }
    let lower = w.to_ascii_lowercase();
    if lower == "timestamp" || lower == "time" {
        // `timestamp with time zone $1` / `time without time zone $1`
        let words: Vec<String> = sig
            .iter()
            .skip(i + 1)
            .take(3)
            .take_while(|t| t.kind == TokenKind::Word)
            .map(|t| t.text(src).to_ascii_lowercase())
            .collect();
        if words.len() == 3
            && (words[0] == "with" || words[0] == "without")
            && words[1] == "time"
            && words[2] == "zone"
        {
            return Some((i + 3, format!("{lower} {} time zone", words[0])));
        }
    }
    Some((i, lower))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(src: &str) -> String {
        map_placeholders(src).text
    }

    #[test]
    fn question_marks() {
        assert_eq!(
            m("SELECT * FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(
            m("SELECT * FROM t WHERE a=? LIMIT ?"),
            "SELECT * FROM t WHERE a=$1 LIMIT $2"
        );
    }

    #[test]
    fn jsonb_question_operators_stay() {
        assert_eq!(
            m("SELECT * FROM t WHERE data ? 'k'"),
            "SELECT * FROM t WHERE data ? 'k'"
        );
        assert_eq!(
            m("SELECT * FROM t WHERE data ?| array['a']"),
            "SELECT * FROM t WHERE data ?| array['a']"
        );
        assert_eq!(
            m("SELECT * FROM t WHERE data ? ?"),
            "SELECT * FROM t WHERE data ? $1"
        );
    }

    #[test]
    fn named_colon_reuses_numbers() {
        let r = map_placeholders("SELECT * FROM t WHERE a = :id OR b = :id OR c = :other");
        assert_eq!(r.text, "SELECT * FROM t WHERE a = $1 OR b = $1 OR c = $2");
        assert_eq!(r.placeholders.len(), 2);
        assert_eq!(r.placeholders[0].name.as_deref(), Some("id"));
    }

    #[test]
    fn casts_assignments_and_slices_are_not_placeholders() {
        assert_eq!(
            m("SELECT a::int, b[1:2], c[1:n] FROM t"),
            "SELECT a::int, b[1:2], c[1:n] FROM t"
        );
        assert_eq!(m("SELECT x := 1"), "SELECT x := 1");
    }

    #[test]
    fn psql_quoted_variables() {
        assert_eq!(
            m("SELECT * FROM t WHERE name = :'name'"),
            "SELECT * FROM t WHERE name = $1"
        );
    }

    #[test]
    fn at_and_percent_styles() {
        assert_eq!(
            m("SELECT * FROM t WHERE a = @id AND b = @id"),
            "SELECT * FROM t WHERE a = $1 AND b = $1"
        );
        assert_eq!(m("SELECT @ x FROM t"), "SELECT @ x FROM t");
        assert_eq!(
            m("SELECT * FROM t WHERE a = %s AND b = %(name)s"),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(m("SELECT a % b FROM t"), "SELECT a % b FROM t");
    }

    #[test]
    fn numbering_continues_after_existing_params() {
        assert_eq!(
            m("SELECT * FROM t WHERE a = $2 AND b = ?"),
            "SELECT * FROM t WHERE a = $2 AND b = $3"
        );
    }

    #[test]
    fn placeholders_inside_strings_and_comments_stay() {
        assert_eq!(
            m("SELECT '?', ':x' /* ? */ FROM t -- :y"),
            "SELECT '?', ':x' /* ? */ FROM t -- :y"
        );
    }

    #[test]
    fn typed_literals_from_pg_stat_statements() {
        assert_eq!(
            m("SELECT * FROM t WHERE ts > timestamptz $2"),
            "SELECT * FROM t WHERE ts > $2::timestamptz"
        );
        assert_eq!(
            m("SELECT now() - interval $1"),
            "SELECT now() - $1::interval"
        );
        assert_eq!(
            m("SELECT * FROM t WHERE ts > timestamp with time zone $1"),
            "SELECT * FROM t WHERE ts > $1::timestamp with time zone"
        );
        // a column named like a type is left alone
        assert_eq!(
            m("SELECT date FROM t WHERE date = $1"),
            "SELECT date FROM t WHERE date = $1"
        );
    }

    #[test]
    fn offsets_map_back() {
        let src = "SELECT * FROM t WHERE a = :long_name AND b = ?";
        let r = map_placeholders(src);
        assert_eq!(r.text, "SELECT * FROM t WHERE a = $1 AND b = $2");
        let and_new = r.text.find("AND").unwrap();
        assert_eq!(r.to_original(and_new), src.find("AND").unwrap());
        let p1 = r.text.find("$1").unwrap();
        assert_eq!(r.to_original(p1), src.find(":long_name").unwrap());
        assert_eq!(r.to_original(0), 0);
    }
}
