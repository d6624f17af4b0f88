//! `optidb fingerprint`: the query id of every statement in SQL text, the same id the daemon
//! stores, so scripts and editors can look statements up.

use optidb_core::sql::analyze_file;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

/// Print the fingerprint, normalized text and byte range of every statement as JSON lines.
#[derive(Debug, clap::Args)]
pub struct FingerprintArgs {
    /// SQL files to read; none (or `-`) reads standard input.
    pub files: Vec<PathBuf>,
}

/// Runs the command; returns the process exit code.
pub fn run(args: &FingerprintArgs) -> anyhow::Result<u8> {
    let stdin_only =
        args.files.is_empty() || (args.files.len() == 1 && args.files[0].as_os_str() == "-");
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut code = super::exit::OK;
    if stdin_only {
        let mut src = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut src) {
            eprintln!("optidb: cannot read standard input: {e} (is it UTF-8 text?)");
            return Ok(super::exit::USAGE);
        }
        write_statements(&mut out, &src, None)?;
    } else {
        for path in &args.files {
            match std::fs::read(path).map(String::from_utf8) {
                Ok(Ok(src)) => write_statements(&mut out, &src, Some(path.display().to_string()))?,
                Ok(Err(_)) => {
                    eprintln!(
                        "optidb: {}: not UTF-8 text; convert it first (iconv -t UTF-8)",
                        path.display()
                    );
                    code = super::exit::USAGE;
                }
                Err(e) => {
                    eprintln!("optidb: cannot read {}: {e}", path.display());
                    code = super::exit::USAGE;
                }
            }
        }
    }
    out.flush()?;
    Ok(code)
}

fn write_statements(out: &mut impl Write, src: &str, file: Option<String>) -> anyhow::Result<()> {
    for st in analyze_file(src) {
        let mut v = serde_json::to_value(&st)?;
        if let (Some(f), Some(obj)) = (&file, v.as_object_mut()) {
            obj.insert("file".into(), serde_json::Value::String(f.clone()));
        }
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
