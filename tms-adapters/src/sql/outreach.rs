//! The outreach repository (schema 12), written once for both databases:
//! templates, the suppression list, campaigns and their recipients.
//!
//! Campaign candidates are chosen in SQL: a client qualifies when, for
//! every consent channel asked, a *granted* answer exists with no newer
//! answer on the same channel (`EXISTS … AND NOT EXISTS newer`), on the
//! `(tenant_id, client_id, channel, at, id)` index of consents.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_query::{Condition, Expr, ExprTrait as _, JoinType, Order, Query, SelectStatement};
use tms_core::domain::ConsentChannel;
use tms_core::domain::outreach::{
    Address, Campaign, CampaignProgress, CampaignRecipient, CampaignStatus, Candidate, Language,
    OutreachChannel, RecipientState, Suppression, SuppressionReason, Template, TemplateStatus,
    TemplateVariant,
};
use tms_core::id::{
    BranchId, CampaignId, CampaignRecipientId, ClientId, MessageId, TemplateId, TenantId, UserId,
};
use tms_core::ports::{CandidateQuery, Cursor, OutboxStatus, OutreachRepo, Page, PageRequest};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{SqlUnitOfWork, corrupt, int, opt_uuid, page_of, text, uuid};

const TEMPLATE_COLS: [&str; 13] = [
    "tenant_id",
    "id",
    "name",
    "channel",
    "status",
    "variables",
    "default_language",
    "variants",
    "approved_by",
    "approved_at",
    "created_at",
    "updated_at",
    "version",
];

const CAMPAIGN_COLS: [&str; 16] = [
    "tenant_id",
    "id",
    "name",
    "template_id",
    "channel",
    "language",
    "branch_id",
    "variables",
    "status",
    "scheduled_at",
    "cursor_client_id",
    "approved_by",
    "created_by",
    "created_at",
    "updated_at",
    "version",
];

const RECIPIENT_COLS: [&str; 8] = [
    "tenant_id",
    "id",
    "campaign_id",
    "client_id",
    "address",
    "state",
    "message_id",
    "created_at",
];

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("{what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|_| corrupt(what))
}

fn template_of(row: &Row) -> Result<Template> {
    Ok(Template {
        id: TemplateId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        name: row.text("name")?,
        channel: OutreachChannel::parse(&row.text("channel")?)
            .map_err(|_| corrupt("template channel"))?,
        status: TemplateStatus::parse(&row.text("status")?)
            .map_err(|_| corrupt("template status"))?,
        variables: from_json("template variables", &row.text("variables")?)?,
        default_language: Language::parse(&row.text("default_language")?)
            .map_err(|_| corrupt("template language"))?,
        variants: from_json::<Vec<TemplateVariant>>("template variants", &row.text("variants")?)?,
        approved_by: row.opt_uuid("approved_by")?.map(UserId::from_uuid),
        approved_at: row.opt_ts("approved_at")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        version: row.i64("version")?,
    })
}

fn campaign_of(row: &Row) -> Result<Campaign> {
    Ok(Campaign {
        id: CampaignId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        name: row.text("name")?,
        template_id: TemplateId::from_uuid(row.uuid("template_id")?),
        channel: OutreachChannel::parse(&row.text("channel")?)
            .map_err(|_| corrupt("campaign channel"))?,
        language: Language::parse(&row.text("language")?)
            .map_err(|_| corrupt("campaign language"))?,
        branch_id: row.opt_uuid("branch_id")?.map(BranchId::from_uuid),
        variables: from_json::<BTreeMap<String, String>>(
            "campaign variables",
            &row.text("variables")?,
        )?,
        status: CampaignStatus::parse(&row.text("status")?)
            .map_err(|_| corrupt("campaign status"))?,
        scheduled_at: row.opt_ts("scheduled_at")?,
        cursor: row.opt_uuid("cursor_client_id")?.map(ClientId::from_uuid),
        approved_by: row.opt_uuid("approved_by")?.map(UserId::from_uuid),
        created_by: row.opt_uuid("created_by")?.map(UserId::from_uuid),
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        version: row.i64("version")?,
    })
}

fn suppression_of(row: &Row) -> Result<Suppression> {
    Ok(Suppression {
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        address: Address::parse(&row.text("address")?)
            .map_err(|_| corrupt("suppressed address"))?,
        reason: SuppressionReason::parse(&row.text("reason")?)
            .map_err(|_| corrupt("suppression reason"))?,
        created_at: row.ts("created_at")?,
    })
}

fn recipient_of(row: &Row) -> Result<CampaignRecipient> {
    Ok(CampaignRecipient {
        id: CampaignRecipientId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        campaign_id: CampaignId::from_uuid(row.uuid("campaign_id")?),
        client_id: ClientId::from_uuid(row.uuid("client_id")?),
        address: Address::parse(&row.text("address")?).map_err(|_| corrupt("recipient address"))?,
        state: RecipientState::parse(&row.text("state")?)
            .map_err(|_| corrupt("recipient state"))?,
        message_id: row.opt_uuid("message_id")?.map(MessageId::from_uuid),
        created_at: row.ts("created_at")?,
    })
}

/// `EXISTS` a granted answer of client `c` on `channel` with no newer
/// answer on that channel.
fn newest_consent_granted(channel: ConsentChannel) -> Expr {
    let newer = Query::select()
        .expr(Expr::val(1))
        .from_as("client_consents", "n")
        .and_where(Expr::col(("n", "tenant_id")).equals(("g", "tenant_id")))
        .and_where(Expr::col(("n", "client_id")).equals(("g", "client_id")))
        .and_where(Expr::col(("n", "channel")).equals(("g", "channel")))
        .cond_where(
            Condition::any()
                .add(Expr::col(("n", "at")).gt(Expr::col(("g", "at"))))
                .add(
                    Condition::all()
                        .add(Expr::col(("n", "at")).equals(("g", "at")))
                        .add(Expr::col(("n", "id")).gt(Expr::col(("g", "id")))),
                ),
        )
        .to_owned();
    let granted = Query::select()
        .expr(Expr::val(1))
        .from_as("client_consents", "g")
        .and_where(Expr::col(("g", "tenant_id")).equals(("c", "tenant_id")))
        .and_where(Expr::col(("g", "client_id")).equals(("c", "id")))
        .and_where(Expr::col(("g", "channel")).eq(channel.as_str()))
        .and_where(Expr::col(("g", "granted")).eq(true))
        .and_where(Expr::exists(newer).not())
        .to_owned();
    Expr::exists(granted)
}

impl SqlUnitOfWork {
    /// Withdraws the tenant's campaign messages still pending in the
    /// outbox whose recipient row has `column = value` (one campaign, or
    /// one address): the message becomes failed, its recipient cancelled.
    async fn withdraw(&mut self, tenant: TenantId, column: &str, value: Expr) -> Result<u64> {
        let q = Query::select()
            .column(("r", "message_id"))
            .from_as("outreach_recipients", "r")
            .join_as(
                JoinType::InnerJoin,
                "outbox",
                "o",
                Condition::all()
                    .add(Expr::col(("o", "tenant_id")).equals(("r", "tenant_id")))
                    .add(Expr::col(("o", "id")).equals(("r", "message_id"))),
            )
            .and_where(Expr::col(("r", "tenant_id")).eq(uuid(tenant)))
            .and_where(Expr::col(("r", column.to_owned())).eq(value))
            .and_where(Expr::col(("o", "status")).eq(OutboxStatus::Pending.as_str()))
            .to_owned();
        let ids = self
            .tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(|r| r.uuid("message_id"))
            .collect::<Result<Vec<_>>>()?;
        let mut withdrawn = 0;
        for chunk in ids.chunks(500) {
            let list: Vec<Expr> = chunk.iter().map(|id| uuid(*id)).collect();
            let outbox = Query::update()
                .table("outbox")
                .value("status", OutboxStatus::Failed.as_str())
                .value("version", Expr::col("version").add(1))
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                .and_where(Expr::col("status").eq(OutboxStatus::Pending.as_str()))
                .and_where(Expr::col("id").is_in(list.clone()))
                .to_owned();
            withdrawn += self.tx.execute(&outbox).await?;
            let recipients = Query::update()
                .table("outreach_recipients")
                .value("state", RecipientState::Cancelled.as_str())
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                .and_where(Expr::col("message_id").is_in(list))
                .to_owned();
            self.tx.execute(&recipients).await?;
        }
        Ok(withdrawn)
    }

    fn by_tenant_and_id(
        q: &mut SelectStatement,
        tenant: TenantId,
        id: impl Into<uuid::Uuid>,
    ) -> &mut SelectStatement {
        q.and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id.into())))
    }
}

#[async_trait]
impl OutreachRepo for SqlUnitOfWork {
    async fn insert_template(&mut self, t: &Template) -> Result<()> {
        self.for_tenant(t.tenant_id).await?;
        let variables = to_json("template variables", &t.variables)?;
        let variants = to_json("template variants", &t.variants)?;
        self.insert_new(
            Query::insert()
                .into_table("outreach_templates")
                .columns(TEMPLATE_COLS)
                .values([
                    uuid(t.tenant_id),
                    uuid(t.id),
                    text(&t.name),
                    text(t.channel.as_str()),
                    text(t.status.as_str()),
                    text(&variables),
                    text(t.default_language.as_str()),
                    text(&variants),
                    opt_uuid(t.approved_by),
                    self.opt_ts(t.approved_at),
                    self.ts(t.created_at),
                    self.ts(t.updated_at),
                    int(t.version),
                ]),
            "a template with this id exists",
        )
        .await
    }

    async fn get_template(&mut self, tenant: TenantId, id: TemplateId) -> Result<Option<Template>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(TEMPLATE_COLS).from("outreach_templates");
        Self::by_tenant_and_id(&mut q, tenant, id);
        self.fetch_one(&q, template_of).await
    }

    async fn update_template(&mut self, t: &mut Template) -> Result<()> {
        self.for_tenant(t.tenant_id).await?;
        let variables = to_json("template variables", &t.variables)?;
        let variants = to_json("template variants", &t.variants)?;
        let q = Query::update()
            .table("outreach_templates")
            .value("name", t.name.as_str())
            .value("status", t.status.as_str())
            .value("variables", variables.as_str())
            .value("default_language", t.default_language.as_str())
            .value("variants", variants.as_str())
            .value("approved_by", opt_uuid(t.approved_by))
            .value("approved_at", self.opt_ts(t.approved_at))
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
                .stale("outreach_templates", "template", t.tenant_id, t.id.into())
                .await)
        }
    }

    async fn list_templates(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Template>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(TEMPLATE_COLS)
            .from("outreach_templates")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(template_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |t| Cursor {
            created_at: t.created_at,
            id: t.id.as_uuid(),
        }))
    }

    async fn suppress(&mut self, s: &Suppression) -> Result<bool> {
        self.for_tenant(s.tenant_id).await?;
        match self
            .insert_new(
                Query::insert()
                    .into_table("outreach_suppressions")
                    .columns(["tenant_id", "id", "address", "kind", "reason", "created_at"])
                    .values([
                        uuid(s.tenant_id),
                        uuid(uuid::Uuid::now_v7()),
                        text(s.address.as_str()),
                        text(s.address.kind()),
                        text(s.reason.as_str()),
                        self.ts(s.created_at),
                    ]),
                "suppressed already",
            )
            .await
        {
            Ok(()) => {
                // Nothing more goes there: campaign mail still waiting in
                // the outbox for this address is withdrawn too.
                self.withdraw(s.tenant_id, "address", text(s.address.as_str()))
                    .await?;
                Ok(true)
            }
            Err(Error::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn unsuppress(&mut self, tenant: TenantId, address: &Address) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("outreach_suppressions")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("address").eq(address.as_str()))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn is_suppressed(&mut self, tenant: TenantId, address: &Address) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .expr(Expr::val(1))
            .from("outreach_suppressions")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("address").eq(address.as_str()))
            .to_owned();
        Ok(self.tx.fetch_optional(&q).await?.is_some())
    }

    async fn list_suppressions(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Suppression>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(["tenant_id", "id", "address", "kind", "reason", "created_at"])
            .from("outreach_suppressions")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows
            .iter()
            .map(|row| Ok((suppression_of(row)?, row.uuid("id")?)))
            .collect::<Result<Vec<_>>>()?;
        let page = page_of(items, page, |(s, id)| Cursor {
            created_at: s.created_at,
            id: *id,
        });
        Ok(Page {
            items: page.items.into_iter().map(|(s, _)| s).collect(),
            next: page.next,
        })
    }

    async fn insert_campaign(&mut self, c: &Campaign) -> Result<()> {
        self.for_tenant(c.tenant_id).await?;
        let variables = to_json("campaign variables", &c.variables)?;
        self.insert_new(
            Query::insert()
                .into_table("outreach_campaigns")
                .columns(CAMPAIGN_COLS)
                .values([
                    uuid(c.tenant_id),
                    uuid(c.id),
                    text(&c.name),
                    uuid(c.template_id),
                    text(c.channel.as_str()),
                    text(c.language.as_str()),
                    opt_uuid(c.branch_id),
                    text(&variables),
                    text(c.status.as_str()),
                    self.opt_ts(c.scheduled_at),
                    opt_uuid(c.cursor),
                    opt_uuid(c.approved_by),
                    opt_uuid(c.created_by),
                    self.ts(c.created_at),
                    self.ts(c.updated_at),
                    int(c.version),
                ]),
            "a campaign with this id exists",
        )
        .await
    }

    async fn get_campaign(&mut self, tenant: TenantId, id: CampaignId) -> Result<Option<Campaign>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(CAMPAIGN_COLS).from("outreach_campaigns");
        Self::by_tenant_and_id(&mut q, tenant, id);
        self.fetch_one(&q, campaign_of).await
    }

    async fn update_campaign(&mut self, c: &mut Campaign) -> Result<()> {
        self.for_tenant(c.tenant_id).await?;
        let variables = to_json("campaign variables", &c.variables)?;
        let q = Query::update()
            .table("outreach_campaigns")
            .value("name", c.name.as_str())
            .value("variables", variables.as_str())
            .value("status", c.status.as_str())
            .value("scheduled_at", self.opt_ts(c.scheduled_at))
            .value("cursor_client_id", opt_uuid(c.cursor))
            .value("approved_by", opt_uuid(c.approved_by))
            .value("updated_at", self.ts(c.updated_at))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(c.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(c.id)))
            .and_where(Expr::col("version").eq(c.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            c.version += 1;
            Ok(())
        } else {
            Err(self
                .stale("outreach_campaigns", "campaign", c.tenant_id, c.id.into())
                .await)
        }
    }

    async fn list_campaigns(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Campaign>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(CAMPAIGN_COLS)
            .from("outreach_campaigns")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(campaign_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |c| Cursor {
            created_at: c.created_at,
            id: c.id.as_uuid(),
        }))
    }

    async fn active_campaigns(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Campaign>> {
        self.for_system().await?;
        let q = Query::select()
            .columns(CAMPAIGN_COLS)
            .from("outreach_campaigns")
            .cond_where(
                Condition::any()
                    .add(Expr::col("status").eq(CampaignStatus::Sending.as_str()))
                    .add(
                        Condition::all()
                            .add(Expr::col("status").eq(CampaignStatus::Scheduled.as_str()))
                            .add(Expr::col("scheduled_at").lte(self.ts(now))),
                    ),
            )
            .order_by("updated_at", Order::Asc)
            .order_by("id", Order::Asc)
            .limit(u64::from(limit))
            .to_owned();
        let rows = self.tx.fetch_all(&q).await?;
        rows.iter().map(campaign_of).collect()
    }

    async fn candidates(&mut self, query: &CandidateQuery) -> Result<Vec<Candidate>> {
        self.for_tenant(query.tenant_id).await?;
        let address = match query.channel {
            OutreachChannel::Email => "email",
            OutreachChannel::Whatsapp => "phone",
        };
        let mut q = Query::select();
        q.column(("c", "id"))
            .column(("c", "name"))
            .expr_as(Expr::col(("c", address)), "address")
            .from_as("clients", "c")
            .and_where(Expr::col(("c", "tenant_id")).eq(uuid(query.tenant_id)))
            .and_where(Expr::col(("c", address)).is_not_null());
        if let Some(branch) = query.branch_id {
            q.and_where(Expr::col(("c", "branch_id")).eq(uuid(branch)));
        }
        if let Some(after) = query.after {
            q.and_where(Expr::col(("c", "id")).gt(uuid(after)));
        }
        for channel in &query.consents {
            q.and_where(newest_consent_granted(*channel));
        }
        q.order_by(("c", "id"), Order::Asc)
            .limit(u64::from(query.limit));
        let rows = self.tx.fetch_all(&q).await?;
        rows.iter()
            .map(|row| {
                Ok(Candidate {
                    client_id: ClientId::from_uuid(row.uuid("id")?),
                    name: row.text("name")?,
                    address: Address::parse(&row.text("address")?)
                        .map_err(|_| corrupt("client address"))?,
                })
            })
            .collect()
    }

    async fn add_recipient(&mut self, r: &CampaignRecipient) -> Result<bool> {
        self.for_tenant(r.tenant_id).await?;
        match self
            .insert_new(
                Query::insert()
                    .into_table("outreach_recipients")
                    .columns(RECIPIENT_COLS)
                    .values([
                        uuid(r.tenant_id),
                        uuid(r.id),
                        uuid(r.campaign_id),
                        uuid(r.client_id),
                        text(r.address.as_str()),
                        text(r.state.as_str()),
                        opt_uuid(r.message_id),
                        self.ts(r.created_at),
                    ]),
                "this campaign has this recipient",
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(Error::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get_recipient(
        &mut self,
        tenant: TenantId,
        campaign: CampaignId,
        id: CampaignRecipientId,
    ) -> Result<Option<CampaignRecipient>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(RECIPIENT_COLS).from("outreach_recipients");
        Self::by_tenant_and_id(&mut q, tenant, id);
        q.and_where(Expr::col("campaign_id").eq(uuid(campaign)));
        self.fetch_one(&q, recipient_of).await
    }

    async fn progress(
        &mut self,
        tenant: TenantId,
        campaign: CampaignId,
    ) -> Result<CampaignProgress> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .expr_as(Expr::col(("r", "state")), "state")
            .expr_as(Expr::col(("o", "status")), "status")
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .from_as("outreach_recipients", "r")
            .join_as(
                JoinType::LeftJoin,
                "outbox",
                "o",
                Condition::all()
                    .add(Expr::col(("o", "tenant_id")).equals(("r", "tenant_id")))
                    .add(Expr::col(("o", "id")).equals(("r", "message_id"))),
            )
            .and_where(Expr::col(("r", "tenant_id")).eq(uuid(tenant)))
            .and_where(Expr::col(("r", "campaign_id")).eq(uuid(campaign)))
            .group_by_col(("r", "state"))
            .group_by_col(("o", "status"))
            .to_owned();
        let mut p = CampaignProgress::default();
        for row in self.tx.fetch_all(&q).await? {
            let n = u64::try_from(row.i64("n")?).map_err(|_| corrupt("count"))?;
            p.recipients += n;
            let state = RecipientState::parse(&row.text("state")?)
                .map_err(|_| corrupt("recipient state"))?;
            match state {
                RecipientState::Suppressed => p.suppressed += n,
                RecipientState::Cancelled => p.cancelled += n,
                RecipientState::Queued => match row.opt_text("status")?.as_deref() {
                    Some("sent") => p.sent += n,
                    Some("failed") => p.failed += n,
                    // Pending, or removed by retention after it was handled.
                    _ => p.queued += n,
                },
            }
        }
        Ok(p)
    }

    async fn withdraw_pending(&mut self, tenant: TenantId, campaign: CampaignId) -> Result<u64> {
        self.for_tenant(tenant).await?;
        self.withdraw(tenant, "campaign_id", uuid(campaign)).await
    }

    async fn forget_client(&mut self, tenant: TenantId, client: ClientId) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("outreach_recipients")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .to_owned();
        self.tx.execute(&q).await
    }
}
