//! Command-line subcommands that do not need a running daemon, and the shared helpers every
//! subcommand uses to print results and errors (one line, exit codes that mean something).

pub mod check;
pub mod client;
pub mod families;
pub mod fingerprint;
pub mod setup;

use std::io::{self, Write};

/// Exit codes: 0 success, 1 the command ran but found a problem, 2 bad usage or input that
/// could not be read, 3 a service (database, daemon) could not be reached.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNAVAILABLE: u8 = 3;
}

/// Writes a line to stdout; a closed pipe (`optidb … | head`) is not an error.
pub fn print_line(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}") {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Is this error a closed stdout pipe, which a CLI treats as success?
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
