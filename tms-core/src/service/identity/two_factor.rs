//! Second factors, self-service: TOTP with recovery codes, and codes by
//! email.
//!
//! TOTP enrolment is two steps. [`Identity::start_totp`] makes a secret,
//! seals it with the key ring (bound to the user's row and the field
//! `totp_secret`), keeps it as *pending* and returns the `otpauth://` URI.
//! [`Identity::confirm_totp`] checks a first code against it, makes it the
//! active secret and returns ten recovery codes — the only time they are
//! shown; the store keeps their hashes. Turning a factor off needs the
//! password (or, for TOTP, a current code).

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::User;
use crate::error::{Error, Result};
use crate::security::secret::Secret;
use crate::security::totp::{self, RecoveryCode, RecoveryCodes, TotpSecret};

use super::{Authenticated, Identity, totp_seal};

/// Proof that the person at the keyboard is the account's owner.
#[derive(Debug, Clone)]
pub enum Reauth {
    /// The current password.
    Password(Secret<String>),
    /// A current TOTP code.
    TotpCode(Secret<String>),
}

impl Identity {
    /// Starts (or restarts) TOTP enrolment; the `otpauth://` URI to show as
    /// a QR code. Refused while a TOTP is active (disable it first).
    pub async fn start_totp(&self, auth: &Authenticated) -> Result<Secret<String>> {
        let mut uow = self.deps.store.begin().await?;
        let mut user = self.own_user(&mut *uow, auth).await?;
        if user.two_factor.totp_secret.is_some() {
            return Err(Error::conflict("an authenticator app is already set up"));
        }
        let enrolment = totp::enrol(&self.issuer, user.email.as_str(), self.deps.random.as_ref())?;
        let sealed = self.keyring.seal(
            enrolment.secret.expose_bytes(),
            &totp_seal(&user),
            self.deps.random.as_ref(),
        )?;
        user.two_factor.totp_pending = Some(sealed);
        uow.users().update(&mut user).await?;
        let ctx = auth.own_context();
        uow.audit()
            .append(NewAuditEvent::new(
                &ctx,
                "auth.totp.enrolment_started",
                "user",
                Some(user.id.as_uuid()),
            ))
            .await?;
        uow.commit().await?;
        Ok(enrolment.uri)
    }

    /// Confirms enrolment with a first code; the recovery codes, shown once.
    pub async fn confirm_totp(
        &self,
        auth: &Authenticated,
        code: &str,
    ) -> Result<Vec<RecoveryCode>> {
        let now = auth.now;
        let mut uow = self.deps.store.begin().await?;
        let mut user = self.own_user(&mut *uow, auth).await?;
        let pending = user
            .two_factor
            .totp_pending
            .clone()
            .ok_or_else(|| Error::conflict("no authenticator enrolment is in progress"))?;
        let secret = self.open_totp(&user, &pending)?;
        let step = secret.verify(code, now, None)?;
        let (plain, codes) = RecoveryCodes::generate(self.deps.random.as_ref());
        user.two_factor.totp_secret = Some(pending);
        user.two_factor.totp_pending = None;
        user.two_factor.totp_last_step = Some(step);
        user.two_factor.recovery_codes = codes;
        uow.users().update(&mut user).await?;
        let ctx = auth.own_context();
        uow.audit()
            .append(
                NewAuditEvent::new(&ctx, "auth.totp.enabled", "user", Some(user.id.as_uuid()))
                    .with_change(
                        Some(json!({ "totp": false })),
                        Some(json!({ "totp": true })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(plain)
    }

    /// Turns the user's TOTP off (and drops the recovery codes).
    pub async fn disable_totp(&self, auth: &Authenticated, proof: &Reauth) -> Result<()> {
        let now = auth.now;
        let mut uow = self.deps.store.begin().await?;
        let mut user = self.own_user(&mut *uow, auth).await?;
        let sealed = user
            .two_factor
            .totp_secret
            .clone()
            .ok_or_else(|| Error::conflict("no authenticator app is set up"))?;
        match proof {
            Reauth::Password(password) => self.check_password(&user, password)?,
            Reauth::TotpCode(code) => {
                let secret = self.open_totp(&user, &sealed)?;
                secret.verify(code.expose(), now, user.two_factor.totp_last_step)?;
            }
        }
        user.two_factor.totp_secret = None;
        user.two_factor.totp_pending = None;
        user.two_factor.totp_last_step = None;
        user.two_factor.recovery_codes = RecoveryCodes::default();
        self.keep_required_factor(&mut *uow, &user).await?;
        uow.users().update(&mut user).await?;
        let ctx = auth.own_context();
        uow.audit()
            .append(
                NewAuditEvent::new(&ctx, "auth.totp.disabled", "user", Some(user.id.as_uuid()))
                    .with_change(
                        Some(json!({ "totp": true })),
                        Some(json!({ "totp": false })),
                    ),
            )
            .await?;
        uow.commit().await
    }

    /// Replaces the recovery codes (all used, or seen by someone else);
    /// needs a current TOTP code, which is then spent. The new codes, shown
    /// once.
    pub async fn regenerate_recovery_codes(
        &self,
        auth: &Authenticated,
        code: &str,
    ) -> Result<Vec<RecoveryCode>> {
        let mut uow = self.deps.store.begin().await?;
        let mut user = self.own_user(&mut *uow, auth).await?;
        let sealed = user
            .two_factor
            .totp_secret
            .clone()
            .ok_or_else(|| Error::conflict("no authenticator app is set up"))?;
        let secret = self.open_totp(&user, &sealed)?;
        let step = secret.verify(code, auth.now, user.two_factor.totp_last_step)?;
        let (plain, codes) = RecoveryCodes::generate(self.deps.random.as_ref());
        user.two_factor.totp_last_step = Some(step);
        user.two_factor.recovery_codes = codes;
        uow.users().update(&mut user).await?;
        let ctx = auth.own_context();
        uow.audit()
            .append(NewAuditEvent::new(
                &ctx,
                "auth.recovery_codes.regenerated",
                "user",
                Some(user.id.as_uuid()),
            ))
            .await?;
        uow.commit().await?;
        Ok(plain)
    }

    /// Turns codes by email on or off; needs the password.
    pub async fn set_email_otp(
        &self,
        auth: &Authenticated,
        password: &Secret<String>,
        enabled: bool,
    ) -> Result<()> {
        let mut uow = self.deps.store.begin().await?;
        let mut user = self.own_user(&mut *uow, auth).await?;
        self.check_password(&user, password)?;
        if user.two_factor.email_otp == enabled {
            return Ok(());
        }
        user.two_factor.email_otp = enabled;
        self.keep_required_factor(&mut *uow, &user).await?;
        uow.users().update(&mut user).await?;
        let ctx = auth.own_context();
        let action = if enabled {
            "auth.email_otp.enabled"
        } else {
            "auth.email_otp.disabled"
        };
        uow.audit()
            .append(
                NewAuditEvent::new(&ctx, action, "user", Some(user.id.as_uuid())).with_change(
                    Some(json!({ "email_otp": !enabled })),
                    Some(json!({ "email_otp": enabled })),
                ),
            )
            .await?;
        uow.commit().await
    }

    /// `Conflict` when `user` (as about to be saved) would have no second
    /// factor although their tenant requires one for their role.
    async fn keep_required_factor(
        &self,
        uow: &mut dyn crate::ports::UnitOfWork,
        user: &User,
    ) -> Result<()> {
        if !user.role.is_admin() || user.two_factor.is_enabled() {
            return Ok(());
        }
        if uow
            .settings()
            .get(user.tenant_id)
            .await?
            .require_two_factor_for_admins
        {
            return Err(Error::conflict(
                "your agency requires a second factor for your role: set up another one first",
            ));
        }
        Ok(())
    }

    /// The signed-in user as stored now. Second factors wait until a
    /// handed-out password was changed: that comes first.
    async fn own_user(
        &self,
        uow: &mut dyn crate::ports::UnitOfWork,
        auth: &Authenticated,
    ) -> Result<User> {
        auth.refuse_until_password_changed()?;
        uow.users()
            .get(auth.user.tenant_id, auth.user.id)
            .await?
            .filter(User::is_active)
            .ok_or(Error::Unauthenticated)
    }

    fn open_totp(
        &self,
        user: &User,
        sealed: &crate::security::keyring::Sealed,
    ) -> Result<TotpSecret> {
        let bytes = self.keyring.open(sealed, &totp_seal(user))?;
        TotpSecret::from_bytes(bytes.expose())
    }

    /// `Invalid` unless `password` is the user's.
    fn check_password(&self, user: &User, password: &Secret<String>) -> Result<()> {
        let ok = user.password_hash.as_deref().is_some_and(|stored| {
            self.deps
                .hasher
                .verify(password, stored)
                .is_ok_and(|v| v.is_valid())
        });
        if ok {
            Ok(())
        } else {
            Err(Error::invalid("password", "is not your password"))
        }
    }
}
