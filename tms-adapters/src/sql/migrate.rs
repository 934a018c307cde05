//! Embedded, ordered, recorded migrations.
//!
//! The SQL of each migration is compiled into the binary, one file per
//! database where the dialects differ. [`migrate`] applies the missing ones
//! in order inside one transaction (PostgreSQL: under an advisory lock, so
//! that replicas starting together do not race; SQLite: `BEGIN IMMEDIATE`),
//! records each with a SHA-256 checksum in `tms_schema_migrations`, and is a
//! no-op when everything is applied. A database that records a migration
//! this build does not know was migrated by a newer TMS: that is an error
//! telling the operator to upgrade, never a silent downgrade.

use sea_query::Query;
use sha2::{Digest as _, Sha256};
use tms_core::{Error, Result};

use super::backend::{Backend, Pool};

/// One schema change.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Every migration this build knows, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "identity",
        sqlite: include_str!("../../migrations/sqlite/0002_identity.sql"),
        postgres: include_str!("../../migrations/postgres/0002_identity.sql"),
    },
    // --- 3: clients (issue 6) ---
    Migration {
        version: 3,
        name: "clients",
        sqlite: include_str!("../../migrations/sqlite/0003_clients.sql"),
        postgres: include_str!("../../migrations/postgres/0003_clients.sql"),
    },
    // --- 4: catalogue, bookings, tickets (issue 6) ---
    Migration {
        version: 4,
        name: "bookings",
        sqlite: include_str!("../../migrations/sqlite/0004_bookings.sql"),
        postgres: include_str!("../../migrations/postgres/0004_bookings.sql"),
    },
    // --- 5: umrah (issue 6) ---
    Migration {
        version: 5,
        name: "umrah",
        sqlite: include_str!("../../migrations/sqlite/0005_umrah.sql"),
        postgres: include_str!("../../migrations/postgres/0005_umrah.sql"),
    },
    // --- 6: identity follow-ups (issue 5) ---
    Migration {
        version: 6,
        name: "identity follow-ups",
        sqlite: include_str!("../../migrations/sqlite/0006_identity_followups.sql"),
        postgres: include_str!("../../migrations/postgres/0006_identity_followups.sql"),
    },
    // --- 7: finance (issue 7) ---
    Migration {
        version: 7,
        name: "finance",
        sqlite: include_str!("../../migrations/sqlite/0007_finance.sql"),
        postgres: include_str!("../../migrations/postgres/0007_finance.sql"),
    },
    // --- 8: finance follow-ups (issue 7) ---
    Migration {
        version: 8,
        name: "finance follow-ups",
        sqlite: include_str!("../../migrations/sqlite/0008_finance_followups.sql"),
        postgres: include_str!("../../migrations/postgres/0008_finance_followups.sql"),
    },
    // --- 9: files (issue 8) ---
    Migration {
        version: 9,
        name: "files",
        sqlite: include_str!("../../migrations/sqlite/0009_files.sql"),
        postgres: include_str!("../../migrations/postgres/0009_files.sql"),
    },
    // --- 10: privacy (issue 7) ---
    Migration {
        version: 10,
        name: "privacy",
        sqlite: include_str!("../../migrations/sqlite/0010_privacy.sql"),
        postgres: include_str!("../../migrations/postgres/0010_privacy.sql"),
    },
    // --- 11: messaging (issue 9) ---
    Migration {
        version: 11,
        name: "messaging",
        sqlite: include_str!("../../migrations/sqlite/0011_messaging.sql"),
        postgres: include_str!("../../migrations/postgres/0011_messaging.sql"),
    },
    // --- 12: outreach (issue 9) ---
    Migration {
        version: 12,
        name: "outreach",
        sqlite: include_str!("../../migrations/sqlite/0012_outreach.sql"),
        postgres: include_str!("../../migrations/postgres/0012_outreach.sql"),
    },
    // --- 14: documents follow-ups (issue 8), whatsapp (issue 9) ---
    Migration {
        version: 14,
        name: "whatsapp",
        sqlite: include_str!("../../migrations/sqlite/0014_whatsapp.sql"),
        postgres: include_str!("../../migrations/postgres/0014_whatsapp.sql"),
    },
    // --- 15: mail ops (issue 10) ---
    Migration {
        version: 15,
        name: "mail_ops",
        sqlite: include_str!("../../migrations/sqlite/0015_mail_ops.sql"),
        postgres: include_str!("../../migrations/postgres/0015_mail_ops.sql"),
    },
    // --- 16: row-level security (issue 11) ---
    Migration {
        version: 16,
        name: "row-level security",
        sqlite: include_str!("../../migrations/sqlite/0016_row_level_security.sql"),
        postgres: include_str!("../../migrations/postgres/0016_row_level_security.sql"),
    },
    Migration {
        version: 17,
        name: "mail message defects",
        sqlite: include_str!("../../migrations/sqlite/0017_mail_message_defects.sql"),
        postgres: include_str!("../../migrations/postgres/0017_mail_message_defects.sql"),
    },
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = match MIGRATIONS.last() {
    Some(last) => last.version,
    None => 0,
};

const TABLE: &str = "tms_schema_migrations";

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// Applies the missing migrations; see the module doc.
pub(crate) async fn migrate(pool: &Pool) -> Result<()> {
    let backend = pool.backend();
    let mut tx = pool.begin().await?;
    match backend {
        Backend::Postgres => {
            tx.raw("SELECT pg_advisory_xact_lock(7414000001)").await?;
            tx.raw(
                "CREATE TABLE IF NOT EXISTS tms_schema_migrations (\
                 version bigint PRIMARY KEY, name text NOT NULL, checksum bytea NOT NULL, \
                 applied_at timestamptz NOT NULL)",
            )
            .await?;
        }
        Backend::Sqlite => {
            tx.raw(
                "CREATE TABLE IF NOT EXISTS tms_schema_migrations (\
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum BLOB NOT NULL, \
                 applied_at INTEGER NOT NULL) STRICT",
            )
            .await?;
        }
    }
    let rows = tx
        .fetch_all(
            Query::select()
                .columns(["version", "checksum"])
                .from(TABLE)
                .order_by("version", sea_query::Order::Asc),
        )
        .await?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in rows {
        applied.push((row.i64("version")?, row.bytes("checksum")?));
    }
    if let Some((newest, _)) = applied.iter().max_by_key(|(v, _)| *v)
        && *newest > SCHEMA_VERSION
    {
        return Err(Error::internal(format!(
            "the database schema is at version {newest}, newer than this build of TMS knows \
             (version {SCHEMA_VERSION}): upgrade TMS before connecting it to this database"
        )));
    }
    for migration in MIGRATIONS {
        let sql = migration.sql(backend);
        let checksum = Sha256::digest(sql.as_bytes()).to_vec();
        match applied.iter().find(|(v, _)| *v == migration.version) {
            Some((_, recorded)) if *recorded == checksum => continue,
            Some(_) => {
                return Err(Error::internal(format!(
                    "migration {} ({}) differs from the one applied to this database",
                    migration.version, migration.name
                )));
            }
            None => {}
        }
        tx.raw(sql).await?;
        tx.execute(
            Query::insert()
                .into_table(TABLE)
                .columns(["version", "name", "checksum", "applied_at"])
                .values([
                    migration.version.into(),
                    migration.name.into(),
                    checksum.into(),
                    backend.ts(chrono::Utc::now()).into(),
                ])
                .map_err(|e| Error::internal(e.to_string()))?,
        )
        .await?;
    }
    tx.commit().await
}

/// PostgreSQL: lets `role` (the server's, which does not own the tables)
/// read and write rows — under the row-level security policies of schema
/// 16 — and read the migration record, nothing more: no DDL, no
/// `TRUNCATE`, no writes to `tms_schema_migrations`. Run as the owner after
/// [`migrate`]; idempotent. `None` (SQLite) does nothing.
pub(crate) async fn grant_rows(owner: &Pool, role: Option<&str>) -> Result<()> {
    let (Backend::Postgres, Some(role)) = (owner.backend(), role) else {
        return Ok(());
    };
    // The role goes in as a string literal and format() quotes it as an
    // identifier; the schema is whichever the owner migrated into.
    if role.contains('$') {
        return Err(Error::invalid(
            "database_url",
            "the role name must not contain `$`",
        ));
    }
    let role = role.replace('\'', "''");
    let mut tx = owner.begin().await?;
    tx.raw("SELECT pg_advisory_xact_lock(7414000001)").await?;
    tx.raw_built(format!(
        "DO $$ DECLARE s text := current_schema(); r text := '{role}'; BEGIN \
         EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r); \
         EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s, r); \
         EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, r); \
         EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON tms_schema_migrations FROM %I', r); \
         END $$"
    ))
    .await?;
    tx.commit().await
}
