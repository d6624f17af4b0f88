//! End-to-end tests of the throwaway PostgreSQL sandbox (`optidb::sandbox`) against the real
//! PostgreSQL server binaries: extensions, pg_stat_statements, hypopg, restart, cleanup on stop
//! and drop, and the watchdog that cleans up after a process killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use optidb::sandbox::{Sandbox, SandboxOptions};
use tokio_postgres::{Client, NoTls};

async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// Alive and not a zombie waiting to be reaped.
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: "123 (postgres) S ...".
        Ok(stat) => {
            !matches!(stat.rsplit(')').next().map(str::trim_start), Some(s) if s.starts_with('Z'))
        }
        Err(_) => false,
    }
}

fn postmaster_pid(sandbox: &Sandbox) -> Result<u32> {
    let text = std::fs::read_to_string(sandbox.data_dir().join("postmaster.pid"))?;
    text.lines()
        .next()
        .context("empty postmaster.pid")?
        .trim()
        .parse()
        .context("postmaster.pid's first line is not a pid")
}

// Started from inside a tokio runtime on purpose: the blocking API must not panic there.
#[tokio::test]
async fn sandbox_has_extensions_statements_hypopg_restart_and_stop() -> Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default())?;
    assert_eq!(sandbox.database(), "optidb_demo");
    assert_eq!(
        sandbox.url(),
        format!(
            "postgres://postgres@127.0.0.1:{}/optidb_demo",
            sandbox.port()
        )
    );
    assert!(
        sandbox.server_version_num() >= 100_000,
        "{}",
        sandbox.server_version_num()
    );
    let root = sandbox.root_dir().to_path_buf();
    assert!(root
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("optidb-sandbox-")));
    assert!(sandbox.data_dir().join("PG_VERSION").is_file());

    let client = connect(&sandbox.url()).await?;
    let rows = client
        .query("SELECT extname FROM pg_extension ORDER BY extname", &[])
        .await?;
    let extensions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for wanted in ["hypopg", "pg_stat_statements", "pg_trgm"] {
        assert!(
            extensions.iter().any(|e| e == wanted),
            "{wanted} missing from {extensions:?}"
        );
    }
    let preload: String = client
        .query_one("SHOW shared_preload_libraries", &[])
        .await?
        .get(0);
    assert!(preload.contains("pg_stat_statements"), "{preload}");

    // Statements show up in pg_stat_statements, normalized, with their call counts.
    client
        .batch_execute(
            "CREATE TABLE orders (id int, customer_id int, note text);
             INSERT INTO orders SELECT g, g % 1000, 'note ' || g FROM generate_series(1, 20000) g;
             ANALYZE orders;",
        )
        .await?;
    for customer in [7, 8, 9] {
        client
            .query("SELECT * FROM orders WHERE customer_id = $1", &[&customer])
            .await?;
    }
    let rows = client
        .query("SELECT query, calls FROM pg_stat_statements", &[])
        .await?;
    let calls = rows
        .iter()
        .find(|r| {
            r.get::<_, String>(0)
                .contains("FROM orders WHERE customer_id = $1")
        })
        .map(|r| r.get::<_, i64>(1));
    assert_eq!(
        calls,
        Some(3),
        "pg_stat_statements rows: {:?}",
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    );

    // hypopg: a hypothetical index changes the plan.
    let row = client
        .query_one(
            "SELECT indexname FROM hypopg_create_index('CREATE INDEX ON orders (customer_id)')",
            &[],
        )
        .await?;
    let index_name: String = row.get(0);
    let plan: String = client
        .query("EXPLAIN SELECT * FROM orders WHERE customer_id = 42", &[])
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains(&index_name),
        "hypothetical index {index_name} not used:\n{plan}"
    );
    client.batch_execute("SELECT hypopg_reset()").await?;

    // Restart: connections drop, the server comes back on the same port with its data.
    let port = sandbox.port();
    sandbox.restart()?;
    assert!(
        client.query_one("SELECT 1", &[]).await.is_err(),
        "old connection survived restart"
    );
    let client = connect(&sandbox.url()).await?;
    let count: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await?
        .get(0);
    assert_eq!(count, 20000);
    client
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await?;
    drop(client);
    assert_eq!(sandbox.port(), port);

    // stop() shuts the server down and removes the directory.
    sandbox.stop()?;
    assert!(!root.exists(), "{} still exists after stop", root.display());
    assert!(!port_open(port), "port {port} still open after stop");
    Ok(())
}

#[test]
fn sandbox_with_options_stop_start_server_and_drop_cleanup() -> Result<()> {
    let sandbox =
        Sandbox::start(SandboxOptions::with_database("custom-db").setting("work_mem", "64MB"))?;
    assert_eq!(sandbox.database(), "custom-db");
    assert!(sandbox.url().ends_with("/custom-db"));
    let root = sandbox.root_dir().to_path_buf();
    let port = sandbox.port();
    let pid = postmaster_pid(&sandbox)?;
    assert!(process_alive(pid));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let work_mem = runtime.block_on(async {
        let client = connect(&sandbox.url()).await?;
        let row = client.query_one("SHOW work_mem", &[]).await?;
        anyhow::Ok(row.get::<_, String>(0))
    })?;
    assert_eq!(work_mem, "64MB");
    sandbox.batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")?;

    sandbox.stop_server()?;
    assert!(!port_open(port), "port {port} still open after stop_server");
    assert!(root.exists(), "stop_server must keep the directory");
    sandbox.stop_server()?; // stopping a stopped server is fine
    sandbox.start_server()?;
    let kept = runtime.block_on(async {
        let client = connect(&sandbox.url()).await?;
        let row = client.query_one("SELECT count(*) FROM kept", &[]).await?;
        anyhow::Ok(row.get::<_, i64>(0))
    })?;
    assert_eq!(kept, 1);

    let pid = postmaster_pid(&sandbox)?;
    drop(sandbox);
    assert!(!root.exists(), "{} still exists after drop", root.display());
    assert!(
        !process_alive(pid),
        "postmaster {pid} still running after drop"
    );
    assert!(!port_open(port));
    Ok(())
}

#[test]
fn bad_options_are_refused_with_a_hint() {
    let err = Sandbox::start(SandboxOptions::default().setting("port", "5432"))
        .expect_err("port must be refused");
    assert!(err.to_string().contains("Sandbox::port()"), "{err}");
}

// Two sandboxes side by side, from async code through start_async.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxes_run_side_by_side() -> Result<()> {
    let (a, b) = tokio::join!(
        Sandbox::start_async(SandboxOptions::with_database("side_a")),
        Sandbox::start_async(SandboxOptions::with_database("side_b")),
    );
    let (a, b) = (a?, b?);
    assert_ne!(a.port(), b.port());
    assert_ne!(a.root_dir(), b.root_dir());
    for sandbox in [&a, &b] {
        let client = connect(&sandbox.url()).await?;
        let db: String = client
            .query_one("SELECT current_database()", &[])
            .await?
            .get(0);
        assert_eq!(db, sandbox.database());
    }
    let roots = [a.root_dir().to_path_buf(), b.root_dir().to_path_buf()];
    tokio::task::spawn_blocking(move || {
        drop(a);
        drop(b);
    })
    .await?;
    for root in roots {
        assert!(!root.exists(), "{} still exists after drop", root.display());
    }
    Ok(())
}

/// Set in the child process of [`watchdog_cleans_up_after_sigkill`].
const HOLDER_ENV: &str = "OPTIDB_TEST_SANDBOX_HOLDER";
const READY: &str = "SANDBOX_READY";

/// Not a test: the process that [`watchdog_cleans_up_after_sigkill`] starts (this same test
/// binary, running only this function) and then kills with SIGKILL while it holds a sandbox.
#[test]
#[ignore = "helper process for watchdog_cleans_up_after_sigkill"]
fn watchdog_holder_child() -> Result<()> {
    if std::env::var_os(HOLDER_ENV).is_none() {
        return Ok(());
    }
    let sandbox = Sandbox::start(SandboxOptions::default())?;
    println!(
        "{READY}\t{}\t{}\t{}",
        sandbox.root_dir().display(),
        sandbox.port(),
        postmaster_pid(&sandbox)?
    );
    // Killed long before this ends; if the parent vanished, Drop cleans up as usual.
    std::thread::sleep(Duration::from_secs(120));
    Ok(())
}

#[test]
fn watchdog_cleans_up_after_sigkill() -> Result<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "watchdog_holder_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // libtest may have printed "test watchdog_holder_child ... " on the same line.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find(READY) {
                let _ = tx.send(line[at..].to_string());
                return;
            }
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the child never reported its sandbox ({e})");
        }
    };
    let fields: Vec<&str> = line.split('\t').collect();
    let [_, root, port, pid] = fields[..] else {
        bail!("bad line from child: {line:?}");
    };
    let (root, port, pid) = (
        PathBuf::from(root),
        port.parse::<u16>()?,
        pid.parse::<u32>()?,
    );
    assert!(
        root.exists() && process_alive(pid) && port_open(port),
        "sandbox not up: {line}"
    );

    // SIGKILL: no Drop runs. Reap the child so `kill -0` in the watchdog sees it gone.
    child.kill()?;
    child.wait()?;
    let killed_at = Instant::now();

    loop {
        let done = !root.exists() && !process_alive(pid) && !port_open(port);
        if done {
            break;
        }
        if killed_at.elapsed() > Duration::from_secs(10) {
            bail!(
                "10 s after SIGKILL: dir exists={} postmaster alive={} port open={}",
                root.exists(),
                process_alive(pid),
                port_open(port)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "watchdog cleaned up {:?} after SIGKILL",
        killed_at.elapsed()
    );
    Ok(())
}
