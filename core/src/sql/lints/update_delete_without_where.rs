//! Rule `update_delete_without_where`: an `UPDATE` or `DELETE` with no `WHERE` touches every row
//! of the table — rarely what an application statement means, and slow and lock-heavy when it is.

use super::{Lint, LintContext, LintSeverity, Rule};
use pg_query::NodeEnum;

pub const RULE: Rule = Rule {
    name: "update_delete_without_where",
    summary: "UPDATE or DELETE without WHERE changes every row of the table",
    check,
};

fn check(ctx: &LintContext<'_>) -> Vec<Lint> {
    let mut out = Vec::new();
    for s in &ctx.stmts {
        let (verb, table, loc) = match s {
            NodeEnum::UpdateStmt(u) if u.where_clause.is_none() => {
                let r = u.relation.as_ref();
                (
                    "UPDATE",
                    r.map(|r| r.relname.as_str()),
                    r.map(|r| r.location),
                )
            }
            NodeEnum::DeleteStmt(d) if d.where_clause.is_none() => {
                let r = d.relation.as_ref();
                (
                    "DELETE",
                    r.map(|r| r.relname.as_str()),
                    r.map(|r| r.location),
                )
            }
            _ => continue,
        };
        let (start, _) = ctx.statement_span();
        let (_, end) = ctx.token_span(loc.unwrap_or(-1));
        let table = table.unwrap_or("the table");
        let help = if verb == "DELETE" {
            format!("add a WHERE clause; to empty the table on purpose, TRUNCATE {table} is faster")
        } else {
            "add a WHERE clause (or mark the intent with WHERE true)".to_string()
        };
        out.push(ctx.lint(
            RULE.name,
            LintSeverity::Warning,
            (start, end.max(start)),
            format!("{verb} without WHERE changes every row of {table}"),
            help,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::sql::lints::lint_statement;

    fn spans(sql: &str) -> Vec<&str> {
        lint_statement(sql)
            .into_iter()
            .filter(|l| l.rule == "update_delete_without_where")
            .map(|l| &sql[l.start..l.end])
            .collect()
    }

    #[test]
    fn update_without_where_is_flagged_up_to_the_table() {
        assert_eq!(
            spans("UPDATE accounts SET balance = 0"),
            ["UPDATE accounts"]
        );
    }

    #[test]
    fn delete_without_where_is_flagged() {
        assert_eq!(spans("DELETE FROM sessions"), ["DELETE FROM sessions"]);
    }

    #[test]
    fn with_where_is_fine() {
        assert!(spans("UPDATE accounts SET balance = 0 WHERE id = ?").is_empty());
        assert!(spans("DELETE FROM sessions WHERE expires_at < now()").is_empty());
        assert!(spans("SELECT * FROM sessions").is_empty());
    }
}
