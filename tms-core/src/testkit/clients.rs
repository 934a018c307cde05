//! Contract cases of the clients repository (schema 3), and helpers other
//! suites use to seed clients.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};

use super::{is_conflict, new_branch, now, seed_tenant};
use crate::domain::{
    Branch, BranchScope, Client, ClientKind, ConsentChannel, ConsentRecord, ConsentSource, Country,
    Email, LatinName, Name, PassportNumber, Phone, SealedPassport,
};
use crate::error::Error;
use crate::id::{BranchId, ClientId, TenantId};
use crate::ports::{ClientFilter, DuplicateProbe, PageRequest, Scope, SeededRandom, Store};
use crate::security::keyring::{KeyRing, SealContext};

/// A key ring for tests (one key, fixed seed).
pub fn test_keyring() -> KeyRing {
    let random = SeededRandom::new(42);
    KeyRing::parse(KeyRing::generate_key(1, &random).expose()).expect("key ring")
}

/// A client of `tenant` in `branch` named `name`, not stored yet, with no
/// optional fields.
pub fn new_client(tenant: TenantId, branch: BranchId, name: &str) -> Client {
    let t = now();
    Client {
        id: ClientId::new(),
        tenant_id: tenant,
        branch_id: branch,
        kind: ClientKind::Person,
        name: Name::parse(name).expect("valid name"),
        latin_name: None,
        phone: None,
        email: None,
        date_of_birth: None,
        nationality: None,
        passport: None,
        passport_expires_on: None,
        created_at: t,
        updated_at: t,
        version: 1,
    }
}

/// Seals `number` for `client` as the clients service does.
pub fn seal_passport(ring: &KeyRing, client: &Client, number: &str) -> SealedPassport {
    let number = PassportNumber::parse(number).expect("passport number");
    let context = SealContext {
        tenant_id: client.tenant_id,
        table: "clients",
        row: client.id.as_uuid(),
        field: "passport_number",
    };
    SealedPassport {
        sealed: ring
            .seal(number.expose().as_bytes(), &context, &SeededRandom::new(1))
            .expect("seal"),
        index: ring
            .blind_index(
                client.tenant_id,
                "passport_number",
                number.expose().as_bytes(),
            )
            .expect("index"),
    }
}

async fn seed_branches(store: &dyn Store, tenant: TenantId, n: i64) -> Vec<Branch> {
    let t = now();
    let branches: Vec<Branch> = (0..n)
        .map(|i| new_branch(tenant, t + Duration::seconds(i)))
        .collect();
    let mut uow = store.begin().await.expect("begin");
    for b in &branches {
        uow.branches().insert(b).await.expect("insert branch");
    }
    uow.commit().await.expect("commit");
    branches
}

/// Clients round-trip exactly (any script, sealed passport), another
/// tenant's id is missing, search filters by name prefix (Latin without
/// case, Arabic exactly), phone, email, passport index and branch scope,
/// duplicates are found, stale updates conflict, and delete removes the
/// client with its consents.
pub async fn clients_round_trip_search_and_scope(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let branches = seed_branches(&*store, tenant.id, 2).await;
    let other_branch = seed_branches(&*store, other.id, 1).await;
    let ring = test_keyring();
    let t = now();

    let mut amina = new_client(tenant.id, branches[0].id, "Amina Khan");
    amina.latin_name = Some(LatinName::parse("Amina Khan").expect("latin"));
    amina.phone = Some(Phone::parse("+966501234567").expect("phone"));
    amina.email = Some(Email::parse("amina@example.com").expect("email"));
    amina.date_of_birth = NaiveDate::from_ymd_opt(1990, 2, 28);
    amina.nationality = Some(Country::parse("SA").expect("country"));
    amina.passport = Some(seal_passport(&ring, &amina, "AB1234567"));
    amina.passport_expires_on = NaiveDate::from_ymd_opt(2031, 12, 31);
    let mut abdullah = new_client(tenant.id, branches[1].id, "عبد الله بن محمد");
    abdullah.created_at = t + Duration::seconds(1);
    abdullah.updated_at = abdullah.created_at;
    abdullah.latin_name = Some(LatinName::parse("Abdullah bin Muhammad").expect("latin"));
    let mut company = new_client(tenant.id, branches[1].id, "50%_Off Tours");
    company.kind = ClientKind::Company;
    company.created_at = t + Duration::seconds(2);
    company.updated_at = company.created_at;
    // Same passport and email in another tenant: never found from here.
    let mut foreign = new_client(other.id, other_branch[0].id, "Amina Khan");
    foreign.email = amina.email.clone();
    foreign.passport = Some(seal_passport(&ring, &foreign, "AB1234567"));

    let mut uow = store.begin().await.expect("begin");
    uow.clients().insert(&amina).await.expect("insert");
    uow.clients()
        .insert_many(&[abdullah.clone(), company.clone()])
        .await
        .expect("insert many");
    uow.clients().insert(&foreign).await.expect("insert");
    assert!(
        is_conflict(&uow.clients().insert(&amina).await),
        "a taken id conflicts"
    );
    uow.rollback().await.expect("rollback");

    let mut uow = store.begin().await.expect("begin");
    uow.clients().insert(&amina).await.expect("insert");
    uow.clients()
        .insert_many(&[abdullah.clone(), company.clone()])
        .await
        .expect("insert many");
    uow.clients().insert(&foreign).await.expect("insert");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    let back = uow.clients().get(tenant.id, amina.id).await.expect("get");
    assert_eq!(back.as_ref(), Some(&amina));
    let sealed = &back.expect("found").passport.expect("passport").sealed;
    let context = SealContext {
        tenant_id: tenant.id,
        table: "clients",
        row: amina.id.as_uuid(),
        field: "passport_number",
    };
    assert_eq!(
        ring.open_string(sealed, &context).expect("open").expose(),
        "AB1234567"
    );
    assert_eq!(
        uow.clients()
            .get(tenant.id, abdullah.id)
            .await
            .expect("get"),
        Some(abdullah.clone())
    );
    assert_eq!(
        uow.clients().get(other.id, amina.id).await.expect("get"),
        None,
        "another tenant's client is missing"
    );

    let all = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::All,
    };
    let names = |page: &crate::ports::Page<Client>| {
        page.items
            .iter()
            .map(|c| c.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let everything = uow
        .clients()
        .search(&all, &ClientFilter::default(), PageRequest::first())
        .await
        .expect("search");
    assert_eq!(
        everything.items,
        vec![amina.clone(), abdullah.clone(), company.clone()]
    );
    for (prefix, expected) in [
        ("am", vec!["Amina Khan"]),
        ("amina k", vec!["Amina Khan"]),
        ("عبد", vec!["عبد الله بن محمد"]),
        ("abdullah", vec!["عبد الله بن محمد"]),
        ("50%_", vec!["50%_Off Tours"]),
        ("5%", vec![]),
        ("_", vec![]),
        ("khan", vec![]),
    ] {
        let filter = ClientFilter {
            name_prefix: Some(Client::search_key(prefix)),
            ..ClientFilter::default()
        };
        let page = uow
            .clients()
            .search(&all, &filter, PageRequest::first())
            .await
            .expect("search");
        assert_eq!(names(&page), expected, "prefix {prefix:?}");
    }
    let by_phone = ClientFilter {
        phone: amina.phone.clone(),
        ..ClientFilter::default()
    };
    let by_email = ClientFilter {
        email: amina.email.clone(),
        ..ClientFilter::default()
    };
    let by_passport = ClientFilter {
        passport_index: ring.blind_index_candidates(tenant.id, "passport_number", b"AB1234567"),
        passport_search: true,
        ..ClientFilter::default()
    };
    let no_passport = ClientFilter {
        passport_search: true,
        ..ClientFilter::default()
    };
    for (what, filter, expected) in [
        ("phone", by_phone, vec!["Amina Khan"]),
        ("email", by_email, vec!["Amina Khan"]),
        ("passport", by_passport, vec!["Amina Khan"]),
        ("no passport candidates", no_passport, vec![]),
    ] {
        let page = uow
            .clients()
            .search(&all, &filter, PageRequest::first())
            .await
            .expect("search");
        assert_eq!(names(&page), expected, "{what}");
    }
    // Branch scope and the branch filter.
    let second_only = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::only([branches[1].id]),
    };
    let page = uow
        .clients()
        .search(&second_only, &ClientFilter::default(), PageRequest::first())
        .await
        .expect("search");
    assert_eq!(page.items, vec![abdullah.clone(), company.clone()]);
    let page = uow
        .clients()
        .search(
            &second_only,
            &ClientFilter {
                email: amina.email.clone(),
                ..ClientFilter::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("search");
    assert!(page.items.is_empty(), "out of scope");
    let page = uow
        .clients()
        .search(
            &all,
            &ClientFilter {
                branch_id: Some(branches[0].id),
                ..ClientFilter::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("search");
    assert_eq!(page.items, vec![amina.clone()]);
    let nothing = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::only([]),
    };
    let page = uow
        .clients()
        .search(&nothing, &ClientFilter::default(), PageRequest::first())
        .await
        .expect("search");
    assert!(page.items.is_empty());
    // Keyset pages.
    let first = uow
        .clients()
        .search(
            &all,
            &ClientFilter::default(),
            PageRequest::new(Some(2), None).expect("page"),
        )
        .await
        .expect("search");
    assert_eq!(first.items, vec![amina.clone(), abdullah.clone()]);
    let cursor = first.next.expect("a next page").encode();
    let second = uow
        .clients()
        .search(
            &all,
            &ClientFilter::default(),
            PageRequest::new(Some(2), Some(&cursor)).expect("page"),
        )
        .await
        .expect("search");
    assert_eq!(second.items, vec![company.clone()]);
    assert!(second.next.is_none());

    // Duplicates: any one part matches, scoped, the client itself left out.
    let cases = [
        (
            "email",
            DuplicateProbe {
                email: amina.email.clone(),
                ..DuplicateProbe::default()
            },
            vec![amina.id],
        ),
        (
            "phone",
            DuplicateProbe {
                phone: amina.phone.clone(),
                ..DuplicateProbe::default()
            },
            vec![amina.id],
        ),
        (
            "passport",
            DuplicateProbe {
                passport_index: ring.blind_index_candidates(
                    tenant.id,
                    "passport_number",
                    b"AB1234567",
                ),
                ..DuplicateProbe::default()
            },
            vec![amina.id],
        ),
        (
            "name and birth",
            DuplicateProbe {
                name_and_birth: Some((
                    Client::search_key("AMINA KHAN"),
                    NaiveDate::from_ymd_opt(1990, 2, 28).expect("date"),
                )),
                ..DuplicateProbe::default()
            },
            vec![amina.id],
        ),
        (
            "name with another birth date",
            DuplicateProbe {
                name_and_birth: Some((
                    Client::search_key("Amina Khan"),
                    NaiveDate::from_ymd_opt(1991, 2, 28).expect("date"),
                )),
                ..DuplicateProbe::default()
            },
            vec![],
        ),
        (
            "itself",
            DuplicateProbe {
                email: amina.email.clone(),
                except: Some(amina.id),
                ..DuplicateProbe::default()
            },
            vec![],
        ),
        ("nothing to compare", DuplicateProbe::default(), vec![]),
    ];
    for (what, probe, expected) in cases {
        let found = uow
            .clients()
            .find_duplicates(&all, &probe)
            .await
            .expect("duplicates");
        assert_eq!(found, expected, "{what}");
    }
    let found = uow
        .clients()
        .find_duplicates(
            &second_only,
            &DuplicateProbe {
                email: amina.email.clone(),
                ..DuplicateProbe::default()
            },
        )
        .await
        .expect("duplicates");
    assert!(found.is_empty(), "duplicates outside the scope stay hidden");

    // Updates: every field saved, stale versions conflict, missing is NotFound.
    let stale = amina.clone();
    let mut edited = amina.clone();
    edited.name = Name::parse("Amina Rahman").expect("name");
    edited.branch_id = branches[1].id;
    edited.phone = None;
    edited.passport = None;
    edited.passport_expires_on = None;
    edited.updated_at = t + Duration::seconds(30);
    uow.clients().update(&mut edited).await.expect("update");
    assert_eq!(edited.version, 2);
    assert_eq!(
        uow.clients().get(tenant.id, amina.id).await.expect("get"),
        Some(edited.clone())
    );
    let mut stale = stale;
    assert!(is_conflict(&uow.clients().update(&mut stale).await));
    let mut missing = new_client(tenant.id, branches[0].id, "Nobody");
    assert!(matches!(
        uow.clients().update(&mut missing).await,
        Err(Error::NotFound { .. })
    ));
    let mut foreign_edit = foreign.clone();
    foreign_edit.tenant_id = tenant.id;
    assert!(matches!(
        uow.clients().update(&mut foreign_edit).await,
        Err(Error::NotFound { .. })
    ));

    // Delete: the client and its consents; another tenant's id deletes nothing.
    uow.clients()
        .add_consent(&consent(&edited, ConsentChannel::Email, true, t))
        .await
        .expect("consent");
    assert!(
        !uow.clients()
            .delete(other.id, edited.id)
            .await
            .expect("delete")
    );
    assert!(
        uow.clients()
            .delete(tenant.id, edited.id)
            .await
            .expect("delete")
    );
    assert_eq!(
        uow.clients().get(tenant.id, edited.id).await.expect("get"),
        None
    );
    assert!(
        uow.clients()
            .consents(tenant.id, edited.id)
            .await
            .expect("consents")
            .is_empty()
    );
    assert!(
        !uow.clients()
            .delete(tenant.id, edited.id)
            .await
            .expect("delete")
    );
    uow.commit().await.expect("commit");
}

/// A consent record of `client` on `channel` at `at`.
pub fn consent(
    client: &Client,
    channel: ConsentChannel,
    granted: bool,
    at: chrono::DateTime<chrono::Utc>,
) -> ConsentRecord {
    ConsentRecord {
        id: uuid::Uuid::now_v7(),
        tenant_id: client.tenant_id,
        client_id: client.id,
        channel,
        granted,
        source: ConsentSource::Staff,
        at,
        recorded_by: None,
    }
}

/// Consent answers are kept as a history per channel; the newest answer is
/// the current one; another tenant sees none of it.
pub async fn client_consents_keep_history(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let branches = seed_branches(&*store, tenant.id, 1).await;
    let client = new_client(tenant.id, branches[0].id, "Fatima Rezaei");
    let t = now();
    let granted = consent(&client, ConsentChannel::Email, true, t);
    let mut withdrawn = consent(
        &client,
        ConsentChannel::Email,
        false,
        t + Duration::hours(1),
    );
    withdrawn.source = ConsentSource::Form;
    let mut marketing = consent(&client, ConsentChannel::Marketing, true, t);
    marketing.source = ConsentSource::Import;

    let mut uow = store.begin().await.expect("begin");
    uow.clients().insert(&client).await.expect("insert");
    for c in [&granted, &withdrawn, &marketing] {
        uow.clients().add_consent(c).await.expect("consent");
    }
    assert!(is_conflict(&uow.clients().add_consent(&granted).await));
    uow.rollback().await.expect("rollback");

    let mut uow = store.begin().await.expect("begin");
    uow.clients().insert(&client).await.expect("insert");
    for c in [&granted, &withdrawn, &marketing] {
        uow.clients().add_consent(c).await.expect("consent");
    }
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    let history = uow
        .clients()
        .consents(tenant.id, client.id)
        .await
        .expect("history");
    assert_eq!(
        history,
        vec![granted.clone(), marketing.clone(), withdrawn.clone()]
    );
    assert_eq!(
        uow.clients()
            .current_consent(tenant.id, client.id, ConsentChannel::Email)
            .await
            .expect("current"),
        Some(withdrawn.clone())
    );
    assert_eq!(
        uow.clients()
            .current_consent(tenant.id, client.id, ConsentChannel::Marketing)
            .await
            .expect("current"),
        Some(marketing.clone())
    );
    assert_eq!(
        uow.clients()
            .current_consent(tenant.id, client.id, ConsentChannel::Whatsapp)
            .await
            .expect("current"),
        None
    );
    assert!(
        uow.clients()
            .consents(other.id, client.id)
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        uow.clients()
            .current_consent(other.id, client.id, ConsentChannel::Marketing)
            .await
            .expect("current"),
        None
    );
    uow.rollback().await.expect("rollback");
}
