//! String expressions of a host file as the program builds them at run time: literals with their
//! escapes decoded, adjacent and `+` concatenations joined, interpolations (`f"{x}"`, `${x}`,
//! `#{x}`, `$x`, `%s` with `%`, `.format`, `fmt.Sprintf`) turned into numbered holes, and the
//! call each one is passed to. Read with the host language's tree-sitter grammar, so comments,
//! nested quotes and raw strings are never guessed.

use super::map::OffsetMap;
use crate::lang::Lang;
use std::ops::Range;
use tree_sitter::{Node, Parser, Tree};

/// One string expression of the host file.
#[derive(Debug, Clone, PartialEq)]
pub struct StringExpr {
    /// The text the program builds; each hole is a `$n` placeholder numbered after the highest
    /// `$n` of the literal text.
    pub text: String,
    pub map: OffsetMap,
    pub holes: Vec<Hole>,
    /// The holes are bound parameters, not text (a tagged template: `sql\`… ${id}\``).
    pub holes_are_parameters: bool,
    /// Lower-cased name of the call the string is passed to (`execute`, `query`, `sql` …).
    pub call: Option<String>,
    /// The whole expression in the host file.
    pub host: Range<usize>,
}

/// An interpolated or concatenated non-literal part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    pub host: Range<usize>,
    pub sql: Range<usize>,
}

/// Node kinds of one grammar.
struct Spec {
    strings: &'static [&'static str],
    /// Strings written next to each other, joined by the compiler (`"a" "b"`).
    adjacent: &'static [&'static str],
    /// Binary expressions; concatenation when the operator is `+`.
    binary: &'static [&'static str],
    calls: &'static [&'static str],
    /// Between a call and its argument.
    arg_wrappers: &'static [&'static str],
    /// `$name` inside a literal is an interpolation (Kotlin).
    dollar_names: bool,
}

const ESCAPES: &[&str] = &["escape_sequence"];
const INTERPOLATIONS: &[&str] = &["interpolation", "template_substitution"];
/// Deeper concatenations are rare; their rest becomes one hole (no unbounded recursion).
const MAX_CONCAT_DEPTH: usize = 200;

fn spec(lang: Lang) -> Option<Spec> {
    let common_wrappers: &[&str] = &[
        "argument_list",
        "arguments",
        "parenthesized_expression",
        "keyword_argument",
        "token_tree",
        "value_argument",
        "value_arguments",
        "named_argument",
    ];
    Some(match lang {
        Lang::Sql => return None,
        Lang::Python => Spec {
            strings: &["string"],
            adjacent: &["concatenated_string"],
            binary: &["binary_operator"],
            calls: &["call"],
            arg_wrappers: common_wrappers,
            dollar_names: false,
        },
        Lang::TypeScript | Lang::Tsx | Lang::JavaScript => Spec {
            strings: &["string", "template_string"],
            adjacent: &[],
            binary: &["binary_expression"],
            calls: &["call_expression", "new_expression"],
            arg_wrappers: common_wrappers,
            dollar_names: false,
        },
        Lang::Go => Spec {
            strings: &["interpreted_string_literal", "raw_string_literal"],
            adjacent: &[],
            binary: &["binary_expression"],
            calls: &["call_expression"],
            arg_wrappers: common_wrappers,
            dollar_names: false,
        },
        Lang::Rust => Spec {
            strings: &["string_literal", "raw_string_literal"],
            adjacent: &[],
            binary: &["binary_expression"],
            calls: &["call_expression", "macro_invocation"],
            arg_wrappers: common_wrappers,
            dollar_names: false,
        },
        Lang::Java => Spec {
            strings: &["string_literal"],
            adjacent: &[],
            binary: &["binary_expression"],
            calls: &["method_invocation", "object_creation_expression"],
            arg_wrappers: common_wrappers,
            dollar_names: false,
        },
        Lang::Kotlin => Spec {
            strings: &["string_literal", "multiline_string_literal"],
            adjacent: &[],
            binary: &["binary_expression", "additive_expression"],
            calls: &["call_expression"],
            arg_wrappers: common_wrappers,
            dollar_names: true,
        },
        Lang::Ruby => Spec {
            strings: &["string", "heredoc_body"],
            adjacent: &["chained_string"],
            binary: &["binary"],
            calls: &["call"],
            arg_wrappers: common_wrappers,
            dollar_names: false,
        },
    })
}

/// How a literal's own text marks holes, decided by how it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    None,
    /// `"… %s …" % x` (Python), `fmt.Sprintf("… %v …", x)` (Go).
    Percent,
    /// `"… {} …".format(x)` (Python).
    Braces,
}

/// Callees that format a string (their first literal argument is a template).
const FORMATTERS: &[&str] = &["sprintf", "fprintf", "errorf", "sprint", "format"];

/// Every string expression of a host file, in document order (`None` for SQL files).
pub fn string_exprs(lang: Lang, src: &str) -> Option<Vec<StringExpr>> {
    let tree = parse(lang, src, None)?;
    string_exprs_in(lang, &tree, src)
}

/// Parses a host file; with `old` (the previous tree, already told of the edit with
/// `Tree::edit`) tree-sitter reuses what the edit did not touch. `None` for SQL files.
pub fn parse(lang: Lang, src: &str, old: Option<&Tree>) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()?).ok()?;
    parser.parse(src, old)
}

/// The string expressions of a parsed host file.
pub fn string_exprs_in(lang: Lang, tree: &Tree, src: &str) -> Option<Vec<StringExpr>> {
    let spec = spec(lang)?;
    let mut out = Vec::new();
    // Depth-first with the path from the root: tree-sitter's `parent()` walks down from the
    // root each time, quadratic on a module of thousands of functions.
    let mut stack = vec![(tree.root_node(), 0usize)];
    let mut path: Vec<Node> = Vec::new();
    while let Some((node, depth)) = stack.pop() {
        path.truncate(depth);
        path.push(node);
        let is_root = spec.strings.contains(&node.kind())
            || (is_concat(&spec, node, src) && has_literal(&spec, node, src, 0));
        if is_root {
            if let Some(e) = build(&spec, &path, src) {
                out.push(e);
            }
            continue;
        }
        let mut cur = node.walk();
        let kids: Vec<Node> = node.children(&mut cur).collect();
        stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
    }
    Some(out)
}

fn is_concat(spec: &Spec, n: Node, src: &str) -> bool {
    if spec.adjacent.contains(&n.kind()) {
        return true;
    }
    if !spec.binary.contains(&n.kind()) {
        return false;
    }
    operator(n, src) == Some("+")
}

/// The anonymous operator token of a binary node.
fn operator<'s>(n: Node, src: &'s str) -> Option<&'s str> {
    let mut cur = n.walk();
    let op = n
        .children(&mut cur)
        .find(|c| !c.is_named())
        .map(|c| &src[c.byte_range()]);
    op
}

fn has_literal(spec: &Spec, n: Node, src: &str, depth: usize) -> bool {
    if depth > MAX_CONCAT_DEPTH {
        return false;
    }
    if spec.strings.contains(&n.kind()) {
        return true;
    }
    if !is_concat(spec, n, src) {
        return false;
    }
    let mut cur = n.walk();
    let kids: Vec<Node> = n.named_children(&mut cur).collect();
    kids.into_iter()
        .any(|k| has_literal(spec, k, src, depth + 1))
}

/// A part of the string expression before numbering.
enum Chunk {
    Text {
        text: String,
        host: Range<usize>,
        verbatim: bool,
    },
    Hole(Range<usize>),
}

/// `path`: the string expression's ancestors and itself, outermost first.
fn build(spec: &Spec, path: &[Node], src: &str) -> Option<StringExpr> {
    let at = path.len() - 1;
    let root = path[at];
    let (format, call_from) = usage(spec, path, src);
    let call = call_name(spec, path, call_from, src);
    let holes_are_parameters = root.kind() == "template_string"
        && at
            .checked_sub(1)
            .is_some_and(|p| path[p].kind() == "call_expression");
    let mut chunks = Vec::new();
    flatten(spec, root, src, format, &mut chunks, 0);
    if chunks.is_empty() {
        return None;
    }
    Some(assemble(
        chunks,
        root.byte_range(),
        call,
        holes_are_parameters,
    ))
}

/// How the expression (the last node of `path`) is used: formatted (`%`, `.format`,
/// `Sprintf`), and the index in `path` from which to look for the call it is passed to.
fn usage(spec: &Spec, path: &[Node], src: &str) -> (Format, usize) {
    let at = path.len() - 1;
    let root = path[at];
    let Some(pi) = at.checked_sub(1) else {
        return (Format::None, at);
    };
    let parent = path[pi];
    // Python `"…" % x`
    if spec.binary.contains(&parent.kind())
        && operator(parent, src) == Some("%")
        && parent.named_child(0) == Some(root)
    {
        return (Format::Percent, pi);
    }
    // Python `"…".format(x)`
    if parent.kind() == "attribute" {
        let attr = parent
            .child_by_field_name("attribute")
            .map(|a| &src[a.byte_range()]);
        if attr == Some("format") {
            if let Some(ci) = pi
                .checked_sub(1)
                .filter(|&c| spec.calls.contains(&path[c].kind()))
            {
                return (Format::Braces, ci);
            }
        }
    }
    // Go `fmt.Sprintf("…", x)` and friends: the literal is the format.
    if let Some(ci) = enclosing_call(spec, path, at) {
        let name = callee(path[ci], path[ci + 1], src);
        if FORMATTERS.contains(&name.as_str()) && name != "format" {
            return (Format::Percent, ci);
        }
    }
    (Format::None, at)
}

/// The index in `path` of the call that `path[at]` is an argument of (through argument
/// wrappers only).
fn enclosing_call(spec: &Spec, path: &[Node], at: usize) -> Option<usize> {
    let mut cur = at;
    for _ in 0..4 {
        let p = cur.checked_sub(1)?;
        let pn = path[p];
        if spec.calls.contains(&pn.kind()) {
            // The callee itself is not an argument (`"…".format` handled by the caller).
            let args_start = pn.named_child(0).map(|c| c.end_byte()).unwrap_or(0);
            return (path[cur].start_byte() >= args_start).then_some(p);
        }
        if !spec.arg_wrappers.contains(&pn.kind()) {
            return None;
        }
        cur = p;
    }
    None
}

/// Lower-cased last word of the callee: `cur.execute` → `execute`, `sqlx::query!` → `query`.
/// `arg` is the call's child holding the argument.
fn callee(call: Node, arg: Node, src: &str) -> String {
    let head = &src[call.start_byte()..arg.start_byte().max(call.start_byte())];
    let head = head.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
    let start = head
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    head[start..].to_ascii_lowercase()
}

/// The name of the call `path[from]` is passed to.
fn call_name(spec: &Spec, path: &[Node], from: usize, src: &str) -> Option<String> {
    let ci = enclosing_call(spec, path, from)?;
    let name = callee(path[ci], path[ci + 1], src);
    // SQLAlchemy's `execute(text("…"))`: the SQL call is the one around `text(…)`.
    if name == "text" {
        if let Some(oi) = enclosing_call(spec, path, ci) {
            return Some(callee(path[oi], path[oi + 1], src));
        }
    }
    (!name.is_empty()).then_some(name)
}

fn flatten(spec: &Spec, n: Node, src: &str, format: Format, out: &mut Vec<Chunk>, depth: usize) {
    if spec.strings.contains(&n.kind()) {
        literal(spec, n, src, format, out);
    } else if depth < MAX_CONCAT_DEPTH && is_concat(spec, n, src) {
        let mut cur = n.walk();
        let kids: Vec<Node> = n.named_children(&mut cur).collect();
        for k in kids {
            flatten(spec, k, src, format, out, depth + 1);
        }
    } else {
        out.push(Chunk::Hole(n.byte_range()));
    }
}

fn is_delimiter(n: Node) -> bool {
    !n.is_named() || matches!(n.kind(), "string_start" | "string_end" | "heredoc_end")
}

/// The chunks of one literal: text between its delimiters, escapes decoded, holes for
/// interpolations.
fn literal(spec: &Spec, n: Node, src: &str, format: Format, out: &mut Vec<Chunk>) {
    let mut cur = n.walk();
    let kids: Vec<Node> = n.children(&mut cur).collect();
    let (Some(first), Some(last)) = (kids.first(), kids.last()) else {
        return;
    };
    let lead = kids.iter().take_while(|k| is_delimiter(**k)).last();
    let trail = kids.iter().rev().take_while(|k| is_delimiter(**k)).last();
    let cs = lead.map_or(first.start_byte(), |k| k.end_byte());
    let ce = trail.map_or(last.end_byte(), |k| k.start_byte());
    if cs >= ce {
        return;
    }
    // Escapes and interpolations inside the content, in order (not inside interpolations).
    let mut specials = Vec::new();
    let mut stack: Vec<Node> = kids.into_iter().rev().collect();
    while let Some(k) = stack.pop() {
        if k.end_byte() <= cs || k.start_byte() >= ce {
            continue;
        }
        if ESCAPES.contains(&k.kind()) || INTERPOLATIONS.contains(&k.kind()) {
            specials.push(k);
            continue;
        }
        let mut c = k.walk();
        let sub: Vec<Node> = k.children(&mut c).collect();
        stack.extend(sub.into_iter().rev());
    }
    let mut at = cs;
    for k in specials {
        if k.start_byte() > at {
            text_chunks(spec, src, at..k.start_byte(), format, out);
        }
        let r = k.byte_range();
        if ESCAPES.contains(&k.kind()) {
            match decode_escape(&src[r.clone()]) {
                Some(t) => out.push(Chunk::Text {
                    text: t,
                    host: r.clone(),
                    verbatim: false,
                }),
                None => text_chunks(spec, src, r.clone(), format, out),
            }
        } else {
            out.push(Chunk::Hole(r.clone()));
        }
        at = r.end;
    }
    if at < ce {
        text_chunks(spec, src, at..ce, format, out);
    }
}

/// Literal text, split where the format (or Kotlin's `$name`) makes holes.
fn text_chunks(spec: &Spec, src: &str, r: Range<usize>, format: Format, out: &mut Vec<Chunk>) {
    let s = &src[r.clone()];
    let b = s.as_bytes();
    let mut plain_from = 0;
    let mut i = 0;
    let flush = |from: usize, to: usize, out: &mut Vec<Chunk>| {
        if to > from {
            out.push(Chunk::Text {
                text: s[from..to].to_string(),
                host: r.start + from..r.start + to,
                verbatim: true,
            });
        }
    };
    while i < b.len() {
        let hole_len = match (format, b[i]) {
            (Format::Percent, b'%') => percent_directive(&b[i..]),
            (Format::Braces, b'{') => brace_field(&b[i..]),
            (_, b'$') if spec.dollar_names => dollar_name(&b[i..]),
            _ => None,
        };
        let escaped_literal = matches!(
            (format, b.get(i), b.get(i + 1)),
            (Format::Percent, Some(b'%'), Some(b'%'))
                | (Format::Braces, Some(b'{'), Some(b'{'))
                | (Format::Braces, Some(b'}'), Some(b'}'))
        );
        if escaped_literal {
            // `%%` → `%`, `{{` → `{`: one byte of SQL for two of host.
            flush(plain_from, i, out);
            out.push(Chunk::Text {
                text: s[i..i + 1].to_string(),
                host: r.start + i..r.start + i + 2,
                verbatim: false,
            });
            i += 2;
            plain_from = i;
        } else if let Some(n) = hole_len {
            flush(plain_from, i, out);
            out.push(Chunk::Hole(r.start + i..r.start + i + n));
            i += n;
            plain_from = i;
        } else {
            i += 1;
        }
    }
    flush(plain_from, b.len(), out);
}

/// `%s`, `%d`, `%(name)s`, `%-5.2f`, `%[1]v`: the directive's length.
fn percent_directive(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    if b.get(i) == Some(&b'(') {
        i += b[i..].iter().position(|&c| c == b')')? + 1;
    }
    if b.get(i) == Some(&b'[') {
        i += b[i..].iter().position(|&c| c == b']')? + 1;
    }
    while b.get(i).is_some_and(|c| b"-+ #0".contains(c)) {
        i += 1;
    }
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_digit() || *c == b'.' || *c == b'*')
    {
        i += 1;
    }
    b.get(i).filter(|c| c.is_ascii_alphabetic()).map(|_| i + 1)
}

/// `{}`, `{0}`, `{name}`, `{x!r:>10}`.
fn brace_field(b: &[u8]) -> Option<usize> {
    if b.get(1) == Some(&b'{') {
        return None;
    }
    let close = b.iter().position(|&c| c == b'}')?;
    let inner = &b[1..close];
    inner
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"_.!:<>^=+- []".contains(c))
        .then_some(close + 1)
}

/// Kotlin's `$name` (not `$1`, which is a PostgreSQL parameter).
fn dollar_name(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let n = b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    Some(1 + n)
}

/// The character(s) an escape sequence stands for; `None` leaves it as written.
fn decode_escape(e: &str) -> Option<String> {
    let rest = e.strip_prefix('\\')?;
    let mut chars = rest.chars();
    let c = chars.next()?;
    let tail: String = chars.collect();
    let simple = |s: &str| tail.is_empty().then(|| s.to_string());
    match c {
        'n' => simple("\n"),
        't' => simple("\t"),
        'r' => simple("\r"),
        '0' if tail.is_empty() => Some("\0".into()),
        'a' => simple("\u{7}"),
        'b' => simple("\u{8}"),
        'f' => simple("\u{c}"),
        'v' => simple("\u{b}"),
        'e' => simple("\u{1b}"),
        '\\' | '"' | '\'' | '`' | '$' | '/' | '?' | '#' | '{' | '}' => simple(&c.to_string()),
        '\n' | '\r' => Some(String::new()),
        'x' => u32::from_str_radix(&tail, 16)
            .ok()
            .and_then(char::from_u32)
            .map(String::from),
        'u' | 'U' => {
            let hex = tail.trim_start_matches('{').trim_end_matches('}');
            u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .map(String::from)
        }
        '0'..='7' => {
            let digits = format!("{c}{tail}");
            u32::from_str_radix(&digits, 8)
                .ok()
                .and_then(char::from_u32)
                .map(String::from)
        }
        _ => None,
    }
}

/// Numbers the holes after the highest `$n` of the literal text and builds the map.
fn assemble(
    chunks: Vec<Chunk>,
    host: Range<usize>,
    call: Option<String>,
    holes_are_parameters: bool,
) -> StringExpr {
    let highest = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Text { text, .. } => Some(highest_param(text)),
            Chunk::Hole(_) => None,
        })
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    let mut map = OffsetMap::default();
    let mut holes = Vec::new();
    let mut next = highest + 1;
    for c in chunks {
        let at = text.len();
        match c {
            Chunk::Text {
                text: t,
                host,
                verbatim,
            } => {
                text.push_str(&t);
                map.push(at, t.len(), host.start, host.len(), verbatim);
            }
            Chunk::Hole(h) => {
                // A space on each side keeps `a=${x}` from gluing into one token.
                let p = format!(" ${next} ");
                next += 1;
                text.push_str(&p);
                map.push(at, p.len(), h.start, h.len(), false);
                holes.push(Hole {
                    host: h,
                    sql: at..at + p.len(),
                });
            }
        }
    }
    StringExpr {
        text,
        map,
        holes,
        holes_are_parameters,
        call,
        host,
    }
}

/// The highest `$n` written in a text (0 when none).
fn highest_param(s: &str) -> usize {
    let b = s.as_bytes();
    let mut best = 0;
    for (i, _) in s.match_indices('$') {
        let n: String = b[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .map(|&c| c as char)
            .collect();
        if let Ok(v) = n.parse::<usize>() {
            best = best.max(v);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exprs(lang: Lang, src: &str) -> Vec<StringExpr> {
        string_exprs(lang, src).unwrap()
    }

    /// Every byte of a verbatim stretch maps back to the same byte of the host.
    fn assert_maps_back(src: &str, e: &StringExpr, needle: &str) {
        let at = e.text.find(needle).expect(needle);
        let h = e.map.start(at);
        assert_eq!(&src[h..h + needle.len()], needle, "{e:?}");
    }

    #[test]
    fn python_escapes_calls_and_fstrings() {
        let src = "cur.execute(\"SELECT * FROM t\\nWHERE a = %s\", (1,))\nq = f\"SELECT * FROM t WHERE id = {x}\"\n";
        let e = exprs(Lang::Python, src);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].text, "SELECT * FROM t\nWHERE a = %s");
        assert_eq!(e[0].call.as_deref(), Some("execute"));
        assert!(e[0].holes.is_empty());
        assert_maps_back(src, &e[0], "WHERE a");
        assert_eq!(e[1].text, "SELECT * FROM t WHERE id =  $1 ");
        assert_eq!(&src[e[1].holes[0].host.clone()], "{x}");
        assert_eq!(e[1].call, None);
    }

    #[test]
    fn python_concatenation_percent_and_format() {
        let src = "cur.execute(\"SELECT a \" 'FROM t')\ncur.execute(\"SELECT * FROM t WHERE a = %s AND b LIKE '10%%'\" % x)\ncur.execute(\"SELECT * FROM {} WHERE a = {{1}}\".format(t))\n";
        let e = exprs(Lang::Python, src);
        assert_eq!(e[0].text, "SELECT a FROM t");
        let sa = exprs(Lang::Python, "session.execute(text(\"SELECT 1\"))");
        assert_eq!(sa[0].call.as_deref(), Some("execute"));
        assert_maps_back(src, &e[0], "FROM t");
        assert_eq!(e[1].text, "SELECT * FROM t WHERE a =  $1  AND b LIKE '10%'");
        assert_eq!(e[1].call.as_deref(), Some("execute"));
        assert_eq!(e[2].text, "SELECT * FROM  $1  WHERE a = {1}");
        assert_eq!(e[2].call.as_deref(), Some("execute"));
    }

    #[test]
    fn typescript_templates_tagged_and_concatenated() {
        let src = "const a = sql`SELECT * FROM t WHERE id = ${id}`;\ndb.query(\"SELECT * \" + 'FROM t WHERE x = ' + y);\nknex.raw(`SELECT 1`);\n";
        let e = exprs(Lang::TypeScript, src);
        assert_eq!(e[0].call.as_deref(), Some("sql"));
        assert!(e[0].holes_are_parameters);
        assert_eq!(e[1].text, "SELECT * FROM t WHERE x =  $1 ");
        assert!(!e[1].holes_are_parameters);
        assert_eq!(e[1].call.as_deref(), Some("query"));
        assert_eq!(&src[e[1].holes[0].host.clone()], "y");
        assert_eq!(e[2].call.as_deref(), Some("raw"));
    }

    #[test]
    fn go_raw_strings_and_sprintf() {
        let src = "package m\nfunc f() {\n\tdb.QueryRow(`SELECT *\n\tFROM t WHERE id = $1`, id)\n\tdb.Query(fmt.Sprintf(\"SELECT * FROM t WHERE id = %d AND a = $1\", x))\n}\n";
        let e = exprs(Lang::Go, src);
        assert_eq!(e[0].text, "SELECT *\n\tFROM t WHERE id = $1");
        assert_eq!(e[0].call.as_deref(), Some("queryrow"));
        assert_eq!(e[1].text, "SELECT * FROM t WHERE id =  $2  AND a = $1");
        assert_eq!(e[1].call.as_deref(), Some("query"));
    }

    #[test]
    fn rust_macros_and_raw_strings() {
        let src = "fn f() { let a = sqlx::query!(\"SELECT * FROM t WHERE id = $1\", id); let b = sqlx::query(r#\"SELECT \"x\" FROM t\"#); }";
        let e = exprs(Lang::Rust, src);
        assert_eq!(e[0].call.as_deref(), Some("query"));
        assert_eq!(e[1].text, "SELECT \"x\" FROM t");
        assert_maps_back(src, &e[1], "\"x\" FROM");
    }

    #[test]
    fn java_kotlin_ruby() {
        let j = "class A { void f() { jdbc.query(\"SELECT * FROM t \" + \"WHERE x = ?\", m); } }";
        let e = exprs(Lang::Java, j);
        assert_eq!(e[0].text, "SELECT * FROM t WHERE x = ?");
        assert_eq!(e[0].call.as_deref(), Some("query"));
        let k = "fun f() { val a = \"SELECT * FROM t WHERE id = $id AND b = ${x.y} AND c = $1\" }";
        let e = exprs(Lang::Kotlin, k);
        assert_eq!(e[0].holes.len(), 2, "{e:?}");
        assert_eq!(&k[e[0].holes[0].host.clone()], "$id");
        let r = "User.find_by_sql(\"SELECT * FROM users WHERE id = #{id}\")\ny = <<~SQL\n  SELECT * FROM t\nSQL\n";
        let e = exprs(Lang::Ruby, r);
        assert_eq!(e[0].call.as_deref(), Some("find_by_sql"));
        assert_eq!(e[0].holes.len(), 1);
        assert_eq!(e[1].text.trim(), "SELECT * FROM t");
    }

    #[test]
    fn callees_after_multibyte_text() {
        // Found on crates.io sources: a string argument after emoji and combining marks.
        let src = "fn f() { check!(\"🦊\", \"నక్క\"); g(\"≠\", \"SELECT 1\"); }";
        let e = exprs(Lang::Rust, src);
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].call.as_deref(), Some("check"));
        assert_eq!(e[3].call.as_deref(), Some("g"));
    }

    #[test]
    fn escapes() {
        assert_eq!(decode_escape("\\n").as_deref(), Some("\n"));
        assert_eq!(decode_escape("\\x41").as_deref(), Some("A"));
        assert_eq!(decode_escape("\\u{e9}").as_deref(), Some("é"));
        assert_eq!(decode_escape("\\u00e9").as_deref(), Some("é"));
        assert_eq!(decode_escape("\\\n").as_deref(), Some(""));
        assert_eq!(decode_escape("\\q"), None);
    }

    #[test]
    fn deep_concatenation_does_not_overflow() {
        let mut src = String::from("x = \"SELECT 1\"");
        for _ in 0..5000 {
            src.push_str(" + \"a\"");
        }
        let e = exprs(Lang::Python, &src);
        assert!(!e.is_empty());
    }
}
