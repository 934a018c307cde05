//! `/api/v1/privacy` (issue 7): a person's rights over their data.
//!
//! - `GET /privacy/{kind}/{id}/export` (`kind` = `clients`, `pilgrims` or
//!   `users`): everything held about the person as one JSON bundle
//!   (`application/json`, sent as an attachment), bounded at
//!   [`MAX_EXPORT_EVENTS`] audit events (`audit_events_truncated` says when
//!   there were more). Sealed passport numbers are opened: the person has
//!   the right to see them. Tenant Super Admin only (the export right on
//!   compliance records); the export is audited.
//! - `POST /privacy/{kind}/{id}/erase`: anonymises the person everywhere
//!   (see [`tms_core::service::privacy`]). Critical: the first request
//!   answers 428 with a confirmation token; repeated with `Tms-Confirm` it
//!   acts and answers the counts. Erasing twice is harmless. The audit
//!   chain still verifies afterwards (`tms-server audit verify`).
//!
//! Another tenant's person, and an unknown `kind`, are 404; any role but
//! Tenant Super Admin is 403.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tms_core::ports::SubjectKind;
use tms_core::service::privacy::{ErasureReport, MAX_EXPORT_EVENTS, PersonExport};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Path, confirmation};

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(export_person, erase_person),
    components(schemas(PrivacyExportView, ErasureView)),
    tags((name = "privacy", description = "Export and erasure of a person's data"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/privacy/{kind}/{id}/export", get(export_person))
        .route("/privacy/{kind}/{id}/erase", post(erase_person))
}

/// Everything held about a person. (No `Debug`: it carries personal data.)
#[derive(Serialize, ToSchema)]
pub struct PrivacyExportView {
    /// `client`, `pilgrim` or `user`.
    pub subject_kind: String,
    /// The person's id.
    pub subject_id: String,
    /// When the bundle was made.
    pub generated_at: DateTime<Utc>,
    /// When the person's data was erased, if it was.
    pub erased_at: Option<DateTime<Utc>>,
    /// Their records (client, pilgrim or user; for a client also the linked
    /// pilgrim records), passport numbers opened.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
    /// Their consent answers.
    #[schema(value_type = Vec<Object>)]
    pub consents: Vec<serde_json::Value>,
    /// The bookings where they appear, with only their own traveller entries.
    #[schema(value_type = Vec<Object>)]
    pub bookings: Vec<serde_json::Value>,
    /// The messages addressed to them.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<serde_json::Value>,
    /// Their sessions (users).
    #[schema(value_type = Vec<Object>)]
    pub sessions: Vec<serde_json::Value>,
    /// The files about them; `null` when this server tracks no files.
    #[schema(value_type = Option<Vec<Object>>)]
    pub files: Option<serde_json::Value>,
    /// The audit events about them, as `audit export` writes them.
    #[schema(value_type = Vec<Object>)]
    pub audit_events: Vec<serde_json::Value>,
    /// For a user: the events they acted in, without payloads.
    #[schema(value_type = Vec<Object>)]
    pub activity: Vec<serde_json::Value>,
    /// Whether more audit events exist than the bundle carries.
    pub audit_events_truncated: bool,
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| tms_core::Error::internal(format!("privacy export: {e}")).into())
}

impl PrivacyExportView {
    fn from_export(e: PersonExport) -> ApiResult<Self> {
        Ok(Self {
            subject_kind: e.subject.kind.as_str().to_owned(),
            subject_id: e.subject.id.to_string(),
            generated_at: e.generated_at,
            erased_at: e.erased_at,
            records: e.records,
            consents: e.consents,
            bookings: e.bookings,
            messages: e.messages,
            sessions: e.sessions,
            files: e.files.as_ref().map(to_json).transpose()?,
            audit_events: e
                .audit_events
                .iter()
                .map(to_json)
                .collect::<ApiResult<_>>()?,
            activity: e.activity,
            audit_events_truncated: e.audit_events_truncated,
        })
    }
}

/// What an erasure changed (counts only).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    /// When.
    pub erased_at: DateTime<Utc>,
    /// Client rows anonymised.
    pub clients: u64,
    /// Pilgrim rows anonymised.
    pub pilgrims: u64,
    /// User rows anonymised (login blocked).
    pub users: u64,
    /// Bookings whose travellers were anonymised.
    pub bookings: u64,
    /// Traveller entries anonymised.
    pub travellers: u64,
    /// Sessions revoked.
    pub sessions_revoked: u64,
    /// Unused tokens expired.
    pub tokens_expired: u64,
    /// Messages scrubbed.
    pub messages: u64,
    /// Login-attempt records forgotten.
    pub login_attempts: u64,
    /// Audit events whose payload was erased (the chain still verifies).
    pub audit_events_erased: u64,
    /// Audit events written before schema 10, left as written.
    pub audit_events_kept_v1: u64,
    /// Files deleted.
    pub files: u64,
    /// Files whose bytes could not be deleted after the commit.
    pub file_bytes_left: u64,
}

impl From<ErasureReport> for ErasureView {
    fn from(r: ErasureReport) -> Self {
        Self {
            erased_at: r.erased_at,
            clients: r.clients,
            pilgrims: r.pilgrims,
            users: r.users,
            bookings: r.bookings,
            travellers: r.travellers,
            sessions_revoked: r.sessions_revoked,
            tokens_expired: r.tokens_expired,
            messages: r.messages,
            login_attempts: r.login_attempts,
            audit_events_erased: r.audit_events_erased,
            audit_events_kept_v1: r.audit_events_kept_v1,
            files: r.files,
            file_bytes_left: r.file_bytes_left,
        }
    }
}

/// `(kind, id)` from the path: an unknown kind or a malformed id is 404.
fn subject(kind: &str, id: &str) -> tms_core::Result<(SubjectKind, uuid::Uuid)> {
    let kind = SubjectKind::from_path(kind)?;
    let id = id
        .parse::<uuid::Uuid>()
        .map_err(|_| tms_core::Error::not_found(kind.as_str()))?;
    Ok((kind, id))
}

/// Everything held about one person, as a JSON bundle.
#[utoipa::path(
    get,
    path = "/api/v1/privacy/{kind}/{id}/export",
    tag = "privacy",
    params(
        ("kind" = String, Path, description = "`clients`, `pilgrims` or `users`"),
        ("id" = String, Path, description = "The person's id"),
    ),
    responses(
        (status = 200, description = "The bundle (an attachment)", body = PrivacyExportView),
        (status = 403, description = "Only a Tenant Super Admin exports personal data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in this agency", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_person(
    State(state): State<AppState>,
    auth: Auth,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let (kind, id) = subject(&kind, &id)?;
    let bundle = state.privacy.export(&ctx, kind, id).await?;
    debug_assert!(bundle.audit_events.len() <= MAX_EXPORT_EVENTS);
    let view = PrivacyExportView::from_export(bundle)?;
    let disposition = format!(
        "attachment; filename=\"privacy-{}-{id}.json\"",
        kind.as_str()
    );
    let mut response = axum::Json(view).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Erases a person's personal data (critical: the first call answers 428
/// with a token; repeat with `Tms-Confirm`).
#[utoipa::path(
    post,
    path = "/api/v1/privacy/{kind}/{id}/erase",
    tag = "privacy",
    params(
        ("kind" = String, Path, description = "`clients`, `pilgrims` or `users`"),
        ("id" = String, Path, description = "The person's id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 200, description = "Erased; what changed", body = ErasureView),
        (status = 403, description = "Only a Tenant Super Admin erases personal data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person in this agency", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "One's own account cannot be erased", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn erase_person(
    State(state): State<AppState>,
    auth: Auth,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<ErasureView>> {
    let ctx = auth.authenticated.context()?;
    let (kind, id) = subject(&kind, &id)?;
    let token = confirmation(&headers);
    let report = state.privacy.erase(&ctx, kind, id, token.as_ref()).await?;
    Ok(axum::Json(report.into()))
}
