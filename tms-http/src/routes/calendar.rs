//! Calendar invites (RFC 5545, `text/calendar`): a booking's flights and
//! hotel stays, an Umrah group's departure and return — for whoever may
//! read the record (another tenant's or an unseen branch's is a 404).
//!
//! Importing the file again after a change updates the events (stable
//! `UID`s, growing `SEQUENCE`); a cancelled booking or group comes as
//! `METHOD:CANCEL`. The agency (its branding name) is the organizer, with
//! the address of the user who fetched the invite. See
//! [`tms_adapters::ics`].

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tms_adapters::ics::{CONTENT_TYPE, Organizer, booking_calendar, umrah_group_calendar};
use tms_core::id::UmrahGroupId;
use tms_core::ports::PageRequest;
use tms_core::service::tickets::Tickets;
use utoipa::OpenApi;

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::Path;
use crate::routes::bookings::{booking_id, bookings};

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(booking_calendar_ics, umrah_group_calendar_ics),
    tags((name = "calendar", description = "Calendar invites (.ics)"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bookings/{id}/calendar.ics", get(booking_calendar_ics))
        .route(
            "/umrah/groups/{id}/calendar.ics",
            get(umrah_group_calendar_ics),
        )
}

fn ics(text: String, file_name: &str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        text,
    )
        .into_response()
}

async fn organizer(state: &AppState, auth: &Auth) -> ApiResult<Organizer> {
    let ctx = auth.authenticated.context()?;
    Ok(Organizer {
        name: state.files.agency_name(&ctx).await?,
        email: Some(auth.authenticated.user.email.as_str().to_owned()),
    })
}

/// A booking's flights and hotel stays as a calendar.
#[utoipa::path(
    get,
    path = "/api/v1/bookings/{id}/calendar.ics",
    tag = "calendar",
    params(("id" = String, Path, description = "The booking id")),
    responses(
        (status = 200, description = "The invite", content_type = "text/calendar"),
        (status = 404, description = "No such booking in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn booking_calendar_ics(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let id = booking_id(&id)?;
    let booking = bookings(&state).get(&ctx, id).await?;
    let service = Tickets::new(state.deps.clone());
    let mut tickets = Vec::new();
    let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
    loop {
        let found = service.list(&ctx, id, page).await?;
        tickets.extend(found.items);
        match found.next {
            Some(next) => {
                page = PageRequest::new(Some(PageRequest::MAX_LIMIT), Some(&next.encode()))?
            }
            None => break,
        }
    }
    let organizer = organizer(&state, &auth).await?;
    let text = booking_calendar(&booking, &tickets, &organizer);
    Ok(ics(text, &format!("{}.ics", booking.reference)))
}

/// An Umrah group's departure and return as a calendar.
#[utoipa::path(
    get,
    path = "/api/v1/umrah/groups/{id}/calendar.ics",
    tag = "calendar",
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "The invite", content_type = "text/calendar"),
        (status = 404, description = "No such group in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn umrah_group_calendar_ics(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let id: UmrahGroupId = id
        .parse()
        .map_err(|_| tms_core::Error::not_found("umrah group"))?;
    let group = state.umrah.get_group(&ctx, id).await?;
    let organizer = organizer(&state, &auth).await?;
    let text = umrah_group_calendar(&group, &organizer);
    Ok(ics(text, &format!("umrah-group-{}.ics", group.id)))
}
