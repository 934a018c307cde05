//! Second factor: TOTP (RFC 6238) and single-use recovery codes
//! (DESIGN.md §4).
//!
//! **TOTP.** HMAC-SHA1, 6 digits, 30-second steps — what every authenticator
//! app supports. A code is accepted for the current step and one step either
//! side (clock drift, slow typing). RFC 6238 §5.2 asks that a code be
//! accepted only once, and `totp-rs` leaves that to the caller: here
//! [`TotpSecret::verify`] takes the last accepted time step (stored as
//! `TwoFactor::totp_last_step`) and refuses any code for a step at or before
//! it, returning the newly accepted step to store. A code seen on the wire
//! is therefore worthless to whoever saw it.
//!
//! **Enrolment.** [`enrol`] draws a 160-bit secret from [`Random`] (the
//! length RFC 4226 recommends) and the `otpauth://` URI an authenticator app
//! scans. The secret is sealed with the key ring before it is stored, and
//! only activated once the user has typed a first valid code.
//!
//! **Recovery codes.** Ten codes, each 60 random bits written as
//! `xxxx-xxxx-xxxx` in lower-case Crockford base32 (no `i`, `l`, `o` or `u`
//! to misread; typing `o` for `0` or `l` for `1` still works). They are shown
//! once; only their SHA-256 is stored (60 bits of entropy make a slow hash
//! unnecessary), compared in constant time, and each works once.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ports::Random;
use crate::security::secret::Secret;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
/// Steps accepted before and after the current one.
pub const SKEW_STEPS: u64 = 1;
/// Length of a generated secret in bytes (160 bits).
pub const SECRET_LEN: usize = 20;
/// Shortest secret accepted from storage, in bytes (RFC 4226: 128 bits).
pub const MIN_SECRET_LEN: usize = 16;
/// How many recovery codes a user gets.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Crockford's base32 alphabet, lower case.
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters of a recovery code, without the dashes.
const RECOVERY_CODE_CHARS: usize = 12;

/// The time step that contains `at` (Unix seconds / 30).
pub fn time_step(at: DateTime<Utc>) -> Result<u64> {
    u64::try_from(at.timestamp())
        .map(|seconds| seconds / STEP_SECONDS)
        .map_err(|_| Error::internal("time is before 1970"))
}

/// A TOTP shared secret. `Debug` prints `<redacted>`; zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// 160 random bits.
    pub fn generate(random: &dyn Random) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        random.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps a secret read back from storage (after the key ring opened it).
    /// Fails with [`Error::Internal`] when it is shorter than 128 bits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::internal("TOTP secret is too short"));
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// The raw secret, to seal with the key ring. Never log it.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32 (RFC 4648, no padding), for users who type it
    /// into their app instead of scanning the code.
    pub fn to_base32(&self) -> Secret<String> {
        Secret::new(totp_rs::Secret::from(self.0.as_slice()).to_base32())
    }

    /// RFC 6238 as every authenticator app knows it: SHA1, 6 digits, 30 s.
    fn builder(&self) -> totp_rs::Builder {
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(SKEW_STEPS as u16)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0.as_slice())
    }

    fn totp(&self) -> Result<totp_rs::Totp> {
        self.builder()
            .build()
            .map_err(|_| Error::internal("TOTP parameters are invalid"))
    }

    /// The `otpauth://totp/…` URI for authenticator apps (usually shown as a
    /// QR code). Neither `issuer` nor `account_name` may contain `:` or be
    /// empty ([`Error::Invalid`]).
    pub fn otpauth_uri(&self, issuer: &str, account_name: &str) -> Result<Secret<String>> {
        if issuer.is_empty() || issuer.contains(':') {
            return Err(Error::invalid("issuer", "must not be empty or contain ':'"));
        }
        if account_name.is_empty() || account_name.contains(':') {
            return Err(Error::invalid(
                "account_name",
                "must not be empty or contain ':'",
            ));
        }
        self.builder()
            .with_account_name(account_name)
            .with_issuer(Some(issuer))
            .build()
            .map_err(|_| Error::internal("TOTP parameters are invalid"))?
            .to_url()
            .map(Secret::new)
            .map_err(|_| Error::internal("TOTP URI cannot be built"))
    }

    /// The code for the step containing `at` — what the user's app shows.
    pub fn code_at(&self, at: DateTime<Utc>) -> Result<String> {
        let step = time_step(at)?;
        self.code_for_step(step)
    }

    fn code_for_step(&self, step: u64) -> Result<String> {
        let time = step
            .checked_mul(STEP_SECONDS)
            .ok_or_else(|| Error::internal("time is out of range"))?;
        Ok(self.totp()?.generate(time).to_string())
    }

    /// Checks `code` at `now`, accepting the current step ± [`SKEW_STEPS`],
    /// but only steps after `last_step` (the last one accepted for this
    /// user). Returns the step accepted now: store it as the new last step.
    ///
    /// Spaces in the code are ignored (`"123 456"`). A wrong, malformed or
    /// replayed code is the same [`Error::Invalid`] for the field `"code"`.
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use tms_core::ports::OsRandom;
    /// use tms_core::security::totp::TotpSecret;
    ///
    /// let secret = TotpSecret::generate(&OsRandom);
    /// let now = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
    /// let code = secret.code_at(now)?;
    ///
    /// let step = secret.verify(&code, now, None)?;
    /// // The same code again — a replay — is refused, even within its 30 s.
    /// assert!(secret.verify(&code, now + Duration::seconds(5), Some(step)).is_err());
    /// // The next code is fine.
    /// let later = now + Duration::seconds(30);
    /// assert_eq!(secret.verify(&secret.code_at(later)?, later, Some(step))?, step + 1);
    /// # Ok::<(), tms_core::Error>(())
    /// ```
    pub fn verify(&self, code: &str, now: DateTime<Utc>, last_step: Option<u64>) -> Result<u64> {
        let refused = || Error::invalid("code", "is invalid or was already used");
        if code.len() > 32 {
            return Err(refused());
        }
        let presented: Zeroizing<String> =
            Zeroizing::new(code.chars().filter(|c| !c.is_whitespace()).collect());
        if presented.len() != DIGITS || !presented.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused());
        }
        let current = time_step(now)?;
        let totp = self.totp()?;
        let mut accepted = None;
        for step in current.saturating_sub(SKEW_STEPS)..=current.saturating_add(SKEW_STEPS) {
            let Some(time) = step.checked_mul(STEP_SECONDS) else {
                continue;
            };
            let expected = Zeroizing::new(totp.generate(time).to_string());
            let matches: bool = expected.as_bytes().ct_eq(presented.as_bytes()).into();
            let fresh = last_step.is_none_or(|last| step > last);
            if matches && fresh {
                accepted = Some(step);
            }
        }
        accepted.ok_or_else(refused)
    }
}

/// What [`enrol`] gives: the secret to seal and store (pending until the
/// first code confirms it) and the URI to show as a QR code.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// The new shared secret.
    pub secret: TotpSecret,
    /// The `otpauth://` URI for the authenticator app.
    pub uri: Secret<String>,
}

/// Starts TOTP enrolment: a fresh 160-bit secret and its `otpauth://` URI,
/// labelled `issuer:account_name`.
///
/// ```
/// use tms_core::ports::OsRandom;
/// use tms_core::security::totp::enrol;
///
/// let enrolment = enrol("Al-Noor Travel", "amina@example.com", &OsRandom)?;
/// let uri = enrolment.uri.expose();
/// assert!(uri.starts_with("otpauth://totp/Al-Noor%20Travel:amina%40example.com?secret="));
/// assert!(uri.contains("&issuer=Al-Noor%20Travel"));
/// assert_eq!(enrolment.secret.expose_bytes().len(), 20);
/// # Ok::<(), tms_core::Error>(())
/// ```
pub fn enrol(issuer: &str, account_name: &str, random: &dyn Random) -> Result<TotpEnrolment> {
    let secret = TotpSecret::generate(random);
    let uri = secret.otpauth_uri(issuer, account_name)?;
    Ok(TotpEnrolment { secret, uri })
}

/// A recovery code in the clear, `xxxx-xxxx-xxxx`: shown to its owner once,
/// never stored or logged. `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// The code, to show the user once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// The SHA-256 of a normalised recovery code: what the store keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RecoveryCodeHash(pub [u8; 32]);

impl fmt::Debug for RecoveryCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RecoveryCodeHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// One stored recovery code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecoveryCodeSlot {
    /// SHA-256 of the normalised code.
    pub hash: RecoveryCodeHash,
    /// When it was redeemed; a used code never works again.
    pub used_at: Option<DateTime<Utc>>,
}

/// A user's recovery codes as stored: hashes and used marks only.
///
/// ```
/// use chrono::Utc;
/// use tms_core::ports::OsRandom;
/// use tms_core::security::totp::RecoveryCodes;
///
/// let (shown_once, mut stored) = RecoveryCodes::generate(&OsRandom);
/// assert_eq!(shown_once.len(), 10);
/// let typed = shown_once[3].expose().to_uppercase(); // case does not matter
/// assert_eq!(stored.redeem(&typed, Utc::now())?, 3);
/// assert!(stored.redeem(&typed, Utc::now()).is_err(), "each code works once");
/// assert_eq!(stored.remaining(), 9);
/// # Ok::<(), tms_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RecoveryCodes(Vec<RecoveryCodeSlot>);

impl RecoveryCodes {
    /// [`RECOVERY_CODE_COUNT`] fresh codes: the plain codes to show once, and
    /// the record to store.
    pub fn generate(random: &dyn Random) -> (Vec<RecoveryCode>, Self) {
        let mut plain = Vec::with_capacity(RECOVERY_CODE_COUNT);
        let mut slots = Vec::with_capacity(RECOVERY_CODE_COUNT);
        for _ in 0..RECOVERY_CODE_COUNT {
            let mut bytes = Zeroizing::new([0u8; RECOVERY_CODE_CHARS]);
            random.fill_bytes(bytes.as_mut());
            // 256 is a multiple of 32: the low five bits are uniform.
            let mut code = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS + 2));
            for (i, byte) in bytes.iter().enumerate() {
                if i > 0 && i % 4 == 0 {
                    code.push('-');
                }
                code.push(char::from(CROCKFORD[usize::from(byte & 31)]));
            }
            let hash = normalize_recovery_code(&code)
                .map(|n| hash_code(&n))
                .unwrap_or(RecoveryCodeHash([0; 32]));
            slots.push(RecoveryCodeSlot {
                hash,
                used_at: None,
            });
            plain.push(RecoveryCode(code));
        }
        (plain, Self(slots))
    }

    /// Wraps slots read back from storage.
    pub fn from_slots(slots: Vec<RecoveryCodeSlot>) -> Self {
        Self(slots)
    }

    /// The stored slots, in the order the codes were shown.
    pub fn slots(&self) -> &[RecoveryCodeSlot] {
        &self.0
    }

    /// How many codes are still unused.
    pub fn remaining(&self) -> usize {
        self.0.iter().filter(|slot| slot.used_at.is_none()).count()
    }

    /// Redeems `presented` (case, spaces and dashes do not matter; `o`, `i`
    /// and `l` read as `0`, `1`, `1`): marks its slot used at `now` and
    /// returns its index, so that the store can persist the mark. Every
    /// unused slot is compared, in constant time.
    ///
    /// A wrong or already used code is [`Error::Invalid`] for the field
    /// `"recovery_code"`.
    pub fn redeem(&mut self, presented: &str, now: DateTime<Utc>) -> Result<usize> {
        let refused = || Error::invalid("recovery_code", "is invalid or was already used");
        let normalized = normalize_recovery_code(presented).ok_or_else(refused)?;
        let hash = hash_code(&normalized);
        let mut found = Choice::from(0);
        let mut index = u32::MAX;
        for (i, slot) in self.0.iter().enumerate() {
            let unused = Choice::from(u8::from(slot.used_at.is_none()));
            let hit = slot.hash.0.ct_eq(&hash.0) & unused;
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            index = u32::conditional_select(&index, &i, hit & !found);
            found |= hit;
        }
        if !bool::from(found) {
            return Err(refused());
        }
        let index = usize::try_from(index).map_err(|_| refused())?;
        let slot = self.0.get_mut(index).ok_or_else(refused)?;
        slot.used_at = Some(now);
        Ok(index)
    }
}

/// Lower case, without dashes or whitespace, `o`→`0`, `i`/`l`→`1`; `None`
/// unless exactly twelve Crockford characters remain.
fn normalize_recovery_code(presented: &str) -> Option<Zeroizing<String>> {
    if presented.len() > 64 {
        return None;
    }
    let mut out = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS));
    for c in presented.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        };
        if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == RECOVERY_CODE_CHARS).then_some(out)
}

fn hash_code(normalized: &str) -> RecoveryCodeHash {
    RecoveryCodeHash(Sha256::digest(normalized.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SeededRandom;
    use chrono::{Duration, TimeZone};

    /// The RFC 6238 appendix B secret for SHA1.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn codes_match_the_rfc_6238_sha1_test_vectors() {
        // RFC 6238 appendix B gives 8 digits; 6-digit codes are their last six.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = rfc_secret();
        for (time, eight) in vectors {
            assert_eq!(secret.code_at(at(time)).unwrap(), &eight[2..], "T = {time}");
            assert_eq!(
                secret.verify(&eight[2..], at(time), None).unwrap(),
                time as u64 / 30
            );
        }
    }

    #[test]
    fn one_step_of_drift_either_way_is_accepted_but_not_two() {
        let secret = rfc_secret();
        let now = at(1_234_567_890);
        let step = time_step(now).unwrap();
        for (offset, accepted) in [
            (-60, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = secret.code_at(now + Duration::seconds(offset)).unwrap();
            let result = secret.verify(&code, now, None);
            assert_eq!(result.is_ok(), accepted, "offset {offset}s");
            if accepted {
                assert_eq!(result.unwrap(), (step as i64 + offset / 30) as u64);
            }
        }
    }

    #[test]
    fn a_code_is_accepted_once() {
        let secret = rfc_secret();
        let now = at(1_700_000_000);
        let code = secret.code_at(now).unwrap();
        let step = secret.verify(&code, now, None).unwrap();
        assert_eq!(step, time_step(now).unwrap());
        let replay = secret.verify(&code, now + Duration::seconds(10), Some(step));
        assert!(matches!(replay, Err(Error::Invalid(_))));
    }

    #[test]
    fn codes_for_steps_at_or_before_the_last_accepted_are_refused() {
        let secret = rfc_secret();
        let now = at(1_700_000_000);
        let step = time_step(now).unwrap();
        let previous = secret.code_at(now - Duration::seconds(30)).unwrap();
        // The previous step's code is within the drift window, but a later
        // step has already been accepted.
        assert!(secret.verify(&previous, now, Some(step)).is_err());
        assert!(secret.verify(&previous, now, Some(step - 1)).is_err());
        assert_eq!(
            secret.verify(&previous, now, Some(step - 2)).unwrap(),
            step - 1
        );
        let next = secret.code_at(now + Duration::seconds(30)).unwrap();
        assert_eq!(secret.verify(&next, now, Some(step)).unwrap(), step + 1);
    }

    #[test]
    fn malformed_codes_are_refused_without_panicking() {
        let secret = rfc_secret();
        let now = at(59);
        assert_eq!(
            secret.verify(" 287 082 ", now, None).unwrap(),
            1,
            "spaces are ignored"
        );
        for code in [
            "",
            "28708",
            "2870822",
            "+87082",
            "28708a",
            "２８７０８２",
            "287082287082287082287082287082287082",
        ] {
            assert!(
                matches!(secret.verify(code, now, None), Err(Error::Invalid(_))),
                "{code:?}"
            );
        }
    }

    #[test]
    fn secrets_are_160_bits_from_the_injected_random_and_never_printed() {
        let a = TotpSecret::generate(&SeededRandom::new(1));
        let b = TotpSecret::generate(&SeededRandom::new(1));
        assert_eq!(a, b);
        assert_eq!(a.expose_bytes().len(), 20);
        assert_ne!(a, TotpSecret::generate(&SeededRandom::new(2)));
        assert_eq!(format!("{a:?}"), "TotpSecret(<redacted>)");
        assert!(TotpSecret::from_bytes(&[0; 15]).is_err());
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account_and_carries_the_secret() {
        let secret = rfc_secret();
        let uri = secret.otpauth_uri("TMS", "amina@example.com").unwrap();
        assert_eq!(
            uri.expose(),
            "otpauth://totp/TMS:amina%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=TMS"
        );
        assert_eq!(
            secret.to_base32().expose(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert!(secret.otpauth_uri("A:B", "x@example.com").is_err());
        assert!(secret.otpauth_uri("TMS", "").is_err());
        assert_eq!(format!("{uri:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn enrolment_round_trips_through_the_uri() {
        let enrolment = enrol("وكالة النور", "amina@example.com", &SeededRandom::new(3)).unwrap();
        let parsed = totp_rs::Totp::from_url(enrolment.uri.expose()).unwrap();
        assert_eq!(parsed.secret().as_ref(), enrolment.secret.expose_bytes());
        assert_eq!(parsed.issuer(), Some("وكالة النور"));
        assert_eq!(parsed.account_name(), "amina@example.com");
        assert_eq!((parsed.digits(), parsed.step()), (6, 30));
        assert_eq!(parsed.algorithm(), totp_rs::Algorithm::SHA1);
    }

    #[test]
    fn ten_recovery_codes_in_groups_of_four_crockford_characters() {
        let (plain, stored) = RecoveryCodes::generate(&SeededRandom::new(4));
        assert_eq!(plain.len(), 10);
        assert_eq!(stored.slots().len(), 10);
        for code in &plain {
            let text = code.expose();
            assert_eq!(text.len(), 14, "{text}");
            let groups: Vec<&str> = text.split('-').collect();
            assert_eq!(groups.len(), 3);
            assert!(
                groups
                    .iter()
                    .all(|g| g.len() == 4 && g.bytes().all(|b| CROCKFORD.contains(&b)))
            );
            assert_eq!(format!("{code:?}"), "RecoveryCode(<redacted>)");
        }
        let mut distinct: Vec<&str> = plain.iter().map(RecoveryCode::expose).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
    }

    #[test]
    fn only_hashes_are_stored() {
        let (plain, stored) = RecoveryCodes::generate(&SeededRandom::new(5));
        let json = serde_json::to_string(&stored).unwrap();
        let debug = format!("{stored:?}");
        for code in &plain {
            let bare = code.expose().replace('-', "");
            assert!(!json.contains(code.expose()) && !json.contains(&bare));
            assert!(!debug.contains(code.expose()) && !debug.contains(&bare));
        }
        let expected = Sha256::digest(plain[0].expose().replace('-', "").as_bytes());
        assert_eq!(stored.slots()[0].hash.0, <[u8; 32]>::from(expected));
        let back: RecoveryCodes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stored);
    }

    #[test]
    fn each_recovery_code_works_once_and_says_which_it_was() {
        let (plain, mut stored) = RecoveryCodes::generate(&SeededRandom::new(6));
        let now = at(1_700_000_000);
        for (i, code) in plain.iter().enumerate().rev() {
            assert_eq!(stored.redeem(code.expose(), now).unwrap(), i);
            assert_eq!(stored.slots()[i].used_at, Some(now));
            assert!(matches!(
                stored.redeem(code.expose(), now),
                Err(Error::Invalid(_))
            ));
        }
        assert_eq!(stored.remaining(), 0);
    }

    #[test]
    fn recovery_codes_forgive_case_spacing_and_lookalikes() {
        let (plain, stored) = RecoveryCodes::generate(&SeededRandom::new(7));
        let code = plain[0].expose();
        let sloppy: String = code
            .replace('-', " ")
            .to_uppercase()
            .replace('0', "O")
            .replace('1', "l");
        let mut copy = stored.clone();
        assert_eq!(copy.redeem(&sloppy, at(0)).unwrap(), 0);
        let mut copy = stored.clone();
        assert_eq!(copy.redeem(&code.replace('-', ""), at(0)).unwrap(), 0);
    }

    #[test]
    fn wrong_recovery_codes_are_refused_and_mark_nothing() {
        let (_, mut stored) = RecoveryCodes::generate(&SeededRandom::new(8));
        let before = stored.clone();
        for wrong in [
            "",
            "0000-0000-0000",
            "uuuu-uuuu-uuuu",
            "abcd-efgh",
            "كلمة-سر",
            &"a".repeat(1000),
        ] {
            assert!(
                matches!(stored.redeem(wrong, at(0)), Err(Error::Invalid(_))),
                "{wrong:?}"
            );
        }
        assert_eq!(stored, before);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_codes_never_panic(code in "\\PC{0,40}", seconds in 0i64..20_000_000_000, last in proptest::option::of(any::<u64>())) {
                let _ = rfc_secret().verify(&code, at(seconds), last);
            }

            #[test]
            fn arbitrary_recovery_codes_never_panic(code in "\\PC{0,40}") {
                let (_, mut stored) = RecoveryCodes::generate(&SeededRandom::new(9));
                let _ = stored.redeem(&code, at(0));
            }
        }
    }
}
