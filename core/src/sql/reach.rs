//! What a statement can make PostgreSQL run when it is planned: the relations, functions,
//! operators, types and operator classes it names, read from pg_query's complete parse tree.
//!
//! Planning is not harmless: the planner folds IMMUTABLE functions, estimates with STABLE ones,
//! calls operator functions on statistics, and reads the expressions of views, indexes,
//! policies and (for writes) column defaults. The daemon resolves the names found here in the
//! target's catalogs (`pg/trust.rs`) to decide whether planning a statement could run code
//! OptiDB does not trust. Everything here over-approximates on purpose: a name that might be a
//! function call (`t.f` is `f(t)` in PostgreSQL) counts as one, and operators are matched by
//! name in every schema.
//!
//! The walk goes over the serde form of pg_query's protobuf tree, so it visits every node of
//! every statement kind (pg_query's own `nodes()` skips some clauses).

use serde_json::Value;
use std::collections::BTreeSet;

/// A possibly schema-qualified name, as the parser folded it. `schema` is empty when the name
/// is unqualified (it is then resolved through the search path).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualName {
    pub schema: String,
    pub name: String,
}

impl QualName {
    fn from_parts(parts: &[String]) -> Option<QualName> {
        let name = parts.last()?.clone();
        let schema = if parts.len() >= 2 {
            parts[parts.len() - 2].clone()
        } else {
            String::new()
        };
        Some(QualName { schema, name })
    }
}

impl std::fmt::Display for QualName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

/// The kind of the (first) statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    CreateIndex,
    /// Anything else (utility statements, DDL other than CREATE INDEX …).
    Other,
}

impl StatementKind {
    /// SELECT, INSERT, UPDATE, DELETE and MERGE have plans.
    pub fn is_plannable(self) -> bool {
        matches!(
            self,
            StatementKind::Select
                | StatementKind::Insert
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::Merge
        )
    }
}

/// Operators the parser or planner uses without the statement spelling them: comparisons for
/// IN, BETWEEN, CASE, ORDER BY, GROUP BY, DISTINCT, joins, GREATEST/LEAST and min/max.
pub const IMPLICIT_OPERATORS: [&str; 6] = ["=", "<>", "<", ">", "<=", ">="];

/// Everything a statement names that planning it can run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// How many statements the text holds.
    pub statements: usize,
    /// The first statement's kind.
    pub kind: Option<StatementKind>,
    /// Tables, views and CTE names (a CTE name that matches no relation resolves to nothing).
    pub relations: BTreeSet<QualName>,
    /// Functions called by name, aggregates and window functions included.
    pub functions: BTreeSet<QualName>,
    /// Operator names (schema ignored: operators are looked up in every schema), the implicit
    /// comparison operators included.
    pub operators: BTreeSet<String>,
    /// Types named (casts, `IS OF`, …).
    pub types: BTreeSet<QualName>,
    /// Operator classes named (index DDL).
    pub opclasses: BTreeSet<QualName>,
    /// Last fields of qualified column references and of `(x).f`: PostgreSQL reads `t.f` as the
    /// call `f(t)` when `t` has no column `f`.
    pub attribute_names: BTreeSet<String>,
    /// An INSERT, UPDATE, DELETE or MERGE anywhere (data-modifying CTEs included): column
    /// defaults, domains and rules then count too.
    pub writes: bool,
    /// FOR UPDATE / FOR SHARE anywhere.
    pub locks_rows: bool,
    /// SELECT … INTO (creates a table).
    pub creates_table: bool,
}

impl Reach {
    /// Exactly one statement that has a plan.
    pub fn is_one_plannable(&self) -> bool {
        self.statements == 1 && self.kind.is_some_and(StatementKind::is_plannable)
    }

    /// Exactly one plain SELECT that neither writes nor locks rows nor creates a table.
    pub fn is_one_plain_select(&self) -> bool {
        self.statements == 1
            && self.kind == Some(StatementKind::Select)
            && !self.writes
            && !self.locks_rows
            && !self.creates_table
    }

    /// Adds what `other` reaches (a hypothetical index's expressions, for example).
    pub fn merge(&mut self, other: &Reach) {
        self.relations.extend(other.relations.iter().cloned());
        self.functions.extend(other.functions.iter().cloned());
        self.operators.extend(other.operators.iter().cloned());
        self.types.extend(other.types.iter().cloned());
        self.opclasses.extend(other.opclasses.iter().cloned());
        self.attribute_names
            .extend(other.attribute_names.iter().cloned());
        self.writes |= other.writes;
        self.locks_rows |= other.locks_rows;
        self.creates_table |= other.creates_table;
    }
}

/// Parses `sql` (PostgreSQL syntax, `$n` parameters allowed) and collects what it reaches.
pub fn reach(sql: &str) -> Result<Reach, String> {
    let parsed = pg_query::parse(sql, 0).map_err(|e| e.to_string())?;
    Ok(reach_parsed(&parsed))
}

/// [`reach`] of a tree pg_query already parsed.
pub fn reach_parsed(parsed: &pg_query::ParseResult) -> Reach {
    let stmts = &parsed.protobuf.stmts;
    let mut r = Reach {
        statements: stmts.len(),
        kind: stmts.first().map(|s| {
            use pg_query::NodeEnum::*;
            match s.stmt.as_ref().and_then(|n| n.node.as_ref()) {
                Some(SelectStmt(_)) => StatementKind::Select,
                Some(InsertStmt(_)) => StatementKind::Insert,
                Some(UpdateStmt(_)) => StatementKind::Update,
                Some(DeleteStmt(_)) => StatementKind::Delete,
                Some(MergeStmt(_)) => StatementKind::Merge,
                Some(IndexStmt(_)) => StatementKind::CreateIndex,
                _ => StatementKind::Other,
            }
        }),
        ..Reach::default()
    };
    // Serializing a pg_query tree cannot fail (plain data); an empty tree reaches nothing.
    let tree = serde_json::to_value(&parsed.protobuf).unwrap_or(Value::Null);
    walk(&tree, &mut r);
    if r.statements > 0 {
        r.operators
            .extend(IMPLICIT_OPERATORS.iter().map(|s| s.to_string()));
    }
    r
}

/// The `sval`s of a list of `String` nodes (`[{"node": {"String": {"sval": …}}}, …]`); other
/// nodes (`*`, subscripts) are skipped. Shared with the feature tokens (`features.rs`).
pub(crate) fn strings(list: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|n| n.get("node")?.get("String")?.get("sval")?.as_str())
        .map(str::to_string)
        .collect()
}

/// Whether every character of `name` is an operator character.
fn is_operator_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| "+-*/<>=~!@#%^&|`?".contains(c))
}

fn walk(v: &Value, r: &mut Reach) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| walk(x, r)),
        Value::Object(m) => {
            // Structs that appear untagged (typed fields such as InsertStmt.relation or
            // TypeCast.type_name) are recognised by their shape.
            if m.contains_key("relname") && m.contains_key("relpersistence") {
                let schema = m.get("schemaname").and_then(Value::as_str).unwrap_or("");
                if let Some(name) = m.get("relname").and_then(Value::as_str) {
                    r.relations.insert(QualName {
                        schema: schema.to_string(),
                        name: name.to_string(),
                    });
                }
            }
            if m.get("into_clause").is_some_and(|c| !c.is_null()) {
                r.creates_table = true;
            }
            if m.contains_key("names") && m.contains_key("type_oid") {
                if let Some(q) = QualName::from_parts(&strings(m.get("names"))) {
                    r.types.insert(q);
                }
            }
            for (k, inner) in m {
                node(k, inner, r);
                walk(inner, r);
            }
        }
        _ => {}
    }
}

/// What a tagged node (`{"FuncCall": {...}}`) adds.
fn node(tag: &str, n: &Value, r: &mut Reach) {
    match tag {
        "FuncCall" => {
            if let Some(q) = QualName::from_parts(&strings(n.get("funcname"))) {
                r.functions.insert(q);
            }
        }
        "AExpr" => add_operator(&strings(n.get("name")), r),
        "SubLink" => add_operator(&strings(n.get("oper_name")), r),
        "SortBy" => add_operator(&strings(n.get("use_op")), r),
        "ColumnRef" => {
            let fields = strings(n.get("fields"));
            if fields.len() >= 2 {
                if let Some(last) = fields.last() {
                    r.attribute_names.insert(last.clone());
                }
            }
        }
        "AIndirection" => {
            r.attribute_names.extend(strings(n.get("indirection")));
        }
        "IndexElem" => {
            if let Some(q) = QualName::from_parts(&strings(n.get("opclass"))) {
                r.opclasses.insert(q);
            }
        }
        "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => r.writes = true,
        "LockingClause" => r.locks_rows = true,
        _ => {}
    }
}

fn add_operator(name: &[String], r: &mut Reach) {
    if let Some(op) = name.last().filter(|n| is_operator_name(n)) {
        r.operators.insert(op.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> QualName {
        match s.split_once('.') {
            Some((schema, name)) => QualName {
                schema: schema.into(),
                name: name.into(),
            },
            None => QualName {
                schema: String::new(),
                name: s.into(),
            },
        }
    }

    fn names(set: &BTreeSet<QualName>) -> Vec<String> {
        set.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn functions_anywhere_in_a_select() {
        let r = reach(
            "WITH c AS (SELECT m.f1() AS x) \
             SELECT f2(a), (SELECT f3()) FROM t JOIN LATERAL f4(t.id) g ON true \
             WHERE b IN (SELECT f5()) GROUP BY f6(a) HAVING f7() > 1 \
             ORDER BY f8(a) LIMIT f9() OFFSET f10()",
        )
        .unwrap();
        let f = names(&r.functions);
        for want in [
            "m.f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10",
        ] {
            assert!(f.contains(&want.to_string()), "{want} missing from {f:?}");
        }
        assert!(r.relations.contains(&q("t")));
        assert_eq!(r.kind, Some(StatementKind::Select));
        assert!(r.is_one_plain_select());
    }

    #[test]
    fn clauses_pg_query_nodes_skips_are_walked() {
        // VALUES lists, window definitions, DISTINCT ON, LIMIT and function-call arguments.
        let r = reach(
            "SELECT DISTINCT ON (g1(a)) sum(a) OVER (PARTITION BY g2(b) ORDER BY g3(c)) \
             FROM (VALUES (g4(1))) v(a, b, c) LIMIT g5()",
        )
        .unwrap();
        let f = names(&r.functions);
        for want in ["g1", "g2", "g3", "g4", "g5", "sum"] {
            assert!(f.contains(&want.to_string()), "{want} missing from {f:?}");
        }
    }

    #[test]
    fn operators_types_and_attribute_notation() {
        let r = reach(
            "SELECT t.total, (t).price, x::m.money_t, CAST(y AS m.d) FROM m.t \
             WHERE a OPERATOR(m.===) b AND c @@ d AND e LIKE 'x%' AND f = ANY($1) \
             ORDER BY g USING ~<~",
        )
        .unwrap();
        for op in ["===", "@@", "~~", "=", "<", "~<~"] {
            assert!(
                r.operators.contains(op),
                "{op} missing from {:?}",
                r.operators
            );
        }
        assert!(r.types.contains(&q("m.money_t")) && r.types.contains(&q("m.d")));
        assert!(r.attribute_names.contains("total") && r.attribute_names.contains("price"));
        assert!(r.relations.contains(&q("m.t")));
    }

    #[test]
    fn writes_and_their_targets() {
        let r = reach("INSERT INTO m.t (a) VALUES (f())").unwrap();
        assert!(r.writes && r.relations.contains(&q("m.t")));
        assert_eq!(r.kind, Some(StatementKind::Insert));
        let r = reach("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").unwrap();
        assert!(r.writes && !r.is_one_plain_select());
        let r = reach("UPDATE t SET a = 1 WHERE id = $1").unwrap();
        assert!(r.writes && r.is_one_plannable());
        let r = reach("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE").unwrap();
        assert!(r.writes && r.relations.contains(&q("s")));
        assert!(reach("SELECT * FROM t FOR UPDATE").unwrap().locks_rows);
        assert!(reach("SELECT * INTO x FROM t").unwrap().creates_table);
    }

    #[test]
    fn index_ddl() {
        let r = reach(
            "CREATE INDEX ON m.t USING btree (lower(a) m.my_ops, b) INCLUDE (c) WHERE m.f(b) > 0",
        )
        .unwrap();
        assert_eq!(r.kind, Some(StatementKind::CreateIndex));
        assert!(r.relations.contains(&q("m.t")));
        assert!(r.functions.contains(&q("lower")) && r.functions.contains(&q("m.f")));
        assert!(r.opclasses.contains(&q("m.my_ops")));
    }

    #[test]
    fn statement_counts() {
        assert_eq!(reach("SELECT 1; SELECT 2").unwrap().statements, 2);
        assert!(!reach("SELECT 1; SELECT 2").unwrap().is_one_plannable());
        assert!(!reach("VACUUM t").unwrap().is_one_plannable());
        assert!(reach("SELEC 1").is_err());
        assert_eq!(reach("").unwrap().statements, 0);
    }

    #[test]
    fn grammar_functions_are_qualified_with_pg_catalog() {
        let r = reach("SELECT extract(epoch FROM now()), a IS DISTINCT FROM b FROM t").unwrap();
        assert!(r.functions.contains(&q("pg_catalog.extract")));
        assert!(r.functions.contains(&q("now")));
    }
}
