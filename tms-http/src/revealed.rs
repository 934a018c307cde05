//! [`Revealed`]: a secret that a body hands to its rightful owner.
//!
//! A session token at login, an `otpauth://` URI at enrolment, recovery
//! codes, a confirmation token, Google's consent URL (it carries the OAuth
//! `state`), a webhook's verify token: the JSON must carry them as plain
//! strings, but a `Debug` print of the body — a `tracing::debug!(?answer)`,
//! a failed assertion — must not. The core keeps such values in
//! [`tms_core::security::secret::Secret`], which has no `Serialize` on
//! purpose; this type is the HTTP layer's counterpart for bodies.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string serialised as is and never shown by `Debug` (see the
/// [module documentation](self)). In an OpenAPI schema it is a `string`
/// (`#[schema(value_type = String)]` on the field).
///
/// ```
/// use tms_http::revealed::Revealed;
/// let token = Revealed::new("eyJhbGciOi.secret.sig");
/// assert_eq!(format!("{token:?}"), "<redacted>");
/// assert_eq!(serde_json::to_string(&token).unwrap(), "\"eyJhbGciOi.secret.sig\"");
/// assert_eq!(token.expose(), "eyJhbGciOi.secret.sig");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revealed(String);

impl Revealed {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the code that checks or forwards it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Revealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Revealed {
    fn from(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::Revealed;
    use crate::error::Problem;
    use crate::routes::auth::{LoginAnswer, RecoveryCodes, TotpStarted, UserSummary};
    use crate::routes::mail_connections::ConnectView;
    use crate::routes::whatsapp::Handshake;

    const SECRET: &str = "s3cr3t-value-XYZ";

    /// `Debug` of `value` hides `SECRET`; its JSON still carries it.
    fn hidden_but_sent<T: std::fmt::Debug + serde::Serialize>(value: &T) {
        let debug = format!("{value:?}");
        assert!(!debug.contains(SECRET), "leaked by Debug: {debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let json = serde_json::to_string(value).expect("json");
        assert!(json.contains(SECRET), "the owner gets it: {json}");
    }

    #[test]
    fn bodies_that_carry_secrets_do_not_show_them_in_debug() {
        hidden_but_sent(&LoginAnswer {
            csrf_token: Revealed::new(format!("csrf-{SECRET}")),
            token: Revealed::new(format!("jwt-{SECRET}")),
            user: UserSummary {
                id: "u".into(),
                email: "owner@demo.example".into(),
                name: "Owner".into(),
                role: "tenant_owner".into(),
            },
            restricted: false,
            password_change_required: false,
            expires_at: Utc::now(),
        });
        hidden_but_sent(&TotpStarted {
            otpauth_uri: Revealed::new(format!("otpauth://totp/TMS?secret={SECRET}")),
        });
        hidden_but_sent(&RecoveryCodes {
            recovery_codes: vec![Revealed::new(SECRET), Revealed::new(SECRET)],
        });
        hidden_but_sent(&ConnectView {
            authorization_url: Revealed::new(format!(
                "https://accounts.google.com/o/oauth2/v2/auth?state={SECRET}"
            )),
        });
        let mut problem = Problem::new(
            axum::http::StatusCode::PRECONDITION_REQUIRED,
            "confirmation-required",
            "repeat",
        );
        problem.confirmation_token = Some(Revealed::new(SECRET));
        hidden_but_sent(&problem);
    }

    #[test]
    fn a_webhook_verify_token_is_read_but_not_shown() {
        let handshake: Handshake = serde_json::from_value(serde_json::json!({
            "hub.mode": "subscribe",
            "hub.verify_token": SECRET,
            "hub.challenge": "42",
        }))
        .expect("handshake");
        assert_eq!(
            handshake.verify_token.as_ref().map(Revealed::expose),
            Some(SECRET)
        );
        assert!(!format!("{handshake:?}").contains(SECRET));
    }
}
