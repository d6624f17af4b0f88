//! Support for the end-to-end tests: find the real binaries, run an `optidb daemon` process
//! against a sandbox, and talk HTTP to it. No mocks: everything here drives the real thing.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary (`optidb`, `optidb-lsp`), built next to the test executable.
/// `scripts/test` (cargo test --workspace --all-targets) builds them before the tests run.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>  →  target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is not built: run the tests with scripts/test (or cargo build --workspace --bins first)",
        p.display()
    );
    p
}

/// The URL OptiDB should use on `sb`: its least-privileged login role (`optidb setup-sql` run
/// in the sandbox database), as a careful user connects it to production.
pub fn optidb_url(sb: &optidb::sandbox::Sandbox) -> String {
    sb.optidb_url()
        .expect("creating OptiDB's roles in the sandbox")
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `optidb daemon`, killed (SIGKILL) when dropped.
pub struct Daemon {
    pub child: Child,
    pub base: String,
    pub store: PathBuf,
    stderr_log: std::sync::Arc<std::sync::Mutex<String>>,
    /// How to reach it: plain, or over TLS trusting the test's CA.
    agent: ureq::Agent,
}

impl Daemon {
    /// Starts `optidb daemon --db URL --store DIR --listen 127.0.0.1:<free> --interval 0` plus
    /// `extra` arguments, and waits until `/health` answers.
    pub fn start(db_url: &str, store: &std::path::Path, extra: &[&str]) -> Daemon {
        Self::start_with_env(db_url, store, extra, &[])
    }

    /// [`Daemon::start`] with extra environment variables (for example libpq's PG*).
    pub fn start_with_env(
        db_url: &str,
        store: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        Self::start_full(db_url, store, extra, env, None)
    }

    /// [`Daemon::start`] serving HTTPS with `cert`/`key` (PEM files); its `base` is
    /// `https://localhost:PORT` and [`Daemon::agent`] trusts `ca`.
    pub fn start_tls(
        db_url: &str,
        store: &std::path::Path,
        tls: &certs::ServerCert,
        extra: &[&str],
    ) -> Daemon {
        let (cert, key) = (
            tls.cert.display().to_string(),
            tls.key.display().to_string(),
        );
        let mut args = vec!["--tls-cert", &cert, "--tls-key", &key];
        args.extend_from_slice(extra);
        Self::start_full(db_url, store, &args, &[], Some(&tls.ca))
    }

    fn start_full(
        db_url: &str,
        store: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
        ca: Option<&std::path::Path>,
    ) -> Daemon {
        let port = free_port();
        let mut child = Command::new(bin_path("optidb"))
            .arg("daemon")
            .args([
                "--db",
                db_url,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--interval",
                "0",
            ])
            .arg("--store")
            .arg(store)
            .args(extra)
            .env_remove("OPTIDB_DB")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn optidb daemon");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let (base, agent) = match ca {
            None => (format!("http://127.0.0.1:{port}"), agent()),
            Some(ca) => (format!("https://localhost:{port}"), https_agent(ca)),
        };
        let d = Daemon {
            child,
            base,
            store: store.to_path_buf(),
            stderr_log: log,
            agent,
        };
        d.wait_healthy(Duration::from_secs(30));
        d
    }

    fn wait_healthy(&self, within: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if answer(self.agent.get(format!("{}/health", self.base)).call()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "daemon did not come up within {within:?}; stderr:\n{}",
            self.stderr()
        );
    }

    pub fn stderr(&self) -> String {
        self.stderr_log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An HTTP client that reaches this daemon (over TLS when it serves TLS).
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// SIGKILL, no cleanup: what a crash looks like.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("daemon did not stop on SIGTERM; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A client for `https://` daemons whose certificate `ca` (PEM) signed: the CLI's own TLS
/// settings (system roots plus the CA file).
pub fn https_agent(ca: &std::path::Path) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .tls_config(optidb::cli::client::daemon_tls(Some(ca)).expect("the test CA"))
        .build()
        .into()
}

/// The answer of a request made with any agent (see [`https_agent`]).
pub fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, String> {
    let mut r = r.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok(Answer { status, body })
}

pub fn get(url: &str) -> Result<Answer, String> {
    answer(agent().get(url).call())
}

pub fn post_json(url: &str, body: &serde_json::Value) -> Result<Answer, String> {
    answer(
        agent()
            .post(url)
            .header("content-type", "application/json")
            .send(body.to_string()),
    )
}

pub fn post_empty(url: &str) -> Result<Answer, String> {
    answer(agent().post(url).send_empty())
}

/// POST with no body and one extra header (for cross-site checks).
pub fn post_with_header(url: &str, name: &str, value: &str) -> Result<Answer, String> {
    answer(agent().post(url).header(name, value).send_empty())
}

/// POST a raw body with a content type (for malformed and oversized bodies).
pub fn post_raw(url: &str, content_type: &str, body: String) -> Result<Answer, String> {
    answer(
        agent()
            .post(url)
            .header("content-type", content_type)
            .send(body),
    )
}

/// GET with one extra header; returns the body as text.
pub fn get_with_header(url: &str, name: &str, value: &str) -> Result<String, String> {
    let mut r = agent()
        .get(url)
        .header(name, value)
        .call()
        .map_err(|e| e.to_string())?;
    r.body_mut().read_to_string().map_err(|e| e.to_string())
}

/// A daemon (sampler off, `extra` arguments added) on [`tickets_sandbox`]`(calls)` as the
/// least-privileged role, after one successful scan. Fields drop in order: daemon, store,
/// sandbox.
pub struct ScannedTickets {
    pub d: Daemon,
    pub store: tempfile::TempDir,
    pub sb: optidb::sandbox::Sandbox,
}

pub fn scanned_tickets(calls: usize, extra: &[&str]) -> ScannedTickets {
    let sb = tickets_sandbox(calls);
    let store = tempfile::tempdir().expect("store dir");
    let args: Vec<&str> = ["--sample-interval-ms", "0"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let d = Daemon::start(&optidb_url(&sb), store.path(), &args);
    let scan = post_empty(&d.url("/scan")).expect("POST /scan");
    assert_eq!(scan.status, 200, "{}", scan.body);
    ScannedTickets { d, store, sb }
}

/// A sandbox with a `tickets` table (200,000 rows, `buyer_id` with 5,000 values and no index on
/// it, `price`), analyzed in its own step, pg_stat_statements reset, and the slow query
/// `SELECT * FROM tickets WHERE buyer_id = <i>` run `calls` times: one clear missing index.
pub fn tickets_sandbox(calls: usize) -> optidb::sandbox::Sandbox {
    let sb = optidb::sandbox::Sandbox::start(optidb::sandbox::SandboxOptions::default())
        .expect("sandbox");
    sb.batch_execute(
        "CREATE TABLE tickets (id int PRIMARY KEY, buyer_id int NOT NULL, price int);
         INSERT INTO tickets SELECT g, g % 5000, g % 97 FROM generate_series(1, 200000) g;",
    )
    .expect("tickets");
    // A separate step: statistics taken after the insert's counters are flushed.
    sb.batch_execute("ANALYZE tickets").expect("analyze");
    sb.batch_execute("SELECT pg_stat_statements_reset()")
        .expect("reset");
    for i in 0..calls {
        sb.batch_execute(&format!("SELECT * FROM tickets WHERE buyer_id = {i}"))
            .expect("workload");
    }
    sb
}

/// Throwaway certificates for TLS tests, made with the `openssl` command (Debian package
/// `openssl`) at test time: a CA, and server certificates it signs.
pub mod certs {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Runs `openssl args…` in `dir`; panics with its stderr when it fails.
    pub fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (Debian package openssl) makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA (`<name>.crt`, `<name>.key`, P-256) in `dir`, valid two days.
    pub fn make_ca(dir: &Path, name: &str) {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// A server certificate and what signed it.
    pub struct ServerCert {
        /// The CA certificate (PEM) that signed `cert`.
        pub ca: PathBuf,
        /// The server's certificate (PEM).
        pub cert: PathBuf,
        /// Its private key (PEM, PKCS#8).
        pub key: PathBuf,
    }

    /// A server certificate `<name>.crt`/`<name>.key` for `alt_names` (e.g.
    /// `DNS:localhost,IP:127.0.0.1`), signed by the CA `ca` made with [`make_ca`] in `dir`.
    pub fn make_server_cert(dir: &Path, ca: &str, name: &str, alt_names: &str) -> ServerCert {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!(
                "subjectAltName={alt_names}\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("writing the certificate extensions");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
        ServerCert {
            ca: dir.join(format!("{ca}.crt")),
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

/// Every recommendation's DDL, built for real on the sandbox inside a transaction that is rolled
/// back (CONCURRENTLY, which cannot run in one, removed; on a partitioned table it is a refusal;
/// pg_trgm created first where a trigram index needs it). Returns PostgreSQL's refusals.
pub async fn ddl_refusals(
    url: &str,
    recs: &[optidb_core::model::Recommendation],
) -> anyhow::Result<Vec<String>> {
    let client = optidb::seed::connect(url, "ddl-check").await?;
    let mut refused = Vec::new();
    for r in recs {
        if r.ddl.contains("CONCURRENTLY") {
            // PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table.
            let (schema, name) = r
                .target
                .table
                .split_once('.')
                .unwrap_or(("public", &r.target.table));
            let rows = client
                .query(
                    "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relname = $2",
                    &[&schema, &name],
                )
                .await?;
            if rows.first().map(|row| row.get::<_, String>(0)).as_deref() == Some("p") {
                refused.push(format!(
                    "{}: CONCURRENTLY on the partitioned table {}\n    {}",
                    r.rec_type.as_str(),
                    r.target.table,
                    r.ddl
                ));
                continue;
            }
        }
        let ddl = r.ddl.replace(" CONCURRENTLY", "");
        client.batch_execute("BEGIN").await?;
        if ddl.contains("gin_trgm_ops") {
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                .await?;
        }
        // Statement by statement over the extended protocol (one statement per Parse): a
        // recommendation may be `CREATE STATISTICS …; ANALYZE …`, but no text is ever sent
        // where a smuggled `;` could start a statement of its own.
        for st in optidb_core::sql::split(&ddl) {
            if let Err(e) = client.execute(st.text, &[]).await {
                let why = e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string());
                refused.push(format!("{}: {why}\n    {}", r.rec_type.as_str(), r.ddl));
                break;
            }
        }
        client.batch_execute("ROLLBACK").await?;
    }
    eprintln!(
        "DDL built in a rolled-back transaction: {} run, {} refused",
        recs.len(),
        refused.len()
    );
    Ok(refused)
}
