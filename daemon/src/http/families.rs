//! `GET /families`: the query families of the latest scan (`analyze::families`), each with its
//! members and the time they take together, largest total first — the workload as a dozen kinds
//! of work. Also the `family {id, label, size}` every bottleneck row and query page carries.

use super::error::ApiError;
use crate::app::AppState;
use crate::store::{Store, StoreError, TargetId};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use optidb_core::family::{FamilyRef, FamilySet};
use optidb_core::model::{Millis, QueryId};
use serde::Serialize;
use std::sync::Arc;

/// One family as `GET /families` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyRow {
    pub id: String,
    pub label: String,
    pub size: usize,
    /// Member query ids, the most total time first.
    pub members: Vec<QueryId>,
    /// The tokens that weigh most in the family, most first: what makes it one.
    pub tokens: Vec<String>,
    /// Cumulative figures of the members (their latest snapshot), summed.
    pub total_ms: f64,
    pub calls: i64,
    /// Normalized text of the member with the most total time.
    pub example: Option<String>,
}

/// What `GET /families` answers.
#[derive(Debug, Clone, Serialize)]
pub struct FamiliesView {
    /// The scan the families belong to (`null` before the first scan that made families).
    pub scan_id: Option<Millis>,
    pub queries: usize,
    /// Queries with a non-empty feature vector, and their share of all queries.
    pub vectorized: usize,
    pub coverage: f64,
    pub k: usize,
    /// How k was chosen.
    pub criterion: String,
    pub silhouette: Option<f64>,
    /// Largest total time first.
    pub families: Vec<FamilyRow>,
}

/// The families of the latest scan with their members' figures. Blocking (the store).
pub fn families_view(store: &Store, target: &TargetId) -> Result<FamiliesView, StoreError> {
    let Some(set) = store.families(target)? else {
        return Ok(FamiliesView {
            scan_id: None,
            queries: 0,
            vectorized: 0,
            coverage: 0.0,
            k: 0,
            criterion: "no scan has grouped queries into families yet".into(),
            silhouette: None,
            families: Vec::new(),
        });
    };
    let mut families = Vec::with_capacity(set.families.len());
    for f in &set.families {
        let mut members: Vec<(QueryId, f64, i64)> = Vec::with_capacity(f.members.len());
        for id in &f.members {
            let m = store.latest_metric(target, id)?;
            members.push((
                id.clone(),
                m.as_ref().map(|m| m.total_ms).unwrap_or(0.0),
                m.as_ref().map(|m| m.calls).unwrap_or(0),
            ));
        }
        members.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let example = match members.first() {
            Some((id, _, _)) => store.query(target, id)?.map(|q| q.norm_sql),
            None => None,
        };
        families.push(FamilyRow {
            id: f.id.clone(),
            label: f.label.clone(),
            size: f.members.len(),
            total_ms: members.iter().map(|m| m.1).sum(),
            calls: members.iter().map(|m| m.2).sum(),
            members: members.into_iter().map(|m| m.0).collect(),
            tokens: f.tokens.clone(),
            example,
        });
    }
    families.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then(a.id.cmp(&b.id)));
    Ok(FamiliesView {
        scan_id: Some(set.scan_id),
        queries: set.queries,
        vectorized: set.vectorized,
        coverage: if set.queries > 0 {
            set.vectorized as f64 / set.queries as f64
        } else {
            0.0
        },
        k: set.k,
        criterion: set.criterion.clone(),
        silhouette: set.silhouette,
        families,
    })
}

/// The family of one query in the latest scan's families.
pub fn family_of(set: Option<&FamilySet>, query_id: &str) -> Option<FamilyRef> {
    set.and_then(|s| s.of(query_id)).map(FamilyRef::from)
}

/// `GET /families`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn families(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let store = state.store.clone();
    let target = state.target_id.clone();
    let view = tokio::task::spawn_blocking(move || families_view(&store, &target))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(view))
}
