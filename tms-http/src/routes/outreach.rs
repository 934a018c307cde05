//! `/api/v1/templates`, `/api/v1/suppressions`, `/api/v1/campaigns` and
//! `/api/v1/unsubscribe/{token}`: outreach (issue 9).
//!
//! Templates and campaigns are Administration: a Tenant Super Admin or an
//! Admin reads, writes and approves them; sending a campaign is critical
//! (`428`, then repeat with `Tms-Confirm`). Another tenant's id is 404.
//!
//! The unsubscribe endpoint needs no session: the signed token is the
//! authority. `POST` with the RFC 8058 body `List-Unsubscribe=One-Click`
//! unsubscribes (idempotent); `GET` only shows a page with a button, since
//! mail scanners follow links. A forged or unknown token is 404.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::outreach::{
    Campaign, CampaignProgress, Suppression, Template, VariantContent,
};
use tms_core::id::{BranchId, CampaignId, TemplateId};
use tms_core::service::outreach::render::Rendered;
use tms_core::service::outreach::{CampaignForm, TemplateForm, VariantForm};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query, confirmation};
use crate::routes::users::Paging;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_templates,
        create_template,
        get_template,
        update_template,
        approve_template,
        archive_template,
        render_template,
        list_suppressions,
        add_suppression,
        remove_suppression,
        list_campaigns,
        create_campaign,
        get_campaign,
        approve_campaign,
        send_campaign,
        pause_campaign,
        resume_campaign,
        cancel_campaign,
        unsubscribe_page,
        unsubscribe
    ),
    components(schemas(
        TemplateBody,
        VariantBody,
        TemplateView,
        TemplateList,
        RenderBody,
        RenderedView,
        SuppressionBody,
        SuppressionView,
        SuppressionList,
        CampaignBody,
        CampaignView,
        CampaignList,
        ProgressView
    )),
    tags((name = "outreach", description = "Templates, suppression list, campaigns, one-click unsubscribe"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/templates", get(list_templates).post(create_template))
        .route("/templates/{id}", get(get_template).put(update_template))
        .route("/templates/{id}/approve", post(approve_template))
        .route("/templates/{id}/archive", post(archive_template))
        .route("/templates/{id}/render", post(render_template))
        .route(
            "/suppressions",
            get(list_suppressions).post(add_suppression),
        )
        .route(
            "/suppressions/{address}",
            axum::routing::delete(remove_suppression),
        )
        .route("/campaigns", get(list_campaigns).post(create_campaign))
        .route("/campaigns/{id}", get(get_campaign))
        .route("/campaigns/{id}/approve", post(approve_campaign))
        .route("/campaigns/{id}/send", post(send_campaign))
        .route("/campaigns/{id}/pause", post(pause_campaign))
        .route("/campaigns/{id}/resume", post(resume_campaign))
        .route("/campaigns/{id}/cancel", post(cancel_campaign))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
}

fn template_id(raw: &str) -> tms_core::Result<TemplateId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("template"))
}

fn campaign_id(raw: &str) -> tms_core::Result<CampaignId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("campaign"))
}

// ------------------------------------------------------------------ bodies

/// One language of a template. Email: `subject`, `text`, `html`.
/// WhatsApp: `provider_template`, `provider_language`, `parameters`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VariantBody {
    /// BCP-47 tag: `en`, `ar`, `ar-SA`, `ur`.
    pub language: String,
    /// Email: the subject (one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Email: the plain-text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Email: the HTML body (values are HTML-escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// WhatsApp: the template's name at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_template: Option<String>,
    /// WhatsApp: its language code at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_language: Option<String>,
    /// WhatsApp: declared variables filling `{{1}}`, `{{2}}`, … in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<String>>,
}

impl From<&tms_core::domain::outreach::TemplateVariant> for VariantBody {
    fn from(v: &tms_core::domain::outreach::TemplateVariant) -> Self {
        let mut body = VariantBody {
            language: v.language.to_string(),
            subject: None,
            text: None,
            html: None,
            provider_template: None,
            provider_language: None,
            parameters: None,
        };
        match &v.content {
            VariantContent::Email {
                subject,
                text,
                html,
            } => {
                body.subject = Some(subject.clone());
                body.text = Some(text.clone());
                body.html = Some(html.clone());
            }
            VariantContent::Whatsapp {
                provider_template,
                provider_language,
                parameters,
            } => {
                body.provider_template = Some(provider_template.clone());
                body.provider_language = Some(provider_language.clone());
                body.parameters = Some(parameters.clone());
            }
        }
        body
    }
}

/// A template as sent by a client (create, or replace a draft).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TemplateBody {
    /// A name for people.
    pub name: String,
    /// `email` or `whatsapp`.
    pub channel: String,
    /// The variable names the texts may use (e.g. `client_name`,
    /// `unsubscribe_url` — filled per recipient by campaigns).
    #[serde(default)]
    pub variables: Vec<String>,
    /// The fallback language (one of the variants').
    pub default_language: String,
    /// One per language.
    pub variants: Vec<VariantBody>,
}

impl TemplateBody {
    fn form(self) -> tms_core::Result<TemplateForm> {
        let mut errors = tms_core::FieldErrors::new();
        let mut variants = Vec::new();
        for (i, v) in self.variants.into_iter().enumerate() {
            let content = match self.channel.as_str() {
                "whatsapp" => match (v.provider_template, v.provider_language) {
                    (Some(provider_template), Some(provider_language)) => {
                        VariantContent::Whatsapp {
                            provider_template,
                            provider_language,
                            parameters: v.parameters.unwrap_or_default(),
                        }
                    }
                    _ => {
                        errors.push(
                            format!("variants[{i}]"),
                            "needs provider_template and provider_language",
                        );
                        continue;
                    }
                },
                _ => match (v.subject, v.text, v.html) {
                    (Some(subject), Some(text), Some(html)) => VariantContent::Email {
                        subject,
                        text,
                        html,
                    },
                    _ => {
                        errors.push(format!("variants[{i}]"), "needs subject, text and html");
                        continue;
                    }
                },
            };
            variants.push(VariantForm {
                language: v.language,
                content,
            });
        }
        errors.into_result()?;
        Ok(TemplateForm {
            name: self.name,
            channel: self.channel,
            variables: self.variables,
            default_language: self.default_language,
            variants,
        })
    }
}

/// A template.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Its id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// `email` or `whatsapp`.
    pub channel: String,
    /// `draft`, `approved` or `archived`.
    pub status: String,
    /// Declared variables.
    pub variables: Vec<String>,
    /// The fallback language.
    pub default_language: String,
    /// One per language.
    pub variants: Vec<VariantBody>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When (RFC 3339).
    pub approved_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl From<&Template> for TemplateView {
    fn from(t: &Template) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            channel: t.channel.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            variables: t.variables.clone(),
            default_language: t.default_language.to_string(),
            variants: t.variants.iter().map(VariantBody::from).collect(),
            approved_by: t.approved_by.map(|u| u.to_string()),
            approved_at: t.approved_at.map(|a| a.to_rfc3339()),
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
            version: t.version,
        }
    }
}

/// One page of templates.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    /// The templates, oldest first.
    pub items: Vec<TemplateView>,
    /// The next page's cursor.
    pub next_cursor: Option<String>,
}

/// What to render a template with.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RenderBody {
    /// The language wanted (falls back to its base, then the default).
    pub language: String,
    /// A value for each declared variable.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// A rendered template.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedView {
    /// The language of the variant used.
    pub language: String,
    /// Email: the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Email: the text body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Email: the HTML body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// WhatsApp: the provider's template name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_template: Option<String>,
    /// WhatsApp: the provider's language code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_language: Option<String>,
    /// WhatsApp: the parameter values in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<String>>,
}

impl From<Rendered> for RenderedView {
    fn from(r: Rendered) -> Self {
        match r {
            Rendered::Email(m) => Self {
                language: m.language.to_string(),
                subject: Some(m.subject),
                text: Some(m.text),
                html: Some(m.html),
                provider_template: None,
                provider_language: None,
                parameters: None,
            },
            Rendered::Whatsapp(w) => Self {
                language: w.language.to_string(),
                subject: None,
                text: None,
                html: None,
                provider_template: Some(w.provider_template),
                provider_language: Some(w.provider_language),
                parameters: Some(w.parameters),
            },
        }
    }
}

/// An address to suppress.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SuppressionBody {
    /// An email address or a phone number (E.164).
    pub address: String,
    /// `manual` (default), `bounced` or `unsubscribed`.
    #[serde(default = "manual")]
    pub reason: String,
}

fn manual() -> String {
    "manual".to_owned()
}

/// An entry of the suppression list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionView {
    /// The address, normalised.
    pub address: String,
    /// `email` or `phone`.
    pub kind: String,
    /// `unsubscribed`, `bounced` or `manual`.
    pub reason: String,
    /// Since when (RFC 3339).
    pub created_at: String,
}

impl From<&Suppression> for SuppressionView {
    fn from(s: &Suppression) -> Self {
        Self {
            address: s.address.as_str().to_owned(),
            kind: s.address.kind().to_owned(),
            reason: s.reason.as_str().to_owned(),
            created_at: s.created_at.to_rfc3339(),
        }
    }
}

/// One page of the suppression list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionList {
    /// Entries, oldest first.
    pub items: Vec<SuppressionView>,
    /// The next page's cursor.
    pub next_cursor: Option<String>,
}

/// A campaign as sent by a client.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CampaignBody {
    /// A name for people.
    pub name: String,
    /// An approved template.
    pub template_id: String,
    /// The language to send in.
    pub language: String,
    /// Only clients of this branch (required for a user who does not see
    /// every branch).
    #[serde(default)]
    pub branch_id: Option<String>,
    /// Values of the template's variables other than `client_name` and
    /// `unsubscribe_url`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// Recipients by state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// Expanded so far.
    pub recipients: u64,
    /// Waiting in the outbox.
    pub queued: u64,
    /// Accepted by the transport.
    pub sent: u64,
    /// Given up on.
    pub failed: u64,
    /// Skipped: on the suppression list.
    pub suppressed: u64,
    /// Withdrawn by a cancel.
    pub cancelled: u64,
}

impl From<CampaignProgress> for ProgressView {
    fn from(p: CampaignProgress) -> Self {
        Self {
            recipients: p.recipients,
            queued: p.queued,
            sent: p.sent,
            failed: p.failed,
            suppressed: p.suppressed,
            cancelled: p.cancelled,
        }
    }
}

/// A campaign (never its variable values' secrets: they are plain texts of
/// the agency's own).
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    /// Its id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The template it sends.
    pub template_id: String,
    /// `email` or `whatsapp`.
    pub channel: String,
    /// The language asked for.
    pub language: String,
    /// The branch whose clients it reaches; `null` for all.
    pub branch_id: Option<String>,
    /// The shared variable values.
    pub variables: BTreeMap<String, String>,
    /// `draft`, `approved`, `scheduled`, `sending`, `paused`, `done`, `cancelled`.
    pub status: String,
    /// When it starts (RFC 3339).
    pub scheduled_at: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// Optimistic concurrency version.
    pub version: i64,
    /// Recipients by state (on single reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
}

impl CampaignView {
    fn of(c: &Campaign, progress: Option<CampaignProgress>) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.clone(),
            template_id: c.template_id.to_string(),
            channel: c.channel.as_str().to_owned(),
            language: c.language.to_string(),
            branch_id: c.branch_id.map(|b| b.to_string()),
            variables: c.variables.clone(),
            status: c.status.as_str().to_owned(),
            scheduled_at: c.scheduled_at.map(|a| a.to_rfc3339()),
            approved_by: c.approved_by.map(|u| u.to_string()),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            version: c.version,
            progress: progress.map(ProgressView::from),
        }
    }
}

/// One page of campaigns.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    /// Campaigns, oldest first.
    pub items: Vec<CampaignView>,
    /// The next page's cursor.
    pub next_cursor: Option<String>,
}

/// When to send.
#[derive(Debug, Deserialize)]
pub struct SendQuery {
    /// A later time (RFC 3339) to schedule for; absent to start now.
    pub at: Option<DateTime<Utc>>,
}

// --------------------------------------------------------------- templates

/// The tenant's templates.
#[utoipa::path(
    get,
    path = "/api/v1/templates",
    tag = "outreach",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of templates", body = TemplateList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_templates(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<TemplateList>> {
    let ctx = auth.authenticated.context()?;
    let page = state
        .outreach
        .list_templates(&ctx, paging.request()?)
        .await?;
    Ok(axum::Json(TemplateList {
        items: page.items.iter().map(TemplateView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Creates a draft template; every part is checked against the declared
/// variables (strict).
#[utoipa::path(
    post,
    path = "/api/v1/templates",
    tag = "outreach",
    request_body = TemplateBody,
    responses(
        (status = 201, description = "Created (draft)", body = TemplateView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid (e.g. an undeclared variable)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_template(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TemplateBody>,
) -> ApiResult<(StatusCode, axum::Json<TemplateView>)> {
    let ctx = auth.authenticated.context()?;
    let template = state.outreach.create_template(&ctx, &body.form()?).await?;
    Ok((StatusCode::CREATED, axum::Json((&template).into())))
}

/// One template.
#[utoipa::path(
    get,
    path = "/api/v1/templates/{id}",
    tag = "outreach",
    params(("id" = String, Path, description = "The template id")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 404, description = "No such template in this tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TemplateView>> {
    let ctx = auth.authenticated.context()?;
    let template = state.outreach.get_template(&ctx, template_id(&id)?).await?;
    Ok(axum::Json((&template).into()))
}

/// Replaces a draft's content; an approved or archived template is never
/// edited (409).
#[utoipa::path(
    put,
    path = "/api/v1/templates/{id}",
    tag = "outreach",
    params(("id" = String, Path, description = "The template id")),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "Saved", body = TemplateView),
        (status = 404, description = "No such template in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<axum::Json<TemplateView>> {
    let ctx = auth.authenticated.context()?;
    let id = template_id(&id)?;
    let template = state
        .outreach
        .update_template(&ctx, id, &body.form()?)
        .await?;
    Ok(axum::Json((&template).into()))
}

/// Approves a draft template (the approver is recorded).
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/approve",
    tag = "outreach",
    params(("id" = String, Path, description = "The template id")),
    responses(
        (status = 200, description = "Approved", body = TemplateView),
        (status = 404, description = "No such template in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn approve_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TemplateView>> {
    let ctx = auth.authenticated.context()?;
    let template = state
        .outreach
        .approve_template(&ctx, template_id(&id)?)
        .await?;
    Ok(axum::Json((&template).into()))
}

/// Archives a template: it is never used again.
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/archive",
    tag = "outreach",
    params(("id" = String, Path, description = "The template id")),
    responses(
        (status = 200, description = "Archived", body = TemplateView),
        (status = 404, description = "No such template in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Archived already", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn archive_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TemplateView>> {
    let ctx = auth.authenticated.context()?;
    let template = state
        .outreach
        .archive_template(&ctx, template_id(&id)?)
        .await?;
    Ok(axum::Json((&template).into()))
}

/// Renders an approved template with the given values (a preview).
#[utoipa::path(
    post,
    path = "/api/v1/templates/{id}/render",
    tag = "outreach",
    params(("id" = String, Path, description = "The template id")),
    request_body = RenderBody,
    responses(
        (status = 200, description = "Rendered", body = RenderedView),
        (status = 404, description = "No such template in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not approved", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is missing, or the subject would not be one line", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn render_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RenderBody>,
) -> ApiResult<axum::Json<RenderedView>> {
    let ctx = auth.authenticated.context()?;
    let rendered = state
        .outreach
        .render_template(&ctx, template_id(&id)?, &body.language, &body.values)
        .await?;
    Ok(axum::Json(rendered.into()))
}

// ------------------------------------------------------------ suppressions

/// The tenant's suppression list.
#[utoipa::path(
    get,
    path = "/api/v1/suppressions",
    tag = "outreach",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page", body = SuppressionList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_suppressions(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<SuppressionList>> {
    let ctx = auth.authenticated.context()?;
    let page = state
        .outreach
        .list_suppressions(&ctx, paging.request()?)
        .await?;
    Ok(axum::Json(SuppressionList {
        items: page.items.iter().map(SuppressionView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Adds an address to the suppression list (201; 200 if it was there).
#[utoipa::path(
    post,
    path = "/api/v1/suppressions",
    tag = "outreach",
    request_body = SuppressionBody,
    responses(
        (status = 201, description = "Added"),
        (status = 200, description = "Already there"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an address or reason", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_suppression(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<SuppressionBody>,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let added = state
        .outreach
        .add_suppression(&ctx, &body.address, &body.reason)
        .await?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

/// Takes an address off the suppression list.
#[utoipa::path(
    delete,
    path = "/api/v1/suppressions/{address}",
    tag = "outreach",
    params(("address" = String, Path, description = "The email address or phone number")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Not on the list", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove_suppression(
    State(state): State<AppState>,
    auth: Auth,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    if state.outreach.remove_suppression(&ctx, &address).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(tms_core::Error::not_found("suppression").into())
    }
}

// --------------------------------------------------------------- campaigns

/// The tenant's campaigns.
#[utoipa::path(
    get,
    path = "/api/v1/campaigns",
    tag = "outreach",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of campaigns", body = CampaignList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_campaigns(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<CampaignList>> {
    let ctx = auth.authenticated.context()?;
    let page = state
        .outreach
        .list_campaigns(&ctx, paging.request()?)
        .await?;
    Ok(axum::Json(CampaignList {
        items: page
            .items
            .iter()
            .map(|c| CampaignView::of(c, None))
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Creates a draft campaign over an approved template.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns",
    tag = "outreach",
    request_body = CampaignBody,
    responses(
        (status = 201, description = "Created (draft)", body = CampaignView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not the caller's to see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid (template not approved, values missing)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<CampaignBody>,
) -> ApiResult<(StatusCode, axum::Json<CampaignView>)> {
    let ctx = auth.authenticated.context()?;
    let template_id = body
        .template_id
        .parse::<TemplateId>()
        .map_err(|_| tms_core::Error::invalid("template_id", "names no template"))?;
    let branch_id = body
        .branch_id
        .as_deref()
        .map(|b| b.parse::<BranchId>())
        .transpose()
        .map_err(|_| tms_core::Error::not_found("branch"))?;
    let form = CampaignForm {
        name: body.name,
        template_id,
        language: body.language,
        branch_id,
        variables: body.variables,
    };
    let campaign = state.outreach.create_campaign(&ctx, &form).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CampaignView::of(&campaign, None)),
    ))
}

/// One campaign with its progress (recipients by state).
#[utoipa::path(
    get,
    path = "/api/v1/campaigns/{id}",
    tag = "outreach",
    params(("id" = String, Path, description = "The campaign id")),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 404, description = "No such campaign in this tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    let ctx = auth.authenticated.context()?;
    let (campaign, progress) = state.outreach.get_campaign(&ctx, campaign_id(&id)?).await?;
    Ok(axum::Json(CampaignView::of(&campaign, Some(progress))))
}

/// Approves a draft campaign.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/approve",
    tag = "outreach",
    params(("id" = String, Path, description = "The campaign id")),
    responses(
        (status = 200, description = "Approved", body = CampaignView),
        (status = 404, description = "No such campaign in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn approve_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    let ctx = auth.authenticated.context()?;
    let campaign = state
        .outreach
        .approve_campaign(&ctx, campaign_id(&id)?)
        .await?;
    Ok(axum::Json(CampaignView::of(&campaign, None)))
}

/// Sends an approved campaign — critical: the first call answers 428 with
/// a `confirmation_token`; repeat with `Tms-Confirm`. With `?at=` (RFC
/// 3339, in the future) it is scheduled; otherwise it starts now.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/send",
    tag = "outreach",
    params(
        ("id" = String, Path, description = "The campaign id"),
        ("at" = Option<String>, Query, description = "When to start (RFC 3339); now if absent"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 200, description = "Scheduled or sending", body = CampaignView),
        (status = 404, description = "No such campaign in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not approved", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(query): Query<SendQuery>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<CampaignView>> {
    let ctx = auth.authenticated.context()?;
    let id = campaign_id(&id)?;
    let token = confirmation(&headers);
    let campaign = state
        .outreach
        .send_campaign(&ctx, id, query.at, token.as_ref())
        .await?;
    Ok(axum::Json(CampaignView::of(&campaign, None)))
}

/// Pauses the expansion of a scheduled or sending campaign.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/pause",
    tag = "outreach",
    params(("id" = String, Path, description = "The campaign id")),
    responses(
        (status = 200, description = "Paused", body = CampaignView),
        (status = 404, description = "No such campaign in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not sending or scheduled", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pause_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    let ctx = auth.authenticated.context()?;
    let c = state
        .outreach
        .pause_campaign(&ctx, campaign_id(&id)?)
        .await?;
    Ok(axum::Json(CampaignView::of(&c, None)))
}

/// Resumes a paused campaign where it stopped (nobody is written twice).
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/resume",
    tag = "outreach",
    params(("id" = String, Path, description = "The campaign id")),
    responses(
        (status = 200, description = "Sending again", body = CampaignView),
        (status = 404, description = "No such campaign in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not paused", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resume_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    let ctx = auth.authenticated.context()?;
    let c = state
        .outreach
        .resume_campaign(&ctx, campaign_id(&id)?)
        .await?;
    Ok(axum::Json(CampaignView::of(&c, None)))
}

/// Cancels a campaign: no more expansion; messages still pending in the
/// outbox are withdrawn (failed), sent ones stay sent.
#[utoipa::path(
    post,
    path = "/api/v1/campaigns/{id}/cancel",
    tag = "outreach",
    params(("id" = String, Path, description = "The campaign id")),
    responses(
        (status = 200, description = "Cancelled", body = CampaignView),
        (status = 404, description = "No such campaign in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Done or cancelled already", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CampaignView>> {
    let ctx = auth.authenticated.context()?;
    let c = state
        .outreach
        .cancel_campaign(&ctx, campaign_id(&id)?)
        .await?;
    Ok(axum::Json(CampaignView::of(&c, None)))
}

// ------------------------------------------------------------- unsubscribe

/// The confirmation page's policy: like every answer's, except that its one
/// form may post back to this server.
const PAGE_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

/// A page that asks to confirm; it unsubscribes nobody by itself (mail
/// scanners follow links).
#[utoipa::path(
    get,
    path = "/api/v1/unsubscribe/{token}",
    tag = "outreach",
    params(("token" = String, Path, description = "The signed token of the List-Unsubscribe link")),
    responses(
        (status = 200, description = "A confirmation page (text/html)", content_type = "text/html"),
        (status = 404, description = "Not a genuine link", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    state.outreach.check_unsubscribe(&token).await?;
    // The token is base64url: nothing to escape in it.
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>\
         <body><p>Stop receiving these messages?</p>\
         <form method=\"post\" action=\"/api/v1/unsubscribe/{token}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form></body></html>"
    );
    Ok(page(StatusCode::OK, body))
}

/// One-click unsubscribe (RFC 8058): the body must be
/// `List-Unsubscribe=One-Click`. Idempotent.
#[utoipa::path(
    post,
    path = "/api/v1/unsubscribe/{token}",
    tag = "outreach",
    params(("token" = String, Path, description = "The signed token of the List-Unsubscribe link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "List-Unsubscribe=One-Click"),
    responses(
        (status = 200, description = "Unsubscribed (text/html)", content_type = "text/html"),
        (status = 404, description = "Not a genuine link", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body is not List-Unsubscribe=One-Click", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: String,
) -> ApiResult<Response> {
    let one_click = body
        .split('&')
        .any(|pair| pair.trim() == "List-Unsubscribe=One-Click");
    if !one_click {
        return Err(tms_core::Error::invalid("body", "must be List-Unsubscribe=One-Click").into());
    }
    state.outreach.unsubscribe(&token).await?;
    Ok(page(
        StatusCode::OK,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head>\
         <body><p>You will not receive these messages any more.</p></body></html>"
            .to_owned(),
    ))
}
