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
    CreditNote, ExchangeRate, Invoice, InvoiceSeries, LedgerLine, Payment, Refund, balanced,
};
use crate::error::{Error, Result};
use crate::id::{BranchId, InvoiceId, JournalId, PaymentId, TenantId};
use crate::money::{Currency, Money};

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
    /// Posts a journal (checked with [`Journal::check`]).
    async fn post_journal(&mut self, journal: &Journal) -> Result<()>;
    /// Every ledger line of `tenant`, in posting order (for balance checks
    /// and reports).
    async fn ledger_lines(&mut self, tenant: TenantId) -> Result<Vec<LedgerLine>>;
}
