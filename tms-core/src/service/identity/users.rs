//! User administration: invite, change access, disable and enable, reset
//! another user's second factors, list and read.
//!
//! Every call authorizes first. The caller's right to administer users at
//! all is checked before anything is read (so a Sales user learns nothing,
//! not even whether an id exists); then the target is loaded in the
//! caller's tenant — another tenant's id is `NotFound` — and the policy is
//! asked again with the target's role (an Admin never manages a Tenant
//! Super Admin) and, for a role change, the role granted. Changing access
//! and resetting another's 2FA are critical: the first call answers
//! `ConfirmationRequired` with a token, the repeat with the token acts.
//!
//! Branch scopes beyond one branch (several, or all) are granted by a
//! Tenant Super Admin only (DESIGN.md §3); every branch named must be an
//! open branch of the tenant.

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{BranchScope, Context, Email, Name, Role, TwoFactor, User};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BranchId, UserId};
use crate::policy::{Action, DenyReason, Resource, ResourceClass, ResourceKind, Verb};
use crate::ports::{Page, PageRequest, UnitOfWork};
use crate::security::token::{PlainToken, TokenPurpose};

use super::{Identity, authorize, user_not_found};

/// An invitation as it arrives.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct InviteRequest {
    /// The new user's email (their login).
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their role's name (`admin`, `sales`, …).
    pub role: String,
    /// The branches they see; `None` for every branch.
    pub branches: Option<Vec<BranchId>>,
}

/// A checked invitation.
#[derive(Debug, Clone)]
pub struct Invite {
    /// Login.
    pub email: Email,
    /// Name.
    pub name: Name,
    /// Role.
    pub role: Role,
    /// Branch scope.
    pub scope: BranchScope,
}

impl Invite {
    /// Checks every field at once.
    pub fn parse(request: InviteRequest) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(&request.email));
        let name = errors.check("name", Name::parse(&request.name));
        let role = errors.check("role", Role::parse(&request.role));
        errors.into_result()?;
        match (email, name, role) {
            (Some(email), Some(name), Some(role)) => Ok(Self {
                email,
                name,
                role,
                scope: scope_of(request.branches),
            }),
            _ => Err(Error::internal("invite: a field failed without an error")),
        }
    }
}

/// A change of role and/or branch scope.
#[derive(Debug, Clone, Default)]
pub struct AccessChange {
    /// The new role, if it changes.
    pub role: Option<Role>,
    /// The new scope, if it changes.
    pub scope: Option<BranchScope>,
}

fn scope_of(branches: Option<Vec<BranchId>>) -> BranchScope {
    match branches {
        None => BranchScope::All,
        Some(list) => BranchScope::only(list),
    }
}

fn user_json(user: &User) -> serde_json::Value {
    json!({
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "scope": user.scope,
        "disabled_at": user.disabled_at,
        "two_factor": user.two_factor.is_enabled(),
    })
}

impl Identity {
    /// Invites a user: creates them without a password and mails a 7-day
    /// invitation through the outbox. The new user.
    pub async fn invite_user(&self, ctx: &Context, invite: Invite) -> Result<User> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::User, tenant)
            .with_subject_role(invite.role)
            .granting_role(invite.role);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        self.check_scope(&mut *uow, ctx, &invite.scope).await?;
        let user = User {
            id: UserId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            email: invite.email,
            name: invite.name,
            role: invite.role,
            scope: invite.scope,
            password_hash: None,
            two_factor: TwoFactor::default(),
            must_change_password: false,
            disabled_at: None,
            created_at: ctx.now,
            version: 1,
        };
        uow.users().insert(&user).await?;
        let plain = self
            .issue_token(&mut *uow, &user, TokenPurpose::Invitation, ctx.now)
            .await?;
        let tenant_name = uow
            .tenants()
            .get(tenant)
            .await?
            .map(|t| t.name.as_str().to_owned())
            .unwrap_or_default();
        let body = format!(
            "You are invited to {tenant_name} as {}.\n\nTo choose your password and sign in, open this link within 7 days (it works once):\n{}",
            user.email,
            self.link("accept-invitation", &plain)
        );
        self.mail(&mut *uow, &user, "your invitation", body, ctx.now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "user.invited", "user", Some(user.id.as_uuid()))
                    .with_change(None, Some(user_json(&user))),
            )
            .await?;
        uow.commit().await?;
        Ok(user)
    }

    /// Changes a user's role and/or branch scope. Critical: see the
    /// [module documentation](self).
    pub async fn change_access(
        &self,
        ctx: &Context,
        id: UserId,
        change: AccessChange,
        confirmation: Option<&PlainToken>,
    ) -> Result<User> {
        let (uow, before) = self.load_target(ctx, id).await?;
        let mut resource = Resource::new(ResourceKind::User, before.tenant_id)
            .with_id(id)
            .with_subject_role(before.role);
        if let Some(role) = change.role {
            resource = resource.granting_role(role);
        }
        let mut uow = authorize(
            uow,
            &self.deps,
            ctx,
            Action::ChangeAccess,
            &resource,
            confirmation,
        )
        .await?;
        if ctx.principal.user_id() == Some(id) {
            return Err(Error::conflict("you cannot change your own access"));
        }
        let mut user = before.clone();
        if let Some(role) = change.role {
            user.role = role;
        }
        if let Some(scope) = change.scope {
            self.check_scope(&mut *uow, ctx, &scope).await?;
            user.scope = scope;
        }
        uow.users().update(&mut user).await?;
        // New rights take effect at the next login everywhere.
        uow.sessions()
            .revoke_all(user.tenant_id, user.id, None, ctx.now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "user.access_changed", "user", Some(id.as_uuid()))
                    .with_change(
                        Some(json!({ "role": before.role, "scope": before.scope })),
                        Some(json!({ "role": user.role, "scope": user.scope })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(user)
    }

    /// Disables (ending their sessions) or enables a user. Not oneself.
    pub async fn set_user_disabled(
        &self,
        ctx: &Context,
        id: UserId,
        disabled: bool,
    ) -> Result<User> {
        let (uow, before) = self.load_target(ctx, id).await?;
        let resource = Resource::new(ResourceKind::User, before.tenant_id)
            .with_id(id)
            .with_subject_role(before.role);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        if ctx.principal.user_id() == Some(id) {
            return Err(Error::conflict("you cannot disable or enable yourself"));
        }
        if before.disabled_at.is_some() == disabled {
            return Ok(before);
        }
        let mut user = before.clone();
        user.disabled_at = disabled.then_some(ctx.now);
        uow.users().update(&mut user).await?;
        if disabled {
            uow.sessions()
                .revoke_all(user.tenant_id, user.id, None, ctx.now)
                .await?;
        }
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, action, "user", Some(id.as_uuid())).with_change(
                    Some(json!({ "disabled_at": before.disabled_at })),
                    Some(json!({ "disabled_at": user.disabled_at })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(user)
    }

    /// Removes every second factor of another user (who lost their
    /// device), ending their sessions. Critical.
    pub async fn reset_two_factor(
        &self,
        ctx: &Context,
        id: UserId,
        confirmation: Option<&PlainToken>,
    ) -> Result<User> {
        let (uow, before) = self.load_target(ctx, id).await?;
        let resource = Resource::new(ResourceKind::User, before.tenant_id)
            .with_id(id)
            .with_subject_role(before.role);
        if ctx.principal.user_id() == Some(id) {
            // One's own factors go off with a password or a current code
            // (two_factor::disable_totp), never through the admin path.
            return Err(Error::conflict(
                "turn off your own second factor in your security settings",
            ));
        }
        let mut uow = authorize(
            uow,
            &self.deps,
            ctx,
            Action::ResetTwoFactor,
            &resource,
            confirmation,
        )
        .await?;
        let mut user = before.clone();
        user.two_factor = TwoFactor::default();
        uow.users().update(&mut user).await?;
        uow.sessions()
            .revoke_all(user.tenant_id, user.id, None, ctx.now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "user.two_factor_reset", "user", Some(id.as_uuid()))
                    .with_change(
                        Some(json!({ "totp": before.two_factor.totp_secret.is_some(), "email_otp": before.two_factor.email_otp })),
                        Some(json!({ "totp": false, "email_otp": false })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(user)
    }

    /// One user of the caller's tenant.
    pub async fn get_user(&self, ctx: &Context, id: UserId) -> Result<User> {
        let (uow, user) = self.load_target(ctx, id).await?;
        let resource = Resource::new(ResourceKind::User, user.tenant_id)
            .with_id(id)
            .with_subject_role(user.role);
        let uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        uow.rollback().await?;
        Ok(user)
    }

    /// The users of the caller's tenant.
    pub async fn list_users(&self, ctx: &Context, page: PageRequest) -> Result<Page<User>> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::User, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let users = uow.users().list(tenant, page).await?;
        uow.rollback().await?;
        Ok(users)
    }

    /// Checks that the caller administers users at all, then loads `id` in
    /// the caller's tenant.
    async fn load_target(&self, ctx: &Context, id: UserId) -> Result<(Box<dyn UnitOfWork>, User)> {
        let tenant = ctx.principal.tenant_id();
        let uow = self.deps.store.begin().await?;
        let any_user = Resource::new(ResourceKind::User, tenant);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &any_user, None).await?;
        let user = uow
            .users()
            .get(tenant, id)
            .await?
            .ok_or_else(user_not_found)?;
        Ok((uow, user))
    }

    /// A scope of several or all branches is the super admin's to grant;
    /// every named branch must be open and the tenant's.
    async fn check_scope(
        &self,
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        scope: &BranchScope,
    ) -> Result<()> {
        let role = ctx.principal.role();
        let wide = match scope {
            BranchScope::All => true,
            BranchScope::Only(set) => set.len() > 1,
        };
        if wide && role != Some(Role::TenantSuperAdmin) {
            return Err(Error::Forbidden {
                reason: DenyReason::NotGranted {
                    role,
                    verb: Verb::Update,
                    class: ResourceClass::Administration,
                },
            });
        }
        if let BranchScope::Only(set) = scope {
            for branch in set.iter() {
                let open = uow
                    .branches()
                    .get(ctx.principal.tenant_id(), branch)
                    .await?
                    .is_some_and(|b| b.is_open());
                if !open || !ctx.principal.sees_branch(branch) {
                    return Err(Error::invalid(
                        "branches",
                        "names a branch that is not open",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_reports_every_broken_field_at_once() {
        let bad = Invite::parse(InviteRequest {
            email: "not an email".into(),
            name: "  ".into(),
            role: "root".into(),
            branches: None,
        });
        let Err(Error::Invalid(errors)) = bad else {
            panic!("expected Invalid, got {bad:?}");
        };
        let text = serde_json::to_string(&errors).unwrap_or_default();
        for field in ["email", "name", "role"] {
            assert!(text.contains(&format!("\"field\":\"{field}\"")), "{text}");
        }
    }

    #[test]
    fn no_branch_list_means_every_branch() {
        let invite = Invite::parse(InviteRequest {
            email: "sara@example.com".into(),
            name: "Sara".into(),
            role: "sales".into(),
            branches: None,
        });
        assert!(matches!(
            invite,
            Ok(Invite {
                scope: BranchScope::All,
                ..
            })
        ));
    }
}
