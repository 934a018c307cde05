//! The files repository: what is known about each uploaded file (the bytes
//! live in the [`BlobStore`](crate::ports::BlobStore)), and the tenant's
//! branding settings.
//!
//! A file belongs to one owner — a package, a category, the tenant's
//! branding, a booking, a client — and carries the owner's branch when the
//! owner has one, so that branch scopes apply to files as to their owners.
//! Its type is the one read from the bytes at upload time
//! ([`crate::files::check_upload`]), never the one a client declared; its
//! display name is only ever used in `Content-Disposition`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::files::ContentType;
use crate::id::{BookingId, BranchId, CategoryId, ClientId, FileId, PackageId, TenantId, UserId};
use crate::policy::ResourceKind;
use crate::ports::{BlobCategory, BlobKey, Page, PageRequest};

/// Who a file belongs to. Deleting the owner deletes its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileOwner {
    /// An image of a catalogue package.
    Package(PackageId),
    /// An image of a catalogue category.
    Category(CategoryId),
    /// The tenant's branding (its logo).
    Branding,
    /// A document on a booking (passport scan, visa).
    Booking(BookingId),
    /// A document of a client.
    Client(ClientId),
}

impl FileOwner {
    /// The stable name of the owner's kind, as stored.
    pub const fn kind(&self) -> &'static str {
        match self {
            FileOwner::Package(_) => "package",
            FileOwner::Category(_) => "category",
            FileOwner::Branding => "branding",
            FileOwner::Booking(_) => "booking",
            FileOwner::Client(_) => "client",
        }
    }

    /// The owner's id as stored; the branding's is the tenant's own id.
    pub fn id(&self, tenant: TenantId) -> uuid::Uuid {
        match self {
            FileOwner::Package(id) => id.as_uuid(),
            FileOwner::Category(id) => id.as_uuid(),
            FileOwner::Branding => tenant.as_uuid(),
            FileOwner::Booking(id) => id.as_uuid(),
            FileOwner::Client(id) => id.as_uuid(),
        }
    }

    /// The owner from its stored kind and id; `None` for an unknown kind.
    pub fn from_parts(kind: &str, id: uuid::Uuid) -> Option<Self> {
        Some(match kind {
            "package" => FileOwner::Package(PackageId::from_uuid(id)),
            "category" => FileOwner::Category(CategoryId::from_uuid(id)),
            "branding" => FileOwner::Branding,
            "booking" => FileOwner::Booking(BookingId::from_uuid(id)),
            "client" => FileOwner::Client(ClientId::from_uuid(id)),
            _ => return None,
        })
    }

    /// Where the owner's files live in the blob store, and the upload rules
    /// they follow ([`crate::files::rules_for`]).
    pub const fn category(&self) -> BlobCategory {
        match self {
            FileOwner::Package(_) | FileOwner::Category(_) => BlobCategory::CatalogueImage,
            FileOwner::Branding => BlobCategory::Branding,
            FileOwner::Booking(_) | FileOwner::Client(_) => BlobCategory::BookingDocument,
        }
    }

    /// The policy's resource class of the owner: a file is authorized as
    /// its owner is.
    pub const fn resource_kind(&self) -> ResourceKind {
        match self {
            FileOwner::Package(_) => ResourceKind::Package,
            FileOwner::Category(_) => ResourceKind::Category,
            FileOwner::Branding => ResourceKind::TenantSettings,
            FileOwner::Booking(_) => ResourceKind::Booking,
            FileOwner::Client(_) => ResourceKind::Client,
        }
    }
}

/// What is known about one stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Identity; also the last segment of its blob key.
    pub id: FileId,
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// Who it belongs to.
    pub owner: FileOwner,
    /// The owner's branch, when the owner has one (bookings, clients).
    pub branch_id: Option<BranchId>,
    /// The type read from the bytes.
    pub content_type: ContentType,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// The sanitised name to offer in `Content-Disposition`.
    pub file_name: String,
    /// Who uploaded it (none for the system).
    pub created_by: Option<UserId>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

impl StoredFile {
    /// Where its bytes are: `tenants/{tenant}/{category}/{id}`.
    pub fn key(&self) -> BlobKey {
        BlobKey::new(self.tenant_id, self.owner.category(), self.id.as_uuid())
    }

    /// The SHA-256 in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A tenant's branding as stored: what documents print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandingSettings {
    /// Owner tenant.
    pub tenant_id: TenantId,
    /// The agency's name as printed (empty: the tenant's name).
    pub agency_name: String,
    /// Postal address lines.
    pub address: Vec<String>,
    /// Accent colour, `#rrggbb`.
    pub accent_colour: Option<String>,
    /// The logo file (owner [`FileOwner::Branding`]).
    pub logo: Option<FileId>,
    /// Optimistic-concurrency version; 0 until first saved.
    pub version: i64,
    // --- documents follow-ups (issue 8) ---
    /// Who travellers call in an emergency, printed on every voucher.
    pub emergency_contact: Option<EmergencyContact>,
}

// --- documents follow-ups (issue 8) ---
/// Who travellers call in an emergency: a checked phone number, a name and
/// notes (e.g. "24/7, Arabic and Urdu"), printed on every voucher.
///
/// ```
/// use tms_core::domain::Phone;
/// use tms_core::ports::EmergencyContact;
/// let contact = EmergencyContact {
///     phone: Phone::parse("+966 50 123 4567").unwrap(),
///     name: "Al Noor duty desk".into(),
///     notes: "24/7".into(),
/// };
/// assert_eq!(contact.line(), "Al Noor duty desk: +966501234567 (24/7)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyContact {
    /// The number to call, E.164.
    pub phone: crate::domain::Phone,
    /// Who answers (up to 100 characters; may be empty).
    pub name: String,
    /// Notes such as hours or languages (up to 200 characters; may be empty).
    pub notes: String,
}

impl EmergencyContact {
    /// The contact as one printed line: `name: phone (notes)`.
    pub fn line(&self) -> String {
        let mut line = if self.name.is_empty() {
            self.phone.as_str().to_owned()
        } else {
            format!("{}: {}", self.name, self.phone.as_str())
        };
        if !self.notes.is_empty() {
            line.push_str(&format!(" ({})", self.notes));
        }
        line
    }
}

impl BrandingSettings {
    /// What a tenant that never saved its branding has.
    pub fn defaults(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            agency_name: String::new(),
            address: Vec::new(),
            accent_colour: None,
            logo: None,
            version: 0,
            emergency_contact: None,
        }
    }
}

/// Uploaded files and the tenant's branding.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FileRepo: Send {
    /// Adds a file; `Conflict` if the id is taken.
    async fn insert(&mut self, file: &StoredFile) -> Result<()>;
    /// The file, if it is the tenant's.
    async fn get(&mut self, tenant: TenantId, id: FileId) -> Result<Option<StoredFile>>;
    /// The owner's files, oldest first.
    async fn list_for_owner(
        &mut self,
        tenant: TenantId,
        owner: FileOwner,
        page: PageRequest,
    ) -> Result<Page<StoredFile>>;
    /// Removes one file's row; whether there was one.
    async fn delete(&mut self, tenant: TenantId, id: FileId) -> Result<bool>;
    /// Removes every file row of `owner` and returns them (so that the
    /// caller deletes their blobs once the unit commits).
    async fn delete_owned(&mut self, tenant: TenantId, owner: FileOwner)
    -> Result<Vec<StoredFile>>;
    /// The tenant's branding (the defaults if never saved).
    async fn branding(&mut self, tenant: TenantId) -> Result<BrandingSettings>;
    /// Saves the branding if `branding.version` is current, then bumps it;
    /// stale is `Conflict`.
    async fn put_branding(&mut self, branding: &mut BrandingSettings) -> Result<()>;
}
