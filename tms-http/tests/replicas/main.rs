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
use sqlx::Connection as _;

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
    let id = client["client"]["id"].as_str().unwrap_or_else(|| panic!("client: {client}"));
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
    for i in 0..N {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = http()
            .post(server.url("/api/v1/auth/password-reset"))
            .header("X-Forwarded-For", next_ip())
            .json(&json!({ "tenant": harness::SLUG, "email": harness::EMAIL }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let sent = wait_until_sent(&db, N).await;
    assert_eq!(sent, N);
    let ids = message_ids(&sink.maildir);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), N, "every message arrived");
    assert_eq!(ids.len(), N, "none arrived twice");
}

/// Polls (as the owner) until `n` outbox messages are sent; how many are.
async fn wait_until_sent(db: &Database, n: usize) -> usize {
    let mut sent = 0;
    for _ in 0..1200 {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&db.owner_url).await {
            let count: Result<(i64,), _> =
                sqlx::query_as("SELECT count(*) FROM outbox WHERE status = 'sent'")
                    .fetch_one(&mut conn)
                    .await;
            let _ = conn.close().await;
            if let Ok((count,)) = count {
                sent = usize::try_from(count).unwrap_or_default();
                if sent >= n {
                    return sent;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sent
}
