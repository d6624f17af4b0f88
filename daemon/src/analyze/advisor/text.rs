//! What a query's text says that a plan cannot show (a generic plan only prints `$1`). The
//! detections are the shared text lints of [`optidb_core::sql::lints`] (leading-wildcard
//! LIKE/ILIKE, `NOT IN (subquery)`, OFFSET pagination), so they are written once for the
//! language server and the advisor; this file only adds the details the advisor needs from the
//! parse tree: which column a flagged pattern applies to, the pattern, its literal fragment length
//! (pg_trgm needs 3 characters), and whether the statement has a LIMIT.

use crate::analyze::plan_facts::quote_ident;
use optidb_core::model::Query;
use optidb_core::sql::lints::lint_statement;
use pg_query::protobuf::{a_const, AExprKind};
use pg_query::{Node, NodeEnum, NodeRef};

/// A `column LIKE '%…'` (or ILIKE) with a leading wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadingWildcard {
    /// Column (or `lower(col)`) without qualifiers.
    pub column: String,
    /// `LIKE` or `ILIKE`.
    pub operator: String,
    /// The pattern literal, when the sample carries values.
    pub pattern: Option<String>,
    /// Longest run of non-wildcard characters in the pattern (pg_trgm needs ≥ 3).
    pub fragment_len: Option<usize>,
}

/// A table named in the statement (`FROM sales.deals d`): schema when written, the name, the
/// alias when there is one. Plans show the partition a scan reads under the parent's alias
/// (`e`, or `events_1`, `events_2` … when there are several), which is how a partition is mapped
/// back to the table the statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelRef {
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
}

/// Text facts of one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFacts {
    pub parsed: bool,
    pub leading_wildcards: Vec<LeadingWildcard>,
    /// `x NOT IN (SELECT …)`: the column on the left.
    pub not_in_subquery: Vec<String>,
    pub has_offset: bool,
    pub has_limit: bool,
    pub is_select: bool,
    /// Every table the statement names, in reading order.
    pub relations: Vec<RelRef>,
}

/// Reads the sample with values when there is one, else the normalized text (the statement
/// inside an SQL-level `PREPARE … AS`).
pub fn facts(q: &Query) -> TextFacts {
    let sql = if q.raw_has_values {
        &q.raw_sql
    } else {
        &q.norm_sql
    };
    // A prepared statement as pg_stat_statements records it: the statement it holds.
    let inner = |s: &'_ str| -> String {
        optidb_core::sql::fingerprint::prepared_body(s)
            .unwrap_or(s)
            .to_string()
    };
    let mut f = analyze(&inner(sql));
    if !f.parsed && q.raw_has_values {
        f = analyze(&inner(&q.norm_sql));
    }
    f
}

/// Text facts of one statement; `parsed = false` when it does not parse.
pub fn analyze(sql: &str) -> TextFacts {
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return TextFacts::default();
    };
    let mut f = TextFacts {
        parsed: true,
        ..Default::default()
    };
    if let Some(NodeEnum::SelectStmt(st)) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| n.node.as_ref())
    {
        f.is_select = true;
        f.has_limit = st.limit_count.is_some();
    }
    for (node, _, _, _) in parsed.protobuf.nodes() {
        if let NodeRef::RangeVar(r) = node {
            f.relations.push(RelRef {
                schema: Some(r.schemaname.clone()).filter(|s| !s.is_empty()),
                name: r.relname.clone(),
                alias: r.alias.as_ref().map(|a| a.aliasname.clone()),
            });
        }
    }
    let lints = lint_statement(sql);
    let mut wildcard_at = Vec::new();
    for l in &lints {
        match l.rule {
            "offset_pagination" => f.has_offset = true,
            "not_in_subquery" => {
                let span = &sql[l.start..l.end];
                let col = span.split_whitespace().next().map(|c| {
                    c.rsplit('.')
                        .next()
                        .unwrap_or(c)
                        .trim_matches('"')
                        .to_string()
                });
                if let Some(c) = col {
                    f.not_in_subquery.push(c);
                }
            }
            "leading_wildcard_like" => wildcard_at.push(l.start),
            _ => {}
        }
    }
    if wildcard_at.is_empty() {
        return f;
    }
    // The column and pattern of each flagged LIKE (the lint points at the pattern literal).
    for (node, _, _, _) in parsed.protobuf.nodes() {
        let NodeRef::AExpr(e) = node else { continue };
        let is_ilike = e.kind == AExprKind::AexprIlike as i32
            || e.name
                .iter()
                .any(|n| matches!(&n.node, Some(NodeEnum::String(s)) if s.sval == "~~*"));
        // NOT LIKE keeps almost every row: no index helps it.
        let negated = e
            .name
            .iter()
            .any(|n| matches!(&n.node, Some(NodeEnum::String(s)) if s.sval.starts_with('!')));
        let Some(NodeEnum::AConst(c)) = e.rexpr.as_deref().and_then(|n| n.node.as_ref()) else {
            continue;
        };
        if negated {
            continue;
        }
        if !wildcard_at.contains(&(c.location.max(0) as usize)) {
            continue;
        }
        let Some(column) = e.lexpr.as_deref().and_then(expr_text) else {
            continue;
        };
        let pattern = match &c.val {
            Some(a_const::Val::Sval(s)) => Some(s.sval.clone()),
            _ => None,
        };
        let fragment_len = pattern.as_deref().map(|p| {
            p.split(['%', '_'])
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        });
        f.leading_wildcards.push(LeadingWildcard {
            column,
            operator: if is_ilike { "ILIKE" } else { "LIKE" }.into(),
            pattern,
            fragment_len,
        });
    }
    f
}

/// A column reference (last name part, quoted as SQL needs it) or a function of columns
/// (`lower(email)`, `lower("Title")`).
fn expr_text(n: &Node) -> Option<String> {
    match n.node.as_ref()? {
        NodeEnum::ColumnRef(c) => match c.fields.last()?.node.as_ref()? {
            NodeEnum::String(s) => Some(quote_ident(&s.sval)),
            _ => None,
        },
        NodeEnum::FuncCall(fc) => {
            let name = match fc.funcname.last()?.node.as_ref()? {
                NodeEnum::String(s) => s.sval.clone(),
                _ => return None,
            };
            let args: Option<Vec<String>> = fc.args.iter().map(expr_text).collect();
            Some(format!("{name}({})", args?.join(", ")))
        }
        NodeEnum::TypeCast(tc) => expr_text(tc.arg.as_deref()?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_leading_wildcards_with_fragment_length() {
        let f = analyze("SELECT id FROM customers c WHERE c.email LIKE '%smith471%'");
        assert_eq!(f.leading_wildcards.len(), 1);
        let w = &f.leading_wildcards[0];
        assert_eq!(w.column, "email");
        assert_eq!(w.operator, "LIKE");
        assert_eq!(w.fragment_len, Some(8));
        let f = analyze("SELECT 1 FROM t WHERE lower(name) ILIKE '%ab'");
        assert_eq!(f.leading_wildcards[0].column, "lower(name)");
        assert_eq!(f.leading_wildcards[0].fragment_len, Some(2));
        // A prefix pattern and NOT LIKE are not leading wildcards.
        assert!(analyze("SELECT 1 FROM t WHERE a LIKE 'ab%'")
            .leading_wildcards
            .is_empty());
        assert!(analyze("SELECT 1 FROM t WHERE a NOT LIKE '%ab%'")
            .leading_wildcards
            .is_empty());
        // Normalized text: no value to judge.
        assert!(analyze("SELECT 1 FROM t WHERE a LIKE $1")
            .leading_wildcards
            .is_empty());
    }

    #[test]
    fn finds_not_in_offset_and_limit() {
        let f = analyze(
            "SELECT id FROM a WHERE a.x NOT IN (SELECT y FROM b) ORDER BY id LIMIT 10 OFFSET 5000",
        );
        assert_eq!(f.not_in_subquery, vec!["x".to_string()]);
        assert!(f.has_offset && f.has_limit && f.is_select);
        let f = analyze("SELECT id FROM a WHERE a.x IN (SELECT y FROM b)");
        assert!(f.not_in_subquery.is_empty());
        assert!(!f.has_offset);
        assert!(!analyze("SELEC nope").parsed);
    }
}
