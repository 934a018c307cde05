//! Each tenant's mail route, read from the store (issue 9): its Gmail
//! account if connected, else its own SMTP server, else the installation's
//! default route (`TMS_MAIL_*`, see [`crate::mail`]).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TMS_GOOGLE_CLIENT_ID` | — | the Google OAuth client; without it (and the two below) Gmail answers 409 "not configured" |
//! | `TMS_GOOGLE_CLIENT_SECRET` | — | its secret (never logged) |
//! | `TMS_GOOGLE_REDIRECT_URL` | — | `https://<server>/api/v1/mail/gmail/callback`, as registered at Google |
//! | `TMS_GOOGLE_AUTH_URL`, `TMS_GOOGLE_TOKEN_URL`, `TMS_GOOGLE_REVOKE_URL`, `TMS_GOOGLE_PROFILE_URL` | Google's | endpoint overrides (tests) |
//! | `TMS_GMAIL_SMTP_HOST` / `TMS_GMAIL_SMTP_PORT` / `TMS_GMAIL_SMTP_TLS` | `smtp.gmail.com` / 465 / `tls` | where Gmail's mail is sent (tests) |
//!
//! Nothing is cached that would break statelessness: every message reads
//! the tenant's settings from the store. What is kept per process is the
//! opened SMTP transport (its connection pool), keyed by tenant and by the
//! version of the stored settings — a new setting or a refreshed token is a
//! new key, and the tenant's older transport is dropped.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tms_adapters::mail::{
    GMAIL_API_URL, GmailMailbox, GmailMailboxConfig, GoogleOAuth, GoogleOAuthConfig, SmtpConfig,
    SmtpMailer, SmtpTls,
};
use tms_core::id::TenantId;
use tms_core::ports::{MailTransport, MailboxReader, OAuthProvider};
use tms_core::security::secret::Secret;
use tms_core::service::mail_connections::{MailConnections, RoutePlan, SmtpSecurity};
use tms_core::service::messaging::{MailRoute, MailRoutes, MailboxSender};
use tms_core::{FieldErrors, Result};

/// The Google client and Gmail's SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct GmailConfig {
    /// The OAuth client, when configured.
    pub google: Option<GoogleOAuthConfig>,
    /// Gmail's SMTP host (`smtp.gmail.com`).
    pub smtp_host: String,
    /// Its port (465).
    pub smtp_port: u16,
    /// Its protection (TLS from the first byte).
    pub smtp_tls: SmtpTls,
    // --- mail ops (issue 10) ---
    /// The Gmail API (`TMS_GMAIL_API_URL`), which Mail Ops reads the
    /// connected mailboxes through.
    pub api_url: String,
}

impl fmt::Debug for GmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GmailConfig")
            .field("google", &self.google)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl Default for GmailConfig {
    fn default() -> Self {
        Self {
            google: None,
            smtp_host: "smtp.gmail.com".to_owned(),
            smtp_port: 465,
            smtp_tls: SmtpTls::Tls,
            api_url: GMAIL_API_URL.to_owned(),
        }
    }
}

impl GmailConfig {
    /// Reads the variables of the module doc, adding problems to `errors`.
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>, errors: &mut FieldErrors) -> Self {
        let mut config = Self::default();
        let id = env("TMS_GOOGLE_CLIENT_ID").filter(|v| !v.trim().is_empty());
        let secret = env("TMS_GOOGLE_CLIENT_SECRET").filter(|v| !v.is_empty());
        let redirect = env("TMS_GOOGLE_REDIRECT_URL").filter(|v| !v.trim().is_empty());
        match (id, secret, redirect) {
            (Some(id), Some(secret), Some(redirect)) => {
                let mut google =
                    GoogleOAuthConfig::new(id.trim(), Secret::new(secret), redirect.trim());
                if let Some(v) = env("TMS_GOOGLE_AUTH_URL") {
                    google.auth_url = v;
                }
                if let Some(v) = env("TMS_GOOGLE_TOKEN_URL") {
                    google.token_url = v;
                }
                if let Some(v) = env("TMS_GOOGLE_REVOKE_URL") {
                    google.revoke_url = v;
                }
                if let Some(v) = env("TMS_GOOGLE_PROFILE_URL") {
                    google.profile_url = v;
                }
                config.google = Some(google);
            }
            (None, None, None) => {}
            _ => errors.push(
                "TMS_GOOGLE_CLIENT_ID",
                "TMS_GOOGLE_CLIENT_ID, TMS_GOOGLE_CLIENT_SECRET and TMS_GOOGLE_REDIRECT_URL go \
                 together: set all three or none",
            ),
        }
        if let Some(url) = env("TMS_GMAIL_API_URL") {
            let url = url.trim().trim_end_matches('/');
            if url.starts_with("https://") || url.starts_with("http://") {
                config.api_url = url.to_owned();
            } else {
                errors.push("TMS_GMAIL_API_URL", "must be an http(s) URL");
            }
        }
        if let Some(host) = env("TMS_GMAIL_SMTP_HOST") {
            config.smtp_host = host.trim().to_owned();
        }
        if let Some(port) = env("TMS_GMAIL_SMTP_PORT") {
            match port.trim().parse::<u16>() {
                Ok(p) if p > 0 => config.smtp_port = p,
                _ => errors.push("TMS_GMAIL_SMTP_PORT", "must be a port number"),
            }
        }
        if let Some(tls) = env("TMS_GMAIL_SMTP_TLS") {
            match tls.trim().to_ascii_lowercase().as_str() {
                "tls" => config.smtp_tls = SmtpTls::Tls,
                "starttls" => config.smtp_tls = SmtpTls::StartTls,
                "none" => config.smtp_tls = SmtpTls::None,
                _ => errors.push("TMS_GMAIL_SMTP_TLS", "must be `starttls`, `tls` or `none`"),
            }
        }
        config
    }

    /// The Google provider, if configured.
    pub fn provider(&self) -> Result<Option<Arc<dyn OAuthProvider>>> {
        match &self.google {
            Some(google) => Ok(Some(Arc::new(GoogleOAuth::new(google.clone())?))),
            None => Ok(None),
        }
    }

    // --- mail ops (issue 10) ---
    /// The Gmail API reader of the connected mailboxes (Mail Ops), when
    /// Google is configured: a mailbox is only ever connected through it.
    pub fn mailbox(&self) -> Result<Option<Arc<dyn MailboxReader>>> {
        if self.google.is_none() {
            return Ok(None);
        }
        let config = GmailMailboxConfig {
            base_url: self.api_url.clone(),
            ..GmailMailboxConfig::default()
        };
        Ok(Some(Arc::new(GmailMailbox::new(config)?)))
    }
}

/// An opened transport and the settings version it was opened for.
type Versioned = (String, Arc<dyn MailTransport>);

/// The store-backed [`MailRoutes`]; see the [module documentation](self).
pub struct StoredRoutes {
    connections: MailConnections,
    default: MailRoute,
    gmail: GmailConfig,
    transports: Mutex<HashMap<TenantId, Versioned>>,
    mailbox: Option<Arc<dyn MailboxReader>>,
}

impl fmt::Debug for StoredRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredRoutes")
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl StoredRoutes {
    /// Routes over `connections`, falling back to `default`.
    pub fn new(connections: MailConnections, default: MailRoute, gmail: GmailConfig) -> Self {
        Self {
            connections,
            default,
            gmail,
            transports: Mutex::new(HashMap::new()),
            mailbox: None,
        }
    }

    /// Sends a Gmail tenant's threaded replies through `mailbox` (the Gmail
    /// API, [`GmailConfig::mailbox`]) into their thread; without it (no
    /// Google client) they go by Gmail's SMTP, threaded by headers alone.
    #[must_use]
    pub fn with_mailbox(mut self, mailbox: Option<Arc<dyn MailboxReader>>) -> Self {
        self.mailbox = mailbox;
        self
    }

    /// The tenant's transport for `version`, opened once.
    fn transport(
        &self,
        tenant: TenantId,
        version: &str,
        config: impl FnOnce() -> SmtpConfig,
    ) -> Result<Arc<dyn MailTransport>> {
        if let Ok(cache) = self.transports.lock()
            && let Some((v, transport)) = cache.get(&tenant)
            && v == version
        {
            return Ok(transport.clone());
        }
        let transport: Arc<dyn MailTransport> = Arc::new(SmtpMailer::new(&config())?);
        if let Ok(mut cache) = self.transports.lock() {
            cache.insert(tenant, (version.to_owned(), transport.clone()));
        }
        Ok(transport)
    }
}

#[async_trait]
impl MailRoutes for StoredRoutes {
    async fn route(&self, tenant: TenantId) -> Result<MailRoute> {
        Ok(self.planned(tenant).await?.0)
    }

    async fn threaded_route(&self, tenant: TenantId) -> Result<(MailRoute, Option<MailboxSender>)> {
        let (route, access_token) = self.planned(tenant).await?;
        let sender = match (&self.mailbox, access_token) {
            (Some(mailbox), Some(access_token)) => Some(MailboxSender {
                mailbox: mailbox.clone(),
                access_token,
            }),
            _ => None,
        };
        Ok((route, sender))
    }
}

impl StoredRoutes {
    /// The tenant's route, and the Gmail access token when it is Gmail.
    async fn planned(&self, tenant: TenantId) -> Result<(MailRoute, Option<Secret<String>>)> {
        match self.connections.route_plan(tenant).await? {
            RoutePlan::Default => Ok((self.default.clone(), None)),
            RoutePlan::Smtp { settings, version } => {
                let transport = self.transport(tenant, &format!("smtp:{version}"), || {
                    let tls = match settings.security {
                        SmtpSecurity::StartTls => SmtpTls::StartTls,
                        SmtpSecurity::Tls => SmtpTls::Tls,
                        SmtpSecurity::None => SmtpTls::None,
                    };
                    let mut config = SmtpConfig::new(settings.host.clone(), settings.port, tls);
                    if let (Some(user), Some(password)) =
                        (settings.username.clone(), settings.password.clone())
                    {
                        config = config.with_login(user, password);
                    }
                    config.timeout = Duration::from_secs(30);
                    config
                })?;
                Ok((
                    MailRoute {
                        transport,
                        name: "smtp".to_owned(),
                        from: settings.from,
                        from_name: settings.from_name,
                    },
                    None,
                ))
            }
            RoutePlan::Gmail {
                address,
                display_name,
                access_token,
                version,
            } => {
                let transport = self.transport(tenant, &format!("gmail:{version}"), || {
                    let mut config = SmtpConfig::new(
                        self.gmail.smtp_host.clone(),
                        self.gmail.smtp_port,
                        self.gmail.smtp_tls,
                    )
                    .with_login(address.as_str(), access_token.clone());
                    config.xoauth2 = true;
                    config
                })?;
                Ok((
                    MailRoute {
                        transport,
                        name: "gmail".to_owned(),
                        from: address,
                        from_name: Some(display_name).filter(|n| !n.trim().is_empty()),
                    },
                    Some(access_token),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> (GmailConfig, FieldErrors) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| map.get(name).cloned();
        let mut errors = FieldErrors::new();
        let config = GmailConfig::from_env(&env, &mut errors);
        (config, errors)
    }

    #[test]
    fn gmail_is_off_by_default_and_on_smtp_gmail_com_465() {
        let (config, errors) = parse(&[]);
        assert!(errors.is_empty() && config.google.is_none());
        assert_eq!(
            (config.smtp_host.as_str(), config.smtp_port, config.smtp_tls),
            ("smtp.gmail.com", 465, SmtpTls::Tls)
        );
    }

    #[test]
    fn the_google_client_needs_all_three_and_its_secret_never_shows() {
        let (_, errors) = parse(&[("TMS_GOOGLE_CLIENT_ID", "id")]);
        assert!(!errors.is_empty());
        let (config, errors) = parse(&[
            ("TMS_GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com"),
            ("TMS_GOOGLE_CLIENT_SECRET", "GOCSPX-very-secret"),
            (
                "TMS_GOOGLE_REDIRECT_URL",
                "https://tms.example/api/v1/mail/gmail/callback",
            ),
            ("TMS_GOOGLE_TOKEN_URL", "http://127.0.0.1:9/token"),
        ]);
        assert!(errors.is_empty());
        let google = config.google.clone().unwrap();
        assert_eq!(google.token_url, "http://127.0.0.1:9/token");
        assert_eq!(google.revoke_url, tms_adapters::mail::GOOGLE_REVOKE_URL);
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
