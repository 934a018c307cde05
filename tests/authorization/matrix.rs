//! The whole authorization matrix of DESIGN.md §3, generated, plus
//! properties that must hold for any request.
//!
//! The expected decisions are NOT taken from `tms_core::policy::table` or
//! any other part of the engine: they come from the text tables below,
//! copied from DESIGN.md §3 (and the interpretation notes in the policy
//! module docs), parsed here and evaluated by [`Spec::expect`], written in
//! the order DESIGN.md gives: tenant → branch scope → fixed rules → grants →
//! critical actions. Every combination of principal (each role with several
//! branch scopes, and the system principal) × action × resource kind ×
//! tenant × branch × flags is checked; all mismatches are listed at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use proptest::prelude::*;
use tms_core::Error;
use tms_core::domain::{BranchScope, Principal, Role};
use tms_core::id::{BranchId, TenantId, UserId};
use tms_core::policy::{Action, Decision, DenyReason, Resource, ResourceKind, authorize};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The specification, as text (DESIGN.md §3).
// ---------------------------------------------------------------------------

/// Role grants. Letters: R read, C create, U update, D delete, X export,
/// A approve/send; `+cancel` is Sales' "D: cancel" (a cancel right without
/// delete). Holding D includes the right to cancel. `-` is nothing.
const GRANTS: &str = "
    class          | tenant_super_admin | admin | finance | sales      | umrah
    Operational    | RCUDX              | RCUDX | R       | RCU+cancel | -
    Umrah          | RCUDX              | RCUDX | R       | R          | RCUDX
    Financial      | RCUDX              | R     | RCUX    | -          | -
    Administration | RCUDA              | RCUDA | -       | -          | -
    Compliance     | RX                 | R     | R       | -          | -
";

/// The system principal (background jobs): R/C/U/A on every class, never a
/// critical action.
const SYSTEM_GRANTS: &str = "RCUA";

/// Resource classes and their kinds.
const CLASSES: &str = "
    Operational:    Client Booking Ticket Package Category Document File
    Umrah:          UmrahGroup UmrahFamily Pilgrim
    Financial:      Payment Invoice Refund LedgerEntry FinancialReport
    Administration: User Branch TenantSettings MailConnection Template Campaign
    Compliance:     AuditLog ActivityReport PrivacyRequest
    Operational:    SupportTicket
    Administration: MailRule MailOpsSettings
";

/// Actions: the right each needs, the one kind a restricted action applies
/// to, and when it is critical (with the `Critical` reason's name).
/// Erasure is exercised under the X right on Compliance; disconnecting a
/// mail account under D; rotating keys, changing access and resetting 2FA
/// under U; sending a campaign under A.
const ACTIONS: &str = "
    action         | right  | only on        | critical      | why
    Read           | R      | *              | never         | -
    Create         | C      | *              | on Refund     | Refund
    Update         | U      | *              | never         | -
    Delete         | D      | *              | unless draft  | DeleteNonDraft
    Export         | X      | *              | never         | -
    Approve        | A      | *              | never         | -
    Cancel         | cancel | *              | never         | -
    ChangeAccess   | U      | User           | always        | ChangeAccess
    ResetTwoFactor | U      | User           | unless own    | ResetTwoFactor
    Disconnect     | D      | MailConnection | always        | Disconnect
    RotateKeys     | U      | TenantSettings | always        | RotateKeys
    Send           | A      | Campaign       | always        | SendCampaign
    Erase          | X      | PrivacyRequest | always        | Erase
    Void           | U      | Invoice        | always        | Void
";

/// A set of rights from the table: letters plus the cancel right.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rights {
    letters: BTreeSet<char>,
    cancel: bool,
}

impl Rights {
    fn parse(cell: &str) -> Self {
        let cell = cell.trim();
        if cell == "-" {
            return Rights {
                letters: BTreeSet::new(),
                cancel: false,
            };
        }
        let (letters, cancel) = match cell.strip_suffix("+cancel") {
            Some(rest) => (rest, true),
            None => (cell, false),
        };
        let letters: BTreeSet<char> = letters.chars().collect();
        for l in &letters {
            assert!("RCUDXA".contains(*l), "unknown right {l:?} in {cell:?}");
        }
        // Whoever may delete a record may also cancel it.
        let cancel = cancel || letters.contains(&'D');
        Rights { letters, cancel }
    }

    fn holds(&self, right: &str) -> bool {
        match right {
            "cancel" => self.cancel,
            one => {
                let mut chars = one.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    panic!("bad right {right:?}");
                };
                self.letters.contains(&c)
            }
        }
    }
}

#[derive(Debug, Clone)]
struct ActionSpec {
    right: String,
    only_on: Option<String>,
    critical: String,
    why: String,
}

/// The parsed tables.
struct Spec {
    /// (class, role name) → rights.
    grants: BTreeMap<(String, String), Rights>,
    system: Rights,
    /// kind name → class name.
    class_of: BTreeMap<String, String>,
    actions: BTreeMap<String, ActionSpec>,
}

fn cells(line: &str) -> Vec<String> {
    line.split('|').map(|c| c.trim().to_string()).collect()
}

impl Spec {
    fn parse() -> Self {
        let mut lines = GRANTS.lines().map(str::trim).filter(|l| !l.is_empty());
        let header = cells(lines.next().unwrap());
        assert_eq!(header[0], "class");
        let roles = &header[1..];
        assert_eq!(roles.len(), Role::ALL.len());
        let mut grants = BTreeMap::new();
        for line in lines {
            let row = cells(line);
            assert_eq!(row.len(), header.len(), "{line}");
            for (role, cell) in roles.iter().zip(&row[1..]) {
                grants.insert((row[0].clone(), role.clone()), Rights::parse(cell));
            }
        }

        let mut class_of = BTreeMap::new();
        for line in CLASSES.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (class, kinds) = line.split_once(':').unwrap();
            for kind in kinds.split_whitespace() {
                let old = class_of.insert(kind.to_string(), class.trim().to_string());
                assert!(old.is_none(), "{kind} listed twice");
            }
        }

        let mut lines = ACTIONS.lines().map(str::trim).filter(|l| !l.is_empty());
        let header = cells(lines.next().unwrap());
        assert_eq!(header, ["action", "right", "only on", "critical", "why"]);
        let mut actions = BTreeMap::new();
        for line in lines {
            let row = cells(line);
            let only_on = (row[2] != "*").then(|| row[2].clone());
            actions.insert(
                row[0].clone(),
                ActionSpec {
                    right: row[1].clone(),
                    only_on,
                    critical: row[3].clone(),
                    why: row[4].clone(),
                },
            );
        }

        let spec = Spec {
            grants,
            system: Rights::parse(SYSTEM_GRANTS),
            class_of,
            actions,
        };
        // The tables name every kind and action of the engine, and no others.
        let kinds: BTreeSet<String> = ResourceKind::ALL.iter().map(|k| format!("{k:?}")).collect();
        assert_eq!(kinds, spec.class_of.keys().cloned().collect());
        let actions: BTreeSet<String> = Action::ALL.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(actions, spec.actions.keys().cloned().collect());
        for a in spec.actions.values() {
            if let Some(kind) = &a.only_on {
                assert!(spec.class_of.contains_key(kind), "{kind}");
            }
        }
        spec
    }

    /// The decision DESIGN.md asks for.
    fn expect(&self, who: &Who, action: Action, res: &Res) -> Expect {
        let a = &self.actions[&format!("{action:?}")];
        let kind = format!("{:?}", res.kind);
        let class = self.class_of[&kind].as_str();

        // Tenant isolation, then branch scope: both look like "not found".
        if who.tenant != res.tenant {
            return Expect::NotFound(Hidden::Tenant);
        }
        if let Some(branch) = res.branch {
            let sees_all = match who.role {
                None => true,                         // jobs work for the whole tenant
                Some(Role::TenantSuperAdmin) => true, // consolidated reporting
                Some(_) => match &who.scope {
                    Scope::All => true,
                    Scope::Only(set) => set.contains(&branch),
                },
            };
            if !sees_all {
                return Expect::NotFound(Hidden::Branch);
            }
        }
        // Restricted actions exist for one kind only.
        if let Some(only) = &a.only_on
            && *only != kind
        {
            return Expect::Forbidden;
        }

        let critical = match a.critical.as_str() {
            "never" => false,
            "always" => true,
            "unless draft" => !res.draft,
            "unless own" => !(who.user.is_some() && res.id == who.user),
            cond => {
                let target = cond.strip_prefix("on ").unwrap();
                kind == target
            }
        };

        let rights = match who.role {
            None => {
                if critical {
                    return Expect::Forbidden; // critical actions need a person
                }
                &self.system
            }
            Some(role) => {
                let writes = matches!(a.right.as_str(), "C" | "U" | "D" | "cancel");
                // Admins never create, modify or delete financial records.
                if role == Role::Admin && writes && class == "Financial" {
                    return Expect::Forbidden;
                }
                // Finance never creates, modifies or deletes operational data.
                if role == Role::Finance && writes && matches!(class, "Operational" | "Umrah") {
                    return Expect::Forbidden;
                }
                // Admins: "not super admins, not settings keys" — neither
                // touching one, nor making one, nor writing a user whose
                // role the request leaves unknown.
                let super_admin_involved = res.subject_role.is_none()
                    || res.subject_role == Some(Role::TenantSuperAdmin)
                    || res.granted_role == Some(Role::TenantSuperAdmin);
                if role == Role::Admin
                    && kind == "User"
                    && super_admin_involved
                    && action != Action::Read
                {
                    return Expect::Forbidden;
                }
                if role == Role::Admin && action == Action::RotateKeys {
                    return Expect::Forbidden;
                }
                &self.grants[&(class.to_string(), role.as_str().to_string())]
            }
        };
        if !rights.holds(&a.right) {
            return Expect::Forbidden;
        }
        if critical {
            Expect::Confirm(a.why.clone())
        } else {
            Expect::Allow
        }
    }
}

// ---------------------------------------------------------------------------
// Cases: abstract principals and resources, turned into engine values.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hidden {
    Tenant,
    Branch,
}

/// An outcome, as a service would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Allow,
    /// Allowed after confirmation; the `Critical` reason's name.
    Confirm(String),
    /// Denied, shown as `Error::NotFound`.
    NotFound(Hidden),
    /// Denied, shown as `Error::Forbidden`.
    Forbidden,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the engine said, in the same terms, or why it cannot be said so.
fn observed(decision: Decision, kind: ResourceKind) -> Result<Expect, String> {
    match decision {
        Decision::Allow => Ok(Expect::Allow),
        Decision::ConfirmationRequired(why) => Ok(Expect::Confirm(format!("{why:?}"))),
        Decision::Deny(reason) => match reason.into_error(kind) {
            Error::NotFound { what } => {
                if what != kind.what() {
                    return Err(format!("NotFound names {what:?}, not {:?}", kind.what()));
                }
                match reason {
                    DenyReason::TenantMismatch => Ok(Expect::NotFound(Hidden::Tenant)),
                    DenyReason::OutOfBranchScope => Ok(Expect::NotFound(Hidden::Branch)),
                    other => Err(format!("{other:?} is hidden as NotFound")),
                }
            }
            Error::Forbidden { reason: shown } => {
                if shown != reason {
                    return Err(format!("Forbidden carries {shown:?}, not {reason:?}"));
                }
                if matches!(
                    reason,
                    DenyReason::TenantMismatch | DenyReason::OutOfBranchScope
                ) {
                    return Err(format!("{reason:?} is shown as Forbidden"));
                }
                Ok(Expect::Forbidden)
            }
            other => Err(format!("{reason:?} maps to {other:?}")),
        },
    }
}

#[derive(Debug, Clone)]
enum Scope {
    All,
    Only(Vec<BranchId>),
}

/// A principal, abstractly. `role: None` is the system.
#[derive(Debug, Clone)]
struct Who {
    role: Option<Role>,
    tenant: TenantId,
    scope: Scope,
    user: Option<Uuid>,
    label: String,
}

impl Who {
    fn principal(&self) -> Principal {
        match self.role {
            None => Principal::system(self.tenant, "matrix"),
            Some(role) => {
                let scope = match &self.scope {
                    Scope::All => BranchScope::All,
                    Scope::Only(set) => BranchScope::only(set.iter().copied()),
                };
                Principal::user(
                    UserId::from_uuid(self.user.unwrap()),
                    self.tenant,
                    role,
                    scope,
                )
            }
        }
    }
}

/// A resource, abstractly.
/// A user-record variant: label, id, subject role, granted role.
type Variant = (String, Option<Uuid>, Option<Role>, Option<Role>);

#[derive(Debug, Clone)]
struct Res {
    kind: ResourceKind,
    tenant: TenantId,
    branch: Option<BranchId>,
    id: Option<Uuid>,
    draft: bool,
    subject_role: Option<Role>,
    granted_role: Option<Role>,
    label: String,
}

impl Res {
    fn resource(&self) -> Resource {
        let mut r = Resource::new(self.kind, self.tenant);
        if let Some(b) = self.branch {
            r = r.in_branch(b);
        }
        if let Some(id) = self.id {
            r = r.with_id(id);
        }
        if self.draft {
            r = r.draft();
        }
        if let Some(role) = self.subject_role {
            r = r.with_subject_role(role);
        }
        if let Some(role) = self.granted_role {
            r = r.granting_role(role);
        }
        r
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

#[test]
fn the_whole_matrix_matches_design_md() {
    let spec = Spec::parse();
    let home = TenantId::from_uuid(id(1));
    let other_tenant = TenantId::from_uuid(id(2));
    let (a, b, c) = (
        BranchId::from_uuid(id(11)),
        BranchId::from_uuid(id(12)),
        BranchId::from_uuid(id(13)),
    );
    let stranger = id(99); // some other user of the tenant

    // Principals: each role with four scopes, and the system.
    let mut people = Vec::new();
    let mut n = 100;
    for role in Role::ALL {
        for (scope_label, scope) in [
            ("{a}", Scope::Only(vec![a])),
            ("{a,b}", Scope::Only(vec![a, b])),
            ("all", Scope::All),
            ("{}", Scope::Only(vec![])),
        ] {
            n += 1;
            people.push(Who {
                role: Some(role),
                tenant: home,
                scope,
                user: Some(id(n)),
                label: format!("{role} scope={scope_label}"),
            });
        }
    }
    people.push(Who {
        role: None,
        tenant: home,
        scope: Scope::All,
        user: None,
        label: "system".into(),
    });

    let mut checked = 0usize;
    let mut by_outcome: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for who in &people {
        let principal = who.principal();
        // Resources this principal is checked against.
        let mut resources = Vec::new();
        for (tenant_label, tenant) in [("same tenant", home), ("other tenant", other_tenant)] {
            for (branch_label, branch) in [
                ("tenant-level", None),
                ("branch a", Some(a)),
                ("branch b", Some(b)),
                ("branch c", Some(c)),
            ] {
                for &kind in ResourceKind::ALL {
                    for draft in [false, true] {
                        let mut variants: Vec<Variant> = Vec::new();
                        if kind == ResourceKind::User {
                            let mut ids = vec![("other user", Some(stranger)), ("list", None)];
                            if let Some(me) = who.user {
                                ids.push(("own account", Some(me)));
                            }
                            for (id_label, rid) in ids {
                                for subject in
                                    [None, Some(Role::TenantSuperAdmin), Some(Role::Admin)]
                                {
                                    for granted in
                                        [None, Some(Role::TenantSuperAdmin), Some(Role::Sales)]
                                    {
                                        let s = subject.map_or("-".to_string(), |r| r.to_string());
                                        let g = granted.map_or("-".to_string(), |r| r.to_string());
                                        variants.push((
                                            format!("{id_label}, subject {s}, granting {g}"),
                                            rid,
                                            subject,
                                            granted,
                                        ));
                                    }
                                }
                            }
                        } else {
                            variants.push(("one record".into(), Some(id(500)), None, None));
                            variants.push(("list".into(), None, None, None));
                        }
                        for (flags, rid, subject_role, granted_role) in variants {
                            resources.push(Res {
                                kind,
                                tenant,
                                branch,
                                id: rid,
                                draft,
                                subject_role,
                                granted_role,
                                label: format!(
                                    "{kind:?} ({tenant_label}, {branch_label}, {}{flags})",
                                    if draft { "draft, " } else { "" }
                                ),
                            });
                        }
                    }
                }
            }
        }
        for res in &resources {
            let resource = res.resource();
            for action in Action::ALL {
                checked += 1;
                let want = spec.expect(who, action, res);
                let got = observed(authorize(&principal, action, &resource), res.kind);
                *by_outcome
                    .entry(match want {
                        Expect::Allow => "allow",
                        Expect::Confirm(_) => "confirmation required",
                        Expect::NotFound(_) => "denied as not found",
                        Expect::Forbidden => "denied as forbidden",
                    })
                    .or_default() += 1;
                if got.as_ref() != Ok(&want) {
                    let decision = authorize(&principal, action, &resource);
                    mismatches.push(format!(
                        "{} / {action:?} / {}: expected {want}, engine said {decision:?} ({})",
                        who.label,
                        res.label,
                        match got {
                            Ok(e) => e.to_string(),
                            Err(e) => e,
                        }
                    ));
                }
            }
        }
    }

    println!("authorization matrix: {checked} cases checked; expected outcomes: {by_outcome:?}");
    assert!(checked >= 100_000, "only {checked} cases");
    // Every kind of outcome is exercised, many times.
    for outcome in [
        "allow",
        "confirmation required",
        "denied as not found",
        "denied as forbidden",
    ] {
        assert!(
            by_outcome.get(outcome).copied().unwrap_or(0) >= 500,
            "{outcome}: {by_outcome:?}"
        );
    }
    if !mismatches.is_empty() {
        let shown: Vec<&String> = mismatches.iter().take(200).collect();
        panic!(
            "{} of {checked} cases disagree with DESIGN.md §3 (first {} listed):\n{}",
            mismatches.len(),
            shown.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A few hand-picked cells, so that a mistake in the text tables above
/// cannot silently agree with a mistake in the engine.
#[test]
fn the_spec_tables_say_what_design_md_says() {
    let spec = Spec::parse();
    let t = TenantId::from_uuid(id(1));
    let who = |role| Who {
        role: Some(role),
        tenant: t,
        scope: Scope::All,
        user: Some(id(7)),
        label: String::new(),
    };
    let res = |kind| Res {
        kind,
        tenant: t,
        branch: None,
        id: None,
        draft: false,
        subject_role: None,
        granted_role: None,
        label: String::new(),
    };
    use Action as A;
    use ResourceKind as K;
    assert_eq!(
        spec.expect(&who(Role::Sales), A::Cancel, &res(K::Booking)),
        Expect::Allow
    );
    assert_eq!(
        spec.expect(&who(Role::Sales), A::Delete, &res(K::Booking)),
        Expect::Forbidden
    );
    assert_eq!(
        spec.expect(&who(Role::Finance), A::Update, &res(K::Booking)),
        Expect::Forbidden
    );
    assert_eq!(
        spec.expect(&who(Role::Finance), A::Create, &res(K::Invoice)),
        Expect::Allow
    );
    assert_eq!(
        spec.expect(&who(Role::Finance), A::Create, &res(K::Refund)),
        Expect::Confirm("Refund".into())
    );
    assert_eq!(
        spec.expect(&who(Role::Admin), A::Create, &res(K::Payment)),
        Expect::Forbidden
    );
    assert_eq!(
        spec.expect(&who(Role::Admin), A::Read, &res(K::Payment)),
        Expect::Allow
    );
    assert_eq!(
        spec.expect(&who(Role::Admin), A::Erase, &res(K::PrivacyRequest)),
        Expect::Forbidden
    );
    assert_eq!(
        spec.expect(
            &who(Role::TenantSuperAdmin),
            A::Erase,
            &res(K::PrivacyRequest)
        ),
        Expect::Confirm("Erase".into())
    );
    assert_eq!(
        spec.expect(&who(Role::Umrah), A::Read, &res(K::Booking)),
        Expect::Forbidden
    );
    assert_eq!(
        spec.expect(&who(Role::Umrah), A::Delete, &res(K::Pilgrim).draft()),
        Expect::Allow
    );
    assert_eq!(
        spec.expect(&who(Role::Admin), A::Send, &res(K::Campaign)),
        Expect::Confirm("SendCampaign".into())
    );
    assert_eq!(
        spec.expect(&who(Role::Admin), A::RotateKeys, &res(K::TenantSettings)),
        Expect::Forbidden
    );
    let system = Who {
        role: None,
        user: None,
        ..who(Role::Admin)
    };
    assert_eq!(
        spec.expect(&system, A::Approve, &res(K::Payment)),
        Expect::Allow
    );
    assert_eq!(
        spec.expect(&system, A::Send, &res(K::Campaign)),
        Expect::Forbidden
    );
    assert_eq!(
        spec.expect(&system, A::Export, &res(K::Client)),
        Expect::Forbidden
    );
}

impl Res {
    fn draft(mut self) -> Self {
        self.draft = true;
        self
    }
}

// ---------------------------------------------------------------------------
// Properties, over arbitrary requests.
// ---------------------------------------------------------------------------

/// An arbitrary request: ids are drawn from small pools so that scopes,
/// branches and own/other ids collide often.
#[derive(Debug, Clone)]
struct Req {
    /// `None`: the system principal.
    role: Option<Role>,
    scope_all: bool,
    scope: Vec<u8>,
    action: Action,
    kind: ResourceKind,
    other_tenant: bool,
    branch: Option<u8>,
    draft: bool,
    subject_role: Option<Role>,
    granted_role: Option<Role>,
    own_id: bool,
}

const ME: u128 = 0x42;

impl Req {
    fn principal(&self) -> Principal {
        let tenant = TenantId::from_uuid(id(1));
        match self.role {
            None => Principal::system(tenant, "prop"),
            Some(role) => {
                let scope = if self.scope_all {
                    BranchScope::All
                } else {
                    BranchScope::only(
                        self.scope
                            .iter()
                            .map(|&b| BranchId::from_uuid(id(1000 + u128::from(b)))),
                    )
                };
                Principal::user(UserId::from_uuid(id(ME)), tenant, role, scope)
            }
        }
    }

    fn resource(&self) -> Resource {
        let tenant = TenantId::from_uuid(id(if self.other_tenant { 2 } else { 1 }));
        let mut r =
            Resource::new(self.kind, tenant).with_id(if self.own_id { id(ME) } else { id(0x43) });
        if let Some(b) = self.branch {
            r = r.in_branch(BranchId::from_uuid(id(1000 + u128::from(b))));
        }
        if self.draft {
            r = r.draft();
        }
        if let Some(role) = self.subject_role {
            r = r.with_subject_role(role);
        }
        if let Some(role) = self.granted_role {
            r = r.granting_role(role);
        }
        r
    }

    fn in_scope(&self) -> bool {
        match self.branch {
            None => true,
            Some(b) => self.scope_all || self.scope.contains(&b),
        }
    }

    fn decide(&self) -> Decision {
        authorize(&self.principal(), self.action, &self.resource())
    }
}

fn any_role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn any_req() -> impl Strategy<Value = Req> {
    (
        prop::option::weighted(0.9, any_role()),
        prop::bool::weighted(0.2),
        prop::collection::vec(0u8..6, 0..4),
        prop::sample::select(Action::ALL.to_vec()),
        prop::sample::select(ResourceKind::ALL.to_vec()),
        any::<bool>(),
        prop::option::weighted(0.8, 0u8..6),
        any::<bool>(),
        prop::option::of(any_role()),
        prop::option::of(any_role()),
        any::<bool>(),
    )
        .prop_map(
            |(
                role,
                scope_all,
                scope,
                action,
                kind,
                other_tenant,
                branch,
                draft,
                subject_role,
                granted_role,
                own_id,
            )| Req {
                role,
                scope_all,
                scope,
                action,
                kind,
                other_tenant,
                branch,
                draft,
                subject_role,
                granted_role,
                own_id,
            },
        )
}

/// Writes: everything that changes data — the C/U/D verbs, cancel, and the
/// named actions (change access, reset 2FA, disconnect, rotate keys, send,
/// erase) — and approving. Only reading and exporting are not writes.
fn is_write(action: Action) -> bool {
    !matches!(action, Action::Read | Action::Export)
}

fn any_write() -> impl Strategy<Value = Action> {
    prop::sample::select(
        Action::ALL
            .into_iter()
            .filter(|&a| is_write(a))
            .collect::<Vec<_>>(),
    )
}

fn grants_something(d: Decision) -> bool {
    matches!(d, Decision::Allow | Decision::ConfirmationRequired(_))
}

fn class_kinds(classes: &[&str]) -> Vec<ResourceKind> {
    let spec = Spec::parse();
    ResourceKind::ALL
        .iter()
        .copied()
        .filter(|k| classes.contains(&spec.class_of[&format!("{k:?}")].as_str()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4096,
        // Integration tests have no lib.rs for proptest's default location:
        // failures go to tests/policy_matrix.proptest-regressions.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn nothing_crosses_tenants(mut req in any_req()) {
        req.other_tenant = true;
        let d = req.decide();
        prop_assert!(!grants_something(d), "{req:?} -> {d:?}");
        prop_assert_eq!(d, Decision::Deny(DenyReason::TenantMismatch));
    }

    #[test]
    fn nothing_outside_a_users_branch_scope(
        mut req in any_req(),
        role in prop::sample::select(vec![Role::Admin, Role::Finance, Role::Sales, Role::Umrah]),
        branch in 0u8..6,
    ) {
        req.role = Some(role);
        req.other_tenant = false;
        req.scope_all = false;
        req.scope.retain(|&b| b != branch);
        req.branch = Some(branch);
        prop_assert!(!req.in_scope());
        let d = req.decide();
        prop_assert!(!grants_something(d), "{req:?} -> {d:?}");
        prop_assert_eq!(d, Decision::Deny(DenyReason::OutOfBranchScope));
    }

    #[test]
    fn a_super_admin_is_never_denied_for_branch_scope(mut req in any_req()) {
        req.role = Some(Role::TenantSuperAdmin);
        req.other_tenant = false;
        let d = req.decide();
        prop_assert_ne!(d, Decision::Deny(DenyReason::OutOfBranchScope), "{:?}", req);
        // Whatever the stored scope, the branch makes no difference.
        let tenant_level = Req { branch: None, ..req.clone() }.decide();
        prop_assert_eq!(d, tenant_level, "{:?}", req);
    }

    #[test]
    fn admins_never_make_or_touch_a_super_admin(
        mut req in any_req(),
        action in any_write(),
        via_grant in any::<bool>(),
    ) {
        req.role = Some(Role::Admin);
        req.kind = ResourceKind::User;
        req.action = action;
        if via_grant {
            req.granted_role = Some(Role::TenantSuperAdmin);
        } else {
            req.subject_role = Some(Role::TenantSuperAdmin);
        }
        let d = req.decide();
        prop_assert!(!grants_something(d), "{req:?} -> {d:?}");
    }

    #[test]
    fn finance_never_writes_operational_or_umrah_data(
        mut req in any_req(),
        kind in prop::sample::select(class_kinds(&["Operational", "Umrah"])),
        action in any_write(),
    ) {
        req.role = Some(Role::Finance);
        req.kind = kind;
        req.action = action;
        let d = req.decide();
        prop_assert!(!grants_something(d), "{req:?} -> {d:?}");
    }

    #[test]
    fn admins_never_write_financial_records(
        mut req in any_req(),
        kind in prop::sample::select(class_kinds(&["Financial"])),
        action in any_write(),
    ) {
        req.role = Some(Role::Admin);
        req.kind = kind;
        req.action = action;
        let d = req.decide();
        prop_assert!(!grants_something(d), "{req:?} -> {d:?}");
    }

    #[test]
    fn jobs_never_need_or_get_a_confirmation(mut req in any_req()) {
        req.role = None;
        let d = req.decide();
        prop_assert!(!matches!(d, Decision::ConfirmationRequired(_)), "{req:?} -> {d:?}");
    }

    #[test]
    fn only_a_super_admin_erases_or_rotates_keys(
        mut req in any_req(),
        action in prop::sample::select(vec![Action::Erase, Action::RotateKeys]),
    ) {
        req.action = action;
        let d = req.decide();
        if req.role != Some(Role::TenantSuperAdmin) {
            prop_assert!(!grants_something(d), "{req:?} -> {d:?}");
        }
    }
}
