//! The privacy repository: cross-table lookups and bulk changes behind
//! export, erasure and retention.
//!
//! Audit payloads are erased with one conditional `UPDATE` per event, the
//! only update the append-only trigger of schema 10 lets through (payload
//! and salt cleared, `erased_at` set, everything else unchanged, v2 rows
//! only). Retention reads login-attempt rows a page at a time and decides in
//! Rust from their state (the same types the lockout uses), so memory stays
//! bounded however many rows there are.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait as _, Func, OnConflict, Order, Query, SelectStatement};
use tms_core::audit::{AuditEvent, CANON_V2};
use tms_core::domain::{BookingStatus, Email};
use tms_core::id::{BookingId, ClientId, MessageId, PilgrimId, TenantId, UserId};
use tms_core::ports::{
    AuditErasure, OutboxChannel, OutboxMessage, OutboxStatus, PrivacyRepo, SubjectKind,
};
use tms_core::security::lockout::{AccountLockout, IpThrottle};
use tms_core::{Error, Result};

use super::audit::{EVENT_COLS, event_of};
use super::backend::Backend;
use super::outbox::{EmailPayload, OUTBOX_COLS, outbox_of};
use super::repos::{SqlUnitOfWork, built, text, uuid};

/// Rows of login-attempt tables read per page by retention.
const LOGIN_PAGE: u64 = 500;

impl SqlUnitOfWork {
    fn events_where(
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
        filter: impl FnOnce(&mut SelectStatement),
    ) -> SelectStatement {
        let mut q = Query::select();
        q.columns(EVENT_COLS)
            .from("audit_events")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("seq").gt(after_seq));
        filter(&mut q);
        q.order_by("seq", Order::Asc).limit(u64::from(limit));
        q
    }

    /// `haystack` contains `needle`: `instr` on SQLite, `strpos` on
    /// PostgreSQL (no `LIKE`, so `_` and `%` in names need no escaping).
    fn contains(&self, haystack: &'static str, needle: &str) -> Expr {
        let func = match self.tx.backend {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        Expr::expr(Func::cust(func).args([Expr::col(haystack), text(needle)])).gt(0)
    }

    /// Deletes the rows of `table` keyed `(tenant_id, key)` whose state
    /// (parsed by `last_activity`) shows no activity since `before`.
    async fn purge_idle(
        &mut self,
        table: &'static str,
        key: &'static str,
        tenant: TenantId,
        before: DateTime<Utc>,
        last_activity: fn(&str) -> Option<Option<DateTime<Utc>>>,
    ) -> Result<u64> {
        let mut after: Option<String> = None;
        let mut purged = 0;
        loop {
            let mut q = Query::select();
            q.columns([key, "state"])
                .from(table)
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
            if let Some(after) = &after {
                q.and_where(Expr::col(key).gt(text(after)));
            }
            q.order_by(key, Order::Asc).limit(LOGIN_PAGE);
            let rows = self.tx.fetch_all(&q).await?;
            let Some(last) = rows.last() else {
                return Ok(purged);
            };
            after = Some(last.text(key)?);
            let mut idle = Vec::new();
            for row in &rows {
                // An unreadable state is left alone: the lockout owns it.
                if let Some(activity) = last_activity(&row.text("state")?)
                    && activity.is_none_or(|at| at < before)
                {
                    idle.push(row.text(key)?);
                }
            }
            if !idle.is_empty() {
                let delete = Query::delete()
                    .from_table(table)
                    .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                    .and_where(Expr::col(key).is_in(idle.iter().map(|k| text(k))))
                    .to_owned();
                purged += self.tx.execute(&delete).await?;
            }
            if (rows.len() as u64) < LOGIN_PAGE {
                return Ok(purged);
            }
        }
    }
}

#[async_trait]
impl PrivacyRepo for SqlUnitOfWork {
    async fn erasure(
        &mut self,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Option<DateTime<Utc>>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .column("erased_at")
            .from("privacy_erasures")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("subject_kind").eq(kind.as_str()))
            .and_where(Expr::col("subject_id").eq(uuid(id)))
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            Some(row) => Ok(Some(row.ts("erased_at")?)),
            None => Ok(None),
        }
    }

    async fn record_erasure(
        &mut self,
        tenant: TenantId,
        kind: SubjectKind,
        id: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = built(
            Query::insert()
                .into_table("privacy_erasures")
                .columns(["tenant_id", "subject_kind", "subject_id", "erased_at"])
                .values([uuid(tenant), text(kind.as_str()), uuid(id), self.ts(at)])
                .map(|q| {
                    q.on_conflict(
                        OnConflict::columns(["tenant_id", "subject_kind", "subject_id"])
                            .do_nothing()
                            .to_owned(),
                    )
                }),
        )?;
        self.tx.execute(&q).await.map(drop)
    }

    async fn audit_about(
        &mut self,
        tenant: TenantId,
        resources: &[uuid::Uuid],
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        self.for_tenant(tenant).await?;
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let q = Self::events_where(tenant, after_seq, limit, |q| {
            q.and_where(Expr::col("resource_id").is_in(resources.iter().map(|id| uuid(*id))));
        });
        self.tx.fetch_all(&q).await?.iter().map(event_of).collect()
    }

    async fn audit_by_actor(
        &mut self,
        tenant: TenantId,
        user: UserId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        self.for_tenant(tenant).await?;
        let q = Self::events_where(tenant, after_seq, limit, |q| {
            q.and_where(Expr::col("actor_user_id").eq(uuid(user)));
        });
        self.tx.fetch_all(&q).await?.iter().map(event_of).collect()
    }

    async fn erase_audit_about(
        &mut self,
        tenant: TenantId,
        resources: &[uuid::Uuid],
        at: DateTime<Utc>,
    ) -> Result<AuditErasure> {
        self.for_tenant(tenant).await?;
        let mut done = AuditErasure::default();
        if resources.is_empty() {
            return Ok(done);
        }
        // The privacy service's own events (exports, erasures) hold counts,
        // not personal data: they stay readable as the record of the request.
        let about = || {
            Expr::col("resource_id")
                .is_in(resources.iter().map(|id| uuid(*id)))
                .and(Expr::col("action").not_like("privacy.%"))
        };
        let erase = Query::update()
            .table("audit_events")
            .value("before_json", Option::<String>::None)
            .value("after_json", Option::<String>::None)
            .value("payload_salt", sea_query::Value::Bytes(None))
            .value("erased_at", self.tx.backend.ts(at))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(about())
            .and_where(Expr::col("canon").eq(i64::from(CANON_V2)))
            .and_where(Expr::col("erased_at").is_null())
            .and_where(Expr::col("payload_digest").is_not_null())
            .to_owned();
        done.erased = self.tx.execute(&erase).await?;
        let kept = Query::select()
            .expr_as(Expr::col("seq").count(), "n")
            .from("audit_events")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(about())
            .and_where(Expr::col("canon").ne(i64::from(CANON_V2)))
            .and_where(
                Expr::col("before_json")
                    .is_not_null()
                    .or(Expr::col("after_json").is_not_null()),
            )
            .to_owned();
        if let Some(row) = self.tx.fetch_optional(&kept).await? {
            done.kept_v1 = u64::try_from(row.i64("n")?).unwrap_or(0);
        }
        Ok(done)
    }

    async fn pilgrims_of_client(
        &mut self,
        tenant: TenantId,
        client: ClientId,
    ) -> Result<Vec<PilgrimId>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .column("id")
            .from("pilgrims")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|row| row.uuid("id").map(PilgrimId::from_uuid))
            .collect()
    }

    async fn bookings_mentioning(
        &mut self,
        tenant: TenantId,
        client: Option<ClientId>,
        names: &[String],
    ) -> Result<Vec<BookingId>> {
        self.for_tenant(tenant).await?;
        let mut any = Expr::val(false);
        if let Some(client) = client {
            any = any.or(Expr::col("client_id").eq(uuid(client)));
        }
        for name in names.iter().filter(|n| !n.is_empty()) {
            // The travellers column is JSON: look for the name as JSON
            // writes it (escaped, without the quotes).
            let encoded = serde_json::to_string(name)
                .map_err(|e| Error::internal(format!("name as JSON: {e}")))?;
            let inner = encoded.trim_start_matches('"').trim_end_matches('"');
            any = any.or(self.contains("travellers", inner));
        }
        let q = Query::select()
            .column("id")
            .from("bookings")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(any)
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|row| row.uuid("id").map(BookingId::from_uuid))
            .collect()
    }

    async fn outbox_to(&mut self, tenant: TenantId, to: &str) -> Result<Vec<OutboxMessage>> {
        self.for_tenant(tenant).await?;
        // The payload is `EmailPayload` or `WhatsappPayload` as JSON,
        // recipient first in both: compare its exact prefix (no LIKE, so
        // `_` in an address is not a wildcard).
        let prefix = format!(
            "{{\"to\":{},",
            serde_json::to_string(to)
                .map_err(|e| Error::internal(format!("address as JSON: {e}")))?
        );
        // `int` arguments: PostgreSQL has no `substr(text, bigint, bigint)`.
        let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        let q = Query::select()
            .columns(OUTBOX_COLS)
            .from("outbox")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(
                Expr::expr(Func::cust("substr").args([
                    Expr::col("payload"),
                    Expr::val(1i32),
                    Expr::val(length),
                ]))
                .eq(text(&prefix)),
            )
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        self.tx.fetch_all(&q).await?.iter().map(outbox_of).collect()
    }

    async fn scrub_outbox(&mut self, tenant: TenantId, id: MessageId, to: &Email) -> Result<()> {
        self.for_tenant(tenant).await?;
        let payload = serde_json::to_string(&EmailPayload {
            to: to.as_str().to_owned(),
            subject: "[erased]".to_owned(),
            body_text: "[erased: the recipient's personal data was erased]".to_owned(),
            message_id: format!("<{}@tms.invalid>", id.as_uuid().simple()),
            body_html: None,
            headers: Vec::new(),
            attachments: Vec::new(),
            thread_id: None,
        })
        .map_err(|e| Error::internal(format!("outbox payload: {e}")))?;
        let update = Query::update()
            .table("outbox")
            .value("kind", OutboxChannel::Email.as_str())
            .value("payload", payload)
            .value(
                "status",
                Expr::case(
                    Expr::col("status").eq(OutboxStatus::Pending.as_str()),
                    OutboxStatus::Failed.as_str(),
                )
                .finally(Expr::col("status")),
            )
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.tx.execute(&update).await?;
        let details = Query::update()
            .table("delivery_log")
            .value("detail", Option::<String>::None)
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("outbox_id").eq(uuid(id)))
            .to_owned();
        self.tx.execute(&details).await.map(drop)
    }

    async fn expire_tokens(
        &mut self,
        tenant: TenantId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let q = Query::update()
            .table("tokens")
            .value("used_at", self.tx.backend.ts(at))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("user_id").eq(uuid(user)))
            .and_where(Expr::col("used_at").is_null())
            .to_owned();
        self.tx.execute(&q).await
    }

    async fn forget_login_attempts(&mut self, tenant: TenantId, email: &Email) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("lockout_accounts")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("email").eq(email.as_str()))
            .to_owned();
        self.tx.execute(&q).await
    }

    async fn tenant_ids(&mut self) -> Result<Vec<TenantId>> {
        self.for_system().await?;
        let q = Query::select()
            .column("tenant_id")
            .from("tenants")
            .order_by("tenant_id", Order::Asc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|row| row.uuid("tenant_id").map(TenantId::from_uuid))
            .collect()
    }

    async fn purge_login_attempts(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        self.for_tenant(tenant).await?;
        fn account(state: &str) -> Option<Option<DateTime<Utc>>> {
            serde_json::from_str::<AccountLockout>(state)
                .ok()
                .map(|s| s.last_activity())
        }
        fn ip(state: &str) -> Option<Option<DateTime<Utc>>> {
            serde_json::from_str::<IpThrottle>(state)
                .ok()
                .map(|s| s.last_activity())
        }
        let accounts = self
            .purge_idle("lockout_accounts", "email", tenant, before, account)
            .await?;
        let ips = self
            .purge_idle("lockout_ips", "ip", tenant, before, ip)
            .await?;
        Ok(accounts + ips)
    }

    async fn purge_deliveries(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        self.for_tenant(tenant).await?;
        let done = || {
            Expr::col("status").is_in([OutboxStatus::Sent.as_str(), OutboxStatus::Failed.as_str()])
        };
        let finished = Query::select()
            .column("id")
            .from("outbox")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(done())
            .to_owned();
        let logs = Query::delete()
            .from_table("delivery_log")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("at").lt(self.tx.backend.ts(before)))
            .and_where(Expr::col("outbox_id").in_subquery(finished))
            .to_owned();
        let logs = self.tx.execute(&logs).await?;
        let with_logs = Query::select()
            .column("outbox_id")
            .from("delivery_log")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        let messages = Query::delete()
            .from_table("outbox")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(done())
            .and_where(Expr::col("created_at").lt(self.tx.backend.ts(before)))
            .and_where(Expr::col("id").not_in_subquery(with_logs))
            .to_owned();
        let messages = self.tx.execute(&messages).await?;
        Ok((logs, messages))
    }

    async fn closed_bookings_before(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<BookingId>> {
        self.for_tenant(tenant).await?;
        let anonymised = Query::select()
            .column("subject_id")
            .from("privacy_erasures")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("subject_kind").eq(SubjectKind::Booking.as_str()))
            .to_owned();
        let q = Query::select()
            .column("id")
            .from("bookings")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("status").is_in([
                BookingStatus::Completed.as_str(),
                BookingStatus::Cancelled.as_str(),
            ]))
            .and_where(Expr::col("updated_at").lt(self.tx.backend.ts(before)))
            .and_where(Expr::col("id").not_in_subquery(anonymised))
            .order_by("updated_at", Order::Asc)
            .order_by("id", Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|row| row.uuid("id").map(BookingId::from_uuid))
            .collect()
    }
}
