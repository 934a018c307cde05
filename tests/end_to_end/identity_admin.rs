//! User, branch and settings administration: invitations, critical access
//! changes with confirmation, the Admin's limits, tenant isolation.

use tms::Error;
use tms::domain::{Context, Name, Role, User};
use tms::policy::DenyReason;
use tms::ports::PageRequest;
use tms::security::secret::Secret;
use tms::service::identity::users::{AccessChange, Invite, InviteRequest};

use crate::identity_support::{World, caller, other_tenant, token_in, world};

const STAFF_PASSWORD: &str = "Madinah-Quba-Uhud-Bus-9";

async fn invite(
    w: &World,
    ctx: &Context,
    email: &str,
    role: &str,
    branches: Option<Vec<tms::id::BranchId>>,
) -> Result<User, Error> {
    w.identity
        .invite_user(
            ctx,
            Invite::parse(InviteRequest {
                email: email.into(),
                name: "Staff Member".into(),
                role: role.into(),
                branches,
            })
            .unwrap(),
        )
        .await
}

/// Invites, accepts the invitation from the outbox mail, signs in.
async fn staff(
    w: &World,
    ctx: &Context,
    email: &str,
    role: &str,
    branches: Option<Vec<tms::id::BranchId>>,
) -> (User, Context) {
    let user = invite(w, ctx, email, role, branches).await.unwrap();
    let mail = w
        .outbox(w.tenant.id)
        .await
        .into_iter()
        .rfind(|m| m.recipient() == email)
        .unwrap();
    let token = token_in(&mail.as_email().unwrap().body_text);
    w.identity
        .accept_invitation(
            w.tenant.slug.as_str(),
            &token,
            &Secret::from(STAFF_PASSWORD),
            &caller(),
        )
        .await
        .unwrap();
    let signed = w.login_ok(email, STAFF_PASSWORD).await;
    let ctx = w.auth(&signed).await.unwrap().context().unwrap();
    (user, ctx)
}

async fn owner_ctx(w: &World) -> Context {
    w.owner_session().await.1.context().unwrap()
}

#[tokio::test]
async fn an_invited_user_sets_a_password_once_and_cannot_sign_in_before() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let user = invite(
        &w,
        &owner,
        "sara@alnoor.example",
        "sales",
        Some(vec![w.branch.id]),
    )
    .await
    .unwrap();
    assert!(user.password_hash.is_none());
    assert!(matches!(
        w.login("sara@alnoor.example", STAFF_PASSWORD).await,
        Err(Error::Unauthenticated)
    ));
    let token = token_in(
        &w.outbox(w.tenant.id)
            .await
            .pop()
            .unwrap()
            .as_email()
            .unwrap()
            .body_text,
    );
    let slug = w.tenant.slug.as_str();
    w.identity
        .accept_invitation(slug, &token, &Secret::from(STAFF_PASSWORD), &caller())
        .await
        .unwrap();
    assert!(matches!(
        w.identity
            .accept_invitation(slug, &token, &Secret::from(STAFF_PASSWORD), &caller())
            .await,
        Err(Error::Invalid(_))
    ));
    w.login_ok("sara@alnoor.example", STAFF_PASSWORD).await;
    assert!(matches!(
        invite(&w, &owner, "sara@alnoor.example", "sales", None).await,
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test]
async fn a_role_change_needs_a_confirmation_token_that_works_once() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let (sales, _) = staff(
        &w,
        &owner,
        "sara@alnoor.example",
        "sales",
        Some(vec![w.branch.id]),
    )
    .await;
    let change = || AccessChange {
        role: Some(Role::Finance),
        scope: None,
    };
    let first = w
        .identity
        .change_access(&owner, sales.id, change(), None)
        .await;
    let Err(Error::ConfirmationRequired { token, .. }) = first else {
        panic!("expected a confirmation request, got {first:?}");
    };
    assert_eq!(
        w.user(sales.id).await.role,
        Role::Sales,
        "nothing changed yet"
    );
    let changed = w
        .identity
        .change_access(&owner, sales.id, change(), Some(&token))
        .await
        .unwrap();
    assert_eq!(changed.role, Role::Finance);
    assert_eq!(w.user(sales.id).await.role, Role::Finance);
    assert!(matches!(
        w.identity
            .change_access(&owner, sales.id, change(), Some(&token))
            .await,
        Err(Error::Invalid(_))
    ));
    // The token is bound to its resource: it does not work for another user.
    let (other, _) = staff(
        &w,
        &owner,
        "omar@alnoor.example",
        "umrah",
        Some(vec![w.branch.id]),
    )
    .await;
    let Err(Error::ConfirmationRequired { token, .. }) = w
        .identity
        .change_access(&owner, other.id, change(), None)
        .await
    else {
        panic!()
    };
    assert!(
        w.identity
            .change_access(&owner, sales.id, change(), Some(&token))
            .await
            .is_err()
    );
    let events = w.audit().await;
    let event = events
        .iter()
        .find(|e| e.event.action == "user.access_changed")
        .unwrap();
    assert_eq!(event.event.before.as_ref().unwrap()["role"], "sales");
    assert_eq!(event.event.after.as_ref().unwrap()["role"], "finance");
}

#[tokio::test]
async fn an_admin_cannot_promote_to_or_manage_a_super_admin_nor_grant_every_branch() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let (_, admin) = staff(&w, &owner, "admin@alnoor.example", "admin", None).await;
    let (sales, _) = staff(
        &w,
        &owner,
        "sara@alnoor.example",
        "sales",
        Some(vec![w.branch.id]),
    )
    .await;
    let promote = AccessChange {
        role: Some(Role::TenantSuperAdmin),
        scope: None,
    };
    assert!(matches!(
        w.identity
            .change_access(&admin, sales.id, promote, None)
            .await,
        Err(Error::Forbidden {
            reason: DenyReason::AdminCannotManageSuperAdmin
        })
    ));
    let demote = AccessChange {
        role: Some(Role::Sales),
        scope: None,
    };
    assert!(matches!(
        w.identity
            .change_access(&admin, w.owner.id, demote, None)
            .await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        w.identity.reset_two_factor(&admin, w.owner.id, None).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        w.identity.set_user_disabled(&admin, w.owner.id, true).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        invite(
            &w,
            &admin,
            "boss@alnoor.example",
            "tenant_super_admin",
            None
        )
        .await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        invite(&w, &admin, "wide@alnoor.example", "sales", None).await,
        Err(Error::Forbidden { .. })
    ));
    // Within their rights an Admin acts, with confirmation for the critical part.
    let to_umrah = || AccessChange {
        role: Some(Role::Umrah),
        scope: None,
    };
    let Err(Error::ConfirmationRequired { token, .. }) = w
        .identity
        .change_access(&admin, sales.id, to_umrah(), None)
        .await
    else {
        panic!()
    };
    w.identity
        .change_access(&admin, sales.id, to_umrah(), Some(&token))
        .await
        .unwrap();
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_nobody_disables_themselves() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let (sales, _) = staff(
        &w,
        &owner,
        "sara@alnoor.example",
        "sales",
        Some(vec![w.branch.id]),
    )
    .await;
    let signed = w.login_ok("sara@alnoor.example", STAFF_PASSWORD).await;
    w.identity
        .set_user_disabled(&owner, sales.id, true)
        .await
        .unwrap();
    assert!(matches!(w.auth(&signed).await, Err(Error::Unauthenticated)));
    assert!(matches!(
        w.login("sara@alnoor.example", STAFF_PASSWORD).await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(
        w.identity.set_user_disabled(&owner, w.owner.id, true).await,
        Err(Error::Conflict { .. })
    ));
    w.identity
        .set_user_disabled(&owner, sales.id, false)
        .await
        .unwrap();
    w.login_ok("sara@alnoor.example", STAFF_PASSWORD).await;
}

#[tokio::test]
async fn resetting_another_users_2fa_is_critical() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let (admin_user, _) = staff(&w, &owner, "admin@alnoor.example", "admin", None).await;
    let mut stored = w.user(admin_user.id).await;
    stored.two_factor.email_otp = true;
    w.save_user(&mut stored).await;
    let Err(Error::ConfirmationRequired { token, .. }) = w
        .identity
        .reset_two_factor(&owner, admin_user.id, None)
        .await
    else {
        panic!()
    };
    let reset = w
        .identity
        .reset_two_factor(&owner, admin_user.id, Some(&token))
        .await
        .unwrap();
    assert!(!reset.two_factor.is_enabled());
    // One's own second factor never goes through the admin path.
    assert!(matches!(
        w.identity.reset_two_factor(&owner, w.owner.id, None).await,
        Err(Error::Conflict { .. })
    ));
}

#[tokio::test]
async fn another_tenants_users_and_branches_are_not_found_and_sales_cannot_administer() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let other = other_tenant(&w, "al-huda").await;
    let foreign = other.owner.id;
    assert!(matches!(
        w.identity.get_user(&owner, foreign).await,
        Err(Error::NotFound { what: "user" })
    ));
    assert!(matches!(
        w.identity
            .change_access(&owner, foreign, AccessChange::default(), None)
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        w.identity.set_user_disabled(&owner, foreign, true).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        w.identity.reset_two_factor(&owner, foreign, None).await,
        Err(Error::NotFound { .. })
    ));
    let name = Name::parse("Riyadh").unwrap();
    assert!(matches!(
        w.identity
            .rename_branch(&owner, other.branch.id, name.clone())
            .await,
        Err(Error::NotFound { what: "branch" })
    ));
    assert!(matches!(
        w.identity.close_branch(&owner, other.branch.id).await,
        Err(Error::NotFound { .. })
    ));
    let users = w
        .identity
        .list_users(&owner, PageRequest::first())
        .await
        .unwrap();
    assert!(users.items.iter().all(|u| u.tenant_id == w.tenant.id));

    let (_, sales) = staff(
        &w,
        &owner,
        "sara@alnoor.example",
        "sales",
        Some(vec![w.branch.id]),
    )
    .await;
    assert!(matches!(
        w.identity.list_users(&sales, PageRequest::first()).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        w.identity.get_user(&sales, foreign).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        w.identity.create_branch(&sales, name).await,
        Err(Error::Forbidden { .. })
    ));
}

#[tokio::test]
async fn branches_open_rename_and_close_with_an_audit_trail() {
    let w = world().await;
    let owner = owner_ctx(&w).await;
    let branch = w
        .identity
        .create_branch(&owner, Name::parse("Makkah").unwrap())
        .await
        .unwrap();
    let renamed = w
        .identity
        .rename_branch(
            &owner,
            branch.id,
            Name::parse("Makkah Al-Aziziyah").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Makkah Al-Aziziyah");
    let closed = w.identity.close_branch(&owner, branch.id).await.unwrap();
    assert!(!closed.is_open());
    assert!(matches!(
        w.identity.close_branch(&owner, branch.id).await,
        Err(Error::Conflict { .. })
    ));
    // A closed branch cannot be given to a user.
    assert!(matches!(
        invite(
            &w,
            &owner,
            "late@alnoor.example",
            "sales",
            Some(vec![branch.id])
        )
        .await,
        Err(Error::Invalid(_))
    ));
    let listed = w
        .identity
        .list_branches(&owner, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    let actions: Vec<_> = w
        .audit()
        .await
        .into_iter()
        .map(|e| e.event.action)
        .collect();
    for expected in ["branch.created", "branch.renamed", "branch.closed"] {
        assert!(actions.iter().any(|a| a == expected), "{expected}");
    }
}
