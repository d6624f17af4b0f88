//! The one place where byte offsets (what core speaks) and LSP positions (lines and UTF-16 code
//! units) meet, plus the other core → LSP conversions. Nothing else in the server does position
//! arithmetic.

use optidb_core::sql::lints::LintSeverity;
use optidb_source::analysis::Severity;
use std::sync::Arc;
use tower_lsp::lsp_types::{DiagnosticSeverity, Position, Range};

/// A document's text with the byte offset of every line start. LSP line breaks are `\n`,
/// `\r\n` and a lone `\r`.
#[derive(Debug, Clone)]
pub struct LineIndex {
    text: Arc<str>,
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: Arc<str>) -> Self {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line_starts.push(i + 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    line_starts.push(i + 2);
                    i += 1;
                }
                b'\r' => line_starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex { text, line_starts }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The LSP position of a byte offset. Offsets past the end clamp to the end; an offset inside
    /// a multi-byte character counts as the start of that character.
    pub fn position(&self, offset: usize) -> Position {
        let offset = floor_char_boundary(&self.text, offset);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let character: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of an LSP position. A line past the end clamps to the end of the text; a
    /// character past the end of its line clamps to the end of the line (before its line break);
    /// a character in the middle of a surrogate pair counts as the start of that character.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(pos.line as usize + 1)
            .copied()
            .unwrap_or(self.text.len());
        let line = self.text[start..end].trim_end_matches(['\n', '\r']);
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units + c.len_utf16() > pos.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + line.len()
    }

    /// The LSP range of a byte range.
    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end.max(start)))
    }

    /// The text after one `didChange` content change: `range` replaced by `new_text`, or the
    /// whole text when `range` is `None` (full sync).
    pub fn apply(&self, range: Option<Range>, new_text: &str) -> LineIndex {
        let Some(r) = range else {
            return LineIndex::new(Arc::from(new_text));
        };
        let start = self.offset(r.start);
        let end = self.offset(r.end).max(start);
        let mut text = String::with_capacity(self.text.len() + new_text.len());
        text.push_str(&self.text[..start]);
        text.push_str(new_text);
        text.push_str(&self.text[end..]);
        LineIndex::new(Arc::from(text))
    }

    /// (0-based line, byte column) of a byte offset: tree-sitter's point.
    pub fn point(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        (line, offset - self.line_starts[line])
    }

    /// Byte offset of the start of the line holding `offset`.
    pub fn line_start(&self, offset: usize) -> usize {
        let offset = floor_char_boundary(&self.text, offset);
        self.line_starts[self.line_starts.partition_point(|&s| s <= offset) - 1]
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Lint severity → diagnostic severity.
pub fn severity(s: LintSeverity) -> DiagnosticSeverity {
    level(s.into())
}

/// Finding severity → diagnostic severity.
pub fn level(s: Severity) -> DiagnosticSeverity {
    match s {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

/// Parses a severity setting (`"error"`, `"warning"`, `"information"`/`"info"`, `"hint"`).
pub fn parse_severity(s: &str) -> Option<DiagnosticSeverity> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Some(DiagnosticSeverity::ERROR),
        "warning" | "warn" => Some(DiagnosticSeverity::WARNING),
        "information" | "info" => Some(DiagnosticSeverity::INFORMATION),
        "hint" => Some(DiagnosticSeverity::HINT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(s: &str) -> LineIndex {
        LineIndex::new(Arc::from(s))
    }

    #[test]
    fn ascii_positions() {
        let i = idx("SELECT 1;\nSELECT 2;");
        assert_eq!(i.position(0), Position::new(0, 0));
        assert_eq!(i.position(9), Position::new(0, 9));
        assert_eq!(i.position(10), Position::new(1, 0));
        assert_eq!(i.position(17), Position::new(1, 7));
        assert_eq!(i.position(1000), Position::new(1, 9));
        assert_eq!(i.offset(Position::new(1, 7)), 17);
    }

    #[test]
    fn multibyte_counts_utf16_units() {
        // é: 2 bytes, 1 unit. 😀: 4 bytes, 2 units. 日: 3 bytes, 1 unit.
        let s = "-- é😀日\nSELECT 'é😀' AS x";
        let i = idx(s);
        let x = s.find(" AS x").unwrap();
        assert_eq!(i.position(x), Position::new(1, 12));
        let line0_end = s.find('\n').unwrap();
        assert_eq!(i.position(line0_end), Position::new(0, 7));
        assert_eq!(i.offset(Position::new(1, 12)), x);
        // Round trip on every char boundary.
        for (b, _) in s.char_indices() {
            assert_eq!(i.offset(i.position(b)), b, "offset {b}");
        }
    }

    #[test]
    fn inside_a_character_snaps_to_its_start() {
        let s = "a😀b";
        let i = idx(s);
        assert_eq!(i.position(2), Position::new(0, 1)); // inside 😀
        assert_eq!(i.offset(Position::new(0, 2)), 1); // between surrogates
        assert_eq!(i.offset(Position::new(0, 3)), 5);
    }

    #[test]
    fn crlf_and_lone_cr_break_lines() {
        let s = "a\r\nb\rc\nd";
        let i = idx(s);
        assert_eq!(i.position(3), Position::new(1, 0));
        assert_eq!(i.position(5), Position::new(2, 0));
        assert_eq!(i.position(7), Position::new(3, 0));
        // Past the end of line 0 clamps before "\r\n".
        assert_eq!(i.offset(Position::new(0, 40)), 1);
        assert_eq!(i.offset(Position::new(9, 0)), s.len());
        assert_eq!(i.line_start(5), 5);
    }

    #[test]
    fn severities() {
        assert_eq!(
            severity(LintSeverity::Info),
            DiagnosticSeverity::INFORMATION
        );
        assert_eq!(
            parse_severity("Info"),
            Some(DiagnosticSeverity::INFORMATION)
        );
        assert_eq!(parse_severity("loud"), None);
    }

    #[test]
    fn incremental_changes_apply_in_utf16() {
        let idx = LineIndex::new(Arc::from("SELECT 'é😀' FROM t;\nSELECT 2"));
        // Replace `FROM t` (after the emoji: UTF-16 columns count it as 2).
        let r = Range::new(Position::new(0, 13), Position::new(0, 19));
        let idx = idx.apply(Some(r), "FROM orders");
        assert_eq!(idx.text(), "SELECT 'é😀' FROM orders;\nSELECT 2");
        let idx = idx.apply(
            Some(Range::new(Position::new(1, 7), Position::new(1, 8))),
            "3",
        );
        assert_eq!(idx.text(), "SELECT 'é😀' FROM orders;\nSELECT 3");
        assert_eq!(idx.apply(None, "x").text(), "x");
    }
}
