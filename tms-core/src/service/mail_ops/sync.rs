//! Sync: the mailbox's new mail into threads, messages and tickets.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::mail_ops::{
    MailMessage, MailThread, Priority, RoutingInput, SENT_LABEL, StoredAddress, StoredAttachment,
    SupportStatus, SupportTicket, SyncState, SyncStatus, backoff, domain_of, route,
};
use crate::domain::{BranchScope, Context, Email, Principal};
use crate::error::{Error, Result};
use crate::id::{BranchId, ClientId, MailMessageId, MailThreadId, SupportTicketId, TenantId};
use crate::ports::{
    ClientFilter, FetchedMessage, HistoryOutcome, MailAddress, MailboxMessageRef, MailboxReader,
    PageRequest, Scope, UnitOfWork, transact,
};
use crate::security::secret::Secret;
use crate::service::mail_connections::RoutePlan;

use super::MailOps;

/// What one [`MailOps::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Tenants synced.
    pub tenants: usize,
    /// Messages stored.
    pub stored: usize,
    /// Tickets opened.
    pub opened: usize,
    /// Tenants whose sync failed this time (backing off or broken); the
    /// runtime logs it when it is not zero.
    pub errors: usize,
}

/// What one tenant's sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TenantSync {
    /// Messages stored.
    pub stored: usize,
    /// Tickets opened.
    pub opened: usize,
    /// Whether the sync reached the mailbox's present (no page left).
    pub caught_up: bool,
    /// The state afterwards (`None`: sync is off).
    #[serde(skip)]
    pub state: Option<SyncState>,
}

/// How one stored message changed the tickets.
enum Landed {
    Duplicate,
    Stored { opened: bool },
}

fn address(a: &MailAddress) -> StoredAddress {
    StoredAddress {
        name: a.name.clone(),
        address: a.address.clone(),
    }
}

/// The "Re:" subject of a reply.
pub(super) fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) {
        s.to_owned()
    } else if s.is_empty() {
        "Re: (no subject)".to_owned()
    } else {
        format!("Re: {s}")
    }
}

impl MailOps {
    /// One pass of the worker at `now`: syncs every tenant whose sync is
    /// due (up to 16 per pass, least recently synced first). One tenant's
    /// failure never stops the others; it is recorded in its sync state.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        if self.mailbox.is_none() {
            return Ok(report);
        }
        let due = transact(self.deps.store.as_ref(), |uow| {
            Box::pin(async move { uow.mail_ops().due_syncs(now, 16).await })
        })
        .await?;
        for tenant in due {
            report.tenants += 1;
            match self.sync_tenant(tenant, now).await {
                Ok(done) => {
                    report.stored += done.stored;
                    report.opened += done.opened;
                    if done
                        .state
                        .as_ref()
                        .is_some_and(|s| s.status != SyncStatus::Active)
                    {
                        report.errors += 1;
                    }
                }
                Err(_) => report.errors += 1,
            }
        }
        Ok(report)
    }

    async fn save_state(&self, state: &SyncState) -> Result<()> {
        let state = state.clone();
        transact(self.deps.store.as_ref(), |uow| {
            let state = state.clone();
            Box::pin(async move {
                // A disconnect meanwhile turned sync off: do not turn it on.
                uow.mail_ops().update_sync_state(&state).await?;
                Ok(())
            })
        })
        .await
    }

    fn jitter(&self) -> f64 {
        let mut b = [0u8; 2];
        self.deps.random.fill_bytes(&mut b);
        f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX)
    }

    /// Records a failed sync: back off on a rate limit or an outage, stop
    /// on a refused connection.
    async fn failed(&self, mut state: SyncState, error: &Error, now: DateTime<Utc>) -> SyncState {
        state.last_error = Some(error.to_string());
        match error {
            Error::Rejected { .. } => {
                state.status = SyncStatus::Broken;
                state.backoff_until = None;
            }
            _ => {
                state.failures = state.failures.saturating_add(1);
                let mut wait = backoff(state.failures, self.jitter());
                if let Error::RateLimited { retry_after } = error {
                    wait = wait.max(*retry_after);
                }
                state.status = SyncStatus::BackingOff;
                state.backoff_until = Some(now + wait);
            }
        }
        // Saving may fail too (the store is down): the old state stays and
        // the next tick tries again, which is safe.
        let _ = self.save_state(&state).await;
        state
    }

    /// Syncs one tenant now (the worker, or "sync now"): reads up to
    /// `pages_per_tick` pages, saving the cursor after each.
    pub async fn sync_tenant(&self, tenant: TenantId, now: DateTime<Utc>) -> Result<TenantSync> {
        let mut out = TenantSync::default();
        let Some(mailbox) = self.mailbox.clone() else {
            return Err(Error::conflict("Gmail is not configured on this server"));
        };
        let loaded = transact(self.deps.store.as_ref(), |uow| {
            Box::pin(async move { uow.mail_ops().sync_state(tenant).await })
        })
        .await?;
        let Some(mut state) = loaded else {
            return Ok(out);
        };
        if !state.is_due(now) {
            out.state = Some(state);
            return Ok(out);
        }
        let (address, token) = match self.connections.route_plan(tenant).await {
            Ok(RoutePlan::Gmail {
                address,
                access_token,
                ..
            }) => (address, access_token),
            Ok(_) => {
                let e = Error::rejected("the mailbox is not connected; connect Gmail again");
                out.state = Some(self.failed(state, &e, now).await);
                return Ok(out);
            }
            Err(e) => {
                out.state = Some(self.failed(state, &e, now).await);
                return Ok(out);
            }
        };
        let settings = transact(self.deps.store.as_ref(), |uow| {
            Box::pin(async move { uow.mail_ops().settings(tenant).await })
        })
        .await?;
        let query = settings.first_sync_query();
        for _ in 0..self.pages_per_tick {
            let step = self
                .one_page(
                    &*mailbox, &token, &address, &query, &mut state, now, &mut out,
                )
                .await;
            match step {
                Ok(true) => {
                    out.caught_up = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    out.state = Some(self.failed(state, &e, now).await);
                    return Ok(out);
                }
            }
        }
        state.failures = 0;
        state.status = SyncStatus::Active;
        state.backoff_until = None;
        state.last_error = None;
        self.save_state(&state).await?;
        out.state = Some(state);
        Ok(out)
    }

    /// Reads one page and saves the cursor; whether sync caught up.
    #[allow(clippy::too_many_arguments)]
    async fn one_page(
        &self,
        mailbox: &dyn MailboxReader,
        token: &Secret<String>,
        address: &Email,
        query: &str,
        state: &mut SyncState,
        now: DateTime<Utc>,
        out: &mut TenantSync,
    ) -> Result<bool> {
        let caught_up;
        if state.full_sync {
            if state.full_sync_history_id.is_none() {
                // Taken before the first page: whatever arrives during the
                // full sync is in the history after it.
                state.full_sync_history_id = Some(mailbox.current_history_id(token).await?);
                self.save_state(state).await?;
            }
            let page = mailbox
                .list_messages(token, query, state.page_token.clone())
                .await?;
            // Listings are newest first; store oldest first so that a
            // thread's first message opens its ticket.
            let mut refs = page.messages;
            refs.reverse();
            self.ingest_all(mailbox, token, address, &refs, state, now, out)
                .await?;
            state.page_token = page.next_page_token;
            caught_up = state.page_token.is_none();
            if caught_up {
                state.full_sync = false;
                state.history_id = state.full_sync_history_id.take();
                state.last_synced_at = Some(now);
            }
        } else {
            let Some(start) = state.history_id.clone() else {
                state.full_sync = true;
                state.page_token = None;
                self.save_state(state).await?;
                return Ok(false);
            };
            match mailbox
                .history(token, &start, state.page_token.clone())
                .await?
            {
                HistoryOutcome::Expired => {
                    state.full_sync = true;
                    state.page_token = None;
                    state.full_sync_history_id = None;
                    self.save_state(state).await?;
                    return Ok(false);
                }
                HistoryOutcome::Changes(page) => {
                    self.ingest_all(mailbox, token, address, &page.added, state, now, out)
                        .await?;
                    state.page_token = page.next_page_token;
                    caught_up = state.page_token.is_none();
                    if caught_up {
                        state.history_id = Some(page.history_id);
                        state.last_synced_at = Some(now);
                    }
                }
            }
        }
        self.save_state(state).await?;
        Ok(caught_up)
    }

    #[allow(clippy::too_many_arguments)]
    async fn ingest_all(
        &self,
        mailbox: &dyn MailboxReader,
        token: &Secret<String>,
        address: &Email,
        refs: &[MailboxMessageRef],
        state: &mut SyncState,
        now: DateTime<Utc>,
        out: &mut TenantSync,
    ) -> Result<()> {
        let tenant = state.tenant_id;
        for r in refs {
            let id = r.id.clone();
            let known = transact(self.deps.store.as_ref(), |uow| {
                let id = id.clone();
                Box::pin(async move { uow.mail_ops().has_message(tenant, &id).await })
            })
            .await?;
            if known {
                continue;
            }
            let fetched = match mailbox.fetch(token, &r.id).await {
                Ok(f) => f,
                // Deleted between listing and fetching: nothing to store.
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let landed = transact(self.deps.store.as_ref(), |uow| {
                let (fetched, address) = (fetched.clone(), address.clone());
                Box::pin(async move {
                    // Sync turned off (disconnected) meanwhile: store nothing
                    // more. Holding the sync state's row also makes a
                    // disconnect that comes now wait for this message, then
                    // delete it with the rest.
                    if !uow.mail_ops().still_syncing(tenant).await? {
                        return Ok(None);
                    }
                    Self::land(uow, tenant, &address, &fetched, now)
                        .await
                        .map(Some)
                })
            })
            .await?;
            let Some(landed) = landed else {
                return Ok(());
            };
            if let Landed::Stored { opened } = landed {
                out.stored += 1;
                state.messages_synced += 1;
                if opened {
                    out.opened += 1;
                }
            }
        }
        Ok(())
    }

    /// The branch of a new thread: the first matching rule's, else the
    /// default branch, else the tenant's first branch.
    async fn routed(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        input: &RoutingInput<'_>,
    ) -> Result<(BranchId, Priority, Option<crate::id::UserId>)> {
        let rules = uow.mail_ops().rules(tenant).await?;
        if let Some(rule) = route(&rules, input) {
            return Ok((rule.branch_id, rule.priority, rule.assignee));
        }
        if let Some(branch) = uow.mail_ops().settings(tenant).await?.default_branch {
            return Ok((branch, Priority::Normal, None));
        }
        let scope = Scope {
            tenant_id: tenant,
            branches: BranchScope::All,
        };
        let first = uow.branches().list(&scope, PageRequest::first()).await?;
        first
            .items
            .first()
            .map(|b| (b.id, Priority::Normal, None))
            .ok_or_else(|| Error::internal("a tenant without a branch received mail"))
    }

    /// The client of `branch` whose email is `sender`, if exactly findable.
    async fn client_for(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        branch: BranchId,
        sender: Option<&str>,
    ) -> Result<Option<ClientId>> {
        let Some(email) = sender.and_then(|s| Email::parse(s).ok()) else {
            return Ok(None);
        };
        let scope = Scope {
            tenant_id: tenant,
            branches: BranchScope::only([branch]),
        };
        let filter = ClientFilter {
            email: Some(email),
            branch_id: Some(branch),
            ..ClientFilter::default()
        };
        let page = uow
            .clients()
            .search(&scope, &filter, PageRequest::first())
            .await?;
        Ok(page.items.first().map(|c| c.id))
    }

    /// Stores one fetched message (one transaction): its thread, the
    /// message, and the ticket change it causes.
    async fn land(
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        mailbox: &Email,
        f: &FetchedMessage,
        now: DateTime<Utc>,
    ) -> Result<Landed> {
        let ctx = Context::new(Principal::system(tenant, "mail_sync"), now);
        let sender = f.mail.from.as_ref().map(|a| a.address.clone());
        let outbound = f.label_ids.iter().any(|l| l == SENT_LABEL)
            || sender
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(mailbox.as_str()));
        let subject = f.mail.subject.clone().unwrap_or_default();
        let thread = match uow
            .mail_ops()
            .thread_by_provider(tenant, &f.thread_id)
            .await?
        {
            Some(t) => t,
            None => {
                let input = RoutingInput {
                    mailbox: mailbox.as_str(),
                    labels: &f.label_ids,
                    sender: sender.as_deref(),
                };
                let (branch, _, _) = Self::routed(uow, tenant, &input).await?;
                let t = MailThread {
                    id: MailThreadId::new(),
                    tenant_id: tenant,
                    provider_thread_id: f.thread_id.clone(),
                    branch_id: branch,
                    subject: subject.clone(),
                    last_message_at: f.received_at,
                    created_at: now,
                };
                uow.mail_ops().insert_thread(&t).await?;
                t
            }
        };
        let message = MailMessage {
            id: MailMessageId::new(),
            tenant_id: tenant,
            thread_id: thread.id,
            provider_message_id: f.id.clone(),
            message_id_header: f.mail.message_id.clone(),
            in_reply_to: f.mail.in_reply_to.clone(),
            references: f.mail.references.clone(),
            from: f.mail.from.as_ref().map(address),
            reply_to: f.mail.reply_to.iter().map(address).collect(),
            to: f.mail.to.iter().map(address).collect(),
            cc: f.mail.cc.iter().map(address).collect(),
            subject: subject.clone(),
            text: f.mail.text.clone(),
            html: f.mail.html.clone(),
            attachments: f
                .mail
                .attachments
                .iter()
                .map(StoredAttachment::from)
                .collect(),
            labels: f.label_ids.clone(),
            outbound,
            received_at: f.received_at,
            created_at: now,
            defects: MailMessage::bounded_defects(&f.mail.defects),
        };
        if !uow.mail_ops().insert_message(&message).await? {
            return Ok(Landed::Duplicate);
        }
        uow.mail_ops()
            .touch_thread(tenant, thread.id, f.received_at)
            .await?;
        let current = uow.mail_ops().ticket_of_thread(tenant, thread.id).await?;
        if outbound {
            // The agency answered from Gmail itself: that is a response.
            if let Some(mut t) = current
                && t.first_response_at.is_none()
            {
                t.first_response_at = Some(f.received_at);
                t.updated_at = now;
                uow.mail_ops().update_ticket(&mut t).await?;
            }
            return Ok(Landed::Stored { opened: false });
        }
        match current {
            Some(mut t) if t.status != SupportStatus::Closed => {
                let before = t.status;
                if t.status != SupportStatus::Open {
                    t.move_to(SupportStatus::Open, now)?;
                } else {
                    t.updated_at = now;
                }
                uow.mail_ops().update_ticket(&mut t).await?;
                if before != t.status {
                    uow.audit()
                        .append(
                            NewAuditEvent::new(
                                &ctx,
                                "support_ticket.reopened",
                                "support_ticket",
                                Some(t.id.as_uuid()),
                            )
                            .in_branch(t.branch_id)
                            .with_change(
                                Some(json!({"status": before.as_str()})),
                                Some(json!({"status": t.status.as_str(), "by": "customer_reply"})),
                            ),
                        )
                        .await?;
                }
                Ok(Landed::Stored { opened: false })
            }
            _ => {
                let input = RoutingInput {
                    mailbox: mailbox.as_str(),
                    labels: &f.label_ids,
                    sender: sender.as_deref(),
                };
                let (_, priority, assignee) = Self::routed(uow, tenant, &input).await?;
                let branch = thread.branch_id;
                let requester = message.reply_address().map(str::to_owned);
                let client_id = Self::client_for(uow, tenant, branch, sender.as_deref()).await?;
                // A full sync stores a page oldest first, but pages come
                // newest first: the mailbox's own answer may be stored
                // already. It is the first response.
                let first_response_at = uow
                    .mail_ops()
                    .messages(tenant, thread.id)
                    .await?
                    .iter()
                    .filter(|m| m.outbound && m.received_at >= f.received_at)
                    .map(|m| m.received_at)
                    .min();
                let ticket = SupportTicket {
                    id: SupportTicketId::new(),
                    tenant_id: tenant,
                    branch_id: branch,
                    thread_id: Some(thread.id),
                    subject: subject.clone(),
                    requester,
                    client_id,
                    status: SupportStatus::Open,
                    priority,
                    assignee,
                    first_response_at,
                    solved_at: None,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                uow.mail_ops().insert_ticket(&ticket).await?;
                uow.audit()
                    .append(
                        NewAuditEvent::new(
                            &ctx,
                            "support_ticket.created",
                            "support_ticket",
                            Some(ticket.id.as_uuid()),
                        )
                        .in_branch(branch)
                        .with_change(
                            None,
                            Some(json!({
                                "status": ticket.status.as_str(),
                                "priority": ticket.priority.as_str(),
                                "assignee": ticket.assignee,
                                "client_id": ticket.client_id,
                                "sender_domain": sender.as_deref().and_then(domain_of),
                            })),
                        ),
                    )
                    .await?;
                Ok(Landed::Stored { opened: true })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reply_subject;

    #[test]
    fn replies_get_one_re_prefix() {
        assert_eq!(reply_subject("Visa"), "Re: Visa");
        assert_eq!(reply_subject("RE: Visa"), "RE: Visa");
        assert_eq!(reply_subject(" "), "Re: (no subject)");
    }
}
