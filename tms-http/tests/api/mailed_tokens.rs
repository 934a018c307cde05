//! The mailed single-use tokens, end to end: the test reads the token from
//! the outbox row the request wrote (as the mail would carry it), confirms
//! over HTTP, and signs in with the new password.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{OWNER_PASSWORD, TestApp, mailed_token, spawn_app, spawn_app_on_postgres};

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    crate::helpers::http()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn token_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    crate::helpers::http()
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    crate::helpers::http()
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn reset_by_the_mailed_token(app: &TestApp) {
    // Two sessions that the reset must end.
    let first = token_of(login(app, DEMO_EMAIL, OWNER_PASSWORD).await).await;
    let second = token_of(login(app, DEMO_EMAIL, OWNER_PASSWORD).await).await;

    let response = post(
        app,
        "/api/v1/auth/password-reset",
        json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let token = mailed_token(app, DEMO_SLUG, DEMO_EMAIL, "reset your password").await;
    assert!(token.len() >= 20, "{token}");

    let new = "harbour pepper sundial 5127";
    let confirm = json!({ "tenant": DEMO_SLUG, "token": token, "password": new });
    let response = post(app, "/api/v1/auth/password-reset/confirm", confirm.clone()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Every session ended at once.
    assert_eq!(me(app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(app, &second).await, StatusCode::UNAUTHORIZED);
    // The new password signs in, the old one no more.
    let fresh = token_of(login(app, DEMO_EMAIL, new).await).await;
    assert_eq!(me(app, &fresh).await, StatusCode::OK);
    assert_eq!(
        login(app, DEMO_EMAIL, OWNER_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Single use: the same token again sets nothing.
    let again =
        json!({ "tenant": DEMO_SLUG, "token": token, "password": "another fine passphrase 8841" });
    let response = post(app, "/api/v1/auth/password-reset/confirm", again).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "invalid");
    assert_eq!(
        login(app, DEMO_EMAIL, "another fine passphrase 8841")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(app, &fresh).await, StatusCode::OK);
}

#[tokio::test]
async fn a_password_is_reset_with_the_mailed_token_once_and_every_session_ends() {
    reset_by_the_mailed_token(&spawn_app().await).await;
}

#[tokio::test]
async fn a_password_is_reset_with_the_mailed_token_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    reset_by_the_mailed_token(&app).await;
}

async fn invitation_by_the_mailed_token(app: &TestApp) {
    let owner = token_of(login(app, DEMO_EMAIL, OWNER_PASSWORD).await).await;
    let email = "invitee@demo.example";
    let response = crate::helpers::http()
        .post(app.url("/api/v1/users"))
        .bearer_auth(&owner)
        .json(&json!({ "email": email, "name": "Invited Agent", "role": "sales" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // Invited, without a password: nothing signs in yet.
    assert_eq!(
        login(app, email, "anything at all 1234").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let token = mailed_token(app, DEMO_SLUG, email, "your invitation").await;
    let password = "lantern orchard velvet 3390";
    let accept = json!({ "tenant": DEMO_SLUG, "token": token, "password": password });
    let response = post(app, "/api/v1/auth/invitation/accept", accept).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let session = login(app, email, password).await;
    assert_eq!(session.status(), StatusCode::OK);
    let body: Value = session.json().await.unwrap();
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["role"], "sales");
    assert_eq!(body["password_change_required"], false);

    // Single use.
    let again =
        json!({ "tenant": DEMO_SLUG, "token": token, "password": "a second choice 7781 ok" });
    let response = post(app, "/api/v1/auth/invitation/accept", again).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        login(app, email, password).await.status(),
        StatusCode::OK,
        "the first password stands"
    );
}

#[tokio::test]
async fn an_invitation_is_accepted_with_the_mailed_token_once() {
    invitation_by_the_mailed_token(&spawn_app().await).await;
}

#[tokio::test]
async fn an_invitation_is_accepted_with_the_mailed_token_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    invitation_by_the_mailed_token(&app).await;
}
