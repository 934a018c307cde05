//! Mail Ops (issue 10): the connected Gmail inbox becomes threads and
//! support tickets that staff answer from TMS.
//!
//! - [`MailOps::tick`] (the worker, every pass) syncs each tenant whose
//!   sync is on: a first sync of recent mail (`newer_than:30d`, a tenant
//!   setting), page by page with the cursor saved after each page so a
//!   crash resumes there; then incremental sync from the last history id,
//!   back to a full sync when the provider says the id expired. A message
//!   seen twice is stored once (unique per tenant and provider id). A rate
//!   limit or an outage backs off (exponential, with jitter, persisted); a
//!   refused token stops sync with status `broken` until the mailbox is
//!   connected again.
//! - Each new message lands in its thread; the thread's first message
//!   opens a ticket in the branch the routing rules choose (first match by
//!   position; otherwise the settings' default branch, else the head
//!   office). A customer's reply reopens a solved ticket (a closed one gets
//!   a new ticket); mail the mailbox sent itself (label `SENT`) opens
//!   nothing, and counts as the first response.
//! - Tickets ([`ResourceKind::SupportTicket`], Operational): list, read
//!   with messages and notes, assign, status, priority, internal notes,
//!   replies through the outbox with `In-Reply-To`/`References`. Rules and
//!   settings ([`ResourceKind::MailRule`], [`ResourceKind::MailOpsSettings`])
//!   are Administration. Every change is audited.
//!
//! [`ResourceKind::SupportTicket`]: crate::policy::ResourceKind::SupportTicket
//! [`ResourceKind::MailRule`]: crate::policy::ResourceKind::MailRule
//! [`ResourceKind::MailOpsSettings`]: crate::policy::ResourceKind::MailOpsSettings

use std::fmt;
use std::sync::Arc;

use crate::ports::MailboxReader;
use crate::service::mail_connections::MailConnections;
use crate::service::tenancy::Deps;

mod admin;
mod sync;
mod tickets;

pub(crate) use admin::on_disconnect;
pub use admin::{RuleForm, SettingsForm};
pub use sync::{SyncReport, TenantSync};
pub use tickets::{ReplyForm, TicketDetail, TicketQuery, TicketView};

/// The Mail Ops service; see the [module documentation](self).
#[derive(Clone)]
pub struct MailOps {
    deps: Deps,
    connections: MailConnections,
    mailbox: Option<Arc<dyn MailboxReader>>,
    pages_per_tick: u32,
}

impl fmt::Debug for MailOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailOps")
            .field("mailbox", &self.mailbox.is_some())
            .field("pages_per_tick", &self.pages_per_tick)
            .finish_non_exhaustive()
    }
}

impl MailOps {
    /// The service over `deps`; tokens come from `connections`, mail from
    /// `mailbox` (`None` when the server has no Google client: then sync
    /// does nothing and attachments are unavailable).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tms_core::ports::{OsRandom, Store};
    /// use tms_core::security::keyring::KeyRing;
    /// use tms_core::service::mail_connections::MailConnections;
    /// use tms_core::service::mail_ops::MailOps;
    /// use tms_core::service::tenancy::Deps;
    ///
    /// fn mail_ops(store: Arc<dyn Store>) -> tms_core::Result<MailOps> {
    ///     let keyring = Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose())?);
    ///     let connections = MailConnections::new(Deps::new(store.clone()), keyring, None);
    ///     let ops = MailOps::new(Deps::new(store), connections, None);
    ///     assert!(!ops.has_mailbox());
    ///     Ok(ops)
    /// }
    /// ```
    pub fn new(
        deps: Deps,
        connections: MailConnections,
        mailbox: Option<Arc<dyn MailboxReader>>,
    ) -> Self {
        Self {
            deps,
            connections,
            mailbox,
            pages_per_tick: 20,
        }
    }

    /// Replaces how many provider pages one tenant's sync reads per tick
    /// (at least 1); the cursor is saved after each.
    pub fn with_pages_per_tick(mut self, pages: u32) -> Self {
        self.pages_per_tick = pages.max(1);
        self
    }

    /// Whether a mailbox reader is configured.
    pub fn has_mailbox(&self) -> bool {
        self.mailbox.is_some()
    }
}
