//! Login: tenant, email and password (and a second factor when needed) in,
//! a session and its JWT out.
//!
//! The order is fixed (DESIGN.md §4):
//!
//! 1. the per-IP throttle ([`Error::RateLimited`]), persisted;
//! 2. the account lock ([`Error::Locked`]), checked before any hashing;
//! 3. the password: a real verification for a known user with a password,
//!    [`PasswordHasher::verify_dummy`] otherwise — an unknown tenant, an
//!    unknown user, a disabled account and a wrong password all cost one
//!    hashing and all fail with the same [`Error::Unauthenticated`];
//! 4. the second factor, when the user has one: without `otp` the call
//!    answers [`LoginOutcome::SecondFactorRequired`] (and mails an email
//!    OTP if that method is on); the same request repeated with `otp`
//!    completes it. `otp` is a TOTP code (never twice the same step), an
//!    emailed code (5 tries, 10 minutes) or a recovery code (once each).
//!
//! Failures are counted per (tenant, email), known or not, and committed
//! with their audit event although the call fails. Success resets the
//! count and re-hashes a legacy bcrypt or outdated argon2 hash. An unknown
//! tenant has no audit log to write to: its attempts are only throttled.
//!
//! [`PasswordHasher::verify_dummy`]: crate::security::password::PasswordHasher::verify_dummy

use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Email, Session, TenantSlug, User};
use crate::error::{Error, Result};
use crate::id::{SessionId, TenantId, TokenId};
use crate::ports::{StoredToken, UnitOfWork};
use crate::security::password::Verification;
use crate::security::secret::Secret;
use crate::security::token::{PlainToken, SingleUseToken, TokenPurpose};

use super::{Caller, Identity, totp_seal};

/// A login form as it arrives.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LoginRequest {
    /// The tenant's slug.
    pub tenant: String,
    /// The login email.
    pub email: String,
    /// The password.
    pub password: Secret<String>,
    /// A second-factor code: TOTP, emailed code or recovery code.
    #[serde(default)]
    pub otp: Option<Secret<String>>,
}

/// Which second factors the user may answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SecondFactors {
    /// A code from the authenticator app (or a recovery code).
    pub totp: bool,
    /// The code just mailed.
    pub email: bool,
}

/// A new session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session row.
    pub session: Session,
    /// The signed session JWT (cookie or bearer token).
    pub token: Secret<String>,
    /// Who signed in.
    pub user: User,
}

/// What a correct password leads to.
#[derive(Debug, Clone)]
#[must_use]
pub enum LoginOutcome {
    /// Signed in.
    Session(SignedIn),
    /// Repeat the request with `otp`.
    SecondFactorRequired(SecondFactors),
    /// Signed in with a restricted session: the tenant requires 2FA for
    /// this role and the user has none. Only self-service calls (enrol,
    /// password, logout) accept it.
    TwoFactorEnrolmentRequired(SignedIn),
    /// Signed in with a restricted session: the password was handed out
    /// (first run, `tms-server init`) and must be changed before anything
    /// else; only the password change, `me`, the session list and logout
    /// accept it. Comes before [`LoginOutcome::TwoFactorEnrolmentRequired`].
    PasswordChangeRequired(SignedIn),
}

/// The throttle key of an unknown tenant and of callers without an IP.
pub(super) const NO_TENANT: TenantId = TenantId::from_uuid(uuid::Uuid::nil());
const NO_IP: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// What the first transaction found.
struct Found {
    tenant: TenantId,
    email: Email,
    user: Option<User>,
    require_admin_2fa: bool,
    absolute_hours: u32,
}

impl Identity {
    /// Logs in; see the [module documentation](self).
    pub async fn login(&self, request: LoginRequest, caller: &Caller) -> Result<LoginOutcome> {
        let now = self.now();
        let found = self.admit(&request, caller, now).await?;
        let Some(found) = found else {
            // Unknown tenant or a malformed name: same cost, same answer.
            let _ = self.deps.hasher.verify_dummy(&request.password);
            return Err(Error::Unauthenticated);
        };
        // 3. The password, outside any transaction.
        let verification = match found.user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(stored) => match self.deps.hasher.verify(&request.password, stored) {
                Ok(v) => v,
                // A corrupt stored hash says nothing about the password.
                Err(_) => Verification::Invalid,
            },
            None => self.deps.hasher.verify_dummy(&request.password),
        };
        let user = match (found.user.clone(), verification.is_valid()) {
            (Some(user), true) if user.is_active() => user,
            (user, _) => {
                let reason = match user {
                    Some(u) if verification.is_valid() && !u.is_active() => "disabled",
                    _ => "bad_credentials",
                };
                return self.fail(&found, caller, now, reason).await;
            }
        };
        self.complete(
            found,
            user,
            verification,
            request.otp,
            request.password,
            caller,
            now,
        )
        .await
    }

    /// Steps 1 and 2: the throttle and the lock, committed either way.
    /// `None` when the tenant or the email cannot exist.
    async fn admit(
        &self,
        request: &LoginRequest,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Result<Option<Found>> {
        let mut uow = self.deps.store.begin().await?;
        let tenant = match TenantSlug::parse(&request.tenant) {
            Ok(slug) => uow.tenants().find_by_slug(&slug).await?,
            Err(_) => None,
        };
        let key = tenant.as_ref().map_or(NO_TENANT, |t| t.id);
        let admitted = self.throttle_ip(&mut *uow, key, caller, now).await?;
        let (Some(tenant), Ok(email)) = (tenant, Email::parse(&request.email)) else {
            uow.commit().await?;
            admitted?;
            return Ok(None);
        };
        let ctx = caller.anonymous(tenant.id, now);
        if let Err(e) = admitted {
            uow.audit()
                .append(
                    NewAuditEvent::new(&ctx, "auth.login.throttled", "user", None)
                        .with_change(None, Some(json!({ "email": email }))),
                )
                .await?;
            uow.commit().await?;
            return Err(e);
        }
        let lockout = uow.lockouts().account(tenant.id, &email).await?;
        if let Err(e) = lockout.check(now) {
            uow.audit()
                .append(
                    NewAuditEvent::new(&ctx, "auth.login.locked", "user", None).with_change(
                        None,
                        Some(json!({ "email": email, "locked_until": lockout.locked_until })),
                    ),
                )
                .await?;
            uow.commit().await?;
            return Err(e);
        }
        let user = uow.users().find_by_email(tenant.id, &email).await?;
        let settings = uow.settings().get(tenant.id).await?;
        uow.commit().await?;
        Ok(Some(Found {
            tenant: tenant.id,
            email,
            user,
            require_admin_2fa: settings.require_two_factor_for_admins,
            absolute_hours: settings.session_absolute_hours,
        }))
    }

    /// Records a failed attempt (and the lock it may start), commits, and
    /// answers `Unauthenticated`.
    async fn fail<T>(
        &self,
        found: &Found,
        caller: &Caller,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<T> {
        let mut uow = self.deps.store.begin().await?;
        let mut lockout = uow.lockouts().account(found.tenant, &found.email).await?;
        let locked_until = lockout.record_failure(now, &self.lockout);
        uow.lockouts()
            .put_account(found.tenant, &found.email, &lockout)
            .await?;
        let ctx = caller.anonymous(found.tenant, now);
        uow.audit()
            .append(
                NewAuditEvent::new(
                    &ctx,
                    "auth.login.failed",
                    "user",
                    found.user.as_ref().map(|u| u.id.as_uuid()),
                )
                .with_change(
                    None,
                    Some(json!({
                        "email": found.email,
                        "reason": reason,
                        "locked_until": locked_until,
                    })),
                ),
            )
            .await?;
        uow.commit().await?;
        Err(Error::Unauthenticated)
    }

    /// Step 4 and the session, for a user whose password was right.
    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        found: Found,
        mut user: User,
        verification: Verification,
        otp: Option<Secret<String>>,
        password: Secret<String>,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome> {
        let rehash = if verification.needs_rehash() {
            Some(
                self.deps
                    .hasher
                    .hash(&password, self.deps.random.as_ref())?,
            )
        } else {
            None
        };
        let methods = SecondFactors {
            totp: user.two_factor.totp_secret.is_some(),
            email: user.two_factor.email_otp,
        };
        let mut uow = self.deps.store.begin().await?;
        // Reload under this transaction: the version must be current.
        user = uow
            .users()
            .get(found.tenant, user.id)
            .await?
            .filter(User::is_active)
            .ok_or(Error::Unauthenticated)?;
        let mut second_factor = None;
        if methods.totp || methods.email {
            let Some(code) = otp else {
                if methods.email {
                    self.send_email_otp(&mut *uow, &user, now).await?;
                }
                let ctx = caller.context(user.principal(), now);
                uow.audit()
                    .append(NewAuditEvent::new(
                        &ctx,
                        "auth.login.second_factor_required",
                        "user",
                        Some(user.id.as_uuid()),
                    ))
                    .await?;
                uow.commit().await?;
                return Ok(LoginOutcome::SecondFactorRequired(methods));
            };
            match self
                .check_second_factor(&mut *uow, &mut user, &code, now)
                .await?
            {
                Some(method) => second_factor = Some(method),
                None => {
                    // The wrong-code try counts on the OTP record too.
                    uow.commit().await?;
                    return self.fail(&found, caller, now, "bad_second_factor").await;
                }
            }
        }
        let restricted =
            found.require_admin_2fa && user.role.is_admin() && !user.two_factor.is_enabled();
        if let Some(hash) = rehash {
            user.password_hash = Some(hash);
        }
        if rehash_or_2fa_changed(verification, second_factor) {
            uow.users().update(&mut user).await?;
        }
        let mut lockout = uow.lockouts().account(found.tenant, &found.email).await?;
        if !lockout.is_clear() {
            lockout.record_success();
            uow.lockouts()
                .put_account(found.tenant, &found.email, &lockout)
                .await?;
        }
        let session = Session {
            id: SessionId::generate_at(now, self.deps.random.as_ref()),
            tenant_id: user.tenant_id,
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now
                .checked_add_signed(chrono::Duration::hours(i64::from(
                    found.absolute_hours.max(1),
                )))
                .ok_or_else(|| Error::internal("session end is out of range"))?,
            revoked_at: None,
            ip: caller.ip.map(|ip| ip.to_string()),
            user_agent: caller.user_agent.as_ref().map(|a| {
                a.chars()
                    .take(crate::domain::Context::MAX_USER_AGENT)
                    .collect()
            }),
        };
        uow.sessions().insert(&session).await?;
        let ctx = caller.context(user.principal(), now);
        uow.audit()
            .append(
                NewAuditEvent::new(
                    &ctx,
                    "auth.login.succeeded",
                    "user",
                    Some(user.id.as_uuid()),
                )
                .with_change(
                    None,
                    Some(json!({
                        "session_id": session.id,
                        "second_factor": second_factor,
                        "password_rehashed": verification.needs_rehash(),
                        "restricted": restricted,
                        "first_login_change": user.must_change_password,
                    })),
                ),
            )
            .await?;
        let token = self.jwt.issue_for(&session, now)?;
        uow.commit().await?;
        let signed_in = SignedIn {
            session,
            token,
            user,
        };
        Ok(if signed_in.user.must_change_password {
            LoginOutcome::PasswordChangeRequired(signed_in)
        } else if restricted {
            LoginOutcome::TwoFactorEnrolmentRequired(signed_in)
        } else {
            LoginOutcome::Session(signed_in)
        })
    }

    /// Counts an attempt from the caller's IP against the throttle of
    /// `tenant` (unknown tenants share one key) and saves the state. The
    /// outer `Result` is the store's; the inner one is the throttle's answer,
    /// for the caller to return once the unit of work is committed.
    pub(super) async fn throttle_ip(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Result<Result<()>> {
        let ip = caller.ip.unwrap_or(NO_IP);
        let mut throttle = uow.lockouts().ip(tenant, ip).await?;
        let admitted = throttle.attempt(now, &self.throttle);
        uow.lockouts().put_ip(tenant, ip, &throttle).await?;
        Ok(admitted)
    }

    /// Mails a fresh six-digit code through the outbox.
    pub(super) async fn send_email_otp(
        &self,
        uow: &mut dyn UnitOfWork,
        user: &User,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let random = self.deps.random.as_ref();
        let (plain, record) = SingleUseToken::issue(TokenPurpose::EmailOtp, now, random);
        uow.tokens()
            .insert(&StoredToken {
                id: TokenId::generate_at(now, random),
                tenant_id: user.tenant_id,
                user_id: user.id,
                token: record,
            })
            .await?;
        let body = format!(
            "Your sign-in code is {}.\nIt works once, for 10 minutes. If you did not try to sign in, change your password.",
            plain.expose()
        );
        self.mail(uow, user, "your sign-in code", body, now).await
    }

    /// Checks `code` against the user's second factors; the method that
    /// accepted it, or `None`. Updates `user` (TOTP step, recovery slot)
    /// and the OTP record in `uow`.
    async fn check_second_factor(
        &self,
        uow: &mut dyn UnitOfWork,
        user: &mut User,
        code: &Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<&'static str>> {
        let code = code.expose().trim();
        let digits = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        if digits && let Some(sealed) = &user.two_factor.totp_secret {
            let secret = self.keyring.open(sealed, &totp_seal(user))?;
            let secret = crate::security::totp::TotpSecret::from_bytes(secret.expose())?;
            if let Ok(step) = secret.verify(code, now, user.two_factor.totp_last_step) {
                user.two_factor.totp_last_step = Some(step);
                return Ok(Some("totp"));
            }
        }
        if digits && user.two_factor.email_otp {
            if let Some(mut stored) = uow
                .tokens()
                .latest_for_user(user.tenant_id, user.id, TokenPurpose::EmailOtp)
                .await?
            {
                let unchanged = stored.token.clone();
                let redeemed = stored.token.redeem(&PlainToken::from_presented(code), now);
                if stored.token != unchanged {
                    uow.tokens().update(&stored).await?;
                }
                if redeemed.is_ok() {
                    return Ok(Some("email_otp"));
                }
            }
            return Ok(None);
        }
        if !digits
            && user.two_factor.totp_secret.is_some()
            && user.two_factor.recovery_codes.redeem(code, now).is_ok()
        {
            return Ok(Some("recovery_code"));
        }
        Ok(None)
    }
}

/// Whether the user row must be saved after a successful login.
fn rehash_or_2fa_changed(verification: Verification, second_factor: Option<&str>) -> bool {
    verification.needs_rehash() || matches!(second_factor, Some("totp" | "recovery_code"))
}
