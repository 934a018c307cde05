//! `/api/v1/settings`: the caller's tenant settings (second factor for
//! admins, session timeouts).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tms_core::domain::TenantSettings;
use tms_core::service::identity::settings::SettingsChange;
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::Json;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(get_settings, update_settings),
    components(schemas(SettingsView, SettingsBody)),
    tags((name = "settings", description = "The tenant's settings"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/settings", get(get_settings).patch(update_settings))
}

/// The tenant's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// Admins and Tenant Super Admins must have a second factor.
    pub require_two_factor_for_admins: bool,
    /// Minutes without a request after which a session ends.
    pub session_idle_minutes: u32,
    /// Hours after which a session ends, whatever the activity.
    pub session_absolute_hours: u32,
}

impl From<&TenantSettings> for SettingsView {
    fn from(s: &TenantSettings) -> Self {
        Self {
            require_two_factor_for_admins: s.require_two_factor_for_admins,
            session_idle_minutes: s.session_idle_minutes,
            session_absolute_hours: s.session_absolute_hours,
        }
    }
}

/// A change; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettingsBody {
    /// Require a second factor of Admins and Tenant Super Admins.
    #[serde(default)]
    pub require_two_factor_for_admins: Option<bool>,
    /// Idle timeout in minutes.
    #[serde(default)]
    pub session_idle_minutes: Option<u32>,
    /// Absolute session lifetime in hours.
    #[serde(default)]
    pub session_absolute_hours: Option<u32>,
}

/// The caller's tenant settings.
#[utoipa::path(
    get,
    path = "/api/v1/settings",
    tag = "settings",
    responses(
        (status = 200, description = "The settings", body = SettingsView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<SettingsView>> {
    let ctx = auth.authenticated.context()?;
    let settings = state.identity.get_settings(&ctx).await?;
    Ok(axum::Json(SettingsView::from(&settings)))
}

/// Changes the caller's tenant settings.
#[utoipa::path(
    patch,
    path = "/api/v1/settings",
    tag = "settings",
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The new settings", body = SettingsView),
        (status = 403, description = "Not allowed (or a CSRF token is missing)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value out of bounds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_settings(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<SettingsBody>,
) -> ApiResult<axum::Json<SettingsView>> {
    let ctx = auth.authenticated.context()?;
    let change = SettingsChange {
        require_two_factor_for_admins: body.require_two_factor_for_admins,
        session_idle_minutes: body.session_idle_minutes,
        session_absolute_hours: body.session_absolute_hours,
    };
    let settings = state.identity.update_settings(&ctx, change).await?;
    Ok(axum::Json(SettingsView::from(&settings)))
}
