//! Rule `leading_wildcard_like`: `col LIKE '%abc'` (or ILIKE, or `'%' || $1`) cannot use a btree
//! index, so PostgreSQL reads every row. A trigram index or full-text search can.

use super::{inner, op_name, Lint, LintContext, LintSeverity, Rule};
use pg_query::{protobuf, NodeEnum, NodeRef};

pub const RULE: Rule = Rule {
    name: "leading_wildcard_like",
    summary: "LIKE/ILIKE pattern starting with % or _ cannot use a btree index",
    check,
};

fn check(ctx: &LintContext<'_>) -> Vec<Lint> {
    let mut out = Vec::new();
    for n in &ctx.nodes {
        let NodeRef::AExpr(e) = n else { continue };
        let like = e.kind == protobuf::AExprKind::AexprLike as i32;
        let ilike = e.kind == protobuf::AExprKind::AexprIlike as i32;
        let op_form = e.kind == protobuf::AExprKind::AexprOp as i32
            && matches!(op_name(e), Some("~~" | "~~*" | "!~~" | "!~~*"));
        if !(like || ilike || op_form) {
            continue;
        }
        let Some((pattern, loc)) = inner(&e.rexpr).and_then(leading_literal) else {
            continue;
        };
        if !(pattern.starts_with('%') || pattern.starts_with('_')) {
            continue;
        }
        let op = if ilike || matches!(op_name(e), Some("~~*" | "!~~*")) {
            "ILIKE"
        } else {
            "LIKE"
        };
        out.push(ctx.lint(
            RULE.name,
            LintSeverity::Warning,
            ctx.token_span(loc),
            format!(
                "{op} pattern starts with a wildcard: a btree index cannot be used, every row is read"
            ),
            "for substring search use a trigram index (CREATE EXTENSION pg_trgm; CREATE INDEX … \
             USING gin (col gin_trgm_ops)) or full-text search; for suffix search index reverse(col)",
        ));
    }
    out
}

/// The literal a pattern starts with: `'abc'`, `'abc'::text`, `'%' || $1`.
fn leading_literal(n: &NodeEnum) -> Option<(&str, i32)> {
    match n {
        NodeEnum::AConst(c) => match &c.val {
            Some(protobuf::a_const::Val::Sval(s)) => Some((s.sval.as_str(), c.location)),
            _ => None,
        },
        NodeEnum::TypeCast(t) => inner(&t.arg).and_then(leading_literal),
        NodeEnum::AExpr(e) if op_name(e) == Some("||") => inner(&e.lexpr).and_then(leading_literal),
        NodeEnum::FuncCall(f) => {
            // concat('%', $1)
            let name = f.funcname.last().and_then(|n| match n.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            });
            if name == Some("concat") {
                f.args
                    .first()
                    .and_then(|a| a.node.as_ref())
                    .and_then(leading_literal)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::lints::lint_statement;

    fn spans(sql: &str) -> Vec<&str> {
        lint_statement(sql)
            .into_iter()
            .filter(|l| l.rule == "leading_wildcard_like")
            .map(|l| &sql[l.start..l.end])
            .collect()
    }

    #[test]
    fn leading_percent_is_flagged() {
        assert_eq!(spans("SELECT * FROM t WHERE name LIKE '%son'"), ["'%son'"]);
    }

    #[test]
    fn ilike_not_like_and_underscore_are_flagged() {
        assert_eq!(spans("SELECT 1 FROM t WHERE a ILIKE '_x%'"), ["'_x%'"]);
        assert_eq!(spans("SELECT 1 FROM t WHERE a NOT LIKE '%x'"), ["'%x'"]);
    }

    #[test]
    fn concatenated_pattern_is_flagged() {
        assert_eq!(spans("SELECT 1 FROM t WHERE a LIKE '%' || ?"), ["'%'"]);
        assert_eq!(
            spans("SELECT 1 FROM t WHERE a LIKE concat('%', :q)"),
            ["'%'"]
        );
    }

    #[test]
    fn prefix_patterns_and_parameters_are_fine() {
        assert!(spans("SELECT 1 FROM t WHERE a LIKE 'abc%'").is_empty());
        assert!(spans("SELECT 1 FROM t WHERE a LIKE $1").is_empty());
        assert!(spans("SELECT 1 FROM t WHERE a = '%x'").is_empty());
    }

    #[test]
    fn found_inside_subqueries_and_updates() {
        assert_eq!(
            spans("UPDATE t SET x = 1 WHERE id IN (SELECT id FROM u WHERE n LIKE '%a')"),
            ["'%a'"]
        );
    }
}
