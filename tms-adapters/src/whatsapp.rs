//! WhatsApp Cloud API (issue 9): [`WhatsAppCloud`], the
//! [`MessageChannel`] that sends approved template messages through Meta's
//! Graph API, and [`ConnectionRoutes`], which finds each tenant's channel
//! from its stored connection.
//!
//! A send is `POST {base}/{version}/{phone_number_id}/messages` with
//! `Authorization: Bearer <access token>` and a `template` body; the
//! answer's `messages[0].id` (`wamid.…`) is the [`Receipt`], the key under
//! which the webhook later reports `sent`, `delivered`, `read` or `failed`.
//!
//! Errors say what the outbox worker should do:
//! - no answer (timeout, refused connection), HTTP 429, HTTP 5xx, and
//!   Meta's throttling codes (4, 80007, 130429, 131048, 131056) →
//!   [`Error::Unavailable`]: retried with backoff;
//! - any other 4xx (a number that is not on WhatsApp — code 131026 —, a
//!   template that is not approved, an expired token) →
//!   [`Error::Rejected`]: the message fails at once.
//!
//! The access token is a [`Secret`]: it is sent only in the header and
//! never appears in `Debug`, an error or a log line (the provider's error
//! text is cut short and scrubbed of it before it is repeated).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tms_core::id::TenantId;
use tms_core::ports::{ChannelMessage, MessageChannel, Receipt};
use tms_core::security::secret::Secret;
use tms_core::service::messaging::ChannelRoutes;
use tms_core::service::whatsapp::WhatsappConnections;
use tms_core::{Error, Result};

/// Meta's Graph API.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version the request shape was checked against.
pub const DEFAULT_VERSION: &str = "v21.0";
/// How long a send may take before it counts as unanswered (and retried).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Graph API error codes that mean "slow down", not "never".
const THROTTLED: [i64; 5] = [4, 80_007, 130_429, 131_048, 131_056];

/// Installs ring as the process's rustls crypto provider, once; later calls
/// (and a provider installed by the embedder) are left alone. Building an
/// HTTPS client needs it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The [`MessageChannel`] of one WhatsApp Business phone number.
///
/// ```no_run
/// use tms_adapters::whatsapp::WhatsAppCloud;
/// use tms_core::security::secret::Secret;
///
/// let channel = WhatsAppCloud::builder()
///     .phone_number_id("106540352242922")
///     .access_token(Secret::new("EAAG…".to_owned()))
///     .build()?;
/// assert!(!format!("{channel:?}").contains("EAAG"));
/// # Ok::<(), tms_core::Error>(())
/// ```
#[derive(Clone)]
pub struct WhatsAppCloud {
    client: reqwest::Client,
    endpoint: String,
    token: Secret<String>,
}

impl fmt::Debug for WhatsAppCloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppCloud")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WhatsAppCloud`]; [`WhatsAppCloudBuilder::build`] checks that
/// nothing is missing.
#[derive(Debug, Clone)]
pub struct WhatsAppCloudBuilder {
    base_url: String,
    version: String,
    phone_number_id: Option<String>,
    token: Option<Secret<String>>,
    timeout: Duration,
    client: Option<reqwest::Client>,
}

impl Default for WhatsAppCloudBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            version: DEFAULT_VERSION.to_owned(),
            phone_number_id: None,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            client: None,
        }
    }
}

impl WhatsAppCloudBuilder {
    /// Where the Graph API is (tests: a loopback peer), without a trailing
    /// path.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The Graph API version, e.g. `v21.0`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The sending number's id (digits).
    pub fn phone_number_id(mut self, id: impl Into<String>) -> Self {
        self.phone_number_id = Some(id.into());
        self
    }

    /// The access token.
    pub fn access_token(mut self, token: Secret<String>) -> Self {
        self.token = Some(token);
        self
    }

    /// How long one send may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Shares an HTTP client (its connection pool) between channels; its
    /// own timeout then applies.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The channel; `Invalid` when the phone number id, the token, the base
    /// URL or the version is missing or malformed.
    pub fn build(self) -> Result<WhatsAppCloud> {
        let base = self.base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::invalid("base_url", "must be an http(s) URL"));
        }
        let version_ok = !self.version.is_empty()
            && self
                .version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.');
        if !version_ok {
            return Err(Error::invalid("version", "must look like v21.0"));
        }
        let phone = self
            .phone_number_id
            .filter(|p| !p.is_empty() && p.len() <= 32 && p.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| Error::invalid("phone_number_id", "must be 1 to 32 digits"))?;
        let token = self
            .token
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| Error::invalid("access_token", "is required"))?;
        let client = match self.client {
            Some(client) => client,
            None => {
                install_crypto_provider();
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .build()
                    .map_err(|_| Error::internal("the WhatsApp HTTP client cannot be built"))?
            }
        };
        Ok(WhatsAppCloud {
            client,
            endpoint: format!("{base}/{}/{phone}/messages", self.version),
            token,
        })
    }
}

impl WhatsAppCloud {
    /// A builder with Meta's base URL and [`DEFAULT_VERSION`].
    pub fn builder() -> WhatsAppCloudBuilder {
        WhatsAppCloudBuilder::default()
    }

    /// The request body of `message` (Graph API template message).
    pub fn body(message: &ChannelMessage) -> Value {
        let mut template = json!({
            "name": message.template,
            "language": { "code": message.language },
        });
        if !message.variables.is_empty() {
            template["components"] = json!([{
                "type": "body",
                "parameters": message.variables.iter()
                    .map(|v| json!({ "type": "text", "text": v }))
                    .collect::<Vec<_>>(),
            }]);
        }
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            // The Graph API takes the E.164 digits without the plus.
            "to": message.to.as_str().trim_start_matches('+'),
            "type": "template",
            "template": template,
        })
    }

    /// The provider's error as safe text: code and message, short, with
    /// the token scrubbed (a provider could echo what it was sent).
    fn describe(&self, status: reqwest::StatusCode, body: &Value) -> (Option<i64>, String) {
        let code = body.pointer("/error/code").and_then(Value::as_i64);
        let message: String = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let token = self.token.expose();
        let message = if token.len() >= 4 {
            message.replace(token.as_str(), "<redacted>")
        } else {
            message
        };
        let text = match code {
            Some(code) => format!(
                "WhatsApp answered {} (code {code}): {message}",
                status.as_u16()
            ),
            None => format!("WhatsApp answered {}: {message}", status.as_u16()),
        };
        (code, text)
    }
}

#[async_trait]
impl MessageChannel for WhatsAppCloud {
    async fn send(&self, message: &ChannelMessage) -> Result<Receipt> {
        let response = self
            .client
            .post(&self.endpoint)
            .bearer_auth(self.token.expose())
            .json(&Self::body(message))
            .send()
            .await
            // reqwest's own text names the URL; ours says only what failed.
            .map_err(|e| {
                Error::unavailable(if e.is_timeout() {
                    "WhatsApp did not answer in time"
                } else {
                    "WhatsApp could not be reached"
                })
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return body
                .pointer("/messages/0/id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(|id| Receipt {
                    provider_message_id: Some(id.to_owned()),
                })
                // Accepted but unnamed: retrying could send it twice.
                .ok_or_else(|| Error::rejected("WhatsApp accepted the message without an id"));
        }
        let (code, text) = self.describe(status, &body);
        let throttled = code.is_some_and(|c| THROTTLED.contains(&c));
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS || throttled
        {
            Err(Error::unavailable(text))
        } else {
            Err(Error::rejected(text))
        }
    }
}

/// The outbox worker's [`ChannelRoutes`] over the tenants' stored
/// connections: each tenant's [`WhatsAppCloud`], built from its phone
/// number id and sealed access token, sharing one HTTP client. A tenant
/// with no connection is `Rejected` (its messages fail); a store that
/// cannot answer is `Unavailable` (they wait).
#[derive(Debug, Clone)]
pub struct ConnectionRoutes {
    connections: WhatsappConnections,
    base_url: String,
    version: String,
    client: reqwest::Client,
}

impl ConnectionRoutes {
    /// Routes over `connections`, to Meta's Graph API.
    pub fn new(connections: WhatsappConnections) -> Result<Self> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(|_| Error::internal("the WhatsApp HTTP client cannot be built"))?;
        Ok(Self {
            connections,
            base_url: DEFAULT_BASE_URL.to_owned(),
            version: DEFAULT_VERSION.to_owned(),
            client,
        })
    }

    /// Sends to another Graph API (tests: a loopback peer).
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Another Graph API version.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
}

#[async_trait]
impl ChannelRoutes for ConnectionRoutes {
    async fn channel(&self, tenant: TenantId) -> Result<Arc<dyn MessageChannel>> {
        let credentials = match self.connections.credentials(tenant).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(Error::rejected("the tenant has no WhatsApp connection")),
            Err(e @ Error::Unavailable { .. }) => return Err(e),
            Err(_) => {
                return Err(Error::unavailable(
                    "the tenant's WhatsApp connection cannot be read now",
                ));
            }
        };
        let channel = WhatsAppCloud::builder()
            .base_url(self.base_url.clone())
            .version(self.version.clone())
            .phone_number_id(credentials.phone_number_id)
            .access_token(credentials.access_token)
            .http_client(self.client.clone())
            .build()?;
        Ok(Arc::new(channel))
    }
}
