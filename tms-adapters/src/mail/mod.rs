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

#[cfg(feature = "mail-folder")]
pub use folder::FolderMailer;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpConfig, SmtpMailer, SmtpTls};
