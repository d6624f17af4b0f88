//! Feature handlers: pure functions from a document (text, analysis, cached daemon knowledge)
//! to LSP answers. No I/O here; the server module does the talking.

pub mod code_action;
pub mod diagnostics;
pub mod hover;

use crate::analysis::FileAnalysis;
use crate::convert::LineIndex;
use crate::daemon::Known;
use optidb_core::model::LookupEntry;
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

/// What an index DDL creates, short: `CREATE INDEX … ON public.tickets USING btree (buyer_id)`
/// → `tickets(buyer_id)`. `None` when the DDL is not a CREATE INDEX.
pub fn index_target(ddl: &str) -> Option<String> {
    let upper = ddl.to_ascii_uppercase();
    if !upper.trim_start().starts_with("CREATE") || !upper.contains("INDEX") {
        return None;
    }
    let on = upper.find(" ON ")? + 4;
    let rest = &ddl[on..];
    let open = rest.find('(')?;
    let close = rest.rfind(')')?;
    let table_part = rest[..open].trim();
    let table = table_part
        .split_whitespace()
        .find(|w| {
            !w.eq_ignore_ascii_case("ONLY")
                && !w.eq_ignore_ascii_case("USING")
                && !matches!(
                    w.to_ascii_lowercase().as_str(),
                    "btree" | "gin" | "gist" | "brin" | "hash" | "spgist"
                )
        })?
        .rsplit('.')
        .next()?
        .to_string();
    Some(format!("{table}({})", rest[open + 1..close].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_targets() {
        assert_eq!(
            index_target("CREATE INDEX CONCURRENTLY ON public.tickets USING btree (buyer_id)")
                .as_deref(),
            Some("tickets(buyer_id)")
        );
        assert_eq!(
            index_target("CREATE INDEX idx ON orders (customer_id, created_at DESC)").as_deref(),
            Some("orders(customer_id, created_at DESC)")
        );
        assert_eq!(index_target("ANALYZE orders"), None);
    }
}
