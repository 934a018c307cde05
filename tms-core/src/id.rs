//! Typed identifiers over UUIDv7.
//!
//! One type per entity, so that a `BranchId` can never be passed where a
//! `TenantId` is expected. UUIDv7 sorts by creation time, which keeps B-tree
//! indexes compact and gives keyset pagination a stable order.

use chrono::{DateTime, Utc};

use crate::ports::Random;

/// Makes a UUIDv7 for the instant `at` from injectable randomness, so tests
/// can fix both.
pub fn new_uuid_v7(at: DateTime<Utc>, random: &dyn Random) -> uuid::Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 10];
    random.fill_bytes(&mut bytes);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// What this id names, for messages (`"tenant"`, `"booking"`, …).
            pub const WHAT: &'static str = $what;

            /// A fresh id from the given clock and randomness.
            pub fn generate(clock: &dyn $crate::ports::Clock, random: &dyn $crate::ports::Random) -> Self {
                Self::generate_at(clock.now(), random)
            }

            /// A fresh id for the instant `at` (e.g. a service call's `ctx.now`).
            pub fn generate_at(at: chrono::DateTime<chrono::Utc>, random: &dyn $crate::ports::Random) -> Self {
                Self($crate::id::new_uuid_v7(at, random))
            }

            /// A fresh id from the system clock and the OS random source.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID (e.g. read back from storage).
            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| $crate::Error::invalid($what, concat!("not a valid ", $what, " id")))
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> uuid::Uuid {
                id.0
            }
        }
    };
}

typed_id!(
    /// Identifies a tenant (one agency).
    TenantId, "tenant"
);
typed_id!(
    /// Identifies a branch (an office of a tenant).
    BranchId, "branch"
);
typed_id!(
    /// Identifies a user account.
    UserId, "user"
);
typed_id!(
    /// Identifies a login session.
    SessionId, "session"
);
typed_id!(
    /// Identifies a client (person or company).
    ClientId, "client"
);
typed_id!(
    /// Identifies a booking.
    BookingId, "booking"
);
typed_id!(
    /// Identifies a traveller on a booking.
    TravellerId, "traveller"
);
typed_id!(
    /// Identifies an airline ticket.
    TicketId, "ticket"
);
typed_id!(
    /// Identifies a catalogue package.
    PackageId, "package"
);
typed_id!(
    /// Identifies a catalogue category.
    CategoryId, "category"
);
typed_id!(
    /// Identifies an Umrah group.
    UmrahGroupId, "umrah group"
);
typed_id!(
    /// Identifies an invoice.
    InvoiceId, "invoice"
);
typed_id!(
    /// Identifies a payment.
    PaymentId, "payment"
);
typed_id!(
    /// Identifies an audit event.
    AuditEventId, "audit event"
);
typed_id!(
    /// Identifies a single-use token record (reset, invitation, OTP).
    TokenId, "token"
);
typed_id!(
    /// Identifies a pending confirmation of a critical action.
    ConfirmationId, "confirmation"
);
typed_id!(
    /// Identifies one request, for logs and the audit trail.
    RequestId, "request"
);
typed_id!(
    /// Identifies an outbox message.
    MessageId, "message"
);
typed_id!(
    /// Identifies an Umrah family (a unit of pilgrims in one group).
    UmrahFamilyId, "umrah family"
);
typed_id!(
    /// Identifies a pilgrim of an Umrah group.
    PilgrimId, "pilgrim"
);
typed_id!(
    /// Identifies a hotel room of an Umrah group.
    RoomId, "room"
);

typed_id!(
    /// Identifies a refund (issue 7: finance).
    RefundId, "refund"
);
typed_id!(
    /// Identifies a credit note (issue 7: finance).
    CreditNoteId, "credit note"
);
typed_id!(
    /// Identifies an exchange rate (issue 7: finance).
    ExchangeRateId, "exchange rate"
);
typed_id!(
    /// Identifies a ledger journal: the lines of one financial event.
    JournalId, "journal"
);
typed_id!(
    /// Identifies what the agency owes a supplier for one booking item.
    PayableId, "payable"
);
typed_id!(
    /// Identifies a payment the agency made to a supplier.
    SupplierPaymentId, "supplier payment"
);
// --- files (issue 8) ---
typed_id!(
    /// Identifies an uploaded file (issue 8: files).
    FileId, "file"
);
// --- outreach (issue 9) ---
typed_id!(
    /// Identifies a message template (issue 9: outreach).
    TemplateId, "template"
);
typed_id!(
    /// Identifies a campaign (issue 9: outreach).
    CampaignId, "campaign"
);
typed_id!(
    /// Identifies one recipient of one campaign (issue 9: outreach).
    CampaignRecipientId, "campaign recipient"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{FixedClock, SeededRandom};

    #[test]
    fn ids_are_version_7_and_sort_by_time() {
        let clock = FixedClock::at_millis(1_700_000_000_000);
        let random = SeededRandom::new(7);
        let a = TenantId::generate(&clock, &random);
        clock.advance(chrono::Duration::milliseconds(1));
        let b = TenantId::generate(&clock, &random);
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn ids_parse_from_their_display_form_and_reject_garbage() {
        let id = BookingId::new();
        assert_eq!(id.to_string().parse::<BookingId>().ok(), Some(id));
        let err = "not-a-uuid".parse::<BookingId>().err();
        assert!(matches!(err, Some(crate::Error::Invalid(_))));
    }

    #[test]
    fn debug_names_the_type() {
        let id = UserId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            format!("{id:?}"),
            "UserId(00000000-0000-0000-0000-000000000000)"
        );
    }
}
// --- mail ops (issue 10) ---
typed_id!(
    /// Identifies a mail thread of the connected mailbox (issue 10: mail ops).
    MailThreadId, "mail thread"
);
typed_id!(
    /// Identifies one stored mail message (issue 10: mail ops).
    MailMessageId, "mail message"
);
typed_id!(
    /// Identifies a support ticket (issue 10: mail ops) — not an airline
    /// [`TicketId`].
    SupportTicketId, "support ticket"
);
typed_id!(
    /// Identifies an internal note on a support ticket (issue 10: mail ops).
    TicketNoteId, "ticket note"
);
typed_id!(
    /// Identifies a mail routing rule (issue 10: mail ops).
    MailRuleId, "mail routing rule"
);
