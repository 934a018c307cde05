//! `/api/v1` finance (issue 7): exchange rates, invoices (draft, issue,
//! credit notes), payments (with `Idempotency-Key`) and refunds.
//!
//! - `POST /payments` with `Idempotency-Key: <key>`: the first request
//!   answers 201; a retry with the same key and body answers 200 with the
//!   same payment and `Idempotent-Replayed: true`; the same key with
//!   another body is a 422.
//! - `POST /payments/{id}/refunds` is critical: the first request answers
//!   428 with a confirmation token; repeated with `Tms-Confirm` it acts.
//! - `POST /invoices/{id}/void` is critical too (428, then `Tms-Confirm`);
//!   an invoice with payments still allocated is a 409 that says to refund
//!   or unallocate them first.
//! - Amounts are `{amount, currency}` with a decimal string, as everywhere
//!   in the API ([`MoneyBody`], [`MoneyView`]).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::finance::{
    CreditNote, ExchangeRate, Invoice, InvoiceLine, InvoiceStatus, Payment, PaymentMethod, Refund,
    TaxRate, TenantTaxRate,
};
use tms_core::error::FieldErrors;
use tms_core::id::{BookingId, BranchId, ClientId, InvoiceId, PaymentId};
use tms_core::money::Currency;
use tms_core::ports::{InvoiceFilter, PaymentFilter};
use tms_core::service::finance::{Finance, NewAllocation, NewExchangeRate, NewInvoice, NewPayment};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query, confirmation, idempotency_key};
use crate::routes::bookings::{MoneyBody, MoneyView};

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        add_exchange_rate,
        create_invoice,
        get_invoice,
        issue_invoice,
        void_invoice,
        credit_invoice,
        record_payment,
        get_payment,
        refund_payment,
        add_tax_rate,
        list_tax_rates,
        list_invoices,
        list_payments,
        list_receivables,
        client_balance
    ),
    components(schemas(
        ExchangeRateBody,
        ExchangeRateView,
        InvoiceLineBody,
        InvoiceBody,
        InvoiceLineView,
        InvoiceView,
        CreditNoteBody,
        CreditNoteView,
        AllocationBody,
        AllocationView,
        PaymentBody,
        PaymentView,
        RefundBody,
        RefundView,
        TaxRateBody,
        TaxRateView,
        InvoiceList,
        PaymentList,
        ReceivableView,
        ReceivableList,
        BalanceView,
        ClientBalanceView
    )),
    tags((name = "finance", description = "Exchange rates, invoices, payments and refunds"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exchange-rates", post(add_exchange_rate))
        .route("/tax-rates", post(add_tax_rate).get(list_tax_rates))
        .route("/invoices", post(create_invoice).get(list_invoices))
        .route("/receivables", get(list_receivables))
        .route("/clients/{id}/balance", get(client_balance))
        .route("/invoices/{id}", get(get_invoice))
        .route("/invoices/{id}/issue", post(issue_invoice))
        .route("/invoices/{id}/void", post(void_invoice))
        .route("/invoices/{id}/credit-notes", post(credit_invoice))
        .route("/payments", post(record_payment).get(list_payments))
        .route("/payments/{id}", get(get_payment))
        .route("/payments/{id}/refunds", post(refund_payment))
}

/// The finance service of this request (cheap: a few `Arc` clones).
fn finance(state: &AppState) -> Finance {
    Finance::new(state.deps.clone())
}

fn invoice_id(raw: &str) -> tms_core::Result<InvoiceId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("invoice"))
}

fn payment_id(raw: &str) -> tms_core::Result<PaymentId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("payment"))
}

/// Like [`FieldErrors::check`], for a field name built at run time
/// (`lines[2].unit_price`).
fn check_at<T>(errors: &mut FieldErrors, field: String, result: tms_core::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(tms_core::Error::Invalid(inner)) => {
            for e in inner.as_slice() {
                errors.push(field.clone(), e.message.clone());
            }
            None
        }
        Err(other) => {
            errors.push(field, other.to_string());
            None
        }
    }
}

fn parse_id<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    raw: &str,
    what: &str,
) -> Option<T> {
    raw.parse::<T>()
        .map_err(|_| errors.push(field.to_owned(), format!("is not a {what} id")))
        .ok()
}

fn parse_money(
    errors: &mut FieldErrors,
    field: &str,
    body: &MoneyBody,
) -> Option<tms_core::money::Money> {
    check_at(errors, field.to_owned(), body.parse())
}

/// A new exchange rate.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExchangeRateBody {
    /// From, e.g. `"USD"`.
    pub base: String,
    /// To, e.g. `"PKR"`.
    pub quote: String,
    /// Quote per base as an exact decimal string, e.g. `"278.5012"`.
    pub rate: String,
    /// The day it applies to.
    pub effective_on: NaiveDate,
    /// Where it came from.
    pub source: String,
}

/// An exchange rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeRateView {
    /// Id.
    pub id: String,
    /// From.
    pub base: String,
    /// To.
    pub quote: String,
    /// Quote per base, exact decimal.
    pub rate: String,
    /// The day it applies to.
    pub effective_on: NaiveDate,
    /// Where it came from.
    pub source: String,
}

impl From<&ExchangeRate> for ExchangeRateView {
    fn from(r: &ExchangeRate) -> Self {
        Self {
            id: r.id.to_string(),
            base: r.base.code().to_owned(),
            quote: r.quote.code().to_owned(),
            rate: r.rate.to_string(),
            effective_on: r.effective_on,
            source: r.source.clone(),
        }
    }
}

/// Enters an exchange rate (Finance and the owner).
#[utoipa::path(
    post,
    path = "/api/v1/exchange-rates",
    tag = "finance",
    request_body = ExchangeRateBody,
    responses(
        (status = 201, description = "Entered", body = ExchangeRateView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A rate for this pair and day exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_exchange_rate(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ExchangeRateBody>,
) -> ApiResult<(StatusCode, axum::Json<ExchangeRateView>)> {
    let ctx = auth.authenticated.context()?;
    let mut errors = FieldErrors::new();
    let base = errors.check("base", Currency::parse(&body.base));
    let quote = errors.check("quote", Currency::parse(&body.quote));
    errors.into_result()?;
    let (Some(base), Some(quote)) = (base, quote) else {
        return Err(tms_core::Error::invalid("exchange rate", "is incomplete").into());
    };
    let rate = finance(&state)
        .add_exchange_rate(
            &ctx,
            NewExchangeRate {
                base,
                quote,
                rate: body.rate,
                effective_on: body.effective_on,
                source: body.source,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json((&rate).into())))
}

/// An invoice line as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InvoiceLineBody {
    /// What is billed.
    pub description: String,
    /// How many.
    pub quantity: i64,
    /// Price of one, before tax.
    pub unit_price: MoneyBody,
    /// Tax in basis points (`1500` is 15 %); 0 when absent. Give either
    /// this or `tax_code`, not both.
    pub tax_rate: Option<u32>,
    /// The code of one of the tenant's tax rates (`GET /tax-rates`); the
    /// line is billed at that rate.
    pub tax_code: Option<String>,
}

/// A new draft invoice.
#[derive(Debug, Deserialize, ToSchema)]
pub struct InvoiceBody {
    /// The billing branch.
    pub branch_id: String,
    /// Who is billed.
    pub client_id: String,
    /// The booking billed, if any (it must be the client's).
    pub booking_id: Option<String>,
    /// The invoice currency (ISO-4217).
    pub currency: String,
    /// The number series; `INV` when absent.
    pub series: Option<String>,
    /// The lines.
    pub lines: Vec<InvoiceLineBody>,
}

impl InvoiceBody {
    fn parse(self) -> tms_core::Result<NewInvoice> {
        let mut errors = FieldErrors::new();
        let branch_id = parse_id::<BranchId>(&mut errors, "branch_id", &self.branch_id, "branch");
        let client_id = parse_id::<ClientId>(&mut errors, "client_id", &self.client_id, "client");
        let booking_id = match self.booking_id.as_deref() {
            None => Some(None),
            Some(raw) => parse_id::<BookingId>(&mut errors, "booking_id", raw, "booking").map(Some),
        };
        let currency = errors.check("currency", Currency::parse(&self.currency));
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.into_iter().enumerate() {
            let price = parse_money(
                &mut errors,
                &format!("lines[{i}].unit_price"),
                &l.unit_price,
            );
            if l.tax_rate.is_some() && l.tax_code.is_some() {
                errors.push(
                    format!("lines[{i}].tax_code"),
                    "give tax_code or tax_rate, not both",
                );
            }
            let tax = check_at(
                &mut errors,
                format!("lines[{i}].tax_rate"),
                TaxRate::from_basis_points(l.tax_rate.unwrap_or(0)),
            );
            if let (Some(unit_price), Some(tax_rate)) = (price, tax) {
                lines.push(InvoiceLine {
                    description: l.description,
                    quantity: l.quantity,
                    unit_price,
                    tax_rate,
                    tax_code: l.tax_code,
                });
            }
        }
        errors.into_result()?;
        let (Some(branch_id), Some(client_id), Some(booking_id), Some(currency)) =
            (branch_id, client_id, booking_id, currency)
        else {
            return Err(tms_core::Error::invalid("invoice", "is incomplete"));
        };
        Ok(NewInvoice {
            branch_id,
            client_id,
            booking_id,
            currency,
            series: self.series,
            lines,
        })
    }
}

/// An invoice line.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLineView {
    /// What is billed.
    pub description: String,
    /// How many.
    pub quantity: i64,
    /// Price of one, before tax.
    pub unit_price: MoneyView,
    /// Tax in basis points.
    pub tax_rate: u32,
    /// The tenant tax rate's code, when the line named one.
    pub tax_code: Option<String>,
    /// quantity × unit price.
    pub net: MoneyView,
    /// The line's tax, rounded half-up to the minor unit.
    pub tax: MoneyView,
}

/// An invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    /// Id.
    pub id: String,
    /// `INV-000042` once issued; null on a draft.
    pub number: Option<String>,
    /// `draft`, `issued`, `partially_paid`, `paid` or `void`.
    pub status: String,
    /// The billing branch.
    pub branch_id: String,
    /// Who is billed.
    pub client_id: String,
    /// The booking billed.
    pub booking_id: Option<String>,
    /// ISO-4217 code.
    pub currency: String,
    /// The lines.
    pub lines: Vec<InvoiceLineView>,
    /// Before tax.
    pub net: MoneyView,
    /// Tax.
    pub tax: MoneyView,
    /// Net plus tax.
    pub total: MoneyView,
    /// Allocated payments (refunds are counted apart, in `refunded`).
    pub paid: MoneyView,
    /// Refunded.
    pub refunded: MoneyView,
    /// Credited by credit notes.
    pub credited: MoneyView,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// Increases on every change.
    pub version: i64,
}

impl From<&Invoice> for InvoiceView {
    fn from(i: &Invoice) -> Self {
        Self {
            id: i.id.to_string(),
            number: i.number().map(|n| n.to_string()),
            status: i.status.as_str().to_owned(),
            branch_id: i.branch_id.to_string(),
            client_id: i.client_id.to_string(),
            booking_id: i.booking_id.map(|b| b.to_string()),
            currency: i.currency.code().to_owned(),
            lines: i
                .lines
                .iter()
                .map(|l| {
                    // A stored line always computes (it was checked when
                    // the draft was made); zero is a safe fallback.
                    let zero = tms_core::money::Money::zero(l.unit_price.currency());
                    let (net, tax) = l.amounts().map_or((zero, zero), |a| (a.net, a.tax));
                    InvoiceLineView {
                        description: l.description.clone(),
                        quantity: l.quantity,
                        unit_price: l.unit_price.into(),
                        tax_rate: l.tax_rate.basis_points(),
                        tax_code: l.tax_code.clone(),
                        net: net.into(),
                        tax: tax.into(),
                    }
                })
                .collect(),
            net: i.net.into(),
            tax: i.tax.into(),
            total: i.total.into(),
            paid: i.paid.into(),
            refunded: i.refunded.into(),
            credited: i.credited.into(),
            issued_at: i.issued_at,
            version: i.version,
        }
    }
}

/// Creates a draft invoice.
#[utoipa::path(
    post,
    path = "/api/v1/invoices",
    tag = "finance",
    request_body = InvoiceBody,
    responses(
        (status = 201, description = "Created (a draft)", body = InvoiceView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such branch, client or booking in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The branch is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_invoice(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<InvoiceBody>,
) -> ApiResult<(StatusCode, axum::Json<InvoiceView>)> {
    let ctx = auth.authenticated.context()?;
    let invoice = finance(&state).create_draft(&ctx, body.parse()?).await?;
    Ok((StatusCode::CREATED, axum::Json((&invoice).into())))
}

/// One invoice.
#[utoipa::path(
    get,
    path = "/api/v1/invoices/{id}",
    tag = "finance",
    params(("id" = String, Path, description = "The invoice id")),
    responses(
        (status = 200, description = "The invoice", body = InvoiceView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_invoice(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<InvoiceView>> {
    let ctx = auth.authenticated.context()?;
    let invoice = finance(&state).get_invoice(&ctx, invoice_id(&id)?).await?;
    Ok(axum::Json((&invoice).into()))
}

/// Issues a draft: gives it the series' next number.
#[utoipa::path(
    post,
    path = "/api/v1/invoices/{id}/issue",
    tag = "finance",
    params(("id" = String, Path, description = "The invoice id")),
    responses(
        (status = 200, description = "Issued", body = InvoiceView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue_invoice(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<InvoiceView>> {
    let ctx = auth.authenticated.context()?;
    let invoice = finance(&state).issue(&ctx, invoice_id(&id)?).await?;
    Ok(axum::Json((&invoice).into()))
}

/// Voids an issued invoice (its number stays used, its journal is
/// reversed); critical: confirm with `Tms-Confirm`.
#[utoipa::path(
    post,
    path = "/api/v1/invoices/{id}/void",
    tag = "finance",
    params(
        ("id" = String, Path, description = "The invoice id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 200, description = "Voided", body = InvoiceView),
        (status = 403, description = "Not allowed (Admins never void)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A draft, already void, payments still allocated (refund or unallocate first) or credit notes against it", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn void_invoice(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<InvoiceView>> {
    let ctx = auth.authenticated.context()?;
    let id = invoice_id(&id)?;
    let confirmation = confirmation(&headers);
    let invoice = finance(&state)
        .void(&ctx, id, confirmation.as_ref())
        .await?;
    Ok(axum::Json((&invoice).into()))
}

/// A credit note as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreditNoteBody {
    /// The amount credited before tax, in the invoice's currency.
    pub net: MoneyBody,
    /// Tax in basis points; 0 when absent.
    #[serde(default)]
    pub tax_rate: u32,
    /// Why (1 to 500 characters).
    pub reason: String,
}

/// A credit note.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNoteView {
    /// Id.
    pub id: String,
    /// The invoice credited.
    pub invoice_id: String,
    /// `CN-000007`.
    pub number: String,
    /// Before tax.
    pub net: MoneyView,
    /// Tax.
    pub tax: MoneyView,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<&CreditNote> for CreditNoteView {
    fn from(n: &CreditNote) -> Self {
        Self {
            id: n.id.to_string(),
            invoice_id: n.invoice_id.to_string(),
            number: format!("{}-{:06}", n.series.as_str(), n.number),
            net: n.net.into(),
            tax: n.tax.into(),
            reason: n.reason.clone(),
            created_at: n.created_at,
        }
    }
}

/// Issues a credit note against a live invoice.
#[utoipa::path(
    post,
    path = "/api/v1/invoices/{id}/credit-notes",
    tag = "finance",
    params(("id" = String, Path, description = "The invoice id")),
    request_body = CreditNoteBody,
    responses(
        (status = 201, description = "Issued", body = CreditNoteView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not live, or more than the open amount", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn credit_invoice(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<CreditNoteBody>,
) -> ApiResult<(StatusCode, axum::Json<CreditNoteView>)> {
    let ctx = auth.authenticated.context()?;
    let id = invoice_id(&id)?;
    let mut errors = FieldErrors::new();
    let net = parse_money(&mut errors, "net", &body.net);
    let tax_rate = errors.check("tax_rate", TaxRate::from_basis_points(body.tax_rate));
    errors.into_result()?;
    let (Some(net), Some(tax_rate)) = (net, tax_rate) else {
        return Err(tms_core::Error::invalid("credit note", "is incomplete").into());
    };
    let note = finance(&state)
        .credit(&ctx, id, net, tax_rate, &body.reason)
        .await?;
    Ok((StatusCode::CREATED, axum::Json((&note).into())))
}

/// An allocation as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AllocationBody {
    /// The invoice.
    pub invoice_id: String,
    /// How much of the payment goes to it.
    pub amount: MoneyBody,
}

/// A new payment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentBody {
    /// The receiving branch.
    pub branch_id: String,
    /// Who paid.
    pub client_id: String,
    /// How much.
    pub amount: MoneyBody,
    /// `cash`, `bank_transfer`, `card` or `cheque`.
    pub method: String,
    /// The bank's or terminal's reference.
    pub reference: Option<String>,
    /// Where it goes, in order; the rest is an advance.
    #[serde(default)]
    pub allocations: Vec<AllocationBody>,
}

impl PaymentBody {
    fn parse(self) -> tms_core::Result<NewPayment> {
        let mut errors = FieldErrors::new();
        let branch_id = parse_id::<BranchId>(&mut errors, "branch_id", &self.branch_id, "branch");
        let client_id = parse_id::<ClientId>(&mut errors, "client_id", &self.client_id, "client");
        let amount = parse_money(&mut errors, "amount", &self.amount);
        let method = errors.check("method", PaymentMethod::parse(&self.method));
        let mut allocations = Vec::with_capacity(self.allocations.len());
        for (i, a) in self.allocations.iter().enumerate() {
            let invoice = parse_id::<InvoiceId>(
                &mut errors,
                &format!("allocations[{i}].invoice_id"),
                &a.invoice_id,
                "invoice",
            );
            let amount = parse_money(&mut errors, &format!("allocations[{i}].amount"), &a.amount);
            if let (Some(invoice_id), Some(amount)) = (invoice, amount) {
                allocations.push(NewAllocation { invoice_id, amount });
            }
        }
        errors.into_result()?;
        let (Some(branch_id), Some(client_id), Some(amount), Some(method)) =
            (branch_id, client_id, amount, method)
        else {
            return Err(tms_core::Error::invalid("payment", "is incomplete"));
        };
        Ok(NewPayment {
            branch_id,
            client_id,
            amount,
            method,
            reference: self.reference,
            allocations,
        })
    }
}

/// A part of a payment applied to one invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationView {
    /// The invoice.
    pub invoice_id: String,
    /// How much.
    pub amount: MoneyView,
}

/// A payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// Id.
    pub id: String,
    /// The receiving branch.
    pub branch_id: String,
    /// Who paid.
    pub client_id: String,
    /// How much.
    pub amount: MoneyView,
    /// How.
    pub method: String,
    /// The bank's or terminal's reference.
    pub reference: Option<String>,
    /// Where it went.
    pub allocations: Vec<AllocationView>,
    /// Refunded so far.
    pub refunded: MoneyView,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

impl From<&Payment> for PaymentView {
    fn from(p: &Payment) -> Self {
        Self {
            id: p.id.to_string(),
            branch_id: p.branch_id.to_string(),
            client_id: p.client_id.to_string(),
            amount: p.amount.into(),
            method: p.method.as_str().to_owned(),
            reference: p.reference.clone(),
            allocations: p
                .allocations
                .iter()
                .map(|a| AllocationView {
                    invoice_id: a.invoice_id.to_string(),
                    amount: a.amount.into(),
                })
                .collect(),
            refunded: p.refunded.into(),
            received_at: p.received_at,
        }
    }
}

/// Records a payment and its allocations.
#[utoipa::path(
    post,
    path = "/api/v1/payments",
    tag = "finance",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first payment")),
    request_body = PaymentBody,
    responses(
        (status = 201, description = "Recorded", body = PaymentView),
        (status = 200, description = "A retry of an earlier request with the same Idempotency-Key: the same payment", body = PaymentView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such branch, client or invoice in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "More than an invoice's open amount, or the invoice is not live", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or the key was used with another request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_payment(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Json(body): Json<PaymentBody>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let key = idempotency_key(&headers)?;
    let recorded = finance(&state)
        .record_payment(&ctx, body.parse()?, key)
        .await?;
    let view = axum::Json(PaymentView::from(&recorded.payment));
    Ok(crate::extract::created_or_replayed(view, recorded.replayed))
}

/// One payment.
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}",
    tag = "finance",
    params(("id" = String, Path, description = "The payment id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_payment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PaymentView>> {
    let ctx = auth.authenticated.context()?;
    let payment = finance(&state).get_payment(&ctx, payment_id(&id)?).await?;
    Ok(axum::Json((&payment).into()))
}

/// A refund as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefundBody {
    /// How much, in the payment's currency.
    pub amount: MoneyBody,
    /// Why (1 to 500 characters).
    pub reason: String,
}

/// A refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    /// Id.
    pub id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// How much.
    pub amount: MoneyView,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<&Refund> for RefundView {
    fn from(r: &Refund) -> Self {
        Self {
            id: r.id.to_string(),
            payment_id: r.payment_id.to_string(),
            amount: r.amount.into(),
            reason: r.reason.clone(),
            created_at: r.created_at,
        }
    }
}

/// Refunds part or all of a payment; critical: confirm with `Tms-Confirm`.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/refunds",
    tag = "finance",
    params(
        ("id" = String, Path, description = "The payment id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    request_body = RefundBody,
    responses(
        (status = 201, description = "Refunded", body = RefundView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or more than was paid net of earlier refunds", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refund_payment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RefundBody>,
) -> ApiResult<(StatusCode, axum::Json<RefundView>)> {
    let ctx = auth.authenticated.context()?;
    let id = payment_id(&id)?;
    let amount = body.amount.parse()?;
    let confirmation = confirmation(&headers);
    let refund = finance(&state)
        .refund(&ctx, id, amount, &body.reason, confirmation.as_ref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json((&refund).into())))
}

// ------------------------------------------------ tax rates, lists, balances

/// A new tenant tax rate.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TaxRateBody {
    /// 1 to 20 of `A-Z`, `0-9`, `_`, `-`, unique per tenant: `VAT15`.
    pub code: String,
    /// Printed on invoices: `VAT 15 %`.
    pub name: String,
    /// Basis points, 0 to 10000 (`1500` is 15 %).
    pub basis_points: u32,
}

/// A tenant tax rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRateView {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Basis points.
    pub basis_points: u32,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
}

impl From<&TenantTaxRate> for TaxRateView {
    fn from(r: &TenantTaxRate) -> Self {
        Self {
            code: r.code.clone(),
            name: r.name.clone(),
            basis_points: r.rate.basis_points(),
            created_at: r.created_at,
        }
    }
}

/// Adds a tax rate to the tenant's table (Finance and the owner).
#[utoipa::path(
    post,
    path = "/api/v1/tax-rates",
    tag = "finance",
    request_body = TaxRateBody,
    responses(
        (status = 201, description = "Added", body = TaxRateView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code is taken (rates are never edited)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_tax_rate(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<TaxRateBody>,
) -> ApiResult<(StatusCode, axum::Json<TaxRateView>)> {
    let ctx = auth.authenticated.context()?;
    let rate = finance(&state)
        .add_tax_rate(&ctx, &body.code, &body.name, body.basis_points)
        .await?;
    Ok((StatusCode::CREATED, axum::Json((&rate).into())))
}

/// The tenant's tax rates, by code.
#[utoipa::path(
    get,
    path = "/api/v1/tax-rates",
    tag = "finance",
    responses(
        (status = 200, description = "The rates", body = [TaxRateView]),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_tax_rates(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<Vec<TaxRateView>>> {
    let ctx = auth.authenticated.context()?;
    let rates = finance(&state).tax_rates(&ctx).await?;
    Ok(axum::Json(rates.iter().map(Into::into).collect()))
}

/// Filters of the invoice, payment and receivable lists.
#[derive(Debug, Deserialize)]
pub struct FinanceQuery {
    /// Invoices: only this status.
    pub status: Option<String>,
    /// Payments: only this method.
    pub method: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only this branch's.
    pub branch_id: Option<String>,
    /// From this day (UTC), inclusive.
    pub from: Option<NaiveDate>,
    /// To this day (UTC), inclusive.
    pub to: Option<NaiveDate>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Parsed common filters: client, branch, `[from, to)` instants, page.
pub(crate) struct Common {
    pub(crate) client_id: Option<ClientId>,
    pub(crate) branch_id: Option<BranchId>,
    pub(crate) from: Option<DateTime<Utc>>,
    pub(crate) to: Option<DateTime<Utc>>,
    pub(crate) page: tms_core::ports::PageRequest,
}

/// The first instant of `day` (UTC).
pub(crate) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The first instant after `day` (UTC): `to` days are inclusive.
pub(crate) fn day_end(day: NaiveDate) -> tms_core::Result<DateTime<Utc>> {
    day.succ_opt()
        .map(day_start)
        .ok_or_else(|| tms_core::Error::invalid("to", "is out of range"))
}

impl FinanceQuery {
    fn common(&self) -> tms_core::Result<Common> {
        let mut errors = FieldErrors::new();
        let client_id = self
            .client_id
            .as_deref()
            .and_then(|c| parse_id::<ClientId>(&mut errors, "client_id", c, "client"));
        let branch_id = self
            .branch_id
            .as_deref()
            .and_then(|b| parse_id::<BranchId>(&mut errors, "branch_id", b, "branch"));
        let to = self.to.map(day_end).transpose();
        let to = errors.check("to", to).flatten();
        errors.into_result()?;
        Ok(Common {
            client_id,
            branch_id,
            from: self.from.map(day_start),
            to,
            page: tms_core::ports::PageRequest::new(self.limit, self.cursor.as_deref())?,
        })
    }
}

/// One page of invoices.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceList {
    /// The invoices, oldest first.
    pub items: Vec<InvoiceView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The invoices the caller sees (their branches only).
#[utoipa::path(
    get,
    path = "/api/v1/invoices",
    tag = "finance",
    params(
        ("status" = Option<String>, Query, description = "draft, issued, partially_paid, paid or void"),
        ("client_id" = Option<String>, Query, description = "Only this client's"),
        ("branch_id" = Option<String>, Query, description = "Only this branch's (404 if not in scope)"),
        ("from" = Option<String>, Query, description = "Created on or after this day (YYYY-MM-DD, UTC)"),
        ("to" = Option<String>, Query, description = "Created on or before this day"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page", body = InvoiceList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not in scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_invoices(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<FinanceQuery>,
) -> ApiResult<axum::Json<InvoiceList>> {
    let ctx = auth.authenticated.context()?;
    let c = query.common()?;
    let status = query
        .status
        .as_deref()
        .map(InvoiceStatus::parse)
        .transpose()?;
    let filter = InvoiceFilter {
        status,
        open_only: false,
        client_id: c.client_id,
        branch_id: c.branch_id,
        from: c.from,
        to: c.to,
        issued_from: None,
        issued_to: None,
    };
    let page = finance(&state).list_invoices(&ctx, filter, c.page).await?;
    Ok(axum::Json(InvoiceList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// One page of payments.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentList {
    /// The payments, oldest first.
    pub items: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The payments the caller sees (their branches only).
#[utoipa::path(
    get,
    path = "/api/v1/payments",
    tag = "finance",
    params(
        ("method" = Option<String>, Query, description = "cash, bank_transfer, card or cheque"),
        ("client_id" = Option<String>, Query, description = "Only this client's"),
        ("branch_id" = Option<String>, Query, description = "Only this branch's (404 if not in scope)"),
        ("from" = Option<String>, Query, description = "Received on or after this day (YYYY-MM-DD, UTC)"),
        ("to" = Option<String>, Query, description = "Received on or before this day"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page", body = PaymentList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not in scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_payments(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<FinanceQuery>,
) -> ApiResult<axum::Json<PaymentList>> {
    let ctx = auth.authenticated.context()?;
    let c = query.common()?;
    let method = query
        .method
        .as_deref()
        .map(PaymentMethod::parse)
        .transpose()?;
    let filter = PaymentFilter {
        client_id: c.client_id,
        branch_id: c.branch_id,
        method,
        from: c.from,
        to: c.to,
    };
    let page = finance(&state).list_payments(&ctx, filter, c.page).await?;
    Ok(axum::Json(PaymentList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// An open invoice and what is due on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivableView {
    /// The invoice.
    pub invoice: InvoiceView,
    /// total − credited − (paid − refunded).
    pub due: MoneyView,
}

/// One page of receivables.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivableList {
    /// Open invoices, oldest first.
    pub items: Vec<ReceivableView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Open invoices (issued or partially paid) with the amount due on each.
#[utoipa::path(
    get,
    path = "/api/v1/receivables",
    tag = "finance",
    params(
        ("client_id" = Option<String>, Query, description = "Only this client's"),
        ("branch_id" = Option<String>, Query, description = "Only this branch's (404 if not in scope)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page", body = ReceivableList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not in scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_receivables(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<FinanceQuery>,
) -> ApiResult<axum::Json<ReceivableList>> {
    let ctx = auth.authenticated.context()?;
    let c = query.common()?;
    let page = finance(&state)
        .receivables(&ctx, c.client_id, c.branch_id, c.page)
        .await?;
    Ok(axum::Json(ReceivableList {
        items: page
            .items
            .iter()
            .map(|r| ReceivableView {
                invoice: (&r.invoice).into(),
                due: r.due.into(),
            })
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// A client's balance in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// ISO-4217 code.
    pub currency: String,
    /// Totals of live invoices.
    pub invoiced: MoneyView,
    /// Credit notes.
    pub credited: MoneyView,
    /// Payments received.
    pub paid: MoneyView,
    /// Refunds.
    pub refunded: MoneyView,
    /// invoiced − credited − paid + refunded: positive is owed by the
    /// client, negative is the client's advance.
    pub balance: MoneyView,
}

/// A client's balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientBalanceView {
    /// The client.
    pub client_id: String,
    /// One entry per currency, by code.
    pub balances: Vec<BalanceView>,
}

/// A client's balance per currency, over the branches the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/clients/{id}/balance",
    tag = "finance",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The balances", body = ClientBalanceView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn client_balance(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ClientBalanceView>> {
    let ctx = auth.authenticated.context()?;
    let client: ClientId = id
        .parse()
        .map_err(|_| tms_core::Error::not_found("client"))?;
    let balances = finance(&state).client_balance(&ctx, client).await?;
    Ok(axum::Json(ClientBalanceView {
        client_id: client.to_string(),
        balances: balances
            .iter()
            .map(|b| BalanceView {
                currency: b.currency.code().to_owned(),
                invoiced: b.invoiced.into(),
                credited: b.credited.into(),
                paid: b.paid.into(),
                refunded: b.refunded.into(),
                balance: b.balance.into(),
            })
            .collect(),
    }))
}
