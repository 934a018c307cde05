//! The audit log: an append-only table with a per-tenant SHA-256 chain.
//!
//! `audit_heads` holds each tenant's last `(seq, hash)`. An append creates
//! the head row if missing, locks it (`FOR UPDATE` on PostgreSQL; on SQLite
//! the `BEGIN IMMEDIATE` writer lock is already held), chains the event
//! after it with [`NewAuditEvent::chain`], inserts it and moves the head —
//! all in the caller's transaction, so concurrent writers queue on the head
//! row and the chain never forks, and the event commits with the write it
//! describes or not at all.
//!
//! Since schema 10 each row also holds its canonical version (`canon`), the
//! salted payload digest the v2 hash covers, its salt, and `erased_at`
//! (see [`tms_core::audit`]); reads page by `seq`, so verification streams
//! in constant memory whatever the log's length.

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query, Value};
use tms_core::audit::{AuditEvent, GENESIS, NewAuditEvent, redact};
use tms_core::id::{AuditEventId, BranchId, RequestId, TenantId, UserId};
use tms_core::ports::AuditLog;
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::SqlUnitOfWork;

pub(super) const EVENT_COLS: [&str; 21] = [
    "tenant_id",
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
    "before_json",
    "after_json",
    "prev_hash",
    "hash",
    "canon",
    "payload_digest",
    "payload_salt",
    "erased_at",
];

/// Events per multi-row insert in [`AuditLog::append_all`] (21 parameters
/// each: well under SQLite's and PostgreSQL's limits).
const BATCH: usize = 500;

fn uuid(id: impl Into<uuid::Uuid>) -> Expr {
    Expr::val(Value::Uuid(Some(id.into())))
}

fn opt_uuid(id: Option<impl Into<uuid::Uuid>>) -> Expr {
    Expr::val(Value::Uuid(id.map(Into::into)))
}

fn opt_text(s: Option<String>) -> Expr {
    Expr::val(Value::String(s))
}

fn json_text(v: &Option<serde_json::Value>) -> Expr {
    opt_text(v.as_ref().map(serde_json::Value::to_string))
}

fn fixed<const N: usize>(row: &Row, column: &str) -> Result<Option<[u8; N]>> {
    row.opt_bytes(column)?
        .map(|bytes| {
            <[u8; N]>::try_from(bytes)
                .map_err(|_| Error::internal(format!("audit event {column} has the wrong length")))
        })
        .transpose()
}

pub(super) fn event_of(row: &Row) -> Result<AuditEvent> {
    let json = |column: &str| -> Result<Option<serde_json::Value>> {
        row.opt_text(column)?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|_| Error::internal(format!("audit event {column} is not JSON")))
            })
            .transpose()
    };
    Ok(AuditEvent {
        seq: row.i64("seq")?,
        prev_hash: row.hash("prev_hash")?,
        hash: row.hash("hash")?,
        canon: u8::try_from(row.i64("canon")?)
            .map_err(|_| Error::internal("audit event canon is out of range"))?,
        payload_digest: fixed(row, "payload_digest")?,
        payload_salt: fixed(row, "payload_salt")?,
        erased_at: row.opt_ts("erased_at")?,
        event: NewAuditEvent {
            id: AuditEventId::from_uuid(row.uuid("id")?),
            tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
            at: row.ts("at")?,
            actor_user_id: row.opt_uuid("actor_user_id")?.map(UserId::from_uuid),
            actor: row.text("actor")?,
            ip: row.opt_text("ip")?,
            user_agent: row.opt_text("user_agent")?,
            request_id: RequestId::from_uuid(row.uuid("request_id")?),
            action: row.text("action")?,
            resource_kind: row.text("resource_kind")?,
            resource_id: row.opt_uuid("resource_id")?,
            branch_id: row.opt_uuid("branch_id")?.map(BranchId::from_uuid),
            before: json("before_json")?,
            after: json("after_json")?,
        },
    })
}

impl SqlUnitOfWork {
    /// The tenant's chain head, created if missing and locked until commit,
    /// in one round trip: an upsert whose no-op update takes the row lock
    /// (PostgreSQL; on SQLite the `BEGIN IMMEDIATE` writer lock is held
    /// already) and returns the head as it stands once the lock is ours.
    async fn lock_head(&mut self, tenant: TenantId) -> Result<(i64, [u8; 32])> {
        let q = Query::insert()
            .into_table("audit_heads")
            .columns(["tenant_id", "seq", "hash"])
            .values([
                uuid(tenant),
                Expr::val(0i64),
                Expr::val(Value::Bytes(Some(GENESIS.to_vec()))),
            ])
            .map_err(|e| Error::internal(format!("query: {e}")))?
            .on_conflict(
                OnConflict::column("tenant_id")
                    .value("seq", Expr::col(("audit_heads", "seq")))
                    .to_owned(),
            )
            .returning(Query::returning().columns(["seq", "hash"]))
            .to_owned();
        let row = self
            .tx
            .fetch_optional(&q)
            .await?
            .ok_or_else(|| Error::internal("the audit chain head vanished"))?;
        Ok((row.i64("seq")?, row.hash("hash")?))
    }

    /// Chains and inserts a run of one tenant's events after its head.
    async fn append_run(
        &mut self,
        tenant: TenantId,
        events: Vec<NewAuditEvent>,
    ) -> Result<Vec<AuditEvent>> {
        self.for_tenant(tenant).await?;
        let (mut seq, mut prev) = self.lock_head(tenant).await?;
        let mut out = Vec::with_capacity(events.len());
        for mut event in events {
            if event.tenant_id != tenant {
                return Err(Error::internal("an audit run mixed tenants"));
            }
            // Nothing reaches the log unredacted, however the event was built.
            event.before.iter_mut().for_each(redact);
            event.after.iter_mut().for_each(redact);
            seq += 1;
            let chained = event.chain(seq, prev);
            prev = chained.hash;
            out.push(chained);
        }
        let head = Query::update()
            .table("audit_heads")
            .value("seq", seq)
            .value("hash", Value::Bytes(Some(prev.to_vec())))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        let chunks = out.len().div_ceil(BATCH);
        for (i, chunk) in out.chunks(BATCH).enumerate() {
            let mut insert = Query::insert();
            insert.into_table("audit_events").columns(EVENT_COLS);
            for e in chunk {
                let ev = &e.event;
                insert
                    .values([
                        uuid(ev.tenant_id),
                        Expr::val(e.seq),
                        uuid(ev.id),
                        Expr::val(self.tx.backend.ts(ev.at)),
                        opt_uuid(ev.actor_user_id),
                        Expr::val(ev.actor.as_str()),
                        opt_text(ev.ip.clone()),
                        opt_text(ev.user_agent.clone()),
                        uuid(ev.request_id),
                        Expr::val(ev.action.as_str()),
                        Expr::val(ev.resource_kind.as_str()),
                        opt_uuid(ev.resource_id),
                        opt_uuid(ev.branch_id),
                        json_text(&ev.before),
                        json_text(&ev.after),
                        Expr::val(Value::Bytes(Some(e.prev_hash.to_vec()))),
                        Expr::val(Value::Bytes(Some(e.hash.to_vec()))),
                        Expr::val(i64::from(e.canon)),
                        Expr::val(Value::Bytes(e.payload_digest.map(|d| d.to_vec()))),
                        Expr::val(Value::Bytes(e.payload_salt.map(|d| d.to_vec()))),
                        Expr::val(self.tx.backend.opt_ts(e.erased_at)),
                    ])
                    .map_err(|e| Error::internal(format!("query: {e}")))?;
            }
            if i + 1 == chunks {
                // The last chunk and the new head together.
                self.tx.execute_both(&insert, &head).await?;
            } else {
                self.tx.execute(&insert).await?;
            }
        }
        Ok(out)
    }

    /// Any failure of an append poisons the unit of work: the write it
    /// describes must not commit without it.
    fn poison_on_error<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.tx.failed = true;
        }
        result
    }
}

#[async_trait]
impl AuditLog for SqlUnitOfWork {
    async fn append(&mut self, event: NewAuditEvent) -> Result<AuditEvent> {
        let tenant = event.tenant_id;
        let result = self.append_run(tenant, vec![event]).await;
        let mut events = self.poison_on_error(result)?;
        events
            .pop()
            .ok_or_else(|| Error::internal("an append returned no event"))
    }

    async fn append_all(&mut self, events: Vec<NewAuditEvent>) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::with_capacity(events.len());
        let mut run: Vec<NewAuditEvent> = Vec::new();
        for event in events {
            if run
                .first()
                .is_some_and(|first| first.tenant_id != event.tenant_id)
            {
                let tenant = run[0].tenant_id;
                let result = self.append_run(tenant, std::mem::take(&mut run)).await;
                out.extend(self.poison_on_error(result)?);
            }
            run.push(event);
        }
        if let Some(first) = run.first() {
            let tenant = first.tenant_id;
            let result = self.append_run(tenant, run).await;
            out.extend(self.poison_on_error(result)?);
        }
        Ok(out)
    }

    async fn read(
        &mut self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(EVENT_COLS)
            .from("audit_events")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("seq").gt(after_seq))
            .order_by("seq", Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        self.tx.fetch_all(&q).await?.iter().map(event_of).collect()
    }

    async fn head(&mut self, tenant: TenantId) -> Result<(i64, [u8; 32])> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(["seq", "hash"])
            .from("audit_heads")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            None => Ok((0, GENESIS)),
            Some(row) => Ok((row.i64("seq")?, row.hash("hash")?)),
        }
    }
}
