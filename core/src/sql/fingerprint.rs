//! Normalizes and fingerprints one statement with pg_query, so the daemon (reading
//! pg_stat_statements) and the language server (reading a file) compute the same query id.
//!
//! The fingerprint ignores literal values, `$n` parameters, IN-list lengths, whitespace, case
//! and comments; relation aliases are ignored and relation names count (see
//! [`FINGERPRINT_OPTIONS`]).

use super::lex::{tokenize, TokenKind};
use super::placeholders::{map_placeholders, Mapped};
use serde::{Deserialize, Serialize};

/// Fingerprint options: relation names are fingerprinted and aliases ignored, so `FROM orders o`
/// and `FROM orders x` agree while `FROM orders o` and `FROM customers o` do not. Schema names
/// are ignored (a file rarely qualifies what pg_stat_statements shows qualified, or the reverse),
/// and so are runs of 2+ digits in relation names (partitions `events_2024_01`/`_02` agree).
pub const FINGERPRINT_OPTIONS: pg_query::FingerprintOptions =
    pg_query::FingerprintOptions::RANGEVAR_IGNORE_ALIASES;

/// A statement OptiDB can talk about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprinted {
    /// 16 hex digits; this is the query id everywhere in OptiDB.
    pub fingerprint: String,
    /// The statement with placeholders mapped to `$n` and literals replaced by `$n`.
    pub norm_sql: String,
}

/// Why a statement could not be fingerprinted, with the position (a byte offset into the text
/// that was passed in) when it is a syntax error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub message: String,
    pub position: Option<usize>,
}

/// Fingerprints and normalizes one statement (client placeholders are mapped first).
pub fn fingerprint(sql: &str) -> Result<Fingerprinted, SqlError> {
    let mapped = map_placeholders(sql);
    fingerprint_mapped(&mapped)
}

/// [`fingerprint`] for text already passed through [`map_placeholders`].
pub fn fingerprint_mapped(mapped: &Mapped) -> Result<Fingerprinted, SqlError> {
    let text = mapped.text.as_str();
    let fp =
        pg_query::fingerprint(text, 0, FINGERPRINT_OPTIONS).map_err(|e| parse_error(mapped, e))?;
    let norm_sql = pg_query::normalize(text).map_err(|e| parse_error(mapped, e))?;
    Ok(Fingerprinted {
        fingerprint: fp.hex,
        norm_sql,
    })
}

/// Fingerprint only (no normalized text): the fast path for lookups.
pub fn fingerprint_only(sql: &str) -> Result<String, SqlError> {
    let mapped = map_placeholders(sql);
    pg_query::fingerprint(&mapped.text, 0, FINGERPRINT_OPTIONS)
        .map(|f| f.hex)
        .map_err(|e| parse_error(&mapped, e))
}

fn parse_error(mapped: &Mapped, e: pg_query::Error) -> SqlError {
    let message = match e {
        pg_query::Error::Parse(m) => m,
        pg_query::Error::Conversion(_) => "the statement contains a NUL byte".to_string(),
        other => other.to_string(),
    };
    let position = locate_syntax_error(&mapped.text).map(|p| mapped.to_original(p));
    SqlError { message, position }
}

/// Finds where a syntax error is by parsing prefixes that end at token boundaries: a prefix that
/// fails only "at end of input" is still a valid beginning, so the error sits in the first token
/// whose prefix fails otherwise. Binary search: O(log n) parses, only on the error path.
pub fn locate_syntax_error(text: &str) -> Option<usize> {
    let toks: Vec<_> = tokenize(text)
        .into_iter()
        .filter(|t| !t.kind.is_trivia())
        .collect();
    if toks.is_empty() {
        return None;
    }
    let prefix_ok = |k: usize| -> bool {
        // prefix containing tokens [0, k]
        match pg_query::parse(&text[..toks[k].end], 0) {
            Ok(_) => true,
            Err(pg_query::Error::Parse(m)) => m.contains("at end of input"),
            Err(_) => false,
        }
    };
    // Unterminated quotes/comments report at end of input too: point at the token.
    if let Some(t) = toks.last() {
        let last_text = &text[t.start..t.end];
        let unterminated = match t.kind {
            TokenKind::String => !last_text.ends_with('\'') || last_text.len() < 2,
            TokenKind::QuotedIdent => !last_text.ends_with('"') || last_text.len() < 2,
            TokenKind::DollarString => !last_text.ends_with('$') || last_text.len() < 2,
            _ => false,
        };
        if unterminated {
            return Some(t.start);
        }
    }
    if prefix_ok(toks.len() - 1) {
        // Whole text is a valid prefix: the statement is incomplete; point at its end.
        return Some(toks[toks.len() - 1].end);
    }
    let (mut lo, mut hi) = (0usize, toks.len() - 1); // invariant: prefix(hi) fails
    if !prefix_ok(0) {
        return Some(toks[0].start);
    }
    // invariant: prefix(lo) ok, prefix(hi) fails
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if prefix_ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(toks[hi].start)
}

/// The statement inside an SQL-level `PREPARE name [(types)] AS <statement>`, as
/// pg_stat_statements records prepared statements (the executions of `EXECUTE name(…)` are
/// counted under that entry): the text after the first `AS` outside parentheses, read with
/// PostgreSQL's scanner. `None` for anything else.
pub fn prepared_body(sql: &str) -> Option<&str> {
    use pg_query::protobuf::Token;
    let scan = pg_query::scan(sql).ok()?;
    let mut tokens = scan.tokens.iter();
    if tokens.next()?.token != Token::Prepare as i32 {
        return None;
    }
    let mut depth = 0i32;
    for t in tokens {
        match t.token {
            x if x == Token::Ascii40 as i32 => depth += 1,
            x if x == Token::Ascii41 as i32 => depth -= 1,
            x if x == Token::As as i32 && depth == 0 => {
                let body = sql.get(usize::try_from(t.end).ok()?..)?.trim();
                let body = body.trim_end_matches(';').trim_end();
                return (!body.is_empty()).then_some(body);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(s: &str) -> String {
        fingerprint(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .fingerprint
    }

    #[test]
    fn literal_variants_agree() {
        let a = fp("SELECT * FROM orders WHERE customer_id = 42");
        assert_eq!(a, fp("SELECT * FROM orders WHERE customer_id = 7"));
        assert_eq!(
            a,
            fp("select *\n  from   ORDERS where CUSTOMER_ID=99 -- trailing")
        );
        assert_eq!(
            a,
            fp("/* app */ SELECT * FROM orders WHERE customer_id = $1")
        );
        assert_eq!(a, fp("SELECT * FROM orders WHERE customer_id = ?"));
        assert_eq!(a, fp("SELECT * FROM orders WHERE customer_id = :cid"));
        assert_eq!(a, fp("SELECT * FROM orders o WHERE customer_id = %s"));
        assert_ne!(a, fp("SELECT * FROM orders WHERE status = 'x'"));
        assert_ne!(a, fp("SELECT * FROM customers WHERE customer_id = 1"));
    }

    #[test]
    fn in_lists_of_any_length_agree() {
        let a = fp("SELECT * FROM t WHERE id IN (1, 2, 3)");
        assert_eq!(a, fp("SELECT * FROM t WHERE id IN (1)"));
        assert_eq!(a, fp("SELECT * FROM t WHERE id IN ($1, $2, $3, $4, $5)"));
        assert_eq!(a, fp("SELECT * FROM t WHERE id IN (?, ?)"));
    }

    #[test]
    fn typed_literal_as_pg_stat_statements_prints_it() {
        let a = fp("SELECT * FROM ev WHERE at > timestamptz '2024-01-01'");
        assert_eq!(a, fp("SELECT * FROM ev WHERE at > timestamptz $1"));
    }

    #[test]
    fn normalized_text_has_params() {
        let f = fingerprint("SELECT * FROM t WHERE a = 'x' AND b = ?").unwrap();
        assert_eq!(f.norm_sql, "SELECT * FROM t WHERE a = $2 AND b = $1");
    }

    #[test]
    fn syntax_errors_have_positions_in_the_original_text() {
        let src = "SELECT * FROM t WHERE a = :name AND AND b = 1";
        let e = fingerprint(src).unwrap_err();
        assert!(e.message.contains("syntax error"), "{e:?}");
        assert_eq!(e.position, Some(src.find("AND AND").unwrap() + 4));

        let e = fingerprint("SELEC 1").unwrap_err();
        assert_eq!(e.position, Some(0));
        let e = fingerprint("SELECT * FROM").unwrap_err();
        assert_eq!(e.position, Some("SELECT * FROM".len()));
        let e = fingerprint("SELECT 'abc").unwrap_err();
        assert_eq!(e.position, Some(7));
    }

    #[test]
    fn the_statement_inside_prepare() {
        assert_eq!(
            prepared_body("PREPARE pp(int, text) AS SELECT id FROM big WHERE v = $1 AND k = $2"),
            Some("SELECT id FROM big WHERE v = $1 AND k = $2")
        );
        assert_eq!(
            prepared_body("prepare q as\n  select 1 as a;"),
            Some("select 1 as a")
        );
        assert_eq!(prepared_body("SELECT 1 AS a"), None);
        assert_eq!(prepared_body("EXECUTE pp(5)"), None);
        assert_eq!(prepared_body("PREPARE pp AS"), None);
    }
}
