//! `optidb check [PATHS…]`: the language server's analysis over files and directories, for pull
//! requests and CI. Without a daemon: syntax errors, lints and injection risks from the text;
//! with `--daemon` (or a non-empty `OPTIDB_DAEMON`): also the daemon's live finding on each statement it
//! knows (`POST /lookup`, batched). Output as compiler-style text, JSON or SARIF 2.1.0, and an
//! exit code a CI job can gate on (docs/cli.md).

mod files;
mod findings;
mod sarif;
mod text;

use super::client::{self, DaemonConn};
use super::exit;
use findings::{FileFacts, LineIndex, Report, Severity, Skipped};
use optidb_core::model::{LookupEntry, LookupResponse};
use optidb_source::Analyzer;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// Check SQL files and the SQL in application code, as the editor does, for CI.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files and directories (walked recursively, skipping hidden directories, node_modules,
    /// target and vendor). Default: the current directory.
    pub paths: Vec<PathBuf>,
    /// Output: `text` (path:line:col: severity[rule]: message), `json`, or `sarif` (2.1.0).
    /// `--json` is the same as `--format json`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The lowest severity that makes the exit code 1; `never`: findings never fail the run.
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,
    /// The directory paths in JSON and SARIF are relative to (SARIF's %SRCROOT%). Default: the
    /// git work tree around the current directory, else the current directory.
    #[arg(long)]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Warning,
    Error,
    Never,
}

impl FailOn {
    /// Does a finding of this severity fail the run?
    fn fails(self, s: Severity) -> bool {
        match self {
            FailOn::Warning => s >= Severity::Warning,
            FailOn::Error => s >= Severity::Error,
            FailOn::Never => false,
        }
    }
}

/// Fingerprints per `POST /lookup` (the daemon takes up to `http::LOOKUP_MAX`).
const LOOKUP_BATCH: usize = 1000;
const _: () = assert!(LOOKUP_BATCH <= crate::http::LOOKUP_MAX);
/// How long one lookup may take before the run gives up on the daemon.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the command; returns the process exit code (0 clean, 1 findings at or above
/// `--fail-on`, 2 a path or option could not be used, 3 the daemon could not be reached).
pub fn run(conn: &DaemonConn, args: &CheckArgs) -> anyhow::Result<u8> {
    let format = if conn.json { Format::Json } else { args.format };
    let root = match &args.root {
        Some(r) => r.clone(),
        None => files::default_root()?,
    };
    let root = match std::fs::canonicalize(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("optidb: --root {}: {e}", root.display());
            return Ok(exit::USAGE);
        }
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };

    let walked = optidb_source::workspace::walk(&paths, files::MAX_FILES);
    let mut report = Report::new(root.display().to_string());
    report.errors = walked.errors;
    let analyzer = Analyzer::default();
    // Statements the daemon may know, by place, until it has been asked.
    let mut places = Vec::new();
    let mut fingerprints = Vec::new();
    let mut seen = HashSet::new();
    for optidb_source::workspace::SourceFile { path, lang } in &walked.files {
        let shown = path.display().to_string();
        let rel = files::relative_to(&root, path).unwrap_or_else(|| {
            std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string()
        });
        let text = match files::read(path) {
            Ok(files::Content::Text(t)) => t,
            Ok(files::Content::Skipped(reason)) => {
                report.skipped.push(Skipped { path: rel, reason });
                continue;
            }
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        let analysis = analyzer.analyze(*lang, &text);
        report.files_checked += 1;
        report.statements += analysis.statements.len();
        let index = LineIndex::new(&text);
        let facts = FileFacts {
            path: &rel,
            shown_path: &shown,
            text: &text,
            index: &index,
        };
        report.findings.extend(facts.static_findings(&analysis));
        if conn.given().is_some() {
            let fps = analysis.fingerprints();
            fingerprints.extend(fps.into_iter().filter(|f| seen.insert(f.clone())));
            places.extend(facts.statement_places(&analysis));
        }
    }

    if conn.given().is_some() {
        let entries = match lookup(conn, &fingerprints) {
            Ok(e) => e,
            Err(f) => {
                eprintln!("optidb: {}", f.message);
                eprintln!(
                    "optidb: no report written; without --daemon (and OPTIDB_DAEMON unset), \
                     `optidb check` reports the static findings only"
                );
                return Ok(f.code);
            }
        };
        report.daemon = Some(findings::DaemonSummary {
            url: conn.url().to_string(),
            queries_asked: fingerprints.len(),
            queries_known: entries.len(),
        });
        report.findings.extend(
            places
                .iter()
                .filter_map(|p| findings::live(p, entries.get(p.query_id.as_deref()?)?)),
        );
    }
    report.finish();

    for e in &report.errors {
        eprintln!("optidb: {e}");
    }
    for s in &report.skipped {
        eprintln!("optidb: {}: skipped: {}", s.path, s.reason);
    }
    let out = match format {
        Format::Text => text::render(&report),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Sarif => serde_json::to_string_pretty(&sarif::render(&report))? + "\n",
    };
    if !out.is_empty() {
        super::print_line(out.trim_end_matches('\n'))?;
    }
    eprintln!("optidb check: {}", text::summary(&report));

    Ok(if !report.errors.is_empty() {
        exit::USAGE
    } else if report.worst().is_some_and(|w| args.fail_on.fails(w)) {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// What the daemon knows of each fingerprint, asked in batches.
fn lookup(
    conn: &DaemonConn,
    fingerprints: &[String],
) -> Result<HashMap<String, LookupEntry>, client::Failure> {
    let mut out = HashMap::new();
    // No fingerprints, no call: chunks() of an empty slice is empty.
    for batch in fingerprints.chunks(LOOKUP_BATCH) {
        let answer = client::call_within(
            conn,
            "POST",
            "/lookup",
            Some(serde_json::json!({ "fingerprints": batch })),
            LOOKUP_TIMEOUT,
        )?;
        let r: LookupResponse = serde_json::from_value(answer).map_err(|e| client::Failure {
            code: exit::UNAVAILABLE,
            message: format!(
                "the daemon at {} answered /lookup with something this optidb does not read \
                 ({e}): are the daemon and the CLI the same version?",
                conn.url()
            ),
        })?;
        out.extend(r.queries);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_thresholds() {
        assert!(FailOn::Warning.fails(Severity::Warning) && FailOn::Warning.fails(Severity::Error));
        assert!(!FailOn::Warning.fails(Severity::Info));
        assert!(!FailOn::Error.fails(Severity::Warning) && FailOn::Error.fails(Severity::Error));
        assert!(!FailOn::Never.fails(Severity::Error));
    }

    #[test]
    fn an_empty_daemon_address_is_no_daemon() {
        let conn = |d: Option<&str>| DaemonConn {
            daemon: d.map(str::to_string),
            token: None,
            daemon_ca: None,
            json: false,
        };
        assert_eq!(conn(Some(" ")).given(), None);
        assert_eq!(conn(Some(" ")).url(), client::DEFAULT_DAEMON);
        assert_eq!(conn(None).given(), None);
        assert_eq!(conn(Some("http://d:1")).given(), Some("http://d:1"));
    }
}
