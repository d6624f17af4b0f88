//! DDL accepted from callers must be exactly one CREATE INDEX: it is parsed with pg_query and
//! anything else is refused, so a simulation can never be used to run arbitrary SQL. Also
//! normalizes an accepted statement into the form `hypopg_create_index` takes.

use super::error::SimError;
use optidb_core::sql::reach::Reach;
use pg_query::protobuf::IndexStmt;
use pg_query::NodeEnum;

/// Exactly one CREATE INDEX, checked by [`validate`] — the only way to make one, so DDL that
/// was not checked cannot reach PostgreSQL (what-ifs and real mode take this type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedDdl(String);

impl ValidatedDdl {
    /// The DDL as given (trimmed, without a trailing `;`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form `hypopg_create_index` takes (see [`for_hypopg`]).
    pub fn for_hypopg(&self) -> Result<String, SimError> {
        for_hypopg(&self.0)
    }

    /// What building (or planning with) this index can run: its table, the functions and
    /// operators of its expressions and predicate, its operator classes.
    pub fn reach(&self) -> Reach {
        optidb_core::sql::reach::reach(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for ValidatedDdl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `ddl` and returns its IndexStmt, or why it is not exactly one CREATE INDEX.
pub fn parse_create_index(ddl: &str) -> Result<IndexStmt, SimError> {
    if ddl.contains('\0') {
        return Err(SimError::BadDdl("the DDL contains a NUL byte".into()));
    }
    let parsed = pg_query::parse(ddl, 0)
        .map_err(|e| SimError::BadDdl(format!("the DDL does not parse: {e}")))?;
    let stmts = &parsed.protobuf.stmts;
    match stmts.len() {
        0 => return Err(SimError::BadDdl("the DDL is empty".into())),
        1 => {}
        n => {
            return Err(SimError::BadDdl(format!(
                "the DDL holds {n} statements; exactly one CREATE INDEX is accepted"
            )))
        }
    }
    match stmts[0].stmt.as_ref().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::IndexStmt(ix)) => Ok((**ix).clone()),
        Some(other) => Err(SimError::BadDdl(format!(
            "only CREATE INDEX is accepted, this is {}",
            kind_name(other)
        ))),
        None => Err(SimError::BadDdl("the DDL is empty".into())),
    }
}

/// Validates caller DDL: exactly one CREATE INDEX. Returns it trimmed, as given.
pub fn validate(ddl: &str) -> Result<ValidatedDdl, SimError> {
    parse_create_index(ddl)?;
    Ok(ValidatedDdl(
        ddl.trim().trim_end_matches(';').trim().to_string(),
    ))
}

/// The statement `hypopg_create_index` accepts: the same index without CONCURRENTLY and
/// IF NOT EXISTS (hypopg refuses both), deparsed by pg_query.
fn for_hypopg(ddl: &str) -> Result<String, SimError> {
    let mut ix = parse_create_index(ddl)?;
    if !ix.concurrent && !ix.if_not_exists {
        return Ok(ddl.trim().trim_end_matches(';').trim().to_string());
    }
    ix.concurrent = false;
    ix.if_not_exists = false;
    NodeEnum::IndexStmt(Box::new(ix))
        .deparse(Default::default())
        .map_err(|e| SimError::BadDdl(format!("cannot rewrite the DDL for hypopg: {e}")))
}

/// A readable statement kind for error messages ("DROP TABLE", "SELECT", …).
fn kind_name(n: &NodeEnum) -> String {
    let s = match n {
        NodeEnum::SelectStmt(_) => "a SELECT",
        NodeEnum::InsertStmt(_) => "an INSERT",
        NodeEnum::UpdateStmt(_) => "an UPDATE",
        NodeEnum::DeleteStmt(_) => "a DELETE",
        NodeEnum::DropStmt(_) => "a DROP",
        NodeEnum::CreateStmt(_) => "a CREATE TABLE",
        NodeEnum::AlterTableStmt(_) => "an ALTER TABLE",
        NodeEnum::TruncateStmt(_) => "a TRUNCATE",
        NodeEnum::ReindexStmt(_) => "a REINDEX",
        _ => "another kind of statement",
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_create_index_is_accepted() {
        assert!(validate("CREATE INDEX ON orders (customer_id)").is_ok());
        assert!(validate("create unique index o_idx on public.orders using btree (a, b desc) include (c) where d > 0;").is_ok());
        assert!(validate("CREATE INDEX ON t USING gin (name gin_trgm_ops)").is_ok());
        for bad in [
            "",
            "   ",
            "DROP TABLE orders",
            "SELECT 1",
            "CREATE INDEX ON t (a); DROP TABLE t",
            "CREATE INDEX ON t (a); CREATE INDEX ON t (b)",
            "CREATE INDX ON t (a)",
            "CREATE TABLE t (a int)",
            "REINDEX TABLE t",
            "ALTER TABLE t ADD COLUMN b int",
        ] {
            let e = validate(bad).unwrap_err();
            assert!(matches!(e, SimError::BadDdl(_)), "{bad:?}: {e:?}");
        }
        let e = validate("DROP TABLE orders").unwrap_err().to_string();
        assert!(e.contains("only CREATE INDEX"), "{e}");
    }

    #[test]
    fn concurrently_and_if_not_exists_are_removed_for_hypopg() {
        let out =
            for_hypopg("CREATE INDEX CONCURRENTLY IF NOT EXISTS o_c ON public.orders (customer_id) WHERE status = 'x'").unwrap();
        let up = out.to_uppercase();
        assert!(!up.contains("CONCURRENTLY"), "{out}");
        assert!(!up.contains("IF NOT EXISTS"), "{out}");
        assert!(up.contains("CREATE INDEX O_C ON PUBLIC.ORDERS"), "{out}");
        assert!(up.contains("WHERE STATUS = 'X'"), "{out}");
        // Plain DDL passes through untouched.
        assert_eq!(
            for_hypopg("CREATE INDEX ON t (a);").unwrap(),
            "CREATE INDEX ON t (a)"
        );
    }
}
