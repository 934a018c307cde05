//! Mail transports: the [`MailTransport`](tms_core::ports::MailTransport)
//! port over a folder of `.eml` files (feature `mail-folder`, the embedded
//! default: mail works with no set-up) and over SMTP with lettre (feature
//! `smtp`).
//!
//! Both take the message as composed bytes
//! ([`compose`](tms_core::service::messaging::compose)) and say whether a
//! failure is worth retrying: `Unavailable` (the server is down, busy, a
//! 4xx answer) or `Rejected` (a 5xx answer: the message will never go as it
//! is).

#[cfg(feature = "mail-folder")]
mod folder;
#[cfg(feature = "smtp")]
mod smtp;
// --- mail connections (issue 9) ---
#[cfg(feature = "gmail")]
mod google;
// --- mail ops (issue 10) ---
#[cfg(feature = "gmail")]
mod gmail_api;
#[cfg(feature = "mail-inbound")]
pub mod inbound;

#[cfg(feature = "mail-folder")]
pub use folder::FolderMailer;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpConfig, SmtpMailer, SmtpTls};
// --- mail connections (issue 9) ---
#[cfg(feature = "gmail")]
pub use google::{
    GMAIL_PROFILE_URL, GMAIL_SCOPE, GOOGLE_AUTH_URL, GOOGLE_REVOKE_URL, GOOGLE_TOKEN_URL,
    GoogleOAuth, GoogleOAuthConfig,
};
// --- mail ops (issue 10) ---
#[cfg(feature = "gmail")]
pub use gmail_api::{
    DEFAULT_RETRY_AFTER_SECS, GMAIL_API_URL, GmailMailbox, GmailMailboxConfig, MAX_RESPONSE_BYTES,
    MAX_SEND_BYTES, gmail_part_id,
};
