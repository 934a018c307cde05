use crate::helpers::{Db, spawn, spawn_app};

async fn problem(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_malformed_json_body_is_400_problem_json_not_500() {
    let app = spawn_app().await;
    for body in ["{not json", r#"{"name": 5}"#, "{}", ""] {
        let response = app
            .client
            .post(app.url("/api/v1/test/echo"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        let p = problem(response).await;
        assert_eq!(p["type"], "malformed");
        assert_eq!(p["status"], 400);
    }
}

#[tokio::test]
async fn a_well_formed_json_body_goes_through() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/test/echo"))
        .json(&serde_json::json!({ "name": "Aisha" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_unknown_route_is_404_problem_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let p = problem(response).await;
    assert_eq!(p["type"], "not-found");
}

#[tokio::test]
async fn a_wrong_method_is_405_problem_json() {
    let app = spawn_app().await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("allow"));
    let p = problem(response).await;
    assert_eq!(p["type"], "method-not-allowed");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_problem_json() {
    let app = spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.body_limit = 1024;
    })
    .await;
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(4096));
    let response = app
        .client
        .post(app.url("/api/v1/test/echo"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let p = problem(response).await;
    assert_eq!(p["type"], "payload-too-large");
}

#[tokio::test]
async fn rejections_of_plain_axum_extractors_are_problem_json_400_too() {
    let app = spawn_app().await;
    for body in ["{not json", r#"{"name": 5}"#] {
        let response = app
            .client
            .post(app.url("/api/v1/test/plain-axum-json"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        assert_eq!(problem(response).await["type"], "malformed");
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_generic_500_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/test/panic"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let p = problem(response).await;
    assert_eq!(p["type"], "internal");
    assert!(!p.to_string().contains("a bug in a handler"));
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
