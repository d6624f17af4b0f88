//! Randomized robustness test of the SQL front end (a fuzzer that runs in the normal test
//! suite): random fragments of tricky SQL and random characters go through `split`,
//! `map_placeholders`, `analyze_file` and the lints, which must never panic and must return
//! ranges on char boundaries that cover the input in order.
//!
//! Deterministic (fixed seeds, a small xorshift generator), so a failure reproduces; set
//! `OPTIDB_FUZZ_ITERS` for a longer run.

use optidb_core::sql::{self, lints, map_placeholders, split, StatementResult};

const FRAGMENTS: &[&str] = &[
    "SELECT ",
    "* ",
    "FROM t ",
    "JOIN u ON u.id = t.id ",
    "WHERE ",
    "a ",
    "= ",
    "LIKE '%x' ",
    "NOT IN (SELECT b FROM u) ",
    "UPDATE t SET a = 1",
    "DELETE FROM t",
    "OFFSET 5000 ",
    "LIMIT ?",
    ";",
    ";",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "'",
    "''",
    "\"",
    "$$",
    "$tag$",
    "$1",
    "$",
    "?",
    "??",
    ":name",
    ":'v'",
    ":\"v\"",
    "@p",
    "%s",
    "%(n)s",
    "%",
    "--",
    "-- c\n",
    "/*",
    "*/",
    "/* /* */ */",
    "\\set x 1\n",
    "\\g",
    "\\",
    "E'\\''",
    "U&\"d\\0061\"",
    "B'01'",
    "::",
    "timestamptz ",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "é",
    "😀",
    "日本",
    "\u{0}",
    "\u{feff}",
    "CREATE FUNCTION f() RETURNS int ",
    "BEGIN ATOMIC ",
    "END",
    "CASE WHEN ",
    "THEN ",
    "ELSE ",
    "1",
    "1.5e3",
    "0x1F",
    "(SELECT 1)",
    "IN (?, ?) ",
    "ILIKE '_'",
    "|| ",
    "AND ",
    "OR ",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_sql(rng: &mut Rng) -> String {
    let n = rng.below(40);
    let mut s = String::new();
    for _ in 0..n {
        if rng.below(6) == 0 {
            // Any char, ASCII-heavy.
            let c = match rng.below(4) {
                0 => char::from_u32(rng.below(0x80) as u32),
                1 => char::from_u32(rng.below(0x800) as u32),
                2 => char::from_u32(rng.below(0x11_0000) as u32),
                _ => char::from_u32(0x1F600 + rng.below(0x50) as u32),
            };
            s.push(c.unwrap_or('?'));
        } else {
            s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        }
    }
    s
}

fn check(src: &str) {
    // split: ordered, non-overlapping, on char boundaries, text matches.
    let stmts = split(src);
    let mut prev_end = 0;
    for st in &stmts {
        assert!(st.start <= st.end && st.end <= src.len(), "{src:?}: {st:?}");
        assert!(st.start >= prev_end, "{src:?}: overlapping {st:?}");
        assert!(
            src.is_char_boundary(st.start) && src.is_char_boundary(st.end),
            "{src:?}"
        );
        assert_eq!(&src[st.start..st.end], st.text);
        assert!(!st.text.is_empty(), "{src:?}: empty statement");
        prev_end = st.end;

        // map_placeholders: every mapped offset maps back inside the statement, in order.
        let m = map_placeholders(st.text);
        let mut last = 0;
        for off in 0..=m.text.len() {
            let o = m.to_original(off);
            assert!(
                o <= st.text.len(),
                "{:?} → {:?}: {off} → {o}",
                st.text,
                m.text
            );
            assert!(
                o >= last,
                "{:?}: to_original not monotonic at {off}",
                st.text
            );
            last = o;
        }
        // Lints: ranges inside the statement, on char boundaries.
        for l in lints::lint_statement(st.text) {
            assert!(
                l.start <= l.end && l.end <= st.text.len(),
                "{:?}: {l:?}",
                st.text
            );
            assert!(st.text.is_char_boundary(l.start) && st.text.is_char_boundary(l.end));
        }
    }
    // analyze_file: same ranges, error positions inside their statement.
    let files = sql::analyze_file(src);
    assert_eq!(files.len(), stmts.len());
    for (f, st) in files.iter().zip(&stmts) {
        assert_eq!((f.start, f.end), (st.start, st.end));
        if let StatementResult::Err {
            error_position: Some(p),
            ..
        } = f.result
        {
            assert!(
                f.start <= p && p <= f.end,
                "{src:?}: error at {p} outside {f:?}"
            );
        }
    }
}

#[test]
fn random_sql_never_panics_and_ranges_stay_valid() {
    let iters: usize = std::env::var("OPTIDB_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..iters {
        let src = random_sql(&mut rng);
        let r = std::panic::catch_unwind(|| check(&src));
        if r.is_err() {
            panic!("iteration {i} failed on input {src:?}");
        }
    }
}

#[test]
fn known_nasty_inputs() {
    for src in [
        "",
        ";",
        "SELECT :'a😀",
        "SELECT :\"a😀",
        "'",
        "$$",
        "$a$ $b$",
        "/*",
        "\\",
        "SELECT '日本",
        "SELECT 1 /* é",
        "SELECT ?, :n, @p, %s, %(x)s FROM t WHERE a LIKE '%é' || ?",
        "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END; SELECT 2",
        "\u{0}SELECT\u{0}",
        "SELECT 1\r\n;\rSELECT 2",
    ] {
        check(src);
    }
}
