//! Authorization as the first step of every service call, including the
//! confirmation of critical actions.
//!
//! [`authorize`] asks the policy. A plain allow or deny is answered at once
//! (a denial that would reveal another tenant's or branch's record comes back
//! as *not found*). A critical action needs a confirmation:
//!
//! - called **without** a token, the guard issues a [`PendingConfirmation`],
//!   stores it, and fails with [`Error::ConfirmationRequired`] carrying the
//!   plain token. The caller must **commit** the unit of work before
//!   returning that error, or the confirmation is lost (see
//!   [`Error::is_confirmation_required`]);
//! - called **with** the token, the guard redeems it — same actor, action and
//!   resource, within five minutes, once — and marks it used in the same unit
//!   of work as the action itself, so a rolled-back action leaves the token
//!   unused.

use crate::domain::Context;
use crate::error::{Error, Result};
use crate::id::ConfirmationId;
use crate::policy::{self, Action, Decision, PendingConfirmation, Resource};
use crate::ports::{ConfirmationRepo, Random, UnitOfWork};
use crate::security::token::PlainToken;
use crate::service::tenancy::Deps;

/// Authorizes `action` on `resource` for the caller of `ctx`.
///
/// `confirmation` is the token the caller sent back for a critical action
/// (the HTTP layer reads it from the `Tms-Confirm` header).
pub async fn authorize(
    confirmations: &mut dyn ConfirmationRepo,
    ctx: &Context,
    action: Action,
    resource: &Resource,
    confirmation: Option<&PlainToken>,
    random: &dyn Random,
) -> Result<()> {
    match policy::authorize(&ctx.principal, action, resource) {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(reason.into_error(resource.kind)),
        Decision::ConfirmationRequired(_) => match confirmation {
            Some(token) => {
                let tenant = ctx.principal.tenant_id();
                let mut pending = confirmations
                    .find_by_hash(tenant, &token.hash())
                    .await?
                    .ok_or_else(|| Error::invalid("confirmation", "is invalid, used or expired"))?;
                pending.redeem(token, &ctx.principal, action, resource, ctx.now)?;
                confirmations.update(&pending).await
            }
            None => {
                let (token, pending) = PendingConfirmation::issue(
                    ConfirmationId::generate_at(ctx.now, random),
                    &ctx.principal,
                    action,
                    *resource,
                    ctx.now,
                    random,
                )?;
                confirmations.insert(&pending).await?;
                Err(Error::ConfirmationRequired {
                    token,
                    expires_at: pending.expires_at(),
                })
            }
        },
    }
}

/// [`authorize`] as the first step of a service call: runs the guard in
/// `uow` and hands the unit back. A new confirmation is committed before the
/// `ConfirmationRequired` error comes back — otherwise it would be rolled
/// back with the unit and the caller's second call could never redeem it.
pub(crate) async fn authorize_in(
    mut uow: Box<dyn UnitOfWork>,
    deps: &Deps,
    ctx: &Context,
    action: Action,
    resource: &Resource,
    confirmation: Option<&PlainToken>,
) -> Result<Box<dyn UnitOfWork>> {
    match authorize(
        uow.confirmations(),
        ctx,
        action,
        resource,
        confirmation,
        deps.random.as_ref(),
    )
    .await
    {
        Ok(()) => Ok(uow),
        Err(e) if e.is_confirmation_required() => {
            uow.commit().await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BranchScope, Principal, Role};
    use crate::id::{BranchId, TenantId, UserId};
    use crate::policy::ResourceKind;
    use crate::ports::{MockConfirmationRepo, OsRandom};
    use chrono::Utc;
    use std::sync::{Arc, Mutex};

    fn ctx(role: Role, tenant: TenantId) -> Context {
        Context::new(
            Principal::user(UserId::new(), tenant, role, BranchScope::All),
            Utc::now(),
        )
    }

    #[tokio::test]
    async fn allowed_actions_touch_no_confirmation() {
        let tenant = TenantId::new();
        let mut repo = MockConfirmationRepo::new(); // any call would panic
        let booking = Resource::new(ResourceKind::Booking, tenant).in_branch(BranchId::new());
        let result = authorize(
            &mut repo,
            &ctx(Role::Sales, tenant),
            Action::Update,
            &booking,
            None,
            &OsRandom,
        )
        .await;
        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn another_tenants_record_is_not_found_and_a_forbidden_action_is_forbidden() {
        let mut repo = MockConfirmationRepo::new();
        let foreign = Resource::new(ResourceKind::Booking, TenantId::new());
        let ctx = ctx(Role::Admin, TenantId::new());
        let result = authorize(&mut repo, &ctx, Action::Read, &foreign, None, &OsRandom).await;
        assert!(matches!(result, Err(Error::NotFound { what: "booking" })));

        let invoice = Resource::new(ResourceKind::Invoice, ctx.principal.tenant_id());
        let result = authorize(&mut repo, &ctx, Action::Create, &invoice, None, &OsRandom).await;
        assert!(matches!(result, Err(Error::Forbidden { .. })));
    }

    #[tokio::test]
    async fn a_critical_action_asks_then_accepts_its_token_once() {
        let tenant = TenantId::new();
        let ctx = ctx(Role::TenantSuperAdmin, tenant);
        let booking = Resource::new(ResourceKind::Booking, tenant).with_id(uuid::Uuid::now_v7());
        let stored: Arc<Mutex<Option<PendingConfirmation>>> = Arc::default();

        let mut repo = MockConfirmationRepo::new();
        let sink = stored.clone();
        repo.expect_insert().times(1).returning(move |p| {
            *sink.lock().unwrap() = Some(p.clone());
            Ok(())
        });
        let first = authorize(&mut repo, &ctx, Action::Delete, &booking, None, &OsRandom).await;
        let Err(Error::ConfirmationRequired { token, .. }) = first else {
            panic!("expected a confirmation request, got {first:?}");
        };

        let mut repo = MockConfirmationRepo::new();
        let source = stored.clone();
        repo.expect_find_by_hash()
            .returning(move |_, _| Ok(source.lock().unwrap().clone()));
        let sink = stored.clone();
        repo.expect_update().times(1).returning(move |p| {
            *sink.lock().unwrap() = Some(p.clone());
            Ok(())
        });
        let second = authorize(
            &mut repo,
            &ctx,
            Action::Delete,
            &booking,
            Some(&token),
            &OsRandom,
        )
        .await;
        assert!(second.is_ok(), "{second:?}");
        let third = authorize(
            &mut repo,
            &ctx,
            Action::Delete,
            &booking,
            Some(&token),
            &OsRandom,
        )
        .await;
        assert!(
            matches!(third, Err(Error::Invalid(_))),
            "a token works once"
        );
    }

    #[tokio::test]
    async fn an_unknown_token_is_refused() {
        let tenant = TenantId::new();
        let ctx = ctx(Role::TenantSuperAdmin, tenant);
        let booking = Resource::new(ResourceKind::Booking, tenant);
        let mut repo = MockConfirmationRepo::new();
        repo.expect_find_by_hash().returning(|_, _| Ok(None));
        let token = PlainToken::from_presented("made-up");
        let result = authorize(
            &mut repo,
            &ctx,
            Action::Delete,
            &booking,
            Some(&token),
            &OsRandom,
        )
        .await;
        assert!(matches!(result, Err(Error::Invalid(_))));
    }
}
