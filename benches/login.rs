//! The locked-account rejection (issue 5: "time to reject a locked account,
//! target under 1 ms: no hashing").
//!
//! A real `tms-server` on its embedded defaults (SQLite file in a temporary
//! data directory, WAL), built in this process; the demo owner's account is
//! locked by failed logins first. Then, side by side:
//!
//! - `login_locked/service`: `Identity::login` for the locked account — the
//!   whole rejection as the server runs it: per-IP throttle read and update,
//!   lock check, `auth.login.locked` audit event on the tenant's hash chain,
//!   commit. No password hashing.
//! - `login_locked/http`: the same over HTTP on loopback from a keep-alive
//!   client (`POST /api/v1/auth/login` → 423), every middleware included.
//! - `healthz/http`: `GET /healthz` from the same client — the floor of any
//!   HTTP round trip on this machine, for comparison.
//! - `login_wrong_password/service`: a login that must hash — a fresh
//!   unknown email each time in another tenant, which costs the same
//!   argon2id verification as a wrong password and never locks: what the
//!   lock check saves.
//!
//! Each attempt comes from a different client IP (over HTTP through
//! `X-Forwarded-For` from a trusted loopback proxy), so that the per-IP
//! throttle (30 attempts per 10 minutes) never answers instead of the lock.
//!
//! `cargo bench -p tms-benches --bench login`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use tms_core::Error;
use tms_core::service::identity::{Caller, LoginRequest};
use tms_core::service::tenancy::{NewTenant, NewTenantRequest, provision_tenant};
use tms_http::Server;
use tms_http::client_ip::TrustedProxy;
use tms_http::config::Config;
use tokio::runtime::Runtime;

const EMAIL: &str = "owner@demo.example";

/// A distinct client address per attempt: 10.x.y.z from a counter.
fn next_ip(counter: &AtomicU32) -> IpAddr {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let [_, b, c, d] = n.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, b, c, d))
}

fn request(tenant: &str, email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        tenant: tenant.to_owned(),
        email: email.to_owned(),
        password: password.into(),
        otp: None,
    }
}

fn bench_login(c: &mut Criterion) {
    // reqwest is built without a default TLS provider (one provider, ring).
    tms_adapters::blob::install_crypto_provider();
    let rt = Runtime::new().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data_dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        log: "error".to_owned(),
        trusted_proxies: vec![TrustedProxy::parse("127.0.0.1").unwrap()],
        ..Config::default()
    };
    let server = rt.block_on(Server::build(config)).unwrap();
    let state = server.state().clone();
    let ips = AtomicU32::new(1);

    // Lock the demo owner: wrong passwords until the lock answers.
    rt.block_on(async {
        for _ in 0..50 {
            let caller = Caller::from_ip(next_ip(&ips));
            match state
                .identity
                .login(request("demo", EMAIL, "wrong password"), &caller)
                .await
            {
                Err(Error::Locked { .. }) => return,
                Err(Error::Unauthenticated) => {}
                other => panic!("unexpected answer while locking: {other:?}"),
            }
        }
        panic!("the account never locked");
    });
    // A second tenant whose owner is not locked, for the hashing comparison.
    rt.block_on(async {
        let open = NewTenant::parse(NewTenantRequest {
            slug: "open".into(),
            name: "Open Travel".into(),
            base_currency: "SAR".into(),
            first_branch: "Head office".into(),
            owner_email: "owner@open.example".into(),
            owner_name: "Open Owner".into(),
            owner_password: "correct horse battery staple 42".into(),
        })
        .unwrap();
        provision_tenant(&state.deps, open).await.unwrap();
    });

    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let login_url = format!("http://{address}/api/v1/auth/login");
    let health_url = format!("http://{address}/healthz");
    let body = serde_json::json!({"tenant": "demo", "email": EMAIL, "password": "wrong password"});

    // Check the answers once before timing them.
    rt.block_on(async {
        let r = client
            .post(&login_url)
            .header("x-forwarded-for", next_ip(&ips).to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            423,
            "the locked account must answer 423"
        );
        let r = client.get(&health_url).send().await.unwrap();
        assert!(r.status().is_success());
    });

    let mut group = c.benchmark_group("login_locked");
    group.bench_function("service", |b| {
        b.iter(|| {
            rt.block_on(async {
                let caller = Caller::from_ip(next_ip(&ips));
                let answer = state
                    .identity
                    .login(request("demo", EMAIL, "wrong password"), &caller)
                    .await;
                assert!(matches!(answer, Err(Error::Locked { .. })), "{answer:?}");
            })
        });
    });
    group.bench_function("http", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = client
                    .post(&login_url)
                    .header("x-forwarded-for", next_ip(&ips).to_string())
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 423);
                r.bytes().await.unwrap();
            })
        });
    });
    group.finish();

    c.bench_function("healthz/http", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = client.get(&health_url).send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
            })
        });
    });

    let mut hashing = c.benchmark_group("login_wrong_password");
    hashing.sample_size(10);
    hashing.bench_function("service", |b| {
        b.iter(|| {
            rt.block_on(async {
                let n = ips.load(Ordering::Relaxed);
                let caller = Caller::from_ip(next_ip(&ips));
                let email = format!("nobody-{n}@open.example");
                let answer = state
                    .identity
                    .login(request("open", &email, "not the password"), &caller)
                    .await;
                assert!(matches!(answer, Err(Error::Unauthenticated)), "{answer:?}");
            })
        });
    });
    hashing.finish();

    let _ = stop.send(());
    rt.block_on(serving).unwrap().unwrap();
}

criterion_group!(benches, bench_login);
criterion_main!(benches);
