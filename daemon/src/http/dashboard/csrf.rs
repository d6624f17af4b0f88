//! Cross-site request protection for the dashboard's POSTs: a per-process token htmx sends
//! back, and same-origin checks of Origin and Sec-Fetch-Site.

use super::CSRF_HEADER;
use axum::http::HeaderMap;
use std::sync::OnceLock;

/// A random token for this process: pages embed it, htmx sends it back in [`CSRF_HEADER`].
pub fn csrf_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut seed = [0u8; 32];
        let from_os = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
            .is_ok();
        let mut h = blake3::Hasher::new();
        h.update(&seed);
        if !from_os {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            h.update(&now.as_nanos().to_le_bytes());
            h.update(&std::process::id().to_le_bytes());
            h.update(&(&seed as *const _ as usize).to_le_bytes());
        }
        h.finalize().to_hex()[..32].to_string()
    })
}

/// Whether a request is not a browser's cross-site request: `Sec-Fetch-Site` (when sent) must
/// be `same-origin` or `none`, and `Origin` (when sent) must name the `Host`. Clients other than
/// browsers (curl, the CLI, the language server) send neither and pass. Every POST of the API
/// gets this check (see http/mod.rs); the dashboard's own POSTs also need [`same_origin`].
pub fn not_cross_site(headers: &HeaderMap) -> Result<(), &'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Err("the request came from another site (Sec-Fetch-Site)");
        }
    }
    if let Some(origin) = text("origin") {
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        return match (origin_host, text("host")) {
            (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
            _ => Err("the request's Origin is not this dashboard"),
        };
    }
    Ok(())
}

/// Whether a state-changing request comes from the dashboard itself: it is not cross-site
/// ([`not_cross_site`]), and when the browser sends neither `Origin` nor `Sec-Fetch-Site`, it
/// is an htmx request carrying this process's CSRF token.
pub fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    not_cross_site(headers)?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("origin").is_some() || text("sec-fetch-site").is_some() {
        return Ok(());
    }
    let is_htmx = text("hx-request") == Some("true");
    let token_ok = text(CSRF_HEADER)
        .is_some_and(|t| super::super::auth::same(t.as_bytes(), csrf_token().as_bytes()));
    if is_htmx && token_ok {
        Ok(())
    } else {
        Err("the request has neither a same-origin Origin nor the dashboard's CSRF token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let host = ("host", "127.0.0.1:7070");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:7070")])).is_ok());
        assert!(same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(same_origin(&headers(&[host, ("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-site")])).is_err());
        assert!(same_origin(&headers(&[host])).is_err());
        assert!(same_origin(&headers(&[host, ("hx-request", "true")])).is_err());
        assert!(same_origin(&headers(&[
            host,
            ("hx-request", "true"),
            ("x-optidb-csrf", csrf_token())
        ]))
        .is_ok());
        assert!(same_origin(&headers(&[
            host,
            ("hx-request", "true"),
            ("x-optidb-csrf", "00")
        ]))
        .is_err());
    }

    #[test]
    fn api_posts_refuse_browsers_from_other_sites_only() {
        let host = ("host", "127.0.0.1:7070");
        // curl, the CLI and the language server send neither header.
        assert!(not_cross_site(&headers(&[host])).is_ok());
        assert!(not_cross_site(&headers(&[host, ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(not_cross_site(&headers(&[host, ("origin", "http://127.0.0.1:7070")])).is_ok());
        for bad in [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
            ("origin", "http://evil.example"),
            ("origin", "null"),
        ] {
            assert!(not_cross_site(&headers(&[host, bad])).is_err(), "{bad:?}");
        }
    }
}
