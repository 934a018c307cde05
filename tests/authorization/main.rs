//! Cross-crate authorization tests, as one test binary (every file directly
//! under `tests/` would be a separate, slow-to-link binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod matrix;
mod no_alloc;
