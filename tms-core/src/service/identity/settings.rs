//! Tenant settings: read and update the security settings (2FA for admins,
//! session timeouts), within sane bounds.

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Context, TenantSettings};
use crate::error::{FieldErrors, Result};
use crate::policy::{Action, Resource, ResourceKind};

use super::{Identity, authorize};

/// Shortest idle timeout, in minutes.
pub const MIN_IDLE_MINUTES: u32 = 5;
/// Longest idle timeout, in minutes (one day).
pub const MAX_IDLE_MINUTES: u32 = 24 * 60;
/// Shortest absolute session lifetime, in hours.
pub const MIN_ABSOLUTE_HOURS: u32 = 1;
/// Longest absolute session lifetime, in hours (30 days).
pub const MAX_ABSOLUTE_HOURS: u32 = 30 * 24;

/// A settings change; `None` keeps the current value.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SettingsChange {
    /// Require a second factor of Admins and Tenant Super Admins.
    pub require_two_factor_for_admins: Option<bool>,
    /// Idle timeout in minutes ([`MIN_IDLE_MINUTES`]..=[`MAX_IDLE_MINUTES`]).
    pub session_idle_minutes: Option<u32>,
    /// Absolute lifetime in hours
    /// ([`MIN_ABSOLUTE_HOURS`]..=[`MAX_ABSOLUTE_HOURS`]).
    pub session_absolute_hours: Option<u32>,
}

impl Identity {
    /// The caller's tenant settings.
    pub async fn get_settings(&self, ctx: &Context) -> Result<TenantSettings> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let settings = uow.settings().get(tenant).await?;
        uow.rollback().await?;
        Ok(settings)
    }

    /// Changes the caller's tenant settings; every broken bound is reported.
    pub async fn update_settings(
        &self,
        ctx: &Context,
        change: SettingsChange,
    ) -> Result<TenantSettings> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let before = uow.settings().get(tenant).await?;
        let mut settings = before.clone();
        let mut errors = FieldErrors::new();
        if let Some(require) = change.require_two_factor_for_admins {
            settings.require_two_factor_for_admins = require;
        }
        if let Some(minutes) = change.session_idle_minutes {
            if (MIN_IDLE_MINUTES..=MAX_IDLE_MINUTES).contains(&minutes) {
                settings.session_idle_minutes = minutes;
            } else {
                errors.push(
                    "session_idle_minutes",
                    format!("must be between {MIN_IDLE_MINUTES} and {MAX_IDLE_MINUTES}"),
                );
            }
        }
        if let Some(hours) = change.session_absolute_hours {
            if (MIN_ABSOLUTE_HOURS..=MAX_ABSOLUTE_HOURS).contains(&hours) {
                settings.session_absolute_hours = hours;
            } else {
                errors.push(
                    "session_absolute_hours",
                    format!("must be between {MIN_ABSOLUTE_HOURS} and {MAX_ABSOLUTE_HOURS}"),
                );
            }
        }
        errors.into_result()?;
        if settings == before {
            return Ok(before);
        }
        uow.settings().put(&mut settings).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "tenant.settings.updated", "tenant_settings", None)
                    .with_change(
                        Some(json!({
                            "require_two_factor_for_admins": before.require_two_factor_for_admins,
                            "session_idle_minutes": before.session_idle_minutes,
                            "session_absolute_hours": before.session_absolute_hours,
                        })),
                        Some(json!({
                            "require_two_factor_for_admins": settings.require_two_factor_for_admins,
                            "session_idle_minutes": settings.session_idle_minutes,
                            "session_absolute_hours": settings.session_absolute_hours,
                        })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(settings)
    }
}
