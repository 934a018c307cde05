//! Pilgrims and families: add, read, list, change, remove, find by passport
//! number; families with a head, each pilgrim in at most one.
//!
//! Passport numbers are sealed with the key ring (table `pilgrims`, field
//! `passport_number`, row = the pilgrim's id) and indexed with a keyed hash
//! for exact search; reads and the audit log carry only `…67`.

use chrono::NaiveDate;

use crate::audit::NewAuditEvent;
use crate::domain::{
    BranchScope, Context, Country, Gender, GroupLeader, LatinName, MahramRelation, Name,
    PassportNumber, Pilgrim, ShortRef, UmrahFamily, UmrahGroup, VisaStatus,
    passport_expires_too_soon,
};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{PilgrimId, UmrahFamilyId, UmrahGroupId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, Scope, UnitOfWork};
use crate::security::token::PlainToken;

use super::{PASSPORT_FIELD, Umrah, authorize, family_json, pilgrim_json, precheck, wrong_state};

const KIND: ResourceKind = ResourceKind::Pilgrim;

/// A new pilgrim, parsed.
#[derive(Debug, Clone)]
pub struct NewPilgrim {
    /// Name as typed, any script.
    pub name: Name,
    /// Name in Latin letters.
    pub latin_name: LatinName,
    /// Gender.
    pub gender: Gender,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Country.
    pub nationality: Country,
    /// Passport number (sealed on the way in).
    pub passport_number: PassportNumber,
    /// Passport expiry.
    pub passport_expiry: NaiveDate,
    /// Visa status (usually `not_applied`).
    pub visa_status: VisaStatus,
    /// Visa number, with `issued`.
    pub visa_number: Option<ShortRef>,
    /// The client record of this person (no foreign key until clients are
    /// merged).
    pub client_id: Option<uuid::Uuid>,
    /// Family of the same group.
    pub family_id: Option<UmrahFamilyId>,
    /// Mahram: a male pilgrim of the same group.
    pub mahram_id: Option<PilgrimId>,
    /// His relation.
    pub mahram_relation: Option<MahramRelation>,
}

/// A change to a pilgrim; `None` leaves a field, `Some(None)` clears an
/// optional one.
#[derive(Debug, Clone, Default)]
pub struct PilgrimChange {
    /// Name as typed.
    pub name: Option<Name>,
    /// Latin name.
    pub latin_name: Option<LatinName>,
    /// Gender.
    pub gender: Option<Gender>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Country.
    pub nationality: Option<Country>,
    /// A new passport number.
    pub passport_number: Option<PassportNumber>,
    /// A new expiry.
    pub passport_expiry: Option<NaiveDate>,
    /// Visa status.
    pub visa_status: Option<VisaStatus>,
    /// Visa number.
    pub visa_number: Option<Option<ShortRef>>,
    /// Client record.
    pub client_id: Option<Option<uuid::Uuid>>,
    /// Family.
    pub family_id: Option<Option<UmrahFamilyId>>,
    /// Mahram.
    pub mahram_id: Option<Option<PilgrimId>>,
    /// Mahram relation.
    pub mahram_relation: Option<Option<MahramRelation>>,
}

/// A pilgrim as shown: the record (passport only as its hint) and what the
/// agency should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PilgrimView {
    /// The record.
    pub pilgrim: Pilgrim,
    /// The passport expires less than six months after the group returns.
    pub passport_expires_too_soon: bool,
    /// She needs a mahram under the tenant's rule.
    pub needs_mahram: bool,
}

/// A new family, parsed.
#[derive(Debug, Clone)]
pub struct NewFamily {
    /// Display name.
    pub name: Name,
    /// The head, a member.
    pub head_pilgrim_id: Option<PilgrimId>,
    /// The members (the head is added if missing); none may be in another
    /// family.
    pub members: Vec<PilgrimId>,
}

impl Umrah {
    pub(super) fn view(&self, group: &UmrahGroup, pilgrim: Pilgrim) -> PilgrimView {
        PilgrimView {
            passport_expires_too_soon: passport_expires_too_soon(
                pilgrim.passport_expiry,
                group.return_date,
            ),
            needs_mahram: self.mahram.requires_mahram(&pilgrim, group.departure_date),
            pilgrim,
        }
    }

    /// Adds a pilgrim to a group in `planning` or `open`, within its
    /// capacity (counted under a lock on the group, so concurrent additions
    /// never overfill it).
    pub async fn add_pilgrim(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        new: NewPilgrim,
    ) -> Result<PilgrimView> {
        precheck(ctx, Action::Create, KIND)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let group = uow
            .umrah_groups()
            .lock(tenant, group_id)
            .await?
            .filter(|g| ctx.principal.sees_branch(g.branch_id))
            .ok_or(Error::not_found("umrah group"))?;
        let resource = Resource::new(KIND, tenant).in_branch(group.branch_id);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        if !group.status.takes_changes() {
            return Err(wrong_state(&group, "adding pilgrims"));
        }
        let count = uow.pilgrims().count_in_group(tenant, group_id).await?;
        if count >= u64::from(group.capacity) {
            return Err(Error::conflict(format!(
                "the group is full ({} places)",
                group.capacity
            )));
        }
        let id = PilgrimId::generate_at(ctx.now, self.deps.random.as_ref());
        let pilgrim = Pilgrim {
            id,
            tenant_id: tenant,
            group_id,
            branch_id: group.branch_id,
            family_id: new.family_id,
            name: new.name,
            latin_name: new.latin_name,
            gender: new.gender,
            date_of_birth: new.date_of_birth,
            nationality: new.nationality,
            passport: self.seal_passport(tenant, id, &new.passport_number)?,
            passport_expiry: new.passport_expiry,
            visa_status: new.visa_status,
            visa_number: new.visa_number,
            client_id: new.client_id,
            mahram_id: new.mahram_id,
            mahram_relation: new.mahram_relation,
            created_at: ctx.now,
            version: 1,
        };
        self.check_pilgrim(&mut *uow, &group, &pilgrim, Some(&new.passport_number))
            .await?;
        uow.pilgrims().insert(&pilgrim).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "umrah.pilgrim.added", "pilgrim", Some(id.into()))
                    .in_branch(group.branch_id)
                    .with_change(None, Some(pilgrim_json(&pilgrim))),
            )
            .await?;
        uow.commit().await?;
        Ok(self.view(&group, pilgrim))
    }

    /// One pilgrim.
    pub async fn get_pilgrim(&self, ctx: &Context, id: PilgrimId) -> Result<PilgrimView> {
        let (mut uow, pilgrim) = self.load_pilgrim(ctx, id, Action::Read, None).await?;
        let group = self.group_of(&mut *uow, &pilgrim).await?;
        uow.rollback().await?;
        Ok(self.view(&group, pilgrim))
    }

    /// One page of a group's pilgrims.
    pub async fn list_pilgrims(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<PilgrimView>> {
        precheck(ctx, Action::Read, KIND)?;
        let (mut uow, group) = self.load_group(ctx, group_id, Action::Read, None).await?;
        let pilgrims = uow
            .pilgrims()
            .list_for_group(group.tenant_id, group_id, page)
            .await?;
        uow.rollback().await?;
        Ok(Page {
            items: pilgrims
                .items
                .into_iter()
                .map(|p| self.view(&group, p))
                .collect(),
            next: pilgrims.next,
        })
    }

    /// The pilgrims of the caller's branches with this passport number
    /// (exact match through the blind index; any key in the ring).
    pub async fn find_pilgrims_by_passport(
        &self,
        ctx: &Context,
        number: &PassportNumber,
    ) -> Result<Vec<PilgrimView>> {
        precheck(ctx, Action::Read, KIND)?;
        let tenant = ctx.principal.tenant_id();
        let candidates =
            self.keyring
                .blind_index_candidates(tenant, PASSPORT_FIELD, number.expose().as_bytes());
        let mut uow = self.deps.store.begin().await?;
        let found = uow
            .pilgrims()
            .find_by_passport(&Scope::of(&ctx.principal), &candidates)
            .await?;
        let mut views = Vec::with_capacity(found.len());
        for pilgrim in found {
            let group = self.group_of(&mut *uow, &pilgrim).await?;
            views.push(self.view(&group, pilgrim));
        }
        uow.rollback().await?;
        Ok(views)
    }

    /// Changes a pilgrim of a group that is not departed, returned or
    /// cancelled (visas are arranged after the list closes). Identity
    /// fields (names, birth, passport) change only while the group takes
    /// changes.
    pub async fn update_pilgrim(
        &self,
        ctx: &Context,
        id: PilgrimId,
        change: PilgrimChange,
    ) -> Result<PilgrimView> {
        let (mut uow, before) = self.load_pilgrim(ctx, id, Action::Update, None).await?;
        let group = self.group_of(&mut *uow, &before).await?;
        if !group.status.is_active() {
            return Err(wrong_state(&group, "changing pilgrims"));
        }
        let identity_change = change.name.is_some()
            || change.latin_name.is_some()
            || change.gender.is_some()
            || change.date_of_birth.is_some()
            || change.nationality.is_some()
            || change.passport_number.is_some()
            || change.family_id.is_some();
        if identity_change && !group.status.takes_changes() {
            return Err(wrong_state(
                &group,
                "changing a pilgrim's identity or family",
            ));
        }
        let mut p = before.clone();
        if let Some(v) = change.name {
            p.name = v;
        }
        if let Some(v) = change.latin_name {
            p.latin_name = v;
        }
        if let Some(v) = change.gender {
            p.gender = v;
        }
        if let Some(v) = change.date_of_birth {
            p.date_of_birth = v;
        }
        if let Some(v) = change.nationality {
            p.nationality = v;
        }
        if let Some(number) = &change.passport_number {
            p.passport = self.seal_passport(p.tenant_id, p.id, number)?;
        }
        if let Some(v) = change.passport_expiry {
            p.passport_expiry = v;
        }
        if let Some(v) = change.visa_status {
            p.visa_status = v;
        }
        if let Some(v) = change.visa_number {
            p.visa_number = v;
        }
        if let Some(v) = change.client_id {
            p.client_id = v;
        }
        if let Some(v) = change.family_id {
            p.family_id = v;
        }
        if let Some(v) = change.mahram_id {
            p.mahram_id = v;
        }
        if let Some(v) = change.mahram_relation {
            p.mahram_relation = v;
        }
        self.check_pilgrim(&mut *uow, &group, &p, change.passport_number.as_ref())
            .await?;
        if before.family_id.is_some() && p.family_id != before.family_id {
            self.leave_family(&mut *uow, &before).await?;
        }
        uow.pilgrims().update(&mut p).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "umrah.pilgrim.updated", "pilgrim", Some(id.into()))
                    .in_branch(p.branch_id)
                    .with_change(Some(pilgrim_json(&before)), Some(pilgrim_json(&p))),
            )
            .await?;
        uow.commit().await?;
        Ok(self.view(&group, p))
    }

    /// Removes a pilgrim (and their room places). While the group takes
    /// changes the record is a draft; later, removing needs a confirmation.
    /// A pilgrim who is another's mahram or the group's leader stays until
    /// that is changed.
    pub async fn delete_pilgrim(
        &self,
        ctx: &Context,
        id: PilgrimId,
        confirmation: Option<&PlainToken>,
    ) -> Result<()> {
        precheck(ctx, Action::Delete, KIND)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let pilgrim = uow
            .pilgrims()
            .get(tenant, id)
            .await?
            .filter(|p| ctx.principal.sees_branch(p.branch_id))
            .ok_or(Error::not_found(KIND.what()))?;
        let group = self.group_of(&mut *uow, &pilgrim).await?;
        let mut resource = Resource::new(KIND, tenant)
            .in_branch(pilgrim.branch_id)
            .with_id(id);
        if group.status.takes_changes() {
            resource = resource.draft();
        }
        let mut uow = authorize(
            uow,
            &self.deps,
            ctx,
            Action::Delete,
            &resource,
            confirmation,
        )
        .await?;
        if group.leader == Some(GroupLeader::Pilgrim(id)) {
            return Err(Error::conflict(
                "the pilgrim leads the group: choose another leader first",
            ));
        }
        let others = self.all_pilgrims(&mut *uow, &group).await?;
        let protected: Vec<&str> = others
            .iter()
            .filter(|o| o.mahram_id == Some(id))
            .map(|o| o.latin_name.as_str())
            .collect();
        if !protected.is_empty() {
            return Err(Error::conflict(format!(
                "the pilgrim is the mahram of {}: change that first",
                protected.join(", ")
            )));
        }
        if pilgrim.family_id.is_some() {
            self.leave_family(&mut *uow, &pilgrim).await?;
        }
        uow.pilgrims().delete(tenant, id).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "umrah.pilgrim.deleted", "pilgrim", Some(id.into()))
                    .in_branch(pilgrim.branch_id)
                    .with_change(Some(pilgrim_json(&pilgrim)), None),
            )
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Creates a family in a group that takes changes, with its members.
    pub async fn create_family(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        new: NewFamily,
    ) -> Result<(UmrahFamily, Vec<PilgrimId>)> {
        precheck(ctx, Action::Create, ResourceKind::UmrahFamily)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let group = uow
            .umrah_groups()
            .get(tenant, group_id)
            .await?
            .filter(|g| ctx.principal.sees_branch(g.branch_id))
            .ok_or(Error::not_found("umrah group"))?;
        let resource = Resource::new(ResourceKind::UmrahFamily, tenant).in_branch(group.branch_id);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        if !group.status.takes_changes() {
            return Err(wrong_state(&group, "forming families"));
        }
        let mut members = new.members.clone();
        if let Some(head) = new.head_pilgrim_id
            && !members.contains(&head)
        {
            members.insert(0, head);
        }
        let mut seen = Vec::with_capacity(members.len());
        members.retain(|m| {
            let first = !seen.contains(m);
            seen.push(*m);
            first
        });
        let family = UmrahFamily {
            id: UmrahFamilyId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            group_id,
            branch_id: group.branch_id,
            name: new.name,
            head_pilgrim_id: new.head_pilgrim_id,
            created_at: ctx.now,
            version: 1,
        };
        uow.umrah_families().insert(&family).await?;
        let mut errors = FieldErrors::new();
        for member in &members {
            match uow.pilgrims().get(tenant, *member).await? {
                Some(mut p) if p.group_id == group_id => {
                    if p.family_id.is_some() {
                        errors.push(
                            format!("members.{member}"),
                            "already belongs to a family (a pilgrim belongs to at most one)",
                        );
                        continue;
                    }
                    p.family_id = Some(family.id);
                    uow.pilgrims().update(&mut p).await?;
                }
                _ => errors.push(
                    format!("members.{member}"),
                    "is not a pilgrim of this group",
                ),
            }
        }
        errors.into_result()?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.family.created",
                    "umrah_family",
                    Some(family.id.into()),
                )
                .in_branch(group.branch_id)
                .with_change(
                    None,
                    Some(serde_json::json!({ "family": family_json(&family), "members": members })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok((family, members))
    }

    /// One page of a group's families.
    pub async fn list_families(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<UmrahFamily>> {
        precheck(ctx, Action::Read, ResourceKind::UmrahFamily)?;
        let (mut uow, group) = self.load_group(ctx, group_id, Action::Read, None).await?;
        let families = uow
            .umrah_families()
            .list_for_group(group.tenant_id, group_id, page)
            .await?;
        uow.rollback().await?;
        Ok(families)
    }

    /// Checks a pilgrim's references against their group: family of the
    /// group, mahram a male pilgrim of the group (not oneself) with a
    /// relation, visa number exactly when issued, passport not twice in the
    /// group. Every problem at once.
    async fn check_pilgrim(
        &self,
        uow: &mut dyn UnitOfWork,
        group: &UmrahGroup,
        p: &Pilgrim,
        new_number: Option<&PassportNumber>,
    ) -> Result<()> {
        let mut errors = FieldErrors::new();
        if let Some(family) = p.family_id {
            let found = uow.umrah_families().get(p.tenant_id, family).await?;
            if found.is_none_or(|f| f.group_id != group.id) {
                errors.push("family_id", "is not a family of this group");
            }
        }
        match p.mahram_id {
            Some(m) if m == p.id => errors.push("mahram_id", "cannot be the pilgrim herself"),
            Some(m) => match uow.pilgrims().get(p.tenant_id, m).await? {
                Some(mahram) if mahram.group_id == group.id => {
                    if mahram.gender != Gender::Male {
                        errors.push("mahram_id", "must be a male pilgrim");
                    }
                }
                _ => errors.push("mahram_id", "is not a pilgrim of this group"),
            },
            None => {}
        }
        if p.mahram_id.is_some() != p.mahram_relation.is_some() {
            errors.push(
                "mahram_relation",
                "is given together with mahram_id, or neither",
            );
        }
        match (p.visa_status, &p.visa_number) {
            (VisaStatus::Issued, None) => errors.push("visa_number", "is required once issued"),
            (VisaStatus::Issued, Some(_)) | (_, None) => {}
            (_, Some(_)) => errors.push("visa_number", "is recorded only for an issued visa"),
        }
        if let Some(number) = new_number {
            let candidates = self.keyring.blind_index_candidates(
                p.tenant_id,
                PASSPORT_FIELD,
                number.expose().as_bytes(),
            );
            let everywhere = Scope {
                tenant_id: p.tenant_id,
                branches: BranchScope::All,
            };
            let twins = uow
                .pilgrims()
                .find_by_passport(&everywhere, &candidates)
                .await?;
            if twins.iter().any(|t| t.group_id == group.id && t.id != p.id) {
                errors.push(
                    "passport_number",
                    "belongs to another pilgrim of this group",
                );
            }
        }
        errors.into_result()
    }

    /// Before a pilgrim leaves their family: a head leaving leaves the
    /// family without one.
    async fn leave_family(&self, uow: &mut dyn UnitOfWork, p: &Pilgrim) -> Result<()> {
        let Some(family_id) = p.family_id else {
            return Ok(());
        };
        if let Some(mut family) = uow.umrah_families().get(p.tenant_id, family_id).await?
            && family.head_pilgrim_id == Some(p.id)
        {
            family.head_pilgrim_id = None;
            uow.umrah_families().update(&mut family).await?;
        }
        Ok(())
    }

    /// Checks the grant, loads the pilgrim of the caller's tenant and
    /// branches (else `NotFound`), then authorizes on the record.
    async fn load_pilgrim(
        &self,
        ctx: &Context,
        id: PilgrimId,
        action: Action,
        confirmation: Option<&PlainToken>,
    ) -> Result<(Box<dyn UnitOfWork>, Pilgrim)> {
        precheck(ctx, action, KIND)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let pilgrim = uow
            .pilgrims()
            .get(tenant, id)
            .await?
            .filter(|p| ctx.principal.sees_branch(p.branch_id))
            .ok_or(Error::not_found(KIND.what()))?;
        let resource = Resource::new(KIND, tenant)
            .in_branch(pilgrim.branch_id)
            .with_id(id);
        let uow = authorize(uow, &self.deps, ctx, action, &resource, confirmation).await?;
        Ok((uow, pilgrim))
    }

    /// The group of a loaded pilgrim.
    pub(super) async fn group_of(
        &self,
        uow: &mut dyn UnitOfWork,
        p: &Pilgrim,
    ) -> Result<UmrahGroup> {
        uow.umrah_groups()
            .get(p.tenant_id, p.group_id)
            .await?
            .ok_or_else(|| Error::internal("a pilgrim's group is missing"))
    }

    /// Every pilgrim of a group (bounded by its capacity), page by page.
    pub(super) async fn all_pilgrims(
        &self,
        uow: &mut dyn UnitOfWork,
        group: &UmrahGroup,
    ) -> Result<Vec<Pilgrim>> {
        let mut all = Vec::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let batch = uow
                .pilgrims()
                .list_for_group(group.tenant_id, group.id, page)
                .await?;
            all.extend(batch.items);
            match batch.next {
                Some(next) => page.after = Some(next),
                None => return Ok(all),
            }
        }
    }
}
