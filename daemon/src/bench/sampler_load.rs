//! `optidb bench sampler-load`: what the pg_stat_activity sampler (collect/sampler.rs) costs
//! the database's own workload. A throwaway sandbox with pgbench's tables; pgbench runs
//! windows of the same length, alternately without and with the sampler at its default rate
//! (the real `sampler::run`, its own session, in this process). Each "with" window is compared
//! with the mean of the windows on either side and the median of those ratios is reported, so a
//! drift of the machine's speed skews the comparison less; the same ratio between "without"
//! windows alone shows the noise.

use crate::collect::sampler::{self, Samples};
use crate::pg::session::TargetConfig;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Settings of `optidb bench sampler-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct SamplerLoadArgs {
    /// Seconds per pgbench window.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// "With the sampler" windows (each between two windows without).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// pgbench clients (`-c`).
    #[arg(long, default_value_t = 2)]
    pub clients: u32,
    /// pgbench scale (`-i -s`).
    #[arg(long, default_value_t = 10)]
    pub scale: u32,
    /// pgbench's built-in script: select-only (`-S`, the most sensitive: short statements) or
    /// tpcb-like (writes, so some lock waits to sample).
    #[arg(long, default_value = "select-only")]
    pub builtin: String,
    /// The sampler's interval in the "with" windows (the daemon's default).
    #[arg(long, default_value_t = sampler::DEFAULT_INTERVAL_MS)]
    pub interval_ms: u64,
}

/// The measurement.
#[derive(Debug, serde::Serialize)]
pub struct SamplerLoadRow {
    pub builtin: String,
    pub interval_ms: u64,
    pub tps_without: Vec<f64>,
    pub tps_with: Vec<f64>,
    /// Median of (tps with ÷ mean of the windows without around it).
    pub tps_ratio: f64,
    /// Median of (a window without ÷ the mean of the two around it): the noise.
    pub noise_ratio: f64,
    /// Sampler ticks in all "with" windows, and per second.
    pub ticks: u64,
    pub ticks_per_second: f64,
    /// Duration of the last tick seen at the end of each "with" window (ms).
    pub tick_ms: Vec<f64>,
    /// CPU time of the sampler's backend on the target (from /proc), over all "with" windows:
    /// per tick, and as a share of one core — the direct cost, which the tps ratio cannot
    /// resolve on a noisy machine.
    pub backend_cpu_ms_per_tick: f64,
    pub backend_cpu_share_of_one_core: f64,
}

/// User + system CPU time of a process, in ms (0 when unreadable).
fn cpu_ms(pid: i32) -> f64 {
    super::cpu_ms(&format!("/proc/{pid}/stat"))
}

/// Runs the benchmark (see the module documentation).
pub async fn bench_sampler_load(args: &SamplerLoadArgs) -> anyhow::Result<SamplerLoadRow> {
    use crate::sandbox::{Sandbox, SandboxOptions};
    let sandbox = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sandbox.url();
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
    let mut target = TargetConfig::new(url.clone());
    target.sandbox = true;
    let watcher = crate::seed::connect(&url, "optidb-bench").await?;
    let watcher = &watcher;
    let window = |with: bool| {
        let (pgbench, url, target) = (pgbench.clone(), url.clone(), target.clone());
        let args = args.clone();
        async move {
            let samples = Arc::new(Samples::default());
            let task = with.then(|| {
                tokio::spawn(sampler::run(
                    target,
                    samples.clone(),
                    Duration::from_millis(args.interval_ms),
                ))
            });
            // The sampler's backend (application_name optidb), once it is connected.
            let mut backend = None;
            if with {
                for _ in 0..50 {
                    let rows = watcher
                        .query(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = 'optidb'",
                            &[],
                        )
                        .await?;
                    if let Some(r) = rows.first() {
                        let pid: i32 = r.get(0);
                        backend = Some((pid, cpu_ms(pid)));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let out = tokio::process::Command::new(&pgbench)
                .args(["-b", &args.builtin, "-n", "-c", &args.clients.to_string()])
                .args(["-T", &format!("{}", args.seconds.max(1.0).round() as u64)])
                .arg(&url)
                .output()
                .await;
            let backend_cpu = backend.map(|(pid, t0)| cpu_ms(pid) - t0).unwrap_or(0.0);
            if let Some(t) = task {
                t.abort();
            }
            let out = out?;
            let text = String::from_utf8_lossy(&out.stdout);
            anyhow::ensure!(
                out.status.success(),
                "pgbench failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stats = samples.stats();
            Ok::<_, anyhow::Error>((
                tps(&text).ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output: {text}"))?,
                stats.ticks.load(Ordering::Relaxed),
                stats.last_tick_us.load(Ordering::Relaxed) as f64 / 1000.0,
                backend_cpu,
            ))
        }
    };
    let rounds = args.rounds.max(1);
    eprintln!(
        "bench: pgbench {} -c {}, {} s windows, sampler every {} ms in every other window",
        args.builtin, args.clients, args.seconds, args.interval_ms
    );
    let mut without = vec![window(false).await?.0];
    let (mut with, mut ticks, mut tick_ms, mut cpu) = (Vec::new(), 0, Vec::new(), 0.0);
    for i in 0..rounds {
        let (t, n, last, c) = window(true).await?;
        with.push(t);
        ticks += n;
        tick_ms.push(last);
        cpu += c;
        without.push(window(false).await?.0);
        eprintln!(
            "bench: round {}: without {:.0}, with {t:.0}, without {:.0} tps ({n} ticks)",
            i + 1,
            without[i],
            without[i + 1]
        );
    }
    let ratios: Vec<f64> = (0..rounds)
        .map(|i| with[i] / ((without[i] + without[i + 1]) / 2.0))
        .collect();
    let noise: Vec<f64> = (1..without.len().saturating_sub(1))
        .map(|i| without[i] / ((without[i - 1] + without[i + 1]) / 2.0))
        .collect();
    tokio::task::spawn_blocking(move || sandbox.stop()).await??;
    let seconds = rounds as f64 * args.seconds.max(1.0).round();
    Ok(SamplerLoadRow {
        backend_cpu_ms_per_tick: cpu / ticks.max(1) as f64,
        backend_cpu_share_of_one_core: cpu / (seconds * 1000.0),
        builtin: args.builtin.clone(),
        interval_ms: args.interval_ms,
        tps_ratio: median(ratios),
        noise_ratio: median(noise),
        ticks_per_second: ticks as f64 / (rounds as f64 * args.seconds.max(1.0).round()),
        tps_without: without,
        tps_with: with,
        ticks,
        tick_ms,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// pgbench's "tps = 1234.5 (without initial connection time)".
fn tps(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `optidb bench sampler-load`: runs it and prints a table (or JSON).
pub fn main(args: &SamplerLoadArgs, json: bool) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new()?;
    let r = rt.block_on(bench_sampler_load(args))?;
    if json {
        crate::cli::print_line(&serde_json::to_string_pretty(&r)?)?;
        return Ok(crate::cli::exit::OK);
    }
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    crate::cli::print_line(&format!(
        "pgbench {} with the sampler every {} ms vs without\n\
         tps without: {}\ntps with:    {}\n\
         tps ratio (median of with ÷ mean of its neighbours): {:.4} ({:+.2}%)\n\
         noise (same ratio between windows without): {:.4} ({:+.2}%)\n\
         sampler: {} ticks, {:.1} per second; last tick of each window {} ms\n\
         sampler's backend CPU: {:.3} ms per tick, {:.3}% of one core",
        r.builtin,
        r.interval_ms,
        fmt(&r.tps_without),
        fmt(&r.tps_with),
        r.tps_ratio,
        (r.tps_ratio - 1.0) * 100.0,
        r.noise_ratio,
        (r.noise_ratio - 1.0) * 100.0,
        r.ticks,
        r.ticks_per_second,
        r.tick_ms
            .iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.backend_cpu_ms_per_tick,
        r.backend_cpu_share_of_one_core * 100.0
    ))?;
    Ok(crate::cli::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbench_tps_and_medians() {
        let out = "latency average = 0.101 ms\ninitial connection time = 2.0 ms\ntps = 19703.544101 (without initial connection time)\n";
        assert_eq!(tps(out), Some(19703.544101));
        assert_eq!(tps("nothing"), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
