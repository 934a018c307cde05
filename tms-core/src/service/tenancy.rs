//! Tenant provisioning: a new agency with its first branch and its first
//! Tenant Super Admin, in one transaction with its audit trail.
//!
//! Provisioning is the one operation with no tenant principal: the tenant
//! does not exist yet. It is for the platform itself — an operator's command
//! or an embedder's sign-up flow — and must never be exposed to a tenant's
//! users. Its audit events name the system job `provisioning`.

use std::sync::Arc;

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{
    Branch, BranchScope, Context, Email, Name, Principal, Role, Tenant, TenantSlug, TwoFactor, User,
};
use crate::error::{FieldErrors, Result};
use crate::id::{BranchId, TenantId, UserId};
use crate::money::Currency;
use crate::ports::{Clock, OsRandom, Random, Store, SystemClock};
use crate::security::password::{PasswordHasher, check_password_policy};
use crate::security::secret::Secret;

/// What every service needs: the store, time, randomness, the password hasher.
#[derive(Debug, Clone)]
pub struct Deps {
    /// Where everything is kept.
    pub store: Arc<dyn Store>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Random bytes for ids, salts, tokens.
    pub random: Arc<dyn Random>,
    /// Password hashing parameters.
    pub hasher: PasswordHasher,
}

impl Deps {
    /// Production defaults over `store`: the system clock, the OS random
    /// source, OWASP argon2id parameters.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            hasher: PasswordHasher::owasp(),
        }
    }
}

/// A provisioning request as it arrives (a form, a command line): raw text.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewTenantRequest {
    /// The short name used at login, e.g. `al-noor`.
    pub slug: String,
    /// The agency's display name, in any script.
    pub name: String,
    /// ISO-4217 code of the currency the books are kept in.
    pub base_currency: String,
    /// The first branch's name.
    pub first_branch: String,
    /// The owner's email (their login).
    pub owner_email: String,
    /// The owner's name.
    pub owner_name: String,
    /// The owner's password.
    pub owner_password: Secret<String>,
}

/// A checked provisioning request.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Login short name.
    pub slug: TenantSlug,
    /// Display name.
    pub name: Name,
    /// Book-keeping currency.
    pub base_currency: Currency,
    /// First branch.
    pub first_branch: Name,
    /// Owner's login.
    pub owner_email: Email,
    /// Owner's name.
    pub owner_name: Name,
    /// Owner's password, which passed the password policy.
    pub owner_password: Secret<String>,
    /// The password was generated and handed out (printed), not chosen by
    /// the owner: they must change it at first login.
    pub owner_must_change_password: bool,
}

impl NewTenant {
    /// Marks the owner's password as handed out (printed once by a first
    /// run or `tms-server init`): the owner must change it at first login.
    pub fn with_password_change_required(mut self) -> Self {
        self.owner_must_change_password = true;
        self
    }

    /// Checks every field and reports every broken rule at once.
    pub fn parse(request: NewTenantRequest) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let slug = errors.check("slug", TenantSlug::parse(&request.slug));
        let name = errors.check("name", Name::parse(&request.name));
        let currency = errors.check("base_currency", Currency::parse(&request.base_currency));
        let branch = errors.check("first_branch", Name::parse(&request.first_branch));
        let email = errors.check("owner_email", Email::parse(&request.owner_email));
        let owner = errors.check("owner_name", Name::parse(&request.owner_name));
        if let (Some(email), Some(owner)) = (&email, &owner) {
            errors.check(
                "owner_password",
                check_password_policy(&request.owner_password, email, owner),
            );
        }
        errors.into_result()?;
        match (slug, name, currency, branch, email, owner) {
            (
                Some(slug),
                Some(name),
                Some(base_currency),
                Some(first_branch),
                Some(owner_email),
                Some(owner_name),
            ) => Ok(Self {
                slug,
                name,
                base_currency,
                first_branch,
                owner_email,
                owner_name,
                owner_password: request.owner_password,
                owner_must_change_password: false,
            }),
            // Every `None` pushed an error above, so this cannot happen.
            _ => Err(crate::Error::internal(
                "provisioning: a field failed without an error",
            )),
        }
    }
}

/// What provisioning created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The agency.
    pub tenant: Tenant,
    /// Its first branch.
    pub branch: Branch,
    /// Its Tenant Super Admin.
    pub owner: User,
}

/// Creates the tenant, its first branch and its owner, with an audit event
/// for each, in one transaction. A taken slug is `Conflict`.
pub async fn provision_tenant(deps: &Deps, request: NewTenant) -> Result<Provisioned> {
    let now = deps.clock.now();
    let random = deps.random.as_ref();
    // Hash before the transaction: a quarter of a second of argon2 should not
    // hold a database transaction (and SQLite's writer lock) open.
    let password_hash = deps.hasher.hash(&request.owner_password, random)?;
    let tenant = Tenant {
        id: TenantId::generate_at(now, random),
        slug: request.slug,
        name: request.name,
        base_currency: request.base_currency,
        created_at: now,
        version: 1,
    };
    let branch = Branch {
        id: BranchId::generate_at(now, random),
        tenant_id: tenant.id,
        name: request.first_branch,
        created_at: now,
        closed_at: None,
        version: 1,
    };
    let owner = User {
        id: UserId::generate_at(now, random),
        tenant_id: tenant.id,
        email: request.owner_email,
        name: request.owner_name,
        role: Role::TenantSuperAdmin,
        scope: BranchScope::All,
        password_hash: Some(password_hash),
        two_factor: TwoFactor::default(),
        must_change_password: request.owner_must_change_password,
        disabled_at: None,
        created_at: now,
        version: 1,
    };

    let ctx = Context::new(Principal::system(tenant.id, "provisioning"), now);
    let events = vec![
        NewAuditEvent::new(&ctx, "tenant.created", "tenant", Some(tenant.id.as_uuid()))
            .with_change(None, Some(json!({ "slug": tenant.slug, "name": tenant.name, "base_currency": tenant.base_currency }))),
        NewAuditEvent::new(&ctx, "branch.created", "branch", Some(branch.id.as_uuid()))
            .in_branch(branch.id)
            .with_change(None, Some(json!({ "name": branch.name }))),
        NewAuditEvent::new(&ctx, "user.created", "user", Some(owner.id.as_uuid()))
            .with_change(None, Some(json!({ "email": owner.email, "name": owner.name, "role": owner.role, "first_login_change": owner.must_change_password }))),
    ];

    let mut uow = deps.store.begin().await?;
    uow.tenants().insert(&tenant).await?;
    uow.branches().insert(&branch).await?;
    uow.users().insert(&owner).await?;
    uow.audit().append_all(events).await?;
    uow.commit().await?;
    Ok(Provisioned {
        tenant,
        branch,
        owner,
    })
}
