//! User accounts and their second factors.

use chrono::{DateTime, Utc};

use crate::domain::{BranchScope, Email, Name, Principal, Role};
use crate::id::{TenantId, UserId};
use crate::security::keyring::Sealed;
use crate::security::totp::RecoveryCodes;

/// The second factors a user has set up.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TwoFactor {
    /// The TOTP secret, sealed with the key ring; `None` until enrolment is
    /// confirmed with a first code.
    pub totp_secret: Option<Sealed>,
    /// The last TOTP time step accepted, so a code is never accepted twice.
    pub totp_last_step: Option<u64>,
    /// Whether one-time codes by email are accepted as a second factor.
    pub email_otp: bool,
    /// A TOTP secret being enrolled, sealed: it becomes `totp_secret` when
    /// the user confirms it with a first code.
    #[serde(default)]
    pub totp_pending: Option<Sealed>,
    /// The hashed recovery codes of the active TOTP (empty without one).
    #[serde(default)]
    pub recovery_codes: RecoveryCodes,
}

impl TwoFactor {
    /// Whether any second factor is active.
    pub fn is_enabled(&self) -> bool {
        self.totp_secret.is_some() || self.email_otp
    }
}

/// A person who can sign in to one tenant.
///
/// The password hash is kept as the PHC string and never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Identity.
    pub id: UserId,
    /// Owner.
    pub tenant_id: TenantId,
    /// Login name, unique per tenant.
    pub email: Email,
    /// Display name, in any script.
    pub name: Name,
    /// What they may do.
    pub role: Role,
    /// Which branches they see.
    pub scope: BranchScope,
    /// PHC-format hash; `None` until an invitation is accepted.
    pub password_hash: Option<String>,
    /// Second factors.
    pub two_factor: TwoFactor,
    /// When set, the account cannot sign in.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl User {
    /// The principal this user acts as.
    pub fn principal(&self) -> Principal {
        Principal::user(self.id, self.tenant_id, self.role, self.scope.clone())
    }

    /// Whether the account may sign in.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("two_factor_enabled", &self.two_factor.is_enabled())
            .field("disabled_at", &self.disabled_at)
            .field("version", &self.version)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password_hash() {
        let user = User {
            id: UserId::new(),
            tenant_id: TenantId::new(),
            email: Email::parse("a@b.co").unwrap(),
            name: Name::parse("A").unwrap(),
            role: Role::Sales,
            scope: BranchScope::All,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$secretsalt$secrethash".into()),
            two_factor: TwoFactor::default(),
            disabled_at: None,
            created_at: Utc::now(),
            version: 1,
        };
        let shown = format!("{user:?}");
        assert!(!shown.contains("argon2id"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
