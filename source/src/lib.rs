//! optidb-source: source files as OptiDB reads them — SQL files, and SQL string literals inside
//! Python, TypeScript/JavaScript, Go, Rust, Java/Kotlin and Ruby code — analyzed once for both
//! the language server and `optidb check`. Pure (no I/O); depends only on core and the host
//! languages' tree-sitter grammars; [`workspace`] alone reads directories.
//!
//! - [`lang`]: which language a file is.
//! - [`embed`]: which string expressions are SQL, with their byte map back to the host file.
//! - [`analysis`]: statements, fingerprints, syntax errors and lints of a whole file, cached.
//! - [`live`]: what to say about a statement the daemon knows (one line, code lens, severity).
//! - [`workspace`]: the source files under some paths (the one directory walk).

pub mod analysis;
pub mod embed;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod lang;
pub mod live;
pub mod workspace;

pub use analysis::{Analyzer, FileAnalysis, StatementInfo};
pub use lang::Lang;
