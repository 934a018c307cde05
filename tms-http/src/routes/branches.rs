//! `/api/v1/branches`: the tenant's branches — list and create.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{Branch, Name};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Query};
use crate::routes::users::Paging;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_branches, create_branch),
    components(schemas(BranchView, BranchList, NewBranch)),
    tags((name = "branches", description = "The tenant's branches"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/branches", get(list_branches).post(create_branch))
}

/// A branch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was closed, if it is.
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<&Branch> for BranchView {
    fn from(branch: &Branch) -> Self {
        Self {
            id: branch.id.to_string(),
            name: branch.name.to_string(),
            created_at: branch.created_at,
            closed_at: branch.closed_at,
        }
    }
}

/// One page of branches.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchList {
    /// The branches.
    pub items: Vec<BranchView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The tenant's branches.
#[utoipa::path(
    get,
    path = "/api/v1/branches",
    tag = "branches",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of branches", body = BranchList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_branches(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<BranchList>> {
    let ctx = auth.authenticated.context()?;
    let page = state
        .identity
        .list_branches(&ctx, paging.request()?)
        .await?;
    Ok(axum::Json(BranchList {
        items: page.items.iter().map(BranchView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// A new branch.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewBranch {
    /// Its name.
    pub name: String,
}

/// Creates a branch.
#[utoipa::path(
    post,
    path = "/api/v1/branches",
    tag = "branches",
    request_body = NewBranch,
    responses(
        (status = 201, description = "Created", body = BranchView),
        (status = 403, description = "Not allowed (or a CSRF token is missing)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_branch(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewBranch>,
) -> ApiResult<(StatusCode, axum::Json<BranchView>)> {
    let ctx = auth.authenticated.context()?;
    let name = Name::parse(&body.name)
        .map_err(|_| tms_core::Error::invalid("name", "must be a non-empty name"))?;
    let branch = state.identity.create_branch(&ctx, name).await?;
    Ok((StatusCode::CREATED, axum::Json(BranchView::from(&branch))))
}
