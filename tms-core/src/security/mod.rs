//! Security primitives (DESIGN.md §4): passwords, lockout, the key ring for
//! secrets at rest, single-use tokens, TOTP and recovery codes, session JWTs.
//!
//! Everything here is pure computation over injected time and randomness;
//! persisting state is the store's job.

pub mod jwt;
pub mod keyring;
pub mod lockout;
pub mod password;
pub mod secret;
pub mod token;
pub mod totp;
// --- hardening (issue 11) ---
pub mod credentials;
