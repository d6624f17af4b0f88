//! `optidb daemon`: scans the target on an interval and on demand, samples real-value
//! statements, and serves the HTTP API until Ctrl-C or SIGTERM.

use crate::app::AppState;
use crate::collect::sampler::{self, Samples};
use crate::pg::{TargetConfig, TrustConfig};
use crate::scan::{Collector, CollectorConfig};
use crate::store::{Retention, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run the OptiDB daemon: collect from a PostgreSQL database and serve the API.
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Target database (postgres://user@host:port/db or key=value). Empty: libpq's PGHOST,
    /// PGPORT, PGUSER, PGDATABASE and PGPASSWORD.
    #[arg(long, env = "OPTIDB_DB", default_value = "", hide_env_values = true)]
    pub db: String,
    /// Bearer token every request must carry; required to listen beyond 127.0.0.1.
    #[arg(long, env = "OPTIDB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Address to serve the API on.
    #[arg(long, env = "OPTIDB_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM file, the server's certificate first);
    /// needs --tls-key. Recommended whenever the daemon listens beyond 127.0.0.1.
    #[arg(long, env = "OPTIDB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM file: PKCS#8, RSA or EC).
    #[arg(long, env = "OPTIDB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Open HTTP connections at most (more wait in the listen backlog); lowered to fit the
    /// open-file limit.
    #[arg(long, env = "OPTIDB_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Read requests (API GETs, lookups, dashboard pages) served at once; more wait up to 5 s,
    /// then get 503 "daemon busy".
    #[arg(long, env = "OPTIDB_READ_SLOTS", default_value_t = 32)]
    pub read_slots: usize,
    /// Milliseconds a client has to send a request's headers (slow or silent sockets are
    /// closed; also the idle time after which a keep-alive connection is closed).
    #[arg(long, env = "OPTIDB_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Directory of the embedded store (default: $XDG_DATA_HOME/optidb or ~/.local/share/optidb).
    #[arg(long, env = "OPTIDB_STORE")]
    pub store: Option<PathBuf>,
    /// Seconds between scans (0: only on POST /scan).
    #[arg(long, env = "OPTIDB_INTERVAL", default_value_t = 60)]
    pub interval: u64,
    /// Keep the N statements with the most total time.
    #[arg(long, env = "OPTIDB_TOP_N", default_value_t = 100)]
    pub top_n: usize,
    /// Capture plans for the K statements with the most total time.
    #[arg(long, env = "OPTIDB_PLANS", default_value_t = 20)]
    pub plans: usize,
    /// Ignore statements whose mean time is below this many milliseconds.
    #[arg(long, env = "OPTIDB_MIN_MEAN_MS", default_value_t = 0.0)]
    pub min_mean_ms: f64,
    /// Ignore statements called fewer times than this.
    #[arg(long, env = "OPTIDB_MIN_CALLS", default_value_t = 1)]
    pub min_calls: i64,
    /// Milliseconds between pg_stat_activity samples — real-value statements, wait events and
    /// lock blockers (0: off). Slower on its own when the target is slow.
    #[arg(long, env = "OPTIDB_SAMPLE_INTERVAL_MS", default_value_t = crate::collect::sampler::DEFAULT_INTERVAL_MS)]
    pub sample_interval_ms: u64,
    /// statement_timeout for every statement OptiDB sends, in milliseconds.
    #[arg(long, env = "OPTIDB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub statement_timeout_ms: u64,
    /// Give up on a scan after this many seconds (a database that stopped answering cannot
    /// trip its own statement_timeout).
    #[arg(long, env = "OPTIDB_SCAN_TIMEOUT", default_value_t = 60)]
    pub scan_timeout: u64,
    /// Seconds a scan reuses the indexes, foreign keys and column statistics an earlier scan
    /// read, while no DDL and no ANALYZE happened (0: read them every scan).
    #[arg(long, env = "OPTIDB_SCHEMA_TTL", default_value_t = 300)]
    pub schema_ttl: u64,
    /// Keep history for this many days.
    #[arg(long, env = "OPTIDB_RETENTION_DAYS", default_value_t = 7)]
    pub retention_days: u64,
    /// The target is a throwaway sandbox: allows real-mode simulations (which build indexes),
    /// EXPLAIN ANALYZE of samples and a superuser login.
    #[arg(long, env = "OPTIDB_SANDBOX", default_value_t = false)]
    pub sandbox: bool,
    /// Connect even when the login role is a superuser on a target that is not a sandbox
    /// (refused by default: see docs/security.md).
    #[arg(long, env = "OPTIDB_ALLOW_SUPERUSER", default_value_t = false)]
    pub allow_superuser: bool,
    /// Run EXPLAIN ANALYZE of real-value samples (it executes them, read-only and rolled back,
    /// only when every function they reach is a side-effect-free built-in). On by default only
    /// on sandboxes; elsewhere samples get a plain EXPLAIN.
    #[arg(long, env = "OPTIDB_ANALYZE_SAMPLES", default_value_t = false)]
    pub analyze_samples: bool,
    /// Store no real values at all: the sampler's statements with their literal values are
    /// neither kept as query samples nor planned, so plans come only from normalized text
    /// (generic plans) and no literal of the workload reaches the store.
    #[arg(long, env = "OPTIDB_NO_REAL_VALUES", default_value_t = false)]
    pub no_real_values: bool,
    /// The search path the application's statements are planned with (comma-separated;
    /// pg_catalog always comes first).
    #[arg(
        long,
        env = "OPTIDB_SEARCH_PATH",
        value_delimiter = ',',
        default_value = "$user,public"
    )]
    pub search_path: Vec<String>,
    /// Functions OptiDB may let the planner run besides superuser-owned ones (schema.name or
    /// schema.*, comma-separated). Statements reaching any other function are not planned.
    #[arg(long, env = "OPTIDB_TRUSTED_FUNCTIONS", value_delimiter = ',')]
    pub trusted_functions: Vec<String>,
    /// Roles whose functions are trusted (comma-separated).
    #[arg(long, env = "OPTIDB_TRUSTED_OWNERS", value_delimiter = ',')]
    pub trusted_owners: Vec<String>,
    /// Schema of the least-privilege plan helper (`optidb setup-sql`); empty: never use it.
    #[arg(long, env = "OPTIDB_PLAN_HELPER_SCHEMA", default_value = crate::pg::helper::DEFAULT_SCHEMA)]
    pub plan_helper_schema: String,
    /// Simulations allowed per minute (POST /simulate answers 429 beyond).
    #[arg(long, env = "OPTIDB_SIM_PER_MINUTE", default_value_t = 60)]
    pub sim_per_minute: u32,
    /// Simulations one client (one address) may start per minute (default: half of
    /// --sim-per-minute), so that no client uses the whole budget.
    #[arg(long, env = "OPTIDB_SIM_PER_MINUTE_PER_CLIENT")]
    pub sim_per_minute_per_client: Option<u32>,
    /// Log lines as text (for people) or JSON (one object per line); to stderr, filtered by
    /// RUST_LOG.
    #[arg(long, env = "OPTIDB_LOG_FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    /// Simulations running at once (on their own connections); others wait.
    #[arg(long, env = "OPTIDB_SIM_CONCURRENCY", default_value_t = 2)]
    pub sim_concurrency: usize,
}

/// Trimmed, non-empty entries of a comma-separated flag.
fn clean_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Where the store lives when `--store` is not given.
pub fn default_store_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("optidb");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/optidb");
    }
    PathBuf::from(".optidb")
}

/// Starts everything and serves until Ctrl-C or SIGTERM.
pub async fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let running = start(args).await?;
    eprintln!(
        "optidb: serving {}://{} for {} (store {})",
        if running.tls { "https" } else { "http" },
        running.addr,
        running.target,
        running.store_dir.display()
    );
    if !running.tls && !running.addr.ip().is_loopback() {
        eprintln!(
            "optidb: warning: serving plain HTTP beyond loopback: the token and your queries \
             cross the network in clear text; pass --tls-cert and --tls-key"
        );
    }
    shutdown_signal().await;
    running.stop().await;
    eprintln!("optidb: stopped");
    Ok(())
}

impl DaemonArgs {
    /// How to reach and treat the target, from these arguments.
    pub fn target(&self) -> TargetConfig {
        let mut target = TargetConfig::new(self.db.clone());
        target.statement_timeout = Duration::from_millis(self.statement_timeout_ms.max(1));
        target.sandbox = self.sandbox;
        target.allow_superuser = self.allow_superuser;
        target.search_path = self
            .search_path
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        target.trust = TrustConfig {
            functions: clean_list(&self.trusted_functions),
            owners: clean_list(&self.trusted_owners),
        };
        target.helper_schema = self.plan_helper_schema.trim().to_string();
        target
    }

    /// The settings of `optidb daemon` with these arguments and the defaults for the rest
    /// (one place for the defaults: clap's).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: DaemonArgs,
        }
        use clap::Parser;
        Wrapper::try_parse_from(std::iter::once("optidb-daemon".to_string()).chain(args))
            .map(|w| w.args)
    }
}

/// A daemon running inside this process (the `optidb daemon` command, the demo, tests).
pub struct Running {
    pub state: Arc<AppState>,
    pub addr: SocketAddr,
    /// Whether the API is served over TLS (`https://`).
    pub tls: bool,
    pub target: String,
    pub store_dir: PathBuf,
    tasks: tokio::task::JoinSet<()>,
    stop_tx: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops the server (gracefully), the scan loop and the sampler.
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(());
        match self.server.await {
            Ok(Err(e)) => tracing::warn!("server stopped with an error: {e}"),
            Err(e) => tracing::warn!("server task failed: {e}"),
            Ok(Ok(())) => {}
        }
        self.tasks.shutdown().await;
    }
}

/// Opens the store, starts the sampler and the scan loop, and serves the API.
pub async fn start(args: DaemonArgs) -> anyhow::Result<Running> {
    let token = args.token.clone().filter(|t| !t.trim().is_empty());
    crate::http::auth::check_listen(args.listen, token.as_deref())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::http::tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let store_dir = args.store.clone().unwrap_or_else(default_store_dir);
    std::fs::create_dir_all(&store_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the store directory {}: {e}",
            store_dir.display()
        )
    })?;
    let store = Store::open(&store_dir)?;
    let target = args.target();
    let mut cfg = CollectorConfig::new(target.clone());
    cfg.real_values = !args.no_real_values;
    cfg.analyze_samples = (args.sandbox || args.analyze_samples) && cfg.real_values;
    cfg.top_n = args.top_n.max(1);
    cfg.plans_k = args.plans;
    cfg.min_mean_ms = args.min_mean_ms;
    cfg.min_calls = args.min_calls;
    cfg.scan_timeout = Duration::from_secs(args.scan_timeout.max(1));
    cfg.schema_ttl = Duration::from_secs(args.schema_ttl);
    cfg.retention = Retention {
        max_age_ms: (args.retention_days.max(1) * 86_400_000) as i64,
        ..Retention::default()
    };
    let samples = Arc::new(Samples::default());
    let cfg_analyze = cfg.analyze_samples;
    let collector = Collector::new(cfg, store.clone(), samples.clone())?;
    let sim = crate::simulate::pool::SimService::new(
        target.clone(),
        crate::simulate::SimConfig {
            max_concurrent: args.sim_concurrency.max(1),
            per_minute: args.sim_per_minute.max(1),
            per_client_per_minute: args
                .sim_per_minute_per_client
                .unwrap_or(args.sim_per_minute / 2)
                .max(1),
            step_timeout: target.statement_timeout,
            ..Default::default()
        },
        args.sandbox,
        cfg_analyze,
    );
    let mut state = AppState::new(collector, store, samples.clone(), sim);
    state.token = token;
    let state = Arc::new(state);

    let listener = listen(args.listen).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e} (is another optidb running? pass --listen)",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;

    let mut tasks = tokio::task::JoinSet::new();
    if args.sample_interval_ms > 0 {
        let (target, every) = (
            target.clone(),
            Duration::from_millis(args.sample_interval_ms),
        );
        let telemetry = state.telemetry.clone();
        tasks.spawn(supervise("sampler", move || {
            // The time its polls take is the sampler's cost in /metrics.
            crate::app::telemetry::Timed::new(
                sampler::run(target.clone(), samples.clone(), every),
                telemetry.clone(),
            )
        }));
    }
    if args.interval > 0 {
        tasks.spawn(scan_loop(state.clone(), Duration::from_secs(args.interval)));
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let nofile = crate::http::server::raise_open_file_limit();
    let limits = crate::http::server::Limits {
        max_connections: crate::http::server::fit_connections(args.max_connections.max(1), nofile),
        header_read_timeout: Duration::from_millis(args.header_timeout_ms.max(100)),
        ..Default::default()
    };
    if limits.max_connections < args.max_connections {
        tracing::warn!(
            "serving at most {} connections: the open-file limit is {:?} (raise it with ulimit -n)",
            limits.max_connections,
            nofile
        );
    }
    let reads = Arc::new(crate::http::limits::RequestLimits::new(
        args.read_slots,
        Duration::from_secs(5),
        Duration::from_secs(30),
    ));
    let router = crate::http::router_with(state.clone(), reads);
    let serves_tls = tls.is_some();
    let server = tokio::spawn(crate::http::server::serve(
        listener,
        router,
        limits,
        tls,
        async move {
            let _ = stop_rx.await;
        },
    ));
    Ok(Running {
        state,
        addr,
        tls: serves_tls,
        target: target.display(),
        store_dir,
        tasks,
        stop_tx,
        server,
    })
}

/// Connections the kernel queues for the daemon beyond those it serves (capped by
/// net.core.somaxconn). tokio's `TcpListener::bind` asks for 1,024; under a flood of 10,000
/// connections the rest were reset (docs/performance.md, "Bounded resources").
const LISTEN_BACKLOG: u32 = 8192;

/// A listening socket with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Scans every `interval`; after a failure, retries sooner with exponential backoff (1 s, 2 s,
/// 4 s … up to `interval`).
async fn scan_loop(state: Arc<AppState>, interval: Duration) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let summary = state.scan_now().await;
        let wait = if summary.error.is_some() {
            let w = backoff.min(interval);
            backoff = (backoff * 2).min(interval);
            w
        } else {
            backoff = Duration::from_secs(1);
            interval
        };
        tokio::time::sleep(wait).await;
    }
}

/// Runs a background task for the daemon's lifetime: when it panics (a bug), logs it and
/// starts it again after a backoff (1 s, doubling up to a minute), so one bad sample or row
/// never ends sampling for good.
async fn supervise<F, Fut>(name: &'static str, mut start: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    /// Stops the running task when the supervisor itself is stopped (the daemon shuts down).
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        let task = tokio::spawn(start());
        let _stop = AbortOnDrop(task.abort_handle());
        match task.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let what = crate::app::panic_message(e.into_panic().as_ref());
                tracing::error!(task = name, panic = %what, "a background task panicked; restarting it in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
            Err(_) => return, // cancelled: the daemon is stopping
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_panicking_background_task_is_restarted() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        supervise("test", move || {
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
