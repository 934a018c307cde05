//! Repositories of Umrah groups, families, pilgrims and rooms.
//!
//! Same rules as every repository (see the `store` module): reads take the
//! tenant and another tenant's record is `None`; updates check `version`;
//! lists of groups filter the caller's branches in the query. Lists of a
//! group's families, pilgrims and rooms take the group, which the service
//! has already loaded and checked against the caller's scope.

use async_trait::async_trait;

use crate::domain::{City, Pilgrim, Room, RoomAssignment, UmrahFamily, UmrahGroup};
use crate::error::Result;
use crate::id::{PilgrimId, RoomId, TenantId, UmrahFamilyId, UmrahGroupId};
use crate::ports::{Page, PageRequest, Scope};
use crate::security::keyring::BlindIndex;

/// Umrah groups.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UmrahGroupRepo: Send {
    /// Adds a group.
    async fn insert(&mut self, group: &UmrahGroup) -> Result<()>;
    /// The group, if it is the tenant's.
    async fn get(&mut self, tenant: TenantId, id: UmrahGroupId) -> Result<Option<UmrahGroup>>;
    /// The group, locked until commit (PostgreSQL `FOR UPDATE`; SQLite's
    /// single writer), so that concurrent additions of pilgrims are counted
    /// one after the other against its capacity.
    async fn lock(&mut self, tenant: TenantId, id: UmrahGroupId) -> Result<Option<UmrahGroup>>;
    /// Saves changes if `group.version` is current, then bumps it.
    async fn update(&mut self, group: &mut UmrahGroup) -> Result<()>;
    /// Removes a group with its rooms and families (it must hold no
    /// pilgrims: the service checks). Whether it existed.
    async fn delete(&mut self, tenant: TenantId, id: UmrahGroupId) -> Result<bool>;
    /// The groups inside `scope`.
    async fn list(&mut self, scope: &Scope, page: PageRequest) -> Result<Page<UmrahGroup>>;
}

/// Families of a group.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UmrahFamilyRepo: Send {
    /// Adds a family.
    async fn insert(&mut self, family: &UmrahFamily) -> Result<()>;
    /// The family, if it is the tenant's.
    async fn get(&mut self, tenant: TenantId, id: UmrahFamilyId) -> Result<Option<UmrahFamily>>;
    /// Saves changes if `family.version` is current, then bumps it.
    async fn update(&mut self, family: &mut UmrahFamily) -> Result<()>;
    /// The group's families.
    async fn list_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<UmrahFamily>>;
}

/// Pilgrims.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PilgrimRepo: Send {
    /// Adds a pilgrim.
    async fn insert(&mut self, pilgrim: &Pilgrim) -> Result<()>;
    /// The pilgrim, if they are the tenant's.
    async fn get(&mut self, tenant: TenantId, id: PilgrimId) -> Result<Option<Pilgrim>>;
    /// Saves changes if `pilgrim.version` is current, then bumps it.
    async fn update(&mut self, pilgrim: &mut Pilgrim) -> Result<()>;
    /// Removes a pilgrim and their room assignments; whether they existed.
    async fn delete(&mut self, tenant: TenantId, id: PilgrimId) -> Result<bool>;
    /// One page of the group's pilgrims.
    async fn list_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<Pilgrim>>;
    /// How many pilgrims the group holds.
    async fn count_in_group(&mut self, tenant: TenantId, group: UmrahGroupId) -> Result<u64>;
    /// The members of a family.
    async fn list_for_family(
        &mut self,
        tenant: TenantId,
        family: UmrahFamilyId,
    ) -> Result<Vec<Pilgrim>>;
    /// Pilgrims inside `scope` whose passport index is one of `indexes`
    /// (one per key in the ring: see `KeyRing::blind_index_candidates`).
    async fn find_by_passport(
        &mut self,
        scope: &Scope,
        indexes: &[BlindIndex],
    ) -> Result<Vec<Pilgrim>>;
}

/// Rooms and who sleeps in them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RoomRepo: Send {
    /// Adds a room; `Conflict` if the group has a room with the same
    /// hotel, city and number.
    async fn insert(&mut self, room: &Room) -> Result<()>;
    /// The room, if it is the tenant's.
    async fn get(&mut self, tenant: TenantId, id: RoomId) -> Result<Option<Room>>;
    /// The room, locked until commit (PostgreSQL `FOR UPDATE`; SQLite's
    /// single writer), so that concurrent assignments are checked against
    /// its capacity one after the other.
    async fn lock(&mut self, tenant: TenantId, id: RoomId) -> Result<Option<Room>>;
    /// One page of the group's rooms.
    async fn list_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<Room>>;
    /// Places a pilgrim; `Conflict` if they already have a room in that city.
    async fn assign(&mut self, assignment: &RoomAssignment) -> Result<()>;
    /// Takes a pilgrim out of a room; whether they were in it.
    async fn unassign(
        &mut self,
        tenant: TenantId,
        room: RoomId,
        pilgrim: PilgrimId,
    ) -> Result<bool>;
    /// Who is in the room, in order of assignment.
    async fn assignments_for_room(
        &mut self,
        tenant: TenantId,
        room: RoomId,
    ) -> Result<Vec<RoomAssignment>>;
    /// Every assignment of the group (for the manifest), optionally of one
    /// city.
    async fn assignments_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        city: Option<City>,
    ) -> Result<Vec<RoomAssignment>>;
}
