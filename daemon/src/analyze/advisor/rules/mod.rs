//! The advisor's rules, one per file, each documented in docs/rules/<rule>.md, with shared
//! helpers for evidence and index definitions.

pub mod composite_index;
pub mod missing_index;
pub mod redundant_index;
pub mod rewrite;
pub mod stats;

use super::workload::{QueryCtx, Workload};
use super::{count, iso};
use optidb_core::model::Evidence;

/// Tables smaller than this are worth an index only for a hot query (see [`HOT_CALLS`],
/// [`HOT_SHARE`]): a sequential scan of a few dozen pages is about as fast as an index lookup
/// plus heap visits, and the index still costs every write.
pub const MIN_TABLE_ROWS: f64 = 10_000.0;

/// Tables smaller than this never get an index (a handful of pages).
pub const TINY_TABLE_ROWS: f64 = 1_000.0;

/// A query on a table between [`TINY_TABLE_ROWS`] and [`MIN_TABLE_ROWS`] rows earns an index
/// candidate with at least this many calls …
pub const HOT_CALLS: i64 = 1_000;

/// … and at least this share of the workload's total time.
pub const HOT_SHARE: f64 = 0.05;

/// The metric evidence of a query: calls, mean and total time, when.
pub fn metric_evidence(q: &QueryCtx<'_>) -> Evidence {
    Evidence {
        source: "metric".into(),
        text: format!(
            "query {}: {} calls, mean {:.2} ms, total {:.0} ms (pg_stat_statements)",
            q.query.id,
            count(q.calls as f64),
            q.mean_ms,
            q.total_ms
        ),
        captured_at: q.metric_at,
    }
}

/// Schema evidence: a table's size and write volume.
pub fn table_evidence(w: &Workload<'_>, table: &str) -> Option<Evidence> {
    let t = w.table(table)?;
    Some(Evidence {
        source: "schema".into(),
        text: format!(
            "{table}: ~{} rows, {}, {} writes (inserts+updates+deletes) since statistics reset",
            count(w.table_rows(table)),
            super::human_bytes(t.bytes as f64),
            count(t.writes as f64)
        ),
        captured_at: Some(w.input.schema.captured_at),
    })
}

/// `when` for a rationale.
pub fn at(ms: Option<i64>) -> String {
    ms.map(iso).unwrap_or_else(|| "an unknown time".into())
}

/// An index column or expression as PostgreSQL prints it, reduced for comparison: no casts, no
/// parentheses, no spaces, lower case (`lower((email)::text)` → `lower(email)`).
pub fn norm_expr(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            // Skip the type name (letters, digits, spaces inside `character varying`, `[]`).
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' || n == '[' || n == ']' || n == ' ' {
                    chars.next();
                } else {
                    break;
                }
            }
            continue;
        }
        if c == '"' || c.is_whitespace() {
            continue;
        }
        out.push(c.to_ascii_lowercase());
    }
    // Drop redundant parentheses around a whole argument: `lower((email))` → `lower(email)`.
    let mut prev = String::new();
    while prev != out {
        prev = out.clone();
        out = out.replace("((", "(").replace("))", ")");
    }
    if out.starts_with('(') && out.ends_with(')') && !out[1..].contains('(') {
        out = out[1..out.len() - 1].to_string();
    }
    out
}

/// One key of an index definition from a candidate column: the column or expression as the
/// plan prints it (already SQL: quoted where needed, see [`quote_ident`]), optionally followed by
/// ` DESC`, ` NULLS FIRST` or ` NULLS LAST`, and an operator class: `customer_id`,
/// `(lower(email))`, `"accountId"`, `"order"`, `created_at DESC`, `email gin_trgm_ops`.
pub fn key_sql(column: &str, opclass: Option<&str>) -> String {
    let (expr, order) = split_order(column);
    let c = if expr.contains('(') {
        format!("({expr})")
    } else {
        quote_ident(expr)
    };
    let c = match opclass {
        Some(o) => format!("{c} {o}"),
        None => c,
    };
    format!("{c}{order}")
}

/// `created_at DESC NULLS LAST` → (`created_at`, ` DESC NULLS LAST`).
pub fn split_order(column: &str) -> (&str, &str) {
    let mut expr = column.trim_end();
    for suffix in [" NULLS FIRST", " NULLS LAST"] {
        if let Some(e) = expr.strip_suffix(suffix) {
            expr = e;
        }
    }
    for suffix in [" DESC", " ASC"] {
        if let Some(e) = expr.strip_suffix(suffix) {
            expr = e;
        }
    }
    (expr, &column.trim_end()[expr.len()..])
}

/// The one identifier quoting of every rule (see [`crate::analyze::plan_facts::quote_ident`]).
pub use crate::analyze::plan_facts::quote_ident;

/// A schema-qualified table name as SQL needs it.
pub fn quote_table(t: &str) -> String {
    match t.split_once('.') {
        Some((s, n)) => format!("{}.{}", quote_ident(s), quote_ident(n)),
        None => quote_ident(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_index_expressions() {
        assert_eq!(norm_expr("lower((email)::text)"), "lower(email)");
        assert_eq!(norm_expr("lower(email)"), "lower(email)");
        assert_eq!(norm_expr("customer_id"), "customer_id");
        assert_eq!(norm_expr("(created_at)::date"), "created_at");
    }

    #[test]
    fn keys_and_names_are_quoted_when_needed() {
        assert_eq!(key_sql("lower(email)", None), "(lower(email))");
        assert_eq!(key_sql("email", Some("gin_trgm_ops")), "email gin_trgm_ops");
        assert_eq!(quote_table("public.Orders"), "public.\"Orders\"");
    }
}
