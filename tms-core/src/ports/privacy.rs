//! The repository behind the privacy rights (export, erasure, retention):
//! the cross-table lookups and bulk changes that no single aggregate's
//! repository owns.
//!
//! Everything here is tenant-scoped like every other repository, and runs in
//! the caller's unit of work, so an erasure and its audit event commit
//! together or not at all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::AuditEvent;
use crate::domain::Email;
use crate::error::{Error, Result};
use crate::id::{BookingId, ClientId, MessageId, PilgrimId, TenantId, UserId};
use crate::ports::OutboxMessage;

/// Whose data a privacy request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A client of the agency.
    Client,
    /// A pilgrim of an Umrah group.
    Pilgrim,
    /// A user (staff member) of the agency.
    User,
    /// A booking whose travellers' personal data the retention job removed.
    Booking,
}

impl SubjectKind {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Client => "client",
            SubjectKind::Pilgrim => "pilgrim",
            SubjectKind::User => "user",
            SubjectKind::Booking => "booking",
        }
    }

    /// Parses the API's plural path segment (`clients`, `pilgrims`,
    /// `users`); anything else is `NotFound` (an unknown path).
    pub fn from_path(raw: &str) -> Result<Self> {
        match raw {
            "clients" => Ok(SubjectKind::Client),
            "pilgrims" => Ok(SubjectKind::Pilgrim),
            "users" => Ok(SubjectKind::User),
            _ => Err(Error::not_found("privacy subject kind")),
        }
    }
}

/// What an erasure of audit payloads did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditErasure {
    /// Events whose payload was erased now.
    pub erased: u64,
    /// Events written before schema 10 (canonical v1) whose payload the
    /// chain covers directly: left as they are.
    pub kept_v1: u64,
}

/// What one tenant's retention pass removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionCounts {
    /// Login-attempt records (per account and per IP) forgotten.
    pub login_attempts: u64,
    /// Delivery-log rows deleted.
    pub delivery_logs: u64,
    /// Sent or failed outbox messages deleted.
    pub outbox_messages: u64,
    /// Closed or cancelled bookings whose travellers were anonymised.
    pub bookings_anonymised: u64,
}

impl RetentionCounts {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &RetentionCounts) {
        self.login_attempts += other.login_attempts;
        self.delivery_logs += other.delivery_logs;
        self.outbox_messages += other.outbox_messages;
        self.bookings_anonymised += other.bookings_anonymised;
    }

    /// Whether nothing was (or would be) removed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The privacy repository.
#[async_trait]
pub trait PrivacyRepo: Send {
    /// When the subject's data was erased, if it was.
    async fn erasure(
        &mut self,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Option<DateTime<Utc>>>;
    /// Records that the subject's data was erased at `at` (a repeat keeps
    /// the first time).
    async fn record_erasure(
        &mut self,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Up to `limit` events of `tenant` about any of `resources`
    /// (`resource_id`) with `seq > after_seq`, in order.
    async fn audit_about(
        &mut self,
        tenant: TenantId,
        resources: &[uuid::Uuid],
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>>;
    /// Up to `limit` events of `tenant` acted by `user`, `seq > after_seq`.
    async fn audit_by_actor(
        &mut self,
        tenant: TenantId,
        user: UserId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>>;
    /// Erases the payload of every erasable event about any of `resources`
    /// (see [`AuditEvent::erase`]): the digests stay, so the chain still
    /// verifies.
    async fn erase_audit_about(
        &mut self,
        tenant: TenantId,
        resources: &[uuid::Uuid],
        at: DateTime<Utc>,
    ) -> Result<AuditErasure>;

    /// The pilgrim records linked to a client.
    async fn pilgrims_of_client(
        &mut self,
        tenant: TenantId,
        client: ClientId,
    ) -> Result<Vec<PilgrimId>>;
    /// The bookings of `client` (when given) and those whose travellers'
    /// stored text contains any of `names` (a coarse filter: the caller
    /// checks each traveller), oldest first.
    async fn bookings_mentioning(
        &mut self,
        tenant: TenantId,
        client: Option<ClientId>,
        names: &[String],
    ) -> Result<Vec<BookingId>>;
    /// The outbox messages addressed to `to` — an email address, or a
    /// phone number in E.164 for WhatsApp messages — oldest first.
    async fn outbox_to(&mut self, tenant: TenantId, to: &str) -> Result<Vec<OutboxMessage>>;
    /// Rewrites a message: recipient `to`, subject and body replaced by a
    /// note that they were erased; a pending one is marked failed (never
    /// sent). Its delivery-log details are cleared. A WhatsApp message
    /// becomes such an (unsendable) email row too: a phone number has no
    /// pseudonymous form, and the delivery log still says it went by
    /// WhatsApp.
    async fn scrub_outbox(&mut self, tenant: TenantId, id: MessageId, to: &Email) -> Result<()>;
    /// Marks every unused single-use token of `user` used at `at` (reset
    /// links, OTPs, invitations); returns how many.
    async fn expire_tokens(
        &mut self,
        tenant: TenantId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// Forgets the login-attempt record of the account named `email`.
    async fn forget_login_attempts(&mut self, tenant: TenantId, email: &Email) -> Result<u64>;

    /// Every tenant, for jobs that run across them.
    async fn tenant_ids(&mut self) -> Result<Vec<TenantId>>;
    /// Forgets login-attempt records (per account and per IP) with no
    /// activity since `before`; returns how many.
    async fn purge_login_attempts(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
    ) -> Result<u64>;
    /// Deletes delivery-log rows older than `before` of messages no longer
    /// pending, then sent or failed messages created before `before` with
    /// no delivery-log rows left; returns `(delivery_logs, messages)`.
    async fn purge_deliveries(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
    ) -> Result<(u64, u64)>;
    /// Up to `limit` completed or cancelled bookings last changed before
    /// `before` whose travellers were not anonymised yet, oldest first.
    async fn closed_bookings_before(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BookingId>>;
}
