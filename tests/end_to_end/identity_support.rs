//! A tenant on an in-memory SQLite store with the identity service over it,
//! a fixed clock and cheap hashing.
#![allow(dead_code)] // shared by several test modules; each uses part of it

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};
use tms::Error;
use tms::audit::AuditEvent;
use tms::domain::{Branch, Tenant, User};
use tms::ports::{FixedClock, OutboxMessage, PageRequest, SeededRandom};
use tms::security::jwt::{JwtKey, SessionJwt};
use tms::security::keyring::{KeyRing, SealContext};
use tms::security::password::PasswordHasher;
use tms::security::secret::Secret;
use tms::security::totp::TotpSecret;
use tms::service::identity::{
    Authenticated, Caller, Identity, LoginOutcome, LoginRequest, SignedIn,
};
use tms::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms::sql::SqlStore;

pub const OWNER_PASSWORD: &str = "Zamzam-Mina-Arafat-1447";
pub const OWNER_EMAIL: &str = "owner@alnoor.example";

pub struct World {
    pub identity: Identity,
    pub clock: Arc<FixedClock>,
    pub keyring: Arc<KeyRing>,
    pub tenant: Tenant,
    pub branch: Branch,
    pub owner: User,
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

pub async fn world() -> World {
    world_with_slug("al-noor").await
}

pub async fn world_with_slug(slug: &str) -> World {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    let clock = Arc::new(FixedClock::new(start()));
    let deps = Deps {
        store: Arc::new(store),
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(7)),
        // Cheap parameters: these tests are about the flows, not hashing cost.
        hasher: PasswordHasher::with_params(1024, 1, 1).unwrap(),
    };
    provision_into(&deps, slug).await;
    world_over(deps, slug, clock).await
}

async fn provision_into(deps: &Deps, slug: &str) -> tms::service::tenancy::Provisioned {
    provision_tenant(
        deps,
        NewTenant::parse(NewTenantRequest {
            slug: slug.into(),
            name: "Al Noor Travel".into(),
            base_currency: "SAR".into(),
            first_branch: "Jeddah".into(),
            owner_email: OWNER_EMAIL.into(),
            owner_name: "Abdullah".into(),
            owner_password: Secret::from(OWNER_PASSWORD),
        })
        .unwrap(),
    )
    .await
    .unwrap()
}

async fn world_over(deps: Deps, slug: &str, clock: Arc<FixedClock>) -> World {
    let keyring =
        Arc::new(KeyRing::parse(KeyRing::generate_key(1, &tms::ports::OsRandom).expose()).unwrap());
    let (key, _) = JwtKey::generate(&tms::ports::OsRandom).unwrap();
    let mut uow = deps.store.begin().await.unwrap();
    let tenant = uow
        .tenants()
        .find_by_slug(&tms::domain::TenantSlug::parse(slug).unwrap())
        .await
        .unwrap()
        .unwrap();
    let owner = uow
        .users()
        .find_by_email(tenant.id, &tms::domain::Email::parse(OWNER_EMAIL).unwrap())
        .await
        .unwrap()
        .unwrap();
    let branch = uow
        .branches()
        .list(
            &tms::ports::Scope {
                tenant_id: tenant.id,
                branches: tms::domain::BranchScope::All,
            },
            PageRequest::first(),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    uow.rollback().await.unwrap();
    World {
        identity: Identity::new(deps, keyring.clone(), SessionJwt::new(key), "TMS"),
        clock,
        keyring,
        tenant,
        branch,
        owner,
    }
}

/// Another tenant in the same store.
pub async fn other_tenant(world: &World, slug: &str) -> tms::service::tenancy::Provisioned {
    provision_into(world.identity.deps(), slug).await
}

pub fn caller() -> Caller {
    Caller::from_ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))).with_user_agent("e2e-test/1.0")
}

pub fn request(tenant: &str, email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        tenant: tenant.into(),
        email: email.into(),
        password: Secret::from(password),
        otp: None,
    }
}

impl World {
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginOutcome, Error> {
        self.identity
            .login(
                request(self.tenant.slug.as_str(), email, password),
                &caller(),
            )
            .await
    }

    pub async fn login_ok(&self, email: &str, password: &str) -> SignedIn {
        match self.login(email, password).await.unwrap() {
            LoginOutcome::Session(s) => s,
            other => panic!("expected a session, got {other:?}"),
        }
    }

    pub async fn owner_session(&self) -> (SignedIn, Authenticated) {
        let signed = self.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
        let auth = self.auth(&signed).await.unwrap();
        (signed, auth)
    }

    pub async fn auth(&self, signed: &SignedIn) -> Result<Authenticated, Error> {
        self.identity
            .authenticate(signed.token.expose(), &caller())
            .await
    }

    pub async fn outbox(&self, tenant: tms::id::TenantId) -> Vec<OutboxMessage> {
        let mut uow = self.identity.deps().store.begin().await.unwrap();
        let page = uow
            .outbox()
            .list(tenant, PageRequest::new(Some(200), None).unwrap())
            .await
            .unwrap();
        uow.rollback().await.unwrap();
        page.items
    }

    pub async fn audit(&self) -> Vec<AuditEvent> {
        let mut uow = self.identity.deps().store.begin().await.unwrap();
        let events = uow.audit().read(self.tenant.id, 0, 10_000).await.unwrap();
        uow.rollback().await.unwrap();
        events
    }

    pub async fn user(&self, id: tms::id::UserId) -> User {
        let mut uow = self.identity.deps().store.begin().await.unwrap();
        let user = uow.users().get(self.tenant.id, id).await.unwrap().unwrap();
        uow.rollback().await.unwrap();
        user
    }

    pub async fn save_user(&self, user: &mut User) {
        let mut uow = self.identity.deps().store.begin().await.unwrap();
        uow.users().update(user).await.unwrap();
        uow.commit().await.unwrap();
    }

    /// The user's TOTP secret (active, else pending), opened with the ring.
    pub async fn totp_secret(&self, id: tms::id::UserId) -> TotpSecret {
        let user = self.user(id).await;
        let sealed = user
            .two_factor
            .totp_secret
            .or(user.two_factor.totp_pending)
            .unwrap();
        let context = SealContext {
            tenant_id: user.tenant_id,
            table: "users",
            row: id.as_uuid(),
            field: "totp_secret",
        };
        TotpSecret::from_bytes(self.keyring.open(&sealed, &context).unwrap().expose()).unwrap()
    }
}

/// The token after `token=` or `code: ` in a mail body.
pub fn token_in(body: &str) -> String {
    let start = body
        .find("code: ")
        .map(|i| i + "code: ".len())
        .or_else(|| body.find("token=").map(|i| i + "token=".len()))
        .unwrap();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
