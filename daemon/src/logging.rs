//! Where the daemon's log goes and in what shape: one subscriber for the process, to stderr,
//! filtered by `RUST_LOG` (default: OptiDB's own info and everything else's warnings), as text
//! for people or JSON lines for log pipelines (`--log-format`). Nothing logs a secret: target
//! URLs are logged redacted, request logs carry the path without its query string (where a
//! `/login?token=` would be).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's subscriber (once; later calls do nothing). `default_filter` applies
/// when `RUST_LOG` is not set.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// The daemon's default: OptiDB's own info (scans, requests), other crates' warnings.
pub const DAEMON_FILTER: &str = "warn,optidb=info";
