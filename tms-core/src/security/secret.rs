//! [`Secret`]: a value that must never be printed.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Wraps a secret (a password, an OAuth token, an SMTP password). `Debug` and
/// `Display` print `<redacted>`; the memory is zeroed on drop; the only way to
/// the value is the explicit [`Secret::expose`].
///
/// ```
/// use tms_core::security::secret::Secret;
/// let password = Secret::new(String::from("correct horse battery staple"));
/// assert_eq!(format!("{password:?}"), "Secret(<redacted>)");
/// assert_eq!(password.expose(), "correct horse battery staple");
/// ```
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value. Never log or format it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de> serde::Deserialize<'de> for Secret<String> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}
