//! # tms-adapters
//!
//! Implementations of the [`tms_core::ports`], each behind a cargo feature:
//! - `sqlite`, `postgres` (both on by default): [`sql::SqlStore`], the
//!   [`Store`](tms_core::ports::Store) on SQLite (embedded default) and
//!   PostgreSQL (production).
//! - `blob-local` (on by default), `blob-s3`: [`blob::LocalBlobStore`] and
//!   `blob::S3BlobStore`, the [`BlobStore`](tms_core::ports::BlobStore) on
//!   local disk and on S3-compatible storage.
//! - `mail-folder` (on by default), `smtp`: [`mail::FolderMailer`] and
//!   `mail::SmtpMailer`, the [`MailTransport`](tms_core::ports::MailTransport)
//!   as a folder of `.eml` files and over SMTP.
//! - `ics`: [`ics`], calendar invites (RFC 5545) of bookings and Umrah
//!   groups.
//! - `pdf`: `pdf::PdfRenderer`, the
//!   [`DocumentRenderer`](tms_core::ports::DocumentRenderer) over printpdf,
//!   with its own shaping of Arabic, Urdu and Persian text.
//! - `whatsapp`: `whatsapp::WhatsAppCloud`, the
//!   [`MessageChannel`](tms_core::ports::MessageChannel) over the WhatsApp
//!   Cloud API, and `whatsapp::ConnectionRoutes` over stored connections.
//! - `mail-inbound`: `mail::inbound::parse`, received mail (raw RFC 5322)
//!   into the [`InboundMail`](tms_core::ports::InboundMail) of Mail Ops;
//!   `gmail` adds `mail::GmailMailbox`, the
//!   [`MailboxReader`](tms_core::ports::MailboxReader) over the Gmail API.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;

#[cfg(any(feature = "blob-local", feature = "blob-s3"))]
pub mod blob;

// --- mail ops (issue 10): `mail-inbound` alone also opens the module ---
#[cfg(any(feature = "mail-folder", feature = "smtp", feature = "mail-inbound"))]
pub mod mail;
// --- files (issue 8) ---
#[cfg(feature = "ics")]
pub mod ics;
#[cfg(feature = "pdf")]
pub mod pdf;
// --- whatsapp (issue 9) ---
#[cfg(feature = "whatsapp")]
pub mod whatsapp;
