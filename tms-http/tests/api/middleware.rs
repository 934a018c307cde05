use crate::helpers::{Db, spawn, spawn_app};

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
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.request_timeout = std::time::Duration::from_millis(100);
    })
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
