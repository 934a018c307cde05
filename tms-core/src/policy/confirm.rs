//! Confirmation of critical actions (DESIGN.md §3).
//!
//! When [`super::authorize`] answers [`super::Decision::ConfirmationRequired`],
//! the service issues a [`PendingConfirmation`] bound to the actor, the action
//! and the exact resource, stores it, and returns the plain token to the
//! caller inside [`crate::Error::ConfirmationRequired`]. The caller repeats the
//! request carrying the token; the service loads the record by the token's
//! hash and calls [`PendingConfirmation::redeem`], which succeeds once, within
//! five minutes, and only for the same actor, action and resource.

use chrono::{DateTime, Utc};

use super::model::{Action, DenyReason, Resource};
use crate::domain::Principal;
use crate::error::{Error, Result};
use crate::id::{ConfirmationId, TenantId, UserId};
use crate::ports::Random;
use crate::security::token::{PlainToken, SingleUseToken, TokenHash, TokenPurpose};

/// A stored, not yet used confirmation of one critical action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingConfirmation {
    /// Identity.
    pub id: ConfirmationId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// The only user who may redeem it.
    pub actor: UserId,
    /// The only action it confirms.
    pub action: Action,
    /// The only resource it confirms.
    pub resource: Resource,
    /// The token record (hash, expiry, used mark).
    pub token: SingleUseToken,
}

impl PendingConfirmation {
    /// Issues a confirmation for `principal` to perform `action` on
    /// `resource`. Only people confirm: the system principal cannot.
    pub fn issue(
        id: ConfirmationId,
        principal: &Principal,
        action: Action,
        resource: Resource,
        now: DateTime<Utc>,
        random: &dyn Random,
    ) -> Result<(PlainToken, Self)> {
        let actor = principal.user_id().ok_or(Error::Forbidden {
            reason: DenyReason::SystemCannotPerformCritical,
        })?;
        let (plain, token) = SingleUseToken::issue(TokenPurpose::Confirmation, now, random);
        let pending = Self {
            id,
            tenant_id: principal.tenant_id(),
            actor,
            action,
            resource,
            token,
        };
        Ok((plain, pending))
    }

    /// The hash a store looks the record up by.
    pub fn token_hash(&self) -> TokenHash {
        self.token.hash
    }

    /// When the token stops being accepted.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.token.expires_at
    }

    /// Redeems the confirmation: the same principal, action and resource,
    /// the right token, before expiry, once. Marks it used on success; the
    /// caller persists the record in the same transaction as the action.
    pub fn redeem(
        &mut self,
        presented: &PlainToken,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let bound = principal.tenant_id() == self.tenant_id
            && principal.user_id() == Some(self.actor)
            && action == self.action
            && *resource == self.resource;
        if !bound {
            return Err(Error::invalid(
                "confirmation",
                "is not valid for this action",
            ));
        }
        self.token
            .redeem(presented, now)
            .map_err(|_| Error::invalid("confirmation", "is invalid, used or expired"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BranchScope, Role};
    use crate::policy::ResourceKind;
    use crate::ports::OsRandom;
    use chrono::Duration;

    fn setup() -> (
        Principal,
        Resource,
        PlainToken,
        PendingConfirmation,
        DateTime<Utc>,
    ) {
        let tenant = TenantId::new();
        let owner = Principal::user(
            UserId::new(),
            tenant,
            Role::TenantSuperAdmin,
            BranchScope::All,
        );
        let booking = Resource::new(ResourceKind::Booking, tenant).with_id(uuid::Uuid::now_v7());
        let now = Utc::now();
        let (plain, pending) = PendingConfirmation::issue(
            ConfirmationId::new(),
            &owner,
            Action::Delete,
            booking,
            now,
            &OsRandom,
        )
        .unwrap();
        (owner, booking, plain, pending, now)
    }

    #[test]
    fn a_confirmation_is_redeemed_once() {
        let (owner, booking, plain, mut pending, now) = setup();
        assert!(
            pending
                .redeem(&plain, &owner, Action::Delete, &booking, now)
                .is_ok()
        );
        assert!(
            pending
                .redeem(&plain, &owner, Action::Delete, &booking, now)
                .is_err()
        );
    }

    #[test]
    fn a_confirmation_is_bound_to_actor_action_and_resource() {
        let (owner, booking, plain, mut pending, now) = setup();
        let other_user = Principal::user(
            UserId::new(),
            owner.tenant_id(),
            Role::TenantSuperAdmin,
            BranchScope::All,
        );
        let other_booking = booking.with_id(uuid::Uuid::now_v7());
        assert!(
            pending
                .redeem(&plain, &other_user, Action::Delete, &booking, now)
                .is_err()
        );
        assert!(
            pending
                .redeem(&plain, &owner, Action::Erase, &booking, now)
                .is_err()
        );
        assert!(
            pending
                .redeem(&plain, &owner, Action::Delete, &other_booking, now)
                .is_err()
        );
        // None of the mismatches used it up.
        assert!(
            pending
                .redeem(&plain, &owner, Action::Delete, &booking, now)
                .is_ok()
        );
    }

    #[test]
    fn a_confirmation_expires_after_five_minutes() {
        let (owner, booking, plain, mut pending, now) = setup();
        let late = now + Duration::minutes(5) + Duration::seconds(1);
        assert!(
            pending
                .redeem(&plain, &owner, Action::Delete, &booking, late)
                .is_err()
        );
    }

    #[test]
    fn jobs_cannot_ask_for_confirmation() {
        let tenant = TenantId::new();
        let job = Principal::system(tenant, "outbox");
        let campaign = Resource::new(ResourceKind::Campaign, tenant);
        let issued = PendingConfirmation::issue(
            ConfirmationId::new(),
            &job,
            Action::Send,
            campaign,
            Utc::now(),
            &OsRandom,
        );
        assert!(matches!(issued, Err(Error::Forbidden { .. })));
    }
}
