//! `/api/v1/outbox`: the tenant's control over its outgoing mail (pause,
//! resume, a daily quota) and each message's delivery log (issue 9).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tms_core::id::MessageId;
use tms_core::ports::OutboxControls;
use tms_core::service::messaging::{MessageStatus, Messaging};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::Json;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(get_controls, put_controls, get_message),
    components(schemas(ControlsBody, MessageView, DeliveryView)),
    tags((name = "outbox", description = "Outgoing messages: pause, quota, delivery log"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/outbox/controls", get(get_controls).put(put_controls))
        .route("/outbox/messages/{id}", get(get_message))
}

fn messaging(state: &AppState) -> Messaging {
    Messaging::new(state.deps.clone())
}

/// The tenant's outbox controls.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ControlsBody {
    /// Nothing is sent while paused; messages wait and none is lost.
    pub paused: bool,
    /// At most this many messages per rolling 24 hours (e.g. a Gmail
    /// account's daily quota); `null` for no limit.
    #[serde(default)]
    pub daily_limit: Option<u32>,
}

impl From<OutboxControls> for ControlsBody {
    fn from(c: OutboxControls) -> Self {
        Self {
            paused: c.paused,
            daily_limit: c.daily_limit,
        }
    }
}

/// One attempt to send a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// When it ended (RFC 3339).
    pub at: String,
    /// `smtp`, `gmail`, `folder`, …
    pub transport: Option<String>,
    /// `sent`, `retry` or `failed`.
    pub outcome: String,
    /// The provider's id for the message.
    pub provider_message_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A message's envelope and delivery log (never its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// The message id.
    pub id: String,
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The RFC 5322 `Message-ID`.
    pub message_id: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was written (RFC 3339).
    pub created_at: String,
    /// Every attempt, oldest first.
    pub deliveries: Vec<DeliveryView>,
}

impl From<MessageStatus> for MessageView {
    fn from(m: MessageStatus) -> Self {
        Self {
            id: m.id.to_string(),
            to: m.to.as_str().to_owned(),
            subject: m.subject,
            message_id: m.message_id,
            status: m.status.as_str().to_owned(),
            attempts: m.attempts,
            created_at: m.created_at.to_rfc3339(),
            deliveries: m
                .deliveries
                .into_iter()
                .map(|d| DeliveryView {
                    attempt: d.attempt,
                    at: d.at.to_rfc3339(),
                    transport: d.transport,
                    outcome: d.outcome,
                    provider_message_id: d.provider_message_id,
                    error: d.error,
                })
                .collect(),
        }
    }
}

/// The tenant's outbox controls.
#[utoipa::path(
    get,
    path = "/api/v1/outbox/controls",
    tag = "outbox",
    responses(
        (status = 200, description = "The controls", body = ControlsBody),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_controls(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<ControlsBody>> {
    let ctx = auth.authenticated.context()?;
    let controls = messaging(&state).controls(&ctx).await?;
    Ok(axum::Json(controls.into()))
}

/// Pauses or resumes the tenant's outgoing mail and sets its daily quota
/// (audited as `outbox.paused`, `outbox.resumed` or
/// `outbox.controls_changed`).
#[utoipa::path(
    put,
    path = "/api/v1/outbox/controls",
    tag = "outbox",
    request_body = ControlsBody,
    responses(
        (status = 200, description = "The new controls", body = ControlsBody),
        (status = 403, description = "Not allowed (or a CSRF token is missing)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A quota of 0 (pause instead)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_controls(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ControlsBody>,
) -> ApiResult<axum::Json<ControlsBody>> {
    let ctx = auth.authenticated.context()?;
    let controls = OutboxControls {
        paused: body.paused,
        daily_limit: body.daily_limit,
    };
    let controls = messaging(&state).set_controls(&ctx, controls).await?;
    Ok(axum::Json(controls.into()))
}

/// One outgoing message and its delivery log.
#[utoipa::path(
    get,
    path = "/api/v1/outbox/messages/{id}",
    tag = "outbox",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "The message and its attempts", body = MessageView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message in this tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MessageView>> {
    let ctx = auth.authenticated.context()?;
    let id: MessageId = id
        .parse()
        .map_err(|_| tms_core::Error::not_found("message"))?;
    let message = messaging(&state).message(&ctx, id).await?;
    Ok(axum::Json(message.into()))
}
