//! Rule `select_star_join`: `SELECT *` over a join returns every column of every joined table —
//! duplicate key columns, wide rows, and no index-only scans; the result's shape also changes
//! whenever any of the tables gains a column.

use super::{Lint, LintContext, LintSeverity, Rule};
use pg_query::{NodeEnum, NodeRef};

pub const RULE: Rule = Rule {
    name: "select_star_join",
    summary: "SELECT * over a join returns every column of every table",
    check,
};

fn check(ctx: &LintContext<'_>) -> Vec<Lint> {
    let mut out = Vec::new();
    for n in &ctx.nodes {
        let NodeRef::SelectStmt(s) = n else { continue };
        let joined = s.from_clause.len() > 1
            || s.from_clause
                .iter()
                .any(|f| matches!(f.node, Some(NodeEnum::JoinExpr(_))));
        if !joined {
            continue;
        }
        for t in &s.target_list {
            let Some(NodeEnum::ResTarget(rt)) = t.node.as_ref() else {
                continue;
            };
            let Some(NodeEnum::ColumnRef(c)) = rt.val.as_deref().and_then(|v| v.node.as_ref())
            else {
                continue;
            };
            // Bare `*` only: `t.*` is a deliberate choice of one table.
            if c.fields.len() == 1 && matches!(c.fields[0].node, Some(NodeEnum::AStar(_))) {
                out.push(ctx.lint(
                    RULE.name,
                    LintSeverity::Info,
                    ctx.token_span(c.location),
                    "SELECT * over a join returns every column of every joined table",
                    "list the columns you need (this also allows index-only scans)",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::sql::lints::lint_statement;

    fn spans(sql: &str) -> Vec<&str> {
        lint_statement(sql)
            .into_iter()
            .filter(|l| l.rule == "select_star_join")
            .map(|l| &sql[l.start..l.end])
            .collect()
    }

    #[test]
    fn star_over_join_is_flagged() {
        assert_eq!(
            spans("SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id"),
            ["*"]
        );
        assert_eq!(spans("SELECT * FROM a, b WHERE a.id = b.a_id"), ["*"]);
    }

    #[test]
    fn star_on_one_table_or_qualified_star_is_fine() {
        assert!(spans("SELECT * FROM orders").is_empty());
        assert!(
            spans("SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer_id").is_empty()
        );
        assert!(spans("SELECT count(*) FROM a JOIN b USING (id)").is_empty());
    }
}
