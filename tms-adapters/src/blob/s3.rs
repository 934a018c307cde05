//! Files on S3-compatible storage: AWS S3, MinIO, Ceph, …

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::signer::{Method, Signer as _};
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore as _, PutOptions, RetryConfig,
};
use tms_core::ports::{BlobKey, BlobStore};
use tms_core::security::secret::Secret;
use tms_core::{Error, Result};

use super::{delete_quietly, get_bytes, map_err, path, presign_lifetime};

/// Installs ring as the process's rustls crypto provider, once; later calls
/// (and a provider installed by the embedder) are left alone. The workspace
/// has one provider, so building an HTTPS client needs it installed first.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A [`BlobStore`] in one bucket of an S3-compatible service. Downloads are
/// presigned GET URLs that live at most [`super::MAX_PRESIGN`].
///
/// ```no_run
/// use tms_adapters::blob::S3BlobStore;
/// use tms_core::security::secret::Secret;
///
/// let store = S3BlobStore::builder("tms-files")
///     .endpoint("https://minio.internal:9000")
///     .region("eu-central-1")
///     .path_style(true)
///     .credentials("AKIA…", Secret::new("…".to_owned()))
///     .build()?;
/// # Ok::<(), tms_core::Error>(())
/// ```
#[derive(Clone)]
pub struct S3BlobStore {
    inner: Arc<AmazonS3>,
    bucket: String,
    endpoint: Option<String>,
    region: String,
}

impl std::fmt::Debug for S3BlobStore {
    // By hand: the inner client holds the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Configuration of an [`S3BlobStore`]: see [`S3BlobStore::builder`].
#[derive(Debug, Clone)]
pub struct S3BlobStoreBuilder {
    bucket: String,
    endpoint: Option<String>,
    region: String,
    path_style: bool,
    allow_http: bool,
    access_key_id: Option<String>,
    secret_access_key: Option<Secret<String>>,
    timeout: StdDuration,
}

impl S3BlobStore {
    /// Starts configuring a store over `bucket`: AWS, `us-east-1`,
    /// virtual-hosted-style requests, HTTPS only, until told otherwise.
    pub fn builder(bucket: impl Into<String>) -> S3BlobStoreBuilder {
        S3BlobStoreBuilder {
            bucket: bucket.into(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            path_style: false,
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
            timeout: StdDuration::from_secs(30),
        }
    }
}

impl S3BlobStoreBuilder {
    /// The service's URL, for anything but AWS (MinIO, …).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The region (MinIO accepts any; AWS needs the bucket's).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Path-style requests (`{endpoint}/{bucket}/{key}`), as MinIO and most
    /// self-hosted services want; otherwise virtual-hosted style.
    pub fn path_style(mut self, path_style: bool) -> Self {
        self.path_style = path_style;
        self
    }

    /// Allows a plain-HTTP endpoint (a loopback or private-network service).
    /// Off by default: credentials and files would cross the wire in clear.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// The access key pair.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: Secret<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(secret_access_key);
        self
    }

    /// How long one request may take before it counts as a failure.
    pub fn timeout(mut self, timeout: StdDuration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The store. Nothing is contacted yet; a wrong configuration is
    /// [`Error::Invalid`].
    pub fn build(self) -> Result<S3BlobStore> {
        install_crypto_provider();
        let (Some(key_id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) else {
            return Err(Error::invalid(
                "credentials",
                "an access key id and secret are required",
            ));
        };
        if self.bucket.is_empty() {
            return Err(Error::invalid("bucket", "must not be empty"));
        }
        if let Some(endpoint) = &self.endpoint
            && endpoint.to_ascii_lowercase().starts_with("http://")
            && !self.allow_http
        {
            return Err(Error::invalid(
                "endpoint",
                "plain HTTP needs allow_http: credentials would cross the wire in clear",
            ));
        }
        let client = ClientOptions::new()
            .with_allow_http(self.allow_http)
            .with_timeout(self.timeout)
            .with_connect_timeout(StdDuration::from_secs(5));
        // A few quick retries: callers get Unavailable and retry themselves,
        // rather than hanging for object_store's default three minutes.
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: StdDuration::from_secs(10),
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(key_id)
            .with_secret_access_key(secret.expose())
            .with_virtual_hosted_style_request(!self.path_style)
            .with_allow_http(self.allow_http)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        // The builder's error text may quote the configuration: not passed on.
        let inner = builder
            .build()
            .map_err(|_| Error::invalid("s3", "the S3 configuration is not valid"))?;
        Ok(S3BlobStore {
            inner: Arc::new(inner),
            bucket: self.bucket,
            endpoint: self.endpoint,
            region: self.region,
        })
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        self.inner
            .put_opts(&path(key)?, bytes.into(), PutOptions::from(attributes))
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

    async fn presign_get(&self, key: &BlobKey, expires_in: Duration) -> Result<Option<String>> {
        let lifetime = presign_lifetime(expires_in)?;
        let url = self
            .inner
            .signed_url(Method::GET, &path(key)?, lifetime)
            .await
            .map_err(map_err)?;
        Ok(Some(url.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn debug_never_shows_the_secret_and_bad_configs_are_invalid() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let builder = S3BlobStore::builder("files")
            .endpoint("http://127.0.0.1:9")
            .credentials("AKIDEXAMPLE", Secret::new(secret.to_owned()));
        assert!(!format!("{builder:?}").contains(secret));
        let err = builder
            .clone()
            .build()
            .expect_err("http without allow_http");
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        let store = builder
            .allow_http(true)
            .path_style(true)
            .build()
            .expect("build");
        let debug = format!("{store:?}");
        assert!(
            !debug.contains(secret) && debug.contains("files"),
            "{debug}"
        );
        let err = S3BlobStore::builder("files")
            .build()
            .expect_err("no credentials");
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    }
}
