//! `/api/v1/mail/...`: the tenant's own mail connections (issue 9) — its
//! SMTP server, and its Gmail account connected through OAuth 2.0.
//! Administration (Tenant Super Admin and Admin); removing either is a
//! critical action (`Tms-Confirm`). Secrets never come back: no password,
//! no token. See [`tms_core::service::mail_connections`].

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tms_core::domain::Email;
use tms_core::security::secret::Secret;
use tms_core::service::mail_connections::{GmailStatus, SmtpSecurity, SmtpSettings, SmtpStatus};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Query, confirmation};
use crate::revealed::Revealed;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(get_smtp, put_smtp, delete_smtp, gmail_connect, gmail_callback, gmail_status, gmail_disconnect),
    components(schemas(SmtpBody, SmtpView, ConnectView, GmailView)),
    tags((name = "mail", description = "The agency's own SMTP server and Gmail account"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/mail/smtp",
            get(get_smtp).put(put_smtp).delete(delete_smtp),
        )
        .route("/mail/gmail", get(gmail_status).delete(gmail_disconnect))
        .route("/mail/gmail/connect", post(gmail_connect))
        .route("/mail/gmail/callback", get(gmail_callback))
}

/// The tenant's SMTP server, as set.
#[derive(Deserialize, ToSchema)]
pub struct SmtpBody {
    /// Host name or IP address.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// `starttls` (default), `tls`, or `none` (loopback or private relays
    /// only).
    #[serde(default)]
    pub tls: Option<String>,
    /// Login.
    #[serde(default)]
    pub username: Option<String>,
    /// Password; left out, the stored one stays (same username).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret<String>>,
    /// The sender address.
    pub from: String,
    /// The sender's display name.
    #[serde(default)]
    pub from_name: Option<String>,
}

/// The tenant's SMTP server, as shown (never the password).
#[derive(Debug, Serialize, ToSchema)]
pub struct SmtpView {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub tls: String,
    /// Login.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Sender address.
    pub from: String,
    /// Sender display name.
    pub from_name: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<SmtpStatus> for SmtpView {
    fn from(s: SmtpStatus) -> Self {
        Self {
            host: s.host,
            port: s.port,
            tls: s.security.as_str().to_owned(),
            username: s.username,
            has_password: s.has_password,
            from: s.from,
            from_name: s.from_name,
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// Where to send the browser to connect Gmail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectView {
    /// Google's consent page (valid for ten minutes, for this user); it
    /// carries the OAuth `state`.
    #[schema(value_type = String)]
    pub authorization_url: Revealed,
}

/// The Gmail connection (never a token).
#[derive(Debug, Serialize, ToSchema)]
pub struct GmailView {
    /// Whether an account is connected.
    pub connected: bool,
    /// The account's address.
    pub address: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the current access token expires (RFC 3339); it is refreshed
    /// before use.
    pub expires_at: Option<String>,
    /// When it was connected (RFC 3339).
    pub connected_at: Option<String>,
    /// Why it stopped working (connect again), if it did.
    pub broken: Option<String>,
}

impl From<GmailStatus> for GmailView {
    fn from(g: GmailStatus) -> Self {
        Self {
            connected: g.connected,
            address: g.address,
            scopes: g.scopes,
            expires_at: g.expires_at.map(|t| t.to_rfc3339()),
            connected_at: g.connected_at.map(|t| t.to_rfc3339()),
            broken: g.broken,
        }
    }
}

/// The tenant's SMTP server (404 when none is set: mail goes through the
/// installation's route).
#[utoipa::path(
    get,
    path = "/api/v1/mail/smtp",
    tag = "mail",
    responses(
        (status = 200, description = "The settings, without the password", body = SmtpView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No SMTP server set", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_smtp(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<SmtpView>> {
    let ctx = auth.authenticated.context()?;
    let status = state
        .mail_connections
        .smtp(&ctx)
        .await?
        .ok_or_else(|| tms_core::Error::not_found("mail connection"))?;
    Ok(axum::Json(status.into()))
}

/// Sets the tenant's SMTP server (audited as `mail.smtp.set`, without the
/// password).
#[utoipa::path(
    put,
    path = "/api/v1/mail/smtp",
    tag = "mail",
    request_body = SmtpBody,
    responses(
        (status = 200, description = "The new settings, without the password", body = SmtpView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad host, port, TLS mode or address", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_smtp(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<SmtpBody>,
) -> ApiResult<axum::Json<SmtpView>> {
    let ctx = auth.authenticated.context()?;
    let security = match body.tls.as_deref() {
        Some(tls) => SmtpSecurity::parse(tls)?,
        None => SmtpSecurity::StartTls,
    };
    let from = Email::parse(&body.from)
        .map_err(|_| tms_core::Error::invalid("from", "is not an email address"))?;
    let settings = SmtpSettings {
        host: body.host,
        port: body.port,
        security,
        username: body.username,
        password: body.password,
        from,
        from_name: body.from_name,
    };
    let status = state.mail_connections.set_smtp(&ctx, settings).await?;
    Ok(axum::Json(status.into()))
}

/// Removes the tenant's SMTP server (critical: the first call answers 428;
/// repeat with `Tms-Confirm`).
#[utoipa::path(
    delete,
    path = "/api/v1/mail/smtp",
    tag = "mail",
    params(("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No SMTP server set", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_smtp(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let token = confirmation(&headers);
    state
        .mail_connections
        .remove_smtp(&ctx, token.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts connecting the agency's Gmail account: send the browser to
/// `authorization_url`. 409 when this server has no Google client.
#[utoipa::path(
    post,
    path = "/api/v1/mail/gmail/connect",
    tag = "mail",
    responses(
        (status = 200, description = "Google's consent page", body = ConnectView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Gmail is not configured on this server", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn gmail_connect(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<ConnectView>> {
    let ctx = auth.authenticated.context()?;
    let authorization_url = state.mail_connections.gmail_connect(&ctx).await?;
    Ok(axum::Json(ConnectView {
        authorization_url: Revealed::new(authorization_url),
    }))
}

/// The callback's query: what Google appends to the redirect URL.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where Google sends the browser back (the session cookie says who): the
/// `state` must match a pending connection of this user, else 400 and
/// nothing is stored.
#[utoipa::path(
    get,
    path = "/api/v1/mail/gmail/callback",
    tag = "mail",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state of the authorization URL"),
        ("error" = Option<String>, Query, description = "Google's refusal, e.g. access_denied"),
    ),
    responses(
        (status = 200, description = "Connected", body = GmailView),
        (status = 400, description = "No pending connection with this state, or consent refused", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Gmail is not configured on this server", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Google refused the code", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn gmail_callback(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<CallbackQuery>,
) -> ApiResult<axum::Json<GmailView>> {
    let ctx = auth.authenticated.context()?;
    if let Some(error) = query.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(ApiError::Malformed(
            format!("Google did not grant access ({error})").into(),
        ));
    }
    let (Some(code), Some(flow_state)) = (query.code, query.state) else {
        return Err(ApiError::Malformed(
            "the callback needs `code` and `state`".into(),
        ));
    };
    match state
        .mail_connections
        .gmail_callback(&ctx, &Secret::new(code), &flow_state)
        .await
    {
        Ok(status) => Ok(axum::Json(status.into())),
        Err(tms_core::Error::Invalid(errors))
            if errors.as_slice().iter().any(|e| e.field == "state") =>
        {
            Err(ApiError::Malformed(
                "`state` does not match a pending Gmail connection of yours".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The Gmail connection's status (never a token).
#[utoipa::path(
    get,
    path = "/api/v1/mail/gmail",
    tag = "mail",
    responses(
        (status = 200, description = "Connected or not", body = GmailView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn gmail_status(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<GmailView>> {
    let ctx = auth.authenticated.context()?;
    let status = state.mail_connections.gmail_status(&ctx).await?;
    Ok(axum::Json(status.into()))
}

/// Disconnects Gmail: revokes the grant at Google and deletes the tokens
/// (deleted even if Google cannot be reached; the audit event says so).
/// Critical: the first call answers 428; repeat with `Tms-Confirm`.
#[utoipa::path(
    delete,
    path = "/api/v1/mail/gmail",
    tag = "mail",
    params(("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No Gmail account connected", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn gmail_disconnect(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let token = confirmation(&headers);
    state
        .mail_connections
        .gmail_disconnect(&ctx, token.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
