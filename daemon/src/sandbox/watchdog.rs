//! The watchdog: a detached shell loop that stops the sandbox server and removes its directory
//! once the process that owns the sandbox is gone without having run `Drop` (SIGKILL, Ctrl-C,
//! a `static` sandbox shared by tests, a panic with `panic = "abort"`).
//!
//! It polls `kill -0 <owner>` every second. When the owner is gone it sends SIGQUIT (immediate
//! shutdown) to the postmaster named in `postmaster.pid`, waits until the server has exited
//! (SIGKILL after 30 s), then `rm -rf`s the directory. It exits by itself as soon as the
//! directory is gone, which is what the normal `Drop` path does.
//!
//! The shell backgrounds its loop and exits at once, so we reap it right away and the loop
//! belongs to init (no zombie under us); it runs in its own process group with SIGINT and
//! SIGHUP ignored, so a Ctrl-C at the terminal does not kill it along with us.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::SandboxError;

const SCRIPT: &str = r#"
watch() {
  trap '' HUP INT
  owner=$1 dir=$2 data=$3
  while kill -0 "$owner" 2>/dev/null; do
    [ -d "$dir" ] || exit 0
    sleep 1
  done
  [ -d "$dir" ] || exit 0
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) pid= ;; esac
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    i=0
    while [ -f "$data/postmaster.pid" ] && kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do
      sleep 0.1
      i=$((i + 1))
    done
    if [ -f "$data/postmaster.pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      sleep 1
    fi
  fi
  rm -rf "$dir"
}
watch "$@" </dev/null >/dev/null 2>&1 &
"#;

/// Starts the watchdog for the sandbox in `dir` (whose server data directory is `data`),
/// owned by this process.
pub(crate) fn spawn(dir: &Path, data: &Path) -> Result<(), SandboxError> {
    let spawn_err = |source| SandboxError::Spawn {
        program: "sh (sandbox watchdog)".to_string(),
        source,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("optidb-sandbox-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(data)
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(spawn_err)?;
    // The outer shell only backgrounds the loop and exits: reap it now.
    child.wait().map_err(spawn_err)?;
    Ok(())
}
