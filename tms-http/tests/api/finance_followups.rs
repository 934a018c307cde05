//! Finance follow-ups over HTTP (issue 7): voiding (critical, 409 while
//! paid), tenant tax rates on invoice lines, the invoice, payment and
//! receivable lists, client balances — each with its authorization row
//! per role, another tenant's ids and out-of-scope branches, on SQLite
//! and PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Principal, Role};
use tms_core::id::{BranchId, UserId};
use tms_core::policy::{Action, Decision, Resource, ResourceKind, authorize};

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
        "/api/v1/bookings/{id}/payables",
        "/api/v1/payables",
        "/api/v1/supplier-payments",
        "/api/v1/supplier-payments/{id}",
        "/api/v1/reports/{name}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/invoices"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/payments"]["get"].is_object());
}

// ------------------------------------------- payables and reports

/// A confirmed booking in the agency's first branch: a hotel from
/// "Al Safwa" (cost 900.00, sell 1200.50 SAR).
async fn confirmed_booking(app: &TestApp, a: &Agency) -> String {
    let (status, booking) = post(
        app,
        a.owner(),
        "/api/v1/bookings",
        Some(json!({
            "branch_id": a.branch.to_string(),
            "client_id": a.client.to_string(),
            "travellers": [{ "name": "Amina Khan", "latin_name": "KHAN AMINA",
                             "date_of_birth": "1990-05-17", "passport_number": "AB1234567" }],
            "items": [{
                "kind": "hotel", "description": "Makkah hotel, 3 nights",
                "supplier_name": "Al Safwa",
                "supplier_cost": { "amount": "900", "currency": "SAR" },
                "sell_price": { "amount": "1200.50", "currency": "SAR" },
            }],
        })),
    )
    .await;
    assert_eq!(status, CREATED, "{booking}");
    let id = booking["id"].as_str().unwrap().to_owned();
    for to in ["pending", "confirmed"] {
        let (status, body) = post(
            app,
            a.owner(),
            &format!("/api/v1/bookings/{id}/transitions"),
            Some(json!({ "to": to })),
        )
        .await;
        assert_eq!(status, OK, "{body}");
    }
    id
}

fn supplier_payment(a: &Agency, payable: &str, amount: &str) -> Value {
    json!({
        "branch_id": a.branch.to_string(),
        "supplier": "Al Safwa",
        "amount": sar(amount),
        "method": "bank_transfer",
        "reference": "SWIFT-77",
        "allocations": [{ "payable_id": payable, "amount": sar(amount) }],
    })
}

async fn payables_and_reports(app: &TestApp) {
    let a = agency(app).await;
    let finance = a.token(Role::Finance);

    // Payables: recorded by Finance and the owner, once per item.
    let mut bookings = Vec::new();
    for _ in ROLES {
        bookings.push(confirmed_booking(app, &a).await);
    }
    let got = as_each(
        app,
        &a,
        Method::POST,
        |role| format!("/api/v1/bookings/{}/payables", bookings[index(role)]),
        |_| None,
    )
    .await;
    for (_, status, body) in &got {
        if *status == CREATED {
            assert_eq!(body["items"][0]["amount"], sar("900.00"), "{body}");
            assert_eq!(body["items"][0]["supplier"], "Al Safwa");
        }
    }
    expect("POST /bookings/{id}/payables", got, WRITE);
    let (status, body) = post(
        app,
        finance,
        &format!(
            "/api/v1/bookings/{}/payables",
            bookings[index(Role::Finance)]
        ),
        None,
    )
    .await;
    assert_eq!((status, &body["items"]), (OK, &json!([])), "once per item");
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| "/api/v1/payables?supplier=Al%20Safwa&open=true".into(),
        |_| None,
    )
    .await;
    for (_, status, body) in &got {
        if *status == OK {
            assert_eq!(body["items"].as_array().unwrap().len(), 2, "{body}");
        }
    }
    expect("GET /payables", got, READ);
    let (_, list) = get(app, finance, "/api/v1/payables").await;
    let payable = list["items"][0]["id"].as_str().unwrap().to_owned();

    // Supplier payments: Finance and the owner, idempotent, never beyond
    // what is open.
    let got = as_each(
        app,
        &a,
        Method::POST,
        |_| "/api/v1/supplier-payments".into(),
        |_| Some(supplier_payment(&a, &payable, "100.00")),
    )
    .await;
    let paid = got[0].2["id"].as_str().unwrap_or_default().to_owned();
    expect("POST /supplier-payments", got, WRITE);
    let pay = || {
        crate::helpers::http()
            .post(app.url("/api/v1/supplier-payments"))
            .bearer_auth(finance)
            .header("Idempotency-Key", "supplier-77")
            .json(&supplier_payment(&a, &payable, "50.00"))
            .send()
    };
    let first = pay().await.unwrap();
    assert_eq!(first.status(), CREATED);
    let again = pay().await.unwrap();
    assert_eq!(again.status(), OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (status, body) = post(
        app,
        finance,
        "/api/v1/supplier-payments",
        Some(supplier_payment(&a, &payable, "650.01")),
    )
    .await;
    assert_eq!(status, INVALID, "beyond what is open: {body}");
    let got = as_each(
        app,
        &a,
        Method::GET,
        |_| format!("/api/v1/supplier-payments/{paid}"),
        |_| None,
    )
    .await;
    expect("GET /supplier-payments/{id}", got, READ);
    let (_, p) = get(
        app,
        finance,
        &format!("/api/v1/payables?booking_id={}", bookings[0]),
    )
    .await;
    assert_eq!(p["items"][0]["open"], sar("650.00"), "{p}");

    // Reports: every one readable by Finance, Admin and the owner; CSV
    // needs the export right (not an Admin's).
    let invoice = issued(app, &a).await;
    let (status, _) = post(
        app,
        finance,
        "/api/v1/payments",
        Some(payment_body(&a, "150.00", Some(&invoice))),
    )
    .await;
    assert_eq!(status, CREATED);
    // Profit is in the base currency (USD for the demo tenant): without a
    // SAR → USD rate it says which rate to enter.
    let (status, body) = get(app, finance, "/api/v1/reports/profit-by-branch").await;
    assert_eq!(status, CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("SAR to USD"),
        "{body}"
    );
    let (status, body) = post(
        app,
        finance,
        "/api/v1/exchange-rates",
        Some(json!({
            "base": "SAR", "quote": "USD", "rate": "0.25",
            "effective_on": "2020-01-01", "source": "SAMA",
        })),
    )
    .await;
    assert_eq!(status, CREATED, "{body}");
    for name in [
        "sales",
        "receivables-ageing",
        "payments-by-method",
        "profit-by-booking",
        "profit-by-branch",
        "tax",
    ] {
        let got = as_each(
            app,
            &a,
            Method::GET,
            |_| format!("/api/v1/reports/{name}"),
            |_| None,
        )
        .await;
        expect(&format!("GET /reports/{name}"), got, READ);
        let mut got = Vec::new();
        for role in ROLES {
            let response = crate::helpers::http()
                .get(app.url(&format!("/api/v1/reports/{name}?format=csv")))
                .bearer_auth(a.token(role))
                .send()
                .await
                .unwrap();
            got.push((role, response.status(), Value::Null));
        }
        expect(
            &format!("GET /reports/{name}?format=csv"),
            got,
            [OK, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN],
        );
    }
    let (_, sales) = get(app, finance, "/api/v1/reports/sales").await;
    assert_eq!(sales["rows"][0]["total"], "1150.00", "{sales}");
    assert_eq!(sales["rows"][0]["tax"], "150.00");
    let (_, profit) = get(app, finance, "/api/v1/reports/profit-by-branch").await;
    // Per booking: 1200.50 × 0.25 = 300.125 → 300.12 (half-even), cost
    // 900 × 0.25 = 225.00; five bookings.
    assert_eq!(profit["rows"][0]["sell"], "1500.60", "{profit}");
    assert_eq!(profit["rows"][0]["cost"], "1125.00", "{profit}");
    assert_eq!(profit["rows"][0]["profit"], "375.60", "{profit}");
    assert_eq!(profit["rows"][0]["currency"], "USD");
    let (_, ageing) = get(app, finance, "/api/v1/reports/receivables-ageing").await;
    assert_eq!(ageing["rows"][0]["days_0_30"], "1000.00", "{ageing}");
    let csv = crate::helpers::http()
        .get(app.url("/api/v1/reports/payments-by-method?format=csv&from=2020-01-01"))
        .bearer_auth(finance)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert_eq!(
        text,
        "method,currency,payments,received,refunded,net\nbank_transfer,SAR,1,150.00,0.00,150.00\n"
    );
    for bad in [
        "/api/v1/reports/nope",
        "/api/v1/reports/sales?format=pdf",
        "/api/v1/reports/sales?from=2026-02-30",
        "/api/v1/reports/sales?from=2026-12-02&to=2026-11-30",
    ] {
        let (status, body) = get(app, finance, bad).await;
        assert!(
            [NOT_FOUND, INVALID, StatusCode::BAD_REQUEST].contains(&status),
            "{bad}: {status} {body}"
        );
    }
    let (status, _) = get(
        app,
        finance,
        &format!("/api/v1/reports/sales?branch_id={}", a.other_branch),
    )
    .await;
    assert_eq!(status, NOT_FOUND, "an unseen branch");
    // Another tenant's reports hold none of this tenant's rows.
    let (foreign_token, _) = foreign_invoice(app).await;
    let (_, theirs) = get(app, &foreign_token, "/api/v1/reports/payments-by-method").await;
    assert_eq!(theirs["rows"], json!([]));
    let (status, _) = get(
        app,
        &foreign_token,
        &format!("/api/v1/supplier-payments/{paid}"),
    )
    .await;
    assert_eq!(status, NOT_FOUND);
    let (status, _) = post(
        app,
        &foreign_token,
        &format!("/api/v1/bookings/{}/payables", bookings[0]),
        None,
    )
    .await;
    assert_eq!(status, NOT_FOUND);
}

#[tokio::test]
async fn payables_supplier_payments_and_reports_on_sqlite() {
    let app = spawn_app().await;
    payables_and_reports(&app).await;
}

#[tokio::test]
async fn payables_supplier_payments_and_reports_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    payables_and_reports(&app).await;
}

// ------------------------------------------------------- the matrix

/// One check a finance service makes, in its order.
enum Step {
    /// The policy on this resource.
    Policy(Action, Resource),
    /// The record is the caller's to see (its tenant, a branch in scope).
    Visible(bool),
}

/// The status `steps` lead to for `principal`: a denial is 403 (404 when
/// it hides existence), an unseen record 404, a critical action 428.
fn expected(principal: &Principal, steps: &[Step], success: StatusCode) -> StatusCode {
    let mut confirm = false;
    for step in steps {
        match step {
            Step::Policy(action, resource) => match authorize(principal, *action, resource) {
                Decision::Allow => {}
                Decision::ConfirmationRequired(_) => confirm = true,
                Decision::Deny(reason) if reason.hides_existence() => return NOT_FOUND,
                Decision::Deny(_) => return FORBIDDEN,
            },
            Step::Visible(false) => return NOT_FOUND,
            Step::Visible(true) => {}
        }
    }
    if confirm { PRECONDITION } else { success }
}

/// Every finance endpoint of the follow-ups × every role, the expected
/// status computed from `tms_core::policy::authorize`, for records in the
/// callers' branch, in a branch outside their scope, and of another tenant.
async fn matrix(app: &TestApp) {
    let a = agency(app).await;
    // Copies, so that the rows' closures own what they use.
    let (tenant, branch, other_branch) = (a.tenant, a.branch, a.other_branch);
    let principal = move |role: Role| {
        let scope = if role == Role::TenantSuperAdmin {
            BranchScope::All
        } else {
            BranchScope::only([branch])
        };
        Principal::user(UserId::new(), tenant, role, scope)
    };
    let sees = move |role: Role, b: BranchId| principal(role).sees_branch(b);
    let res = move |kind: ResourceKind| Resource::new(kind, tenant);
    let here = move |kind: ResourceKind| Resource::new(kind, tenant).in_branch(branch);
    let there = move |kind: ResourceKind| Resource::new(kind, tenant).in_branch(other_branch);

    // Fixtures, made by the owner.
    let mut mine = Vec::new();
    for _ in ROLES {
        mine.push(issued(app, &a).await);
    }
    let (status, elsewhere) = post(
        app,
        a.owner(),
        "/api/v1/invoices",
        Some(invoice_body(a.other_branch, a.other_client)),
    )
    .await;
    assert_eq!(status, CREATED);
    let elsewhere = elsewhere["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        app,
        a.owner(),
        &format!("/api/v1/invoices/{elsewhere}/issue"),
        None,
    )
    .await;
    assert_eq!(status, OK);
    let mut confirmed = Vec::new();
    for _ in ROLES {
        confirmed.push(confirmed_booking(app, &a).await);
    }
    let payable_booking = confirmed_booking(app, &a).await;
    let (status, payables) = post(
        app,
        a.owner(),
        &format!("/api/v1/bookings/{payable_booking}/payables"),
        None,
    )
    .await;
    assert_eq!(status, CREATED);
    let payable = payables["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, foreign) = foreign_invoice(app).await;

    struct Row {
        label: String,
        method: Method,
        path: Box<dyn Fn(Role) -> String>,
        body: Box<dyn Fn(Role) -> Option<Value>>,
        steps: Box<dyn Fn(Role) -> Vec<Step>>,
        success: StatusCode,
    }
    let read = |label: &str, path: String, steps: Box<dyn Fn(Role) -> Vec<Step>>| Row {
        label: label.to_owned(),
        method: Method::GET,
        path: Box::new(move |_| path.clone()),
        body: Box::new(|_| None),
        steps,
        success: OK,
    };
    let (client, other_client) = (a.client, a.other_client);
    let mut rows = vec![
        read(
            "list invoices",
            "/api/v1/invoices".into(),
            Box::new(move |_| vec![Step::Policy(Action::Read, res(ResourceKind::Invoice))]),
        ),
        read(
            "list invoices of an unseen branch",
            format!("/api/v1/invoices?branch_id={other_branch}"),
            Box::new(move |_| vec![Step::Policy(Action::Read, there(ResourceKind::Invoice))]),
        ),
        read(
            "list payments",
            "/api/v1/payments".into(),
            Box::new(move |_| vec![Step::Policy(Action::Read, res(ResourceKind::Payment))]),
        ),
        read(
            "receivables",
            "/api/v1/receivables".into(),
            Box::new(move |_| vec![Step::Policy(Action::Read, res(ResourceKind::Invoice))]),
        ),
        read(
            "tax rates",
            "/api/v1/tax-rates".into(),
            Box::new(move |_| vec![Step::Policy(Action::Read, res(ResourceKind::LedgerEntry))]),
        ),
        read(
            "payables",
            "/api/v1/payables".into(),
            Box::new(move |_| vec![Step::Policy(Action::Read, res(ResourceKind::LedgerEntry))]),
        ),
        read(
            "balance of a client here",
            format!("/api/v1/clients/{client}/balance"),
            Box::new(move |_| {
                vec![
                    Step::Policy(Action::Read, res(ResourceKind::Invoice)),
                    Step::Visible(true),
                ]
            }),
        ),
        read(
            "balance of a client elsewhere",
            format!("/api/v1/clients/{other_client}/balance"),
            Box::new(move |role| {
                vec![
                    Step::Policy(Action::Read, res(ResourceKind::Invoice)),
                    Step::Visible(sees(role, other_branch)),
                ]
            }),
        ),
        read(
            "an invoice elsewhere",
            format!("/api/v1/invoices/{elsewhere}"),
            Box::new(move |role| {
                vec![
                    Step::Visible(sees(role, other_branch)),
                    Step::Policy(Action::Read, there(ResourceKind::Invoice)),
                ]
            }),
        ),
        read(
            "another tenant's invoice",
            format!("/api/v1/invoices/{foreign}"),
            Box::new(|_| vec![Step::Visible(false)]),
        ),
    ];
    for name in ["sales", "receivables-ageing", "payments-by-method", "tax"] {
        rows.push(read(
            &format!("report {name}"),
            format!("/api/v1/reports/{name}"),
            Box::new(move |_| {
                vec![Step::Policy(
                    Action::Read,
                    res(ResourceKind::FinancialReport),
                )]
            }),
        ));
        rows.push(read(
            &format!("report {name} as CSV"),
            format!("/api/v1/reports/{name}?format=csv"),
            Box::new(move |_| {
                vec![Step::Policy(
                    Action::Export,
                    res(ResourceKind::FinancialReport),
                )]
            }),
        ));
        rows.push(read(
            &format!("report {name} of an unseen branch"),
            format!("/api/v1/reports/{name}?branch_id={other_branch}"),
            Box::new(move |_| {
                vec![Step::Policy(
                    Action::Read,
                    there(ResourceKind::FinancialReport),
                )]
            }),
        ));
    }
    let mine_void = mine.clone();
    rows.push(Row {
        label: "void an invoice here".into(),
        method: Method::POST,
        path: Box::new(move |role| format!("/api/v1/invoices/{}/void", mine_void[index(role)])),
        body: Box::new(|_| None),
        steps: Box::new(move |_| {
            vec![
                Step::Visible(true),
                Step::Policy(Action::Void, here(ResourceKind::Invoice)),
            ]
        }),
        success: OK,
    });
    let elsewhere_void = elsewhere.clone();
    rows.push(Row {
        label: "void an invoice elsewhere".into(),
        method: Method::POST,
        path: Box::new(move |_| format!("/api/v1/invoices/{elsewhere_void}/void")),
        body: Box::new(|_| None),
        steps: Box::new(move |role| {
            vec![
                Step::Visible(sees(role, other_branch)),
                Step::Policy(Action::Void, there(ResourceKind::Invoice)),
            ]
        }),
        success: OK,
    });
    rows.push(Row {
        label: "void another tenant's invoice".into(),
        method: Method::POST,
        path: Box::new(move |_| format!("/api/v1/invoices/{foreign}/void")),
        body: Box::new(|_| None),
        steps: Box::new(|_| vec![Step::Visible(false)]),
        success: OK,
    });
    rows.push(Row {
        label: "add a tax rate".into(),
        method: Method::POST,
        path: Box::new(|_| "/api/v1/tax-rates".into()),
        body: Box::new(|role| {
            Some(
                json!({ "code": format!("M{}", index(role)), "name": "VAT", "basis_points": 1500 }),
            )
        }),
        steps: Box::new(move |_| {
            vec![Step::Policy(Action::Create, res(ResourceKind::LedgerEntry))]
        }),
        success: CREATED,
    });
    rows.push(Row {
        label: "record payables".into(),
        method: Method::POST,
        path: Box::new(move |role| format!("/api/v1/bookings/{}/payables", confirmed[index(role)])),
        body: Box::new(|_| None),
        steps: Box::new(move |_| {
            vec![
                Step::Visible(true),
                Step::Policy(Action::Create, here(ResourceKind::LedgerEntry)),
            ]
        }),
        success: CREATED,
    });
    rows.push(Row {
        label: "pay a supplier".into(),
        method: Method::POST,
        path: Box::new(|_| "/api/v1/supplier-payments".into()),
        body: Box::new(move |_| {
            Some(json!({
                "branch_id": branch.to_string(), "supplier": "Al Safwa",
                "amount": sar("10.00"), "method": "cash",
                "allocations": [{ "payable_id": payable, "amount": sar("10.00") }],
            }))
        }),
        steps: Box::new(move |_| vec![Step::Policy(Action::Create, here(ResourceKind::Payment))]),
        success: CREATED,
    });

    let mut mismatches = Vec::new();
    let mut checked = 0;
    for row in &rows {
        for role in ROLES {
            let want = expected(&principal(role), &(row.steps)(role), row.success);
            let (got, body) = send(
                app,
                a.token(role),
                row.method.clone(),
                &(row.path)(role),
                (row.body)(role),
            )
            .await;
            checked += 1;
            if got != want {
                mismatches.push(format!(
                    "{} as {role}: want {want}, got {got} {body}",
                    row.label
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked}:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(checked, 28 * ROLES.len(), "every row was checked");
}

#[tokio::test]
async fn finance_follow_up_endpoints_answer_what_the_policy_decides_on_sqlite() {
    let app = spawn_app().await;
    matrix(&app).await;
}

#[tokio::test]
async fn finance_follow_up_endpoints_answer_what_the_policy_decides_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    matrix(&app).await;
}
