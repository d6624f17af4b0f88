//! SQL understanding without a database: split, map placeholders, normalize, fingerprint.

pub mod features;
pub mod fingerprint;
pub mod lex;
pub mod lints;
pub mod placeholders;
pub mod reach;
pub mod split;

pub use fingerprint::{fingerprint, fingerprint_only, Fingerprinted, SqlError};
pub use placeholders::{map_placeholders, Mapped};
pub use split::{split, split_from, Statement};

use serde::{Deserialize, Serialize};

/// One statement of a file with what OptiDB knows of it from the text alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatement {
    /// Byte offset of the statement's first token in the file.
    pub start: usize,
    /// Byte offset just past its last token (the `;` is not included).
    pub end: usize,
    #[serde(flatten)]
    pub result: StatementResult,
}

/// The fingerprint of a statement, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatementResult {
    Ok(Fingerprinted),
    Err {
        error: String,
        /// Byte offset of the error in the file, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        error_position: Option<usize>,
    },
}

/// Splits a file and fingerprints every statement. Never fails: a statement that does not parse
/// gets an error entry and the others are still answered.
pub fn analyze_file(src: &str) -> Vec<FileStatement> {
    split(src)
        .into_iter()
        .map(|st| FileStatement {
            start: st.start,
            end: st.end,
            result: match fingerprint(st.text) {
                Ok(f) => StatementResult::Ok(f),
                Err(e) => StatementResult::Err {
                    error: e.message,
                    error_position: e.position.map(|p| st.start + p),
                },
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_statement_does_not_hide_the_others() {
        let src = "SELECT 1; SELEC 2; SELECT 3";
        let r = analyze_file(src);
        assert_eq!(r.len(), 3);
        assert!(matches!(r[0].result, StatementResult::Ok(_)));
        match &r[1].result {
            StatementResult::Err { error_position, .. } => assert_eq!(*error_position, Some(10)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(r[2].result, StatementResult::Ok(_)));
    }

    #[test]
    fn json_shape() {
        let r = analyze_file("SELECT 1");
        let v = serde_json::to_value(&r[0]).unwrap();
        assert_eq!(v["start"], 0);
        assert_eq!(v["end"], 8);
        assert!(v["fingerprint"].as_str().unwrap().len() == 16);
        assert_eq!(v["norm_sql"], "SELECT $1");
    }
}
