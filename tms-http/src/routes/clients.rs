//! `/api/v1/clients`: the agency's clients — list and search, create (with
//! likely duplicates), read, edit, delete (critical: `Tms-Confirm`),
//! consent per channel, and bulk import from CSV.
//!
//! **Import** (`POST /api/v1/clients/import?branch_id=…&dry_run=true`): a
//! `multipart/form-data` upload with the CSV in a part named `file` (an
//! optional `mapping` part before it, a JSON object of column → header,
//! maps headers explicitly). The part is streamed chunk by chunk into the
//! parser, never buffered whole; this one route accepts bodies up to
//! [`IMPORT_BODY_LIMIT`] (50 MiB) where every other keeps the configured
//! `body_limit`. The answer is the import report; `committed` says
//! whether the rows were written (all of them, or none).
//!
//! All or nothing needs one transaction from the first row to the commit:
//! on SQLite that holds the database's single write lock while the upload
//! streams in (other writers wait up to the busy timeout), and the request
//! timeout (`TMS_REQUEST_TIMEOUT_SECS`) bounds the whole upload. For very
//! large files prefer `tms-server import clients`, or a dry run first.
//!
//! ```text
//! curl -H "Authorization: Bearer $TOKEN" \
//!   -F file=@clients.csv \
//!   "http://localhost:8080/api/v1/clients/import?branch_id=$BRANCH&dry_run=true"
//! ```

use super::upload::{PartSource, multipart_error};
use crate::extract::confirmation;
use std::collections::HashMap;

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{ConsentChannel, ConsentRecord, ConsentSource};
use tms_core::id::{BranchId, ClientId};
use tms_core::service::clients::{
    ClientDetails, ClientForm, ClientPatch, ClientQuery, Clients, ConsentChange,
};
use tms_core::service::import::{ImportOptions, ImportReport};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};

/// The largest upload `POST /api/v1/clients/import` accepts (50 MiB,
/// about 300,000 client rows).
pub const IMPORT_BODY_LIMIT: usize = 50 * 1024 * 1024;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_clients,
        create_client,
        get_client,
        update_client,
        delete_client,
        list_consents,
        record_consent,
        import_clients
    ),
    components(schemas(
        ClientView,
        ClientList,
        NewClient,
        ClientPatchBody,
        CreatedClientView,
        ConsentView,
        ConsentsView,
        ConsentBody,
        ImportReportView,
        RowErrorView,
        ImportUpload
    )),
    tags((name = "clients", description = "Clients, their consent, and CSV import"))
)]
pub struct ApiDoc;

impl AppState {
    /// The clients service over the shared dependencies and key ring
    /// (cheap: it holds only `Arc`s).
    pub fn clients(&self) -> Clients {
        Clients::new(self.deps.clone(), self.keyring.clone())
            // --- files (issue 8) ---: a deleted client's documents go too.
            .with_blobs(self.blobs.clone())
    }
}

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clients", get(list_clients).post(create_client))
        .route(
            "/clients/import",
            post(import_clients).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route(
            "/clients/{id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route(
            "/clients/{id}/consents",
            get(list_consents).post(record_consent),
        )
}

/// A client. (No `Debug`: it carries the passport number.)
#[derive(Serialize, ToSchema)]
pub struct ClientView {
    /// Id.
    pub id: String,
    /// The branch that looks after the client.
    pub branch_id: String,
    /// `person` or `company`.
    pub kind: String,
    /// The name exactly as typed, any script.
    pub name: String,
    /// The Latin transliteration for tickets (upper case).
    pub latin_name: Option<String>,
    /// Phone in E.164.
    pub phone: Option<String>,
    /// Email (lower case).
    pub email: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Nationality, ISO 3166-1 alpha-2.
    pub nationality: Option<String>,
    /// The passport number (stored encrypted).
    pub passport_number: Option<String>,
    /// When the passport expires.
    pub passport_expires_on: Option<NaiveDate>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Send this back as `version` when editing.
    pub version: i64,
}

impl From<&ClientDetails> for ClientView {
    fn from(details: &ClientDetails) -> Self {
        let c = &details.client;
        Self {
            id: c.id.to_string(),
            branch_id: c.branch_id.to_string(),
            kind: c.kind.as_str().to_owned(),
            name: c.name.to_string(),
            latin_name: c.latin_name.as_ref().map(|l| l.as_str().to_owned()),
            phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
            email: c.email.as_ref().map(|e| e.as_str().to_owned()),
            date_of_birth: c.date_of_birth,
            nationality: c.nationality.map(|n| n.as_str().to_owned()),
            passport_number: details
                .passport_number
                .as_ref()
                .map(|p| p.expose().to_owned()),
            passport_expires_on: c.passport_expires_on,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// One page of clients.
#[derive(Serialize, ToSchema)]
pub struct ClientList {
    /// The clients, oldest first.
    pub items: Vec<ClientView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Filters and paging of the client list. (No `Debug`: it may carry a
/// passport number.)
#[derive(Deserialize)]
pub struct ListParams {
    q: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    passport: Option<String>,
    branch_id: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Parses a branch id; one that does not parse names no branch.
fn branch_id(raw: &str) -> tms_core::Result<BranchId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("branch"))
}

/// Parses a client id; one that does not parse names no client.
fn client_id(raw: &str) -> tms_core::Result<ClientId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("client"))
}

/// The clients the caller sees, filtered.
#[utoipa::path(
    get,
    path = "/api/v1/clients",
    tag = "clients",
    params(
        ("q" = Option<String>, Query, description = "Name prefix: case-insensitive for Latin letters, exact for other scripts; also matches the Latin name"),
        ("phone" = Option<String>, Query, description = "Exact phone (any format with a country code)"),
        ("email" = Option<String>, Query, description = "Exact email"),
        ("passport" = Option<String>, Query, description = "Exact passport number"),
        ("branch_id" = Option<String>, Query, description = "Only this branch"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of clients", body = ClientList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role may not read clients", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not one the caller sees", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_clients(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<ClientList>> {
    let ctx = auth.authenticated.context()?;
    let query = ClientQuery {
        q: params.q,
        phone: params.phone,
        email: params.email,
        passport: params.passport,
        branch_id: params.branch_id.as_deref().map(branch_id).transpose()?,
    };
    let page = tms_core::ports::PageRequest::new(params.limit, params.cursor.as_deref())?;
    let page = state.clients().list(&ctx, &query, page).await?;
    Ok(axum::Json(ClientList {
        items: page.items.iter().map(ClientView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// A new client. (No `Debug`: it carries personal data.)
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// The branch that looks after the client.
    pub branch_id: String,
    /// `person` (default) or `company`.
    pub kind: Option<String>,
    /// The name in any script.
    pub name: Option<String>,
    /// Latin transliteration: letters, spaces, `-` and `'`.
    pub latin_name: Option<String>,
    /// Phone with country code.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// `YYYY-MM-DD` (or `DD/MM/YYYY`).
    pub date_of_birth: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `SA`.
    pub nationality: Option<String>,
    /// Passport number.
    pub passport_number: Option<String>,
    /// Passport expiry date.
    pub passport_expires_on: Option<String>,
}

/// A created client and the clients it may duplicate.
#[derive(Serialize, ToSchema)]
pub struct CreatedClientView {
    /// The client.
    pub client: ClientView,
    /// Ids of clients the caller sees with the same email, phone, passport,
    /// or name and date of birth. The client was created regardless.
    pub likely_duplicates: Vec<String>,
}

/// Creates a client.
#[utoipa::path(
    post,
    path = "/api/v1/clients",
    tag = "clients",
    request_body = NewClient,
    responses(
        (status = 201, description = "Created (see likely_duplicates)", body = CreatedClientView),
        (status = 403, description = "Not allowed (or a CSRF token is missing)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not one the caller sees", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The branch is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_client(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<NewClient>,
) -> ApiResult<(StatusCode, axum::Json<CreatedClientView>)> {
    let ctx = auth.authenticated.context()?;
    let branch = branch_id(&body.branch_id)?;
    let form = ClientForm {
        kind: body.kind,
        name: body.name,
        latin_name: body.latin_name,
        phone: body.phone,
        email: body.email,
        date_of_birth: body.date_of_birth,
        nationality: body.nationality,
        passport_number: body.passport_number,
        passport_expires_on: body.passport_expires_on,
    };
    let created = state.clients().create(&ctx, branch, &form).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedClientView {
            client: ClientView::from(&created.details),
            likely_duplicates: created.duplicates.iter().map(ToString::to_string).collect(),
        }),
    ))
}

/// One client.
#[utoipa::path(
    get,
    path = "/api/v1/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        (status = 403, description = "The role may not read clients", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client the caller sees", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_client(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ClientView>> {
    let ctx = auth.authenticated.context()?;
    let details = state.clients().get(&ctx, client_id(&id)?).await?;
    Ok(axum::Json(ClientView::from(&details)))
}

/// A partial edit: absent fields stay as they are, `null` clears an
/// optional one. `version` is the version that was read.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: the body parses as the core's ClientPatch
pub struct ClientPatchBody {
    /// The version the edit is based on.
    pub version: i64,
    /// Move the client to this branch.
    pub branch_id: Option<String>,
    /// `person` or `company`.
    pub kind: Option<String>,
    /// The name.
    pub name: Option<String>,
    /// Latin transliteration.
    pub latin_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<String>,
    /// Nationality.
    pub nationality: Option<String>,
    /// Passport number.
    pub passport_number: Option<String>,
    /// Passport expiry.
    pub passport_expires_on: Option<String>,
}

/// Edits a client (optimistic: a stale `version` is 409).
#[utoipa::path(
    patch,
    path = "/api/v1/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "The client id")),
    request_body = ClientPatchBody,
    responses(
        (status = 200, description = "Edited", body = ClientView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client the caller sees", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed by someone else since `version`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_client(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(patch): Json<ClientPatch>,
) -> ApiResult<axum::Json<ClientView>> {
    let ctx = auth.authenticated.context()?;
    let details = state
        .clients()
        .update(&ctx, client_id(&id)?, &patch)
        .await?;
    Ok(axum::Json(ClientView::from(&details)))
}

/// Deletes a client and its consent history (critical: the first call
/// answers 428 with a token; repeat with `Tms-Confirm`).
#[utoipa::path(
    delete,
    path = "/api/v1/clients/{id}",
    tag = "clients",
    params(
        ("id" = String, Path, description = "The client id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed (Sales cannot delete clients)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client the caller sees", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_client(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let confirmation = confirmation(&headers);
    state
        .clients()
        .delete(&ctx, client_id(&id)?, confirmation.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One consent answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// `email`, `whatsapp` or `marketing`.
    pub channel: String,
    /// Granted (`true`) or withdrawn.
    pub granted: bool,
    /// `form`, `import` or `staff`.
    pub source: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The user who recorded it, if a user did.
    pub recorded_by: Option<String>,
}

impl From<&ConsentRecord> for ConsentView {
    fn from(c: &ConsentRecord) -> Self {
        Self {
            channel: c.channel.as_str().to_owned(),
            granted: c.granted,
            source: c.source.as_str().to_owned(),
            at: c.at,
            recorded_by: c.recorded_by.map(|u| u.to_string()),
        }
    }
}

/// A client's consent: the current answer per channel and the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentsView {
    /// Per channel answered, the newest answer.
    pub current: Vec<ConsentView>,
    /// Every answer, oldest first.
    pub history: Vec<ConsentView>,
}

/// The client's consent.
#[utoipa::path(
    get,
    path = "/api/v1/clients/{id}/consents",
    tag = "clients",
    params(("id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "Current answers and history", body = ConsentsView),
        (status = 404, description = "No such client the caller sees", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_consents(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ConsentsView>> {
    let ctx = auth.authenticated.context()?;
    let history = state.clients().consents(&ctx, client_id(&id)?).await?;
    let current = ConsentChannel::ALL
        .iter()
        .filter_map(|channel| history.iter().rev().find(|c| c.channel == *channel))
        .map(ConsentView::from)
        .collect();
    Ok(axum::Json(ConsentsView {
        current,
        history: history.iter().map(ConsentView::from).collect(),
    }))
}

/// A consent answer to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// `email`, `whatsapp` or `marketing`.
    pub channel: String,
    /// Granted (`true`) or withdrawn (`false`).
    pub granted: bool,
    /// `form`, `import` or `staff` (default).
    pub source: Option<String>,
}

/// Records a consent answer (granted or withdrawn).
#[utoipa::path(
    post,
    path = "/api/v1/clients/{id}/consents",
    tag = "clients",
    params(("id" = String, Path, description = "The client id")),
    request_body = ConsentBody,
    responses(
        (status = 201, description = "Recorded", body = ConsentView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client the caller sees", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown channel or source", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_consent(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ConsentBody>,
) -> ApiResult<(StatusCode, axum::Json<ConsentView>)> {
    let ctx = auth.authenticated.context()?;
    let id = client_id(&id)?;
    let change = ConsentChange {
        channel: ConsentChannel::parse(&body.channel)?,
        granted: body.granted,
        source: match body.source.as_deref() {
            Some(raw) => ConsentSource::parse(raw)?,
            None => ConsentSource::Staff,
        },
    };
    let record = state.clients().record_consent(&ctx, id, change).await?;
    Ok((StatusCode::CREATED, axum::Json(ConsentView::from(&record))))
}

/// Where and how to import.
#[derive(Debug, Deserialize)]
pub struct ImportParams {
    branch_id: String,
    #[serde(default)]
    dry_run: bool,
}

/// The multipart form of an import (documentation).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the body is read as a stream
pub struct ImportUpload {
    /// Optional, before `file`: a JSON object mapping column names to the
    /// file's headers, e.g. `{"name": "Client", "phone": "Mobile No"}`.
    pub mapping: Option<String>,
    /// The CSV file (UTF-8, with or without BOM; `,`, `;` or tab).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// One broken rule in one row.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowErrorView {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    /// The column.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// What an import found and did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReportView {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Data rows read.
    pub rows: u64,
    /// Rows that validated.
    pub valid: u64,
    /// Rows with errors.
    pub invalid: u64,
    /// Row errors in all.
    pub error_count: u64,
    /// The first 1,000 row errors.
    pub errors: Vec<RowErrorView>,
    /// Headers that matched no column.
    pub ignored_columns: Vec<String>,
    /// Rows written.
    pub written: u64,
    /// Whether the rows were written (all of them; else none).
    pub committed: bool,
}

impl From<ImportReport> for ImportReportView {
    fn from(r: ImportReport) -> Self {
        Self {
            dry_run: r.dry_run,
            rows: r.rows,
            valid: r.valid,
            invalid: r.invalid,
            error_count: r.error_count,
            errors: r
                .errors
                .into_iter()
                .map(|e| RowErrorView {
                    row: e.row,
                    field: e.field.into_owned(),
                    message: e.message,
                })
                .collect(),
            ignored_columns: r.ignored_columns,
            written: r.written,
            committed: r.committed,
        }
    }
}

/// Imports clients from a CSV upload into a branch: every row checked,
/// all written or none.
#[utoipa::path(
    post,
    path = "/api/v1/clients/import",
    tag = "clients",
    params(
        ("branch_id" = String, Query, description = "The branch the clients join"),
        ("dry_run" = Option<bool>, Query, description = "Check and report only (default false)"),
    ),
    request_body(content = ImportUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The report; `committed` says whether the rows were written", body = ImportReportView),
        (status = 400, description = "Not a multipart upload, or no `file` part", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The branch is not one the caller sees", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 50 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed file (the detail names the row) or a bad mapping", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn import_clients(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<ImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<axum::Json<ImportReportView>> {
    let ctx = auth.authenticated.context()?;
    let branch = branch_id(&params.branch_id)?;
    let mut multipart = multipart.map_err(|e| ApiError::Malformed(e.body_text().into()))?;
    let mut mapping = HashMap::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("mapping") => {
                let text = field.text().await.map_err(multipart_error)?;
                mapping = serde_json::from_str(&text).map_err(|_| {
                    tms_core::Error::invalid(
                        "mapping",
                        "must be a JSON object of column name to header",
                    )
                })?;
            }
            Some("file") => {
                let options = ImportOptions {
                    dry_run: params.dry_run,
                    mapping,
                };
                let mut source = PartSource::new(field);
                let result = state
                    .clients()
                    .import_csv(&ctx, branch, &mut source, options, &mut |_| {})
                    .await;
                return match result {
                    Err(_) if source.too_large => Err(ApiError::PayloadTooLarge),
                    other => Ok(axum::Json(ImportReportView::from(other?))),
                };
            }
            // Other parts are skipped.
            _ => {}
        }
    }
    Err(ApiError::Malformed("the upload has no `file` part".into()))
}
