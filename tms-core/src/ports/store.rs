//! The `Store` port: transactions over every repository and the audit log.
//!
//! A [`Store`] hands out [`UnitOfWork`]s. A unit of work is one database
//! transaction: every repository reached through it reads and writes inside
//! that transaction, and [`UnitOfWork::commit`] makes the writes and their
//! audit events durable together. Dropping a unit of work without
//! committing rolls it back.
//!
//! Rules every implementation keeps (the contract suite checks them):
//! - every read takes the tenant, and another tenant's record is `None`,
//!   exactly like a missing one;
//! - list methods take a [`Scope`] and filter branches in the query;
//! - updates check `version` and fail with [`Error::Conflict`] when stale;
//! - unique violations are `Conflict`; a lost connection is `Unavailable`.
//!
//! [`Error::Conflict`]: crate::Error::Conflict

use std::fmt;
use std::net::IpAddr;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::audit::{AuditEvent, ChainBreak, ChainVerifier, NewAuditEvent};
use crate::domain::{
    Branch, BranchScope, Email, Phone, Principal, Session, Tenant, TenantSettings, TenantSlug, User,
};
use crate::error::{Error, Result};
use crate::id::{BranchId, MessageId, SessionId, TenantId, TokenId, UserId};
use crate::policy::PendingConfirmation;
use crate::security::keyring::Sealed;
use crate::security::lockout::{AccountLockout, IpThrottle};
use crate::security::token::{SingleUseToken, TokenHash, TokenPurpose};

/// Which records a list may return: one tenant, and within it the branches
/// the caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The only tenant.
    pub tenant_id: TenantId,
    /// The branches; [`BranchScope::All`] for every branch.
    pub branches: BranchScope,
}

impl Scope {
    /// The scope of what `principal` may see.
    pub fn of(principal: &Principal) -> Self {
        Self {
            tenant_id: principal.tenant_id(),
            branches: principal.effective_scope().clone(),
        }
    }

    /// Whether a record of `branch` is inside the scope.
    pub fn contains(&self, branch: BranchId) -> bool {
        self.branches.contains(branch)
    }
}

/// A position in a list ordered by `(created_at, id)`, for keyset paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last row's creation time.
    pub created_at: DateTime<Utc>,
    /// The last row's id (tie-breaker).
    pub id: uuid::Uuid,
}

impl Cursor {
    /// The opaque text form handed to API callers.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses [`Cursor::encode`]'s form; anything else is `Invalid`.
    pub fn decode(text: &str) -> Result<Self> {
        let invalid = || Error::invalid("cursor", "is not a cursor from this API");
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| invalid())?;
        let (micros, id) = bytes.split_at_checked(8).ok_or_else(invalid)?;
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| invalid())?);
        let id = uuid::Uuid::from_slice(id).map_err(|_| invalid())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        Ok(Self { created_at, id })
    }
}

/// A page request: at most `limit` rows after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    /// Start after this row; `None` for the first page.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The page size when the caller gives none.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: u32 = 200;

    /// Checks `limit` (1..=200, default 50) and decodes `cursor`.
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<Self> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        let after = cursor.map(Cursor::decode).transpose()?;
        Ok(Self { limit, after })
    }

    /// The first page of the default size.
    pub fn first() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            after: None,
        }
    }

    /// The page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows, in `(created_at, id)` order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Hands out units of work. Held as `Arc<dyn Store>`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>>;

    /// Whether the backend answers (for readiness probes).
    async fn ping(&self) -> Result<()>;
}

/// One transaction with every repository and the audit log.
#[async_trait]
pub trait UnitOfWork: Send {
    /// Tenants.
    fn tenants(&mut self) -> &mut dyn TenantRepo;
    /// Tenant settings.
    fn settings(&mut self) -> &mut dyn SettingsRepo;
    /// Branches.
    fn branches(&mut self) -> &mut dyn BranchRepo;
    /// Users.
    fn users(&mut self) -> &mut dyn UserRepo;
    /// Sessions.
    fn sessions(&mut self) -> &mut dyn SessionRepo;
    /// Lockout and throttle state.
    fn lockouts(&mut self) -> &mut dyn LockoutRepo;
    /// Single-use tokens.
    fn tokens(&mut self) -> &mut dyn TokenRepo;
    /// Pending confirmations of critical actions.
    fn confirmations(&mut self) -> &mut dyn ConfirmationRepo;
    /// The audit log.
    fn audit(&mut self) -> &mut dyn AuditLog;
    /// Messages waiting to be sent (mail), written with the change that
    /// caused them.
    fn outbox(&mut self) -> &mut dyn OutboxRepo;
    /// Every sealed value of every tenant, for key rotation.
    fn secrets(&mut self) -> &mut dyn SecretsRepo;
    // --- clients (issue 6) ---
    /// Clients and their consents.
    fn clients(&mut self) -> &mut dyn super::clients::ClientRepo;
    // --- catalogue, bookings, tickets (issue 6) ---
    /// Categories, packages and their places.
    fn catalogue(&mut self) -> &mut dyn crate::ports::CatalogueRepo;
    /// Bookings and their reference counter.
    fn bookings(&mut self) -> &mut dyn crate::ports::BookingRepo;
    /// Airline tickets.
    fn tickets(&mut self) -> &mut dyn crate::ports::TicketRepo;
    /// Used idempotency keys.
    fn idempotency(&mut self) -> &mut dyn crate::ports::IdempotencyRepo;
    // --- umrah (issue 6) ---
    /// Umrah groups.
    fn umrah_groups(&mut self) -> &mut dyn crate::ports::UmrahGroupRepo;
    /// Families of Umrah groups.
    fn umrah_families(&mut self) -> &mut dyn crate::ports::UmrahFamilyRepo;
    /// Pilgrims.
    fn pilgrims(&mut self) -> &mut dyn crate::ports::PilgrimRepo;
    /// Rooms of Umrah groups and their assignments.
    fn umrah_rooms(&mut self) -> &mut dyn crate::ports::RoomRepo;
    // --- finance (issue 7) ---
    /// Invoices, payments, refunds, exchange rates and the ledger.
    fn finance(&mut self) -> &mut dyn crate::ports::FinanceRepo;
    // --- privacy (issue 7) ---
    /// Cross-table lookups and bulk changes of the privacy rights.
    fn privacy(&mut self) -> &mut dyn crate::ports::PrivacyRepo;
    // --- files (issue 8) ---
    /// Uploaded files (their bytes live in the blob store) and branding.
    fn files(&mut self) -> &mut dyn crate::ports::FileRepo;
    // --- documents (issue 8) ---
    // --- outreach (issue 9) ---
    /// Templates, suppressions, campaigns and their recipients.
    fn outreach(&mut self) -> &mut dyn crate::ports::OutreachRepo;
    // --- whatsapp (issue 9) ---
    /// WhatsApp connections and delivery statuses.
    fn whatsapp(&mut self) -> &mut dyn crate::ports::WhatsappRepo;
    // --- mail ops (issue 10) ---
    /// Mail Ops: sync state, threads, messages, support tickets, rules.
    fn mail_ops(&mut self) -> &mut dyn crate::ports::MailOpsRepo;

    /// Makes every write of this unit durable, or none of them.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Discards every write (dropping the unit does the same).
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// Tenants.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TenantRepo: Send {
    /// Adds a tenant; `Conflict` if the slug is taken.
    async fn insert(&mut self, tenant: &Tenant) -> Result<()>;
    /// The tenant with this id.
    async fn get(&mut self, id: TenantId) -> Result<Option<Tenant>>;
    /// The tenant with this slug (login).
    async fn find_by_slug(&mut self, slug: &TenantSlug) -> Result<Option<Tenant>>;
    /// Saves changes if `tenant.version` is current, then bumps it.
    async fn update(&mut self, tenant: &mut Tenant) -> Result<()>;
}

/// Tenant settings.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SettingsRepo: Send {
    /// The settings of `tenant` (the defaults if none were saved).
    async fn get(&mut self, tenant: TenantId) -> Result<TenantSettings>;
    /// Saves settings if `settings.version` is current, then bumps it.
    async fn put(&mut self, settings: &mut TenantSettings) -> Result<()>;
    /// A secret setting (an OAuth token, an SMTP password) as sealed bytes.
    /// The store never sees the plain text: sealing and opening happen in
    /// the key ring.
    async fn secret(&mut self, tenant: TenantId, name: &str) -> Result<Option<Sealed>>;
    /// Saves a sealed secret setting, replacing any previous value.
    async fn put_secret(&mut self, tenant: TenantId, name: &str, sealed: &Sealed) -> Result<()>;
    /// Removes a secret setting; whether there was one.
    async fn delete_secret(&mut self, tenant: TenantId, name: &str) -> Result<bool>;
}

/// Branches.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BranchRepo: Send {
    /// Adds a branch.
    async fn insert(&mut self, branch: &Branch) -> Result<()>;
    /// The branch, if it is the tenant's.
    async fn get(&mut self, tenant: TenantId, id: BranchId) -> Result<Option<Branch>>;
    /// Saves changes if `branch.version` is current, then bumps it.
    async fn update(&mut self, branch: &mut Branch) -> Result<()>;
    /// The branches inside `scope`.
    async fn list(&mut self, scope: &Scope, page: PageRequest) -> Result<Page<Branch>>;
}

/// Users.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepo: Send {
    /// Adds a user; `Conflict` if the email is taken in the tenant.
    async fn insert(&mut self, user: &User) -> Result<()>;
    /// The user, if they are the tenant's.
    async fn get(&mut self, tenant: TenantId, id: UserId) -> Result<Option<User>>;
    /// The tenant's user with this email.
    async fn find_by_email(&mut self, tenant: TenantId, email: &Email) -> Result<Option<User>>;
    /// Saves changes if `user.version` is current, then bumps it.
    async fn update(&mut self, user: &mut User) -> Result<()>;
    /// The tenant's users.
    async fn list(&mut self, tenant: TenantId, page: PageRequest) -> Result<Page<User>>;
}

/// Sessions.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SessionRepo: Send {
    /// Adds a session.
    async fn insert(&mut self, session: &Session) -> Result<()>;
    /// The session, if it is the tenant's.
    async fn get(&mut self, tenant: TenantId, id: SessionId) -> Result<Option<Session>>;
    /// Records activity.
    async fn touch(&mut self, tenant: TenantId, id: SessionId, at: DateTime<Utc>) -> Result<()>;
    /// Ends one session.
    async fn revoke(&mut self, tenant: TenantId, id: SessionId, at: DateTime<Utc>) -> Result<()>;
    /// Ends every live session of `user` but `except`; returns how many.
    async fn revoke_all(
        &mut self,
        tenant: TenantId,
        user: UserId,
        except: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// The user's sessions that are not revoked, newest first.
    async fn list_for_user(&mut self, tenant: TenantId, user: UserId) -> Result<Vec<Session>>;
}

/// Lockout state, shared by every replica. Reads lock the row until commit
/// where the database can, so concurrent failures are all counted.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LockoutRepo: Send {
    /// The lockout state of the account named `email` (known or not).
    async fn account(&mut self, tenant: TenantId, email: &Email) -> Result<AccountLockout>;
    /// Saves it.
    async fn put_account(
        &mut self,
        tenant: TenantId,
        email: &Email,
        state: &AccountLockout,
    ) -> Result<()>;
    /// The throttle state of `ip`.
    async fn ip(&mut self, tenant: TenantId, ip: IpAddr) -> Result<IpThrottle>;
    /// Saves it.
    async fn put_ip(&mut self, tenant: TenantId, ip: IpAddr, state: &IpThrottle) -> Result<()>;
}

/// A single-use token with its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Identity.
    pub id: TokenId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// The user it acts for (an invited user exists before accepting).
    pub user_id: UserId,
    /// Hash, purpose, expiry, tries, used mark.
    pub token: SingleUseToken,
}

/// Single-use tokens.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenRepo: Send {
    /// Adds a token.
    async fn insert(&mut self, token: &StoredToken) -> Result<()>;
    /// The token with this hash and purpose.
    async fn find_by_hash(
        &mut self,
        tenant: TenantId,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<StoredToken>>;
    /// The user's newest unused token of `purpose` (email OTPs, which are short).
    async fn latest_for_user(
        &mut self,
        tenant: TenantId,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Option<StoredToken>>;
    /// Saves tries and the used mark.
    async fn update(&mut self, token: &StoredToken) -> Result<()>;
}

/// Pending confirmations.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ConfirmationRepo: Send {
    /// Adds one.
    async fn insert(&mut self, confirmation: &PendingConfirmation) -> Result<()>;
    /// The one with this token hash.
    async fn find_by_hash(
        &mut self,
        tenant: TenantId,
        hash: &TokenHash,
    ) -> Result<Option<PendingConfirmation>>;
    /// Saves the used mark.
    async fn update(&mut self, confirmation: &PendingConfirmation) -> Result<()>;
}

/// How an outbox message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxChannel {
    /// An email through the tenant's mail transport.
    Email,
    /// A WhatsApp template message through the tenant's WhatsApp
    /// connection.
    Whatsapp,
}

impl OutboxChannel {
    /// The stable name used in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxChannel::Email => "email",
            OutboxChannel::Whatsapp => "whatsapp",
        }
    }

    /// Parses [`OutboxChannel::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "email" => Ok(OutboxChannel::Email),
            "whatsapp" => Ok(OutboxChannel::Whatsapp),
            _ => Err(Error::invalid("channel", "unknown outbox channel")),
        }
    }
}

/// Where an outbox message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for the worker (or for a retry).
    Pending,
    /// Delivered to the transport.
    Sent,
    /// Given up on (a permanent failure, or too many attempts).
    Failed,
}

impl OutboxStatus {
    /// The stable name used in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    /// Parses [`OutboxStatus::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "pending" => Ok(OutboxStatus::Pending),
            "sent" => Ok(OutboxStatus::Sent),
            "failed" => Ok(OutboxStatus::Failed),
            _ => Err(Error::invalid("status", "unknown outbox status")),
        }
    }
}

/// A message written in the same transaction as the change that caused it
/// and sent later by a worker, so that a rolled-back change sends nothing
/// and a crash loses nothing.
///
/// The body may carry a one-time secret (a reset link, an OTP): `Debug`
/// never shows it.
///
/// ```
/// use chrono::Utc;
/// use tms_core::domain::{Email, Phone};
/// use tms_core::id::{BookingId, MessageId, TenantId};
/// use tms_core::ports::{AttachmentRef, OutboxChannel, OutboxMessage};
///
/// let tenant = TenantId::new();
/// let mail = OutboxMessage::email(
///     MessageId::new(), tenant, Email::parse("amina@example.com").unwrap(),
///     "Your booking is confirmed", "See you in Madinah.", Utc::now(),
/// )
/// .with_html("<p>See you in <b>Madinah</b>.</p>")
/// .with_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click").unwrap()
/// .with_attachment(AttachmentRef::BookingVoucher { booking_id: BookingId::new() });
/// assert_eq!(mail.channel(), OutboxChannel::Email);
/// assert_eq!(mail.recipient(), "amina@example.com");
/// // Only a fixed set of headers may be added, and never a line break.
/// assert!(mail.clone().with_header("Bcc", "x@example.com").is_err());
/// assert!(mail.with_header("References", "<a@x>\r\nBcc: x@example.com").is_err());
///
/// let whatsapp = OutboxMessage::whatsapp(
///     MessageId::new(), tenant, Phone::parse("+966501234567").unwrap(),
///     "booking_confirmed", "ar", vec!["Amina".into(), "TMS-1042".into()], Utc::now(),
/// );
/// assert_eq!(whatsapp.channel(), OutboxChannel::Whatsapp);
/// assert_eq!(whatsapp.recipient(), "+966501234567");
/// ```
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxMessage {
    /// Identity.
    pub id: MessageId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// What is sent, and to whom.
    pub content: OutboxContent,
    /// A stable id fixed when the message is written, so a retried send is
    /// recognisably the same message: the RFC 5322 `Message-ID` of an
    /// email.
    pub message_id: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Not to be sent before this time (the next retry, for the worker).
    pub not_before: DateTime<Utc>,
    /// Where it is in its life.
    pub status: OutboxStatus,
    /// Send attempts so far.
    pub attempts: u32,
}

/// What an outbox message carries, per channel.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "channel")]
pub enum OutboxContent {
    /// An email.
    Email(EmailContent),
    /// A WhatsApp template message.
    Whatsapp(WhatsappContent),
}

/// An email's content: text, optionally HTML beside it, a few extra
/// headers, and attachments rendered when it is sent.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmailContent {
    /// The recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (always present: every reader can show it).
    pub body_text: String,
    /// HTML body, sent as the preferred alternative to the text.
    pub body_html: Option<String>,
    /// Extra headers, from [`MAIL_HEADERS`] only.
    pub headers: Vec<(String, String)>,
    /// Documents attached when the message is sent.
    pub attachments: Vec<AttachmentRef>,
    /// The provider thread (Gmail's `threadId`) a reply belongs in: sent
    /// from a connected Gmail mailbox, the message goes through the Gmail
    /// API into that thread, so the agency's mailbox shows the
    /// conversation whole (headers alone do not always thread it there).
    /// Checked by [`check_thread_id`]; absent from payloads written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// A WhatsApp template message: the provider-approved template's name,
/// its language and its variables in order.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WhatsappContent {
    /// The recipient.
    pub to: Phone,
    /// The approved template's name at the provider.
    pub template: String,
    /// The template's language code, e.g. `ar` or `en_US`.
    pub language: String,
    /// Values of the template's variables, in order.
    pub variables: Vec<String>,
}

/// A document attached to an email, named rather than stored: the worker
/// renders it when it sends (see
/// [`AttachmentSource`](crate::service::messaging::AttachmentSource)), so
/// that the outbox row stays small and the document is the booking as it
/// is when the mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AttachmentRef {
    /// The booking's voucher, as PDF.
    BookingVoucher {
        /// The booking.
        booking_id: crate::id::BookingId,
    },
    /// The booking's calendar (`.ics`): its flights and hotel stays, or
    /// their cancellation.
    BookingCalendar {
        /// The booking.
        booking_id: crate::id::BookingId,
    },
    /// An invoice, as PDF.
    InvoicePdf {
        /// The invoice.
        invoice_id: crate::id::InvoiceId,
    },
}

/// The headers a message may add to the ones the composer writes:
/// one-click unsubscribe (RFC 8058), threading of replies (RFC 5322), and
/// the auto-generated mark (RFC 3834). No address header is among them, so
/// no message can grow a hidden recipient.
pub const MAIL_HEADERS: [&str; 5] = [
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
];

impl OutboxMessage {
    /// A pending plain-text email to `to` in `tenant`, written at `now`,
    /// with a `Message-ID` derived from its id.
    pub fn email(
        id: MessageId,
        tenant_id: TenantId,
        to: Email,
        subject: impl Into<String>,
        body_text: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self::new(
            id,
            tenant_id,
            OutboxContent::Email(EmailContent {
                to,
                subject: subject.into(),
                body_text: body_text.into(),
                body_html: None,
                headers: Vec::new(),
                attachments: Vec::new(),
                thread_id: None,
            }),
            now,
        )
    }

    /// A pending WhatsApp template message to `to` in `tenant`, written at
    /// `now`.
    pub fn whatsapp(
        id: MessageId,
        tenant_id: TenantId,
        to: Phone,
        template: impl Into<String>,
        language: impl Into<String>,
        variables: Vec<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self::new(
            id,
            tenant_id,
            OutboxContent::Whatsapp(WhatsappContent {
                to,
                template: template.into(),
                language: language.into(),
                variables,
            }),
            now,
        )
    }

    fn new(id: MessageId, tenant_id: TenantId, content: OutboxContent, now: DateTime<Utc>) -> Self {
        Self {
            id,
            tenant_id,
            content,
            message_id: format!("<{}@tms.invalid>", id.as_uuid().simple()),
            created_at: now,
            not_before: now,
            status: OutboxStatus::Pending,
            attempts: 0,
        }
    }

    /// Adds an HTML body beside the text (emails only; ignored otherwise).
    #[must_use]
    pub fn with_html(mut self, html: impl Into<String>) -> Self {
        if let OutboxContent::Email(email) = &mut self.content {
            email.body_html = Some(html.into());
        }
        self
    }

    /// Adds a header from [`MAIL_HEADERS`] (emails only). Any other name,
    /// a value with a control character (a line break would start a new
    /// header) or a value longer than 900 bytes is `Invalid`.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        check_mail_header(name, &value)?;
        match &mut self.content {
            OutboxContent::Email(email) => {
                email.headers.push((name.to_owned(), value));
                Ok(self)
            }
            OutboxContent::Whatsapp(_) => Err(Error::invalid(
                "headers",
                "only an email can carry mail headers",
            )),
        }
    }

    /// Puts the email in the provider thread `thread_id` (see
    /// [`EmailContent::thread_id`]). An id [`check_thread_id`] refuses is
    /// `Invalid`, as is a WhatsApp message.
    pub fn with_thread_id(mut self, thread_id: impl Into<String>) -> Result<Self> {
        let thread_id = thread_id.into();
        check_thread_id(&thread_id)?;
        match &mut self.content {
            OutboxContent::Email(email) => {
                email.thread_id = Some(thread_id);
                Ok(self)
            }
            OutboxContent::Whatsapp(_) => Err(Error::invalid(
                "thread_id",
                "only an email can belong to a mail thread",
            )),
        }
    }

    /// Attaches a document, rendered when the mail is sent (emails only;
    /// ignored otherwise).
    #[must_use]
    pub fn with_attachment(mut self, attachment: AttachmentRef) -> Self {
        if let OutboxContent::Email(email) = &mut self.content {
            email.attachments.push(attachment);
        }
        self
    }

    /// How it travels.
    pub fn channel(&self) -> OutboxChannel {
        match self.content {
            OutboxContent::Email(_) => OutboxChannel::Email,
            OutboxContent::Whatsapp(_) => OutboxChannel::Whatsapp,
        }
    }

    /// The recipient's address: an email address or an E.164 number.
    pub fn recipient(&self) -> &str {
        match &self.content {
            OutboxContent::Email(email) => email.to.as_str(),
            OutboxContent::Whatsapp(whatsapp) => whatsapp.to.as_str(),
        }
    }

    /// A one-line summary safe to show an administrator: the subject of an
    /// email, the template name of a WhatsApp message.
    pub fn summary(&self) -> &str {
        match &self.content {
            OutboxContent::Email(email) => &email.subject,
            OutboxContent::Whatsapp(whatsapp) => &whatsapp.template,
        }
    }

    /// The email content, if it is an email.
    pub fn as_email(&self) -> Option<&EmailContent> {
        match &self.content {
            OutboxContent::Email(email) => Some(email),
            OutboxContent::Whatsapp(_) => None,
        }
    }
}

/// Checks one extra mail header; see [`OutboxMessage::with_header`].
pub fn check_mail_header(name: &str, value: &str) -> Result<()> {
    if !MAIL_HEADERS.contains(&name) {
        return Err(Error::invalid(
            "headers",
            format!("{name} cannot be set on a message"),
        ));
    }
    if value.len() > 900 || value.chars().any(|c| c.is_control()) || !value.is_ascii() {
        return Err(Error::invalid(
            "headers",
            format!("the {name} value must be printable ASCII of at most 900 bytes"),
        ));
    }
    Ok(())
}

/// The longest provider thread id an email may carry.
pub const MAX_THREAD_ID_LEN: usize = 256;

/// Checks a provider thread id ([`OutboxMessage::with_thread_id`]): 1 to
/// [`MAX_THREAD_ID_LEN`] ASCII letters, digits, `-` or `_` — what Gmail's
/// ids are made of, and what can go into a URL or a JSON body as it is.
/// Anything else is `Invalid`.
///
/// ```
/// use tms_core::ports::check_thread_id;
/// assert!(check_thread_id("18c2f0a1b2c3d4e5").is_ok());
/// for bad in ["", "../profile", "a b", "t\r\nBcc: x", &"a".repeat(257)] {
///     assert!(check_thread_id(bad).is_err(), "{bad}");
/// }
/// ```
pub fn check_thread_id(thread_id: &str) -> Result<()> {
    let ok = !thread_id.is_empty()
        && thread_id.len() <= MAX_THREAD_ID_LEN
        && thread_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "thread_id",
            "must be 1 to 256 ASCII letters, digits, `-` or `_`",
        ))
    }
}

impl fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("content", &self.content)
            .field("message_id", &self.message_id)
            .field("created_at", &self.created_at)
            .field("not_before", &self.not_before)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl fmt::Debug for OutboxContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies and variables carry reset links, codes and personal data:
        // never print them.
        match self {
            OutboxContent::Email(email) => f
                .debug_struct("Email")
                .field("to", &email.to)
                .field("subject", &email.subject)
                .field("body", &"<redacted>")
                .field("headers", &email.headers.len())
                .field("attachments", &email.attachments)
                .field("threaded", &email.thread_id.is_some())
                .finish(),
            OutboxContent::Whatsapp(whatsapp) => f
                .debug_struct("Whatsapp")
                .field("to", &whatsapp.to)
                .field("template", &whatsapp.template)
                .field("language", &whatsapp.language)
                .field("variables", &"<redacted>")
                .finish(),
        }
    }
}

impl fmt::Debug for EmailContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&OutboxContent::Email(self.clone()), f)
    }
}

impl fmt::Debug for WhatsappContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&OutboxContent::Whatsapp(self.clone()), f)
    }
}

/// The outbox: messages to send, written with the change that caused them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OutboxRepo: Send {
    /// Adds a message; `Conflict` if its id is taken.
    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<()>;
    /// The tenant's messages, oldest first.
    async fn list(&mut self, tenant: TenantId, page: PageRequest) -> Result<Page<OutboxMessage>>;

    // --- the worker's side (issue 9) ---

    /// Claims up to `limit` pending messages due at `now` (oldest due
    /// first) of tenants whose outbox is not paused: each claimed message
    /// counts one more attempt and is hidden until `lease_until`, so that a
    /// worker that dies mid-send leaves it to be retried after the lease
    /// (with the same `Message-ID`). On PostgreSQL the rows are taken
    /// `FOR UPDATE SKIP LOCKED`: concurrent workers never claim the same
    /// message. The returned messages carry their new attempt count.
    async fn claim_due(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;
    /// Writes one attempt to the delivery log and moves the message on:
    /// sent, back to pending at the retry time, or failed for good.
    async fn record_attempt(
        &mut self,
        message: &OutboxMessage,
        attempt: &DeliveryAttempt,
    ) -> Result<()>;
    /// Puts a claimed message back as pending at `not_before` without
    /// counting the attempt (a paused tenant, a full daily quota).
    async fn release(&mut self, message: &OutboxMessage, not_before: DateTime<Utc>) -> Result<()>;
    /// How many of the tenant's messages were sent at or after `since`.
    async fn sent_since(&mut self, tenant: TenantId, since: DateTime<Utc>) -> Result<u64>;
    /// The tenant's outbox controls (defaults when never set).
    async fn controls(&mut self, tenant: TenantId) -> Result<OutboxControls>;
    /// Saves the tenant's outbox controls.
    async fn set_controls(&mut self, tenant: TenantId, controls: &OutboxControls) -> Result<()>;
    /// One message of the tenant; `None` if it does not exist there.
    async fn get(&mut self, tenant: TenantId, id: MessageId) -> Result<Option<OutboxMessage>>;
    /// The delivery log of one message, oldest attempt first.
    async fn deliveries(&mut self, tenant: TenantId, id: MessageId) -> Result<Vec<DeliveryRecord>>;
}

/// What became of one send attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum DeliveryOutcome {
    /// The transport accepted the message.
    Sent,
    /// A transient failure: try again at `next_attempt_at`.
    Retry {
        /// When the next attempt is due.
        next_attempt_at: DateTime<Utc>,
    },
    /// A permanent failure, or the last allowed attempt failed: stop.
    Failed,
}

impl DeliveryOutcome {
    /// The stable name used in the delivery log.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Sent => "sent",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// One attempt, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// When the attempt ended.
    pub at: DateTime<Utc>,
    /// Which transport carried it (`smtp`, `folder`, `gmail`, …).
    pub transport: String,
    /// What became of it.
    pub outcome: DeliveryOutcome,
    /// The provider's id for the message, when it gave one.
    pub provider_message_id: Option<String>,
    /// Why it failed, in words safe to store (no secrets, no bodies).
    pub error: Option<String>,
}

/// A row of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryRecord {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// Which transport carried it.
    pub transport: Option<String>,
    /// `sent`, `retry` or `failed`.
    pub outcome: String,
    /// The provider's id for the message.
    pub provider_message_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// How the worker treats one tenant's outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct OutboxControls {
    /// Nothing is sent while paused; messages wait, none is lost.
    pub paused: bool,
    /// At most this many messages sent per rolling 24 hours (e.g. a
    /// Gmail account's daily quota); `None` for no limit.
    pub daily_limit: Option<u32>,
}

/// Where a sealed value is kept: enough for its store to find it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SealedLocation {
    /// The store's name of the sealed column, e.g. `users.totp_secret`.
    pub column: String,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The row's key within the tenant, as text: a UUID, or a name for rows
    /// keyed by name (`tenant_secrets`).
    pub key: String,
}

/// One sealed value as a key rotation reads it: where it is, what it was
/// sealed for, and its bytes (never the plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// Where it is kept.
    pub location: SealedLocation,
    /// The seal context's table name.
    pub seal_table: String,
    /// The seal context's row id.
    pub seal_row: uuid::Uuid,
    /// The seal context's field name.
    pub seal_field: String,
    /// The stored bytes.
    pub sealed: Sealed,
    /// When a blind index of the value is stored next to it (exact-match
    /// search), the field name it is computed with: a rotation recomputes
    /// it under the newest key.
    pub index_field: Option<String>,
}

impl SealedValue {
    /// The context the value was sealed for.
    pub fn context(&self) -> crate::security::keyring::SealContext<'_> {
        crate::security::keyring::SealContext {
            tenant_id: self.location.tenant_id,
            table: &self.seal_table,
            row: self.seal_row,
            field: &self.seal_field,
        }
    }
}

/// Every sealed value of every tenant, for key rotation
/// ([`crate::service::keys`]). A store lists its sealed columns once (the
/// SQL store: a registry of them), so that a new sealed column is rotated
/// without touching the rotation. (No mock: the contract tests run it on
/// real stores.)
#[async_trait]
pub trait SecretsRepo: Send {
    /// How many sealed values the store holds (for progress).
    async fn count_sealed(&mut self) -> Result<u64>;
    /// Up to `limit` sealed values after `after` (from the start when
    /// `None`), in the store's fixed order over every column and tenant;
    /// fewer than `limit` only at the end.
    async fn sealed_page(
        &mut self,
        after: Option<&SealedLocation>,
        limit: u32,
    ) -> Result<Vec<SealedValue>>;
    /// Stores `sealed` (and `index`, the new blind index, for a column that
    /// has one) at `location` if it still holds `previous`; whether it did.
    /// A value changed since it was read is left alone.
    async fn replace_sealed(
        &mut self,
        location: &SealedLocation,
        previous: &Sealed,
        sealed: &Sealed,
        index: Option<&crate::security::keyring::BlindIndex>,
    ) -> Result<bool>;
}

/// The append-only audit log with its per-tenant hash chain.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send {
    /// Appends an event at the end of its tenant's chain. Appends of one
    /// tenant are serialized so that concurrent writers never fork the chain.
    /// Secrets in `before`/`after` are redacted again on the way in, so a
    /// caller who filled the fields by hand cannot bypass
    /// [`NewAuditEvent::with_change`].
    async fn append(&mut self, event: NewAuditEvent) -> Result<AuditEvent>;
    /// Appends several events of one tenant in order (imports, seeding).
    /// The default appends them one by one; stores may batch.
    async fn append_all(&mut self, events: Vec<NewAuditEvent>) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            out.push(self.append(event).await?);
        }
        Ok(out)
    }
    /// Up to `limit` events of `tenant` with `seq > after_seq`, in order.
    /// Verification and export page through this in constant memory.
    async fn read(
        &mut self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>>;
    /// The end of the tenant's chain as the store recorded it: the last
    /// sequence number and hash, `(0, GENESIS)` for an empty chain. Lets
    /// [`verify_chain`] notice events deleted from the end.
    ///
    /// [`GENESIS`]: crate::audit::GENESIS
    async fn head(&mut self, tenant: TenantId) -> Result<(i64, [u8; 32])>;
}

/// What [`verify_chain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStatus {
    /// Every event links to the one before it and the chain ends at the
    /// recorded head.
    Intact {
        /// How many events were checked.
        events: i64,
    },
    /// The first broken link: an edited, deleted, inserted or moved event.
    Broken(ChainBreak),
    /// The events hold together but do not end at the recorded head: events
    /// were deleted from the end, or the last one was replaced.
    HeadMismatch {
        /// The last event found.
        last_seq: i64,
        /// The last event the store recorded.
        head_seq: i64,
    },
}

impl ChainStatus {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        matches!(self, ChainStatus::Intact { .. })
    }
}

/// How many events [`verify_chain`] and the exports read at a time.
pub const AUDIT_PAGE: u32 = 500;

/// Reads the tenant's log from the start, [`AUDIT_PAGE`] events at a time,
/// handing each page to `on_page` until it returns `false` or the log ends.
/// Memory stays at one page however long the log is.
async fn for_each_page(
    log: &mut dyn AuditLog,
    tenant: TenantId,
    mut on_page: impl FnMut(&[AuditEvent]) -> Result<bool> + Send,
) -> Result<()> {
    let mut after = 0;
    loop {
        let page = log.read(tenant, after, AUDIT_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.seq;
        if !on_page(&page)? {
            return Ok(());
        }
    }
}

/// Streams the tenant's chain through a [`ChainVerifier`], [`AUDIT_PAGE`]
/// events at a time, and reports the first broken link.
pub async fn verify_chain(log: &mut dyn AuditLog, tenant: TenantId) -> Result<ChainStatus> {
    let (head_seq, head_hash) = log.head(tenant).await?;
    let mut verifier = ChainVerifier::new();
    let mut last_hash = crate::audit::GENESIS;
    let mut broken = None;
    for_each_page(log, tenant, |page| {
        for event in page {
            let pushed = if event.event.tenant_id == tenant {
                verifier.push(event)
            } else {
                Err(ChainBreak::Altered { seq: event.seq })
            };
            if let Err(at) = pushed {
                broken = Some(at);
                return Ok(false);
            }
            last_hash = event.hash;
        }
        Ok(true)
    })
    .await?;
    if let Some(at) = broken {
        return Ok(ChainStatus::Broken(at));
    }
    let events = verifier.checked();
    if events != head_seq || last_hash != head_hash {
        return Ok(ChainStatus::HeadMismatch {
            last_seq: events,
            head_seq,
        });
    }
    Ok(ChainStatus::Intact { events })
}

/// The columns of [`export_csv`], in order.
pub const AUDIT_CSV_HEADER: [&str; 17] = [
    "seq",
    "id",
    "at",
    "actor_user_id",
    "actor",
    "ip",
    "user_agent",
    "request_id",
    "action",
    "resource_kind",
    "resource_id",
    "branch_id",
    "before",
    "after",
    "prev_hash",
    "hash",
    // When the payload was erased (privacy right): `before`/`after` are
    // then empty, and the chain still verifies.
    "erased_at",
];

/// Writes the tenant's audit log as JSON Lines (one [`AuditEvent`] per
/// line), reading [`AUDIT_PAGE`] events at a time and flushing after each
/// page, so memory stays constant however long the log is. Returns how many
/// events were written.
pub async fn export_jsonl<W: std::io::Write + Send>(
    log: &mut dyn AuditLog,
    tenant: TenantId,
    mut out: W,
) -> Result<u64> {
    let mut written = 0;
    for_each_page(log, tenant, |page| {
        for event in page {
            serde_json::to_writer(&mut out, event)
                .map_err(|e| Error::unavailable(format!("audit export: {e}")))?;
            out.write_all(b"\n").map_err(export_io)?;
            written += 1;
        }
        out.flush().map_err(export_io)?;
        Ok(true)
    })
    .await?;
    Ok(written)
}

/// Writes the tenant's audit log as CSV with [`AUDIT_CSV_HEADER`], page by
/// page like [`export_jsonl`]. Cells that a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) are
/// prefixed with `'`: an audit export must not become an attack on the
/// person who opens it.
pub async fn export_csv<W: std::io::Write + Send>(
    log: &mut dyn AuditLog,
    tenant: TenantId,
    out: W,
) -> Result<u64> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(AUDIT_CSV_HEADER).map_err(export_csv_err)?;
    let mut written = 0;
    for_each_page(log, tenant, |page| {
        for e in page {
            let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
            let opt = |v: Option<String>| v.unwrap_or_default();
            let ev = &e.event;
            let record = [
                e.seq.to_string(),
                ev.id.to_string(),
                ev.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                opt(ev.actor_user_id.map(|u| u.to_string())),
                ev.actor.clone(),
                opt(ev.ip.clone()),
                opt(ev.user_agent.clone()),
                ev.request_id.to_string(),
                ev.action.clone(),
                ev.resource_kind.clone(),
                opt(ev.resource_id.map(|u| u.to_string())),
                opt(ev.branch_id.map(|b| b.to_string())),
                opt(ev.before.as_ref().map(|v| v.to_string())),
                opt(ev.after.as_ref().map(|v| v.to_string())),
                hex(&e.prev_hash),
                hex(&e.hash),
                opt(e
                    .erased_at
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))),
            ];
            csv.write_record(record.iter().map(|cell| defuse_formula(cell).into_owned()))
                .map_err(export_csv_err)?;
            written += 1;
        }
        csv.flush().map_err(export_io)?;
        Ok(true)
    })
    .await?;
    Ok(written)
}

fn defuse_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn export_io(e: std::io::Error) -> Error {
    Error::unavailable(format!("audit export: {e}"))
}

fn export_csv_err(e: csv::Error) -> Error {
    Error::unavailable(format!("audit export: {e}"))
}

/// How many times [`transact`] runs a unit of work that failed with a
/// retryable error (a serialization failure, a deadlock, a busy database).
pub const TRANSACT_ATTEMPTS: u32 = 4;

/// Runs `work` in a fresh unit of work and commits it, retrying the whole
/// unit up to [`TRANSACT_ATTEMPTS`] times when it fails with a retryable
/// error ([`Error::Unavailable`]); any other error is returned at once and
/// the unit is rolled back.
///
/// ```ignore
/// let id = transact(&*store, |uow| Box::pin(async move {
///     uow.branches().insert(&branch).await?;
///     uow.audit().append(event.clone()).await?;
///     Ok(branch.id)
/// })).await?;
/// ```
pub async fn transact<T, F>(store: &dyn Store, mut work: F) -> Result<T>
where
    T: Send,
    F: for<'u> FnMut(
            &'u mut dyn UnitOfWork,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'u>>
        + Send,
{
    let mut attempt = 1;
    loop {
        let outcome = async {
            let mut uow = store.begin().await?;
            let value = work(&mut *uow).await?;
            uow.commit().await?;
            Ok(value)
        }
        .await;
        match outcome {
            Err(Error::Unavailable { .. }) if attempt < TRANSACT_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_invalid() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: uuid::Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "!!!", "AAAA", &"A".repeat(400)] {
            assert!(
                matches!(Cursor::decode(bad), Err(Error::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit(), 50);
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(201), None).is_err());
        assert!(PageRequest::new(Some(200), None).is_ok());
    }

    /// A log in a vector, for the helpers' tests.
    struct VecLog(Vec<AuditEvent>);

    #[async_trait]
    impl AuditLog for VecLog {
        async fn append(&mut self, event: NewAuditEvent) -> Result<AuditEvent> {
            let (seq, prev) = self
                .0
                .last()
                .map_or((1, crate::audit::GENESIS), |e| (e.seq + 1, e.hash));
            let chained = event.chain(seq, prev);
            self.0.push(chained.clone());
            Ok(chained)
        }
        async fn read(
            &mut self,
            _: TenantId,
            after_seq: i64,
            limit: u32,
        ) -> Result<Vec<AuditEvent>> {
            Ok(self
                .0
                .iter()
                .filter(|e| e.seq > after_seq)
                .take(limit as usize)
                .cloned()
                .collect())
        }
        async fn head(&mut self, _: TenantId) -> Result<(i64, [u8; 32])> {
            Ok(self
                .0
                .last()
                .map_or((0, crate::audit::GENESIS), |e| (e.seq, e.hash)))
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn csv_export_defuses_spreadsheet_formulas_and_verify_sees_truncation() {
        use crate::domain::Context;
        let tenant = TenantId::new();
        let ctx = Context::new(Principal::system(tenant, "test"), Utc::now());
        let mut log = VecLog(Vec::new());
        block_on(async {
            for action in ["=HYPERLINK(\"http://evil\")", "booking.created", "@SUM(A1)"] {
                log.append(NewAuditEvent::new(&ctx, action, "booking", None))
                    .await
                    .unwrap();
            }
        });
        let mut out = Vec::new();
        assert_eq!(block_on(export_csv(&mut log, tenant, &mut out)).unwrap(), 3);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("'=HYPERLINK")
                && text.contains("'@SUM")
                && text.contains(",booking.created,"),
            "{text}"
        );
        let mut lines = Vec::new();
        assert_eq!(
            block_on(export_jsonl(&mut log, tenant, &mut lines)).unwrap(),
            3
        );
        assert_eq!(lines.iter().filter(|b| **b == b'\n').count(), 3);
        assert_eq!(
            block_on(verify_chain(&mut log, tenant)).unwrap(),
            ChainStatus::Intact { events: 3 }
        );
        // Dropping the last event leaves a chain that holds but ends early.
        let head = log.0.pop().unwrap();
        struct Truncated(VecLog, (i64, [u8; 32]));
        #[async_trait]
        impl AuditLog for Truncated {
            async fn append(&mut self, event: NewAuditEvent) -> Result<AuditEvent> {
                self.0.append(event).await
            }
            async fn read(
                &mut self,
                t: TenantId,
                after: i64,
                limit: u32,
            ) -> Result<Vec<AuditEvent>> {
                self.0.read(t, after, limit).await
            }
            async fn head(&mut self, _: TenantId) -> Result<(i64, [u8; 32])> {
                Ok(self.1)
            }
        }
        let mut truncated = Truncated(log, (head.seq, head.hash));
        assert_eq!(
            block_on(verify_chain(&mut truncated, tenant)).unwrap(),
            ChainStatus::HeadMismatch {
                last_seq: 2,
                head_seq: 3
            }
        );
    }

    #[test]
    fn scope_of_a_super_admin_is_every_branch() {
        use crate::domain::Role;
        let tenant = TenantId::new();
        let owner = Principal::user(
            UserId::new(),
            tenant,
            Role::TenantSuperAdmin,
            BranchScope::only([]),
        );
        assert_eq!(Scope::of(&owner).branches, BranchScope::All);
    }
}
