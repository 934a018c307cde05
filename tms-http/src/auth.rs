//! Request authentication: the [`Auth`] extractor, the session cookie and
//! the CSRF token (DESIGN.md §4).
//!
//! **Credentials.** A request presents its session JWT either as
//! `Authorization: Bearer <jwt>` (non-browser clients) or as the cookie
//! [`SESSION_COOKIE`] (the web app). Either way
//! [`Identity::authenticate`](tms_core::service::identity::Identity::authenticate)
//! checks the session row, so logout and revocation take effect at once.
//! Missing or invalid credentials are a 401 problem.
//!
//! **CSRF.** A browser attaches the cookie to cross-site requests too, so a
//! cookie-authenticated request with a state-changing method (POST, PUT,
//! PATCH, DELETE) must also carry the header [`CSRF_HEADER`] holding the
//! session's CSRF token, or it is a 403 problem. A bearer token is never
//! sent by a browser on its own, so bearer requests need no CSRF token.
//!
//! The CSRF token is `base64url(SHA-256("tms-csrf-v1\0" ‖ jwt))`:
//!
//! - *bound to the session*: it is derived from this session's JWT, so a
//!   token of another session (or of a past one) never matches;
//! - *unforgeable cross-site*: computing it needs the JWT, which lives in an
//!   `HttpOnly` cookie that no script can read; SHA-256 is one-way, so the
//!   CSRF token (readable by the page's script) does not reveal the JWT;
//! - *stateless*: every replica computes it without a store or a key of its
//!   own; it is returned once, in the login answer.
//!
//! The comparison is constant-time ([`subtle`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tms_core::service::identity::{Authenticated, Caller};

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::middleware::RequestId;

/// The session cookie. `__Host-`: Secure, no Domain, Path `/` — the browser
/// refuses it otherwise, so no subdomain can plant or widen it.
pub const SESSION_COOKIE: &str = "__Host-tms_session";

/// The header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of the session whose JWT is `jwt` (see the module
/// documentation).
pub fn csrf_token(jwt: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"tms-csrf-v1\0");
    hasher.update(jwt.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// Whether `presented` is the CSRF token of `jwt`, in constant time.
pub fn csrf_matches(jwt: &str, presented: &str) -> bool {
    let expected = csrf_token(jwt);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// The `Set-Cookie` value that stores `jwt` until `expires_at`.
pub fn session_cookie(jwt: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> HeaderValue {
    let max_age = (expires_at - now).num_seconds().max(0);
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={jwt}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}"
    ))
    // A JWT is base64url and dots: always a valid header value.
    .unwrap_or_else(|_| clear_session_cookie())
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-tms_session=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0",
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    tms_core::security::credentials::cookie_value(values, name)
}

/// The bearer token of the `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    tms_core::security::credentials::bearer_token(value)
}

/// The network details of a request: peer IP, user agent, request id.
pub fn caller(parts: &Parts) -> Caller {
    // Resolved once per request by the `client_ip` middleware (trusted
    // proxies); the socket peer when that did not run.
    let ip = match parts.extensions.get::<crate::client_ip::ClientIp>() {
        Some(crate::client_ip::ClientIp(ip)) => Some(*ip),
        None => parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip()),
    };
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|RequestId(id)| core_request_id(id))
        .unwrap_or_default();
    Caller {
        ip,
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect()),
        request_id,
    }
}

/// The core's request id for the HTTP `X-Request-Id`: the same UUID when
/// it is one (ours always are), else a UUID derived from the text (an id
/// chosen by a proxy), so that audit events still correlate with the logs.
fn core_request_id(id: &str) -> tms_core::id::RequestId {
    let uuid = id.parse::<uuid::Uuid>().unwrap_or_else(|_| {
        let digest = Sha256::digest(id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    });
    tms_core::id::RequestId::from_uuid(uuid)
}

/// [`Caller`] as an extractor, for calls without a session (login, reset).
#[derive(Debug, Clone)]
pub struct RequestCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for RequestCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestCaller(caller(parts)))
    }
}

/// How the request presented its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookie (CSRF-checked on writes).
    Cookie,
}

/// An authenticated request: the verified session and user.
#[derive(Debug, Clone)]
pub struct Auth {
    /// What the identity service verified.
    pub authenticated: Authenticated,
    /// How the session was presented.
    pub via: Via,
}

/// Why a request is refused before it reaches its handler.
fn csrf_refused() -> ApiError {
    ApiError::Problem(Box::new(Problem::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "a cookie-authenticated request that changes state needs the X-CSRF-Token header of the session",
    )))
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A bearer token wins: a client that sends one means it.
        let (jwt, via) = match bearer(&parts.headers) {
            Some(token) => (token, Via::Bearer),
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(token) => (token, Via::Cookie),
                None => return Err(tms_core::Error::Unauthenticated.into()),
            },
        };
        let writes = matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if via == Via::Cookie && writes {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !csrf_matches(jwt, presented) {
                return Err(csrf_refused());
            }
        }
        let authenticated = state.identity.authenticate(jwt, &caller(parts)).await?;
        Ok(Auth { authenticated, via })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_bound_to_the_session_token() {
        let a = csrf_token("header.payload-a.sig");
        assert!(csrf_matches("header.payload-a.sig", &a));
        assert!(!csrf_matches("header.payload-b.sig", &a));
        assert!(!csrf_matches("header.payload-a.sig", ""));
        assert!(!a.contains("payload"));
    }

    #[test]
    fn request_ids_map_to_the_same_core_id_every_time() {
        let uuid = "0190f3c2-7a4e-7000-8000-000000000001";
        assert_eq!(core_request_id(uuid).to_string(), uuid);
        assert_eq!(core_request_id("edge:abc"), core_request_id("edge:abc"));
        assert_ne!(core_request_id("edge:abc"), core_request_id("edge:abd"));
    }

    #[test]
    fn cookies_and_bearer_tokens_are_read_from_the_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tms_session=jwt.x.y; b=2"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t.o.k"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("jwt.x.y"));
        assert_eq!(cookie(&headers, "c"), None);
        assert_eq!(bearer(&headers), Some("t.o.k"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }
}
