//! Bookings: create (with an idempotency key), read, list, move through the
//! state machine, replace the travellers, delete.
//!
//! Every call authorizes, validates, then writes and audits in one unit of
//! work. The rules this service keeps:
//!
//! - **Scope.** A booking belongs to a branch; a booking of another tenant
//!   or of a branch outside the caller's scope is `NotFound`, on every call.
//!   Its client must be one the caller sees (else `NotFound`); the client
//!   may be looked after by another branch the caller also sees.
//! - **Never oversell.** A package item takes its places with the store's
//!   atomic conditional update in the creating unit of work; a sold-out
//!   package is a `Conflict` and nothing of the booking is kept. Cancelling
//!   (or deleting a draft) gives the places back in the same unit.
//! - **References** `BK-{year}-{number}` are allocated last in the creating
//!   unit of work (the counter row stays locked for the shortest time), so
//!   a failed creation leaves no gap.
//! - **Idempotency.** With a key, a retry of the same request returns the
//!   first booking (`replayed`); the same key with another request is
//!   `Invalid`; concurrent identical requests create one booking.
//! - **State machine** of [`BookingStatus`]: anything else is a `Conflict`.
//!   Cancelling needs the Cancel right (Sales has it); the other moves need
//!   Update. Each move is audited (`booking.confirmed`, …).
//! - **Travellers** are replaced as one list, against the booking's
//!   `version` (stale → `Conflict`), audited before/after with passport
//!   numbers masked. A traveller holding a ticket cannot be removed.
//! - **Delete.** A draft is deleted freely (by roles holding Delete); any
//!   other booking only with a confirmation (critical action), and never
//!   one with tickets. Cancelling is the normal path.
//! - Passport numbers are sealed with the key ring before they reach the
//!   store, bound to the tenant and the traveller.

pub(crate) use crate::service::guard::authorize_in as authorize;
use std::sync::Arc;

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{
    Booking, BookingItem, BookingStatus, Context, LatinName, Name, PassportNumber, Traveller,
    places_by_package, reference_year, validate_travellers,
};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BookingId, BranchId, ClientId, TravellerId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{
    BookingFilter, BookingRecord, IdempotencyKey, IdempotencyRecord, Page, PageRequest, Scope,
    StoredTraveller, UnitOfWork, claim_or_replay, fingerprint,
};
use crate::security::keyring::{KeyRing, SealContext};
use crate::security::token::PlainToken;
use crate::service::notifications;
use crate::service::tenancy::Deps;

/// The operation name of booking creation in the idempotency table.
pub const CREATE_OPERATION: &str = "booking.create";

/// Most items on one booking.
pub const MAX_ITEMS: usize = 100;

/// A traveller as a form gives it.
#[derive(Clone)]
pub struct NewTraveller {
    /// On an edit, the id of a traveller already on the booking (kept);
    /// `None` for a new one.
    pub id: Option<TravellerId>,
    /// Name as typed, any script.
    pub name: Name,
    /// Name for tickets.
    pub latin_name: LatinName,
    /// Date of birth.
    pub date_of_birth: chrono::NaiveDate,
    /// Passport number, if known.
    pub passport: Option<PassportNumber>,
}

impl std::fmt::Debug for NewTraveller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTraveller")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A booking to create.
#[derive(Debug, Clone)]
pub struct NewBooking {
    /// The selling branch (in the caller's scope).
    pub branch_id: BranchId,
    /// Whose booking.
    pub client_id: ClientId,
    /// Who travels (1 to 50).
    pub travellers: Vec<NewTraveller>,
    /// What is sold (0 to [`MAX_ITEMS`]).
    pub items: Vec<BookingItem>,
}

impl NewBooking {
    /// The canonical form hashed for the idempotency fingerprint.
    fn canonical(&self) -> serde_json::Value {
        json!({
            "branch_id": self.branch_id,
            "client_id": self.client_id,
            "travellers": self.travellers.iter().map(|t| json!({
                "id": t.id,
                "name": t.name,
                "latin_name": t.latin_name,
                "date_of_birth": t.date_of_birth,
                "passport": t.passport.as_ref().map(PassportNumber::expose),
            })).collect::<Vec<_>>(),
            "items": self.items,
        })
    }
}

/// The result of a create: the booking, and whether it is the first
/// result of an earlier request with the same idempotency key.
#[derive(Debug, Clone)]
pub struct Created {
    /// The booking.
    pub booking: Booking,
    /// `true` when an earlier request with the same key created it.
    pub replayed: bool,
}

/// The bookings service.
#[derive(Debug, Clone)]
pub struct Bookings {
    deps: Deps,
    keyring: Arc<KeyRing>,
    // --- files (issue 8) ---
    blobs: Option<Arc<dyn crate::ports::BlobStore>>,
}

impl Bookings {
    /// The service over `deps`, sealing passport numbers with `keyring`.
    pub fn new(deps: Deps, keyring: Arc<KeyRing>) -> Self {
        Self {
            deps,
            keyring,
            blobs: None,
        }
    }

    // --- files (issue 8) ---
    /// Deletes the bytes of a deleted booking's documents from `blobs`
    /// (without it, only their rows go, and the bytes stay unreachable).
    pub fn with_blobs(mut self, blobs: Arc<dyn crate::ports::BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Creates a booking in `draft`, taking its package places; with `key`,
    /// at most once per key.
    pub async fn create(
        &self,
        ctx: &Context,
        request: NewBooking,
        key: Option<IdempotencyKey>,
    ) -> Result<Created> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Booking, tenant).in_branch(request.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;

        let mut errors = FieldErrors::new();
        if request.items.len() > MAX_ITEMS {
            errors.push("items", format!("must list at most {MAX_ITEMS} items"));
        }
        for (i, item) in request.items.iter().enumerate() {
            item.validate(i, &mut errors);
        }
        if request.travellers.iter().any(|t| t.id.is_some()) {
            errors.push("travellers", "a new booking's travellers have no ids yet");
        }
        errors.into_result()?;

        let id = BookingId::generate_at(ctx.now, self.deps.random.as_ref());
        if let Some(key) = key {
            let record = IdempotencyRecord {
                tenant_id: tenant,
                key,
                operation: CREATE_OPERATION.to_owned(),
                fingerprint: fingerprint(&request.canonical())?,
                resource_id: id.as_uuid(),
                created_at: ctx.now,
            };
            if let Some(first) = claim_or_replay(uow.idempotency(), &record).await? {
                let stored = uow
                    .bookings()
                    .get(tenant, BookingId::from_uuid(first))
                    .await?
                    .filter(|b| ctx.principal.sees_branch(b.branch_id))
                    .ok_or(Error::not_found("booking"))?;
                uow.rollback().await?;
                return Ok(Created {
                    booking: self.open(stored)?,
                    replayed: true,
                });
            }
        }

        let branch = uow
            .branches()
            .get(tenant, request.branch_id)
            .await?
            .ok_or(Error::not_found("branch"))?;
        if !branch.is_open() {
            return Err(Error::conflict("the branch is closed"));
        }
        self.check_client(&mut *uow, ctx, request.client_id).await?;

        let travellers = request
            .travellers
            .into_iter()
            .map(|t| Traveller {
                id: TravellerId::generate_at(ctx.now, self.deps.random.as_ref()),
                name: t.name,
                latin_name: t.latin_name,
                date_of_birth: t.date_of_birth,
                passport: t.passport,
            })
            .collect::<Vec<_>>();
        validate_travellers(&travellers)?;
        // Refuses sums that overflow before anything is written.
        totals_of(&request.items)?;

        for (package, places) in places_by_package(&request.items) {
            uow.catalogue().take_places(tenant, package, places).await?;
        }
        // Last: the counter row stays locked only until the commit below.
        let reference = uow
            .bookings()
            .next_reference(tenant, reference_year(ctx.now))
            .await?;
        let booking = Booking {
            id,
            tenant_id: tenant,
            branch_id: request.branch_id,
            client_id: request.client_id,
            reference,
            status: BookingStatus::Draft,
            travellers,
            items: request.items,
            created_by: ctx.principal.user_id(),
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        };
        let record = self.seal(booking.clone())?;
        uow.bookings().insert(&record).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "booking.created", "booking", Some(id.as_uuid()))
                    .in_branch(booking.branch_id)
                    .with_change(None, Some(booking.audit_view())),
            )
            .await?;
        uow.commit().await?;
        Ok(Created {
            booking,
            replayed: false,
        })
    }

    /// One booking.
    pub async fn get(&self, ctx: &Context, id: BookingId) -> Result<Booking> {
        let (uow, record) = self.load(ctx, id, Action::Read, None).await?;
        uow.rollback().await?;
        self.open(record)
    }

    /// The bookings the caller sees, filtered.
    pub async fn list(
        &self,
        ctx: &Context,
        filter: BookingFilter,
        page: PageRequest,
    ) -> Result<Page<Booking>> {
        let tenant = ctx.principal.tenant_id();
        let mut resource = Resource::new(ResourceKind::Booking, tenant);
        if let Some(branch) = filter.branch_id {
            // An unseen branch filter is refused like an unseen record.
            resource = resource.in_branch(branch);
        }
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow
            .bookings()
            .list(&Scope::of(&ctx.principal), filter, page)
            .await?;
        uow.rollback().await?;
        let items = page
            .items
            .into_iter()
            .map(|r| self.open(r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Moves a booking to `to` if the state machine allows it; with
    /// `expected_version`, only if the booking is still at that version.
    /// Cancelling gives the package places back.
    pub async fn transition(
        &self,
        ctx: &Context,
        id: BookingId,
        to: BookingStatus,
        expected_version: Option<i64>,
    ) -> Result<Booking> {
        let action = if to == BookingStatus::Cancelled {
            Action::Cancel
        } else {
            Action::Update
        };
        let (mut uow, mut record) = self.load(ctx, id, action, None).await?;
        check_version(&record, expected_version)?;
        let from = record.status;
        from.check_transition(to)?;
        if from.holds_places() && !to.holds_places() {
            for (package, places) in record.places_by_package() {
                uow.catalogue()
                    .release_places(record.tenant_id, package, places)
                    .await?;
            }
        }
        record.status = to;
        record.updated_at = ctx.now;
        uow.bookings().update(&mut record).await?;
        // The client hears of a confirmation, and of the cancellation of a
        // booking they were told was confirmed, in the same transaction.
        let confirmed = to == BookingStatus::Confirmed;
        let withdrawn = matches!(from, BookingStatus::Confirmed | BookingStatus::Ticketed)
            && to == BookingStatus::Cancelled;
        if (confirmed || withdrawn)
            && let Some(client) = uow
                .clients()
                .get(record.tenant_id, record.client_id)
                .await?
        {
            let random = self.deps.random.as_ref();
            let message = if confirmed {
                notifications::booking_confirmed(&record, &client, ctx.now, random)?
            } else {
                notifications::booking_cancelled(&record, &client, ctx.now, random)?
            };
            if let Some(message) = message {
                uow.outbox().enqueue(&message).await?;
            }
        }
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, to.audit_action(), "booking", Some(id.as_uuid()))
                    .in_branch(record.branch_id)
                    .with_change(
                        Some(json!({ "status": from })),
                        Some(json!({ "status": to, "reference": record.reference })),
                    ),
            )
            .await?;
        uow.commit().await?;
        self.open(record)
    }

    /// Replaces the whole traveller list of a booking at `version`.
    pub async fn replace_travellers(
        &self,
        ctx: &Context,
        id: BookingId,
        version: i64,
        travellers: Vec<NewTraveller>,
    ) -> Result<Booking> {
        let (mut uow, record) = self.load(ctx, id, Action::Update, None).await?;
        check_version(&record, Some(version))?;
        if matches!(
            record.status,
            BookingStatus::Completed | BookingStatus::Cancelled
        ) {
            return Err(Error::conflict(format!(
                "the travellers of a {} booking cannot change",
                record.status
            )));
        }
        let mut errors = FieldErrors::new();
        let mut new_list = Vec::with_capacity(travellers.len());
        for (i, t) in travellers.into_iter().enumerate() {
            let id = match t.id {
                Some(id) if record.travellers.iter().any(|old| old.id == id) => id,
                Some(_) => {
                    errors.push(
                        format!("travellers[{i}].id"),
                        "is not a traveller of this booking",
                    );
                    continue;
                }
                None => TravellerId::generate_at(ctx.now, self.deps.random.as_ref()),
            };
            new_list.push(Traveller {
                id,
                name: t.name,
                latin_name: t.latin_name,
                date_of_birth: t.date_of_birth,
                passport: t.passport,
            });
        }
        errors.into_result()?;
        validate_travellers(&new_list)?;
        let ticketed = uow
            .tickets()
            .list_for_booking(
                record.tenant_id,
                id,
                PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?,
            )
            .await?;
        if let Some(t) = ticketed
            .items
            .iter()
            .find(|t| !new_list.iter().any(|n| n.id == t.passenger_id))
        {
            return Err(Error::conflict(format!(
                "traveller {} holds ticket {} and cannot be removed",
                t.passenger_id, t.ticket_number
            )));
        }
        let before = self.open(record.clone())?;
        let mut after = before.clone();
        after.travellers = new_list;
        after.updated_at = ctx.now;
        let mut sealed = self.seal(after.clone())?;
        uow.bookings().update(&mut sealed).await?;
        after.version = sealed.version;
        let view = |b: &Booking| {
            b.travellers
                .iter()
                .map(Traveller::audit_view)
                .collect::<Vec<_>>()
        };
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "booking.travellers.replaced",
                    "booking",
                    Some(id.as_uuid()),
                )
                .in_branch(record.branch_id)
                .with_change(
                    Some(json!({ "travellers": view(&before) })),
                    Some(json!({ "travellers": view(&after) })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(after)
    }

    /// Deletes a booking: a draft freely, any other only with a
    /// confirmation; never one with tickets. Its places are given back.
    pub async fn delete(
        &self,
        ctx: &Context,
        id: BookingId,
        confirmation: Option<&PlainToken>,
    ) -> Result<()> {
        let (mut uow, record) = self.load(ctx, id, Action::Delete, confirmation).await?;
        let tenant = record.tenant_id;
        if uow.tickets().count_for_booking(tenant, id).await? > 0 {
            return Err(Error::conflict(
                "the booking has tickets: void or refund them and cancel the booking instead",
            ));
        }
        if record.status.holds_places() {
            for (package, places) in record.places_by_package() {
                uow.catalogue()
                    .release_places(tenant, package, places)
                    .await?;
            }
        }
        // --- files (issue 8) ---
        let blob_keys = crate::service::files::delete_owned_rows(
            &mut *uow,
            ctx,
            crate::ports::FileOwner::Booking(id),
        )
        .await?;
        if !uow.bookings().delete(tenant, id).await? {
            return Err(Error::not_found("booking"));
        }
        let before = self.open(record.clone())?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "booking.deleted", "booking", Some(id.as_uuid()))
                    .in_branch(record.branch_id)
                    .with_change(Some(before.audit_view()), None),
            )
            .await?;
        uow.commit().await?;
        crate::service::files::purge_blobs(self.blobs.as_ref(), &blob_keys).await;
        Ok(())
    }

    /// Loads `id` of the caller's tenant and scope (else `NotFound`), then
    /// authorizes `action` on the record itself (its branch, whether a
    /// draft: deleting a non-draft needs a confirmation).
    pub(crate) async fn load(
        &self,
        ctx: &Context,
        id: BookingId,
        action: Action,
        confirmation: Option<&PlainToken>,
    ) -> Result<(Box<dyn UnitOfWork>, BookingRecord)> {
        load_booking(&self.deps, ctx, id, action, confirmation).await
    }

    /// The client must exist in the caller's tenant and scope: another
    /// tenant's or an unseen branch's client is `NotFound`, like a missing one.
    async fn check_client(
        &self,
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        client: ClientId,
    ) -> Result<()> {
        uow.clients()
            .get(ctx.principal.tenant_id(), client)
            .await?
            .filter(|c| ctx.principal.sees_branch(c.branch_id))
            .map(drop)
            .ok_or(Error::not_found("client"))
    }

    fn seal(&self, booking: Booking) -> Result<BookingRecord> {
        let tenant = booking.tenant_id;
        booking.try_map_travellers(|t| {
            let passport = t
                .passport
                .as_ref()
                .map(|p| {
                    self.keyring.seal(
                        p.expose().as_bytes(),
                        &passport_seal(tenant, t.id),
                        self.deps.random.as_ref(),
                    )
                })
                .transpose()?;
            Ok(StoredTraveller {
                id: t.id,
                name: t.name,
                latin_name: t.latin_name,
                date_of_birth: t.date_of_birth,
                passport,
            })
        })
    }

    fn open(&self, record: BookingRecord) -> Result<Booking> {
        let tenant = record.tenant_id;
        record.try_map_travellers(|t| {
            let passport = t
                .passport
                .as_ref()
                .map(|sealed| {
                    let plain = self
                        .keyring
                        .open_string(sealed, &passport_seal(tenant, t.id))?;
                    PassportNumber::parse(plain.expose())
                        .map_err(|_| Error::internal("a stored passport number is not valid"))
                })
                .transpose()?;
            Ok(Traveller {
                id: t.id,
                name: t.name,
                latin_name: t.latin_name,
                date_of_birth: t.date_of_birth,
                passport,
            })
        })
    }
}

/// Where a traveller's passport number is sealed.
fn passport_seal(tenant: crate::id::TenantId, traveller: TravellerId) -> SealContext<'static> {
    SealContext {
        tenant_id: tenant,
        table: "bookings.travellers",
        row: traveller.as_uuid(),
        field: "passport_number",
    }
}

/// The per-currency totals of `items` (to refuse overflowing sums early).
fn totals_of(items: &[BookingItem]) -> Result<()> {
    let mut by: std::collections::BTreeMap<crate::money::Currency, (i64, i64)> =
        std::collections::BTreeMap::new();
    for item in items {
        for (money, sell) in [(item.sell_price, true), (item.supplier_cost, false)] {
            let entry = by.entry(money.currency()).or_insert((0, 0));
            let slot = if sell { &mut entry.0 } else { &mut entry.1 };
            *slot = slot
                .checked_add(money.minor_units())
                .ok_or_else(|| Error::invalid("items", "the totals are too large"))?;
        }
    }
    Ok(())
}

fn check_version(record: &BookingRecord, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != record.version => Err(Error::conflict(format!(
            "the booking was changed by someone else (version {} now, {v} given); reload and retry",
            record.version
        ))),
        _ => Ok(()),
    }
}

/// See [`Bookings::load`]; shared with the tickets service.
///
/// The policy decides on the record as stored (its branch, whether it is a
/// draft), in the policy's own order: another tenant's or an unseen
/// branch's booking is `NotFound` for every role — exactly like a missing
/// one — and only then do the role's grants apply (`Forbidden`).
pub(crate) async fn load_booking(
    deps: &Deps,
    ctx: &Context,
    id: BookingId,
    action: Action,
    confirmation: Option<&PlainToken>,
) -> Result<(Box<dyn UnitOfWork>, BookingRecord)> {
    let tenant = ctx.principal.tenant_id();
    let mut uow = deps.store.begin().await?;
    let record = uow
        .bookings()
        .get(tenant, id)
        .await?
        .filter(|b| ctx.principal.sees_branch(b.branch_id))
        .ok_or(Error::not_found("booking"))?;
    let mut resource = Resource::new(ResourceKind::Booking, tenant)
        .with_id(id)
        .in_branch(record.branch_id);
    if record.status == BookingStatus::Draft {
        resource = resource.draft();
    }
    let uow = authorize(uow, deps, ctx, action, &resource, confirmation).await?;
    Ok((uow, record))
}
