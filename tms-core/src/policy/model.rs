//! The vocabulary of the policy: resource kinds and classes, actions, verbs,
//! resources, decisions and reasons. All `Copy`, so deciding allocates nothing.

use std::fmt;

use crate::domain::Role;
use crate::error::Error;
use crate::id::{BranchId, TenantId};

/// The classes of DESIGN.md §3; the grant table has one column per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceClass {
    /// Clients, bookings, tickets, catalogue, documents, files.
    Operational,
    /// Umrah groups, families, pilgrims.
    Umrah,
    /// Payments, invoices, refunds, ledger, financial reports.
    Financial,
    /// Users, branches, settings, mail connections, templates, campaigns.
    Administration,
    /// Audit log, activity reports, privacy requests.
    Compliance,
}

impl ResourceClass {
    /// Every class, in table order.
    pub const ALL: [ResourceClass; 5] = [
        ResourceClass::Operational,
        ResourceClass::Umrah,
        ResourceClass::Financial,
        ResourceClass::Administration,
        ResourceClass::Compliance,
    ];

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

macro_rules! resource_kinds {
    ($($kind:ident => $class:ident, $what:literal;)*) => {
        /// What a record is. Each kind belongs to one [`ResourceClass`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceKind {
            $(
                #[doc = concat!("A ", $what, ".")]
                $kind,
            )*
        }

        impl ResourceKind {
            /// Every kind.
            pub const ALL: &'static [ResourceKind] = &[$(ResourceKind::$kind),*];

            /// The class whose grants apply.
            pub const fn class(self) -> ResourceClass {
                match self {
                    $(ResourceKind::$kind => ResourceClass::$class,)*
                }
            }

            /// A lower-case noun for messages and the audit log.
            pub const fn what(self) -> &'static str {
                match self {
                    $(ResourceKind::$kind => $what,)*
                }
            }
        }
    };
}

resource_kinds! {
    Client => Operational, "client";
    Booking => Operational, "booking";
    Ticket => Operational, "ticket";
    Package => Operational, "package";
    Category => Operational, "category";
    Document => Operational, "document";
    File => Operational, "file";
    UmrahGroup => Umrah, "umrah group";
    UmrahFamily => Umrah, "umrah family";
    Pilgrim => Umrah, "pilgrim";
    Payment => Financial, "payment";
    Invoice => Financial, "invoice";
    Refund => Financial, "refund";
    LedgerEntry => Financial, "ledger entry";
    FinancialReport => Financial, "financial report";
    User => Administration, "user";
    Branch => Administration, "branch";
    TenantSettings => Administration, "tenant settings";
    MailConnection => Administration, "mail connection";
    Template => Administration, "template";
    Campaign => Administration, "campaign";
    AuditLog => Compliance, "audit log";
    ActivityReport => Compliance, "activity report";
    PrivacyRequest => Compliance, "privacy request";
    // --- mail ops (issue 10) ---
    SupportTicket => Operational, "support ticket";
    MailRule => Administration, "mail routing rule";
    MailOpsSettings => Administration, "mail ops settings";
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what())
    }
}

/// The letters of the grant table: R, C, U, D, X, A — plus the `cancel`
/// right that Sales holds on operational records instead of D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// R: read.
    Read,
    /// C: create.
    Create,
    /// U: update.
    Update,
    /// D: delete.
    Delete,
    /// X: export.
    Export,
    /// A: approve or send.
    Approve,
    /// The table's "D: cancel": cancel without deleting.
    Cancel,
}

impl Verb {
    /// The bit of this verb in a [`super::table::Grants`] mask.
    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether the verb changes data (everything but read and export).
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Delete | Verb::Cancel
        )
    }
}

/// What a principal asks to do. Most actions are one verb of the table;
/// the named ones exist because they are critical or restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read one record or list records.
    Read,
    /// Create a record. Creating a refund is critical.
    Create,
    /// Change a record.
    Update,
    /// Delete a record. Critical unless the record is a draft.
    Delete,
    /// Export records (CSV, JSON Lines, privacy export).
    Export,
    /// Approve a template or other item for use.
    Approve,
    /// Cancel a booking, ticket or other record (not a deletion).
    Cancel,
    /// Change a user's role or branch scope. Critical. Users only.
    ChangeAccess,
    /// Reset another user's second factors. Critical. Users only.
    ResetTwoFactor,
    /// Disconnect a mail account (revokes its tokens). Critical.
    Disconnect,
    /// Rotate the tenant's encryption keys. Critical; Tenant Super Admin only.
    RotateKeys,
    /// Send a campaign. Critical.
    Send,
    /// Erase a person's personal data (privacy right). Critical.
    Erase,
    /// Void an issued invoice (its number stays used, its journal is
    /// reversed). Critical; invoices only; needs U on financial records, so
    /// Finance and the Tenant Super Admin may, an Admin never.
    Void,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 14] = [
        Action::Read,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Export,
        Action::Approve,
        Action::Cancel,
        Action::ChangeAccess,
        Action::ResetTwoFactor,
        Action::Disconnect,
        Action::RotateKeys,
        Action::Send,
        Action::Erase,
        Action::Void,
    ];

    /// The table verb this action needs.
    ///
    /// Erasure is exercised, like the privacy export, under the X grant on
    /// Compliance: in the table only a Tenant Super Admin holds it.
    pub const fn verb(self) -> Verb {
        match self {
            Action::Read => Verb::Read,
            Action::Create => Verb::Create,
            Action::Update
            | Action::ChangeAccess
            | Action::ResetTwoFactor
            | Action::RotateKeys
            | Action::Void => Verb::Update,
            Action::Delete | Action::Disconnect => Verb::Delete,
            Action::Export | Action::Erase => Verb::Export,
            Action::Approve | Action::Send => Verb::Approve,
            Action::Cancel => Verb::Cancel,
        }
    }

    /// The one kind a restricted action applies to, if it is restricted.
    pub const fn only_on(self) -> Option<ResourceKind> {
        match self {
            Action::ChangeAccess | Action::ResetTwoFactor => Some(ResourceKind::User),
            Action::Disconnect => Some(ResourceKind::MailConnection),
            Action::RotateKeys => Some(ResourceKind::TenantSettings),
            Action::Send => Some(ResourceKind::Campaign),
            Action::Erase => Some(ResourceKind::PrivacyRequest),
            Action::Void => Some(ResourceKind::Invoice),
            _ => None,
        }
    }

    /// A stable lower-case name for the audit log and confirmations.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Export => "export",
            Action::Approve => "approve",
            Action::Cancel => "cancel",
            Action::ChangeAccess => "change_access",
            Action::ResetTwoFactor => "reset_two_factor",
            Action::Disconnect => "disconnect",
            Action::RotateKeys => "rotate_keys",
            Action::Send => "send",
            Action::Erase => "erase",
            Action::Void => "void",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record an action targets, with the attributes the policy reads.
///
/// ```
/// use tms_core::id::{BranchId, TenantId};
/// use tms_core::policy::{Resource, ResourceKind};
/// let tenant = TenantId::new();
/// let branch = BranchId::new();
/// let booking = Resource::new(ResourceKind::Booking, tenant).in_branch(branch).draft();
/// assert_eq!(booking.branch_id, Some(branch));
/// assert!(booking.is_draft);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    /// What it is.
    pub kind: ResourceKind,
    /// Whose it is.
    pub tenant_id: TenantId,
    /// The branch it belongs to; `None` for tenant-level records and lists.
    pub branch_id: Option<BranchId>,
    /// The record's id, when one record is meant.
    pub id: Option<uuid::Uuid>,
    /// Whether the record is still a draft (deleting a draft is not critical).
    pub is_draft: bool,
    /// For users: the current role of the user acted on (for a new user,
    /// the role they are created with). An Admin's write on a user whose
    /// role is not given is refused: the policy cannot rule out a super admin.
    pub subject_role: Option<Role>,
    /// For a change of access: the role being given. Admins may not give
    /// anyone the Tenant Super Admin role.
    pub granted_role: Option<Role>,
}

impl Resource {
    /// A tenant-level resource (or a list) of `kind`.
    pub const fn new(kind: ResourceKind, tenant_id: TenantId) -> Self {
        Self {
            kind,
            tenant_id,
            branch_id: None,
            id: None,
            is_draft: false,
            subject_role: None,
            granted_role: None,
        }
    }

    /// In branch `branch_id`.
    pub const fn in_branch(mut self, branch_id: BranchId) -> Self {
        self.branch_id = Some(branch_id);
        self
    }

    /// The record with this id.
    pub fn with_id(mut self, id: impl Into<uuid::Uuid>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Marks the record as a draft.
    pub const fn draft(mut self) -> Self {
        self.is_draft = true;
        self
    }

    /// For a user record: the role the user has now (or is created with).
    pub const fn with_subject_role(mut self, role: Role) -> Self {
        self.subject_role = Some(role);
        self
    }

    /// For a change of access: the role the user is about to be given.
    pub const fn granting_role(mut self, role: Role) -> Self {
        self.granted_role = Some(role);
        self
    }
}

/// Why a request was denied. Safe to store in the audit log and to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// The resource belongs to another tenant. Shown to callers as not found.
    TenantMismatch,
    /// The resource's branch is outside the caller's scope. Shown as not found.
    OutOfBranchScope,
    /// Fixed rule: Admins never create, change or delete financial records.
    AdminCannotWriteFinancial,
    /// Fixed rule: Finance never creates, changes or deletes operational data.
    FinanceCannotWriteOperational,
    /// Fixed rule: Admins never create, change or promote anyone to a Tenant
    /// Super Admin (nor write a user whose role the request does not state).
    AdminCannotManageSuperAdmin,
    /// Fixed rule: only a Tenant Super Admin handles key material.
    AdminCannotManageKeys,
    /// Background jobs never perform critical actions: those need a person.
    SystemCannotPerformCritical,
    /// The action does not apply to this kind of resource.
    NotApplicable,
    /// Not a policy rule but the session's state: the user signed in with a
    /// handed-out password and must change it before anything else.
    PasswordChangeRequired,
    /// The role's grants do not include the verb for the class.
    NotGranted {
        /// The caller's role; `None` for the system.
        role: Option<Role>,
        /// The verb that was missing.
        verb: Verb,
        /// The class it was missing for.
        class: ResourceClass,
    },
}

impl DenyReason {
    /// A stable machine-readable code for logs and the audit trail.
    pub const fn code(self) -> &'static str {
        match self {
            DenyReason::TenantMismatch => "tenant_mismatch",
            DenyReason::OutOfBranchScope => "out_of_branch_scope",
            DenyReason::AdminCannotWriteFinancial => "admin_cannot_write_financial",
            DenyReason::FinanceCannotWriteOperational => "finance_cannot_write_operational",
            DenyReason::AdminCannotManageSuperAdmin => "admin_cannot_manage_super_admin",
            DenyReason::AdminCannotManageKeys => "admin_cannot_manage_keys",
            DenyReason::SystemCannotPerformCritical => "system_cannot_perform_critical",
            DenyReason::NotApplicable => "not_applicable",
            DenyReason::PasswordChangeRequired => "password_change_required",
            DenyReason::NotGranted { .. } => "not_granted",
        }
    }

    /// Whether the reason must be hidden behind "not found", because saying
    /// "forbidden" would reveal that the record exists.
    pub const fn hides_existence(self) -> bool {
        matches!(
            self,
            DenyReason::TenantMismatch | DenyReason::OutOfBranchScope
        )
    }

    /// The error a service returns for this denial of an action on `kind`.
    pub fn into_error(self, kind: ResourceKind) -> Error {
        if self.hides_existence() {
            Error::not_found(kind.what())
        } else {
            Error::Forbidden { reason: self }
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NotGranted { role, verb, class } => {
                let who = role.map_or("system", Role::as_str);
                write!(f, "not_granted: {who} has no {verb:?} on {class:?}")
            }
            other => f.write_str(other.code()),
        }
    }
}

/// Why an allowed action still needs an explicit confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Critical {
    /// Deleting a record that is not a draft.
    DeleteNonDraft,
    /// Erasing a person's data.
    Erase,
    /// Changing a user's role or branch scope.
    ChangeAccess,
    /// Resetting another user's second factors.
    ResetTwoFactor,
    /// Disconnecting a mail account.
    Disconnect,
    /// Rotating keys.
    RotateKeys,
    /// Sending a campaign.
    SendCampaign,
    /// Refunding money.
    Refund,
    /// Voiding an issued invoice.
    Void,
}

/// The outcome of [`super::authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// No, and why.
    Deny(DenyReason),
    /// Yes, but only with a confirmation token (DESIGN.md §3).
    ConfirmationRequired(Critical),
}

impl Decision {
    /// Whether the decision is [`Decision::Allow`].
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}
