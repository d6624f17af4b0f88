//! `POST /simulate`: before/after of an index on one stored query (hypopg what-if, or a real
//! build rolled back on a sandbox). Thin: looks the query up in the store, runs the simulator on
//! its own connections, stores the [`Simulation`] and answers it.

use super::error::ApiError;
use crate::analyze::plan_facts::TableSizes;
use crate::app::AppState;
use crate::simulate::{Mode, SimRequest};
use axum::extract::State;
use axum::Json;
use optidb_core::model::Simulation;
use serde::Deserialize;
use std::sync::Arc;

/// The request body.
#[derive(Debug, Deserialize)]
pub struct SimulateBody {
    pub query_id: String,
    /// A stored recommendation to simulate (needs recommendations in the store).
    #[serde(default)]
    pub rec_id: Option<String>,
    /// Exactly one CREATE INDEX (used when given; required while recommendations are not stored).
    #[serde(default)]
    pub ddl: Option<String>,
    /// `hypopg` (default) or `real` (sandboxes only).
    #[serde(default)]
    pub mode: Option<String>,
}

/// `POST /simulate`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn simulate(
    State(state): State<Arc<AppState>>,
    client: super::limits::Client,
    body: Result<Json<SimulateBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Simulation>, ApiError> {
    let Json(body) = body.map_err(|e| {
        super::error::bad_json(
            e,
            r#"{"query_id": "…", "ddl": "CREATE INDEX …", "mode": "hypopg"}"#,
        )
    })?;
    run_simulation(
        &state,
        &client,
        &body.query_id,
        body.rec_id.as_deref(),
        body.ddl.as_deref(),
        body.mode.as_deref(),
    )
    .await
    .map(Json)
}

/// Runs one simulation and stores it: what `POST /simulate` and the dashboard's "Run
/// simulation" both call. `ddl` wins over `rec_id`; `mode` defaults to hypopg.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn run_simulation(
    state: &Arc<AppState>,
    client: &super::limits::Client,
    query_id: &str,
    rec_id: Option<&str>,
    ddl: Option<&str>,
    mode: Option<&str>,
) -> Result<Simulation, ApiError> {
    let mode_text = mode.unwrap_or("hypopg");
    let mode = Mode::parse(mode_text).ok_or_else(|| ApiError::BadMode(mode_text.to_string()))?;
    super::error::check_query_id(query_id)?;
    let id = query_id.to_string();
    let ddl = match (
        ddl.map(str::to_string).filter(|d| !d.trim().is_empty()),
        rec_id,
    ) {
        (Some(ddl), _) => ddl,
        (None, Some(rec_id)) => recommended_ddl(state, rec_id, &id).await?,
        (None, None) => return Err(ApiError::NoIndexToSimulate),
    };

    let store = state.store.clone();
    let target = state.target_id.clone();
    let qid = id.clone();
    let (query, mean_ms, tables) = tokio::task::spawn_blocking(move || {
        let q = store.query(&target, &qid)?;
        let m = store.latest_metric(&target, &qid)?;
        let schema = store.schema(&target)?;
        Ok::<_, crate::store::StoreError>((q, m, schema))
    })
    .await
    .map_err(ApiError::internal)?
    .map(|(q, m, schema)| {
        let mean = m.map(|m| m.recent_mean());
        let tables = schema
            .map(|s| TableSizes::from_tables(&s.tables))
            .unwrap_or_default();
        (q, mean, tables)
    })
    .map_err(ApiError::internal)?;
    let Some(query) = query else {
        return Err(ApiError::unknown_query());
    };

    let req = SimRequest {
        target: state.target_id.as_str(),
        client: &client.0,
        query: &query,
        mean_ms,
        rec_id: rec_id.unwrap_or(""),
        ddl: &ddl,
        mode,
        target_is_sandbox: state.sim.is_sandbox,
        analyze_samples: state.sim.analyze_samples,
        tables: &tables,
    };
    let sim = state.sim.simulate(&req).await.map_err(|e| {
        state.telemetry.simulation_failed(&e);
        ApiError::from(e)
    })?;

    let store = state.store.clone();
    let target = state.target_id.clone();
    let stored = sim.clone();
    tokio::task::spawn_blocking(move || store.put_simulation(&target, &stored))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(sim)
}

/// The DDL of a stored recommendation that serves the query.
async fn recommended_ddl(
    state: &Arc<AppState>,
    rec_id: &str,
    query_id: &str,
) -> Result<String, ApiError> {
    let store = state.store.clone();
    let target = state.target_id.clone();
    let rid = rec_id.to_string();
    let rec = tokio::task::spawn_blocking(move || store.recommendation(&target, &rid))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let Some(rec) = rec else {
        return Err(ApiError::not_found(
            "recommendation",
            rec_id,
            "take rec_id from GET /bottlenecks (after a scan), or pass \"ddl\"",
        ));
    };
    if !rec.query_ids.is_empty() && !rec.query_ids.iter().any(|q| q == query_id) {
        return Err(ApiError::RecommendationForOtherQueries {
            rec_id: rec_id.to_string(),
            query_id: query_id.to_string(),
        });
    }
    Ok(rec.ddl)
}

/// `POST /simulate/workload` body: the recommendations to simulate together (default: every
/// index recommendation of the latest scan).
#[derive(Debug, Deserialize)]
pub struct WorkloadBody {
    #[serde(default)]
    pub rec_ids: Vec<String>,
}

/// `POST /simulate/workload`: the indexes of a set of recommendations, simulated together with
/// hypopg on every stored query they affect (the queries they serve, and every other stored
/// query whose plan touches their tables), with the estimated time saved weighted by calls.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn simulate_workload(
    State(state): State<Arc<AppState>>,
    client: super::limits::Client,
    body: Result<Json<WorkloadBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body.map_err(|e| super::error::bad_json(e, r#"{"rec_ids": ["…"]}"#))?;
    let store = state.store.clone();
    let target = state.target_id.clone();
    let wanted = body.rec_ids.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let all = store.recommendations(&target)?;
        let mut recs = Vec::new();
        if wanted.is_empty() {
            recs.extend(all.into_iter().filter(|r| r.is_index()));
        } else {
            for id in &wanted {
                match store.recommendation(&target, id)? {
                    Some(r) => recs.push(r),
                    None => return Ok(Err(id.clone())),
                }
            }
        }
        let tables: Vec<String> = recs.iter().map(|r| r.target.table.clone()).collect();
        let mut queries = Vec::new();
        for qid in store.query_ids_in_latest_scan(&target)? {
            let touches = recs.iter().any(|r| r.query_ids.contains(&qid))
                || store.latest_plan(&target, &qid)?.is_some_and(|p| {
                    p.facts.seq_scans.iter().any(|s| tables.contains(&s.table))
                        || p.facts
                            .filters
                            .iter()
                            .any(|f| f.table.as_ref().is_some_and(|t| tables.contains(t)))
                });
            if !touches {
                continue;
            }
            if let (Some(q), Some(m)) = (
                store.query(&target, &qid)?,
                store.latest_metric(&target, &qid)?,
            ) {
                let calls = m
                    .interval
                    .as_ref()
                    .filter(|i| i.calls > 0)
                    .map(|i| i.calls)
                    .unwrap_or(m.calls);
                queries.push((q, m.mean_ms, calls));
            }
        }
        Ok(Ok((recs, queries)))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let (recs, queries) = loaded.map_err(|id| {
        ApiError::not_found(
            "recommendation",
            &id,
            "take rec_id from GET /bottlenecks (after a scan)",
        )
    })?;
    let ddls: Vec<crate::simulate::ValidatedDdl> = recs
        .iter()
        .map(|r| crate::simulate::ddl::validate(&r.ddl))
        .collect::<Result<_, _>>()
        .map_err(ApiError::from)?;
    if ddls.is_empty() {
        return Err(ApiError::NothingToSimulate);
    }
    let wq: Vec<crate::simulate::WorkloadQuery<'_>> = queries
        .iter()
        .map(|(q, mean, calls)| crate::simulate::WorkloadQuery {
            query: q,
            mean_ms: Some(*mean),
            calls: *calls,
        })
        .collect();
    let saving = state
        .sim
        .simulate_workload(state.target_id.as_str(), &client.0, &wq, &ddls)
        .await
        .map_err(|e| {
            state.telemetry.simulation_failed(&e);
            ApiError::from(e)
        })?;
    let saved_pct = if saving.affected_ms > 0.0 {
        100.0 * saving.saved_ms / saving.affected_ms
    } else {
        0.0
    };
    Ok(Json(serde_json::json!({
        "rec_ids": recs.iter().map(|r| r.rec_id.clone()).collect::<Vec<_>>(),
        "ddls": ddls.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "saved_ms": saving.saved_ms,
        "affected_ms": saving.affected_ms,
        "saved_pct": saved_pct,
        "after_is_estimate": true,
        "lines": saving.lines,
    })))
}
