//! The SQL [`Store`]: one implementation for SQLite and PostgreSQL.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use chrono::Utc;
//! use tms_adapters::sql::SqlStore;
//! use tms_core::audit::NewAuditEvent;
//! use tms_core::domain::{Branch, Context, Name, Principal};
//! use tms_core::id::{BranchId, TenantId};
//! use tms_core::ports::{ChainStatus, Store, verify_chain};
//!
//! let store = SqlStore::connect("sqlite::memory:").await?; // or postgres://…
//! let tenant = TenantId::new();
//! let ctx = Context::new(Principal::system(tenant, "setup"), Utc::now());
//! # let t = tms_core::testkit::new_tenant();
//! # let tenant_row = tms_core::domain::Tenant { id: tenant, ..t };
//! let branch = Branch {
//!     id: BranchId::new(),
//!     tenant_id: tenant,
//!     name: Name::parse("Jeddah office")?,
//!     created_at: ctx.now,
//!     closed_at: None,
//!     version: 1,
//! };
//! let mut uow = store.begin().await?;
//! # uow.tenants().insert(&tenant_row).await?;
//! uow.branches().insert(&branch).await?;
//! uow.audit().append(NewAuditEvent::new(&ctx, "branch.created", "branch", Some(branch.id.into()))).await?;
//! uow.commit().await?; // both, or neither
//!
//! let mut uow = store.begin().await?;
//! assert_eq!(verify_chain(uow.audit(), tenant).await?, ChainStatus::Intact { events: 1 });
//! # Ok::<(), tms_core::Error>(()) }).unwrap();
//! ```
//!
//! # One implementation, two databases
//! Every repository is written once, in [`repos`](self) and the audit log,
//! against three small types of `backend.rs`: a pool, a transaction and a
//! row, each an enum with one variant per database (`sqlite`, `postgres`
//! features). Queries are built with sea-query and bound with
//! sea-query-sqlx; the transaction picks the query builder of its database,
//! so placeholders, quoting and `FOR UPDATE` (dropped on SQLite) come out
//! right. What must still differ lives next to those types and nowhere else:
//! how an instant is bound and read (timestamptz on PostgreSQL, integer
//! microseconds on SQLite), how a transaction begins (`BEGIN IMMEDIATE` on
//! SQLite), the migration files, and which error codes mean "retry".
//! An enum rather than a generic `SqlStore<DB: sqlx::Database>`: sqlx's
//! generic bounds (`Encode`/`Decode`/`Executor` for every type and
//! lifetime) would leak into every repository method, for no speed gained —
//! a `match` per statement costs nothing next to a round trip.
//!
//! # Guarantees
//! - **Units of work**: [`Store::begin`] opens one transaction; every
//!   repository and the audit log write inside it; `commit` makes them
//!   durable together; dropping rolls back. Any failed statement — and any
//!   failed audit append — poisons the unit: `commit` then rolls back and
//!   returns `Conflict`, so a write is never committed without its audit
//!   event (PostgreSQL would silently roll back anyway; SQLite behaves the
//!   same on purpose).
//! - **Tenancy**: every table leads with `tenant_id`, keys are
//!   `(tenant_id, id)`, and every query filters on the tenant: another
//!   tenant's id is exactly a missing one. Lists filter branches in SQL and
//!   page by `(created_at, id)` on an index that starts with the tenant.
//!   On PostgreSQL, row-level security (schema 16) backs this up: every
//!   repository method first scopes its transaction to its tenant
//!   (`tms.tenant_id`, transaction-local), and forced policies let the
//!   transaction see and write that tenant's rows only; the few
//!   cross-tenant reads of system work (login's tenant lookup, the outbox
//!   claim, due campaigns, retention's tenant list, key rotation) use a
//!   `tms.system` setting that only per-table `system_*` policies accept.
//!   Connect as a role that owns no table ([`SqlStoreOptions::owner_url`]).
//! - **Concurrency**: mutable rows carry `version`; a stale update is
//!   `Conflict`. Duplicates are `Conflict`. Serialization failures,
//!   deadlocks, a busy SQLite and lost connections are `Unavailable`, which
//!   [`tms_core::ports::transact`] retries a bounded number of times.
//! - **Audit chain**: appends lock the tenant's chain head row (`SELECT …
//!   FOR UPDATE` on PostgreSQL; SQLite's single writer), so concurrent
//!   writers never fork the chain. The events table rejects `UPDATE` and
//!   `DELETE` with a trigger on both databases — except the one update an
//!   erasure makes (schema 10: payload and salt dropped, `erased_at` set,
//!   everything else unchanged, v2 events only). Secrets in
//!   `before`/`after` are redacted again on append.
//! - **Time precision**: instants are stored to the microsecond on both
//!   databases; nanoseconds are truncated.
//!
//! SQLite transactions all begin `IMMEDIATE`: one writer at a time, waiting
//! up to the busy timeout for the lock. Do not hold two units of work at
//! once in one task on SQLite: the second waits for the first.

mod audit;
mod backend;
mod migrate;
mod repos;
mod sealed;
// --- dedupe ---
mod scope;
// --- clients (issue 6) ---
mod clients;
// --- catalogue, bookings, tickets (issue 6) ---
mod bookings;
// --- umrah (issue 6) ---
mod umrah;
// --- finance (issue 7) ---
mod finance;
mod payables;
// --- messaging (issue 9) ---
mod outbox;
// --- privacy (issue 7) ---
mod privacy;
// --- files (issue 8) ---
mod files;
// --- documents (issue 8) ---
// --- outreach (issue 9) ---
mod outreach;
// --- whatsapp (issue 9) ---
mod whatsapp;
// --- mail ops (issue 10) ---
mod mail_ops;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tms_core::ports::{Store, UnitOfWork};
use tms_core::{Error, Result};

pub use backend::Backend;
pub use migrate::SCHEMA_VERSION;

use backend::{Pool, map_err};

/// How to connect: the URL and the pool's limits.
///
/// ```no_run
/// # async fn demo() -> tms_core::Result<()> {
/// use tms_adapters::sql::SqlStoreOptions;
/// let store = SqlStoreOptions::new("sqlite::memory:").connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlStoreOptions {
    url: String,
    owner_url: Option<String>,
    max_connections: Option<u32>,
    acquire_timeout: Duration,
    busy_timeout: Duration,
    migrate: bool,
}

impl std::fmt::Debug for SqlStoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the scheme: the URL may carry a password.
        let scheme = self.url.split(':').next().unwrap_or_default();
        f.debug_struct("SqlStoreOptions")
            .field("url", &format_args!("{scheme}:…"))
            .field("owner_url", &self.owner_url.as_ref().map(|_| "…"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .field("migrate", &self.migrate)
            .finish()
    }
}

impl SqlStoreOptions {
    /// `sqlite://path/to/tms.db?mode=rwc`, `sqlite::memory:` or
    /// `postgres://user@host:5432/db`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            owner_url: None,
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            migrate: true,
        }
    }

    /// Pool size (default: 10 on PostgreSQL, 4 on an SQLite file, 1 for an
    /// in-memory SQLite database, whose connections would not share it).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n.max(1));
        self
    }

    /// How long to wait for a free connection before `Unavailable`.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// SQLite: how long a writer waits for the lock before `Unavailable`.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether [`SqlStoreOptions::connect`] applies migrations (default yes).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// PostgreSQL: the URL of the role that owns the tables, for
    /// migrations, when [`SqlStoreOptions::new`]'s URL is a role that does
    /// not own them (the production set-up: row-level security binds the
    /// server's role, which may only read and write rows).
    ///
    /// [`SqlStoreOptions::connect`] then migrates through a short-lived
    /// connection as the owner and grants the server's role (the user of
    /// the main URL) `SELECT, INSERT, UPDATE, DELETE` on the tables — read
    /// only on `tms_schema_migrations` — and closes that connection. The
    /// role itself is the operator's to create (`CREATE ROLE tms_app
    /// LOGIN PASSWORD '…'`); it must not be a superuser or have
    /// `BYPASSRLS`. Without an owner URL the main URL migrates, as before:
    /// the policies bind that role too (they are `FORCE`d), unless it is a
    /// superuser.
    ///
    /// ```no_run
    /// # async fn demo() -> tms_core::Result<()> {
    /// use tms_adapters::sql::SqlStoreOptions;
    /// let store = SqlStoreOptions::new("postgres://tms_app:app-pw@db/tms")
    ///     .owner_url("postgres://tms_owner:owner-pw@db/tms")
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn owner_url(mut self, url: impl Into<String>) -> Self {
        self.owner_url = Some(url.into());
        self
    }

    /// Connects, and applies migrations unless told not to. An unreachable
    /// database is `Unavailable`; a URL of no enabled database is `Invalid`.
    pub async fn connect(self) -> Result<SqlStore> {
        let pool = self.pool(&self.url).await?;
        let store = SqlStore { pool };
        match (&self.owner_url, self.migrate) {
            (Some(owner_url), true) => {
                let owner = self.pool(owner_url).await?;
                if owner.backend() != store.backend() {
                    return Err(Error::invalid(
                        "database_owner_url",
                        "names another kind of database than the database URL",
                    ));
                }
                let role = store.pool.current_user().await?;
                let outcome = async {
                    migrate::migrate(&owner).await?;
                    migrate::grant_rows(&owner, role.as_deref()).await
                }
                .await;
                owner.close().await;
                outcome?;
            }
            (None, true) => store.migrate().await?,
            (_, false) => {}
        }
        Ok(store)
    }

    async fn pool(&self, url: &str) -> Result<Pool> {
        #[cfg(feature = "sqlite")]
        if url.starts_with("sqlite:") {
            use sqlx::sqlite::{
                SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
            };
            use std::str::FromStr as _;
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| Error::invalid("database_url", "is not a valid SQLite URL"))?
                .foreign_keys(true)
                .busy_timeout(self.busy_timeout);
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let options = if in_memory {
                options
            } else {
                options
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            };
            let mut pool = SqlitePoolOptions::new()
                .max_connections(
                    self.max_connections
                        .unwrap_or(if in_memory { 1 } else { 4 }),
                )
                .acquire_timeout(self.acquire_timeout)
                // An embedded file does not drop connections: no `SELECT 1`
                // round trip before every transaction.
                .test_before_acquire(false);
            if in_memory {
                // The database lives as long as a connection to it.
                pool = pool
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            let pool = pool.connect_with(options).await.map_err(map_err)?;
            return Ok(Pool::Sqlite(pool));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
            use std::str::FromStr as _;
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| Error::invalid("database_url", "is not a valid PostgreSQL URL"))?;
            let pool = PgPoolOptions::new()
                .max_connections(self.max_connections.unwrap_or(10))
                .acquire_timeout(self.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(map_err)?;
            return Ok(Pool::Postgres(pool));
        }
        Err(Error::invalid(
            "database_url",
            "names no database this build supports (features `sqlite`, `postgres`)",
        ))
    }
}

/// The SQL store. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct SqlStore {
    pool: Pool,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("SqlStore")
            .field("backend", &self.backend())
            .finish()
    }
}

impl SqlStore {
    /// Connects to `url` with default options and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        SqlStoreOptions::new(url).connect().await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Applies missing migrations (see [`SCHEMA_VERSION`]); idempotent. A
    /// database migrated by a newer TMS is an `Internal` error saying to
    /// upgrade.
    pub async fn migrate(&self) -> Result<()> {
        migrate::migrate(&self.pool).await
    }

    /// Closes every connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// As the port object.
    pub fn into_dyn(self) -> Arc<dyn Store> {
        Arc::new(self)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> Result<Box<dyn UnitOfWork>> {
        Ok(Box::new(repos::SqlUnitOfWork::new(
            self.pool.begin().await?,
        )))
    }

    async fn ping(&self) -> Result<()> {
        self.pool.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_never_show_the_url_and_its_password() {
        let options = SqlStoreOptions::new("postgres://tms:s3cret-pw@db.internal/tms");
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("db.internal"),
            "{shown}"
        );
        assert!(shown.contains("postgres"));
    }
}
