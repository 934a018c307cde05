//! Cookie and `Authorization` header parsing (the session token of a
//! request): any header text gives a token or none, never a panic, and a
//! token found is a trimmed, non-empty piece of what was sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tms_core::security::credentials::{bearer_token, cookie_value};

const SESSION_COOKIE: &str = "__Host-tms_session";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Lines are separate `Cookie` headers; the whole text is also tried as
    // an `Authorization` value.
    let headers: Vec<&str> = text.split('\n').collect();
    if let Some(value) = cookie_value(headers.iter().copied(), SESSION_COOKIE) {
        assert!(!value.is_empty() && value.trim() == value && !value.contains(';'));
        assert!(text.contains(value));
    }
    if let Some(token) = bearer_token(&text) {
        assert!(!token.is_empty() && token.trim() == token);
        assert!(text.contains(token));
    }
});
