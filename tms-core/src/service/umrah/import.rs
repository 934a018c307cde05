//! Bulk import of a group's pilgrims from CSV, on the generic import of
//! [`crate::service::import`]: every row checked (row, field, message), a
//! dry run that writes nothing, and an all-or-nothing commit.
//!
//! Beyond each field's own rules, a row is refused when its passport number
//! is already in the group or earlier in the file, or when the group would
//! go over its capacity. The group's row is locked for the whole import, so
//! a concurrent addition cannot slip past the capacity check. Families and
//! mahram links refer to other pilgrims by id: they are set afterwards.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{
    Context, Country, Gender, LatinName, Name, PassportNumber, Pilgrim, ShortRef, UmrahGroup,
    VisaStatus,
};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{PilgrimId, UmrahGroupId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::UnitOfWork;
use crate::service::import::{
    ByteSource, CsvImport, ImportColumn, ImportOptions, ImportRecord, ImportReport, ImportTarget,
};

use super::{PASSPORT_FIELD, Umrah, authorize, precheck, wrong_state};

/// The columns of a pilgrim import (aliases already normalised: lower
/// case, `_` for spaces and dashes).
pub const PILGRIM_IMPORT_COLUMNS: &[ImportColumn] = &[
    ImportColumn {
        name: "name",
        aliases: &["full_name", "name_as_typed", "arabic_name", "الاسم"],
        required: true,
    },
    ImportColumn {
        name: "latin_name",
        aliases: &["name_latin", "latin", "passport_name", "english_name"],
        required: true,
    },
    ImportColumn {
        name: "gender",
        aliases: &["sex"],
        required: true,
    },
    ImportColumn {
        name: "date_of_birth",
        aliases: &["dob", "birth_date", "birthdate", "born"],
        required: true,
    },
    ImportColumn {
        name: "nationality",
        aliases: &["country", "nationality_code"],
        required: true,
    },
    ImportColumn {
        name: "passport_number",
        aliases: &["passport", "passport_no", "passport_num"],
        required: true,
    },
    ImportColumn {
        name: "passport_expiry",
        aliases: &["passport_expires_on", "passport_expiry_date", "expiry"],
        required: true,
    },
    ImportColumn {
        name: "visa_status",
        aliases: &["visa"],
        required: false,
    },
    ImportColumn {
        name: "visa_number",
        aliases: &["visa_no"],
        required: false,
    },
    ImportColumn {
        name: "client_id",
        aliases: &["client"],
        required: false,
    },
];

/// A date as `YYYY-MM-DD`, or `DD/MM/YYYY` as spreadsheets often write it.
fn import_date(field: &'static str, raw: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map_err(|_| Error::invalid(field, "must be a date as YYYY-MM-DD or DD/MM/YYYY"))
}

/// `male`/`female`, or `M`/`F` as passports print it.
fn import_gender(raw: &str) -> Result<Gender> {
    match raw.to_ascii_lowercase().as_str() {
        "m" => Ok(Gender::Male),
        "f" => Ok(Gender::Female),
        other => Gender::parse(other),
    }
}

struct PilgrimImport {
    service: Umrah,
    group: UmrahGroup,
    now: DateTime<Utc>,
    /// Places left in the group when the import started.
    places: u64,
    /// What earlier rows used: passport indexes (newest key) and a count.
    seen: Mutex<(HashSet<Vec<u8>>, u64)>,
    /// Passport indexes of the group's pilgrims, as stored.
    in_group: HashSet<Vec<u8>>,
}

#[async_trait]
impl ImportTarget for PilgrimImport {
    type Row = Pilgrim;

    fn columns(&self) -> &[ImportColumn] {
        PILGRIM_IMPORT_COLUMNS
    }

    fn parse_row(&self, record: &ImportRecord<'_>) -> std::result::Result<Pilgrim, FieldErrors> {
        let mut e = FieldErrors::new();
        let required = |e: &mut FieldErrors, column: &'static str| {
            let value = record.get(column);
            if value.is_none() {
                e.push(column, "is required");
            }
            value
        };
        let name = required(&mut e, "name").and_then(|r| e.check("name", Name::parse(r)));
        let latin_name =
            required(&mut e, "latin_name").and_then(|r| e.check("latin_name", LatinName::parse(r)));
        let gender = required(&mut e, "gender").and_then(|r| e.check("gender", import_gender(r)));
        let born = required(&mut e, "date_of_birth")
            .and_then(|r| e.check("date_of_birth", import_date("date_of_birth", r)));
        let nationality =
            required(&mut e, "nationality").and_then(|r| e.check("nationality", Country::parse(r)));
        let passport = required(&mut e, "passport_number")
            .and_then(|r| e.check("passport_number", PassportNumber::parse(r)));
        let expiry = required(&mut e, "passport_expiry")
            .and_then(|r| e.check("passport_expiry", import_date("passport_expiry", r)));
        let visa_status = record
            .get("visa_status")
            .and_then(|r| e.check("visa_status", VisaStatus::parse(&r.to_ascii_lowercase())))
            .unwrap_or(VisaStatus::NotApplied);
        let visa_number = record
            .get("visa_number")
            .and_then(|r| e.check("visa_number", ShortRef::parse(r, "visa_number")));
        let client_id = record.get("client_id").and_then(|r| {
            e.check(
                "client_id",
                uuid::Uuid::parse_str(r).map_err(|_| Error::invalid("client_id", "not an id")),
            )
        });
        match (visa_status, &visa_number) {
            (VisaStatus::Issued, None) => e.push("visa_number", "is required once issued"),
            (VisaStatus::Issued, Some(_)) | (_, None) => {}
            (_, Some(_)) => e.push("visa_number", "is recorded only for an issued visa"),
        }
        let (Some(name), Some(latin_name), Some(gender), Some(born), Some(nationality)) =
            (name, latin_name, gender, born, nationality)
        else {
            return Err(e);
        };
        let (Some(number), Some(expiry)) = (passport, expiry) else {
            return Err(e);
        };
        let tenant = self.group.tenant_id;
        let candidates = self.service.keyring.blind_index_candidates(
            tenant,
            PASSPORT_FIELD,
            number.expose().as_bytes(),
        );
        if candidates
            .iter()
            .any(|c| self.in_group.contains(c.as_bytes()))
        {
            e.push(
                "passport_number",
                "belongs to a pilgrim already in the group",
            );
        }
        let id = PilgrimId::generate_at(self.now, self.service.deps.random.as_ref());
        let stored = match self.service.seal_passport(tenant, id, &number) {
            Ok(stored) => stored,
            Err(err) => {
                e.push("passport_number", err.to_string());
                return Err(e);
            }
        };
        {
            let Ok(mut seen) = self.seen.lock() else {
                e.push("row", "the import state is unavailable");
                return Err(e);
            };
            if !seen.0.insert(stored.index.as_bytes().to_vec()) {
                e.push("passport_number", "appears on an earlier row of the file");
            }
            if e.is_empty() {
                seen.1 += 1;
                if seen.1 > self.places {
                    e.push(
                        "row",
                        format!("the group is full: {} places were left", self.places),
                    );
                }
            }
        }
        if !e.is_empty() {
            return Err(e);
        }
        Ok(Pilgrim {
            id,
            tenant_id: tenant,
            group_id: self.group.id,
            branch_id: self.group.branch_id,
            family_id: None,
            name,
            latin_name,
            gender,
            date_of_birth: born,
            nationality,
            passport: stored,
            passport_expiry: expiry,
            visa_status,
            visa_number,
            client_id,
            mahram_id: None,
            mahram_relation: None,
            created_at: self.now,
            version: 1,
        })
    }

    async fn write_batch(&self, uow: &mut dyn UnitOfWork, rows: Vec<Pilgrim>) -> Result<()> {
        for pilgrim in &rows {
            uow.pilgrims().insert(pilgrim).await?;
        }
        Ok(())
    }
}

impl Umrah {
    /// Imports pilgrims into a group in `planning` or `open` from CSV:
    /// every row checked, nothing written unless all are valid (and never
    /// on a dry run). One `umrah.pilgrims.imported` audit event records the
    /// counts and the new pilgrims' ids (never a passport number).
    /// `on_progress` gets the bytes read so far.
    pub async fn import_pilgrims(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        source: &mut dyn ByteSource,
        options: ImportOptions,
        on_progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ImportReport> {
        precheck(ctx, Action::Create, ResourceKind::Pilgrim)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let group = uow
            .umrah_groups()
            .lock(tenant, group_id)
            .await?
            .filter(|g| ctx.principal.sees_branch(g.branch_id))
            .ok_or(Error::not_found("umrah group"))?;
        let resource = Resource::new(ResourceKind::Pilgrim, tenant).in_branch(group.branch_id);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        if !group.status.takes_changes() {
            return Err(wrong_state(&group, "adding pilgrims"));
        }
        let existing = self.all_pilgrims(&mut *uow, &group).await?;
        let places = u64::from(group.capacity).saturating_sub(existing.len() as u64);
        let target = PilgrimImport {
            service: self.clone(),
            now: ctx.now,
            places,
            seen: Mutex::new((HashSet::new(), 0)),
            in_group: existing
                .iter()
                .map(|p| p.passport.index.as_bytes().to_vec())
                .collect(),
            group: group.clone(),
        };
        let dry_run = options.dry_run;
        let import = CsvImport::new(target, options);
        let mut report = import.run(&mut *uow, source, on_progress).await?;
        if dry_run || !report.is_clean() {
            uow.rollback().await?;
            report.written = 0;
            return Ok(report);
        }
        let before: HashSet<PilgrimId> = existing.iter().map(|p| p.id).collect();
        let mut added = Vec::new();
        let mut page =
            crate::ports::PageRequest::new(Some(crate::ports::PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = uow
                .pilgrims()
                .list_for_group(tenant, group_id, page)
                .await?;
            added.extend(
                batch
                    .items
                    .iter()
                    .map(|p| p.id)
                    .filter(|id| !before.contains(id)),
            );
            match batch.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.pilgrims.imported",
                    "umrah_group",
                    Some(group_id.into()),
                )
                .in_branch(group.branch_id)
                .with_change(
                    None,
                    Some(json!({
                        "rows": report.rows,
                        "written": report.written,
                        "pilgrims": added,
                    })),
                ),
            )
            .await?;
        uow.commit().await?;
        report.committed = true;
        Ok(report)
    }
}
