//! The finance repository (schemas 7 and 8), written once for both databases.
//!
//! - Invoice numbers: `INSERT … ON CONFLICT DO NOTHING` makes the series'
//!   counter row, then `UPDATE … SET next_number = next_number + 1 …
//!   RETURNING` takes a number under the row's lock until the unit ends
//!   (PostgreSQL: concurrent issuers queue on the row; SQLite: one writer).
//!   A rollback gives the number back with the rest of the unit.
//! - Invoices are stored whole (lines as JSON) under an optimistic
//!   `version`; a table CHECK refuses an open amount below zero.
//! - A refund moves its payment's `refunded_minor` with a conditional
//!   update (`WHERE refunded_minor = before`), so two concurrent refunds of
//!   one payment cannot both pass the "never above what was paid" check.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

use sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query, Value};
use tms_core::domain::finance::{
    Account, Allocation, CreditNote, ExchangeRate, Invoice, InvoiceLine, InvoiceSeries,
    InvoiceStatus, LedgerLine, Payable, Payment, PaymentMethod, Rate, Refund, Side,
    SupplierPayment, TaxRate, TenantTaxRate,
};
use tms_core::id::{
    BookingId, BranchId, ClientId, ExchangeRateId, InvoiceId, PayableId, PaymentId,
    SupplierPaymentId, TenantId,
};
use tms_core::money::{Currency, Money};
use tms_core::ports::{
    ClientTotals, Cursor, FinanceRepo, InvoiceFilter, Journal, Page, PageRequest, PayableFilter,
    PaymentFilter, PostedLine, Scope,
};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{SqlUnitOfWork, corrupt, page_of, query_err, uuid};
use super::scope::{empty_page, scoped};

/// `SUM(column)` as a BIGINT on both databases (PostgreSQL's SUM of a
/// bigint is a numeric), zero for no rows.
pub(super) fn sum(column: &str) -> Expr {
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

fn tax_rate_of(row: &Row) -> Result<TenantTaxRate> {
    let bp = u32::try_from(row.i64("basis_points")?).map_err(|_| corrupt("tax rate"))?;
    Ok(TenantTaxRate {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        code: row.text("code")?,
        name: row.text("name")?,
        rate: TaxRate::from_basis_points(bp).map_err(|_| corrupt("tax rate"))?,
        created_at: row.ts("created_at")?,
    })
}

const TAX_RATE_COLS: [&str; 5] = ["tenant_id", "code", "name", "basis_points", "created_at"];

fn currency(row: &Row, column: &str) -> Result<Currency> {
    Currency::parse(&row.text(column)?).map_err(|_| corrupt(column))
}

fn minor(row: &Row, column: &str, currency: Currency) -> Result<Money> {
    Ok(Money::from_minor(row.i64(column)?, currency))
}

const INVOICE_COLS: [&str; 20] = [
    "tenant_id",
    "id",
    "branch_id",
    "client_id",
    "booking_id",
    "series",
    "number",
    "status",
    "currency",
    "lines",
    "net_minor",
    "tax_minor",
    "total_minor",
    "paid_minor",
    "refunded_minor",
    "credited_minor",
    "issued_at",
    "created_at",
    "updated_at",
    "version",
];

fn invoice_of(row: &Row) -> Result<Invoice> {
    let cur = currency(row, "currency")?;
    let lines: Vec<InvoiceLine> =
        serde_json::from_str(&row.text("lines")?).map_err(|_| corrupt("invoice lines"))?;
    let number = row
        .opt_i64("number")?
        .map(|n| u64::try_from(n).map_err(|_| corrupt("invoice number")))
        .transpose()?;
    Ok(Invoice {
        id: InvoiceId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        client_id: ClientId::from_uuid(row.uuid("client_id")?),
        booking_id: row.opt_uuid("booking_id")?.map(BookingId::from_uuid),
        series: InvoiceSeries::parse(&row.text("series")?).map_err(|_| corrupt("series"))?,
        number,
        status: InvoiceStatus::parse(&row.text("status")?).map_err(|_| corrupt("status"))?,
        currency: cur,
        lines,
        net: minor(row, "net_minor", cur)?,
        tax: minor(row, "tax_minor", cur)?,
        total: minor(row, "total_minor", cur)?,
        paid: minor(row, "paid_minor", cur)?,
        refunded: minor(row, "refunded_minor", cur)?,
        credited: minor(row, "credited_minor", cur)?,
        issued_at: row.opt_ts("issued_at")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        version: row.i64("version")?,
    })
}

fn number_value(number: Option<u64>) -> Result<Expr> {
    let n = number
        .map(|n| i64::try_from(n).map_err(|_| Error::internal("invoice number overflow")))
        .transpose()?;
    Ok(Expr::val(Value::BigInt(n)))
}

fn lines_json(lines: &[InvoiceLine]) -> Result<String> {
    serde_json::to_string(lines).map_err(|e| Error::internal(format!("invoice lines: {e}")))
}

const RATE_COLS: [&str; 9] = [
    "tenant_id",
    "id",
    "base",
    "quote",
    "rate_units",
    "rate_scale",
    "effective_on",
    "source",
    "created_at",
];

fn rate_of(row: &Row) -> Result<ExchangeRate> {
    let scale = u32::try_from(row.i64("rate_scale")?).map_err(|_| corrupt("rate"))?;
    Ok(ExchangeRate {
        id: ExchangeRateId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        base: currency(row, "base")?,
        quote: currency(row, "quote")?,
        rate: Rate::new(row.i64("rate_units")?, scale).map_err(|_| corrupt("rate"))?,
        effective_on: NaiveDate::parse_from_str(&row.text("effective_on")?, "%Y-%m-%d")
            .map_err(|_| corrupt("effective_on"))?,
        source: row.text("source")?,
        created_at: row.ts("created_at")?,
    })
}

#[async_trait]
impl FinanceRepo for SqlUnitOfWork {
    async fn next_invoice_number(
        &mut self,
        tenant: TenantId,
        series: &InvoiceSeries,
    ) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let create = Query::insert()
            .into_table("invoice_counters")
            .columns(["tenant_id", "series", "next_number"])
            .values([uuid(tenant), Expr::val(series.as_str()), Expr::val(1_i64)])
            .map(|q| {
                q.on_conflict(OnConflict::new().do_nothing().to_owned())
                    .to_owned()
            })
            .map_err(query_err)?;
        self.tx.execute(&create).await?;
        let take = Query::update()
            .table("invoice_counters")
            .value("next_number", Expr::col("next_number").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("series").eq(series.as_str()))
            .returning(Query::returning().column("next_number"))
            .to_owned();
        let row = self
            .tx
            .fetch_optional(&take)
            .await?
            .ok_or_else(|| Error::internal("the invoice counter row is missing"))?;
        u64::try_from(row.i64("next_number")? - 1).map_err(|_| corrupt("invoice counter"))
    }

    async fn insert_invoice(&mut self, invoice: &Invoice) -> Result<()> {
        self.for_tenant(invoice.tenant_id).await?;
        let values = [
            uuid(invoice.tenant_id),
            uuid(invoice.id),
            uuid(invoice.branch_id),
            uuid(invoice.client_id),
            Expr::val(Value::Uuid(invoice.booking_id.map(Into::into))),
            Expr::val(invoice.series.as_str()),
            number_value(invoice.number)?,
            Expr::val(invoice.status.as_str()),
            Expr::val(invoice.currency.code()),
            Expr::val(lines_json(&invoice.lines)?),
            Expr::val(invoice.net.minor_units()),
            Expr::val(invoice.tax.minor_units()),
            Expr::val(invoice.total.minor_units()),
            Expr::val(invoice.paid.minor_units()),
            Expr::val(invoice.refunded.minor_units()),
            Expr::val(invoice.credited.minor_units()),
            Expr::val(self.tx.backend.opt_ts(invoice.issued_at)),
            self.ts(invoice.created_at),
            self.ts(invoice.updated_at),
            Expr::val(invoice.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("invoices")
                .columns(INVOICE_COLS)
                .values(values),
            "an invoice with this id or number exists",
        )
        .await
    }

    async fn get_invoice(&mut self, tenant: TenantId, id: InvoiceId) -> Result<Option<Invoice>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(INVOICE_COLS)
            .from("invoices")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, invoice_of).await
    }

    async fn update_invoice(&mut self, invoice: &mut Invoice) -> Result<()> {
        self.for_tenant(invoice.tenant_id).await?;
        let q = Query::update()
            .table("invoices")
            .value("number", number_value(invoice.number)?)
            .value("status", invoice.status.as_str())
            .value("lines", lines_json(&invoice.lines)?)
            .value("net_minor", invoice.net.minor_units())
            .value("tax_minor", invoice.tax.minor_units())
            .value("total_minor", invoice.total.minor_units())
            .value("paid_minor", invoice.paid.minor_units())
            .value("refunded_minor", invoice.refunded.minor_units())
            .value("credited_minor", invoice.credited.minor_units())
            .value(
                "issued_at",
                Expr::val(self.tx.backend.opt_ts(invoice.issued_at)),
            )
            .value("updated_at", self.ts(invoice.updated_at))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(invoice.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(invoice.id)))
            .and_where(Expr::col("version").eq(invoice.version))
            .to_owned();
        match self.tx.execute(&q).await? {
            0 => Err(Error::conflict(
                "the invoice was changed by someone else (or does not exist); reload and retry",
            )),
            _ => {
                invoice.version += 1;
                Ok(())
            }
        }
    }

    async fn insert_credit_note(&mut self, note: &CreditNote) -> Result<()> {
        self.for_tenant(note.tenant_id).await?;
        let number = i64::try_from(note.number)
            .map_err(|_| Error::internal("credit note number overflow"))?;
        let values = [
            uuid(note.tenant_id),
            uuid(note.id),
            uuid(note.branch_id),
            uuid(note.invoice_id),
            Expr::val(note.series.as_str()),
            Expr::val(number),
            Expr::val(note.net.minor_units()),
            Expr::val(note.tax.minor_units()),
            Expr::val(note.net.currency().code()),
            Expr::val(note.reason.as_str()),
            self.ts(note.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("credit_notes")
                .columns([
                    "tenant_id",
                    "id",
                    "branch_id",
                    "invoice_id",
                    "series",
                    "number",
                    "net_minor",
                    "tax_minor",
                    "currency",
                    "reason",
                    "created_at",
                ])
                .values(values),
            "a credit note with this id or number exists",
        )
        .await
    }

    async fn insert_payment(&mut self, payment: &Payment) -> Result<()> {
        self.for_tenant(payment.tenant_id).await?;
        let values = [
            uuid(payment.tenant_id),
            uuid(payment.id),
            uuid(payment.branch_id),
            uuid(payment.client_id),
            Expr::val(payment.amount.minor_units()),
            Expr::val(payment.amount.currency().code()),
            Expr::val(payment.method.as_str()),
            Expr::val(Value::String(payment.reference.clone())),
            self.ts(payment.received_at),
            Expr::val(payment.refunded.minor_units()),
            self.ts(payment.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("payments")
                .columns(PAYMENT_COLS)
                .values(values),
            "a payment with this id exists",
        )
        .await?;
        for (position, a) in payment.allocations.iter().enumerate() {
            let position = i64::try_from(position).map_err(|_| Error::internal("too many"))?;
            let q = Query::insert()
                .into_table("payment_allocations")
                .columns([
                    "tenant_id",
                    "payment_id",
                    "position",
                    "invoice_id",
                    "amount_minor",
                ])
                .values([
                    uuid(payment.tenant_id),
                    uuid(payment.id),
                    Expr::val(position),
                    uuid(a.invoice_id),
                    Expr::val(a.amount.minor_units()),
                ])
                .map_err(query_err)?
                .to_owned();
            self.tx.execute(&q).await?;
        }
        Ok(())
    }

    async fn get_payment(&mut self, tenant: TenantId, id: PaymentId) -> Result<Option<Payment>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(PAYMENT_COLS)
            .from("payments")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        let Some(row) = self.tx.fetch_optional(&q).await? else {
            return Ok(None);
        };
        let mut payments = vec![payment_of(&row)?];
        self.read_allocations(tenant, &mut payments).await?;
        Ok(payments.pop())
    }

    async fn insert_refund(&mut self, refund: &Refund, before: Money) -> Result<()> {
        self.for_tenant(refund.tenant_id).await?;
        let after = before.checked_add(refund.amount)?;
        let q = Query::update()
            .table("payments")
            .value("refunded_minor", after.minor_units())
            .and_where(Expr::col("tenant_id").eq(uuid(refund.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(refund.payment_id)))
            .and_where(Expr::col("refunded_minor").eq(before.minor_units()))
            .and_where(Expr::col("amount_minor").gte(after.minor_units()))
            .to_owned();
        if self.tx.execute(&q).await? == 0 {
            return Err(Error::conflict(
                "the payment was refunded by someone else meanwhile; reload and retry",
            ));
        }
        let values = [
            uuid(refund.tenant_id),
            uuid(refund.id),
            uuid(refund.branch_id),
            uuid(refund.payment_id),
            Expr::val(refund.amount.minor_units()),
            Expr::val(refund.amount.currency().code()),
            Expr::val(refund.reason.as_str()),
            self.ts(refund.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("refunds")
                .columns([
                    "tenant_id",
                    "id",
                    "branch_id",
                    "payment_id",
                    "amount_minor",
                    "currency",
                    "reason",
                    "created_at",
                ])
                .values(values),
            "a refund with this id exists",
        )
        .await
    }

    async fn insert_exchange_rate(&mut self, rate: &ExchangeRate) -> Result<()> {
        self.for_tenant(rate.tenant_id).await?;
        let values = [
            uuid(rate.tenant_id),
            uuid(rate.id),
            Expr::val(rate.base.code()),
            Expr::val(rate.quote.code()),
            Expr::val(rate.rate.units()),
            Expr::val(i64::from(rate.rate.scale())),
            Expr::val(rate.effective_on.format("%Y-%m-%d").to_string()),
            Expr::val(rate.source.as_str()),
            self.ts(rate.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("exchange_rates")
                .columns(RATE_COLS)
                .values(values),
            "a rate for this pair, day and source exists",
        )
        .await
    }

    async fn exchange_rate_on(
        &mut self,
        tenant: TenantId,
        base: Currency,
        quote: Currency,
        on: NaiveDate,
    ) -> Result<Option<ExchangeRate>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(RATE_COLS)
            .from("exchange_rates")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("base").eq(base.code()))
            .and_where(Expr::col("quote").eq(quote.code()))
            .and_where(Expr::col("effective_on").lte(on.format("%Y-%m-%d").to_string()))
            .order_by("effective_on", Order::Desc)
            .order_by("created_at", Order::Desc)
            .order_by("id", Order::Desc)
            .limit(1)
            .to_owned();
        self.fetch_one(&q, rate_of).await
    }

    async fn insert_tax_rate(&mut self, rate: &TenantTaxRate) -> Result<()> {
        self.for_tenant(rate.tenant_id).await?;
        let values = [
            uuid(rate.tenant_id),
            Expr::val(rate.code.as_str()),
            Expr::val(rate.name.as_str()),
            Expr::val(i64::from(rate.rate.basis_points())),
            self.ts(rate.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("tax_rates")
                .columns(TAX_RATE_COLS)
                .values(values),
            "a tax rate with this code exists; rates are never edited, give the new one a new code",
        )
        .await
    }

    async fn tax_rates(&mut self, tenant: TenantId) -> Result<Vec<TenantTaxRate>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TAX_RATE_COLS)
            .from("tax_rates")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .order_by("code", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(tax_rate_of)
            .collect()
    }

    async fn tax_rate(&mut self, tenant: TenantId, code: &str) -> Result<Option<TenantTaxRate>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TAX_RATE_COLS)
            .from("tax_rates")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("code").eq(code))
            .to_owned();
        self.fetch_one(&q, tax_rate_of).await
    }

    async fn list_invoices(
        &mut self,
        scope: &Scope,
        filter: &InvoiceFilter,
        page: PageRequest,
    ) -> Result<Page<Invoice>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(INVOICE_COLS).from("invoices");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        if let Some(status) = filter.status {
            q.and_where(Expr::col("status").eq(status.as_str()));
        }
        if filter.open_only {
            q.and_where(Expr::col("status").is_in([
                InvoiceStatus::Issued.as_str(),
                InvoiceStatus::PartiallyPaid.as_str(),
            ]));
        }
        if let Some(client) = filter.client_id {
            q.and_where(Expr::col("client_id").eq(uuid(client)));
        }
        if let Some(branch) = filter.branch_id {
            q.and_where(Expr::col("branch_id").eq(uuid(branch)));
        }
        if let Some(from) = filter.from {
            q.and_where(Expr::col("created_at").gte(self.ts(from)));
        }
        if let Some(to) = filter.to {
            q.and_where(Expr::col("created_at").lt(self.ts(to)));
        }
        if let Some(from) = filter.issued_from {
            q.and_where(Expr::col("issued_at").gte(self.ts(from)));
        }
        if let Some(to) = filter.issued_to {
            q.and_where(Expr::col("issued_at").lt(self.ts(to)));
        }
        self.keyset(&mut q, page);
        let items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(invoice_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |i| Cursor {
            created_at: i.created_at,
            id: i.id.as_uuid(),
        }))
    }

    async fn list_payments(
        &mut self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(PAYMENT_COLS).from("payments");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        if let Some(client) = filter.client_id {
            q.and_where(Expr::col("client_id").eq(uuid(client)));
        }
        if let Some(branch) = filter.branch_id {
            q.and_where(Expr::col("branch_id").eq(uuid(branch)));
        }
        if let Some(method) = filter.method {
            q.and_where(Expr::col("method").eq(method.as_str()));
        }
        if let Some(from) = filter.from {
            q.and_where(Expr::col("created_at").gte(self.ts(from)));
        }
        if let Some(to) = filter.to {
            q.and_where(Expr::col("created_at").lt(self.ts(to)));
        }
        self.keyset(&mut q, page);
        let mut items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(payment_of)
            .collect::<Result<Vec<_>>>()?;
        self.read_allocations(scope.tenant_id, &mut items).await?;
        Ok(page_of(items, page, |p| Cursor {
            created_at: p.created_at,
            id: p.id.as_uuid(),
        }))
    }

    async fn client_totals(
        &mut self,
        scope: &Scope,
        client: ClientId,
    ) -> Result<Vec<ClientTotals>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.column("currency")
            .expr_as(sum("total_minor"), "a")
            .expr_as(sum("credited_minor"), "b")
            .from("invoices");
        if !scoped(&mut q, scope) {
            return Ok(Vec::new());
        }
        q.and_where(Expr::col("client_id").eq(uuid(client)))
            .and_where(Expr::col("status").is_in([
                InvoiceStatus::Issued.as_str(),
                InvoiceStatus::PartiallyPaid.as_str(),
                InvoiceStatus::Paid.as_str(),
            ]))
            .group_by_col("currency");
        let invoiced = self.tx.fetch_all(&q).await?;
        let mut q = Query::select();
        q.column("currency")
            .expr_as(sum("amount_minor"), "a")
            .expr_as(sum("refunded_minor"), "b")
            .from("payments");
        if !scoped(&mut q, scope) {
            return Ok(Vec::new());
        }
        q.and_where(Expr::col("client_id").eq(uuid(client)))
            .group_by_col("currency");
        let paid = self.tx.fetch_all(&q).await?;
        let mut by: BTreeMap<Currency, ClientTotals> = BTreeMap::new();
        for (rows, invoices) in [(invoiced, true), (paid, false)] {
            for row in rows {
                let cur = currency(&row, "currency")?;
                let t = by.entry(cur).or_insert(ClientTotals {
                    currency: cur,
                    invoiced: Money::zero(cur),
                    credited: Money::zero(cur),
                    paid: Money::zero(cur),
                    refunded: Money::zero(cur),
                });
                let (a, b) = (minor(&row, "a", cur)?, minor(&row, "b", cur)?);
                if invoices {
                    (t.invoiced, t.credited) = (a, b);
                } else {
                    (t.paid, t.refunded) = (a, b);
                }
            }
        }
        Ok(by.into_values().collect())
    }

    async fn payables_of_booking(
        &mut self,
        tenant: TenantId,
        booking: BookingId,
    ) -> Result<Vec<Payable>> {
        self.for_tenant(tenant).await?;
        self.sql_payables_of_booking(tenant, booking).await
    }

    async fn insert_payable(&mut self, payable: &Payable) -> Result<()> {
        self.for_tenant(payable.tenant_id).await?;
        self.sql_insert_payable(payable).await
    }

    async fn get_payable(&mut self, tenant: TenantId, id: PayableId) -> Result<Option<Payable>> {
        self.for_tenant(tenant).await?;
        self.sql_get_payable(tenant, id).await
    }

    async fn update_payable(&mut self, payable: &mut Payable) -> Result<()> {
        self.for_tenant(payable.tenant_id).await?;
        self.sql_update_payable(payable).await
    }

    async fn list_payables(
        &mut self,
        scope: &Scope,
        filter: &PayableFilter,
        page: PageRequest,
    ) -> Result<Page<Payable>> {
        self.for_tenant(scope.tenant_id).await?;
        self.sql_list_payables(scope, filter, page).await
    }

    async fn insert_supplier_payment(&mut self, payment: &SupplierPayment) -> Result<()> {
        self.for_tenant(payment.tenant_id).await?;
        self.sql_insert_supplier_payment(payment).await
    }

    async fn get_supplier_payment(
        &mut self,
        tenant: TenantId,
        id: SupplierPaymentId,
    ) -> Result<Option<SupplierPayment>> {
        self.for_tenant(tenant).await?;
        self.sql_get_supplier_payment(tenant, id).await
    }

    async fn posted_lines(
        &mut self,
        scope: &Scope,
        account: Account,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<PostedLine>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(LEDGER_COLS).from("ledger_entries");
        if !scoped(&mut q, scope) {
            return Ok(Vec::new());
        }
        q.and_where(Expr::col("account").eq(account.as_str()));
        if let Some(from) = from {
            q.and_where(Expr::col("posted_at").gte(self.ts(from)));
        }
        if let Some(to) = to {
            q.and_where(Expr::col("posted_at").lt(self.ts(to)));
        }
        q.order_by("posted_at", Order::Asc)
            .order_by("journal_id", Order::Asc)
            .order_by("line", Order::Asc);
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|r| {
                Ok(PostedLine {
                    branch_id: BranchId::from_uuid(r.uuid("branch_id")?),
                    event: r.text("event")?,
                    posted_at: r.ts("posted_at")?,
                    line: ledger_line_of(r)?,
                })
            })
            .collect()
    }

    async fn post_journal(&mut self, journal: &Journal) -> Result<()> {
        self.for_tenant(journal.tenant_id).await?;
        journal.check()?;
        for (line, l) in journal.lines.iter().enumerate() {
            let line = i64::try_from(line).map_err(|_| Error::internal("too many lines"))?;
            let q = Query::insert()
                .into_table("ledger_entries")
                .columns(LEDGER_COLS)
                .values([
                    uuid(journal.tenant_id),
                    uuid(journal.id),
                    Expr::val(line),
                    uuid(journal.branch_id),
                    Expr::val(journal.event.as_str()),
                    uuid(journal.source_id),
                    Expr::val(l.account.as_str()),
                    Expr::val(l.side.as_str()),
                    Expr::val(l.amount.minor_units()),
                    Expr::val(l.amount.currency().code()),
                    self.ts(journal.posted_at),
                ])
                .map_err(query_err)?
                .to_owned();
            self.tx.execute(&q).await?;
        }
        Ok(())
    }

    async fn ledger_lines(&mut self, tenant: TenantId) -> Result<Vec<LedgerLine>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(LEDGER_COLS)
            .from("ledger_entries")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .order_by("posted_at", Order::Asc)
            .order_by("journal_id", Order::Asc)
            .order_by("line", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(ledger_line_of)
            .collect()
    }

    // --- documents follow-ups (issue 8) ---
    async fn get_credit_note(
        &mut self,
        tenant: TenantId,
        id: tms_core::id::CreditNoteId,
    ) -> Result<Option<CreditNote>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CREDIT_NOTE_COLS)
            .from("credit_notes")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, credit_note_of).await
    }
}

// --- documents follow-ups (issue 8) ---
const CREDIT_NOTE_COLS: [&str; 11] = [
    "tenant_id",
    "id",
    "branch_id",
    "invoice_id",
    "series",
    "number",
    "net_minor",
    "tax_minor",
    "currency",
    "reason",
    "created_at",
];

fn credit_note_of(row: &Row) -> Result<CreditNote> {
    let cur = currency(row, "currency")?;
    Ok(CreditNote {
        id: tms_core::id::CreditNoteId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        invoice_id: InvoiceId::from_uuid(row.uuid("invoice_id")?),
        series: InvoiceSeries::parse(&row.text("series")?).map_err(|_| corrupt("series"))?,
        number: u64::try_from(row.i64("number")?).map_err(|_| corrupt("credit note number"))?,
        net: minor(row, "net_minor", cur)?,
        tax: minor(row, "tax_minor", cur)?,
        reason: row.text("reason")?,
        created_at: row.ts("created_at")?,
    })
}

fn ledger_line_of(r: &Row) -> Result<LedgerLine> {
    let cur = currency(r, "currency")?;
    Ok(LedgerLine {
        account: Account::parse(&r.text("account")?).map_err(|_| corrupt("account"))?,
        side: Side::parse(&r.text("side")?).map_err(|_| corrupt("side"))?,
        amount: minor(r, "amount_minor", cur)?,
    })
}

fn payment_of(row: &Row) -> Result<Payment> {
    let cur = currency(row, "currency")?;
    Ok(Payment {
        id: PaymentId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        client_id: ClientId::from_uuid(row.uuid("client_id")?),
        amount: minor(row, "amount_minor", cur)?,
        method: PaymentMethod::parse(&row.text("method")?).map_err(|_| corrupt("method"))?,
        reference: row.opt_text("reference")?,
        received_at: row.ts("received_at")?,
        allocations: Vec::new(),
        refunded: minor(row, "refunded_minor", cur)?,
        created_at: row.ts("created_at")?,
    })
}

impl SqlUnitOfWork {
    /// Fills the allocations of `payments` (one query for the whole page).
    async fn read_allocations(&mut self, tenant: TenantId, payments: &mut [Payment]) -> Result<()> {
        if payments.is_empty() {
            return Ok(());
        }
        let q = Query::select()
            .columns(["payment_id", "invoice_id", "amount_minor"])
            .from("payment_allocations")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("payment_id").is_in(payments.iter().map(|p| uuid(p.id))))
            .order_by("payment_id", Order::Asc)
            .order_by("position", Order::Asc)
            .to_owned();
        let rows = self.tx.fetch_all(&q).await?;
        let mut by: BTreeMap<uuid::Uuid, Vec<(InvoiceId, i64)>> = BTreeMap::new();
        for r in &rows {
            by.entry(r.uuid("payment_id")?).or_default().push((
                InvoiceId::from_uuid(r.uuid("invoice_id")?),
                r.i64("amount_minor")?,
            ));
        }
        for p in payments.iter_mut() {
            let cur = p.amount.currency();
            p.allocations = by
                .remove(&p.id.as_uuid())
                .unwrap_or_default()
                .into_iter()
                .map(|(invoice_id, a)| Allocation {
                    invoice_id,
                    amount: Money::from_minor(a, cur),
                })
                .collect();
        }
        Ok(())
    }
}

const PAYMENT_COLS: [&str; 11] = [
    "tenant_id",
    "id",
    "branch_id",
    "client_id",
    "amount_minor",
    "currency",
    "method",
    "reference",
    "received_at",
    "refunded_minor",
    "created_at",
];

const LEDGER_COLS: [&str; 11] = [
    "tenant_id",
    "journal_id",
    "line",
    "branch_id",
    "event",
    "source_id",
    "account",
    "side",
    "amount_minor",
    "currency",
    "posted_at",
];
