//! API tests: one binary (every file under `tests/` is a separate slow
//! link). Each test starts a real server on a loopback port over a fresh
//! database — see `helpers::spawn_app`.

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod auth;
mod cli;
mod errors;
mod first_run;
mod health;
mod helpers;
mod mailed_tokens;
mod matrix;
mod middleware;
mod users;
// --- clients (issue 6) ---
mod clients;
// --- catalogue, bookings, tickets (issue 6) ---
mod bookings;
// --- umrah (issue 6) ---
mod umrah;
// --- finance (issue 7) ---
mod finance;
mod finance_followups;
// --- messaging (issue 9) ---
mod outbox;
// --- automatic messages (issue 9) ---
mod notifications;
// --- privacy (issue 7) ---
mod privacy;
// --- files (issue 8) ---
mod files;
// --- documents (issue 8) ---
mod documents;
// --- outreach (issue 9) ---
mod outreach;
// --- mail connections (issue 9) ---
mod mail_connections;
// --- documents follow-ups (issue 8) ---
mod documents_followups;
// --- whatsapp (issue 9) ---
mod whatsapp;
// --- mail ops (issue 10) ---
mod mail_ops;
// --- mail ops end to end (issue 10): the Gmail API peer of the adapter's tests ---
#[path = "../../../tms-adapters/tests/mail/gmail_peer.rs"]
mod gmail_peer;
