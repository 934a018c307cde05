//! Start-up: the data directory, the keys, the store, and the first-run
//! tenant.
//!
//! **Embedded defaults.** Without any configuration the server keeps
//! everything in the data directory (`./tms-data`): `tms.db` (SQLite),
//! `files/` (uploads), `mail/` (outgoing mail written as files), and — when
//! no keys are configured — a generated `keyring` and `jwt.key`, created
//! with mode `0600` (owner only) and never overwritten. A warning says so on
//! every start: those keys sit next to the data they protect, which is fine
//! for a laptop and wrong for production.
//!
//! **First run.** On an empty store (no `demo` tenant and no `initialized`
//! marker in the data directory), `serve` provisions the tenant `demo` with
//! a branch and an owner whose strong random password is printed once, on
//! stdout, never logged. Hashing that one password is the only argon2 run at
//! start-up. The password is handed out, so the owner must change it at
//! first login: until then their session reaches nothing but the password
//! change (`must_change_password`, see `tms_core::service::identity`). `init` writes the same marker, so a store set up with `init` is
//! not given a demo tenant.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng as _;
use tms_adapters::blob::{LocalBlobStore, S3BlobStore};
use tms_adapters::sql::{SqlStore, SqlStoreOptions};
use tms_core::domain::TenantSlug;
use tms_core::ports::{BlobStore, OsRandom, Store};
use tms_core::security::jwt::{JwtKey, SessionJwt};
use tms_core::security::keyring::KeyRing;
use tms_core::security::secret::Secret;
use tms_core::service::tenancy::{
    Deps, NewTenant, NewTenantRequest, Provisioned, provision_tenant,
};
use tms_core::{Error, Result};

use crate::config::{BlobConfig, Config};

/// File name of the generated key ring in the data directory.
pub const KEYRING_FILE: &str = "keyring";
/// File name of the generated session-token key in the data directory.
pub const JWT_KEY_FILE: &str = "jwt.key";
/// Marker written once the store has been set up (first run or `init`).
pub const INITIALIZED_MARKER: &str = "initialized";
/// The slug of the first-run tenant.
pub const DEMO_SLUG: &str = "demo";
/// The login of the first-run tenant's owner.
pub const DEMO_EMAIL: &str = "owner@demo.example";

/// Creates the data directory with `files/` and `mail/`. Directories
/// created here are private to the server's user (`0700`): they hold the
/// database and, by default, the keys.
pub fn prepare_data_dir(data_dir: &Path) -> Result<()> {
    for dir in [
        data_dir.to_path_buf(),
        data_dir.join("files"),
        data_dir.join("mail"),
    ] {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| io_err("create", &dir, e))?;
    }
    Ok(())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!("cannot {what} {}: {}", path.display(), e.kind()))
}

/// Writes `content` to a new file readable by its owner only. Fails if the
/// file exists: a key is never overwritten.
pub fn write_private_file(path: &Path, content: &str) -> Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io_err("create", path, e))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("write", path, e))
}

/// Warns when a key file can be read by other users than its owner.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "key file is readable by other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The key ring: `TMS_KEYRING`, else `TMS_KEYRING_FILE`, else the generated
/// file in the data directory.
pub fn load_keyring(config: &Config) -> Result<KeyRing> {
    if let Some(text) = &config.keyring {
        return KeyRing::parse(text.expose());
    }
    if let Some(path) = &config.keyring_file {
        warn_if_shared(path);
        return KeyRing::from_file(path);
    }
    let path = config.data_dir.join(KEYRING_FILE);
    if !path.exists() {
        let entry = KeyRing::generate_key(1, &OsRandom);
        write_private_file(
            &path,
            &format!(
                "# TMS key ring, generated on first run — newest (highest id) encrypts, all decrypt.\n{}\n",
                entry.expose()
            ),
        )?;
    }
    tracing::warn!(
        path = %path.display(),
        "using the key ring generated in the data directory; production must supply its own (TMS_KEYRING or TMS_KEYRING_FILE)"
    );
    warn_if_shared(&path);
    KeyRing::from_file(&path)
}

/// The session-token key: `TMS_JWT_KEY`, else `TMS_JWT_KEY_FILE`, else the
/// generated file in the data directory.
pub fn load_jwt_key(config: &Config) -> Result<JwtKey> {
    JwtKey::from_base64(&load_jwt_key_text(config)?)
}

/// The base64 text of the session-token key, as [`load_jwt_key`] finds it
/// (for building more than one codec without reading or warning twice).
pub fn load_jwt_key_text(config: &Config) -> Result<Secret<String>> {
    if let Some(text) = &config.jwt_key {
        return Ok(text.clone());
    }
    let path = match &config.jwt_key_file {
        Some(path) => path.clone(),
        None => {
            let path = config.data_dir.join(JWT_KEY_FILE);
            if !path.exists() {
                let (_, base64) = JwtKey::generate(&OsRandom)?;
                write_private_file(&path, &format!("{}\n", base64.expose()))?;
            }
            tracing::warn!(
                path = %path.display(),
                "using the session-token key generated in the data directory; production must supply its own (TMS_JWT_KEY or TMS_JWT_KEY_FILE)"
            );
            path
        }
    };
    warn_if_shared(&path);
    let text = fs::read_to_string(&path).map_err(|e| io_err("read", &path, e))?;
    Ok(Secret::new(text))
}

/// Connects to the configured database and applies migrations — through
/// the owner URL when one is configured, granting the server's role row
/// access (see [`crate::config`], "PostgreSQL roles").
pub async fn connect_store(config: &Config) -> Result<SqlStore> {
    let mut options = SqlStoreOptions::new(config.database_url().expose())
        .acquire_timeout(config.database_acquire_timeout);
    if let Some(n) = config.database_max_connections {
        options = options.max_connections(n);
    }
    if let Some(owner) = &config.database_owner_url {
        options = options.owner_url(owner.expose());
    }
    options.connect().await
}

// --- files (issue 8) ---
/// The configured blob store: the local folder (created if missing) or an
/// S3-compatible bucket. Nothing is contacted yet; a bad S3 configuration
/// is `Invalid` and names no secret.
pub fn open_blob_store(config: &Config) -> Result<Arc<dyn BlobStore>> {
    match &config.blobs {
        BlobConfig::Local { .. } => Ok(Arc::new(LocalBlobStore::open(config.files_dir())?)),
        BlobConfig::S3(s3) => {
            let mut builder = S3BlobStore::builder(&s3.bucket)
                .region(&s3.region)
                .path_style(s3.path_style)
                .allow_http(s3.allow_http)
                .credentials(&s3.access_key_id, s3.secret_access_key.clone());
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.endpoint(endpoint);
            }
            Ok(Arc::new(builder.build()?))
        }
    }
}

/// A strong random password: 4 groups of 6 letters and digits (≈ 143 bits).
pub fn generate_password() -> Secret<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let groups: Vec<String> = (0..4)
        .map(|_| {
            (0..6)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect()
        })
        .collect();
    Secret::new(groups.join("-"))
}

/// What the first run created, for printing once.
pub struct FirstRun {
    /// The provisioned tenant, branch and owner.
    pub provisioned: Provisioned,
    /// The owner's generated password.
    pub password: Secret<String>,
}

impl std::fmt::Debug for FirstRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstRun")
            .field("tenant", &self.provisioned.tenant.slug)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl FirstRun {
    /// The once-only message for stdout.
    pub fn message(&self, public_url: &str) -> String {
        format!(
            "\n\
             ================================================================\n\
             TMS first run: created the tenant `{slug}` and its owner.\n\
             \n  URL:      {public_url}\n  tenant:   {slug}\n  email:    {email}\n  password: {password}\n\n\
             This password is shown ONCE and is not stored anywhere readable.\n\
             Change it at first login: until then the session reaches\n\
             nothing but the password change (POST /api/v1/auth/password).\n\
             ================================================================\n",
            slug = self.provisioned.tenant.slug,
            email = self.provisioned.owner.email,
            password = self.password.expose(),
        )
    }
}

fn marker(data_dir: &Path) -> PathBuf {
    data_dir.join(INITIALIZED_MARKER)
}

/// Records that the store has been set up, so that no demo tenant follows.
pub fn mark_initialized(data_dir: &Path) -> Result<()> {
    let path = marker(data_dir);
    fs::write(
        &path,
        "TMS store initialized; delete to allow a new first-run tenant\n",
    )
    .map_err(|e| io_err("write", &path, e))
}

/// On an empty store, provisions the `demo` tenant; `None` when the store
/// was set up before.
pub async fn first_run(deps: &Deps, data_dir: &Path) -> Result<Option<FirstRun>> {
    if marker(data_dir).exists() {
        return Ok(None);
    }
    let slug = TenantSlug::parse(DEMO_SLUG)?;
    let mut uow = deps.store.begin().await?;
    let existing = uow.tenants().find_by_slug(&slug).await?;
    uow.rollback().await?;
    if existing.is_some() {
        mark_initialized(data_dir)?;
        return Ok(None);
    }
    let password = generate_password();
    let request = NewTenant::parse(NewTenantRequest {
        slug: DEMO_SLUG.into(),
        name: "Demo Travel".into(),
        base_currency: "USD".into(),
        first_branch: "Head office".into(),
        owner_email: DEMO_EMAIL.into(),
        owner_name: "Demo Owner".into(),
        owner_password: password.clone(),
    })?
    // Printed on stdout: a handed-out password, to be replaced at first login.
    .with_password_change_required();
    let provisioned = match provision_tenant(deps, request).await {
        Ok(p) => p,
        // Another replica won the race: the store is set up.
        Err(Error::Conflict { .. }) => {
            mark_initialized(data_dir)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    mark_initialized(data_dir)?;
    Ok(Some(FirstRun {
        provisioned,
        password,
    }))
}

/// The session-token signer over `key`.
pub fn session_jwt(key: JwtKey) -> Arc<SessionJwt> {
    Arc::new(SessionJwt::new(key))
}

/// The store as the port object.
pub fn as_store(store: SqlStore) -> Arc<dyn Store> {
    store.into_dyn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.expose().len(), 27);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn generated_keys_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        prepare_data_dir(&config.data_dir).unwrap();
        let ring = load_keyring(&config).unwrap();
        assert_eq!(ring.key_ids(), vec![1]);
        load_jwt_key(&config).unwrap();
        let before = fs::read_to_string(dir.path().join(KEYRING_FILE)).unwrap();
        load_keyring(&config).unwrap();
        assert_eq!(
            before,
            fs::read_to_string(dir.path().join(KEYRING_FILE)).unwrap()
        );
        #[cfg(unix)]
        for name in [KEYRING_FILE, JWT_KEY_FILE] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        assert!(dir.path().join("files").is_dir() && dir.path().join("mail").is_dir());
    }

    #[test]
    fn configured_keys_win_over_generated_ones() {
        let dir = tempfile::tempdir().unwrap();
        let entry = KeyRing::generate_key(7, &OsRandom);
        let (_, jwt) = JwtKey::generate(&OsRandom).unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            keyring: Some(entry),
            jwt_key: Some(jwt),
            ..Config::default()
        };
        assert_eq!(load_keyring(&config).unwrap().key_ids(), vec![7]);
        load_jwt_key(&config).unwrap();
        assert!(!dir.path().join(KEYRING_FILE).exists());
        assert!(!dir.path().join(JWT_KEY_FILE).exists());
    }
}
