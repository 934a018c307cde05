//! Ports to the outside world: files, mail, OAuth, documents, WhatsApp.
//!
//! Each is a small object-safe trait held as `Arc<dyn …>`, implemented in
//! `tms-adapters` behind a feature. Failures use the crate's
//! [`Error`](crate::Error): [`Error::Unavailable`](crate::Error::Unavailable)
//! for transient failures (retry later) and
//! [`Error::Rejected`](crate::Error::Rejected) for permanent ones.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::domain::{Email, Phone};
use crate::error::Result;
use crate::id::TenantId;
use crate::security::secret::Secret;

/// What an uploaded file is, which decides where its key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobCategory {
    /// Package and category images.
    CatalogueImage,
    /// The tenant's logo and other branding.
    Branding,
    /// Images used in campaigns.
    CampaignImage,
    /// Documents attached to a booking (passport scans, visas).
    BookingDocument,
    /// Generated PDFs (vouchers, invoices).
    GeneratedDocument,
}

impl BlobCategory {
    fn segment(self) -> &'static str {
        match self {
            BlobCategory::CatalogueImage => "catalogue",
            BlobCategory::Branding => "branding",
            BlobCategory::CampaignImage => "campaigns",
            BlobCategory::BookingDocument => "booking-documents",
            BlobCategory::GeneratedDocument => "generated",
        }
    }
}

/// Where a file lives: `tenants/{tenant}/{category}/{id}`. Built only from
/// ids, never from a user-supplied file name, so no path tricks are possible
/// and no key can point into another tenant.
///
/// ```
/// use tms_core::id::TenantId;
/// use tms_core::ports::{BlobCategory, BlobKey};
/// let tenant = TenantId::new();
/// let key = BlobKey::new(tenant, BlobCategory::Branding, uuid::Uuid::nil());
/// assert_eq!(key.as_str(), format!("tenants/{tenant}/branding/00000000-0000-0000-0000-000000000000"));
/// assert_eq!(key.tenant_id(), tenant);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey {
    tenant_id: TenantId,
    path: String,
}

impl BlobKey {
    /// The key of file `id` of `category` for `tenant_id`.
    pub fn new(tenant_id: TenantId, category: BlobCategory, id: uuid::Uuid) -> Self {
        let path = format!("tenants/{tenant_id}/{}/{id}", category.segment());
        Self { tenant_id, path }
    }

    /// The owning tenant.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The key as a path.
    pub fn as_str(&self) -> &str {
        &self.path
    }
}

/// Stored files. Implementations: local disk, S3-compatible storage.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `key`, replacing what was there.
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()>;
    /// The bytes under `key`; `NotFound` if none.
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>>;
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<()>;
    /// A URL that downloads `key` until `expires_in` has passed, or `None`
    /// when the backend cannot presign (then the server streams the file).
    async fn presign_get(&self, key: &BlobKey, expires_in: Duration) -> Result<Option<String>>;
}

/// One message ready to go: envelope plus the full RFC 5322 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The tenant it is sent for (which transport and quota apply).
    pub tenant_id: TenantId,
    /// Envelope sender.
    pub from: Email,
    /// Envelope recipients.
    pub to: Vec<Email>,
    /// The stable `Message-ID`, so a resend after a crash is recognisable.
    pub message_id: String,
    /// The message as it goes on the wire.
    pub raw: Vec<u8>,
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies carry reset links and personal data: never print them.
        f.debug_struct("OutgoingMail")
            .field("tenant_id", &self.tenant_id)
            .field("to", &self.to.len())
            .field("message_id", &self.message_id)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

/// What the provider said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for the message, if it gave one.
    pub provider_message_id: Option<String>,
}

/// Sends mail. Implementations: SMTP, Gmail, a folder of `.eml` files.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MailTransport: Send + Sync + fmt::Debug {
    /// Sends one message. `Unavailable` means try again later; `Rejected`
    /// means the message will never go as it is.
    async fn send(&self, mail: &OutgoingMail) -> Result<Receipt>;
}

/// The start of an OAuth 2.0 authorization-code flow with PKCE.
///
/// `Debug` shows the URL without its query, which carries the `state`:
///
/// ```
/// use tms_core::ports::AuthorizationRequest;
/// use tms_core::security::secret::Secret;
/// let request = AuthorizationRequest {
///     url: "https://accounts.example/auth?state=s3cr3t&client_id=tms".into(),
///     state: Secret::new("s3cr3t".to_owned()),
///     pkce_verifier: Secret::new("v3r1f13r".to_owned()),
/// };
/// let shown = format!("{request:?}");
/// assert!(shown.contains("https://accounts.example/auth?<redacted>"));
/// assert!(!shown.contains("s3cr3t") && !shown.contains("v3r1f13r"));
/// ```
pub struct AuthorizationRequest {
    /// Where to send the user's browser.
    pub url: String,
    /// The `state` to check on the callback (anti-CSRF).
    pub state: Secret<String>,
    /// The PKCE verifier to present with the code.
    pub pkce_verifier: Secret<String>,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.url.split_once('?') {
            Some((base, _)) => format!("{base}?<redacted>"),
            None => self.url.clone(),
        };
        f.debug_struct("AuthorizationRequest")
            .field("url", &shown)
            .field("state", &self.state)
            .field("pkce_verifier", &self.pkce_verifier)
            .finish()
    }
}

/// Tokens from an OAuth provider. Sealed with the key ring before storage.
#[derive(Debug, Clone)]
pub struct OAuthTokens {
    /// Bearer token for API calls.
    pub access_token: Secret<String>,
    /// Token to get a new access token.
    pub refresh_token: Option<Secret<String>>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes actually granted.
    pub scopes: Vec<String>,
}

/// An OAuth 2.0 provider (Google for Gmail).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OAuthProvider: Send + Sync + fmt::Debug {
    /// Starts a flow: URL, state and PKCE verifier.
    fn authorization_request(&self) -> Result<AuthorizationRequest>;
    /// Exchanges the callback's code for tokens.
    async fn exchange_code(
        &self,
        code: &Secret<String>,
        pkce_verifier: &Secret<String>,
    ) -> Result<OAuthTokens>;
    /// Gets a fresh access token.
    async fn refresh(&self, refresh_token: &Secret<String>) -> Result<OAuthTokens>;
    /// Revokes a token at the provider.
    async fn revoke(&self, token: &Secret<String>) -> Result<()>;
    // --- mail connections (issue 9) ---
    /// The address of the account that granted `access_token` (Gmail: the
    /// mailbox XOAUTH2 logs in as). Providers that cannot tell answer
    /// `Rejected`, the default.
    async fn account_address(&self, access_token: &Secret<String>) -> Result<Email> {
        let _ = access_token;
        Err(crate::Error::rejected(
            "this OAuth provider cannot tell the account's address",
        ))
    }
}

/// A tenant's look on its documents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Branding {
    /// The agency's name as printed.
    pub agency_name: String,
    /// Postal address lines.
    pub address: Vec<String>,
    /// PNG or JPEG bytes of the logo.
    pub logo: Option<Vec<u8>>,
    /// Accent colour, `#rrggbb`.
    pub accent_colour: Option<String>,
}

/// What kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Travel voucher.
    Voucher,
    /// Booking confirmation.
    BookingConfirmation,
    /// Invoice.
    Invoice,
    /// Credit note.
    CreditNote,
    /// Umrah group manifest.
    UmrahManifest,
}

/// A block of a document: the services decide content, the renderer layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A heading.
    Heading(String),
    /// A paragraph (any script; right-to-left text is shaped by the renderer).
    Paragraph(String),
    /// Label/value pairs.
    Fields(Vec<(String, String)>),
    /// A table with a header row.
    Table {
        /// Column titles.
        header: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
}

/// The paper a document is laid out on.
///
/// ```
/// use tms_core::ports::PageSize;
/// assert_eq!(PageSize::parse("Letter").unwrap(), PageSize::Letter);
/// assert_eq!(PageSize::default(), PageSize::A4);
/// assert_eq!(PageSize::A4.points(), (595.28, 841.89));
/// assert!(PageSize::parse("legal").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PageSize {
    /// ISO A4, 210 × 297 mm (the default).
    #[default]
    A4,
    /// US Letter, 8.5 × 11 in.
    Letter,
}

impl PageSize {
    /// Parses `a4` or `letter` (case-insensitive).
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "a4" => Ok(PageSize::A4),
            "letter" => Ok(PageSize::Letter),
            _ => Err(crate::Error::invalid("page", "must be a4 or letter")),
        }
    }

    /// Width and height in PDF points (1/72 in), as written in the media
    /// box.
    pub const fn points(self) -> (f32, f32) {
        match self {
            PageSize::A4 => (595.28, 841.89),
            PageSize::Letter => (612.0, 792.0),
        }
    }
}

/// A document to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// What it is.
    pub kind: DocumentKind,
    /// Its title.
    pub title: String,
    /// BCP-47 language of the text, e.g. `en`, `ar`, `ur`.
    pub language: String,
    /// The tenant's branding.
    pub branding: Branding,
    /// The content, in order.
    pub blocks: Vec<Block>,
    /// The paper size.
    pub page_size: PageSize,
    /// A line printed at the foot of every page, beside the page number
    /// (e.g. the document's reference and date).
    pub footer: Option<String>,
}

/// Renders documents to PDF.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DocumentRenderer: Send + Sync + fmt::Debug {
    /// The PDF bytes of `document`.
    async fn render(&self, document: &Document) -> Result<Vec<u8>>;
}

/// A templated message on a messaging channel (WhatsApp Cloud API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    /// The tenant it is sent for.
    pub tenant_id: TenantId,
    /// Recipient.
    pub to: Phone,
    /// The approved template's name.
    pub template: String,
    /// The template's language code.
    pub language: String,
    /// Values for the template's variables, in order.
    pub variables: Vec<String>,
}

/// Sends templated messages (WhatsApp).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MessageChannel: Send + Sync + fmt::Debug {
    /// Sends one message.
    async fn send(&self, message: &ChannelMessage) -> Result<Receipt>;
}
