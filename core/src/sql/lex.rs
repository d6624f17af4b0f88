//! A forgiving SQL tokenizer: the one place that knows PostgreSQL's lexical rules (comments,
//! quoting, dollar-quoting, psql meta-commands), shared by the splitter and the placeholder mapper.
//!
//! It never fails: an unterminated string or comment runs to the end of the input, so a
//! half-typed file in an editor still splits into statements.

/// What a token is. Byte ranges live in [`Token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Spaces, tabs, newlines.
    Whitespace,
    /// `-- …` up to the end of the line.
    LineComment,
    /// `/* … */`, nested as PostgreSQL nests them.
    BlockComment,
    /// `'…'`, `E'…'`, `B'…'`, `X'…'`, `U&'…'` (the prefix is part of the token).
    String,
    /// `$tag$ … $tag$`.
    DollarString,
    /// `"…"`.
    QuotedIdent,
    /// An identifier or keyword.
    Word,
    /// A numeric literal.
    Number,
    /// `$1`, `$2`, …
    Param,
    /// `::`
    Cast,
    /// A lone `:` (a psql variable or `:name` placeholder starts with it).
    Colon,
    /// `?`: a client placeholder or a jsonb operator, decided by the mapper.
    Question,
    /// A run of operator characters (`=`, `<>`, `@>`, `||`, `:=` …).
    Operator,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// `.`
    Dot,
    /// A psql meta-command: a backslash up to the end of the line (`\set x 1`, `\g`).
    MetaCommand,
    /// Anything else (a stray byte); kept so ranges stay contiguous.
    Other,
}

impl TokenKind {
    /// Whitespace and comments: tokens that do not change what a statement means.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
        )
    }
}

/// One token: its kind and its byte range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text in `src` (the string it was lexed from).
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
}

/// The highest `$n` parameter number in `src` (0 when there is none): the number of
/// parameters PostgreSQL infers for `PREPARE name AS src`. Parameters inside strings and
/// comments do not count.
pub fn max_param(src: &str) -> usize {
    tokenize(src)
        .iter()
        .filter(|t| t.kind == TokenKind::Param)
        .filter_map(|t| t.text(src)[1..].parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

const OP_CHARS: &[u8] = b"+-*/<>=~!@#%^&|`";

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Splits `src` into tokens covering every byte, in order.
pub fn tokenize(src: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(src.len() / 4 + 1);
    out.extend(tokens_from(src, 0));
    out
}

/// The tokens of `src` from byte `from` on, lazily. `from` must be where a token starts (the
/// lexer keeps no state between tokens, so any token start of a whole-text tokenization is one).
pub fn tokens_from(src: &str, from: usize) -> impl Iterator<Item = Token> + '_ {
    let mut lexer = Lexer {
        b: src.as_bytes(),
        pos: from.min(src.len()),
    };
    std::iter::from_fn(move || {
        if lexer.pos >= lexer.b.len() {
            return None;
        }
        let start = lexer.pos;
        let kind = lexer.next_kind();
        debug_assert!(lexer.pos > start, "lexer must always advance");
        Some(Token {
            kind,
            start,
            end: lexer.pos,
        })
    })
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self, off: usize) -> Option<u8> {
        self.b.get(self.pos + off).copied()
    }

    /// Advances past one UTF-8 character (so ranges stay on char boundaries).
    fn bump_char(&mut self) {
        let b = self.b[self.pos];
        let len = match b {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        self.pos = (self.pos + len).min(self.b.len());
        // A continuation byte cannot start a char in valid UTF-8 (we only get &str), so
        // `len` always lands on a boundary.
    }

    fn next_kind(&mut self) -> TokenKind {
        let c = self.b[self.pos];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => {
                while matches!(
                    self.peek(0),
                    Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
                ) {
                    self.pos += 1;
                }
                TokenKind::Whitespace
            }
            b'-' if self.peek(1) == Some(b'-') => {
                while let Some(b) = self.peek(0) {
                    if b == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                TokenKind::LineComment
            }
            b'/' if self.peek(1) == Some(b'*') => {
                self.block_comment();
                TokenKind::BlockComment
            }
            b'\'' => {
                self.quoted(b'\'', false);
                TokenKind::String
            }
            b'"' => {
                self.quoted(b'"', false);
                TokenKind::QuotedIdent
            }
            b'$' => self.dollar(),
            b'\\' => {
                while let Some(b) = self.peek(0) {
                    if b == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                TokenKind::MetaCommand
            }
            b'0'..=b'9' => {
                self.number();
                TokenKind::Number
            }
            b'.' if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => {
                self.number();
                TokenKind::Number
            }
            b':' => {
                if self.peek(1) == Some(b':') {
                    self.pos += 2;
                    TokenKind::Cast
                } else if self.peek(1) == Some(b'=') {
                    self.pos += 2;
                    TokenKind::Operator
                } else {
                    self.pos += 1;
                    TokenKind::Colon
                }
            }
            b'?' => {
                self.pos += 1;
                TokenKind::Question
            }
            b'(' => self.single(TokenKind::LParen),
            b')' => self.single(TokenKind::RParen),
            b'[' => self.single(TokenKind::LBracket),
            b']' => self.single(TokenKind::RBracket),
            b',' => self.single(TokenKind::Comma),
            b';' => self.single(TokenKind::Semicolon),
            b'.' => self.single(TokenKind::Dot),
            _ if is_ident_start(c) => self.word(),
            _ if OP_CHARS.contains(&c) => {
                self.operator();
                TokenKind::Operator
            }
            _ => {
                self.bump_char();
                TokenKind::Other
            }
        }
    }

    fn single(&mut self, kind: TokenKind) -> TokenKind {
        self.pos += 1;
        kind
    }

    fn block_comment(&mut self) {
        // PostgreSQL block comments nest.
        self.pos += 2;
        let mut depth = 1usize;
        while self.pos < self.b.len() {
            if self.peek(0) == Some(b'/') && self.peek(1) == Some(b'*') {
                depth += 1;
                self.pos += 2;
            } else if self.peek(0) == Some(b'*') && self.peek(1) == Some(b'/') {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
    }

    /// A quoted run starting at the opening quote; a doubled quote is an escaped quote.
    /// With `backslash`, `\x` escapes the next byte (E'…' strings).
    fn quoted(&mut self, q: u8, backslash: bool) {
        self.pos += 1;
        while let Some(b) = self.peek(0) {
            if backslash && b == b'\\' {
                self.pos = (self.pos + 2).min(self.b.len());
                continue;
            }
            self.pos += 1;
            if b == q {
                if self.peek(0) == Some(q) {
                    self.pos += 1;
                    continue;
                }
                return;
            }
        }
    }

    fn dollar(&mut self) -> TokenKind {
        // `$n` parameter
        if self.peek(1).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            while self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            return TokenKind::Param;
        }
        // `$tag$` or `$$`
        let mut end = self.pos + 1;
        while end < self.b.len() && self.b[end] != b'$' {
            let b = self.b[end];
            let ok = if end == self.pos + 1 {
                is_ident_start(b)
            } else {
                is_ident_cont(b) && b != b'$'
            };
            if !ok {
                break;
            }
            end += 1;
        }
        if end < self.b.len() && self.b[end] == b'$' {
            let tag = &self.b[self.pos..=end];
            self.pos = end + 1;
            // find the closing tag
            let rest = &self.b[self.pos..];
            match find_subslice(rest, tag) {
                Some(i) => self.pos += i + tag.len(),
                None => self.pos = self.b.len(),
            }
            return TokenKind::DollarString;
        }
        self.pos += 1;
        TokenKind::Other
    }

    fn number(&mut self) {
        let mut seen_dot = false;
        let mut seen_exp = false;
        // hex/octal/binary integer literals (PG16+) and underscores
        if self.peek(0) == Some(b'0')
            && matches!(self.peek(1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
        {
            self.pos += 2;
            while self
                .peek(0)
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                self.pos += 1;
            }
            return;
        }
        while let Some(b) = self.peek(0) {
            if b.is_ascii_digit() || b == b'_' {
                self.pos += 1;
            } else if b == b'.' && !seen_dot && !seen_exp && self.peek(1) != Some(b'.') {
                seen_dot = true;
                self.pos += 1;
            } else if (b == b'e' || b == b'E') && !seen_exp {
                let next = self.peek(1);
                let next2 = self.peek(2);
                let digit_follows = next.is_some_and(|b| b.is_ascii_digit())
                    || (matches!(next, Some(b'+' | b'-'))
                        && next2.is_some_and(|b| b.is_ascii_digit()));
                if !digit_follows {
                    break;
                }
                seen_exp = true;
                self.pos += if next.is_some_and(|b| b.is_ascii_digit()) {
                    1
                } else {
                    2
                };
            } else {
                break;
            }
        }
    }

    fn word(&mut self) -> TokenKind {
        let start = self.pos;
        // String prefixes: E'…', B'…', X'…', N'…', U&'…'
        let c = self.b[start].to_ascii_uppercase();
        if self.peek(1) == Some(b'\'') && matches!(c, b'E' | b'B' | b'X' | b'N') {
            self.pos += 1;
            self.quoted(b'\'', c == b'E');
            return TokenKind::String;
        }
        if c == b'U' && self.peek(1) == Some(b'&') && matches!(self.peek(2), Some(b'\'' | b'"')) {
            let q = self.b[start + 2];
            self.pos += 2;
            self.quoted(q, false);
            return if q == b'\'' {
                TokenKind::String
            } else {
                TokenKind::QuotedIdent
            };
        }
        while self.pos < self.b.len() && is_ident_cont(self.b[self.pos]) {
            if self.b[self.pos] >= 0x80 {
                self.bump_char();
            } else {
                self.pos += 1;
            }
        }
        TokenKind::Word
    }

    fn operator(&mut self) {
        // A run of operator characters, stopping before a comment start.
        while let Some(b) = self.peek(0) {
            if !OP_CHARS.contains(&b) {
                break;
            }
            if (b == b'-' && self.peek(1) == Some(b'-'))
                || (b == b'/' && self.peek(1) == Some(b'*'))
            {
                break;
            }
            self.pos += 1;
        }
    }
}

fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, &str)> {
        tokenize(src)
            .into_iter()
            .filter(|t| t.kind != TokenKind::Whitespace)
            .map(|t| (t.kind, t.text(src)))
            .collect()
    }

    #[test]
    fn covers_every_byte() {
        let src = "SELECT 'a''b', E'x\\'y', $q$ ; $q$, \"id\"\"x\" /* /* n */ */ -- c\n ;ü€";
        let toks = tokenize(src);
        let mut pos = 0;
        for t in &toks {
            assert_eq!(t.start, pos);
            pos = t.end;
        }
        assert_eq!(pos, src.len());
    }

    #[test]
    fn strings_and_comments_hide_semicolons() {
        let k = kinds("'a;b' E'\\';' $f$;$f$ /* ; /* ; */ ; */ -- ;\n;");
        assert_eq!(
            k.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![
                TokenKind::String,
                TokenKind::String,
                TokenKind::DollarString,
                TokenKind::BlockComment,
                TokenKind::LineComment,
                TokenKind::Semicolon
            ]
        );
    }

    #[test]
    fn params_casts_and_placeholders() {
        let k = kinds("a::int = $12 and b = ? and c = :name and d := 1");
        assert!(k.contains(&(TokenKind::Cast, "::")));
        assert!(k.contains(&(TokenKind::Param, "$12")));
        assert!(k.contains(&(TokenKind::Question, "?")));
        assert!(k.contains(&(TokenKind::Colon, ":")));
        assert!(k.contains(&(TokenKind::Operator, ":=")));
    }

    #[test]
    fn the_highest_parameter_counts_outside_strings_and_comments() {
        assert_eq!(max_param("SELECT 1"), 0);
        assert_eq!(max_param("SELECT $2, $10, $3"), 10);
        assert_eq!(max_param("SELECT '$9', $1 /* $8 */ -- $7\n"), 1);
        assert_eq!(max_param("SELECT $$ $5 $$, a$6 FROM t WHERE b = $2"), 2);
    }

    #[test]
    fn unterminated_things_run_to_the_end() {
        for src in ["'abc", "\"abc", "$x$ abc", "/* abc", "E'abc\\"] {
            let toks = tokenize(src);
            assert_eq!(toks.len(), 1, "{src}");
            assert_eq!(toks[0].end, src.len());
        }
    }

    #[test]
    fn meta_command_runs_to_end_of_line() {
        let k = kinds("\\set x 1\nSELECT 1");
        assert_eq!(k[0], (TokenKind::MetaCommand, "\\set x 1"));
        assert_eq!(k[1], (TokenKind::Word, "SELECT"));
    }

    #[test]
    fn numbers() {
        let k = kinds("1 1.5 .5 1e10 1.5e-3 0x1F 1_000 1..2");
        assert!(k.iter().take(7).all(|t| t.0 == TokenKind::Number));
    }
}
