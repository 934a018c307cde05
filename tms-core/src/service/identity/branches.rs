//! Branches: open, rename, close, list. Tenant-level administration
//! (Admins and Tenant Super Admins); a closed branch takes no new records
//! and cannot be renamed or closed again.

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Branch, Context, Name};
use crate::error::{Error, Result};
use crate::id::BranchId;
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, Scope, UnitOfWork};

use super::{Identity, authorize};

impl Identity {
    /// Opens a branch.
    pub async fn create_branch(&self, ctx: &Context, name: Name) -> Result<Branch> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Branch, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let branch = Branch {
            id: BranchId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            name,
            created_at: ctx.now,
            closed_at: None,
            version: 1,
        };
        uow.branches().insert(&branch).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "branch.created", "branch", Some(branch.id.as_uuid()))
                    .in_branch(branch.id)
                    .with_change(None, Some(json!({ "name": branch.name }))),
            )
            .await?;
        uow.commit().await?;
        Ok(branch)
    }

    /// Renames an open branch.
    pub async fn rename_branch(&self, ctx: &Context, id: BranchId, name: Name) -> Result<Branch> {
        let (mut uow, before) = self.load_branch(ctx, id, Action::Update).await?;
        if !before.is_open() {
            return Err(Error::conflict("the branch is closed"));
        }
        let mut branch = before.clone();
        branch.name = name;
        uow.branches().update(&mut branch).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "branch.renamed", "branch", Some(id.as_uuid()))
                    .in_branch(id)
                    .with_change(
                        Some(json!({ "name": before.name })),
                        Some(json!({ "name": branch.name })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(branch)
    }

    /// Closes an open branch (its records stay).
    pub async fn close_branch(&self, ctx: &Context, id: BranchId) -> Result<Branch> {
        let (mut uow, before) = self.load_branch(ctx, id, Action::Update).await?;
        if !before.is_open() {
            return Err(Error::conflict("the branch is already closed"));
        }
        let mut branch = before.clone();
        branch.closed_at = Some(ctx.now);
        uow.branches().update(&mut branch).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "branch.closed", "branch", Some(id.as_uuid()))
                    .in_branch(id)
                    .with_change(
                        Some(json!({ "closed_at": before.closed_at })),
                        Some(json!({ "closed_at": branch.closed_at })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(branch)
    }

    /// The branches the caller sees.
    pub async fn list_branches(&self, ctx: &Context, page: PageRequest) -> Result<Page<Branch>> {
        let resource = Resource::new(ResourceKind::Branch, ctx.principal.tenant_id());
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let branches = uow
            .branches()
            .list(&Scope::of(&ctx.principal), page)
            .await?;
        uow.rollback().await?;
        Ok(branches)
    }

    /// Authorizes `action` on branches, then loads `id` of the caller's
    /// tenant; another tenant's or an unseen branch is `NotFound`.
    async fn load_branch(
        &self,
        ctx: &Context,
        id: BranchId,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, Branch)> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Branch, tenant).with_id(id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, action, &resource, None).await?;
        let branch = uow
            .branches()
            .get(tenant, id)
            .await?
            .filter(|_| ctx.principal.sees_branch(id))
            .ok_or(Error::not_found("branch"))?;
        Ok((uow, branch))
    }
}
