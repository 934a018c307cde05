//! Finance follow-ups over HTTP (issue 7): voiding (critical, 409 while
//! paid), tenant tax rates on invoice lines, the invoice, payment and
//! receivable lists, client balances — each with its authorization row
//! per role, another tenant's ids and out-of-scope branches, on SQLite
//! and PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tms_core::domain::Role;

use crate::bookings::{Agency, ROLES, agency, as_each, expect, other_tenant_booking, send};
use crate::finance::{index, invoice_body, issued, payment_body, post, refund, sar};
use crate::helpers::{TestApp, spawn_app, spawn_app_on_postgres};

const OK: StatusCode = StatusCode::OK;
const CREATED: StatusCode = StatusCode::CREATED;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const CONFLICT: StatusCode = StatusCode::CONFLICT;
const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const PRECONDITION: StatusCode = StatusCode::PRECONDITION_REQUIRED;
/// Owner and Finance write; Admin reads only; Sales and Umrah nothing.
const WRITE: [StatusCode; 5] = [CREATED, FORBIDDEN, CREATED, FORBIDDEN, FORBIDDEN];
const READ: [StatusCode; 5] = [OK, OK, OK, FORBIDDEN, FORBIDDEN];

async fn void(
    app: &TestApp,
    token: &str,
    invoice: &str,
    confirm: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = crate::helpers::http()
        .post(app.url(&format!("/api/v1/invoices/{invoice}/void")))
        .bearer_auth(token);
    if let Some(t) = confirm {
        request = request.header("Tms-Confirm", t);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    send(app, token, Method::GET, path, None).await
}

/// A foreign tenant's draft invoice id and its owner's token.
async fn foreign_invoice(app: &TestApp) -> (String, String) {
    let (token, booking, _) = other_tenant_booking(app).await;
    let (_, booking) = get(app, &token, &format!("/api/v1/bookings/{booking}")).await;
    let (status, invoice) = post(
        app,
        &token,
        "/api/v1/invoices",
        Some(json!({
            "branch_id": booking["branch_id"], "client_id": booking["client_id"],
            "currency": "EUR",
            "lines": [{ "description": "Transfer", "quantity": 1,
                        "unit_price": { "amount": "40.00", "currency": "EUR" } }],
        })),
    )
    .await;
    assert_eq!(status, CREATED, "{invoice}");
    let id = invoice["id"].as_str().unwrap().to_owned();
    let (status, _) = post(app, &token, &format!("/api/v1/invoices/{id}/issue"), None).await;
    assert_eq!(status, OK);
    (token, id)
}

// ----------------------------------------------------------------- void

async fn voiding(app: &TestApp) {
    let a = agency(app).await;
    let finance = a.token(Role::Finance);

    // Paid in part: 409, saying to refund first; no token is handed out.
    let invoice = issued(app, &a).await;
    let (status, payment) = post(
        app,
        finance,
        "/api/v1/payments",
        Some(payment_body(&a, "100.00", Some(&invoice))),
    )
    .await;
    assert_eq!(status, CREATED, "{payment}");
    let (status, body) = void(app, finance, &invoice, None).await;
    assert_eq!(status, CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("refund or unallocate"),
        "{body}"
    );
    assert!(body["confirmation_token"].is_null());
    // Refunded, it may be voided: 428, then the confirmed call.
    let payment = payment["id"].as_str().unwrap();
    let asked = refund(app, finance, payment, "100.00", None).await;
    let token: Value = asked.json().await.unwrap();
    let token = token["confirmation_token"].as_str().unwrap();
    let done = refund(app, finance, payment, "100.00", Some(token)).await;
    assert_eq!(done.status(), CREATED);
    let (status, body) = void(app, finance, &invoice, None).await;
    assert_eq!(status, PRECONDITION, "{body}");
    let token = body["confirmation_token"].as_str().unwrap().to_owned();
    let (status, body) = void(app, finance, &invoice, Some(&token)).await;
    assert_eq!(status, OK, "{body}");
    assert_eq!(body["status"], "void");
    assert_eq!(body["number"], "INV-000001", "the number stays used");
    // The token was single use; a void invoice cannot be voided again.
    let (status, _) = void(app, finance, &invoice, Some(&token)).await;
    assert_eq!(status, CONFLICT);
    let (_, body) = get(app, finance, &format!("/api/v1/invoices/{invoice}")).await;
    assert_eq!(body["status"], "void");

    // Every role on its own fresh invoice.
    let mut invoices = Vec::new();
    for _ in ROLES {
        invoices.push(issued(app, &a).await);
    }
    let mut got = Vec::new();
    for role in ROLES {
        let (status, body) = void(app, a.token(role), &invoices[index(role)], None).await;
        got.push((role, status, body));
    }
    let tokens: Vec<Option<String>> = got
        .iter()
        .map(|(_, _, b)| b["confirmation_token"].as_str().map(str::to_owned))
        .collect();
    expect(
        "POST /invoices/{id}/void",
        got,
        [PRECONDITION, FORBIDDEN, PRECONDITION, FORBIDDEN, FORBIDDEN],
    );
    for role in [Role::TenantSuperAdmin, Role::Finance] {
        let token = tokens[index(role)].as_deref().unwrap();
        // A token confirms its own invoice only.
        let other = &invoices[index(Role::Admin)];
        let (status, _) = void(app, a.token(role), other, Some(token)).await;
        assert_ne!(status, OK, "a token of another invoice as {role}");
        let (status, body) = void(app, a.token(role), &invoices[index(role)], None).await;
        assert_eq!(status, PRECONDITION, "{body}");
        let token = body["confirmation_token"].as_str().unwrap().to_owned();
        let (status, body) = void(app, a.token(role), &invoices[index(role)], Some(&token)).await;
        assert_eq!(status, OK, "confirmed void as {role}: {body}");
    }

    // Another tenant's invoice is not found for everyone, and stays issued.
    let (foreign_token, foreign) = foreign_invoice(app).await;
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| format!("/api/v1/invoices/{foreign}/void"),
        |_| None,
    )
    .await;
    expect("void another tenant's invoice", got, [NOT_FOUND; 5]);
    let (_, mine) = get(app, &foreign_token, &format!("/api/v1/invoices/{foreign}")).await;
    assert_eq!(mine["status"], "issued");
}

#[tokio::test]
async fn voiding_is_confirmed_refused_while_paid_and_matches_the_policy_on_sqlite() {
    let app = spawn_app().await;
    voiding(&app).await;
}

#[tokio::test]
async fn voiding_is_confirmed_refused_while_paid_and_matches_the_policy_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    voiding(&app).await;
}

// ------------------------------------------------------------ tax rates

async fn tax_rates(app: &TestApp) {
    let a = agency(app).await;
    let finance = a.token(Role::Finance);
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/tax-rates".into(),
        |role| {
            Some(json!({
                "code": format!("VAT{}", index(role)),
                "name": "VAT 15 %",
                "basis_points": 1500,
            }))
        },
    )
    .await;
    expect("POST /tax-rates", got, WRITE);
    let (status, body) = post(
        app,
        finance,
        "/api/v1/tax-rates",
        Some(json!({ "code": "VAT2", "name": "again", "basis_points": 500 })),
    )
    .await;
    assert_eq!(
        status, CONFLICT,
        "codes are unique and never edited: {body}"
    );
    for bad in [
        json!({ "code": "vat 15", "name": "VAT", "basis_points": 1500 }),
        json!({ "code": "VAT9", "name": "", "basis_points": 1500 }),
        json!({ "code": "VAT9", "name": "VAT", "basis_points": 10001 }),
    ] {
        let (status, body) = post(app, finance, "/api/v1/tax-rates", Some(bad)).await;
        assert_eq!(status, INVALID, "{body}");
    }
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| "/api/v1/tax-rates".into(),
        |_| None,
    )
    .await;
    for (role, status, body) in &got {
        if *status == OK {
            let codes: Vec<&str> = body
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["code"].as_str().unwrap())
                .collect();
            assert_eq!(codes, ["VAT0", "VAT2"], "as {role}");
        }
    }
    expect("GET /tax-rates", got, READ);

    // A line naming the rate is billed at it, per line, rounded half-up:
    // 3 × 0.10 at 15 % is 0.015 → 0.02 per line.
    let mut body = invoice_body(a.branch, a.client);
    body["lines"] = json!([
        { "description": "Bottle of water", "quantity": 1, "unit_price": sar("0.10"), "tax_code": "VAT2" },
        { "description": "Bottle of water", "quantity": 1, "unit_price": sar("0.10"), "tax_code": "VAT2" },
        { "description": "Bottle of water", "quantity": 1, "unit_price": sar("0.10"), "tax_code": "VAT2" },
    ]);
    let (status, invoice) = post(app, finance, "/api/v1/invoices", Some(body.clone())).await;
    assert_eq!(status, CREATED, "{invoice}");
    assert_eq!(invoice["tax"], sar("0.06"));
    assert_eq!(invoice["lines"][0]["tax_code"], "VAT2");
    assert_eq!(invoice["lines"][0]["tax_rate"], 1500);
    assert_eq!(invoice["lines"][0]["tax"], sar("0.02"));
    body["lines"][1]["tax_code"] = json!("NOPE");
    let (status, err) = post(app, finance, "/api/v1/invoices", Some(body.clone())).await;
    assert_eq!(status, INVALID, "{err}");
    assert_eq!(err["errors"][0]["field"], "lines[1].tax_code", "{err}");
    body["lines"][1]["tax_code"] = json!("VAT2");
    body["lines"][1]["tax_rate"] = json!(500);
    let (status, err) = post(app, finance, "/api/v1/invoices", Some(body)).await;
    assert_eq!(status, INVALID, "both a code and a rate: {err}");
    // Another tenant's codes are not this tenant's.
    let (foreign_token, _) = foreign_invoice(app).await;
    let (status, rates) = get(app, &foreign_token, "/api/v1/tax-rates").await;
    assert_eq!((status, rates), (OK, json!([])));
}

#[tokio::test]
async fn tenant_tax_rates_bill_invoice_lines_on_sqlite() {
    let app = spawn_app().await;
    tax_rates(&app).await;
}

#[tokio::test]
async fn tenant_tax_rates_bill_invoice_lines_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    tax_rates(&app).await;
}

// ------------------------------------------------ lists and balances

async fn lists(app: &TestApp, a: &Agency) {
    let owner = a.owner();
    let finance = a.token(Role::Finance);
    // Three issued invoices of 1150.00 in the first branch, one draft in
    // the second (which the scoped Finance user does not see).
    let first = issued(app, a).await;
    let second = issued(app, a).await;
    let _third = issued(app, a).await;
    let (status, elsewhere) = post(
        app,
        owner,
        "/api/v1/invoices",
        Some(invoice_body(a.other_branch, a.other_client)),
    )
    .await;
    assert_eq!(status, CREATED, "{elsewhere}");
    // 1200.00 received: 1150.00 settles the first, 50.00 is an advance.
    let mut body = payment_body(a, "1200.00", Some(&first));
    body["allocations"][0]["amount"] = sar("1150.00");
    let (status, p) = post(app, finance, "/api/v1/payments", Some(body)).await;
    assert_eq!(status, CREATED, "{p}");

    // Pages of one, in creation order, every row once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/invoices?limit=1&cursor={c}"),
            None => "/api/v1/invoices?limit=1".into(),
        };
        let (status, page) = get(app, finance, &path).await;
        assert_eq!(status, OK, "{page}");
        for i in page["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "Finance sees its branch only: {seen:?}");
    assert_eq!(seen[0], first);
    let (_, all) = get(app, owner, "/api/v1/invoices").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        4,
        "the owner sees all"
    );
    let (_, drafts) = get(app, owner, "/api/v1/invoices?status=draft").await;
    assert_eq!(drafts["items"].as_array().unwrap().len(), 1);
    let (status, _) = get(
        app,
        finance,
        &format!("/api/v1/invoices?branch_id={}", a.other_branch),
    )
    .await;
    assert_eq!(status, NOT_FOUND, "an unseen branch filter is not found");
    for bad in [
        "status=open",
        "limit=0",
        "cursor=zzz",
        "client_id=1",
        "from=2026-13-01",
    ] {
        let (status, body) = get(app, finance, &format!("/api/v1/invoices?{bad}")).await;
        assert!(
            status == INVALID || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {body}"
        );
    }
    let (_, none) = get(app, finance, "/api/v1/invoices?from=2099-01-01").await;
    assert_eq!(none["items"], json!([]));

    let got = as_each(app, a, Method::GET, |_| "/api/v1/invoices".into(), |_| None).await;
    expect("GET /invoices", got, READ);
    let got = as_each(app, a, Method::GET, |_| "/api/v1/payments".into(), |_| None).await;
    for (role, status, body) in &got {
        if *status == OK {
            assert_eq!(body["items"].as_array().unwrap().len(), 1, "as {role}");
            assert_eq!(
                body["items"][0]["allocations"][0]["invoice_id"],
                first.as_str()
            );
        }
    }
    expect("GET /payments", got, READ);
    let (_, by_method) = get(app, finance, "/api/v1/payments?method=cash").await;
    assert_eq!(by_method["items"], json!([]));

    // Receivables: the two unpaid ones, 1150.00 due each.
    let got = as_each(
        app,
        a,
        Method::GET,
        |_| "/api/v1/receivables".into(),
        |_| None,
    )
    .await;
    for (_, status, body) in &got {
        if *status == OK {
            let items = body["items"].as_array().unwrap();
            assert_eq!(items.len(), 2, "{body}");
            assert_eq!(items[0]["invoice"]["id"], second.as_str());
            assert_eq!(items[0]["due"], sar("1150.00"));
        }
    }
    expect("GET /receivables", got, READ);

    // Balance: invoiced 3450.00 − paid 1200.00 = 2250.00.
    let got = as_each(
        app,
        a,
        Method::GET,
        |_| format!("/api/v1/clients/{}/balance", a.client),
        |_| None,
    )
    .await;
    for (_, status, body) in &got {
        if *status == OK {
            let b = &body["balances"][0];
            assert_eq!(b["invoiced"], sar("3450.00"), "{body}");
            assert_eq!(b["paid"], sar("1200.00"));
            assert_eq!(b["balance"], sar("2250.00"));
        }
    }
    expect("GET /clients/{id}/balance", got, READ);
    let (status, _) = get(
        app,
        finance,
        &format!("/api/v1/clients/{}/balance", a.other_client),
    )
    .await;
    assert_eq!(status, NOT_FOUND, "a client of an unseen branch");
    let (status, _) = get(app, finance, "/api/v1/clients/not-an-id/balance").await;
    assert_eq!(status, NOT_FOUND);

    // Another tenant sees none of it.
    let (foreign_token, foreign) = foreign_invoice(app).await;
    let (_, theirs) = get(app, &foreign_token, "/api/v1/invoices").await;
    let ids: Vec<&str> = theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [foreign.as_str()]);
    let (status, _) = get(
        app,
        &foreign_token,
        &format!("/api/v1/clients/{}/balance", a.client),
    )
    .await;
    assert_eq!(status, NOT_FOUND);
}

#[tokio::test]
async fn lists_receivables_and_balances_are_scoped_and_paged_on_sqlite() {
    let app = spawn_app().await;
    let a = agency(&app).await;
    lists(&app, &a).await;
}

#[tokio::test]
async fn lists_receivables_and_balances_are_scoped_and_paged_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let a = agency(&app).await;
    lists(&app, &a).await;
}

#[tokio::test]
async fn the_finance_follow_up_paths_are_in_the_openapi_document() {
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
        "/api/v1/invoices/{id}/void",
        "/api/v1/tax-rates",
        "/api/v1/receivables",
        "/api/v1/clients/{id}/balance",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/invoices"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/payments"]["get"].is_object());
}
