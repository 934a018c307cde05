//! Mail Ops (issue 10): threads and messages of the connected mailbox, the
//! support tickets they become, routing rules and the tenant's SLA
//! settings — the records and their pure rules; the use cases live in
//! [`crate::service::mail_ops`].
//!
//! ```text
//! ticket:  open ⇄ pending ──▶ solved ──▶ closed
//!            │       │          │          │
//!            └───────┴──solve───┘          │
//!          solved ──(customer reply / reopen)──▶ open
//!          closed ──reopen──▶ open
//! ```
//!
//! Data minimisation: a stored message keeps the headers a ticket needs,
//! the text body, the sanitised HTML body and attachment *metadata*;
//! attachment bytes stay at the provider and are fetched on demand.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{
    BranchId, ClientId, MailMessageId, MailRuleId, MailThreadId, SupportTicketId, TenantId,
    TicketNoteId, UserId,
};
use crate::ports::InboundAttachment;

/// The label Gmail puts on mail the mailbox itself sent: such mail never
/// opens a ticket.
pub const SENT_LABEL: &str = "SENT";

/// Where a support ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    /// Waiting for the agency.
    Open,
    /// Waiting for the customer.
    Pending,
    /// Answered; a customer reply reopens it.
    Solved,
    /// Done; only staff reopen it.
    Closed,
}

impl SupportStatus {
    /// Every status.
    pub const ALL: [SupportStatus; 4] = [
        SupportStatus::Open,
        SupportStatus::Pending,
        SupportStatus::Solved,
        SupportStatus::Closed,
    ];

    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            SupportStatus::Open => "open",
            SupportStatus::Pending => "pending",
            SupportStatus::Solved => "solved",
            SupportStatus::Closed => "closed",
        }
    }

    /// Parses [`SupportStatus::as_str`]'s form.
    ///
    /// ```
    /// use tms_core::domain::mail_ops::SupportStatus;
    /// assert_eq!(SupportStatus::parse("solved").unwrap(), SupportStatus::Solved);
    /// assert!(SupportStatus::parse("done").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| Error::invalid("status", "must be open, pending, solved or closed"))
    }

    /// Whether a ticket may move from `self` to `to` (see the module doc).
    pub const fn can_move_to(self, to: SupportStatus) -> bool {
        use SupportStatus::{Closed, Open, Pending, Solved};
        matches!(
            (self, to),
            (Open, Pending)
                | (Pending, Open)
                | (Open | Pending, Solved)
                | (Solved, Closed)
                | (Solved | Closed, Open)
        )
    }

    /// Whether the ticket still waits on someone (open or pending).
    pub const fn is_active(self) -> bool {
        matches!(self, SupportStatus::Open | SupportStatus::Pending)
    }
}

impl fmt::Display for SupportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a ticket is; each priority has its own SLA targets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever convenient.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses [`Priority::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| Error::invalid("priority", "must be low, normal, high or urgent"))
    }
}

/// The SLA targets of one priority, in minutes from the ticket's opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTarget {
    /// Until the first reply from the agency.
    pub first_response_minutes: u32,
    /// Until the ticket is solved.
    pub resolution_minutes: u32,
}

/// The SLA targets of every priority (a tenant setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTargets {
    /// For [`Priority::Low`].
    pub low: SlaTarget,
    /// For [`Priority::Normal`].
    pub normal: SlaTarget,
    /// For [`Priority::High`].
    pub high: SlaTarget,
    /// For [`Priority::Urgent`].
    pub urgent: SlaTarget,
}

impl Default for SlaTargets {
    /// A common helpdesk default: a day / five days for low, down to one
    /// hour / eight hours for urgent.
    fn default() -> Self {
        let t = |first: u32, resolve: u32| SlaTarget {
            first_response_minutes: first,
            resolution_minutes: resolve,
        };
        Self {
            low: t(24 * 60, 5 * 24 * 60),
            normal: t(8 * 60, 3 * 24 * 60),
            high: t(4 * 60, 24 * 60),
            urgent: t(60, 8 * 60),
        }
    }
}

impl SlaTargets {
    /// The targets of `priority`.
    pub const fn of(&self, priority: Priority) -> SlaTarget {
        match priority {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }

    /// Every target is at least a minute and at most a year, and a first
    /// response is due no later than the resolution.
    pub fn validate(&self) -> Result<()> {
        const YEAR: u32 = 366 * 24 * 60;
        for p in Priority::ALL {
            let t = self.of(p);
            for (field, v) in [
                ("first_response_minutes", t.first_response_minutes),
                ("resolution_minutes", t.resolution_minutes),
            ] {
                if !(1..=YEAR).contains(&v) {
                    return Err(Error::invalid(
                        format!("sla.{}.{field}", p.as_str()),
                        "must be between 1 minute and a year",
                    ));
                }
            }
            if t.first_response_minutes > t.resolution_minutes {
                return Err(Error::invalid(
                    format!("sla.{}.first_response_minutes", p.as_str()),
                    "must not exceed the resolution target",
                ));
            }
        }
        Ok(())
    }
}

/// A tenant's Mail Ops settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOpsSettings {
    /// Whose.
    pub tenant_id: TenantId,
    /// SLA targets per priority.
    pub sla: SlaTargets,
    /// How far back the first sync reads (days).
    pub first_sync_days: u32,
    /// Whether disconnecting the mailbox deletes the stored mail.
    pub delete_mail_on_disconnect: bool,
    /// Where mail goes that no rule matches; `None`: the tenant's oldest
    /// branch (its head office).
    pub default_branch: Option<BranchId>,
    /// Optimistic concurrency; 0 until first saved.
    pub version: i64,
}

impl MailOpsSettings {
    /// The first-sync window's bounds in days.
    pub const FIRST_SYNC_DAYS: std::ops::RangeInclusive<u32> = 1..=365;

    /// The defaults of a tenant that never saved its settings.
    pub fn defaults(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            sla: SlaTargets::default(),
            first_sync_days: 30,
            delete_mail_on_disconnect: false,
            default_branch: None,
            version: 0,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        self.sla.validate()?;
        if !Self::FIRST_SYNC_DAYS.contains(&self.first_sync_days) {
            return Err(Error::invalid(
                "first_sync_days",
                "must be between 1 and 365",
            ));
        }
        Ok(())
    }

    /// The Gmail search of the first sync: recent mail, chats excluded.
    pub fn first_sync_query(&self) -> String {
        format!("newer_than:{}d -in:chats", self.first_sync_days)
    }
}

/// A conversation of the mailbox (Gmail: a thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailThread {
    /// Ours.
    pub id: MailThreadId,
    /// Whose.
    pub tenant_id: TenantId,
    /// The provider's thread id.
    pub provider_thread_id: String,
    /// The branch its ticket was routed to.
    pub branch_id: BranchId,
    /// The subject of its first message.
    pub subject: String,
    /// When its newest message arrived.
    pub last_message_at: DateTime<Utc>,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
}

/// An address of a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAddress {
    /// The display name, if any.
    pub name: Option<String>,
    /// The address as written (lower-cased domain not guaranteed).
    pub address: String,
}

/// An attachment's metadata (its bytes stay at the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    /// The provider's attachment id, for on-demand download.
    pub attachment_id: Option<String>,
    /// The MIME part path.
    pub part_id: String,
    /// The decoded file name.
    pub filename: Option<String>,
    /// The declared media type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

impl From<&InboundAttachment> for StoredAttachment {
    fn from(a: &InboundAttachment) -> Self {
        Self {
            attachment_id: a.attachment_id.clone(),
            part_id: a.part_id.clone(),
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
        }
    }
}

/// One stored message of a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// Ours.
    pub id: MailMessageId,
    /// Whose.
    pub tenant_id: TenantId,
    /// Its thread.
    pub thread_id: MailThreadId,
    /// The provider's message id: unique per tenant, so a message synced
    /// twice is stored once.
    pub provider_message_id: String,
    /// `Message-ID`, without angle brackets.
    pub message_id_header: Option<String>,
    /// `In-Reply-To`.
    pub in_reply_to: Option<String>,
    /// `References`, oldest first.
    pub references: Vec<String>,
    /// `From`.
    pub from: Option<StoredAddress>,
    /// `Reply-To` (replies go there when given).
    pub reply_to: Vec<StoredAddress>,
    /// `To`.
    pub to: Vec<StoredAddress>,
    /// `Cc`.
    pub cc: Vec<StoredAddress>,
    /// `Subject`.
    pub subject: String,
    /// The text body.
    pub text: String,
    /// The sanitised HTML body.
    pub html: Option<String>,
    /// Attachment metadata.
    pub attachments: Vec<StoredAttachment>,
    /// The provider's labels.
    pub labels: Vec<String>,
    /// Whether the mailbox itself sent it (label SENT).
    pub outbound: bool,
    /// When the provider received it.
    pub received_at: DateTime<Utc>,
    /// When we stored it.
    pub created_at: DateTime<Utc>,
    /// What did not parse (a bad charset, a truncated part): the message is
    /// stored as far as it parsed, and staff see why a part is missing.
    /// At most [`MAX_DEFECTS`] of at most [`MAX_DEFECT_CHARS`] characters
    /// each ([`MailMessage::bounded_defects`]).
    pub defects: Vec<String>,
}

/// The most parse defects a stored message keeps: a hostile message can
/// produce one per part, and they are a hint for staff, not a log.
pub const MAX_DEFECTS: usize = 20;

/// The longest parse defect a stored message keeps, in characters.
pub const MAX_DEFECT_CHARS: usize = 200;

impl MailMessage {
    /// `defects` as a message stores them: the first [`MAX_DEFECTS`], each
    /// cut to [`MAX_DEFECT_CHARS`] characters with control characters
    /// replaced (they reach a browser and a privacy export), empty ones
    /// dropped.
    ///
    /// ```
    /// use tms_core::domain::mail_ops::{MailMessage, MAX_DEFECTS, MAX_DEFECT_CHARS};
    /// let many: Vec<String> = (0..50).map(|i| format!("part {i}: bad\r\ncharset")).collect();
    /// let kept = MailMessage::bounded_defects(&many);
    /// assert_eq!(kept.len(), MAX_DEFECTS);
    /// assert_eq!(kept[0], "part 0: bad  charset");
    /// let long = MailMessage::bounded_defects(&["x".repeat(1000)]);
    /// assert_eq!(long[0].chars().count(), MAX_DEFECT_CHARS);
    /// ```
    pub fn bounded_defects(defects: &[String]) -> Vec<String> {
        defects
            .iter()
            .map(|d| {
                d.trim()
                    .chars()
                    .take(MAX_DEFECT_CHARS)
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect::<String>()
            })
            .filter(|d| !d.trim().is_empty())
            .take(MAX_DEFECTS)
            .collect()
    }

    /// The address a reply goes to: `Reply-To`, else `From`.
    pub fn reply_address(&self) -> Option<&str> {
        self.reply_to
            .first()
            .or(self.from.as_ref())
            .map(|a| a.address.as_str())
    }
}

/// The domain of an address (`Example.COM` → `example.com`), if it has one.
///
/// ```
/// use tms_core::domain::mail_ops::domain_of;
/// assert_eq!(domain_of("Ana <ana@Example.COM>"), Some("example.com".into()));
/// assert_eq!(domain_of("nobody"), None);
/// ```
pub fn domain_of(address: &str) -> Option<String> {
    let address = address.trim().trim_end_matches('>');
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim();
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// A support ticket: one conversation with a customer, answered by staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportTicket {
    /// Ours.
    pub id: SupportTicketId,
    /// Whose.
    pub tenant_id: TenantId,
    /// The branch that handles it (from the routing rules).
    pub branch_id: BranchId,
    /// The mail thread; `None` once the stored mail was deleted.
    pub thread_id: Option<MailThreadId>,
    /// The subject (empty once the mail was deleted or erased).
    pub subject: String,
    /// The customer's address (`None` once erased or the mail deleted).
    pub requester: Option<String>,
    /// The client whose email matched the sender, in the same branch.
    pub client_id: Option<ClientId>,
    /// Where it stands.
    pub status: SupportStatus,
    /// How urgent.
    pub priority: Priority,
    /// Who works on it.
    pub assignee: Option<UserId>,
    /// When the agency first replied.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When it was (last) solved.
    pub solved_at: Option<DateTime<Utc>>,
    /// When it was opened (the SLA clock starts here).
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency.
    pub version: i64,
}

/// A ticket's SLA state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaState {
    /// When the first response is (was) due.
    pub first_response_due: DateTime<Utc>,
    /// When the resolution is (was) due.
    pub resolution_due: DateTime<Utc>,
    /// The first response came late, or has not come and is late.
    pub first_response_breached: bool,
    /// The resolution came late, or has not come and is late.
    pub resolution_breached: bool,
}

impl SupportTicket {
    /// The SLA state under `targets` at `now` — computed from the clock,
    /// never stored, so a changed target or priority applies at once.
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// use tms_core::domain::mail_ops::{Priority, SlaTargets, SupportStatus, SupportTicket};
    /// use tms_core::id::{BranchId, SupportTicketId, TenantId};
    /// let opened = Utc::now();
    /// let ticket = SupportTicket {
    ///     id: SupportTicketId::new(), tenant_id: TenantId::new(), branch_id: BranchId::new(),
    ///     thread_id: None, subject: "Visa".into(), requester: None, client_id: None,
    ///     status: SupportStatus::Open, priority: Priority::Urgent, assignee: None,
    ///     first_response_at: None, solved_at: None, created_at: opened, updated_at: opened,
    ///     version: 1,
    /// };
    /// let sla = ticket.sla(&SlaTargets::default(), opened + Duration::minutes(61));
    /// assert!(sla.first_response_breached);
    /// assert!(!sla.resolution_breached);
    /// ```
    pub fn sla(&self, targets: &SlaTargets, now: DateTime<Utc>) -> SlaState {
        let t = targets.of(self.priority);
        let first_response_due =
            self.created_at + Duration::minutes(i64::from(t.first_response_minutes));
        let resolution_due = self.created_at + Duration::minutes(i64::from(t.resolution_minutes));
        let late = |done: Option<DateTime<Utc>>, due: DateTime<Utc>| match done {
            Some(at) => at > due,
            None => now > due,
        };
        // A closed ticket that was never marked solved counts as resolved
        // when it last changed.
        let resolved = self.solved_at.or(match self.status {
            SupportStatus::Closed => Some(self.updated_at),
            _ => None,
        });
        SlaState {
            first_response_due,
            resolution_due,
            first_response_breached: late(self.first_response_at, first_response_due),
            resolution_breached: late(resolved, resolution_due),
        }
    }

    /// Moves the ticket to `to` at `now`, if the state machine allows it.
    pub fn move_to(&mut self, to: SupportStatus, now: DateTime<Utc>) -> Result<()> {
        if self.status == to {
            return Ok(());
        }
        if !self.status.can_move_to(to) {
            return Err(Error::conflict(format!(
                "a {} ticket cannot become {}",
                self.status, to
            )));
        }
        match to {
            SupportStatus::Solved => self.solved_at = Some(now),
            SupportStatus::Open => self.solved_at = None,
            _ => {}
        }
        self.status = to;
        self.updated_at = now;
        Ok(())
    }
}

/// An internal note on a ticket: staff only, never mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketNote {
    /// Ours.
    pub id: TicketNoteId,
    /// Whose.
    pub tenant_id: TenantId,
    /// On which ticket.
    pub ticket_id: SupportTicketId,
    /// Who wrote it (`None`: the system).
    pub author: Option<UserId>,
    /// The note.
    pub text: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl TicketNote {
    /// The longest note, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// A note's text: trimmed, not empty, not too long.
    pub fn check_text(text: &str) -> Result<String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::invalid("text", "must not be empty"));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid("text", "is longer than 10000 characters"));
        }
        Ok(text.to_owned())
    }
}

/// What a new message is routed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingInput<'a> {
    /// The connected mailbox's address.
    pub mailbox: &'a str,
    /// The message's labels.
    pub labels: &'a [String],
    /// The sender's address.
    pub sender: Option<&'a str>,
}

/// A routing rule: mail matching every given condition goes to a branch,
/// with a priority and optionally an assignee. Rules are tried by
/// ascending `position`; the first match wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRule {
    /// Ours.
    pub id: MailRuleId,
    /// Whose.
    pub tenant_id: TenantId,
    /// Order of evaluation (ascending).
    pub position: i32,
    /// Matches mail of this mailbox address (case-insensitive).
    pub mailbox: Option<String>,
    /// Matches mail carrying this label.
    pub label: Option<String>,
    /// Matches mail from this domain (case-insensitive, exact).
    pub sender_domain: Option<String>,
    /// Where matching mail goes.
    pub branch_id: BranchId,
    /// The new ticket's priority.
    pub priority: Priority,
    /// The new ticket's assignee, if any.
    pub assignee: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic concurrency.
    pub version: i64,
}

impl RoutingRule {
    /// Whether the rule matches: every condition it has holds (a rule with
    /// no condition matches everything — the fallback rule).
    pub fn matches(&self, input: &RoutingInput<'_>) -> bool {
        let mailbox = self
            .mailbox
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(input.mailbox));
        let label = self
            .label
            .as_deref()
            .is_none_or(|l| input.labels.iter().any(|have| have == l));
        let domain = self.sender_domain.as_deref().is_none_or(|d| {
            input
                .sender
                .and_then(domain_of)
                .is_some_and(|have| have.eq_ignore_ascii_case(d))
        });
        mailbox && label && domain
    }

    /// Trims the conditions (empty means none) and checks them.
    pub fn normalise(&mut self) -> Result<()> {
        fn clean(v: &mut Option<String>, field: &'static str) -> Result<()> {
            if let Some(s) = v.as_deref() {
                let s = s.trim();
                if s.len() > 254 || s.chars().any(char::is_control) {
                    return Err(Error::invalid(field, "is not a valid condition"));
                }
                *v = (!s.is_empty()).then(|| s.to_owned());
            }
            Ok(())
        }
        clean(&mut self.mailbox, "mailbox")?;
        clean(&mut self.label, "label")?;
        clean(&mut self.sender_domain, "sender_domain")?;
        if let Some(d) = &mut self.sender_domain {
            let d2 = d.trim_start_matches('@').to_ascii_lowercase();
            if d2.is_empty() || d2.contains('@') || d2.contains(char::is_whitespace) {
                return Err(Error::invalid("sender_domain", "is not a domain"));
            }
            *d = d2;
        }
        Ok(())
    }
}

/// The first rule (by position) that matches, if any.
pub fn route<'r>(rules: &'r [RoutingRule], input: &RoutingInput<'_>) -> Option<&'r RoutingRule> {
    let mut sorted: Vec<&RoutingRule> = rules.iter().collect();
    sorted.sort_by_key(|r| (r.position, r.created_at, r.id));
    sorted.into_iter().find(|r| r.matches(input))
}

/// How a tenant's sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Working (or waiting for the next tick).
    Active,
    /// Waiting out a rate limit until `backoff_until`.
    BackingOff,
    /// The connection was refused: reconnect the mailbox.
    Broken,
}

impl SyncStatus {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Active => "active",
            SyncStatus::BackingOff => "backing_off",
            SyncStatus::Broken => "broken",
        }
    }

    /// Parses [`SyncStatus::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "active" => Ok(SyncStatus::Active),
            "backing_off" => Ok(SyncStatus::BackingOff),
            "broken" => Ok(SyncStatus::Broken),
            _ => Err(Error::invalid("status", "is not a sync status")),
        }
    }
}

/// A tenant's sync cursor, persisted after every page so that a crash
/// resumes where it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    /// Whose.
    pub tenant_id: TenantId,
    /// Where incremental sync continues; `None` until a full sync ended.
    pub history_id: Option<String>,
    /// Whether a full sync is under way (or due).
    pub full_sync: bool,
    /// The full sync's (or the incremental sync's) next page.
    pub page_token: Option<String>,
    /// The history id taken when the full sync started: incremental sync
    /// starts there once the full sync ends, so nothing that arrived
    /// meanwhile is missed.
    pub full_sync_history_id: Option<String>,
    /// How the sync stands.
    pub status: SyncStatus,
    /// No call to the provider before this.
    pub backoff_until: Option<DateTime<Utc>>,
    /// Consecutive failures (for the exponential backoff).
    pub failures: u32,
    /// What went wrong last (no secrets: the error's display).
    pub last_error: Option<String>,
    /// When a sync last completed.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Messages stored so far.
    pub messages_synced: u64,
}

impl SyncState {
    /// A fresh state: a full sync is due.
    pub fn new(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            history_id: None,
            full_sync: true,
            page_token: None,
            full_sync_history_id: None,
            status: SyncStatus::Active,
            backoff_until: None,
            failures: 0,
            last_error: None,
            last_synced_at: None,
            messages_synced: 0,
        }
    }

    /// Whether a tick at `now` may call the provider.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status != SyncStatus::Broken && self.backoff_until.is_none_or(|until| until <= now)
    }
}

/// The delay before retry `failures` (1, 2, …): 30 s doubling up to an
/// hour, plus up to a quarter more from `jitter` (0.0..1.0), so that
/// tenants throttled together do not return together.
///
/// ```
/// use chrono::Duration;
/// use tms_core::domain::mail_ops::backoff;
/// assert_eq!(backoff(1, 0.0), Duration::seconds(30));
/// assert_eq!(backoff(2, 0.0), Duration::seconds(60));
/// assert_eq!(backoff(50, 0.0), Duration::seconds(3600));
/// assert!(backoff(1, 0.99) < Duration::seconds(38));
/// ```
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(7);
    let base = (30_i64 << exp).min(3600);
    let jitter = jitter.clamp(0.0, 1.0);
    // Whole milliseconds: jitter is a fraction of a quarter of the base.
    #[allow(clippy::cast_possible_truncation)]
    let extra = (base as f64 * 250.0 * jitter) as i64;
    Duration::seconds(base) + Duration::milliseconds(extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(position: i32, label: Option<&str>, domain: Option<&str>) -> RoutingRule {
        RoutingRule {
            id: MailRuleId::new(),
            tenant_id: TenantId::new(),
            position,
            mailbox: None,
            label: label.map(Into::into),
            sender_domain: domain.map(Into::into),
            branch_id: BranchId::new(),
            priority: Priority::Normal,
            assignee: None,
            created_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn the_first_matching_rule_by_position_wins() {
        let vip = rule(2, None, Some("vip.example"));
        let label = rule(1, Some("Label_7"), None);
        let any = rule(9, None, None);
        let rules = [any.clone(), vip.clone(), label.clone()];
        let labels = vec!["INBOX".to_owned()];
        let input = RoutingInput {
            mailbox: "desk@agency.example",
            labels: &labels,
            sender: Some("boss@VIP.example"),
        };
        assert_eq!(route(&rules, &input), Some(&vip));
        let labels = vec!["Label_7".to_owned()];
        let input = RoutingInput {
            labels: &labels,
            ..input
        };
        assert_eq!(route(&rules, &input), Some(&label));
        let input = RoutingInput {
            sender: None,
            labels: &[],
            ..input
        };
        assert_eq!(route(&rules, &input), Some(&any));
        assert_eq!(route(&[vip], &input), None);
    }

    #[test]
    fn statuses_move_only_along_the_diagram() {
        use SupportStatus::*;
        assert!(Open.can_move_to(Pending));
        assert!(Pending.can_move_to(Solved));
        assert!(Solved.can_move_to(Open));
        assert!(Closed.can_move_to(Open));
        assert!(!Closed.can_move_to(Solved));
        assert!(!Open.can_move_to(Closed));
        assert!(!Pending.can_move_to(Closed));
    }

    #[test]
    fn sla_breaches_follow_the_clock_and_the_answers() {
        let opened = Utc::now();
        let mut t = SupportTicket {
            id: SupportTicketId::new(),
            tenant_id: TenantId::new(),
            branch_id: BranchId::new(),
            thread_id: None,
            subject: String::new(),
            requester: None,
            client_id: None,
            status: SupportStatus::Open,
            priority: Priority::High,
            assignee: None,
            first_response_at: None,
            solved_at: None,
            created_at: opened,
            updated_at: opened,
            version: 1,
        };
        let targets = SlaTargets::default();
        let early = t.sla(&targets, opened + Duration::minutes(10));
        assert!(!early.first_response_breached && !early.resolution_breached);
        t.first_response_at = Some(opened + Duration::minutes(30));
        let late = t.sla(&targets, opened + Duration::days(2));
        assert!(!late.first_response_breached);
        assert!(late.resolution_breached);
        t.move_to(SupportStatus::Solved, opened + Duration::hours(2))
            .unwrap();
        assert!(
            !t.sla(&targets, opened + Duration::days(9))
                .resolution_breached
        );
    }

    #[test]
    fn sla_targets_are_checked() {
        let mut s = SlaTargets::default();
        assert!(s.validate().is_ok());
        s.high.first_response_minutes = s.high.resolution_minutes + 1;
        assert!(s.validate().is_err());
        s.high.first_response_minutes = 0;
        assert!(s.validate().is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff(3, 0.0), Duration::seconds(120));
        assert!(backoff(3, 1.0) <= Duration::seconds(150));
        assert_eq!(backoff(u32::MAX, 0.0), Duration::seconds(3600));
    }

    #[test]
    fn rule_conditions_are_normalised() {
        let mut r = rule(0, Some("  "), Some(" @Example.COM "));
        r.normalise().unwrap();
        assert_eq!(r.label, None);
        assert_eq!(r.sender_domain.as_deref(), Some("example.com"));
        let mut bad = rule(0, None, Some("a@b"));
        assert!(bad.normalise().is_err());
    }
}
