//! TMS in one file: provision an agency in an in-memory SQLite store, then
//! watch the policy engine, money, passwords, sealed secrets and the
//! tamper-evident audit chain at work.
//!
//! Run it with `cargo run --example quickstart`.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tms::audit::{ChainVerifier, GENESIS, NewAuditEvent};
use tms::domain::{Branch, BranchScope, Context, Email, Name, Principal, Role, TwoFactor, User};
use tms::id::{BranchId, TenantId, UserId};
use tms::money::{Currency, Money};
use tms::policy::{Action, Decision, Resource, ResourceKind, authorize};
use tms::ports::{OsRandom, export_jsonl, verify_chain};
use tms::security::keyring::{KeyRing, SealContext};
use tms::security::password::{PasswordHasher, check_password_policy};
use tms::security::secret::Secret;
use tms::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms::sql::SqlStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> tms::Result<()> {
    // --- An agency, provisioned into an embedded SQLite store ---------------
    let store = SqlStore::connect("sqlite::memory:").await?;
    let deps = Deps::new(Arc::new(store));
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
    let (tenant, jeddah, owner) = (made.tenant, made.branch, made.owner);
    let now = Utc::now();

    // A second office and three staff, written with their audit events in
    // one unit of work (the user-admin service arrives with the identity issue).
    let lahore = Branch {
        id: BranchId::new(),
        tenant_id: tenant.id,
        name: Name::parse("لاہور")?,
        created_at: now,
        closed_at: None,
        version: 1,
    };
    let user = |email: &str, name: &str, role: Role, scope: BranchScope| -> tms::Result<User> {
        Ok(User {
            id: UserId::new(),
            tenant_id: tenant.id,
            email: Email::parse(email)?,
            name: Name::parse(name)?,
            role,
            scope,
            password_hash: None,
            two_factor: TwoFactor::default(),
            must_change_password: false,
            disabled_at: None,
            created_at: now,
            version: 1,
        })
    };
    let admin = user(
        "admin@alnoor.example",
        "Fatima Rezaei",
        Role::Admin,
        BranchScope::All,
    )?;
    let finance = user(
        "finance@alnoor.example",
        "Bilal Ahmed",
        Role::Finance,
        BranchScope::All,
    )?;
    let sales = user(
        "sales@alnoor.example",
        "عائشہ صدیقی",
        Role::Sales,
        BranchScope::only([lahore.id]),
    )?;
    let ctx = Context::new(owner.principal(), now);
    let mut uow = deps.store.begin().await?;
    uow.branches().insert(&lahore).await?;
    uow.audit()
        .append(
            NewAuditEvent::new(&ctx, "branch.created", "branch", Some(lahore.id.as_uuid()))
                .in_branch(lahore.id),
        )
        .await?;
    for staff in [&admin, &finance, &sales] {
        uow.users().insert(staff).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(&ctx, "user.created", "user", Some(staff.id.as_uuid()))
                    .with_change(
                        None,
                        Some(json!({ "email": staff.email, "role": staff.role })),
                    ),
            )
            .await?;
    }
    uow.commit().await?;

    println!(
        "Provisioned tenant {} ({}) with branches {} and {}",
        tenant.name, tenant.slug, jeddah.name, lahore.name
    );

    // --- Policy decisions ----------------------------------------------------
    let booking_in = |b: &Branch| Resource::new(ResourceKind::Booking, tenant.id).in_branch(b.id);
    let invoice = Resource::new(ResourceKind::Invoice, tenant.id).in_branch(lahore.id);
    let foreign = Resource::new(ResourceKind::Client, TenantId::new());
    let cases: [(&User, Action, Resource, &str); 8] = [
        (
            &sales,
            Action::Create,
            booking_in(&lahore),
            "sales creates a booking in her branch",
        ),
        (
            &sales,
            Action::Read,
            booking_in(&jeddah),
            "sales reads a booking in another branch",
        ),
        (
            &sales,
            Action::Cancel,
            booking_in(&lahore),
            "sales cancels a booking",
        ),
        (
            &finance,
            Action::Update,
            booking_in(&lahore),
            "finance edits a booking",
        ),
        (&admin, Action::Create, invoice, "admin issues an invoice"),
        (
            &finance,
            Action::Create,
            invoice,
            "finance issues an invoice",
        ),
        (
            &owner,
            Action::Delete,
            booking_in(&jeddah),
            "owner deletes a confirmed booking",
        ),
        (
            &owner,
            Action::Read,
            foreign,
            "owner reads another agency's client",
        ),
    ];
    println!("\nPolicy decisions:");
    for (who, action, resource, what) in cases {
        let decision = authorize(&who.principal(), action, &resource);
        let shown = match decision {
            Decision::Allow => "allow".to_owned(),
            Decision::Deny(reason) => format!(
                "deny ({reason}) → caller sees: {}",
                reason.into_error(resource.kind)
            ),
            Decision::ConfirmationRequired(why) => format!("needs confirmation ({why:?})"),
        };
        println!("  {what:<42} {shown}");
    }

    // --- Money: exact, per currency ------------------------------------------
    let cost = Money::parse("3250.75", Currency::SAR)?;
    let price = Money::parse("245000", Currency::PKR)?;
    let fils = Money::parse("12.345", Currency::parse("KWD")?)?;
    println!("\nMoney: supplier cost {cost}, client price {price}, {fils}");
    match cost.checked_add(price) {
        Ok(sum) => println!("  unexpected sum {sum}"),
        Err(e) => println!("  adding SAR to PKR is refused: {e}"),
    }

    // --- Passwords: policy, argon2id, legacy upgrade -------------------------
    println!("\nPasswords:");
    for candidate in [
        "alnoor26",
        "password123456",
        "sales-alnoor-password",
        "Zamzam-Mina-Arafat-1447",
    ] {
        let verdict =
            match check_password_policy(&Secret::from(candidate), &sales.email, &sales.name) {
                Ok(()) => "accepted".to_owned(),
                Err(e) => format!("refused: {e}"),
            };
        println!("  {candidate:<26} {verdict}");
    }
    let hasher = PasswordHasher::owasp();
    let password = Secret::from("Zamzam-Mina-Arafat-1447");
    let hash = hasher.hash(&password, &OsRandom)?;
    println!(
        "  stored as {}…",
        &hash[..hash.find("$v=").map_or(10, |i| i + 5)]
    );
    println!("  right password: {:?}", hasher.verify(&password, &hash)?);
    println!(
        "  wrong password: {:?}",
        hasher.verify(&Secret::from("guess"), &hash)?
    );

    // --- Secrets at rest: sealed to their tenant, row and field ---------------
    // In production the ring comes from TMS_KEYRING or a key file (KeyRing::from_env / from_file).
    let ring = KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose())?;
    let at = |field| SealContext {
        tenant_id: tenant.id,
        table: "mail_connections",
        row: owner.id.as_uuid(),
        field,
    };
    let sealed = ring.seal(
        b"smtp-password-of-the-agency",
        &at("smtp_password"),
        &OsRandom,
    )?;
    println!("\nKey ring {ring:?} sealed a secret into {sealed:?}");
    println!(
        "  opened in place: {}",
        ring.open_string(&sealed, &at("smtp_password")).is_ok()
    );
    println!(
        "  moved to another field: {}",
        match ring.open(&sealed, &at("oauth_token")) {
            Ok(_) => "opened (wrong!)".to_owned(),
            Err(e) => format!("refused: {e}"),
        }
    );

    // --- Audit chain: stored, verified, tamper-evident ---------------------
    let mut uow = deps.store.begin().await?;
    let mut exported = Vec::new();
    let events = export_jsonl(uow.audit(), tenant.id, &mut exported).await?;
    println!(
        "\nAudit log of {}: {events} events, chain {:?}",
        tenant.slug,
        verify_chain(uow.audit(), tenant.id).await?
    );
    if let Some(line) = String::from_utf8_lossy(&exported).lines().nth(2) {
        println!(
            "  one exported line: {}…",
            &line[..line.char_indices().nth(160).map_or(line.len(), |(i, _)| i)]
        );
    }
    drop(uow);

    // The chain catches any edit: change one event and it no longer verifies.
    let job = Context::new(Principal::system(tenant.id, "demo"), now);
    let first = NewAuditEvent::new(&job, "demo.first", "demo", None).chain(1, GENESIS);
    let mut second = NewAuditEvent::new(&job, "demo.second", "demo", None)
        .with_change(
            None,
            Some(json!({ "password": "never stored in the clear" })),
        )
        .chain(2, first.hash);
    println!(
        "  secrets in before/after are redacted: {}",
        second.event.after.clone().unwrap_or_default()
    );
    let mut verifier = ChainVerifier::new();
    println!(
        "  a fresh chain verifies: {:?}",
        verifier.push(&first).and_then(|()| verifier.push(&second))
    );
    second.event.action = "demo.edited".into();
    let mut verifier = ChainVerifier::new();
    println!(
        "  after editing event 2: {:?}",
        verifier.push(&first).and_then(|()| verifier.push(&second))
    );
    Ok(())
}
