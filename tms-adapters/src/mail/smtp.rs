//! Mail over SMTP (lettre), with TLS on rustls and ring like everything
//! else in the workspace.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tms_core::ports::{MailTransport, OutgoingMail, Receipt};
use tms_core::security::secret::Secret;
use tms_core::{Error, Result};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text: only for a relay on loopback or a private network.
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// Where and how to reach an SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server name (also the name its certificate must carry).
    pub host: String,
    /// Port: 587 for STARTTLS, 465 for TLS, 25 for a plain relay.
    pub port: u16,
    /// Connection protection.
    pub tls: SmtpTls,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password, or an OAuth access token when `xoauth2` is set.
    pub password: Option<Secret<String>>,
    /// Authenticate with XOAUTH2 (Gmail, Microsoft 365) instead of a password.
    pub xoauth2: bool,
    /// Gives up on a connection or a command after this long.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("xoauth2", &self.xoauth2)
            .finish()
    }
}

impl SmtpConfig {
    /// A server at `host:port` with the given protection, no login, a
    /// 30-second timeout.
    pub fn new(host: impl Into<String>, port: u16, tls: SmtpTls) -> Self {
        Self {
            host: host.into(),
            port,
            tls,
            username: None,
            password: None,
            xoauth2: false,
            timeout: Duration::from_secs(30),
        }
    }

    /// Logs in with `username` and `password`.
    pub fn with_login(mut self, username: impl Into<String>, password: Secret<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password);
        self
    }
}

/// Sends through one SMTP server, reusing connections (lettre's pool).
///
/// ```no_run
/// use tms_adapters::mail::{SmtpConfig, SmtpMailer, SmtpTls};
/// let mailer = SmtpMailer::new(
///     &SmtpConfig::new("smtp.example.com", 587, SmtpTls::StartTls)
///         .with_login("bookings@al-noor.example", "app password".into()),
/// )?;
/// # Ok::<(), tms_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `config`; `Invalid` when the TLS parameters cannot be
    /// built for the host name. Connects lazily, on the first send. Must be
    /// called inside a Tokio runtime (the connection pool starts a task
    /// there); outside one it is an error, not a panic.
    pub fn new(config: &SmtpConfig) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::internal(
                "SmtpMailer::new must be called inside a Tokio runtime",
            ));
        }
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                let parameters = TlsParameters::new(config.host.clone()).map_err(|e| {
                    Error::invalid("smtp_host", format!("no TLS for this host: {e}"))
                })?;
                if config.tls == SmtpTls::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            builder = builder.authentication(if config.xoauth2 {
                vec![Mechanism::Xoauth2]
            } else {
                vec![Mechanism::Plain, Mechanism::Login]
            });
        }
        Ok(Self {
            transport: builder.build(),
            host: config.host.clone(),
        })
    }
}

/// Maps an SMTP failure onto what the worker should do. A 5xx answer to
/// the message or a recipient is permanent; authentication failures are
/// retried (the credentials may be fixed meanwhile) like every network or
/// 4xx failure.
fn classify(e: &lettre::transport::smtp::Error) -> Error {
    let code = e.status().map(|c| c.to_string());
    let auth = matches!(code.as_deref(), Some("530" | "534" | "535" | "538"));
    let detail = match &code {
        Some(code) => format!("SMTP server answered {code}: {e}"),
        None => format!("SMTP failure: {e}"),
    };
    if e.is_permanent() && !auth {
        Error::rejected(detail)
    } else {
        Error::unavailable(detail)
    }
}

#[async_trait]
impl MailTransport for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Receipt> {
        let address = |email: &tms_core::domain::Email| -> Result<Address> {
            email.as_str().parse().map_err(|_| {
                Error::rejected(format!("{} is not a deliverable address", email.as_str()))
            })
        };
        let to = mail.to.iter().map(address).collect::<Result<Vec<_>>>()?;
        let envelope = Envelope::new(Some(address(&mail.from)?), to)
            .map_err(|e| Error::rejected(format!("no envelope: {e}")))?;
        let response = self
            .transport
            .send_raw(&envelope, &mail.raw)
            .await
            .map_err(|e| classify(&e))?;
        // "250 2.0.0 Ok: queued as 4Xk…": the server's id for the message.
        let said: Vec<&str> = response.message().collect();
        Ok(Receipt {
            provider_message_id: Some(
                format!("{} {}", response.code(), said.join(" "))
                    .trim()
                    .to_owned(),
            ),
        })
    }
}
