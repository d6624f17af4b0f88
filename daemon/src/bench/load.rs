//! `optidb bench simulate-load`: what simulations cost the database's own workload. A
//! throwaway sandbox with the demo seed and pgbench's tables; the daemon runs in this process
//! (HTTP API, store, simulator, all as in production) and simulations of the seeded slow
//! patterns are sent to it over HTTP while pgbench runs its select-only workload. Windows with
//! and without simulations alternate, so a drift of the machine's speed skews the comparison
//! less; each "with" window is compared with the mean of the windows on either side and the
//! median of those ratios is reported. A row without simulations shows the noise.
//!
//! Two views of the same question: pgbench at full speed (the tps ratio: the share of the
//! machine simulations take) and pgbench at a fixed rate of half its full speed (median and
//! 99th-percentile latency from pgbench's per-transaction log: what the application's users
//! would notice on a database that is not saturated).

use super::cpu_ms;
use crate::bench::percentile;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// Settings of `optidb bench simulate-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Seconds per pgbench window.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// "With simulations" windows per row (each between two windows without).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// pgbench clients (`-c`).
    #[arg(long, default_value_t = 2)]
    pub clients: u32,
    /// pgbench scale (`-i -s`).
    #[arg(long, default_value_t = 10)]
    pub scale: u32,
    /// Also measure pgbench latency (p50, p99) at a fixed rate of half its full speed.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub fixed_rate: bool,
    /// Simulations sent at once, one wave a second: one row each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![3, 30])]
    pub parallel: Vec<usize>,
    /// Also a row with the largest `--parallel` sent back to back (the simulator always busy).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub back_to_back: bool,
    /// The daemon's --sim-concurrency (simulations running at once).
    #[arg(long, default_value_t = 2)]
    pub sim_concurrency: usize,
}

impl LoadArgs {
    /// The rows to measure: the noise, waves of each `parallel`, back to back.
    pub fn loads(&self) -> Vec<Load> {
        let mut out = vec![Load::None];
        out.extend(self.parallel.iter().map(|&p| Load::Waves {
            parallel: p.max(1),
            every: Duration::from_secs(1),
        }));
        if let Some(&p) = self.parallel.iter().max().filter(|_| self.back_to_back) {
            out.push(Load::BackToBack { parallel: p.max(1) });
        }
        out
    }
}

/// How simulations are sent during the "with" windows.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// No simulations at all: the noise of the measurement.
    None,
    /// `parallel` requests at once, a new wave every `every` (or when the last one is back).
    Waves { parallel: usize, every: Duration },
    /// `parallel` clients that each send the next request as soon as the last is answered.
    BackToBack { parallel: usize },
}

impl Load {
    fn describe(self) -> String {
        match self {
            Load::None => "no simulations (noise)".into(),
            Load::Waves { parallel, every } => {
                format!("{parallel} in parallel every {} s", every.as_secs_f64())
            }
            Load::BackToBack { parallel } => format!("{parallel} in parallel, back to back"),
        }
    }
}

/// One measured row.
#[derive(Debug, serde::Serialize)]
pub struct LoadRow {
    pub load: String,
    pub simulations_ok: usize,
    pub simulations_failed: usize,
    /// The first failures' answers (at most 3).
    pub failures: Vec<String>,
    pub simulations_per_second: f64,
    /// Client-side, through HTTP (queueing for a simulation slot included).
    pub sim_p50_ms: f64,
    pub sim_p95_ms: f64,
    /// CPU time per simulation of the target's backends serving OptiDB (its simulation and
    /// collector sessions), from /proc.
    pub backend_cpu_ms_per_sim: f64,
    /// CPU time per simulation of the daemon (this process without the HTTP clients).
    pub daemon_cpu_ms_per_sim: f64,
    pub tps_without: Vec<f64>,
    pub tps_with: Vec<f64>,
    /// Median of (tps with ÷ mean of the windows without around it).
    pub tps_ratio: f64,
    /// Latency at a fixed rate, same scheme (NaN when not measured): median and 99th
    /// percentile of the transactions of a window.
    pub p50_ratio: f64,
    pub p99_ratio: f64,
    /// (p50, p99) ms per window.
    pub latency_without_ms: Vec<(f64, f64)>,
    pub latency_with_ms: Vec<(f64, f64)>,
}

/// One simulation request: a stored query and an index for it.
#[derive(Debug, Clone)]
struct Job {
    query_id: String,
    ddl: String,
}

/// Runs the benchmark (see the module documentation).
pub async fn bench_simulate_load(args: &LoadArgs) -> anyhow::Result<(Vec<LoadRow>, String)> {
    use crate::sandbox::{Sandbox, SandboxOptions};
    let sandbox = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sandbox.url();
    eprintln!("bench: loading the demo seed ...");
    crate::seed::load(&url).await?;
    let jobs = crate::bench::seeded_index_fixes()?;
    {
        let client = crate::seed::connect(&url, "optidb-bench").await?;
        client
            .batch_execute("SELECT pg_stat_statements_reset()")
            .await?;
        for f in &jobs {
            client.batch_execute(&f.sample).await?;
        }
    }
    let store = tempfile::tempdir()?;
    let daemon = crate::daemon::start(crate::daemon::DaemonArgs::from_args(
        [
            "--db",
            &url,
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "0",
            "--sample-interval-ms",
            "0",
            "--sandbox",
            // The rows go beyond the default limit of 60 a minute on purpose.
            "--sim-per-minute",
            "1000000",
            "--sim-concurrency",
            &args.sim_concurrency.to_string(),
            "--store",
            &store.path().display().to_string(),
        ]
        .map(String::from),
    )?)
    .await?;
    let summary = daemon.state.scan_now().await;
    if let Some(e) = &summary.error {
        anyhow::bail!("the scan failed: {e}");
    }
    let base = format!("http://{}", daemon.addr);

    let pgbench = sandbox.bindir().join("pgbench");
    let init = tokio::process::Command::new(&pgbench)
        .args(["-i", "-q", "-s", &args.scale.to_string()])
        .arg(&url)
        .output()
        .await?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );

    let args2 = args.clone();
    let rt = tokio::runtime::Handle::current();
    let client = crate::seed::connect(&url, "optidb-bench").await?;
    let (rows, notes) = tokio::task::spawn_blocking(move || {
        let agent = crate::cli::client::agent();
        let mut usable = Vec::new();
        let mut notes = Vec::new();
        for f in jobs {
            let query_id = optidb_core::sql::fingerprint_only(&f.sample)?;
            let job = Job {
                query_id,
                ddl: f.ddl,
            };
            match simulate(&agent, &base, &job) {
                Ok(()) => usable.push(job),
                Err(e) => notes.push(format!("left out {}: {e}", job.ddl)),
            }
        }
        anyhow::ensure!(!usable.is_empty(), "no seeded pattern can be simulated");
        notes.push(format!(
            "{} simulations cycled: {}",
            usable.len(),
            usable
                .iter()
                .map(|j| j.ddl.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let measure = Measure {
            pgbench,
            url,
            base,
            jobs: Arc::new(usable),
            args: args2,
            rt,
            client,
        };
        let rows = measure.rows()?;
        Ok::<_, anyhow::Error>((rows, notes.join("\n")))
    })
    .await??;
    daemon.stop().await;
    tokio::task::spawn_blocking(move || sandbox.stop()).await??;
    Ok((rows, notes))
}

fn simulate(agent: &ureq::Agent, base: &str, job: &Job) -> Result<(), String> {
    let body = serde_json::json!({"query_id": job.query_id, "ddl": job.ddl});
    let mut resp = agent
        .post(&format!("{base}/simulate"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if status == 200 {
        Ok(())
    } else {
        Err(format!("{status} {text}"))
    }
}

struct Measure {
    pgbench: std::path::PathBuf,
    url: String,
    base: String,
    jobs: Arc<Vec<Job>>,
    args: LoadArgs,
    /// To ask the target which backends are OptiDB's (from this blocking thread).
    rt: tokio::runtime::Handle,
    client: tokio_postgres::Client,
}

/// One pgbench window: throughput, and latency percentiles at a fixed rate (NaN otherwise).
struct Window {
    tps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// What the simulation clients did during the "with" windows of a row.
#[derive(Default)]
struct Sent {
    ok: usize,
    failures: Vec<String>,
    failed: usize,
    latencies_ms: Vec<f64>,
    busy: Duration,
    backend_cpu_ms: f64,
    daemon_cpu_ms: f64,
    /// CPU time of the client threads (each adds its own when it ends).
    client_cpu_ms: f64,
}

impl Measure {
    fn rows(&self) -> anyhow::Result<Vec<LoadRow>> {
        // Full speed first: its tps sets the fixed rate.
        let mut full = Vec::new();
        for load in self.args.loads() {
            eprintln!("bench: pgbench at full speed, {}", load.describe());
            full.push(self.row(load, None)?);
        }
        let rate = full[0].tps_without.iter().sum::<f64>() / full[0].tps_without.len() as f64 / 2.0;
        if self.args.fixed_rate {
            for (i, load) in self.args.loads().into_iter().enumerate() {
                eprintln!(
                    "bench: pgbench at {rate:.0} tps (half speed), {}",
                    load.describe()
                );
                let r = self.row(load, Some(rate))?;
                let row = &mut full[i];
                row.p50_ratio = r.p50_ratio;
                row.p99_ratio = r.p99_ratio;
                row.latency_with_ms = r.latency_with_ms;
                row.latency_without_ms = r.latency_without_ms;
                row.simulations_ok += r.simulations_ok;
                row.simulations_failed += r.simulations_failed;
                row.failures.extend(r.failures);
                row.failures.truncate(3);
            }
        }
        Ok(full)
    }

    /// Alternating windows for one load: without, (with, without) × rounds.
    fn row(&self, load: Load, rate: Option<f64>) -> anyhow::Result<LoadRow> {
        let rounds = self.args.rounds.max(1);
        let mut without = vec![self.pgbench(rate)?];
        let mut with = Vec::new();
        let mut sent = Sent::default();
        for _ in 0..rounds {
            let backends0 = self.backend_cpu_ms()?;
            let process0 = cpu_ms("/proc/self/stat");
            let stop = Arc::new(AtomicBool::new(false));
            let driver = self.drive(load, stop.clone());
            let t0 = Instant::now();
            let w = self.pgbench(rate);
            stop.store(true, Ordering::Relaxed);
            let s = driver
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))?;
            sent.daemon_cpu_ms += cpu_ms("/proc/self/stat") - process0 - s.client_cpu_ms;
            let backends1 = self.backend_cpu_ms()?;
            sent.backend_cpu_ms += backends1
                .iter()
                .map(|(pid, ms)| ms - backends0.get(pid).copied().unwrap_or(0.0))
                .sum::<f64>();
            with.push(w?);
            sent.ok += s.ok;
            sent.failed += s.failed;
            sent.failures.extend(s.failures);
            sent.latencies_ms.extend(s.latencies_ms);
            sent.busy += t0.elapsed();
            without.push(self.pgbench(rate)?);
        }
        let ratio = |pick: fn(&Window) -> f64| {
            let mut r: Vec<f64> = (0..rounds)
                .map(|i| pick(&with[i]) / ((pick(&without[i]) + pick(&without[i + 1])) / 2.0))
                .collect();
            r.sort_by(f64::total_cmp);
            r[rounds / 2]
        };
        sent.latencies_ms.sort_by(f64::total_cmp);
        sent.failures.truncate(3);
        let per_sim = |ms: f64| {
            if sent.ok > 0 {
                ms / sent.ok as f64
            } else {
                f64::NAN
            }
        };
        Ok(LoadRow {
            load: load.describe(),
            simulations_ok: sent.ok,
            simulations_failed: sent.failed,
            failures: sent.failures,
            simulations_per_second: sent.ok as f64 / sent.busy.as_secs_f64().max(1e-9),
            sim_p50_ms: percentile(&sent.latencies_ms, 50.0),
            sim_p95_ms: percentile(&sent.latencies_ms, 95.0),
            backend_cpu_ms_per_sim: per_sim(sent.backend_cpu_ms),
            daemon_cpu_ms_per_sim: per_sim(sent.daemon_cpu_ms),
            tps_without: without.iter().map(|w| w.tps).collect(),
            tps_with: with.iter().map(|w| w.tps).collect(),
            tps_ratio: ratio(|w| w.tps),
            p50_ratio: ratio(|w| w.p50_ms),
            p99_ratio: ratio(|w| w.p99_ms),
            latency_without_ms: without.iter().map(|w| (w.p50_ms, w.p99_ms)).collect(),
            latency_with_ms: with.iter().map(|w| (w.p50_ms, w.p99_ms)).collect(),
        })
    }

    /// One pgbench window, select-only (`-S`), one thread. At a fixed rate, the latencies
    /// come from pgbench's per-transaction log (`-l`).
    fn pgbench(&self, rate: Option<f64>) -> anyhow::Result<Window> {
        let logs = tempfile::tempdir()?;
        let prefix = logs.path().join("tx");
        let mut cmd = std::process::Command::new(&self.pgbench);
        cmd.args(["-n", "-S", "-j", "1"])
            .args(["-c", &self.args.clients.to_string()])
            .args(["-T", &format!("{}", self.args.seconds.max(1.0).round())]);
        if let Some(r) = rate {
            cmd.args(["-R", &format!("{r:.0}"), "-l"])
                .arg(format!("--log-prefix={}", prefix.display()));
        }
        let out = cmd.arg(&self.url).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let number = |prefix: &str| {
            text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(prefix)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
            })
        };
        let tps = number("tps = ").ok_or_else(|| anyhow::anyhow!("no tps in {text}"))?;
        let mut latencies = Vec::new();
        if rate.is_some() {
            for e in std::fs::read_dir(logs.path())? {
                // client_id transaction_no time_us script_no epoch epoch_us [lag_us]
                for line in std::fs::read_to_string(e?.path())?.lines() {
                    if let Some(us) = line
                        .split_whitespace()
                        .nth(2)
                        .and_then(|v| v.parse::<f64>().ok())
                    {
                        latencies.push(us / 1000.0);
                    }
                }
            }
            anyhow::ensure!(!latencies.is_empty(), "pgbench wrote no transaction log");
        }
        latencies.sort_by(f64::total_cmp);
        Ok(Window {
            tps,
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
        })
    }

    /// CPU time (ms) so far of each backend serving OptiDB, by pid.
    fn backend_cpu_ms(&self) -> anyhow::Result<std::collections::HashMap<i32, f64>> {
        let rows = self.rt.block_on(self.client.query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'optidb'",
            &[],
        ))?;
        Ok(rows
            .iter()
            .map(|r| {
                let pid: i32 = r.get(0);
                (pid, cpu_ms(&format!("/proc/{pid}/stat")))
            })
            .collect())
    }

    /// Sends simulations as `load` says until `stop`.
    fn drive(&self, load: Load, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Sent> {
        let jobs = self.jobs.clone();
        let base = self.base.clone();
        let next = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(Mutex::new(Sent::default()));
        let client_thread = || std::thread::Builder::new().name(CLIENT_THREAD.into());
        let coordinator = client_thread().spawn(move || {
            let one = {
                let (sent, jobs, next, base) = (sent.clone(), jobs, next, base);
                move |agent: &ureq::Agent| {
                    let job = &jobs[next.fetch_add(1, Ordering::Relaxed) % jobs.len()];
                    let t = Instant::now();
                    let r = simulate(agent, &base, job);
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let mut s = sent.lock().unwrap_or_else(|e| e.into_inner());
                    match r {
                        Ok(()) => {
                            s.ok += 1;
                            s.latencies_ms.push(ms);
                        }
                        Err(e) => {
                            s.failed += 1;
                            if s.failures.len() < 3 {
                                s.failures.push(e);
                            }
                        }
                    }
                }
            };
            match load {
                Load::None => {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Load::BackToBack { parallel } => {
                    std::thread::scope(|sc| {
                        for _ in 0..parallel {
                            let _ = client_thread().spawn_scoped(sc, || {
                                let agent = crate::cli::client::agent();
                                while !stop.load(Ordering::Relaxed) {
                                    one(&agent);
                                }
                                add_own_cpu(&sent);
                            });
                        }
                    });
                }
                Load::Waves { parallel, every } => {
                    // Workers wait at `start`, send one request, meet at `done`.
                    let start = Barrier::new(parallel + 1);
                    let done = Barrier::new(parallel + 1);
                    let quit = AtomicBool::new(false);
                    std::thread::scope(|sc| {
                        for _ in 0..parallel {
                            let _ = client_thread().spawn_scoped(sc, || {
                                let agent = crate::cli::client::agent();
                                loop {
                                    start.wait();
                                    if quit.load(Ordering::Relaxed) {
                                        break;
                                    }
                                    one(&agent);
                                    done.wait();
                                }
                                add_own_cpu(&sent);
                            });
                        }
                        loop {
                            let t = Instant::now();
                            if stop.load(Ordering::Relaxed) {
                                quit.store(true, Ordering::Relaxed);
                                start.wait();
                                break;
                            }
                            start.wait();
                            done.wait();
                            let left = every.saturating_sub(t.elapsed());
                            // Sleep in small steps so a stop is noticed quickly.
                            let until = Instant::now() + left;
                            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(10).min(left));
                            }
                        }
                    });
                }
            }
            add_own_cpu(&sent);
            std::mem::take(&mut *sent.lock().unwrap_or_else(|e| e.into_inner()))
        });
        coordinator.expect("cannot start the simulation clients")
    }
}

/// The name of the bench's HTTP client threads.
const CLIENT_THREAD: &str = "bench-client";

/// Adds the calling thread's CPU time to the clients' (so it can be left out of the daemon's).
fn add_own_cpu(sent: &Mutex<Sent>) {
    let ms = cpu_ms("/proc/thread-self/stat");
    sent.lock().unwrap_or_else(|e| e.into_inner()).client_cpu_ms += ms;
}
