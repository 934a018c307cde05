//! Mail Ops over HTTP (issue 10): a Gmail connection made through the
//! loopback Google peer, a fake mailbox injected into the server (the
//! mailbox adapter has its own tests), the worker syncing it into tickets
//! by the rules, an assignment, a threaded reply delivered by the worker
//! through Gmail's SMTP route to a real SMTP server, and the solve — plus
//! who may do what and what the audit log says.
//!
//! Then the same with no fake at all: the server's own `GmailMailbox`
//! reading the Gmail API peer of the adapter's tests (real `.eml`
//! fixtures, attachments on demand, incremental history sync, disconnect
//! deleting the stored mail); and the authorization matrix of every Mail
//! Ops endpoint for the five roles, with branch scope and tenant isolation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Role};
use tms_core::ports::{MailboxReader, PageRequest, Scope};
use tms_core::testkit::{FakeMailbox, inbound};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use base64::Engine as _;

use crate::gmail_peer::GmailPeer;
use crate::helpers::{
    Db, OWNER_PASSWORD, PgDatabase, TestApp, add_staff, audit_actions, http, login, spawn_adjusted,
    staff_email, tenant_id,
};
use crate::mail_connections::sink::{Sink, start_sink};
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

/// Polls `mailbox` until it has sent `n` messages (the worker delivers in
/// the background), at most 20 s: (raw, thread id) of each.
async fn mailbox_sent(mailbox: &FakeMailbox, n: usize) -> Vec<(Vec<u8>, Option<String>)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = mailbox.sent();
        if sent.len() >= n || Instant::now() > deadline {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server on `db` whose Google is the loopback peer, whose Gmail mail
/// goes to an SMTP sink, and whose mailbox reader is `mailbox` (a fake:
/// these tests are about the service and the routes; the real adapter has
/// its own test below). `None` when a prerequisite is missing (said
/// loudly; a failure under `CI=true`).
async fn app_with_mailbox(
    db: &str,
    mailbox: Arc<FakeMailbox>,
) -> Option<(TestApp, Sink, Arc<Peer>)> {
    let sink = start_sink()?;
    let peer = Arc::new(Peer::default());
    let base = start_peer(peer.clone()).await;
    let config = gmail_config(&base, sink.port);
    let db = match db {
        "postgres" => Db::Postgres(PgDatabase::create().await?),
        _ => Db::Sqlite,
    };
    let injected = mailbox as Arc<dyn MailboxReader>;
    let app = spawn_adjusted(
        db,
        |c| {
            fast_worker(c);
            c.gmail = config;
        },
        move |server| server.with_mailbox(injected),
    )
    .await;
    Some((app, sink, peer))
}

async fn mail_ops_end_to_end(db: &str) {
    let mailbox = Arc::new(FakeMailbox::new(2));
    let Some((app, sink, peer)) = app_with_mailbox(db, mailbox.clone()).await else {
        return;
    };
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

    // The worker delivers it through the connected mailbox (the Gmail
    // API's messages.send), into the ticket's Gmail thread, threaded by
    // its headers too; nothing goes by Gmail's SMTP.
    let sent = mailbox_sent(&mailbox, 1).await;
    assert_eq!(sent.len(), 1, "one reply, once");
    let (raw, thread) = &sent[0];
    assert_eq!(thread.as_deref(), Some("t1"), "into the ticket's thread");
    let eml = &String::from_utf8(raw.clone()).unwrap();
    assert!(received(&sink, 0).await.is_empty(), "not by SMTP");
    let outbox_id = first["outbox_message_id"].as_str().unwrap();
    // The attempt is recorded just after the send.
    let deadline = Instant::now() + Duration::from_secs(20);
    let logged = loop {
        let (status, logged) = get(
            &app,
            &owner,
            &format!("/api/v1/outbox/messages/{outbox_id}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{logged}");
        if logged["status"] != "pending" || Instant::now() > deadline {
            break logged;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(logged["status"], "sent", "{logged}");
    assert_eq!(
        logged["deliveries"][0]["provider_message_id"], "sent-1",
        "{logged}"
    );
    assert_eq!(logged["deliveries"][0]["transport"], "gmail", "{logged}");
    assert!(eml.contains("In-Reply-To: <m1@mail.example>"), "{eml}");
    assert!(eml.contains("References: <m1@mail.example>"), "{eml}");
    // From the connected account; the subject as lettre writes it (an
    // encoded word for "Re: Visa").
    // (under the agency's name, since the Gmail connection carries it).
    assert!(
        eml.lines()
            .any(|l| l.starts_with("From: ") && l.ends_with("<al-noor.travel@gmail.example>")),
        "{eml}"
    );
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

// ----- the real Gmail adapter, end to end ----------------------------------

/// The adapter's fixtures (realistic mail as clients send it).
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tms-adapters/tests/mail/fixtures"
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The Message-ID of `nested_mixed.eml`, the customer's mail.
const CUSTOMER_MESSAGE_ID: &str = "<20261202083000.4711@haddad-family.example>";

/// Polls ticket `id` until `done` holds for its detail, at most 20 s; the
/// detail.
async fn ticket_until(
    app: &TestApp,
    token: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, detail) = get(app, token, &format!("/api/v1/support/tickets/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        if done(&detail) || Instant::now() > deadline {
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server reads the mailbox through its own `GmailMailbox` (no fake)
/// from the Gmail API peer, sends through Gmail's SMTP route, and forgets
/// the mail on disconnect.
async fn the_real_gmail_adapter_end_to_end(db: &str) {
    let Some(sink) = start_sink() else { return };
    let google = Arc::new(Peer::default());
    let base = start_peer(google.clone()).await;
    // The Google peer's first access token expires within the refresh
    // margin, so the first sync refreshes it: the mailbox is read with the
    // refreshed one, and only with it.
    let gmail = GmailPeer::start("access-refreshed-1").await;
    let customer = gmail.add_message(None, &["INBOX"], &fixture("nested_mixed.eml"));
    let pdf = fixture("nested_mixed.pdf");
    // The parser's "2" (IMAP numbering) is Gmail's "1", its "1.2" Gmail's "0.1".
    gmail.add_attachment(&customer, "1", &pdf);
    gmail.add_attachment(&customer, "0.1", b"png bytes");
    gmail.add_message(None, &["INBOX"], &fixture("arabic_cp1256.eml"));
    gmail.add_message(None, &["INBOX"], &fixture("malformed.eml"));
    let mut config = gmail_config(&base, sink.port);
    config.api_url = gmail.base_url();
    let db = match db {
        "postgres" => match PgDatabase::create().await {
            Some(pg) => Db::Postgres(pg),
            None => return,
        },
        _ => Db::Sqlite,
    };
    let app = spawn_adjusted(
        db,
        |c| {
            fast_worker(c);
            c.gmail = config;
        },
        |server| server,
    )
    .await;
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;

    // Stored mail goes with the connection.
    let (_, settings) = get(&app, &owner, "/api/v1/mail/ops/settings").await;
    let mut changed = settings.clone();
    changed["delete_mail_on_disconnect"] = json!(true);
    let (status, saved) = send(
        &app,
        &owner,
        reqwest::Method::PUT,
        "/api/v1/mail/ops/settings",
        changed,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["delete_mail_on_disconnect"], true);

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
    google
        .codes
        .lock()
        .unwrap()
        .insert("code-1".into(), query["code_challenge"].clone());
    let response = callback(&app, &owner, "code-1", &query["state"]).await;
    assert_eq!(response.status(), StatusCode::OK);

    // The worker syncs the three mails into three tickets, decoded.
    let items = tickets(&app, &owner, 3).await;
    assert_eq!(items.len(), 3, "{items:?} {:?}", gmail.requests());
    let by_subject = |p: &dyn Fn(&str) -> bool| {
        items
            .iter()
            .find(|t| p(t["subject"].as_str().unwrap_or_default()))
            .unwrap_or_else(|| panic!("{items:?}"))
            .clone()
    };
    let visa = by_subject(&|s| s == "Passport copy for the visa");
    assert_eq!(visa["requester"], "omar@haddad-family.example");
    let hotel = by_subject(&|s| s == "حجز فندق");
    assert_eq!(hotel["requester"], "khaled@example.sa");
    let broken = by_subject(&|s| s.starts_with("Caf") && s.ends_with(" bad bytes"));
    assert_eq!(broken["requester"], "broken@example.com");
    let visa_id = visa["id"].as_str().unwrap().to_owned();

    let (_, detail) = get(&app, &owner, &format!("/api/v1/support/tickets/{visa_id}")).await;
    let message = &detail["messages"][0];
    assert_eq!(
        message["text"], "Please find my passport copy attached.\n[logo]",
        "{detail}"
    );
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{detail}");
    let file = attachments.iter().find(|a| a["part_id"] == "2").unwrap();
    assert_eq!(
        file["filename"],
        "\u{062C}\u{0648}\u{0627}\u{0632} \u{0633}\u{0641}\u{0631} Omar.pdf"
    );
    assert_eq!(file["size"], pdf.len() as u64);
    let (_, detail) = get(
        &app,
        &owner,
        &format!("/api/v1/support/tickets/{}", hotel["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        detail["messages"][0]["text"], "السلام عليكم، نريد حجز فندق في مكة لمدة خمس ليال.\nشكرا",
        "{detail}"
    );
    // The malformed one is kept as far as it parses.
    let (_, detail) = get(
        &app,
        &owner,
        &format!("/api/v1/support/tickets/{}", broken["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        detail["messages"][0]["text"], "The first part is fine.",
        "{detail}"
    );
    assert_eq!(
        detail["messages"][0]["attachments"][0]["filename"],
        "data.bin"
    );
    // ... and says what did not parse.
    assert_eq!(
        detail["messages"][0]["defects"],
        json!([
            "Subject: bytes that are not text were replaced",
            "no Date header",
            "multipart root: no closing boundary, the message may be truncated",
            "part 2: bad transfer encoding, kept as far as it decoded",
        ]),
        "{detail}"
    );
    let visa_detail = get(&app, &owner, &format!("/api/v1/support/tickets/{visa_id}"))
        .await
        .1;
    assert_eq!(
        visa_detail["messages"][0]["defects"],
        json!([]),
        "{visa_detail}"
    );

    // The attachment comes on demand, from Gmail, byte for byte.
    let message_id = message["id"].as_str().unwrap();
    let response = http()
        .get(app.url(&format!(
            "/api/v1/support/tickets/{visa_id}/messages/{message_id}/attachments/2"
        )))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), pdf);
    assert!(
        gmail
            .requests()
            .iter()
            .any(|r| r.contains(&format!("/messages/{customer}/attachments/"))),
        "{:?}",
        gmail.requests()
    );

    // A staff reply goes out threaded: through the Gmail API's
    // messages.send, with the refreshed token, into the ticket's Gmail
    // thread, and with In-Reply-To and References; nothing by SMTP.
    let response = http()
        .post(app.url(&format!("/api/v1/support/tickets/{visa_id}/replies")))
        .bearer_auth(&owner)
        .header("Idempotency-Key", "e2e-reply-1")
        .json(&json!({"text": "Your visa is ready."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let sent = gmail.sent();
        if !sent.is_empty() || Instant::now() > deadline {
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sent.len(), 1, "one reply, once: {:?}", gmail.requests());
    assert_eq!(
        sent[0].thread_id.as_deref(),
        Some(customer.as_str()),
        "into the customer's Gmail thread"
    );
    assert!(received(&sink, 0).await.is_empty(), "not by SMTP");
    let eml = &String::from_utf8(sent[0].raw.clone()).unwrap();
    assert!(
        eml.contains(&format!("In-Reply-To: {CUSTOMER_MESSAGE_ID}")),
        "{eml}"
    );
    assert!(
        eml.lines()
            .any(|l| l.starts_with("References:") && l.contains(CUSTOMER_MESSAGE_ID)),
        "{eml}"
    );
    let subject = "Re: Passport copy for the visa";
    assert!(
        eml.contains(&format!("Subject: {subject}"))
            || eml.contains(&format!(
                "Subject: =?utf-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(subject)
            )),
        "{eml}"
    );

    // The customer answers while the server runs: incremental history
    // sync brings it to the same ticket.
    let follow_up = format!(
        "From: \"Omar Haddad\" <omar@haddad-family.example>\r\n\
         To: Al Noor Travel <al-noor.travel@gmail.example>\r\n\
         Subject: Re: Passport copy for the visa\r\n\
         Date: Wed, 2 Dec 2026 09:30:00 +0300\r\n\
         Message-ID: <20261202093000.4712@haddad-family.example>\r\n\
         In-Reply-To: {CUSTOMER_MESSAGE_ID}\r\n\
         References: {CUSTOMER_MESSAGE_ID}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Thank you! And the hotel?\r\n"
    );
    gmail.add_message(Some(customer.as_str()), &["INBOX"], follow_up.as_bytes());
    let said = |d: &Value| {
        d["messages"]
            .as_array()
            .is_some_and(|ms| ms.iter().any(|m| m["text"] == "Thank you! And the hotel?"))
    };
    let detail = ticket_until(&app, &owner, &visa_id, said).await;
    assert!(said(&detail), "{detail} {:?}", gmail.requests());
    // The reply came back from Gmail in the ticket's thread: the sync
    // stored it there as the mailbox's own (outbound) message.
    let replied = |d: &Value| {
        d["messages"].as_array().is_some_and(|ms| {
            ms.iter().any(|m| {
                m["outbound"] == true
                    && m["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Your visa is ready."))
            })
        })
    };
    let detail = ticket_until(&app, &owner, &visa_id, replied).await;
    assert!(replied(&detail), "{detail}");
    assert!(
        gmail
            .message(&sent[0].id)
            .is_some_and(|m| m.thread_id == customer && m.labels == ["SENT"]),
        "{:?}",
        gmail.message(&sent[0].id)
    );
    assert!(
        gmail.requests().iter().any(|r| r.contains("/history?")),
        "{:?}",
        gmail.requests()
    );
    let (_, list) = get(&app, &owner, "/api/v1/support/tickets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");

    // Disconnect is critical; with the token it revokes at Google, stops
    // the sync and, by the setting, deletes the stored mail.
    let response = http()
        .delete(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let body: Value = response.json().await.unwrap();
    let confirm = body["confirmation_token"].as_str().unwrap().to_owned();
    let response = http()
        .delete(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .header("Tms-Confirm", confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        google.revoked.lock().unwrap().clone(),
        vec!["refresh-1".to_owned()]
    );
    let (_, sync) = get(&app, &owner, "/api/v1/mail/sync").await;
    assert_eq!(sync["enabled"], false, "{sync}");
    // "Sync now" has nothing to sync.
    let (status, _) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/mail/sync",
        json!({}),
    )
    .await;
    assert!(!status.is_server_error(), "{status}");
    let (_, sync) = get(&app, &owner, "/api/v1/mail/sync").await;
    assert_eq!(sync["enabled"], false, "{sync}");
    let (_, list) = get(&app, &owner, "/api/v1/support/tickets").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "tickets stay: {list}");
    for ticket in items {
        assert_eq!(ticket["subject"], "", "{ticket}");
        let (_, detail) = get(
            &app,
            &owner,
            &format!("/api/v1/support/tickets/{}", ticket["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(detail["messages"], json!([]), "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_gmail_adapter_syncs_replies_and_forgets_on_disconnect() {
    the_real_gmail_adapter_end_to_end("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_gmail_adapter_syncs_replies_and_forgets_on_disconnect_on_postgresql() {
    the_real_gmail_adapter_end_to_end("postgres").await;
}

// ----- the authorization matrix ---------------------------------------------

/// Every write on a ticket the caller may not see, and its read: 404 each.
async fn ticket_calls(app: &TestApp, token: &str, ticket: &str, assignee: &str) -> [StatusCode; 5] {
    use reqwest::Method as M;
    let path = format!("/api/v1/support/tickets/{ticket}");
    [
        get(app, token, &path).await.0,
        send(
            app,
            token,
            M::PUT,
            &format!("{path}/assignee"),
            json!({"assignee": assignee}),
        )
        .await
        .0,
        send(
            app,
            token,
            M::PUT,
            &format!("{path}/status"),
            json!({"status": "pending"}),
        )
        .await
        .0,
        send(
            app,
            token,
            M::POST,
            &format!("{path}/notes"),
            json!({"text": "a note"}),
        )
        .await
        .0,
        send(
            app,
            token,
            M::POST,
            &format!("{path}/replies"),
            json!({"text": "a reply"}),
        )
        .await
        .0,
    ]
}

async fn the_authorization_matrix_holds(db: &str) {
    use StatusCode as S;
    use reqwest::Method as M;
    // The mailbox is a fake here: the matrix is about the routes.
    let mailbox = Arc::new(FakeMailbox::new(10));
    let Some((app, _sink, google)) = app_with_mailbox(db, mailbox.clone()).await else {
        return;
    };
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;
    let tenant = tenant_id(&app, DEMO_SLUG).await;
    let here = {
        let store = app.store.clone().into_dyn();
        let mut uow = store.begin().await.unwrap();
        let scope = Scope {
            tenant_id: tenant,
            branches: BranchScope::All,
        };
        let first = uow
            .branches()
            .list(&scope, PageRequest::first())
            .await
            .unwrap()
            .items[0]
            .id;
        uow.rollback().await.unwrap();
        first
    };
    let (status, there) = send(
        &app,
        &owner,
        M::POST,
        "/api/v1/branches",
        json!({"name": "VIP desk"}),
    )
    .await;
    assert_eq!(status, S::CREATED, "{there}");
    let there = there["id"].as_str().unwrap().to_owned();
    let (status, rule) = send(
        &app,
        &owner,
        M::POST,
        "/api/v1/mail/rules",
        json!({"position": 1, "sender_domain": "vip.example", "branch_id": there}),
    )
    .await;
    assert_eq!(status, S::CREATED, "{rule}");

    // Connect Gmail (replies need a route).
    let (_, started) = send(
        &app,
        &owner,
        M::POST,
        "/api/v1/mail/gmail/connect",
        json!({}),
    )
    .await;
    let query = query_of(started["authorization_url"].as_str().unwrap());
    google
        .codes
        .lock()
        .unwrap()
        .insert("code-1".into(), query["code_challenge"].clone());
    let response = callback(&app, &owner, "code-1", &query["state"]).await;
    assert_eq!(response.status(), S::OK);

    // A ticket of the first branch for each role to work on, and one of
    // the VIP desk.
    let roles = [
        (Role::TenantSuperAdmin, BranchScope::All),
        (Role::Admin, BranchScope::All),
        (Role::Finance, BranchScope::All),
        (Role::Sales, BranchScope::only([here])),
        (Role::Umrah, BranchScope::All),
    ];
    let at = chrono::Utc::now() - chrono::Duration::hours(1);
    for (i, (role, _)) in roles.iter().enumerate() {
        mailbox.deliver(inbound(
            &format!("m{i}"),
            &format!("t{i}"),
            "ana@client.example",
            role.as_str(),
            at,
        ));
    }
    mailbox.deliver(inbound("vip", "tvip", "boss@vip.example", "VIP", at));
    let items = tickets(&app, &owner, roles.len() + 1).await;
    assert_eq!(items.len(), roles.len() + 1, "{items:?}");
    let id_of = |subject: &str| {
        items.iter().find(|t| t["subject"] == subject).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let vip = id_of("VIP");
    let me = get(&app, &owner, "/api/v1/auth/me").await.1;
    let owner_id = me["id"]
        .as_str()
        .or(me["user"]["id"].as_str())
        .unwrap()
        .to_owned();

    // list, read, assign, status, note, reply; list rules, create a rule,
    // read settings, change settings, read the sync, sync now.
    let all = [
        S::OK,
        S::OK,
        S::OK,
        S::OK,
        S::CREATED,
        S::CREATED,
        S::OK,
        S::CREATED,
        S::OK,
        S::OK,
        S::OK,
        S::OK,
    ];
    let expected: [[S; 12]; 5] = [
        all,
        all,
        // Finance reads tickets, nothing more.
        [
            S::OK,
            S::OK,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
        ],
        // Sales works tickets of its branch; the mail setup is not theirs.
        [
            S::OK,
            S::OK,
            S::OK,
            S::OK,
            S::CREATED,
            S::CREATED,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
            S::FORBIDDEN,
        ],
        [S::FORBIDDEN; 12],
    ];
    let mut tokens = Vec::new();
    for (i, ((role, scope), statuses)) in roles.into_iter().zip(expected).enumerate() {
        let token = if role == Role::TenantSuperAdmin {
            owner.clone()
        } else {
            add_staff(&app, tenant, role, scope, &staff_email(role)).await
        };
        let ticket = id_of(role.as_str());
        let path = format!("/api/v1/support/tickets/{ticket}");
        let (_, settings) = get(&app, &owner, "/api/v1/mail/ops/settings").await;
        let got = [
            get(&app, &token, "/api/v1/support/tickets").await.0,
            get(&app, &token, &path).await.0,
            send(&app, &token, M::PUT, &format!("{path}/assignee"), json!({"assignee": owner_id})).await.0,
            send(&app, &token, M::PUT, &format!("{path}/status"), json!({"status": "pending"})).await.0,
            send(&app, &token, M::POST, &format!("{path}/notes"), json!({"text": "a note"})).await.0,
            send(&app, &token, M::POST, &format!("{path}/replies"), json!({"text": "a reply"})).await.0,
            get(&app, &token, "/api/v1/mail/rules").await.0,
            send(
                &app,
                &token,
                M::POST,
                "/api/v1/mail/rules",
                json!({"position": 10 + i, "sender_domain": format!("r{i}.example"), "branch_id": here}),
            )
            .await
            .0,
            get(&app, &token, "/api/v1/mail/ops/settings").await.0,
            send(&app, &token, M::PUT, "/api/v1/mail/ops/settings", settings).await.0,
            get(&app, &token, "/api/v1/mail/sync").await.0,
            send(&app, &token, M::POST, "/api/v1/mail/sync", json!({})).await.0,
        ];
        assert_eq!(got, statuses, "{role:?}");
        tokens.push((role, token));
    }

    // Sales does not see the VIP desk's ticket: not in its list, 404 on
    // every call.
    let sales = &tokens.iter().find(|(r, _)| *r == Role::Sales).unwrap().1;
    let (_, list) = get(&app, sales, "/api/v1/support/tickets").await;
    let listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&vip.as_str()), "{list}");
    assert_eq!(listed.len(), items.len() - 1, "{list}");
    assert_eq!(
        ticket_calls(&app, sales, &vip, &owner_id).await,
        [S::NOT_FOUND; 5]
    );

    // Another tenant's owner: our tickets do not exist for them, and their
    // list is empty.
    let (_, stranger) = crate::helpers::stranger(&app, "other").await;
    assert_eq!(
        ticket_calls(&app, &stranger, &vip, &owner_id).await,
        [S::NOT_FOUND; 5]
    );
    let ours = id_of(Role::Admin.as_str());
    assert_eq!(
        ticket_calls(&app, &stranger, &ours, &owner_id).await,
        [S::NOT_FOUND; 5]
    );
    let (status, list) = get(&app, &stranger, "/api/v1/support/tickets").await;
    assert_eq!(status, S::OK);
    assert_eq!(list["items"], json!([]), "{list}");
    // An unknown id is 404 for our owner too.
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        ticket_calls(&app, &owner, &unknown, &owner_id).await,
        [S::NOT_FOUND; 5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_ops_authorization_matrix_and_isolation() {
    the_authorization_matrix_holds("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_ops_authorization_matrix_and_isolation_on_postgresql() {
    the_authorization_matrix_holds("postgres").await;
}
