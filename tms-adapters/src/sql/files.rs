//! The files repository (schema 9), written once for both databases: one
//! row per uploaded file (the bytes are in the blob store) and one per
//! tenant's saved branding.

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait as _, Query};
use tms_core::domain::Phone;
use tms_core::files::ContentType;
use tms_core::id::{BranchId, FileId, TenantId, UserId};
use tms_core::ports::{
    BrandingSettings, Cursor, EmergencyContact, FileOwner, FileRepo, Page, PageRequest, StoredFile,
};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{
    SqlUnitOfWork, built, bytes, corrupt, int, opt_text, opt_uuid, page_of, text, uuid,
};

const FILE_COLS: [&str; 11] = [
    "tenant_id",
    "id",
    "owner_kind",
    "owner_id",
    "branch_id",
    "content_type",
    "size_bytes",
    "sha256",
    "file_name",
    "created_by",
    "created_at",
];

fn file_of(row: &Row) -> Result<StoredFile> {
    Ok(StoredFile {
        id: FileId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        owner: FileOwner::from_parts(&row.text("owner_kind")?, row.uuid("owner_id")?)
            .ok_or_else(|| corrupt("file owner"))?,
        branch_id: row.opt_uuid("branch_id")?.map(BranchId::from_uuid),
        content_type: ContentType::from_mime(&row.text("content_type")?)
            .ok_or_else(|| corrupt("file content type"))?,
        size: u64::try_from(row.i64("size_bytes")?).map_err(|_| corrupt("file size"))?,
        sha256: row.hash("sha256")?,
        file_name: row.text("file_name")?,
        created_by: row.opt_uuid("created_by")?.map(UserId::from_uuid),
        created_at: row.ts("created_at")?,
    })
}

fn owner_filter(q: &mut sea_query::SelectStatement, tenant: TenantId, owner: FileOwner) {
    q.and_where(Expr::col("tenant_id").eq(uuid(tenant)))
        .and_where(Expr::col("owner_kind").eq(owner.kind()))
        .and_where(Expr::col("owner_id").eq(uuid(owner.id(tenant))));
}

#[async_trait]
impl FileRepo for SqlUnitOfWork {
    async fn insert(&mut self, file: &StoredFile) -> Result<()> {
        self.for_tenant(file.tenant_id).await?;
        let size = i64::try_from(file.size).map_err(|_| Error::invalid("file", "is too large"))?;
        self.insert_new(
            Query::insert()
                .into_table("files")
                .columns(FILE_COLS)
                .values([
                    uuid(file.tenant_id),
                    uuid(file.id),
                    text(file.owner.kind()),
                    uuid(file.owner.id(file.tenant_id)),
                    opt_uuid(file.branch_id),
                    text(file.content_type.mime()),
                    int(size),
                    bytes(&file.sha256),
                    text(&file.file_name),
                    opt_uuid(file.created_by),
                    self.ts(file.created_at),
                ]),
            "a file with this id exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: FileId) -> Result<Option<StoredFile>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(FILE_COLS)
            .from("files")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, file_of).await
    }

    async fn list_for_owner(
        &mut self,
        tenant: TenantId,
        owner: FileOwner,
        page: PageRequest,
    ) -> Result<Page<StoredFile>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(FILE_COLS).from("files");
        owner_filter(&mut q, tenant, owner);
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(file_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |f| Cursor {
            created_at: f.created_at,
            id: f.id.as_uuid(),
        }))
    }

    async fn delete(&mut self, tenant: TenantId, id: FileId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("files")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }

    async fn delete_owned(
        &mut self,
        tenant: TenantId,
        owner: FileOwner,
    ) -> Result<Vec<StoredFile>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(FILE_COLS).from("files");
        owner_filter(&mut q, tenant, owner);
        let rows = self.tx.fetch_all(&q).await?;
        let files = rows.iter().map(file_of).collect::<Result<Vec<_>>>()?;
        if !files.is_empty() {
            let q = Query::delete()
                .from_table("files")
                .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
                .and_where(Expr::col("owner_kind").eq(owner.kind()))
                .and_where(Expr::col("owner_id").eq(uuid(owner.id(tenant))))
                .to_owned();
            self.tx.execute(&q).await?;
        }
        Ok(files)
    }

    async fn branding(&mut self, tenant: TenantId) -> Result<BrandingSettings> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns([
                "agency_name",
                "address",
                "accent_colour",
                "logo_file_id",
                "version",
                // --- documents follow-ups (issue 8) ---
                "emergency_phone",
                "emergency_name",
                "emergency_notes",
            ])
            .from("tenant_branding")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            None => Ok(BrandingSettings::defaults(tenant)),
            Some(row) => Ok(BrandingSettings {
                tenant_id: tenant,
                agency_name: row.text("agency_name")?,
                address: serde_json::from_str(&row.text("address")?)
                    .map_err(|_| corrupt("branding address"))?,
                accent_colour: row.opt_text("accent_colour")?,
                logo: row.opt_uuid("logo_file_id")?.map(FileId::from_uuid),
                version: row.i64("version")?,
                emergency_contact: emergency_contact_of(&row)?,
            }),
        }
    }

    async fn put_branding(&mut self, branding: &mut BrandingSettings) -> Result<()> {
        self.for_tenant(branding.tenant_id).await?;
        let address = serde_json::to_string(&branding.address)
            .map_err(|e| Error::internal(format!("branding address: {e}")))?;
        let contact = branding.emergency_contact.as_ref();
        let phone = contact.map(|c| c.phone.as_str());
        let name = contact.map(|c| c.name.as_str());
        let notes = contact.map(|c| c.notes.as_str());
        let changed = if branding.version == 0 {
            // Never saved: insert, unless someone else just did.
            let q = built(
                Query::insert()
                    .into_table("tenant_branding")
                    .columns([
                        "tenant_id",
                        "agency_name",
                        "address",
                        "accent_colour",
                        "logo_file_id",
                        "version",
                        "emergency_phone",
                        "emergency_name",
                        "emergency_notes",
                    ])
                    .values([
                        uuid(branding.tenant_id),
                        text(&branding.agency_name),
                        text(&address),
                        opt_text(branding.accent_colour.as_deref()),
                        opt_uuid(branding.logo),
                        int(1),
                        opt_text(phone),
                        opt_text(name),
                        opt_text(notes),
                    ])
                    .map(|q| q.on_conflict(sea_query::OnConflict::new().do_nothing().to_owned())),
            )?;
            self.tx.execute(&q).await?
        } else {
            let q = Query::update()
                .table("tenant_branding")
                .value("agency_name", branding.agency_name.as_str())
                .value("address", address.as_str())
                .value("accent_colour", opt_text(branding.accent_colour.as_deref()))
                .value("logo_file_id", opt_uuid(branding.logo))
                .value("emergency_phone", opt_text(phone))
                .value("emergency_name", opt_text(name))
                .value("emergency_notes", opt_text(notes))
                .value("version", Expr::col("version").add(1))
                .and_where(Expr::col("tenant_id").eq(uuid(branding.tenant_id)))
                .and_where(Expr::col("version").eq(branding.version))
                .to_owned();
            self.tx.execute(&q).await?
        };
        if changed == 1 {
            branding.version += 1;
            Ok(())
        } else {
            Err(Error::conflict(
                "the branding was changed by someone else; reload and retry",
            ))
        }
    }
}

// --- documents follow-ups (issue 8) ---
/// The emergency contact columns (schema 14): all null, or a phone with
/// its name and notes.
fn emergency_contact_of(row: &Row) -> Result<Option<EmergencyContact>> {
    let Some(phone) = row.opt_text("emergency_phone")? else {
        return Ok(None);
    };
    Ok(Some(EmergencyContact {
        phone: Phone::parse(&phone).map_err(|_| corrupt("emergency phone"))?,
        name: row.opt_text("emergency_name")?.unwrap_or_default(),
        notes: row.opt_text("emergency_notes")?.unwrap_or_default(),
    }))
}
