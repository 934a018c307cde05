//! Contract cases of Mail Ops (issue 10): the repository on its own, and
//! the service over it — sync (routing, idempotency, backoff, expiry,
//! resumption), tickets (assign, reply threaded through the outbox, notes,
//! authorization and isolation) and disconnect.
//!
//! The mailbox here is [`FakeMailbox`], an in-memory [`MailboxReader`]:
//! the provider is not what these cases are about (the Gmail adapter has
//! its own tests against a loopback Gmail peer).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::domain::mail_ops::{
    MAX_DEFECT_CHARS, MAX_DEFECTS, MailMessage, MailThread, Priority, RoutingRule, SlaTarget,
    SlaTargets, SupportStatus, SupportTicket, SyncState, SyncStatus, TicketNote,
};
use crate::domain::{Branch, BranchScope, Context, Email, Principal, Role, User};
use crate::error::{Error, Result};
use crate::id::{
    BranchId, MailMessageId, MailRuleId, MailThreadId, SupportTicketId, TenantId, TicketNoteId,
};
use crate::ports::{
    AuthorizationRequest, BreachFilter, FetchedMessage, HistoryOutcome, HistoryPage,
    InboundAttachment, InboundMail, MailAddress, MailboxMessageRef, MailboxReader, MessageList,
    OAuthProvider, OAuthTokens, PageRequest, Scope, Store, TicketFilter,
};
use crate::security::keyring::KeyRing;
use crate::security::secret::Secret;
use crate::service::mail_connections::MailConnections;
use crate::service::mail_ops::{MailOps, ReplyForm, RuleForm, SettingsForm, TicketQuery};
use crate::service::tenancy::Deps;

use super::clients::new_client;
use super::{new_branch, new_user, now, seed_tenant};

// ------------------------------------------------------------- the fakes

/// An in-memory mailbox that answers like Gmail: listings newest first and
/// paged, a history of added messages with an id that grows, an expiry of
/// old history ids, and errors injected one call at a time.
#[derive(Debug, Default)]
pub struct FakeMailbox {
    inner: Mutex<FakeState>,
    expired: AtomicBool,
}

#[derive(Debug, Default)]
struct FakeState {
    messages: Vec<FetchedMessage>,
    /// (history id, message index) of each delivery.
    history: Vec<(u64, usize)>,
    next_history: u64,
    failures: VecDeque<Error>,
    attachments: HashMap<(String, String), Vec<u8>>,
    sent: Vec<(Vec<u8>, Option<String>)>,
    fetches: usize,
    page_size: usize,
}

impl FakeMailbox {
    /// An empty mailbox with pages of `page_size` messages.
    pub fn new(page_size: usize) -> Self {
        let mailbox = Self::default();
        {
            let mut s = mailbox.lock();
            s.page_size = page_size.max(1);
            s.next_history = 100;
        }
        mailbox
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message arrives (or is sent, with label `SENT`).
    pub fn deliver(&self, message: FetchedMessage) {
        let mut s = self.lock();
        s.next_history += 1;
        let h = s.next_history;
        s.messages.push(message);
        let index = s.messages.len() - 1;
        s.history.push((h, index));
    }

    /// The next call fails with `error`.
    pub fn fail_next(&self, error: Error) {
        self.lock().failures.push_back(error);
    }

    /// From now on, every history id is too old.
    pub fn expire_history(&self, expired: bool) {
        self.expired.store(expired, Ordering::SeqCst);
    }

    /// Stores an attachment's bytes.
    pub fn put_attachment(&self, message: &str, attachment: &str, bytes: &[u8]) {
        self.lock()
            .attachments
            .insert((message.into(), attachment.into()), bytes.to_vec());
    }

    /// How many messages were fetched.
    pub fn fetches(&self) -> usize {
        self.lock().fetches
    }

    /// What was sent through [`MailboxReader::send`].
    pub fn sent(&self) -> Vec<(Vec<u8>, Option<String>)> {
        self.lock().sent.clone()
    }

    fn check(&self, token: &Secret<String>) -> Result<()> {
        if token.expose().is_empty() {
            return Err(Error::rejected("no token"));
        }
        match self.lock().failures.pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn offset(token: Option<String>) -> Result<usize> {
    token
        .map(|t| t.parse().map_err(|_| Error::invalid("pageToken", "bad")))
        .transpose()
        .map(Option::unwrap_or_default)
}

#[async_trait]
impl MailboxReader for FakeMailbox {
    async fn current_history_id(&self, token: &Secret<String>) -> Result<String> {
        self.check(token)?;
        Ok(self.lock().next_history.to_string())
    }

    async fn list_messages(
        &self,
        token: &Secret<String>,
        _query: &str,
        page_token: Option<String>,
    ) -> Result<MessageList> {
        self.check(token)?;
        let from = offset(page_token)?;
        let s = self.lock();
        let newest_first: Vec<MailboxMessageRef> = s
            .messages
            .iter()
            .rev()
            .map(|m| MailboxMessageRef {
                id: m.id.clone(),
                thread_id: m.thread_id.clone(),
            })
            .collect();
        let page: Vec<_> = newest_first
            .iter()
            .skip(from)
            .take(s.page_size)
            .cloned()
            .collect();
        let next =
            (from + s.page_size < newest_first.len()).then(|| (from + s.page_size).to_string());
        Ok(MessageList {
            messages: page,
            next_page_token: next,
        })
    }

    async fn history(
        &self,
        token: &Secret<String>,
        start_history_id: &str,
        page_token: Option<String>,
    ) -> Result<HistoryOutcome> {
        self.check(token)?;
        if self.expired.load(Ordering::SeqCst) {
            return Ok(HistoryOutcome::Expired);
        }
        let start: u64 = start_history_id
            .parse()
            .map_err(|_| Error::invalid("startHistoryId", "bad"))?;
        let from = offset(page_token)?;
        let s = self.lock();
        let added: Vec<MailboxMessageRef> = s
            .history
            .iter()
            .filter(|(h, _)| *h > start)
            .map(|(_, i)| MailboxMessageRef {
                id: s.messages[*i].id.clone(),
                thread_id: s.messages[*i].thread_id.clone(),
            })
            .collect();
        let page: Vec<_> = added.iter().skip(from).take(s.page_size).cloned().collect();
        let next = (from + s.page_size < added.len()).then(|| (from + s.page_size).to_string());
        Ok(HistoryOutcome::Changes(HistoryPage {
            added: page,
            next_page_token: next,
            history_id: s.next_history.to_string(),
        }))
    }

    async fn fetch(&self, token: &Secret<String>, message_id: &str) -> Result<FetchedMessage> {
        self.check(token)?;
        let mut s = self.lock();
        s.fetches += 1;
        s.messages
            .iter()
            .find(|m| m.id == message_id)
            .cloned()
            .ok_or_else(|| Error::not_found("message"))
    }

    async fn fetch_attachment(
        &self,
        token: &Secret<String>,
        message_id: &str,
        attachment_id: &str,
    ) -> Result<Vec<u8>> {
        self.check(token)?;
        self.lock()
            .attachments
            .get(&(message_id.to_owned(), attachment_id.to_owned()))
            .cloned()
            .ok_or_else(|| Error::not_found("attachment"))
    }

    async fn send(
        &self,
        token: &Secret<String>,
        raw: &[u8],
        thread_id: Option<String>,
    ) -> Result<String> {
        self.check(token)?;
        let mut s = self.lock();
        s.sent.push((raw.to_vec(), thread_id));
        Ok(format!("sent-{}", s.sent.len()))
    }
}

/// The mailbox address of [`FakeGoogle`].
pub const MAILBOX: &str = "desk@agency.example";

/// A Google that grants every code (for connecting a test mailbox).
#[derive(Debug, Default)]
pub struct FakeGoogle;

#[async_trait]
impl OAuthProvider for FakeGoogle {
    fn authorization_request(&self) -> Result<AuthorizationRequest> {
        Ok(AuthorizationRequest {
            url: "https://accounts.google.example/auth?state=fixed-state".into(),
            state: Secret::new("fixed-state".into()),
            pkce_verifier: Secret::new("verifier".into()),
        })
    }
    async fn exchange_code(
        &self,
        _code: &Secret<String>,
        _verifier: &Secret<String>,
    ) -> Result<OAuthTokens> {
        Ok(OAuthTokens {
            access_token: Secret::new("access".into()),
            refresh_token: Some(Secret::new("refresh".into())),
            expires_at: Some(Utc::now() + Duration::days(30)),
            scopes: vec!["https://mail.google.com/".into()],
        })
    }
    async fn refresh(&self, _token: &Secret<String>) -> Result<OAuthTokens> {
        self.exchange_code(&Secret::new(String::new()), &Secret::new(String::new()))
            .await
    }
    async fn revoke(&self, _token: &Secret<String>) -> Result<()> {
        Ok(())
    }
    async fn account_address(&self, _token: &Secret<String>) -> Result<Email> {
        Email::parse(MAILBOX)
    }
}

/// A message from `from` in provider thread `thread`.
pub fn inbound(
    id: &str,
    thread: &str,
    from: &str,
    subject: &str,
    at: DateTime<Utc>,
) -> FetchedMessage {
    FetchedMessage {
        id: id.into(),
        thread_id: thread.into(),
        label_ids: vec!["INBOX".into(), "UNREAD".into()],
        received_at: at,
        mail: InboundMail {
            message_id: Some(format!("{id}@mail.example")),
            from: Some(MailAddress {
                name: Some("Customer".into()),
                address: from.into(),
            }),
            to: vec![MailAddress {
                name: None,
                address: MAILBOX.into(),
            }],
            subject: Some(subject.into()),
            date: Some(at),
            text: format!("Hello, about {subject}"),
            html: Some(format!("<p>Hello, about {subject}</p>")),
            attachments: vec![InboundAttachment {
                attachment_id: Some(format!("att-{id}")),
                part_id: "2".into(),
                filename: Some("passport.pdf".into()),
                content_type: "application/pdf".into(),
                size: 4,
            }],
            ..InboundMail::default()
        },
    }
}

// --------------------------------------------------------------- fixtures

struct World {
    ops: MailOps,
    connections: MailConnections,
    mailbox: Arc<FakeMailbox>,
    tenant: TenantId,
    head: Branch,
    vip: Branch,
    owner: User,
}

fn ctx_of(user: &User, at: DateTime<Utc>) -> Context {
    Context::new(
        Principal::user(user.id, user.tenant_id, user.role, user.scope.clone()),
        at,
    )
}

async fn add_user(store: &dyn Store, tenant: TenantId, role: Role, scope: BranchScope) -> User {
    let mut user = new_user(tenant, scope);
    user.role = role;
    let mut uow = store.begin().await.expect("begin");
    uow.users().insert(&user).await.expect("user");
    uow.commit().await.expect("commit");
    user
}

async fn world(store: &Arc<dyn Store>) -> World {
    let tenant = seed_tenant(&**store).await;
    let at = now();
    let head = new_branch(tenant.id, at - Duration::days(2));
    let vip = new_branch(tenant.id, at - Duration::days(1));
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&head).await.expect("branch");
    uow.branches().insert(&vip).await.expect("branch");
    uow.commit().await.expect("commit");
    let owner = add_user(
        &**store,
        tenant.id,
        Role::TenantSuperAdmin,
        BranchScope::All,
    )
    .await;
    let ring = Arc::new(
        KeyRing::parse(KeyRing::generate_key(1, &crate::ports::OsRandom).expose()).expect("keys"),
    );
    let connections = MailConnections::new(
        Deps::new(store.clone()),
        ring,
        Some(Arc::new(FakeGoogle) as Arc<dyn OAuthProvider>),
    );
    let mailbox = Arc::new(FakeMailbox::new(2));
    let ops = MailOps::new(
        Deps::new(store.clone()),
        connections.clone(),
        Some(mailbox.clone() as Arc<dyn MailboxReader>),
    );
    World {
        ops,
        connections,
        mailbox,
        tenant: tenant.id,
        head,
        vip,
        owner,
    }
}

async fn connect(w: &World) {
    let ctx = ctx_of(&w.owner, now());
    w.connections.gmail_connect(&ctx).await.expect("connect");
    w.connections
        .gmail_callback(&ctx, &Secret::new("code".into()), "fixed-state")
        .await
        .expect("callback");
}

async fn tickets(store: &dyn Store, tenant: TenantId) -> Vec<SupportTicket> {
    let mut uow = store.begin().await.expect("begin");
    let scope = Scope {
        tenant_id: tenant,
        branches: BranchScope::All,
    };
    let page = uow
        .mail_ops()
        .list_tickets(&scope, &TicketFilter::default(), PageRequest::first())
        .await
        .expect("list");
    uow.rollback().await.expect("rollback");
    page.items
}

async fn state(store: &dyn Store, tenant: TenantId) -> Option<SyncState> {
    let mut uow = store.begin().await.expect("begin");
    let s = uow.mail_ops().sync_state(tenant).await.expect("state");
    uow.rollback().await.expect("rollback");
    s
}

async fn audit_actions(store: &dyn Store, tenant: TenantId) -> Vec<String> {
    let mut uow = store.begin().await.expect("begin");
    let mut actions = Vec::new();
    let mut after = 0;
    loop {
        let page = uow
            .audit()
            .read(tenant, after, crate::ports::AUDIT_PAGE)
            .await
            .expect("audit");
        if page.is_empty() {
            break;
        }
        after = page.last().map_or(after, |e| e.seq);
        actions.extend(page.into_iter().map(|e| e.event.action));
    }
    uow.rollback().await.expect("rollback");
    actions
}

// ------------------------------------------------------------------ cases

/// Every Mail Ops record round-trips, stays in its tenant, lists by scope
/// and filter, conflicts when stale; a message is stored once per
/// provider id; deleting the mail keeps the tickets without content.
pub async fn mail_ops_records_round_trip_and_stay_in_their_tenant(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let at = now();
    let a = new_branch(tenant.id, at);
    let b = new_branch(tenant.id, at);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&a).await.expect("branch");
    uow.branches().insert(&b).await.expect("branch");

    // Settings: defaults, then saved under their version.
    let mut settings = uow.mail_ops().settings(tenant.id).await.expect("settings");
    assert_eq!(settings.version, 0);
    settings.first_sync_days = 7;
    settings.delete_mail_on_disconnect = true;
    uow.mail_ops()
        .put_settings(&mut settings)
        .await
        .expect("put");
    let mut stale = settings.clone();
    stale.version = 0;
    assert!(matches!(
        uow.mail_ops().put_settings(&mut stale).await,
        Err(Error::Conflict { .. })
    ));
    settings.sla.urgent.first_response_minutes = 30;
    uow.mail_ops()
        .put_settings(&mut settings)
        .await
        .expect("put again");
    assert_eq!(
        uow.mail_ops().settings(tenant.id).await.expect("read"),
        settings
    );
    assert_eq!(
        uow.mail_ops()
            .settings(other.id)
            .await
            .expect("read")
            .version,
        0
    );

    // Sync state.
    let mut sync = SyncState::new(tenant.id);
    uow.mail_ops().put_sync_state(&sync).await.expect("sync");
    sync.history_id = Some("77".into());
    sync.status = SyncStatus::BackingOff;
    sync.backoff_until = Some(at + Duration::minutes(5));
    sync.failures = 2;
    sync.messages_synced = 12;
    uow.mail_ops().put_sync_state(&sync).await.expect("sync");
    assert_eq!(
        uow.mail_ops().sync_state(tenant.id).await.expect("read"),
        Some(sync.clone())
    );
    assert!(
        uow.mail_ops()
            .due_syncs(at, 10)
            .await
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        uow.mail_ops()
            .due_syncs(at + Duration::minutes(6), 10)
            .await
            .expect("due")
            .into_iter()
            .filter(|t| *t == tenant.id)
            .count(),
        1
    );

    // Threads and messages.
    let thread = MailThread {
        id: MailThreadId::new(),
        tenant_id: tenant.id,
        provider_thread_id: "t-1".into(),
        branch_id: a.id,
        subject: "Visa".into(),
        last_message_at: at,
        created_at: at,
    };
    uow.mail_ops().insert_thread(&thread).await.expect("thread");
    let f = inbound("m-1", "t-1", "ana@client.example", "Visa", at);
    let message = MailMessage {
        id: MailMessageId::new(),
        tenant_id: tenant.id,
        thread_id: thread.id,
        provider_message_id: "m-1".into(),
        message_id_header: f.mail.message_id.clone(),
        in_reply_to: None,
        references: vec!["root@mail.example".into()],
        from: Some(crate::domain::mail_ops::StoredAddress {
            name: Some("Ana".into()),
            address: "ana@client.example".into(),
        }),
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        subject: "Visa".into(),
        text: "Hello".into(),
        html: Some("<p>Hello</p>".into()),
        attachments: f.mail.attachments.iter().map(Into::into).collect(),
        labels: vec!["INBOX".into()],
        outbound: false,
        received_at: at,
        created_at: at,
        defects: vec!["part 1.2: unknown charset x-klingon; decoded as Latin-1".into()],
    };
    assert!(
        uow.mail_ops()
            .insert_message(&message)
            .await
            .expect("insert")
    );
    let again = MailMessage {
        id: MailMessageId::new(),
        ..message.clone()
    };
    assert!(
        !uow.mail_ops().insert_message(&again).await.expect("again"),
        "a provider message is stored once"
    );
    assert!(
        uow.mail_ops()
            .has_message(tenant.id, "m-1")
            .await
            .expect("has")
    );
    assert!(
        !uow.mail_ops()
            .has_message(other.id, "m-1")
            .await
            .expect("has")
    );
    assert_eq!(
        uow.mail_ops()
            .messages(tenant.id, thread.id)
            .await
            .expect("msgs"),
        vec![message.clone()]
    );
    assert_eq!(
        uow.mail_ops()
            .thread_by_provider(tenant.id, "t-1")
            .await
            .expect("thread"),
        Some(thread.clone())
    );
    assert_eq!(
        uow.mail_ops()
            .thread_by_provider(other.id, "t-1")
            .await
            .expect("thread"),
        None
    );

    // Tickets: scope and filters in the query, stale updates conflict.
    let ticket =
        |branch: BranchId, status: SupportStatus, thread: Option<MailThreadId>| SupportTicket {
            id: SupportTicketId::new(),
            tenant_id: tenant.id,
            branch_id: branch,
            thread_id: thread,
            subject: "Visa".into(),
            requester: Some("ana@client.example".into()),
            client_id: None,
            status,
            priority: Priority::Normal,
            assignee: None,
            first_response_at: None,
            solved_at: None,
            created_at: at,
            updated_at: at,
            version: 1,
        };
    let mut in_a = ticket(a.id, SupportStatus::Open, Some(thread.id));
    let in_b = ticket(b.id, SupportStatus::Pending, None);
    uow.mail_ops().insert_ticket(&in_a).await.expect("ticket");
    uow.mail_ops().insert_ticket(&in_b).await.expect("ticket");
    let only_a = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::only([a.id]),
    };
    let listed = uow
        .mail_ops()
        .list_tickets(&only_a, &TicketFilter::default(), PageRequest::first())
        .await
        .expect("list");
    assert_eq!(listed.items, vec![in_a.clone()]);
    let all = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::All,
    };
    let pending = TicketFilter {
        status: Some(SupportStatus::Pending),
        ..TicketFilter::default()
    };
    let listed = uow
        .mail_ops()
        .list_tickets(&all, &pending, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(listed.items, vec![in_b.clone()]);
    let theirs = Scope {
        tenant_id: other.id,
        branches: BranchScope::All,
    };
    assert!(
        uow.mail_ops()
            .list_tickets(&theirs, &TicketFilter::default(), PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let mut stale = in_a.clone();
    in_a.priority = Priority::Urgent;
    uow.mail_ops()
        .update_ticket(&mut in_a)
        .await
        .expect("update");
    assert!(matches!(
        uow.mail_ops().update_ticket(&mut stale).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        uow.mail_ops()
            .ticket_of_thread(tenant.id, thread.id)
            .await
            .expect("of thread"),
        Some(in_a.clone())
    );
    assert_eq!(
        uow.mail_ops()
            .get_ticket(other.id, in_a.id)
            .await
            .expect("get"),
        None
    );

    // Notes.
    let note = TicketNote {
        id: TicketNoteId::new(),
        tenant_id: tenant.id,
        ticket_id: in_a.id,
        author: None,
        text: "Called the embassy".into(),
        created_at: at,
    };
    uow.mail_ops().insert_note(&note).await.expect("note");
    assert_eq!(
        uow.mail_ops()
            .notes(tenant.id, in_a.id)
            .await
            .expect("notes"),
        vec![note]
    );

    // Rules, in position order.
    let rule = |position: i32| RoutingRule {
        id: MailRuleId::new(),
        tenant_id: tenant.id,
        position,
        mailbox: None,
        label: Some("Label_1".into()),
        sender_domain: Some("vip.example".into()),
        branch_id: b.id,
        priority: Priority::High,
        assignee: None,
        created_at: at,
        version: 1,
    };
    let (second, first) = (rule(5), rule(1));
    uow.mail_ops().insert_rule(&second).await.expect("rule");
    uow.mail_ops().insert_rule(&first).await.expect("rule");
    assert_eq!(
        uow.mail_ops().rules(tenant.id).await.expect("rules"),
        vec![first.clone(), second.clone()]
    );
    assert!(
        uow.mail_ops()
            .rules(other.id)
            .await
            .expect("rules")
            .is_empty()
    );
    let mut moved = second.clone();
    moved.position = 0;
    uow.mail_ops()
        .update_rule(&mut moved)
        .await
        .expect("update");
    assert_eq!(
        uow.mail_ops().rules(tenant.id).await.expect("rules")[0].id,
        second.id
    );
    assert!(
        uow.mail_ops()
            .delete_rule(tenant.id, first.id)
            .await
            .expect("del")
    );
    assert!(
        !uow.mail_ops()
            .delete_rule(other.id, second.id)
            .await
            .expect("del")
    );

    // Deleting the mail: messages and threads go, tickets stay without
    // their content.
    assert_eq!(
        uow.mail_ops().delete_mail(tenant.id).await.expect("delete"),
        1
    );
    assert!(
        !uow.mail_ops()
            .has_message(tenant.id, "m-1")
            .await
            .expect("has")
    );
    let kept = uow
        .mail_ops()
        .get_ticket(tenant.id, in_a.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        (kept.thread_id, kept.subject.as_str(), kept.requester),
        (None, "", None)
    );
    assert_eq!(kept.status, SupportStatus::Open);
    assert!(
        uow.mail_ops()
            .delete_sync_state(tenant.id)
            .await
            .expect("off")
    );
    assert_eq!(
        uow.mail_ops().sync_state(tenant.id).await.expect("read"),
        None
    );
    uow.commit().await.expect("commit");
}

/// The SLA-breach filter runs in the query and agrees with
/// [`SupportTicket::sla`] ticket for ticket — every priority, answered and
/// unanswered, solved, closed without being solved, exactly on the
/// deadline — under the tenant's own targets; so a filtered page is a full
/// page and paging through finds every match once.
pub async fn ticket_breach_filter_matches_the_sla_in_the_query(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let at = now();
    let branch = new_branch(tenant.id, at);
    let theirs = new_branch(other.id, at);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("branch");
    uow.branches().insert(&theirs).await.expect("branch");

    // Targets of the tenant's own, not the defaults: 10/100 minutes for
    // low, 20/200 normal, 30/300 high, 40/400 urgent.
    let target = |n: u32| SlaTarget {
        first_response_minutes: 10 * n,
        resolution_minutes: 100 * n,
    };
    let targets = SlaTargets {
        low: target(1),
        normal: target(2),
        high: target(3),
        urgent: target(4),
    };
    let minutes = |m: u32| Duration::minutes(i64::from(m));
    let mut all = Vec::new();
    let mut seq = 0_i64;
    for priority in Priority::ALL {
        let t = targets.of(priority);
        let (fr, res) = (
            minutes(t.first_response_minutes),
            minutes(t.resolution_minutes),
        );
        // Opened long enough ago that every deadline has passed, just
        // before a deadline, exactly on it, and just now.
        for age in [
            res * 2,
            fr + Duration::seconds(1),
            fr,
            res,
            Duration::zero(),
        ] {
            // Answered never, in time, exactly on time, late.
            let answers = [
                None,
                Some(fr / 2),
                Some(fr),
                Some(fr + Duration::microseconds(1)),
            ];
            for answer in answers {
                for (status, solved) in [
                    (SupportStatus::Open, None),
                    (SupportStatus::Solved, Some(res)),
                    (SupportStatus::Solved, Some(res + Duration::minutes(1))),
                    (SupportStatus::Closed, None),
                ] {
                    seq += 1;
                    // Distinct creation instants keep the list order plain.
                    let created = at - age - Duration::microseconds(seq);
                    let answered = answer.map(|a| created + a);
                    all.push(SupportTicket {
                        id: SupportTicketId::new(),
                        tenant_id: tenant.id,
                        branch_id: branch.id,
                        thread_id: None,
                        subject: format!("Case {seq}"),
                        requester: None,
                        client_id: None,
                        status,
                        priority,
                        assignee: None,
                        first_response_at: answered,
                        solved_at: solved.map(|s| created + s),
                        created_at: created,
                        // A ticket closed without being solved counts as
                        // resolved when it last changed.
                        updated_at: created + fr * 3,
                        version: 1,
                    });
                }
            }
        }
    }
    for ticket in &all {
        uow.mail_ops().insert_ticket(ticket).await.expect("ticket");
        // The same ticket in another tenant: never listed here.
        let mut twin = ticket.clone();
        twin.id = SupportTicketId::new();
        twin.tenant_id = other.id;
        twin.branch_id = theirs.id;
        uow.mail_ops().insert_ticket(&twin).await.expect("ticket");
    }
    let scope = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::All,
    };
    let late = |t: &SupportTicket| {
        let sla = t.sla(&targets, at);
        sla.first_response_breached || sla.resolution_breached
    };
    for breached in [true, false] {
        let mut expected: Vec<SupportTicket> = all
            .iter()
            .filter(|t| late(t) == breached)
            .cloned()
            .collect();
        expected.sort_by_key(|t| (t.created_at, t.id.as_uuid()));
        assert!(!expected.is_empty(), "the fixture has both kinds");
        let filter = TicketFilter {
            breached: Some(BreachFilter {
                breached,
                targets,
                now: at,
            }),
            ..TicketFilter::default()
        };
        let mut found = Vec::new();
        let mut page = PageRequest::new(Some(7), None).expect("page");
        loop {
            let got = uow
                .mail_ops()
                .list_tickets(&scope, &filter, page)
                .await
                .expect("list");
            let Some(next) = got.next else {
                found.extend(got.items);
                break;
            };
            assert_eq!(got.items.len(), 7, "a filtered page is a full page");
            found.extend(got.items);
            page = PageRequest::new(Some(7), Some(&next.encode())).expect("page");
        }
        assert_eq!(found.len(), expected.len(), "breached = {breached}");
        for (got, want) in found.iter().zip(&expected) {
            assert_eq!(got, want, "breached = {breached}: {}", want.subject);
        }
    }
    // With another filter: the conditions combine.
    let urgent_late = uow
        .mail_ops()
        .list_tickets(
            &scope,
            &TicketFilter {
                priority: Some(Priority::Urgent),
                status: Some(SupportStatus::Open),
                breached: Some(BreachFilter {
                    breached: true,
                    targets,
                    now: at,
                }),
                ..TicketFilter::default()
            },
            PageRequest::new(Some(200), None).expect("page"),
        )
        .await
        .expect("list");
    let want = all
        .iter()
        .filter(|t| t.priority == Priority::Urgent && t.status == SupportStatus::Open && late(t))
        .count();
    assert_eq!(urgent_late.items.len(), want);
    uow.rollback().await.expect("rollback");
}

/// A message's parse defects are stored with it, bounded whoever wrote
/// them (at most [`MAX_DEFECTS`], each at most [`MAX_DEFECT_CHARS`]
/// characters, no control characters), and read back only in its tenant.
pub async fn mail_message_defects_are_stored_bounded(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let at = now();
    let branch = new_branch(tenant.id, at);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("branch");
    let thread = MailThread {
        id: MailThreadId::new(),
        tenant_id: tenant.id,
        provider_thread_id: "t-broken".into(),
        branch_id: branch.id,
        subject: "Broken".into(),
        last_message_at: at,
        created_at: at,
    };
    uow.mail_ops().insert_thread(&thread).await.expect("thread");
    let mut defects: Vec<String> = (0..MAX_DEFECTS + 10)
        .map(|i| format!("part {i}: truncated\r\nbase64"))
        .collect();
    defects[0] = "é".repeat(MAX_DEFECT_CHARS * 3);
    let message = MailMessage {
        id: MailMessageId::new(),
        tenant_id: tenant.id,
        thread_id: thread.id,
        provider_message_id: "m-broken".into(),
        message_id_header: None,
        in_reply_to: None,
        references: vec![],
        from: None,
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        subject: "Broken".into(),
        text: String::new(),
        html: None,
        attachments: vec![],
        labels: vec!["INBOX".into()],
        outbound: false,
        received_at: at,
        created_at: at,
        defects,
    };
    assert!(
        uow.mail_ops()
            .insert_message(&message)
            .await
            .expect("insert")
    );
    let stored = uow
        .mail_ops()
        .messages(tenant.id, thread.id)
        .await
        .expect("messages");
    assert_eq!(stored.len(), 1);
    let kept = &stored[0].defects;
    assert_eq!(kept.len(), MAX_DEFECTS);
    assert_eq!(kept[0], "é".repeat(MAX_DEFECT_CHARS));
    assert_eq!(kept[1], "part 1: truncated  base64");
    assert!(kept.iter().all(|d| !d.chars().any(char::is_control)));
    assert!(
        uow.mail_ops()
            .messages(other.id, thread.id)
            .await
            .expect("messages")
            .is_empty(),
        "another tenant sees nothing"
    );
    uow.commit().await.expect("commit");
}

/// Sync opens one ticket per new thread in the branch the rules choose,
/// links the client, never opens one for sent mail, stores a message
/// once however often it is seen, backs off on a rate limit, falls back
/// to a full sync on an expired history id, stops on a refused token, and
/// a customer's reply reopens a solved ticket.
pub async fn mail_sync_routes_tickets_once_backs_off_and_recovers(store: Arc<dyn Store>) {
    let w = world(&store).await;
    let at = now();
    let owner = ctx_of(&w.owner, at);

    // A client of the VIP branch with the sender's address.
    let mut client = new_client(w.tenant, w.vip.id, "Boss");
    client.email = Some(Email::parse("boss@vip.example").expect("email"));
    let mut uow = store.begin().await.expect("begin");
    uow.clients().insert(&client).await.expect("client");
    uow.commit().await.expect("commit");

    w.ops
        .create_rule(
            &owner,
            &RuleForm {
                position: 1,
                mailbox: None,
                label: None,
                sender_domain: Some("VIP.example".into()),
                branch_id: w.vip.id,
                priority: Priority::High,
                assignee: None,
            },
        )
        .await
        .expect("rule");

    // Nothing happens before a mailbox is connected.
    assert_eq!(w.ops.tick(at).await.expect("tick").tenants, 0);
    connect(&w).await;
    let fresh = state(&*store, w.tenant).await.expect("sync on");
    assert!(fresh.full_sync);

    w.mailbox.deliver(inbound(
        "m1",
        "t1",
        "ana@client.example",
        "Visa",
        at - Duration::hours(3),
    ));
    // A message that did not parse cleanly: stored with what is missing.
    let mut group_mail = inbound(
        "m2",
        "t2",
        "boss@vip.example",
        "Group",
        at - Duration::hours(2),
    );
    group_mail.mail.defects = vec![
        "part 1: unknown charset x-klingon; decoded as Latin-1".into(),
        " ".into(),
    ];
    w.mailbox.deliver(group_mail);
    let mut sent = inbound("m3", "t1", MAILBOX, "Re: Visa", at - Duration::hours(1));
    sent.label_ids = vec!["SENT".into()];
    w.mailbox.deliver(sent);

    let report = w.ops.tick(at).await.expect("tick");
    assert_eq!((report.stored, report.opened, report.errors), (3, 2, 0));
    let all = tickets(&*store, w.tenant).await;
    assert_eq!(all.len(), 2);
    let visa = all.iter().find(|t| t.subject == "Visa").expect("visa");
    let group = all.iter().find(|t| t.subject == "Group").expect("group");
    assert_eq!(visa.branch_id, w.head.id, "no rule: the head office");
    assert_eq!(visa.priority, Priority::Normal);
    assert!(
        visa.first_response_at.is_some(),
        "the mailbox's own reply is a response"
    );
    assert_eq!(
        (group.branch_id, group.priority),
        (w.vip.id, Priority::High)
    );
    assert_eq!(group.client_id, Some(client.id));
    let detail = w.ops.ticket(&owner, group.id).await.expect("group detail");
    assert_eq!(
        detail.messages[0].defects,
        vec!["part 1: unknown charset x-klingon; decoded as Latin-1".to_owned()],
        "defects are stored, blank ones dropped"
    );
    let s = state(&*store, w.tenant).await.expect("state");
    assert!(!s.full_sync);
    assert_eq!(
        s.history_id.as_deref(),
        Some("103"),
        "taken before the first page"
    );
    assert_eq!(s.messages_synced, 3);

    // Seen again: nothing new, nothing refetched.
    let fetches = w.mailbox.fetches();
    let report = w.ops.tick(at).await.expect("tick");
    assert_eq!(report.stored, 0);
    assert_eq!(w.mailbox.fetches(), fetches);

    // A rate limit: back off, persisted; a tick before the end does nothing.
    w.mailbox.fail_next(Error::RateLimited {
        retry_after: Duration::seconds(90),
    });
    w.mailbox
        .deliver(inbound("m4", "t3", "new@client.example", "Hotel", at));
    let report = w.ops.tick(at).await.expect("tick");
    assert_eq!((report.stored, report.errors), (0, 1));
    let s = state(&*store, w.tenant).await.expect("state");
    assert_eq!(s.status, SyncStatus::BackingOff);
    let until = s.backoff_until.expect("backoff");
    assert!(until >= at + Duration::seconds(90));
    assert_eq!(
        w.ops
            .tick(at + Duration::seconds(10))
            .await
            .expect("tick")
            .tenants,
        0
    );
    let report = w.ops.tick(until).await.expect("tick");
    assert_eq!(report.stored, 1);
    let s = state(&*store, w.tenant).await.expect("state");
    assert_eq!(
        (s.status, s.failures, s.last_error.clone()),
        (SyncStatus::Active, 0, None)
    );

    // An expired history id: a full sync again, still nothing twice.
    w.mailbox.expire_history(true);
    w.mailbox
        .deliver(inbound("m5", "t2", "boss@vip.example", "Re: Group", until));
    let later = until + Duration::minutes(1);
    w.ops.tick(later).await.expect("tick");
    w.mailbox.expire_history(false);
    w.ops.tick(later).await.expect("tick");
    assert_eq!(tickets(&*store, w.tenant).await.len(), 3);
    let s = state(&*store, w.tenant).await.expect("state");
    assert_eq!(s.messages_synced, 5, "five messages, each stored once");
    assert!(!s.full_sync);

    // Solved, then the customer writes again: reopened.
    let group = tickets(&*store, w.tenant)
        .await
        .into_iter()
        .find(|t| t.subject == "Group")
        .expect("group");
    w.ops
        .set_status(&owner, group.id, SupportStatus::Solved)
        .await
        .expect("solve");
    w.mailbox
        .deliver(inbound("m6", "t2", "boss@vip.example", "Re: Group", later));
    w.ops.tick(later).await.expect("tick");
    let reopened = tickets(&*store, w.tenant)
        .await
        .into_iter()
        .find(|t| t.id == group.id)
        .expect("group");
    assert_eq!(reopened.status, SupportStatus::Open);
    assert_eq!(tickets(&*store, w.tenant).await.len(), 3);

    // A refused token: sync stops with a clear status until "sync now".
    w.mailbox.fail_next(Error::rejected("invalid_grant"));
    w.mailbox
        .deliver(inbound("m7", "t9", "x@client.example", "Late", later));
    w.ops.tick(later).await.expect("tick");
    let s = state(&*store, w.tenant).await.expect("state");
    assert_eq!(s.status, SyncStatus::Broken);
    assert!(s.last_error.expect("error").contains("invalid_grant"));
    assert_eq!(
        w.ops
            .tick(later + Duration::days(1))
            .await
            .expect("tick")
            .tenants,
        0
    );
    let done = w.ops.sync_now(&owner).await.expect("sync now");
    assert_eq!(done.stored, 1);

    // Privacy: the client's export carries the ticket and its mail; erasure
    // deletes the mail and anonymises the ticket.
    let privacy = crate::service::privacy::Privacy::new(
        Deps::new(store.clone()),
        Arc::new(super::clients::test_keyring()),
    );
    let kind = crate::ports::SubjectKind::Client;
    let export = privacy
        .export(&owner, kind, client.id.as_uuid())
        .await
        .expect("export");
    assert_eq!(export.support_tickets.len(), 1);
    let text = export.support_tickets[0].to_string();
    assert!(
        text.contains("Group") && text.contains("boss@vip.example"),
        "{text}"
    );
    assert!(text.contains("unknown charset x-klingon"), "{text}");
    let token = match privacy.erase(&owner, kind, client.id.as_uuid(), None).await {
        Err(Error::ConfirmationRequired { token, .. }) => token,
        other => panic!("erasure is critical: {other:?}"),
    };
    privacy
        .erase(&owner, kind, client.id.as_uuid(), Some(&token))
        .await
        .expect("erase");
    let erased = tickets(&*store, w.tenant)
        .await
        .into_iter()
        .find(|t| t.id == group.id)
        .expect("kept");
    assert_eq!(
        (
            erased.client_id,
            erased.requester,
            erased.thread_id,
            erased.subject.as_str()
        ),
        (None, None, None, "")
    );
    let mut uow = store.begin().await.expect("begin");
    for gone in ["m2", "m5", "m6"] {
        assert!(
            !uow.mail_ops()
                .has_message(w.tenant, gone)
                .await
                .expect("has"),
            "{gone}"
        );
    }
    assert!(
        uow.mail_ops()
            .has_message(w.tenant, "m1")
            .await
            .expect("has")
    );
    uow.rollback().await.expect("rollback");

    let actions = audit_actions(&*store, w.tenant).await;
    for wanted in [
        "mail_rule.created",
        "support_ticket.created",
        "support_ticket.status_changed",
        "support_ticket.reopened",
        "mail_ops.sync_requested",
    ] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
}

/// Staff answer tickets: assignment only to users with access to the
/// branch, replies through the outbox threaded with In-Reply-To and
/// References (first response marked, ticket pending), notes kept apart;
/// Finance reads but never writes, Umrah sees nothing, an out-of-scope
/// branch's or another tenant's ticket is not found.
pub async fn support_tickets_are_answered_threaded_and_authorized(store: Arc<dyn Store>) {
    let w = world(&store).await;
    let at = now();
    let owner = ctx_of(&w.owner, at);
    connect(&w).await;
    let mut first = inbound(
        "m1",
        "t1",
        "ana@client.example",
        "Visa",
        at - Duration::hours(2),
    );
    first.mail.references = vec!["older@mail.example".into()];
    w.mailbox.deliver(first);
    w.ops.tick(at).await.expect("tick");
    let ticket = tickets(&*store, w.tenant).await.pop().expect("ticket");
    assert_eq!(ticket.branch_id, w.head.id);

    let head_sales = add_user(
        &*store,
        w.tenant,
        Role::Sales,
        BranchScope::only([w.head.id]),
    )
    .await;
    let vip_sales = add_user(
        &*store,
        w.tenant,
        Role::Sales,
        BranchScope::only([w.vip.id]),
    )
    .await;
    let finance = add_user(&*store, w.tenant, Role::Finance, BranchScope::All).await;
    let umrah = add_user(&*store, w.tenant, Role::Umrah, BranchScope::All).await;

    // Assignment: only someone who may work on the branch's tickets.
    for wrong in [&vip_sales, &finance, &umrah] {
        let e = w.ops.assign(&owner, ticket.id, Some(wrong.id)).await;
        assert!(matches!(e, Err(Error::Invalid(_))), "{:?}", wrong.role);
    }
    let view = w
        .ops
        .assign(&owner, ticket.id, Some(head_sales.id))
        .await
        .expect("assign");
    assert_eq!(view.ticket.assignee, Some(head_sales.id));

    // The Sales user answers; the reply is threaded.
    let sales = ctx_of(&head_sales, at);
    let empty = w
        .ops
        .reply(&sales, ticket.id, &ReplyForm::default(), None)
        .await;
    assert!(matches!(empty, Err(Error::Invalid(_))));
    let answer = ReplyForm {
        text: Some("Your visa is ready.".into()),
        ..ReplyForm::default()
    };
    let key = crate::ports::IdempotencyKey::parse("reply-1").expect("key");
    let (view, message_id) = w
        .ops
        .reply(&sales, ticket.id, &answer, Some(&key))
        .await
        .expect("reply");
    let (_, again) = w
        .ops
        .reply(&sales, ticket.id, &answer, Some(&key))
        .await
        .expect("retry");
    assert_eq!(again, message_id, "a retry sends nothing more");
    let other = ReplyForm {
        text: Some("Something else".into()),
        ..ReplyForm::default()
    };
    assert!(matches!(
        w.ops.reply(&sales, ticket.id, &other, Some(&key)).await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(view.ticket.status, SupportStatus::Pending);
    assert_eq!(view.ticket.first_response_at, Some(at));
    assert!(!view.sla.first_response_breached);
    let mut uow = store.begin().await.expect("begin");
    let queued = uow
        .outbox()
        .get(w.tenant, message_id)
        .await
        .expect("get")
        .expect("queued");
    uow.rollback().await.expect("rollback");
    let email = queued.as_email().expect("an email");
    assert_eq!(email.to.as_str(), "ana@client.example");
    assert_eq!(email.subject, "Re: Visa");
    assert!(email.body_text.contains("visa is ready"));
    assert!(
        email
            .headers
            .contains(&("In-Reply-To".into(), "<m1@mail.example>".into()))
    );
    assert!(email.headers.contains(&(
        "References".into(),
        "<older@mail.example> <m1@mail.example>".into()
    )));
    assert_eq!(
        email.thread_id.as_deref(),
        Some("t1"),
        "the reply goes into the mailbox's thread"
    );

    // A note, never mailed.
    w.ops
        .add_note(&sales, ticket.id, "  Customer prefers WhatsApp  ")
        .await
        .expect("note");
    let detail = w.ops.ticket(&sales, ticket.id).await.expect("read");
    assert_eq!(detail.notes.len(), 1);
    assert_eq!(detail.notes[0].text, "Customer prefers WhatsApp");
    assert_eq!(detail.messages.len(), 1);
    assert_eq!(
        detail.messages[0].attachments[0].filename.as_deref(),
        Some("passport.pdf")
    );

    // Attachments on demand, through the mailbox.
    w.mailbox.put_attachment("m1", "att-m1", b"%PDF");
    let (meta, bytes) = w
        .ops
        .attachment(&sales, ticket.id, detail.messages[0].id, "2")
        .await
        .expect("attachment");
    assert_eq!(
        (meta.content_type.as_str(), bytes.as_slice()),
        ("application/pdf", &b"%PDF"[..])
    );

    // Authorization and isolation.
    let out_of_scope = ctx_of(&vip_sales, at);
    assert!(matches!(
        w.ops.ticket(&out_of_scope, ticket.id).await,
        Err(Error::NotFound { .. })
    ));
    let list = w
        .ops
        .list_tickets(&out_of_scope, &TicketQuery::default(), PageRequest::first())
        .await
        .expect("list");
    assert!(list.items.is_empty(), "the branch filter is in the query");
    let fin = ctx_of(&finance, at);
    assert!(w.ops.ticket(&fin, ticket.id).await.is_ok());
    assert!(matches!(
        w.ops.set_priority(&fin, ticket.id, Priority::Low).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        w.ops.ticket(&ctx_of(&umrah, at), ticket.id).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        w.ops.rules(&sales).await,
        Err(Error::Forbidden { .. })
    ));
    let stranger_tenant = seed_tenant(&*store).await;
    let stranger = add_user(
        &*store,
        stranger_tenant.id,
        Role::TenantSuperAdmin,
        BranchScope::All,
    )
    .await;
    assert!(matches!(
        w.ops.ticket(&ctx_of(&stranger, at), ticket.id).await,
        Err(Error::NotFound { .. })
    ));

    // Status machine: solved, closed, no way back to pending.
    w.ops
        .set_status(&sales, ticket.id, SupportStatus::Solved)
        .await
        .expect("solve");
    w.ops
        .set_status(&sales, ticket.id, SupportStatus::Closed)
        .await
        .expect("close");
    assert!(matches!(
        w.ops
            .set_status(&sales, ticket.id, SupportStatus::Pending)
            .await,
        Err(Error::Conflict { .. })
    ));
    // Breach filter: a closed, answered ticket is not breached.
    let breached = w
        .ops
        .list_tickets(
            &owner,
            &TicketQuery {
                breached: Some(true),
                ..TicketQuery::default()
            },
            PageRequest::first(),
        )
        .await
        .expect("list");
    assert!(breached.items.is_empty());

    let actions = audit_actions(&*store, w.tenant).await;
    for wanted in [
        "support_ticket.assigned",
        "support_ticket.replied",
        "support_ticket.note_added",
        "support_ticket.status_changed",
    ] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted}");
    }
}

/// Disconnecting Gmail stops sync and, with the tenant's setting on,
/// deletes the stored mail; tickets keep their status without content.
pub async fn disconnect_stops_sync_and_deletes_mail_by_setting(store: Arc<dyn Store>) {
    let w = world(&store).await;
    let at = now();
    let owner = ctx_of(&w.owner, at);
    connect(&w).await;
    w.mailbox
        .deliver(inbound("m1", "t1", "ana@client.example", "Visa", at));
    w.ops.tick(at).await.expect("tick");
    let settings = w.ops.settings(&owner).await.expect("settings");
    let bad = SettingsForm {
        sla: settings.sla,
        first_sync_days: 0,
        delete_mail_on_disconnect: true,
        default_branch: None,
        version: settings.version,
    };
    assert!(matches!(
        w.ops.put_settings(&owner, &bad).await,
        Err(Error::Invalid(_))
    ));
    w.ops
        .put_settings(
            &owner,
            &SettingsForm {
                first_sync_days: 14,
                ..bad
            },
        )
        .await
        .expect("settings");

    let confirm = match w.connections.gmail_disconnect(&owner, None).await {
        Err(Error::ConfirmationRequired { token, .. }) => token,
        other => panic!("a confirmation is needed: {other:?}"),
    };
    w.connections
        .gmail_disconnect(&owner, Some(&confirm))
        .await
        .expect("disconnect");
    assert_eq!(state(&*store, w.tenant).await, None, "sync is off");
    assert_eq!(w.ops.tick(at).await.expect("tick").tenants, 0);
    let kept = tickets(&*store, w.tenant).await;
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].thread_id, kept[0].subject.as_str()), (None, ""));
    let mut uow = store.begin().await.expect("begin");
    assert!(
        !uow.mail_ops()
            .has_message(w.tenant, "m1")
            .await
            .expect("has")
    );
    uow.rollback().await.expect("rollback");
    let actions = audit_actions(&*store, w.tenant).await;
    assert!(actions.iter().any(|a| a == "mail.gmail.disconnected"));
    assert!(actions.iter().any(|a| a == "mail_ops.settings_changed"));
}
