//! The SQL store on PostgreSQL (`TMS_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database
//! `tms_bench_<pid>` is created and dropped).
//!
//! - `store/create`: a branch created through the unit of work (insert +
//!   audit event on the tenant's chain + commit) against a bare sqlx insert
//!   of the same row in one transaction. Target: at least half the bare
//!   throughput.
//! - `store/page`: a page of 50 from a tenant with 1,000,000 branches among
//!   100 tenants — from the middle of the list (tenant scope) and scoped to
//!   100 branches. Target: p99 under 10 ms; criterion reports mean and
//!   median, so each case also runs a loop of timed iterations and prints
//!   its p50/p99.
//!
//! `cargo bench -p tms-benches --bench store`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::Connection as _;
use tms_adapters::sql::SqlStore;
use tms_core::audit::NewAuditEvent;
use tms_core::domain::{Branch, BranchScope, Context, Name, Principal};
use tms_core::id::{BranchId, TenantId};
use tms_core::ports::{Cursor, PageRequest, Scope, Store};
use tokio::runtime::Runtime;

const BIG: i64 = 1_000_000;
const OTHER_TENANTS: i64 = 99;
const OTHER_ROWS: i64 = 10_000;

fn admin_url() -> String {
    std::env::var("TMS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let start = base.find("://").map_or(0, |i| i + 3);
    let root = base[start..]
        .find('/')
        .map_or(base, |slash| &base[..start + slash]);
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

async fn admin_exec(sql: String) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

struct Bench {
    name: String,
    store: Arc<dyn Store>,
    bare: sqlx::PgPool,
    tenant: TenantId,
    big: TenantId,
    middle: Cursor,
    scoped: Vec<BranchId>,
}

fn branch(tenant: TenantId) -> Branch {
    Branch {
        id: BranchId::new(),
        tenant_id: tenant,
        name: Name::parse("Madinah office").unwrap(),
        created_at: Utc::now(),
        closed_at: None,
        version: 1,
    }
}

async fn setup() -> Option<Bench> {
    let name = format!("tms_bench_{}", std::process::id());
    if let Err(e) = admin_exec(format!("CREATE DATABASE \"{name}\"")).await {
        eprintln!(
            "\n=== SKIPPING the store benchmark: PostgreSQL unreachable at TMS_TEST_DATABASE_URL ({e}) ===\n"
        );
        return None;
    }
    let url = with_database(&admin_url(), &name);
    let store = SqlStore::connect(&url).await.expect("store").into_dyn();
    let bare = sqlx::PgPool::connect(&url).await.expect("pool");
    let seeded = Instant::now();
    // Tenants, then their branches, generated in the server.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO tenants (tenant_id, slug, name, base_currency, created_at, version) \
         SELECT gen_random_uuid(), 'bench-' || g, 'Bench ' || g, 'SAR', now(), 1 FROM generate_series(0, {OTHER_TENANTS} + 1) g;"
    )))
    .execute(&bare)
    .await
    .expect("tenants");
    let tenants: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT tenant_id, slug FROM tenants ORDER BY slug")
            .fetch_all(&bare)
            .await
            .expect("tenants");
    let (mut big, mut tenant) = (None, None);
    for (id, slug) in &tenants {
        let rows = match slug.as_str() {
            "bench-0" => {
                big = Some(TenantId::from_uuid(*id));
                BIG
            }
            "bench-1" => {
                tenant = Some(TenantId::from_uuid(*id));
                0
            }
            _ => OTHER_ROWS,
        };
        if rows > 0 {
            sqlx::query(
                "INSERT INTO branches (tenant_id, id, name, created_at, closed_at, version) \
                 SELECT $1, gen_random_uuid(), 'Branch ' || g, now() - make_interval(secs => g), NULL, 1 \
                 FROM generate_series(1, $2) g",
            )
            .bind(id)
            .bind(rows)
            .execute(&bare)
            .await
            .expect("branches");
        }
    }
    sqlx::raw_sql("ANALYZE")
        .execute(&bare)
        .await
        .expect("analyze");
    let big = big.expect("big tenant");
    let (created_at, id): (DateTime<Utc>, uuid::Uuid) = sqlx::query_as(
        "SELECT created_at, id FROM branches WHERE tenant_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT 1",
    )
    .bind(big.as_uuid())
    .bind(BIG / 2)
    .fetch_one(&bare)
    .await
    .expect("middle");
    let scoped: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "SELECT id FROM branches WHERE tenant_id = $1 ORDER BY id LIMIT 100 OFFSET 12345",
    )
    .bind(big.as_uuid())
    .fetch_all(&bare)
    .await
    .expect("scoped ids");
    eprintln!(
        "seeded {} branches in {} tenants in {:.1?}",
        BIG + OTHER_TENANTS * OTHER_ROWS,
        tenants.len(),
        seeded.elapsed()
    );
    Some(Bench {
        name,
        store,
        bare,
        tenant: tenant.expect("tenant"),
        big,
        middle: Cursor { created_at, id },
        scoped: scoped
            .into_iter()
            .map(|(id,)| BranchId::from_uuid(id))
            .collect(),
    })
}

async fn create_through_unit_of_work(b: &Bench) {
    let branch = branch(b.tenant);
    let ctx = Context::new(Principal::system(b.tenant, "bench"), branch.created_at);
    let mut uow = b.store.begin().await.unwrap();
    uow.branches().insert(&branch).await.unwrap();
    uow.audit()
        .append(
            NewAuditEvent::new(&ctx, "branch.created", "branch", Some(branch.id.into()))
                .in_branch(branch.id),
        )
        .await
        .unwrap();
    uow.commit().await.unwrap();
}

async fn create_bare(b: &Bench) {
    let branch = branch(b.tenant);
    let mut tx = b.bare.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO branches (tenant_id, id, name, created_at, closed_at, version) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(branch.tenant_id.as_uuid())
    .bind(branch.id.as_uuid())
    .bind(branch.name.as_str())
    .bind(branch.created_at)
    .bind(None::<DateTime<Utc>>)
    .bind(branch.version)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn page(b: &Bench, scope: &Scope, after: Option<Cursor>) -> usize {
    let request = PageRequest::new(Some(50), after.map(|c| c.encode()).as_deref()).unwrap();
    let mut uow = b.store.begin().await.unwrap();
    let page = uow.branches().list(scope, request).await.unwrap();
    uow.rollback().await.unwrap();
    page.items.len()
}

/// Runs `f` `n` times and prints the percentiles of single calls.
fn percentiles<F: FnMut()>(label: &str, n: usize, mut f: F) {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |p: f64| times[((n as f64 * p).ceil() as usize).min(n) - 1];
    println!(
        "{label}: n={n} p50={:.3?} p90={:.3?} p99={:.3?} max={:.3?}",
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0)
    );
}

fn bench_store(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let Some(b) = rt.block_on(setup()) else {
        return;
    };

    let mut group = c.benchmark_group("store/create");
    group.bench_function("unit_of_work_insert_audit_commit", |bench| {
        bench.iter(|| rt.block_on(create_through_unit_of_work(&b)))
    });
    group.bench_function("bare_sqlx_insert_commit", |bench| {
        bench.iter(|| rt.block_on(create_bare(&b)))
    });
    group.finish();
    // Throughput side by side, outside criterion, for the report.
    for (label, uow) in [("unit of work", true), ("bare sqlx", false)] {
        let n = 2_000;
        let start = Instant::now();
        for _ in 0..n {
            if uow {
                rt.block_on(create_through_unit_of_work(&b));
            } else {
                rt.block_on(create_bare(&b));
            }
        }
        println!(
            "store/create {label}: {:.0} creates/s",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }

    let all = Scope {
        tenant_id: b.big,
        branches: BranchScope::All,
    };
    let scoped = Scope {
        tenant_id: b.big,
        branches: BranchScope::only(b.scoped.iter().copied()),
    };
    assert_eq!(rt.block_on(page(&b, &all, Some(b.middle))), 50);
    assert_eq!(rt.block_on(page(&b, &scoped, None)), 50);
    let mut group = c.benchmark_group("store/page");
    group.bench_function("tenant_of_1m_middle_page_of_50", |bench| {
        bench.iter(|| rt.block_on(page(&b, &all, Some(b.middle))))
    });
    group.bench_function("tenant_of_1m_scoped_to_100_branches_page_of_50", |bench| {
        bench.iter(|| rt.block_on(page(&b, &scoped, None)))
    });
    group.finish();
    percentiles(
        "store/page middle of 1M (unit of work + query)",
        5_000,
        || {
            rt.block_on(page(&b, &all, Some(b.middle)));
        },
    );
    percentiles(
        "store/page scoped to 100 branches (unit of work + query)",
        5_000,
        || {
            rt.block_on(page(&b, &scoped, None));
        },
    );

    rt.block_on(async {
        b.bare.close().await;
        let _ = admin_exec(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            b.name
        ))
        .await;
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench_store
}
criterion_main!(benches);
