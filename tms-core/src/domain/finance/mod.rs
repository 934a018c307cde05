//! Finance (issue 7): exchange and tax rates, invoices, credit notes,
//! payments, refunds and the double-entry ledger. Pure: no I/O.

mod invoice;
mod ledger;
mod payable;
mod rate;
mod rounding;

pub use invoice::{
    Allocation, CreditNote, Invoice, InvoiceLine, InvoiceNumber, InvoiceSeries, InvoiceStatus,
    LineAmounts, Payment, PaymentMethod, Refund, RefundSplit, Totals,
};
pub use ledger::{
    Account, LedgerLine, Side, balance, balanced, credit_journal, issue_journal, payable_journal,
    payment_journal, refund_journal, supplier_payment_journal, void_journal,
};
pub use payable::{Payable, PayableAllocation, SupplierPayment};
pub use rate::{Conversion, ExchangeRate, MAX_RATE_DECIMALS, Rate, TaxRate, TenantTaxRate};
pub use rounding::Rounding;
