//! Session tokens: a signed JWT naming a session (DESIGN.md §4).
//!
//! The token is only a signed pointer: `sid` names the session row, which the
//! server checks on every request, so logout takes effect at once. The JWT
//! adds integrity (nobody can forge a `sid`, `sub` or `tid`) and a hard
//! expiry.
//!
//! **Algorithm pinned.** Tokens are HS256 with a key of at least 256 bits
//! ([`JwtKey`]). The `alg` header is attacker-controlled, so it is never
//! trusted: `none`, any other HMAC width, and RSA/EC/EdDSA headers
//! (the classic "algorithm confusion" with a public key used as an HMAC
//! secret) are all refused before any signature is computed.
//!
//! **Time injected.** jsonwebtoken reads the system clock for `exp`; that
//! check is switched off and `exp` (and a sane `iat`) are checked here
//! against the `now` the caller passes, so tests and simulations control
//! time, with no leeway on expiry.
//!
//! **Failures are all alike.** A malformed, oversized, forged, confused,
//! expired or foreign token is [`Error::Unauthenticated`] — never a panic,
//! never a hint about which check failed.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use zeroize::Zeroizing;

use crate::domain::Session;
use crate::error::{Error, Result};
use crate::id::{SessionId, TenantId, UserId};
use crate::ports::Random;
use crate::security::secret::Secret;

/// Shortest accepted HS256 key, in bytes (RFC 7518 §3.2: at least the hash
/// size).
pub const MIN_KEY_LEN: usize = 32;
/// Longest token looked at; anything longer is refused unread. Session
/// tokens are about 300 bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// How far in the future an `iat` may lie (clock drift between replicas).
pub const MAX_IAT_SKEW_SECONDS: i64 = 60;

/// The HS256 signing key. `Debug` prints `<redacted>`.
///
/// The caller's copy of the bytes is theirs to zeroize; jsonwebtoken keeps
/// its own copy for the life of this value.
pub struct JwtKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey(<redacted>)")
    }
}

impl JwtKey {
    /// Uses `bytes` as the key. Fails with [`Error::Invalid`] (field
    /// `"jwt_key"`) when shorter than [`MIN_KEY_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(Error::invalid(
                "jwt_key",
                format!("must be at least {MIN_KEY_LEN} bytes"),
            ));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
        })
    }

    /// Decodes a standard base64 key (e.g. from the environment), then as
    /// [`JwtKey::from_bytes`].
    pub fn from_base64(text: &Secret<String>) -> Result<Self> {
        let bytes = STANDARD
            .decode(text.expose().trim().as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| Error::invalid("jwt_key", "is not valid base64"))?;
        Self::from_bytes(&bytes)
    }

    /// A new random 256-bit key and its base64 form, for the operator to
    /// keep.
    pub fn generate(random: &dyn Random) -> Result<(Self, Secret<String>)> {
        let mut bytes = Zeroizing::new([0u8; MIN_KEY_LEN]);
        random.fill_bytes(bytes.as_mut());
        let key = Self::from_bytes(bytes.as_ref())?;
        Ok((key, Secret::new(STANDARD.encode(bytes.as_ref()))))
    }
}

/// The claims of a session token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionClaims {
    /// The session, checked against the session store on every request.
    pub sid: SessionId,
    /// The user.
    pub sub: UserId,
    /// The user's tenant.
    pub tid: TenantId,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds; the token is refused from this second on.
    pub exp: i64,
    /// Issuer, when the codec has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, when the codec has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Issues and verifies session JWTs: HS256 only, time passed in.
///
/// ```
/// use chrono::{Duration, Utc};
/// use tms_core::id::{SessionId, TenantId, UserId};
/// use tms_core::ports::OsRandom;
/// use tms_core::security::jwt::{JwtKey, SessionJwt};
///
/// let (key, _base64_for_the_operator) = JwtKey::generate(&OsRandom)?;
/// let jwt = SessionJwt::new(key).with_issuer("tms").with_audience("tms-web");
/// let now = Utc::now();
/// let (sid, user, tenant) = (SessionId::new(), UserId::new(), TenantId::new());
///
/// let token = jwt.issue(sid, user, tenant, now, now + Duration::hours(12))?;
/// let claims = jwt.verify(token.expose(), now + Duration::minutes(5))?;
/// assert_eq!((claims.sid, claims.sub, claims.tid), (sid, user, tenant));
///
/// // At its expiry (and after), the same token is refused.
/// assert!(jwt.verify(token.expose(), now + Duration::hours(12)).is_err());
/// # Ok::<(), tms_core::Error>(())
/// ```
pub struct SessionJwt {
    key: JwtKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl fmt::Debug for SessionJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionJwt")
            .field("key", &self.key)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl SessionJwt {
    /// A codec signing with `key`, without `iss` or `aud`.
    pub fn new(key: JwtKey) -> Self {
        Self {
            key,
            issuer: None,
            audience: None,
        }
    }

    /// Writes `iss` into every token and requires it on verification.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Writes `aud` into every token and requires it on verification.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Signs a token for session `sid` of user `sub` in tenant `tid`, issued
    /// at `now`, expiring at `expires_at`. The token is a bearer credential:
    /// it comes back as a [`Secret`].
    pub fn issue(
        &self,
        sid: SessionId,
        sub: UserId,
        tid: TenantId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Secret<String>> {
        if expires_at <= now {
            return Err(Error::internal(
                "a session token must expire after it is issued",
            ));
        }
        let claims = SessionClaims {
            sid,
            sub,
            tid,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key.encoding)
            .map(Secret::new)
            .map_err(|_| Error::internal("session token cannot be signed"))
    }

    /// [`SessionJwt::issue`] for a session record: expires with the session.
    pub fn issue_for(&self, session: &Session, now: DateTime<Utc>) -> Result<Secret<String>> {
        self.issue(
            session.id,
            session.user_id,
            session.tenant_id,
            now,
            session.expires_at,
        )
    }

    /// Checks a presented token at `now`: HS256 signature with this key,
    /// `exp` after `now`, `iat` not in the future (beyond
    /// [`MAX_IAT_SKEW_SECONDS`]), and `iss`/`aud` when configured.
    ///
    /// Every failure is [`Error::Unauthenticated`]. The session itself must
    /// still be checked against the store.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SessionClaims> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::Unauthenticated);
        }
        let data =
            jsonwebtoken::decode::<SessionClaims>(token, &self.key.decoding, &self.validation())
                .map_err(|_| Error::Unauthenticated)?;
        let claims = data.claims;
        let now = now.timestamp();
        let fresh = data.header.alg == Algorithm::HS256
            && now < claims.exp
            && claims.iat < claims.exp
            && claims.iat <= now.saturating_add(MAX_IAT_SKEW_SECONDS)
            && claims.iss == self.issuer
            && claims.aud == self.audience;
        if fresh {
            Ok(claims)
        } else {
            Err(Error::Unauthenticated)
        }
    }

    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the injected `now`, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let mut required = vec!["exp"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SeededRandom;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::{Duration, TimeZone};
    use hmac::{Hmac, KeyInit, Mac};

    const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn jwt() -> SessionJwt {
        SessionJwt::new(JwtKey::from_bytes(KEY).unwrap())
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
    }

    fn ids() -> (SessionId, UserId, TenantId) {
        (
            SessionId::from_uuid(uuid::Uuid::from_u128(1)),
            UserId::from_uuid(uuid::Uuid::from_u128(2)),
            TenantId::from_uuid(uuid::Uuid::from_u128(3)),
        )
    }

    fn valid_token(jwt: &SessionJwt) -> String {
        let (sid, sub, tid) = ids();
        jwt.issue(sid, sub, tid, now(), now() + Duration::hours(1))
            .unwrap()
            .expose()
            .clone()
    }

    fn claims_json() -> String {
        let (sid, sub, tid) = ids();
        format!(
            r#"{{"sid":"{sid}","sub":"{sub}","tid":"{tid}","iat":{},"exp":{}}}"#,
            now().timestamp(),
            (now() + Duration::hours(1)).timestamp()
        )
    }

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn hmac_sig<D>(message: &str) -> String
    where
        Hmac<D>: KeyInit + Mac,
        D: hmac::EagerHash,
    {
        let mut mac = <Hmac<D> as KeyInit>::new_from_slice(KEY).unwrap();
        mac.update(message.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A token with the given header, our claims, and an HMAC signature of
    /// the given width made with the real key.
    fn forged(header: &str, sign: fn(&str) -> String) -> String {
        let message = format!("{}.{}", b64(header), b64(&claims_json()));
        let signature = sign(&message);
        format!("{message}.{signature}")
    }

    fn refused(jwt: &SessionJwt, token: &str) -> bool {
        matches!(jwt.verify(token, now()), Err(Error::Unauthenticated))
    }

    #[test]
    fn an_issued_token_verifies_and_carries_the_session() {
        let jwt = jwt();
        let claims = jwt.verify(&valid_token(&jwt), now()).unwrap();
        let (sid, sub, tid) = ids();
        assert_eq!((claims.sid, claims.sub, claims.tid), (sid, sub, tid));
        assert_eq!(claims.iat, now().timestamp());
        assert_eq!(claims.exp, (now() + Duration::hours(1)).timestamp());
    }

    #[test]
    fn tokens_are_hs256_jwts() {
        let header = jsonwebtoken::decode_header(valid_token(&jwt())).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn the_hand_built_hs256_token_is_accepted_so_the_forgery_tests_mean_something() {
        let token = forged(r#"{"alg":"HS256","typ":"JWT"}"#, hmac_sig::<sha2::Sha256>);
        assert!(jwt().verify(&token, now()).is_ok());
    }

    #[test]
    fn alg_none_is_refused() {
        let jwt = jwt();
        let message = format!(
            "{}.{}",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&claims_json())
        );
        assert!(refused(&jwt, &format!("{message}.")));
        // Even with a valid HS256 signature attached.
        let signature = hmac_sig::<sha2::Sha256>(&message);
        assert!(refused(&jwt, &format!("{message}.{signature}")));
        for alg in ["None", "NONE", "nOnE"] {
            let message = format!(
                "{}.{}",
                b64(&format!(r#"{{"alg":"{alg}"}}"#)),
                b64(&claims_json())
            );
            assert!(refused(&jwt, &format!("{message}.")), "{alg}");
        }
    }

    #[test]
    fn other_hmac_widths_are_refused_even_when_correctly_signed() {
        let jwt = jwt();
        assert!(refused(
            &jwt,
            &forged(r#"{"alg":"HS384","typ":"JWT"}"#, hmac_sig::<sha2::Sha384>)
        ));
        assert!(refused(
            &jwt,
            &forged(r#"{"alg":"HS512","typ":"JWT"}"#, hmac_sig::<sha2::Sha512>)
        ));
    }

    #[test]
    fn asymmetric_headers_are_refused_algorithm_confusion() {
        // The classic attack: an RS256/ES256/EdDSA header with an HMAC made
        // with whatever key the verifier holds.
        let jwt = jwt();
        for alg in ["RS256", "RS512", "PS256", "ES256", "EdDSA"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            assert!(
                refused(&jwt, &forged(&header, hmac_sig::<sha2::Sha256>)),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let jwt = jwt();
        let token = valid_token(&jwt);
        let (message, signature) = token.rsplit_once('.').unwrap();
        let mut flipped = signature.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(refused(&jwt, &format!("{message}.{flipped}")));
        assert!(refused(&jwt, &format!("{message}.")));

        let other = SessionJwt::new(JwtKey::from_bytes(&[7u8; 32]).unwrap());
        assert!(refused(&jwt, &valid_token(&other)));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let jwt = jwt();
        let token = valid_token(&jwt);
        let parts: Vec<&str> = token.split('.').collect();
        let other_tenant = claims_json().replace(
            &TenantId::from_uuid(uuid::Uuid::from_u128(3)).to_string(),
            &TenantId::from_uuid(uuid::Uuid::from_u128(4)).to_string(),
        );
        assert!(refused(
            &jwt,
            &format!("{}.{}.{}", parts[0], b64(&other_tenant), parts[2])
        ));
    }

    #[test]
    fn expiry_is_checked_against_the_time_passed_in_without_leeway() {
        let jwt = jwt();
        let token = valid_token(&jwt);
        let exp = now() + Duration::hours(1);
        assert!(jwt.verify(&token, exp - Duration::seconds(1)).is_ok());
        assert!(matches!(
            jwt.verify(&token, exp),
            Err(Error::Unauthenticated)
        ));
        assert!(matches!(
            jwt.verify(&token, exp + Duration::days(365)),
            Err(Error::Unauthenticated)
        ));
        // Long ago by the system clock, but valid at the injected time.
        let then = Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap();
        let (sid, sub, tid) = ids();
        let token = jwt
            .issue(sid, sub, tid, then, then + Duration::minutes(10))
            .unwrap();
        assert!(
            jwt.verify(token.expose(), then + Duration::minutes(9))
                .is_ok()
        );
    }

    #[test]
    fn a_token_issued_in_the_future_is_refused() {
        let jwt = jwt();
        let (sid, sub, tid) = ids();
        let later = now() + Duration::minutes(5);
        let token = jwt
            .issue(sid, sub, tid, later, later + Duration::hours(1))
            .unwrap();
        assert!(refused(&jwt, token.expose()));
        assert!(jwt.verify(token.expose(), later).is_ok());
        let slightly = now() + Duration::seconds(MAX_IAT_SKEW_SECONDS);
        let token = jwt
            .issue(sid, sub, tid, slightly, slightly + Duration::hours(1))
            .unwrap();
        assert!(
            jwt.verify(token.expose(), now()).is_ok(),
            "replica clocks may drift a little"
        );
    }

    #[test]
    fn issuer_and_audience_are_required_when_configured() {
        let plain = jwt();
        let codec = |iss: &str, aud: &str| {
            SessionJwt::new(JwtKey::from_bytes(KEY).unwrap())
                .with_issuer(iss)
                .with_audience(aud)
        };
        let strict = codec("tms", "tms-web");
        let good = valid_token(&strict);
        assert!(strict.verify(&good, now()).is_ok());
        assert!(refused(&strict, &valid_token(&plain)), "no iss/aud");
        assert!(refused(&strict, &valid_token(&codec("tms", "tms-mobile"))));
        assert!(refused(
            &strict,
            &valid_token(&codec("someone-else", "tms-web"))
        ));
        assert!(
            refused(&plain, &good),
            "a codec without aud refuses tokens for an audience"
        );
    }

    #[test]
    fn garbage_is_refused() {
        let jwt = jwt();
        let huge = "a".repeat(1 << 20);
        let huge_dots = format!(
            "{}.{}.{}",
            "e".repeat(5000),
            "e".repeat(5000),
            "e".repeat(5000)
        );
        let valid = valid_token(&jwt);
        for token in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "a.b",
            "not a token",
            "eyJ.eyJ.eyJ",
            "کلمہ.سر.غلط",
            "\u{0}.\u{0}.\u{0}",
            &huge,
            &huge_dots,
            &format!("{valid}.extra"),
            &format!(" {valid}"),
        ] {
            let shown: String = token.chars().take(40).collect();
            assert!(refused(&jwt, token), "{shown:?}");
        }
        let header = b64(r#"{"alg":"HS256"}"#);
        let bad_claims = [
            r#"{}"#,
            r#"{"sid":"x","sub":"y","tid":"z","iat":1,"exp":99999999999}"#,
            r#"[1,2,3]"#,
            r#"{"sid":null}"#,
        ];
        for claims in bad_claims {
            let message = format!("{header}.{}", b64(claims));
            let token = format!("{message}.{}", hmac_sig::<sha2::Sha256>(&message));
            assert!(refused(&jwt, &token), "{claims}");
        }
    }

    #[test]
    fn keys_are_at_least_256_bits_and_never_printed() {
        assert!(matches!(
            JwtKey::from_bytes(&[1u8; 31]),
            Err(Error::Invalid(_))
        ));
        let key = JwtKey::from_bytes(KEY).unwrap();
        assert_eq!(format!("{key:?}"), "JwtKey(<redacted>)");
        let jwt = SessionJwt::new(key).with_issuer("tms");
        let debug = format!("{jwt:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(debug.contains("<redacted>"));

        let (generated, base64) = JwtKey::generate(&SeededRandom::new(1)).unwrap();
        assert_eq!(format!("{base64:?}"), "Secret(<redacted>)");
        let again = JwtKey::from_base64(&base64).unwrap();
        let issuer = SessionJwt::new(generated);
        let (sid, sub, tid) = ids();
        let token = issuer
            .issue(sid, sub, tid, now(), now() + Duration::hours(1))
            .unwrap();
        assert!(SessionJwt::new(again).verify(token.expose(), now()).is_ok());
        assert!(JwtKey::from_base64(&Secret::from("***")).is_err());
    }

    #[test]
    fn a_token_for_a_session_expires_with_it() {
        let jwt = jwt();
        let (sid, sub, tid) = ids();
        let session = Session {
            id: sid,
            tenant_id: tid,
            user_id: sub,
            created_at: now(),
            last_seen_at: now(),
            expires_at: now() + Duration::hours(12),
            revoked_at: None,
            ip: None,
            user_agent: None,
        };
        let token = jwt.issue_for(&session, now()).unwrap();
        let claims = jwt.verify(token.expose(), now()).unwrap();
        assert_eq!(claims.exp, session.expires_at.timestamp());
        assert_eq!(claims.sid, session.id);
        assert!(
            jwt.issue(sid, sub, tid, now(), now()).is_err(),
            "already expired"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_strings_are_refused_without_panicking(token in "\\PC{0,300}") {
                prop_assert!(refused(&jwt(), &token));
            }

            #[test]
            fn arbitrary_three_part_tokens_are_refused(
                header in "[A-Za-z0-9_-]{0,80}",
                payload in "[A-Za-z0-9_-]{0,200}",
                signature in "[A-Za-z0-9_-]{0,90}",
            ) {
                let token = format!("{header}.{payload}.{signature}");
                prop_assert!(refused(&jwt(), &token));
            }

            #[test]
            fn arbitrary_json_headers_with_valid_claims_never_panic(header in "\\PC{0,80}") {
                let message = format!("{}.{}", b64(&header), b64(&claims_json()));
                let token = format!("{message}.{}", hmac_sig::<sha2::Sha256>(&message));
                let _ = jwt().verify(&token, now());
            }
        }
    }
}
