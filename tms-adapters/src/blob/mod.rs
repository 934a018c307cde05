//! The [`BlobStore`](tms_core::ports::BlobStore) over `object_store`: local
//! disk ([`LocalBlobStore`], feature `blob-local`, the embedded default) and
//! S3-compatible storage ([`S3BlobStore`], feature `blob-s3`: AWS S3, MinIO,
//! …).
//!
//! Keys come from [`BlobKey`](tms_core::ports::BlobKey) only —
//! `tenants/{tenant}/{category}/{id}`, never a user's file name. What a file
//! is gets checked before it gets here, by
//! [`tms_core::files::check_upload`].

#[cfg(feature = "blob-local")]
mod local;
#[cfg(feature = "blob-s3")]
mod s3;

#[cfg(feature = "blob-local")]
pub use local::LocalBlobStore;
#[cfg(feature = "blob-s3")]
pub use s3::{S3BlobStore, S3BlobStoreBuilder, install_crypto_provider};

use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use tms_core::ports::BlobKey;
use tms_core::{Error, Result};

/// The longest a presigned URL may live: downloads are authorized per
/// request, so a leaked link must die soon.
pub const MAX_PRESIGN: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// `object_store`'s errors as the core's. The original error is dropped: its
/// text can carry URLs and server replies, which are not for callers.
fn map_err(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::not_found("file"),
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            Error::rejected("the blob store refused the credentials")
        }
        object_store::Error::InvalidPath { .. } => Error::internal("invalid blob key"),
        _ => Error::unavailable("blob store"),
    }
}

fn path(key: &BlobKey) -> Result<Path> {
    Path::parse(key.as_str()).map_err(|_| Error::internal("invalid blob key"))
}

/// The requested presign lifetime, positive and at most [`MAX_PRESIGN`].
fn presign_lifetime(expires_in: chrono::Duration) -> Result<std::time::Duration> {
    let wanted = expires_in
        .to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Error::invalid("expires_in", "must be positive"))?;
    Ok(wanted.min(MAX_PRESIGN))
}

async fn get_bytes(store: &dyn object_store::ObjectStore, key: &BlobKey) -> Result<Vec<u8>> {
    let result = store.get(&path(key)?).await.map_err(map_err)?;
    let bytes = result.bytes().await.map_err(map_err)?;
    Ok(bytes.to_vec())
}

async fn delete_quietly(store: &dyn object_store::ObjectStore, key: &BlobKey) -> Result<()> {
    match store.delete(&path(key)?).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(map_err(e)),
    }
}
