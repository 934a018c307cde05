//! WhatsApp (issue 9): the tenant's Cloud API connection and Meta's
//! webhook.
//!
//! - `PUT`/`GET`/`DELETE /whatsapp/connection`: connect (Tenant Super
//!   Admins and Admins; the access token, app secret and verify token are
//!   sealed and never answered back), read, and disconnect (critical: 428,
//!   then `Tms-Confirm`).
//! - `GET /whatsapp/messages/{wamid}/statuses`: what the webhook reported
//!   about one sent message.
//! - `GET`/`POST /webhooks/whatsapp/{tenant_id}`: no session — Meta calls
//!   it — but bound to that one tenant: the handshake echoes
//!   `hub.challenge` only for the tenant's verify token (else 403); a
//!   delivery must carry `X-Hub-Signature-256` over the raw body with the
//!   tenant's app secret (else 401, before the body is read as JSON), and
//!   is at most 256 KiB. Replays record nothing new.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tms_core::Error;
use tms_core::id::TenantId;
use tms_core::ports::{WhatsappConnection, WhatsappStatus};
use tms_core::security::secret::Secret;
use tms_core::service::whatsapp::{MAX_WEBHOOK_BODY, NewWhatsappConnection, WhatsappConnections};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query, confirmation};
use crate::revealed::Revealed;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        put_connection,
        get_connection,
        delete_connection,
        get_statuses,
        webhook_handshake,
        webhook_delivery
    ),
    components(schemas(ConnectionBody, ConnectionView, StatusView)),
    tags((name = "whatsapp", description = "WhatsApp Cloud API connection and delivery webhook"))
)]
pub struct ApiDoc;

/// The signature header of webhook deliveries.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/whatsapp/connection",
            get(get_connection)
                .put(put_connection)
                .delete(delete_connection),
        )
        .route("/whatsapp/messages/{id}/statuses", get(get_statuses))
        .route(
            "/webhooks/whatsapp/{tenant_id}",
            get(webhook_handshake)
                .post(webhook_delivery)
                .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)),
        )
}

fn service(state: &AppState) -> WhatsappConnections {
    WhatsappConnections::new(state.deps.clone(), state.keyring.clone())
}

/// A connection as an administrator enters it (from Meta's app
/// dashboard).
#[derive(Deserialize, ToSchema)]
pub struct ConnectionBody {
    /// The sending number's id (digits).
    pub phone_number_id: String,
    /// The WhatsApp Business Account id (digits).
    #[serde(default)]
    pub business_account_id: Option<String>,
    /// A system user's access token.
    #[schema(value_type = String, format = Password)]
    pub access_token: Secret<String>,
    /// The Meta app's secret (signs webhook deliveries).
    #[schema(value_type = String, format = Password)]
    pub app_secret: Secret<String>,
    /// The verify token entered in the webhook settings, 16 to 256
    /// characters.
    #[schema(value_type = String, format = Password)]
    pub verify_token: Secret<String>,
}

/// A connection, without its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// Whether the tenant is connected.
    pub connected: bool,
    /// The sending number's id.
    pub phone_number_id: Option<String>,
    /// The WhatsApp Business Account id.
    pub business_account_id: Option<String>,
    /// When it was connected (RFC 3339).
    pub connected_at: Option<String>,
    /// The path Meta's webhook settings need (after the public URL).
    pub webhook_path: String,
}

impl ConnectionView {
    fn of(tenant: TenantId, c: Option<WhatsappConnection>) -> Self {
        let webhook_path = format!("/api/v1/webhooks/whatsapp/{tenant}");
        match c {
            Some(c) => Self {
                connected: true,
                phone_number_id: Some(c.phone_number_id),
                business_account_id: c.business_account_id,
                connected_at: Some(c.connected_at.to_rfc3339()),
                webhook_path,
            },
            None => Self {
                connected: false,
                phone_number_id: None,
                business_account_id: None,
                connected_at: None,
                webhook_path,
            },
        }
    }
}

/// Connects the tenant's WhatsApp Business number (replacing any earlier
/// connection).
#[utoipa::path(
    put, path = "/api/v1/whatsapp/connection", tag = "whatsapp",
    request_body = ConnectionBody,
    responses(
        (status = 200, description = "Connected", body = ConnectionView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid ids or secrets", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_connection(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ConnectionBody>,
) -> ApiResult<axum::Json<ConnectionView>> {
    let ctx = auth.authenticated.context()?;
    let connection = service(&state)
        .connect(
            &ctx,
            NewWhatsappConnection {
                phone_number_id: body.phone_number_id,
                business_account_id: body.business_account_id,
                access_token: body.access_token,
                app_secret: body.app_secret,
                verify_token: body.verify_token,
            },
        )
        .await?;
    Ok(axum::Json(ConnectionView::of(
        ctx.principal.tenant_id(),
        Some(connection),
    )))
}

/// The tenant's connection (never its secrets).
#[utoipa::path(
    get, path = "/api/v1/whatsapp/connection", tag = "whatsapp",
    responses(
        (status = 200, description = "The connection, or `connected: false`", body = ConnectionView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_connection(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<ConnectionView>> {
    let ctx = auth.authenticated.context()?;
    let connection = service(&state).status(&ctx).await?;
    Ok(axum::Json(ConnectionView::of(
        ctx.principal.tenant_id(),
        connection,
    )))
}

/// Disconnects: deletes the connection and its secrets; critical.
#[utoipa::path(
    delete, path = "/api/v1/whatsapp/connection", tag = "whatsapp",
    params(
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not connected", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_connection(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let confirmation = confirmation(&headers);
    service(&state)
        .disconnect(&ctx, confirmation.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One reported status of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// When, by the provider's clock (RFC 3339).
    pub at: String,
    /// The provider's error code of a failure.
    pub error_code: Option<i64>,
    /// The provider's error title of a failure.
    pub error_title: Option<String>,
}

impl From<&WhatsappStatus> for StatusView {
    fn from(s: &WhatsappStatus) -> Self {
        Self {
            status: s.status.as_str().to_owned(),
            at: s.at.to_rfc3339(),
            error_code: s.error_code,
            error_title: s.error_title.clone(),
        }
    }
}

/// What the webhook reported about one message, in order.
#[utoipa::path(
    get, path = "/api/v1/whatsapp/messages/{id}/statuses", tag = "whatsapp",
    params(("id" = String, Path, description = "The provider's message id (wamid.…)")),
    responses(
        (status = 200, description = "The statuses, oldest first", body = [StatusView]),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_statuses(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<StatusView>>> {
    let ctx = auth.authenticated.context()?;
    let statuses = service(&state).statuses(&ctx, &id).await?;
    Ok(axum::Json(statuses.iter().map(StatusView::from).collect()))
}

/// The subscription handshake's query (`hub.mode`, `hub.verify_token`,
/// `hub.challenge`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    /// `subscribe`.
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    pub mode: Option<String>,
    /// The verify token set in Meta's webhook settings.
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token", value_type = Option<String>)]
    pub verify_token: Option<Revealed>,
    /// What to echo.
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// A tenant id from a webhook path: anything else is a 404.
fn tenant(raw: &str) -> Result<TenantId, Error> {
    raw.parse().map_err(|_| Error::not_found("tenant"))
}

/// Meta's subscription handshake: echoes `hub.challenge` for the tenant's
/// verify token.
#[utoipa::path(
    get, path = "/api/v1/webhooks/whatsapp/{tenant_id}", tag = "whatsapp",
    params(("tenant_id" = String, Path, description = "The tenant"), Handshake),
    responses(
        (status = 200, description = "The challenge", content_type = "text/plain", body = String),
        (status = 403, description = "Not the tenant's verify token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn webhook_handshake(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<Handshake>,
) -> ApiResult<Response> {
    let refused = || {
        Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the verify token does not match",
        )
        .into_response()
    };
    let Ok(tenant) = tenant(&raw) else {
        return Ok(refused());
    };
    let challenge = service(&state)
        .verify_subscription(
            tenant,
            query.mode.as_deref(),
            query.verify_token.as_ref().map(Revealed::expose),
            query.challenge.as_deref(),
        )
        .await?;
    Ok(match challenge {
        Some(challenge) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            challenge,
        )
            .into_response(),
        None => refused(),
    })
}

/// A webhook delivery: message statuses, signed with the app secret.
#[utoipa::path(
    post, path = "/api/v1/webhooks/whatsapp/{tenant_id}", tag = "whatsapp",
    params(
        ("tenant_id" = String, Path, description = "The tenant"),
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the body with the app secret>"),
    ),
    request_body(content = String, content_type = "application/json", description = "The Graph API's webhook payload"),
    responses(
        (status = 200, description = "Recorded (a replay changes nothing)"),
        (status = 401, description = "Missing or wrong signature", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 256 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Signed, but not the Graph API's shape", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn webhook_delivery(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    // An unknown tenant looks like a wrong signature: nothing to probe.
    let tenant = tenant(&raw).map_err(|_| Error::Unauthenticated)?;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    service(&state)
        .receive(tenant, signature, &body, state.deps.clock.now())
        .await?;
    Ok(StatusCode::OK)
}
