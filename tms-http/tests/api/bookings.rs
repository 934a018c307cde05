//! `/api/v1/packages`, `/categories`, `/bookings`, tickets: the
//! authorization matrix of every endpoint (each role × endpoint, other
//! tenant's and out-of-branch ids → 404), never overselling under 50
//! concurrent requests, idempotency keys, and the state machine — on SQLite
//! and PostgreSQL.

use std::collections::BTreeSet;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Client, ClientKind, Name, Role};
use tms_core::id::{BranchId, ClientId, TenantId};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{TestApp, login, spawn_app, spawn_app_on_postgres, staff_per_role};

fn client() -> reqwest::Client {
    crate::helpers::http()
}

/// The demo tenant with a second branch, a user of every role scoped to
/// the first branch (the owner sees all), and a client in each branch.
pub(crate) struct Agency {
    pub(crate) tenant: TenantId,
    pub(crate) branch: BranchId,
    pub(crate) other_branch: BranchId,
    pub(crate) client: ClientId,
    pub(crate) other_client: ClientId,
    /// Bearer tokens: owner (super admin), admin, finance, sales, umrah.
    pub(crate) tokens: Vec<(Role, String)>,
}

impl Agency {
    pub(crate) fn token(&self, role: Role) -> &str {
        self.tokens
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, t)| t.as_str())
            .unwrap()
    }

    pub(crate) fn owner(&self) -> &str {
        self.token(Role::TenantSuperAdmin)
    }
}

fn new_client(tenant: TenantId, branch: BranchId) -> Client {
    let now = Utc::now();
    Client {
        id: ClientId::new(),
        tenant_id: tenant,
        branch_id: branch,
        kind: ClientKind::Person,
        name: Name::parse("Amina Khan").unwrap(),
        latin_name: None,
        phone: None,
        email: None,
        date_of_birth: None,
        nationality: None,
        passport: None,
        passport_expires_on: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

pub(crate) async fn agency(app: &TestApp) -> Agency {
    let owner = login(
        app,
        DEMO_SLUG,
        DEMO_EMAIL,
        app.first_run_password.as_deref().unwrap(),
    )
    .await;
    let store = app.store.clone().into_dyn();
    let mut uow = store.begin().await.unwrap();
    let tenant = uow
        .tenants()
        .find_by_slug(&tms_core::domain::TenantSlug::parse(DEMO_SLUG).unwrap())
        .await
        .unwrap()
        .unwrap();
    let scope = tms_core::ports::Scope {
        tenant_id: tenant.id,
        branches: BranchScope::All,
    };
    let branch = uow
        .branches()
        .list(&scope, tms_core::ports::PageRequest::first())
        .await
        .unwrap()
        .items[0]
        .id;
    let other = tms_core::domain::Branch {
        id: BranchId::new(),
        tenant_id: tenant.id,
        name: Name::parse("Lahore").unwrap(),
        created_at: Utc::now(),
        closed_at: None,
        version: 1,
    };
    uow.branches().insert(&other).await.unwrap();
    let client_here = new_client(tenant.id, branch);
    let client_there = new_client(tenant.id, other.id);
    uow.clients().insert(&client_here).await.unwrap();
    uow.clients().insert(&client_there).await.unwrap();
    uow.commit().await.unwrap();
    let mut tokens = vec![(Role::TenantSuperAdmin, owner)];
    let scope = |_| BranchScope::only([branch]);
    tokens.extend(staff_per_role(app, tenant.id, scope).await);
    Agency {
        tenant: tenant.id,
        branch,
        other_branch: other.id,
        client: client_here.id,
        other_client: client_there.id,
        tokens,
    }
}

pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn package_body(capacity: u32) -> Value {
    json!({
        "title": "Umrah December",
        "description": "15 nights",
        "price": { "amount": "4500.00", "currency": "SAR" },
        "starts_on": "2026-12-10",
        "ends_on": "2026-12-25",
        "capacity": capacity,
        "inclusions": ["Visa", "Hotel"],
    })
}

fn booking_body(branch: BranchId, client: ClientId, package: Option<&str>) -> Value {
    let item = match package {
        Some(id) => json!({
            "kind": "package", "description": "Umrah December", "supplier_name": "Al Safwa",
            "supplier_cost": { "amount": "3000", "currency": "SAR" },
            "sell_price": { "amount": "4500", "currency": "SAR" },
            "package_id": id, "places": 1,
        }),
        None => json!({
            "kind": "hotel", "description": "Makkah hotel, 3 nights",
            "supplier_cost": { "amount": "900", "currency": "SAR" },
            "sell_price": { "amount": "1200.50", "currency": "SAR" },
        }),
    };
    json!({
        "branch_id": branch.to_string(),
        "client_id": client.to_string(),
        "travellers": [{
            "name": "آمنہ خان", "latin_name": "KHAN AMINA",
            "date_of_birth": "1990-05-17", "passport_number": "AB1234567",
        }],
        "items": [item],
    })
}

fn ticket_body(passenger: &str, number: &str) -> Value {
    json!({
        "pnr": "AB12CD", "airline": "SV", "ticket_number": number, "passenger_id": passenger,
        "segments": [{
            "from": "KHI", "to": "JED", "flight_number": "SV701",
            "departure": { "local": "2026-12-10T10:00:00", "zone": "Asia/Karachi" },
            "arrival": { "local": "2026-12-10T11:30:00", "zone": "Asia/Riyadh" },
        }],
        "fare": { "amount": "1500", "currency": "SAR" },
        "taxes": { "amount": "230.50", "currency": "SAR" },
    })
}

async fn published_package(app: &TestApp, a: &Agency, capacity: u32) -> String {
    let (status, package) = send(
        app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/packages",
        Some(package_body(capacity)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{package}");
    let id = package["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        app,
        a.owner(),
        reqwest::Method::POST,
        &format!("/api/v1/packages/{id}/publish"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    id
}

/// A booking in `branch` made by the owner, moved on to `status`.
async fn booking_at(app: &TestApp, a: &Agency, branch: BranchId, status: &str) -> Value {
    let client = if branch == a.branch {
        a.client
    } else {
        a.other_client
    };
    let (code, mut booking) = send(
        app,
        a.owner(),
        reqwest::Method::POST,
        "/api/v1/bookings",
        Some(booking_body(branch, client, None)),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{booking}");
    let id = booking["id"].as_str().unwrap().to_owned();
    for next in ["pending", "confirmed", "ticketed"] {
        if booking["status"] == status {
            break;
        }
        let (code, moved) = send(
            app,
            a.owner(),
            reqwest::Method::POST,
            &format!("/api/v1/bookings/{id}/transitions"),
            Some(json!({ "to": next })),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{moved}");
        booking = moved;
    }
    assert_eq!(booking["status"], status);
    booking
}

// ------------------------------------------------------------- the matrix

pub(crate) const ROLES: [Role; 5] = [
    Role::TenantSuperAdmin,
    Role::Admin,
    Role::Finance,
    Role::Sales,
    Role::Umrah,
];

/// Expected status per role, in [`ROLES`] order.
pub(crate) fn expect(label: &str, got: Vec<(Role, StatusCode, Value)>, want: [StatusCode; 5]) {
    for ((role, status, body), want) in got.into_iter().zip(want) {
        assert_eq!(status, want, "{label} as {role}: {body}");
    }
}

pub(crate) async fn as_each(
    app: &TestApp,
    a: &Agency,
    method: reqwest::Method,
    path: impl Fn(Role) -> String,
    body: impl Fn(Role) -> Option<Value>,
) -> Vec<(Role, StatusCode, Value)> {
    let mut out = Vec::new();
    for role in ROLES {
        let (status, value) =
            send(app, a.token(role), method.clone(), &path(role), body(role)).await;
        out.push((role, status, value));
    }
    out
}

async fn authorization_matrix(app: &TestApp) {
    use reqwest::Method;
    const OK: StatusCode = StatusCode::OK;
    const CREATED: StatusCode = StatusCode::CREATED;
    const NO_CONTENT: StatusCode = StatusCode::NO_CONTENT;
    const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
    const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
    const PRECONDITION: StatusCode = StatusCode::PRECONDITION_REQUIRED;
    let a = agency(app).await;
    let package = published_package(app, &a, 100).await;

    // Catalogue: read by Operational R, written by Operational C/U.
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| "/api/v1/packages".into(),
        |_| None,
    )
    .await;
    expect("GET /packages", got, [OK, OK, OK, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/packages/{package}"),
        |_| None,
    )
    .await;
    expect("GET /packages/{id}", got, [OK, OK, OK, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/packages".into(),
        |_| Some(package_body(5)),
    )
    .await;
    expect(
        "POST /packages",
        got,
        [CREATED, CREATED, FORBIDDEN, CREATED, FORBIDDEN],
    );
    for action in ["unpublish", "publish"] {
        let got = as_each(
            app,
            &a,
            Method::POST,
            |_| format!("/api/v1/packages/{package}/{action}"),
            |_| None,
        )
        .await;
        expect(action, got, [OK, OK, FORBIDDEN, OK, FORBIDDEN]);
    }
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| "/api/v1/categories".into(),
        |_| None,
    )
    .await;
    expect("GET /categories", got, [OK, OK, OK, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/categories".into(),
        |r| Some(json!({ "name": format!("Umrah {}", r.as_str()) })),
    )
    .await;
    expect(
        "POST /categories",
        got,
        [CREATED, CREATED, FORBIDDEN, CREATED, FORBIDDEN],
    );

    // Bookings in the users' branch.
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/bookings".into(),
        |_| Some(booking_body(a.branch, a.client, Some(&package))),
    )
    .await;
    expect(
        "POST /bookings",
        got,
        [CREATED, CREATED, FORBIDDEN, CREATED, FORBIDDEN],
    );
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| "/api/v1/bookings".into(),
        |_| None,
    )
    .await;
    expect("GET /bookings", got, [OK, OK, OK, OK, FORBIDDEN]);

    let here = booking_at(app, &a, a.branch, "draft").await;
    let here_id = here["id"].as_str().unwrap().to_owned();
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/bookings/{here_id}"),
        |_| None,
    )
    .await;
    expect("GET /bookings/{id}", got, [OK, OK, OK, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/bookings/{here_id}/tickets"),
        |_| None,
    )
    .await;
    expect(
        "GET /bookings/{id}/tickets",
        got,
        [OK, OK, OK, OK, FORBIDDEN],
    );

    // Writes on a fresh draft per role.
    let mut drafts = Vec::new();
    for _ in ROLES {
        drafts.push(booking_at(app, &a, a.branch, "draft").await);
    }
    let id_of = |r: Role| {
        let i = ROLES.iter().position(|x| *x == r).unwrap();
        drafts[i]["id"].as_str().unwrap().to_owned()
    };
    let got = as_each(
        app,
        &a,
        Method::PUT,
        |r| format!("/api/v1/bookings/{}/travellers", id_of(r)),
        |_| {
            Some(json!({ "version": 1, "travellers": [
                { "name": "Bilal", "latin_name": "BILAL", "date_of_birth": "1985-01-01" }
            ]}))
        },
    )
    .await;
    expect("PUT travellers", got, [OK, OK, FORBIDDEN, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |r| format!("/api/v1/bookings/{}/transitions", id_of(r)),
        |_| Some(json!({ "to": "pending" })),
    )
    .await;
    expect("submit", got, [OK, OK, FORBIDDEN, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |r| format!("/api/v1/bookings/{}/transitions", id_of(r)),
        |_| Some(json!({ "to": "cancelled" })),
    )
    .await;
    // Sales holds the Cancel right; Finance and Umrah hold nothing to write.
    expect("cancel", got, [OK, OK, FORBIDDEN, OK, FORBIDDEN]);

    // Deleting: a draft at once for D holders; Sales has no D (cancel instead).
    let mut drafts = Vec::new();
    for _ in ROLES {
        drafts.push(booking_at(app, &a, a.branch, "draft").await);
    }
    let id_of = |r: Role| {
        let i = ROLES.iter().position(|x| *x == r).unwrap();
        drafts[i]["id"].as_str().unwrap().to_owned()
    };
    let got = as_each(
        app,
        &a,
        Method::DELETE,
        |r| format!("/api/v1/bookings/{}", id_of(r)),
        |_| None,
    )
    .await;
    expect(
        "DELETE draft",
        got,
        [NO_CONTENT, NO_CONTENT, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    );
    // A non-draft: critical, confirmation first.
    let confirmed = booking_at(app, &a, a.branch, "confirmed").await;
    let confirmed_id = confirmed["id"].as_str().unwrap().to_owned();
    let got = as_each(
        app,
        &a,
        Method::DELETE,
        |_| format!("/api/v1/bookings/{confirmed_id}"),
        |_| None,
    )
    .await;
    expect(
        "DELETE confirmed",
        got,
        [PRECONDITION, PRECONDITION, FORBIDDEN, FORBIDDEN, FORBIDDEN],
    );

    // Tickets on a confirmed booking.
    let passenger = confirmed["travellers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| format!("/api/v1/bookings/{confirmed_id}/tickets"),
        |r| {
            let n = ROLES.iter().position(|x| *x == r).unwrap();
            Some(ticket_body(&passenger, &format!("065123456789{n}")))
        },
    )
    .await;
    let ticket_ids: Vec<String> = got
        .iter()
        .map(|(_, _, body)| body["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    expect(
        "POST tickets",
        got,
        [CREATED, CREATED, FORBIDDEN, CREATED, FORBIDDEN],
    );
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/tickets/{}", ticket_ids[0]),
        |_| None,
    )
    .await;
    expect("GET ticket", got, [OK, OK, OK, OK, FORBIDDEN]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |r| {
            // Each role voids its own ticket; Finance and Umrah try the owner's.
            let own = &ticket_ids[ROLES.iter().position(|x| *x == r).unwrap()];
            let id = if own.is_empty() { &ticket_ids[0] } else { own };
            format!("/api/v1/tickets/{id}/void")
        },
        |_| None,
    )
    .await;
    expect("void ticket", got, [OK, OK, FORBIDDEN, OK, FORBIDDEN]);

    // Out of the users' branch: 404 for everyone scoped to the first branch,
    // whatever their role (DESIGN.md §3: branch scope before grants).
    let there = booking_at(app, &a, a.other_branch, "confirmed").await;
    let there_id = there["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/bookings/{there_id}"), None),
        (
            Method::GET,
            format!("/api/v1/bookings/{there_id}/tickets"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/bookings/{there_id}/transitions"),
            Some(json!({ "to": "ticketed" })),
        ),
        (Method::DELETE, format!("/api/v1/bookings/{there_id}"), None),
    ] {
        let got = as_each(app, &a, method.clone(), |_| path.clone(), |_| body.clone()).await;
        let owner_status = got[0].1;
        assert!(
            owner_status.is_success() || owner_status == PRECONDITION,
            "{method} {path} as owner: {owner_status}"
        );
        for (role, status, body) in got.into_iter().skip(1) {
            // The policy's order: an unseen branch's booking is 404 for
            // every role, before the role's grants are looked at.
            let want = NOT_FOUND;
            assert_eq!(status, want, "{method} {path} as {role}: {body}");
        }
    }
    // Creating in an unseen branch, or for an unseen client, is 404 too.
    let (status, _) = send(
        app,
        a.token(Role::Sales),
        Method::POST,
        "/api/v1/bookings",
        Some(booking_body(a.other_branch, a.other_client, None)),
    )
    .await;
    assert_eq!(status, NOT_FOUND);
    let (status, _) = send(
        app,
        a.token(Role::Sales),
        Method::POST,
        "/api/v1/bookings",
        Some(booking_body(a.branch, a.other_client, None)),
    )
    .await;
    assert_eq!(status, NOT_FOUND, "a client of an unseen branch");
    let (status, _) = send(
        app,
        a.token(Role::Sales),
        Method::GET,
        &format!("/api/v1/bookings?branch_id={}", a.other_branch),
        None,
    )
    .await;
    assert_eq!(status, NOT_FOUND, "an unseen branch filter");

    // Another tenant's ids are 404 for its neighbour's owner.
    let (foreign_token, foreign_booking, foreign_package) = other_tenant_booking(app).await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/bookings/{foreign_booking}")),
        (
            Method::DELETE,
            format!("/api/v1/bookings/{foreign_booking}"),
        ),
        (
            Method::GET,
            format!("/api/v1/bookings/{foreign_booking}/tickets"),
        ),
        (Method::GET, format!("/api/v1/packages/{foreign_package}")),
        (
            Method::POST,
            format!("/api/v1/packages/{foreign_package}/publish"),
        ),
    ] {
        let (status, body) = send(app, a.owner(), method.clone(), &path, None).await;
        assert_eq!(status, NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["type"], "not-found");
    }
    let (status, _) = send(
        app,
        &foreign_token,
        Method::GET,
        &format!("/api/v1/bookings/{here_id}"),
        None,
    )
    .await;
    assert_eq!(status, NOT_FOUND);
    let _ = a.tenant;
}

/// A second tenant with a booking; its owner's token, the booking's and a
/// package's ids.
pub(crate) async fn other_tenant_booking(app: &TestApp) -> (String, String, String) {
    use tms_core::ports::Store as _;
    let (provisioned, token) = crate::helpers::stranger(app, "other").await;
    let client = new_client(provisioned.tenant.id, provisioned.branch.id);
    let mut uow = app.store.begin().await.unwrap();
    uow.clients().insert(&client).await.unwrap();
    uow.commit().await.unwrap();
    let (status, package) = send(
        app,
        &token,
        reqwest::Method::POST,
        "/api/v1/packages",
        Some(package_body(3)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, booking) = send(
        app,
        &token,
        reqwest::Method::POST,
        "/api/v1/bookings",
        Some(booking_body(provisioned.branch.id, client.id, None)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    (
        token,
        booking["id"].as_str().unwrap().to_owned(),
        package["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn every_role_gets_what_the_policy_table_grants_on_sqlite() {
    let app = spawn_app().await;
    authorization_matrix(&app).await;
}

#[tokio::test]
async fn every_role_gets_what_the_policy_table_grants_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    authorization_matrix(&app).await;
}

// ------------------------------------------------------- never oversell

async fn fifty_concurrent_bookings_on_ten_places(app: &TestApp) {
    let a = agency(app).await;
    let package = published_package(app, &a, 10).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let url = app.url("/api/v1/bookings");
        let token = a.token(Role::Sales).to_owned();
        let body = booking_body(a.branch, a.client, Some(&package));
        tasks.spawn(async move {
            let response = client()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let mut references = BTreeSet::new();
    let mut sold_out = 0;
    while let Some(joined) = tasks.join_next().await {
        let (status, body) = joined.unwrap();
        match status {
            StatusCode::CREATED => {
                references.insert(body["reference"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["type"], "conflict");
                assert!(
                    body["detail"].as_str().unwrap().contains("sold out"),
                    "{body}"
                );
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(references.len(), 10);
    assert_eq!(sold_out, 40);
    let year = Utc::now().format("%Y").to_string();
    let expected: BTreeSet<String> = (1..=10).map(|n| format!("BK-{year}-{n:06}")).collect();
    assert_eq!(references, expected, "consecutive, no gaps");
    let (_, pkg) = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        &format!("/api/v1/packages/{package}"),
        None,
    )
    .await;
    assert_eq!(pkg["booked"], 10);
    assert_eq!(pkg["available"], 0);

    // Cancelling one gives its place back.
    let (_, list) = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        "/api/v1/bookings?status=draft&limit=1",
        None,
    )
    .await;
    let id = list["items"][0]["id"].as_str().unwrap();
    let (status, _) = send(
        app,
        a.token(Role::Sales),
        reqwest::Method::POST,
        &format!("/api/v1/bookings/{id}/transitions"),
        Some(json!({ "to": "cancelled" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, pkg) = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        &format!("/api/v1/packages/{package}"),
        None,
    )
    .await;
    assert_eq!(pkg["booked"], 9);
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_ten_places_sell_exactly_ten_on_sqlite() {
    let app = spawn_app().await;
    fifty_concurrent_bookings_on_ten_places(&app).await;
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_ten_places_sell_exactly_ten_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    fifty_concurrent_bookings_on_ten_places(&app).await;
}

// ----------------------------------------------------------- idempotency

async fn idempotency_keys(app: &TestApp) {
    let a = agency(app).await;
    let package = published_package(app, &a, 10).await;
    let body = booking_body(a.branch, a.client, Some(&package));
    let post = |key: &'static str, body: Value| {
        client()
            .post(app.url("/api/v1/bookings"))
            .bearer_auth(a.token(Role::Sales))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    // Concurrent identical requests: one booking.
    let (r1, r2, r3) = tokio::join!(
        post("key-1", body.clone()),
        post("key-1", body.clone()),
        post("key-1", body.clone())
    );
    let mut statuses = Vec::new();
    let mut ids = BTreeSet::new();
    for r in [r1, r2, r3] {
        let r = r.unwrap();
        statuses.push(r.status());
        let replayed = r.headers().get("idempotent-replayed").is_some();
        assert_eq!(replayed, r.status() == StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::CREATED]
    );
    assert_eq!(ids.len(), 1);
    // A later retry: the same body.
    let first: Value = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        &format!("/api/v1/bookings/{}", ids.first().unwrap()),
        None,
    )
    .await
    .1;
    let retry = post("key-1", body.clone()).await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    let again: Value = retry.json().await.unwrap();
    assert_eq!(again["reference"], first["reference"]);
    assert_eq!(again["version"], first["version"]);
    let (_, pkg) = send(
        app,
        a.owner(),
        reqwest::Method::GET,
        &format!("/api/v1/packages/{package}"),
        None,
    )
    .await;
    assert_eq!(pkg["booked"], 1, "places taken once");
    // The same key with another body.
    let mut other = body.clone();
    other["travellers"][0]["name"] = json!("Someone else");
    let reused = post("key-1", other).await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = reused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    // A new key makes a new booking.
    let fresh = post("key-2", body).await.unwrap();
    assert_eq!(fresh.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_booking_on_sqlite() {
    let app = spawn_app().await;
    idempotency_keys(&app).await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_booking_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    idempotency_keys(&app).await;
}

// ------------------------------------------------- lifecycle and tickets

#[tokio::test]
async fn the_state_machine_travellers_and_tickets_over_http() {
    use reqwest::Method;
    let app = spawn_app().await;
    let a = agency(&app).await;
    let booking = booking_at(&app, &a, a.branch, "draft").await;
    let id = booking["id"].as_str().unwrap().to_owned();
    assert!(booking["reference"].as_str().unwrap().starts_with("BK-"));
    assert_eq!(booking["totals"][0]["sell"]["amount"], "1200.50");
    assert_eq!(
        booking["travellers"][0]["passport_number"], "…67",
        "masked in answers"
    );
    let (_, full) = send(
        &app,
        a.owner(),
        Method::GET,
        &format!("/api/v1/bookings/{id}"),
        None,
    )
    .await;
    assert_eq!(full["travellers"][0]["passport_number"], "AB1234567");

    let (status, body) = send(
        &app,
        a.owner(),
        Method::POST,
        &format!("/api/v1/bookings/{id}/transitions"),
        Some(json!({ "to": "completed" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("pending or cancelled"),
        "{body}"
    );

    // Travellers: one atomic, versioned change.
    let keep = full["travellers"][0]["id"].as_str().unwrap().to_owned();
    let list = json!([
        { "id": keep, "name": "آمنہ خان", "latin_name": "KHAN AMINA", "date_of_birth": "1990-05-17", "passport_number": "AB1234567" },
        { "name": "Bilal Khan", "latin_name": "KHAN BILAL", "date_of_birth": "2015-02-03" },
    ]);
    let (status, edited) = send(
        &app,
        a.owner(),
        Method::PUT,
        &format!("/api/v1/bookings/{id}/travellers"),
        Some(json!({ "version": 1, "travellers": list })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["travellers"].as_array().unwrap().len(), 2);
    assert_eq!(edited["travellers"][0]["id"], keep.as_str());
    let (status, _) = send(
        &app,
        a.owner(),
        Method::PUT,
        &format!("/api/v1/bookings/{id}/travellers"),
        Some(json!({ "version": 1, "travellers": list })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a stale edit never overwrites"
    );

    for to in ["pending", "confirmed"] {
        let (status, _) = send(
            &app,
            a.owner(),
            Method::POST,
            &format!("/api/v1/bookings/{id}/transitions"),
            Some(json!({ "to": to })),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Tickets.
    let (status, ticket) = send(
        &app,
        a.token(Role::Sales),
        Method::POST,
        &format!("/api/v1/bookings/{id}/tickets"),
        Some(ticket_body(&keep, "0651234567890")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    assert_eq!(ticket["segments"][0]["departure"]["zone"], "Asia/Karachi");
    let (status, _) = send(
        &app,
        a.token(Role::Sales),
        Method::POST,
        &format!("/api/v1/bookings/{id}/tickets"),
        Some(ticket_body(&keep, "0651234567890")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "ticket numbers are unique per tenant"
    );
    let mut bad = ticket_body(&keep, "0651234567891");
    bad["segments"][0]["arrival"]["zone"] = json!("Mars/Olympus");
    let (status, problem) = send(
        &app,
        a.token(Role::Sales),
        Method::POST,
        &format!("/api/v1/bookings/{id}/tickets"),
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "segments[0].arrival");
    let ticket_id = ticket["id"].as_str().unwrap();
    let (status, new) = send(
        &app,
        a.token(Role::Sales),
        Method::POST,
        &format!("/api/v1/tickets/{ticket_id}/reissue"),
        Some(ticket_body(&keep, "0651234567892")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    assert_eq!(new["replaces"], ticket_id);
    let (_, old) = send(
        &app,
        a.owner(),
        Method::GET,
        &format!("/api/v1/tickets/{ticket_id}"),
        None,
    )
    .await;
    assert_eq!(old["status"], "reissued");
    let (status, _) = send(
        &app,
        a.token(Role::Sales),
        Method::POST,
        &format!("/api/v1/tickets/{ticket_id}/void"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a reissued ticket is final");
    // A ticketed traveller stays on the booking; a booking with tickets is not deleted.
    let (_, current) = send(
        &app,
        a.owner(),
        Method::GET,
        &format!("/api/v1/bookings/{id}"),
        None,
    )
    .await;
    let (status, _) = send(
        &app,
        a.owner(),
        Method::PUT,
        &format!("/api/v1/bookings/{id}/travellers"),
        Some(json!({ "version": current["version"], "travellers": [list[1].clone()] })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let first = client()
        .delete(app.url(&format!("/api/v1/bookings/{id}")))
        .bearer_auth(a.owner())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::PRECONDITION_REQUIRED);
    let token = first.json::<Value>().await.unwrap()["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = client()
        .delete(app.url(&format!("/api/v1/bookings/{id}")))
        .bearer_auth(a.owner())
        .header("Tms-Confirm", token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::CONFLICT, "it has tickets");

    // The paths are documented.
    let doc: Value = client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/packages",
        "/api/v1/packages/{id}/publish",
        "/api/v1/categories",
        "/api/v1/bookings",
        "/api/v1/bookings/{id}/transitions",
        "/api/v1/bookings/{id}/travellers",
        "/api/v1/bookings/{id}/tickets",
        "/api/v1/tickets/{id}/reissue",
        "/api/v1/tickets/{id}/void",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
}

#[tokio::test]
async fn a_package_is_edited_at_its_version_and_never_below_its_booked_places() {
    use reqwest::Method;
    let app = spawn_app().await;
    let a = agency(&app).await;
    let id = published_package(&app, &a, 3).await;
    for _ in 0..2 {
        let (status, _) = send(
            &app,
            a.token(Role::Sales),
            Method::POST,
            "/api/v1/bookings",
            Some(booking_body(a.branch, a.client, Some(&id))),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, current) = send(
        &app,
        a.owner(),
        Method::GET,
        &format!("/api/v1/packages/{id}"),
        None,
    )
    .await;
    let version = current["version"].as_i64().unwrap();
    let mut body = package_body(5);
    body["version"] = json!(version);
    body["title"] = json!("Umrah December (extended)");
    let (status, saved) = send(
        &app,
        a.token(Role::Sales),
        Method::PUT,
        &format!("/api/v1/packages/{id}"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["capacity"], 5);
    assert_eq!(saved["booked"], 2);
    assert_eq!(saved["published"], true, "editing keeps the publication");
    let (status, _) = send(
        &app,
        a.token(Role::Sales),
        Method::PUT,
        &format!("/api/v1/packages/{id}"),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale version");
    let mut lower = package_body(1);
    lower["version"] = saved["version"].clone();
    let (status, problem) = send(
        &app,
        a.owner(),
        Method::PUT,
        &format!("/api/v1/packages/{id}"),
        Some(lower),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"].as_str().unwrap().contains("booked"),
        "{problem}"
    );
    let mut foreign_category = package_body(5);
    foreign_category["category_id"] = json!(uuid::Uuid::now_v7().to_string());
    let (status, problem) = send(
        &app,
        a.owner(),
        Method::POST,
        "/api/v1/packages",
        Some(foreign_category),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "category_id");
    let (status, _) = send(
        &app,
        a.token(Role::Finance),
        Method::GET,
        "/api/v1/packages?published=true",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
