//! Domain types: who acts, on what, in which tenant and branch.

mod access;
mod session;
mod tenant;
mod text;
mod user;

pub use access::{BranchScope, BranchSet, Context, Principal, Role, UserPrincipal};
pub use session::Session;
pub use tenant::{Branch, Tenant, TenantSettings};
pub use text::{Email, Name, Phone, TenantSlug};
pub use user::{TwoFactor, User};
