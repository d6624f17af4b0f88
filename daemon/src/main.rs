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
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the query id (fingerprint), normalized text and byte range of each statement.
    Fingerprint(cli::fingerprint::FingerprintArgs),
    /// Measure OptiDB's own speed and print a table.
    Bench(optidb::bench::BenchArgs),
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let result = match args.command {
        Command::Fingerprint(a) => cli::fingerprint::run(&a),
        Command::Bench(a) => optidb::bench::run(&a),
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

#[allow(dead_code)]
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(fut)
}
