//! `optidb demo`: OptiDB in one command, with nothing installed but PostgreSQL's binaries —
//! a throwaway PostgreSQL (the sandbox), the seeded shop loaded into it, the workload run
//! (phase 1, then phase 2 with lock contention), a summary of what is slow, and the database
//! kept up for exploring until Ctrl-C or SIGTERM.

use optidb_core::format::one_line;
use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::daemon;
use crate::pg::MARKER;
use crate::sandbox::{Sandbox, SandboxOptions};
use crate::seed::{self, SeedOptions};

/// `optidb demo`
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Multiply every workload pattern's call count (1.0 = seed/workload.toml: about 25 s of statements).
    #[arg(long, default_value_t = 1.0)]
    pub calls_scale: f64,
    /// Stop the sandbox and exit once the workload and summary are done, instead of waiting
    /// for Ctrl-C (for scripts and CI).
    #[arg(long)]
    pub exit_after_workload: bool,
}

/// Runs the demo (see the module docs). Progress goes to stderr, the summary to stdout.
pub async fn run(args: DemoArgs) -> Result<()> {
    SeedOptions {
        calls_scale: args.calls_scale,
        phases: seed::PHASES.to_vec(),
    }
    .validate()?;
    let mut shutdown = Shutdown::new()?;

    eprintln!("demo: starting a throwaway PostgreSQL (sandbox) ...");
    let sandbox = Sandbox::start_async(SandboxOptions::default())
        .await
        .context("could not start the sandbox PostgreSQL")?;
    let url = sandbox.url();
    eprintln!("demo: PostgreSQL is up at {url}");

    let store_dir = tempfile::Builder::new()
        .prefix("optidb-demo-store-")
        .tempdir()
        .context("creating the demo's store directory")?;
    let daemon = start_daemon(&url, store_dir.path()).await?;
    let api = format!("http://{}", daemon.addr);
    eprintln!(
        "demo: OptiDB daemon is up at {api} (sampling real-value statements during the workload)"
    );

    let outcome = tokio::select! {
        r = demo_body(&url, &args, &daemon) => r.map(Some),
        sig = shutdown.wait() => {
            eprintln!("demo: {sig} received, stopping");
            Ok(None)
        }
    };
    let waited = match outcome {
        Ok(Some(())) if !args.exit_after_workload => {
            println!("\nThe seeded database stays up at {url}");
            println!("  psql '{url}'");
            println!("\nDashboard: {api}/   (the slow queries, why, the fix, and Run simulation)");
            println!("OptiDB's API serves it at {api}:");
            println!("  curl -X POST {api}/scan      # scan again");
            println!("  curl {api}/health");
            eprintln!("demo: press Ctrl-C to stop it (its data is deleted)");
            let sig = shutdown.wait().await;
            eprintln!("demo: {sig} received, stopping");
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    daemon.stop().await;
    eprintln!("demo: stopping the sandbox ...");
    let stopped = tokio::task::spawn_blocking(move || sandbox.stop())
        .await
        .context("stopping the sandbox")?;
    if let Err(e) = stopped {
        eprintln!("demo: warning: stopping the sandbox failed: {e}");
    }
    waited
}

/// Starts the OptiDB daemon in this process against the sandbox: port 7070 when free, any free
/// port otherwise; no interval scans (the demo scans at each phase boundary); fast sampling.
async fn start_daemon(url: &str, store: &std::path::Path) -> Result<daemon::Running> {
    let mut last_err = None;
    for listen in ["127.0.0.1:7070", "127.0.0.1:0"] {
        let args = daemon::DaemonArgs::from_args(
            [
                "--db",
                url,
                "--listen",
                listen,
                "--interval",
                "0",
                "--sample-interval-ms",
                "100",
                "--sandbox", // the demo's database is a throwaway sandbox: real mode allowed
                "--store",
            ]
            .into_iter()
            .map(String::from)
            .chain(std::iter::once(store.display().to_string())),
        )?;
        match daemon::start(args).await {
            Ok(r) => return Ok(r),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("could not start the daemon")))
}

async fn demo_body(url: &str, args: &DemoArgs, daemon: &daemon::Running) -> Result<()> {
    let load = seed::load_with(url, &mut |line| eprintln!("demo: load: {line}")).await?;
    print!("{}", seed::format_load_summary(&load));

    // The demo owns this database: start pg_stat_statements from the application alone.
    let client = seed::connect(url, "optidb").await?;
    client
        .batch_execute(&format!("{MARKER} SELECT pg_stat_statements_reset()"))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "resetting pg_stat_statements failed: {}",
                seed::db_error(&e)
            )
        })?;

    let mut runs = Vec::new();
    let mut duration = std::time::Duration::ZERO;
    for phase in seed::PHASES {
        let opts = SeedOptions {
            calls_scale: args.calls_scale,
            phases: vec![phase],
        };
        let s =
            seed::run_workload_with(url, &opts, &mut |line| eprintln!("demo: workload: {line}"))
                .await?;
        duration += s.duration;
        runs.extend(s.runs);
        after_phase(daemon, phase).await?;
    }
    let summary = seed::WorkloadSummary { runs, duration };
    print!("{}", seed::format_workload_summary(&summary));
    summary.check()?;

    print!("{}", top_statements(&client, 10).await?);

    Ok(())
}

/// A scan at each phase boundary: the store keeps a snapshot per phase, so interval figures
/// (and the anomaly detector, later) can compare phase 2 with phase 1.
async fn after_phase(daemon: &daemon::Running, phase: u8) -> Result<()> {
    let s = daemon.state.scan_now().await;
    match &s.error {
        None => eprintln!(
            "demo: scan after phase {phase}: {} statements seen, {} queries stored, {} plans in {:.0} ms",
            s.statements_seen, s.queries_stored, s.plans_captured, s.duration_ms
        ),
        Some(e) => anyhow::bail!("the scan after phase {phase} failed: {e} ({})", s.hint.clone().unwrap_or_default()),
    }
    Ok(())
}

/// The `limit` statements with the most total execution time (OptiDB's own excluded).
async fn top_statements(client: &tokio_postgres::Client, limit: i64) -> Result<String> {
    let rows = client
        .query(
            &format!(
                "{MARKER} SELECT s.calls, s.total_exec_time, s.mean_exec_time, s.query \
                 FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
                 WHERE d.datname = current_database() AND s.query NOT LIKE '%/* optidb */%' \
                 ORDER BY s.total_exec_time DESC LIMIT $1"
            ),
            &[&limit],
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!("reading pg_stat_statements failed: {}", seed::db_error(&e))
        })?;
    let mut out = format!(
        "\ntop statements by total time (pg_stat_statements):\n  {:>6} {:>10} {:>9}  query\n",
        "calls", "total ms", "mean ms"
    );
    for row in rows {
        let calls: i64 = row.get(0);
        let total: f64 = row.get(1);
        let mean: f64 = row.get(2);
        let query: String = row.get(3);
        let _ = writeln!(
            out,
            "  {calls:>6} {total:>10.1} {mean:>9.2}  {}",
            one_line(&query, 100)
        );
    }
    Ok(out)
}

/// Ctrl-C and SIGTERM, registered up front so neither kills the process before the sandbox
/// is stopped, and kept registered: a signal that arrives while nothing is waiting for it (between
/// the workload and "press Ctrl-C") is kept for the next wait instead of being lost.
struct Shutdown {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Shutdown {
    fn new() -> Result<Shutdown> {
        #[cfg(unix)]
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Shutdown {
            #[cfg(unix)]
            int: signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?,
            #[cfg(unix)]
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// Waits for the next Ctrl-C or SIGTERM; says which.
    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "Ctrl-C",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_a_bad_scale_before_starting_anything() {
        let e = run(DemoArgs {
            calls_scale: -1.0,
            exit_after_workload: true,
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("calls scale"), "{e}");
    }
}
