//! Tickets: list, read, assign, status, priority, notes and replies.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::mail_ops::{
    MailMessage, Priority, SlaState, SupportStatus, SupportTicket, TicketNote,
};
use crate::domain::outreach::{Language, TemplateStatus};
use crate::domain::{Context, Email, Principal};
use crate::error::{Error, Result};
use crate::id::{BranchId, MessageId, SupportTicketId, TemplateId, TenantId, TicketNoteId, UserId};
use crate::policy::{self, Action, Resource, ResourceKind};
use crate::ports::{
    BreachFilter, IdempotencyKey, IdempotencyRecord, OutboxMessage, Page, PageRequest, Scope,
    TicketFilter, UnitOfWork, check_thread_id, claim_or_replay, fingerprint,
};
use crate::service::guard::authorize_in;
use crate::service::outreach::render::{self, Rendered};

use super::MailOps;
use super::sync::reply_subject;

/// The filters of a ticket list, as a caller sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    /// Only this status.
    pub status: Option<SupportStatus>,
    /// Only this assignee.
    pub assignee: Option<UserId>,
    /// Only this branch (within the caller's scope).
    pub branch: Option<BranchId>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only tickets whose SLA is (`true`) or is not (`false`) breached at
    /// the call's `now`, under the tenant's targets.
    pub breached: Option<bool>,
}

/// A ticket with its SLA state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    /// The ticket.
    pub ticket: SupportTicket,
    /// Its SLA state at the call's `now`.
    pub sla: SlaState,
}

/// A ticket with its conversation and notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketDetail {
    /// The ticket and its SLA state.
    pub view: TicketView,
    /// The thread's messages, oldest first (empty once mail was deleted).
    pub messages: Vec<MailMessage>,
    /// Internal notes, oldest first.
    pub notes: Vec<TicketNote>,
}

/// A reply as staff write it: text, or an approved email template.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ReplyForm {
    /// The reply's text (ignored when a template is given).
    #[serde(default)]
    pub text: Option<String>,
    /// An approved email template to render instead.
    #[serde(default)]
    pub template_id: Option<TemplateId>,
    /// The template's language (default: the template's).
    #[serde(default)]
    pub language: Option<String>,
    /// Values of the template's variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// The audit log's view of a ticket: no subject, no address.
fn audit_view(t: &SupportTicket) -> serde_json::Value {
    json!({
        "status": t.status.as_str(),
        "priority": t.priority.as_str(),
        "assignee": t.assignee,
        "branch_id": t.branch_id,
        "version": t.version,
    })
}

const MAX_REPLY_CHARS: usize = 100_000;

impl MailOps {
    fn ticket_resource(tenant: TenantId, t: &SupportTicket) -> Resource {
        Resource::new(ResourceKind::SupportTicket, tenant)
            .in_branch(t.branch_id)
            .with_id(t.id)
    }

    /// Loads the ticket and authorizes `action` on it; another tenant's or
    /// an out-of-scope branch's ticket is `NotFound`.
    pub(super) async fn authorized_ticket(
        &self,
        ctx: &Context,
        id: SupportTicketId,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, SupportTicket)> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let ticket = uow
            .mail_ops()
            .get_ticket(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("support ticket"))?;
        let resource = Self::ticket_resource(tenant, &ticket);
        let uow = authorize_in(uow, &self.deps, ctx, action, &resource, None).await?;
        Ok((uow, ticket))
    }

    async fn sla_of(
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        ticket: SupportTicket,
    ) -> Result<TicketView> {
        let settings = uow.mail_ops().settings(ctx.principal.tenant_id()).await?;
        let sla = ticket.sla(&settings.sla, ctx.now);
        Ok(TicketView { ticket, sla })
    }

    async fn audit_change(
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        action: &str,
        before: &SupportTicket,
        after: &SupportTicket,
    ) -> Result<()> {
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, action, "support_ticket", Some(after.id.as_uuid()))
                    .in_branch(after.branch_id)
                    .with_change(Some(audit_view(before)), Some(audit_view(after))),
            )
            .await?;
        Ok(())
    }

    /// The tail of every ticket edit: when `changed`, stores `ticket` and
    /// audits `action` with its before/after view; then commits and answers
    /// the ticket's SLA view. One place, so no edit can store a change
    /// without its audit event (or audit one it did not store).
    async fn save_change(
        mut uow: Box<dyn UnitOfWork>,
        ctx: &Context,
        action: &str,
        before: &SupportTicket,
        mut ticket: SupportTicket,
        changed: bool,
    ) -> Result<TicketView> {
        if changed {
            uow.mail_ops().update_ticket(&mut ticket).await?;
            Self::audit_change(&mut *uow, ctx, action, before, &ticket).await?;
        }
        let view = Self::sla_of(&mut *uow, ctx, ticket).await?;
        uow.commit().await?;
        Ok(view)
    }

    /// The tickets the caller sees, by `(created_at, id)`, with their SLA
    /// state at `ctx.now`.
    pub async fn list_tickets(
        &self,
        ctx: &Context,
        query: &TicketQuery,
        page: PageRequest,
    ) -> Result<Page<TicketView>> {
        let tenant = ctx.principal.tenant_id();
        let mut resource = Resource::new(ResourceKind::SupportTicket, tenant);
        if let Some(branch) = query.branch {
            resource = resource.in_branch(branch);
        }
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let settings = uow.mail_ops().settings(tenant).await?;
        // The breach filter goes into the query (not over the page it
        // returns), so that a page of breached tickets is a full page.
        let filter = TicketFilter {
            status: query.status,
            assignee: query.assignee,
            branch: query.branch,
            priority: query.priority,
            breached: query.breached.map(|breached| BreachFilter {
                breached,
                targets: settings.sla,
                now: ctx.now,
            }),
        };
        let found = uow
            .mail_ops()
            .list_tickets(&Scope::of(&ctx.principal), &filter, page)
            .await?;
        uow.rollback().await?;
        let items = found
            .items
            .into_iter()
            .map(|ticket| {
                let sla = ticket.sla(&settings.sla, ctx.now);
                TicketView { ticket, sla }
            })
            .collect();
        Ok(Page {
            items,
            next: found.next,
        })
    }

    /// One ticket with its messages and notes.
    pub async fn ticket(&self, ctx: &Context, id: SupportTicketId) -> Result<TicketDetail> {
        let tenant = ctx.principal.tenant_id();
        let (mut uow, ticket) = self.authorized_ticket(ctx, id, Action::Read).await?;
        let messages = match ticket.thread_id {
            Some(thread) => uow.mail_ops().messages(tenant, thread).await?,
            None => Vec::new(),
        };
        let notes = uow.mail_ops().notes(tenant, id).await?;
        let view = Self::sla_of(&mut *uow, ctx, ticket).await?;
        uow.rollback().await?;
        Ok(TicketDetail {
            view,
            messages,
            notes,
        })
    }

    /// Checks that `user` may work on tickets of `branch`: an active user
    /// of the tenant whose role and branch scope allow updating them.
    pub(super) async fn check_assignee(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        branch: BranchId,
        user: UserId,
        field: &'static str,
    ) -> Result<()> {
        let bad = || Error::invalid(field, "must be an active user with access to the branch");
        let found = uow.users().get(tenant, user).await?.ok_or_else(bad)?;
        if !found.is_active() {
            return Err(bad());
        }
        let principal = Principal::user(found.id, tenant, found.role, found.scope.clone());
        let resource = Resource::new(ResourceKind::SupportTicket, tenant).in_branch(branch);
        if !policy::authorize(&principal, Action::Update, &resource).is_allowed() {
            return Err(bad());
        }
        Ok(())
    }

    /// Assigns the ticket (or unassigns it with `None`). Audited as
    /// `support_ticket.assigned`.
    pub async fn assign(
        &self,
        ctx: &Context,
        id: SupportTicketId,
        assignee: Option<UserId>,
    ) -> Result<TicketView> {
        let tenant = ctx.principal.tenant_id();
        let (mut uow, mut ticket) = self.authorized_ticket(ctx, id, Action::Update).await?;
        if let Some(user) = assignee {
            Self::check_assignee(&mut *uow, tenant, ticket.branch_id, user, "assignee").await?;
        }
        let before = ticket.clone();
        ticket.assignee = assignee;
        ticket.updated_at = ctx.now;
        // Every assignment is stored and audited, a repeated one too.
        Self::save_change(uow, ctx, "support_ticket.assigned", &before, ticket, true).await
    }

    /// Moves the ticket to `status` (see the state machine in
    /// [`crate::domain::mail_ops`]); an impossible move is `Conflict`.
    /// Audited as `support_ticket.status_changed`.
    pub async fn set_status(
        &self,
        ctx: &Context,
        id: SupportTicketId,
        status: SupportStatus,
    ) -> Result<TicketView> {
        let (uow, mut ticket) = self.authorized_ticket(ctx, id, Action::Update).await?;
        let before = ticket.clone();
        ticket.move_to(status, ctx.now)?;
        let changed = before.status != ticket.status;
        let action = "support_ticket.status_changed";
        Self::save_change(uow, ctx, action, &before, ticket, changed).await
    }

    /// Changes the ticket's priority (its SLA targets follow). Audited as
    /// `support_ticket.priority_changed`.
    pub async fn set_priority(
        &self,
        ctx: &Context,
        id: SupportTicketId,
        priority: Priority,
    ) -> Result<TicketView> {
        let (uow, mut ticket) = self.authorized_ticket(ctx, id, Action::Update).await?;
        let before = ticket.clone();
        let changed = before.priority != priority;
        if changed {
            ticket.priority = priority;
            ticket.updated_at = ctx.now;
        }
        let action = "support_ticket.priority_changed";
        Self::save_change(uow, ctx, action, &before, ticket, changed).await
    }

    /// Adds an internal note (never mailed). Audited as
    /// `support_ticket.note_added` (without the text).
    pub async fn add_note(
        &self,
        ctx: &Context,
        id: SupportTicketId,
        text: &str,
    ) -> Result<TicketNote> {
        let text = TicketNote::check_text(text)?;
        let (mut uow, ticket) = self.authorized_ticket(ctx, id, Action::Update).await?;
        let note = TicketNote {
            id: TicketNoteId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: ticket.tenant_id,
            ticket_id: ticket.id,
            author: ctx.principal.user_id(),
            text,
            created_at: ctx.now,
        };
        uow.mail_ops().insert_note(&note).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "support_ticket.note_added",
                    "support_ticket",
                    Some(ticket.id.as_uuid()),
                )
                .in_branch(ticket.branch_id)
                .with_change(None, Some(json!({"note_id": note.id}))),
            )
            .await?;
        uow.commit().await?;
        Ok(note)
    }

    /// Answers the customer: writes an outbox email in the same
    /// transaction — to the thread's reply address, `Re:` subject,
    /// `In-Reply-To` and `References` from the thread's newest message —
    /// which the courier sends from the connected Gmail account. Marks the
    /// first response (SLA) and moves an open ticket to pending. Audited as
    /// `support_ticket.replied` (no text, no address). With `key`, a retry
    /// of the same reply answers the first one's outbox message and sends
    /// nothing more; the key with another reply is `Invalid`.
    pub async fn reply(
        &self,
        ctx: &Context,
        id: SupportTicketId,
        form: &ReplyForm,
        key: Option<&IdempotencyKey>,
    ) -> Result<(TicketView, MessageId)> {
        let tenant = ctx.principal.tenant_id();
        let (mut uow, mut ticket) = self.authorized_ticket(ctx, id, Action::Update).await?;
        let message_id = MessageId::generate_at(ctx.now, self.deps.random.as_ref());
        if let Some(key) = key {
            let record = IdempotencyRecord {
                tenant_id: tenant,
                key: key.clone(),
                operation: "support_ticket.reply".into(),
                fingerprint: fingerprint(&json!({"ticket": id, "reply": form}))?,
                resource_id: message_id.as_uuid(),
                created_at: ctx.now,
            };
            if let Some(first) = claim_or_replay(uow.idempotency(), &record).await? {
                let view = Self::sla_of(&mut *uow, ctx, ticket).await?;
                uow.rollback().await?;
                return Ok((view, MessageId::from_uuid(first)));
            }
        }
        let thread = ticket.thread_id.ok_or_else(|| {
            Error::conflict("the ticket's mail was deleted; it cannot be answered")
        })?;
        let messages = uow.mail_ops().messages(tenant, thread).await?;
        let inbound: Vec<&MailMessage> = messages.iter().filter(|m| !m.outbound).collect();
        let to = ticket
            .requester
            .clone()
            .or_else(|| {
                inbound
                    .last()
                    .and_then(|m| m.reply_address().map(str::to_owned))
            })
            .ok_or_else(|| Error::conflict("the ticket has no address to answer"))?;
        let to = Email::parse(&to)
            .map_err(|_| Error::conflict("the customer's address cannot be written to"))?;
        let (text, html) = match form.template_id {
            Some(template_id) => {
                let template = uow
                    .outreach()
                    .get_template(tenant, template_id)
                    .await?
                    .ok_or_else(|| Error::invalid("template_id", "names no template"))?;
                if template.status != TemplateStatus::Approved {
                    return Err(Error::invalid(
                        "template_id",
                        "names a template that is not approved",
                    ));
                }
                let language = match &form.language {
                    Some(l) => Language::parse(l)?,
                    None => template.default_language.clone(),
                };
                match render::render(&template, &language, &form.variables)? {
                    Rendered::Email(e) => (e.text, Some(e.html)),
                    Rendered::Whatsapp(_) => {
                        return Err(Error::invalid("template_id", "is not an email template"));
                    }
                }
            }
            None => {
                let text = form.text.as_deref().map(str::trim).unwrap_or_default();
                if text.is_empty() {
                    return Err(Error::invalid("text", "must not be empty"));
                }
                if text.chars().count() > MAX_REPLY_CHARS {
                    return Err(Error::invalid("text", "is longer than 100000 characters"));
                }
                (text.to_owned(), None)
            }
        };
        let subject = reply_subject(&ticket.subject);
        let mut outbox = OutboxMessage::email(message_id, tenant, to, subject, text, ctx.now);
        if let Some(html) = html {
            outbox = outbox.with_html(html);
        }
        // Threading: the newest message with a Message-ID is the parent;
        // References is the parent's references plus the parent.
        if let Some(parent) = messages
            .iter()
            .rev()
            .find(|m| m.message_id_header.is_some())
            && let Some(parent_id) = &parent.message_id_header
        {
            let mut refs: Vec<String> = parent
                .references
                .iter()
                .rev()
                .take(20)
                .rev()
                .map(|r| format!("<{r}>"))
                .collect();
            refs.push(format!("<{parent_id}>"));
            outbox = outbox.with_header("In-Reply-To", format!("<{parent_id}>"))?;
            let mut references = refs.join(" ");
            // One header line stays under the outbox's limit: drop the
            // oldest references first, always keeping the parent.
            while references.len() > 900 && refs.len() > 1 {
                refs.remove(0);
                references = refs.join(" ");
            }
            outbox = outbox.with_header("References", references)?;
        }
        // Into the mailbox's own thread: sent through the Gmail API, the
        // reply shows in the conversation there too. A provider id the
        // outbox would refuse (never one Gmail gave) is left out: the
        // headers above still thread the reply for the customer.
        if let Some(stored) = uow.mail_ops().get_thread(tenant, thread).await?
            && check_thread_id(&stored.provider_thread_id).is_ok()
        {
            outbox = outbox.with_thread_id(stored.provider_thread_id)?;
        }
        uow.outbox().enqueue(&outbox).await?;
        let before = ticket.clone();
        if ticket.first_response_at.is_none() {
            ticket.first_response_at = Some(ctx.now);
        }
        if ticket.status == SupportStatus::Open {
            ticket.move_to(SupportStatus::Pending, ctx.now)?;
        }
        ticket.updated_at = ctx.now;
        uow.mail_ops().update_ticket(&mut ticket).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "support_ticket.replied",
                    "support_ticket",
                    Some(ticket.id.as_uuid()),
                )
                .in_branch(ticket.branch_id)
                .with_change(
                    Some(audit_view(&before)),
                    Some(json!({
                        "status": ticket.status.as_str(),
                        "outbox_message_id": message_id,
                        "template_id": form.template_id,
                    })),
                ),
            )
            .await?;
        let view = Self::sla_of(&mut *uow, ctx, ticket).await?;
        uow.commit().await?;
        Ok((view, message_id))
    }
}
