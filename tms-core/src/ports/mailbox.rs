//! Mail Ops (issue 10): a connected mailbox, read (and answered) through its
//! provider's API.
//!
//! The Gmail adapter (`tms-adapters`, feature `gmail`) implements
//! [`MailboxReader`] over the Gmail API (`users.getProfile`,
//! `users.messages.list`, `users.history.list`, `users.messages.get` with
//! `format=raw`, `users.messages.attachments.get`, `users.messages.send`).
//! The adapter also parses the raw RFC 5322 bytes: the core only ever sees
//! an [`InboundMail`] — the headers a ticket needs, the text body, a
//! sanitised HTML body and attachment *metadata* (data minimisation:
//! attachment bytes are fetched on demand and never stored).
//!
//! Every call takes the account's OAuth access token; the service gets a
//! fresh one from the tenant's sealed Gmail connection
//! ([`crate::service::mail_connections`]). Errors follow the crate's
//! meaning: a rate limit is [`crate::Error::RateLimited`] (back off, then
//! resume), a network or 5xx failure [`crate::Error::Unavailable`] (retry
//! later), a refused token [`crate::Error::Rejected`] (the connection is
//! broken), an unknown message [`crate::Error::NotFound`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::security::secret::Secret;

/// One message as a listing names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxMessageRef {
    /// The provider's message id (Gmail: hex string).
    pub id: String,
    /// The provider's thread id.
    pub thread_id: String,
}

/// One page of a message listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageList {
    /// The messages on this page.
    pub messages: Vec<MailboxMessageRef>,
    /// Where the next page starts, if there is one.
    pub next_page_token: Option<String>,
}

/// One page of the mailbox's changes since a history id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPage {
    /// Messages added since (new mail, sent mail), oldest first; may repeat.
    pub added: Vec<MailboxMessageRef>,
    /// Where the next page starts, if there is one.
    pub next_page_token: Option<String>,
    /// The mailbox's history id as of this answer: the next sync starts
    /// here once every page has been read.
    pub history_id: String,
}

/// The answer to [`MailboxReader::history`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryOutcome {
    /// The changes (one page).
    Changes(HistoryPage),
    /// The start id is too old for the provider (Gmail answers 404): the
    /// caller falls back to a full sync.
    Expired,
}

/// An address as the message wrote it: not validated, since inbound mail is
/// whatever the sender's software produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailAddress {
    /// The display name, decoded (RFC 2047 encoded words).
    pub name: Option<String>,
    /// The address (`local@domain`), as written.
    pub address: String,
}

/// An attachment's metadata; its bytes stay at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboundAttachment {
    /// The provider's attachment id ([`MailboxReader::fetch_attachment`]).
    pub attachment_id: Option<String>,
    /// The MIME part path (`"1.2"`), stable for the message.
    pub part_id: String,
    /// The file name, decoded (RFC 2231 / RFC 2047), if any.
    pub filename: Option<String>,
    /// The declared media type (`application/pdf`).
    pub content_type: String,
    /// The decoded size in bytes.
    pub size: u64,
}

/// A parsed inbound message: only what Mail Ops stores.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboundMail {
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To`, without angle brackets.
    pub in_reply_to: Option<String>,
    /// `References`, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// `From`.
    pub from: Option<MailAddress>,
    /// `Reply-To`.
    pub reply_to: Vec<MailAddress>,
    /// `To`.
    pub to: Vec<MailAddress>,
    /// `Cc`.
    pub cc: Vec<MailAddress>,
    /// `Subject`, decoded.
    pub subject: Option<String>,
    /// `Date`, if it parses.
    pub date: Option<DateTime<Utc>>,
    /// The text body (from `text/plain`, else derived from the HTML), UTF-8.
    pub text: String,
    /// The HTML body after sanitising (no scripts, no event handlers, no
    /// remote content), if the message had one.
    pub html: Option<String>,
    /// Attachment metadata.
    pub attachments: Vec<InboundAttachment>,
    /// What did not parse (a bad charset, a truncated part): the message is
    /// stored as far as it parsed, and these say what is missing.
    pub defects: Vec<String>,
}

/// One message fetched from the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    /// The provider's message id.
    pub id: String,
    /// The provider's thread id.
    pub thread_id: String,
    /// The provider's labels (`INBOX`, `SENT`, `Label_12`, …).
    pub label_ids: Vec<String>,
    /// When the provider received it.
    pub received_at: DateTime<Utc>,
    /// The parsed content.
    pub mail: InboundMail,
}

/// A connected mailbox (see the module doc).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MailboxReader: Send + Sync + fmt::Debug {
    /// The mailbox's current history id: where incremental sync starts
    /// after a full one.
    async fn current_history_id(&self, access_token: &Secret<String>) -> Result<String>;

    /// One page of the messages matching `query` (Gmail search syntax, e.g.
    /// `newer_than:30d -in:chats`), newest first.
    async fn list_messages(
        &self,
        access_token: &Secret<String>,
        query: &str,
        page_token: Option<String>,
    ) -> Result<MessageList>;

    /// One page of the messages added since `start_history_id`, or
    /// [`HistoryOutcome::Expired`] when that id is too old.
    async fn history(
        &self,
        access_token: &Secret<String>,
        start_history_id: &str,
        page_token: Option<String>,
    ) -> Result<HistoryOutcome>;

    /// One message, parsed. Mail that does not parse cleanly still comes
    /// back, with [`InboundMail::defects`] saying what is missing.
    async fn fetch(
        &self,
        access_token: &Secret<String>,
        message_id: &str,
    ) -> Result<FetchedMessage>;

    /// An attachment's bytes (on demand; never stored).
    async fn fetch_attachment(
        &self,
        access_token: &Secret<String>,
        message_id: &str,
        attachment_id: &str,
    ) -> Result<Vec<u8>>;

    /// Sends a composed RFC 5322 message from the mailbox, into `thread_id`
    /// when given; answers the provider's message id.
    async fn send(
        &self,
        access_token: &Secret<String>,
        raw: &[u8],
        thread_id: Option<String>,
    ) -> Result<String>;
}
