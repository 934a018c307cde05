//! Contract cases of the privacy rights (issue 7): export, erasure and
//! retention run the privacy service over the store under test, because the
//! guarantees — every place a person appears is found and anonymised, the
//! audit chain still verifies after an erasure, retention removes exactly
//! what is due — depend on the store's queries and its append-only trigger.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use serde_json::Value;

use crate::domain::finance::{InvoiceLine, TaxRate};
use crate::domain::{
    BookingStatus, BranchScope, Context, Email, Gender, LatinName, Name, PassportNumber, Phone,
    Principal, Role, StoredPassport, Tenant,
};
use crate::error::Error;
use crate::id::{ClientId, InvoiceId, MessageId, PilgrimId, UserId};
use crate::money::{Currency, Money};
use crate::ports::{
    ChainStatus, ClientFilter, OsRandom, OutboxMessage, OutboxStatus, PageRequest, Scope, Store,
    SubjectKind,
};
use crate::security::keyring::{KeyRing, SealContext};
use crate::security::lockout::AccountLockout;
use crate::service::bookings::{Bookings, NewBooking, NewTraveller};
use crate::service::clients::{ClientForm, ClientPatch, Clients};
use crate::service::finance::{Finance, NewInvoice};
use crate::service::privacy::{Privacy, RetentionPolicy};
use crate::service::tenancy::Deps;

use super::{booking_item, new_branch, new_tenant, new_umrah_group, now, seed_user, verify};

/// A tenant with a branch, its owner, the services, and a client "Amina
/// Khan" with a passport, an email, a consent, a correction, two bookings
/// (her own, and another client's she travels on), a message, an issued
/// invoice and a pilgrim record linked to her.
struct PrivacyWorld {
    tenant: Tenant,
    owner: Context,
    keyring: Arc<KeyRing>,
    clients: Clients,
    bookings: Bookings,
    finance: Finance,
    privacy: Privacy,
    amina: ClientId,
    other_client: ClientId,
    pilgrim: PilgrimId,
    invoice: InvoiceId,
}

fn dob() -> NaiveDate {
    NaiveDate::from_ymd_opt(1990, 5, 17).expect("date")
}

fn traveller(name: &str, latin: &str, born: NaiveDate, passport: &str) -> NewTraveller {
    NewTraveller {
        id: None,
        name: Name::parse(name).expect("name"),
        latin_name: LatinName::parse(latin).expect("latin"),
        date_of_birth: born,
        passport: Some(PassportNumber::parse(passport).expect("passport")),
    }
}

impl PrivacyWorld {
    async fn new(store: Arc<dyn Store>) -> Self {
        let tenant = new_tenant();
        let branch = new_branch(tenant.id, now());
        let mut uow = store.begin().await.expect("begin");
        uow.tenants().insert(&tenant).await.expect("tenant");
        uow.branches().insert(&branch).await.expect("branch");
        uow.commit().await.expect("commit");
        let keyring =
            Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).expect("keys"));
        let deps = Deps::new(store.clone());
        let owner = Context::new(
            Principal::user(
                UserId::new(),
                tenant.id,
                Role::TenantSuperAdmin,
                BranchScope::All,
            ),
            now(),
        );
        let clients = Clients::new(deps.clone(), keyring.clone());
        let bookings = Bookings::new(deps.clone(), keyring.clone());
        let finance = Finance::new(deps.clone());
        let privacy = Privacy::new(deps, keyring.clone());

        let form = ClientForm {
            name: Some("Amina Khan".into()),
            latin_name: Some("KHAN AMINA".into()),
            email: Some("amina_k@example.com".into()),
            phone: Some("+966501234567".into()),
            date_of_birth: Some("1990-05-17".into()),
            passport_number: Some("AB1234567".into()),
            ..ClientForm::default()
        };
        let amina = clients
            .create(&owner, branch.id, &form)
            .await
            .expect("client")
            .details
            .client;
        // A correction through the ordinary update path.
        clients
            .update(
                &owner,
                amina.id,
                &ClientPatch {
                    version: amina.version,
                    phone: Some(Some("+966501234568".into())),
                    ..ClientPatch::default()
                },
            )
            .await
            .expect("correct");
        clients
            .record_consent(
                &owner,
                amina.id,
                crate::service::clients::ConsentChange {
                    channel: crate::domain::ConsentChannel::Email,
                    granted: true,
                    source: crate::domain::ConsentSource::Form,
                },
            )
            .await
            .expect("consent");
        let omar = ClientForm {
            name: Some("Omar Farooq".into()),
            ..ClientForm::default()
        };
        let other_client = clients
            .create(&owner, branch.id, &omar)
            .await
            .expect("other client")
            .details
            .client
            .id;
        // Her own booking, with her husband travelling too.
        bookings
            .create(
                &owner,
                NewBooking {
                    branch_id: branch.id,
                    client_id: amina.id,
                    travellers: vec![
                        traveller("Amina Khan", "KHAN AMINA", dob(), "AB1234567"),
                        traveller(
                            "Imran Khan",
                            "KHAN IMRAN",
                            NaiveDate::from_ymd_opt(1985, 1, 2).expect("date"),
                            "CD7654321",
                        ),
                    ],
                    items: vec![booking_item(None)],
                },
                None,
            )
            .await
            .expect("her booking");
        // Omar's booking, on which she travels (matched by Latin name).
        bookings
            .create(
                &owner,
                NewBooking {
                    branch_id: branch.id,
                    client_id: other_client,
                    travellers: vec![
                        traveller("Omar Farooq", "FAROOQ OMAR", dob(), "EF1111111"),
                        traveller("آمنہ خان", "KHAN AMINA", dob(), "AB1234567"),
                    ],
                    items: vec![booking_item(None)],
                },
                None,
            )
            .await
            .expect("omar's booking");
        // A namesake born on another day, on Omar's second booking: someone
        // else, never touched.
        bookings
            .create(
                &owner,
                NewBooking {
                    branch_id: branch.id,
                    client_id: other_client,
                    travellers: vec![traveller(
                        "Amina Khan",
                        "KHAN AMINA",
                        NaiveDate::from_ymd_opt(1970, 3, 3).expect("date"),
                        "GH2222222",
                    )],
                    items: vec![booking_item(None)],
                },
                None,
            )
            .await
            .expect("the namesake's booking");
        let invoice = finance
            .create_draft(
                &owner,
                NewInvoice {
                    branch_id: branch.id,
                    client_id: amina.id,
                    booking_id: None,
                    currency: Currency::SAR,
                    series: None,
                    lines: vec![InvoiceLine {
                        description: "Umrah package".into(),
                        quantity: 1,
                        unit_price: Money::from_minor(450_000, Currency::SAR),
                        tax_rate: TaxRate::from_basis_points(1500).expect("rate"),
                        tax_code: None,
                    }],
                },
            )
            .await
            .expect("draft");
        let invoice = finance.issue(&owner, invoice.id).await.expect("issue").id;

        let group = new_umrah_group(tenant.id, branch.id);
        let mut pilgrim = super::new_pilgrim(&group, Gender::Female, 9);
        pilgrim.name = Name::parse("Amina Khan").expect("name");
        pilgrim.latin_name = LatinName::parse("KHAN AMINA").expect("latin");
        pilgrim.client_id = Some(amina.id.as_uuid());
        pilgrim.passport = StoredPassport {
            sealed: keyring
                .seal(
                    b"PK7654321",
                    &SealContext {
                        tenant_id: tenant.id,
                        table: "pilgrims",
                        row: pilgrim.id.as_uuid(),
                        field: "passport_number",
                    },
                    &OsRandom,
                )
                .expect("seal"),
            index: keyring
                .blind_index(tenant.id, "passport_number", b"PK7654321")
                .expect("index"),
            hint: "…21".into(),
        };
        let mut uow = store.begin().await.expect("begin");
        uow.umrah_groups().insert(&group).await.expect("group");
        uow.pilgrims().insert(&pilgrim).await.expect("pilgrim");
        let message = OutboxMessage::email(
            MessageId::new(),
            tenant.id,
            Email::parse("amina_k@example.com").expect("email"),
            "Your booking",
            "Dear Amina, your booking is confirmed.",
            now(),
        );
        uow.outbox().enqueue(&message).await.expect("message");
        let bystander = OutboxMessage::email(
            MessageId::new(),
            tenant.id,
            Email::parse("aminaxk@example.com").expect("email"),
            "Hello",
            "Not for Amina",
            now(),
        );
        uow.outbox().enqueue(&bystander).await.expect("message");
        // A WhatsApp reminder to her (corrected) phone, and one to a
        // neighbouring number that is not hers.
        let reminder = OutboxMessage::whatsapp(
            MessageId::new(),
            tenant.id,
            Phone::parse("+966501234568").expect("phone"),
            "umrah_reminder",
            "ar",
            vec!["Amina".into(), "14 March".into()],
            now(),
        );
        uow.outbox().enqueue(&reminder).await.expect("message");
        let neighbour = OutboxMessage::whatsapp(
            MessageId::new(),
            tenant.id,
            Phone::parse("+9665012345680").expect("phone"),
            "umrah_reminder",
            "ar",
            vec!["Yusuf".into(), "14 March".into()],
            now(),
        );
        uow.outbox().enqueue(&neighbour).await.expect("message");
        uow.commit().await.expect("commit");

        Self {
            tenant,
            owner,
            keyring,
            clients,
            bookings,
            finance,
            privacy,
            amina: amina.id,
            other_client,
            pilgrim: pilgrim.id,
            invoice,
        }
    }

    fn as_role(&self, role: Role) -> Context {
        Context::new(
            Principal::user(UserId::new(), self.tenant.id, role, BranchScope::All),
            now(),
        )
    }

    /// Erases with the two-step confirmation.
    async fn erase(
        &self,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> crate::service::privacy::ErasureReport {
        let token = match self.privacy.erase(&self.owner, kind, id, None).await {
            Err(Error::ConfirmationRequired { token, .. }) => token,
            other => panic!("expected a confirmation request, got {other:?}"),
        };
        self.privacy
            .erase(&self.owner, kind, id, Some(&token))
            .await
            .expect("erase")
    }
}

fn text_of(value: &Value) -> String {
    value.to_string()
}

/// The export of a client holds her record with the passport opened, the
/// linked pilgrim record, her consent, the bookings where she appears (her
/// own, and another client's she travels on — with only her traveller
/// entry), the messages to her address only, and the audit events about her
/// including the correction; it is audited; Admins may not export and
/// another tenant's owner finds nothing.
pub async fn privacy_export_gathers_everything_about_a_person(store: Arc<dyn Store>) {
    let world = PrivacyWorld::new(store.clone()).await;
    let bundle = world
        .privacy
        .export(&world.owner, SubjectKind::Client, world.amina.as_uuid())
        .await
        .expect("export");
    assert_eq!(bundle.records.len(), 2, "client and linked pilgrim");
    assert_eq!(bundle.records[0]["passport_number"], "AB1234567");
    assert_eq!(bundle.records[0]["phone"], "+966501234568", "corrected");
    assert_eq!(bundle.records[1]["type"], "pilgrim");
    assert_eq!(bundle.records[1]["passport_number"], "PK7654321");
    assert_eq!(bundle.consents.len(), 1);
    assert_eq!(bundle.bookings.len(), 2);
    // Both were made at the same instant: find them by role, not order.
    let own = bundle
        .bookings
        .iter()
        .find(|b| b["as_client"] == true)
        .expect("her own booking");
    assert_eq!(own["travellers"].as_array().map(Vec::len), Some(1));
    assert_eq!(own["travellers"][0]["passport_number"], "AB1234567");
    assert_eq!(own["other_travellers"], 1);
    assert!(
        !text_of(own).contains("CD7654321"),
        "not her husband's passport"
    );
    let travelling = bundle
        .bookings
        .iter()
        .find(|b| b["as_client"] == false)
        .expect("the booking she travels on");
    assert_eq!(travelling["as_traveller"], true);
    assert!(
        !text_of(travelling).contains("Omar"),
        "not the other client's data"
    );
    assert_eq!(
        bundle.messages.len(),
        2,
        "only messages to her address and her phone: {:?}",
        bundle.messages
    );
    let whatsapp = bundle
        .messages
        .iter()
        .find(|m| m["channel"] == "whatsapp")
        .expect("the WhatsApp reminder to her phone");
    assert_eq!(whatsapp["to"], "+966501234568");
    assert_eq!(whatsapp["body"]["variables"][0], "Amina");
    assert!(bundle.files.is_none(), "no files tracked by this store");
    let actions: Vec<&str> = bundle
        .audit_events
        .iter()
        .map(|e| e.event.action.as_str())
        .collect();
    for action in ["client.created", "client.updated", "client.consent.granted"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(bundle.erased_at.is_none());

    let pilgrim = world
        .privacy
        .export(&world.owner, SubjectKind::Pilgrim, world.pilgrim.as_uuid())
        .await
        .expect("pilgrim export");
    assert_eq!(pilgrim.records.len(), 1);
    assert_eq!(
        pilgrim.bookings.len(),
        2,
        "travels on both, by name and birth date"
    );

    let admin = world.as_role(Role::Admin);
    assert!(matches!(
        world
            .privacy
            .export(&admin, SubjectKind::Client, world.amina.as_uuid())
            .await,
        Err(Error::Forbidden { .. })
    ));
    let stranger = Context::new(
        Principal::user(
            UserId::new(),
            super::seed_tenant(&*store).await.id,
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        now(),
    );
    assert!(matches!(
        world
            .privacy
            .export(&stranger, SubjectKind::Client, world.amina.as_uuid())
            .await,
        Err(Error::NotFound { .. })
    ));
    let mut uow = store.begin().await.expect("begin");
    let log = uow
        .audit()
        .read(world.tenant.id, 0, 10_000)
        .await
        .expect("read");
    uow.rollback().await.expect("rollback");
    let exported = log
        .iter()
        .find(|e| e.event.action == "privacy.exported")
        .expect("the export is audited");
    assert!(!text_of(&serde_json::to_value(exported).expect("json")).contains("AB1234567"));
}

/// Erasing a client needs a confirmation, then anonymises her record, her
/// linked pilgrim, her traveller entries (and their sealed passports) in
/// both bookings — leaving her husband's and Omar's untouched — and the
/// message to her; her invoice keeps its amounts under the pseudonym; the
/// audit events about her lose their payloads and the chain still
/// verifies; a second erasure is harmless; an Admin is refused, another
/// tenant's owner finds nothing.
pub async fn privacy_erasure_anonymises_everywhere_and_the_chain_verifies(store: Arc<dyn Store>) {
    let world = PrivacyWorld::new(store.clone()).await;
    let admin = world.as_role(Role::Admin);
    assert!(matches!(
        world
            .privacy
            .erase(&admin, SubjectKind::Client, world.amina.as_uuid(), None)
            .await,
        Err(Error::Forbidden { .. })
    ));
    let stranger = Context::new(
        Principal::user(
            UserId::new(),
            super::seed_tenant(&*store).await.id,
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        now(),
    );
    assert!(matches!(
        world
            .privacy
            .erase(&stranger, SubjectKind::Client, world.amina.as_uuid(), None)
            .await,
        Err(Error::NotFound { .. })
    ));

    let report = world
        .erase(SubjectKind::Client, world.amina.as_uuid())
        .await;
    assert_eq!(report.clients, 1);
    assert_eq!(report.pilgrims, 1);
    assert_eq!(report.bookings, 2);
    assert_eq!(report.travellers, 2);
    assert_eq!(report.messages, 2, "the mail and the WhatsApp reminder");
    assert!(report.audit_events_erased >= 4, "{report:?}");
    assert_eq!(report.audit_events_kept_v1, 0);
    let status = verify(&*store, world.tenant.id).await;
    assert!(
        matches!(status, ChainStatus::Intact { .. }),
        "the chain breaks after an erasure: {status:?}"
    );

    let client = world
        .clients
        .get(&world.owner, world.amina)
        .await
        .expect("the client row stays");
    let short = &world.amina.as_uuid().simple().to_string()[24..];
    assert_eq!(
        client.client.name.as_str(),
        format!("erased-client-{short}")
    );
    assert!(client.client.email.is_none() && client.client.phone.is_none());
    assert!(client.passport_number.is_none());
    let mut uow = store.begin().await.expect("begin");
    let index = world
        .keyring
        .blind_index(world.tenant.id, "passport_number", b"AB1234567")
        .expect("index");
    let found = uow
        .clients()
        .search(
            &Scope {
                tenant_id: world.tenant.id,
                branches: BranchScope::All,
            },
            &ClientFilter {
                passport_index: vec![index],
                passport_search: true,
                ..ClientFilter::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("search");
    assert!(found.items.is_empty(), "the blind index is gone");
    let pilgrim = uow
        .pilgrims()
        .get(world.tenant.id, world.pilgrim)
        .await
        .expect("get")
        .expect("the pilgrim row stays");
    assert!(pilgrim.name.as_str().starts_with("erased-pilgrim-"));
    assert_eq!(pilgrim.latin_name.as_str(), "ERASED");
    let messages = uow
        .outbox()
        .list(world.tenant.id, PageRequest::first())
        .await
        .expect("outbox");
    let log = uow
        .audit()
        .read(world.tenant.id, 0, 10_000)
        .await
        .expect("log");
    uow.rollback().await.expect("rollback");
    let scrubbed: Vec<_> = messages
        .items
        .iter()
        .filter(|m| m.recipient().ends_with("@erased.invalid"))
        .collect();
    assert_eq!(scrubbed.len(), 2);
    for message in &scrubbed {
        assert_eq!(message.status, OutboxStatus::Failed, "never sent now");
        let email = message.as_email().expect("scrubbed rows are email rows");
        assert!(!email.body_text.contains("Amina") && !email.subject.contains("reminder"));
    }
    assert!(
        !messages
            .items
            .iter()
            .any(|m| m.recipient() == "+966501234568"),
        "nothing is addressed to her phone any more"
    );
    assert!(
        messages
            .items
            .iter()
            .any(|m| m.recipient() == "+9665012345680"),
        "a neighbouring number is left alone"
    );
    assert!(
        messages
            .items
            .iter()
            .any(|m| m.recipient() == "aminaxk@example.com"),
        "a look-alike address is left alone"
    );

    let bookings = world
        .bookings
        .list(
            &world.owner,
            crate::ports::BookingFilter::default(),
            PageRequest::first(),
        )
        .await
        .expect("bookings");
    let everyone: Vec<(String, Option<String>)> = bookings
        .items
        .iter()
        .flat_map(|b| b.travellers.iter())
        .map(|t| {
            (
                t.latin_name.as_str().to_owned(),
                t.passport.as_ref().map(|p| p.expose().to_owned()),
            )
        })
        .collect();
    assert!(everyone.contains(&("KHAN IMRAN".into(), Some("CD7654321".into()))));
    assert!(everyone.contains(&("FAROOQ OMAR".into(), Some("EF1111111".into()))));
    assert!(
        everyone.contains(&("KHAN AMINA".into(), Some("GH2222222".into()))),
        "the namesake born on another day is someone else"
    );
    assert_eq!(
        everyone
            .iter()
            .filter(|(latin, passport)| latin == "ERASED" && passport.is_none())
            .count(),
        2
    );
    assert_eq!(
        everyone
            .iter()
            .filter(|(latin, _)| latin == "KHAN AMINA")
            .count(),
        1,
        "only the namesake keeps the name"
    );

    let invoice = world
        .finance
        .get_invoice(&world.owner, world.invoice)
        .await
        .expect("the invoice is kept");
    assert_eq!(invoice.client_id, world.amina);
    assert_eq!(invoice.total.minor_units(), 517_500, "with its amounts");

    // Nothing personal is left in the audit log, and the erasure is in it.
    let all = serde_json::to_string(&log).expect("json");
    for personal in ["amina_k@example.com", "+96650123456", "AB1234567"] {
        assert!(!all.contains(personal), "{personal} left in the audit log");
    }
    assert!(log.iter().any(|e| e.event.action == "privacy.erased"));
    let erased: Vec<_> = log.iter().filter(|e| e.erased_at.is_some()).collect();
    assert!(
        erased
            .iter()
            .all(|e| e.event.after.is_none() && e.payload_digest.is_some())
    );

    // Again: harmless, and still verifies.
    let again = world
        .erase(SubjectKind::Client, world.amina.as_uuid())
        .await;
    assert_eq!(again.audit_events_erased, 0);
    assert_eq!(again.travellers, 0);
    assert!(verify(&*store, world.tenant.id).await.is_intact());
    let bundle = world
        .privacy
        .export(&world.owner, SubjectKind::Client, world.amina.as_uuid())
        .await
        .expect("export after erasure");
    assert!(bundle.erased_at.is_some());
    let text = serde_json::to_string(&bundle.records).expect("json");
    assert!(
        !text.contains("Amina") && !text.contains("AB1234567"),
        "{text}"
    );
}

/// Erasing a user pseudonymises their name and address, removes their
/// password and second factors, blocks their login, revokes their sessions
/// and forgets their login attempts; nobody erases their own account.
pub async fn privacy_erasure_of_a_user_blocks_login(store: Arc<dyn Store>) {
    let world = PrivacyWorld::new(store.clone()).await;
    let user = seed_user(&*store, world.tenant.id).await;
    let session = crate::domain::Session {
        id: crate::id::SessionId::new(),
        tenant_id: world.tenant.id,
        user_id: user.id,
        created_at: now(),
        last_seen_at: now(),
        expires_at: now() + Duration::hours(8),
        revoked_at: None,
        ip: Some("192.0.2.7".into()),
        user_agent: Some("curl".into()),
    };
    let mut uow = store.begin().await.expect("begin");
    uow.sessions().insert(&session).await.expect("session");
    let lockout = AccountLockout {
        last_failure_at: Some(now()),
        ..AccountLockout::default()
    };
    uow.lockouts()
        .put_account(world.tenant.id, &user.email, &lockout)
        .await
        .expect("lockout");
    let reset = OutboxMessage::email(
        MessageId::new(),
        world.tenant.id,
        user.email.clone(),
        "Reset your password",
        "https://tms.example/reset?token=SECRET-RESET-123",
        now(),
    );
    uow.outbox().enqueue(&reset).await.expect("message");
    uow.commit().await.expect("commit");

    let bundle = world
        .privacy
        .export(&world.owner, SubjectKind::User, user.id.as_uuid())
        .await
        .expect("export");
    assert_eq!(bundle.records[0]["email"], user.email.as_str());
    assert_eq!(bundle.sessions.len(), 1);
    assert_eq!(bundle.messages.len(), 1);
    assert!(
        !serde_json::to_string(&bundle.messages)
            .expect("json")
            .contains("SECRET-RESET-123"),
        "a live reset link never leaves in an export"
    );

    let report = world.erase(SubjectKind::User, user.id.as_uuid()).await;
    assert_eq!(report.users, 1);
    assert_eq!(report.sessions_revoked, 1);
    assert_eq!(report.login_attempts, 1);
    assert_eq!(report.messages, 1);
    let mut uow = store.begin().await.expect("begin");
    let after = uow
        .users()
        .get(world.tenant.id, user.id)
        .await
        .expect("get")
        .expect("the user row stays");
    assert!(after.email.as_str().ends_with("@erased.invalid"));
    assert!(after.name.as_str().starts_with("erased-user-"));
    assert!(after.password_hash.is_none() && !after.two_factor.is_enabled());
    assert!(!after.is_active(), "login blocked");
    assert!(
        uow.users()
            .find_by_email(world.tenant.id, &user.email)
            .await
            .expect("find")
            .is_none()
    );
    let live = uow
        .sessions()
        .list_for_user(world.tenant.id, user.id)
        .await
        .expect("sessions");
    uow.rollback().await.expect("rollback");
    assert!(live.is_empty(), "sessions revoked");
    assert!(verify(&*store, world.tenant.id).await.is_intact());

    let me = world.owner.principal.user_id().expect("a user");
    assert!(matches!(
        world
            .privacy
            .erase(&world.owner, SubjectKind::User, me.as_uuid(), None)
            .await,
        Err(Error::Conflict { .. } | Error::NotFound { .. })
    ));
}

/// Retention forgets login attempts idle past their period, deletes old
/// delivery logs and finished messages (never pending ones), anonymises the
/// travellers of bookings closed long enough ago (not open ones); a dry run
/// reports the same counts and changes nothing; a second run finds nothing;
/// each run is audited per tenant with counts and the chain verifies.
pub async fn retention_removes_what_is_due_and_nothing_else(store: Arc<dyn Store>) {
    let world = PrivacyWorld::new(store.clone()).await;
    let t = now();
    let mut uow = store.begin().await.expect("begin");
    let old = AccountLockout {
        last_failure_at: Some(t - Duration::days(100)),
        ..AccountLockout::default()
    };
    uow.lockouts()
        .put_account(
            world.tenant.id,
            &Email::parse("old@example.com").expect("email"),
            &old,
        )
        .await
        .expect("lockout");
    let recent = AccountLockout {
        last_failure_at: Some(t - Duration::days(1)),
        ..AccountLockout::default()
    };
    uow.lockouts()
        .put_account(
            world.tenant.id,
            &Email::parse("recent@example.com").expect("email"),
            &recent,
        )
        .await
        .expect("lockout");
    let mut sent = OutboxMessage::email(
        MessageId::new(),
        world.tenant.id,
        Email::parse("someone@example.com").expect("email"),
        "Old",
        "Old news",
        t - Duration::days(400),
    );
    sent.status = OutboxStatus::Sent;
    uow.outbox().enqueue(&sent).await.expect("sent");
    let mut pending = sent.clone();
    pending.id = MessageId::new();
    pending.status = OutboxStatus::Pending;
    uow.outbox().enqueue(&pending).await.expect("pending");
    uow.commit().await.expect("commit");
    // Omar's booking is cancelled; Amina's stays open.
    let page = world
        .bookings
        .list(
            &world.owner,
            crate::ports::BookingFilter {
                client_id: Some(world.other_client),
                ..Default::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("list");
    let omars = page.items[0].id;
    world
        .bookings
        .transition(&world.owner, omars, BookingStatus::Cancelled, None)
        .await
        .expect("cancel");

    let policy = RetentionPolicy {
        login_attempts: Some(Duration::days(30)),
        delivery_logs: Some(Duration::days(180)),
        closed_bookings: Some(Duration::days(365)),
    };
    let later = t + Duration::days(400);
    let mine = |runs: Vec<crate::service::privacy::TenantRetention>| {
        runs.into_iter()
            .find(|r| r.tenant_id == world.tenant.id)
            .expect("the tenant ran")
            .counts
    };
    let dry = mine(
        world
            .privacy
            .run_retention(&policy, later, true)
            .await
            .expect("dry run"),
    );
    // At `later`, the recent attempt is old too.
    assert_eq!(dry.login_attempts, 2, "{dry:?}");
    assert_eq!(dry.outbox_messages, 1, "{dry:?}");
    assert_eq!(dry.bookings_anonymised, 1, "{dry:?}");
    let at_now = mine(
        world
            .privacy
            .run_retention(&policy, t, true)
            .await
            .expect("dry run now"),
    );
    assert_eq!(at_now.login_attempts, 1, "only the idle one: {at_now:?}");
    assert_eq!(at_now.bookings_anonymised, 0, "cancelled today");
    let done = mine(
        world
            .privacy
            .run_retention(&policy, later, false)
            .await
            .expect("run"),
    );
    assert_eq!(done, dry, "a dry run predicts the run");
    let again = mine(
        world
            .privacy
            .run_retention(&policy, later, false)
            .await
            .expect("again"),
    );
    assert!(again.is_empty(), "{again:?}");

    let omar = world.bookings.get(&world.owner, omars).await.expect("get");
    assert!(
        omar.travellers
            .iter()
            .all(|t| t.latin_name.as_str() == "ERASED" && t.passport.is_none())
    );
    let page = world
        .bookings
        .list(
            &world.owner,
            crate::ports::BookingFilter {
                client_id: Some(world.amina),
                ..Default::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("list");
    assert!(
        page.items[0]
            .travellers
            .iter()
            .any(|t| t.latin_name.as_str() == "KHAN AMINA"),
        "an open booking is left alone"
    );
    let mut uow = store.begin().await.expect("begin");
    let messages = uow
        .outbox()
        .list(world.tenant.id, PageRequest::first())
        .await
        .expect("outbox");
    let log = uow
        .audit()
        .read(world.tenant.id, 0, 10_000)
        .await
        .expect("log");
    uow.rollback().await.expect("rollback");
    assert!(
        messages.items.iter().any(|m| m.id == pending.id),
        "pending kept"
    );
    assert!(
        !messages.items.iter().any(|m| m.id == sent.id),
        "sent deleted"
    );
    let applied: Vec<_> = log
        .iter()
        .filter(|e| e.event.action == "privacy.retention.applied")
        .collect();
    assert_eq!(
        applied.len(),
        1,
        "one event per real run that removed something"
    );
    assert_eq!(
        applied[0]
            .event
            .after
            .as_ref()
            .map(|a| a["bookings_anonymised"].clone()),
        Some(Value::from(1))
    );
    assert!(verify(&*store, world.tenant.id).await.is_intact());
}

/// A stand-in for the files table (issue 8), to check the hook's wiring:
/// one file about every person, erased rows and deleted bytes recorded.
#[derive(Debug, Default)]
struct OneFileEach {
    file: std::sync::OnceLock<uuid::Uuid>,
    erased: std::sync::Mutex<Vec<uuid::Uuid>>,
    deleted: std::sync::Mutex<Vec<uuid::Uuid>>,
}

impl OneFileEach {
    fn reference(&self) -> crate::service::privacy::FileReference {
        crate::service::privacy::FileReference {
            id: *self.file.get_or_init(uuid::Uuid::now_v7),
            category: "passport_scan".into(),
            file_name: Some("amina-passport.pdf".into()),
            content_type: "application/pdf".into(),
            size_bytes: 1024,
            created_at: now(),
        }
    }
}

#[async_trait::async_trait]
impl crate::service::privacy::PersonFiles for OneFileEach {
    async fn list(
        &self,
        _: &mut dyn crate::ports::UnitOfWork,
        _: crate::id::TenantId,
        _: SubjectKind,
        _: uuid::Uuid,
    ) -> crate::Result<Vec<crate::service::privacy::FileReference>> {
        Ok(vec![self.reference()])
    }

    async fn erase(
        &self,
        _: &mut dyn crate::ports::UnitOfWork,
        _: crate::id::TenantId,
        _: SubjectKind,
        id: uuid::Uuid,
    ) -> crate::Result<Vec<crate::service::privacy::FileReference>> {
        self.erased.lock().expect("lock").push(id);
        Ok(vec![self.reference()])
    }

    async fn delete_blobs(
        &self,
        _: crate::id::TenantId,
        files: &[crate::service::privacy::FileReference],
    ) -> crate::Result<()> {
        self.deleted
            .lock()
            .expect("lock")
            .extend(files.iter().map(|f| f.id));
        Ok(())
    }
}

/// With the files of people plugged in, the export lists them, the erasure
/// erases their rows in its unit of work and their bytes after the commit,
/// and the counts say so.
pub async fn privacy_files_hook_is_listed_and_erased(store: Arc<dyn Store>) {
    let world = PrivacyWorld::new(store.clone()).await;
    let files = Arc::new(OneFileEach::default());
    let privacy = world.privacy.clone().with_files(files.clone());
    let bundle = privacy
        .export(&world.owner, SubjectKind::Client, world.amina.as_uuid())
        .await
        .expect("export");
    assert_eq!(bundle.files.as_ref().map(Vec::len), Some(1));
    let token = match privacy
        .erase(
            &world.owner,
            SubjectKind::Client,
            world.amina.as_uuid(),
            None,
        )
        .await
    {
        Err(Error::ConfirmationRequired { token, .. }) => token,
        other => panic!("expected a confirmation request, got {other:?}"),
    };
    let report = privacy
        .erase(
            &world.owner,
            SubjectKind::Client,
            world.amina.as_uuid(),
            Some(&token),
        )
        .await
        .expect("erase");
    assert_eq!((report.files, report.file_bytes_left), (1, 0));
    assert_eq!(*files.erased.lock().expect("lock"), [world.amina.as_uuid()]);
    assert_eq!(files.deleted.lock().expect("lock").len(), 1);
    assert!(verify(&*store, world.tenant.id).await.is_intact());
}
