//! Files: uploads to the blob store, their listing, authorized downloads,
//! deletion, and the tenant's branding (name, address, colour, logo).
//!
//! - **Authorized as the owner.** Uploading or deleting a file is updating
//!   its owner (a package, a booking, …); listing and downloading is reading
//!   it. The owner is loaded first: another tenant's or an unseen branch's
//!   owner — or file — is `NotFound`, exactly like a missing one.
//! - **What a file is comes from its bytes** ([`check_upload`]): type, size
//!   limit of the owner's category, image dimensions. The client's file name
//!   survives only as a sanitised display name ([`display_name`]) for
//!   `Content-Disposition`; keys are `tenants/{tenant}/{category}/{file id}`.
//! - **Bytes, then row.** An upload writes the blob, then the row and its
//!   audit event in the unit of work that authorized it; when that unit
//!   fails, the blob is deleted again. Deleting removes the row (audited)
//!   and then the blob, once the unit committed — a failed blob delete
//!   leaves an unreachable blob, never a row without its bytes.
//! - **Downloads**: a presigned URL (at most 5 minutes) when the blob store
//!   can presign (S3), else the bytes, for the server to stream with the
//!   stored type.
//! - **Owners going away** take their files with them: the bookings and
//!   clients services call [`delete_owned_rows`] in their delete's unit of
//!   work and [`purge_blobs`] after its commit; [`Files::delete_owned`] does
//!   both for any owner.
//!
//! ```
//! use tms_core::id::BookingId;
//! use tms_core::ports::{BlobCategory, FileOwner};
//! // A booking's documents are passport scans and visas: images or PDFs,
//! // kept under the booking-documents category of the blob store.
//! let owner = FileOwner::Booking(BookingId::new());
//! assert_eq!(owner.category(), BlobCategory::BookingDocument);
//! assert_eq!(owner.kind(), "booking");
//! // With a store and a blob store (SQL + local disk or S3):
//! // let files = Files::new(deps, blobs);
//! // let file = files.upload(&ctx, owner, "visa.pdf", bytes).await?;
//! // let download = files.download(&ctx, file.id).await?; // Redirect or Bytes
//! ```

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::audit::NewAuditEvent;
use crate::domain::{BookingStatus, Context, Phone};
use crate::error::{Error, FieldErrors, Result};
use crate::files::{ContentType, check_upload, display_name};
use crate::id::{BranchId, FileId, TenantId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{
    BlobKey, BlobStore, Branding, BrandingSettings, EmergencyContact, FileOwner, Page, PageRequest,
    StoredFile, UnitOfWork,
};
use crate::service::guard::authorize_in;
use crate::service::tenancy::Deps;

/// How long a presigned download URL lives: the link is handed to one
/// authorized caller, who follows it at once.
pub const PRESIGN_LIFETIME_SECS: i64 = 5 * 60;

/// The most address lines of a tenant's branding.
pub const MAX_ADDRESS_LINES: usize = 6;

/// What a download answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// Send the caller to this short-lived URL (S3: a presigned GET).
    Redirect {
        /// The file.
        file: StoredFile,
        /// Where its bytes are, for a few minutes.
        url: String,
    },
    /// The bytes, to stream with the file's stored type.
    Bytes {
        /// The file.
        file: StoredFile,
        /// Its content.
        bytes: Vec<u8>,
    },
}

/// A change of the tenant's branding, as a form gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandingUpdate {
    /// The agency's name as printed (empty: the tenant's name).
    pub agency_name: String,
    /// Postal address lines (at most [`MAX_ADDRESS_LINES`]).
    pub address: Vec<String>,
    /// Accent colour `#rrggbb`, if any.
    pub accent_colour: Option<String>,
    /// The branding's `version` when read (0 if never saved); stale is a
    /// `Conflict`.
    pub version: i64,
    // --- documents follow-ups (issue 8) ---
    /// Who travellers call in an emergency, printed on every voucher; none
    /// clears it (the voucher then names the agency and its address).
    pub emergency_contact: Option<EmergencyContactUpdate>,
}

// --- documents follow-ups (issue 8) ---
/// The emergency contact as a form gives it; checked by
/// [`Files::update_branding`]: the phone must be an international number,
/// the name up to 100 characters, the notes up to 200, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmergencyContactUpdate {
    /// The number, e.g. `+966 50 123 4567`.
    pub phone: String,
    /// Who answers.
    pub name: String,
    /// Hours, languages, …
    pub notes: String,
}

/// The longest emergency contact name.
pub const MAX_EMERGENCY_NAME: usize = 100;
/// The longest emergency contact notes.
pub const MAX_EMERGENCY_NOTES: usize = 200;

/// Checks an emergency contact change (see [`EmergencyContactUpdate`]).
fn validate_emergency_contact(
    update: Option<&EmergencyContactUpdate>,
) -> Result<Option<EmergencyContact>> {
    let Some(update) = update else {
        return Ok(None);
    };
    let mut errors = FieldErrors::new();
    let phone = match Phone::parse(&update.phone) {
        Ok(phone) => Some(phone),
        Err(_) => {
            errors.push(
                "emergency_contact.phone",
                "must be an international number starting with + and a country code",
            );
            None
        }
    };
    let name = update.name.trim().to_owned();
    if name.chars().count() > MAX_EMERGENCY_NAME || name.chars().any(char::is_control) {
        errors.push(
            "emergency_contact.name",
            format!("must have at most {MAX_EMERGENCY_NAME} characters, no control characters"),
        );
    }
    let notes = update.notes.trim().to_owned();
    if notes.chars().count() > MAX_EMERGENCY_NOTES || notes.chars().any(char::is_control) {
        errors.push(
            "emergency_contact.notes",
            format!("must have at most {MAX_EMERGENCY_NOTES} characters, no control characters"),
        );
    }
    errors.into_result()?;
    Ok(phone.map(|phone| EmergencyContact { phone, name, notes }))
}

/// The files service.
#[derive(Debug, Clone)]
pub struct Files {
    deps: Deps,
    blobs: Arc<dyn BlobStore>,
}

impl Files {
    /// The service over `deps`, keeping bytes in `blobs`.
    pub fn new(deps: Deps, blobs: Arc<dyn BlobStore>) -> Self {
        Self { deps, blobs }
    }

    /// The blob store.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Uploads `bytes` as a file of `owner`, offered as `file_name`.
    pub async fn upload(
        &self,
        ctx: &Context,
        owner: FileOwner,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<StoredFile> {
        let (uow, branch) = self.authorize_owner(ctx, owner, Action::Update).await?;
        let (uow, file) = self
            .store_new(uow, ctx, owner, branch, file_name, bytes)
            .await?;
        let key = file.key();
        match uow.commit().await {
            Ok(()) => Ok(file),
            Err(e) => {
                let _ = self.blobs.delete(&key).await;
                Err(e)
            }
        }
    }

    /// Checks and stores the bytes, then writes the row and its audit
    /// event in `uow` (not committed). On failure the blob is removed.
    async fn store_new(
        &self,
        mut uow: Box<dyn UnitOfWork>,
        ctx: &Context,
        owner: FileOwner,
        branch: Option<BranchId>,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(Box<dyn UnitOfWork>, StoredFile)> {
        let checked = check_upload(owner.category(), &bytes)?;
        let file = StoredFile {
            id: FileId::generate_at(ctx.now, self.deps.random.as_ref()),
            tenant_id: ctx.principal.tenant_id(),
            owner,
            branch_id: branch,
            content_type: checked.content_type,
            size: bytes.len() as u64,
            sha256: Sha256::digest(&bytes).into(),
            file_name: display_name(file_name, checked.content_type),
            created_by: ctx.principal.user_id(),
            created_at: ctx.now,
        };
        let key = file.key();
        self.blobs
            .put(&key, bytes, checked.content_type.mime())
            .await?;
        let written = async {
            uow.files().insert(&file).await?;
            let mut event = NewAuditEvent::new(ctx, "file.uploaded", "file", Some(file.id.into()))
                .with_change(None, Some(audit_view(&file)));
            if let Some(branch) = branch {
                event = event.in_branch(branch);
            }
            uow.audit().append(event).await.map(drop)
        }
        .await;
        match written {
            Ok(()) => Ok((uow, file)),
            Err(e) => {
                drop(uow);
                let _ = self.blobs.delete(&key).await;
                Err(e)
            }
        }
    }

    /// The files of `owner`, oldest first.
    pub async fn list(
        &self,
        ctx: &Context,
        owner: FileOwner,
        page: PageRequest,
    ) -> Result<Page<StoredFile>> {
        let (mut uow, _) = self.authorize_owner(ctx, owner, Action::Read).await?;
        let page = uow
            .files()
            .list_for_owner(ctx.principal.tenant_id(), owner, page)
            .await?;
        uow.rollback().await?;
        Ok(page)
    }

    /// What is known about one file.
    pub async fn get(&self, ctx: &Context, id: FileId) -> Result<StoredFile> {
        let (uow, file) = self.load(ctx, id, Action::Read).await?;
        uow.rollback().await?;
        Ok(file)
    }

    /// A file's content: a short-lived URL where the blob store presigns,
    /// else the bytes.
    pub async fn download(&self, ctx: &Context, id: FileId) -> Result<Download> {
        let (uow, file) = self.load(ctx, id, Action::Read).await?;
        uow.rollback().await?;
        let key = file.key();
        if let Some(url) = self
            .blobs
            .presign_get(&key, Duration::seconds(PRESIGN_LIFETIME_SECS))
            .await?
        {
            return Ok(Download::Redirect { file, url });
        }
        let bytes = self.blobs.get(&key).await?;
        Ok(Download::Bytes { file, bytes })
    }

    /// Deletes one file (audited as `file.deleted`).
    pub async fn delete(&self, ctx: &Context, id: FileId) -> Result<()> {
        let (mut uow, file) = self.load(ctx, id, Action::Update).await?;
        let tenant = file.tenant_id;
        if file.owner == FileOwner::Branding {
            // The logo goes with its file (first: the branding points at it).
            clear_logo(&mut *uow, tenant, Some(id)).await?;
        }
        if !uow.files().delete(tenant, id).await? {
            return Err(Error::not_found("file"));
        }
        uow.audit().append(deleted_event(ctx, &file)).await?;
        uow.commit().await?;
        purge_blobs(Some(&self.blobs), &[file.key()]).await;
        Ok(())
    }

    /// Deletes every file of `owner` (authorized as updating it); how many.
    pub async fn delete_owned(&self, ctx: &Context, owner: FileOwner) -> Result<usize> {
        let (mut uow, _) = self.authorize_owner(ctx, owner, Action::Update).await?;
        let keys = delete_owned_rows(&mut *uow, ctx, owner).await?;
        uow.commit().await?;
        purge_blobs(Some(&self.blobs), &keys).await;
        Ok(keys.len())
    }

    /// The tenant's branding settings, as stored. Any user of the tenant
    /// may read them: they are printed on every document it sends.
    pub async fn branding_settings(&self, ctx: &Context) -> Result<BrandingSettings> {
        let mut uow = self.deps.store.begin().await?;
        let settings = uow.files().branding(ctx.principal.tenant_id()).await?;
        uow.rollback().await?;
        Ok(settings)
    }

    /// Changes the branding's name, address and colour (tenant settings:
    /// Tenant Super Admins and Admins), audited as `branding.updated`.
    pub async fn update_branding(
        &self,
        ctx: &Context,
        update: BrandingUpdate,
    ) -> Result<BrandingSettings> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let (agency_name, address, accent_colour) = validate_branding(update.clone())?;
        let emergency_contact = validate_emergency_contact(update.emergency_contact.as_ref())?;
        let before = uow.files().branding(tenant).await?;
        if before.version != update.version {
            return Err(Error::conflict(
                "the branding was changed by someone else; reload and retry",
            ));
        }
        let mut after = before.clone();
        after.agency_name = agency_name;
        after.address = address;
        after.accent_colour = accent_colour;
        after.emergency_contact = emergency_contact;
        uow.files().put_branding(&mut after).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "branding.updated", "tenant settings", None)
                    .with_change(Some(branding_view(&before)), Some(branding_view(&after))),
            )
            .await?;
        uow.commit().await?;
        Ok(after)
    }

    /// Replaces the tenant's logo (PNG or JPEG, at most 2 MiB): the new
    /// file is stored, set as the logo and the old one deleted, in one
    /// unit of work.
    pub async fn upload_logo(
        &self,
        ctx: &Context,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<StoredFile> {
        // Documents embed the logo; the PDF renderer reads PNG and JPEG.
        if crate::files::detect(&bytes) == Some(ContentType::WebP) {
            return Err(Error::invalid("file", "a logo must be a PNG or JPEG image"));
        }
        let (uow, _) = self
            .authorize_owner(ctx, FileOwner::Branding, Action::Update)
            .await?;
        let (mut uow, file) = self
            .store_new(uow, ctx, FileOwner::Branding, None, file_name, bytes)
            .await?;
        let tenant = file.tenant_id;
        let replaced = async {
            let mut branding = uow.files().branding(tenant).await?;
            let old = match branding.logo {
                Some(old) => uow.files().get(tenant, old).await?,
                None => None,
            };
            branding.logo = Some(file.id);
            uow.files().put_branding(&mut branding).await?;
            if let Some(old) = &old {
                uow.files().delete(tenant, old.id).await?;
                uow.audit().append(deleted_event(ctx, old)).await?;
            }
            Ok::<_, Error>(old)
        }
        .await;
        let committed = match replaced {
            Ok(old) => uow.commit().await.map(|()| old),
            Err(e) => Err(e),
        };
        match committed {
            Ok(old) => {
                if let Some(old) = old {
                    purge_blobs(Some(&self.blobs), &[old.key()]).await;
                }
                Ok(file)
            }
            Err(e) => {
                let _ = self.blobs.delete(&file.key()).await;
                Err(e)
            }
        }
    }

    /// The agency's name as documents and invites print it: the branding's
    /// name, else the tenant's. Any principal of the tenant may read it.
    pub async fn agency_name(&self, ctx: &Context) -> Result<String> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let settings = uow.files().branding(tenant).await?;
        let name = if settings.agency_name.is_empty() {
            uow.tenants()
                .get(tenant)
                .await?
                .map(|t| t.name.to_string())
                .unwrap_or_default()
        } else {
            settings.agency_name
        };
        uow.rollback().await?;
        Ok(name)
    }

    /// The tenant's look for its documents: the agency's name (the
    /// tenant's name until one is set), address, accent colour and the
    /// logo's bytes from the blob store. For the documents service: any
    /// principal of the tenant (a user or a system job) may read it.
    pub async fn branding(&self, ctx: &Context) -> Result<Branding> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let settings = uow.files().branding(tenant).await?;
        let logo = match settings.logo {
            Some(id) => uow.files().get(tenant, id).await?,
            None => None,
        };
        let name = if settings.agency_name.is_empty() {
            uow.tenants()
                .get(tenant)
                .await?
                .map(|t| t.name.to_string())
                .unwrap_or_default()
        } else {
            settings.agency_name.clone()
        };
        uow.rollback().await?;
        let logo = match logo {
            Some(file) => match self.blobs.get(&file.key()).await {
                Ok(bytes) => Some(bytes),
                // A logo lost from the store must not stop every voucher.
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok(Branding {
            agency_name: name,
            address: settings.address,
            logo,
            accent_colour: settings.accent_colour,
        })
    }

    /// Loads file `id` of the caller's tenant and authorizes `action` on
    /// its owner; another tenant's or an unseen owner's file is `NotFound`.
    async fn load(
        &self,
        ctx: &Context,
        id: FileId,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, StoredFile)> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.deps.store.begin().await?;
        let file = uow
            .files()
            .get(tenant, id)
            .await?
            .ok_or(Error::not_found("file"))?;
        let (uow, _) = self
            .authorize_owner_in(uow, ctx, file.owner, action)
            .await
            .map_err(|e| match e {
                // The owner is gone or unseen: so is its file.
                Error::NotFound { .. } => Error::not_found("file"),
                other => other,
            })?;
        Ok((uow, file))
    }

    async fn authorize_owner(
        &self,
        ctx: &Context,
        owner: FileOwner,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, Option<BranchId>)> {
        let uow = self.deps.store.begin().await?;
        self.authorize_owner_in(uow, ctx, owner, action).await
    }

    /// Loads `owner` in the caller's tenant and scope, then authorizes
    /// `action` on it; returns its branch, if it has one.
    async fn authorize_owner_in(
        &self,
        mut uow: Box<dyn UnitOfWork>,
        ctx: &Context,
        owner: FileOwner,
        action: Action,
    ) -> Result<(Box<dyn UnitOfWork>, Option<BranchId>)> {
        let tenant = ctx.principal.tenant_id();
        let kind = owner.resource_kind();
        let (resource, branch) = match owner {
            FileOwner::Package(id) => {
                uow.catalogue()
                    .get_package(tenant, id)
                    .await?
                    .ok_or(Error::not_found("package"))?;
                (Resource::new(kind, tenant).with_id(id), None)
            }
            FileOwner::Category(id) => {
                uow.catalogue()
                    .get_category(tenant, id)
                    .await?
                    .ok_or(Error::not_found("category"))?;
                (Resource::new(kind, tenant).with_id(id), None)
            }
            FileOwner::Branding => {
                if action == Action::Read {
                    // Printed on every document: every user of the tenant
                    // may see the logo.
                    return Ok((uow, None));
                }
                (Resource::new(kind, tenant), None)
            }
            FileOwner::Booking(id) => {
                let booking = uow
                    .bookings()
                    .get(tenant, id)
                    .await?
                    .filter(|b| ctx.principal.sees_branch(b.branch_id))
                    .ok_or(Error::not_found("booking"))?;
                let mut resource = Resource::new(kind, tenant)
                    .with_id(id)
                    .in_branch(booking.branch_id);
                if booking.status == BookingStatus::Draft {
                    resource = resource.draft();
                }
                (resource, Some(booking.branch_id))
            }
            FileOwner::Client(id) => {
                let client = uow
                    .clients()
                    .get(tenant, id)
                    .await?
                    .filter(|c| ctx.principal.sees_branch(c.branch_id))
                    .ok_or(Error::not_found("client"))?;
                (
                    Resource::new(kind, tenant)
                        .with_id(id)
                        .in_branch(client.branch_id),
                    Some(client.branch_id),
                )
            }
        };
        let uow = authorize_in(uow, &self.deps, ctx, action, &resource, None).await?;
        Ok((uow, branch))
    }
}

/// Removes every file row of `owner` in `uow`, each audited as
/// `file.deleted`; returns the blob keys to delete once `uow` commits
/// (with [`purge_blobs`]). For the delete paths of the owners' services.
pub async fn delete_owned_rows(
    uow: &mut dyn UnitOfWork,
    ctx: &Context,
    owner: FileOwner,
) -> Result<Vec<BlobKey>> {
    let tenant: TenantId = ctx.principal.tenant_id();
    if owner == FileOwner::Branding {
        clear_logo(uow, tenant, None).await?;
    }
    let removed = uow.files().delete_owned(tenant, owner).await?;
    for file in &removed {
        uow.audit().append(deleted_event(ctx, file)).await?;
    }
    Ok(removed.iter().map(StoredFile::key).collect())
}

/// Deletes the blobs of rows already deleted and committed. A failure
/// leaves an unreachable blob (no row points at it), which is harmless;
/// it is not the caller's error, whose change is already durable.
pub async fn purge_blobs(blobs: Option<&Arc<dyn BlobStore>>, keys: &[BlobKey]) {
    if let Some(blobs) = blobs {
        for key in keys {
            let _ = blobs.delete(key).await;
        }
    }
}

/// Unsets the tenant's logo if it is `file` (any logo for `None`).
async fn clear_logo(
    uow: &mut dyn UnitOfWork,
    tenant: TenantId,
    file: Option<FileId>,
) -> Result<()> {
    let mut branding = uow.files().branding(tenant).await?;
    if branding.logo.is_some() && (file.is_none() || branding.logo == file) {
        branding.logo = None;
        uow.files().put_branding(&mut branding).await?;
    }
    Ok(())
}

fn deleted_event(ctx: &Context, file: &StoredFile) -> NewAuditEvent {
    let event = NewAuditEvent::new(ctx, "file.deleted", "file", Some(file.id.into()))
        .with_change(Some(audit_view(file)), None);
    match file.branch_id {
        Some(branch) => event.in_branch(branch),
        None => event,
    }
}

fn audit_view(file: &StoredFile) -> serde_json::Value {
    json!({
        "owner_kind": file.owner.kind(),
        "owner_id": file.owner.id(file.tenant_id),
        "content_type": file.content_type.mime(),
        "size": file.size,
        "sha256": file.sha256_hex(),
        "file_name": file.file_name,
    })
}

fn branding_view(b: &BrandingSettings) -> serde_json::Value {
    json!({
        "agency_name": b.agency_name,
        "address": b.address,
        "accent_colour": b.accent_colour,
        "logo": b.logo,
        "emergency_contact": b.emergency_contact.as_ref().map(|c| json!({
            "phone": c.phone.as_str(), "name": c.name, "notes": c.notes,
        })),
    })
}

/// Checks a branding change: name up to 200 characters, up to
/// [`MAX_ADDRESS_LINES`] non-empty lines of up to 200, colour `#rrggbb`
/// (stored lower-case); no control characters anywhere.
fn validate_branding(update: BrandingUpdate) -> Result<(String, Vec<String>, Option<String>)> {
    let mut errors = FieldErrors::new();
    let name = update.agency_name.trim().to_owned();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        errors.push(
            "agency_name",
            "must have at most 200 characters, no control characters",
        );
    }
    if update.address.len() > MAX_ADDRESS_LINES {
        errors.push(
            "address",
            format!("must have at most {MAX_ADDRESS_LINES} lines"),
        );
    }
    let mut address = Vec::with_capacity(update.address.len());
    for (i, line) in update.address.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.chars().count() > 200 || line.chars().any(char::is_control) {
            errors.push(
                format!("address[{i}]"),
                "must have 1 to 200 characters, no control characters",
            );
        }
        address.push(line.to_owned());
    }
    let colour = match update.accent_colour.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => {
            let hex = c.strip_prefix('#').unwrap_or("");
            if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(format!("#{}", hex.to_ascii_lowercase()))
            } else {
                errors.push("accent_colour", "must be a colour like #1a73e8");
                None
            }
        }
    };
    errors.into_result()?;
    Ok((name, address, colour))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn update(colour: Option<&str>) -> BrandingUpdate {
        BrandingUpdate {
            agency_name: " Al Noor Travel ".into(),
            address: vec!["1 King Road".into(), "Jeddah".into()],
            accent_colour: colour.map(str::to_owned),
            version: 0,
            emergency_contact: None,
        }
    }

    // --- documents follow-ups (issue 8) ---
    #[test]
    fn emergency_contacts_need_a_real_phone_and_bounded_text() {
        let contact = |phone: &str, name: &str, notes: &str| EmergencyContactUpdate {
            phone: phone.into(),
            name: name.into(),
            notes: notes.into(),
        };
        assert_eq!(validate_emergency_contact(None).unwrap(), None);
        let ok =
            validate_emergency_contact(Some(&contact("+966 50 123 4567", " Duty desk ", "24/7")))
                .unwrap()
                .unwrap();
        assert_eq!(ok.phone.as_str(), "+966501234567");
        assert_eq!(ok.name, "Duty desk");
        for bad in [
            contact("0501234567", "Desk", ""),
            contact("", "Desk", ""),
            contact("+966501234567", &"x".repeat(101), ""),
            contact("+966501234567", "Desk", &"x".repeat(201)),
            contact("+966501234567", "Desk\u{7}", ""),
        ] {
            let err = validate_emergency_contact(Some(&bad)).unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn colours_must_be_hash_and_six_hex_digits() {
        let (name, address, colour) = validate_branding(update(Some("#1A73E8"))).unwrap();
        assert_eq!(name, "Al Noor Travel");
        assert_eq!(address, ["1 King Road", "Jeddah"]);
        assert_eq!(colour.as_deref(), Some("#1a73e8"));
        assert_eq!(validate_branding(update(None)).unwrap().2, None);
        for bad in [
            "1a73e8",
            "#1a73e",
            "#1a73e8f",
            "#gggggg",
            "red",
            "#１２３４５６",
        ] {
            let err = validate_branding(update(Some(bad))).unwrap_err();
            assert!(err.to_string().contains("accent_colour"), "{bad}: {err}");
        }
    }

    #[test]
    fn address_lines_are_bounded_and_clean() {
        let mut u = update(None);
        u.address = vec!["x".into(); MAX_ADDRESS_LINES + 1];
        assert!(validate_branding(u).is_err());
        let mut u = update(None);
        u.address = vec!["ok".into(), " ".into(), "bell\u{7}".into()];
        let Err(Error::Invalid(errors)) = validate_branding(u) else {
            panic!("expected invalid");
        };
        let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["address[1]", "address[2]"]);
    }
}

// --- privacy (issue 7) ---

/// The files the privacy service exports and erases with a person (its
/// [`PersonFiles`](crate::service::privacy::PersonFiles) hook): a client's
/// own documents (owner `client`). Booking documents stay with their
/// booking, which can name other travellers; pilgrims and users own no
/// files.
#[derive(Debug, Clone)]
pub struct PeopleFiles {
    blobs: Arc<dyn BlobStore>,
}

impl PeopleFiles {
    /// The hook over the blob store that holds the bytes.
    pub fn new(blobs: Arc<dyn BlobStore>) -> Self {
        Self { blobs }
    }
}

fn reference(file: &StoredFile) -> crate::service::privacy::FileReference {
    crate::service::privacy::FileReference {
        id: file.id.as_uuid(),
        category: file.owner.kind().to_owned(),
        file_name: Some(file.file_name.clone()),
        content_type: file.content_type.mime().to_owned(),
        size_bytes: file.size,
        created_at: file.created_at,
    }
}

#[async_trait::async_trait]
impl crate::service::privacy::PersonFiles for PeopleFiles {
    async fn list(
        &self,
        uow: &mut dyn crate::ports::UnitOfWork,
        tenant: TenantId,
        kind: crate::ports::SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Vec<crate::service::privacy::FileReference>> {
        if kind != crate::ports::SubjectKind::Client {
            return Ok(Vec::new());
        }
        let owner = FileOwner::Client(crate::id::ClientId::from_uuid(id));
        let mut out = Vec::new();
        let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
        loop {
            let found: Page<StoredFile> = uow.files().list_for_owner(tenant, owner, page).await?;
            out.extend(found.items.iter().map(reference));
            match found.next {
                Some(next) => {
                    page = PageRequest::new(Some(PageRequest::MAX_LIMIT), Some(&next.encode()))?;
                }
                None => return Ok(out),
            }
        }
    }

    async fn erase(
        &self,
        uow: &mut dyn crate::ports::UnitOfWork,
        tenant: TenantId,
        kind: crate::ports::SubjectKind,
        id: uuid::Uuid,
    ) -> Result<Vec<crate::service::privacy::FileReference>> {
        if kind != crate::ports::SubjectKind::Client {
            return Ok(Vec::new());
        }
        let owner = FileOwner::Client(crate::id::ClientId::from_uuid(id));
        let removed = uow.files().delete_owned(tenant, owner).await?;
        Ok(removed.iter().map(reference).collect())
    }

    async fn delete_blobs(
        &self,
        tenant: TenantId,
        files: &[crate::service::privacy::FileReference],
    ) -> Result<()> {
        // Client documents live beside booking documents (see
        // `FileOwner::category`).
        for file in files {
            let key = BlobKey::new(tenant, crate::ports::BlobCategory::BookingDocument, file.id);
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }
}
