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

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tms_adapters::mail::{SmtpConfig, SmtpMailer, SmtpTls};
use tms_core::Error;
use tms_core::domain::Email;
use tms_core::id::{MessageId, TenantId};
use tms_core::ports::{MailTransport, MockMailTransport, OutboxMessage};
use tms_core::service::messaging::{MailRoute, compose};

/// A running SMTP sink; killed (and reaped) on drop, its folder removed.
struct Sink {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TMS_TEST_SMTPD") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

fn skip_or_fail(why: String) -> Option<Sink> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the SMTP test server is not available under CI=true: {why}");
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "\n==================================================================\n\
             SKIPPING the SMTP transport tests: {why}.\n\
             Install aiosmtpd (pip install aiosmtpd) or set TMS_TEST_SMTPD to a\n\
             Python that has it. Under CI=true this is a failure.\n\
             ==================================================================\n"
        );
    }
    None
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Starts the sink and waits for its "ready" line.
fn start_sink() -> Option<Sink> {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail/smtp_sink.py");
    let has_aiosmtpd = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match has_aiosmtpd {
        Ok(status) if status.success() => {}
        Ok(_) => return skip_or_fail(format!("{} has no aiosmtpd", python.display())),
        Err(e) => return skip_or_fail(format!("cannot run {} ({e})", python.display())),
    }
    let maildir = std::env::temp_dir().join(format!("tms-smtp-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&maildir).expect("maildir");
    let port = free_port();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(port.to_string())
        .arg(&maildir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SMTP sink");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the sink's first line");
    assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
    Some(Sink {
        child,
        port,
        maildir,
    })
}

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
