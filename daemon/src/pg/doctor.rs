//! `optidb doctor`: what a target's login role can and cannot do for OptiDB, and the exact SQL
//! that fixes what is missing — privileges (no superuser, nothing dangerous, pg_monitor, the
//! rights planning needs, or the plan helper), extensions and settings. Runs only OptiDB's own
//! catalog statements, so it may also connect as a superuser to say so.

use super::error::PgError;
use super::helper::HelperState;
use super::session::{self, quote_ident, Session, TargetConfig};
use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check: what was looked at, what was found, and the SQL that fixes it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub role: String,
    pub server_version: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether OptiDB can work with this target as it is (warnings allowed).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// The fixes of the failed and warned checks, in order.
    pub fn fixes(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.status != Status::Ok)
            .filter_map(|c| c.fix.as_deref())
            .collect()
    }

    /// The report as people read it.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "OptiDB doctor for {} as {} (PostgreSQL {})\n\n",
            self.target, self.role, self.server_version
        );
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            s.push_str(&format!("[{mark}] {}: {}\n", c.name, c.detail));
        }
        let fixes = self.fixes();
        if !fixes.is_empty() {
            s.push_str("\nTo fix, run as a superuser in this database:\n\n");
            for f in fixes {
                s.push_str(f);
                if !f.ends_with('\n') {
                    s.push('\n');
                }
            }
        }
        s
    }
}

const FACTS_SQL: &str = "SELECT /* optidb */ \
    pg_catalog.current_setting('server_version'), \
    pg_catalog.current_setting('shared_preload_libraries'), \
    pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'), \
    pg_catalog.current_setting('compute_query_id', true), \
    (SELECT pg_catalog.array_agg(r.rolname::pg_catalog.text ORDER BY r.rolname) FROM pg_catalog.pg_roles r \
      WHERE r.rolname IN ('pg_execute_server_program', 'pg_write_server_files', \
                          'pg_read_server_files', 'pg_write_all_data') \
        AND pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')), \
    (SELECT pg_catalog.array_remove(ARRAY[ \
        CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, \
        CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, \
        CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END, \
        CASE WHEN r.rolreplication THEN 'REPLICATION' END], NULL) \
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), \
    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c \
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
        AND n.nspname NOT LIKE 'pg\\_%' \
        AND NOT pg_catalog.has_table_privilege(c.oid, 'SELECT'))::pg_catalog.int8, \
    pg_catalog.current_database()::pg_catalog.text";

/// The helper's owner, and how many tables it cannot read.
const HELPER_READ_SQL: &str = "SELECT /* optidb */ \
      (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
          AND NOT pg_catalog.has_table_privilege(p.proowner, c.oid, 'SELECT'))::pg_catalog.int8, \
      r.rolname::pg_catalog.text \
  FROM pg_catalog.pg_proc p \
  JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
  JOIN pg_catalog.pg_roles r ON r.oid = p.proowner \
 WHERE pn.nspname = $1 AND p.proname = 'explain'";

/// Connects to `target` (a superuser login is reported, not refused) and checks it.
pub async fn run(target: &TargetConfig) -> Result<Report, PgError> {
    let mut t = target.clone();
    t.allow_superuser = true;
    let s = session::connect(&t).await?;
    check(&s, target).await
}

async fn check(s: &Session, target: &TargetConfig) -> Result<Report, PgError> {
    let row = session::query(s, FACTS_SQL, &[])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| PgError::Db("the server answered no row".into()))?;
    let version: String = row.get(0);
    let preload: String = row.get(1);
    let read_all_stats: bool = row.get(2);
    let compute_query_id: Option<String> = row.get(3);
    let dangerous: Option<Vec<String>> = row.get(4);
    let attributes: Option<Vec<String>> = row.get(5);
    let unreadable: i64 = row.get(6);
    let database: String = row.get(7);
    let user = quote_ident(&s.info.user);
    let mut checks = Vec::new();

    checks.push(if !s.info.is_superuser {
        Check {
            name: "superuser",
            status: Status::Ok,
            detail: format!("{} is not a superuser", s.info.user),
            fix: None,
        }
    } else {
        Check {
            name: "superuser",
            status: if target.sandbox || target.allow_superuser {
                Status::Warn
            } else {
                Status::Fail
            },
            detail: format!(
                "{} is a superuser: OptiDB refuses that on targets not marked --sandbox (unless \
                 --allow-superuser), because anything a database user makes it run would run \
                 with every right on the server",
                s.info.user
            ),
            fix: Some(
                "-- connect as a dedicated role instead; `optidb setup-sql` prints the SQL that \
                 creates it"
                    .into(),
            ),
        }
    });

    let mut too_much: Vec<String> = dangerous.unwrap_or_default();
    too_much.extend(attributes.unwrap_or_default());
    if s.info.is_superuser {
        // A superuser has every right; the superuser check above already says what to do.
    } else if too_much.is_empty() {
        checks.push(Check {
            name: "other rights",
            status: Status::Ok,
            detail: "no server-file, program, write-all, role or RLS-bypass rights".into(),
            fix: None,
        });
    } else {
        let mut fix = String::new();
        for r in &too_much {
            if r.starts_with("pg_") {
                fix.push_str(&format!("REVOKE {r} FROM {user};\n"));
            } else {
                fix.push_str(&format!("ALTER ROLE {user} NO{r};\n"));
            }
        }
        checks.push(Check {
            name: "other rights",
            status: Status::Warn,
            detail: format!("OptiDB needs none of: {}", too_much.join(", ")),
            fix: Some(fix),
        });
    }

    let loaded = preload
        .split(',')
        .any(|l| l.trim().trim_matches('"') == "pg_stat_statements");
    checks.push(match (&s.info.pgss_schema, loaded) {
        (Some(schema), true) => Check {
            name: "pg_stat_statements",
            status: Status::Ok,
            detail: format!("installed in schema {schema} and loaded"),
            fix: None,
        },
        (None, _) => Check {
            name: "pg_stat_statements",
            status: Status::Fail,
            detail: format!("not installed in database {database}"),
            fix: Some(if loaded {
                "CREATE EXTENSION pg_stat_statements;".into()
            } else {
                "-- add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart, then:\n\
                 CREATE EXTENSION pg_stat_statements;"
                    .into()
            }),
        },
        (Some(_), false) => Check {
            name: "pg_stat_statements",
            status: Status::Fail,
            detail: "installed but not in shared_preload_libraries: it records nothing".into(),
            fix: Some(
                "-- add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart"
                    .into(),
            ),
        },
    });

    checks.push(if read_all_stats {
        Check {
            name: "statistics of every user",
            status: Status::Ok,
            detail: "member of pg_read_all_stats (statement texts of all users are visible)".into(),
            fix: None,
        }
    } else {
        Check {
            name: "statistics of every user",
            status: Status::Fail,
            detail: "not a member of pg_read_all_stats: other users' statements are hidden".into(),
            fix: Some(format!("GRANT pg_monitor TO {user};")),
        }
    });

    checks.push(match &s.info.helper {
        HelperState::Ok { schema, .. } => {
            let (missing, owner) = helper_gaps(s).await?;
            if missing == 0 {
                Check {
                    name: "planning",
                    status: Status::Ok,
                    detail: format!(
                        "through {schema}.explain, as {}, which can read every table",
                        owner.unwrap_or_else(|| "its owner".into())
                    ),
                    fix: None,
                }
            } else {
                let owner = owner.unwrap_or_else(|| "optidb_plan".into());
                Check {
                    name: "planning",
                    status: Status::Fail,
                    detail: format!(
                        "through {schema}.explain, but its owner {owner} cannot read {missing} \
                         tables or views (planning checks SELECT rights)"
                    ),
                    fix: Some(format!(
                        "GRANT pg_read_all_data TO {};",
                        quote_ident(&owner)
                    )),
                }
            }
        }
        other => {
            let why = match other {
                HelperState::Invalid(why) => format!("the plan helper is not used: {why}; "),
                _ => String::new(),
            };
            if unreadable == 0 {
                Check {
                    name: "planning",
                    status: Status::Warn,
                    detail: format!(
                        "{why}statements are planned with {}'s own rights (it can read every \
                         table); the plan helper would keep table data out of OptiDB's role",
                        s.info.user
                    ),
                    fix: Some("-- install the plan helper: optidb setup-sql | psql …".into()),
                }
            } else {
                Check {
                    name: "planning",
                    status: Status::Fail,
                    detail: format!(
                        "{why}{} cannot read {unreadable} tables or views, so their statements \
                         cannot be planned (planning checks SELECT rights)",
                        s.info.user
                    ),
                    fix: Some(
                        "-- install the plan role and helper (least privilege): optidb setup-sql | psql …\n\
                         -- or give OptiDB's own role the read rights (simpler, less strict):\n"
                            .to_string()
                            + &format!("-- GRANT pg_read_all_data TO {user};"),
                    ),
                }
            }
        }
    });

    checks.push(match &s.info.hypopg_schema {
        Some(schema) => Check {
            name: "hypopg",
            status: Status::Ok,
            detail: format!("installed in schema {schema}: what-if simulations work"),
            fix: None,
        },
        None => Check {
            name: "hypopg",
            status: Status::Warn,
            detail: "not installed: what-if simulation is unavailable (recommendations are \
                     not verified with hypothetical indexes, and POST /simulate answers \
                     \"hypopg missing\")"
                .into(),
            fix: Some(format!(
                "CREATE EXTENSION hypopg;  -- after installing it for PostgreSQL {major} (Debian/Ubuntu \
                 package postgresql-{major}-hypopg, or build it from github.com/HypoPG/hypopg)",
                major = s.info.version_num / 10000
            )),
        },
    });

    let cqi = compute_query_id.unwrap_or_default();
    checks.push(Check {
        name: "compute_query_id",
        status: if cqi == "off" {
            Status::Warn
        } else {
            Status::Ok
        },
        detail: if cqi.is_empty() {
            "not available before PostgreSQL 14".into()
        } else {
            format!(
                "{cqi} (pg_stat_activity shows query ids when on, or auto with pg_stat_statements)"
            )
        },
        fix: (cqi == "off").then(|| "ALTER SYSTEM SET compute_query_id = 'auto';".into()),
    });

    Ok(Report {
        target: target.display(),
        role: s.info.user.clone(),
        server_version: version,
        checks,
    })
}

/// How many tables the helper's owner cannot read, and who the owner is.
async fn helper_gaps(s: &Session) -> Result<(i64, Option<String>), PgError> {
    let schema = &s.target.helper_schema;
    let rows = session::query(
        s,
        HELPER_READ_SQL,
        &[(&schema, tokio_postgres::types::Type::TEXT)],
    )
    .await?;
    Ok(match rows.first() {
        Some(r) => (r.get(0), r.get(1)),
        None => (0, None),
    })
}
