//! `/api/v1/privacy`: export and erasure over HTTP on SQLite and
//! PostgreSQL — who may (Tenant Super Admin only), another tenant's person
//! (404), the two-step confirmation, a user's erasure blocking their login —
//! and, as an operator would, `tms-server audit verify` passing after an
//! erasure and `tms-server retention run` printing its counts.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Email, Role};
use tms_core::id::BranchId;
use tms_core::ports::{ChainStatus, PageRequest, Scope, Store as _, verify_chain};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{
    STAFF_PASSWORD, TestApp, http, login, spawn_app, spawn_app_on_postgres, staff_email,
    staff_per_role, tenant_id,
};

struct World {
    owner: String,
    branch: BranchId,
    /// (role, email, token) of each staff role.
    staff: Vec<(Role, String, String)>,
    /// The other tenant's owner, and a client of theirs.
    stranger: String,
    foreign_client: String,
}

async fn world(app: &TestApp) -> World {
    let owner = login(
        app,
        DEMO_SLUG,
        DEMO_EMAIL,
        &app.first_run_password.clone().expect("owner password"),
    )
    .await;
    let store = app.store.clone().into_dyn();
    let tenant = tenant_id(app, DEMO_SLUG).await;
    let mut uow = store.begin().await.expect("begin");
    let branch = uow
        .branches()
        .list(
            &Scope {
                tenant_id: tenant,
                branches: BranchScope::All,
            },
            PageRequest::first(),
        )
        .await
        .expect("branches")
        .items[0]
        .id;
    uow.rollback().await.expect("rollback");
    let staff = staff_per_role(app, tenant, |_| BranchScope::All)
        .await
        .into_iter()
        .map(|(role, token)| (role, staff_email(role), token))
        .collect();
    let (other, stranger) = crate::helpers::stranger(app, "other").await;
    let (status, foreign) = send(
        app,
        &stranger,
        reqwest::Method::POST,
        "/api/v1/clients",
        Some(json!({ "name": "Foreign Person", "branch_id": other.branch.id })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{foreign}");
    World {
        owner,
        branch,
        staff,
        stranger,
        foreign_client: foreign["client"]["id"].as_str().expect("id").to_owned(),
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    confirm: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = http().request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = confirm {
        request = request.header("Tms-Confirm", token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Erases with the two-step confirmation; the final answer.
async fn erase(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let (status, body) = send(app, token, reqwest::Method::POST, path, None, None).await;
    if status != StatusCode::PRECONDITION_REQUIRED {
        return (status, body);
    }
    let confirmation = body["confirmation_token"]
        .as_str()
        .expect("confirmation token")
        .to_owned();
    send(
        app,
        token,
        reqwest::Method::POST,
        path,
        None,
        Some(&confirmation),
    )
    .await
}

async fn chain_is_intact(app: &TestApp) {
    let tenant = tenant_id(app, DEMO_SLUG).await;
    let mut uow = app.store.begin().await.expect("begin");
    let status = verify_chain(uow.audit(), tenant).await.expect("verify");
    uow.rollback().await.expect("rollback");
    assert!(
        matches!(status, ChainStatus::Intact { .. }),
        "the chain must verify after an erasure: {status:?}"
    );
}

async fn privacy_rights(app: &TestApp) {
    let w = world(app).await;
    let (status, created) = send(
        app,
        &w.owner,
        reqwest::Method::POST,
        "/api/v1/clients",
        Some(json!({
            "name": "Amina Khan",
            "email": "amina@example.com",
            "phone": "+966501234567",
            "passport_number": "AB1234567",
            "branch_id": w.branch,
        })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["client"]["id"].as_str().expect("id").to_owned();
    let export = format!("/api/v1/privacy/clients/{id}/export");
    let erase_path = format!("/api/v1/privacy/clients/{id}/erase");

    // The export: the owner only, as a JSON attachment, passport opened.
    let response = http()
        .get(app.url(&export))
        .bearer_auth(&w.owner)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().expect("type");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("disposition")
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let bundle: Value = response.json().await.expect("bundle");
    assert_eq!(bundle["subject_kind"], "client");
    assert_eq!(bundle["records"][0]["passport_number"], "AB1234567");
    // Files are tracked (the hook is wired): this client has none.
    assert_eq!(bundle["files"], json!([]));
    assert!(
        bundle["audit_events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["action"] == "client.created")
    );
    for (role, _, token) in &w.staff {
        let (status, _) = send(app, token, reqwest::Method::GET, &export, None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} may not export");
        let (status, _) = send(app, token, reqwest::Method::POST, &erase_path, None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} may not erase");
    }
    // Another tenant's person, an unknown kind, a malformed id: 404.
    let foreign = format!("/api/v1/privacy/clients/{}/export", w.foreign_client);
    for path in [
        foreign.clone(),
        format!("/api/v1/privacy/bookings/{id}/export"),
        "/api/v1/privacy/clients/not-a-uuid/export".to_owned(),
    ] {
        let (status, body) = send(app, &w.owner, reqwest::Method::GET, &path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = erase(
        app,
        &w.owner,
        &format!("/api/v1/privacy/clients/{}/erase", w.foreign_client),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no token for another tenant's person"
    );
    let (status, _) = send(app, &w.stranger, reqwest::Method::GET, &export, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The erasure: 428, then with the token 200 and the counts.
    let (status, report) = erase(app, &w.owner, &erase_path).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["clients"], 1);
    assert!(report["audit_events_erased"].as_u64().expect("count") >= 1);
    let (status, client) = send(
        app,
        &w.owner,
        reqwest::Method::GET,
        &format!("/api/v1/clients/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        client["name"]
            .as_str()
            .expect("name")
            .starts_with("erased-client-"),
        "{client}"
    );
    assert_eq!(client["email"], Value::Null);
    assert_eq!(client["passport_number"], Value::Null);
    chain_is_intact(app).await;
    // Twice is fine.
    let (status, _) = erase(app, &w.owner, &erase_path).await;
    assert_eq!(status, StatusCode::OK);
    chain_is_intact(app).await;

    // A user: erased, signed out, and unable to sign in again.
    let (_, sales_email, sales_token) = w
        .staff
        .iter()
        .find(|(role, _, _)| *role == Role::Sales)
        .expect("sales")
        .clone();
    let (status, me) = send(
        app,
        &sales_token,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let sales_id = me["user"]["id"]
        .as_str()
        .or_else(|| me["id"].as_str())
        .expect("user id")
        .to_owned();
    let (status, report) = erase(
        app,
        &w.owner,
        &format!("/api/v1/privacy/users/{sales_id}/erase"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["users"], 1);
    assert!(report["sessions_revoked"].as_u64().expect("count") >= 1);
    let (status, _) = send(
        app,
        &sales_token,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session is revoked");
    let response = http()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": sales_email, "password": STAFF_PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "login blocked");
    chain_is_intact(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_rights_over_http_on_sqlite() {
    let app = spawn_app().await;
    privacy_rights(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_rights_over_http_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    privacy_rights(&app).await;
}

fn tms_server(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tms-server"))
        .args(args)
        .env_clear()
        .env("TMS_DATA_DIR", data_dir)
        .env("TMS_LOG", "warn")
        .env("TMS_RETENTION_CLOSED_BOOKINGS_DAYS", "365")
        .output()
        .expect("tms-server runs")
}

/// The operator's view: after an erasure over HTTP, `tms-server audit
/// verify` passes; `tms-server retention run --dry-run` and `run` print
/// their counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_after_an_erasure_and_retention_runs_from_the_cli() {
    let mut app = spawn_app().await;
    let w = world(&app).await;
    let (status, created) = send(
        &app,
        &w.owner,
        reqwest::Method::POST,
        "/api/v1/clients",
        Some(json!({ "name": "Amina Khan", "email": "amina@example.com", "branch_id": w.branch })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["client"]["id"].as_str().expect("id").to_owned();
    let (status, _) = erase(
        &app,
        &w.owner,
        &format!("/api/v1/privacy/clients/{id}/erase"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;

    let output = tms_server(
        app.data_dir.path(),
        &["audit", "verify", "--tenant", DEMO_SLUG],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(text.contains("intact"), "{text}");

    let output = tms_server(app.data_dir.path(), &["retention", "run", "--dry-run"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(text.contains("dry run: nothing changed"), "{text}");
    assert!(text.contains("total (2 tenants)"), "{text}");
    let output = tms_server(app.data_dir.path(), &["retention", "run"]);
    assert!(output.status.success(), "{output:?}");
    let output = tms_server(
        app.data_dir.path(),
        &["audit", "verify", "--tenant", DEMO_SLUG],
    );
    assert!(output.status.success(), "{output:?}");
}

/// `serve` applies the retention periods on its schedule: a login-attempt
/// record idle past its period is gone after one interval, a recent one
/// stays, and the run is audited with its counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_applies_retention_on_its_schedule() {
    use tms_core::security::lockout::AccountLockout;
    let app = crate::helpers::spawn(
        crate::helpers::Db::Sqlite,
        tempfile::tempdir().expect("tempdir"),
        |config| {
            config.retention.login_attempts_days = 30;
            config.retention.interval = Some(std::time::Duration::from_millis(300));
        },
    )
    .await;
    let tenant = tenant_id(&app, DEMO_SLUG).await;
    let idle = Email::parse("idle@example.com").expect("email");
    let recent = Email::parse("recent@example.com").expect("email");
    let mut uow = app.store.begin().await.expect("begin");
    for (email, days) in [(&idle, 40), (&recent, 1)] {
        let state = AccountLockout {
            last_failure_at: Some(chrono::Utc::now() - chrono::Duration::days(days)),
            ..AccountLockout::default()
        };
        uow.lockouts()
            .put_account(tenant, email, &state)
            .await
            .expect("lockout");
    }
    uow.commit().await.expect("commit");
    let mut applied = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        applied = crate::helpers::audit_actions(&app, DEMO_SLUG)
            .await
            .into_iter()
            .filter(|(action, _)| action == "privacy.retention.applied")
            .collect();
        if !applied.is_empty() {
            break;
        }
    }
    assert_eq!(applied.len(), 1, "one scheduled run removed something");
    // The idle record, and any empty one (a successful login's): never the
    // recent one.
    assert!(
        applied[0].1["login_attempts"].as_u64() >= Some(1),
        "{:?}",
        applied[0].1
    );
    let mut uow = app.store.begin().await.expect("begin");
    let kept = uow
        .lockouts()
        .account(tenant, &recent)
        .await
        .expect("recent");
    let gone = uow.lockouts().account(tenant, &idle).await.expect("idle");
    uow.rollback().await.expect("rollback");
    assert!(kept.last_failure_at.is_some(), "the recent record stays");
    assert_eq!(
        gone,
        AccountLockout::default(),
        "the idle record is forgotten"
    );
}
