//! The only place that knows which database it talks to: pools,
//! transactions, rows, the few SQL differences, and the mapping of database
//! errors onto [`tms_core::Error`].

use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait as _, Value};
use sea_query_sqlx::SqlxBinder;
use sqlx::{AssertSqlSafe, Row as _};
use tms_core::{Error, Result};

/// Which database a [`super::SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite: one file (or memory), one writer at a time.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// How an instant is bound: integer microseconds on SQLite, timestamptz
    /// on PostgreSQL. Both keep microseconds, so both round-trip the same.
    pub(crate) fn ts(self, at: DateTime<Utc>) -> Value {
        match self {
            Backend::Sqlite => Value::BigInt(Some(at.timestamp_micros())),
            Backend::Postgres => Value::ChronoDateTimeUtc(Some(at)),
        }
    }

    /// [`Backend::ts`] of an optional instant (a typed NULL).
    pub(crate) fn opt_ts(self, at: Option<DateTime<Utc>>) -> Value {
        match (self, at) {
            (_, Some(at)) => self.ts(at),
            (Backend::Sqlite, None) => Value::BigInt(None),
            (Backend::Postgres, None) => Value::ChronoDateTimeUtc(None),
        }
    }

    /// The instant in `column` plus `minutes`: integer arithmetic on the
    /// microseconds SQLite stores, an interval on PostgreSQL. `minutes` is
    /// a number, so writing it into the SQL text is safe.
    pub(crate) fn plus_minutes(self, column: &str, minutes: u32) -> Expr {
        match self {
            Backend::Sqlite => {
                Expr::col(column.to_owned()).add(i64::from(minutes) * 60 * 1_000_000)
            }
            Backend::Postgres => Expr::col(column.to_owned())
                .add(Expr::cust(format!("INTERVAL '{minutes} minutes'"))),
        }
    }
}

/// A connection pool of either database.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

impl Pool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction. SQLite's starts with `BEGIN IMMEDIATE`: it takes
    /// the write lock at once, so that a read-then-write (the audit chain
    /// head, a lockout counter) never has to upgrade a read lock, which is
    /// where SQLite transactions deadlock.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        let inner = match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?)
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => TxInner::Postgres(pool.begin().await.map_err(map_err)?),
        };
        Ok(Tx {
            backend: self.backend(),
            inner,
            failed: false,
            scope: None,
        })
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(drop)
                .map_err(map_err)?,
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(drop)
                .map_err(map_err)?,
        };
        Ok(())
    }

    /// PostgreSQL: the role this pool connects as (`None` on SQLite).
    pub(crate) async fn current_user(&self) -> Result<Option<String>> {
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Ok(None),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => sqlx::query_scalar::<_, String>("SELECT current_user::text")
                .fetch_one(pool)
                .await
                .map(Some)
                .map_err(map_err),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => pool.close().await,
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

enum TxInner {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// One open transaction. Dropping it rolls back (sqlx queues the rollback
/// on the connection before it returns to the pool).
pub(crate) struct Tx {
    pub(crate) backend: Backend,
    inner: TxInner,
    /// A statement failed. PostgreSQL has then aborted the transaction (and
    /// would answer COMMIT with a silent ROLLBACK); SQLite has not, but the
    /// unit of work behaves the same on both: it refuses to commit.
    pub(crate) failed: bool,
    /// Whose rows PostgreSQL's row-level security currently lets this
    /// transaction see ([`Tx::set_scope`]); `None` until first set.
    scope: Option<RowScope>,
}

/// Whose rows a transaction may touch under PostgreSQL's row-level
/// security policies (schema 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowScope {
    /// One tenant's rows: `tms.tenant_id` is set, `tms.system` is off.
    Tenant(uuid::Uuid),
    /// The few cross-tenant reads and claims of system work (tenant lookup
    /// by slug at login, outbox claiming, due campaigns, retention's tenant
    /// list, key rotation's scan): `tms.system` is on, and only the
    /// `system_*` policies that schema 16 grants table by table accept it.
    System,
}

impl Tx {
    fn track<T>(&mut self, result: std::result::Result<T, sqlx::Error>) -> Result<T> {
        result.map_err(|e| {
            self.failed = true;
            map_err(e)
        })
    }

    /// Points the row-level security settings at `scope`, unless they point
    /// there already: one round trip when the scope changes, none otherwise.
    /// The settings are transaction-local (`set_config(…, true)`), so they
    /// end with the transaction and never leak to the pooled connection's
    /// next user. SQLite has no row-level security: a no-op there.
    pub(crate) async fn set_scope(&mut self, scope: RowScope) -> Result<()> {
        if self.scope == Some(scope) {
            return Ok(());
        }
        #[cfg(feature = "postgres")]
        // Irrefutable when PostgreSQL is the only backend compiled in.
        #[allow(irrefutable_let_patterns)]
        if let TxInner::Postgres(tx) = &mut self.inner {
            let (tenant, system) = match scope {
                RowScope::Tenant(id) => (id.to_string(), ""),
                RowScope::System => (String::new(), "on"),
            };
            let result = sqlx::query(
                "SELECT set_config('tms.tenant_id', $1, true), set_config('tms.system', $2, true)",
            )
            .bind(tenant)
            .bind(system)
            .execute(&mut **tx)
            .await
            .map(drop);
            self.track(result)?;
        }
        self.scope = Some(scope);
        Ok(())
    }

    /// Runs a statement; how many rows it touched.
    pub(crate) async fn execute<S: SqlxBinder + Sync>(&mut self, stmt: &S) -> Result<u64> {
        let result = match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => {
                let (sql, values) = stmt.build_sqlx(sea_query::SqliteQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **tx)
                    .await
                    .map(|r| r.rows_affected())
            }
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => {
                let (sql, values) = stmt.build_sqlx(sea_query::PostgresQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **tx)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        self.track(result)
    }

    /// Runs `first` then `then` (two writes whose results are not needed).
    /// PostgreSQL gets them as one statement, `WITH first AS (…) then`, in
    /// one round trip; SQLite runs them one after the other.
    pub(crate) async fn execute_both(
        &mut self,
        first: &sea_query::InsertStatement,
        then: &sea_query::UpdateStatement,
    ) -> Result<()> {
        #[cfg(feature = "postgres")]
        // Irrefutable when PostgreSQL is the only backend compiled in.
        #[allow(irrefutable_let_patterns)]
        if let TxInner::Postgres(tx) = &mut self.inner {
            let (first_sql, mut values) = first.build_sqlx(sea_query::PostgresQueryBuilder);
            let (then_sql, then_values) = then.build_sqlx(sea_query::PostgresQueryBuilder);
            let then_sql = shift_placeholders(&then_sql, values.0.0.len());
            values.0.0.extend(then_values.0.0);
            let sql = format!("WITH first AS ({first_sql}) {then_sql}");
            let result = sqlx::query_with(AssertSqlSafe(sql), values)
                .execute(&mut **tx)
                .await
                .map(drop);
            return self.track(result);
        }
        self.execute(first).await?;
        self.execute(then).await.map(drop)
    }

    /// Runs a query; every row.
    pub(crate) async fn fetch_all<S: SqlxBinder + Sync>(&mut self, stmt: &S) -> Result<Vec<Row>> {
        let result = match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => {
                let (sql, values) = stmt.build_sqlx(sea_query::SqliteQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_all(&mut **tx)
                    .await
                    .map(|rows| rows.into_iter().map(Row::Sqlite).collect())
            }
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => {
                let (sql, values) = stmt.build_sqlx(sea_query::PostgresQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .fetch_all(&mut **tx)
                    .await
                    .map(|rows| rows.into_iter().map(Row::Postgres).collect())
            }
        };
        self.track(result)
    }

    /// Runs a query; the first row, if any.
    pub(crate) async fn fetch_optional<S: SqlxBinder + Sync>(
        &mut self,
        stmt: &S,
    ) -> Result<Option<Row>> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    /// Runs trusted, constant SQL (migrations, locks): no parameters,
    /// possibly several statements.
    pub(crate) async fn raw(&mut self, sql: &'static str) -> Result<()> {
        let result = match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
        };
        self.track(result)
    }

    /// Runs SQL built at run time from trusted parts only (identifiers
    /// quoted by the caller), e.g. a `GRANT` to a configured role.
    pub(crate) async fn raw_built(&mut self, sql: String) -> Result<()> {
        let result = match &mut self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut **tx)
                .await
                .map(drop),
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut **tx)
                .await
                .map(drop),
        };
        self.track(result)
    }

    pub(crate) async fn commit(self) -> Result<()> {
        if self.failed {
            self.rollback().await?;
            return Err(Error::conflict(
                "the unit of work was rolled back because a statement in it failed",
            ));
        }
        match self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => tx.commit().await.map_err(map_err),
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => tx.commit().await.map_err(map_err),
        }
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        match self.inner {
            #[cfg(feature = "sqlite")]
            TxInner::Sqlite(tx) => tx.rollback().await.map_err(map_err),
            #[cfg(feature = "postgres")]
            TxInner::Postgres(tx) => tx.rollback().await.map_err(map_err),
        }
    }
}

/// Renumbers PostgreSQL placeholders `$n` to `$(n + by)`. Only for SQL that
/// sea-query built with every value bound, so no `$` occurs in a literal.
#[cfg(feature = "postgres")]
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// A row of either database, read by column name.
pub(crate) enum Row {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::sqlite::SqliteRow),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgRow),
}

macro_rules! getters {
    ($($name:ident: $t:ty;)*) => {
        impl Row {
            $(
                pub(crate) fn $name(&self, column: &str) -> Result<$t> {
                    match self {
                        #[cfg(feature = "sqlite")]
                        Row::Sqlite(row) => row.try_get::<$t, _>(column).map_err(map_err),
                        #[cfg(feature = "postgres")]
                        Row::Postgres(row) => row.try_get::<$t, _>(column).map_err(map_err),
                    }
                }
            )*
        }
    };
}

getters! {
    uuid: uuid::Uuid;
    opt_uuid: Option<uuid::Uuid>;
    text: String;
    opt_text: Option<String>;
    i64: i64;
    opt_i64: Option<i64>;
    bool: bool;
    bytes: Vec<u8>;
    opt_bytes: Option<Vec<u8>>;
}

impl Row {
    /// An instant, stored as [`Backend::ts`] writes it.
    pub(crate) fn ts(&self, column: &str) -> Result<DateTime<Utc>> {
        self.opt_ts(column)?
            .ok_or_else(|| Error::internal(format!("column {column} is unexpectedly NULL")))
    }

    /// An optional instant.
    pub(crate) fn opt_ts(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        match self {
            #[cfg(feature = "sqlite")]
            Row::Sqlite(row) => row
                .try_get::<Option<i64>, _>(column)
                .map_err(map_err)?
                .map(|micros| {
                    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                        Error::internal(format!("column {column} holds an impossible time"))
                    })
                })
                .transpose(),
            #[cfg(feature = "postgres")]
            Row::Postgres(row) => row
                .try_get::<Option<DateTime<Utc>>, _>(column)
                .map_err(map_err),
        }
    }

    /// A SHA-256 hash.
    pub(crate) fn hash(&self, column: &str) -> Result<[u8; 32]> {
        self.bytes(column)?
            .try_into()
            .map_err(|_| Error::internal(format!("column {column} is not a 32-byte hash")))
    }
}

/// Maps every database error onto the core's error, in one place:
/// - unique violations → `Conflict`; a missing referenced row → `Conflict`;
/// - serialization failures, deadlocks, lock timeouts, a busy SQLite,
///   lost, refused or exhausted connections → `Unavailable` (retryable,
///   see [`tms_core::ports::transact`]);
/// - anything else → `Internal`, with the database's message for the logs.
pub(crate) fn map_err(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) => {
            if is_transient(db.as_ref()) {
                return Error::unavailable(
                    "database busy (serialization failure, deadlock or lock timeout); retry",
                );
            }
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    Error::conflict("a record with the same unique value exists")
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => Error::conflict(
                    "a record it refers to does not exist, or records still refer to it",
                ),
                _ => Error::internal(format!("database error: {}", db.message())),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Error::unavailable("database unreachable"),
        sqlx::Error::RowNotFound => Error::not_found("record"),
        other => Error::internal(format!("database: {other}")),
    }
}

fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Primary result code in the low byte: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
        return code
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14));
    }
    // PostgreSQL: serialization_failure, deadlock_detected,
    // lock_not_available, query_canceled (statement timeout), the
    // connection and admin-shutdown classes, too many connections.
    matches!(
        code,
        "40001" | "40P01" | "55P03" | "57014" | "53300" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::shift_placeholders;

    #[test]
    fn placeholders_shift_and_nothing_else_changes() {
        assert_eq!(
            shift_placeholders(r#"UPDATE "t" SET "a" = $1, "b" = $2 WHERE "c" = $10"#, 17),
            r#"UPDATE "t" SET "a" = $18, "b" = $19 WHERE "c" = $27"#
        );
        assert_eq!(shift_placeholders("SELECT $", 3), "SELECT $");
    }
}
