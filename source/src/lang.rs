//! Which language a source file is written in, from its path or an editor's language id: the
//! one place that decides whether a file is SQL, application code OptiDB reads SQL from, or
//! something it leaves alone.

use std::path::Path;

/// A language OptiDB reads SQL from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Sql,
    Python,
    TypeScript,
    Tsx,
    JavaScript,
    Go,
    Rust,
    Java,
    Kotlin,
    Ruby,
}

impl Lang {
    pub const ALL: [Lang; 10] = [
        Lang::Sql,
        Lang::Python,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::JavaScript,
        Lang::Go,
        Lang::Rust,
        Lang::Java,
        Lang::Kotlin,
        Lang::Ruby,
    ];

    /// By file extension (`.sql`, `.py`, `.ts`, `.tsx`, `.js`/`.mjs`/`.cjs`/`.jsx`, `.go`, `.rs`,
    /// `.java`, `.kt`/`.kts`, `.rb`).
    pub fn from_path(path: &Path) -> Option<Lang> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "sql" | "pgsql" | "psql" => Lang::Sql,
            "py" | "pyi" => Lang::Python,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "js" | "mjs" | "cjs" | "jsx" => Lang::JavaScript,
            "go" => Lang::Go,
            "rs" => Lang::Rust,
            "java" => Lang::Java,
            "kt" | "kts" => Lang::Kotlin,
            "rb" | "rake" => Lang::Ruby,
            _ => return None,
        })
    }

    /// By an LSP `languageId` (VS Code's and Neovim's names).
    pub fn from_language_id(id: &str) -> Option<Lang> {
        Some(match id {
            "sql" | "pgsql" | "postgres" | "plpgsql" => Lang::Sql,
            "python" => Lang::Python,
            "typescript" => Lang::TypeScript,
            "typescriptreact" | "tsx" => Lang::Tsx,
            "javascript" | "javascriptreact" | "jsx" => Lang::JavaScript,
            "go" => Lang::Go,
            "rust" => Lang::Rust,
            "java" => Lang::Java,
            "kotlin" => Lang::Kotlin,
            "ruby" => Lang::Ruby,
            _ => return None,
        })
    }

    /// A file's language: the editor's id when it names one, else the path's extension.
    pub fn detect(language_id: Option<&str>, path: Option<&Path>) -> Option<Lang> {
        language_id
            .and_then(Lang::from_language_id)
            .or_else(|| path.and_then(Lang::from_path))
    }

    /// Short name for messages and reports.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Sql => "sql",
            Lang::Python => "python",
            Lang::TypeScript => "typescript",
            Lang::Tsx => "tsx",
            Lang::JavaScript => "javascript",
            Lang::Go => "go",
            Lang::Rust => "rust",
            Lang::Java => "java",
            Lang::Kotlin => "kotlin",
            Lang::Ruby => "ruby",
        }
    }

    /// How a line comment starts (for edits that insert a note above a statement).
    pub fn line_comment(self) -> &'static str {
        match self {
            Lang::Sql => "--",
            Lang::Python | Lang::Ruby => "#",
            Lang::TypeScript
            | Lang::Tsx
            | Lang::JavaScript
            | Lang::Go
            | Lang::Rust
            | Lang::Java
            | Lang::Kotlin => "//",
        }
    }

    /// The tree-sitter grammar of a host language (`None` for SQL itself).
    pub(crate) fn grammar(self) -> Option<tree_sitter::Language> {
        Some(match self {
            Lang::Sql => return None,
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
            Lang::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Lang::Ruby => tree_sitter_ruby::LANGUAGE.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_ids() {
        assert_eq!(Lang::from_path(Path::new("a/b.PY")), Some(Lang::Python));
        assert_eq!(Lang::from_path(Path::new("x.mjs")), Some(Lang::JavaScript));
        assert_eq!(Lang::from_path(Path::new("x.txt")), None);
        assert_eq!(Lang::from_path(Path::new("Makefile")), None);
        assert_eq!(Lang::from_language_id("typescriptreact"), Some(Lang::Tsx));
        assert_eq!(
            Lang::detect(Some("plaintext"), Some(Path::new("q.sql"))),
            Some(Lang::Sql)
        );
    }

    #[test]
    fn every_host_grammar_loads() {
        for l in Lang::ALL {
            if let Some(g) = l.grammar() {
                let mut p = tree_sitter::Parser::new();
                p.set_language(&g).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            }
        }
    }
}
