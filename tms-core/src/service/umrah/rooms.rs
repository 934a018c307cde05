//! Rooming: rooms of a group in Makkah and Madinah, and who sleeps where.
//!
//! An assignment locks the room's row first (PostgreSQL `FOR UPDATE`;
//! SQLite has one writer), then counts its occupants: concurrent requests
//! for the last bed are served one after the other, and a room is never
//! over capacity. The rules themselves (capacity, one gender unless one
//! family, families together) are [`check_room_assignment`]'s; a whole
//! family can be placed at once with [`Assignee::Family`].

use crate::audit::NewAuditEvent;
use crate::domain::{
    City, Context, Name, Pilgrim, Room, RoomAssignment, RoomType, ShortRef, UmrahGroup,
    check_room_assignment,
};
use crate::error::{Error, Result};
use crate::id::{PilgrimId, RoomId, UmrahFamilyId, UmrahGroupId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, UnitOfWork};

use super::{Umrah, authorize, precheck, wrong_state};

/// Rooms are part of their group: the group's grants apply.
const KIND: ResourceKind = ResourceKind::UmrahGroup;

/// A new room, parsed.
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// Hotel name.
    pub hotel: Name,
    /// City.
    pub city: City,
    /// Room type.
    pub room_type: RoomType,
    /// Room number, if known.
    pub room_number: Option<ShortRef>,
}

/// Who to place in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    /// One pilgrim.
    Pilgrim(PilgrimId),
    /// Every member of a family not yet roomed in the room's city, at once.
    Family(UmrahFamilyId),
}

/// A room and who is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomWithOccupants {
    /// The room.
    pub room: Room,
    /// Its occupants, in order of assignment.
    pub occupants: Vec<PilgrimId>,
}

impl Umrah {
    /// Adds a room to a group that is not departed, returned or cancelled.
    pub async fn create_room(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        new: NewRoom,
    ) -> Result<Room> {
        let (mut uow, group) = self.load_group(ctx, group_id, Action::Update, None).await?;
        if !group.status.is_active() {
            return Err(wrong_state(&group, "arranging rooms"));
        }
        let room = Room {
            id: RoomId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: group.tenant_id,
            group_id,
            branch_id: group.branch_id,
            hotel: new.hotel,
            city: new.city,
            room_type: new.room_type,
            room_number: new.room_number,
            created_at: ctx.now,
            version: 1,
        };
        uow.umrah_rooms().insert(&room).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.room.created",
                    "umrah_room",
                    Some(room.id.into()),
                )
                .in_branch(room.branch_id)
                .with_change(None, Some(serde_json::json!(room))),
            )
            .await?;
        uow.commit().await?;
        Ok(room)
    }

    /// One page of a group's rooms with their occupants.
    pub async fn list_rooms(
        &self,
        ctx: &Context,
        group_id: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<RoomWithOccupants>> {
        let (mut uow, group) = self.load_group(ctx, group_id, Action::Read, None).await?;
        let rooms = uow
            .umrah_rooms()
            .list_for_group(group.tenant_id, group_id, page)
            .await?;
        let assignments = uow
            .umrah_rooms()
            .assignments_for_group(group.tenant_id, group_id, None)
            .await?;
        uow.rollback().await?;
        let items = rooms
            .items
            .into_iter()
            .map(|room| RoomWithOccupants {
                occupants: assignments
                    .iter()
                    .filter(|a| a.room_id == room.id)
                    .map(|a| a.pilgrim_id)
                    .collect(),
                room,
            })
            .collect();
        Ok(Page {
            items,
            next: rooms.next,
        })
    }

    /// A room with its occupants.
    pub async fn get_room(&self, ctx: &Context, id: RoomId) -> Result<RoomWithOccupants> {
        let (mut uow, room, _) = self.load_room(ctx, id, Action::Read, false).await?;
        let occupants = uow
            .umrah_rooms()
            .assignments_for_room(room.tenant_id, id)
            .await?
            .into_iter()
            .map(|a| a.pilgrim_id)
            .collect();
        uow.rollback().await?;
        Ok(RoomWithOccupants { room, occupants })
    }

    /// Places a pilgrim, or a whole family, in a room: all or nothing.
    pub async fn assign_room(
        &self,
        ctx: &Context,
        room_id: RoomId,
        who: Assignee,
    ) -> Result<RoomWithOccupants> {
        let (mut uow, room, group) = self.load_room(ctx, room_id, Action::Update, true).await?;
        if !group.status.is_active() {
            return Err(wrong_state(&group, "arranging rooms"));
        }
        let tenant = room.tenant_id;
        let in_city = uow
            .umrah_rooms()
            .assignments_for_group(tenant, group.id, Some(room.city))
            .await?;
        let roomed = |p: PilgrimId| in_city.iter().find(|a| a.pilgrim_id == p);
        let newcomers: Vec<Pilgrim> = match who {
            Assignee::Pilgrim(id) => {
                let pilgrim = uow
                    .pilgrims()
                    .get(tenant, id)
                    .await?
                    .filter(|p| p.group_id == group.id)
                    .ok_or_else(|| {
                        Error::invalid("pilgrim_id", "is not a pilgrim of this group")
                    })?;
                if let Some(a) = roomed(id) {
                    return Err(Error::conflict(format!(
                        "the pilgrim already has a room in {} (room {})",
                        room.city, a.room_id
                    )));
                }
                vec![pilgrim]
            }
            Assignee::Family(family) => {
                let found = uow.umrah_families().get(tenant, family).await?;
                if found.is_none_or(|f| f.group_id != group.id) {
                    return Err(Error::invalid("family_id", "is not a family of this group"));
                }
                let members = uow.pilgrims().list_for_family(tenant, family).await?;
                let waiting: Vec<Pilgrim> = members
                    .into_iter()
                    .filter(|p| roomed(p.id).is_none())
                    .collect();
                if waiting.is_empty() {
                    return Err(Error::conflict(format!(
                        "every member of the family already has a room in {}",
                        room.city
                    )));
                }
                waiting
            }
        };
        let mut occupants = Vec::new();
        for a in in_city.iter().filter(|a| a.room_id == room.id) {
            if let Some(p) = uow.pilgrims().get(tenant, a.pilgrim_id).await? {
                occupants.push(p);
            }
        }
        // Per family of a newcomer: its size, how many are still without a
        // room in this city, and whether some sleep in another room here.
        let mut sizes: Vec<(UmrahFamilyId, usize, usize)> = Vec::new();
        let mut elsewhere: Vec<(UmrahFamilyId, RoomId)> = Vec::new();
        for family in newcomers.iter().filter_map(|p| p.family_id) {
            if sizes.iter().any(|(f, _, _)| *f == family) {
                continue;
            }
            let members = uow.pilgrims().list_for_family(tenant, family).await?;
            let unroomed = members.iter().filter(|m| roomed(m.id).is_none()).count();
            sizes.push((family, members.len(), unroomed));
            if let Some(other) = members
                .iter()
                .filter_map(|m| roomed(m.id))
                .find(|a| a.room_id != room.id)
            {
                elsewhere.push((family, other.room_id));
            }
        }
        let lookup = |family: UmrahFamilyId, pick: fn(&(UmrahFamilyId, usize, usize)) -> usize| {
            sizes.iter().find(|entry| entry.0 == family).map_or(0, pick)
        };
        check_room_assignment(
            &room,
            &occupants,
            &newcomers,
            &elsewhere,
            &|f| lookup(f, |e| e.1),
            &|f| lookup(f, |e| e.2),
        )?;
        for pilgrim in &newcomers {
            uow.umrah_rooms()
                .assign(&RoomAssignment {
                    tenant_id: tenant,
                    group_id: group.id,
                    room_id: room.id,
                    city: room.city,
                    pilgrim_id: pilgrim.id,
                    created_at: ctx.now,
                })
                .await?;
        }
        let placed: Vec<PilgrimId> = newcomers.iter().map(|p| p.id).collect();
        let before: Vec<PilgrimId> = occupants.iter().map(|p| p.id).collect();
        let mut after = before.clone();
        after.extend(&placed);
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.room.assigned",
                    "umrah_room",
                    Some(room.id.into()),
                )
                .in_branch(room.branch_id)
                .with_change(
                    Some(serde_json::json!({ "occupants": before })),
                    Some(serde_json::json!({ "occupants": after })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(RoomWithOccupants {
            room,
            occupants: after,
        })
    }

    /// Takes a pilgrim out of a room.
    pub async fn unassign_room(
        &self,
        ctx: &Context,
        room_id: RoomId,
        pilgrim: PilgrimId,
    ) -> Result<()> {
        let (mut uow, room, group) = self.load_room(ctx, room_id, Action::Update, true).await?;
        if !group.status.is_active() {
            return Err(wrong_state(&group, "arranging rooms"));
        }
        if !uow
            .umrah_rooms()
            .unassign(room.tenant_id, room_id, pilgrim)
            .await?
        {
            return Err(Error::not_found("room assignment"));
        }
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "umrah.room.unassigned",
                    "umrah_room",
                    Some(room.id.into()),
                )
                .in_branch(room.branch_id)
                .with_change(Some(serde_json::json!({ "pilgrim_id": pilgrim })), None),
            )
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Checks the grant, loads (and with `lock`, locks) the room of the
    /// caller's tenant and branches, then authorizes on its group.
    async fn load_room(
        &self,
        ctx: &Context,
        id: RoomId,
        action: Action,
        lock: bool,
    ) -> Result<(Box<dyn UnitOfWork>, Room, UmrahGroup)> {
        precheck(ctx, action, KIND)?;
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let room = if lock {
            uow.umrah_rooms().lock(tenant, id).await?
        } else {
            uow.umrah_rooms().get(tenant, id).await?
        };
        let room = room
            .filter(|r| ctx.principal.sees_branch(r.branch_id))
            .ok_or(Error::not_found("room"))?;
        let group = uow
            .umrah_groups()
            .get(tenant, room.group_id)
            .await?
            .ok_or_else(|| Error::internal("a room's group is missing"))?;
        let resource = Resource::new(KIND, tenant)
            .in_branch(room.branch_id)
            .with_id(room.group_id);
        let uow = authorize(uow, &self.deps, ctx, action, &resource, None).await?;
        Ok((uow, room, group))
    }
}
