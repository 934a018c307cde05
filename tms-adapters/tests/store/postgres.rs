//! The store on PostgreSQL: a fresh database per test, dropped afterwards.
//!
//! The server comes from `TMS_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the role must be allowed
//! to create databases, and a superuser for the tampering test). When it is
//! unreachable the tests say so loudly and skip — except under `CI=true`,
//! where that fails them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection as _;
use tms_adapters::sql::{Backend, SqlStore, SqlStoreOptions};
use tms_core::Error;
use tms_core::id::TenantId;
use tms_core::ports::Store;
use tokio::sync::OnceCell;

use crate::support;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "tms_test_";

fn admin_url() -> String {
    std::env::var("TMS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

async fn admin() -> Option<sqlx::PgConnection> {
    match sqlx::PgConnection::connect(&admin_url()).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL at TMS_TEST_DATABASE_URL is unreachable under CI=true: {e}");
            }
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "\n==================================================================\n\
                     SKIPPING the PostgreSQL store tests: no server at {} ({e}).\n\
                     Set TMS_TEST_DATABASE_URL, or start PostgreSQL. Under CI=true\n\
                     this is a failure.\n\
                     ==================================================================\n",
                    with_database(&admin_url(), "…")
                );
            }
            None
        }
    }
}

/// Drops databases left by test processes that died (a panic skips no
/// cleanup, but a killed process does). Once per process; the pid in the
/// name tells whose a database is.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection) {
    static DONE: OnceCell<()> = OnceCell::const_new();
    DONE.get_or_init(|| async {
        // Whose process is alive is read from /proc: elsewhere, leave all be.
        if !std::path::Path::new("/proc/self").exists() {
            return;
        }
        let names: Vec<(String,)> =
            sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'tms\\_test\\_%'")
                .fetch_all(&mut *conn)
                .await
                .unwrap_or_default();
        for (name,) in names {
            let pid = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|p| p.parse::<u32>().ok());
            let alive =
                pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut *conn)
                .await;
            }
        }
    })
    .await;
}

/// Drops its database when dropped — also when the test panicked.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: this may run inside a test's runtime, during
        // a panic, where blocking on that runtime is impossible.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

pub async fn fresh_database() -> Option<TestDb> {
    let mut conn = admin().await?;
    drop_stale_databases(&mut conn).await;
    let name = format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE (the test role needs CREATEDB)");
    let _ = conn.close().await;
    let url = with_database(&admin_url(), &name);
    Some(TestDb { name, url })
}

/// The role the store connects as in these tests, as the server does in
/// production: it owns nothing, so row-level security binds it.
const APP_ROLE: &str = "tms_test_app";

/// `url` with its user replaced by `user` (and no password: the test
/// server trusts loopback).
fn with_user(url: &str, user: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let host_start = rest
        .find('/')
        .map_or(rest.len(), |slash| slash)
        .min(rest.len());
    let host = match rest[..host_start].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{user}@{host}", &url[..scheme_end])
}

/// Creates [`APP_ROLE`] once per cluster (roles are cluster-wide; racing
/// test processes may both try).
async fn ensure_app_role(conn: &mut sqlx::PgConnection) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )))
    .execute(conn)
    .await
    .expect("CREATE ROLE (the test role needs CREATEROLE)");
}

/// The URL of the fresh database as [`APP_ROLE`].
pub async fn app_url(db: &TestDb) -> String {
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("owner");
    ensure_app_role(&mut conn).await;
    let _ = conn.close().await;
    with_user(&db.url, APP_ROLE)
}

/// A migrated store on a fresh database, connected as [`APP_ROLE`] (the
/// test role, a superuser, owns the tables and runs the migrations): the
/// whole contract suite runs under row-level security.
pub async fn fresh_store() -> Option<(Arc<dyn Store>, TestDb)> {
    let db = fresh_database().await?;
    let store = SqlStoreOptions::new(app_url(&db).await)
        .owner_url(db.url.clone())
        .connect()
        .await
        .expect("connect to the fresh database");
    assert_eq!(store.backend(), Backend::Postgres);
    Some((store.into_dyn(), db))
}

tms_core::store_contract_tests!(fresh_store);

async fn raw(db: &TestDb, statements: Vec<String>) {
    let mut conn = sqlx::PgConnection::connect(&db.url)
        .await
        .expect("raw connection");
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("raw SQL");
    }
    conn.close().await.expect("close");
}

fn tenant_literal(tenant: TenantId) -> String {
    id_literal(tenant.as_uuid())
}

fn id_literal(id: uuid::Uuid) -> String {
    format!("'{id}'::uuid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_every_kind_of_tampering() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    // Only a superuser gets past the append-only trigger.
    raw(
        &db,
        vec!["ALTER TABLE audit_events DISABLE TRIGGER USER".into()],
    )
    .await;
    support::check_tampering(store, tenant_literal, id_literal, |sql| raw(&db, sql)).await;
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_the_audit_log() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let tenant = support::seed_chain(&*store, 3).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw");
    for sql in [
        format!(
            "UPDATE audit_events SET action = 'x' WHERE tenant_id = {}",
            tenant_literal(tenant)
        ),
        format!(
            "DELETE FROM audit_events WHERE tenant_id = {}",
            tenant_literal(tenant)
        ),
        // Shaped like an erasure, but also rewriting the action.
        format!(
            "UPDATE audit_events SET before_json = NULL, after_json = NULL, payload_salt = NULL, \
             erased_at = at, action = 'x' WHERE tenant_id = {}",
            tenant_literal(tenant)
        ),
        // An erasure that leaves the payload in place.
        format!(
            "UPDATE audit_events SET erased_at = at WHERE tenant_id = {}",
            tenant_literal(tenant)
        ),
        "TRUNCATE audit_events".to_owned(),
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_a_newer_schema_is_refused() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let (a, b) = tokio::join!(SqlStore::connect(&db.url), SqlStore::connect(&db.url));
    let (a, b) = (
        a.expect("first replica"),
        b.expect("second replica, racing"),
    );
    a.migrate().await.expect("again");
    a.close().await;
    b.close().await;
    raw(
        &db,
        vec![
            "INSERT INTO tms_schema_migrations VALUES (999, 'from the future', '\\x00', now())"
                .into(),
        ],
    )
    .await;
    let err = SqlStore::connect(&db.url).await.expect_err("newer schema");
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("upgrade TMS")),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    if admin().await.is_none() {
        return;
    }
    let err = SqlStore::connect("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_killed_connection_is_unavailable_not_a_panic() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let mut uow = store.begin().await.expect("begin");
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    )))
    .execute(&mut conn)
    .await
    .expect("terminate");
    let err = uow
        .tenants()
        .get(TenantId::new())
        .await
        .expect_err("connection gone");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(uow.commit().await.is_err());
    // The pool replaces the dead connection.
    store.ping().await.expect("ping after reconnect");
}

#[test]
fn database_urls_are_rewritten_keeping_options() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres", "x"),
        "postgres://u:p@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/postgres?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(
        with_user("postgres://u:p@h:5432/db?x=1", "app"),
        "postgres://app@h:5432/db?x=1"
    );
    assert_eq!(with_user("postgres://h/db", "app"), "postgres://app@h/db");
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_unavailable_and_transact_retries_it() {
    use std::sync::atomic::AtomicUsize;
    use tms_core::domain::Email;
    use tms_core::ports::transact;

    let Some((store, _db)) = fresh_store().await else {
        return;
    };
    let tenant = tms_core::testkit::seed_tenant(&*store).await.id;
    let emails = [
        Email::parse("first@example.com").expect("email"),
        Email::parse("second@example.com").expect("email"),
    ];
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for reversed in [false, true] {
        let (store, barrier, attempts) = (
            Arc::clone(&store),
            Arc::clone(&barrier),
            Arc::clone(&attempts),
        );
        let (first, second) = if reversed {
            (emails[1].clone(), emails[0].clone())
        } else {
            (emails[0].clone(), emails[1].clone())
        };
        tasks.push(tokio::spawn(async move {
            let mut mine = 0;
            transact(&*store, |uow| {
                let (first, second, barrier) =
                    (first.clone(), second.clone(), Arc::clone(&barrier));
                mine += 1;
                attempts.fetch_add(1, Ordering::Relaxed);
                let wait = mine == 1;
                Box::pin(async move {
                    // Each locks one row, then wants the other's: a deadlock.
                    let state = uow.lockouts().account(tenant, &first).await?;
                    if wait {
                        barrier.wait().await;
                    }
                    uow.lockouts().account(tenant, &second).await?;
                    uow.lockouts().put_account(tenant, &first, &state).await
                })
            })
            .await
        }));
    }
    for task in tasks {
        task.await
            .expect("task")
            .expect("both finish, one after a retry");
    }
    assert!(
        attempts.load(Ordering::Relaxed) >= 3,
        "PostgreSQL broke the deadlock and the loser retried"
    );
}

// --- row-level security (issue 11) ---

/// Every table with a `tenant_id` column has row-level security enabled
/// and forced, and a `tenant_isolation` policy. A table added by a later
/// migration fails this until its migration adds them (see schema 16).
#[tokio::test]
async fn tenant_tables_all_have_forced_row_level_security() {
    let Some((_store, db)) = fresh_store().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("raw");
    let rows: Vec<(String, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
                EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid \
                        AND p.polname = 'tenant_isolation') \
         FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
           AND a.attname = 'tenant_id' AND NOT a.attisdropped \
         ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("catalogue");
    assert!(rows.len() >= 40, "found only {} tenant tables", rows.len());
    let unprotected: Vec<_> = rows
        .iter()
        .filter(|(_, enabled, forced, policy)| !(*enabled && *forced && *policy))
        .map(|(name, ..)| name.as_str())
        .collect();
    assert!(
        unprotected.is_empty(),
        "tables with tenant_id but without enabled + forced row-level security and a \
         tenant_isolation policy: {unprotected:?}"
    );
}

/// A query with no tenant filter at all, run as the server's role inside
/// a transaction scoped to tenant A, sees A's rows and no others; it can
/// not write a row of B; with no tenant set it sees nothing.
#[tokio::test]
async fn a_query_missing_its_tenant_filter_sees_only_its_tenant() {
    let Some((store, db)) = fresh_store().await else {
        return;
    };
    let a = tms_core::testkit::seed_tenant(&*store).await;
    let b = tms_core::testkit::seed_tenant(&*store).await;
    for tenant in [&a, &b] {
        let mut uow = store.begin().await.expect("begin");
        uow.branches()
            .insert(&tms_core::domain::Branch {
                id: tms_core::id::BranchId::new(),
                tenant_id: tenant.id,
                name: tms_core::domain::Name::parse("Office").expect("name"),
                created_at: chrono::Utc::now(),
                closed_at: None,
                version: 1,
            })
            .await
            .expect("branch");
        uow.commit().await.expect("commit");
    }
    let mut app = sqlx::PgConnection::connect(&app_url(&db).await)
        .await
        .expect("app role");
    let (superuser, owns): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper OR rolbypassrls, \
                pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE relname = 'tenants'), 'MEMBER') \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut app)
    .await
    .expect("role");
    assert!(
        !superuser && !owns,
        "the app role must neither bypass RLS nor own tables"
    );

    let mut tx = sqlx::Connection::begin(&mut app).await.expect("begin");
    sqlx::query("SELECT set_config('tms.tenant_id', $1, true)")
        .bind(a.id.as_uuid().to_string())
        .execute(&mut *tx)
        .await
        .expect("scope");
    // Deliberately no WHERE tenant_id = …
    let seen: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT tenant_id FROM tenants")
        .fetch_all(&mut *tx)
        .await
        .expect("select");
    assert_eq!(seen, vec![(a.id.as_uuid(),)]);
    let branches: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT tenant_id FROM branches")
        .fetch_all(&mut *tx)
        .await
        .expect("select branches");
    assert_eq!(branches, vec![(a.id.as_uuid(),)]);
    // Writing one of B's rows: refused by the policy's WITH CHECK.
    let err = sqlx::query(
        "INSERT INTO branches (tenant_id, id, name, created_at, version) \
         VALUES ($1, $2, 'Smuggled', now(), 1)",
    )
    .bind(b.id.as_uuid())
    .bind(uuid::Uuid::now_v7())
    .execute(&mut *tx)
    .await
    .expect_err("another tenant's row");
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.expect("rollback");

    // Updating or deleting B's rows touches nothing.
    let mut tx = sqlx::Connection::begin(&mut app).await.expect("begin");
    sqlx::query("SELECT set_config('tms.tenant_id', $1, true)")
        .bind(a.id.as_uuid().to_string())
        .execute(&mut *tx)
        .await
        .expect("scope");
    let touched = sqlx::query("UPDATE branches SET name = 'x'")
        .execute(&mut *tx)
        .await
        .expect("update")
        .rows_affected();
    assert_eq!(touched, 1, "A's one branch");
    let deleted = sqlx::query("DELETE FROM tenant_settings")
        .execute(&mut *tx)
        .await
        .expect("delete")
        .rows_affected();
    assert!(deleted <= 1, "at most A's settings row");
    tx.rollback().await.expect("rollback");

    // No tenant set (the setting is transaction-local): nothing at all.
    let none: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT tenant_id FROM tenants")
        .fetch_all(&mut app)
        .await
        .expect("select");
    assert!(none.is_empty(), "{none:?}");
    // And the app role may not change the schema.
    let err = sqlx::raw_sql("ALTER TABLE tenants DISABLE ROW LEVEL SECURITY")
        .execute(&mut app)
        .await
        .expect_err("not the owner");
    assert!(err.to_string().contains("owner"), "{err}");
}
