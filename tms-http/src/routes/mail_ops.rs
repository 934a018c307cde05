//! Mail Ops (issue 10): support tickets from the connected Gmail inbox,
//! routing rules, settings and sync.
//!
//! - `GET /support/tickets` (filters `status`, `assignee`, `branch`,
//!   `priority`, `breached`; keyset paging), `GET /support/tickets/{id}`
//!   (with messages and notes);
//! - `PUT /support/tickets/{id}/assignee|status|priority`,
//!   `POST /support/tickets/{id}/notes`, `POST /support/tickets/{id}/replies`
//!   (with `Idempotency-Key`: a retry answers the first reply);
//! - `GET /support/tickets/{id}/messages/{message_id}/attachments/{part_id}`:
//!   the bytes, fetched from the mailbox on demand;
//! - `GET`/`POST /mail/rules`, `PUT`/`DELETE /mail/rules/{id}`;
//! - `GET`/`PUT /mail/ops/settings`; `GET`/`POST /mail/sync` (status, sync now).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use tms_core::domain::mail_ops::{
    MailMessage, MailOpsSettings, Priority, RoutingRule, SlaTargets, SupportStatus, SyncState,
    TicketNote,
};
use tms_core::id::{BranchId, MailMessageId, MailRuleId, SupportTicketId, UserId};
use tms_core::service::mail_ops::{
    ReplyForm, RuleForm, SettingsForm, TicketDetail, TicketQuery, TicketView,
};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query, idempotency_key};
use crate::routes::users::Paging;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_tickets, get_ticket, put_assignee, put_status, put_priority, post_note,
        post_reply, get_attachment, list_rules, post_rule, put_rule, delete_rule,
        get_settings, put_settings, get_sync, post_sync
    ),
    components(schemas(
        TicketItem, SupportTicketList, TicketDetailView, MailMessageView, NoteView, AssigneeBody,
        StatusBody, PriorityBody, NoteBody, ReplyBody, ReplyView, RuleBody, RuleView,
        MailOpsSettingsBody, MailOpsSettingsView, SyncView
    )),
    tags((name = "mail-ops", description = "Support tickets from the connected mailbox"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/support/tickets", get(list_tickets))
        .route("/support/tickets/{id}", get(get_ticket))
        .route("/support/tickets/{id}/assignee", put(put_assignee))
        .route("/support/tickets/{id}/status", put(put_status))
        .route("/support/tickets/{id}/priority", put(put_priority))
        .route("/support/tickets/{id}/notes", post(post_note))
        .route("/support/tickets/{id}/replies", post(post_reply))
        .route(
            "/support/tickets/{id}/messages/{message_id}/attachments/{part_id}",
            get(get_attachment),
        )
        .route("/mail/rules", get(list_rules).post(post_rule))
        .route("/mail/rules/{id}", put(put_rule).delete(delete_rule))
        .route("/mail/ops/settings", get(get_settings).put(put_settings))
        .route("/mail/sync", get(get_sync).post(post_sync))
}

/// A ticket in a list, with its SLA state now.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketItem {
    /// Its id.
    #[schema(value_type = uuid::Uuid)]
    pub id: SupportTicketId,
    /// Its branch.
    #[schema(value_type = uuid::Uuid)]
    pub branch_id: BranchId,
    /// The subject (empty once the mail was deleted).
    pub subject: String,
    /// The customer's address.
    pub requester: Option<String>,
    /// The linked client.
    pub client_id: Option<uuid::Uuid>,
    /// `open`, `pending`, `solved` or `closed`.
    pub status: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// Who works on it.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee: Option<UserId>,
    /// When it was opened.
    pub created_at: String,
    /// When the agency first answered.
    pub first_response_at: Option<String>,
    /// When the first response is due.
    pub first_response_due: String,
    /// When the resolution is due.
    pub resolution_due: String,
    /// The first response is (or was) late.
    pub first_response_breached: bool,
    /// The resolution is (or was) late.
    pub resolution_breached: bool,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl From<&TicketView> for TicketItem {
    fn from(v: &TicketView) -> Self {
        let t = &v.ticket;
        Self {
            id: t.id,
            branch_id: t.branch_id,
            subject: t.subject.clone(),
            requester: t.requester.clone(),
            client_id: t.client_id.map(|c| c.as_uuid()),
            status: t.status.as_str().to_owned(),
            priority: t.priority.as_str().to_owned(),
            assignee: t.assignee,
            created_at: t.created_at.to_rfc3339(),
            first_response_at: t.first_response_at.map(|at| at.to_rfc3339()),
            first_response_due: v.sla.first_response_due.to_rfc3339(),
            resolution_due: v.sla.resolution_due.to_rfc3339(),
            first_response_breached: v.sla.first_response_breached,
            resolution_breached: v.sla.resolution_breached,
            version: t.version,
        }
    }
}

/// One page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupportTicketList {
    /// The tickets.
    pub items: Vec<TicketItem>,
    /// The next page's cursor.
    pub next_cursor: Option<String>,
}

/// One stored message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailMessageView {
    /// Its id.
    #[schema(value_type = uuid::Uuid)]
    pub id: MailMessageId,
    /// The sender's address.
    pub from: Option<String>,
    /// The subject.
    pub subject: String,
    /// The text body.
    pub text: String,
    /// The sanitised HTML body.
    pub html: Option<String>,
    /// Whether the mailbox itself sent it.
    pub outbound: bool,
    /// When the provider received it.
    pub received_at: String,
    /// Attachments: `part_id`, `filename`, `content_type`, `size`.
    #[schema(value_type = Vec<Object>)]
    pub attachments: serde_json::Value,
    /// What did not parse (a bad charset, a truncated part): the message
    /// shows as far as it parsed, and these say what is missing. At most
    /// 20, each at most 200 characters; empty for a clean message.
    pub defects: Vec<String>,
}

impl From<&MailMessage> for MailMessageView {
    fn from(m: &MailMessage) -> Self {
        Self {
            id: m.id,
            from: m.from.as_ref().map(|a| a.address.clone()),
            subject: m.subject.clone(),
            text: m.text.clone(),
            html: m.html.clone(),
            outbound: m.outbound,
            received_at: m.received_at.to_rfc3339(),
            attachments: serde_json::json!(
                m.attachments
                    .iter()
                    .map(|a| serde_json::json!({
                        "part_id": a.part_id,
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                    }))
                    .collect::<Vec<_>>()
            ),
            defects: m.defects.clone(),
        }
    }
}

/// An internal note.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteView {
    /// Who wrote it.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub author: Option<UserId>,
    /// The note.
    pub text: String,
    /// When.
    pub created_at: String,
}

impl From<&TicketNote> for NoteView {
    fn from(n: &TicketNote) -> Self {
        Self {
            author: n.author,
            text: n.text.clone(),
            created_at: n.created_at.to_rfc3339(),
        }
    }
}

/// A ticket with its conversation and notes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetailView {
    /// The ticket.
    pub ticket: TicketItem,
    /// The messages, oldest first.
    pub messages: Vec<MailMessageView>,
    /// Internal notes, oldest first.
    pub notes: Vec<NoteView>,
}

impl From<&TicketDetail> for TicketDetailView {
    fn from(d: &TicketDetail) -> Self {
        Self {
            ticket: TicketItem::from(&d.view),
            messages: d.messages.iter().map(MailMessageView::from).collect(),
            notes: d.notes.iter().map(NoteView::from).collect(),
        }
    }
}

/// The filters of a ticket list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TicketFilters {
    /// Only this status.
    pub status: Option<String>,
    /// Only this assignee.
    #[param(value_type = Option<uuid::Uuid>)]
    pub assignee: Option<UserId>,
    /// Only this branch.
    #[param(value_type = Option<uuid::Uuid>)]
    pub branch: Option<BranchId>,
    /// Only this priority.
    pub priority: Option<String>,
    /// Only tickets whose SLA is breached (`true`: a first response or the
    /// resolution is late) or is not (`false`), now, under the tenant's
    /// targets.
    pub breached: Option<bool>,
}

/// The tickets the caller sees.
#[utoipa::path(
    get, path = "/api/v1/support/tickets", tag = "mail-ops",
    params(
        TicketFilters,
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of tickets", body = SupportTicketList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_tickets(
    State(state): State<AppState>,
    auth: Auth,
    Query(filters): Query<TicketFilters>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<SupportTicketList>> {
    let ctx = auth.authenticated.context()?;
    let query = TicketQuery {
        status: filters
            .status
            .as_deref()
            .map(SupportStatus::parse)
            .transpose()?,
        assignee: filters.assignee,
        branch: filters.branch,
        priority: filters
            .priority
            .as_deref()
            .map(Priority::parse)
            .transpose()?,
        breached: filters.breached,
    };
    let page = state
        .mail_ops
        .list_tickets(&ctx, &query, paging.request()?)
        .await?;
    Ok(axum::Json(SupportTicketList {
        items: page.items.iter().map(TicketItem::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// One ticket with its messages and notes.
#[utoipa::path(
    get, path = "/api/v1/support/tickets/{id}", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The ticket")),
    responses(
        (status = 200, description = "The ticket", body = TicketDetailView),
        (status = 404, description = "No such ticket here", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<SupportTicketId>,
) -> ApiResult<axum::Json<TicketDetailView>> {
    let ctx = auth.authenticated.context()?;
    let detail = state.mail_ops.ticket(&ctx, id).await?;
    Ok(axum::Json(TicketDetailView::from(&detail)))
}

/// Who a ticket goes to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssigneeBody {
    /// The user; `null` to unassign.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee: Option<UserId>,
}

/// Assigns a ticket to an active user with access to its branch.
#[utoipa::path(
    put, path = "/api/v1/support/tickets/{id}/assignee", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The ticket")),
    request_body = AssigneeBody,
    responses(
        (status = 200, description = "Assigned", body = TicketItem),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket here", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a user who may work on it", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_assignee(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<SupportTicketId>,
    Json(body): Json<AssigneeBody>,
) -> ApiResult<axum::Json<TicketItem>> {
    let ctx = auth.authenticated.context()?;
    let view = state.mail_ops.assign(&ctx, id, body.assignee).await?;
    Ok(axum::Json(TicketItem::from(&view)))
}

/// A new status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusBody {
    /// `open`, `pending`, `solved` or `closed`.
    pub status: String,
}

/// Moves a ticket along open → pending → solved → closed (or reopens it).
#[utoipa::path(
    put, path = "/api/v1/support/tickets/{id}/status", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The ticket")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "Moved", body = TicketItem),
        (status = 404, description = "No such ticket here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a move the ticket can make", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<SupportTicketId>,
    Json(body): Json<StatusBody>,
) -> ApiResult<axum::Json<TicketItem>> {
    let ctx = auth.authenticated.context()?;
    let status = SupportStatus::parse(&body.status)?;
    let view = state.mail_ops.set_status(&ctx, id, status).await?;
    Ok(axum::Json(TicketItem::from(&view)))
}

/// A new priority.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PriorityBody {
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
}

/// Changes a ticket's priority (its SLA targets follow).
#[utoipa::path(
    put, path = "/api/v1/support/tickets/{id}/priority", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The ticket")),
    request_body = PriorityBody,
    responses(
        (status = 200, description = "Changed", body = TicketItem),
        (status = 404, description = "No such ticket here", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_priority(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<SupportTicketId>,
    Json(body): Json<PriorityBody>,
) -> ApiResult<axum::Json<TicketItem>> {
    let ctx = auth.authenticated.context()?;
    let priority = Priority::parse(&body.priority)?;
    let view = state.mail_ops.set_priority(&ctx, id, priority).await?;
    Ok(axum::Json(TicketItem::from(&view)))
}

/// An internal note.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteBody {
    /// The note (never mailed).
    pub text: String,
}

/// Adds an internal note.
#[utoipa::path(
    post, path = "/api/v1/support/tickets/{id}/notes", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The ticket")),
    request_body = NoteBody,
    responses(
        (status = 201, description = "Added", body = NoteView),
        (status = 404, description = "No such ticket here", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or too long", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_note(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<SupportTicketId>,
    Json(body): Json<NoteBody>,
) -> ApiResult<(StatusCode, axum::Json<NoteView>)> {
    let ctx = auth.authenticated.context()?;
    let note = state.mail_ops.add_note(&ctx, id, &body.text).await?;
    Ok((StatusCode::CREATED, axum::Json(NoteView::from(&note))))
}

/// A reply to the customer.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplyBody {
    /// The text (unless a template is given).
    #[serde(default)]
    pub text: Option<String>,
    /// An approved email template.
    #[serde(default)]
    pub template_id: Option<uuid::Uuid>,
    /// The template's language.
    #[serde(default)]
    pub language: Option<String>,
    /// The template's variables.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

/// What a reply did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyView {
    /// The ticket afterwards.
    pub ticket: TicketItem,
    /// The outbox message that carries the reply.
    pub outbox_message_id: uuid::Uuid,
}

/// Answers the customer through the outbox, threaded (`In-Reply-To`,
/// `References`), from the connected Gmail account.
#[utoipa::path(
    post, path = "/api/v1/support/tickets/{id}/replies", tag = "mail-ops",
    params(
        ("id" = uuid::Uuid, Path, description = "The ticket"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer the first reply"),
    ),
    request_body = ReplyBody,
    responses(
        (status = 201, description = "Queued", body = ReplyView),
        (status = 404, description = "No such ticket here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing to answer (mail deleted)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty text, unusable template or reused key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_reply(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<SupportTicketId>,
    headers: HeaderMap,
    Json(body): Json<ReplyBody>,
) -> ApiResult<(StatusCode, axum::Json<ReplyView>)> {
    let ctx = auth.authenticated.context()?;
    let key = idempotency_key(&headers)?;
    let form = ReplyForm {
        text: body.text,
        template_id: body.template_id.map(tms_core::id::TemplateId::from_uuid),
        language: body.language,
        variables: body.variables,
    };
    let (view, message) = state.mail_ops.reply(&ctx, id, &form, key.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ReplyView {
            ticket: TicketItem::from(&view),
            outbox_message_id: message.as_uuid(),
        }),
    ))
}

/// An attachment's bytes, fetched from the mailbox now (never stored).
#[utoipa::path(
    get, path = "/api/v1/support/tickets/{id}/messages/{message_id}/attachments/{part_id}",
    tag = "mail-ops",
    params(
        ("id" = uuid::Uuid, Path, description = "The ticket"),
        ("message_id" = uuid::Uuid, Path, description = "The message"),
        ("part_id" = String, Path, description = "The attachment's MIME part"),
    ),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 404, description = "No such attachment here", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The mailbox is unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_attachment(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, message, part)): Path<(SupportTicketId, MailMessageId, String)>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let (meta, bytes) = state.mail_ops.attachment(&ctx, id, message, &part).await?;
    // Served as a download, never rendered: the content type is the
    // sender's claim.
    let name: String = meta
        .filename
        .unwrap_or_else(|| "attachment".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// A routing rule as sent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleBody {
    /// Order of evaluation (ascending; first match wins).
    pub position: i32,
    /// Match this mailbox address.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// Match this label.
    #[serde(default)]
    pub label: Option<String>,
    /// Match this sender domain.
    #[serde(default)]
    pub sender_domain: Option<String>,
    /// Where matching mail goes.
    #[schema(value_type = uuid::Uuid)]
    pub branch_id: BranchId,
    /// New tickets' priority (default `normal`).
    #[serde(default)]
    pub priority: Option<String>,
    /// New tickets' assignee.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee: Option<UserId>,
    /// For updates: the version read.
    #[serde(default)]
    pub version: Option<i64>,
}

impl RuleBody {
    fn form(&self) -> tms_core::Result<RuleForm> {
        Ok(RuleForm {
            position: self.position,
            mailbox: self.mailbox.clone(),
            label: self.label.clone(),
            sender_domain: self.sender_domain.clone(),
            branch_id: self.branch_id,
            priority: self
                .priority
                .as_deref()
                .map(Priority::parse)
                .transpose()?
                .unwrap_or_default(),
            assignee: self.assignee,
        })
    }
}

/// A routing rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// Its id.
    #[schema(value_type = uuid::Uuid)]
    pub id: MailRuleId,
    /// Order of evaluation.
    pub position: i32,
    /// Mailbox condition.
    pub mailbox: Option<String>,
    /// Label condition.
    pub label: Option<String>,
    /// Sender domain condition.
    pub sender_domain: Option<String>,
    /// Target branch.
    #[schema(value_type = uuid::Uuid)]
    pub branch_id: BranchId,
    /// New tickets' priority.
    pub priority: String,
    /// New tickets' assignee.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub assignee: Option<UserId>,
    /// Version.
    pub version: i64,
}

impl From<&RoutingRule> for RuleView {
    fn from(r: &RoutingRule) -> Self {
        Self {
            id: r.id,
            position: r.position,
            mailbox: r.mailbox.clone(),
            label: r.label.clone(),
            sender_domain: r.sender_domain.clone(),
            branch_id: r.branch_id,
            priority: r.priority.as_str().to_owned(),
            assignee: r.assignee,
            version: r.version,
        }
    }
}

/// The routing rules in evaluation order.
#[utoipa::path(
    get, path = "/api/v1/mail/rules", tag = "mail-ops",
    responses(
        (status = 200, description = "The rules", body = [RuleView]),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_rules(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<Vec<RuleView>>> {
    let ctx = auth.authenticated.context()?;
    let rules = state.mail_ops.rules(&ctx).await?;
    Ok(axum::Json(rules.iter().map(RuleView::from).collect()))
}

/// Adds a routing rule.
#[utoipa::path(
    post, path = "/api/v1/mail/rules", tag = "mail-ops",
    request_body = RuleBody,
    responses(
        (status = 201, description = "Added", body = RuleView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_rule(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<RuleBody>,
) -> ApiResult<(StatusCode, axum::Json<RuleView>)> {
    let ctx = auth.authenticated.context()?;
    let rule = state.mail_ops.create_rule(&ctx, &body.form()?).await?;
    Ok((StatusCode::CREATED, axum::Json(RuleView::from(&rule))))
}

/// Replaces a routing rule (with the version read).
#[utoipa::path(
    put, path = "/api/v1/mail/rules/{id}", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The rule")),
    request_body = RuleBody,
    responses(
        (status = 200, description = "Replaced", body = RuleView),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<MailRuleId>,
    Json(body): Json<RuleBody>,
) -> ApiResult<axum::Json<RuleView>> {
    let ctx = auth.authenticated.context()?;
    let version = body
        .version
        .ok_or_else(|| tms_core::Error::invalid("version", "is required"))?;
    let rule = state
        .mail_ops
        .update_rule(&ctx, id, &body.form()?, version)
        .await?;
    Ok(axum::Json(RuleView::from(&rule)))
}

/// Deletes a routing rule.
#[utoipa::path(
    delete, path = "/api/v1/mail/rules/{id}", tag = "mail-ops",
    params(("id" = uuid::Uuid, Path, description = "The rule")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<MailRuleId>,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    state.mail_ops.delete_rule(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The Mail Ops settings as sent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MailOpsSettingsBody {
    /// SLA targets per priority (`low`, `normal`, `high`, `urgent`, each
    /// `{first_response_minutes, resolution_minutes}`).
    #[schema(value_type = Object)]
    pub sla: SlaTargets,
    /// The first sync's window in days (1..=365).
    pub first_sync_days: u32,
    /// Whether disconnecting deletes the stored mail.
    pub delete_mail_on_disconnect: bool,
    /// Where unrouted mail goes.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub default_branch: Option<BranchId>,
    /// The version read.
    pub version: i64,
}

/// The Mail Ops settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailOpsSettingsView {
    /// SLA targets per priority.
    #[schema(value_type = Object)]
    pub sla: SlaTargets,
    /// The first sync's window in days.
    pub first_sync_days: u32,
    /// Whether disconnecting deletes the stored mail.
    pub delete_mail_on_disconnect: bool,
    /// Where unrouted mail goes.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub default_branch: Option<BranchId>,
    /// Version (0: never saved).
    pub version: i64,
}

impl From<&MailOpsSettings> for MailOpsSettingsView {
    fn from(s: &MailOpsSettings) -> Self {
        Self {
            sla: s.sla,
            first_sync_days: s.first_sync_days,
            delete_mail_on_disconnect: s.delete_mail_on_disconnect,
            default_branch: s.default_branch,
            version: s.version,
        }
    }
}

/// The Mail Ops settings.
#[utoipa::path(
    get, path = "/api/v1/mail/ops/settings", tag = "mail-ops",
    responses(
        (status = 200, description = "The settings", body = MailOpsSettingsView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<MailOpsSettingsView>> {
    let ctx = auth.authenticated.context()?;
    let s = state.mail_ops.settings(&ctx).await?;
    Ok(axum::Json(MailOpsSettingsView::from(&s)))
}

/// Saves the Mail Ops settings.
#[utoipa::path(
    put, path = "/api/v1/mail/ops/settings", tag = "mail-ops",
    request_body = MailOpsSettingsBody,
    responses(
        (status = 200, description = "Saved", body = MailOpsSettingsView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<MailOpsSettingsBody>,
) -> ApiResult<axum::Json<MailOpsSettingsView>> {
    let ctx = auth.authenticated.context()?;
    let form = SettingsForm {
        sla: body.sla,
        first_sync_days: body.first_sync_days,
        delete_mail_on_disconnect: body.delete_mail_on_disconnect,
        default_branch: body.default_branch,
        version: body.version,
    };
    let s = state.mail_ops.put_settings(&ctx, &form).await?;
    Ok(axum::Json(MailOpsSettingsView::from(&s)))
}

/// How sync stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    /// Whether sync is on (a mailbox is connected).
    pub enabled: bool,
    /// `active`, `backing_off` or `broken`.
    pub status: Option<String>,
    /// Whether a full sync is under way.
    pub full_sync: bool,
    /// No call to the provider before this.
    pub backoff_until: Option<String>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When a sync last completed.
    pub last_synced_at: Option<String>,
    /// Messages stored so far.
    pub messages_synced: u64,
}

impl From<Option<&SyncState>> for SyncView {
    fn from(s: Option<&SyncState>) -> Self {
        match s {
            Some(s) => Self {
                enabled: true,
                status: Some(s.status.as_str().to_owned()),
                full_sync: s.full_sync,
                backoff_until: s.backoff_until.map(|t| t.to_rfc3339()),
                last_error: s.last_error.clone(),
                last_synced_at: s.last_synced_at.map(|t| t.to_rfc3339()),
                messages_synced: s.messages_synced,
            },
            None => Self {
                enabled: false,
                status: None,
                full_sync: false,
                backoff_until: None,
                last_error: None,
                last_synced_at: None,
                messages_synced: 0,
            },
        }
    }
}

/// The sync status.
#[utoipa::path(
    get, path = "/api/v1/mail/sync", tag = "mail-ops",
    responses(
        (status = 200, description = "The status", body = SyncView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_sync(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<SyncView>> {
    let ctx = auth.authenticated.context()?;
    let s = state.mail_ops.sync_status(&ctx).await?;
    Ok(axum::Json(SyncView::from(s.as_ref())))
}

/// Syncs now, past any backoff.
#[utoipa::path(
    post, path = "/api/v1/mail/sync", tag = "mail-ops",
    responses(
        (status = 200, description = "Synced (see the status)", body = SyncView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No mailbox connected", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Gmail is not configured on this server", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_sync(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<SyncView>> {
    let ctx = auth.authenticated.context()?;
    let done = state.mail_ops.sync_now(&ctx).await?;
    Ok(axum::Json(SyncView::from(done.state.as_ref())))
}
