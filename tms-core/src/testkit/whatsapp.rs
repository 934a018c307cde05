//! Contract cases of WhatsApp (issue 9): connections and webhook statuses
//! in the store, and the connections service over it (who may connect,
//! sealed secrets, a critical disconnect, a signed and idempotent webhook).

use std::sync::Arc;

use chrono::Duration;
use hmac::digest::KeyInit as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::domain::{BranchScope, Context, Principal, Role};
use crate::error::Error;
use crate::id::{TenantId, UserId};
use crate::ports::{OsRandom, Store, WhatsappConnection, WhatsappStatus, WhatsappStatusKind};
use crate::security::keyring::KeyRing;
use crate::security::secret::Secret;
use crate::service::tenancy::Deps;
use crate::service::whatsapp::{
    ACCESS_TOKEN, APP_SECRET, NewWhatsappConnection, VERIFY_TOKEN, WhatsappConnections,
};

use super::{now, seed_tenant};

fn status(tenant: TenantId, id: &str, kind: WhatsappStatusKind, secs: i64) -> WhatsappStatus {
    let at = now();
    WhatsappStatus {
        tenant_id: tenant,
        provider_message_id: id.to_owned(),
        status: kind,
        at: at + Duration::seconds(secs),
        error_code: (kind == WhatsappStatusKind::Failed).then_some(131_026),
        error_title: (kind == WhatsappStatusKind::Failed).then(|| "Message undeliverable".into()),
        recorded_at: at,
    }
}

/// A connection round-trips and is replaced; a status is recorded once per
/// (message, status) and listed in the order it happened, per tenant.
pub async fn whatsapp_statuses_are_recorded_once_and_stay_in_their_tenant(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let connection = WhatsappConnection {
        tenant_id: tenant.id,
        phone_number_id: "106540352242922".into(),
        business_account_id: Some("102290129340398".into()),
        connected_at: now(),
        connected_by: Some(UserId::new()),
    };
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.whatsapp().connection(tenant.id).await.expect("read"),
        None
    );
    uow.whatsapp()
        .put_connection(&connection)
        .await
        .expect("put");
    let replaced = WhatsappConnection {
        phone_number_id: "999".into(),
        business_account_id: None,
        ..connection.clone()
    };
    uow.whatsapp()
        .put_connection(&replaced)
        .await
        .expect("replace");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.whatsapp().connection(tenant.id).await.expect("read"),
        Some(replaced)
    );
    assert_eq!(
        uow.whatsapp().connection(other.id).await.expect("read"),
        None
    );
    let read = status(tenant.id, "wamid.1", WhatsappStatusKind::Read, 20);
    let delivered = status(tenant.id, "wamid.1", WhatsappStatusKind::Delivered, 10);
    let sent = status(tenant.id, "wamid.1", WhatsappStatusKind::Sent, 0);
    for s in [&read, &delivered, &sent] {
        assert!(uow.whatsapp().record_status(s).await.expect("record"));
    }
    assert!(
        !uow.whatsapp()
            .record_status(&delivered)
            .await
            .expect("replay"),
        "a replay records nothing"
    );
    let failed = status(other.id, "wamid.1", WhatsappStatusKind::Failed, 5);
    assert!(uow.whatsapp().record_status(&failed).await.expect("other"));
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    let mine = uow
        .whatsapp()
        .statuses(tenant.id, "wamid.1")
        .await
        .expect("list");
    assert_eq!(mine, vec![sent, delivered, read]);
    let theirs = uow
        .whatsapp()
        .statuses(other.id, "wamid.1")
        .await
        .expect("list");
    assert_eq!(theirs, vec![failed]);
    assert!(
        uow.whatsapp()
            .statuses(tenant.id, "wamid.2")
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        uow.whatsapp()
            .delete_connection(tenant.id)
            .await
            .expect("delete")
    );
    assert!(
        !uow.whatsapp()
            .delete_connection(tenant.id)
            .await
            .expect("again")
    );
    uow.commit().await.expect("commit");
}

fn request(verify: &str) -> NewWhatsappConnection {
    NewWhatsappConnection {
        phone_number_id: "106540352242922".into(),
        business_account_id: None,
        access_token: Secret::new("EAAG-test-access-token".into()),
        app_secret: Secret::new("test-app-secret".into()),
        verify_token: Secret::new(verify.into()),
    }
}

fn signed(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Only Tenant Super Admins and Admins connect; the secrets are sealed and
/// never audited; the webhook needs the tenant's signature and records a
/// replay once; disconnecting is confirmed and deletes the secrets.
pub async fn whatsapp_connections_are_for_administrators_and_sealed(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let ring =
        Arc::new(KeyRing::parse(KeyRing::generate_key(1, &OsRandom).expose()).expect("keys"));
    let service = WhatsappConnections::new(Deps::new(store.clone()), ring);
    let as_role = |role: Role, tenant: TenantId| {
        Context::new(
            Principal::user(UserId::new(), tenant, role, BranchScope::All),
            now(),
        )
    };
    for role in [Role::Finance, Role::Sales, Role::Umrah] {
        let ctx = as_role(role, tenant.id);
        let denied = service
            .connect(&ctx, request("verify-token-0123456789"))
            .await;
        assert!(
            matches!(denied, Err(Error::Forbidden { .. })),
            "{role:?}: {denied:?}"
        );
        let denied = service.status(&ctx).await;
        assert!(
            matches!(denied, Err(Error::Forbidden { .. })),
            "{role:?}: {denied:?}"
        );
        let denied = service.disconnect(&ctx, None).await;
        assert!(
            matches!(denied, Err(Error::Forbidden { .. })),
            "{role:?}: {denied:?}"
        );
    }
    let admin = as_role(Role::Admin, tenant.id);
    let invalid = service.connect(&admin, request("short")).await;
    assert!(matches!(invalid, Err(Error::Invalid(_))), "{invalid:?}");
    let connected = service
        .connect(&admin, request("verify-token-0123456789"))
        .await
        .expect("connect");
    assert_eq!(connected.phone_number_id, "106540352242922");
    let owner = as_role(Role::TenantSuperAdmin, tenant.id);
    assert_eq!(
        service.status(&owner).await.expect("status"),
        Some(connected)
    );
    let credentials = service
        .credentials(tenant.id)
        .await
        .expect("credentials")
        .expect("connected");
    assert_eq!(credentials.access_token.expose(), "EAAG-test-access-token");
    assert!(
        !format!("{credentials:?}").contains("EAAG"),
        "Debug hides the token"
    );

    // Sealed, not stored in clear; audited without them.
    let mut uow = store.begin().await.expect("begin");
    for name in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN] {
        let sealed = uow
            .settings()
            .secret(tenant.id, name)
            .await
            .expect("secret")
            .expect("stored");
        let bytes = sealed.as_bytes();
        assert!(
            !bytes
                .windows(8)
                .any(|w| w == b"EAAG-tes" || w == b"test-app" || w == b"verify-t"),
            "{name} is sealed"
        );
    }
    let events = uow.audit().read(tenant.id, 0, 100).await.expect("audit");
    uow.rollback().await.expect("rollback");
    let text = format!("{events:?}");
    assert!(text.contains("whatsapp.connected"), "{text}");
    for secret in ["EAAG-test", "test-app-secret", "verify-token-0123456789"] {
        assert!(!text.contains(secret), "the audit log holds no secret");
    }

    // Handshake: the tenant's verify token only.
    let challenge = service
        .verify_subscription(
            tenant.id,
            Some("subscribe"),
            Some("verify-token-0123456789"),
            Some("42"),
        )
        .await
        .expect("handshake");
    assert_eq!(challenge.as_deref(), Some("42"));
    for (mode, token) in [
        (Some("subscribe"), Some("verify-token-012345678X")),
        (Some("unsubscribe"), Some("verify-token-0123456789")),
        (None, Some("verify-token-0123456789")),
        (Some("subscribe"), None),
    ] {
        let refused = service
            .verify_subscription(tenant.id, mode, token, Some("42"))
            .await
            .expect("handshake");
        assert_eq!(refused, None, "{mode:?} {token:?}");
    }
    let other = seed_tenant(&*store).await;
    let refused = service
        .verify_subscription(
            other.id,
            Some("subscribe"),
            Some("verify-token-0123456789"),
            Some("42"),
        )
        .await
        .expect("handshake");
    assert_eq!(refused, None, "another tenant's path");

    // Webhook: signed by the tenant's app secret, recorded once.
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "metadata": { "phone_number_id": "106540352242922" },
            "statuses": [
                { "id": "wamid.X", "status": "sent", "timestamp": "1764590000" },
                { "id": "wamid.X", "status": "delivered", "timestamp": "1764590005" },
            ],
        }}]}],
    })
    .to_string();
    let body = body.as_bytes();
    let good = signed("test-app-secret", body);
    let bad = signed("another-secret", body);
    for signature in [None, Some(bad.as_str()), Some("sha256=zz")] {
        let refused = service.receive(tenant.id, signature, body, now()).await;
        assert!(
            matches!(refused, Err(Error::Unauthenticated)),
            "{refused:?}"
        );
    }
    let refused = service.receive(other.id, Some(&good), body, now()).await;
    assert!(
        matches!(refused, Err(Error::Unauthenticated)),
        "{refused:?}"
    );
    assert_eq!(
        service
            .receive(tenant.id, Some(&good), body, now())
            .await
            .expect("receive"),
        2
    );
    assert_eq!(
        service
            .receive(tenant.id, Some(&good), body, now())
            .await
            .expect("replay"),
        0
    );
    let listed = service.statuses(&owner, "wamid.X").await.expect("statuses");
    assert_eq!(
        listed.iter().map(|s| s.status).collect::<Vec<_>>(),
        [WhatsappStatusKind::Sent, WhatsappStatusKind::Delivered]
    );
    let hidden = service
        .statuses(&as_role(Role::Admin, other.id), "wamid.X")
        .await
        .expect("statuses");
    assert!(hidden.is_empty(), "another tenant sees none");

    // Disconnect: critical, then everything is gone.
    let asked = service.disconnect(&owner, None).await;
    let Err(Error::ConfirmationRequired { token, .. }) = asked else {
        panic!("disconnecting is critical: {asked:?}")
    };
    service
        .disconnect(&owner, Some(&token))
        .await
        .expect("disconnect");
    assert_eq!(service.status(&owner).await.expect("status"), None);
    assert!(
        service
            .credentials(tenant.id)
            .await
            .expect("credentials")
            .is_none()
    );
    let mut uow = store.begin().await.expect("begin");
    for name in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN] {
        assert!(
            uow.settings()
                .secret(tenant.id, name)
                .await
                .expect("secret")
                .is_none()
        );
    }
    uow.rollback().await.expect("rollback");
    let refused = service.receive(tenant.id, Some(&good), body, now()).await;
    assert!(
        matches!(refused, Err(Error::Unauthenticated)),
        "{refused:?}"
    );
    let again = service.disconnect(&owner, None).await;
    assert!(again.is_err(), "{again:?}");
}
