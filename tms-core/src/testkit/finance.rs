//! Contract cases of the finance repository. Like the booking cases they
//! run the service over the store under test: gap-free numbering under
//! concurrent issuers, one payment per idempotency key, and a ledger that
//! balances after every event must hold on every backend.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::domain::finance::{
    Account, InvoiceLine, InvoiceStatus, PaymentMethod, TaxRate, balance, balanced,
};
use crate::domain::{BranchScope, Context, Principal, Role, Tenant};
use crate::error::Error;
use crate::id::{BranchId, ClientId, InvoiceId, UserId};
use crate::money::{Currency, Money};
use crate::ports::{IdempotencyKey, Store};
use crate::service::finance::{Finance, NewAllocation, NewExchangeRate, NewInvoice, NewPayment};
use crate::service::tenancy::Deps;

use super::{new_branch, new_tenant, now};

/// A tenant with one branch and one client in `store`, the finance service
/// over it, and a Finance user's context.
pub struct FinanceWorld {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The tenant.
    pub tenant: Tenant,
    /// Its branch.
    pub branch: BranchId,
    /// A client of the branch.
    pub client: ClientId,
    /// The service.
    pub finance: Finance,
    /// A Finance user seeing every branch.
    pub clerk: Context,
}

impl FinanceWorld {
    /// Sets up a fresh tenant, branch and client in `store`.
    pub async fn new(store: Arc<dyn Store>) -> Self {
        let tenant = new_tenant();
        let branch = new_branch(tenant.id, now());
        let mut uow = store.begin().await.expect("begin");
        uow.tenants().insert(&tenant).await.expect("tenant");
        uow.branches().insert(&branch).await.expect("branch");
        let client = super::new_client(tenant.id, branch.id, "Amina Khan");
        uow.clients().insert(&client).await.expect("client");
        uow.commit().await.expect("commit");
        let clerk = Context::new(
            Principal::user(UserId::new(), tenant.id, Role::Finance, BranchScope::All),
            now(),
        );
        Self {
            finance: Finance::new(Deps::new(store.clone())),
            store,
            branch: branch.id,
            client: client.id,
            tenant,
            clerk,
        }
    }

    /// A context of `role` seeing `branches`.
    pub fn as_role(&self, role: Role, branches: BranchScope) -> Context {
        Context::new(
            Principal::user(UserId::new(), self.tenant.id, role, branches),
            now(),
        )
    }

    /// A draft request of one line: `quantity × price` SAR at 15 % VAT.
    pub fn draft_request(&self, quantity: i64, price_minor: i64) -> NewInvoice {
        NewInvoice {
            branch_id: self.branch,
            client_id: self.client,
            booking_id: None,
            currency: Currency::SAR,
            series: None,
            lines: vec![InvoiceLine {
                description: "Umrah package, 10 nights".into(),
                quantity,
                unit_price: sar(price_minor),
                tax_rate: TaxRate::from_basis_points(1500).expect("rate"),
                tax_code: None,
            }],
        }
    }

    /// An issued invoice.
    pub async fn issued(&self, quantity: i64, price_minor: i64) -> InvoiceId {
        let draft = self
            .finance
            .create_draft(&self.clerk, self.draft_request(quantity, price_minor))
            .await
            .expect("draft");
        self.finance
            .issue(&self.clerk, draft.id)
            .await
            .expect("issue")
            .id
    }

    /// A payment request of `amount` allocated as given.
    pub fn payment(&self, amount: i64, allocations: &[(InvoiceId, i64)]) -> NewPayment {
        NewPayment {
            branch_id: self.branch,
            client_id: self.client,
            amount: sar(amount),
            method: PaymentMethod::BankTransfer,
            reference: Some("TRX-001".into()),
            allocations: allocations
                .iter()
                .map(|(invoice_id, a)| NewAllocation {
                    invoice_id: *invoice_id,
                    amount: sar(*a),
                })
                .collect(),
        }
    }

    /// Asserts the tenant's ledger balances and returns its lines' receivable
    /// and cash balances.
    pub async fn ledger(&self) -> (i128, i128) {
        let mut uow = self.store.begin().await.expect("begin");
        let lines = uow
            .finance()
            .ledger_lines(self.tenant.id)
            .await
            .expect("ledger");
        uow.rollback().await.expect("rollback");
        assert!(balanced(&lines), "the ledger balances");
        (
            balance(&lines, Account::Receivable, Currency::SAR),
            balance(&lines, Account::Cash, Currency::SAR),
        )
    }
}

fn sar(minor: i64) -> Money {
    Money::from_minor(minor, Currency::SAR)
}

/// Many concurrent issuers: numbers 1..=N, no gap, no repeat; a failed
/// issue takes no number.
pub async fn concurrent_issuers_number_invoices_without_gaps(store: Arc<dyn Store>) {
    const N: u64 = 30;
    let world = Arc::new(FinanceWorld::new(store).await);
    let mut drafts = Vec::new();
    for _ in 0..N {
        let d = world
            .finance
            .create_draft(&world.clerk, world.draft_request(1, 10_000))
            .await
            .expect("draft");
        drafts.push(d.id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for id in drafts.iter().copied() {
        let world = world.clone();
        tasks.spawn(async move { world.finance.issue(&world.clerk, id).await });
    }
    let mut numbers = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let invoice = joined.expect("task").expect("issue");
        assert_eq!(invoice.status, InvoiceStatus::Issued);
        assert!(
            numbers.insert(invoice.number.expect("numbered")),
            "no repeat"
        );
    }
    assert_eq!(numbers, (1..=N).collect::<BTreeSet<u64>>(), "no gap");
    // Issuing twice is refused and takes no number.
    let again = world.finance.issue(&world.clerk, drafts[0]).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    let next = world.issued(1, 100).await;
    let next = world
        .finance
        .get_invoice(&world.clerk, next)
        .await
        .expect("get");
    assert_eq!(next.number, Some(N + 1));
    // 30 × 115.00 + 1.15 SAR receivable, nothing paid.
    let (receivable, cash) = world.ledger().await;
    assert_eq!(receivable, i128::from(N) * 11_500 + 115);
    assert_eq!(cash, 0);
}

/// 100 concurrent identical payment requests with one key record one
/// payment; the same key with another request is `Invalid`.
pub async fn one_idempotency_key_records_one_payment(store: Arc<dyn Store>) {
    let world = Arc::new(FinanceWorld::new(store).await);
    let invoice = world.issued(2, 50_000).await; // 1 150.00 SAR
    let request = world.payment(100_000, &[(invoice, 100_000)]);
    let key = IdempotencyKey::parse("pay-2f9c").expect("key");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (world, request, key) = (world.clone(), request.clone(), key.clone());
        tasks.spawn(async move {
            world
                .finance
                .record_payment(&world.clerk, request, Some(key))
                .await
        });
    }
    let mut ids = BTreeSet::new();
    let mut first = 0;
    while let Some(joined) = tasks.join_next().await {
        let recorded = joined
            .expect("task")
            .expect("every identical request succeeds");
        ids.insert(recorded.payment.id);
        if !recorded.replayed {
            first += 1;
        }
    }
    assert_eq!((ids.len(), first), (1, 1), "one payment, recorded once");
    let inv = world
        .finance
        .get_invoice(&world.clerk, invoice)
        .await
        .expect("get");
    assert_eq!(inv.paid, sar(100_000), "allocated once");
    assert_eq!(inv.status, InvoiceStatus::PartiallyPaid);
    let (receivable, cash) = world.ledger().await;
    assert_eq!((receivable, cash), (15_000, 100_000));

    let mut other = request.clone();
    other.amount = sar(100_001);
    let reused = world
        .finance
        .record_payment(&world.clerk, other, Some(key))
        .await;
    assert!(matches!(reused, Err(Error::Invalid(_))), "{reused:?}");
}

/// Allocation never beyond the open amount, refunds need a confirmation
/// and never exceed what was paid, rates are found by day, other tenants
/// and out-of-scope branches see nothing, Admins and Sales cannot write.
pub async fn payments_refunds_and_rates_keep_the_books(store: Arc<dyn Store>) {
    let world = FinanceWorld::new(store.clone()).await;
    let a = world.issued(1, 10_000).await; // 115.00
    let b = world.issued(1, 20_000).await; // 230.00

    let over = world
        .finance
        .record_payment(&world.clerk, world.payment(50_000, &[(a, 11_501)]), None)
        .await;
    assert!(matches!(over, Err(Error::Invalid(_))), "{over:?}");
    let paid = world
        .finance
        .record_payment(
            &world.clerk,
            world.payment(40_000, &[(a, 11_500), (b, 23_000)]),
            None,
        )
        .await
        .expect("pay")
        .payment;
    for id in [a, b] {
        let inv = world
            .finance
            .get_invoice(&world.clerk, id)
            .await
            .expect("get");
        assert_eq!(inv.status, InvoiceStatus::Paid);
    }
    assert_eq!(world.ledger().await, (0, 40_000));

    // Refund: confirmation first, then 100.00 (advance 55.00, then 45.00 of b).
    let asked = world
        .finance
        .refund(&world.clerk, paid.id, sar(10_000), "trip cancelled", None)
        .await;
    let Err(Error::ConfirmationRequired { token, .. }) = asked else {
        panic!("a refund is critical: {asked:?}")
    };
    world
        .finance
        .refund(
            &world.clerk,
            paid.id,
            sar(10_000),
            "trip cancelled",
            Some(&token),
        )
        .await
        .expect("refund");
    let inv_b = world
        .finance
        .get_invoice(&world.clerk, b)
        .await
        .expect("get");
    assert_eq!(inv_b.status, InvoiceStatus::PartiallyPaid);
    assert_eq!(inv_b.open_amount().expect("open"), sar(4_500));
    assert_eq!(world.ledger().await, (4_500, 30_000));
    // Never above what was paid net of earlier refunds.
    let asked = world
        .finance
        .refund(&world.clerk, paid.id, sar(30_001), "again", None)
        .await;
    let Err(Error::ConfirmationRequired { token, .. }) = asked else {
        panic!("{asked:?}")
    };
    let too_much = world
        .finance
        .refund(&world.clerk, paid.id, sar(30_001), "again", Some(&token))
        .await;
    assert!(matches!(too_much, Err(Error::Invalid(_))), "{too_much:?}");
    assert_eq!(world.ledger().await, (4_500, 30_000), "nothing written");

    // Exchange rates: the latest on or before the day, exact, rate named.
    for (day, rate) in [(1, "74.10"), (5, "74.25")] {
        world
            .finance
            .add_exchange_rate(
                &world.clerk,
                NewExchangeRate {
                    base: Currency::SAR,
                    quote: Currency::PKR,
                    rate: rate.into(),
                    effective_on: NaiveDate::from_ymd_opt(2026, 12, day).expect("date"),
                    source: "State Bank of Pakistan".into(),
                },
            )
            .await
            .expect("rate");
    }
    let on = |day| NaiveDate::from_ymd_opt(2026, 12, day).expect("date");
    let c = world
        .finance
        .convert(&world.clerk, sar(100_000), Currency::PKR, on(7))
        .await
        .expect("convert");
    assert_eq!(c.to, Money::from_minor(7_425_000, Currency::PKR));
    assert_eq!(c.rate.to_string(), "74.25");
    let c = world
        .finance
        .convert(&world.clerk, sar(100_000), Currency::PKR, on(3))
        .await
        .expect("convert");
    assert_eq!(c.rate.to_string(), "74.10");
    let none = world
        .finance
        .convert(
            &world.clerk,
            sar(1),
            Currency::PKR,
            NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"),
        )
        .await;
    assert!(matches!(none, Err(Error::NotFound { .. })), "{none:?}");

    // Isolation and roles.
    let stranger = FinanceWorld::new(store).await;
    let seen = stranger.finance.get_invoice(&stranger.clerk, a).await;
    assert!(matches!(seen, Err(Error::NotFound { .. })), "{seen:?}");
    let elsewhere = world.as_role(Role::Finance, BranchScope::only([BranchId::new()]));
    let seen = world.finance.get_invoice(&elsewhere, a).await;
    assert!(matches!(seen, Err(Error::NotFound { .. })), "{seen:?}");
    let admin = world.as_role(Role::Admin, BranchScope::All);
    world
        .finance
        .get_invoice(&admin, a)
        .await
        .expect("admins read");
    for role in [Role::Admin, Role::Sales, Role::Umrah] {
        let ctx = world.as_role(role, BranchScope::All);
        let made = world
            .finance
            .create_draft(&ctx, world.draft_request(1, 1))
            .await;
        assert!(
            matches!(made, Err(Error::Forbidden { .. })),
            "{role}: {made:?}"
        );
        let paid = world
            .finance
            .record_payment(&ctx, world.payment(1, &[]), None)
            .await;
        assert!(
            matches!(paid, Err(Error::Forbidden { .. })),
            "{role}: {paid:?}"
        );
    }
    let sales = world.as_role(Role::Sales, BranchScope::All);
    let read = world.finance.get_invoice(&sales, a).await;
    assert!(matches!(read, Err(Error::Forbidden { .. })), "{read:?}");
}

/// Voiding is critical (a token, then the act), reverses the issue journal,
/// keeps the number used, is audited, is refused while a payment stays
/// allocated (with a message saying to refund first) and works once it is
/// refunded; Admins never void.
pub async fn voiding_needs_confirmation_and_reverses_the_ledger(store: Arc<dyn Store>) {
    let world = FinanceWorld::new(store).await;
    let a = world.issued(1, 10_000).await; // 115.00
    let b = world.issued(1, 20_000).await; // 230.00
    assert_eq!(world.ledger().await, (34_500, 0));

    let admin = world.as_role(Role::Admin, BranchScope::All);
    let denied = world.finance.void(&admin, a, None).await;
    assert!(matches!(denied, Err(Error::Forbidden { .. })), "{denied:?}");
    let elsewhere = world.as_role(Role::Finance, BranchScope::only([BranchId::new()]));
    let hidden = world.finance.void(&elsewhere, a, None).await;
    assert!(matches!(hidden, Err(Error::NotFound { .. })), "{hidden:?}");

    let asked = world.finance.void(&world.clerk, a, None).await;
    let Err(Error::ConfirmationRequired { token, .. }) = asked else {
        panic!("voiding is critical: {asked:?}")
    };
    // A token for one invoice does not void another.
    let wrong = world.finance.void(&world.clerk, b, Some(&token)).await;
    assert!(wrong.is_err(), "{wrong:?}");
    let asked = world.finance.void(&world.clerk, a, None).await;
    let Err(Error::ConfirmationRequired { token, .. }) = asked else {
        panic!("{asked:?}")
    };
    let void = world
        .finance
        .void(&world.clerk, a, Some(&token))
        .await
        .expect("void");
    assert_eq!(void.status, InvoiceStatus::Void);
    assert_eq!(void.number, Some(1), "the number stays used");
    assert_eq!(world.ledger().await, (23_000, 0), "the issue is reversed");
    let again = world.finance.void(&world.clerk, a, None).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    let pay_void = world
        .finance
        .record_payment(&world.clerk, world.payment(100, &[(a, 100)]), None)
        .await;
    assert!(pay_void.is_err(), "a void invoice takes no payment");

    // Allocated: refused with a clear message, before any token is issued.
    let paid = world
        .finance
        .record_payment(&world.clerk, world.payment(5_000, &[(b, 5_000)]), None)
        .await
        .expect("pay")
        .payment;
    let refused = world.finance.void(&world.clerk, b, None).await;
    match &refused {
        Err(Error::Conflict { what }) => assert!(what.contains("refund"), "{what}"),
        other => panic!("{other:?}"),
    }
    // Refunded in full, it may be voided.
    let Err(Error::ConfirmationRequired { token, .. }) = world
        .finance
        .refund(&world.clerk, paid.id, sar(5_000), "wrong invoice", None)
        .await
    else {
        panic!("refund is critical")
    };
    world
        .finance
        .refund(
            &world.clerk,
            paid.id,
            sar(5_000),
            "wrong invoice",
            Some(&token),
        )
        .await
        .expect("refund");
    let Err(Error::ConfirmationRequired { token, .. }) =
        world.finance.void(&world.clerk, b, None).await
    else {
        panic!("void is critical")
    };
    world
        .finance
        .void(&world.clerk, b, Some(&token))
        .await
        .expect("void after the refund");
    assert_eq!(world.ledger().await, (0, 0));

    // Audited.
    let mut uow = world.store.begin().await.expect("begin");
    let events = uow
        .audit()
        .read(world.tenant.id, 0, 1_000)
        .await
        .expect("audit");
    uow.rollback().await.expect("rollback");
    let voided = events
        .iter()
        .filter(|e| e.event.action == "invoice.voided")
        .count();
    assert_eq!(voided, 2);
}

/// Supplier payables from a confirmed booking (once per item), payments
/// to suppliers (Finance only, idempotent, within what is open, same
/// supplier), and every report with its figures, scope and audit.
pub async fn payables_and_reports_keep_the_books(store: Arc<dyn Store>) {
    use crate::domain::{BookingItem, BookingStatus, ItemKind};
    use crate::ports::{OsRandom, PageRequest, PayableFilter};
    use crate::security::keyring::KeyRing;
    use crate::service::bookings::{Bookings, NewBooking};
    use crate::service::finance::{NewSupplierPayment, ReportKind, ReportRequest};

    let world = FinanceWorld::new(store.clone()).await;
    let keyring = KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).expect("keys");
    let bookings = Bookings::new(Deps::new(store.clone()), Arc::new(keyring));
    let owner = world.as_role(Role::TenantSuperAdmin, BranchScope::All);
    let usd = |m| Money::from_minor(m, Currency::USD);
    let item = |desc: &str, supplier: Option<&str>, cost: Money, sell: Money| BookingItem {
        kind: ItemKind::Hotel,
        description: desc.into(),
        supplier_name: supplier.map(Into::into),
        supplier_cost: cost,
        sell_price: sell,
        package: None,
        starts_on: None,
        ends_on: None,
    };
    let booking = bookings
        .create(
            &owner,
            NewBooking {
                branch_id: world.branch,
                client_id: world.client,
                travellers: vec![super::booking_traveller("AB1234567")],
                items: vec![
                    item("Makkah hotel", Some("Al Safwa"), sar(300_000), sar(450_000)),
                    item("Flight JED", Some("Saudia"), usd(20_000), usd(26_000)),
                    item("Service fee", None, sar(0), sar(5_000)),
                ],
            },
            None,
        )
        .await
        .expect("booking")
        .booking;
    let early = world
        .finance
        .record_payables(&world.clerk, booking.id)
        .await;
    assert!(matches!(early, Err(Error::Conflict { .. })), "{early:?}");
    for to in [BookingStatus::Pending, BookingStatus::Confirmed] {
        bookings
            .transition(&owner, booking.id, to, None)
            .await
            .expect("transition");
    }
    let sales_ctx = world.as_role(Role::Sales, BranchScope::All);
    let denied = world.finance.record_payables(&sales_ctx, booking.id).await;
    assert!(matches!(denied, Err(Error::Forbidden { .. })), "{denied:?}");
    let payables = world
        .finance
        .record_payables(&world.clerk, booking.id)
        .await
        .expect("payables");
    assert_eq!(
        payables.len(),
        2,
        "items naming a supplier and costing something"
    );
    assert_eq!(payables[0].amount, sar(300_000));
    assert_eq!(payables[1].amount, usd(20_000));
    let again = world
        .finance
        .record_payables(&world.clerk, booking.id)
        .await
        .expect("again");
    assert!(again.is_empty(), "once per item");

    // Paying a supplier: Finance only, idempotent, within what is open.
    let pay = |amount: i64, to: usize, supplier: &str| NewSupplierPayment {
        branch_id: world.branch,
        supplier: supplier.into(),
        amount: sar(amount),
        method: PaymentMethod::BankTransfer,
        reference: Some("SWIFT-1".into()),
        allocations: vec![(payables[to].id, sar(amount))],
    };
    for role in [Role::Admin, Role::Sales, Role::Umrah] {
        let ctx = world.as_role(role, BranchScope::All);
        let paid = world
            .finance
            .pay_supplier(&ctx, pay(100, 0, "Al Safwa"), None)
            .await;
        assert!(
            matches!(paid, Err(Error::Forbidden { .. })),
            "{role}: {paid:?}"
        );
    }
    let key = IdempotencyKey::parse("supplier-2026-1").expect("key");
    let first = world
        .finance
        .pay_supplier(&world.clerk, pay(100_000, 0, "Al Safwa"), Some(key.clone()))
        .await
        .expect("pay");
    let replay = world
        .finance
        .pay_supplier(&world.clerk, pay(100_000, 0, "Al Safwa"), Some(key))
        .await
        .expect("replay");
    assert!(!first.replayed && replay.replayed);
    assert_eq!(first.payment.id, replay.payment.id);
    let wrong = world
        .finance
        .pay_supplier(&world.clerk, pay(100, 1, "Al Safwa"), None)
        .await;
    assert!(matches!(wrong, Err(Error::Invalid(_))), "{wrong:?}");
    let over = world
        .finance
        .pay_supplier(&world.clerk, pay(200_001, 0, "Al Safwa"), None)
        .await;
    assert!(matches!(over, Err(Error::Invalid(_))), "{over:?}");
    let open = world
        .finance
        .list_payables(
            &world.clerk,
            PayableFilter {
                supplier: Some("Al Safwa".into()),
                open_only: true,
                ..PayableFilter::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("payables");
    assert_eq!(open.items.len(), 1);
    assert_eq!(open.items[0].open_amount().expect("open"), sar(200_000));
    assert_eq!(world.ledger().await, (0, -100_000), "paid out of cash");

    // Reports.
    let invoice = world.issued(1, 10_000).await; // 100.00 + 15.00
    world
        .finance
        .record_payment(
            &world.clerk,
            world.payment(5_000, &[(invoice, 5_000)]),
            None,
        )
        .await
        .expect("pay");
    let report = |kind, export| ReportRequest {
        kind,
        from: None,
        to: None,
        branch_id: None,
        export,
    };
    let sales = world
        .finance
        .report(&world.clerk, report(ReportKind::Sales, false))
        .await
        .expect("sales");
    assert_eq!(sales.rows.len(), 1);
    assert_eq!(
        sales.rows[0][1..],
        ["SAR", "1", "100.00", "15.00", "115.00", "0.00"]
    );
    let ageing = world
        .finance
        .report(&world.clerk, report(ReportKind::ReceivablesAgeing, false))
        .await
        .expect("ageing");
    assert_eq!(
        ageing.rows,
        [vec![
            world.client.to_string(),
            "SAR".into(),
            "1".into(),
            "65.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "65.00".into()
        ]]
    );
    let methods = world
        .finance
        .report(&world.clerk, report(ReportKind::PaymentsByMethod, true))
        .await
        .expect("methods");
    assert_eq!(
        methods.rows[0],
        ["bank_transfer", "SAR", "1", "50.00", "0.00", "50.00"]
    );
    let tax = world
        .finance
        .report(&world.clerk, report(ReportKind::Tax, false))
        .await
        .expect("tax");
    assert_eq!(tax.rows[0][1..], ["SAR", "15.00", "0.00", "15.00"]);
    // Profit needs the USD → SAR rate of the booking's day.
    let missing = world
        .finance
        .report(&world.clerk, report(ReportKind::ProfitByBooking, false))
        .await;
    assert!(
        matches!(missing, Err(Error::Conflict { .. })),
        "{missing:?}"
    );
    world
        .finance
        .add_exchange_rate(
            &world.clerk,
            NewExchangeRate {
                base: Currency::USD,
                quote: Currency::SAR,
                rate: "3.75".into(),
                effective_on: booking.created_at.date_naive(),
                source: "SAMA".into(),
            },
        )
        .await
        .expect("rate");
    let profit = world
        .finance
        .report(&world.clerk, report(ReportKind::ProfitByBooking, false))
        .await
        .expect("profit");
    // Sell 4500.00 + 50.00 + 260.00 × 3.75; cost 3000.00 + 200.00 × 3.75.
    assert_eq!(
        profit.rows[0][3..],
        ["SAR", "5525.00", "3750.00", "1775.00"]
    );
    let by_branch = world
        .finance
        .report(&world.clerk, report(ReportKind::ProfitByBranch, false))
        .await
        .expect("by branch");
    assert_eq!(
        by_branch.rows,
        [vec![
            world.branch.to_string(),
            "SAR".into(),
            "1".into(),
            "5525.00".into(),
            "3750.00".into(),
            "1775.00".into()
        ]]
    );

    // Rights and scope: Admins view but do not export; Sales see nothing;
    // another branch's viewer sees no rows; an unseen branch filter is
    // not found.
    let admin = world.as_role(Role::Admin, BranchScope::All);
    world
        .finance
        .report(&admin, report(ReportKind::Sales, false))
        .await
        .expect("admins read reports");
    let export = world
        .finance
        .report(&admin, report(ReportKind::Sales, true))
        .await;
    assert!(matches!(export, Err(Error::Forbidden { .. })), "{export:?}");
    let sales_view = world
        .finance
        .report(&sales_ctx, report(ReportKind::Sales, false))
        .await;
    assert!(
        matches!(sales_view, Err(Error::Forbidden { .. })),
        "{sales_view:?}"
    );
    let elsewhere = world.as_role(Role::Finance, BranchScope::only([BranchId::new()]));
    for kind in ReportKind::ALL {
        let r = world
            .finance
            .report(&elsewhere, report(kind, false))
            .await
            .expect("an empty report");
        assert!(r.rows.is_empty(), "{kind:?}: {:?}", r.rows);
    }
    let mut unseen = report(ReportKind::Sales, false);
    unseen.branch_id = Some(world.branch);
    let hidden = world.finance.report(&elsewhere, unseen).await;
    assert!(matches!(hidden, Err(Error::NotFound { .. })), "{hidden:?}");

    // Each viewing is audited with its parameters.
    let mut uow = world.store.begin().await.expect("begin");
    let events = uow
        .audit()
        .read(world.tenant.id, 0, 10_000)
        .await
        .expect("audit");
    uow.rollback().await.expect("rollback");
    let viewed: Vec<_> = events
        .iter()
        .filter(|e| e.event.action == "report.financial.viewed")
        .collect();
    assert_eq!(
        viewed.len(),
        13,
        "every successful viewing, none of the refused"
    );
    let after = viewed[0].event.after.as_ref().expect("parameters");
    assert_eq!(after["report"], "sales");
    assert_eq!(after["format"], "json");
}
