//! libpq's password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`), so a password never has to
//! be on a command line or in an environment variable.
//!
//! Lines are `hostname:port:database:username:password`; `*` alone matches any value, `\`
//! escapes `:` and `\`, lines starting with `#` are comments, the first matching line wins.
//! Like libpq, a file that the group or others can read (or that is not a plain file) is
//! ignored with a warning (https://www.postgresql.org/docs/current/libpq-pgpass.html).

use std::path::{Path, PathBuf};

/// What the password file says for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// No file, or no line matches.
    None,
    Found {
        password: String,
        path: PathBuf,
    },
    /// The file exists but is not used (and why).
    Ignored {
        path: PathBuf,
        why: String,
    },
}

/// `~/.pgpass`, libpq's default.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".pgpass"))
}

/// The password for `host:port:database:user` in the file at `path`. A unix-socket host
/// matches as `localhost` when it is a default socket directory (libpq's rule).
pub fn lookup(path: &Path, host: &str, port: &str, database: &str, user: &str) -> Lookup {
    let Ok(meta) = std::fs::metadata(path) else {
        return Lookup::None;
    };
    if !meta.is_file() {
        return Lookup::Ignored {
            path: path.to_path_buf(),
            why: "it is not a plain file".into(),
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Lookup::Ignored {
                path: path.to_path_buf(),
                why: format!(
                    "it has group or world access (mode {:04o}); permissions should be u=rw \
                     (0600) or less: chmod 0600 {}",
                    mode & 0o7777,
                    path.display()
                ),
            };
        }
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Lookup::Ignored {
                path: path.to_path_buf(),
                why: format!("it cannot be read: {e}"),
            }
        }
    };
    let host = if host.is_empty() || host == "/var/run/postgresql" || host == "/tmp" {
        "localhost"
    } else {
        host
    };
    match find(&text, host, port, database, user) {
        Some(password) => Lookup::Found {
            password,
            path: path.to_path_buf(),
        },
        None => Lookup::None,
    }
}

/// The first line of `text` matching the four fields: its password, unescaped.
pub fn find(text: &str, host: &str, port: &str, database: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let rest = [host, port, database, user]
            .iter()
            .try_fold(line, |rest, want| field_matches(rest, want));
        if let Some(rest) = rest {
            return Some(unescape_password(rest));
        }
    }
    None
}

/// libpq's `pwdfMatchesString`: whether the field at the start of `buf` matches `token`
/// (`*` matches anything); the text after its `:` when it does.
fn field_matches<'a>(buf: &'a str, token: &str) -> Option<&'a str> {
    if let Some(rest) = buf.strip_prefix("*:") {
        return Some(rest);
    }
    let mut want = token.chars().peekable();
    let mut it = buf.char_indices();
    while let Some((i, c)) = it.next() {
        let (i, c, escaped) = if c == '\\' {
            match it.next() {
                Some((j, n)) => (j, n, true),
                None => return None,
            }
        } else {
            (i, c, false)
        };
        if c == ':' && !escaped && want.peek().is_none() {
            return Some(&buf[i + 1..]);
        }
        if want.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password field: up to an unescaped `:`, with `\x` read as `x`.
fn unescape_password(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            ':' => break,
            '\\' => match it.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db:5432:app:bob:first\n\
                    *:*:*:bob:second\n\
                    db\\:x:*:app:al\\\\ice:p\\:w\\\\d\n\
                    *:*:*:*:any\r\n";
        assert_eq!(
            find(text, "db", "5432", "app", "bob").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(text, "other", "1", "x", "bob").as_deref(),
            Some("second")
        );
        assert_eq!(
            find(text, "db:x", "7", "app", "al\\ice").as_deref(),
            Some("p:w\\d")
        );
        assert_eq!(
            find(text, "db", "5432", "app", "carol").as_deref(),
            Some("any")
        );
        assert_eq!(find("db:5432:app:bob:pw", "db", "5433", "app", "bob"), None);
        // A field is not a prefix match.
        assert_eq!(find("db:5432:app:bob:pw", "d", "5432", "app", "bob"), None);
        assert_eq!(find("db:5432:app:bob:pw", "db", "5432", "app", "bo"), None);
        assert_eq!(find("db:5432:app", "db", "5432", "app", "bob"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            lookup(&path, "h", "5432", "d", "u"),
            Lookup::Found {
                password: "secret".into(),
                path: path.clone()
            }
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        match lookup(&path, "h", "5432", "d", "u") {
            Lookup::Ignored { why, .. } => assert!(why.contains("0600"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            lookup(&dir.path().join("missing"), "h", "5432", "d", "u"),
            Lookup::None
        );
        assert!(matches!(
            lookup(dir.path(), "h", "5432", "d", "u"),
            Lookup::Ignored { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_default_socket_directory_matches_as_localhost() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "localhost:5432:d:u:sock\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            lookup(&path, "/var/run/postgresql", "5432", "d", "u"),
            Lookup::Found { .. }
        ));
    }
}
