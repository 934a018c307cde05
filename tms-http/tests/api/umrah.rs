//! `/api/v1/umrah/…`: a group's life with pilgrims, families, rooming and
//! the manifest; the authorization matrix of the Umrah resources; rooming
//! capacity under concurrent requests — on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tms_core::domain::{BranchScope, Role};
use tms_core::id::{BranchId, TenantId};
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{TestApp, login, spawn_app, spawn_app_on_postgres};

const PASSPORT: &str = "AB1234567";

fn client() -> reqwest::Client {
    crate::helpers::http()
}

async fn owner_token(app: &TestApp) -> String {
    let password = app.first_run_password.clone().unwrap();
    login(app, DEMO_SLUG, DEMO_EMAIL, &password).await
}

async fn demo_tenant(app: &TestApp) -> TenantId {
    let store = app.store.clone().into_dyn();
    let mut uow = store.begin().await.unwrap();
    let slug = tms_core::domain::TenantSlug::parse(DEMO_SLUG).unwrap();
    let tenant = uow.tenants().find_by_slug(&slug).await.unwrap().unwrap();
    uow.rollback().await.unwrap();
    tenant.id
}

/// Stores a user of `role` and `scope` in the demo tenant; their token.
async fn user_token(app: &TestApp, role: Role, scope: BranchScope, email: &str) -> String {
    let tenant = demo_tenant(app).await;
    crate::helpers::add_staff(app, tenant, role, scope, email).await
}

async fn first_branch(app: &TestApp, token: &str) -> String {
    let list: Value = client()
        .get(app.url("/api/v1/branches"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn new_branch(app: &TestApp, token: &str) -> String {
    let body: Value = client()
        .post(app.url("/api/v1/branches"))
        .bearer_auth(token)
        .json(&json!({ "name": "Lahore office" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

async fn create_group(app: &TestApp, token: &str, branch: &str, capacity: u32) -> String {
    let (status, body) = send(
        app,
        token,
        reqwest::Method::POST,
        "/api/v1/umrah/groups",
        Some(json!({
            "branch_id": branch,
            "name": "قافلة رمضان",
            "season": "1448H",
            "departure_date": "2027-02-10",
            "return_date": "2027-02-24",
            "leader_name": "Sheikh Yusuf",
            "capacity": capacity,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "planning");
    body["id"].as_str().unwrap().to_owned()
}

fn pilgrim_body(latin: &str, gender: &str, born: &str, passport: &str) -> Value {
    json!({
        "name": "محمد عبد الرحمن",
        "latin_name": latin,
        "gender": gender,
        "date_of_birth": born,
        "nationality": "pk",
        "passport_number": passport,
        "passport_expiry": "2030-01-31",
    })
}

async fn add_pilgrim(app: &TestApp, token: &str, group: &str, body: Value) -> Value {
    let (status, out) = send(
        app,
        token,
        reqwest::Method::POST,
        &format!("/api/v1/umrah/groups/{group}/pilgrims"),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    out
}

// ------------------------------------------------------------ the flow

#[tokio::test]
async fn a_group_is_filled_roomed_closed_and_exported_on_sqlite() {
    let app = spawn_app().await;
    group_flow(&app).await;
}

#[tokio::test]
async fn a_group_is_filled_roomed_closed_and_exported_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    group_flow(&app).await;
}

async fn group_flow(app: &TestApp) {
    let token = owner_token(app).await;
    let branch = first_branch(app, &token).await;
    let group = create_group(app, &token, &branch, 10).await;
    let base = format!("/api/v1/umrah/groups/{group}");

    let husband = add_pilgrim(
        app,
        &token,
        &group,
        pilgrim_body("Abdul Rahman", "male", "1985-03-01", "ab-123 4567"),
    )
    .await;
    assert_eq!(husband["passport_number_hint"], "…67");
    assert!(!husband.to_string().contains(PASSPORT), "{husband}");
    let mut wife_body = pilgrim_body("Amina Rahman", "female", "1990-07-12", "CD7654321");
    wife_body["passport_expiry"] = json!("2027-05-01");
    let wife = add_pilgrim(app, &token, &group, wife_body).await;
    assert_eq!(wife["needs_mahram"], true);
    assert_eq!(wife["passport_expires_too_soon"], true);
    let alone = add_pilgrim(
        app,
        &token,
        &group,
        pilgrim_body("Sara Ahmed", "female", "1995-01-01", "EF1112223"),
    )
    .await;
    let (husband_id, wife_id, alone_id) = (
        husband["id"].as_str().unwrap(),
        wife["id"].as_str().unwrap(),
        alone["id"].as_str().unwrap(),
    );

    // The same passport twice in a group is refused; invalid fields are all listed.
    let (status, problem) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/pilgrims"),
        Some(pilgrim_body("Abdul Rahman", "male", "1985-03-01", PASSPORT)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/pilgrims"),
        Some(pilgrim_body("عربي", "other", "1985-13-01", "1")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["latin_name", "gender", "date_of_birth", "passport_number"],
        "{problem}"
    );

    // Exact lookup by passport number through the blind index.
    let (status, found) = send(
        app,
        &token,
        reqwest::Method::GET,
        "/api/v1/umrah/pilgrims?passport_number=AB1234567",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], husband_id);

    // A family with its head; the wife's mahram is her husband.
    let (status, family) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/families"),
        Some(json!({ "name": "آل رحمن", "head_pilgrim_id": husband_id, "members": [wife_id] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{family}");
    let family_id = family["id"].as_str().unwrap().to_owned();
    let (status, again) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/families"),
        Some(json!({ "name": "Other", "members": [wife_id] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
    let (status, wife) = send(
        app,
        &token,
        reqwest::Method::PATCH,
        &format!("/api/v1/umrah/pilgrims/{wife_id}"),
        Some(json!({ "mahram_id": husband_id, "mahram_relation": "husband" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{wife}");
    assert_eq!(wife["family_id"], family_id.as_str());

    // Closing lists every woman without a mahram; only allowed moves pass.
    let transition = |to: &'static str| {
        let path = format!("{base}/transitions");
        let token = token.clone();
        async move {
            send(
                app,
                &token,
                reqwest::Method::POST,
                &path,
                Some(json!({ "status": to })),
            )
            .await
        }
    };
    let (status, _) = transition("departed").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = transition("open").await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = transition("closed").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 1, "{problem}");
    assert!(problem.to_string().contains("SARA AHMED"), "{problem}");
    let (status, _) = send(
        app,
        &token,
        reqwest::Method::DELETE,
        &format!("/api/v1/umrah/pilgrims/{alone_id}"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a draft pilgrim is removed at once"
    );
    let (status, closed) = transition("closed").await;
    assert_eq!(status, StatusCode::OK, "{closed}");

    // Rooming: a double for the couple (one family may mix genders).
    let room = |hotel: &str, city: &str, room_type: &str| json!({ "hotel": hotel, "city": city, "room_type": room_type, "room_number": "1204" });
    let (status, double) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/rooms"),
        Some(room("Hilton Makkah", "makkah", "double")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{double}");
    let double_id = double["id"].as_str().unwrap().to_owned();
    let (status, single) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/rooms"),
        Some(room("Hilton Makkah", "makkah", "single")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "same hotel, city and number: {single}"
    );
    let (status, single) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("{base}/rooms"),
        Some(json!({ "hotel": "Hilton Makkah", "city": "makkah", "room_type": "single" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{single}");
    let single_id = single["id"].as_str().unwrap().to_owned();
    let (status, problem) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/umrah/rooms/{single_id}/assignments"),
        Some(json!({ "pilgrim_id": husband_id })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the family is kept together: {problem}"
    );
    let (status, placed) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/umrah/rooms/{double_id}/assignments"),
        Some(json!({ "family_id": family_id })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["occupants"].as_array().unwrap().len(), 2);
    let (status, _) = send(
        app,
        &token,
        reqwest::Method::POST,
        &format!("/api/v1/umrah/rooms/{double_id}/assignments"),
        Some(json!({ "pilgrim_id": husband_id })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "one room per city");

    // The manifest: CSV with full passport numbers, audited.
    let response = client()
        .get(app.url(&format!("{base}/manifest.csv")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "latin_name,name,gender,date_of_birth,nationality,passport_number,passport_expiry,\
         passport_expires_too_soon,visa_status,visa_number,family,room_makkah,room_madinah"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(
        lines[1],
        "ABDUL RAHMAN,محمد عبد الرحمن,male,1985-03-01,PK,AB1234567,2030-01-31,false,not_applied,,آل رحمن,Hilton Makkah 1204 (double),"
    );
    assert!(
        lines[2].starts_with("AMINA RAHMAN,") && lines[2].contains(",CD7654321,2027-05-01,true,")
    );

    // The audit log has every step, and never a passport number in clear.
    let tenant = demo_tenant(app).await;
    let store = app.store.clone().into_dyn();
    let mut uow = store.begin().await.unwrap();
    let events = uow.audit().read(tenant, 0, 500).await.unwrap();
    uow.rollback().await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    for expected in [
        "umrah.group.created",
        "umrah.pilgrim.added",
        "umrah.family.created",
        "umrah.pilgrim.updated",
        "umrah.group.transitioned",
        "umrah.pilgrim.deleted",
        "umrah.room.created",
        "umrah.room.assigned",
        "umrah.manifest.exported",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing: {actions:?}"
        );
    }
    let dump = serde_json::to_string(&events).unwrap();
    for number in [PASSPORT, "CD7654321", "EF1112223"] {
        assert!(!dump.contains(number), "{number} in the audit log");
    }
    assert!(dump.contains("…67"));
}

// ------------------------------------------------------------ authorization

#[tokio::test]
async fn the_umrah_authorization_matrix_holds_on_sqlite() {
    let app = spawn_app().await;
    authorization_matrix(&app).await;
}

#[tokio::test]
async fn the_umrah_authorization_matrix_holds_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    authorization_matrix(&app).await;
}

/// DESIGN.md §3 for the Umrah class: Tenant Super Admin, Admin and Umrah
/// RCUDX; Finance and Sales R. Every role × endpoint.
async fn authorization_matrix(app: &TestApp) {
    let owner = owner_token(app).await;
    let branch = first_branch(app, &owner).await;
    let roles = [
        ("tenant_super_admin", owner.clone(), true),
        (
            "admin",
            user_token(app, Role::Admin, BranchScope::All, "admin@demo.example").await,
            true,
        ),
        (
            "umrah",
            user_token(app, Role::Umrah, BranchScope::All, "umrah@demo.example").await,
            true,
        ),
        (
            "finance",
            user_token(app, Role::Finance, BranchScope::All, "finance@demo.example").await,
            false,
        ),
        (
            "sales",
            user_token(app, Role::Sales, BranchScope::All, "sales@demo.example").await,
            false,
        ),
    ];
    use reqwest::Method as M;
    for (role, token, writes) in &roles {
        // A fresh group of the owner's for each role, with one pilgrim and a room.
        let group = create_group(app, &owner, &branch, 20).await;
        let pilgrim = add_pilgrim(
            app,
            &owner,
            &group,
            pilgrim_body("Bilal Khan", "male", "1980-01-01", "PK0000001"),
        )
        .await;
        let pilgrim = pilgrim["id"].as_str().unwrap().to_owned();
        let (_, room) = send(
            app,
            &owner,
            M::POST,
            &format!("/api/v1/umrah/groups/{group}/rooms"),
            Some(json!({ "hotel": "Anwar Al Madinah", "city": "madinah", "room_type": "quad" })),
        )
        .await;
        let room = room["id"].as_str().unwrap().to_owned();
        let g = format!("/api/v1/umrah/groups/{group}");
        let p = format!("/api/v1/umrah/pilgrims/{pilgrim}");
        let r = format!("/api/v1/umrah/rooms/{room}");
        let write = |ok: StatusCode| if *writes { ok } else { StatusCode::FORBIDDEN };
        let cases: Vec<(M, String, Option<Value>, StatusCode)> = vec![
            (M::GET, "/api/v1/umrah/groups".into(), None, StatusCode::OK),
            (M::GET, g.clone(), None, StatusCode::OK),
            (M::GET, format!("{g}/pilgrims"), None, StatusCode::OK),
            (M::GET, format!("{g}/families"), None, StatusCode::OK),
            (M::GET, format!("{g}/rooms"), None, StatusCode::OK),
            (M::GET, p.clone(), None, StatusCode::OK),
            (M::GET, format!("{r}/assignments"), None, StatusCode::OK),
            (
                M::GET,
                "/api/v1/umrah/pilgrims?passport_number=PK0000001".into(),
                None,
                StatusCode::OK,
            ),
            (
                M::POST,
                "/api/v1/umrah/groups".into(),
                Some(json!({
                    "branch_id": branch, "name": "G", "season": "2027",
                    "departure_date": "2027-03-01", "return_date": "2027-03-15", "capacity": 5
                })),
                write(StatusCode::CREATED),
            ),
            (
                M::PATCH,
                g.clone(),
                Some(json!({ "capacity": 30 })),
                write(StatusCode::OK),
            ),
            (
                M::POST,
                format!("{g}/pilgrims"),
                Some(pilgrim_body("Omar Khan", "male", "1970-01-01", "PK0000002")),
                write(StatusCode::CREATED),
            ),
            (
                M::PATCH,
                p.clone(),
                Some(json!({ "visa_status": "applied" })),
                write(StatusCode::OK),
            ),
            (
                M::POST,
                format!("{g}/families"),
                Some(json!({ "name": "Khan", "head_pilgrim_id": pilgrim })),
                write(StatusCode::CREATED),
            ),
            (
                M::POST,
                format!("{g}/rooms"),
                Some(json!({ "hotel": "Dar Al Tawhid", "city": "makkah", "room_type": "triple" })),
                write(StatusCode::CREATED),
            ),
            (
                M::POST,
                format!("{r}/assignments"),
                Some(json!({ "pilgrim_id": pilgrim })),
                write(StatusCode::CREATED),
            ),
            (
                M::DELETE,
                format!("{r}/assignments/{pilgrim}"),
                None,
                write(StatusCode::NO_CONTENT),
            ),
            (
                M::GET,
                format!("{g}/manifest.csv"),
                None,
                write(StatusCode::OK),
            ),
            (
                M::POST,
                format!("{g}/transitions"),
                Some(json!({ "status": "open" })),
                write(StatusCode::OK),
            ),
            (M::DELETE, p.clone(), None, write(StatusCode::NO_CONTENT)),
        ];
        for (method, path, body, expected) in cases {
            let (status, answer) = send(app, token, method.clone(), &path, body).await;
            assert_eq!(status, expected, "{role} {method} {path}: {answer}");
        }
    }

    // Deleting an open group is critical: 428, then the token does it.
    let group = create_group(app, &owner, &branch, 5).await;
    let g = format!("/api/v1/umrah/groups/{group}");
    let (status, _) = send(
        app,
        &owner,
        M::POST,
        &format!("{g}/transitions"),
        Some(json!({ "status": "open" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = send(app, &owner, M::DELETE, &g, None).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{problem}");
    let token = problem["confirmation_token"].as_str().unwrap();
    let response = client()
        .delete(app.url(&g))
        .bearer_auth(&owner)
        .header("Tms-Confirm", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = send(app, &owner, M::GET, &g, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn other_tenants_and_other_branches_records_are_404_on_sqlite() {
    let app = spawn_app().await;
    hidden_records_are_404(&app).await;
}

#[tokio::test]
async fn other_tenants_and_other_branches_records_are_404_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    hidden_records_are_404(&app).await;
}

async fn hidden_records_are_404(app: &TestApp) {
    use reqwest::Method as M;
    let owner = owner_token(app).await;
    let head_office = first_branch(app, &owner).await;
    let lahore = new_branch(app, &owner).await;

    // A group in each branch of the demo tenant.
    let here = create_group(app, &owner, &head_office, 5).await;
    let there = create_group(app, &owner, &lahore, 5).await;
    let pilgrim_there = add_pilgrim(
        app,
        &owner,
        &there,
        pilgrim_body("Hamza Ali", "male", "1975-05-05", "LH9990001"),
    )
    .await;
    let pilgrim_there = pilgrim_there["id"].as_str().unwrap().to_owned();
    let (_, room_there) = send(
        app,
        &owner,
        M::POST,
        &format!("/api/v1/umrah/groups/{there}/rooms"),
        Some(json!({ "hotel": "Pullman Zamzam", "city": "makkah", "room_type": "double" })),
    )
    .await;
    let room_there = room_there["id"].as_str().unwrap().to_owned();

    // Another tenant's group, pilgrim and room, made through its own owner.
    let (other, other_token) = crate::helpers::stranger(app, "other").await;
    let foreign = create_group(app, &other_token, &other.branch.id.to_string(), 5).await;
    let foreign_pilgrim = add_pilgrim(
        app,
        &other_token,
        &foreign,
        pilgrim_body("Foreign One", "male", "1970-01-01", "LH9990001"),
    )
    .await;
    let foreign_pilgrim = foreign_pilgrim["id"].as_str().unwrap().to_owned();
    let (_, foreign_room) = send(
        app,
        &other_token,
        M::POST,
        &format!("/api/v1/umrah/groups/{foreign}/rooms"),
        Some(json!({ "hotel": "Elaf", "city": "madinah", "room_type": "double" })),
    )
    .await;
    let foreign_room = foreign_room["id"].as_str().unwrap().to_owned();

    // An Umrah officer of the head office only.
    let head_office_id: BranchId = head_office.parse().unwrap();
    let officer = user_token(
        app,
        Role::Umrah,
        BranchScope::only([head_office_id]),
        "officer@demo.example",
    )
    .await;

    let hidden = |group: &str, pilgrim: &str, room: &str| -> Vec<(M, String, Option<Value>)> {
        let g = format!("/api/v1/umrah/groups/{group}");
        let p = format!("/api/v1/umrah/pilgrims/{pilgrim}");
        let r = format!("/api/v1/umrah/rooms/{room}");
        vec![
            (M::GET, g.clone(), None),
            (M::PATCH, g.clone(), Some(json!({ "capacity": 9 }))),
            (M::DELETE, g.clone(), None),
            (
                M::POST,
                format!("{g}/transitions"),
                Some(json!({ "status": "open" })),
            ),
            (M::GET, format!("{g}/pilgrims"), None),
            (
                M::POST,
                format!("{g}/pilgrims"),
                Some(pilgrim_body("X Y", "male", "1970-01-01", "ZZ1234567")),
            ),
            (M::GET, format!("{g}/families"), None),
            (
                M::POST,
                format!("{g}/families"),
                Some(json!({ "name": "F" })),
            ),
            (M::GET, format!("{g}/rooms"), None),
            (
                M::POST,
                format!("{g}/rooms"),
                Some(json!({ "hotel": "H", "city": "makkah", "room_type": "single" })),
            ),
            (M::GET, format!("{g}/manifest.csv"), None),
            (M::GET, p.clone(), None),
            (
                M::PATCH,
                p.clone(),
                Some(json!({ "visa_status": "applied" })),
            ),
            (M::DELETE, p.clone(), None),
            (M::GET, format!("{r}/assignments"), None),
            (
                M::POST,
                format!("{r}/assignments"),
                Some(json!({ "pilgrim_id": pilgrim })),
            ),
            (M::DELETE, format!("{r}/assignments/{pilgrim}"), None),
        ]
    };
    for (method, path, body) in hidden(&foreign, &foreign_pilgrim, &foreign_room) {
        let (status, answer) = send(app, &owner, method.clone(), &path, body).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "other tenant {method} {path}: {answer}"
        );
    }
    for (method, path, body) in hidden(&there, &pilgrim_there, &room_there) {
        let (status, answer) = send(app, &officer, method.clone(), &path, body).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "other branch {method} {path}: {answer}"
        );
    }
    // Creating a group in a branch one does not see is the same.
    let (status, _) = send(
        app,
        &officer,
        M::POST,
        "/api/v1/umrah/groups",
        Some(json!({
            "branch_id": lahore, "name": "G", "season": "2027",
            "departure_date": "2027-03-01", "return_date": "2027-03-15", "capacity": 5
        })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Lists and the passport lookup keep to the tenant and the branches.
    let (_, list) = send(app, &officer, M::GET, "/api/v1/umrah/groups", None).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [here.as_str()]);
    let (_, found) = send(
        app,
        &owner,
        M::GET,
        "/api/v1/umrah/pilgrims?passport_number=LH9990001",
        None,
    )
    .await;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pilgrim_there.as_str()], "not the other tenant's twin");
    let (_, found) = send(
        app,
        &officer,
        M::GET,
        "/api/v1/umrah/pilgrims?passport_number=LH9990001",
        None,
    )
    .await;
    assert!(found["items"].as_array().unwrap().is_empty());
}

// ------------------------------------------------------------ concurrency

#[tokio::test]
async fn concurrent_assignments_never_overfill_a_room_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    use reqwest::Method as M;
    let owner = owner_token(&app).await;
    let branch = first_branch(&app, &owner).await;
    let group = create_group(&app, &owner, &branch, 40).await;
    let mut pilgrims = Vec::new();
    for i in 0..16 {
        let p = add_pilgrim(
            &app,
            &owner,
            &group,
            pilgrim_body("Yusuf Ali", "male", "1980-01-01", &format!("QQ{i:07}")),
        )
        .await;
        pilgrims.push(p["id"].as_str().unwrap().to_owned());
    }
    let (_, room) = send(
        &app,
        &owner,
        M::POST,
        &format!("/api/v1/umrah/groups/{group}/rooms"),
        Some(json!({ "hotel": "Makkah Towers", "city": "makkah", "room_type": "quint" })),
    )
    .await;
    let room = room["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/api/v1/umrah/rooms/{room}/assignments"));
    let requests = pilgrims.iter().map(|p| {
        let (url, owner) = (url.clone(), owner.clone());
        let body = json!({ "pilgrim_id": p });
        tokio::spawn(async move {
            client()
                .post(url)
                .bearer_auth(owner)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let mut created = 0;
    let mut others = Vec::new();
    for task in requests.collect::<Vec<_>>() {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            other => others.push(other),
        }
    }
    assert_eq!(created, 5, "a quint sleeps five; others: {others:?}");
    assert!(
        others
            .iter()
            .all(|s| *s == StatusCode::CONFLICT || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{others:?}"
    );
    let (_, view) = send(
        &app,
        &owner,
        M::GET,
        &format!("/api/v1/umrah/rooms/{room}"),
        None,
    )
    .await;
    assert_eq!(view["occupants"].as_array().unwrap().len(), 5);
}

// ------------------------------------------------------------ import

/// A `multipart/form-data` body with the CSV in a part named `file`.
fn upload(csv: &str) -> (String, Vec<u8>) {
    let boundary = "tms-umrah-boundary-7d1f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pilgrims.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(csv.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_import(
    app: &TestApp,
    token: &str,
    group: &str,
    query: &str,
    csv: &str,
) -> (StatusCode, Value) {
    let (content_type, body) = upload(csv);
    let response = client()
        .post(app.url(&format!(
            "/api/v1/umrah/groups/{group}/pilgrims/import{query}"
        )))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pilgrims_are_imported_from_a_multipart_csv_on_sqlite() {
    let app = spawn_app().await;
    import_over_http(&app).await;
}

#[tokio::test]
async fn pilgrims_are_imported_from_a_multipart_csv_on_postgresql() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    import_over_http(&app).await;
}

async fn import_over_http(app: &TestApp) {
    let owner = owner_token(app).await;
    let branch = first_branch(app, &owner).await;
    let group = create_group(app, &owner, &branch, 10).await;
    let csv = "\u{FEFF}Name;Latin Name;Sex;DOB;Nationality;Passport No;Passport Expiry\r\n\
               خديجة;Khadija Umar;F;12/03/1962;SA;KU0000001;2031-01-01\r\n\
               عمر;Umar Farooq;M;1960-01-01;SA;UF0000001;2031-01-01\r\n";

    let (status, report) = post_import(app, &owner, &group, "?dry_run=true", csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], 2);
    assert_eq!(report["committed"], false);

    let bad = format!("{csv}X;Bad Row;Q;1960-01-01;SA;KU0000001;2031-01-01\r\n");
    let (status, report) = post_import(app, &owner, &group, "", &bad).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["committed"], false);
    assert_eq!(report["errors"][0]["row"], 4, "{report}");

    let (status, report) = post_import(app, &owner, &group, "", csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["committed"], true);
    assert_eq!(report["written"], 2);
    let (_, list) = send(
        app,
        &owner,
        reqwest::Method::GET,
        &format!("/api/v1/umrah/groups/{group}/pilgrims"),
        None,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    let (status, problem) =
        post_import(app, &owner, &group, "", "Name;Email\r\n\"unclosed;x\r\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let sales = user_token(app, Role::Sales, BranchScope::All, "sales@demo.example").await;
    let (status, _) = post_import(app, &sales, &group, "", csv).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post_import(app, &owner, &uuid::Uuid::now_v7().to_string(), "", csv).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_cli_imports_pilgrims_into_a_group() {
    let app = spawn_app().await;
    let owner = owner_token(&app).await;
    let branch = first_branch(&app, &owner).await;
    let group = create_group(&app, &owner, &branch, 10).await;
    let file = app.data_dir.path().join("pilgrims.csv");
    std::fs::write(
        &file,
        "\u{FEFF}Name;Latin Name;Sex;DOB;Nationality;Passport No;Passport Expiry\r\n\
         خديجة;Khadija Umar;F;12/03/1962;SA;KU0000001;2031-01-01\r\n\
         عمر;Umar Farooq;M;1960-01-01;SA;UF0000001;2031-01-01\r\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "pilgrims",
            file.to_str().unwrap(),
            "--tenant",
            DEMO_SLUG,
            "--group",
            group.as_str(),
        ];
        args.extend_from_slice(extra);
        crate::clients::tms_server(app.data_dir.path(), &args)
    };

    let dry = run(&["--dry-run"]);
    let text = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{dry:?}");
    assert!(
        text.contains("2 rows: 2 valid, 0 invalid (dry run)"),
        "{text}"
    );

    let done = run(&[]);
    let text = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(done.status.success(), "{done:?}");
    assert!(text.contains("imported 2 pilgrims"), "{text}");
    assert!(!text.contains("KU0000001"), "{text}");
    let (_, list) = send(
        &app,
        &owner,
        reqwest::Method::GET,
        &format!("/api/v1/umrah/groups/{group}/pilgrims"),
        None,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // The same passports again: refused row by row, nothing written.
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    let unknown = crate::clients::tms_server(
        app.data_dir.path(),
        &[
            "import",
            "pilgrims",
            file.to_str().unwrap(),
            "--tenant",
            DEMO_SLUG,
            "--group",
            "not-a-group",
        ],
    );
    assert!(!unknown.status.success());
}

#[tokio::test]
async fn a_group_names_only_a_package_of_the_agency() {
    let app = spawn_app().await;
    let owner = owner_token(&app).await;
    let branch = first_branch(&app, &owner).await;
    let (status, problem) = send(
        &app,
        &owner,
        reqwest::Method::POST,
        "/api/v1/umrah/groups",
        Some(json!({
            "branch_id": branch,
            "name": "Ramadan",
            "season": "1448H",
            "package_id": uuid::Uuid::now_v7().to_string(),
            "departure_date": "2027-02-10",
            "return_date": "2027-02-24",
            "capacity": 10,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "package_id", "{problem}");
}
