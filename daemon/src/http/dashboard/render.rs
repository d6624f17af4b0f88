//! What every dashboard page shares: the layout's data, the HTML response with its security
//! headers, the error page, and small view helpers (badges, number formats).

use super::super::error::ApiError;
use super::{assets::asset_version, csrf::csrf_token};
use crate::app::AppState;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What every page's layout needs.
pub(super) struct Meta {
    pub(super) title: String,
    pub(super) csrf: &'static str,
    pub(super) v: &'static str,
    pub(super) target: String,
    pub(super) status: &'static str,
    pub(super) last_scan: String,
    /// Security warnings from /health (a superuser login, a plan helper not used).
    pub(super) warnings: Vec<String>,
}

pub(super) async fn meta(state: &AppState, title: String) -> Meta {
    let h = state.health().await;
    let last_scan = match &h.last_scan {
        Some(s) if s.error.is_none() => format!(
            "last scan {} ({} queries, {} recommendations)",
            fmt_time(s.started_at),
            s.queries_stored,
            s.recommendations
        ),
        Some(s) => format!("last scan {} failed", fmt_time(s.started_at)),
        None => "no scan yet".to_string(),
    };
    Meta {
        title,
        csrf: csrf_token(),
        v: asset_version(),
        target: h.target,
        status: h.status,
        last_scan,
        warnings: h.security.warnings,
    }
}

/// Content-Security-Policy of every page: only the daemon's own scripts and styles.
pub(super) const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub(super) fn html(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CSP),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("template: {e}")).into_response(),
    }
}

/// Milliseconds since the epoch as `2026-11-25 04:55:12 UTC`.
pub use optidb_core::time::human as fmt_time;

pub use optidb_core::format::{group, ms as fmt_ms};

/// A small coloured label.
pub(super) struct Badge {
    pub(super) class: &'static str,
    pub(super) text: String,
    pub(super) title: String,
}

impl Badge {
    pub(super) fn new(
        class: &'static str,
        text: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Badge {
            class,
            text: text.into(),
            title: title.into(),
        }
    }
}

pub(super) fn confidence_badge(c: f64) -> Badge {
    let (class, word) = if c >= 0.8 {
        ("good", "high")
    } else if c >= 0.5 {
        ("warn", "medium")
    } else {
        ("bad", "low")
    };
    Badge::new(
        class,
        format!("confidence {word} {:.0}%", c * 100.0),
        "how sure the advisor is",
    )
}

/// A risk badge: the first sentence of the risk text, coloured by what it mentions.
pub(super) fn risk_badge(risk: &str) -> Option<Badge> {
    let risk = risk.trim();
    if risk.is_empty() {
        return None;
    }
    let lower = risk.to_ascii_lowercase();
    let class = if lower.contains("lock") || lower.contains("high") || lower.contains("block") {
        "warn"
    } else {
        "neutral"
    };
    let first = risk
        .split(". ")
        .next()
        .unwrap_or(risk)
        .trim_end_matches('.');
    let short: String = if first.chars().count() > 60 {
        first.chars().take(57).collect::<String>() + "…"
    } else {
        first.to_string()
    };
    Some(Badge::new(class, format!("risk: {short}"), risk))
}

#[derive(Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage {
    pub(super) meta: Meta,
    pub(super) error: String,
    pub(super) why: String,
    pub(super) hint: String,
}

pub(super) async fn error_page(state: &AppState, e: ApiError) -> Response {
    let (status, error, why, hint) = e.parts();
    let page = ErrorPage {
        meta: meta(state, error.clone()).await,
        error,
        why,
        hint,
    };
    html(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_numbers_read_well() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_795_000_000_000), "2026-11-18 11:06:40 UTC");
    }
}
