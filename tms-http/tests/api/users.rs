//! `/api/v1/users` and `/api/v1/branches`: tenant isolation, critical
//! confirmation, creation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::security::password::PasswordHasher;
use tms_core::security::secret::Secret;
use tms_core::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

fn client() -> reqwest::Client {
    crate::helpers::http()
}

/// The demo owner's bearer token.
async fn owner_token(app: &TestApp) -> String {
    let password = app.first_run_password.clone().unwrap();
    let response = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["restricted"], false, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A second tenant in the same store; its owner's id and its branch's id.
async fn other_tenant(app: &TestApp) -> (String, String) {
    let mut deps = Deps::new(app.store.clone().into_dyn());
    deps.hasher = PasswordHasher::with_params(8, 1, 1).unwrap();
    let request = NewTenant::parse(NewTenantRequest {
        slug: "other".into(),
        name: "Other Travel".into(),
        base_currency: "EUR".into(),
        first_branch: "Main".into(),
        owner_email: "owner@other.example".into(),
        owner_name: "Other Owner".into(),
        owner_password: Secret::new("quiet harbour lantern 9081".into()),
    })
    .unwrap();
    let provisioned = provision_tenant(&deps, request).await.unwrap();
    (
        provisioned.owner.id.to_string(),
        provisioned.branch.id.to_string(),
    )
}

/// Invites `agent@demo.example` as Sales; asserts 201 and returns the user.
async fn invite_agent(app: &TestApp, token: &str) -> Value {
    let response = client()
        .post(app.url("/api/v1/users"))
        .bearer_auth(token)
        .json(&json!({ "email": "agent@demo.example", "name": "Agent", "role": "sales" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn another_tenants_user_is_404_on_read_and_on_access_change() {
    let app = spawn_app().await;
    another_tenants_user_is_404(&app).await;
}

#[tokio::test]
async fn another_tenants_user_is_404_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    another_tenants_user_is_404(&app).await;
}

async fn another_tenants_user_is_404(app: &TestApp) {
    let token = owner_token(app).await;
    let (foreign, _) = other_tenant(app).await;

    let response = client()
        .get(app.url(&format!("/api/v1/users/{foreign}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "not-found");

    let response = client()
        .patch(app.url(&format!("/api/v1/users/{foreign}/access")))
        .bearer_auth(&token)
        .json(&json!({ "role": "sales" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    for action in ["disable", "enable", "reset-two-factor"] {
        let response = client()
            .post(app.url(&format!("/api/v1/users/{foreign}/{action}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }

    // The list holds only the caller's tenant.
    let list: Value = client()
        .get(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [DEMO_EMAIL]);
}

#[tokio::test]
async fn an_invited_users_access_change_needs_a_confirmation_token() {
    let app = spawn_app().await;
    let token = owner_token(&app).await;
    let user = invite_agent(&app, &token).await;
    assert!(user.get("password_hash").is_none());
    let id = user["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/api/v1/users/{id}/access"));

    let response = client()
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "confirmation-required");
    let confirmation = problem["confirmation_token"].as_str().unwrap().to_owned();

    let response = client()
        .patch(&url)
        .bearer_auth(&token)
        .header("Tms-Confirm", &confirmation)
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["role"], "admin");
}

#[tokio::test]
async fn branches_are_listed_and_created() {
    let app = spawn_app().await;
    let token = owner_token(&app).await;
    let response = client()
        .post(app.url("/api/v1/branches"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Airport desk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let list: Value = client()
        .get(app.url("/api/v1/branches"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Airport desk"), "{names:?}");
    assert!(names.contains(&"Head office"), "{names:?}");

    let response = client()
        .get(app.url("/api/v1/branches"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_user_list_pages_with_limit_and_next_cursor() {
    let app = spawn_app().await;
    let token = owner_token(&app).await;
    invite_agent(&app, &token).await;

    let first: Value = client()
        .get(app.url("/api/v1/users?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second: Value = client()
        .get(app.url(&format!("/api/v1/users?limit=1&cursor={cursor}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);

    let response = client()
        .get(app.url("/api/v1/users?limit=0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn when_the_tenant_requires_2fa_an_admin_without_one_gets_a_restricted_session() {
    let app = spawn_app().await;
    let token = owner_token(&app).await;
    let response = client()
        .patch(app.url("/api/v1/settings"))
        .bearer_auth(&token)
        .json(&json!({ "require_two_factor_for_admins": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let settings: Value = response.json().await.unwrap();
    assert_eq!(settings["require_two_factor_for_admins"], true);

    let password = app.first_run_password.clone().unwrap();
    let response = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["restricted"], true);
    let restricted = body["token"].as_str().unwrap();

    // Administration is closed; self-service stays open.
    let response = client()
        .get(app.url("/api/v1/users"))
        .bearer_auth(restricted)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let me: Value = client()
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(restricted)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["restricted"], true);
    let response = client()
        .post(app.url("/api/v1/auth/totp"))
        .bearer_auth(restricted)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_is_disabled_and_enabled_but_not_oneself() {
    let app = spawn_app().await;
    let token = owner_token(&app).await;
    let user = invite_agent(&app, &token).await;
    let id = user["id"].as_str().unwrap();
    let response = client()
        .post(app.url(&format!("/api/v1/users/{id}/disable")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let disabled: Value = response.json().await.unwrap();
    assert!(disabled["disabled_at"].is_string());
    let enabled: Value = client()
        .post(app.url(&format!("/api/v1/users/{id}/enable")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(enabled["disabled_at"].is_null());

    let me: Value = client()
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let my_id = me["user"]["id"].as_str().unwrap();
    let response = client()
        .post(app.url(&format!("/api/v1/users/{my_id}/disable")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_eq!(
        client()
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_branch_is_renamed_and_closed_and_another_tenants_branch_is_404() {
    let app = spawn_app().await;
    let token = owner_token(&app).await;
    let (_, foreign) = other_tenant(&app).await;
    let branch: Value = client()
        .post(app.url("/api/v1/branches"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Airport desk" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = branch["id"].as_str().unwrap();

    let response = client()
        .patch(app.url(&format!("/api/v1/branches/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "name": "Airport kiosk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["name"], "Airport kiosk");

    let response = client()
        .post(app.url(&format!("/api/v1/branches/{id}/close")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let closed: Value = response.json().await.unwrap();
    assert!(closed["closed_at"].is_string());

    let response = client()
        .patch(app.url(&format!("/api/v1/branches/{foreign}")))
        .bearer_auth(&token)
        .json(&json!({ "name": "Mine now" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = client()
        .post(app.url(&format!("/api/v1/branches/{foreign}/close")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
