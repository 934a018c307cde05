//! Fresh databases for each test, and the tamper cases shared by both.

#![allow(dead_code)]

use std::sync::Arc;

use tms_core::audit::ChainBreak;
use tms_core::id::TenantId;
use tms_core::ports::{ChainStatus, Store, verify_chain};
use tms_core::testkit;

/// Seeds a tenant with `n` chained events and returns it.
pub async fn seed_chain(store: &dyn Store, n: usize) -> TenantId {
    let tenant = testkit::seed_tenant(store).await;
    let mut uow = store.begin().await.expect("begin");
    let events = (0..n)
        .map(|_| testkit::new_event(tenant.id, "thing.done"))
        .collect();
    uow.audit().append_all(events).await.expect("append");
    uow.commit().await.expect("commit");
    tenant.id
}

pub async fn verify(store: &dyn Store, tenant: TenantId) -> ChainStatus {
    let mut uow = store.begin().await.expect("begin");
    let status = verify_chain(uow.audit(), tenant).await.expect("verify");
    uow.rollback().await.expect("rollback");
    status
}

/// The kinds of tampering verify must find, as SQL over `audit_events`
/// with the placeholders `{t}` (the tenant id literal) — run with the
/// append-only triggers disabled.
pub struct Tamper {
    pub name: &'static str,
    pub sql: &'static [&'static str],
    pub expect: fn(ChainStatus) -> bool,
}

pub const TAMPERS: &[Tamper] = &[
    Tamper {
        name: "edited",
        sql: &["UPDATE audit_events SET action = 'thing.undone' WHERE tenant_id = {t} AND seq = 3"],
        expect: |s| s == ChainStatus::Broken(ChainBreak::Altered { seq: 3 }),
    },
    Tamper {
        name: "edited before/after",
        sql: &[
            "UPDATE audit_events SET after_json = '{\"n\":2}' WHERE tenant_id = {t} AND seq = 4",
        ],
        expect: |s| s == ChainStatus::Broken(ChainBreak::Altered { seq: 4 }),
    },
    Tamper {
        name: "edited payload digest",
        sql: &[
            "UPDATE audit_events SET payload_digest = prev_hash WHERE tenant_id = {t} AND seq = 2",
        ],
        expect: |s| s == ChainStatus::Broken(ChainBreak::Altered { seq: 2 }),
    },
    Tamper {
        name: "edited payload salt",
        sql: &[
            "UPDATE audit_events SET payload_salt = substr(prev_hash, 1, 16) WHERE tenant_id = {t} AND seq = 2",
        ],
        expect: |s| s == ChainStatus::Broken(ChainBreak::Altered { seq: 2 }),
    },
    Tamper {
        name: "payload dropped without the erasure marks",
        sql: &["UPDATE audit_events SET after_json = NULL WHERE tenant_id = {t} AND seq = 3"],
        expect: |s| s == ChainStatus::Broken(ChainBreak::Altered { seq: 3 }),
    },
    Tamper {
        name: "erased, then given a forged payload",
        sql: &[
            "UPDATE audit_events SET after_json = NULL, before_json = NULL, payload_salt = NULL, \
             erased_at = at WHERE tenant_id = {t} AND seq = 4",
            "UPDATE audit_events SET after_json = '{\"n\":7}' WHERE tenant_id = {t} AND seq = 4",
        ],
        expect: |s| s == ChainStatus::Broken(ChainBreak::Altered { seq: 4 }),
    },
    Tamper {
        name: "deleted",
        sql: &["DELETE FROM audit_events WHERE tenant_id = {t} AND seq = 2"],
        expect: |s| {
            s == ChainStatus::Broken(ChainBreak::Gap {
                seq: 3,
                expected: 2,
            })
        },
    },
    Tamper {
        name: "deleted and renumbered",
        sql: &[
            "DELETE FROM audit_events WHERE tenant_id = {t} AND seq = 2",
            "UPDATE audit_events SET seq = seq - 1 WHERE tenant_id = {t} AND seq > 2",
        ],
        expect: |s| matches!(s, ChainStatus::Broken(_)),
    },
    Tamper {
        name: "deleted at the end",
        sql: &["DELETE FROM audit_events WHERE tenant_id = {t} AND seq = 5"],
        expect: |s| {
            s == ChainStatus::HeadMismatch {
                last_seq: 4,
                head_seq: 5,
            }
        },
    },
    Tamper {
        name: "inserted",
        sql: &[
            "UPDATE audit_events SET seq = seq + 100 WHERE tenant_id = {t} AND seq >= 3",
            "UPDATE audit_events SET seq = seq - 99 WHERE tenant_id = {t} AND seq >= 103",
            "INSERT INTO audit_events SELECT tenant_id, 3, {new_id}, at, actor_user_id, actor, ip, user_agent, request_id, \
             'thing.forged', resource_kind, resource_id, branch_id, before_json, after_json, prev_hash, hash, \
             canon, payload_digest, payload_salt, erased_at \
             FROM audit_events WHERE tenant_id = {t} AND seq = 2",
        ],
        expect: |s| {
            matches!(
                s,
                ChainStatus::Broken(
                    ChainBreak::Unlinked { seq: 3 } | ChainBreak::Altered { seq: 3 }
                )
            )
        },
    },
    Tamper {
        name: "reordered",
        sql: &[
            "UPDATE audit_events SET seq = 100 WHERE tenant_id = {t} AND seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE tenant_id = {t} AND seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE tenant_id = {t} AND seq = 100",
        ],
        expect: |s| {
            matches!(
                s,
                ChainStatus::Broken(
                    ChainBreak::Unlinked { seq: 2 } | ChainBreak::Altered { seq: 2 }
                )
            )
        },
    },
];

/// Runs every tamper case: for each, a fresh tenant with a 5-event chain
/// that verifies, then the tampering through `raw` (a raw SQL runner that
/// disables the append-only triggers), then verify must report the break.
pub async fn check_tampering<F, Fut>(
    store: Arc<dyn Store>,
    tenant_literal: fn(TenantId) -> String,
    id_literal: fn(uuid::Uuid) -> String,
    raw: F,
) where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for tamper in TAMPERS {
        let tenant = seed_chain(&*store, 5).await;
        // A second tenant whose chain must stay intact.
        let bystander = seed_chain(&*store, 5).await;
        assert_eq!(
            verify(&*store, tenant).await,
            ChainStatus::Intact { events: 5 },
            "{}",
            tamper.name
        );
        let statements = tamper
            .sql
            .iter()
            .map(|s| {
                s.replace("{t}", &tenant_literal(tenant))
                    .replace("{new_id}", &id_literal(uuid::Uuid::now_v7()))
            })
            .collect();
        raw(statements).await;
        let status = verify(&*store, tenant).await;
        assert!(
            (tamper.expect)(status),
            "{}: verify said {status:?}",
            tamper.name
        );
        assert_eq!(
            verify(&*store, bystander).await,
            ChainStatus::Intact { events: 5 },
            "{}",
            tamper.name
        );
    }
}
