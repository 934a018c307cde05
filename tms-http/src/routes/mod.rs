//! Resource modules. Each has a `router() -> Router<AppState>` and an
//! OpenAPI document of its paths; listing it in [`RESOURCES`] mounts both.

use axum::Router;
use utoipa::OpenApi as _;

use crate::AppState;

pub mod auth;
pub mod branches;
pub mod health;
pub mod openapi;
pub mod settings;
pub(crate) mod upload;
pub mod users;
// --- clients (issue 6) ---
pub mod clients;
// --- catalogue, bookings, tickets (issue 6) ---
pub mod bookings;
pub mod packages;
pub mod tickets;
// --- umrah (issue 6) ---
pub mod umrah;
// --- finance (issue 7) ---
pub mod finance;
pub mod finance_reports;
// --- messaging (issue 9) ---
pub mod outbox;
// --- privacy (issue 7) ---
pub mod privacy;
// --- files (issue 8) ---
pub mod calendar;
pub mod files;
// --- documents (issue 8) ---
pub mod documents;
// --- outreach (issue 9) ---
pub mod outreach;
// --- mail connections (issue 9) ---
pub mod mail_connections;
// --- whatsapp (issue 9) ---
pub mod whatsapp;
// --- mail ops (issue 10) ---
pub mod mail_ops;

/// One resource module: its routes (relative to `/api/v1`) and its part of
/// the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// The module's routes, e.g. `/auth/login`.
    pub router: fn() -> Router<AppState>,
    /// The module's paths and schemas, with paths as mounted (`/api/v1/…`).
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// Every resource under `/api/v1`. Adding one is one line, e.g.
/// `Resource { router: identity::router, openapi: identity::ApiDoc::openapi },`.
pub const RESOURCES: &[Resource] = &[
    Resource {
        router: openapi::router,
        openapi: openapi::ApiDoc::openapi,
    },
    Resource {
        router: auth::router,
        openapi: auth::ApiDoc::openapi,
    },
    Resource {
        router: users::router,
        openapi: users::ApiDoc::openapi,
    },
    Resource {
        router: branches::router,
        openapi: branches::ApiDoc::openapi,
    },
    Resource {
        router: settings::router,
        openapi: settings::ApiDoc::openapi,
    },
    // --- clients (issue 6) ---
    Resource {
        router: clients::router,
        openapi: clients::ApiDoc::openapi,
    },
    // --- catalogue, bookings, tickets (issue 6) ---
    Resource {
        router: packages::router,
        openapi: packages::ApiDoc::openapi,
    },
    Resource {
        router: bookings::router,
        openapi: bookings::ApiDoc::openapi,
    },
    Resource {
        router: tickets::router,
        openapi: tickets::ApiDoc::openapi,
    },
    // --- umrah (issue 6) ---
    Resource {
        router: umrah::router,
        openapi: umrah::ApiDoc::openapi,
    },
    // --- finance (issue 7) ---
    Resource {
        router: finance::router,
        openapi: finance::ApiDoc::openapi,
    },
    Resource {
        router: finance_reports::router,
        openapi: finance_reports::ApiDoc::openapi,
    },
    // --- messaging (issue 9) ---
    Resource {
        router: outbox::router,
        openapi: outbox::ApiDoc::openapi,
    },
    // --- privacy (issue 7) ---
    Resource {
        router: privacy::router,
        openapi: privacy::ApiDoc::openapi,
    },
    // --- files (issue 8) ---
    Resource {
        router: files::router,
        openapi: files::ApiDoc::openapi,
    },
    Resource {
        router: calendar::router,
        openapi: calendar::ApiDoc::openapi,
    },
    // --- documents (issue 8) ---
    Resource {
        router: documents::router,
        openapi: documents::ApiDoc::openapi,
    },
    // --- outreach (issue 9) ---
    Resource {
        router: outreach::router,
        openapi: outreach::ApiDoc::openapi,
    },
    // --- mail connections (issue 9) ---
    Resource {
        router: mail_connections::router,
        openapi: mail_connections::ApiDoc::openapi,
    },
    // --- whatsapp (issue 9) ---
    Resource {
        router: whatsapp::router,
        openapi: whatsapp::ApiDoc::openapi,
    },
    // --- mail ops (issue 10) ---
    Resource {
        router: mail_ops::router,
        openapi: mail_ops::ApiDoc::openapi,
    },
];
