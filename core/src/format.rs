//! Numbers and text as people read them, the same on every surface (dashboard, CLI, language
//! server, advisor texts): digits grouped by thousands, milliseconds with a precision that suits
//! their size, statements flattened to one line and cut.

/// `n` with its digits grouped by thousands, `sep` between groups: `1234567` → `1,234,567`.
pub fn group_digits(n: i64, sep: char) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// `1240` → `1,240` (plain text: CLI, editor).
pub fn thousands(n: i64) -> String {
    group_digits(n, ',')
}

/// A number rounded to an integer, grouped with thin spaces (HTML pages).
pub fn group(x: f64) -> String {
    group_digits(x.round() as i64, '\u{202f}')
}

/// Milliseconds with a precision that suits their size: `0.0421` → `0.042 ms`, `1.234` →
/// `1.23 ms`, `24.61` → `24.6 ms`, `1234` → `1,234 ms`, `12345.6` → `12.3 s`; `–` when not a
/// number.
pub fn ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".into();
    }
    let a = ms.abs();
    if a >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if a >= 1000.0 {
        format!("{} ms", thousands(ms.round() as i64))
    } else if a >= 10.0 {
        format!("{ms:.1} ms")
    } else if a >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Whitespace collapsed to single spaces, cut to at most `max` characters with an ellipsis.
pub fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(1240), "1,240");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        assert_eq!(group(-1_234_567.0), "-1\u{202f}234\u{202f}567");
        assert_eq!(group(1234.4), "1\u{202f}234");
    }

    #[test]
    fn milliseconds() {
        assert_eq!(ms(0.0421), "0.042 ms");
        assert_eq!(ms(1.234), "1.23 ms");
        assert_eq!(ms(24.61), "24.6 ms");
        assert_eq!(ms(1234.0), "1,234 ms");
        assert_eq!(ms(12_345.6), "12.3 s");
        assert_eq!(ms(f64::NAN), "–");
    }

    #[test]
    fn one_line_flattens_and_cuts() {
        assert_eq!(one_line("SELECT *\n  FROM t", 40), "SELECT * FROM t");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line("abc", 0), "…");
    }
}
