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

// --- the worker's WhatsApp path, end to end (issue 9) ---

/// Meta's Graph API as a loopback peer: accepts template messages for the
/// test's number with the test's token, each answered with its own
/// `wamid`, and refuses one recipient as "not on WhatsApp" (131026).
struct GraphAccepts(std::sync::atomic::AtomicUsize);

impl wiremock::Respond for GraphAccepts {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
            "messages": [{ "id": format!("wamid.E2E{n}") }]
        }))
    }
}

/// Consenting clients (Marketing and WhatsApp) with phones; their ids.
async fn whatsapp_clients(
    app: &TestApp,
    a: &crate::bookings::Agency,
    phones: &[(&str, &str, bool)],
) {
    use tms_core::domain::{ConsentChannel, Phone};
    let store = app.store.clone().into_dyn();
    let mut uow = store.begin().await.unwrap();
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    for (name, phone, consents) in phones {
        let mut client = tms_core::testkit::new_client(a.tenant, a.branch, name);
        client.phone = Some(Phone::parse(phone).unwrap());
        uow.clients().insert(&client).await.unwrap();
        if *consents {
            for channel in [ConsentChannel::Marketing, ConsentChannel::Whatsapp] {
                uow.clients()
                    .add_consent(&tms_core::testkit::consent(&client, channel, true, at))
                    .await
                    .unwrap();
            }
        }
    }
    uow.commit().await.unwrap();
}

async fn campaign_reaches_the_graph_api(db: crate::helpers::Db) {
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let graph = MockServer::start().await;
    let messages = format!("/v21.0/{PHONE_ID}/messages");
    Mock::given(method("POST"))
        .and(path(messages.clone()))
        .and(body_partial_json(json!({ "to": "966500000009" })))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": { "message": "(#131026) Message undeliverable.", "type": "OAuthException",
                       "code": 131026, "fbtrace_id": "A1b2C3" }
        })))
        .with_priority(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(messages.clone()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(GraphAccepts(Default::default()))
        .mount(&graph)
        .await;
    let app = crate::helpers::spawn(db, tempfile::tempdir().unwrap(), |c| {
        c.whatsapp.graph_url = graph.uri();
        c.mail.poll = std::time::Duration::from_millis(50);
    })
    .await;
    let a = agency(&app).await;
    let owner = a.owner().to_owned();
    let (status, view) = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        "/api/v1/whatsapp/connection",
        Some(connection()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    whatsapp_clients(
        &app,
        &a,
        &[
            ("Amina Khan", "+966500000001", true),
            ("Yusuf Ali", "+966500000002", true),
            ("Not On WhatsApp", "+966500000009", true),
            ("No Consent", "+966500000003", false),
        ],
    )
    .await;

    // An approved WhatsApp template and an approved campaign, sent with
    // confirmation; the server's own worker expands and delivers it.
    let (status, template) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/templates",
        Some(json!({
            "name": "Umrah reminder",
            "channel": "whatsapp",
            "variables": ["client_name", "offer"],
            "default_language": "ar",
            "variants": [{
                "language": "ar",
                "provider_template": "umrah_reminder",
                "provider_language": "ar",
                "parameters": ["client_name", "offer"]
            }]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let template = template["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        &format!("/api/v1/templates/{template}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, campaign) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/campaigns",
        Some(json!({
            "name": "Ramadan reminder",
            "template_id": template,
            "language": "ar",
            "branch_id": a.branch,
            "variables": { "offer": "عمرة رمضان" }
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let campaign = campaign["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        &format!("/api/v1/campaigns/{campaign}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        &format!("/api/v1/campaigns/{campaign}/send"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{problem}");
    let confirm = problem["confirmation_token"].as_str().unwrap().to_owned();
    let response = crate::helpers::http()
        .post(app.url(&format!("/api/v1/campaigns/{campaign}/send")))
        .bearer_auth(&owner)
        .header("Tms-Confirm", &confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Wait (at most 30 s) until every WhatsApp row is sent or failed.
    let store = app.store.clone().into_dyn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let rows = loop {
        let mut uow = store.begin().await.unwrap();
        let page = uow
            .outbox()
            .list(
                a.tenant,
                tms_core::ports::PageRequest::new(Some(200), None).unwrap(),
            )
            .await
            .unwrap();
        uow.rollback().await.unwrap();
        let rows: Vec<_> = page
            .items
            .into_iter()
            .filter(|m| m.channel() == tms_core::ports::OutboxChannel::Whatsapp)
            .collect();
        let settled = rows.len() == 3
            && rows
                .iter()
                .all(|m| m.status != tms_core::ports::OutboxStatus::Pending);
        if settled || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let mut outcome: Vec<(String, String)> = rows
        .iter()
        .map(|m| (m.recipient().to_owned(), m.status.as_str().to_owned()))
        .collect();
    outcome.sort();
    assert_eq!(
        outcome,
        [
            ("+966500000001".to_owned(), "sent".to_owned()),
            ("+966500000002".to_owned(), "sent".to_owned()),
            ("+966500000009".to_owned(), "failed".to_owned()),
        ],
        "consenting phones only; the number Meta refuses fails for good"
    );

    // What reached Meta: the template, its language and the parameters in
    // order, once per consenting phone, with the tenant's token.
    let received = graph.received_requests().await.unwrap();
    assert_eq!(received.len(), 3, "one request per message, no resend");
    let mut bodies: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    bodies.sort_by_key(|b| b["to"].as_str().unwrap().to_owned());
    let amina = &bodies[0];
    assert_eq!(amina["messaging_product"], "whatsapp");
    assert_eq!(amina["to"], "966500000001");
    assert_eq!(amina["type"], "template");
    assert_eq!(amina["template"]["name"], "umrah_reminder");
    assert_eq!(amina["template"]["language"]["code"], "ar");
    let parameters: Vec<&str> = amina["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(parameters, ["Amina Khan", "عمرة رمضان"]);

    // The delivery log over HTTP: the WhatsApp transport and Meta's id.
    let sent = rows
        .iter()
        .find(|m| m.recipient() == "+966500000001")
        .unwrap();
    let (status, view) = send(
        &app,
        &owner,
        reqwest::Method::GET,
        &format!("/api/v1/outbox/messages/{}", sent.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["deliveries"][0]["outcome"], "sent", "{view}");
    let wamid = view["deliveries"][0]["provider_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(wamid.starts_with("wamid.E2E"), "{view}");
    let failed = rows
        .iter()
        .find(|m| m.recipient() == "+966500000009")
        .unwrap();
    let (_, view) = send(
        &app,
        &owner,
        reqwest::Method::GET,
        &format!("/api/v1/outbox/messages/{}", failed.id),
        None,
    )
    .await;
    assert_eq!(view["attempts"], 1, "permanent: not retried: {view}");
    assert!(
        view["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("131026"),
        "{view}"
    );

    // Meta then reports it delivered, signed: the status is recorded
    // against the message the worker sent.
    let delivery = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "966500000000", "phone_number_id": PHONE_ID },
            "statuses": [{ "id": wamid, "status": "delivered", "timestamp": "1764590004",
                           "recipient_id": "966500000001" }]
        }}]}]
    });
    let body = serde_json::to_vec(&delivery).unwrap();
    let tenant = a.tenant.to_string();
    let status = deliver(&app, &tenant, &body, Some(&signature(APP_SECRET, &body))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, statuses) = send(
        &app,
        &owner,
        reqwest::Method::GET,
        &format!("/api/v1/whatsapp/messages/{wamid}/statuses"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{statuses}");
    assert!(statuses.to_string().contains("delivered"), "{statuses}");
}

#[tokio::test]
async fn a_whatsapp_campaign_reaches_the_graph_api_through_the_worker_on_sqlite() {
    campaign_reaches_the_graph_api(crate::helpers::Db::Sqlite).await;
}

#[tokio::test]
async fn a_whatsapp_campaign_reaches_the_graph_api_through_the_worker_on_postgres() {
    let Some(db) = crate::helpers::PgDatabase::create().await else {
        return;
    };
    campaign_reaches_the_graph_api(crate::helpers::Db::Postgres(db)).await;
}
