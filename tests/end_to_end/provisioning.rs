//! Provisioning a tenant writes tenant, branch, owner and audit trail together.

use std::sync::Arc;

use tms::Error;
use tms::domain::{BranchScope, Role};
use tms::ports::{PageRequest, Scope, verify_chain};
use tms::security::secret::Secret;
use tms::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms::sql::SqlStore;

fn request(slug: &str) -> NewTenantRequest {
    NewTenantRequest {
        slug: slug.into(),
        name: "النور للسياحة".into(),
        base_currency: "SAR".into(),
        first_branch: "Jeddah".into(),
        owner_email: "Owner@AlNoor.example".into(),
        owner_name: "عبد الله".into(),
        owner_password: Secret::from("Zamzam-Mina-Arafat-1447"),
    }
}

async fn deps() -> Deps {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    let mut deps = Deps::new(Arc::new(store));
    // Cheap parameters: these tests are about provisioning, not hashing cost.
    deps.hasher = tms::security::password::PasswordHasher::with_params(1024, 1, 1).unwrap();
    deps
}

#[tokio::test]
async fn a_tenant_is_provisioned_with_its_branch_owner_and_audit_trail() {
    let deps = deps().await;
    let made = provision_tenant(&deps, NewTenant::parse(request("al-noor")).unwrap())
        .await
        .unwrap();

    let mut uow = deps.store.begin().await.unwrap();
    let tenant = uow.tenants().get(made.tenant.id).await.unwrap().unwrap();
    assert_eq!(tenant.name.as_str(), "النور للسياحة");
    let owner = uow
        .users()
        .find_by_email(tenant.id, &made.owner.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.email.as_str(), "owner@alnoor.example");
    assert_eq!(
        (owner.role, &owner.scope),
        (Role::TenantSuperAdmin, &BranchScope::All)
    );
    let stored_hash = owner.password_hash.clone().unwrap();
    assert!(
        deps.hasher
            .verify(&Secret::from("Zamzam-Mina-Arafat-1447"), &stored_hash)
            .unwrap()
            .is_valid()
    );
    let branches = uow
        .branches()
        .list(&Scope::of(&owner.principal()), PageRequest::first())
        .await
        .unwrap();
    assert_eq!(branches.items, vec![made.branch.clone()]);

    let status = verify_chain(uow.audit(), tenant.id).await.unwrap();
    assert!(status.is_intact(), "{status:?}");
    let events = uow.audit().read(tenant.id, 0, 10).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(
        actions,
        ["tenant.created", "branch.created", "user.created"]
    );
    assert!(
        events
            .iter()
            .all(|e| e.event.actor == "system:provisioning")
    );
    let after = events[2].event.after.clone().unwrap().to_string();
    assert!(
        !after.contains("argon2") && !after.contains("Zamzam"),
        "{after}"
    );
}

#[tokio::test]
async fn a_taken_slug_is_a_conflict_and_writes_nothing() {
    let deps = deps().await;
    let first = provision_tenant(&deps, NewTenant::parse(request("al-noor")).unwrap())
        .await
        .unwrap();
    let mut again = request("AL-NOOR");
    again.owner_email = "someone-else@example.com".into();
    let result = provision_tenant(&deps, NewTenant::parse(again).unwrap()).await;
    assert!(matches!(result, Err(Error::Conflict { .. })), "{result:?}");

    let mut uow = deps.store.begin().await.unwrap();
    let tenant = first.tenant.id;
    let someone = tms::domain::Email::parse("someone-else@example.com").unwrap();
    assert!(
        uow.users()
            .find_by_email(tenant, &someone)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(uow.audit().head(tenant).await.unwrap().0, 3);
}

#[test]
fn a_bad_request_lists_every_broken_rule() {
    let bad = NewTenantRequest {
        slug: "x".into(),
        name: " ".into(),
        base_currency: "XYZ".into(),
        first_branch: "Jeddah".into(),
        owner_email: "not-an-email".into(),
        owner_name: "Amina".into(),
        owner_password: Secret::from("short"),
    };
    let Err(Error::Invalid(errors)) = NewTenant::parse(bad) else {
        panic!("expected Invalid");
    };
    let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.as_ref()).collect();
    assert_eq!(fields, ["slug", "name", "base_currency", "owner_email"]);
    assert!(!errors.to_string().contains("short"));

    let mut weak = request("al-noor");
    weak.owner_password = Secret::from("owner1234567");
    let Err(Error::Invalid(errors)) = NewTenant::parse(weak) else {
        panic!("expected Invalid");
    };
    assert!(
        errors
            .as_slice()
            .iter()
            .all(|e| e.field == "owner_password")
    );
    assert!(errors.as_slice().len() >= 2, "{errors}");
}
