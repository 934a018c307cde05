//! The repositories, written once for both databases.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_query::{Expr, ExprTrait as _, OnConflict, Order, Query, SelectStatement, Value};
use tms_core::domain::{
    Branch, BranchScope, Email, Name, Role, Session, Tenant, TenantSettings, TenantSlug, TwoFactor,
    User,
};
use tms_core::id::{BranchId, ConfirmationId, SessionId, TenantId, TokenId, UserId};
use tms_core::money::Currency;
use tms_core::policy::{Action, PendingConfirmation, Resource, ResourceKind};
use tms_core::ports::{
    AuditLog, BranchRepo, ConfirmationRepo, Cursor, LockoutRepo, OutboxRepo, Page, PageRequest,
    Scope, SessionRepo, SettingsRepo, StoredToken, TenantRepo, TokenRepo, UnitOfWork, UserRepo,
};
use tms_core::security::keyring::Sealed;
use tms_core::security::lockout::{AccountLockout, IpThrottle};
use tms_core::security::token::{SingleUseToken, TokenHash, TokenPurpose};
use tms_core::security::totp::RecoveryCodes;
use tms_core::{Error, Result};

use super::backend::{Row, RowScope, Tx};
use super::scope::{empty_page, scoped_on};

/// One transaction with every repository: the unit of work implements each
/// repository trait itself and hands out `&mut self`.
pub(crate) struct SqlUnitOfWork {
    pub(super) tx: Tx,
}

impl SqlUnitOfWork {
    pub(crate) fn new(tx: Tx) -> Self {
        Self { tx }
    }

    /// Scopes the transaction to `tenant`'s rows (PostgreSQL row-level
    /// security; a no-op on SQLite).
    ///
    /// **The one rule for a repository method**: its first statement is
    /// `self.for_tenant(tenant).await?` with the tenant it works for — or,
    /// for a documented cross-tenant read of system work,
    /// `self.for_system().await?`, which only the `system_*` policies of
    /// the tables named in schema 16 accept. Forgetting it is not a silent
    /// leak: the policies then see no tenant and the method sees no rows
    /// (and writes fail), which the store contract suite run as the
    /// non-owner role (`tms-adapters/tests/store`) catches.
    pub(super) async fn for_tenant(&mut self, tenant: impl Into<uuid::Uuid>) -> Result<()> {
        self.tx.set_scope(RowScope::Tenant(tenant.into())).await
    }

    /// Scopes the transaction to system work across tenants; see
    /// [`SqlUnitOfWork::for_tenant`].
    pub(super) async fn for_system(&mut self) -> Result<()> {
        self.tx.set_scope(RowScope::System).await
    }

    pub(super) fn ts(&self, at: DateTime<Utc>) -> Expr {
        Expr::val(self.tx.backend.ts(at))
    }

    pub(super) fn opt_ts(&self, at: Option<DateTime<Utc>>) -> Expr {
        Expr::val(self.tx.backend.opt_ts(at))
    }

    /// Adds the keyset condition and order of a `(created_at, id)` page,
    /// fetching one row more than asked to learn whether another page follows.
    pub(super) fn keyset(&self, query: &mut SelectStatement, page: PageRequest) {
        if let Some(after) = page.after {
            query.and_where(
                Expr::tuple([Expr::col("created_at"), Expr::col("id")])
                    .gt(Expr::tuple([self.ts(after.created_at), uuid(after.id)])),
            );
        }
        query
            .order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .limit(u64::from(page.limit()) + 1);
    }

    /// Runs an insert as `… ON CONFLICT DO NOTHING`: a row that collides with
    /// a unique key writes nothing and becomes `Conflict(duplicate)`, without
    /// the failed statement that would poison a PostgreSQL transaction.
    pub(super) async fn insert_new(
        &mut self,
        insert: std::result::Result<&mut sea_query::InsertStatement, sea_query::error::Error>,
        duplicate: &'static str,
    ) -> Result<()> {
        let q = built(insert.map(|q| q.on_conflict(OnConflict::new().do_nothing().to_owned())))?;
        match self.tx.execute(&q).await? {
            0 => Err(Error::conflict(duplicate)),
            _ => Ok(()),
        }
    }

    /// The row `q` selects, if any, read with `map`.
    pub(super) async fn fetch_one<T>(
        &mut self,
        q: &SelectStatement,
        map: fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.tx
            .fetch_optional(q)
            .await?
            .as_ref()
            .map(map)
            .transpose()
    }

    /// Whether the row `(tenant, id)` exists in `table` (to tell a stale
    /// version from a missing row).
    pub(super) async fn exists(
        &mut self,
        table: &'static str,
        key: &'static str,
        tenant: TenantId,
        id: Option<uuid::Uuid>,
    ) -> Result<bool> {
        let mut q = Query::select();
        q.expr(Expr::val(1))
            .from(table)
            .and_where(Expr::col(key).eq(uuid(tenant)));
        if let Some(id) = id {
            q.and_where(Expr::col("id").eq(uuid(id)));
        }
        Ok(self.tx.fetch_optional(&q).await?.is_some())
    }

    /// After an update of `(tenant, id)` in `table` touched no row:
    /// `Conflict` if the row is there (a stale version), else `NotFound`.
    pub(super) async fn stale(
        &mut self,
        table: &'static str,
        what: &'static str,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> Error {
        self.stale_or_missing(table, "tenant_id", what, tenant, Some(id))
            .await
    }

    pub(super) async fn stale_or_missing(
        &mut self,
        table: &'static str,
        key: &'static str,
        what: &'static str,
        tenant: TenantId,
        id: Option<uuid::Uuid>,
    ) -> Error {
        match self.exists(table, key, tenant, id).await {
            Ok(true) => Error::conflict(format!(
                "the {what} was changed by someone else; reload and retry"
            )),
            Ok(false) => Error::not_found(what),
            Err(e) => e,
        }
    }
}

pub(super) fn uuid(id: impl Into<uuid::Uuid>) -> Expr {
    Expr::val(Value::Uuid(Some(id.into())))
}

pub(super) fn opt_uuid(id: Option<impl Into<uuid::Uuid>>) -> Expr {
    Expr::val(Value::Uuid(id.map(Into::into)))
}

pub(super) fn text(s: &str) -> Expr {
    Expr::val(s)
}

pub(super) fn opt_text(s: Option<&str>) -> Expr {
    Expr::val(Value::String(s.map(str::to_owned)))
}

pub(super) fn int(n: i64) -> Expr {
    Expr::val(n)
}

pub(super) fn bytes(b: &[u8]) -> Expr {
    Expr::val(Value::Bytes(Some(b.to_vec())))
}

pub(super) fn opt_bytes(b: Option<&[u8]>) -> Expr {
    Expr::val(Value::Bytes(b.map(<[u8]>::to_vec)))
}

pub(super) fn built(
    result: std::result::Result<&mut sea_query::InsertStatement, sea_query::error::Error>,
) -> Result<sea_query::InsertStatement> {
    result
        .map(|q| q.to_owned())
        .map_err(|e| Error::internal(format!("query: {e}")))
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::internal(format!("a stored {what} is not valid"))
}

/// A statement sea-query could not build: a bug, never the caller's input.
pub(super) fn query_err(e: sea_query::error::Error) -> Error {
    Error::internal(format!("query: {e}"))
}

pub(super) fn page_of<T>(
    mut items: Vec<T>,
    page: PageRequest,
    cursor: impl Fn(&T) -> Cursor,
) -> Page<T> {
    let limit = page.limit() as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more { items.last().map(cursor) } else { None };
    Page { items, next }
}

pub(super) fn u32_col(row: &Row, column: &str) -> Result<u32> {
    u32::try_from(row.i64(column)?).map_err(|_| corrupt(column))
}

// ---------------------------------------------------------------- tenants

const TENANT_COLS: [&str; 6] = [
    "tenant_id",
    "slug",
    "name",
    "base_currency",
    "created_at",
    "version",
];

fn tenant_of(row: &Row) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId::from_uuid(row.uuid("tenant_id")?),
        slug: TenantSlug::parse(&row.text("slug")?).map_err(|_| corrupt("tenant slug"))?,
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("tenant name"))?,
        base_currency: Currency::parse(&row.text("base_currency")?)
            .map_err(|_| corrupt("currency"))?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

#[async_trait]
impl TenantRepo for SqlUnitOfWork {
    async fn insert(&mut self, tenant: &Tenant) -> Result<()> {
        self.for_tenant(tenant.id).await?;
        self.insert_new(
            Query::insert()
                .into_table("tenants")
                .columns(TENANT_COLS)
                .values([
                    uuid(tenant.id),
                    text(tenant.slug.as_str()),
                    text(tenant.name.as_str()),
                    text(tenant.base_currency.code()),
                    self.ts(tenant.created_at),
                    int(tenant.version),
                ]),
            "a tenant with this id or slug exists",
        )
        .await
    }

    async fn get(&mut self, id: TenantId) -> Result<Option<Tenant>> {
        self.for_tenant(id).await?;
        let q = Query::select()
            .columns(TENANT_COLS)
            .from("tenants")
            .and_where(Expr::col("tenant_id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, tenant_of).await
    }

    async fn find_by_slug(&mut self, slug: &TenantSlug) -> Result<Option<Tenant>> {
        self.for_system().await?;
        let q = Query::select()
            .columns(TENANT_COLS)
            .from("tenants")
            .and_where(Expr::col("slug").eq(slug.as_str()))
            .to_owned();
        self.fetch_one(&q, tenant_of).await
    }

    async fn update(&mut self, tenant: &mut Tenant) -> Result<()> {
        self.for_tenant(tenant.id).await?;
        // A taken slug is a clean `Conflict`, not a failed statement.
        if let Some(other) = TenantRepo::find_by_slug(self, &tenant.slug).await?
            && other.id != tenant.id
        {
            return Err(Error::conflict("a tenant with this slug exists"));
        }
        // The slug lookup ran as system work: back to this tenant's rows.
        self.for_tenant(tenant.id).await?;
        let q = Query::update()
            .table("tenants")
            .value("slug", tenant.slug.as_str())
            .value("name", tenant.name.as_str())
            .value("base_currency", tenant.base_currency.code())
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant.id)))
            .and_where(Expr::col("version").eq(tenant.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            tenant.version += 1;
            return Ok(());
        }
        Err(self
            .stale_or_missing("tenants", "tenant_id", "tenant", tenant.id, None)
            .await)
    }
}

// ---------------------------------------------------------------- settings

#[async_trait]
impl SettingsRepo for SqlUnitOfWork {
    async fn get(&mut self, tenant: TenantId) -> Result<TenantSettings> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns([
                "require_two_factor_for_admins",
                "session_idle_minutes",
                "session_absolute_hours",
                "version",
            ])
            .from("tenant_settings")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            None => Ok(TenantSettings::defaults(tenant)),
            Some(row) => Ok(TenantSettings {
                tenant_id: tenant,
                require_two_factor_for_admins: row.bool("require_two_factor_for_admins")?,
                session_idle_minutes: u32_col(&row, "session_idle_minutes")?,
                session_absolute_hours: u32_col(&row, "session_absolute_hours")?,
                version: row.i64("version")?,
            }),
        }
    }

    async fn put(&mut self, settings: &mut TenantSettings) -> Result<()> {
        self.for_tenant(settings.tenant_id).await?;
        let q = Query::update()
            .table("tenant_settings")
            .value(
                "require_two_factor_for_admins",
                settings.require_two_factor_for_admins,
            )
            .value(
                "session_idle_minutes",
                i64::from(settings.session_idle_minutes),
            )
            .value(
                "session_absolute_hours",
                i64::from(settings.session_absolute_hours),
            )
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(settings.tenant_id)))
            .and_where(Expr::col("version").eq(settings.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            settings.version += 1;
            return Ok(());
        }
        // Never saved: the defaults' version is the current one.
        if settings.version == TenantSettings::defaults(settings.tenant_id).version {
            let q = built(
                Query::insert()
                    .into_table("tenant_settings")
                    .columns([
                        "tenant_id",
                        "require_two_factor_for_admins",
                        "session_idle_minutes",
                        "session_absolute_hours",
                        "version",
                    ])
                    .values([
                        uuid(settings.tenant_id),
                        Expr::val(settings.require_two_factor_for_admins),
                        int(i64::from(settings.session_idle_minutes)),
                        int(i64::from(settings.session_absolute_hours)),
                        int(settings.version + 1),
                    ])
                    .map(|q| q.on_conflict(OnConflict::new().do_nothing().to_owned())),
            )?;
            if self.tx.execute(&q).await? == 1 {
                settings.version += 1;
                return Ok(());
            }
        }
        Err(Error::conflict(
            "the tenant settings were changed by someone else; reload and retry",
        ))
    }

    async fn secret(&mut self, tenant: TenantId, name: &str) -> Result<Option<Sealed>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .column("sealed")
            .from("tenant_secrets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("name").eq(name))
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            None => Ok(None),
            Some(row) => Ok(Some(Sealed::from_bytes(row.bytes("sealed")?))),
        }
    }

    async fn put_secret(&mut self, tenant: TenantId, name: &str, sealed: &Sealed) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = built(
            Query::insert()
                .into_table("tenant_secrets")
                .columns(["tenant_id", "name", "sealed"])
                .values([uuid(tenant), text(name), bytes(sealed.as_bytes())])
                .map(|q| {
                    q.on_conflict(
                        OnConflict::columns(["tenant_id", "name"])
                            .update_column("sealed")
                            .to_owned(),
                    )
                }),
        )?;
        self.tx.execute(&q).await.map(drop)
    }

    async fn delete_secret(&mut self, tenant: TenantId, name: &str) -> Result<bool> {
        self.for_tenant(tenant).await?;
        let q = Query::delete()
            .from_table("tenant_secrets")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("name").eq(name))
            .to_owned();
        Ok(self.tx.execute(&q).await? > 0)
    }
}

// ---------------------------------------------------------------- branches

const BRANCH_COLS: [&str; 6] = [
    "tenant_id",
    "id",
    "name",
    "created_at",
    "closed_at",
    "version",
];

fn branch_of(row: &Row) -> Result<Branch> {
    Ok(Branch {
        id: BranchId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("branch name"))?,
        created_at: row.ts("created_at")?,
        closed_at: row.opt_ts("closed_at")?,
        version: row.i64("version")?,
    })
}

#[async_trait]
impl BranchRepo for SqlUnitOfWork {
    async fn insert(&mut self, branch: &Branch) -> Result<()> {
        self.for_tenant(branch.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("branches")
                .columns(BRANCH_COLS)
                .values([
                    uuid(branch.tenant_id),
                    uuid(branch.id),
                    text(branch.name.as_str()),
                    self.ts(branch.created_at),
                    self.opt_ts(branch.closed_at),
                    int(branch.version),
                ]),
            "a branch with this id exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: BranchId) -> Result<Option<Branch>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(BRANCH_COLS)
            .from("branches")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, branch_of).await
    }

    async fn update(&mut self, branch: &mut Branch) -> Result<()> {
        self.for_tenant(branch.tenant_id).await?;
        let q = Query::update()
            .table("branches")
            .value("name", branch.name.as_str())
            .value("closed_at", self.opt_ts(branch.closed_at))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(branch.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(branch.id)))
            .and_where(Expr::col("version").eq(branch.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            branch.version += 1;
            return Ok(());
        }
        Err(self
            .stale_or_missing(
                "branches",
                "tenant_id",
                "branch",
                branch.tenant_id,
                Some(branch.id.as_uuid()),
            )
            .await)
    }

    async fn list(&mut self, scope: &Scope, page: PageRequest) -> Result<Page<Branch>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(BRANCH_COLS).from("branches");
        // A branch is its own branch: the scope filters the `id` column.
        if !scoped_on(&mut q, scope, "id") {
            return Ok(empty_page());
        }
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(branch_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |b| Cursor {
            created_at: b.created_at,
            id: b.id.as_uuid(),
        }))
    }
}

// ---------------------------------------------------------------- users

const USER_COLS: [&str; 16] = [
    "tenant_id",
    "id",
    "email",
    "name",
    "role",
    "branch_scope",
    "password_hash",
    "totp_secret",
    "totp_last_step",
    "email_otp",
    "totp_pending",
    "recovery_codes",
    "must_change_password",
    "disabled_at",
    "created_at",
    "version",
];

fn user_of(row: &Row) -> Result<User> {
    Ok(User {
        id: UserId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        email: Email::parse(&row.text("email")?).map_err(|_| corrupt("email"))?,
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("user name"))?,
        role: Role::parse(&row.text("role")?).map_err(|_| corrupt("role"))?,
        scope: serde_json::from_str(&row.text("branch_scope")?)
            .map_err(|_| corrupt("branch scope"))?,
        password_hash: row.opt_text("password_hash")?,
        two_factor: TwoFactor {
            totp_secret: row.opt_bytes("totp_secret")?.map(Sealed::from_bytes),
            totp_last_step: row
                .opt_i64("totp_last_step")?
                .map(|s| u64::try_from(s).map_err(|_| corrupt("TOTP step")))
                .transpose()?,
            email_otp: row.bool("email_otp")?,
            totp_pending: row.opt_bytes("totp_pending")?.map(Sealed::from_bytes),
            recovery_codes: match row.opt_text("recovery_codes")? {
                Some(json) => serde_json::from_str(&json).map_err(|_| corrupt("recovery codes"))?,
                None => RecoveryCodes::default(),
            },
        },
        must_change_password: row.bool("must_change_password")?,
        disabled_at: row.opt_ts("disabled_at")?,
        created_at: row.ts("created_at")?,
        version: row.i64("version")?,
    })
}

fn scope_json(scope: &BranchScope) -> Result<String> {
    serde_json::to_string(scope).map_err(|e| Error::internal(format!("branch scope: {e}")))
}

/// The recovery codes as stored: JSON, or NULL when there are none.
fn recovery_json(user: &User) -> Result<Option<String>> {
    let codes = &user.two_factor.recovery_codes;
    if codes.slots().is_empty() {
        return Ok(None);
    }
    serde_json::to_string(codes)
        .map(Some)
        .map_err(|e| Error::internal(format!("recovery codes: {e}")))
}

fn totp_step(user: &User) -> Result<Option<i64>> {
    user.two_factor
        .totp_last_step
        .map(|s| i64::try_from(s).map_err(|_| Error::invalid("totp_last_step", "is out of range")))
        .transpose()
}

#[async_trait]
impl UserRepo for SqlUnitOfWork {
    async fn insert(&mut self, user: &User) -> Result<()> {
        self.for_tenant(user.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("users")
                .columns(USER_COLS)
                .values([
                    uuid(user.tenant_id),
                    uuid(user.id),
                    text(user.email.as_str()),
                    text(user.name.as_str()),
                    text(user.role.as_str()),
                    text(&scope_json(&user.scope)?),
                    opt_text(user.password_hash.as_deref()),
                    opt_bytes(user.two_factor.totp_secret.as_ref().map(Sealed::as_bytes)),
                    Expr::val(totp_step(user)?),
                    Expr::val(user.two_factor.email_otp),
                    opt_bytes(user.two_factor.totp_pending.as_ref().map(Sealed::as_bytes)),
                    opt_text(recovery_json(user)?.as_deref()),
                    Expr::val(user.must_change_password),
                    self.opt_ts(user.disabled_at),
                    self.ts(user.created_at),
                    int(user.version),
                ]),
            "a user with this email exists in the tenant",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: UserId) -> Result<Option<User>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(USER_COLS)
            .from("users")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, user_of).await
    }

    async fn find_by_email(&mut self, tenant: TenantId, email: &Email) -> Result<Option<User>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(USER_COLS)
            .from("users")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("email").eq(email.as_str()))
            .to_owned();
        self.fetch_one(&q, user_of).await
    }

    async fn update(&mut self, user: &mut User) -> Result<()> {
        self.for_tenant(user.tenant_id).await?;
        // A changed email may collide with another user's: check first, so
        // that the collision is a clean `Conflict` rather than a failed
        // statement that poisons the unit of work.
        if let Some(other) = UserRepo::find_by_email(self, user.tenant_id, &user.email).await?
            && other.id != user.id
        {
            return Err(Error::conflict(
                "a user with this email exists in the tenant",
            ));
        }
        let q = Query::update()
            .table("users")
            .value("email", user.email.as_str())
            .value("name", user.name.as_str())
            .value("role", user.role.as_str())
            .value("branch_scope", scope_json(&user.scope)?)
            .value("password_hash", opt_text(user.password_hash.as_deref()))
            .value(
                "totp_secret",
                opt_bytes(user.two_factor.totp_secret.as_ref().map(Sealed::as_bytes)),
            )
            .value("totp_last_step", Expr::val(totp_step(user)?))
            .value("email_otp", user.two_factor.email_otp)
            .value(
                "totp_pending",
                opt_bytes(user.two_factor.totp_pending.as_ref().map(Sealed::as_bytes)),
            )
            .value("recovery_codes", opt_text(recovery_json(user)?.as_deref()))
            .value("must_change_password", user.must_change_password)
            .value("disabled_at", self.opt_ts(user.disabled_at))
            .value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(user.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(user.id)))
            .and_where(Expr::col("version").eq(user.version))
            .to_owned();
        if self.tx.execute(&q).await? == 1 {
            user.version += 1;
            return Ok(());
        }
        Err(self
            .stale_or_missing(
                "users",
                "tenant_id",
                "user",
                user.tenant_id,
                Some(user.id.as_uuid()),
            )
            .await)
    }

    async fn list(&mut self, tenant: TenantId, page: PageRequest) -> Result<Page<User>> {
        self.for_tenant(tenant).await?;
        let mut q = Query::select();
        q.columns(USER_COLS)
            .from("users")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)));
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(user_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |u| Cursor {
            created_at: u.created_at,
            id: u.id.as_uuid(),
        }))
    }
}

// ---------------------------------------------------------------- sessions

const SESSION_COLS: [&str; 9] = [
    "tenant_id",
    "id",
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "revoked_at",
    "ip",
    "user_agent",
];

fn session_of(row: &Row) -> Result<Session> {
    Ok(Session {
        id: SessionId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        created_at: row.ts("created_at")?,
        last_seen_at: row.ts("last_seen_at")?,
        expires_at: row.ts("expires_at")?,
        revoked_at: row.opt_ts("revoked_at")?,
        ip: row.opt_text("ip")?,
        user_agent: row.opt_text("user_agent")?,
    })
}

#[async_trait]
impl SessionRepo for SqlUnitOfWork {
    async fn insert(&mut self, session: &Session) -> Result<()> {
        self.for_tenant(session.tenant_id).await?;
        self.insert_new(
            Query::insert()
                .into_table("sessions")
                .columns(SESSION_COLS)
                .values([
                    uuid(session.tenant_id),
                    uuid(session.id),
                    uuid(session.user_id),
                    self.ts(session.created_at),
                    self.ts(session.last_seen_at),
                    self.ts(session.expires_at),
                    self.opt_ts(session.revoked_at),
                    opt_text(session.ip.as_deref()),
                    opt_text(session.user_agent.as_deref()),
                ]),
            "a session with this id exists",
        )
        .await
    }

    async fn get(&mut self, tenant: TenantId, id: SessionId) -> Result<Option<Session>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(SESSION_COLS)
            .from("sessions")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        self.fetch_one(&q, session_of).await
    }

    async fn touch(&mut self, tenant: TenantId, id: SessionId, at: DateTime<Utc>) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = Query::update()
            .table("sessions")
            .value("last_seen_at", self.ts(at))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .and_where(Expr::col("revoked_at").is_null())
            .to_owned();
        match self.tx.execute(&q).await? {
            0 => Err(Error::not_found("session")),
            _ => Ok(()),
        }
    }

    async fn revoke(&mut self, tenant: TenantId, id: SessionId, at: DateTime<Utc>) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = Query::update()
            .table("sessions")
            .value(
                "revoked_at",
                sea_query::Func::coalesce([Expr::col("revoked_at"), self.ts(at)]),
            )
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        match self.tx.execute(&q).await? {
            0 => Err(Error::not_found("session")),
            _ => Ok(()),
        }
    }

    async fn revoke_all(
        &mut self,
        tenant: TenantId,
        user: UserId,
        except: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.for_tenant(tenant).await?;
        let mut q = Query::update();
        q.table("sessions")
            .value("revoked_at", self.ts(at))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("user_id").eq(uuid(user)))
            .and_where(Expr::col("revoked_at").is_null());
        if let Some(except) = except {
            q.and_where(Expr::col("id").ne(uuid(except)));
        }
        self.tx.execute(&q).await
    }

    async fn list_for_user(&mut self, tenant: TenantId, user: UserId) -> Result<Vec<Session>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(SESSION_COLS)
            .from("sessions")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("user_id").eq(uuid(user)))
            .and_where(Expr::col("revoked_at").is_null())
            .order_by("created_at", Order::Desc)
            .order_by("id", Order::Desc)
            .to_owned();
        self.tx
            .fetch_all(&q)
            .await?
            .iter()
            .map(session_of)
            .collect()
    }
}

// ---------------------------------------------------------------- lockouts

impl SqlUnitOfWork {
    /// Reads a lockout row, creating it if missing, and locks it until
    /// commit, so that concurrent failures on replicas are all counted.
    ///
    /// One statement, one round trip (this is on the path that rejects a
    /// locked account): an upsert whose conflict branch rewrites the row
    /// with itself, which takes the row lock on PostgreSQL like `FOR UPDATE`
    /// (SQLite's writer lock is already held), and `RETURNING` the state —
    /// the stored one, or the empty one just inserted.
    async fn locked_state(
        &mut self,
        table: &'static str,
        key: &'static str,
        tenant: TenantId,
        value: &str,
        empty: String,
    ) -> Result<String> {
        let q = built(
            Query::insert()
                .into_table(table)
                .columns(["tenant_id", key, "state"])
                .values([uuid(tenant), text(value), text(&empty)])
                .map(|q| {
                    q.on_conflict(
                        OnConflict::columns(["tenant_id", key])
                            .value("state", Expr::col((table, "state")))
                            .to_owned(),
                    )
                    .returning(Query::returning().column("state"))
                }),
        )?;
        match self.tx.fetch_optional(&q).await? {
            Some(row) => row.text("state"),
            None => Ok(empty),
        }
    }
}

fn state_json<T: serde::Serialize>(state: &T) -> Result<String> {
    serde_json::to_string(state).map_err(|e| Error::internal(format!("lockout state: {e}")))
}

#[async_trait]
impl LockoutRepo for SqlUnitOfWork {
    async fn account(&mut self, tenant: TenantId, email: &Email) -> Result<AccountLockout> {
        self.for_tenant(tenant).await?;
        let empty = state_json(&AccountLockout::default())?;
        let state = self
            .locked_state("lockout_accounts", "email", tenant, email.as_str(), empty)
            .await?;
        serde_json::from_str(&state).map_err(|_| corrupt("lockout state"))
    }

    async fn put_account(
        &mut self,
        tenant: TenantId,
        email: &Email,
        state: &AccountLockout,
    ) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = built(
            Query::insert()
                .into_table("lockout_accounts")
                .columns(["tenant_id", "email", "state", "locked_until"])
                .values([
                    uuid(tenant),
                    text(email.as_str()),
                    text(&state_json(state)?),
                    self.opt_ts(state.locked_until),
                ])
                .map(|q| {
                    q.on_conflict(
                        OnConflict::columns(["tenant_id", "email"])
                            .update_columns(["state", "locked_until"])
                            .to_owned(),
                    )
                }),
        )?;
        self.tx.execute(&q).await.map(drop)
    }

    async fn ip(&mut self, tenant: TenantId, ip: IpAddr) -> Result<IpThrottle> {
        self.for_tenant(tenant).await?;
        let empty = state_json(&IpThrottle::default())?;
        let state = self
            .locked_state("lockout_ips", "ip", tenant, &ip.to_string(), empty)
            .await?;
        serde_json::from_str(&state).map_err(|_| corrupt("throttle state"))
    }

    async fn put_ip(&mut self, tenant: TenantId, ip: IpAddr, state: &IpThrottle) -> Result<()> {
        self.for_tenant(tenant).await?;
        let q = built(
            Query::insert()
                .into_table("lockout_ips")
                .columns(["tenant_id", "ip", "state"])
                .values([
                    uuid(tenant),
                    text(&ip.to_string()),
                    text(&state_json(state)?),
                ])
                .map(|q| {
                    q.on_conflict(
                        OnConflict::columns(["tenant_id", "ip"])
                            .update_column("state")
                            .to_owned(),
                    )
                }),
        )?;
        self.tx.execute(&q).await.map(drop)
    }
}

// ---------------------------------------------------------------- tokens

const TOKEN_COLS: [&str; 9] = [
    "tenant_id",
    "id",
    "user_id",
    "purpose",
    "hash",
    "issued_at",
    "expires_at",
    "failed_attempts",
    "used_at",
];

fn purpose_of(raw: &str) -> Result<TokenPurpose> {
    [
        TokenPurpose::PasswordReset,
        TokenPurpose::Invitation,
        TokenPurpose::EmailOtp,
        TokenPurpose::Confirmation,
    ]
    .into_iter()
    .find(|p| p.as_str() == raw)
    .ok_or_else(|| corrupt("token purpose"))
}

fn single_use_of(row: &Row) -> Result<SingleUseToken> {
    Ok(SingleUseToken {
        purpose: purpose_of(&row.text("purpose")?)?,
        hash: TokenHash(row.hash("hash")?),
        issued_at: row.ts("issued_at")?,
        expires_at: row.ts("expires_at")?,
        failed_attempts: u32_col(row, "failed_attempts")?,
        used_at: row.opt_ts("used_at")?,
    })
}

fn token_of(row: &Row) -> Result<StoredToken> {
    Ok(StoredToken {
        id: TokenId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        token: single_use_of(row)?,
    })
}

impl SqlUnitOfWork {
    /// Saves tries and the used mark of a single-use record. Only forward:
    /// a used record is never written again and tries never go down, so two
    /// concurrent redemptions cannot both succeed — the second is `Conflict`.
    async fn save_single_use(
        &mut self,
        table: &'static str,
        tenant: TenantId,
        id: uuid::Uuid,
        token: &SingleUseToken,
    ) -> Result<()> {
        let q = Query::update()
            .table(table)
            .value("failed_attempts", i64::from(token.failed_attempts))
            .value("used_at", self.opt_ts(token.used_at))
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .and_where(Expr::col("used_at").is_null())
            .and_where(Expr::col("failed_attempts").lte(i64::from(token.failed_attempts)))
            .to_owned();
        match self.tx.execute(&q).await? {
            0 => Err(Error::conflict("the token was already used or changed")),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl TokenRepo for SqlUnitOfWork {
    async fn insert(&mut self, token: &StoredToken) -> Result<()> {
        self.for_tenant(token.tenant_id).await?;
        let t = &token.token;
        self.insert_new(
            Query::insert()
                .into_table("tokens")
                .columns(TOKEN_COLS)
                .values([
                    uuid(token.tenant_id),
                    uuid(token.id),
                    uuid(token.user_id),
                    text(t.purpose.as_str()),
                    bytes(&t.hash.0),
                    self.ts(t.issued_at),
                    self.ts(t.expires_at),
                    int(i64::from(t.failed_attempts)),
                    self.opt_ts(t.used_at),
                ]),
            "a token with this id or hash exists",
        )
        .await
    }

    async fn find_by_hash(
        &mut self,
        tenant: TenantId,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<StoredToken>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TOKEN_COLS)
            .from("tokens")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("purpose").eq(purpose.as_str()))
            .and_where(Expr::col("hash").eq(bytes(&hash.0)))
            .to_owned();
        self.fetch_one(&q, token_of).await
    }

    async fn latest_for_user(
        &mut self,
        tenant: TenantId,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Option<StoredToken>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(TOKEN_COLS)
            .from("tokens")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("user_id").eq(uuid(user)))
            .and_where(Expr::col("purpose").eq(purpose.as_str()))
            .and_where(Expr::col("used_at").is_null())
            .order_by("issued_at", Order::Desc)
            .order_by("id", Order::Desc)
            .limit(1)
            .to_owned();
        self.fetch_one(&q, token_of).await
    }

    async fn update(&mut self, token: &StoredToken) -> Result<()> {
        self.for_tenant(token.tenant_id).await?;
        self.save_single_use("tokens", token.tenant_id, token.id.as_uuid(), &token.token)
            .await
    }
}

// ---------------------------------------------------------------- confirmations

const CONFIRMATION_COLS: [&str; 17] = [
    "tenant_id",
    "id",
    "actor_user_id",
    "action",
    "resource_kind",
    "resource_tenant_id",
    "resource_branch_id",
    "resource_id",
    "resource_is_draft",
    "resource_subject_role",
    "resource_granted_role",
    "purpose",
    "hash",
    "issued_at",
    "expires_at",
    "failed_attempts",
    "used_at",
];

fn opt_role(row: &Row, column: &str) -> Result<Option<Role>> {
    row.opt_text(column)?
        .map(|r| Role::parse(&r).map_err(|_| corrupt("role")))
        .transpose()
}

fn confirmation_of(row: &Row) -> Result<PendingConfirmation> {
    let action = row.text("action")?;
    let kind = row.text("resource_kind")?;
    Ok(PendingConfirmation {
        id: ConfirmationId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        actor: UserId::from_uuid(row.uuid("actor_user_id")?),
        action: Action::ALL
            .into_iter()
            .find(|a| a.as_str() == action)
            .ok_or_else(|| corrupt("action"))?,
        resource: Resource {
            kind: ResourceKind::ALL
                .iter()
                .copied()
                .find(|k| k.what() == kind)
                .ok_or_else(|| corrupt("resource kind"))?,
            tenant_id: TenantId::from_uuid(row.uuid("resource_tenant_id")?),
            branch_id: row.opt_uuid("resource_branch_id")?.map(BranchId::from_uuid),
            id: row.opt_uuid("resource_id")?,
            is_draft: row.bool("resource_is_draft")?,
            subject_role: opt_role(row, "resource_subject_role")?,
            granted_role: opt_role(row, "resource_granted_role")?,
        },
        token: single_use_of(row)?,
    })
}

#[async_trait]
impl ConfirmationRepo for SqlUnitOfWork {
    async fn insert(&mut self, c: &PendingConfirmation) -> Result<()> {
        self.for_tenant(c.tenant_id).await?;
        let t = &c.token;
        self.insert_new(
            Query::insert()
                .into_table("confirmations")
                .columns(CONFIRMATION_COLS)
                .values([
                    uuid(c.tenant_id),
                    uuid(c.id),
                    uuid(c.actor),
                    text(c.action.as_str()),
                    text(c.resource.kind.what()),
                    uuid(c.resource.tenant_id),
                    opt_uuid(c.resource.branch_id),
                    opt_uuid(c.resource.id),
                    Expr::val(c.resource.is_draft),
                    opt_text(c.resource.subject_role.map(Role::as_str)),
                    opt_text(c.resource.granted_role.map(Role::as_str)),
                    text(t.purpose.as_str()),
                    bytes(&t.hash.0),
                    self.ts(t.issued_at),
                    self.ts(t.expires_at),
                    int(i64::from(t.failed_attempts)),
                    self.opt_ts(t.used_at),
                ]),
            "a confirmation with this id or token exists",
        )
        .await
    }

    async fn find_by_hash(
        &mut self,
        tenant: TenantId,
        hash: &TokenHash,
    ) -> Result<Option<PendingConfirmation>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CONFIRMATION_COLS)
            .from("confirmations")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("hash").eq(bytes(&hash.0)))
            .to_owned();
        self.fetch_one(&q, confirmation_of).await
    }

    async fn update(&mut self, c: &PendingConfirmation) -> Result<()> {
        self.for_tenant(c.tenant_id).await?;
        self.save_single_use("confirmations", c.tenant_id, c.id.as_uuid(), &c.token)
            .await
    }
}

// ---------------------------------------------------------------- the unit

#[async_trait]
impl UnitOfWork for SqlUnitOfWork {
    fn tenants(&mut self) -> &mut dyn TenantRepo {
        self
    }
    fn settings(&mut self) -> &mut dyn SettingsRepo {
        self
    }
    fn branches(&mut self) -> &mut dyn BranchRepo {
        self
    }
    fn users(&mut self) -> &mut dyn UserRepo {
        self
    }
    fn sessions(&mut self) -> &mut dyn SessionRepo {
        self
    }
    fn lockouts(&mut self) -> &mut dyn LockoutRepo {
        self
    }
    fn tokens(&mut self) -> &mut dyn TokenRepo {
        self
    }
    fn confirmations(&mut self) -> &mut dyn ConfirmationRepo {
        self
    }
    fn audit(&mut self) -> &mut dyn AuditLog {
        self
    }
    fn secrets(&mut self) -> &mut dyn tms_core::ports::SecretsRepo {
        self
    }
    // --- clients (issue 6) ---
    fn clients(&mut self) -> &mut dyn tms_core::ports::ClientRepo {
        self
    }
    // --- catalogue, bookings, tickets (issue 6) ---
    fn catalogue(&mut self) -> &mut dyn tms_core::ports::CatalogueRepo {
        self
    }
    fn bookings(&mut self) -> &mut dyn tms_core::ports::BookingRepo {
        self
    }
    fn tickets(&mut self) -> &mut dyn tms_core::ports::TicketRepo {
        self
    }
    fn idempotency(&mut self) -> &mut dyn tms_core::ports::IdempotencyRepo {
        self
    }
    // --- umrah (issue 6) ---
    fn umrah_groups(&mut self) -> &mut dyn tms_core::ports::UmrahGroupRepo {
        self
    }
    fn umrah_families(&mut self) -> &mut dyn tms_core::ports::UmrahFamilyRepo {
        self
    }
    fn pilgrims(&mut self) -> &mut dyn tms_core::ports::PilgrimRepo {
        self
    }
    fn umrah_rooms(&mut self) -> &mut dyn tms_core::ports::RoomRepo {
        self
    }
    // --- finance (issue 7) ---
    fn finance(&mut self) -> &mut dyn tms_core::ports::FinanceRepo {
        self
    }
    // --- files (issue 8) ---
    fn files(&mut self) -> &mut dyn tms_core::ports::FileRepo {
        self
    }

    // --- privacy (issue 7) ---
    fn privacy(&mut self) -> &mut dyn tms_core::ports::PrivacyRepo {
        self
    }
    fn outbox(&mut self) -> &mut dyn OutboxRepo {
        self
    }
    // --- outreach (issue 9) ---
    fn outreach(&mut self) -> &mut dyn tms_core::ports::OutreachRepo {
        self
    }
    // --- whatsapp (issue 9) ---
    fn whatsapp(&mut self) -> &mut dyn tms_core::ports::WhatsappRepo {
        self
    }
    // --- mail ops (issue 10) ---
    fn mail_ops(&mut self) -> &mut dyn tms_core::ports::MailOpsRepo {
        self
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.tx.rollback().await
    }
}
