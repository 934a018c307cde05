//! Privacy rights: export everything held about a person, erase it, and
//! apply retention periods (DESIGN.md §6, issue 7).
//!
//! A *person* is a client, a pilgrim or a user of the tenant
//! ([`SubjectKind`]).
//!
//! - **Export** ([`Privacy::export`]) gathers the person's records (sealed
//!   passport numbers opened: the person has the right to see them), their
//!   consents, the bookings where they appear (as the client, or as a
//!   traveller matched by name), the messages addressed to them, the files
//!   about them (when a [`PersonFiles`] is plugged in), and the audit events
//!   about them, into one JSON-ready [`PersonExport`]. Bounded: at most
//!   [`MAX_EXPORT_EVENTS`] audit events, with a flag when there were more.
//!   It is the `X` (export) right on the Compliance class — a Tenant Super
//!   Admin's — and is itself audited (`privacy.exported`, counts only).
//! - **Correction** is the ordinary update path of each record (clients,
//!   pilgrims, booking travellers), each audited with before and after.
//! - **Erasure** ([`Privacy::erase`]) is a critical action (confirmation
//!   token) exercised under the same grant. It anonymises the personal
//!   fields wherever they appear — the client row, the pilgrim rows linked
//!   to the client, matching booking travellers (and their sealed
//!   passports), the user row (pseudonymous name and address, password and
//!   second factors removed, login blocked, sessions revoked, tokens
//!   expired), the outbox messages addressed to them, their login-attempt
//!   record, and the payloads of the audit events about them (the chain
//!   still verifies: see [`crate::audit`]). Financial records the law
//!   requires stay: invoices, payments, refunds and ledger lines keep their
//!   amounts and refer to the client, whose name is now the pseudonym
//!   `erased-client-<short id>`. The erasure is audited (`privacy.erased`,
//!   counts only). Erasing twice is harmless.
//! - **Retention** ([`Privacy::run_retention`]) forgets login-attempt
//!   records, delivery logs and finished outbox messages after their
//!   periods, and anonymises the travellers of bookings completed or
//!   cancelled longer ago than theirs; one `privacy.retention.applied` event
//!   per tenant with the counts.
//!
//! What is *not* erased, on purpose: the IP address and user agent of
//! audit events a user *acted* in (security records; they are covered by the
//! chain), and audit events written before schema 10 (canonical v1, whose
//! hash covers the payload itself): [`ErasureReport::audit_events_kept_v1`]
//! counts them.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{AuditEvent, NewAuditEvent};
use crate::domain::{Client, Context, Email, LatinName, Name, Pilgrim, Principal, User};
use crate::error::{Error, Result};
use crate::id::{BookingId, ClientId, PilgrimId, TenantId, UserId};
use crate::policy::{self, Action, Decision, Resource, ResourceKind};
use crate::ports::{
    AuditErasure, OutboxContent, RetentionCounts, StoredTraveller, SubjectKind, UnitOfWork,
};
use crate::security::keyring::{KeyRing, SealContext};
use crate::security::token::PlainToken;
use crate::service::guard::authorize_in;
use crate::service::tenancy::Deps;

/// The most audit events an export carries (about the person, and for a
/// user the events they acted in); [`PersonExport::audit_events_truncated`]
/// says when there were more.
pub const MAX_EXPORT_EVENTS: usize = 10_000;

/// Audit events read per page while exporting.
const EVENT_PAGE: u32 = 500;

/// Bookings anonymised per unit of work by the retention job.
const RETENTION_BATCH: u32 = 200;

/// The date of birth (and passport expiry) an anonymised record gets where
/// the schema requires one.
fn placeholder_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default()
}

/// The last eight hex digits of an id: the random end of a UUIDv7, so the
/// pseudonym says nothing about when the record was made.
fn short_id(id: uuid::Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_owned()
}

/// The pseudonym that replaces an erased person's name, e.g.
/// `erased-client-1a2b3c4d`.
///
/// ```
/// use tms_core::service::privacy::pseudonym;
/// use tms_core::ports::SubjectKind;
///
/// let id = uuid::Uuid::parse_str("0190f0e2-7b1c-7000-8000-00001a2b3c4d").unwrap();
/// assert_eq!(pseudonym(SubjectKind::Client, id), "erased-client-1a2b3c4d");
/// ```
pub fn pseudonym(kind: SubjectKind, id: uuid::Uuid) -> String {
    format!("erased-{}-{}", kind.as_str(), short_id(id))
}

/// The address that replaces an erased user's email: unique (the whole id)
/// and undeliverable (`.invalid`).
fn pseudonymous_email(id: uuid::Uuid) -> Result<Email> {
    Email::parse(&format!("erased-{}@erased.invalid", id.simple()))
}

/// A file held about a person, as the export lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReference {
    /// The file's id.
    pub id: uuid::Uuid,
    /// What kind of file (e.g. `passport_scan`, `visa`).
    pub category: String,
    /// The name it was uploaded under, if kept.
    pub file_name: Option<String>,
    /// The content type read from its bytes.
    pub content_type: String,
    /// Its size.
    pub size_bytes: u64,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// The files held about people: the integration point of the files table
/// (issue 8). Plug one in with [`Privacy::with_files`]; without one, exports
/// say `"files": null` (not tracked) and erasure deletes none.
#[async_trait]
pub trait PersonFiles: Send + Sync + fmt::Debug {
    /// The files about `(kind, id)` in `tenant`, read in `uow`.
    async fn list(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Vec<FileReference>>;
    /// Deletes the file rows about `(kind, id)` in `uow` (they commit with
    /// the erasure) and returns them, for [`PersonFiles::delete_blobs`].
    async fn erase(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Vec<FileReference>>;
    /// Deletes the stored bytes of `files` once the erasure committed (a
    /// failure here leaves orphaned bytes, never a dangling row).
    async fn delete_blobs(&self, tenant: TenantId, files: &[FileReference]) -> Result<()>;
}

/// Everything held about one person. Serialize it as the JSON bundle.
#[derive(Clone, Serialize)]
pub struct PersonExport {
    /// Whose data.
    pub subject: SubjectRef,
    /// When the bundle was made.
    pub generated_at: DateTime<Utc>,
    /// When the person's data was erased, if it was.
    pub erased_at: Option<DateTime<Utc>>,
    /// Their records: the client, pilgrim or user record, and for a client
    /// the pilgrim records linked to it.
    pub records: Vec<Value>,
    /// Their consent answers (clients).
    pub consents: Vec<Value>,
    /// The bookings where they appear, with only their own traveller
    /// entries (other travellers are counted, not shown).
    pub bookings: Vec<Value>,
    /// The messages addressed to them (for a user, bodies withheld: the
    /// identity service's mail carries reset links and one-time codes).
    pub messages: Vec<Value>,
    /// Their sessions (users).
    pub sessions: Vec<Value>,
    /// The files about them; `None` when this build tracks no files.
    pub files: Option<Vec<FileReference>>,
    /// The audit events about them.
    pub audit_events: Vec<AuditEvent>,
    /// For a user: the events they acted in, without payloads (those are
    /// about other people).
    pub activity: Vec<Value>,
    /// Whether more audit events exist than the bundle carries.
    pub audit_events_truncated: bool,
    // --- mail ops (issue 10) ---
    /// A client's support tickets, each with its mail thread's messages
    /// (internal notes are the agency's, not the person's, and stay out).
    pub support_tickets: Vec<Value>,
}

impl fmt::Debug for PersonExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: the shape only.
        f.debug_struct("PersonExport")
            .field("subject", &self.subject)
            .field("records", &self.records.len())
            .field("bookings", &self.bookings.len())
            .field("audit_events", &self.audit_events.len())
            .finish_non_exhaustive()
    }
}

/// Which person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubjectRef {
    /// Client, pilgrim or user.
    pub kind: SubjectKind,
    /// Their id.
    pub id: uuid::Uuid,
}

/// What an erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// When.
    pub erased_at: DateTime<Utc>,
    /// Client rows anonymised.
    pub clients: u64,
    /// Pilgrim rows anonymised.
    pub pilgrims: u64,
    /// User rows anonymised.
    pub users: u64,
    /// Bookings whose travellers were anonymised.
    pub bookings: u64,
    /// Traveller entries anonymised.
    pub travellers: u64,
    /// Sessions revoked.
    pub sessions_revoked: u64,
    /// Unused tokens expired.
    pub tokens_expired: u64,
    /// Outbox messages scrubbed.
    pub messages: u64,
    /// Login-attempt records forgotten.
    pub login_attempts: u64,
    /// Audit events whose payload was erased.
    pub audit_events_erased: u64,
    /// Audit events about them written before schema 10, left as written.
    pub audit_events_kept_v1: u64,
    /// Files deleted.
    pub files: u64,
    /// Files whose stored bytes could not be deleted after the commit
    /// (unreachable, but still on disk or in the bucket: delete by hand).
    pub file_bytes_left: u64,
}

/// How long personal data of each kind is kept; `None` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Login-attempt records (per account and per IP) idle this long.
    pub login_attempts: Option<Duration>,
    /// Delivery logs and sent or failed outbox messages this old.
    pub delivery_logs: Option<Duration>,
    /// Completed or cancelled bookings last changed this long ago: their
    /// travellers are anonymised (the booking, its items and its financial
    /// records stay).
    pub closed_bookings: Option<Duration>,
}

impl RetentionPolicy {
    /// Whether the policy removes anything at all.
    pub fn is_empty(&self) -> bool {
        self.login_attempts.is_none()
            && self.delivery_logs.is_none()
            && self.closed_bookings.is_none()
    }
}

/// One tenant's retention result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TenantRetention {
    /// The tenant.
    pub tenant_id: TenantId,
    /// What was (or, in a dry run, would be) removed.
    pub counts: RetentionCounts,
}

/// The privacy service.
#[derive(Debug, Clone)]
pub struct Privacy {
    deps: Deps,
    keyring: Arc<KeyRing>,
    files: Option<Arc<dyn PersonFiles>>,
}

/// A person's records as loaded for an export or erasure.
enum Loaded {
    Client(Client),
    Pilgrim(Pilgrim),
    User(User),
}

impl Privacy {
    /// The service over `deps`, opening and sealing with `keyring`.
    pub fn new(deps: Deps, keyring: Arc<KeyRing>) -> Self {
        Self {
            deps,
            keyring,
            files: None,
        }
    }

    /// Plugs in the files about people (see [`PersonFiles`]).
    pub fn with_files(mut self, files: Arc<dyn PersonFiles>) -> Self {
        self.files = Some(files);
        self
    }

    /// Refuses at once a caller without the grant (403 even for an id
    /// that does not exist), before anything is read.
    fn precheck(ctx: &Context, action: Action) -> Result<Resource> {
        let resource = Resource::new(ResourceKind::PrivacyRequest, ctx.principal.tenant_id());
        match policy::authorize(&ctx.principal, action, &resource) {
            Decision::Deny(reason) => Err(reason.into_error(ResourceKind::PrivacyRequest)),
            Decision::Allow | Decision::ConfirmationRequired(_) => Ok(resource),
        }
    }

    async fn load(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Loaded> {
        let found = match kind {
            SubjectKind::Client => uow
                .clients()
                .get(tenant, ClientId::from_uuid(id))
                .await?
                .map(Loaded::Client),
            SubjectKind::Pilgrim => uow
                .pilgrims()
                .get(tenant, PilgrimId::from_uuid(id))
                .await?
                .map(Loaded::Pilgrim),
            SubjectKind::User => uow
                .users()
                .get(tenant, UserId::from_uuid(id))
                .await?
                .map(Loaded::User),
            SubjectKind::Booking => None,
        };
        found.ok_or_else(|| Error::not_found(kind.as_str()))
    }

    /// Everything held about `(kind, id)`; see the module doc.
    pub async fn export(
        &self,
        ctx: &Context,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> Result<PersonExport> {
        let resource = Self::precheck(ctx, Action::Export)?.with_id(id);
        let tenant = ctx.principal.tenant_id();
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(uow, &self.deps, ctx, Action::Export, &resource, None).await?;
        let loaded = Self::load(&mut *uow, tenant, kind, id).await?;
        let mut out = PersonExport {
            subject: SubjectRef { kind, id },
            generated_at: ctx.now,
            erased_at: uow.privacy().erasure(tenant, kind, id).await?,
            records: Vec::new(),
            consents: Vec::new(),
            bookings: Vec::new(),
            messages: Vec::new(),
            sessions: Vec::new(),
            files: None,
            audit_events: Vec::new(),
            activity: Vec::new(),
            audit_events_truncated: false,
            // --- mail ops (issue 10) ---
            support_tickets: Vec::new(),
        };
        let mut about = vec![id];
        match &loaded {
            Loaded::Client(client) => {
                out.records.push(self.client_json(client)?);
                for pilgrim in uow.privacy().pilgrims_of_client(tenant, client.id).await? {
                    if let Some(p) = uow.pilgrims().get(tenant, pilgrim).await? {
                        about.push(p.id.as_uuid());
                        out.records.push(self.pilgrim_json(&p)?);
                    }
                }
                for consent in uow.clients().consents(tenant, client.id).await? {
                    out.consents.push(json!({
                        "channel": consent.channel,
                        "granted": consent.granted,
                        "source": consent.source,
                        "at": consent.at,
                    }));
                }
                let person = Person::of_client(client);
                out.bookings = self
                    .bookings_json(&mut *uow, tenant, Some(client.id), &person)
                    .await?;
                // Mail to their address and WhatsApp messages to their phone.
                let recipients = [
                    client.email.as_ref().map(Email::as_str),
                    client.phone.as_ref().map(|p| p.as_str()),
                ];
                for recipient in recipients.into_iter().flatten() {
                    out.messages
                        .extend(messages_json(&mut *uow, tenant, recipient, true).await?);
                }
                // --- mail ops (issue 10) ---
                for ticket in uow.mail_ops().tickets_of_client(tenant, client.id).await? {
                    about.push(ticket.id.as_uuid());
                    let messages = match ticket.thread_id {
                        Some(thread) => uow.mail_ops().messages(tenant, thread).await?,
                        None => Vec::new(),
                    };
                    out.support_tickets.push(json!({
                        "id": ticket.id,
                        "subject": ticket.subject,
                        "status": ticket.status.as_str(),
                        "created_at": ticket.created_at,
                        "messages": messages.iter().map(|m| json!({
                            "from": m.from.as_ref().map(|a| &a.address),
                            "to": m.to.iter().map(|a| &a.address).collect::<Vec<_>>(),
                            "subject": m.subject,
                            "text": m.text,
                            "received_at": m.received_at,
                            "attachments": m.attachments.iter().map(|a| json!({
                                "filename": a.filename,
                                "content_type": a.content_type,
                                "size": a.size,
                            })).collect::<Vec<_>>(),
                            "defects": m.defects,
                        })).collect::<Vec<_>>(),
                    }));
                }
            }
            Loaded::Pilgrim(pilgrim) => {
                out.records.push(self.pilgrim_json(pilgrim)?);
                let person = Person::of_pilgrim(pilgrim);
                out.bookings = self.bookings_json(&mut *uow, tenant, None, &person).await?;
            }
            Loaded::User(user) => {
                out.records.push(user_json(user));
                for session in uow.sessions().list_for_user(tenant, user.id).await? {
                    out.sessions.push(json!({
                        "id": session.id,
                        "created_at": session.created_at,
                        "last_seen_at": session.last_seen_at,
                        "expires_at": session.expires_at,
                        "revoked_at": session.revoked_at,
                        "ip": session.ip,
                        "user_agent": session.user_agent,
                    }));
                }
                // A user's mail is the identity service's: reset links,
                // one-time codes, invitations. Their bodies carry live
                // secrets that whoever reads the bundle must not get.
                out.messages = messages_json(&mut *uow, tenant, user.email.as_str(), false).await?;
                let (activity, truncated) = activity_json(&mut *uow, tenant, user.id).await?;
                out.activity = activity;
                out.audit_events_truncated |= truncated;
            }
        }
        if let Some(files) = &self.files {
            out.files = Some(files.list(&mut *uow, tenant, kind, id).await?);
        }
        let mut after = 0;
        'pages: loop {
            let page = uow
                .privacy()
                .audit_about(tenant, &about, after, EVENT_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in page {
                if out.audit_events.len() == MAX_EXPORT_EVENTS {
                    out.audit_events_truncated = true;
                    break 'pages;
                }
                out.audit_events.push(event);
            }
        }
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "privacy.exported", kind.as_str(), Some(id)).with_change(
                    None,
                    Some(json!({
                        "records": out.records.len(),
                        "bookings": out.bookings.len(),
                        "messages": out.messages.len(),
                        "files": out.files.as_ref().map(Vec::len),
                        "audit_events": out.audit_events.len(),
                    })),
                ),
            )
            .await?;
        uow.commit().await?;
        Ok(out)
    }

    /// Erases the personal data of `(kind, id)`. Critical: without
    /// `confirmation` this fails with `ConfirmationRequired` and a token;
    /// repeat with it. See the module doc for what changes.
    pub async fn erase(
        &self,
        ctx: &Context,
        kind: SubjectKind,
        id: uuid::Uuid,
        confirmation: Option<&PlainToken>,
    ) -> Result<ErasureReport> {
        let resource = Self::precheck(ctx, Action::Erase)?.with_id(id);
        let tenant = ctx.principal.tenant_id();
        if kind == SubjectKind::Booking {
            return Err(Error::not_found("privacy subject kind"));
        }
        if kind == SubjectKind::User && ctx.principal.user_id().map(|u| u.as_uuid()) == Some(id) {
            return Err(Error::conflict(
                "you cannot erase your own account; ask another Tenant Super Admin",
            ));
        }
        // The person must exist (404) before a confirmation is handed out.
        let mut uow = self.deps.store.begin().await?;
        Self::load(&mut *uow, tenant, kind, id).await?;
        let mut uow =
            authorize_in(uow, &self.deps, ctx, Action::Erase, &resource, confirmation).await?;
        let loaded = Self::load(&mut *uow, tenant, kind, id).await?;
        let mut report = ErasureReport {
            erased_at: ctx.now,
            ..ErasureReport::default()
        };
        let mut about = vec![id];
        match loaded {
            Loaded::Client(client) => {
                let person = Person::of_client(&client);
                let old_recipients = [
                    client.email.as_ref().map(|e| e.as_str().to_owned()),
                    client.phone.as_ref().map(|p| p.as_str().to_owned()),
                ];
                self.erase_client(&mut *uow, client, ctx.now).await?;
                report.clients = 1;
                for pilgrim in uow
                    .privacy()
                    .pilgrims_of_client(tenant, ClientId::from_uuid(id))
                    .await?
                {
                    self.erase_pilgrim(&mut *uow, tenant, pilgrim).await?;
                    about.push(pilgrim.as_uuid());
                    report.pilgrims += 1;
                }
                let touched = self
                    .erase_travellers(
                        &mut *uow,
                        tenant,
                        Some(ClientId::from_uuid(id)),
                        &person,
                        ctx.now,
                        &mut report,
                    )
                    .await?;
                about.extend(touched.iter().map(|b| b.as_uuid()));
                for recipient in old_recipients.iter().flatten() {
                    report.messages += scrub_messages(&mut *uow, tenant, recipient, id).await?;
                }
            }
            Loaded::Pilgrim(pilgrim) => {
                let person = Person::of_pilgrim(&pilgrim);
                self.erase_pilgrim(&mut *uow, tenant, pilgrim.id).await?;
                report.pilgrims = 1;
                let touched = self
                    .erase_travellers(&mut *uow, tenant, None, &person, ctx.now, &mut report)
                    .await?;
                about.extend(touched.iter().map(|b| b.as_uuid()));
            }
            Loaded::User(mut user) => {
                let old_email = user.email.clone();
                user.email = pseudonymous_email(id)?;
                user.name = Name::parse(&pseudonym(SubjectKind::User, id))?;
                user.password_hash = None;
                user.two_factor = Default::default();
                user.must_change_password = false;
                user.disabled_at = Some(user.disabled_at.unwrap_or(ctx.now));
                uow.users().update(&mut user).await?;
                report.users = 1;
                report.sessions_revoked = uow
                    .sessions()
                    .revoke_all(tenant, user.id, None, ctx.now)
                    .await?;
                report.tokens_expired = uow
                    .privacy()
                    .expire_tokens(tenant, user.id, ctx.now)
                    .await?;
                report.login_attempts = uow
                    .privacy()
                    .forget_login_attempts(tenant, &old_email)
                    .await?;
                if old_email != user.email {
                    report.messages +=
                        scrub_messages(&mut *uow, tenant, old_email.as_str(), id).await?;
                }
            }
        }
        let files = match &self.files {
            Some(files) => files.erase(&mut *uow, tenant, kind, id).await?,
            None => Vec::new(),
        };
        report.files = files.len() as u64;
        // The files' own audit events (uploads, with their names) are about
        // the person too.
        about.extend(files.iter().map(|f| f.id));
        let AuditErasure { erased, kept_v1 } = uow
            .privacy()
            .erase_audit_about(tenant, &about, ctx.now)
            .await?;
        report.audit_events_erased = erased;
        report.audit_events_kept_v1 = kept_v1;
        uow.privacy()
            .record_erasure(tenant, kind, id, ctx.now)
            .await?;
        let counts = serde_json::to_value(report)
            .map_err(|e| Error::internal(format!("erasure report: {e}")))?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "privacy.erased", kind.as_str(), Some(id))
                    .with_change(None, Some(counts)),
            )
            .await?;
        uow.commit().await?;
        if let (Some(hook), false) = (&self.files, files.is_empty())
            && hook.delete_blobs(tenant, &files).await.is_err()
        {
            // The rows are gone, so the bytes are unreachable; say so rather
            // than fail an erasure that has committed.
            report.file_bytes_left = report.files;
        }
        Ok(report)
    }

    async fn erase_client(
        &self,
        uow: &mut dyn UnitOfWork,
        mut client: Client,
        now: DateTime<Utc>,
    ) -> Result<()> {
        client.name = Name::parse(&pseudonym(SubjectKind::Client, client.id.as_uuid()))?;
        client.latin_name = None;
        client.phone = None;
        client.email = None;
        client.date_of_birth = None;
        client.nationality = None;
        client.passport = None;
        client.passport_expires_on = None;
        client.updated_at = now;
        // Campaign recipient rows hold the address too; the suppression
        // list keeps it, as what stops mail to it (issue 9).
        uow.outreach()
            .forget_client(client.tenant_id, client.id)
            .await?;
        // --- mail ops (issue 10) ---
        // Their mail goes; their tickets stay, anonymised, for the
        // agency's statistics.
        uow.mail_ops()
            .forget_client(client.tenant_id, client.id)
            .await?;
        uow.clients().update(&mut client).await
    }

    async fn erase_pilgrim(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        id: PilgrimId,
    ) -> Result<()> {
        let Some(mut pilgrim) = uow.pilgrims().get(tenant, id).await? else {
            return Ok(());
        };
        pilgrim.name = Name::parse(&pseudonym(SubjectKind::Pilgrim, id.as_uuid()))?;
        pilgrim.latin_name = LatinName::parse("ERASED")?;
        pilgrim.date_of_birth = placeholder_date();
        pilgrim.passport_expiry = placeholder_date();
        pilgrim.visa_number = None;
        // The schema keeps a sealed number and an index per pilgrim: seal a
        // marker, and index random bytes, which match no search ever.
        let mut noise = [0u8; 32];
        self.deps.random.fill_bytes(&mut noise);
        pilgrim.passport = crate::domain::StoredPassport {
            sealed: self.keyring.seal(
                b"ERASED",
                &SealContext {
                    tenant_id: tenant,
                    table: "pilgrims",
                    row: id.as_uuid(),
                    field: "passport_number",
                },
                self.deps.random.as_ref(),
            )?,
            index: self
                .keyring
                .blind_index(tenant, "passport_number", &noise)?,
            hint: "…".to_owned(),
        };
        uow.pilgrims().update(&mut pilgrim).await
    }

    /// Anonymises the travellers matching `person` in the bookings of
    /// `client` and in any booking naming them; returns the bookings changed.
    async fn erase_travellers(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        client: Option<ClientId>,
        person: &Person,
        now: DateTime<Utc>,
        report: &mut ErasureReport,
    ) -> Result<Vec<BookingId>> {
        let ids = uow
            .privacy()
            .bookings_mentioning(tenant, client, &person.needles())
            .await?;
        let mut touched = Vec::new();
        for id in ids {
            let Some(mut booking) = uow.bookings().get(tenant, id).await? else {
                continue;
            };
            let mut changed = 0;
            let own = client == Some(booking.client_id);
            for traveller in booking.travellers.iter_mut() {
                if person.matches(traveller, own) {
                    anonymise_traveller(traveller)?;
                    changed += 1;
                }
            }
            if changed > 0 {
                booking.updated_at = now;
                uow.bookings().update(&mut booking).await?;
                report.bookings += 1;
                report.travellers += changed;
            }
            // The client's own bookings are about them even when no
            // traveller matched (their audit payloads name the client); a
            // namesake's booking found by the coarse filter is not.
            if own || changed > 0 {
                touched.push(id);
            }
        }
        Ok(touched)
    }

    /// Applies `policy` to every tenant at `now`. A dry run computes the
    /// same counts in transactions that are rolled back (nothing changes,
    /// nothing is audited). Each tenant's changes commit with one
    /// `privacy.retention.applied` event carrying the counts; bookings are
    /// anonymised [`RETENTION_BATCH`] per transaction.
    pub async fn run_retention(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<TenantRetention>> {
        let tenants = {
            let mut uow = self.deps.store.begin().await?;
            let tenants = uow.privacy().tenant_ids().await?;
            uow.rollback().await?;
            tenants
        };
        let mut out = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let counts = self.retain_tenant(tenant, policy, now, dry_run).await?;
            out.push(TenantRetention {
                tenant_id: tenant,
                counts,
            });
        }
        Ok(out)
    }

    async fn retain_tenant(
        &self,
        tenant: TenantId,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<RetentionCounts> {
        let ctx = Context::new(Principal::system(tenant, "retention"), now);
        let mut total = RetentionCounts::default();
        let mut counts = RetentionCounts::default();
        let mut uow = self.deps.store.begin().await?;
        if let Some(period) = policy.login_attempts {
            counts.login_attempts = uow
                .privacy()
                .purge_login_attempts(tenant, now - period)
                .await?;
        }
        if let Some(period) = policy.delivery_logs {
            let (logs, messages) = uow.privacy().purge_deliveries(tenant, now - period).await?;
            counts.delivery_logs = logs;
            counts.outbox_messages = messages;
        }
        if let Some(period) = policy.closed_bookings {
            loop {
                let batch = uow
                    .privacy()
                    .closed_bookings_before(tenant, now - period, RETENTION_BATCH)
                    .await?;
                for id in &batch {
                    self.anonymise_booking(&mut *uow, tenant, *id, now).await?;
                }
                counts.bookings_anonymised += batch.len() as u64;
                if (batch.len() as u32) < RETENTION_BATCH {
                    break;
                }
                // A dry run goes on in the same transaction (what it changed
                // is not found again, and is all rolled back); a real run
                // commits each batch with its counts audited.
                if !dry_run {
                    audit_retention(&mut *uow, &ctx, &counts).await?;
                    uow.commit().await?;
                    total.add(&counts);
                    counts = RetentionCounts::default();
                    uow = self.deps.store.begin().await?;
                }
            }
        }
        if dry_run {
            uow.rollback().await?;
        } else {
            if !counts.is_empty() {
                audit_retention(&mut *uow, &ctx, &counts).await?;
            }
            uow.commit().await?;
        }
        total.add(&counts);
        Ok(total)
    }

    async fn anonymise_booking(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        id: BookingId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(mut booking) = uow.bookings().get(tenant, id).await? {
            for traveller in booking.travellers.iter_mut() {
                anonymise_traveller(traveller)?;
            }
            uow.bookings().update(&mut booking).await?;
            uow.privacy()
                .erase_audit_about(tenant, &[id.as_uuid()], now)
                .await?;
        }
        uow.privacy()
            .record_erasure(tenant, SubjectKind::Booking, id.as_uuid(), now)
            .await
    }

    fn client_json(&self, c: &Client) -> Result<Value> {
        let passport = c
            .passport
            .as_ref()
            .map(|p| {
                self.keyring.open_string(
                    &p.sealed,
                    &SealContext {
                        tenant_id: c.tenant_id,
                        table: "clients",
                        row: c.id.as_uuid(),
                        field: "passport_number",
                    },
                )
            })
            .transpose()?;
        Ok(json!({
            "type": "client",
            "id": c.id,
            "branch_id": c.branch_id,
            "kind": c.kind,
            "name": c.name,
            "latin_name": c.latin_name,
            "phone": c.phone,
            "email": c.email,
            "date_of_birth": c.date_of_birth,
            "nationality": c.nationality,
            "passport_number": passport.as_ref().map(|p| p.expose().clone()),
            "passport_expires_on": c.passport_expires_on,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }))
    }

    fn pilgrim_json(&self, p: &Pilgrim) -> Result<Value> {
        let passport = self.keyring.open_string(
            &p.passport.sealed,
            &SealContext {
                tenant_id: p.tenant_id,
                table: "pilgrims",
                row: p.id.as_uuid(),
                field: "passport_number",
            },
        )?;
        Ok(json!({
            "type": "pilgrim",
            "id": p.id,
            "group_id": p.group_id,
            "branch_id": p.branch_id,
            "family_id": p.family_id,
            "name": p.name,
            "latin_name": p.latin_name,
            "gender": p.gender,
            "date_of_birth": p.date_of_birth,
            "nationality": p.nationality,
            "passport_number": passport.expose(),
            "passport_expiry": p.passport_expiry,
            "visa_status": p.visa_status,
            "visa_number": p.visa_number,
            "client_id": p.client_id,
            "mahram_id": p.mahram_id,
            "mahram_relation": p.mahram_relation,
            "created_at": p.created_at,
        }))
    }

    async fn bookings_json(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        client: Option<ClientId>,
        person: &Person,
    ) -> Result<Vec<Value>> {
        let ids = uow
            .privacy()
            .bookings_mentioning(tenant, client, &person.needles())
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(booking) = uow.bookings().get(tenant, id).await? else {
                continue;
            };
            let as_client = client == Some(booking.client_id);
            let mine: Vec<&StoredTraveller> = booking
                .travellers
                .iter()
                .filter(|t| person.matches(t, as_client))
                .collect();
            if !as_client && mine.is_empty() {
                continue;
            }
            let travellers = mine
                .iter()
                .map(|t| self.traveller_json(tenant, t))
                .collect::<Result<Vec<_>>>()?;
            out.push(json!({
                "id": booking.id,
                "reference": booking.reference,
                "branch_id": booking.branch_id,
                "status": booking.status,
                "as_client": as_client,
                "as_traveller": !mine.is_empty(),
                "travellers": travellers,
                "other_travellers": booking.travellers.len() - mine.len(),
                "items": booking.items,
                "created_at": booking.created_at,
                "updated_at": booking.updated_at,
            }));
        }
        Ok(out)
    }

    fn traveller_json(&self, tenant: TenantId, t: &StoredTraveller) -> Result<Value> {
        let passport = t
            .passport
            .as_ref()
            .map(|sealed| {
                self.keyring.open_string(
                    sealed,
                    &SealContext {
                        tenant_id: tenant,
                        table: "bookings.travellers",
                        row: t.id.as_uuid(),
                        field: "passport_number",
                    },
                )
            })
            .transpose()?;
        Ok(json!({
            "id": t.id,
            "name": t.name,
            "latin_name": t.latin_name,
            "date_of_birth": t.date_of_birth,
            "passport_number": passport.as_ref().map(|p| p.expose().clone()),
        }))
    }
}

/// Who to look for among booking travellers: the name (as typed, or in
/// Latin letters) and, when known, the date of birth.
struct Person {
    names: Vec<String>,
    date_of_birth: Option<NaiveDate>,
}

impl Person {
    fn of_client(c: &Client) -> Self {
        let mut names = vec![c.name.as_str().to_owned()];
        names.extend(c.latin_name.as_ref().map(|l| l.as_str().to_owned()));
        Self {
            names,
            date_of_birth: c.date_of_birth,
        }
    }

    fn of_pilgrim(p: &Pilgrim) -> Self {
        Self {
            names: vec![p.name.as_str().to_owned(), p.latin_name.as_str().to_owned()],
            date_of_birth: Some(p.date_of_birth),
        }
    }

    fn needles(&self) -> Vec<String> {
        self.names.clone()
    }

    /// A traveller is this person when a name matches (case-insensitively)
    /// and the dates of birth agree. Without a known date of birth only the
    /// travellers of the person's own bookings (`own`) can match: a
    /// namesake on someone else's booking is someone else.
    fn matches(&self, t: &StoredTraveller, own: bool) -> bool {
        let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        let named = self
            .names
            .iter()
            .any(|n| same(n, t.name.as_str()) || same(n, t.latin_name.as_str()));
        named
            && match self.date_of_birth {
                Some(dob) => dob == t.date_of_birth,
                None => own,
            }
    }
}

fn anonymise_traveller(t: &mut StoredTraveller) -> Result<()> {
    t.name = Name::parse(
        &pseudonym(SubjectKind::Booking, t.id.as_uuid())
            .replace("erased-booking-", "erased-traveller-"),
    )?;
    t.latin_name = LatinName::parse("ERASED")?;
    t.date_of_birth = placeholder_date();
    t.passport = None;
    Ok(())
}

fn user_json(u: &User) -> Value {
    json!({
        "type": "user",
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": u.role,
        "branch_scope": u.scope,
        "totp_enabled": u.two_factor.totp_secret.is_some(),
        "email_otp_enabled": u.two_factor.email_otp,
        "disabled_at": u.disabled_at,
        "created_at": u.created_at,
    })
}

async fn messages_json(
    uow: &mut dyn UnitOfWork,
    tenant: TenantId,
    to: &str,
    with_body: bool,
) -> Result<Vec<Value>> {
    Ok(uow
        .privacy()
        .outbox_to(tenant, to)
        .await?
        .into_iter()
        .map(|m| {
            let body = match (&m.content, with_body) {
                (OutboxContent::Email(email), true) => json!({
                    "text": email.body_text,
                    "html": email.body_html,
                }),
                (OutboxContent::Whatsapp(whatsapp), true) => json!({
                    "language": whatsapp.language,
                    "variables": whatsapp.variables,
                }),
                (_, false) => Value::String("[withheld: may carry a one-time secret]".into()),
            };
            json!({
                "id": m.id,
                "channel": m.channel(),
                "to": m.recipient(),
                "subject": m.summary(),
                "body": body,
                "status": m.status,
                "created_at": m.created_at,
            })
        })
        .collect())
}

/// The events `user` acted in, without payloads, up to the export bound.
async fn activity_json(
    uow: &mut dyn UnitOfWork,
    tenant: TenantId,
    user: UserId,
) -> Result<(Vec<Value>, bool)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = uow
            .privacy()
            .audit_by_actor(tenant, user, after, EVENT_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok((out, false));
        };
        after = last.seq;
        for e in page {
            if out.len() == MAX_EXPORT_EVENTS {
                return Ok((out, true));
            }
            out.push(json!({
                "seq": e.seq,
                "at": e.event.at,
                "action": e.event.action,
                "resource_kind": e.event.resource_kind,
                "resource_id": e.event.resource_id,
                "ip": e.event.ip,
                "user_agent": e.event.user_agent,
            }));
        }
    }
}

/// Scrubs the messages to `recipient` (an address or a phone number),
/// readdressed to the person's pseudonym.
async fn scrub_messages(
    uow: &mut dyn UnitOfWork,
    tenant: TenantId,
    recipient: &str,
    subject: uuid::Uuid,
) -> Result<u64> {
    let to = pseudonymous_email(subject)?;
    let messages = uow.privacy().outbox_to(tenant, recipient).await?;
    for m in &messages {
        uow.privacy().scrub_outbox(tenant, m.id, &to).await?;
    }
    Ok(messages.len() as u64)
}

async fn audit_retention(
    uow: &mut dyn UnitOfWork,
    ctx: &Context,
    counts: &RetentionCounts,
) -> Result<()> {
    let counts =
        serde_json::to_value(counts).map_err(|e| Error::internal(format!("retention: {e}")))?;
    uow.audit()
        .append(
            NewAuditEvent::new(ctx, "privacy.retention.applied", "tenant", None)
                .with_change(None, Some(counts)),
        )
        .await
        .map(drop)
}
