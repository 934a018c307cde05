//! Domain types: who acts, on what, in which tenant and branch.

mod access;
mod session;
mod tenant;
mod text;
mod user;
// --- clients (issue 6) ---
mod client;
// --- catalogue, bookings, tickets (issue 6) ---
mod booking;
mod catalogue;
mod ticket;
// --- umrah (issue 6) ---
mod umrah;
// --- finance (issue 7) ---
pub mod finance;

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
pub use booking::{
    Booking, BookingItem, BookingReference, BookingStatus, CurrencyTotal, ItemKind, Traveller,
    mask_passport, places_by_package, reference_year, validate_travellers,
};
pub use catalogue::{Category, Package, PackageDetails, parse_description};
pub use ticket::{
    AirlineCode, AirportCode, FlightNumber, LocalTime, Pnr, Segment, Ticket, TicketNumber,
    TicketStatus, validate_segments,
};
// --- umrah (issue 6) ---
pub use umrah::{
    City, Gender, GroupLeader, GroupStatus, MAX_GROUP_CAPACITY, MahramRelation, MahramRule,
    Pilgrim, Room, RoomAssignment, RoomType, Season, ShortRef, StoredPassport, UmrahFamily,
    UmrahGroup, VisaStatus, age_on, check_group, check_room_assignment, passport_expires_too_soon,
};
// --- outreach (issue 9) ---
pub mod outreach;
// --- mail ops (issue 10) ---
pub mod mail_ops;
