//! Airline tickets on bookings: issue, list, reissue, refund, void.
//!
//! A ticket lives in its booking's branch: the caller must see the booking
//! (else `NotFound`). Tickets are issued on a `confirmed` or `ticketed`
//! booking, to one of its travellers. A reissue records a new ticket that
//! links to the one it replaces, which becomes `reissued`; voiding needs the
//! Cancel right (Sales has it). Every change is audited (`ticket.issued`,
//! `ticket.reissued`, `ticket.refunded`, `ticket.voided`).

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{
    AirlineCode, BookingStatus, Context, Pnr, Segment, Ticket, TicketNumber, TicketStatus,
    validate_segments,
};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BookingId, TicketId, TravellerId};
use crate::money::Money;
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{Page, PageRequest, UnitOfWork};
use crate::service::bookings::{authorize, load_booking};
use crate::service::tenancy::Deps;

/// A ticket to record.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// Record locator.
    pub pnr: Pnr,
    /// Validating airline.
    pub airline: AirlineCode,
    /// The 13-digit number, unique per tenant.
    pub ticket_number: TicketNumber,
    /// A traveller of the booking.
    pub passenger_id: TravellerId,
    /// The flights, in order.
    pub segments: Vec<Segment>,
    /// Base fare.
    pub fare: Money,
    /// Taxes and fees.
    pub taxes: Money,
}

impl NewTicket {
    fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.fare.minor_units() < 0 {
            errors.push("fare", "must not be negative");
        }
        if self.taxes.minor_units() < 0 {
            errors.push("taxes", "must not be negative");
        }
        errors.into_result()?;
        validate_segments(&self.segments)
    }
}

/// The tickets service.
#[derive(Debug, Clone)]
pub struct Tickets {
    deps: Deps,
}

impl Tickets {
    /// The service over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// Records an issued ticket on a booking.
    pub async fn issue(
        &self,
        ctx: &Context,
        booking_id: BookingId,
        request: NewTicket,
    ) -> Result<Ticket> {
        let (uow, booking) = load_booking(&self.deps, ctx, booking_id, Action::Read, None).await?;
        let resource =
            Resource::new(ResourceKind::Ticket, booking.tenant_id).in_branch(booking.branch_id);
        let mut uow = authorize_on(uow, &self.deps, ctx, Action::Create, &resource).await?;
        request.validate()?;
        if !matches!(
            booking.status,
            BookingStatus::Confirmed | BookingStatus::Ticketed
        ) {
            return Err(Error::conflict(format!(
                "tickets are issued on confirmed bookings; this one is {}",
                booking.status
            )));
        }
        if !booking
            .travellers
            .iter()
            .any(|t| t.id == request.passenger_id)
        {
            return Err(Error::invalid(
                "passenger_id",
                "is not a traveller of this booking",
            ));
        }
        let ticket = Ticket {
            id: TicketId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: booking.tenant_id,
            booking_id,
            branch_id: booking.branch_id,
            pnr: request.pnr,
            airline: request.airline,
            ticket_number: request.ticket_number,
            passenger_id: request.passenger_id,
            segments: request.segments,
            fare: request.fare,
            taxes: request.taxes,
            status: TicketStatus::Issued,
            replaces: None,
            created_at: ctx.now,
            version: 1,
        };
        uow.tickets().insert(&ticket).await?;
        audit(&mut *uow, ctx, "ticket.issued", &ticket, None).await?;
        uow.commit().await?;
        Ok(ticket)
    }

    /// The tickets of a booking.
    pub async fn list(
        &self,
        ctx: &Context,
        booking_id: BookingId,
        page: PageRequest,
    ) -> Result<Page<Ticket>> {
        let (uow, booking) = load_booking(&self.deps, ctx, booking_id, Action::Read, None).await?;
        let resource =
            Resource::new(ResourceKind::Ticket, booking.tenant_id).in_branch(booking.branch_id);
        let mut uow = authorize_on(uow, &self.deps, ctx, Action::Read, &resource).await?;
        let page = uow
            .tickets()
            .list_for_booking(booking.tenant_id, booking_id, page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// One ticket.
    pub async fn get(&self, ctx: &Context, id: TicketId) -> Result<Ticket> {
        let (uow, ticket) = self.load(ctx, id, Action::Read).await?;
        uow.rollback().await?;
        Ok(ticket)
    }

    /// Replaces an issued ticket by a new one (new number, possibly new
    /// flights and fare) for the same passenger; the old one becomes
    /// `reissued` and the new one links to it.
    pub async fn reissue(&self, ctx: &Context, id: TicketId, request: NewTicket) -> Result<Ticket> {
        let (mut uow, old) = self.load(ctx, id, Action::Create).await?;
        request.validate()?;
        old.status.check_issued("reissued")?;
        if request.passenger_id != old.passenger_id {
            return Err(Error::invalid(
                "passenger_id",
                "a reissue is for the same passenger",
            ));
        }
        let mut replaced = old.clone();
        replaced.status = TicketStatus::Reissued;
        uow.tickets().update(&mut replaced).await?;
        let ticket = Ticket {
            id: TicketId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: old.tenant_id,
            booking_id: old.booking_id,
            branch_id: old.branch_id,
            pnr: request.pnr,
            airline: request.airline,
            ticket_number: request.ticket_number,
            passenger_id: old.passenger_id,
            segments: request.segments,
            fare: request.fare,
            taxes: request.taxes,
            status: TicketStatus::Issued,
            replaces: Some(old.id),
            created_at: ctx.now,
            version: 1,
        };
        uow.tickets().insert(&ticket).await?;
        audit(&mut *uow, ctx, "ticket.reissued", &replaced, Some(&old)).await?;
        audit(&mut *uow, ctx, "ticket.issued", &ticket, None).await?;
        uow.commit().await?;
        Ok(ticket)
    }

    /// Voids an issued ticket (the Cancel right).
    pub async fn void(&self, ctx: &Context, id: TicketId) -> Result<Ticket> {
        self.set_status(ctx, id, Action::Cancel, TicketStatus::Void, "ticket.voided")
            .await
    }

    /// Marks an issued ticket refunded (the money side is finance's).
    pub async fn refund(&self, ctx: &Context, id: TicketId) -> Result<Ticket> {
        self.set_status(
            ctx,
            id,
            Action::Update,
            TicketStatus::Refunded,
            "ticket.refunded",
        )
        .await
    }

    async fn set_status(
        &self,
        ctx: &Context,
        id: TicketId,
        action: Action,
        to: TicketStatus,
        audit_action: &str,
    ) -> Result<Ticket> {
        let (mut uow, old) = self.load(ctx, id, action).await?;
        let doing = match to {
            TicketStatus::Void => "voided",
            _ => "refunded",
        };
        old.status.check_issued(doing)?;
        let mut ticket = old.clone();
        ticket.status = to;
        uow.tickets().update(&mut ticket).await?;
        audit(&mut *uow, ctx, audit_action, &ticket, Some(&old)).await?;
        uow.commit().await?;
        Ok(ticket)
    }

    /// Authorizes `action` on tickets, loads the ticket of the caller's
    /// tenant and scope (else `NotFound`), then authorizes on its branch.
    async fn load(
        &self,
        ctx: &Context,
        id: TicketId,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, Ticket)> {
        let tenant = ctx.principal.tenant_id();
        let kind = Resource::new(ResourceKind::Ticket, tenant).with_id(id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, action, &kind, None).await?;
        let ticket = uow
            .tickets()
            .get(tenant, id)
            .await?
            .filter(|t| ctx.principal.sees_branch(t.branch_id))
            .ok_or(Error::not_found("ticket"))?;
        let resource = kind.in_branch(ticket.branch_id);
        let uow = authorize_on(uow, &self.deps, ctx, action, &resource).await?;
        Ok((uow, ticket))
    }
}

async fn authorize_on(
    uow: Box<dyn UnitOfWork>,
    deps: &Deps,
    ctx: &Context,
    action: Action,
    resource: &Resource,
) -> Result<Box<dyn UnitOfWork>> {
    authorize(uow, deps, ctx, action, resource, None).await
}

async fn audit(
    uow: &mut dyn UnitOfWork,
    ctx: &Context,
    action: &str,
    ticket: &Ticket,
    before: Option<&Ticket>,
) -> Result<()> {
    uow.audit()
        .append(
            NewAuditEvent::new(ctx, action, "ticket", Some(ticket.id.as_uuid()))
                .in_branch(ticket.branch_id)
                .with_change(
                    before.map(|b| json!({ "status": b.status })),
                    Some(ticket.audit_view()),
                ),
        )
        .await
        .map(drop)
}
