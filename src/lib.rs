//! # TMS — a Rust SDK for travel agencies
//!
//! One import for embedders. TMS is the business core of a multi-tenant,
//! multi-branch agency platform — clients, bookings, tickets, Umrah groups,
//! invoices and payments, vouchers, outreach mail — with the security such a
//! platform promises built in: tenant and branch isolation, role separation
//! between finance and operations, lockout, 2FA, encrypted secrets and a
//! tamper-evident audit trail.
//!
//! This crate re-exports [`tms_core`] (domain, policy, security, ports) and,
//! behind cargo features, the adapters of `tms-adapters`.
//!
//! ```
//! use tms::domain::{BranchScope, Principal, Role};
//! use tms::id::{BranchId, TenantId, UserId};
//! use tms::policy::{authorize, Action, Decision, DenyReason, Resource, ResourceKind};
//!
//! let tenant = TenantId::new();
//! let finance = Principal::user(UserId::new(), tenant, Role::Finance, BranchScope::All);
//! let booking = Resource::new(ResourceKind::Booking, tenant).in_branch(BranchId::new());
//!
//! // Finance reads operational data but never changes it.
//! assert_eq!(authorize(&finance, Action::Read, &booking), Decision::Allow);
//! assert_eq!(
//!     authorize(&finance, Action::Update, &booking),
//!     Decision::Deny(DenyReason::FinanceCannotWriteOperational)
//! );
//! ```

pub use tms_core::{Error, FieldError, FieldErrors, Result};
pub use tms_core::{audit, domain, error, id, money, policy, ports, security, service};

/// The Store contract suite (feature `testkit`): run it against your own
/// [`ports::Store`] implementation with [`store_contract_tests!`].
#[cfg(feature = "testkit")]
pub use tms_core::{store_contract_tests, testkit};

/// The SQL store for SQLite (feature `sqlite`, on by default) and PostgreSQL
/// (feature `postgres`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tms::Result<()> {
/// use tms::ports::Store;
/// use tms::sql::SqlStore;
///
/// let store = SqlStore::connect("sqlite::memory:").await?;
/// store.ping().await?;
/// # Ok(()) }
/// ```
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use tms_adapters::sql;

/// The blob stores: local disk (feature `blob-local`, on by default) and
/// S3-compatible storage (feature `blob-s3`).
#[cfg(any(feature = "blob-local", feature = "blob-s3"))]
pub use tms_adapters::blob;

/// Calendar invites (feature `ics`): a booking's flights and hotel stays,
/// an Umrah group's departure and return, as RFC 5545 text.
#[cfg(feature = "ics")]
pub use tms_adapters::ics;
/// The PDF renderer (feature `pdf`): vouchers, confirmations, invoices and
/// manifests, with Arabic, Urdu and Persian shaped right to left.
#[cfg(feature = "pdf")]
pub use tms_adapters::pdf;

/// The BlobStore contract suite (feature `testkit`), for your own
/// [`ports::BlobStore`] implementation.
#[cfg(feature = "testkit")]
pub use tms_core::blob_contract_tests;

// --- whatsapp (issue 9) ---
/// WhatsApp Cloud API (feature `whatsapp`): template messages through a
/// tenant's connected number, and routes over stored connections.
#[cfg(feature = "whatsapp")]
pub use tms_adapters::whatsapp;

// --- mail ops (issue 10) ---
/// Mail (features `mail-inbound` and `gmail`): received mail parsed into an
/// [`InboundMail`](ports::InboundMail) (`mail::inbound::parse`) and, with
/// `gmail`, `mail::GmailMailbox`, the [`MailboxReader`](ports::MailboxReader)
/// over the Gmail API.
///
/// ```
/// # #[cfg(feature = "mail-inbound")] {
/// let mail = tms::mail::inbound::parse(
///     b"From: =?UTF-8?Q?Fran=C3=A7ois?= <f@example.fr>\r\n\
///       Subject: Hotel\r\n\r\n<p>Hi</p>",
/// );
/// assert_eq!(mail.from.and_then(|a| a.name).as_deref(), Some("François"));
/// # }
/// ```
#[cfg(any(feature = "mail-inbound", feature = "gmail"))]
pub use tms_adapters::mail;
