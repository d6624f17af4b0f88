//! Reads the expression strings EXPLAIN prints (`Filter`, `Index Cond`, `Hash Cond`, `Sort Key`
//! …) with PostgreSQL's own parser (pg_query), so the rules get `column operator` pairs instead of
//! raw text. Anything that does not parse yields nothing: one odd condition never costs the plan.
//!
//! Operator vocabulary (what [`CondColumn::operator`] holds):
//! - comparisons as PostgreSQL prints them: `=`, `<>`, `<`, `<=`, `>`, `>=` (`!=` becomes `<>`);
//!   when the column is on the right (`42 < x`) the operator is turned around (`x >`);
//! - pattern matching: `LIKE`, `NOT LIKE`, `ILIKE`, `NOT ILIKE` (PostgreSQL prints `~~`, `!~~`,
//!   `~~*`, `!~~*`), `SIMILAR TO`, `NOT SIMILAR TO`;
//! - lists: `IN` (`= ANY (…)`, `IN (…)`), `NOT IN` (`<> ALL (…)`, `NOT IN (…)`), other
//!   `op ANY` / `op ALL` as `<op> ANY` / `<op> ALL`;
//! - `IS NULL`, `IS NOT NULL`, `IS TRUE`, `IS NOT TRUE`, `IS FALSE`, `IS NOT FALSE`,
//!   `IS UNKNOWN`, `IS NOT UNKNOWN`, `IS DISTINCT FROM`, `IS NOT DISTINCT FROM`, `BETWEEN`,
//!   `NOT BETWEEN`;
//! - a bare boolean column (`Filter: active`) is `=` (`<>` under `NOT`);
//! - any other operator verbatim (`~`, `@>`, `&&`, `@@` …).
//!
//! Under `NOT` the operator is negated (`NOT (a = 1)` → `a <>`; unknown ones get a `NOT ` prefix).
//!
//! Columns are printed without table qualifiers and casts (`(o.status)::text` → `status`); a
//! function of columns keeps its call (`lower((email)::text)` → `lower(email)`); the qualifiers
//! of the columns involved are returned separately so the caller can map them to tables.

use pg_query::protobuf::{self, a_const::Val, AExprKind, BoolExprType, BoolTestType, Node};
use pg_query::protobuf::{NullTestType, SortByDir, SortByNulls};
use pg_query::NodeEnum;

/// A column (or an expression of columns) that a condition tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondColumn {
    /// Column name or expression, without table qualifiers and casts: `email`, `lower(email)`.
    pub column: String,
    /// The qualifier of each column reference in the expression, in order (`None`: unqualified).
    pub qualifiers: Vec<Option<String>>,
    /// See the module documentation for the vocabulary.
    pub operator: String,
}

/// The columns a condition from an EXPLAIN plan tests, with their operators, in reading order.
/// Sub-plan references (`hashed SubPlan 1`) carry no column and are skipped; a string that is not
/// a parsable expression gives an empty list.
pub fn condition_columns(expr: &str) -> Vec<CondColumn> {
    let mut out = Vec::new();
    if let Some(root) = parse_where(expr) {
        visit(&root, false, &mut out);
    }
    out
}

/// The columns tested inside an `OR` whose branches test different columns (`a = 1 OR b = 2`,
/// at the top level or under `AND`): no single index serves such a condition (it takes one
/// index per branch, a BitmapOr, or a UNION), so these columns must not be read as ANDed
/// equality columns. `a = 1 OR a = 2` (one column) is not reported.
pub fn or_columns(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(root) = parse_where(expr) {
        find_or(&root, &mut out);
    }
    out
}

fn find_or(node: &Node, out: &mut Vec<String>) {
    let Some(NodeEnum::BoolExpr(b)) = node.node.as_ref() else {
        return;
    };
    if b.boolop == BoolExprType::AndExpr as i32 {
        for a in &b.args {
            find_or(a, out);
        }
    } else if b.boolop == BoolExprType::OrExpr as i32 {
        let branches: Vec<Vec<String>> = b
            .args
            .iter()
            .map(|a| {
                let mut v = Vec::new();
                visit(a, false, &mut v);
                let mut cols: Vec<String> = v.into_iter().map(|c| c.column).collect();
                cols.sort();
                cols.dedup();
                cols
            })
            .collect();
        if branches.windows(2).any(|w| w[0] != w[1]) {
            for c in branches.into_iter().flatten() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
}

/// A `Sort Key` entry with table qualifiers and casts removed, keeping `DESC`, `USING op` and
/// `NULLS FIRST|LAST` as PostgreSQL printed them: `o.total DESC` → `total DESC`,
/// `((status)::text)` → `status`, `lower((c.email)::text)` → `lower(email)`. A key that does
/// not parse is returned trimmed, as printed.
pub fn sort_key(key: &str) -> String {
    parse_sort_key(key).unwrap_or_else(|| key.trim().to_string())
}

fn parse_sort_key(key: &str) -> Option<String> {
    let select = parse_select(&format!("SELECT 1 ORDER BY {}", neutralize_plan_refs(key)))?;
    let [sort] = select.sort_clause.as_slice() else {
        return None;
    };
    let Some(NodeEnum::SortBy(sort)) = sort.node.as_ref() else {
        return None;
    };
    let mut text = render(sort.node.as_deref()?)?;
    match SortByDir::try_from(sort.sortby_dir) {
        Ok(SortByDir::SortbyDesc) => text.push_str(" DESC"),
        Ok(SortByDir::SortbyUsing) => {
            let op = sort.use_op.last().and_then(string_value)?;
            text.push_str(" USING ");
            text.push_str(op);
        }
        _ => {}
    }
    match SortByNulls::try_from(sort.sortby_nulls) {
        Ok(SortByNulls::SortbyNullsFirst) => text.push_str(" NULLS FIRST"),
        Ok(SortByNulls::SortbyNullsLast) => text.push_str(" NULLS LAST"),
        _ => {}
    }
    Some(text)
}

/// Parses `SELECT 1 WHERE <expr>` and returns the WHERE expression.
fn parse_where(expr: &str) -> Option<Node> {
    if expr.trim().is_empty() {
        return None;
    }
    let select = parse_select(&format!("SELECT 1 WHERE {}", neutralize_plan_refs(expr)))?;
    let select = *select;
    if !select.from_clause.is_empty() || select.target_list.len() != 1 {
        return None;
    }
    select.where_clause.map(|w| *w)
}

/// Parses a single plain SELECT (no set operation, no extra statements).
fn parse_select(sql: &str) -> Option<Box<protobuf::SelectStmt>> {
    let parsed = pg_query::parse(sql, 0).ok()?;
    let mut stmts = parsed.protobuf.stmts.into_iter();
    let (Some(raw), None) = (stmts.next(), stmts.next()) else {
        return None;
    };
    match raw.stmt?.node? {
        NodeEnum::SelectStmt(select) if select.larg.is_none() && select.rarg.is_none() => {
            Some(select)
        }
        _ => None,
    }
}

/// Replaces EXPLAIN's plan references, which are not SQL, with `NULL` so that the rest of the
/// expression parses: `hashed SubPlan 1`, `SubPlan 2`, `InitPlan 1` (and PostgreSQL 17's
/// `(InitPlan 1).col1`, which becomes `(NULL).col1`), and the `alternatives: ` prefix. Text inside
/// quotes is left alone.
fn neutralize_plan_refs(expr: &str) -> String {
    const REFS: [&str; 3] = ["hashed SubPlan ", "SubPlan ", "InitPlan "];
    let mut out = String::with_capacity(expr.len());
    let (mut in_single, mut in_double) = (false, false);
    let mut prev: Option<char> = None;
    let mut i = 0;
    while let Some(c) = expr[i..].chars().next() {
        let rest = &expr[i..];
        let at_word = !in_single
            && !in_double
            && !prev.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '$');
        if at_word {
            if let Some(after) = rest.strip_prefix("alternatives: ") {
                i = expr.len() - after.len();
                continue;
            }
            let hit = REFS.iter().find_map(|r| {
                let after = rest.strip_prefix(r)?;
                let digits =
                    after.len() - after.trim_start_matches(|d: char| d.is_ascii_digit()).len();
                (digits > 0).then_some(r.len() + digits)
            });
            if let Some(len) = hit {
                out.push_str("NULL");
                i += len;
                prev = Some('L');
                continue;
            }
        }
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            _ => {}
        }
        out.push(c);
        prev = Some(c);
        i += c.len_utf8();
    }
    out
}

fn visit(node: &Node, negated: bool, out: &mut Vec<CondColumn>) {
    let node = strip_casts(node);
    let Some(inner) = node.node.as_ref() else {
        return;
    };
    match inner {
        NodeEnum::BoolExpr(b) => {
            let negated = match BoolExprType::try_from(b.boolop) {
                Ok(BoolExprType::NotExpr) => !negated,
                Ok(BoolExprType::AndExpr | BoolExprType::OrExpr) => negated,
                _ => return,
            };
            for arg in &b.args {
                visit(arg, negated, out);
            }
        }
        NodeEnum::AExpr(e) => a_expr(e, negated, out),
        NodeEnum::NullTest(t) => {
            let op = match NullTestType::try_from(t.nulltesttype) {
                Ok(NullTestType::IsNull) => "IS NULL",
                Ok(NullTestType::IsNotNull) => "IS NOT NULL",
                _ => return,
            };
            if let Some(arg) = t.arg.as_deref() {
                emit_one_sided(arg, op, negated, out);
            }
        }
        NodeEnum::BooleanTest(t) => {
            let op = match BoolTestType::try_from(t.booltesttype) {
                Ok(BoolTestType::IsTrue) => "IS TRUE",
                Ok(BoolTestType::IsNotTrue) => "IS NOT TRUE",
                Ok(BoolTestType::IsFalse) => "IS FALSE",
                Ok(BoolTestType::IsNotFalse) => "IS NOT FALSE",
                Ok(BoolTestType::IsUnknown) => "IS UNKNOWN",
                Ok(BoolTestType::IsNotUnknown) => "IS NOT UNKNOWN",
                _ => return,
            };
            if let Some(arg) = t.arg.as_deref() {
                emit_one_sided(arg, op, negated, out);
            }
        }
        NodeEnum::ColumnRef(_) => emit_one_sided(node, "=", negated, out),
        _ => {}
    }
}

fn a_expr(e: &protobuf::AExpr, negated: bool, out: &mut Vec<CondColumn>) {
    let Some(name) = e.name.last().and_then(string_value) else {
        return;
    };
    let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
        return; // prefix operators (`- x`, `@ x`) test no column
    };
    let op = match AExprKind::try_from(e.kind) {
        Ok(AExprKind::AexprOp) => return emit_two_sided(l, &op_name(name), r, negated, out),
        Ok(AExprKind::AexprDistinct) => {
            return emit_two_sided(l, "IS DISTINCT FROM", r, negated, out);
        }
        Ok(AExprKind::AexprNotDistinct) => {
            return emit_two_sided(l, "IS NOT DISTINCT FROM", r, negated, out);
        }
        Ok(AExprKind::AexprOpAny) if name == "=" => "IN".to_string(),
        Ok(AExprKind::AexprOpAny) => format!("{} ANY", op_name(name)),
        Ok(AExprKind::AexprOpAll) if name == "<>" => "NOT IN".to_string(),
        Ok(AExprKind::AexprOpAll) => format!("{} ALL", op_name(name)),
        Ok(AExprKind::AexprIn) if name == "<>" => "NOT IN".to_string(),
        Ok(AExprKind::AexprIn) => "IN".to_string(),
        Ok(AExprKind::AexprLike | AExprKind::AexprIlike) => op_name(name),
        Ok(AExprKind::AexprSimilar) if name == "!~" => "NOT SIMILAR TO".to_string(),
        Ok(AExprKind::AexprSimilar) => "SIMILAR TO".to_string(),
        Ok(AExprKind::AexprBetween | AExprKind::AexprBetweenSym) => "BETWEEN".to_string(),
        Ok(AExprKind::AexprNotBetween | AExprKind::AexprNotBetweenSym) => "NOT BETWEEN".to_string(),
        _ => return,
    };
    emit_one_sided(l, &op, negated, out);
}

/// Operator names as PostgreSQL prints them → the vocabulary.
fn op_name(raw: &str) -> String {
    match raw {
        "~~" => "LIKE",
        "!~~" => "NOT LIKE",
        "~~*" => "ILIKE",
        "!~~*" => "NOT ILIKE",
        "!=" => "<>",
        other => other,
    }
    .to_string()
}

/// The operator that holds when the operands swap sides, for those that have one.
fn commute(op: &str) -> Option<&str> {
    Some(match op {
        "=" | "<>" | "IS DISTINCT FROM" | "IS NOT DISTINCT FROM" => op,
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        _ => return None,
    })
}

/// The operator of `NOT (x op y)`.
fn negate(op: &str) -> String {
    const PAIRS: [(&str, &str); 12] = [
        ("=", "<>"),
        ("<", ">="),
        (">", "<="),
        ("LIKE", "NOT LIKE"),
        ("ILIKE", "NOT ILIKE"),
        ("SIMILAR TO", "NOT SIMILAR TO"),
        ("IN", "NOT IN"),
        ("BETWEEN", "NOT BETWEEN"),
        ("IS NULL", "IS NOT NULL"),
        ("IS TRUE", "IS NOT TRUE"),
        ("IS FALSE", "IS NOT FALSE"),
        ("IS DISTINCT FROM", "IS NOT DISTINCT FROM"),
    ];
    for (a, b) in PAIRS {
        if op == a {
            return b.to_string();
        }
        if op == b {
            return a.to_string();
        }
    }
    match op {
        "IS UNKNOWN" => "IS NOT UNKNOWN".to_string(),
        "IS NOT UNKNOWN" => "IS UNKNOWN".to_string(),
        _ => match op.strip_prefix("NOT ") {
            Some(positive) => positive.to_string(),
            None => format!("NOT {op}"),
        },
    }
}

/// What one side of a comparison is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A column reference (casts aside).
    Column,
    /// A function call over at least one column: `lower(email)`.
    Function,
    /// Any other expression involving columns: `a + b`.
    Expression,
    /// No column at all: a constant, a parameter, a sub-plan.
    NoColumn,
}

fn shape(node: &Node) -> Shape {
    let mut quals = Vec::new();
    collect_columns(node, &mut quals);
    if quals.is_empty() {
        return Shape::NoColumn;
    }
    match strip_casts(node).node.as_ref() {
        Some(NodeEnum::ColumnRef(_)) => Shape::Column,
        Some(NodeEnum::FuncCall(_)) => Shape::Function,
        _ => Shape::Expression,
    }
}

/// `left op right`: reports the left side when it is a column or a function of columns (or an
/// expression compared with a constant), and the same for the right side with the operator
/// turned around, so a join condition `a.x = b.y` reports both columns.
fn emit_two_sided(l: &Node, op: &str, r: &Node, negated: bool, out: &mut Vec<CondColumn>) {
    let op = if negated { negate(op) } else { op.to_string() };
    let (ls, rs) = (shape(l), shape(r));
    let reportable = |me: Shape, other: Shape| match me {
        Shape::Column | Shape::Function => true,
        Shape::Expression => other == Shape::NoColumn,
        Shape::NoColumn => false,
    };
    if reportable(ls, rs) {
        push(l, &op, out);
    }
    if reportable(rs, ls) {
        if let Some(turned) = commute(&op) {
            push(r, turned, out);
        }
    }
}

/// `subject op …` where only the subject can be the column (`x IN (…)`, `x LIKE 'a%'`,
/// `x IS NULL`).
fn emit_one_sided(subject: &Node, op: &str, negated: bool, out: &mut Vec<CondColumn>) {
    if shape(subject) == Shape::NoColumn {
        return;
    }
    let op = if negated { negate(op) } else { op.to_string() };
    push(subject, &op, out);
}

fn push(node: &Node, op: &str, out: &mut Vec<CondColumn>) {
    let Some(column) = render(strip_casts(node)) else {
        return;
    };
    let mut qualifiers = Vec::new();
    collect_columns(node, &mut qualifiers);
    out.push(CondColumn {
        column,
        qualifiers,
        operator: op.to_string(),
    });
}

fn strip_casts(mut node: &Node) -> &Node {
    loop {
        match node.node.as_ref() {
            Some(NodeEnum::TypeCast(t)) => match t.arg.as_deref() {
                Some(arg) => node = arg,
                None => return node,
            },
            Some(NodeEnum::CollateClause(c)) => match c.arg.as_deref() {
                Some(arg) => node = arg,
                None => return node,
            },
            _ => return node,
        }
    }
}

fn string_value(node: &Node) -> Option<&str> {
    match node.node.as_ref()? {
        NodeEnum::String(s) => Some(&s.sval),
        _ => None,
    }
}

/// The qualifier of every column reference under `node` (`o.id` → `Some("o")`, `id` → `None`).
fn collect_columns(node: &Node, out: &mut Vec<Option<String>>) {
    let Some(inner) = node.node.as_ref() else {
        return;
    };
    let each = |nodes: &[Node], out: &mut Vec<Option<String>>| {
        for n in nodes {
            collect_columns(n, out);
        }
    };
    match inner {
        NodeEnum::ColumnRef(c) => {
            let names: Vec<&str> = c.fields.iter().filter_map(string_value).collect();
            if !names.is_empty() {
                let qualifier = (names.len() >= 2).then(|| names[names.len() - 2].to_string());
                out.push(qualifier);
            }
        }
        NodeEnum::TypeCast(t) => t.arg.iter().for_each(|a| collect_columns(a, out)),
        NodeEnum::CollateClause(c) => c.arg.iter().for_each(|a| collect_columns(a, out)),
        NodeEnum::FuncCall(f) => each(&f.args, out),
        NodeEnum::AExpr(e) => {
            e.lexpr.iter().for_each(|a| collect_columns(a, out));
            e.rexpr.iter().for_each(|a| collect_columns(a, out));
        }
        NodeEnum::BoolExpr(b) => each(&b.args, out),
        NodeEnum::NullTest(t) => t.arg.iter().for_each(|a| collect_columns(a, out)),
        NodeEnum::BooleanTest(t) => t.arg.iter().for_each(|a| collect_columns(a, out)),
        NodeEnum::CoalesceExpr(c) => each(&c.args, out),
        NodeEnum::MinMaxExpr(m) => each(&m.args, out),
        NodeEnum::AArrayExpr(a) => each(&a.elements, out),
        NodeEnum::RowExpr(r) => each(&r.args, out),
        NodeEnum::List(l) => each(&l.items, out),
        NodeEnum::AIndirection(a) => a.arg.iter().for_each(|x| collect_columns(x, out)),
        NodeEnum::CaseExpr(c) => {
            c.arg.iter().for_each(|a| collect_columns(a, out));
            each(&c.args, out);
            c.defresult.iter().for_each(|a| collect_columns(a, out));
        }
        NodeEnum::CaseWhen(w) => {
            w.expr.iter().for_each(|a| collect_columns(a, out));
            w.result.iter().for_each(|a| collect_columns(a, out));
        }
        _ => {}
    }
}

/// Renders an expression without casts and table qualifiers; `None` when it cannot be printed.
fn render(node: &Node) -> Option<String> {
    let node = strip_casts(node);
    Some(match node.node.as_ref()? {
        NodeEnum::ColumnRef(c) => match c.fields.last()?.node.as_ref()? {
            NodeEnum::String(s) => quote_ident(&s.sval),
            NodeEnum::AStar(_) => "*".to_string(),
            _ => return None,
        },
        NodeEnum::FuncCall(f) => {
            let name = f.funcname.last().and_then(string_value)?;
            let args = if f.agg_star {
                "*".to_string()
            } else {
                f.args
                    .iter()
                    .map(render)
                    .collect::<Option<Vec<_>>>()?
                    .join(", ")
            };
            let distinct = if f.agg_distinct { "DISTINCT " } else { "" };
            format!("{}({distinct}{args})", ident(name))
        }
        NodeEnum::AConst(c) => match &c.val {
            _ if c.isnull => "NULL".to_string(),
            Some(Val::Ival(i)) => i.ival.to_string(),
            Some(Val::Fval(f)) => f.fval.clone(),
            Some(Val::Boolval(b)) => b.boolval.to_string(),
            Some(Val::Sval(s)) => format!("'{}'", s.sval.replace('\'', "''")),
            Some(Val::Bsval(b)) => b.bsval.clone(),
            None => "NULL".to_string(),
        },
        NodeEnum::ParamRef(p) => format!("${}", p.number),
        NodeEnum::AExpr(e) if e.kind == AExprKind::AexprOp as i32 => {
            let op = e.name.last().and_then(string_value)?;
            let r = operand(e.rexpr.as_deref()?)?;
            match e.lexpr.as_deref() {
                Some(l) => format!("{} {op} {r}", operand(l)?),
                None => format!("{op}{r}"),
            }
        }
        NodeEnum::CoalesceExpr(c) => {
            let args = c.args.iter().map(render).collect::<Option<Vec<_>>>()?;
            format!("COALESCE({})", args.join(", "))
        }
        _ => deparse(node)?,
    })
}

/// An operand inside a rendered operator expression: nested operators get parentheses.
fn operand(node: &Node) -> Option<String> {
    let node = strip_casts(node);
    let text = render(node)?;
    Some(match node.node.as_ref()? {
        NodeEnum::AExpr(_) => format!("({text})"),
        _ => text,
    })
}

/// Last resort for expressions [`render`] does not know: pg_query's deparser, on `SELECT <expr>`.
/// Casts and qualifiers inside stay as they are. The statement around the expression comes from
/// parsing `SELECT 1`, so every enum in it holds a value the deparser accepts.
fn deparse(node: &Node) -> Option<String> {
    let mut select = parse_select("SELECT 1")?;
    let Some(NodeEnum::ResTarget(target)) = select.target_list.first_mut()?.node.as_mut() else {
        return None;
    };
    target.val = Some(Box::new(node.clone()));
    let text = NodeEnum::SelectStmt(select)
        .deparse(Default::default())
        .ok()?;
    text.strip_prefix("SELECT ").map(str::to_string)
}

/// A function name as SQL would print it: bare when it is a plain lower-case name, else quoted.
fn ident(name: &str) -> String {
    if is_plain(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A plain lower-case name: a letter or `_`, then letters, digits, `_` and `$`.
fn is_plain(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
}

/// Whether `name` is a PostgreSQL keyword that cannot stand alone as a column or table name
/// (reserved, column-name or type/function-name keyword; unreserved keywords are fine), read
/// from PostgreSQL's own scanner, as `quote_ident()` decides.
fn is_keyword(name: &str) -> bool {
    match pg_query::scan(name) {
        Ok(scan) => match scan.tokens.as_slice() {
            [t] => t.keyword_kind > protobuf::KeywordKind::UnreservedKeyword as i32,
            _ => false,
        },
        Err(_) => false,
    }
}

/// The one quoting of identifiers every rule shares: a name as SQL needs it — bare when it is a
/// plain lower-case name that is no keyword, else in double quotes with inner quotes doubled
/// (`accountId` → `"accountId"`, `order` → `"order"`, `a"b` → `"a""b"`). Idempotent: a name
/// that is already one well-formed quoted identifier (`"accountId"`, as conditions are rendered)
/// is returned as it is, so nothing is ever quoted twice.
pub fn quote_ident(name: &str) -> String {
    if is_quoted_ident(name) || (is_plain(name) && !name.contains('$') && !is_keyword(name)) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `"…"` with every inner quote doubled: one quoted identifier.
fn is_quoted_ident(name: &str) -> bool {
    let Some(inner) = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .filter(|i| !i.is_empty())
    else {
        return false;
    };
    inner.replace("\"\"", "").find('"').is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(column, qualifiers, operator)` triples, for compact assertions.
    fn cols(expr: &str) -> Vec<(String, Vec<Option<String>>, String)> {
        condition_columns(expr)
            .into_iter()
            .map(|c| (c.column, c.qualifiers, c.operator))
            .collect()
    }

    fn one(column: &str, operator: &str) -> Vec<(String, Vec<Option<String>>, String)> {
        vec![(column.to_string(), vec![None], operator.to_string())]
    }

    fn q(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn plain_equality() {
        assert_eq!(cols("(customer_id = 42)"), one("customer_id", "="));
    }

    #[test]
    fn casts_are_stripped_from_the_column() {
        assert_eq!(
            cols("((status)::text = 'pending'::text)"),
            one("status", "=")
        );
    }

    #[test]
    fn function_of_a_column_is_the_column() {
        assert_eq!(
            cols("(lower((email)::text) = 'x'::text)"),
            one("lower(email)", "=")
        );
        assert_eq!(
            cols("(date_trunc('day'::text, created_at) = '2024-01-01 00:00:00'::timestamp without time zone)"),
            one("date_trunc('day', created_at)", "=")
        );
    }

    #[test]
    fn like_family() {
        assert_eq!(
            cols("((email)::text ~~ '%@example.com'::text)"),
            one("email", "LIKE")
        );
        assert_eq!(cols("(name ~~* 'bob%'::text)"), one("name", "ILIKE"));
        assert_eq!(cols("(name !~~ 'bob%'::text)"), one("name", "NOT LIKE"));
        assert_eq!(cols("(name !~~* 'bob%'::text)"), one("name", "NOT ILIKE"));
        assert_eq!(cols("(name ~ '^b'::text)"), one("name", "~"));
    }

    #[test]
    fn join_condition_reports_both_columns() {
        assert_eq!(
            cols("(o.customer_id = c.id)"),
            vec![
                ("customer_id".to_string(), vec![q("o")], "=".to_string()),
                ("id".to_string(), vec![q("c")], "=".to_string()),
            ]
        );
    }

    #[test]
    fn range_on_typed_literal() {
        assert_eq!(
            cols("(created_at >= '2024-01-01 00:00:00+00'::timestamp with time zone)"),
            one("created_at", ">=")
        );
    }

    #[test]
    fn and_or_and_not() {
        assert_eq!(
            cols("((a = 1) AND (b > 2))"),
            vec![
                ("a".to_string(), vec![None], "=".to_string()),
                ("b".to_string(), vec![None], ">".to_string())
            ]
        );
        assert_eq!(
            cols("((a = 1) OR (NOT (b < 2)))"),
            vec![
                ("a".to_string(), vec![None], "=".to_string()),
                ("b".to_string(), vec![None], ">=".to_string())
            ]
        );
        assert_eq!(
            cols("(NOT ((email)::text ~~ 'a%'::text))"),
            one("email", "NOT LIKE")
        );
    }

    #[test]
    fn any_and_all_are_in_lists() {
        assert_eq!(cols("(x = ANY ('{1,2}'::integer[]))"), one("x", "IN"));
        assert_eq!(cols("(x <> ALL ('{1,2}'::integer[]))"), one("x", "NOT IN"));
        assert_eq!(cols("(x = ANY ($1))"), one("x", "IN"));
        assert_eq!(cols("(x > ANY ('{1,2}'::integer[]))"), one("x", "> ANY"));
        assert_eq!(cols("(x IN (1, 2))"), one("x", "IN"));
    }

    #[test]
    fn null_and_boolean_tests() {
        assert_eq!(cols("(deleted_at IS NULL)"), one("deleted_at", "IS NULL"));
        assert_eq!(
            cols("(deleted_at IS NOT NULL)"),
            one("deleted_at", "IS NOT NULL")
        );
        assert_eq!(
            cols("(NOT (deleted_at IS NULL))"),
            one("deleted_at", "IS NOT NULL")
        );
        assert_eq!(cols("active"), one("active", "="));
        assert_eq!(cols("(NOT active)"), one("active", "<>"));
        assert_eq!(cols("(active IS TRUE)"), one("active", "IS TRUE"));
    }

    #[test]
    fn sub_plans_carry_no_column() {
        assert_eq!(cols("(NOT (hashed SubPlan 1))"), vec![]);
        assert_eq!(cols("(SubPlan 1)"), vec![]);
        assert_eq!(cols("((SubPlan 1) > 10)"), vec![]);
        assert_eq!(cols("((id < 100) OR (hashed SubPlan 2))"), one("id", "<"));
        assert_eq!(
            cols("((alternatives: SubPlan 1 or hashed SubPlan 2) OR (id = 3))"),
            one("id", "=")
        );
        // PostgreSQL 17 prints init-plan outputs as `(InitPlan 1).col1`.
        assert_eq!(cols("(total > (InitPlan 1).col1)"), one("total", ">"));
        // The same words inside a literal are data, not a plan reference.
        assert_eq!(cols("(note = 'SubPlan 1'::text)"), one("note", "="));
    }

    #[test]
    fn parameters() {
        assert_eq!(cols("(customer_id = $1)"), one("customer_id", "="));
        assert_eq!(
            cols("((customer_id = $1) AND ((status)::text = $2))"),
            vec![
                ("customer_id".to_string(), vec![None], "=".to_string()),
                ("status".to_string(), vec![None], "=".to_string())
            ]
        );
        // PostgreSQL 15 prints init-plan results as `$0`.
        assert_eq!(cols("(created_at = $0)"), one("created_at", "="));
    }

    #[test]
    fn column_on_the_right_turns_the_operator_around() {
        assert_eq!(cols("(42 < x)"), one("x", ">"));
        assert_eq!(cols("('a'::text = (s)::text)"), one("s", "="));
    }

    #[test]
    fn expressions_of_columns() {
        // Compared with a constant: the expression is the column.
        assert_eq!(
            cols("((a + b) > 10)"),
            vec![("a + b".to_string(), vec![None, None], ">".to_string())]
        );
        // Compared with another column: only the plain column side is reported.
        assert_eq!(
            cols("(o.created_at > (c.created_at + '400 days'::interval))"),
            vec![("created_at".to_string(), vec![q("o")], ">".to_string())]
        );
        assert_eq!(
            cols("(lower((o.email)::text) = lower((c.email)::text))"),
            vec![
                ("lower(email)".to_string(), vec![q("o")], "=".to_string()),
                ("lower(email)".to_string(), vec![q("c")], "=".to_string()),
            ]
        );
        assert_eq!(
            cols("(COALESCE(a, b) = 1)"),
            vec![(
                "COALESCE(a, b)".to_string(),
                vec![None, None],
                "=".to_string()
            )]
        );
    }

    #[test]
    fn distinct_and_between() {
        assert_eq!(cols("(a IS DISTINCT FROM 1)"), one("a", "IS DISTINCT FROM"));
        assert_eq!(cols("(a BETWEEN 1 AND 2)"), one("a", "BETWEEN"));
    }

    #[test]
    fn unparsable_or_empty_gives_nothing() {
        assert_eq!(cols(""), vec![]);
        assert_eq!(cols(")))(("), vec![]);
        assert_eq!(cols("1) UNION SELECT (2"), vec![]);
        assert_eq!(cols("a = 1; DROP TABLE t"), vec![]);
        assert_eq!(cols("(a = 1)\0"), vec![]);
        assert_eq!(cols("(count(*) > 5)"), vec![]);
    }

    #[test]
    fn quoted_identifiers_stay_quoted() {
        assert_eq!(cols("(\"Order Id\" = 1)"), one("\"Order Id\"", "="));
    }

    #[test]
    fn sort_keys() {
        assert_eq!(sort_key("total DESC"), "total DESC");
        assert_eq!(sort_key("o.customer_id"), "customer_id");
        assert_eq!(sort_key("((status)::text)"), "status");
        assert_eq!(
            sort_key("lower((c.email)::text) DESC NULLS LAST"),
            "lower(email) DESC NULLS LAST"
        );
        assert_eq!(sort_key("created_at NULLS FIRST"), "created_at NULLS FIRST");
        assert_eq!(sort_key("(count(*)) DESC"), "count(*) DESC");
        assert_eq!(sort_key(" not a ( key "), "not a ( key");
    }

    #[test]
    fn other_expression_kinds() {
        let only = |expr: &str| {
            let got = cols(expr);
            assert_eq!(got.len(), 1, "{expr}: {got:?}");
            (got[0].0.clone(), got[0].2.clone())
        };
        let pair = |c: &str, o: &str| (c.to_string(), o.to_string());
        assert_eq!(
            only("((data ->> 'k'::text) = 'v'::text)"),
            pair("data ->> 'k'", "=")
        );
        assert_eq!(only("(GREATEST(a, b) > 1)"), pair("GREATEST(a, b)", ">"));
        assert_eq!(only("(NULLIF(a, 0) = 1)"), pair("NULLIF(a, 0)", "="));
        assert_eq!(only("((a)[1] = 2)"), pair("a[1]", "="));
        assert_eq!(only("(ROW(a, b) = ROW(1, 2))"), pair("ROW(a, b)", "="));
        assert_eq!(only("(CURRENT_DATE > d)"), pair("d", "<"));
        assert_eq!(only("(tags @> '{x}'::text[])"), pair("tags", "@>"));
        assert_eq!(
            only("((name)::text COLLATE \"C\" = 'x'::text)"),
            pair("name", "=")
        );
        assert_eq!(only("(a = (SELECT 1))"), pair("a", "="));
        assert_eq!(only("((- a) > 1)"), pair("-a", ">"));
        assert_eq!(only("(s.t.col = 1)"), pair("col", "="));
        assert_eq!(cols("(s.t.col = 1)")[0].1, vec![q("t")]);
        for odd in [
            "(xmlexists('//x'::text PASSING BY REF doc))",
            "(CASE WHEN a THEN true ELSE false END)",
            "((a, b) = (1, 2))",
            "(a OPERATOR(pg_catalog.=) 1)",
            "(ts @@ '''fat'' & ''rat'''::tsquery)",
            "(NOT (ANY (c.id = (hashed SubPlan 1).col1)))",
            "((InitPlan 1).col1 IS NOT NULL)",
            "(x = ANY ((InitPlan 1).col1))",
            "$1",
            "(1 = 1)",
            "'unterminated",
            "\"",
            "é = 1",
        ] {
            let _ = condition_columns(odd); // no panic, no abort
            let _ = sort_key(odd);
        }
    }

    #[test]
    fn unknown_expressions_fall_back_to_the_deparser() {
        let got = cols("(CASE WHEN (a > 1) THEN b ELSE c END = 1)");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "CASE WHEN a > 1 THEN b ELSE c END");
        assert_eq!(got[0].2, "=");
    }
}
