//! Passwords: hashing, verification with upgrade on login, and the policy
//! that a new password must meet (DESIGN.md §4).
//!
//! **Hashing.** New hashes are argon2id with the OWASP parameters (m = 19 MiB,
//! t = 2, p = 1) in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$…`), so
//! that every stored hash says how it was made. When the parameters change,
//! [`PasswordHasher::verify`] says so ([`Verification::needs_rehash`]) and the
//! login service rehashes with the password it has just checked — the only
//! moment the plain password is at hand.
//!
//! **Legacy bcrypt.** Agencies migrating from PHP platforms bring
//! `password_hash()` output: `$2y$` (PHP), `$2b$` and `$2a$`. Those verify as
//! they are and always report that they need a rehash, so each account moves
//! to argon2id on its next login. (bcrypt only reads the first 72 bytes of a
//! password; that was already true on the old platform.)
//!
//! **Timing.** [`PasswordHasher::verify_dummy`] does the same argon2 work as a
//! real verification, for logins of unknown users: a response time does not
//! tell whether an account exists.
//!
//! **Stored hashes are input too.** A malformed or hostile stored hash is an
//! [`Error::Internal`], never a panic, and cost parameters beyond sane limits
//! are refused before any memory is allocated for them.
//!
//! **Policy.** [`check_password_policy`]: 12 to 128 characters (characters, not
//! bytes: an Arabic letter is two bytes), a zxcvbn strength estimate of at
//! least 3 (with the user's email and name as known inputs), and not
//! containing the email's local part or any part of the name. Every broken
//! rule is reported, and no message ever contains the password.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroizing;

use crate::domain::{Email, Name};
use crate::error::{Error, FieldErrors, Result};
use crate::ports::Random;
use crate::security::secret::Secret;

/// OWASP's argon2id memory cost: 19 MiB, in KiB.
pub const OWASP_M_COST_KIB: u32 = 19 * 1024;
/// OWASP's argon2id iteration count.
pub const OWASP_T_COST: u32 = 2;
/// OWASP's argon2id parallelism.
pub const OWASP_P_COST: u32 = 1;

/// Highest argon2 memory cost accepted, in KiB (256 MiB), for new hashes and
/// stored ones alike: a stored hash asking for more is refused, not run.
pub const MAX_M_COST_KIB: u32 = 256 * 1024;
/// Highest argon2 iteration count accepted.
pub const MAX_T_COST: u32 = 16;
/// Highest argon2 parallelism accepted.
pub const MAX_P_COST: u32 = 16;
/// Highest bcrypt cost accepted in a stored hash (PHP's default is 10).
pub const MAX_BCRYPT_COST: u32 = 16;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Lowest accepted zxcvbn score (0 to 4).
pub const MIN_STRENGTH_SCORE: u8 = 3;

/// Argon2 output length in bytes.
const OUTPUT_LEN: usize = 32;
/// Salt length in bytes.
const SALT_LEN: usize = 16;
/// The fixed salt of [`PasswordHasher::verify_dummy`]; its result is discarded.
const DUMMY_SALT: [u8; SALT_LEN] = *b"tms-dummy-salt!!";

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// The password matches.
    Valid {
        /// The stored hash is legacy bcrypt or uses other argon2 parameters
        /// than the current ones: store a fresh [`PasswordHasher::hash`] of
        /// the password just verified.
        needs_rehash: bool,
    },
    /// The password does not match.
    Invalid,
}

impl Verification {
    /// Whether the password matches.
    pub fn is_valid(self) -> bool {
        matches!(self, Verification::Valid { .. })
    }

    /// Whether the password matched and the stored hash should be replaced.
    pub fn needs_rehash(self) -> bool {
        matches!(self, Verification::Valid { needs_rehash: true })
    }
}

/// Hashes and verifies passwords with a fixed set of argon2id parameters.
///
/// ```
/// use tms_core::ports::OsRandom;
/// use tms_core::security::password::{PasswordHasher, Verification};
/// use tms_core::security::secret::Secret;
///
/// let hasher = PasswordHasher::owasp();
/// let password = Secret::from("a long and unusual passphrase");
/// let stored = hasher.hash(&password, &OsRandom)?;
/// assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
///
/// let outcome = hasher.verify(&password, &stored)?;
/// assert_eq!(outcome, Verification::Valid { needs_rehash: false });
/// assert!(!hasher.verify(&Secret::from("a wrong guess"), &stored)?.is_valid());
/// # Ok::<(), tms_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::owasp()
    }
}

impl PasswordHasher {
    /// The OWASP parameters: m = 19 MiB, t = 2, p = 1.
    pub fn owasp() -> Self {
        let params = Params::new(
            OWASP_M_COST_KIB,
            OWASP_T_COST,
            OWASP_P_COST,
            Some(OUTPUT_LEN),
        )
        .unwrap_or(Params::DEFAULT);
        Self { params }
    }

    /// Other parameters: memory in KiB, iterations, parallelism. For tests
    /// (cheap parameters) and for raising the cost later; hashes made with
    /// the previous parameters then report [`Verification::needs_rehash`].
    ///
    /// Fails with [`Error::Internal`] when argon2 rejects the parameters or
    /// they exceed [`MAX_M_COST_KIB`], [`MAX_T_COST`] or [`MAX_P_COST`].
    pub fn with_params(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, Some(OUTPUT_LEN))
            .map_err(|_| Error::internal("password hashing parameters are invalid"))?;
        check_limits(&params)?;
        Ok(Self { params })
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.params.m_cost()
    }

    /// Iteration count.
    pub fn t_cost(&self) -> u32 {
        self.params.t_cost()
    }

    /// Parallelism.
    pub fn p_cost(&self) -> u32 {
        self.params.p_cost()
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh 128-bit salt from `random`; returns the
    /// PHC string to store.
    pub fn hash(&self, password: &Secret<String>, random: &dyn Random) -> Result<String> {
        let mut salt = [0u8; SALT_LEN];
        random.fill_bytes(&mut salt);
        let hash = self
            .argon2()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map_err(|_| Error::internal("password hashing failed"))?;
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored hash: argon2 in PHC form, or legacy
    /// bcrypt (`$2y$`, `$2b$`, `$2a$`).
    ///
    /// A wrong password is `Ok(Verification::Invalid)`; a stored hash that is
    /// malformed, of an unknown kind, or beyond the cost limits is
    /// [`Error::Internal`] (it says nothing about the password).
    pub fn verify(&self, password: &Secret<String>, stored: &str) -> Result<Verification> {
        if stored.starts_with("$2") {
            return verify_bcrypt(password, stored);
        }
        if stored.starts_with("$argon2") {
            return self.verify_argon2(password, stored);
        }
        Err(Error::internal(
            "stored password hash has an unknown format",
        ))
    }

    fn verify_argon2(&self, password: &Secret<String>, stored: &str) -> Result<Verification> {
        let malformed = || Error::internal("stored password hash is malformed");
        let parsed = PasswordHash::new(stored).map_err(|_| malformed())?;
        let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| malformed())?;
        let params = Params::try_from(&parsed).map_err(|_| malformed())?;
        check_limits(&params)?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(malformed());
        }
        match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
            Ok(()) => {
                let needs_rehash = algorithm != Algorithm::Argon2id
                    || parsed.version != Some(Version::V0x13.into())
                    || params.m_cost() != self.params.m_cost()
                    || params.t_cost() != self.params.t_cost()
                    || params.p_cost() != self.params.p_cost()
                    || params.output_len() != Some(OUTPUT_LEN);
                Ok(Verification::Valid { needs_rehash })
            }
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verification::Invalid),
            Err(_) => Err(malformed()),
        }
    }

    /// Does the work of a real verification and always answers
    /// [`Verification::Invalid`]. Call it when the account does not exist, so
    /// that the response takes as long as for an existing one.
    ///
    /// ```
    /// use tms_core::security::password::PasswordHasher;
    /// use tms_core::security::secret::Secret;
    ///
    /// let hasher = PasswordHasher::owasp();
    /// let outcome = hasher.verify_dummy(&Secret::from("whatever was typed"));
    /// assert!(!outcome.is_valid());
    /// ```
    pub fn verify_dummy(&self, password: &Secret<String>) -> Verification {
        // Exactly the path of `verify` on a current hash: parse, one argon2
        // run with the current parameters, constant-time comparison. The
        // expected output is all zeros, which no password produces.
        let _ = std::hint::black_box(self.verify(password, &self.dummy_hash()));
        Verification::Invalid
    }

    /// A well-formed PHC string with the current parameters, a fixed salt and
    /// an all-zero output.
    fn dummy_hash(&self) -> String {
        format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            self.m_cost_kib(),
            self.t_cost(),
            self.p_cost(),
            STANDARD_NO_PAD.encode(DUMMY_SALT),
            STANDARD_NO_PAD.encode([0u8; OUTPUT_LEN]),
        )
    }
}

fn check_limits(params: &Params) -> Result<()> {
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return Err(Error::internal(
            "password hash parameters exceed the accepted limits",
        ));
    }
    Ok(())
}

fn verify_bcrypt(password: &Secret<String>, stored: &str) -> Result<Verification> {
    let malformed = || Error::internal("stored password hash is malformed");
    let prefix = stored.get(..4).ok_or_else(malformed)?;
    if !matches!(prefix, "$2y$" | "$2b$" | "$2a$") {
        return Err(Error::internal(
            "stored bcrypt hash has an unsupported version",
        ));
    }
    let cost: u32 = stored
        .get(4..6)
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(malformed)?;
    if cost > MAX_BCRYPT_COST {
        return Err(Error::internal(
            "password hash parameters exceed the accepted limits",
        ));
    }
    match bcrypt::verify(password.expose().as_bytes(), stored) {
        Ok(true) => Ok(Verification::Valid { needs_rehash: true }),
        Ok(false) => Ok(Verification::Invalid),
        Err(_) => Err(malformed()),
    }
}

/// Checks a new password against the policy: [`MIN_PASSWORD_CHARS`] to
/// [`MAX_PASSWORD_CHARS`] characters, a zxcvbn score of at least
/// [`MIN_STRENGTH_SCORE`], and not containing the email's local part or any
/// part of the name of three characters or more (ignoring case).
///
/// Fails with [`Error::Invalid`] holding one error per broken rule, all for
/// the field `"password"`. No message contains the password.
///
/// ```
/// use tms_core::domain::{Email, Name};
/// use tms_core::security::password::check_password_policy;
/// use tms_core::security::secret::Secret;
/// use tms_core::Error;
///
/// let email = Email::parse("amina.khan@example.com")?;
/// let name = Name::parse("Amina Khan")?;
/// let strong = Secret::from("harbour lantern tangerine 47 quietly");
/// assert!(check_password_policy(&strong, &email, &name).is_ok());
///
/// let weak = Secret::from("Amina2024");
/// let Err(Error::Invalid(errors)) = check_password_policy(&weak, &email, &name) else {
///     panic!("a short guessable password containing the name must be refused");
/// };
/// assert_eq!(errors.as_slice().len(), 3); // too short, too easy, contains the name
/// # Ok::<(), tms_core::Error>(())
/// ```
pub fn check_password_policy(password: &Secret<String>, email: &Email, name: &Name) -> Result<()> {
    const FIELD: &str = "password";
    let plain = password.expose();
    let mut errors = FieldErrors::new();

    let chars = plain.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        errors.push(
            FIELD,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        );
    }
    if chars > MAX_PASSWORD_CHARS {
        errors.push(
            FIELD,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        );
    }

    let name_parts = significant_parts(name.as_str());
    let local = email.local_part();
    let mut user_inputs: Vec<&str> = vec![email.as_str(), local, name.as_str()];
    user_inputs.extend(name_parts.iter().map(String::as_str));
    // zxcvbn itself reads only the first 100 characters, so a huge input
    // costs nothing here.
    let estimate = zxcvbn::zxcvbn(plain, &user_inputs);
    if u8::from(estimate.score()) < MIN_STRENGTH_SCORE {
        let message = match estimate.feedback().and_then(|f| f.warning()) {
            Some(warning) => format!("is too easy to guess. {warning}"),
            None => "is too easy to guess; use more words or less common ones".to_owned(),
        };
        errors.push(FIELD, message);
    }

    let lowered = Zeroizing::new(plain.to_lowercase());
    if local.chars().count() >= 3 && lowered.contains(&local.to_lowercase()) {
        errors.push(FIELD, "must not contain your email address");
    }
    if name_parts
        .iter()
        .any(|part| lowered.contains(part.as_str()))
    {
        errors.push(FIELD, "must not contain your name");
    }

    errors.into_result()
}

/// The lower-cased parts of a name that count for the policy: words of three
/// characters or more.
fn significant_parts(name: &str) -> Vec<String> {
    name.split(|c: char| c.is_whitespace() || matches!(c, '-' | '\'' | '.' | ',' | '’'))
        .filter(|part| part.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SeededRandom;

    /// Cheap parameters, so the tests run fast even unoptimised.
    fn cheap() -> PasswordHasher {
        PasswordHasher::with_params(64, 1, 1).unwrap_or_default()
    }

    fn secret(s: &str) -> Secret<String> {
        Secret::from(s)
    }

    fn policy_errors(password: &str, email: &str, name: &str) -> Vec<String> {
        let (Ok(email), Ok(name)) = (Email::parse(email), Name::parse(name)) else {
            panic!("test inputs must parse");
        };
        match check_password_policy(&secret(password), &email, &name) {
            Ok(()) => Vec::new(),
            Err(Error::Invalid(errors)) => {
                assert!(errors.as_slice().iter().all(|e| e.field == "password"));
                errors
                    .as_slice()
                    .iter()
                    .map(|e| e.message.clone())
                    .collect()
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn new_hashes_are_argon2id_with_the_owasp_parameters() {
        let hasher = PasswordHasher::owasp();
        assert_eq!(
            (hasher.m_cost_kib(), hasher.t_cost(), hasher.p_cost()),
            (19_456, 2, 1)
        );
        let stored = hasher
            .hash(
                &secret("passphrase for the owasp test"),
                &SeededRandom::new(1),
            )
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let outcome = hasher
            .verify(&secret("passphrase for the owasp test"), &stored)
            .unwrap();
        assert_eq!(
            outcome,
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn a_wrong_password_is_invalid_not_an_error() {
        let hasher = cheap();
        let stored = hasher
            .hash(&secret("the right one"), &SeededRandom::new(2))
            .unwrap();
        assert_eq!(
            hasher.verify(&secret("the wrong one"), &stored).unwrap(),
            Verification::Invalid
        );
        assert!(!Verification::Invalid.needs_rehash());
    }

    #[test]
    fn each_hash_gets_its_own_salt() {
        let hasher = cheap();
        let random = SeededRandom::new(3);
        let a = hasher.hash(&secret("same password"), &random).unwrap();
        let b = hasher.hash(&secret("same password"), &random).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn other_argon2_parameters_need_a_rehash() {
        let old = PasswordHasher::with_params(64, 1, 1).unwrap();
        let stored = old
            .hash(&secret("passphrase"), &SeededRandom::new(4))
            .unwrap();
        for current in [
            PasswordHasher::with_params(128, 1, 1).unwrap(),
            PasswordHasher::with_params(64, 2, 1).unwrap(),
            PasswordHasher::with_params(64, 1, 2).unwrap(),
        ] {
            let outcome = current.verify(&secret("passphrase"), &stored).unwrap();
            assert_eq!(
                outcome,
                Verification::Valid { needs_rehash: true },
                "{current:?}"
            );
        }
        assert_eq!(
            old.verify(&secret("passphrase"), &stored).unwrap(),
            Verification::Valid {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn another_argon2_variant_or_version_needs_a_rehash() {
        let hasher = cheap();
        let params = Params::new(64, 1, 1, Some(32)).unwrap();
        let salt = [7u8; 16];
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let stored = Argon2::new(algorithm, version, params.clone())
                .hash_password_with_salt(b"passphrase", &salt)
                .unwrap()
                .to_string();
            let outcome = hasher.verify(&secret("passphrase"), &stored).unwrap();
            assert_eq!(
                outcome,
                Verification::Valid { needs_rehash: true },
                "{stored}"
            );
            assert_eq!(
                hasher.verify(&secret("other"), &stored).unwrap(),
                Verification::Invalid
            );
        }
    }

    #[test]
    fn php_password_hash_output_verifies_and_needs_a_rehash() {
        // The example from PHP's manual for password_verify().
        let php = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a";
        let hasher = cheap();
        assert_eq!(
            hasher.verify(&secret("rasmuslerdorf"), php).unwrap(),
            Verification::Valid { needs_rehash: true }
        );
        assert_eq!(
            hasher.verify(&secret("rasmuslerdorF"), php).unwrap(),
            Verification::Invalid
        );
    }

    #[test]
    fn bcrypt_hashes_with_each_php_prefix_verify() {
        let hasher = cheap();
        let password = "كلمة مرور قديمة من PHP";
        let parts = bcrypt::hash_with_salt(password, 4, [9u8; 16]).unwrap();
        for (version, prefix) in [
            (bcrypt::Version::TwoY, "$2y$"),
            (bcrypt::Version::TwoB, "$2b$"),
            (bcrypt::Version::TwoA, "$2a$"),
        ] {
            let stored = parts.format_for_version(version);
            assert!(stored.starts_with(prefix));
            let outcome = hasher.verify(&secret(password), &stored).unwrap();
            assert_eq!(
                outcome,
                Verification::Valid { needs_rehash: true },
                "{stored}"
            );
            assert_eq!(
                hasher.verify(&secret("not it"), &stored).unwrap(),
                Verification::Invalid
            );
        }
        let two_x = parts.format_for_version(bcrypt::Version::TwoX);
        assert!(matches!(
            hasher.verify(&secret(password), &two_x),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn malformed_stored_hashes_are_errors() {
        let hasher = cheap();
        for stored in [
            "",
            "plaintext",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=64,t=1,p=1$!!!$???",
            "$argon2xx$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "$2y$10$short",
            "$2y$xx$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
            "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1é",
            "$2",
            "$2é",
        ] {
            let result = hasher.verify(&secret("anything"), stored);
            assert!(
                matches!(result, Err(Error::Internal(_))),
                "{stored:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn stored_costs_beyond_the_limits_are_refused_without_running() {
        let hasher = cheap();
        // A valid-looking hash that would allocate 4 TiB or loop for ages.
        let huge_memory = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
        let huge_time = "$argon2id$v=19$m=64,t=4294967295,p=1$c2FsdHNhbHRzYWx0$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
        let huge_bcrypt = "$2y$31$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a";
        for stored in [huge_memory, huge_time, huge_bcrypt] {
            assert!(
                matches!(hasher.verify(&secret("x"), stored), Err(Error::Internal(_))),
                "{stored}"
            );
        }
        assert!(PasswordHasher::with_params(MAX_M_COST_KIB + 1, 1, 1).is_err());
        assert!(
            PasswordHasher::with_params(4, 1, 1).is_err(),
            "below argon2's minimum"
        );
    }

    #[test]
    fn the_dummy_verification_runs_a_full_verify_with_the_current_parameters() {
        for hasher in [cheap(), PasswordHasher::with_params(128, 2, 2).unwrap()] {
            let dummy = hasher.dummy_hash();
            let parsed = PasswordHash::new(&dummy).unwrap();
            let params = Params::try_from(&parsed).unwrap();
            assert_eq!(
                (params.m_cost(), params.t_cost(), params.p_cost()),
                (hasher.m_cost_kib(), hasher.t_cost(), hasher.p_cost())
            );
            assert_eq!(params.output_len(), Some(OUTPUT_LEN));
            // It verifies (so argon2 really runs) and fails, rather than being
            // refused early as malformed.
            assert_eq!(
                hasher.verify(&secret("anything"), &dummy).unwrap(),
                Verification::Invalid
            );
            assert_eq!(hasher.verify_dummy(&secret("")), Verification::Invalid);
        }
    }

    #[test]
    fn arabic_and_urdu_passwords_hash_and_verify() {
        let hasher = cheap();
        for password in [
            "كلمة السر الطويلة للحجز ٢٠٢٤",
            "میرا پاسورڈ بہت لمبا اور محفوظ ہے",
        ] {
            let stored = hasher
                .hash(&secret(password), &SeededRandom::new(5))
                .unwrap();
            assert!(
                hasher
                    .verify(&secret(password), &stored)
                    .unwrap()
                    .is_valid()
            );
            let mut altered = password.to_owned();
            altered.pop();
            assert!(
                !hasher
                    .verify(&secret(&altered), &stored)
                    .unwrap()
                    .is_valid()
            );
        }
    }

    #[test]
    fn a_strong_password_passes_the_policy() {
        assert!(
            policy_errors(
                "harbour lantern tangerine 47 quietly",
                "amina.khan@example.com",
                "Amina Khan"
            )
            .is_empty()
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 11 Arabic letters are 22 bytes but too short; 12 are enough.
        let eleven = "ضصثقفغعهخحج";
        assert_eq!(eleven.chars().count(), 11);
        let errors = policy_errors(eleven, "x1@example.com", "Test User");
        assert!(
            errors.contains(&"must be at least 12 characters".to_owned()),
            "{errors:?}"
        );
        let twelve = "ضصثقفغعهخحجد";
        let errors = policy_errors(twelve, "x1@example.com", "Test User");
        assert!(!errors.iter().any(|e| e.contains("at least")), "{errors:?}");

        // 128 two-byte letters (256 bytes) are allowed; 129 are not.
        let long: String = "شسيبلاتنمكطظزوةىرؤءئ".chars().cycle().take(128).collect();
        assert!(policy_errors(&long, "x1@example.com", "Test User").is_empty());
        let too_long: String = "شسيبلاتنمكطظزوةىرؤءئ".chars().cycle().take(129).collect();
        assert_eq!(
            policy_errors(&too_long, "x1@example.com", "Test User"),
            vec!["must be at most 128 characters"]
        );
    }

    #[test]
    fn arabic_and_urdu_passphrases_are_judged_like_any_other() {
        assert!(
            policy_errors(
                "قافلة النجوم تعبر الصحراء ليلا",
                "amina@example.com",
                "Amina Khan"
            )
            .is_empty()
        );
        assert!(
            policy_errors(
                "بادل برستے ہیں پہاڑوں پر آج",
                "amina@example.com",
                "Amina Khan"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_password_containing_the_name_is_refused_in_any_script_and_case() {
        let errors = policy_errors(
            "قافلة محمد تعبر الصحراء ليلا",
            "m@example.com",
            "عبد الله بن محمد",
        );
        assert_eq!(errors, vec!["must not contain your name"]);
        let errors = policy_errors(
            "harbour KHAN tangerine 47 quietly",
            "a@example.com",
            "Amina Khan",
        );
        assert_eq!(errors, vec!["must not contain your name"]);
    }

    #[test]
    fn name_parts_shorter_than_three_characters_are_ignored() {
        // "بن" and "Al" are too short to count.
        assert!(
            policy_errors(
                "قافلة بن تعبر الصحراء ليلا",
                "m@example.com",
                "عبد الله بن محمد"
            )
            .is_empty()
        );
        assert!(
            policy_errors(
                "harbour al tangerine 47 quietly",
                "x@example.com",
                "Al Noor"
            )
            .is_empty()
        );
    }

    #[test]
    fn a_password_containing_the_email_local_part_is_refused() {
        let errors = policy_errors(
            "harbour zahra.travel tangerine 47",
            "Zahra.Travel@example.com",
            "Someone Else",
        );
        assert_eq!(errors, vec!["must not contain your email address"]);
        let errors = policy_errors(
            "harbour ZAHRA.TRAVEL tangerine 47",
            "zahra.travel@example.com",
            "Someone Else",
        );
        assert_eq!(errors, vec!["must not contain your email address"]);
    }

    #[test]
    fn every_broken_rule_is_listed_and_the_password_never_appears() {
        let password = "Khan1";
        let errors = policy_errors(password, "khan1@example.com", "Amina Khan");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(errors[0], "must be at least 12 characters");
        assert!(errors[1].starts_with("is too easy to guess"));
        assert_eq!(errors[2], "must not contain your email address");
        assert_eq!(errors[3], "must not contain your name");

        let (email, name) = (
            Email::parse("khan1@example.com").unwrap(),
            Name::parse("Amina Khan").unwrap(),
        );
        let err = check_password_policy(&secret("Xq7!Xq7!Xq7!Xq7!"), &email, &name).unwrap_err();
        assert!(!err.to_string().contains("Xq7"), "{err}");
        assert!(!format!("{err:?}").contains("Xq7"), "{err:?}");
    }

    #[test]
    fn the_strength_estimate_knows_the_users_own_details() {
        // Strong-looking, but made only of the user's own name and email.
        let errors = policy_errors(
            "lanternharbour",
            "lanternharbour@example.com",
            "Lantern Harbour",
        );
        assert!(
            errors.iter().any(|e| e.starts_with("is too easy to guess")),
            "{errors:?}"
        );
    }

    #[test]
    fn common_passwords_are_too_easy_to_guess() {
        let errors = policy_errors("password1234", "x@example.com", "Test User");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("is too easy to guess"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn arbitrary_stored_hashes_never_panic(stored in "\\PC{0,120}") {
                let _ = cheap().verify(&secret("password"), &stored);
            }

            #[test]
            fn mutated_phc_strings_never_panic(
                m in 0u32..1_024, t in 0u32..20, p in 0u32..20,
                salt in "[A-Za-z0-9+/]{0,70}", hash in "[A-Za-z0-9+/$=,]{0,90}",
            ) {
                let stored = format!("$argon2id$v=19$m={m},t={t},p={p}${salt}${hash}");
                let _ = cheap().verify(&secret("password"), &stored);
            }

            #[test]
            fn arbitrary_passwords_never_panic_the_policy(password in "\\PC{0,200}") {
                let email = Email::parse("someone@example.com").unwrap();
                let name = Name::parse("Some One").unwrap();
                if let Err(Error::Invalid(errors)) = check_password_policy(&secret(&password), &email, &name) {
                    prop_assert!(!errors.is_empty());
                }
            }
        }
    }
}
