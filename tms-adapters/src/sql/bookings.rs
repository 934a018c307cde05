//! The catalogue, booking, ticket and idempotency repositories, written
//! once for both databases (schema 4).
//!
//! - Places: [`CatalogueRepo::take_places`] is one `UPDATE … SET booked =
//!   booked + n WHERE … AND booked + n <= capacity`. PostgreSQL re-checks
//!   the condition on the locked row after a concurrent writer commits
//!   (READ COMMITTED), SQLite has one writer at a time: either way the last
//!   places go to exactly one booking; a table CHECK backs it up.
//! - References: `INSERT … ON CONFLICT DO NOTHING` makes the year's counter
//!   row, then `UPDATE … SET next_number = next_number + 1 … RETURNING`
//!   takes a number under the row's lock until the unit commits.
//! - Idempotency keys: `INSERT … ON CONFLICT DO NOTHING`, which on
//!   PostgreSQL waits for a concurrent insert of the same key to end; then
//!   the committed row is read back.
//! - Passports: a traveller's sealed passport number is not in the
//!   booking's `travellers` JSON but in `booking_traveller_passports`, one
//!   row per traveller, rewritten with the booking in the same unit and
//!   joined back on every read: there, key rotation finds it
//!   ([`super::sealed::SEALED_COLUMNS`]).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use sea_query::{Expr, ExprTrait as _, OnConflict, Query, Value};
use tms_core::domain::{
    AirlineCode, BookingItem, BookingReference, BookingStatus, Category, Name, Package,
    PackageDetails, Pnr, Segment, Ticket, TicketNumber, TicketStatus,
};
use tms_core::id::{
    BookingId, BranchId, CategoryId, ClientId, PackageId, TenantId, TicketId, TravellerId, UserId,
};
use tms_core::money::{Currency, Money};
use tms_core::ports::{
    BookingFilter, BookingRecord, BookingRepo, CatalogueRepo, Claim, Cursor, IdempotencyKey,
    IdempotencyRecord, IdempotencyRepo, Page, PageRequest, Scope, StoredTraveller, TicketRepo,
};
use tms_core::security::keyring::Sealed;
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{SqlUnitOfWork, corrupt, opt_text, opt_uuid, page_of, query_err, uuid};
use super::scope::{empty_page, scoped};

fn json_text<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("{what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &Row, column: &str) -> Result<T> {
    serde_json::from_str(&row.text(column)?).map_err(|_| corrupt(column))
}

fn date(row: &Row, column: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(&row.text(column)?, "%Y-%m-%d").map_err(|_| corrupt(column))
}

fn money(row: &Row, prefix: &str) -> Result<Money> {
    let currency =
        Currency::parse(&row.text(&format!("{prefix}_currency"))?).map_err(|_| corrupt(prefix))?;
    Ok(Money::from_minor(
        row.i64(&format!("{prefix}_minor"))?,
        currency,
    ))
}

fn u32_of(row: &Row, column: &str) -> Result<u32> {
    u32::try_from(row.i64(column)?).map_err(|_| corrupt(column))
}

impl SqlUnitOfWork {
    /// Replaces the sealed passports of `booking`'s travellers with those
    /// of the record (a traveller removed loses its row).
    async fn write_passports(&mut self, booking: &BookingRecord) -> Result<()> {
        let clear = Query::delete()
            .from_table(PASSPORTS)
            .and_where(Expr::col("tenant_id").eq(uuid(booking.tenant_id)))
            .and_where(Expr::col("booking_id").eq(uuid(booking.id)))
            .to_owned();
        self.tx.execute(&clear).await?;
        let mut insert = Query::insert();
        insert
            .into_table(PASSPORTS)
            .columns(["tenant_id", "traveller_id", "booking_id", "sealed"]);
        let mut any = false;
        for traveller in &booking.travellers {
            let Some(sealed) = &traveller.passport else {
                continue;
            };
            insert
                .values([
                    uuid(booking.tenant_id),
                    uuid(traveller.id),
                    uuid(booking.id),
                    Expr::val(Value::Bytes(Some(sealed.as_bytes().to_vec()))),
                ])
                .map_err(query_err)?;
            any = true;
        }
        if any {
            self.tx.execute(&insert).await?;
        }
        Ok(())
    }

    /// Puts the sealed passports back into the travellers of `bookings`
    /// (all of one tenant).
    async fn read_passports(
        &mut self,
        tenant: TenantId,
        bookings: &mut [BookingRecord],
    ) -> Result<()> {
        if bookings.is_empty() {
            return Ok(());
        }
        let q = Query::select()
            .columns(["traveller_id", "sealed"])
            .from(PASSPORTS)
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("booking_id").is_in(bookings.iter().map(|b| uuid(b.id))))
            .to_owned();
        let mut sealed: HashMap<uuid::Uuid, Sealed> = HashMap::new();
        for row in self.tx.fetch_all(&q).await? {
            sealed.insert(
                row.uuid("traveller_id")?,
                Sealed::from_bytes(row.bytes("sealed")?),
            );
        }
        for booking in bookings {
            for traveller in &mut booking.travellers {
                traveller.passport = sealed.remove(&traveller.id.as_uuid());
            }
        }
        Ok(())
    }
}

/// The table of the travellers' sealed passport numbers.
const PASSPORTS: &str = "booking_traveller_passports";

/// The travellers as the `travellers` JSON keeps them: without their
/// passports, which live in [`PASSPORTS`].
fn travellers_json(travellers: &[StoredTraveller]) -> Result<String> {
    let bare: Vec<StoredTraveller> = travellers
        .iter()
        .map(|t| StoredTraveller {
            passport: None,
            ..t.clone()
        })
        .collect();
    json_text(&bare, "travellers")
}

// ---------------------------------------------------------------- catalogue

const CATEGORY_COLS: [&str; 6] = [
    "tenant_id",
    "id",
    "name",
    "description",
    "created_at",
    "version",
];

fn category_of(row: &Row) -> Result<Category> {
    Ok(Category {
        id: CategoryId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("category name"))?,
        description: row.text("description")?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

const PACKAGE_COLS: [&str; 16] = [
    "tenant_id",
    "id",
    "category_id",
    "title",
    "description",
    "price_minor",
    "price_currency",
    "starts_on",
    "ends_on",
    "capacity",
    "booked",
    "inclusions",
    "published",
    "image_key",
    "created_at",
    "version",
];

fn package_of(row: &Row) -> Result<Package> {
    Ok(Package {
        id: PackageId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        details: PackageDetails {
            category_id: row.opt_uuid("category_id")?.map(CategoryId::from_uuid),
            title: Name::parse(&row.text("title")?).map_err(|_| corrupt("package title"))?,
            description: row.text("description")?,
            price: money(row, "price")?,
            starts_on: date(row, "starts_on")?,
            ends_on: date(row, "ends_on")?,
            capacity: u32_of(row, "capacity")?,
            inclusions: from_json(row, "inclusions")?,
        },
        booked: u32_of(row, "booked")?,
        published: row.bool("published")?,
        image_key: row.opt_text("image_key")?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[async_trait]
impl CatalogueRepo for SqlUnitOfWork {
    async fn insert_category(&mut self, category: &Category) -> Result<()> {
        self.for_tenant(category.tenant_id).await?;
        let values = [
            uuid(category.tenant_id),
            uuid(category.id),
            Expr::val(category.name.as_str()),
            Expr::val(category.description.as_str()),
            self.ts(category.created_at),
            Expr::val(category.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("categories")
                .columns(CATEGORY_COLS)
                .values(values),
            "a category with this id exists",
        )
        .await
    }

    async fn get_category(&mut self, tenant: TenantId, id: CategoryId) -> Result<Option<Category>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CATEGORY_COLS)
            .from("categories")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, category_of).await
    }

    async fn list_categories(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Category>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(CATEGORY_COLS)
            .from("categories")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        self.keyset(&mut q, page);
        let items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(category_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |c| Cursor {
            created_at: c.created_at,
            id: c.id.as_uuid(),
        }))
    }

    async fn insert_package(&mut self, package: &Package) -> Result<()> {
        self.for_tenant(package.tenant_id).await?;
        let d = &package.details;
        let values = [
            uuid(package.tenant_id),
            uuid(package.id),
            opt_uuid(d.category_id),
            Expr::val(d.title.as_str()),
            Expr::val(d.description.as_str()),
            Expr::val(d.price.minor_units()),
            Expr::val(d.price.currency().code()),
            Expr::val(iso(d.starts_on)),
            Expr::val(iso(d.ends_on)),
            Expr::val(i64::from(d.capacity)),
            Expr::val(i64::from(package.booked)),
            Expr::val(json_text(&d.inclusions, "inclusions")?),
            Expr::val(package.published),
            opt_text(package.image_key.as_deref()),
            self.ts(package.created_at),
            Expr::val(package.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("packages")
                .columns(PACKAGE_COLS)
                .values(values),
            "a package with this id exists",
        )
        .await
    }

    async fn get_package(&mut self, tenant: TenantId, id: PackageId) -> Result<Option<Package>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(PACKAGE_COLS)
            .from("packages")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, package_of).await
    }

    async fn update_package(&mut self, package: &mut Package) -> Result<()> {
        self.for_tenant(package.tenant_id).await?;
        let d = &package.details;
        let q = Query::update()
            .table("packages")
            .value("category_id", opt_uuid(d.category_id))
            .value("title", d.title.as_str())
            .value("description", d.description.as_str())
            .value("price_minor", d.price.minor_units())
            .value("price_currency", d.price.currency().code())
            .value("starts_on", iso(d.starts_on))
            .value("ends_on", iso(d.ends_on))
            .value("capacity", i64::from(d.capacity))
            .value("inclusions", json_text(&d.inclusions, "inclusions")?)
            .value("published", package.published)
            .value("image_key", opt_text(package.image_key.as_deref()))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(package.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(package.id)))
            .and_where(Expr::col("version").eq(package.version))
            // Never below what is booked, whatever was read before.
            .and_where(Expr::col("booked").lte(i64::from(d.capacity)))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            package.version += 1;
            return Ok(());
        }
        Err(self
            .stale(
                "packages",
                "package",
                package.tenant_id,
                package.id.as_uuid(),
            )
            .await)
    }

    async fn list_packages(
        &mut self,
        tenant: TenantId,
        published_only: bool,
        page: PageRequest,
    ) -> Result<Page<Package>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(PACKAGE_COLS)
            .from("packages")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        if published_only {
            q.and_where(Expr::col("published").eq(true));
        }
        self.keyset(&mut q, page);
        let items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(package_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |p| Cursor {
            created_at: p.created_at,
            id: p.id.as_uuid(),
        }))
    }

    async fn take_places(&mut self, tenant: TenantId, id: PackageId, n: u32) -> Result<()> {
        self.for_tenant(tenant).await?;
        let n = i64::from(n);
        let q = Query::update()
            .table("packages")
            .value("booked", Expr::col("booked").add(n))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .and_where(Expr::col("published").eq(true))
            .and_where(Expr::col("booked").add(n).lte(Expr::col("capacity")))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            return Ok(());
        }
        match CatalogueRepo::get_package(self, tenant, id).await? {
            None => Err(Error::not_found("package")),
            Some(p) if !p.published => Err(Error::conflict(format!(
                "package {} is not published",
                p.details.title
            ))),
            Some(p) => Err(Error::conflict(format!(
                "package {} is sold out: {} of {} places left, {n} asked",
                p.details.title,
                p.available(),
                p.details.capacity
            ))),
        }
    }

    async fn release_places(&mut self, tenant: TenantId, id: PackageId, n: u32) -> Result<()> {
        self.for_tenant(tenant).await?;
        let n = i64::from(n);
        let q = Query::update()
            .table("packages")
            .value("booked", Expr::col("booked").sub(n))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .and_where(Expr::col("booked").gte(n))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            return Ok(());
        }
        // Out of step (never expected): never below zero.
        let q = Query::update()
            .table("packages")
            .value("booked", 0_i64)
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.tx.execute(&q).await.map(drop)
    }
}

// ---------------------------------------------------------------- bookings

const BOOKING_COLS: [&str; 12] = [
    "tenant_id",
    "id",
    "branch_id",
    "client_id",
    "reference",
    "status",
    "travellers",
    "items",
    "created_by",
    "created_at",
    "updated_at",
    "version",
];

fn booking_of(row: &Row) -> Result<BookingRecord> {
    let status =
        BookingStatus::parse(&row.text("status")?).map_err(|_| corrupt("booking status"))?;
    Ok(BookingRecord {
        id: BookingId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        client_id: ClientId::from_uuid(row.uuid("client_id")?),
        reference: BookingReference::parse(&row.text("reference")?)
            .map_err(|_| corrupt("booking reference"))?,
        status,
        travellers: from_json::<Vec<StoredTraveller>>(row, "travellers")?,
        items: from_json::<Vec<BookingItem>>(row, "items")?,
        created_by: row.opt_uuid("created_by")?.map(UserId::from_uuid),
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        version: row.i64("version")?,
    })
}

#[async_trait]
impl BookingRepo for SqlUnitOfWork {
    async fn next_reference(&mut self, tenant: TenantId, year: i32) -> Result<BookingReference> {
        self.for_tenant(tenant).await?;
        let create = Query::insert()
            .into_table("booking_counters")
            .columns(["tenant_id", "year", "next_number"])
            .values([uuid(tenant), Expr::val(i64::from(year)), Expr::val(1_i64)])
            .map(|q| {
                q.on_conflict(OnConflict::new().do_nothing().to_owned())
                    .to_owned()
            })
            .map_err(query_err)?;
        self.tx.execute(&create).await?;
        let take = Query::update()
            .table("booking_counters")
            .value("next_number", Expr::col("next_number").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("year").eq(i64::from(year)))
            .returning(Query::returning().column("next_number"))
            .to_owned();
        let row = self
            .tx
            .fetch_optional(&take)
            .await?
            .ok_or_else(|| Error::internal("the booking counter row is missing"))?;
        let next = row.i64("next_number")?;
        let number = u64::try_from(next - 1).map_err(|_| corrupt("booking counter"))?;
        BookingReference::new(year, number)
    }

    async fn insert(&mut self, booking: &BookingRecord) -> Result<()> {
        self.for_tenant(booking.tenant_id).await?;
        let values = [
            uuid(booking.tenant_id),
            uuid(booking.id),
            uuid(booking.branch_id),
            uuid(booking.client_id),
            Expr::val(booking.reference.to_string()),
            Expr::val(booking.status.as_str()),
            Expr::val(travellers_json(&booking.travellers)?),
            Expr::val(json_text(&booking.items, "items")?),
            opt_uuid(booking.created_by),
            self.ts(booking.created_at),
            self.ts(booking.updated_at),
            Expr::val(booking.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("bookings")
                .columns(BOOKING_COLS)
                .values(values),
            "a booking with this id or reference exists",
        )
        .await?;
        self.write_passports(booking).await
    }

    async fn get(&mut self, tenant: TenantId, id: BookingId) -> Result<Option<BookingRecord>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(BOOKING_COLS)
            .from("bookings")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        let Some(row) = self.tx.fetch_optional(&q).await? else {
            return Ok(None);
        };
        let mut found = [booking_of(&row)?];
        self.read_passports(tenant, &mut found).await?;
        let [booking] = found;
        Ok(Some(booking))
    }

    async fn update(&mut self, booking: &mut BookingRecord) -> Result<()> {
        self.for_tenant(booking.tenant_id).await?;
        let q = Query::update()
            .table("bookings")
            .value("status", booking.status.as_str())
            .value("travellers", travellers_json(&booking.travellers)?)
            .value("updated_at", self.ts(booking.updated_at))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(booking.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(booking.id)))
            .and_where(Expr::col("version").eq(booking.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            self.write_passports(booking).await?;
            booking.version += 1;
            return Ok(());
        }
        Err(self
            .stale(
                "bookings",
                "booking",
                booking.tenant_id,
                booking.id.as_uuid(),
            )
            .await)
    }

    async fn delete(&mut self, tenant: TenantId, id: BookingId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("bookings")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn list(
        &mut self,
        scope: &Scope,
        filter: BookingFilter,
        page: PageRequest,
    ) -> Result<Page<BookingRecord>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(BOOKING_COLS).from("bookings");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        if let Some(status) = filter.status {
            q.and_where(Expr::col("status").eq(status.as_str()));
        }
        if let Some(client) = filter.client_id {
            q.and_where(Expr::col("client_id").eq(uuid(client)));
        }
        if let Some(branch) = filter.branch_id {
            q.and_where(Expr::col("branch_id").eq(uuid(branch)));
        }
        self.keyset(&mut q, page);
        let mut items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(booking_of)
            .collect::<Result<Vec<_>>>()?;
        self.read_passports(scope.tenant_id, &mut items).await?;
        Ok(page_of(items, page, |b| Cursor {
            created_at: b.created_at,
            id: b.id.as_uuid(),
        }))
    }
}

// ---------------------------------------------------------------- tickets

const TICKET_COLS: [&str; 17] = [
    "tenant_id",
    "id",
    "booking_id",
    "branch_id",
    "pnr",
    "airline",
    "ticket_number",
    "passenger_id",
    "segments",
    "fare_minor",
    "fare_currency",
    "taxes_minor",
    "taxes_currency",
    "status",
    "replaces_id",
    "created_at",
    "version",
];

fn ticket_of(row: &Row) -> Result<Ticket> {
    Ok(Ticket {
        id: TicketId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        booking_id: BookingId::from_uuid(row.uuid("booking_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        pnr: Pnr::parse(&row.text("pnr")?).map_err(|_| corrupt("pnr"))?,
        airline: AirlineCode::parse(&row.text("airline")?).map_err(|_| corrupt("airline"))?,
        ticket_number: TicketNumber::parse(&row.text("ticket_number")?)
            .map_err(|_| corrupt("ticket number"))?,
        passenger_id: TravellerId::from_uuid(row.uuid("passenger_id")?),
        segments: from_json::<Vec<Segment>>(row, "segments")?,
        fare: money(row, "fare")?,
        taxes: money(row, "taxes")?,
        status: TicketStatus::parse(&row.text("status")?).map_err(|_| corrupt("ticket status"))?,
        replaces: row.opt_uuid("replaces_id")?.map(TicketId::from_uuid),
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

#[async_trait]
impl TicketRepo for SqlUnitOfWork {
    async fn insert(&mut self, ticket: &Ticket) -> Result<()> {
        self.for_tenant(ticket.tenant_id).await?;
        let values = [
            uuid(ticket.tenant_id),
            uuid(ticket.id),
            uuid(ticket.booking_id),
            uuid(ticket.branch_id),
            Expr::val(ticket.pnr.as_str()),
            Expr::val(ticket.airline.as_str()),
            Expr::val(ticket.ticket_number.as_str()),
            uuid(ticket.passenger_id),
            Expr::val(json_text(&ticket.segments, "segments")?),
            Expr::val(ticket.fare.minor_units()),
            Expr::val(ticket.fare.currency().code()),
            Expr::val(ticket.taxes.minor_units()),
            Expr::val(ticket.taxes.currency().code()),
            Expr::val(ticket.status.as_str()),
            opt_uuid(ticket.replaces),
            self.ts(ticket.created_at),
            Expr::val(ticket.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("tickets")
                .columns(TICKET_COLS)
                .values(values),
            "a ticket with this number exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: TicketId) -> Result<Option<Ticket>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TICKET_COLS)
            .from("tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, ticket_of).await
    }

    async fn update(&mut self, ticket: &mut Ticket) -> Result<()> {
        self.for_tenant(ticket.tenant_id).await?;
        let q = Query::update()
            .table("tickets")
            .value("status", ticket.status.as_str())
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(ticket.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(ticket.id)))
            .and_where(Expr::col("version").eq(ticket.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            ticket.version += 1;
            return Ok(());
        }
        Err(self
            .stale("tickets", "ticket", ticket.tenant_id, ticket.id.as_uuid())
            .await)
    }

    async fn list_for_booking(
        &mut self,
        tenant: TenantId,
        booking: BookingId,
        page: PageRequest,
    ) -> Result<Page<Ticket>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(TICKET_COLS)
            .from("tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("booking_id").eq(uuid(booking)));
        self.keyset(&mut q, page);
        let items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(ticket_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |t| Cursor {
            created_at: t.created_at,
            id: t.id.as_uuid(),
        }))
    }

    async fn count_for_booking(&mut self, tenant: TenantId, booking: BookingId) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .expr_as(Expr::col("id").count(), "n")
            .from("tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("booking_id").eq(uuid(booking)))
            .to_owned();
        let row = self
            .tx
            .fetch_optional(&q)
            .await?
            .ok_or_else(|| Error::internal("COUNT returned no row"))?;
        u64::try_from(row.i64("n")?).map_err(|_| corrupt("count"))
    }
}

// ---------------------------------------------------------------- idempotency

#[async_trait]
impl IdempotencyRepo for SqlUnitOfWork {
    async fn claim(&mut self, record: &IdempotencyRecord) -> Result<Claim> {
        self.for_tenant(record.tenant_id).await?;
        let insert = Query::insert()
            .into_table("idempotency_keys")
            .columns([
                "tenant_id",
                "operation",
                "key",
                "fingerprint",
                "resource_id",
                "created_at",
            ])
            .values([
                uuid(record.tenant_id),
                Expr::val(record.operation.as_str()),
                Expr::val(record.key.as_str()),
                Expr::val(Value::Bytes(Some(record.fingerprint.to_vec()))),
                uuid(record.resource_id),
                self.ts(record.created_at),
            ])
            .map(|q| {
                q.on_conflict(OnConflict::new().do_nothing().to_owned())
                    .to_owned()
            })
            .map_err(query_err)?;
        if self.tx.execute(&insert).await? == 1 {
            return Ok(Claim::Claimed);
        }
        let q = Query::select()
            .columns(["fingerprint", "resource_id", "created_at"])
            .from("idempotency_keys")
            .and_where(Expr::col("tenant_id").eq(uuid(record.tenant_id)))
            .and_where(Expr::col("operation").eq(record.operation.as_str()))
            .and_where(Expr::col("key").eq(record.key.as_str()))
            .to_owned();
        let row = self.tx.fetch_optional(&q).await?.ok_or_else(|| {
            // Claimed by a unit that has not committed (SQLite cannot get
            // here: one writer at a time). Retrying is safe.
            Error::unavailable("the idempotency key is in use by a request in flight; retry")
        })?;
        Ok(Claim::Existing(IdempotencyRecord {
            tenant_id: record.tenant_id,
            key: IdempotencyKey::parse(record.key.as_str())?,
            operation: record.operation.clone(),
            fingerprint: row.hash("fingerprint")?,
            resource_id: row.uuid("resource_id")?,
            created_at: row.ts("created_at")?,
        }))
    }
}
