//! The SQL store's tests, as one binary: the `tms_core::testkit` contract
//! suite on SQLite and on PostgreSQL, plus what needs raw SQL (tampering
//! with the audit log) or a particular database.

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
