//! Single-use secret tokens: password reset, invitation, email OTP,
//! confirmation of critical actions.
//!
//! The plain token goes to its owner once (by mail, or in a response) and is
//! never stored: the store keeps only its SHA-256 ([`TokenHash`]). Comparing
//! hashes is constant-time. A [`SingleUseToken`] record adds purpose, expiry,
//! a try counter and a used mark, so that it works exactly once.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ports::Random;

/// A secret token in the clear: shown to its owner once, never stored or
/// logged. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(Zeroizing<String>);

impl PlainToken {
    /// 256 random bits, URL-safe base64 without padding (43 characters).
    pub fn generate(random: &dyn Random) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random.fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    /// A six-digit one-time code for email OTP (short enough to type; the
    /// try limit of its record makes guessing useless).
    pub fn generate_otp(random: &dyn Random) -> Self {
        let mut bytes = [0u8; 8];
        random.fill_bytes(&mut bytes);
        // 2^64 is not a multiple of 10^6; the bias (< 1e-13) is irrelevant.
        let code = u64::from_le_bytes(bytes) % 1_000_000;
        Self(Zeroizing::new(format!("{code:06}")))
    }

    /// Wraps a token a caller presented.
    pub fn from_presented(presented: &str) -> Self {
        Self(Zeroizing::new(presented.to_owned()))
    }

    /// The secret itself, to put in a mail or response. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash to store.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

impl fmt::Display for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The SHA-256 of a token: what the store keeps and looks tokens up by.
#[derive(Clone, Copy, Hash, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Constant-time comparison with the hash of `presented`.
    pub fn matches(&self, presented: &PlainToken) -> bool {
        self.0.ct_eq(&presented.hash().0).into()
    }

    /// Lower-case hex, for storage columns that hold text.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash is not secret, but eight hex digits are enough to correlate.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// What a token is for; each purpose has its own lifetime and try limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// Password reset link: 24 hours.
    PasswordReset,
    /// Invitation to set a first password: 7 days.
    Invitation,
    /// Email one-time code: 10 minutes, 5 tries.
    EmailOtp,
    /// Confirmation of a critical action: 5 minutes.
    Confirmation,
}

impl TokenPurpose {
    /// How long a token of this purpose lives.
    pub fn lifetime(self) -> Duration {
        match self {
            TokenPurpose::PasswordReset => Duration::hours(24),
            TokenPurpose::Invitation => Duration::days(7),
            TokenPurpose::EmailOtp => Duration::minutes(10),
            TokenPurpose::Confirmation => Duration::minutes(5),
        }
    }

    /// How many wrong guesses the record survives.
    pub fn max_attempts(self) -> u32 {
        match self {
            TokenPurpose::EmailOtp => 5,
            _ => 1,
        }
    }

    /// The stable name used in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::Invitation => "invitation",
            TokenPurpose::EmailOtp => "email_otp",
            TokenPurpose::Confirmation => "confirmation",
        }
    }
}

/// The stored side of a single-use token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SingleUseToken {
    /// What it is for.
    pub purpose: TokenPurpose,
    /// SHA-256 of the plain token.
    pub hash: TokenHash,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Wrong guesses so far.
    pub failed_attempts: u32,
    /// When it was used; a used token never works again.
    pub used_at: Option<DateTime<Utc>>,
}

impl SingleUseToken {
    /// Issues a token for `purpose` at `now`: the plain token for its owner
    /// and the record for the store.
    pub fn issue(
        purpose: TokenPurpose,
        now: DateTime<Utc>,
        random: &dyn Random,
    ) -> (PlainToken, Self) {
        let plain = match purpose {
            TokenPurpose::EmailOtp => PlainToken::generate_otp(random),
            _ => PlainToken::generate(random),
        };
        let record = Self {
            purpose,
            hash: plain.hash(),
            issued_at: now,
            expires_at: now + purpose.lifetime(),
            failed_attempts: 0,
            used_at: None,
        };
        (plain, record)
    }

    /// Checks `presented` and, if it matches, marks the record used.
    ///
    /// A wrong guess counts against the try limit (the caller must persist the
    /// record either way). Every failure is the same `Invalid` error, so a
    /// caller learns nothing about why a token was refused.
    pub fn redeem(&mut self, presented: &PlainToken, now: DateTime<Utc>) -> Result<()> {
        let refused = || Error::invalid("token", "is invalid or has expired");
        if self.used_at.is_some()
            || now >= self.expires_at
            || self.failed_attempts >= self.purpose.max_attempts()
        {
            return Err(refused());
        }
        if !self.hash.matches(presented) {
            self.failed_attempts += 1;
            return Err(refused());
        }
        self.used_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{OsRandom, SeededRandom};

    #[test]
    fn tokens_are_256_bit_url_safe_and_never_printed() {
        let token = PlainToken::generate(&OsRandom);
        assert_eq!(token.expose().len(), 43);
        assert!(
            token
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(!format!("{token:?}{token}").contains(token.expose()));
    }

    #[test]
    fn a_token_works_once() {
        let now = Utc::now();
        let (plain, mut record) =
            SingleUseToken::issue(TokenPurpose::PasswordReset, now, &OsRandom);
        assert!(record.redeem(&plain, now).is_ok());
        assert!(record.redeem(&plain, now).is_err());
    }

    #[test]
    fn a_token_expires() {
        let now = Utc::now();
        let (plain, mut record) = SingleUseToken::issue(TokenPurpose::Confirmation, now, &OsRandom);
        assert!(record.redeem(&plain, now + Duration::minutes(5)).is_err());
        assert_eq!(record.used_at, None);
    }

    #[test]
    fn an_otp_survives_four_wrong_guesses_but_not_five() {
        let now = Utc::now();
        let (plain, mut record) =
            SingleUseToken::issue(TokenPurpose::EmailOtp, now, &SeededRandom::new(3));
        assert_eq!(plain.expose().len(), 6);
        let wrong = PlainToken::from_presented(if plain.expose() == "000000" {
            "111111"
        } else {
            "000000"
        });
        for _ in 0..4 {
            assert!(record.redeem(&wrong, now).is_err());
        }
        assert!(
            record.redeem(&plain, now).is_ok(),
            "fifth try is still allowed"
        );

        let (plain, mut record) =
            SingleUseToken::issue(TokenPurpose::EmailOtp, now, &SeededRandom::new(4));
        let wrong = PlainToken::from_presented(if plain.expose() == "000000" {
            "111111"
        } else {
            "000000"
        });
        for _ in 0..5 {
            assert!(record.redeem(&wrong, now).is_err());
        }
        assert!(
            record.redeem(&plain, now).is_err(),
            "locked after five wrong guesses"
        );
    }

    #[test]
    fn reset_tokens_live_a_day() {
        let now = Utc::now();
        let (plain, mut record) =
            SingleUseToken::issue(TokenPurpose::PasswordReset, now, &OsRandom);
        assert!(record.redeem(&plain, now + Duration::hours(23)).is_ok());
    }
}
