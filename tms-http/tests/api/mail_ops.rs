//! Mail Ops over HTTP (issue 10): a Gmail connection made through the
//! loopback Google peer, a fake mailbox injected into the server (the
//! mailbox adapter has its own tests), the worker syncing it into tickets
//! by the rules, an assignment, a threaded reply delivered by the worker
//! through Gmail's SMTP route to a real SMTP server, and the solve — plus
//! who may do what and what the audit log says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::ports::MailboxReader;
use tms_core::testkit::{FakeMailbox, inbound};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{
    Db, OWNER_PASSWORD, PgDatabase, TestApp, audit_actions, http, login, spawn_adjusted,
};
use crate::mail_connections::sink::start_sink;
use crate::mail_connections::{
    Peer, callback, fast_worker, gmail_config, query_of, received, start_peer,
};

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let r = http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = http()
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the ticket list until it holds `n` tickets (the worker syncs in
/// the background), at most 20 s.
async fn tickets(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(app, token, "/api/v1/support/tickets").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n || Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn mail_ops_end_to_end(db: &str) {
    let Some(sink) = start_sink() else { return };
    let peer = Arc::new(Peer::default());
    let base = start_peer(peer.clone()).await;
    let config = gmail_config(&base, sink.port);
    let mailbox = Arc::new(FakeMailbox::new(2));
    let db = match db {
        "postgres" => match PgDatabase::create().await {
            Some(pg) => Db::Postgres(pg),
            None => return,
        },
        _ => Db::Sqlite,
    };
    let injected = mailbox.clone() as Arc<dyn MailboxReader>;
    let app = spawn_adjusted(
        db,
        |c| {
            fast_worker(c);
            c.gmail = config;
        },
        move |server| server.with_mailbox(injected),
    )
    .await;
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;

    // Before a mailbox is connected, sync is off.
    let (status, sync) = get(&app, &owner, "/api/v1/mail/sync").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sync["enabled"], false);

    // Connect Gmail (the consent screen played by the test).
    let (_, started) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/mail/gmail/connect",
        json!({}),
    )
    .await;
    let query = query_of(started["authorization_url"].as_str().unwrap());
    peer.codes
        .lock()
        .unwrap()
        .insert("code-1".into(), query["code_challenge"].clone());
    let response = callback(&app, &owner, "code-1", &query["state"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, sync) = get(&app, &owner, "/api/v1/mail/sync").await;
    assert_eq!(sync["enabled"], true, "{sync}");

    // A second branch and a rule: mail from vip.example goes there, high.
    let (status, vip) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/branches",
        json!({"name": "VIP desk"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{vip}");
    let vip_id = vip["id"].as_str().unwrap().to_owned();
    let (status, rule) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/mail/rules",
        json!({"position": 1, "sender_domain": "vip.example", "branch_id": vip_id, "priority": "high"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let (status, bad) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/mail/rules",
        json!({"position": 2, "sender_domain": "a@b", "branch_id": vip_id}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // Mail arrives; the worker syncs it into tickets.
    let now = chrono::Utc::now();
    mailbox.deliver(inbound(
        "m1",
        "t1",
        "ana@client.example",
        "Visa",
        now - chrono::Duration::hours(2),
    ));
    mailbox.deliver(inbound(
        "m2",
        "t2",
        "boss@vip.example",
        "Group",
        now - chrono::Duration::hours(1),
    ));
    let items = tickets(&app, &owner, 2).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let visa = items
        .iter()
        .find(|t| t["subject"] == "Visa")
        .unwrap()
        .clone();
    let group = items.iter().find(|t| t["subject"] == "Group").unwrap();
    assert_eq!(group["branch_id"], vip_id.as_str());
    assert_eq!(group["priority"], "high");
    assert_eq!(visa["status"], "open");
    let visa_id = visa["id"].as_str().unwrap().to_owned();
    let (status, filtered) = get(
        &app,
        &owner,
        &format!("/api/v1/support/tickets?branch={vip_id}&status=open"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    let (status, _) = get(&app, &owner, "/api/v1/support/tickets?status=done").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Read with messages; assign to the owner.
    let (status, detail) = get(&app, &owner, &format!("/api/v1/support/tickets/{visa_id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["messages"][0]["text"], "Hello, about Visa");
    assert_eq!(
        detail["messages"][0]["attachments"][0]["filename"],
        "passport.pdf"
    );
    let me = get(&app, &owner, "/api/v1/auth/me").await.1;
    let owner_id = me["id"]
        .as_str()
        .or(me["user"]["id"].as_str())
        .unwrap()
        .to_owned();
    let (status, assigned) = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        &format!("/api/v1/support/tickets/{visa_id}/assignee"),
        json!({"assignee": owner_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["assignee"], owner_id.as_str());

    // Reply, with an idempotency key: a retry answers the same message.
    let reply = |key: &'static str| {
        http()
            .post(app.url(&format!("/api/v1/support/tickets/{visa_id}/replies")))
            .bearer_auth(&owner)
            .header("Idempotency-Key", key)
            .json(&json!({"text": "Your visa is ready."}))
            .send()
    };
    let first = reply("reply-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["ticket"]["status"], "pending");
    let again: Value = reply("reply-1").await.unwrap().json().await.unwrap();
    assert_eq!(again["outbox_message_id"], first["outbox_message_id"]);

    // The worker delivers it through the Gmail route, threaded.
    let mails = received(&sink, 1).await;
    assert_eq!(mails.len(), 1, "one reply, once");
    let (eml, _) = &mails[0];
    assert!(eml.contains("In-Reply-To: <m1@mail.example>"), "{eml}");
    assert!(eml.contains("References: <m1@mail.example>"), "{eml}");
    // From the connected account; the subject as lettre writes it (an
    // encoded word for "Re: Visa").
    assert!(eml.contains("From: al-noor.travel@gmail.example"), "{eml}");
    assert!(
        eml.contains("Subject: Re: Visa") || eml.contains("Subject: =?utf-8?B?UmU6IFZpc2E=?="),
        "{eml}"
    );

    // Solve; an impossible move is 409; another id is 404.
    let (status, solved) = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        &format!("/api/v1/support/tickets/{visa_id}/status"),
        json!({"status": "solved"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{solved}");
    assert_eq!(solved["status"], "solved");
    let (status, _) = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        &format!("/api/v1/support/tickets/{visa_id}/status"),
        json!({"status": "pending"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = get(
        &app,
        &owner,
        &format!("/api/v1/support/tickets/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Settings round-trip.
    let (_, settings) = get(&app, &owner, "/api/v1/mail/ops/settings").await;
    let mut changed = settings.clone();
    changed["first_sync_days"] = json!(7);
    let (status, saved) = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        "/api/v1/mail/ops/settings",
        changed,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["first_sync_days"], 7);

    // OpenAPI lists the endpoints.
    let (_, doc) = get(&app, &owner, "/api/v1/openapi.json").await;
    for path in [
        "/api/v1/support/tickets",
        "/api/v1/support/tickets/{id}/replies",
        "/api/v1/mail/rules",
        "/api/v1/mail/sync",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }

    let actions: Vec<String> = audit_actions(&app, DEMO_SLUG)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for wanted in [
        "mail_rule.created",
        "support_ticket.created",
        "support_ticket.assigned",
        "support_ticket.replied",
        "support_ticket.status_changed",
        "mail_ops.settings_changed",
    ] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_synced_mailbox_becomes_tickets_answered_threaded() {
    mail_ops_end_to_end("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_synced_mailbox_becomes_tickets_answered_threaded_on_postgresql() {
    mail_ops_end_to_end("postgres").await;
}
