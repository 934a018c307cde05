//! Documents as PDF: `GET /bookings/{id}/voucher.pdf`,
//! `/bookings/{id}/confirmation.pdf`, `/invoices/{id}/pdf` and
//! `/umrah/groups/{id}/manifest.pdf` and `/credit-notes/{id}/pdf`, each with
//! `?page=a4` (default) or `?page=letter`. Vouchers print the tenant's
//! emergency contact from its branding settings.
//!
//! A document is authorized exactly like reading its record (another
//! tenant's or an unseen branch's id is a 404, a role that may not read it a
//! 403); see `tms_core::service::documents`. The answer is
//! `application/pdf`, shown inline.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tms_core::Error;
use tms_core::domain::Context;
use tms_core::id::{BookingId, CreditNoteId, InvoiceId, UmrahGroupId};
use tms_core::ports::{Branding, PageSize};
use tms_core::service::documents::{DocumentOptions, Documents};
use utoipa::{IntoParams, OpenApi};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Path, Query};

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(voucher, confirmation, invoice, manifest, credit_note),
    tags((name = "documents", description = "Vouchers, confirmations, invoices and manifests as PDF"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bookings/{id}/voucher.pdf", get(voucher))
        .route("/bookings/{id}/confirmation.pdf", get(confirmation))
        .route("/invoices/{id}/pdf", get(invoice))
        .route("/umrah/groups/{id}/manifest.pdf", get(manifest))
        // --- documents follow-ups (issue 8) ---
        .route("/credit-notes/{id}/pdf", get(credit_note))
}

/// How the document is printed.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrintQuery {
    /// `a4` (default) or `letter`.
    #[serde(default)]
    pub page: Option<String>,
}

impl PrintQuery {
    fn options(&self) -> tms_core::Result<DocumentOptions> {
        Ok(DocumentOptions {
            page_size: match &self.page {
                Some(raw) => PageSize::parse(raw)?,
                None => PageSize::default(),
            },
            emergency_contact: None,
        })
    }
}

fn id<T: std::str::FromStr>(raw: &str, what: &'static str) -> tms_core::Result<T> {
    raw.parse().map_err(|_| Error::not_found(what))
}

fn documents(state: &AppState) -> Documents {
    Documents::new(
        state.deps.clone(),
        state.keyring.clone(),
        state.umrah.clone(),
        state.documents.clone(),
    )
}

/// The caller's tenant's look on documents: agency name, address, accent
/// colour and logo, from the files service (the tenant's branding settings
/// and the logo in the blob store).
async fn branding(state: &AppState, ctx: &Context) -> tms_core::Result<Branding> {
    state.files.branding(ctx).await
}

fn pdf(bytes: Vec<u8>, name: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The travel voucher of a booking.
#[utoipa::path(
    get, path = "/api/v1/bookings/{id}/voucher.pdf", tag = "documents",
    params(("id" = String, Path, description = "The booking id"), PrintQuery),
    responses(
        (status = 200, description = "The voucher", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "Not allowed to read the booking", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown page size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn voucher(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(query): Query<PrintQuery>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let booking = id::<BookingId>(&raw, "booking")?;
    let options = query.options()?;
    let branding = branding(&state, &ctx).await?;
    let bytes = documents(&state)
        .voucher(&ctx, booking, branding, &options)
        .await?;
    Ok(pdf(bytes, format!("voucher-{booking}")))
}

/// The booking confirmation.
#[utoipa::path(
    get, path = "/api/v1/bookings/{id}/confirmation.pdf", tag = "documents",
    params(("id" = String, Path, description = "The booking id"), PrintQuery),
    responses(
        (status = 200, description = "The confirmation", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "Not allowed to read the booking", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown page size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirmation(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(query): Query<PrintQuery>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let booking = id::<BookingId>(&raw, "booking")?;
    let options = query.options()?;
    let branding = branding(&state, &ctx).await?;
    let bytes = documents(&state)
        .confirmation(&ctx, booking, branding, &options)
        .await?;
    Ok(pdf(bytes, format!("confirmation-{booking}")))
}

/// An invoice.
#[utoipa::path(
    get, path = "/api/v1/invoices/{id}/pdf", tag = "documents",
    params(("id" = String, Path, description = "The invoice id"), PrintQuery),
    responses(
        (status = 200, description = "The invoice", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "Not allowed to read the invoice", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such invoice", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown page size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn invoice(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(query): Query<PrintQuery>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let invoice = id::<InvoiceId>(&raw, "invoice")?;
    let options = query.options()?;
    let branding = branding(&state, &ctx).await?;
    let bytes = documents(&state)
        .invoice(&ctx, invoice, branding, &options)
        .await?;
    Ok(pdf(bytes, format!("invoice-{invoice}")))
}

/// The printable manifest of an Umrah group (passport numbers shown as
/// their last two characters; the CSV export has them in full).
#[utoipa::path(
    get, path = "/api/v1/umrah/groups/{id}/manifest.pdf", tag = "documents",
    params(("id" = String, Path, description = "The group id"), PrintQuery),
    responses(
        (status = 200, description = "The manifest", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "Not allowed to read the group", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown page size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn manifest(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(query): Query<PrintQuery>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let group = id::<UmrahGroupId>(&raw, "umrah group")?;
    let options = query.options()?;
    let branding = branding(&state, &ctx).await?;
    let bytes = documents(&state)
        .manifest(&ctx, group, branding, &options)
        .await?;
    Ok(pdf(bytes, format!("manifest-{group}")))
}

// --- documents follow-ups (issue 8) ---
/// A credit note: its lines, taxes and totals, and the invoice it credits.
/// Authorized as reading that invoice.
#[utoipa::path(
    get, path = "/api/v1/credit-notes/{id}/pdf", tag = "documents",
    params(("id" = String, Path, description = "The credit note id"), PrintQuery),
    responses(
        (status = 200, description = "The credit note", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, description = "Not allowed to read invoices", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credit note", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown page size", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn credit_note(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(query): Query<PrintQuery>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let note = id::<CreditNoteId>(&raw, "credit note")?;
    let options = query.options()?;
    let branding = branding(&state, &ctx).await?;
    let bytes = documents(&state)
        .credit_note_pdf(&ctx, note, branding, &options)
        .await?;
    Ok(pdf(bytes, format!("credit-note-{note}")))
}
