//! Outgoing mail in `tms-server`: which transport, and the outbox worker
//! that delivers through it (issue 9).
//!
//! | variable | file key | default | meaning |
//! |---|---|---|---|
//! | `TMS_MAIL_TRANSPORT` | `mail_transport` | `folder` | `folder` (`.eml` files under `<data_dir>/mail`) or `smtp` |
//! | `TMS_MAIL_FROM` | `mail_from` | `no-reply@tms.localhost` | the sender address of every message |
//! | `TMS_MAIL_FROM_NAME` | `mail_from_name` | — | the sender's display name |
//! | `TMS_SMTP_HOST` | `smtp_host` | — | SMTP server (required with `smtp`) |
//! | `TMS_SMTP_PORT` | `smtp_port` | 587, 465 with `tls`, 25 with `none` | SMTP port |
//! | `TMS_SMTP_TLS` | `smtp_tls` | `starttls` | `starttls`, `tls` or `none` (loopback/private relays only) |
//! | `TMS_SMTP_USERNAME` | `smtp_username` | — | SMTP login |
//! | `TMS_SMTP_PASSWORD` | `smtp_password` | — | SMTP password (never logged) |
//! | `TMS_WORKER` | `worker` | `true` | run the outbox worker inside `serve` (`tms-server worker` runs it alone) |
//! | `TMS_WORKER_POLL_MS` | `worker_poll_ms` | `1000` | how long an idle worker waits before looking again |
//! | `TMS_WORKER_RETRY_BASE_MS` | — | `30000` | the delay before the first retry of a transiently failed message (doubling, with jitter, at most an hour) |
//! | `TMS_WORKER_LEASE_SECS` | — | `300` | how long a claimed message stays hidden from other workers: a worker killed mid-send leaves it to come back after this |
//!
//! Several servers may run the worker on one PostgreSQL: claims use `FOR
//! UPDATE SKIP LOCKED`, so no message is sent twice (see
//! [`tms_core::service::messaging`]).

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tms_adapters::mail::{FolderMailer, SmtpConfig, SmtpMailer, SmtpTls};
use tms_core::domain::Email;
use tms_core::security::secret::Secret;
use tms_core::service::messaging::{Courier, MailRoute, RetryPolicy, SingleRoute};
use tms_core::service::outreach::Outreach;
use tms_core::service::tenancy::Deps;
use tms_core::{Error, FieldErrors, Result};

/// Which transport carries the installation's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportKind {
    /// `.eml` files under `<data_dir>/mail` (the embedded default).
    #[default]
    Folder,
    /// An SMTP server.
    Smtp,
}

/// The mail settings of [`crate::config::Config`].
#[derive(Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// The transport.
    pub transport: TransportKind,
    /// The sender address; `None` is [`DEFAULT_FROM`].
    pub from: Option<Email>,
    /// The sender's display name.
    pub from_name: Option<String>,
    /// The SMTP server, with `smtp`.
    pub smtp: Option<SmtpConfig>,
    /// Whether `serve` runs the outbox worker.
    pub worker: bool,
    /// An idle worker's wait.
    pub poll: Duration,
    /// The delivery retry policy (base delay and lease from the
    /// environment, the rest [`RetryPolicy`]'s defaults).
    pub retry: RetryPolicy,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field("from", &self.from)
            .field("smtp", &self.smtp)
            .field("worker", &self.worker)
            .field("poll", &self.poll)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: TransportKind::Folder,
            from: None,
            from_name: None,
            smtp: None,
            worker: true,
            poll: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        }
    }
}

/// The sender when `TMS_MAIL_FROM` is not set.
pub const DEFAULT_FROM: &str = "no-reply@tms.localhost";

/// The mail keys of the TOML file.
#[derive(Debug, Default)]
pub(crate) struct MailFile {
    pub(crate) mail_transport: Option<String>,
    pub(crate) mail_from: Option<String>,
    pub(crate) mail_from_name: Option<String>,
    pub(crate) smtp_host: Option<String>,
    pub(crate) smtp_port: Option<u16>,
    pub(crate) smtp_tls: Option<String>,
    pub(crate) smtp_username: Option<String>,
    pub(crate) smtp_password: Option<Secret<String>>,
    pub(crate) worker: Option<bool>,
    pub(crate) worker_poll_ms: Option<u64>,
}

impl MailConfig {
    /// Reads the settings from the file's keys and the environment (which
    /// wins), adding every problem to `errors`.
    pub(crate) fn from_sources(
        file: MailFile,
        env: &dyn Fn(&str) -> Option<String>,
        errors: &mut FieldErrors,
    ) -> Self {
        let mut config = MailConfig::default();
        match env("TMS_MAIL_TRANSPORT")
            .or(file.mail_transport)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("folder") => config.transport = TransportKind::Folder,
            Some("smtp") => config.transport = TransportKind::Smtp,
            Some(_) => errors.push("TMS_MAIL_TRANSPORT", "must be `folder` or `smtp`"),
        }
        if let Some(v) = env("TMS_MAIL_FROM").or(file.mail_from) {
            match Email::parse(&v) {
                Ok(email) => config.from = Some(email),
                Err(_) => errors.push("TMS_MAIL_FROM", "is not an email address"),
            }
        }
        config.from_name = env("TMS_MAIL_FROM_NAME").or(file.mail_from_name);
        match env("TMS_WORKER") {
            Some(v) => match super::config::parse_bool(&v) {
                Some(b) => config.worker = b,
                None => errors.push("TMS_WORKER", "must be true or false"),
            },
            None => config.worker = file.worker.unwrap_or(true),
        }
        let poll = match env("TMS_WORKER_POLL_MS") {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.push("TMS_WORKER_POLL_MS", "must be a positive whole number");
                    None
                }
            },
            None => file.worker_poll_ms,
        };
        if let Some(ms) = poll {
            config.poll = Duration::from_millis(ms);
        }
        // --- retry and lease (issue 11) ---
        let mut positive = |name: &'static str| match env(name) {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.push(name, "must be a positive whole number");
                    None
                }
            },
            None => None,
        };
        if let Some(ms) = positive("TMS_WORKER_RETRY_BASE_MS") {
            config.retry.base_delay = chrono::Duration::milliseconds(ms);
        }
        if let Some(secs) = positive("TMS_WORKER_LEASE_SECS") {
            config.retry.lease = chrono::Duration::seconds(secs);
        }
        let tls = match env("TMS_SMTP_TLS")
            .or(file.smtp_tls)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(_) => {
                errors.push("TMS_SMTP_TLS", "must be `starttls`, `tls` or `none`");
                SmtpTls::StartTls
            }
        };
        let port = match env("TMS_SMTP_PORT") {
            Some(v) => match v.trim().parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    errors.push("TMS_SMTP_PORT", "must be a port number");
                    None
                }
            },
            None => file.smtp_port,
        }
        .unwrap_or(match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let host = env("TMS_SMTP_HOST").or(file.smtp_host);
        let username = env("TMS_SMTP_USERNAME").or(file.smtp_username);
        let password = env("TMS_SMTP_PASSWORD")
            .map(Secret::new)
            .or(file.smtp_password);
        if config.transport == TransportKind::Smtp {
            match host {
                Some(host) => {
                    let mut smtp = SmtpConfig::new(host.trim(), port, tls);
                    match (username, password) {
                        (Some(user), Some(password)) => smtp = smtp.with_login(user, password),
                        (None, None) => {}
                        _ => errors.push(
                            "TMS_SMTP_USERNAME",
                            "and TMS_SMTP_PASSWORD go together: set both or neither",
                        ),
                    }
                    config.smtp = Some(smtp);
                }
                None => errors.push("TMS_SMTP_HOST", "is required with TMS_MAIL_TRANSPORT=smtp"),
            }
        }
        config
    }

    /// The sender address: `TMS_MAIL_FROM`, else [`DEFAULT_FROM`].
    pub fn sender(&self) -> Email {
        match &self.from {
            Some(from) => from.clone(),
            // A constant that parses: checked by a test below.
            None => Email::parse(DEFAULT_FROM).unwrap_or_else(|_| unreachable!()),
        }
    }

    /// The installation's mail route: the configured transport and sender.
    pub fn route(&self, data_dir: &Path) -> Result<MailRoute> {
        let (transport, name): (Arc<dyn tms_core::ports::MailTransport>, &str) =
            match (&self.transport, &self.smtp) {
                (TransportKind::Smtp, Some(smtp)) => (Arc::new(SmtpMailer::new(smtp)?), "smtp"),
                (TransportKind::Smtp, None) => {
                    return Err(Error::invalid("TMS_SMTP_HOST", "is required"));
                }
                (TransportKind::Folder, _) => {
                    (Arc::new(FolderMailer::new(data_dir.join("mail"))), "folder")
                }
            };
        Ok(MailRoute {
            transport,
            name: name.to_owned(),
            from: self.sender(),
            from_name: self.from_name.clone(),
        })
    }
}

/// The outbox worker over `deps` for the configured route.
pub fn courier(deps: Deps, config: &MailConfig, data_dir: &Path) -> Result<Courier> {
    let route = config.route(data_dir)?;
    Ok(Courier::new(deps, Arc::new(SingleRoute(route))).with_policy(config.retry))
}

// --- mail connections (issue 9) ---
/// The outbox worker over `deps` with per-tenant routes
/// ([`crate::mail_routes::StoredRoutes`]): a tenant's Gmail, else its SMTP
/// server, else the configured installation route. A Gmail tenant's
/// threaded replies (Mail Ops) go through `mailbox`, the Gmail API, into
/// their thread.
pub fn courier_with_routes(
    deps: Deps,
    config: &MailConfig,
    data_dir: &Path,
    connections: tms_core::service::mail_connections::MailConnections,
    gmail: crate::mail_routes::GmailConfig,
    mailbox: Option<Arc<dyn tms_core::ports::MailboxReader>>,
) -> Result<Courier> {
    let route = config.route(data_dir)?;
    let routes =
        crate::mail_routes::StoredRoutes::new(connections, route, gmail).with_mailbox(mailbox);
    Ok(Courier::new(deps, Arc::new(routes)).with_policy(config.retry))
}

/// Runs `courier` until `shutdown` resolves: on every pass, expands the
/// sending `campaigns` (if given) into the outbox, then delivers; batch
/// after batch while there is work, waits `poll` when idle, and backs off
/// (up to a minute) while the store is failing. A batch in flight when `shutdown`
/// comes is finished first — its sends and their records — so that no
/// message is left half-done by a normal stop.
pub async fn run_worker(
    courier: Courier,
    campaigns: Option<Arc<Outreach>>,
    poll: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    run_worker_with(courier, campaigns, None, poll, shutdown).await;
}

// --- mail ops (issue 10) ---
/// [`run_worker`], also syncing the connected mailboxes (`mail_ops`) on
/// every pass, before the campaigns: new mail becomes tickets.
pub async fn run_worker_with(
    courier: Courier,
    campaigns: Option<Arc<Outreach>>,
    mail_ops: Option<Arc<tms_core::service::mail_ops::MailOps>>,
    poll: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let mut failures: u32 = 0;
    tracing::info!(poll_ms = poll.as_millis() as u64, "outbox worker started");
    loop {
        // Sending campaigns become outbox rows, a batch per campaign per
        // pass, before the outbox is delivered.
        if let Some(mail_ops) = &mail_ops {
            match mail_ops.tick(chrono::Utc::now()).await {
                Ok(report) => {
                    if report.stored > 0 {
                        tracing::info!(
                            tenants = report.tenants,
                            stored = report.stored,
                            opened = report.opened,
                            "mailboxes synced"
                        );
                    }
                    if report.errors > 0 {
                        tracing::warn!(
                            errors = report.errors,
                            "mailbox sync failed for some tenants; see their sync status"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mailboxes could not be synced"),
            }
        }
        let mut expanded = false;
        if let Some(campaigns) = &campaigns {
            match campaigns.tick(chrono::Utc::now()).await {
                Ok(report) => {
                    expanded = report.queued > 0;
                    if report.queued > 0 || report.done > 0 {
                        tracing::info!(
                            campaigns = report.campaigns,
                            queued = report.queued,
                            suppressed = report.suppressed,
                            done = report.done,
                            "campaigns expanded"
                        );
                    }
                    if report.errors > 0 {
                        tracing::warn!(
                            errors = report.errors,
                            "campaign batches rolled back; retried on the next pass"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "campaigns could not be expanded"),
            }
        }
        let wait = match courier.deliver_due().await {
            Ok(report) if report.claimed > 0 => {
                failures = 0;
                metrics::counter!("outbox_sent_total").increment(report.sent as u64);
                metrics::counter!("outbox_retried_total").increment(report.retried as u64);
                metrics::counter!("outbox_failed_total").increment(report.failed as u64);
                tracing::info!(
                    claimed = report.claimed,
                    sent = report.sent,
                    retried = report.retried,
                    failed = report.failed,
                    deferred = report.deferred,
                    "outbox batch delivered"
                );
                // More may be waiting: look again at once (unless stopping).
                Duration::ZERO
            }
            Ok(_) if expanded => {
                failures = 0;
                Duration::ZERO
            }
            Ok(_) => {
                failures = 0;
                poll
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let backoff = poll
                    .saturating_mul(2u32.saturating_pow(failures.min(6)))
                    .min(Duration::from_secs(60));
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox worker cannot reach the store");
                backoff
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("outbox worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> std::result::Result<MailConfig, FieldErrors> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| map.get(name).cloned();
        let mut errors = FieldErrors::new();
        let config = MailConfig::from_sources(MailFile::default(), &env, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn the_default_is_the_folder_with_the_worker_on() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.transport, TransportKind::Folder);
        assert!(config.worker);
        assert!(config.smtp.is_none());
        assert_eq!(config.sender().as_str(), DEFAULT_FROM);
    }

    #[test]
    fn smtp_needs_a_host_and_both_halves_of_a_login() {
        assert!(parse(&[("TMS_MAIL_TRANSPORT", "smtp")]).is_err());
        assert!(
            parse(&[
                ("TMS_MAIL_TRANSPORT", "smtp"),
                ("TMS_SMTP_HOST", "mail.example"),
                ("TMS_SMTP_USERNAME", "me"),
            ])
            .is_err()
        );
        let config = parse(&[
            ("TMS_MAIL_TRANSPORT", "smtp"),
            ("TMS_SMTP_HOST", "mail.example"),
            ("TMS_SMTP_TLS", "tls"),
            ("TMS_SMTP_USERNAME", "me"),
            ("TMS_SMTP_PASSWORD", "hunter2-hunter2"),
        ])
        .unwrap();
        let smtp = config.smtp.clone().unwrap();
        assert_eq!((smtp.port, smtp.tls), (465, SmtpTls::Tls));
        assert!(
            !format!("{config:?}").contains("hunter2"),
            "the password never shows"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let errors = parse(&[
            ("TMS_MAIL_TRANSPORT", "pigeon"),
            ("TMS_SMTP_TLS", "maybe"),
            ("TMS_WORKER", "sometimes"),
            ("TMS_MAIL_FROM", "not an address"),
        ])
        .unwrap_err();
        let text = format!("{errors:?}");
        for name in [
            "TMS_MAIL_TRANSPORT",
            "TMS_SMTP_TLS",
            "TMS_WORKER",
            "TMS_MAIL_FROM",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
    }
}
