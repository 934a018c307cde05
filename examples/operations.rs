//! An agency's day through the SDK alone, no HTTP: a client, a catalogue
//! package, a booking on it, and an Umrah group with two pilgrims and its
//! manifest — every call authorized, validated and audited by the services.
//!
//! Run it with `cargo run --example operations`.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use tms::domain::{
    BookingItem, BookingStatus, Context, Country, Gender, ItemKind, LatinName, Name,
    PackageDetails, PassportNumber, VisaStatus,
};
use tms::money::{Currency, Money};
use tms::ports::{OsRandom, verify_chain};
use tms::security::keyring::KeyRing;
use tms::security::secret::Secret;
use tms::service::bookings::{Bookings, NewBooking, NewTraveller};
use tms::service::catalogue::Catalogue;
use tms::service::clients::{ClientForm, Clients};
use tms::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms::service::umrah::{NewGroup, NewPilgrim, Umrah};
use tms::sql::SqlStore;

fn date(y: i32, m: u32, d: u32) -> tms::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| tms::Error::invalid("date", "does not exist"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> tms::Result<()> {
    // --- An agency in an embedded SQLite store ------------------------------
    let store = SqlStore::connect("sqlite::memory:").await?;
    let deps = Deps::new(Arc::new(store));
    // Passport numbers are sealed with the key ring; a real deployment loads
    // it from a key file or `TMS_KEYRING`, never from the database.
    let keyring = Arc::new(KeyRing::parse(
        KeyRing::generate_key(1, &OsRandom).expose(),
    )?);
    let made = provision_tenant(
        &deps,
        NewTenant::parse(NewTenantRequest {
            slug: "al-noor-travel".into(),
            name: "النور للسياحة والسفر".into(),
            base_currency: "SAR".into(),
            first_branch: "Jeddah".into(),
            owner_email: "owner@alnoor.example".into(),
            owner_name: "عبد الله".into(),
            owner_password: Secret::from("Zamzam-Mina-Arafat-1447"),
        })?,
    )
    .await?;
    let (tenant, branch) = (made.tenant, made.branch.id);
    // Every call takes the caller's context: who, from where, when.
    let owner = Context::new(made.owner.principal(), Utc::now());

    // --- A client: name as typed, passport sealed ---------------------------
    let clients = Clients::new(deps.clone(), keyring.clone());
    let client = clients
        .create(
            &owner,
            branch,
            &ClientForm {
                name: Some("آمنہ خان".into()),
                latin_name: Some("KHAN AMINA".into()),
                phone: Some("+92 300 1234567".into()),
                email: Some("Amina.Khan@Example.com".into()),
                date_of_birth: Some("1990-05-17".into()),
                nationality: Some("PK".into()),
                passport_number: Some("ab 1234567".into()),
                passport_expires_on: Some("2031-01-31".into()),
                ..ClientForm::default()
            },
        )
        .await?;
    let client_id = client.details.client.id;
    println!(
        "client {} ({:?}), email normalised to {:?}",
        client.details.client.name, client_id, client.details.client.email
    );
    // Found again by the exact passport number, through the blind index.
    let found = clients
        .list(
            &owner,
            &tms::service::clients::ClientQuery {
                passport: Some("AB1234567".into()),
                ..Default::default()
            },
            tms::ports::PageRequest::new(Some(10), None)?,
        )
        .await?;
    println!("search by passport finds {} client(s)", found.items.len());

    // --- A package with 2 places, and a booking on it -----------------------
    let catalogue = Catalogue::new(deps.clone());
    let package = catalogue
        .create_package(
            &owner,
            PackageDetails {
                category_id: None,
                title: Name::parse("عمرة رمضان — 15 days")?,
                description: "Makkah 10 nights, Madinah 5 nights".into(),
                price: Money::from_minor(450_000, Currency::SAR),
                starts_on: date(2027, 2, 10)?,
                ends_on: date(2027, 2, 24)?,
                capacity: 2,
                inclusions: vec!["visa".into(), "hotels".into(), "transfers".into()],
            },
        )
        .await?;
    catalogue.publish(&owner, package.id).await?;

    let bookings = Bookings::new(deps.clone(), keyring.clone());
    let traveller = NewTraveller {
        id: None,
        name: Name::parse("آمنہ خان")?,
        latin_name: LatinName::parse("KHAN AMINA")?,
        date_of_birth: date(1990, 5, 17)?,
        passport: Some(PassportNumber::parse("AB1234567")?),
    };
    let request = NewBooking {
        branch_id: branch,
        client_id,
        travellers: vec![traveller],
        items: vec![BookingItem {
            kind: ItemKind::Package,
            description: "Umrah Ramadan package".into(),
            supplier_name: Some("Makkah Ground Services".into()),
            supplier_cost: Money::from_minor(380_000, Currency::SAR),
            sell_price: Money::from_minor(450_000, Currency::SAR),
            package: Some((package.id, 2)),
            starts_on: None,
            ends_on: None,
        }],
    };
    let booking = bookings
        .create(&owner, request.clone(), None)
        .await?
        .booking;
    println!(
        "booking {} for {} traveller(s), status {:?}",
        booking.reference,
        booking.travellers.len(),
        booking.status
    );
    // The package had two places and this booking took both: never oversold.
    match bookings.create(&owner, request, None).await {
        Err(tms::Error::Conflict { what }) => println!("a second booking is refused: {what}"),
        other => println!("unexpected: {other:?}"),
    }
    for to in [BookingStatus::Pending, BookingStatus::Confirmed] {
        bookings.transition(&owner, booking.id, to, None).await?;
    }

    // --- An Umrah group with a family's two pilgrims ------------------------
    let umrah = Umrah::new(deps.clone(), keyring.clone());
    let group = umrah
        .create_group(
            &owner,
            NewGroup {
                branch_id: branch,
                name: Name::parse("قافلة رمضان")?,
                season: tms::domain::Season::parse("1448H")?,
                package_id: Some(package.id.into()),
                departure_date: date(2027, 2, 10)?,
                return_date: date(2027, 2, 24)?,
                leader_name: Some(Name::parse("Sheikh Yusuf")?),
                capacity: 40,
            },
        )
        .await?;
    let pilgrim = |name: &str, latin: &str, gender, born, passport: &str| -> tms::Result<_> {
        Ok(NewPilgrim {
            name: Name::parse(name)?,
            latin_name: LatinName::parse(latin)?,
            gender,
            date_of_birth: born,
            nationality: Country::parse("PK")?,
            passport_number: PassportNumber::parse(passport)?,
            passport_expiry: date(2031, 1, 31)?,
            visa_status: VisaStatus::NotApplied,
            visa_number: None,
            client_id: None,
            family_id: None,
            mahram_id: None,
            mahram_relation: None,
        })
    };
    let husband = umrah
        .add_pilgrim(
            &owner,
            group.id,
            pilgrim(
                "عمر خان",
                "KHAN UMAR",
                Gender::Male,
                date(1985, 3, 1)?,
                "UK7654321",
            )?,
        )
        .await?;
    let mut wife = pilgrim(
        "آمنہ خان",
        "KHAN AMINA",
        Gender::Female,
        date(1990, 5, 17)?,
        "AB1234567",
    )?;
    wife.client_id = Some(client_id.into());
    wife.mahram_id = Some(husband.pilgrim.id);
    wife.mahram_relation = Some(tms::domain::MahramRelation::Husband);
    umrah.add_pilgrim(&owner, group.id, wife).await?;

    // The manifest is an export: authorized as one and audited.
    let mut manifest = Vec::new();
    let rows = umrah
        .export_manifest(&owner, group.id, &mut manifest)
        .await?;
    println!(
        "manifest of {rows} pilgrims:\n{}",
        String::from_utf8_lossy(&manifest)
    );

    // --- Everything above left a verifiable audit trail ---------------------
    let mut uow = deps.store.begin().await?;
    let status = verify_chain(uow.audit(), tenant.id).await?;
    uow.rollback().await?;
    println!("audit chain: {status:?}");
    Ok(())
}
