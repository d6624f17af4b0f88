//! Where a file `optidb check` reads sits in the repository (its root, relative paths, SARIF
//! URIs); which files it reads is `optidb_source::workspace`'s walk, the language server's too.

use std::path::{Component, Path, PathBuf};

pub use optidb_source::workspace::{read, Content};

/// At most this many files are checked in one run.
pub const MAX_FILES: usize = 1_000_000;

/// The repository root paths are reported relative to: the enclosing git work tree of the
/// current directory, else the current directory.
pub fn default_root() -> std::io::Result<PathBuf> {
    let cwd = std::env::current_dir()?;
    Ok(cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd)
        .to_path_buf())
}

/// `path` relative to `root` with `/` separators, when it is inside it (both made absolute,
/// symbolic links resolved); `None` for a file outside the root.
pub fn relative_to(root: &Path, path: &Path) -> Option<String> {
    let root = std::fs::canonicalize(root).ok()?;
    let abs = std::fs::canonicalize(path).ok()?;
    let rel = abs.strip_prefix(&root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Some(parts.join("/"))
}

/// A path as a URI reference: every byte outside RFC 3986's unreserved set and `/` is
/// percent-encoded (`dir with space/q.sql` → `dir%20with%20space/q.sql`).
pub fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `file:///abs/path` (a trailing `/` kept), for a root or a file outside it.
pub fn file_uri(abs: &Path) -> String {
    let s = abs.to_string_lossy().replace('\\', "/");
    let s = if s.starts_with('/') {
        s
    } else {
        format!("/{s}")
    };
    format!("file://{}", uri_path(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(uri_path("dir with space/q.sql"), "dir%20with%20space/q.sql");
        assert_eq!(uri_path("é/#1.sql"), "%C3%A9/%231.sql");
        assert_eq!(file_uri(Path::new("/repo root/")), "file:///repo%20root/");
    }
}
