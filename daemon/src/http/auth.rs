//! Security by default: the daemon listens on 127.0.0.1; on any other address it refuses to start
//! without a bearer token (OPTIDB_TOKEN), and then every request must carry it — as
//! `Authorization: Bearer …`, or as the cookie a browser gets from `/login?token=…`.
//! Without a token, only requests addressed to a loopback name are served: a web page cannot
//! reach the daemon through DNS rebinding (its Host header would name the attacker's domain).
//! When the daemon serves TLS, the login cookie is `Secure`: a browser never sends it over
//! plain HTTP.

use super::error::ApiError;
use crate::app::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;

pub const COOKIE: &str = "optidb_token";

/// Constant-time comparison (no early exit on the first differing byte): for secrets.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(req: &Request) -> Option<String> {
    let h = req.headers();
    if let Some(b) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
    {
        return Some(b.to_string());
    }
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
        .next()
}

/// The credentials of an `Authorization: Bearer …` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// The shortest token the daemon accepts: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// Middleware: with a token configured, requests without it get 401 (static assets and the
/// login page excepted).
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(token) = state.token.as_deref() else {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !loopback_host(host) {
            return ApiError::HostNotAllowed(host.to_string()).into_response();
        }
        return next.run(req).await;
    };
    let path = req.uri().path();
    if path.starts_with("/static/") || path == "/login" {
        return next.run(req).await;
    }
    match presented(&req) {
        Some(t) if same(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => ApiError::TokenRequired.into_response(),
    }
}

/// Is a Host header (`name[:port]`) a loopback name?
pub fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(n, _)| n).unwrap_or(host)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginParams {
    pub token: Option<String>,
}

/// The login cookie's `Set-Cookie` value; `Secure` (sent back over HTTPS only) when the
/// daemon serves TLS.
pub fn login_cookie(token: &str, over_tls: bool) -> String {
    let secure = if over_tls { "; Secure" } else { "" };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}")
}

/// `GET /login?token=…`: sets the token cookie for the dashboard and goes to it.
pub async fn login(
    State(state): State<Arc<AppState>>,
    tls: Option<axum::Extension<super::server::OverTls>>,
    axum::extract::Query(p): axum::extract::Query<LoginParams>,
) -> Response {
    match (state.token.as_deref(), p.token) {
        (Some(expected), Some(given)) if same(expected.as_bytes(), given.as_bytes()) => {
            let cookie = login_cookie(&given, tls.is_some());
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        (None, _) => Redirect::to("/").into_response(),
        _ => ApiError::WrongToken.into_response(),
    }
}

/// Refuses to serve beyond loopback without a token, and refuses tokens too short to be secret.
pub fn check_listen(addr: std::net::SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
    if let Some(t) = token.map(str::trim).filter(|t| !t.is_empty()) {
        if t.chars().count() < MIN_TOKEN_LEN {
            anyhow::bail!(
                "the token is {} characters long; use at least {MIN_TOKEN_LEN} random ones \
                 (for example: openssl rand -hex 24)",
                t.chars().count()
            );
        }
    }
    if !addr.ip().is_loopback() && token.is_none_or(|t| t.trim().is_empty()) {
        anyhow::bail!(
            "refusing to listen on {addr} without a token: anyone who can reach it could read your queries. \
             Set OPTIDB_TOKEN (or --token) to a long random value, or listen on 127.0.0.1"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_other_addresses_do() {
        assert!(check_listen("127.0.0.1:7070".parse().unwrap(), None).is_ok());
        assert!(check_listen("[::1]:7070".parse().unwrap(), None).is_ok());
        assert!(check_listen("0.0.0.0:7070".parse().unwrap(), None).is_err());
        assert!(check_listen("0.0.0.0:7070".parse().unwrap(), Some("  ")).is_err());
        assert!(check_listen("0.0.0.0:7070".parse().unwrap(), Some("s3cret-token")).is_err());
        assert!(check_listen(
            "0.0.0.0:7070".parse().unwrap(),
            Some("s3cret-token-long-enough")
        )
        .is_ok());
        assert!(check_listen("127.0.0.1:7070".parse().unwrap(), Some("short")).is_err());
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    #[test]
    fn the_cookie_is_secure_over_tls_only() {
        assert!(login_cookie("t", true).ends_with("; Secure"));
        assert!(!login_cookie("t", false).contains("Secure"));
        assert!(login_cookie("t", false).contains("HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc "), Some("abc"));
        assert_eq!(bearer("BEARER  abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn only_loopback_hosts_without_a_token() {
        for ok in [
            "127.0.0.1:7070",
            "localhost:7070",
            "LOCALHOST",
            "[::1]:7070",
            "127.0.0.2",
            "app.localhost:1",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:7070",
            "10.0.0.1:7070",
            "",
            "localhost.evil.example",
            "[2001:db8::1]:80",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
