//! Documents follow-ups (issue 8), over HTTP on SQLite and PostgreSQL:
//! the credit note PDF (`GET /api/v1/credit-notes/{id}/pdf`, authorized as
//! reading its invoice), the voucher's emergency contact set through the
//! branding endpoint, and an uploaded logo that really is in the served
//! vouchers and invoices (`pdfimages -list` shows an image of the logo's
//! size).
//!
//! Without poppler-utils the checks of the PDF's content say so loudly and
//! skip; under `CI=true` they fail.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::Role;

use crate::bookings::{agency, other_tenant_booking, send};
use crate::documents::{booking, get_pdf, poppler, poppler_run};
use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

/// An issued invoice of `client` in `branch` (created by `token`): two
/// nights at 5,000.00 SAR and 15 % VAT. Returns its id and number.
async fn issued_invoice(
    app: &TestApp,
    token: &str,
    branch: &str,
    client: &str,
) -> (String, String) {
    let (status, invoice) = send(
        app,
        token,
        reqwest::Method::POST,
        "/api/v1/invoices",
        Some(json!({
            "branch_id": branch, "client_id": client, "currency": "SAR",
            "lines": [{
                "description": "Makkah hotel, 2 nights", "quantity": 2,
                "unit_price": { "amount": "5000.00", "currency": "SAR" }, "tax_rate": 1500,
            }],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    let id = invoice["id"].as_str().unwrap().to_owned();
    let (status, issued) = send(
        app,
        token,
        reqwest::Method::POST,
        &format!("/api/v1/invoices/{id}/issue"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    (id, issued["number"].as_str().unwrap().to_owned())
}

/// A credit note of 1,000.00 SAR + 15 % on `invoice`; its id and number.
async fn credit(app: &TestApp, token: &str, invoice: &str) -> (String, String) {
    let (status, note) = send(
        app,
        token,
        reqwest::Method::POST,
        &format!("/api/v1/invoices/{invoice}/credit-notes"),
        Some(json!({
            "net": { "amount": "1000.00", "currency": "SAR" },
            "tax_rate": 1500,
            "reason": "Hotel night not used",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    (
        note["id"].as_str().unwrap().to_owned(),
        note["number"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn credit_note_flow(app: &TestApp) {
    let a = agency(app).await;
    let finance = a.token(Role::Finance);
    let (invoice, invoice_number) =
        issued_invoice(app, finance, &a.branch.to_string(), &a.client.to_string()).await;
    let (note, note_number) = credit(app, finance, &invoice).await;
    let path = format!("/api/v1/credit-notes/{note}/pdf");

    let (status, pdf, kind) = get_pdf(app, finance, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let checks = poppler();
    if checks {
        let text = poppler_run("pdftotext", &pdf);
        for expected in [
            "Credit note",
            note_number.as_str(),
            invoice_number.as_str(),
            "Hotel night not used",
            "1,000.00 SAR",
            "150.00 SAR",
            "1,150.00 SAR",
            "15%",
            "11,500.00 SAR",
            "10,350.00 SAR",
            "Page 1 of 1",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        assert!(poppler_run("pdfinfo", &pdf).contains("(A4)"));
    }
    let (status, pdf, _) = get_pdf(app, a.token(Role::Admin), &format!("{path}?page=letter")).await;
    assert_eq!(status, StatusCode::OK, "admins read financial records");
    if checks {
        let info = poppler_run("pdfinfo", &pdf);
        assert!(info.contains("612 x 792 pts (letter)"), "{info}");
    }
    let (status, _, _) = get_pdf(app, finance, &format!("{path}?page=legal")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // As for the invoice PDF: Sales may not read invoices; an unseen
    // branch's note, another tenant's and a non-id are 404.
    let (status, _, _) = get_pdf(app, a.token(Role::Sales), &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (there, _) = issued_invoice(
        app,
        a.owner(),
        &a.other_branch.to_string(),
        &a.other_client.to_string(),
    )
    .await;
    let (there_note, _) = credit(app, a.owner(), &there).await;
    let there_path = format!("/api/v1/credit-notes/{there_note}/pdf");
    let (status, _, _) = get_pdf(app, a.owner(), &there_path).await;
    assert_eq!(status, StatusCode::OK, "the super admin sees every branch");
    let (status, _, _) = get_pdf(app, finance, &there_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (foreign_token, _, _) = other_tenant_booking(app).await;
    let (status, _, _) = get_pdf(app, &foreign_token, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get_pdf(app, finance, "/api/v1/credit-notes/nope/pdf").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) =
        get_pdf(app, finance, &format!("/api/v1/credit-notes/{invoice}/pdf")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an invoice id is no credit note"
    );

    // The path is documented.
    let (status, doc) = send(
        app,
        finance,
        reqwest::Method::GET,
        "/api/v1/openapi.json",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"].get("/api/v1/credit-notes/{id}/pdf").is_some());
}

#[tokio::test]
async fn credit_note_pdf_is_authorized_like_its_invoice_on_sqlite() {
    let app = spawn_app().await;
    credit_note_flow(&app).await;
}

#[tokio::test]
async fn credit_note_pdf_is_authorized_like_its_invoice_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    credit_note_flow(&app).await;
}

async fn put_branding(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    send(
        app,
        token,
        reqwest::Method::PUT,
        "/api/v1/settings/branding",
        Some(body),
    )
    .await
}

async fn emergency_contact_flow(app: &TestApp) {
    let a = agency(app).await;
    let (id, _) = booking(app, &a).await;
    let body = |contact: Value, version: i64| {
        json!({
            "agency_name": "Al Noor Hajj & Umrah",
            "address": ["12 Corniche Road", "Jeddah 21442"],
            "version": version,
            "emergency_contact": contact,
        })
    };
    // Checked: an international phone, bounded name and notes.
    let (status, problem) = put_branding(
        app,
        a.owner(),
        body(json!({ "phone": "0501234567", "name": "Desk" }), 0),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "emergency_contact.phone");
    let (status, problem) = put_branding(
        app,
        a.owner(),
        body(
            json!({ "phone": "+966501234567", "name": "x".repeat(101) }),
            0,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "emergency_contact.name");
    let (status, _) = put_branding(
        app,
        a.token(Role::Sales),
        body(json!({ "phone": "+966501234567" }), 0),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, saved) = put_branding(
        app,
        a.token(Role::Admin),
        body(
            json!({ "phone": "+966 50 123 4567", "name": "Al Noor duty desk",
                    "notes": "24/7, Arabic and Urdu" }),
            0,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["emergency_contact"]["phone"], "+966501234567");
    let (status, read) = send(
        app,
        a.token(Role::Sales),
        reqwest::Method::GET,
        "/api/v1/settings/branding",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["emergency_contact"]["name"], "Al Noor duty desk");
    assert_eq!(read["emergency_contact"]["notes"], "24/7, Arabic and Urdu");

    let voucher = format!("/api/v1/bookings/{id}/voucher.pdf");
    let (status, pdf, _) = get_pdf(app, a.token(Role::Sales), &voucher).await;
    assert_eq!(status, StatusCode::OK);
    if poppler() {
        let text = poppler_run("pdftotext", &pdf);
        for expected in [
            "Emergency contact",
            "Al Noor duty desk: +966501234567 (24/7, Arabic and Urdu)",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    // Cleared, the voucher names the agency and its address again.
    let (status, saved) = put_branding(app, a.owner(), body(Value::Null, 1)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["emergency_contact"], Value::Null);
    let (_, pdf, _) = get_pdf(app, a.owner(), &voucher).await;
    if poppler() {
        let text = poppler_run("pdftotext", &pdf);
        assert!(!text.contains("+966501234567"), "{text}");
        assert!(
            text.contains("Al Noor Hajj & Umrah, 12 Corniche Road, Jeddah 21442"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn voucher_prints_the_emergency_contact_from_branding_on_sqlite() {
    let app = spawn_app().await;
    emergency_contact_flow(&app).await;
}

#[tokio::test]
async fn voucher_prints_the_emergency_contact_from_branding_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    emergency_contact_flow(&app).await;
}

// ------------------------------------------------------------------ logo

const LOGO_W: u32 = 37;
const LOGO_H: u32 = 23;

/// CRC-32 (IEEE) as PNG chunks need it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A `LOGO_W`×`LOGO_H` RGB PNG of one colour, encoded by hand (zlib with
/// stored blocks): an image no other test uses, so its size is its mark.
fn logo_png(rgb: [u8; 3]) -> Vec<u8> {
    // Each row: filter byte 0 (none), then the pixels.
    let mut row = vec![0u8];
    row.extend(rgb.iter().copied().cycle().take(3 * LOGO_W as usize));
    let raw = row.repeat(LOGO_H as usize);
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&LOGO_W.to_be_bytes());
    ihdr.extend_from_slice(&LOGO_H.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

const BOUNDARY: &str = "tms-logo-test-boundary-Qx81Lw";

async fn upload_logo(app: &TestApp, token: &str, png: &[u8]) -> (StatusCode, Value) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"logo.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let response = crate::helpers::http()
        .put(app.url("/api/v1/settings/branding/logo"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The images of `pdf` as `pdfimages -list` prints them: (width, height).
fn pdf_images(pdf: &[u8]) -> Vec<(u32, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdfimages")
        .arg("-list")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // page num type width height color comp bpc enc …, after two header lines.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            Some((cols.get(3)?.parse().ok()?, cols.get(4)?.parse().ok()?))
        })
        .collect()
}

async fn logo_flow(app: &TestApp) {
    let a = agency(app).await;
    let (id, _) = booking(app, &a).await;
    let (invoice, _) = issued_invoice(
        app,
        a.token(Role::Finance),
        &a.branch.to_string(),
        &a.client.to_string(),
    )
    .await;
    let voucher = format!("/api/v1/bookings/{id}/voucher.pdf");
    let invoice = format!("/api/v1/invoices/{invoice}/pdf");
    if !poppler() {
        return;
    }
    // Before: no image of the logo's size.
    let (_, pdf, _) = get_pdf(app, a.owner(), &voucher).await;
    assert!(!pdf_images(&pdf).contains(&(LOGO_W, LOGO_H)));

    let magenta = [0xd0, 0x10, 0xa0];
    let (status, file) = upload_logo(app, a.token(Role::Admin), &logo_png(magenta)).await;
    assert_eq!(status, StatusCode::OK, "{file}");

    for (path, token) in [
        (&voucher, a.token(Role::Sales)),
        (&invoice, a.token(Role::Finance)),
    ] {
        let (status, pdf, _) = get_pdf(app, token, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let images = pdf_images(&pdf);
        assert!(
            images.contains(&(LOGO_W, LOGO_H)),
            "{path}: no {LOGO_W}x{LOGO_H} image in {images:?}"
        );
        // And it is drawn: somewhere in the page's top band, a pixel of
        // the logo's colour.
        let ppm = render_ppm(&pdf);
        let found = (10..160).step_by(2).any(|y| {
            (10..580).step_by(2).any(|x| {
                let p = pixel_of(&ppm, x, y);
                p.iter().zip(magenta).all(|(a, b)| a.abs_diff(b) < 24)
            })
        });
        assert!(found, "{path}: no pixel of the logo's colour near the top");
    }
}

/// Page 1 of `pdf` rendered by pdftoppm at 72 dpi (one pixel a point),
/// as a binary PPM.
fn render_ppm(pdf: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftoppm")
        .args(["-r", "72", "-f", "1", "-l", "1"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The colour of the pixel at (`x`, `y`) of a binary PPM
/// (`P6 <w> <h> 255` then RGB triples).
fn pixel_of(ppm: &[u8], x: u32, y: u32) -> [u8; 3] {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&ppm[start..at]).into_owned());
    }
    let width: usize = fields[1].parse().unwrap();
    let data = &ppm[at + 1..];
    let i = (y as usize * width + x as usize) * 3;
    [data[i], data[i + 1], data[i + 2]]
}

#[tokio::test]
async fn an_uploaded_logo_is_in_the_served_pdfs_on_sqlite() {
    let app = spawn_app().await;
    logo_flow(&app).await;
}

#[tokio::test]
async fn an_uploaded_logo_is_in_the_served_pdfs_on_postgres() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    logo_flow(&app).await;
}
