//! CSV uploads: a multipart part streamed into the import framework
//! (`tms_core::service::import`), shared by the clients and pilgrims import
//! routes.

use std::future::Future;
use std::pin::Pin;

use axum::extract::multipart::{Field, MultipartError};
use axum::http::StatusCode;
use tms_core::service::import::ByteSource;

use crate::error::ApiError;

/// The multipart part as a [`ByteSource`], streamed chunk by chunk; notes
/// an upload over the limit, to answer 413.
pub(crate) struct PartSource<'a> {
    field: Field<'a>,
    /// The upload went over the body limit.
    pub(crate) too_large: bool,
}

impl<'a> PartSource<'a> {
    /// Streams `field`.
    pub(crate) fn new(field: Field<'a>) -> Self {
        Self {
            field,
            too_large: false,
        }
    }

    async fn chunk(&mut self) -> tms_core::Result<Option<Vec<u8>>> {
        match self.field.chunk().await {
            Ok(chunk) => Ok(chunk.map(|b| b.to_vec())),
            Err(e) => {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    self.too_large = true;
                }
                Err(tms_core::Error::invalid(
                    "file",
                    format!("the upload could not be read: {}", e.body_text()),
                ))
            }
        }
    }
}

// Written out: this crate does not depend on `async-trait`.
impl ByteSource for PartSource<'_> {
    fn next_chunk<'s, 'f>(
        &'s mut self,
    ) -> Pin<Box<dyn Future<Output = tms_core::Result<Option<Vec<u8>>>> + Send + 'f>>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(self.chunk())
    }
}

/// A multipart framing error: 413 over the limit, else 400.
pub(crate) fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::Malformed(e.body_text().into())
    }
}
