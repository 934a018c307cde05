//! The outbox worker inside `tms-server` (issue 9): a mail written by a
//! request is delivered by the worker to the embedded default transport (a
//! folder of `.eml` files), its attempt shows in the delivery log over
//! HTTP, and pausing the tenant's outbox holds mail back until it resumes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::ports::{PageRequest, Store as _};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{Db, OWNER_PASSWORD, TestApp, http, login, spawn, tenant_id};

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits (at most 20 s) until the tenant's mail folder holds `n` messages.
async fn wait_for_mail(dir: &Path, n: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files = eml_files(dir);
        if files.len() >= n || Instant::now() > deadline {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn request_reset(app: &TestApp) {
    let response = http()
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

async fn newest_message_id(app: &TestApp) -> String {
    let tenant = tenant_id(app, DEMO_SLUG).await;
    let mut uow = app.store.begin().await.unwrap();
    let page = uow
        .outbox()
        .list(tenant, PageRequest::new(Some(200), None).unwrap())
        .await
        .unwrap();
    uow.rollback().await.unwrap();
    page.items.last().expect("a message").id.to_string()
}

async fn put_controls(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    http()
        .put(app.url("/api/v1/outbox/controls"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn message(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    http()
        .get(app.url(&format!("/api/v1/outbox/messages/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_worker_delivers_to_the_mail_folder_and_a_pause_holds_mail_back() {
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.mail.poll = Duration::from_millis(50);
    })
    .await;
    let token = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;
    let tenant = tenant_id(&app, DEMO_SLUG).await;
    let folder = app.data_dir.path().join("mail").join(tenant.to_string());
    // The first run already mailed nothing but what it mailed is delivered:
    // count from what is there now.
    let before = wait_for_mail(&folder, 0).await.len();

    request_reset(&app).await;
    let files = wait_for_mail(&folder, before + 1).await;
    assert_eq!(
        files.len(),
        before + 1,
        "the worker delivered the reset mail"
    );
    let id = newest_message_id(&app).await;
    let response = message(&app, &token, &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["status"], "sent");
    assert_eq!(view["to"], DEMO_EMAIL);
    assert_eq!(view["deliveries"][0]["transport"], "folder");
    assert_eq!(view["deliveries"][0]["outcome"], "sent");
    assert!(view.get("body_text").is_none(), "never the body: {view}");
    let message_id = view["message_id"].as_str().unwrap().to_owned();
    let delivered = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .find(|text| text.contains(&message_id))
        .expect("the .eml carries the message's Message-ID");
    assert!(delivered.contains(&format!("To: {DEMO_EMAIL}")));

    // Paused: the next mail waits.
    let response = put_controls(&app, &token, json!({ "paused": true })).await;
    assert_eq!(response.status(), StatusCode::OK);
    request_reset(&app).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        eml_files(&folder).len(),
        before + 1,
        "nothing sent while paused"
    );
    let waiting = newest_message_id(&app).await;
    let view: Value = message(&app, &token, &waiting).await.json().await.unwrap();
    assert_eq!(view["status"], "pending");
    assert_eq!(view["attempts"], 0);

    // Resumed: it goes.
    let response = put_controls(&app, &token, json!({ "paused": false, "daily_limit": 500 })).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(wait_for_mail(&folder, before + 2).await.len(), before + 2);
    let controls: Value = http()
        .get(app.url("/api/v1/outbox/controls"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(controls, json!({ "paused": false, "daily_limit": 500 }));

    // A quota of 0 is refused (pause instead); unknown ids are not found.
    let response = put_controls(&app, &token, json!({ "paused": false, "daily_limit": 0 })).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        message(&app, &token, &unknown).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        message(&app, &token, "not-an-id").await.status(),
        StatusCode::NOT_FOUND
    );
    // The changes are audited.
    let actions: Vec<String> = crate::helpers::audit_actions(&app, DEMO_SLUG)
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    for expected in ["outbox.paused", "outbox.resumed"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
}
