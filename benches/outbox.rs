//! Outbox throughput (issue 9: "outbox to a loopback SMTP server: target
//! ≥ 500 messages/s with one worker; with two workers on PostgreSQL, no
//! message sent twice").
//!
//! A real SMTP server (aiosmtpd, `tms-adapters/tests/mail/smtp_sink.py`,
//! the same sink as the SMTP transport's tests) on a loopback port. Each
//! iteration writes [`BATCH`] pending messages to the outbox (not timed),
//! then times the worker's use case, `Courier::deliver_due`, until the
//! outbox is empty: claim (`FOR UPDATE SKIP LOCKED` on PostgreSQL), compose,
//! send over SMTP through the mailer's own connection pool (`TCP_NODELAY`,
//! see `tms-adapters/src/mail/smtp.rs`), record the attempt in the delivery
//! log. Side by side in one run:
//!
//! - `smtp_only/1_at_once` and `smtp_only/8_at_once`: the same composed
//!   messages sent straight to the sink, no outbox — the floor the
//!   transport and the server set;
//! - `sqlite/1_worker/1_at_once`: the embedded default store, one message
//!   after the other; `sqlite/1_worker/8_at_once`: the courier's default
//!   (`Courier::with_concurrency`);
//! - `postgres/1_worker` and `postgres/2_workers` (two couriers on two
//!   tasks sharing one database, as two replicas would), 8 at once each.
//!
//! After the run, every message the sink received is counted by its
//! `Message-ID`: the bench fails if any arrived twice or went missing.
//!
//! `cargo bench -p tms-benches --bench outbox` (needs aiosmtpd: `.ci/run`
//! installs it into `.ci/venv`; set `TMS_TEST_SMTPD` to another Python that
//! has it; PostgreSQL from `TMS_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use sqlx::Connection as _;
use tms_adapters::mail::{SmtpConfig, SmtpMailer, SmtpTls};
use tms_adapters::sql::SqlStore;
use tms_core::domain::Email;
use tms_core::id::{MessageId, TenantId};
use tms_core::ports::{OsRandom, OutboxMessage, Store};
use tms_core::service::messaging::{Courier, MailRoute, SingleRoute, compose};
use tms_core::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tokio::runtime::Runtime;

/// Messages written and delivered per iteration.
const BATCH: u64 = 500;

#[path = "../tms-adapters/tests/mail/sink.rs"]
mod sink;
use sink::{Sink, start_sink};

/// How many times each `Message-ID` reached the sink.
fn received(sink: &Sink) -> HashMap<String, u32> {
    let mut seen = HashMap::new();
    for entry in std::fs::read_dir(&sink.maildir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("a Message-ID")
            .to_owned();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

fn route(sink: &Sink) -> MailRoute {
    let mut config = SmtpConfig::new("127.0.0.1", sink.port, SmtpTls::None);
    config.timeout = Duration::from_secs(30);
    MailRoute {
        transport: Arc::new(SmtpMailer::new(&config).unwrap()),
        name: "smtp".into(),
        from: Email::parse("bookings@al-noor.example").unwrap(),
        from_name: Some("Al-Noor Travel".into()),
    }
}

fn message(tenant: TenantId, n: u64) -> OutboxMessage {
    OutboxMessage::email(
        MessageId::generate_at(Utc::now(), &OsRandom),
        tenant,
        Email::parse(&format!("pilgrim{n}@example.com")).unwrap(),
        "تأكيد الحجز — booking confirmed",
        "Assalamu alaikum,\n\nYour booking TMS-2026-000042 is confirmed.\nSee you in Madinah.\n",
        Utc::now(),
    )
}

async fn bench_tenant(store: &Arc<dyn Store>) -> TenantId {
    let new = NewTenant::parse(NewTenantRequest {
        slug: "bench".into(),
        name: "Bench Travel".into(),
        base_currency: "SAR".into(),
        first_branch: "Head office".into(),
        owner_email: "owner@bench.example".into(),
        owner_name: "Bench Owner".into(),
        owner_password: "correct horse battery staple 42".into(),
    })
    .unwrap();
    provision_tenant(&Deps::new(store.clone()), new)
        .await
        .unwrap()
        .tenant
        .id
}

async fn fill(store: &Arc<dyn Store>, tenant: TenantId) {
    let mut uow = store.begin().await.unwrap();
    for n in 0..BATCH {
        uow.outbox().enqueue(&message(tenant, n)).await.unwrap();
    }
    uow.commit().await.unwrap();
}

/// Delivers until the outbox is empty with `workers` couriers at once.
async fn drain(couriers: &[Courier]) -> u64 {
    let runs = couriers.iter().map(|courier| {
        let courier = courier.clone();
        tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let report = courier.deliver_due().await.unwrap();
                assert_eq!(report.failed + report.retried, 0, "{report:?}");
                if report.claimed == 0 {
                    return sent;
                }
                sent += report.sent as u64;
            }
        })
    });
    let mut sent = 0;
    for run in runs.collect::<Vec<_>>() {
        sent += run.await.unwrap();
    }
    sent
}

struct Pg {
    name: String,
}

fn admin_url() -> String {
    std::env::var("TMS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn admin_exec(sql: String) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(&admin_url()).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

impl Pg {
    async fn create() -> Option<(Self, String)> {
        let name = format!("tms_bench_outbox_{}", std::process::id());
        if let Err(e) = admin_exec(format!("CREATE DATABASE \"{name}\"")).await {
            eprintln!("\n=== SKIPPING the PostgreSQL outbox cases: {e} ===\n");
            return None;
        }
        let url = admin_url();
        let root = url.rsplit_once('/').map_or(url.as_str(), |(r, _)| r);
        let url = format!("{root}/{name}");
        Some((Self { name }, url))
    }

    async fn drop_database(&self) {
        let _ = admin_exec(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

fn bench_outbox(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let Some(sink) = start_sink() else { return };
    // The SMTP mailer is built, and dropped, inside the runtime it runs on.
    let _runtime = rt.enter();
    let route = route(&sink);
    let mut expected = 0u64;
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    // The floor: composed messages straight to the sink, one after the
    // other, then 8 at once (the pool's connections).
    let tenant = TenantId::new();
    for at_once in [1usize, 8] {
        group.bench_function(format!("smtp_only/{at_once}_at_once"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mails: Vec<_> = (0..BATCH)
                        .map(|n| compose(&message(tenant, n), &route, Utc::now()).unwrap())
                        .collect();
                    let start = Instant::now();
                    rt.block_on(async {
                        futures_util::stream::iter(&mails)
                            .map(|mail| route.transport.send(mail))
                            .buffer_unordered(at_once)
                            .for_each(|sent| async move {
                                sent.unwrap();
                            })
                            .await;
                    });
                    total += start.elapsed();
                    expected += BATCH;
                }
                total
            });
        });
    }

    // The embedded default: SQLite in a temporary folder.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("tms.db").display());
    let store = rt.block_on(SqlStore::connect(&url)).unwrap().into_dyn();
    let tenant = rt.block_on(bench_tenant(&store));
    for at_once in [1usize, 8] {
        let single = Courier::new(
            Deps::new(store.clone()),
            Arc::new(SingleRoute(route.clone())),
        )
        .with_batch(64)
        .with_concurrency(at_once);
        group.bench_function(format!("sqlite/1_worker/{at_once}_at_once"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    rt.block_on(fill(&store, tenant));
                    let start = Instant::now();
                    let sent = rt.block_on(drain(std::slice::from_ref(&single)));
                    total += start.elapsed();
                    assert_eq!(sent, BATCH);
                    expected += BATCH;
                }
                total
            });
        });
    }

    if let Some((pg, url)) = rt.block_on(Pg::create()) {
        let store = rt.block_on(SqlStore::connect(&url)).unwrap().into_dyn();
        let tenant = rt.block_on(bench_tenant(&store));
        let courier = || {
            Courier::new(
                Deps::new(store.clone()),
                Arc::new(SingleRoute(route.clone())),
            )
            .with_batch(64)
        };
        for workers in [1usize, 2] {
            let couriers: Vec<Courier> = (0..workers).map(|_| courier()).collect();
            let name = if workers == 1 {
                "postgres/1_worker"
            } else {
                "postgres/2_workers"
            };
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        rt.block_on(fill(&store, tenant));
                        let start = Instant::now();
                        let sent = rt.block_on(drain(&couriers));
                        total += start.elapsed();
                        assert_eq!(sent, BATCH, "every message sent once by one worker");
                        expected += BATCH;
                    }
                    total
                });
            });
        }
        rt.block_on(pg.drop_database());
    }
    group.finish();

    // Every message arrived exactly once.
    let seen = received(&sink);
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(seen.len() as u64, expected, "every message arrived");
    println!("outbox: {expected} messages delivered, each exactly once");
}

criterion_group!(benches, bench_outbox);
criterion_main!(benches);
