//! The contract suite of the [`BlobStore`] port, for every implementation.
//!
//! Our local-disk and S3 stores run it; so can an integrator's own backend.
//! Write a factory returning a fresh store (and a guard dropped after the
//! case: remove the directory, stop the server) and expand
//! [`blob_contract_tests!`](crate::blob_contract_tests):
//!
//! ```ignore
//! async fn fresh_blobs() -> Option<(Arc<dyn BlobStore>, TempDir)> { … }
//! tms_core::blob_contract_tests!(fresh_blobs);
//! ```
//!
//! The factory returns `None` to skip (a server that is not there outside
//! CI — say so loudly). What a presigned URL must download is checked by the
//! adapter's own tests: this crate does no HTTP.

// A test suite fails by panicking: that is its whole interface.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use chrono::Duration;

use crate::error::Error;
use crate::id::TenantId;
use crate::ports::{BlobCategory, BlobKey, BlobStore};

/// Expands to one `#[tokio::test]` per contract case. `$factory` is a path
/// to an `async fn() -> Option<(Arc<dyn BlobStore>, G)>`: `None` skips the
/// case, `G` is dropped after it.
#[macro_export]
macro_rules! blob_contract_tests {
    ($factory:path) => {
        $crate::blob_contract_tests!(@cases $factory;
            blob_put_then_get_round_trips,
            blob_put_overwrites,
            blob_missing_is_not_found,
            blob_delete_removes_and_delete_missing_is_ok,
            blob_keys_are_namespaced_by_tenant,
            blob_presign_is_none_or_a_url_for_the_key,
            blob_large_object_round_trips,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, guard)) = $factory().await else { return };
                $crate::testkit::blobs::$case(store).await;
                drop(guard);
            }
        )*
    };
}

/// A fresh key of a fresh tenant.
pub fn new_key(category: BlobCategory) -> BlobKey {
    BlobKey::new(TenantId::new(), category, uuid::Uuid::now_v7())
}

/// What is put comes back, byte for byte (all 256 byte values included).
pub async fn blob_put_then_get_round_trips(store: Arc<dyn BlobStore>) {
    let key = new_key(BlobCategory::CatalogueImage);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    store
        .put(&key, bytes.clone(), "image/png")
        .await
        .expect("put");
    assert_eq!(store.get(&key).await.expect("get"), bytes);
    // An empty file is a file too.
    let empty = new_key(BlobCategory::GeneratedDocument);
    store
        .put(&empty, vec![], "application/pdf")
        .await
        .expect("put empty");
    assert_eq!(
        store.get(&empty).await.expect("get empty"),
        Vec::<u8>::new()
    );
}

/// A second put under the same key replaces the first.
pub async fn blob_put_overwrites(store: Arc<dyn BlobStore>) {
    let key = new_key(BlobCategory::Branding);
    store
        .put(&key, b"first version, longer".to_vec(), "image/png")
        .await
        .expect("put");
    store
        .put(&key, b"second".to_vec(), "image/jpeg")
        .await
        .expect("overwrite");
    assert_eq!(store.get(&key).await.expect("get"), b"second");
}

/// Reading a key never written is `NotFound`.
pub async fn blob_missing_is_not_found(store: Arc<dyn BlobStore>) {
    let err = store
        .get(&new_key(BlobCategory::BookingDocument))
        .await
        .expect_err("missing");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// Delete removes the file; deleting again (or a key never written) is fine.
pub async fn blob_delete_removes_and_delete_missing_is_ok(store: Arc<dyn BlobStore>) {
    let key = new_key(BlobCategory::CampaignImage);
    let other = BlobKey::new(
        key.tenant_id(),
        BlobCategory::CampaignImage,
        uuid::Uuid::now_v7(),
    );
    store
        .put(&key, b"x".to_vec(), "image/webp")
        .await
        .expect("put");
    store
        .put(&other, b"y".to_vec(), "image/webp")
        .await
        .expect("put other");
    store.delete(&key).await.expect("delete");
    let err = store.get(&key).await.expect_err("deleted");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    store.delete(&key).await.expect("delete again");
    store
        .delete(&new_key(BlobCategory::CampaignImage))
        .await
        .expect("delete never written");
    // Only that key went.
    assert_eq!(store.get(&other).await.expect("other kept"), b"y");
}

/// The same file id under two tenants is two files; keys start with the
/// tenant's prefix.
pub async fn blob_keys_are_namespaced_by_tenant(store: Arc<dyn BlobStore>) {
    let id = uuid::Uuid::now_v7();
    let (a, b) = (TenantId::new(), TenantId::new());
    let key_a = BlobKey::new(a, BlobCategory::BookingDocument, id);
    let key_b = BlobKey::new(b, BlobCategory::BookingDocument, id);
    assert!(key_a.as_str().starts_with(&format!("tenants/{a}/")));
    assert_ne!(key_a, key_b);
    store
        .put(
            &key_a,
            b"tenant a's passport scan".to_vec(),
            "application/pdf",
        )
        .await
        .expect("put");
    let err = store.get(&key_b).await.expect_err("other tenant");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    store.delete(&key_b).await.expect("delete other tenant's");
    assert_eq!(
        store.get(&key_a).await.expect("still there"),
        b"tenant a's passport scan"
    );
    // Same tenant and id, other category: another file.
    let key_c = BlobKey::new(a, BlobCategory::Branding, id);
    assert!(store.get(&key_c).await.is_err());
}

/// Presigning gives `None` (the server streams) or a URL naming the key
/// that expires; a non-positive expiry is refused.
pub async fn blob_presign_is_none_or_a_url_for_the_key(store: Arc<dyn BlobStore>) {
    let key = new_key(BlobCategory::BookingDocument);
    store
        .put(&key, b"%PDF-".to_vec(), "application/pdf")
        .await
        .expect("put");
    match store
        .presign_get(&key, Duration::minutes(5))
        .await
        .expect("presign")
    {
        None => {}
        Some(url) => {
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{url}"
            );
            assert!(
                url.contains(key.as_str()),
                "{url} does not name {}",
                key.as_str()
            );
            let lower = url.to_ascii_lowercase();
            assert!(lower.contains("expires"), "{url} has no expiry");
        }
    }
    let err = store
        .presign_get(&key, Duration::zero())
        .await
        .expect_err("zero expiry");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
}

/// A 10 MiB object goes in and comes back whole.
pub async fn blob_large_object_round_trips(store: Arc<dyn BlobStore>) {
    let key = new_key(BlobCategory::BookingDocument);
    let bytes: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    store
        .put(&key, bytes.clone(), "application/pdf")
        .await
        .expect("put 10 MiB");
    let back = store.get(&key).await.expect("get 10 MiB");
    assert_eq!(back.len(), bytes.len());
    assert!(back == bytes, "10 MiB object came back different");
}
