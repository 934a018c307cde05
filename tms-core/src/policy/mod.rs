//! The policy engine: who may do what to which record (DESIGN.md §3).
//!
//! [`authorize`] is a pure function of the principal, the action and the
//! resource. It cannot fail and allocates nothing. It evaluates, in order:
//!
//! 1. **tenant** — another tenant's resource is denied (callers show this as
//!    *not found*, see [`DenyReason::hides_existence`]);
//! 2. **branch scope** — a resource in a branch outside the principal's scope
//!    is denied the same way; a Tenant Super Admin sees every branch;
//! 3. **fixed deny rules** — the platform's published promises (Admins never
//!    write financial records, Finance never writes operational data, Admins
//!    never manage super admins or keys, jobs never do critical actions);
//! 4. **role grants** — the role × class table in [`table`];
//! 5. **critical actions** — allowed requests that delete non-drafts, erase,
//!    change access, reset 2FA, disconnect mail, rotate keys, send campaigns,
//!    refund or void an invoice come back as [`Decision::ConfirmationRequired`]; the service
//!    then asks for a [`confirm::PendingConfirmation`] token.
//!
//! ```
//! use tms_core::domain::{BranchScope, Principal, Role};
//! use tms_core::id::{BranchId, TenantId, UserId};
//! use tms_core::policy::{authorize, Action, Decision, DenyReason, Resource, ResourceKind};
//!
//! let tenant = TenantId::new();
//! let branch = BranchId::new();
//! let sales = Principal::user(UserId::new(), tenant, Role::Sales, BranchScope::only([branch]));
//! let booking = Resource::new(ResourceKind::Booking, tenant).in_branch(branch);
//!
//! assert_eq!(authorize(&sales, Action::Create, &booking), Decision::Allow);
//! assert!(matches!(
//!     authorize(&sales, Action::Delete, &booking),
//!     Decision::Deny(DenyReason::NotGranted { .. })
//! ));
//! let elsewhere = Resource::new(ResourceKind::Booking, tenant).in_branch(BranchId::new());
//! assert_eq!(
//!     authorize(&sales, Action::Read, &elsewhere),
//!     Decision::Deny(DenyReason::OutOfBranchScope)
//! );
//! ```

pub mod confirm;
mod model;
pub mod table;

pub use confirm::PendingConfirmation;
pub use model::{
    Action, Critical, Decision, DenyReason, Resource, ResourceClass, ResourceKind, Verb,
};

use crate::domain::{Principal, Role};

/// Decides whether `principal` may perform `action` on `resource`.
pub fn authorize(principal: &Principal, action: Action, resource: &Resource) -> Decision {
    // 1. Tenant isolation.
    if principal.tenant_id() != resource.tenant_id {
        return Decision::Deny(DenyReason::TenantMismatch);
    }
    // 2. Branch scope.
    if let Some(branch) = resource.branch_id
        && !principal.sees_branch(branch)
    {
        return Decision::Deny(DenyReason::OutOfBranchScope);
    }
    if let Some(kind) = action.only_on()
        && kind != resource.kind
    {
        return Decision::Deny(DenyReason::NotApplicable);
    }
    let verb = action.verb();
    let class = resource.kind.class();
    let critical = critical(principal, action, resource);

    // 3. Fixed deny rules, then 4. grants.
    let grants = match principal {
        Principal::System { .. } => {
            if critical.is_some() {
                return Decision::Deny(DenyReason::SystemCannotPerformCritical);
            }
            table::SYSTEM
        }
        Principal::User(user) => {
            if let Some(reason) = fixed_deny(user.role, action, resource) {
                return Decision::Deny(reason);
            }
            table::grants(user.role, class)
        }
    };
    if !grants.allows(verb) {
        return Decision::Deny(DenyReason::NotGranted {
            role: principal.role(),
            verb,
            class,
        });
    }

    // 5. Critical actions.
    match critical {
        Some(why) => Decision::ConfirmationRequired(why),
        None => Decision::Allow,
    }
}

/// The platform's fixed rules, which hold whatever the table says.
fn fixed_deny(role: Role, action: Action, resource: &Resource) -> Option<DenyReason> {
    use ResourceClass::{Financial, Operational, Umrah};
    let writes = action.verb().is_write();
    let class = resource.kind.class();
    match role {
        Role::Admin if writes && class == Financial => Some(DenyReason::AdminCannotWriteFinancial),
        Role::Admin if action == Action::RotateKeys => Some(DenyReason::AdminCannotManageKeys),
        Role::Admin
            if resource.kind == ResourceKind::User
                && action != Action::Read
                && (resource
                    .subject_role
                    .is_none_or(|r| r == Role::TenantSuperAdmin)
                    || resource.granted_role == Some(Role::TenantSuperAdmin)) =>
        {
            // Fail closed: a write whose subject's role is unknown could be
            // on a super admin.
            Some(DenyReason::AdminCannotManageSuperAdmin)
        }
        Role::Finance if writes && matches!(class, Operational | Umrah) => {
            Some(DenyReason::FinanceCannotWriteOperational)
        }
        _ => None,
    }
}

/// Why the action is critical, if it is.
fn critical(principal: &Principal, action: Action, resource: &Resource) -> Option<Critical> {
    match action {
        Action::Delete if !resource.is_draft => Some(Critical::DeleteNonDraft),
        Action::Create if resource.kind == ResourceKind::Refund => Some(Critical::Refund),
        Action::Erase => Some(Critical::Erase),
        Action::ChangeAccess => Some(Critical::ChangeAccess),
        Action::ResetTwoFactor => {
            // Resetting one's own second factor is a self-service step that the
            // identity service guards with re-authentication; another's is critical.
            let own = match (principal.user_id(), resource.id) {
                (Some(actor), Some(subject)) => actor.as_uuid() == subject,
                _ => false,
            };
            (!own).then_some(Critical::ResetTwoFactor)
        }
        Action::Disconnect => Some(Critical::Disconnect),
        Action::RotateKeys => Some(Critical::RotateKeys),
        Action::Send => Some(Critical::SendCampaign),
        Action::Void => Some(Critical::Void),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BranchScope;
    use crate::id::{BranchId, TenantId, UserId};

    fn user(role: Role, tenant: TenantId, scope: BranchScope) -> Principal {
        Principal::user(UserId::new(), tenant, role, scope)
    }

    #[test]
    fn another_tenants_record_is_denied_before_anything_else() {
        let owner = user(Role::TenantSuperAdmin, TenantId::new(), BranchScope::All);
        let foreign = Resource::new(ResourceKind::Client, TenantId::new());
        assert_eq!(
            authorize(&owner, Action::Read, &foreign),
            Decision::Deny(DenyReason::TenantMismatch)
        );
        assert!(matches!(
            DenyReason::TenantMismatch.into_error(ResourceKind::Client),
            crate::Error::NotFound { what: "client" }
        ));
    }

    #[test]
    fn admins_read_but_never_write_financial_records() {
        let tenant = TenantId::new();
        let admin = user(Role::Admin, tenant, BranchScope::All);
        let invoice = Resource::new(ResourceKind::Invoice, tenant);
        assert_eq!(authorize(&admin, Action::Read, &invoice), Decision::Allow);
        for action in [
            Action::Create,
            Action::Update,
            Action::Delete,
            Action::Cancel,
        ] {
            assert_eq!(
                authorize(&admin, action, &invoice),
                Decision::Deny(DenyReason::AdminCannotWriteFinancial)
            );
        }
    }

    #[test]
    fn admins_cannot_create_or_change_a_super_admin() {
        let tenant = TenantId::new();
        let admin = user(Role::Admin, tenant, BranchScope::All);
        let owner =
            Resource::new(ResourceKind::User, tenant).with_subject_role(Role::TenantSuperAdmin);
        assert_eq!(authorize(&admin, Action::Read, &owner), Decision::Allow);
        assert_eq!(
            authorize(&admin, Action::ChangeAccess, &owner),
            Decision::Deny(DenyReason::AdminCannotManageSuperAdmin)
        );
        let sales = Resource::new(ResourceKind::User, tenant).with_subject_role(Role::Sales);
        assert_eq!(
            authorize(
                &admin,
                Action::ChangeAccess,
                &sales.granting_role(Role::Finance)
            ),
            Decision::ConfirmationRequired(Critical::ChangeAccess)
        );
        assert_eq!(
            authorize(
                &admin,
                Action::ChangeAccess,
                &sales.granting_role(Role::TenantSuperAdmin)
            ),
            Decision::Deny(DenyReason::AdminCannotManageSuperAdmin),
            "no promotion to super admin"
        );
        let unknown = Resource::new(ResourceKind::User, tenant);
        assert_eq!(
            authorize(&admin, Action::Update, &unknown),
            Decision::Deny(DenyReason::AdminCannotManageSuperAdmin),
            "a user of unknown role might be a super admin"
        );
    }

    #[test]
    fn deleting_a_draft_needs_no_confirmation_but_a_live_record_does() {
        let tenant = TenantId::new();
        let admin = user(Role::Admin, tenant, BranchScope::All);
        let booking = Resource::new(ResourceKind::Booking, tenant);
        assert_eq!(
            authorize(&admin, Action::Delete, &booking.draft()),
            Decision::Allow
        );
        assert_eq!(
            authorize(&admin, Action::Delete, &booking),
            Decision::ConfirmationRequired(Critical::DeleteNonDraft)
        );
    }

    #[test]
    fn resetting_ones_own_second_factor_is_not_critical() {
        let tenant = TenantId::new();
        let me = UserId::new();
        let admin = Principal::user(me, tenant, Role::Admin, BranchScope::All);
        let myself = Resource::new(ResourceKind::User, tenant)
            .with_id(me)
            .with_subject_role(Role::Admin);
        let other = Resource::new(ResourceKind::User, tenant)
            .with_id(UserId::new())
            .with_subject_role(Role::Sales);
        assert_eq!(
            authorize(&admin, Action::ResetTwoFactor, &myself),
            Decision::Allow
        );
        assert_eq!(
            authorize(&admin, Action::ResetTwoFactor, &other),
            Decision::ConfirmationRequired(Critical::ResetTwoFactor)
        );
    }

    #[test]
    fn jobs_never_perform_critical_actions() {
        let tenant = TenantId::new();
        let job = Principal::system(tenant, "outbox");
        let campaign = Resource::new(ResourceKind::Campaign, tenant);
        assert_eq!(
            authorize(&job, Action::Send, &campaign),
            Decision::Deny(DenyReason::SystemCannotPerformCritical)
        );
        assert_eq!(authorize(&job, Action::Approve, &campaign), Decision::Allow);
    }

    #[test]
    fn voiding_an_invoice_is_critical_for_finance_and_the_owner_and_never_an_admins() {
        let tenant = TenantId::new();
        let branch = BranchId::new();
        let invoice = Resource::new(ResourceKind::Invoice, tenant).in_branch(branch);
        for role in [Role::TenantSuperAdmin, Role::Finance] {
            let who = user(role, tenant, BranchScope::only([branch]));
            assert_eq!(
                authorize(&who, Action::Void, &invoice),
                Decision::ConfirmationRequired(Critical::Void),
                "{role}"
            );
        }
        let admin = user(Role::Admin, tenant, BranchScope::All);
        assert_eq!(
            authorize(&admin, Action::Void, &invoice),
            Decision::Deny(DenyReason::AdminCannotWriteFinancial)
        );
        for role in [Role::Sales, Role::Umrah] {
            let who = user(role, tenant, BranchScope::All);
            assert!(matches!(
                authorize(&who, Action::Void, &invoice),
                Decision::Deny(DenyReason::NotGranted { .. })
            ));
        }
        let finance = user(Role::Finance, tenant, BranchScope::only([BranchId::new()]));
        assert_eq!(
            authorize(&finance, Action::Void, &invoice),
            Decision::Deny(DenyReason::OutOfBranchScope)
        );
        let payment = Resource::new(ResourceKind::Payment, tenant);
        let owner = user(Role::TenantSuperAdmin, tenant, BranchScope::All);
        assert_eq!(
            authorize(&owner, Action::Void, &payment),
            Decision::Deny(DenyReason::NotApplicable),
            "only invoices are voided"
        );
        let job = Principal::system(tenant, "outbox");
        assert_eq!(
            authorize(&job, Action::Void, &invoice),
            Decision::Deny(DenyReason::SystemCannotPerformCritical)
        );
    }

    #[test]
    fn restricted_actions_apply_to_their_kind_only() {
        let tenant = TenantId::new();
        let owner = user(Role::TenantSuperAdmin, tenant, BranchScope::All);
        let booking = Resource::new(ResourceKind::Booking, tenant).in_branch(BranchId::new());
        assert_eq!(
            authorize(&owner, Action::RotateKeys, &booking),
            Decision::Deny(DenyReason::NotApplicable)
        );
    }
}
