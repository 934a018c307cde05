//! Second factors at login: TOTP with replay protection and recovery codes,
//! email OTP through the outbox, and the tenant's 2FA requirement.

use chrono::Duration;
use tms::Error;
use tms::ports::Clock as _;
use tms::security::secret::Secret;
use tms::service::identity::settings::SettingsChange;
use tms::service::identity::two_factor::Reauth;
use tms::service::identity::{LoginOutcome, SecondFactors};

use crate::identity_support::{OWNER_EMAIL, OWNER_PASSWORD, World, caller, request, world};

async fn login_with(w: &World, otp: &str) -> Result<LoginOutcome, Error> {
    let mut req = request(w.tenant.slug.as_str(), OWNER_EMAIL, OWNER_PASSWORD);
    req.otp = Some(Secret::from(otp));
    w.identity.login(req, &caller()).await
}

#[tokio::test]
async fn totp_enrolment_then_login_refuses_a_replayed_code_and_takes_a_recovery_code_once() {
    let w = world().await;
    let (_, auth) = w.owner_session().await;
    let uri = w.identity.start_totp(&auth).await.unwrap();
    assert!(uri.expose().starts_with("otpauth://totp/TMS:"), "{uri:?}");
    let secret = w.totp_secret(w.owner.id).await;
    assert!(matches!(
        w.identity.confirm_totp(&auth, "000000").await,
        Err(Error::Invalid(_))
    ));
    let codes = w
        .identity
        .confirm_totp(&auth, &secret.code_at(w.clock.now()).unwrap())
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    let stored = w.user(w.owner.id).await;
    assert!(stored.two_factor.totp_secret.is_some() && stored.two_factor.totp_pending.is_none());
    assert_eq!(stored.two_factor.recovery_codes.remaining(), 10);

    let first = w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap();
    assert!(matches!(
        first,
        LoginOutcome::SecondFactorRequired(SecondFactors {
            totp: true,
            email: false
        })
    ));
    // The code that confirmed enrolment was used: the same step is refused.
    let replay = login_with(&w, &secret.code_at(w.clock.now()).unwrap()).await;
    assert!(matches!(replay, Err(Error::Unauthenticated)), "{replay:?}");
    w.clock.advance(Duration::seconds(30));
    let code = secret.code_at(w.clock.now()).unwrap();
    assert!(matches!(
        login_with(&w, &code).await,
        Ok(LoginOutcome::Session(_))
    ));
    assert!(matches!(
        login_with(&w, &code).await,
        Err(Error::Unauthenticated)
    ));
    // A wrong password with a right code is still a failure.
    w.clock.advance(Duration::seconds(30));
    let mut wrong = request(w.tenant.slug.as_str(), OWNER_EMAIL, "not-the-password");
    wrong.otp = Some(Secret::from(
        secret.code_at(w.clock.now()).unwrap().as_str(),
    ));
    assert!(matches!(
        w.identity.login(wrong, &caller()).await,
        Err(Error::Unauthenticated)
    ));

    let recovery = codes[3].expose().to_owned();
    assert!(matches!(
        login_with(&w, &recovery).await,
        Ok(LoginOutcome::Session(_))
    ));
    assert!(matches!(
        login_with(&w, &recovery).await,
        Err(Error::Unauthenticated)
    ));
    assert_eq!(
        w.user(w.owner.id)
            .await
            .two_factor
            .recovery_codes
            .remaining(),
        9
    );

    let (_, auth) = match login_with(&w, codes[4].expose()).await.unwrap() {
        LoginOutcome::Session(s) => {
            let auth = w.auth(&s).await.unwrap();
            (s, auth)
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        w.identity
            .disable_totp(&auth, &Reauth::Password(Secret::from("wrong-password")))
            .await,
        Err(Error::Invalid(_))
    ));
    // New recovery codes replace the old ones, against a fresh code.
    w.clock.advance(Duration::seconds(30));
    let fresh = secret.code_at(w.clock.now()).unwrap();
    let renewed = w
        .identity
        .regenerate_recovery_codes(&auth, &fresh)
        .await
        .unwrap();
    assert_eq!(renewed.len(), 10);
    assert!(matches!(
        w.identity.regenerate_recovery_codes(&auth, &fresh).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        login_with(&w, codes[5].expose()).await,
        Err(Error::Unauthenticated)
    ));
    w.identity
        .disable_totp(&auth, &Reauth::Password(Secret::from(OWNER_PASSWORD)))
        .await
        .unwrap();
    w.login_ok(OWNER_EMAIL, OWNER_PASSWORD).await;
    let secrets_logged = w
        .audit()
        .await
        .iter()
        .any(|e| format!("{:?}{:?}", e.event.before, e.event.after).contains(&recovery));
    assert!(!secrets_logged);
}

fn code_in(body: &str) -> String {
    let start = body.find("code is ").unwrap() + "code is ".len();
    body[start..start + 6].to_owned()
}

#[tokio::test]
async fn an_email_otp_is_mailed_through_the_outbox_and_completes_the_login() {
    let w = world().await;
    let (_, auth) = w.owner_session().await;
    w.identity
        .set_email_otp(&auth, &Secret::from(OWNER_PASSWORD), true)
        .await
        .unwrap();
    let first = w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap();
    assert!(matches!(
        first,
        LoginOutcome::SecondFactorRequired(SecondFactors {
            totp: false,
            email: true
        })
    ));
    let mail = w.outbox(w.tenant.id).await.pop().unwrap();
    let code = code_in(&mail.as_email().unwrap().body_text);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(
        login_with(&w, wrong).await,
        Err(Error::Unauthenticated)
    ));
    assert!(matches!(
        login_with(&w, &code).await,
        Ok(LoginOutcome::Session(_))
    ));
    assert!(matches!(
        login_with(&w, &code).await,
        Err(Error::Unauthenticated)
    ));
    // Codes die after ten minutes.
    let _ = w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap();
    let late = code_in(
        &w.outbox(w.tenant.id)
            .await
            .pop()
            .unwrap()
            .as_email()
            .unwrap()
            .body_text,
    );
    w.clock.advance(Duration::minutes(10));
    assert!(matches!(
        login_with(&w, &late).await,
        Err(Error::Unauthenticated)
    ));
}

#[tokio::test]
async fn a_tenant_requiring_2fa_for_admins_restricts_an_admin_without_one_until_enrolment() {
    let w = world().await;
    let (_, auth) = w.owner_session().await;
    w.identity
        .update_settings(
            &auth.context().unwrap(),
            SettingsChange {
                require_two_factor_for_admins: Some(true),
                ..SettingsChange::default()
            },
        )
        .await
        .unwrap();
    let outcome = w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap();
    let LoginOutcome::TwoFactorEnrolmentRequired(signed) = outcome else {
        panic!("expected a restricted session, got {outcome:?}");
    };
    let auth = w.auth(&signed).await.unwrap();
    assert!(auth.restricted);
    assert!(matches!(auth.context(), Err(Error::Forbidden { .. })));
    // Enrolment itself is open to the restricted session.
    w.identity.start_totp(&auth).await.unwrap();
    let secret = w.totp_secret(w.owner.id).await;
    w.identity
        .confirm_totp(&auth, &secret.code_at(w.clock.now()).unwrap())
        .await
        .unwrap();
    let auth = w.auth(&signed).await.unwrap();
    assert!(!auth.restricted && auth.context().is_ok());
    // The only factor cannot be switched off while the tenant requires one.
    assert!(matches!(
        w.identity
            .disable_totp(&auth, &Reauth::Password(Secret::from(OWNER_PASSWORD)))
            .await,
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        w.login(OWNER_EMAIL, OWNER_PASSWORD).await.unwrap(),
        LoginOutcome::SecondFactorRequired(_)
    ));
}
