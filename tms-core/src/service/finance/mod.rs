//! Finance (issue 7): exchange rates, draft and issued invoices, payments
//! (with an idempotency key) and refunds, each posting its balanced ledger
//! journal in the unit of work that records it.
//!
//! The rules this service keeps:
//!
//! - **Authorization first.** Finance holds R, C, U on financial records;
//!   an Admin reads only (the policy's fixed deny rule); Sales and Umrah
//!   hold nothing. A record of another tenant or of a branch outside the
//!   caller's scope is `NotFound`.
//! - **Numbering.** Issuing takes the series' next number inside its unit
//!   of work, last, just before the commit: concurrent issuers queue on the
//!   counter row and a failed issue gives the number back, so numbers run
//!   gap-free per tenant and series.
//! - **Immutability.** Only drafts change; an issued invoice changes only by
//!   payments, refunds and credit notes (numbered gap-free in series `CN`,
//!   never beyond the open amount: refund a paid part first).
//! - **Idempotency.** A payment with a key is recorded once: a retry
//!   returns the first (`replayed`), concurrent identical requests record
//!   one payment, the same key with another request is `Invalid`.
//! - **Allocation** never beyond an invoice's open amount, only to live
//!   invoices of the same client and currency that the caller sees.
//! - **Refunds** are critical (confirmation), never above what was paid net
//!   of earlier refunds; concurrent refunds of one payment cannot both pass.
//! - **Void** is critical (confirmation), for issued invoices with no
//!   payment left allocated and no credit note; it reverses the issue
//!   journal and keeps the number used.
//! - **Ledger.** Every event posts a journal that balances per currency, in
//!   the same unit as the event and its audit record.

mod lists;
mod payables;
mod reports;

pub use lists::{ClientBalance, Receivable};
pub use payables::{NewSupplierPayment, RecordedSupplierPayment, SUPPLIER_PAYMENT_OPERATION};
pub use reports::{Report, ReportKind, ReportRequest};

use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::Context;
use crate::domain::finance::{
    Allocation, Conversion, CreditNote, ExchangeRate, Invoice, InvoiceLine, InvoiceSeries, Payment,
    PaymentMethod, Rate, Refund, TaxRate, credit_journal, issue_journal, payment_journal,
    refund_journal, void_journal,
};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{
    BookingId, BranchId, ClientId, CreditNoteId, ExchangeRateId, InvoiceId, JournalId, PaymentId,
    RefundId,
};
use crate::money::{Currency, Money};
use crate::policy::{self, Action, Decision, Resource, ResourceKind};
use crate::ports::{
    IdempotencyKey, IdempotencyRecord, Journal, UnitOfWork, claim_or_replay, fingerprint,
};
use crate::security::token::PlainToken;
use crate::service::bookings::authorize;
use crate::service::notifications;
use crate::service::tenancy::Deps;

/// The operation name of payment recording in the idempotency table.
pub const PAYMENT_OPERATION: &str = "payment.record";

/// A draft invoice as a form gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewInvoice {
    /// The billing branch.
    pub branch_id: BranchId,
    /// Who is billed.
    pub client_id: ClientId,
    /// The booking billed, if any (it must be the client's).
    pub booking_id: Option<BookingId>,
    /// The invoice currency.
    pub currency: Currency,
    /// The number series; `INV` when absent.
    pub series: Option<String>,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
}

/// A payment as a form gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewPayment {
    /// The receiving branch.
    pub branch_id: BranchId,
    /// Who paid.
    pub client_id: ClientId,
    /// How much.
    pub amount: Money,
    /// How.
    pub method: PaymentMethod,
    /// The bank's or terminal's reference.
    pub reference: Option<String>,
    /// Where it goes: (invoice, amount), in order.
    pub allocations: Vec<NewAllocation>,
}

/// One allocation of a [`NewPayment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewAllocation {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// How much of the payment goes to it.
    pub amount: Money,
}

/// A recorded payment and whether an earlier request recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPayment {
    /// The payment.
    pub payment: Payment,
    /// `true` when a request with the same key recorded it before.
    pub replayed: bool,
}

/// A new exchange rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExchangeRate {
    /// From.
    pub base: Currency,
    /// To.
    pub quote: Currency,
    /// Quote per base, as an exact decimal (`"74.2512"`).
    pub rate: String,
    /// The day it applies to.
    pub effective_on: chrono::NaiveDate,
    /// Where it came from.
    pub source: String,
}

/// The finance service.
#[derive(Debug, Clone)]
pub struct Finance {
    deps: Deps,
}

fn invoice_view(invoice: &Invoice) -> serde_json::Value {
    json!({
        "number": invoice.number().map(|n| n.to_string()),
        "status": invoice.status.as_str(),
        "client_id": invoice.client_id,
        "booking_id": invoice.booking_id,
        "net": invoice.net,
        "tax": invoice.tax,
        "total": invoice.total,
        "paid": invoice.paid,
        "refunded": invoice.refunded,
        "credited": invoice.credited,
        "lines": invoice.lines.len(),
        "version": invoice.version,
    })
}

fn journal(
    ctx: &Context,
    deps: &Deps,
    branch: BranchId,
    event: &str,
    source: uuid::Uuid,
    lines: Vec<crate::domain::finance::LedgerLine>,
) -> Journal {
    Journal {
        id: JournalId::generate_at(ctx.now, deps.random.as_ref()),
        tenant_id: ctx.principal.tenant_id(),
        branch_id: branch,
        event: event.to_owned(),
        source_id: source,
        posted_at: ctx.now,
        lines,
    }
}

impl Finance {
    /// The service over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// Enters an exchange rate (tenant-level; Finance and the owner).
    pub async fn add_exchange_rate(
        &self,
        ctx: &Context,
        request: NewExchangeRate,
    ) -> Result<ExchangeRate> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::LedgerEntry, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let rate = ExchangeRate {
            id: ExchangeRateId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: tenant,
            base: request.base,
            quote: request.quote,
            rate: Rate::parse(&request.rate)?,
            effective_on: request.effective_on,
            source: request.source.trim().to_owned(),
            created_at: ctx.now,
        };
        rate.validate()?;
        uow.finance().insert_exchange_rate(&rate).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "exchange_rate.created",
                    "exchange rate",
                    Some(rate.id.as_uuid()),
                )
                .with_change(
                    None,
                    Some(json!({
                        "base": rate.base, "quote": rate.quote,
                        "rate": rate.rate.to_string(),
                        "effective_on": rate.effective_on, "source": rate.source,
                    })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(rate)
    }

    /// Converts `amount` to `quote` with the rate in force on `on`; the
    /// result names the rate used. `NotFound` when no rate is entered.
    pub async fn convert(
        &self,
        ctx: &Context,
        amount: Money,
        quote: Currency,
        on: chrono::NaiveDate,
    ) -> Result<Conversion> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::LedgerEntry, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let rate = uow
            .finance()
            .exchange_rate_on(tenant, amount.currency(), quote, on)
            .await?
            .ok_or(Error::not_found("exchange rate"))?;
        uow.rollback().await?;
        rate.convert(amount)
    }

    /// Creates a draft invoice.
    pub async fn create_draft(&self, ctx: &Context, request: NewInvoice) -> Result<Invoice> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Invoice, tenant).in_branch(request.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let series = match &request.series {
            Some(s) => InvoiceSeries::parse(s)?,
            None => InvoiceSeries::invoices(),
        };
        let client = uow
            .clients()
            .get(tenant, request.client_id)
            .await?
            .filter(|c| ctx.principal.sees_branch(c.branch_id))
            .ok_or(Error::not_found("client"))?;
        if let Some(booking) = request.booking_id {
            uow.bookings()
                .get(tenant, booking)
                .await?
                .filter(|b| ctx.principal.sees_branch(b.branch_id) && b.client_id == client.id)
                .ok_or(Error::not_found("booking"))?;
        }
        let branch = uow
            .branches()
            .get(tenant, request.branch_id)
            .await?
            .ok_or(Error::not_found("branch"))?;
        if !branch.is_open() {
            return Err(Error::conflict("the branch is closed"));
        }
        let mut lines = request.lines;
        // A line naming a tenant tax rate is billed at that rate; the line
        // keeps both, so a later table change never alters the invoice.
        let mut errors = FieldErrors::new();
        for (i, line) in lines.iter_mut().enumerate() {
            let Some(code) = line.tax_code.as_deref() else {
                continue;
            };
            match uow.finance().tax_rate(tenant, code).await? {
                Some(rate) => line.tax_rate = rate.rate,
                None => errors.push(
                    format!("lines[{i}].tax_code"),
                    "is not one of the tenant's tax rates",
                ),
            }
        }
        errors.into_result()?;
        let invoice = Invoice::draft(
            InvoiceId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant,
            request.branch_id,
            request.client_id,
            request.booking_id,
            series,
            request.currency,
            lines,
            ctx.now,
        )?;
        uow.finance().insert_invoice(&invoice).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "invoice.created",
                    "invoice",
                    Some(invoice.id.as_uuid()),
                )
                .in_branch(invoice.branch_id)
                .with_change(None, Some(invoice_view(&invoice))),
            )
            .await?;
        uow.commit().await?;
        Ok(invoice)
    }

    /// The invoice with this id.
    pub async fn get_invoice(&self, ctx: &Context, id: InvoiceId) -> Result<Invoice> {
        let mut uow = self.deps.store.begin().await?;
        let invoice = self.load_invoice(&mut *uow, ctx, id).await?;
        let resource =
            Resource::new(ResourceKind::Invoice, invoice.tenant_id).in_branch(invoice.branch_id);
        let uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        uow.rollback().await?;
        Ok(invoice)
    }

    /// Issues a draft: assigns its number and posts its journal.
    pub async fn issue(&self, ctx: &Context, id: InvoiceId) -> Result<Invoice> {
        let mut uow = self.deps.store.begin().await?;
        let mut invoice = self.load_invoice(&mut *uow, ctx, id).await?;
        let resource =
            Resource::new(ResourceKind::Invoice, invoice.tenant_id).in_branch(invoice.branch_id);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let before = invoice_view(&invoice);
        // Checks the state before a number is taken (no gap on refusal).
        invoice.issue(0, ctx.now)?;
        // Last: the counter row stays locked only until the commit below.
        let number = uow
            .finance()
            .next_invoice_number(invoice.tenant_id, &invoice.series)
            .await?;
        invoice.number = Some(number);
        uow.finance().update_invoice(&mut invoice).await?;
        let lines = issue_journal(&invoice)?;
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                invoice.branch_id,
                "invoice.issued",
                id.as_uuid(),
                lines,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "invoice.issued", "invoice", Some(id.as_uuid()))
                    .in_branch(invoice.branch_id)
                    .with_change(Some(before), Some(invoice_view(&invoice))),
            )
            .await?;
        uow.commit().await?;
        Ok(invoice)
    }

    /// Voids an issued invoice: its number stays used, its issue journal is
    /// reversed. Critical: the first call returns `ConfirmationRequired`
    /// with a token; the call repeated with it acts. `Conflict` while a
    /// payment stays allocated to it (refund or unallocate first) or a
    /// credit note references it.
    pub async fn void(
        &self,
        ctx: &Context,
        id: InvoiceId,
        confirmation: Option<&PlainToken>,
    ) -> Result<Invoice> {
        let mut uow = self.deps.store.begin().await?;
        let mut invoice = self.load_invoice(&mut *uow, ctx, id).await?;
        let resource = Resource::new(ResourceKind::Invoice, invoice.tenant_id)
            .in_branch(invoice.branch_id)
            .with_id(id.as_uuid());
        // A refusal first, then the state, then the confirmation: a token
        // for an invoice that cannot be voided would only mislead.
        if let Decision::Deny(reason) = policy::authorize(&ctx.principal, Action::Void, &resource) {
            return Err(reason.into_error(resource.kind));
        }
        invoice.clone().void(ctx.now)?;
        let mut uow =
            authorize(uow, &self.deps, ctx, Action::Void, &resource, confirmation).await?;
        let before = invoice_view(&invoice);
        invoice.void(ctx.now)?;
        uow.finance().update_invoice(&mut invoice).await?;
        let lines = void_journal(&invoice)?;
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                invoice.branch_id,
                "invoice.voided",
                id.as_uuid(),
                lines,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "invoice.voided", "invoice", Some(id.as_uuid()))
                    .in_branch(invoice.branch_id)
                    .with_change(Some(before), Some(invoice_view(&invoice))),
            )
            .await?;
        uow.commit().await?;
        Ok(invoice)
    }

    /// Issues a credit note of `net` (+ tax at `tax_rate`, half-up) against
    /// a live invoice, lowering its open amount.
    pub async fn credit(
        &self,
        ctx: &Context,
        invoice_id: InvoiceId,
        net: Money,
        tax_rate: TaxRate,
        reason: &str,
    ) -> Result<CreditNote> {
        let mut uow = self.deps.store.begin().await?;
        let mut invoice = self.load_invoice(&mut *uow, ctx, invoice_id).await?;
        let resource =
            Resource::new(ResourceKind::Invoice, invoice.tenant_id).in_branch(invoice.branch_id);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let reason = reason.trim();
        let len = reason.chars().count();
        if len == 0 || len > 500 {
            return Err(Error::invalid("reason", "must be 1 to 500 characters"));
        }
        if net.currency() != invoice.currency || net.is_negative() || net.is_zero() {
            return Err(Error::invalid(
                "net",
                "must be a positive amount in the invoice's currency",
            ));
        }
        let before = invoice_view(&invoice);
        let tax = tax_rate.tax_on(net)?;
        invoice.credit(net.checked_add(tax)?, ctx.now)?;
        let series = InvoiceSeries::credit_notes();
        // Last: the counter row stays locked only until the commit below.
        let number = uow
            .finance()
            .next_invoice_number(invoice.tenant_id, &series)
            .await?;
        let note = CreditNote {
            id: CreditNoteId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: invoice.tenant_id,
            branch_id: invoice.branch_id,
            invoice_id,
            series,
            number,
            net,
            tax,
            reason: reason.to_owned(),
            created_at: ctx.now,
        };
        uow.finance().update_invoice(&mut invoice).await?;
        uow.finance().insert_credit_note(&note).await?;
        let lines = credit_journal(&note)?;
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                note.branch_id,
                "credit_note.issued",
                note.id.as_uuid(),
                lines,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "credit_note.issued",
                    "invoice",
                    Some(invoice_id.as_uuid()),
                )
                .in_branch(invoice.branch_id)
                .with_change(Some(before), Some(invoice_view(&invoice))),
            )
            .await?;
        uow.commit().await?;
        Ok(note)
    }

    /// Records a payment and its allocations; with `key`, at most once.
    pub async fn record_payment(
        &self,
        ctx: &Context,
        request: NewPayment,
        key: Option<IdempotencyKey>,
    ) -> Result<RecordedPayment> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Payment, tenant).in_branch(request.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;

        let id = PaymentId::generate_at(ctx.now, self.deps.random.as_ref());
        if let Some(key) = key {
            let record = IdempotencyRecord {
                tenant_id: tenant,
                key,
                operation: PAYMENT_OPERATION.to_owned(),
                fingerprint: fingerprint(&request)?,
                resource_id: id.as_uuid(),
                created_at: ctx.now,
            };
            if let Some(first) = claim_or_replay(uow.idempotency(), &record).await? {
                let stored = uow
                    .finance()
                    .get_payment(tenant, PaymentId::from_uuid(first))
                    .await?
                    .filter(|p| ctx.principal.sees_branch(p.branch_id))
                    .ok_or(Error::not_found("payment"))?;
                uow.rollback().await?;
                return Ok(RecordedPayment {
                    payment: stored,
                    replayed: true,
                });
            }
        }

        let client = uow
            .clients()
            .get(tenant, request.client_id)
            .await?
            .filter(|c| ctx.principal.sees_branch(c.branch_id))
            .ok_or(Error::not_found("client"))?;
        let payment = Payment {
            id,
            tenant_id: tenant,
            branch_id: request.branch_id,
            client_id: request.client_id,
            amount: request.amount,
            method: request.method,
            reference: request
                .reference
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
            received_at: ctx.now,
            allocations: request
                .allocations
                .iter()
                .map(|a| Allocation {
                    invoice_id: a.invoice_id,
                    amount: a.amount,
                })
                .collect(),
            refunded: Money::zero(request.amount.currency()),
            created_at: ctx.now,
        };
        payment.validate()?;
        let mut paid = Vec::with_capacity(payment.allocations.len());
        for a in &payment.allocations {
            let mut invoice = self.load_invoice(&mut *uow, ctx, a.invoice_id).await?;
            let mut errors = FieldErrors::new();
            if invoice.client_id != payment.client_id {
                errors.push("allocations", "an invoice is not this client's");
            }
            if invoice.currency != payment.amount.currency() {
                errors.push(
                    "allocations",
                    "an invoice is in another currency; convert the payment first",
                );
            }
            errors.into_result()?;
            invoice.allocate(a.amount, ctx.now)?;
            uow.finance().update_invoice(&mut invoice).await?;
            paid.push(invoice);
        }
        uow.finance().insert_payment(&payment).await?;
        if let Some(receipt) = notifications::payment_receipt(
            &payment,
            &paid,
            &client,
            ctx.now,
            self.deps.random.as_ref(),
        )? {
            uow.outbox().enqueue(&receipt).await?;
        }
        let lines = payment_journal(&payment)?;
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                payment.branch_id,
                "payment.recorded",
                id.as_uuid(),
                lines,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "payment.recorded", "payment", Some(id.as_uuid()))
                    .in_branch(payment.branch_id)
                    .with_change(
                        None,
                        Some(json!({
                            "client_id": payment.client_id,
                            "amount": payment.amount,
                            "method": payment.method,
                            "allocations": payment.allocations.iter()
                                .map(|a| json!({"invoice_id": a.invoice_id, "amount": a.amount}))
                                .collect::<Vec<_>>(),
                        })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(RecordedPayment {
            payment,
            replayed: false,
        })
    }

    /// The payment with this id.
    pub async fn get_payment(&self, ctx: &Context, id: PaymentId) -> Result<Payment> {
        let mut uow = self.deps.store.begin().await?;
        let payment = self.load_payment(&mut *uow, ctx, id).await?;
        let resource =
            Resource::new(ResourceKind::Payment, payment.tenant_id).in_branch(payment.branch_id);
        let uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        uow.rollback().await?;
        Ok(payment)
    }

    /// Refunds part or all of a payment. Critical: the first call returns
    /// `ConfirmationRequired` with a token; the call repeated with it acts.
    pub async fn refund(
        &self,
        ctx: &Context,
        payment_id: PaymentId,
        amount: Money,
        reason: &str,
        confirmation: Option<&PlainToken>,
    ) -> Result<Refund> {
        let mut uow = self.deps.store.begin().await?;
        let payment = self.load_payment(&mut *uow, ctx, payment_id).await?;
        // The id binds a confirmation to this payment: a token for one
        // refund never confirms another payment's.
        let resource = Resource::new(ResourceKind::Refund, payment.tenant_id)
            .in_branch(payment.branch_id)
            .with_id(payment_id.as_uuid());
        let mut uow = authorize(
            uow,
            &self.deps,
            ctx,
            Action::Create,
            &resource,
            confirmation,
        )
        .await?;
        let reason = reason.trim();
        let len = reason.chars().count();
        if len == 0 || len > 500 {
            return Err(Error::invalid("reason", "must be 1 to 500 characters"));
        }
        let split = payment.split_refund(amount)?;
        for a in &split.invoices {
            let mut invoice = uow
                .finance()
                .get_invoice(payment.tenant_id, a.invoice_id)
                .await?
                .ok_or_else(|| Error::internal("an allocated invoice is missing"))?;
            invoice.unallocate(a.amount, ctx.now)?;
            uow.finance().update_invoice(&mut invoice).await?;
        }
        let refund = Refund {
            id: RefundId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: payment.tenant_id,
            branch_id: payment.branch_id,
            payment_id,
            amount,
            reason: reason.to_owned(),
            created_at: ctx.now,
        };
        uow.finance()
            .insert_refund(&refund, payment.refunded)
            .await?;
        let lines = refund_journal(&refund, &split)?;
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                refund.branch_id,
                "refund.recorded",
                refund.id.as_uuid(),
                lines,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "refund.recorded", "refund", Some(refund.id.as_uuid()))
                    .in_branch(refund.branch_id)
                    .with_change(
                        Some(json!({ "payment_id": payment_id, "refunded": payment.refunded })),
                        Some(json!({
                            "payment_id": payment_id,
                            "amount": amount,
                            "refunded": payment.refunded.checked_add(amount)?,
                            "reason": refund.reason,
                        })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(refund)
    }

    /// An invoice the caller sees, or `NotFound` (never telling another
    /// tenant's or branch's invoice from a missing one).
    async fn load_invoice(
        &self,
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        id: InvoiceId,
    ) -> Result<Invoice> {
        uow.finance()
            .get_invoice(ctx.principal.tenant_id(), id)
            .await?
            .filter(|i| ctx.principal.sees_branch(i.branch_id))
            .ok_or(Error::not_found("invoice"))
    }

    async fn load_payment(
        &self,
        uow: &mut dyn UnitOfWork,
        ctx: &Context,
        id: PaymentId,
    ) -> Result<Payment> {
        uow.finance()
            .get_payment(ctx.principal.tenant_id(), id)
            .await?
            .filter(|p| ctx.principal.sees_branch(p.branch_id))
            .ok_or(Error::not_found("payment"))
    }
}
