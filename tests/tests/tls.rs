//! Connecting like libpq, against a real PostgreSQL with TLS on: each sslmode does what libpq's
//! table says, failures say what to do, cancel requests go over TLS too, and passwords come
//! from a password file (never one that others can read).
//!
//! One sandbox per test binary (a static, removed by its watchdog when the process ends) gets a
//! throwaway CA and a server certificate for `localhost` only, made with the `openssl` CLI. Host
//! names that are not on the certificate are reached offline with libpq's `hostaddr`: the
//! connection goes to 127.0.0.1 and TLS checks `host`. A second, plain sandbox serves the
//! "server without TLS" cases.

use optidb::pg::conninfo::{self, SslMode};
use optidb::pg::tls::TlsError;
use optidb::pg::{PgError, Session, TargetConfig};
use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::certs::{make_ca, make_server_cert, openssl};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Tls {
    sb: Sandbox,
    ca: PathBuf,
    other_ca: PathBuf,
}

const PASSWORD: &str = "pa:ss\\word";

fn tls() -> &'static Tls {
    static T: OnceLock<Tls> = OnceLock::new();
    T.get_or_init(|| {
        let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
        // The sandbox directory belongs to the server's OS user (postgres when we are root).
        let dir = sb.root_dir().to_path_buf();
        let owner = std::fs::metadata(&dir).unwrap();
        make_ca(&dir, "ca");
        make_ca(&dir, "other-ca");
        make_server_cert(&dir, "ca", "server", "DNS:localhost");
        // A client certificate for certuser (the client's files stay ours).
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=certuser",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "client.ext",
                "-out",
                "client.crt",
            ],
        );
        std::fs::set_permissions(
            dir.join("client.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        for f in ["server.crt", "server.key", "ca.crt", "other-ca.crt"] {
            let p = dir.join(f);
            std::os::unix::fs::chown(&p, Some(owner.uid()), Some(owner.gid())).unwrap();
            let mode = if f.ends_with(".key") { 0o600 } else { 0o644 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        // A role that logs in with a password, and one that may not connect without TLS.
        let hba = sb.data_dir().join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(
            &hba,
            format!(
                "host all pwuser 127.0.0.1/32 scram-sha-256\n\
                 hostnossl all tlsonly 127.0.0.1/32 reject\n\
                 hostssl all certuser 127.0.0.1/32 cert\n{old}"
            ),
        )
        .unwrap();
        sb.batch_execute(&format!(
            "SET password_encryption = 'scram-sha-256';
             CREATE ROLE pwuser LOGIN PASSWORD '{}';
             CREATE ROLE tlsonly LOGIN;
             CREATE ROLE certuser LOGIN;",
            PASSWORD.replace('\'', "''")
        ))
        .unwrap();
        for sql in [
            format!(
                "ALTER SYSTEM SET ssl_cert_file = '{}'",
                dir.join("server.crt").display()
            ),
            format!(
                "ALTER SYSTEM SET ssl_key_file = '{}'",
                dir.join("server.key").display()
            ),
            format!(
                "ALTER SYSTEM SET ssl_ca_file = '{}'",
                dir.join("ca.crt").display()
            ),
            "ALTER SYSTEM SET ssl = on".to_string(),
            "SELECT pg_reload_conf()".to_string(),
        ] {
            sb.batch_execute(&sql).unwrap();
        }
        let t = Tls {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other-ca.crt"),
            sb,
        };
        // The reload is asynchronous: wait until new connections get TLS (on a thread of its
        // own: the caller may be a test's runtime).
        let url = t.url("localhost", "postgres", "sslmode=require");
        let waited = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match rt.block_on(async { conninfo::parse(&url)?.connect().await }) {
                    Ok(_) => return Ok(()),
                    Err(e) if Instant::now() > deadline => return Err(e.to_string()),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
        .join()
        .unwrap();
        if let Err(e) = waited {
            panic!("TLS never came up: {e}\n{}", t.sb.log_tail());
        }
        t
    })
}

impl Tls {
    /// A conninfo string reaching the sandbox at 127.0.0.1, with `host` as TLS sees it.
    fn url(&self, host: &str, user: &str, extra: &str) -> String {
        format!(
            "host={host} hostaddr=127.0.0.1 port={} user={user} dbname={} {extra}",
            self.sb.port(),
            self.sb.database()
        )
    }
}

async fn session(url: &str) -> Result<Session, PgError> {
    optidb::pg::connect(&TargetConfig::sandbox(url)).await
}

/// Whether the session's own connection is encrypted, as the server sees it.
async fn uses_tls(s: &Session) -> bool {
    s.client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

fn tls_error(r: Result<Session, PgError>) -> TlsError {
    match r {
        Err(PgError::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other} ({})", other.hint()),
        Ok(_) => panic!("expected a TLS error, connected"),
    }
}

#[tokio::test]
async fn verify_full_connects_over_tls_to_the_name_on_the_certificate() {
    let t = tls();
    let ca = t.ca.display();
    let s = session(&t.url(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full sslrootcert={ca}"),
    ))
    .await
    .unwrap();
    assert!(uses_tls(&s).await);
    let version: String = s
        .client
        .query_one(
            "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("TLSv1."), "{version}");
    // The URL form, and the seed's connection: the same code path.
    let url = format!(
        "postgres://postgres@localhost:{}/{}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        t.sb.port(),
        t.sb.database(),
        ca
    );
    let c = optidb::seed::connect(&url, "optidb-tls-test")
        .await
        .unwrap();
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_name() {
    let t = tls();
    let root = format!("sslmode=verify-full sslrootcert={}", t.ca.display());
    let e = tls_error(session(&t.url("db.example", "postgres", &root)).await);
    assert_eq!(
        e.to_string(),
        "the server's certificate is not valid for host db.example (sslmode=verify-full); \
         it is for localhost"
    );
    assert!(e.hint().contains("use sslmode=verify-ca"), "{}", e.hint());
    // An address is a name too: the certificate does not name 127.0.0.1.
    let e = tls_error(session(&t.url("127.0.0.1", "postgres", &root)).await);
    assert!(
        e.to_string().contains("not valid for host 127.0.0.1"),
        "{e}"
    );
}

#[tokio::test]
async fn verify_ca_checks_the_chain_whatever_the_name() {
    let t = tls();
    let s = session(&t.url(
        "db.example",
        "postgres",
        &format!("sslmode=verify-ca sslrootcert={}", t.ca.display()),
    ))
    .await
    .unwrap();
    assert!(uses_tls(&s).await);

    let other = t.other_ca.display().to_string();
    let e = tls_error(
        session(&t.url(
            "localhost",
            "postgres",
            &format!("sslmode=verify-ca sslrootcert={other}"),
        ))
        .await,
    );
    assert_eq!(
        e.to_string(),
        format!("the server's certificate is not signed by a CA in {other} (sslmode=verify-ca)")
    );
    // libpq: require with a root certificate file checks the chain like verify-ca.
    let e = tls_error(
        session(&t.url(
            "localhost",
            "postgres",
            &format!("sslmode=require sslrootcert={other}"),
        ))
        .await,
    );
    assert!(
        matches!(
            e,
            TlsError::UnknownIssuer {
                mode: SslMode::Require,
                ..
            }
        ),
        "{e}"
    );
    // The system's roots (the OS store) do not know a private CA; and they go with
    // verify-full only.
    let e = tls_error(session(&t.url("localhost", "postgres", "sslrootcert=system")).await);
    assert_eq!(
        e.to_string(),
        "the server's certificate is not signed by a CA in the system's trusted roots \
         (sslmode=verify-full)"
    );
    let e = tls_error(
        session(&t.url(
            "localhost",
            "postgres",
            "sslmode=require sslrootcert=system",
        ))
        .await,
    );
    assert!(matches!(e, TlsError::WeakWithSystemRoots { .. }), "{e}");
    // A missing root file is named.
    let e = tls_error(
        session(&t.url(
            "localhost",
            "postgres",
            "sslmode=verify-ca sslrootcert=/nonexistent/ca.crt",
        ))
        .await,
    );
    assert!(e.to_string().contains("/nonexistent/ca.crt"), "{e}");
    assert!(e.hint().contains("sslrootcert=system"), "{}", e.hint());
}

#[tokio::test]
async fn require_and_the_default_prefer_encrypt_disable_does_not() {
    let t = tls();
    for (extra, want) in [
        ("sslmode=require", true),
        ("", true), // prefer
        ("sslmode=disable", false),
    ] {
        let s = session(&t.url("localhost", "postgres", extra))
            .await
            .unwrap();
        assert_eq!(uses_tls(&s).await, want, "{extra:?}");
    }
}

#[tokio::test]
async fn allow_goes_over_tls_when_plain_is_refused() {
    let t = tls();
    let e = session(&t.url("localhost", "tlsonly", "sslmode=disable"))
        .await
        .err()
        .expect("plain is refused for tlsonly");
    assert!(matches!(e, PgError::Auth(_)), "{e}");
    let s = session(&t.url("localhost", "tlsonly", "sslmode=allow"))
        .await
        .unwrap();
    assert!(uses_tls(&s).await);
    let s = session(&t.url("localhost", "postgres", "sslmode=allow"))
        .await
        .unwrap();
    assert!(!uses_tls(&s).await, "allow tries plain first");
}

#[tokio::test]
async fn a_statement_is_cancelled_over_tls() {
    let t = tls();
    let s = session(&t.url(
        "localhost",
        "postgres",
        &format!("sslmode=verify-full sslrootcert={}", t.ca.display()),
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let (r, ()) = tokio::join!(s.client.simple_query("SELECT pg_sleep(4)"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.cancel().await;
    });
    let e = r.expect_err("cancelled");
    assert_eq!(
        e.as_db_error().map(|d| d.code().code()),
        Some("57014"),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_certificate_logs_in_when_its_key_is_private() {
    let t = tls();
    let dir = t.sb.root_dir();
    let (crt, key) = (dir.join("client.crt"), dir.join("client.key"));
    let verify = format!("sslmode=verify-full sslrootcert={}", t.ca.display());
    let s = session(&t.url(
        "localhost",
        "certuser",
        &format!(
            "{verify} sslcert={} sslkey={}",
            crt.display(),
            key.display()
        ),
    ))
    .await
    .unwrap();
    let dn: Option<String> = s
        .client
        .query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(dn.as_deref(), Some("/CN=certuser"));

    // No certificate (libpq sends none when sslcert names a missing file): pg_hba says no.
    let e = session(&t.url(
        "localhost",
        "certuser",
        &format!("{verify} sslcert=/nonexistent/client.crt"),
    ))
    .await
    .err()
    .expect("no certificate, no login");
    assert!(matches!(e, PgError::Auth(_)), "{e}");

    // A key others can read is refused before connecting, naming the file.
    let tmp = tempfile::tempdir().unwrap();
    let open_key = tmp.path().join("client.key");
    std::fs::copy(&key, &open_key).unwrap();
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = tls_error(
        session(&t.url(
            "localhost",
            "certuser",
            &format!(
                "{verify} sslcert={} sslkey={}",
                crt.display(),
                open_key.display()
            ),
        ))
        .await,
    );
    assert!(
        matches!(&e, TlsError::ClientCert { path, why } if path == &open_key && why.contains("group or world")),
        "{e}"
    );
}

fn passfile(dir: &Path, mode: u32) -> PathBuf {
    let p = dir.join(format!("pgpass-{mode:o}"));
    let escaped = PASSWORD.replace('\\', "\\\\").replace(':', "\\:");
    std::fs::write(
        &p,
        format!("# OptiDB test\nother:*:*:pwuser:wrong\n*:*:*:pwuser:{escaped}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[tokio::test]
async fn the_password_comes_from_a_private_password_file_only() {
    let t = tls();
    let dir = tempfile::tempdir().unwrap();
    let e = session(&t.url("localhost", "pwuser", ""))
        .await
        .err()
        .unwrap();
    assert!(matches!(e, PgError::Auth(_)), "{e}");

    let private = passfile(dir.path(), 0o600);
    let url = t.url(
        "localhost",
        "pwuser",
        &format!("passfile={}", private.display()),
    );
    let s = session(&url).await.unwrap();
    assert_eq!(s.info.user, "pwuser");
    assert!(!TargetConfig::new(url.clone()).display().contains("pa:ss"));

    let shared = passfile(dir.path(), 0o640);
    let url = t.url(
        "localhost",
        "pwuser",
        &format!("passfile={}", shared.display()),
    );
    let e = session(&url)
        .await
        .err()
        .expect("the shared file is ignored");
    let text = e.to_string();
    assert!(matches!(e, PgError::Auth(_)), "{text}");
    assert!(
        text.contains(&format!("password file {} ignored", shared.display()))
            && text.contains("chmod 0600"),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_without_tls_fails_require_and_serves_prefer_in_plain() {
    let sb = Sandbox::start_async(SandboxOptions::default())
        .await
        .unwrap();
    let url = |extra: &str| {
        format!(
            "host=localhost hostaddr=127.0.0.1 port={} user=postgres dbname={} {extra}",
            sb.port(),
            sb.database()
        )
    };
    for mode in ["require", "verify-full"] {
        let e = tls_error(
            session(&url(&format!(
                "sslmode={mode} sslrootcert={}",
                tls().ca.display()
            )))
            .await,
        );
        assert_eq!(
            e.to_string(),
            format!("the server does not support TLS but sslmode={mode}")
        );
        assert!(e.hint().contains("ssl = on"), "{}", e.hint());
    }
    let s = session(&url("sslmode=prefer")).await.unwrap();
    assert!(!uses_tls(&s).await);
}

/// What a TLS handshake costs per connection: N sessions' worth of connects with sslmode=disable
/// and with verify-full, in one run. `cargo test -p optidb-e2e --test tls -- --ignored
/// --nocapture tls_handshake_cost`.
#[tokio::test]
#[ignore]
async fn tls_handshake_cost() {
    let t = tls();
    let n = 200;
    let mut per = Vec::new();
    for extra in [
        "sslmode=disable".to_string(),
        format!("sslmode=verify-full sslrootcert={}", t.ca.display()),
    ] {
        let info = conninfo::parse(&t.url("localhost", "postgres", &extra)).unwrap();
        let started = Instant::now();
        for _ in 0..n {
            let c = info.connect().await.unwrap();
            c.simple_query("").await.unwrap();
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / n as f64;
        eprintln!("{extra}: {ms:.2} ms per connect");
        per.push(ms);
    }
    eprintln!("TLS / plain: {:.2}", per[1] / per[0]);
}
