//! Automatic messages to clients (issue 9): the booking confirmation with
//! its voucher and calendar attached, the cancellation with the calendar's
//! cancellation, and the payment receipt.
//!
//! Each is built here as an [`OutboxMessage`] and written by the service
//! that made the change, in the same unit of work, so that a rolled-back
//! change sends nothing and a committed one is never forgotten. The
//! documents are named, not stored ([`AttachmentRef`]): the worker renders
//! them when the mail leaves.
//!
//! These are service messages about the client's own booking and money,
//! sent whenever the client has an email address; marketing consent is not
//! needed for them (it is for campaigns). Each carries
//! `Auto-Submitted: auto-generated` (RFC 3834), so that auto-responders do
//! not answer.

use chrono::{DateTime, Utc};

use crate::domain::finance::{Invoice, Payment};
use crate::domain::{Booking, Client};
use crate::error::Result;
use crate::id::MessageId;
use crate::ports::{AttachmentRef, OutboxMessage, Random};
use crate::service::documents::format_money;

/// Invoices attached to one receipt at most: a payment spread over more is
/// listed in the text, and each invoice stays available on request.
const RECEIPT_ATTACHMENTS: usize = 5;

/// The confirmation of `booking` to `client`, with the voucher and the
/// calendar attached; `None` when the client has no email address.
///
/// ```
/// use chrono::Utc;
/// use tms_core::ports::{AttachmentRef, OsRandom};
/// use tms_core::service::notifications::booking_confirmed;
/// # let (booking, client) = tms_core::service::notifications::example().unwrap();
///
/// let mail = booking_confirmed(&booking, &client, Utc::now(), &OsRandom).unwrap().unwrap();
/// let email = mail.as_email().unwrap();
/// assert!(email.subject.contains(&booking.reference.to_string()));
/// assert_eq!(email.attachments, vec![
///     AttachmentRef::BookingVoucher { booking_id: booking.id },
///     AttachmentRef::BookingCalendar { booking_id: booking.id },
/// ]);
/// ```
pub fn booking_confirmed<T>(
    booking: &Booking<T>,
    client: &Client,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Result<Option<OutboxMessage>> {
    let Some(to) = &client.email else {
        return Ok(None);
    };
    let reference = booking.reference.to_string();
    let mut body = format!(
        "Dear {},\n\nYour booking {reference} is confirmed.\n\n",
        client.name.as_str()
    );
    for item in &booking.items {
        body.push_str("- ");
        body.push_str(&item.description);
        match (item.starts_on, item.ends_on) {
            (Some(start), Some(end)) if start != end => {
                body.push_str(&format!(" ({start} to {end})"));
            }
            (Some(day), _) => body.push_str(&format!(" ({day})")),
            _ => {}
        }
        body.push('\n');
    }
    body.push_str(
        "\nYour voucher (PDF) and a calendar file with your travel dates are attached.\n\
         Please keep the voucher with you while you travel.\n",
    );
    let message = OutboxMessage::email(
        MessageId::generate_at(now, random),
        booking.tenant_id,
        to.clone(),
        format!("Booking {reference} confirmed"),
        body,
        now,
    )
    .with_header("Auto-Submitted", "auto-generated")?
    .with_attachment(AttachmentRef::BookingVoucher {
        booking_id: booking.id,
    })
    .with_attachment(AttachmentRef::BookingCalendar {
        booking_id: booking.id,
    });
    Ok(Some(message))
}

/// The notice that a confirmed `booking` was cancelled, with the
/// calendar's cancellation attached (calendars that imported the
/// confirmation remove its events); `None` when the client has no email
/// address.
pub fn booking_cancelled<T>(
    booking: &Booking<T>,
    client: &Client,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Result<Option<OutboxMessage>> {
    let Some(to) = &client.email else {
        return Ok(None);
    };
    let reference = booking.reference.to_string();
    let body = format!(
        "Dear {},\n\nYour booking {reference} has been cancelled.\n\n\
         The attached calendar file removes its dates from your calendar.\n\
         If you did not expect this, please contact us.\n",
        client.name.as_str()
    );
    let message = OutboxMessage::email(
        MessageId::generate_at(now, random),
        booking.tenant_id,
        to.clone(),
        format!("Booking {reference} cancelled"),
        body,
        now,
    )
    .with_header("Auto-Submitted", "auto-generated")?
    .with_attachment(AttachmentRef::BookingCalendar {
        booking_id: booking.id,
    });
    Ok(Some(message))
}

/// The receipt of `payment` to `client`, listing the invoices it paid and
/// attaching them (at most five); `None` when the client has no email
/// address.
pub fn payment_receipt(
    payment: &Payment,
    invoices: &[Invoice],
    client: &Client,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Result<Option<OutboxMessage>> {
    let Some(to) = &client.email else {
        return Ok(None);
    };
    let amount = format_money(payment.amount);
    let mut body = format!(
        "Dear {},\n\nWe received your payment of {amount} on {} ({}).\n",
        client.name.as_str(),
        payment.received_at.format("%Y-%m-%d"),
        payment.method.as_str().replace('_', " "),
    );
    if let Some(reference) = &payment.reference {
        body.push_str(&format!("Your reference: {reference}\n"));
    }
    if !payment.allocations.is_empty() {
        body.push_str("\nApplied to:\n");
        for allocation in &payment.allocations {
            let number = invoices
                .iter()
                .find(|i| i.id == allocation.invoice_id)
                .and_then(Invoice::number)
                .map_or_else(|| "an invoice".to_owned(), |n| n.to_string());
            body.push_str(&format!(
                "- {number}: {}\n",
                format_money(allocation.amount)
            ));
        }
    }
    body.push_str(&format!(
        "\nReceipt number: {}\nThank you.\n",
        payment.id.as_uuid().simple()
    ));
    let mut message = OutboxMessage::email(
        MessageId::generate_at(now, random),
        payment.tenant_id,
        to.clone(),
        format!("Payment received: {amount}"),
        body,
        now,
    )
    .with_header("Auto-Submitted", "auto-generated")?;
    for allocation in payment.allocations.iter().take(RECEIPT_ATTACHMENTS) {
        message = message.with_attachment(AttachmentRef::InvoicePdf {
            invoice_id: allocation.invoice_id,
        });
    }
    Ok(Some(message))
}

/// A confirmed booking and its client, for the examples.
#[doc(hidden)]
pub fn example() -> Result<(Booking, Client)> {
    use crate::domain::{
        BookingItem, BookingReference, BookingStatus, ClientKind, Email, ItemKind, Name,
    };
    use crate::id::{BookingId, BranchId, ClientId, TenantId};
    use crate::money::{Currency, Money};
    let now = Utc::now();
    let (tenant_id, branch_id, client_id) = (TenantId::new(), BranchId::new(), ClientId::new());
    let booking = Booking {
        id: BookingId::new(),
        tenant_id,
        branch_id,
        client_id,
        reference: BookingReference::new(2026, 42)?,
        status: BookingStatus::Confirmed,
        travellers: Vec::new(),
        items: vec![BookingItem {
            kind: ItemKind::Other,
            description: "Umrah package, 10 nights".into(),
            supplier_name: None,
            supplier_cost: Money::from_minor(0, Currency::SAR),
            sell_price: Money::from_minor(1_250_000, Currency::SAR),
            package: None,
            starts_on: None,
            ends_on: None,
        }],
        created_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let client = Client {
        id: client_id,
        tenant_id,
        branch_id,
        kind: ClientKind::Person,
        name: Name::parse("Amina Khan")?,
        latin_name: None,
        phone: None,
        email: Some(Email::parse("amina@example.com")?),
        date_of_birth: None,
        nationality: None,
        passport: None,
        passport_expires_on: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    Ok((booking, client))
}
