//! Inlay hints: at the end of every statement the daemon knows, its production cost in a few
//! characters (`24.6 ms × 1,240`), where the eye already is; the code lens above says the rest.

use super::DocView;
use optidb_core::format::{ms as duration_ms, thousands};
use optidb_source::live::lens_title;
use tower_lsp::lsp_types::{InlayHint, InlayHintLabel, InlayHintTooltip};

/// Hints for the statements ending inside `[start, end]` (byte offsets).
pub fn inlay_hints(doc: &DocView<'_>, start: usize, end: usize) -> Vec<InlayHint> {
    let mut out = Vec::new();
    for st in &doc.analysis.statements {
        if st.end < start || st.end > end {
            continue;
        }
        let Some(fp) = st.facts.fingerprint.as_deref() else {
            continue;
        };
        let Some(entry) = doc.entry(fp) else { continue };
        out.push(InlayHint {
            position: doc.index.position(st.end),
            label: InlayHintLabel::String(format!(
                "⏱ {} × {}",
                duration_ms(entry.mean_ms),
                thousands(entry.calls)
            )),
            kind: None,
            text_edits: None,
            tooltip: Some(InlayHintTooltip::String(lens_title(&entry))),
            padding_left: Some(true),
            padding_right: None,
            data: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::with_first_known;
    use optidb_source::Lang;

    #[test]
    fn a_hint_after_the_known_statement_only() {
        let text = "SELECT * FROM tickets WHERE buyer_id = $1;\nSELECT 2;\n";
        let (all, later) = with_first_known(Lang::Sql, text, |view| {
            (
                inlay_hints(view, 0, text.len()),
                inlay_hints(view, 43, text.len()),
            )
        });
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].position.character, 41);
        assert!(matches!(&all[0].label, InlayHintLabel::String(l) if l == "⏱ 24.6 ms × 1,240"));
        assert!(later.is_empty());
    }
}
