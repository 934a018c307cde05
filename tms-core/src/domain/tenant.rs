//! Tenants (agencies) and their branches (offices).

use chrono::{DateTime, Utc};

use crate::domain::{Name, TenantSlug};
use crate::id::{BranchId, TenantId};
use crate::money::Currency;

/// One agency. Everything else belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tenant {
    /// Identity.
    pub id: TenantId,
    /// The short name used at login.
    pub slug: TenantSlug,
    /// The agency's display name, in any script.
    pub name: Name,
    /// The currency its books are kept in.
    pub base_currency: Currency,
    /// When it was provisioned.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version, bumped on every update.
    pub version: i64,
}

/// An office of a tenant. Operational and financial records carry its id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Branch {
    /// Identity.
    pub id: BranchId,
    /// Owner.
    pub tenant_id: TenantId,
    /// Display name, in any script.
    pub name: Name,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it was closed; a closed branch takes no new records.
    pub closed_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl Branch {
    /// Whether the branch still takes new records.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// A tenant's own security and behaviour settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantSettings {
    /// Owner.
    pub tenant_id: TenantId,
    /// Whether Tenant Super Admins and Admins must use a second factor.
    pub require_two_factor_for_admins: bool,
    /// Minutes of inactivity after which a session ends (default 30).
    pub session_idle_minutes: u32,
    /// Hours after which a session ends whatever the activity (default 12).
    pub session_absolute_hours: u32,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl TenantSettings {
    /// The defaults a new tenant starts with.
    pub fn defaults(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            require_two_factor_for_admins: false,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            version: 1,
        }
    }
}
