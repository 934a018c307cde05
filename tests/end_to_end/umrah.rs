//! The Umrah service over the real SQLite store: sealed passports, the
//! mahram rule as a tenant's choice, rooming rules, who may export, and the
//! confirmation of deletions after the list is closed.

use chrono::NaiveDate;
use tms::Error;
use tms::domain::{
    BranchScope, Context, Country, Gender, GroupStatus, LatinName, MahramRelation, MahramRule,
    Name, PassportNumber, Principal, Role, RoomType, Season, VisaStatus,
};
use tms::id::{PilgrimId, UmrahGroupId, UserId};
use tms::ports::Clock as _;
use tms::security::keyring::SealContext;
use tms::service::umrah::{
    Assignee, NewFamily, NewGroup, NewPilgrim, NewRoom, PilgrimChange, Umrah,
};

use crate::identity_support::{World, world};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn umrah(world: &World) -> Umrah {
    Umrah::new(world.identity.deps().clone(), world.keyring.clone())
}

fn as_role(world: &World, role: Role) -> Context {
    Context::new(
        Principal::user(UserId::new(), world.tenant.id, role, BranchScope::All),
        world.clock.now(),
    )
}

async fn group(umrah: &Umrah, ctx: &Context, world: &World) -> UmrahGroupId {
    umrah
        .create_group(
            ctx,
            NewGroup {
                branch_id: world.branch.id,
                name: Name::parse("Shawwal group").unwrap(),
                season: Season::parse("1448H").unwrap(),
                package_id: None,
                departure_date: day(2027, 4, 1),
                return_date: day(2027, 4, 15),
                leader_name: None,
                capacity: 10,
            },
        )
        .await
        .unwrap()
        .id
}

fn pilgrim(latin: &str, gender: Gender, born: NaiveDate, passport: &str) -> NewPilgrim {
    NewPilgrim {
        name: Name::parse("زينب").unwrap(),
        latin_name: LatinName::parse(latin).unwrap(),
        gender,
        date_of_birth: born,
        nationality: Country::parse("GB").unwrap(),
        passport_number: PassportNumber::parse(passport).unwrap(),
        passport_expiry: day(2030, 1, 1),
        visa_status: VisaStatus::NotApplied,
        visa_number: None,
        client_id: None,
        family_id: None,
        mahram_id: None,
        mahram_relation: None,
    }
}

async fn add(umrah: &Umrah, ctx: &Context, group: UmrahGroupId, p: NewPilgrim) -> PilgrimId {
    umrah.add_pilgrim(ctx, group, p).await.unwrap().pilgrim.id
}

#[tokio::test]
async fn passport_numbers_are_sealed_to_their_row_and_found_by_exact_number() {
    let world = world().await;
    let umrah = umrah(&world);
    let ctx = as_role(&world, Role::Umrah);
    let g = group(&umrah, &ctx, &world).await;
    let id = add(
        &umrah,
        &ctx,
        g,
        pilgrim(
            "Zainab Malik",
            Gender::Female,
            day(1960, 1, 1),
            "gb 55 66 77 88",
        ),
    )
    .await;

    let mut uow = world.identity.deps().store.begin().await.unwrap();
    let stored = uow
        .pilgrims()
        .get(world.tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    uow.rollback().await.unwrap();
    assert_eq!(stored.passport.hint, "…88");
    let sealed = stored.passport.sealed.as_bytes();
    assert!(!sealed.windows(10).any(|w| w == b"GB55667788"));
    let here = SealContext {
        tenant_id: world.tenant.id,
        table: "pilgrims",
        row: id.as_uuid(),
        field: "passport_number",
    };
    let opened = world
        .keyring
        .open_string(&stored.passport.sealed, &here)
        .unwrap();
    assert_eq!(opened.expose(), "GB55667788");
    let elsewhere = SealContext {
        row: uuid::Uuid::now_v7(),
        ..here
    };
    assert!(
        world
            .keyring
            .open(&stored.passport.sealed, &elsewhere)
            .is_err()
    );

    let found = umrah
        .find_pilgrims_by_passport(&ctx, &PassportNumber::parse("GB5566-7788").unwrap())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].pilgrim.id, id);
    let none = umrah
        .find_pilgrims_by_passport(&ctx, &PassportNumber::parse("GB55667789").unwrap())
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_mahram_age_is_the_tenants_documented_choice() {
    let world = world().await;
    let ctx = as_role(&world, Role::Umrah);
    let strict = umrah(&world);
    let g = group(&strict, &ctx, &world).await;
    // 30 on departure: needs a mahram under the traditional 45, not under 18.
    add(
        &strict,
        &ctx,
        g,
        pilgrim(
            "Maryam Hussain",
            Gender::Female,
            day(1997, 1, 1),
            "MH0000001",
        ),
    )
    .await;
    strict
        .transition_group(&ctx, g, GroupStatus::Open)
        .await
        .unwrap();
    let err = strict
        .transition_group(&ctx, g, GroupStatus::Closed)
        .await
        .unwrap_err();
    let Error::Invalid(fields) = err else {
        panic!("expected the list of pilgrims without a mahram, got {err:?}");
    };
    assert_eq!(fields.as_slice().len(), 1);
    assert!(fields.to_string().contains("MARYAM HUSSAIN"));

    let relaxed = umrah(&world).with_mahram_rule(MahramRule {
        min_age_without_mahram: 18,
    });
    let closed = relaxed
        .transition_group(&ctx, g, GroupStatus::Closed)
        .await
        .unwrap();
    assert_eq!(closed.status, GroupStatus::Closed);
    let events = world.audit().await;
    assert!(
        events
            .iter()
            .any(|e| e.event.action == "umrah.group.transitioned"
                && e.event.after.as_ref().unwrap()["status"] == "closed")
    );
}

#[tokio::test]
async fn rooms_keep_families_together_one_gender_and_their_capacity() {
    let world = world().await;
    let umrah = umrah(&world);
    let ctx = as_role(&world, Role::Umrah);
    let g = group(&umrah, &ctx, &world).await;
    let father = add(
        &umrah,
        &ctx,
        g,
        pilgrim("Ali Raza", Gender::Male, day(1970, 1, 1), "RZ0000001"),
    )
    .await;
    let mut mother = pilgrim("Hina Raza", Gender::Female, day(1975, 1, 1), "RZ0000002");
    mother.mahram_id = Some(father);
    mother.mahram_relation = Some(MahramRelation::Husband);
    let mother = add(&umrah, &ctx, g, mother).await;
    let son = add(
        &umrah,
        &ctx,
        g,
        pilgrim("Hasan Raza", Gender::Male, day(2005, 1, 1), "RZ0000003"),
    )
    .await;
    let stranger = add(
        &umrah,
        &ctx,
        g,
        pilgrim("Noor Fatima", Gender::Female, day(1960, 1, 1), "NF0000001"),
    )
    .await;
    let (family, members) = umrah
        .create_family(
            &ctx,
            g,
            NewFamily {
                name: Name::parse("Raza").unwrap(),
                head_pilgrim_id: Some(father),
                members: vec![mother, son, son],
            },
        )
        .await
        .unwrap();
    assert_eq!(members, vec![father, mother, son]);
    let room = |room_type| NewRoom {
        hotel: Name::parse("Le Méridien Makkah").unwrap(),
        city: tms::domain::City::Makkah,
        room_type,
        room_number: None,
    };
    let double = umrah
        .create_room(&ctx, g, room(RoomType::Double))
        .await
        .unwrap();
    let triple = umrah
        .create_room(&ctx, g, room(RoomType::Triple))
        .await
        .unwrap();

    // A family of three does not fit a double: refused, with the reason.
    let err = umrah
        .assign_room(&ctx, double.id, Assignee::Pilgrim(son))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger room"), "{err}");
    let err = umrah
        .assign_room(&ctx, double.id, Assignee::Family(family.id))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    // The whole family in the triple at once; nobody else fits.
    let placed = umrah
        .assign_room(&ctx, triple.id, Assignee::Family(family.id))
        .await
        .unwrap();
    assert_eq!(placed.occupants.len(), 3);
    let err = umrah
        .assign_room(&ctx, triple.id, Assignee::Pilgrim(stranger))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");

    // A woman alone in the double; a man may not join her.
    umrah
        .assign_room(&ctx, double.id, Assignee::Pilgrim(stranger))
        .await
        .unwrap();
    umrah.unassign_room(&ctx, triple.id, son).await.unwrap();
    let err = umrah
        .assign_room(&ctx, double.id, Assignee::Pilgrim(son))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("gender") || err.to_string().contains("family"),
        "{err}"
    );
}

#[tokio::test]
async fn sales_and_finance_read_but_never_change_or_export() {
    let world = world().await;
    let umrah = umrah(&world);
    let staff = as_role(&world, Role::Umrah);
    let g = group(&umrah, &staff, &world).await;
    let p = add(
        &umrah,
        &staff,
        g,
        pilgrim("Idris Shah", Gender::Male, day(1980, 1, 1), "IS0000001"),
    )
    .await;
    for role in [Role::Sales, Role::Finance] {
        let ctx = as_role(&world, role);
        assert!(umrah.get_group(&ctx, g).await.is_ok());
        assert!(umrah.get_pilgrim(&ctx, p).await.is_ok());
        let denied = umrah.export_manifest(&ctx, g, Vec::new()).await;
        assert!(matches!(denied, Err(Error::Forbidden { .. })), "{role:?}");
        let denied = umrah
            .add_pilgrim(
                &ctx,
                g,
                pilgrim("Other Person", Gender::Male, day(1980, 1, 1), "IS0000002"),
            )
            .await;
        assert!(matches!(denied, Err(Error::Forbidden { .. })), "{role:?}");
        let denied = umrah
            .update_pilgrim(
                &ctx,
                p,
                PilgrimChange {
                    visa_status: Some(VisaStatus::Applied),
                    ..PilgrimChange::default()
                },
            )
            .await;
        assert!(matches!(denied, Err(Error::Forbidden { .. })), "{role:?}");
    }
    let mut out = Vec::new();
    assert_eq!(umrah.export_manifest(&staff, g, &mut out).await.unwrap(), 1);
    assert!(String::from_utf8(out).unwrap().contains(",IS0000001,"));
}

#[tokio::test]
async fn removing_a_pilgrim_after_the_list_closed_needs_a_confirmation() {
    let world = world().await;
    let umrah = umrah(&world);
    let ctx = as_role(&world, Role::Umrah);
    let g = group(&umrah, &ctx, &world).await;
    let p = add(
        &umrah,
        &ctx,
        g,
        pilgrim("Tariq Aziz", Gender::Male, day(1980, 1, 1), "TA0000001"),
    )
    .await;
    umrah
        .transition_group(&ctx, g, GroupStatus::Open)
        .await
        .unwrap();
    umrah
        .transition_group(&ctx, g, GroupStatus::Closed)
        .await
        .unwrap();
    // Visas are arranged after closing; identity fields are frozen.
    let issued = umrah
        .update_pilgrim(
            &ctx,
            p,
            PilgrimChange {
                visa_status: Some(VisaStatus::Issued),
                visa_number: Some(Some(
                    tms::domain::ShortRef::parse("V123", "visa_number").unwrap(),
                )),
                ..PilgrimChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(issued.pilgrim.visa_status, VisaStatus::Issued);
    let frozen = umrah
        .update_pilgrim(
            &ctx,
            p,
            PilgrimChange {
                latin_name: Some(LatinName::parse("Tariq Aziz Khan").unwrap()),
                ..PilgrimChange::default()
            },
        )
        .await;
    assert!(matches!(frozen, Err(Error::Conflict { .. })));

    let Err(Error::ConfirmationRequired { token, .. }) = umrah.delete_pilgrim(&ctx, p, None).await
    else {
        panic!("a closed group's pilgrim is no draft");
    };
    umrah.delete_pilgrim(&ctx, p, Some(&token)).await.unwrap();
    assert!(matches!(
        umrah.get_pilgrim(&ctx, p).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn pilgrims_import_from_an_excel_csv_all_or_nothing_within_capacity() {
    use tms::service::import::{ImportOptions, ReadSource};
    let world = world().await;
    let umrah = umrah(&world);
    let ctx = as_role(&world, Role::Umrah);
    let g = umrah
        .create_group(
            &ctx,
            NewGroup {
                branch_id: world.branch.id,
                name: Name::parse("Import group").unwrap(),
                season: Season::parse("2027").unwrap(),
                package_id: None,
                departure_date: day(2027, 4, 1),
                return_date: day(2027, 4, 15),
                leader_name: None,
                capacity: 4,
            },
        )
        .await
        .unwrap()
        .id;
    add(
        &umrah,
        &ctx,
        g,
        pilgrim("Already Here", Gender::Male, day(1980, 1, 1), "DUP000001"),
    )
    .await;
    let import = |file: String, dry_run: bool| {
        let umrah = umrah.clone();
        let ctx = ctx.clone();
        async move {
            let mut source = ReadSource(file.as_bytes());
            let mut progress = |_: u64| {};
            umrah
                .import_pilgrims(
                    &ctx,
                    g,
                    &mut source,
                    ImportOptions {
                        dry_run,
                        ..ImportOptions::default()
                    },
                    &mut progress,
                )
                .await
        }
    };
    let header = "\u{FEFF}Name;Latin Name;Sex;DOB;Nationality;Passport No;Passport Expiry\r\n";
    let good = format!(
        "{header}فاطمة;Fatima Noor;F;01/02/1990;pk;FN 000 001;2031-01-01\r\n\
         \"Khan; Bilal\";Bilal Khan;M;1985-07-30;PK;BK0000001;31/12/2030\r\n"
    );

    // A dry run checks and writes nothing.
    let report = import(good.clone(), true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.rows, report.valid, report.written), (2, 2, 0));
    assert!(!report.committed);

    // One bad row: every error reported by row and field, nothing written.
    let bad = format!(
        "{good}X;Nobody;Z;1990-13-01;PK;DUP000001;2031-01-01\r\n\
         Y;Again;M;1990-01-01;PK;BK0000001;2031-01-01\r\n"
    );
    let report = import(bad, false).await.unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.written, 0);
    let errors: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.field.as_ref()))
        .collect();
    assert_eq!(
        errors,
        vec![(4, "gender"), (4, "date_of_birth"), (5, "passport_number"),],
        "{report:?}"
    );
    let listed = umrah
        .list_pilgrims(&ctx, g, tms::ports::PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "all or nothing");

    // The clean file commits; the group's capacity bounds the next one.
    let report = import(good, false).await.unwrap();
    assert!(report.committed && report.written == 2, "{report:?}");
    let listed = umrah
        .list_pilgrims(&ctx, g, tms::ports::PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3);
    let fatima = listed
        .items
        .iter()
        .find(|p| p.pilgrim.latin_name.as_str() == "FATIMA NOOR")
        .unwrap();
    assert_eq!(fatima.pilgrim.gender, Gender::Female);
    assert_eq!(fatima.pilgrim.date_of_birth, day(1990, 2, 1));
    assert_eq!(fatima.pilgrim.passport.hint, "…01");
    let more = format!(
        "{header}A;One More;M;1990-01-01;SA;OM0000001;2031-01-01\r\n\
         B;Two More;M;1990-01-01;SA;OM0000002;2031-01-01\r\n"
    );
    let report = import(more, false).await.unwrap();
    assert_eq!(report.written, 0);
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(
        (report.errors[0].row, report.errors[0].field.as_ref()),
        (3, "row")
    );

    let events = world.audit().await;
    let imported: Vec<_> = events
        .iter()
        .filter(|e| e.event.action == "umrah.pilgrims.imported")
        .collect();
    assert_eq!(imported.len(), 1);
    let after = imported[0].event.after.as_ref().unwrap();
    assert_eq!(after["written"], 2);
    assert_eq!(after["pilgrims"].as_array().unwrap().len(), 2);
    let dump = serde_json::to_string(&events).unwrap();
    assert!(!dump.contains("FN000001") && !dump.contains("BK0000001"));
}
