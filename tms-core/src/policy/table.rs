//! The role × class grant table of DESIGN.md §3, as data.

use super::model::{ResourceClass, Verb};
use crate::domain::Role;

/// A set of [`Verb`]s as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grants(u8);

impl Grants {
    const fn of(verbs: &[Verb]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < verbs.len() {
            bits |= verbs[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// Whether `verb` is granted. Holding D implies the right to cancel.
    pub const fn allows(self, verb: Verb) -> bool {
        let held = if self.0 & Verb::Delete.bit() != 0 {
            self.0 | Verb::Cancel.bit()
        } else {
            self.0
        };
        held & verb.bit() != 0
    }
}

use Verb::{
    Approve as A, Cancel as K, Create as C, Delete as D, Export as X, Read as R, Update as U,
};

const NONE: Grants = Grants::of(&[]);
const RCUDX: Grants = Grants::of(&[R, C, U, D, X]);
const RCUDA: Grants = Grants::of(&[R, C, U, D, A]);

/// Rows: [`Role::ALL`] order. Columns: [`ResourceClass::ALL`] order.
/// Read it side by side with the table in DESIGN.md §3.
const TABLE: [[Grants; 5]; 5] = [
    // Operational, Umrah, Financial, Administration, Compliance
    // TenantSuperAdmin
    [RCUDX, RCUDX, RCUDX, RCUDA, Grants::of(&[R, X])],
    // Admin (financial read only; super admins and keys excluded by deny rules)
    [RCUDX, RCUDX, Grants::of(&[R]), RCUDA, Grants::of(&[R])],
    // Finance (operational read only; compliance limited to financial events by the service)
    [
        Grants::of(&[R]),
        Grants::of(&[R]),
        Grants::of(&[R, C, U, X]),
        NONE,
        Grants::of(&[R]),
    ],
    // Sales ("D: cancel")
    [
        Grants::of(&[R, C, U, K]),
        Grants::of(&[R]),
        NONE,
        NONE,
        NONE,
    ],
    // Umrah
    [NONE, RCUDX, NONE, NONE, NONE],
];

/// What the system principal (background jobs) may do on every class: read,
/// create, update and send — never delete or export, and never anything
/// critical (the policy denies that before grants are read).
pub(crate) const SYSTEM: Grants = Grants::of(&[R, C, U, A]);

/// The grants of `role` on `class`.
pub const fn grants(role: Role, class: ResourceClass) -> Grants {
    let row = match role {
        Role::TenantSuperAdmin => 0,
        Role::Admin => 1,
        Role::Finance => 2,
        Role::Sales => 3,
        Role::Umrah => 4,
    };
    TABLE[row][class.index()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_implies_cancel_but_cancel_does_not_imply_delete() {
        assert!(RCUDX.allows(Verb::Cancel));
        let sales = grants(Role::Sales, ResourceClass::Operational);
        assert!(sales.allows(Verb::Cancel));
        assert!(!sales.allows(Verb::Delete));
    }

    #[test]
    fn nobody_but_the_super_admin_exports_compliance_data() {
        for role in Role::ALL {
            let can = grants(role, ResourceClass::Compliance).allows(Verb::Export);
            assert_eq!(can, role == Role::TenantSuperAdmin, "{role}");
        }
    }
}
