//! Contract cases of the files repository and of the files service over
//! it: file rows stay with their owner and tenant, branding saves under its
//! version, uploads are authorized and scoped as their owners, deleting an
//! owner deletes its files, and a failed upload leaves no bytes behind.
//!
//! The service cases keep bytes in [`MemoryBlobStore`]: they are about the
//! store and the service. The real blob stores pass their own suite
//! ([`crate::blob_contract_tests!`]) and the HTTP tests use them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::{BranchScope, Context, Principal, Role};
use crate::error::{Error, Result};
use crate::files::ContentType;
use crate::id::{FileId, TenantId, UserId};
use crate::ports::{
    BlobKey, BlobStore, BrandingSettings, FileOwner, PageRequest, Store, StoredFile,
};
use crate::service::files::{BrandingUpdate, Download, Files};
use crate::service::tenancy::Deps;

use super::bookings::BookingWorld;
use super::{new_branch, now, seed_tenant};

/// A complete, valid 2×2 RGB PNG.
pub const TINY_PNG: [u8; 74] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0x00, 0x04,
    0xff, 0x21, 0xf8, 0xff, 0x7f, 0x00, 0x1e, 0xf0, 0x04, 0xfc, 0x88, 0xc4, 0xb3, 0xfc, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A small, complete PDF document.
pub fn tiny_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
      2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
      trailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec()
}

/// A [`BlobStore`] in memory, for tests about something else. With
/// [`MemoryBlobStore::presigning`] it answers presigns with a fake URL.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
    presign_base: Option<String>,
}

impl MemoryBlobStore {
    /// An empty store that cannot presign.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store presigning as `{base}/{key}?expires={secs}`.
    pub fn presigning(base: &str) -> Self {
        Self {
            presign_base: Some(base.to_owned()),
            ..Self::default()
        }
    }

    /// Every key stored, in order.
    pub fn keys(&self) -> Vec<String> {
        self.blobs.lock().expect("lock").keys().cloned().collect()
    }

    /// The content type a blob was put with.
    pub fn content_type(&self, key: &BlobKey) -> Option<String> {
        self.blobs
            .lock()
            .expect("lock")
            .get(key.as_str())
            .map(|(_, t)| t.clone())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.blobs
            .lock()
            .expect("lock")
            .insert(key.as_str().to_owned(), (bytes, content_type.to_owned()));
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        self.blobs
            .lock()
            .expect("lock")
            .get(key.as_str())
            .map(|(b, _)| b.clone())
            .ok_or(Error::not_found("file"))
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        self.blobs.lock().expect("lock").remove(key.as_str());
        Ok(())
    }

    async fn presign_get(
        &self,
        key: &BlobKey,
        expires_in: chrono::Duration,
    ) -> Result<Option<String>> {
        Ok(self.presign_base.as_ref().map(|base| {
            format!(
                "{base}/{}?expires={}",
                key.as_str(),
                expires_in.num_seconds()
            )
        }))
    }
}

fn stored_file(tenant: TenantId, owner: FileOwner, name: &str) -> StoredFile {
    StoredFile {
        id: FileId::new(),
        tenant_id: tenant,
        owner,
        branch_id: None,
        content_type: ContentType::Png,
        size: TINY_PNG.len() as u64,
        sha256: [7; 32],
        file_name: name.to_owned(),
        created_by: Some(UserId::new()),
        created_at: now(),
    }
}

/// File rows round-trip exactly, list per owner in pages, stay in their
/// tenant, and `delete_owned` removes one owner's files and returns them.
pub async fn file_rows_round_trip_and_stay_with_their_owner(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let branch = new_branch(tenant.id, now());
    let booking = FileOwner::Booking(crate::id::BookingId::new());
    let package = FileOwner::Package(crate::id::PackageId::new());
    let mut mine = Vec::new();
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("branch");
    for i in 0..5 {
        let mut file = stored_file(tenant.id, booking, &format!("scan-{i}.png"));
        file.branch_id = Some(branch.id);
        file.content_type = ContentType::Pdf;
        uow.files().insert(&file).await.expect("insert");
        mine.push(file);
    }
    let package_file = stored_file(tenant.id, package, "photo.png");
    uow.files().insert(&package_file).await.expect("insert");
    // The same owner id under another tenant is another owner.
    let foreign = stored_file(other.id, booking, "foreign.png");
    uow.files().insert(&foreign).await.expect("insert");
    let duplicate = uow.files().insert(&package_file).await;
    assert!(
        matches!(duplicate, Err(Error::Conflict { .. })),
        "{duplicate:?}"
    );
    uow.commit().await.expect("commit");
    mine.sort_by_key(|f| (f.created_at, f.id));

    let mut uow = store.begin().await.expect("begin");
    let got = uow.files().get(tenant.id, mine[0].id).await.expect("get");
    assert_eq!(got.as_ref(), Some(&mine[0]));
    assert_eq!(
        uow.files().get(other.id, mine[0].id).await.expect("get"),
        None,
        "another tenant's file is a missing one"
    );
    let first = uow
        .files()
        .list_for_owner(
            tenant.id,
            booking,
            PageRequest::new(Some(2), None).expect("page"),
        )
        .await
        .expect("list");
    assert_eq!(first.items, mine[..2]);
    let rest = uow
        .files()
        .list_for_owner(
            tenant.id,
            booking,
            PageRequest::new(Some(10), Some(&first.next.expect("more").encode())).expect("page"),
        )
        .await
        .expect("list");
    assert_eq!(rest.items, mine[2..]);
    assert!(rest.next.is_none());

    let removed = uow
        .files()
        .delete_owned(tenant.id, booking)
        .await
        .expect("delete owned");
    assert_eq!(removed.len(), 5);
    assert!(
        uow.files()
            .list_for_owner(tenant.id, booking, PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    // The other owner's and the other tenant's files stay.
    assert!(
        uow.files()
            .get(tenant.id, package_file.id)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        uow.files()
            .get(other.id, foreign.id)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        uow.files()
            .delete(tenant.id, package_file.id)
            .await
            .expect("delete")
    );
    assert!(
        !uow.files()
            .delete(tenant.id, package_file.id)
            .await
            .expect("again")
    );
    assert!(
        !uow.files()
            .delete(tenant.id, foreign.id)
            .await
            .expect("foreign")
    );
    uow.commit().await.expect("commit");
}

/// Branding starts as the defaults (version 0), saves once per version,
/// points at a logo file, and is per tenant.
pub async fn branding_saves_under_its_version(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let logo = stored_file(tenant.id, FileOwner::Branding, "logo.png");
    let mut uow = store.begin().await.expect("begin");
    let mut branding = uow.files().branding(tenant.id).await.expect("branding");
    assert_eq!(branding, BrandingSettings::defaults(tenant.id));
    uow.files().insert(&logo).await.expect("logo");
    branding.agency_name = "نور للسفر".into();
    branding.address = vec!["1 King Road".into(), "Jeddah 21442".into()];
    branding.accent_colour = Some("#1a73e8".into());
    branding.logo = Some(logo.id);
    let mut stale = branding.clone();
    uow.files()
        .put_branding(&mut branding)
        .await
        .expect("first save");
    assert_eq!(branding.version, 1);
    let again = uow.files().put_branding(&mut stale).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.files().branding(tenant.id).await.expect("read"),
        branding
    );
    assert_eq!(
        uow.files().branding(other.id).await.expect("other"),
        BrandingSettings::defaults(other.id)
    );
    branding.logo = None;
    branding.address.clear();
    uow.files()
        .put_branding(&mut branding)
        .await
        .expect("second save");
    assert_eq!(branding.version, 2);
    let mut stale = branding.clone();
    stale.version = 1;
    assert!(uow.files().put_branding(&mut stale).await.is_err());
    uow.commit().await.expect("commit");
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.files().branding(tenant.id).await.expect("read"),
        branding
    );
    uow.rollback().await.expect("rollback");
}

/// The files service: uploads checked from the bytes, listed and
/// downloaded as the owner is read, deleted as it is updated; another
/// tenant's or an unseen branch's file is `NotFound`; roles without the
/// right are `Forbidden`; downloads presign where the store can.
pub async fn files_service_is_authorized_and_scoped_as_the_owner(store: Arc<dyn Store>) {
    let world = BookingWorld::new(store.clone()).await;
    let blobs = Arc::new(MemoryBlobStore::new());
    let files = Files::new(Deps::new(store.clone()), blobs.clone());
    let booking = world
        .bookings
        .create(&world.owner, world.request(None), None)
        .await
        .expect("booking")
        .booking;
    let owner = FileOwner::Booking(booking.id);

    // The bytes decide: a renamed executable is refused, a PDF accepted.
    let err = files
        .upload(
            &world.owner,
            owner,
            "visa.png",
            b"MZ\x90\0\x03 this is an exe".to_vec(),
        )
        .await
        .expect_err("an exe");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    assert!(
        blobs.keys().is_empty(),
        "nothing stored for a refused upload"
    );
    let pdf = files
        .upload(&world.owner, owner, "../visa scan.png", tiny_pdf())
        .await
        .expect("upload pdf");
    assert_eq!(pdf.content_type, ContentType::Pdf);
    assert_eq!(pdf.file_name, "visa scan.pdf");
    assert_eq!(pdf.branch_id, Some(world.branch));
    assert_eq!(pdf.size, tiny_pdf().len() as u64);
    assert_eq!(blobs.keys(), [pdf.key().as_str().to_owned()]);
    assert_eq!(
        blobs.content_type(&pdf.key()).as_deref(),
        Some("application/pdf")
    );
    assert!(
        pdf.key()
            .as_str()
            .starts_with(&format!("tenants/{}/", world.tenant.id))
    );
    let png = files
        .upload(&world.owner, owner, "passport.jpg", TINY_PNG.to_vec())
        .await
        .expect("upload png");
    assert_eq!(png.file_name, "passport.png");

    let listed = files
        .list(&world.owner, owner, PageRequest::first())
        .await
        .expect("list");
    // Both were made at `ctx.now`: the id breaks the tie.
    let mut both = vec![pdf.clone(), png.clone()];
    both.sort_by_key(|f| (f.created_at, f.id));
    assert_eq!(listed.items, both);
    match files
        .download(&world.owner, pdf.id)
        .await
        .expect("download")
    {
        Download::Bytes { file, bytes } => {
            assert_eq!(file, pdf);
            assert_eq!(bytes, tiny_pdf());
        }
        other => panic!("local stores stream: {other:?}"),
    }

    // Finance reads operational records: may download, not upload.
    let finance = world.as_role(Role::Finance, BranchScope::All);
    files
        .download(&finance, pdf.id)
        .await
        .expect("finance reads");
    let err = files
        .upload(&finance, owner, "x.png", TINY_PNG.to_vec())
        .await
        .expect_err("finance uploads");
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    // Umrah staff have no operational rights at all.
    let umrah = world.as_role(Role::Umrah, BranchScope::All);
    assert!(files.download(&umrah, pdf.id).await.is_err());

    // Another branch's user, another tenant's user: not found, like a
    // missing file.
    let elsewhere = world.as_role(Role::Admin, BranchScope::only([crate::id::BranchId::new()]));
    for ctx in [
        &elsewhere,
        &Context::new(
            Principal::user(
                UserId::new(),
                TenantId::new(),
                Role::TenantSuperAdmin,
                BranchScope::All,
            ),
            now(),
        ),
    ] {
        for result in [
            files.download(ctx, pdf.id).await.map(drop),
            files.delete(ctx, pdf.id).await,
            files.get(ctx, pdf.id).await.map(drop),
        ] {
            assert!(
                matches!(result, Err(Error::NotFound { what: "file" })),
                "{result:?}"
            );
        }
        let listed = files.list(ctx, owner, PageRequest::first()).await;
        assert!(matches!(listed, Err(Error::NotFound { .. })), "{listed:?}");
    }
    let missing = files.download(&world.owner, FileId::new()).await;
    assert!(matches!(missing, Err(Error::NotFound { what: "file" })));

    // Deleting: the row and the bytes go.
    files.delete(&world.owner, png.id).await.expect("delete");
    assert_eq!(blobs.keys(), [pdf.key().as_str().to_owned()]);
    assert!(matches!(
        files.get(&world.owner, png.id).await,
        Err(Error::NotFound { .. })
    ));

    // A presigning store answers with a short-lived URL instead of bytes.
    let presigning = Arc::new(MemoryBlobStore::presigning("https://s3.example"));
    let files = Files::new(Deps::new(store.clone()), presigning);
    let file = files
        .upload(&world.owner, owner, "visa.pdf", tiny_pdf())
        .await
        .expect("upload");
    match files
        .download(&world.owner, file.id)
        .await
        .expect("download")
    {
        Download::Redirect { url, .. } => {
            assert!(url.starts_with("https://s3.example/tenants/"), "{url}");
            assert!(url.ends_with("expires=300"), "{url}");
        }
        other => panic!("expected a redirect: {other:?}"),
    }
}

/// Deleting a booking, a client or (by hand) any owner deletes its files:
/// rows in the owner's unit of work, bytes once it committed.
pub async fn deleting_an_owner_deletes_its_files(store: Arc<dyn Store>) {
    let world = BookingWorld::new(store.clone()).await;
    let blobs = Arc::new(MemoryBlobStore::new());
    let dyn_blobs: Arc<dyn BlobStore> = blobs.clone();
    let files = Files::new(Deps::new(store.clone()), dyn_blobs.clone());
    let bookings = world.bookings.clone().with_blobs(dyn_blobs.clone());
    let booking = bookings
        .create(&world.owner, world.request(None), None)
        .await
        .expect("booking")
        .booking;
    let kept = bookings
        .create(&world.owner, world.request(None), None)
        .await
        .expect("booking")
        .booking;
    for _ in 0..2 {
        files
            .upload(
                &world.owner,
                FileOwner::Booking(booking.id),
                "v.pdf",
                tiny_pdf(),
            )
            .await
            .expect("upload");
    }
    let survivor = files
        .upload(
            &world.owner,
            FileOwner::Booking(kept.id),
            "v.pdf",
            tiny_pdf(),
        )
        .await
        .expect("upload");
    assert_eq!(blobs.keys().len(), 3);
    bookings
        .delete(&world.owner, booking.id, None)
        .await
        .expect("delete the draft");
    assert_eq!(blobs.keys(), [survivor.key().as_str().to_owned()]);

    // A client without bookings, with a document.
    let keyring = crate::security::keyring::KeyRing::parse(
        crate::security::keyring::KeyRing::generate_key(1, &crate::ports::OsRandom).expose(),
    )
    .expect("keys");
    let clients =
        crate::service::clients::Clients::new(Deps::new(store.clone()), Arc::new(keyring))
            .with_blobs(dyn_blobs.clone());
    let client = super::new_client(world.tenant.id, world.branch, "Yusuf Ali");
    let mut uow = store.begin().await.expect("begin");
    uow.clients().insert(&client).await.expect("client");
    uow.commit().await.expect("commit");
    let scan = files
        .upload(
            &world.owner,
            FileOwner::Client(client.id),
            "id.png",
            TINY_PNG.to_vec(),
        )
        .await
        .expect("upload");
    match clients.delete(&world.owner, client.id, None).await {
        Ok(()) => {}
        Err(Error::ConfirmationRequired { token, .. }) => {
            // Nothing was deleted by the first call.
            assert!(blobs.keys().contains(&scan.key().as_str().to_owned()));
            clients
                .delete(&world.owner, client.id, Some(&token))
                .await
                .expect("confirmed delete");
        }
        Err(e) => panic!("delete the client: {e:?}"),
    }
    assert!(!blobs.keys().contains(&scan.key().as_str().to_owned()));

    // Any owner, by hand (a package's images).
    let package = world.package(5).await;
    for _ in 0..3 {
        files
            .upload(
                &world.owner,
                FileOwner::Package(package),
                "p.png",
                TINY_PNG.to_vec(),
            )
            .await
            .expect("upload");
    }
    let sales = world.as_role(Role::Sales, BranchScope::All);
    let err = files
        .delete_owned(
            &world.as_role(Role::Finance, BranchScope::All),
            FileOwner::Package(package),
        )
        .await
        .expect_err("finance");
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    assert_eq!(
        files
            .delete_owned(&sales, FileOwner::Package(package))
            .await
            .expect("delete owned"),
        3
    );
    assert_eq!(blobs.keys(), [survivor.key().as_str().to_owned()]);
}

/// A failed upload unit of work deletes the bytes it stored; the branding
/// and its logo go through the same service, and a replaced logo's bytes
/// go with it.
pub async fn failed_uploads_leave_no_blob_and_logos_replace_each_other(store: Arc<dyn Store>) {
    let blobs = Arc::new(MemoryBlobStore::new());
    let files = Files::new(Deps::new(store.clone()), blobs.clone());
    // A tenant that is not in the store: authorized by the policy alone,
    // refused by the store's foreign key after the bytes were written.
    let ghost = Context::new(
        Principal::user(
            UserId::new(),
            TenantId::new(),
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        now(),
    );
    let failed = files
        .upload_logo(&ghost, "logo.png", TINY_PNG.to_vec())
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(blobs.keys().is_empty(), "the blob was deleted again");

    let tenant = seed_tenant(&*store).await;
    let owner = Context::new(
        Principal::user(
            UserId::new(),
            tenant.id,
            Role::TenantSuperAdmin,
            BranchScope::All,
        ),
        now(),
    );
    // Before anything is set: the tenant's name, no logo.
    let look = files.branding(&owner).await.expect("branding");
    assert_eq!(look.agency_name, tenant.name.to_string());
    assert_eq!(look.logo, None);

    let err = files
        .upload_logo(&owner, "logo.pdf", tiny_pdf())
        .await
        .expect_err("a PDF logo");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    let first = files
        .upload_logo(&owner, "logo.png", TINY_PNG.to_vec())
        .await
        .expect("logo");
    let second = files
        .upload_logo(&owner, "logo-2024.png", TINY_PNG.to_vec())
        .await
        .expect("new logo");
    assert_eq!(blobs.keys(), [second.key().as_str().to_owned()]);
    assert!(matches!(
        files.get(&owner, first.id).await,
        Err(Error::NotFound { .. })
    ));

    let saved = files
        .update_branding(
            &owner,
            BrandingUpdate {
                agency_name: "Al Noor Hajj & Umrah".into(),
                address: vec!["12 Corniche Road".into(), "Jeddah".into()],
                accent_colour: Some("#0B5D3B".into()),
                version: files.branding_settings(&owner).await.expect("read").version,
                emergency_contact: None,
            },
        )
        .await
        .expect("update");
    assert_eq!(saved.logo, Some(second.id));
    let stale = files
        .update_branding(
            &owner,
            BrandingUpdate {
                agency_name: "Late".into(),
                address: vec![],
                accent_colour: None,
                version: saved.version - 1,
                emergency_contact: None,
            },
        )
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    let look = files
        .branding(&Context::new(
            Principal::system(tenant.id, "documents"),
            now(),
        ))
        .await
        .expect("branding for a system job");
    assert_eq!(look.agency_name, "Al Noor Hajj & Umrah");
    assert_eq!(look.address, ["12 Corniche Road", "Jeddah"]);
    assert_eq!(look.accent_colour.as_deref(), Some("#0b5d3b"));
    assert_eq!(look.logo.as_deref(), Some(&TINY_PNG[..]));

    // Sales may not change the branding, but every user sees the logo.
    let sales = Context::new(
        Principal::user(UserId::new(), tenant.id, Role::Sales, BranchScope::All),
        now(),
    );
    let err = files
        .upload_logo(&sales, "x.png", TINY_PNG.to_vec())
        .await
        .expect_err("sales");
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    files
        .download(&sales, second.id)
        .await
        .expect("sales sees the logo");

    // Deleting the logo file unsets it.
    files.delete(&owner, second.id).await.expect("delete logo");
    assert_eq!(files.branding(&owner).await.expect("look").logo, None);
    assert!(blobs.keys().is_empty());
}
