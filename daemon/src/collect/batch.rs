//! Several statements in one round trip: a what-if or a generic plan is a short fixed sequence
//! (reset, PREPARE, EXPLAIN, create a hypothetical index, EXPLAIN again, DEALLOCATE, reset), and
//! sending it as one simple-query message instead of one message per step cuts the work both
//! sides do per step (a wake-up, a network round trip, a transaction start and end) — which is
//! most of what a simulation costs the target. [`run`] still says which statement failed, so
//! callers can tell a bad index from a bad query and clean up exactly what was left.
//!
//! PostgreSQL runs such a message as one implicit transaction and stops at the first error: the
//! statements after it do not run. Prepared statements and hypopg's hypothetical indexes are not
//! transactional, so a caller whose batch failed half-way cleans them up itself.
//! statement_timeout applies to each statement separately (PostgreSQL 13 and newer).

use futures::StreamExt;
use tokio_postgres::{Client, SimpleQueryMessage};

/// The rows of one statement: the first column of each row (`None` for SQL NULL).
pub type Rows = Vec<Vec<Option<String>>>;

/// A batch that stopped at a statement.
#[derive(Debug)]
pub struct Failed {
    /// Index (in the batch) of the statement that failed; the statements before it ran.
    pub at: usize,
    pub error: tokio_postgres::Error,
}

/// Runs `statements` as one simple-query message and returns each statement's rows (every
/// column, as text), in order. Each statement must be exactly one statement that the caller
/// has checked: the texts are joined with newlines and semicolons, so a trailing `-- comment`
/// cannot swallow the next one.
pub async fn run(client: &Client, statements: &[String]) -> Result<Vec<Rows>, Failed> {
    let mut text = String::with_capacity(statements.iter().map(|s| s.len() + 3).sum());
    for s in statements {
        text.push_str(s);
        text.push_str("\n;\n");
    }
    let mut out: Vec<Rows> = Vec::with_capacity(statements.len());
    out.push(Vec::new());
    let fail = |at: usize, error| Failed {
        at: at.min(statements.len().saturating_sub(1)),
        error,
    };
    let stream = match client.simple_query_raw(&text).await {
        Ok(s) => s,
        Err(error) => return Err(fail(0, error)),
    };
    let mut stream = std::pin::pin!(stream);
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(SimpleQueryMessage::Row(row)) => {
                let cols = (0..row.len()).map(|i| row.get(i).map(str::to_string));
                if let Some(rows) = out.last_mut() {
                    rows.push(cols.collect());
                }
            }
            Ok(SimpleQueryMessage::CommandComplete(_)) => out.push(Vec::new()),
            Ok(_) => {}
            Err(error) => return Err(fail(out.len() - 1, error)),
        }
    }
    out.pop(); // the empty entry opened after the last CommandComplete
    if out.len() != statements.len() {
        // Not reachable with well-formed statements; guards against a caller's text that
        // held more (or fewer) statements than it said.
        tracing::warn!(
            "a batch of {} statements answered {} results",
            statements.len(),
            out.len()
        );
    }
    Ok(out)
}

/// `E'…'`: a string literal that means the same whatever `standard_conforming_strings` is.
pub fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_for_either_string_setting() {
        assert_eq!(quote_literal("abc"), "E'abc'");
        assert_eq!(quote_literal("it's"), "E'it''s'");
        assert_eq!(quote_literal(r"a\'b"), r"E'a\\''b'");
    }
}
