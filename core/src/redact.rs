//! Connection strings as people may see them: without their password, whether a `postgres://`
//! URL or a libpq `key=value` string. Pure text handling, so every surface (store labels, logs,
//! /health, the CLI) redacts the same way.

/// The connection string as people should see it: the same text without the password
/// (`postgres://user:pw@host/db` → `postgres://user@host/db`; a `password=` parameter or
/// conninfo pair is dropped).
pub fn redact_password(url: &str) -> String {
    let trimmed = url.trim();
    for scheme in ["postgresql://", "postgres://"] {
        if let Some(head) = trimmed.get(..scheme.len()) {
            if head.eq_ignore_ascii_case(scheme) {
                return redact_uri(head, &trimmed[scheme.len()..]);
            }
        }
    }
    redact_conninfo(trimmed)
}

fn redact_uri(scheme: &str, rest: &str) -> String {
    // The query string starts at the first '?' after the authority; a password may hold '/'
    // or '?', so find the userinfo's '@' first (the last one before the query).
    let (before_query, query) = match rest.rfind('@') {
        Some(at) => match rest[at..].find('?') {
            Some(q) => (&rest[..at + q], Some(&rest[at + q + 1..])),
            None => (rest, None),
        },
        None => match rest.find('?') {
            Some(q) => (&rest[..q], Some(&rest[q + 1..])),
            None => (rest, None),
        },
    };
    let mut out = String::from(scheme);
    match before_query.rfind('@') {
        Some(at) => {
            let user = before_query[..at].split(':').next().unwrap_or("");
            out.push_str(user);
            out.push_str(&before_query[at..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| {
                let key = kv.split('=').next().unwrap_or("");
                !key.eq_ignore_ascii_case("password") && !kv.is_empty()
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// Drops `password = …` from a libpq `key=value` string, keeping the other pairs as written
/// (quoted values with `\'` and `\\` escapes included).
fn redact_conninfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut i = 0;
    let mut kept: Vec<&str> = Vec::new();
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && b[i] == b'\'' {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i = skip(s, i);
                }
                i = (i + 1).min(b.len());
            } else {
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i = skip(s, i);
                }
            }
        }
        if !key.eq_ignore_ascii_case("password") {
            kept.push(&s[start..i]);
        }
    }
    kept.join(" ")
}

/// The position after the character at `i`, or after the escaped character when it is a
/// backslash; always on a character boundary.
fn skip(s: &str, i: usize) -> usize {
    let next = |j: usize| {
        (j + 1..=s.len())
            .find(|&k| s.is_char_boundary(k))
            .unwrap_or(s.len())
    };
    let j = next(i);
    if s.as_bytes()[i] == b'\\' && j < s.len() {
        next(j)
    } else {
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_hold_the_password() {
        let cases = [
            (
                "postgres://app:s3cret@db:5433/shop",
                "postgres://app@db:5433/shop",
            ),
            (
                "postgresql://app:p@ss/w?rd@db/shop?sslmode=require",
                "postgresql://app@db/shop?sslmode=require",
            ),
            (
                "postgres://app@db/shop?password=s3cret&sslmode=disable",
                "postgres://app@db/shop?sslmode=disable",
            ),
            ("postgres://db/shop", "postgres://db/shop"),
            (
                "host=db user=app password=s3cret dbname=shop",
                "host=db user=app dbname=shop",
            ),
            (
                "host=db password = 'a \\' b' dbname=shop",
                "host=db dbname=shop",
            ),
            ("password=x\\ y host=db", "host=db"),
            ("host=é password=ü\\é", "host=é"),
        ];
        for (url, label) in cases {
            assert_eq!(redact_password(url), label, "{url}");
        }
    }
}
