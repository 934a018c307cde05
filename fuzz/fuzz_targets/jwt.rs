//! Session JWT verification: any presented text is refused (it cannot
//! carry our signature), and any claims signed with the server's key are
//! accepted or refused without a panic or an overflow — refused unless they
//! are well-formed, current and ours.
#![no_main]

use chrono::{DateTime, Utc};
use jsonwebtoken::{EncodingKey, Header, encode};
use libfuzzer_sys::fuzz_target;
use tms_core::security::jwt::{JwtKey, SessionJwt};

const KEY: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    let Ok(key) = JwtKey::from_bytes(&KEY) else {
        return;
    };
    let jwt = SessionJwt::new(key).with_issuer("tms");
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let text = String::from_utf8_lossy(data);
    // Forged or garbled: never accepted.
    assert!(
        jwt.verify(&text, now).is_err(),
        "an unsigned token was accepted"
    );
    // Signed with our key: the claims are whatever the input says.
    if let Ok(claims) = serde_json::from_slice::<serde_json::Value>(data) {
        let Ok(token) = encode(&Header::default(), &claims, &EncodingKey::from_secret(&KEY)) else {
            return;
        };
        if let Ok(accepted) = jwt.verify(&token, now) {
            assert!(accepted.exp > now.timestamp() && accepted.iat < accepted.exp);
            assert_eq!(accepted.iss.as_deref(), Some("tms"));
        }
    }
});
