//! Rule `not_in_subquery`: `x NOT IN (SELECT …)` returns no rows at all when the subquery yields
//! a NULL, and PostgreSQL cannot turn it into an anti-join (it hashes the subquery if it fits in
//! work_mem, else re-scans it per row). `NOT EXISTS` has neither problem.

use super::{inner, Lint, LintContext, LintSeverity, Rule};
use pg_query::{protobuf, NodeEnum, NodeRef};

pub const RULE: Rule = Rule {
    name: "not_in_subquery",
    summary: "NOT IN (SELECT …) is NULL-unsafe and cannot become an anti-join; use NOT EXISTS",
    check,
};

fn check(ctx: &LintContext<'_>) -> Vec<Lint> {
    let mut out = Vec::new();
    for n in &ctx.nodes {
        let NodeRef::BoolExpr(b) = n else { continue };
        if b.boolop != protobuf::BoolExprType::NotExpr as i32 {
            continue;
        }
        for arg in &b.args {
            let Some(NodeEnum::SubLink(s)) = arg.node.as_ref() else {
                continue;
            };
            if s.sub_link_type != protobuf::SubLinkType::AnySublink as i32
                || !s.oper_name.is_empty()
            {
                // `= ANY (SELECT …)` has an explicit operator; `IN` has none.
                continue;
            }
            let from = inner(&s.testexpr).map(location).unwrap_or(s.location);
            let (start, mut end) = ctx.span_between(from, s.location);
            // The sublink's location is its `NOT`: take the `IN` after it too.
            let rest = &ctx.original()[end..];
            let skipped = rest.len() - rest.trim_start().len();
            if rest[skipped..]
                .get(..2)
                .is_some_and(|w| w.eq_ignore_ascii_case("in"))
            {
                end += skipped + 2;
            }
            out.push(ctx.lint(
                RULE.name,
                LintSeverity::Warning,
                (start, end),
                "NOT IN (subquery) returns nothing if the subquery yields a NULL, and cannot be \
                 planned as an anti-join",
                "rewrite as NOT EXISTS (SELECT 1 FROM … WHERE inner.col = outer.col)",
            ));
        }
    }
    out
}

/// Best-effort start location of an expression.
fn location(n: &NodeEnum) -> i32 {
    match n {
        NodeEnum::ColumnRef(c) => c.location,
        NodeEnum::AConst(c) => c.location,
        NodeEnum::ParamRef(p) => p.location,
        NodeEnum::TypeCast(t) => inner(&t.arg).map(location).unwrap_or(t.location),
        NodeEnum::FuncCall(f) => f.location,
        NodeEnum::RowExpr(r) => r.location,
        NodeEnum::AExpr(e) => inner(&e.lexpr).map(location).unwrap_or(e.location),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::lints::lint_statement;

    fn spans(sql: &str) -> Vec<&str> {
        lint_statement(sql)
            .into_iter()
            .filter(|l| l.rule == "not_in_subquery")
            .map(|l| &sql[l.start..l.end])
            .collect()
    }

    #[test]
    fn not_in_subquery_is_flagged_from_operand_to_in() {
        assert_eq!(
            spans("SELECT * FROM a WHERE a.id NOT IN (SELECT a_id FROM b)"),
            ["a.id NOT IN"]
        );
    }

    #[test]
    fn not_in_list_and_in_subquery_are_fine() {
        assert!(spans("SELECT * FROM a WHERE id NOT IN (1, 2, 3)").is_empty());
        assert!(spans("SELECT * FROM a WHERE id IN (SELECT a_id FROM b)").is_empty());
        assert!(
            spans("SELECT * FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id)")
                .is_empty()
        );
    }

    #[test]
    fn flagged_in_delete() {
        assert_eq!(
            spans("DELETE FROM a WHERE id NOT IN (SELECT a_id FROM b)").len(),
            1
        );
    }
}
