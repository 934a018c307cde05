//! Outreach (issue 9): message templates, the suppression list and
//! campaigns — the records; the rules that move them live in
//! [`crate::service::outreach`].
//!
//! ```text
//! template:  draft ──approve──▶ approved ──archive──▶ archived
//!              │ (edits only here)                       ▲
//!              └───────────────archive───────────────────┘
//!
//! campaign:  draft ─approve─▶ approved ─send─▶ scheduled ─(due)─▶ sending ─▶ done
//!                                         └─────(now)───────────────▲
//!            sending ⇄ paused;  any state but done ─cancel─▶ cancelled
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::{Email, Phone};
use crate::error::{Error, Result};
use crate::id::{
    BranchId, CampaignId, CampaignRecipientId, ClientId, TemplateId, TenantId, UserId,
};

/// The channel a template (and so a campaign) speaks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutreachChannel {
    /// Email: subject, text body and HTML body.
    Email,
    /// WhatsApp: a template approved at the provider, with parameters.
    Whatsapp,
}

impl OutreachChannel {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutreachChannel::Email => "email",
            OutreachChannel::Whatsapp => "whatsapp",
        }
    }

    /// Parses [`OutreachChannel::as_str`]'s form.
    ///
    /// ```
    /// use tms_core::domain::outreach::OutreachChannel;
    /// assert_eq!(OutreachChannel::parse("whatsapp").unwrap(), OutreachChannel::Whatsapp);
    /// assert!(OutreachChannel::parse("sms").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "email" => Ok(OutreachChannel::Email),
            "whatsapp" => Ok(OutreachChannel::Whatsapp),
            _ => Err(Error::invalid("channel", "must be email or whatsapp")),
        }
    }
}

/// A BCP-47 language tag as templates use it: `en`, `ar`, `ar-SA`, `ur`.
/// The primary subtag is lower case, a two-letter region upper case.
///
/// ```
/// use tms_core::domain::outreach::Language;
/// let tag = Language::parse("AR-sa").unwrap();
/// assert_eq!(tag.as_str(), "ar-SA");
/// assert_eq!(tag.base().as_str(), "ar");
/// assert!(Language::parse("not a tag").is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    /// Parses and normalises a tag.
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = || Error::invalid("language", "must be a BCP-47 tag such as en or ar-SA");
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 35 {
            return Err(invalid());
        }
        let mut out = Vec::new();
        for (i, part) in raw.split(['-', '_']).enumerate() {
            let ok = !part.is_empty()
                && part.len() <= 8
                && part.chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(invalid());
            }
            if i == 0 {
                if !(2..=3).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphabetic())
                {
                    return Err(invalid());
                }
                out.push(part.to_ascii_lowercase());
            } else if part.len() == 2 && part.chars().all(|c| c.is_ascii_alphabetic()) {
                out.push(part.to_ascii_uppercase());
            } else {
                out.push(part.to_ascii_lowercase());
            }
        }
        Ok(Self(out.join("-")))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language alone (`ar-SA` → `ar`).
    pub fn base(&self) -> Language {
        Self(self.0.split('-').next().unwrap_or_default().to_owned())
    }
}

impl TryFrom<String> for Language {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Language> for String {
    fn from(value: Language) -> Self {
        value.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a template is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    /// Being written; the only state in which it may be edited.
    Draft,
    /// Approved by an Admin or Tenant Super Admin: usable, frozen.
    Approved,
    /// Retired: never used again.
    Archived,
}

impl TemplateStatus {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Draft => "draft",
            TemplateStatus::Approved => "approved",
            TemplateStatus::Archived => "archived",
        }
    }

    /// Parses [`TemplateStatus::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "draft" => Ok(TemplateStatus::Draft),
            "approved" => Ok(TemplateStatus::Approved),
            "archived" => Ok(TemplateStatus::Archived),
            _ => Err(Error::invalid("status", "unknown template status")),
        }
    }
}

/// The content of one language of a template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum VariantContent {
    /// An email: each part is a template text (MiniJinja syntax).
    Email {
        /// The subject line (rendered without escaping; never CR/LF).
        subject: String,
        /// The plain-text body (rendered without escaping).
        text: String,
        /// The HTML body (rendered with HTML auto-escaping).
        html: String,
    },
    /// A WhatsApp template approved at the provider: its name, its
    /// language code there, and which declared variables fill its
    /// parameters `{{1}}`, `{{2}}`, … in order.
    Whatsapp {
        /// The template's name at the provider.
        provider_template: String,
        /// The template's language code at the provider (e.g. `en_US`).
        provider_language: String,
        /// Declared variable names, in parameter order.
        parameters: Vec<String>,
    },
}

impl VariantContent {
    /// The channel this content is for.
    pub const fn channel(&self) -> OutreachChannel {
        match self {
            VariantContent::Email { .. } => OutreachChannel::Email,
            VariantContent::Whatsapp { .. } => OutreachChannel::Whatsapp,
        }
    }
}

/// One language of a template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TemplateVariant {
    /// Its language.
    pub language: Language,
    /// What it says.
    pub content: VariantContent,
}

/// A message template of a tenant (tenant-level: no branch).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Template {
    /// Identity.
    pub id: TemplateId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// A name for people.
    pub name: String,
    /// Email or WhatsApp.
    pub channel: OutreachChannel,
    /// Draft, approved or archived.
    pub status: TemplateStatus,
    /// The variable names the texts may use; nothing else renders.
    pub variables: Vec<String>,
    /// The language used when neither the requested one nor its base is
    /// there. Always one of the variants.
    pub default_language: Language,
    /// One per language.
    pub variants: Vec<TemplateVariant>,
    /// Who approved it.
    pub approved_by: Option<UserId>,
    /// When it was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency version.
    pub version: i64,
}

impl Template {
    /// The variant for `requested`: that language, else its base
    /// (`ar-SA` → `ar`), else the default language.
    ///
    /// ```
    /// # use tms_core::domain::outreach::*;
    /// # let v = |l: &str| TemplateVariant { language: Language::parse(l).unwrap(), content: VariantContent::Email { subject: l.into(), text: String::new(), html: String::new() } };
    /// # let t = Template { id: Default::default(), tenant_id: Default::default(), name: "t".into(), channel: OutreachChannel::Email,
    /// #   status: TemplateStatus::Approved, variables: vec![], default_language: Language::parse("en").unwrap(),
    /// #   variants: vec![v("en"), v("ar")], approved_by: None, approved_at: None, created_at: chrono::Utc::now(), updated_at: chrono::Utc::now(), version: 1 };
    /// assert_eq!(t.variant(&Language::parse("ar-SA").unwrap()).unwrap().language.as_str(), "ar");
    /// assert_eq!(t.variant(&Language::parse("ur").unwrap()).unwrap().language.as_str(), "en");
    /// ```
    pub fn variant(&self, requested: &Language) -> Option<&TemplateVariant> {
        let find = |l: &Language| self.variants.iter().find(|v| &v.language == l);
        find(requested)
            .or_else(|| find(&requested.base()))
            .or_else(|| find(&self.default_language))
    }
}

/// Why an address is on the suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// The person unsubscribed (one-click link or by asking).
    Unsubscribed,
    /// Mail to it bounced for good.
    Bounced,
    /// Added by staff.
    Manual,
}

impl SuppressionReason {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Unsubscribed => "unsubscribed",
            SuppressionReason::Bounced => "bounced",
            SuppressionReason::Manual => "manual",
        }
    }

    /// Parses [`SuppressionReason::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "unsubscribed" => Ok(SuppressionReason::Unsubscribed),
            "bounced" => Ok(SuppressionReason::Bounced),
            "manual" => Ok(SuppressionReason::Manual),
            _ => Err(Error::invalid(
                "reason",
                "must be unsubscribed, bounced or manual",
            )),
        }
    }
}

/// An address outreach may reach: an email or a phone (WhatsApp).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    /// An email address, normalised.
    Email(Email),
    /// A phone number in E.164.
    Phone(Phone),
}

impl Address {
    /// Parses an email (anything with `@`) or a phone number.
    ///
    /// ```
    /// use tms_core::domain::outreach::Address;
    /// assert_eq!(Address::parse(" Ali@Example.COM ").unwrap().as_str(), "ali@example.com");
    /// assert!(matches!(Address::parse("+966501234567").unwrap(), Address::Phone(_)));
    /// assert!(Address::parse("nobody").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.contains('@') {
            Email::parse(raw).map(Address::Email)
        } else {
            Phone::parse(raw).map(Address::Phone).map_err(|_| {
                Error::invalid("address", "must be an email address or a phone number")
            })
        }
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        match self {
            Address::Email(e) => e.as_str(),
            Address::Phone(p) => p.as_str(),
        }
    }

    /// `email` or `phone`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Address::Email(_) => "email",
            Address::Phone(_) => "phone",
        }
    }
}

/// One entry of a tenant's suppression list: nothing is sent there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// The address.
    pub address: Address,
    /// Why.
    pub reason: SuppressionReason,
    /// Since when.
    pub created_at: DateTime<Utc>,
}

/// Where a campaign is in its life (see the [module diagram](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being prepared.
    Draft,
    /// Approved; not sent yet.
    Approved,
    /// Sent for a later time; starts when due.
    Scheduled,
    /// Recipients are being expanded into the outbox.
    Sending,
    /// Expansion stopped until resumed.
    Paused,
    /// Every recipient has been queued (or skipped as suppressed).
    Done,
    /// Stopped for good; un-sent messages were withdrawn.
    Cancelled,
}

impl CampaignStatus {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Approved => "approved",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Done => "done",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`CampaignStatus::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        Ok(match raw {
            "draft" => CampaignStatus::Draft,
            "approved" => CampaignStatus::Approved,
            "scheduled" => CampaignStatus::Scheduled,
            "sending" => CampaignStatus::Sending,
            "paused" => CampaignStatus::Paused,
            "done" => CampaignStatus::Done,
            "cancelled" => CampaignStatus::Cancelled,
            _ => return Err(Error::invalid("status", "unknown campaign status")),
        })
    }
}

/// A campaign: one approved template sent to the consenting clients that
/// match its filter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Campaign {
    /// Identity.
    pub id: CampaignId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// A name for people.
    pub name: String,
    /// The (approved) template it sends.
    pub template_id: TemplateId,
    /// The channel of that template.
    pub channel: OutreachChannel,
    /// The language asked for (the template's fallback rules apply).
    pub language: Language,
    /// Only clients of this branch; `None` for every branch (only a caller
    /// who sees every branch may ask for that).
    pub branch_id: Option<BranchId>,
    /// Values of the template's variables that are the same for everyone.
    pub variables: BTreeMap<String, String>,
    /// Where it is.
    pub status: CampaignStatus,
    /// When it starts (set when sent).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The last client expanded: expansion resumes after it.
    pub cursor: Option<ClientId>,
    /// Who approved it.
    pub approved_by: Option<UserId>,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency version.
    pub version: i64,
}

/// A client who may receive a campaign: consenting, with an address on
/// the campaign's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The client.
    pub client_id: ClientId,
    /// Their name (for `client_name`).
    pub name: String,
    /// Where to reach them on the campaign's channel.
    pub address: Address,
}

/// What became of one recipient of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// An outbox message was written (its own status says the rest).
    Queued,
    /// On the suppression list: nothing written.
    Suppressed,
    /// Its message was withdrawn by a cancel before it went.
    Cancelled,
}

impl RecipientState {
    /// The stable name used in storage and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecipientState::Queued => "queued",
            RecipientState::Suppressed => "suppressed",
            RecipientState::Cancelled => "cancelled",
        }
    }

    /// Parses [`RecipientState::as_str`]'s form.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "queued" => Ok(RecipientState::Queued),
            "suppressed" => Ok(RecipientState::Suppressed),
            "cancelled" => Ok(RecipientState::Cancelled),
            _ => Err(Error::invalid("state", "unknown recipient state")),
        }
    }
}

/// One recipient of one campaign. `(tenant, campaign, address)` is unique:
/// nobody gets the same campaign twice, however often expansion runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecipient {
    /// Identity (what the unsubscribe token names).
    pub id: CampaignRecipientId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The client it was expanded from.
    pub client_id: ClientId,
    /// The address.
    pub address: Address,
    /// What became of it.
    pub state: RecipientState,
    /// The outbox message, when one was written.
    pub message_id: Option<crate::id::MessageId>,
    /// When it was expanded.
    pub created_at: DateTime<Utc>,
}

/// A campaign's progress: recipients by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CampaignProgress {
    /// Recipients expanded so far.
    pub recipients: u64,
    /// Messages waiting in the outbox.
    pub queued: u64,
    /// Messages accepted by the transport.
    pub sent: u64,
    /// Messages given up on.
    pub failed: u64,
    /// Recipients skipped as suppressed.
    pub suppressed: u64,
    /// Messages withdrawn by a cancel.
    pub cancelled: u64,
}
