use crate::helpers::{count_tenants, restart, spawn_app, spawn_app_on_postgres};

#[tokio::test]
async fn first_run_creates_exactly_one_tenant_and_a_second_start_does_not() {
    let app = spawn_app().await;
    let password = app.first_run_password.clone().expect("first run ran");
    assert!(password.len() >= 20);
    assert_eq!(count_tenants(app.data_dir.path(), None).await, 1);

    let app = restart(app).await;
    assert!(app.first_run_password.is_none());
    assert_eq!(count_tenants(app.data_dir.path(), None).await, 1);
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn first_run_on_postgresql_happens_once_even_from_a_fresh_data_dir() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    assert!(app.first_run_password.is_some());
    let url = app.database_url.clone();
    assert_eq!(count_tenants(app.data_dir.path(), url.as_deref()).await, 1);

    // A second replica: same database, its own empty data directory.
    let mut app = app;
    app.stop().await;
    let crate::helpers::TestApp { pg, .. } = app;
    let replica = crate::helpers::spawn(
        crate::helpers::Db::Postgres(pg.expect("pg")),
        tempfile::tempdir().unwrap(),
        |_| {},
    )
    .await;
    assert!(replica.first_run_password.is_none());
    assert_eq!(
        count_tenants(replica.data_dir.path(), url.as_deref()).await,
        1
    );
}

#[tokio::test]
async fn first_run_can_be_switched_off() {
    let app = crate::helpers::spawn(
        crate::helpers::Db::Sqlite,
        tempfile::tempdir().unwrap(),
        |c| c.first_run = false,
    )
    .await;
    assert!(app.first_run_password.is_none());
    assert_eq!(count_tenants(app.data_dir.path(), None).await, 0);
}
