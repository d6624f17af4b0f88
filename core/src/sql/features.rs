//! A statement's shape as a bag of tokens — its verb, tables, join count, predicate columns and
//! operators, clauses — read from pg_query's parse tree, so statements that do the same kind of
//! work can be grouped into families (the daemon's `analyze::families` vectorizes these tokens
//! with TF-IDF) and families get names people recognise (`users_like_email`).
//!
//! Like [`super::reach`], the walk goes over the serde form of pg_query's protobuf tree, so every
//! clause of every statement kind is seen. A statement that does not parse still gets tokens,
//! from the lexer (words only), so every captured query has a feature vector.

use super::lex::{tokenize, TokenKind};
use super::reach::strings;
use serde_json::Value;
use std::collections::BTreeSet;

/// What a statement looks like, for grouping and naming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlFeatures {
    /// `select`, `insert`, `update`, `delete`, `merge` or `other`.
    pub verb: String,
    /// Relations in order of first appearance, bare names (no schema).
    pub tables: Vec<String>,
    /// Joins: `JOIN` clauses plus comma-separated FROM items beyond the first.
    pub joins: usize,
    /// Column names referenced anywhere (last field of each column reference), sorted.
    pub columns: BTreeSet<String>,
    /// `(column, operator)` of each comparison on a column (`email`, `like`), in order, no
    /// duplicates. Operators are words: `eq ne lt le gt ge like ilike not_like in between
    /// is_null` or `op` for others.
    pub predicates: Vec<(String, String)>,
    /// The token stream: `verb:…`, `table:…`, `joins:…`, `col:…`, `op:…`, `pred:col:op`,
    /// `fn:…`, `clause:…` (no whitespace inside a token).
    pub tokens: Vec<String>,
    /// False when the text did not parse and the tokens come from the lexer alone.
    pub parsed: bool,
}

/// The features of the first statement of `sql` (normalized text with `$n` is fine). Never
/// fails: text pg_query cannot parse gets lexer tokens (`word:…`) and `parsed = false`.
pub fn features(sql: &str) -> SqlFeatures {
    match pg_query::parse(sql, 0) {
        Ok(parsed) => from_tree(&parsed),
        Err(_) => from_lexer(sql),
    }
}

fn from_tree(parsed: &pg_query::ParseResult) -> SqlFeatures {
    let Some(first) = parsed.protobuf.stmts.first() else {
        return SqlFeatures {
            verb: "other".into(),
            parsed: true,
            tokens: vec!["verb:other".into()],
            ..Default::default()
        };
    };
    // Serializing a pg_query tree cannot fail (plain data).
    let tree = serde_json::to_value(first).unwrap_or(Value::Null);
    let mut w = Walk::default();
    w.value(&tree);
    let verb = match first.stmt.as_ref().and_then(|n| n.node.as_ref()) {
        Some(pg_query::NodeEnum::SelectStmt(_)) => "select",
        Some(pg_query::NodeEnum::InsertStmt(_)) => "insert",
        Some(pg_query::NodeEnum::UpdateStmt(_)) => "update",
        Some(pg_query::NodeEnum::DeleteStmt(_)) => "delete",
        Some(pg_query::NodeEnum::MergeStmt(_)) => "merge",
        _ => "other",
    };
    let mut f = SqlFeatures {
        verb: verb.into(),
        tables: w.tables,
        joins: w.joins,
        columns: w.columns,
        predicates: w.predicates,
        tokens: Vec::new(),
        parsed: true,
    };
    f.tokens.push(format!("verb:{verb}"));
    f.tokens
        .extend(f.tables.iter().map(|t| format!("table:{t}")));
    f.tokens.push(format!("joins:{}", f.joins.min(3)));
    f.tokens
        .extend(f.columns.iter().map(|c| format!("col:{c}")));
    let ops: BTreeSet<&str> = f.predicates.iter().map(|(_, o)| o.as_str()).collect();
    f.tokens.extend(ops.iter().map(|o| format!("op:{o}")));
    f.tokens
        .extend(f.predicates.iter().map(|(c, o)| format!("pred:{c}:{o}")));
    f.tokens
        .extend(w.functions.iter().map(|x| format!("fn:{x}")));
    f.tokens
        .extend(w.clauses.iter().map(|x| format!("clause:{x}")));
    f
}

fn from_lexer(sql: &str) -> SqlFeatures {
    let mut words = BTreeSet::new();
    let mut verb = None;
    for t in tokenize(sql) {
        let text = match t.kind {
            TokenKind::Word => t.text(sql).to_ascii_lowercase(),
            TokenKind::QuotedIdent => t.text(sql).trim_matches('"').to_string(),
            _ => continue,
        };
        if verb.is_none() {
            verb = Some(match text.as_str() {
                "select" | "with" | "values" | "table" => "select",
                "insert" => "insert",
                "update" => "update",
                "delete" => "delete",
                "merge" => "merge",
                _ => "other",
            });
        }
        if !text.is_empty() && !text.contains(char::is_whitespace) {
            words.insert(text);
        }
    }
    let verb = verb.unwrap_or("other").to_string();
    let mut tokens = vec![format!("verb:{verb}")];
    tokens.extend(words.iter().map(|w| format!("word:{w}")));
    SqlFeatures {
        verb,
        tokens,
        parsed: false,
        ..Default::default()
    }
}

#[derive(Default)]
struct Walk {
    tables: Vec<String>,
    joins: usize,
    columns: BTreeSet<String>,
    predicates: Vec<(String, String)>,
    functions: BTreeSet<String>,
    clauses: BTreeSet<&'static str>,
}

/// A token-safe word: lowercase, whitespace and `:` replaced.
fn word(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The operator word of an `AExpr` (`name` list, and whether its right side is a list).
fn operator_word(name: &[String], rexpr_is_list: bool) -> Option<&'static str> {
    let op = name.last()?.as_str();
    Some(match op {
        "=" if rexpr_is_list => "in",
        "<>" if rexpr_is_list => "not_in",
        "=" => "eq",
        "<>" | "!=" => "ne",
        "<" => "lt",
        "<=" => "le",
        ">" => "gt",
        ">=" => "ge",
        "~~" => "like",
        "~~*" => "ilike",
        "!~~" | "!~~*" => "not_like",
        "BETWEEN" | "BETWEEN SYMMETRIC" => "between",
        "NOT BETWEEN" | "NOT BETWEEN SYMMETRIC" => "not_between",
        "@>" | "<@" | "&&" | "@@" | "~" | "~*" | "?" => "op",
        _ => return None,
    })
}

/// The column an expression is about: a column reference, or one wrapped in a function call
/// (`lower(email)`) or a cast.
fn column_of(expr: Option<&Value>) -> Option<String> {
    let node = expr?.get("node")?;
    if let Some(c) = node.get("ColumnRef") {
        return strings(c.get("fields")).last().map(|s| word(s));
    }
    if let Some(f) = node.get("FuncCall") {
        let args = f.get("args")?.as_array()?;
        return args.iter().find_map(|a| column_of(Some(a)));
    }
    if let Some(t) = node.get("TypeCast") {
        return column_of(t.get("arg"));
    }
    None
}

fn is_list(expr: Option<&Value>) -> bool {
    expr.and_then(|e| e.get("node"))
        .is_some_and(|n| n.get("List").is_some())
}

impl Walk {
    fn value(&mut self, v: &Value) {
        match v {
            Value::Array(items) => items.iter().for_each(|x| self.value(x)),
            Value::Object(m) => {
                if m.contains_key("relname") && m.contains_key("relpersistence") {
                    if let Some(name) = m.get("relname").and_then(Value::as_str) {
                        let name = word(name);
                        if !self.tables.contains(&name) {
                            self.tables.push(name);
                        }
                    }
                }
                for (k, inner) in m {
                    self.node(k, inner);
                    self.value(inner);
                }
            }
            _ => {}
        }
    }

    fn predicate(&mut self, col: String, op: &str) {
        let p = (col, op.to_string());
        if !self.predicates.contains(&p) {
            self.predicates.push(p);
        }
    }

    fn node(&mut self, tag: &str, n: &Value) {
        let non_empty = |k: &str| match n.get(k) {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        match tag {
            "SelectStmt" => {
                if let Some(Value::Array(from)) = n.get("from_clause") {
                    self.joins += from.len().saturating_sub(1);
                }
                if non_empty("group_clause") {
                    self.clauses.insert("group_by");
                }
                if non_empty("sort_clause") {
                    self.clauses.insert("order_by");
                }
                if non_empty("limit_count") {
                    self.clauses.insert("limit");
                }
                if non_empty("limit_offset") {
                    self.clauses.insert("offset");
                }
                if non_empty("distinct_clause") {
                    self.clauses.insert("distinct");
                }
            }
            "JoinExpr" => self.joins += 1,
            "ColumnRef" => {
                if let Some(last) = strings(n.get("fields")).last() {
                    self.columns.insert(word(last));
                }
            }
            "AExpr" => {
                let name = strings(n.get("name"));
                let Some(op) = operator_word(&name, is_list(n.get("rexpr"))) else {
                    return;
                };
                let col = column_of(n.get("lexpr")).or_else(|| column_of(n.get("rexpr")));
                if let Some(col) = col {
                    self.predicate(col, op);
                }
            }
            "NullTest" => {
                if let Some(col) = column_of(n.get("arg")) {
                    self.predicate(col, "is_null");
                }
            }
            "FuncCall" => {
                if let Some(f) = strings(n.get("funcname")).last() {
                    self.functions.insert(word(f));
                }
            }
            "SubLink" => {
                self.clauses.insert("subquery");
            }
            "LockingClause" => {
                self.clauses.insert("for_update");
            }
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" => {
                if non_empty("returning_list") || non_empty("returning_clause") {
                    self.clauses.insert("returning");
                }
                if non_empty("on_conflict_clause") {
                    self.clauses.insert("on_conflict");
                }
            }
            "WithClause" => {
                self.clauses.insert("cte");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(f: &SqlFeatures, t: &str) -> bool {
        f.tokens.iter().any(|x| x == t)
    }

    #[test]
    fn select_with_like_on_a_function_of_a_column() {
        let f = features("SELECT id FROM public.users WHERE lower(email) LIKE $1 LIMIT 10");
        assert!(f.parsed);
        assert_eq!(f.verb, "select");
        assert_eq!(f.tables, vec!["users"]);
        assert_eq!(f.joins, 0);
        assert_eq!(f.predicates, vec![("email".into(), "like".into())]);
        for t in [
            "verb:select",
            "table:users",
            "joins:0",
            "col:email",
            "col:id",
            "op:like",
            "pred:email:like",
            "fn:lower",
            "clause:limit",
        ] {
            assert!(has(&f, t), "{t} missing from {:?}", f.tokens);
        }
    }

    #[test]
    fn joins_count_join_clauses_and_comma_lists() {
        let f = features(
            "SELECT o.id, sum(oi.price) FROM orders o JOIN order_items oi ON oi.order_id = o.id \
             JOIN products p ON p.id = oi.product_id WHERE o.customer_id = $1 GROUP BY o.id",
        );
        assert_eq!(f.tables, vec!["orders", "order_items", "products"]);
        assert_eq!(f.joins, 2);
        assert!(has(&f, "joins:2") && has(&f, "clause:group_by") && has(&f, "fn:sum"));
        assert!(f.predicates.contains(&("customer_id".into(), "eq".into())));
        let f = features("SELECT 1 FROM a, b, c WHERE a.x = b.y");
        assert_eq!(f.joins, 2);
    }

    #[test]
    fn writes_in_lists_ranges_and_nulls() {
        let f = features("UPDATE coupons SET used = true WHERE code = $1 RETURNING id");
        assert_eq!(f.verb, "update");
        assert_eq!(f.predicates, vec![("code".into(), "eq".into())]);
        assert!(has(&f, "clause:returning"));
        let f =
            features("SELECT * FROM t WHERE a IN ($1, $2) AND b BETWEEN $3 AND $4 AND c IS NULL");
        assert_eq!(
            f.predicates,
            vec![
                ("a".into(), "in".into()),
                ("b".into(), "between".into()),
                ("c".into(), "is_null".into())
            ]
        );
        let f = features("DELETE FROM sessions WHERE expires_at < now()");
        assert_eq!(f.verb, "delete");
        assert_eq!(f.predicates, vec![("expires_at".into(), "lt".into())]);
        let f = features("SELECT * FROM jobs WHERE state = $1 FOR UPDATE SKIP LOCKED");
        assert!(has(&f, "clause:for_update"));
    }

    #[test]
    fn text_that_does_not_parse_still_has_tokens() {
        let f = features("SELEC id FROM users WHERE");
        assert!(!f.parsed);
        assert!(has(&f, "word:users") && has(&f, "verb:other"));
        let f = features("");
        assert_eq!(f.verb, "other");
        assert!(f.tokens.iter().all(|t| !t.contains(char::is_whitespace)));
    }
}
