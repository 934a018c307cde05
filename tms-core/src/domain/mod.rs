//! Domain types: who acts, on what, in which tenant and branch.

mod access;
mod session;
mod tenant;
mod text;
mod user;
// --- clients (issue 6) ---
mod client;
// --- catalogue, bookings, tickets (issue 6) ---
// --- umrah (issue 6) ---

pub use access::{BranchScope, BranchSet, Context, Principal, Role, UserPrincipal};
pub use session::Session;
pub use tenant::{Branch, Tenant, TenantSettings};
pub use text::{Email, Name, PassportNumber, Phone, TenantSlug};
pub use user::{TwoFactor, User};
// --- clients (issue 6) ---
pub use client::{
    Client, ClientKind, ConsentChannel, ConsentRecord, ConsentSource, Country, LatinName,
    SealedPassport,
};
// --- catalogue, bookings, tickets (issue 6) ---
// --- umrah (issue 6) ---
