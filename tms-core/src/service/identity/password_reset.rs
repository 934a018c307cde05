//! Passwords: change (with the current one), reset by a mailed single-use
//! token, and the first password of an invited user.
//!
//! A reset request answers the same `Ok(())` whether the account exists or
//! not, after similar work (one hashing either way). Its 24-hour token is
//! stored as a SHA-256 hash; the plain token leaves only in the mail
//! written to the outbox in the same transaction. Confirming it checks the
//! password policy, uses the token once, and ends every session. A change
//! ends every session but the current one.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Email, TenantSlug, User};
use crate::error::{Error, Result};
use crate::id::TokenId;
use crate::ports::{StoredToken, UnitOfWork};
use crate::security::password::check_password_policy;
use crate::security::secret::Secret;
use crate::security::token::{PlainToken, SingleUseToken, TokenPurpose};

use super::{Authenticated, Caller, Identity};

impl Identity {
    /// Changes the user's own password; ends their other sessions.
    pub async fn change_password(
        &self,
        auth: &Authenticated,
        current: &Secret<String>,
        new: &Secret<String>,
    ) -> Result<()> {
        let stored = auth.user.password_hash.as_deref().unwrap_or_default();
        let valid = !stored.is_empty()
            && self
                .deps
                .hasher
                .verify(current, stored)
                .is_ok_and(|v| v.is_valid());
        if !valid {
            return Err(Error::invalid("current_password", "is not your password"));
        }
        check_password_policy(new, &auth.user.email, &auth.user.name)
            .map_err(|e| rename(e, "new_password"))?;
        let hash = self.deps.hasher.hash(new, self.deps.random.as_ref())?;
        let ctx = auth.own_context();
        let mut uow = self.deps.store.begin().await?;
        let mut user = uow
            .users()
            .get(auth.user.tenant_id, auth.user.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        user.password_hash = Some(hash);
        // A password the user chose themselves: the first-login
        // restriction of a handed-out one ends here.
        let was_required = std::mem::take(&mut user.must_change_password);
        uow.users().update(&mut user).await?;
        let ended = uow
            .sessions()
            .revoke_all(user.tenant_id, user.id, Some(auth.session.id), ctx.now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    &ctx,
                    "auth.password.changed",
                    "user",
                    Some(user.id.as_uuid()),
                )
                .with_change(
                    None,
                    Some(json!({
                        "other_sessions_ended": ended,
                        "first_login_change": was_required,
                    })),
                ),
            )
            .await?;
        uow.commit().await
    }

    /// Mails a reset link if `email` is a user of `tenant`; `Ok` either way.
    pub async fn request_password_reset(
        &self,
        tenant: &str,
        email: &str,
        caller: &Caller,
    ) -> Result<()> {
        let now = self.now();
        // The same cost either way: one hashing, so that timing does not
        // tell who has an account.
        let _ = self.deps.hasher.verify_dummy(&Secret::from(email));
        let mut uow = self.deps.store.begin().await?;
        let tenant = match TenantSlug::parse(tenant) {
            Ok(slug) => uow.tenants().find_by_slug(&slug).await?,
            Err(_) => None,
        };
        // Reset mails share the login throttle of the caller's IP, so the
        // endpoint cannot be used to flood a mailbox.
        let key = tenant.as_ref().map_or(super::login::NO_TENANT, |t| t.id);
        let admitted = self.throttle_ip(&mut *uow, key, caller, now).await?;
        let (Some(tenant), Ok(email), Ok(())) = (tenant, Email::parse(email), &admitted) else {
            uow.commit().await?;
            return admitted;
        };
        let user = uow
            .users()
            .find_by_email(tenant.id, &email)
            .await?
            .filter(User::is_active);
        let ctx = caller.anonymous(tenant.id, now);
        let Some(user) = user else {
            uow.audit()
                .append(
                    NewAuditEvent::new(&ctx, "auth.password.reset_requested", "user", None)
                        .with_change(None, Some(json!({ "email": email, "known": false }))),
                )
                .await?;
            return uow.commit().await;
        };
        let plain = self
            .issue_token(&mut *uow, &user, TokenPurpose::PasswordReset, now)
            .await?;
        let body = format!(
            "Someone asked to reset the password of {} at {}.\n\nTo choose a new password, open this link within 24 hours (it works once):\n{}\n\nIf it was not you, ignore this mail: your password stays as it is.",
            user.email,
            tenant.name,
            self.link("reset-password", &plain)
        );
        self.mail(&mut *uow, &user, "reset your password", body, now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    &ctx,
                    "auth.password.reset_requested",
                    "user",
                    Some(user.id.as_uuid()),
                )
                .with_change(None, Some(json!({ "email": email, "known": true }))),
            )
            .await?;
        uow.commit().await
    }

    /// Sets a new password with a reset token; ends every session.
    pub async fn confirm_password_reset(
        &self,
        tenant: &str,
        token: &str,
        new: &Secret<String>,
        caller: &Caller,
    ) -> Result<()> {
        self.redeem_for_password(tenant, token, new, caller, TokenPurpose::PasswordReset)
            .await
    }

    /// Sets an invited user's first password with their invitation token.
    pub async fn accept_invitation(
        &self,
        tenant: &str,
        token: &str,
        password: &Secret<String>,
        caller: &Caller,
    ) -> Result<()> {
        self.redeem_for_password(tenant, token, password, caller, TokenPurpose::Invitation)
            .await
    }

    async fn redeem_for_password(
        &self,
        tenant: &str,
        token: &str,
        new: &Secret<String>,
        caller: &Caller,
        purpose: TokenPurpose,
    ) -> Result<()> {
        let refused = || Error::invalid("token", "is invalid or has expired");
        let now = self.now();
        let slug = TenantSlug::parse(tenant).map_err(|_| refused())?;
        let presented = PlainToken::from_presented(token);
        // Look the token and user up first, to check the policy against the
        // user's email and name before spending a hashing.
        let mut uow = self.deps.store.begin().await?;
        let tenant = uow
            .tenants()
            .find_by_slug(&slug)
            .await?
            .ok_or_else(refused)?;
        let stored = uow
            .tokens()
            .find_by_hash(tenant.id, purpose, &presented.hash())
            .await?
            .ok_or_else(refused)?;
        let user = uow
            .users()
            .get(tenant.id, stored.user_id)
            .await?
            .filter(User::is_active)
            .ok_or_else(refused)?;
        uow.rollback().await?;
        check_password_policy(new, &user.email, &user.name).map_err(|e| rename(e, "password"))?;
        let hash = self.deps.hasher.hash(new, self.deps.random.as_ref())?;

        let mut uow = self.deps.store.begin().await?;
        let mut stored = uow
            .tokens()
            .find_by_hash(tenant.id, purpose, &presented.hash())
            .await?
            .ok_or_else(refused)?;
        let unchanged = stored.token.clone();
        let redeemed = stored.token.redeem(&presented, now);
        // A used or expired token is refused without a change to save.
        if stored.token != unchanged {
            uow.tokens().update(&stored).await?;
        }
        if let Err(e) = redeemed {
            uow.commit().await?;
            return Err(e);
        }
        let mut user = uow
            .users()
            .get(tenant.id, stored.user_id)
            .await?
            .filter(User::is_active)
            .ok_or_else(refused)?;
        user.password_hash = Some(hash);
        // Chosen by the user through a mailed token: no longer handed out.
        user.must_change_password = false;
        uow.users().update(&mut user).await?;
        let ended = uow
            .sessions()
            .revoke_all(user.tenant_id, user.id, None, now)
            .await?;
        // A lock from forgotten-password guessing ends with the reset.
        let mut lockout = uow.lockouts().account(tenant.id, &user.email).await?;
        if !lockout.is_clear() {
            lockout.record_success();
            uow.lockouts()
                .put_account(tenant.id, &user.email, &lockout)
                .await?;
        }
        let ctx = caller.context(user.principal(), now);
        let action = match purpose {
            TokenPurpose::Invitation => "user.invitation.accepted",
            _ => "auth.password.reset",
        };
        uow.audit()
            .append(
                NewAuditEvent::new(&ctx, action, "user", Some(user.id.as_uuid()))
                    .with_change(None, Some(json!({ "sessions_ended": ended }))),
            )
            .await?;
        uow.commit().await
    }

    /// Stores a fresh token of `purpose` for `user`; the plain token.
    pub(super) async fn issue_token(
        &self,
        uow: &mut dyn UnitOfWork,
        user: &User,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<PlainToken> {
        let random = self.deps.random.as_ref();
        let (plain, record) = SingleUseToken::issue(purpose, now, random);
        uow.tokens()
            .insert(&StoredToken {
                id: TokenId::generate_at(now, random),
                tenant_id: user.tenant_id,
                user_id: user.id,
                token: record,
            })
            .await?;
        Ok(plain)
    }
}

/// Reports a policy failure under the caller's field name.
fn rename(error: Error, field: &'static str) -> Error {
    match error {
        Error::Invalid(errors) => {
            let mut renamed = crate::error::FieldErrors::new();
            renamed.check::<()>(field, Err(Error::Invalid(errors)));
            Error::Invalid(renamed)
        }
        other => other,
    }
}
