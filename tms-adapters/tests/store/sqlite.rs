//! The store on SQLite files (WAL, several connections), one file per test.

use std::path::PathBuf;
use std::sync::Arc;

use sqlx::Connection as _;
use tms_adapters::sql::{Backend, SqlStore};
use tms_core::Error;
use tms_core::id::TenantId;
use tms_core::ports::Store;

use crate::support;

/// Deletes the database file (and its WAL) when dropped.
pub struct TempDb(PathBuf);

impl TempDb {
    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn temp_db() -> TempDb {
    TempDb(std::env::temp_dir().join(format!("tms_test_{}.db", uuid::Uuid::now_v7().simple())))
}

pub async fn fresh_store() -> Option<(Arc<dyn Store>, TempDb)> {
    let db = temp_db();
    let store = SqlStore::connect(&db.url())
        .await
        .expect("connect to a fresh SQLite file");
    assert_eq!(store.backend(), Backend::Sqlite);
    Some((store.into_dyn(), db))
}

tms_core::store_contract_tests!(fresh_store);

async fn raw(db: &TempDb, statements: Vec<String>) {
    let mut conn = sqlx::SqliteConnection::connect(&db.url())
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
    format!("X'{}'", id.simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_every_kind_of_tampering() {
    let (store, db) = fresh_store().await.expect("store");
    raw(
        &db,
        vec!["DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete".into()],
    )
    .await;
    support::check_tampering(store, tenant_literal, id_literal, |sql| raw(&db, sql)).await;
}

#[tokio::test]
async fn the_database_refuses_to_rewrite_the_audit_log() {
    let (store, db) = fresh_store().await.expect("store");
    let tenant = support::seed_chain(&*store, 3).await;
    let mut conn = sqlx::SqliteConnection::connect(&db.url())
        .await
        .expect("raw");
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
    let db = temp_db();
    let first = SqlStore::connect(&db.url()).await.expect("first");
    first.migrate().await.expect("again");
    first.close().await;
    let second = SqlStore::connect(&db.url()).await.expect("reconnect");
    second.close().await;
    raw(
        &db,
        vec!["INSERT INTO tms_schema_migrations VALUES (999, 'from the future', X'00', 0)".into()],
    )
    .await;
    let err = SqlStore::connect(&db.url())
        .await
        .expect_err("newer schema");
    assert!(
        matches!(&err, Error::Internal(m) if m.contains("upgrade TMS")),
        "{err}"
    );
}

#[tokio::test]
async fn an_in_memory_database_works_for_tests() {
    let store = SqlStore::connect("sqlite::memory:")
        .await
        .expect("memory")
        .into_dyn();
    store.ping().await.expect("ping");
    tms_core::testkit::a_write_and_its_audit_event_commit_together(Arc::clone(&store)).await;
    tms_core::testkit::dropping_a_unit_of_work_rolls_back(store).await;
}

#[tokio::test]
async fn an_unopenable_file_is_unavailable_and_a_bad_url_invalid() {
    let err = SqlStore::connect("sqlite:///nonexistent-dir-tms/x/y.db?mode=rwc")
        .await
        .expect_err("no such dir");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    let err = SqlStore::connect("mysql://localhost/tms")
        .await
        .expect_err("unsupported");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn a_closed_store_is_unavailable_not_a_panic() {
    let (store, _db) = fresh_store().await.expect("store");
    let sql = SqlStore::connect("sqlite::memory:").await.expect("memory");
    sql.close().await;
    assert!(matches!(sql.ping().await, Err(Error::Unavailable { .. })));
    assert!(matches!(
        sql.begin().await.err(),
        Some(Error::Unavailable { .. })
    ));
    drop(store);
}

/// Events written before schema 10 (canonical v1: the hash covers the
/// payload) keep verifying next to v2 events, and an erasure leaves them as
/// they are (counting them) while it erases the v2 ones — the chain still
/// verifies. The v1 row is written as an older TMS wrote it: no digest,
/// `canon` at its migration default.
#[tokio::test]
async fn v1_events_keep_verifying_beside_erased_v2_events() {
    use tms_core::audit::{GENESIS, NewAuditEvent};
    use tms_core::domain::{Context, Principal};
    use tms_core::ports::ChainStatus;

    let (store, db) = fresh_store().await.expect("store");
    let tenant = tms_core::testkit::seed_tenant(&*store).await.id;
    let person = uuid::Uuid::now_v7();
    let ctx = Context::new(
        Principal::system(tenant, "legacy"),
        tms_core::testkit::now(),
    );
    let old = NewAuditEvent::new(&ctx, "client.updated", "client", Some(person))
        .with_change(None, Some(serde_json::json!({ "name": "Amina O'Hara" })))
        .chain_v1(1, GENESIS);
    let hex = |bytes: &[u8]| {
        format!(
            "X'{}'",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let quoted = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let e = &old.event;
    raw(
        &db,
        vec![
            format!(
                "INSERT INTO audit_events (tenant_id, seq, id, at, actor_user_id, actor, ip, user_agent, \
                 request_id, action, resource_kind, resource_id, branch_id, before_json, after_json, \
                 prev_hash, hash) VALUES ({}, 1, {}, {}, NULL, {}, NULL, NULL, {}, {}, {}, {}, NULL, NULL, {}, {}, {})",
                id_literal(tenant.as_uuid()),
                id_literal(e.id.as_uuid()),
                e.at.timestamp_micros(),
                quoted(&e.actor),
                id_literal(e.request_id.as_uuid()),
                quoted(&e.action),
                quoted(&e.resource_kind),
                id_literal(person),
                quoted(&e.after.as_ref().expect("after").to_string()),
                hex(&old.prev_hash),
                hex(&old.hash),
            ),
            format!(
                "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ({}, 1, {})",
                id_literal(tenant.as_uuid()),
                hex(&old.hash)
            ),
        ],
    )
    .await;
    assert_eq!(
        support::verify(&*store, tenant).await,
        ChainStatus::Intact { events: 1 }
    );
    let mut uow = store.begin().await.expect("begin");
    uow.audit()
        .append(
            NewAuditEvent::new(&ctx, "client.updated", "client", Some(person))
                .with_change(None, Some(serde_json::json!({ "name": "Amina" }))),
        )
        .await
        .expect("append v2");
    uow.commit().await.expect("commit");
    assert_eq!(
        support::verify(&*store, tenant).await,
        ChainStatus::Intact { events: 2 }
    );
    let mut uow = store.begin().await.expect("begin");
    let done = uow
        .privacy()
        .erase_audit_about(tenant, &[person], tms_core::testkit::now())
        .await
        .expect("erase");
    uow.commit().await.expect("commit");
    assert_eq!((done.erased, done.kept_v1), (1, 1));
    assert_eq!(
        support::verify(&*store, tenant).await,
        ChainStatus::Intact { events: 2 }
    );
    let mut uow = store.begin().await.expect("begin");
    let events = uow.audit().read(tenant, 0, 10).await.expect("read");
    uow.rollback().await.expect("rollback");
    assert_eq!(events[0].canon, 1);
    assert!(events[0].event.after.is_some() && events[0].erased_at.is_none());
    assert_eq!(events[1].canon, 2);
    assert!(events[1].event.after.is_none() && events[1].erased_at.is_some());
}
