//! Messaging (issue 9): delivering the outbox, and the tenant's controls
//! over it.
//!
//! Every message is an outbox row written in the same transaction as the
//! change that caused it (see [`OutboxRepo::enqueue`]). [`Courier`] is the
//! worker's use case: [`Courier::deliver_due`] claims a batch of due
//! messages, sends each through the tenant's [`MailRoute`], and records
//! every attempt in the delivery log:
//!
//! - accepted → `sent`;
//! - a transient failure ([`Error::Unavailable`], or anything unexpected) →
//!   back to pending after an exponential delay with jitter
//!   ([`RetryPolicy`]), until the last allowed attempt, which is `failed`;
//! - a permanent failure ([`Error::Rejected`], [`Error::Invalid`]) →
//!   `failed` at once.
//!
//! A tenant whose outbox is paused is not claimed at all; one whose daily
//! quota is used up gets its claimed messages put back for later, without
//! counting an attempt. The loop around `deliver_due` (sleeping when idle,
//! stopping gracefully) belongs to the runtime: `tms-server` runs it, and
//! `tms-server worker` runs it alone.
//!
//! The messages of a batch go out at once, up to
//! [`Courier::with_concurrency`] at a time — except that messages to the
//! same recipient go one after the other, in the order they were written
//! (a confirmation never overtakes the cancellation that follows it).
//!
//! The `Message-ID` is fixed when the message is written: a message sent
//! twice after a crash between the send and its record is recognisably
//! the same message to every mail system on the way.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::domain::{Context, Email};
use crate::error::{Error, Result};
use crate::id::{MessageId, TenantId};
use crate::policy::{Action, Resource, ResourceKind};
use crate::ports::{
    AttachmentRef, ChannelMessage, DeliveryAttempt, DeliveryOutcome, DeliveryRecord, EmailContent,
    MailTransport, MailboxReader, MessageChannel, OutboxChannel, OutboxContent, OutboxControls,
    OutboxMessage, OutboxStatus, OutgoingMail, Random, Receipt, WhatsappContent, check_mail_header,
    check_thread_id, transact,
};
use crate::security::secret::Secret;
use crate::service::guard::authorize_in as authorize;
use crate::service::tenancy::Deps;

/// When to try again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub base_delay: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
    /// Attempts in all, the first included; the last failed one is final.
    pub max_attempts: u32,
    /// How long a claimed message stays hidden from other workers. A worker
    /// that dies mid-send leaves it to come back after this.
    pub lease: Duration,
}

impl Default for RetryPolicy {
    /// 30 s, doubling, at most an hour apart, 8 attempts (about 2 hours in
    /// all), a 5-minute lease.
    fn default() -> Self {
        Self {
            base_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
            max_attempts: 8,
            lease: Duration::minutes(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` failed attempts: `base × 2^(failed−1)`,
    /// capped at `max_delay`, then a random point in its upper half
    /// ("equal jitter"), so that many messages failing together do not all
    /// come back at the same instant, yet none comes back early.
    ///
    /// ```
    /// use chrono::Duration;
    /// use tms_core::ports::OsRandom;
    /// use tms_core::service::messaging::RetryPolicy;
    ///
    /// let policy = RetryPolicy::default();
    /// let third = policy.delay(3, &OsRandom);
    /// assert!(third >= Duration::seconds(60) && third <= Duration::seconds(120));
    /// assert!(policy.delay(40, &OsRandom) <= Duration::hours(1));
    /// ```
    pub fn delay(&self, failed: u32, random: &dyn Random) -> Duration {
        let exponent = failed.saturating_sub(1).min(30);
        let base_ms = self.base_delay.num_milliseconds().max(1);
        let full = base_ms
            .saturating_mul(1_i64 << exponent)
            .min(self.max_delay.num_milliseconds().max(1));
        let half = full / 2;
        let mut bytes = [0u8; 8];
        random.fill_bytes(&mut bytes);
        let spread = u64::from_le_bytes(bytes) % (u64::try_from(full - half).unwrap_or(0) + 1);
        Duration::milliseconds(half + i64::try_from(spread).unwrap_or(0))
    }
}

/// How one tenant's mail leaves: the transport, its name for the delivery
/// log, and the sender.
#[derive(Clone)]
pub struct MailRoute {
    /// The transport (SMTP, Gmail, a folder).
    pub transport: Arc<dyn MailTransport>,
    /// Its name in the delivery log: `smtp`, `gmail`, `folder`.
    pub name: String,
    /// The `From` address.
    pub from: Email,
    /// The `From` display name (the agency's name), if any.
    pub from_name: Option<String>,
}

impl fmt::Debug for MailRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailRoute")
            .field("name", &self.name)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Finds each tenant's [`MailRoute`]: one route for everyone, or per-tenant
/// SMTP and Gmail settings.
#[async_trait]
pub trait MailRoutes: Send + Sync + fmt::Debug {
    /// The route of `tenant`'s mail. `Unavailable` when it cannot be known
    /// now (the message waits); `Rejected` when the tenant has none (the
    /// message fails).
    async fn route(&self, tenant: TenantId) -> Result<MailRoute>;

    /// The route of a reply in one of `tenant`'s provider threads
    /// ([`EmailContent::thread_id`]), and beside it the mailbox that can
    /// send into that thread when the route is a connected mailbox this
    /// server can send through (Gmail: the Gmail API). Looked up only for
    /// a threaded message, in one go, so that the token is read once.
    /// Errors as [`MailRoutes::route`]. The default has no mailbox: the
    /// message goes by the route, threaded by its headers alone.
    async fn threaded_route(&self, tenant: TenantId) -> Result<(MailRoute, Option<MailboxSender>)> {
        Ok((self.route(tenant).await?, None))
    }
}

/// A connected mailbox that sends a composed message into one of its
/// threads ([`MailboxReader::send`], Gmail's `users.messages.send` with
/// `threadId`), with the account's current access token.
///
/// A separate value rather than a field of [`MailRoute`]: routes are built
/// field by field in many places (the benches among them), and only a
/// threaded message needs this.
#[derive(Clone)]
pub struct MailboxSender {
    /// The mailbox (the Gmail API adapter).
    pub mailbox: Arc<dyn MailboxReader>,
    /// The account's access token (never printed).
    pub access_token: Secret<String>,
}

impl fmt::Debug for MailboxSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailboxSender")
            .field("mailbox", &self.mailbox)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// The same route for every tenant (the embedded default: a folder; or one
/// SMTP relay for the whole installation).
#[derive(Debug, Clone)]
pub struct SingleRoute(pub MailRoute);

#[async_trait]
impl MailRoutes for SingleRoute {
    async fn route(&self, _tenant: TenantId) -> Result<MailRoute> {
        Ok(self.0.clone())
    }
}

/// What one [`Courier::deliver_due`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    /// Messages claimed.
    pub claimed: usize,
    /// Accepted by their transport.
    pub sent: usize,
    /// Failed for now; coming back later.
    pub retried: usize,
    /// Failed for good.
    pub failed: usize,
    /// Put back untried (daily quota used up).
    pub deferred: usize,
}

/// The outbox worker's use case; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Courier {
    deps: Deps,
    routes: Arc<dyn MailRoutes>,
    channels: Option<Arc<dyn ChannelRoutes>>,
    attachments: Option<Arc<dyn AttachmentSource>>,
    policy: RetryPolicy,
    batch: u32,
    concurrency: usize,
}

impl Courier {
    /// A courier over `deps.store`, sending through `routes`, with the
    /// default [`RetryPolicy`], batches of 32 and up to 8 sends at once.
    pub fn new(deps: Deps, routes: Arc<dyn MailRoutes>) -> Self {
        Self {
            deps,
            routes,
            channels: None,
            attachments: None,
            policy: RetryPolicy::default(),
            batch: 32,
            concurrency: 8,
        }
    }

    /// Replaces how many sends of a batch run at once (at least 1; 1 sends
    /// one message after the other). Messages to one recipient always go
    /// in order, whatever this is.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sends WhatsApp messages through `channels`. Without it, a WhatsApp
    /// message fails for good: the server has no WhatsApp support.
    pub fn with_channels(mut self, channels: Arc<dyn ChannelRoutes>) -> Self {
        self.channels = Some(channels);
        self
    }

    /// Renders attachments through `source`. Without it, a message with an
    /// attachment fails for good rather than going out without it.
    pub fn with_attachments(mut self, source: Arc<dyn AttachmentSource>) -> Self {
        self.attachments = Some(source);
        self
    }

    /// Replaces the retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the batch size (at least 1).
    pub fn with_batch(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The retry policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Claims one batch of due messages and delivers it; see the
    /// [module documentation](self). Fails only when the store does; a
    /// failed send is a recorded outcome, not an error.
    pub async fn deliver_due(&self) -> Result<DeliveryReport> {
        let now = self.deps.clock.now();
        let lease_until = now + self.policy.lease;
        let batch = self.batch;
        let claimed = transact(self.deps.store.as_ref(), |uow| {
            Box::pin(async move { uow.outbox().claim_due(now, lease_until, batch).await })
        })
        .await?;
        let mut report = DeliveryReport {
            claimed: claimed.len(),
            ..DeliveryReport::default()
        };
        // Quotas first, in claim order: a message within its tenant's
        // quota reserves one send of it; the rest are put back untried.
        let mut quotas: Vec<(TenantId, Option<u64>)> = Vec::new();
        let mut queues: Vec<Vec<OutboxMessage>> = Vec::new();
        for message in claimed {
            let index = match quotas.iter().position(|(t, _)| *t == message.tenant_id) {
                Some(index) => index,
                None => {
                    let remaining = self.remaining_quota(message.tenant_id).await?;
                    quotas.push((message.tenant_id, remaining));
                    quotas.len() - 1
                }
            };
            let remaining = &mut quotas[index].1;
            if *remaining == Some(0) {
                self.put_back(&message, self.deps.clock.now() + Duration::minutes(15))
                    .await?;
                report.deferred += 1;
                continue;
            }
            if let Some(n) = remaining.as_mut() {
                *n = n.saturating_sub(1);
            }
            // One queue per recipient, in claim order.
            let recipient = message.recipient();
            match queues.iter_mut().find(|queue| {
                queue.first().is_some_and(|first| {
                    first.tenant_id == message.tenant_id && first.recipient() == recipient
                })
            }) {
                Some(queue) => queue.push(message),
                None => queues.push(vec![message]),
            }
        }
        // The queues run at once; each queue runs in order.
        let outcomes: Vec<Result<Vec<DeliveryOutcome>>> = stream::iter(queues)
            .map(|queue| async move {
                let mut outcomes = Vec::with_capacity(queue.len());
                for message in &queue {
                    outcomes.push(self.deliver(message).await?);
                }
                Ok(outcomes)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for outcome in outcomes {
            for outcome in outcome? {
                match outcome {
                    DeliveryOutcome::Sent => report.sent += 1,
                    DeliveryOutcome::Retry { .. } => report.retried += 1,
                    DeliveryOutcome::Failed => report.failed += 1,
                }
            }
        }
        Ok(report)
    }

    /// Sends one claimed message and records the attempt.
    async fn deliver(&self, message: &OutboxMessage) -> Result<DeliveryOutcome> {
        let (transport, result) = match &message.content {
            OutboxContent::Email(email) => self.send_email(message, email).await,
            OutboxContent::Whatsapp(whatsapp) => self.send_whatsapp(message, whatsapp).await,
        };
        let at = self.deps.clock.now();
        let (outcome, provider_message_id, error) = match result {
            Ok(receipt) => (DeliveryOutcome::Sent, receipt.provider_message_id, None),
            Err(e) => {
                let permanent = matches!(e, Error::Rejected { .. } | Error::Invalid(_));
                let outcome = if permanent || message.attempts >= self.policy.max_attempts {
                    DeliveryOutcome::Failed
                } else {
                    DeliveryOutcome::Retry {
                        next_attempt_at: at
                            + self
                                .policy
                                .delay(message.attempts, self.deps.random.as_ref()),
                    }
                };
                (outcome, None, Some(e.to_string()))
            }
        };
        let attempt = DeliveryAttempt {
            at,
            transport,
            outcome,
            provider_message_id,
            error,
        };
        transact(self.deps.store.as_ref(), |uow| {
            let (message, attempt) = (message.clone(), attempt.clone());
            Box::pin(async move { uow.outbox().record_attempt(&message, &attempt).await })
        })
        .await?;
        Ok(outcome)
    }

    /// Renders the attachments, composes and sends an email: the
    /// transport's name and the result. A message with a thread id goes
    /// through the route's mailbox into that thread when there is one
    /// ([`MailRoutes::threaded_route`]), by the route's transport
    /// otherwise.
    async fn send_email(
        &self,
        message: &OutboxMessage,
        email: &EmailContent,
    ) -> (String, Result<Receipt>) {
        let found = match &email.thread_id {
            Some(_) => self.routes.threaded_route(message.tenant_id).await,
            None => self
                .routes
                .route(message.tenant_id)
                .await
                .map(|route| (route, None)),
        };
        let (route, sender) = match found {
            Ok(found) => found,
            Err(e) => return ("none".to_owned(), Err(e)),
        };
        let mut files = Vec::with_capacity(email.attachments.len());
        for attachment in &email.attachments {
            let rendered = match &self.attachments {
                Some(source) => source.render(message.tenant_id, attachment).await,
                None => Err(Error::rejected(
                    "this server cannot render attachments for the outbox",
                )),
            };
            match rendered {
                Ok(file) => files.push(file),
                // A document that no longer exists will not come back.
                Err(Error::NotFound { .. }) => {
                    return (
                        route.name,
                        Err(Error::rejected("an attached document no longer exists")),
                    );
                }
                Err(e) => return (route.name, Err(e)),
            }
        }
        let result = match compose_with(message, &route, self.deps.clock.now(), &files) {
            Ok(mail) => match (sender, &email.thread_id) {
                (Some(sender), Some(thread)) => send_into_thread(&sender, &mail, thread).await,
                _ => route.transport.send(&mail).await,
            },
            Err(e) => Err(e),
        };
        (route.name, result)
    }

    /// Sends a WhatsApp template message through the tenant's channel.
    async fn send_whatsapp(
        &self,
        message: &OutboxMessage,
        whatsapp: &WhatsappContent,
    ) -> (String, Result<Receipt>) {
        let Some(channels) = &self.channels else {
            return (
                "none".to_owned(),
                Err(Error::rejected(
                    "this server does not send WhatsApp messages",
                )),
            );
        };
        let channel = match channels.channel(message.tenant_id).await {
            Ok(channel) => channel,
            Err(e) => return ("none".to_owned(), Err(e)),
        };
        let outgoing = ChannelMessage {
            tenant_id: message.tenant_id,
            to: whatsapp.to.clone(),
            template: whatsapp.template.clone(),
            language: whatsapp.language.clone(),
            variables: whatsapp.variables.clone(),
        };
        ("whatsapp".to_owned(), channel.send(&outgoing).await)
    }

    /// The tenant's sends left in the rolling 24 hours; `None` for no limit.
    async fn remaining_quota(&self, tenant: TenantId) -> Result<Option<u64>> {
        let since = self.deps.clock.now() - Duration::hours(24);
        transact(self.deps.store.as_ref(), |uow| {
            Box::pin(async move {
                let controls = uow.outbox().controls(tenant).await?;
                let Some(limit) = controls.daily_limit else {
                    return Ok(None);
                };
                let sent = uow.outbox().sent_since(tenant, since).await?;
                Ok(Some(u64::from(limit).saturating_sub(sent)))
            })
        })
        .await
    }

    async fn put_back(&self, message: &OutboxMessage, not_before: DateTime<Utc>) -> Result<()> {
        transact(self.deps.store.as_ref(), |uow| {
            let message = message.clone();
            Box::pin(async move { uow.outbox().release(&message, not_before).await })
        })
        .await
    }
}

/// Sends the composed `mail` (its `Message-ID` the one every retry uses)
/// through the mailbox into provider thread `thread`, and receipts the
/// provider's message id. A thread id the outbox refuses (a row written
/// by hand or by an older version) is `Rejected`: the message fails. A
/// thread the provider no longer knows (deleted there: `NotFound`) does
/// not stop the reply: it goes from the same mailbox outside the thread,
/// still threaded for the customer by `In-Reply-To` and `References`.
/// Other errors are the mailbox's: a rate limit or an outage retries, a
/// refused token or message fails.
async fn send_into_thread(
    sender: &MailboxSender,
    mail: &OutgoingMail,
    thread: &str,
) -> Result<Receipt> {
    check_thread_id(thread)
        .map_err(|_| Error::rejected("the message carries a malformed thread id"))?;
    let sent = match sender
        .mailbox
        .send(&sender.access_token, &mail.raw, Some(thread.to_owned()))
        .await
    {
        Err(Error::NotFound { .. }) => {
            sender
                .mailbox
                .send(&sender.access_token, &mail.raw, None)
                .await
        }
        other => other,
    }?;
    Ok(Receipt {
        provider_message_id: Some(sent),
    })
}

/// A rendered attachment, as [`compose_with`] puts it in the message.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedAttachment {
    /// The file name the reader sees (ASCII letters, digits, `.`, `-`, `_`;
    /// anything else is replaced).
    pub file_name: String,
    /// Its MIME type, e.g. `application/pdf` or `text/calendar; method=PUBLISH`.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for RenderedAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedAttachment")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Renders the documents named by [`AttachmentRef`]s when a message is
/// sent (`tms-server` renders vouchers and invoices with the documents
/// service, calendars with the `ics` adapter, as the tenant's system job).
#[async_trait]
pub trait AttachmentSource: Send + Sync + fmt::Debug {
    /// The file of `attachment` in `tenant`. `NotFound` when the document
    /// no longer exists (the message then fails for good); `Unavailable`
    /// to try again later.
    async fn render(
        &self,
        tenant: TenantId,
        attachment: &AttachmentRef,
    ) -> Result<RenderedAttachment>;
}

/// Finds each tenant's WhatsApp channel.
#[async_trait]
pub trait ChannelRoutes: Send + Sync + fmt::Debug {
    /// The channel of `tenant`'s WhatsApp messages. `Rejected` when the
    /// tenant has no connection (the message fails); `Unavailable` when it
    /// cannot be known now (the message waits).
    async fn channel(&self, tenant: TenantId) -> Result<Arc<dyn MessageChannel>>;
}

/// [`compose_with`] without attachments.
///
/// ```
/// use std::sync::Arc;
/// use chrono::Utc;
/// use tms_core::domain::Email;
/// use tms_core::id::{MessageId, TenantId};
/// use tms_core::ports::{MockMailTransport, OutboxMessage};
/// use tms_core::service::messaging::{MailRoute, compose};
///
/// let message = OutboxMessage::email(
///     MessageId::new(), TenantId::new(), Email::parse("amina@example.com").unwrap(),
///     "Your booking", "See you in Madinah.", Utc::now(),
/// );
/// let route = MailRoute {
///     transport: Arc::new(MockMailTransport::new()),
///     name: "folder".into(),
///     from: Email::parse("bookings@al-noor.example").unwrap(),
///     from_name: Some("Al-Noor Travel".into()),
/// };
/// let mail = compose(&message, &route, Utc::now()).unwrap();
/// let text = String::from_utf8(mail.raw).unwrap();
/// assert!(text.contains(&format!("Message-ID: {}", message.message_id)));
/// assert!(text.contains("To: amina@example.com"));
/// ```
pub fn compose(
    message: &OutboxMessage,
    route: &MailRoute,
    now: DateTime<Utc>,
) -> Result<OutgoingMail> {
    compose_with(message, route, now, &[])
}

/// The RFC 5322 form of an outbox email, as it goes on the wire: the
/// message's own `Message-ID`, the route's sender, its extra headers, and
///
/// - a UTF-8 text body alone, or
/// - `multipart/alternative` of the text and the HTML body, and
/// - around either, `multipart/mixed` with the attachments.
///
/// Every part is base64 in 76-column lines; boundaries contain `_`, which
/// base64 never does, so no content can end a part early.
///
/// ```
/// use std::sync::Arc;
/// use chrono::Utc;
/// use tms_core::domain::Email;
/// use tms_core::id::{BookingId, MessageId, TenantId};
/// use tms_core::ports::{AttachmentRef, MockMailTransport, OutboxMessage};
/// use tms_core::service::messaging::{MailRoute, RenderedAttachment, compose_with};
///
/// let message = OutboxMessage::email(
///     MessageId::new(), TenantId::new(), Email::parse("amina@example.com").unwrap(),
///     "Your voucher", "Attached.", Utc::now(),
/// )
/// .with_html("<p>Attached.</p>")
/// .with_attachment(AttachmentRef::BookingVoucher { booking_id: BookingId::new() });
/// let route = MailRoute {
///     transport: Arc::new(MockMailTransport::new()),
///     name: "folder".into(),
///     from: Email::parse("bookings@al-noor.example").unwrap(),
///     from_name: None,
/// };
/// let pdf = RenderedAttachment {
///     file_name: "voucher TMS-1042.pdf".into(),
///     content_type: "application/pdf".into(),
///     bytes: b"%PDF-1.7".to_vec(),
/// };
/// let text = String::from_utf8(compose_with(&message, &route, Utc::now(), &[pdf]).unwrap().raw).unwrap();
/// assert!(text.contains("Content-Type: multipart/mixed;"));
/// assert!(text.contains("Content-Type: multipart/alternative;"));
/// assert!(text.contains("Content-Disposition: attachment; filename=\"voucher_TMS-1042.pdf\""));
/// ```
pub fn compose_with(
    message: &OutboxMessage,
    route: &MailRoute,
    now: DateTime<Utc>,
    attachments: &[RenderedAttachment],
) -> Result<OutgoingMail> {
    // Written by hand rather than with lettre's builder: tms-core reaches no
    // I/O crate (see the `no_io` test), and lettre's one lock entry carries
    // the transports' tokio and TLS. What is written is small and fixed:
    // free-form header values (subject, display name) are always RFC 2047
    // encoded words, extra headers come from a fixed list and are checked
    // again here (the row may have been written by an older version), so no
    // caller text can add a header line.
    let Some(email) = message.as_email() else {
        return Err(Error::rejected("only an email can be composed as mail"));
    };
    let address = |email: &Email| -> Result<String> {
        let text = email.as_str();
        if text.is_empty()
            || text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\",;".contains(c))
        {
            return Err(Error::rejected(format!(
                "{text} is not a deliverable address"
            )));
        }
        Ok(text.to_owned())
    };
    let message_id = message.message_id.trim();
    if !(message_id.starts_with('<') && message_id.ends_with('>'))
        || message_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::rejected("the message has a malformed Message-ID"));
    }
    for (name, value) in &email.headers {
        check_mail_header(name, value).map_err(|_| {
            Error::rejected(format!("the message carries a header it may not: {name}"))
        })?;
    }
    let from = match &route.from_name {
        Some(name) if !name.trim().is_empty() => {
            format!("{} <{}>", encoded_words(name.trim()), address(&route.from)?)
        }
        _ => address(&route.from)?,
    };
    let size: usize = email.body_text.len()
        + email.body_html.as_ref().map_or(0, String::len)
        + attachments.iter().map(|a| a.bytes.len()).sum::<usize>();
    let mut raw = String::with_capacity(1024 + size * 4 / 3);
    let mut header = |name: &str, value: &str| {
        raw.push_str(name);
        raw.push_str(": ");
        raw.push_str(value);
        raw.push_str("\r\n");
    };
    header("From", &from);
    header("To", &address(&email.to)?);
    header("Subject", &encoded_words(&email.subject));
    header("Date", &now.to_rfc2822());
    header("Message-ID", message_id);
    for (name, value) in &email.headers {
        header(name, value);
    }
    header("MIME-Version", "1.0");
    // Boundaries from the message's id: stable for a resend, unique per
    // message, and with `_`, which no base64 line contains.
    let tag = message.id.as_uuid().simple();
    let mixed = format!("=_tms_mixed_{tag}");
    let alternative = format!("=_tms_alt_{tag}");
    if !attachments.is_empty() {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n--{mixed}\r\n"
        ));
    }
    match &email.body_html {
        None => text_part(&mut raw, "text/plain; charset=utf-8", &email.body_text),
        Some(html) => {
            raw.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{alternative}\"\r\n\r\n--{alternative}\r\n"
            ));
            text_part(&mut raw, "text/plain; charset=utf-8", &email.body_text);
            raw.push_str(&format!("--{alternative}\r\n"));
            text_part(&mut raw, "text/html; charset=utf-8", html);
            raw.push_str(&format!("--{alternative}--\r\n"));
        }
    }
    if !attachments.is_empty() {
        for file in attachments {
            let name = safe_file_name(&file.file_name);
            let content_type = if file.content_type.is_ascii()
                && !file
                    .content_type
                    .chars()
                    .any(|c| c.is_control() || c == '"')
            {
                file.content_type.as_str()
            } else {
                "application/octet-stream"
            };
            raw.push_str(&format!(
                "--{mixed}\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ));
            push_base64(&mut raw, &file.bytes);
        }
        raw.push_str(&format!("--{mixed}--\r\n"));
    }
    Ok(OutgoingMail {
        tenant_id: message.tenant_id,
        from: route.from.clone(),
        to: vec![email.to.clone()],
        message_id: message_id.to_owned(),
        raw: raw.into_bytes(),
    })
}

/// One text part: its headers, then the text with CRLF line ends (as RFC
/// 5322 text wants) in base64.
fn text_part(raw: &mut String, content_type: &str, text: &str) {
    raw.push_str("Content-Type: ");
    raw.push_str(content_type);
    raw.push_str("\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    push_base64(raw, text.as_bytes());
}

/// `bytes` in base64, 76 characters a line.
fn push_base64(raw: &mut String, bytes: &[u8]) {
    let encoded = BASE64.encode(bytes);
    for line in encoded.as_bytes().chunks(76) {
        // Base64 output is ASCII: every chunk is valid UTF-8.
        raw.push_str(std::str::from_utf8(line).unwrap_or_default());
        raw.push_str("\r\n");
    }
}

/// A file name safe in a quoted MIME parameter: ASCII letters, digits, `.`,
/// `-` and `_`, at most 100 characters; anything else becomes `_`.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches(['.', '_']).is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

/// `text` as RFC 2047 `B` encoded words of at most 75 characters, folded
/// one per line: CR, LF and every other character become base64, so the
/// value can never end its header line early.
fn encoded_words(text: &str) -> String {
    // 39 bytes of UTF-8 make 52 base64 characters; with `=?utf-8?B?` and
    // `?=` that is 64, inside the 75 RFC 2047 allows, and with `Subject: `
    // in front the line stays within RFC 5322's 78. Words end on character
    // boundaries, as RFC 2047 requires.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(format!("=?utf-8?B?{}?=", BASE64.encode(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", BASE64.encode(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// A message as the API shows it: the envelope and its delivery log, never
/// the body (it may carry a reset link or a code).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageStatus {
    /// Identity.
    pub id: MessageId,
    /// How it travels.
    pub channel: OutboxChannel,
    /// Recipient: an email address or an E.164 number.
    pub to: String,
    /// Subject line (an email) or template name (WhatsApp).
    pub subject: String,
    /// Attached documents (an email).
    pub attachments: Vec<AttachmentRef>,
    /// The RFC 5322 `Message-ID`.
    pub message_id: String,
    /// `pending`, `sent` or `failed`.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub deliveries: Vec<DeliveryRecord>,
}

/// The tenant's controls over its outbox: pause, resume, a daily quota,
/// and each message's delivery log. Administrators' work (the tenant
/// settings resource).
#[derive(Debug, Clone)]
pub struct Messaging {
    deps: Deps,
}

impl Messaging {
    /// The service over `deps`.
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }

    /// The tenant's outbox controls.
    pub async fn controls(&self, ctx: &Context) -> Result<OutboxControls> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let controls = uow.outbox().controls(tenant).await?;
        uow.rollback().await?;
        Ok(controls)
    }

    /// Pauses or resumes sending, and sets the daily quota (audited).
    /// A quota of 0 is refused: pause instead.
    pub async fn set_controls(
        &self,
        ctx: &Context,
        controls: OutboxControls,
    ) -> Result<OutboxControls> {
        if controls.daily_limit == Some(0) {
            return Err(Error::invalid(
                "daily_limit",
                "must be at least 1; pause the outbox to stop sending",
            ));
        }
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Update, &resource, None).await?;
        let before = uow.outbox().controls(tenant).await?;
        uow.outbox().set_controls(tenant, &controls).await?;
        let action = match (before.paused, controls.paused) {
            (false, true) => "outbox.paused",
            (true, false) => "outbox.resumed",
            _ => "outbox.controls_changed",
        };
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, action, "outbox", None)
                    .with_change(Some(json!(before)), Some(json!(controls))),
            )
            .await?;
        uow.commit().await?;
        Ok(controls)
    }

    /// One message of the tenant and its delivery log; another tenant's is
    /// not found.
    pub async fn message(&self, ctx: &Context, id: MessageId) -> Result<MessageStatus> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::TenantSettings, tenant);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let message = uow
            .outbox()
            .get(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("message"))?;
        let deliveries = uow.outbox().deliveries(tenant, id).await?;
        uow.rollback().await?;
        Ok(MessageStatus {
            id: message.id,
            channel: message.channel(),
            to: message.recipient().to_owned(),
            subject: message.summary().to_owned(),
            attachments: message
                .as_email()
                .map(|e| e.attachments.clone())
                .unwrap_or_default(),
            message_id: message.message_id,
            status: message.status,
            attempts: message.attempts,
            created_at: message.created_at,
            deliveries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SeededRandom;

    #[test]
    fn delays_double_stay_in_their_upper_half_and_are_capped() {
        let policy = RetryPolicy::default();
        let random = SeededRandom::new(7);
        for failed in 1..=12 {
            let full = (30_000_i64 << (failed - 1)).min(3_600_000);
            for _ in 0..50 {
                let d = policy.delay(failed, &random).num_milliseconds();
                assert!(d >= full / 2 && d <= full, "attempt {failed}: {d} ms");
            }
        }
        assert!(policy.delay(u32::MAX, &random) <= Duration::hours(1));
    }

    /// The decoded value of header `name`: its encoded words joined.
    fn decode_words(raw: &str, name: &str) -> String {
        let start = raw.find(&format!("{name}: ")).unwrap() + name.len() + 2;
        let mut value = String::new();
        for (i, line) in raw[start..].split("\r\n").enumerate() {
            if i > 0 && !line.starts_with(' ') {
                break;
            }
            let word = line
                .trim()
                .trim_start_matches("=?utf-8?B?")
                .trim_end_matches("?=");
            value.push_str(&String::from_utf8(BASE64.decode(word).unwrap()).unwrap());
        }
        value
    }

    #[test]
    fn a_subject_cannot_add_a_header_and_long_subjects_fold() {
        let mut message = OutboxMessage::email(
            MessageId::new(),
            TenantId::new(),
            Email::parse("amina@example.com").unwrap(),
            "Hello\r\nBcc: victim@example.com",
            "body",
            Utc::now(),
        );
        let route = MailRoute {
            transport: Arc::new(crate::ports::MockMailTransport::new()),
            name: "folder".into(),
            from: Email::parse("bookings@al-noor.example").unwrap(),
            from_name: Some("Evil\r\nBcc: x@example.com".into()),
        };
        let text = String::from_utf8(compose(&message, &route, Utc::now()).unwrap().raw).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert_eq!(
            decode_words(&text, "Subject"),
            "Hello\r\nBcc: victim@example.com"
        );
        let subject = "تأكيد حجز العمرة — Umrah booking confirmation ".repeat(6);
        if let OutboxContent::Email(email) = &mut message.content {
            email.subject = subject.clone();
        }
        let text = String::from_utf8(compose(&message, &route, Utc::now()).unwrap().raw).unwrap();
        assert!(text.lines().all(|l| l.len() <= 78), "{text}");
        assert_eq!(decode_words(&text, "Subject"), subject);
    }

    #[test]
    fn a_thread_id_is_checked_kept_through_json_and_never_printed() {
        let message = OutboxMessage::email(
            MessageId::new(),
            TenantId::new(),
            Email::parse("amina@example.com").unwrap(),
            "Re: Visa",
            "Ready.",
            Utc::now(),
        );
        for bad in ["", "a/b", "../profile", "t1\r\nBcc: x@example.com", "é"] {
            assert!(
                matches!(message.clone().with_thread_id(bad), Err(Error::Invalid(_))),
                "{bad:?}"
            );
        }
        let whatsapp = OutboxMessage::whatsapp(
            MessageId::new(),
            TenantId::new(),
            crate::domain::Phone::parse("+966500000001").unwrap(),
            "booking_confirmed",
            "ar",
            vec![],
            Utc::now(),
        );
        assert!(matches!(
            whatsapp.with_thread_id("18c2f0a1b2c3d4e5"),
            Err(Error::Invalid(_))
        ));
        let threaded = message.with_thread_id("18c2f0a1b2c3d4e5").unwrap();
        let email = threaded.as_email().unwrap();
        assert_eq!(email.thread_id.as_deref(), Some("18c2f0a1b2c3d4e5"));
        let printed = format!("{threaded:?}");
        assert!(!printed.contains("18c2f0a1b2c3d4e5"), "{printed}");
        assert!(printed.contains("threaded: true"), "{printed}");
        // Payloads written before the field read as unthreaded; threaded
        // ones keep it.
        let json = serde_json::to_value(email).unwrap();
        assert_eq!(json["thread_id"], "18c2f0a1b2c3d4e5");
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("thread_id");
        let read: EmailContent = serde_json::from_value(old).unwrap();
        assert_eq!(read.thread_id, None);
        let unthreaded = serde_json::to_value(&read).unwrap();
        assert!(unthreaded.get("thread_id").is_none(), "{unthreaded}");
    }

    #[test]
    fn composed_mail_carries_the_fixed_message_id_and_utf8_subject() {
        let message = OutboxMessage::email(
            MessageId::new(),
            TenantId::new(),
            Email::parse("amina@example.com").unwrap(),
            "تأكيد الحجز — confirmation",
            "Marhaba!\nYour booking is confirmed.",
            Utc::now(),
        );
        let route = MailRoute {
            transport: Arc::new(crate::ports::MockMailTransport::new()),
            name: "folder".into(),
            from: Email::parse("bookings@al-noor.example").unwrap(),
            from_name: Some("Al-Noor Travel".into()),
        };
        let mail = compose(&message, &route, Utc::now()).unwrap();
        let text = String::from_utf8(mail.raw.clone()).unwrap();
        assert!(text.contains(&format!("Message-ID: {}", message.message_id)));
        assert!(text.contains("From: =?utf-8?B?"), "{text}");
        assert!(text.contains(" <bookings@al-noor.example>\r\n"), "{text}");
        // The subject is RFC 2047 encoded words, not raw UTF-8.
        assert!(text.contains("Subject: =?utf-8?B?"), "{text}");
        assert_eq!(decode_words(&text, "Subject"), message.summary());
        let body = text.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
        let body = String::from_utf8(BASE64.decode(body).unwrap()).unwrap();
        assert_eq!(body, "Marhaba!\r\nYour booking is confirmed.");
        assert_eq!(mail.to, vec![message.as_email().unwrap().to.clone()]);
        assert_eq!(mail.message_id, message.message_id);
    }
}
