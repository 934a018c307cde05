//! Files on local disk, under one root directory.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use object_store::ObjectStoreExt as _;
use object_store::local::LocalFileSystem;
use tms_core::ports::{BlobKey, BlobStore};
use tms_core::{Error, Result};

use super::{delete_quietly, get_bytes, map_err, path, presign_lifetime};

/// A [`BlobStore`] in a directory: `{root}/tenants/{tenant}/{category}/{id}`.
/// It cannot presign, so downloads go through the server's authorized
/// streaming endpoint.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tms_adapters::blob::LocalBlobStore;
/// use tms_core::id::TenantId;
/// use tms_core::ports::{BlobCategory, BlobKey, BlobStore};
///
/// let dir = std::env::temp_dir().join(format!("tms-doc-{}", uuid::Uuid::now_v7()));
/// let store = LocalBlobStore::open(&dir)?;
/// let key = BlobKey::new(TenantId::new(), BlobCategory::Branding, uuid::Uuid::now_v7());
/// store.put(&key, b"logo".to_vec(), "image/png").await?;
/// assert_eq!(store.get(&key).await?, b"logo");
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), tms_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    inner: Arc<LocalFileSystem>,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore")
            .field("root", &self.root)
            .finish()
    }
}

impl LocalBlobStore {
    /// A store under `root`, created if missing. Empty directories are
    /// removed as their last file is deleted.
    pub fn open(root: impl AsRef<FsPath>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root)
            .map_err(|_| Error::unavailable("blob directory cannot be created"))?;
        let inner = LocalFileSystem::new_with_prefix(&root)
            .map_err(|_| Error::unavailable("blob directory cannot be opened"))?
            .with_automatic_cleanup(true);
        Ok(Self {
            root,
            inner: Arc::new(inner),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &FsPath {
        &self.root
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, _content_type: &str) -> Result<()> {
        // The type is not kept on disk: the server serves what the database
        // recorded at upload time. The write goes to a temporary file that is
        // renamed into place, so a reader never sees half a file.
        self.inner
            .put(&path(key)?, bytes.into())
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        get_bytes(&*self.inner, key).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        delete_quietly(&*self.inner, key).await
    }

    async fn presign_get(&self, _key: &BlobKey, expires_in: Duration) -> Result<Option<String>> {
        presign_lifetime(expires_in)?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn an_unusable_root_is_unavailable() {
        let file = std::env::temp_dir().join(format!("tms-blob-file-{}", uuid::Uuid::now_v7()));
        std::fs::write(&file, b"not a directory").unwrap();
        let err = LocalBlobStore::open(file.join("sub")).expect_err("under a file");
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        std::fs::remove_file(file).unwrap();
    }
}
