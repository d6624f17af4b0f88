//! Entry point of the `optidb` binary: parses arguments and hands off to the library.

use clap::{Parser, Subcommand};
use optidb::cli;
use std::process::ExitCode;

/// OptiDB: find the queries that hurt a PostgreSQL database, explain why, and prove the fix.
#[derive(Debug, Parser)]
#[command(name = "optidb", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    conn: cli::client::DaemonConn,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collect from a PostgreSQL database on an interval and serve the API.
    Daemon(Box<optidb::daemon::DaemonArgs>),
    /// Check SQL files and the SQL in application code for CI (text, JSON or SARIF).
    Check(cli::check::CheckArgs),
    /// Print the query id (fingerprint), normalized text and byte range of each statement.
    Fingerprint(cli::fingerprint::FingerprintArgs),
    /// Start a throwaway PostgreSQL with the seed workload so you can see OptiDB at work.
    Demo(optidb::demo::DemoArgs),
    /// Load the demo schema, data and workload into a database you name.
    Seed(optidb::seed::SeedArgs),
    /// Measure OptiDB's own speed and print a table.
    Bench(optidb::bench::BenchArgs),
    /// Print the SQL that creates OptiDB's least-privileged roles and plan helper.
    SetupSql(cli::setup::SetupSqlArgs),
    /// Check what a database role can do for OptiDB and print the GRANTs that are missing.
    Doctor(cli::setup::DoctorArgs),
    #[command(flatten)]
    Client(cli::client::ClientCommand),
}

fn main() -> ExitCode {
    let args = Cli::parse();
    if !matches!(args.command, Command::Daemon(_)) {
        // Everything else prints its own output: only warnings and errors go to the log.
        optidb::logging::init(optidb::logging::LogFormat::Text, "warn");
    }
    let result = match args.command {
        Command::Fingerprint(a) => cli::fingerprint::run(&a),
        Command::Check(a) => cli::check::run(&args.conn, &a),
        Command::Bench(a) => optidb::bench::run(&a),
        Command::Client(c) => cli::client::run(&args.conn, &c),
        Command::Demo(a) => block_on(optidb::demo::run(a)).map(|()| cli::exit::OK),
        Command::Seed(a) => block_on(optidb::seed::run_cli(a)).map(|()| cli::exit::OK),
        Command::Daemon(a) => {
            optidb::logging::init(a.log_format, optidb::logging::DAEMON_FILTER);
            block_on(optidb::daemon::run(*a)).map(|()| cli::exit::OK)
        }
        Command::SetupSql(a) => block_on_code(cli::setup::run_setup_sql(&a)),
        Command::Doctor(a) => block_on_code(cli::setup::run_doctor(&a)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("optidb: {e:#}");
            ExitCode::from(cli::exit::FAILURE)
        }
    }
}

fn block_on_code<F: std::future::Future<Output = anyhow::Result<u8>>>(
    fut: F,
) -> anyhow::Result<u8> {
    tokio::runtime::Runtime::new()?.block_on(fut)
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(fut)
}
