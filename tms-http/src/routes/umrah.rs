//! `/api/v1/umrah/…`: Umrah groups, their pilgrims, families and rooms, and
//! the group manifest (CSV).
//!
//! Request bodies carry raw text; each is parsed into the core's types with
//! every field's error listed at once (422). Pilgrims also arrive in bulk:
//! `POST /api/v1/umrah/groups/{id}/pilgrims/import?dry_run=true`, a
//! multipart upload with the CSV in a part named `file` (and an optional
//! `mapping` part before it), streamed into the parser like the clients
//! import; the answer is the import report. Passport numbers go in, but
//! only their last two characters come out — except in the manifest, an
//! audited export. Ids that do not parse name no record: 404.

use super::upload::{PartSource, multipart_error};
use crate::extract::confirmation;
use axum::Router;
use std::collections::HashMap;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tms_core::domain::{
    City, Country, Gender, GroupLeader, GroupStatus, LatinName, MahramRelation, Name,
    PassportNumber, RoomType, Season, ShortRef, UmrahFamily, UmrahGroup, VisaStatus,
};
use tms_core::id::{BranchId, PilgrimId, RoomId, UmrahFamilyId, UmrahGroupId};
use tms_core::service::umrah::{
    Assignee, GroupChange, NewFamily, NewGroup, NewPilgrim, NewRoom, PilgrimChange,
    PilgrimView as CorePilgrim, RoomWithOccupants, double_option,
};
use tms_core::{Error, FieldErrors};
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::routes::clients::{ImportReportView, ImportUpload};
use crate::routes::users::Paging;
use tms_core::service::import::ImportOptions;

/// The largest pilgrim upload accepted: a group holds at most 1,000
/// pilgrims, a few hundred bytes each.
pub const PILGRIM_IMPORT_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// The paths of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_groups, create_group, get_group, update_group, delete_group, transition_group,
        list_pilgrims, add_pilgrim, find_pilgrims, get_pilgrim, update_pilgrim, delete_pilgrim,
        import_pilgrims, list_families, create_family, list_rooms, create_room, get_room, list_assignments,
        assign_room, unassign_room, manifest
    ),
    components(schemas(
        GroupView, GroupList, GroupBody, GroupPatch, GroupTransitionBody, PilgrimOut, PilgrimList,
        PilgrimBody, PilgrimPatch, FamilyView, FamilyList, FamilyBody, RoomView, RoomList,
        RoomBody, AssignmentBody
    )),
    tags((name = "umrah", description = "Umrah groups, pilgrims, families, rooming, manifest"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/umrah/groups", get(list_groups).post(create_group))
        .route(
            "/umrah/groups/{id}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route("/umrah/groups/{id}/transitions", post(transition_group))
        .route(
            "/umrah/groups/{id}/pilgrims",
            get(list_pilgrims).post(add_pilgrim),
        )
        .route(
            "/umrah/groups/{id}/families",
            get(list_families).post(create_family),
        )
        .route(
            "/umrah/groups/{id}/rooms",
            get(list_rooms).post(create_room),
        )
        .route(
            "/umrah/groups/{id}/pilgrims/import",
            post(import_pilgrims).layer(DefaultBodyLimit::max(PILGRIM_IMPORT_BODY_LIMIT)),
        )
        .route("/umrah/groups/{id}/manifest.csv", get(manifest))
        .route("/umrah/pilgrims", get(find_pilgrims))
        .route(
            "/umrah/pilgrims/{id}",
            get(get_pilgrim)
                .patch(update_pilgrim)
                .delete(delete_pilgrim),
        )
        .route("/umrah/rooms/{id}", get(get_room))
        .route(
            "/umrah/rooms/{id}/assignments",
            get(list_assignments).post(assign_room),
        )
        .route(
            "/umrah/rooms/{id}/assignments/{pilgrim_id}",
            delete(unassign_room),
        )
}

// ------------------------------------------------------------------ parsing

fn id<T: std::str::FromStr>(raw: &str, what: &'static str) -> tms_core::Result<T> {
    raw.parse().map_err(|_| Error::not_found(what))
}

fn date(raw: &str) -> tms_core::Result<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid("date", "must be a date as YYYY-MM-DD"))
}

fn uuid_field(raw: &str) -> tms_core::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| Error::invalid("id", "is not a valid id"))
}

fn typed<T: std::str::FromStr>(raw: &str) -> tms_core::Result<T> {
    raw.trim()
        .parse()
        .map_err(|_| Error::invalid("id", "is not a valid id"))
}

fn short_ref(field: &'static str) -> impl Fn(&str) -> tms_core::Result<ShortRef> {
    move |raw| ShortRef::parse(raw, field)
}

/// Parses an optional field, recording its error.
fn opt<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> tms_core::Result<T>,
) -> Option<T> {
    raw.and_then(|r| errors.check(field, parse(r)))
}

/// Parses a nullable PATCH field: absent → `None`, `null` → `Some(None)`.
fn nullable<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    raw: &Option<Option<String>>,
    parse: impl Fn(&str) -> tms_core::Result<T>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => errors.check(field, parse(r)).map(Some),
    }
}

// ------------------------------------------------------------------ groups

/// An Umrah group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: String,
    /// The branch that runs it.
    pub branch_id: String,
    /// Name.
    pub name: String,
    /// Season (`1448H` or `2027`).
    pub season: String,
    /// Catalogue package, if any.
    pub package_id: Option<String>,
    /// Departure date.
    pub departure_date: NaiveDate,
    /// Return date.
    pub return_date: NaiveDate,
    /// Leading pilgrim, if the leader is one.
    pub leader_pilgrim_id: Option<String>,
    /// Leader's name, if the leader is not a pilgrim.
    pub leader_name: Option<String>,
    /// Capacity.
    pub capacity: u32,
    /// planning, open, closed, departed, returned or cancelled.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Version.
    pub version: i64,
}

impl From<&UmrahGroup> for GroupView {
    fn from(g: &UmrahGroup) -> Self {
        let (leader_pilgrim_id, leader_name) = match &g.leader {
            Some(GroupLeader::Pilgrim(p)) => (Some(p.to_string()), None),
            Some(GroupLeader::Named(n)) => (None, Some(n.to_string())),
            None => (None, None),
        };
        Self {
            id: g.id.to_string(),
            branch_id: g.branch_id.to_string(),
            name: g.name.to_string(),
            season: g.season.as_str().to_owned(),
            package_id: g.package_id.map(|p| p.to_string()),
            departure_date: g.departure_date,
            return_date: g.return_date,
            leader_pilgrim_id,
            leader_name,
            capacity: g.capacity,
            status: g.status.as_str().to_owned(),
            created_at: g.created_at,
            version: g.version,
        }
    }
}

/// One page of groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    /// The groups.
    pub items: Vec<GroupView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new group.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupBody {
    /// The branch that runs it.
    pub branch_id: String,
    /// Name, any script.
    pub name: String,
    /// `1448H` or `2027`.
    pub season: String,
    /// Catalogue package id.
    pub package_id: Option<String>,
    /// YYYY-MM-DD.
    pub departure_date: String,
    /// YYYY-MM-DD, after departure.
    pub return_date: String,
    /// A leader who is not a pilgrim.
    pub leader_name: Option<String>,
    /// 1..=1000.
    pub capacity: u32,
}

impl GroupBody {
    fn parse(&self) -> tms_core::Result<NewGroup> {
        let mut e = FieldErrors::new();
        let branch_id = e.check("branch_id", typed::<BranchId>(&self.branch_id));
        let name = e.check("name", Name::parse(&self.name));
        let season = e.check("season", Season::parse(&self.season));
        let package_id = opt(&mut e, "package_id", self.package_id.as_deref(), uuid_field);
        let departure = e.check("departure_date", date(&self.departure_date));
        let return_date = e.check("return_date", date(&self.return_date));
        let leader_name = opt(
            &mut e,
            "leader_name",
            self.leader_name.as_deref(),
            Name::parse,
        );
        match (branch_id, name, season, departure, return_date) {
            (Some(branch_id), Some(name), Some(season), Some(departure), Some(return_date))
                if e.is_empty() =>
            {
                Ok(NewGroup {
                    branch_id,
                    name,
                    season,
                    package_id,
                    departure_date: departure,
                    return_date,
                    leader_name,
                    capacity: self.capacity,
                })
            }
            _ => Err(Error::Invalid(e)),
        }
    }
}

/// A change to a group; absent fields stay.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GroupPatch {
    /// Name.
    pub name: Option<String>,
    /// Season.
    pub season: Option<String>,
    /// Package id (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub package_id: Option<Option<String>>,
    /// Departure date.
    pub departure_date: Option<String>,
    /// Return date.
    pub return_date: Option<String>,
    /// Leader: a pilgrim of the group (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub leader_pilgrim_id: Option<Option<String>>,
    /// Leader by name (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub leader_name: Option<Option<String>>,
    /// Capacity.
    pub capacity: Option<u32>,
}

impl GroupPatch {
    fn parse(&self) -> tms_core::Result<GroupChange> {
        let mut e = FieldErrors::new();
        let leader_pilgrim = nullable(
            &mut e,
            "leader_pilgrim_id",
            &self.leader_pilgrim_id,
            typed::<PilgrimId>,
        );
        let leader_name = nullable(&mut e, "leader_name", &self.leader_name, Name::parse);
        let leader = match (leader_pilgrim, leader_name) {
            (Some(Some(p)), _) => Some(Some(GroupLeader::Pilgrim(p))),
            (_, Some(Some(n))) => Some(Some(GroupLeader::Named(n))),
            (Some(None), _) | (_, Some(None)) => Some(None),
            (None, None) => None,
        };
        let change = GroupChange {
            name: opt(&mut e, "name", self.name.as_deref(), Name::parse),
            season: opt(&mut e, "season", self.season.as_deref(), Season::parse),
            package_id: nullable(&mut e, "package_id", &self.package_id, uuid_field),
            departure_date: opt(
                &mut e,
                "departure_date",
                self.departure_date.as_deref(),
                date,
            ),
            return_date: opt(&mut e, "return_date", self.return_date.as_deref(), date),
            leader,
            capacity: self.capacity,
        };
        e.into_result().map(|()| change)
    }
}

/// The status to move to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupTransitionBody {
    /// open, planning, closed, departed, returned or cancelled.
    pub status: String,
}

/// The groups of the caller's branches.
#[utoipa::path(
    get, path = "/api/v1/umrah/groups", tag = "umrah",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of groups", body = GroupList),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_groups(
    State(state): State<AppState>,
    auth: Auth,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<GroupList>> {
    let ctx = auth.authenticated.context()?;
    let page = state.umrah.list_groups(&ctx, paging.request()?).await?;
    Ok(axum::Json(GroupList {
        items: page.items.iter().map(GroupView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Creates a group (status `planning`).
#[utoipa::path(
    post, path = "/api/v1/umrah/groups", tag = "umrah", request_body = GroupBody,
    responses(
        (status = 201, description = "Created", body = GroupView),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_group(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<GroupBody>,
) -> ApiResult<(StatusCode, axum::Json<GroupView>)> {
    let ctx = auth.authenticated.context()?;
    let group = state.umrah.create_group(&ctx, body.parse()?).await?;
    Ok((StatusCode::CREATED, axum::Json(GroupView::from(&group))))
}

/// One group.
#[utoipa::path(
    get, path = "/api/v1/umrah/groups/{id}", tag = "umrah",
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "The group", body = GroupView),
        (status = 404, description = "No such group in the caller's branches", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<GroupView>> {
    let ctx = auth.authenticated.context()?;
    let group = state
        .umrah
        .get_group(&ctx, id::<UmrahGroupId>(&raw, "umrah group")?)
        .await?;
    Ok(axum::Json(GroupView::from(&group)))
}

/// Changes a group in `planning` or `open`.
#[utoipa::path(
    patch, path = "/api/v1/umrah/groups/{id}", tag = "umrah", request_body = GroupPatch,
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "Changed", body = GroupView),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The group's state allows no change", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<GroupPatch>,
) -> ApiResult<axum::Json<GroupView>> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let group = state
        .umrah
        .update_group(&ctx, group_id, body.parse()?)
        .await?;
    Ok(axum::Json(GroupView::from(&group)))
}

/// Deletes a group without pilgrims (out of `planning`: confirm with
/// `Tms-Confirm`).
#[utoipa::path(
    delete, path = "/api/v1/umrah/groups/{id}", tag = "umrah",
    params(
        ("id" = String, Path, description = "The group id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The group holds pilgrims", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let token = confirmation(&headers);
    state
        .umrah
        .delete_group(
            &ctx,
            id::<UmrahGroupId>(&raw, "umrah group")?,
            token.as_ref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a group through its life; closing checks the mahram rule and
/// lists every pilgrim who lacks one (422).
#[utoipa::path(
    post, path = "/api/v1/umrah/groups/{id}/transitions", tag = "umrah", request_body = GroupTransitionBody,
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "Moved", body = GroupView),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an allowed transition", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Pilgrims lacking a mahram, or an unknown status", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transition_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<GroupTransitionBody>,
) -> ApiResult<axum::Json<GroupView>> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let to = GroupStatus::parse(&body.status)?;
    let group = state.umrah.transition_group(&ctx, group_id, to).await?;
    Ok(axum::Json(GroupView::from(&group)))
}

// ------------------------------------------------------------------ pilgrims

/// A pilgrim. The passport number shows only its last two characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct PilgrimOut {
    /// Id.
    pub id: String,
    /// Group.
    pub group_id: String,
    /// Family, if any.
    pub family_id: Option<String>,
    /// Name as typed.
    pub name: String,
    /// Name in Latin letters.
    pub latin_name: String,
    /// male or female.
    pub gender: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// ISO 3166 alpha-2.
    pub nationality: String,
    /// `…` and the passport number's last two characters.
    pub passport_number_hint: String,
    /// Passport expiry.
    pub passport_expiry: NaiveDate,
    /// The passport expires less than six months after the return.
    pub passport_expires_too_soon: bool,
    /// She needs a mahram under the tenant's rule.
    pub needs_mahram: bool,
    /// not_applied, applied, issued, rejected.
    pub visa_status: String,
    /// Visa number, once issued.
    pub visa_number: Option<String>,
    /// Client record.
    pub client_id: Option<String>,
    /// Mahram (a male pilgrim of the group).
    pub mahram_id: Option<String>,
    /// His relation.
    pub mahram_relation: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Version.
    pub version: i64,
}

impl From<&CorePilgrim> for PilgrimOut {
    fn from(v: &CorePilgrim) -> Self {
        let p = &v.pilgrim;
        Self {
            id: p.id.to_string(),
            group_id: p.group_id.to_string(),
            family_id: p.family_id.map(|f| f.to_string()),
            name: p.name.to_string(),
            latin_name: p.latin_name.as_str().to_owned(),
            gender: p.gender.as_str().to_owned(),
            date_of_birth: p.date_of_birth,
            nationality: p.nationality.as_str().to_owned(),
            passport_number_hint: p.passport.hint.clone(),
            passport_expiry: p.passport_expiry,
            passport_expires_too_soon: v.passport_expires_too_soon,
            needs_mahram: v.needs_mahram,
            visa_status: p.visa_status.as_str().to_owned(),
            visa_number: p.visa_number.as_ref().map(|n| n.as_str().to_owned()),
            client_id: p.client_id.map(|c| c.to_string()),
            mahram_id: p.mahram_id.map(|m| m.to_string()),
            mahram_relation: p.mahram_relation.map(|r| r.as_str().to_owned()),
            created_at: p.created_at,
            version: p.version,
        }
    }
}

/// One page of pilgrims.
#[derive(Debug, Serialize, ToSchema)]
pub struct PilgrimList {
    /// The pilgrims.
    pub items: Vec<PilgrimOut>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new pilgrim.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PilgrimBody {
    /// Name as typed, any script.
    pub name: String,
    /// Name in Latin letters, as in the passport.
    pub latin_name: String,
    /// male or female.
    pub gender: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
    /// ISO 3166 alpha-2, e.g. PK.
    pub nationality: String,
    /// Passport number (stored encrypted).
    pub passport_number: String,
    /// YYYY-MM-DD.
    pub passport_expiry: String,
    /// Default not_applied.
    pub visa_status: Option<String>,
    /// With visa_status issued.
    pub visa_number: Option<String>,
    /// Client record id.
    pub client_id: Option<String>,
    /// Family of the group.
    pub family_id: Option<String>,
    /// Mahram: a male pilgrim of the group.
    pub mahram_id: Option<String>,
    /// husband, father, son, brother, …
    pub mahram_relation: Option<String>,
}

impl PilgrimBody {
    /// Parses every field, listing each error.
    pub fn parse(&self) -> tms_core::Result<NewPilgrim> {
        let mut e = FieldErrors::new();
        let name = e.check("name", Name::parse(&self.name));
        let latin_name = e.check("latin_name", LatinName::parse(&self.latin_name));
        let gender = e.check("gender", Gender::parse(&self.gender));
        let born = e.check("date_of_birth", date(&self.date_of_birth));
        let nationality = e.check("nationality", Country::parse(&self.nationality));
        let passport = e.check(
            "passport_number",
            PassportNumber::parse(&self.passport_number),
        );
        let expiry = e.check("passport_expiry", date(&self.passport_expiry));
        let visa_status = opt(
            &mut e,
            "visa_status",
            self.visa_status.as_deref(),
            VisaStatus::parse,
        )
        .unwrap_or(VisaStatus::NotApplied);
        let visa_number = opt(
            &mut e,
            "visa_number",
            self.visa_number.as_deref(),
            short_ref("visa_number"),
        );
        let client_id = opt(&mut e, "client_id", self.client_id.as_deref(), uuid_field);
        let family_id = opt(
            &mut e,
            "family_id",
            self.family_id.as_deref(),
            typed::<UmrahFamilyId>,
        );
        let mahram_id = opt(
            &mut e,
            "mahram_id",
            self.mahram_id.as_deref(),
            typed::<PilgrimId>,
        );
        let mahram_relation = opt(
            &mut e,
            "mahram_relation",
            self.mahram_relation.as_deref(),
            MahramRelation::parse,
        );
        match (
            name,
            latin_name,
            gender,
            born,
            nationality,
            passport,
            expiry,
        ) {
            (
                Some(name),
                Some(latin_name),
                Some(gender),
                Some(born),
                Some(nat),
                Some(pp),
                Some(exp),
            ) if e.is_empty() => Ok(NewPilgrim {
                name,
                latin_name,
                gender,
                date_of_birth: born,
                nationality: nat,
                passport_number: pp,
                passport_expiry: exp,
                visa_status,
                visa_number,
                client_id,
                family_id,
                mahram_id,
                mahram_relation,
            }),
            _ => Err(Error::Invalid(e)),
        }
    }
}

/// A change to a pilgrim; absent fields stay, null clears optional ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PilgrimPatch {
    /// Name as typed.
    pub name: Option<String>,
    /// Latin name.
    pub latin_name: Option<String>,
    /// Gender.
    pub gender: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<String>,
    /// Country.
    pub nationality: Option<String>,
    /// A new passport number.
    pub passport_number: Option<String>,
    /// Passport expiry.
    pub passport_expiry: Option<String>,
    /// Visa status.
    pub visa_status: Option<String>,
    /// Visa number (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub visa_number: Option<Option<String>>,
    /// Client (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub client_id: Option<Option<String>>,
    /// Family (null takes the pilgrim out of it).
    #[serde(default, deserialize_with = "double_option")]
    pub family_id: Option<Option<String>>,
    /// Mahram (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub mahram_id: Option<Option<String>>,
    /// Mahram relation (null clears).
    #[serde(default, deserialize_with = "double_option")]
    pub mahram_relation: Option<Option<String>>,
}

impl PilgrimPatch {
    fn parse(&self) -> tms_core::Result<PilgrimChange> {
        let mut e = FieldErrors::new();
        let change = PilgrimChange {
            name: opt(&mut e, "name", self.name.as_deref(), Name::parse),
            latin_name: opt(
                &mut e,
                "latin_name",
                self.latin_name.as_deref(),
                LatinName::parse,
            ),
            gender: opt(&mut e, "gender", self.gender.as_deref(), Gender::parse),
            date_of_birth: opt(&mut e, "date_of_birth", self.date_of_birth.as_deref(), date),
            nationality: opt(
                &mut e,
                "nationality",
                self.nationality.as_deref(),
                Country::parse,
            ),
            passport_number: opt(
                &mut e,
                "passport_number",
                self.passport_number.as_deref(),
                PassportNumber::parse,
            ),
            passport_expiry: opt(
                &mut e,
                "passport_expiry",
                self.passport_expiry.as_deref(),
                date,
            ),
            visa_status: opt(
                &mut e,
                "visa_status",
                self.visa_status.as_deref(),
                VisaStatus::parse,
            ),
            visa_number: nullable(
                &mut e,
                "visa_number",
                &self.visa_number,
                short_ref("visa_number"),
            ),
            client_id: nullable(&mut e, "client_id", &self.client_id, uuid_field),
            family_id: nullable(&mut e, "family_id", &self.family_id, typed::<UmrahFamilyId>),
            mahram_id: nullable(&mut e, "mahram_id", &self.mahram_id, typed::<PilgrimId>),
            mahram_relation: nullable(
                &mut e,
                "mahram_relation",
                &self.mahram_relation,
                MahramRelation::parse,
            ),
        };
        e.into_result().map(|()| change)
    }
}

/// One page of a group's pilgrims.
#[utoipa::path(
    get, path = "/api/v1/umrah/groups/{id}/pilgrims", tag = "umrah",
    params(
        ("id" = String, Path, description = "The group id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of pilgrims", body = PilgrimList),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_pilgrims(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<PilgrimList>> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let page = state
        .umrah
        .list_pilgrims(&ctx, group_id, paging.request()?)
        .await?;
    Ok(axum::Json(PilgrimList {
        items: page.items.iter().map(PilgrimOut::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Adds a pilgrim to a group in `planning` or `open`, within its capacity.
#[utoipa::path(
    post, path = "/api/v1/umrah/groups/{id}/pilgrims", tag = "umrah", request_body = PilgrimBody,
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 201, description = "Added", body = PilgrimOut),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The group is full or closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_pilgrim(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<PilgrimBody>,
) -> ApiResult<(StatusCode, axum::Json<PilgrimOut>)> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let pilgrim = state
        .umrah
        .add_pilgrim(&ctx, group_id, body.parse()?)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(PilgrimOut::from(&pilgrim))))
}

/// A passport number to look up.
#[derive(Debug, Deserialize)]
pub struct PassportQuery {
    /// The exact number.
    pub passport_number: String,
}

/// The pilgrims of the caller's branches with this exact passport number.
#[utoipa::path(
    get, path = "/api/v1/umrah/pilgrims", tag = "umrah",
    params(("passport_number" = String, Query, description = "The exact passport number")),
    responses(
        (status = 200, description = "Matching pilgrims", body = PilgrimList),
        (status = 422, description = "Not a passport number", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn find_pilgrims(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<PassportQuery>,
) -> ApiResult<axum::Json<PilgrimList>> {
    let ctx = auth.authenticated.context()?;
    let number = PassportNumber::parse(&query.passport_number)?;
    let found = state.umrah.find_pilgrims_by_passport(&ctx, &number).await?;
    Ok(axum::Json(PilgrimList {
        items: found.iter().map(PilgrimOut::from).collect(),
        next_cursor: None,
    }))
}

/// One pilgrim.
#[utoipa::path(
    get, path = "/api/v1/umrah/pilgrims/{id}", tag = "umrah",
    params(("id" = String, Path, description = "The pilgrim id")),
    responses(
        (status = 200, description = "The pilgrim", body = PilgrimOut),
        (status = 404, description = "No such pilgrim", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_pilgrim(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<PilgrimOut>> {
    let ctx = auth.authenticated.context()?;
    let pilgrim = state
        .umrah
        .get_pilgrim(&ctx, id::<PilgrimId>(&raw, "pilgrim")?)
        .await?;
    Ok(axum::Json(PilgrimOut::from(&pilgrim)))
}

/// Changes a pilgrim.
#[utoipa::path(
    patch, path = "/api/v1/umrah/pilgrims/{id}", tag = "umrah", request_body = PilgrimPatch,
    params(("id" = String, Path, description = "The pilgrim id")),
    responses(
        (status = 200, description = "Changed", body = PilgrimOut),
        (status = 404, description = "No such pilgrim", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The group's state allows no such change", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_pilgrim(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<PilgrimPatch>,
) -> ApiResult<axum::Json<PilgrimOut>> {
    let ctx = auth.authenticated.context()?;
    let pilgrim_id = id::<PilgrimId>(&raw, "pilgrim")?;
    let pilgrim = state
        .umrah
        .update_pilgrim(&ctx, pilgrim_id, body.parse()?)
        .await?;
    Ok(axum::Json(PilgrimOut::from(&pilgrim)))
}

/// Removes a pilgrim (once the group is closed: confirm with `Tms-Confirm`).
#[utoipa::path(
    delete, path = "/api/v1/umrah/pilgrims/{id}", tag = "umrah",
    params(
        ("id" = String, Path, description = "The pilgrim id"),
        ("Tms-Confirm" = Option<String>, Header, description = "The confirmation_token of the 428 answer"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such pilgrim", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The pilgrim is a mahram or the leader", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Repeat with Tms-Confirm: confirmation_token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_pilgrim(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    let token = confirmation(&headers);
    state
        .umrah
        .delete_pilgrim(&ctx, id::<PilgrimId>(&raw, "pilgrim")?, token.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How to import.
#[derive(Debug, Deserialize)]
pub struct PilgrimImportParams {
    #[serde(default)]
    dry_run: bool,
}

/// Imports pilgrims into a group from a CSV upload: every row checked
/// (fields, passports already in the group or repeated, capacity), all
/// written or none. Columns: name, latin_name, gender (M/F), date_of_birth,
/// nationality, passport_number, passport_expiry; optional visa_status,
/// visa_number, client_id.
#[utoipa::path(
    post, path = "/api/v1/umrah/groups/{id}/pilgrims/import", tag = "umrah",
    params(
        ("id" = String, Path, description = "The group id"),
        ("dry_run" = Option<bool>, Query, description = "Check and report only (default false)"),
    ),
    request_body(content = ImportUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The report; `committed` says whether the rows were written", body = ImportReportView),
        (status = 400, description = "Not a multipart upload, or no `file` part", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The group takes no more pilgrims", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed file (the detail names the row) or a bad mapping", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn import_pilgrims(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(params): Query<PilgrimImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<axum::Json<ImportReportView>> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let mut multipart = multipart.map_err(|e| ApiError::Malformed(e.body_text().into()))?;
    let mut mapping = HashMap::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("mapping") => {
                let text = field.text().await.map_err(multipart_error)?;
                mapping = serde_json::from_str(&text).map_err(|_| {
                    Error::invalid("mapping", "must be a JSON object of column name to header")
                })?;
            }
            Some("file") => {
                let options = ImportOptions {
                    dry_run: params.dry_run,
                    mapping,
                };
                let mut source = PartSource::new(field);
                let result = state
                    .umrah
                    .import_pilgrims(&ctx, group_id, &mut source, options, &mut |_| {})
                    .await;
                return match result {
                    Err(_) if source.too_large => Err(ApiError::PayloadTooLarge),
                    other => Ok(axum::Json(ImportReportView::from(other?))),
                };
            }
            _ => {}
        }
    }
    Err(ApiError::Malformed("the upload has no `file` part".into()))
}

// ------------------------------------------------------------------ families

/// A family of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyView {
    /// Id.
    pub id: String,
    /// Group.
    pub group_id: String,
    /// Name.
    pub name: String,
    /// Head of the family.
    pub head_pilgrim_id: Option<String>,
    /// The members placed in it (on creation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl FamilyView {
    fn of(f: &UmrahFamily, members: Option<&[PilgrimId]>) -> Self {
        Self {
            id: f.id.to_string(),
            group_id: f.group_id.to_string(),
            name: f.name.to_string(),
            head_pilgrim_id: f.head_pilgrim_id.map(|h| h.to_string()),
            members: members.map(|m| m.iter().map(ToString::to_string).collect()),
            created_at: f.created_at,
        }
    }
}

/// One page of families.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyList {
    /// The families.
    pub items: Vec<FamilyView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new family.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FamilyBody {
    /// Name.
    pub name: String,
    /// The head (added to the members).
    pub head_pilgrim_id: Option<String>,
    /// Members: pilgrims of the group in no other family.
    #[serde(default)]
    pub members: Vec<String>,
}

/// One page of a group's families.
#[utoipa::path(
    get, path = "/api/v1/umrah/groups/{id}/families", tag = "umrah",
    params(
        ("id" = String, Path, description = "The group id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of families", body = FamilyList),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_families(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<FamilyList>> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let page = state
        .umrah
        .list_families(&ctx, group_id, paging.request()?)
        .await?;
    Ok(axum::Json(FamilyList {
        items: page.items.iter().map(|f| FamilyView::of(f, None)).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Forms a family of pilgrims of the group.
#[utoipa::path(
    post, path = "/api/v1/umrah/groups/{id}/families", tag = "umrah", request_body = FamilyBody,
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 201, description = "Created", body = FamilyView),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A member is not of the group or already in a family", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_family(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<FamilyBody>,
) -> ApiResult<(StatusCode, axum::Json<FamilyView>)> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let mut e = FieldErrors::new();
    let name = e.check("name", Name::parse(&body.name));
    let head = opt(
        &mut e,
        "head_pilgrim_id",
        body.head_pilgrim_id.as_deref(),
        typed::<PilgrimId>,
    );
    let members: Vec<PilgrimId> = body
        .members
        .iter()
        .filter_map(|m| e.check("members", typed::<PilgrimId>(m)))
        .collect();
    let (Some(name), true) = (name, e.is_empty()) else {
        return Err(Error::Invalid(e).into());
    };
    let (family, members) = state
        .umrah
        .create_family(
            &ctx,
            group_id,
            NewFamily {
                name,
                head_pilgrim_id: head,
                members,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(FamilyView::of(&family, Some(&members))),
    ))
}

// ------------------------------------------------------------------ rooms

/// A room and who sleeps in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomView {
    /// Id.
    pub id: String,
    /// Group.
    pub group_id: String,
    /// Hotel.
    pub hotel: String,
    /// makkah or madinah.
    pub city: String,
    /// single, double, triple, quad or quint.
    pub room_type: String,
    /// Beds.
    pub capacity: usize,
    /// Room number, if known.
    pub room_number: Option<String>,
    /// Pilgrim ids, in order of assignment.
    pub occupants: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<&RoomWithOccupants> for RoomView {
    fn from(r: &RoomWithOccupants) -> Self {
        Self {
            id: r.room.id.to_string(),
            group_id: r.room.group_id.to_string(),
            hotel: r.room.hotel.to_string(),
            city: r.room.city.as_str().to_owned(),
            room_type: r.room.room_type.as_str().to_owned(),
            capacity: r.room.room_type.capacity(),
            room_number: r.room.room_number.as_ref().map(|n| n.as_str().to_owned()),
            occupants: r.occupants.iter().map(ToString::to_string).collect(),
            created_at: r.room.created_at,
        }
    }
}

/// One page of rooms.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    /// The rooms.
    pub items: Vec<RoomView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new room.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoomBody {
    /// Hotel name.
    pub hotel: String,
    /// makkah or madinah.
    pub city: String,
    /// single, double, triple, quad or quint.
    pub room_type: String,
    /// Room number, if known.
    pub room_number: Option<String>,
}

/// Who to place: one pilgrim, or a whole family at once.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignmentBody {
    /// A pilgrim of the group.
    pub pilgrim_id: Option<String>,
    /// A family of the group: every member without a room in this city.
    pub family_id: Option<String>,
}

/// One page of a group's rooms with occupants.
#[utoipa::path(
    get, path = "/api/v1/umrah/groups/{id}/rooms", tag = "umrah",
    params(
        ("id" = String, Path, description = "The group id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "The previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "One page of rooms", body = RoomList),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_rooms(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<RoomList>> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let page = state
        .umrah
        .list_rooms(&ctx, group_id, paging.request()?)
        .await?;
    Ok(axum::Json(RoomList {
        items: page.items.iter().map(RoomView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// Adds a room to a group.
#[utoipa::path(
    post, path = "/api/v1/umrah/groups/{id}/rooms", tag = "umrah", request_body = RoomBody,
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 201, description = "Created", body = RoomView),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same hotel, city and number exist, or the group is over", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_room(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<RoomBody>,
) -> ApiResult<(StatusCode, axum::Json<RoomView>)> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    let mut e = FieldErrors::new();
    let hotel = e.check("hotel", Name::parse(&body.hotel));
    let city = e.check("city", City::parse(&body.city));
    let room_type = e.check("room_type", RoomType::parse(&body.room_type));
    let room_number = opt(
        &mut e,
        "room_number",
        body.room_number.as_deref(),
        short_ref("room_number"),
    );
    let (Some(hotel), Some(city), Some(room_type), true) = (hotel, city, room_type, e.is_empty())
    else {
        return Err(Error::Invalid(e).into());
    };
    let room = state
        .umrah
        .create_room(
            &ctx,
            group_id,
            NewRoom {
                hotel,
                city,
                room_type,
                room_number,
            },
        )
        .await?;
    let view = RoomWithOccupants {
        room,
        occupants: Vec::new(),
    };
    Ok((StatusCode::CREATED, axum::Json(RoomView::from(&view))))
}

/// One room with its occupants.
#[utoipa::path(
    get, path = "/api/v1/umrah/rooms/{id}", tag = "umrah",
    params(("id" = String, Path, description = "The room id")),
    responses(
        (status = 200, description = "The room", body = RoomView),
        (status = 404, description = "No such room", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_room(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<RoomView>> {
    let ctx = auth.authenticated.context()?;
    let room = state
        .umrah
        .get_room(&ctx, id::<RoomId>(&raw, "room")?)
        .await?;
    Ok(axum::Json(RoomView::from(&room)))
}

/// Who sleeps in the room (the room with its occupants).
#[utoipa::path(
    get, path = "/api/v1/umrah/rooms/{id}/assignments", tag = "umrah",
    params(("id" = String, Path, description = "The room id")),
    responses(
        (status = 200, description = "The room and its occupants", body = RoomView),
        (status = 404, description = "No such room", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_assignments(
    state: State<AppState>,
    auth: Auth,
    raw: Path<String>,
) -> ApiResult<axum::Json<RoomView>> {
    get_room(state, auth, raw).await
}

/// Places a pilgrim (`pilgrim_id`) or a whole family (`family_id`) in the
/// room: capacity, one gender unless one family, families together.
#[utoipa::path(
    post, path = "/api/v1/umrah/rooms/{id}/assignments", tag = "umrah", request_body = AssignmentBody,
    params(("id" = String, Path, description = "The room id")),
    responses(
        (status = 201, description = "Placed; the room with its occupants", body = RoomView),
        (status = 404, description = "No such room", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The room is full, or gender or family rules forbid it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a pilgrim or family of the group", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn assign_room(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
    Json(body): Json<AssignmentBody>,
) -> ApiResult<(StatusCode, axum::Json<RoomView>)> {
    let ctx = auth.authenticated.context()?;
    let room_id = id::<RoomId>(&raw, "room")?;
    let who = match (&body.pilgrim_id, &body.family_id) {
        (Some(p), None) => Assignee::Pilgrim(
            typed::<PilgrimId>(p).map_err(|_| Error::invalid("pilgrim_id", "is not a valid id"))?,
        ),
        (None, Some(f)) => Assignee::Family(
            typed::<UmrahFamilyId>(f)
                .map_err(|_| Error::invalid("family_id", "is not a valid id"))?,
        ),
        _ => {
            return Err(Error::invalid(
                "pilgrim_id",
                "give exactly one of pilgrim_id and family_id",
            )
            .into());
        }
    };
    let room = state.umrah.assign_room(&ctx, room_id, who).await?;
    Ok((StatusCode::CREATED, axum::Json(RoomView::from(&room))))
}

/// Takes a pilgrim out of the room.
#[utoipa::path(
    delete, path = "/api/v1/umrah/rooms/{id}/assignments/{pilgrim_id}", tag = "umrah",
    params(
        ("id" = String, Path, description = "The room id"),
        ("pilgrim_id" = String, Path, description = "The pilgrim id"),
    ),
    responses(
        (status = 204, description = "Removed from the room"),
        (status = 404, description = "No such room or assignment", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unassign_room(
    State(state): State<AppState>,
    auth: Auth,
    Path((raw, pilgrim)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = auth.authenticated.context()?;
    state
        .umrah
        .unassign_room(
            &ctx,
            id::<RoomId>(&raw, "room")?,
            id::<PilgrimId>(&pilgrim, "room assignment")?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ manifest

/// The group manifest as CSV, with full passport numbers: an audited export
/// (`umrah.manifest.exported`).
#[utoipa::path(
    get, path = "/api/v1/umrah/groups/{id}/manifest.csv", tag = "umrah",
    params(("id" = String, Path, description = "The group id")),
    responses(
        (status = 200, description = "The manifest", content_type = "text/csv", body = String),
        (status = 403, description = "Not allowed to export", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn manifest(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let ctx = auth.authenticated.context()?;
    let group_id = id::<UmrahGroupId>(&raw, "umrah group")?;
    // A group holds at most MAX_GROUP_CAPACITY pilgrims, so the body is
    // bounded (about 200 bytes a line); the core writes it page by page.
    let mut body = Vec::with_capacity(16 * 1024);
    state
        .umrah
        .export_manifest(&ctx, group_id, &mut body)
        .await?;
    let filename = format!("attachment; filename=\"manifest-{group_id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}
