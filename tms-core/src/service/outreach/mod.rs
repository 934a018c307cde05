//! Outreach (issue 9): approved templates, the suppression list, one-click
//! unsubscribe and campaigns.
//!
//! # Policy
//! Templates are [`ResourceKind::Template`], campaigns and the suppression
//! list [`ResourceKind::Campaign`] — both Administration: a Tenant Super
//! Admin or an Admin reads, creates, updates and approves (`Action::Approve`);
//! sending a campaign is `Action::Send`, a critical action (the caller
//! confirms with the token of a first call). Finance, Sales and Umrah have
//! no access. Every create, update, approval, archive, send, pause, resume
//! and cancel is audited — names and states, never variable values.
//!
//! # Templates
//! Draft → approved → archived. Only a draft is edited: **editing an
//! approved template is refused** (`Conflict`) — what was approved is what
//! is sent; to change it, archive it and create a new draft. Only an
//! approved template renders (see [`render`]); archived ones never do.
//!
//! # Recipients
//! A campaign is marketing. It reaches the clients (of its branch, or of
//! every branch — only for a caller who sees every branch) that have an
//! address on its channel (an email; a phone for WhatsApp) and whose newest
//! consent answer is *granted* both on [`ConsentChannel::Marketing`] and on
//! the channel itself ([`ConsentChannel::Email`] or
//! [`ConsentChannel::Whatsapp`]). An address on the tenant's suppression
//! list is skipped (recorded as `suppressed`, nothing written).
//!
//! # Sending
//! [`Outreach::send_campaign`] (confirmed) schedules the campaign, or starts
//! it at once when no later time is given. [`Outreach::tick`] — called by
//! the worker loop — advances every active campaign by one batch: each
//! batch is one short transaction that writes a recipient row and an
//! outbox message per client, and moves the campaign's cursor. The
//! recipient row is unique per `(tenant, campaign, address)`, so a batch
//! that runs again (two workers, a crash between batches, a resume) writes
//! nobody twice. Pause stops the expansion (messages already queued still
//! go); cancel stops it for good and withdraws every message still pending
//! in the outbox (it is marked failed, its recipient cancelled). A
//! campaign is `done` when every recipient is queued; the outbox worker
//! delivers the rest, and [`Outreach::progress`] counts queued, sent,
//! failed, suppressed and cancelled.
//!
//! [`ResourceKind::Template`]: crate::policy::ResourceKind::Template
//! [`ResourceKind::Campaign`]: crate::policy::ResourceKind::Campaign
//! [`ConsentChannel::Marketing`]: crate::domain::ConsentChannel::Marketing
//! [`ConsentChannel::Email`]: crate::domain::ConsentChannel::Email
//! [`ConsentChannel::Whatsapp`]: crate::domain::ConsentChannel::Whatsapp

use std::sync::Arc;

use crate::security::keyring::KeyRing;
use crate::service::tenancy::Deps;

mod campaigns;
pub mod render;
mod templates;
pub mod unsubscribe;

pub use campaigns::{CampaignForm, TickReport};
pub use templates::{TemplateForm, VariantForm};

/// Variables every campaign fills per recipient.
pub const BUILTIN_VARIABLES: [&str; 2] = ["client_name", "unsubscribe_url"];

/// The outreach service; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Outreach {
    deps: Deps,
    keyring: Arc<KeyRing>,
    public_url: String,
    batch: u32,
}

impl Outreach {
    /// The service over `deps`, signing unsubscribe links with `keyring`;
    /// links start with `public_url` (e.g. `https://tms.agency.example`).
    /// Batches of 200 recipients.
    pub fn new(deps: Deps, keyring: Arc<KeyRing>, public_url: impl Into<String>) -> Self {
        Self {
            deps,
            keyring,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            batch: 200,
        }
    }

    /// Replaces the number of recipients expanded per transaction (at
    /// least 1).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The one-click unsubscribe URL of a token.
    pub fn unsubscribe_url(&self, token: &str) -> String {
        format!("{}/api/v1/unsubscribe/{token}", self.public_url)
    }
}
