//! `spawn_app()`: a real `tms-server` on 127.0.0.1:0 over a fresh database
//! (SQLite in a temp dir, or a fresh PostgreSQL database), with a real
//! reqwest client that keeps cookies.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::routing::{get, post};
use tempfile::TempDir;
use tms_adapters::sql::SqlStore;
use tms_core::security::password::PasswordHasher;
use tms_core::security::secret::Secret;
use tms_http::config::Config;
use tms_http::extract::{Json, Query};
use tms_http::{AppState, Server, api_router};

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client with a cookie store.
    pub client: reqwest::Client,
    /// The server's data directory.
    pub data_dir: TempDir,
    /// The store the server uses (close it to simulate an outage).
    pub store: SqlStore,
    /// The database URL, for a second start on the same database.
    pub database_url: Option<String>,
    /// The demo owner's current password, if the first run ran: the
    /// printed one was already replaced by [`OWNER_PASSWORD`] over HTTP
    /// (the first login must change it), unless the app was started with
    /// [`spawn_keeping_printed_password`].
    pub first_run_password: Option<String>,
    /// What the first run printed, if it ran.
    pub printed_password: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<tms_core::Result<()>>>,
    /// The PostgreSQL database, when on PostgreSQL.
    pub pg: Option<PgDatabase>,
}

impl TestApp {
    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

/// Which database a test runs on.
pub enum Db {
    /// A SQLite file in the data directory (the embedded default).
    Sqlite,
    /// A fresh PostgreSQL database, dropped after the test.
    Postgres(PgDatabase),
}

/// A server on SQLite with first-run provisioning on.
/// A plain HTTP client for the tests. The workspace builds reqwest with
/// rustls and no built-in crypto provider (one provider, ring, for the S3
/// client too), so the provider is installed first.
pub fn http() -> reqwest::Client {
    http_builder().build().expect("an HTTP client")
}

/// [`http`]'s builder, for clients with cookies or other settings.
pub fn http_builder() -> reqwest::ClientBuilder {
    tms_adapters::blob::install_crypto_provider();
    reqwest::Client::builder()
}

/// Signs `email` in to `slug` with a JSON login; the session token.
pub async fn login(app: &TestApp, slug: &str, email: &str, password: &str) -> String {
    let response = http()
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({ "tenant": slug, "email": email, "password": password }))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), 200, "login of {email}");
    let body: serde_json::Value = response.json().await.expect("login body");
    body["token"].as_str().expect("token").to_owned()
}

pub async fn spawn_app() -> TestApp {
    spawn(Db::Sqlite, tempfile::tempdir().expect("tempdir"), |_| {}).await
}

/// A server on a fresh PostgreSQL database; `None` (after saying so loudly)
/// when PostgreSQL is unreachable outside CI.
pub async fn spawn_app_on_postgres() -> Option<TestApp> {
    let db = PgDatabase::create().await?;
    Some(
        spawn(
            Db::Postgres(db),
            tempfile::tempdir().expect("tempdir"),
            |_| {},
        )
        .await,
    )
}

/// A route that takes a JSON body through the crate's extractor, to test
/// rejections over HTTP.
#[derive(serde::Deserialize)]
struct Echo {
    name: String,
}

#[derive(serde::Deserialize)]
struct Slow {
    ms: u64,
}

/// The real API plus two test routes: `POST /api/v1/test/echo` (a JSON
/// body) and `GET /api/v1/test/slow?ms=` (an in-flight request).
fn test_api() -> Router<AppState> {
    api_router()
        .route(
            "/test/echo",
            post(|Json(echo): Json<Echo>| async move {
                axum::Json(serde_json::json!({ "name": echo.name }))
            }),
        )
        .route(
            "/test/plain-axum-json",
            post(|axum::Json(echo): axum::Json<Echo>| async move { echo.name }),
        )
        .route(
            "/test/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("a bug in a handler");
                }
                "unreachable"
            }),
        )
        .route(
            "/test/slow",
            get(|Query(slow): Query<Slow>| async move {
                tokio::time::sleep(std::time::Duration::from_millis(slow.ms)).await;
                "done"
            }),
        )
}

/// The demo owner's password once the printed one was changed.
pub const OWNER_PASSWORD: &str = "violet tundra cascade 4821";

/// A server on SQLite whose first-run owner still has the printed
/// password (the first login is restricted to changing it).
pub async fn spawn_keeping_printed_password() -> TestApp {
    spawn_with(
        Db::Sqlite,
        tempfile::tempdir().expect("tempdir"),
        |_| {},
        false,
    )
    .await
}

/// Starts a server over `db` in `data_dir`, after `tweak` adjusted its
/// configuration; the printed first-run password is replaced.
pub async fn spawn(db: Db, data_dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with(db, data_dir, tweak, true).await
}

/// [`spawn`], choosing whether the printed password is replaced.
pub async fn spawn_with(
    db: Db,
    data_dir: TempDir,
    tweak: impl FnOnce(&mut Config),
    replace_printed: bool,
) -> TestApp {
    let (database_url, pg) = match db {
        Db::Sqlite => (None, None),
        Db::Postgres(pg) => (Some(pg.url.clone()), Some(pg)),
    };
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        database_url: database_url.clone().map(Secret::new),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        first_run: true,
        log: "warn".into(),
        ..Config::default()
    };
    tweak(&mut config);
    let mut app = start(config, data_dir, database_url, pg).await;
    if replace_printed && let Some(printed) = app.printed_password.clone() {
        replace_printed_password(&app, &printed).await;
        app.first_run_password = Some(OWNER_PASSWORD.to_owned());
    }
    app
}

/// The first login of the demo owner, over HTTP: sign in with the printed
/// password and change it to [`OWNER_PASSWORD`].
async fn replace_printed_password(app: &TestApp, printed: &str) {
    use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};
    let client = crate::helpers::http();
    let response = client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({ "tenant": DEMO_SLUG, "email": DEMO_EMAIL, "password": printed }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("login body");
    assert_eq!(body["password_change_required"], true, "{body}");
    let token = body["token"].as_str().expect("token").to_owned();
    let response = client
        .post(app.url("/api/v1/auth/password"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "current": printed, "new": OWNER_PASSWORD }))
        .send()
        .await
        .expect("change password");
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
    let response = client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 204);
}

async fn start(
    config: Config,
    data_dir: TempDir,
    database_url: Option<String>,
    pg: Option<PgDatabase>,
) -> TestApp {
    start_adjusted(config, data_dir, database_url, pg, |server| server).await
}

// --- mail ops (issue 10) ---
/// [`spawn`] with the server adjusted before it serves (e.g. a fake
/// mailbox injected with `Server::with_mailbox`).
pub async fn spawn_adjusted(
    db: Db,
    tweak: impl FnOnce(&mut Config),
    adjust: impl FnOnce(tms_http::Server) -> tms_http::Server,
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let (database_url, pg) = match db {
        Db::Sqlite => (None, None),
        Db::Postgres(pg) => (Some(pg.url.clone()), Some(pg)),
    };
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        database_url: database_url.clone().map(Secret::new),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        first_run: true,
        log: "warn".into(),
        ..Config::default()
    };
    tweak(&mut config);
    let mut app = start_adjusted(config, data_dir, database_url, pg, adjust).await;
    if let Some(printed) = app.printed_password.clone() {
        replace_printed_password(&app, &printed).await;
        app.first_run_password = Some(OWNER_PASSWORD.to_owned());
    }
    app
}

async fn start_adjusted(
    config: Config,
    data_dir: TempDir,
    database_url: Option<String>,
    pg: Option<PgDatabase>,
    adjust: impl FnOnce(tms_http::Server) -> tms_http::Server,
) -> TestApp {
    // The cheapest argon2 parameters: tests are not about hashing cost.
    let server = Server::build_with(config, |mut deps| {
        deps.hasher = PasswordHasher::with_params(8, 1, 1).expect("params");
        deps
    })
    .await
    .expect("server builds");
    let server = adjust(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let store = server.store().clone();
    let first_run_password = server.first_run().map(|f| f.password.expose().to_owned());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with(listener, test_api(), async {
        let _ = rx.await;
    }));
    let client = crate::helpers::http_builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        data_dir,
        store,
        database_url,
        first_run_password: first_run_password.clone(),
        printed_password: first_run_password,
        shutdown: Some(tx),
        task: Some(task),
        pg,
    }
}

/// Stops `app` and starts a new server on the same data directory and
/// database.
pub async fn restart(mut app: TestApp) -> TestApp {
    app.stop().await;
    let TestApp {
        data_dir,
        database_url,
        pg,
        ..
    } = app;
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        database_url: database_url.clone().map(Secret::new),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        first_run: true,
        ..Config::default()
    };
    start(config, data_dir, database_url, pg).await
}

/// How many tenants the database holds, read with plain SQL.
pub async fn count_tenants(data_dir: &Path, database_url: Option<&str>) -> i64 {
    use sqlx::Connection as _;
    match database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
                .fetch_one(&mut conn)
                .await
                .expect("count")
        }
        None => {
            let url = format!("sqlite://{}", data_dir.join("tms.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
                .fetch_one(&mut conn)
                .await
                .expect("count")
        }
    }
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// Creates a fresh database on `TMS_TEST_DATABASE_URL` (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`). Unreachable: fails
    /// under `CI=true`, else says so on stderr and returns `None`.
    pub async fn create() -> Option<Self> {
        use sqlx::Connection as _;
        let admin_url = std::env::var("TMS_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL is unreachable under CI=true: {e}");
                }
                eprintln!(
                    "\n!!! SKIPPING a PostgreSQL test: {e}\n!!! set TMS_TEST_DATABASE_URL or start PostgreSQL on 127.0.0.1:5432\n"
                );
                return None;
            }
        };
        let name = format!("tms_http_test_{}", uuid::Uuid::now_v7().simple());
        // The name is ours (a UUID), not input.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url.as_str(), String::new()),
        };
        let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
        let url = format!("{base}/{name}{query}");
        Some(Self {
            url,
            admin_url,
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async work on a thread
        // with its own.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection as _;
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The id of the tenant `slug`, read through the store.
pub async fn tenant_id(app: &TestApp, slug: &str) -> tms_core::id::TenantId {
    use tms_core::ports::Store as _;
    let mut uow = app.store.begin().await.expect("begin");
    let tenant = uow
        .tenants()
        .find_by_slug(&tms_core::domain::TenantSlug::parse(slug).expect("slug"))
        .await
        .expect("find")
        .expect("tenant exists");
    uow.rollback().await.expect("rollback");
    tenant.id
}

/// Every audit event of tenant `slug`, as (action, after), in order.
pub async fn audit_actions(app: &TestApp, slug: &str) -> Vec<(String, serde_json::Value)> {
    use tms_core::ports::Store as _;
    let tenant = tenant_id(app, slug).await;
    let mut uow = app.store.begin().await.expect("begin");
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let events = uow.audit().read(tenant, after, 500).await.expect("read");
        let Some(last) = events.last() else { break };
        after = last.seq;
        out.extend(events.into_iter().map(|e| {
            (
                e.event.action,
                e.event.after.unwrap_or(serde_json::Value::Null),
            )
        }));
    }
    uow.rollback().await.expect("rollback");
    out
}

/// The mails the outbox holds for `to` in tenant `slug`, oldest first, as
/// (subject, body).
pub async fn mails_to(app: &TestApp, slug: &str, to: &str) -> Vec<(String, String)> {
    use tms_core::ports::{PageRequest, Store as _};
    let tenant = tenant_id(app, slug).await;
    let mut uow = app.store.begin().await.expect("begin");
    let mut out = Vec::new();
    let mut page = PageRequest::new(Some(200), None).expect("page");
    loop {
        let found = uow.outbox().list(tenant, page).await.expect("list");
        out.extend(
            found
                .items
                .into_iter()
                .filter(|m| m.recipient() == to)
                .filter_map(|m| {
                    m.as_email()
                        .map(|e| (e.subject.clone(), e.body_text.clone()))
                }),
        );
        match found.next {
            Some(next) => page = PageRequest::new(Some(200), Some(&next.encode())).expect("page"),
            None => break,
        }
    }
    uow.rollback().await.expect("rollback");
    out
}

/// The token of the newest mail to `to` whose subject contains `subject`:
/// the text after `code: ` (no app URL configured) or `#token=`.
pub async fn mailed_token(app: &TestApp, slug: &str, to: &str, subject: &str) -> String {
    let mails = mails_to(app, slug, to).await;
    let (_, body) = mails
        .iter()
        .rev()
        .find(|(s, _)| s.contains(subject))
        .unwrap_or_else(|| panic!("no mail `{subject}` to {to} in {mails:?}"));
    body.lines()
        .find_map(|l| {
            l.split_once("#token=")
                .or_else(|| l.split_once("code: "))
                .map(|(_, t)| t.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no token in {body}"))
}

// --- dedupe ---

/// The password of every user [`add_staff`] stores.
pub const STAFF_PASSWORD: &str = "amber falcon orchard 7731";

/// The roles under the Tenant Super Admin, the order [`staff_per_role`]
/// answers them in.
pub const STAFF_ROLES: [tms_core::domain::Role; 4] = [
    tms_core::domain::Role::Admin,
    tms_core::domain::Role::Finance,
    tms_core::domain::Role::Sales,
    tms_core::domain::Role::Umrah,
];

/// The email [`staff_per_role`] gives the user of `role`.
pub fn staff_email(role: tms_core::domain::Role) -> String {
    format!("{}@demo.example", role.as_str())
}

/// A cheap hash of [`STAFF_PASSWORD`] (fast Argon2 parameters: tests
/// store many users).
pub fn staff_hash() -> String {
    PasswordHasher::with_params(8, 1, 1)
        .expect("params")
        .hash(
            &Secret::new(STAFF_PASSWORD.to_owned()),
            &tms_core::ports::OsRandom,
        )
        .expect("hash")
}

/// An active user of `role` and `scope` in `tenant` with password `hash`,
/// ready to insert into the store.
pub fn staff_user(
    tenant: tms_core::id::TenantId,
    role: tms_core::domain::Role,
    scope: tms_core::domain::BranchScope,
    email: &str,
    hash: &str,
) -> tms_core::domain::User {
    use tms_core::domain::{Email, Name, TwoFactor, User};
    User {
        id: tms_core::id::UserId::new(),
        tenant_id: tenant,
        email: Email::parse(email).expect("email"),
        name: Name::parse("Staff").expect("name"),
        role,
        scope,
        password_hash: Some(hash.to_owned()),
        two_factor: TwoFactor::default(),
        must_change_password: false,
        disabled_at: None,
        created_at: chrono::Utc::now(),
        version: 1,
    }
}

/// Stores an active user of `role` and `scope` in the demo tenant `tenant`,
/// directly (password [`STAFF_PASSWORD`], no invitation mail), then signs
/// them in; their session token.
pub async fn add_staff(
    app: &TestApp,
    tenant: tms_core::id::TenantId,
    role: tms_core::domain::Role,
    scope: tms_core::domain::BranchScope,
    email: &str,
) -> String {
    use tms_core::ports::Store as _;
    let user = staff_user(tenant, role, scope, email, &staff_hash());
    let mut uow = app.store.begin().await.expect("begin");
    uow.users().insert(&user).await.expect("user");
    uow.commit().await.expect("commit");
    login(app, tms_http::setup::DEMO_SLUG, email, STAFF_PASSWORD).await
}

/// One signed-in user per role of [`STAFF_ROLES`] in the demo tenant
/// `tenant`, as [`staff_email`], each with the branch scope `scope` gives
/// its role; (role, token) in that order. The owner (Tenant Super Admin)
/// is not among them: tests sign in the demo owner for that role.
pub async fn staff_per_role(
    app: &TestApp,
    tenant: tms_core::id::TenantId,
    scope: impl Fn(tms_core::domain::Role) -> tms_core::domain::BranchScope,
) -> Vec<(tms_core::domain::Role, String)> {
    let mut tokens = Vec::new();
    for role in STAFF_ROLES {
        let token = add_staff(app, tenant, role, scope(role), &staff_email(role)).await;
        tokens.push((role, token));
    }
    tokens
}

/// The scopes most tests give [`staff_per_role`]: Sales works in `branch`
/// only, every other role sees every branch.
pub fn sales_only_in(
    branch: tms_core::id::BranchId,
) -> impl Fn(tms_core::domain::Role) -> tms_core::domain::BranchScope {
    use tms_core::domain::{BranchScope, Role};
    move |role| match role {
        Role::Sales => BranchScope::only([branch]),
        _ => BranchScope::All,
    }
}

/// The password of the owner [`other_tenant`] makes.
pub const STRANGER_PASSWORD: &str = "quiet harbour lantern 9081";

/// A second tenant `slug` ("Other Travel", EUR, one branch "Main"),
/// provisioned through the service as the first run would, its owner
/// `owner@other.example` (password [`STRANGER_PASSWORD`]): the stranger of
/// every tenant-isolation test.
pub async fn other_tenant(app: &TestApp, slug: &str) -> tms_core::service::tenancy::Provisioned {
    use tms_core::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
    let mut deps = Deps::new(app.store.clone().into_dyn());
    deps.hasher = PasswordHasher::with_params(8, 1, 1).expect("params");
    provision_tenant(
        &deps,
        NewTenant::parse(NewTenantRequest {
            slug: slug.into(),
            name: "Other Travel".into(),
            base_currency: "EUR".into(),
            first_branch: "Main".into(),
            owner_email: "owner@other.example".into(),
            owner_name: "Other Owner".into(),
            owner_password: Secret::new(STRANGER_PASSWORD.into()),
        })
        .expect("request"),
    )
    .await
    .expect("other tenant")
}

/// [`other_tenant`] with its owner signed in: the tenant and the token.
pub async fn stranger(
    app: &TestApp,
    slug: &str,
) -> (tms_core::service::tenancy::Provisioned, String) {
    let other = other_tenant(app, slug).await;
    let token = login(app, slug, "owner@other.example", STRANGER_PASSWORD).await;
    (other, token)
}
