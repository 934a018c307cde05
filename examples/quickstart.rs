//! TMS in one file: provision an agency in memory, then watch the policy
//! engine, money, passwords, sealed secrets and the audit chain at work.
//!
//! Run it with `cargo run --example quickstart`.

use chrono::Utc;
use serde_json::json;
use tms::audit::{ChainVerifier, GENESIS, NewAuditEvent};
use tms::domain::{
    Branch, BranchScope, Context, Email, Name, Role, Tenant, TenantSlug, TwoFactor, User,
};
use tms::id::{BranchId, TenantId, UserId};
use tms::money::{Currency, Money};
use tms::policy::{Action, Decision, Resource, ResourceKind, authorize};
use tms::ports::OsRandom;
use tms::security::keyring::{KeyRing, SealContext};
use tms::security::password::{PasswordHasher, check_password_policy};
use tms::security::secret::Secret;

fn main() -> tms::Result<()> {
    let now = Utc::now();

    // --- An agency with two offices and four staff --------------------------
    let tenant = Tenant {
        id: TenantId::new(),
        slug: TenantSlug::parse("al-noor-travel")?,
        name: Name::parse("النور للسياحة والسفر")?,
        base_currency: Currency::SAR,
        created_at: now,
        version: 1,
    };
    let branch = |name: &str| -> tms::Result<Branch> {
        Ok(Branch {
            id: BranchId::new(),
            tenant_id: tenant.id,
            name: Name::parse(name)?,
            created_at: now,
            closed_at: None,
            version: 1,
        })
    };
    let (jeddah, lahore) = (branch("Jeddah")?, branch("لاہور")?);
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
            disabled_at: None,
            created_at: now,
            version: 1,
        })
    };
    let owner = user(
        "owner@alnoor.example",
        "عبد الله",
        Role::TenantSuperAdmin,
        BranchScope::All,
    )?;
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
    println!(
        "Tenant {} ({}) with branches {} and {}",
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

    // --- Audit chain -----------------------------------------------------------
    let ctx = Context::new(owner.principal(), now);
    let first = NewAuditEvent::new(&ctx, "tenant.created", "tenant", Some(tenant.id.as_uuid()))
        .chain(1, GENESIS);
    let mut second = NewAuditEvent::new(&ctx, "user.created", "user", Some(sales.id.as_uuid()))
        .with_change(
            None,
            Some(
                json!({"email": sales.email, "role": sales.role, "password": "never stored here"}),
            ),
        )
        .chain(2, first.hash);
    println!(
        "\nAudit: {} → {}, after = {}",
        first.event.action,
        second.event.action,
        second.event.after.clone().unwrap_or_default()
    );
    let mut verifier = ChainVerifier::new();
    println!(
        "  chain verifies: {:?}",
        verifier.push(&first).and_then(|()| verifier.push(&second))
    );
    second.event.action = "user.deleted".into();
    let mut verifier = ChainVerifier::new();
    println!(
        "  after editing event 2: {:?}",
        verifier.push(&first).and_then(|()| verifier.push(&second))
    );
    Ok(())
}
