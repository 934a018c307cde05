//! The SMTP transport against a real SMTP server: aiosmtpd (from PyPI,
//! installed by `.ci/run` into `.ci/venv`), started by the harness on a
//! free loopback port for each test with `tests/mail/smtp_sink.py`, which
//! writes every accepted message to a folder and answers scripted failures
//! by recipient.
//!
//! The Python interpreter is `$TMS_TEST_SMTPD` (set by `.ci/run`), else
//! `.ci/venv/bin/python` of the workspace, else `python3`. When none has
//! aiosmtpd the tests say so loudly and skip — except under `CI=true`,
//! where that fails them.

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
#![cfg(feature = "smtp")]

mod sink;

use std::time::Duration;

use chrono::Utc;
use tms_adapters::mail::{SmtpConfig, SmtpMailer, SmtpTls};
use tms_core::Error;
use tms_core::domain::Email;
use tms_core::id::{MessageId, TenantId};
use tms_core::ports::{MailTransport, MockMailTransport, OutboxMessage};
use tms_core::service::messaging::{MailRoute, compose};

use sink::{Sink, free_port, start_sink};

fn mailer(sink: &Sink) -> SmtpMailer {
    let mut config = SmtpConfig::new("127.0.0.1", sink.port, SmtpTls::None);
    config.timeout = Duration::from_secs(10);
    SmtpMailer::new(&config).expect("mailer")
}

fn message(to: &str) -> OutboxMessage {
    OutboxMessage::email(
        MessageId::new(),
        TenantId::new(),
        Email::parse(to).expect("email"),
        "Booking BK-2026-000042 — تأكيد الحجز",
        "Assalamu alaikum Amina,\nyour Umrah package is confirmed.\n",
        Utc::now(),
    )
}

fn route() -> MailRoute {
    MailRoute {
        transport: std::sync::Arc::new(MockMailTransport::new()),
        name: "smtp".into(),
        from: Email::parse("bookings@al-noor.example").expect("email"),
        from_name: Some("Al-Noor Travel".into()),
    }
}

fn delivered(sink: &Sink) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in 1.. {
        let eml = sink.maildir.join(format!("{n}.eml"));
        let Ok(raw) = std::fs::read_to_string(&eml) else {
            break;
        };
        let envelope = std::fs::read_to_string(sink.maildir.join(format!("{n}.env"))).unwrap();
        out.push((envelope, raw));
    }
    out
}

/// The decoded `Subject` of a raw message: its RFC 2047 words joined.
fn subject_of(raw: &str) -> String {
    use base64::Engine as _;
    let start = raw.find("Subject: ").expect("a subject") + "Subject: ".len();
    let mut value = Vec::new();
    for (i, line) in raw[start..].split("\r\n").enumerate() {
        if i > 0 && !line.starts_with(' ') {
            break;
        }
        let word = line
            .trim()
            .trim_start_matches("=?utf-8?B?")
            .trim_end_matches("?=");
        value.extend(
            base64::engine::general_purpose::STANDARD
                .decode(word)
                .expect("base64 word"),
        );
    }
    String::from_utf8(value).expect("utf-8")
}

#[tokio::test]
async fn a_message_arrives_whole_with_its_envelope_and_message_id() {
    let Some(sink) = start_sink() else { return };
    let message = message("amina@example.com");
    let mail = compose(&message, &route(), Utc::now()).unwrap();
    let receipt = mailer(&sink).send(&mail).await.expect("sent");
    let id = receipt.provider_message_id.expect("the server's answer");
    assert!(id.contains("queued as SINK1"), "{id}");
    let got = delivered(&sink);
    assert_eq!(got.len(), 1);
    let (envelope, raw) = &got[0];
    assert_eq!(envelope, "bookings@al-noor.example\namina@example.com\n");
    assert!(raw.contains(&format!("Message-ID: {}", message.message_id)));
    assert!(raw.contains("To: amina@example.com"));
    assert_eq!(
        subject_of(raw),
        message.summary(),
        "the subject survives: {raw}"
    );
}

#[tokio::test]
async fn a_550_is_permanent_and_a_451_is_worth_retrying() {
    let Some(sink) = start_sink() else { return };
    let mailer = mailer(&sink);
    let nobody = compose(&message("nobody@example.com"), &route(), Utc::now()).unwrap();
    let err = mailer.send(&nobody).await.unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains("550"), "{err}");
    let busy = compose(&message("busy@example.com"), &route(), Utc::now()).unwrap();
    let err = mailer.send(&busy).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(delivered(&sink).is_empty());
    // The connection pool recovers: the next message goes through.
    let fine = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
    mailer.send(&fine).await.expect("sent after the failures");
    assert_eq!(delivered(&sink).len(), 1);
}

#[tokio::test]
async fn a_server_that_is_down_is_unavailable_not_a_panic() {
    let port = free_port(); // nothing listens there
    let mut config = SmtpConfig::new("127.0.0.1", port, SmtpTls::None);
    config.timeout = Duration::from_secs(5);
    let mailer = SmtpMailer::new(&config).unwrap();
    let mail = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
    let err = mailer.send(&mail).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[test]
fn outside_a_runtime_building_a_mailer_is_an_error_not_a_panic() {
    let config = SmtpConfig::new("smtp.example.com", 587, SmtpTls::StartTls);
    assert!(matches!(
        SmtpMailer::new(&config),
        Err(Error::Internal { .. })
    ));
}

#[tokio::test]
async fn the_password_never_shows_in_debug_output() {
    let config = SmtpConfig::new("smtp.example.com", 587, SmtpTls::StartTls).with_login(
        "bookings@al-noor.example",
        "s3cret-app-password".to_owned().into(),
    );
    let text = format!("{config:?} {:?}", SmtpMailer::new(&config).unwrap());
    assert!(!text.contains("s3cret"), "{text}");
}

// --- mail connections (issue 9) ---

fn xoauth2_mailer(sink: &Sink, user: &str, token: &str) -> SmtpMailer {
    let mut config = SmtpConfig::new("127.0.0.1", sink.port, SmtpTls::None)
        .with_login(user, token.to_owned().into());
    config.xoauth2 = true;
    config.timeout = Duration::from_secs(10);
    SmtpMailer::new(&config).unwrap()
}

#[tokio::test]
async fn xoauth2_logs_in_as_the_account_with_the_access_token() {
    let Some(sink) = start_sink() else { return };
    let mailer = xoauth2_mailer(&sink, "al-noor.travel@gmail.example", "ya29.fresh-token");
    let mail = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
    mailer.send(&mail).await.expect("sent");
    let auth = std::fs::read_to_string(sink.maildir.join("1.auth")).unwrap();
    assert_eq!(
        auth,
        "XOAUTH2 al-noor.travel@gmail.example ya29.fresh-token"
    );
}

#[tokio::test]
async fn a_refused_access_token_is_worth_retrying_after_a_refresh() {
    let Some(sink) = start_sink() else { return };
    // The sink answers 535 to "expired-token", as Gmail does to a stale one.
    let mailer = xoauth2_mailer(&sink, "al-noor.travel@gmail.example", "expired-token");
    let mail = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
    let err = mailer.send(&mail).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(delivered(&sink).is_empty());
}

// --- throughput, TLS and faults (issue 9) ---

/// A mailer to `localhost` (the name the test certificate carries) with
/// the given protection, trusting the sink's CA when `trust` is set.
fn tls_mailer(sink: &Sink, tls: SmtpTls, trust: bool) -> SmtpMailer {
    let mut config = SmtpConfig::new("localhost", sink.port, tls)
        .with_login("bookings@al-noor.example", "app-password".to_owned().into());
    if trust {
        let ca = std::fs::read(sink.maildir.join("ca.pem")).expect("the sink's CA");
        config = config.with_root_certificate(ca);
    }
    config.timeout = Duration::from_secs(10);
    SmtpMailer::new(&config).expect("mailer")
}

#[tokio::test]
async fn starttls_and_implicit_tls_deliver_only_to_a_certificate_that_checks_out() {
    for (option, tls) in [
        ("tls=starttls", SmtpTls::StartTls),
        ("tls=implicit", SmtpTls::Tls),
    ] {
        let Some(sink) = sink::start_sink_with(&[option]) else {
            return;
        };
        // The sink's certificate is signed by a CA nobody trusts by
        // default: refused, as a transient failure (the operator may fix
        // the trust store), and nothing is sent.
        let mail = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
        let err = tls_mailer(&sink, tls, false).send(&mail).await.unwrap_err();
        assert!(
            matches!(err, Error::Unavailable { .. }),
            "{option}: {err:?}"
        );
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{option}: {err}"
        );
        assert!(delivered(&sink).is_empty(), "{option}");

        // Trusting the CA: delivered, logged in over the encrypted channel.
        let mailer = tls_mailer(&sink, tls, true);
        for n in 1..=3 {
            let mail = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
            mailer
                .send(&mail)
                .await
                .unwrap_or_else(|e| panic!("{option}: message {n}: {e}"));
        }
        assert_eq!(delivered(&sink).len(), 3, "{option}");
        let auth = std::fs::read_to_string(sink.maildir.join("1.auth")).unwrap();
        assert_eq!(
            auth, "PLAIN bookings@al-noor.example app-password",
            "{option}"
        );
    }
    // A plain client to a server that requires STARTTLS: refused with the
    // server's answer, not a panic and not a plain-text send.
    let Some(sink) = sink::start_sink_with(&["tls=starttls"]) else {
        return;
    };
    let mail = compose(&message("amina@example.com"), &route(), Utc::now()).unwrap();
    let err = mailer(&sink).send(&mail).await.unwrap_err();
    assert!(err.to_string().contains("530"), "{err}");
    assert!(delivered(&sink).is_empty());
}

#[tokio::test]
async fn concurrent_sends_share_the_pool_and_each_arrives_once() {
    let Some(sink) = start_sink() else { return };
    let mut config = SmtpConfig::new("127.0.0.1", sink.port, SmtpTls::None);
    config.max_connections = 4;
    let mailer = SmtpMailer::new(&config).unwrap();
    let messages: Vec<_> = (0..60)
        .map(|i| message(&format!("client{i}@example.com")))
        .collect();
    let sends = messages.iter().map(|m| {
        let mailer = mailer.clone();
        let mail = compose(m, &route(), Utc::now()).unwrap();
        async move { mailer.send(&mail).await }
    });
    for result in futures_util::future::join_all(sends).await {
        result.expect("sent");
    }
    let got = delivered(&sink);
    assert_eq!(got.len(), messages.len());
    for m in &messages {
        let carrying = got
            .iter()
            .filter(|(_, raw)| raw.contains(&format!("Message-ID: {}", m.message_id)))
            .count();
        assert_eq!(carrying, 1, "{} arrived {carrying} times", m.message_id);
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_server_refusing_the_first_attempts_gets_the_message_after_backoff() {
    use std::sync::Arc;

    use tms_adapters::sql::SqlStore;
    use tms_core::ports::{Clock as _, FixedClock, OutboxStatus, SeededRandom};
    use tms_core::security::password::PasswordHasher;
    use tms_core::service::messaging::{Courier, RetryPolicy, SingleRoute};
    use tms_core::service::tenancy::Deps;
    use tms_core::testkit::{now, seed_tenant};

    // A real SMTP server that answers 451 to the first two messages, a
    // real store, the real courier; only time is the test's.
    let Some(sink) = sink::start_sink_with(&["refuse-first=2"]) else {
        return;
    };
    let file = std::env::temp_dir().join(format!("tms_mail_{}.db", uuid::Uuid::now_v7().simple()));
    let store = SqlStore::connect(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .expect("store")
        .into_dyn();
    let tenant = seed_tenant(store.as_ref()).await.id;
    let clock = Arc::new(FixedClock::new(now()));
    let deps = Deps {
        store: store.clone(),
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(7)),
        hasher: PasswordHasher::owasp(),
    };
    let route = MailRoute {
        transport: Arc::new(mailer(&sink)),
        ..route()
    };
    let policy = RetryPolicy {
        base_delay: chrono::Duration::seconds(30),
        max_delay: chrono::Duration::hours(1),
        max_attempts: 5,
        lease: chrono::Duration::minutes(5),
    };
    let courier = Courier::new(deps, Arc::new(SingleRoute(route))).with_policy(policy);
    let mut written = message("amina@example.com");
    written.tenant_id = tenant;
    written.not_before = clock.now();
    let mut uow = store.begin().await.unwrap();
    uow.outbox().enqueue(&written).await.unwrap();
    uow.commit().await.unwrap();

    let mut waits = Vec::new();
    for attempt in 1..=3 {
        let report = courier.deliver_due().await.expect("deliver");
        assert_eq!(report.claimed, 1, "attempt {attempt}: {report:?}");
        let mut uow = store.begin().await.unwrap();
        let stored = uow.outbox().get(tenant, written.id).await.unwrap().unwrap();
        uow.rollback().await.unwrap();
        if attempt < 3 {
            assert_eq!(report.retried, 1, "attempt {attempt}: {report:?}");
            assert_eq!(stored.status, OutboxStatus::Pending);
            let wait = stored.not_before - clock.now();
            waits.push(wait);
            // Not due before its backoff has passed.
            clock.advance(wait - chrono::Duration::seconds(1));
            assert_eq!(courier.deliver_due().await.unwrap().claimed, 0);
            clock.advance(chrono::Duration::seconds(1));
        } else {
            assert_eq!(report.sent, 1, "{report:?}");
            assert_eq!(stored.status, OutboxStatus::Sent);
        }
    }
    // Exponential with equal jitter: 15–30 s, then 30–60 s.
    assert!(
        waits[0] >= chrono::Duration::seconds(15) && waits[0] <= chrono::Duration::seconds(30),
        "{waits:?}"
    );
    assert!(
        waits[1] >= chrono::Duration::seconds(30) && waits[1] <= chrono::Duration::seconds(60),
        "{waits:?}"
    );
    // Delivered once, with the Message-ID it was written with; every
    // attempt is in the delivery log with the server's answer.
    let got = delivered(&sink);
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .1
            .contains(&format!("Message-ID: {}", written.message_id))
    );
    let mut uow = store.begin().await.unwrap();
    let log = uow.outbox().deliveries(tenant, written.id).await.unwrap();
    uow.rollback().await.unwrap();
    let outcomes: Vec<_> = log.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retry", "retry", "sent"]);
    assert!(
        log[0].error.as_deref().unwrap_or("").contains("451"),
        "{log:?}"
    );
    assert!(
        log[2]
            .provider_message_id
            .as_deref()
            .unwrap_or("")
            .contains("SINK1")
    );
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}
