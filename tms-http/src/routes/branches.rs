//! `/api/v1/branches`: the tenant's branches — list and create.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{Branch, Name};
use tms_core::id::BranchId;
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::users::Paging;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_branches, create_branch, rename_branch, close_branch),
    components(schemas(BranchView, BranchList, NewBranch)),
    tags((name = "branches", description = "The tenant's branches"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/branches", get(list_branches).post(create_branch))
        .route("/branches/{id}", axum::routing::patch(rename_branch))
        .route("/branches/{id}/close", post(close_branch))
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
    let branch = state
        .identity
        .create_branch(&ctx, branch_name(&body.name)?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(BranchView::from(&branch))))
}

fn branch_name(raw: &str) -> tms_core::Result<Name> {
    Name::parse(raw).map_err(|_| tms_core::Error::invalid("name", "must be a non-empty name"))
}

/// Parses a branch id; one that does not parse names no branch.
fn branch_id(raw: &str) -> tms_core::Result<BranchId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("branch"))
}

/// Renames a branch.
#[utoipa::path(
    patch,
    path = "/api/v1/branches/{id}",
    tag = "branches",
    params(("id" = String, Path, description = "The branch id")),
    request_body = NewBranch,
    responses(
        (status = 200, description = "Renamed", body = BranchView),
        (status = 404, description = "No such branch in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The branch is closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rename_branch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<NewBranch>,
) -> ApiResult<axum::Json<BranchView>> {
    let ctx = auth.authenticated.context()?;
    let branch = state
        .identity
        .rename_branch(&ctx, branch_id(&id)?, branch_name(&body.name)?)
        .await?;
    Ok(axum::Json(BranchView::from(&branch)))
}

/// Closes a branch (it stays listed, with `closed_at`).
#[utoipa::path(
    post,
    path = "/api/v1/branches/{id}/close",
    tag = "branches",
    params(("id" = String, Path, description = "The branch id")),
    responses(
        (status = 200, description = "Closed", body = BranchView),
        (status = 404, description = "No such branch in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn close_branch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BranchView>> {
    let ctx = auth.authenticated.context()?;
    let branch = state.identity.close_branch(&ctx, branch_id(&id)?).await?;
    Ok(axum::Json(BranchView::from(&branch)))
}
