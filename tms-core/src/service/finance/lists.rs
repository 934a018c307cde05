//! Tenant tax rates, the invoice and payment lists, client balances and
//! receivables. Reads filter the caller's branches in the query; every
//! filter narrows that scope and a filter on an unseen branch is refused
//! like an unseen record.

use serde_json::json;

use super::Finance;
use crate::audit::NewAuditEvent;
use crate::domain::Context;
use crate::domain::finance::{Invoice, Payment, TaxRate, TenantTaxRate};
use crate::error::{Error, Result};
use crate::id::{BranchId, ClientId};
use crate::money::{Currency, Money};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{InvoiceFilter, Page, PageRequest, PaymentFilter, Scope};
use crate::service::bookings::authorize;

/// What one client owes (positive) or has in advance (negative) in one
/// currency: invoiced − credited − paid + refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientBalance {
    /// The currency.
    pub currency: Currency,
    /// Totals of live invoices (issued, partially paid, paid).
    pub invoiced: Money,
    /// Credit notes against them.
    pub credited: Money,
    /// Payments received, allocated or not.
    pub paid: Money,
    /// Refunds of those payments.
    pub refunded: Money,
    /// invoiced − credited − paid + refunded.
    pub balance: Money,
}

/// An open invoice and what is still due on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receivable {
    /// The invoice (issued or partially paid).
    pub invoice: Invoice,
    /// total − credited − (paid − refunded).
    pub due: Money,
}

impl Finance {
    /// Adds a named tax rate to the tenant's table (Finance and the owner).
    ///
    /// Rates are never edited: an issued invoice keeps the rate it was
    /// billed at, and a new rate gets a new code.
    pub async fn add_tax_rate(
        &self,
        ctx: &Context,
        code: &str,
        name: &str,
        basis_points: u32,
    ) -> Result<TenantTaxRate> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::LedgerEntry, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let rate = TenantTaxRate::new(
            tenant,
            code,
            name,
            TaxRate::from_basis_points(basis_points)?,
            ctx.now,
        )?;
        uow.finance().insert_tax_rate(&rate).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "tax_rate.created", "tax rate", None).with_change(
                    None,
                    Some(json!({
                        "code": rate.code, "name": rate.name,
                        "basis_points": rate.rate.basis_points(),
                    })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(rate)
    }

    /// The tenant's tax rates, by code.
    pub async fn tax_rates(&self, ctx: &Context) -> Result<Vec<TenantTaxRate>> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::LedgerEntry, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let rates = uow.finance().tax_rates(tenant).await?;
        uow.rollback().await?;
        Ok(rates)
    }

    /// The invoices the caller sees that pass `filter`.
    pub async fn list_invoices(
        &self,
        ctx: &Context,
        filter: InvoiceFilter,
        page: PageRequest,
    ) -> Result<Page<Invoice>> {
        let resource = list_resource(ctx, ResourceKind::Invoice, filter.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        check_range(filter.from, filter.to)?;
        let page = uow
            .finance()
            .list_invoices(&Scope::of(&ctx.principal), &filter, page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// The payments the caller sees that pass `filter`.
    pub async fn list_payments(
        &self,
        ctx: &Context,
        filter: PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>> {
        let resource = list_resource(ctx, ResourceKind::Payment, filter.branch_id);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        check_range(filter.from, filter.to)?;
        let page = uow
            .finance()
            .list_payments(&Scope::of(&ctx.principal), &filter, page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// Open invoices (issued or partially paid) with what is due on each,
    /// optionally of one client or branch.
    pub async fn receivables(
        &self,
        ctx: &Context,
        client_id: Option<ClientId>,
        branch_id: Option<BranchId>,
        page: PageRequest,
    ) -> Result<Page<Receivable>> {
        let filter = InvoiceFilter {
            open_only: true,
            client_id,
            branch_id,
            ..InvoiceFilter::default()
        };
        let page = self.list_invoices(ctx, filter, page).await?;
        let items = page
            .items
            .into_iter()
            .map(|invoice| {
                Ok(Receivable {
                    due: invoice.open_amount()?,
                    invoice,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// One client's balance per currency, over the invoices and payments of
    /// the branches the caller sees. `NotFound` for a client the caller
    /// does not see.
    pub async fn client_balance(
        &self,
        ctx: &Context,
        client_id: ClientId,
    ) -> Result<Vec<ClientBalance>> {
        let tenant = ctx.principal.tenant_id();
        let uow = self.deps.store.begin().await?;
        let resource = Resource::new(ResourceKind::Invoice, tenant);
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        uow.clients()
            .get(tenant, client_id)
            .await?
            .filter(|c| ctx.principal.sees_branch(c.branch_id))
            .ok_or(Error::not_found("client"))?;
        let totals = uow
            .finance()
            .client_totals(&Scope::of(&ctx.principal), client_id)
            .await?;
        uow.rollback().await?;
        totals
            .into_iter()
            .map(|t| {
                Ok(ClientBalance {
                    currency: t.currency,
                    invoiced: t.invoiced,
                    credited: t.credited,
                    paid: t.paid,
                    refunded: t.refunded,
                    balance: t
                        .invoiced
                        .checked_sub(t.credited)?
                        .checked_sub(t.paid)?
                        .checked_add(t.refunded)?,
                })
            })
            .collect()
    }
}

/// The resource a list is authorized on: the tenant, or the one branch the
/// filter names (so that an unseen branch is refused as not found).
pub(super) fn list_resource(
    ctx: &Context,
    kind: ResourceKind,
    branch: Option<BranchId>,
) -> Resource {
    let resource = Resource::new(kind, ctx.principal.tenant_id());
    match branch {
        Some(b) => resource.in_branch(b),
        None => resource,
    }
}

pub(super) fn check_range(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<()> {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(Error::invalid("to", "must not be before from"));
    }
    Ok(())
}
