//! Configuration of `tms-server`: environment variables, optionally on top of
//! a TOML file.
//!
//! # Sources and precedence
//!
//! 1. built-in defaults (below), then
//! 2. the TOML file given with `--config PATH` (or `TMS_CONFIG`), then
//! 3. environment variables — **the environment wins over the file**.
//!
//! Every setting has the same name in both places: `TMS_LISTEN` in the
//! environment is `listen` in the file.
//!
//! | variable | file key | default | meaning |
//! |---|---|---|---|
//! | `TMS_DATABASE_URL` | `database_url` | `sqlite://<data_dir>/tms.db?mode=rwc` | `sqlite://…`, `sqlite::memory:` or `postgres://…` |
//! | `TMS_DATABASE_OWNER_URL` | `database_owner_url` | — | PostgreSQL: the tables' owner, for migrations; then `TMS_DATABASE_URL` is the server's own role, granted row access only and held to row-level security (see below) |
//! | `TMS_DATABASE_MAX_CONNECTIONS` | `database_max_connections` | `10` on PostgreSQL, `4` on SQLite | connections this server keeps to the database; replicas sharing one PostgreSQL each keep their own, so keep their sum under its `max_connections` |
//! | `TMS_DATABASE_ACQUIRE_TIMEOUT_MS` | `database_acquire_timeout_ms` | `10000` | how long a request waits for a database connection before it is answered 503 with `Retry-After` (during an outage, every request waits this long) |
//! | `TMS_DATA_DIR` | `data_dir` | `./tms-data` | embedded defaults: SQLite file, `files/`, `mail/`, generated keys; created on first run |
//! | `TMS_LISTEN` | `listen` | `127.0.0.1:8080` | address and port to listen on |
//! | `TMS_PUBLIC_URL` | `public_url` | `http://<listen>` | the URL users reach the server at (printed on first run) |
//! | `TMS_KEYRING` | `keyring` | — | the key ring itself (`1:base64,2:base64`) |
//! | `TMS_KEYRING_FILE` | `keyring_file` | `<data_dir>/keyring` (generated) | a key ring file |
//! | `TMS_JWT_KEY` | `jwt_key` | — | base64 of the session-token signing key (≥ 32 bytes) |
//! | `TMS_JWT_KEY_FILE` | `jwt_key_file` | `<data_dir>/jwt.key` (generated) | a file holding that base64 key |
//! | `TMS_LOG` | `log` | `info` | tracing filter, e.g. `info,tms_http=debug` |
//! | `TMS_LOG_FORMAT` | `log_format` | `pretty` | `pretty` or `json` |
//! | `TMS_BEHIND_TLS` | `behind_tls` | `false` | set when a TLS proxy fronts the server: adds `Strict-Transport-Security` |
//! | `TMS_BODY_LIMIT` | `body_limit` | `1048576` | largest request body in bytes (larger → 413) |
//! | `TMS_REQUEST_TIMEOUT_SECS` | `request_timeout_secs` | `30` | a request running longer is answered 503 |
//! | `TMS_SHUTDOWN_GRACE_SECS` | `shutdown_grace_secs` | `30` | how long in-flight requests may finish after SIGTERM / Ctrl-C |
//! | `TMS_FIRST_RUN` | `first_run` | `true` without `TMS_DATABASE_URL`, else `false` | on an empty store, create the `demo` tenant and print its owner's password once |
//! | `TMS_TRUSTED_PROXIES` | `trusted_proxies` | none | reverse proxies (IPs or CIDR ranges; comma-separated in the variable, a list in the file) whose `X-Forwarded-For` is believed: see [`crate::client_ip`] |
//! | `TMS_RETENTION_LOGIN_ATTEMPTS_DAYS` | `retention_login_attempts_days` | `30` | login-attempt records (per account and per IP) idle this many days are forgotten; `0` keeps them |
//! | `TMS_RETENTION_DELIVERY_DAYS` | `retention_delivery_days` | `180` | delivery logs and sent or failed outbox messages older than this are deleted; `0` keeps them |
//! | `TMS_RETENTION_CLOSED_BOOKINGS_DAYS` | `retention_closed_bookings_days` | `0` (keep) | the travellers of bookings completed or cancelled this many days ago are anonymised (the booking and its financial records stay) |
//! | `TMS_RETENTION_INTERVAL_SECS` | `retention_interval_secs` | `86400` | how often `serve` applies the retention periods; `0` turns the schedule off (`tms-server retention run` still works) |
//! | `TMS_BLOB_STORE` | `blob_store` | `local` | where uploaded files are kept: `local` (a folder) or `s3` (S3, MinIO, any S3-compatible service) |
//! | `TMS_FILES_DIR` | `files_dir` | `<data_dir>/files` | the folder of the `local` blob store |
//! | `TMS_S3_BUCKET` | `s3_bucket` | — | `s3`: the bucket (required) |
//! | `TMS_S3_ENDPOINT` | `s3_endpoint` | AWS | `s3`: the service's URL, for anything but AWS (e.g. `https://minio.internal:9000`) |
//! | `TMS_S3_REGION` | `s3_region` | `us-east-1` | `s3`: the region |
//! | `TMS_S3_PATH_STYLE` | `s3_path_style` | `false` | `s3`: path-style requests (`{endpoint}/{bucket}/{key}`), as MinIO wants |
//! | `TMS_S3_ALLOW_HTTP` | `s3_allow_http` | `false` | `s3`: allow a plain-HTTP endpoint (loopback or a private network only) |
//! | `TMS_S3_ACCESS_KEY_ID` | `s3_access_key_id` | — | `s3`: the access key id (required) |
//! | `TMS_S3_SECRET_ACCESS_KEY` | `s3_secret_access_key` | — | `s3`: the secret access key (required; never logged) |
//!
//! Outgoing mail and the outbox worker (`TMS_MAIL_TRANSPORT`, `TMS_SMTP_*`,
//! `TMS_WORKER`, …) are listed in [`crate::mail`]; Gmail's (`TMS_GOOGLE_*`,
//! `TMS_GMAIL_SMTP_*`) in [`crate::mail_routes`]. WhatsApp, environment
//! only:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TMS_WHATSAPP_GRAPH_URL` | `https://graph.facebook.com` | Meta's Graph API (another URL: a proxy, or a test peer) |
//! | `TMS_WHATSAPP_GRAPH_VERSION` | the version the adapter was checked against | the Graph API version in request paths, e.g. `v21.0` |
//!
//! Booleans accept `true/false/1/0/yes/no/on/off`.
//!
//! # Keys
//!
//! `TMS_KEYRING` wins over `TMS_KEYRING_FILE`, `TMS_JWT_KEY` over
//! `TMS_JWT_KEY_FILE`. With neither, a key is generated into the data
//! directory on first start (file mode `0600`) and a warning is logged:
//! **production must supply its own keys**, kept outside the data directory
//! and its backups. Secrets never appear in `Debug` output or logs; the
//! database URL shows only its scheme, since it may carry a password.
//!
//! # PostgreSQL roles
//!
//! In production the server connects as a role that owns no table
//! (`TMS_DATABASE_URL`, e.g. `tms_app`), so that PostgreSQL's row-level
//! security policies (schema 16) bind it, and migrations run as the owner
//! (`TMS_DATABASE_OWNER_URL`). On start, `serve` and `migrate` migrate
//! through the owner URL and grant the server's role `SELECT, INSERT,
//! UPDATE, DELETE` on the tables; the role is the operator's to create once:
//! `CREATE ROLE tms_app LOGIN PASSWORD '…'` (not a superuser, no
//! `BYPASSRLS`). Without an owner URL the server's role migrates itself,
//! and the policies still bind it (they are forced on the owner) unless it
//! is a superuser.
//!
//! # Example file
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! database_url = "postgres://tms@db.internal/tms"
//! keyring_file = "/run/secrets/tms-keyring"
//! jwt_key_file = "/run/secrets/tms-jwt"
//! behind_tls = true
//! log_format = "json"
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tms_core::security::secret::Secret;
use tms_core::{Error, FieldErrors, Result};

use crate::client_ip::TrustedProxy;
use crate::mail::{MailConfig, MailFile};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./tms-data";
/// Default largest request body: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for a log collector.
    Json,
}

/// The server's settings. Build it with [`Config::load`] (file and
/// environment) or by hand in tests and embeddings.
#[derive(Clone)]
pub struct Config {
    /// Where the embedded defaults live.
    pub data_dir: PathBuf,
    /// The database; `None` is the SQLite file in [`Config::data_dir`].
    pub database_url: Option<Secret<String>>,
    /// PostgreSQL: the tables' owner, for migrations (the module doc's
    /// "PostgreSQL roles").
    pub database_owner_url: Option<Secret<String>>,
    /// The pool's size; `None` is the store's default (10 on PostgreSQL,
    /// 4 on an SQLite file).
    pub database_max_connections: Option<u32>,
    /// How long a request waits for a connection before `Unavailable`
    /// (503 + `Retry-After`).
    pub database_acquire_timeout: Duration,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The URL users reach the server at; `None` is `http://<listen>`.
    pub public_url: Option<String>,
    /// The key ring itself.
    pub keyring: Option<Secret<String>>,
    /// A key ring file.
    pub keyring_file: Option<PathBuf>,
    /// Base64 of the session-token key.
    pub jwt_key: Option<Secret<String>>,
    /// A file with the base64 session-token key.
    pub jwt_key_file: Option<PathBuf>,
    /// The tracing filter.
    pub log: String,
    /// How log lines look.
    pub log_format: LogFormat,
    /// Whether a TLS proxy fronts the server (adds HSTS).
    pub behind_tls: bool,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
    /// How long in-flight requests may finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Whether `serve` provisions the `demo` tenant on an empty store.
    pub first_run: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see
    /// [`crate::client_ip`]); empty: the socket peer is the client.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Outgoing mail and the outbox worker (see [`crate::mail`]).
    pub mail: MailConfig,
    // --- files (issue 8) ---
    /// Where uploaded files are kept.
    pub blobs: BlobConfig,
    // --- privacy (issue 7) ---
    /// Retention periods and their schedule.
    pub retention: RetentionConfig,
    // --- mail connections (issue 9) ---
    /// The Google client (Gmail through OAuth) and Gmail's SMTP server.
    pub gmail: crate::mail_routes::GmailConfig,
    // --- whatsapp (issue 9) ---
    /// Where the WhatsApp Cloud API is.
    pub whatsapp: WhatsappConfig,
}

// --- files (issue 8) ---
/// Where uploaded files are kept (`TMS_BLOB_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobConfig {
    /// A folder on local disk; `None` is `<data_dir>/files`.
    Local {
        /// The folder.
        dir: Option<PathBuf>,
    },
    /// An S3-compatible bucket.
    S3(S3Config),
}

impl Default for BlobConfig {
    fn default() -> Self {
        BlobConfig::Local { dir: None }
    }
}

/// An S3-compatible bucket: AWS S3, MinIO, … (`TMS_S3_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The service's URL; `None` is AWS.
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
    /// Path-style requests.
    pub path_style: bool,
    /// Whether a plain-HTTP endpoint is allowed.
    pub allow_http: bool,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: the secret is never shown, the key id only as set.
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &"<set>")
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Retention periods in days (`0` keeps the data) and how often `serve`
/// applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Login-attempt records idle this many days are forgotten.
    pub login_attempts_days: u64,
    /// Delivery logs and finished outbox messages older than this go.
    pub delivery_days: u64,
    /// Travellers of bookings closed this long ago are anonymised.
    pub closed_bookings_days: u64,
    /// How often `serve` runs the job; `None`: never (CLI only).
    pub interval: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            login_attempts_days: 30,
            delivery_days: 180,
            closed_bookings_days: 0,
            interval: Some(Duration::from_secs(86_400)),
        }
    }
}

impl RetentionConfig {
    /// The periods as the privacy service takes them.
    pub fn policy(&self) -> tms_core::service::privacy::RetentionPolicy {
        let days = |n: u64| {
            (n > 0)
                .then(|| chrono::Duration::days(i64::try_from(n).unwrap_or(i64::MAX / 86_400_000)))
        };
        tms_core::service::privacy::RetentionPolicy {
            login_attempts: days(self.login_attempts_days),
            delivery_logs: days(self.delivery_days),
            closed_bookings: days(self.closed_bookings_days),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: bool| if o { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_ref()
                    .map(|u| url_scheme(u.expose()))
                    .unwrap_or("<embedded sqlite>"),
            )
            .field(
                "database_owner_url",
                &self
                    .database_owner_url
                    .as_ref()
                    .map(|u| url_scheme(u.expose())),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("keyring", &set(self.keyring.is_some()))
            .field("keyring_file", &self.keyring_file)
            .field("jwt_key", &set(self.jwt_key.is_some()))
            .field("jwt_key_file", &self.jwt_key_file)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("behind_tls", &self.behind_tls)
            .field("body_limit", &self.body_limit)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("first_run", &self.first_run)
            .field(
                "trusted_proxies",
                &self
                    .trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("mail", &self.mail)
            .field("blobs", &self.blobs)
            .field("retention", &self.retention)
            // --- mail connections (issue 9) ---
            .field("gmail", &self.gmail)
            // --- whatsapp (issue 9) ---
            .field("whatsapp", &self.whatsapp)
            .finish()
    }
}

/// The part of a URL before `:` — never the credentials after it.
fn url_scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or_default()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
            database_owner_url: None,
            database_max_connections: None,
            database_acquire_timeout: Duration::from_secs(10),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            keyring: None,
            keyring_file: None,
            jwt_key: None,
            jwt_key_file: None,
            log: "info".into(),
            log_format: LogFormat::Pretty,
            behind_tls: false,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            first_run: true,
            trusted_proxies: Vec::new(),
            mail: MailConfig::default(),
            blobs: BlobConfig::default(),
            retention: RetentionConfig::default(),
            // --- mail connections (issue 9) ---
            gmail: crate::mail_routes::GmailConfig::default(),
            // --- whatsapp (issue 9) ---
            whatsapp: WhatsappConfig::default(),
        }
    }
}

/// The TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<Secret<String>>,
    database_owner_url: Option<Secret<String>>,
    database_max_connections: Option<u32>,
    database_acquire_timeout_ms: Option<u64>,
    listen: Option<String>,
    public_url: Option<String>,
    keyring: Option<Secret<String>>,
    keyring_file: Option<PathBuf>,
    jwt_key: Option<Secret<String>>,
    jwt_key_file: Option<PathBuf>,
    log: Option<String>,
    log_format: Option<String>,
    behind_tls: Option<bool>,
    body_limit: Option<usize>,
    request_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    first_run: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    // Mail (see `crate::mail`): listed here, not flattened, because serde's
    // `deny_unknown_fields` does not work with `flatten`.
    mail_transport: Option<String>,
    mail_from: Option<String>,
    mail_from_name: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<Secret<String>>,
    worker: Option<bool>,
    worker_poll_ms: Option<u64>,
    // --- files (issue 8) ---
    blob_store: Option<String>,
    files_dir: Option<PathBuf>,
    s3_bucket: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_path_style: Option<bool>,
    s3_allow_http: Option<bool>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<Secret<String>>,
    retention_login_attempts_days: Option<u64>,
    retention_delivery_days: Option<u64>,
    retention_closed_bookings_days: Option<u64>,
    retention_interval_secs: Option<u64>,
}

impl Config {
    /// Reads the optional TOML file, then the process environment over it.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], reading variables through `env` (for tests).
    pub fn load_with(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let text = match file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Error::invalid(
                    "config",
                    format!("{} cannot be read: {}", path.display(), e.kind()),
                )
            })?),
            None => None,
        };
        Self::from_sources(text.as_deref(), env)
    }

    /// Builds the configuration from a TOML text (if any) and variables;
    /// reports every bad setting at once.
    ///
    /// ```
    /// use tms_http::config::Config;
    ///
    /// let file = "listen = \"0.0.0.0:9000\"\nbehind_tls = true\n";
    /// let env = |name: &str| (name == "TMS_LISTEN").then(|| "127.0.0.1:7000".to_owned());
    /// let config = Config::from_sources(Some(file), env)?;
    /// assert_eq!(config.listen.to_string(), "127.0.0.1:7000"); // the environment wins
    /// assert!(config.behind_tls);
    /// # Ok::<(), tms_core::Error>(())
    /// ```
    pub fn from_sources(
        toml_text: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let file: FileConfig = match toml_text {
            Some(text) => toml::from_str(text).map_err(|e| {
                // toml's message quotes the offending line, which may hold a
                // key: say only where it is.
                let at = e
                    .span()
                    .map(|s| format!(" at byte {}", s.start))
                    .unwrap_or_default();
                Error::invalid("config", format!("the TOML file is malformed{at}"))
            })?,
            None => FileConfig::default(),
        };
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let mut errors = FieldErrors::new();
        let mut config = Config::default();

        if let Some(v) = env("TMS_DATA_DIR").map(PathBuf::from).or(file.data_dir) {
            config.data_dir = v;
        }
        config.database_url = env("TMS_DATABASE_URL")
            .map(Secret::new)
            .or(file.database_url);
        config.database_owner_url = env("TMS_DATABASE_OWNER_URL")
            .map(Secret::new)
            .or(file.database_owner_url);
        if let Some(v) = env("TMS_LISTEN").or(file.listen) {
            match v.trim().parse() {
                Ok(addr) => config.listen = addr,
                Err(_) => errors.push("TMS_LISTEN", "is not an address:port"),
            }
        }
        config.public_url = env("TMS_PUBLIC_URL").or(file.public_url);
        config.keyring = env("TMS_KEYRING").map(Secret::new).or(file.keyring);
        config.keyring_file = env("TMS_KEYRING_FILE")
            .map(PathBuf::from)
            .or(file.keyring_file);
        config.jwt_key = env("TMS_JWT_KEY").map(Secret::new).or(file.jwt_key);
        config.jwt_key_file = env("TMS_JWT_KEY_FILE")
            .map(PathBuf::from)
            .or(file.jwt_key_file);
        if let Some(v) = env("TMS_LOG").or(file.log) {
            config.log = v;
        }
        if let Some(v) = env("TMS_LOG_FORMAT").or(file.log_format) {
            match v.trim().to_ascii_lowercase().as_str() {
                "pretty" => config.log_format = LogFormat::Pretty,
                "json" => config.log_format = LogFormat::Json,
                _ => errors.push("TMS_LOG_FORMAT", "must be `pretty` or `json`"),
            }
        }
        let mut boolean = |name: &'static str, file: Option<bool>| -> Option<bool> {
            match env(name) {
                Some(v) => match parse_bool(&v) {
                    Some(b) => Some(b),
                    None => {
                        errors.push(name, "must be true or false");
                        None
                    }
                },
                None => file,
            }
        };
        if let Some(v) = boolean("TMS_BEHIND_TLS", file.behind_tls) {
            config.behind_tls = v;
        }
        // --- files (issue 8) ---
        let s3_path_style = boolean("TMS_S3_PATH_STYLE", file.s3_path_style).unwrap_or(false);
        let s3_allow_http = boolean("TMS_S3_ALLOW_HTTP", file.s3_allow_http).unwrap_or(false);
        config.first_run =
            boolean("TMS_FIRST_RUN", file.first_run).unwrap_or(config.database_url.is_none());
        let mut number = |name: &'static str, file: Option<u64>| -> Option<u64> {
            match env(name) {
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        errors.push(name, "must be a positive whole number");
                        None
                    }
                },
                None => file,
            }
        };
        if let Some(v) = number("TMS_BODY_LIMIT", file.body_limit.map(|n| n as u64)) {
            config.body_limit = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = number("TMS_REQUEST_TIMEOUT_SECS", file.request_timeout_secs) {
            config.request_timeout = Duration::from_secs(v);
        }
        if let Some(v) = number("TMS_SHUTDOWN_GRACE_SECS", file.shutdown_grace_secs) {
            config.shutdown_grace = Duration::from_secs(v);
        }
        if let Some(v) = number(
            "TMS_DATABASE_ACQUIRE_TIMEOUT_MS",
            file.database_acquire_timeout_ms,
        ) {
            config.database_acquire_timeout = Duration::from_millis(v);
        }
        let max_connections = number(
            "TMS_DATABASE_MAX_CONNECTIONS",
            file.database_max_connections.map(u64::from),
        );
        match max_connections.map(u32::try_from) {
            None => {}
            Some(Ok(n)) if n <= 1_000 => config.database_max_connections = Some(n),
            Some(_) => errors.push(
                "TMS_DATABASE_MAX_CONNECTIONS",
                "must be at most 1000 (PostgreSQL's own limit is usually 100)",
            ),
        }
        let proxies = match env("TMS_TRUSTED_PROXIES") {
            Some(v) => Some((
                "TMS_TRUSTED_PROXIES",
                v.split(',').map(str::to_owned).collect(),
            )),
            None => file.trusted_proxies.map(|list| ("trusted_proxies", list)),
        };
        if let Some((name, list)) = proxies {
            for entry in list.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
                match TrustedProxy::parse(entry) {
                    Some(proxy) => config.trusted_proxies.push(proxy),
                    None => errors.push(
                        name,
                        format!("`{entry}` is not an IP address or CIDR range"),
                    ),
                }
            }
        }
        let mail = MailFile {
            mail_transport: file.mail_transport,
            mail_from: file.mail_from,
            mail_from_name: file.mail_from_name,
            smtp_host: file.smtp_host,
            smtp_port: file.smtp_port,
            smtp_tls: file.smtp_tls,
            smtp_username: file.smtp_username,
            smtp_password: file.smtp_password,
            worker: file.worker,
            worker_poll_ms: file.worker_poll_ms,
        };
        config.mail = MailConfig::from_sources(mail, &env, &mut errors);
        // --- files (issue 8) ---
        let blob_store = env("TMS_BLOB_STORE").or(file.blob_store);
        match blob_store
            .as_deref()
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("local") => {
                config.blobs = BlobConfig::Local {
                    dir: env("TMS_FILES_DIR").map(PathBuf::from).or(file.files_dir),
                };
            }
            Some("s3") => {
                let bucket = env("TMS_S3_BUCKET").or(file.s3_bucket);
                let key_id = env("TMS_S3_ACCESS_KEY_ID").or(file.s3_access_key_id);
                let secret = env("TMS_S3_SECRET_ACCESS_KEY")
                    .map(Secret::new)
                    .or(file.s3_secret_access_key);
                if bucket.is_none() {
                    errors.push("TMS_S3_BUCKET", "is required with TMS_BLOB_STORE=s3");
                }
                if key_id.is_none() {
                    errors.push("TMS_S3_ACCESS_KEY_ID", "is required with TMS_BLOB_STORE=s3");
                }
                if secret.is_none() {
                    errors.push(
                        "TMS_S3_SECRET_ACCESS_KEY",
                        "is required with TMS_BLOB_STORE=s3",
                    );
                }
                if let (Some(bucket), Some(access_key_id), Some(secret_access_key)) =
                    (bucket, key_id, secret)
                {
                    config.blobs = BlobConfig::S3(S3Config {
                        bucket,
                        endpoint: env("TMS_S3_ENDPOINT").or(file.s3_endpoint),
                        region: env("TMS_S3_REGION")
                            .or(file.s3_region)
                            .unwrap_or_else(|| "us-east-1".to_owned()),
                        path_style: s3_path_style,
                        allow_http: s3_allow_http,
                        access_key_id,
                        secret_access_key,
                    });
                }
            }
            Some(_) => errors.push("TMS_BLOB_STORE", "must be `local` or `s3`"),
        }
        // --- privacy (issue 7) ---
        // Retention: whole numbers where `0` means "keep" (or "never run").
        let mut days = |name: &'static str, file: Option<u64>| -> Option<u64> {
            match env(name) {
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n <= 100_000 => Some(n),
                    _ => {
                        errors.push(name, "must be a whole number from 0 to 100000");
                        None
                    }
                },
                None => file.filter(|n| {
                    let ok = *n <= 100_000;
                    if !ok {
                        errors.push(name, "must be a whole number from 0 to 100000");
                    }
                    ok
                }),
            }
        };
        if let Some(v) = days(
            "TMS_RETENTION_LOGIN_ATTEMPTS_DAYS",
            file.retention_login_attempts_days,
        ) {
            config.retention.login_attempts_days = v;
        }
        if let Some(v) = days("TMS_RETENTION_DELIVERY_DAYS", file.retention_delivery_days) {
            config.retention.delivery_days = v;
        }
        if let Some(v) = days(
            "TMS_RETENTION_CLOSED_BOOKINGS_DAYS",
            file.retention_closed_bookings_days,
        ) {
            config.retention.closed_bookings_days = v;
        }
        let interval = match env("TMS_RETENTION_INTERVAL_SECS") {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push("TMS_RETENTION_INTERVAL_SECS", "must be a whole number");
                    None
                }
            },
            None => file.retention_interval_secs,
        };
        if let Some(secs) = interval {
            config.retention.interval = (secs > 0).then(|| Duration::from_secs(secs));
        }
        // --- mail connections (issue 9) ---
        config.gmail = crate::mail_routes::GmailConfig::from_env(&env, &mut errors);
        // --- whatsapp (issue 9) ---
        config.whatsapp = WhatsappConfig::from_env(&env, &mut errors);
        errors.into_result()?;
        Ok(config)
    }

    /// The folder of the local blob store.
    pub fn files_dir(&self) -> PathBuf {
        match &self.blobs {
            BlobConfig::Local { dir: Some(dir) } => dir.clone(),
            _ => self.data_dir.join("files"),
        }
    }

    /// The database URL: the configured one, or the SQLite file in the data
    /// directory.
    pub fn database_url(&self) -> Secret<String> {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tms.db").display()
            )),
        }
    }

    /// The URL users reach the server at.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(c.first_run);
        assert!(!c.behind_tls);
        assert_eq!(
            c.database_url().expose(),
            "sqlite://./tms-data/tms.db?mode=rwc"
        );
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file = r#"
            listen = "0.0.0.0:9000"
            log = "debug"
            behind_tls = true
        "#;
        let c = Config::from_sources(
            Some(file),
            env(&[("TMS_LISTEN", "127.0.0.1:7000"), ("TMS_BEHIND_TLS", "no")]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.log, "debug");
        assert!(!c.behind_tls);
    }

    #[test]
    fn an_explicit_database_turns_first_run_off_unless_asked() {
        let c = Config::from_sources(None, env(&[("TMS_DATABASE_URL", "postgres://x/y")])).unwrap();
        assert!(!c.first_run);
        let c = Config::from_sources(
            None,
            env(&[
                ("TMS_DATABASE_URL", "postgres://x/y"),
                ("TMS_FIRST_RUN", "1"),
            ]),
        )
        .unwrap();
        assert!(c.first_run);
    }

    #[test]
    fn the_database_pool_is_sized_and_timed_from_the_file_or_the_environment() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.database_max_connections, None);
        assert_eq!(c.database_acquire_timeout, Duration::from_secs(10));
        let file = "database_max_connections = 20\ndatabase_acquire_timeout_ms = 1500\n";
        let c = Config::from_sources(Some(file), env(&[])).unwrap();
        assert_eq!(c.database_max_connections, Some(20));
        assert_eq!(c.database_acquire_timeout, Duration::from_millis(1500));
        let c = Config::from_sources(
            Some(file),
            env(&[("TMS_DATABASE_ACQUIRE_TIMEOUT_MS", "250")]),
        )
        .unwrap();
        assert_eq!(c.database_acquire_timeout, Duration::from_millis(250));
        for (name, value) in [
            ("TMS_DATABASE_MAX_CONNECTIONS", "0"),
            ("TMS_DATABASE_MAX_CONNECTIONS", "5000"),
            ("TMS_DATABASE_ACQUIRE_TIMEOUT_MS", "soon"),
        ] {
            let err = Config::from_sources(None, env(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn every_bad_setting_is_reported_at_once() {
        let err = Config::from_sources(
            None,
            env(&[
                ("TMS_LISTEN", "nowhere"),
                ("TMS_LOG_FORMAT", "xml"),
                ("TMS_BODY_LIMIT", "-3"),
            ]),
        )
        .unwrap_err();
        let Error::Invalid(errors) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(errors.as_slice().len(), 3);
    }

    #[test]
    fn trusted_proxies_come_from_the_file_or_the_environment() {
        let file = "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n";
        let c = Config::from_sources(Some(file), env(&[])).unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128"]);
        let c = Config::from_sources(
            Some(file),
            env(&[("TMS_TRUSTED_PROXIES", "192.0.2.1, 172.16.0.0/12")]),
        )
        .unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["192.0.2.1/32", "172.16.0.0/12"]);
        assert!(
            Config::from_sources(None, env(&[]))
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        let err =
            Config::from_sources(None, env(&[("TMS_TRUSTED_PROXIES", "10.0.0.0/99")])).unwrap_err();
        assert!(err.to_string().contains("TMS_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn retention_periods_come_from_the_file_or_the_environment() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.retention, RetentionConfig::default());
        let policy = c.retention.policy();
        assert_eq!(policy.login_attempts, Some(chrono::Duration::days(30)));
        assert_eq!(policy.closed_bookings, None, "kept unless configured");
        let file = "retention_closed_bookings_days = 730\nretention_interval_secs = 3600\n";
        let c = Config::from_sources(
            Some(file),
            env(&[
                ("TMS_RETENTION_DELIVERY_DAYS", "0"),
                ("TMS_RETENTION_INTERVAL_SECS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(c.retention.closed_bookings_days, 730);
        assert_eq!(c.retention.policy().delivery_logs, None, "0 keeps");
        assert_eq!(c.retention.interval, None, "0 turns the schedule off");
        let err = Config::from_sources(
            None,
            env(&[
                ("TMS_RETENTION_LOGIN_ATTEMPTS_DAYS", "-1"),
                ("TMS_RETENTION_INTERVAL_SECS", "soon"),
            ]),
        )
        .unwrap_err();
        let Error::Invalid(errors) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(errors.as_slice().len(), 2);
    }

    #[test]
    fn unknown_file_keys_are_refused_without_echoing_the_file() {
        let err = Config::from_sources(Some("jwt_kye = \"c2VjcmV0\"\n"), env(&[])).unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn blob_stores_default_to_the_data_folder_and_s3_needs_its_settings() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.blobs, BlobConfig::Local { dir: None });
        assert_eq!(c.files_dir(), PathBuf::from("./tms-data/files"));
        let c = Config::from_sources(None, env(&[("TMS_FILES_DIR", "/srv/tms-files")])).unwrap();
        assert_eq!(c.files_dir(), PathBuf::from("/srv/tms-files"));

        let file = r#"
            blob_store = "s3"
            s3_bucket = "tms-files"
            s3_endpoint = "http://127.0.0.1:9000"
            s3_path_style = true
            s3_access_key_id = "AKIDFILE"
            s3_secret_access_key = "file-secret-key"
        "#;
        let c = Config::from_sources(
            Some(file),
            env(&[
                ("TMS_S3_REGION", "eu-central-1"),
                ("TMS_S3_ALLOW_HTTP", "yes"),
                ("TMS_S3_SECRET_ACCESS_KEY", "env-secret-key"),
            ]),
        )
        .unwrap();
        let BlobConfig::S3(s3) = &c.blobs else {
            panic!("expected s3: {:?}", c.blobs)
        };
        assert_eq!(s3.bucket, "tms-files");
        assert_eq!(s3.region, "eu-central-1");
        assert!(s3.path_style && s3.allow_http);
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.secret_access_key.expose(), "env-secret-key");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("secret-key") && shown.contains("tms-files"),
            "{shown}"
        );

        let err = Config::from_sources(None, env(&[("TMS_BLOB_STORE", "s3")])).unwrap_err();
        let Error::Invalid(errors) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(errors.as_slice().len(), 3);
        assert!(Config::from_sources(None, env(&[("TMS_BLOB_STORE", "ftp")])).is_err());
    }

    #[test]
    fn debug_never_shows_secrets_or_the_database_password() {
        let c = Config::from_sources(
            None,
            env(&[
                ("TMS_DATABASE_URL", "postgres://tms:hunter2-pw@db/tms"),
                (
                    "TMS_DATABASE_OWNER_URL",
                    "postgres://owner:swordfish-pw@db/tms",
                ),
                ("TMS_KEYRING", "1:c2VjcmV0LWtleQ=="),
                ("TMS_JWT_KEY", "and-another-secret"),
            ]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "hunter2",
            "swordfish",
            "c2VjcmV0",
            "another-secret",
            "db/tms",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("postgres"));
    }
}

// --- whatsapp (issue 9) ---
/// Where the WhatsApp Cloud API is (`TMS_WHATSAPP_GRAPH_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsappConfig {
    /// The Graph API's base URL, without a trailing `/`.
    pub graph_url: String,
    /// The Graph API version in request paths.
    pub graph_version: String,
}

impl Default for WhatsappConfig {
    fn default() -> Self {
        Self {
            graph_url: tms_adapters::whatsapp::DEFAULT_BASE_URL.to_owned(),
            graph_version: tms_adapters::whatsapp::DEFAULT_VERSION.to_owned(),
        }
    }
}

impl WhatsappConfig {
    fn from_env(env: &dyn Fn(&str) -> Option<String>, errors: &mut FieldErrors) -> Self {
        let mut config = Self::default();
        if let Some(url) = env("TMS_WHATSAPP_GRAPH_URL") {
            let url = url.trim().trim_end_matches('/');
            if url.starts_with("https://") || url.starts_with("http://") {
                config.graph_url = url.to_owned();
            } else {
                errors.push("TMS_WHATSAPP_GRAPH_URL", "must be an http(s) URL");
            }
        }
        if let Some(version) = env("TMS_WHATSAPP_GRAPH_VERSION") {
            let version = version.trim();
            // It becomes a path segment: `v` and a dotted number only.
            let ok = version.strip_prefix('v').is_some_and(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.')
            });
            if ok {
                config.graph_version = version.to_owned();
            } else {
                errors.push("TMS_WHATSAPP_GRAPH_VERSION", "must look like `v21.0`");
            }
        }
        config
    }
}
