//! The list page: the queries that hurt most, with why and the fix.

use super::super::error::ApiError;
use super::super::views;
use super::render::*;
use super::LIST_LIMIT;
use crate::app::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

pub(super) struct RowView {
    pub(super) id: String,
    pub(super) preview: String,
    pub(super) query: String,
    pub(super) mean: String,
    pub(super) interval_mean: Option<String>,
    pub(super) calls: String,
    pub(super) total: String,
    pub(super) reason: String,
    pub(super) ddl: Option<String>,
    pub(super) badges: Vec<Badge>,
    pub(super) more_recs: usize,
    /// The query's family label and size.
    pub(super) family: Option<(String, usize)>,
}

#[derive(Template)]
#[template(path = "list.html")]
pub(super) struct ListPage {
    pub(super) meta: Meta,
    pub(super) rows: Vec<RowView>,
}

pub(super) fn row_view(b: views::Bottleneck) -> RowView {
    let top = b.recommendations.first();
    let mut badges = Vec::new();
    if b.had_seq_scan {
        badges.push(Badge::new(
            "bad",
            "Seq Scan",
            "the latest plan reads a whole table",
        ));
    }
    if let Some(c) = b.confidence {
        badges.push(confidence_badge(c));
    }
    if let Some(r) = top.and_then(|r| risk_badge(&r.risk)) {
        badges.push(r);
    }
    let reason = b.reason;
    RowView {
        preview: optidb_core::format::one_line(&b.query, 160),
        mean: fmt_ms(b.mean_ms),
        interval_mean: b.interval_mean_ms.map(fmt_ms),
        calls: group(b.calls as f64),
        total: fmt_ms(b.total_ms),
        reason,
        ddl: b.ddl,
        more_recs: b.recommendations.len().saturating_sub(1),
        family: b.family.map(|f| (f.label, f.size)),
        badges,
        id: b.query_id,
        query: b.query,
    }
}

/// `GET /` and `GET /ui`: the bottleneck list.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn list_page(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.clone();
    let target = state.target_id.clone();
    let rows =
        tokio::task::spawn_blocking(move || views::bottlenecks(&store, &target, LIST_LIMIT)).await;
    let rows = match rows {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return error_page(&state, ApiError::internal(e)).await,
        Err(e) => return error_page(&state, ApiError::internal(e)).await,
    };
    let page = ListPage {
        meta: meta(&state, "Bottlenecks".into()).await,
        rows: rows.into_iter().map(row_view).collect(),
    };
    html(StatusCode::OK, &page)
}
