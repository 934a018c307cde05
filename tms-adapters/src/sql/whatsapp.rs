//! WhatsApp connections and delivery statuses (schema 14, issue 9).
//!
//! A status is inserted with `ON CONFLICT DO NOTHING` on its key
//! `(tenant_id, provider_message_id, status)`: a replayed webhook records
//! nothing new and poisons no PostgreSQL transaction.

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query};
use tms_core::Result;
use tms_core::id::{TenantId, UserId};
use tms_core::ports::{WhatsappConnection, WhatsappRepo, WhatsappStatus, WhatsappStatusKind};

use super::backend::Row;
use super::repos::{SqlUnitOfWork, corrupt, opt_text, opt_uuid, query_err, text, uuid};

const CONNECTION_COLS: [&str; 5] = [
    "tenant_id",
    "phone_number_id",
    "business_account_id",
    "connected_at",
    "connected_by",
];

const STATUS_COLS: [&str; 7] = [
    "tenant_id",
    "provider_message_id",
    "status",
    "at",
    "error_code",
    "error_title",
    "recorded_at",
];

fn connection_of(row: &Row) -> Result<WhatsappConnection> {
    Ok(WhatsappConnection {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        phone_number_id: row.text("phone_number_id")?,
        business_account_id: row.opt_text("business_account_id")?,
        connected_at: row.ts("connected_at")?,
        connected_by: row.opt_uuid("connected_by")?.map(UserId::from_uuid),
    })
}

fn status_of(row: &Row) -> Result<WhatsappStatus> {
    Ok(WhatsappStatus {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        provider_message_id: row.text("provider_message_id")?,
        status: WhatsappStatusKind::parse(&row.text("status")?)
            .map_err(|_| corrupt("whatsapp status"))?,
        at: row.ts("at")?,
        error_code: row.opt_i64("error_code")?,
        error_title: row.opt_text("error_title")?,
        recorded_at: row.ts("recorded_at")?,
    })
}

#[async_trait]
impl WhatsappRepo for SqlUnitOfWork {
    async fn connection(&mut self, tenant: TenantId) -> Result<Option<WhatsappConnection>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CONNECTION_COLS)
            .from("whatsapp_connections")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        self.fetch_one(&q, connection_of).await
    }

    async fn put_connection(&mut self, c: &WhatsappConnection) -> Result<()> {
        self.for_tenant(c.tenant_id).await?;
        let q = Query::insert()
            .into_table("whatsapp_connections")
            .columns(CONNECTION_COLS)
            .values([
                uuid(c.tenant_id),
                text(&c.phone_number_id),
                opt_text(c.business_account_id.as_deref()),
                self.ts(c.connected_at),
                opt_uuid(c.connected_by),
            ])
            .map_err(query_err)?
            .on_conflict(
                OnConflict::column("tenant_id")
                    .update_columns([
                        "phone_number_id",
                        "business_account_id",
                        "connected_at",
                        "connected_by",
                    ])
                    .to_owned(),
            )
            .to_owned();
        self.tx.execute(&q).await?;
        Ok(())
    }

    async fn delete_connection(&mut self, tenant: TenantId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("whatsapp_connections")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn record_status(&mut self, s: &WhatsappStatus) -> Result<bool> {
        self.for_tenant(s.tenant_id).await?;
        let q = Query::insert()
            .into_table("whatsapp_statuses")
            .columns(STATUS_COLS)
            .values([
                uuid(s.tenant_id),
                text(&s.provider_message_id),
                text(s.status.as_str()),
                self.ts(s.at),
                Expr::val(s.error_code),
                opt_text(s.error_title.as_deref()),
                self.ts(s.recorded_at),
            ])
            .map_err(query_err)?
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn statuses(
        &mut self,
        tenant: TenantId,
        provider_message_id: &str,
    ) -> Result<Vec<WhatsappStatus>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(STATUS_COLS)
            .from("whatsapp_statuses")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("provider_message_id").eq(provider_message_id))
            .order_by("at", Order::Asc)
            .order_by("recorded_at", Order::Asc)
            .to_owned();
        let mut out: Vec<WhatsappStatus> = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(status_of)
            .collect::<Result<_>>()?;
        // Same second: in the order a message lives (sent, delivered, read).
        out.sort_by_key(|s| (s.at, s.status));
        Ok(out)
    }
}
