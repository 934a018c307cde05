//! Outreach over HTTP (issue 9): templates from draft to approved, the
//! suppression list, a campaign sent with confirmation, expanded by the
//! service's tick and delivered by the server's outbox worker, one-click
//! unsubscribe; the authorization matrix (5 roles) and tenant isolation on
//! SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, ConsentChannel, Email, Role, TenantSlug};
use tms_core::id::{BranchId, TenantId};
use tms_core::ports::{PageRequest, Scope, Store as _};
use tms_core::security::keyring::KeyRing;
use tms_core::service::outreach::Outreach;
use tms_core::service::tenancy::Deps;
use tms_core::testkit::{consent, new_client};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{
    Db, TestApp, audit_actions, http, login, sales_only_in, spawn, spawn_app_on_postgres,
    staff_per_role,
};

struct World {
    owner: String,
    tenant: TenantId,
    here: BranchId,
    there: BranchId,
    tokens: Vec<(Role, String)>,
    stranger: String,
    foreign_template: String,
    foreign_campaign: String,
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = http()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let response = http()
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let response = http()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn template_body(name: &str) -> Value {
    json!({
        "name": name,
        "channel": "email",
        "variables": ["client_name", "unsubscribe_url", "offer"],
        "default_language": "en",
        "variants": [
            {
                "language": "en",
                "subject": "Dear {{ client_name }}: {{ offer }}",
                "text": "{{ offer }}\nUnsubscribe: {{ unsubscribe_url }}",
                "html": "<p>{{ client_name }}</p><a href=\"{{ unsubscribe_url }}\">unsubscribe</a>"
            },
            {
                "language": "ar",
                "subject": "عزيزي {{ client_name }}: {{ offer }}",
                "text": "{{ offer }}",
                "html": "<p dir=\"rtl\">{{ client_name }}</p>"
            }
        ]
    })
}

/// Creates and approves a template as `token`; its id.
async fn approved_template(app: &TestApp, token: &str) -> String {
    let (status, t) = post(app, token, "/api/v1/templates", template_body("Offer")).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        app,
        token,
        &format!("/api/v1/templates/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    id
}

/// Creates (and optionally approves) a campaign; its id.
async fn campaign(
    app: &TestApp,
    token: &str,
    template: &str,
    branch: Option<BranchId>,
    approve: bool,
) -> String {
    let (status, c) = post(
        app,
        token,
        "/api/v1/campaigns",
        json!({
            "name": "Ramadan",
            "template_id": template,
            "language": "en",
            "branch_id": branch,
            "variables": { "offer": "Umrah <2027>" }
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    if approve {
        let (status, _) = post(
            app,
            token,
            &format!("/api/v1/campaigns/{id}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    id
}

async fn world(app: &TestApp) -> World {
    let owner = login(
        app,
        DEMO_SLUG,
        DEMO_EMAIL,
        &app.first_run_password.clone().unwrap(),
    )
    .await;
    let store = app.store.clone().into_dyn();
    let mut uow = store.begin().await.unwrap();
    let tenant = uow
        .tenants()
        .find_by_slug(&TenantSlug::parse(DEMO_SLUG).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let here = uow
        .branches()
        .list(
            &Scope {
                tenant_id: tenant,
                branches: BranchScope::All,
            },
            PageRequest::first(),
        )
        .await
        .unwrap()
        .items[0]
        .id;
    uow.rollback().await.unwrap();
    let (status, there) = post(app, &owner, "/api/v1/branches", json!({ "name": "Lahore" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let there: BranchId = there["id"].as_str().unwrap().parse().unwrap();

    let mut tokens = vec![(Role::TenantSuperAdmin, owner.clone())];
    tokens.extend(staff_per_role(app, tenant, sales_only_in(here)).await);

    let (_, stranger) = crate::helpers::stranger(app, "other").await;
    let foreign_template = approved_template(app, &stranger).await;
    let foreign_campaign = campaign(app, &stranger, &foreign_template, None, true).await;
    World {
        owner,
        tenant,
        here,
        there,
        tokens,
        stranger,
        foreign_template,
        foreign_campaign,
    }
}

/// Clients of `branch` with an email and, when `consents`, Marketing and
/// Email consent; their emails.
async fn seed_clients(
    app: &TestApp,
    tenant: TenantId,
    branch: BranchId,
    prefix: &str,
    n: usize,
    consents: bool,
) -> Vec<String> {
    let store = app.store.clone().into_dyn();
    let mut uow = store.begin().await.unwrap();
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    let mut emails = Vec::new();
    for i in 0..n {
        let mut client = new_client(tenant, branch, &format!("Client {prefix}{i}"));
        let email = format!("{prefix}{i}@clients.example");
        client.email = Some(Email::parse(&email).unwrap());
        uow.clients().insert(&client).await.unwrap();
        if consents {
            for channel in [ConsentChannel::Marketing, ConsentChannel::Email] {
                uow.clients()
                    .add_consent(&consent(&client, channel, true, at))
                    .await
                    .unwrap();
            }
        }
        emails.push(email);
    }
    uow.commit().await.unwrap();
    emails
}

/// The service as the worker runs it, with the server's own key ring (so
/// that the server verifies the links it signs).
fn worker_outreach(app: &TestApp) -> Outreach {
    let ring =
        KeyRing::from_file(&app.data_dir.path().join(tms_http::setup::KEYRING_FILE)).unwrap();
    Outreach::new(
        Deps::new(app.store.clone().into_dyn()),
        Arc::new(ring),
        "http://tms.test",
    )
    .with_batch(2)
}

async fn expand(app: &TestApp) {
    let outreach = worker_outreach(app);
    for _ in 0..20 {
        if outreach.tick(chrono::Utc::now()).await.unwrap().campaigns == 0 {
            return;
        }
    }
    panic!("the campaign did not finish expanding");
}

async fn suppressions(app: &TestApp, token: &str) -> Vec<String> {
    let (status, list) = get(app, token, "/api/v1/suppressions").await;
    assert_eq!(status, StatusCode::OK);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_whole_flow(app: &TestApp) {
    let w = world(app).await;
    let owner = &w.owner;
    let mine = seed_clients(app, w.tenant, w.here, "a", 3, true).await;
    seed_clients(app, w.tenant, w.there, "b", 2, true).await;
    seed_clients(app, w.tenant, w.here, "n", 2, false).await;

    // Templates: strict validation, draft edits, approval, frozen after.
    let mut bad = template_body("Bad");
    bad["variants"][0]["subject"] = json!("Hello {{ clientname }}");
    let (status, problem) = post(app, owner, "/api/v1/templates", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"], "variants[0].subject",
        "{problem}"
    );
    let (status, t) = post(app, owner, "/api/v1/templates", template_body("Offer")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(t["status"], "draft");
    let id = t["id"].as_str().unwrap().to_owned();
    let (status, t) = put(
        app,
        owner,
        &format!("/api/v1/templates/{id}"),
        template_body("Offer 2027"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["version"], 2);
    let values = json!({ "language": "ar-SA", "values": { "client_name": "<b>Ali</b>", "offer": "Umrah", "unsubscribe_url": "https://x" } });
    let (status, _) = post(
        app,
        owner,
        &format!("/api/v1/templates/{id}/render"),
        values.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a draft does not render");
    let (status, t) = post(
        app,
        owner,
        &format!("/api/v1/templates/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(t["status"], "approved");
    assert!(t["approved_by"].is_string());
    let (status, _) = put(
        app,
        owner,
        &format!("/api/v1/templates/{id}"),
        template_body("Edited"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "approved templates are frozen"
    );
    let (status, r) = post(
        app,
        owner,
        &format!("/api/v1/templates/{id}/render"),
        values,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["language"], "ar");
    assert_eq!(r["html"], "<p dir=\"rtl\">&lt;b&gt;Ali&lt;&#x2f;b&gt;</p>");

    // Suppression list.
    let response = http()
        .post(app.url("/api/v1/suppressions"))
        .bearer_auth(owner)
        .json(&json!({ "address": mine[2], "reason": "bounced" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, _) = post(
        app,
        owner,
        "/api/v1/suppressions",
        json!({ "address": mine[2] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "already there");
    let (status, _) = post(
        app,
        owner,
        "/api/v1/suppressions",
        json!({ "address": "nobody" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(suppressions(app, owner).await, vec![mine[2].clone()]);

    // A campaign of this branch, sent with confirmation.
    let c = campaign(app, owner, &id, Some(w.here), true).await;
    let (status, problem) = post(
        app,
        owner,
        &format!("/api/v1/campaigns/{c}/send"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{problem}");
    let token = problem["confirmation_token"].as_str().unwrap().to_owned();
    let response = http()
        .post(app.url(&format!("/api/v1/campaigns/{c}/send")))
        .bearer_auth(owner)
        .header("Tms-Confirm", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sent: Value = response.json().await.unwrap();
    assert_eq!(sent["status"], "sending");

    expand(app).await;
    expand(app).await; // again: nothing more, nobody twice
    let (status, view) = get(app, owner, &format!("/api/v1/campaigns/{c}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "done", "{view}");
    assert_eq!(view["progress"]["recipients"], 3, "{view}");
    assert_eq!(view["progress"]["suppressed"], 1, "{view}");
    // The server's outbox worker delivers the two messages.
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let (_, view) = get(app, owner, &format!("/api/v1/campaigns/{c}")).await;
        if view["progress"]["sent"] == 2 || Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["progress"]["sent"], 2, "{view}");
    assert_eq!(view["progress"]["queued"], 0, "{view}");

    // The messages: one per consenting, unsuppressed client of the branch.
    let mut uow = app.store.begin().await.unwrap();
    let messages = uow
        .outbox()
        .list(w.tenant, PageRequest::new(Some(200), None).unwrap())
        .await
        .unwrap()
        .items;
    uow.rollback().await.unwrap();
    let campaign_mail: Vec<_> = messages
        .iter()
        .filter(|m| m.recipient().ends_with("@clients.example"))
        .collect();
    let mut to: Vec<&str> = campaign_mail.iter().map(|m| m.recipient()).collect();
    to.sort_unstable();
    assert_eq!(to, vec![mine[0].as_str(), mine[1].as_str()]);
    let first = campaign_mail[0].as_email().unwrap();
    assert!(
        first.subject.starts_with("Dear Client a"),
        "{}",
        first.subject
    );
    assert!(first.subject.ends_with("Umrah <2027>"), "{}", first.subject);
    let link = first
        .body_text
        .split_whitespace()
        .find(|w| w.contains("/api/v1/unsubscribe/"))
        .expect("an unsubscribe link");
    // The server's own worker may have expanded the campaign before this
    // test's tick did: the link's host is either's public URL, the path
    // (and the key that signs it) the same.
    let path = &link[link.find("/api/v1/unsubscribe/").unwrap()..];
    // As delivered: HTML beside the text, and the RFC 8058 headers.
    let folder = app.data_dir.path().join("mail").join(w.tenant.to_string());
    let delivered: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .filter(|text| text.contains("@clients.example"))
        .collect();
    assert_eq!(delivered.len(), 2);
    for eml in &delivered {
        assert!(
            eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{eml}"
        );
        assert!(
            eml.contains("List-Unsubscribe: <http") && eml.contains("/api/v1/unsubscribe/"),
            "{eml}"
        );
        assert!(eml.contains("text/html"), "{eml}");
    }

    // GET shows a page and unsubscribes nobody; POST does, once.
    let response = http().get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("method=\"post\""));
    assert_eq!(suppressions(app, owner).await.len(), 1);
    let one_click = |path: String, body: &'static str| async move {
        http()
            .post(app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        one_click(path.to_owned(), "nothing").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        one_click(path.to_owned(), "List-Unsubscribe=One-Click").await,
        StatusCode::OK
    );
    assert_eq!(
        one_click(path.to_owned(), "List-Unsubscribe=One-Click").await,
        StatusCode::OK,
        "idempotent"
    );
    let list = suppressions(app, owner).await;
    assert_eq!(list.len(), 2);
    assert!(list.contains(&first.to.as_str().to_owned()));
    let mut forged = path.to_owned().into_bytes();
    let last = forged.len() - 3;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        one_click(forged.clone(), "List-Unsubscribe=One-Click").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http().get(app.url(&forged)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = get(app, owner, "/api/v1/unsubscribe/not-a-token").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A removed suppression.
    let response = http()
        .delete(app.url(&format!("/api/v1/suppressions/{}", mine[2])))
        .bearer_auth(owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let actions: Vec<String> = audit_actions(app, DEMO_SLUG)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for action in [
        "template.created",
        "template.updated",
        "template.approved",
        "suppression.added",
        "suppression.removed",
        "campaign.created",
        "campaign.approved",
        "campaign.sent",
        "campaign.done",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let _ = (
        w.there,
        &w.stranger,
        &w.foreign_template,
        &w.foreign_campaign,
    );
}

async fn the_authorization_matrix_holds(app: &TestApp) {
    let w = world(app).await;
    use StatusCode as S;
    // list templates, create template, get template, approve template,
    // list campaigns, create campaign, get campaign, send campaign,
    // list suppressions, add suppression.
    let allowed = [
        S::OK,
        S::CREATED,
        S::OK,
        S::OK,
        S::OK,
        S::CREATED,
        S::OK,
        S::PRECONDITION_REQUIRED,
        S::OK,
        S::CREATED,
    ];
    let expected: [(Role, [S; 10]); 5] = [
        (Role::TenantSuperAdmin, allowed),
        (Role::Admin, allowed),
        (Role::Finance, [S::FORBIDDEN; 10]),
        (Role::Sales, [S::FORBIDDEN; 10]),
        (Role::Umrah, [S::FORBIDDEN; 10]),
    ];
    let template = approved_template(app, &w.owner).await;
    let approved = campaign(app, &w.owner, &template, Some(w.here), true).await;
    for (i, (role, statuses)) in expected.into_iter().enumerate() {
        let token = &w.tokens.iter().find(|(r, _)| *r == role).unwrap().1;
        let (_, draft) = post(app, &w.owner, "/api/v1/templates", template_body("Draft")).await;
        let draft = draft["id"].as_str().unwrap();
        let got = [
            get(app, token, "/api/v1/templates").await.0,
            post(app, token, "/api/v1/templates", template_body("Mine")).await.0,
            get(app, token, &format!("/api/v1/templates/{template}")).await.0,
            post(app, token, &format!("/api/v1/templates/{draft}/approve"), json!({})).await.0,
            get(app, token, "/api/v1/campaigns").await.0,
            post(
                app,
                token,
                "/api/v1/campaigns",
                json!({ "name": "C", "template_id": template, "language": "en", "branch_id": w.here, "variables": { "offer": "x" } }),
            )
            .await
            .0,
            get(app, token, &format!("/api/v1/campaigns/{approved}")).await.0,
            post(app, token, &format!("/api/v1/campaigns/{approved}/send"), json!({})).await.0,
            get(app, token, "/api/v1/suppressions").await.0,
            post(app, token, "/api/v1/suppressions", json!({ "address": format!("role{i}@x.example") }))
                .await
                .0,
        ];
        assert_eq!(got, statuses, "{role:?}");
    }

    // Another tenant's template or campaign is not found, for every
    // action, even for our owner; and ours are not found for them.
    for token in [&w.tokens[0].1, &w.tokens[1].1] {
        let t = &w.foreign_template;
        let c = &w.foreign_campaign;
        let got = [
            get(app, token, &format!("/api/v1/templates/{t}")).await.0,
            put(
                app,
                token,
                &format!("/api/v1/templates/{t}"),
                template_body("X"),
            )
            .await
            .0,
            post(
                app,
                token,
                &format!("/api/v1/templates/{t}/approve"),
                json!({}),
            )
            .await
            .0,
            post(
                app,
                token,
                &format!("/api/v1/templates/{t}/archive"),
                json!({}),
            )
            .await
            .0,
            get(app, token, &format!("/api/v1/campaigns/{c}")).await.0,
            post(
                app,
                token,
                &format!("/api/v1/campaigns/{c}/send"),
                json!({}),
            )
            .await
            .0,
            post(
                app,
                token,
                &format!("/api/v1/campaigns/{c}/pause"),
                json!({}),
            )
            .await
            .0,
            post(
                app,
                token,
                &format!("/api/v1/campaigns/{c}/cancel"),
                json!({}),
            )
            .await
            .0,
        ];
        assert_eq!(got, [S::NOT_FOUND; 8]);
        let (status, _) = post(
            app,
            token,
            "/api/v1/campaigns",
            json!({ "name": "C", "template_id": t, "language": "en", "variables": { "offer": "x" } }),
        )
        .await;
        assert_eq!(
            status,
            S::UNPROCESSABLE_ENTITY,
            "another tenant's template names nothing"
        );
    }
    let got = [
        get(app, &w.stranger, &format!("/api/v1/templates/{template}"))
            .await
            .0,
        get(app, &w.stranger, &format!("/api/v1/campaigns/{approved}"))
            .await
            .0,
        post(
            app,
            &w.stranger,
            &format!("/api/v1/campaigns/{approved}/send"),
            json!({}),
        )
        .await
        .0,
    ];
    assert_eq!(got, [S::NOT_FOUND; 3]);
    let (_, list) = get(app, &w.stranger, "/api/v1/suppressions").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["address"].as_str().unwrap().starts_with("role")),
        "{list}"
    );
    // The owner's campaign of a branch the caller does not know is 404.
    let (status, _) = post(
        app,
        &w.owner,
        "/api/v1/campaigns",
        json!({ "name": "C", "template_id": template, "language": "en", "branch_id": BranchId::new(), "variables": { "offer": "x" } }),
    )
    .await;
    assert_eq!(status, S::NOT_FOUND);
    let _ = w.there;
}

fn sqlite_app() -> impl std::future::Future<Output = TestApp> {
    spawn(Db::Sqlite, tempfile::tempdir().unwrap(), |c| {
        c.mail.poll = Duration::from_millis(50);
    })
}

#[tokio::test]
async fn outreach_from_template_to_unsubscribe_on_sqlite() {
    the_whole_flow(&sqlite_app().await).await;
}

#[tokio::test]
async fn outreach_from_template_to_unsubscribe_on_postgresql() {
    let Some(pg) = crate::helpers::PgDatabase::create().await else {
        return;
    };
    let app = spawn(Db::Postgres(pg), tempfile::tempdir().unwrap(), |c| {
        c.mail.poll = Duration::from_millis(50);
    })
    .await;
    the_whole_flow(&app).await;
}

#[tokio::test]
async fn outreach_authorization_matrix_and_isolation_on_sqlite() {
    the_authorization_matrix_holds(&sqlite_app().await).await;
}

#[tokio::test]
async fn outreach_authorization_matrix_and_isolation_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    the_authorization_matrix_holds(&app).await;
}

#[tokio::test]
async fn the_outreach_paths_are_in_the_openapi_document() {
    let app = sqlite_app().await;
    let response = http()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    for path in [
        "/api/v1/templates",
        "/api/v1/templates/{id}/approve",
        "/api/v1/suppressions",
        "/api/v1/campaigns/{id}/send",
        "/api/v1/unsubscribe/{token}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
}
