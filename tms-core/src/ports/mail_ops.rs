//! The Mail Ops repository (issue 10): settings, sync state, threads,
//! messages, support tickets, notes and routing rules. Reached through
//! [`UnitOfWork::mail_ops`](crate::ports::UnitOfWork::mail_ops).
//!
//! Like every repository: reads take the tenant and another tenant's record
//! is `None`; updates check `version` (stale → `Conflict`); lists take the
//! caller's [`Scope`] and filter branches in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::mail_ops::{
    MailMessage, MailOpsSettings, MailThread, Priority, RoutingRule, SlaTargets, SupportStatus,
    SupportTicket, SyncState, TicketNote,
};
use crate::error::Result;
use crate::id::{BranchId, ClientId, MailRuleId, MailThreadId, SupportTicketId, TenantId, UserId};
use crate::ports::{Page, PageRequest, Scope};

/// Which tickets a list shows (all filters are optional and combine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<SupportStatus>,
    /// Only this assignee.
    pub assignee: Option<UserId>,
    /// Only this branch (still within the caller's scope).
    pub branch: Option<BranchId>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only tickets whose SLA is (or is not) breached.
    pub breached: Option<BreachFilter>,
}

/// The SLA-breach filter of a ticket list.
///
/// The store evaluates [`SupportTicket::sla`] in its query, so that a page
/// of breached tickets is a full page: a ticket matches when
/// `(first_response_breached || resolution_breached) == breached` under
/// `targets` at `now`. A breach depends on the clock and on the tenant's
/// targets, which is why both come with the filter rather than being
/// stored on the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreachFilter {
    /// `true`: only breached tickets; `false`: only those within their SLA.
    pub breached: bool,
    /// The tenant's targets.
    pub targets: SlaTargets,
    /// The instant the SLA is judged at.
    pub now: DateTime<Utc>,
}

/// Mail Ops records.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MailOpsRepo: Send {
    // ------------------------------------------------------------- settings
    /// The tenant's settings ([`MailOpsSettings::defaults`] if never saved).
    async fn settings(&mut self, tenant: TenantId) -> Result<MailOpsSettings>;
    /// Saves the settings if `version` is current, then bumps it.
    async fn put_settings(&mut self, settings: &mut MailOpsSettings) -> Result<()>;

    // ----------------------------------------------------------------- sync
    /// The tenant's sync state, if sync is on.
    async fn sync_state(&mut self, tenant: TenantId) -> Result<Option<SyncState>>;
    /// Saves the tenant's sync state (insert or replace).
    async fn put_sync_state(&mut self, state: &SyncState) -> Result<()>;
    /// Replaces the tenant's sync state only if sync is still on (never
    /// turns it back on); whether it was.
    async fn update_sync_state(&mut self, state: &SyncState) -> Result<bool>;
    /// Whether sync is still on, holding the sync state's row for the rest
    /// of the transaction (a write lock), so that a concurrent disconnect
    /// either comes first — and this answers `false` — or waits for this
    /// transaction: nothing a running sync stores can outlive a disconnect.
    async fn still_syncing(&mut self, tenant: TenantId) -> Result<bool>;
    /// Turns sync off; whether it was on.
    async fn delete_sync_state(&mut self, tenant: TenantId) -> Result<bool>;
    /// Tenants whose sync may run at `now` (not broken, not backing off),
    /// least recently synced first, at most `limit`.
    async fn due_syncs(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<TenantId>>;

    // ------------------------------------------------------ threads, messages
    /// The thread with this provider thread id.
    async fn thread_by_provider(
        &mut self,
        tenant: TenantId,
        provider_thread_id: &str,
    ) -> Result<Option<MailThread>>;
    /// One thread.
    async fn get_thread(
        &mut self,
        tenant: TenantId,
        id: MailThreadId,
    ) -> Result<Option<MailThread>>;
    /// Adds a thread; `Conflict` if its provider id is taken.
    async fn insert_thread(&mut self, thread: &MailThread) -> Result<()>;
    /// Records a newer message's time on the thread.
    async fn touch_thread(
        &mut self,
        tenant: TenantId,
        id: MailThreadId,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Adds a message; `false` (nothing written) when the tenant already
    /// has its provider message id — what makes sync idempotent.
    async fn insert_message(&mut self, message: &MailMessage) -> Result<bool>;
    /// Whether the tenant already has this provider message.
    async fn has_message(&mut self, tenant: TenantId, provider_message_id: &str) -> Result<bool>;
    /// A thread's messages, oldest first.
    async fn messages(
        &mut self,
        tenant: TenantId,
        thread: MailThreadId,
    ) -> Result<Vec<MailMessage>>;
    /// Deletes every stored message and thread of the tenant (tickets lose
    /// their thread, subject and requester, and keep the rest); how many
    /// messages went.
    async fn delete_mail(&mut self, tenant: TenantId) -> Result<u64>;

    // -------------------------------------------------------------- tickets
    /// Adds a ticket.
    async fn insert_ticket(&mut self, ticket: &SupportTicket) -> Result<()>;
    /// One ticket.
    async fn get_ticket(
        &mut self,
        tenant: TenantId,
        id: SupportTicketId,
    ) -> Result<Option<SupportTicket>>;
    /// Saves the ticket if `version` is current, then bumps it.
    async fn update_ticket(&mut self, ticket: &mut SupportTicket) -> Result<()>;
    /// The newest ticket of a thread.
    async fn ticket_of_thread(
        &mut self,
        tenant: TenantId,
        thread: MailThreadId,
    ) -> Result<Option<SupportTicket>>;
    /// Tickets in `scope` matching `filter`, by `(created_at, id)`.
    async fn list_tickets(
        &mut self,
        scope: &Scope,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> Result<Page<SupportTicket>>;
    /// Adds an internal note.
    async fn insert_note(&mut self, note: &TicketNote) -> Result<()>;
    /// A ticket's notes, oldest first.
    async fn notes(&mut self, tenant: TenantId, ticket: SupportTicketId)
    -> Result<Vec<TicketNote>>;

    // ---------------------------------------------------------------- rules
    /// Adds a rule.
    async fn insert_rule(&mut self, rule: &RoutingRule) -> Result<()>;
    /// One rule.
    async fn get_rule(&mut self, tenant: TenantId, id: MailRuleId) -> Result<Option<RoutingRule>>;
    /// Saves the rule if `version` is current, then bumps it.
    async fn update_rule(&mut self, rule: &mut RoutingRule) -> Result<()>;
    /// Deletes a rule; whether it was there.
    async fn delete_rule(&mut self, tenant: TenantId, id: MailRuleId) -> Result<bool>;
    /// The tenant's rules by `(position, created_at, id)`.
    async fn rules(&mut self, tenant: TenantId) -> Result<Vec<RoutingRule>>;

    // -------------------------------------------------------------- privacy
    /// Tickets linked to the client.
    async fn tickets_of_client(
        &mut self,
        tenant: TenantId,
        client: ClientId,
    ) -> Result<Vec<SupportTicket>>;
    /// Erasure: deletes the messages and threads of the client's tickets,
    /// and anonymises the tickets (no subject, requester or client link);
    /// how many tickets.
    async fn forget_client(&mut self, tenant: TenantId, client: ClientId) -> Result<u64>;
}
