//! # tms-core
//!
//! The business core of TMS, a multi-tenant, multi-branch travel agency
//! platform: domain types, the policy engine, security primitives, the ports
//! through which the core reaches the outside world, and the services (use
//! cases) built on them. This crate performs no I/O: storage, mail, files and
//! HTTP live in `tms-adapters` and `tms-http`, behind the traits in [`ports`].
//!
//! Start with [`policy::authorize`], [`money::Money`] and
//! [`security::password`]; the top-level `tms` crate re-exports everything.

#![deny(rustdoc::broken_intra_doc_links)]

pub mod audit;
pub mod domain;
pub mod error;
pub mod id;
pub mod money;
pub mod policy;
pub mod ports;
pub mod security;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{Error, FieldError, FieldErrors, Result};
