//! Parsed text values: each type's only constructor checks its rules, so a
//! function that takes an [`Email`] never has to check it again.
//!
//! Names keep exactly the characters given (Arabic, Urdu, Persian, Latin, …):
//! only surrounding whitespace is trimmed; nothing is case-folded,
//! transliterated or normalised.

use std::fmt;

use crate::error::{Error, Result};

/// Rejects control characters (including bidi overrides used for spoofing
/// like U+202E), which have no place in names and break logs and PDFs.
fn has_forbidden_chars(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

/// A display name of a person, company, tenant or branch, in any script.
///
/// ```
/// use tms_core::domain::Name;
/// let name = Name::parse("  عبد الله بن محمد ").unwrap();
/// assert_eq!(name.as_str(), "عبد الله بن محمد");
/// assert!(Name::parse("   ").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Longest accepted name, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims surrounding whitespace and checks: not empty, at most
    /// [`Self::MAX_CHARS`] characters, no control or bidi-override characters.
    pub fn parse(raw: &str) -> Result<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid(
                "name",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if has_forbidden_chars(trimmed) {
            return Err(Error::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An email address, normalised to lower case.
///
/// The checks are deliberately those of a careful form, not full RFC 5322:
/// one `@`, a non-empty local part of at most 64 bytes, a domain with a dot,
/// no spaces or control characters, at most 254 bytes in all.
///
/// ```
/// use tms_core::domain::Email;
/// let email = Email::parse(" Amina.Khan@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "amina.khan@example.com");
/// assert_eq!(email.local_part(), "amina.khan");
/// assert!(Email::parse("no-at-sign.example.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalises an address.
    pub fn parse(raw: &str) -> Result<Self> {
        let candidate = raw.trim().to_lowercase();
        let invalid = |why: &str| Error::invalid("email", why.to_owned());
        if candidate.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if candidate.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        if candidate
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("must not contain spaces"));
        }
        let Some((local, domain)) = candidate.split_once('@') else {
            return Err(invalid("must contain an @"));
        };
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(invalid("is not a valid address"));
        }
        let domain_ok = domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if !domain_ok {
            return Err(invalid("has no valid domain"));
        }
        Ok(Self(candidate))
    }

    /// The whole address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0
            .split_once('@')
            .map_or(self.0.as_str(), |(local, _)| local)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The short name that identifies a tenant at login and in URLs:
/// 3 to 63 characters of `a-z`, `0-9` and inner `-`.
///
/// ```
/// use tms_core::domain::TenantSlug;
/// assert_eq!(TenantSlug::parse("Al-Noor").unwrap().as_str(), "al-noor");
/// assert!(TenantSlug::parse("-x-").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Parses a slug, folding ASCII upper case to lower case.
    pub fn parse(raw: &str) -> Result<Self> {
        let slug = raw.trim().to_ascii_lowercase();
        let ok = (3..=63).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if ok {
            Ok(Self(slug))
        } else {
            Err(Error::invalid(
                "tenant",
                "must be 3 to 63 letters, digits or inner hyphens",
            ))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantSlug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A phone number in E.164 form: `+` and 8 to 15 digits.
///
/// Spaces, dashes, dots and parentheses are dropped when parsing; a leading
/// `00` is read as `+`. A number without a country code is rejected rather
/// than guessed.
///
/// ```
/// use tms_core::domain::Phone;
/// assert_eq!(Phone::parse("+966 (50) 123-4567").unwrap().as_str(), "+966501234567");
/// assert_eq!(Phone::parse("0092 300 1234567").unwrap().as_str(), "+923001234567");
/// assert!(Phone::parse("0501234567").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses and normalises a number to E.164.
    pub fn parse(raw: &str) -> Result<Self> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Err(Error::invalid(
                "phone",
                "must start with + and a country code",
            ));
        };
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(format!("+{digits}")))
        } else {
            Err(Error::invalid(
                "phone",
                "is not a valid international number",
            ))
        }
    }

    /// The number in E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A passport (or national travel document) number: personal data.
///
/// Normalised to upper-case ASCII letters and digits, spaces and dashes
/// removed, 5 to 20 characters. `Debug` shows only the last two characters,
/// so a passport number never reaches a log line; there is no `Display`:
/// [`PassportNumber::expose`] is the one way to the full text (to seal it,
/// to index it, to print it on a manifest).
///
/// ```
/// use tms_core::domain::PassportNumber;
///
/// let number = PassportNumber::parse(" ab-123 4567 ").unwrap();
/// assert_eq!(number.expose(), "AB1234567");
/// assert_eq!(format!("{number:?}"), "PassportNumber(…67)");
/// assert!(PassportNumber::parse("12").is_err());
/// assert!(PassportNumber::parse("AB12345/7").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PassportNumber(String);

impl PassportNumber {
    /// Parses and normalises a number.
    pub fn parse(raw: &str) -> Result<Self> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(5..=20).contains(&compact.len()) {
            return Err(Error::invalid(
                "passport_number",
                "must have 5 to 20 letters and digits",
            ));
        }
        if !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "passport_number",
                "may contain only letters A-Z and digits",
            ));
        }
        Ok(Self(compact))
    }

    /// The full number. Keep it out of logs and error messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PassportNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = self.0.get(self.0.len().saturating_sub(2)..).unwrap_or("");
        write!(f, "PassportNumber(…{tail})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn arabic_urdu_and_persian_names_round_trip_exactly() {
        for raw in [
            "محمد عبد الرحمن",
            "عائشہ صدیقہ",
            "فاطمه رضایی",
            "Zoë O'Brien-Łukasz",
        ] {
            let name = Name::parse(raw).unwrap();
            assert_eq!(name.as_str(), raw);
            let json = serde_json::to_string(&name).unwrap();
            let back: Name = serde_json::from_str(&json).unwrap();
            assert_eq!(back, name);
        }
    }

    #[test]
    fn names_with_bidi_overrides_or_controls_are_rejected() {
        assert!(Name::parse("abc\u{202E}cba").is_err());
        assert!(Name::parse("line\nbreak").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"ع".repeat(200)).is_ok());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(Email::parse("A@B.CO").unwrap().as_str(), "a@b.co");
        for bad in [
            "", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@-b.co", "a@b..co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn deserializing_runs_the_same_checks() {
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        assert!(serde_json::from_str::<TenantSlug>("\"ok-slug\"").is_ok());
    }

    #[test]
    fn phones_need_a_country_code_and_the_right_length() {
        assert!(Phone::parse("+1 212 555 0100").is_ok());
        for bad in [
            "",
            "+",
            "+0123456789",
            "+12345",
            "+1234567890123456",
            "+96650abc4567",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn name_parse_never_panics(raw in "\\PC{0,300}") {
            let _ = Name::parse(&raw);
        }

        #[test]
        fn email_parse_never_panics_and_is_idempotent(raw in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
            }
        }
    }
}
