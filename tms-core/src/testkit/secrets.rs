//! Contract cases of the [`SecretsRepo`](crate::ports::SecretsRepo) port
//! and of key rotation over it ([`crate::service::keys::rotate`]).

use std::collections::HashSet;
use std::sync::Arc;

use crate::domain::{BranchScope, User};
use crate::ports::{OsRandom, SealedLocation, SealedValue, Store};
use crate::security::keyring::{KeyRing, SealContext, Sealed};
use crate::service::keys::rotate;
use crate::service::tenancy::Deps;

use super::seed_tenant;

/// Every sealed value of `store`, read `limit` at a time.
async fn all_sealed(store: &dyn Store, limit: u32) -> Vec<SealedValue> {
    let mut uow = store.begin().await.expect("begin");
    let mut out: Vec<SealedValue> = Vec::new();
    loop {
        let after = out.last().map(|v| v.location.clone());
        let page = uow
            .secrets()
            .sealed_page(after.as_ref(), limit)
            .await
            .expect("page");
        let done = page.len() < limit as usize;
        out.extend(page);
        if done {
            break;
        }
    }
    uow.rollback().await.expect("rollback");
    out
}

fn totp_context(user: &User) -> SealContext<'static> {
    SealContext {
        tenant_id: user.tenant_id,
        table: "users",
        row: user.id.as_uuid(),
        field: "totp_secret",
    }
}

/// Stores a user of a fresh tenant whose active and pending TOTP secrets
/// are `active` and `pending`, and a tenant secret `smtp_password`.
async fn seed_sealed(
    store: &dyn Store,
    seal: impl Fn(&User, &[u8]) -> Sealed,
    tenant_secret: impl Fn(crate::id::TenantId) -> Sealed,
) -> User {
    let tenant = seed_tenant(store).await;
    let mut user = super::new_user(tenant.id, BranchScope::All);
    user.two_factor.totp_secret = Some(seal(&user, b"active totp secret"));
    user.two_factor.totp_pending = Some(seal(&user, b"pending totp secret"));
    let mut uow = store.begin().await.expect("begin");
    uow.users().insert(&user).await.expect("insert user");
    uow.settings()
        .put_secret(tenant.id, "smtp_password", &tenant_secret(tenant.id))
        .await
        .expect("put secret");
    uow.commit().await.expect("commit");
    user
}

/// Sealed values of every tenant page through in one fixed order, each
/// once, with the context they were sealed for; a replacement happens only
/// over the value that was read.
pub async fn sealed_values_page_through_every_tenant_and_are_replaced_once(store: Arc<dyn Store>) {
    let fake = |user: &User, tag: &[u8]| {
        let mut bytes = vec![1, 0, 0, 0, 1];
        bytes.extend_from_slice(user.id.as_uuid().as_bytes());
        bytes.extend_from_slice(tag);
        Sealed::from_bytes(bytes)
    };
    let secret = |tenant: crate::id::TenantId| {
        let mut bytes = vec![1, 0, 0, 0, 1];
        bytes.extend_from_slice(tenant.as_uuid().as_bytes());
        Sealed::from_bytes(bytes)
    };
    let a = seed_sealed(&*store, fake, secret).await;
    let b = seed_sealed(&*store, fake, secret).await;
    // A user without second factors has nothing sealed.
    let tenant_c = seed_tenant(&*store).await;
    let mut uow = store.begin().await.expect("begin");
    uow.users()
        .insert(&super::new_user(tenant_c.id, BranchScope::All))
        .await
        .expect("insert");
    assert_eq!(uow.secrets().count_sealed().await.expect("count"), 6);
    uow.rollback().await.expect("rollback");

    let one_by_one = all_sealed(&*store, 1).await;
    let by_four = all_sealed(&*store, 4).await;
    assert_eq!(one_by_one, by_four, "the order is fixed");
    assert_eq!(one_by_one.len(), 6);
    let locations: HashSet<&SealedLocation> = one_by_one.iter().map(|v| &v.location).collect();
    assert_eq!(locations.len(), 6, "each value once");

    for user in [&a, &b] {
        let mine: Vec<&SealedValue> = one_by_one
            .iter()
            .filter(|v| v.location.tenant_id == user.tenant_id)
            .collect();
        assert_eq!(mine.len(), 3);
        let found = |sealed: &Sealed| {
            mine.iter()
                .find(|v| &v.sealed == sealed)
                .unwrap_or_else(|| panic!("{sealed:?} not listed"))
        };
        for sealed in [
            user.two_factor.totp_secret.as_ref().expect("active"),
            user.two_factor.totp_pending.as_ref().expect("pending"),
        ] {
            let value = found(sealed);
            assert_eq!(value.context(), totp_context(user));
            assert_eq!(value.index_field, None);
        }
        let value = found(&secret(user.tenant_id));
        assert_eq!(
            value.context(),
            SealContext {
                tenant_id: user.tenant_id,
                table: "tenant_secrets",
                row: user.tenant_id.as_uuid(),
                field: "smtp_password",
            }
        );
    }

    // Replace a's active secret: only over the value that was read.
    let value = one_by_one
        .iter()
        .find(|v| Some(&v.sealed) == a.two_factor.totp_secret.as_ref())
        .expect("listed");
    let new = Sealed::from_bytes(vec![1, 0, 0, 0, 2, 42]);
    let mut uow = store.begin().await.expect("begin");
    assert!(
        !uow.secrets()
            .replace_sealed(&value.location, &new, &new, None)
            .await
            .expect("replace"),
        "a value that changed since it was read is left alone"
    );
    assert!(
        uow.secrets()
            .replace_sealed(&value.location, &value.sealed, &new, None)
            .await
            .expect("replace")
    );
    let stored = uow
        .users()
        .get(a.tenant_id, a.id)
        .await
        .expect("get")
        .expect("user");
    assert_eq!(stored.two_factor.totp_secret, Some(new.clone()));
    assert_eq!(stored.two_factor.totp_pending, a.two_factor.totp_pending);
    let value = one_by_one
        .iter()
        .find(|v| v.location.tenant_id == b.tenant_id && v.seal_table == "tenant_secrets")
        .expect("listed");
    assert!(
        uow.secrets()
            .replace_sealed(&value.location, &value.sealed, &new, None)
            .await
            .expect("replace")
    );
    assert_eq!(
        uow.settings()
            .secret(b.tenant_id, "smtp_password")
            .await
            .expect("secret"),
        Some(new)
    );
    assert_eq!(
        uow.settings()
            .secret(a.tenant_id, "smtp_password")
            .await
            .expect("secret"),
        Some(secret(a.tenant_id))
    );
    uow.commit().await.expect("commit");
}

/// Rotation re-encrypts every value under the newest key (they still open,
/// for the same context), audits counts per tenant, and a second run finds
/// nothing left to do.
pub async fn key_rotation_reseals_every_value_once_and_resumes(store: Arc<dyn Store>) {
    let old_entry = KeyRing::generate_key(1, &OsRandom);
    let new_entry = KeyRing::generate_key(2, &OsRandom);
    let old = KeyRing::parse(old_entry.expose()).expect("ring");
    let both =
        KeyRing::parse(&format!("{}\n{}", old_entry.expose(), new_entry.expose())).expect("ring");
    let seal = |user: &User, plain: &[u8]| {
        old.seal(plain, &totp_context(user), &OsRandom)
            .expect("seal")
    };
    let secret = |tenant: crate::id::TenantId| {
        let context = SealContext {
            tenant_id: tenant,
            table: "tenant_secrets",
            row: tenant.as_uuid(),
            field: "smtp_password",
        };
        old.seal(b"smtp hunter2", &context, &OsRandom)
            .expect("seal")
    };
    let users = [
        seed_sealed(&*store, seal, secret).await,
        seed_sealed(&*store, seal, secret).await,
    ];
    let deps = Deps::new(store.clone());
    let mut reports = Vec::new();
    let done = rotate(&deps, &both, |p| reports.push(p))
        .await
        .expect("rotate");
    assert_eq!(done.total, 6);
    assert_eq!(done.seen, 6);
    assert_eq!(done.resealed, 6);
    assert_eq!(done.already_current, 0);
    assert_eq!(reports.first().map(|p| p.seen), Some(0));
    assert_eq!(reports.last(), Some(&done));

    for value in all_sealed(&*store, 100).await {
        assert_eq!(value.sealed.key_id(), Some(2), "{:?}", value.location);
        let plain = both.open(&value.sealed, &value.context()).expect("opens");
        assert!(!plain.expose().is_empty());
        assert!(old.open(&value.sealed, &value.context()).is_err());
    }
    let mut uow = store.begin().await.expect("begin");
    for user in &users {
        let stored = uow
            .users()
            .get(user.tenant_id, user.id)
            .await
            .expect("get")
            .expect("user");
        let active = stored.two_factor.totp_secret.expect("active");
        assert_eq!(
            both.open(&active, &totp_context(user))
                .expect("opens")
                .expose()
                .as_slice(),
            b"active totp secret"
        );
        let events = uow
            .audit()
            .read(user.tenant_id, 0, 100)
            .await
            .expect("read");
        let rotated: Vec<_> = events
            .iter()
            .filter(|e| e.event.action == "keys.rotated")
            .collect();
        assert_eq!(rotated.len(), 1);
        let after = rotated[0].event.after.as_ref().expect("counts");
        assert_eq!(after["resealed"], 3);
        assert_eq!(after["resealed_under"], 2);
        assert!(!after.to_string().contains("hunter2"));
    }
    uow.rollback().await.expect("rollback");

    // Run again (an interrupted rotation is resumed this way): nothing to do.
    let again = rotate(&deps, &both, |_| {}).await.expect("rotate");
    assert_eq!(again.resealed, 0);
    assert_eq!(again.already_current, 6);
}
