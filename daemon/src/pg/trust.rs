//! What OptiDB lets PostgreSQL run on its behalf. Planning a statement is not harmless: the
//! planner folds functions declared IMMUTABLE, estimates with STABLE ones, calls operator
//! functions on statistics, and reads the expressions of views, indexes, policies, statistics
//! objects and (for writes) column defaults and domains. Any database user can write such a
//! function, and it would run with OptiDB's role.
//!
//! # The rule
//!
//! A function is trusted when a superuser owns it (PostgreSQL's built-ins, extensions a
//! superuser installed), when it is written in C or `internal` (only superusers can create
//! those), or when the operator allows it (`--trusted-functions schema.name` or `schema.*`,
//! `--trusted-owners role`). Everything else — SQL, PL/pgSQL, PL/Python … functions of
//! ordinary roles — is untrusted, and a statement that can reach one is not planned by OptiDB:
//! it is shown as "not planned: it reaches myschema.f() …, which OptiDB does not run".
//!
//! For EXPLAIN ANALYZE (strict mode), which executes the statement, only built-ins in
//! `pg_catalog` that are not VOLATILE (a few harmless volatile ones excepted) and have no side
//! effects (advisory locks, dblink, sleeping, settings, large objects, notifications,
//! sequences, signalling backends …) are allowed.
//!
//! # How it is checked
//!
//! `optidb_core::sql::reach` lists what a statement names; `queries/untrusted.sql` resolves
//! those names in the catalogs (functions by name on the search path, operators by name in
//! every schema, casts of named types, operator classes, and everything hanging off the
//! relations: views and rules recursively, partitions, index expressions and predicates, CHECK
//! constraints, policies, extended statistics, defaults and domains for writes, aggregate
//! support functions) and returns the untrusted functions it finds. It over-approximates: a
//! function that merely shares a name with one the statement calls counts.
//!
//! The check runs as a guard inside the unit that plans (pg/unit.rs), immediately before the
//! planning statements and in the same transaction: a function created after the check has
//! microseconds, not a scan, to appear. The guard raises an error carrying the list, so the
//! statements after it never run. The least-privilege plan helper (pg/helper.rs) bounds what
//! even a missed function could do.

use super::error::PgError;
use super::pipeline::{Param, Step};
use super::session::{Session, MARKER};
use optidb_core::sql::reach::{QualName, Reach};
use tokio_postgres::types::Type;

/// The untrusted functions a statement reaches (one row each); see the module documentation.
pub const UNTRUSTED_SQL: &str = include_str!("queries/untrusted.sql");

/// Parameter types of [`UNTRUSTED_SQL`] and of [`guard_sql`].
pub const PARAM_TYPES: [Type; 14] = [
    Type::TEXT_ARRAY, // $1 application search path
    Type::TEXT_ARRAY, // $2 relation schemas
    Type::TEXT_ARRAY, // $3 relation names
    Type::TEXT_ARRAY, // $4 function schemas
    Type::TEXT_ARRAY, // $5 function names
    Type::TEXT_ARRAY, // $6 operator names
    Type::TEXT_ARRAY, // $7 type schemas
    Type::TEXT_ARRAY, // $8 type names
    Type::TEXT_ARRAY, // $9 attribute names
    Type::TEXT_ARRAY, // $10 operator class names
    Type::BOOL,       // $11 the statement writes
    Type::TEXT_ARRAY, // $12 trusted functions
    Type::TEXT_ARRAY, // $13 trusted owners
    Type::BOOL,       // $14 strict
];

/// What the guard's error message starts with.
const GUARD_TAG: &str = "optidb-untrusted: ";

/// The guard: no row when nothing untrusted is reached; otherwise it fails with an error whose
/// message carries the list (a text cast to an integer, the one way plain SQL raises an error
/// with a message of its choosing).
pub fn guard_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT {MARKER} CAST('{GUARD_TAG}' || pg_catalog.string_agg(u.what, '; ' ORDER BY u.what) \
             AS pg_catalog.int4) FROM ({UNTRUSTED_SQL}) AS u HAVING pg_catalog.count(*) > 0"
        )
    })
}

/// The list a guard's error carries, if `e` is a guard's error.
pub fn untrusted_in(e: &tokio_postgres::Error) -> Option<String> {
    let db = e.as_db_error()?;
    if db.code().code() != "22P02" {
        return None;
    }
    let msg = db.message();
    let start = msg.find(GUARD_TAG)? + GUARD_TAG.len();
    let rest = &msg[start..];
    Some(rest.strip_suffix('"').unwrap_or(rest).to_string())
}

fn split(names: &std::collections::BTreeSet<QualName>) -> (Param, Param) {
    (
        Param::TextArray(names.iter().map(|n| n.schema.clone()).collect()),
        Param::TextArray(names.iter().map(|n| n.name.clone()).collect()),
    )
}

/// The parameters of [`UNTRUSTED_SQL`] for what `reach` names, planned on `session`'s target.
pub fn params(session: &Session, reach: &Reach, strict: bool) -> Vec<Param> {
    let t = &session.target;
    let (rel_s, rel_n) = split(&reach.relations);
    let (fn_s, fn_n) = split(&reach.functions);
    let (ty_s, ty_n) = split(&reach.types);
    vec![
        Param::TextArray(t.search_path.clone()),
        rel_s,
        rel_n,
        fn_s,
        fn_n,
        Param::TextArray(reach.operators.iter().cloned().collect()),
        ty_s,
        ty_n,
        Param::TextArray(reach.attribute_names.iter().cloned().collect()),
        Param::TextArray(reach.opclasses.iter().map(|o| o.name.clone()).collect()),
        Param::Bool(reach.writes),
        Param::TextArray(t.trust.functions.clone()),
        Param::TextArray(t.trust.owners.clone()),
        Param::Bool(strict),
    ]
}

/// The guard step for a unit (the statement is prepared once per session; it must run with
/// `search_path = pg_catalog`, which units ensure).
pub async fn guard(session: &Session, reach: &Reach, strict: bool) -> Result<Step, PgError> {
    let statement = session.prepared(guard_sql(), &PARAM_TYPES).await?;
    Ok(Step::prepared(statement).params(params(session, reach, strict)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_marked_and_the_guard_wraps_the_list() {
        assert!(UNTRUSTED_SQL.contains(MARKER));
        let g = guard_sql();
        assert!(g.starts_with("SELECT /* optidb */ CAST('optidb-untrusted: '"));
        assert!(g.contains("HAVING pg_catalog.count(*) > 0"));
        // Every parameter is used.
        for i in 1..=PARAM_TYPES.len() {
            assert!(UNTRUSTED_SQL.contains(&format!("${i}")), "${i} unused");
        }
    }
}
