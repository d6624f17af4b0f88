//! optidb-client: how OptiDB's clients — the `optidb` CLI and `optidb-lsp` — reach an
//! `https://` daemon, in one place: ureq over rustls with the ring provider (no aws-lc, no
//! cmake), trusting the system's roots (rustls-native-certs reads the store OpenSSL uses,
//! honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus an optional private CA file.

use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The system's trusted roots, read once per process.
fn system_roots() -> Arc<Vec<ureq::tls::Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<ureq::tls::Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            Arc::new(
                found
                    .certs
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect(),
            )
        })
        .clone()
}

/// TLS for `https://` daemons: the system's roots and `ca` (a PEM file of CA certificates).
/// Errors name the file and `setting`, the option that gave it (`--daemon-ca`,
/// `optidb.daemonCa`).
pub fn daemon_tls(ca: Option<&Path>, setting: &str) -> Result<ureq::tls::TlsConfig, String> {
    let mut roots = system_roots();
    if let Some(path) = ca {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read the daemon's CA file {} ({setting}): {e}",
                path.display()
            )
        })?;
        let mut added = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => added.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "the daemon's CA file {} ({setting}) is not valid PEM: {e}",
                        path.display()
                    ))
                }
            }
        }
        if added.is_empty() {
            return Err(format!(
                "the daemon's CA file {} ({setting}) holds no certificate (expected PEM: \
                 -----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        Arc::make_mut(&mut roots).extend(added);
    }
    Ok(ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(ureq::tls::RootCerts::Specific(roots))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_missing_or_empty_is_named_with_its_setting() {
        let e = daemon_tls(Some(Path::new("/nonexistent/ca.pem")), "--daemon-ca").unwrap_err();
        assert!(
            e.contains("/nonexistent/ca.pem") && e.contains("--daemon-ca"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("optidb-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = daemon_tls(Some(&empty), "optidb.daemonCa").unwrap_err();
        assert!(
            e.contains("holds no certificate") && e.contains("optidb.daemonCa"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(daemon_tls(None, "--daemon-ca").is_ok());
    }
}
