use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{
    count_tenants, restart, spawn_app, spawn_app_on_postgres, spawn_keeping_printed_password,
};

#[tokio::test]
async fn first_run_creates_exactly_one_tenant_and_a_second_start_does_not() {
    let app = spawn_app().await;
    let password = app.printed_password.clone().expect("first run ran");
    assert!(password.len() >= 20);
    assert_eq!(count_tenants(app.data_dir.path(), None).await, 1);

    let app = restart(app).await;
    assert!(app.first_run_password.is_none());
    assert_eq!(count_tenants(app.data_dir.path(), None).await, 1);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn first_run_on_postgresql_happens_once_even_from_a_fresh_data_dir() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    assert!(app.first_run_password.is_some());
    let url = app.database_url.clone();
    assert_eq!(count_tenants(app.data_dir.path(), url.as_deref()).await, 1);

    // A second replica: same database, its own empty data directory.
    let mut app = app;
    app.stop().await;
    let crate::helpers::TestApp { pg, .. } = app;
    let replica = crate::helpers::spawn(
        crate::helpers::Db::Postgres(pg.expect("pg")),
        tempfile::tempdir().unwrap(),
        |_| {},
    )
    .await;
    assert!(replica.first_run_password.is_none());
    assert_eq!(
        count_tenants(replica.data_dir.path(), url.as_deref()).await,
        1
    );
}

#[tokio::test]
async fn first_run_can_be_switched_off() {
    let app = crate::helpers::spawn(
        crate::helpers::Db::Sqlite,
        tempfile::tempdir().unwrap(),
        |c| c.first_run = false,
    )
    .await;
    assert!(app.first_run_password.is_none());
    assert_eq!(count_tenants(app.data_dir.path(), None).await, 0);
}

async fn login(app: &crate::helpers::TestApp, password: &str) -> Value {
    let response = crate::helpers::http()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_printed_password_signs_in_to_a_session_that_must_change_it_first() {
    let app = spawn_keeping_printed_password().await;
    let printed = app.printed_password.clone().expect("first run ran");
    let body = login(&app, &printed).await;
    assert_eq!(body["password_change_required"], true, "{body}");
    assert_eq!(body["restricted"], true, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let client = crate::helpers::http();

    // Administration, and even second-factor enrolment, wait.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/users"),
        (reqwest::Method::GET, "/api/v1/branches"),
        (reqwest::Method::GET, "/api/v1/settings"),
        (reqwest::Method::POST, "/api/v1/auth/totp"),
    ] {
        let response = client
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "password-change-required", "{path}");
    }
    // Self-service stays open.
    let me: Value = client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["password_change_required"], true, "{me}");
    let sessions = client
        .get(app.url("/api/v1/auth/sessions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(sessions.status(), StatusCode::OK);

    let new = "saffron meadow compass 6093";
    let response = client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(&token)
        .json(&json!({ "current": printed, "new": new }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // The same session is now a full one.
    let response = client
        .get(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["password_change_required"], false, "{me}");
    assert_eq!(me["restricted"], false, "{me}");

    // And the next login is unrestricted from the start.
    let body = login(&app, new).await;
    assert_eq!(body["password_change_required"], false, "{body}");
    assert_eq!(body["restricted"], false, "{body}");

    // The change is audited, saying the handed-out password was replaced.
    let events = crate::helpers::audit_actions(&app, DEMO_SLUG).await;
    let changed = events
        .iter()
        .find(|(action, _)| action == "auth.password.changed")
        .expect("auth.password.changed");
    assert_eq!(changed.1["first_login_change"], true, "{events:?}");
}
