//! Groups: create, read, list, change, delete, and move through their life
//! (planning → open → closed → departed → returned, or cancelled). Closing
//! checks the mahram rule for the whole list at once.

use chrono::NaiveDate;
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Context, GroupLeader, GroupStatus, Name, Season, UmrahGroup, check_group};
use crate::error::{Error, Result};
use crate::id::{BranchId, UmrahGroupId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, Scope, UnitOfWork};
use crate::security::token::PlainToken;

use super::{Umrah, authorize, group_json, precheck, wrong_state};

const KIND: ResourceKind = ResourceKind::UmrahGroup;

/// A new group, parsed.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// The branch that runs it.
    pub branch_id: BranchId,
    /// Name.
    pub name: Name,
    /// Season.
    pub season: Season,
    /// Catalogue package, if any (no foreign key until the catalogue is
    /// merged: checked there).
    pub package_id: Option<uuid::Uuid>,
    /// Departure date.
    pub departure_date: NaiveDate,
    /// Return date.
    pub return_date: NaiveDate,
    /// A named leader (a pilgrim leader is set once pilgrims are added).
    pub leader_name: Option<Name>,
    /// Capacity.
    pub capacity: u32,
}

/// A change to a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    /// New name.
    pub name: Option<Name>,
    /// New season.
    pub season: Option<Season>,
    /// New package (`Some(None)` clears it).
    pub package_id: Option<Option<uuid::Uuid>>,
    /// New departure date.
    pub departure_date: Option<NaiveDate>,
    /// New return date.
    pub return_date: Option<NaiveDate>,
    /// New leader (`Some(None)` clears it).
    pub leader: Option<Option<GroupLeader>>,
    /// New capacity (not below the pilgrims already in it).
    pub capacity: Option<u32>,
}

impl Umrah {
    /// Creates a group in `planning`.
    pub async fn create_group(&self, ctx: &Context, new: NewGroup) -> Result<UmrahGroup> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(KIND, tenant).in_branch(new.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        check_group(new.departure_date, new.return_date, new.capacity)?;
        match uow.branches().get(tenant, new.branch_id).await? {
            None => {
                return Err(Error::invalid(
                    "branch_id",
                    "names no branch of this agency",
                ));
            }
            Some(branch) if !branch.is_open() => {
                return Err(Error::conflict("the branch is closed"));
            }
            Some(_) => {}
        }
        let group = UmrahGroup {
            id: UmrahGroupId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            branch_id: new.branch_id,
            name: new.name,
            season: new.season,
            package_id: new.package_id,
            departure_date: new.departure_date,
            return_date: new.return_date,
            leader: new.leader_name.map(GroupLeader::Named),
            capacity: new.capacity,
            status: GroupStatus::Planning,
            created_at: ctx.now,
            version: 1,
        };
        uow.umrah_groups().insert(&group).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.group.created",
                    "umrah_group",
                    Some(group.id.into()),
                )
                .in_branch(group.branch_id)
                .with_change(None, Some(group_json(&group))),
            )
            .await?;
        uow.commit().await?;
        Ok(group)
    }

    /// One group.
    pub async fn get_group(&self, ctx: &Context, id: UmrahGroupId) -> Result<UmrahGroup> {
        let (uow, group) = self.load_group(ctx, id, Action::Read, None).await?;
        uow.rollback().await?;
        Ok(group)
    }

    /// The groups of the branches the caller sees.
    pub async fn list_groups(&self, ctx: &Context, page: PageRequest) -> Result<Page<UmrahGroup>> {
        precheck(ctx, Action::Read, KIND)?;
        let mut uow = self.deps.store.begin().await?;
        let groups = uow
            .umrah_groups()
            .list(&Scope::of(&ctx.principal), page)
            .await?;
        uow.rollback().await?;
        Ok(groups)
    }

    /// Changes a group in `planning` or `open`.
    pub async fn update_group(
        &self,
        ctx: &Context,
        id: UmrahGroupId,
        change: GroupChange,
    ) -> Result<UmrahGroup> {
        let (mut uow, before) = self.load_group(ctx, id, Action::Update, None).await?;
        if !before.status.takes_changes() {
            return Err(wrong_state(&before, "changing the group"));
        }
        let mut group = before.clone();
        if let Some(name) = change.name {
            group.name = name;
        }
        if let Some(season) = change.season {
            group.season = season;
        }
        if let Some(package) = change.package_id {
            group.package_id = package;
        }
        if let Some(date) = change.departure_date {
            group.departure_date = date;
        }
        if let Some(date) = change.return_date {
            group.return_date = date;
        }
        if let Some(capacity) = change.capacity {
            group.capacity = capacity;
        }
        check_group(group.departure_date, group.return_date, group.capacity)?;
        if change.capacity.is_some() {
            let count = uow.pilgrims().count_in_group(group.tenant_id, id).await?;
            if u64::from(group.capacity) < count {
                return Err(Error::invalid(
                    "capacity",
                    format!("the group already holds {count} pilgrims"),
                ));
            }
        }
        if let Some(leader) = change.leader {
            if let Some(GroupLeader::Pilgrim(pilgrim)) = leader {
                let found = uow.pilgrims().get(group.tenant_id, pilgrim).await?;
                if found.is_none_or(|p| p.group_id != id) {
                    return Err(Error::invalid("leader", "is not a pilgrim of this group"));
                }
            }
            group.leader = leader;
        }
        uow.umrah_groups().update(&mut group).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "umrah.group.updated", "umrah_group", Some(id.into()))
                    .in_branch(group.branch_id)
                    .with_change(Some(group_json(&before)), Some(group_json(&group))),
            )
            .await?;
        uow.commit().await?;
        Ok(group)
    }

    /// Moves a group to `to`, if its life allows it. Closing checks the
    /// mahram rule and lists every pilgrim who lacks one.
    pub async fn transition_group(
        &self,
        ctx: &Context,
        id: UmrahGroupId,
        to: GroupStatus,
    ) -> Result<UmrahGroup> {
        let (mut uow, before) = self.load_group(ctx, id, Action::Update, None).await?;
        if !before.status.can_move_to(to) {
            return Err(Error::conflict(format!(
                "a group cannot move from {} to {to}",
                before.status
            )));
        }
        if to == GroupStatus::Closed {
            let pilgrims = self.all_pilgrims(&mut *uow, &before).await?;
            self.mahram.check_group(before.departure_date, &pilgrims)?;
        }
        let mut group = before.clone();
        group.status = to;
        uow.umrah_groups().update(&mut group).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.group.transitioned",
                    "umrah_group",
                    Some(id.into()),
                )
                .in_branch(group.branch_id)
                .with_change(
                    Some(json!({ "status": before.status })),
                    Some(json!({ "status": group.status })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(group)
    }

    /// Deletes a group that holds no pilgrims (its rooms and families go
    /// with it). Only a group in `planning` is a draft; deleting any other
    /// needs a confirmation.
    pub async fn delete_group(
        &self,
        ctx: &Context,
        id: UmrahGroupId,
        confirmation: Option<&PlainToken>,
    ) -> Result<()> {
        let (mut uow, group) = self
            .load_group(ctx, id, Action::Delete, confirmation)
            .await?;
        let count = uow.pilgrims().count_in_group(group.tenant_id, id).await?;
        if count > 0 {
            return Err(Error::conflict(format!(
                "the group holds {count} pilgrims: remove them, or cancel the group"
            )));
        }
        uow.umrah_groups().delete(group.tenant_id, id).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "umrah.group.deleted", "umrah_group", Some(id.into()))
                    .in_branch(group.branch_id)
                    .with_change(Some(group_json(&group)), None),
            )
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Checks the role's grant, loads the group of the caller's tenant and
    /// branches (else `NotFound`), then authorizes on it — deleting a group
    /// out of `planning` asks for `confirmation`.
    pub(super) async fn load_group(
        &self,
        ctx: &Context,
        id: UmrahGroupId,
        action: Action,
        confirmation: Option<&PlainToken>,
    ) -> Result<(Box<dyn UnitOfWork>, UmrahGroup)> {
        precheck(ctx, action, KIND)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let group = uow
            .umrah_groups()
            .get(tenant, id)
            .await?
            .filter(|g| ctx.principal.sees_branch(g.branch_id))
            .ok_or(Error::not_found(KIND.what()))?;
        let mut resource = Resource::new(KIND, tenant)
            .in_branch(group.branch_id)
            .with_id(id);
        if group.status == GroupStatus::Planning {
            resource = resource.draft();
        }
        let uow = authorize(uow, &self.deps, ctx, action, &resource, confirmation).await?;
        Ok((uow, group))
    }
}
