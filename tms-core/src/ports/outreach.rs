//! The outreach repository (issue 9): templates, the suppression list,
//! campaigns and their recipients. Reached through
//! [`UnitOfWork::outreach`](crate::ports::UnitOfWork::outreach).
//!
//! Like every repository: reads take the tenant and another tenant's record
//! is `None`; updates check `version` (stale → `Conflict`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::ConsentChannel;
use crate::domain::outreach::{
    Address, Campaign, CampaignProgress, CampaignRecipient, Candidate, OutreachChannel,
    Suppression, Template,
};
use crate::error::Result;
use crate::id::{BranchId, CampaignId, CampaignRecipientId, ClientId, TemplateId, TenantId};
use crate::ports::{Page, PageRequest};

/// Which clients a campaign reaches: those (of one branch, or all) with an
/// address on `channel` whose newest consent answer is "granted" on every
/// one of `consents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateQuery {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Only this branch; `None` for all.
    pub branch_id: Option<BranchId>,
    /// Email (clients with an email) or WhatsApp (clients with a phone).
    pub channel: OutreachChannel,
    /// Consents needed, all of them (e.g. Marketing and Email).
    pub consents: Vec<ConsentChannel>,
    /// Start after this client id (ids ascend); `None` from the start.
    pub after: Option<ClientId>,
    /// At most this many.
    pub limit: u32,
}

/// Templates, suppressions, campaigns and recipients.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OutreachRepo: Send {
    // ------------------------------------------------------------ templates
    /// Adds a template; `Conflict` if the id is taken.
    async fn insert_template(&mut self, template: &Template) -> Result<()>;
    /// The template, if it is the tenant's.
    async fn get_template(&mut self, tenant: TenantId, id: TemplateId) -> Result<Option<Template>>;
    /// Saves changes if `template.version` is current, then bumps it.
    async fn update_template(&mut self, template: &mut Template) -> Result<()>;
    /// The tenant's templates by `(created_at, id)`.
    async fn list_templates(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Template>>;

    // --------------------------------------------------------- suppressions
    /// Adds the address to the list and withdraws the tenant's campaign
    /// messages to it still pending in the outbox (failed; recipient
    /// cancelled), so nothing more is sent there; `false` (and nothing
    /// changed) when it is there already.
    async fn suppress(&mut self, suppression: &Suppression) -> Result<bool>;
    /// Takes the address off the list; whether it was there.
    async fn unsuppress(&mut self, tenant: TenantId, address: &Address) -> Result<bool>;
    /// Whether the address is on the tenant's list.
    async fn is_suppressed(&mut self, tenant: TenantId, address: &Address) -> Result<bool>;
    /// The tenant's list by `(created_at, address)`.
    async fn list_suppressions(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Suppression>>;

    // ------------------------------------------------------------ campaigns
    /// Adds a campaign; `Conflict` if the id is taken.
    async fn insert_campaign(&mut self, campaign: &Campaign) -> Result<()>;
    /// The campaign, if it is the tenant's.
    async fn get_campaign(&mut self, tenant: TenantId, id: CampaignId) -> Result<Option<Campaign>>;
    /// Saves changes if `campaign.version` is current, then bumps it.
    async fn update_campaign(&mut self, campaign: &mut Campaign) -> Result<()>;
    /// The tenant's campaigns by `(created_at, id)`.
    async fn list_campaigns(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Campaign>>;
    /// Campaigns of every tenant with work to do at `now`: sending, or
    /// scheduled and due. Oldest first, at most `limit`.
    async fn active_campaigns(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Campaign>>;

    // ----------------------------------------------------------- recipients
    /// The next clients a campaign may reach, by ascending client id.
    async fn candidates(&mut self, query: &CandidateQuery) -> Result<Vec<Candidate>>;
    /// Adds a recipient; `false` (nothing written) when the campaign
    /// already has this address — the once-per-recipient guarantee.
    async fn add_recipient(&mut self, recipient: &CampaignRecipient) -> Result<bool>;
    /// One recipient of one campaign.
    async fn get_recipient(
        &mut self,
        tenant: TenantId,
        campaign: CampaignId,
        id: CampaignRecipientId,
    ) -> Result<Option<CampaignRecipient>>;
    /// Counts of the campaign's recipients by state (queued ones by their
    /// outbox message's status).
    async fn progress(
        &mut self,
        tenant: TenantId,
        campaign: CampaignId,
    ) -> Result<CampaignProgress>;
    /// Withdraws every message of the campaign that is still pending in
    /// the outbox (it becomes failed, its recipient cancelled); how many.
    async fn withdraw_pending(&mut self, tenant: TenantId, campaign: CampaignId) -> Result<u64>;
    /// Erasure (privacy): removes every recipient row of the client, with
    /// its address; their unsubscribe links then lead nowhere. The
    /// suppression list is kept — it is what stops mail to the address.
    async fn forget_client(&mut self, tenant: TenantId, client: ClientId) -> Result<u64>;
}
