//! Splits a SQL file into statements with exact byte ranges, so an editor can put a warning on
//! exactly the statement it is about and a CLI can say where each statement starts and ends.
//!
//! Semicolons inside strings, quoted identifiers, dollar-quoted bodies and comments do not split;
//! psql meta-commands (`\set`, `\i` …) are not statements, and `\g` ends one like `;` does;
//! `CREATE FUNCTION … BEGIN ATOMIC … END` bodies stay whole.

use super::lex::{tokens_from, Token, TokenKind};
use std::collections::VecDeque;

/// One statement of a SQL text: `text[start..end]` is the statement without leading
/// whitespace/comments and without its terminating `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
}

/// Splits `src` into statements. Never fails; empty statements (`;;`) are skipped.
pub fn split(src: &str) -> Vec<Statement<'_>> {
    split_from(src, 0).collect()
}

/// The statements of `src` from byte `from` on, lazily. `from` must be where a statement of a
/// whole-text split starts (or 0): there the lexer is between tokens and no statement is open,
/// so what follows splits exactly as in the whole text. Editors re-split only what an edit
/// touched this way (see `optidb_source::analysis`).
pub fn split_from(src: &str, from: usize) -> impl Iterator<Item = Statement<'_>> + '_ {
    let mut tokens = tokens_from(src, from);
    let mut cur = StatementBuilder::default();
    let mut ready: VecDeque<Statement<'_>> = VecDeque::new();
    let mut done = false;
    std::iter::from_fn(move || loop {
        if let Some(st) = ready.pop_front() {
            return Some(st);
        }
        if done {
            return None;
        }
        let Some(tok) = tokens.next() else {
            done = true;
            cur.finish(src, &mut ready);
            continue;
        };
        match tok.kind {
            k if k.is_trivia() => {}
            TokenKind::Semicolon if cur.atomic_depth == 0 => cur.finish(src, &mut ready),
            TokenKind::MetaCommand => {
                // psql sends the buffer on \g, \gx, \gset, \gexec, \watch, \crosstabview …; any
                // other meta-command between statements is not SQL. Either way the statement so
                // far (if any) ends here.
                cur.finish(src, &mut ready);
            }
            _ => cur.push(src, &tok),
        }
    })
}

#[derive(Default)]
struct StatementBuilder {
    start: Option<usize>,
    end: usize,
    /// Leading words, upper-cased, to recognise `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
    leading: Vec<String>,
    is_routine: bool,
    atomic_depth: u32,
    prev_word_begin: bool,
}

impl StatementBuilder {
    fn push(&mut self, src: &str, tok: &Token) {
        if self.start.is_none() {
            self.start = Some(tok.start);
        }
        self.end = tok.end;
        if tok.kind != TokenKind::Word {
            self.prev_word_begin = false;
            return;
        }
        let word = tok.text(src);
        if self.leading.len() < 4 {
            self.leading.push(word.to_ascii_uppercase());
            let l: Vec<&str> = self.leading.iter().map(String::as_str).collect();
            self.is_routine = matches!(
                l.as_slice(),
                ["CREATE", "FUNCTION" | "PROCEDURE", ..]
                    | ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE"]
            );
        }
        if !self.is_routine {
            return;
        }
        // SQL-standard routine bodies: BEGIN ATOMIC … END may contain semicolons. Inside such a
        // body, CASE … END nests too.
        let opens_body = word.eq_ignore_ascii_case("atomic") && self.prev_word_begin;
        let opens_case = word.eq_ignore_ascii_case("case") && self.atomic_depth > 0;
        if opens_body || opens_case {
            self.atomic_depth += 1;
        } else if word.eq_ignore_ascii_case("end") && self.atomic_depth > 0 {
            self.atomic_depth -= 1;
        }
        self.prev_word_begin = word.eq_ignore_ascii_case("begin");
    }

    fn finish<'a>(&mut self, src: &'a str, out: &mut VecDeque<Statement<'a>>) {
        if let Some(start) = self.start {
            out.push_back(Statement {
                start,
                end: self.end,
                text: &src[start..self.end],
            });
        }
        *self = StatementBuilder::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<&str> {
        split(src).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn ranges_are_exact() {
        let src = "  -- lead\nSELECT 1;\n/* c */ SELECT 'a;b' ;  ";
        let st = split(src);
        assert_eq!(st.len(), 2);
        assert_eq!(&src[st[0].start..st[0].end], "SELECT 1");
        assert_eq!(st[1].text, "SELECT 'a;b'");
        assert_eq!(st[1].start, src.find("SELECT 'a").unwrap());
    }

    #[test]
    fn quoting_and_comments_do_not_split() {
        let src = r#"SELECT $$a;b$$, $t$ ; $t$, "x;y", E'\';', 'it''s;' /* ; */ -- ;
        FROM t; SELECT 2"#;
        let t = texts(src);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].ends_with("FROM t"));
        assert_eq!(t[1], "SELECT 2");
    }

    #[test]
    fn psql_meta_commands() {
        let src = "\\set id 5\nSELECT * FROM t WHERE id = :id \\g\n\\timing on\nSELECT 2;";
        assert_eq!(
            texts(src),
            vec!["SELECT * FROM t WHERE id = :id", "SELECT 2"]
        );
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let src = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END; SELECT 3;";
        let t = texts(src);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].ends_with("END; END"));
        assert_eq!(t[1], "SELECT 3");
    }

    #[test]
    fn transaction_begin_is_not_a_body() {
        assert_eq!(
            texts("BEGIN; SELECT 1; END;"),
            vec!["BEGIN", "SELECT 1", "END"]
        );
    }

    #[test]
    fn empty_and_trailing() {
        assert!(split("").is_empty());
        assert!(split(" ;; -- x\n").is_empty());
        assert_eq!(texts("SELECT 1"), vec!["SELECT 1"]);
        assert_eq!(texts("SELECT 'unterminated"), vec!["SELECT 'unterminated"]);
    }

    #[test]
    fn splitting_from_a_statement_start_matches_the_whole_split() {
        let src = "SELECT 1; CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\\set x 1\nSELECT 'a;b' \\g\nSELECT 3";
        let all = split(src);
        for (i, st) in all.iter().enumerate() {
            let rest: Vec<_> = split_from(src, st.start).collect();
            assert_eq!(rest, all[i..].to_vec());
        }
    }

    #[test]
    fn multibyte_text() {
        let src = "SELECT 'héllo'; SELECT '€';";
        let st = split(src);
        assert_eq!(st[1].text, "SELECT '€'");
    }
}
