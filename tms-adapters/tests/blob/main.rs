//! The blob stores' tests, as one binary: the `tms_core::testkit::blobs`
//! contract suite on local disk and on a real S3-protocol server (moto),
//! plus what only one backend has (presigned URLs, unreachable servers).

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[cfg(feature = "blob-local")]
mod local;
#[cfg(feature = "blob-s3")]
mod s3;
