//! Rules of the code base that are easier to keep with a test than with prose (the idea of
//! rust-analyzer's `tidy.rs`): the daemon's layers import one way (docs/architecture.md), only
//! the allowed modules send text through the simple-query protocol, and every module says
//! why it exists in a `//!` line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules of `daemon/src` each one may use (`crate::x`). Lower layers never
/// import higher ones; test code (`tests.rs`, `#[cfg(test)]` modules) may use anything.
const LAYERS: &[(&str, &[&str])] = &[
    ("clock", &[]),
    ("pg", &[]),
    ("store", &[]),
    ("collect", &["pg", "clock"]),
    ("analyze", &[]),
    ("simulate", &["pg", "analyze", "clock"]),
    (
        "scan",
        &["collect", "analyze", "simulate", "store", "pg", "clock"],
    ),
    (
        "app",
        &["scan", "collect", "simulate", "store", "pg", "clock"],
    ),
    (
        "http",
        &["app", "analyze", "simulate", "store", "pg", "clock"],
    ),
    ("sandbox", &["pg"]),
    ("seed", &["sandbox", "pg", "store", "clock"]),
    ("cli", &["pg", "http", "store", "analyze", "clock"]),
];

/// Modules that may use the simple-query protocol (`batch_execute`, `simple_query`): they only
/// send the project's own SQL to databases the user named for writing (sandbox, seed, the
/// setup of roles) or to throwaway sandboxes (benches, the demo).
const SIMPLE_QUERY_ALLOWED: &[&str] = &["sandbox", "seed", "bench", "demo", "cli"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`pg/unit.rs` → `pg`, `scan.rs` → `scan`).
fn layer_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The file's non-test code without comments: everything before a `#[cfg(test)]` line.
fn code_of(path: &Path) -> Option<String> {
    if path
        .file_name()
        .is_some_and(|n| n == "tests.rs" || n == "testutil.rs")
    {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        out.push_str(strip_comment(line));
        out.push('\n');
    }
    Some(out)
}

fn strip_comment(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

#[test]
fn layers_import_one_way() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = LAYERS
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let layer = layer_of(f);
        let Some(ok) = allowed.get(layer.as_str()) else {
            continue; // the top: daemon, demo, bench, main, lib
        };
        let Some(code) = code_of(f) else { continue };
        for used in crate_uses(&code) {
            if used != layer && !ok.contains(used.as_str()) {
                problems.push(format!(
                    "{} ({layer}) uses crate::{used}",
                    f.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "a lower layer imports a higher one (see LAYERS and docs/architecture.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn foreign_text_never_travels_by_the_simple_query_protocol() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let layer = layer_of(f);
        if SIMPLE_QUERY_ALLOWED.contains(&layer.as_str()) {
            continue;
        }
        let Some(code) = code_of(f) else { continue };
        for needle in ["simple_query", "batch_execute"] {
            if code.contains(needle) {
                problems.push(format!(
                    "{} calls {needle}",
                    f.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "statements about foreign text go through crate::pg::pipeline (one statement per \
         Parse, docs/security.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_module_says_why_it_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["core/src", "daemon/src", "lsp/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` line:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_rules_can_fail() {
    // The scanners see what they must: a use of a higher layer, a simple-query call.
    assert!(crate_uses("use crate::daemon::AppState;\n").contains("daemon"));
    assert!(crate_uses("let x = crate::scan::Collector::new();").contains("scan"));
    assert!(crate_uses(strip_comment("x(); // crate::daemon in a comment")).is_empty());
}
