//! The one error type of `tms-core`.
//!
//! Each variant says what the caller can do about it (DESIGN.md §8); the HTTP
//! crate maps them one-to-one onto status codes and RFC 9457 problem types.
//! No variant ever carries a secret: messages are safe to log and to show.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::policy::DenyReason;
use crate::security::token::PlainToken;

/// `Result` with [`enum@Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a `tms-core` operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record does not exist — or belongs to another tenant or to a branch
    /// outside the caller's scope, which must look exactly the same.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `"booking"`.
        what: &'static str,
    },

    /// The caller is authenticated but the policy denies the action. The
    /// reason is for the audit log; callers may show it.
    #[error("forbidden: {reason}")]
    Forbidden {
        /// Why the policy said no.
        reason: DenyReason,
    },

    /// The caller is not (or no longer) authenticated: log in again.
    /// Wrong passwords and unknown users both end here, with the same text.
    #[error("authentication failed")]
    Unauthenticated,

    /// A critical action: repeat it with this confirmation token before
    /// `expires_at` to perform it.
    #[error("confirmation required")]
    ConfirmationRequired {
        /// The single-use token to send back.
        token: PlainToken,
        /// When the token stops being accepted.
        expires_at: DateTime<Utc>,
    },

    /// The input breaks one or more rules; each is listed, fix and retry.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),

    /// The write collides with the current state (a stale version, a
    /// duplicate unique value, an illegal state transition): reload and retry.
    #[error("conflict: {what}")]
    Conflict {
        /// What collided, safe to show.
        what: Cow<'static, str>,
    },

    /// The account is locked after too many failures; retry after `until`.
    #[error("locked until {until}")]
    Locked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },

    /// Too many requests from this source; retry after the given time.
    #[error("rate limited, retry in {}s", retry_after.num_seconds())]
    RateLimited {
        /// How long to wait.
        retry_after: chrono::Duration,
    },

    /// A backend (database, mail server, …) is unreachable or overloaded.
    /// The operation did nothing; retrying later is safe.
    #[error("service unavailable: {what}")]
    Unavailable {
        /// Which backend, safe to show.
        what: Cow<'static, str>,
    },

    /// A peer refused for good (a bad address, a rejected message): retrying
    /// the same thing will fail the same way.
    #[error("rejected: {what}")]
    Rejected {
        /// What was refused and why, safe to show.
        what: Cow<'static, str>,
    },

    /// A bug or a broken invariant. The message is for operators' logs.
    #[error("internal error: {0}")]
    Internal(Cow<'static, str>),
}

impl Error {
    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: &'static str) -> Self {
        Error::NotFound { what }
    }

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(what: impl Into<Cow<'static, str>>) -> Self {
        Error::Conflict { what: what.into() }
    }

    /// Shorthand for [`Error::Unavailable`].
    pub fn unavailable(what: impl Into<Cow<'static, str>>) -> Self {
        Error::Unavailable { what: what.into() }
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(what: impl Into<Cow<'static, str>>) -> Self {
        Error::Internal(what.into())
    }

    /// Shorthand for [`Error::Rejected`].
    pub fn rejected(what: impl Into<Cow<'static, str>>) -> Self {
        Error::Rejected { what: what.into() }
    }

    /// Whether this is [`Error::ConfirmationRequired`]: the unit of work that
    /// produced it holds the new confirmation and must be committed.
    pub fn is_confirmation_required(&self) -> bool {
        matches!(self, Error::ConfirmationRequired { .. })
    }

    /// A single-field [`Error::Invalid`].
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::Invalid(FieldErrors::single(field, message))
    }

    /// Whether repeating the same call later may succeed without changing it.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::RateLimited { .. } | Error::Locked { .. }
        )
    }
}

/// One broken rule of one input field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as the caller sent it, e.g. `"email"`.
    pub field: Cow<'static, str>,
    /// What is wrong, in plain words.
    pub message: String,
}

/// Every broken rule of an input, so that the caller can fix all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error.
    pub fn single(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, message);
        errors
    }

    /// Records one more broken rule.
    pub fn push(&mut self, field: impl Into<Cow<'static, str>>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records the error of a parse, if any, under `field`, and returns the
    /// value if it parsed — so that every field of a form is checked even when
    /// an earlier one failed.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(Error::Invalid(inner)) => {
                for e in inner.0 {
                    // A parser reports its own field name; the form's wins.
                    self.push(field, e.message);
                }
                None
            }
            Err(other) => {
                self.push(field, other.to_string());
                None
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded errors.
    pub fn as_slice(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(())` when empty, else [`Error::Invalid`] with every error.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_list_every_rule_in_order() {
        let mut errors = FieldErrors::new();
        errors.push("email", "is empty");
        errors.push("password", "too short");
        assert_eq!(errors.to_string(), "email: is empty; password: too short");
        assert!(matches!(errors.into_result(), Err(Error::Invalid(e)) if e.as_slice().len() == 2));
    }

    #[test]
    fn check_keeps_the_forms_field_name() {
        let mut errors = FieldErrors::new();
        let parsed: Option<u8> = errors.check("age", Err(Error::invalid("value", "not a number")));
        assert!(parsed.is_none());
        assert_eq!(errors.as_slice()[0].field, "age");
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(Error::unavailable("database").is_retryable());
        assert!(!Error::not_found("booking").is_retryable());
        assert!(!Error::conflict("stale version").is_retryable());
    }
}
