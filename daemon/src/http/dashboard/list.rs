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
    /// Findings in time: (tag, evidence), each a chip that filters the list.
    pub(super) tags: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "list.html")]
pub(super) struct ListPage {
    pub(super) meta: Meta,
    pub(super) rows: Vec<RowView>,
    /// The tag the list is filtered on (`?tag=`).
    pub(super) tag: Option<String>,
}

/// Query string of the list page.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ListParams {
    tag: Option<String>,
}

pub(super) fn row_view(b: views::Bottleneck) -> RowView {
    let top = b.recommendations.first();
    let mut badges = Vec::new();
    let contention = b
        .tags
        .iter()
        .any(|t| t.tag == optidb_core::model::tag::CONTENTION);
    // A query slow because it waits on locks: its Seq Scan is not the story.
    if b.had_seq_scan && !contention {
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
        tags: b.tags.into_iter().map(|t| (t.tag, t.evidence)).collect(),
        badges,
        id: b.query_id,
        query: b.query,
    }
}

/// `GET /` and `GET /ui`: the bottleneck list.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn list_page(
    State(state): State<Arc<AppState>>,
    params: Result<axum::extract::Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let store = state.store.clone();
    let target = state.target_id.clone();
    // Only tag names as the API knows them (lowercase words); anything else lists everything.
    let tag = params.ok().and_then(|p| p.0.tag).filter(|t| {
        !t.is_empty() && t.len() <= 32 && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    });
    let filter = tag.clone();
    let rows = tokio::task::spawn_blocking(move || {
        views::bottlenecks_tagged(&store, &target, LIST_LIMIT, filter.as_deref())
    })
    .await;
    let rows = match rows {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return error_page(&state, ApiError::internal(e)).await,
        Err(e) => return error_page(&state, ApiError::internal(e)).await,
    };
    let page = ListPage {
        meta: meta(&state, "Bottlenecks".into()).await,
        rows: rows.into_iter().map(row_view).collect(),
        tag,
    };
    html(StatusCode::OK, &page)
}
