//! Least privilege, the way the most careful collectors do it (pganalyze's `pganalyze.explain`
//! helper and `pganalyze_explain` role are the model): OptiDB's login role only reads
//! statistics (`pg_monitor`); planning, which needs SELECT rights on the tables, goes through a
//! SECURITY DEFINER function owned by a NOLOGIN role that has those rights and nothing else.
//! Whatever the planner folds while planning through the helper runs as that role, not as
//! OptiDB's, and a SECURITY DEFINER context cannot `SET ROLE` its way back.
//!
//! [`setup_sql`] prints the roles, grants and functions (`optidb setup-sql`); [`find`] checks,
//! at every connect, that the helper is the one OptiDB expects (same source, SECURITY DEFINER,
//! owned by neither a superuser nor OptiDB's own login role) before using it.

use super::session::{quote_ident, MARKER};
use tokio_postgres::Client;

/// Where `optidb setup-sql` puts the helper by default.
pub const DEFAULT_SCHEMA: &str = "optidb";

/// The SQL prepared statement the helper creates (and the unit deallocates after an error).
pub const HELPER_PREPARED: &str = "optidb_helper_plan";

/// The body of `<schema>.explain(query text, search_path text, generic boolean, nparams
/// integer) RETURNS text`: plans exactly one statement (no semicolons, read-only transactions
/// only, never ANALYZE) with the application's search path, as the function's owner.
pub const EXPLAIN_BODY: &str = r#"
DECLARE
  prep text;
  expl text;
  plan text;
BEGIN
  -- optidb plan helper, version 1: plans one statement with this function owner's rights.
  IF pg_catalog.strpos(query, ';') > 0 THEN
    RAISE EXCEPTION 'optidb.explain plans one statement, without semicolons';
  END IF;
  IF pg_catalog.current_setting('transaction_read_only') <> 'on' THEN
    RAISE EXCEPTION 'optidb.explain runs in read-only transactions only';
  END IF;
  IF generic AND pg_catalog.current_setting('server_version_num')::pg_catalog.int4 < 160000 THEN
    prep := 'PREPARE optidb_helper_plan AS ' || query;
    expl := 'EXPLAIN (FORMAT JSON) EXECUTE optidb_helper_plan';
    IF nparams > 0 THEN
      expl := expl || '(' || pg_catalog.array_to_string(pg_catalog.array_fill('NULL'::pg_catalog.text, ARRAY[nparams]), ', ') || ')';
    END IF;
  ELSIF generic THEN
    expl := 'EXPLAIN (GENERIC_PLAN, FORMAT JSON) ' || query;
  ELSE
    expl := 'EXPLAIN (FORMAT JSON) ' || query;
  END IF;
  -- Everything above is computed with search_path = pg_catalog; only the statement itself
  -- sees the application's search path.
  PERFORM pg_catalog.set_config('search_path', search_path, true);
  IF prep IS NOT NULL THEN
    EXECUTE prep;
  END IF;
  EXECUTE expl INTO plan;
  IF prep IS NOT NULL THEN
    DEALLOCATE optidb_helper_plan;
  END IF;
  RETURN plan;
END
"#;

/// The body of `<schema>.column_stats()`: planner statistics per column (no values, only
/// fractions and counts), readable with the plan role's rights.
pub const COLUMN_STATS_BODY: &str = include_str!("../collect/queries/column_stats.sql");

/// The helper as found in the target database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HelperState {
    /// Not installed (or helpers are turned off): plans run with OptiDB's own role.
    #[default]
    Missing,
    /// Installed as expected: `schema` is quoted; `column_stats` whether that function is too.
    Ok { schema: String, column_stats: bool },
    /// Installed but not as OptiDB expects: not used, and why.
    Invalid(String),
}

impl HelperState {
    /// Which role plans statements, for /health and `optidb doctor`.
    pub fn describe(&self) -> String {
        match self {
            HelperState::Missing => {
                "statements are planned with OptiDB's own role (no plan helper installed: \
                 `optidb setup-sql` prints it)"
                    .into()
            }
            HelperState::Ok { schema, .. } => format!(
                "statements are planned through {schema}.explain, with its NOLOGIN owner's rights"
            ),
            HelperState::Invalid(why) => format!(
                "the plan helper is not used ({why}); statements are planned with OptiDB's own role"
            ),
        }
    }
}

const FIND_SQL: &str = "SELECT /* optidb */ p.proname::pg_catalog.text, p.prosrc, p.prosecdef, \
       r.rolsuper, r.rolname = current_user, \
       COALESCE('search_path=pg_catalog' = ANY (p.proconfig), false), \
       pg_catalog.has_function_privilege(p.oid, 'EXECUTE'), \
       pg_catalog.pg_get_function_identity_arguments(p.oid) \
  FROM pg_catalog.pg_proc p \
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
  JOIN pg_catalog.pg_roles r ON r.oid = p.proowner \
 WHERE n.nspname = $1 AND p.proname IN ('explain', 'column_stats')";

/// Finds and checks the helper in `schema` (empty: helpers off). Errors reading the catalog
/// count as "missing": planning then falls back to OptiDB's own role and its grants.
pub async fn find(client: &Client, schema: &str) -> HelperState {
    if schema.is_empty() {
        return HelperState::Missing;
    }
    let rows = match client
        .query_typed(FIND_SQL, &[(&schema, tokio_postgres::types::Type::TEXT)])
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(
                "could not look for the plan helper (planning with OptiDB's own role): {e}"
            );
            return HelperState::Missing;
        }
    };
    let mut explain: Option<Result<(), String>> = None;
    let mut column_stats = false;
    for r in rows {
        let name: String = r.get(0);
        let src: String = r.get(1);
        let secdef: bool = r.get(2);
        let super_owner: bool = r.get(3);
        let own_owner: bool = r.get(4);
        let pinned_path: bool = r.get(5);
        let may_execute: bool = r.get(6);
        let args: String = r.get(7);
        let (expected_src, expected_args) = match name.as_str() {
            "explain" => (
                EXPLAIN_BODY,
                "query text, search_path text, generic boolean, nparams integer",
            ),
            _ => (COLUMN_STATS_BODY, ""),
        };
        if args != expected_args {
            continue; // another overload: not ours
        }
        let verdict = if src != expected_src {
            Err(format!(
                "{schema}.{name} differs from this OptiDB version's: re-run `optidb setup-sql`"
            ))
        } else if !secdef {
            Err(format!("{schema}.{name} is not SECURITY DEFINER"))
        } else if super_owner {
            Err(format!(
                "{schema}.{name} is owned by a superuser: it must belong to the NOLOGIN plan role"
            ))
        } else if own_owner {
            Err(format!(
                "{schema}.{name} is owned by OptiDB's own login role: it must belong to the \
                 NOLOGIN plan role"
            ))
        } else if !pinned_path {
            Err(format!(
                "{schema}.{name} does not pin search_path = pg_catalog"
            ))
        } else if !may_execute {
            Err(format!("OptiDB's role may not execute {schema}.{name}"))
        } else {
            Ok(())
        };
        match name.as_str() {
            "explain" => explain = Some(verdict),
            _ => column_stats = verdict.is_ok(),
        }
    }
    match explain {
        None => HelperState::Missing,
        Some(Err(why)) => HelperState::Invalid(why),
        Some(Ok(())) => HelperState::Ok {
            schema: quote_ident(schema),
            column_stats,
        },
    }
}

/// Names used by [`setup_sql`].
#[derive(Debug, Clone)]
pub struct SetupNames {
    /// OptiDB's login role.
    pub login: String,
    /// The NOLOGIN role that plans.
    pub plan: String,
    /// Schema of the helper functions.
    pub schema: String,
    /// Server major version (13 has no pg_read_all_data).
    pub server_major: u32,
}

impl Default for SetupNames {
    fn default() -> Self {
        SetupNames {
            login: "optidb".into(),
            plan: "optidb_plan".into(),
            schema: DEFAULT_SCHEMA.into(),
            server_major: 15,
        }
    }
}

/// Whether `name` is a plain identifier `optidb setup-sql` accepts for a role or schema.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 63 && super::session::is_plain_ident(name)
}

/// The SQL that creates OptiDB's least-privileged roles and the plan helper. Names must pass
/// [`valid_name`] (they are quoted anyway).
pub fn setup_sql(n: &SetupNames) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let (login, plan, schema) = (q(&n.login), q(&n.plan), q(&n.schema));
    let read_rights = if n.server_major >= 14 {
        format!(
            "GRANT pg_read_all_data TO {plan};  -- planning checks SELECT rights; {plan} never logs in\n"
        )
    } else {
        format!(
            "-- PostgreSQL 13 has no pg_read_all_data: grant SELECT per schema the application uses\n\
             GRANT USAGE ON SCHEMA public TO {plan};\n\
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {plan};\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {plan};\n"
        )
    };
    format!(
        "-- OptiDB: least-privileged roles and the plan helper (see docs/security.md).\n\
-- Run as a superuser. Roles are per cluster; the part after them is per database OptiDB\n\
-- watches. Safe to run again.\n\
\n\
-- 1. The login role reads statistics only: pg_stat_statements (every user's texts),\n\
--    pg_stat_activity, sizes. It cannot read table data and is never a superuser.\n\
DO $$ BEGIN CREATE ROLE {login} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
GRANT pg_monitor TO {login};\n\
-- set its password with: \\password {login}   (or use another authentication method)\n\
\n\
-- 2. The plan role: owns the helper below and has the read rights planning needs.\n\
DO $$ BEGIN CREATE ROLE {plan} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
{read_rights}\
\n\
-- 3. In each database OptiDB watches:\n\
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;  -- needs shared_preload_libraries\n\
-- CREATE EXTENSION IF NOT EXISTS hypopg;            -- what-if simulations (optional)\n\
CREATE SCHEMA IF NOT EXISTS {schema};\n\
REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;\n\
GRANT USAGE ON SCHEMA {schema} TO {login};\n\
\n\
-- Plans one statement (EXPLAIN, never ANALYZE) with {plan}'s rights.\n\
CREATE OR REPLACE FUNCTION {schema}.explain(query text, search_path text, generic boolean, nparams integer)\n\
  RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER\n\
  SET search_path = pg_catalog SET plan_cache_mode = force_generic_plan\n\
  AS $optidb${EXPLAIN_BODY}$optidb$;\n\
ALTER FUNCTION {schema}.explain(text, text, boolean, integer) OWNER TO {plan};\n\
REVOKE ALL ON FUNCTION {schema}.explain(text, text, boolean, integer) FROM PUBLIC;\n\
GRANT EXECUTE ON FUNCTION {schema}.explain(text, text, boolean, integer) TO {login};\n\
\n\
-- Planner statistics per column (fractions and counts, no values), readable by {login}.\n\
CREATE OR REPLACE FUNCTION {schema}.column_stats()\n\
  RETURNS TABLE (table_name text, column_name text, null_frac float8, n_distinct float8,\n\
                 correlation float8, most_common_freqs float8[])\n\
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog\n\
  AS $optidb${COLUMN_STATS_BODY}$optidb$;\n\
ALTER FUNCTION {schema}.column_stats() OWNER TO {plan};\n\
REVOKE ALL ON FUNCTION {schema}.column_stats() FROM PUBLIC;\n\
GRANT EXECUTE ON FUNCTION {schema}.column_stats() TO {login};\n"
    )
}

/// `E'…'`: a string literal that means the same whatever `standard_conforming_strings` is
/// (for the one statement that cannot take a parameter: a role's password).
pub fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `SELECT … FROM <schema>.column_stats()`: the column statistics through the helper.
pub fn column_stats_through(schema: &str) -> String {
    format!("SELECT {MARKER} * FROM {schema}.column_stats()")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_sql_names_the_roles_and_embeds_the_exact_bodies() {
        let sql = setup_sql(&SetupNames::default());
        assert!(sql.contains("GRANT pg_monitor TO \"optidb\";"));
        assert!(sql.contains("CREATE ROLE \"optidb_plan\" NOLOGIN"));
        assert!(sql.contains("GRANT pg_read_all_data TO \"optidb_plan\""));
        assert!(sql.contains(&format!("AS $optidb${EXPLAIN_BODY}$optidb$")));
        assert!(!EXPLAIN_BODY.contains("$optidb$") && !COLUMN_STATS_BODY.contains("$optidb$"));
        assert!(!sql.to_lowercase().contains("superuser;"));
        let old = setup_sql(&SetupNames {
            server_major: 13,
            ..SetupNames::default()
        });
        assert!(
            !old.contains("GRANT pg_read_all_data") && old.contains("GRANT SELECT ON ALL TABLES")
        );
    }

    #[test]
    fn literals_are_quoted_for_either_string_setting() {
        assert_eq!(quote_literal("abc"), "E'abc'");
        assert_eq!(quote_literal("it's"), "E'it''s'");
        assert_eq!(quote_literal(r"a\'b"), r"E'a\\''b'");
    }

    #[test]
    fn names() {
        assert!(valid_name("optidb") && valid_name("_x1"));
        for bad in ["", "Optidb", "a-b", "a b", "1a", "x\"y"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
