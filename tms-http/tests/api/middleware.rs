use crate::helpers::{Db, spawn, spawn_app, spawn_with};

#[tokio::test]
async fn a_valid_incoming_request_id_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "edge-42.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-42.abc");
}

#[tokio::test]
async fn a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    let replaced = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
}

#[tokio::test]
async fn error_responses_carry_the_request_id_too() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/v1/openapi.json", "/nowhere"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let h = response.headers();
        assert!(h.contains_key("content-security-policy"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert!(!h.contains_key("strict-transport-security"), "{path}");
    }
}

#[tokio::test]
async fn hsts_is_sent_only_behind_tls() {
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.behind_tls = true;
    })
    .await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = spawn_app().await;
    let client = app.client.clone();
    let url = app.url("/api/v1/test/slow?ms=400");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    app.stop().await;
    let response = in_flight.await.unwrap().expect("the request finished");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    // And nothing new is accepted.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
}

#[tokio::test]
async fn a_request_over_the_timeout_is_503_problem_json_with_retry_after() {
    // No first-login password change here: under a loaded machine its two
    // requests could themselves exceed the 100 ms being tested.
    let app = spawn_with(
        Db::Sqlite,
        tempfile::tempdir().unwrap(),
        |c| {
            c.request_timeout = std::time::Duration::from_millis(100);
        },
        false,
    )
    .await;
    let response = app
        .client
        .get(app.url("/api/v1/test/slow?ms=2000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "unavailable");
}

#[tokio::test]
async fn a_bad_query_parameter_is_400_problem_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/test/slow?ms=soon"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "malformed");
}

/// The IP addresses of the tenant's failed-login audit events, in order.
async fn failed_login_ips(app: &crate::helpers::TestApp) -> Vec<Option<String>> {
    use tms_core::ports::Store as _;
    let tenant = crate::helpers::tenant_id(app, tms_http::setup::DEMO_SLUG).await;
    let mut uow = app.store.begin().await.unwrap();
    let events = uow.audit().read(tenant, 0, 1000).await.unwrap();
    uow.rollback().await.unwrap();
    events
        .into_iter()
        .filter(|e| e.event.action == "auth.login.failed")
        .map(|e| e.event.ip)
        .collect()
}

/// A failed login as if from `forwarded_for`; the status.
async fn failed_login(app: &crate::helpers::TestApp, email: &str, forwarded_for: &str) -> u16 {
    crate::helpers::http()
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&serde_json::json!({
            "tenant": tms_http::setup::DEMO_SLUG, "email": email, "password": "wrong-password"
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_audited() {
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.trusted_proxies = vec![tms_http::client_ip::TrustedProxy::parse("127.0.0.0/8").unwrap()];
    })
    .await;
    // The client forged the first entry; the (trusted) proxy appended the
    // real client's address.
    assert_eq!(
        failed_login(&app, "nobody@demo.example", "192.0.2.66, 203.0.113.7").await,
        401
    );
    assert_eq!(
        failed_login_ips(&app).await,
        [Some("203.0.113.7".to_owned())]
    );
    // The per-IP throttle counts the forwarded client, not the proxy.
    let mut limited = false;
    for i in 0..40 {
        match failed_login(&app, &format!("n{i}@demo.example"), "203.0.113.7").await {
            429 => {
                limited = true;
                break;
            }
            status => assert_eq!(status, 401),
        }
    }
    assert!(limited, "203.0.113.7 is throttled");
    assert_eq!(
        failed_login(&app, "other@demo.example", "198.51.100.20").await,
        401,
        "another client behind the same proxy is not"
    );
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app().await;
    assert_eq!(
        failed_login(&app, "nobody@demo.example", "203.0.113.7").await,
        401
    );
    assert_eq!(failed_login_ips(&app).await, [Some("127.0.0.1".to_owned())]);
    // A forged header per attempt does not escape the throttle of the peer.
    let mut limited = false;
    for i in 0..40 {
        match failed_login(&app, &format!("n{i}@demo.example"), &format!("192.0.2.{i}")).await {
            429 => {
                limited = true;
                break;
            }
            status => assert_eq!(status, 401),
        }
    }
    assert!(limited);
}
