//! Feature handlers: pure functions from a document (text, analysis, cached daemon knowledge)
//! to LSP answers. No I/O here; the server module does the talking.

pub mod code_action;
pub mod code_lens;
pub mod diagnostics;
pub mod hover;
pub mod inlay_hints;
pub mod symbols;

use crate::convert::LineIndex;
use crate::daemon::Known;
use optidb_core::model::LookupEntry;
use optidb_source::analysis::FileAnalysis;
use std::sync::Arc;

/// One version of an open document, analyzed.
pub struct DocView<'a> {
    pub index: &'a LineIndex,
    pub analysis: &'a FileAnalysis,
    /// What the daemon is known to say about a fingerprint (from the cache only).
    pub live: &'a dyn Fn(&str) -> Option<Known>,
}

impl DocView<'_> {
    pub fn entry(&self, fp: &str) -> Option<Arc<LookupEntry>> {
        match (self.live)(fp) {
            Some(Known::Entry(e)) => Some(e),
            _ => None,
        }
    }
}

pub use optidb_core::format::{ms as duration_ms, thousands};

/// Runs `f` on a view of `text` where the daemon knows the first statement as the tickets
/// example (and nothing else).
#[cfg(test)]
pub(crate) fn with_first_known<R>(
    lang: optidb_source::Lang,
    text: &str,
    f: impl FnOnce(&DocView<'_>) -> R,
) -> R {
    let analysis = optidb_source::Analyzer::default().analyze(lang, text);
    let known = analysis.statements[0].facts.fingerprint.clone().unwrap();
    let entry = Arc::new(optidb_source::fixtures::tickets_entry());
    let live = move |fp: &str| (fp == known).then(|| Known::Entry(entry.clone()));
    let index = LineIndex::new(Arc::from(text));
    f(&DocView {
        index: &index,
        analysis: &analysis,
        live: &live,
    })
}
