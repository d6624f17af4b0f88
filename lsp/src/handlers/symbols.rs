//! The workspace's statements ranked by their production total time (`workspace/symbol` and the
//! `optidb.workspaceStatements` command): which lines of this code base cost the database most.

use optidb_core::format::{ms as duration_ms, one_line};
use optidb_core::model::LookupEntry;
use optidb_source::live::lens_title;
use serde::Serialize;
use std::sync::Arc;
use tower_lsp::lsp_types::{Location, Range, Url};

/// One statement of the workspace that the daemon knows.
#[derive(Debug, Clone, Serialize)]
pub struct RankedStatement {
    pub uri: Url,
    pub range: Range,
    pub query_id: String,
    pub total_ms: f64,
    /// The code lens text.
    pub title: String,
    /// The statement as written (one line, shortened).
    pub sql: String,
}

impl RankedStatement {
    pub fn new(uri: Url, range: Range, sql: &str, entry: &Arc<LookupEntry>) -> Self {
        RankedStatement {
            uri,
            range,
            query_id: entry.query_id.clone(),
            total_ms: entry.total_ms,
            title: lens_title(entry),
            sql: one_line(sql, 80),
        }
    }

    /// The symbol's name: `30.5 s · SELECT * FROM tickets WHERE buyer_id = %s`.
    pub fn name(&self) -> String {
        format!("{} · {}", duration_ms(self.total_ms), self.sql)
    }

    pub fn location(&self) -> Location {
        Location::new(self.uri.clone(), self.range)
    }
}

/// Most expensive first; `query` keeps the statements whose SQL contains it (any case).
pub fn rank(mut all: Vec<RankedStatement>, query: &str, limit: usize) -> Vec<RankedStatement> {
    let q = query.trim().to_lowercase();
    all.retain(|s| q.is_empty() || s.sql.to_lowercase().contains(&q));
    all.sort_by(|a, b| {
        b.total_ms
            .total_cmp(&a.total_ms)
            .then_with(|| a.uri.as_str().cmp(b.uri.as_str()))
            .then_with(|| a.range.start.line.cmp(&b.range.start.line))
    });
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use optidb_source::fixtures::tickets_entry;
    use tower_lsp::lsp_types::Position;

    #[test]
    fn ranked_by_total_time_and_filtered() {
        let mut cheap = tickets_entry();
        cheap.total_ms = 10.0;
        let r = |line: u32, sql: &str, e: LookupEntry| {
            RankedStatement::new(
                Url::parse("file:///w/a.py").unwrap(),
                Range::new(Position::new(line, 0), Position::new(line, 5)),
                sql,
                &Arc::new(e),
            )
        };
        let all = vec![
            r(1, "SELECT 1 FROM cheap", cheap),
            r(
                9,
                "SELECT * FROM tickets\n WHERE buyer_id = %s",
                tickets_entry(),
            ),
        ];
        let ranked = rank(all.clone(), "", 10);
        assert_eq!(ranked[0].range.start.line, 9);
        assert_eq!(
            ranked[0].name(),
            "30.5 s · SELECT * FROM tickets WHERE buyer_id = %s"
        );
        assert_eq!(rank(all.clone(), "CHEAP", 10).len(), 1);
        assert_eq!(rank(all, "", 1).len(), 1);
    }
}
