//! Automatic messages (issue 9) over the real server and its worker: a
//! confirmed booking mails the client its voucher (PDF) and calendar
//! (`.ics`), a cancelled one the calendar's cancellation, a payment its
//! receipt with the invoice attached. The delivered `.eml` files are read
//! back with an independent MIME parser (Python's `email` package, see
//! `tms-adapters/tests/mail/mime_tree.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::Email;
use tms_core::ports::Store as _;

use crate::bookings::{Agency, agency, send};
use crate::finance::{issued, payment_body, post};
use crate::helpers::{Db, TestApp, spawn};

const CLIENT_EMAIL: &str = "amina.khan@example.com";

/// The message's headers and MIME tree as Python's `email` package parses
/// it.
fn parse(eml: &Path) -> Value {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tms-adapters/tests/mail/mime_tree.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(eml)
        .output()
        .expect("python3 runs the MIME parser");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the parser")
}

/// Every delivered message to the client, parsed, oldest first.
fn delivered(folder: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .map(|f| parse(f))
        .filter(|m| m["headers"]["To"] == CLIENT_EMAIL)
        .collect()
}

/// Waits (at most 30 s) for a delivered message whose subject starts with
/// `subject`.
async fn wait_for(folder: &Path, subject: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = delivered(folder).into_iter().find(|m| {
            m["headers"]["Subject"]
                .as_str()
                .is_some_and(|s| s.starts_with(subject))
        }) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no mail \"{subject}\" in {}",
            folder.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leaf parts of a MIME tree, depth first.
fn leaves(node: &Value) -> Vec<&Value> {
    match node["children"].as_array() {
        Some(children) => children.iter().flat_map(leaves).collect(),
        None => vec![node],
    }
}

async fn give_the_client_an_address(app: &TestApp, a: &Agency) {
    let mut uow = app.store.begin().await.unwrap();
    let mut client = uow
        .clients()
        .get(a.tenant, a.client)
        .await
        .unwrap()
        .unwrap();
    client.email = Some(Email::parse(CLIENT_EMAIL).unwrap());
    uow.clients().update(&mut client).await.unwrap();
    uow.commit().await.unwrap();
}

async fn flow(app: TestApp) {
    let a = agency(&app).await;
    give_the_client_an_address(&app, &a).await;
    let folder = app.data_dir.path().join("mail").join(a.tenant.to_string());

    // Confirmed: the voucher and the calendar are attached.
    let (booking, reference) = crate::documents::booking(&app, &a).await;
    let mail = wait_for(&folder, &format!("Booking {reference} confirmed")).await;
    assert_eq!(mail["defects"], json!([]), "{mail}");
    assert_eq!(mail["headers"]["Auto-Submitted"], "auto-generated");
    let tree = &mail["tree"];
    assert_eq!(tree["type"], "multipart/mixed", "{tree}");
    let parts = leaves(tree);
    assert_eq!(parts.len(), 3, "{tree}");
    assert_eq!(parts[0]["type"], "text/plain");
    let text = parts[0]["text"].as_str().unwrap();
    assert!(text.contains(&reference), "{text}");
    assert!(text.contains("Makkah Clock Tower hotel"), "{text}");
    assert_eq!(parts[1]["type"], "application/pdf");
    assert_eq!(parts[1]["disposition"], "attachment");
    assert_eq!(parts[1]["filename"], format!("voucher-{reference}.pdf"));
    assert!(parts[1]["head"].as_str().unwrap().starts_with("%PDF-"));
    assert!(parts[1]["size"].as_u64().unwrap() > 1000);
    // The PDF a reader saves is the voucher the agency downloads: same
    // kind, same booking.
    let (status, _) = send(
        &app,
        a.owner(),
        reqwest::Method::GET,
        &format!("/api/v1/bookings/{booking}/voucher.pdf"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parts[2]["type"], "text/calendar");
    assert_eq!(parts[2]["params"]["method"], "PUBLISH");
    assert_eq!(parts[2]["filename"], format!("{reference}.ics"));
    let ics = parts[2]["text"].as_str().unwrap();
    assert!(ics.contains("BEGIN:VCALENDAR"), "{ics}");
    assert!(ics.contains("METHOD:PUBLISH"), "{ics}");

    // Cancelled: the calendar's cancellation follows.
    let (status, body) = send(
        &app,
        a.owner(),
        reqwest::Method::POST,
        &format!("/api/v1/bookings/{booking}/transitions"),
        Some(json!({ "to": "cancelled" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = wait_for(&folder, &format!("Booking {reference} cancelled")).await;
    let parts = leaves(&mail["tree"]);
    assert_eq!(parts.len(), 2, "{mail}");
    assert_eq!(parts[1]["params"]["method"], "CANCEL");
    assert!(parts[1]["text"].as_str().unwrap().contains("METHOD:CANCEL"));

    // A payment: its receipt, with the invoice it paid attached.
    let invoice = issued(&app, &a).await;
    let (status, body) = post(
        &app,
        a.token(tms_core::domain::Role::Finance),
        "/api/v1/payments",
        Some(payment_body(&a, "1150.00", Some(&invoice))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mail = wait_for(&folder, "Payment received: 1,150.00 SAR").await;
    let parts = leaves(&mail["tree"]);
    assert_eq!(parts.len(), 2, "{mail}");
    let text = parts[0]["text"].as_str().unwrap();
    assert!(text.contains("TRX-1"), "{text}");
    assert!(text.contains("INV-"), "{text}");
    assert_eq!(parts[1]["type"], "application/pdf");
    assert!(parts[1]["filename"].as_str().unwrap().ends_with(".pdf"));
    assert!(parts[1]["head"].as_str().unwrap().starts_with("%PDF-"));
}

#[tokio::test]
async fn confirmations_cancellations_and_receipts_arrive_with_their_documents_on_sqlite() {
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.mail.poll = Duration::from_millis(50);
    })
    .await;
    flow(app).await;
}

#[tokio::test]
async fn confirmations_cancellations_and_receipts_arrive_with_their_documents_on_postgresql() {
    let Some(db) = crate::helpers::PgDatabase::create().await else {
        return;
    };
    let app = spawn(Db::Postgres(db), tempfile::tempdir().unwrap(), |c| {
        c.mail.poll = Duration::from_millis(50);
    })
    .await;
    flow(app).await;
}
