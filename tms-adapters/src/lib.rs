//! # tms-adapters
//!
//! Implementations of the [`tms_core::ports`], each behind a cargo feature:
//! - `sqlite`, `postgres` (both on by default): [`sql::SqlStore`], the
//!   [`Store`](tms_core::ports::Store) on SQLite (embedded default) and
//!   PostgreSQL (production).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;
