//! The tenant's own mail connections over HTTP (issue 9): Gmail through
//! OAuth 2.0 against a loopback peer that follows Google's token, revoke
//! and profile endpoint shapes (and checks PKCE), mail sent with XOAUTH2 to
//! a real SMTP server (aiosmtpd, `tms-adapters/tests/mail/smtp_sink.py`),
//! per-tenant SMTP for two tenants, and who may do what.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest as _;
use tms_adapters::mail::{GoogleOAuthConfig, SmtpTls};
use tms_core::domain::Role;
use tms_core::security::secret::Secret;
use tms_http::config::Config;
use tms_http::mail_routes::GmailConfig;
use tms_http::setup::{DEMO_EMAIL, DEMO_SLUG};

use crate::helpers::{Db, OWNER_PASSWORD, PgDatabase, TestApp, audit_actions, http, login, spawn};

// ----- the SMTP sink ---------------------------------------------------

#[path = "../../../tms-adapters/tests/mail/sink.rs"]
pub(crate) mod sink;
use sink::{Sink, start_sink};

/// Waits (at most 20 s) for `n` messages in the sink; returns each one's
/// (message, login line).
pub(crate) async fn received(sink: &Sink, n: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut out: Vec<(PathBuf, String, String)> = std::fs::read_dir(&sink.maildir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| {
                let eml = std::fs::read_to_string(&p).unwrap_or_default();
                let auth = std::fs::read_to_string(p.with_extension("auth")).unwrap_or_default();
                (p, eml, auth)
            })
            .collect();
        if out.len() >= n || Instant::now() > deadline {
            out.sort_by(|a, b| a.0.cmp(&b.0));
            return out.into_iter().map(|(_, e, a)| (e, a)).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ----- the Google peer -------------------------------------------------

const CLIENT_ID: &str = "tms-test.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "peer-client-secret";
const ACCOUNT: &str = "al-noor.travel@gmail.example";
/// The account a reconnect with a code starting `other-` signs in as.
const OTHER_ACCOUNT: &str = "al-noor.bookings@gmail.example";

/// Google's endpoints on a loopback port: token (authorization code with
/// PKCE, refresh), revoke, Gmail profile.
#[derive(Default)]
pub(crate) struct Peer {
    /// code -> the PKCE challenge of the authorization URL it answers.
    pub(crate) codes: Mutex<HashMap<String, String>>,
    /// Refreshes are refused with invalid_grant.
    refuse_refresh: AtomicBool,
    refreshes: AtomicU32,
    pub(crate) revoked: Mutex<Vec<String>>,
    /// Every form posted to the token endpoint.
    token_forms: Mutex<Vec<HashMap<String, String>>>,
}

fn form(body: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn oauth_error(code: &str) -> axum::response::Response {
    (
        AxumStatus::BAD_REQUEST,
        axum::Json(json!({"error": code, "error_description": "refused by the test peer"})),
    )
        .into_response()
}

fn client_authenticated(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn token(
    State(peer): State<Arc<Peer>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error("invalid_request");
    }
    if !client_authenticated(&headers) {
        return oauth_error("invalid_client");
    }
    let fields = form(&body);
    peer.token_forms.lock().unwrap().push(fields.clone());
    match fields.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = fields.get("code").cloned().unwrap_or_default();
            let Some(challenge) = peer.codes.lock().unwrap().remove(&code) else {
                return oauth_error("invalid_grant");
            };
            let verifier = fields.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if computed != challenge {
                return oauth_error("invalid_grant");
            }
            // An access token about to expire: the first send refreshes it.
            // A code starting `other-` is another Google account's grant.
            let (access, refresh) = if code.starts_with("other-") {
                ("access-other", "refresh-2")
            } else {
                ("access-initial", "refresh-1")
            };
            axum::Json(json!({
                "access_token": access,
                "expires_in": 60,
                "refresh_token": refresh,
                "scope": "https://mail.google.com/",
                "token_type": "Bearer",
            }))
            .into_response()
        }
        Some("refresh_token") => {
            if peer.refuse_refresh.load(Ordering::SeqCst)
                || fields.get("refresh_token").map(String::as_str) != Some("refresh-1")
            {
                return oauth_error("invalid_grant");
            }
            let n = peer.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            axum::Json(json!({
                "access_token": format!("access-refreshed-{n}"),
                "expires_in": 3599,
                "scope": "https://mail.google.com/",
                "token_type": "Bearer",
            }))
            .into_response()
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn revoke(
    State(peer): State<Arc<Peer>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error("invalid_request");
    }
    let fields = form(&body);
    match fields.get("token") {
        Some(token) => {
            peer.revoked.lock().unwrap().push(token.clone());
            AxumStatus::OK.into_response()
        }
        None => oauth_error("invalid_request"),
    }
}

async fn profile(headers: HeaderMap) -> axum::response::Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !bearer.starts_with("Bearer access-") {
        return AxumStatus::UNAUTHORIZED.into_response();
    }
    let account = if bearer == "Bearer access-other" {
        OTHER_ACCOUNT
    } else {
        ACCOUNT
    };
    axum::Json(json!({"emailAddress": account, "messagesTotal": 1, "historyId": "1"}))
        .into_response()
}

/// Starts the peer; its base URL.
pub(crate) async fn start_peer(peer: Arc<Peer>) -> String {
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route("/revoke", axum::routing::post(revoke))
        .route("/profile", axum::routing::get(profile))
        .with_state(peer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

pub(crate) fn gmail_config(peer: &str, sink_port: u16) -> GmailConfig {
    let mut google = GoogleOAuthConfig::new(
        CLIENT_ID,
        Secret::new(CLIENT_SECRET.to_owned()),
        "http://127.0.0.1/api/v1/mail/gmail/callback",
    );
    google.auth_url = format!("{peer}/auth");
    google.token_url = format!("{peer}/token");
    google.revoke_url = format!("{peer}/revoke");
    google.profile_url = format!("{peer}/profile");
    GmailConfig {
        google: Some(google),
        smtp_host: "127.0.0.1".to_owned(),
        smtp_port: sink_port,
        smtp_tls: SmtpTls::None,
        // --- mail ops (issue 10) ---
        // A loopback URL (the Google peer answers it 404), never Google's:
        // tests that read mailboxes point it at their Gmail API peer.
        api_url: format!("{peer}/gmail/v1/users/me"),
    }
}

pub(crate) fn fast_worker(config: &mut Config) {
    config.mail.poll = Duration::from_millis(50);
}

async fn app_on(db: &str, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let db = match db {
        "postgres" => Db::Postgres(PgDatabase::create().await?),
        _ => Db::Sqlite,
    };
    Some(spawn(db, tempfile::tempdir().unwrap(), tweak).await)
}

async fn request_reset(app: &TestApp, slug: &str, email: &str) {
    let response = http()
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({ "tenant": slug, "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

/// The sealed bytes of the tenant secret `name`, read with plain SQL.
async fn stored_secret(app: &TestApp, name: &str) -> Option<Vec<u8>> {
    use sqlx::Connection as _;
    // `name` is a constant of the test, not input.
    let sql = format!("SELECT sealed FROM tenant_secrets WHERE name = '{name}'");
    match &app.database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&mut conn)
                .await
                .unwrap()
        }
        None => {
            let url = format!("sqlite://{}", app.data_dir.path().join("tms.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&mut conn)
                .await
                .unwrap()
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

pub(crate) fn query_of(url: &str) -> HashMap<String, String> {
    form(url.split_once('?').map(|(_, q)| q).unwrap_or_default())
}

pub(crate) async fn callback(
    app: &TestApp,
    token: &str,
    code: &str,
    state: &str,
) -> reqwest::Response {
    http()
        .get(app.url(&format!(
            "/api/v1/mail/gmail/callback?code={code}&state={state}"
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn gmail_connect_send_and_disconnect(db: &str) {
    let Some(sink) = start_sink() else { return };
    let peer = Arc::new(Peer::default());
    let base = start_peer(peer.clone()).await;
    let config = gmail_config(&base, sink.port);
    let Some(app) = app_on(db, |c| {
        fast_worker(c);
        c.gmail = config;
    })
    .await
    else {
        return;
    };
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;

    // A flow started and abandoned: starting again replaces it.
    let abandoned: Value = http()
        .post(app.url("/api/v1/mail/gmail/connect"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let abandoned = query_of(abandoned["authorization_url"].as_str().unwrap());

    // Start: the URL carries PKCE S256, a state, the least scope, offline
    // access and consent.
    let response = http()
        .post(app.url("/api/v1/mail/gmail/connect"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let url = body["authorization_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{base}/auth?")), "{url}");
    let query = query_of(url);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["scope"], "https://mail.google.com/");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["prompt"], "consent");
    let state = query["state"].clone();
    // Google's consent screen, played by the test: a code for this
    // challenge.
    peer.codes
        .lock()
        .unwrap()
        .insert("code-1".into(), query["code_challenge"].clone());

    // A wrong state is refused and nothing is stored; so is the state of
    // the replaced flow.
    let response = callback(&app, &owner, "code-1", "not-the-state").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = callback(&app, &owner, "code-1", &abandoned["state"]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(stored_secret(&app, "mail.gmail").await.is_none());
    assert!(
        peer.token_forms.lock().unwrap().is_empty(),
        "no code exchanged"
    );

    // The right one connects.
    let response = callback(&app, &owner, "code-1", &state).await;
    let text = response.text().await.unwrap();
    let status: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status["connected"], true, "{text}");
    assert_eq!(status["address"], ACCOUNT);
    assert_eq!(status["scopes"], json!(["https://mail.google.com/"]));
    assert!(
        !text.contains("access-") && !text.contains("refresh-"),
        "{text}"
    );
    {
        let forms = peer.token_forms.lock().unwrap();
        assert_eq!(forms[0]["grant_type"], "authorization_code");
        assert_eq!(
            forms[0]["redirect_uri"],
            "http://127.0.0.1/api/v1/mail/gmail/callback"
        );
    }
    // Single use: the same state again is refused.
    let response = callback(&app, &owner, "code-1", &state).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Tokens at rest are sealed.
    let sealed = stored_secret(&app, "mail.gmail").await.expect("stored");
    // --- mail ops (issue 10) ---
    // The Mail Ops sync worker may refresh the token as soon as Gmail is
    // connected, before this snapshot: read after it, a count of 0 means
    // the snapshot holds the first token (the peer counts a refresh before
    // the server seals its result).
    let sealed_before_refresh = peer.refreshes.load(Ordering::SeqCst) == 0;
    assert!(!contains(&sealed, "access-initial") && !contains(&sealed, "refresh-1"));
    assert!(!contains(&sealed, ACCOUNT));

    // Status over HTTP: never a token.
    let response = http()
        .get(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains(ACCOUNT) && !text.contains("access-") && !text.contains("refresh-"));

    // Mail now goes through Gmail by XOAUTH2, with a refreshed token (the
    // first one had a minute left).
    request_reset(&app, DEMO_SLUG, DEMO_EMAIL).await;
    let mails = received(&sink, 1).await;
    assert_eq!(mails.len(), 1, "one mail through Gmail");
    assert_eq!(mails[0].1, format!("XOAUTH2 {ACCOUNT} access-refreshed-1"));
    // From the agency's own account, under the agency's own name.
    let from = mails[0]
        .0
        .lines()
        .find(|l| l.starts_with("From: "))
        .unwrap()
        .to_owned();
    assert_eq!(
        from,
        format!(
            "From: =?utf-8?B?{}?= <{ACCOUNT}>",
            base64::engine::general_purpose::STANDARD.encode("Demo Travel")
        )
    );
    assert_eq!(peer.refreshes.load(Ordering::SeqCst), 1);
    // The refreshed token was sealed again: a second mail needs no refresh.
    let sealed_after = stored_secret(&app, "mail.gmail").await.expect("stored");
    if sealed_before_refresh {
        assert_ne!(sealed, sealed_after);
    }
    assert!(!contains(&sealed_after, "access-refreshed-1"));
    request_reset(&app, DEMO_SLUG, DEMO_EMAIL).await;
    let mails = received(&sink, 2).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].1, format!("XOAUTH2 {ACCOUNT} access-refreshed-1"));
    assert_eq!(peer.refreshes.load(Ordering::SeqCst), 1);

    // Reconnecting the same account leaves Google's grant alone (revoking
    // the old refresh token would revoke the new one with it); connecting
    // another account revokes the replaced account's grant.
    reconnect(&app, &owner, &peer, "code-again").await;
    assert!(peer.revoked.lock().unwrap().is_empty(), "same account");
    let status = reconnect(&app, &owner, &peer, "other-code").await;
    assert_eq!(status["address"], OTHER_ACCOUNT);
    assert_eq!(
        peer.revoked.lock().unwrap().clone(),
        vec!["refresh-1".to_owned()],
        "the replaced account's grant"
    );
    let events = audit_actions(&app, DEMO_SLUG).await;
    let (_, revoked) = events
        .iter()
        .find(|(a, _)| a == "mail.gmail.replaced_grant_revoked")
        .expect("audited");
    assert_eq!(revoked["revoked"], true);
    peer.revoked.lock().unwrap().clear();

    // Disconnect is critical: 428, then with the token it revokes at the
    // peer and deletes.
    let response = http()
        .delete(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let body: Value = response.json().await.unwrap();
    let confirm = body["confirmation_token"].as_str().unwrap().to_owned();
    let response = http()
        .delete(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .header("Tms-Confirm", confirm)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let revoked = peer.revoked.lock().unwrap().clone();
    if revoked.is_empty() {
        let events = audit_actions(&app, DEMO_SLUG).await;
        panic!("not revoked at the peer: {:?}", events.last());
    }
    assert_eq!(revoked, vec!["refresh-2".to_owned()]);
    assert!(stored_secret(&app, "mail.gmail").await.is_none());
    let status: Value = http()
        .get(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["connected"], false);

    // Audited, without secrets.
    let events = audit_actions(&app, DEMO_SLUG).await;
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    for action in [
        "mail.gmail.connect_started",
        "mail.gmail.connected",
        "mail.gmail.disconnected",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let (_, after) = events
        .iter()
        .find(|(a, _)| a == "mail.gmail.disconnected")
        .unwrap();
    assert_eq!(after["revoked"], true);
    let all = format!("{events:?}");
    assert!(!all.contains("access-") && !all.contains("refresh-"));
}

/// Connects again as the owner, Google's consent answered with `code`;
/// the status.
async fn reconnect(app: &TestApp, owner: &str, peer: &Peer, code: &str) -> Value {
    let body: Value = http()
        .post(app.url("/api/v1/mail/gmail/connect"))
        .bearer_auth(owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let query = query_of(body["authorization_url"].as_str().unwrap());
    peer.codes
        .lock()
        .unwrap()
        .insert(code.into(), query["code_challenge"].clone());
    let response = callback(app, owner, code, &query["state"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn gmail_connects_with_pkce_sends_by_xoauth2_and_disconnects() {
    gmail_connect_send_and_disconnect("sqlite").await;
}

#[tokio::test]
async fn gmail_connects_sends_and_disconnects_on_postgresql() {
    gmail_connect_send_and_disconnect("postgres").await;
}

#[tokio::test]
async fn a_refused_refresh_breaks_the_connection_and_fails_the_mail_for_good() {
    let Some(sink) = start_sink() else { return };
    let peer = Arc::new(Peer::default());
    let base = start_peer(peer.clone()).await;
    let config = gmail_config(&base, sink.port);
    let app = app_on("sqlite", |c| {
        fast_worker(c);
        c.gmail = config;
    })
    .await
    .unwrap();
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;
    let body: Value = http()
        .post(app.url("/api/v1/mail/gmail/connect"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let query = query_of(body["authorization_url"].as_str().unwrap());
    peer.codes
        .lock()
        .unwrap()
        .insert("code-2".into(), query["code_challenge"].clone());
    let response = callback(&app, &owner, "code-2", &query["state"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    peer.refuse_refresh.store(true, Ordering::SeqCst);

    request_reset(&app, DEMO_SLUG, DEMO_EMAIL).await;
    // The message fails at once (no retry) with a clear error.
    let tenant = crate::helpers::tenant_id(&app, DEMO_SLUG).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        use tms_core::ports::{PageRequest, Store as _};
        let mut uow = app.store.begin().await.unwrap();
        let page = uow
            .outbox()
            .list(tenant, PageRequest::new(Some(200), None).unwrap())
            .await
            .unwrap();
        uow.rollback().await.unwrap();
        let last = page.items.last().unwrap().clone();
        if last.status.as_str() != "pending" || Instant::now() > deadline {
            break last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(message.status.as_str(), "failed");
    let view: Value = http()
        .get(app.url(&format!("/api/v1/outbox/messages/{}", message.id)))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = &view["deliveries"][0];
    assert_eq!(delivery["transport"], "none", "{view}");
    assert!(
        delivery["error"]
            .as_str()
            .unwrap()
            .contains("connect Gmail again"),
        "{view}"
    );
    let sent = std::fs::read_dir(&sink.maildir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .count();
    assert_eq!(sent, 0, "nothing reached the SMTP server");
    let status: Value = http()
        .get(app.url("/api/v1/mail/gmail"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["connected"], true);
    assert!(
        status["broken"].as_str().unwrap().contains("invalid_grant"),
        "{status}"
    );
}

#[tokio::test]
async fn without_a_google_client_gmail_answers_409() {
    let app = app_on("sqlite", |_| {}).await.unwrap();
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;
    let response = http()
        .post(app.url("/api/v1/mail/gmail/connect"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not configured"));
}

async fn put_smtp(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    http()
        .put(app.url("/api/v1/mail/smtp"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn two_tenants_with_their_own_smtp(db: &str) {
    let (Some(sink_a), Some(sink_b)) = (start_sink(), start_sink()) else {
        return;
    };
    let Some(app) = app_on(db, fast_worker).await else {
        return;
    };
    let (_, owner_b) = crate::helpers::stranger(&app, "other-agency").await;
    let owner_a = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;

    // Plain text only to loopback or private relays.
    let response = put_smtp(
        &app,
        &owner_a,
        json!({"host": "smtp.example.com", "port": 25, "tls": "none", "from": "a@demo.example"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = put_smtp(
        &app,
        &owner_a,
        json!({"host": "127.0.0.1", "port": sink_a.port, "tls": "none",
               "username": "agency-a", "password": "secret-password-a",
               "from": "bookings@agency-a.example", "from_name": "Agency A"}),
    )
    .await;
    let text = response.text().await.unwrap();
    assert!(text.contains("\"has_password\":true"), "{text}");
    assert!(!text.contains("secret-password-a"), "{text}");
    let response = put_smtp(
        &app,
        &owner_b,
        json!({"host": "127.0.0.1", "port": sink_b.port, "tls": "none",
               "username": "agency-b", "password": "secret-password-b",
               "from": "hello@agency-b.example"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let sealed = stored_secret(&app, "mail.smtp").await.unwrap();
    assert!(!contains(&sealed, "secret-password"));
    let shown = http()
        .get(app.url("/api/v1/mail/smtp"))
        .bearer_auth(&owner_b)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("agency-b") && !shown.contains("secret-password"),
        "{shown}"
    );

    request_reset(&app, DEMO_SLUG, DEMO_EMAIL).await;
    request_reset(&app, "other-agency", "owner@other.example").await;
    let a = received(&sink_a, 1).await;
    let b = received(&sink_b, 1).await;
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].1, "PLAIN agency-a secret-password-a");
    assert!(a[0].0.contains("bookings@agency-a.example") && a[0].0.contains(DEMO_EMAIL));
    assert_eq!(b[0].1, "PLAIN agency-b secret-password-b");
    assert!(b[0].0.contains("hello@agency-b.example") && b[0].0.contains("owner@other.example"));

    // Removal is critical; afterwards the tenant's mail takes the
    // installation's route again.
    let response = http()
        .delete(app.url("/api/v1/mail/smtp"))
        .bearer_auth(&owner_a)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    let body: Value = response.json().await.unwrap();
    let response = http()
        .delete(app.url("/api/v1/mail/smtp"))
        .bearer_auth(&owner_a)
        .header("Tms-Confirm", body["confirmation_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = http()
        .get(app.url("/api/v1/mail/smtp"))
        .bearer_auth(&owner_a)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let events = format!("{:?}", audit_actions(&app, DEMO_SLUG).await);
    assert!(events.contains("mail.smtp.set") && events.contains("mail.smtp.removed"));
    assert!(!events.contains("secret-password"));
}

#[tokio::test]
async fn two_tenants_send_through_their_own_smtp_servers() {
    two_tenants_with_their_own_smtp("sqlite").await;
}

#[tokio::test]
async fn two_tenants_send_through_their_own_smtp_servers_on_postgresql() {
    two_tenants_with_their_own_smtp("postgres").await;
}

/// Who may use the mail connection endpoints: the Administration class —
/// Tenant Super Admin and Admin; Finance, Sales and Umrah never.
async fn matrix(db: &str) {
    let peer = Arc::new(Peer::default());
    let base = start_peer(peer.clone()).await;
    let config = gmail_config(&base, 1);
    let Some(app) = app_on(db, |c| {
        c.gmail = config;
        c.mail.worker = false;
    })
    .await
    else {
        return;
    };
    let owner = login(&app, DEMO_SLUG, DEMO_EMAIL, OWNER_PASSWORD).await;
    let tenant = crate::helpers::tenant_id(&app, DEMO_SLUG).await;
    for role in Role::ALL {
        let email = format!("mail-{}@demo.example", role.as_str().replace('_', "-"));
        let scope = tms_core::domain::BranchScope::All;
        let token = crate::helpers::add_staff(&app, tenant, role, scope, &email).await;
        let allowed = matches!(role, Role::TenantSuperAdmin | Role::Admin);
        let smtp = json!({"host": "127.0.0.1", "port": 2525, "tls": "none",
                          "username": "u", "password": "p-secret", "from": "a@demo.example"});
        let cases: Vec<(reqwest::Method, &str, Option<Value>, StatusCode)> = vec![
            (
                reqwest::Method::PUT,
                "/api/v1/mail/smtp",
                Some(smtp),
                StatusCode::OK,
            ),
            (
                reqwest::Method::GET,
                "/api/v1/mail/smtp",
                None,
                StatusCode::OK,
            ),
            (
                reqwest::Method::DELETE,
                "/api/v1/mail/smtp",
                None,
                StatusCode::PRECONDITION_REQUIRED,
            ),
            (
                reqwest::Method::POST,
                "/api/v1/mail/gmail/connect",
                None,
                StatusCode::OK,
            ),
            (
                reqwest::Method::GET,
                "/api/v1/mail/gmail",
                None,
                StatusCode::OK,
            ),
            (
                reqwest::Method::GET,
                "/api/v1/mail/gmail/callback?code=x&state=y",
                None,
                StatusCode::BAD_REQUEST,
            ),
            (
                reqwest::Method::DELETE,
                "/api/v1/mail/gmail",
                None,
                StatusCode::NOT_FOUND,
            ),
        ];
        for (method, path, body, success) in cases {
            let mut request = http()
                .request(method.clone(), app.url(path))
                .bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let status = request.send().await.unwrap().status();
            let expected = if allowed {
                success
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{role:?} {method} {path}");
        }
    }
    // Another tenant's owner sees nothing of this one.
    let _ = owner;
}

#[tokio::test]
async fn only_administrators_manage_mail_connections() {
    matrix("sqlite").await;
}

#[tokio::test]
async fn only_administrators_manage_mail_connections_on_postgresql() {
    matrix("postgres").await;
}
