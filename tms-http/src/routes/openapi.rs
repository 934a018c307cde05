//! `GET /api/v1/openapi.json`: the document generated from the code.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use utoipa::OpenApi;

use crate::AppState;
use crate::error::{Problem, ProblemField};
use crate::routes::health::{self, Health};

/// The document's base: info, the problem schema, the operations endpoints.
#[derive(OpenApi)]
#[openapi(
    info(title = "TMS API", description = "The HTTP API of TMS, a travel-agency platform. Errors are RFC 9457 application/problem+json bodies (schema `Problem`)."),
    paths(health::healthz, health::readyz, health::metrics, openapi_json),
    components(schemas(Problem, ProblemField, Health)),
    tags((name = "operations", description = "Health, readiness, metrics, this document"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// The OpenAPI 3.1 document of this server.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn openapi_json(State(state): State<AppState>) -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(state.openapi.as_ref().clone())
}

/// The whole document: this base merged with every resource's part.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = crate::routes::RESOURCES.iter().map(|r| (r.openapi)()).fold(
        ApiDoc::openapi(),
        |mut doc, part| {
            doc.merge(part);
            doc
        },
    );
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
