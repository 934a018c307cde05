//! Identity: login, sessions, password reset, second factors, and the
//! administration of users, branches and tenant settings (DESIGN.md §4, §6).
//!
//! One [`Identity`] value holds what every call needs — the shared [`Deps`],
//! the key ring that seals TOTP secrets, the session JWT codec — and each
//! job lives in its own module:
//!
//! - [`login`]: password (and second factor) → session. Per-IP throttle
//!   first, then the account lock (before any hashing), then the password;
//!   unknown tenants and users cost the same hashing and fail the same way.
//! - [`sessions`]: the check run on every request, logout, the user's own
//!   session list.
//! - [`password_reset`]: password change, reset by mailed token, accepting
//!   an invitation.
//! - [`two_factor`]: TOTP enrolment with recovery codes, email OTP.
//! - [`users`], [`branches`], [`settings`]: administration, authorized first
//!   through [`crate::service::guard`].
//!
//! Self-service calls take the [`Authenticated`] that
//! [`Identity::authenticate`] returned for the request; administration calls
//! take a [`Context`] built from it with [`Authenticated::context`].
//!
//! **Tenants that require 2FA for admins.** An Admin or Tenant Super Admin
//! without a second factor in such a tenant still signs in with their
//! password, but gets a *restricted* session
//! ([`LoginOutcome::TwoFactorEnrolmentRequired`]): [`Authenticated::context`]
//! refuses it, so it reaches nothing but the self-service calls (enrol a
//! second factor, change password, logout). Refusing the login outright
//! would lock every such admin out for good, since enrolment needs a session.
//!
//! **Handed-out passwords.** The owner created by a first run or by
//! `tms-server init` with a generated password has `must_change_password`
//! set: login answers [`LoginOutcome::PasswordChangeRequired`], and until
//! [`Identity::change_password`] clears the flag (audited), every call but
//! the password change, `me`, the session list and logout is `Forbidden`
//! with [`DenyReason::PasswordChangeRequired`](crate::policy::DenyReason::PasswordChangeRequired)
//! ([`Authenticated::refuse_until_password_changed`]). A reset by mailed
//! token clears it too: that password was chosen by the user.
//!
//! Every failure that must be remembered (a failed login, a lock, a throttled
//! attempt, a new confirmation) is committed before the error is returned.

pub mod branches;
pub mod login;
pub mod password_reset;
pub mod sessions;
pub mod settings;
pub mod two_factor;
pub mod users;

use crate::service::guard::authorize_in as authorize;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::{Context, Principal, Session, User};
use crate::error::{Error, Result};
use crate::id::{MessageId, RequestId, TenantId};

use crate::ports::{OutboxMessage, UnitOfWork};
use crate::security::jwt::SessionJwt;
use crate::security::keyring::{KeyRing, SealContext};
use crate::security::lockout::{LockoutPolicy, ThrottlePolicy};
use crate::security::token::PlainToken;
pub use crate::service::tenancy::Deps;

pub use login::{LoginOutcome, LoginRequest, SecondFactors, SignedIn};
pub use sessions::Authenticated;

/// The identity service.
#[derive(Debug, Clone)]
pub struct Identity {
    deps: Deps,
    keyring: Arc<KeyRing>,
    jwt: Arc<SessionJwt>,
    issuer: String,
    app_url: Option<String>,
    lockout: LockoutPolicy,
    throttle: ThrottlePolicy,
}

impl Identity {
    /// The service over `deps`, sealing TOTP secrets with `keyring`, signing
    /// sessions with `jwt`; `issuer` names the platform in authenticator
    /// apps and mails (e.g. `"TMS"`).
    pub fn new(
        deps: Deps,
        keyring: Arc<KeyRing>,
        jwt: SessionJwt,
        issuer: impl Into<String>,
    ) -> Self {
        Self {
            deps,
            keyring,
            jwt: Arc::new(jwt),
            issuer: issuer.into(),
            app_url: None,
            lockout: LockoutPolicy::default(),
            throttle: ThrottlePolicy::default(),
        }
    }

    /// The web app's base URL, for links in mails
    /// (`{app_url}/reset-password#token=…`). Without it mails carry the
    /// bare token.
    pub fn with_app_url(mut self, app_url: impl Into<String>) -> Self {
        self.app_url = Some(app_url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Other lockout and throttle numbers (tests, stricter deployments).
    pub fn with_policies(mut self, lockout: LockoutPolicy, throttle: ThrottlePolicy) -> Self {
        self.lockout = lockout;
        self.throttle = throttle;
        self
    }

    /// The shared dependencies.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    /// Writes a pending email to the outbox of the unit of work.
    async fn mail(
        &self,
        uow: &mut dyn UnitOfWork,
        user: &User,
        subject: &str,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let message = OutboxMessage::email(
            MessageId::generate_at(now, self.deps.random.as_ref()),
            user.tenant_id,
            user.email.clone(),
            format!("{}: {subject}", self.issuer),
            body,
            now,
        );
        uow.outbox().enqueue(&message).await
    }

    /// A link to `path` carrying `token` in the fragment (never sent to a
    /// server's logs), or the bare token without an app URL.
    fn link(&self, path: &str, token: &PlainToken) -> String {
        match &self.app_url {
            Some(base) => format!("{base}/{path}#token={}", token.expose()),
            None => format!("code: {}", token.expose()),
        }
    }
}

/// Who is calling without a session yet (login, reset, invitation): the
/// network details for the throttle and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The caller's IP address, when known.
    pub ip: Option<IpAddr>,
    /// The caller's user agent, when known.
    pub user_agent: Option<String>,
    /// Correlates logs, audit events and the HTTP response.
    pub request_id: RequestId,
}

impl Caller {
    /// A caller from `ip`.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self {
            ip: Some(ip),
            user_agent: None,
            request_id: RequestId::new(),
        }
    }

    /// Adds the user agent.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = Some(user_agent.to_owned());
        self
    }

    /// The context of `principal` acting through this caller at `now`.
    pub fn context(&self, principal: Principal, now: DateTime<Utc>) -> Context {
        let mut ctx = Context::new(principal, now).with_request_id(self.request_id);
        if let Some(ip) = self.ip {
            ctx = ctx.with_ip(ip);
        }
        if let Some(agent) = &self.user_agent {
            ctx = ctx.with_user_agent(agent);
        }
        ctx
    }

    /// The context of an anonymous caller in `tenant` (audit actor
    /// `system:auth`).
    fn anonymous(&self, tenant: TenantId, now: DateTime<Utc>) -> Context {
        self.context(Principal::system(tenant, "auth"), now)
    }
}

/// Where a user's TOTP secret is sealed (active or pending alike).
fn totp_seal(user: &User) -> SealContext<'static> {
    SealContext {
        tenant_id: user.tenant_id,
        table: "users",
        row: user.id.as_uuid(),
        field: "totp_secret",
    }
}

/// The session's settings-derived lifetime check, shared by login and the
/// request check.
fn session_is_live(session: &Session, now: DateTime<Utc>, idle_minutes: u32) -> bool {
    session.is_live(now, chrono::Duration::minutes(i64::from(idle_minutes)))
}

/// The error for a record of another tenant or none at all.
fn user_not_found() -> Error {
    Error::not_found("user")
}
