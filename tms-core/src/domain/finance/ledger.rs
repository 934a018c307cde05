//! Double-entry ledger lines for every financial event.
//!
//! | event        | debit                          | credit                          |
//! |--------------|--------------------------------|---------------------------------|
//! | issue        | receivable (total)             | revenue (net), tax payable (tax) |
//! | payment      | cash (amount)                  | receivable (allocated), client advances (rest) |
//! | refund       | receivable (per invoice), client advances (advance part) | cash (amount) |
//! | credit note  | revenue (net), tax payable (tax) | receivable (total)            |
//! | void         | revenue (net), tax payable (tax) | receivable (total)            |
//! | payable      | supplier costs (item cost)     | supplier payables (item cost)   |
//! | supplier payment | supplier payables (amount) | cash (amount)                   |
//!
//! So the receivable account's balance is always the sum of open invoice
//! amounts, cash is payments minus refunds, and every journal balances per
//! currency. Amounts are positive; the side says which way they go.

use std::collections::BTreeMap;

use super::{CreditNote, Invoice, Payable, Payment, Refund, RefundSplit, SupplierPayment};
use crate::error::{Error, Result};
use crate::money::{Currency, Money};

/// The accounts of the agency's ledger.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// Money clients owe on issued invoices (asset).
    Receivable,
    /// Money received and not refunded (asset).
    Cash,
    /// Sales, net of tax (income).
    Revenue,
    /// Tax collected for the authority (liability).
    TaxPayable,
    /// Payments not yet allocated to an invoice (liability).
    ClientAdvances,
    /// What booking items cost the agency (expense).
    SupplierCosts,
    /// What the agency owes suppliers (liability).
    SupplierPayables,
}

impl Account {
    /// A stable name for storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Account::Receivable => "receivable",
            Account::Cash => "cash",
            Account::Revenue => "revenue",
            Account::TaxPayable => "tax_payable",
            Account::ClientAdvances => "client_advances",
            Account::SupplierCosts => "supplier_costs",
            Account::SupplierPayables => "supplier_payables",
        }
    }

    /// The inverse of [`Account::as_str`].
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw {
            "receivable" => Account::Receivable,
            "cash" => Account::Cash,
            "revenue" => Account::Revenue,
            "tax_payable" => Account::TaxPayable,
            "client_advances" => Account::ClientAdvances,
            "supplier_costs" => Account::SupplierCosts,
            "supplier_payables" => Account::SupplierPayables,
            _ => return Err(Error::invalid("account", "is not a ledger account")),
        })
    }
}

/// Which column of the ledger a line goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Left column.
    Debit,
    /// Right column.
    Credit,
}

impl Side {
    /// A stable name for storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }

    /// The inverse of [`Side::as_str`].
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "debit" => Ok(Side::Debit),
            "credit" => Ok(Side::Credit),
            _ => Err(Error::invalid("side", "must be debit or credit")),
        }
    }
}

/// One line of a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerLine {
    /// The account.
    pub account: Account,
    /// Debit or credit.
    pub side: Side,
    /// How much; positive.
    pub amount: Money,
}

impl LedgerLine {
    /// `+amount` for a debit, `-amount` for a credit, in minor units.
    pub fn signed_minor(&self) -> i128 {
        let v = i128::from(self.amount.minor_units());
        match self.side {
            Side::Debit => v,
            Side::Credit => -v,
        }
    }
}

/// Whether debits equal credits in every currency of `lines`.
pub fn balanced<'a>(lines: impl IntoIterator<Item = &'a LedgerLine>) -> bool {
    let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
    for line in lines {
        *sums.entry(line.amount.currency()).or_default() += line.signed_minor();
    }
    sums.values().all(|s| *s == 0)
}

/// The balance (debits − credits) of `account` in `currency`.
pub fn balance<'a>(
    lines: impl IntoIterator<Item = &'a LedgerLine>,
    account: Account,
    currency: Currency,
) -> i128 {
    lines
        .into_iter()
        .filter(|l| l.account == account && l.amount.currency() == currency)
        .map(LedgerLine::signed_minor)
        .sum()
}

/// Collects lines, dropping zero amounts, and checks the result balances.
struct Journal(Vec<LedgerLine>);

impl Journal {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn push(mut self, account: Account, side: Side, amount: Money) -> Result<Self> {
        if amount.is_negative() {
            return Err(Error::internal("a ledger amount is negative"));
        }
        if !amount.is_zero() {
            self.0.push(LedgerLine {
                account,
                side,
                amount,
            });
        }
        Ok(self)
    }

    fn done(self) -> Result<Vec<LedgerLine>> {
        if balanced(&self.0) {
            Ok(self.0)
        } else {
            Err(Error::internal("an unbalanced journal was built"))
        }
    }
}

/// The journal of issuing `invoice`.
pub fn issue_journal(invoice: &Invoice) -> Result<Vec<LedgerLine>> {
    Journal::new()
        .push(Account::Receivable, Side::Debit, invoice.total)?
        .push(Account::Revenue, Side::Credit, invoice.net)?
        .push(Account::TaxPayable, Side::Credit, invoice.tax)?
        .done()
}

/// The journal of voiding `invoice` (the issue journal reversed).
pub fn void_journal(invoice: &Invoice) -> Result<Vec<LedgerLine>> {
    Journal::new()
        .push(Account::Revenue, Side::Debit, invoice.net)?
        .push(Account::TaxPayable, Side::Debit, invoice.tax)?
        .push(Account::Receivable, Side::Credit, invoice.total)?
        .done()
}

/// The journal of a credit note.
pub fn credit_journal(note: &CreditNote) -> Result<Vec<LedgerLine>> {
    Journal::new()
        .push(Account::Revenue, Side::Debit, note.net)?
        .push(Account::TaxPayable, Side::Debit, note.tax)?
        .push(Account::Receivable, Side::Credit, note.total()?)?
        .done()
}

/// The journal of receiving `payment`.
pub fn payment_journal(payment: &Payment) -> Result<Vec<LedgerLine>> {
    let allocated = payment.allocated()?;
    Journal::new()
        .push(Account::Cash, Side::Debit, payment.amount)?
        .push(Account::Receivable, Side::Credit, allocated)?
        .push(
            Account::ClientAdvances,
            Side::Credit,
            payment.amount.checked_sub(allocated)?,
        )?
        .done()
}

/// The journal of `refund`, split by [`Payment::split_refund`].
pub fn refund_journal(refund: &Refund, split: &RefundSplit) -> Result<Vec<LedgerLine>> {
    let mut journal = Journal::new().push(Account::ClientAdvances, Side::Debit, split.advance)?;
    for a in &split.invoices {
        journal = journal.push(Account::Receivable, Side::Debit, a.amount)?;
    }
    journal
        .push(Account::Cash, Side::Credit, refund.amount)?
        .done()
}

/// The journal of recording `payables` (one event may record several, in
/// several currencies: each currency balances on its own).
pub fn payable_journal(payables: &[Payable]) -> Result<Vec<LedgerLine>> {
    let mut journal = Journal::new();
    for p in payables {
        journal = journal
            .push(Account::SupplierCosts, Side::Debit, p.amount)?
            .push(Account::SupplierPayables, Side::Credit, p.amount)?;
    }
    journal.done()
}

/// The journal of paying a supplier.
pub fn supplier_payment_journal(payment: &SupplierPayment) -> Result<Vec<LedgerLine>> {
    Journal::new()
        .push(Account::SupplierPayables, Side::Debit, payment.amount)?
        .push(Account::Cash, Side::Credit, payment.amount)?
        .done()
}

#[cfg(test)]
mod tests {
    //! The property of the issue: over any sequence of events the ledger
    //! balances and matches invoice and payment totals.

    use super::*;
    use crate::domain::finance::{Allocation, InvoiceLine, InvoiceSeries, PaymentMethod, TaxRate};
    use crate::id::{BranchId, ClientId, CreditNoteId, InvoiceId, PaymentId, RefundId, TenantId};
    use chrono::Utc;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Event {
        Draft { lines: Vec<(i64, i64, u32)> },
        Issue(usize),
        Pay { amount: i64, to: Vec<(usize, i64)> },
        Refund { payment: usize, amount: i64 },
        Credit { invoice: usize, amount: i64 },
        Void(usize),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            prop::collection::vec(
                (
                    1i64..5,
                    0i64..100_000,
                    prop::sample::select(vec![0u32, 500, 1500])
                ),
                1..4
            )
            .prop_map(|lines| Event::Draft { lines }),
            (0usize..8).prop_map(Event::Issue),
            (
                1i64..200_000,
                prop::collection::vec((0usize..8, 1i64..100_000), 0..3)
            )
                .prop_map(|(amount, to)| Event::Pay { amount, to }),
            (0usize..8, 1i64..150_000)
                .prop_map(|(payment, amount)| Event::Refund { payment, amount }),
            (0usize..8, 1i64..50_000)
                .prop_map(|(invoice, amount)| Event::Credit { invoice, amount }),
            (0usize..8).prop_map(Event::Void),
        ]
    }

    fn sar(minor: i64) -> Money {
        Money::from_minor(minor, Currency::SAR)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn the_ledger_always_balances_and_matches_the_documents(events in prop::collection::vec(event(), 1..40)) {
            let now = Utc::now();
            let (tenant, branch, client) = (TenantId::new(), BranchId::new(), ClientId::new());
            let mut invoices: Vec<Invoice> = Vec::new();
            let mut payments: Vec<Payment> = Vec::new();
            let mut ledger: Vec<LedgerLine> = Vec::new();
            let mut next_number = 0;
            for e in events {
                // Each event either fails with no effect or posts a balanced journal.
                let journal: Result<Vec<LedgerLine>> = (|| match e {
                    Event::Draft { lines } => {
                        let lines = lines.into_iter().map(|(q, p, bp)| InvoiceLine {
                            description: "Visa fee".into(),
                            quantity: q,
                            unit_price: sar(p),
                            tax_rate: TaxRate::from_basis_points(bp).unwrap_or(TaxRate::ZERO),
                            tax_code: None,
                        }).collect();
                        invoices.push(Invoice::draft(InvoiceId::new(), tenant, branch, client, None,
                            InvoiceSeries::invoices(), Currency::SAR, lines, now)?);
                        Ok(Vec::new())
                    }
                    Event::Issue(i) => {
                        let Some(inv) = invoices.get_mut(i) else { return Ok(Vec::new()) };
                        let mut next = inv.clone();
                        next.issue(next_number + 1, now)?;
                        let j = issue_journal(&next)?;
                        *inv = next;
                        next_number += 1;
                        Ok(j)
                    }
                    Event::Pay { amount, to } => {
                        let mut staged = invoices.clone();
                        let mut allocations = Vec::new();
                        for (i, a) in to {
                            let Some(inv) = staged.get_mut(i) else { continue };
                            inv.allocate(sar(a), now)?;
                            allocations.push(Allocation { invoice_id: inv.id, amount: sar(a) });
                        }
                        let p = Payment {
                            id: PaymentId::new(), tenant_id: tenant, branch_id: branch, client_id: client,
                            amount: sar(amount), method: PaymentMethod::Card, reference: None,
                            received_at: now, allocations, refunded: sar(0), created_at: now,
                        };
                        p.validate()?;
                        let j = payment_journal(&p)?;
                        invoices = staged;
                        payments.push(p);
                        Ok(j)
                    }
                    Event::Refund { payment, amount } => {
                        let Some(p) = payments.get(payment) else { return Ok(Vec::new()) };
                        let split = p.split_refund(sar(amount))?;
                        let mut staged = invoices.clone();
                        for a in &split.invoices {
                            if let Some(inv) = staged.iter_mut().find(|i| i.id == a.invoice_id) {
                                inv.unallocate(a.amount, now)?;
                            }
                        }
                        let r = Refund { id: RefundId::new(), tenant_id: tenant, branch_id: branch,
                            payment_id: p.id, amount: sar(amount), reason: "cancelled".into(), created_at: now };
                        let j = refund_journal(&r, &split)?;
                        invoices = staged;
                        if let Some(p) = payments.get_mut(payment) {
                            p.refunded = p.refunded.checked_add(sar(amount))?;
                        }
                        Ok(j)
                    }
                    Event::Credit { invoice, amount } => {
                        let Some(inv) = invoices.get_mut(invoice) else { return Ok(Vec::new()) };
                        let mut next = inv.clone();
                        next.credit(sar(amount), now)?;
                        let note = CreditNote { id: CreditNoteId::new(), tenant_id: tenant, branch_id: branch,
                            invoice_id: inv.id, series: InvoiceSeries::credit_notes(), number: 1,
                            net: sar(amount), tax: sar(0), reason: "fare difference".into(), created_at: now };
                        let j = credit_journal(&note)?;
                        *inv = next;
                        Ok(j)
                    }
                    Event::Void(i) => {
                        let Some(inv) = invoices.get_mut(i) else { return Ok(Vec::new()) };
                        let mut next = inv.clone();
                        next.void(now)?;
                        let j = void_journal(&next)?;
                        *inv = next;
                        Ok(j)
                    }
                })();
                if let Ok(j) = journal {
                    prop_assert!(balanced(&j));
                    ledger.extend(j);
                }
                prop_assert!(balanced(&ledger));
                // Receivable = what is open on live invoices.
                let open: i128 = invoices.iter().filter(|i| i.status.is_live())
                    .map(|i| i128::from(i.open_amount().unwrap().minor_units())).sum();
                prop_assert_eq!(balance(&ledger, Account::Receivable, Currency::SAR), open);
                // Cash = payments − refunds.
                let cash: i128 = payments.iter()
                    .map(|p| i128::from(p.amount.minor_units() - p.refunded.minor_units())).sum();
                prop_assert_eq!(balance(&ledger, Account::Cash, Currency::SAR), cash);
                for inv in &invoices {
                    let open = inv.open_amount().unwrap();
                    prop_assert!(!open.is_negative());
                }
            }
        }
    }

    #[test]
    fn an_unbalanced_set_is_detected_per_currency() {
        let line = |account, side, m: Money| LedgerLine {
            account,
            side,
            amount: m,
        };
        let sar_lines = [
            line(Account::Cash, Side::Debit, sar(5)),
            line(Account::Revenue, Side::Credit, sar(5)),
        ];
        assert!(balanced(&sar_lines));
        // Equal numbers in different currencies do not balance.
        let mixed = [
            line(Account::Cash, Side::Debit, sar(5)),
            line(
                Account::Revenue,
                Side::Credit,
                Money::from_minor(5, Currency::PKR),
            ),
        ];
        assert!(!balanced(&mixed));
    }
}
