//! The Mail Ops repository (schema 15, issue 10), written once for both
//! databases: settings, the sync cursor, threads, messages, support
//! tickets, notes and routing rules.
//!
//! A message is inserted with `ON CONFLICT DO NOTHING` on
//! `(tenant_id, provider_message_id)`: a message synced twice (a crash
//! between page and cursor, a history page that repeats) is stored once and
//! poisons no PostgreSQL transaction. Addresses, references, labels and
//! attachment metadata are JSON text.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_query::{Condition, Expr, ExprTrait as _, OnConflict, Order, Query};
use tms_core::domain::mail_ops::{
    MailMessage, MailOpsSettings, MailThread, Priority, RoutingRule, SupportStatus, SupportTicket,
    SyncState, SyncStatus, TicketNote,
};
use tms_core::id::{
    BranchId, ClientId, MailMessageId, MailRuleId, MailThreadId, SupportTicketId, TenantId,
    TicketNoteId, UserId,
};
use tms_core::ports::{BreachFilter, Cursor, MailOpsRepo, Page, PageRequest, Scope, TicketFilter};
use tms_core::{Error, Result};

use super::backend::{Backend, Row};
use super::repos::{
    SqlUnitOfWork, corrupt, int, opt_text, opt_uuid, page_of, query_err, text, uuid,
};
use super::scope::{empty_page, scoped};

const SETTINGS_COLS: [&str; 6] = [
    "tenant_id",
    "sla",
    "first_sync_days",
    "delete_mail_on_disconnect",
    "default_branch_id",
    "version",
];

const SYNC_COLS: [&str; 11] = [
    "tenant_id",
    "history_id",
    "full_sync",
    "page_token",
    "full_sync_history_id",
    "status",
    "backoff_until",
    "failures",
    "last_error",
    "last_synced_at",
    "messages_synced",
];

const THREAD_COLS: [&str; 7] = [
    "tenant_id",
    "id",
    "provider_thread_id",
    "branch_id",
    "subject",
    "last_message_at",
    "created_at",
];

const MESSAGE_COLS: [&str; 20] = [
    "tenant_id",
    "id",
    "thread_id",
    "provider_message_id",
    "message_id_header",
    "in_reply_to",
    "refs",
    "from_address",
    "reply_to",
    "to_addresses",
    "cc_addresses",
    "subject",
    "text_body",
    "html_body",
    "attachments",
    "labels",
    "outbound",
    "received_at",
    "created_at",
    "defects",
];

const TICKET_COLS: [&str; 15] = [
    "tenant_id",
    "id",
    "branch_id",
    "thread_id",
    "subject",
    "requester",
    "client_id",
    "status",
    "priority",
    "assignee_id",
    "first_response_at",
    "solved_at",
    "created_at",
    "updated_at",
    "version",
];

const NOTE_COLS: [&str; 6] = [
    "tenant_id",
    "id",
    "ticket_id",
    "author_id",
    "body",
    "created_at",
];

const RULE_COLS: [&str; 11] = [
    "tenant_id",
    "id",
    "position",
    "mailbox",
    "label",
    "sender_domain",
    "branch_id",
    "priority",
    "assignee_id",
    "created_at",
    "version",
];

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("{what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|_| corrupt(what))
}

fn settings_of(row: &Row) -> Result<MailOpsSettings> {
    Ok(MailOpsSettings {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        sla: from_json("sla targets", &row.text("sla")?)?,
        first_sync_days: u32::try_from(row.i64("first_sync_days")?)
            .map_err(|_| corrupt("first sync window"))?,
        delete_mail_on_disconnect: row.bool("delete_mail_on_disconnect")?,
        default_branch: row.opt_uuid("default_branch_id")?.map(BranchId::from_uuid),
        version: row.i64("version")?,
    })
}

fn sync_of(row: &Row) -> Result<SyncState> {
    Ok(SyncState {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        history_id: row.opt_text("history_id")?,
        full_sync: row.bool("full_sync")?,
        page_token: row.opt_text("page_token")?,
        full_sync_history_id: row.opt_text("full_sync_history_id")?,
        status: SyncStatus::parse(&row.text("status")?).map_err(|_| corrupt("sync status"))?,
        backoff_until: row.opt_ts("backoff_until")?,
        failures: u32::try_from(row.i64("failures")?).map_err(|_| corrupt("sync failures"))?,
        last_error: row.opt_text("last_error")?,
        last_synced_at: row.opt_ts("last_synced_at")?,
        messages_synced: u64::try_from(row.i64("messages_synced")?)
            .map_err(|_| corrupt("sync count"))?,
    })
}

fn thread_of(row: &Row) -> Result<MailThread> {
    Ok(MailThread {
        id: MailThreadId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        provider_thread_id: row.text("provider_thread_id")?,
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        subject: row.text("subject")?,
        last_message_at: row.ts("last_message_at")?,
        created_at: row.ts("created_at")?,
    })
}

fn message_of(row: &Row) -> Result<MailMessage> {
    Ok(MailMessage {
        id: MailMessageId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        thread_id: MailThreadId::from_uuid(row.uuid("thread_id")?),
        provider_message_id: row.text("provider_message_id")?,
        message_id_header: row.opt_text("message_id_header")?,
        in_reply_to: row.opt_text("in_reply_to")?,
        references: from_json("message references", &row.text("refs")?)?,
        from: row
            .opt_text("from_address")?
            .map(|raw| from_json("message sender", &raw))
            .transpose()?,
        reply_to: from_json("message reply-to", &row.text("reply_to")?)?,
        to: from_json("message recipients", &row.text("to_addresses")?)?,
        cc: from_json("message copies", &row.text("cc_addresses")?)?,
        subject: row.text("subject")?,
        text: row.text("text_body")?,
        html: row.opt_text("html_body")?,
        attachments: from_json("message attachments", &row.text("attachments")?)?,
        labels: from_json("message labels", &row.text("labels")?)?,
        outbound: row.bool("outbound")?,
        received_at: row.ts("received_at")?,
        created_at: row.ts("created_at")?,
        defects: from_json("message defects", &row.text("defects")?)?,
    })
}

/// [`SupportTicket::sla`] as a condition: the ticket's first response or
/// its resolution is (or was) late under the filter's targets at its `now`.
///
/// Per priority, "late" is: not done and `created_at + target < now`
/// (written `created_at < now - target`, which needs no arithmetic), or
/// done after `created_at + target`. Every term is TRUE or FALSE, never
/// NULL, so the condition can be negated for "within SLA".
fn breach_of(backend: Backend, breach: &BreachFilter) -> Expr {
    // When the ticket was resolved, as `sla` reads it: when it was solved,
    // else — closed without being solved — when it last changed.
    let resolved =
        || Expr::cust("COALESCE(solved_at, CASE WHEN status = 'closed' THEN updated_at END)");
    let late = |done: Expr, minutes: u32| {
        let cutoff = breach.now - chrono::Duration::minutes(i64::from(minutes));
        done.clone()
            .is_null()
            .and(Expr::col("created_at").lt(backend.ts(cutoff)))
            .or(done
                .clone()
                .is_not_null()
                .and(done.gt(backend.plus_minutes("created_at", minutes))))
    };
    let [low, normal, high, urgent] = Priority::ALL.map(|priority| {
        let target = breach.targets.of(priority);
        Expr::col("priority").eq(priority.as_str()).and(
            late(
                Expr::col("first_response_at"),
                target.first_response_minutes,
            )
            .or(late(resolved(), target.resolution_minutes)),
        )
    });
    low.or(normal).or(high).or(urgent)
}

fn ticket_of(row: &Row) -> Result<SupportTicket> {
    Ok(SupportTicket {
        id: SupportTicketId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        thread_id: row.opt_uuid("thread_id")?.map(MailThreadId::from_uuid),
        subject: row.text("subject")?,
        requester: row.opt_text("requester")?,
        client_id: row.opt_uuid("client_id")?.map(ClientId::from_uuid),
        status: SupportStatus::parse(&row.text("status")?).map_err(|_| corrupt("ticket status"))?,
        priority: Priority::parse(&row.text("priority")?).map_err(|_| corrupt("priority"))?,
        assignee: row.opt_uuid("assignee_id")?.map(UserId::from_uuid),
        first_response_at: row.opt_ts("first_response_at")?,
        solved_at: row.opt_ts("solved_at")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        version: row.i64("version")?,
    })
}

fn note_of(row: &Row) -> Result<TicketNote> {
    Ok(TicketNote {
        id: TicketNoteId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        ticket_id: SupportTicketId::from_uuid(row.uuid("ticket_id")?),
        author: row.opt_uuid("author_id")?.map(UserId::from_uuid),
        text: row.text("body")?,
        created_at: row.ts("created_at")?,
    })
}

fn rule_of(row: &Row) -> Result<RoutingRule> {
    Ok(RoutingRule {
        id: MailRuleId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        position: i32::try_from(row.i64("position")?).map_err(|_| corrupt("rule position"))?,
        mailbox: row.opt_text("mailbox")?,
        label: row.opt_text("label")?,
        sender_domain: row.opt_text("sender_domain")?,
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        priority: Priority::parse(&row.text("priority")?).map_err(|_| corrupt("priority"))?,
        assignee: row.opt_uuid("assignee_id")?.map(UserId::from_uuid),
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

fn count(n: u64) -> Expr {
    int(i64::try_from(n).unwrap_or(i64::MAX))
}

impl SqlUnitOfWork {
    /// The ticket ids, thread ids and count of the client's tickets.
    async fn client_threads(
        &mut self,
        tenant: TenantId,
        client: ClientId,
    ) -> Result<Vec<uuid::Uuid>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .column("thread_id")
            .from("support_tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .and_where(Expr::col("thread_id").is_not_null())
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|r| r.uuid("thread_id"))
            .collect()
    }

    /// Deletes threads (their messages go with them, by cascade — and
    /// explicitly, for stores without it).
    async fn delete_threads(&mut self, tenant: TenantId, threads: &[uuid::Uuid]) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let mut deleted = 0;
        for chunk in threads.chunks(500) {
            let list: Vec<Expr> = chunk.iter().map(|id| uuid(*id)).collect();
            let messages = Query::delete()
                .from_table("mail_messages")
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                .and_where(Expr::col("thread_id").is_in(list.clone()))
                .to_owned();
            deleted += self.tx.execute(&messages).await?;
            let t = Query::delete()
                .from_table("mail_threads")
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                .and_where(Expr::col("id").is_in(list))
                .to_owned();
            self.tx.execute(&t).await?;
        }
        Ok(deleted)
    }
}

#[async_trait]
impl MailOpsRepo for SqlUnitOfWork {
    async fn settings(&mut self, tenant: TenantId) -> Result<MailOpsSettings> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(SETTINGS_COLS)
            .from("mail_ops_settings")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        Ok(self
            .fetch_one(&q, settings_of)
            .await?
            .unwrap_or_else(|| MailOpsSettings::defaults(tenant)))
    }

    async fn put_settings(&mut self, s: &mut MailOpsSettings) -> Result<()> {
        self.for_tenant(s.tenant_id).await?;
        let sla = to_json("sla targets", &s.sla)?;
        let written = if s.version == 0 {
            let q = Query::insert()
                .into_table("mail_ops_settings")
                .columns(SETTINGS_COLS)
                .values([
                    uuid(s.tenant_id),
                    text(&sla),
                    int(i64::from(s.first_sync_days)),
                    Expr::val(s.delete_mail_on_disconnect),
                    opt_uuid(s.default_branch),
                    int(1),
                ])
                .map_err(query_err)?
                .on_conflict(OnConflict::column("tenant_id").do_nothing().to_owned())
                .to_owned();
            self.tx.execute(&q).await?
        } else {
            let q = Query::update()
                .table("mail_ops_settings")
                .value("sla", sla.as_str())
                .value("first_sync_days", i64::from(s.first_sync_days))
                .value("delete_mail_on_disconnect", s.delete_mail_on_disconnect)
                .value("default_branch_id", opt_uuid(s.default_branch))
                .value("version", Expr::col("version").add(1))
                .and_where(Expr::col("tenant_id").eq(uuid(s.tenant_id)))
                .and_where(Expr::col("version").eq(s.version))
                .to_owned();
            self.tx.execute(&q).await?
        };
        if written == 1 {
            s.version += 1;
            Ok(())
        } else {
            Err(Error::conflict(
                "the mail ops settings were changed by someone else; reload and retry",
            ))
        }
    }

    async fn sync_state(&mut self, tenant: TenantId) -> Result<Option<SyncState>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(SYNC_COLS)
            .from("mail_sync_state")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        self.fetch_one(&q, sync_of).await
    }

    async fn put_sync_state(&mut self, s: &SyncState) -> Result<()> {
        self.for_tenant(s.tenant_id).await?;
        let q = Query::insert()
            .into_table("mail_sync_state")
            .columns(SYNC_COLS)
            .values([
                uuid(s.tenant_id),
                opt_text(s.history_id.as_deref()),
                Expr::val(s.full_sync),
                opt_text(s.page_token.as_deref()),
                opt_text(s.full_sync_history_id.as_deref()),
                text(s.status.as_str()),
                self.opt_ts(s.backoff_until),
                int(i64::from(s.failures)),
                opt_text(s.last_error.as_deref()),
                self.opt_ts(s.last_synced_at),
                count(s.messages_synced),
            ])
            .map_err(query_err)?
            .on_conflict(
                OnConflict::column("tenant_id")
                    .update_columns(SYNC_COLS.into_iter().skip(1))
                    .to_owned(),
            )
            .to_owned();
        self.tx.execute(&q).await?;
        Ok(())
    }

    async fn update_sync_state(&mut self, s: &SyncState) -> Result<bool> {
        self.for_tenant(s.tenant_id).await?;
        let q = Query::update()
            .table("mail_sync_state")
            .value("history_id", opt_text(s.history_id.as_deref()))
            .value("full_sync", Expr::val(s.full_sync))
            .value("page_token", opt_text(s.page_token.as_deref()))
            .value(
                "full_sync_history_id",
                opt_text(s.full_sync_history_id.as_deref()),
            )
            .value("status", text(s.status.as_str()))
            .value("backoff_until", self.opt_ts(s.backoff_until))
            .value("failures", int(i64::from(s.failures)))
            .value("last_error", opt_text(s.last_error.as_deref()))
            .value("last_synced_at", self.opt_ts(s.last_synced_at))
            .value("messages_synced", count(s.messages_synced))
            .and_where(Expr::col("tenant_id").eq(uuid(s.tenant_id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn still_syncing(&mut self, tenant: TenantId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        // A no-op update: it takes the row's write lock (SQLite: the
        // database's) and says whether the row is there.
        let q = Query::update()
            .table("mail_sync_state")
            .value("tenant_id", Expr::col("tenant_id"))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn delete_sync_state(&mut self, tenant: TenantId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("mail_sync_state")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn due_syncs(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<TenantId>> {
        self.for_system().await?;
        let q = Query::select()
            .column("tenant_id")
            .from("mail_sync_state")
            .and_where(Expr::col("status").ne(SyncStatus::Broken.as_str()))
            .cond_where(
                Condition::any()
                    .add(Expr::col("backoff_until").is_null())
                    .add(Expr::col("backoff_until").lte(self.ts(now))),
            )
            .order_by("last_synced_at", Order::Asc)
            .order_by("tenant_id", Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|r| r.uuid("tenant_id").map(TenantId::from_uuid))
            .collect()
    }

    async fn thread_by_provider(
        &mut self,
        tenant: TenantId,
        provider_thread_id: &str,
    ) -> Result<Option<MailThread>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(THREAD_COLS)
            .from("mail_threads")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("provider_thread_id").eq(provider_thread_id))
            .to_owned();
        self.fetch_one(&q, thread_of).await
    }

    async fn get_thread(
        &mut self,
        tenant: TenantId,
        id: MailThreadId,
    ) -> Result<Option<MailThread>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(THREAD_COLS)
            .from("mail_threads")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, thread_of).await
    }

    async fn insert_thread(&mut self, t: &MailThread) -> Result<()> {
        self.for_tenant(t.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("mail_threads")
                .columns(THREAD_COLS)
                .values([
                    uuid(t.tenant_id),
                    uuid(t.id),
                    text(&t.provider_thread_id),
                    uuid(t.branch_id),
                    text(&t.subject),
                    self.ts(t.last_message_at),
                    self.ts(t.created_at),
                ]),
            "mail thread already stored",
        )
        .await
    }

    async fn touch_thread(
        &mut self,
        tenant: TenantId,
        id: MailThreadId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = Query::update()
            .table("mail_threads")
            .value("last_message_at", self.ts(at))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .and_where(Expr::col("last_message_at").lt(self.ts(at)))
            .to_owned();
        self.tx.execute(&q).await?;
        Ok(())
    }

    async fn insert_message(&mut self, m: &MailMessage) -> Result<bool> {
        self.for_tenant(m.tenant_id).await?;
        let from = m
            .from
            .as_ref()
            .map(|f| to_json("message sender", f))
            .transpose()?;
        let q = Query::insert()
            .into_table("mail_messages")
            .columns(MESSAGE_COLS)
            .values([
                uuid(m.tenant_id),
                uuid(m.id),
                uuid(m.thread_id),
                text(&m.provider_message_id),
                opt_text(m.message_id_header.as_deref()),
                opt_text(m.in_reply_to.as_deref()),
                text(&to_json("message references", &m.references)?),
                opt_text(from.as_deref()),
                text(&to_json("message reply-to", &m.reply_to)?),
                text(&to_json("message recipients", &m.to)?),
                text(&to_json("message copies", &m.cc)?),
                text(&m.subject),
                text(&m.text),
                opt_text(m.html.as_deref()),
                text(&to_json("message attachments", &m.attachments)?),
                text(&to_json("message labels", &m.labels)?),
                Expr::val(m.outbound),
                self.ts(m.received_at),
                self.ts(m.created_at),
                // Bounded here too: the row stays small whoever wrote it.
                text(&to_json(
                    "message defects",
                    &MailMessage::bounded_defects(&m.defects),
                )?),
            ])
            .map_err(query_err)?
            .on_conflict(
                OnConflict::columns(["tenant_id", "provider_message_id"])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        Ok(self.tx.execute(&q).await? == 1)
    }

    async fn has_message(&mut self, tenant: TenantId, provider_message_id: &str) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .expr(Expr::val(1))
            .from("mail_messages")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("provider_message_id").eq(provider_message_id))
            .to_owned();
        Ok(self.tx.fetch_optional(&q).await?.is_some())
    }

    async fn messages(
        &mut self,
        tenant: TenantId,
        thread: MailThreadId,
    ) -> Result<Vec<MailMessage>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(MESSAGE_COLS)
            .from("mail_messages")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("thread_id").eq(uuid(thread)))
            .order_by("received_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(message_of)
            .collect()
    }

    async fn delete_mail(&mut self, tenant: TenantId) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let tickets = Query::update()
            .table("support_tickets")
            .value("thread_id", opt_uuid(None::<uuid::Uuid>))
            .value("subject", "")
            .value("requester", opt_text(None))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("thread_id").is_not_null())
            .to_owned();
        self.tx.execute(&tickets).await?;
        let messages = Query::delete()
            .from_table("mail_messages")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        let deleted = self.tx.execute(&messages).await?;
        let threads = Query::delete()
            .from_table("mail_threads")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        self.tx.execute(&threads).await?;
        Ok(deleted)
    }

    async fn insert_ticket(&mut self, t: &SupportTicket) -> Result<()> {
        self.for_tenant(t.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("support_tickets")
                .columns(TICKET_COLS)
                .values([
                    uuid(t.tenant_id),
                    uuid(t.id),
                    uuid(t.branch_id),
                    opt_uuid(t.thread_id),
                    text(&t.subject),
                    opt_text(t.requester.as_deref()),
                    opt_uuid(t.client_id),
                    text(t.status.as_str()),
                    text(t.priority.as_str()),
                    opt_uuid(t.assignee),
                    self.opt_ts(t.first_response_at),
                    self.opt_ts(t.solved_at),
                    self.ts(t.created_at),
                    self.ts(t.updated_at),
                    int(t.version),
                ]),
            "support ticket id already taken",
        )
        .await
    }

    async fn get_ticket(
        &mut self,
        tenant: TenantId,
        id: SupportTicketId,
    ) -> Result<Option<SupportTicket>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TICKET_COLS)
            .from("support_tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, ticket_of).await
    }

    async fn update_ticket(&mut self, t: &mut SupportTicket) -> Result<()> {
        self.for_tenant(t.tenant_id).await?;
        let q = Query::update()
            .table("support_tickets")
            .value("branch_id", uuid(t.branch_id))
            .value("thread_id", opt_uuid(t.thread_id))
            .value("subject", t.subject.as_str())
            .value("requester", opt_text(t.requester.as_deref()))
            .value("client_id", opt_uuid(t.client_id))
            .value("status", t.status.as_str())
            .value("priority", t.priority.as_str())
            .value("assignee_id", opt_uuid(t.assignee))
            .value("first_response_at", self.opt_ts(t.first_response_at))
            .value("solved_at", self.opt_ts(t.solved_at))
            .value("updated_at", self.ts(t.updated_at))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(t.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(t.id)))
            .and_where(Expr::col("version").eq(t.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            t.version += 1;
            Ok(())
        } else {
            Err(self
                .stale(
                    "support_tickets",
                    "support ticket",
                    t.tenant_id,
                    t.id.into(),
                )
                .await)
        }
    }

    async fn ticket_of_thread(
        &mut self,
        tenant: TenantId,
        thread: MailThreadId,
    ) -> Result<Option<SupportTicket>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TICKET_COLS)
            .from("support_tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("thread_id").eq(uuid(thread)))
            .order_by("created_at", Order::Desc)
            .order_by("id", Order::Desc)
            .limit(1)
            .to_owned();
        self.fetch_one(&q, ticket_of).await
    }

    async fn list_tickets(
        &mut self,
        scope: &Scope,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> Result<Page<SupportTicket>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(TICKET_COLS).from("support_tickets");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        if let Some(status) = filter.status {
            q.and_where(Expr::col("status").eq(status.as_str()));
        }
        if let Some(assignee) = filter.assignee {
            q.and_where(Expr::col("assignee_id").eq(uuid(assignee)));
        }
        if let Some(branch) = filter.branch {
            q.and_where(Expr::col("branch_id").eq(uuid(branch)));
        }
        if let Some(priority) = filter.priority {
            q.and_where(Expr::col("priority").eq(priority.as_str()));
        }
        if let Some(breach) = filter.breached {
            let breached = breach_of(self.tx.backend, &breach);
            q.and_where(if breach.breached {
                breached
            } else {
                breached.not()
            });
        }
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(ticket_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |t| Cursor {
            created_at: t.created_at,
            id: t.id.as_uuid(),
        }))
    }

    async fn insert_note(&mut self, n: &TicketNote) -> Result<()> {
        self.for_tenant(n.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("support_ticket_notes")
                .columns(NOTE_COLS)
                .values([
                    uuid(n.tenant_id),
                    uuid(n.id),
                    uuid(n.ticket_id),
                    opt_uuid(n.author),
                    text(&n.text),
                    self.ts(n.created_at),
                ]),
            "ticket note id already taken",
        )
        .await
    }

    async fn notes(
        &mut self,
        tenant: TenantId,
        ticket: SupportTicketId,
    ) -> Result<Vec<TicketNote>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(NOTE_COLS)
            .from("support_ticket_notes")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("ticket_id").eq(uuid(ticket)))
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx.fetch_all(&q).await?.iter().map(note_of).collect()
    }

    async fn insert_rule(&mut self, r: &RoutingRule) -> Result<()> {
        self.for_tenant(r.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("mail_routing_rules")
                .columns(RULE_COLS)
                .values([
                    uuid(r.tenant_id),
                    uuid(r.id),
                    int(i64::from(r.position)),
                    opt_text(r.mailbox.as_deref()),
                    opt_text(r.label.as_deref()),
                    opt_text(r.sender_domain.as_deref()),
                    uuid(r.branch_id),
                    text(r.priority.as_str()),
                    opt_uuid(r.assignee),
                    self.ts(r.created_at),
                    int(r.version),
                ]),
            "routing rule id already taken",
        )
        .await
    }

    async fn get_rule(&mut self, tenant: TenantId, id: MailRuleId) -> Result<Option<RoutingRule>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(RULE_COLS)
            .from("mail_routing_rules")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, rule_of).await
    }

    async fn update_rule(&mut self, r: &mut RoutingRule) -> Result<()> {
        self.for_tenant(r.tenant_id).await?;
        let q = Query::update()
            .table("mail_routing_rules")
            .value("position", i64::from(r.position))
            .value("mailbox", opt_text(r.mailbox.as_deref()))
            .value("label", opt_text(r.label.as_deref()))
            .value("sender_domain", opt_text(r.sender_domain.as_deref()))
            .value("branch_id", uuid(r.branch_id))
            .value("priority", r.priority.as_str())
            .value("assignee_id", opt_uuid(r.assignee))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(r.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(r.id)))
            .and_where(Expr::col("version").eq(r.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            r.version += 1;
            Ok(())
        } else {
            Err(self
                .stale(
                    "mail_routing_rules",
                    "mail routing rule",
                    r.tenant_id,
                    r.id.into(),
                )
                .await)
        }
    }

    async fn delete_rule(&mut self, tenant: TenantId, id: MailRuleId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("mail_routing_rules")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn rules(&mut self, tenant: TenantId) -> Result<Vec<RoutingRule>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(RULE_COLS)
            .from("mail_routing_rules")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .order_by("position", Order::Asc)
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx.fetch_all(&q).await?.iter().map(rule_of).collect()
    }

    async fn tickets_of_client(
        &mut self,
        tenant: TenantId,
        client: ClientId,
    ) -> Result<Vec<SupportTicket>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TICKET_COLS)
            .from("support_tickets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx.fetch_all(&q).await?.iter().map(ticket_of).collect()
    }

    async fn forget_client(&mut self, tenant: TenantId, client: ClientId) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let threads = self.client_threads(tenant, client).await?;
        let tickets = Query::update()
            .table("support_tickets")
            .value("thread_id", opt_uuid(None::<uuid::Uuid>))
            .value("subject", "")
            .value("requester", opt_text(None))
            .value("client_id", opt_uuid(None::<uuid::Uuid>))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .to_owned();
        let anonymised = self.tx.execute(&tickets).await?;
        self.delete_threads(tenant, &threads).await?;
        Ok(anonymised)
    }
}
