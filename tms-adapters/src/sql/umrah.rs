//! The Umrah repositories (groups, families, pilgrims, rooms), written once
//! for both databases like those of `repos.rs`.
//!
//! Dates (departure, birth, passport expiry) are PostgreSQL `date` and
//! SQLite ISO text; sqlx reads both as `NaiveDate`. Passport numbers arrive
//! sealed and indexed (the key ring lives in the core): this module never
//! sees one in clear.

use async_trait::async_trait;
use chrono::NaiveDate;
use sea_query::{Expr, ExprTrait as _, Order, Query, SelectStatement, Value};
use tms_core::Result;
use tms_core::domain::{
    City, Country, Gender, GroupLeader, GroupStatus, LatinName, MahramRelation, Name, Pilgrim,
    Room, RoomAssignment, RoomType, Season, ShortRef, StoredPassport, UmrahFamily, UmrahGroup,
    VisaStatus,
};
use tms_core::id::{BranchId, PilgrimId, RoomId, TenantId, UmrahFamilyId, UmrahGroupId};
use tms_core::ports::{
    Cursor, Page, PageRequest, PilgrimRepo, RoomRepo, Scope, UmrahFamilyRepo, UmrahGroupRepo,
};
use tms_core::security::keyring::{BlindIndex, Sealed};

use super::backend::{Row, map_err};
use super::repos::{SqlUnitOfWork, bytes, corrupt, int, opt_text, opt_uuid, page_of, text, uuid};
use super::scope::{empty_page, scoped};

// The small helpers below repeat those private to `repos.rs` (that file is
// shared by several parallel changes; the lead may merge the two sets).

fn date(d: NaiveDate) -> Expr {
    Expr::val(Value::ChronoDate(Some(d)))
}

fn row_date(row: &Row, column: &str) -> Result<NaiveDate> {
    use sqlx::Row as _;
    match row {
        #[cfg(feature = "sqlite")]
        Row::Sqlite(r) => r.try_get::<NaiveDate, _>(column).map_err(map_err),
        #[cfg(feature = "postgres")]
        Row::Postgres(r) => r.try_get::<NaiveDate, _>(column).map_err(map_err),
    }
}

impl SqlUnitOfWork {
    async fn u_all<T>(
        &mut self,
        q: &SelectStatement,
        map: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.tx.fetch_all(q).await?.iter().map(map).collect()
    }
}

// ---------------------------------------------------------------- groups

const GROUP_COLS: [&str; 14] = [
    "tenant_id",
    "id",
    "branch_id",
    "name",
    "season",
    "package_id",
    "departure_date",
    "return_date",
    "leader_pilgrim_id",
    "leader_name",
    "capacity",
    "status",
    "created_at",
    "version",
];

fn group_of(row: &Row) -> Result<UmrahGroup> {
    let leader = match (
        row.opt_uuid("leader_pilgrim_id")?,
        row.opt_text("leader_name")?,
    ) {
        (Some(id), _) => Some(GroupLeader::Pilgrim(PilgrimId::from_uuid(id))),
        (None, Some(name)) => Some(GroupLeader::Named(
            Name::parse(&name).map_err(|_| corrupt("group leader"))?,
        )),
        (None, None) => None,
    };
    Ok(UmrahGroup {
        id: UmrahGroupId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("group name"))?,
        season: Season::parse(&row.text("season")?).map_err(|_| corrupt("season"))?,
        package_id: row.opt_uuid("package_id")?,
        departure_date: row_date(row, "departure_date")?,
        return_date: row_date(row, "return_date")?,
        leader,
        capacity: u32::try_from(row.i64("capacity")?).map_err(|_| corrupt("capacity"))?,
        status: GroupStatus::parse(&row.text("status")?).map_err(|_| corrupt("group status"))?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

fn leader_columns(leader: &Option<GroupLeader>) -> (Option<PilgrimId>, Option<&str>) {
    match leader {
        Some(GroupLeader::Pilgrim(id)) => (Some(*id), None),
        Some(GroupLeader::Named(name)) => (None, Some(name.as_str())),
        None => (None, None),
    }
}

impl SqlUnitOfWork {
    async fn group_where(
        &mut self,
        tenant: TenantId,
        id: UmrahGroupId,
        lock: bool,
    ) -> Result<Option<UmrahGroup>> {
        let mut q = Query::select();
        q.columns(GROUP_COLS)
            .from("umrah_groups")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)));
        if lock {
            q.lock(sea_query::LockType::Update);
        }
        self.fetch_one(&q, group_of).await
    }
}

#[async_trait]
impl UmrahGroupRepo for SqlUnitOfWork {
    async fn insert(&mut self, group: &UmrahGroup) -> Result<()> {
        self.for_tenant(group.tenant_id).await?;
        let (leader_id, leader_name) = leader_columns(&group.leader);
        let values = [
            uuid(group.tenant_id),
            uuid(group.id),
            uuid(group.branch_id),
            text(group.name.as_str()),
            text(group.season.as_str()),
            opt_uuid(group.package_id),
            date(group.departure_date),
            date(group.return_date),
            opt_uuid(leader_id),
            opt_text(leader_name),
            int(i64::from(group.capacity)),
            text(group.status.as_str()),
            self.ts(group.created_at),
            int(group.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("umrah_groups")
                .columns(GROUP_COLS)
                .values(values),
            "an Umrah group with this id exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: UmrahGroupId) -> Result<Option<UmrahGroup>> {
        self.for_tenant(tenant).await?;
        self.group_where(tenant, id, false).await
    }

    async fn lock(&mut self, tenant: TenantId, id: UmrahGroupId) -> Result<Option<UmrahGroup>> {
        self.for_tenant(tenant).await?;
        self.group_where(tenant, id, true).await
    }

    async fn update(&mut self, group: &mut UmrahGroup) -> Result<()> {
        self.for_tenant(group.tenant_id).await?;
        let (leader_id, leader_name) = leader_columns(&group.leader);
        let q = Query::update()
            .table("umrah_groups")
            .value("name", group.name.as_str())
            .value("season", group.season.as_str())
            .value("package_id", opt_uuid(group.package_id))
            .value("departure_date", date(group.departure_date))
            .value("return_date", date(group.return_date))
            .value("leader_pilgrim_id", opt_uuid(leader_id))
            .value("leader_name", opt_text(leader_name))
            .value("capacity", i64::from(group.capacity))
            .value("status", group.status.as_str())
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(group.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(group.id)))
            .and_where(Expr::col("version").eq(group.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            group.version += 1;
            return Ok(());
        }
        Err(self
            .stale(
                "umrah_groups",
                "umrah group",
                group.tenant_id,
                group.id.as_uuid(),
            )
            .await)
    }

    async fn delete(&mut self, tenant: TenantId, id: UmrahGroupId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        for table in ["umrah_room_assignments", "umrah_rooms", "umrah_families"] {
            let q = Query::delete()
                .from_table(table)
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                .and_where(Expr::col("group_id").eq(uuid(id)))
                .to_owned();
            self.tx.execute(&q).await?;
        }
        let q = Query::delete()
            .from_table("umrah_groups")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn list(&mut self, scope: &Scope, page: PageRequest) -> Result<Page<UmrahGroup>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(GROUP_COLS).from("umrah_groups");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        self.keyset(&mut q, page);
        let items = self.u_all(&q, group_of).await?;
        Ok(page_of(items, page, |g| Cursor {
            created_at: g.created_at,
            id: g.id.as_uuid(),
        }))
    }
}

// ---------------------------------------------------------------- families

const FAMILY_COLS: [&str; 8] = [
    "tenant_id",
    "id",
    "group_id",
    "branch_id",
    "name",
    "head_pilgrim_id",
    "created_at",
    "version",
];

fn family_of(row: &Row) -> Result<UmrahFamily> {
    Ok(UmrahFamily {
        id: UmrahFamilyId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        group_id: UmrahGroupId::from_uuid(row.uuid("group_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("family name"))?,
        head_pilgrim_id: row.opt_uuid("head_pilgrim_id")?.map(PilgrimId::from_uuid),
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

#[async_trait]
impl UmrahFamilyRepo for SqlUnitOfWork {
    async fn insert(&mut self, family: &UmrahFamily) -> Result<()> {
        self.for_tenant(family.tenant_id).await?;
        let values = [
            uuid(family.tenant_id),
            uuid(family.id),
            uuid(family.group_id),
            uuid(family.branch_id),
            text(family.name.as_str()),
            opt_uuid(family.head_pilgrim_id),
            self.ts(family.created_at),
            int(family.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("umrah_families")
                .columns(FAMILY_COLS)
                .values(values),
            "a family with this id exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: UmrahFamilyId) -> Result<Option<UmrahFamily>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(FAMILY_COLS)
            .from("umrah_families")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, family_of).await
    }

    async fn update(&mut self, family: &mut UmrahFamily) -> Result<()> {
        self.for_tenant(family.tenant_id).await?;
        let q = Query::update()
            .table("umrah_families")
            .value("name", family.name.as_str())
            .value("head_pilgrim_id", opt_uuid(family.head_pilgrim_id))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(family.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(family.id)))
            .and_where(Expr::col("version").eq(family.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            family.version += 1;
            return Ok(());
        }
        Err(self
            .stale(
                "umrah_families",
                "umrah family",
                family.tenant_id,
                family.id.as_uuid(),
            )
            .await)
    }

    async fn list_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<UmrahFamily>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(FAMILY_COLS)
            .from("umrah_families")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("group_id").eq(uuid(group)));
        self.keyset(&mut q, page);
        let items = self.u_all(&q, family_of).await?;
        Ok(page_of(items, page, |f| Cursor {
            created_at: f.created_at,
            id: f.id.as_uuid(),
        }))
    }
}

// ---------------------------------------------------------------- pilgrims

const PILGRIM_COLS: [&str; 21] = [
    "tenant_id",
    "id",
    "group_id",
    "branch_id",
    "family_id",
    "name",
    "latin_name",
    "gender",
    "date_of_birth",
    "nationality",
    "passport_number",
    "passport_index",
    "passport_hint",
    "passport_expiry",
    "visa_status",
    "visa_number",
    "client_id",
    "mahram_id",
    "mahram_relation",
    "created_at",
    "version",
];

fn pilgrim_of(row: &Row) -> Result<Pilgrim> {
    Ok(Pilgrim {
        id: PilgrimId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        group_id: UmrahGroupId::from_uuid(row.uuid("group_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        family_id: row.opt_uuid("family_id")?.map(UmrahFamilyId::from_uuid),
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("pilgrim name"))?,
        latin_name: LatinName::parse(&row.text("latin_name")?)
            .map_err(|_| corrupt("latin name"))?,
        gender: Gender::parse(&row.text("gender")?).map_err(|_| corrupt("gender"))?,
        date_of_birth: row_date(row, "date_of_birth")?,
        nationality: Country::parse(&row.text("nationality")?)
            .map_err(|_| corrupt("nationality"))?,
        passport: StoredPassport {
            sealed: Sealed::from_bytes(row.bytes("passport_number")?),
            index: BlindIndex::from_bytes(row.bytes("passport_index")?),
            hint: row.text("passport_hint")?,
        },
        passport_expiry: row_date(row, "passport_expiry")?,
        visa_status: VisaStatus::parse(&row.text("visa_status")?)
            .map_err(|_| corrupt("visa status"))?,
        visa_number: row
            .opt_text("visa_number")?
            .map(|v| ShortRef::parse(&v, "visa_number").map_err(|_| corrupt("visa number")))
            .transpose()?,
        client_id: row.opt_uuid("client_id")?,
        mahram_id: row.opt_uuid("mahram_id")?.map(PilgrimId::from_uuid),
        mahram_relation: row
            .opt_text("mahram_relation")?
            .map(|r| MahramRelation::parse(&r).map_err(|_| corrupt("mahram relation")))
            .transpose()?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

impl SqlUnitOfWork {
    fn pilgrims_query(tenant: TenantId) -> SelectStatement {
        Query::select()
            .columns(PILGRIM_COLS)
            .from("pilgrims")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned()
    }
}

#[async_trait]
impl PilgrimRepo for SqlUnitOfWork {
    async fn insert(&mut self, p: &Pilgrim) -> Result<()> {
        self.for_tenant(p.tenant_id).await?;
        let values = [
            uuid(p.tenant_id),
            uuid(p.id),
            uuid(p.group_id),
            uuid(p.branch_id),
            opt_uuid(p.family_id),
            text(p.name.as_str()),
            text(p.latin_name.as_str()),
            text(p.gender.as_str()),
            date(p.date_of_birth),
            text(p.nationality.as_str()),
            bytes(p.passport.sealed.as_bytes()),
            bytes(p.passport.index.as_bytes()),
            text(&p.passport.hint),
            date(p.passport_expiry),
            text(p.visa_status.as_str()),
            opt_text(p.visa_number.as_ref().map(ShortRef::as_str)),
            opt_uuid(p.client_id),
            opt_uuid(p.mahram_id),
            opt_text(p.mahram_relation.map(MahramRelation::as_str)),
            self.ts(p.created_at),
            int(p.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("pilgrims")
                .columns(PILGRIM_COLS)
                .values(values),
            "a pilgrim with this id exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: PilgrimId) -> Result<Option<Pilgrim>> {
        self.for_tenant(tenant).await?;
        let q = Self::pilgrims_query(tenant)
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, pilgrim_of).await
    }

    async fn update(&mut self, p: &mut Pilgrim) -> Result<()> {
        self.for_tenant(p.tenant_id).await?;
        let q = Query::update()
            .table("pilgrims")
            .value("family_id", opt_uuid(p.family_id))
            .value("name", p.name.as_str())
            .value("latin_name", p.latin_name.as_str())
            .value("gender", p.gender.as_str())
            .value("date_of_birth", date(p.date_of_birth))
            .value("nationality", p.nationality.as_str())
            .value("passport_number", bytes(p.passport.sealed.as_bytes()))
            .value("passport_index", bytes(p.passport.index.as_bytes()))
            .value("passport_hint", p.passport.hint.as_str())
            .value("passport_expiry", date(p.passport_expiry))
            .value("visa_status", p.visa_status.as_str())
            .value(
                "visa_number",
                opt_text(p.visa_number.as_ref().map(ShortRef::as_str)),
            )
            .value("client_id", opt_uuid(p.client_id))
            .value("mahram_id", opt_uuid(p.mahram_id))
            .value(
                "mahram_relation",
                opt_text(p.mahram_relation.map(MahramRelation::as_str)),
            )
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(p.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(p.id)))
            .and_where(Expr::col("version").eq(p.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            p.version += 1;
            return Ok(());
        }
        Err(self
            .stale("pilgrims", "pilgrim", p.tenant_id, p.id.as_uuid())
            .await)
    }

    async fn delete(&mut self, tenant: TenantId, id: PilgrimId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("umrah_room_assignments")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("pilgrim_id").eq(uuid(id)))
            .to_owned();
        self.tx.execute(&q).await?;
        let q = Query::delete()
            .from_table("pilgrims")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn list_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<Pilgrim>> {
        self.for_tenant(tenant).await?;
        let mut q = Self::pilgrims_query(tenant)
            .and_where(Expr::col("group_id").eq(uuid(group)))
            .to_owned();
        self.keyset(&mut q, page);
        let items = self.u_all(&q, pilgrim_of).await?;
        Ok(page_of(items, page, |p| Cursor {
            created_at: p.created_at,
            id: p.id.as_uuid(),
        }))
    }

    async fn count_in_group(&mut self, tenant: TenantId, group: UmrahGroupId) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .expr_as(Expr::col("id").count(), "n")
            .from("pilgrims")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("group_id").eq(uuid(group)))
            .to_owned();
        let n = match self.tx.fetch_optional(&q).await? {
            Some(row) => row.i64("n")?,
            None => 0,
        };
        u64::try_from(n).map_err(|_| corrupt("count"))
    }

    async fn list_for_family(
        &mut self,
        tenant: TenantId,
        family: UmrahFamilyId,
    ) -> Result<Vec<Pilgrim>> {
        self.for_tenant(tenant).await?;
        let q = Self::pilgrims_query(tenant)
            .and_where(Expr::col("family_id").eq(uuid(family)))
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.u_all(&q, pilgrim_of).await
    }

    async fn find_by_passport(
        &mut self,
        scope: &Scope,
        indexes: &[BlindIndex],
    ) -> Result<Vec<Pilgrim>> {
        self.for_tenant(scope.tenant_id).await?;
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::select();
        q.columns(PILGRIM_COLS).from("pilgrims");
        if !scoped(&mut q, scope) {
            return Ok(Vec::new());
        }
        q.and_where(Expr::col("passport_index").is_in(indexes.iter().map(|i| bytes(i.as_bytes()))))
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc);
        self.u_all(&q, pilgrim_of).await
    }
}

// ---------------------------------------------------------------- rooms

const ROOM_COLS: [&str; 10] = [
    "tenant_id",
    "id",
    "group_id",
    "branch_id",
    "hotel",
    "city",
    "room_type",
    "room_number",
    "created_at",
    "version",
];

fn room_of(row: &Row) -> Result<Room> {
    Ok(Room {
        id: RoomId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        group_id: UmrahGroupId::from_uuid(row.uuid("group_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        hotel: Name::parse(&row.text("hotel")?).map_err(|_| corrupt("hotel"))?,
        city: City::parse(&row.text("city")?).map_err(|_| corrupt("city"))?,
        room_type: RoomType::parse(&row.text("room_type")?).map_err(|_| corrupt("room type"))?,
        room_number: row
            .opt_text("room_number")?
            .map(|n| ShortRef::parse(&n, "room_number").map_err(|_| corrupt("room number")))
            .transpose()?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

const ASSIGNMENT_COLS: [&str; 6] = [
    "tenant_id",
    "pilgrim_id",
    "city",
    "room_id",
    "group_id",
    "created_at",
];

fn assignment_of(row: &Row) -> Result<RoomAssignment> {
    Ok(RoomAssignment {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        group_id: UmrahGroupId::from_uuid(row.uuid("group_id")?),
        room_id: RoomId::from_uuid(row.uuid("room_id")?),
        city: City::parse(&row.text("city")?).map_err(|_| corrupt("city"))?,
        pilgrim_id: PilgrimId::from_uuid(row.uuid("pilgrim_id")?),
        created_at: row.ts("created_at")?,
    })
}

impl SqlUnitOfWork {
    async fn room_where(
        &mut self,
        tenant: TenantId,
        id: RoomId,
        lock: bool,
    ) -> Result<Option<Room>> {
        let mut q = Query::select();
        q.columns(ROOM_COLS)
            .from("umrah_rooms")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)));
        if lock {
            q.lock(sea_query::LockType::Update);
        }
        self.fetch_one(&q, room_of).await
    }
}

#[async_trait]
impl RoomRepo for SqlUnitOfWork {
    async fn insert(&mut self, room: &Room) -> Result<()> {
        self.for_tenant(room.tenant_id).await?;
        let values = [
            uuid(room.tenant_id),
            uuid(room.id),
            uuid(room.group_id),
            uuid(room.branch_id),
            text(room.hotel.as_str()),
            text(room.city.as_str()),
            text(room.room_type.as_str()),
            opt_text(room.room_number.as_ref().map(ShortRef::as_str)),
            self.ts(room.created_at),
            int(room.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("umrah_rooms")
                .columns(ROOM_COLS)
                .values(values),
            "the group has a room with this hotel, city and number",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: RoomId) -> Result<Option<Room>> {
        self.for_tenant(tenant).await?;
        self.room_where(tenant, id, false).await
    }

    async fn lock(&mut self, tenant: TenantId, id: RoomId) -> Result<Option<Room>> {
        self.for_tenant(tenant).await?;
        self.room_where(tenant, id, true).await
    }

    async fn list_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        page: PageRequest,
    ) -> Result<Page<Room>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(ROOM_COLS)
            .from("umrah_rooms")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("group_id").eq(uuid(group)));
        self.keyset(&mut q, page);
        let items = self.u_all(&q, room_of).await?;
        Ok(page_of(items, page, |r| Cursor {
            created_at: r.created_at,
            id: r.id.as_uuid(),
        }))
    }

    async fn assign(&mut self, a: &RoomAssignment) -> Result<()> {
        self.for_tenant(a.tenant_id).await?;
        let values = [
            uuid(a.tenant_id),
            uuid(a.pilgrim_id),
            text(a.city.as_str()),
            uuid(a.room_id),
            uuid(a.group_id),
            self.ts(a.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("umrah_room_assignments")
                .columns(ASSIGNMENT_COLS)
                .values(values),
            "the pilgrim already has a room in this city",
        )
        .await
    }

    async fn unassign(
        &mut self,
        tenant: TenantId,
        room: RoomId,
        pilgrim: PilgrimId,
    ) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("umrah_room_assignments")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("room_id").eq(uuid(room)))
            .and_where(Expr::col("pilgrim_id").eq(uuid(pilgrim)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn assignments_for_room(
        &mut self,
        tenant: TenantId,
        room: RoomId,
    ) -> Result<Vec<RoomAssignment>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(ASSIGNMENT_COLS)
            .from("umrah_room_assignments")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("room_id").eq(uuid(room)))
            .order_by("created_at", Order::Asc)
            .order_by("pilgrim_id", Order::Asc)
            .to_owned();
        self.u_all(&q, assignment_of).await
    }

    async fn assignments_for_group(
        &mut self,
        tenant: TenantId,
        group: UmrahGroupId,
        city: Option<City>,
    ) -> Result<Vec<RoomAssignment>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(ASSIGNMENT_COLS)
            .from("umrah_room_assignments")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("group_id").eq(uuid(group)));
        if let Some(city) = city {
            q.and_where(Expr::col("city").eq(city.as_str()));
        }
        q.order_by("created_at", Order::Asc)
            .order_by("pilgrim_id", Order::Asc);
        self.u_all(&q, assignment_of).await
    }
}
