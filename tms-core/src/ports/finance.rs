//! The finance repository (issue 7): invoices with their gap-free counter,
//! payments with allocations, refunds, exchange rates and the ledger.
//!
//! Numbers are taken with [`FinanceRepo::next_invoice_number`] **inside the
//! unit of work that issues the invoice**: the counter row stays locked until
//! that unit commits or rolls back, so concurrent issuers queue on it and a
//! rolled-back issue gives its number back — numbers run 1, 2, 3, … per
//! tenant and series with no gap and no repeat.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::finance::{
    CreditNote, ExchangeRate, Invoice, InvoiceSeries, InvoiceStatus, LedgerLine, Payable, Payment,
    PaymentMethod, Refund, SupplierPayment, TenantTaxRate, balanced,
};
use crate::error::{Error, Result};
use crate::id::{
    BookingId, BranchId, ClientId, InvoiceId, JournalId, PayableId, PaymentId, SupplierPaymentId,
    TenantId,
};
use crate::money::{Currency, Money};
use crate::ports::{Page, PageRequest, Scope};

/// Filters of the invoice list; `None` is "any". Every filter narrows the
/// caller's scope, never widens it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    /// Only invoices in this state.
    pub status: Option<InvoiceStatus>,
    /// Only open ones: issued or partially paid (receivables).
    pub open_only: bool,
    /// Only this client's.
    pub client_id: Option<ClientId>,
    /// Only this branch's.
    pub branch_id: Option<BranchId>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Issued at or after (drafts never match).
    pub issued_from: Option<DateTime<Utc>>,
    /// Issued before.
    pub issued_to: Option<DateTime<Utc>>,
}

/// One stored ledger line with where and when it was posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedLine {
    /// The branch of the event.
    pub branch_id: BranchId,
    /// The event: `invoice.issued`, `credit_note.issued`, …
    pub event: String,
    /// When it was posted.
    pub posted_at: DateTime<Utc>,
    /// The line.
    pub line: LedgerLine,
}

/// Filters of the payment list; `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only this client's.
    pub client_id: Option<ClientId>,
    /// Only this branch's.
    pub branch_id: Option<BranchId>,
    /// Only this method.
    pub method: Option<PaymentMethod>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub to: Option<DateTime<Utc>>,
}

/// Filters of the payables list; `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayableFilter {
    /// Only this supplier's (exact name).
    pub supplier: Option<String>,
    /// Only this booking's.
    pub booking_id: Option<BookingId>,
    /// Only this branch's.
    pub branch_id: Option<BranchId>,
    /// Only those with something still open.
    pub open_only: bool,
}

/// Sums of one client's records in one currency, within a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTotals {
    /// The currency.
    pub currency: Currency,
    /// Totals of live (issued, partially paid, paid) invoices.
    pub invoiced: Money,
    /// Credit notes against them.
    pub credited: Money,
    /// Payments received (allocated or not).
    pub paid: Money,
    /// Refunds of those payments.
    pub refunded: Money,
}

/// The ledger lines of one financial event, posted together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// Its id.
    pub id: JournalId,
    /// Whose books.
    pub tenant_id: TenantId,
    /// The branch the event belongs to.
    pub branch_id: BranchId,
    /// What happened: `invoice.issued`, `payment.recorded`, …
    pub event: String,
    /// The invoice, payment, refund or credit note it records.
    pub source_id: uuid::Uuid,
    /// When.
    pub posted_at: DateTime<Utc>,
    /// The lines; debits equal credits per currency.
    pub lines: Vec<LedgerLine>,
}

impl Journal {
    /// Refuses an empty or unbalanced journal: the ledger never holds one.
    pub fn check(&self) -> Result<()> {
        if self.lines.is_empty() || !balanced(&self.lines) {
            return Err(Error::internal("an empty or unbalanced journal"));
        }
        Ok(())
    }
}

/// Invoices, payments, refunds, exchange rates and ledger journals.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FinanceRepo: Send {
    /// Takes the next number of `series` for `tenant` (1 for the first),
    /// holding the counter's lock until this unit of work ends.
    async fn next_invoice_number(
        &mut self,
        tenant: TenantId,
        series: &InvoiceSeries,
    ) -> Result<u64>;
    /// Adds an invoice; `Conflict` if its id or number is taken.
    async fn insert_invoice(&mut self, invoice: &Invoice) -> Result<()>;
    /// The invoice of `tenant` with this id.
    async fn get_invoice(&mut self, tenant: TenantId, id: InvoiceId) -> Result<Option<Invoice>>;
    /// Saves a changed invoice if its `version` is still the stored one
    /// (`Conflict` otherwise), and bumps `version`.
    async fn update_invoice(&mut self, invoice: &mut Invoice) -> Result<()>;
    /// Adds a credit note (its number taken with
    /// [`FinanceRepo::next_invoice_number`] in its own series).
    async fn insert_credit_note(&mut self, note: &CreditNote) -> Result<()>;
    /// Adds a payment with its allocations.
    async fn insert_payment(&mut self, payment: &Payment) -> Result<()>;
    /// The payment of `tenant` with this id, with its allocations in order.
    async fn get_payment(&mut self, tenant: TenantId, id: PaymentId) -> Result<Option<Payment>>;
    /// Adds a refund and moves its payment's refunded total from `before`
    /// to `before + amount`; `Conflict` if another refund changed it first.
    async fn insert_refund(&mut self, refund: &Refund, before: Money) -> Result<()>;
    /// Adds an exchange rate; `Conflict` for a second rate of the same
    /// pair, day and source.
    async fn insert_exchange_rate(&mut self, rate: &ExchangeRate) -> Result<()>;
    /// The rate of `base → quote` in force on `on`: the latest effective on
    /// or before that day (the latest entered wins a tie).
    async fn exchange_rate_on(
        &mut self,
        tenant: TenantId,
        base: Currency,
        quote: Currency,
        on: NaiveDate,
    ) -> Result<Option<ExchangeRate>>;
    /// Adds a tenant tax rate; `Conflict` for a code already used.
    async fn insert_tax_rate(&mut self, rate: &TenantTaxRate) -> Result<()>;
    /// The tenant's tax rates, by code.
    async fn tax_rates(&mut self, tenant: TenantId) -> Result<Vec<TenantTaxRate>>;
    /// The tenant's tax rate with this code.
    async fn tax_rate(&mut self, tenant: TenantId, code: &str) -> Result<Option<TenantTaxRate>>;
    /// The invoices in `scope` that pass `filter`, in `(created_at, id)`
    /// order; the branch scope is applied in the query.
    async fn list_invoices(
        &mut self,
        scope: &Scope,
        filter: &InvoiceFilter,
        page: PageRequest,
    ) -> Result<Page<Invoice>>;
    /// The payments in `scope` that pass `filter`, with their allocations.
    async fn list_payments(
        &mut self,
        scope: &Scope,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<Payment>>;
    /// One client's sums per currency, over the records in `scope`.
    async fn client_totals(&mut self, scope: &Scope, client: ClientId)
    -> Result<Vec<ClientTotals>>;
    /// The payables recorded for `booking`'s items, by item.
    async fn payables_of_booking(
        &mut self,
        tenant: TenantId,
        booking: BookingId,
    ) -> Result<Vec<Payable>>;
    /// Adds a payable; `Conflict` if the item has one already.
    async fn insert_payable(&mut self, payable: &Payable) -> Result<()>;
    /// The payable of `tenant` with this id.
    async fn get_payable(&mut self, tenant: TenantId, id: PayableId) -> Result<Option<Payable>>;
    /// Saves a payable's paid amount if its `version` is still the stored
    /// one (`Conflict` otherwise), and bumps `version`.
    async fn update_payable(&mut self, payable: &mut Payable) -> Result<()>;
    /// The payables in `scope` that pass `filter`.
    async fn list_payables(
        &mut self,
        scope: &Scope,
        filter: &PayableFilter,
        page: PageRequest,
    ) -> Result<Page<Payable>>;
    /// Adds a supplier payment with its allocations.
    async fn insert_supplier_payment(&mut self, payment: &SupplierPayment) -> Result<()>;
    /// The supplier payment of `tenant` with this id.
    async fn get_supplier_payment(
        &mut self,
        tenant: TenantId,
        id: SupplierPaymentId,
    ) -> Result<Option<SupplierPayment>>;
    /// The ledger lines of `account` in `scope` posted in `[from, to)`, in
    /// posting order.
    async fn posted_lines(
        &mut self,
        scope: &Scope,
        account: crate::domain::finance::Account,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<PostedLine>>;
    /// Posts a journal (checked with [`Journal::check`]).
    async fn post_journal(&mut self, journal: &Journal) -> Result<()>;
    /// Every ledger line of `tenant`, in posting order (for balance checks
    /// and reports).
    async fn ledger_lines(&mut self, tenant: TenantId) -> Result<Vec<LedgerLine>>;
    // --- documents follow-ups (issue 8) ---
    /// The credit note of `tenant` with this id (for its PDF).
    async fn get_credit_note(
        &mut self,
        tenant: TenantId,
        id: crate::id::CreditNoteId,
    ) -> Result<Option<CreditNote>>;
}
