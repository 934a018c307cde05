//! Umrah: groups, families, pilgrims, rooming and the group manifest
//! (DESIGN.md §6, issue 6).
//!
//! One [`Umrah`] value holds the shared [`Deps`], the key ring that seals
//! passport numbers, and the tenant's [`MahramRule`]. Each job has its own
//! module: [`groups`] (life cycle with audited transitions), [`pilgrims`]
//! (sealed passports, blind-index lookup, families), [`rooms`] (capacity,
//! gender and family rules, safe under concurrent assignment) and
//! [`manifest`] (the CSV export, an `Export` action) and [`import`] (pilgrims
//! from CSV, all or nothing).
//!
//! Every call: **authorize** (the role's grant on the kind, then the
//! record's branch — another tenant's or an unseen branch's record is
//! `NotFound`) → **validate** → **one unit of work** with the write and its
//! audit event (before/after; passport numbers only as `…67`).
//!
//! Reads show a passport number only by its last two characters; the full
//! number leaves the service in the manifest alone, which needs the Export
//! grant and is audited.

pub mod groups;
pub mod import;
pub mod manifest;
pub mod pilgrims;
pub mod rooms;

use crate::service::guard::authorize_in as authorize;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{
    Context, MahramRule, PassportNumber, Pilgrim, StoredPassport, UmrahFamily, UmrahGroup,
};
use crate::error::{Error, Result};
use crate::id::{PilgrimId, TenantId};
use crate::policy::{self, Action, Decision, Resource, ResourceKind};
use crate::security::keyring::{KeyRing, SealContext};
pub use crate::service::tenancy::Deps;

pub use groups::{GroupChange, NewGroup};
pub use import::PILGRIM_IMPORT_COLUMNS;
pub use pilgrims::{NewFamily, NewPilgrim, PilgrimChange, PilgrimView};
pub use rooms::{Assignee, NewRoom, RoomWithOccupants};

/// The Umrah service.
#[derive(Debug, Clone)]
pub struct Umrah {
    deps: Deps,
    keyring: Arc<KeyRing>,
    mahram: MahramRule,
}

impl Umrah {
    /// The service over `deps`, sealing passport numbers with `keyring`,
    /// with the default [`MahramRule`].
    pub fn new(deps: Deps, keyring: Arc<KeyRing>) -> Self {
        Self {
            deps,
            keyring,
            mahram: MahramRule::default(),
        }
    }

    /// The tenant's mahram rule (see [`MahramRule`] for why it is a choice).
    pub fn with_mahram_rule(mut self, rule: MahramRule) -> Self {
        self.mahram = rule;
        self
    }

    /// The shared dependencies.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// The mahram rule in force.
    pub fn mahram_rule(&self) -> MahramRule {
        self.mahram
    }

    /// Seals `number` for pilgrim `row` and computes its blind index.
    fn seal_passport(
        &self,
        tenant: TenantId,
        row: PilgrimId,
        number: &PassportNumber,
    ) -> Result<StoredPassport> {
        let sealed = self.keyring.seal(
            number.expose().as_bytes(),
            &passport_seal(tenant, row),
            self.deps.random.as_ref(),
        )?;
        let index = self
            .keyring
            .blind_index(tenant, PASSPORT_FIELD, number.expose().as_bytes())?;
        Ok(StoredPassport {
            sealed,
            index,
            hint: passport_hint(number),
        })
    }

    /// Opens a pilgrim's passport number (manifest only).
    fn open_passport(&self, pilgrim: &Pilgrim) -> Result<String> {
        let opened = self.keyring.open_string(
            &pilgrim.passport.sealed,
            &passport_seal(pilgrim.tenant_id, pilgrim.id),
        )?;
        Ok(opened.expose().clone())
    }
}

/// The field name of sealed passport numbers and their blind index.
const PASSPORT_FIELD: &str = "passport_number";

/// Where a pilgrim's passport number is sealed.
fn passport_seal(tenant: TenantId, row: PilgrimId) -> SealContext<'static> {
    SealContext {
        tenant_id: tenant,
        table: "pilgrims",
        row: row.as_uuid(),
        field: PASSPORT_FIELD,
    }
}

/// `…` and the last two characters: what people and the audit log see.
fn passport_hint(number: &PassportNumber) -> String {
    let full = number.expose();
    let tail = full.get(full.len().saturating_sub(2)..).unwrap_or("");
    format!("…{tail}")
}

/// The first check of every call: may this role do `action` on records of
/// `kind` at all? (Branch scope and confirmation come once the record's
/// branch is known.) A role without the grant is `Forbidden` even for an
/// id that does not exist.
fn precheck(ctx: &Context, action: Action, kind: ResourceKind) -> Result<()> {
    let resource = Resource::new(kind, ctx.principal.tenant_id());
    match policy::authorize(&ctx.principal, action, &resource) {
        Decision::Deny(reason) => Err(reason.into_error(kind)),
        Decision::Allow | Decision::ConfirmationRequired(_) => Ok(()),
    }
}

/// The audit snapshot of a group.
fn group_json(group: &UmrahGroup) -> Value {
    json!({
        "name": group.name,
        "season": group.season,
        "package_id": group.package_id,
        "departure_date": group.departure_date,
        "return_date": group.return_date,
        "leader": group.leader,
        "capacity": group.capacity,
        "status": group.status,
    })
}

/// The audit snapshot of a pilgrim: the passport number only as its hint
/// (`…67`), under keys that the audit redaction leaves readable.
fn pilgrim_json(p: &Pilgrim) -> Value {
    json!({
        "group_id": p.group_id,
        "family_id": p.family_id,
        "name": p.name,
        "latin_name": p.latin_name,
        "gender": p.gender,
        "date_of_birth": p.date_of_birth,
        "nationality": p.nationality,
        "document_hint": p.passport.hint,
        "document_expiry": p.passport_expiry,
        "visa_status": p.visa_status,
        "visa_number": p.visa_number,
        "client_id": p.client_id,
        "mahram_id": p.mahram_id,
        "mahram_relation": p.mahram_relation,
    })
}

/// The audit snapshot of a family.
fn family_json(f: &UmrahFamily) -> Value {
    json!({
        "group_id": f.group_id,
        "name": f.name,
        "head_pilgrim_id": f.head_pilgrim_id,
    })
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit
/// `null` (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The error for a group that is not in a state that allows `what`.
fn wrong_state(group: &UmrahGroup, what: &str) -> Error {
    Error::conflict(format!(
        "the group is {}: {what} is not possible now",
        group.status
    ))
}
