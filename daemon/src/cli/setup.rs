//! `optidb setup-sql` and `optidb doctor`: the SQL that gives OptiDB exactly the rights it needs
//! (a pg_monitor login role, a NOLOGIN plan role behind a SECURITY DEFINER helper), and a check
//! of what a target's role can do, with the GRANTs that are missing.

use super::{exit, print_line};
use crate::pg::helper::{self, SetupNames};
use crate::pg::{doctor, TargetConfig};

/// Print the SQL that creates OptiDB's least-privileged roles and its plan helper.
#[derive(Debug, Clone, clap::Args)]
pub struct SetupSqlArgs {
    /// OptiDB's login role (reads statistics only).
    #[arg(long, default_value = "optidb")]
    pub login_role: String,
    /// The NOLOGIN role that plans statements (owns the helper, reads tables).
    #[arg(long, default_value = "optidb_plan")]
    pub plan_role: String,
    /// Schema of the helper functions.
    #[arg(long, default_value = helper::DEFAULT_SCHEMA)]
    pub schema: String,
    /// Tailor the SQL to this database's server version (connects and reads it; nothing else).
    #[arg(long, env = "OPTIDB_DB", hide_env_values = true)]
    pub db: Option<String>,
    /// Server major version to write the SQL for when --db is not given.
    #[arg(long, default_value_t = 15)]
    pub server_major: u32,
    /// Run the SQL on --db (which must then be an administrator's login) instead of printing
    /// it; with OPTIDB_LOGIN_PASSWORD set, also give the login role that password.
    #[arg(long, requires = "db")]
    pub apply: bool,
}

/// Check what a target's login role can do for OptiDB and print the SQL that fixes the rest.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Target database (postgres://user@host:port/db or key=value; empty: PG* variables).
    #[arg(long, env = "OPTIDB_DB", default_value = "", hide_env_values = true)]
    pub db: String,
    /// The target is a throwaway sandbox (a superuser login is then only a warning).
    #[arg(long, env = "OPTIDB_SANDBOX", default_value_t = false)]
    pub sandbox: bool,
    /// Schema of the plan helper to look for.
    #[arg(long, env = "OPTIDB_PLAN_HELPER_SCHEMA", default_value = helper::DEFAULT_SCHEMA)]
    pub plan_helper_schema: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `optidb setup-sql`.
pub async fn run_setup_sql(a: &SetupSqlArgs) -> anyhow::Result<u8> {
    for (what, name) in [
        ("--login-role", &a.login_role),
        ("--plan-role", &a.plan_role),
        ("--schema", &a.schema),
    ] {
        if !helper::valid_name(name) {
            eprintln!(
                "optidb: {what} {name:?}: use 1 to 63 lower-case letters, digits or '_', not \
                 starting with a digit"
            );
            return Ok(exit::USAGE);
        }
    }
    let mut server_major = a.server_major;
    if let Some(db) = a.db.as_deref().filter(|d| !d.trim().is_empty()) {
        let mut t = TargetConfig::new(db);
        t.allow_superuser = true; // only reads the version
        match crate::pg::connect(&t).await {
            Ok(s) => server_major = s.server_version_num / 10000,
            Err(e) => {
                eprintln!("optidb: {e} ({})", e.hint());
                return Ok(exit::UNAVAILABLE);
            }
        }
    }
    let sql = helper::setup_sql(&SetupNames {
        login: a.login_role.clone(),
        plan: a.plan_role.clone(),
        schema: a.schema.clone(),
        server_major,
    });
    if !a.apply {
        print_line(sql.trim_end())?;
        return Ok(exit::OK);
    }
    // --apply: OptiDB's own fixed SQL, run with the administrator's login the user named.
    let db = a.db.as_deref().unwrap_or_default();
    let connected = match crate::pg::conninfo::parse(db) {
        Ok(info) => info.connect().await,
        Err(e) => Err(e),
    };
    let client = match connected {
        Ok(c) => c,
        Err(e) => {
            eprintln!("optidb: {e} ({})", e.hint());
            return Ok(exit::UNAVAILABLE);
        }
    };
    client.batch_execute(&sql).await.map_err(|e| {
        anyhow::anyhow!(
            "applying the setup SQL failed: {}",
            crate::pg::PgError::from_pg(e)
        )
    })?;
    if let Some(pw) = std::env::var("OPTIDB_LOGIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        let sql = format!(
            "ALTER ROLE \"{}\" PASSWORD {}",
            a.login_role,
            helper::quote_literal(&pw)
        );
        client.batch_execute(&sql).await.map_err(|e| {
            anyhow::anyhow!(
                "setting the password failed: {}",
                crate::pg::PgError::from_pg(e)
            )
        })?;
    }
    eprintln!(
        "optidb: roles {} and {} and the plan helper in schema {} are ready",
        a.login_role, a.plan_role, a.schema
    );
    Ok(exit::OK)
}

/// `optidb doctor`: exit 0 when OptiDB can work with the target (warnings allowed), 1 when a
/// check failed, 3 when the target cannot be reached.
pub async fn run_doctor(a: &DoctorArgs) -> anyhow::Result<u8> {
    let mut t = TargetConfig::new(a.db.clone());
    t.sandbox = a.sandbox;
    t.helper_schema = a.plan_helper_schema.trim().to_string();
    let report = match doctor::run(&t).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("optidb: {e} ({})", e.hint());
            return Ok(exit::UNAVAILABLE);
        }
    };
    if a.json {
        print_line(&serde_json::to_string_pretty(&report)?)?;
    } else {
        print_line(report.to_text().trim_end())?;
    }
    Ok(if report.ok() { exit::OK } else { exit::FAILURE })
}
