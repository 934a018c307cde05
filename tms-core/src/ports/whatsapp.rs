//! WhatsApp (issue 9): the tenant's Cloud API connection and the delivery
//! statuses its webhook reports.
//!
//! Only the connection's public part is a row here (the phone number id,
//! the business account id); the access token, the app secret (webhook
//! signatures) and the verify token (subscription handshake) are sealed
//! tenant secrets ([`crate::ports::SettingsRepo::put_secret`]), so that key
//! rotation re-encrypts them with every other secret.
//!
//! Statuses are keyed `(tenant, provider message id, status)`: a webhook
//! delivered twice (Meta retries until it gets a 200) records nothing new.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};

/// A tenant's WhatsApp Cloud API connection (its public part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappConnection {
    /// Whose.
    pub tenant_id: TenantId,
    /// The sending number's id at Meta (digits), part of the Graph API path.
    pub phone_number_id: String,
    /// The WhatsApp Business Account id (digits), if given.
    pub business_account_id: Option<String>,
    /// When it was (last) connected.
    pub connected_at: DateTime<Utc>,
    /// Who connected it.
    pub connected_by: Option<UserId>,
}

/// What the webhook says about a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WhatsappStatusKind {
    /// Accepted by WhatsApp's servers.
    Sent,
    /// On the recipient's phone.
    Delivered,
    /// Opened.
    Read,
    /// Not delivered (with an error code and title).
    Failed,
}

impl WhatsappStatusKind {
    /// The Graph API's name, also stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            WhatsappStatusKind::Sent => "sent",
            WhatsappStatusKind::Delivered => "delivered",
            WhatsappStatusKind::Read => "read",
            WhatsappStatusKind::Failed => "failed",
        }
    }

    /// The inverse of [`WhatsappStatusKind::as_str`].
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw {
            "sent" => WhatsappStatusKind::Sent,
            "delivered" => WhatsappStatusKind::Delivered,
            "read" => WhatsappStatusKind::Read,
            "failed" => WhatsappStatusKind::Failed,
            _ => return Err(Error::invalid("status", "is not a WhatsApp message status")),
        })
    }
}

/// One status of one message, as the webhook reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappStatus {
    /// Whose.
    pub tenant_id: TenantId,
    /// The `wamid.…` the send returned ([`crate::ports::Receipt`]).
    pub provider_message_id: String,
    /// Which status.
    pub status: WhatsappStatusKind,
    /// When it happened, by the provider's clock.
    pub at: DateTime<Utc>,
    /// The provider's error code of a failure (e.g. 131026: not a WhatsApp
    /// user).
    pub error_code: Option<i64>,
    /// The provider's error title of a failure.
    pub error_title: Option<String>,
    /// When we recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// WhatsApp connections and delivery statuses.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait WhatsappRepo: Send {
    /// The tenant's connection, if it has one.
    async fn connection(&mut self, tenant: TenantId) -> Result<Option<WhatsappConnection>>;
    /// Saves the tenant's connection, replacing any previous one.
    async fn put_connection(&mut self, connection: &WhatsappConnection) -> Result<()>;
    /// Removes the tenant's connection; whether there was one.
    async fn delete_connection(&mut self, tenant: TenantId) -> Result<bool>;
    /// Records a status; `false` (and nothing changes) when that status of
    /// that message is already recorded.
    async fn record_status(&mut self, status: &WhatsappStatus) -> Result<bool>;
    /// Every recorded status of one message, in the order they happened.
    async fn statuses(
        &mut self,
        tenant: TenantId,
        provider_message_id: &str,
    ) -> Result<Vec<WhatsappStatus>>;
}
