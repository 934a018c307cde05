//! Airline tickets: `/api/v1/bookings/{id}/tickets` (list, issue) and
//! `/api/v1/tickets/{id}` (read), `/reissue`, `/void`, `/refund`.
//!
//! Flight times are local date-times with the airport's IANA zone
//! (`{"local": "2026-12-10T08:30:00", "zone": "Asia/Karachi"}`); an unknown
//! zone or a time that does not exist there is a 422. A ticket number taken
//! in the tenant is a 409.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{
    AirlineCode, AirportCode, FlightNumber, LocalTime, Pnr, Segment, Ticket, TicketNumber,
};
use tms_core::error::FieldErrors;
use tms_core::id::{TicketId, TravellerId};
use tms_core::service::tickets::{NewTicket, Tickets};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::bookings::{MoneyBody, MoneyView, booking_id};
use crate::routes::users::Paging;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_tickets, issue_ticket, get_ticket, reissue_ticket, void_ticket, refund_ticket),
    components(schemas(
        TicketView,
        TicketList,
        TicketBody,
        SegmentBody,
        SegmentView,
        LocalTimeBody
    )),
    tags((name = "tickets", description = "Airline tickets on bookings"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/bookings/{id}/tickets",
            get(list_tickets).post(issue_ticket),
        )
        .route("/tickets/{id}", get(get_ticket))
        .route("/tickets/{id}/reissue", post(reissue_ticket))
        .route("/tickets/{id}/void", post(void_ticket))
        .route("/tickets/{id}/refund", post(refund_ticket))
}

fn tickets(state: &AppState) -> Tickets {
    Tickets::new(state.deps.clone())
}

/// A local time at an airport.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocalTimeBody {
    /// Wall-clock time, `YYYY-MM-DDTHH:MM:SS`.
    pub local: NaiveDateTime,
    /// IANA zone name, e.g. `Asia/Riyadh`.
    pub zone: String,
}

/// A flight as a client sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SegmentBody {
    /// Departure airport (IATA).
    pub from: String,
    /// Arrival airport (IATA).
    pub to: String,
    /// E.g. `SV701`.
    pub flight_number: String,
    /// Local departure time.
    pub departure: LocalTimeBody,
    /// Local arrival time.
    pub arrival: LocalTimeBody,
}

/// A flight.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentView {
    /// Departure airport.
    pub from: String,
    /// Arrival airport.
    pub to: String,
    /// Flight number.
    pub flight_number: String,
    /// Local departure time.
    pub departure: LocalTimeBody,
    /// Local arrival time.
    pub arrival: LocalTimeBody,
}

fn local_view(t: &LocalTime) -> LocalTimeBody {
    LocalTimeBody {
        local: t.local,
        zone: t.zone.name().to_owned(),
    }
}

/// A ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    /// Id.
    pub id: String,
    /// The booking.
    pub booking_id: String,
    /// Record locator.
    pub pnr: String,
    /// Airline (IATA).
    pub airline: String,
    /// 13 digits.
    pub ticket_number: String,
    /// The traveller.
    pub passenger_id: String,
    /// The flights.
    pub segments: Vec<SegmentView>,
    /// Base fare.
    pub fare: MoneyView,
    /// Taxes and fees.
    pub taxes: MoneyView,
    /// `issued`, `reissued`, `refunded` or `void`.
    pub status: String,
    /// The ticket this one replaces.
    pub replaces: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

impl From<&Ticket> for TicketView {
    fn from(t: &Ticket) -> Self {
        Self {
            id: t.id.to_string(),
            booking_id: t.booking_id.to_string(),
            pnr: t.pnr.to_string(),
            airline: t.airline.to_string(),
            ticket_number: t.ticket_number.to_string(),
            passenger_id: t.passenger_id.to_string(),
            segments: t
                .segments
                .iter()
                .map(|s| SegmentView {
                    from: s.from.to_string(),
                    to: s.to.to_string(),
                    flight_number: s.flight_number.to_string(),
                    departure: local_view(&s.departure),
                    arrival: local_view(&s.arrival),
                })
                .collect(),
            fare: t.fare.into(),
            taxes: t.taxes.into(),
            status: t.status.as_str().to_owned(),
            replaces: t.replaces.map(|r| r.to_string()),
            created_at: t.created_at,
        }
    }
}

/// One page of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    /// The tickets.
    pub items: Vec<TicketView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A ticket as a client sends it (also the new ticket of a reissue).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TicketBody {
    /// Record locator (6 letters or digits).
    pub pnr: String,
    /// Airline (IATA, 2 characters).
    pub airline: String,
    /// 13 digits, unique in the tenant.
    pub ticket_number: String,
    /// A traveller of the booking.
    pub passenger_id: String,
    /// The flights, in order.
    pub segments: Vec<SegmentBody>,
    /// Base fare.
    pub fare: MoneyBody,
    /// Taxes and fees.
    pub taxes: MoneyBody,
}

impl TicketBody {
    fn parse(self) -> tms_core::Result<NewTicket> {
        let mut errors = FieldErrors::new();
        let pnr = errors.check("pnr", Pnr::parse(&self.pnr));
        let airline = errors.check("airline", AirlineCode::parse(&self.airline));
        let number = errors.check("ticket_number", TicketNumber::parse(&self.ticket_number));
        let passenger = errors.check(
            "passenger_id",
            self.passenger_id
                .parse::<TravellerId>()
                .map_err(|_| tms_core::Error::invalid("passenger_id", "is not a traveller id")),
        );
        let fare = errors.check("fare", self.fare.parse());
        let taxes = errors.check("taxes", self.taxes.parse());
        let mut segments = Vec::with_capacity(self.segments.len());
        for (i, s) in self.segments.into_iter().enumerate() {
            let mut one = |name: &str, r: tms_core::Result<()>| {
                if let Err(tms_core::Error::Invalid(e)) = r {
                    for f in e.as_slice() {
                        errors.push(format!("segments[{i}].{name}"), f.message.clone());
                    }
                }
            };
            let from = AirportCode::parse(&s.from);
            let to = AirportCode::parse(&s.to);
            let flight = FlightNumber::parse(&s.flight_number);
            let dep = LocalTime::parse(s.departure.local, &s.departure.zone);
            let arr = LocalTime::parse(s.arrival.local, &s.arrival.zone);
            match (from, to, flight, dep, arr) {
                (Ok(from), Ok(to), Ok(flight_number), Ok(departure), Ok(arrival)) => {
                    segments.push(Segment {
                        from,
                        to,
                        flight_number,
                        departure,
                        arrival,
                    })
                }
                (from, to, flight, dep, arr) => {
                    one("from", from.map(drop));
                    one("to", to.map(drop));
                    one("flight_number", flight.map(drop));
                    one("departure", dep.map(drop));
                    one("arrival", arr.map(drop));
                }
            }
        }
        errors.into_result()?;
        match (pnr, airline, number, passenger, fare, taxes) {
            (
                Some(pnr),
                Some(airline),
                Some(ticket_number),
                Some(passenger_id),
                Some(fare),
                Some(taxes),
            ) => Ok(NewTicket {
                pnr,
                airline,
                ticket_number,
                passenger_id,
                segments,
                fare,
                taxes,
            }),
            _ => Err(tms_core::Error::invalid("ticket", "is incomplete")),
        }
    }
}

fn ticket_id(raw: &str) -> tms_core::Result<TicketId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("ticket"))
}

/// The tickets of a booking.
#[utoipa::path(
    get,
    path = "/api/v1/bookings/{id}/tickets",
    tag = "tickets",
    params(
        ("id" = String, Path, description = "The booking id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of tickets", body = TicketList),
        (status = 404, description = "No such booking in scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_tickets(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<TicketList>> {
    let ctx = auth.authenticated.context()?;
    let page = tickets(&state)
        .list(&ctx, booking_id(&id)?, paging.request()?)
        .await?;
    Ok(axum::Json(TicketList {
        items: page.items.iter().map(TicketView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Records an issued ticket on a confirmed (or ticketed) booking.
#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/tickets",
    tag = "tickets",
    params(("id" = String, Path, description = "The booking id")),
    request_body = TicketBody,
    responses(
        (status = 201, description = "Recorded", body = TicketView),
        (status = 404, description = "No such booking in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Number taken, or the booking is not confirmed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<TicketBody>,
) -> ApiResult<(StatusCode, axum::Json<TicketView>)> {
    let ctx = auth.authenticated.context()?;
    let ticket = tickets(&state)
        .issue(&ctx, booking_id(&id)?, body.parse()?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(TicketView::from(&ticket))))
}

/// One ticket.
#[utoipa::path(
    get,
    path = "/api/v1/tickets/{id}",
    tag = "tickets",
    params(("id" = String, Path, description = "The ticket id")),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "No such ticket in scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TicketView>> {
    let ctx = auth.authenticated.context()?;
    let ticket = tickets(&state).get(&ctx, ticket_id(&id)?).await?;
    Ok(axum::Json(TicketView::from(&ticket)))
}

/// Replaces an issued ticket by a new one that links back to it.
#[utoipa::path(
    post,
    path = "/api/v1/tickets/{id}/reissue",
    tag = "tickets",
    params(("id" = String, Path, description = "The ticket replaced")),
    request_body = TicketBody,
    responses(
        (status = 201, description = "The new ticket", body = TicketView),
        (status = 404, description = "No such ticket in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an issued ticket, or the number is taken", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reissue_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<TicketBody>,
) -> ApiResult<(StatusCode, axum::Json<TicketView>)> {
    let ctx = auth.authenticated.context()?;
    let ticket = tickets(&state)
        .reissue(&ctx, ticket_id(&id)?, body.parse()?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(TicketView::from(&ticket))))
}

/// Voids an issued ticket.
#[utoipa::path(
    post,
    path = "/api/v1/tickets/{id}/void",
    tag = "tickets",
    params(("id" = String, Path, description = "The ticket id")),
    responses(
        (status = 200, description = "Voided", body = TicketView),
        (status = 404, description = "No such ticket in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an issued ticket", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn void_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TicketView>> {
    let ctx = auth.authenticated.context()?;
    let ticket = tickets(&state).void(&ctx, ticket_id(&id)?).await?;
    Ok(axum::Json(TicketView::from(&ticket)))
}

/// Marks an issued ticket refunded.
#[utoipa::path(
    post,
    path = "/api/v1/tickets/{id}/refund",
    tag = "tickets",
    params(("id" = String, Path, description = "The ticket id")),
    responses(
        (status = 200, description = "Refunded", body = TicketView),
        (status = 404, description = "No such ticket in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an issued ticket", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refund_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<TicketView>> {
    let ctx = auth.authenticated.context()?;
    let ticket = tickets(&state).refund(&ctx, ticket_id(&id)?).await?;
    Ok(axum::Json(TicketView::from(&ticket)))
}
