//! The WhatsApp Cloud API adapter against a real HTTP peer on loopback
//! (wiremock) that follows the Graph API's public shapes: the request
//! (path, bearer token, template body), the receipt, the mapping of the
//! provider's answers to retry (`Unavailable`) or stop (`Rejected`), and a
//! token that never shows in an error or `Debug`. Then the routes over a
//! stored connection (SQLite), end to end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tms_adapters::sql::SqlStore;
use tms_adapters::whatsapp::{ConnectionRoutes, WhatsAppCloud};
use tms_core::Error;
use tms_core::domain::{BranchScope, Context, Phone, Principal, Role};
use tms_core::id::{TenantId, UserId};
use tms_core::ports::{ChannelMessage, MessageChannel, OsRandom, Store};
use tms_core::security::keyring::KeyRing;
use tms_core::security::secret::Secret;
use tms_core::service::messaging::ChannelRoutes;
use tms_core::service::tenancy::Deps;
use tms_core::service::whatsapp::{NewWhatsappConnection, WhatsappConnections};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "EAAG-secret-test-token-0123456789";
const PHONE_ID: &str = "106540352242922";

fn message() -> ChannelMessage {
    ChannelMessage {
        tenant_id: TenantId::new(),
        to: Phone::parse("+966 50 123 4567").unwrap(),
        template: "booking_confirmed".into(),
        language: "ar".into(),
        variables: vec!["محمد".into(), "BK-2026-000123".into()],
    }
}

fn channel(server: &MockServer) -> WhatsAppCloud {
    WhatsAppCloud::builder()
        .base_url(server.uri())
        .version("v21.0")
        .phone_number_id(PHONE_ID)
        .access_token(Secret::new(TOKEN.to_owned()))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn graph_error(code: i64, message: &str) -> Value {
    json!({ "error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": { "messaging_product": "whatsapp", "details": message },
        "fbtrace_id": "AbCdEf",
    }})
}

#[tokio::test]
async fn a_template_message_is_posted_with_the_bearer_token_and_returns_the_wamid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PHONE_ID}/messages")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "966501234567",
            "type": "template",
            "template": {
                "name": "booking_confirmed",
                "language": { "code": "ar" },
                "components": [{ "type": "body", "parameters": [
                    { "type": "text", "text": "محمد" },
                    { "type": "text", "text": "BK-2026-000123" },
                ]}],
            },
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "966501234567", "wa_id": "966501234567" }],
            "messages": [{ "id": "wamid.HBgLOTY2NTAxMjM0NTY3FQIAERgS" }],
        })))
        .expect(1)
        .mount(&server)
        .await;
    let receipt = channel(&server).send(&message()).await.unwrap();
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("wamid.HBgLOTY2NTAxMjM0NTY3FQIAERgS")
    );
}

#[tokio::test]
async fn a_template_without_variables_has_no_components() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_json(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "966501234567",
            "type": "template",
            "template": { "name": "hello_world", "language": { "code": "en_US" } },
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "messages": [{ "id": "wamid.1" }] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut m = message();
    m.template = "hello_world".into();
    m.language = "en_US".into();
    m.variables.clear();
    assert_eq!(
        channel(&server)
            .send(&m)
            .await
            .unwrap()
            .provider_message_id
            .as_deref(),
        Some("wamid.1")
    );
}

async fn answer(status: u16, body: Value) -> Error {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    channel(&server).send(&message()).await.unwrap_err()
}

#[tokio::test]
async fn provider_failures_map_to_retry_or_stop_and_never_show_the_token() {
    let cases = [
        // Server trouble and throttling: retry later.
        (500, graph_error(131_000, "Something went wrong"), true),
        (503, json!({}), true),
        (429, graph_error(130_429, "Rate limit hit"), true),
        (400, graph_error(131_056, "Pair rate limit hit"), true),
        // The provider refuses for good.
        (400, graph_error(131_026, "Message undeliverable"), false),
        (
            400,
            graph_error(132_001, "Template name does not exist in the translation"),
            false,
        ),
        (
            401,
            graph_error(190, &format!("Invalid OAuth access token {TOKEN}")),
            false,
        ),
        (404, json!({}), false),
        // Accepted without an id: do not send it twice.
        (200, json!({ "messages": [] }), false),
    ];
    for (status, body, retry) in cases {
        let err = answer(status, body.clone()).await;
        let text = format!("{err} {err:?}");
        assert!(!text.contains(TOKEN), "{status}: the token leaked: {text}");
        if retry {
            assert!(
                matches!(err, Error::Unavailable { .. }),
                "{status} {body}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, Error::Rejected { .. }),
                "{status} {body}: {err:?}"
            );
        }
    }
    let err = answer(400, graph_error(131_026, "Message undeliverable")).await;
    assert!(err.to_string().contains("131026"), "{err}");
}

#[tokio::test]
async fn no_answer_in_time_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({ "messages": [{ "id": "wamid.late" }] })),
        )
        .mount(&server)
        .await;
    let err = channel(&server).send(&message()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains(TOKEN));

    // Nobody listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = WhatsAppCloud::builder()
        .base_url(format!("http://{closed}"))
        .phone_number_id(PHONE_ID)
        .access_token(Secret::new(TOKEN.to_owned()))
        .build()
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[test]
fn the_builder_checks_what_is_missing_and_debug_hides_the_token() {
    let ok = WhatsAppCloud::builder()
        .phone_number_id(PHONE_ID)
        .access_token(Secret::new(TOKEN.to_owned()))
        .build()
        .unwrap();
    let shown = format!("{ok:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("graph.facebook.com"), "{shown}");
    for bad in [
        WhatsAppCloud::builder().access_token(Secret::new(TOKEN.to_owned())),
        WhatsAppCloud::builder().phone_number_id(PHONE_ID),
        WhatsAppCloud::builder()
            .phone_number_id("12/../34")
            .access_token(Secret::new(TOKEN.to_owned())),
        WhatsAppCloud::builder()
            .base_url("ftp://example")
            .phone_number_id(PHONE_ID)
            .access_token(Secret::new(TOKEN.to_owned())),
    ] {
        let err = bad.build().unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    }
}

/// The routes read the tenant's stored connection (sealed token) and send
/// through it; an unconnected tenant is rejected.
#[tokio::test]
async fn routes_send_through_the_tenants_stored_connection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PHONE_ID}/messages")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "messages": [{ "id": "wamid.R" }] })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let file = tempfile::NamedTempFile::new().unwrap();
    let store: Arc<dyn Store> =
        SqlStore::connect(&format!("sqlite://{}?mode=rwc", file.path().display()))
            .await
            .unwrap()
            .into_dyn();
    let tenant = tms_core::testkit::seed_tenant(&*store).await;
    let ring = Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).unwrap());
    let connections = WhatsappConnections::new(Deps::new(store.clone()), ring);
    let admin = Context::new(
        Principal::user(UserId::new(), tenant.id, Role::Admin, BranchScope::All),
        chrono::Utc::now(),
    );
    let routes = ConnectionRoutes::new(connections.clone())
        .unwrap()
        .with_base_url(server.uri());
    let none = routes.channel(tenant.id).await.unwrap_err();
    assert!(matches!(none, Error::Rejected { .. }), "{none:?}");
    connections
        .connect(
            &admin,
            NewWhatsappConnection {
                phone_number_id: PHONE_ID.into(),
                business_account_id: Some("102290129340398".into()),
                access_token: Secret::new(TOKEN.to_owned()),
                app_secret: Secret::new("app-secret".into()),
                verify_token: Secret::new("verify-token-0123456789".into()),
            },
        )
        .await
        .unwrap();
    let channel = routes.channel(tenant.id).await.unwrap();
    assert!(!format!("{channel:?}").contains(TOKEN));
    let receipt = channel.send(&message()).await.unwrap();
    assert_eq!(receipt.provider_message_id.as_deref(), Some("wamid.R"));
}
