//! The session check run on every request, logout, and the user's own
//! sessions.
//!
//! A JWT alone never admits a request: its `sid` must name a session row
//! of its tenant that is neither revoked, idle past the tenant's idle
//! timeout, nor past its absolute end, of an active user. Every failure is
//! the same [`Error::Unauthenticated`].

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Context, Session, User};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::policy::DenyReason;

use super::{Caller, Identity, session_is_live};

/// A request's verified session and user.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session (with `last_seen_at` as of this request).
    pub session: Session,
    /// Who is signed in, as stored now.
    pub user: User,
    /// The tenant requires 2FA for this user's role and they have none: only
    /// self-service calls are open (see [`Authenticated::context`]).
    pub restricted: bool,
    /// The user signed in with a handed-out password (first run, `init`):
    /// until they change it, only the password change, `me`, their
    /// sessions and logout are open (see [`Authenticated::context`]).
    pub password_change_required: bool,
    /// The network details of the request.
    pub caller: Caller,
    /// The instant of the request.
    pub now: DateTime<Utc>,
}

impl Authenticated {
    /// The context for the other services' calls. A session that must
    /// change its password first gets `Forbidden` with
    /// [`DenyReason::PasswordChangeRequired`]; a restricted one gets
    /// `Forbidden`: enrol a second factor first.
    pub fn context(&self) -> Result<Context> {
        self.refuse_until_password_changed()?;
        if self.restricted {
            return Err(Error::Forbidden {
                reason: DenyReason::NotGranted {
                    role: Some(self.user.role),
                    verb: crate::policy::Verb::Read,
                    class: crate::policy::ResourceClass::Administration,
                },
            });
        }
        Ok(self.own_context())
    }

    /// `Forbidden` ([`DenyReason::PasswordChangeRequired`]) while the user
    /// still has a handed-out password. Every call but the password change,
    /// `me`, the session list and logout runs this first.
    pub fn refuse_until_password_changed(&self) -> Result<()> {
        if self.password_change_required {
            return Err(Error::Forbidden {
                reason: DenyReason::PasswordChangeRequired,
            });
        }
        Ok(())
    }

    /// The context of the user's self-service calls (allowed when restricted).
    pub(super) fn own_context(&self) -> Context {
        self.caller.context(self.user.principal(), self.now)
    }
}

impl Identity {
    /// Checks the session JWT of a request and records the activity.
    pub async fn authenticate(&self, token: &str, caller: &Caller) -> Result<Authenticated> {
        let now = self.now();
        let claims = self.jwt.verify(token, now)?;
        let mut uow = self.deps.store.begin().await?;
        let session = uow
            .sessions()
            .get(claims.tid, claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub && s.tenant_id == claims.tid)
            .ok_or(Error::Unauthenticated)?;
        let settings = uow.settings().get(claims.tid).await?;
        if !session_is_live(&session, now, settings.session_idle_minutes) {
            return Err(Error::Unauthenticated);
        }
        let user = uow
            .users()
            .get(claims.tid, claims.sub)
            .await?
            .filter(User::is_active)
            .ok_or(Error::Unauthenticated)?;
        uow.sessions().touch(claims.tid, claims.sid, now).await?;
        uow.commit().await?;
        let restricted = settings.require_two_factor_for_admins
            && user.role.is_admin()
            && !user.two_factor.is_enabled();
        Ok(Authenticated {
            session: Session {
                last_seen_at: now,
                ..session
            },
            password_change_required: user.must_change_password,
            user,
            restricted,
            caller: caller.clone(),
            now,
        })
    }

    /// Ends this session.
    pub async fn logout(&self, auth: &Authenticated) -> Result<()> {
        let ctx = auth.own_context();
        let mut uow = self.deps.store.begin().await?;
        uow.sessions()
            .revoke(auth.user.tenant_id, auth.session.id, ctx.now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    &ctx,
                    "auth.logout",
                    "session",
                    Some(auth.session.id.as_uuid()),
                )
                .with_change(None, Some(json!({ "user_id": auth.user.id }))),
            )
            .await?;
        uow.commit().await
    }

    /// Ends every session of the user, this one included; how many.
    pub async fn logout_everywhere(&self, auth: &Authenticated) -> Result<u64> {
        let ctx = auth.own_context();
        let mut uow = self.deps.store.begin().await?;
        let ended = uow
            .sessions()
            .revoke_all(auth.user.tenant_id, auth.user.id, None, ctx.now)
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    &ctx,
                    "auth.logout.everywhere",
                    "user",
                    Some(auth.user.id.as_uuid()),
                )
                .with_change(None, Some(json!({ "sessions_ended": ended }))),
            )
            .await?;
        uow.commit().await?;
        Ok(ended)
    }

    /// The user's sessions that were not ended, newest first (some may have
    /// timed out).
    pub async fn my_sessions(&self, auth: &Authenticated) -> Result<Vec<Session>> {
        let mut uow = self.deps.store.begin().await?;
        let sessions = uow
            .sessions()
            .list_for_user(auth.user.tenant_id, auth.user.id)
            .await?;
        uow.rollback().await?;
        Ok(sessions)
    }

    /// Ends one of the user's sessions; another user's is `NotFound`.
    pub async fn revoke_my_session(&self, auth: &Authenticated, id: SessionId) -> Result<()> {
        let ctx = auth.own_context();
        let mut uow = self.deps.store.begin().await?;
        let session = uow
            .sessions()
            .get(auth.user.tenant_id, id)
            .await?
            .filter(|s| s.user_id == auth.user.id)
            .ok_or(Error::not_found("session"))?;
        uow.sessions()
            .revoke(auth.user.tenant_id, session.id, ctx.now)
            .await?;
        uow.audit()
            .append(NewAuditEvent::new(
                &ctx,
                "auth.session.revoked",
                "session",
                Some(session.id.as_uuid()),
            ))
            .await?;
        uow.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BranchScope, Email, Name, Role, TwoFactor};
    use crate::id::{TenantId, UserId};

    fn authenticated(must_change_password: bool, restricted: bool) -> Authenticated {
        let now = Utc::now();
        let user = User {
            id: UserId::new(),
            tenant_id: TenantId::new(),
            email: Email::parse("owner@demo.example").unwrap(),
            name: Name::parse("Demo Owner").unwrap(),
            role: Role::TenantSuperAdmin,
            scope: BranchScope::All,
            password_hash: None,
            two_factor: TwoFactor::default(),
            must_change_password,
            disabled_at: None,
            created_at: now,
            version: 1,
        };
        Authenticated {
            session: Session {
                id: SessionId::new(),
                tenant_id: user.tenant_id,
                user_id: user.id,
                created_at: now,
                last_seen_at: now,
                expires_at: now + chrono::Duration::hours(1),
                revoked_at: None,
                ip: None,
                user_agent: None,
            },
            password_change_required: user.must_change_password,
            user,
            restricted,
            caller: Caller::default(),
            now,
        }
    }

    #[test]
    fn a_handed_out_password_closes_everything_but_self_service() {
        let auth = authenticated(true, false);
        assert!(matches!(
            auth.context(),
            Err(Error::Forbidden {
                reason: DenyReason::PasswordChangeRequired
            })
        ));
        assert!(auth.refuse_until_password_changed().is_err());
        // The password change itself runs on the own context.
        assert_eq!(auth.own_context().principal, auth.user.principal());
    }

    #[test]
    fn the_password_restriction_comes_before_the_two_factor_one() {
        let auth = authenticated(true, true);
        assert!(matches!(
            auth.context(),
            Err(Error::Forbidden {
                reason: DenyReason::PasswordChangeRequired
            })
        ));
        let auth = authenticated(false, true);
        assert!(matches!(
            auth.context(),
            Err(Error::Forbidden {
                reason: DenyReason::NotGranted { .. }
            })
        ));
        let auth = authenticated(false, false);
        assert!(auth.context().is_ok());
        assert!(auth.refuse_until_password_changed().is_ok());
    }
}
