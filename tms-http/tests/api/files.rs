//! Files over HTTP: package images, booking documents, downloads, branding
//! and the logo — what the bytes are decides (a renamed `.exe` is a 422),
//! an upload over its limit is a 413, another tenant's or an out-of-scope
//! branch's file is a 404, deleting the owner deletes its files; on local
//! disk and on a real S3-protocol server (moto).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::Role;
use tms_core::testkit::{TINY_PNG, tiny_pdf};
use tms_http::config::{BlobConfig, S3Config};

use crate::bookings::{Agency, agency, other_tenant_booking, send};
use crate::helpers::{Db, TestApp, spawn, spawn_app, spawn_app_on_postgres};

const BOUNDARY: &str = "tms-files-test-boundary-7MA4YWxk";

/// A `multipart/form-data` body with one part `field` holding `bytes`
/// named `name` (built by hand: the workspace's reqwest has no multipart).
fn multipart(field: &str, name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload_part(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    field: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = crate::helpers::http()
        .request(method, app.url(path))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(field, name, &bytes))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    upload_part(app, token, method, path, "file", name, bytes).await
}

async fn post_file(
    app: &TestApp,
    token: &str,
    path: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    upload(app, token, reqwest::Method::POST, path, name, bytes).await
}

async fn download(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/files/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// A draft booking of the owner in `branch`; its id.
async fn booking_in(app: &TestApp, a: &Agency, branch: tms_core::id::BranchId) -> String {
    let client = if branch == a.branch {
        a.client
    } else {
        a.other_client
    };
    let (status, booking) = send(
        app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/bookings",
        Some(json!({
            "branch_id": branch.to_string(),
            "client_id": client.to_string(),
            "travellers": [{
                "name": "آمنہ خان", "latin_name": "KHAN AMINA",
                "date_of_birth": "1990-05-17", "passport_number": "AB1234567",
            }],
            "items": [{
                "kind": "hotel", "description": "Makkah hotel, 3 nights",
                "supplier_cost": { "amount": "900", "currency": "SAR" },
                "sell_price": { "amount": "1200", "currency": "SAR" },
                "starts_on": "2026-12-10", "ends_on": "2026-12-13",
            }],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    booking["id"].as_str().unwrap().to_owned()
}

/// How many blobs the local store holds under the data directory.
fn blobs_on_disk(app: &TestApp) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count(&path) } else { 1 }
                })
                .sum()
        })
    }
    count(&app.data_dir.path().join("files"))
}

async fn documents_and_downloads(app: &TestApp, local: bool) {
    let a = agency(app).await;
    let here = booking_in(app, &a, a.branch).await;
    let there = booking_in(app, &a, a.other_branch).await;
    let docs = |id: &str| format!("/api/v1/bookings/{id}/documents");

    // A Windows program renamed to look like a picture: refused by its bytes.
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    exe.extend_from_slice(b"This program cannot be run in DOS mode.");
    let (status, problem) = post_file(app, a.owner(), &docs(&here), "visa.png", exe).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["type"], "invalid");
    assert_eq!(problem["errors"][0]["field"], "file");
    // No part named `file`: a 422 that says so.
    let (status, problem) = upload_part(
        app,
        a.owner(),
        reqwest::Method::POST,
        &docs(&here),
        "note",
        "note.png",
        TINY_PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let (status, pdf) = post_file(
        app,
        a.token(Role::Sales),
        &docs(&here),
        "../scans/visa: final.PDF",
        tiny_pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pdf}");
    assert_eq!(pdf["content_type"], "application/pdf");
    assert_eq!(pdf["file_name"], "visa final.pdf");
    assert_eq!(pdf["owner_kind"], "booking");
    assert_eq!(pdf["size"], tiny_pdf().len());
    let pdf_id = pdf["id"].as_str().unwrap().to_owned();
    let (status, list) = send(app, a.owner(), reqwest::Method::GET, &docs(&here), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], pdf_id.as_str());

    if local {
        let response = download(app, a.token(Role::Finance), &pdf_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("content-type"), "application/pdf");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert!(
            header("content-disposition").starts_with("attachment; filename=\"visa final.pdf\""),
            "{}",
            header("content-disposition")
        );
        assert_eq!(&response.bytes().await.unwrap()[..], &tiny_pdf()[..]);
        assert_eq!(blobs_on_disk(app), 1);
    }

    // The other branch's booking and its document: 404 for a user scoped
    // to this branch — uploading, listing and downloading alike.
    let (status, theirs) =
        post_file(app, a.owner(), &docs(&there), "p.png", TINY_PNG.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    for role in [Role::Admin, Role::Sales, Role::Finance] {
        let token = a.token(role);
        assert_eq!(
            download(app, token, &theirs).await.status(),
            StatusCode::NOT_FOUND,
            "{role:?}"
        );
        let (status, _) = post_file(app, token, &docs(&there), "p.png", TINY_PNG.to_vec()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{role:?}");
        let (status, _) = send(app, token, reqwest::Method::GET, &docs(&there), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{role:?}");
        let (status, _) = send(
            app,
            token,
            reqwest::Method::DELETE,
            &format!("/api/v1/files/{theirs}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{role:?}");
    }
    // Another tenant: 404 for its file and for ours.
    let (other_token, other_booking, _) = other_tenant_booking(app).await;
    let (status, foreign) = post_file(
        app,
        &other_token,
        &docs(&other_booking),
        "x.pdf",
        tiny_pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{foreign}");
    let foreign = foreign["id"].as_str().unwrap().to_owned();
    assert_eq!(
        download(app, a.owner(), &foreign).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        download(app, &other_token, &pdf_id).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        download(app, a.owner(), "not-a-uuid").await.status(),
        StatusCode::NOT_FOUND
    );
    // Roles: Finance reads but does not delete; Umrah staff see nothing
    // operational.
    assert_eq!(
        download(app, a.token(Role::Umrah), &pdf_id).await.status(),
        StatusCode::FORBIDDEN
    );
    let (status, _) = send(
        app,
        a.token(Role::Finance),
        reqwest::Method::DELETE,
        &format!("/api/v1/files/{pdf_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deleting a draft booking deletes its documents, rows and bytes.
    let (status, _) = send(
        app,
        a.owner(),
        reqwest::Method::DELETE,
        &format!("/api/v1/bookings/{here}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        download(app, a.owner(), &pdf_id).await.status(),
        StatusCode::NOT_FOUND
    );
    // One file deleted by hand.
    let (status, _) = send(
        app,
        a.owner(),
        reqwest::Method::DELETE,
        &format!("/api/v1/files/{theirs}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        download(app, a.owner(), &theirs).await.status(),
        StatusCode::NOT_FOUND
    );
    if local {
        // Only the other tenant's document is left on disk.
        assert_eq!(blobs_on_disk(app), 1);
    }
    let actions: Vec<String> = crate::helpers::audit_actions(app, "demo")
        .await
        .into_iter()
        .map(|(action, _)| action)
        .filter(|a| a.starts_with("file."))
        .collect();
    assert_eq!(
        actions,
        [
            "file.uploaded",
            "file.uploaded",
            "file.deleted",
            "file.deleted"
        ]
    );
}

#[tokio::test]
async fn booking_documents_are_checked_scoped_and_deleted_with_the_booking_on_sqlite() {
    let app = spawn_app().await;
    documents_and_downloads(&app, true).await;
}

#[tokio::test]
async fn booking_documents_are_checked_scoped_and_deleted_with_the_booking_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    documents_and_downloads(&app, true).await;
}

#[tokio::test]
async fn package_images_are_images_and_at_most_10_mib() {
    let app = spawn_app().await;
    let a = agency(&app).await;
    let (status, package) = send(
        &app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/packages",
        Some(json!({
            "title": "Umrah December", "description": "15 nights",
            "price": { "amount": "4500.00", "currency": "SAR" },
            "starts_on": "2026-12-10", "ends_on": "2026-12-25",
            "capacity": 10, "inclusions": ["Visa"],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{package}");
    let images = format!(
        "/api/v1/packages/{}/images",
        package["id"].as_str().unwrap()
    );
    let (status, image) = post_file(
        &app,
        a.token(Role::Sales),
        &images,
        "kaaba.png",
        TINY_PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    assert_eq!(image["content_type"], "image/png");
    // A PDF is a document, not an image.
    let (status, problem) = post_file(&app, a.owner(), &images, "brochure.png", tiny_pdf()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // Finance cannot add images.
    let (status, _) = post_file(
        &app,
        a.token(Role::Finance),
        &images,
        "x.png",
        TINY_PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // 11 MiB: refused with 413 once the limit is passed.
    let mut big = TINY_PNG.to_vec();
    big.resize(11 * 1024 * 1024, 0);
    let (status, problem) = post_file(&app, a.owner(), &images, "huge.png", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(problem["type"], "payload-too-large");
    let (status, list) = send(
        &app,
        a.token(Role::Finance),
        reqwest::Method::GET,
        &images,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Another tenant's package: 404.
    let (other_token, _, other_package) = other_tenant_booking(&app).await;
    let (status, _) = post_file(
        &app,
        a.owner(),
        &format!("/api/v1/packages/{other_package}/images"),
        "x.png",
        TINY_PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, &other_token, reqwest::Method::GET, &images, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Category images, likewise.
    let (status, category) = send(
        &app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/categories",
        Some(json!({ "name": "Umrah", "description": "Umrah packages" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{category}");
    let category_images = format!(
        "/api/v1/categories/{}/images",
        category["id"].as_str().unwrap()
    );
    let (status, image) = post_file(
        &app,
        a.owner(),
        &category_images,
        "c.png",
        TINY_PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{image}");
    assert_eq!(image["owner_kind"], "category");
    let (status, _) = send(
        &app,
        &other_token,
        reqwest::Method::GET,
        &category_images,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The paths are documented.
    let (status, doc) = send(
        &app,
        a.owner(),
        reqwest::Method::GET,
        "/api/v1/openapi.json",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/packages/{id}/images",
        "/api/v1/categories/{id}/images",
        "/api/v1/bookings/{id}/documents",
        "/api/v1/files/{id}",
        "/api/v1/settings/branding",
        "/api/v1/settings/branding/logo",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

#[tokio::test]
async fn branding_and_logo() {
    let app = spawn_app().await;
    let a = agency(&app).await;
    let (status, branding) = send(
        &app,
        a.token(Role::Sales),
        reqwest::Method::GET,
        "/api/v1/settings/branding",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{branding}");
    assert_eq!(branding["version"], 0);
    let body = |colour: &str, version: i64| {
        json!({
            "agency_name": "Al Noor Hajj & Umrah",
            "address": ["12 Corniche Road", "Jeddah 21442"],
            "accent_colour": colour,
            "version": version,
        })
    };
    let put = |token: &str, body: Value| {
        let token = token.to_owned();
        let app = &app;
        async move {
            send(
                app,
                &token,
                reqwest::Method::PUT,
                "/api/v1/settings/branding",
                Some(body),
            )
            .await
        }
    };
    let (status, problem) = put(a.owner(), body("green", 0)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "accent_colour");
    let (status, _) = put(a.token(Role::Sales), body("#0b5d3b", 0)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, saved) = put(a.token(Role::Admin), body("#0B5D3B", 0)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["accent_colour"], "#0b5d3b");
    assert_eq!(saved["version"], 1);
    let (status, _) = put(a.owner(), body("#000000", 0)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let logo = "/api/v1/settings/branding/logo";
    let (status, problem) = upload(
        &app,
        a.owner(),
        reqwest::Method::PUT,
        logo,
        "logo.png",
        b"MZ\x90\0not a png".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut big = TINY_PNG.to_vec();
    big.resize(3 * 1024 * 1024, 0);
    let (status, _) = upload(&app, a.owner(), reqwest::Method::PUT, logo, "logo.png", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, file) = upload(
        &app,
        a.owner(),
        reqwest::Method::PUT,
        logo,
        "logo.png",
        TINY_PNG.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{file}");
    let (_, branding) = send(
        &app,
        a.token(Role::Finance),
        reqwest::Method::GET,
        "/api/v1/settings/branding",
        None,
    )
    .await;
    assert_eq!(branding["logo_file_id"], file["id"]);
    assert_eq!(branding["agency_name"], "Al Noor Hajj & Umrah");
    // Every user of the tenant sees the logo; another tenant does not.
    let response = download(&app, a.token(Role::Umrah), file["id"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&response.bytes().await.unwrap()[..], &TINY_PNG[..]);
    let (other_token, _, _) = other_tenant_booking(&app).await;
    assert_eq!(
        download(&app, &other_token, file["id"].as_str().unwrap())
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

// ------------------------------------------------------------------- S3

const BUCKET: &str = "tms-http-test";

/// A running moto server; killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto (`$TMS_TEST_MOTO`, else `moto_server` on `PATH`) on a free
/// loopback port; `None` (said loudly) when it is not installed, except
/// under `CI=true`.
async fn start_moto() -> Option<Moto> {
    let binary = std::env::var("TMS_TEST_MOTO").unwrap_or_else(|_| "moto_server".to_owned());
    for _ in 0..3 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = match Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("moto is not available under CI=true: {e}");
                }
                eprintln!("\n!!! SKIPPING the S3 files test: cannot start `{binary}` ({e})\n");
                return None;
            }
        };
        let mut moto = Moto { child, port };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = moto.child.try_wait() {
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("`{binary}` did not start listening on loopback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_a_download_is_a_redirect_to_a_short_lived_url() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let response = crate::helpers::http()
        .put(format!("{endpoint}/{BUCKET}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "create bucket");
    let s3 = S3Config {
        bucket: BUCKET.to_owned(),
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".to_owned(),
        path_style: true,
        allow_http: true,
        access_key_id: "AKIDTMSHTTP".to_owned(),
        secret_access_key: tms_core::security::secret::Secret::new("tms-http-secret".to_owned()),
    };
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), move |config| {
        config.blobs = BlobConfig::S3(s3);
    })
    .await;
    let a = agency(&app).await;
    let booking = booking_in(&app, &a, a.branch).await;
    let (status, pdf) = post_file(
        &app,
        a.owner(),
        &format!("/api/v1/bookings/{booking}/documents"),
        "visa.pdf",
        tiny_pdf(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pdf}");
    let id = pdf["id"].as_str().unwrap();
    let response = download(&app, a.token(Role::Sales), id).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{endpoint}/{BUCKET}/tenants/")),
        "{location}"
    );
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    assert!(!location.contains("tms-http-secret"));
    let fetched = crate::helpers::http().get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(&fetched.bytes().await.unwrap()[..], &tiny_pdf()[..]);
    // Nothing on local disk; scope still applies before any URL is made.
    assert_eq!(blobs_on_disk(&app), 0);
    let (other_token, _, _) = other_tenant_booking(&app).await;
    assert_eq!(
        download(&app, &other_token, id).await.status(),
        StatusCode::NOT_FOUND
    );
    // Deleting the booking removes the object from the bucket.
    let (status, _) = send(
        &app,
        a.owner(),
        reqwest::Method::DELETE,
        &format!("/api/v1/bookings/{booking}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone = crate::helpers::http().get(&location).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    drop(moto);
}

// -------------------------------------------------------------- calendar

async fn ics(app: &TestApp, token: &str, path: &str) -> (StatusCode, String) {
    let response = crate::helpers::http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()["content-type"],
            "text/calendar; charset=utf-8"
        );
    }
    (status, response.text().await.unwrap())
}

fn parsed_events(text: &str) -> Vec<icalendar::Event> {
    let calendar: icalendar::Calendar = text.parse().expect("the invite parses");
    calendar
        .components
        .iter()
        .filter_map(icalendar::CalendarComponent::as_event)
        .cloned()
        .collect()
}

#[tokio::test]
async fn calendar_invites_of_bookings_and_umrah_groups() {
    use icalendar::{Component as _, EventStatus};
    let app = spawn_app().await;
    let a = agency(&app).await;
    let booking = booking_in(&app, &a, a.branch).await;
    let (_, view) = send(
        &app,
        a.owner(),
        reqwest::Method::GET,
        &format!("/api/v1/bookings/{booking}"),
        None,
    )
    .await;
    let passenger = view["travellers"][0]["id"].as_str().unwrap().to_owned();
    // Tickets are issued on confirmed bookings.
    for to in ["pending", "confirmed"] {
        let (status, _) = send(
            &app,
            a.owner(),
            reqwest::Method::POST,
            &format!("/api/v1/bookings/{booking}/transitions"),
            Some(json!({ "to": to })),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, ticket) = send(
        &app,
        a.owner(),
        reqwest::Method::POST,
        &format!("/api/v1/bookings/{booking}/tickets"),
        Some(json!({
            "pnr": "AB12CD", "airline": "SV", "ticket_number": "0651234567890",
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
    let path = format!("/api/v1/bookings/{booking}/calendar.ics");
    let (status, text) = ics(&app, a.token(Role::Sales), &path).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("METHOD:PUBLISH"), "{text}");
    assert!(
        text.contains("DTSTART;TZID=Asia/Karachi:20261210T100000"),
        "{text}"
    );
    assert!(text.contains("BEGIN:VTIMEZONE"), "{text}");
    assert!(
        text.contains("ORGANIZER;CN=Demo Travel:mailto:sales@demo.example"),
        "{text}"
    );
    let before = parsed_events(&text);
    assert_eq!(before.len(), 2, "{text}");
    assert_eq!(before[0].get_summary(), Some("Flight SV701 KHI → JED"));
    assert_eq!(before[0].get_status(), Some(EventStatus::Confirmed));
    assert!(
        before[1]
            .get_summary()
            .unwrap()
            .starts_with("Hotel: Makkah hotel")
    );

    // Out of scope, another tenant, a bad id: 404. Umrah staff: 403.
    let there = booking_in(&app, &a, a.other_branch).await;
    let (status, _) = ics(
        &app,
        a.token(Role::Sales),
        &format!("/api/v1/bookings/{there}/calendar.ics"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (other_token, other_booking, _) = other_tenant_booking(&app).await;
    let (status, _) = ics(
        &app,
        a.owner(),
        &format!("/api/v1/bookings/{other_booking}/calendar.ics"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ics(&app, &other_token, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ics(&app, a.owner(), "/api/v1/bookings/nope/calendar.ics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ics(&app, a.token(Role::Umrah), &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Cancelled: the same events, cancelled, with a higher sequence.
    let (status, _) = send(
        &app,
        a.owner(),
        reqwest::Method::POST,
        &format!("/api/v1/bookings/{booking}/transitions"),
        Some(json!({ "to": "cancelled" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, text) = ics(&app, a.owner(), &path).await;
    assert!(text.contains("METHOD:CANCEL"), "{text}");
    let after = parsed_events(&text);
    assert_eq!(after.len(), before.len());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.get_uid(), new.get_uid());
        assert!(new.get_sequence() > old.get_sequence());
        assert_eq!(new.get_status(), Some(EventStatus::Cancelled));
    }

    // An Umrah group's departure and return.
    let (status, group) = send(
        &app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/umrah/groups",
        Some(json!({
            "branch_id": a.branch, "name": "قافلة رمضان", "season": "1448H",
            "departure_date": "2027-02-10", "return_date": "2027-02-24", "capacity": 40,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_path = format!(
        "/api/v1/umrah/groups/{}/calendar.ics",
        group["id"].as_str().unwrap()
    );
    let (status, text) = ics(&app, a.token(Role::Umrah), &group_path).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let events = parsed_events(&text);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].get_start(),
        Some(icalendar::DatePerhapsTime::Date(
            chrono::NaiveDate::from_ymd_opt(2027, 2, 10).unwrap()
        ))
    );
    assert!(events[0].get_summary().unwrap().contains("قافلة رمضان"));
    let (status, _) = ics(&app, &other_token, &group_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
