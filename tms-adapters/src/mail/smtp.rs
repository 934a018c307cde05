//! Mail over SMTP (lettre), with TLS on rustls and ring like everything
//! else in the workspace.
//!
//! lettre speaks SMTP; the sockets and the connection pool are ours. Why:
//! lettre's own transport opens its sockets without `TCP_NODELAY`, and its
//! connection writes a message and the `\r\n.\r\n` that ends it as two
//! separate writes. Nagle's algorithm then holds the terminator back until
//! the server acknowledges the message, and the server delays that
//! acknowledgement (about 40 ms on Linux) because it is still waiting for
//! the terminator: 20 messages a second per connection, whatever the
//! server. So [`SmtpMailer`] connects itself, with `TCP_NODELAY`, and hands
//! the socket to lettre's [`AsyncSmtpConnection`]; implicit TLS (port 465)
//! is wrapped here with tokio-rustls, STARTTLS by lettre on the same socket.

use std::fmt;
use std::time::Duration;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use async_trait::async_trait;
use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tms_core::ports::{MailTransport, OutgoingMail, Receipt};
use tms_core::security::secret::Secret;
use tms_core::{Error, Result};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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
    /// PEM certificates trusted besides Mozilla's roots (a company CA, a
    /// test server's own certificate).
    pub root_certificates: Vec<Vec<u8>>,
    /// Connections open at once, so sends at once (at least 1).
    pub max_connections: usize,
    /// An idle connection older than this is closed rather than reused.
    pub idle_timeout: Duration,
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
            .field("root_certificates", &self.root_certificates.len())
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl SmtpConfig {
    /// A server at `host:port` with the given protection, no login, a
    /// 30-second timeout, up to 8 connections kept for 30 seconds idle.
    pub fn new(host: impl Into<String>, port: u16, tls: SmtpTls) -> Self {
        Self {
            host: host.into(),
            port,
            tls,
            username: None,
            password: None,
            xoauth2: false,
            timeout: Duration::from_secs(30),
            root_certificates: Vec::new(),
            max_connections: 8,
            idle_timeout: Duration::from_secs(30),
        }
    }

    /// Logs in with `username` and `password`.
    pub fn with_login(mut self, username: impl Into<String>, password: Secret<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password);
        self
    }

    /// Also trusts the certificates in `pem` (a private CA, or a test
    /// server's self-signed certificate).
    pub fn with_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }
}

/// Sends through one SMTP server over a small pool of connections of its
/// own (see the module doc for why not lettre's): up to
/// [`SmtpConfig::max_connections`] sends at once, idle connections reused
/// for [`SmtpConfig::idle_timeout`].
///
/// ```no_run
/// use tms_adapters::mail::{SmtpConfig, SmtpMailer, SmtpTls};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> tms_core::Result<()> {
/// let mailer = SmtpMailer::new(
///     &SmtpConfig::new("smtp.example.com", 587, SmtpTls::StartTls)
///         .with_login("bookings@al-noor.example", "app password".into()),
/// )?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    timeout: Duration,
    hello: ClientId,
    security: Security,
    login: Option<(Credentials, Vec<Mechanism>)>,
    /// Bounds the connections open at once.
    permits: Semaphore,
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
}

/// How a new connection gets its TLS.
enum Security {
    Plain,
    /// STARTTLS after the greeting, by lettre; it must succeed.
    StartTls(TlsParameters),
    /// TLS from the first byte, by tokio-rustls here.
    Implicit(TlsConnector, ServerName<'static>),
}

struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .finish_non_exhaustive()
    }
}

/// TLS from the first byte over our own socket: lettre takes any stream
/// that says where it is connected.
#[derive(Debug)]
struct ImplicitTls(TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The trusted roots: Mozilla's (webpki-roots) plus the configured extra
/// ones (a company CA, a test server's certificate).
fn root_store(extra: &[Vec<u8>]) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in extra {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid("smtp_root_certificates", format!("not PEM: {e}")))?;
        if certificates.is_empty() {
            return Err(Error::invalid(
                "smtp_root_certificates",
                "holds no certificate",
            ));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                Error::invalid("smtp_root_certificates", format!("not a usable root: {e}"))
            })?;
        }
    }
    Ok(roots)
}

impl SmtpMailer {
    /// A mailer for `config`; `Invalid` when the TLS parameters cannot be
    /// built for the host name or an extra root certificate is not PEM.
    /// Connects lazily, on the first send. Must be called inside a Tokio
    /// runtime; outside one it is an error, not a panic.
    pub fn new(config: &SmtpConfig) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::internal(
                "SmtpMailer::new must be called inside a Tokio runtime",
            ));
        }
        let security = match config.tls {
            SmtpTls::None => Security::Plain,
            SmtpTls::StartTls => {
                let mut builder = TlsParameters::builder(config.host.clone());
                for pem in &config.root_certificates {
                    let certificate = Certificate::from_pem(pem).map_err(|e| {
                        Error::invalid("smtp_root_certificates", format!("not PEM: {e}"))
                    })?;
                    builder = builder.add_root_certificate(certificate);
                }
                Security::StartTls(builder.build().map_err(|e| {
                    Error::invalid("smtp_host", format!("no TLS for this host: {e}"))
                })?)
            }
            SmtpTls::Tls => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let client = ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| Error::internal(format!("TLS set-up: {e}")))?
                    .with_root_certificates(root_store(&config.root_certificates)?)
                    .with_no_client_auth();
                let name = ServerName::try_from(config.host.clone()).map_err(|e| {
                    Error::invalid("smtp_host", format!("no TLS for this host: {e}"))
                })?;
                Security::Implicit(TlsConnector::from(Arc::new(client)), name)
            }
        };
        let login = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some((
                Credentials::new(user.clone(), password.expose().to_owned()),
                if config.xoauth2 {
                    vec![Mechanism::Xoauth2]
                } else {
                    vec![Mechanism::Plain, Mechanism::Login]
                },
            )),
            _ => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                host: config.host.clone(),
                port: config.port,
                timeout: config.timeout,
                hello: ClientId::Domain("tms.localhost".into()),
                security,
                login,
                permits: Semaphore::new(config.max_connections.max(1)),
                idle: Mutex::new(Vec::new()),
                idle_timeout: config.idle_timeout,
            }),
        })
    }
}

impl Inner {
    /// A new connection, greeted, encrypted as configured and logged in.
    async fn connect(&self) -> std::result::Result<AsyncSmtpConnection, SendError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| SendError::Connect(e.to_string()))?;
        tcp.set_nodelay(true)
            .map_err(|e| SendError::Connect(e.to_string()))?;
        let mut connection = match &self.security {
            Security::Implicit(connector, name) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| SendError::Connect(format!("TLS: {e}")))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(ImplicitTls(tls)), &self.hello)
                    .await?
            }
            Security::Plain | Security::StartTls(_) => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?
            }
        };
        if let Security::StartTls(parameters) = &self.security {
            connection.starttls(parameters.clone(), &self.hello).await?;
        }
        if let Some((credentials, mechanisms)) = &self.login {
            connection.auth(mechanisms, credentials).await?;
        }
        Ok(connection)
    }

    /// An idle connection young enough to reuse; older ones are closed.
    fn reuse(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(Idle { connection, since }) = idle.pop() {
            if since.elapsed() < self.idle_timeout {
                return Some(connection);
            }
            // Dropping closes the socket; a QUIT is a courtesy the server
            // does not need.
            drop(connection);
        }
        None
    }

    fn put_back(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(Idle {
            connection,
            since: Instant::now(),
        });
    }

    async fn send_on(
        &self,
        connection: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        raw: &[u8],
    ) -> std::result::Result<Response, SendError> {
        match tokio::time::timeout(self.timeout, connection.send(envelope, raw)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(SendError::Smtp(e)),
            Err(_) => {
                connection.abort().await;
                Err(SendError::Connect(format!(
                    "no answer within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }

    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<Response> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::unavailable("the SMTP mailer is shutting down"))?;
        if let Some(mut connection) = self.reuse() {
            match self.send_on(&mut connection, envelope, raw).await {
                Ok(response) => {
                    self.put_back(connection);
                    return Ok(response);
                }
                // The server closed the idle connection (no SMTP answer at
                // all): try once more on a new one. Had the server taken
                // the message before the connection broke, the resend
                // carries the same Message-ID, as any outbox retry does.
                Err(SendError::Smtp(e)) if e.status().is_none() && !e.is_timeout() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut connection = tokio::time::timeout(self.timeout, self.connect())
            .await
            .map_err(|_| {
                Error::unavailable(format!(
                    "SMTP server {}:{} did not answer within {} s",
                    self.host,
                    self.port,
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|e| match e {
                SendError::Connect(why) => Error::unavailable(format!(
                    "cannot reach SMTP server {}:{}: {why}",
                    self.host, self.port
                )),
                other => other.into(),
            })?;
        let response = self.send_on(&mut connection, envelope, raw).await?;
        self.put_back(connection);
        Ok(response)
    }
}

/// Why a send failed, before it becomes the crate's error.
enum SendError {
    /// No connection (refused, unreachable, TLS handshake, timeout).
    Connect(String),
    /// What lettre said (an SMTP answer, or the connection breaking).
    Smtp(lettre::transport::smtp::Error),
}

impl From<lettre::transport::smtp::Error> for SendError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        SendError::Smtp(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Connect(why) => Error::unavailable(format!("SMTP connection: {why}")),
            SendError::Smtp(e) => classify(&e),
        }
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
        let response = self.inner.send(&envelope, &mail.raw).await?;
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
