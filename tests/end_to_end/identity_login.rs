//! Login: success, identical failures, lockout, throttle, audit, re-hashing.

use chrono::Duration;
use tms::Error;
use tms::domain::Email;
use tms::ports::Clock as _;
use tms::security::lockout::{LockoutPolicy, ThrottlePolicy};

use crate::identity_support::{OWNER_EMAIL, OWNER_PASSWORD, caller, request, world};

#[tokio::test]
async fn a_correct_password_opens_a_session_whose_token_authenticates() {
    let w = world().await;
    let signed = w.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(signed.session.user_id, w.owner.id);
    assert_eq!(
        signed.session.expires_at - signed.session.created_at,
        Duration::hours(12)
    );
    let auth = w.auth(&signed).await.unwrap();
    assert_eq!(auth.user.id, w.owner.id);
    assert!(!auth.restricted);
    assert!(auth.context().is_ok());
    let events = w.audit().await;
    let ok = events
        .iter()
        .find(|e| e.event.action == "auth.login.succeeded")
        .unwrap();
    assert_eq!(ok.event.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(ok.event.user_agent.as_deref(), Some("e2e-test/1.0"));
}

#[tokio::test]
async fn wrong_password_unknown_user_unknown_tenant_and_disabled_fail_identically() {
    let w = world().await;
    let wrong = w
        .login(OWNER_EMAIL, "not-the-password-at-all")
        .await
        .unwrap_err();
    let unknown = w
        .login("nobody@alnoor.example", OWNER_PASSWORD)
        .await
        .unwrap_err();
    let no_tenant = w
        .identity
        .login(
            request("no-such-agency", OWNER_EMAIL, OWNER_PASSWORD),
            &caller(),
        )
        .await
        .unwrap_err();
    let garbage = w
        .identity
        .login(request("", "\u{0}", ""), &caller())
        .await
        .unwrap_err();
    let mut owner = w.user(w.owner.id).await;
    owner.disabled_at = Some(w.clock.now());
    w.save_user(&mut owner).await;
    let disabled = w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap_err();
    for e in [&wrong, &unknown, &no_tenant, &garbage, &disabled] {
        assert!(matches!(e, Error::Unauthenticated), "{e:?}");
        assert_eq!(e.to_string(), wrong.to_string());
    }
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password_until_the_lock_ends() {
    let w = world().await;
    for _ in 0..5 {
        assert!(matches!(
            w.login(OWNER_EMAIL, "wrong-password-guess").await,
            Err(Error::Unauthenticated)
        ));
    }
    let locked = w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap_err();
    let Error::Locked { until } = locked else {
        panic!("expected Locked, got {locked:?}");
    };
    assert_eq!(until, w.clock.now() + Duration::minutes(15));
    // Unknown accounts lock the same way: no enumeration through lockout.
    for _ in 0..5 {
        let _ = w.login("ghost@alnoor.example", "whatever-guess").await;
    }
    assert!(matches!(
        w.login("ghost@alnoor.example", "whatever-guess").await,
        Err(Error::Locked { .. })
    ));

    w.clock.advance(Duration::minutes(14));
    assert!(matches!(
        w.login(OWNER_EMAIL, OWNER_PASSWORD).await,
        Err(Error::Locked { .. })
    ));
    w.clock.advance(Duration::minutes(1));
    w.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
    // Success cleared the failures: one more failure does not lock.
    let _ = w.login(OWNER_EMAIL, "wrong-password-guess").await;
    w.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
}

#[tokio::test]
async fn the_ip_throttle_refuses_with_a_retry_time_and_lets_through_after_it() {
    let w = world().await;
    let throttle = ThrottlePolicy {
        max_attempts: 3,
        window: Duration::minutes(10),
    };
    let identity = w
        .identity
        .clone()
        .with_policies(LockoutPolicy::default(), throttle);
    let slug = w.tenant.slug.as_str();
    for i in 0..3 {
        let email = format!("guess{i}@alnoor.example");
        assert!(matches!(
            identity
                .login(request(slug, &email, "nope-nope-nope"), &caller())
                .await,
            Err(Error::Unauthenticated)
        ));
    }
    let refused = identity
        .login(request(slug, OWNER_EMAIL, OWNER_PASSWORD), &caller())
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after } = refused else {
        panic!("expected RateLimited, got {refused:?}");
    };
    assert_eq!(retry_after, Duration::minutes(10));
    assert!(
        w.audit()
            .await
            .iter()
            .any(|e| e.event.action == "auth.login.throttled")
    );
    w.clock.advance(retry_after);
    assert!(matches!(
        identity
            .login(request(slug, OWNER_EMAIL, OWNER_PASSWORD), &caller())
            .await,
        Ok(tms::service::identity::LoginOutcome::Session(_))
    ));
}

#[tokio::test]
async fn failed_attempts_are_committed_to_the_audit_log_and_the_lockout_state() {
    let w = world().await;
    let _ = w
        .login(OWNER_EMAIL, "wrong-password-guess")
        .await
        .unwrap_err();
    let _ = w
        .login("ghost@alnoor.example", "wrong-password-guess")
        .await
        .unwrap_err();
    let failed: Vec<_> = w
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event.action == "auth.login.failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].event.resource_id, Some(w.owner.id.as_uuid()));
    assert_eq!(failed[1].event.resource_id, None);
    for e in &failed {
        assert_eq!(e.event.ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(e.event.user_agent.as_deref(), Some("e2e-test/1.0"));
        assert!(
            !e.event
                .after
                .as_ref()
                .unwrap()
                .to_string()
                .contains("wrong-password")
        );
    }
    let mut uow = w.identity.deps().store.begin().await.unwrap();
    let state = uow
        .lockouts()
        .account(w.tenant.id, &Email::parse(OWNER_EMAIL).unwrap())
        .await
        .unwrap();
    assert_eq!(state.failures.len(), 1);
    assert!(
        tms::ports::verify_chain(uow.audit(), w.tenant.id)
            .await
            .unwrap()
            .is_intact()
    );
}

#[tokio::test]
async fn a_legacy_bcrypt_hash_is_replaced_by_argon2id_at_login() {
    let w = world().await;
    let mut owner = w.user(w.owner.id).await;
    // PHP's password_hash("rasmuslerdorf") from its manual.
    owner.password_hash =
        Some("$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a".into());
    w.save_user(&mut owner).await;
    w.login_ok(OWNER_EMAIL, "rasmuslerdorf").await;
    let upgraded = w.user(w.owner.id).await.password_hash.unwrap();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    w.login_ok(OWNER_EMAIL, "rasmuslerdorf").await;
    assert_eq!(w.user(w.owner.id).await.password_hash.unwrap(), upgraded);
}
