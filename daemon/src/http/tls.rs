//! The daemon's own TLS (`--tls-cert`/`--tls-key`), so clients beyond loopback reach it over
//! `https://` and a bearer token never crosses a network in clear text. The same stack as the
//! connections to targets: rustls with the ring provider, through tokio-rustls; certificates
//! and keys are read from PEM files with rustls-pki-types' parser (a chain; a PKCS#8, RSA or
//! SEC1 key), and a file that is missing or holds nothing usable is named in the error.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The first byte of a TLS record that starts a handshake (a ClientHello).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// A TLS acceptor for the daemon's certificate chain and key (PEM files). Errors name the file
/// and say what was wrong with it.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the TLS {what} {}: {e} (--tls-cert/--tls-key take PEM files)",
                path.display()
            )
        })
    };
    let cert_pem = read(cert, "certificate")?;
    let key_pem = read(key, "key")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "the TLS certificate {} is not valid PEM: {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!(
            "the TLS certificate {} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
            cert.display()
        );
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow::anyhow!(
            "the TLS key {} holds no usable private key (expected PEM: PKCS#8, RSA or EC): {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            anyhow::anyhow!(
                "the TLS key {} does not fit the certificate {} (or is not supported): {e}",
                key.display(),
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What a client that spoke plain HTTP to the TLS port gets before the connection closes: a
/// 400 that says to use `https://` (as nginx does), instead of a silent reset.
pub fn plain_http_answer() -> &'static [u8] {
    const BODY: &str = "{\"error\":\"this daemon serves HTTPS\",\"why\":\"a plain HTTP request \
                        reached a TLS port\",\"hint\":\"use an https:// URL\"}";
    static ANSWER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ANSWER
        .get_or_init(|| {
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                BODY.len()
            )
        })
        .as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = acceptor(&missing, &missing).err().unwrap().to_string();
        assert!(e.contains("nope.pem") && e.contains("cannot read"), "{e}");
        let e = acceptor(&junk, &junk).err().unwrap().to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no certificate"),
            "{e}"
        );
    }

    #[test]
    fn the_plain_http_answer_is_well_formed() {
        let a = std::str::from_utf8(plain_http_answer()).unwrap();
        let (head, body) = a.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
