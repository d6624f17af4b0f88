//! Running the server's programs — as the `postgres` OS user when we are root, because initdb,
//! pg_ctl and postgres all refuse to run as root.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::SandboxError;

/// Environment variables that would change what the server programs do behind our back.
const PG_ENV: &[&str] = &[
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGCTLTIMEOUT",
];

/// The OS user the server programs run as, when it is not us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// `None` when we are not root (run everything as ourselves), else the `postgres` user.
pub(crate) fn detect_run_as() -> Result<Option<RunAs>, SandboxError> {
    if effective_uid() != Some(0) {
        return Ok(None);
    }
    let uid = id_of("-u")?;
    let gid = id_of("-g")?;
    Ok(Some(RunAs { uid, gid }))
}

/// Our effective uid, without unsafe code: the owner of `/proc/self`, else `id -u`.
fn effective_uid() -> Option<u32> {
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        return Some(meta.uid());
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// `id -u postgres` / `id -g postgres`.
fn id_of(flag: &str) -> Result<u32, SandboxError> {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SandboxError::NoPostgresUser {
            why: format!("could not run `id {flag} postgres`: {e}"),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse() {
        Ok(id) if out.status.success() => Ok(id),
        _ => Err(SandboxError::NoPostgresUser {
            why: format!(
                "`id {flag} postgres`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

/// A command for one of the server programs: runs in `cwd` (which the `postgres` user can
/// enter), with English messages, without PG* variables, as `run_as` when given.
pub(crate) fn server_command(program: &Path, run_as: Option<RunAs>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).stdin(Stdio::null()).env("LC_ALL", "C");
    for var in PG_ENV {
        cmd.env_remove(var);
    }
    if let Some(user) = run_as {
        // std drops the supplementary groups too when it switches uid as root.
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd
}

/// Runs `cmd` to completion, capturing its output.
pub(crate) fn run(cmd: &mut Command) -> Result<Output, SandboxError> {
    cmd.output().map_err(|source| SandboxError::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })
}

/// Exit status plus stdout and stderr, for error messages.
pub(crate) fn describe(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut text = format!("{}", out.status);
    for part in [stdout.trim(), stderr.trim()] {
        if !part.is_empty() {
            text.push('\n');
            text.push_str(part);
        }
    }
    text
}

/// Current length of the log, so a later [`log_tail`] shows only what came after.
pub(crate) fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// The last lines of the server log written after byte `from`.
pub(crate) fn log_tail(log: &Path, from: u64) -> String {
    const MAX_BYTES: u64 = 6000;
    const MAX_LINES: usize = 40;
    let Ok(mut file) = std::fs::File::open(log) else {
        return format!("(no server log at {})", log.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = from.min(len).max(len.saturating_sub(MAX_BYTES));
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return format!("(could not read the server log at {})", log.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(MAX_LINES)..].join("\n");
    if tail.trim().is_empty() {
        "(the server log is empty)".to_string()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_reads_only_new_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("server.log");
        std::fs::write(&log, "old line\n").expect("write");
        let from = log_len(&log);
        std::fs::write(&log, "old line\nnew line 1\nnew line 2\n").expect("write");
        assert_eq!(log_tail(&log, from), "new line 1\nnew line 2");
        assert!(log_tail(&dir.path().join("missing"), 0).contains("no server log"));
    }
}
