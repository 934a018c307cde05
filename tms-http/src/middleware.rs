//! Middleware of every response: request ids, security headers, metrics,
//! and problem bodies for the framework's own error responses.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{PROBLEM_JSON, Problem};

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in the request extensions for handlers and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether an incoming id can be kept: 1 to 128 visible characters of
/// `[A-Za-z0-9._:-]`, so that it is safe in logs and headers.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Keeps a valid incoming `X-Request-Id` or makes one (a UUIDv7), stores it
/// in the request extensions and echoes it on the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &value {
        request.headers_mut().insert(REQUEST_ID, value.clone());
    }
    request.extensions_mut().insert(RequestId(id));
    let mut response = next.run(request).await;
    if let Some(value) = value {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// What [`security_headers`] adds.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    /// Add `Strict-Transport-Security` (only behind TLS).
    pub hsts: bool,
}

/// The API serves JSON only: no script, no frame, no form may run from it.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds the security headers of DESIGN.md §10 to every response. Every
/// response gets `Cache-Control: no-store` unless the handler chose
/// otherwise: API answers carry tenant data and must not sit in caches.
pub async fn security_headers(
    State(config): State<SecurityHeaders>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler that serves a page may set its own (stricter or equal)
    // policy — the unsubscribe page needs `form-action 'self'`.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if config.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The route template that matched, carried from [`record_route`] (inside
/// the router) out to [`metrics`] (outside it) on the response.
#[derive(Debug, Clone)]
struct MatchedRoute(String);

/// Route layer: remembers the matched route template on the response.
pub async fn record_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| MatchedRoute(p.as_str().to_owned()));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// Counts requests and records their latency by method, route template (not
/// the raw path: ids would explode the label set; `unmatched` for unknown
/// routes) and status — including the answers of the body limit and the
/// timeout, since this runs outside them.
pub async fn metrics(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "unmatched".to_owned());
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Turns error responses that are not problem+json yet — the framework's
/// 404 and 405, the body limit's 413, the timeout's 503, a caught panic's
/// 500, the rejections of extractors used straight from axum — into
/// problem bodies, so that clients see one error format.
///
/// A bare 422 can only be an axum JSON rejection (the core's `Invalid` is
/// already a problem): it becomes 400 `malformed`, as §10 asks. The text of
/// a bare 400 or 422 (axum's description of what did not parse) is kept as
/// the detail; 5xx texts never are.
pub async fn problem_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut problem = if status == StatusCode::UNPROCESSABLE_ENTITY {
        Problem::for_status(StatusCode::BAD_REQUEST)
    } else {
        Problem::for_status(status)
    };
    if matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
    ) && let Ok(bytes) = axum::body::to_bytes(body, 1024).await
        && let Ok(text) = std::str::from_utf8(&bytes)
        && !text.trim().is_empty()
    {
        problem.detail = text.trim().to_owned();
    }
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(
            status = status.as_u16(),
            "request failed without a problem body"
        );
    }
    parts.status = problem.status_code();
    let (problem_parts, body) = problem.into_response().into_parts();
    // Keep the original headers (e.g. `Allow` on a 405) but the new body's.
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &problem_parts.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_outside_are_kept_only_when_tame() {
        assert!(is_valid_request_id("0190f3c2-7a4e-7000-8000-000000000001"));
        assert!(is_valid_request_id("edge:abc.123_x"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("a b"));
        assert!(!is_valid_request_id("evil\r\nSet-Cookie: x"));
        assert!(!is_valid_request_id(&"a".repeat(129)));
    }
}
