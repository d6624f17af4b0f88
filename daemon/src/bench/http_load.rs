//! `optidb bench http-load`: what N concurrent API requests cost the daemon. A throwaway
//! sandbox with a small schema and workload; the daemon runs as a child process (this binary's
//! `daemon` subcommand, with its defaults) so its memory is measured alone; after one scan, N
//! tokio tasks each open a connection and send `GET /bottlenecks` at once, while one more task
//! asks `GET /health` every 100 ms. Reported: answers by kind, latency, /health's latency
//! during the flood, and the daemon's peak RSS (VmHWM in /proc/<pid>/status).
//!
//! The client is a few lines of HTTP/1.1 over `tokio::net::TcpStream` (`Connection: close`,
//! read to the end, parse the status line): no client library's pooling or limits in between.

use crate::bench::percentile;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Settings of `optidb bench http-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLoadArgs {
    /// Concurrent connections, each sending one `GET /bottlenecks` (one row per value).
    #[arg(long, value_delimiter = ',', default_values_t = vec![10_000])]
    pub connections: Vec<usize>,
    /// A request not answered within this many seconds counts as an error.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Extra arguments for the daemon (`--max-connections=…`, `--read-slots=…`).
    #[arg(long, allow_hyphen_values = true, value_delimiter = ' ')]
    pub daemon_args: Vec<String>,
}

/// One measured row.
#[derive(Debug, serde::Serialize)]
pub struct HttpLoadRow {
    pub connections: usize,
    pub ok_200: usize,
    pub busy_503: usize,
    /// Other statuses.
    pub other_status: usize,
    /// Connects refused or reset, timeouts, unreadable answers.
    pub errors: usize,
    /// The first errors (at most 3).
    pub first_errors: Vec<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub wall_s: f64,
    /// `GET /health` during the flood: answers, median and worst latency.
    pub health_answers: usize,
    pub health_p50_ms: f64,
    pub health_max_ms: f64,
    /// The daemon's resident memory before the flood and its peak (VmHWM) after it.
    pub rss_before_mb: f64,
    pub peak_rss_mb: f64,
}

/// The daemon child: killed when dropped.
struct DaemonChild(Child);

impl Drop for DaemonChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A kB field of /proc/<pid>/status, in MB.
fn proc_status_mb(pid: u32, field: &str) -> Option<f64> {
    super::status_mb(&format!("/proc/{pid}/status"), field)
}

/// One `GET path` on a new connection: (status, latency).
async fn request(addr: std::net::SocketAddr, path: &str) -> Result<(u16, Duration), String> {
    let t0 = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::with_capacity(4096);
    s.read_to_end(&mut answer)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let status = std::str::from_utf8(answer.get(..12).unwrap_or_default())
        .ok()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("no status line in {} bytes", answer.len()))?;
    Ok((status, t0.elapsed()))
}

/// Waits until the daemon answers `GET /health`.
async fn wait_ready(addr: std::net::SocketAddr, child: &mut DaemonChild) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Ok(Some(status)) = child.0.try_wait() {
            anyhow::bail!("the daemon exited at start ({status})");
        }
        if request(addr, "/health").await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the daemon did not answer /health within 60 s")
}

/// Starts a daemon child for `db` on a free port, scans once, and measures each row.
pub async fn bench_http_load(args: &HttpLoadArgs) -> anyhow::Result<Vec<HttpLoadRow>> {
    use crate::sandbox::{Sandbox, SandboxOptions};
    let most = args.connections.iter().copied().max().unwrap_or(0);
    let nofile = rlimit::increase_nofile_limit(u64::MAX)?;
    if (nofile as usize) < most + 64 {
        eprintln!(
            "bench: the open-file limit is {nofile}: fewer than {most} connections can be open \
             at once here (raise the hard limit: ulimit -Hn)"
        );
    }
    let sandbox = Sandbox::start_async(SandboxOptions::default()).await?;
    let url = sandbox.url();
    eprintln!("bench: a small schema and workload ...");
    let client = crate::pg::conninfo::parse(&url)?.connect().await?;
    client
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric);
             INSERT INTO orders SELECT g, g % 2000, g % 500 FROM generate_series(1, 100000) g;
             CREATE TABLE customers (id int PRIMARY KEY, email text);
             INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 2000) g;
             ANALYZE;
             SELECT pg_stat_statements_reset();",
        )
        .await?;
    for i in 0..20 {
        client
            .batch_execute(&format!(
                "SELECT * FROM orders WHERE customer_id = {i};
                 SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = 'c{i}@example.com';
                 SELECT * FROM orders WHERE total > {i} ORDER BY total DESC LIMIT 10;"
            ))
            .await?;
    }

    let store = tempfile::tempdir()?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .arg("--db")
        .arg(&url)
        .arg("--store")
        .arg(store.path())
        .arg("--listen")
        .arg(addr.to_string())
        .args(["--interval", "0", "--sample-interval-ms", "0", "--sandbox"])
        .args(args.daemon_args.iter().filter(|a| !a.is_empty()))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = DaemonChild(cmd.spawn()?);
    let pid = child.0.id();
    wait_ready(addr, &mut child).await?;
    let (status, _) = post_scan(addr).await?;
    anyhow::ensure!(status == 200, "the first scan answered {status}");

    let mut rows = Vec::new();
    for &n in &args.connections {
        eprintln!("bench: {n} concurrent GET /bottlenecks ...");
        // Settle between rows: the daemon's connections of the last one are closed.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_before_mb = proc_status_mb(pid, "VmRSS:").unwrap_or(f64::NAN);
        rows.push(
            flood(
                addr,
                n,
                Duration::from_secs(args.timeout_secs),
                rss_before_mb,
            )
            .await,
        );
        if let Some(r) = rows.last_mut() {
            r.peak_rss_mb = proc_status_mb(pid, "VmHWM:").unwrap_or(f64::NAN);
        }
    }
    drop(child);
    drop(sandbox);
    Ok(rows)
}

/// `POST /scan` (raw, like the flood's requests).
async fn post_scan(addr: std::net::SocketAddr) -> anyhow::Result<(u16, Duration)> {
    let t0 = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        b"POST /scan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    let status = std::str::from_utf8(answer.get(9..12).unwrap_or_default())?.parse()?;
    Ok((status, t0.elapsed()))
}

/// N requests at once and /health every 100 ms until they are all answered.
async fn flood(
    addr: std::net::SocketAddr,
    n: usize,
    timeout: Duration,
    rss_before_mb: f64,
) -> HttpLoadRow {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(Ok((200, d))) =
                    tokio::time::timeout(Duration::from_secs(30), request(addr, "/health")).await
                {
                    lat.push(d.as_secs_f64() * 1000.0);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            lat
        })
    };
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(async move {
            match tokio::time::timeout(timeout, request(addr, "/bottlenecks")).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
            }
        });
    }
    let mut row = HttpLoadRow {
        connections: n,
        ok_200: 0,
        busy_503: 0,
        other_status: 0,
        errors: 0,
        first_errors: Vec::new(),
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        wall_s: 0.0,
        health_answers: 0,
        health_p50_ms: f64::NAN,
        health_max_ms: f64::NAN,
        rss_before_mb,
        peak_rss_mb: f64::NAN,
    };
    let mut lat = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok((status, d))) => {
                match status {
                    200 => row.ok_200 += 1,
                    503 => row.busy_503 += 1,
                    _ => row.other_status += 1,
                }
                lat.push(d.as_secs_f64() * 1000.0);
            }
            Ok(Err(e)) => {
                row.errors += 1;
                if row.first_errors.len() < 3 && !row.first_errors.contains(&e) {
                    row.first_errors.push(e);
                }
            }
            Err(e) => {
                row.errors += 1;
                if row.first_errors.len() < 3 {
                    row.first_errors.push(e.to_string());
                }
            }
        }
    }
    row.wall_s = t0.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    lat.sort_by(f64::total_cmp);
    row.p50_ms = percentile(&lat, 50.0);
    row.p99_ms = percentile(&lat, 99.0);
    let mut h = health.await.unwrap_or_default();
    h.sort_by(f64::total_cmp);
    row.health_answers = h.len();
    row.health_p50_ms = percentile(&h, 50.0);
    row.health_max_ms = h.last().copied().unwrap_or(f64::NAN);
    row
}

/// `optidb bench http-load`: runs it and prints a table (or JSON).
pub fn main(args: &HttpLoadArgs, json: bool) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Runtime::new()?;
    let rows = rt.block_on(bench_http_load(args))?;
    if json {
        crate::cli::print_line(&serde_json::to_string_pretty(&rows)?)?;
        return Ok(crate::cli::exit::OK);
    }
    crate::cli::print_line(&format!(
        "{:>11} {:>8} {:>9} {:>6} {:>7} {:>9} {:>9} {:>7} {:>14} {:>14} {:>10} {:>10}",
        "connections",
        "200",
        "503 busy",
        "other",
        "errors",
        "p50 ms",
        "p99 ms",
        "wall s",
        "/health p50",
        "/health max",
        "RSS idle",
        "peak RSS"
    ))?;
    for r in &rows {
        crate::cli::print_line(&format!(
            "{:>11} {:>8} {:>9} {:>6} {:>7} {:>9.1} {:>9.1} {:>7.1} {:>11.1} ms {:>11.1} ms {:>7.1} MB {:>7.1} MB",
            r.connections,
            r.ok_200,
            r.busy_503,
            r.other_status,
            r.errors,
            r.p50_ms,
            r.p99_ms,
            r.wall_s,
            r.health_p50_ms,
            r.health_max_ms,
            r.rss_before_mb,
            r.peak_rss_mb
        ))?;
        for e in &r.first_errors {
            crate::cli::print_line(&format!("    error: {e}"))?;
        }
    }
    Ok(crate::cli::exit::OK)
}
