//! Which files `optidb check` reads: the paths it is given, directories walked recursively
//! (vendored, generated and hidden trees left out), each file's language from its extension, and
//! where a file sits in the repository (its SARIF URI).

use optidb_source::Lang;
use std::path::{Component, Path, PathBuf};

/// Files larger than this are skipped (generated dumps and bundles, not hand-written code).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Directories never entered by a walk, besides hidden ones (`.git`, `.venv` …).
pub const SKIPPED_DIRS: &[&str] = &["node_modules", "target", "vendor"];

/// The files to check, in a stable order, and the paths that could not be read.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<(PathBuf, Lang)>,
    pub errors: Vec<String>,
}

/// Expands `paths`: a directory recursively (symbolic links not followed), a file as given.
/// Files whose extension is no language OptiDB reads are left out silently, so a CI job can pass
/// every changed file of a pull request.
pub fn walk(paths: &[PathBuf]) -> Walked {
    let mut out = Walked::default();
    let mut seen = std::collections::HashSet::new();
    let mut add = |out: &mut Walked, path: PathBuf| {
        if let Some(lang) = Lang::from_path(&path) {
            if seen.insert(path.clone()) {
                out.files.push((path, lang));
            }
        }
    };
    for p in paths {
        match std::fs::metadata(p) {
            Err(e) => out.errors.push(format!("cannot read {}: {e}", p.display())),
            Ok(m) if m.is_dir() => {
                let entries = walkdir::WalkDir::new(p)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| e.depth() == 0 || !skipped_dir(e));
                for entry in entries {
                    match entry {
                        Ok(e) if e.file_type().is_file() => add(&mut out, tidy(e.into_path())),
                        Ok(_) => {}
                        Err(e) => out.errors.push(format!("cannot read {e}")),
                    }
                }
            }
            Ok(_) => add(&mut out, p.clone()),
        }
    }
    out
}

fn skipped_dir(e: &walkdir::DirEntry) -> bool {
    let name = e.file_name().to_string_lossy();
    e.file_type().is_dir() && (name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref()))
}

/// `./a/b.sql` → `a/b.sql` (what a user would type).
fn tidy(p: PathBuf) -> PathBuf {
    match p.strip_prefix(".") {
        Ok(rest) if !rest.as_os_str().is_empty() => rest.to_path_buf(),
        _ => p,
    }
}

/// A file's text, or why it is skipped.
#[derive(Debug, PartialEq)]
pub enum Content {
    Text(String),
    /// Too large, or not UTF-8: reported, not checked.
    Skipped(String),
}

/// Reads a file; `Err` when it cannot be read at all.
pub fn read(path: &Path) -> Result<Content, String> {
    let io = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Ok(Content::Skipped(format!(
            "{:.1} MB, larger than the {} MB optidb check reads",
            len as f64 / 1048576.0,
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Content::Text(text),
        Err(_) => Content::Skipped("not UTF-8 text (convert it with iconv -t UTF-8)".into()),
    })
}

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
    fn walks_code_and_leaves_out_vendored_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "b.sql",
            "a/app.py",
            "a/README.md",
            "node_modules/x/q.sql",
            ".hidden/q.sql",
            "target/q.sql",
            "vendor/lib.go",
            "web/.eslintrc.js",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "SELECT 1").unwrap();
        }
        let w = walk(&[
            root.to_path_buf(),
            root.join("b.sql"),
            root.join("nope.sql"),
        ]);
        let names: Vec<String> = w
            .files
            .iter()
            .map(|(p, _)| relative_to(root, p).unwrap())
            .collect();
        assert_eq!(names, ["a/app.py", "b.sql", "web/.eslintrc.js"]);
        assert_eq!(w.files[0].1, Lang::Python);
        assert_eq!(w.errors.len(), 1, "{:?}", w.errors);
        assert!(w.errors[0].contains("nope.sql"));
    }

    #[test]
    fn large_and_binary_files_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin.sql");
        std::fs::write(&bin, [0xff, 0xfe, 0]).unwrap();
        assert!(matches!(read(&bin), Ok(Content::Skipped(r)) if r.contains("UTF-8")));
        let big = dir.path().join("big.sql");
        std::fs::write(&big, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read(&big), Ok(Content::Skipped(r)) if r.contains("larger")));
        assert!(read(&dir.path().join("missing.sql")).is_err());
    }

    #[test]
    fn uris() {
        assert_eq!(uri_path("dir with space/q.sql"), "dir%20with%20space/q.sql");
        assert_eq!(uri_path("é/#1.sql"), "%C3%A9/%231.sql");
        assert_eq!(file_uri(Path::new("/repo root/")), "file:///repo%20root/");
    }
}
