//! Phone, email and the other free-text fields of a client: any text gives
//! a normalised value or a clear error, never a panic, and a normalised
//! value parses again to itself (what is stored reads back the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tms_core::domain::{Email, Name, PassportNumber, Phone, TenantSlug};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(phone) = Phone::parse(&text) {
        assert_eq!(Phone::parse(phone.as_str()).ok().as_ref(), Some(&phone));
        assert!(phone.as_str().starts_with('+'));
    }
    if let Ok(email) = Email::parse(&text) {
        assert_eq!(Email::parse(email.as_str()).ok().as_ref(), Some(&email));
        assert_eq!(
            format!("{}@{}", email.local_part(), email.domain()),
            email.as_str()
        );
    }
    if let Ok(name) = Name::parse(&text) {
        assert_eq!(Name::parse(name.as_str()).ok().as_ref(), Some(&name));
    }
    if let Ok(slug) = TenantSlug::parse(&text) {
        assert_eq!(TenantSlug::parse(slug.as_str()).ok().as_ref(), Some(&slug));
    }
    if let Ok(passport) = PassportNumber::parse(&text) {
        assert_eq!(
            PassportNumber::parse(passport.expose())
                .ok()
                .map(|p| p.expose().to_owned()),
            Some(passport.expose().to_owned())
        );
    }
});
