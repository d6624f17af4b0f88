//! Rule `offset_pagination`: `OFFSET n` reads and throws away n rows on every page, so deep pages
//! get slower and slower. Keyset pagination (`WHERE (k) > (last seen) ORDER BY k LIMIT n`) does
//! not.

use super::{inner, Lint, LintContext, LintSeverity, Rule};
use pg_query::{protobuf, NodeEnum, NodeRef};

pub const RULE: Rule = Rule {
    name: "offset_pagination",
    summary: "OFFSET pagination reads and discards every skipped row; use keyset pagination",
    check,
};

/// Literal offsets below this are not pagination (`OFFSET 1` to skip a header row …).
const SMALL_OFFSET: i64 = 1000;

fn check(ctx: &LintContext<'_>) -> Vec<Lint> {
    let mut out = Vec::new();
    for n in &ctx.nodes {
        let NodeRef::SelectStmt(s) = n else { continue };
        let Some(off) = inner(&s.limit_offset) else {
            continue;
        };
        let (loc, severity) = match off {
            NodeEnum::AConst(c) => match &c.val {
                Some(protobuf::a_const::Val::Ival(i)) if (i.ival as i64) < SMALL_OFFSET => continue,
                _ => (c.location, LintSeverity::Warning),
            },
            NodeEnum::ParamRef(p) => (p.location, LintSeverity::Info),
            NodeEnum::TypeCast(t) => (t.location, LintSeverity::Info),
            _ => (-1, LintSeverity::Info),
        };
        out.push(ctx.lint(
            RULE.name,
            severity,
            ctx.token_span(loc),
            "OFFSET pagination reads and discards every skipped row: deep pages get slow",
            "use keyset pagination: WHERE (sort_key, id) > ($last_key, $last_id) ORDER BY sort_key, \
             id LIMIT n",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::sql::lints::{lint_statement, LintSeverity};

    fn find(sql: &str) -> Vec<(&str, LintSeverity)> {
        lint_statement(sql)
            .into_iter()
            .filter(|l| l.rule == "offset_pagination")
            .map(|l| (&sql[l.start..l.end], l.severity))
            .collect()
    }

    #[test]
    fn parameter_offset_is_information() {
        assert_eq!(
            find("SELECT id FROM t ORDER BY id LIMIT 20 OFFSET ?"),
            [("?", LintSeverity::Info)]
        );
    }

    #[test]
    fn large_literal_offset_is_a_warning() {
        assert_eq!(
            find("SELECT id FROM t ORDER BY id LIMIT 20 OFFSET 50000"),
            [("50000", LintSeverity::Warning)]
        );
    }

    #[test]
    fn small_offset_and_no_offset_are_fine() {
        assert!(find("SELECT id FROM t ORDER BY id LIMIT 20 OFFSET 1").is_empty());
        assert!(find("SELECT id FROM t ORDER BY id LIMIT 20").is_empty());
    }
}
