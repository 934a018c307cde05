//! The blob store on local disk, one temporary directory per test.

use std::path::PathBuf;
use std::sync::Arc;

use tms_adapters::blob::LocalBlobStore;
use tms_core::ports::{BlobCategory, BlobStore};

/// Removes the directory when dropped.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    TempDir(std::env::temp_dir().join(format!("tms_blobs_{}", uuid::Uuid::now_v7().simple())))
}

pub async fn fresh_store() -> Option<(Arc<dyn BlobStore>, TempDir)> {
    let dir = temp_dir();
    let store = LocalBlobStore::open(&dir.0).expect("open a fresh directory");
    Some((Arc::new(store), dir))
}

tms_core::blob_contract_tests!(fresh_store);

#[tokio::test]
async fn files_live_under_the_tenant_directory_and_vanish_with_it() {
    let dir = temp_dir();
    let store = LocalBlobStore::open(&dir.0).expect("open");
    let key = tms_core::testkit::blobs::new_key(BlobCategory::Branding);
    store
        .put(&key, b"logo".to_vec(), "image/png")
        .await
        .expect("put");
    let on_disk = dir.0.join(key.as_str());
    assert_eq!(std::fs::read(&on_disk).expect("file on disk"), b"logo");
    assert!(on_disk.starts_with(dir.0.join("tenants").join(key.tenant_id().to_string())));
    store.delete(&key).await.expect("delete");
    // Empty directories go with their last file: no tenant trail is left.
    assert!(
        !dir.0
            .join("tenants")
            .join(key.tenant_id().to_string())
            .exists()
    );
    assert!(format!("{store:?}").contains("LocalBlobStore"));
}
