//! The source files of a workspace or of `optidb check`'s paths: the one directory walk, with
//! the skips every user expects (VCS and dependency directories, hidden directories, huge files)
//! and a cap, so a monorepo never stalls the language server. The only module of this crate
//! that touches the file system.

use crate::lang::Lang;
use std::path::{Path, PathBuf};

/// Directories never walked into.
pub const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "vendor",
    "dist",
    "build",
    "__pycache__",
    "venv",
    ".venv",
];

/// Limits of a walk.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are listed in `skipped`, not read.
    pub max_file_bytes: u64,
    /// At most this many files are returned (the rest is counted in `truncated`).
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 << 20,
            max_files: 20_000,
        }
    }
}

/// One source file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub lang: Lang,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<SourceFile>,
    /// Files of a known language not read, and why (too big, unreadable directory …).
    pub skipped: Vec<(PathBuf, String)>,
    /// Files beyond `max_files`.
    pub truncated: usize,
}

/// Source files under `roots` (files given directly are taken when their language is known,
/// whatever their size limit says about directories' files: they were asked for). Sorted, so
/// reports are stable.
pub fn walk(roots: &[PathBuf], limits: Limits) -> Walk {
    let mut w = Walk::default();
    let mut stack: Vec<PathBuf> = Vec::new();
    for r in roots {
        if r.is_dir() {
            stack.push(r.clone());
        } else if let Some(lang) = Lang::from_path(r) {
            w.files.push(SourceFile {
                path: r.clone(),
                lang,
            });
        } else if !r.exists() {
            w.skipped
                .push((r.clone(), "no such file or directory".into()));
        }
    }
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                w.skipped.push((dir, e.to_string()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if ft.is_dir() {
                if !skipped_dir(&name) {
                    stack.push(path);
                }
                continue;
            }
            if !ft.is_file() {
                continue; // symlinks are not followed (no loops, no escaping the tree)
            }
            let Some(lang) = Lang::from_path(&path) else {
                continue;
            };
            match entry.metadata() {
                Ok(m) if m.len() > limits.max_file_bytes => w
                    .skipped
                    .push((path, format!("larger than {} bytes", limits.max_file_bytes))),
                Ok(_) => w.files.push(SourceFile { path, lang }),
                Err(e) => w.skipped.push((path, e.to_string())),
            }
        }
    }
    w.files.sort_by(|a, b| a.path.cmp(&b.path));
    if w.files.len() > limits.max_files {
        w.truncated = w.files.len() - limits.max_files;
        w.files.truncate(limits.max_files);
    }
    w
}

fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || SKIPPED_DIRS.contains(&name)
}

/// Reads a source file as UTF-8 text; a clear reason when it is not.
pub fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sources_and_skips_the_usual_suspects() {
        let d = std::env::temp_dir().join(format!("optidb-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for p in [
            "app/q.sql",
            "app/main.py",
            "app/readme.md",
            "node_modules/x/index.js",
            ".git/hooks/a.py",
            "web/src/a.ts",
        ] {
            let f = d.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "x").unwrap();
        }
        std::fs::write(d.join("app/big.sql"), vec![b' '; 100]).unwrap();
        let w = walk(
            std::slice::from_ref(&d),
            Limits {
                max_file_bytes: 50,
                max_files: 10,
            },
        );
        let names: Vec<String> = w
            .files
            .iter()
            .map(|f| f.path.strip_prefix(&d).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["app/main.py", "app/q.sql", "web/src/a.ts"]);
        assert_eq!(w.skipped.len(), 1);
        let w = walk(
            std::slice::from_ref(&d),
            Limits {
                max_file_bytes: 50,
                max_files: 2,
            },
        );
        assert_eq!((w.files.len(), w.truncated), (2, 1));
        std::fs::write(d.join("bad.py"), [0xff, 0xfe]).unwrap();
        assert_eq!(read(&d.join("bad.py")).unwrap_err(), "not UTF-8 text");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
