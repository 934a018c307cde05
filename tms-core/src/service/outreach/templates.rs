//! Templates, the suppression list and unsubscribing.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::outreach::{
    Address, Language, OutreachChannel, Suppression, SuppressionReason, Template, TemplateStatus,
    TemplateVariant, VariantContent,
};
use crate::domain::{Context, Principal};
use crate::error::{Error, FieldErrors, Result};
use crate::id::TemplateId;
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, UnitOfWork};
use crate::service::guard::authorize_in as authorize;

use super::Outreach;
use super::render::{self, Rendered};

/// One language of a template as a caller sends it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct VariantForm {
    /// BCP-47 tag.
    pub language: String,
    /// The content (its `channel` must be the template's).
    #[serde(flatten)]
    pub content: VariantContent,
}

/// A template as a caller sends it (create, or replace a draft).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TemplateForm {
    /// A name for people.
    pub name: String,
    /// `email` or `whatsapp`.
    pub channel: String,
    /// The variable names the texts may use.
    #[serde(default)]
    pub variables: Vec<String>,
    /// The fallback language; one of the variants'.
    pub default_language: String,
    /// One per language.
    pub variants: Vec<VariantForm>,
}

struct CheckedForm {
    name: String,
    channel: OutreachChannel,
    variables: Vec<String>,
    default_language: Language,
    variants: Vec<TemplateVariant>,
}

impl TemplateForm {
    fn check(&self) -> Result<CheckedForm> {
        let mut errors = FieldErrors::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            errors.push("name", "must be 1 to 200 characters");
        }
        let channel = errors.check("channel", OutreachChannel::parse(&self.channel));
        let default_language =
            errors.check("default_language", Language::parse(&self.default_language));
        let mut variants = Vec::new();
        for (i, v) in self.variants.iter().enumerate() {
            match Language::parse(&v.language) {
                Ok(language) => variants.push(TemplateVariant {
                    language,
                    content: v.content.clone(),
                }),
                Err(_) => errors.push(format!("variants[{i}].language"), "must be a BCP-47 tag"),
            }
        }
        errors.into_result()?;
        let (Some(channel), Some(default_language)) = (channel, default_language) else {
            return Err(Error::internal("a checked form lost a field"));
        };
        render::validate(channel, &self.variables, &default_language, &variants)?;
        Ok(CheckedForm {
            name,
            channel,
            variables: self.variables.clone(),
            default_language,
            variants,
        })
    }
}

/// What the audit log keeps of a template: its text is the agency's own,
/// no personal data and no variable values.
fn audit_view(t: &Template) -> serde_json::Value {
    json!({
        "name": t.name,
        "channel": t.channel.as_str(),
        "status": t.status.as_str(),
        "variables": t.variables,
        "default_language": t.default_language.as_str(),
        "languages": t.variants.iter().map(|v| v.language.as_str()).collect::<Vec<_>>(),
        "approved_by": t.approved_by,
        "version": t.version,
    })
}

impl Outreach {
    fn template_resource(ctx: &Context, id: Option<TemplateId>) -> Resource {
        let r = Resource::new(ResourceKind::Template, ctx.principal.tenant_id());
        match id {
            Some(id) => r.with_id(id),
            None => r,
        }
    }

    async fn load_template(
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        id: TemplateId,
    ) -> Result<Template> {
        uow.outreach()
            .get_template(ctx.principal.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("template"))
    }

    /// Creates a draft template (checked: see [`render::validate`]).
    pub async fn create_template(&self, ctx: &Context, form: &TemplateForm) -> Result<Template> {
        let resource = Self::template_resource(ctx, None);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let checked = form.check()?;
        let template = Template {
            id: TemplateId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: ctx.principal.tenant_id(),
            name: checked.name,
            channel: checked.channel,
            status: TemplateStatus::Draft,
            variables: checked.variables,
            default_language: checked.default_language,
            variants: checked.variants,
            approved_by: None,
            approved_at: None,
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        };
        uow.outreach().insert_template(&template).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "template.created",
                    "template",
                    Some(template.id.into()),
                )
                .with_change(None, Some(audit_view(&template))),
            )
            .await?;
        uow.commit().await?;
        Ok(template)
    }

    /// Replaces a draft's content. An approved or archived template is
    /// never edited (`Conflict`): archive it and create a new draft.
    pub async fn update_template(
        &self,
        ctx: &Context,
        id: TemplateId,
        form: &TemplateForm,
    ) -> Result<Template> {
        let resource = Self::template_resource(ctx, Some(id));
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let mut template = Self::load_template(uow.as_mut(), ctx, id).await?;
        if template.status != TemplateStatus::Draft {
            return Err(Error::conflict(
                "only a draft template is edited; archive this one and create a new draft",
            ));
        }
        let checked = form.check()?;
        if checked.channel != template.channel {
            return Err(Error::invalid(
                "channel",
                "cannot change; create a new template",
            ));
        }
        let before = audit_view(&template);
        template.name = checked.name;
        template.variables = checked.variables;
        template.default_language = checked.default_language;
        template.variants = checked.variants;
        template.updated_at = ctx.now;
        uow.outreach().update_template(&mut template).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "template.updated", "template", Some(id.into()))
                    .with_change(Some(before), Some(audit_view(&template))),
            )
            .await?;
        uow.commit().await?;
        Ok(template)
    }

    async fn move_template(
        &self,
        ctx: &Context,
        id: TemplateId,
        action: Action,
        to: TemplateStatus,
    ) -> Result<Template> {
        let resource = Self::template_resource(ctx, Some(id));
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, action, &resource, None).await?;
        let mut template = Self::load_template(uow.as_mut(), ctx, id).await?;
        let allowed = match to {
            TemplateStatus::Approved => template.status == TemplateStatus::Draft,
            TemplateStatus::Archived => template.status != TemplateStatus::Archived,
            TemplateStatus::Draft => false,
        };
        if !allowed {
            return Err(Error::conflict(format!(
                "a template that is {} cannot become {}",
                template.status.as_str(),
                to.as_str()
            )));
        }
        let before = audit_view(&template);
        template.status = to;
        template.updated_at = ctx.now;
        if to == TemplateStatus::Approved {
            template.approved_by = ctx.principal.user_id();
            template.approved_at = Some(ctx.now);
        }
        uow.outreach().update_template(&mut template).await?;
        let event = match to {
            TemplateStatus::Approved => "template.approved",
            _ => "template.archived",
        };
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, event, "template", Some(id.into()))
                    .with_change(Some(before), Some(audit_view(&template))),
            )
            .await?;
        uow.commit().await?;
        Ok(template)
    }

    /// Approves a draft (`Action::Approve`); the approver is recorded.
    pub async fn approve_template(&self, ctx: &Context, id: TemplateId) -> Result<Template> {
        self.move_template(ctx, id, Action::Approve, TemplateStatus::Approved)
            .await
    }

    /// Archives a template (`Action::Update`): it is never used again.
    pub async fn archive_template(&self, ctx: &Context, id: TemplateId) -> Result<Template> {
        self.move_template(ctx, id, Action::Update, TemplateStatus::Archived)
            .await
    }

    /// One template.
    pub async fn get_template(&self, ctx: &Context, id: TemplateId) -> Result<Template> {
        let resource = Self::template_resource(ctx, Some(id));
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let template = Self::load_template(uow.as_mut(), ctx, id).await?;
        uow.rollback().await?;
        Ok(template)
    }

    /// The tenant's templates.
    pub async fn list_templates(&self, ctx: &Context, page: PageRequest) -> Result<Page<Template>> {
        let resource = Self::template_resource(ctx, None);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow
            .outreach()
            .list_templates(ctx.principal.tenant_id(), page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// Renders an approved template with `values` (a preview; campaigns
    /// render the same way per recipient).
    pub async fn render_template(
        &self,
        ctx: &Context,
        id: TemplateId,
        language: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Rendered> {
        let language = Language::parse(language)?;
        let template = self.get_template(ctx, id).await?;
        render::render(&template, &language, values)
    }

    // ---------------------------------------------------------- suppressions

    fn suppression_resource(ctx: &Context) -> Resource {
        Resource::new(ResourceKind::Campaign, ctx.principal.tenant_id())
    }

    /// Puts an address on the tenant's suppression list (idempotent: an
    /// address already there keeps its first reason); whether it was new.
    pub async fn add_suppression(
        &self,
        ctx: &Context,
        address: &str,
        reason: &str,
    ) -> Result<bool> {
        let resource = Self::suppression_resource(ctx);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let mut errors = FieldErrors::new();
        let address = errors.check("address", Address::parse(address));
        let reason = errors.check("reason", SuppressionReason::parse(reason));
        errors.into_result()?;
        let (Some(address), Some(reason)) = (address, reason) else {
            return Err(Error::internal("a checked form lost a field"));
        };
        let added = uow
            .outreach()
            .suppress(&Suppression {
                tenant_id: ctx.principal.tenant_id(),
                address: address.clone(),
                reason,
                created_at: ctx.now,
            })
            .await?;
        if added {
            uow.audit()
                .append(
                    NewAuditEvent::new(ctx, "suppression.added", "suppression", None).with_change(
                        None,
                        Some(json!({ "kind": address.kind(), "reason": reason.as_str() })),
                    ),
                )
                .await?;
        }
        uow.commit().await?;
        Ok(added)
    }

    /// Takes an address off the list; whether it was there.
    pub async fn remove_suppression(&self, ctx: &Context, address: &str) -> Result<bool> {
        let resource = Self::suppression_resource(ctx);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let address = Address::parse(address)?;
        let removed = uow
            .outreach()
            .unsuppress(ctx.principal.tenant_id(), &address)
            .await?;
        if removed {
            uow.audit()
                .append(
                    NewAuditEvent::new(ctx, "suppression.removed", "suppression", None)
                        .with_change(Some(json!({ "kind": address.kind() })), None),
                )
                .await?;
        }
        uow.commit().await?;
        Ok(removed)
    }

    /// The tenant's suppression list.
    pub async fn list_suppressions(
        &self,
        ctx: &Context,
        page: PageRequest,
    ) -> Result<Page<Suppression>> {
        let resource = Self::suppression_resource(ctx);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow
            .outreach()
            .list_suppressions(ctx.principal.tenant_id(), page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    // ----------------------------------------------------------- unsubscribe

    /// The one-click unsubscribe link of a recipient (for the
    /// `List-Unsubscribe` header).
    pub fn unsubscribe_link(
        &self,
        tenant: crate::id::TenantId,
        campaign: crate::id::CampaignId,
        recipient: crate::id::CampaignRecipientId,
    ) -> Result<String> {
        let token = super::unsubscribe::token(&self.keyring, tenant, campaign, recipient)?;
        Ok(self.unsubscribe_url(&token))
    }

    /// Whether `token` is a genuine unsubscribe token of a recipient that
    /// exists (for the confirmation page, which changes nothing). A forged
    /// or unknown token is `NotFound`.
    pub async fn check_unsubscribe(&self, token: &str) -> Result<()> {
        let (tenant, campaign, recipient) = super::unsubscribe::verify(&self.keyring, token)
            .ok_or_else(|| Error::not_found("unsubscribe link"))?;
        let mut uow = self.deps.store.begin().await?;
        let found = uow
            .outreach()
            .get_recipient(tenant, campaign, recipient)
            .await?;
        uow.rollback().await?;
        found
            .map(drop)
            .ok_or_else(|| Error::not_found("unsubscribe link"))
    }

    /// One-click unsubscribe (RFC 8058): puts the recipient's address on
    /// its tenant's suppression list. Idempotent; a forged or unknown token
    /// is `NotFound`. No session: the signed token is the authority.
    pub async fn unsubscribe(&self, token: &str) -> Result<()> {
        let (tenant, campaign, recipient) = super::unsubscribe::verify(&self.keyring, token)
            .ok_or_else(|| Error::not_found("unsubscribe link"))?;
        let now = self.deps.clock.now();
        let ctx = Context::new(Principal::system(tenant, "unsubscribe"), now);
        let mut uow = self.deps.store.begin().await?;
        let found = uow
            .outreach()
            .get_recipient(tenant, campaign, recipient)
            .await?
            .ok_or_else(|| Error::not_found("unsubscribe link"))?;
        let added = uow
            .outreach()
            .suppress(&Suppression {
                tenant_id: tenant,
                address: found.address.clone(),
                reason: SuppressionReason::Unsubscribed,
                created_at: now,
            })
            .await?;
        if added {
            uow.audit()
                .append(
                    NewAuditEvent::new(&ctx, "suppression.added", "suppression", None).with_change(
                        None,
                        Some(json!({
                            "kind": found.address.kind(),
                            "reason": "unsubscribed",
                            "campaign_id": campaign,
                            "recipient_id": recipient,
                        })),
                    ),
                )
                .await?;
        }
        uow.commit().await
    }
}
