//! The finance service over the real SQLite store: a draft billed in SAR,
//! issued with a gap-free number, paid in two parts (one replayed by its
//! idempotency key), refunded with a confirmation — every step audited and
//! the ledger balanced after each.

use tms::Error;
use tms::domain::finance::{
    Account, InvoiceLine, InvoiceStatus, PaymentMethod, TaxRate, balance, balanced,
};
use tms::domain::{BranchScope, Client, ClientKind, Context, Name, Principal, Role};
use tms::id::{ClientId, UserId};
use tms::money::{Currency, Money};
use tms::ports::{Clock as _, IdempotencyKey};
use tms::service::finance::{Finance, NewAllocation, NewInvoice, NewPayment};

use crate::identity_support::{World, world};

fn sar(minor: i64) -> Money {
    Money::from_minor(minor, Currency::SAR)
}

fn as_role(world: &World, role: Role) -> Context {
    Context::new(
        Principal::user(UserId::new(), world.tenant.id, role, BranchScope::All),
        world.clock.now(),
    )
}

async fn client(world: &World) -> ClientId {
    let now = world.clock.now();
    let client = Client {
        id: ClientId::new(),
        tenant_id: world.tenant.id,
        branch_id: world.branch.id,
        kind: ClientKind::Person,
        name: Name::parse("Bilal Ahmed").unwrap(),
        latin_name: None,
        phone: None,
        email: None,
        date_of_birth: None,
        nationality: None,
        passport: None,
        passport_expires_on: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let mut uow = world.identity.deps().store.begin().await.unwrap();
    uow.clients().insert(&client).await.unwrap();
    uow.commit().await.unwrap();
    client.id
}

async fn ledger(world: &World) -> (i128, i128) {
    let mut uow = world.identity.deps().store.begin().await.unwrap();
    let lines = uow.finance().ledger_lines(world.tenant.id).await.unwrap();
    uow.rollback().await.unwrap();
    assert!(balanced(&lines), "the ledger balances");
    (
        balance(&lines, Account::Receivable, Currency::SAR),
        balance(&lines, Account::Cash, Currency::SAR),
    )
}

#[tokio::test]
async fn an_invoice_is_issued_paid_and_refunded_with_balanced_books_and_an_audit_trail() {
    let world = world().await;
    let finance = Finance::new(world.identity.deps().clone());
    let clerk = as_role(&world, Role::Finance);
    let client = client(&world).await;

    // Two lines at 15 % VAT, tax rounded half-up per line:
    // 2 × 1 250.50 = 2 501.00 → 375.15; 3 × 0.33 = 0.99 → 0.1485 → 0.15.
    let draft = finance
        .create_draft(
            &clerk,
            NewInvoice {
                branch_id: world.branch.id,
                client_id: client,
                booking_id: None,
                currency: Currency::SAR,
                series: None,
                lines: vec![
                    InvoiceLine {
                        description: "Makkah hotel".into(),
                        quantity: 2,
                        unit_price: sar(125_050),
                        tax_rate: TaxRate::from_basis_points(1500).unwrap(),
                        tax_code: None,
                    },
                    InvoiceLine {
                        description: "Zamzam water".into(),
                        quantity: 3,
                        unit_price: sar(33),
                        tax_rate: TaxRate::from_basis_points(1500).unwrap(),
                        tax_code: None,
                    },
                ],
            },
        )
        .await
        .unwrap();
    assert_eq!((draft.net, draft.tax), (sar(250_199), sar(37_530)));
    assert_eq!(draft.total, sar(287_729));
    assert_eq!(ledger(&world).await, (0, 0), "drafts post nothing");

    let issued = finance.issue(&clerk, draft.id).await.unwrap();
    assert_eq!(issued.number().unwrap().to_string(), "INV-000001");
    assert_eq!(ledger(&world).await, (287_729, 0));

    // First part, sent twice with one key: recorded once.
    let key = IdempotencyKey::parse("bank-import-line-17").unwrap();
    let part = NewPayment {
        branch_id: world.branch.id,
        client_id: client,
        amount: sar(100_000),
        method: PaymentMethod::BankTransfer,
        reference: Some("FT26335XYZ".into()),
        allocations: vec![NewAllocation {
            invoice_id: draft.id,
            amount: sar(100_000),
        }],
    };
    let first = finance
        .record_payment(&clerk, part.clone(), Some(key.clone()))
        .await
        .unwrap();
    let again = finance
        .record_payment(&clerk, part, Some(key))
        .await
        .unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.payment.id, again.payment.id);
    // The rest, and not a fils more.
    let mut rest = NewPayment {
        branch_id: world.branch.id,
        client_id: client,
        amount: sar(187_730),
        method: PaymentMethod::Card,
        reference: None,
        allocations: vec![NewAllocation {
            invoice_id: draft.id,
            amount: sar(187_730),
        }],
    };
    let over = finance.record_payment(&clerk, rest.clone(), None).await;
    assert!(matches!(over, Err(Error::Invalid(_))), "{over:?}");
    rest.amount = sar(187_729);
    rest.allocations[0].amount = sar(187_729);
    let second = finance.record_payment(&clerk, rest, None).await.unwrap();
    let paid = finance.get_invoice(&clerk, draft.id).await.unwrap();
    assert_eq!(paid.status, InvoiceStatus::Paid);
    assert_eq!(ledger(&world).await, (0, 287_729));

    // Refund: critical, so a confirmation first; a wrong token does nothing.
    let asked = finance
        .refund(
            &clerk,
            second.payment.id,
            sar(50_000),
            "one pilgrim withdrew",
            None,
        )
        .await;
    let Err(Error::ConfirmationRequired { token, .. }) = asked else {
        panic!("{asked:?}")
    };
    let refund = finance
        .refund(
            &clerk,
            second.payment.id,
            sar(50_000),
            "one pilgrim withdrew",
            Some(&token),
        )
        .await
        .unwrap();
    let reused = finance
        .refund(&clerk, second.payment.id, sar(1), "again", Some(&token))
        .await;
    assert!(reused.is_err(), "a confirmation is single use");
    let reopened = finance.get_invoice(&clerk, draft.id).await.unwrap();
    assert_eq!(reopened.status, InvoiceStatus::PartiallyPaid);
    assert_eq!(reopened.open_amount().unwrap(), sar(50_000));
    assert_eq!(ledger(&world).await, (50_000, 237_729));

    // The owner may not write financial records as an Admin would not.
    let admin = as_role(&world, Role::Admin);
    let denied = finance.issue(&admin, draft.id).await;
    assert!(matches!(denied, Err(Error::Forbidden { .. })), "{denied:?}");

    // Every write audited, in order.
    let actions: Vec<String> = world
        .audit()
        .await
        .into_iter()
        .filter(|e| {
            ["invoice.", "payment.", "refund."]
                .iter()
                .any(|p| e.event.action.starts_with(p))
        })
        .map(|e| e.event.action)
        .collect();
    assert_eq!(
        actions,
        [
            "invoice.created",
            "invoice.issued",
            "payment.recorded",
            "payment.recorded",
            "refund.recorded"
        ]
    );
    let trail = world.audit().await;
    let refunded = trail
        .iter()
        .find(|e| e.event.resource_id == Some(refund.id.as_uuid()))
        .unwrap();
    assert_eq!(
        refunded.event.after.as_ref().unwrap()["amount"]["amount"],
        "500.00"
    );
}

#[tokio::test]
async fn a_credit_note_corrects_an_issued_invoice_within_its_open_amount() {
    let world = world().await;
    let finance = Finance::new(world.identity.deps().clone());
    let clerk = as_role(&world, Role::Finance);
    let client = client(&world).await;
    let request = NewInvoice {
        branch_id: world.branch.id,
        client_id: client,
        booking_id: None,
        currency: Currency::SAR,
        series: None,
        lines: vec![InvoiceLine {
            description: "Return flight JED-KHI".into(),
            quantity: 1,
            unit_price: sar(100_000),
            tax_rate: TaxRate::from_basis_points(1500).unwrap(),
            tax_code: None,
        }],
    };
    let draft = finance.create_draft(&clerk, request.clone()).await.unwrap();
    let vat = TaxRate::from_basis_points(1500).unwrap();
    // Drafts are edited, not credited.
    let early = finance
        .credit(&clerk, draft.id, sar(100), vat, "fare")
        .await;
    assert!(matches!(early, Err(Error::Conflict { .. })), "{early:?}");
    finance.issue(&clerk, draft.id).await.unwrap();
    let note = finance
        .credit(&clerk, draft.id, sar(20_000), vat, "fare difference")
        .await
        .unwrap();
    assert_eq!((note.number, note.tax), (1, sar(3_000)));
    let inv = finance.get_invoice(&clerk, draft.id).await.unwrap();
    assert_eq!(inv.open_amount().unwrap(), sar(115_000 - 23_000));
    assert_eq!(ledger(&world).await, (92_000, 0));
    // Beyond the open amount: refused, nothing written.
    let over = finance
        .credit(&clerk, draft.id, sar(80_001), vat, "too much")
        .await;
    assert!(matches!(over, Err(Error::Invalid(_))), "{over:?}");
    assert_eq!(ledger(&world).await, (92_000, 0));
    // Credit notes number in their own series.
    let second = finance
        .credit(&clerk, draft.id, sar(100), TaxRate::ZERO, "rounding")
        .await
        .unwrap();
    assert_eq!(second.number, 2);
    let other = finance.create_draft(&clerk, request).await.unwrap();
    let other = finance.issue(&clerk, other.id).await.unwrap();
    assert_eq!(other.number, Some(2), "invoice numbers untouched by notes");
}
