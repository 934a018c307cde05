//! Ports (DESIGN.md §5): the traits through which the core reaches storage,
//! files, mail, OAuth, documents and messaging — plus time and randomness.
//!
//! Every port is an object-safe `async-trait` trait, held as `Arc<dyn Port>`,
//! so that an integrator can plug in their own backend. With the `mock`
//! feature (and in this crate's tests) each has a `mockall` mock, named
//! `Mock<Trait>`.

mod outbound;
mod runtime;
mod store;
// --- clients (issue 6) ---
mod clients;
// --- catalogue, bookings, tickets (issue 6) ---
mod bookings;
mod idempotency;
// --- umrah (issue 6) ---
mod umrah;
// --- finance (issue 7) ---
mod finance;
// --- files (issue 8) ---
mod files;
// --- privacy (issue 7) ---
mod privacy;
// --- mail ops (issue 10) ---
mod mailbox;

pub use outbound::{
    AuthorizationRequest, BlobCategory, BlobKey, BlobStore, Block, Branding, ChannelMessage,
    Document, DocumentKind, DocumentRenderer, MailTransport, MessageChannel, OAuthProvider,
    OAuthTokens, OutgoingMail, PageSize, Receipt,
};
pub use runtime::{Clock, FixedClock, OsRandom, Random, SeededRandom, SystemClock};
pub use store::{
    AUDIT_CSV_HEADER, AUDIT_PAGE, AuditLog, BranchRepo, ChainStatus, ConfirmationRepo, Cursor,
    DeliveryAttempt, DeliveryOutcome, DeliveryRecord, LockoutRepo, OutboxChannel, OutboxControls,
    OutboxMessage, OutboxRepo, OutboxStatus, Page, PageRequest, Scope, SessionRepo, SettingsRepo,
    Store, StoredToken, TRANSACT_ATTEMPTS, TenantRepo, TokenRepo, UnitOfWork, UserRepo, export_csv,
    export_jsonl, transact, verify_chain,
};
pub use store::{
    AttachmentRef, EmailContent, MAIL_HEADERS, MAX_THREAD_ID_LEN, OutboxContent, WhatsappContent,
    check_mail_header, check_thread_id,
};
pub use store::{SealedLocation, SealedValue, SecretsRepo};
// --- clients (issue 6) ---
#[cfg(any(test, feature = "mock"))]
pub use clients::MockClientRepo;
pub use clients::{ClientFilter, ClientRepo, DuplicateProbe, MAX_DUPLICATES};
// --- catalogue, bookings, tickets (issue 6) ---
pub use bookings::{
    BookingFilter, BookingRecord, BookingRepo, CatalogueRepo, StoredTraveller, TicketRepo,
};
#[cfg(any(test, feature = "mock"))]
pub use bookings::{MockBookingRepo, MockCatalogueRepo, MockTicketRepo};
#[cfg(any(test, feature = "mock"))]
pub use idempotency::MockIdempotencyRepo;
pub use idempotency::{
    Claim, IdempotencyKey, IdempotencyRecord, IdempotencyRepo, claim_or_replay, fingerprint,
};
// --- umrah (issue 6) ---
#[cfg(any(test, feature = "mock"))]
pub use umrah::{MockPilgrimRepo, MockRoomRepo, MockUmrahFamilyRepo, MockUmrahGroupRepo};
pub use umrah::{PilgrimRepo, RoomRepo, UmrahFamilyRepo, UmrahGroupRepo};
// --- finance (issue 7) ---
#[cfg(any(test, feature = "mock"))]
pub use finance::MockFinanceRepo;
pub use finance::{
    ClientTotals, FinanceRepo, InvoiceFilter, Journal, PayableFilter, PaymentFilter, PostedLine,
};
// --- files (issue 8) ---
#[cfg(any(test, feature = "mock"))]
pub use files::MockFileRepo;
pub use files::{BrandingSettings, FileOwner, FileRepo, StoredFile};
// --- privacy (issue 7) ---
pub use privacy::{AuditErasure, PrivacyRepo, RetentionCounts, SubjectKind};
// --- mail ops (issue 10) ---
#[cfg(any(test, feature = "mock"))]
pub use mailbox::MockMailboxReader;
pub use mailbox::{
    FetchedMessage, HistoryOutcome, HistoryPage, InboundAttachment, InboundMail, MailAddress,
    MailboxMessageRef, MailboxReader, MessageList,
};

#[cfg(any(test, feature = "mock"))]
pub use outbound::{
    MockBlobStore, MockDocumentRenderer, MockMailTransport, MockMessageChannel, MockOAuthProvider,
};
#[cfg(any(test, feature = "mock"))]
pub use runtime::{MockClock, MockRandom};
#[cfg(any(test, feature = "mock"))]
pub use store::{
    MockAuditLog, MockBranchRepo, MockConfirmationRepo, MockLockoutRepo, MockOutboxRepo,
    MockSessionRepo, MockSettingsRepo, MockStore, MockTenantRepo, MockTokenRepo, MockUserRepo,
};
// --- outreach (issue 9) ---
mod outreach;
#[cfg(any(test, feature = "mock"))]
pub use outreach::MockOutreachRepo;
pub use outreach::{CandidateQuery, OutreachRepo};
// --- documents follow-ups (issue 8) ---
pub use files::EmergencyContact;
// --- whatsapp (issue 9) ---
mod whatsapp;
#[cfg(any(test, feature = "mock"))]
pub use whatsapp::MockWhatsappRepo;
pub use whatsapp::{WhatsappConnection, WhatsappRepo, WhatsappStatus, WhatsappStatusKind};
// --- mail ops store (issue 10) ---
mod mail_ops;
#[cfg(any(test, feature = "mock"))]
pub use mail_ops::MockMailOpsRepo;
pub use mail_ops::{BreachFilter, MailOpsRepo, TicketFilter};
