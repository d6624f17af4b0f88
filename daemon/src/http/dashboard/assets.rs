//! The dashboard's static assets (htmx, CSS, JS), served by the daemon itself (no CDN) with a
//! content hash in their URLs so they can be cached for long.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

/// htmx 2 (from the npm package `htmx.org`, `dist/htmx.min.js`), served at `/static/htmx.min.js`.
static HTMX_JS: &[u8] = include_bytes!("../../../static/htmx.min.js");
static DASHBOARD_CSS: &str = include_str!("../../../static/dashboard.css");
static DASHBOARD_JS: &str = include_str!("../../../static/dashboard.js");

/// A short content hash of the CSS and JS, appended to their URLs so a long cache is safe.
pub(super) fn asset_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = blake3::Hasher::new();
        h.update(DASHBOARD_CSS.as_bytes());
        h.update(DASHBOARD_JS.as_bytes());
        h.finalize().to_hex()[..12].to_string()
    })
}

pub(super) fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn htmx_js() -> Response {
    asset("text/javascript; charset=utf-8", HTMX_JS)
}

pub(super) async fn dashboard_css() -> Response {
    asset("text/css; charset=utf-8", DASHBOARD_CSS.as_bytes())
}

pub(super) async fn dashboard_js() -> Response {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS.as_bytes())
}
