//! Contract cases of the catalogue, bookings, tickets and idempotency
//! repositories. Several run the services themselves over the store under
//! test, because the rules they check (never oversell, gap-free references,
//! one booking per idempotency key) live in how the service uses the store
//! inside one unit of work — and must hold on every backend.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::domain::{
    BookingItem, BookingStatus, BranchScope, Context, ItemKind, LatinName, Name, PackageDetails,
    PassportNumber, Principal, Role, Tenant,
};
use crate::error::Error;
use crate::id::{BranchId, ClientId, PackageId, UserId};
use crate::money::{Currency, Money};
use crate::ports::{BookingFilter, IdempotencyKey, OsRandom, PageRequest, Scope, Store};
use crate::security::keyring::KeyRing;
use crate::service::bookings::{Bookings, NewBooking, NewTraveller};
use crate::service::catalogue::Catalogue;
use crate::service::keys::rotate;
use crate::service::tenancy::Deps;

use super::{new_branch, new_tenant, now};

/// A tenant with one branch in `store`, the services over it, and its
/// Tenant Super Admin's context.
pub struct BookingWorld {
    /// The tenant.
    pub tenant: Tenant,
    /// Its branch.
    pub branch: BranchId,
    /// A client of the branch.
    pub client: ClientId,
    /// The catalogue service.
    pub catalogue: Catalogue,
    /// The bookings service.
    pub bookings: Bookings,
    /// The owner acting now.
    pub owner: Context,
}

impl BookingWorld {
    /// Sets up a fresh tenant and branch in `store`.
    pub async fn new(store: Arc<dyn Store>) -> Self {
        let tenant = new_tenant();
        let branch = new_branch(tenant.id, now());
        let mut uow = store.begin().await.expect("begin");
        uow.tenants().insert(&tenant).await.expect("tenant");
        uow.branches().insert(&branch).await.expect("branch");
        let client = super::new_client(tenant.id, branch.id, "Amina Khan");
        uow.clients().insert(&client).await.expect("client");
        uow.commit().await.expect("commit");
        let keyring = KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).expect("keys");
        let deps = Deps::new(store);
        let owner = Context::new(
            Principal::user(
                UserId::new(),
                tenant.id,
                Role::TenantSuperAdmin,
                BranchScope::All,
            ),
            now(),
        );
        Self {
            branch: branch.id,
            client: client.id,
            catalogue: Catalogue::new(deps.clone()),
            bookings: Bookings::new(deps, Arc::new(keyring)),
            tenant,
            owner,
        }
    }

    /// A context of `role` seeing `branches`.
    pub fn as_role(&self, role: Role, branches: BranchScope) -> Context {
        Context::new(
            Principal::user(UserId::new(), self.tenant.id, role, branches),
            now(),
        )
    }

    /// A published package with `capacity` places.
    pub async fn package(&self, capacity: u32) -> PackageId {
        let package = self
            .catalogue
            .create_package(&self.owner, package_details(capacity))
            .await
            .expect("create package");
        self.catalogue
            .publish(&self.owner, package.id)
            .await
            .expect("publish");
        package.id
    }

    /// A booking request of `places` places of `package` for one traveller.
    pub fn request(&self, package: Option<(PackageId, u32)>) -> NewBooking {
        NewBooking {
            branch_id: self.branch,
            client_id: self.client,
            travellers: vec![booking_traveller("AB1234567")],
            items: vec![booking_item(package)],
        }
    }
}

/// Package details of `capacity` places.
pub fn package_details(capacity: u32) -> PackageDetails {
    PackageDetails {
        category_id: None,
        title: Name::parse("Umrah December").expect("title"),
        description: "15 nights".into(),
        price: Money::from_minor(450_000, Currency::SAR),
        starts_on: NaiveDate::from_ymd_opt(2026, 12, 10).expect("date"),
        ends_on: NaiveDate::from_ymd_opt(2026, 12, 25).expect("date"),
        capacity,
        inclusions: vec!["Visa".into(), "Hotel".into()],
    }
}

/// A traveller with this passport number.
pub fn booking_traveller(passport: &str) -> NewTraveller {
    NewTraveller {
        id: None,
        name: Name::parse("آمنہ خان").expect("name"),
        latin_name: LatinName::parse("KHAN AMINA").expect("latin"),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 5, 17).expect("date"),
        passport: Some(PassportNumber::parse(passport).expect("passport")),
    }
}

/// An item: places of `package`, or a hotel night.
pub fn booking_item(package: Option<(PackageId, u32)>) -> BookingItem {
    BookingItem {
        kind: if package.is_some() {
            ItemKind::Package
        } else {
            ItemKind::Hotel
        },
        description: "Makkah hotel".into(),
        supplier_name: Some("Al Safwa".into()),
        supplier_cost: Money::from_minor(300_000, Currency::SAR),
        sell_price: Money::from_minor(450_000, Currency::SAR),
        package,
        starts_on: None,
        ends_on: None,
    }
}

/// 50 concurrent bookings of one place each on a package of 10 places:
/// exactly 10 succeed, the others are `Conflict` (sold out), the package
/// has exactly its capacity booked, and the 10 references are 1..=10 —
/// distinct, consecutive, no gap left by the 40 rolled back.
pub async fn concurrent_bookings_never_oversell_and_number_without_gaps(store: Arc<dyn Store>) {
    let world = Arc::new(BookingWorld::new(store).await);
    let package = world.package(10).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let world = world.clone();
        tasks.spawn(async move {
            world
                .bookings
                .create(&world.owner, world.request(Some((package, 1))), None)
                .await
        });
    }
    let mut numbers = BTreeSet::new();
    let mut sold_out = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(created) => {
                assert!(numbers.insert(created.booking.reference.number()));
            }
            Err(Error::Conflict { what }) => {
                assert!(what.contains("sold out"), "{what}");
                sold_out += 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(numbers.len(), 10, "exactly the capacity is sold");
    assert_eq!(sold_out, 40);
    assert_eq!(numbers, (1..=10).collect::<BTreeSet<u64>>());
    let package = world
        .catalogue
        .get_package(&world.owner, package)
        .await
        .expect("package");
    assert_eq!(package.booked, 10);
    assert_eq!(package.available(), 0);
}

/// Concurrent creates with one idempotency key make one booking; each
/// gets it back; the same key with another request is `Invalid`.
pub async fn one_idempotency_key_creates_one_booking(store: Arc<dyn Store>) {
    let world = Arc::new(BookingWorld::new(store).await);
    let package = world.package(5).await;
    let request = world.request(Some((package, 2)));
    let key = IdempotencyKey::parse("retry-7f3a").expect("key");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (world, request, key) = (world.clone(), request.clone(), key.clone());
        tasks.spawn(async move {
            world
                .bookings
                .create(&world.owner, request, Some(key))
                .await
        });
    }
    let mut ids = BTreeSet::new();
    let mut first = 0;
    while let Some(joined) = tasks.join_next().await {
        let created = joined
            .expect("task")
            .expect("every identical request succeeds");
        ids.insert(created.booking.id);
        if !created.replayed {
            first += 1;
        }
    }
    assert_eq!(ids.len(), 1, "one booking");
    assert_eq!(first, 1, "created once, replayed the other times");
    let page = world
        .bookings
        .list(&world.owner, BookingFilter::default(), PageRequest::first())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    let pkg = world
        .catalogue
        .get_package(&world.owner, package)
        .await
        .expect("package");
    assert_eq!(pkg.booked, 2, "places taken once");

    let mut other = request.clone();
    other.items[0].description = "another hotel".into();
    let reused = world.bookings.create(&world.owner, other, Some(key)).await;
    assert!(matches!(reused, Err(Error::Invalid(_))), "{reused:?}");
}

/// The state machine, versioned traveller edits, places given back on
/// cancel, sealed passports read back.
pub async fn booking_lifecycle_is_versioned_and_cancel_releases_places(store: Arc<dyn Store>) {
    let world = BookingWorld::new(store).await;
    let package = world.package(4).await;
    let created = world
        .bookings
        .create(&world.owner, world.request(Some((package, 3))), None)
        .await
        .expect("create")
        .booking;
    assert_eq!(created.status, BookingStatus::Draft);
    let read = world
        .bookings
        .get(&world.owner, created.id)
        .await
        .expect("get");
    assert_eq!(
        read.travellers[0]
            .passport
            .as_ref()
            .map(PassportNumber::expose),
        Some("AB1234567"),
        "the sealed passport opens back"
    );

    let skip = world
        .bookings
        .transition(&world.owner, created.id, BookingStatus::Completed, None)
        .await;
    assert!(matches!(skip, Err(Error::Conflict { .. })), "{skip:?}");
    let pending = world
        .bookings
        .transition(&world.owner, created.id, BookingStatus::Pending, Some(1))
        .await
        .expect("submit");
    assert_eq!(
        (pending.status, pending.version),
        (BookingStatus::Pending, 2)
    );

    // Two editors at version 2: the first wins, the second is a conflict.
    let mut edit = vec![
        booking_traveller("AB1234567"),
        booking_traveller("CD7654321"),
    ];
    edit[0].id = Some(read.travellers[0].id);
    let edited = world
        .bookings
        .replace_travellers(&world.owner, created.id, 2, edit.clone())
        .await
        .expect("first edit");
    assert_eq!(edited.travellers.len(), 2);
    assert_eq!(edited.travellers[0].id, read.travellers[0].id, "ids kept");
    let stale = world
        .bookings
        .replace_travellers(&world.owner, created.id, 2, edit)
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");

    let cancelled = world
        .bookings
        .transition(&world.owner, created.id, BookingStatus::Cancelled, None)
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    let pkg = world
        .catalogue
        .get_package(&world.owner, package)
        .await
        .expect("package");
    assert_eq!(pkg.booked, 0, "cancelling gives the places back");
    let again = world
        .bookings
        .transition(&world.owner, created.id, BookingStatus::Cancelled, None)
        .await;
    assert!(matches!(again, Err(Error::Conflict { .. })));
}

/// Another tenant's and another branch's bookings are invisible: `get` is
/// `NotFound` and lists leave them out.
pub async fn bookings_are_isolated_by_tenant_and_branch(store: Arc<dyn Store>) {
    let world = BookingWorld::new(store.clone()).await;
    let other = BookingWorld::new(store.clone()).await;
    let mine = world
        .bookings
        .create(&world.owner, world.request(None), None)
        .await
        .expect("create")
        .booking;
    other
        .bookings
        .create(&other.owner, other.request(None), None)
        .await
        .expect("create");
    let foreign = other.bookings.get(&other.owner, mine.id).await;
    assert!(
        matches!(foreign, Err(Error::NotFound { .. })),
        "{foreign:?}"
    );

    let elsewhere = world.as_role(Role::Sales, BranchScope::only([BranchId::new()]));
    let hidden = world.bookings.get(&elsewhere, mine.id).await;
    assert!(matches!(hidden, Err(Error::NotFound { .. })), "{hidden:?}");
    let listed = world
        .bookings
        .list(&elsewhere, BookingFilter::default(), PageRequest::first())
        .await
        .expect("list");
    assert!(listed.items.is_empty());

    // The store's own list filters by scope too.
    let mut uow = store.begin().await.expect("begin");
    let page = uow
        .bookings()
        .list(
            &Scope {
                tenant_id: world.tenant.id,
                branches: BranchScope::All,
            },
            BookingFilter {
                status: Some(BookingStatus::Draft),
                ..BookingFilter::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert!(
        uow.bookings()
            .get(other.tenant.id, mine.id)
            .await
            .expect("get")
            .is_none()
    );
    uow.rollback().await.expect("rollback");
}

/// Ticket numbers are unique per tenant (another tenant may reuse one);
/// a reissue links back and the old ticket's status is saved; another
/// tenant's ticket is `None`; a package's capacity never falls below its
/// booked places, whatever version the editor read.
pub async fn tickets_are_unique_per_tenant_and_capacity_holds_the_booked(store: Arc<dyn Store>) {
    use crate::domain::{
        AirlineCode, AirportCode, FlightNumber, LocalTime, Pnr, Segment, Ticket, TicketNumber,
        TicketStatus,
    };
    use crate::id::TicketId;

    let world = BookingWorld::new(store.clone()).await;
    let other = BookingWorld::new(store.clone()).await;
    let package = world.package(3).await;
    let mut ids = Vec::new();
    for w in [&world, &other] {
        let booking = w
            .bookings
            .create(&w.owner, w.request(None), None)
            .await
            .expect("create")
            .booking;
        ids.push(booking);
    }
    let at = |h| {
        NaiveDate::from_ymd_opt(2026, 12, 10)
            .expect("date")
            .and_hms_opt(h, 0, 0)
            .expect("time")
    };
    let ticket = |booking: &crate::domain::Booking, replaces| Ticket {
        id: TicketId::new(),
        tenant_id: booking.tenant_id,
        booking_id: booking.id,
        branch_id: booking.branch_id,
        pnr: Pnr::parse("AB12CD").expect("pnr"),
        airline: AirlineCode::parse("SV").expect("airline"),
        ticket_number: TicketNumber::parse("0651234567890").expect("number"),
        passenger_id: booking.travellers[0].id,
        segments: vec![Segment {
            from: AirportCode::parse("KHI").expect("from"),
            to: AirportCode::parse("JED").expect("to"),
            flight_number: FlightNumber::parse("SV701").expect("flight"),
            departure: LocalTime::parse(at(10), "Asia/Karachi").expect("dep"),
            arrival: LocalTime::parse(at(12), "Asia/Riyadh").expect("arr"),
        }],
        fare: Money::from_minor(150_000, Currency::SAR),
        taxes: Money::from_minor(23_050, Currency::SAR),
        status: TicketStatus::Issued,
        replaces,
        created_at: now(),
        version: 1,
    };
    let first = ticket(&ids[0], None);
    let mut uow = store.begin().await.expect("begin");
    uow.tickets().insert(&first).await.expect("first ticket");
    let dup = uow.tickets().insert(&ticket(&ids[0], None)).await;
    assert!(matches!(dup, Err(Error::Conflict { .. })), "{dup:?}");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    // Another tenant may use the same number.
    uow.tickets()
        .insert(&ticket(&ids[1], None))
        .await
        .expect("same number, other tenant");
    let mut old = uow
        .tickets()
        .get(world.tenant.id, first.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(old, first, "a ticket round-trips exactly");
    old.status = TicketStatus::Reissued;
    uow.tickets().update(&mut old).await.expect("reissued");
    let mut new = ticket(&ids[0], Some(first.id));
    new.ticket_number = TicketNumber::parse("0651234567891").expect("number");
    uow.tickets().insert(&new).await.expect("new ticket");
    assert!(
        uow.tickets()
            .get(other.tenant.id, first.id)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        uow.tickets()
            .count_for_booking(world.tenant.id, ids[0].id)
            .await
            .expect("count"),
        2
    );
    let page = uow
        .tickets()
        .list_for_booking(world.tenant.id, ids[0].id, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].status, TicketStatus::Reissued);
    assert_eq!(page.items[1].replaces, Some(first.id));
    let mut stale = first.clone();
    stale.status = TicketStatus::Void;
    let result = uow.tickets().update(&mut stale).await;
    assert!(matches!(result, Err(Error::Conflict { .. })), "{result:?}");
    uow.rollback().await.expect("rollback");

    // Capacity: book 2 of 3, then an editor lowers it to 1 at the right
    // version: refused by the store itself.
    let mut uow = store.begin().await.expect("begin");
    uow.catalogue()
        .take_places(world.tenant.id, package, 2)
        .await
        .expect("take");
    let mut pkg = uow
        .catalogue()
        .get_package(world.tenant.id, package)
        .await
        .expect("get")
        .expect("stored");
    pkg.details.capacity = 1;
    let lowered = uow.catalogue().update_package(&mut pkg).await;
    assert!(
        matches!(lowered, Err(Error::Conflict { .. })),
        "{lowered:?}"
    );
    let more = uow
        .catalogue()
        .take_places(world.tenant.id, package, 2)
        .await;
    assert!(matches!(more, Err(Error::Conflict { .. })), "{more:?}");
    assert!(matches!(
        uow.catalogue()
            .take_places(other.tenant.id, package, 1)
            .await,
        Err(Error::NotFound { .. })
    ));
    uow.rollback().await.expect("rollback");
}

/// Every traveller's sealed passport is a sealed value of the store: key
/// rotation re-encrypts it under the newest key, the booking still opens
/// with the new ring (and no longer with the old key alone), and a removed
/// traveller's or deleted booking's passport is gone from the store.
pub async fn key_rotation_reseals_booking_travellers_passports(store: Arc<dyn Store>) {
    let world = BookingWorld::new(store.clone()).await;
    let old_entry = KeyRing::generate_key(1, &OsRandom);
    let new_entry = KeyRing::generate_key(2, &OsRandom);
    let old = Arc::new(KeyRing::parse(old_entry.expose()).expect("ring"));
    let both = Arc::new(
        KeyRing::parse(&format!("{}\n{}", old_entry.expose(), new_entry.expose())).expect("ring"),
    );
    let deps = Deps::new(store.clone());
    let before = Bookings::new(deps.clone(), old);
    let after = Bookings::new(deps.clone(), both.clone());
    let mut request = world.request(None);
    request.travellers.push(booking_traveller("CD7654321"));
    let created = before
        .create(&world.owner, request, None)
        .await
        .expect("create")
        .booking;

    let passports = |store: Arc<dyn Store>| async move {
        let mut uow = store.begin().await.expect("begin");
        let page = uow.secrets().sealed_page(None, 10_000).await.expect("page");
        uow.rollback().await.expect("rollback");
        page.into_iter()
            .filter(|v| v.seal_table == "bookings.travellers")
            .collect::<Vec<_>>()
    };
    let listed = passports(store.clone()).await;
    assert_eq!(listed.len(), 2, "each traveller's passport is listed");
    let rows: BTreeSet<uuid::Uuid> = listed.iter().map(|v| v.seal_row).collect();
    let ids: BTreeSet<uuid::Uuid> = created.travellers.iter().map(|t| t.id.as_uuid()).collect();
    assert_eq!(rows, ids, "sealed for their travellers");
    for value in &listed {
        assert_eq!(value.seal_field, "passport_number");
        assert_eq!(value.location.tenant_id, world.tenant.id);
        assert_eq!(value.sealed.key_id(), Some(1));
    }

    let done = rotate(&deps, &both, |_| {}).await.expect("rotate");
    assert!(done.resealed >= 2, "{done:?}");
    for value in passports(store.clone()).await {
        assert_eq!(value.sealed.key_id(), Some(2), "resealed under the new key");
    }
    let read = after.get(&world.owner, created.id).await.expect("get");
    let numbers: Vec<Option<&str>> = read
        .travellers
        .iter()
        .map(|t| t.passport.as_ref().map(PassportNumber::expose))
        .collect();
    assert_eq!(numbers, [Some("AB1234567"), Some("CD7654321")]);
    let stale = before.get(&world.owner, created.id).await;
    assert!(stale.is_err(), "the old key alone no longer opens it");

    // Rewriting the travellers replaces their passports; a removed one's
    // row is gone, and so are all of them with the booking.
    let mut edit = vec![booking_traveller("EF1111111")];
    edit[0].id = Some(read.travellers[1].id);
    let edited = after
        .replace_travellers(&world.owner, created.id, read.version, edit)
        .await
        .expect("edit");
    assert_eq!(
        edited.travellers[0]
            .passport
            .as_ref()
            .map(PassportNumber::expose),
        Some("EF1111111")
    );
    let listed = passports(store.clone()).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].seal_row, read.travellers[1].id.as_uuid());
    after
        .delete(&world.owner, created.id, None)
        .await
        .expect("delete the draft");
    assert!(passports(store.clone()).await.is_empty());
    let again = rotate(&deps, &both, |_| {}).await.expect("rotate");
    assert_eq!(again.resealed, 0);
}
