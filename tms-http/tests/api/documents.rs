//! `/api/v1/…/voucher.pdf`, `confirmation.pdf`, `invoices/{id}/pdf`: real
//! PDFs read back with pdftotext (poppler-utils) — the booking's reference,
//! Arabic and Urdu names in reading order, local flight times, money in its
//! currency — page sizes, and the same authorization as reading the record
//! (another tenant's id → 404). On SQLite and PostgreSQL.
//!
//! Without poppler-utils the checks of the PDF's text say so loudly and
//! skip; under `CI=true` they fail.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;
use tms_core::domain::Role;

use crate::bookings::{Agency, agency, other_tenant_booking, send};
use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

pub(crate) fn poppler() -> bool {
    let found = Command::new("pdftotext").arg("-v").output().is_ok();
    if !found {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "pdftotext (poppler-utils) is required under CI=true"
        );
        eprintln!(
            "\n*** SKIPPED: pdftotext not found; install poppler-utils to check PDF text ***\n"
        );
    }
    found
}

/// Runs a poppler tool on the PDF: `pdftotext` (the text) or `pdfinfo`.
pub(crate) fn poppler_run(tool: &str, pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let mut cmd = Command::new(tool);
    if tool == "pdftotext" {
        cmd.args(["-enc", "UTF-8"]).arg(&path).arg("-");
    } else {
        cmd.arg(&path);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Table cells wrap, and pdftotext marks right-to-left runs with bidi
    // embedding controls: compare words, not lines.
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(
            ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'],
            "",
        )
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) async fn get_pdf(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (StatusCode, Vec<u8>, String) {
    let response = crate::helpers::http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, response.bytes().await.unwrap().to_vec(), kind)
}

/// A booking with an Arabic-named and an Urdu-named traveller, a dated
/// hotel and a flight ticket; returns its id and reference.
pub(crate) async fn booking(app: &TestApp, a: &Agency) -> (String, String) {
    let (status, booking) = send(
        app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/bookings",
        Some(json!({
            "branch_id": a.branch.to_string(),
            "client_id": a.client.to_string(),
            "travellers": [
                { "name": "محمد عبد الله", "latin_name": "ABDULLAH MUHAMMAD",
                  "date_of_birth": "1985-03-02" },
                { "name": "آمنہ خان", "latin_name": "KHAN AMINA",
                  "date_of_birth": "1990-05-17", "passport_number": "AB1234567" },
            ],
            "items": [{
                "kind": "hotel", "description": "Makkah Clock Tower hotel",
                "supplier_name": "Al Safwa",
                "supplier_cost": { "amount": "9000", "currency": "SAR" },
                "sell_price": { "amount": "12500.50", "currency": "SAR" },
                "starts_on": "2026-12-10", "ends_on": "2026-12-13",
            }],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    let id = booking["id"].as_str().unwrap().to_owned();
    let passenger = booking["travellers"][0]["id"].as_str().unwrap().to_owned();
    // Tickets are issued on confirmed bookings.
    for to in ["pending", "confirmed"] {
        let (status, body) = send(
            app,
            a.owner(),
            reqwest::Method::POST,
            &format!("/api/v1/bookings/{id}/transitions"),
            Some(json!({ "to": to })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, ticket) = send(
        app,
        a.owner(),
        reqwest::Method::POST,
        &format!("/api/v1/bookings/{id}/tickets"),
        Some(json!({
            "pnr": "AB12CD", "airline": "SV", "ticket_number": "0652134567890",
            "passenger_id": passenger,
            "segments": [{
                "from": "KHI", "to": "JED", "flight_number": "SV701",
                "departure": { "local": "2026-12-10T10:00:00", "zone": "Asia/Karachi" },
                "arrival": { "local": "2026-12-10T11:30:00", "zone": "Asia/Riyadh" },
            }],
            "fare": { "amount": "1500", "currency": "SAR" },
            "taxes": { "amount": "230.50", "currency": "SAR" },
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    (id, booking["reference"].as_str().unwrap().to_owned())
}

async fn documents_flow(app: &TestApp) {
    let a = agency(app).await;
    let (id, reference) = booking(app, &a).await;

    let (status, pdf, kind) = get_pdf(
        app,
        a.owner(),
        &format!("/api/v1/bookings/{id}/voucher.pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let checks = poppler();
    if checks {
        let text = poppler_run("pdftotext", &pdf);
        for expected in [
            "Travel voucher",
            reference.as_str(),
            "محمد عبد الله",
            "آمنہ خان",
            "ABDULLAH MUHAMMAD",
            "Makkah Clock Tower hotel",
            "SV701",
            "10 Dec 2026 10:00 (Asia/Karachi)",
            "10 Dec 2026 11:30 (Asia/Riyadh)",
            "Emergency contact",
            "Page 1 of 1",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        // The passport number is not on a voucher.
        assert!(!text.contains("AB1234567"));
        let info = poppler_run("pdfinfo", &pdf);
        assert!(info.contains("(A4)"), "{info}");
    }

    // Letter on request; an unknown size is a 422.
    let (status, pdf, _) = get_pdf(
        app,
        a.owner(),
        &format!("/api/v1/bookings/{id}/voucher.pdf?page=letter"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    if checks {
        let info = poppler_run("pdfinfo", &pdf);
        assert!(info.contains("612 x 792 pts (letter)"), "{info}");
    }
    let (status, _, kind) = get_pdf(
        app,
        a.owner(),
        &format!("/api/v1/bookings/{id}/voucher.pdf?page=legal"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(kind.starts_with("application/problem+json"));

    // The confirmation has the price in its currency.
    let (status, pdf, _) = get_pdf(
        app,
        a.token(Role::Sales),
        &format!("/api/v1/bookings/{id}/confirmation.pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    if checks {
        let text = poppler_run("pdftotext", &pdf);
        assert!(text.contains("Booking confirmation"), "{text}");
        assert!(text.contains("12,500.50 SAR"), "{text}");
    }

    // Read rights decide: Finance reads bookings, Umrah does not.
    let path = format!("/api/v1/bookings/{id}/voucher.pdf");
    let (status, _, _) = get_pdf(app, a.token(Role::Finance), &path).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get_pdf(app, a.token(Role::Umrah), &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another tenant's booking, and ids that are not ids: 404.
    let (foreign_token, foreign_booking, _) = other_tenant_booking(app).await;
    let (status, _, _) = get_pdf(
        app,
        a.owner(),
        &format!("/api/v1/bookings/{foreign_booking}/voucher.pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get_pdf(app, &foreign_token, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get_pdf(app, a.owner(), "/api/v1/bookings/nope/voucher.pdf").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An invoice: lines, tax and totals in SAR.
    let (status, invoice) = send(
        app,
        a.token(Role::Finance),
        reqwest::Method::POST,
        "/api/v1/invoices",
        Some(json!({
            "branch_id": a.branch.to_string(),
            "client_id": a.client.to_string(),
            "currency": "SAR",
            "lines": [{
                "description": "Makkah hotel, 2 nights", "quantity": 2,
                "unit_price": { "amount": "5000.00", "currency": "SAR" }, "tax_rate": 1500,
            }],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    let invoice_id = invoice["id"].as_str().unwrap();
    let (status, issued) = send(
        app,
        a.token(Role::Finance),
        reqwest::Method::POST,
        &format!("/api/v1/invoices/{invoice_id}/issue"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let (status, pdf, _) = get_pdf(
        app,
        a.token(Role::Finance),
        &format!("/api/v1/invoices/{invoice_id}/pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    if checks {
        let text = poppler_run("pdftotext", &pdf);
        let number = issued["number"].as_str().unwrap_or_default();
        for expected in [
            number,
            "10,000.00 SAR",
            "1,500.00 SAR",
            "11,500.00 SAR",
            "15%",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }
    // Sales may not read invoices; the other tenant does not see it.
    let (status, _, _) = get_pdf(
        app,
        a.token(Role::Sales),
        &format!("/api/v1/invoices/{invoice_id}/pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get_pdf(
        app,
        &foreign_token,
        &format!("/api/v1/invoices/{invoice_id}/pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    manifest_flow(app, &a, &foreign_token).await;
}

/// The Umrah manifest: pilgrims in Arabic and Latin, passports hinted.
async fn manifest_flow(app: &TestApp, a: &Agency, foreign_token: &str) {
    let umrah = a.token(Role::Umrah);
    let (status, group) = send(
        app,
        umrah,
        reqwest::Method::POST,
        "/api/v1/umrah/groups",
        Some(json!({
            "branch_id": a.branch.to_string(), "name": "قافلة رمضان", "season": "1448H",
            "departure_date": "2027-02-10", "return_date": "2027-02-24", "capacity": 40,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["id"].as_str().unwrap();
    for (name, latin, passport) in [
        ("محمد عبد الرحمن", "ABDULRAHMAN MUHAMMAD", "PK1234567"),
        ("فاطمہ بی بی", "BIBI FATIMA", "PK7654321"),
    ] {
        let (status, body) = send(
            app,
            umrah,
            reqwest::Method::POST,
            &format!("/api/v1/umrah/groups/{group}/pilgrims"),
            Some(json!({
                "name": name, "latin_name": latin,
                "gender": if latin.starts_with("BIBI") { "female" } else { "male" },
                "date_of_birth": "1980-01-15", "nationality": "pk",
                "passport_number": passport, "passport_expiry": "2030-01-31",
            })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let path = format!("/api/v1/umrah/groups/{group}/manifest.pdf");
    let (status, pdf, _) = get_pdf(app, umrah, &path).await;
    assert_eq!(status, StatusCode::OK);
    if poppler() {
        let text = poppler_run("pdftotext", &pdf);
        for expected in [
            "Umrah group manifest",
            "قافلة رمضان",
            "محمد عبد الرحمن",
            "فاطمہ بی بی",
            "ABDULRAHMAN MUHAMMAD",
            "…67",
            "2 of 40",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert!(
            !text.contains("PK1234567"),
            "full passport numbers stay in the CSV"
        );
    }
    let (status, _, _) = get_pdf(app, foreign_token, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn documents_render_and_are_authorized_like_their_records_on_sqlite() {
    let app = spawn_app().await;
    documents_flow(&app).await;
}

#[tokio::test]
async fn documents_render_and_are_authorized_like_their_records_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    documents_flow(&app).await;
}
