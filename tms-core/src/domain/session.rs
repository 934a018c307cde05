//! Login sessions: one row per session, checked on every request.

use chrono::{DateTime, Duration, Utc};

use crate::id::{SessionId, TenantId, UserId};

/// A login session. The session JWT carries its id (`sid`); a request is
/// accepted only while the row says the session is live, so logout takes
/// effect at once on every replica.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Identity; the JWT's `sid`.
    pub id: SessionId,
    /// Tenant of the user.
    pub tenant_id: TenantId,
    /// Who is signed in.
    pub user_id: UserId,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// The last request seen; the idle timeout counts from here.
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
    /// When it was ended by logout or revocation.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Where it was opened from, for the user's session list.
    pub ip: Option<String>,
    /// Which client opened it, for the user's session list.
    pub user_agent: Option<String>,
}

impl Session {
    /// Whether the session accepts a request at `now`, given the idle timeout.
    pub fn is_live(&self, now: DateTime<Utc>, idle_timeout: Duration) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now - self.last_seen_at < idle_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: DateTime<Utc>) -> Session {
        Session {
            id: SessionId::new(),
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::hours(12),
            revoked_at: None,
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_session_ends_when_idle_expired_or_revoked() {
        let now = Utc::now();
        let idle = Duration::minutes(30);
        let live = session(now);
        assert!(live.is_live(now + Duration::minutes(29), idle));
        assert!(!live.is_live(now + Duration::minutes(30), idle));
        let mut busy = session(now);
        busy.last_seen_at = now + Duration::hours(12);
        assert!(
            !busy.is_live(now + Duration::hours(12), idle),
            "absolute timeout"
        );
        let mut revoked = session(now);
        revoked.revoked_at = Some(now);
        assert!(!revoked.is_live(now, idle));
    }
}
