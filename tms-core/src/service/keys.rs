//! Key rotation: re-encrypt every sealed value under the newest key of the
//! ring (DESIGN.md §4), so that an old key can eventually be retired.
//!
//! [`rotate`] pages through every sealed value of every tenant through the
//! store's [`SecretsRepo`](crate::ports::SecretsRepo), in batches of
//! [`BATCH`]; each batch is one unit of work: the rewritten values, their
//! recomputed blind indexes, and one `keys.rotated` audit event per tenant
//! touched, carrying counts — never values. A value already under the
//! newest key is left alone ([`KeyRing::reseal`] answers `None`), so an
//! interrupted rotation is simply run again; a value that does not open
//! (a key missing from the ring, altered bytes) stops the rotation with the
//! error, before its batch is committed.
//!
//! Rotation is an operator's job (`tms-server keys rotate`), run by the
//! platform, not by a tenant's user: its audit events name the system job
//! `keys`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Context, Principal};
use crate::error::Result;
use crate::id::TenantId;
use crate::ports::SealedLocation;
use crate::security::keyring::KeyRing;
use crate::service::tenancy::Deps;

/// Values re-encrypted per unit of work.
pub const BATCH: u32 = 200;

/// How far a rotation got, reported after each batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RotationProgress {
    /// Sealed values the store held when the rotation started.
    pub total: u64,
    /// Values looked at so far.
    pub seen: u64,
    /// Values re-encrypted under the newest key.
    pub resealed: u64,
    /// Values that were already under the newest key.
    pub already_current: u64,
    /// Values changed by someone else between reading and rewriting (left
    /// as they are: they were just written with the newest key).
    pub skipped_changed: u64,
}

/// Counts of one tenant in one batch.
#[derive(Debug, Default)]
struct TenantCounts {
    resealed: u64,
    reindexed: u64,
    skipped_changed: u64,
}

/// Re-encrypts every sealed value with the newest key of `keyring`;
/// `progress` is called once at the start and after every batch. See the
/// [module documentation](self).
pub async fn rotate(
    deps: &Deps,
    keyring: &KeyRing,
    mut progress: impl FnMut(RotationProgress) + Send,
) -> Result<RotationProgress> {
    let mut state = RotationProgress::default();
    {
        let mut uow = deps.store.begin().await?;
        state.total = uow.secrets().count_sealed().await?;
        uow.rollback().await?;
    }
    progress(state);
    let key_id = keyring.newest_key_id();
    let mut after: Option<SealedLocation> = None;
    loop {
        let mut uow = deps.store.begin().await?;
        let values = uow.secrets().sealed_page(after.as_ref(), BATCH).await?;
        let Some(last) = values.last() else {
            uow.rollback().await?;
            break;
        };
        after = Some(last.location.clone());
        let full = values.len() >= BATCH as usize;
        let mut per_tenant: BTreeMap<TenantId, TenantCounts> = BTreeMap::new();
        for value in &values {
            state.seen += 1;
            let context = value.context();
            let Some(resealed) = keyring.reseal(&value.sealed, &context, deps.random.as_ref())?
            else {
                state.already_current += 1;
                continue;
            };
            let index = match &value.index_field {
                Some(field) => {
                    let plain = keyring.open(&resealed, &context)?;
                    Some(keyring.blind_index(value.location.tenant_id, field, plain.expose())?)
                }
                None => None,
            };
            let counts = per_tenant.entry(value.location.tenant_id).or_default();
            if uow
                .secrets()
                .replace_sealed(&value.location, &value.sealed, &resealed, index.as_ref())
                .await?
            {
                state.resealed += 1;
                counts.resealed += 1;
                counts.reindexed += u64::from(index.is_some());
            } else {
                state.skipped_changed += 1;
                counts.skipped_changed += 1;
            }
        }
        let now = deps.clock.now();
        for (tenant, counts) in per_tenant {
            let ctx = Context::new(Principal::system(tenant, "keys"), now);
            uow.audit()
                .append(
                    NewAuditEvent::new(&ctx, "keys.rotated", "key_ring", None).with_change(
                        None,
                        Some(json!({
                            "resealed_under": key_id,
                            "resealed": counts.resealed,
                            "blind_indexes_recomputed": counts.reindexed,
                            "skipped_changed": counts.skipped_changed,
                        })),
                    ),
                )
                .await?;
        }
        uow.commit().await?;
        progress(state);
        if !full {
            break;
        }
    }
    Ok(state)
}
