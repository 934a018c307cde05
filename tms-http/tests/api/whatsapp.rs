//! WhatsApp over HTTP (issue 9), on SQLite and PostgreSQL: who may connect
//! (secrets never answered back), the critical disconnect, and Meta's
//! webhook — the subscription handshake, signed deliveries (good, bad,
//! missing signature, another tenant's path), replays recorded once, and
//! the statuses of a message read back.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tms_core::domain::Role;

use crate::bookings::{agency, send};
use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

const APP_SECRET: &str = "meta-app-secret-for-tests";
const VERIFY: &str = "verify-token-0123456789";
const TOKEN: &str = "EAAG-http-test-access-token";
const PHONE_ID: &str = "106540352242922";

/// HMAC-SHA256 (RFC 2104) over sha2, as Meta signs deliveries.
fn signature(secret: &str, body: &[u8]) -> String {
    let mut key = [0u8; 64];
    key[..secret.len()].copy_from_slice(secret.as_bytes());
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    let hex: String = outer.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn deliver(app: &TestApp, tenant: &str, body: &[u8], sig: Option<&str>) -> StatusCode {
    let mut request = crate::helpers::http()
        .post(app.url(&format!("/api/v1/webhooks/whatsapp/{tenant}")))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = sig {
        request = request.header("X-Hub-Signature-256", sig);
    }
    request.send().await.unwrap().status()
}

async fn handshake(app: &TestApp, tenant: &str, mode: &str, token: &str) -> (StatusCode, String) {
    let response = crate::helpers::http()
        .get(app.url(&format!(
            "/api/v1/webhooks/whatsapp/{tenant}?hub.mode={mode}&hub.verify_token={token}&hub.challenge=1158201444"
        )))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn connection() -> Value {
    json!({
        "phone_number_id": PHONE_ID,
        "business_account_id": "102290129340398",
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY,
    })
}

async fn whatsapp_flow(app: &TestApp) {
    let a = agency(app).await;
    let tenant = a.tenant.to_string();
    let path = "/api/v1/whatsapp/connection";

    // Not connected yet: the webhook refuses everything.
    let (status, _) = handshake(app, &tenant, "subscribe", VERIFY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Administration: Finance, Sales and Umrah may not.
    for role in [Role::Finance, Role::Sales, Role::Umrah] {
        let (status, _) = send(
            app,
            a.token(role),
            reqwest::Method::PUT,
            path,
            Some(connection()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
        let (status, _) = send(app, a.token(role), reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }
    let mut bad = connection();
    bad["verify_token"] = json!("short");
    bad["phone_number_id"] = json!("12ab");
    let (status, problem) = send(
        app,
        a.token(Role::Admin),
        reqwest::Method::PUT,
        path,
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["phone_number_id", "verify_token"], "{problem}");

    let (status, view) = send(
        app,
        a.token(Role::Admin),
        reqwest::Method::PUT,
        path,
        Some(connection()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (status, read) = send(app, a.owner(), reqwest::Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["connected"], true);
    assert_eq!(read["phone_number_id"], PHONE_ID);
    assert_eq!(
        read["webhook_path"],
        format!("/api/v1/webhooks/whatsapp/{tenant}")
    );
    for answer in [&view, &read] {
        let text = answer.to_string();
        for secret in [TOKEN, APP_SECRET, VERIFY] {
            assert!(!text.contains(secret), "a secret was answered back: {text}");
        }
    }

    // Handshake.
    let (status, body) = handshake(app, &tenant, "subscribe", VERIFY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "1158201444");
    let (status, _) = handshake(app, &tenant, "subscribe", "verify-token-wrong-000").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = handshake(app, &tenant, "unsubscribe", VERIFY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = handshake(app, "not-a-tenant", "subscribe", VERIFY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = uuid::Uuid::now_v7().to_string();
    let (status, _) = handshake(app, &other, "subscribe", VERIFY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deliveries: signed by the tenant's app secret only.
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_ID },
            "statuses": [
                { "id": "wamid.HBgLOTY2", "status": "sent", "timestamp": "1764590000",
                  "recipient_id": "966501234567" },
                { "id": "wamid.HBgLOTY2", "status": "delivered", "timestamp": "1764590004",
                  "recipient_id": "966501234567" },
                { "id": "wamid.FAILED", "status": "failed", "timestamp": "1764590009",
                  "recipient_id": "966500000000",
                  "errors": [{ "code": 131026, "title": "Message undeliverable" }] },
            ],
        }}]}],
    })
    .to_string();
    let body = body.as_bytes();
    let good = signature(APP_SECRET, body);
    assert_eq!(
        deliver(app, &tenant, body, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        deliver(app, &tenant, body, Some(&signature("another-secret", body))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        deliver(app, &tenant, body, Some("sha256=nothex")).await,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        deliver(app, &tenant, &tampered, Some(&good)).await,
        StatusCode::UNAUTHORIZED,
        "the signature covers the exact bytes"
    );
    assert_eq!(
        deliver(app, &other, body, Some(&good)).await,
        StatusCode::UNAUTHORIZED,
        "another tenant's path"
    );
    // Garbage that is not signed is refused before it is parsed.
    assert_eq!(
        deliver(app, &tenant, b"{not json", None).await,
        StatusCode::UNAUTHORIZED
    );
    let junk = b"{not json";
    assert_eq!(
        deliver(app, &tenant, junk, Some(&signature(APP_SECRET, junk))).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let huge = vec![b' '; 300 * 1024];
    assert_eq!(
        deliver(app, &tenant, &huge, Some(&signature(APP_SECRET, &huge))).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        deliver(app, &tenant, body, Some(&good)).await,
        StatusCode::OK
    );
    // Meta retries: the same delivery again changes nothing.
    assert_eq!(
        deliver(app, &tenant, body, Some(&good)).await,
        StatusCode::OK
    );

    let (status, statuses) = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        "/api/v1/whatsapp/messages/wamid.HBgLOTY2/statuses",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{statuses}");
    let kinds: Vec<&str> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["sent", "delivered"],
        "recorded once each: {statuses}"
    );
    let (_, failed) = send(
        app,
        a.token(Role::Admin),
        reqwest::Method::GET,
        "/api/v1/whatsapp/messages/wamid.FAILED/statuses",
        None,
    )
    .await;
    assert_eq!(failed[0]["status"], "failed");
    assert_eq!(failed[0]["error_code"], 131_026);
    assert_eq!(failed[0]["error_title"], "Message undeliverable");

    // Disconnect: critical; afterwards the webhook refuses.
    let response = crate::helpers::http()
        .delete(app.url(path))
        .bearer_auth(a.owner())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let token = response.json::<Value>().await.unwrap()["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = crate::helpers::http()
        .delete(app.url(path))
        .bearer_auth(a.owner())
        .header("Tms-Confirm", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, read) = send(app, a.owner(), reqwest::Method::GET, path, None).await;
    assert_eq!(read["connected"], false);
    assert_eq!(
        deliver(app, &tenant, body, Some(&good)).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = handshake(app, &tenant, "subscribe", VERIFY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Documented.
    let (_, doc) = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        "/api/v1/openapi.json",
        None,
    )
    .await;
    for p in [
        "/api/v1/whatsapp/connection",
        "/api/v1/whatsapp/messages/{id}/statuses",
        "/api/v1/webhooks/whatsapp/{tenant_id}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
}

#[tokio::test]
async fn whatsapp_connection_and_signed_webhook_on_sqlite() {
    let app = spawn_app().await;
    whatsapp_flow(&app).await;
}

#[tokio::test]
async fn whatsapp_connection_and_signed_webhook_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    whatsapp_flow(&app).await;
}
