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
