//! `/api/v1/auth`: login, the session cookie and bearer token, CSRF,
//! logout, failures and lockout.
//!
//! The session cookie is `__Host-` and `Secure`; a cookie store may refuse to
//! send it over plain http on loopback, so these tests read `Set-Cookie` and
//! send the `Cookie` header by hand, with a client without a cookie store.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

/// A client that keeps no cookies: every cookie is sent by hand.
fn client() -> reqwest::Client {
    crate::helpers::http_builder()
        .user_agent("tms-api-tests")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct LoggedIn {
    /// `__Host-tms_session=<jwt>`, ready for a `Cookie` header.
    cookie: String,
    /// The raw `Set-Cookie` header.
    set_cookie: String,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl LoggedIn {
    fn token(&self) -> &str {
        self.body["token"].as_str().unwrap()
    }

    fn csrf(&self) -> &str {
        self.body["csrf_token"].as_str().unwrap()
    }
}

async fn login_as(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn login_owner(app: &TestApp) -> LoggedIn {
    let password = app.first_run_password.clone().expect("first run ran");
    let response = login_as(app, DEMO_EMAIL, &password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let set_cookie = headers
        .get(reqwest::header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().trim().to_owned();
    let body: Value = response.json().await.unwrap();
    LoggedIn {
        cookie,
        set_cookie,
        body,
        headers,
    }
}

async fn me_with_cookie(app: &TestApp, cookie: &str) -> reqwest::Response {
    client()
        .get(app.url("/api/v1/auth/me"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn me_with_bearer(app: &TestApp, token: &str) -> reqwest::Response {
    client()
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_sets_a_host_only_http_only_secure_cookie_and_me_answers_with_cookie_or_bearer() {
    let app = spawn_app().await;
    let session = login_owner(&app).await;

    let attributes: Vec<String> = session
        .set_cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(session.cookie.starts_with("__Host-tms_session="));
    assert_eq!(
        session.cookie.trim_start_matches("__Host-tms_session="),
        session.token()
    );
    for wanted in ["httponly", "secure", "samesite=lax", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "{wanted} missing in {}",
            session.set_cookie
        );
    }
    assert!(!attributes.iter().any(|a| a.starts_with("domain")));
    let max_age: i64 = attributes
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .expect("Max-Age")
        .parse()
        .unwrap();
    assert!(max_age > 3600, "{max_age}");

    assert_eq!(session.body["user"]["email"], DEMO_EMAIL);
    assert!(session.body["user"]["id"].is_string());
    assert!(session.body["user"]["role"].is_string());
    assert!(session.body["restricted"].is_boolean());
    assert!(!session.csrf().is_empty());
    assert_ne!(session.csrf(), session.token());

    let response = me_with_cookie(&app, &session.cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["user"]["email"], DEMO_EMAIL);

    let response = me_with_bearer(&app, session.token()).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Without credentials, or with a forged token: 401 problem.
    let response = client()
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = me_with_bearer(&app, "not.a.jwt").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_login_answer_carries_the_security_headers_and_is_not_cached() {
    let app = spawn_app().await;
    let session = login_owner(&app).await;
    let headers = &session.headers;
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("content-security-policy"));
    assert!(headers.contains_key("referrer-policy"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn a_cookie_write_needs_the_sessions_csrf_token_and_a_bearer_write_does_not() {
    let app = spawn_app().await;
    let session = login_owner(&app).await;
    let unknown = app.url(&format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7()));

    // No token, and a wrong one: 403, before anything else.
    for csrf in [None, Some("forged")] {
        let mut request = client().delete(&unknown).header("Cookie", &session.cookie);
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{csrf:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "csrf");
    }

    // Another session's CSRF token does not fit this session's cookie.
    let other = login_owner(&app).await;
    let response = client()
        .delete(&unknown)
        .header("Cookie", &session.cookie)
        .header("X-CSRF-Token", other.csrf())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The session's token: the request goes through (to a 404: no such
    // session of this user).
    let response = client()
        .delete(&unknown)
        .header("Cookie", &session.cookie)
        .header("X-CSRF-Token", session.csrf())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Bearer: no CSRF token needed.
    let response = client()
        .delete(&unknown)
        .bearer_auth(session.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Reads need no CSRF token with the cookie.
    let response = client()
        .get(app.url("/api/v1/auth/sessions"))
        .header("Cookie", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sessions: Value = response.json().await.unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    // The session remembers the peer address and the client (ConnectInfo
    // and User-Agent reach the identity service).
    assert_eq!(current[0]["ip"], "127.0.0.1");
    assert_eq!(current[0]["user_agent"], "tms-api-tests");

    // Revoking the other session ends it at once.
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = client()
        .delete(app.url(&format!("/api/v1/auth/sessions/{other_id}")))
        .header("Cookie", &session.cookie)
        .header("X-CSRF-Token", session.csrf())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_with_bearer(&app, other.token()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_with_cookie(&app, &session.cookie).await.status(),
        StatusCode::OK
    );
}

async fn logout_invalidates_the_cookie_and_the_bearer_token_at_once(app: &TestApp) {
    let session = login_owner(app).await;
    assert_eq!(
        me_with_cookie(app, &session.cookie).await.status(),
        StatusCode::OK
    );

    let response = client()
        .post(app.url("/api/v1/auth/logout"))
        .header("Cookie", &session.cookie)
        .header("X-CSRF-Token", session.csrf())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("__Host-tms_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    assert_eq!(
        me_with_cookie(app, &session.cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_with_bearer(app, session.token()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_invalidates_the_session_at_once_on_sqlite() {
    let app = spawn_app().await;
    logout_invalidates_the_cookie_and_the_bearer_token_at_once(&app).await;
}

#[tokio::test]
async fn logout_invalidates_the_session_at_once_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    logout_invalidates_the_cookie_and_the_bearer_token_at_once(&app).await;
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let first = login_owner(&app).await;
    let second = login_owner(&app).await;
    let response = client()
        .post(app.url("/api/v1/auth/logout-everywhere"))
        .bearer_auth(second.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ended"], 2);
    for token in [first.token(), second.token()] {
        assert_eq!(
            me_with_bearer(&app, token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_identical_401_bodies() {
    let app = spawn_app().await;
    let wrong_password = login_as(&app, DEMO_EMAIL, "not-the-password-at-all").await;
    let unknown_email = login_as(&app, "nobody@demo.example", "not-the-password-at-all").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_password.headers().get("set-cookie").is_none());
    let a: Value = wrong_password.json().await.unwrap();
    let b: Value = unknown_email.json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a["type"], "unauthenticated");
}

#[tokio::test]
async fn five_failures_lock_the_account_even_against_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let response = login_as(&app, DEMO_EMAIL, "not-the-password-at-all").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let password = app.first_run_password.clone().unwrap();
    let response = login_as(&app, DEMO_EMAIL, &password).await;
    assert_eq!(response.status(), StatusCode::LOCKED);
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    assert!(response.headers().get("set-cookie").is_none());
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "locked");
}

#[tokio::test]
async fn a_password_reset_request_is_accepted_whether_or_not_the_user_exists() {
    let app = spawn_app().await;
    for email in [DEMO_EMAIL, "nobody@demo.example"] {
        let response = client()
            .post(app.url("/api/v1/auth/password-reset"))
            .json(&json!({ "tenant": DEMO_SLUG, "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{email}");
    }
    let response = client()
        .post(app.url("/api/v1/auth/password-reset/confirm"))
        .json(&json!({ "tenant": DEMO_SLUG, "token": "made-up", "password": "a new long password 123" }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn the_auth_paths_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/auth/sessions/{id}",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/auth/totp",
        "/api/v1/auth/invitation/accept",
        "/api/v1/users",
        "/api/v1/users/{id}/access",
        "/api/v1/branches",
        "/api/v1/branches/{id}/close",
        "/api/v1/settings",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}

#[tokio::test]
async fn too_many_logins_from_one_address_are_429_with_retry_after() {
    let app = spawn_app().await;
    let mut limited = None;
    // Different unknown emails: no account lock, only the per-IP throttle.
    for i in 0..40 {
        let response = login_as(&app, &format!("nobody{i}@demo.example"), "wrong-password").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = limited.expect("the throttle answers 429 within 40 attempts");
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "rate-limited");
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_then_the_new_one_logs_in() {
    let app = spawn_app().await;
    let session = login_owner(&app).await;
    let new = "a brand new long passphrase 42";
    let response = client()
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(session.token())
        .json(&json!({ "current": "not-the-password-at-all", "new": new }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_ne!(response.status(), StatusCode::NO_CONTENT);

    let old = app.first_run_password.clone().unwrap();
    let response = client()
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(session.token())
        .json(&json!({ "current": old, "new": new }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login_as(&app, DEMO_EMAIL, new).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login_as(&app, DEMO_EMAIL, &old).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// RFC 4648 base32 (no padding), for the secret of an `otpauth://` URI.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut value, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        value = (value << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}

#[tokio::test]
async fn after_totp_enrolment_login_asks_for_the_second_factor_and_accepts_a_recovery_code() {
    let app = spawn_app().await;
    let session = login_owner(&app).await;

    let response = client()
        .post(app.url("/api/v1/auth/totp"))
        .bearer_auth(session.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let started: Value = response.json().await.unwrap();
    let uri = started["otpauth_uri"].as_str().unwrap();
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret in the URI");
    let secret = tms_core::security::totp::TotpSecret::from_bytes(&base32_decode(secret)).unwrap();
    let code = secret.code_at(chrono::Utc::now()).unwrap();

    let response = client()
        .post(app.url("/api/v1/auth/totp/confirm"))
        .bearer_auth(session.token())
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let codes: Value = response.json().await.unwrap();
    let recovery = codes["recovery_codes"][0].as_str().unwrap().to_owned();

    // The right password alone: 401 second-factor-required, no cookie.
    let password = app.first_run_password.clone().unwrap();
    let response = login_as(&app, DEMO_EMAIL, &password).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "second-factor-required");
    assert_eq!(problem["second_factors"], json!(["totp"]));

    // With a recovery code as otp: signed in.
    let response = client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({
            "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": password, "otp": recovery
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_some());

    // Off again (proof: the password): the password alone signs in.
    let response = client()
        .post(app.url("/api/v1/auth/totp/disable"))
        .bearer_auth(session.token())
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login_as(&app, DEMO_EMAIL, &password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn emailed_codes_switched_on_make_login_ask_for_the_email_factor() {
    let app = spawn_app().await;
    let session = login_owner(&app).await;
    let password = app.first_run_password.clone().unwrap();

    let response = client()
        .put(app.url("/api/v1/auth/email-otp"))
        .bearer_auth(session.token())
        .json(&json!({ "password": "not-the-password-at-all", "enabled": true }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    let response = client()
        .put(app.url("/api/v1/auth/email-otp"))
        .bearer_auth(session.token())
        .json(&json!({ "password": password, "enabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = login_as(&app, DEMO_EMAIL, &password).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "second-factor-required");
    assert_eq!(problem["second_factors"], json!(["email"]));
}

#[tokio::test]
async fn an_unknown_invitation_token_sets_no_password() {
    let app = spawn_app().await;
    let response = client()
        .post(app.url("/api/v1/auth/invitation/accept"))
        .json(&json!({ "tenant": DEMO_SLUG, "token": "made-up", "password": "quiet harbour lantern 9081" }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}
