//! Administration: routing rules, settings, sync status and "sync now",
//! and attachment download on demand.

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::Context;
use crate::domain::mail_ops::{
    MailOpsSettings, Priority, RoutingRule, SlaTargets, StoredAttachment, SyncState,
};
use crate::error::{Error, Result};
use crate::id::{BranchId, MailMessageId, MailRuleId, SupportTicketId, TenantId, UserId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::UnitOfWork;
use crate::service::guard::authorize_in;
use crate::service::mail_connections::RoutePlan;

use super::MailOps;
use super::sync::TenantSync;

/// A routing rule as a caller sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RuleForm {
    /// Order of evaluation (ascending).
    pub position: i32,
    /// Mailbox address condition.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// Label condition.
    #[serde(default)]
    pub label: Option<String>,
    /// Sender domain condition.
    #[serde(default)]
    pub sender_domain: Option<String>,
    /// Target branch.
    pub branch_id: BranchId,
    /// New tickets' priority.
    #[serde(default)]
    pub priority: Priority,
    /// New tickets' assignee.
    #[serde(default)]
    pub assignee: Option<UserId>,
}

/// The Mail Ops settings as a caller sends them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SettingsForm {
    /// SLA targets per priority.
    pub sla: SlaTargets,
    /// The first sync's window in days (1..=365).
    pub first_sync_days: u32,
    /// Whether disconnecting deletes the stored mail.
    pub delete_mail_on_disconnect: bool,
    /// Where unrouted mail goes.
    #[serde(default)]
    pub default_branch: Option<BranchId>,
    /// The version read (optimistic concurrency).
    pub version: i64,
}

fn rule_view(r: &RoutingRule) -> serde_json::Value {
    json!({
        "position": r.position,
        "mailbox": r.mailbox,
        "label": r.label,
        "sender_domain": r.sender_domain,
        "branch_id": r.branch_id,
        "priority": r.priority.as_str(),
        "assignee": r.assignee,
    })
}

impl MailOps {
    fn admin_resource(kind: ResourceKind, tenant: TenantId) -> Resource {
        Resource::new(kind, tenant)
    }

    async fn authorized(
        &self,
        ctx: &Context,
        kind: ResourceKind,
        action: Action,
    ) -> Result<Box<dyn UnitOfWork>> {
        let resource = Self::admin_resource(kind, ctx.principal.tenant_id());
        let uow = self.deps.store.begin().await?;
        authorize_in(uow, &self.deps, ctx, action, &resource, None).await
    }

    async fn check_rule(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        rule: &mut RoutingRule,
    ) -> Result<()> {
        rule.normalise()?;
        if uow.branches().get(tenant, rule.branch_id).await?.is_none() {
            return Err(Error::invalid("branch_id", "names no branch"));
        }
        if let Some(user) = rule.assignee {
            Self::check_assignee(uow, tenant, rule.branch_id, user, "assignee").await?;
        }
        Ok(())
    }

    /// The tenant's routing rules, in evaluation order.
    pub async fn rules(&self, ctx: &Context) -> Result<Vec<RoutingRule>> {
        let mut uow = self
            .authorized(ctx, ResourceKind::MailRule, Action::Read)
            .await?;
        let rules = uow.mail_ops().rules(ctx.principal.tenant_id()).await?;
        uow.rollback().await?;
        Ok(rules)
    }

    /// Adds a rule. Audited as `mail_rule.created`.
    pub async fn create_rule(&self, ctx: &Context, form: &RuleForm) -> Result<RoutingRule> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self
            .authorized(ctx, ResourceKind::MailRule, Action::Create)
            .await?;
        let mut rule = RoutingRule {
            id: MailRuleId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            position: form.position,
            mailbox: form.mailbox.clone(),
            label: form.label.clone(),
            sender_domain: form.sender_domain.clone(),
            branch_id: form.branch_id,
            priority: form.priority,
            assignee: form.assignee,
            created_at: ctx.now,
            version: 1,
        };
        Self::check_rule(&mut *uow, tenant, &mut rule).await?;
        uow.mail_ops().insert_rule(&rule).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "mail_rule.created",
                    "mail_rule",
                    Some(rule.id.as_uuid()),
                )
                .with_change(None, Some(rule_view(&rule))),
            )
            .await?;
        uow.commit().await?;
        Ok(rule)
    }

    /// Replaces a rule's conditions and targets if `version` is current.
    /// Audited as `mail_rule.updated`.
    pub async fn update_rule(
        &self,
        ctx: &Context,
        id: MailRuleId,
        form: &RuleForm,
        version: i64,
    ) -> Result<RoutingRule> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self
            .authorized(ctx, ResourceKind::MailRule, Action::Update)
            .await?;
        let mut rule = uow
            .mail_ops()
            .get_rule(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("mail routing rule"))?;
        let before = rule_view(&rule);
        rule.position = form.position;
        rule.mailbox = form.mailbox.clone();
        rule.label = form.label.clone();
        rule.sender_domain = form.sender_domain.clone();
        rule.branch_id = form.branch_id;
        rule.priority = form.priority;
        rule.assignee = form.assignee;
        rule.version = version;
        Self::check_rule(&mut *uow, tenant, &mut rule).await?;
        uow.mail_ops().update_rule(&mut rule).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "mail_rule.updated",
                    "mail_rule",
                    Some(rule.id.as_uuid()),
                )
                .with_change(Some(before), Some(rule_view(&rule))),
            )
            .await?;
        uow.commit().await?;
        Ok(rule)
    }

    /// Deletes a rule. Audited as `mail_rule.deleted`.
    pub async fn delete_rule(&self, ctx: &Context, id: MailRuleId) -> Result<()> {
        let tenant = ctx.principal.tenant_id();
        // Rules are configuration, not records: deleting one is an
        // ordinary write (the policy asks no confirmation for drafts).
        let resource = Self::admin_resource(ResourceKind::MailRule, tenant)
            .with_id(id)
            .draft();
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(uow, &self.deps, ctx, Action::Delete, &resource, None).await?;
        let rule = uow
            .mail_ops()
            .get_rule(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("mail routing rule"))?;
        uow.mail_ops().delete_rule(tenant, id).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "mail_rule.deleted", "mail_rule", Some(id.as_uuid()))
                    .with_change(Some(rule_view(&rule)), None),
            )
            .await?;
        uow.commit().await
    }

    /// The tenant's Mail Ops settings.
    pub async fn settings(&self, ctx: &Context) -> Result<MailOpsSettings> {
        let mut uow = self
            .authorized(ctx, ResourceKind::MailOpsSettings, Action::Read)
            .await?;
        let s = uow.mail_ops().settings(ctx.principal.tenant_id()).await?;
        uow.rollback().await?;
        Ok(s)
    }

    /// Saves the settings. Audited as `mail_ops.settings_changed`.
    pub async fn put_settings(
        &self,
        ctx: &Context,
        form: &SettingsForm,
    ) -> Result<MailOpsSettings> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self
            .authorized(ctx, ResourceKind::MailOpsSettings, Action::Update)
            .await?;
        let mut s = uow.mail_ops().settings(tenant).await?;
        let before = settings_view(&s);
        s.sla = form.sla;
        s.first_sync_days = form.first_sync_days;
        s.delete_mail_on_disconnect = form.delete_mail_on_disconnect;
        s.default_branch = form.default_branch;
        s.version = form.version;
        s.validate()?;
        if let Some(branch) = s.default_branch
            && uow.branches().get(tenant, branch).await?.is_none()
        {
            return Err(Error::invalid("default_branch", "names no branch"));
        }
        uow.mail_ops().put_settings(&mut s).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "mail_ops.settings_changed", "mail_ops_settings", None)
                    .with_change(Some(before), Some(settings_view(&s))),
            )
            .await?;
        uow.commit().await?;
        Ok(s)
    }

    /// The tenant's sync state (`None`: sync is off — no mailbox connected).
    pub async fn sync_status(&self, ctx: &Context) -> Result<Option<SyncState>> {
        let mut uow = self
            .authorized(ctx, ResourceKind::MailOpsSettings, Action::Read)
            .await?;
        let s = uow.mail_ops().sync_state(ctx.principal.tenant_id()).await?;
        uow.rollback().await?;
        Ok(s)
    }

    /// Syncs now, past any backoff (a broken sync starts again: the
    /// administrator reconnected or wants to see the error again). Audited
    /// as `mail_ops.sync_requested`. `NotFound` when sync is off.
    pub async fn sync_now(&self, ctx: &Context) -> Result<TenantSync> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self
            .authorized(ctx, ResourceKind::MailOpsSettings, Action::Update)
            .await?;
        let mut state = uow
            .mail_ops()
            .sync_state(tenant)
            .await?
            .ok_or_else(|| Error::not_found("mail sync"))?;
        state.backoff_until = None;
        state.status = crate::domain::mail_ops::SyncStatus::Active;
        if !uow.mail_ops().update_sync_state(&state).await? {
            return Err(Error::not_found("mail sync"));
        }
        uow.audit()
            .append(NewAuditEvent::new(
                ctx,
                "mail_ops.sync_requested",
                "mail_ops_settings",
                None,
            ))
            .await?;
        uow.commit().await?;
        self.sync_tenant(tenant, ctx.now).await
    }

    /// One attachment's bytes, fetched from the provider on demand (never
    /// stored); authorized like reading the ticket. Answers the metadata
    /// and the bytes.
    pub async fn attachment(
        &self,
        ctx: &Context,
        ticket: SupportTicketId,
        message: MailMessageId,
        part_id: &str,
    ) -> Result<(StoredAttachment, Vec<u8>)> {
        let tenant = ctx.principal.tenant_id();
        let (mut uow, t) = self.authorized_ticket(ctx, ticket, Action::Read).await?;
        let not_found = || Error::not_found("attachment");
        let thread = t.thread_id.ok_or_else(not_found)?;
        let messages = uow.mail_ops().messages(tenant, thread).await?;
        uow.rollback().await?;
        let m = messages
            .into_iter()
            .find(|m| m.id == message)
            .ok_or_else(not_found)?;
        let meta = m
            .attachments
            .iter()
            .find(|a| a.part_id == part_id)
            .cloned()
            .ok_or_else(not_found)?;
        let attachment_id = meta.attachment_id.clone().ok_or_else(not_found)?;
        let mailbox = self
            .mailbox
            .as_ref()
            .ok_or_else(|| Error::unavailable("the mailbox (Gmail is not configured)"))?;
        let RoutePlan::Gmail { access_token, .. } = self.connections.route_plan(tenant).await?
        else {
            return Err(Error::conflict("the mailbox is not connected"));
        };
        let bytes = mailbox
            .fetch_attachment(&access_token, &m.provider_message_id, &attachment_id)
            .await?;
        Ok((meta, bytes))
    }
}

fn settings_view(s: &MailOpsSettings) -> serde_json::Value {
    json!({
        "sla": s.sla,
        "first_sync_days": s.first_sync_days,
        "delete_mail_on_disconnect": s.delete_mail_on_disconnect,
        "default_branch": s.default_branch,
    })
}

/// What [`MailConnections::gmail_disconnect`] does to Mail Ops, in its
/// transaction: sync stops, and by the tenant's setting the stored mail
/// goes. Answers what the audit event records.
///
/// [`MailConnections::gmail_disconnect`]: crate::service::mail_connections::MailConnections::gmail_disconnect
pub(crate) async fn on_disconnect(
    uow: &mut dyn UnitOfWork,
    tenant: TenantId,
) -> Result<serde_json::Value> {
    let sync_stopped = uow.mail_ops().delete_sync_state(tenant).await?;
    let settings = uow.mail_ops().settings(tenant).await?;
    let deleted = if settings.delete_mail_on_disconnect {
        Some(uow.mail_ops().delete_mail(tenant).await?)
    } else {
        None
    };
    Ok(json!({"sync_stopped": sync_stopped, "mail_messages_deleted": deleted}))
}
