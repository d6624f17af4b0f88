//! The daemon serving HTTPS itself (`--tls-cert`/`--tls-key`), and its clients over
//! `https://`: the CLI trusting a private CA with `--daemon-ca` (or `OPTIDB_DAEMON_CA`), the
//! language server with its `daemonCa` setting. Without the CA the certificate error says what
//! to do; plain HTTP to the TLS port is answered with a 400 that says to use https; a client
//! that opens a socket and never completes a handshake holds nobody up; certificate files that
//! are missing or wrong are named.
//!
//! One sandbox per test binary (a static, removed by its watchdog when the process ends) with
//! one clear slow query; the CA and the certificate for `localhost` and `127.0.0.1` are made
//! with the `openssl` command at test time (`optidb_e2e::certs`) in the sandbox's directory.
//! Each test starts its own daemon (a process killed when the test's `Daemon` is dropped: a
//! daemon in a static would outlive the test binary).

use optidb_e2e::certs::{make_ca, make_server_cert, ServerCert};
use optidb_e2e::{answer, bin_path, optidb_url, tickets_sandbox, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Setup {
    sb: optidb::sandbox::Sandbox,
    tls: ServerCert,
    db_url: String,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let sb = tickets_sandbox(20);
        let db_url = optidb_url(&sb);
        let dir = sb.root_dir().join("https");
        std::fs::create_dir_all(&dir).unwrap();
        make_ca(&dir, "ca");
        let tls = make_server_cert(&dir, "ca", "daemon", "DNS:localhost,IP:127.0.0.1");
        Setup { sb, tls, db_url }
    })
}

impl Setup {
    /// A daemon serving HTTPS on the sandbox (its store in the sandbox's directory), after one
    /// scan when `scanned`.
    fn daemon(&self, scanned: bool) -> Daemon {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let store = self.sb.root_dir().join(format!("https/store-{n}"));
        let d = Daemon::start_tls(
            &self.db_url,
            &store,
            &self.tls,
            &["--header-timeout-ms", "1500"],
        );
        if scanned {
            let scan = answer(d.agent().post(d.url("/scan")).send_empty()).unwrap();
            assert_eq!(scan.status, 200, "{:?}", scan.body);
        }
        d
    }
}

/// `optidb args…` with the environment cleared of OptiDB's variables: (exit code, stdout, stderr).
fn optidb(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin_path("optidb"))
        .args(args)
        .env_remove("OPTIDB_DAEMON")
        .env_remove("OPTIDB_DAEMON_CA")
        .env_remove("OPTIDB_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run optidb");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn port(d: &Daemon) -> u16 {
    d.base.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn the_cli_talks_to_an_https_daemon_trusting_a_private_ca() {
    let s = setup();
    let d = s.daemon(true);
    let ca = s.tls.ca.display().to_string();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}", port(&d));
        let (code, out, err) = optidb(
            &[
                "bottlenecks",
                "--daemon",
                &url,
                "--daemon-ca",
                &ca,
                "--json",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).expect("JSON");
        let rows = v.as_array().expect("a list");
        assert!(
            rows.iter()
                .any(|r| r["query"].as_str().unwrap_or("").contains("tickets")),
            "{out}"
        );
    }
    // The same from the environment, as a table.
    let (code, out, err) = optidb(
        &["bottlenecks"],
        &[("OPTIDB_DAEMON", &d.base), ("OPTIDB_DAEMON_CA", &ca)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tickets"), "{out}");
}

#[test]
fn without_the_ca_the_certificate_error_says_what_to_do() {
    let s = setup();
    let d = s.daemon(false);
    let (code, _, err) = optidb(&["bottlenecks", "--daemon", &d.base], &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("--daemon-ca"), "{err}");
    // A CA file that is not there is named.
    let (code, _, err) = optidb(
        &[
            "bottlenecks",
            "--daemon",
            &d.base,
            "--daemon-ca",
            "/nonexistent/ca.pem",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    // https:// to a daemon that serves plain HTTP: told so.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = plain.accept() {
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let (code, _, err) = optidb(
        &[
            "bottlenecks",
            "--daemon",
            &format!("https://127.0.0.1:{plain_port}"),
        ],
        &[],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("plain HTTP"), "{err}");
}

#[test]
fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let d = setup().daemon(false);
    let url = format!("http://127.0.0.1:{}", port(&d));
    let (code, _, err) = optidb(&["bottlenecks", "--daemon", &url], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("this daemon serves HTTPS"), "{err}");
    assert!(err.contains("https://"), "{err}");
    // curl sees the same 400.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "-",
            "-w",
            "%{http_code}",
            &format!("{url}/health"),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("400") && text.contains("https://"), "{text}");
}

#[test]
fn a_client_that_never_handshakes_does_not_block_others() {
    let d = setup().daemon(false);
    let addr = format!("127.0.0.1:{}", port(&d));
    // 40 sockets that say nothing, and 10 that send half a ClientHello.
    let mut silent: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    for _ in 0..10 {
        let mut c = TcpStream::connect(&addr).unwrap();
        c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
        silent.push(c);
    }
    let t0 = Instant::now();
    let health = answer(d.agent().get(d.url("/health")).call()).unwrap();
    assert_eq!(health.status, 200, "{:?}", health.body);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "/health took {:?}",
        t0.elapsed()
    );
    // The daemon closes them after the handshake deadline (--header-timeout-ms 1500).
    for c in &mut silent {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        let t = Instant::now();
        let n = c.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the daemon sent something to a silent client");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    // Still serving.
    let health = answer(d.agent().get(d.url("/health")).call()).unwrap();
    assert_eq!(health.status, 200);
}

#[test]
fn certificate_files_that_are_missing_or_wrong_are_named_and_tls_cookies_are_secure() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let key = s.tls.key.display().to_string();
    let cert = s.tls.cert.display().to_string();
    let store = dir.path().join("store").display().to_string();
    for (args, named) in [
        (
            vec!["--tls-cert", "/nonexistent/cert.pem", "--tls-key", &key],
            "/nonexistent/cert.pem",
        ),
        (
            vec!["--tls-cert", junk.to_str().unwrap(), "--tls-key", &key],
            "junk.pem",
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", junk.to_str().unwrap()],
            "junk.pem",
        ),
        (
            vec![
                "--tls-cert",
                &s.tls.ca.display().to_string(),
                "--tls-key",
                &key,
            ],
            "does not fit",
        ),
    ] {
        let mut all = vec![
            "daemon",
            "--db",
            &s.db_url,
            "--store",
            &store,
            "--interval",
            "0",
        ];
        all.extend(args.iter().map(|a| &**a));
        all.extend(["--listen", "127.0.0.1:0"]);
        let (code, _, err) = optidb(&all, &[]);
        assert_ne!(code, 0, "{err}");
        assert!(err.contains(named), "{named}: {err}");
    }
    let (code, _, err) = optidb(&["daemon", "--tls-cert", &cert], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--tls-key"), "{err}");

    // A SEC1 ("EC PRIVATE KEY") key works too; with a token, the login cookie is Secure.
    optidb_e2e::certs::openssl(
        s.tls.key.parent().unwrap(),
        &["ec", "-in", "daemon.key", "-out", "daemon-sec1.key"],
    );
    let sec1 = ServerCert {
        ca: s.tls.ca.clone(),
        cert: s.tls.cert.clone(),
        key: s.tls.key.with_file_name("daemon-sec1.key"),
    };
    assert!(std::fs::read_to_string(&sec1.key)
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    let token = "a-long-enough-test-token-123";
    let d = Daemon::start_tls(
        &s.db_url,
        &dir.path().join("store2"),
        &sec1,
        &["--token", token],
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(optidb::cli::client::daemon_tls(Some(&s.tls.ca)).unwrap())
        .build()
        .into();
    let r = agent
        .get(d.url(&format!("/login?token={token}")))
        .call()
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        cookie.contains("optidb_token=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

/// One LSP message on the wire.
fn send(stdin: &mut impl Write, msg: &Value) {
    let body = msg.to_string();
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    stdin.flush().unwrap();
}

/// Reads messages until `pred` holds for one (answering the server's requests with null), or
/// the deadline passes.
fn read_until(
    out: &mut BufReader<std::process::ChildStdout>,
    stdin: &mut impl Write,
    deadline: Instant,
    seen: &mut Vec<Value>,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    while Instant::now() < deadline {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().ok()?;
            }
        }
        let mut body = vec![0u8; len];
        out.read_exact(&mut body).ok()?;
        let msg: Value = serde_json::from_slice(&body).ok()?;
        if msg.get("method").is_some() && msg.get("id").is_some() {
            send(
                stdin,
                &json!({"jsonrpc": "2.0", "id": msg["id"], "result": null}),
            );
        }
        if pred(&msg) {
            return Some(msg);
        }
        seen.push(msg);
    }
    None
}

/// Runs `optidb-lsp` with these initialization options on a file with the sandbox's slow
/// query; returns the first publish with a live finding, or every message seen until the
/// server said live data is unavailable.
fn lsp_live_finding(options: Value) -> Result<Value, Vec<Value>> {
    let mut child = Command::new(bin_path("optidb-lsp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("optidb-lsp");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"processId": null, "rootUri": null, "capabilities": {},
                           "initializationOptions": options}}),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = vec![];
    read_until(&mut out, &mut stdin, deadline, &mut seen, |m| m["id"] == 1)
        .expect("initialize answered");
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
    );
    let text = "SELECT * FROM tickets WHERE buyer_id = 42;\n";
    send(
        &mut stdin,
        &json!({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                "params": {"textDocument": {"uri": "file:///w/q.sql", "languageId": "sql",
                                            "version": 1, "text": text}}}),
    );
    let live = |m: &Value| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["code"] == "missing_index"))
    };
    // Until a live finding, or the message that live data is unavailable.
    let found = read_until(&mut out, &mut stdin, deadline, &mut seen, |m| {
        live(m) || m["method"] == "window/showMessage"
    });
    let _ = child.kill();
    let _ = child.wait();
    match found {
        Some(m) if live(&m) => Ok(m),
        Some(m) => {
            seen.push(m);
            Err(seen)
        }
        None => Err(seen),
    }
}

#[test]
fn the_language_server_talks_to_an_https_daemon() {
    let s = setup();
    let daemon = s.daemon(true);
    let found = lsp_live_finding(json!({
        "daemonUrl": daemon.base,
        "daemonCa": s.tls.ca,
        "timeoutMs": 5000,
    }))
    .unwrap_or_else(|seen| panic!("no live finding over https; saw {seen:#?}"));
    let d = &found["params"]["diagnostics"].as_array().unwrap()[0];
    assert!(
        d["message"].as_str().unwrap_or("").contains("tickets"),
        "{d}"
    );
    // Without the CA: no live finding, and the message says why.
    let seen = lsp_live_finding(json!({"daemonUrl": daemon.base, "timeoutMs": 5000}))
        .expect_err("no live finding without the CA");
    let messages: Vec<&str> = seen
        .iter()
        .filter(|m| m["method"] == "window/showMessage" || m["method"] == "window/logMessage")
        .filter_map(|m| m["params"]["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("UnknownIssuer") && m.contains("daemonCa")),
        "{messages:#?}"
    );
}

/// CPU seconds (user + system) the process `pid` has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    ticks / hz
}

#[test]
fn handshake_cost() {
    // Measured, not asserted beyond a sanity bound: the daemon's CPU time per request on a new
    // connection (TCP + TLS 1.3 handshake + GET /health) and per request on a kept one; the
    // difference is what a handshake costs the daemon. Printed for docs/performance.md.
    let s = setup();
    let d = s.daemon(false);
    let n = 100;
    let url = d.url("/health");
    let ca: &Path = &s.tls.ca;
    let tls = optidb::cli::client::daemon_tls(Some(ca)).unwrap();
    let pid = d.child.id();
    let fresh_agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .tls_config(tls.clone())
            .http_status_as_error(false)
            .build()
            .into()
    };
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    for _ in 0..n {
        assert_eq!(answer(fresh_agent().get(&url).call()).unwrap().status, 200);
    }
    let (fresh_cpu, fresh_wall) = ((cpu_seconds(pid) - c0) / n as f64, t0.elapsed() / n);
    let agent = fresh_agent();
    assert_eq!(answer(agent.get(&url).call()).unwrap().status, 200);
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    for _ in 0..n {
        assert_eq!(answer(agent.get(&url).call()).unwrap().status, 200);
    }
    let (kept_cpu, kept_wall) = ((cpu_seconds(pid) - c0) / n as f64, t0.elapsed() / n);
    eprintln!(
        "GET /health over https, daemon CPU per request: {:.2} ms with a new connection \
         (handshake), {:.2} ms on a kept one; wall time {fresh_wall:?} and {kept_wall:?}",
        fresh_cpu * 1000.0,
        kept_cpu * 1000.0
    );
    assert!(fresh_wall < Duration::from_secs(1), "{fresh_wall:?}");
}
