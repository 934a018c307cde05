//! Services: the use cases, one module each (DESIGN.md §6).
//!
//! Every operation follows the same steps: **authorize → validate → one
//! transaction (write + audit event + outbox rows) → commit**. The step that
//! every service shares — authorizing, including the two-step confirmation
//! of critical actions — lives in [`guard`].

pub mod guard;
pub mod identity;
pub mod keys;
pub mod tenancy;
// --- clients (issue 6) ---
pub mod clients;
pub mod import;
// --- catalogue, bookings, tickets (issue 6) ---
pub mod bookings;
pub mod catalogue;
pub mod tickets;
// --- umrah (issue 6) ---
pub mod umrah;
// --- finance (issue 7) ---
pub mod finance;
// --- messaging (issue 9) ---
pub mod messaging;
pub mod notifications;
// --- privacy (issue 7) ---
pub mod privacy;
// --- files (issue 8) ---
pub mod files;
// --- documents (issue 8) ---
pub mod documents;
// --- outreach (issue 9) ---
pub mod outreach;
// --- mail connections (issue 9) ---
pub mod mail_connections;
// --- whatsapp (issue 9) ---
pub mod whatsapp;
// --- mail ops (issue 10) ---
pub mod mail_ops;
