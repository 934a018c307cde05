//! Several `tms-server` processes on one PostgreSQL (issue 11): what one
//! replica does, the others see — lockout, sessions, confirmations, the
//! outbox — and the server survives its database and its mail server going
//! away. The processes are the built binary, connected as a role that owns
//! no table (row-level security binds it), with the tables' owner
//! migrating; each test has a database of its own.
//!
//! PostgreSQL comes from `TMS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), the SMTP sink from
//! aiosmtpd (`TMS_TEST_SMTPD`); either missing is a loud skip, a failure
//! under `CI=true`.

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod harness;
#[path = "../../../tms-adapters/tests/mail/sink.rs"]
mod sink;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use harness::{Database, PASSWORD, ServerEnv, http, message_ids, next_ip};

/// Lockout, logout and confirmation tokens live in the store: failures on
/// A lock the account on B, a session ended on A is ended on B, and a
/// confirmation token A issued is accepted by B (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_sessions_and_confirmations_are_shared_between_replicas() {
    let Some(db) = Database::create().await else {
        return;
    };
    let env = ServerEnv::for_database(&db).with("TMS_WORKER", "false");
    env.init();
    let (a, b) = tokio::join!(env.serve(), env.serve());

    // A session made on A works on B; logout on B ends it on A.
    let token = a.login().await;
    let me = |server: &harness::Server, token: &str| {
        http()
            .get(server.url("/api/v1/auth/me"))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(me(&b, &token).await.unwrap().status(), 200);
    let out = http()
        .post(b.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success(), "{}", out.status());
    assert_eq!(me(&a, &token).await.unwrap().status(), 401);
    assert_eq!(me(&b, &token).await.unwrap().status(), 401);

    // A confirmation token issued by A is accepted by B, and only once.
    let token = a.login().await;
    let branches: Value = http()
        .get(a.url("/api/v1/branches"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let branch = branches["items"][0]["id"].as_str().expect("a branch");
    let client: Value = http()
        .post(a.url("/api/v1/clients"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Shared Client", "branch_id": branch }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = client["client"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("client: {client}"));
    let on_a = http()
        .delete(a.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_a.status(), 428);
    let problem: Value = on_a.json().await.unwrap();
    let confirm = problem["confirmation_token"].as_str().expect("token");
    let delete_on_b = || {
        http()
            .delete(b.url(&format!("/api/v1/clients/{id}")))
            .bearer_auth(&token)
            .header("Tms-Confirm", confirm)
            .send()
    };
    assert_eq!(delete_on_b().await.unwrap().status(), 204);
    assert_ne!(delete_on_b().await.unwrap().status(), 204, "single use");

    // Five failures on A (from five addresses) lock the account on B,
    // even with the right password.
    for _ in 0..5 {
        let r = a.login_from(&next_ip(), "wrong-password-123456").await;
        assert_eq!(r.status(), 401);
    }
    let r = b.login_from(&next_ip(), PASSWORD).await;
    assert_eq!(r.status(), 423, "locked on the other replica");
}

/// Both replicas run the outbox worker against one SMTP server: every
/// message is delivered exactly once (counted by Message-ID at the sink).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_deliver_each_message_exactly_once() {
    const N: usize = 40;
    let Some(db) = Database::create().await else {
        return;
    };
    let Some(sink) = sink::start_sink() else {
        return;
    };
    let env = ServerEnv::for_database(&db)
        .with("TMS_MAIL_TRANSPORT", "smtp")
        .with("TMS_SMTP_HOST", "127.0.0.1")
        .with("TMS_SMTP_PORT", sink.port.to_string())
        .with("TMS_SMTP_TLS", "none")
        .with("TMS_WORKER", "true")
        .with("TMS_WORKER_POLL_MS", "50");
    env.init();
    let (a, b) = tokio::join!(env.serve(), env.serve());
    // N password-reset mails, asked for half on A, half on B.
    let (_, _) = tokio::join!(
        harness::request_resets(&a, N / 2),
        harness::request_resets(&b, N - N / 2)
    );
    let sent = harness::wait_for_count(&db, SENT, N as i64).await;
    assert_eq!(sent, N as i64);
    let ids = message_ids(&sink.maildir);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), N, "every message arrived");
    assert_eq!(ids.len(), N, "none arrived twice");
}

const SENT: &str = "SELECT count(*) FROM outbox WHERE status = 'sent'";

// --- faults (issue 11) ---

mod cluster;

/// The database stops under a running server: requests get 503 with
/// `Retry-After` (never a 500, never a dead process), `/healthz` stays 200
/// and `/readyz` says 503; the database comes back and so does the
/// service, by itself, with everything committed before the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_and_service_recovers_by_itself() {
    let Some(cluster) = cluster::Cluster::start() else {
        return;
    };
    let db = Database::create_on(&cluster.admin_url())
        .await
        .expect("the test cluster answers");
    let env = ServerEnv::for_database(&db)
        .with("TMS_WORKER", "false")
        // Waiting for a connection is bounded well inside the test's waits,
        // and shorter than the 10 s default so that the outage's dozen
        // requests answer in seconds.
        .with("TMS_DATABASE_ACQUIRE_TIMEOUT_MS", "2000")
        .with("TMS_REQUEST_TIMEOUT_SECS", "30");
    env.init();
    let mut server = env.serve().await;
    let token = server.login().await;
    let clients_url = server.url("/api/v1/clients");
    let branches: Value = http()
        .get(server.url("/api/v1/branches"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let branch = branches["items"][0]["id"].as_str().expect("a branch");
    let mut committed = Vec::new();
    for i in 0..5 {
        let r = http()
            .post(&clients_url)
            .bearer_auth(&token)
            .json(&json!({ "name": format!("Before Outage {i}"), "branch_id": branch }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        committed.push(body["client"]["id"].as_str().unwrap().to_owned());
    }

    cluster.stop_server();
    for _ in 0..3 {
        let r = http()
            .get(&clients_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "a read while the database is down");
        assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
        let r = http()
            .post(&clients_url)
            .bearer_auth(&token)
            .json(&json!({ "name": "During Outage", "branch_id": branch }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "a write while the database is down");
        assert!(r.headers().contains_key("retry-after"));
        let r = server.login_from(&next_ip(), PASSWORD).await;
        assert_eq!(r.status(), 503, "a login while the database is down");
        assert!(r.headers().contains_key("retry-after"));
        let r = http().get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "the process is up");
        let r = http().get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 503, "not ready");
        assert!(r.headers().contains_key("retry-after"));
    }
    assert!(
        server.child.try_wait().expect("status").is_none(),
        "the server is still running"
    );

    cluster.start_server();
    server.wait_ready().await;
    // The same session (it is in the database), the same rows.
    let mut listed = None;
    for _ in 0..600 {
        let r = http()
            .get(format!("{clients_url}?limit=100"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            listed = Some(r.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(r.status(), 503, "only 503 while recovering");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = listed.expect("service recovered");
    let ids: HashSet<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    for id in &committed {
        assert!(
            ids.contains(id.as_str()),
            "client {id} committed before the stop"
        );
    }
    let r = http()
        .post(&clients_url)
        .bearer_auth(&token)
        .json(&json!({ "name": "After Outage", "branch_id": branch }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "writes work again");
    server.kill();
}

/// The SMTP server is down while mail is written: the worker keeps the
/// messages (transient failures, retried with backoff) and delivers each
/// once after the server comes back on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_written_while_smtp_is_down_is_delivered_once_it_is_back() {
    const N: usize = 5;
    let Some(db) = Database::create().await else {
        return;
    };
    // Checked now, so that a missing aiosmtpd skips before anything runs.
    let Some(probe) = sink::start_sink() else {
        return;
    };
    drop(probe);
    let port = harness::free_port();
    let env = ServerEnv::for_database(&db)
        .with("TMS_MAIL_TRANSPORT", "smtp")
        .with("TMS_SMTP_HOST", "127.0.0.1")
        .with("TMS_SMTP_PORT", port.to_string())
        .with("TMS_SMTP_TLS", "none")
        .with("TMS_WORKER", "true")
        .with("TMS_WORKER_POLL_MS", "50")
        // 1 s, doubling: 8 attempts span about two minutes.
        .with("TMS_WORKER_RETRY_BASE_MS", "1000");
    env.init();
    let server = env.serve().await;
    harness::request_resets(&server, N).await;
    // Every message has been tried and has failed, transiently.
    let tried = harness::wait_for_count(
        &db,
        "SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts >= 1",
        N as i64,
    )
    .await;
    assert_eq!(
        tried, N as i64,
        "each message tried while the server is down"
    );
    let failed: i64 = harness::wait_for_count(&db, SENT, 0).await;
    assert_eq!(failed, 0, "nothing sent while the server is down");

    let maildir = tempfile::tempdir().expect("maildir");
    let mut smtp = harness::start_sink_at(port, maildir.path());
    let sent = harness::wait_for_count(&db, SENT, N as i64).await;
    let ids = message_ids(maildir.path());
    let _ = smtp.kill();
    let _ = smtp.wait();
    assert_eq!(sent, N as i64, "delivered after the server came back");
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (N, N), "each once: {ids:?}");
}

/// `kill -9` of the server while it sends a campaign of a few hundred
/// recipients, then a restart: every recipient ends with one message
/// delivered — none lost, none with two different messages. A message the
/// killed process handed to the SMTP server but could not record comes
/// back after its lease and may be delivered again: with the same
/// Message-ID (the outbox row's), which the test allows and reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_campaign_loses_and_doubles_nothing() {
    const RECIPIENTS: usize = 300;
    let Some(db) = Database::create().await else {
        return;
    };
    let Some(sink) = sink::start_sink() else {
        return;
    };
    let env = ServerEnv::for_database(&db)
        .with("TMS_MAIL_TRANSPORT", "smtp")
        .with("TMS_SMTP_HOST", "127.0.0.1")
        .with("TMS_SMTP_PORT", sink.port.to_string())
        .with("TMS_SMTP_TLS", "none")
        .with("TMS_WORKER", "true")
        .with("TMS_WORKER_POLL_MS", "50")
        .with("TMS_WORKER_RETRY_BASE_MS", "500")
        // What the killed process had claimed comes back after 3 s.
        .with("TMS_WORKER_LEASE_SECS", "3");
    env.init();
    seed_consenting_clients(&db, RECIPIENTS).await;
    let mut server = env.serve().await;
    let token = server.login().await;
    let post = |path: String, body: Value| {
        http()
            .post(server.url(&path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let template: Value = post(
        "/api/v1/templates".into(),
        json!({
            "name": "Offer",
            "channel": "email",
            "variables": ["client_name", "unsubscribe_url"],
            "default_language": "en",
            "variants": [{
                "language": "en",
                "subject": "Dear {{ client_name }}",
                "text": "Our offer.\nUnsubscribe: {{ unsubscribe_url }}",
                "html": "<p>{{ client_name }}</p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a>"
            }]
        }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let template = template["id"].as_str().expect("template").to_owned();
    let r = post(format!("/api/v1/templates/{template}/approve"), json!({}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let campaign: Value = post(
        "/api/v1/campaigns".into(),
        json!({ "name": "Killed", "template_id": template, "language": "en", "variables": {} }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let campaign = campaign["id"]
        .as_str()
        .unwrap_or_else(|| panic!("campaign: {campaign}"))
        .to_owned();
    let r = post(format!("/api/v1/campaigns/{campaign}/approve"), json!({}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let send = format!("/api/v1/campaigns/{campaign}/send");
    let r = post(send.clone(), json!({})).await.unwrap();
    assert_eq!(r.status(), 428);
    let problem: Value = r.json().await.unwrap();
    let confirm = problem["confirmation_token"].as_str().unwrap().to_owned();
    let r = http()
        .post(server.url(&send))
        .bearer_auth(&token)
        .header("Tms-Confirm", confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Some delivered, then the process dies without a word.
    let at_kill = harness::wait_for_count(&db, SENT, 20).await;
    server.kill();
    let before_restart = message_ids(&sink.maildir).len();
    eprintln!(
        "killed with {at_kill} messages recorded sent, {before_restart} received by the sink"
    );
    assert!(
        at_kill < RECIPIENTS as i64,
        "killed before the campaign was done ({at_kill} sent)"
    );

    let _server = env.serve().await;
    let sent = harness::wait_for_count(&db, SENT, RECIPIENTS as i64).await;
    assert_eq!(sent, RECIPIENTS as i64, "every recipient's message sent");
    let not_sent =
        harness::wait_for_count(&db, "SELECT count(*) FROM outbox WHERE status <> 'sent'", 0).await;
    assert_eq!(not_sent, 0, "nothing left pending or failed");
    let ids = message_ids(&sink.maildir);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), RECIPIENTS, "one Message-ID per recipient");
    eprintln!(
        "after the restart: {} messages received, {} distinct Message-IDs ({} redelivered \
         with their original Message-ID)",
        ids.len(),
        unique.len(),
        ids.len() - unique.len()
    );
}

/// `n` clients of the test tenant's branch with an email address and
/// marketing and email consent, written through the store as the server's
/// role (so under row-level security).
async fn seed_consenting_clients(db: &Database, n: usize) {
    use tms_core::domain::{ConsentChannel, Email};
    use tms_core::id::{BranchId, TenantId};
    use tms_core::testkit::{consent, new_client};

    let store = tms_adapters::sql::SqlStoreOptions::new(db.app_url.clone())
        .owner_url(db.owner_url.clone())
        .connect()
        .await
        .expect("store");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.owner_url)
        .await
        .expect("owner");
    let (tenant, branch): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT tenant_id, id FROM branches LIMIT 1")
            .fetch_one(&mut conn)
            .await
            .expect("the branch");
    let (tenant, branch) = (TenantId::from_uuid(tenant), BranchId::from_uuid(branch));
    let store = store.into_dyn();
    let mut uow = store.begin().await.expect("begin");
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    for i in 0..n {
        let mut client = new_client(tenant, branch, &format!("Recipient {i}"));
        client.email = Some(Email::parse(&format!("r{i}@clients.example")).unwrap());
        uow.clients().insert(&client).await.expect("client");
        for channel in [ConsentChannel::Marketing, ConsentChannel::Email] {
            uow.clients()
                .add_consent(&consent(&client, channel, true, at))
                .await
                .expect("consent");
        }
    }
    uow.commit().await.expect("commit");
}
