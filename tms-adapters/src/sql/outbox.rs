//! The outbox and its delivery log: messages written with the change that
//! caused them (`enqueue`), and the worker's side — claiming due messages,
//! recording every attempt, the per-tenant pause and daily quota.
//!
//! Claiming is one short transaction: the due rows are selected (`FOR
//! UPDATE SKIP LOCKED` on PostgreSQL, so that workers on several replicas
//! never take the same row; SQLite has one writer anyway), their attempt
//! count goes up and they are hidden until the lease ends. The send happens
//! outside any transaction; its result is a second transaction. A worker
//! that dies between the two leaves the message to come back after the
//! lease, and it is sent again with the same `Message-ID`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait as _, LockBehavior, LockType, OnConflict, Order, Query};
use tms_core::domain::{Email, Phone};
use tms_core::id::{MessageId, TenantId};
use tms_core::ports::{
    AttachmentRef, Cursor, DeliveryAttempt, DeliveryOutcome, DeliveryRecord, EmailContent,
    OutboxChannel, OutboxContent, OutboxControls, OutboxMessage, OutboxRepo, OutboxStatus, Page,
    PageRequest, WhatsappContent,
};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{SqlUnitOfWork, corrupt, int, opt_text, opt_uuid, page_of, text, u32_col, uuid};

pub(super) const OUTBOX_COLS: [&str; 10] = [
    "tenant_id",
    "id",
    "branch_id",
    "kind",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "version",
];

/// What the `payload` column holds for an email. Fields added after
/// schema 11 are optional, so rows written before read as they were.
#[derive(serde::Serialize, serde::Deserialize)]
// Field order matters: `to` comes first in the JSON, which the privacy
// repository relies on to find a person's messages by prefix.
pub(super) struct EmailPayload {
    pub(super) to: String,
    pub(super) subject: String,
    pub(super) body_text: String,
    pub(super) message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) body_html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) attachments: Vec<AttachmentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) thread_id: Option<String>,
}

/// What the `payload` column holds for a WhatsApp message (`to` first, as
/// for an email).
#[derive(serde::Serialize, serde::Deserialize)]
struct WhatsappPayload {
    to: String,
    template: String,
    language: String,
    variables: Vec<String>,
    message_id: String,
}

/// The `kind` and `payload` columns of `message`.
pub(super) fn payload_of(message: &OutboxMessage) -> Result<String> {
    let json = match &message.content {
        OutboxContent::Email(email) => serde_json::to_string(&EmailPayload {
            to: email.to.as_str().to_owned(),
            subject: email.subject.clone(),
            body_text: email.body_text.clone(),
            message_id: message.message_id.clone(),
            body_html: email.body_html.clone(),
            headers: email.headers.clone(),
            attachments: email.attachments.clone(),
            thread_id: email.thread_id.clone(),
        }),
        OutboxContent::Whatsapp(whatsapp) => serde_json::to_string(&WhatsappPayload {
            to: whatsapp.to.as_str().to_owned(),
            template: whatsapp.template.clone(),
            language: whatsapp.language.clone(),
            variables: whatsapp.variables.clone(),
            message_id: message.message_id.clone(),
        }),
    };
    json.map_err(|e| Error::internal(format!("outbox payload: {e}")))
}

pub(super) fn outbox_of(row: &Row) -> Result<OutboxMessage> {
    let channel = OutboxChannel::parse(&row.text("kind")?).map_err(|_| corrupt("outbox kind"))?;
    let raw = row.text("payload")?;
    let (content, message_id) = match channel {
        OutboxChannel::Email => {
            let payload: EmailPayload =
                serde_json::from_str(&raw).map_err(|_| corrupt("outbox payload"))?;
            let content = OutboxContent::Email(EmailContent {
                to: Email::parse(&payload.to).map_err(|_| corrupt("outbox recipient"))?,
                subject: payload.subject,
                body_text: payload.body_text,
                body_html: payload.body_html,
                headers: payload.headers,
                attachments: payload.attachments,
                thread_id: payload.thread_id,
            });
            (content, payload.message_id)
        }
        OutboxChannel::Whatsapp => {
            let payload: WhatsappPayload =
                serde_json::from_str(&raw).map_err(|_| corrupt("outbox payload"))?;
            let content = OutboxContent::Whatsapp(WhatsappContent {
                to: Phone::parse(&payload.to).map_err(|_| corrupt("outbox recipient"))?,
                template: payload.template,
                language: payload.language,
                variables: payload.variables,
            });
            (content, payload.message_id)
        }
    };
    Ok(OutboxMessage {
        id: MessageId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        content,
        message_id,
        created_at: row.ts("created_at")?,
        not_before: row.ts("next_attempt_at")?,
        status: OutboxStatus::parse(&row.text("status")?).map_err(|_| corrupt("outbox status"))?,
        attempts: u32_col(row, "attempts")?,
    })
}

#[async_trait]
impl OutboxRepo for SqlUnitOfWork {
    async fn enqueue(&mut self, message: &OutboxMessage) -> Result<()> {
        self.for_tenant(message.tenant_id).await?;
        let payload = payload_of(message)?;
        self.insert_new(
            Query::insert()
                .into_table("outbox")
                .columns(OUTBOX_COLS)
                .values([
                    uuid(message.tenant_id),
                    uuid(message.id),
                    opt_uuid(None::<uuid::Uuid>),
                    text(message.channel().as_str()),
                    text(&payload),
                    text(message.status.as_str()),
                    int(i64::from(message.attempts)),
                    self.ts(message.not_before),
                    self.ts(message.created_at),
                    int(1),
                ]),
            "an outbox message with this id exists",
        )
        .await
    }

    async fn list(&mut self, tenant: TenantId, page: PageRequest) -> Result<Page<OutboxMessage>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(OUTBOX_COLS)
            .from("outbox")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(outbox_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |m| Cursor {
            created_at: m.created_at,
            id: m.id.as_uuid(),
        }))
    }

    async fn claim_due(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.for_system().await?;
        let mut paused = Query::select();
        paused
            .column("tenant_id")
            .from("outbox_controls")
            .and_where(Expr::col("paused").eq(true));
        let mut q = Query::select();
        q.columns(OUTBOX_COLS)
            .from("outbox")
            .and_where(Expr::col("status").eq(OutboxStatus::Pending.as_str()))
            .and_where(Expr::col("next_attempt_at").lte(self.ts(now)))
            .and_where(Expr::col("tenant_id").not_in_subquery(paused))
            .order_by("next_attempt_at", Order::Asc)
            .order_by("id", Order::Asc)
            .limit(u64::from(limit))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        let rows = self.tx.fetch_all(&q).await?;
        let mut claimed = rows.iter().map(outbox_of).collect::<Result<Vec<_>>>()?;
        if claimed.is_empty() {
            return Ok(claimed);
        }
        // Ids are unique across tenants (UUIDv7): one statement for the batch.
        let ids: Vec<Expr> = claimed.iter().map(|m| uuid(m.id)).collect();
        let update = Query::update()
            .table("outbox")
            .value("attempts", Expr::col("attempts").add(1))
            .value("next_attempt_at", self.ts(lease_until))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("id").is_in(ids))
            .to_owned();
        self.tx.execute(&update).await?;
        for message in &mut claimed {
            message.attempts = message.attempts.saturating_add(1);
            message.not_before = lease_until;
        }
        Ok(claimed)
    }

    async fn record_attempt(
        &mut self,
        message: &OutboxMessage,
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        self.for_tenant(message.tenant_id).await?;
        let insert = Query::insert()
            .into_table("delivery_log")
            .columns([
                "tenant_id",
                "id",
                "outbox_id",
                "attempt",
                "at",
                "outcome",
                "detail",
                "transport",
                "provider_message_id",
            ])
            .values([
                uuid(message.tenant_id),
                uuid(uuid::Uuid::now_v7()),
                uuid(message.id),
                int(i64::from(message.attempts)),
                self.ts(attempt.at),
                text(attempt.outcome.as_str()),
                opt_text(attempt.error.as_deref()),
                text(&attempt.transport),
                opt_text(attempt.provider_message_id.as_deref()),
            ])
            .map_err(super::repos::query_err)?
            .to_owned();
        self.tx.execute(&insert).await?;
        let (status, next) = match attempt.outcome {
            DeliveryOutcome::Sent => (OutboxStatus::Sent, attempt.at),
            DeliveryOutcome::Retry { next_attempt_at } => (OutboxStatus::Pending, next_attempt_at),
            DeliveryOutcome::Failed => (OutboxStatus::Failed, attempt.at),
        };
        let update = Query::update()
            .table("outbox")
            .value("status", status.as_str())
            .value("next_attempt_at", self.ts(next))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(message.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(message.id)))
            .to_owned();
        match self.tx.execute(&update).await? {
            0 => Err(Error::not_found("outbox message")),
            _ => Ok(()),
        }
    }

    async fn release(&mut self, message: &OutboxMessage, not_before: DateTime<Utc>) -> Result<()> {
        self.for_tenant(message.tenant_id).await?;
        let update = Query::update()
            .table("outbox")
            .value(
                "attempts",
                int(i64::from(message.attempts.saturating_sub(1))),
            )
            .value("next_attempt_at", self.ts(not_before))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(message.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(message.id)))
            .and_where(Expr::col("status").eq(OutboxStatus::Pending.as_str()))
            .to_owned();
        self.tx.execute(&update).await?;
        Ok(())
    }

    async fn sent_since(&mut self, tenant: TenantId, since: DateTime<Utc>) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .expr_as(Expr::col("id").count(), "n")
            .from("delivery_log")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("outcome").eq(DeliveryOutcome::Sent.as_str()))
            .and_where(Expr::col("at").gte(self.ts(since)))
            .to_owned();
        let n = match self.tx.fetch_optional(&q).await? {
            Some(row) => row.i64("n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn controls(&mut self, tenant: TenantId) -> Result<OutboxControls> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(["paused", "daily_limit"])
            .from("outbox_controls")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        let controls = self.fetch_one(&q, controls_of).await?;
        Ok(controls.unwrap_or_default())
    }

    async fn set_controls(&mut self, tenant: TenantId, controls: &OutboxControls) -> Result<()> {
        self.for_tenant(tenant).await?;
        let limit = controls.daily_limit.map(i64::from);
        let insert = Query::insert()
            .into_table("outbox_controls")
            .columns(["tenant_id", "paused", "daily_limit"])
            .values([uuid(tenant), Expr::val(controls.paused), Expr::val(limit)])
            .map_err(super::repos::query_err)?
            .on_conflict(
                OnConflict::column("tenant_id")
                    .update_columns(["paused", "daily_limit"])
                    .to_owned(),
            )
            .to_owned();
        self.tx.execute(&insert).await?;
        Ok(())
    }

    async fn get(&mut self, tenant: TenantId, id: MessageId) -> Result<Option<OutboxMessage>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(OUTBOX_COLS)
            .from("outbox")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, outbox_of).await
    }

    async fn deliveries(&mut self, tenant: TenantId, id: MessageId) -> Result<Vec<DeliveryRecord>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns([
                "attempt",
                "at",
                "outcome",
                "detail",
                "transport",
                "provider_message_id",
            ])
            .from("delivery_log")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("outbox_id").eq(uuid(id)))
            .order_by("attempt", Order::Asc)
            .order_by("at", Order::Asc)
            .to_owned();
        let rows = self.tx.fetch_all(&q).await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRecord {
                    attempt: u32_col(row, "attempt")?,
                    at: row.ts("at")?,
                    transport: row.opt_text("transport")?,
                    outcome: row.text("outcome")?,
                    provider_message_id: row.opt_text("provider_message_id")?,
                    error: row.opt_text("detail")?,
                })
            })
            .collect()
    }
}

fn controls_of(row: &Row) -> Result<OutboxControls> {
    let daily_limit = row
        .opt_i64("daily_limit")?
        .map(|n| u32::try_from(n).map_err(|_| corrupt("daily limit")))
        .transpose()?;
    Ok(OutboxControls {
        paused: row.bool("paused")?,
        daily_limit,
    })
}
