//! Supplier payables: what the agency owes suppliers for the cost side of
//! booking items, and the payments that settle them.
//!
//! - A payable is recorded once per booking item that names a supplier and
//!   costs something, when the booking is confirmed (or later): its amount
//!   is the item's `supplier_cost`, in the cost's currency.
//! - A payment to a supplier is allocated in full to open payables of that
//!   supplier in its currency; never beyond what is open on each.

use chrono::{DateTime, Utc};

use super::PaymentMethod;
use crate::error::{Error, Result};
use crate::id::{BookingId, BranchId, PayableId, SupplierPaymentId, TenantId};
use crate::money::Money;

/// What the agency owes one supplier for one booking item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payable {
    /// Its id.
    pub id: PayableId,
    /// Whose books.
    pub tenant_id: TenantId,
    /// The booking's branch.
    pub branch_id: BranchId,
    /// The booking.
    pub booking_id: BookingId,
    /// The item's position in the booking (0-based).
    pub item: u32,
    /// The supplier, as the booking item names it.
    pub supplier: String,
    /// The item's description.
    pub description: String,
    /// The item's supplier cost.
    pub amount: Money,
    /// Paid so far.
    pub paid: Money,
    /// When recorded.
    pub created_at: DateTime<Utc>,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl Payable {
    /// amount − paid.
    pub fn open_amount(&self) -> Result<Money> {
        self.amount.checked_sub(self.paid)
    }

    /// Pays `amount` of it; positive, never beyond the open amount.
    ///
    /// ```
    /// # use tms_core::domain::finance::Payable;
    /// # use tms_core::money::{Currency, Money};
    /// # use tms_core::id::*;
    /// let sar = |m| Money::from_minor(m, Currency::SAR);
    /// let mut p = Payable {
    ///     id: PayableId::new(), tenant_id: TenantId::new(), branch_id: BranchId::new(),
    ///     booking_id: BookingId::new(), item: 0, supplier: "Hilton Makkah".into(),
    ///     description: "4 nights".into(), amount: sar(10_000), paid: sar(0),
    ///     created_at: chrono::Utc::now(), version: 1,
    /// };
    /// p.pay(sar(4_000)).unwrap();
    /// assert_eq!(p.open_amount().unwrap(), sar(6_000));
    /// assert!(p.pay(sar(6_001)).is_err());
    /// ```
    pub fn pay(&mut self, amount: Money) -> Result<()> {
        if amount.is_negative() || amount.is_zero() {
            return Err(Error::invalid("allocations", "amounts must be positive"));
        }
        if amount.try_cmp(&self.open_amount()?)?.is_gt() {
            return Err(Error::invalid(
                "allocations",
                "exceed what is open on a payable",
            ));
        }
        self.paid = self.paid.checked_add(amount)?;
        Ok(())
    }
}

/// A part of a supplier payment applied to one payable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayableAllocation {
    /// The payable.
    pub payable_id: PayableId,
    /// How much; positive.
    pub amount: Money,
}

/// A payment the agency made to a supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierPayment {
    /// Its id.
    pub id: SupplierPaymentId,
    /// Whose books.
    pub tenant_id: TenantId,
    /// The paying branch.
    pub branch_id: BranchId,
    /// Who was paid.
    pub supplier: String,
    /// How much.
    pub amount: Money,
    /// How.
    pub method: PaymentMethod,
    /// The bank's reference, up to 100 characters.
    pub reference: Option<String>,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
    /// The payables it settles; their sum is the amount.
    pub allocations: Vec<PayableAllocation>,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

impl SupplierPayment {
    /// Checks the supplier, amounts, allocations and reference.
    pub fn validate(&self) -> Result<()> {
        let supplier = self.supplier.trim();
        if supplier.is_empty()
            || supplier.chars().count() > 200
            || supplier.chars().any(char::is_control)
        {
            return Err(Error::invalid("supplier", "must have 1 to 200 characters"));
        }
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
        if self.allocations.is_empty() || self.allocations.len() > 500 {
            return Err(Error::invalid("allocations", "must name 1 to 500 payables"));
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.allocations {
            if a.amount.is_negative() || a.amount.is_zero() {
                return Err(Error::invalid("allocations", "amounts must be positive"));
            }
            if !seen.insert(a.payable_id) {
                return Err(Error::invalid("allocations", "one allocation per payable"));
            }
        }
        let allocated = Money::sum(
            self.amount.currency(),
            self.allocations.iter().map(|a| a.amount),
        )?;
        if allocated != self.amount {
            return Err(Error::invalid(
                "allocations",
                "must add up to the amount paid",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn sar(minor: i64) -> Money {
        Money::from_minor(minor, Currency::SAR)
    }

    fn payment(amount: i64, allocations: &[i64]) -> SupplierPayment {
        SupplierPayment {
            id: SupplierPaymentId::new(),
            tenant_id: TenantId::new(),
            branch_id: BranchId::new(),
            supplier: "Saudia".into(),
            amount: sar(amount),
            method: PaymentMethod::BankTransfer,
            reference: None,
            paid_at: Utc::now(),
            allocations: allocations
                .iter()
                .map(|a| PayableAllocation {
                    payable_id: PayableId::new(),
                    amount: sar(*a),
                })
                .collect(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn allocations_must_add_up_to_the_payment() {
        payment(300, &[100, 200]).validate().unwrap();
        assert!(payment(300, &[100, 100]).validate().is_err());
        assert!(payment(300, &[]).validate().is_err());
        assert!(payment(0, &[]).validate().is_err());
        assert!(payment(100, &[150, -50]).validate().is_err());
        let mut blank = payment(100, &[100]);
        blank.supplier = "  ".into();
        assert!(blank.validate().is_err());
    }
}
