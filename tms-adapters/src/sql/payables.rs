//! Supplier payables and payments to suppliers (schema 8), for both
//! databases. A payable's `paid_minor` moves under its optimistic
//! `version`, and a table CHECK refuses paying beyond its amount.

use sea_query::{Expr, ExprTrait as _, Order, Query, Value};
use tms_core::domain::finance::{Payable, PayableAllocation, PaymentMethod, SupplierPayment};
use tms_core::id::{BookingId, BranchId, PayableId, SupplierPaymentId, TenantId};
use tms_core::money::{Currency, Money};
use tms_core::ports::{Cursor, Page, PageRequest, PayableFilter, Scope};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{SqlUnitOfWork, corrupt, page_of, query_err, uuid};
use super::scope::{empty_page, scoped};

pub(super) const PAYABLE_COLS: [&str; 12] = [
    "tenant_id",
    "id",
    "branch_id",
    "booking_id",
    "item",
    "supplier",
    "description",
    "amount_minor",
    "paid_minor",
    "currency",
    "created_at",
    "version",
];

const SUPPLIER_PAYMENT_COLS: [&str; 10] = [
    "tenant_id",
    "id",
    "branch_id",
    "supplier",
    "amount_minor",
    "currency",
    "method",
    "reference",
    "paid_at",
    "created_at",
];

fn currency(row: &Row) -> Result<Currency> {
    Currency::parse(&row.text("currency")?).map_err(|_| corrupt("currency"))
}

pub(super) fn payable_of(row: &Row) -> Result<Payable> {
    let cur = currency(row)?;
    Ok(Payable {
        id: PayableId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        booking_id: BookingId::from_uuid(row.uuid("booking_id")?),
        item: u32::try_from(row.i64("item")?).map_err(|_| corrupt("payable item"))?,
        supplier: row.text("supplier")?,
        description: row.text("description")?,
        amount: Money::from_minor(row.i64("amount_minor")?, cur),
        paid: Money::from_minor(row.i64("paid_minor")?, cur),
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

impl SqlUnitOfWork {
    pub(super) async fn sql_payables_of_booking(
        &mut self,
        tenant: TenantId,
        booking: BookingId,
    ) -> Result<Vec<Payable>> {
        let q = Query::select()
            .columns(PAYABLE_COLS)
            .from("supplier_payables")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("booking_id").eq(uuid(booking)))
            .order_by("item", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(payable_of)
            .collect()
    }

    pub(super) async fn sql_insert_payable(&mut self, p: &Payable) -> Result<()> {
        let values = [
            uuid(p.tenant_id),
            uuid(p.id),
            uuid(p.branch_id),
            uuid(p.booking_id),
            Expr::val(i64::from(p.item)),
            Expr::val(p.supplier.as_str()),
            Expr::val(p.description.as_str()),
            Expr::val(p.amount.minor_units()),
            Expr::val(p.paid.minor_units()),
            Expr::val(p.amount.currency().code()),
            self.ts(p.created_at),
            Expr::val(p.version),
        ];
        self.insert_new(
            Query::insert()
                .into_table("supplier_payables")
                .columns(PAYABLE_COLS)
                .values(values),
            "this booking item's payable is recorded already",
        )
        .await
    }

    pub(super) async fn sql_get_payable(
        &mut self,
        tenant: TenantId,
        id: PayableId,
    ) -> Result<Option<Payable>> {
        let q = Query::select()
            .columns(PAYABLE_COLS)
            .from("supplier_payables")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, payable_of).await
    }

    pub(super) async fn sql_update_payable(&mut self, p: &mut Payable) -> Result<()> {
        let q = Query::update()
            .table("supplier_payables")
            .value("paid_minor", p.paid.minor_units())
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(p.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(p.id)))
            .and_where(Expr::col("version").eq(p.version))
            .to_owned();
        if self.tx.execute(&q).await? == 0 {
            return Err(self
                .stale("supplier_payables", "payable", p.tenant_id, p.id.as_uuid())
                .await);
        }
        p.version += 1;
        Ok(())
    }

    pub(super) async fn sql_list_payables(
        &mut self,
        scope: &Scope,
        filter: &PayableFilter,
        page: PageRequest,
    ) -> Result<Page<Payable>> {
        let mut q = Query::select();
        q.columns(PAYABLE_COLS).from("supplier_payables");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        if let Some(supplier) = &filter.supplier {
            q.and_where(Expr::col("supplier").eq(supplier.as_str()));
        }
        if let Some(booking) = filter.booking_id {
            q.and_where(Expr::col("booking_id").eq(uuid(booking)));
        }
        if let Some(branch) = filter.branch_id {
            q.and_where(Expr::col("branch_id").eq(uuid(branch)));
        }
        if filter.open_only {
            q.and_where(Expr::col("paid_minor").lt(Expr::col("amount_minor")));
        }
        self.keyset(&mut q, page);
        let items = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(payable_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |p| Cursor {
            created_at: p.created_at,
            id: p.id.as_uuid(),
        }))
    }

    pub(super) async fn sql_insert_supplier_payment(&mut self, p: &SupplierPayment) -> Result<()> {
        let values = [
            uuid(p.tenant_id),
            uuid(p.id),
            uuid(p.branch_id),
            Expr::val(p.supplier.as_str()),
            Expr::val(p.amount.minor_units()),
            Expr::val(p.amount.currency().code()),
            Expr::val(p.method.as_str()),
            Expr::val(Value::String(p.reference.clone())),
            self.ts(p.paid_at),
            self.ts(p.created_at),
        ];
        self.insert_new(
            Query::insert()
                .into_table("supplier_payments")
                .columns(SUPPLIER_PAYMENT_COLS)
                .values(values),
            "a supplier payment with this id exists",
        )
        .await?;
        for (position, a) in p.allocations.iter().enumerate() {
            let position = i64::try_from(position).map_err(|_| Error::internal("too many"))?;
            let q = Query::insert()
                .into_table("supplier_payment_allocations")
                .columns([
                    "tenant_id",
                    "payment_id",
                    "position",
                    "payable_id",
                    "amount_minor",
                ])
                .values([
                    uuid(p.tenant_id),
                    uuid(p.id),
                    Expr::val(position),
                    uuid(a.payable_id),
                    Expr::val(a.amount.minor_units()),
                ])
                .map_err(query_err)?
                .to_owned();
            self.tx.execute(&q).await?;
        }
        Ok(())
    }

    pub(super) async fn sql_get_supplier_payment(
        &mut self,
        tenant: TenantId,
        id: SupplierPaymentId,
    ) -> Result<Option<SupplierPayment>> {
        let q = Query::select()
            .columns(SUPPLIER_PAYMENT_COLS)
            .from("supplier_payments")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        let Some(row) = self.tx.fetch_optional(&q).await? else {
            return Ok(None);
        };
        let cur = currency(&row)?;
        let q = Query::select()
            .columns(["payable_id", "amount_minor"])
            .from("supplier_payment_allocations")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("payment_id").eq(uuid(id)))
            .order_by("position", Order::Asc)
            .to_owned();
        let allocations = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|r| {
                Ok(PayableAllocation {
                    payable_id: PayableId::from_uuid(r.uuid("payable_id")?),
                    amount: Money::from_minor(r.i64("amount_minor")?, cur),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(SupplierPayment {
            id,
            tenant_id: tenant,
            branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
            supplier: row.text("supplier")?,
            amount: Money::from_minor(row.i64("amount_minor")?, cur),
            method: PaymentMethod::parse(&row.text("method")?).map_err(|_| corrupt("method"))?,
            reference: row.opt_text("reference")?,
            paid_at: row.ts("paid_at")?,
            allocations,
            created_at: row.ts("created_at")?,
        }))
    }
}
