//! The catalogue: categories and packages (tenant-level, see
//! [`crate::domain::Package`]).
//!
//! Creating and editing need Operational C/U (Tenant Super Admin, Admin,
//! Sales); reading needs Operational R (those and Finance). A new package
//! starts unpublished; publishing and unpublishing are audited actions
//! (`package.published`, `package.unpublished`) and repeating one is a
//! no-op. An unpublished package takes no new bookings; bookings already
//! made keep their places.

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Category, Context, Name, Package, PackageDetails};
use crate::error::{Error, Result};
use crate::id::{CategoryId, PackageId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, UnitOfWork};
use crate::service::bookings::authorize;
use crate::service::tenancy::Deps;

/// The catalogue service.
#[derive(Debug, Clone)]
pub struct Catalogue {
    deps: Deps,
}

impl Catalogue {
    /// The service over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// Adds a category.
    pub async fn create_category(
        &self,
        ctx: &Context,
        name: Name,
        description: String,
    ) -> Result<Category> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Category, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let description = crate::domain::parse_description(&description)?;
        let category = Category {
            id: CategoryId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            name,
            description,
            created_at: ctx.now,
            version: 1,
        };
        uow.catalogue().insert_category(&category).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "category.created",
                    "category",
                    Some(category.id.as_uuid()),
                )
                .with_change(None, Some(json!(category))),
            )
            .await?;
        uow.commit().await?;
        Ok(category)
    }

    /// The tenant's categories.
    pub async fn list_categories(
        &self,
        ctx: &Context,
        page: PageRequest,
    ) -> Result<Page<Category>> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Category, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow.catalogue().list_categories(tenant, page).await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// Adds a package, unpublished.
    pub async fn create_package(&self, ctx: &Context, details: PackageDetails) -> Result<Package> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Package, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let details = details.validate()?;
        check_category(&mut *uow, ctx, details.category_id).await?;
        let package = Package {
            id: PackageId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            details,
            booked: 0,
            published: false,
            image_key: None,
            created_at: ctx.now,
            version: 1,
        };
        uow.catalogue().insert_package(&package).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "package.created",
                    "package",
                    Some(package.id.as_uuid()),
                )
                .with_change(None, Some(json!(package))),
            )
            .await?;
        uow.commit().await?;
        Ok(package)
    }

    /// One package.
    pub async fn get_package(&self, ctx: &Context, id: PackageId) -> Result<Package> {
        let (uow, package) = self.load(ctx, id, Action::Read).await?;
        uow.rollback().await?;
        Ok(package)
    }

    /// The tenant's packages; only published ones if `published_only`.
    pub async fn list_packages(
        &self,
        ctx: &Context,
        published_only: bool,
        page: PageRequest,
    ) -> Result<Page<Package>> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Package, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow
            .catalogue()
            .list_packages(tenant, published_only, page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// Replaces a package's details if it is still at `version`. The
    /// capacity may not fall below the places already booked.
    pub async fn update_package(
        &self,
        ctx: &Context,
        id: PackageId,
        version: i64,
        details: PackageDetails,
    ) -> Result<Package> {
        let (mut uow, before) = self.load(ctx, id, Action::Update).await?;
        if before.version != version {
            return Err(Error::conflict(
                "the package was changed by someone else; reload and retry",
            ));
        }
        let details = details.validate()?;
        check_category(&mut *uow, ctx, details.category_id).await?;
        if details.capacity < before.booked {
            return Err(Error::conflict(format!(
                "{} places are booked: the capacity cannot be lower",
                before.booked
            )));
        }
        let mut package = before.clone();
        package.details = details;
        uow.catalogue().update_package(&mut package).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "package.updated", "package", Some(id.as_uuid()))
                    .with_change(Some(json!(before.details)), Some(json!(package.details))),
            )
            .await?;
        uow.commit().await?;
        Ok(package)
    }

    /// Offers a package for booking (no-op if it is already).
    pub async fn publish(&self, ctx: &Context, id: PackageId) -> Result<Package> {
        self.set_published(ctx, id, true).await
    }

    /// Withdraws a package from sale (no-op if it is already).
    pub async fn unpublish(&self, ctx: &Context, id: PackageId) -> Result<Package> {
        self.set_published(ctx, id, false).await
    }

    async fn set_published(
        &self,
        ctx: &Context,
        id: PackageId,
        published: bool,
    ) -> Result<Package> {
        let (mut uow, mut package) = self.load(ctx, id, Action::Update).await?;
        if package.published == published {
            uow.rollback().await?;
            return Ok(package);
        }
        package.published = published;
        uow.catalogue().update_package(&mut package).await?;
        let action = if published {
            "package.published"
        } else {
            "package.unpublished"
        };
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, action, "package", Some(id.as_uuid())).with_change(
                    Some(json!({ "published": !published })),
                    Some(json!({ "published": published })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(package)
    }

    async fn load(
        &self,
        ctx: &Context,
        id: PackageId,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, Package)> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Package, tenant).with_id(id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, action, &resource, None).await?;
        let package = uow
            .catalogue()
            .get_package(tenant, id)
            .await?
            .ok_or(Error::not_found("package"))?;
        Ok((uow, package))
    }
}

/// A package's category must be one of the tenant's.
async fn check_category(
    uow: &mut dyn UnitOfWork,
    ctx: &Context,
    category: Option<CategoryId>,
) -> Result<()> {
    if let Some(id) = category
        && uow
            .catalogue()
            .get_category(ctx.principal.tenant_id(), id)
            .await?
            .is_none()
    {
        return Err(Error::invalid(
            "category_id",
            "is not a category of this tenant",
        ));
    }
    Ok(())
}
