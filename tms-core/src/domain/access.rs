//! Who acts: roles, branch scopes, principals, and the per-call context.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::id::{BranchId, RequestId, TenantId, UserId};

/// A user's role within their tenant (DESIGN.md §3).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Owns the tenant: everything, every branch, including key material.
    TenantSuperAdmin,
    /// Runs the agency: operations and administration, reads finance.
    Admin,
    /// Invoices, payments, refunds, reports; reads operations.
    Finance,
    /// Clients, bookings, tickets; reads Umrah.
    Sales,
    /// Umrah groups, families and pilgrims.
    Umrah,
}

impl Role {
    /// Every role, in table order.
    pub const ALL: [Role; 5] = [
        Role::TenantSuperAdmin,
        Role::Admin,
        Role::Finance,
        Role::Sales,
        Role::Umrah,
    ];

    /// The stable name used in storage, JSON and the audit log.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::TenantSuperAdmin => "tenant_super_admin",
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Sales => "sales",
            Role::Umrah => "umrah",
        }
    }

    /// Parses [`Role::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| Error::invalid("role", "unknown role"))
    }

    /// Whether a tenant may require 2FA for this role (the admin roles).
    pub const fn is_admin(self) -> bool {
        matches!(self, Role::TenantSuperAdmin | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sorted, duplicate-free set of branches. Membership is a binary search,
/// so checking it on the policy's hot path allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(from = "Vec<BranchId>", into = "Vec<BranchId>")]
pub struct BranchSet(Box<[BranchId]>);

impl BranchSet {
    /// Whether `branch` is in the set.
    pub fn contains(&self, branch: BranchId) -> bool {
        self.0.binary_search(&branch).is_ok()
    }

    /// The branches, in id order.
    pub fn iter(&self) -> impl Iterator<Item = BranchId> + '_ {
        self.0.iter().copied()
    }

    /// Number of branches.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no branch is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<BranchId> for BranchSet {
    fn from_iter<I: IntoIterator<Item = BranchId>>(iter: I) -> Self {
        let mut branches: Vec<BranchId> = iter.into_iter().collect();
        branches.sort_unstable();
        branches.dedup();
        Self(branches.into_boxed_slice())
    }
}

impl From<Vec<BranchId>> for BranchSet {
    fn from(branches: Vec<BranchId>) -> Self {
        branches.into_iter().collect()
    }
}

impl From<BranchSet> for Vec<BranchId> {
    fn from(set: BranchSet) -> Self {
        set.0.into_vec()
    }
}

impl fmt::Debug for BranchSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|b| b.as_uuid()))
            .finish()
    }
}

/// Which branches a user may see: all of them, or an explicit set granted
/// by a Tenant Super Admin.
///
/// ```
/// use tms_core::domain::BranchScope;
/// use tms_core::id::BranchId;
/// let (a, b) = (BranchId::new(), BranchId::new());
/// let scope = BranchScope::only([a]);
/// assert!(scope.contains(a) && !scope.contains(b));
/// assert!(BranchScope::All.contains(b));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "branches", rename_all = "snake_case")]
pub enum BranchScope {
    /// Every branch of the tenant, present and future.
    All,
    /// Only these branches (possibly none).
    Only(BranchSet),
}

impl BranchScope {
    /// A scope of exactly these branches.
    pub fn only(branches: impl IntoIterator<Item = BranchId>) -> Self {
        BranchScope::Only(branches.into_iter().collect())
    }

    /// Whether `branch` is inside the scope.
    pub fn contains(&self, branch: BranchId) -> bool {
        match self {
            BranchScope::All => true,
            BranchScope::Only(set) => set.contains(branch),
        }
    }
}

/// A signed-in user as the policy sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    /// The user.
    pub user_id: UserId,
    /// Their tenant.
    pub tenant_id: TenantId,
    /// Their role.
    pub role: Role,
    /// The branches they may see (ignored for a Tenant Super Admin, who sees all).
    pub scope: BranchScope,
}

/// Who performs an action: a signed-in user, or the system itself (a worker
/// acting for one tenant, e.g. the outbox sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A person.
    User(UserPrincipal),
    /// A background job acting within one tenant.
    System {
        /// The tenant the job works for; it never sees another.
        tenant_id: TenantId,
        /// The job's name, for the audit log (`"outbox"`, `"mail-sync"`, …).
        job: &'static str,
    },
}

impl Principal {
    /// A user principal.
    pub fn user(user_id: UserId, tenant_id: TenantId, role: Role, scope: BranchScope) -> Self {
        Principal::User(UserPrincipal {
            user_id,
            tenant_id,
            role,
            scope,
        })
    }

    /// A system principal for `job`, bound to one tenant.
    pub const fn system(tenant_id: TenantId, job: &'static str) -> Self {
        Principal::System { tenant_id, job }
    }

    /// The tenant this principal acts in.
    pub const fn tenant_id(&self) -> TenantId {
        match self {
            Principal::User(user) => user.tenant_id,
            Principal::System { tenant_id, .. } => *tenant_id,
        }
    }

    /// The acting user, if a person acts.
    pub const fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::User(user) => Some(user.user_id),
            Principal::System { .. } => None,
        }
    }

    /// The acting user's role, if a person acts.
    pub const fn role(&self) -> Option<Role> {
        match self {
            Principal::User(user) => Some(user.role),
            Principal::System { .. } => None,
        }
    }

    /// The branches this principal may see. A Tenant Super Admin and the
    /// system see every branch whatever their stored scope says.
    pub fn effective_scope(&self) -> &BranchScope {
        const ALL: &BranchScope = &BranchScope::All;
        match self {
            Principal::User(user) if user.role != Role::TenantSuperAdmin => &user.scope,
            _ => ALL,
        }
    }

    /// Whether `branch` is inside [`Self::effective_scope`].
    pub fn sees_branch(&self, branch: BranchId) -> bool {
        self.effective_scope().contains(branch)
    }

    /// A short label for the audit log: the user id or `system:<job>`.
    pub fn audit_label(&self) -> String {
        match self {
            Principal::User(user) => user.user_id.to_string(),
            Principal::System { job, .. } => format!("system:{job}"),
        }
    }
}

/// Everything a service call needs to know about its caller and moment.
#[derive(Debug, Clone)]
pub struct Context {
    /// Who acts.
    pub principal: Principal,
    /// The caller's IP address, when known.
    pub ip: Option<IpAddr>,
    /// The caller's user agent, when known (truncated to 512 characters).
    pub user_agent: Option<String>,
    /// Correlates logs, audit events and the HTTP response.
    pub request_id: RequestId,
    /// The instant of the call; the service uses this, never the wall clock.
    pub now: DateTime<Utc>,
}

impl Context {
    /// Longest user agent kept, in characters.
    pub const MAX_USER_AGENT: usize = 512;

    /// A context for `principal` at `now`, with no network details.
    pub fn new(principal: Principal, now: DateTime<Utc>) -> Self {
        Self {
            principal,
            ip: None,
            user_agent: None,
            request_id: RequestId::new(),
            now,
        }
    }

    /// Adds the caller's IP address.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Adds the caller's user agent, truncated to [`Self::MAX_USER_AGENT`]
    /// characters so that a hostile header cannot bloat the audit log.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = Some(user_agent.chars().take(Self::MAX_USER_AGENT).collect());
        self
    }

    /// Sets the request id (e.g. from an incoming `X-Request-Id`).
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = request_id;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn branch_sets_ignore_order_and_duplicates() {
        let (a, b) = (BranchId::new(), BranchId::new());
        assert_eq!(BranchSet::from(vec![b, a, b]), BranchSet::from(vec![a, b]));
        assert_eq!(BranchSet::from(vec![b, a, b]).len(), 2);
    }

    #[test]
    fn a_super_admin_sees_every_branch_whatever_the_stored_scope() {
        let tenant = TenantId::new();
        let branch = BranchId::new();
        let empty = BranchScope::only([]);
        let owner = Principal::user(UserId::new(), tenant, Role::TenantSuperAdmin, empty.clone());
        let admin = Principal::user(UserId::new(), tenant, Role::Admin, empty);
        assert!(owner.sees_branch(branch));
        assert!(!admin.sees_branch(branch));
        assert!(Principal::system(tenant, "outbox").sees_branch(branch));
    }

    #[test]
    fn scope_serializes_with_a_kind_tag() {
        let json = serde_json::to_string(&BranchScope::All).unwrap();
        assert_eq!(json, r#"{"kind":"all"}"#);
        let back: BranchScope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, BranchScope::All);
    }

    #[test]
    fn user_agents_are_truncated() {
        let ctx = Context::new(Principal::system(TenantId::new(), "t"), Utc::now())
            .with_user_agent(&"a".repeat(10_000));
        assert_eq!(
            ctx.user_agent.map(|ua| ua.len()),
            Some(Context::MAX_USER_AGENT)
        );
    }
}
