//! Finding the PostgreSQL server binaries (initdb, pg_ctl, postgres) and their major version.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::SandboxError;

/// Env var that names the server's bin directory, overriding the search.
pub const BINDIR_ENV: &str = "OPTIDB_PG_BINDIR";

/// Where Debian installs the server packages, one folder per major version.
const DEBIAN_PG_LIB: &str = "/usr/lib/postgresql";

/// The server binaries we use.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    pub bindir: PathBuf,
    /// Major version (15 for 15.x), 0 if `postgres --version` could not be read.
    pub major: u32,
}

impl PgBinaries {
    pub fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    pub fn pg_ctl(&self) -> PathBuf {
        self.bindir.join("pg_ctl")
    }

    /// Major version for package names in hints; 15 when unknown (what the project targets).
    pub fn major_for_hints(&self) -> u32 {
        if self.major == 0 {
            15
        } else {
            self.major
        }
    }

    /// `OPTIDB_PG_BINDIR`, else `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
    pub fn find() -> Result<PgBinaries, SandboxError> {
        let bindir = find_bindir()?;
        let major = read_major(&bindir);
        Ok(PgBinaries { bindir, major })
    }

    /// The binaries in `bindir` (given with `SandboxOptions::bindir`), which must hold initdb.
    /// The path is made absolute and free of symbolic links: when we are root the programs run
    /// as the `postgres` user, who may not be allowed to follow a link through our directories.
    pub fn at(bindir: &Path) -> Result<PgBinaries, SandboxError> {
        if !has_initdb(bindir) {
            return Err(SandboxError::NoInitdb(bindir.to_path_buf()));
        }
        let bindir = std::fs::canonicalize(bindir)
            .map_err(|e| SandboxError::io("resolving the bin directory", bindir, e))?;
        let major = read_major(&bindir);
        Ok(PgBinaries { bindir, major })
    }
}

fn has_initdb(dir: &Path) -> bool {
    dir.join("initdb").is_file()
}

fn find_bindir() -> Result<PathBuf, SandboxError> {
    find_bindir_with(std::env::var_os(BINDIR_ENV))
}

/// [`find_bindir`] with the value of `OPTIDB_PG_BINDIR` given.
fn find_bindir_with(from_env: Option<std::ffi::OsString>) -> Result<PathBuf, SandboxError> {
    if let Some(dir) = from_env.filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(SandboxError::BadBindir(dir))
        };
    }
    let mut searched = vec![format!("{BINDIR_ENV} unset")];

    match Command::new("pg_config").arg("--bindir").output() {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_initdb(&dir) {
                return Ok(dir);
            }
            searched.push(format!(
                "pg_config --bindir = {} has no initdb",
                dir.display()
            ));
        }
        Ok(out) => searched.push(format!("pg_config --bindir failed ({})", out.status)),
        Err(e) => searched.push(format!("pg_config: {e}")),
    }

    if let Some(dir) = newest_debian_bindir(Path::new(DEBIAN_PG_LIB)) {
        return Ok(dir);
    }
    searched.push(format!("no {DEBIAN_PG_LIB}/*/bin/initdb"));
    Err(SandboxError::BinariesNotFound {
        searched: searched.join("; "),
    })
}

/// The highest-numbered `<root>/<version>/bin` holding initdb (versions like `15` or `9.6`).
fn newest_debian_bindir(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = parse_version(&name)?;
            let bin = e.path().join("bin");
            has_initdb(&bin).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// `"15"` → (15, 0), `"9.6"` → (9, 6); anything else → None.
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.splitn(2, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(m) => m.parse().ok()?,
        None => 0,
    };
    Some((major, minor))
}

/// Major version from `postgres --version` ("postgres (PostgreSQL) 15.14 (Debian ...)").
fn read_major(bindir: &Path) -> u32 {
    let Ok(out) = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
    else {
        return 0;
    };
    parse_major_from_version_output(&String::from_utf8_lossy(&out.stdout)).unwrap_or(0)
}

fn parse_major_from_version_output(text: &str) -> Option<u32> {
    let version = text.split(')').nth(1)?.split_whitespace().next()?;
    let digits = version.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("15"), Some((15, 0)));
        assert_eq!(parse_version("9.6"), Some((9, 6)));
        assert_eq!(parse_version("x"), None);
        assert_eq!(
            parse_major_from_version_output(
                "postgres (PostgreSQL) 15.14 (Debian 15.14-1.pgdg120+1)\n"
            ),
            Some(15)
        );
        assert_eq!(
            parse_major_from_version_output("postgres (PostgreSQL) 17beta1\n"),
            Some(17)
        );
        assert_eq!(
            parse_major_from_version_output("postgres (PostgreSQL) 9.6.24\n"),
            Some(9)
        );
    }

    #[test]
    fn env_bindir_wins_and_must_hold_initdb() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = find_bindir_with(Some(dir.path().into())).expect_err("no initdb there");
        assert!(err.to_string().contains("OPTIDB_PG_BINDIR"), "{err}");
        std::fs::write(dir.path().join("initdb"), "").expect("write");
        assert_eq!(
            find_bindir_with(Some(dir.path().into())).expect("bindir"),
            dir.path()
        );
    }

    #[test]
    fn a_given_bindir_must_hold_initdb_and_is_resolved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = PgBinaries::at(dir.path()).expect_err("no initdb there");
        assert!(err.to_string().contains("has no initdb"), "{err}");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        std::fs::write(real.join("initdb"), "").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let bins = PgBinaries::at(&link).expect("bins");
        assert_eq!(
            bins.bindir,
            std::fs::canonicalize(&real).expect("canonical")
        );
        // No postgres to ask: the major is unknown.
        assert_eq!(bins.major, 0);
    }

    #[test]
    fn picks_the_newest_debian_bindir() {
        let root = tempfile::tempdir().expect("tempdir");
        for v in ["9.6", "13", "16", "notaversion"] {
            let bin = root.path().join(v).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("initdb"), "").expect("write");
        }
        // 17 has no initdb, so it does not count.
        std::fs::create_dir_all(root.path().join("17").join("bin")).expect("mkdir");
        assert_eq!(
            newest_debian_bindir(root.path()),
            Some(root.path().join("16").join("bin"))
        );
    }
}
