//! A tenant's own mail connections (issue 9): its SMTP server, and its
//! Gmail account connected through OAuth 2.0.
//!
//! # Where things are kept
//!
//! Everything lives in the tenant's secret settings (`tenant_secrets`,
//! through [`SettingsRepo::put_secret`](crate::ports::SettingsRepo)),
//! sealed with the key ring for (`tenant_secrets`, tenant, name) — so key
//! rotation re-encrypts it with every other secret:
//!
//! | name | what |
//! |---|---|
//! | `mail.smtp` | the SMTP settings, password included |
//! | `mail.gmail` | the Gmail account: address, access and refresh tokens, expiry, scopes, whether broken |
//! | `mail.gmail.flow.<user id>` | the user's pending connection: the SHA-256 of its state, the PKCE verifier, its expiry |
//!
//! The settings are sealed as a whole (not only the password): one read
//! opens everything, and nothing about a tenant's mail set-up is readable
//! from the database alone.
//!
//! # Gmail
//!
//! [`MailConnections::gmail_connect`] asks the [`OAuthProvider`] for an
//! authorization URL (PKCE S256 + state) and keeps the flow **in the
//! store** — the servers are stateless replicas, and the browser may come
//! back to another one — for ten minutes, one per user (starting again
//! replaces it, so abandoned flows never pile up).
//! [`MailConnections::gmail_callback`] takes the calling user's flow, checks
//! the state against it (single use: the row is deleted before the code is
//! exchanged), exchanges the code, reads the account's address and keeps the sealed
//! tokens. [`MailConnections::gmail_disconnect`] is critical: it revokes
//! the grant at Google, then deletes the tokens — **deleted even when the
//! revocation fails** (Google down): the user asked for the tokens to be
//! gone, keeping them would let mail go on being sent in their name; the
//! audit event records that the revocation failed, so that it can be done
//! by hand from the Google account's security page.
//!
//! # Routes
//!
//! [`MailConnections::route_plan`] tells the worker how a tenant's mail
//! leaves: Gmail when connected, else the tenant's SMTP server, else the
//! installation's default. For Gmail it refreshes the access token when
//! less than five minutes are left and re-seals the new one; a refresh
//! refused with `invalid_grant` marks the connection broken, and from then
//! on its mail fails at once (`Rejected`) with a message saying to connect
//! again; a transient failure is `Unavailable` (the message is retried).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::NewAuditEvent;
use crate::domain::{Context, Email};
use crate::error::{Error, FieldErrors, Result};
use crate::id::TenantId;
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{OAuthProvider, UnitOfWork, transact};
use crate::security::keyring::{KeyRing, SealContext, Sealed};
use crate::security::secret::Secret;
use crate::security::token::PlainToken;
use crate::service::guard::authorize_in;
use crate::service::tenancy::Deps;

/// The secret setting holding the tenant's SMTP settings.
pub const SMTP_SECRET: &str = "mail.smtp";
/// The secret setting holding the tenant's Gmail connection.
pub const GMAIL_SECRET: &str = "mail.gmail";
/// The prefix of pending Gmail connections' secret settings.
pub const GMAIL_FLOW_PREFIX: &str = "mail.gmail.flow.";
/// How long a started Gmail connection waits for its callback.
pub const FLOW_TTL_MINUTES: i64 = 10;
/// An access token with less than this left is refreshed before use.
pub const REFRESH_MARGIN_MINUTES: i64 = 5;

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// A plain connection upgraded with STARTTLS, which must succeed (587).
    #[default]
    StartTls,
    /// TLS from the first byte (465).
    Tls,
    /// No encryption: only for a relay on loopback or a private network,
    /// because on any other path the password and every message would
    /// cross networks in clear text.
    None,
}

impl SmtpSecurity {
    /// Parses `starttls`, `tls` or `none`.
    ///
    /// ```
    /// use tms_core::service::mail_connections::SmtpSecurity;
    /// assert_eq!(SmtpSecurity::parse("STARTTLS").unwrap(), SmtpSecurity::StartTls);
    /// assert!(SmtpSecurity::parse("ssl3").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            "none" => Ok(Self::None),
            _ => Err(Error::invalid("tls", "must be starttls, tls or none")),
        }
    }

    /// The lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }
}

/// A tenant's SMTP server, as set by an administrator and as the worker
/// uses it. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Protection.
    pub security: SmtpSecurity,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password (with `username`). When setting: `None` keeps the stored
    /// password if the username is unchanged.
    pub password: Option<Secret<String>>,
    /// The sender address of the tenant's mail.
    pub from: Email,
    /// The sender's display name.
    pub from_name: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .finish()
    }
}

/// What an administrator sees of the SMTP settings: never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpStatus {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// Login.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Sender address.
    pub from: String,
    /// Sender display name.
    pub from_name: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What an administrator sees of the Gmail connection: never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GmailStatus {
    /// Whether an account is connected (possibly broken).
    pub connected: bool,
    /// The account's address.
    pub address: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the current access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was connected.
    pub connected_at: Option<DateTime<Utc>>,
    /// Why it no longer works (a refused refresh), if so.
    pub broken: Option<String>,
}

impl GmailStatus {
    fn disconnected() -> Self {
        Self {
            connected: false,
            address: None,
            scopes: Vec::new(),
            expires_at: None,
            connected_at: None,
            broken: None,
        }
    }
}

/// How one tenant's mail leaves ([`MailConnections::route_plan`]).
#[derive(Debug, Clone)]
pub enum RoutePlan {
    /// Through the connected Gmail account, by SMTP with XOAUTH2.
    Gmail {
        /// The account (XOAUTH2 user and sender).
        address: Email,
        /// The sender's display name: the agency's, as its branding prints
        /// it (else the tenant's name) — the mail comes from its own
        /// account, so it goes out under its own name.
        display_name: String,
        /// A fresh access token.
        access_token: Secret<String>,
        /// Changes whenever the stored connection does (cache key).
        version: String,
    },
    /// Through the tenant's SMTP server.
    Smtp {
        /// The settings, password included.
        settings: SmtpSettings,
        /// Changes whenever the stored settings do (cache key).
        version: String,
    },
    /// Through the installation's default route.
    Default,
}

/// A stored connection's id (the resource id of its removal).
trait HasId {
    fn id(&self) -> uuid::Uuid;
}

impl HasId for StoredSmtp {
    fn id(&self) -> uuid::Uuid {
        self.id
    }
}

impl HasId for StoredGmail {
    fn id(&self) -> uuid::Uuid {
        self.id
    }
}

/// The stored SMTP settings (sealed as a whole).
#[derive(Serialize, Deserialize)]
struct StoredSmtp {
    id: uuid::Uuid,
    host: String,
    port: u16,
    security: SmtpSecurity,
    username: Option<String>,
    password: Option<String>,
    from: String,
    from_name: Option<String>,
    updated_at: DateTime<Utc>,
}

impl StoredSmtp {
    fn status(&self) -> SmtpStatus {
        SmtpStatus {
            host: self.host.clone(),
            port: self.port,
            security: self.security,
            username: self.username.clone(),
            has_password: self.password.is_some(),
            from: self.from.clone(),
            from_name: self.from_name.clone(),
            updated_at: self.updated_at,
        }
    }
}

/// The stored Gmail connection (sealed as a whole).
#[derive(Serialize, Deserialize)]
struct StoredGmail {
    id: uuid::Uuid,
    address: String,
    access_token: String,
    refresh_token: String,
    expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    connected_at: DateTime<Utc>,
    broken: Option<String>,
}

impl StoredGmail {
    fn status(&self) -> GmailStatus {
        GmailStatus {
            connected: true,
            address: Some(self.address.clone()),
            scopes: self.scopes.clone(),
            expires_at: self.expires_at,
            connected_at: Some(self.connected_at),
            broken: self.broken.clone(),
        }
    }
}

/// A pending Gmail connection (sealed), one per user.
#[derive(Serialize, Deserialize)]
struct StoredFlow {
    /// SHA-256 of the state, hex.
    state_hash: String,
    pkce_verifier: String,
    expires_at: DateTime<Utc>,
}

/// Whether a plain-text (`none`) SMTP connection may go to `host`: only
/// loopback and private addresses (and `localhost`).
///
/// ```
/// use tms_core::service::mail_connections::is_private_host;
/// assert!(is_private_host("127.0.0.1") && is_private_host("10.1.2.3") && is_private_host("localhost"));
/// assert!(!is_private_host("smtp.gmail.com") && !is_private_host("8.8.8.8"));
/// ```
pub fn is_private_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
        }
        Err(_) => false,
    }
}

fn context(tenant: TenantId, name: &str) -> SealContext<'_> {
    SealContext {
        tenant_id: tenant,
        table: "tenant_secrets",
        row: tenant.as_uuid(),
        field: name,
    }
}

fn flow_name(user: crate::id::UserId) -> String {
    format!("{GMAIL_FLOW_PREFIX}{}", user.as_uuid())
}

fn state_hash(state: &str) -> String {
    Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn version_of(sealed: &Sealed) -> String {
    // A fresh nonce on every seal: the digest changes with every write.
    let digest = Sha256::digest(sealed.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The tenant's mail connections; see the [module documentation](self).
#[derive(Clone)]
pub struct MailConnections {
    deps: Deps,
    keyring: Arc<KeyRing>,
    google: Option<Arc<dyn OAuthProvider>>,
}

impl fmt::Debug for MailConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConnections")
            .field("gmail_configured", &self.google.is_some())
            .finish_non_exhaustive()
    }
}

impl MailConnections {
    /// The service over `deps`, sealing with `keyring`; `google` is the
    /// installation's Google client, `None` when Gmail is not configured.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tms_core::ports::{OsRandom, Store};
    /// use tms_core::security::keyring::KeyRing;
    /// use tms_core::service::mail_connections::MailConnections;
    /// use tms_core::service::tenancy::Deps;
    ///
    /// // Over any store; without a Google client, Gmail answers "not configured".
    /// fn mail_connections(store: Arc<dyn Store>) -> tms_core::Result<MailConnections> {
    ///     let keyring = Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose())?);
    ///     let service = MailConnections::new(Deps::new(store), keyring, None);
    ///     assert!(!service.gmail_configured());
    ///     Ok(service)
    /// }
    /// ```
    pub fn new(deps: Deps, keyring: Arc<KeyRing>, google: Option<Arc<dyn OAuthProvider>>) -> Self {
        Self {
            deps,
            keyring,
            google,
        }
    }

    /// Whether this server has a Google client.
    pub fn gmail_configured(&self) -> bool {
        self.google.is_some()
    }

    fn google(&self) -> Result<&Arc<dyn OAuthProvider>> {
        self.google
            .as_ref()
            .ok_or_else(|| Error::conflict("Gmail is not configured on this server"))
    }

    fn resource(tenant: TenantId) -> Resource {
        Resource::new(ResourceKind::MailConnection, tenant)
    }

    fn seal<T: Serialize>(&self, tenant: TenantId, name: &str, value: &T) -> Result<Sealed> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::internal(format!("cannot encode {name}: {e}")))?;
        let bytes = Secret::new(bytes);
        self.keyring.seal(
            bytes.expose(),
            &context(tenant, name),
            self.deps.random.as_ref(),
        )
    }

    fn open<T: for<'de> Deserialize<'de>>(
        &self,
        tenant: TenantId,
        name: &str,
        sealed: &Sealed,
    ) -> Result<T> {
        let bytes = self.keyring.open(sealed, &context(tenant, name))?;
        serde_json::from_slice(bytes.expose())
            .map_err(|_| Error::internal(format!("stored {name} cannot be read")))
    }

    async fn load<T: for<'de> Deserialize<'de>>(
        &self,
        uow: &mut dyn UnitOfWork,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<(T, Sealed)>> {
        match uow.settings().secret(tenant, name).await? {
            Some(sealed) => Ok(Some((self.open(tenant, name, &sealed)?, sealed))),
            None => Ok(None),
        }
    }

    /// A unit of work in which the caller may `action` the tenant's mail
    /// connections, the guard passed. Without a confirmation: the one
    /// critical action, a removal, goes through [`Self::authorize_removal`].
    async fn begin_as(&self, ctx: &Context, action: Action) -> Result<Box<dyn UnitOfWork>> {
        let uow = self.deps.store.begin().await?;
        let resource = Self::resource(ctx.principal.tenant_id());
        authorize_in(uow, &self.deps, ctx, action, &resource, None).await
    }

    /// Connection `name` as the caller may read it: authorized for reading
    /// the tenant's connections, loaded, and the unit of work rolled back
    /// (a read changes nothing). `None` when there is none.
    async fn read<T: for<'de> Deserialize<'de>>(
        &self,
        ctx: &Context,
        name: &str,
    ) -> Result<Option<T>> {
        let tenant = ctx.principal.tenant_id();
        let mut uow = self.begin_as(ctx, Action::Read).await?;
        let stored = self.load::<T>(&mut *uow, tenant, name).await?;
        uow.rollback().await?;
        Ok(stored.map(|(stored, _)| stored))
    }

    /// The unit of work of removing connection `name` and the connection,
    /// once the caller may: authorized for reading first, so that a caller
    /// who may not see it learns nothing (not even that a confirmation
    /// would be asked), then for the critical removal of that very
    /// connection. `NotFound` when there is none.
    async fn authorize_removal<T: for<'de> Deserialize<'de> + HasId>(
        &self,
        ctx: &Context,
        name: &str,
        confirmation: Option<&PlainToken>,
    ) -> Result<(Box<dyn UnitOfWork>, T)> {
        let tenant = ctx.principal.tenant_id();
        let id = self
            .read::<T>(ctx, name)
            .await?
            .map(|stored| stored.id())
            .ok_or_else(|| Error::not_found("mail connection"))?;
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize_in(
            uow,
            &self.deps,
            ctx,
            Action::Disconnect,
            &Self::resource(tenant).with_id(id),
            confirmation,
        )
        .await?;
        // Read again inside the removal's transaction: it may have changed.
        match self.load::<T>(&mut *uow, tenant, name).await? {
            Some((stored, _)) => Ok((uow, stored)),
            None => Err(Error::not_found("mail connection")),
        }
    }

    // ----- SMTP -------------------------------------------------------

    /// The tenant's SMTP settings, without the password; `None` if unset.
    pub async fn smtp(&self, ctx: &Context) -> Result<Option<SmtpStatus>> {
        let stored = self.read::<StoredSmtp>(ctx, SMTP_SECRET).await?;
        Ok(stored.map(|s| s.status()))
    }

    /// Sets (or replaces) the tenant's SMTP server. Audited as
    /// `mail.smtp.set`, without the password.
    pub async fn set_smtp(&self, ctx: &Context, settings: SmtpSettings) -> Result<SmtpStatus> {
        let tenant = ctx.principal.tenant_id();
        let mut errors = FieldErrors::new();
        let host = settings.host.trim().to_owned();
        if host.is_empty()
            || host.len() > 253
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c))
        {
            errors.push("host", "must be a host name or an IP address");
        }
        if settings.port == 0 {
            errors.push("port", "must be a port number");
        }
        if settings.security == SmtpSecurity::None && !is_private_host(&host) {
            errors.push(
                "tls",
                "none is allowed only for a loopback or private-network relay: elsewhere the \
                 password and the mail would travel in clear text",
            );
        }
        let username = settings
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        if username.as_ref().is_some_and(|u| u.len() > 320) {
            errors.push("username", "is too long");
        }
        if username.is_none() && settings.password.is_some() {
            errors.push("username", "is required with a password");
        }
        if settings
            .password
            .as_ref()
            .is_some_and(|p| p.expose().is_empty() || p.expose().len() > 1024)
        {
            errors.push("password", "must be 1 to 1024 characters");
        }
        let from_name = settings
            .from_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        if from_name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            errors.push("from_name", "must be at most 100 characters, on one line");
        }
        errors.into_result()?;
        let mut uow = self.begin_as(ctx, Action::Update).await?;
        let previous = self
            .load::<StoredSmtp>(&mut *uow, tenant, SMTP_SECRET)
            .await?;
        let password = match (settings.password, &previous) {
            (Some(p), _) => Some(p.expose().clone()),
            // Unchanged login: the stored password stays.
            (None, Some((prev, _))) if prev.username == username => prev.password.clone(),
            (None, _) => None,
        };
        let stored = StoredSmtp {
            id: previous
                .as_ref()
                .map_or_else(uuid::Uuid::now_v7, |(p, _)| p.id),
            host,
            port: settings.port,
            security: settings.security,
            username,
            password,
            from: settings.from.as_str().to_owned(),
            from_name,
            updated_at: ctx.now,
        };
        let sealed = self.seal(tenant, SMTP_SECRET, &stored)?;
        uow.settings()
            .put_secret(tenant, SMTP_SECRET, &sealed)
            .await?;
        let status = stored.status();
        let before = previous.map(|(p, _)| json!(p.status()));
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "mail.smtp.set", "mail_connection", Some(stored.id))
                    .with_change(before, Some(json!(status))),
            )
            .await?;
        uow.commit().await?;
        Ok(status)
    }

    /// Removes the tenant's SMTP server (its mail falls back to the
    /// installation's). Critical: without `confirmation` this fails with
    /// `ConfirmationRequired`. Audited as `mail.smtp.removed`.
    pub async fn remove_smtp(
        &self,
        ctx: &Context,
        confirmation: Option<&PlainToken>,
    ) -> Result<()> {
        let tenant = ctx.principal.tenant_id();
        let (mut uow, stored) = self
            .authorize_removal::<StoredSmtp>(ctx, SMTP_SECRET, confirmation)
            .await?;
        uow.settings().delete_secret(tenant, SMTP_SECRET).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "mail.smtp.removed", "mail_connection", Some(stored.id))
                    .with_change(Some(json!(stored.status())), None),
            )
            .await?;
        uow.commit().await
    }

    // ----- Gmail ------------------------------------------------------

    /// Starts connecting a Gmail account: the URL to send the browser to.
    /// The flow is kept (sealed) for ten minutes, for the same user; it
    /// replaces any earlier pending one of theirs.
    /// `Conflict` when the server has no Google client.
    pub async fn gmail_connect(&self, ctx: &Context) -> Result<String> {
        let tenant = ctx.principal.tenant_id();
        let user = ctx
            .principal
            .user_id()
            .ok_or_else(|| Error::invalid("principal", "only a signed-in user connects Gmail"))?;
        let mut uow = self.begin_as(ctx, Action::Create).await?;
        let google = self.google()?;
        let request = google.authorization_request()?;
        let name = flow_name(user);
        let flow = StoredFlow {
            state_hash: state_hash(request.state.expose()),
            pkce_verifier: request.pkce_verifier.expose().clone(),
            expires_at: ctx.now + Duration::minutes(FLOW_TTL_MINUTES),
        };
        let sealed = self.seal(tenant, &name, &flow)?;
        uow.settings().put_secret(tenant, &name, &sealed).await?;
        uow.audit()
            .append(NewAuditEvent::new(
                ctx,
                "mail.gmail.connect_started",
                "mail_connection",
                None,
            ))
            .await?;
        uow.commit().await?;
        Ok(request.url)
    }

    /// Completes a connection: `state` must be the one of the calling
    /// user's pending flow in this tenant, not expired — else `Invalid` on
    /// `state` and nothing is stored. A matching flow is used up whatever
    /// follows. Audited as `mail.gmail.connected` (address and scopes only).
    pub async fn gmail_callback(
        &self,
        ctx: &Context,
        code: &Secret<String>,
        state: &str,
    ) -> Result<GmailStatus> {
        let tenant = ctx.principal.tenant_id();
        let bad_state = || Error::invalid("state", "does not match a pending Gmail connection");
        let user = ctx.principal.user_id().ok_or_else(bad_state)?;
        if state.is_empty() || state.len() > 512 || code.expose().is_empty() {
            return Err(bad_state());
        }
        let name = flow_name(user);
        let mut uow = self.begin_as(ctx, Action::Create).await?;
        let google = self.google()?.clone();
        let Some((flow, _)) = self.load::<StoredFlow>(&mut *uow, tenant, &name).await? else {
            return Err(bad_state());
        };
        let presented = state_hash(state);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            presented.as_bytes(),
            flow.state_hash.as_bytes(),
        )) {
            // Not this flow's state: the flow stays for the real callback.
            return Err(bad_state());
        }
        // Single use: whoever deletes it first goes on.
        if !uow.settings().delete_secret(tenant, &name).await? {
            return Err(bad_state());
        }
        uow.commit().await?;
        if flow.expires_at <= ctx.now {
            return Err(bad_state());
        }
        let verifier = Secret::new(flow.pkce_verifier);
        let tokens = google.exchange_code(code, &verifier).await?;
        let refresh_token = tokens.refresh_token.ok_or_else(|| {
            Error::rejected("Google granted no refresh token; connect again and give consent")
        })?;
        let address = google.account_address(&tokens.access_token).await?;
        let stored = StoredGmail {
            id: uuid::Uuid::now_v7(),
            address: address.as_str().to_owned(),
            access_token: tokens.access_token.expose().clone(),
            refresh_token: refresh_token.expose().clone(),
            expires_at: tokens.expires_at,
            scopes: tokens.scopes,
            connected_at: ctx.now,
            broken: None,
        };
        let sealed = self.seal(tenant, GMAIL_SECRET, &stored)?;
        let status = stored.status();
        let mut uow = self.deps.store.begin().await?;
        let replaced = self
            .load::<StoredGmail>(&mut *uow, tenant, GMAIL_SECRET)
            .await?
            .map(|(p, _)| p);
        let previous = replaced
            .as_ref()
            .map(|p| json!({"address": p.address, "scopes": p.scopes}));
        uow.settings()
            .put_secret(tenant, GMAIL_SECRET, &sealed)
            .await?;
        // --- mail ops (issue 10): a connected mailbox is synced ---
        if uow.mail_ops().sync_state(tenant).await?.is_none() {
            let state = crate::domain::mail_ops::SyncState::new(tenant);
            uow.mail_ops().put_sync_state(&state).await?;
        }
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "mail.gmail.connected",
                    "mail_connection",
                    Some(stored.id),
                )
                .with_change(
                    previous,
                    Some(json!({"address": status.address, "scopes": status.scopes})),
                ),
            )
            .await?;
        uow.commit().await?;
        // Another Google account replaced the connected one: its grant is
        // revoked (once the new one is safely stored), so that no token of
        // it stays usable. The same account reconnecting is left alone:
        // Google keeps one grant per account and client, and revoking the
        // old refresh token would revoke the new one with it.
        if let Some(old) = replaced.filter(|p| !p.address.eq_ignore_ascii_case(address.as_str())) {
            let outcome = google.revoke(&Secret::new(old.refresh_token.clone())).await;
            let event = NewAuditEvent::new(
                ctx,
                "mail.gmail.replaced_grant_revoked",
                "mail_connection",
                Some(old.id),
            )
            .with_change(
                Some(json!({"address": old.address})),
                Some(json!({
                    "revoked": outcome.is_ok(),
                    "error": outcome.err().map(|e| e.to_string()),
                })),
            );
            transact(self.deps.store.as_ref(), |uow| {
                let event = event.clone();
                Box::pin(async move { uow.audit().append(event).await })
            })
            .await?;
        }
        Ok(status)
    }

    /// The Gmail connection's status (never a token).
    pub async fn gmail_status(&self, ctx: &Context) -> Result<GmailStatus> {
        let stored = self.read::<StoredGmail>(ctx, GMAIL_SECRET).await?;
        Ok(stored.map_or_else(GmailStatus::disconnected, |g| g.status()))
    }

    /// Disconnects Gmail: revokes the grant at Google, then deletes the
    /// tokens (even when the revocation fails; see the module doc).
    /// Critical: without `confirmation` this fails with
    /// `ConfirmationRequired`. Audited as `mail.gmail.disconnected`, with
    /// `revoked` and, if it failed, `revoke_error`. Mail Ops (issue 10):
    /// in the same transaction, sync stops and, if the tenant's setting
    /// `delete_mail_on_disconnect` is on, the stored mail is deleted
    /// (tickets keep their status history, lose their mail content).
    pub async fn gmail_disconnect(
        &self,
        ctx: &Context,
        confirmation: Option<&PlainToken>,
    ) -> Result<()> {
        let tenant = ctx.principal.tenant_id();
        let (mut uow, stored) = self
            .authorize_removal::<StoredGmail>(ctx, GMAIL_SECRET, confirmation)
            .await?;
        // Revoking the refresh token ends the whole grant, access tokens
        // included.
        let revoke_error = match &self.google {
            Some(google) => google
                .revoke(&Secret::new(stored.refresh_token.clone()))
                .await
                .err()
                .map(|e| e.to_string()),
            None => Some("Gmail is not configured on this server".to_owned()),
        };
        uow.settings().delete_secret(tenant, GMAIL_SECRET).await?;
        let mut after = json!({"revoked": revoke_error.is_none()});
        if let Some(why) = &revoke_error {
            after["revoke_error"] = json!(why);
        }
        // --- mail ops (issue 10): sync stops, stored mail goes by setting ---
        after["mail_ops"] = crate::service::mail_ops::on_disconnect(&mut *uow, tenant).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(
                    ctx,
                    "mail.gmail.disconnected",
                    "mail_connection",
                    Some(stored.id),
                )
                .with_change(
                    Some(json!({"address": stored.address, "scopes": stored.scopes})),
                    Some(after),
                ),
            )
            .await?;
        uow.commit().await
    }

    // ----- the worker's view ------------------------------------------

    /// How `tenant`'s mail leaves now (for the outbox worker; no principal:
    /// the worker acts for the system). See the module doc for the order
    /// and for token refreshing.
    pub async fn route_plan(&self, tenant: TenantId) -> Result<RoutePlan> {
        let now = self.deps.clock.now();
        let (gmail, smtp) = transact(self.deps.store.as_ref(), |uow| {
            Box::pin(async move {
                let gmail = match uow.settings().secret(tenant, GMAIL_SECRET).await? {
                    Some(sealed) => {
                        let branding = uow.files().branding(tenant).await?.agency_name;
                        let name = match branding.trim() {
                            "" => uow
                                .tenants()
                                .get(tenant)
                                .await?
                                .map(|t| t.name.as_str().to_owned())
                                .unwrap_or_default(),
                            name => name.to_owned(),
                        };
                        Some((sealed, name))
                    }
                    None => None,
                };
                let smtp = if gmail.is_none() {
                    uow.settings().secret(tenant, SMTP_SECRET).await?
                } else {
                    None
                };
                Ok((gmail, smtp))
            })
        })
        .await?;
        if let Some((sealed, display_name)) = gmail {
            let stored: StoredGmail = self.open(tenant, GMAIL_SECRET, &sealed)?;
            return self
                .gmail_plan(tenant, stored, &sealed, display_name, now)
                .await;
        }
        if let Some(sealed) = smtp {
            let stored: StoredSmtp = self.open(tenant, SMTP_SECRET, &sealed)?;
            let from = Email::parse(&stored.from)?;
            return Ok(RoutePlan::Smtp {
                settings: SmtpSettings {
                    host: stored.host,
                    port: stored.port,
                    security: stored.security,
                    username: stored.username,
                    password: stored.password.map(Secret::new),
                    from,
                    from_name: stored.from_name,
                },
                version: version_of(&sealed),
            });
        }
        Ok(RoutePlan::Default)
    }

    async fn gmail_plan(
        &self,
        tenant: TenantId,
        mut stored: StoredGmail,
        sealed: &Sealed,
        display_name: String,
        now: DateTime<Utc>,
    ) -> Result<RoutePlan> {
        if let Some(why) = &stored.broken {
            return Err(Error::rejected(format!(
                "the tenant's Gmail connection is broken ({why}); an administrator must connect \
                 Gmail again"
            )));
        }
        let address = Email::parse(&stored.address)?;
        let fresh = stored
            .expires_at
            .is_none_or(|at| at - now > Duration::minutes(REFRESH_MARGIN_MINUTES));
        if fresh {
            return Ok(RoutePlan::Gmail {
                address,
                display_name,
                access_token: Secret::new(stored.access_token),
                version: version_of(sealed),
            });
        }
        let google = self.google.as_ref().ok_or_else(|| {
            Error::unavailable("the Gmail connection (this server has no Google client)")
        })?;
        let refresh = Secret::new(stored.refresh_token.clone());
        match google.refresh(&refresh).await {
            Ok(tokens) => {
                stored.access_token = tokens.access_token.expose().clone();
                if let Some(refresh) = tokens.refresh_token {
                    stored.refresh_token = refresh.expose().clone();
                }
                stored.expires_at = tokens.expires_at;
                let resealed = self.seal(tenant, GMAIL_SECRET, &stored)?;
                self.replace_gmail(tenant, stored.id, &resealed).await?;
                Ok(RoutePlan::Gmail {
                    address,
                    display_name,
                    access_token: Secret::new(stored.access_token),
                    version: version_of(&resealed),
                })
            }
            Err(Error::Rejected { what }) => {
                stored.broken = Some(what.to_string());
                let resealed = self.seal(tenant, GMAIL_SECRET, &stored)?;
                self.replace_gmail(tenant, stored.id, &resealed).await?;
                let ctx = Context::new(crate::domain::Principal::system(tenant, "outbox"), now);
                let event = NewAuditEvent::new(
                    &ctx,
                    "mail.gmail.broken",
                    "mail_connection",
                    Some(stored.id),
                )
                .with_change(
                    None,
                    Some(json!({"address": stored.address, "reason": what})),
                );
                transact(self.deps.store.as_ref(), |uow| {
                    let event = event.clone();
                    Box::pin(async move { uow.audit().append(event).await })
                })
                .await?;
                Err(Error::rejected(format!(
                    "the tenant's Gmail connection is broken ({what}); an administrator must \
                     connect Gmail again"
                )))
            }
            Err(e) => Err(Error::unavailable(format!(
                "refreshing the Gmail token: {e}"
            ))),
        }
    }

    /// Stores `sealed` as the Gmail connection if connection `id` is still
    /// the one stored (a disconnect or a new connection meanwhile wins).
    async fn replace_gmail(&self, tenant: TenantId, id: uuid::Uuid, sealed: &Sealed) -> Result<()> {
        let this = self.clone();
        transact(self.deps.store.as_ref(), |uow| {
            let (this, sealed) = (this.clone(), sealed.clone());
            Box::pin(async move {
                let current = this.load::<StoredGmail>(uow, tenant, GMAIL_SECRET).await?;
                if current.is_some_and(|(g, _)| g.id == id) {
                    uow.settings()
                        .put_secret(tenant, GMAIL_SECRET, &sealed)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_text_smtp_is_only_for_loopback_and_private_relays() {
        for host in [
            "127.0.0.1",
            "::1",
            "[::1]",
            "10.0.0.5",
            "192.168.1.20",
            "172.16.4.4",
            "fd00::1",
            "localhost",
        ] {
            assert!(is_private_host(host), "{host}");
        }
        for host in [
            "smtp.gmail.com",
            "8.8.8.8",
            "2001:4860::1",
            "172.32.0.1",
            "localhost.evil.example",
        ] {
            assert!(!is_private_host(host), "{host}");
        }
    }

    #[test]
    fn the_smtp_password_never_shows_in_debug() {
        let settings = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: SmtpSecurity::StartTls,
            username: Some("agency".into()),
            password: Some(Secret::new("hunter2-hunter2".into())),
            from: Email::parse("bookings@agency.example").unwrap(),
            from_name: None,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_flow_is_kept_per_user_and_its_state_only_as_a_hash() {
        let user = crate::id::UserId::new();
        assert_eq!(
            flow_name(user),
            format!("mail.gmail.flow.{}", user.as_uuid())
        );
        assert_ne!(flow_name(user), flow_name(crate::id::UserId::new()));
        let hash = state_hash("state-a");
        assert!(!hash.contains("state-a") && hash.len() == 64);
        assert_ne!(hash, state_hash("state-b"));
    }
}
