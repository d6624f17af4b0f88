//! The web dashboard: server-rendered askama pages with HTMX for the one interactive part (Run
//! simulation). Reads work without JavaScript; htmx, the CSS and a few lines of JS are served by
//! the daemon itself (no CDN). Dashboard POSTs are protected against cross-site requests.

mod assets;
pub mod csrf;
mod families;
mod list;
mod query;
mod render;
mod simulate;

pub use csrf::{csrf_token, same_origin};
pub use render::{fmt_ms, fmt_time, group};

use assets::{dashboard_css, dashboard_js, htmx_js};
use list::list_page;
use query::query_page;
use simulate::simulate;

use crate::app::AppState;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Header htmx sends the per-process CSRF token in (set with `hx-headers` on `<body>`).
pub const CSRF_HEADER: &str = "x-optidb-csrf";

/// Rows on the list page.
pub(super) const LIST_LIMIT: usize = 50;

/// The dashboard's routes, merged into the API router by [`super::router`].
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(list_page))
        .route("/ui", get(list_page))
        .route("/ui/queries/{id}", get(query_page))
        .route("/ui/families", get(families::families_page))
        .route("/ui/queries/{id}/simulate", post(simulate))
        .route("/static/htmx.min.js", get(htmx_js))
        .route("/static/dashboard.css", get(dashboard_css))
        .route("/static/dashboard.js", get(dashboard_js))
}
