//! The families page (`/ui/families`): the workload as kinds of work — each family with its
//! label, size, total time, the tokens that make it one and its members — so a hundred
//! statements read as a dozen; the list's family chips link here.

use super::super::error::ApiError;
use super::super::families::{families_view, FamiliesView};
use super::render::*;
use crate::app::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

pub(super) struct MemberView {
    pub(super) id: String,
    pub(super) preview: String,
}

pub(super) struct FamilyView {
    pub(super) label: String,
    pub(super) size: usize,
    pub(super) total: String,
    pub(super) calls: String,
    pub(super) tokens: String,
    pub(super) members: Vec<MemberView>,
}

#[derive(Template)]
#[template(path = "families.html")]
pub(super) struct FamiliesPage {
    pub(super) meta: Meta,
    pub(super) summary: String,
    pub(super) families: Vec<FamilyView>,
}

/// `GET /ui/families`.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn families_page(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.clone();
    let target = state.target_id.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let view = families_view(&store, &target)?;
        // Member texts, for the previews.
        let mut texts = std::collections::HashMap::new();
        for f in &view.families {
            for m in &f.members {
                if let Some(q) = store.query(&target, m)? {
                    texts.insert(m.clone(), q.norm_sql);
                }
            }
        }
        Ok::<_, crate::store::StoreError>((view, texts))
    })
    .await;
    let (view, texts): (FamiliesView, _) = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return error_page(&state, ApiError::internal(e)).await,
        Err(e) => return error_page(&state, ApiError::internal(e)).await,
    };
    let summary = if view.families.is_empty() {
        String::new()
    } else {
        format!(
            "{} families of {} queries ({} with a feature vector); {}.",
            view.families.len(),
            view.queries,
            view.vectorized,
            view.criterion
        )
    };
    let families = view
        .families
        .into_iter()
        .map(|f| FamilyView {
            label: f.label,
            size: f.size,
            total: fmt_ms(f.total_ms),
            calls: group(f.calls as f64),
            tokens: f.tokens.join(" · "),
            members: f
                .members
                .into_iter()
                .map(|id| MemberView {
                    preview: optidb_core::format::one_line(
                        texts.get(&id).map(String::as_str).unwrap_or(""),
                        140,
                    ),
                    id,
                })
                .collect(),
        })
        .collect();
    let page = FamiliesPage {
        meta: meta(&state, "Families".into()).await,
        summary,
        families,
    };
    html(StatusCode::OK, &page)
}
