//! Rule `correlated_subquery`: a scalar subquery in the select list that refers to the outer
//! query (`SELECT (SELECT count(*) FROM b WHERE b.a_id = a.id) FROM a`) runs once per outer row
//! (a SubPlan). A join with GROUP BY or a LATERAL join usually runs once in total.

use super::{scope_names, Lint, LintContext, LintSeverity, Rule};
use pg_query::{protobuf, NodeEnum, NodeRef};

pub const RULE: Rule = Rule {
    name: "correlated_subquery",
    summary: "scalar subquery in the select list that refers to the outer query runs once per row",
    check,
};

fn check(ctx: &LintContext<'_>) -> Vec<Lint> {
    let mut out = Vec::new();
    for n in &ctx.nodes {
        let NodeRef::SelectStmt(outer) = n else {
            continue;
        };
        let mut outer_names = Vec::new();
        scope_names(&outer.from_clause, &mut outer_names);
        if outer_names.is_empty() {
            continue;
        }
        for t in &outer.target_list {
            let Some(NodeEnum::ResTarget(rt)) = t.node.as_ref() else {
                continue;
            };
            let Some(NodeEnum::SubLink(link)) = rt.val.as_deref().and_then(|v| v.node.as_ref())
            else {
                continue;
            };
            if link.sub_link_type != protobuf::SubLinkType::ExprSublink as i32 {
                continue;
            }
            let Some(NodeEnum::SelectStmt(sub)) =
                link.subselect.as_deref().and_then(|s| s.node.as_ref())
            else {
                continue;
            };
            let mut inner_names = Vec::new();
            scope_names(&sub.from_clause, &mut inner_names);
            if refers_to(sub, &outer_names, &inner_names) {
                out.push(ctx.lint(
                    RULE.name,
                    LintSeverity::Info,
                    ctx.token_span(link.location),
                    "correlated subquery in the select list runs once per outer row",
                    "join the subquery's table and aggregate with GROUP BY, or use a LATERAL join",
                ));
            }
        }
    }
    out
}

/// Does any qualified column of `sub` name a table of the outer scope that `sub` does not
/// define itself?
fn refers_to(sub: &protobuf::SelectStmt, outer: &[String], own: &[String]) -> bool {
    let node = NodeEnum::SelectStmt(Box::new(sub.clone()));
    node.nodes().into_iter().any(|(n, ..)| {
        let NodeRef::ColumnRef(c) = n else {
            return false;
        };
        if c.fields.len() < 2 {
            return false;
        }
        let Some(NodeEnum::String(q)) = c.fields[c.fields.len() - 2].node.as_ref() else {
            return false;
        };
        let q = q.sval.to_lowercase();
        outer.contains(&q) && !own.contains(&q)
    })
}

#[cfg(test)]
mod tests {
    use crate::sql::lints::lint_statement;

    fn spans(sql: &str) -> Vec<&str> {
        lint_statement(sql)
            .into_iter()
            .filter(|l| l.rule == "correlated_subquery")
            .map(|l| &sql[l.start..l.end])
            .collect()
    }

    #[test]
    fn correlated_scalar_subquery_is_flagged() {
        assert_eq!(
            spans("SELECT a.id, (SELECT count(*) FROM b WHERE b.a_id = a.id) FROM a"),
            ["("]
        );
        assert_eq!(
            spans("SELECT id, (SELECT max(x) FROM b WHERE b.a_id = customers.id) FROM customers"),
            ["("]
        );
    }

    #[test]
    fn uncorrelated_subquery_is_fine() {
        assert!(spans("SELECT a.id, (SELECT count(*) FROM b) FROM a").is_empty());
        assert!(spans("SELECT a.id, (SELECT max(b.x) FROM b) FROM a").is_empty());
        assert!(spans("SELECT a.id FROM a WHERE a.id IN (SELECT b.a_id FROM b)").is_empty());
    }
}
