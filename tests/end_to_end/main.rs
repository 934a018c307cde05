//! End-to-end tests across the crates: services over the real SQLite store.
//! One binary (every file directly under `tests/` would be another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod identity_admin;
mod identity_login;
mod identity_sessions;
mod identity_support;
mod identity_two_factor;
mod provisioning;
// --- clients (issue 6) ---
mod clients;
// --- catalogue, bookings, tickets (issue 6) ---
mod bookings;
// --- umrah (issue 6) ---
mod umrah;
// --- finance (issue 7) ---
mod finance;
