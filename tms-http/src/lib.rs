//! # tms-http
//!
//! The HTTP service of TMS: an axum application over `tms-core` services and
//! `tms-adapters`, and the `tms-server` binary that runs it on embedded
//! defaults (SQLite file, local folder for files, mail written to a folder)
//! or on PostgreSQL in production. Configuration: see [`config`].
//!
//! # Shape
//!
//! - [`AppState`]: what every handler shares — the core's [`Deps`], the key
//!   ring, the session-token signer, the identity service, the
//!   configuration.
//! - [`auth::Auth`]: the extractor of authenticated requests (bearer token
//!   or session cookie, CSRF-checked on cookie writes).
//! - [`api_router`]: every resource module's `router()` under `/api/v1`;
//!   resources are listed in [`routes::RESOURCES`] (one line each, routes and
//!   OpenAPI part together).
//! - [`app`]: the API plus `/healthz`, `/readyz`, `/metrics`, a problem+json
//!   fallback, and the middleware stack (outermost first): request id,
//!   security headers, tracing, metrics, problem bodies, panic catcher,
//!   timeout, body limit.
//! - [`serve`]: runs an app on a listener until a shutdown future resolves,
//!   letting in-flight requests finish; [`run`] is the whole `serve`
//!   command (set-up, first run, signals).
//! - [`error::ApiError`]: the one error type of handlers; RFC 9457 bodies.
//!
//! ```no_run
//! # async fn demo() -> tms_core::Result<()> {
//! use tms_http::{Server, config::Config};
//!
//! let config = Config::load(None)?;
//! let server = Server::build(config).await?; // data dir, keys, store, first run
//! let listener = tokio::net::TcpListener::bind(server.config().listen).await
//!     .map_err(|e| tms_core::Error::internal(e.to_string()))?;
//! server.serve(listener, tms_http::shutdown_signal()).await
//! # }
//! ```

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tms_adapters::sql::SqlStore;
use tms_core::security::jwt::{JwtKey, SessionJwt};
use tms_core::security::keyring::KeyRing;
use tms_core::service::identity::Identity;
use tms_core::service::tenancy::Deps;
use tms_core::{Error, Result};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub mod auth;
pub mod cli;
pub mod cli_import;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod extract;
// --- messaging (issue 9) ---
pub mod attachments;
pub mod mail;
pub mod middleware;
// --- privacy (issue 7) ---
pub mod retention;
pub mod revealed;
pub mod routes;
pub mod setup;
pub mod telemetry;
// --- mail connections (issue 9) ---
pub mod mail_routes;

use config::Config;
use error::ApiError;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Store, clock, randomness, password hasher.
    pub deps: Deps,
    /// Keys for secrets at rest.
    pub keyring: Arc<KeyRing>,
    /// Issues and checks session tokens.
    pub jwt: Arc<SessionJwt>,
    /// Login, sessions, users, branches (issuer `TMS`, links to the
    /// public URL).
    pub identity: Arc<Identity>,
    // --- clients (issue 6) ---
    // --- catalogue, bookings, tickets (issue 6) ---
    // --- umrah (issue 6) ---
    /// Umrah groups, pilgrims, rooming, manifests.
    pub umrah: Arc<tms_core::service::umrah::Umrah>,
    // --- privacy (issue 7) ---
    /// Export, erasure and retention of personal data. The files table
    /// (issue 8) plugs in with `Privacy::with_files`.
    pub privacy: Arc<tms_core::service::privacy::Privacy>,
    // --- files (issue 8) ---
    /// Where uploaded files' bytes are kept (a local folder or S3).
    pub blobs: Arc<dyn tms_core::ports::BlobStore>,
    /// Uploads, downloads and the tenant's branding.
    pub files: Arc<tms_core::service::files::Files>,
    // --- documents (issue 8) ---
    /// Renders documents to PDF (fonts parsed once per process).
    pub documents: Arc<dyn tms_core::ports::DocumentRenderer>,
    // --- outreach (issue 9) ---
    /// Templates, suppressions, campaigns, unsubscribe. The worker loop
    /// calls `outreach.tick(now)` to expand sending campaigns.
    pub outreach: Arc<tms_core::service::outreach::Outreach>,
    // --- mail connections (issue 9) ---
    /// The tenant's own SMTP server and Gmail account.
    pub mail_connections: Arc<tms_core::service::mail_connections::MailConnections>,
    // --- mail ops (issue 10) ---
    /// The connected mailboxes' reader (Gmail API); `None` unless Google
    /// is configured.
    pub mailbox: Option<Arc<dyn tms_core::ports::MailboxReader>>,
    /// Support tickets from the connected mailbox; the worker loop calls
    /// `mail_ops.tick(now)` to sync.
    pub mail_ops: Arc<tms_core::service::mail_ops::MailOps>,
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The OpenAPI document, built once.
    pub openapi: Arc<utoipa::openapi::OpenApi>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("deps", &self.deps)
            .field("keyring", &self.keyring)
            .field("jwt", &self.jwt)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    // --- mail ops (issue 10) ---
    /// Uses `mailbox` to read the tenants' connected mailboxes (the Gmail
    /// adapter in production, a fake in tests).
    pub fn with_mailbox(mut self, mailbox: Arc<dyn tms_core::ports::MailboxReader>) -> Self {
        self.mail_ops = Arc::new(tms_core::service::mail_ops::MailOps::new(
            self.deps.clone(),
            (*self.mail_connections).clone(),
            Some(mailbox.clone()),
        ));
        self.mailbox = Some(mailbox);
        self
    }

    /// Assembles the state; installs the process-wide metrics recorder on
    /// first use. `identity_jwt` is a second codec over the same key as
    /// `jwt` (the identity service owns its own; `SessionJwt` is not
    /// `Clone`); `blobs` keeps uploaded files (see
    /// [`setup::open_blob_store`]).
    pub fn new(
        deps: Deps,
        keyring: KeyRing,
        jwt: SessionJwt,
        identity_jwt: SessionJwt,
        config: Config,
        blobs: Arc<dyn tms_core::ports::BlobStore>,
    ) -> Self {
        let keyring = Arc::new(keyring);
        let identity = Identity::new(deps.clone(), keyring.clone(), identity_jwt, "TMS")
            .with_app_url(config.public_url());
        let mut state = Self {
            deps: deps.clone(),
            keyring: keyring.clone(),
            jwt: Arc::new(jwt),
            identity: Arc::new(identity),
            // --- clients (issue 6) ---
            // --- catalogue, bookings, tickets (issue 6) ---
            // --- umrah (issue 6) ---
            umrah: Arc::new(tms_core::service::umrah::Umrah::new(
                deps.clone(),
                keyring.clone(),
            )),
            // --- files (issue 8) ---
            files: Arc::new(tms_core::service::files::Files::new(
                deps.clone(),
                blobs.clone(),
            )),
            blobs: blobs.clone(),
            // --- privacy (issue 7) ---
            // A client's own documents are exported and erased with them.
            privacy: Arc::new(
                tms_core::service::privacy::Privacy::new(deps.clone(), keyring.clone()).with_files(
                    Arc::new(tms_core::service::files::PeopleFiles::new(blobs.clone())),
                ),
            ),
            // --- documents (issue 8) ---
            // Fonts are parsed here, at start-up; should a shipped font be
            // broken, rendering answers an internal error instead.
            documents: Arc::new(tms_adapters::pdf::PdfRenderer::new().unwrap_or_default()),
            // --- outreach (issue 9) ---
            outreach: Arc::new(tms_core::service::outreach::Outreach::new(
                deps.clone(),
                keyring.clone(),
                config.public_url(),
            )),
            // --- mail connections (issue 9) ---
            // A Google client that cannot be built (a bad endpoint URL)
            // leaves Gmail unconfigured, and says so.
            mail_connections: Arc::new(tms_core::service::mail_connections::MailConnections::new(
                deps.clone(),
                keyring.clone(),
                config.gmail.provider().unwrap_or_else(|e| {
                    tracing::error!(error = %e, "the Google client cannot be built; Gmail is off");
                    None
                }),
            )),
            // --- mail ops (issue 10) ---
            // The Gmail API reader, when Google is configured (tests inject
            // another with `with_mailbox`).
            mailbox: config.gmail.mailbox().unwrap_or_else(|e| {
                tracing::error!(error = %e, "the Gmail API client cannot be built; Mail Ops is off");
                None
            }),
            // Rebuilt below over the same mail connections.
            mail_ops: Arc::new(tms_core::service::mail_ops::MailOps::new(
                deps.clone(),
                tms_core::service::mail_connections::MailConnections::new(
                    deps.clone(),
                    keyring.clone(),
                    None,
                ),
                None,
            )),
            config: Arc::new(config),
            metrics: metrics_handle(),
            openapi: Arc::new(routes::openapi::document()),
        };
        // --- mail ops (issue 10) ---
        state.mail_ops = Arc::new(tms_core::service::mail_ops::MailOps::new(
            state.deps.clone(),
            (*state.mail_connections).clone(),
            state.mailbox.clone(),
        ));
        state
    }
}

// --- messaging (issue 9) ---
impl AppState {
    /// What renders the outbox's attachments: this state's services, the
    /// installation's sender as the calendars' organizer.
    pub fn attachments(&self) -> attachments::ServerAttachments {
        attachments::ServerAttachments::new(
            self.deps.clone(),
            self.keyring.clone(),
            self.blobs.clone(),
            self.documents.clone(),
            Some(self.config.mail.sender().as_str().to_owned()),
        )
    }
}

/// Latency buckets in seconds, for `http_request_duration_seconds`.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder (one per process: `metrics` has one
/// global recorder), installed on first call.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// Every resource under `/api/v1` (see [`routes::RESOURCES`]).
pub fn api_router() -> Router<AppState> {
    routes::RESOURCES
        .iter()
        .fold(Router::new(), |router, resource| {
            router.merge((resource.router)())
        })
}

/// The whole application: API, operations endpoints, middleware.
pub fn app(state: AppState) -> Router {
    app_with(state, api_router())
}

/// As [`app`], with `api` mounted under `/api/v1` instead of
/// [`api_router`] — for embedders adding their own resources, and for tests.
pub fn app_with(state: AppState, api: Router<AppState>) -> Router {
    let config = state.config.clone();
    let security = middleware::SecurityHeaders {
        hsts: config.behind_tls,
    };
    // `Router::layer` wraps everything added before it: the last layer
    // here is the outermost.
    Router::new()
        .nest("/api/v1", api)
        .merge(routes::health::router())
        .fallback(fallback)
        // Inside the routing, where `MatchedPath` is known.
        .route_layer(axum::middleware::from_fn(middleware::record_route))
        // Bodies: every route is held to `body_limit` by `DefaultBodyLimit`
        // (enforced by the body extractors); the outer bound admits the one
        // route that raises its own limit, the CSV import upload.
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(
            config.body_limit.max(routes::clients::IMPORT_BODY_LIMIT),
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        // A panic is a bug: answer 500 (made a problem below) and keep
        // serving, rather than dropping the connection.
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(middleware::problem_bodies))
        .layer(axum::middleware::from_fn(middleware::metrics))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::make_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(axum::middleware::from_fn_with_state(
            security,
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::request_id))
        // Outermost: the client's address is known to everything inside.
        .layer(axum::middleware::from_fn_with_state(
            Arc::<[client_ip::TrustedProxy]>::from(config.trusted_proxies.clone()),
            client_ip::client_ip,
        ))
        .with_state(state)
}

async fn fallback() -> ApiError {
    ApiError::Status(StatusCode::NOT_FOUND)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled, so that a signal
/// arriving right after start-up still shuts down gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let (mut interrupt, mut terminate) = match (interrupt, terminate) {
                (Ok(i), Ok(t)) => (i, t),
                _ => {
                    tracing::warn!("cannot install signal handlers; stop the server with SIGKILL");
                    std::future::pending::<()>().await;
                    return;
                }
            };
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutdown signal received; finishing in-flight requests");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

/// A server ready to listen: state built, store migrated, first run done.
#[derive(Debug)]
pub struct Server {
    state: AppState,
    store: SqlStore,
    first_run: Option<setup::FirstRun>,
}

impl Server {
    /// Prepares the data directory, loads (or generates) the keys, connects
    /// to and migrates the store, and on an empty store with
    /// [`Config::first_run`] provisions the `demo` tenant.
    pub async fn build(config: Config) -> Result<Self> {
        Self::build_with(config, |deps| deps).await
    }

    /// As [`Server::build`], letting the caller adjust the dependencies
    /// (tests use cheaper password hashing).
    pub async fn build_with(config: Config, adjust: impl FnOnce(Deps) -> Deps) -> Result<Self> {
        setup::prepare_data_dir(&config.data_dir)?;
        let keyring = setup::load_keyring(&config)?;
        let jwt_key = setup::load_jwt_key_text(&config)?;
        let jwt = SessionJwt::new(JwtKey::from_base64(&jwt_key)?);
        let identity_jwt = SessionJwt::new(JwtKey::from_base64(&jwt_key)?);
        drop(jwt_key);
        // --- files (issue 8) ---
        let blobs = setup::open_blob_store(&config)?;
        let store = setup::connect_store(&config).await?;
        let deps = adjust(Deps::new(store.clone().into_dyn()));
        let first_run = if config.first_run {
            setup::first_run(&deps, &config.data_dir).await?
        } else {
            None
        };
        Ok(Self {
            state: AppState::new(deps, keyring, jwt, identity_jwt, config, blobs),
            store,
            first_run,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    // --- mail ops (issue 10) ---
    /// Reads the tenants' connected mailboxes with `mailbox` (tests inject
    /// a fake here; see [`AppState::with_mailbox`]).
    pub fn with_mailbox(mut self, mailbox: Arc<dyn tms_core::ports::MailboxReader>) -> Self {
        self.state = self.state.with_mailbox(mailbox);
        self
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The SQL store (tests close it to simulate an outage).
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// What the first run created, if it ran now.
    pub fn first_run(&self) -> Option<&setup::FirstRun> {
        self.first_run.as_ref()
    }

    /// Serves until `shutdown`; in-flight requests get
    /// [`Config::shutdown_grace`] to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        self.serve_with(listener, api_router(), shutdown).await
    }

    /// As [`Server::serve`], with `api` under `/api/v1` (see [`app_with`]).
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        api: Router<AppState>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let grace = self.state.config.shutdown_grace;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let (worker_stop_tx, worker_stop_rx) = tokio::sync::oneshot::channel::<()>();
        // The outbox worker runs beside the server and stops with it (it
        // finishes the batch in hand first).
        let worker = if self.state.config.mail.worker {
            let config = &self.state.config;
            // --- mail connections (issue 9) ---
            // Each tenant's own Gmail or SMTP first, the installation's
            // route otherwise.
            let courier = mail::courier_with_routes(
                self.state.deps.clone(),
                &config.mail,
                &config.data_dir,
                (*self.state.mail_connections).clone(),
                config.gmail.clone(),
                // The same mailbox Mail Ops reads (tests inject a fake).
                self.state.mailbox.clone(),
            )?
            // --- messaging (issue 9) ---
            .with_attachments(Arc::new(self.state.attachments()))
            // --- whatsapp (issue 9) ---
            .with_channels(Arc::new(
                tms_adapters::whatsapp::ConnectionRoutes::new(
                    tms_core::service::whatsapp::WhatsappConnections::new(
                        self.state.deps.clone(),
                        self.state.keyring.clone(),
                    ),
                )?
                .with_base_url(config.whatsapp.graph_url.clone())
                .with_version(config.whatsapp.graph_version.clone()),
            ));
            let poll = config.mail.poll;
            let campaigns = Some(self.state.outreach.clone());
            // --- mail ops (issue 10): the mailbox sync runs in the same loop ---
            let mail_ops = Some(self.state.mail_ops.clone());
            Some(tokio::spawn(mail::run_worker_with(
                courier,
                campaigns,
                mail_ops,
                poll,
                async move {
                    let _ = worker_stop_rx.await;
                },
            )))
        } else {
            None
        };
        let signal = async move {
            shutdown.await;
            let _ = worker_stop_tx.send(());
            let _ = stopping_tx.send(());
        };
        // --- privacy (issue 7) ---
        let retention = self.state.config.retention.interval.map(|every| {
            tokio::spawn(retention::schedule(
                self.state.privacy.clone(),
                self.state.config.retention.policy(),
                self.state.deps.clock.clone(),
                every,
            ))
        });
        let app = app_with(self.state, api);
        let served = serve(listener, app, signal);
        tokio::pin!(served);
        let result = tokio::select! {
            r = &mut served => r,
            () = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("shutdown grace period over; dropping the remaining requests");
                Ok(())
            }
        };
        if let Some(worker) = worker {
            // The batch in hand may wait on a slow mail server: give it the
            // same grace as the requests, then stop; an unfinished message
            // comes back after its lease, none is lost.
            let abort = worker.abort_handle();
            if tokio::time::timeout(grace, worker).await.is_err() {
                abort.abort();
                tracing::warn!("the outbox worker did not stop within the grace period");
            }
        }
        if let Some(task) = retention {
            task.abort();
        }
        self.store.close().await;
        result.map_err(|e| Error::internal(format!("server failed: {}", e.kind())))
    }
}

/// The `serve` command: builds the server, prints the first-run credentials
/// once, listens on [`Config::listen`] until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    let started = std::time::Instant::now();
    let shutdown = shutdown_signal();
    // Listen first: a taken port must fail before the first run creates a
    // tenant whose password could then never be shown.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            Error::internal(format!("cannot listen on {}: {}", config.listen, e.kind()))
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal(e.to_string()))?;
    let server = Server::build(config).await?;
    if let Some(first) = server.first_run() {
        // Once, on stdout — never through the log.
        let url = match &server.config().public_url {
            Some(_) => server.config().public_url(),
            // The bound address: right even when listening on port 0.
            None => format!("http://{address}"),
        };
        println!("{}", first.message(&url));
    }
    tracing::info!(
        %address,
        ready_in_ms = started.elapsed().as_millis() as u64,
        "tms-server listening"
    );
    server.serve(listener, shutdown).await
}
