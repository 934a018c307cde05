//! Supplier payables (issue 7): what the agency owes suppliers for the cost
//! side of booking items, and its payments to them.
//!
//! - [`Finance::record_payables`] records one payable per item of a
//!   confirmed (or ticketed, completed) booking that names a supplier and
//!   costs something; items recorded before are skipped, so calling it
//!   again after items change records only the new ones. The journal debits
//!   supplier costs and credits supplier payables.
//! - [`Finance::pay_supplier`] is Finance's (and the owner's) only: Create
//!   on payments, which the policy refuses Admins, Sales and Umrah. With an
//!   `Idempotency-Key` it records at most one payment; the allocations must
//!   add up to the amount, all to open payables of that supplier in that
//!   currency the caller sees. Audited, with its journal in the same unit.

use serde_json::json;

use super::{Finance, journal};
use crate::audit::NewAuditEvent;
use crate::domain::BookingStatus;
use crate::domain::Context;
use crate::domain::finance::{
    Payable, PayableAllocation, PaymentMethod, SupplierPayment, payable_journal,
    supplier_payment_journal,
};
use crate::error::{Error, Result};
use crate::id::{BookingId, BranchId, PayableId, SupplierPaymentId};
use crate::money::Money;
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{
    IdempotencyKey, IdempotencyRecord, Page, PageRequest, PayableFilter, Scope, claim_or_replay,
    fingerprint,
};
use crate::service::bookings::authorize;

/// The operation name of supplier payments in the idempotency table.
pub const SUPPLIER_PAYMENT_OPERATION: &str = "supplier_payment.record";

/// A payment to a supplier as a form gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewSupplierPayment {
    /// The paying branch.
    pub branch_id: BranchId,
    /// Who is paid (the name the booking items give).
    pub supplier: String,
    /// How much.
    pub amount: Money,
    /// How.
    pub method: PaymentMethod,
    /// The bank's reference.
    pub reference: Option<String>,
    /// The payables settled: (payable, amount); they add up to `amount`.
    pub allocations: Vec<(PayableId, Money)>,
}

/// A recorded supplier payment and whether an earlier request recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSupplierPayment {
    /// The payment.
    pub payment: SupplierPayment,
    /// `true` when a request with the same key recorded it before.
    pub replayed: bool,
}

impl Finance {
    /// Records what the agency owes suppliers for `booking`'s items; returns
    /// the payables recorded now (none when every item has one).
    pub async fn record_payables(&self, ctx: &Context, booking: BookingId) -> Result<Vec<Payable>> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let record = uow
            .bookings()
            .get(tenant, booking)
            .await?
            .filter(|b| ctx.principal.sees_branch(b.branch_id))
            .ok_or(Error::not_found("booking"))?;
        let resource = Resource::new(ResourceKind::LedgerEntry, tenant).in_branch(record.branch_id);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        if !matches!(
            record.status,
            BookingStatus::Confirmed | BookingStatus::Ticketed | BookingStatus::Completed
        ) {
            return Err(Error::conflict(format!(
                "the booking is {}: suppliers are owed once it is confirmed",
                record.status.as_str()
            )));
        }
        let known: std::collections::BTreeSet<u32> = uow
            .finance()
            .payables_of_booking(tenant, booking)
            .await?
            .iter()
            .map(|p| p.item)
            .collect();
        let mut new = Vec::new();
        for (i, item) in record.items.iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| Error::internal("too many items"))?;
            let Some(supplier) = item.supplier_name.as_deref() else {
                continue; // no supplier named: nobody to owe
            };
            if known.contains(&index) || item.supplier_cost.is_zero() {
                continue;
            }
            new.push(Payable {
                id: PayableId::generate_at(ctx.now, self.deps.random.as_ref()),
                tenant_id: tenant,
                branch_id: record.branch_id,
                booking_id: booking,
                item: index,
                supplier: supplier.trim().to_owned(),
                description: item.description.clone(),
                amount: item.supplier_cost,
                paid: Money::zero(item.supplier_cost.currency()),
                created_at: ctx.now,
                version: 1,
            });
        }
        if new.is_empty() {
            uow.rollback().await?;
            return Ok(new);
        }
        for p in &new {
            uow.finance().insert_payable(p).await?;
        }
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                record.branch_id,
                "payables.recorded",
                booking.as_uuid(),
                payable_journal(&new)?,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "payables.recorded", "booking", Some(booking.as_uuid()))
                    .in_branch(record.branch_id)
                    .with_change(
                        None,
                        Some(json!(
                            new.iter()
                                .map(|p| json!({
                                    "payable_id": p.id, "item": p.item,
                                    "supplier": p.supplier, "amount": p.amount,
                                }))
                                .collect::<Vec<_>>()
                        )),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(new)
    }

    /// The payables the caller sees that pass `filter`.
    pub async fn list_payables(
        &self,
        ctx: &Context,
        filter: PayableFilter,
        page: PageRequest,
    ) -> Result<Page<Payable>> {
        let resource =
            super::lists::list_resource(ctx, ResourceKind::LedgerEntry, filter.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let page = uow
            .finance()
            .list_payables(&Scope::of(&ctx.principal), &filter, page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// Records a payment to a supplier; with `key`, at most once.
    pub async fn pay_supplier(
        &self,
        ctx: &Context,
        request: NewSupplierPayment,
        key: Option<IdempotencyKey>,
    ) -> Result<RecordedSupplierPayment> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Payment, tenant).in_branch(request.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let id = SupplierPaymentId::generate_at(ctx.now, self.deps.random.as_ref());
        if let Some(key) = key {
            let record = IdempotencyRecord {
                tenant_id: tenant,
                key,
                operation: SUPPLIER_PAYMENT_OPERATION.to_owned(),
                fingerprint: fingerprint(&request)?,
                resource_id: id.as_uuid(),
                created_at: ctx.now,
            };
            if let Some(first) = claim_or_replay(uow.idempotency(), &record).await? {
                let stored = uow
                    .finance()
                    .get_supplier_payment(tenant, SupplierPaymentId::from_uuid(first))
                    .await?
                    .filter(|p| ctx.principal.sees_branch(p.branch_id))
                    .ok_or(Error::not_found("supplier payment"))?;
                uow.rollback().await?;
                return Ok(RecordedSupplierPayment {
                    payment: stored,
                    replayed: true,
                });
            }
        }
        let payment = SupplierPayment {
            id,
            tenant_id: tenant,
            branch_id: request.branch_id,
            supplier: request.supplier.trim().to_owned(),
            amount: request.amount,
            method: request.method,
            reference: request
                .reference
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
            paid_at: ctx.now,
            allocations: request
                .allocations
                .iter()
                .map(|(payable_id, amount)| PayableAllocation {
                    payable_id: *payable_id,
                    amount: *amount,
                })
                .collect(),
            created_at: ctx.now,
        };
        payment.validate()?;
        uow.branches()
            .get(tenant, payment.branch_id)
            .await?
            .ok_or(Error::not_found("branch"))?;
        for a in &payment.allocations {
            let mut payable = uow
                .finance()
                .get_payable(tenant, a.payable_id)
                .await?
                .filter(|p| ctx.principal.sees_branch(p.branch_id))
                .ok_or(Error::not_found("payable"))?;
            if payable.supplier != payment.supplier {
                return Err(Error::invalid(
                    "allocations",
                    "a payable is owed to another supplier",
                ));
            }
            if payable.amount.currency() != payment.amount.currency() {
                return Err(Error::invalid(
                    "allocations",
                    "a payable is in another currency",
                ));
            }
            payable.pay(a.amount)?;
            uow.finance().update_payable(&mut payable).await?;
        }
        uow.finance().insert_supplier_payment(&payment).await?;
        uow.finance()
            .post_journal(&journal(
                ctx,
                &self.deps,
                payment.branch_id,
                "supplier_payment.recorded",
                id.as_uuid(),
                supplier_payment_journal(&payment)?,
            ))
            .await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "supplier_payment.recorded",
                    "supplier payment",
                    Some(id.as_uuid()),
                )
                .in_branch(payment.branch_id)
                .with_change(
                    None,
                    Some(json!({
                        "supplier": payment.supplier,
                        "amount": payment.amount,
                        "method": payment.method,
                        "allocations": payment.allocations.iter()
                            .map(|a| json!({"payable_id": a.payable_id, "amount": a.amount}))
                            .collect::<Vec<_>>(),
                    })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(RecordedSupplierPayment {
            payment,
            replayed: false,
        })
    }

    /// The supplier payment with this id.
    pub async fn get_supplier_payment(
        &self,
        ctx: &Context,
        id: SupplierPaymentId,
    ) -> Result<SupplierPayment> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let payment = uow
            .finance()
            .get_supplier_payment(tenant, id)
            .await?
            .filter(|p| ctx.principal.sees_branch(p.branch_id))
            .ok_or(Error::not_found("supplier payment"))?;
        let resource = Resource::new(ResourceKind::Payment, tenant).in_branch(payment.branch_id);
        let uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        uow.rollback().await?;
        Ok(payment)
    }
}
