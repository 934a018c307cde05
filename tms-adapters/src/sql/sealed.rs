//! The registry of sealed columns, and the [`SecretsRepo`] that key
//! rotation reads and rewrites them through.
//!
//! Every column that holds a value sealed with the key ring is listed once
//! in [`SEALED_COLUMNS`]: its table, how its rows are keyed, what context
//! its values are sealed for, and the blind-index column stored next to it,
//! if any. Adding a sealed column to the schema means adding one line here;
//! `tms-server keys rotate` then re-encrypts it (and recomputes its blind
//! index) with everything else.
//!
//! Values are paged in a fixed order — registry position, tenant, row key —
//! so that a rotation resumes where it stopped.

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait as _, Order, Query, SelectStatement};
use tms_core::id::TenantId;
use tms_core::ports::{SealedLocation, SealedValue, SecretsRepo};
use tms_core::security::keyring::{BlindIndex, Sealed};
use tms_core::{Error, Result};

use super::backend::Row;
use super::repos::SqlUnitOfWork;

/// How a table's rows are keyed within their tenant, and so what their
/// values are sealed for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowKey {
    /// A UUID `id` column; values are sealed for (seal table, that id,
    /// seal field).
    Id {
        /// The id column.
        column: &'static str,
        /// The seal context's field name.
        seal_field: &'static str,
    },
    /// A name unique within the tenant (`tenant_secrets`); values are
    /// sealed for (seal table, the tenant's id, the name): the name is the
    /// field.
    Named {
        /// The name column.
        column: &'static str,
    },
}

impl RowKey {
    fn column(self) -> &'static str {
        match self {
            RowKey::Id { column, .. } | RowKey::Named { column } => column,
        }
    }
}

/// A blind index stored next to a sealed column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexColumn {
    /// The column holding the index bytes.
    pub(crate) column: &'static str,
    /// The field name the index is computed with
    /// ([`tms_core::security::keyring::KeyRing::blind_index`]).
    pub(crate) field: &'static str,
}

/// One sealed column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealedColumn {
    /// The table.
    pub(crate) table: &'static str,
    /// The sealed column.
    pub(crate) column: &'static str,
    /// How rows are keyed (and the seal context's row and field).
    pub(crate) key: RowKey,
    /// The seal context's table name.
    pub(crate) seal_table: &'static str,
    /// The blind index stored next to it, if any.
    pub(crate) index: Option<IndexColumn>,
}

impl SealedColumn {
    /// A column of rows with a UUID `id`, sealed for
    /// (`seal_table`, id, `seal_field`).
    pub(crate) const fn by_id(
        table: &'static str,
        column: &'static str,
        seal_table: &'static str,
        seal_field: &'static str,
    ) -> Self {
        Self {
            table,
            column,
            key: RowKey::Id {
                column: "id",
                seal_field,
            },
            seal_table,
            index: None,
        }
    }

    /// A column of rows named within their tenant by `name_column`, sealed
    /// for (`seal_table`, tenant id, name).
    pub(crate) const fn by_name(
        table: &'static str,
        column: &'static str,
        name_column: &'static str,
        seal_table: &'static str,
    ) -> Self {
        Self {
            table,
            column,
            key: RowKey::Named {
                column: name_column,
            },
            seal_table,
            index: None,
        }
    }

    /// With rows keyed by the UUID column `column` instead of `id` (a
    /// [`RowKey::Id`] column; a no-op on a named one).
    pub(crate) const fn keyed_by(mut self, column: &'static str) -> Self {
        if let RowKey::Id { seal_field, .. } = self.key {
            self.key = RowKey::Id { column, seal_field };
        }
        self
    }

    /// With a blind index in `column`, computed with `field`.
    pub(crate) const fn with_blind_index(
        mut self,
        column: &'static str,
        field: &'static str,
    ) -> Self {
        self.index = Some(IndexColumn { column, field });
        self
    }

    /// The name a [`SealedLocation`] carries: `table.column`.
    fn name(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }
}

/// Every sealed column of the schema, in rotation order. One line each;
/// e.g. a sealed passport number with its blind index:
/// `SealedColumn::by_id("clients", "passport_number", "clients", "passport_number")
///     .with_blind_index("passport_index", "passport_number"),`
pub(crate) const SEALED_COLUMNS: &[SealedColumn] = &[
    // Active and pending TOTP secrets are both sealed as `totp_secret`.
    SealedColumn::by_id("users", "totp_secret", "users", "totp_secret"),
    SealedColumn::by_id("users", "totp_pending", "users", "totp_secret"),
    // Secret tenant settings (SMTP passwords, OAuth tokens).
    SealedColumn::by_name("tenant_secrets", "sealed", "name", "tenant_secrets"),
    // --- clients (issue 6) ---
    SealedColumn::by_id("clients", "passport_sealed", "clients", "passport_number")
        .with_blind_index("passport_index", "passport_number"),
    // --- catalogue, bookings, tickets (issue 6) ---
    // Booking travellers' passports, one row per traveller.
    SealedColumn::by_id(
        "booking_traveller_passports",
        "sealed",
        "bookings.travellers",
        "passport_number",
    )
    .keyed_by("traveller_id"),
    // --- umrah (issue 6) ---
    SealedColumn::by_id("pilgrims", "passport_number", "pilgrims", "passport_number")
        .with_blind_index("passport_index", "passport_number"),
];

/// The registry position of the column `location` names.
fn position(location: &SealedLocation) -> Result<(usize, &'static SealedColumn)> {
    SEALED_COLUMNS
        .iter()
        .enumerate()
        .find(|(_, c)| c.name() == location.column)
        .ok_or_else(|| Error::invalid("column", "is not a sealed column of this store"))
}

/// The key value of `location` in the type of its column.
fn key_value(column: &SealedColumn, key: &str) -> Result<Expr> {
    match column.key {
        RowKey::Id { .. } => {
            let id = uuid::Uuid::parse_str(key)
                .map_err(|_| Error::invalid("key", "is not the id of a row"))?;
            Ok(Expr::val(sea_query::Value::Uuid(Some(id))))
        }
        RowKey::Named { .. } => Ok(Expr::val(key)),
    }
}

fn value_of(column: &SealedColumn, row: &Row) -> Result<Option<SealedValue>> {
    let tenant = row.uuid("tenant_id")?;
    let key_column = column.key.column();
    let (key, seal_row, seal_field) = match column.key {
        RowKey::Id { seal_field, .. } => {
            let id = row.uuid(key_column)?;
            (id.to_string(), id, seal_field.to_owned())
        }
        RowKey::Named { .. } => {
            let name = row.text(key_column)?;
            (name.clone(), tenant, name)
        }
    };
    let Some(sealed) = row.opt_bytes(column.column)? else {
        return Ok(None);
    };
    Ok(Some(SealedValue {
        location: SealedLocation {
            column: column.name(),
            tenant_id: TenantId::from_uuid(tenant),
            key,
        },
        seal_table: column.seal_table.to_owned(),
        seal_row,
        seal_field,
        sealed: Sealed::from_bytes(sealed),
        index_field: column.index.map(|i| i.field.to_owned()),
    }))
}

fn select(column: &SealedColumn) -> SelectStatement {
    Query::select()
        .columns(["tenant_id", column.key.column(), column.column])
        .from(column.table)
        .and_where(Expr::col(column.column).is_not_null())
        .to_owned()
}

#[async_trait]
impl SecretsRepo for SqlUnitOfWork {
    async fn count_sealed(&mut self) -> Result<u64> {
        self.for_system().await?;
        let mut total = 0u64;
        for column in SEALED_COLUMNS {
            let q = Query::select()
                .expr_as(Expr::cust("COUNT(*)"), "n")
                .from(column.table)
                .and_where(Expr::col(column.column).is_not_null())
                .to_owned();
            let row = self.tx.fetch_optional(&q).await?;
            let n = match row {
                Some(row) => row.i64("n")?,
                None => 0,
            };
            total += u64::try_from(n).unwrap_or_default();
        }
        Ok(total)
    }

    async fn sealed_page(
        &mut self,
        after: Option<&SealedLocation>,
        limit: u32,
    ) -> Result<Vec<SealedValue>> {
        self.for_system().await?;
        let start = match after {
            Some(location) => position(location)?.0,
            None => 0,
        };
        let mut out = Vec::new();
        for (index, column) in SEALED_COLUMNS.iter().enumerate().skip(start) {
            let wanted = u64::from(limit).saturating_sub(out.len() as u64);
            if wanted == 0 {
                break;
            }
            let mut q = select(column);
            if let Some(location) = after.filter(|_| index == start) {
                q.and_where(
                    Expr::tuple([Expr::col("tenant_id"), Expr::col(column.key.column())]).gt(
                        Expr::tuple([
                            Expr::val(sea_query::Value::Uuid(Some(location.tenant_id.as_uuid()))),
                            key_value(column, &location.key)?,
                        ]),
                    ),
                );
            }
            q.order_by("tenant_id", Order::Asc)
                .order_by(column.key.column(), Order::Asc)
                .limit(wanted);
            for row in self.tx.fetch_all(&q).await? {
                if let Some(value) = value_of(column, &row)? {
                    out.push(value);
                }
            }
        }
        Ok(out)
    }

    async fn replace_sealed(
        &mut self,
        location: &SealedLocation,
        previous: &Sealed,
        sealed: &Sealed,
        index: Option<&BlindIndex>,
    ) -> Result<bool> {
        self.for_tenant(location.tenant_id).await?;
        let (_, column) = position(location)?;
        let mut q = Query::update();
        q.table(column.table).value(
            column.column,
            Expr::val(sea_query::Value::Bytes(Some(sealed.as_bytes().to_vec()))),
        );
        match (column.index, index) {
            (Some(index_column), Some(index)) => {
                q.value(
                    index_column.column,
                    Expr::val(sea_query::Value::Bytes(Some(index.as_bytes().to_vec()))),
                );
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(Error::invalid(
                    "index",
                    "this column keeps a blind index: give the new one",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::invalid("index", "this column keeps no blind index"));
            }
        }
        q.and_where(
            Expr::col("tenant_id").eq(Expr::val(sea_query::Value::Uuid(Some(
                location.tenant_id.as_uuid(),
            )))),
        )
        .and_where(Expr::col(column.key.column()).eq(key_value(column, &location.key)?))
        .and_where(
            Expr::col(column.column).eq(Expr::val(sea_query::Value::Bytes(Some(
                previous.as_bytes().to_vec(),
            )))),
        );
        Ok(self.tx.execute(&q).await? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_column_has_its_own_name() {
        let names: std::collections::HashSet<String> =
            SEALED_COLUMNS.iter().map(SealedColumn::name).collect();
        assert_eq!(names.len(), SEALED_COLUMNS.len());
    }

    #[test]
    fn a_blind_index_is_declared_next_to_its_column() {
        let column =
            SealedColumn::by_id("clients", "passport_number", "clients", "passport_number")
                .with_blind_index("passport_index", "passport_number");
        let index = column.index.expect("index");
        assert_eq!(
            (index.column, index.field),
            ("passport_index", "passport_number")
        );
        assert_eq!(column.name(), "clients.passport_number");
    }
}
