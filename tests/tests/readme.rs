//! The README's "Using it on your database" path, followed literally: the shell block of that
//! section is read from README.md at test time and each command runs through `bash` as a user
//! would type it, against a throwaway PostgreSQL standing in for the user's database (database
//! `app`, a superuser, and a pg_hba.conf where the `optidb` role must log in with its password,
//! so `\password` and `~/.pgpass` are really used).
//!
//! What is not literal, and why:
//! - `scripts/build` (build dependencies, then `cargo build --release`) is not run: a release
//!   build takes several minutes of CI's two cores and ten-minute budget, and `scripts/test`
//!   has just built the same source in the debug profile (`cargo build --workspace --bins`).
//!   The commands run in a scratch directory whose `target/release/optidb` is a link to that
//!   debug binary, so their text stays as written; the test checks that `scripts/build` installs
//!   the build dependencies (`scripts/setup.sh --build-deps`) before it builds.
//! - `db.example:5432` becomes the sandbox's `127.0.0.1:PORT`, the superuser `admin` becomes
//!   the sandbox's `postgres`, `PASSWORD` a password, and the daemon's default port 7070 a free
//!   one (given with `OPTIDB_LISTEN`, which the daemon reads like `--listen`): other daemons may
//!   run on this machine.
//! - `HOME` is a scratch directory (for `~/.pgpass` and `~/.local/share/optidb`); commands run
//!   in a new session without a terminal (`setsid`), so psql's `\password` reads the typed
//!   password from stdin.
//! - The daemon runs in the background (the README's reader starts it in one terminal); the
//!   `curl` lines run once it listens.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{bin_path, free_port};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "readme-Pa55word";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The lines of the first ```sh block after the heading `section`.
fn shell_block(readme: &str, section: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {section:?}"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a ```sh block in the section") + "```sh\n".len();
    let close = rest[open..].find("```").expect("the block's end") + open;
    rest[open..close].lines().map(str::to_string).collect()
}

/// Runs one README line with bash in a new session, `stdin` as what the user types.
fn run(line: &str, cwd: &Path, env: &[(&str, String)], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new("setsid")
        .args(["-w", "bash", "-c", line])
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setsid and bash");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The README's daemon, killed when dropped (also when an assertion fails first).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn using_it_on_your_database_works_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = shell_block(&readme, "Using it on your database");
    let commands: Vec<&String> = block
        .iter()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        commands[0].starts_with("scripts/build"),
        "the path starts by building: {block:#?}"
    );
    let build = std::fs::read_to_string(repo().join("scripts/build")).unwrap();
    let deps = build
        .find("scripts/setup.sh --build-deps")
        .expect("scripts/build installs the build dependencies");
    let cargo = build
        .find("cargo build --release")
        .expect("scripts/build builds the release binaries");
    assert!(deps < cargo, "build dependencies first:\n{build}");

    // The user's database: `app`, where OptiDB's role needs its password.
    let sb = Sandbox::start(SandboxOptions::with_database("app")).expect("sandbox");
    let hba = sb.data_dir().join("pg_hba.conf");
    let old = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("host all optidb 127.0.0.1/32 scram-sha-256\n{old}"),
    )
    .unwrap();
    sb.batch_execute(
        "SELECT pg_reload_conf();
         CREATE TABLE orders (id int PRIMARY KEY, customer int);
         INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 5000) g;",
    )
    .unwrap();
    for i in 0..5 {
        sb.batch_execute(&format!("SELECT count(*) FROM orders WHERE customer = {i}"))
            .unwrap();
    }

    // A scratch checkout: target/release/optidb is this build's binary; HOME is ours.
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    std::fs::create_dir_all(scratch.path().join("target/release")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::symlink(
        bin_path("optidb"),
        scratch.path().join("target/release/optidb"),
    )
    .unwrap();
    let api_port = free_port();
    let env = vec![
        ("HOME", home.display().to_string()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("LANG", "C.UTF-8".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    let substitute = |line: &str| {
        line.replace("db.example:5432", &format!("127.0.0.1:{}", sb.port()))
            .replace("postgres://admin@", "postgres://postgres@")
            .replace("PASSWORD", PASSWORD)
            .replace("127.0.0.1:7070", &format!("127.0.0.1:{api_port}"))
    };

    let mut daemon: Option<Killed> = None;
    let mut outputs = Vec::new();
    for raw in &commands[1..] {
        let line = substitute(raw);
        assert!(
            !line.contains("db.example") && !line.contains(":7070"),
            "a README command the test does not know how to point at the sandbox: {raw}"
        );
        if line.contains(" daemon ") {
            let mut denv = env.clone();
            denv.push(("OPTIDB_LISTEN", format!("127.0.0.1:{api_port}")));
            let child = Command::new("setsid")
                .args(["bash", "-c", &format!("exec {line}")])
                .current_dir(scratch.path())
                .env_clear()
                .envs(denv.iter().map(|(k, v)| (*k, v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the daemon");
            daemon = Some(Killed(child));
            let t0 = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err() {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "the daemon did not listen: {raw}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        let typed = if line.contains("\\password") {
            format!("{PASSWORD}\n{PASSWORD}\n")
        } else {
            String::new()
        };
        let (ok, out, err) = run(&line, scratch.path(), &env, &typed);
        assert!(ok, "{raw}\nstdout:\n{out}\nstderr:\n{err}");
        outputs.push((raw.to_string(), out));
    }
    drop(daemon.expect("the README starts the daemon"));

    let output_of = |needle: &str| {
        outputs
            .iter()
            .find(|(raw, _)| raw.contains(needle))
            .map(|(_, out)| out.clone())
            .unwrap_or_else(|| panic!("no README command with {needle:?}"))
    };
    let scan: serde_json::Value =
        serde_json::from_str(&output_of("/scan")).expect("POST /scan answers JSON");
    assert!(scan["error"].is_null(), "{scan:#}");
    assert!(scan["queries_stored"].as_u64() > Some(0), "{scan:#}");
    let health: serde_json::Value =
        serde_json::from_str(&output_of("/health")).expect("/health answers JSON");
    assert_eq!(health["status"], "ok", "{health:#}");
    assert_eq!(health["database_reachable"], true, "{health:#}");
    assert!(
        health["target"]
            .as_str()
            .unwrap_or("")
            .contains("optidb@127.0.0.1"),
        "/health names the target: {health:#}"
    );
    assert!(
        output_of("doctor").contains("[ok  ] superuser"),
        "doctor checked the role"
    );
    assert!(
        std::fs::metadata(home.join(".pgpass")).is_ok(),
        "the password file the README writes"
    );
}
