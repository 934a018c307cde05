//! Campaigns: approval, the confirmed send, batched expansion into the
//! outbox, pause, resume, cancel and progress.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::outreach::{
    Address, Campaign, CampaignProgress, CampaignRecipient, CampaignStatus, Language,
    OutreachChannel, RecipientState, Template, TemplateStatus,
};
use crate::domain::{BranchScope, ConsentChannel, Context, Principal};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BranchId, CampaignId, CampaignRecipientId, MessageId, TemplateId, TenantId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{CandidateQuery, OutboxMessage, Page, PageRequest, UnitOfWork};
use crate::security::token::PlainToken;
use crate::service::guard::authorize_in as authorize;

use super::render::{self, Rendered};
use super::{BUILTIN_VARIABLES, Outreach};

/// A campaign as a caller sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct CampaignForm {
    /// A name for people.
    pub name: String,
    /// The approved template to send.
    pub template_id: TemplateId,
    /// The language to send in (the template's fallback applies).
    pub language: String,
    /// Only clients of this branch; absent for every branch.
    #[serde(default)]
    pub branch_id: Option<BranchId>,
    /// Values of the template's variables other than the per-recipient
    /// ones (`client_name`, `unsubscribe_url`).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// What one [`Outreach::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    /// Campaigns advanced.
    pub campaigns: usize,
    /// Outbox messages written.
    pub queued: usize,
    /// Recipients skipped as suppressed.
    pub suppressed: usize,
    /// Campaigns that finished expanding.
    pub done: usize,
    /// Campaigns whose batch failed this time: rolled back, retried on
    /// the next tick (a `Conflict` means another worker advanced it
    /// first). The runtime logs it when it is not zero.
    pub errors: usize,
}

/// What the audit log keeps of a campaign: never the variable values.
fn audit_view(c: &Campaign) -> serde_json::Value {
    json!({
        "name": c.name,
        "template_id": c.template_id,
        "channel": c.channel.as_str(),
        "language": c.language.as_str(),
        "branch_id": c.branch_id,
        "variables": c.variables.keys().collect::<Vec<_>>(),
        "status": c.status.as_str(),
        "scheduled_at": c.scheduled_at,
        "approved_by": c.approved_by,
        "version": c.version,
    })
}

/// The consents a campaign on `channel` needs (see the module docs).
fn consents_for(channel: OutreachChannel) -> Vec<ConsentChannel> {
    match channel {
        OutreachChannel::Email => vec![ConsentChannel::Marketing, ConsentChannel::Email],
        OutreachChannel::Whatsapp => vec![ConsentChannel::Marketing, ConsentChannel::Whatsapp],
    }
}

impl Outreach {
    fn campaign_resource(ctx: &Context, id: Option<CampaignId>) -> Resource {
        let r = Resource::new(ResourceKind::Campaign, ctx.principal.tenant_id());
        match id {
            Some(id) => r.with_id(id),
            None => r,
        }
    }

    async fn load_campaign(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        id: CampaignId,
    ) -> Result<Campaign> {
        uow.outreach()
            .get_campaign(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("campaign"))
    }

    async fn approved_template(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        id: TemplateId,
    ) -> Result<Template> {
        let template = uow
            .outreach()
            .get_template(tenant, id)
            .await?
            .ok_or_else(|| Error::invalid("template_id", "names no template"))?;
        if template.status != TemplateStatus::Approved {
            return Err(Error::invalid(
                "template_id",
                "names a template that is not approved",
            ));
        }
        Ok(template)
    }

    /// Creates a draft campaign over an approved template. Every variable
    /// the template declares must have a value here or be per-recipient;
    /// the values are checked by rendering once.
    pub async fn create_campaign(&self, ctx: &Context, form: &CampaignForm) -> Result<Campaign> {
        let tenant = ctx.principal.tenant_id();
        let resource = Self::campaign_resource(ctx, None);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let mut errors = FieldErrors::new();
        let name = form.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            errors.push("name", "must be 1 to 200 characters");
        }
        let language = errors.check("language", Language::parse(&form.language));
        errors.into_result()?;
        let Some(language) = language else {
            return Err(Error::internal("a checked form lost a field"));
        };
        // Recipients are branch-scoped like clients.
        match form.branch_id {
            Some(branch) => {
                let known = uow.branches().get(tenant, branch).await?.is_some();
                if !known || !ctx.principal.sees_branch(branch) {
                    return Err(Error::not_found("branch"));
                }
            }
            None => {
                if *ctx.principal.effective_scope() != BranchScope::All {
                    return Err(Error::invalid(
                        "branch_id",
                        "is required for a user who does not see every branch",
                    ));
                }
            }
        }
        let template = Self::approved_template(uow.as_mut(), tenant, form.template_id).await?;
        let mut sample = form.variables.clone();
        for name in BUILTIN_VARIABLES {
            sample.insert(name.to_owned(), format!("{name}-sample"));
        }
        let missing: Vec<&String> = template
            .variables
            .iter()
            .filter(|v| !sample.contains_key(*v))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "variables",
                format!("values are missing for {missing:?}"),
            ));
        }
        render::render(&template, &language, &sample)?;
        let campaign = Campaign {
            id: CampaignId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            name,
            template_id: template.id,
            channel: template.channel,
            language,
            branch_id: form.branch_id,
            variables: form.variables.clone(),
            status: CampaignStatus::Draft,
            scheduled_at: None,
            cursor: None,
            approved_by: None,
            created_by: ctx.principal.user_id(),
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        };
        uow.outreach().insert_campaign(&campaign).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "campaign.created",
                    "campaign",
                    Some(campaign.id.into()),
                )
                .with_change(None, Some(audit_view(&campaign))),
            )
            .await?;
        uow.commit().await?;
        Ok(campaign)
    }

    /// One campaign and its progress.
    pub async fn get_campaign(
        &self,
        ctx: &Context,
        id: CampaignId,
    ) -> Result<(Campaign, CampaignProgress)> {
        let resource = Self::campaign_resource(ctx, Some(id));
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let campaign = Self::load_campaign(uow.as_mut(), ctx.principal.tenant_id(), id).await?;
        let progress = uow
            .outreach()
            .progress(ctx.principal.tenant_id(), id)
            .await?;
        uow.rollback().await?;
        Ok((campaign, progress))
    }

    /// A campaign's progress: recipients by state.
    pub async fn progress(&self, ctx: &Context, id: CampaignId) -> Result<CampaignProgress> {
        Ok(self.get_campaign(ctx, id).await?.1)
    }

    /// The tenant's campaigns.
    pub async fn list_campaigns(&self, ctx: &Context, page: PageRequest) -> Result<Page<Campaign>> {
        let resource = Self::campaign_resource(ctx, None);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow
            .outreach()
            .list_campaigns(ctx.principal.tenant_id(), page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// Moves a campaign from one of `from` to `to` under `action`, with the
    /// audit event `event` (withdrawing pending messages on a cancel).
    // One private step behind seven thin public ones: naming each argument
    // at the call sites reads better than a struct built for one call.
    #[allow(clippy::too_many_arguments)]
    async fn move_campaign(
        &self,
        ctx: &Context,
        id: CampaignId,
        action: Action,
        confirmation: Option<&PlainToken>,
        from: &[CampaignStatus],
        to: CampaignStatus,
        event: &str,
        scheduled_at: Option<DateTime<Utc>>,
    ) -> Result<Campaign> {
        let tenant = ctx.principal.tenant_id();
        let resource = Self::campaign_resource(ctx, Some(id));
        let uow = self.deps.store.begin().await?;
        // Read first: a campaign that is not the caller's is not found
        // before a critical action could ask for a confirmation about it.
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let mut campaign = Self::load_campaign(uow.as_mut(), tenant, id).await?;
        let mut uow = authorize(uow, &self.deps, ctx, action, &resource, confirmation).await?;
        if !from.contains(&campaign.status) {
            return Err(Error::conflict(format!(
                "a campaign that is {} cannot become {}",
                campaign.status.as_str(),
                to.as_str()
            )));
        }
        if matches!(
            to,
            CampaignStatus::Approved | CampaignStatus::Scheduled | CampaignStatus::Sending
        ) {
            // The template may have been archived since.
            Self::approved_template(uow.as_mut(), tenant, campaign.template_id).await?;
        }
        let before = audit_view(&campaign);
        campaign.status = to;
        campaign.updated_at = ctx.now;
        if to == CampaignStatus::Approved {
            campaign.approved_by = ctx.principal.user_id();
        }
        if scheduled_at.is_some() {
            campaign.scheduled_at = scheduled_at;
        }
        let mut withdrawn = 0;
        if to == CampaignStatus::Cancelled {
            withdrawn = uow.outreach().withdraw_pending(tenant, id).await?;
        }
        uow.outreach().update_campaign(&mut campaign).await?;
        let mut after = audit_view(&campaign);
        if to == CampaignStatus::Cancelled {
            after["withdrawn"] = json!(withdrawn);
        }
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, event, "campaign", Some(id.into()))
                    .with_change(Some(before), Some(after)),
            )
            .await?;
        uow.commit().await?;
        Ok(campaign)
    }

    /// Approves a draft campaign (`Action::Approve`).
    pub async fn approve_campaign(&self, ctx: &Context, id: CampaignId) -> Result<Campaign> {
        self.move_campaign(
            ctx,
            id,
            Action::Approve,
            None,
            &[CampaignStatus::Draft],
            CampaignStatus::Approved,
            "campaign.approved",
            None,
        )
        .await
    }

    /// Sends an approved campaign — a critical action (`Action::Send`):
    /// without `confirmation` the answer is `ConfirmationRequired`. With
    /// `at` in the future it is scheduled; otherwise it starts now. The
    /// worker's [`Outreach::tick`] does the expansion.
    pub async fn send_campaign(
        &self,
        ctx: &Context,
        id: CampaignId,
        at: Option<DateTime<Utc>>,
        confirmation: Option<&PlainToken>,
    ) -> Result<Campaign> {
        let at = at.unwrap_or(ctx.now);
        let to = if at > ctx.now {
            CampaignStatus::Scheduled
        } else {
            CampaignStatus::Sending
        };
        self.move_campaign(
            ctx,
            id,
            Action::Send,
            confirmation,
            &[CampaignStatus::Approved],
            to,
            "campaign.sent",
            Some(at),
        )
        .await
    }

    /// Pauses the expansion of a scheduled or sending campaign.
    pub async fn pause_campaign(&self, ctx: &Context, id: CampaignId) -> Result<Campaign> {
        self.move_campaign(
            ctx,
            id,
            Action::Update,
            None,
            &[CampaignStatus::Sending, CampaignStatus::Scheduled],
            CampaignStatus::Paused,
            "campaign.paused",
            None,
        )
        .await
    }

    /// Resumes a paused campaign where it stopped. Resuming needs no new
    /// confirmation: the send was confirmed; the cursor and the unique
    /// recipient rows make sure nobody is written twice.
    pub async fn resume_campaign(&self, ctx: &Context, id: CampaignId) -> Result<Campaign> {
        self.move_campaign(
            ctx,
            id,
            Action::Update,
            None,
            &[CampaignStatus::Paused],
            CampaignStatus::Sending,
            "campaign.resumed",
            None,
        )
        .await
    }

    /// Cancels a campaign that is not done: no more expansion, and every
    /// message still pending in the outbox is withdrawn (failed; its
    /// recipient cancelled). Messages already sent stay sent.
    pub async fn cancel_campaign(&self, ctx: &Context, id: CampaignId) -> Result<Campaign> {
        self.move_campaign(
            ctx,
            id,
            Action::Update,
            None,
            &[
                CampaignStatus::Draft,
                CampaignStatus::Approved,
                CampaignStatus::Scheduled,
                CampaignStatus::Sending,
                CampaignStatus::Paused,
            ],
            CampaignStatus::Cancelled,
            "campaign.cancelled",
            None,
        )
        .await
    }

    /// The worker's step: starts every due scheduled campaign and expands
    /// one batch of each sending one (each batch its own transaction).
    /// Call it in a loop; it does nothing when nothing is due.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport> {
        let active = {
            let mut uow = self.deps.store.begin().await?;
            let active = uow.outreach().active_campaigns(now, 16).await?;
            uow.rollback().await?;
            active
        };
        let mut report = TickReport::default();
        for campaign in active {
            report.campaigns += 1;
            // One campaign's failure (a lost race with another worker, a
            // store hiccup) neither stops the others nor loses anything:
            // its batch rolled back and is retried on the next tick.
            // `advance` reports the error itself to a caller who wants it.
            match self.advance(campaign.tenant_id, campaign.id, now).await {
                Ok(batch) => {
                    report.queued += batch.queued;
                    report.suppressed += batch.suppressed;
                    report.done += batch.done;
                }
                Err(_) => report.errors += 1,
            }
        }
        Ok(report)
    }

    /// Expands one batch of one campaign in one transaction. A stale
    /// campaign (another worker advanced it) is `Conflict` and nothing of
    /// this batch is kept.
    pub async fn advance(
        &self,
        tenant: TenantId,
        id: CampaignId,
        now: DateTime<Utc>,
    ) -> Result<TickReport> {
        let ctx = Context::new(Principal::system(tenant, "outreach"), now);
        let mut report = TickReport::default();
        let mut uow = self.deps.store.begin().await?;
        let mut campaign = Self::load_campaign(uow.as_mut(), tenant, id).await?;
        match campaign.status {
            CampaignStatus::Sending => {}
            CampaignStatus::Scheduled if campaign.scheduled_at.is_none_or(|at| at <= now) => {
                campaign.status = CampaignStatus::Sending;
                uow.audit()
                    .append(NewAuditEvent::new(
                        &ctx,
                        "campaign.started",
                        "campaign",
                        Some(id.into()),
                    ))
                    .await?;
            }
            _ => return Ok(report),
        }
        let template = match Self::approved_template(uow.as_mut(), tenant, campaign.template_id)
            .await
        {
            Ok(t) => t,
            Err(Error::Invalid(_)) => {
                // Archived since it was sent: stop, and say why.
                campaign.status = CampaignStatus::Paused;
                campaign.updated_at = now;
                uow.outreach().update_campaign(&mut campaign).await?;
                uow.audit()
                    .append(
                        NewAuditEvent::new(&ctx, "campaign.paused", "campaign", Some(id.into()))
                            .with_change(None, Some(json!({ "reason": "template_not_approved" }))),
                    )
                    .await?;
                uow.commit().await?;
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        let candidates = uow
            .outreach()
            .candidates(&CandidateQuery {
                tenant_id: tenant,
                branch_id: campaign.branch_id,
                channel: campaign.channel,
                consents: consents_for(campaign.channel),
                after: campaign.cursor,
                limit: self.batch,
            })
            .await?;
        for candidate in &candidates {
            let recipient_id = CampaignRecipientId::generate_at(now, self.deps.random.as_ref());
            let suppressed = uow
                .outreach()
                .is_suppressed(tenant, &candidate.address)
                .await?;
            let mut recipient = CampaignRecipient {
                id: recipient_id,
                tenant_id: tenant,
                campaign_id: id,
                client_id: candidate.client_id,
                address: candidate.address.clone(),
                state: RecipientState::Suppressed,
                message_id: None,
                created_at: now,
            };
            if suppressed {
                if uow.outreach().add_recipient(&recipient).await? {
                    report.suppressed += 1;
                }
                continue;
            }
            let link = self.unsubscribe_link(tenant, id, recipient_id)?;
            let mut values = campaign.variables.clone();
            values.insert("client_name".to_owned(), candidate.name.clone());
            values.insert("unsubscribe_url".to_owned(), link.clone());
            let rendered = render::render(&template, &campaign.language, &values)?;
            let message_id = MessageId::generate_at(now, self.deps.random.as_ref());
            recipient.state = RecipientState::Queued;
            recipient.message_id = Some(message_id);
            if !uow.outreach().add_recipient(&recipient).await? {
                continue; // this campaign already reached this address
            }
            let message = match (rendered, &candidate.address) {
                (Rendered::Email(mail), Address::Email(to)) => OutboxMessage::email(
                    message_id,
                    tenant,
                    to.clone(),
                    mail.subject,
                    mail.text,
                    now,
                )
                .with_html(mail.html)
                // RFC 8058 one-click unsubscribe; the link is ASCII (an
                // https URL with a base64url token).
                .with_header("List-Unsubscribe", format!("<{link}>"))?
                .with_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")?,
                (Rendered::Whatsapp(w), Address::Phone(to)) => OutboxMessage::whatsapp(
                    message_id,
                    tenant,
                    to.clone(),
                    w.provider_template,
                    w.provider_language,
                    w.parameters,
                    now,
                ),
                _ => {
                    return Err(Error::internal(
                        "a candidate's address is not of the campaign's channel",
                    ));
                }
            };
            uow.outbox().enqueue(&message).await?;
            report.queued += 1;
        }
        if let Some(last) = candidates.last() {
            campaign.cursor = Some(last.client_id);
        }
        if candidates.len() < self.batch as usize {
            campaign.status = CampaignStatus::Done;
            report.done = 1;
            uow.audit()
                .append(
                    NewAuditEvent::new(&ctx, "campaign.done", "campaign", Some(id.into()))
                        .with_change(None, Some(json!({ "status": "done" }))),
                )
                .await?;
        }
        campaign.updated_at = now;
        uow.outreach().update_campaign(&mut campaign).await?;
        uow.commit().await?;
        Ok(report)
    }
}
