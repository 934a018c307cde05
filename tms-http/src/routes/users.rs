//! `/api/v1/users`: the tenant's users — list, invite, read, change access.
//!
//! Every call is authorized by the identity service for the caller's
//! tenant; a user of another tenant is `404 not-found`, never `403`, so ids
//! of other tenants cannot be probed. Changing access is critical: the
//! first request answers `428 confirmation-required` with a
//! `confirmation_token`; repeat it with the header `Tms-Confirm: <token>`.

use crate::extract::confirmation;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{BranchScope, Role, User};
use tms_core::id::{BranchId, UserId};
use tms_core::ports::{Page, PageRequest};
use tms_core::service::identity::users::{AccessChange, Invite, InviteRequest};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};

/// The header carrying a confirmation token (DESIGN.md §4).
pub const CONFIRM_HEADER: &str = "tms-confirm";

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_users,
        invite_user,
        get_user,
        change_access,
        disable_user,
        enable_user,
        reset_two_factor
    ),
    components(schemas(UserView, UserList, InviteBody, AccessBody)),
    tags((name = "users", description = "The tenant's users"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(invite_user))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/access", patch(change_access))
        .route("/users/{id}/disable", post(disable_user))
        .route("/users/{id}/enable", post(enable_user))
        .route("/users/{id}/reset-two-factor", post(reset_two_factor))
}

/// A user as the API shows it (never the password hash or 2FA secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login email.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role, e.g. `sales`.
    #[schema(value_type = String)]
    pub role: Role,
    /// Branch scope: `{"kind": "all"}` or `{"kind": "only", "branches": […]}`.
    #[schema(value_type = Object)]
    pub scope: BranchScope,
    /// Whether a second factor is enrolled.
    pub two_factor: bool,
    /// When the user was disabled, if they are.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            name: user.name.to_string(),
            role: user.role,
            scope: user.scope.clone(),
            two_factor: user.two_factor.is_enabled(),
            disabled_at: user.disabled_at,
            created_at: user.created_at,
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The users.
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl From<Page<User>> for UserList {
    fn from(page: Page<User>) -> Self {
        Self {
            items: page.items.iter().map(UserView::from).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        }
    }
}

/// Paging parameters.
#[derive(Debug, Deserialize)]
pub struct Paging {
    /// 1..=200, default 50.
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Paging {
    /// As a [`PageRequest`].
    pub fn request(&self) -> tms_core::Result<PageRequest> {
        PageRequest::new(self.limit, self.cursor.as_deref())
    }
}

/// The tenant's users.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of users", body = UserList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<UserList>> {
    let ctx = auth.authenticated.context()?;
    let page = state.identity.list_users(&ctx, paging.request()?).await?;
    Ok(axum::Json(UserList::from(page)))
}

/// An invitation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteBody {
    /// The new user's email (their login).
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their role (`admin`, `sales`, …).
    pub role: String,
    /// The branches they see; absent for every branch.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub branches: Option<Vec<BranchId>>,
}

/// Invites a user: they get a mail to set their password.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = InviteBody,
    responses(
        (status = 201, description = "Invited", body = UserView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed (or a CSRF token is missing)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn invite_user(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<InviteBody>,
) -> ApiResult<(StatusCode, axum::Json<UserView>)> {
    let ctx = auth.authenticated.context()?;
    let invite = Invite::parse(InviteRequest {
        email: body.email,
        name: body.name,
        role: body.role,
        branches: body.branches,
    })?;
    let user = state.identity.invite_user(&ctx, invite).await?;
    Ok((StatusCode::CREATED, axum::Json(UserView::from(&user))))
}

/// Parses a user id; one that does not parse names no user.
fn user_id(raw: &str) -> tms_core::Result<UserId> {
    raw.parse().map_err(|_| tms_core::Error::not_found("user"))
}

/// One user of the tenant.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserView>> {
    let ctx = auth.authenticated.context()?;
    let user = state.identity.get_user(&ctx, user_id(&id)?).await?;
    Ok(axum::Json(UserView::from(&user)))
}

/// A change of role and/or branch scope.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AccessBody {
    /// The new role, if it changes.
    #[serde(default)]
    pub role: Option<String>,
    /// The new branches; `null` or absent keeps the scope, `[]`… restricts.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub branches: Option<Vec<BranchId>>,
    /// Give access to every branch (overrides `branches`).
    #[serde(default)]
    pub all_branches: bool,
}

/// Changes a user's role and/or branch scope (critical: confirm with
/// `Tms-Confirm`). Ends the user's sessions.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}/access",
    tag = "users",
    params(
        ("id" = String, Path, description = "The user id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    request_body = AccessBody,
    responses(
        (status = 200, description = "Changed", body = UserView),
        (status = 404, description = "No such user in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Your own access", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_access(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AccessBody>,
) -> ApiResult<axum::Json<UserView>> {
    let ctx = auth.authenticated.context()?;
    let id = user_id(&id)?;
    let role = body.role.as_deref().map(Role::parse).transpose()?;
    let scope = if body.all_branches {
        Some(BranchScope::All)
    } else {
        body.branches.map(BranchScope::only)
    };
    let confirmation = confirmation(&headers);
    let user = state
        .identity
        .change_access(
            &ctx,
            id,
            AccessChange { role, scope },
            confirmation.as_ref(),
        )
        .await?;
    Ok(axum::Json(UserView::from(&user)))
}

/// Disables a user (not oneself) and ends their sessions.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/disable",
    tag = "users",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "Disabled", body = UserView),
        (status = 404, description = "No such user in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Yourself", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserView>> {
    set_disabled(state, auth, &id, true).await
}

/// Enables a disabled user.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/enable",
    tag = "users",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "Enabled", body = UserView),
        (status = 404, description = "No such user in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "You cannot enable yourself", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn enable_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserView>> {
    set_disabled(state, auth, &id, false).await
}

async fn set_disabled(
    state: AppState,
    auth: Auth,
    id: &str,
    disabled: bool,
) -> ApiResult<axum::Json<UserView>> {
    let ctx = auth.authenticated.context()?;
    let user = state
        .identity
        .set_user_disabled(&ctx, user_id(id)?, disabled)
        .await?;
    Ok(axum::Json(UserView::from(&user)))
}

/// Removes every second factor of another user who lost their device, and
/// ends their sessions (critical: confirm with `Tms-Confirm`).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/reset-two-factor",
    tag = "users",
    params(
        ("id" = String, Path, description = "The user id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 200, description = "Second factors removed", body = UserView),
        (status = 404, description = "No such user in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Your own second factor: turn it off in your security settings", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_two_factor(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<UserView>> {
    let ctx = auth.authenticated.context()?;
    let confirmation = confirmation(&headers);
    let user = state
        .identity
        .reset_two_factor(&ctx, user_id(&id)?, confirmation.as_ref())
        .await?;
    Ok(axum::Json(UserView::from(&user)))
}
