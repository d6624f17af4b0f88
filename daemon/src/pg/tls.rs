//! TLS to target databases, with libpq's `sslmode` semantics, because managed PostgreSQL
//! services require it and their users already know libpq's parameters.
//!
//! | mode | TLS | what is checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server refuses plain | nothing |
//! | `prefer` (default) | if the server offers it | nothing |
//! | `require` | always | nothing; the chain when a root certificate file exists (libpq) |
//! | `verify-ca` | always | the chain, to `sslrootcert` |
//! | `verify-full` | always | the chain and that the certificate names the host |
//!
//! `sslrootcert` defaults to `~/.postgresql/root.crt`; `sslrootcert=system` means the system's
//! trusted roots, read with rustls-native-certs (the same store libpq's OpenSSL reads, honouring
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`), and then only `verify-full` is allowed, as in libpq 16.
//! A client certificate (`sslcert`, `sslkey`, by default `~/.postgresql/postgresql.crt` and
//! `.key`) is sent when its file exists. The stack is rustls with the ring provider: no OpenSSL
//! to link, no cmake. "Nothing checked" still verifies the handshake's signatures against the
//! certificate's key; it does not protect against an active attacker, which is why the modes
//! that verify exist. docs/security.md has the details.

use super::conninfo::{LibpqParams, SslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Why a TLS connection could not be set up. `hint()` says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("the server does not support TLS but sslmode={mode}")]
    ServerWithoutTls { mode: SslMode },
    #[error(
        "the server's certificate is not valid for host {host} (sslmode=verify-full){}",
        presented_names(presented)
    )]
    NameMismatch {
        host: String,
        presented: Vec<String>,
    },
    #[error("the server's certificate is not signed by a CA in {roots} (sslmode={mode})")]
    UnknownIssuer { roots: String, mode: SslMode },
    #[error("the server's certificate was refused: {why} (sslmode={mode})")]
    BadCertificate { why: String, mode: SslMode },
    #[error("root certificate file {path} does not exist (sslmode={mode})")]
    NoRootCert { path: PathBuf, mode: SslMode },
    #[error("cannot read the root certificate file {path}: {why}")]
    RootCert { path: PathBuf, why: String },
    #[error("cannot use the client certificate {path}: {why}")]
    ClientCert { path: PathBuf, why: String },
    #[error("sslmode={mode} may not be used with sslrootcert=system")]
    WeakWithSystemRoots { mode: SslMode },
    #[error("the TLS handshake with the server failed: {0}")]
    Handshake(String),
}

fn presented_names(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("; it is for {}", names.join(", "))
    }
}

impl TlsError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            TlsError::ServerWithoutTls { .. } => "turn TLS on in the server (ssl = on, with ssl_cert_file and ssl_key_file, in postgresql.conf), or connect with sslmode=prefer to accept an unencrypted connection".into(),
            TlsError::NameMismatch { .. } => "connect with the name on the certificate (host=…; hostaddr=… can still give the address) or use sslmode=verify-ca, which checks the CA but not the name".into(),
            TlsError::UnknownIssuer { .. } => "set sslrootcert (or PGSSLROOTCERT) to the certificate of the CA that signed the server's certificate (managed services publish their CA bundle), or sslrootcert=system for a public CA".into(),
            TlsError::BadCertificate { .. } => "the server must present a valid certificate (in date, for a server, signed correctly); check ssl_cert_file on the server".into(),
            TlsError::NoRootCert { .. } => "give the CA's certificate with sslrootcert=/path (or PGSSLROOTCERT), use the system's trusted roots with sslrootcert=system, or use sslmode=require to encrypt without verifying the server".into(),
            TlsError::RootCert { .. } => "sslrootcert must name a readable file of PEM certificates (-----BEGIN CERTIFICATE-----)".into(),
            TlsError::ClientCert { .. } => "sslcert and sslkey must name readable PEM files, the key readable by its owner only (chmod 0600)".into(),
            TlsError::WeakWithSystemRoots { .. } => "use sslmode=verify-full with sslrootcert=system: a public CA signs certificates for anyone's names, so only the name check makes it safe".into(),
            TlsError::Handshake(_) => "check that the server accepts TLS on this port and, if it asks for a client certificate, that sslcert and sslkey name one it accepts".into(),
        }
    }
}

/// The crypto provider: ring (pure Rust and assembly; no cmake).
fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's trusted roots, read once per process.
fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(format!("no trusted root certificate found ({why})"));
            }
            Ok(Arc::new(store))
        })
        .clone()
        .map_err(|why| TlsError::RootCert {
            path: PathBuf::from("system"),
            why,
        })
}

/// `~/.postgresql/<name>`, libpq's default place for TLS files.
fn default_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".postgresql").join(name))
}

/// What the server's certificate is checked against.
enum Check {
    Nothing,
    Chain(Arc<RootCertStore>),
    ChainAndName(Arc<RootCertStore>),
}

/// Where the roots come from, as the messages name them.
pub fn roots_label(p: &LibpqParams) -> String {
    match p.sslrootcert.as_deref() {
        Some("system") => "the system's trusted roots".into(),
        Some(path) => path.to_string(),
        None => default_file("root.crt")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.postgresql/root.crt".into()),
    }
}

fn check_for(p: &LibpqParams) -> Result<Check, TlsError> {
    let mode = p.mode();
    if p.sslrootcert.as_deref() == Some("system") {
        if mode != SslMode::VerifyFull {
            return Err(TlsError::WeakWithSystemRoots { mode });
        }
        return Ok(Check::ChainAndName(system_roots()?));
    }
    let explicit = p.sslrootcert.as_ref().map(PathBuf::from);
    match mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer => Ok(Check::Nothing),
        SslMode::Require => {
            // libpq: with a root certificate file, require checks the chain like verify-ca.
            // A file named explicitly must be there (libpq would silently not verify).
            let path = match explicit {
                Some(p) => p,
                None => match default_file("root.crt").filter(|p| p.exists()) {
                    Some(p) => p,
                    None => return Ok(Check::Nothing),
                },
            };
            Ok(Check::Chain(load_roots(&path, mode)?))
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let path = explicit
                .or_else(|| default_file("root.crt"))
                .unwrap_or_else(|| PathBuf::from("~/.postgresql/root.crt"));
            let roots = load_roots(&path, mode)?;
            Ok(if mode == SslMode::VerifyCa {
                Check::Chain(roots)
            } else {
                Check::ChainAndName(roots)
            })
        }
    }
}

fn load_roots(path: &Path, mode: SslMode) -> Result<Arc<RootCertStore>, TlsError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TlsError::NoRootCert {
                path: path.to_path_buf(),
                mode,
            })
        }
        Err(e) => {
            return Err(TlsError::RootCert {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
        }
        Ok(_) => {}
    }
    let unreadable = |why: String| TlsError::RootCert {
        path: path.to_path_buf(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(unreadable(if ignored == 0 {
            "no PEM certificate in it".into()
        } else {
            format!("none of its {ignored} certificates could be used")
        }));
    }
    Ok(Arc::new(store))
}

/// The client certificate and key to present, when the certificate file exists (libpq sends
/// none otherwise, also when `sslcert` names a missing file).
fn client_auth(
    p: &LibpqParams,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsError> {
    let Some(cert) = p.sslcert.clone().or_else(|| default_file("postgresql.crt")) else {
        return Ok(None);
    };
    if !cert.exists() {
        return Ok(None);
    }
    let bad = |path: &Path, why: String| TlsError::ClientCert {
        path: path.to_path_buf(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| bad(&cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(&cert, "no PEM certificate in it".into()));
    }
    let key = p
        .sslkey
        .clone()
        .or_else(|| default_file("postgresql.key"))
        .ok_or_else(|| bad(&cert, "no sslkey for it".into()))?;
    let meta = std::fs::metadata(&key).map_err(|e| {
        bad(
            &key,
            format!("the certificate is there but not its private key ({e})"),
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o777;
        let root_owned_group_read = meta.uid() == 0 && mode & 0o037 == 0;
        if mode & 0o077 != 0 && !root_owned_group_read {
            return Err(bad(
                &key,
                format!(
                    "the private key file has group or world access (mode {mode:04o}); it must \
                     be u=rw (0600) or less, or u=rw,g=r (0640) or less if owned by root"
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let key_der = PrivateKeyDer::from_pem_file(&key).map_err(|e| bad(&key, e.to_string()))?;
    Ok(Some((certs, key_der)))
}

/// The TLS connector for these parameters (cheap: builds a rustls configuration; the system
/// roots are read once per process).
pub fn connector(p: &LibpqParams) -> Result<MakeRustlsConnect, TlsError> {
    let provider = provider();
    let (check, auth) = if p.mode() == SslMode::Disable {
        (Check::Nothing, None)
    } else {
        (check_for(p)?, client_auth(p)?)
    };
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(NoCheck(provider.clone())),
        Check::Chain(roots) => Arc::new(ChainOnly(webpki_verifier(roots, &provider)?)),
        Check::ChainAndName(roots) => webpki_verifier(roots, &provider)?,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match auth {
        Some((certs, key)) => {
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TlsError::ClientCert {
                    path: p
                        .sslkey
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("~/.postgresql/postgresql.key")),
                    why: e.to_string(),
                })?
        }
        None => builder.with_no_client_auth(),
    };
    // PostgreSQL 17 checks ALPN when a client sends it; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustlsConnect::new(config))
}

fn webpki_verifier(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Handshake(format!("cannot build the certificate verifier: {e}")))
}

/// `prefer`, `allow`, `require` without roots: any certificate, but the handshake's signatures
/// are still verified with the certificate's key.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: webpki's full verification, with only its name check waived. webpki checks
/// the name last, after the chain, validity and usage, so a name error means all else passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The TLS failure behind a connection error, if it is one: the rustls error inside the
/// chain, or tokio-postgres's "server does not support TLS".
pub fn classify(e: &tokio_postgres::Error, p: &LibpqParams, host: &str) -> Option<TlsError> {
    let mode = p.mode();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut texts = Vec::new();
    while let Some(err) = cur {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .or_else(|| err.downcast_ref::<rustls::Error>());
        if let Some(r) = inner {
            return Some(from_rustls(r, p, host));
        }
        let text = err.to_string();
        if text.contains("server does not support TLS") {
            return Some(TlsError::ServerWithoutTls { mode });
        }
        texts.push(text);
        cur = err.source();
    }
    let all = texts.join(": ");
    if all.contains("error performing TLS handshake") {
        Some(TlsError::Handshake(all))
    } else {
        None
    }
}

fn from_rustls(r: &rustls::Error, p: &LibpqParams, host: &str) -> TlsError {
    let mode = p.mode();
    match r {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName => TlsError::NameMismatch {
                host: host.to_string(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => TlsError::NameMismatch {
                host: match expected {
                    ServerName::DnsName(d) => d.as_ref().to_string(),
                    ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                    _ => host.to_string(),
                },
                presented: presented.iter().map(|n| bare_name(n)).collect(),
            },
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer {
                roots: roots_label(p),
                mode,
            },
            other => TlsError::BadCertificate {
                why: other.to_string(),
                mode,
            },
        },
        other => TlsError::Handshake(other.to_string()),
    }
}

/// `localhost` for rustls's `DnsName("localhost")`: the name as people write it.
fn bare_name(presented: &str) -> String {
    match presented.split_once('"') {
        Some((_, rest)) => rest.rsplit_once('"').map_or(rest, |(n, _)| n).to_string(),
        None => presented.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(mode: Option<SslMode>, rootcert: Option<&str>) -> LibpqParams {
        LibpqParams {
            sslmode: mode,
            sslrootcert: rootcert.map(String::from),
            ..LibpqParams::default()
        }
    }

    #[test]
    fn the_system_roots_go_with_verify_full_only() {
        for m in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
        ] {
            if m == SslMode::Disable {
                // disable never looks at TLS files
                assert!(connector(&params(Some(m), Some("system"))).is_ok());
                continue;
            }
            let e = connector(&params(Some(m), Some("system"))).err();
            assert_eq!(e, Some(TlsError::WeakWithSystemRoots { mode: m }), "{m}");
        }
    }

    #[test]
    fn verifying_modes_need_a_root_file_and_name_it() {
        let missing = "/nonexistent/optidb/root.crt";
        for m in [SslMode::VerifyCa, SslMode::VerifyFull, SslMode::Require] {
            let e = connector(&params(Some(m), Some(missing))).err().unwrap();
            assert_eq!(
                e,
                TlsError::NoRootCert {
                    path: missing.into(),
                    mode: m
                }
            );
            assert!(e.to_string().contains(missing), "{e}");
        }
        // prefer does not verify, so a missing file does not matter.
        assert!(connector(&params(Some(SslMode::Prefer), Some(missing))).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = connector(&params(Some(SslMode::VerifyCa), junk.to_str()))
            .err()
            .unwrap();
        assert!(
            matches!(&e, TlsError::RootCert { path, .. } if path == &junk),
            "{e}"
        );
    }

    #[test]
    fn a_name_mismatch_says_which_name_and_what_to_do() {
        let e = TlsError::NameMismatch {
            host: "db.example".into(),
            presented: vec!["localhost".into()],
        };
        assert_eq!(
            e.to_string(),
            "the server's certificate is not valid for host db.example (sslmode=verify-full); \
             it is for localhost"
        );
        assert!(e.hint().contains("sslmode=verify-ca"));
    }
}
