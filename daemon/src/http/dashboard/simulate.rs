//! "Run simulation" on the query page: the POST that runs one and the HTMX fragments it
//! answers with.

use super::super::error::ApiError;
use super::super::simulate::run_simulation;
use super::csrf::same_origin;
use super::query::{sim_view, SimView};
use super::render::*;
use crate::app::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub(super) struct SimForm {
    #[serde(default)]
    pub(super) rec_id: Option<String>,
    #[serde(default)]
    pub(super) mode: Option<String>,
}

#[derive(Template)]
#[template(path = "sim_result.html")]
pub(super) struct SimFragment {
    pub(super) s: SimView,
}

#[derive(Template)]
#[template(path = "error_fragment.html")]
pub(super) struct ErrorFragment {
    pub(super) error: String,
    pub(super) why: String,
    pub(super) hint: String,
}

/// `POST /ui/queries/{id}/simulate` (form: `rec_id`, `mode`): runs the same simulation as
/// `POST /simulate` and answers an HTML fragment for htmx (or, without JavaScript, redirects
/// back to the query page where the run is listed).
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn simulate(
    State(state): State<Arc<AppState>>,
    client: super::super::limits::Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<SimForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let is_htmx = headers.get("hx-request").is_some_and(|v| v == "true");
    if let Err(why) = same_origin(&headers) {
        return fragment_error(ApiError::CrossSite(why));
    }
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => {
            return fragment_error(ApiError::BadBody {
                status: StatusCode::BAD_REQUEST,
                why: e.body_text(),
                example: "rec_id and mode as a form".into(),
            })
        }
    };
    let rec_id = form.rec_id.filter(|r| !r.is_empty());
    let result = run_simulation(
        &state,
        &client,
        &id,
        rec_id.as_deref(),
        None,
        form.mode.as_deref(),
    )
    .await;
    match (result, is_htmx) {
        (Ok(sim), true) => html(StatusCode::OK, &SimFragment { s: sim_view(&sim) }),
        (Ok(_), false) => Redirect::to(&format!("/ui/queries/{id}#simulations")).into_response(),
        (Err(e), true) => fragment_error(e),
        (Err(e), false) => error_page(&state, e).await,
    }
}

pub(super) fn fragment_error(e: ApiError) -> Response {
    let (status, error, why, hint) = e.parts();
    html(status, &ErrorFragment { error, why, hint })
}
