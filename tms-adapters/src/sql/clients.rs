//! The clients repository (schema 3), written once for both databases.
//!
//! Name search compares `search_name` / `search_latin` (the lower-cased
//! name and transliteration) with `LIKE 'prefix%'`, the prefix's own `%`,
//! `_` and `\` escaped. Passport search compares the blind index with
//! `IN (candidates)`; the number itself is never in a query.

use async_trait::async_trait;
use chrono::NaiveDate;
use sea_query::{Condition, Expr, ExprTrait as _, LikeExpr, OnConflict, Order, Query};
use tms_core::domain::{
    Client, ClientKind, ConsentChannel, ConsentRecord, ConsentSource, Country, Email, LatinName,
    Name, Phone, SealedPassport,
};
use tms_core::id::{BranchId, ClientId, TenantId, UserId};
use tms_core::ports::{
    ClientFilter, ClientRepo, Cursor, DuplicateProbe, MAX_DUPLICATES, Page, PageRequest, Scope,
};
use tms_core::security::keyring::{BlindIndex, Sealed};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::{
    SqlUnitOfWork, corrupt, opt_bytes, opt_text, opt_uuid, page_of, query_err, uuid,
};
use super::scope::{empty_page, scoped};

const CLIENT_COLS: [&str; 18] = [
    "tenant_id",
    "id",
    "branch_id",
    "kind",
    "name",
    "search_name",
    "latin_name",
    "search_latin",
    "phone",
    "email",
    "date_of_birth",
    "nationality",
    "passport_sealed",
    "passport_index",
    "passport_expires_on",
    "created_at",
    "updated_at",
    "version",
];

const CONSENT_COLS: [&str; 8] = [
    "tenant_id",
    "id",
    "client_id",
    "channel",
    "granted",
    "source",
    "at",
    "recorded_by",
];

/// Rows per multi-row insert: 18 values each stays far below both
/// databases' parameter limits (SQLite 32,766; PostgreSQL 65,535).
const INSERT_BATCH: usize = 500;

fn date_text(d: Option<NaiveDate>) -> Expr {
    opt_text(d.map(|d| d.format("%Y-%m-%d").to_string()).as_deref())
}

/// `\`-escapes LIKE's wildcards so that a prefix matches only itself.
fn like_prefix(prefix: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('\\')
}

fn opt_date(row: &Row, column: &str) -> Result<Option<NaiveDate>> {
    row.opt_text(column)?
        .map(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| corrupt(column)))
        .transpose()
}

fn client_of(row: &Row) -> Result<Client> {
    let passport = match (
        row.opt_bytes("passport_sealed")?,
        row.opt_bytes("passport_index")?,
    ) {
        (Some(sealed), Some(index)) => Some(SealedPassport {
            sealed: Sealed::from_bytes(sealed),
            index: BlindIndex::from_bytes(index),
        }),
        (None, None) => None,
        _ => return Err(corrupt("passport")),
    };
    Ok(Client {
        id: ClientId::from_uuid(row.uuid("id")?),
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        branch_id: BranchId::from_uuid(row.uuid("branch_id")?),
        kind: ClientKind::parse(&row.text("kind")?).map_err(|_| corrupt("client kind"))?,
        name: Name::parse(&row.text("name")?).map_err(|_| corrupt("client name"))?,
        latin_name: row
            .opt_text("latin_name")?
            .map(|t| LatinName::parse(&t).map_err(|_| corrupt("latin name")))
            .transpose()?,
        phone: row
            .opt_text("phone")?
            .map(|t| Phone::parse(&t).map_err(|_| corrupt("phone")))
            .transpose()?,
        email: row
            .opt_text("email")?
            .map(|t| Email::parse(&t).map_err(|_| corrupt("email")))
            .transpose()?,
        date_of_birth: opt_date(row, "date_of_birth")?,
        nationality: row
            .opt_text("nationality")?
            .map(|t| Country::parse(&t).map_err(|_| corrupt("nationality")))
            .transpose()?,
        passport,
        passport_expires_on: opt_date(row, "passport_expires_on")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        version: row.i64("version")?,
    })
}

fn consent_of(row: &Row) -> Result<ConsentRecord> {
    Ok(ConsentRecord {
        id: row.uuid("id")?,
        tenant_id: TenantId::from_uuid(row.uuid("tenant_id")?),
        client_id: ClientId::from_uuid(row.uuid("client_id")?),
        channel: ConsentChannel::parse(&row.text("channel")?).map_err(|_| corrupt("channel"))?,
        granted: row.bool("granted")?,
        source: ConsentSource::parse(&row.text("source")?).map_err(|_| corrupt("source"))?,
        at: row.ts("at")?,
        recorded_by: row.opt_uuid("recorded_by")?.map(UserId::from_uuid),
    })
}

impl SqlUnitOfWork {
    fn client_values(&self, c: &Client) -> [Expr; 18] {
        [
            uuid(c.tenant_id),
            uuid(c.id),
            uuid(c.branch_id),
            Expr::val(c.kind.as_str()),
            Expr::val(c.name.as_str()),
            Expr::val(Client::search_key(c.name.as_str())),
            opt_text(c.latin_name.as_ref().map(LatinName::as_str)),
            opt_text(
                c.latin_name
                    .as_ref()
                    .map(|l| Client::search_key(l.as_str()))
                    .as_deref(),
            ),
            opt_text(c.phone.as_ref().map(Phone::as_str)),
            opt_text(c.email.as_ref().map(Email::as_str)),
            date_text(c.date_of_birth),
            opt_text(c.nationality.as_ref().map(Country::as_str)),
            opt_bytes(c.passport.as_ref().map(|p| p.sealed.as_bytes())),
            opt_bytes(c.passport.as_ref().map(|p| p.index.as_bytes())),
            date_text(c.passport_expires_on),
            self.ts(c.created_at),
            self.ts(c.updated_at),
            Expr::val(c.version),
        ]
    }
}

fn index_values(indexes: &[BlindIndex]) -> impl Iterator<Item = Expr> + '_ {
    indexes.iter().map(|i| opt_bytes(Some(i.as_bytes())))
}

#[async_trait]
impl ClientRepo for SqlUnitOfWork {
    async fn insert(&mut self, client: &Client) -> Result<()> {
        self.insert_many(std::slice::from_ref(client)).await
    }

    async fn insert_many(&mut self, clients: &[Client]) -> Result<()> {
        for chunk in clients.chunks(INSERT_BATCH) {
            // One tenant per statement: on PostgreSQL a row of another
            // tenant in the chunk fails the row-level security check.
            if let Some(first) = chunk.first() {
                self.for_tenant(first.tenant_id).await?;
            }
            let mut q = Query::insert();
            q.into_table("clients").columns(CLIENT_COLS);
            for client in chunk {
                q.values(self.client_values(client)).map_err(query_err)?;
            }
            q.on_conflict(OnConflict::new().do_nothing().to_owned());
            let written = self.tx.execute(&q).await?;
            if written != chunk.len() as u64 {
                return Err(Error::conflict("a client with this id exists"));
            }
        }
        Ok(())
    }

    async fn get(&mut self, tenant: TenantId, id: ClientId) -> Result<Option<Client>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CLIENT_COLS)
            .from("clients")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            Some(row) => client_of(&row).map(Some),
            None => Ok(None),
        }
    }

    async fn update(&mut self, client: &mut Client) -> Result<()> {
        self.for_tenant(client.tenant_id).await?;
        let values = self.client_values(client);
        let mut q = Query::update();
        q.table("clients");
        // Every column but the key and created_at; version is bumped.
        for (column, value) in CLIENT_COLS.iter().zip(values) {
            if !matches!(*column, "tenant_id" | "id" | "created_at" | "version") {
                q.value(*column, value);
            }
        }
        q.value("version", Expr::col("version").add(1))
            .and_where(Expr::col("tenant_id").eq(uuid(client.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(client.id)))
            .and_where(Expr::col("version").eq(client.version));
        if self.tx.execute(&q).await? == 1 {
            client.version += 1;
            return Ok(());
        }
        let exists = Query::select()
            .expr(Expr::val(1))
            .from("clients")
            .and_where(Expr::col("tenant_id").eq(uuid(client.tenant_id)))
            .and_where(Expr::col("id").eq(uuid(client.id)))
            .to_owned();
        if self.tx.fetch_optional(&exists).await?.is_some() {
            Err(Error::conflict(
                "the client was changed by someone else; reload and retry",
            ))
        } else {
            Err(Error::not_found("client"))
        }
    }

    async fn delete(&mut self, tenant: TenantId, id: ClientId) -> Result<bool> {
        self.for_tenant(tenant).await?;
        // Consents go first (explicitly, not only by cascade: SQLite needs
        // foreign keys switched on for the cascade).
        let consents = Query::delete()
            .from_table("client_consents")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(id)))
            .to_owned();
        self.tx.execute(&consents).await?;
        let q = Query::delete()
            .from_table("clients")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("id").eq(uuid(id)))
            .to_owned();
        Ok(self.tx.execute(&q).await? == 1)
    }

    async fn search(
        &mut self,
        scope: &Scope,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<Client>> {
        self.for_tenant(scope.tenant_id).await?;
        let mut q = Query::select();
        q.columns(CLIENT_COLS).from("clients");
        if !scoped(&mut q, scope) {
            return Ok(empty_page());
        }
        if let Some(branch) = filter.branch_id {
            q.and_where(Expr::col("branch_id").eq(uuid(branch)));
        }
        if let Some(prefix) = filter.name_prefix.as_deref().filter(|p| !p.is_empty()) {
            q.cond_where(
                Condition::any()
                    .add(Expr::col("search_name").like(like_prefix(prefix)))
                    .add(Expr::col("search_latin").like(like_prefix(prefix))),
            );
        }
        if let Some(phone) = &filter.phone {
            q.and_where(Expr::col("phone").eq(phone.as_str()));
        }
        if let Some(email) = &filter.email {
            q.and_where(Expr::col("email").eq(email.as_str()));
        }
        if filter.passport_search {
            if filter.passport_index.is_empty() {
                return Ok(empty_page());
            }
            q.and_where(Expr::col("passport_index").is_in(index_values(&filter.passport_index)));
        }
        self.keyset(&mut q, page);
        let rows = self.tx.fetch_all(&q).await?;
        let items = rows.iter().map(client_of).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, page, |c| Cursor {
            created_at: c.created_at,
            id: c.id.as_uuid(),
        }))
    }

    async fn find_duplicates(
        &mut self,
        scope: &Scope,
        probe: &DuplicateProbe,
    ) -> Result<Vec<ClientId>> {
        self.for_tenant(scope.tenant_id).await?;
        if probe.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::select();
        q.column("id").from("clients");
        if !scoped(&mut q, scope) {
            return Ok(Vec::new());
        }
        let mut any = Condition::any();
        if let Some(email) = &probe.email {
            any = any.add(Expr::col("email").eq(email.as_str()));
        }
        if let Some(phone) = &probe.phone {
            any = any.add(Expr::col("phone").eq(phone.as_str()));
        }
        if !probe.passport_index.is_empty() {
            any = any.add(Expr::col("passport_index").is_in(index_values(&probe.passport_index)));
        }
        if let Some((name, born)) = &probe.name_and_birth {
            any = any.add(
                Condition::all()
                    .add(Expr::col("search_name").eq(name.as_str()))
                    .add(Expr::col("date_of_birth").eq(born.format("%Y-%m-%d").to_string())),
            );
        }
        q.cond_where(any);
        if let Some(except) = probe.except {
            q.and_where(Expr::col("id").ne(uuid(except)));
        }
        q.order_by("created_at", Order::Asc)
            .order_by("id", Order::Asc)
            .limit(u64::from(MAX_DUPLICATES));
        let rows = self.tx.fetch_all(&q).await?;
        rows.iter()
            .map(|r| r.uuid("id").map(ClientId::from_uuid))
            .collect()
    }

    async fn add_consent(&mut self, c: &ConsentRecord) -> Result<()> {
        self.for_tenant(c.tenant_id).await?;
        let mut q = Query::insert();
        q.into_table("client_consents")
            .columns(CONSENT_COLS)
            .values([
                uuid(c.tenant_id),
                uuid(c.id),
                uuid(c.client_id),
                Expr::val(c.channel.as_str()),
                Expr::val(c.granted),
                Expr::val(c.source.as_str()),
                self.ts(c.at),
                opt_uuid(c.recorded_by),
            ])
            .map_err(query_err)?;
        q.on_conflict(OnConflict::new().do_nothing().to_owned());
        match self.tx.execute(&q).await? {
            0 => Err(Error::conflict("a consent record with this id exists")),
            _ => Ok(()),
        }
    }

    async fn consents(&mut self, tenant: TenantId, client: ClientId) -> Result<Vec<ConsentRecord>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CONSENT_COLS)
            .from("client_consents")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .order_by("at", Order::Asc)
            .order_by("id", Order::Asc)
            .to_owned();
        let rows = self.tx.fetch_all(&q).await?;
        rows.iter().map(consent_of).collect()
    }

    async fn current_consent(
        &mut self,
        tenant: TenantId,
        client: ClientId,
        channel: ConsentChannel,
    ) -> Result<Option<ConsentRecord>> {
        self.for_tenant(tenant).await?;
        let q = Query::select()
            .columns(CONSENT_COLS)
            .from("client_consents")
            .and_where(Expr::col("tenant_id").eq(uuid(tenant)))
            .and_where(Expr::col("client_id").eq(uuid(client)))
            .and_where(Expr::col("channel").eq(channel.as_str()))
            .order_by("at", Order::Desc)
            .order_by("id", Order::Desc)
            .limit(1)
            .to_owned();
        match self.tx.fetch_optional(&q).await? {
            Some(row) => consent_of(&row).map(Some),
            None => Ok(None),
        }
    }
}
