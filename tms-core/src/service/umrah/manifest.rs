//! The group manifest: one CSV line per pilgrim with the full passport
//! number, for the airline, the hotel and the Saudi visa platform.
//!
//! It is the one place where passport numbers leave the service in clear,
//! so it is an **Export** (Umrah staff, Admins, the Tenant Super Admin —
//! not Sales or Finance, who may read groups) and every export is audited
//! as `umrah.manifest.exported`. Pilgrims are read and written
//! [`PageRequest::MAX_LIMIT`] at a time, flushing after each page. Cells a
//! spreadsheet would run as a formula are prefixed with `'`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{City, Context, Room};
use crate::error::{Error, Result};
use crate::id::{PilgrimId, RoomId, UmrahFamilyId, UmrahGroupId};
use crate::policy::Action;
use crate::ports::PageRequest;

use super::Umrah;

/// The manifest's columns, in order.
pub const MANIFEST_HEADER: [&str; 13] = [
    "latin_name",
    "name",
    "gender",
    "date_of_birth",
    "nationality",
    "passport_number",
    "passport_expiry",
    "passport_expires_too_soon",
    "visa_status",
    "visa_number",
    "family",
    "room_makkah",
    "room_madinah",
];

impl Umrah {
    /// Writes the group's manifest as CSV to `out`; returns how many
    /// pilgrims it lists.
    pub async fn export_manifest<W: Write + Send>(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        out: W,
    ) -> Result<u64> {
        let (mut uow, group) = self.load_group(ctx, group_id, Action::Export, None).await?;
        let tenant = group.tenant_id;

        // Rooms and families of a group are bounded by its capacity.
        let mut rooms: HashMap<RoomId, Room> = HashMap::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = uow
                .umrah_rooms()
                .list_for_group(tenant, group_id, page)
                .await?;
            rooms.extend(batch.items.into_iter().map(|r| (r.id, r)));
            match batch.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut families: HashMap<UmrahFamilyId, String> = HashMap::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = uow
                .umrah_families()
                .list_for_group(tenant, group_id, page)
                .await?;
            families.extend(batch.items.into_iter().map(|f| (f.id, f.name.to_string())));
            match batch.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut placed: HashMap<(PilgrimId, City), RoomId> = HashMap::new();
        for a in uow
            .umrah_rooms()
            .assignments_for_group(tenant, group_id, None)
            .await?
        {
            placed.insert((a.pilgrim_id, a.city), a.room_id);
        }
        let room_cell = |pilgrim: PilgrimId, city: City| -> String {
            placed
                .get(&(pilgrim, city))
                .and_then(|id| rooms.get(id))
                .map(|r| match &r.room_number {
                    Some(n) => format!("{} {} ({})", r.hotel, n.as_str(), r.room_type),
                    None => format!("{} ({})", r.hotel, r.room_type),
                })
                .unwrap_or_default()
        };

        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(MANIFEST_HEADER).map_err(csv_err)?;
        let mut written = 0u64;
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = uow
                .pilgrims()
                .list_for_group(tenant, group_id, page)
                .await?;
            for p in &batch.items {
                let view = self.view(&group, p.clone());
                let record = [
                    p.latin_name.as_str().to_owned(),
                    p.name.to_string(),
                    p.gender.as_str().to_owned(),
                    p.date_of_birth.to_string(),
                    p.nationality.as_str().to_owned(),
                    self.open_passport(p)?,
                    p.passport_expiry.to_string(),
                    view.passport_expires_too_soon.to_string(),
                    p.visa_status.as_str().to_owned(),
                    p.visa_number
                        .as_ref()
                        .map(|v| v.as_str().to_owned())
                        .unwrap_or_default(),
                    p.family_id
                        .and_then(|f| families.get(&f).cloned())
                        .unwrap_or_default(),
                    room_cell(p.id, City::Makkah),
                    room_cell(p.id, City::Madinah),
                ];
                csv.write_record(record.iter().map(|c| defuse_formula(c).into_owned()))
                    .map_err(csv_err)?;
                written += 1;
            }
            csv.flush().map_err(io_err)?;
            match batch.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.manifest.exported",
                    "umrah_group",
                    Some(group_id.into()),
                )
                .in_branch(group.branch_id)
                .with_change(None, Some(json!({ "pilgrims": written, "format": "csv" }))),
            )
            .await?;
        uow.commit().await?;
        Ok(written)
    }
}

fn defuse_formula(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn csv_err(e: csv::Error) -> Error {
    Error::unavailable(format!("manifest export: {e}"))
}

fn io_err(e: std::io::Error) -> Error {
    Error::unavailable(format!("manifest export: {}", e.kind()))
}
