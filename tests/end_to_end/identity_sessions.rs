//! The session check, logout, password change and password reset.

use chrono::Duration;
use tms::Error;
use tms::ports::OutboxStatus;
use tms::security::secret::Secret;
use tms::service::identity::settings::SettingsChange;

use crate::identity_support::{OWNER_EMAIL, OWNER_PASSWORD, caller, token_in, world};

const NEW_PASSWORD: &str = "Safa-Marwa-Tawaf-Sa'i-2027";

#[tokio::test]
async fn logout_ends_the_session_at_once_and_a_forged_or_garbage_token_is_refused() {
    let w = world().await;
    let (signed, auth) = w.owner_session().await;
    w.identity.logout(&auth).await.unwrap();
    assert!(matches!(w.auth(&signed).await, Err(Error::Unauthenticated)));
    for garbage in ["", "x.y.z", &"a".repeat(10_000)] {
        assert!(matches!(
            w.identity.authenticate(garbage, &caller()).await,
            Err(Error::Unauthenticated)
        ));
    }
    // A token signed with another key (another deployment) is refused too.
    let other = crate::identity_support::world().await;
    let foreign = other.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
    assert!(matches!(
        w.auth(&foreign).await,
        Err(Error::Unauthenticated)
    ));
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_and_the_absolute_timeout() {
    let w = world().await;
    let (idle, _) = w.owner_session().await;
    w.clock.advance(Duration::minutes(29));
    w.auth(&idle).await.unwrap();
    w.clock.advance(Duration::minutes(29));
    w.auth(&idle)
        .await
        .expect("activity restarted the idle timer");
    w.clock.advance(Duration::minutes(30));
    assert!(matches!(w.auth(&idle).await, Err(Error::Unauthenticated)));

    let (busy, _) = w.owner_session().await;
    for _ in 0..(12 * 4 - 1) {
        w.clock.advance(Duration::minutes(15));
        w.auth(&busy).await.unwrap();
    }
    w.clock.advance(Duration::minutes(15));
    assert!(matches!(w.auth(&busy).await, Err(Error::Unauthenticated)));
}

#[tokio::test]
async fn the_tenants_timeouts_apply_and_are_bounded() {
    let w = world().await;
    let (_, auth) = w.owner_session().await;
    let ctx = auth.context().unwrap();
    let bad = w
        .identity
        .update_settings(
            &ctx,
            SettingsChange {
                session_idle_minutes: Some(0),
                session_absolute_hours: Some(100_000),
                ..SettingsChange::default()
            },
        )
        .await
        .unwrap_err();
    let Error::Invalid(fields) = bad else {
        panic!("{bad:?}")
    };
    assert_eq!(fields.to_string().matches("must be between").count(), 2);
    w.identity
        .update_settings(
            &ctx,
            SettingsChange {
                session_idle_minutes: Some(5),
                ..SettingsChange::default()
            },
        )
        .await
        .unwrap();
    let (fresh, _) = w.owner_session().await;
    w.clock.advance(Duration::minutes(4));
    w.auth(&fresh).await.unwrap();
    w.clock.advance(Duration::minutes(4));
    w.auth(&fresh).await.unwrap();
    w.clock.advance(Duration::minutes(5));
    assert!(matches!(w.auth(&fresh).await, Err(Error::Unauthenticated)));
    let (fresh, _) = w.owner_session().await;
    w.clock.advance(Duration::minutes(5));
    assert!(matches!(w.auth(&fresh).await, Err(Error::Unauthenticated)));
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_but_not_this_one() {
    let w = world().await;
    let (other, _) = w.owner_session().await;
    let (this, auth) = w.owner_session().await;
    let wrong = w
        .identity
        .change_password(
            &auth,
            &Secret::from("not-my-password"),
            &Secret::from(NEW_PASSWORD),
        )
        .await;
    assert!(matches!(wrong, Err(Error::Invalid(_))));
    let weak = w
        .identity
        .change_password(&auth, &Secret::from(OWNER_PASSWORD), &Secret::from("short"))
        .await;
    assert!(matches!(weak, Err(Error::Invalid(_))));
    w.identity
        .change_password(
            &auth,
            &Secret::from(OWNER_PASSWORD),
            &Secret::from(NEW_PASSWORD),
        )
        .await
        .unwrap();
    assert!(matches!(w.auth(&other).await, Err(Error::Unauthenticated)));
    w.auth(&this).await.unwrap();
    assert!(matches!(
        w.login(OWNER_EMAIL, OWNER_PASSWORD).await,
        Err(Error::Unauthenticated)
    ));
    w.login_ok(OWNER_EMAIL, NEW_PASSWORD).await;
}

#[tokio::test]
async fn my_sessions_list_revoke_one_and_log_out_everywhere() {
    let w = world().await;
    let (first, _) = w.owner_session().await;
    let (second, auth) = w.owner_session().await;
    let mine = w.identity.my_sessions(&auth).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].ip.as_deref(), Some("203.0.113.7"));
    w.identity
        .revoke_my_session(&auth, first.session.id)
        .await
        .unwrap();
    assert!(matches!(w.auth(&first).await, Err(Error::Unauthenticated)));
    w.auth(&second).await.unwrap();
    // Someone else's session id is not found.
    assert!(matches!(
        w.identity
            .revoke_my_session(&auth, tms::id::SessionId::new())
            .await,
        Err(Error::NotFound { .. })
    ));
    let (third, _) = w.owner_session().await;
    assert_eq!(w.identity.logout_everywhere(&auth).await.unwrap(), 2);
    assert!(matches!(w.auth(&second).await, Err(Error::Unauthenticated)));
    assert!(matches!(w.auth(&third).await, Err(Error::Unauthenticated)));
}

#[tokio::test]
async fn a_password_reset_goes_through_the_outbox_works_once_and_ends_every_session() {
    let w = world().await;
    let (before, _) = w.owner_session().await;
    let slug = w.tenant.slug.as_str();
    // Unknown accounts and tenants get the same answer and no mail.
    w.identity
        .request_password_reset(slug, "nobody@alnoor.example", &caller())
        .await
        .unwrap();
    w.identity
        .request_password_reset("no-such-agency", OWNER_EMAIL, &caller())
        .await
        .unwrap();
    assert!(w.outbox(w.tenant.id).await.is_empty());

    w.identity
        .request_password_reset(slug, OWNER_EMAIL, &caller())
        .await
        .unwrap();
    let mail = w.outbox(w.tenant.id).await.remove(0);
    assert_eq!(mail.recipient(), OWNER_EMAIL);
    assert_eq!(mail.status, OutboxStatus::Pending);
    assert!(mail.message_id.starts_with('<'));
    let token = token_in(&mail.as_email().unwrap().body_text);
    assert_eq!(token.len(), 43);

    let weak = w
        .identity
        .confirm_password_reset(slug, &token, &Secret::from("password"), &caller())
        .await;
    assert!(matches!(weak, Err(Error::Invalid(_))));
    w.identity
        .confirm_password_reset(slug, &token, &Secret::from(NEW_PASSWORD), &caller())
        .await
        .unwrap();
    assert!(matches!(w.auth(&before).await, Err(Error::Unauthenticated)));
    w.login_ok(OWNER_EMAIL, NEW_PASSWORD).await;
    let again = w
        .identity
        .confirm_password_reset(slug, &token, &Secret::from(OWNER_PASSWORD), &caller())
        .await;
    assert!(
        matches!(again, Err(Error::Invalid(_))),
        "single use: {again:?}"
    );
    let events = w.audit().await;
    assert!(
        events
            .iter()
            .any(|e| e.event.action == "auth.password.reset")
    );
    let all = serde_json::to_string(&events.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(
        !all.contains(&token),
        "the token never reaches the audit log"
    );
}

#[tokio::test]
async fn a_reset_token_expires_after_24_hours() {
    let w = world().await;
    let slug = w.tenant.slug.as_str();
    w.identity
        .request_password_reset(slug, OWNER_EMAIL, &caller())
        .await
        .unwrap();
    let token = token_in(&w.outbox(w.tenant.id).await[0].as_email().unwrap().body_text);
    w.clock.advance(Duration::hours(24));
    let late = w
        .identity
        .confirm_password_reset(slug, &token, &Secret::from(NEW_PASSWORD), &caller())
        .await;
    assert!(matches!(late, Err(Error::Invalid(_))));
    w.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
}

#[tokio::test]
async fn reset_requests_share_the_ip_throttle_so_a_mailbox_cannot_be_flooded() {
    let w = world().await;
    let identity = w.identity.clone().with_policies(
        tms::security::lockout::LockoutPolicy::default(),
        tms::security::lockout::ThrottlePolicy {
            max_attempts: 2,
            window: Duration::minutes(10),
        },
    );
    let slug = w.tenant.slug.as_str();
    for _ in 0..2 {
        identity
            .request_password_reset(slug, OWNER_EMAIL, &caller())
            .await
            .unwrap();
    }
    for (tenant, email) in [(slug, OWNER_EMAIL), (slug, "nobody@alnoor.example")] {
        assert!(matches!(
            identity
                .request_password_reset(tenant, email, &caller())
                .await,
            Err(Error::RateLimited { .. })
        ));
    }
    assert_eq!(w.outbox(w.tenant.id).await.len(), 2);
}
