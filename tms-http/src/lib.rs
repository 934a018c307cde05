//! # tms-http
//!
//! The HTTP service of TMS: an axum application over `tms-core` services and
//! `tms-adapters`, and the `tms-server` binary that runs it on embedded
//! defaults (SQLite file, local folder for files, mail written to a folder)
//! or on PostgreSQL, S3 and SMTP/Gmail in production.
//!
//! The service arrives with the identity issue; until then this crate only
//! holds its place in the workspace so that the dependency direction
//! `tms-http → tms-adapters → tms-core` is fixed from the start.
