//! Catalogue, bookings and tickets through the services over the real
//! SQLite store: the authorization matrix generated from the policy (every
//! role × operation × in/out of branch scope), and the audit trail.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use tms::Error;
use tms::domain::{
    BookingItem, BookingStatus, Branch, BranchScope, Client, ClientKind, Context, ItemKind,
    LatinName, LocalTime, Name, PackageDetails, PassportNumber, Principal, Role, Segment,
};
use tms::id::{BookingId, BranchId, ClientId, PackageId, TenantId, UserId};
use tms::money::{Currency, Money};
use tms::policy::{self, Action, Decision, Resource, ResourceKind};
use tms::ports::{BookingFilter, OsRandom, PageRequest};
use tms::security::keyring::KeyRing;
use tms::security::secret::Secret;
use tms::service::bookings::{Bookings, NewBooking, NewTraveller};
use tms::service::catalogue::Catalogue;
use tms::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms::service::tickets::{NewTicket, Tickets};
use tms::sql::SqlStore;

struct Agency {
    tenant: TenantId,
    branch: BranchId,
    other_branch: BranchId,
    clients: [ClientId; 2],
    catalogue: Catalogue,
    bookings: Bookings,
    tickets: Tickets,
    owner: Context,
    deps: Deps,
}

fn client_in(tenant: TenantId, branch: BranchId) -> Client {
    let now = Utc::now();
    Client {
        id: ClientId::new(),
        tenant_id: tenant,
        branch_id: branch,
        kind: ClientKind::Person,
        name: Name::parse("عبد الله").unwrap(),
        latin_name: None,
        phone: None,
        email: None,
        date_of_birth: None,
        nationality: None,
        passport: None,
        passport_expires_on: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

async fn agency() -> Agency {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    let mut deps = Deps::new(Arc::new(store));
    deps.hasher = tms::security::password::PasswordHasher::with_params(1024, 1, 1).unwrap();
    let made = provision_tenant(
        &deps,
        NewTenant::parse(NewTenantRequest {
            slug: "al-noor".into(),
            name: "Al Noor Travel".into(),
            base_currency: "SAR".into(),
            first_branch: "Jeddah".into(),
            owner_email: "owner@alnoor.example".into(),
            owner_name: "Abdullah".into(),
            owner_password: Secret::from("Zamzam-Mina-Arafat-1447"),
        })
        .unwrap(),
    )
    .await
    .unwrap();
    let tenant = made.tenant.id;
    let other = Branch {
        id: BranchId::new(),
        tenant_id: tenant,
        name: Name::parse("Lahore").unwrap(),
        created_at: Utc::now(),
        closed_at: None,
        version: 1,
    };
    let here = client_in(tenant, made.branch.id);
    let there = client_in(tenant, other.id);
    let mut uow = deps.store.begin().await.unwrap();
    uow.branches().insert(&other).await.unwrap();
    uow.clients().insert(&here).await.unwrap();
    uow.clients().insert(&there).await.unwrap();
    uow.commit().await.unwrap();
    let keyring = Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).unwrap());
    Agency {
        tenant,
        branch: made.branch.id,
        other_branch: other.id,
        clients: [here.id, there.id],
        catalogue: Catalogue::new(deps.clone()),
        bookings: Bookings::new(deps.clone(), keyring),
        tickets: Tickets::new(deps.clone()),
        owner: Context::new(made.owner.principal(), Utc::now()),
        deps,
    }
}

fn traveller() -> NewTraveller {
    NewTraveller {
        id: None,
        name: Name::parse("آمنہ خان").unwrap(),
        latin_name: LatinName::parse("KHAN AMINA").unwrap(),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 5, 17).unwrap(),
        passport: Some(PassportNumber::parse("AB1234567").unwrap()),
    }
}

fn hotel() -> BookingItem {
    BookingItem {
        kind: ItemKind::Hotel,
        description: "Makkah hotel".into(),
        supplier_name: None,
        supplier_cost: Money::from_minor(90_000, Currency::SAR),
        sell_price: Money::from_minor(120_000, Currency::SAR),
        package: None,
        starts_on: None,
        ends_on: None,
    }
}

impl Agency {
    fn request(&self, branch: BranchId) -> NewBooking {
        let client = if branch == self.branch {
            self.clients[0]
        } else {
            self.clients[1]
        };
        NewBooking {
            branch_id: branch,
            client_id: client,
            travellers: vec![traveller()],
            items: vec![hotel()],
        }
    }

    async fn booking(&self, branch: BranchId, path: &[BookingStatus]) -> BookingId {
        let id = self
            .bookings
            .create(&self.owner, self.request(branch), None)
            .await
            .unwrap()
            .booking
            .id;
        for to in path {
            self.bookings
                .transition(&self.owner, id, *to, None)
                .await
                .unwrap();
        }
        id
    }

    fn ticket(&self, passenger: tms::id::TravellerId, number: &str) -> NewTicket {
        let at = |h| {
            NaiveDate::from_ymd_opt(2026, 12, 10)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        NewTicket {
            pnr: tms::domain::Pnr::parse("AB12CD").unwrap(),
            airline: tms::domain::AirlineCode::parse("SV").unwrap(),
            ticket_number: tms::domain::TicketNumber::parse(number).unwrap(),
            passenger_id: passenger,
            segments: vec![Segment {
                from: tms::domain::AirportCode::parse("KHI").unwrap(),
                to: tms::domain::AirportCode::parse("JED").unwrap(),
                flight_number: tms::domain::FlightNumber::parse("SV701").unwrap(),
                departure: LocalTime::parse(at(10), "Asia/Karachi").unwrap(),
                arrival: LocalTime::parse(at(12), "Asia/Riyadh").unwrap(),
            }],
            fare: Money::from_minor(150_000, Currency::SAR),
            taxes: Money::from_minor(23_050, Currency::SAR),
        }
    }
}

/// What the service must answer, from the policy's decision.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    NotFound,
    Forbidden,
    Confirm,
}

fn expected(principal: &Principal, action: Action, resource: &Resource) -> Outcome {
    match policy::authorize(principal, action, resource) {
        Decision::Allow => Outcome::Done,
        Decision::ConfirmationRequired(_) => Outcome::Confirm,
        Decision::Deny(reason) if reason.hides_existence() => Outcome::NotFound,
        Decision::Deny(_) => Outcome::Forbidden,
    }
}

fn outcome<T: std::fmt::Debug>(result: Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(Error::Forbidden { .. }) => Outcome::Forbidden,
        Err(Error::ConfirmationRequired { .. }) => Outcome::Confirm,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn every_role_and_branch_scope_gets_what_the_policy_decides() {
    let a = agency().await;
    let package = a
        .catalogue
        .create_package(
            &a.owner,
            PackageDetails {
                category_id: None,
                title: Name::parse("Umrah December").unwrap(),
                description: String::new(),
                price: Money::from_minor(450_000, Currency::SAR),
                starts_on: NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
                ends_on: NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                capacity: 500,
                inclusions: vec![],
            },
        )
        .await
        .unwrap();
    let mut checked = 0;
    for role in Role::ALL {
        let principal =
            Principal::user(UserId::new(), a.tenant, role, BranchScope::only([a.branch]));
        let ctx = Context::new(principal.clone(), Utc::now());
        // Catalogue: tenant-level.
        let catalogue = Resource::new(ResourceKind::Package, a.tenant);
        assert_eq!(
            outcome(a.catalogue.get_package(&ctx, package.id).await),
            expected(&principal, Action::Read, &catalogue),
            "{role} reads a package"
        );
        assert_eq!(
            outcome(a.catalogue.publish(&ctx, package.id).await),
            expected(&principal, Action::Update, &catalogue),
            "{role} publishes a package"
        );
        for branch in [a.branch, a.other_branch] {
            let label = if branch == a.branch {
                "in scope"
            } else {
                "out of scope"
            };
            let on = |kind| Resource::new(kind, a.tenant).in_branch(branch);
            let booking = on(ResourceKind::Booking);
            assert_eq!(
                outcome(a.bookings.create(&ctx, a.request(branch), None).await),
                expected(&principal, Action::Create, &booking),
                "{role} creates a booking {label}"
            );
            let draft = a.booking(branch, &[]).await;
            assert_eq!(
                outcome(a.bookings.get(&ctx, draft).await),
                expected(&principal, Action::Read, &booking),
                "{role} reads a booking {label}"
            );
            assert_eq!(
                outcome(
                    a.bookings
                        .transition(&ctx, draft, BookingStatus::Pending, None)
                        .await
                ),
                expected(&principal, Action::Update, &booking),
                "{role} submits a booking {label}"
            );
            let draft = a.booking(branch, &[]).await;
            assert_eq!(
                outcome(
                    a.bookings
                        .transition(&ctx, draft, BookingStatus::Cancelled, None)
                        .await
                ),
                expected(&principal, Action::Cancel, &booking),
                "{role} cancels a booking {label}"
            );
            let draft = a.booking(branch, &[]).await;
            assert_eq!(
                outcome(a.bookings.delete(&ctx, draft, None).await),
                expected(&principal, Action::Delete, &booking.draft()),
                "{role} deletes a draft {label}"
            );
            let pending = a.booking(branch, &[BookingStatus::Pending]).await;
            assert_eq!(
                outcome(a.bookings.delete(&ctx, pending, None).await),
                expected(&principal, Action::Delete, &booking),
                "{role} deletes a pending booking {label}"
            );
            let confirmed = a
                .booking(branch, &[BookingStatus::Pending, BookingStatus::Confirmed])
                .await;
            let passenger = a
                .bookings
                .get(&a.owner, confirmed)
                .await
                .unwrap()
                .travellers[0]
                .id;
            let number = format!("065{:010}", checked);
            let want = match expected(&principal, Action::Read, &booking) {
                Outcome::Done => expected(&principal, Action::Create, &on(ResourceKind::Ticket)),
                other => other,
            };
            assert_eq!(
                outcome(
                    a.tickets
                        .issue(&ctx, confirmed, a.ticket(passenger, &number))
                        .await
                ),
                want,
                "{role} issues a ticket {label}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, Role::ALL.len() * 2);
}

#[tokio::test]
async fn every_change_is_audited_with_passports_masked() {
    let a = agency().await;
    let package: PackageId = a
        .catalogue
        .create_package(
            &a.owner,
            PackageDetails {
                category_id: None,
                title: Name::parse("Umrah December").unwrap(),
                description: String::new(),
                price: Money::from_minor(450_000, Currency::SAR),
                starts_on: NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
                ends_on: NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
                capacity: 2,
                inclusions: vec![],
            },
        )
        .await
        .unwrap()
        .id;
    a.catalogue.publish(&a.owner, package).await.unwrap();
    a.catalogue.unpublish(&a.owner, package).await.unwrap();
    let mut request = a.request(a.branch);
    request.items[0].kind = ItemKind::Package;
    request.items[0].package = Some((package, 1));
    let closed = a.bookings.create(&a.owner, request.clone(), None).await;
    assert!(
        matches!(closed, Err(Error::Conflict { .. })),
        "not published: {closed:?}"
    );
    a.catalogue.publish(&a.owner, package).await.unwrap();
    let booking = a
        .bookings
        .create(&a.owner, request, None)
        .await
        .unwrap()
        .booking;
    let id = booking.id;
    for to in [BookingStatus::Pending, BookingStatus::Confirmed] {
        a.bookings.transition(&a.owner, id, to, None).await.unwrap();
    }
    let passenger = booking.travellers[0].id;
    let ticket = a
        .tickets
        .issue(&a.owner, id, a.ticket(passenger, "0651234567890"))
        .await
        .unwrap();
    a.tickets.void(&a.owner, ticket.id).await.unwrap();
    let mut edit = traveller();
    edit.id = Some(passenger);
    a.bookings
        .replace_travellers(&a.owner, id, 3, vec![edit])
        .await
        .unwrap();
    a.bookings
        .transition(&a.owner, id, BookingStatus::Cancelled, None)
        .await
        .unwrap();

    let mut uow = a.deps.store.begin().await.unwrap();
    let events = uow.audit().read(a.tenant, 0, 10_000).await.unwrap();
    uow.rollback().await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    for action in [
        "package.created",
        "package.published",
        "package.unpublished",
        "booking.created",
        "booking.submitted",
        "booking.confirmed",
        "ticket.issued",
        "ticket.voided",
        "booking.travellers.replaced",
        "booking.cancelled",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let all = serde_json::to_string(&events).unwrap();
    assert!(
        !all.contains("AB1234567"),
        "a passport number reached the audit log"
    );
    let replaced = events
        .iter()
        .find(|e| e.event.action == "booking.travellers.replaced")
        .unwrap();
    assert!(replaced.event.before.is_some() && replaced.event.after.is_some());
    assert_eq!(replaced.event.branch_id, Some(a.branch));

    // The list filters by status and client.
    let cancelled = a
        .bookings
        .list(
            &a.owner,
            BookingFilter {
                status: Some(BookingStatus::Cancelled),
                client_id: Some(a.clients[0]),
                branch_id: None,
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(cancelled.items.len(), 1);
    let pkg = a.catalogue.get_package(&a.owner, package).await.unwrap();
    assert_eq!(pkg.booked, 0, "the cancelled booking gave its place back");
}

#[tokio::test]
async fn a_client_with_bookings_is_not_deleted_and_the_refusal_says_why() {
    let a = agency().await;
    a.bookings
        .create(&a.owner, a.request(a.branch), None)
        .await
        .unwrap();
    let keyring = Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).unwrap());
    let clients = tms::service::clients::Clients::new(a.deps.clone(), keyring);
    let token = match clients.delete(&a.owner, a.clients[0], None).await {
        Err(Error::ConfirmationRequired { token, .. }) => token,
        other => panic!("deleting a client is critical: {other:?}"),
    };
    let refused = clients.delete(&a.owner, a.clients[0], Some(&token)).await;
    match refused {
        Err(Error::Conflict { what }) => assert!(what.contains("bookings"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Nothing was lost: the client is still there.
    clients.get(&a.owner, a.clients[0]).await.unwrap();
}
