//! `/api/v1/packages` and `/api/v1/categories`: the tenant's catalogue.
//!
//! The catalogue is tenant-level: every branch sells the same packages.
//! Reading needs Operational R (Tenant Super Admin, Admin, Finance, Sales);
//! writing needs Operational C/U (not Finance). A new package is
//! unpublished; `POST …/publish` and `…/unpublish` are audited.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{Category, Name, Package, PackageDetails, parse_description};
use tms_core::error::FieldErrors;
use tms_core::id::{CategoryId, PackageId};
use tms_core::service::catalogue::Catalogue;
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::bookings::{MoneyBody, MoneyView};
use crate::routes::users::Paging;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_packages,
        create_package,
        get_package,
        update_package,
        publish_package,
        unpublish_package,
        list_categories,
        create_category
    ),
    components(schemas(
        PackageView,
        PackageList,
        PackageBody,
        PackageUpdate,
        CategoryView,
        CategoryList,
        CategoryBody
    )),
    tags((name = "catalogue", description = "Categories and packages (tenant-level)"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/packages", get(list_packages).post(create_package))
        .route("/packages/{id}", get(get_package).put(update_package))
        .route("/packages/{id}/publish", post(publish_package))
        .route("/packages/{id}/unpublish", post(unpublish_package))
        .route("/categories", get(list_categories).post(create_category))
}

/// The catalogue service of this request (cheap: a few `Arc` clones).
fn catalogue(state: &AppState) -> Catalogue {
    Catalogue::new(state.deps.clone())
}

/// A package.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageView {
    /// Id.
    pub id: String,
    /// Category id, if any.
    pub category_id: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Price per place.
    pub price: MoneyView,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day.
    pub ends_on: NaiveDate,
    /// Places for sale.
    pub capacity: u32,
    /// Places booked.
    pub booked: u32,
    /// Places left.
    pub available: u32,
    /// What the price includes.
    pub inclusions: Vec<String>,
    /// Whether it is offered for booking.
    pub published: bool,
    /// The image's blob key (files issue), if any.
    pub image_key: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Send back in `PUT` to save changes.
    pub version: i64,
}

impl From<&Package> for PackageView {
    fn from(p: &Package) -> Self {
        Self {
            id: p.id.to_string(),
            category_id: p.details.category_id.map(|c| c.to_string()),
            title: p.details.title.to_string(),
            description: p.details.description.clone(),
            price: MoneyView::from(p.details.price),
            starts_on: p.details.starts_on,
            ends_on: p.details.ends_on,
            capacity: p.details.capacity,
            booked: p.booked,
            available: p.available(),
            inclusions: p.details.inclusions.clone(),
            published: p.published,
            image_key: p.image_key.clone(),
            created_at: p.created_at,
            version: p.version,
        }
    }
}

/// One page of packages.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackageList {
    /// The packages.
    pub items: Vec<PackageView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A package as an editor sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PackageBody {
    /// Category id, if any.
    pub category_id: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Price per place.
    pub price: MoneyBody,
    /// First day (`YYYY-MM-DD`).
    pub starts_on: NaiveDate,
    /// Last day.
    pub ends_on: NaiveDate,
    /// Places for sale.
    pub capacity: u32,
    /// What the price includes.
    #[serde(default)]
    pub inclusions: Vec<String>,
}

impl PackageBody {
    fn parse(self) -> tms_core::Result<PackageDetails> {
        let mut errors = FieldErrors::new();
        let category_id = match self.category_id.as_deref() {
            None => None,
            Some(raw) => errors
                .check("category_id", raw.parse::<CategoryId>().map(Some))
                .flatten(),
        };
        let title = errors.check("title", Name::parse(&self.title));
        let description = errors.check("description", parse_description(&self.description));
        let price = errors.check("price", self.price.parse());
        errors.into_result()?;
        let (Some(title), Some(description), Some(price)) = (title, description, price) else {
            return Err(tms_core::Error::invalid("package", "is incomplete"));
        };
        Ok(PackageDetails {
            category_id,
            title,
            description,
            price,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            capacity: self.capacity,
            inclusions: self.inclusions,
        })
    }
}

/// A package's new details, at the version they were read.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PackageUpdate {
    /// The `version` read; a stale one is a 409.
    pub version: i64,
    /// The new details.
    #[serde(flatten)]
    pub details: PackageBody,
}

/// List filters.
#[derive(Debug, Deserialize)]
pub struct PackageQuery {
    /// Only published packages.
    #[serde(default)]
    pub published: bool,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Parses a package id; one that does not parse names no package.
fn package_id(raw: &str) -> tms_core::Result<PackageId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("package"))
}

/// The tenant's packages.
#[utoipa::path(
    get,
    path = "/api/v1/packages",
    tag = "catalogue",
    params(
        ("published" = Option<bool>, Query, description = "Only published packages"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of packages", body = PackageList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_packages(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<PackageQuery>,
) -> ApiResult<axum::Json<PackageList>> {
    let ctx = auth.authenticated.context()?;
    let paging = Paging {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = catalogue(&state)
        .list_packages(&ctx, query.published, paging.request()?)
        .await?;
    Ok(axum::Json(PackageList {
        items: page.items.iter().map(PackageView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Adds a package (unpublished).
#[utoipa::path(
    post,
    path = "/api/v1/packages",
    tag = "catalogue",
    request_body = PackageBody,
    responses(
        (status = 201, description = "Created", body = PackageView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_package(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<PackageBody>,
) -> ApiResult<(StatusCode, axum::Json<PackageView>)> {
    let ctx = auth.authenticated.context()?;
    let package = catalogue(&state)
        .create_package(&ctx, body.parse()?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(PackageView::from(&package))))
}

/// One package.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{id}",
    tag = "catalogue",
    params(("id" = String, Path, description = "The package id")),
    responses(
        (status = 200, description = "The package", body = PackageView),
        (status = 404, description = "No such package in this tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_package(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PackageView>> {
    let ctx = auth.authenticated.context()?;
    let package = catalogue(&state)
        .get_package(&ctx, package_id(&id)?)
        .await?;
    Ok(axum::Json(PackageView::from(&package)))
}

/// Replaces a package's details.
#[utoipa::path(
    put,
    path = "/api/v1/packages/{id}",
    tag = "catalogue",
    params(("id" = String, Path, description = "The package id")),
    request_body = PackageUpdate,
    responses(
        (status = 200, description = "Saved", body = PackageView),
        (status = 404, description = "No such package", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version, or capacity below the places booked", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_package(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<PackageUpdate>,
) -> ApiResult<axum::Json<PackageView>> {
    let ctx = auth.authenticated.context()?;
    let package = catalogue(&state)
        .update_package(&ctx, package_id(&id)?, body.version, body.details.parse()?)
        .await?;
    Ok(axum::Json(PackageView::from(&package)))
}

/// Offers a package for booking.
#[utoipa::path(
    post,
    path = "/api/v1/packages/{id}/publish",
    tag = "catalogue",
    params(("id" = String, Path, description = "The package id")),
    responses(
        (status = 200, description = "Published", body = PackageView),
        (status = 404, description = "No such package", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn publish_package(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PackageView>> {
    let ctx = auth.authenticated.context()?;
    let package = catalogue(&state).publish(&ctx, package_id(&id)?).await?;
    Ok(axum::Json(PackageView::from(&package)))
}

/// Withdraws a package from sale.
#[utoipa::path(
    post,
    path = "/api/v1/packages/{id}/unpublish",
    tag = "catalogue",
    params(("id" = String, Path, description = "The package id")),
    responses(
        (status = 200, description = "Unpublished", body = PackageView),
        (status = 404, description = "No such package", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unpublish_package(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PackageView>> {
    let ctx = auth.authenticated.context()?;
    let package = catalogue(&state).unpublish(&ctx, package_id(&id)?).await?;
    Ok(axum::Json(PackageView::from(&package)))
}

/// A category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<&Category> for CategoryView {
    fn from(c: &Category) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name.to_string(),
            description: c.description.clone(),
            created_at: c.created_at,
        }
    }
}

/// One page of categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryList {
    /// The categories.
    pub items: Vec<CategoryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new category.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CategoryBody {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// The tenant's categories.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    tag = "catalogue",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of categories", body = CategoryList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_categories(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<CategoryList>> {
    let ctx = auth.authenticated.context()?;
    let page = catalogue(&state)
        .list_categories(&ctx, paging.request()?)
        .await?;
    Ok(axum::Json(CategoryList {
        items: page.items.iter().map(CategoryView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Adds a category.
#[utoipa::path(
    post,
    path = "/api/v1/categories",
    tag = "catalogue",
    request_body = CategoryBody,
    responses(
        (status = 201, description = "Created", body = CategoryView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_category(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<CategoryBody>,
) -> ApiResult<(StatusCode, axum::Json<CategoryView>)> {
    let ctx = auth.authenticated.context()?;
    let name = Name::parse(&body.name)?;
    let category = catalogue(&state)
        .create_category(&ctx, name, body.description)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CategoryView::from(&category)),
    ))
}
