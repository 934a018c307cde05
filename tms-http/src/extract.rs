//! Extractors whose rejections are [`ApiError`]s, so that bad input is
//! always a problem+json 400 (or 413/415), never axum's plain-text answer.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `axum::Json`, rejecting with [`ApiError`]. Use it for every JSON body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

/// `axum::extract::Path`, rejecting with [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

/// `axum::extract::Query`, rejecting with [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// The `Idempotency-Key` header as a key, if sent; a key that is not
/// visible ASCII or not a valid key is `Invalid` (a 422).
pub fn idempotency_key(
    headers: &axum::http::HeaderMap,
) -> tms_core::Result<Option<tms_core::ports::IdempotencyKey>> {
    headers
        .get(crate::routes::bookings::IDEMPOTENCY_HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| tms_core::Error::invalid("Idempotency-Key", "must be visible ASCII"))
                .and_then(tms_core::ports::IdempotencyKey::parse)
        })
        .transpose()
}

/// The answer to a create that takes an `Idempotency-Key`: `201 Created`
/// with the new record, or — when the key repeats an earlier request —
/// `200 OK` with the first result and `Idempotent-Replayed: true`.
pub fn created_or_replayed(
    view: impl axum::response::IntoResponse,
    replayed: bool,
) -> axum::response::Response {
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    use axum::response::IntoResponse as _;
    if replayed {
        let mut response = (StatusCode::OK, view).into_response();
        response.headers_mut().insert(
            HeaderName::from_static(crate::routes::bookings::REPLAYED_HEADER),
            HeaderValue::from_static("true"),
        );
        response
    } else {
        (StatusCode::CREATED, view).into_response()
    }
}

/// The `Tms-Confirm` header (the token of an earlier 428 answer), if sent.
pub fn confirmation(
    headers: &axum::http::HeaderMap,
) -> Option<tms_core::security::token::PlainToken> {
    headers
        .get(crate::routes::users::CONFIRM_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(tms_core::security::token::PlainToken::from_presented)
}
