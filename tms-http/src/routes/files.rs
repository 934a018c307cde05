//! Files: package images, booking documents, the tenant's branding and
//! logo, and the one download endpoint.
//!
//! - `POST /packages/{id}/images`, `POST /categories/{id}/images`,
//!   `POST /bookings/{id}/documents`: a
//!   `multipart/form-data` body with one part named `file`. What the file
//!   is comes from its bytes (PNG, JPEG, WebP; PDF too for documents), never
//!   from its name or declared type: anything else is a **422**. Above the
//!   limit of its kind (images 10 MiB, documents 20 MiB, logo 2 MiB) the
//!   upload is a **413**, cut off as soon as the limit is passed.
//! - `GET` on the same paths lists the owner's files (`{items,
//!   next_cursor}`), for whoever may read the owner.
//! - `GET /files/{id}`: on S3, a **303** to a presigned URL valid for five
//!   minutes; on local disk the bytes, with the type stored at upload,
//!   `Content-Disposition: attachment` and `X-Content-Type-Options:
//!   nosniff`, so that a browser never renders an upload in the API's
//!   origin. Another tenant's or an unseen branch's file is a 404.
//! - `DELETE /files/{id}`: for whoever may edit the owner (audited).
//! - `GET`/`PUT /settings/branding` (agency name, address lines, accent
//!   colour `#rrggbb`, emergency contact, `version`), `PUT /settings/branding/logo` (PNG or
//!   JPEG): what documents print. Every user may read it; changing it is a
//!   tenant-settings change (Tenant Super Admin, Admin).

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::files::rules_for;
use tms_core::id::{BookingId, CategoryId, FileId, PackageId};
use tms_core::ports::{BlobCategory, BrandingSettings, FileOwner, PageRequest, StoredFile};
use tms_core::service::files::{BrandingUpdate, Download, EmergencyContactUpdate};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::upload::multipart_error;

/// Room for the multipart framing around the file, above its own limit.
const FRAMING: usize = 64 * 1024;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        upload_package_image,
        list_package_images,
        upload_category_image,
        list_category_images,
        upload_booking_document,
        list_booking_documents,
        download_file,
        delete_file,
        get_branding,
        put_branding,
        put_logo
    ),
    components(schemas(
        FileView,
        FileList,
        FileUpload,
        BrandingView,
        BrandingBody,
        EmergencyContactBody
    )),
    tags((name = "files", description = "Uploads, downloads and the tenant's branding"))
)]
pub struct ApiDoc;

/// The body limit of an upload route of `category`.
fn limit(category: BlobCategory) -> usize {
    rules_for(category).map_or(0, |r| r.max_bytes) + FRAMING
}

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/packages/{id}/images",
            get(list_package_images)
                .post(upload_package_image)
                .layer(DefaultBodyLimit::max(limit(BlobCategory::CatalogueImage))),
        )
        .route(
            "/categories/{id}/images",
            get(list_category_images)
                .post(upload_category_image)
                .layer(DefaultBodyLimit::max(limit(BlobCategory::CatalogueImage))),
        )
        .route(
            "/bookings/{id}/documents",
            get(list_booking_documents)
                .post(upload_booking_document)
                .layer(DefaultBodyLimit::max(limit(BlobCategory::BookingDocument))),
        )
        .route("/files/{id}", get(download_file).delete(delete_file))
        .route("/settings/branding", get(get_branding).put(put_branding))
        .route(
            "/settings/branding/logo",
            put(put_logo).layer(DefaultBodyLimit::max(limit(BlobCategory::Branding))),
        )
}

/// The multipart form of an upload (documentation).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the body is read as a stream
pub struct FileUpload {
    /// The file. Its name is kept only as the download's display name.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    /// Id.
    pub id: String,
    /// `package`, `category`, `branding`, `booking` or `client`.
    pub owner_kind: String,
    /// The owner's id (the tenant's for branding).
    pub owner_id: String,
    /// The type read from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The name it downloads under.
    pub file_name: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// Where to download it: `/api/v1/files/{id}`.
    pub download_url: String,
}

impl From<&StoredFile> for FileView {
    fn from(f: &StoredFile) -> Self {
        Self {
            id: f.id.to_string(),
            owner_kind: f.owner.kind().to_owned(),
            owner_id: f.owner.id(f.tenant_id).to_string(),
            content_type: f.content_type.mime().to_owned(),
            size: f.size,
            sha256: f.sha256_hex(),
            file_name: f.file_name.clone(),
            created_at: f.created_at,
            download_url: format!("/api/v1/files/{}", f.id),
        }
    }
}

/// One page of files.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileList {
    /// The files, oldest first.
    pub items: Vec<FileView>,
    /// The next page's cursor, if any.
    pub next_cursor: Option<String>,
}

/// Paging.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Reads the part named `file` of an upload, at most `max` bytes; past
/// that it stops reading and answers 413.
async fn file_part(
    multipart: Result<Multipart, MultipartRejection>,
    max: usize,
) -> ApiResult<(String, Vec<u8>)> {
    let mut multipart = multipart.map_err(|e| ApiError::Malformed(e.body_text().into()))?;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if bytes.len() + chunk.len() > max {
                return Err(ApiError::PayloadTooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((name, bytes));
    }
    Err(tms_core::Error::invalid("file", "a multipart part named `file` is required").into())
}

fn max_of(category: BlobCategory) -> usize {
    rules_for(category).map_or(0, |r| r.max_bytes)
}

async fn upload(
    state: &AppState,
    auth: Auth,
    owner: FileOwner,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<FileView>)> {
    let ctx = auth.authenticated.context()?;
    let (name, bytes) = file_part(multipart, max_of(owner.category())).await?;
    let file = state.files.upload(&ctx, owner, &name, bytes).await?;
    Ok((StatusCode::CREATED, axum::Json(FileView::from(&file))))
}

async fn list(
    state: &AppState,
    auth: Auth,
    owner: FileOwner,
    params: PageQuery,
) -> ApiResult<axum::Json<FileList>> {
    let ctx = auth.authenticated.context()?;
    let page = PageRequest::new(params.limit, params.cursor.as_deref())?;
    let page = state.files.list(&ctx, owner, page).await?;
    Ok(axum::Json(FileList {
        items: page.items.iter().map(FileView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

fn package_id(raw: &str) -> tms_core::Result<PackageId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("package"))
}

fn category_id(raw: &str) -> tms_core::Result<CategoryId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("category"))
}

fn booking_id(raw: &str) -> tms_core::Result<BookingId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("booking"))
}

fn file_id(raw: &str) -> tms_core::Result<FileId> {
    raw.parse().map_err(|_| tms_core::Error::not_found("file"))
}

/// Adds an image to a package (PNG, JPEG or WebP, at most 10 MiB).
#[utoipa::path(
    post,
    path = "/api/v1/packages/{id}/images",
    tag = "files",
    params(("id" = String, Path, description = "The package id")),
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = FileView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such package", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a PNG, JPEG or WebP image, or too many pixels", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_package_image(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<FileView>)> {
    let owner = FileOwner::Package(package_id(&id)?);
    upload(&state, auth, owner, multipart).await
}

/// A package's images.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{id}/images",
    tag = "files",
    params(
        ("id" = String, Path, description = "The package id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of images", body = FileList),
        (status = 404, description = "No such package", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_package_images(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(params): Query<PageQuery>,
) -> ApiResult<axum::Json<FileList>> {
    list(&state, auth, FileOwner::Package(package_id(&id)?), params).await
}

/// Adds an image to a category (PNG, JPEG or WebP, at most 10 MiB).
#[utoipa::path(
    post,
    path = "/api/v1/categories/{id}/images",
    tag = "files",
    params(("id" = String, Path, description = "The category id")),
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = FileView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a PNG, JPEG or WebP image, or too many pixels", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_category_image(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<FileView>)> {
    let owner = FileOwner::Category(category_id(&id)?);
    upload(&state, auth, owner, multipart).await
}

/// A category's images.
#[utoipa::path(
    get,
    path = "/api/v1/categories/{id}/images",
    tag = "files",
    params(
        ("id" = String, Path, description = "The category id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of images", body = FileList),
        (status = 404, description = "No such category", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_category_images(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(params): Query<PageQuery>,
) -> ApiResult<axum::Json<FileList>> {
    list(&state, auth, FileOwner::Category(category_id(&id)?), params).await
}

/// Adds a document to a booking (passport scan, visa: PNG, JPEG, WebP or
/// PDF, at most 20 MiB).
#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/documents",
    tag = "files",
    params(("id" = String, Path, description = "The booking id")),
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = FileView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 20 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an image or PDF", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload_booking_document(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<FileView>)> {
    let owner = FileOwner::Booking(booking_id(&id)?);
    upload(&state, auth, owner, multipart).await
}

/// A booking's documents.
#[utoipa::path(
    get,
    path = "/api/v1/bookings/{id}/documents",
    tag = "files",
    params(
        ("id" = String, Path, description = "The booking id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of documents", body = FileList),
        (status = 404, description = "No such booking in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_booking_documents(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(params): Query<PageQuery>,
) -> ApiResult<axum::Json<FileList>> {
    list(&state, auth, FileOwner::Booking(booking_id(&id)?), params).await
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`: the
/// plain form for old clients (non-ASCII as `_`), RFC 6266's for the rest.
fn content_disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Downloads a file: a 303 to a short-lived URL (S3), or the bytes (local
/// disk) as an attachment.
#[utoipa::path(
    get,
    path = "/api/v1/files/{id}",
    tag = "files",
    params(("id" = String, Path, description = "The file id")),
    responses(
        (status = 200, description = "The file, as an attachment", content_type = "application/octet-stream"),
        (status = 303, description = "Download it from the `Location` (valid five minutes)"),
        (status = 404, description = "No such file in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn download_file(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    match state.files.download(&ctx, file_id(&id)?).await? {
        Download::Redirect { url, .. } => {
            let location = HeaderValue::from_str(&url)
                .map_err(|_| tms_core::Error::internal("a presigned URL is not a header"))?;
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
        }
        Download::Bytes { file, bytes } => Ok((
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(file.content_type.mime()),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    content_disposition(&file.file_name),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            bytes,
        )
            .into_response()),
    }
}

/// Deletes a file (for whoever may edit its owner).
#[utoipa::path(
    delete,
    path = "/api/v1/files/{id}",
    tag = "files",
    params(("id" = String, Path, description = "The file id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_file(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    state.files.delete(&ctx, file_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's branding.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandingView {
    /// The agency's name as printed (empty: the tenant's name).
    pub agency_name: String,
    /// Postal address lines.
    pub address: Vec<String>,
    /// Accent colour `#rrggbb`.
    pub accent_colour: Option<String>,
    /// The logo's file id (download it at `/api/v1/files/{id}`).
    pub logo_file_id: Option<String>,
    /// Send it back with a change; 0 until first saved.
    pub version: i64,
    // --- documents follow-ups (issue 8) ---
    /// Who travellers call in an emergency, printed on every voucher.
    pub emergency_contact: Option<EmergencyContactBody>,
}

// --- documents follow-ups (issue 8) ---
/// The emergency contact printed on every voucher.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmergencyContactBody {
    /// An international number, e.g. `+966 50 123 4567` (stored E.164).
    pub phone: String,
    /// Who answers, up to 100 characters.
    #[serde(default)]
    pub name: String,
    /// Hours, languages, …, up to 200 characters.
    #[serde(default)]
    pub notes: String,
}

impl From<&BrandingSettings> for BrandingView {
    fn from(b: &BrandingSettings) -> Self {
        Self {
            agency_name: b.agency_name.clone(),
            address: b.address.clone(),
            accent_colour: b.accent_colour.clone(),
            logo_file_id: b.logo.map(|id| id.to_string()),
            version: b.version,
            emergency_contact: b.emergency_contact.as_ref().map(|c| EmergencyContactBody {
                phone: c.phone.as_str().to_owned(),
                name: c.name.clone(),
                notes: c.notes.clone(),
            }),
        }
    }
}

/// A change of the branding.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BrandingBody {
    /// The agency's name as printed, up to 200 characters (empty: the
    /// tenant's name).
    #[serde(default)]
    pub agency_name: String,
    /// Up to 6 address lines.
    #[serde(default)]
    pub address: Vec<String>,
    /// `#rrggbb`, or none.
    pub accent_colour: Option<String>,
    /// The `version` read; a stale one is a 409.
    pub version: i64,
    /// Who travellers call in an emergency (printed on every voucher);
    /// absent or null clears it.
    #[serde(default)]
    pub emergency_contact: Option<EmergencyContactBody>,
}

/// The tenant's branding (every user of the tenant may read it).
#[utoipa::path(
    get,
    path = "/api/v1/settings/branding",
    tag = "files",
    responses((status = 200, description = "The branding", body = BrandingView))
)]
pub async fn get_branding(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<axum::Json<BrandingView>> {
    let ctx = auth.authenticated.context()?;
    let branding = state.files.branding_settings(&ctx).await?;
    Ok(axum::Json(BrandingView::from(&branding)))
}

/// Changes the branding's name, address, colour and emergency contact.
#[utoipa::path(
    put,
    path = "/api/v1/settings/branding",
    tag = "files",
    request_body = BrandingBody,
    responses(
        (status = 200, description = "Saved", body = BrandingView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, address or colour", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_branding(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<BrandingBody>,
) -> ApiResult<axum::Json<BrandingView>> {
    let ctx = auth.authenticated.context()?;
    let saved = state
        .files
        .update_branding(
            &ctx,
            BrandingUpdate {
                agency_name: body.agency_name,
                address: body.address,
                accent_colour: body.accent_colour,
                version: body.version,
                emergency_contact: body.emergency_contact.map(|c| EmergencyContactUpdate {
                    phone: c.phone,
                    name: c.name,
                    notes: c.notes,
                }),
            },
        )
        .await?;
    Ok(axum::Json(BrandingView::from(&saved)))
}

/// Replaces the logo (PNG or JPEG, at most 2 MiB).
#[utoipa::path(
    put,
    path = "/api/v1/settings/branding/logo",
    tag = "files",
    request_body(content = FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The new logo", body = FileView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 2 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a PNG or JPEG image", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_logo(
    State(state): State<AppState>,
    auth: Auth,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<axum::Json<FileView>> {
    let ctx = auth.authenticated.context()?;
    let (name, bytes) = file_part(multipart, max_of(BlobCategory::Branding)).await?;
    let file = state.files.upload_logo(&ctx, &name, bytes).await?;
    Ok(axum::Json(FileView::from(&file)))
}
