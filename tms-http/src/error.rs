//! The HTTP error type: every failure becomes an RFC 9457
//! `application/problem+json` body (DESIGN.md §10).
//!
//! **One mapping.** [`tms_core::Error`] already says what the caller can do
//! (§8); this module only translates that into a status code, a stable
//! `type` slug and the headers a client needs to act on it (`Retry-After`,
//! `WWW-Authenticate`). The slugs are part of the API: clients switch on
//! them, so they never change once published.
//!
//! | core error | status | `type` | extra |
//! |---|---|---|---|
//! | (request not understood) | 400 | `malformed` | |
//! | `Unauthenticated` | 401 | `unauthenticated` | `WWW-Authenticate: Bearer` |
//! | `Forbidden` | 403 | `forbidden` | |
//! | `Forbidden` (password change required) | 403 | `password-change-required` | |
//! | `NotFound` | 404 | `not-found` | |
//! | `Conflict` | 409 | `conflict` | |
//! | (body too large) | 413 | `payload-too-large` | |
//! | `Invalid` | 422 | `invalid` | `errors: [{field, message}]` |
//! | `Rejected` | 422 | `rejected` | |
//! | `Locked` | 423 | `locked` | `Retry-After`, `locked_until` |
//! | `ConfirmationRequired` | 428 | `confirmation-required` | `confirmation_token`, `expires_at` |
//! | `RateLimited` | 429 | `rate-limited` | `Retry-After` |
//! | `Unavailable` | 503 | `unavailable` | `Retry-After` |
//! | `Internal` | 500 | `internal` | generic text; details only in the log |
//!
//! **Bad input is never a 500.** axum's extractor rejections (JSON syntax or
//! shape, path and query parameters) convert into [`ApiError::Malformed`]
//! with `From`, so a handler taking `Result<Json<T>, JsonRejection>` — or
//! the [`Json`](crate::extract::Json) extractor of this crate — answers 400.
//! Bare error responses produced by the framework itself (unknown route,
//! wrong method, body limit, timeout) are rewritten into problem bodies by
//! [`problem_bodies`](crate::middleware::problem_bodies) so that clients see one format.
//!
//! **Internals stay inside.** An `Internal` error is logged with its details
//! at `error` level and answered with a fixed text: no SQL, no paths, no
//! stack — the request id in the `X-Request-Id` header is what ties the
//! answer to the log line.

use std::borrow::Cow;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tms_core::FieldError;

use crate::revealed::Revealed;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying after `Unavailable`.
pub const UNAVAILABLE_RETRY_AFTER_SECS: i64 = 5;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An error of the core, mapped as in the module table.
    #[error(transparent)]
    Core(#[from] tms_core::Error),
    /// The request could not be understood (syntax, types, missing parts).
    #[error("malformed request: {0}")]
    Malformed(Cow<'static, str>),
    /// The request body is larger than the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// Another status the framework produced (405, 415, 408…), as a problem.
    #[error("{}", .0.canonical_reason().unwrap_or("error"))]
    Status(StatusCode),
    /// A problem of the HTTP layer itself, answered as is (e.g. `csrf`,
    /// `second-factor-required`).
    #[error("{}", .0.detail)]
    Problem(Box<Problem>),
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

/// An RFC 9457 problem body, as documented in the OpenAPI schema.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable slug clients switch on, e.g. `not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened this time, safe to show.
    pub detail: String,
    /// For `invalid`: every broken rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
    /// For `confirmation-required`: repeat the request with header
    /// `Tms-Confirm: <token>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub confirmation_token: Option<Revealed>,
    /// For `confirmation-required`: when the token stops being accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// For `locked`: when the lock ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<Utc>>,
    /// For `rate-limited`, `locked` and `unavailable`: seconds to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
    /// For `second-factor-required`: the methods that are accepted as
    /// `otp` (`totp`, `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_factors: Option<Vec<String>>,
}

/// One broken rule of one field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// The field as the client sent it.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl From<&FieldError> for ProblemField {
    fn from(e: &FieldError) -> Self {
        Self {
            field: e.field.to_string(),
            message: e.message.clone(),
        }
    }
}

impl Problem {
    /// A problem with only the required members.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
            confirmation_token: None,
            expires_at: None,
            locked_until: None,
            retry_after: None,
            second_factors: None,
        }
    }

    /// The default problem for a bare status code (framework responses).
    pub fn for_status(status: StatusCode) -> Self {
        let kind = match status {
            StatusCode::BAD_REQUEST => "malformed",
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            StatusCode::LOCKED => "locked",
            StatusCode::PRECONDITION_REQUIRED => "confirmation-required",
            StatusCode::TOO_MANY_REQUESTS => "rate-limited",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "error",
        };
        let detail = match status {
            StatusCode::NOT_FOUND => "no such resource".to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
                "the request could not be completed in time; retry later".to_owned()
            }
            s if s.is_server_error() => INTERNAL_DETAIL.to_owned(),
            s => s.canonical_reason().unwrap_or("error").to_lowercase(),
        };
        let mut problem = Self::new(status, kind, detail);
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT
        ) {
            problem.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECS);
        }
        problem
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

const INTERNAL_DETAIL: &str =
    "an internal error occurred; it has been logged under this response's X-Request-Id";

impl ApiError {
    /// The problem this error is answered with (without logging).
    ///
    /// ```
    /// use tms_http::error::ApiError;
    ///
    /// let problem = ApiError::from(tms_core::Error::not_found("booking")).problem();
    /// assert_eq!((problem.status, problem.kind.as_str()), (404, "not-found"));
    /// ```
    pub fn problem(&self) -> Problem {
        use tms_core::Error as E;
        match self {
            ApiError::Malformed(detail) => {
                Problem::new(StatusCode::BAD_REQUEST, "malformed", detail.to_string())
            }
            ApiError::PayloadTooLarge => Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE),
            ApiError::Status(status) => Problem::for_status(*status),
            ApiError::Problem(problem) => (**problem).clone(),
            ApiError::Core(e) => match e {
                E::NotFound { what } => Problem::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("{what} not found"),
                ),
                // Its own type, so a client knows to show the password form.
                E::Forbidden {
                    reason: tms_core::policy::DenyReason::PasswordChangeRequired,
                } => Problem::new(
                    StatusCode::FORBIDDEN,
                    "password-change-required",
                    "change the password handed out to you (POST /api/v1/auth/password) first",
                ),
                E::Forbidden { reason } => {
                    Problem::new(StatusCode::FORBIDDEN, "forbidden", reason.to_string())
                }
                E::Unauthenticated => Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "authentication failed or is missing",
                ),
                E::ConfirmationRequired { token, expires_at } => {
                    let mut p = Problem::new(
                        StatusCode::PRECONDITION_REQUIRED,
                        "confirmation-required",
                        "repeat the request with header Tms-Confirm set to confirmation_token",
                    );
                    p.confirmation_token = Some(Revealed::new(token.expose()));
                    p.expires_at = Some(*expires_at);
                    p
                }
                E::Invalid(errors) => {
                    let mut p = Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid",
                        "the input breaks one or more rules",
                    );
                    p.errors = Some(errors.as_slice().iter().map(ProblemField::from).collect());
                    p
                }
                E::Conflict { what } => {
                    Problem::new(StatusCode::CONFLICT, "conflict", what.to_string())
                }
                E::Locked { until } => {
                    let mut p = Problem::new(
                        StatusCode::LOCKED,
                        "locked",
                        "the account is temporarily locked",
                    );
                    p.locked_until = Some(*until);
                    p.retry_after = Some(seconds_until(*until, Utc::now()));
                    p
                }
                E::RateLimited { retry_after } => {
                    let mut p = Problem::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate-limited",
                        "too many requests; retry later",
                    );
                    p.retry_after = Some(retry_after.num_seconds().max(1));
                    p
                }
                E::Unavailable { what } => {
                    let mut p = Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        format!("{what} is unavailable; retry later"),
                    );
                    p.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECS);
                    p
                }
                E::Rejected { what } => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "rejected",
                    format!("rejected: {what}"),
                ),
                // `Internal` and any variant added to the core later.
                _ => Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    INTERNAL_DETAIL,
                ),
            },
        }
    }
}

/// Whole seconds from `now` to `until`, at least 1.
fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let ms = (until - now).num_milliseconds();
    (ms + 999).div_euclid(1000).max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        if problem.status_code().is_server_error() && !matches!(self, ApiError::Status(_)) {
            // The details go to the log, never to the client.
            tracing::error!(error = %self, "request failed");
        }
        problem.into_response()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            // Syntax errors, wrong shapes and types: the body was not
            // understood. axum's text names the position and the field, never
            // the value.
            _ => ApiError::Malformed(rejection.body_text().into()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::Malformed(rejection.body_text().into())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Malformed(rejection.body_text().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use tms_core::Error as E;
    use tms_core::policy::DenyReason;
    use tms_core::security::token::PlainToken;

    async fn answer(
        e: impl Into<ApiError>,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = e.into().into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    fn is_problem(headers: &axum::http::HeaderMap) -> bool {
        headers.get(header::CONTENT_TYPE).unwrap() == PROBLEM_JSON
    }

    #[tokio::test]
    async fn not_found_is_404_not_found() {
        let (status, headers, body) = answer(E::not_found("booking")).await;
        assert_eq!(status, 404);
        assert!(is_problem(&headers));
        assert_eq!(body["type"], "not-found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["detail"], "booking not found");
    }

    #[tokio::test]
    async fn forbidden_is_403_with_the_reason() {
        let (status, _, body) = answer(E::Forbidden {
            reason: DenyReason::FinanceCannotWriteOperational,
        })
        .await;
        assert_eq!(status, 403);
        assert_eq!(body["type"], "forbidden");
    }

    #[tokio::test]
    async fn unauthenticated_is_401_with_a_bearer_challenge() {
        let (status, headers, body) = answer(E::Unauthenticated).await;
        assert_eq!(status, 401);
        assert_eq!(body["type"], "unauthenticated");
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    }

    #[tokio::test]
    async fn confirmation_required_is_428_with_the_token() {
        let token = PlainToken::from_presented("tok-123");
        let expires_at = Utc::now();
        let (status, _, body) = answer(E::ConfirmationRequired { token, expires_at }).await;
        assert_eq!(status, 428);
        assert_eq!(body["type"], "confirmation-required");
        assert_eq!(body["confirmation_token"], "tok-123");
        assert!(body["expires_at"].is_string());
    }

    #[tokio::test]
    async fn invalid_is_422_listing_every_field() {
        let mut errors = tms_core::FieldErrors::new();
        errors.push("email", "is empty");
        errors.push("password", "too short");
        let (status, _, body) = answer(E::Invalid(errors)).await;
        assert_eq!(status, 422);
        assert_eq!(body["type"], "invalid");
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["errors"][1]["message"], "too short");
    }

    #[tokio::test]
    async fn conflict_is_409() {
        let (status, _, body) = answer(E::conflict("stale version")).await;
        assert_eq!(status, 409);
        assert_eq!(body["type"], "conflict");
        assert_eq!(body["detail"], "stale version");
    }

    #[tokio::test]
    async fn locked_is_423_with_retry_after() {
        let until = Utc::now() + chrono::Duration::seconds(90);
        let (status, headers, body) = answer(E::Locked { until }).await;
        assert_eq!(status, 423);
        assert_eq!(body["type"], "locked");
        let secs: i64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((89..=91).contains(&secs), "{secs}");
    }

    #[tokio::test]
    async fn rate_limited_is_429_with_retry_after() {
        let (status, headers, body) = answer(E::RateLimited {
            retry_after: chrono::Duration::seconds(42),
        })
        .await;
        assert_eq!(status, 429);
        assert_eq!(body["type"], "rate-limited");
        assert_eq!(headers[header::RETRY_AFTER], "42");
        assert_eq!(body["retry_after"], 42);
    }

    #[tokio::test]
    async fn unavailable_is_503_with_retry_after() {
        let (status, headers, body) = answer(E::unavailable("database")).await;
        assert_eq!(status, 503);
        assert_eq!(body["type"], "unavailable");
        assert!(headers.contains_key(header::RETRY_AFTER));
    }

    #[tokio::test]
    async fn rejected_is_422_rejected() {
        let (status, _, body) = answer(E::rejected("mailbox does not exist")).await;
        assert_eq!(status, 422);
        assert_eq!(body["type"], "rejected");
    }

    #[tokio::test]
    async fn internal_is_500_and_hides_the_details() {
        let (status, _, body) =
            answer(E::internal("SELECT * FROM users failed at /srv/tms/db")).await;
        assert_eq!(status, 500);
        assert_eq!(body["type"], "internal");
        let text = body.to_string();
        assert!(!text.contains("SELECT") && !text.contains("/srv"), "{text}");
    }

    #[tokio::test]
    async fn malformed_is_400() {
        let (status, headers, body) = answer(ApiError::Malformed("expected value".into())).await;
        assert_eq!(status, 400);
        assert!(is_problem(&headers));
        assert_eq!(body["type"], "malformed");
    }

    #[tokio::test]
    async fn payload_too_large_is_413() {
        let (status, _, body) = answer(ApiError::PayloadTooLarge).await;
        assert_eq!(status, 413);
        assert_eq!(body["type"], "payload-too-large");
    }

    #[tokio::test]
    async fn json_syntax_and_shape_rejections_are_400_not_500() {
        use axum::extract::FromRequest;
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Login {
            email: String,
        }
        for body in ["{not json", r#"{"email": 5}"#, r#"{}"#] {
            let request = axum::http::Request::builder()
                .method("POST")
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            let rejection = axum::Json::<Login>::from_request(request, &())
                .await
                .unwrap_err();
            let (status, _, problem) = answer(rejection).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(problem["type"], "malformed");
        }
    }

    #[tokio::test]
    async fn a_missing_json_content_type_is_415() {
        use axum::extract::FromRequest;
        let request = axum::http::Request::builder()
            .method("POST")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        let rejection = axum::Json::<serde_json::Value>::from_request(request, &())
            .await
            .unwrap_err();
        let (status, _, problem) = answer(rejection).await;
        assert_eq!(status, 415);
        assert_eq!(problem["type"], "unsupported-media-type");
    }

    #[tokio::test]
    async fn path_and_query_rejections_are_400() {
        use axum::extract::{FromRequestParts, Query};
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Page {
            limit: u32,
        }
        let (mut parts, _) = axum::http::Request::builder()
            .uri("/x?limit=lots")
            .body(())
            .unwrap()
            .into_parts();
        let rejection = Query::<Page>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        let (status, _, problem) = answer(rejection).await;
        assert_eq!(status, 400);
        assert_eq!(problem["type"], "malformed");

        let (mut parts, _) = axum::http::Request::builder()
            .uri("/x")
            .body(())
            .unwrap()
            .into_parts();
        let rejection = axum::extract::Path::<uuid::Uuid>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        let (status, _, _) = answer(rejection).await;
        assert_eq!(status, 400);
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        let now = Utc::now();
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1500), now),
            2
        );
        assert_eq!(seconds_until(now - chrono::Duration::seconds(5), now), 1);
    }
}
