//! The source files of a workspace or of `optidb check`'s paths: the one directory walk (on
//! walkdir: sorted, symbolic links not followed), with the skips every user expects (hidden,
//! vendored and build directories, huge or non-UTF-8 files) and a cap, so a monorepo never
//! stalls the language server. The only module of this crate that touches the file system.

use crate::lang::Lang;
use std::path::{Path, PathBuf};

/// Files larger than this are skipped (generated dumps and bundles, not hand-written code).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Directories never entered by a walk, besides hidden ones (`.git`, `.venv` …).
pub const SKIPPED_DIRS: &[&str] = &["node_modules", "target", "vendor", "__pycache__"];

/// One source file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub lang: Lang,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// In a stable order: the paths as given, each directory's files sorted by name.
    pub files: Vec<SourceFile>,
    /// Paths that could not be read (`cannot read …: why`).
    pub errors: Vec<String>,
    /// Files beyond the cap, not listed.
    pub truncated: usize,
}

/// Expands `paths`: a directory recursively, a file as given. Files whose extension is no
/// language OptiDB reads are left out silently, so a CI job can pass every changed file of a
/// pull request. At most `max_files` files are listed.
pub fn walk(paths: &[PathBuf], max_files: usize) -> Walk {
    let mut out = Walk::default();
    let mut seen = std::collections::HashSet::new();
    let mut add = |out: &mut Walk, path: PathBuf| {
        let Some(lang) = Lang::from_path(&path) else {
            return;
        };
        if !seen.insert(path.clone()) {
            return;
        }
        if out.files.len() >= max_files {
            out.truncated += 1;
        } else {
            out.files.push(SourceFile { path, lang });
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
            "{:.1} MB, larger than the {} MB OptiDB reads",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile_dir::Dir {
        let d = tempfile_dir::Dir::new();
        for f in files {
            let p = d.0.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "SELECT 1").unwrap();
        }
        d
    }

    /// A temporary directory removed on drop (no dev-dependency for one test module).
    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let p =
                    std::env::temp_dir().join(format!("optidb-walk-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn walks_code_and_leaves_out_vendored_hidden_and_other_files() {
        let d = tree(&[
            "b.sql",
            "a/app.py",
            "a/README.md",
            "node_modules/x/q.sql",
            ".hidden/q.sql",
            "target/q.sql",
            "vendor/lib.go",
            "web/.eslintrc.js",
        ]);
        let root = &d.0;
        let w = walk(
            &[root.clone(), root.join("b.sql"), root.join("nope.sql")],
            100,
        );
        let names: Vec<String> = w
            .files
            .iter()
            .map(|f| f.path.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/app.py", "b.sql", "web/.eslintrc.js"]);
        assert_eq!(w.files[0].lang, Lang::Python);
        assert_eq!(w.errors.len(), 1, "{:?}", w.errors);
        assert!(w.errors[0].contains("nope.sql"));
        let capped = walk(std::slice::from_ref(root), 2);
        assert_eq!((capped.files.len(), capped.truncated), (2, 1));
    }

    #[test]
    fn large_and_binary_files_are_skipped_with_a_reason() {
        let d = tempfile_dir::Dir::new();
        let bin = d.0.join("bin.sql");
        std::fs::write(&bin, [0xff, 0xfe, 0]).unwrap();
        assert!(matches!(read(&bin), Ok(Content::Skipped(r)) if r.contains("UTF-8")));
        let big = d.0.join("big.sql");
        std::fs::write(&big, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read(&big), Ok(Content::Skipped(r)) if r.contains("larger")));
        assert!(read(&d.0.join("missing.sql")).is_err());
    }
}
