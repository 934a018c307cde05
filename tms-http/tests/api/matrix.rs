//! The authorization matrix over HTTP for users, branches and tenant
//! settings: every role × every endpoint, plus another tenant's ids and
//! out-of-scope branch ids. The expected status is *computed* from the
//! policy (`tms_core::policy::authorize`) by replaying the checks each
//! service makes, in its order — a policy denial is 403 (404 when it hides
//! existence), a record that is not the caller's to see is 404, a critical
//! action is 428, anything else the endpoint's success status.
//!
//! One server per backend; the users are written straight into its store
//! (one login each), so the whole matrix takes a second or two.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Principal, Role, User};
use tms_core::id::{BranchId, TenantId, UserId};
use tms_core::policy::{Action, Decision, Resource, ResourceKind, authorize};
use tms_core::ports::Store as _;
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{
    OWNER_PASSWORD, STAFF_PASSWORD, TestApp, spawn_app, spawn_app_on_postgres, staff_hash,
    staff_user, tenant_id,
};

/// One check a service makes, in order.
enum Step {
    /// The policy on this resource.
    Policy(Action, Resource),
    /// The record is the caller's to see (of their tenant, in their scope).
    Visible(bool),
}

/// The status the steps lead to for `principal`.
fn expected(principal: &Principal, steps: &[Step], success: StatusCode) -> StatusCode {
    let mut confirm = false;
    for step in steps {
        match step {
            Step::Policy(action, resource) => match authorize(principal, *action, resource) {
                Decision::Allow => {}
                Decision::ConfirmationRequired(_) => confirm = true,
                Decision::Deny(reason) if reason.hides_existence() => {
                    return StatusCode::NOT_FOUND;
                }
                Decision::Deny(_) => return StatusCode::FORBIDDEN,
            },
            Step::Visible(false) => return StatusCode::NOT_FOUND,
            Step::Visible(true) => {}
        }
    }
    if confirm {
        StatusCode::PRECONDITION_REQUIRED
    } else {
        success
    }
}

/// A signed-in user of the matrix.
struct Caller {
    user: User,
    token: String,
    /// A branch only this caller sees (besides the head office), for the
    /// close endpoint.
    own_branch: BranchId,
}

/// The fixture: the demo tenant's users and branches, and another tenant.
struct World {
    tenant: TenantId,
    head_office: BranchId,
    /// A branch no scoped caller sees.
    outside: BranchId,
    callers: Vec<Caller>,
    /// Targets of the user endpoints: a Sales user and a second Tenant
    /// Super Admin, neither of them a caller.
    targets: Vec<User>,
    other_user: UserId,
    other_branch: BranchId,
}

fn new_user(tenant: TenantId, role: Role, scope: BranchScope, hash: &str, tag: &str) -> User {
    staff_user(tenant, role, scope, &format!("{tag}@demo.example"), hash)
}

async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let response = crate::helpers::http()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "login {email}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["restricted"], false, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn create_branch(app: &TestApp, token: &str, name: &str) -> BranchId {
    let response = crate::helpers::http()
        .post(app.url("/api/v1/branches"))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn world(app: &TestApp) -> World {
    let tenant = tenant_id(app, DEMO_SLUG).await;
    let owner_token = login(app, DEMO_EMAIL, OWNER_PASSWORD).await;
    let branches: Value = crate::helpers::http()
        .get(app.url("/api/v1/branches"))
        .bearer_auth(&owner_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let head_office: BranchId = branches["items"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let outside = create_branch(app, &owner_token, "Outside").await;

    let hash = staff_hash();
    let mut planned = Vec::new();
    for role in Role::ALL {
        let own_branch = create_branch(app, &owner_token, &format!("Own {role:?}")).await;
        // The Super Admin sees every branch; everyone else the head office
        // and their own.
        let scope = if role == Role::TenantSuperAdmin {
            BranchScope::All
        } else {
            BranchScope::only([head_office, own_branch])
        };
        let tag = format!("caller-{}", role.as_str().replace('_', "-"));
        planned.push((new_user(tenant, role, scope, &hash, &tag), own_branch));
    }
    let targets = vec![
        new_user(
            tenant,
            Role::Sales,
            BranchScope::only([head_office]),
            &hash,
            "target-sales",
        ),
        new_user(
            tenant,
            Role::TenantSuperAdmin,
            BranchScope::All,
            &hash,
            "target-super",
        ),
    ];
    let mut uow = app.store.begin().await.unwrap();
    for user in planned.iter().map(|(u, _)| u).chain(&targets) {
        uow.users().insert(user).await.unwrap();
    }
    uow.commit().await.unwrap();
    let mut callers = Vec::new();
    for (user, own_branch) in planned {
        let token = login(app, user.email.as_str(), STAFF_PASSWORD).await;
        callers.push(Caller {
            user,
            token,
            own_branch,
        });
    }

    let other = crate::helpers::other_tenant(app, "matrix-other").await;
    World {
        tenant,
        head_office,
        outside,
        callers,
        targets,
        other_user: other.owner.id,
        other_branch: other.branch.id,
    }
}

/// One request of the matrix and the checks its service makes.
struct Case {
    name: String,
    method: Method,
    path: String,
    body: Option<Value>,
    steps: Vec<Step>,
    success: StatusCode,
}

fn cases(world: &World, caller: &Caller, serial: usize) -> Vec<Case> {
    let tenant = world.tenant;
    let principal = caller.user.principal();
    let any_user = || Resource::new(ResourceKind::User, tenant);
    let mut cases = vec![
        Case {
            name: "list users".into(),
            method: Method::GET,
            path: "/api/v1/users".into(),
            body: None,
            steps: vec![Step::Policy(Action::Read, any_user())],
            success: StatusCode::OK,
        },
        Case {
            name: "invite a sales agent".into(),
            method: Method::POST,
            path: "/api/v1/users".into(),
            body: Some(json!({
                "email": format!("invited-{serial}@demo.example"),
                "name": "Invited",
                "role": "sales",
                "branches": [world.head_office],
            })),
            steps: vec![Step::Policy(
                Action::Create,
                any_user()
                    .with_subject_role(Role::Sales)
                    .granting_role(Role::Sales),
            )],
            success: StatusCode::CREATED,
        },
        Case {
            name: "list branches".into(),
            method: Method::GET,
            path: "/api/v1/branches".into(),
            body: None,
            steps: vec![Step::Policy(
                Action::Read,
                Resource::new(ResourceKind::Branch, tenant),
            )],
            success: StatusCode::OK,
        },
        Case {
            name: "create a branch".into(),
            method: Method::POST,
            path: "/api/v1/branches".into(),
            body: Some(json!({ "name": format!("New {serial}") })),
            steps: vec![Step::Policy(
                Action::Create,
                Resource::new(ResourceKind::Branch, tenant),
            )],
            success: StatusCode::CREATED,
        },
        Case {
            name: "read the settings".into(),
            method: Method::GET,
            path: "/api/v1/settings".into(),
            body: None,
            steps: vec![Step::Policy(
                Action::Read,
                Resource::new(ResourceKind::TenantSettings, tenant),
            )],
            success: StatusCode::OK,
        },
        Case {
            name: "change the settings".into(),
            method: Method::PATCH,
            path: "/api/v1/settings".into(),
            body: Some(json!({ "session_idle_minutes": 30 })),
            steps: vec![Step::Policy(
                Action::Update,
                Resource::new(ResourceKind::TenantSettings, tenant),
            )],
            success: StatusCode::OK,
        },
    ];

    // The user endpoints, on each target of this tenant and on another
    // tenant's user (never found: looked up in the caller's tenant).
    let mut targets: Vec<(String, uuid::Uuid, Option<Role>)> = world
        .targets
        .iter()
        .map(|t| (format!("{:?}", t.role), t.id.as_uuid(), Some(t.role)))
        .collect();
    targets.push((
        "another tenant's user".into(),
        world.other_user.as_uuid(),
        None,
    ));
    for (label, id, role) in targets {
        let found = role.is_some();
        let subject = |r: Option<Role>| {
            let resource = any_user().with_id(id);
            match r {
                Some(r) => resource.with_subject_role(r),
                None => resource,
            }
        };
        let load = || vec![Step::Policy(Action::Read, any_user()), Step::Visible(found)];
        let then = |action: Action, resource: Resource| {
            let mut steps = load();
            steps.push(Step::Policy(action, resource));
            steps
        };
        cases.push(Case {
            name: format!("read {label}"),
            method: Method::GET,
            path: format!("/api/v1/users/{id}"),
            body: None,
            steps: then(Action::Read, subject(role)),
            success: StatusCode::OK,
        });
        cases.push(Case {
            name: format!("change the access of {label}"),
            method: Method::PATCH,
            path: format!("/api/v1/users/{id}/access"),
            body: Some(json!({ "role": "sales" })),
            steps: then(
                Action::ChangeAccess,
                subject(role).granting_role(Role::Sales),
            ),
            success: StatusCode::OK,
        });
        for verb in ["disable", "enable"] {
            cases.push(Case {
                name: format!("{verb} {label}"),
                method: Method::POST,
                path: format!("/api/v1/users/{id}/{verb}"),
                body: None,
                steps: then(Action::Update, subject(role)),
                success: StatusCode::OK,
            });
        }
        cases.push(Case {
            name: format!("reset the second factors of {label}"),
            method: Method::POST,
            path: format!("/api/v1/users/{id}/reset-two-factor"),
            body: None,
            steps: then(Action::ResetTwoFactor, subject(role)),
            success: StatusCode::OK,
        });
    }

    // The branch endpoints: the head office (every caller's), the caller's
    // own branch (closed), a branch outside their scope, another tenant's.
    let branch_steps = |id: BranchId, visible: bool| {
        vec![
            Step::Policy(
                Action::Update,
                Resource::new(ResourceKind::Branch, tenant).with_id(id),
            ),
            Step::Visible(visible),
        ]
    };
    let sees = |id: BranchId| principal.sees_branch(id);
    for (label, id, visible) in [
        (
            "the head office",
            world.head_office,
            sees(world.head_office),
        ),
        (
            "a branch outside the scope",
            world.outside,
            sees(world.outside),
        ),
        ("another tenant's branch", world.other_branch, false),
    ] {
        cases.push(Case {
            name: format!("rename {label}"),
            method: Method::PATCH,
            path: format!("/api/v1/branches/{id}"),
            body: Some(json!({ "name": format!("Renamed {serial}") })),
            steps: branch_steps(id, visible),
            success: StatusCode::OK,
        });
    }
    for (label, id, visible) in [
        (
            "their own branch",
            caller.own_branch,
            sees(caller.own_branch),
        ),
        ("another tenant's branch", world.other_branch, false),
    ] {
        cases.push(Case {
            name: format!("close {label}"),
            method: Method::POST,
            path: format!("/api/v1/branches/{id}/close"),
            body: None,
            steps: branch_steps(id, visible),
            success: StatusCode::OK,
        });
    }
    cases
}

async fn run_matrix(app: &TestApp) {
    let world = world(app).await;
    let client = crate::helpers::http();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut seen = std::collections::BTreeSet::new();
    for (serial, caller) in world.callers.iter().enumerate() {
        let principal = caller.user.principal();
        for case in cases(&world, caller, serial) {
            let want = expected(&principal, &case.steps, case.success);
            let mut request = client
                .request(case.method.clone(), app.url(&case.path))
                .bearer_auth(&caller.token);
            if let Some(body) = &case.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let got = response.status();
            checked += 1;
            seen.insert(got.as_u16());
            if got != want {
                let body = response.text().await.unwrap_or_default();
                failures.push(format!(
                    "{:?} {} ({} {}): expected {want}, got {got}: {body}",
                    caller.user.role, case.name, case.method, case.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The matrix exercised every kind of answer.
    for status in [200, 201, 403, 404, 428] {
        assert!(seen.contains(&status), "no {status} in {seen:?}");
    }
    assert!(checked >= 5 * 20, "{checked}");
}

#[tokio::test]
async fn the_authorization_matrix_of_users_branches_and_settings_holds_over_http() {
    run_matrix(&spawn_app().await).await;
}

#[tokio::test]
async fn the_authorization_matrix_holds_over_http_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    run_matrix(&app).await;
}
