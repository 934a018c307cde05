//! Repositories of the catalogue, bookings and airline tickets.
//!
//! - [`CatalogueRepo`]: categories and packages (tenant-level), and the
//!   **places** of a package: [`CatalogueRepo::take_places`] is one atomic
//!   conditional update (`booked + n <= capacity`), so concurrent bookings
//!   of the last places leave exactly the capacity booked.
//! - [`BookingRepo`]: bookings as whole aggregates (travellers and items
//!   are read and written with their booking, under its `version`), and the
//!   gap-free per-tenant, per-year reference counter.
//! - [`TicketRepo`]: tickets, unique by number per tenant.
//!
//! Passport numbers of travellers reach the store only sealed
//! ([`StoredTraveller`]): the services seal and open them with the key ring.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::domain::{
    Booking, BookingReference, BookingStatus, Category, LatinName, Name, Package, Ticket,
};
use crate::error::Result;
use crate::id::{
    BookingId, BranchId, CategoryId, ClientId, PackageId, TenantId, TicketId, TravellerId,
};
use crate::ports::{Page, PageRequest, Scope};
use crate::security::keyring::Sealed;

/// A traveller as the store keeps it: the passport number sealed.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredTraveller {
    /// Identity.
    pub id: TravellerId,
    /// Name as typed.
    pub name: Name,
    /// Name for tickets.
    pub latin_name: LatinName,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// The passport number, sealed with the key ring.
    pub passport: Option<Sealed>,
}

impl std::fmt::Debug for StoredTraveller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTraveller")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A booking as the store keeps it.
pub type BookingRecord = Booking<StoredTraveller>;

/// Filters of the booking list; `None` is "any".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookingFilter {
    /// Only this status.
    pub status: Option<BookingStatus>,
    /// Only this client's.
    pub client_id: Option<ClientId>,
    /// Only this branch's (still within the caller's scope).
    pub branch_id: Option<BranchId>,
}

/// Categories and packages.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CatalogueRepo: Send {
    /// Adds a category.
    async fn insert_category(&mut self, category: &Category) -> Result<()>;
    /// The tenant's category.
    async fn get_category(&mut self, tenant: TenantId, id: CategoryId) -> Result<Option<Category>>;
    /// The tenant's categories.
    async fn list_categories(
        &mut self,
        tenant: TenantId,
        page: PageRequest,
    ) -> Result<Page<Category>>;
    /// Adds a package.
    async fn insert_package(&mut self, package: &Package) -> Result<()>;
    /// The tenant's package.
    async fn get_package(&mut self, tenant: TenantId, id: PackageId) -> Result<Option<Package>>;
    /// Saves details, publication and image if `package.version` is current
    /// and the new capacity still holds the places booked (else
    /// `Conflict`), then bumps the version. Never changes `booked`.
    async fn update_package(&mut self, package: &mut Package) -> Result<()>;
    /// The tenant's packages; only published ones if `published_only`.
    async fn list_packages(
        &mut self,
        tenant: TenantId,
        published_only: bool,
        page: PageRequest,
    ) -> Result<Page<Package>>;
    /// Takes `n` places of a published package in one atomic conditional
    /// update. `Conflict` when fewer than `n` are left ("sold out") or the
    /// package is not published; `NotFound` when there is no such package.
    async fn take_places(&mut self, tenant: TenantId, id: PackageId, n: u32) -> Result<()>;
    /// Gives `n` places back (never below zero).
    async fn release_places(&mut self, tenant: TenantId, id: PackageId, n: u32) -> Result<()>;
}

/// Bookings.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BookingRepo: Send {
    /// The next reference of `tenant` in `year`: the counter row is updated
    /// atomically (`next = next + 1 … RETURNING`) inside this unit of work,
    /// so concurrent creators get distinct consecutive numbers and a
    /// rolled-back creation leaves no gap.
    async fn next_reference(&mut self, tenant: TenantId, year: i32) -> Result<BookingReference>;
    /// Adds a booking with its travellers and items.
    async fn insert(&mut self, booking: &BookingRecord) -> Result<()>;
    /// The tenant's booking (any branch: the caller checks the scope).
    async fn get(&mut self, tenant: TenantId, id: BookingId) -> Result<Option<BookingRecord>>;
    /// Saves status, travellers and `updated_at` if `booking.version` is
    /// current (else `Conflict`), then bumps it.
    async fn update(&mut self, booking: &mut BookingRecord) -> Result<()>;
    /// Removes a booking; whether there was one.
    async fn delete(&mut self, tenant: TenantId, id: BookingId) -> Result<bool>;
    /// The bookings in `scope` that pass `filter`.
    async fn list(
        &mut self,
        scope: &Scope,
        filter: BookingFilter,
        page: PageRequest,
    ) -> Result<Page<BookingRecord>>;
}

/// Airline tickets.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TicketRepo: Send {
    /// Adds a ticket; `Conflict` if its number is taken in the tenant.
    async fn insert(&mut self, ticket: &Ticket) -> Result<()>;
    /// The tenant's ticket.
    async fn get(&mut self, tenant: TenantId, id: TicketId) -> Result<Option<Ticket>>;
    /// Saves the status if `ticket.version` is current, then bumps it.
    async fn update(&mut self, ticket: &mut Ticket) -> Result<()>;
    /// The tickets of a booking.
    async fn list_for_booking(
        &mut self,
        tenant: TenantId,
        booking: BookingId,
        page: PageRequest,
    ) -> Result<Page<Ticket>>;
    /// How many tickets a booking has (a booking with tickets is not
    /// deleted, and their passengers stay on it).
    async fn count_for_booking(&mut self, tenant: TenantId, booking: BookingId) -> Result<u64>;
}
