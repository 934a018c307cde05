//! Tracing: an env-filter (`TMS_LOG`, e.g. `info,tms_http=debug`) and a
//! pretty or JSON format (`TMS_LOG_FORMAT`). Logs go to stderr; stdout is
//! for command output (exports, the first-run credentials).

use axum::extract::Request;
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::middleware::RequestId;

/// Installs the global subscriber; does nothing if one is installed.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The span of one request: method, path (never the query: it may carry
/// tokens) and request id.
pub fn make_span(request: &Request) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}
