//! `/api/v1/bookings`: create (with `Idempotency-Key`), list with filters,
//! read, move through the state machine, replace the travellers, delete.
//!
//! - `POST /bookings` with `Idempotency-Key: <key>`: the first request
//!   answers 201; a retry with the same key and body answers 200 with the
//!   same booking and `Idempotent-Replayed: true`; the same key with another
//!   body is a 422. A package item takes its places at once: a sold-out
//!   package is a 409.
//! - `POST /bookings/{id}/transitions` `{to, version?}`: `to` one of
//!   `pending`, `confirmed`, `ticketed`, `completed`, `cancelled`; a move
//!   the state machine does not allow is a 409 naming the allowed ones.
//! - `PUT /bookings/{id}/travellers` `{version, travellers}` replaces the
//!   whole list; a stale version is a 409.
//! - `DELETE /bookings/{id}`: a draft goes at once (204); any other booking
//!   first answers 428 with a confirmation token (repeat with `Tms-Confirm`).
//!   Sales cannot delete (403): they cancel.
//! - Passport numbers are shown in full only on `GET /bookings/{id}`; lists
//!   and every other answer show the last two characters.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{
    Booking, BookingItem, BookingStatus, ItemKind, LatinName, Name, PassportNumber, Traveller,
    mask_passport,
};
use tms_core::error::FieldErrors;
use tms_core::id::{BookingId, BranchId, ClientId, PackageId, TravellerId};
use tms_core::money::Money;
use tms_core::ports::BookingFilter;
use tms_core::service::bookings::{Bookings, NewBooking, NewTraveller};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiResult, Problem};
use crate::extract::{Json, Path, Query};

/// The header carrying an idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The header set on an answer replayed for a repeated idempotency key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_bookings,
        create_booking,
        get_booking,
        delete_booking,
        transition_booking,
        replace_travellers
    ),
    components(schemas(
        MoneyBody,
        MoneyView,
        BookingView,
        BookingList,
        BookingBody,
        TravellerBody,
        TravellerView,
        ItemBody,
        ItemView,
        TotalView,
        TransitionBody,
        TravellersBody
    )),
    tags((name = "bookings", description = "Bookings, their travellers and state"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bookings", get(list_bookings).post(create_booking))
        .route("/bookings/{id}", get(get_booking).delete(delete_booking))
        .route("/bookings/{id}/transitions", post(transition_booking))
        .route(
            "/bookings/{id}/travellers",
            axum::routing::put(replace_travellers),
        )
}

/// The bookings service of this request (cheap: a few `Arc` clones).
pub(crate) fn bookings(state: &AppState) -> Bookings {
    Bookings::new(state.deps.clone(), state.keyring.clone())
        // --- files (issue 8) ---: a deleted booking's documents go too.
        .with_blobs(state.blobs.clone())
}

/// An amount as a client sends it: a decimal string (never a JSON number,
/// which readers turn into floats) and an ISO-4217 code.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MoneyBody {
    /// E.g. `"1250.50"`.
    pub amount: String,
    /// E.g. `"SAR"`.
    pub currency: String,
}

impl MoneyBody {
    /// As [`Money`]; a bad amount or currency is `Invalid`.
    pub fn parse(&self) -> tms_core::Result<Money> {
        Money::parse_with_code(&self.amount, &self.currency)
    }
}

/// An amount.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MoneyView {
    /// Decimal string with the currency's decimals.
    pub amount: String,
    /// ISO-4217 code.
    pub currency: String,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        Self {
            amount: m.to_decimal_string(),
            currency: m.currency().code().to_owned(),
        }
    }
}

/// A traveller.
#[derive(Debug, Serialize, ToSchema)]
pub struct TravellerView {
    /// Id (send it back on edits to keep the traveller).
    pub id: String,
    /// Name as typed.
    pub name: String,
    /// Name for tickets.
    pub latin_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// The passport number: in full on `GET /bookings/{id}`, else the last
    /// two characters (`…67`).
    pub passport_number: Option<String>,
}

impl TravellerView {
    fn of(t: &Traveller, full_passport: bool) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.to_string(),
            latin_name: t.latin_name.as_str().to_owned(),
            date_of_birth: t.date_of_birth,
            passport_number: t.passport.as_ref().map(|p| {
                if full_passport {
                    p.expose().to_owned()
                } else {
                    mask_passport(p)
                }
            }),
        }
    }
}

/// A booking item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// `package`, `flight`, `hotel`, `visa`, `transfer` or `other`.
    pub kind: String,
    /// What the client gets.
    pub description: String,
    /// Who supplies it.
    pub supplier_name: Option<String>,
    /// What the agency pays.
    pub supplier_cost: MoneyView,
    /// What the client pays.
    pub sell_price: MoneyView,
    /// The package, for a package item.
    pub package_id: Option<String>,
    /// Places of the package.
    pub places: Option<u32>,
    /// First day.
    pub starts_on: Option<NaiveDate>,
    /// Last day.
    pub ends_on: Option<NaiveDate>,
}

impl From<&BookingItem> for ItemView {
    fn from(i: &BookingItem) -> Self {
        Self {
            kind: i.kind.as_str().to_owned(),
            description: i.description.clone(),
            supplier_name: i.supplier_name.clone(),
            supplier_cost: i.supplier_cost.into(),
            sell_price: i.sell_price.into(),
            package_id: i.package.map(|(p, _)| p.to_string()),
            places: i.package.map(|(_, n)| n),
            starts_on: i.starts_on,
            ends_on: i.ends_on,
        }
    }
}

/// Sums in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalView {
    /// ISO-4217 code.
    pub currency: String,
    /// What the client pays.
    pub sell: MoneyView,
    /// What the agency pays suppliers.
    pub cost: MoneyView,
}

/// A booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingView {
    /// Id.
    pub id: String,
    /// `BK-2026-000123`.
    pub reference: String,
    /// `draft`, `pending`, `confirmed`, `ticketed`, `completed`, `cancelled`.
    pub status: String,
    /// The selling branch.
    pub branch_id: String,
    /// The client.
    pub client_id: String,
    /// Who travels.
    pub travellers: Vec<TravellerView>,
    /// What is sold.
    pub items: Vec<ItemView>,
    /// Sums per currency.
    pub totals: Vec<TotalView>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Send back on edits; a stale one is a 409.
    pub version: i64,
}

impl BookingView {
    fn of(b: &Booking, full_passport: bool) -> tms_core::Result<Self> {
        Ok(Self {
            id: b.id.to_string(),
            reference: b.reference.to_string(),
            status: b.status.as_str().to_owned(),
            branch_id: b.branch_id.to_string(),
            client_id: b.client_id.to_string(),
            travellers: b
                .travellers
                .iter()
                .map(|t| TravellerView::of(t, full_passport))
                .collect(),
            items: b.items.iter().map(ItemView::from).collect(),
            totals: b
                .totals()?
                .into_iter()
                .map(|t| TotalView {
                    currency: t.currency.code().to_owned(),
                    sell: t.sell.into(),
                    cost: t.cost.into(),
                })
                .collect(),
            created_at: b.created_at,
            updated_at: b.updated_at,
            version: b.version,
        })
    }
}

/// One page of bookings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingList {
    /// The bookings.
    pub items: Vec<BookingView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A traveller as a client sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TravellerBody {
    /// On an edit: the id of a traveller already on the booking, to keep it.
    pub id: Option<String>,
    /// Name as typed, any script.
    pub name: String,
    /// Name for tickets (Latin letters).
    pub latin_name: String,
    /// Date of birth (`YYYY-MM-DD`).
    pub date_of_birth: NaiveDate,
    /// Passport number, if known.
    pub passport_number: Option<String>,
}

/// A booking item as a client sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ItemBody {
    /// `package`, `flight`, `hotel`, `visa`, `transfer` or `other`.
    pub kind: String,
    /// What the client gets.
    pub description: String,
    /// Who supplies it.
    pub supplier_name: Option<String>,
    /// What the agency pays.
    pub supplier_cost: MoneyBody,
    /// What the client pays.
    pub sell_price: MoneyBody,
    /// For a package item: the package.
    pub package_id: Option<String>,
    /// For a package item: how many places.
    pub places: Option<u32>,
    /// First day.
    pub starts_on: Option<NaiveDate>,
    /// Last day.
    pub ends_on: Option<NaiveDate>,
}

/// A new booking.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BookingBody {
    /// The selling branch.
    pub branch_id: String,
    /// The client.
    pub client_id: String,
    /// Who travels (1 to 50).
    pub travellers: Vec<TravellerBody>,
    /// What is sold.
    #[serde(default)]
    pub items: Vec<ItemBody>,
}

fn parse_travellers(bodies: Vec<TravellerBody>, errors: &mut FieldErrors) -> Vec<NewTraveller> {
    let mut out = Vec::with_capacity(bodies.len());
    for (i, t) in bodies.into_iter().enumerate() {
        let field = |name: &str| format!("travellers[{i}].{name}");
        let id = match t.id.as_deref() {
            None => Some(None),
            Some(raw) => match raw.parse::<TravellerId>() {
                Ok(id) => Some(Some(id)),
                Err(_) => {
                    errors.push(field("id"), "is not a traveller id");
                    None
                }
            },
        };
        let name = Name::parse(&t.name)
            .map_err(|e| errors.push(field("name"), first_message(e)))
            .ok();
        let latin = LatinName::parse(&t.latin_name)
            .map_err(|e| errors.push(field("latin_name"), first_message(e)))
            .ok();
        let passport = match t.passport_number.as_deref() {
            None => Some(None),
            Some(raw) => PassportNumber::parse(raw)
                .map(Some)
                .map_err(|e| errors.push(field("passport_number"), first_message(e)))
                .ok(),
        };
        if let (Some(id), Some(name), Some(latin_name), Some(passport)) =
            (id, name, latin, passport)
        {
            out.push(NewTraveller {
                id,
                name,
                latin_name,
                date_of_birth: t.date_of_birth,
                passport,
            });
        }
    }
    out
}

fn parse_items(bodies: Vec<ItemBody>, errors: &mut FieldErrors) -> Vec<BookingItem> {
    let mut out = Vec::with_capacity(bodies.len());
    for (i, b) in bodies.into_iter().enumerate() {
        let field = |name: &str| format!("items[{i}].{name}");
        let kind = ItemKind::parse(&b.kind)
            .map_err(|e| errors.push(field("kind"), first_message(e)))
            .ok();
        let cost = b
            .supplier_cost
            .parse()
            .map_err(|e| errors.push(field("supplier_cost"), first_message(e)))
            .ok();
        let sell = b
            .sell_price
            .parse()
            .map_err(|e| errors.push(field("sell_price"), first_message(e)))
            .ok();
        let package = match (b.package_id.as_deref(), b.places) {
            (None, None) => Some(None),
            (Some(raw), places) => match raw.parse::<PackageId>() {
                Ok(id) => Some(Some((id, places.unwrap_or(1)))),
                Err(_) => {
                    errors.push(field("package_id"), "is not a package id");
                    None
                }
            },
            (None, Some(_)) => {
                errors.push(field("places"), "needs a package_id");
                None
            }
        };
        if let (Some(kind), Some(supplier_cost), Some(sell_price), Some(package)) =
            (kind, cost, sell, package)
        {
            out.push(BookingItem {
                kind,
                description: b.description.trim().to_owned(),
                supplier_name: b.supplier_name.map(|s| s.trim().to_owned()),
                supplier_cost,
                sell_price,
                package,
                starts_on: b.starts_on,
                ends_on: b.ends_on,
            });
        }
    }
    out
}

fn first_message(e: tms_core::Error) -> String {
    match e {
        tms_core::Error::Invalid(errors) => errors
            .as_slice()
            .first()
            .map(|f| f.message.clone())
            .unwrap_or_else(|| "is invalid".into()),
        other => other.to_string(),
    }
}

impl BookingBody {
    fn parse(self) -> tms_core::Result<NewBooking> {
        let mut errors = FieldErrors::new();
        let branch_id = errors.check(
            "branch_id",
            self.branch_id
                .parse::<BranchId>()
                .map_err(|_| tms_core::Error::invalid("branch_id", "is not a branch id")),
        );
        let client_id = errors.check(
            "client_id",
            self.client_id
                .parse::<ClientId>()
                .map_err(|_| tms_core::Error::invalid("client_id", "is not a client id")),
        );
        let travellers = parse_travellers(self.travellers, &mut errors);
        let items = parse_items(self.items, &mut errors);
        errors.into_result()?;
        let (Some(branch_id), Some(client_id)) = (branch_id, client_id) else {
            return Err(tms_core::Error::invalid("booking", "is incomplete"));
        };
        Ok(NewBooking {
            branch_id,
            client_id,
            travellers,
            items,
        })
    }
}

/// List filters.
#[derive(Debug, Deserialize)]
pub struct BookingQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only this branch's.
    pub branch_id: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Parses a booking id; one that does not parse names no booking.
pub(crate) fn booking_id(raw: &str) -> tms_core::Result<BookingId> {
    raw.parse()
        .map_err(|_| tms_core::Error::not_found("booking"))
}

/// The bookings the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/bookings",
    tag = "bookings",
    params(
        ("status" = Option<String>, Query, description = "Only this status"),
        ("client_id" = Option<String>, Query, description = "Only this client's"),
        ("branch_id" = Option<String>, Query, description = "Only this branch's (404 if not in scope)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of bookings", body = BookingList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_bookings(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<BookingQuery>,
) -> ApiResult<axum::Json<BookingList>> {
    let ctx = auth.authenticated.context()?;
    let filter = BookingFilter {
        status: query
            .status
            .as_deref()
            .map(BookingStatus::parse)
            .transpose()?,
        client_id: query
            .client_id
            .as_deref()
            .map(|c| {
                c.parse::<ClientId>()
                    .map_err(|_| tms_core::Error::invalid("client_id", "is not a client id"))
            })
            .transpose()?,
        branch_id: query
            .branch_id
            .as_deref()
            .map(|b| {
                b.parse::<BranchId>()
                    .map_err(|_| tms_core::Error::invalid("branch_id", "is not a branch id"))
            })
            .transpose()?,
    };
    let page = tms_core::ports::PageRequest::new(query.limit, query.cursor.as_deref())?;
    let page = bookings(&state).list(&ctx, filter, page).await?;
    Ok(axum::Json(BookingList {
        items: page
            .items
            .iter()
            .map(|b| BookingView::of(b, false))
            .collect::<tms_core::Result<Vec<_>>>()?,
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Creates a booking (status `draft`), taking its package places.
#[utoipa::path(
    post,
    path = "/api/v1/bookings",
    tag = "bookings",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first booking")),
    request_body = BookingBody,
    responses(
        (status = 201, description = "Created", body = BookingView),
        (status = 200, description = "A retry of an earlier request with the same Idempotency-Key: the same booking", body = BookingView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such branch or client in scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A package is sold out or not published", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or the key was used with another request", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_booking(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Json(body): Json<BookingBody>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let key = crate::extract::idempotency_key(&headers)?;
    let created = bookings(&state).create(&ctx, body.parse()?, key).await?;
    let view = axum::Json(BookingView::of(&created.booking, false)?);
    Ok(crate::extract::created_or_replayed(view, created.replayed))
}

/// One booking (passport numbers in full).
#[utoipa::path(
    get,
    path = "/api/v1/bookings/{id}",
    tag = "bookings",
    params(("id" = String, Path, description = "The booking id")),
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 404, description = "No such booking in this tenant and scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_booking(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BookingView>> {
    let ctx = auth.authenticated.context()?;
    let booking = bookings(&state).get(&ctx, booking_id(&id)?).await?;
    Ok(axum::Json(BookingView::of(&booking, true)?))
}

/// Deletes a booking: a draft at once; any other with `Tms-Confirm`.
#[utoipa::path(
    delete,
    path = "/api/v1/bookings/{id}",
    tag = "bookings",
    params(
        ("id" = String, Path, description = "The booking id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed (Sales cancel instead)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The booking has tickets", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Not a draft: repeat with Tms-Confirm", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_booking(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let confirmation = crate::extract::confirmation(&headers);
    bookings(&state)
        .delete(&ctx, booking_id(&id)?, confirmation.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A move of the state machine.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransitionBody {
    /// The new status.
    pub to: String,
    /// If given, the move happens only at this version (else 409).
    pub version: Option<i64>,
}

/// Moves a booking to another status.
#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/transitions",
    tag = "bookings",
    params(("id" = String, Path, description = "The booking id")),
    request_body = TransitionBody,
    responses(
        (status = 200, description = "Moved", body = BookingView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current status, or stale version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transition_booking(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<TransitionBody>,
) -> ApiResult<axum::Json<BookingView>> {
    let ctx = auth.authenticated.context()?;
    let to = BookingStatus::parse(&body.to)?;
    let booking = bookings(&state)
        .transition(&ctx, booking_id(&id)?, to, body.version)
        .await?;
    Ok(axum::Json(BookingView::of(&booking, false)?))
}

/// The whole new traveller list, at the version read.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TravellersBody {
    /// The booking's `version` when read; a stale one is a 409.
    pub version: i64,
    /// Every traveller, in order (keep ids of those who stay).
    pub travellers: Vec<TravellerBody>,
}

/// Replaces the travellers of a booking in one change.
#[utoipa::path(
    put,
    path = "/api/v1/bookings/{id}/travellers",
    tag = "bookings",
    params(("id" = String, Path, description = "The booking id")),
    request_body = TravellersBody,
    responses(
        (status = 200, description = "Replaced", body = BookingView),
        (status = 404, description = "No such booking", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale version, a final booking, or a ticketed traveller removed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid travellers", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn replace_travellers(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<TravellersBody>,
) -> ApiResult<axum::Json<BookingView>> {
    let ctx = auth.authenticated.context()?;
    let mut errors = FieldErrors::new();
    let travellers = parse_travellers(body.travellers, &mut errors);
    errors.into_result()?;
    let booking = bookings(&state)
        .replace_travellers(&ctx, booking_id(&id)?, body.version, travellers)
        .await?;
    Ok(axum::Json(BookingView::of(&booking, false)?))
}
