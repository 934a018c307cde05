//! Invoices, credit notes, payments and refunds: amounts and states.
//!
//! # Invoice states
//!
//! ```text
//!  draft ──issue──► issued ──pay──► partially_paid ──pay──► paid
//!                     │  ▲               │   ▲                │
//!                     │  └───refund──────┘   └────refund──────┘
//!                     └──void (nothing paid, nothing credited)──► void
//! ```
//!
//! - Lines change only in `draft`. Issuing assigns the number and freezes
//!   the invoice: a correction afterwards is a [`CreditNote`].
//! - Open amount = total − credited − (paid − refunded). Payments and
//!   credit notes never take it below zero; refunds raise it again.
//! - Tax is computed per line, rounded half-up (see [`super::TaxRate`]):
//!   `tax = round_half_up(quantity × unit_price × basis_points / 10 000)`
//!   in minor units; the totals are sums of the rounded lines, so every
//!   printed line adds up to the printed total. A line names the tenant's
//!   tax rate by code when it came from one, and keeps the rate itself.

use std::fmt;

use chrono::{DateTime, Utc};

use super::TaxRate;
use crate::error::{Error, Result};
use crate::id::{
    BookingId, BranchId, ClientId, CreditNoteId, InvoiceId, PaymentId, RefundId, TenantId,
};
use crate::money::{Currency, Money};

/// Where an invoice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Being prepared; no number; lines may change.
    Draft,
    /// Numbered and sent; nothing paid yet.
    Issued,
    /// Some of it is paid.
    PartiallyPaid,
    /// Nothing open.
    Paid,
    /// Cancelled after issue (the number stays used).
    Void,
}

impl InvoiceStatus {
    /// A stable name for storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::PartiallyPaid => "partially_paid",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    /// The inverse of [`InvoiceStatus::as_str`].
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw {
            "draft" => InvoiceStatus::Draft,
            "issued" => InvoiceStatus::Issued,
            "partially_paid" => InvoiceStatus::PartiallyPaid,
            "paid" => InvoiceStatus::Paid,
            "void" => InvoiceStatus::Void,
            _ => return Err(Error::invalid("status", "is not an invoice status")),
        })
    }

    /// Whether payments, refunds and credit notes may touch it.
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            InvoiceStatus::Issued | InvoiceStatus::PartiallyPaid | InvoiceStatus::Paid
        )
    }
}

/// A series of invoice numbers: 1 to 10 upper-case letters or digits
/// (`INV`, `CN`, `B2`). Numbers run gap-free per tenant and series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceSeries(String);

impl InvoiceSeries {
    /// The default series of invoices.
    pub fn invoices() -> Self {
        Self("INV".to_owned())
    }

    /// The default series of credit notes.
    pub fn credit_notes() -> Self {
        Self("CN".to_owned())
    }

    /// Checks a series name.
    pub fn parse(raw: &str) -> Result<Self> {
        let ok = (1..=10).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "series",
                "must be 1 to 10 letters A-Z or digits",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An assigned number: `INV-000042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceNumber {
    /// The series.
    pub series: InvoiceSeries,
    /// 1, 2, 3, … without gaps within the series.
    pub number: u64,
}

impl fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:06}", self.series.as_str(), self.number)
    }
}

/// One line of an invoice, as entered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvoiceLine {
    /// What is billed, 1 to 500 characters.
    pub description: String,
    /// How many, 1 to 100 000.
    pub quantity: i64,
    /// The price of one, before tax; not negative.
    pub unit_price: Money,
    /// The tax rate applied to the line.
    pub tax_rate: TaxRate,
    /// The code of the tenant's tax rate ([`super::TenantTaxRate`]) the
    /// rate came from; `None` for a rate given only as basis points (and for
    /// lines stored before tax codes existed, hence the serde default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_code: Option<String>,
}

/// A line's computed amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    /// quantity × unit price, exact.
    pub net: Money,
    /// Tax on `net`, rounded half-up per line.
    pub tax: Money,
    /// `net + tax`.
    pub gross: Money,
}

impl InvoiceLine {
    /// Checks the line and computes its amounts.
    pub fn amounts(&self) -> Result<LineAmounts> {
        let len = self.description.trim().chars().count();
        if len == 0 || len > 500 {
            return Err(Error::invalid("description", "must be 1 to 500 characters"));
        }
        if !(1..=100_000).contains(&self.quantity) {
            return Err(Error::invalid("quantity", "must be 1 to 100000"));
        }
        if self.unit_price.is_negative() {
            return Err(Error::invalid("unit_price", "must not be negative"));
        }
        let net = self.unit_price.checked_mul(self.quantity)?;
        let tax = self.tax_rate.tax_on(net)?;
        Ok(LineAmounts {
            net,
            tax,
            gross: net.checked_add(tax)?,
        })
    }
}

/// An invoice's totals: sums of the rounded lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Sum of line nets.
    pub net: Money,
    /// Sum of line taxes.
    pub tax: Money,
    /// `net + tax`.
    pub total: Money,
}

impl Totals {
    /// The totals of `lines`, all in `currency`; at least one line.
    pub fn of(currency: Currency, lines: &[InvoiceLine]) -> Result<Totals> {
        if lines.is_empty() || lines.len() > 500 {
            return Err(Error::invalid("lines", "must have 1 to 500 lines"));
        }
        let mut net = Money::zero(currency);
        let mut tax = Money::zero(currency);
        for line in lines {
            if line.unit_price.currency() != currency {
                return Err(Error::invalid(
                    "lines",
                    format!("every line must be in {currency}"),
                ));
            }
            let a = line.amounts()?;
            net = net.checked_add(a.net)?;
            tax = tax.checked_add(a.tax)?;
        }
        Ok(Totals {
            net,
            tax,
            total: net.checked_add(tax)?,
        })
    }
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Its id.
    pub id: InvoiceId,
    /// Whose invoice.
    pub tenant_id: TenantId,
    /// The branch that bills.
    pub branch_id: BranchId,
    /// Who is billed.
    pub client_id: ClientId,
    /// The booking billed, if any.
    pub booking_id: Option<BookingId>,
    /// The series its number will come from.
    pub series: InvoiceSeries,
    /// Assigned on issue.
    pub number: Option<u64>,
    /// Where it is.
    pub status: InvoiceStatus,
    /// The invoice currency; every line and payment is in it.
    pub currency: Currency,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of line nets.
    pub net: Money,
    /// Sum of line taxes.
    pub tax: Money,
    /// `net + tax`.
    pub total: Money,
    /// Allocated payments, gross of refunds.
    pub paid: Money,
    /// Refunds of allocated payments.
    pub refunded: Money,
    /// Credit notes against it.
    pub credited: Money,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl Invoice {
    /// A new draft with totals computed from `lines`.
    #[allow(clippy::too_many_arguments)]
    pub fn draft(
        id: InvoiceId,
        tenant_id: TenantId,
        branch_id: BranchId,
        client_id: ClientId,
        booking_id: Option<BookingId>,
        series: InvoiceSeries,
        currency: Currency,
        lines: Vec<InvoiceLine>,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let totals = Totals::of(currency, &lines)?;
        let zero = Money::zero(currency);
        Ok(Self {
            id,
            tenant_id,
            branch_id,
            client_id,
            booking_id,
            series,
            number: None,
            status: InvoiceStatus::Draft,
            currency,
            lines,
            net: totals.net,
            tax: totals.tax,
            total: totals.total,
            paid: zero,
            refunded: zero,
            credited: zero,
            issued_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The number as printed, once issued.
    pub fn number(&self) -> Option<InvoiceNumber> {
        self.number.map(|number| InvoiceNumber {
            series: self.series.clone(),
            number,
        })
    }

    /// What the client still owes: total − credited − (paid − refunded).
    pub fn open_amount(&self) -> Result<Money> {
        let net_paid = self.paid.checked_sub(self.refunded)?;
        self.total.checked_sub(self.credited)?.checked_sub(net_paid)
    }

    /// Replaces the lines of a draft.
    pub fn replace_lines(&mut self, lines: Vec<InvoiceLine>, now: DateTime<Utc>) -> Result<()> {
        self.expect(&[InvoiceStatus::Draft], "change")?;
        let totals = Totals::of(self.currency, &lines)?;
        self.lines = lines;
        self.net = totals.net;
        self.tax = totals.tax;
        self.total = totals.total;
        self.updated_at = now;
        Ok(())
    }

    /// Draft → issued with `number`.
    pub fn issue(&mut self, number: u64, now: DateTime<Utc>) -> Result<()> {
        self.expect(&[InvoiceStatus::Draft], "issue")?;
        if self.total.is_zero() {
            return Err(Error::invalid(
                "lines",
                "an invoice of zero cannot be issued",
            ));
        }
        self.number = Some(number);
        self.status = InvoiceStatus::Issued;
        self.issued_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// Allocates `amount` of a payment; never beyond the open amount.
    pub fn allocate(&mut self, amount: Money, now: DateTime<Utc>) -> Result<()> {
        self.expect_live("pay")?;
        self.positive_within_open(amount, "amount")?;
        self.paid = self.paid.checked_add(amount)?;
        self.settle(now)
    }

    /// Gives back `amount` of its allocated payments (a refund).
    pub fn unallocate(&mut self, amount: Money, now: DateTime<Utc>) -> Result<()> {
        self.expect_live("refund")?;
        let net_paid = self.paid.checked_sub(self.refunded)?;
        if !amount.is_zero() && (amount.is_negative() || amount.try_cmp(&net_paid)?.is_gt()) {
            return Err(Error::invalid(
                "amount",
                "exceeds what was paid on the invoice",
            ));
        }
        self.refunded = self.refunded.checked_add(amount)?;
        self.settle(now)
    }

    /// Credits `amount` (a credit note); never beyond the open amount —
    /// refund a paid part first.
    pub fn credit(&mut self, amount: Money, now: DateTime<Utc>) -> Result<()> {
        self.expect_live("credit")?;
        self.positive_within_open(amount, "amount")?;
        self.credited = self.credited.checked_add(amount)?;
        self.settle(now)
    }

    /// Issued (or paid, partially paid) → void, only while no payment stays
    /// allocated to it (paid − refunded is zero) and no credit note
    /// references it: the void journal then reverses exactly the issue
    /// journal and the receivable account keeps matching open invoices.
    pub fn void(&mut self, now: DateTime<Utc>) -> Result<()> {
        match self.status {
            InvoiceStatus::Draft => {
                return Err(Error::conflict(
                    "a draft is not voided: it has no number; delete or change it instead",
                ));
            }
            InvoiceStatus::Void => {
                return Err(Error::conflict("the invoice is already void"));
            }
            _ => {}
        }
        if !self.paid.checked_sub(self.refunded)?.is_zero() {
            return Err(Error::conflict(
                "payments are allocated to this invoice: refund or unallocate them first, then void it",
            ));
        }
        if !self.credited.is_zero() {
            return Err(Error::conflict(
                "credit notes reference this invoice: credit the rest with a credit note instead of voiding it",
            ));
        }
        self.status = InvoiceStatus::Void;
        self.updated_at = now;
        Ok(())
    }

    fn positive_within_open(&self, amount: Money, field: &'static str) -> Result<()> {
        if amount.is_negative() || amount.is_zero() {
            return Err(Error::invalid(field, "must be positive"));
        }
        if amount.try_cmp(&self.open_amount()?)?.is_gt() {
            return Err(Error::invalid(field, "exceeds the invoice's open amount"));
        }
        Ok(())
    }

    fn settle(&mut self, now: DateTime<Utc>) -> Result<()> {
        let open = self.open_amount()?;
        let net_paid = self.paid.checked_sub(self.refunded)?;
        self.status = if open.is_zero() {
            InvoiceStatus::Paid
        } else if net_paid.is_zero() {
            InvoiceStatus::Issued
        } else {
            InvoiceStatus::PartiallyPaid
        };
        self.updated_at = now;
        Ok(())
    }

    fn expect_live(&self, what: &str) -> Result<()> {
        self.expect(
            &[
                InvoiceStatus::Issued,
                InvoiceStatus::PartiallyPaid,
                InvoiceStatus::Paid,
            ],
            what,
        )
    }

    fn expect(&self, allowed: &[InvoiceStatus], what: &str) -> Result<()> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(Error::conflict(format!(
                "cannot {what} an invoice that is {}",
                self.status.as_str()
            )))
        }
    }
}

/// A credit note: a correction of an issued invoice, numbered in its own
/// series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNote {
    /// Its id.
    pub id: CreditNoteId,
    /// Whose.
    pub tenant_id: TenantId,
    /// The invoice's branch.
    pub branch_id: BranchId,
    /// The invoice it corrects.
    pub invoice_id: InvoiceId,
    /// Its series.
    pub series: InvoiceSeries,
    /// Its number.
    pub number: u64,
    /// Net amount credited.
    pub net: Money,
    /// Tax credited.
    pub tax: Money,
    /// Why, 1 to 500 characters.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl CreditNote {
    /// `net + tax`.
    pub fn total(&self) -> Result<Money> {
        self.net.checked_add(self.tax)
    }
}

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Cash at a branch.
    Cash,
    /// A bank transfer.
    BankTransfer,
    /// A card.
    Card,
    /// A cheque.
    Cheque,
}

impl PaymentMethod {
    /// A stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Card => "card",
            PaymentMethod::Cheque => "cheque",
        }
    }

    /// The inverse of [`PaymentMethod::as_str`].
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw {
            "cash" => PaymentMethod::Cash,
            "bank_transfer" => PaymentMethod::BankTransfer,
            "card" => PaymentMethod::Card,
            "cheque" => PaymentMethod::Cheque,
            _ => return Err(Error::invalid("method", "is not a payment method")),
        })
    }
}

/// A part of a payment applied to one invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// How much; positive.
    pub amount: Money,
}

/// A payment received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Its id.
    pub id: PaymentId,
    /// Whose.
    pub tenant_id: TenantId,
    /// The branch that received it.
    pub branch_id: BranchId,
    /// Who paid.
    pub client_id: ClientId,
    /// How much; positive.
    pub amount: Money,
    /// How.
    pub method: PaymentMethod,
    /// The bank's or card terminal's reference, up to 100 characters.
    pub reference: Option<String>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// Where it went, in order; their sum never exceeds `amount`. The rest
    /// is the client's advance.
    pub allocations: Vec<Allocation>,
    /// Refunded so far.
    pub refunded: Money,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// Where a refund's money comes from: first the unallocated advance, then
/// the allocations from the last to the first (so the invoice paid last is
/// reopened first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundSplit {
    /// Taken from the client's advance.
    pub advance: Money,
    /// Taken back from invoices.
    pub invoices: Vec<Allocation>,
}

impl Payment {
    /// Checks amounts, allocations and the reference.
    pub fn validate(&self) -> Result<()> {
        if self.amount.is_negative() || self.amount.is_zero() {
            return Err(Error::invalid("amount", "must be positive"));
        }
        if self
            .reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > 100)
        {
            return Err(Error::invalid(
                "reference",
                "must be at most 100 characters",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.allocations {
            if a.amount.is_negative() || a.amount.is_zero() {
                return Err(Error::invalid("allocations", "amounts must be positive"));
            }
            if !seen.insert(a.invoice_id) {
                return Err(Error::invalid("allocations", "one allocation per invoice"));
            }
        }
        if self.allocated()?.try_cmp(&self.amount)?.is_gt() {
            return Err(Error::invalid("allocations", "exceed the payment"));
        }
        Ok(())
    }

    /// The sum of the allocations.
    pub fn allocated(&self) -> Result<Money> {
        Money::sum(
            self.amount.currency(),
            self.allocations.iter().map(|a| a.amount),
        )
    }

    /// What may still be refunded: amount − refunded.
    pub fn refundable(&self) -> Result<Money> {
        self.amount.checked_sub(self.refunded)
    }

    /// Splits a refund of `amount` given what was refunded before; an
    /// error when it exceeds what was paid net of earlier refunds.
    pub fn split_refund(&self, amount: Money) -> Result<RefundSplit> {
        if amount.is_negative() || amount.is_zero() {
            return Err(Error::invalid("amount", "must be positive"));
        }
        if amount.try_cmp(&self.refundable()?)?.is_gt() {
            return Err(Error::invalid(
                "amount",
                "exceeds what was paid net of earlier refunds",
            ));
        }
        let currency = self.amount.currency();
        // Buckets in refund order, each with what it held originally.
        let advance = self.amount.checked_sub(self.allocated()?)?;
        let mut buckets = vec![(None, advance)];
        buckets.extend(
            self.allocations
                .iter()
                .rev()
                .map(|a| (Some(a.invoice_id), a.amount)),
        );
        // Skip what earlier refunds consumed, then take `amount`.
        let mut skip = self.refunded.minor_units();
        let mut want = amount.minor_units();
        let mut split = RefundSplit {
            advance: Money::zero(currency),
            invoices: Vec::new(),
        };
        for (invoice, held) in buckets {
            let mut held = held.minor_units();
            let skipped = skip.min(held);
            skip -= skipped;
            held -= skipped;
            let take = want.min(held);
            if take == 0 {
                continue;
            }
            want -= take;
            let take = Money::from_minor(take, currency);
            match invoice {
                None => split.advance = take,
                Some(invoice_id) => split.invoices.push(Allocation {
                    invoice_id,
                    amount: take,
                }),
            }
        }
        Ok(split)
    }
}

/// A refund of (part of) a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Its id.
    pub id: RefundId,
    /// Whose.
    pub tenant_id: TenantId,
    /// The payment's branch.
    pub branch_id: BranchId,
    /// The payment refunded.
    pub payment_id: PaymentId,
    /// How much.
    pub amount: Money,
    /// Why, 1 to 500 characters.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sar(minor: i64) -> Money {
        Money::from_minor(minor, Currency::SAR)
    }

    fn line(qty: i64, price: i64, bp: u32) -> InvoiceLine {
        InvoiceLine {
            description: "Makkah hotel, 4 nights".into(),
            quantity: qty,
            unit_price: sar(price),
            tax_rate: TaxRate::from_basis_points(bp).unwrap(),
            tax_code: None,
        }
    }

    fn draft(lines: Vec<InvoiceLine>) -> Invoice {
        Invoice::draft(
            InvoiceId::new(),
            TenantId::new(),
            BranchId::new(),
            ClientId::new(),
            None,
            InvoiceSeries::invoices(),
            Currency::SAR,
            lines,
            Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn tax_is_rounded_per_line_and_totals_add_the_rounded_lines() {
        // Three lines of 0.10 at 15 %: 0.015 → 0.02 each, so tax 0.06
        // (rounding the sum, 0.045, would give 0.05).
        let inv = draft(vec![
            line(1, 10, 1500),
            line(1, 10, 1500),
            line(1, 10, 1500),
        ]);
        assert_eq!((inv.net, inv.tax, inv.total), (sar(30), sar(6), sar(36)));
        let inv = draft(vec![line(3, 100_000, 1500), line(2, 2_500, 0)]);
        assert_eq!(inv.total, sar(300_000 + 45_000 + 5_000));
    }

    #[test]
    fn bad_lines_are_rejected() {
        for bad in [line(0, 10, 0), line(1, -1, 0), line(100_001, 1, 0)] {
            assert!(Totals::of(Currency::SAR, &[bad]).is_err());
        }
        assert!(Totals::of(Currency::SAR, &[]).is_err());
        let mut pkr = line(1, 10, 0);
        pkr.unit_price = Money::from_minor(10, Currency::PKR);
        assert!(Totals::of(Currency::SAR, &[pkr]).is_err());
    }

    #[test]
    fn an_issued_invoice_is_immutable_and_moves_through_its_states() {
        let mut inv = draft(vec![line(1, 1_000, 0)]);
        assert!(
            inv.allocate(sar(1), Utc::now()).is_err(),
            "drafts take no payments"
        );
        inv.issue(7, Utc::now()).unwrap();
        assert_eq!(inv.number().unwrap().to_string(), "INV-000007");
        assert!(inv.replace_lines(vec![line(1, 1, 0)], Utc::now()).is_err());
        assert!(inv.issue(8, Utc::now()).is_err());
        inv.allocate(sar(400), Utc::now()).unwrap();
        assert_eq!(inv.status, InvoiceStatus::PartiallyPaid);
        assert!(
            inv.allocate(sar(601), Utc::now()).is_err(),
            "never beyond open"
        );
        inv.allocate(sar(600), Utc::now()).unwrap();
        assert_eq!(inv.status, InvoiceStatus::Paid);
        assert!(
            inv.void(Utc::now()).is_err(),
            "paid invoices are not voided"
        );
        inv.unallocate(sar(1_000), Utc::now()).unwrap();
        assert_eq!(inv.status, InvoiceStatus::Issued);
        assert!(inv.unallocate(sar(1), Utc::now()).is_err());
        // Fully refunded: nothing stays allocated, so it may be voided.
        inv.void(Utc::now()).unwrap();
        assert_eq!(inv.status, InvoiceStatus::Void);
        assert!(inv.void(Utc::now()).is_err(), "void once");
    }

    #[test]
    fn an_invoice_with_allocated_payments_says_to_refund_first() {
        let mut inv = draft(vec![line(1, 1_000, 0)]);
        inv.issue(3, Utc::now()).unwrap();
        inv.allocate(sar(1), Utc::now()).unwrap();
        let err = inv.void(Utc::now()).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
        assert!(err.to_string().contains("refund or unallocate"), "{err}");
        assert_eq!(inv.status, InvoiceStatus::PartiallyPaid, "unchanged");
    }

    #[test]
    fn credit_notes_reduce_the_open_amount_and_void_needs_a_clean_invoice() {
        let mut inv = draft(vec![line(1, 1_000, 0)]);
        inv.issue(1, Utc::now()).unwrap();
        assert!(inv.credit(sar(1_001), Utc::now()).is_err());
        inv.credit(sar(1_000), Utc::now()).unwrap();
        assert_eq!(inv.status, InvoiceStatus::Paid);
        assert!(inv.void(Utc::now()).is_err());
        let mut clean = draft(vec![line(1, 1_000, 0)]);
        assert!(
            clean.void(Utc::now()).is_err(),
            "drafts are deleted, not voided"
        );
        clean.issue(2, Utc::now()).unwrap();
        clean.void(Utc::now()).unwrap();
        assert_eq!(clean.status, InvoiceStatus::Void);
        assert!(clean.allocate(sar(1), Utc::now()).is_err());
    }

    #[test]
    fn refunds_come_from_the_advance_then_the_last_invoice() {
        let (a, b) = (InvoiceId::new(), InvoiceId::new());
        let mut p = Payment {
            id: PaymentId::new(),
            tenant_id: TenantId::new(),
            branch_id: BranchId::new(),
            client_id: ClientId::new(),
            amount: sar(1_000),
            method: PaymentMethod::Cash,
            reference: None,
            received_at: Utc::now(),
            allocations: vec![
                Allocation {
                    invoice_id: a,
                    amount: sar(500),
                },
                Allocation {
                    invoice_id: b,
                    amount: sar(300),
                },
            ],
            refunded: sar(0),
            created_at: Utc::now(),
        };
        p.validate().unwrap();
        let s = p.split_refund(sar(350)).unwrap();
        assert_eq!(s.advance, sar(200));
        assert_eq!(
            s.invoices,
            vec![Allocation {
                invoice_id: b,
                amount: sar(150)
            }]
        );
        p.refunded = sar(350);
        let s = p.split_refund(sar(650)).unwrap();
        assert_eq!(s.advance, sar(0));
        assert_eq!(
            s.invoices,
            vec![
                Allocation {
                    invoice_id: b,
                    amount: sar(150)
                },
                Allocation {
                    invoice_id: a,
                    amount: sar(500)
                },
            ]
        );
        assert!(p.split_refund(sar(651)).is_err());
        p.allocations.push(Allocation {
            invoice_id: a,
            amount: sar(1),
        });
        assert!(p.validate().is_err(), "one allocation per invoice");
    }
}
