//! `/api/v1/clients`: the whole life of a client over HTTP, the CSV import
//! upload, and the authorization matrix (each role × each endpoint, another
//! tenant's and an out-of-branch id) on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Role, TenantSlug};
use tms_core::id::{BranchId, TenantId};
use tms_core::ports::{PageRequest, Scope};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{
    TestApp, login, sales_only_in, spawn_app, spawn_app_on_postgres, staff_per_role,
};

const BOUNDARY: &str = "tms-test-boundary-7f3a";

fn http() -> reqwest::Client {
    crate::helpers::http()
}

/// The demo tenant with two branches, a user per role, and another tenant.
struct Agency {
    owner: String,
    tenant: TenantId,
    /// Where the Sales user works.
    here: BranchId,
    /// A branch outside the Sales user's scope.
    there: BranchId,
    /// A token per role (Sales sees only `here`).
    tokens: Vec<(Role, String)>,
    /// The other tenant's owner, and a client of theirs.
    stranger: String,
    foreign_client: String,
}

async fn agency(app: &TestApp) -> Agency {
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
    let there: Value = http()
        .post(app.url("/api/v1/branches"))
        .bearer_auth(&owner)
        .json(&json!({ "name": "Lahore" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let there: BranchId = there["id"].as_str().unwrap().parse().unwrap();

    // One user per role, stored directly with a cheap hash, then signed in.
    let mut tokens = vec![(Role::TenantSuperAdmin, owner.clone())];
    tokens.extend(staff_per_role(app, tenant, sales_only_in(here)).await);

    let (other, stranger) = crate::helpers::stranger(app, "other").await;
    let foreign = create(
        app,
        &stranger,
        other.branch.id,
        json!({ "name": "Foreign" }),
    )
    .await;
    assert_eq!(foreign.0, StatusCode::CREATED);
    Agency {
        owner,
        tenant,
        here,
        there,
        tokens,
        stranger,
        foreign_client: foreign.1["client"]["id"].as_str().unwrap().to_owned(),
    }
}

async fn create(
    app: &TestApp,
    token: &str,
    branch: BranchId,
    fields: Value,
) -> (StatusCode, Value) {
    let mut body = fields;
    body["branch_id"] = json!(branch);
    let response = http()
        .post(app.url("/api/v1/clients"))
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

fn multipart(csv: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clients.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(csv);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(
    app: &TestApp,
    token: &str,
    branch: BranchId,
    dry_run: bool,
    csv: &[u8],
) -> (StatusCode, Value) {
    let response = http()
        .post(app.url(&format!(
            "/api/v1/clients/import?branch_id={branch}&dry_run={dry_run}"
        )))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(csv))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

const EXCEL: &str = "\u{FEFF}Name;E-Mail;Mobile;Passport No;Email consent\r\n\
\"Khan; Amina\";amina@example.com;+966501234567;AB1234567;yes\r\n\
محمد عبد الرحمن;;+923001234567;;no\r\n";

async fn a_client_lives_and_dies_over_http(app: &TestApp) {
    let agency = agency(app).await;
    let owner = &agency.owner;
    let (status, created) = create(
        app,
        owner,
        agency.here,
        json!({
            "name": "أمينة خان", "latin_name": "Amina Khan", "phone": "+966 50 111 2233",
            "email": "Amina@Example.com", "date_of_birth": "1990-02-28",
            "nationality": "pk", "passport_number": "XY7654321",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let client = &created["client"];
    let id = client["id"].as_str().unwrap().to_owned();
    assert_eq!(client["name"], "أمينة خان");
    assert_eq!(client["latin_name"], "AMINA KHAN");
    assert_eq!(client["phone"], "+966501112233");
    assert_eq!(client["passport_number"], "XY7654321");
    assert_eq!(created["likely_duplicates"], json!([]));

    let (status, twin) = create(
        app,
        owner,
        agency.there,
        json!({ "name": "Other Person", "email": "amina@example.com" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(twin["likely_duplicates"], json!([id]));

    let (status, invalid) = create(
        app,
        owner,
        agency.here,
        json!({ "name": "", "phone": "0501234567", "nationality": "XX" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "phone", "nationality"]);

    for query in [
        "q=%D8%A3%D9%85%D9%8A",
        "q=AMINA",
        "passport=xy-7654321",
        "phone=%2B966501112233",
    ] {
        let (status, list) = get(app, owner, &format!("/api/v1/clients?{query}")).await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [id.as_str()], "{query}");
    }

    // Edit with the version read; the same version again is a conflict.
    let patch = json!({ "version": 1, "phone": null, "latin_name": "Amina K" });
    let response = http()
        .patch(app.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(owner)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["phone"], Value::Null);
    let response = http()
        .patch(app.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(owner)
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Consent.
    let response = http()
        .post(app.url(&format!("/api/v1/clients/{id}/consents")))
        .bearer_auth(owner)
        .json(&json!({ "channel": "whatsapp", "granted": true, "source": "form" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = http()
        .post(app.url(&format!("/api/v1/clients/{id}/consents")))
        .bearer_auth(owner)
        .json(&json!({ "channel": "pigeon", "granted": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, consents) = get(app, owner, &format!("/api/v1/clients/{id}/consents")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(consents["current"][0]["channel"], "whatsapp");
    assert_eq!(consents["current"][0]["granted"], true);
    assert_eq!(consents["history"].as_array().unwrap().len(), 1);

    // Delete: 428 with a token, then 204 with it.
    let url = app.url(&format!("/api/v1/clients/{id}"));
    let response = http().delete(&url).bearer_auth(owner).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let problem: Value = response.json().await.unwrap();
    let token = problem["confirmation_token"].as_str().unwrap();
    let response = http()
        .delete(&url)
        .bearer_auth(owner)
        .header("Tms-Confirm", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(app, owner, &format!("/api/v1/clients/{id}")).await.0,
        StatusCode::NOT_FOUND
    );

    // Import: a dry run, then the commit, of an Excel export.
    let (status, report) = upload(app, owner, agency.here, true, EXCEL.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], 2);
    assert_eq!(report["committed"], false);
    let (status, report) = upload(app, owner, agency.here, false, EXCEL.as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["committed"], true);
    assert_eq!(report["written"], 2);
    let (_, list) = get(app, owner, "/api/v1/clients?passport=AB1234567").await;
    assert_eq!(list["items"][0]["name"], "Khan; Amina");
    // Row errors are reported, nothing written.
    let bad = "name,email\nGood,g@example.com\n,bad\n";
    let (status, report) = upload(app, owner, agency.here, false, bad.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["committed"], false);
    assert_eq!(report["errors"][0]["row"], 3);
    assert_eq!(report["errors"][0]["field"], "name");
    assert_eq!(report["errors"][1]["field"], "email");
    let (_, list) = get(app, owner, "/api/v1/clients?email=g%40example.com").await;
    assert_eq!(list["items"], json!([]));
    // A malformed file is 422 naming the row.
    let (status, problem) = upload(app, owner, agency.here, false, b"name,email\nA,\"open\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("row 2"),
        "{problem}"
    );
    // Not multipart at all: 400.
    let response = http()
        .post(app.url(&format!("/api/v1/clients/import?branch_id={}", agency.here)))
        .bearer_auth(owner)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let _ = agency.tenant;
}

#[tokio::test]
async fn a_client_lives_and_dies_over_http_on_sqlite() {
    let app = spawn_app().await;
    a_client_lives_and_dies_over_http(&app).await;
}

#[tokio::test]
async fn a_client_lives_and_dies_over_http_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    a_client_lives_and_dies_over_http(&app).await;
}

/// Each role × each endpoint, on a client of the Sales user's branch; then
/// an out-of-branch client for Sales and another tenant's client for all.
async fn the_authorization_matrix_holds(app: &TestApp) {
    let agency = agency(app).await;
    let (_, mine) = create(app, &agency.owner, agency.here, json!({ "name": "Mine" })).await;
    let mine = mine["client"]["id"].as_str().unwrap().to_owned();
    let (_, theirs) = create(
        app,
        &agency.owner,
        agency.there,
        json!({ "name": "Theirs" }),
    )
    .await;
    let theirs = theirs["client"]["id"].as_str().unwrap().to_owned();

    use StatusCode as S;
    // list, create, get, patch, delete, consents get, consents post, import
    let expected: [(Role, [S; 8]); 5] = [
        (
            Role::TenantSuperAdmin,
            [
                S::OK,
                S::CREATED,
                S::OK,
                S::OK,
                S::PRECONDITION_REQUIRED,
                S::OK,
                S::CREATED,
                S::OK,
            ],
        ),
        (
            Role::Admin,
            [
                S::OK,
                S::CREATED,
                S::OK,
                S::OK,
                S::PRECONDITION_REQUIRED,
                S::OK,
                S::CREATED,
                S::OK,
            ],
        ),
        (
            Role::Finance,
            [
                S::OK,
                S::FORBIDDEN,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
                S::OK,
                S::FORBIDDEN,
                S::FORBIDDEN,
            ],
        ),
        (
            Role::Sales,
            [
                S::OK,
                S::CREATED,
                S::OK,
                S::OK,
                S::FORBIDDEN,
                S::OK,
                S::CREATED,
                S::OK,
            ],
        ),
        (Role::Umrah, [S::FORBIDDEN; 8]),
    ];
    for (role, statuses) in expected {
        let token = &agency.tokens.iter().find(|(r, _)| *r == role).unwrap().1;
        let got = endpoints(app, token, &agency, &mine).await;
        assert_eq!(got, statuses, "{role:?}");
    }

    // Sales on a client of a branch outside their scope: every item
    // endpoint is 404, and creating or importing there is 404 too.
    let sales = &agency
        .tokens
        .iter()
        .find(|(r, _)| *r == Role::Sales)
        .unwrap()
        .1;
    let got = item_endpoints(app, sales, &theirs).await;
    assert_eq!(got, [S::NOT_FOUND; 5], "Sales, out of branch");
    let (status, _) = create(app, sales, agency.there, json!({ "name": "X" })).await;
    assert_eq!(status, S::NOT_FOUND);
    let (status, _) = upload(app, sales, agency.there, true, b"name\nX\n").await;
    assert_eq!(status, S::NOT_FOUND);
    let (status, _) = get(
        app,
        sales,
        &format!("/api/v1/clients?branch_id={}", agency.there),
    )
    .await;
    assert_eq!(status, S::NOT_FOUND);
    let (_, list) = get(app, sales, "/api/v1/clients").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["branch_id"] == json!(agency.here)),
        "Sales lists only their branch"
    );

    // Another tenant's client: 404 for every role, even the owner.
    for (role, token) in &agency.tokens {
        if *role == Role::Umrah {
            continue; // no access to clients at all: 403 before any lookup
        }
        let got = item_endpoints(app, token, &agency.foreign_client).await;
        assert_eq!(
            got,
            [S::NOT_FOUND; 5],
            "{role:?} on another tenant's client"
        );
    }
    // And the other tenant cannot reach ours.
    let got = item_endpoints(app, &agency.stranger, &mine).await;
    assert_eq!(got, [S::NOT_FOUND; 5]);
    let (status, _) = create(app, &agency.stranger, agency.here, json!({ "name": "X" })).await;
    assert_eq!(status, S::NOT_FOUND);
}

/// Statuses of list, create, get, patch, delete, consents get and post,
/// and import, for `token` on `client`.
async fn endpoints(app: &TestApp, token: &str, agency: &Agency, client: &str) -> [StatusCode; 8] {
    let list = get(app, token, "/api/v1/clients").await.0;
    let create = create(app, token, agency.here, json!({ "name": "New" }))
        .await
        .0;
    let [get, patch, delete, consents, consent] = item_endpoints(app, token, client).await;
    let import = upload(app, token, agency.here, true, b"name\nImported\n")
        .await
        .0;
    [list, create, get, patch, delete, consents, consent, import]
}

/// Statuses of get, patch, delete, consents get and post on `client`.
async fn item_endpoints(app: &TestApp, token: &str, client: &str) -> [StatusCode; 5] {
    let path = format!("/api/v1/clients/{client}");
    let got = get(app, token, &path).await.0;
    // The current version, read by whoever may (else 1).
    let version = get(app, token, &path).await.1["version"]
        .as_i64()
        .unwrap_or(1);
    let patch = http()
        .patch(app.url(&path))
        .bearer_auth(token)
        .json(&json!({ "version": version, "latin_name": "Edited" }))
        .send()
        .await
        .unwrap()
        .status();
    let delete = http()
        .delete(app.url(&path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status();
    let consents = get(app, token, &format!("{path}/consents")).await.0;
    let consent = http()
        .post(app.url(&format!("{path}/consents")))
        .bearer_auth(token)
        .json(&json!({ "channel": "email", "granted": true }))
        .send()
        .await
        .unwrap()
        .status();
    [got, patch, delete, consents, consent]
}

#[tokio::test]
async fn the_authorization_matrix_holds_on_sqlite() {
    let app = spawn_app().await;
    the_authorization_matrix_holds(&app).await;
}

#[tokio::test]
async fn the_authorization_matrix_holds_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    the_authorization_matrix_holds(&app).await;
}

#[tokio::test]
async fn an_import_may_be_larger_than_the_ordinary_body_limit_and_json_may_not() {
    let app = spawn_app().await;
    let agency = agency(&app).await;
    let mut csv = b"name,email,phone\n".to_vec();
    let mut n = 0u64;
    while csv.len() < 3 * 1024 * 1024 {
        n += 1;
        csv.extend_from_slice(format!("Client {n},client{n}@example.com,+9665{n:08}\n").as_bytes());
    }
    let (status, report) = upload(&app, &agency.owner, agency.here, true, &csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], n);
    assert_eq!(report["error_count"], 0);
    // An ordinary JSON body of that size is refused.
    let (status, problem) = create(
        &app,
        &agency.owner,
        agency.here,
        json!({ "name": "x".repeat(2 * 1024 * 1024) }),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
}

#[tokio::test]
async fn the_client_paths_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let (status, doc) = get(&app, "", "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/clients",
        "/api/v1/clients/{id}",
        "/api/v1/clients/{id}/consents",
        "/api/v1/clients/import",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

pub(crate) fn tms_server(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tms-server"))
        .args(args)
        .env_clear()
        .env("TMS_DATA_DIR", data_dir)
        .env("TMS_LOG", "warn")
        .output()
        .expect("tms-server runs")
}

#[test]
fn the_cli_imports_an_excel_export_and_refuses_a_file_with_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let init = tms_server(
        dir.path(),
        &[
            "init",
            "--slug",
            "al-noor",
            "--name",
            "Al Noor Travel",
            "--currency",
            "SAR",
            "--branch",
            "Riyadh",
            "--email",
            "owner@alnoor.example",
            "--owner-name",
            "Noor Owner",
        ],
    );
    assert!(init.status.success(), "{init:?}");
    let good = dir.path().join("clients.csv");
    std::fs::write(&good, EXCEL).unwrap();
    let path = good.to_str().unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import", "clients", path, "--tenant", "al-noor", "--branch", "riyadh",
        ];
        args.extend_from_slice(extra);
        tms_server(dir.path(), &args)
    };
    let dry = import(&["--dry-run"]);
    let text = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{dry:?}");
    assert!(
        text.contains("2 rows: 2 valid, 0 invalid (dry run)"),
        "{text}"
    );
    let done = import(&[]);
    let text = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{done:?}");
    assert!(text.contains("imported 2 clients"), "{text}");
    assert!(!text.contains("AB1234567"), "{text}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "name,email\nGood,g@example.com\n,not-mail\n").unwrap();
    let output = tms_server(
        dir.path(),
        &[
            "import",
            "clients",
            bad.to_str().unwrap(),
            "--tenant",
            "al-noor",
            "--branch",
            "Riyadh",
        ],
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(text.contains("row 3: name: is required"), "{text}");
    assert!(text.contains("row 3: email:"), "{text}");
    assert!(text.contains("nothing written"), "{text}");

    let output = tms_server(
        dir.path(),
        &[
            "import", "clients", path, "--tenant", "al-noor", "--branch", "Nowhere",
        ],
    );
    assert!(!output.status.success());
}
