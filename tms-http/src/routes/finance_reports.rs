//! `/api/v1` supplier payables and financial reports (issue 7).
//!
//! - `POST /bookings/{id}/payables` records what the agency owes suppliers
//!   for a confirmed booking's items (201 with the new payables; 200 with
//!   none when every item has one). `GET /payables` lists them.
//! - `POST /supplier-payments` pays a supplier (Finance and the owner
//!   only), with `Idempotency-Key` like client payments.
//! - `GET /reports/{name}?from=&to=&branch_id=&format=json|csv`: `sales`,
//!   `receivables-ageing`, `payments-by-method`, `profit-by-booking`,
//!   `profit-by-branch`, `tax`. Every viewing is audited
//!   (`report.financial.viewed`); `format=csv` answers `text/csv`, streamed
//!   a row at a time, and needs the export right.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::finance::{Payable, PaymentMethod, SupplierPayment};
use tms_core::error::FieldErrors;
use tms_core::id::{BookingId, BranchId, PayableId, SupplierPaymentId};
use tms_core::ports::{PageRequest, PayableFilter};
use tms_core::service::finance::{Finance, NewSupplierPayment, Report, ReportKind, ReportRequest};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query, idempotency_key};
use crate::routes::bookings::{MoneyBody, MoneyView};
use crate::routes::finance::{day_end, day_start};

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        record_payables,
        list_payables,
        pay_supplier,
        get_supplier_payment,
        view_report
    ),
    components(schemas(
        PayableView,
        PayableList,
        SupplierAllocationBody,
        SupplierPaymentBody,
        SupplierAllocationView,
        SupplierPaymentView,
        ReportView
    )),
    tags((name = "finance", description = "Exchange rates, invoices, payments and refunds"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bookings/{id}/payables", post(record_payables))
        .route("/payables", get(list_payables))
        .route("/supplier-payments", post(pay_supplier))
        .route("/supplier-payments/{id}", get(get_supplier_payment))
        .route("/reports/{name}", get(view_report))
}

fn finance(state: &AppState) -> Finance {
    Finance::new(state.deps.clone())
}

/// What the agency owes a supplier for one booking item.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayableView {
    /// Id.
    pub id: String,
    /// The booking's branch.
    pub branch_id: String,
    /// The booking.
    pub booking_id: String,
    /// The item's position in the booking (0-based).
    pub item: u32,
    /// The supplier.
    pub supplier: String,
    /// The item.
    pub description: String,
    /// The item's cost.
    pub amount: MoneyView,
    /// Paid so far.
    pub paid: MoneyView,
    /// Still owed.
    pub open: MoneyView,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

impl From<&Payable> for PayableView {
    fn from(p: &Payable) -> Self {
        Self {
            id: p.id.to_string(),
            branch_id: p.branch_id.to_string(),
            booking_id: p.booking_id.to_string(),
            item: p.item,
            supplier: p.supplier.clone(),
            description: p.description.clone(),
            amount: p.amount.into(),
            paid: p.paid.into(),
            open: p.open_amount().unwrap_or(p.amount).into(),
            created_at: p.created_at,
        }
    }
}

/// Payables.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayableList {
    /// The payables, oldest first.
    pub items: Vec<PayableView>,
    /// Pass as `cursor` for the next page; null on the last (and after
    /// recording).
    pub next_cursor: Option<String>,
}

/// Records what the agency owes suppliers for a confirmed booking's items.
#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/payables",
    tag = "finance",
    params(("id" = String, Path, description = "The booking id")),
    responses(
        (status = 201, description = "Recorded these payables", body = PayableList),
        (status = 200, description = "Every item has its payable already", body = PayableList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The booking is not confirmed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_payables(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<PayableList>)> {
    let ctx = auth.authenticated.context()?;
    let booking: BookingId = id
        .parse()
        .map_err(|_| tms_core::Error::not_found("booking"))?;
    let new = finance(&state).record_payables(&ctx, booking).await?;
    let status = if new.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        axum::Json(PayableList {
            items: new.iter().map(Into::into).collect(),
            next_cursor: None,
        }),
    ))
}

/// Filters of the payables list.
#[derive(Debug, Deserialize)]
pub struct PayableQuery {
    /// Only this supplier's (exact name).
    pub supplier: Option<String>,
    /// Only this booking's.
    pub booking_id: Option<String>,
    /// Only this branch's.
    pub branch_id: Option<String>,
    /// Only those still open.
    #[serde(default)]
    pub open: bool,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// What the agency owes suppliers (the caller's branches only).
#[utoipa::path(
    get,
    path = "/api/v1/payables",
    tag = "finance",
    params(
        ("supplier" = Option<String>, Query, description = "Only this supplier's (exact name)"),
        ("booking_id" = Option<String>, Query, description = "Only this booking's"),
        ("branch_id" = Option<String>, Query, description = "Only this branch's (404 if not in scope)"),
        ("open" = Option<bool>, Query, description = "Only those still owed"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page", body = PayableList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not in scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_payables(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<PayableQuery>,
) -> ApiResult<axum::Json<PayableList>> {
    let ctx = auth.authenticated.context()?;
    let mut errors = FieldErrors::new();
    let booking_id = query.booking_id.as_deref().and_then(|b| {
        b.parse::<BookingId>()
            .map_err(|_| errors.push("booking_id", "is not a booking id"))
            .ok()
    });
    let branch_id = query.branch_id.as_deref().and_then(|b| {
        b.parse::<BranchId>()
            .map_err(|_| errors.push("branch_id", "is not a branch id"))
            .ok()
    });
    errors.into_result()?;
    let filter = PayableFilter {
        supplier: query.supplier.map(|s| s.trim().to_owned()),
        booking_id,
        branch_id,
        open_only: query.open,
    };
    let page = PageRequest::new(query.limit, query.cursor.as_deref())?;
    let page = finance(&state).list_payables(&ctx, filter, page).await?;
    Ok(axum::Json(PayableList {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// A part of a supplier payment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SupplierAllocationBody {
    /// The payable.
    pub payable_id: String,
    /// How much of the payment settles it.
    pub amount: MoneyBody,
}

/// A payment to a supplier.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SupplierPaymentBody {
    /// The paying branch.
    pub branch_id: String,
    /// The supplier, as the booking items name it.
    pub supplier: String,
    /// How much; the allocations add up to it.
    pub amount: MoneyBody,
    /// `cash`, `bank_transfer`, `card` or `cheque`.
    pub method: String,
    /// The bank's reference.
    pub reference: Option<String>,
    /// The payables settled.
    pub allocations: Vec<SupplierAllocationBody>,
}

impl SupplierPaymentBody {
    fn parse(self) -> tms_core::Result<NewSupplierPayment> {
        let mut errors = FieldErrors::new();
        let branch_id = self
            .branch_id
            .parse::<BranchId>()
            .map_err(|_| errors.push("branch_id", "is not a branch id"))
            .ok();
        let amount = errors.check("amount", self.amount.parse());
        let method = errors.check("method", PaymentMethod::parse(&self.method));
        let mut allocations = Vec::with_capacity(self.allocations.len());
        for (i, a) in self.allocations.iter().enumerate() {
            let id = a
                .payable_id
                .parse::<PayableId>()
                .map_err(|_| {
                    errors.push(
                        format!("allocations[{i}].payable_id"),
                        "is not a payable id",
                    )
                })
                .ok();
            let money = match a.amount.parse() {
                Ok(m) => Some(m),
                Err(_) => {
                    errors.push(
                        format!("allocations[{i}].amount"),
                        "is not an amount in a known currency",
                    );
                    None
                }
            };
            if let (Some(id), Some(money)) = (id, money) {
                allocations.push((id, money));
            }
        }
        errors.into_result()?;
        let (Some(branch_id), Some(amount), Some(method)) = (branch_id, amount, method) else {
            return Err(tms_core::Error::invalid("payment", "is incomplete"));
        };
        Ok(NewSupplierPayment {
            branch_id,
            supplier: self.supplier,
            amount,
            method,
            reference: self.reference,
            allocations,
        })
    }
}

/// A part of a supplier payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierAllocationView {
    /// The payable.
    pub payable_id: String,
    /// How much.
    pub amount: MoneyView,
}

/// A payment to a supplier.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierPaymentView {
    /// Id.
    pub id: String,
    /// The paying branch.
    pub branch_id: String,
    /// Who was paid.
    pub supplier: String,
    /// How much.
    pub amount: MoneyView,
    /// How.
    pub method: String,
    /// The bank's reference.
    pub reference: Option<String>,
    /// What it settled.
    pub allocations: Vec<SupplierAllocationView>,
    /// When.
    pub paid_at: DateTime<Utc>,
}

impl From<&SupplierPayment> for SupplierPaymentView {
    fn from(p: &SupplierPayment) -> Self {
        Self {
            id: p.id.to_string(),
            branch_id: p.branch_id.to_string(),
            supplier: p.supplier.clone(),
            amount: p.amount.into(),
            method: p.method.as_str().to_owned(),
            reference: p.reference.clone(),
            allocations: p
                .allocations
                .iter()
                .map(|a| SupplierAllocationView {
                    payable_id: a.payable_id.to_string(),
                    amount: a.amount.into(),
                })
                .collect(),
            paid_at: p.paid_at,
        }
    }
}

/// Pays a supplier (Finance and the owner only).
#[utoipa::path(
    post,
    path = "/api/v1/supplier-payments",
    tag = "finance",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first payment")),
    request_body = SupplierPaymentBody,
    responses(
        (status = 201, description = "Recorded", body = SupplierPaymentView),
        (status = 200, description = "A retry with the same Idempotency-Key: the same payment", body = SupplierPaymentView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such branch or payable in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A payable changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid: allocations not adding up, another supplier's or currency's payable, more than is open", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pay_supplier(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Json(body): Json<SupplierPaymentBody>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let key = idempotency_key(&headers)?;
    let recorded = finance(&state)
        .pay_supplier(&ctx, body.parse()?, key)
        .await?;
    let view = axum::Json(SupplierPaymentView::from(&recorded.payment));
    Ok(crate::extract::created_or_replayed(view, recorded.replayed))
}

/// One supplier payment.
#[utoipa::path(
    get,
    path = "/api/v1/supplier-payments/{id}",
    tag = "finance",
    params(("id" = String, Path, description = "The supplier payment id")),
    responses(
        (status = 200, description = "The payment", body = SupplierPaymentView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_supplier_payment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SupplierPaymentView>> {
    let ctx = auth.authenticated.context()?;
    let id: SupplierPaymentId = id
        .parse()
        .map_err(|_| tms_core::Error::not_found("supplier payment"))?;
    let payment = finance(&state).get_supplier_payment(&ctx, id).await?;
    Ok(axum::Json((&payment).into()))
}

/// Report parameters.
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    /// From this day (UTC), inclusive.
    pub from: Option<NaiveDate>,
    /// To this day (UTC), inclusive; today when absent.
    pub to: Option<NaiveDate>,
    /// Only this branch.
    pub branch_id: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A report as JSON: the columns, and each row as an object of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    /// The report's name.
    pub report: String,
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The rows: column name → value (amounts as exact decimals).
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// One CSV record as bytes.
fn csv_record(fields: &[&str]) -> Result<Bytes, std::io::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(128));
    writer.write_record(fields).map_err(std::io::Error::other)?;
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The CSV body: the header, then each row as it is encoded.
fn csv_body(report: Report) -> Body {
    let header = report.columns.clone();
    let head = std::iter::once(csv_record(&header));
    let rows = report.rows.into_iter().map(|row| {
        let fields: Vec<&str> = row.iter().map(String::as_str).collect();
        csv_record(&fields)
    });
    Body::from_stream(futures_util::stream::iter(head.chain(rows)))
}

/// A financial report, as JSON or streamed CSV; each viewing is audited.
#[utoipa::path(
    get,
    path = "/api/v1/reports/{name}",
    tag = "finance",
    params(
        ("name" = String, Path, description = "sales, receivables-ageing, payments-by-method, profit-by-booking, profit-by-branch or tax"),
        ("from" = Option<String>, Query, description = "From this day (YYYY-MM-DD, UTC), inclusive"),
        ("to" = Option<String>, Query, description = "To this day, inclusive; ageing counts days up to its end"),
        ("branch_id" = Option<String>, Query, description = "Only this branch (404 if not in scope)"),
        ("format" = Option<String>, Query, description = "json (default) or csv (needs the export right)"),
    ),
    responses(
        (status = 200, description = "The report: JSON, or CSV streamed a row at a time", content(
            (ReportView = "application/json"),
            (String = "text/csv")
        )),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such report, or the branch is not in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Profit: an exchange rate to the base currency is missing", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn view_report(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
    Query(query): Query<ReportQuery>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let kind = ReportKind::parse(&name)?;
    let mut errors = FieldErrors::new();
    let export = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            errors.push("format", "must be json or csv");
            false
        }
    };
    let branch_id = query.branch_id.as_deref().and_then(|b| {
        b.parse::<BranchId>()
            .map_err(|_| errors.push("branch_id", "is not a branch id"))
            .ok()
    });
    let to = errors
        .check("to", query.to.map(day_end).transpose())
        .flatten();
    errors.into_result()?;
    let report = finance(&state)
        .report(
            &ctx,
            ReportRequest {
                kind,
                from: query.from.map(day_start),
                to,
                branch_id,
                export,
            },
        )
        .await?;
    if export {
        let disposition = format!("attachment; filename=\"{}.csv\"", kind.as_str());
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            csv_body(report),
        )
            .into_response());
    }
    let columns: Vec<String> = report.columns.iter().map(|c| (*c).to_owned()).collect();
    let rows = report
        .rows
        .into_iter()
        .map(|row| {
            columns
                .iter()
                .cloned()
                .zip(row.into_iter().map(serde_json::Value::String))
                .collect()
        })
        .collect();
    Ok(axum::Json(ReportView {
        report: kind.as_str().to_owned(),
        columns,
        rows,
    })
    .into_response())
}
