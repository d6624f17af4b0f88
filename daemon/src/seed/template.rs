//! Literal generators for workload templates, so the seeded application sends real literal
//! values (which pg_stat_statements normalizes to `$n`) that are nevertheless the same on every
//! run.
//!
//! Syntax (documented for users in seed/workload.toml):
//!
//! | generator          | value                                   | outside quotes | inside `'…'` |
//! |--------------------|-----------------------------------------|----------------|--------------|
//! | `{int:LO:HI}`      | an integer in `[LO, HI]`                | `4711`         | `4711`       |
//! | `{choice:A,B,C}`   | one of the comma-separated values       | `'B'`          | `B`          |
//! | `{date:FROM:TO}`   | a date in `[FROM, TO]` (`YYYY-MM-DD`)   | `'2024-03-05'` | `2024-03-05` |
//!
//! `{{` and `}}` are literal braces. String values always have `'` doubled, so a choice such as
//! `O'Brien` renders as `'O''Brien'` (or `O''Brien` inside a literal).
//!
//! Values for call `n` of a pattern come from [`SplitMix64`] seeded with
//! `blake3(name, n)`: deterministic, independent of platform and of other patterns.

use std::fmt;

/// A parsed template: literal SQL text and generators, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Gen { gen: Generator, in_string: bool },
}

/// One literal generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generator {
    /// `{int:LO:HI}`
    Int { lo: i64, hi: i64 },
    /// `{choice:A,B,C}`
    Choice(Vec<String>),
    /// `{date:FROM:TO}`, as days since 1970-01-01
    Date { from: i64, to: i64 },
}

/// Why a template was refused: what is wrong, where (byte offset) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for TemplateError {}

fn err(offset: usize, message: impl Into<String>) -> TemplateError {
    TemplateError {
        offset,
        message: message.into(),
    }
}

impl Template {
    /// Parses a template. Refuses what the renderer could not handle safely: comments (a
    /// workload statement must carry no marker), dollar quotes, `E''` strings, more than one
    /// statement, unterminated quotes and malformed generators.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut text = String::new();
        let mut in_string = false;
        let mut in_ident = false;
        let bytes = src.as_bytes();
        let mut chars = src.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = bytes.get(i + 1).copied();
            match c {
                '{' if next == Some(b'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if next == Some(b'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let close = src[i..].find('}').ok_or_else(|| {
                        err(i, "unterminated generator: `{` without `}` (write `{{` for a literal brace)")
                    })?;
                    if in_ident {
                        return Err(err(
                            i,
                            "generators inside a quoted identifier are not supported",
                        ));
                    }
                    let spec = &src[i + 1..i + close];
                    let gen = Generator::parse(spec)
                        .map_err(|m| err(i, format!("in `{{{spec}}}`: {m}")))?;
                    if !text.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut text)));
                    }
                    segments.push(Segment::Gen { gen, in_string });
                    while let Some(&(j, _)) = chars.peek() {
                        if j > i + close {
                            break;
                        }
                        chars.next();
                    }
                }
                '}' => return Err(err(i, "unmatched `}` (write `}}` for a literal brace)")),
                _ => {
                    if in_string {
                        if c == '\'' {
                            in_string = false;
                        }
                    } else if in_ident {
                        if c == '"' {
                            in_ident = false;
                        }
                    } else {
                        match c {
                            '\'' => {
                                let prev = src[..i].chars().next_back();
                                let prev2 = src[..i].chars().rev().nth(1);
                                if matches!(prev, Some('e' | 'E'))
                                    && !prev2.is_some_and(|p| p.is_alphanumeric() || p == '_')
                                {
                                    return Err(err(i, "E'...' strings are not supported in templates: use a plain '...' literal"));
                                }
                                in_string = true;
                            }
                            '"' => in_ident = true,
                            '$' => {
                                return Err(err(i, "`$` outside a string: templates take no $n parameters or dollar quotes; use a literal generator"))
                            }
                            ';' => return Err(err(i, "`;`: a template is exactly one statement without a trailing semicolon")),
                            '-' if next == Some(b'-') => {
                                return Err(err(i, "comments are not allowed in workload statements (they are the application's, unmarked)"))
                            }
                            '/' if next == Some(b'*') => {
                                return Err(err(i, "comments are not allowed in workload statements (they are the application's, unmarked)"))
                            }
                            _ => {}
                        }
                    }
                    text.push(c);
                }
            }
        }
        if in_string {
            return Err(err(
                src.len(),
                "unterminated string literal: a `'` is missing",
            ));
        }
        if in_ident {
            return Err(err(
                src.len(),
                "unterminated quoted identifier: a `\"` is missing",
            ));
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        if segments
            .iter()
            .all(|s| matches!(s, Segment::Text(t) if t.trim().is_empty()))
        {
            return Err(err(0, "empty statement"));
        }
        Ok(Template { segments })
    }

    /// Renders call number `index` of the pattern called `name`.
    pub fn render_call(&self, name: &str, index: u64) -> String {
        self.render(&mut SplitMix64::for_call(name, index))
    }

    /// Renders with values drawn from `rng`, one draw per generator, in order.
    pub fn render(&self, rng: &mut SplitMix64) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Gen { gen, in_string } => gen.render_into(rng, *in_string, &mut out),
            }
        }
        out
    }

    /// The generators, in order.
    pub fn generators(&self) -> impl Iterator<Item = &Generator> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Gen { gen, .. } => Some(gen),
            Segment::Text(_) => None,
        })
    }
}

impl Generator {
    fn parse(spec: &str) -> Result<Generator, String> {
        let (kind, args) = spec.split_once(':').unwrap_or((spec, ""));
        match kind {
            "int" => {
                let (lo, hi) = two(args, "{int:LO:HI}")?;
                let lo: i64 = lo
                    .trim()
                    .parse()
                    .map_err(|_| format!("LO `{lo}` is not an integer"))?;
                let hi: i64 = hi
                    .trim()
                    .parse()
                    .map_err(|_| format!("HI `{hi}` is not an integer"))?;
                if lo > hi {
                    return Err(format!("LO {lo} is greater than HI {hi}"));
                }
                Ok(Generator::Int { lo, hi })
            }
            "choice" => {
                if args.is_empty() {
                    return Err("no values: write {choice:A,B,C}".into());
                }
                let values: Vec<String> = args.split(',').map(str::to_string).collect();
                if values.iter().any(String::is_empty) {
                    return Err("an empty value (two commas in a row, or a trailing comma)".into());
                }
                Ok(Generator::Choice(values))
            }
            "date" => {
                let (from, to) = two(args, "{date:YYYY-MM-DD:YYYY-MM-DD}")?;
                let from = parse_date(from.trim())?;
                let to = parse_date(to.trim())?;
                if from > to {
                    return Err("FROM is after TO".into());
                }
                Ok(Generator::Date { from, to })
            }
            other => Err(format!(
                "unknown generator `{other}`: use int, choice or date"
            )),
        }
    }

    fn render_into(&self, rng: &mut SplitMix64, in_string: bool, out: &mut String) {
        let raw = match self {
            Generator::Int { lo, hi } => {
                out.push_str(&rng.in_range(*lo, *hi).to_string());
                return;
            }
            Generator::Choice(values) => {
                // Values are non-empty by construction; len fits in i64.
                let k = rng.in_range(0, values.len() as i64 - 1) as usize;
                values[k].clone()
            }
            Generator::Date { from, to } => format_date(rng.in_range(*from, *to)),
        };
        let escaped = raw.replace('\'', "''");
        if in_string {
            out.push_str(&escaped);
        } else {
            out.push('\'');
            out.push_str(&escaped);
            out.push('\'');
        }
    }
}

fn two<'a>(args: &'a str, form: &str) -> Result<(&'a str, &'a str), String> {
    let parts: Vec<&str> = args.split(':').collect();
    match parts.as_slice() {
        [a, b] => Ok((a, b)),
        _ => Err(format!("expected two arguments: {form}")),
    }
}

/// `YYYY-MM-DD` → days since 1970-01-01 (proleptic Gregorian).
fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a date of the form YYYY-MM-DD");
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let d: u32 = d.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(format!("`{s}` is not a valid calendar date"));
    }
    Ok(days_from_civil(y, m, d))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

use optidb_core::time::{days_from_civil, format_date};

/// splitmix64: a tiny, well-mixed deterministic PRNG (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The generator for call `index` of pattern `name`: seeded with blake3(name, 0, index).
    pub fn for_call(name: &str, index: u64) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(&index.to_le_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_bytes()[..8]);
        SplitMix64::new(u64::from_le_bytes(first))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]` (multiply-shift; bias below 2^-64 per value).
    pub fn in_range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
        let off = (u128::from(self.next_u64()) * span) >> 64;
        (i128::from(lo) + off as i128) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, seed: u64) -> String {
        Template::parse(src)
            .unwrap()
            .render(&mut SplitMix64::new(seed))
    }

    #[test]
    fn splitmix64_reference_values() {
        // Reference output of splitmix64 seeded with 0 (from the original C implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn rendering_is_deterministic_per_name_and_index() {
        let t = Template::parse(
            "SELECT {int:1:1000000}, {choice:a,b,c,d}, {date:2020-01-01:2030-12-31}",
        )
        .unwrap();
        assert_eq!(t.render_call("p", 7), t.render_call("p", 7));
        assert_ne!(t.render_call("p", 7), t.render_call("p", 8));
        assert_ne!(t.render_call("p", 7), t.render_call("q", 7));
    }

    #[test]
    fn int_stays_in_range_and_covers_it() {
        let t = Template::parse("SELECT {int:-2:2}").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..500 {
            let s = t.render_call("ints", i);
            let v: i64 = s.trim_start_matches("SELECT ").parse().unwrap();
            assert!((-2..=2).contains(&v), "{v}");
            seen.insert(v);
        }
        assert_eq!(seen.len(), 5);
        assert_eq!(render("SELECT {int:5:5}", 1), "SELECT 5");
        // The full i64 range does not overflow.
        assert!(render("SELECT {int:-9223372036854775808:9223372036854775807}", 3).len() > 8);
    }

    #[test]
    fn strings_are_quoted_outside_and_spliced_inside_literals() {
        assert_eq!(
            render("WHERE s = {choice:shipped}", 0),
            "WHERE s = 'shipped'"
        );
        assert_eq!(
            render("WHERE e = 'u{int:7:7}@x.com'", 0),
            "WHERE e = 'u7@x.com'"
        );
        assert_eq!(
            render("WHERE d = {date:2024-02-29:2024-02-29}", 0),
            "WHERE d = '2024-02-29'"
        );
        assert_eq!(
            render("WHERE d = 'x{date:2024-02-29:2024-02-29}'", 0),
            "WHERE d = 'x2024-02-29'"
        );
    }

    #[test]
    fn quotes_in_values_are_doubled() {
        assert_eq!(
            render("WHERE n = {choice:O'Brien}", 0),
            "WHERE n = 'O''Brien'"
        );
        assert_eq!(
            render("WHERE n LIKE '%{choice:O'Brien}%'", 0),
            "WHERE n LIKE '%O''Brien%'"
        );
        // A doubled quote inside a template literal keeps the literal open.
        assert_eq!(
            render("WHERE n = 'it''s {choice:a'b}'", 0),
            "WHERE n = 'it''s a''b'"
        );
        // A quote inside a quoted identifier does not open a string.
        assert_eq!(
            render("SELECT 1 AS \"it's\", {choice:x}", 0),
            "SELECT 1 AS \"it's\", 'x'"
        );
    }

    #[test]
    fn braces_escape() {
        assert_eq!(
            render("SELECT '{{\"a\": {int:1:1}}}'::jsonb", 0),
            "SELECT '{\"a\": 1}'::jsonb"
        );
    }

    #[test]
    fn dates_roundtrip_and_cover_range() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "1969-12-31",
            "2100-03-01",
        ] {
            assert_eq!(format_date(parse_date(s).unwrap()), s);
        }
        assert_eq!(parse_date("1970-01-02"), Ok(1));
        let t = Template::parse("{date:2024-02-27:2024-03-01}").unwrap();
        let seen: std::collections::BTreeSet<String> =
            (0..200).map(|i| t.render_call("d", i)).collect();
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            vec![
                "'2024-02-27'",
                "'2024-02-28'",
                "'2024-02-29'",
                "'2024-03-01'"
            ]
        );
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        let cases = [
            ("SELECT {int:1}", "two arguments"),
            ("SELECT {int:a:2}", "not an integer"),
            ("SELECT {int:3:2}", "greater than"),
            ("SELECT {choice:}", "no values"),
            ("SELECT {choice:a,,b}", "empty value"),
            (
                "SELECT {date:2024-02-30:2024-03-01}",
                "not a valid calendar date",
            ),
            ("SELECT {date:2024-1-1:2024-03-01}", "YYYY-MM-DD"),
            ("SELECT {date:2024-03-02:2024-03-01}", "after"),
            ("SELECT {uuid}", "unknown generator"),
            ("SELECT {int:1:2", "unterminated generator"),
            ("SELECT 1 }", "unmatched"),
            ("SELECT 'abc", "unterminated string"),
            ("SELECT \"abc", "unterminated quoted identifier"),
            ("SELECT 1; SELECT 2", "exactly one statement"),
            ("/* optidb */ SELECT 1", "comments"),
            ("SELECT 1 -- x", "comments"),
            ("SELECT $1", "$"),
            ("SELECT $$x$$", "$"),
            ("SELECT E'a\\'b'", "E'...'"),
            ("   ", "empty"),
        ];
        for (src, want) in cases {
            let e = Template::parse(src).expect_err(src);
            assert!(e.to_string().contains(want), "{src}: {e}");
        }
        // Semicolons, dashes and dollars inside a string are just text.
        assert!(Template::parse("SELECT 'a;b--c$d/*e'").is_ok());
        // `e'` at the end of an identifier is not an E'' string.
        assert!(Template::parse("SELECT 1 FROM t WHERE name='x'").is_ok());
    }
}
