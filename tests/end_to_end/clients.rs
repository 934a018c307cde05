//! Clients and the CSV import, through the service over the real SQLite
//! store.

use std::future::Future;
use std::pin::Pin;

use tms::Error;
use tms::domain::{BranchScope, ConsentChannel, ConsentSource, Context, Name, Principal, Role};
use tms::id::{BranchId, UserId};
use tms::ports::{Clock as _, PageRequest};
use tms::security::token::PlainToken;
use tms::service::clients::{ClientForm, ClientPatch, ClientQuery, Clients, ConsentChange};
use tms::service::import::{ByteSource, ImportOptions, ReadSource};

use crate::identity_support::{World, world};

struct Shop {
    world: World,
    clients: Clients,
    /// A second branch of the tenant.
    other_branch: BranchId,
}

async fn shop() -> Shop {
    let world = world().await;
    let clients = Clients::new(world.identity.deps().clone(), world.keyring.clone());
    let other_branch = world
        .identity
        .create_branch(&owner(&world), Name::parse("Lahore").unwrap())
        .await
        .unwrap()
        .id;
    Shop {
        world,
        clients,
        other_branch,
    }
}

fn owner(world: &World) -> Context {
    Context::new(
        Principal::user(
            world.owner.id,
            world.tenant.id,
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        world.clock.now(),
    )
}

impl Shop {
    fn as_role(&self, role: Role, scope: BranchScope) -> Context {
        Context::new(
            Principal::user(UserId::new(), self.world.tenant.id, role, scope),
            self.world.clock.now(),
        )
    }

    fn owner(&self) -> Context {
        owner(&self.world)
    }

    fn branch(&self) -> BranchId {
        self.world.branch.id
    }

    async fn count(&self) -> usize {
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .clients
                .list(
                    &self.owner(),
                    &ClientQuery::default(),
                    PageRequest::new(Some(200), cursor.as_deref()).unwrap(),
                )
                .await
                .unwrap();
            n += page.items.len();
            match page.next {
                Some(next) => cursor = Some(next.encode()),
                None => return n,
            }
        }
    }
}

fn amina() -> ClientForm {
    ClientForm {
        name: Some("أمينة خان".into()),
        latin_name: Some("Amina Khan".into()),
        phone: Some("+966 50 123 4567".into()),
        email: Some("Amina@Example.com".into()),
        date_of_birth: Some("1990-02-28".into()),
        nationality: Some("pk".into()),
        passport_number: Some("AB1234567".into()),
        passport_expires_on: Some("2031-12-31".into()),
        ..ClientForm::default()
    }
}

#[tokio::test]
async fn a_client_is_created_found_edited_and_deleted_with_its_passport_sealed() {
    let shop = shop().await;
    let ctx = shop.owner();
    let created = shop
        .clients
        .create(&ctx, shop.branch(), &amina())
        .await
        .unwrap();
    assert!(created.duplicates.is_empty());
    let client = &created.details.client;
    assert_eq!(client.name.as_str(), "أمينة خان");
    assert_eq!(client.latin_name.as_ref().unwrap().as_str(), "AMINA KHAN");
    assert_eq!(client.email.as_ref().unwrap().as_str(), "amina@example.com");
    assert_eq!(client.nationality.unwrap().as_str(), "PK");
    let shown = format!("{created:?}");
    assert!(!shown.contains("AB1234567"), "{shown}");

    // A second client with the same phone is created, and flagged.
    let twin = ClientForm {
        name: Some("Someone Else".into()),
        phone: Some("00966501234567".into()),
        ..ClientForm::default()
    };
    let second = shop
        .clients
        .create(&ctx, shop.branch(), &twin)
        .await
        .unwrap();
    assert_eq!(second.duplicates, vec![client.id]);
    // Get opens the passport; search finds by each key.
    let got = shop.clients.get(&ctx, client.id).await.unwrap();
    assert_eq!(got.passport_number.unwrap().expose(), "AB1234567");
    for query in [
        ClientQuery {
            q: Some("أمينة".into()),
            ..ClientQuery::default()
        },
        ClientQuery {
            q: Some("amina k".into()),
            ..ClientQuery::default()
        },
        ClientQuery {
            passport: Some("ab-1234567".into()),
            ..ClientQuery::default()
        },
        ClientQuery {
            email: Some("AMINA@example.com".into()),
            ..ClientQuery::default()
        },
        ClientQuery {
            q: Some("أمينة".into()),
            branch_id: Some(shop.branch()),
            ..ClientQuery::default()
        },
    ] {
        let page = shop
            .clients
            .list(&ctx, &query, PageRequest::first())
            .await
            .unwrap();
        assert_eq!(
            page.items.iter().map(|d| d.client.id).collect::<Vec<_>>(),
            vec![client.id],
            "{query:?}"
        );
    }
    let bad = ClientQuery {
        phone: Some("12".into()),
        ..ClientQuery::default()
    };
    assert!(matches!(
        shop.clients.list(&ctx, &bad, PageRequest::first()).await,
        Err(Error::Invalid(_))
    ));

    // Same name and date of birth (a day-first date): flagged too.
    let same_person = ClientForm {
        name: Some("أمينة خان".into()),
        date_of_birth: Some("28/02/1990".into()),
        ..ClientForm::default()
    };
    let third = shop
        .clients
        .create(&ctx, shop.other_branch, &same_person)
        .await
        .unwrap();
    assert_eq!(third.duplicates, vec![client.id]);

    // Edit: clear the phone, move branch, keep the passport; stale → Conflict.
    let patch: ClientPatch = serde_json::from_value(serde_json::json!({
        "version": 1, "phone": null, "branch_id": shop.other_branch,
    }))
    .unwrap();
    let edited = shop.clients.update(&ctx, client.id, &patch).await.unwrap();
    assert_eq!(edited.client.version, 2);
    assert_eq!(edited.client.phone, None);
    assert_eq!(edited.client.branch_id, shop.other_branch);
    assert_eq!(edited.passport_number.unwrap().expose(), "AB1234567");
    assert!(matches!(
        shop.clients.update(&ctx, client.id, &patch).await,
        Err(Error::Conflict { .. })
    ));

    // Delete is critical: a token first, then the deletion with it.
    let Err(Error::ConfirmationRequired { token, .. }) =
        shop.clients.delete(&ctx, client.id, None).await
    else {
        panic!("deleting a client needs a confirmation");
    };
    shop.clients
        .delete(&ctx, client.id, Some(&token))
        .await
        .unwrap();
    assert!(matches!(
        shop.clients.get(&ctx, client.id).await,
        Err(Error::NotFound { .. })
    ));

    // The audit trail has every change, and never the passport number.
    let events = shop.world.audit().await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e.event.action.as_str())
        .filter(|a| a.starts_with("client"))
        .collect();
    assert_eq!(
        actions,
        [
            "client.created",
            "client.created",
            "client.created",
            "client.updated",
            "client.deleted"
        ]
    );
    let log = serde_json::to_string(&events).unwrap();
    assert!(
        !log.contains("AB1234567"),
        "the passport leaked into the audit log"
    );
    let created_event = events
        .iter()
        .find(|e| e.event.action == "client.created")
        .unwrap();
    let after = created_event.event.after.as_ref().unwrap();
    assert_eq!(after["name"], "أمينة خان");
    assert_eq!(after["passport_number"], "<redacted>");
}

#[tokio::test]
async fn roles_and_branches_decide_who_sees_and_changes_clients() {
    let shop = shop().await;
    let here = shop.branch();
    let there = shop.other_branch;
    let mine = shop
        .clients
        .create(&shop.owner(), here, &amina())
        .await
        .unwrap()
        .details
        .client;
    let theirs = shop
        .clients
        .create(
            &shop.owner(),
            there,
            &ClientForm {
                name: Some("Bilal".into()),
                ..ClientForm::default()
            },
        )
        .await
        .unwrap()
        .details
        .client;

    let sales = shop.as_role(Role::Sales, BranchScope::only([here]));
    assert!(shop.clients.get(&sales, mine.id).await.is_ok());
    assert!(matches!(
        shop.clients.get(&sales, theirs.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        shop.clients.create(&sales, there, &amina()).await,
        Err(Error::NotFound { .. })
    ));
    let listed = shop
        .clients
        .list(&sales, &ClientQuery::default(), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "only the branch in scope");
    let patch: ClientPatch =
        serde_json::from_value(serde_json::json!({"version": 1, "latin_name": "Amina K"})).unwrap();
    assert!(shop.clients.update(&sales, mine.id, &patch).await.is_ok());
    // Moving a client to a branch outside the scope is refused.
    let away: ClientPatch =
        serde_json::from_value(serde_json::json!({"version": 2, "branch_id": there})).unwrap();
    assert!(matches!(
        shop.clients.update(&sales, mine.id, &away).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        shop.clients.delete(&sales, mine.id, None).await,
        Err(Error::Forbidden { .. })
    ));

    let finance = shop.as_role(Role::Finance, BranchScope::All);
    assert!(shop.clients.get(&finance, theirs.id).await.is_ok());
    assert!(matches!(
        shop.clients.create(&finance, here, &amina()).await,
        Err(Error::Forbidden { .. })
    ));
    let umrah = shop.as_role(Role::Umrah, BranchScope::All);
    assert!(matches!(
        shop.clients.get(&umrah, mine.id).await,
        Err(Error::Forbidden { .. })
    ));
    let admin = shop.as_role(Role::Admin, BranchScope::All);
    assert!(matches!(
        shop.clients.delete(&admin, theirs.id, None).await,
        Err(Error::ConfirmationRequired { .. })
    ));

    // Another tenant's owner: the ids do not exist.
    let other = crate::identity_support::other_tenant(&shop.world, "other-agency").await;
    let stranger = Context::new(
        Principal::user(
            UserId::new(),
            other.tenant.id,
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        shop.world.clock.now(),
    );
    assert!(matches!(
        shop.clients.get(&stranger, mine.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        shop.clients.create(&stranger, here, &amina()).await,
        Err(Error::NotFound { .. })
    ));
    let forged = PlainToken::generate(&tms::ports::OsRandom);
    assert!(matches!(
        shop.clients.delete(&stranger, mine.id, Some(&forged)).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn consent_is_a_history_and_the_newest_answer_counts() {
    let shop = shop().await;
    let ctx = shop.owner();
    let id = shop
        .clients
        .create(&ctx, shop.branch(), &amina())
        .await
        .unwrap()
        .details
        .client
        .id;
    assert!(
        !shop
            .clients
            .consents_to(&ctx, id, ConsentChannel::Email)
            .await
            .unwrap()
    );
    let grant = ConsentChange {
        channel: ConsentChannel::Email,
        granted: true,
        source: ConsentSource::Form,
    };
    shop.clients.record_consent(&ctx, id, grant).await.unwrap();
    assert!(
        shop.clients
            .consents_to(&ctx, id, ConsentChannel::Email)
            .await
            .unwrap()
    );
    shop.world.clock.advance(chrono::Duration::minutes(5));
    let ctx = shop.owner();
    shop.clients
        .record_consent(
            &ctx,
            id,
            ConsentChange {
                granted: false,
                source: ConsentSource::Staff,
                ..grant
            },
        )
        .await
        .unwrap();
    assert!(
        !shop
            .clients
            .consents_to(&ctx, id, ConsentChannel::Email)
            .await
            .unwrap()
    );
    let history = shop.clients.consents(&ctx, id).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|c| (c.granted, c.source))
            .collect::<Vec<_>>(),
        [(true, ConsentSource::Form), (false, ConsentSource::Staff)]
    );
    let finance = shop.as_role(Role::Finance, BranchScope::All);
    assert!(matches!(
        shop.clients.record_consent(&finance, id, grant).await,
        Err(Error::Forbidden { .. })
    ));
}

async fn import(
    shop: &Shop,
    bytes: &[u8],
    dry_run: bool,
) -> tms::Result<tms::service::import::ImportReport> {
    shop.clients
        .import_csv(
            &shop.owner(),
            shop.branch(),
            &mut ReadSource(bytes),
            ImportOptions {
                dry_run,
                ..ImportOptions::default()
            },
            &mut |_| {},
        )
        .await
}

const EXCEL: &str = "\u{FEFF}Full Name;E-Mail;Mobile;DOB;Passport No;Nationality;Email consent;Notes\r\n\
\"Khan; Amina\";amina@example.com;+966501234567;28/02/1990;AB1234567;PK;yes;VIP\r\n\
محمد عبد الرحمن;;+923001234567;1985-07-01;;SA;no;\r\n\
\r\n";

#[tokio::test]
async fn an_excel_export_imports_with_bom_semicolons_and_crlf() {
    let shop = shop().await;
    let dry = import(&shop, EXCEL.as_bytes(), true).await.unwrap();
    assert!(dry.is_clean() && dry.dry_run, "{dry:?}");
    assert_eq!((dry.rows, dry.valid, dry.written), (2, 2, 0));
    assert!(!dry.committed);
    assert_eq!(dry.ignored_columns, ["Notes"]);
    assert_eq!(shop.count().await, 0, "a dry run writes nothing");

    let report = import(&shop, EXCEL.as_bytes(), false).await.unwrap();
    assert!(report.committed, "{report:?}");
    assert_eq!(report.written, 2);
    let page = shop
        .clients
        .list(
            &shop.owner(),
            &ClientQuery {
                passport: Some("AB1234567".into()),
                ..ClientQuery::default()
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    let amina = &page.items[0];
    assert_eq!(amina.client.name.as_str(), "Khan; Amina");
    assert_eq!(amina.client.branch_id, shop.branch());
    let history = shop
        .clients
        .consents(&shop.owner(), amina.client.id)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].granted && history[0].source == ConsentSource::Import);
    let events = shop.world.audit().await;
    let imported = events
        .iter()
        .find(|e| e.event.action == "clients.imported")
        .expect("one import event");
    assert_eq!(imported.event.after.as_ref().unwrap()["written"], 2);
}

#[tokio::test]
async fn one_bad_row_means_nothing_is_written_and_every_error_is_reported() {
    let shop = shop().await;
    let file = "name,email,phone,date_of_birth\n\
                Amina,amina@example.com,+966501234567,1990-02-28\n\
                ,not-an-email,+966501234567,1990-02-28\n\
                Bilal,b@example.com,0501234567,tomorrow\n\
                Chand,c@example.com,+923001234567,\n";
    for dry_run in [true, false] {
        let report = import(&shop, file.as_bytes(), dry_run).await.unwrap();
        assert!(!report.committed);
        assert_eq!((report.rows, report.valid, report.invalid), (4, 2, 2));
        let errors: Vec<(u64, &str)> = report.errors.iter().map(|e| (e.row, &*e.field)).collect();
        assert_eq!(
            errors,
            [
                (3, "name"),
                (3, "email"),
                (4, "phone"),
                (4, "date_of_birth")
            ]
        );
        assert_eq!(report.error_count, 4);
    }
    assert_eq!(shop.count().await, 0);
    assert!(
        !shop
            .world
            .audit()
            .await
            .iter()
            .any(|e| e.event.action == "clients.imported")
    );
}

#[tokio::test]
async fn malformed_files_are_clear_errors_with_the_row() {
    let shop = shop().await;
    let cases: [(&[u8], &str); 5] = [
        (b"name,email\nAmina,a@b.co\nBilal\n", "row 3"),
        (b"name,email\nAmina,\"a@b.co\n", "row 2"),
        (b"name,email\nAm\xffina,a@b.co\n", "row 2"),
        (b"email,phone\na@b.co,+966501234567\n", "no `name` column"),
        (b"", "empty"),
    ];
    for (bytes, expected) in cases {
        let err = import(&shop, bytes, false).await.unwrap_err();
        assert!(
            matches!(err, Error::Invalid(_)) && err.to_string().contains(expected),
            "{err} for {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_eq!(shop.count().await, 0);
}

/// Generates a CSV file of `rows` clients chunk by chunk, never holding it.
struct Generated {
    next: u64,
    rows: u64,
}

impl Generated {
    fn chunk(&mut self) -> tms::Result<Option<Vec<u8>>> {
        if self.next > self.rows {
            return Ok(None);
        }
        let mut chunk = Vec::with_capacity(64 * 1024);
        if self.next == 0 {
            chunk.extend_from_slice(b"name,latin_name,phone,email,passport_number\n");
            self.next = 1;
        }
        while self.next <= self.rows && chunk.len() < 60 * 1024 {
            let n = self.next;
            chunk.extend_from_slice(
                format!("عميل {n},Client Imported,+9665{n:08},client{n}@example.com,P{n:08}\n")
                    .as_bytes(),
            );
            self.next += 1;
        }
        Ok(Some(chunk))
    }
}

// Written out rather than with `#[async_trait]` (not a dependency here).
impl ByteSource for Generated {
    fn next_chunk<'a, 'f>(
        &'a mut self,
    ) -> Pin<Box<dyn Future<Output = tms::Result<Option<Vec<u8>>>> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        let chunk = self.chunk();
        Box::pin(async move { chunk })
    }
}

#[tokio::test]
async fn a_100_000_row_file_imports_in_one_commit() {
    let shop = shop().await;
    let mut source = Generated {
        next: 0,
        rows: 100_000,
    };
    let mut progress = 0u64;
    let report = shop
        .clients
        .import_csv(
            &shop.owner(),
            shop.branch(),
            &mut source,
            ImportOptions::default(),
            &mut |bytes| progress = bytes,
        )
        .await
        .unwrap();
    assert!(report.committed, "{:?}", report.errors.first());
    assert_eq!((report.rows, report.written), (100_000, 100_000));
    assert!(
        progress > 5_000_000,
        "progress reports bytes read: {progress}"
    );
    let last = shop
        .clients
        .list(
            &shop.owner(),
            &ClientQuery {
                passport: Some("P00100000".into()),
                ..ClientQuery::default()
            },
            PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(last.items[0].client.name.as_str(), "عميل 100000");
    assert_eq!(shop.count().await, 100_000);
}
