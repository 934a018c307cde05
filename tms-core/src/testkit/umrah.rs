//! Contract cases of the Umrah repositories (groups, families, pilgrims,
//! rooms): round trips, tenant isolation, branch scope, stale versions,
//! one room per pilgrim per city, and room locks that serialize concurrent
//! assignments.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::domain::{
    BranchScope, City, Country, Gender, GroupStatus, LatinName, Name, Pilgrim, Room,
    RoomAssignment, RoomType, Season, StoredPassport, UmrahFamily, UmrahGroup, VisaStatus,
};
use crate::error::Error;
use crate::id::{BranchId, PilgrimId, RoomId, TenantId, UmrahFamilyId, UmrahGroupId};
use crate::ports::{PageRequest, Scope, Store, transact};
use crate::security::keyring::{BlindIndex, Sealed};

use super::{new_branch, now, seed_tenant};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// A group of `tenant` in `branch`, not stored yet.
pub fn new_umrah_group(tenant: TenantId, branch: BranchId) -> UmrahGroup {
    UmrahGroup {
        id: UmrahGroupId::new(),
        tenant_id: tenant,
        branch_id: branch,
        name: Name::parse("رحلة رمضان").expect("name"),
        season: Season::parse("1448H").expect("season"),
        package_id: Some(uuid::Uuid::now_v7()),
        departure_date: day(2027, 2, 10),
        return_date: day(2027, 2, 24),
        leader: None,
        capacity: 40,
        status: GroupStatus::Planning,
        created_at: now(),
        version: 1,
    }
}

/// A pilgrim of `group`, not stored yet; `index` is the blind index bytes.
pub fn new_pilgrim(group: &UmrahGroup, gender: Gender, index: u8) -> Pilgrim {
    Pilgrim {
        id: PilgrimId::new(),
        tenant_id: group.tenant_id,
        group_id: group.id,
        branch_id: group.branch_id,
        family_id: None,
        name: Name::parse("عائشہ صدیقہ").expect("name"),
        latin_name: LatinName::parse("Ayesha Siddiqa").expect("latin"),
        gender,
        date_of_birth: day(1990, 5, 17),
        nationality: Country::parse("PK").expect("nationality"),
        passport: StoredPassport {
            sealed: Sealed::from_bytes(vec![1, 2, 3, index]),
            index: BlindIndex::from_bytes(vec![index; 36]),
            hint: "…67".into(),
        },
        passport_expiry: day(2031, 1, 1),
        visa_status: VisaStatus::NotApplied,
        visa_number: None,
        client_id: None,
        mahram_id: None,
        mahram_relation: None,
        created_at: now(),
        version: 1,
    }
}

/// A room of `group`, not stored yet.
pub fn new_umrah_room(group: &UmrahGroup, room_type: RoomType) -> Room {
    Room {
        id: RoomId::new(),
        tenant_id: group.tenant_id,
        group_id: group.id,
        branch_id: group.branch_id,
        hotel: Name::parse("Swissôtel Makkah").expect("hotel"),
        city: City::Makkah,
        room_type,
        room_number: None,
        created_at: now(),
        version: 1,
    }
}

/// Stores a tenant, a branch and a group; returns the group.
pub async fn seed_umrah_group(store: &dyn Store) -> UmrahGroup {
    let tenant = seed_tenant(store).await;
    let branch = new_branch(tenant.id, now());
    let group = new_umrah_group(tenant.id, branch.id);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("branch");
    uow.umrah_groups().insert(&group).await.expect("group");
    uow.commit().await.expect("commit");
    group
}

/// Groups, families, pilgrims, rooms and assignments round-trip exactly;
/// another tenant's ids are missing; lists keep to the scope; stale
/// versions conflict; a pilgrim has one room per city.
pub async fn umrah_records_round_trip_and_stay_in_their_tenant(store: Arc<dyn Store>) {
    let group = seed_umrah_group(&*store).await;
    let tenant = group.tenant_id;
    let stranger = TenantId::new();
    let mut uow = store.begin().await.expect("begin");

    assert_eq!(
        uow.umrah_groups().get(tenant, group.id).await.expect("get"),
        Some(group.clone())
    );
    assert_eq!(
        uow.umrah_groups()
            .get(stranger, group.id)
            .await
            .expect("get"),
        None
    );
    let family = UmrahFamily {
        id: UmrahFamilyId::new(),
        tenant_id: tenant,
        group_id: group.id,
        branch_id: group.branch_id,
        name: Name::parse("آل صدیق").expect("name"),
        head_pilgrim_id: None,
        created_at: now(),
        version: 1,
    };
    uow.umrah_families().insert(&family).await.expect("family");
    let mut husband = new_pilgrim(&group, Gender::Male, 1);
    husband.family_id = Some(family.id);
    let mut wife = new_pilgrim(&group, Gender::Female, 2);
    wife.family_id = Some(family.id);
    wife.mahram_id = Some(husband.id);
    wife.mahram_relation = Some(crate::domain::MahramRelation::Husband);
    uow.pilgrims().insert(&husband).await.expect("husband");
    uow.pilgrims().insert(&wife).await.expect("wife");
    assert_eq!(
        uow.pilgrims().get(tenant, wife.id).await.expect("get"),
        Some(wife.clone())
    );
    assert_eq!(
        uow.pilgrims().get(stranger, wife.id).await.expect("get"),
        None
    );
    assert_eq!(
        uow.pilgrims()
            .count_in_group(tenant, group.id)
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        uow.pilgrims()
            .list_for_family(tenant, family.id)
            .await
            .expect("family")
            .len(),
        2
    );
    let everywhere = Scope {
        tenant_id: tenant,
        branches: BranchScope::All,
    };
    let found = uow
        .pilgrims()
        .find_by_passport(&everywhere, &[BlindIndex::from_bytes(vec![2; 36])])
        .await
        .expect("find");
    assert_eq!(
        found.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![wife.id]
    );
    let elsewhere = Scope {
        tenant_id: tenant,
        branches: BranchScope::only([BranchId::new()]),
    };
    assert!(
        uow.pilgrims()
            .find_by_passport(&elsewhere, &[BlindIndex::from_bytes(vec![2; 36])])
            .await
            .expect("find")
            .is_empty()
    );

    // Stale versions conflict.
    let mut changed = wife.clone();
    changed.visa_status = VisaStatus::Applied;
    uow.pilgrims().update(&mut changed).await.expect("update");
    let mut stale = wife.clone();
    assert!(matches!(
        uow.pilgrims().update(&mut stale).await,
        Err(Error::Conflict { .. })
    ));
    let mut g = group.clone();
    g.status = GroupStatus::Open;
    uow.umrah_groups()
        .update(&mut g)
        .await
        .expect("update group");
    let mut stale = group.clone();
    assert!(matches!(
        uow.umrah_groups().update(&mut stale).await,
        Err(Error::Conflict { .. })
    ));

    // Rooms: one per pilgrim per city.
    let room = new_umrah_room(&group, RoomType::Double);
    let other = new_umrah_room(&group, RoomType::Quad);
    uow.umrah_rooms().insert(&room).await.expect("room");
    uow.umrah_rooms().insert(&other).await.expect("room");
    assert_eq!(
        uow.umrah_rooms().get(tenant, room.id).await.expect("get"),
        Some(room.clone())
    );
    assert_eq!(
        uow.umrah_rooms()
            .lock(stranger, room.id)
            .await
            .expect("lock"),
        None
    );
    let place = |room: &Room, pilgrim: PilgrimId| RoomAssignment {
        tenant_id: tenant,
        group_id: group.id,
        room_id: room.id,
        city: room.city,
        pilgrim_id: pilgrim,
        created_at: now(),
    };
    uow.umrah_rooms()
        .assign(&place(&room, husband.id))
        .await
        .expect("assign");
    assert!(matches!(
        uow.umrah_rooms().assign(&place(&other, husband.id)).await,
        Err(Error::Conflict { .. })
    ));
    let occupants = uow
        .umrah_rooms()
        .assignments_for_room(tenant, room.id)
        .await
        .expect("occupants");
    assert_eq!(
        occupants
            .iter()
            .map(|a| (a.room_id, a.pilgrim_id, a.city, a.group_id))
            .collect::<Vec<_>>(),
        vec![(room.id, husband.id, City::Makkah, group.id)]
    );
    assert!(
        uow.umrah_rooms()
            .unassign(tenant, room.id, husband.id)
            .await
            .expect("unassign")
    );
    assert!(
        !uow.umrah_rooms()
            .unassign(stranger, room.id, wife.id)
            .await
            .expect("unassign")
    );
    let scope = Scope {
        tenant_id: tenant,
        branches: BranchScope::only([group.branch_id]),
    };
    let groups = uow
        .umrah_groups()
        .list(&scope, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(groups.items.len(), 1);
    let none = uow
        .umrah_groups()
        .list(&elsewhere, PageRequest::first())
        .await
        .expect("list");
    assert!(none.items.is_empty());
    uow.commit().await.expect("commit");
}

/// Concurrent units of work that each lock a room, count its occupants
/// and add one while there is a bed leave exactly the room's capacity.
pub async fn room_locks_serialize_concurrent_assignments(store: Arc<dyn Store>) {
    let group = seed_umrah_group(&*store).await;
    let room = new_umrah_room(&group, RoomType::Triple);
    let mut uow = store.begin().await.expect("begin");
    uow.umrah_rooms().insert(&room).await.expect("room");
    let mut pilgrims = Vec::new();
    for i in 0..8u8 {
        let p = new_pilgrim(&group, Gender::Male, 10 + i);
        uow.pilgrims().insert(&p).await.expect("pilgrim");
        pilgrims.push(p);
    }
    uow.commit().await.expect("commit");

    let mut tasks = Vec::new();
    for pilgrim in pilgrims {
        let store = store.clone();
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            transact(&*store, |uow| {
                let room = room.clone();
                let pilgrim = pilgrim.id;
                Box::pin(async move {
                    let locked = uow
                        .umrah_rooms()
                        .lock(room.tenant_id, room.id)
                        .await?
                        .ok_or(Error::not_found("room"))?;
                    let occupants = uow
                        .umrah_rooms()
                        .assignments_for_room(room.tenant_id, room.id)
                        .await?;
                    if occupants.len() >= locked.room_type.capacity() {
                        return Ok(false);
                    }
                    uow.umrah_rooms()
                        .assign(&RoomAssignment {
                            tenant_id: room.tenant_id,
                            group_id: room.group_id,
                            room_id: room.id,
                            city: room.city,
                            pilgrim_id: pilgrim,
                            created_at: now(),
                        })
                        .await?;
                    Ok(true)
                })
            })
            .await
        }));
    }
    let mut placed = 0;
    for task in tasks {
        if task.await.expect("task").expect("transact") {
            placed += 1;
        }
    }
    assert_eq!(placed, 3, "a triple room takes three");
    let mut uow = store.begin().await.expect("begin");
    let occupants = uow
        .umrah_rooms()
        .assignments_for_room(room.tenant_id, room.id)
        .await
        .expect("occupants");
    assert_eq!(occupants.len(), 3);
    let page = uow
        .umrah_rooms()
        .list_for_group(room.tenant_id, room.group_id, PageRequest::first())
        .await
        .expect("rooms");
    assert_eq!(page.items, vec![room]);
    uow.rollback().await.expect("rollback");
}
