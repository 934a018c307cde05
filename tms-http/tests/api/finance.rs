//! Finance over HTTP (issue 7): the flow draft → issue → payment (with a
//! repeated `Idempotency-Key`) → refund (confirmation first), and the
//! authorization matrix of every finance endpoint — on SQLite and
//! PostgreSQL. Users, clients and a second tenant come from the bookings
//! tests' helpers.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tms_core::domain::Role;
use tms_core::id::{BranchId, ClientId};

use crate::bookings::{Agency, ROLES, agency, as_each, expect, other_tenant_booking, send};
use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

const OK: StatusCode = StatusCode::OK;
const CREATED: StatusCode = StatusCode::CREATED;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const PRECONDITION: StatusCode = StatusCode::PRECONDITION_REQUIRED;

pub(crate) fn sar(amount: &str) -> Value {
    json!({ "amount": amount, "currency": "SAR" })
}

/// Two nights at 500.00 SAR with 15 % tax: net 1000.00, tax 150.00, total
/// 1150.00.
pub(crate) fn invoice_body(branch: BranchId, client: ClientId) -> Value {
    json!({
        "branch_id": branch.to_string(),
        "client_id": client.to_string(),
        "currency": "SAR",
        "lines": [{
            "description": "Makkah hotel, 2 nights",
            "quantity": 2,
            "unit_price": sar("500.00"),
            "tax_rate": 1500,
        }],
    })
}

pub(crate) fn payment_body(a: &Agency, amount: &str, invoice: Option<&str>) -> Value {
    let allocations = match invoice {
        Some(id) => json!([{ "invoice_id": id, "amount": sar(amount) }]),
        None => json!([]),
    };
    json!({
        "branch_id": a.branch.to_string(),
        "client_id": a.client.to_string(),
        "amount": sar(amount),
        "method": "bank_transfer",
        "reference": "TRX-1",
        "allocations": allocations,
    })
}

pub(crate) async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    send(app, token, Method::POST, path, body).await
}

pub(crate) async fn draft(app: &TestApp, a: &Agency) -> String {
    let (status, body) = post(
        app,
        a.owner(),
        "/api/v1/invoices",
        Some(invoice_body(a.branch, a.client)),
    )
    .await;
    assert_eq!(status, CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn issued(app: &TestApp, a: &Agency) -> String {
    let id = draft(app, a).await;
    let (status, body) = post(
        app,
        a.owner(),
        &format!("/api/v1/invoices/{id}/issue"),
        None,
    )
    .await;
    assert_eq!(status, OK, "{body}");
    id
}

pub(crate) async fn refund(
    app: &TestApp,
    token: &str,
    payment: &str,
    amount: &str,
    confirm: Option<&str>,
) -> reqwest::Response {
    let mut request = crate::helpers::http()
        .post(app.url(&format!("/api/v1/payments/{payment}/refunds")))
        .bearer_auth(token)
        .json(&json!({ "amount": sar(amount), "reason": "Trip cancelled" }));
    if let Some(token) = confirm {
        request = request.header("Tms-Confirm", token);
    }
    request.send().await.unwrap()
}

// ------------------------------------------------------------- the flow

async fn flow(app: &TestApp) {
    let a = agency(app).await;
    let finance = a.token(Role::Finance);

    let (status, invoice) = post(
        app,
        finance,
        "/api/v1/invoices",
        Some(invoice_body(a.branch, a.client)),
    )
    .await;
    assert_eq!(status, CREATED, "{invoice}");
    assert_eq!(invoice["status"], "draft");
    assert_eq!(invoice["number"], Value::Null);
    assert_eq!(invoice["net"], sar("1000.00"));
    assert_eq!(invoice["tax"], sar("150.00"));
    assert_eq!(invoice["total"], sar("1150.00"));
    let id = invoice["id"].as_str().unwrap().to_owned();

    let (status, invoice) = post(app, finance, &format!("/api/v1/invoices/{id}/issue"), None).await;
    assert_eq!(status, OK, "{invoice}");
    assert_eq!(invoice["status"], "issued");
    assert_eq!(invoice["number"], "INV-000001");
    // Issued once: a second issue is refused and takes no number.
    let (status, _) = post(app, finance, &format!("/api/v1/invoices/{id}/issue"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let pay = || {
        crate::helpers::http()
            .post(app.url("/api/v1/payments"))
            .bearer_auth(finance)
            .header("Idempotency-Key", "pay-hotel-2026-0001")
            .json(&payment_body(&a, "1150.00", Some(&id)))
            .send()
    };
    let first = pay().await.unwrap();
    assert_eq!(first.status(), CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = pay().await.unwrap();
    assert_eq!(again.status(), OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(first["amount"], sar("1150.00"));
    // The same key with another request is refused.
    let other = crate::helpers::http()
        .post(app.url("/api/v1/payments"))
        .bearer_auth(finance)
        .header("Idempotency-Key", "pay-hotel-2026-0001")
        .json(&payment_body(&a, "1.00", None))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (_, invoice) = send(
        app,
        finance,
        Method::GET,
        &format!("/api/v1/invoices/{id}"),
        None,
    )
    .await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["paid"], sar("1150.00"));

    let payment = first["id"].as_str().unwrap().to_owned();
    let asked = refund(app, finance, &payment, "150.00", None).await;
    assert_eq!(asked.status(), PRECONDITION);
    let token = asked.json::<Value>().await.unwrap()["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Nothing happened before the confirmation.
    let (_, p) = send(
        app,
        finance,
        Method::GET,
        &format!("/api/v1/payments/{payment}"),
        None,
    )
    .await;
    assert_eq!(p["refunded"], sar("0.00"));

    let done = refund(app, finance, &payment, "150.00", Some(&token)).await;
    assert_eq!(done.status(), CREATED);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["amount"], sar("150.00"));
    assert_eq!(done["payment_id"], payment.as_str());

    let (status, p) = send(
        app,
        finance,
        Method::GET,
        &format!("/api/v1/payments/{payment}"),
        None,
    )
    .await;
    assert_eq!(status, OK);
    assert_eq!(p["amount"], sar("1150.00"));
    assert_eq!(p["refunded"], sar("150.00"));
    let (_, invoice) = send(
        app,
        finance,
        Method::GET,
        &format!("/api/v1/invoices/{id}"),
        None,
    )
    .await;
    assert_eq!(invoice["paid"], sar("1150.00"));
    assert_eq!(invoice["refunded"], sar("150.00"));
    assert_eq!(invoice["status"], "partially_paid");

    // Never more than was paid net of refunds.
    let asked = refund(app, finance, &payment, "1000.01", None).await;
    let token = asked.json::<Value>().await.unwrap()["confirmation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let too_much = refund(app, finance, &payment, "1000.01", Some(&token)).await;
    assert_eq!(too_much.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn draft_issue_pay_twice_with_one_key_and_refund_with_confirmation_on_sqlite() {
    let app = spawn_app().await;
    flow(&app).await;
}

#[tokio::test]
async fn draft_issue_pay_twice_with_one_key_and_refund_with_confirmation_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    flow(&app).await;
}

// ----------------------------------------------------------- the matrix

/// Index of `role` in [`ROLES`], to give each role its own record.
pub(crate) fn index(role: Role) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

async fn authorization_matrix(app: &TestApp) {
    let a = agency(app).await;
    // Writers: owner and Finance; Admin reads only; Sales and Umrah nothing.
    const WRITE: [StatusCode; 5] = [CREATED, FORBIDDEN, CREATED, FORBIDDEN, FORBIDDEN];
    const READ: [StatusCode; 5] = [OK, OK, OK, FORBIDDEN, FORBIDDEN];

    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/exchange-rates".into(),
        |role| {
            Some(json!({
                "base": "USD", "quote": "SAR", "rate": "3.7512",
                "effective_on": format!("2026-11-0{}", index(role) + 1),
                "source": "SAMA",
            }))
        },
    )
    .await;
    expect("POST /exchange-rates", got, WRITE);

    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/invoices".into(),
        |_| Some(invoice_body(a.branch, a.client)),
    )
    .await;
    expect("POST /invoices", got, WRITE);

    let invoice = issued(app, &a).await;
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/invoices/{invoice}"),
        |_| None,
    )
    .await;
    expect("GET /invoices/{id}", got, READ);

    let mut drafts = Vec::new();
    for _ in ROLES {
        drafts.push(draft(app, &a).await);
    }
    let got = as_each(
        app,
        &a,
        Method::POST,
        |role| format!("/api/v1/invoices/{}/issue", drafts[index(role)]),
        |_| None,
    )
    .await;
    expect(
        "POST /invoices/{id}/issue",
        got,
        [OK, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN],
    );

    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| format!("/api/v1/invoices/{invoice}/credit-notes"),
        |_| Some(json!({ "net": sar("10.00"), "reason": "Late check-in" })),
    )
    .await;
    for (_, status, body) in &got {
        if *status == CREATED {
            assert!(
                body["number"].as_str().unwrap().starts_with("CN-"),
                "{body}"
            );
        }
    }
    expect("POST /invoices/{id}/credit-notes", got, WRITE);

    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/payments".into(),
        |_| Some(payment_body(&a, "100.00", None)),
    )
    .await;
    let payment = got[0].2["id"].as_str().unwrap_or_default().to_owned();
    expect("POST /payments", got, WRITE);

    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/payments/{payment}"),
        |_| None,
    )
    .await;
    expect("GET /payments/{id}", got, READ);

    let mut refunds = Vec::new();
    for role in ROLES {
        let response = refund(app, a.token(role), &payment, "10.00", None).await;
        refunds.push((
            role,
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        ));
    }
    let tokens: Vec<Option<String>> = refunds
        .iter()
        .map(|(_, _, body)| body["confirmation_token"].as_str().map(str::to_owned))
        .collect();
    expect(
        "POST /payments/{id}/refunds",
        refunds,
        [PRECONDITION, FORBIDDEN, PRECONDITION, FORBIDDEN, FORBIDDEN],
    );
    for role in [Role::TenantSuperAdmin, Role::Finance] {
        let token = tokens[index(role)].as_deref().unwrap();
        let done = refund(app, a.token(role), &payment, "10.00", Some(token)).await;
        assert_eq!(done.status(), CREATED, "confirmed refund as {role}");
    }
    let (_, p) = send(
        app,
        a.owner(),
        Method::GET,
        &format!("/api/v1/payments/{payment}"),
        None,
    )
    .await;
    assert_eq!(p["refunded"], sar("20.00"));

    // Another tenant's invoice is not found, for every role and endpoint.
    let (foreign_token, foreign_booking, _) = other_tenant_booking(app).await;
    let (status, booking) = send(
        app,
        &foreign_token,
        Method::GET,
        &format!("/api/v1/bookings/{foreign_booking}"),
        None,
    )
    .await;
    assert_eq!(status, OK);
    let (status, foreign) = post(
        app,
        &foreign_token,
        "/api/v1/invoices",
        Some(json!({
            "branch_id": booking["branch_id"], "client_id": booking["client_id"],
            "currency": "EUR",
            "lines": [{ "description": "Transfer", "quantity": 1,
                        "unit_price": { "amount": "40.00", "currency": "EUR" } }],
        })),
    )
    .await;
    assert_eq!(status, CREATED, "{foreign}");
    let foreign = foreign["id"].as_str().unwrap().to_owned();
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/invoices/{foreign}"),
        |_| None,
    )
    .await;
    expect("GET another tenant's invoice", got, [NOT_FOUND; 5]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| format!("/api/v1/invoices/{foreign}/issue"),
        |_| None,
    )
    .await;
    expect("issue another tenant's invoice", got, [NOT_FOUND; 5]);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| format!("/api/v1/invoices/{foreign}/credit-notes"),
        |_| Some(json!({ "net": { "amount": "1.00", "currency": "EUR" }, "reason": "x" })),
    )
    .await;
    expect("credit another tenant's invoice", got, [NOT_FOUND; 5]);
    // Its owner still sees it as a draft: nothing above touched it.
    let (status, mine) = send(
        app,
        &foreign_token,
        Method::GET,
        &format!("/api/v1/invoices/{foreign}"),
        None,
    )
    .await;
    assert_eq!(status, OK);
    assert_eq!(mine["status"], "draft");
}

#[tokio::test]
async fn finance_endpoints_grant_what_the_policy_table_grants_on_sqlite() {
    let app = spawn_app().await;
    authorization_matrix(&app).await;
}

#[tokio::test]
async fn finance_endpoints_grant_what_the_policy_table_grants_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    authorization_matrix(&app).await;
}

#[tokio::test]
async fn the_finance_paths_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = crate::helpers::http()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/exchange-rates",
        "/api/v1/invoices",
        "/api/v1/invoices/{id}",
        "/api/v1/invoices/{id}/issue",
        "/api/v1/invoices/{id}/credit-notes",
        "/api/v1/payments",
        "/api/v1/payments/{id}",
        "/api/v1/payments/{id}/refunds",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
}
